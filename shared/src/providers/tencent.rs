//! Tencent Cloud Live callbacks (`event_type` 0, 1, 100, 200).
//!
//! Authenticated by `sign = md5(key + t)` inside the body; `t` is the
//! notification's expiry time. Tencent retries every 60 s (3 times) with a
//! fresh `t`/`sign`, so neither is ever part of the key.

use std::borrow::Cow;

use serde_json::value::RawValue;
use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};

use super::imitate::stamp::{TimeField, Unit, refresh_times, set_integer};
use super::{
    AuthScheme, Delivery, Deployment, Identity, Imitate, Provider, Sending, into_map, single,
};
use crate::auth::{Secret, Verifier, tencent_sign};
use crate::error::Rejection;
use crate::event::{EventData, EventType, FileInfo, format_time, from_unix_seconds};
use crate::inbound::Inbound;
use crate::json::{Fields, object_without, parse_object};
use crate::key;

/// Tencent Cloud Live callback adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tencent;

const NAME: &str = "tencent";

impl Provider for Tencent {
    fn name(&self) -> &'static str {
        NAME
    }

    fn deployment(&self) -> Deployment {
        Deployment {
            console: "Tencent Cloud Live console, callback URL",
            settings: &[],
            own_settings: &[],
        }
    }

    fn auth_scheme(&self) -> AuthScheme {
        AuthScheme::TencentSign
    }

    fn accept(&self, inbound: &Inbound<'_>, verifier: &Verifier) -> Result<Delivery, Rejection> {
        // The signature lives in the body: only `t` and `sign` are read
        // before it is verified (400 without them, 401 when wrong), so an
        // unsigned body never gets a tree built from it.
        let signed = Signed::read(inbound.body)?;
        verifier.check_tencent(&signed.t_text, signed.t, &signed.sign, inbound.received_at)?;
        let body = parse_object(inbound.body)?;
        let f = Fields(&body);

        let code = f.required_int("event_type")?;
        let stream_id = f
            .text_any(&["stream_id", "channel_id"])
            .ok_or_else(|| Rejection::malformed("missing field `stream_id` (or `channel_id`)"))?;

        let mut data = EventData {
            provider_event: code.to_string(),
            stream: Some(stream_id.clone()),
            raw: object_without(inbound.body, self.secret_fields())?,
            ..EventData::default()
        };
        let (event_type, time, event_key) = match code {
            0 | 1 => {
                data.app = f.text("appname");
                data.domain = f.text("app");
                data.sequence = f.text("sequence");
                data.node = f.text("node");
                data.client_ip = f.text("user_ip");
                data.url_params = f.text("stream_param");
                data.error_code = f.int("errcode");
                data.error_message = f.text("errmsg");
                data.push_duration_ms = f.int("push_duration");
                let event_type = if code == 1 {
                    EventType::StreamStarted
                } else {
                    EventType::StreamStopped
                };
                let key = match &data.sequence {
                    Some(seq) => key::derive(
                        NAME,
                        &[
                            stream_id.as_bytes(),
                            code.to_string().as_bytes(),
                            seq.as_bytes(),
                        ],
                    ),
                    None => unsigned_body_key(&body),
                };
                (event_type, f.int("event_time"), key)
            }
            100 => {
                data.url_params = f.text("stream_param");
                data.file = Some(FileInfo {
                    id: f.text_any(&["file_id", "record_file_id"]),
                    url: f.text("video_url"),
                    format: f.text("file_format"),
                    size_bytes: f.int("file_size").and_then(|s| u64::try_from(s).ok()),
                    duration_seconds: f.float("duration"),
                    start_time: unix_text(f.int("start_time")),
                    end_time: unix_text(f.int("end_time")),
                    ..FileInfo::default()
                });
                let key = match f.text("file_id") {
                    Some(id) => key::derive(NAME, &[b"100", id.as_bytes()]),
                    None => unsigned_body_key(&body),
                };
                (EventType::RecordingReady, f.int("end_time"), key)
            }
            200 => {
                data.snapshot_url = f.text("pic_full_url").or_else(|| f.text("pic_url"));
                let key = match f.text("pic_url") {
                    Some(pic) => key::derive(NAME, &[b"200", stream_id.as_bytes(), pic.as_bytes()]),
                    None => unsigned_body_key(&body),
                };
                (EventType::SnapshotReady, f.int("create_time"), key)
            }
            _ => (EventType::Unrecognized, None, unsigned_body_key(&body)),
        };
        let sequence = data.sequence.clone();
        let mut delivery = single(
            NAME,
            inbound,
            event_key,
            event_type,
            Identity::Stream(stream_id),
            time.and_then(from_unix_seconds),
            data,
        );
        delivery
            .recorded
            .extend(sequence.map(|s| ("sequence", super::Recorded::Text(s))));
        Ok(delivery)
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        &["sign"]
    }

    fn reply(&self, _event_id: &str) -> String {
        // Tencent stops retrying only on exactly this body.
        r#"{"code":0}"#.to_owned()
    }
}

impl Imitate for Tencent {
    fn sending(&self) -> Sending {
        Sending {
            // Every 60 s, 3 times, on non-200 or no reply within 20 s.
            retry_delays_seconds: &[60, 60, 60],
            ..Sending::DEFAULT
        }
    }

    /// Times refreshed; every delivery carries a fresh expiry `t` = its
    /// send time + 10 min and `sign = md5(key + t)`: retry `n` is sent after
    /// the schedule's first `n` delays, so its `t` is that much later.
    fn prepare(
        &self,
        body: &mut Map<String, Value>,
        secret: Option<&str>,
        now: OffsetDateTime,
        attempt: u32,
    ) {
        refresh_times(body, TIME_FIELDS, now);
        if let Some(key) = secret {
            let delays = self.sending().retry_delays_seconds;
            let waited: i64 = delays
                .iter()
                .cycle()
                .take(attempt as usize)
                .map(|&s| i64::try_from(s).unwrap_or(0))
                .sum();
            let t = (now + SIGN_VALID_FOR).unix_timestamp() + waited;
            sign(body, &Secret::new(key), t);
        }
    }

    fn synthetic(&self, stream: &str, nonce: &str) -> (&'static str, Map<String, Value>) {
        let body = serde_json::json!({
            "event_type": 1, "stream_id": stream, "channel_id": stream,
            "app": "livehook.check", "appname": "live", "sequence": nonce,
            "event_time": 0, "t": 0, "sign": "",
        });
        ("push", into_map(body))
    }
}

/// The two fields the signature check needs, read from the body without
/// building anything else (every other member is skipped as
/// `IgnoredAny`, nested or not).
struct Signed {
    t_text: String,
    t: i64,
    sign: String,
}

#[derive(serde::Deserialize)]
struct SignedFields<'a> {
    #[serde(borrow, default)]
    t: Option<&'a RawValue>,
    #[serde(borrow, default)]
    sign: Option<Cow<'a, str>>,
}

impl Signed {
    fn read(body: &[u8]) -> Result<Self, Rejection> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(Rejection::malformed("empty body"));
        }
        let fields: SignedFields<'_> = serde_json::from_slice(body).map_err(|e| {
            Rejection::malformed(if e.is_data() && !e.to_string().contains("duplicate") {
                "body must be a JSON object with `t` and `sign`"
            } else if e.is_data() {
                "body has a duplicate key"
            } else {
                "body is not valid JSON"
            })
        })?;
        let t = fields
            .t
            .ok_or_else(|| Rejection::malformed("missing field `t`"))?;
        // `t` arrives as a number or a numeric string; the sign covers its text.
        let t_text = match serde_json::from_str::<Value>(t.get()) {
            Ok(Value::Number(n)) => n.to_string(),
            Ok(Value::String(s)) if !s.is_empty() => s,
            _ => return Err(Rejection::malformed("field `t` must be a non-empty string")),
        };
        let t_seconds = t_text
            .trim()
            .parse()
            .map_err(|_| Rejection::malformed("field `t` must be an integer"))?;
        let sign = fields
            .sign
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Rejection::malformed("missing field `sign`"))?;
        Ok(Signed {
            t_text,
            t: t_seconds,
            sign: sign.into_owned(),
        })
    }
}

/// Tencent's timestamps, the event's own first (push/stop, record, snapshot).
const TIME_FIELDS: &[TimeField] = &[
    (&["event_time"], Unit::Seconds),
    (&["end_time"], Unit::Seconds),
    (&["create_time"], Unit::Seconds),
    (&["start_time"], Unit::Seconds),
];

/// How far ahead Tencent sets a notification's expiry `t`.
const SIGN_VALID_FOR: Duration = Duration::minutes(10);

/// Sets `t` (keeping its shape: number or numeric string) and
/// `sign = md5(key + t)`.
pub fn sign(body: &mut Map<String, Value>, key: &Secret, t: i64) {
    set_integer(body, "t", t);
    body.insert(
        "sign".to_owned(),
        Value::from(tencent_sign(key, &t.to_string())),
    );
}

fn unix_text(seconds: Option<i64>) -> Option<String> {
    seconds.and_then(from_unix_seconds).map(format_time)
}

/// Key of an event with no documented identity: the canonical body without
/// the fields that change on every retry (`t`, `sign`).
fn unsigned_body_key(body: &Map<String, Value>) -> String {
    // serde_json's map is ordered by key, and so is this one, so this
    // serialization is canonical (and borrows the body, never copies it).
    let stable: std::collections::BTreeMap<&str, &Value> = body
        .iter()
        .filter(|(k, _)| k.as_str() != "t" && k.as_str() != "sign")
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let canonical = serde_json::to_vec(&stable).unwrap_or_default();
    key::derive(NAME, &[b"body", &canonical])
}
