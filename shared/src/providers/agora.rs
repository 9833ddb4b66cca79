//! Agora Notifications (NCS): `{"noticeId", "productId", "eventType",
//! "notifyMs", "payload": {…}}`. RTC channel events are product 1
//! (`eventType` 101 channel created … 112 role changed to audience, the
//! time in `payload.ts`, seconds); Cloud Recording's are product 3 (1
//! `cloud_recording_error` … 1001 `postpone_transcode_final_result`, named
//! in `payload.details.msgName`, the time in `payload.sendts`, ms).
//!
//! Proven by `Agora-Signature-V2`: hex HMAC-SHA256(secret, body), or, only
//! when V2 is absent, `Agora-Signature`: hex HMAC-SHA1 (see
//! [`crate::proof`]). Nothing time-bound is signed: the replay window
//! (against `payload.ts`) is what refuses an old delivery. The key is
//! `noticeId`, stable across resends (`notifyMs` is not).

use std::time::Duration;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::imitate::stamp::{TimeField, Unit, refresh_times};
use super::signed::Signed;
use super::{Delivery, Identity, single};
use crate::error::Rejection;
use crate::event::{EventData, EventType, FileInfo, from_unix_millis, from_unix_seconds};
use crate::inbound::Inbound;
use crate::json::Fields;
use crate::key;
use crate::proof::{Algorithm, Encoding, Layout, Part, Proof, Scheme, Signature};

/// Agora NCS adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Agora;

const NAME: &str = "agora";

/// Agora's two signatures over the body, SHA-256 preferred.
pub static PROOF: Proof = Proof {
    secret_variable: "LIVEHOOK_AGORA_SECRET",
    secret_about: "Agora NCS secret(s) (Console, Notifications: the secret shown for the callback), comma-separated for rotation",
    schemes: &[
        Scheme::Signature(Signature {
            header: "agora-signature-v2",
            layout: Layout::Whole { prefix: "" },
            algorithm: Algorithm::HmacSha256,
            encoding: Encoding::Hex,
            message: &[Part::Body],
            timestamp: None,
        }),
        Scheme::Signature(Signature {
            header: "agora-signature",
            layout: Layout::Whole { prefix: "" },
            algorithm: Algorithm::HmacSha1,
            encoding: Encoding::Hex,
            message: &[Part::Body],
            timestamp: None,
        }),
    ],
    tolerance: Duration::ZERO,
};

/// The RTC channel events (product 1).
const RTC: i64 = 1;

/// Cloud Recording's events (product 3).
const CLOUD_RECORDING: i64 = 3;

impl Signed for Agora {
    const NAME: &'static str = NAME;
    const PROOF: &'static Proof = &PROOF;
    const CONSOLE: &'static str = "Agora Console, Notifications (NCS) event callback URL";
    // Agora resends at once, then at growing intervals, three times: the
    // default sending.
    const TIME_FIELDS: &'static [TimeField] = &[
        (&["payload", "ts"], Unit::Seconds),
        (&["payload", "sendts"], Unit::Millis),
    ];

    fn normalize(&self, inbound: &Inbound<'_>, f: Fields<'_>) -> Result<Delivery, Rejection> {
        let notice = f.required_text("noticeId")?;
        let product = f.int("productId");
        let event = f.int("eventType");
        let payload = f.object("payload");
        let details = payload.and_then(|p| p.object("details"));
        let event_type = match (product, event) {
            (Some(RTC), Some(event)) => channel_event(event),
            (Some(CLOUD_RECORDING), Some(event)) => recording_event(event, details),
            _ => EventType::Unrecognized,
        };
        let channel = payload.and_then(|p| p.text_any(&["channelName", "cname"]));
        let recording = product == Some(CLOUD_RECORDING);
        let data = EventData {
            provider_event: format!(
                "{}/{}",
                product.map_or_else(String::new, |p| p.to_string()),
                event.map_or_else(String::new, |e| e.to_string())
            ),
            stream: channel.clone(),
            // A recording is its `sid`; a channel event's user its `uid`.
            session_id: payload.and_then(|p| {
                if recording {
                    p.text_any(&["sid", "uid"])
                } else {
                    p.text_any(&["uid", "sid"])
                }
            }),
            error_code: details.and_then(|d| d.int("errorCode")),
            error_message: details.and_then(|d| d.text("errorMsg")),
            file: details.and_then(recording_file),
            raw: super::raw_json(inbound.body)?,
            ..EventData::default()
        };
        let identity = match channel {
            Some(channel) => Identity::Stream(channel),
            None => Identity::Other(notice.clone()),
        };
        let time = payload
            .and_then(|p| {
                p.int("ts")
                    .and_then(from_unix_seconds)
                    .or_else(|| p.int("sendts").and_then(from_unix_millis))
            })
            .or_else(|| f.int("notifyMs").and_then(from_unix_millis));
        Ok(single(
            NAME,
            inbound,
            key::derive(NAME, &[notice.as_bytes()]),
            event_type,
            identity,
            time,
            data,
        ))
    }

    /// The event's own time ([`Signed::TIME_FIELDS`]) and `notifyMs`, the
    /// send time, new on every resend.
    fn refresh(&self, body: &mut Map<String, Value>, now: OffsetDateTime, attempt: u32) {
        refresh_times(body, Self::TIME_FIELDS, now);
        let millis = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        body.insert(
            "notifyMs".to_owned(),
            Value::from(millis + i64::from(attempt) * 1000),
        );
    }

    fn synthetic_body(&self, stream: &str, nonce: &str) -> (&'static str, Map<String, Value>) {
        let body = serde_json::json!({
            "noticeId": format!("livehook-check-{nonce}"), "productId": RTC, "eventType": 101, "notifyMs": 0,
            "payload": {"channelName": stream, "ts": 0},
        });
        ("channel_create", super::into_map(body))
    }
}

/// An RTC channel event (product 1).
fn channel_event(event: i64) -> EventType {
    match event {
        101 => EventType::StreamStarted,
        102 => EventType::StreamEnded,
        // 103/104 a host in a live-broadcast channel, 107/108 a user in a
        // communication channel.
        103 | 107 => EventType::ConnectionOpened,
        104 | 108 => EventType::ConnectionClosed,
        105 => EventType::PlaybackStarted,
        106 => EventType::PlaybackStopped,
        111 | 112 => EventType::ConnectionRoleChanged,
        _ => EventType::Unrecognized,
    }
}

/// A Cloud Recording event (product 3), by its `eventType` and, where the
/// outcome is in them, its `details`.
fn recording_event(event: i64, details: Option<Fields<'_>>) -> EventType {
    let detail = |name: &str| details.and_then(|d| d.text(name));
    match event {
        // cloud_recording_error, download_failed.
        1 | 90 => EventType::RecordingFailed,
        // session_exit: 1 (`exitStatus`, `leaveStatus` in older documents)
        // is an abnormal exit.
        11 if details.and_then(|d| d.int("exitStatus").or_else(|| d.int("leaveStatus")))
            == Some(1) =>
        {
            EventType::RecordingFailed
        }
        // The M3U8 playlist is created (only its first upload is notified).
        4 => EventType::RecordingFileOpened,
        // recorder_started, web_recorder_started.
        40 | 70 => EventType::RecordingStarted,
        // recorder_leave, web_recorder_stopped.
        41 | 71 => EventType::RecordingEnded,
        // uploaded; backuped (uploaded, some of it through Agora's backup,
        // which forwards it to your storage).
        31 | 32 => EventType::RecordingReady,
        // vod_triggered: every file is in ApsaraVideo VOD.
        61 => EventType::VodUploaded,
        // postpone_transcode_final_result.
        1001 if detail("result").as_deref() == Some("failed") => EventType::RecordingFailed,
        1001 => EventType::VodTranscoded,
        // Warnings, status, session exit and failover, uploader start and
        // progress, slices, stream states, VOD start, web-page limits, a
        // transcoding run.
        2 | 3 | 11 | 12 | 30 | 33 | 42 | 43 | 44 | 60 | 72 | 80 | 81 => EventType::RecordingUpdated,
        _ => EventType::Unrecognized,
    }
}

/// The file a recording notice names: the first of `fileList` (an array of
/// `{fileName, …}` in `uploaded`, a playlist's name in
/// `cloud_recording_file_infos`).
fn recording_file(details: Fields<'_>) -> Option<FileInfo> {
    let name = match details.get("fileList")? {
        Value::Array(files) => files
            .first()
            .and_then(Value::as_object)
            .map(Fields)
            // The document's examples write `fileName`, its field list `filename`.
            .and_then(|f| f.text_any(&["fileName", "filename"])),
        _ => details.text("fileList"),
    }?;
    Some(FileInfo {
        format: super::file_extension(&name),
        path: Some(name),
        ..FileInfo::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::testing::{now, signed_platform_contract};

    const CREATED: &[u8] = br#"{"noticeId":"2000001428:4330:107","productId":1,"eventType":101,"notifyMs":1611566412672,"payload":{"channelName":"test_webhook","ts":1611566412}}"#;

    #[test]
    fn keeps_the_signed_platform_contract() {
        let unknown = br#"{"noticeId":"n-unknown","productId":3,"eventType":999,"notifyMs":1611566412672,"payload":{"cname":"c"}}"#;
        signed_platform_contract(&Agora, "/agora", &[], CREATED, unknown);
    }

    #[test]
    fn agoras_documented_vector_passes_this_proof() {
        // Agora's signature-verification page: secret `secret`, this body, both signatures.
        let body = br#"{"eventType":10,"noticeId":"4eb720f0-8da7-11e9-a43e-53f411c2761f","notifyMs":1560408533119,"payload":{"a":"1","b":2},"productId":1}"#;
        for (header, signature) in [
            (
                "agora-signature-v2",
                "de96da5acf03b0021ac3b4fa2225e7ae6f3533a30d50bb02c08ea4fa748bda24",
            ),
            (
                "agora-signature",
                "5a3bb6a6d9fad2ea9ae3fb707a14c9d7f3136df1",
            ),
        ] {
            let mut headers = lambda_http::http::HeaderMap::new();
            headers.insert(header, signature.parse().unwrap());
            let inbound = Inbound {
                path: "/agora",
                query: "",
                headers: &headers,
                body,
                received_at: now(),
                request_id: "r",
                max_message_bytes: 262_144,
                settings: &crate::providers::settings::DEFAULTS,
            };
            let secrets = crate::proof::SigningSecrets::parse("secret");
            assert_eq!(
                crate::proof::verify(&PROOF, &secrets, PROOF.tolerance, &inbound),
                Ok(()),
                "{header}"
            );
        }
    }

    fn sample(name: &str) -> Vec<u8> {
        crate::providers::testing::sample(&Agora, name)
    }

    fn send(body: &[u8]) -> Delivery {
        crate::providers::testing::deliver_signed_body(&Agora, body).unwrap()
    }

    #[test]
    fn every_documented_event_has_a_type() {
        for (product, events) in [
            (RTC, &[101, 102, 103, 104, 105, 106, 107, 108, 111, 112][..]),
            (
                CLOUD_RECORDING,
                &[
                    1, 2, 3, 4, 11, 12, 30, 31, 32, 33, 40, 41, 42, 43, 44, 60, 61, 70, 71, 72, 80,
                    81, 90, 1001,
                ][..],
            ),
        ] {
            for event in events {
                let body = format!(
                    r#"{{"noticeId":"n-{product}-{event}","productId":{product},"eventType":{event},"payload":{{"cname":"c","sendts":1596555306257,"details":{{}}}}}}"#
                );
                assert_ne!(
                    send(body.as_bytes()).event_type(),
                    EventType::Unrecognized,
                    "{product}/{event}"
                );
            }
        }
    }

    #[test]
    fn recording_notices_map_to_the_catalog() {
        for (name, expected) in [
            ("recorder_started", EventType::RecordingStarted),
            ("uploading_progress", EventType::RecordingUpdated),
            ("recorder_leave", EventType::RecordingEnded),
            ("uploaded", EventType::RecordingReady),
            ("cloud_recording_error", EventType::RecordingFailed),
            ("user_join_communication", EventType::ConnectionOpened),
            (
                "client_role_change_to_broadcaster",
                EventType::ConnectionRoleChanged,
            ),
        ] {
            assert_eq!(send(&sample(name)).event_type(), expected, "{name}");
        }
        let started = send(&sample("recorder_started"));
        let event = &started.events[0].event;
        assert_eq!(event.subject, "agora/Testing2");
        // `sendts`, the event's own time (ms), not `notifyMs`.
        assert_eq!(event.time, "2020-08-04T15:35:06.257Z");
        assert_eq!(
            event.data.session_id.as_deref(),
            Some("d12fdce9024d37862a8f3a88e387c817")
        );
        let uploaded = send(&sample("uploaded"));
        let file = uploaded.events[0].event.data.file.as_ref().unwrap();
        assert_eq!(
            file.path.as_deref(),
            Some("d12fdce9024d37862a8f3a88e387c817_Testing2.mp4")
        );
        assert_eq!(file.format.as_deref(), Some("mp4"));
        let error = send(&sample("cloud_recording_error"));
        let data = &error.events[0].event.data;
        assert_eq!(data.error_code, Some(47));
        assert_eq!(
            data.error_message.as_deref(),
            Some("The recording file upload fails.")
        );
    }

    #[test]
    fn outcomes_in_the_details_decide_failure() {
        let notice = |event: i64, details: &str| {
            let body = format!(
                r#"{{"noticeId":"n-{event}","productId":3,"eventType":{event},"payload":{{"cname":"c","sendts":1596555306257,"details":{details}}}}}"#
            );
            send(body.as_bytes()).event_type()
        };
        assert_eq!(
            notice(11, r#"{"msgName":"session_exit","exitStatus":1}"#),
            EventType::RecordingFailed
        );
        assert_eq!(
            notice(11, r#"{"msgName":"session_exit","leaveStatus":1}"#),
            EventType::RecordingFailed
        );
        assert_eq!(
            notice(11, r#"{"msgName":"session_exit","exitStatus":0}"#),
            EventType::RecordingUpdated
        );
        assert_eq!(
            notice(
                1001,
                r#"{"msgName":"postpone_transcode_final_result","result":"failed"}"#
            ),
            EventType::RecordingFailed
        );
        assert_eq!(
            notice(
                1001,
                r#"{"msgName":"postpone_transcode_final_result","result":"total_success"}"#
            ),
            EventType::VodTranscoded
        );
    }

    #[test]
    fn a_resend_with_a_new_notify_ms_is_the_same_notice() {
        let first = send(CREATED);
        let resent = String::from_utf8_lossy(CREATED).replace("1611566412672", "1611566415001");
        assert_eq!(send(resent.as_bytes()).key, first.key);
        let event = &first.events[0].event;
        assert_eq!(event.event_type, EventType::StreamStarted);
        assert_eq!(event.subject, "agora/test_webhook");
        assert_eq!(event.time, "2021-01-25T09:20:12Z");
    }
}
