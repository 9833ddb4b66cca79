//! `livehook send`: deliver a sample the way the provider would.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use livehook::auth::Secret;
use reqwest::Url;
use reqwest::header::{ACCEPT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderValue, USER_AGENT};
use time::OffsetDateTime;

use crate::samples;

/// BililiveRecorder 2.x announces itself with its version.
pub const BILILIVE_USER_AGENT: &str = "BililiveRecorder/2.6.0";
/// lalserver's notifications come from Go's net/http client.
pub const LAL_USER_AGENT: &str = "Go-http-client/1.1";
/// What the CLI calls itself where the provider's client is not documented.
pub const CLI_USER_AGENT: &str = concat!("livehook-cli/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Args)]
#[command(
    about = "POST a sample webhook exactly as the provider would",
    long_about = "POST a sample webhook exactly as the provider would.\n\n\
        The samples of the project's events/ folder are compiled in (see --list). \
        Each delivery carries the provider's headers and User-Agent, its timestamps \
        refreshed to now (livehook refuses events older than its replay window), \
        the token as ?token= (every provider but Tencent), and for Tencent a fresh \
        t = now + 600 s with sign = md5(key + t). For lal the hook is appended to \
        the URL path.\n\n\
        --retry N re-sends the same delivery N more times, as the provider's own \
        retry would: Aodianyun bumps retry_times, Tencent re-signs with a new t, \
        BililiveRecorder, lal and Api Server resend the identical body.\n\n\
        Prints status, reply and latency of each attempt; exits non-zero if any \
        answer is not 2xx.",
    after_help = "Examples:\n  \
        livehook send --list\n  \
        livehook send lal on_pub_start --url https://abc.execute-api…/lal --token s3cret\n  \
        livehook send tencent push --url http://127.0.0.1:9000/lambda-url/tencent --tencent-key k --retry 2\n  \
        livehook send bililive custom --url https://…/bililive --file ./my-event.json"
)]
pub struct SendArgs {
    /// Provider: tencent, aodianyun, bililive, lal or apiserver.
    #[arg(required_unless_present = "list")]
    provider: Option<String>,
    /// Event: a sample name (see --list); with --file any name (for lal, the hook).
    #[arg(required_unless_present = "list")]
    event: Option<String>,
    /// The function's URL (for lal the base: `…/lal`, the hook is appended).
    #[arg(long, value_name = "URL", required_unless_present = "list")]
    url: Option<String>,
    /// Token sent as `?token=` (not for Tencent).
    #[arg(long, value_name = "T", env = "LIVEHOOK_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Tencent callback key: signs the body (`sign = md5(key + t)`).
    #[arg(
        long,
        value_name = "K",
        env = "LIVEHOOK_TENCENT_KEY",
        hide_env_values = true
    )]
    tencent_key: Option<String>,
    /// Re-send the same delivery N more times, as the provider's retry would.
    #[arg(long, value_name = "N", default_value_t = 0)]
    retry: u32,
    /// Send this file's payload instead of a sample (sent as is; Tencent's is re-signed when a key is given).
    #[arg(long, value_name = "PATH")]
    file: Option<PathBuf>,
    /// Per-attempt timeout in seconds (Tencent waits 20 s).
    #[arg(long, value_name = "SECS", default_value_t = 20)]
    timeout: u64,
    /// List the compiled-in samples and exit.
    #[arg(long, exclusive = true)]
    list: bool,
}

/// Runs `livehook send`.
pub async fn run(args: SendArgs) -> Result<()> {
    if args.list {
        print!("{}", samples::listing());
        return Ok(());
    }
    let (Some(provider), Some(event), Some(url)) = (args.provider, args.event, args.url) else {
        bail!("provider, event and --url are required (see livehook send --help)");
    };
    samples::check_provider(&provider)?;
    let key = args.tencent_key.filter(|k| !k.is_empty()).map(Secret::new);
    let token = args.token.filter(|t| !t.is_empty());

    let now = OffsetDateTime::now_utc();
    let body = match &args.file {
        Some(path) => std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
        None => {
            let sample = samples::find(&provider, &event)?;
            samples::refresh_times(&provider, sample.body, now)?
        }
    };
    if provider == "tencent" && key.is_none() {
        if args.file.is_none() {
            bail!(
                "Tencent deliveries are signed: pass --tencent-key K (or set LIVEHOOK_TENCENT_KEY)"
            );
        }
        eprintln!("note: no --tencent-key: the file is sent unsigned, as it is");
    }
    if provider == "tencent" && token.is_some() {
        eprintln!("note: Tencent signs its body and sends no token; --token is ignored");
    }
    if provider != "tencent" && token.is_none() {
        eprintln!("note: no --token: livehook will answer 401 unless it runs unauthenticated");
    }

    let url = target_url(&url, &provider, &event, token.as_deref())?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.timeout.max(1)))
        .build()
        .context("building the HTTP client")?;
    let headers = headers_for(&provider);

    let attempts = 1 + args.retry;
    let mut failures = 0;
    for attempt in 0..attempts {
        let payload = attempt_body(&provider, &body, attempt, key.as_ref())?;
        let started = Instant::now();
        let result = client
            .post(url.clone())
            .headers(headers.clone())
            .body(payload)
            .send()
            .await;
        let label = if attempt == 0 {
            "attempt 1".to_owned()
        } else {
            format!("retry {attempt}  ")
        };
        match result {
            Ok(response) => {
                let status = response.status();
                let reply = response.text().await.unwrap_or_default();
                let elapsed = started.elapsed();
                println!(
                    "{label}  {}  {:>7.1} ms  {}",
                    status,
                    elapsed.as_secs_f64() * 1000.0,
                    excerpt(&reply, 400)
                );
                if !status.is_success() {
                    failures += 1;
                }
            }
            Err(e) => {
                println!(
                    "{label}  error after {:.1} ms: {}",
                    started.elapsed().as_secs_f64() * 1000.0,
                    crate::describe_reqwest(&e)
                );
                failures += 1;
            }
        }
    }
    if failures > 0 {
        bail!("{failures} of {attempts} attempts failed or were not answered 2xx");
    }
    Ok(())
}

/// The body of attempt `attempt` (0 = first delivery).
fn attempt_body(
    provider: &str,
    body: &[u8],
    attempt: u32,
    key: Option<&Secret>,
) -> Result<Vec<u8>> {
    match provider {
        // Every delivery and retry is signed with a fresh expiry.
        "tencent" => match key {
            Some(key) => {
                samples::sign_tencent(body, key, samples::tencent_t(OffsetDateTime::now_utc()))
            }
            None => Ok(body.to_vec()),
        },
        "aodianyun" if attempt > 0 => samples::aodianyun_retry(body, i64::from(attempt)),
        _ => Ok(body.to_vec()),
    }
}

/// The URL a provider POSTs to: for lal the hook appended to the path; the
/// token as `?token=` for every provider but Tencent, kept beside any query
/// the URL already has (lal notify URLs may carry one).
pub fn target_url(base: &str, provider: &str, event: &str, token: Option<&str>) -> Result<Url> {
    let mut url = Url::parse(base).with_context(|| format!("--url `{base}` is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("--url must be http:// or https://, not {}://", url.scheme());
    }
    if provider == "lal" {
        let hook = samples::hook_of(event);
        let path = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{path}/{hook}"));
    }
    if provider != "tencent"
        && let Some(token) = token
    {
        url.query_pairs_mut().append_pair("token", token);
    }
    Ok(url)
}

/// The headers the provider's HTTP client sends.
pub fn headers_for(provider: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let agent = match provider {
        "lal" => {
            headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
            LAL_USER_AGENT
        }
        "bililive" => BILILIVE_USER_AGENT,
        _ => CLI_USER_AGENT,
    };
    headers.insert(USER_AGENT, HeaderValue::from_static(agent));
    headers
}

/// The first `max` characters of `text` on one line.
pub fn excerpt(text: &str, max: usize) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = one_line.trim();
    if trimmed.chars().count() > max {
        let cut: String = trimmed.chars().take(max).collect();
        format!("{cut}…")
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lal_hook_is_appended_and_token_added_to_the_query() {
        let url = target_url(
            "http://127.0.0.1:9000/lal/?x=1",
            "lal",
            "on_update.large",
            Some("a b"),
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9000/lal/on_update?x=1&token=a+b"
        );
    }

    #[test]
    fn tencent_gets_no_token() {
        let url = target_url("https://h/tencent", "tencent", "push", Some("t")).unwrap();
        assert_eq!(url.as_str(), "https://h/tencent");
        assert!(target_url("ftp://h", "lal", "x", None).is_err());
        assert!(target_url("not a url", "lal", "x", None).is_err());
    }

    #[test]
    fn provider_headers() {
        let lal = headers_for("lal");
        assert_eq!(lal[USER_AGENT], LAL_USER_AGENT);
        assert_eq!(lal[ACCEPT_ENCODING], "gzip");
        assert!(
            headers_for("bililive")[USER_AGENT]
                .to_str()
                .unwrap()
                .starts_with("BililiveRecorder/2.")
        );
        assert_eq!(headers_for("apiserver")[CONTENT_TYPE], "application/json");
    }
}
