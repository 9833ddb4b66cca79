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
