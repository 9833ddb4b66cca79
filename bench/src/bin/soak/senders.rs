//! The senders: every provider of the registry delivering its synthetic
//! events, each retrying as the provider itself does (its documented
//! delays, compressed in time; never, for those that never resend).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use livehook::providers::{
    ALL_IMITATE, AuthScheme, Imitate, Provider, prepared_body, request_path, signed_headers, wire,
};
use livehook_testkit::{LivePipeline, TENCENT_KEY, TOKEN, apigw_event, as_invocation, handle};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::sync::Semaphore;

/// The signing secret of every signed platform in the run (LiveKit reads an
/// API key and its secret; the others the whole text as their secret).
pub const SIGNING_SECRET: &str = "APIsoak:soak-signing-secret-0123456789abcdef";

/// The host the signed platforms' proofs cover (the API's, as API Gateway
/// passes it on).
const HOST: &str = "abc123.execute-api.us-east-1.amazonaws.com";

/// A provider that resends but does not document when (BililiveRecorder:
/// "up to 3 tries"): three quick tries, a second apart.
const UNDOCUMENTED_DELAYS_SECONDS: &[u64] = &[1, 1];

/// The marker every delivery carries in the fields that identify its event
/// (and as its stream): `soak000123z` for delivery 123.
pub fn nonce(n: usize) -> String {
    format!("soak{n:06}z")
}

/// The delivery whose nonce `text` holds (the first one it holds).
pub fn delivery_in(text: &str) -> Option<usize> {
    let mut rest = text;
    while let Some(at) = rest.find("soak") {
        let tail = &rest[at + 4..];
        let digits = tail.as_bytes().get(..6)?;
        if digits.iter().all(u8::is_ascii_digit) && tail.as_bytes().get(6) == Some(&b'z') {
            return std::str::from_utf8(digits).ok()?.parse().ok();
        }
        rest = tail;
    }
    None
}

/// What became of one delivery.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The provider.
    pub provider: &'static str,
    /// Each attempt's HTTP status, in order.
    pub statuses: Vec<u16>,
}

impl Outcome {
    /// Whether an attempt was answered 200 (the provider stops there).
    pub fn accepted(&self) -> bool {
        self.statuses.contains(&200)
    }
}

/// The delays before each retry of `provider`, in seconds.
fn retry_delays(provider: &dyn Imitate) -> &'static [u64] {
    let sending = provider.sending();
    match (sending.resends, sending.retry_delays_seconds) {
        (false, _) => &[],
        (true, []) => UNDOCUMENTED_DELAYS_SECONDS,
        (true, delays) => delays,
    }
}

/// The provider of delivery `n`: every provider in turn.
pub fn provider_of(n: usize) -> &'static dyn Imitate {
    ALL_IMITATE[n % ALL_IMITATE.len()]
}

/// The secret `provider` proves its deliveries with, if any.
pub fn secret_of(provider: &dyn Provider) -> Option<&'static str> {
    match provider.auth_scheme() {
        AuthScheme::TencentSign => Some(TENCENT_KEY),
        AuthScheme::Signed(_) => Some(SIGNING_SECRET),
        AuthScheme::QueryToken => None,
    }
}

/// Sends deliveries `0..count`, at most `concurrency` first attempts in
/// flight; retries wait `time_scale` × the provider's delay without holding
/// a slot, then take one of their own `concurrency` slots. (Tokio's
/// semaphore is first come, first served: sharing the first attempts' slots,
/// a retry waited behind every delivery not yet begun, minutes into a
/// 10,000 run, past ZLMediaKit's one-minute window, and was published as a
/// new event, as a retry that late really is.) `started` counts the
/// deliveries whose first attempt has begun.
pub async fn send_all(
    pipelines: Arc<HashMap<&'static str, LivePipeline>>,
    count: usize,
    concurrency: usize,
    time_scale: f64,
    started: Arc<AtomicUsize>,
) -> Vec<Outcome> {
    let slots = Arc::new(Slots {
        first: Semaphore::new(concurrency.max(1)),
        retries: Semaphore::new(concurrency.max(1)),
    });
    let mut tasks = Vec::with_capacity(count);
    for n in 0..count {
        let (pipelines, slots, started) = (pipelines.clone(), slots.clone(), started.clone());
        tasks.push(tokio::spawn(async move {
            deliver(&pipelines, &slots, n, time_scale, &started).await
        }));
    }
    let mut outcomes = Vec::with_capacity(count);
    for task in tasks {
        outcomes.push(task.await.expect("a sender task"));
    }
    outcomes
}

/// Requests in flight: first attempts, and retries apart.
struct Slots {
    first: Semaphore,
    retries: Semaphore,
}

async fn deliver(
    pipelines: &HashMap<&'static str, LivePipeline>,
    slots: &Slots,
    n: usize,
    time_scale: f64,
    started: &AtomicUsize,
) -> Outcome {
    let provider = provider_of(n);
    let pipeline = &pipelines[provider.name()];
    let nonce = nonce(n);
    let (name, body) = provider.synthetic(&nonce, &nonce);
    let body = serde_json::to_vec(&Value::Object(body)).expect("JSON");
    let secret = secret_of(provider);
    let delays = retry_delays(provider);
    let mut statuses = Vec::new();
    // When the first attempt went out (the time a sender's retries keep).
    let mut first_sent = None;
    for attempt in 0..=delays.len() {
        if attempt > 0 {
            let delay = delays[attempt - 1] as f64 * time_scale;
            tokio::time::sleep(Duration::from_secs_f64(delay)).await;
        }
        let pool = if attempt == 0 {
            &slots.first
        } else {
            &slots.retries
        };
        let slot = pool.acquire().await.expect("the semaphore is never closed");
        if attempt == 0 {
            started.fetch_add(1, Ordering::SeqCst);
        }
        let sent = *first_sent.get_or_insert_with(OffsetDateTime::now_utc);
        let attempt_number = u32::try_from(attempt).unwrap_or(u32::MAX);
        let prepared = prepared_body(provider, &body, secret, sent, attempt_number);
        let request = request(provider, name, &prepared, &format!("{nonce}-{attempt}"));
        let status = handle(pipeline, request).await.status;
        drop(slot);
        statuses.push(status);
        if status == 200 {
            break;
        }
    }
    Outcome {
        provider: provider.name(),
        statuses,
    }
}

/// The API Gateway request of one attempt, as the provider sends it (path,
/// query token, media type, client headers), as Lambda invocation `id`.
fn request(provider: &dyn Imitate, event: &str, body: &[u8], id: &str) -> lambda_http::Request {
    // A POST of the body (a form for nginx), or a GET with the fields in the
    // query (Alibaba's stream callbacks).
    let on_wire = wire(provider, body);
    let sending = provider.sending();
    let mut query = match provider.auth_scheme() {
        AuthScheme::QueryToken => format!("token={TOKEN}"),
        AuthScheme::TencentSign | AuthScheme::Signed(_) => String::new(),
    };
    if !on_wire.query.is_empty() {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&on_wire.query);
    }
    let mut headers: Vec<(String, String)> = sending
        .headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), (*value).to_owned()))
        .collect();
    // A signed platform's proof over the bytes sent, signed now (a resend is
    // signed anew; Twitch keeps its message id).
    headers.extend(signed_headers(
        provider,
        &on_wire.body,
        secret_of(provider).filter(|_| matches!(provider.auth_scheme(), AuthScheme::Signed(_))),
        OffsetDateTime::now_utc(),
        on_wire.target(HOST),
    ));
    let path = request_path(provider, event);
    let mut event = apigw_event(on_wire.method, &path, &query, &on_wire.body);
    let user_agent = sending.user_agent.unwrap_or("");
    match on_wire.content_type {
        Some(content_type) => event["headers"]["content-type"] = json!(content_type),
        None => {
            event["headers"]
                .as_object_mut()
                .map(|h| h.remove("content-type"));
        }
    }
    event["headers"]["user-agent"] = json!(user_agent);
    event["requestContext"]["http"]["userAgent"] = json!(user_agent);
    event["requestContext"]["requestId"] = json!(id);
    for (name, value) in headers {
        event["headers"][name.to_ascii_lowercase()] = json!(value);
    }
    let request = lambda_http::request::from_str(&event.to_string()).expect("an API Gateway event");
    as_invocation(request, id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_found_where_it_is_embedded() {
        let text = format!(
            r#"{{"id":"x","subject":"lal/live/{}","soak12":1}}"#,
            nonce(42)
        );
        assert_eq!(delivery_in(&text), Some(42));
        assert_eq!(delivery_in("soak12345 soak000007z"), Some(7));
        assert_eq!(delivery_in("soak000007"), None);
    }
}
