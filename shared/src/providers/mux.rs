//! Mux Video webhooks: `{"type", "id", "created_at" (RFC 3339), "object":
//! {"type", "id"}, "data": {…the live stream or asset…}}`.
//!
//! Proven by `Mux-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, t + "."
//! + body)>` (see [`crate::proof`]), `t` within 5 minutes as Mux's SDKs
//! check. The key is the event's `id`, the same on every resend.

use std::time::Duration;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::imitate::stamp::{TimeField, Unit, refresh_times};
use super::{AuthScheme, Delivery, Deployment, Identity, Imitate, Provider, Sending, single};
use crate::auth::Verifier;
use crate::error::Rejection;
use crate::event::{EventData, EventType, FileInfo, parse_rfc3339};
use crate::inbound::Inbound;
use crate::json::{Fields, object_without_nested, parse_object};
use crate::key;
use crate::proof::{
    Algorithm, Encoding, Layout, Part, Proof, Scheme, Signature, TimeFormat, Timestamp,
    TimestampSource,
};

/// Mux webhook adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mux;

const NAME: &str = "mux";

/// `Mux-Signature`, as Mux documents it and `@mux/mux-node` verifies it.
pub static PROOF: Proof = Proof {
    secret_variable: "LIVEHOOK_MUX_SECRET",
    secret_about: "Mux webhook signing secret(s) (Settings, Webhooks, Show Signing Secret), comma-separated for rotation",
    schemes: &[Scheme::Signature(Signature {
        header: "mux-signature",
        layout: Layout::Pairs {
            timestamp: "t",
            signature: "v1",
        },
        algorithm: Algorithm::HmacSha256,
        encoding: Encoding::Hex,
        message: &[Part::Timestamp, Part::Text("."), Part::Body],
        timestamp: Some(Timestamp {
            source: TimestampSource::Pair,
            format: TimeFormat::UnixSeconds,
        }),
    })],
    tolerance: Duration::from_secs(300),
};

/// A live stream's `stream_key` lets anyone publish to it.
const NESTED_SECRETS: &[(&str, &str)] = &[("data", "stream_key")];

impl Provider for Mux {
    fn name(&self) -> &'static str {
        NAME
    }

    fn auth_scheme(&self) -> AuthScheme {
        AuthScheme::Signed(&PROOF)
    }

    fn nested_secret_fields(&self) -> &'static [(&'static str, &'static str)] {
        NESTED_SECRETS
    }

    fn deployment(&self) -> Deployment {
        Deployment {
            console: "Mux dashboard, Settings, Webhooks URL (per environment)",
            settings: &[],
            own_settings: &[],
        }
    }

    /// The proof was checked by the gate over these bytes.
    fn accept(&self, inbound: &Inbound<'_>, _verifier: &Verifier) -> Result<Delivery, Rejection> {
        let body = parse_object(inbound.body)?;
        let f = Fields(&body);
        let event = f.required_text("type")?;
        let event_type = match event.as_str() {
            "video.live_stream.active" => EventType::StreamStarted,
            "video.live_stream.idle" => EventType::StreamStopped,
            "video.live_stream.connected" => EventType::ConnectionOpened,
            "video.live_stream.disconnected" => EventType::ConnectionClosed,
            "video.live_stream.recording" => EventType::RecordingStarted,
            "video.asset.live_stream_completed" => EventType::RecordingReady,
            "video.asset.ready" => EventType::VodTranscoded,
            _ => EventType::Unrecognized,
        };
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
        let normalized = EventData {
            provider_event: event,
            stream: stream.clone(),
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
}

impl Imitate for Mux {
    fn sending(&self) -> Sending {
        Sending {
            // Mux retries for up to 24 hours until it gets a 2xx.
            resends: true,
            ..Sending::DEFAULT
        }
    }

    fn prepare(
        &self,
        body: &mut Map<String, Value>,
        _secret: Option<&str>,
        now: OffsetDateTime,
        _attempt: u32,
    ) {
        refresh_times(body, TIME_FIELDS, now);
    }

    fn synthetic(&self, stream: &str, nonce: &str) -> (&'static str, Map<String, Value>) {
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

/// Mux's own time of the event.
const TIME_FIELDS: &[TimeField] = &[(&["created_at"], Unit::Rfc3339)];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::testing::{
        SIGNING, deliver_signed, now, signed_headers, signed_platform_contract,
    };

    fn sample(name: &str) -> Vec<u8> {
        let path = format!("{}/../events/mux/{name}.json", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(path)
            .unwrap()
            .trim_end()
            .as_bytes()
            .to_vec()
    }

    fn deliver(body: &[u8]) -> Result<Delivery, Rejection> {
        let headers = signed_headers(&Mux, SIGNING[0], body, now(), &[]);
        deliver_signed(&Mux, "POST", "/mux", &headers, body)
    }

    #[test]
    fn keeps_the_signed_platform_contract() {
        let unknown = br#"{"type":"video.upload.created","object":{"type":"upload","id":"u1"},"id":"e-unknown","data":{"id":"u1"},"created_at":"2026-01-01T00:00:00Z"}"#;
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
    fn the_stream_key_is_never_published() {
        let body = sample("video.live_stream.active");
        assert!(String::from_utf8_lossy(&body).contains("stream_key"));
        let d = deliver(&body).unwrap();
        let published = serde_json::to_string(&d.events[0].event).unwrap();
        assert!(!published.contains("a8b7c6d5-e4f3"), "{published}");
        assert!(published.contains("playback_ids"));
    }
}
