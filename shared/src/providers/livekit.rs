//! LiveKit webhooks: a `WebhookEvent` in protobuf JSON (`event`, `id`,
//! `createdAt` in Unix seconds as a string, and the `room`, `participant`,
//! `track`, `egressInfo` or `ingressInfo` it concerns), POSTed as
//! `application/webhook+json`.
//!
//! Proven by the `Authorization` header: an HS256 JWT whose `iss` is the API
//! key, signed with its secret, with the body's SHA-256 in its `sha256`
//! claim (see [`crate::proof`]). The key is the event's `id`, the same on
//! every resend.

use std::time::Duration;

use serde_json::{Map, Value};

use super::imitate::stamp::{TimeField, Unit};
use super::signed::Signed;
use super::{Delivery, Identity, Sending, single};
use crate::error::Rejection;
use crate::event::{EventData, EventType, FileInfo, from_unix_seconds};
use crate::inbound::Inbound;
use crate::json::{Fields, object_without_nested};
use crate::key;
use crate::proof::{Proof, Scheme};

/// LiveKit webhook adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct LiveKit;

const NAME: &str = "livekit";

/// The JWT of LiveKit's webhooks; its SDKs allow a minute's leeway past
/// `exp` (the token is valid 5 minutes from sending).
pub static PROOF: Proof = Proof {
    secret_variable: "LIVEHOOK_LIVEKIT_SECRET",
    secret_about: "LiveKit API key and secret as APIKEY:SECRET (the key that signs the webhooks), comma-separated for rotation",
    schemes: &[Scheme::BodyHashJwt],
    tolerance: Duration::from_secs(60),
};

/// Secrets inside LiveKit's objects: the room's TURN password (older
/// servers) and an ingress's stream key, which would let anyone publish.
const NESTED_SECRETS: &[(&str, &str)] = &[("room", "turnPassword"), ("ingressInfo", "streamKey")];

impl Signed for LiveKit {
    const NAME: &'static str = NAME;
    const PROOF: &'static Proof = &PROOF;
    const CONSOLE: &'static str =
        "LiveKit Cloud project settings, Webhooks (self-hosted: webhook.urls in livekit.yaml) URL";
    const NESTED_SECRETS: &'static [(&'static str, &'static str)] = NESTED_SECRETS;
    // LiveKit retries a failed delivery (its SDK warns of duplicates).
    const SENDING: Sending = Sending {
        headers: &[("content-type", "application/webhook+json")],
        ..Sending::DEFAULT
    };
    /// `createdAt`: Unix seconds, as LiveKit writes it (a string).
    const TIME_FIELDS: &'static [TimeField] = &[(&["createdAt"], Unit::Seconds)];

    fn normalize(&self, inbound: &Inbound<'_>, f: Fields<'_>) -> Result<Delivery, Rejection> {
        let event = f.required_text("event")?;
        let egress = f.object("egressInfo");
        let egress_status = egress.and_then(|e| e.text("status"));
        let event_type = match event.as_str() {
            "room_started" | "ingress_started" => EventType::StreamStarted,
            "ingress_ended" => EventType::StreamStopped,
            "room_finished" => EventType::StreamEnded,
            "participant_joined" => EventType::ConnectionOpened,
            "participant_left" | "participant_connection_aborted" => EventType::ConnectionClosed,
            "egress_started" => EventType::RecordingStarted,
            // An egress that ended failed or aborted wrote no usable file.
            "egress_ended"
                if matches!(
                    egress_status.as_deref(),
                    Some("EGRESS_FAILED" | "EGRESS_ABORTED")
                ) =>
            {
                EventType::RecordingFailed
            }
            "egress_ended" => EventType::RecordingEnded,
            "egress_updated" => EventType::RecordingUpdated,
            "track_published" => EventType::TrackPublished,
            "track_unpublished" => EventType::TrackUnpublished,
            _ => EventType::Unrecognized,
        };
        let room = f.object("room");
        let participant = f.object("participant");
        let ingress = f.object("ingressInfo");
        let room_name = room
            .and_then(|r| r.text("name"))
            .or_else(|| egress.and_then(|e| e.text("roomName")))
            .or_else(|| ingress.and_then(|i| i.text("roomName")));
        // Servers before the event `id` existed: the body itself, which
        // LiveKit resends unchanged.
        let event_key = match f.text("id") {
            Some(id) => key::derive(NAME, &[id.as_bytes()]),
            None => key::derive(NAME, &[b"body", inbound.body]),
        };
        let file = egress.and_then(egress_file);
        let data = EventData {
            provider_event: event.clone(),
            stream: room_name.clone(),
            room_id: room.and_then(|r| r.text("sid")),
            session_id: participant
                .and_then(|p| p.text("sid"))
                .or_else(|| egress.and_then(|e| e.text("egressId")))
                .or_else(|| ingress.and_then(|i| i.text("ingressId"))),
            name: participant
                .and_then(|p| p.text("identity"))
                .or_else(|| ingress.and_then(|i| i.text("name"))),
            url: ingress.and_then(|i| i.text("url")),
            error_message: egress.and_then(|e| e.text("error")),
            file,
            raw: object_without_nested(inbound.body, NESTED_SECRETS)?,
            ..EventData::default()
        };
        let identity = match room_name {
            Some(room) => Identity::Stream(room),
            None => Identity::Other(
                data.session_id
                    .clone()
                    .unwrap_or_else(|| "unknown".to_owned()),
            ),
        };
        Ok(single(
            NAME,
            inbound,
            event_key,
            event_type,
            identity,
            f.int("createdAt").and_then(from_unix_seconds),
            data,
        ))
    }

    fn synthetic_body(&self, stream: &str, nonce: &str) -> (&'static str, Map<String, Value>) {
        let body = serde_json::json!({
            "event": "room_started",
            "room": {"sid": format!("RM_{nonce}"), "name": stream, "emptyTimeout": 300, "creationTime": "0"},
            "id": format!("EV_{nonce}"),
            "createdAt": "0",
            "livehook_check": nonce,
        });
        ("room_started", super::into_map(body))
    }
}

/// The file an egress wrote (`fileResults`, or the older `file`).
fn egress_file(egress: Fields<'_>) -> Option<FileInfo> {
    let file = egress
        .get("fileResults")
        .and_then(Value::as_array)
        .and_then(|files| files.first())
        .and_then(Value::as_object)
        .map(Fields)
        .or_else(|| egress.object("file"))?;
    Some(FileInfo {
        path: file.text("filename"),
        url: file.text("location"),
        size_bytes: file.int("size").and_then(|s| u64::try_from(s).ok()),
        ..FileInfo::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AuthFailure;
    use crate::providers::testing::{
        SIGNING, deliver_signed, now, signed_headers, signed_platform_contract,
    };

    fn sample(name: &str) -> Vec<u8> {
        crate::providers::testing::sample(&LiveKit, name)
    }

    fn deliver(body: &[u8]) -> Result<Delivery, Rejection> {
        crate::providers::testing::deliver_signed_body(&LiveKit, body)
    }

    #[test]
    fn keeps_the_signed_platform_contract() {
        let unknown =
            br#"{"event":"room_metadata_changed","room":{"name":"r"},"id":"EV_1","createdAt":"1"}"#;
        signed_platform_contract(&LiveKit, "/livekit", &[], &sample("room_started"), unknown);
    }

    #[test]
    fn samples_map_to_the_catalog() {
        for (name, expected, subject) in [
            (
                "room_started",
                EventType::StreamStarted,
                "livekit/Demo Room",
            ),
            ("room_finished", EventType::StreamEnded, "livekit/Demo Room"),
            (
                "participant_joined",
                EventType::ConnectionOpened,
                "livekit/Demo Room",
            ),
            (
                "participant_left",
                EventType::ConnectionClosed,
                "livekit/Demo Room",
            ),
            (
                "egress_ended",
                EventType::RecordingEnded,
                "livekit/Demo Room",
            ),
            (
                "egress_updated",
                EventType::RecordingUpdated,
                "livekit/Demo Room",
            ),
            (
                "ingress_started",
                EventType::StreamStarted,
                "livekit/Demo Room",
            ),
            (
                "track_published",
                EventType::TrackPublished,
                "livekit/Demo Room",
            ),
        ] {
            let d = deliver(&sample(name)).unwrap_or_else(|r| panic!("{name}: {r:?}"));
            let event = &d.events[0].event;
            assert_eq!(event.event_type, expected, "{name}");
            assert_eq!(event.subject, subject, "{name}");
            assert_eq!(event.data.provider_event, name);
        }
        let d = deliver(&sample("room_started")).unwrap();
        assert_eq!(d.events[0].event.time, "2023-08-25T17:45:56Z");
        assert_eq!(d.key, key::derive(NAME, &[b"EV_eugWmGhovZmm"]));
        let d = deliver(&sample("egress_ended")).unwrap();
        let file = d.events[0].event.data.file.clone().unwrap();
        assert_eq!(file.size_bytes, Some(24_591_230));
        assert_eq!(file.path.as_deref(), Some("demo-room-2023-08-25.mp4"));
    }

    #[test]
    fn an_egress_that_ended_failed_is_a_failed_recording() {
        for (status, expected) in [
            ("EGRESS_FAILED", EventType::RecordingFailed),
            ("EGRESS_ABORTED", EventType::RecordingFailed),
            ("EGRESS_COMPLETE", EventType::RecordingEnded),
            ("EGRESS_LIMIT_REACHED", EventType::RecordingEnded),
        ] {
            let body = format!(
                r#"{{"event":"egress_ended","egressInfo":{{"egressId":"EG_1","roomName":"Demo Room","status":"{status}","error":"could not upload"}},"id":"EV_{status}","createdAt":"1692986101"}}"#
            );
            let d = deliver(body.as_bytes()).unwrap();
            assert_eq!(d.event_type(), expected, "{status}");
            assert_eq!(
                d.events[0].event.data.error_message.as_deref(),
                Some("could not upload")
            );
        }
    }

    #[test]
    fn nested_secrets_are_never_published() {
        for (name, secret) in [
            ("room_started", "2Pvdj+/WV1xV4EkB8klJ9xkXDWY="),
            ("ingress_started", "Zj3bLp9WxkQ2"),
        ] {
            let d = deliver(&sample(name)).unwrap();
            let published = serde_json::to_string(&d.events[0].event).unwrap();
            assert!(!published.contains(secret), "{published}");
            // Everything else of the object is kept.
            assert!(published.contains("Demo Room"));
        }
    }

    #[test]
    fn the_jwt_must_be_current_known_and_about_this_body() {
        let body = sample("room_started");
        let send = |headers: Vec<(String, String)>| {
            deliver_signed(&LiveKit, "POST", "/livekit", &headers, &body)
        };
        // Expired: signed 6 minutes ago, valid for 5, a minute's leeway.
        let old = now() - time::Duration::seconds(361);
        assert_eq!(
            send(signed_headers(&LiveKit, SIGNING[0], &body, old, &[])).unwrap_err(),
            Rejection::Unauthenticated(AuthFailure::Expired)
        );
        assert_eq!(
            send(signed_headers(
                &LiveKit,
                "key-unknown:signing-old",
                &body,
                now(),
                &[]
            ))
            .unwrap_err(),
            Rejection::Unauthenticated(AuthFailure::BadSignature)
        );
        let other = signed_headers(&LiveKit, SIGNING[0], b"{}", now(), &[]);
        assert_eq!(
            send(other).unwrap_err(),
            Rejection::Unauthenticated(AuthFailure::BodyHashMismatch)
        );
        // LiveKit's JavaScript SDK names the header `Authorize`.
        let mut renamed = signed_headers(&LiveKit, SIGNING[0], &body, now(), &[]);
        renamed[0].0 = "Authorize".to_owned();
        assert!(send(renamed).is_ok());
    }

    #[test]
    fn proof_comes_before_parsing() {
        // Not JSON, unsigned: 401, never 400.
        assert_eq!(
            deliver_signed(&LiveKit, "POST", "/livekit", &[], b"not json").unwrap_err(),
            Rejection::Unauthenticated(AuthFailure::MissingSignature)
        );
        assert!(matches!(deliver(b"not json"), Err(Rejection::Malformed(_))));
    }
}
