//! Imitating a provider: how it sends its webhooks, what it does to a
//! payload before each delivery, and a synthetic delivery of its own. Only
//! the tools use it (the CLI, `livehook check`, benchmarks, fuzzers,
//! scripts, tests); each provider implements [`Imitate`] in its own module,
//! beside its [`Provider`].

use time::OffsetDateTime;

use super::{ALL_IMITATE, FORM_CONTENT_TYPE, Provider, route};

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
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (name, value) in &fields {
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
    (FORM_CONTENT_TYPE, form.finish().into_bytes())
}

fn form_value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
