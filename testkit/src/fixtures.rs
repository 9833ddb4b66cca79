//! Sample deliveries: the samples folder, fresh timestamps, the requests a
//! provider would send and what its adapter makes of them.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::samples::{self, Sample};
use crate::{
    Delivery, HOST, SIGNING_SECRET, Stack, TENCENT_KEY, TOKEN, as_invocation, provider_named,
    request, with_headers,
};
use lambda_http::Request;

/// Now, in Unix seconds.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Now, in Unix milliseconds.
pub fn unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A valid Tencent `t`: ten minutes from now.
pub fn fresh_t() -> i64 {
    unix_now() + 600
}

/// The samples folder: `$LIVEHOOK_EVENTS_DIR`, else the workspace's `events/`.
pub fn events_dir() -> PathBuf {
    std::env::var_os("LIVEHOOK_EVENTS_DIR").map_or_else(samples::events_dir, PathBuf::from)
}

/// Every sample of [`events_dir`] (all providers; `events/apigw` and
/// non-JSON files skipped). Panics when there is none.
pub fn samples() -> Vec<Sample> {
    let dir = events_dir();
    let samples = samples::load_dir(&dir)
        .unwrap_or_else(|e| panic!("reading samples from {}: {e}", dir.display()));
    assert!(!samples.is_empty(), "no samples under {}", dir.display());
    samples
}

/// The sample `events/<provider>/<event>.json`.
pub fn sample(provider: &str, event: &str) -> Sample {
    samples()
        .into_iter()
        .find(|s| s.provider == provider && s.event == event)
        .unwrap_or_else(|| panic!("no sample events/{provider}/{event}.json"))
}

/// The body a provider would send for `sample` (Tencent's signed with
/// `t`, Volcengine's with [`SIGNING_SECRET`] and expiry `t`).
pub fn sample_body(sample: &Sample, t: i64) -> Vec<u8> {
    sample.body_signed_with(TENCENT_KEY, SIGNING_SECRET, t)
}

/// The request a provider would send with `body` (a signed platform's
/// signed now with [`SIGNING_SECRET`]): a `POST`, or a `GET` with the
/// fields in the query where the provider sends `body` so.
pub fn sample_request(sample: &Sample, body: &[u8]) -> Request {
    let wire = sample.wire(body);
    let mut query = sample.query(TOKEN);
    let (method, body) = if wire.method == "GET" {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&wire.query);
        ("GET", &[][..])
    } else {
        // As the tests always sent it (a JSON body even for nginx's form).
        ("POST", body)
    };
    let proof = sample.proof_headers(body, SIGNING_SECRET, time_now(), wire.target(HOST));
    with_headers(request(method, &sample.path(), &query, body), proof)
}

/// The same as invocation `request_id` (see [`adapter_view_as`]).
pub fn sample_request_as(sample: &Sample, body: &[u8], request_id: &str) -> Request {
    as_invocation(sample_request(sample, body), request_id)
}

/// What the provider's adapter makes of `body` (the expected id, type and
/// stream of a delivery), computed without AWS. For providers that key
/// every delivery apart (lal, SRS) use [`adapter_view_as`].
pub fn adapter_view(stack: &Stack, sample: &Sample, body: &[u8]) -> Delivery {
    adapter_view_as(stack, sample, body, "adapter-view")
}

/// The same for invocation `request_id`.
pub fn adapter_view_as(stack: &Stack, sample: &Sample, body: &[u8], request_id: &str) -> Delivery {
    let provider = provider_named(&sample.provider);
    let config = stack.config(provider, &[]);
    // What a signed platform chooses before signing (Twitch's message id).
    let headers = livehook::providers::chosen_header_map(provider, body);
    let path = sample.path();
    let query = sample.query(TOKEN);
    let inbound = livehook::inbound::Inbound {
        path: &path,
        query: &query,
        headers: &headers,
        body,
        received_at: time_now(),
        request_id,
        max_message_bytes: config.max_message_bytes,
        settings: &config.settings,
    };
    provider
        .accept(&inbound, &config.verifier)
        .unwrap_or_else(|e| {
            panic!(
                "{}/{}: adapter refused the sample: {e}",
                sample.provider, sample.event
            )
        })
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}
