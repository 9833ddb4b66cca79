//! `livehook send`: deliver a sample the way the provider would.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use livehook::providers::{self, AuthScheme, Imitate, Wire};
use reqwest::Url;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use time::OffsetDateTime;

use crate::samples;

/// What the CLI calls itself where the provider's client is not documented.
pub const CLI_USER_AGENT: &str = concat!("livehook-cli/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Args)]
#[command(
    about = "POST a sample webhook exactly as the provider would",
    long_about = "POST a sample webhook exactly as the provider would.\n\n\
        The samples of the project's events/ folder are compiled in (see --list). \
        How each provider sends is its adapter's (see `livehook providers`): each \
        delivery carries the provider's headers and User-Agent, its timestamps \
        refreshed to now (livehook refuses events older than its replay window), \
        the token as ?token= (providers without a signature of their own), for Tencent a fresh \
        t = now + 600 s with sign = md5(key + t), and for the platforms that sign \
        their deliveries (`livehook providers`: auth `signature`) the platform's proof \
        headers over the exact bytes sent, made with --secret (else the platform's \
        LIVEHOOK_<PROVIDER>_SECRET), each attempt signed when it is sent. For providers that name the event \
        in the path (lal, zlmediakit) the hook is appended to the URL path. For \
        providers that send forms (nginx) the sample's fields are form-encoded.\n\n\
        --retry N re-sends the same delivery N more times, as the provider's own \
        retry would: Aodianyun bumps retry_times, Tencent re-signs with a new t, \
        ZLMediaKit takes the next hook_index, \
        the others resend the identical body (signed platforms sign it anew, \
        Twitch with the same message id).\n\n\
        Prints status, reply and latency of each attempt; exits non-zero if any \
        answer is not 2xx. --print-body prints the prepared body instead of sending \
        it (for curl, or to see what the provider would send; a signed platform's \
        headers go to stderr).",
    after_help = "Examples:\n  \
        livehook send --list\n  \
        livehook send lal on_pub_start --url https://abc.execute-api…/lal --token s3cret\n  \
        livehook send tencent push --url http://127.0.0.1:9000/lambda-url/tencent --tencent-key k --retry 2\n  \
        livehook send livekit room_started --url http://127.0.0.1:9000/lambda-url/livekit --secret APIkey:secret\n  \
        livehook send bililive custom --url https://…/bililive --file ./my-event.json\n  \
        livehook send tencent push --tencent-key k --print-body | curl --data-binary @- https://…/tencent"
)]
pub struct SendArgs {
    /// Provider (see `livehook providers`).
    #[arg(required_unless_present = "list")]
    provider: Option<String>,
    /// Event: a sample name (see --list); with --file any name (for lal, the hook).
    #[arg(required_unless_present = "list")]
    event: Option<String>,
    /// The function's URL (for lal the base: `…/lal`, the hook is appended).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Base URL of the functions, used without --url: the function's URL is BASE/<provider> (`make dev`: http://127.0.0.1:9000/lambda-url)
    #[arg(long, value_name = "BASE", env = "LIVEHOOK_URL")]
    base_url: Option<String>,
    #[command(flatten)]
    secrets: Secrets,
    /// Re-send the same delivery N more times, as the provider's retry would.
    #[arg(long, value_name = "N", default_value_t = 0)]
    retry: u32,
    /// Send this file's payload instead of a sample (prepared like a sample: timestamps refreshed, signed where the provider signs).
    #[arg(long, value_name = "PATH")]
    file: Option<PathBuf>,
    /// Per-attempt timeout in seconds (Tencent waits 20 s).
    #[arg(long, value_name = "SECS", default_value_t = 20)]
    timeout: u64,
    /// List the compiled-in samples and exit.
    #[arg(long, exclusive = true)]
    list: bool,
    /// Print the body the provider would send now (first delivery) instead of sending it.
    #[arg(long, conflicts_with_all = ["retry", "url"])]
    print_body: bool,
}

/// The secrets a delivery is sent with, as the functions are configured.
#[derive(Debug, Args)]
pub struct Secrets {
    /// Token sent as `?token=` (every provider but Tencent); of a
    /// comma-separated list (as LIVEHOOK_TOKEN may hold), the first.
    #[arg(long, value_name = "T", env = "LIVEHOOK_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Tencent callback key: signs Tencent's body (`sign = md5(key + t)`).
    #[arg(
        long,
        value_name = "K",
        env = "LIVEHOOK_TENCENT_KEY",
        hide_env_values = true
    )]
    tencent_key: Option<String>,
    /// A signed platform's signing secret (LiveKit: APIKEY:SECRET); of a
    /// comma-separated list, the first. Without it, the platform's own
    /// variable as its function reads it (LIVEHOOK_MUX_SECRET, …).
    #[arg(long, value_name = "S")]
    secret: Option<String>,
}

impl Secrets {
    /// The token to send, if one is given.
    pub fn token(&self) -> Option<String> {
        self.token.as_deref().and_then(first_of)
    }

    /// The Tencent key, if one is given.
    pub fn tencent_key(&self) -> Option<String> {
        self.tencent_key.clone().filter(|k| !k.is_empty())
    }

    /// The secret `provider` signs with, if it signs in headers and one is
    /// given (`--secret`, else its variable in the environment).
    pub fn signing(&self, provider: &dyn Imitate) -> Option<String> {
        let AuthScheme::Signed(proof) = provider.auth_scheme() else {
            return None;
        };
        let list = self
            .secret
            .clone()
            .or_else(|| std::env::var(proof.secret_variable).ok())?;
        first_of(&list)
    }

    /// The credential `provider` proves its deliveries with, if given: the
    /// token, Tencent's key or the platform's signing secret.
    pub fn credential(&self, provider: &dyn Imitate) -> Option<String> {
        match provider.auth_scheme() {
            AuthScheme::QueryToken => self.token(),
            AuthScheme::TencentSign => self.tencent_key(),
            AuthScheme::Signed(_) => self.signing(provider),
        }
    }
}

/// The first entry of a comma-separated list (rotation lists hold the
/// current secret first).
fn first_of(list: &str) -> Option<String> {
    list.split(',')
        .map(str::trim)
        .find(|t| !t.is_empty())
        .map(str::to_owned)
}

/// Runs `livehook send`.
pub async fn run(args: SendArgs) -> Result<()> {
    if args.list {
        print!("{}", samples::listing());
        return Ok(());
    }
    let (Some(name), Some(event)) = (args.provider, args.event) else {
        bail!("provider and event are required (see livehook send --help)");
    };
    let provider = samples::provider(&name)?;
    let key = args.secrets.tencent_key();
    let token = args.secrets.token();
    let signing = args.secrets.signing(provider);
    // What signs inside the body, where the provider signs there: Tencent's
    // key, or a signed platform's secret (Volcengine's body `sign`).
    let body_key = match provider.auth_scheme() {
        AuthScheme::TencentSign => key.clone(),
        AuthScheme::Signed(_) => signing.clone(),
        AuthScheme::QueryToken => None,
    };
    let scheme = provider.auth_scheme();
    // The event's time: its retries are the same event, resent later.
    let now = OffsetDateTime::now_utc();

    let (body, from_file) = match &args.file {
        Some(path) => (
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
            true,
        ),
        None => (samples::find(&name, &event)?.body.to_vec(), false),
    };
    let missing = match scheme {
        AuthScheme::QueryToken => None,
        AuthScheme::TencentSign => key
            .is_none()
            .then(|| "pass --tencent-key K (or set LIVEHOOK_TENCENT_KEY)".to_owned()),
        AuthScheme::Signed(proof) => signing
            .is_none()
            .then(|| format!("pass --secret S (or set {})", proof.secret_variable)),
    };
    if let Some(how) = missing {
        if !from_file {
            bail!("{name} deliveries are signed: {how}");
        }
        eprintln!("note: no signing secret: the file is sent unsigned, as it is");
    }
    if args.print_body {
        let wire = prepare(provider, &body, body_key.as_deref(), now, 0);
        match wire.content_type {
            Some("application/json") => {}
            Some(content_type) => eprintln!("note: {name} sends Content-Type: {content_type}"),
            None => eprintln!(
                "note: {name} sends it as a GET with this query: ?{}",
                wire.query
            ),
        }
        let headers = providers::signed_headers(
            provider,
            &wire.body,
            signing.as_deref(),
            now,
            wire.target(PRINT_HOST),
        );
        for (header, value) in headers {
            eprintln!("note: {name} sends {header}: {value}");
        }
        println!("{}", String::from_utf8_lossy(&wire.body));
        return Ok(());
    }
    let by_token = scheme == AuthScheme::QueryToken;
    if !by_token && token.is_some() {
        eprintln!("note: {name} signs its deliveries and sends no token; --token is ignored");
    }
    if by_token && token.is_none() {
        eprintln!("note: no --token: livehook will answer 401 unless it runs unauthenticated");
    }
    let url = match (args.url, args.base_url.filter(|b| !b.is_empty())) {
        (Some(url), _) => url,
        (None, Some(base)) => crate::providers::function_url(&base, provider)?.to_string(),
        (None, None) => bail!(
            "where is the function? pass --url URL, or --base-url BASE / set LIVEHOOK_URL \
             (make dev: http://127.0.0.1:9000/lambda-url; `source .livehook/env` sets it)"
        ),
    };

    let url = target_url(&url, provider, &event, token.as_deref())?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.timeout.max(1)))
        .build()
        .context("building the HTTP client")?;
    let headers = headers_for(provider);

    let attempts = 1 + args.retry;
    let mut failures = 0;
    let mut timed_out = false;
    for attempt in 0..attempts {
        let wire = prepare(provider, &body, body_key.as_deref(), now, attempt);
        let mut attempt_headers = headers.clone();
        // Signed when sent: a platform's resend is signed anew.
        let proof = providers::signed_headers(
            provider,
            &wire.body,
            signing.as_deref(),
            OffsetDateTime::now_utc(),
            wire.target(&host_of(&url)),
        );
        add_headers(&mut attempt_headers, proof)?;
        let started = Instant::now();
        let result = request_for(&client, &url, wire, attempt_headers)
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
                if e.is_timeout() {
                    timed_out = true;
                }
            }
        }
    }
    if timed_out {
        eprintln!(
            "note: a timed-out delivery may still have been accepted (a function compiling \
             or starting answers late): look for it with `livehook events list`, then \
             `livehook events show <id>`, or send it again: a resend is answered as a \
             duplicate, never published twice"
        );
    }
    if failures > 0 {
        bail!("{failures} of {attempts} attempts failed or were not answered 2xx");
    }
    Ok(())
}

/// Attempt `attempt` (0 = first delivery) of an event first sent at `now`,
/// as the provider would put it on the wire (a form for a provider that
/// sends forms, a GET for a delivery it sends in the query: samples hold the
/// decoded fields).
fn prepare(
    provider: &dyn Imitate,
    body: &[u8],
    key: Option<&str>,
    now: OffsetDateTime,
    attempt: u32,
) -> Wire {
    let prepared = providers::prepared_body(provider, body, key, now, attempt);
    providers::wire(provider, &prepared)
}

/// The request that carries `wire` to `url` with `headers` (the provider's,
/// [`headers_for`], and its proof): a GET's fields joined to the URL's query
/// and no body type; a form's type replacing the JSON default, a JSON body
/// keeping the provider's own type (LiveKit's).
pub fn request_for(
    client: &reqwest::Client,
    url: &Url,
    wire: Wire,
    mut headers: HeaderMap,
) -> reqwest::RequestBuilder {
    let mut url = url.clone();
    if !wire.query.is_empty() {
        let query = match url.query().filter(|q| !q.is_empty()) {
            Some(own) => format!("{own}&{}", wire.query),
            None => wire.query.clone(),
        };
        url.set_query(Some(&query));
    }
    match wire.content_type {
        None => {
            headers.remove(CONTENT_TYPE);
        }
        Some("application/json") => {}
        Some(form) => {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(form));
        }
    }
    if wire.method == "GET" {
        client.get(url).headers(headers)
    } else {
        client.post(url).headers(headers).body(wire.body)
    }
}

/// The URL a provider POSTs to: for providers that name the event in the
/// path, the hook appended; the token as `?token=` for providers that use
/// one, kept beside any query the URL already has (lal notify URLs may carry
/// one).
pub fn target_url(
    base: &str,
    provider: &dyn Imitate,
    event: &str,
    token: Option<&str>,
) -> Result<Url> {
    let mut url = Url::parse(base).with_context(|| format!("--url `{base}` is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("--url must be http:// or https://, not {}://", url.scheme());
    }
    if provider.receiving().hook_in_path {
        let hook = providers::hook_of(event);
        let path = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{path}/{hook}"));
    }
    if provider.auth_scheme() == AuthScheme::QueryToken
        && let Some(token) = token
    {
        url.query_pairs_mut().append_pair("token", token);
    }
    Ok(url)
}

/// The host a request to `url` names in its `Host` header (with the port
/// when it is not the scheme's): what a platform that signs the host signs.
pub fn host_of(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// The host `--print-body` signs for (there is no URL).
const PRINT_HOST: &str = "localhost";

/// Adds `extra` (a proof's headers) to `headers`, replacing any of the
/// same name.
pub fn add_headers(headers: &mut HeaderMap, extra: Vec<(String, String)>) -> Result<()> {
    for (name, value) in extra {
        let name =
            HeaderName::try_from(name.as_str()).with_context(|| format!("header name {name}"))?;
        let value = HeaderValue::try_from(value).context("a header value")?;
        headers.insert(name, value);
    }
    Ok(())
}

/// The headers the provider's HTTP client sends.
pub fn headers_for(provider: &dyn Imitate) -> HeaderMap {
    let sending = provider.sending();
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (name, value) in sending.headers {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    let agent = sending.user_agent.unwrap_or(CLI_USER_AGENT);
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
    use livehook::providers::{ApiServer, Bililive, Lal, Tencent};
    use reqwest::header::ACCEPT_ENCODING;

    #[test]
    fn lal_hook_is_appended_and_token_added_to_the_query() {
        let url = target_url(
            "http://127.0.0.1:9000/lal/?x=1",
            &Lal,
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
        let url = target_url("https://h/tencent", &Tencent, "push", Some("t")).unwrap();
        assert_eq!(url.as_str(), "https://h/tencent");
        assert!(target_url("ftp://h", &Lal, "x", None).is_err());
        assert!(target_url("not a url", &Lal, "x", None).is_err());
    }

    #[test]
    fn provider_headers() {
        let lal = headers_for(&Lal);
        assert_eq!(lal[USER_AGENT], "Go-http-client/1.1");
        assert_eq!(lal[ACCEPT_ENCODING], "gzip");
        assert!(
            headers_for(&Bililive)[USER_AGENT]
                .to_str()
                .unwrap()
                .starts_with("BililiveRecorder/2.")
        );
        assert_eq!(headers_for(&ApiServer)[CONTENT_TYPE], "application/json");
        assert_eq!(headers_for(&ApiServer)[USER_AGENT], CLI_USER_AGENT);
    }

    #[test]
    fn form_providers_are_sent_forms() {
        let nginx = livehook::providers::imitate::by_name("nginx").unwrap();
        let body = br#"{"app":"live","call":"publish","name":"test","tag":["a","b"]}"#;
        let wire = prepare(nginx, body, None, OffsetDateTime::now_utc(), 0);
        assert_eq!(wire.content_type, Some("application/x-www-form-urlencoded"));
        assert_eq!(wire.body, b"app=live&call=publish&name=test&tag=a&tag=b");
        let wire = prepare(&Lal, body, None, OffsetDateTime::now_utc(), 0);
        assert_eq!(wire.content_type, Some("application/json"));
        assert_eq!(wire.body, body);
    }

    #[test]
    fn a_delivery_sent_in_the_query_is_a_get_signed_for_its_fields() {
        let alibaba = livehook::providers::imitate::by_name("alibaba").unwrap();
        let publish = samples::find("alibaba", "publish").unwrap();
        let wire = prepare(alibaba, publish.body, None, OffsetDateTime::now_utc(), 0);
        assert_eq!(wire.method, "GET");
        assert!(wire.body.is_empty());
        let url = Url::parse("http://127.0.0.1:9000/alibaba?livehook_check=true").unwrap();
        let now = OffsetDateTime::now_utc();
        let headers = providers::signed_headers(
            alibaba,
            &wire.body,
            Some("k"),
            now,
            wire.target(&host_of(&url)),
        );
        // Signed for the ingest domain of the query, not the host called.
        let for_domain =
            providers::signed_headers(alibaba, b"", Some("k"), now, "example.aliyundoc.com");
        assert_eq!(headers, for_domain);
        let mut map = headers_for(alibaba);
        add_headers(&mut map, headers).unwrap();
        let request = request_for(&reqwest::Client::new(), &url, wire, map)
            .build()
            .unwrap();
        assert_eq!(request.method(), reqwest::Method::GET);
        assert!(request.body().is_none());
        assert!(request.headers().get(CONTENT_TYPE).is_none());
        let query: std::collections::HashMap<_, _> = request.url().query_pairs().collect();
        assert_eq!(query["livehook_check"], "true");
        assert_eq!(query["action"], "publish");
        assert_eq!(query["app"], "example.aliyundoc.com");
        // Its recording callbacks are POSTed JSON.
        let record = samples::find("alibaba", "record_file").unwrap();
        let wire = prepare(alibaba, record.body, None, OffsetDateTime::now_utc(), 0);
        assert_eq!(
            (wire.method, wire.content_type),
            ("POST", Some("application/json"))
        );
        assert!(wire.query.is_empty());
    }

    #[test]
    fn every_provider_has_valid_headers() {
        // HeaderName::from_static panics on an invalid (e.g. upper-case) name.
        for provider in livehook::providers::ALL_IMITATE {
            let _ = headers_for(provider);
        }
    }
}
