//! Tencent Cloud Live callbacks (`event_type` 0, 1, 100, 200).
//!
//! Authenticated by `sign = md5(key + t)` inside the body; `t` is the
//! notification's expiry time. Tencent retries every 60 s (3 times) with a
//! fresh `t`/`sign`, so neither is ever part of the key.

use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};

use super::stamp::{TimeField, Unit, refresh_times, set_integer};
use super::{AuthScheme, Delivery, EventParts, Identity, Provider, Sending, into_map, single};
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

    fn auth_scheme(&self) -> AuthScheme {
        AuthScheme::TencentSign
    }

    fn accept(&self, inbound: &Inbound<'_>, verifier: &Verifier) -> Result<Delivery, Rejection> {
        let body = parse_object(inbound.body)?;
        let f = Fields(&body);
        // The signature lives in the body, so structure is checked first (400),
        // then the signature (401), then the rest (400).
        let t_text = f.required_text("t")?;
        let t = f.required_int("t")?;
        let sign = f.required_text("sign")?;
        verifier.check_tencent(&t_text, t, &sign, inbound.received_at)?;

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
            EventParts {
                provider: NAME,
                key: event_key,
                event_type,
                identity: Identity::Stream(stream_id),
                time: time.and_then(from_unix_seconds),
                data,
            },
            inbound.received_at,
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
    let mut stable = body.clone();
    stable.remove("t");
    stable.remove("sign");
    // serde_json's map is ordered by key, so this serialization is canonical.
    let canonical = serde_json::to_vec(&stable).unwrap_or_default();
    key::derive(NAME, &[b"body", &canonical])
}
