//! Mux Video webhooks: `{"type", "id", "created_at" (RFC 3339), "object":
//! {"type", "id"}, "data": {…the live stream or asset…}}`.
//!
//! Proven by `Mux-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, t + "."
//! + body)>` (see [`crate::proof`]), `t` within 5 minutes as Mux's SDKs
//! check. The key is the event's `id`, the same on every resend.

use std::time::Duration;

use serde_json::{Map, Value};

use super::imitate::stamp::{TimeField, Unit};
use super::signed::Signed;
use super::{Delivery, Identity, single};
use crate::error::Rejection;
use crate::event::{EventData, EventType, FileInfo, parse_rfc3339};
use crate::inbound::Inbound;
use crate::json::{Fields, object_without_nested};
use crate::key;
use crate::proof::{Proof, Scheme, Signature};

/// Mux webhook adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mux;

const NAME: &str = "mux";

/// `Mux-Signature`, as Mux documents it and `@mux/mux-node` verifies it.
pub static PROOF: Proof = Proof {
    secret_variable: "LIVEHOOK_MUX_SECRET",
    secret_about: "Mux webhook signing secret(s) (Settings, Webhooks, Show Signing Secret), comma-separated for rotation",
    schemes: &[Scheme::Signature(Signature::timestamped_pairs(
        "mux-signature",
        "t",
        "v1",
    ))],
    tolerance: Duration::from_secs(300),
};

/// A live stream's `stream_key` and `srt_passphrase` let anyone publish to
/// it; a simulcast target's `stream_key` (and an SRT target's `url`, which
/// carries its passphrase) publish to the third-party service, and a live
/// stream lists its targets with theirs (`simulcast_targets`, left out
/// whole); a direct upload's `url` is a signed URL that uploads into the
/// account.
const NESTED_SECRETS: &[(&str, &str)] = &[
    ("data", "stream_key"),
    ("data", "srt_passphrase"),
    ("data", "url"),
    ("data", "simulcast_targets"),
];

impl Signed for Mux {
    const NAME: &'static str = NAME;
    const PROOF: &'static Proof = &PROOF;
    const CONSOLE: &'static str = "Mux dashboard, Settings, Webhooks URL (per environment)";
    const NESTED_SECRETS: &'static [(&'static str, &'static str)] = NESTED_SECRETS;
    // Mux retries for up to 24 hours until it gets a 2xx: the default sending.
    const TIME_FIELDS: &'static [TimeField] = TIME_FIELDS;

    fn normalize(&self, inbound: &Inbound<'_>, f: Fields<'_>) -> Result<Delivery, Rejection> {
        let event = f.required_text("type")?;
        let event_type = event_type(&event);
        let data = f.object("data");
        let is_stream = f
            .object("object")
            .and_then(|o| o.text("type"))
            .is_some_and(|t| t == "live_stream");
        let stream = if is_stream {
            data.and_then(|d| d.text("id"))
        } else {
            data.and_then(|d| d.text("live_stream_id"))
        };
        let event_key = match f.text("id") {
            Some(id) => key::derive(NAME, &[id.as_bytes()]),
            None => key::derive(NAME, &[b"body", inbound.body]),
        };
        let asset = (!is_stream).then_some(data).flatten();
        // A warning's `{"type", "message"}`; an errored asset's or
        // target's `errors: {"type", "messages": […]}`.
        let problem = data.and_then(|d| {
            d.object("warning")
                .and_then(|w| w.text("message"))
                .or_else(|| d.object("errors").and_then(error_text))
        });
        let normalized = EventData {
            provider_event: event,
            stream: stream.clone(),
            error_message: problem,
            owner_id: f.object("environment").and_then(|e| e.text("id")),
            file: asset.map(|a| FileInfo {
                id: a.text("id"),
                duration_seconds: a.float("duration"),
                ..FileInfo::default()
            }),
            raw: object_without_nested(inbound.body, NESTED_SECRETS)?,
            ..EventData::default()
        };
        let identity = match stream {
            Some(stream) => Identity::Stream(stream),
            None => Identity::Other(
                f.object("object")
                    .and_then(|o| o.text("id"))
                    .unwrap_or_else(|| "unknown".to_owned()),
            ),
        };
        Ok(single(
            NAME,
            inbound,
            event_key,
            event_type,
            identity,
            f.text("created_at").as_deref().and_then(parse_rfc3339),
            normalized,
        ))
    }

    fn synthetic_body(&self, stream: &str, nonce: &str) -> (&'static str, Map<String, Value>) {
        let body = serde_json::json!({
            "type": "video.live_stream.active",
            "object": {"type": "live_stream", "id": stream},
            "id": format!("livehook-check-{nonce}"),
            "environment": {"name": "livehook check", "id": "check"},
            "data": {"id": stream, "status": "active"},
            "created_at": "1970-01-01T00:00:00Z",
            "livehook_check": nonce,
        });
        ("video.live_stream.active", super::into_map(body))
    }
}

/// The catalog type of a Mux event (`type`): every `video.live_stream.*`
/// and `video.asset.*` type `@mux/mux-node` declares, and the direct
/// uploads' that complete or fail an asset.
fn event_type(event: &str) -> EventType {
    match event {
        "video.live_stream.created" => EventType::StreamCreated,
        "video.live_stream.connected" => EventType::ConnectionOpened,
        "video.live_stream.recording" => EventType::RecordingStarted,
        "video.live_stream.active" => EventType::StreamStarted,
        "video.live_stream.disconnected" => EventType::ConnectionClosed,
        "video.live_stream.idle" => EventType::StreamStopped,
        "video.live_stream.updated"
        | "video.live_stream.enabled"
        | "video.live_stream.disabled"
        | "video.live_stream.simulcast_target.created"
        | "video.live_stream.simulcast_target.updated"
        | "video.live_stream.simulcast_target.deleted"
        | "video.live_stream.simulcast_target.starting" => EventType::StreamUpdated,
        "video.live_stream.deleted" => EventType::StreamDeleted,
        "video.live_stream.warning" => EventType::StreamErrored,
        "video.live_stream.simulcast_target.broadcasting" => EventType::RestreamStarted,
        "video.live_stream.simulcast_target.idle" => EventType::RestreamStopped,
        "video.live_stream.simulcast_target.errored" => EventType::RestreamFailed,
        "video.asset.created" => EventType::VodCreated,
        "video.asset.ready" => EventType::VodTranscoded,
        "video.asset.errored" | "video.upload.errored" => EventType::VodFailed,
        "video.asset.deleted" => EventType::VodDeleted,
        "video.asset.live_stream_completed" => EventType::RecordingReady,
        "video.upload.asset_created" => EventType::VodUploaded,
        // The asset's settings, warnings and parts (static renditions,
        // master, tracks), each of which may be ready or fail on its own.
        "video.asset.updated"
        | "video.asset.warning"
        | "video.asset.non_standard_input_detected"
        | "video.upload.created"
        | "video.upload.cancelled" => EventType::VodUpdated,
        part if part.starts_with("video.asset.static_rendition")
            || part.starts_with("video.asset.master.")
            || part.starts_with("video.asset.track.") =>
        {
            EventType::VodUpdated
        }
        _ => EventType::Unrecognized,
    }
}

/// An `errors` object's text: its messages, joined.
fn error_text(errors: Fields<'_>) -> Option<String> {
    let messages = errors.get("messages").and_then(Value::as_array)?;
    let text = messages
        .iter()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join("; ");
    (!text.is_empty()).then_some(text)
}

/// Mux's own time of the event.
const TIME_FIELDS: &[TimeField] = &[(&["created_at"], Unit::Rfc3339)];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::testing::signed_platform_contract;

    fn sample(name: &str) -> Vec<u8> {
        crate::providers::testing::sample(&Mux, name)
    }

    fn deliver(body: &[u8]) -> Result<Delivery, Rejection> {
        crate::providers::testing::deliver_signed_body(&Mux, body)
    }

    #[test]
    fn keeps_the_signed_platform_contract() {
        let unknown = br#"{"type":"video.asset.renamed","object":{"type":"asset","id":"a1"},"id":"e-unknown","data":{"id":"a1"},"created_at":"2026-01-01T00:00:00Z"}"#;
        signed_platform_contract(
            &Mux,
            "/mux",
            &[],
            &sample("video.live_stream.active"),
            unknown,
        );
    }

    #[test]
    fn samples_map_to_the_catalog() {
        let stream = "mux/ZUb1W3c1sxfVTsERLiHmr5yWVSRnC01hCbsELh1QVqHo";
        for (name, expected) in [
            ("video.live_stream.active", EventType::StreamStarted),
            ("video.live_stream.idle", EventType::StreamStopped),
            (
                "video.asset.live_stream_completed",
                EventType::RecordingReady,
            ),
            ("video.live_stream.warning", EventType::StreamErrored),
            (
                "video.live_stream.simulcast_target.broadcasting",
                EventType::RestreamStarted,
            ),
        ] {
            let d = deliver(&sample(name)).unwrap_or_else(|r| panic!("{name}: {r:?}"));
            let event = &d.events[0].event;
            assert_eq!(event.event_type, expected, "{name}");
            assert_eq!(event.subject, stream, "{name}");
        }
        let d = deliver(&sample("video.live_stream.active")).unwrap();
        assert_eq!(d.events[0].event.time, "2023-02-16T19:50:45.063Z");
        assert_eq!(
            d.key,
            key::derive(NAME, &[b"9fd7a4c4-5ab2-4f4a-9a42-38b83f1b5c13"])
        );
    }

    #[test]
    fn every_live_stream_and_asset_event_of_mux_node_has_a_type() {
        // The `type`s `@mux/mux-node` 14's webhook events declare.
        for (event, expected) in [
            ("video.live_stream.created", EventType::StreamCreated),
            ("video.live_stream.connected", EventType::ConnectionOpened),
            ("video.live_stream.recording", EventType::RecordingStarted),
            (
                "video.live_stream.disconnected",
                EventType::ConnectionClosed,
            ),
            ("video.live_stream.updated", EventType::StreamUpdated),
            ("video.live_stream.enabled", EventType::StreamUpdated),
            ("video.live_stream.disabled", EventType::StreamUpdated),
            ("video.live_stream.deleted", EventType::StreamDeleted),
            (
                "video.live_stream.simulcast_target.created",
                EventType::StreamUpdated,
            ),
            (
                "video.live_stream.simulcast_target.starting",
                EventType::StreamUpdated,
            ),
            (
                "video.live_stream.simulcast_target.updated",
                EventType::StreamUpdated,
            ),
            (
                "video.live_stream.simulcast_target.deleted",
                EventType::StreamUpdated,
            ),
            (
                "video.live_stream.simulcast_target.idle",
                EventType::RestreamStopped,
            ),
            (
                "video.live_stream.simulcast_target.errored",
                EventType::RestreamFailed,
            ),
            ("video.asset.created", EventType::VodCreated),
            ("video.asset.ready", EventType::VodTranscoded),
            ("video.asset.errored", EventType::VodFailed),
            ("video.asset.updated", EventType::VodUpdated),
            ("video.asset.deleted", EventType::VodDeleted),
            ("video.asset.warning", EventType::VodUpdated),
            (
                "video.asset.non_standard_input_detected",
                EventType::VodUpdated,
            ),
            ("video.asset.static_renditions.ready", EventType::VodUpdated),
            ("video.asset.static_rendition.ready", EventType::VodUpdated),
            ("video.asset.master.ready", EventType::VodUpdated),
            ("video.asset.track.errored", EventType::VodUpdated),
            ("video.upload.asset_created", EventType::VodUploaded),
            ("video.upload.errored", EventType::VodFailed),
            ("video.upload.created", EventType::VodUpdated),
            ("video.upload.cancelled", EventType::VodUpdated),
        ] {
            assert_eq!(event_type(event), expected, "{event}");
        }
        let ready = deliver(&sample("video.asset.ready")).unwrap();
        let event = &ready.events[0].event;
        assert_eq!(event.event_type, EventType::VodTranscoded);
        assert_eq!(
            event.subject,
            "mux/lLZmxxc3kVdpZ016d1ZcwRo6LtV01q3XR2B01HQZDeuvEg"
        );
        let warning = deliver(&sample("video.live_stream.warning")).unwrap();
        assert_eq!(
            warning.events[0].event.data.error_message.as_deref(),
            Some(
                "The input stream's video bitrate is higher than Mux recommends for this resolution."
            )
        );
        let errored = br#"{"type":"video.asset.errored","object":{"type":"asset","id":"a1"},"id":"e-errored","data":{"id":"a1","status":"errored","errors":{"type":"invalid_input","messages":["The file is not a video.","No audio."]}},"created_at":"2026-01-01T00:00:00Z"}"#;
        assert_eq!(
            deliver(errored).unwrap().events[0]
                .event
                .data
                .error_message
                .as_deref(),
            Some("The file is not a video.; No audio.")
        );
    }

    #[test]
    fn publishing_credentials_are_never_published() {
        for (name, secrets) in [
            (
                "video.live_stream.warning",
                &["a8b7c6d5-e4f3", "Vb9zXq2LmN4pR7sT1uW3yA5c"][..],
            ),
            (
                "video.live_stream.simulcast_target.broadcasting",
                &["live_123456789_AbCdEf", "rtmp://live.twitch.tv"][..],
            ),
            (
                "video.live_stream.active",
                &[
                    "a8b7c6d5-e4f3",
                    "live_987654321_ZyXw",
                    "srt://srt.example.com",
                ][..],
            ),
        ] {
            let d = deliver(&sample(name)).unwrap();
            let published = serde_json::to_string(&d.events[0].event).unwrap();
            for secret in secrets {
                assert!(!published.contains(secret), "{name}: {published}");
            }
        }
    }

    #[test]
    fn the_stream_key_is_never_published() {
        let body = sample("video.live_stream.active");
        assert!(String::from_utf8_lossy(&body).contains("stream_key"));
        let d = deliver(&body).unwrap();
        let published = serde_json::to_string(&d.events[0].event).unwrap();
        assert!(!published.contains("a8b7c6d5-e4f3"), "{published}");
        assert!(published.contains("playback_ids"));
    }
}
