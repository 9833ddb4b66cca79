//! Provider adapters: one module per provider, all behind [`Provider`].
//!
//! Adding a provider means one new module here implementing [`Provider`]
//! (what the function does) and [`Imitate`] (how tools send like it), one
//! entry in the `registry!` list, one tiny binary in `functions/`; its part of
//! `template.yaml` is generated from the registry (`livehook template`).

use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::auth::Verifier;
use crate::error::Rejection;
use crate::event::{
    CloudEvent, DATA_CONTENT_TYPE, EventData, EventType, SPEC_VERSION, format_time,
};
use crate::inbound::Inbound;

mod agora;
mod alibaba;
mod aodianyun;
mod apiserver;
mod bililive;
mod cloudflare;
pub mod imitate;
mod lal;
mod livekit;
mod mediamtx;
mod mux;
mod nginx;
pub mod settings;
mod signed;
mod srs;
mod tencent;
mod twitch;
mod volcengine;
mod zlmediakit;

pub use agora::Agora;
pub use alibaba::Alibaba;
pub use aodianyun::Aodianyun;
pub use apiserver::ApiServer;
pub use bililive::Bililive;
pub use cloudflare::Cloudflare;
pub use lal::Lal;
pub use livekit::LiveKit;
pub use mediamtx::Mediamtx;
pub use mux::Mux;
pub use nginx::Nginx;
pub use srs::Srs;
pub use tencent::Tencent;
pub use twitch::Twitch;
pub use volcengine::Volcengine;
pub use zlmediakit::Zlmediakit;

pub use settings::{Setting, Settings, Unit};

pub use imitate::{
    Imitate, Sending, Wire, chosen_header_map, hook_of, prepared_body, request_path,
    signed_headers, wire, wire_body,
};
/// Sets Tencent's `t` and `sign = md5(key + t)` (as Tencent's retries re-sign).
pub use tencent::sign as sign_tencent;

/// How a provider proves a delivery is genuine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthScheme {
    /// A shared secret in the `?token=` query parameter (`LIVEHOOK_TOKEN`).
    QueryToken,
    /// Tencent's `sign = md5(key + t)` in the body (`LIVEHOOK_TENCENT_KEY`).
    TencentSign,
    /// A platform that signs its deliveries: the gate checks the proof over
    /// the raw body before the adapter parses it
    /// ([`Proof::secret_variable`](crate::proof::Proof::secret_variable)).
    Signed(&'static crate::proof::Proof),
}

impl AuthScheme {
    /// The secret this scheme checks deliveries against: the variable the
    /// function reads at start-up, and what the deployment asks for.
    pub const fn secret(self) -> SecretSpec {
        match self {
            AuthScheme::QueryToken => SecretSpec {
                variable: "LIVEHOOK_TOKEN",
                about: "Comma-separated tokens accepted as ?token= (several during a rotation)",
                in_url: true,
            },
            AuthScheme::TencentSign => SecretSpec {
                variable: "LIVEHOOK_TENCENT_KEY",
                about: "Tencent Cloud Live callback key (sign = md5(key + t)); use 32 or more \
                    random characters (openssl rand -hex 32)",
                in_url: false,
            },
            AuthScheme::Signed(proof) => SecretSpec {
                variable: proof.secret_variable,
                about: proof.secret_about,
                in_url: false,
            },
        }
    }
}

/// A secret as it is configured (see [`AuthScheme::secret`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretSpec {
    /// The environment variable holding it (comma-separated for rotation).
    pub variable: &'static str,
    /// What it is, for whoever deploys (the template parameter's description).
    pub about: &'static str,
    /// It travels in the senders' URLs (`?token=`): only URL-safe characters.
    pub in_url: bool,
}

/// What a provider's function needs from the stack that deploys it besides
/// what every provider function gets (the table, the topic, the retention
/// and its secret): `livehook template` writes the provider's part of
/// `template.yaml` from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployment {
    /// Where the provider is given its URL (the stack output's description),
    /// e.g. "Tencent Cloud Live console, callback URL".
    pub console: &'static str,
    /// Template parameters the function receives as environment variables:
    /// `(variable, parameter)`. The parameter itself is declared in the
    /// template's hand-written part.
    pub settings: &'static [(&'static str, &'static str)],
    /// The provider's own settings (numbers from the server's
    /// configuration), each with its template parameter, read once at
    /// start-up into [`Settings`] and handed to the adapter with every
    /// request.
    pub own_settings: &'static [Setting],
}

/// The setting of the providers whose reply is admission control: what they
/// answer when DynamoDB fails (`LIVEHOOK_ADMISSION_ON_FAILURE`).
pub const ADMISSION_SETTING: (&str, &str) =
    ("LIVEHOOK_ADMISSION_ON_FAILURE", "AdmissionOnAwsFailure");

/// One provider's webhook dialect, as the functions receive it: everything
/// the production pipeline calls. What only imitates the provider (the CLI,
/// `livehook check`, benchmarks, fuzzers, tests) is [`Imitate`], implemented
/// in the same module.
/// (`RefUnwindSafe`: adapters hold no state, so fuzzers and test harnesses
/// may call them across `catch_unwind`.)
pub trait Provider: Send + Sync + std::panic::RefUnwindSafe + 'static {
    /// The provider's name: the function and binary name, the `source`
    /// suffix and the subject prefix (`tencent`, `lal`, …).
    fn name(&self) -> &'static str;

    /// How deliveries are authenticated; decides which secret is required
    /// at start-up. Most providers use the shared `?token=`.
    fn auth_scheme(&self) -> AuthScheme {
        AuthScheme::QueryToken
    }

    /// Authenticates, parses and normalizes one delivery. Never panics, on
    /// any input.
    fn accept(&self, inbound: &Inbound<'_>, verifier: &Verifier) -> Result<Delivery, Rejection>;

    /// The body of a 200 answer (first delivery and duplicates alike, so a
    /// retry sees exactly what the first delivery saw).
    fn reply(&self, event_id: &str) -> String {
        [r#"{"ok":true,"id":""#, event_id, r#""}"#].concat()
    }

    /// Payload fields derived from a secret, which are never published,
    /// stored or shown (Tencent's `sign`: it covers only `t`, so whoever
    /// reads it could forge callbacks until `t` passes).
    fn secret_fields(&self) -> &'static [&'static str] {
        &[]
    }

    /// Members of the payload's top-level objects that hold a secret,
    /// `(object, member)`, likewise never published, stored or shown
    /// (LiveKit's `room.turnPassword`, Mux's `data.stream_key`).
    fn nested_secret_fields(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    /// The reply that refuses an admission (a publish or play without a
    /// valid stream key): what makes this provider turn its client away.
    fn refusal(&self) -> Refusal {
        Refusal {
            status: 403,
            body: r#"{"error":"stream key refused"}"#,
        }
    }

    /// What its function needs from the deployment (see [`Deployment`]).
    fn deployment(&self) -> Deployment {
        Deployment {
            console: "webhook URL",
            settings: &[],
            own_settings: &[],
        }
    }

    /// What the pipeline must know of how this provider's requests arrive
    /// and what its reply means.
    fn receiving(&self) -> Receiving {
        Receiving::DEFAULT
    }
}

/// A provider's refusal of an admission (see [`Provider::refusal`]): a JSON
/// body with a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: &'static str,
}

/// The settings of a provider whose reply is admission control: what it
/// answers when DynamoDB fails, and which admissions require a stream key.
pub const ADMISSION_SETTINGS: &[(&str, &str)] =
    &[ADMISSION_SETTING, crate::stream_keys::DEPLOYMENT_SETTING];

/// How a provider's requests arrive and what its reply means: the facts
/// the production pipeline (and the route in the template) depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receiving {
    /// The event is named by the last URL path segment (lal's hooks), not
    /// in the body: the route is `/<provider>/{hook}`.
    pub hook_in_path: bool,
    /// The reply is admission control: anything but the success reply
    /// refuses the provider's client (SRS refuses the publish or play).
    pub admission: bool,
    /// The body is `application/x-www-form-urlencoded` (nginx-rtmp): the
    /// gate decodes it into a JSON object (a repeated key becomes an array
    /// of its values) before the adapter parses it, and that object is
    /// `data.raw`. Samples hold the decoded object; tools that imitate the
    /// provider form-encode it ([`wire_body`]).
    pub form_body: bool,
    /// Some deliveries arrive as `GET` with their fields in the query
    /// (Alibaba's stream callbacks): the gate takes `GET` too and hands the
    /// adapter the query as a JSON object (decoded as a form body is),
    /// which is then `data.raw`.
    pub query_on_get: bool,
}

impl Receiving {
    /// Where every provider starts: one route, a JSON body, a reply that
    /// gates nothing. Providers override what differs.
    pub const DEFAULT: Receiving = Receiving {
        hook_in_path: false,
        admission: false,
        form_body: false,
        query_on_get: false,
    };
}

/// Builds the registry from one list of providers: [`ALL`] for the
/// functions and [`ALL_IMITATE`] for the tools, in the same order, so that
/// neither can leave a provider out.
macro_rules! registry {
    ($($provider:expr),+ $(,)?) => {
        const COUNT: usize = [$(stringify!($provider)),+].len();

        /// Every provider, for registries (functions, CLI, benchmarks, tests).
        pub static ALL: [&dyn Provider; COUNT] = [$(&$provider),+];

        /// Every provider's imitation, in the order of [`ALL`] (the CLI,
        /// benchmarks, fuzzers and tests). Nothing in a function refers to
        /// it, so the functions' binaries leave the imitations out.
        pub static ALL_IMITATE: [&dyn Imitate; COUNT] = [$(&$provider),+];
    };
}

registry![
    Tencent, Aodianyun, Bililive, Lal, ApiServer, Srs, Nginx, Zlmediakit, LiveKit, Mux, Twitch,
    Agora, Mediamtx, Cloudflare, Volcengine, Alibaba,
];

/// The route a provider's function serves, as API Gateway writes it:
/// `/<name>/{hook}` when the event is named in the path, else `/<name>`.
pub fn route(provider: &dyn Provider) -> String {
    if provider.receiving().hook_in_path {
        format!("/{}/{{hook}}", provider.name())
    } else {
        format!("/{}", provider.name())
    }
}

/// The media type of a form body.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// The provider of a function name, if there is one.
pub fn by_name(name: &str) -> Option<&'static dyn Provider> {
    ALL.iter().copied().find(|p| p.name() == name)
}

/// An accepted delivery: what to record and what to publish.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The idempotency key of the whole delivery (the DynamoDB `pk`).
    pub key: String,
    /// The events to publish: one, or several when a provider message is
    /// too large for one SNS message and is split (lal `on_update`).
    pub events: Vec<Outgoing>,
    /// The provider's own timestamp of the event, when it has one (the
    /// replay window is checked against it).
    pub provider_time: Option<OffsetDateTime>,
    /// Provider facts kept on the idempotency record for inspection (Aodianyun
    /// `retry_times`, Tencent `sequence`): attribute name and value.
    pub recorded: Vec<(&'static str, Recorded)>,
    /// How long the key holds, for providers whose identical bodies are one
    /// event only within a window (ZLMediaKit resends the same body 3 s
    /// later, but identical keepalives minutes apart are distinct events).
    /// A record older than this is replaced, as a new event, by the next
    /// delivery with the key. `None`: the key holds for the retention.
    pub dedupe_window: Option<std::time::Duration>,
    /// A synthetic delivery of `livehook check` (marked by the CLI on the
    /// authenticated URL; set by the gate, never by an adapter): its events
    /// carry the `livehook_check` attribute.
    pub check: bool,
    /// The answer this delivery itself asks for, instead of
    /// [`Provider::reply`] (Twitch's challenge, echoed as plain text). Built
    /// from the delivery, so a duplicate gets it too.
    pub answer: Option<Answer>,
    /// The admission question it asks (a publish or play the provider
    /// admits by its reply), which `LIVEHOOK_STREAM_KEYS` may require a key
    /// for. Set by the adapters of admission providers.
    pub admission: Option<crate::stream_keys::Admission>,
}

/// A reply a delivery asks for (see [`Delivery::answer`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Its media type.
    pub content_type: &'static str,
    /// Its body.
    pub body: String,
}

/// A provider fact kept on the idempotency record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// A number (DynamoDB `N`).
    Number(i64),
    /// A string (DynamoDB `S`).
    Text(String),
}

impl Delivery {
    /// The canonical type of the delivery (of its first event).
    pub fn event_type(&self) -> EventType {
        self.events
            .first()
            .map_or(EventType::Unrecognized, |o| o.event.event_type)
    }
}

/// One event ready to publish, with the routing facts that are not part of
/// the envelope.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The envelope.
    pub event: CloudEvent,
    /// The stream identity for the `stream` message attribute; `None` when
    /// the event concerns no stream.
    pub stream: Option<String>,
}

/// What an event is about: a stream, or (when no stream) the most specific
/// id the provider gives.
pub(crate) enum Identity {
    Stream(String),
    Other(String),
}

impl Identity {
    /// `<app>/<stream>` (or the stream alone) when the event names a
    /// stream; otherwise the most specific other id `other` finds (it is
    /// given the app), or `unknown`.
    pub(crate) fn of_stream(
        app: Option<String>,
        stream: Option<String>,
        other: impl FnOnce(Option<String>) -> Option<String>,
    ) -> Identity {
        match (app, stream) {
            (Some(app), Some(stream)) => Identity::Stream(stream_path(&app, &stream)),
            (None, Some(stream)) => Identity::Stream(stream),
            (app, None) => Identity::Other(other(app).unwrap_or_else(|| "unknown".to_owned())),
        }
    }
}

/// `<app>/<stream>`, as subjects, stream attributes and stream keys name a
/// stream (joined in place: no formatting machinery on every delivery).
pub(crate) fn stream_path(app: &str, stream: &str) -> String {
    [app, "/", stream].concat()
}

/// A recorded file's extension, lowercase (`/rec/test-1.FLV` → `flv`);
/// `None` without one.
pub(crate) fn file_extension(path: &str) -> Option<String> {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .filter(|ext| !ext.is_empty())
}

/// The parts every adapter fills in; [`EventParts::build`] makes the envelope.
pub(crate) struct EventParts {
    pub provider: &'static str,
    pub key: String,
    pub event_type: EventType,
    pub identity: Identity,
    pub time: Option<OffsetDateTime>,
    pub data: EventData,
}

impl EventParts {
    pub fn build(self, received_at: OffsetDateTime) -> Outgoing {
        let (subject_id, stream) = match self.identity {
            Identity::Stream(s) => (s.clone(), Some(s)),
            Identity::Other(s) => (s, None),
        };
        Outgoing {
            event: CloudEvent {
                specversion: SPEC_VERSION,
                id: self.key,
                source: ["livehook/", self.provider].concat(),
                event_type: self.event_type,
                subject: [self.provider, "/", &subject_id].concat(),
                time: format_time(self.time.unwrap_or(received_at)),
                datacontenttype: DATA_CONTENT_TYPE,
                // Filled by the gate, which knows the configured base (no allocation here).
                dataschema: String::new(),
                data: self.data,
            },
            stream,
        }
    }
}

/// The first step of every token provider, in the contract's order: the
/// `?token=` (401) before the body is even parsed (400).
pub(crate) fn authenticated_body(
    inbound: &Inbound<'_>,
    verifier: &Verifier,
) -> Result<serde_json::Map<String, serde_json::Value>, Rejection> {
    verifier.check_token(inbound.query_values("token"))?;
    crate::json::parse_object(inbound.body)
}

/// The first step of a token provider that names the event in the path
/// (lal, ZLMediaKit): the `?token=` (401), the body (400), then the hook
/// (400; see [`hook_in_path`]).
pub(crate) fn authenticated_hook_body<'a>(
    inbound: &Inbound<'a>,
    verifier: &Verifier,
) -> Result<(&'a str, serde_json::Map<String, serde_json::Value>), Rejection> {
    let body = authenticated_body(inbound, verifier)?;
    Ok((hook_in_path(inbound)?, body))
}

/// The hook named by the last URL path segment (lal, ZLMediaKit), or a 400
/// when it cannot be one: hook names are path segments the provider's
/// config gives (letters, digits, `_`, `-`), and a path with a `.` or `..`
/// segment (plain or percent-encoded) is a traversal attempt, never a URL a
/// provider's config produces.
pub(crate) fn hook_in_path<'a>(inbound: &Inbound<'a>) -> Result<&'a str, Rejection> {
    let hook = inbound.last_path_segment();
    let is_hook_name = !hook.is_empty()
        && hook.len() <= 64
        && hook
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let has_dot_segment = inbound.path.split('/').any(is_dot_segment);
    if !is_hook_name || has_dot_segment {
        return Err(Rejection::malformed("invalid hook name in the URL path"));
    }
    Ok(hook)
}

/// Whether a path segment is `.` or `..`, each dot plain or percent-encoded
/// (`%2e`, any case); read in place, without decoding a copy.
fn is_dot_segment(segment: &str) -> bool {
    let mut rest = segment.as_bytes();
    let mut dots = 0;
    while !rest.is_empty() {
        rest = match rest {
            [b'.', tail @ ..] => tail,
            [b'%', b'2', e, tail @ ..] if e.eq_ignore_ascii_case(&b'e') => tail,
            _ => return false,
        };
        dots += 1;
    }
    dots == 1 || dots == 2
}

/// The body as a raw JSON value (kept verbatim in `data.raw`), or a 400.
pub(crate) fn raw_json(body: &[u8]) -> Result<Box<RawValue>, Rejection> {
    serde_json::from_slice::<&RawValue>(body)
        .map(RawValue::to_owned)
        .map_err(|_| Rejection::malformed("body is not JSON"))
}

/// Removes from a recorded envelope's `data.raw` the fields its provider
/// never publishes ([`Provider::secret_fields`]), so that records written by
/// versions that kept them are neither shown nor re-published with them.
/// Returns whether anything was removed.
pub fn scrub_envelope(envelope: &mut serde_json::Value) -> bool {
    let provider = envelope
        .get("source")
        .and_then(serde_json::Value::as_str)
        .and_then(|source| source.strip_prefix("livehook/"))
        .and_then(by_name);
    let Some(provider) = provider else {
        return false;
    };
    let Some(raw) = envelope
        .pointer_mut("/data/raw")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return false;
    };
    let mut removed = false;
    for field in provider.secret_fields() {
        removed |= raw.remove(*field).is_some();
    }
    for (object, field) in provider.nested_secret_fields() {
        if let Some(inner) = raw
            .get_mut(*object)
            .and_then(serde_json::Value::as_object_mut)
        {
            removed |= inner.remove(*field).is_some();
        }
    }
    removed
}

/// The object of a `json!({…})` literal.
pub(crate) fn into_map(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

/// A delivery of one event: how most adapters end. `key` is both the
/// delivery's key and the event's id; `time` is the provider's own time of
/// the event (the receive time when `None`).
pub(crate) fn single(
    provider: &'static str,
    inbound: &Inbound<'_>,
    key: String,
    event_type: EventType,
    identity: Identity,
    time: Option<OffsetDateTime>,
    data: EventData,
) -> Delivery {
    let parts = EventParts {
        provider,
        key,
        event_type,
        identity,
        time,
        data,
    };
    Delivery {
        key: parts.key.clone(),
        events: vec![parts.build(inbound.received_at)],
        provider_time: time,
        recorded: Vec::new(),
        dedupe_window: None,
        check: false,
        answer: None,
        admission: None,
    }
}

/// `delivery` keyed for `window` only ([`Delivery::dedupe_window`]): its
/// events' ids are the key and 16 hex digits of this invocation, so that an
/// event replacing a lapsed record has an id of its own
/// ([`crate::record::record_key`] still finds the record).
pub(crate) fn windowed(
    mut delivery: Delivery,
    provider: &'static str,
    inbound: &Inbound<'_>,
    window: std::time::Duration,
) -> Delivery {
    let invocation = crate::key::derive(
        provider,
        &[delivery.key.as_bytes(), inbound.request_id.as_bytes()],
    );
    for outgoing in &mut delivery.events {
        outgoing.event.id = [delivery.key.as_str(), "-", &invocation[..16]].concat();
    }
    delivery.dedupe_window = Some(window);
    delivery
}

/// The key of a provider that never resends (lal, SRS, nginx-rtmp, some
/// ZLMediaKit hooks): every delivery is its own event, so the key is the
/// invocation's request id (two identical bodies are two events; an SDK
/// retry within one invocation is one).
pub(crate) fn per_delivery_key(provider: &'static str, inbound: &Inbound<'_>) -> String {
    crate::key::derive(provider, &[inbound.request_id.as_bytes()])
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
