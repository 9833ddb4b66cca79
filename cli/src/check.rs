//! `livehook check`: proves a deployment works end to end, provider by
//! provider, by sending each one synthetic event exactly as the provider
//! would and watching the topic through a temporary filtered queue.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use livehook::providers::{self, AuthScheme, Imitate};
use reqwest::{StatusCode, Url};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::aws::AwsArgs;
use crate::sdk_error;
use crate::send::{add_headers, excerpt, headers_for, host_of, request_for, target_url};
use crate::tail::{Tap, parse_notification};

/// The stream every check event is about (its subject ends in
/// `/livehook-check`). What marks a check is the `livehook_check=true`
/// parameter on the authenticated URL, never the name: the relay then sets
/// the `livehook_check` attribute, so that subscribers can filter them out.
pub const CHECK_STREAM: &str = "livehook-check";

/// The credential sent by the wrong-credential check.
const WRONG_SECRET: &str = "livehook-check-wrong-secret";

#[derive(Debug, Args)]
#[command(
    about = "Prove a deployment works: one authenticated event per provider, through to the topic",
    long_about = "Prove a deployment works, provider by provider.\n\n\
        For every provider of the stack (its outputs, with --stack) or under a local \
        base URL (--url, as `make dev` serves them), livehook check:\n\n  \
        1. subscribes a temporary SQS queue to the topic, filtered on the \
        livehook_check message attribute, so no real subscriber's traffic is read;\n  \
        2. sends one synthetic event about the stream `livehook-check`, exactly as \
        the provider would (its route, headers and User-Agent, ?token=, Tencent's \
        sign = md5(key + t), or a signed platform's proof headers made with --secret or \
        its LIVEHOOK_<PROVIDER>_SECRET), marked as a check by `livehook_check=true` on the URL, \
        and times its arrival at the topic (through the table's stream and the \
        relay: locally, `livehook pump` must be running);\n  \
        3. for providers that resend, resends it as the provider's retry would and \
        confirms a 2xx answer and that nothing new is published (lal and SRS never \
        resend: each of their deliveries is a new event);\n  \
        4. sends one with a wrong token (Tencent and signed platforms: signed with a wrong key) and \
        confirms a 401 and that nothing is published.\n\n\
        Prints a table per provider and exits non-zero on any failure, with a hint \
        (wrong token, wrong Tencent key, wrong signing secret, topic policy, no subscription). The queue \
        and subscription are deleted at the end. Subscribers that must not see \
        check events filter on the livehook_check attribute (\"anything-but\": \
        [\"true\"]).",
    after_help = "Examples:\n  \
        livehook check --stack livehook --token s3cret --tencent-key k\n  \
        livehook check --url http://127.0.0.1:9000/lambda-url --endpoint-url http://127.0.0.1:5050 \\\n      \
        --topic-arn arn:aws:sns:us-east-1:123456789012:livehook --token dev-token --tencent-key dev-tencent-key\n  \
        livehook check --stack livehook --provider lal --provider srs"
)]
pub struct CheckArgs {
    #[command(flatten)]
    aws: AwsArgs,
    /// Base URL of the functions (`make dev`: http://127.0.0.1:9000/lambda-url; each is BASE/<provider>/) [default: the stack's outputs]
    #[arg(long, value_name = "BASE", env = "LIVEHOOK_URL")]
    url: Option<String>,
    #[command(flatten)]
    secrets: crate::send::Secrets,
    /// Only this provider (repeatable) [default: all of the stack's]
    #[arg(long = "provider", value_name = "P")]
    providers: Vec<String>,
    /// Seconds to wait for an accepted event to reach the topic
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    wait: u64,
    /// Seconds to watch for a message that must not come (a resend or a refused delivery published)
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    settle: u64,
    /// Per-request timeout in seconds
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    timeout: u64,
}

/// One provider to check and where its function is.
struct Target {
    provider: &'static dyn Imitate,
    url: String,
}

/// What happened to one provider's check.
#[derive(Default)]
struct Outcome {
    /// First delivery's answer (or the error).
    status: String,
    /// Milliseconds from sending to the message arriving from the topic.
    to_topic_ms: Option<u128>,
    /// The resend: answered 2xx and not published again.
    duplicate: String,
    /// The wrong credential: answered 401 and not published.
    refused: String,
    /// Nonces whose messages are counted after the settle period.
    nonce: String,
    wrong_nonce: String,
    resent: bool,
    /// What went wrong, with a hint.
    problems: Vec<String>,
}

/// Runs `livehook check`.
pub async fn run(args: CheckArgs) -> Result<()> {
    let target = args.aws.resolve().await?;
    let topic_arn = target.topic_arn()?.to_owned();
    let targets = targets(&args, &target.sdk).await?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.timeout.max(1)))
        .build()
        .context("building the HTTP client")?;

    let sqs = aws_sdk_sqs::Client::new(&target.sdk);
    let sns = aws_sdk_sns::Client::new(&target.sdk);
    let tap = Tap::open(
        sqs.clone(),
        sns,
        &topic_arn,
        Some(&filter_policy()),
        "livehook-check",
    )
    .await
    .map_err(|e| {
        anyhow!(
            "{e:#}\nhint: livehook check needs to create an SQS queue and subscribe it to {topic_arn} (sqs:CreateQueue, sqs:SetQueueAttributes, sns:Subscribe)"
        )
    })?;
    eprintln!(
        "check: watching {topic_arn} through a temporary queue; {} provider(s)",
        targets.len()
    );
    let mut inbox = Inbox {
        sqs,
        queue_url: tap.queue_url.clone(),
        received: Vec::new(),
    };
    let result = check_all(&args, &targets, &client, &mut inbox).await;
    tap.close().await;
    let outcomes = result?;
    print_table(&targets, &outcomes);
    let failed: Vec<_> = targets
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| !o.problems.is_empty())
        .collect();
    for (t, o) in &failed {
        for problem in &o.problems {
            eprintln!("{}: {problem}", t.provider.name());
        }
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} providers failed the check",
            failed.len(),
            targets.len()
        );
    }
    println!("check: every provider delivers to the topic");
    Ok(())
}

/// Check events only: the relay's `livehook_check` attribute.
fn filter_policy() -> Value {
    json!({"livehook_check": ["true"]})
}

/// The providers to check and their function URLs.
async fn targets(args: &CheckArgs, sdk: &aws_config::SdkConfig) -> Result<Vec<Target>> {
    let wanted =
        |p: &dyn Imitate| args.providers.is_empty() || args.providers.iter().any(|n| n == p.name());
    for name in &args.providers {
        crate::samples::provider(name)?;
    }
    let mut found = Vec::new();
    if let Some(base) = &args.url {
        for provider in providers::ALL_IMITATE
            .iter()
            .copied()
            .filter(|p| wanted(*p))
        {
            let url = crate::providers::function_url(base, provider)?;
            found.push(Target {
                provider,
                url: url.to_string(),
            });
        }
        return Ok(found);
    }
    let Some(stack) = args.aws.stack.as_deref().filter(|s| !s.is_empty()) else {
        bail!(
            "where are the functions? pass --stack NAME (its outputs) or --url BASE / set LIVEHOOK_URL (make dev: http://127.0.0.1:9000/lambda-url; `source .livehook/env` sets it)"
        );
    };
    let outputs = crate::aws::stack_outputs(sdk, stack).await?;
    for provider in providers::ALL_IMITATE
        .iter()
        .copied()
        .filter(|p| wanted(*p))
    {
        match url_output(&outputs, provider.name()) {
            Some(url) => found.push(Target { provider, url }),
            None if args.providers.is_empty() => {
                eprintln!(
                    "check: stack {stack} has no URL output for {}: not checked",
                    provider.name()
                );
            }
            None => bail!("stack {stack} has no URL output for {}", provider.name()),
        }
    }
    if found.is_empty() {
        bail!("stack {stack} has no provider URL outputs (<Provider>Url); pass --url BASE");
    }
    Ok(found)
}

/// The stack output holding a provider's URL: its key starts with the
/// provider's name and names a URL (`TencentUrl`, `LalUrlPrefix`).
fn url_output(outputs: &[(String, String)], provider: &str) -> Option<String> {
    outputs
        .iter()
        .find(|(key, value)| {
            let key = key.to_ascii_lowercase();
            key.starts_with(provider) && key.contains("url") && value.starts_with("http")
        })
        .map(|(_, value)| value.clone())
}

/// A fresh nonce: the check events of every run and attempt are new events.
fn nonce(label: &str) -> String {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let now = OffsetDateTime::now_utc().unix_timestamp_nanos();
    format!("lhc-{label}-{:x}-{now:x}-{n}", std::process::id())
}

/// What the queue has delivered so far: `(when, message text)`.
struct Inbox {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    received: Vec<(Instant, String)>,
}

impl Inbox {
    /// Receives what is waiting (up to a 1 s long poll) and deletes it.
    async fn poll(&mut self) -> Result<()> {
        let answer = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(|e| anyhow!(sdk_error(&e)))
            .context("receiving from the check queue")?;
        for message in answer.messages() {
            let body = message.body().unwrap_or_default();
            self.received
                .push((Instant::now(), parse_notification(body).message));
            if let Some(handle) = message.receipt_handle() {
                let _ = self
                    .sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await;
            }
        }
        Ok(())
    }

    /// The messages about `nonce` received so far.
    fn count(&self, nonce: &str) -> usize {
        self.received
            .iter()
            .filter(|(_, m)| m.contains(nonce))
            .count()
    }

    /// Waits up to `wait` for a message about `nonce`; when it came.
    async fn arrival(&mut self, nonce: &str, wait: Duration) -> Result<Option<Instant>> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some((at, _)) = self.received.iter().find(|(_, m)| m.contains(nonce)) {
                return Ok(Some(*at));
            }
            if Instant::now() > deadline {
                return Ok(None);
            }
            self.poll().await?;
        }
    }

    /// Receives everything that comes within `period`.
    async fn settle(&mut self, period: Duration) -> Result<()> {
        let deadline = Instant::now() + period;
        while Instant::now() < deadline {
            self.poll().await?;
        }
        Ok(())
    }
}

/// Sends `body` (a prepared JSON object) as `provider` would (a POST, or a
/// GET where it sends the fields in the query); the status, or a
/// description of why there is none.
async fn post(
    client: &reqwest::Client,
    provider: &dyn Imitate,
    url: &Url,
    body: Vec<u8>,
    signing: Option<&str>,
) -> Result<StatusCode, String> {
    let mut headers = headers_for(provider);
    let wire = providers::wire(provider, &body);
    // Signed when sent, over the bytes sent (a platform's resend is signed anew).
    let proof = providers::signed_headers(
        provider,
        &wire.body,
        signing,
        OffsetDateTime::now_utc(),
        wire.target(&host_of(url)),
    );
    add_headers(&mut headers, proof).map_err(|e| format!("{e:#}"))?;
    let response = request_for(client, url, wire, headers)
        .send()
        .await
        .map_err(|e| crate::describe_reqwest(&e))?;
    let status = response.status();
    if !status.is_success() && status != StatusCode::UNAUTHORIZED {
        let reply = response.text().await.unwrap_or_default();
        return Err(format!("{status} {}", excerpt(&reply, 200)));
    }
    Ok(status)
}

/// The hint for a first delivery refused with 401.
fn credential_hint(provider: &dyn Imitate) -> String {
    match provider.auth_scheme() {
        AuthScheme::QueryToken => {
            "wrong token: --token (LIVEHOOK_TOKEN) must be one of the stack's Token values".to_owned()
        }
        AuthScheme::TencentSign => {
            "wrong Tencent key: --tencent-key (LIVEHOOK_TENCENT_KEY) must equal the stack's TencentKey, the callback key set in Tencent's console".to_owned()
        }
        AuthScheme::Signed(proof) => format!(
            "wrong signing secret: --secret (or {}) must be one of the function's secrets, the one set in the platform's console (LiveKit: APIKEY:SECRET)",
            proof.secret_variable
        ),
    }
}

async fn check_all(
    args: &CheckArgs,
    targets: &[Target],
    client: &reqwest::Client,
    inbox: &mut Inbox,
) -> Result<Vec<Outcome>> {
    let mut outcomes = Vec::new();
    for target in targets {
        outcomes.push(check_one(args, target, client, inbox).await?);
    }
    // Anything a resend or a refused delivery published shows up now.
    inbox.settle(Duration::from_secs(args.settle)).await?;
    for (target, outcome) in targets.iter().zip(&mut outcomes) {
        if outcome.resent {
            match inbox.count(&outcome.nonce) {
                1 => outcome.duplicate = "yes".to_owned(),
                0 => {}
                n => {
                    outcome.duplicate = format!("NO ({n} published)");
                    outcome.problems.push(format!(
                        "the resend was published again ({n} messages for one event): the idempotency table is not deduplicating"
                    ));
                }
            }
        }
        if !outcome.wrong_nonce.is_empty() && inbox.count(&outcome.wrong_nonce) > 0 {
            outcome.refused = "NO (published)".to_owned();
            outcome.problems.push(format!(
                "a delivery with a wrong {} was published",
                credential_name(target.provider)
            ));
        }
    }
    Ok(outcomes)
}

async fn check_one(
    args: &CheckArgs,
    target: &Target,
    client: &reqwest::Client,
    inbox: &mut Inbox,
) -> Result<Outcome> {
    let provider = target.provider;
    let name = provider.name();
    let mut outcome = Outcome {
        duplicate: "-".to_owned(),
        refused: "-".to_owned(),
        ..Outcome::default()
    };
    let secret = args.secrets.credential(provider);
    let Some(secret) = secret.as_deref() else {
        outcome.status = "not sent".to_owned();
        outcome.problems.push(match provider.auth_scheme() {
            AuthScheme::QueryToken => "no token: pass --token (or set LIVEHOOK_TOKEN)".to_owned(),
            AuthScheme::TencentSign => {
                "no Tencent key: pass --tencent-key (or set LIVEHOOK_TENCENT_KEY)".to_owned()
            }
            AuthScheme::Signed(proof) => format!(
                "no signing secret: pass --secret (or set {})",
                proof.secret_variable
            ),
        });
        return Ok(outcome);
    };
    // The URL with the credential: the token rides in the query, Tencent's
    // key only signs the body.
    let url_token = (provider.auth_scheme() == AuthScheme::QueryToken).then_some(secret);
    // What signs inside the body where the provider signs there (Tencent's
    // key; a signed platform's secret, for Volcengine's body `sign`).
    let body_key = (provider.auth_scheme() != AuthScheme::QueryToken).then_some(secret);
    let signing = matches!(provider.auth_scheme(), AuthScheme::Signed(_)).then_some(secret);

    outcome.nonce = nonce(name);
    let (event, payload) = provider.synthetic(CHECK_STREAM, &outcome.nonce);
    let payload = serde_json::to_vec(&Value::Object(payload))?;
    let mut url = target_url(&target.url, provider, event, url_token)
        .with_context(|| format!("{name}'s URL"))?;
    url.query_pairs_mut()
        .append_pair(livehook::pipeline::gate::CHECK_PARAMETER, "true");
    let now = OffsetDateTime::now_utc();

    // 1. The event, as the provider sends it.
    let sent = Instant::now();
    let first = providers::prepared_body(provider, &payload, body_key, now, 0);
    match post(client, provider, &url, first, signing).await {
        Ok(status) if status.is_success() => outcome.status = status.as_u16().to_string(),
        Ok(status) => {
            outcome.status = status.as_u16().to_string();
            outcome.problems.push(credential_hint(provider));
            return Ok(outcome);
        }
        Err(e) => {
            outcome.status = "error".to_owned();
            outcome.problems.push(format!(
                "{e}: {}",
                if e.starts_with("5") {
                    "the function could not record the event (its log says why: the table, IAM)"
                } else {
                    "is the function reachable at this URL (deployed, or `make dev` running)?"
                }
            ));
            return Ok(outcome);
        }
    }
    match inbox
        .arrival(&outcome.nonce, Duration::from_secs(args.wait))
        .await?
    {
        Some(at) => outcome.to_topic_ms = Some(at.duration_since(sent).as_millis()),
        None => outcome.problems.push(format!(
            "accepted, but nothing reached the topic within {} s: the relay is not running (locally: `livehook pump`) or publishes to another topic, the topic's policy refuses the check queue, or there is no subscription delivering (check the relay's log, its event source mapping and the topic's subscriptions)",
            args.wait
        )),
    }

    // 2. The provider's retry of the same event.
    if provider.sending().resends {
        outcome.resent = true;
        let retry = providers::prepared_body(provider, &payload, body_key, now, 1);
        match post(client, provider, &url, retry, signing).await {
            Ok(status) if status.is_success() => {}
            Ok(status) => {
                outcome.duplicate = format!("NO ({})", status.as_u16());
                outcome
                    .problems
                    .push(format!("the resend was answered {status}, not 2xx"));
            }
            Err(e) => {
                outcome.duplicate = "NO (error)".to_owned();
                outcome.problems.push(format!("the resend failed: {e}"));
            }
        }
        if outcome.to_topic_ms.is_none() {
            outcome.duplicate = "?".to_owned();
        }
    } else {
        outcome.duplicate = "n/a: never resends".to_owned();
    }

    // 3. A wrong credential.
    outcome.wrong_nonce = nonce(&format!("{name}-wrong"));
    let (event, payload) = provider.synthetic(CHECK_STREAM, &outcome.wrong_nonce);
    let payload = serde_json::to_vec(&Value::Object(payload))?;
    let (wrong_url, wrong_key, wrong_signing) = match provider.auth_scheme() {
        AuthScheme::QueryToken => (Some(WRONG_SECRET), None, None),
        AuthScheme::TencentSign => (None, Some(WRONG_SECRET), None),
        AuthScheme::Signed(_) => (None, Some(WRONG_SECRET), Some(WRONG_SECRET)),
    };
    let mut url = target_url(&target.url, provider, event, wrong_url)?;
    // Marked too: were it ever published, the check's queue would see it.
    url.query_pairs_mut()
        .append_pair(livehook::pipeline::gate::CHECK_PARAMETER, "true");
    let body = providers::prepared_body(provider, &payload, wrong_key, now, 0);
    match post(client, provider, &url, body, wrong_signing).await {
        Ok(StatusCode::UNAUTHORIZED) => outcome.refused = "401".to_owned(),
        Ok(status) => {
            outcome.refused = format!("NO ({})", status.as_u16());
            outcome.problems.push(format!(
                "a wrong {} was answered {status}, not 401: is LIVEHOOK_ALLOW_UNAUTHENTICATED on?",
                credential_name(provider)
            ));
        }
        Err(e) => {
            outcome.refused = "NO (error)".to_owned();
            outcome
                .problems
                .push(format!("the wrong-credential delivery failed: {e}"));
        }
    }
    Ok(outcome)
}

/// What a provider's credential is called in the check's messages.
fn credential_name(provider: &dyn Imitate) -> &'static str {
    match provider.auth_scheme() {
        AuthScheme::QueryToken => "token",
        AuthScheme::TencentSign => "Tencent key",
        AuthScheme::Signed(_) => "signing secret",
    }
}

fn print_table(targets: &[Target], outcomes: &[Outcome]) {
    println!(
        "{:<10} {:<8} {:>13}  {:<20} {:<14} RESULT",
        "PROVIDER", "STATUS", "TO TOPIC (MS)", "DUPLICATE HANDLED", "WRONG CRED."
    );
    for (target, o) in targets.iter().zip(outcomes) {
        println!(
            "{:<10} {:<8} {:>13}  {:<20} {:<14} {}",
            target.provider.name(),
            o.status,
            o.to_topic_ms
                .map_or_else(|| "-".to_owned(), |ms| ms.to_string()),
            o.duplicate,
            o.refused,
            if o.problems.is_empty() { "ok" } else { "FAIL" }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_urls_from_stack_outputs() {
        let outputs = vec![
            ("TopicArn".to_owned(), "arn:aws:sns:…".to_owned()),
            ("LalUrlPrefix".to_owned(), "https://a/lal/".to_owned()),
            ("TencentUrl".to_owned(), "https://a/tencent".to_owned()),
        ];
        assert_eq!(
            url_output(&outputs, "lal").as_deref(),
            Some("https://a/lal/")
        );
        assert_eq!(
            url_output(&outputs, "tencent").as_deref(),
            Some("https://a/tencent")
        );
        assert_eq!(url_output(&outputs, "srs"), None);
    }

    #[test]
    fn nonces_are_unique() {
        assert_ne!(nonce("a"), nonce("a"));
    }

    #[test]
    fn a_refused_platform_is_told_its_own_secret_variable() {
        let hint = credential_hint(&livehook::providers::Volcengine);
        assert!(hint.contains("LIVEHOOK_VOLCENGINE_KEY"), "{hint}");
    }
}
