//! Cloudflare Stream: two kinds of deliveries arrive at one route.
//!
//! - Stream's video webhooks (`PUT /accounts/{id}/stream/webhook`): the
//!   video object (`uid`, `status.state`, `readyToStream`, `liveInput` for a
//!   live recording, `modified`), sent when a video is ready or failed, and
//!   signed `Webhook-Signature: time=<unix s>,sig1=<hex HMAC-SHA256(secret,
//!   time + "." + body)>` with the secret the API returned.
//! - Stream Live's input notifications, sent by Cloudflare Notifications
//!   to a webhook destination: `{"name", "text", "data": {"input_id",
//!   "event_type", "updated_at"}, "ts"}` (`live_input.connected`,
//!   `disconnected`, or `errored` with `data.live_input_errored.error`'s
//!   `code` and `message`). These carry no signature: the
//!   destination's secret comes back as is in `cf-webhook-auth`, so it
//!   proves the sender but not the body.
//!
//! Both secrets go in the one comma list (`LIVEHOOK_CLOUDFLARE_SECRET`):
//! every entry is tried by both schemes.

use std::time::Duration;

use serde_json::{Map, Value};

use super::imitate::stamp::{TimeField, Unit};
use super::signed::Signed;
use super::{Delivery, Identity, single};
use crate::error::Rejection;
use crate::event::{EventData, EventType, FileInfo, from_unix_seconds, parse_rfc3339};
use crate::inbound::Inbound;
use crate::json::Fields;
use crate::key;
use crate::proof::{Proof, Scheme, Signature};

/// Cloudflare Stream adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cloudflare;

const NAME: &str = "cloudflare";

/// Stream's `Webhook-Signature` (its "Verify webhook signatures" steps:
/// `time` within 5 minutes is the document's suggestion), then the
/// notification destination's `cf-webhook-auth`.
pub static PROOF: Proof = Proof {
    secret_variable: "LIVEHOOK_CLOUDFLARE_SECRET",
    secret_about: "Cloudflare Stream webhook secret (returned by PUT /accounts/{id}/stream/webhook) and the Notifications webhook destination's secret, comma-separated (and for rotation)",
    schemes: &[
        Scheme::Signature(Signature::timestamped_pairs(
            "webhook-signature",
            "time",
            "sig1",
        )),
        Scheme::SecretHeader("cf-webhook-auth"),
    ],
    tolerance: Duration::from_secs(300),
};

impl Signed for Cloudflare {
    const NAME: &'static str = NAME;
    const PROOF: &'static Proof = &PROOF;
    const CONSOLE: &'static str = "Cloudflare Stream webhook notificationUrl (PUT /accounts/{id}/stream/webhook) and Notifications webhook destination for Stream Live";
    // Both Stream and Notifications retry a failed delivery: the default sending.
    const TIME_FIELDS: &'static [TimeField] = TIME_FIELDS;

    fn normalize(&self, inbound: &Inbound<'_>, f: Fields<'_>) -> Result<Delivery, Rejection> {
        // A notification has its `data`; a video is the video object itself.
        if f.0.contains_key("data") {
            live_input(inbound, f, f.object("data"))
        } else {
            video(inbound, f)
        }
    }

    fn synthetic_body(&self, stream: &str, nonce: &str) -> (&'static str, Map<String, Value>) {
        let body = serde_json::json!({
            "name": "livehook check",
            "text": format!("Notification type: Stream Live Input\nInput ID: {stream}"),
            "data": {
                "notification_name": "Stream Live Input",
                "input_id": stream,
                "event_type": "live_input.connected",
                "updated_at": "1970-01-01T00:00:00Z",
            },
            "ts": 0,
            "livehook_check": nonce,
        });
        ("live_input.connected", super::into_map(body))
    }
}

/// A Stream Live input notification (Cloudflare Notifications).
fn live_input(
    inbound: &Inbound<'_>,
    f: Fields<'_>,
    data: Option<Fields<'_>>,
) -> Result<Delivery, Rejection> {
    let text = |name: &str| data.and_then(|d| d.text(name));
    let event = text("event_type").unwrap_or_default();
    let event_type = match event.as_str() {
        "live_input.connected" => EventType::StreamStarted,
        "live_input.disconnected" => EventType::StreamStopped,
        "live_input.errored" => EventType::StreamErrored,
        _ => EventType::Unrecognized,
    };
    // An errored input's `{"error": {"code", "message"}, "video_codec", …}`.
    let error = data
        .and_then(|d| d.object("live_input_errored"))
        .and_then(|e| e.object("error"));
    let input = text("input_id");
    let updated = text("updated_at");
    let time = updated
        .as_deref()
        .and_then(parse_rfc3339)
        .or_else(|| f.int("ts").and_then(from_unix_seconds));
    // Input, event and its time: a resend is the same notification.
    let event_key = key::derive(
        NAME,
        &[
            input.as_deref().unwrap_or("").as_bytes(),
            event.as_bytes(),
            updated
                .or_else(|| f.text("ts"))
                .unwrap_or_default()
                .as_bytes(),
        ],
    );
    let normalized = EventData {
        provider_event: event,
        stream: input.clone(),
        error_message: error.and_then(|e| e.text_any(&["message", "code"])),
        raw: super::raw_json(inbound.body)?,
        ..EventData::default()
    };
    let identity = match input {
        Some(input) => Identity::Stream(input),
        None => Identity::Other(f.text("name").unwrap_or_else(|| "unknown".to_owned())),
    };
    Ok(single(
        NAME, inbound, event_key, event_type, identity, time, normalized,
    ))
}

/// A Stream video webhook: the video, ready or failed.
fn video(inbound: &Inbound<'_>, f: Fields<'_>) -> Result<Delivery, Rejection> {
    let uid = f.required_text("uid")?;
    let state = f
        .object("status")
        .and_then(|s| s.text("state"))
        .unwrap_or_default();
    let live_input = f.text("liveInput");
    let event_type = match (state.as_str(), &live_input) {
        ("ready", Some(_)) => EventType::RecordingReady,
        ("ready", None) => EventType::VodTranscoded,
        ("error", _) => EventType::VodFailed,
        _ => EventType::Unrecognized,
    };
    let status = f.object("status");
    let normalized = EventData {
        provider_event: format!("video.{state}"),
        stream: live_input.clone(),
        error_message: status.and_then(|s| s.text("errorReasonText")),
        file: Some(FileInfo {
            id: Some(uid.clone()),
            url: f.object("playback").and_then(|p| p.text("hls")),
            size_bytes: f.int("size").and_then(|s| u64::try_from(s).ok()),
            duration_seconds: f.float("duration").filter(|d| *d >= 0.0),
            ..FileInfo::default()
        }),
        snapshot_url: f.text("thumbnail"),
        raw: super::raw_json(inbound.body)?,
        ..EventData::default()
    };
    let identity = match live_input {
        Some(input) => Identity::Stream(input),
        None => Identity::Other(uid.clone()),
    };
    Ok(single(
        NAME,
        inbound,
        // The video and the state it reached: Stream notifies each once.
        key::derive(NAME, &[uid.as_bytes(), state.as_bytes()]),
        event_type,
        identity,
        f.text("modified").as_deref().and_then(parse_rfc3339),
        normalized,
    ))
}

/// Cloudflare's own times of the event.
const TIME_FIELDS: &[TimeField] = &[
    (&["modified"], Unit::Rfc3339),
    (&["data", "updated_at"], Unit::Rfc3339),
    (&["ts"], Unit::Seconds),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AuthFailure;
    use crate::providers::testing::{
        SIGNING, WRONG_SIGNING, deliver_signed, signed_headers, signed_platform_contract,
    };

    fn sample(name: &str) -> Vec<u8> {
        crate::providers::testing::sample(&Cloudflare, name)
    }

    fn deliver(body: &[u8]) -> Result<Delivery, Rejection> {
        crate::providers::testing::deliver_signed_body(&Cloudflare, body)
    }

    fn notify(secret: &str, body: &[u8]) -> Result<Delivery, Rejection> {
        let headers = [("cf-webhook-auth".to_owned(), secret.to_owned())];
        deliver_signed(&Cloudflare, "POST", "/cloudflare", &headers, body)
    }

    #[test]
    fn keeps_the_signed_platform_contract() {
        let unknown =
            br#"{"uid":"u1","status":{"state":"pendingupload"},"modified":"2026-01-01T00:00:00Z"}"#;
        signed_platform_contract(
            &Cloudflare,
            "/cloudflare",
            &[],
            &sample("video.ready"),
            unknown,
        );
    }

    #[test]
    fn a_signature_computed_outside_livehook_is_accepted() {
        // Stream publishes no example header with its body, so this is the
        // document's algorithm over the sample, computed with Python's hmac:
        // HMAC-SHA256("key-old:signing-old", "1230811200." + body).
        let body = sample("video.ready");
        let header =
            "time=1230811200,sig1=540ea8fadac7f6a14d4f6fcc13a46b1e4c4c03194aac30648a6b7a3baf18ba8c";
        let at = time::OffsetDateTime::from_unix_timestamp(1_230_811_200).unwrap();
        assert_eq!(
            signed_headers(&Cloudflare, SIGNING[0], &body, at, &[]),
            [("webhook-signature".to_owned(), header.to_owned())]
        );
    }

    #[test]
    fn samples_map_to_the_catalog() {
        for (name, expected, subject) in [
            (
                "video.ready",
                EventType::VodTranscoded,
                "cloudflare/6b9e68b07dfee8cc2d116e4c51d6a957",
            ),
            (
                "video.ready.live-recording",
                EventType::RecordingReady,
                "cloudflare/eb222fcca08eeb1ae84c981ebe8aeeb6",
            ),
            (
                "video.error",
                EventType::VodFailed,
                "cloudflare/dd5d531a12de0c724bd1275a3b2bc9c6",
            ),
        ] {
            let d = deliver(&sample(name)).unwrap_or_else(|r| panic!("{name}: {r:?}"));
            let event = &d.events[0].event;
            assert_eq!(event.event_type, expected, "{name}");
            assert_eq!(event.subject, subject, "{name}");
        }
        let d = deliver(&sample("video.ready")).unwrap();
        assert_eq!(d.events[0].event.time, "2022-06-30T17:53:21.774299Z");
        assert_eq!(
            d.key,
            key::derive(NAME, &[b"6b9e68b07dfee8cc2d116e4c51d6a957", b"ready"])
        );
        let error = deliver(&sample("video.error")).unwrap();
        assert_eq!(
            error.events[0].event.data.error_message.as_deref(),
            Some("The upload is not a video.")
        );
    }

    #[test]
    fn live_input_notifications_carry_the_destination_secret() {
        let (_, secret) = SIGNING[1].split_once(':').unwrap();
        let connected = notify(SIGNING[1], &sample("live_input.connected")).unwrap();
        let event = &connected.events[0].event;
        assert_eq!(event.event_type, EventType::StreamStarted);
        assert_eq!(event.subject, "cloudflare/eb222fcca08eeb1ae84c981ebe8aeeb6");
        assert_eq!(event.time, "2022-01-13T11:30:01.220184317Z");
        let disconnected = notify(SIGNING[0], &sample("live_input.disconnected")).unwrap();
        assert_eq!(
            disconnected.events[0].event.event_type,
            EventType::StreamStopped
        );
        assert_ne!(connected.key, disconnected.key);
        // A resend is the same notification.
        let again = notify(SIGNING[0], &sample("live_input.connected")).unwrap();
        assert_eq!(again.key, connected.key);
        assert!(!serde_json::to_string(event).unwrap().contains(secret));

        let errored = notify(SIGNING[0], &sample("live_input.errored")).unwrap();
        let event = &errored.events[0].event;
        assert_eq!(event.event_type, EventType::StreamErrored);
        assert_eq!(event.subject, "cloudflare/eb222fcca08eeb1ae84c981ebe8aeeb6");
        assert_eq!(event.time, "2024-07-09T18:07:51.077371662Z");
        assert_eq!(
            event.data.error_message.as_deref(),
            Some("Input GOP size or keyframe interval is out of range.")
        );
        let unknown = br#"{"name":"n","text":"t","data":{"input_id":"i1","event_type":"live_input.renamed","updated_at":"2026-01-01T00:00:00Z"},"ts":1}"#;
        assert_eq!(
            notify(SIGNING[0], unknown).unwrap().event_type(),
            EventType::Unrecognized
        );
        for wrong in [WRONG_SIGNING, "", "signing-old"] {
            assert!(
                matches!(
                    notify(wrong, &sample("live_input.connected")),
                    Err(Rejection::Unauthenticated(AuthFailure::BadSignature))
                ),
                "{wrong:?}"
            );
        }
    }
}
