//! Test support: deliver a body to an adapter as a request would, with a
//! fixed clock and known secrets.

use lambda_http::http::HeaderMap;
use serde_json::Value;
use time::OffsetDateTime;

use super::{Delivery, Provider};
use crate::auth::{Secret, TokenSet, Verifier};
use crate::error::Rejection;
use crate::inbound::Inbound;

pub const TOKEN: &str = "test-token";
pub const OLD_TOKEN: &str = "old-token";
pub const TENCENT_KEY: &str = "test-tencent-key";

/// 2026-01-01T00:00:00Z: the receive time of every test delivery.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub fn verifier() -> Verifier {
    Verifier {
        tokens: TokenSet::parse(&format!("{OLD_TOKEN},{TOKEN}")),
        tencent_key: Some(Secret::new(TENCENT_KEY)),
        allow_unauthenticated: false,
        ..Verifier::default()
    }
}

/// Delivers `body` to `provider` at `path?query`, as a new invocation.
pub fn deliver(
    provider: &dyn Provider,
    path: &str,
    query: &str,
    body: &[u8],
) -> Result<Delivery, Rejection> {
    deliver_as(provider, path, query, body, &crate::key::fresh(), 262_144)
}

/// The same by invocation `request_id`, on a topic of `max_message_bytes`.
pub fn deliver_as(
    provider: &dyn Provider,
    path: &str,
    query: &str,
    body: &[u8],
    request_id: &str,
    max_message_bytes: usize,
) -> Result<Delivery, Rejection> {
    let headers = HeaderMap::new();
    let inbound = Inbound {
        path,
        query,
        headers: &headers,
        body,
        received_at: now(),
        request_id,
        max_message_bytes,
        settings: &crate::providers::settings::DEFAULTS,
    };
    provider.accept(&inbound, &verifier())
}

/// A Tencent body re-signed with `t` (as Tencent's retries are).
pub fn resign_tencent(body: &Value, t: i64) -> Vec<u8> {
    let mut body = body.clone();
    if let Some(map) = body.as_object_mut() {
        super::sign_tencent(map, &Secret::new(TENCENT_KEY), t);
    }
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The valid `t` of a test delivery: ten minutes after [`now`].
pub fn fresh_t() -> i64 {
    now().unix_timestamp() + 600
}

/// The signing secrets of the signed-platform tests: two, for rotation.
/// `KEY:SECRET` pairs, so that LiveKit reads them as API keys and the
/// others as plain secrets.
pub const SIGNING: [&str; 2] = ["key-old:signing-old", "key-new:signing-new"];

/// A secret no test function holds.
pub const WRONG_SIGNING: &str = "key-new:signing-wrong";

/// The host the signed-platform tests are called at.
pub const HOST: &str = "hooks.example.com";

/// The headers with which a signed platform would send `body` at
/// `signed_at` with `secret`, after `first` (headers chosen before signing).
pub fn signed_headers(
    provider: &dyn Provider,
    secret: &str,
    body: &[u8],
    signed_at: OffsetDateTime,
    first: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = first
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    if let super::AuthScheme::Signed(proof) = provider.auth_scheme() {
        crate::proof::sign(proof, secret, body, signed_at, HOST, &mut headers);
    }
    headers
}

/// The committed sample `events/<provider>/<name>.json`: the body as the
/// platform sends it (the file's final newline is not part of it).
pub fn sample(provider: &dyn Provider, name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../events/{}/{name}.json",
        env!("CARGO_MANIFEST_DIR"),
        provider.name()
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.trim_end().as_bytes().to_vec()
}

/// `body` POSTed to the provider's route, signed as the platform signs it
/// with the first of [`SIGNING`] at the test clock, through the whole gate
/// ([`deliver_signed`]).
pub fn deliver_signed_body(
    provider: &'static dyn Provider,
    body: &[u8],
) -> Result<Delivery, Rejection> {
    let headers = signed_headers(provider, SIGNING[0], body, now(), &[]);
    deliver_signed(provider, "POST", &super::route(provider), &headers, body)
}

/// Delivers a request through the whole gate (proof, adapter, replay
/// window off, redaction) at the test clock, with [`SIGNING`] configured.
pub fn deliver_signed(
    provider: &'static dyn Provider,
    method: &str,
    path_and_query: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Delivery, Rejection> {
    use crate::pipeline::gate::{Gate, Limits};
    let verifier = Verifier {
        signing: crate::proof::SigningSecrets::parse(&SIGNING.join(",")),
        ..verifier()
    };
    let gate = Gate::new(
        provider,
        verifier,
        Limits {
            max_body_bytes: 1 << 20,
            retention: std::time::Duration::from_secs(7 * 86_400),
            // Off: samples keep their documents' dates; the proof's own
            // tolerance is what these tests exercise.
            replay_window: std::time::Duration::ZERO,
            max_message_bytes: 262_144,
        },
    );
    let mut request = lambda_http::http::Request::builder()
        .method(method)
        .uri(format!("https://{HOST}{path_and_query}"))
        .header("host", HOST);
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let request = request
        .body(lambda_http::Body::from(body.to_vec()))
        .map_err(|e| Rejection::malformed(e.to_string()))?;
    gate.admit(&request, now(), "r")
}

/// The rules every signed platform keeps, on one valid delivery (`body`,
/// sent after `first` headers) and one of a type this version does not
/// know: valid with either secret of the list; a resend re-signed later
/// is the same event; a body changed after signing, a wrong secret and a
/// stale signature are 401; the unknown type is published; no secret is
/// in any published byte.
pub fn signed_platform_contract(
    provider: &'static dyn Provider,
    path: &str,
    first: &[(&str, &str)],
    body: &[u8],
    unknown: &[u8],
) {
    use crate::error::AuthFailure;
    let name = provider.name();
    let send = |secret: &str, body: &[u8], at: OffsetDateTime| {
        let headers = signed_headers(provider, secret, body, at, first);
        deliver_signed(provider, "POST", path, &headers, body)
    };
    let first_delivery = send(SIGNING[0], body, now()).unwrap_or_else(|r| panic!("{name}: {r:?}"));
    let rotated = send(SIGNING[1], body, now()).unwrap_or_else(|r| panic!("{name}: {r:?}"));
    let resent = send(SIGNING[1], body, now() - time::Duration::seconds(20))
        .unwrap_or_else(|r| panic!("{name}: {r:?}"));
    assert_eq!(first_delivery.key, rotated.key, "{name}");
    assert_eq!(
        first_delivery.key, resent.key,
        "{name}: a resend is the same event"
    );
    assert_ne!(
        first_delivery.event_type(),
        crate::event::EventType::Unrecognized,
        "{name}"
    );

    let headers = signed_headers(provider, SIGNING[0], body, now(), first);
    let mut tampered = body.to_vec();
    let end = tampered
        .iter()
        .rposition(|&b| b == b'}')
        .unwrap_or(tampered.len());
    tampered.splice(end..end, *b",\"x\":1");
    assert!(
        matches!(
            deliver_signed(provider, "POST", path, &headers, &tampered),
            Err(Rejection::Unauthenticated(_))
        ),
        "{name}: a body changed after signing"
    );
    assert!(
        matches!(
            send(WRONG_SIGNING, body, now()),
            Err(Rejection::Unauthenticated(AuthFailure::BadSignature))
        ),
        "{name}: a wrong secret"
    );
    // Only where a time is signed (Agora signs none: its replay window decides).
    if signs_a_time(provider) {
        assert!(
            matches!(
                send(SIGNING[0], body, now() - time::Duration::hours(1)),
                Err(Rejection::Unauthenticated(AuthFailure::Expired))
            ),
            "{name}: a stale signature"
        );
    }
    assert!(
        matches!(
            deliver_signed(provider, "POST", path, &[], body),
            Err(Rejection::Unauthenticated(AuthFailure::MissingSignature))
        ),
        "{name}: no proof"
    );

    let unknown = send(SIGNING[0], unknown, now()).unwrap_or_else(|r| panic!("{name}: {r:?}"));
    assert_eq!(
        unknown.event_type(),
        crate::event::EventType::Unrecognized,
        "{name}"
    );

    for delivery in [&first_delivery, &unknown] {
        let published = serde_json::to_string(&delivery.events[0].event).unwrap_or_default();
        for secret in SIGNING {
            let (_, value) = secret.split_once(':').unwrap_or(("", secret));
            assert!(!published.contains(value), "{name}: {published}");
        }
    }
}

/// Whether a provider's proof covers a time (a timestamp, a JWT's `exp`).
fn signs_a_time(provider: &dyn Provider) -> bool {
    use crate::proof::Scheme;
    match provider.auth_scheme() {
        super::AuthScheme::Signed(proof) => proof.schemes.iter().any(|s| match s {
            Scheme::Signature(s) => s.timestamp.is_some(),
            Scheme::BodyHashJwt | Scheme::BodyExpirySign => true,
            Scheme::SecretHeader(_) => false,
        }),
        _ => false,
    }
}
