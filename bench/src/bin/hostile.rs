//! Peak memory of every function under hostile bodies.
//!
//! Runs each provider's function binary under a local Lambda Runtime API,
//! one fresh process per (body, credentials) case, hands it one API Gateway
//! v2 event with the body gzip-encoded (as lal's Go client may send it),
//! records the answer's status and the process's peak RSS (`VmHWM` of
//! `/proc/<pid>/status`) once it has answered, and writes a markdown table.
//!
//! Nothing here reaches AWS: every hostile body must be refused before the
//! first AWS call, so the functions are pointed at a closed port.
//!
//!     hostile [--bin-dir target/release] [--out bench/out/hostile.md]
//!
//! A function's binary is `<bin-dir>/<name>` or `<bin-dir>/<name>/bootstrap`
//! (`cargo lambda build` output, `target/lambda`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use livehook::providers::{ALL, AuthScheme, Provider, request_path};
use livehook_bench::proc::vm_hwm_kb;
use livehook_bench::runtime_api::{RuntimeApi, accept, api_status, hand_out};
use serde_json::json;

/// The functions' body limit (`LIVEHOOK_MAX_BODY_BYTES`'s default).
const LIMIT: usize = 1 << 20;
/// The bound the issue sets on a function's peak RSS.
const BOUND_KB: u64 = 32 * 1024;
const TOKEN: &str = "hostile-bench-token-0123";

fn gzip(bytes: &[u8]) -> Vec<u8> {
    // The same crate the functions decode with.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

/// The hostile bodies, by name, before gzip.
fn hostile_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let chain = format!("{}0{}", "{\"\":".repeat(120), "}".repeat(120));
    let count = (LIMIT - 32) / (chain.len() + 1);
    let bomb = format!(
        "{{\"t\":1,\"sign\":\"x\",\"a\":[{}]}}",
        vec![chain; count].join(",")
    );
    let mut keys = String::from("{");
    let mut i = 0u64;
    while keys.len() < LIMIT - 32 {
        keys.push_str(&format!("\"{i:x}\":0,"));
        i += 1;
    }
    keys.push_str("\"end\":0}");
    let mut million = String::from("{");
    for i in 0..1_000_000u32 {
        million.push_str(&format!("\"{i:x}\":0,"));
    }
    million.push_str("\"end\":0}");
    vec![
        ("nested-object bomb (120 deep, 1 MiB)", bomb.into_bytes()),
        (
            "deep arrays (200,000)",
            format!("{{\"a\":{}{}}}", "[".repeat(200_000), "]".repeat(200_000)).into_bytes(),
        ),
        ("small keys up to 1 MiB", keys.into_bytes()),
        ("a million small keys (10 MiB)", million.into_bytes()),
        (
            "many small arrays (1 MiB)",
            format!("{{\"a\":[{}]}}", vec!["[]"; (LIMIT - 16) / 3].join(",")).into_bytes(),
        ),
        (
            "long string (1 MiB)",
            format!("{{\"a\":\"{}\"}}", "x".repeat(LIMIT - 16)).into_bytes(),
        ),
        ("gzip of zeros (64 MiB)", vec![0u8; 64 << 20]),
    ]
}

fn apigw_event(provider: &dyn Provider, query: &str, gzipped: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let path = request_path(provider, "on_pub_start");
    let event = json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": {"content-type": "application/json", "content-encoding": "gzip"},
        "requestContext": {"accountId": "1", "apiId": "a", "domainName": "x.example", "domainPrefix": "x",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "hostile"},
            "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "", "timeEpoch": 0},
        "body": base64::engine::general_purpose::STANDARD.encode(gzipped),
        "isBase64Encoded": true,
    });
    serde_json::to_vec(&event).unwrap_or_default()
}

fn binary(dir: &Path, name: &str) -> Option<PathBuf> {
    [dir.join(name), dir.join(name).join("bootstrap")]
        .into_iter()
        .find(|p| p.is_file())
}

fn spawn(binary: &Path, api: &str, name: &str) -> Option<Child> {
    Command::new(binary)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", api)
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "hostile")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "hostile")
        .env("AWS_SECRET_ACCESS_KEY", "hostile")
        // Closed: a refused body must not reach AWS.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("LIVEHOOK_TABLE", "hostile")
        .env(
            "LIVEHOOK_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:hostile",
        )
        .env("LIVEHOOK_TOKEN", TOKEN)
        .env("LIVEHOOK_TENCENT_KEY", "hostile-tencent-key")
        .envs(livehook_bench::signing_env())
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

struct Row {
    provider: &'static str,
    body: &'static str,
    credentials: &'static str,
    status: Option<u16>,
    idle_kb: Option<u64>,
    peak_kb: Option<u64>,
}

/// One case: a fresh process, one invocation; (status, RSS after init, peak RSS).
fn run_case(
    binary: &Path,
    name: &str,
    event: &[u8],
    api: &RuntimeApi,
) -> (Option<u16>, Option<u64>, Option<u64>) {
    let Some(mut child) = spawn(binary, &api.address, name) else {
        return (None, None, None);
    };
    let pid = child.id();
    let wait = || {
        api.next(Duration::from_secs(30))
            .map(|(_, request)| request)
    };
    let mut result = (None, None, None);
    if let Some(next) = wait().filter(|r| r.url.ends_with("/invocation/next")) {
        result.1 = vm_hwm_kb(pid);
        hand_out(next, "hostile-1", event, false);
        // The function's next request: its answer (`…/response`), or an
        // invocation error (then the status stays unknown).
        if let Some(request) = wait() {
            if request.url.ends_with("/response") {
                result.0 = api_status(&request.body);
            }
            accept(request);
            // The answer is sent: what it cost is in the high-water mark.
            result.2 = vm_hwm_kb(pid);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    // The connection's pending `next`, if any, is dropped with the process.
    while api.next(Duration::from_millis(20)).is_some() {}
    result
}

fn mb(kb: Option<u64>) -> String {
    kb.map_or("–".to_owned(), |kb| format!("{:.1}", kb as f64 / 1024.0))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut bin_dir = PathBuf::from("target/release");
    let mut out = PathBuf::from("bench/out/hostile.md");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bin-dir" => bin_dir = args.next().map(PathBuf::from).unwrap_or(bin_dir),
            "--out" => out = args.next().map(PathBuf::from).unwrap_or(out),
            _ => {
                eprintln!("usage: hostile [--bin-dir DIR] [--out FILE]");
                std::process::exit(2);
            }
        }
    }
    let api = RuntimeApi::start();
    let bodies: Vec<(&str, Vec<u8>)> = hostile_bodies()
        .into_iter()
        .map(|(name, body)| (name, gzip(&body)))
        .collect();
    let mut rows = Vec::new();
    for provider in ALL {
        let Some(binary) = binary(&bin_dir, provider.name()) else {
            eprintln!(
                "hostile: no binary for {} in {}",
                provider.name(),
                bin_dir.display()
            );
            continue;
        };
        for (body_name, gzipped) in &bodies {
            let mut attempts = vec![("none", String::new())];
            if provider.auth_scheme() == AuthScheme::QueryToken {
                attempts.push(("token", format!("token={TOKEN}")));
            }
            for (credentials, query) in attempts {
                let event = apigw_event(provider, &query, gzipped);
                let (status, idle_kb, peak_kb) = run_case(&binary, provider.name(), &event, &api);
                eprintln!(
                    "{:<10} {:<38} {:<5} {:?} peak {} MB",
                    provider.name(),
                    body_name,
                    credentials,
                    status,
                    mb(peak_kb)
                );
                rows.push(Row {
                    provider: provider.name(),
                    body: body_name,
                    credentials,
                    status,
                    idle_kb,
                    peak_kb,
                });
            }
        }
    }
    let mut md = format!(
        "# Peak RSS under hostile bodies\n\nEach case is a fresh process of the function binary in `{}` under a local \
         Lambda Runtime API, one invocation, the body gzip-encoded (the wire size is a few KB); `after init` is \
         VmHWM at its first `next`, `peak` VmHWM once it answered. Bound: {} MB. Credentials: `none` (no token, \
         or for Tencent no valid sign), `token` (the right `?token=`).\n\n\
         | function | body | credentials | status | after init (MB) | peak (MB) |\n|---|---|---|---|---|---|\n",
        bin_dir.display(),
        BOUND_KB / 1024
    );
    let mut worst = 0;
    for row in &rows {
        worst = worst.max(row.peak_kb.unwrap_or(u64::MAX));
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            row.provider,
            row.body,
            row.credentials,
            row.status.map_or("none".to_owned(), |s| s.to_string()),
            mb(row.idle_kb),
            mb(row.peak_kb)
        ));
    }
    md.push_str(&format!(
        "\nHighest peak: {} MB ({}).\n",
        mb(Some(worst)),
        if worst <= BOUND_KB {
            "within the bound"
        } else {
            "OVER the bound"
        }
    ));
    if let Some(parent) = out.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    if let Err(e) = std::fs::write(&out, &md) {
        eprintln!("hostile: writing {}: {e}", out.display());
    }
    print!("{md}");
    let refused = rows
        .iter()
        .all(|r| matches!(r.status, Some(400 | 401 | 413)));
    if rows.is_empty() || worst > BOUND_KB || !refused {
        std::process::exit(1);
    }
}
