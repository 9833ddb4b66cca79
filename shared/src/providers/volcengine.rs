//! Volcengine (火山引擎) live callbacks: JSON `POST`s with `event_type`
//! (`push_start`, `push_end`, …), `vhost`, `domain`, `app`, `stream`,
//! `time` / `time_ms`, `session_id`, `sequence_id` (one per push) and the
//! push's `fp_*` details. Volcengine's examples also show the event wrapped
//! as `{"code", "message", "data": {…, "detail": {…}}}`: both are read.
//!
//! Proven as Tencent's are: `sign = md5(AuthKeyPrimary + t)` in the body,
//! `t` the time the notification expires (10 minutes ahead); see
//! [`Scheme::BodyExpirySign`]. Volcengine retries at once, 3 times 3 s
//! apart, then from a queue for up to 10 minutes, each signed anew, so
//! neither `t` nor `sign` is ever part of the key.

use std::time::Duration;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::imitate::stamp::{TimeField, Unit};
use super::signed::Signed;
use super::{Delivery, Identity, Sending, single};
use crate::error::Rejection;
use crate::event::{EventData, EventType, from_unix_millis, from_unix_seconds};
use crate::inbound::Inbound;
use crate::json::{Fields, object_without, object_without_nested};
use crate::key;
use crate::proof::{Proof, Scheme, sign_expiry};

/// Volcengine live callback adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Volcengine;

const NAME: &str = "volcengine";

/// Volcengine's "公共安全签名参数" (md5(key + t), `t` an expiry).
pub static PROOF: Proof = Proof {
    secret_variable: "LIVEHOOK_VOLCENGINE_KEY",
    secret_about: "Volcengine live callback key (md5(key + t)), comma-separated for rotation",
    schemes: &[Scheme::BodyExpirySign],
    // `t` is already 10 minutes past the send time: no leeway beyond it.
    tolerance: Duration::ZERO,
};

/// How far ahead Volcengine sets a notification's expiry `t`.
const SIGN_VALID_FOR: i64 = 600;

impl Signed for Volcengine {
    const NAME: &'static str = NAME;
    const PROOF: &'static Proof = &PROOF;
    const CONSOLE: &'static str = "Volcengine live console, domain > callback settings (回调配置), with the callback key (AuthKeyPrimary)";
    /// `sign` covers only `t`: whoever read it could forge callbacks until
    /// `t` passes; the wrapped form has it in `data`.
    const SECRETS: &'static [&'static str] = &["sign"];
    const NESTED_SECRETS: &'static [(&'static str, &'static str)] = &[("data", "sign")];
    const SENDING: Sending = Sending {
        // At once, 3 times 3 s apart (then from a queue, up to 10 min).
        retry_delays_seconds: &[3, 3, 3],
        ..Sending::DEFAULT
    };
    const TIME_FIELDS: &'static [TimeField] = TIME_FIELDS;

    fn normalize(&self, inbound: &Inbound<'_>, top: Fields<'_>) -> Result<Delivery, Rejection> {
        let wrapped = top.object("data").filter(|d| d.get("event_type").is_some());
        let f = wrapped.unwrap_or(top);
        // The push's details, beside the event or in its `detail`.
        let detail = f.object("detail").unwrap_or(f);
        let event = match (wrapped, top.get("event_type")) {
            // Neither form: name both places the event could have been.
            (None, None) => {
                return Err(Rejection::malformed(
                    "missing field `event_type` (at the top or in `data`)",
                ));
            }
            _ => f.required_text("event_type")?,
        };
        let event_type = match event.as_str() {
            "push_start" => EventType::StreamStarted,
            "push_end" => EventType::StreamStopped,
            _ => EventType::Unrecognized,
        };
        let (app, stream) = (f.text("app"), f.text("stream"));
        let push = detail
            .text("sequence_id")
            .or_else(|| detail.text("session_id"));
        let event_key = match &push {
            Some(push) => key::derive(NAME, &[event.as_bytes(), push.as_bytes()]),
            None => unsigned_key(f.0),
        };
        let time = detail
            .int("time_ms")
            .and_then(from_unix_millis)
            .or_else(|| detail.int("time").and_then(from_unix_seconds));
        let raw = if wrapped.is_some() {
            object_without_nested(inbound.body, &[("data", "sign")])?
        } else {
            object_without(inbound.body, Self::SECRETS)?
        };
        let data = EventData {
            provider_event: event,
            app: app.clone(),
            stream: stream.clone(),
            domain: f.text("domain"),
            client_ip: detail.text("fp_client_ip"),
            node: detail.text("fp_node_ip"),
            url_params: detail.text("fp_user_url"),
            session_id: detail.text("session_id"),
            sequence: detail.text("sequence_id"),
            raw,
            ..EventData::default()
        };
        let domain = f.text("vhost").or_else(|| f.text("domain"));
        Ok(single(
            NAME,
            inbound,
            event_key,
            event_type,
            Identity::of_stream(app, stream, |_| domain),
            time,
            data,
        ))
    }

    fn sign_body(
        &self,
        body: &mut Map<String, Value>,
        secret: &str,
        now: OffsetDateTime,
        attempt: u32,
    ) {
        self.sign_attempt(body, secret, now, attempt);
    }

    fn synthetic_body(&self, stream: &str, nonce: &str) -> (&'static str, Map<String, Value>) {
        Self::synthetic_push(stream, nonce)
    }
}

/// Key of an event with no push id: its canonical members without the
/// ones every resend changes (`t`, `sign`).
fn unsigned_key(event: &Map<String, Value>) -> String {
    // serde_json's map is ordered by key: this serialization is canonical.
    let stable: std::collections::BTreeMap<&str, &Value> = event
        .iter()
        .filter(|(k, _)| k.as_str() != "t" && k.as_str() != "sign")
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    key::derive(
        NAME,
        &[b"body", &serde_json::to_vec(&stable).unwrap_or_default()],
    )
}

/// Sets `t` and `sign` where the event carries them (its `data` when
/// wrapped).
fn sign_event(body: &mut Map<String, Value>, secret: &str, t: i64) {
    let wrapped = body
        .get("data")
        .and_then(Value::as_object)
        .is_some_and(|d| d.contains_key("event_type"));
    match body.get_mut("data").and_then(Value::as_object_mut) {
        Some(data) if wrapped => sign_expiry(data, secret, t),
        _ => sign_expiry(body, secret, t),
    }
}

impl Volcengine {
    /// Each attempt carries `t` = its send time + 10 min and `sign` =
    /// md5(key + t), as Volcengine signs each retry.
    fn sign_attempt(
        &self,
        body: &mut Map<String, Value>,
        secret: &str,
        now: OffsetDateTime,
        attempt: u32,
    ) {
        let waited: i64 = Self::SENDING
            .retry_delays_seconds
            .iter()
            .take(attempt as usize)
            .map(|&s| i64::try_from(s).unwrap_or(0))
            .sum();
        sign_event(body, secret, now.unix_timestamp() + SIGN_VALID_FOR + waited);
    }

    fn synthetic_push(stream: &str, nonce: &str) -> (&'static str, Map<String, Value>) {
        let body = serde_json::json!({
            "vhost": "livehook.check", "domain": "livehook.check", "app": "live",
            "stream": stream, "event_type": "push_start", "sign": "", "t": 0,
            "time": 0, "time_ms": 0, "session_id": nonce, "sequence_id": nonce,
        });
        ("push_start", super::into_map(body))
    }
}

/// Volcengine's own times of the event (flat or in a wrapped `detail`).
const TIME_FIELDS: &[TimeField] = &[
    (&["time_ms"], Unit::Millis),
    (&["time"], Unit::Seconds),
    (&["data", "detail", "time_ms"], Unit::Millis),
    (&["data", "detail", "time"], Unit::Seconds),
];

#[cfg(test)]
mod tests;
