//! BililiveRecorder webhooks, v2 (`EventType`/`EventId`/`EventData`) and the
//! deprecated v1 (one flat body per closed file).
//!
//! Authenticated by `?token=`. The recorder retries up to three times with an
//! identical body and does not guarantee order; `EventId` (v1
//! `EventRandomId`) identifies an event.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::imitate::stamp::{TimeField, Unit, refresh_times};
use super::{
    Delivery, Deployment, Identity, Imitate, Provider, Sending, authenticated_body, raw_json,
    single,
};
use crate::auth::Verifier;
use crate::error::Rejection;
use crate::event::{EventData, EventType, FileInfo, format_time, parse_rfc3339};
use crate::inbound::Inbound;
use crate::json::Fields;
use crate::key;

/// BililiveRecorder webhook adapter (v2 and v1).
#[derive(Debug, Clone, Copy, Default)]
pub struct Bililive;

const NAME: &str = "bililive";

impl Provider for Bililive {
    fn name(&self) -> &'static str {
        NAME
    }

    fn deployment(&self) -> Deployment {
        Deployment {
            console: "BililiveRecorder settings, Webhook V2 (or V1) URL",
            settings: &[],
            own_settings: &[],
        }
    }

    fn accept(&self, inbound: &Inbound<'_>, verifier: &Verifier) -> Result<Delivery, Rejection> {
        let body = authenticated_body(inbound, verifier)?;
        let f = Fields(&body);
        let is_v1 = f.get("EventType").is_none() && f.get("EventRandomId").is_some();
        let (event_id, provider_event, event_type, details, time) = if is_v1 {
            let id = f.required_text("EventRandomId")?;
            (
                id,
                "v1".to_owned(),
                EventType::RecordingFileClosed,
                f,
                f.text("EndRecordTime"),
            )
        } else {
            let id = f.required_text("EventId")?;
            let name = f.required_text("EventType")?;
            let event_type = match name.as_str() {
                "SessionStarted" => EventType::RecordingStarted,
                "FileOpening" => EventType::RecordingFileOpened,
                "FileClosed" => EventType::RecordingFileClosed,
                "SessionEnded" => EventType::RecordingEnded,
                "StreamStarted" => EventType::StreamStarted,
                "StreamEnded" => EventType::StreamStopped,
                _ => EventType::Unrecognized,
            };
            let details = f.object("EventData").unwrap_or(f);
            (id, name, event_type, details, f.text("EventTimestamp"))
        };

        let room = details.text("RoomId");
        let file = match event_type {
            EventType::RecordingFileOpened | EventType::RecordingFileClosed => Some(FileInfo {
                path: details.text("RelativePath"),
                size_bytes: details.int("FileSize").and_then(|s| u64::try_from(s).ok()),
                duration_seconds: details.float("Duration"),
                start_time: time_text(details.text_any(&["FileOpenTime", "StartRecordTime"])),
                end_time: time_text(details.text_any(&["FileCloseTime", "EndRecordTime"])),
                format: details
                    .text("RelativePath")
                    .and_then(|p| p.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase())),
                ..FileInfo::default()
            }),
            _ => None,
        };
        let data = EventData {
            provider_event,
            session_id: details.text("SessionId"),
            room_id: room.clone(),
            name: details.text("Name"),
            title: details.text("Title"),
            file,
            raw: raw_json(inbound.body)?,
            ..EventData::default()
        };
        let identity = match room {
            Some(room) => Identity::Stream(room),
            None => Identity::Other(event_id.clone()),
        };
        Ok(single(
            NAME,
            inbound,
            key::derive(NAME, &[event_id.as_bytes()]),
            event_type,
            identity,
            time.as_deref().and_then(parse_rfc3339),
            data,
        ))
    }
}

impl Imitate for Bililive {
    fn sending(&self) -> Sending {
        Sending {
            // Up to 3 tries of the identical body.
            resends: true,
            user_agent: Some("BililiveRecorder/2.6.0"),
            ..Sending::DEFAULT
        }
    }

    /// Times refreshed, each keeping its offset (`+08:00`) and its seven
    /// fractional digits (.NET's); retries are the identical body.
    fn prepare(
        &self,
        body: &mut Map<String, Value>,
        _secret: Option<&str>,
        now: OffsetDateTime,
        _attempt: u32,
    ) {
        refresh_times(body, TIME_FIELDS, now);
    }

    fn synthetic(
        &self,
        stream: &str,
        nonce: &str,
    ) -> (&'static str, serde_json::Map<String, serde_json::Value>) {
        let body = serde_json::json!({
            "EventType": "SessionStarted", "EventTimestamp": "2021-05-14T17:52:44.4960899+08:00",
            "EventId": nonce,
            "EventData": {"RoomId": stream, "Name": stream, "Title": "livehook check"},
        });
        ("SessionStarted", super::into_map(body))
    }
}

/// BililiveRecorder's timestamps (v2, then v1), the event's own first.
const TIME_FIELDS: &[TimeField] = &[
    (&["EventTimestamp"], Unit::Rfc3339),
    (&["EndRecordTime"], Unit::Rfc3339),
    (&["StartRecordTime"], Unit::Rfc3339),
    (&["EventData", "FileOpenTime"], Unit::Rfc3339),
    (&["EventData", "FileCloseTime"], Unit::Rfc3339),
];

fn time_text(text: Option<String>) -> Option<String> {
    text.as_deref().and_then(parse_rfc3339).map(format_time)
}
