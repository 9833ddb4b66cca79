//! `runtime-bench`: a local implementation of the Lambda Runtime API on
//! loopback that spawns any command speaking it (a livehook `bootstrap`, or
//! another implementation to compare) and times it.
//!
//! - `cold`: per spawn, spawn → first `GET …/invocation/next` (init) and the
//!   first invocation (event handed out → response posted); median and p90.
//! - `warm`: one process, many invocations back to back: events/s, p50/p99
//!   handler latency, non-200 answers, peak RSS (`VmHWM`) at the end, and,
//!   with `--emulator-log`, the AWS calls per new and per duplicate event as
//!   counted in the emulator's request log.
//!
//! Events are API Gateway HTTP API v2 requests built from `events/` samples,
//! made unique per invocation so each is a new event (duplicates on demand).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use livehook_testkit::samples::{Sample, events_dir, load_dir, resign_tencent};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    about = "Times cold starts and warm invocations of any command that speaks the Lambda Runtime API"
)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(clap::Args, Clone)]
struct Common {
    /// The provider whose samples are sent (tencent, aodianyun, bililive, lal, apiserver).
    #[arg(long)]
    provider: String,
    /// The `?token=` to send.
    #[arg(long, default_value = "bench-token")]
    token: String,
    /// The Tencent key to sign with.
    #[arg(long, default_value = "bench-tencent-key")]
    tencent_key: String,
    /// The command to run, and its arguments (after `--`).
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

#[derive(Subcommand)]
enum Mode {
    /// Spawn the command RUNS times: init time and first invocation.
    Cold {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 20)]
        runs: usize,
    },
    /// One process, EVENTS invocations back to back.
    Warm {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 10_000)]
        events: usize,
        /// Every Nth event repeats the previous one (a provider retry).
        #[arg(long, default_value_t = 10)]
        duplicate_every: usize,
        /// The emulator's request log (one line per request), to count AWS calls.
        #[arg(long)]
        emulator_log: Option<PathBuf>,
    },
}

type Incoming = (Instant, tiny_http::Request);

/// The Runtime API endpoint: every request is forwarded, with its arrival
/// time, to the driver, which answers when it decides to.
struct RuntimeApi {
    address: String,
    requests: Receiver<Incoming>,
}

impl RuntimeApi {
    fn start() -> RuntimeApi {
        let server =
            tiny_http::Server::http("127.0.0.1:0").expect("binding the Runtime API on loopback");
        let address = server
            .server_addr()
            .to_ip()
            .expect("an IP address")
            .to_string();
        let (tx, requests) = channel();
        std::thread::spawn(move || {
            for request in server.incoming_requests() {
                if tx.send((Instant::now(), request)).is_err() {
                    break;
                }
            }
        });
        RuntimeApi { address, requests }
    }

    /// Waits for the next request; `None` after `timeout`.
    fn next(&self, timeout: Duration) -> Option<Incoming> {
        self.requests.recv_timeout(timeout).ok()
    }
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header")
}

fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// Hands out `event` as invocation `id` on a pending `GET …/next`.
fn hand_out(request: tiny_http::Request, id: &str, event: &str) {
    let response = tiny_http::Response::from_string(event)
        .with_header(header("Lambda-Runtime-Aws-Request-Id", id))
        .with_header(header(
            "Lambda-Runtime-Deadline-Ms",
            &(unix_ms() + 30_000).to_string(),
        ))
        .with_header(header(
            "Lambda-Runtime-Invoked-Function-Arn",
            "arn:aws:lambda:us-east-1:123456789012:function:bench",
        ))
        .with_header(header(
            "Lambda-Runtime-Trace-Id",
            "Root=1-00000000-000000000000000000000000;Sampled=0",
        ))
        .with_header(header("Content-Type", "application/json"));
    let _ = request.respond(response);
}

fn accept(request: tiny_http::Request) {
    let _ = request.respond(tiny_http::Response::empty(202));
}

/// What the function did with one invocation.
struct Answer {
    at: Instant,
    status: u16,
}

/// Serves the runtime until invocation `id` is answered; returns the answer
/// (or `None` when the function reported an error, exited, or timed out).
fn await_answer(
    api: &RuntimeApi,
    id: &str,
    child: &mut Child,
    pending_next: &mut Option<Incoming>,
) -> Option<Answer> {
    loop {
        let Some((at, mut request)) = api.next(Duration::from_secs(30)) else {
            eprintln!("no answer to invocation {id} within 30 s");
            return None;
        };
        let url = request.url().to_owned();
        if url.ends_with("/invocation/next") {
            // The function is ready for more before we got its answer: keep it.
            *pending_next = Some((at, request));
            if matches!(child.try_wait(), Ok(Some(_))) {
                return None;
            }
            continue;
        }
        let mut body = String::new();
        let _ = request.as_reader().read_to_string(&mut body);
        accept(request);
        if url.ends_with(&format!("/invocation/{id}/response")) {
            let status = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v["statusCode"].as_u64())
                .and_then(|s| u16::try_from(s).ok())
                .unwrap_or(0);
            return Some(Answer { at, status });
        }
        eprintln!("function reported {url}: {body}");
        return None;
    }
}

/// Builds API Gateway v2 events for a provider's samples, each made unique by
/// `n` so that it is a new event.
struct Events {
    provider: String,
    samples: Vec<Sample>,
    token: String,
    tencent_key: String,
}

impl Events {
    fn new(common: &Common) -> Events {
        let samples: Vec<Sample> = load_dir(&events_dir())
            .expect("events/ is readable")
            .into_iter()
            .filter(|s| s.provider == common.provider && !s.event.contains('.'))
            .collect();
        assert!(
            !samples.is_empty(),
            "no samples for provider {}",
            common.provider
        );
        Events {
            provider: common.provider.clone(),
            samples,
            token: common.token.clone(),
            tencent_key: common.tencent_key.clone(),
        }
    }

    /// The `n`th event: sample `n % len`, its identifying field made unique.
    fn event(&self, n: usize) -> String {
        let sample = &self.samples[n % self.samples.len()];
        let mut body: Value = serde_json::from_slice(&sample.body).expect("a JSON sample");
        let unique = format!("bench-{n}");
        match self.provider.as_str() {
            "tencent" => {
                body["sequence"] = json!(unique);
                body["file_id"] = json!(unique);
                body["pic_url"] = json!(format!("/{unique}.jpg"));
            }
            "aodianyun" => body["room_id"] = json!(n),
            "bililive" => {
                body["EventId"] = json!(unique);
                body["EventRandomId"] = json!(unique);
            }
            "lal" => body["session_id"] = json!(unique),
            _ => body["eventTime"] = json!(n),
        }
        let mut bytes = serde_json::to_vec(&body).expect("JSON");
        if self.provider == "tencent" {
            let t = i64::try_from(unix_ms() / 1000).unwrap_or(0) + 600;
            bytes = resign_tencent(&bytes, &self.tencent_key, t).expect("a JSON object");
        }
        let path = sample.path();
        json!({
            "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": sample.query(&self.token),
            "headers": {"content-type": "application/json", "user-agent": "runtime-bench"},
            "requestContext": {"accountId": "123456789012", "apiId": "bench", "domainName": "bench.local", "domainPrefix": "bench",
                "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "runtime-bench"},
                "requestId": unique, "routeKey": "$default", "stage": "$default", "time": "", "timeEpoch": 0},
            "body": String::from_utf8(bytes).expect("UTF-8"), "isBase64Encoded": false
        })
        .to_string()
    }
}

fn spawn(common: &Common, api: &RuntimeApi) -> Child {
    Command::new(&common.command[0])
        .args(&common.command[1..])
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {:?}: {e}", common.command))
}

/// The first `GET …/next` of a fresh process; `None` if it exits first.
fn first_next(api: &RuntimeApi, child: &mut Child) -> Option<Incoming> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(incoming) = api.next(Duration::from_millis(50)) {
            return Some(incoming);
        }
        if matches!(child.try_wait(), Ok(Some(_))) {
            return None;
        }
    }
    None
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn cold(common: &Common, runs: usize) -> Value {
    let api = RuntimeApi::start();
    let events = Events::new(common);
    let (mut inits, mut firsts, mut statuses) =
        (Vec::new(), Vec::new(), HashMap::<u16, usize>::new());
    for run in 0..runs {
        let started = Instant::now();
        let mut child = spawn(common, &api);
        let Some((at, request)) = first_next(&api, &mut child) else {
            stop(child);
            eprintln!("run {run}: the function exited or sent no GET …/next within 30 s");
            std::process::exit(1);
        };
        inits.push(ms(at - started));
        let id = format!("cold-{run}");
        let handed = Instant::now();
        hand_out(
            request,
            &id,
            &events.event(run + 1_000_000 * (1 + std::process::id() as usize % 1000)),
        );
        let mut pending = None;
        if let Some(answer) = await_answer(&api, &id, &mut child, &mut pending) {
            firsts.push(ms(answer.at - handed));
            *statuses.entry(answer.status).or_default() += 1;
        }
        stop(child);
        // The killed process's last `GET …/next` may still be queued: drop it,
        // or the next run would take it for its own first request.
        drop(pending);
        while api.next(Duration::from_millis(50)).is_some() {}
    }
    let (inits, firsts) = (sorted(inits), sorted(firsts));
    json!({
        "mode": "cold", "provider": common.provider, "runs": runs,
        "init_ms": {"median": percentile(&inits, 50.0), "p90": percentile(&inits, 90.0), "min": inits.first(), "max": inits.last()},
        "first_invocation_ms": {"median": percentile(&firsts, 50.0), "p90": percentile(&firsts, 90.0)},
        "statuses": statuses,
    })
}

fn count_lines(path: &Option<PathBuf>) -> Option<usize> {
    path.as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|t| t.lines().count())
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU time (user + system) the process has used, from `/proc/<pid>/stat`.
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // The kernel's USER_HZ is 100 on Linux.
    Some(Duration::from_millis(ticks * 10))
}

fn warm(
    common: &Common,
    total: usize,
    duplicate_every: usize,
    emulator_log: &Option<PathBuf>,
) -> Value {
    let api = RuntimeApi::start();
    let events = Events::new(common);
    let mut child = spawn(common, &api);
    let base = 2_000_000 * (1 + std::process::id() as usize % 1000);
    let mut pending: Option<Incoming> = None;
    let mut latencies = Vec::with_capacity(total);
    let mut statuses = HashMap::<u16, usize>::new();
    let mut invocation = 0_usize;
    // One invocation of event `n`: its answer and latency (event handed out → response).
    let mut invoke =
        |n: usize, child: &mut Child, pending: &mut Option<Incoming>| -> Option<(Answer, f64)> {
            let (_, request) = match pending.take() {
                Some(p) => p,
                None => first_next(&api, child)?,
            };
            invocation += 1;
            let id = format!("warm-{invocation}");
            let handed = Instant::now();
            hand_out(request, &id, &events.event(n));
            let answer = await_answer(&api, &id, child, pending)?;
            let latency = ms(answer.at - handed);
            Some((answer, latency))
        };

    // AWS calls per new and per duplicate event, counted at the emulator.
    let mut calls = Value::Null;
    if emulator_log.is_some() {
        let probe = base - 1;
        let settle = || std::thread::sleep(Duration::from_millis(300));
        settle();
        let before = count_lines(emulator_log);
        invoke(probe, &mut child, &mut pending);
        settle();
        let after_new = count_lines(emulator_log);
        invoke(probe, &mut child, &mut pending);
        settle();
        let after_duplicate = count_lines(emulator_log);
        if let (Some(b), Some(n), Some(d)) = (before, after_new, after_duplicate) {
            calls = json!({"new_event": n - b, "duplicate": d - n});
        }
    }

    let cpu_before = cpu_time(child.id());
    let started = Instant::now();
    let mut last = base;
    for i in 0..total {
        let n = if duplicate_every > 0 && i % duplicate_every == duplicate_every - 1 {
            last
        } else {
            base + i
        };
        last = n;
        match invoke(n, &mut child, &mut pending) {
            Some((answer, latency)) => {
                *statuses.entry(answer.status).or_default() += 1;
                latencies.push(latency);
            }
            None => break,
        }
    }
    let elapsed = started.elapsed();
    let peak_rss_kb = vm_hwm_kb(child.id());
    let cpu_used = cpu_time(child.id())
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    stop(child);
    let done = latencies.len();
    let latencies = sorted(latencies);
    json!({
        "mode": "warm", "provider": common.provider, "events": done, "duplicate_every": duplicate_every,
        "events_per_second": done as f64 / elapsed.as_secs_f64(),
        "latency_ms": {"p50": percentile(&latencies, 50.0), "p99": percentile(&latencies, 99.0), "max": latencies.last()},
        "peak_rss_kb": peak_rss_kb,
        "cpu_ms_per_event": cpu_used.map(|cpu| ms(cpu) / done.max(1) as f64),
        "statuses": statuses,
        "aws_calls": calls,
    })
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.mode {
        Mode::Cold { common, runs } => cold(common, *runs),
        Mode::Warm {
            common,
            events,
            duplicate_every,
            emulator_log,
        } => warm(common, *events, *duplicate_every, emulator_log),
    };
    println!("{result}");
}
