//! "Api Server" channel webhooks (`channel_live`, `channel_stop`,
//! `channel_ended`): `{"event", "eventTime" (ms), …the channel object}`.
//!
//! Authenticated by `?token=`. The key is `event` + channel id + `eventTime`;
//! without either, a hash of the body (a fixed stand-in for a missing
//! `eventTime` would make every later event of the channel a duplicate).

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::imitate::stamp::{TimeField, Unit, refresh_times};
use super::{
    Delivery, Deployment, Identity, Imitate, Provider, Sending, authenticated_body, raw_json,
    single,
};
use crate::auth::Verifier;
use crate::error::Rejection;
use crate::event::{EventData, EventType, from_unix_millis};
use crate::inbound::Inbound;
use crate::json::Fields;
use crate::key;

/// Api Server channel webhook adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiServer;

const NAME: &str = "apiserver";

impl Provider for ApiServer {
    fn name(&self) -> &'static str {
        NAME
    }

    fn deployment(&self) -> Deployment {
        Deployment {
            console: "Api Server webhook uri",
            settings: &[],
            own_settings: &[],
        }
    }

    fn accept(&self, inbound: &Inbound<'_>, verifier: &Verifier) -> Result<Delivery, Rejection> {
        let body = authenticated_body(inbound, verifier)?;
        let f = Fields(&body);
        let event = f.required_text("event")?;
        let event_type = match event.as_str() {
            "channel_live" => EventType::StreamStarted,
            "channel_stop" => EventType::StreamStopped,
            "channel_ended" => EventType::StreamEnded,
            _ => EventType::Unrecognized,
        };
        let channel_id = f.text_any(&["id", "channelId", "channel_id"]);
        let event_time = f.int("eventTime");
        let event_key = match (&channel_id, event_time) {
            (Some(id), Some(at)) => key::derive(
                NAME,
                &[event.as_bytes(), id.as_bytes(), at.to_string().as_bytes()],
            ),
            _ => key::derive(NAME, &[b"body", inbound.body]),
        };
        let data = EventData {
            provider_event: event.clone(),
            channel_id: channel_id.clone(),
            name: f.text_any(&["name", "title"]),
            raw: raw_json(inbound.body)?,
            ..EventData::default()
        };
        let identity = match channel_id {
            Some(id) => Identity::Stream(id),
            None => Identity::Other(event),
        };
        Ok(single(
            NAME,
            inbound,
            event_key,
            event_type,
            identity,
            event_time.and_then(from_unix_millis),
            data,
        ))
    }
}

impl Imitate for ApiServer {
    fn sending(&self) -> Sending {
        Sending {
            // Retries are not documented; its keys are stable, so a resend
            // is deduplicated all the same.
            resends: true,
            ..Sending::DEFAULT
        }
    }

    /// Times refreshed (milliseconds); a resend is the identical body.
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
            "event": "channel_live", "eventTime": 0, "id": stream, "name": "livehook check", "livehook_check": nonce,
        });
        ("channel_live", super::into_map(body))
    }
}

/// Api Server's timestamps, the event's own (`eventTime`) first.
const TIME_FIELDS: &[TimeField] = &[
    (&["eventTime"], Unit::Millis),
    (&["createdAt"], Unit::Millis),
    (&["updatedAt"], Unit::Millis),
];
