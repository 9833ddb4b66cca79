//! Imitating a provider: how it sends its webhooks, what it does to a
//! payload before each delivery, and a synthetic delivery of its own. Only
//! the tools use it (the CLI, `livehook check`, benchmarks, fuzzers,
//! scripts, tests); each provider implements [`Imitate`] in its own module,
//! beside its [`Provider`].

use time::OffsetDateTime;

use super::{ALL_IMITATE, FORM_CONTENT_TYPE, Provider, route};
use crate::proof::Target;

pub(crate) mod stamp;

/// How tools send like a provider, beyond what its function must know
/// ([`Provider::receiving`]).
pub trait Imitate: Provider {
    /// How this provider sends: retries and headers. Everything that
    /// imitates the provider reads it here, never from a list of its own.
    fn sending(&self) -> Sending;

    /// Makes a payload ready to deliver, as the provider itself would send
    /// it: timestamps refreshed to `now` (so the replay window admits it)
    /// and, where the provider signs, signed with `secret`. `attempt` is 0
    /// for the first delivery and `n` for the provider's `n`-th retry of the
    /// same event; `now` stays the first delivery's time for its retries
    /// (Aodianyun counts `retry_times`, Tencent re-signs with the later `t`
    /// its retry schedule gives). Payloads that are not JSON objects are
    /// left as they are (see [`prepared_body`]).
    fn prepare(
        &self,
        body: &mut serde_json::Map<String, serde_json::Value>,
        secret: Option<&str>,
        now: OffsetDateTime,
        attempt: u32,
    ) {
        let _ = (body, secret, now, attempt);
    }

    /// The headers the provider chooses for a delivery of `body` (the bytes
    /// on the wire) before it signs it, since its proof may cover them
    /// (Twitch's message id and type). A resend of the same event gets the
    /// same ones. Most providers choose none.
    fn headers_before_signing(&self, body: &[u8]) -> Vec<(String, String)> {
        let _ = body;
        Vec::new()
    }

    /// Whether the provider sends `body` as a `GET` with its fields in the
    /// query instead of `POST`ing it (only a provider whose function takes
    /// such requests, [`super::Receiving::query_on_get`]: Alibaba's stream
    /// callbacks). Tools put it on the wire with [`wire`].
    fn sends_as_query(&self, body: &serde_json::Map<String, serde_json::Value>) -> bool {
        let _ = body;
        false
    }

    /// Which of its proof's schemes (an index into
    /// [`crate::proof::Proof::schemes`]) the provider proves `body` with:
    /// the first, unless it proves different deliveries differently.
    fn signing_scheme(&self, body: &[u8]) -> usize {
        let _ = body;
        0
    }

    /// A well-formed delivery about `stream` (synthetic, for `livehook
    /// check`): the event name (for providers that name the event in the
    /// path, the hook) and the payload, before [`Imitate::prepare`].
    /// `nonce` goes into the fields that identify the event, so that each
    /// call is a new event and its resends are duplicates of it.
    fn synthetic(
        &self,
        stream: &str,
        nonce: &str,
    ) -> (&'static str, serde_json::Map<String, serde_json::Value>);
}

/// How a provider delivers its webhooks, beyond [`super::Receiving`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sending {
    /// Whether the provider resends an unanswered or refused delivery (so
    /// its retries must be deduplicated). `false`: every delivery is a new
    /// event, keyed per delivery.
    pub resends: bool,
    /// The documented delays before each retry, in seconds (empty when the
    /// provider does not document them or never resends).
    pub retry_delays_seconds: &'static [u64],
    /// The `User-Agent` the provider's client sends (`None` when unknown).
    pub user_agent: Option<&'static str>,
    /// Other headers it sends (`Accept-Encoding: gzip` from Go's client).
    pub headers: &'static [(&'static str, &'static str)],
}

impl Sending {
    /// Where every provider starts: refused deliveries resent (on an
    /// undocumented schedule), no known client headers. Providers override
    /// what differs.
    pub const DEFAULT: Sending = Sending {
        resends: true,
        retry_delays_seconds: &[],
        user_agent: None,
        headers: &[],
    };
}

/// The imitation of `provider` (every provider in the registry has one).
pub fn of(provider: &dyn Provider) -> Option<&'static dyn Imitate> {
    ALL_IMITATE
        .iter()
        .copied()
        .find(|p| p.name() == provider.name())
}

/// The imitation of the provider named `name`, if there is one.
pub fn by_name(name: &str) -> Option<&'static dyn Imitate> {
    ALL_IMITATE.iter().copied().find(|p| p.name() == name)
}

/// The provider's own name of a sample event: the part before the first
/// `.` (sample variants such as `on_update.large` go to their hook).
pub fn hook_of(event: &str) -> &str {
    event.split('.').next().unwrap_or(event)
}

/// The path the provider POSTs `event` to: `/<name>/<hook>` when the event
/// is named in the path, else `/<name>`.
pub fn request_path(provider: &dyn Provider, event: &str) -> String {
    route(provider).replace("{hook}", hook_of(event))
}

/// `body` as the provider would deliver it at `now` on attempt `attempt`
/// (see [`Imitate::prepare`]). A body [`Imitate::prepare`] leaves as it is
/// (lal's, or one that is not a JSON object) is returned byte for byte.
pub fn prepared_body(
    provider: &dyn Imitate,
    body: &[u8],
    secret: Option<&str>,
    now: OffsetDateTime,
    attempt: u32,
) -> Vec<u8> {
    let Ok(serde_json::Value::Object(original)) = serde_json::from_slice(body) else {
        return body.to_vec();
    };
    let mut map = original.clone();
    provider.prepare(&mut map, secret, now, attempt);
    if map == original {
        return body.to_vec();
    }
    serde_json::to_vec(&map).unwrap_or_else(|_| body.to_vec())
}

/// The headers `provider` sends with `body` (the exact bytes on the wire,
/// after [`wire_body`]) when it signs it with `secret` at `signed_at`,
/// calling `target` (a host, or [`Wire::target`] for a delivery that has a
/// query): those it chooses first ([`Imitate::headers_before_signing`]),
/// then its proof ([`crate::proof::sign`]). Only the first for a provider
/// that does not sign in headers, or without a secret.
pub fn signed_headers<'a>(
    provider: &dyn Imitate,
    body: &[u8],
    secret: Option<&str>,
    signed_at: OffsetDateTime,
    target: impl Into<Target<'a>>,
) -> Vec<(String, String)> {
    let mut headers = provider.headers_before_signing(body);
    if let (super::AuthScheme::Signed(proof), Some(secret)) = (provider.auth_scheme(), secret) {
        let scheme = provider.signing_scheme(body);
        crate::proof::sign_with(proof, scheme, secret, body, signed_at, target, &mut headers);
    }
    headers
}

/// A delivery as a provider puts it on the wire (see [`wire`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wire {
    /// `POST`, or `GET` for a delivery whose fields are its query.
    pub method: &'static str,
    /// The body's media type (`None` for a `GET`, which has no body).
    pub content_type: Option<&'static str>,
    /// The fields sent in the query, form-encoded (empty for a `POST`):
    /// to be joined to whatever query the URL already has.
    pub query: String,
    /// The body bytes (empty for a `GET`).
    pub body: Vec<u8>,
}

impl Wire {
    /// What a proof of this delivery may cover when it is sent to `host`:
    /// the host and this delivery's query. (A URL's own query, a token, is
    /// never signed by a platform.)
    pub fn target<'a>(&'a self, host: &'a str) -> Target<'a> {
        Target {
            host,
            query: &self.query,
        }
    }
}

/// `body` (a JSON object, as samples and [`prepared_body`] hold it) as the
/// provider sends it: a `GET` with the fields in the query where it sends
/// this body so ([`Imitate::sends_as_query`]), else a `POST` of
/// [`wire_body`].
pub fn wire(provider: &dyn Imitate, body: &[u8]) -> Wire {
    if let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice(body)
        && provider.sends_as_query(&fields)
    {
        return Wire {
            method: "GET",
            content_type: None,
            query: form_encode(&fields),
            body: Vec::new(),
        };
    }
    let (content_type, body) = wire_body(provider, body);
    Wire {
        method: "POST",
        content_type: Some(content_type),
        query: String::new(),
        body,
    }
}

/// The headers a provider chooses for `body` before signing
/// ([`Imitate::headers_before_signing`]) as a request's header map: what
/// tools that hand a sample straight to an adapter (whose proof the gate
/// would have checked) give it. Empty for a provider that is not
/// registered.
pub fn chosen_header_map(provider: &dyn Provider, body: &[u8]) -> lambda_http::http::HeaderMap {
    use lambda_http::http::{HeaderName, HeaderValue};
    let mut map = lambda_http::http::HeaderMap::new();
    for (name, value) in of(provider).map_or_else(Vec::new, |p| p.headers_before_signing(body)) {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            map.insert(name, value);
        }
    }
    map
}

/// The media type and bytes of `body` (a JSON object, as samples and
/// [`prepared_body`] hold it) on the wire: form-encoded for a provider that
/// sends forms ([`super::Receiving::form_body`]: each field once, an array
/// as the key repeated, other values as their JSON text), else JSON as it
/// is.
pub fn wire_body(provider: &dyn Provider, body: &[u8]) -> (&'static str, Vec<u8>) {
    const JSON: &str = "application/json";
    if !provider.receiving().form_body {
        return (JSON, body.to_vec());
    }
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice(body) else {
        return (JSON, body.to_vec());
    };
    (FORM_CONTENT_TYPE, form_encode(&fields).into_bytes())
}

/// The fields form-encoded: each field once, an array as the key repeated,
/// other values as their JSON text.
fn form_encode(fields: &serde_json::Map<String, serde_json::Value>) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (name, value) in fields {
        match value {
            serde_json::Value::Array(values) => {
                for v in values {
                    form.append_pair(name, &form_value(v));
                }
            }
            other => {
                form.append_pair(name, &form_value(other));
            }
        }
    }
    form.finish()
}

fn form_value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
