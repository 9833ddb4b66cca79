//! Aodianyun async notify (`sys/notify/*`).
//!
//! Authenticated by `?token=`. Retries (5 s, 20 s, 60 s) carry the same
//! payload with `retry_times` incremented, so the key is the canonical
//! payload without `retry_times`. `event_value` may arrive as an object or as
//! a JSON-encoded string; both forms of one event give one key.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::imitate::stamp::{TimeField, Unit, integer, refresh_times, set_integer};
use super::{
    Delivery, Deployment, Identity, Imitate, Provider, Sending, authenticated_body, raw_json,
    single,
};
use crate::auth::Verifier;
use crate::error::Rejection;
use crate::event::{EventData, EventType, FileInfo, Fluency, format_time, from_unix_seconds};
use crate::inbound::Inbound;
use crate::json::Fields;
use crate::key;

/// Aodianyun webhook adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Aodianyun;

const NAME: &str = "aodianyun";

impl Provider for Aodianyun {
    fn name(&self) -> &'static str {
        NAME
    }

    fn deployment(&self) -> Deployment {
        Deployment {
            console: "Aodianyun console, Webhook URL",
            settings: &[],
            own_settings: &[],
        }
    }

    fn accept(&self, inbound: &Inbound<'_>, verifier: &Verifier) -> Result<Delivery, Rejection> {
        let mut body = authenticated_body(inbound, verifier)?;
        let event_type_name = Fields(&body).required_text("event_type")?;
        // Normalize `event_value` to an object (it may be a JSON string) so
        // that both wire forms of an event are one event.
        if let Some(Value::String(text)) = body.get("event_value")
            && let Some(parsed @ Value::Object(_)) = crate::json::parse_embedded(text)
        {
            body.insert("event_value".to_owned(), parsed);
        }
        let f = Fields(&body);
        let empty = Map::new();
        let value = f.object("event_value").unwrap_or(Fields(&empty));

        let owner = f.text("admin_id");
        let mut data = EventData {
            provider_event: event_type_name.clone(),
            app: value.text("app"),
            stream: value.text("stream"),
            room_id: f.text("room_id").filter(|r| r != "0"),
            owner_id: owner.clone(),
            retry_times: f.int("retry_times"),
            raw: raw_json(inbound.body)?,
            ..EventData::default()
        };
        let kind = event_type_name.strip_prefix("sys/notify/").unwrap_or("");
        let event_type = match kind {
            "lss" => {
                let cmd = value.text("cmd").unwrap_or_default();
                data.provider_event = format!("{event_type_name}:{cmd}");
                match cmd.as_str() {
                    "StartPublish" => EventType::StreamStarted,
                    "StopPublish" => EventType::StreamStopped,
                    _ => EventType::Unrecognized,
                }
            }
            "lss_fluency" => {
                data.fluency = Some(Fluency {
                    publish: value.float("publish_fluency"),
                    play: value.float("play_fluency"),
                    forward: value.float("forward_fluency"),
                });
                EventType::StreamHealth
            }
            "live_dvr" => {
                data.file = Some(FileInfo {
                    url: value.text("url").or_else(|| value.text("m3u8")),
                    start_time: unix_text(value.int("start")),
                    end_time: unix_text(value.int("end")),
                    duration_seconds: duration(value.int("start"), value.int("end")),
                    renditions: renditions(value),
                    ..FileInfo::default()
                });
                EventType::RecordingReady
            }
            "live_dvr_preview_image" => {
                data.snapshot_url = value.text("image");
                EventType::SnapshotReady
            }
            "upload_dvr" => {
                let transcoded = value
                    .0
                    .keys()
                    .any(|k| k.starts_with("m3u8") || k == "adaptive");
                data.file = Some(FileInfo {
                    url: value.text("url"),
                    path: value.text("filename"),
                    renditions: renditions(value),
                    ..FileInfo::default()
                });
                data.owner_id = value.text("user").or(owner.clone());
                if transcoded {
                    EventType::VodTranscoded
                } else {
                    EventType::VodUploaded
                }
            }
            _ => EventType::Unrecognized,
        };

        let identity = Identity::of_stream(data.app.clone(), data.stream.clone(), |_| {
            data.owner_id.clone().or_else(|| data.room_id.clone())
        });
        let retry_times = data.retry_times;
        let time = f.int("started_at").and_then(from_unix_seconds);
        body.remove("retry_times");
        let canonical = serde_json::to_vec(&body).unwrap_or_default();
        let mut delivery = single(
            NAME,
            inbound,
            key::derive(NAME, &[&canonical]),
            event_type,
            identity,
            time,
            data,
        );
        delivery
            .recorded
            .extend(retry_times.map(|n| ("retry_times", super::Recorded::Number(n))));
        Ok(delivery)
    }
}

impl Imitate for Aodianyun {
    fn sending(&self) -> Sending {
        Sending {
            // 5 s, 20 s and 60 s after a non-200 answer.
            retry_delays_seconds: &[5, 20, 60],
            ..Sending::DEFAULT
        }
    }

    /// Times refreshed; `retry_times` counts deliveries from 1 (added when
    /// missing), so retry `n` carries the first delivery's count + `n`.
    fn prepare(
        &self,
        body: &mut Map<String, Value>,
        _secret: Option<&str>,
        now: OffsetDateTime,
        attempt: u32,
    ) {
        refresh_times(body, TIME_FIELDS, now);
        let first = body.get("retry_times").and_then(integer);
        if first.is_none() || attempt > 0 {
            set_integer(body, "retry_times", first.unwrap_or(1) + i64::from(attempt));
        }
    }

    fn synthetic(
        &self,
        stream: &str,
        nonce: &str,
    ) -> (&'static str, serde_json::Map<String, serde_json::Value>) {
        let body = serde_json::json!({
            "room_id": 0, "admin_id": 0, "livehook_check": nonce, "started_at": 0, "event_type": "sys/notify/lss",
            "event_value": {"cmd": "StartPublish", "app": "livehook", "stream": stream, "time": "0"},
        });
        ("start_publish", super::into_map(body))
    }
}

/// Aodianyun's timestamps, the notification's own first.
const TIME_FIELDS: &[TimeField] = &[
    (&["started_at"], Unit::Seconds),
    (&["event_value", "time"], Unit::Seconds),
    (&["event_value", "start"], Unit::Seconds),
    (&["event_value", "end"], Unit::Seconds),
    (&["event_value", "uptime"], Unit::Seconds),
];

fn unix_text(seconds: Option<i64>) -> Option<String> {
    seconds.and_then(from_unix_seconds).map(format_time)
}

fn duration(start: Option<i64>, end: Option<i64>) -> Option<f64> {
    match (start, end) {
        (Some(s), Some(e)) if e >= s => Some((e - s) as f64),
        _ => None,
    }
}

/// Transcoded renditions: every `m3u8*` (except sizes) and `adaptive` field.
fn renditions(value: Fields<'_>) -> Option<Map<String, Value>> {
    let found: Map<String, Value> = value
        .0
        .iter()
        .filter(|(k, v)| {
            (k.starts_with("m3u8") && !k.starts_with("m3u8Size") || k.as_str() == "adaptive")
                && v.as_str().is_some_and(|s| !s.is_empty())
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!found.is_empty()).then_some(found)
}
