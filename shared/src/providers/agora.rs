//! Agora Notifications (NCS): `{"noticeId", "productId", "eventType",
//! "notifyMs", "payload": {…}}`; RTC channel events are product 1
//! (`eventType` 101 channel created … 106 audience left).
//!
//! Proven by `Agora-Signature-V2`: hex HMAC-SHA256(secret, body), or, only
//! when V2 is absent, `Agora-Signature`: hex HMAC-SHA1 (see
//! [`crate::proof`]). Nothing time-bound is signed: the replay window
//! (against `payload.ts`) is what refuses an old delivery. The key is
//! `noticeId`, stable across resends (`notifyMs` is not).

use std::time::Duration;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::{AuthScheme, Delivery, Deployment, Identity, Imitate, Provider, Sending, single};
use crate::auth::Verifier;
use crate::error::Rejection;
use crate::event::{EventData, EventType, from_unix_millis, from_unix_seconds};
use crate::inbound::Inbound;
use crate::json::{Fields, parse_object};
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

impl Provider for Agora {
    fn name(&self) -> &'static str {
        NAME
    }

    fn auth_scheme(&self) -> AuthScheme {
        AuthScheme::Signed(&PROOF)
    }

    fn deployment(&self) -> Deployment {
        Deployment {
            console: "Agora Console, Notifications (NCS) event callback URL",
            settings: &[],
            own_settings: &[],
        }
    }

    /// The proof was checked by the gate over these bytes.
    fn accept(&self, inbound: &Inbound<'_>, _verifier: &Verifier) -> Result<Delivery, Rejection> {
        let body = parse_object(inbound.body)?;
        let f = Fields(&body);
        let notice = f.required_text("noticeId")?;
        let product = f.int("productId");
        let event = f.int("eventType");
        let event_type = match (product, event) {
            (Some(RTC), Some(101)) => EventType::StreamStarted,
            (Some(RTC), Some(102)) => EventType::StreamEnded,
            (Some(RTC), Some(103)) => EventType::ConnectionOpened,
            (Some(RTC), Some(104)) => EventType::ConnectionClosed,
            (Some(RTC), Some(105)) => EventType::PlaybackStarted,
            (Some(RTC), Some(106)) => EventType::PlaybackStopped,
            _ => EventType::Unrecognized,
        };
        let payload = f.object("payload");
        let channel = payload.and_then(|p| p.text_any(&["channelName", "cname"]));
        let data = EventData {
            provider_event: format!(
                "{}/{}",
                product.map_or_else(String::new, |p| p.to_string()),
                event.map_or_else(String::new, |e| e.to_string())
            ),
            stream: channel.clone(),
            session_id: payload.and_then(|p| p.text_any(&["uid", "sid"])),
            raw: super::raw_json(inbound.body)?,
            ..EventData::default()
        };
        let identity = match channel {
            Some(channel) => Identity::Stream(channel),
            None => Identity::Other(notice.clone()),
        };
        let time = payload
            .and_then(|p| p.int("ts"))
            .and_then(from_unix_seconds)
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
}

impl Imitate for Agora {
    fn sending(&self) -> Sending {
        Sending {
            // Agora resends at once, then at growing intervals, three times.
            resends: true,
            ..Sending::DEFAULT
        }
    }

    /// `notifyMs` (the send time, new on every resend) and `payload.ts`.
    fn prepare(
        &self,
        body: &mut Map<String, Value>,
        _secret: Option<&str>,
        now: OffsetDateTime,
        attempt: u32,
    ) {
        let millis = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        body.insert(
            "notifyMs".to_owned(),
            Value::from(millis + i64::from(attempt) * 1000),
        );
        if let Some(Value::Object(payload)) = body.get_mut("payload")
            && payload.contains_key("ts")
        {
            payload.insert("ts".to_owned(), Value::from(now.unix_timestamp()));
        }
    }

    fn synthetic(&self, stream: &str, nonce: &str) -> (&'static str, Map<String, Value>) {
        let body = serde_json::json!({
            "noticeId": format!("livehook-check-{nonce}"), "productId": RTC, "eventType": 101, "notifyMs": 0,
            "payload": {"channelName": stream, "ts": 0},
        });
        ("channel_create", super::into_map(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::testing::{
        SIGNING, deliver_signed, now, signed_headers, signed_platform_contract,
    };

    const CREATED: &[u8] = br#"{"noticeId":"2000001428:4330:107","productId":1,"eventType":101,"notifyMs":1611566412672,"payload":{"channelName":"test_webhook","ts":1611566412}}"#;

    #[test]
    fn keeps_the_signed_platform_contract() {
        let unknown = br#"{"noticeId":"n-unknown","productId":3,"eventType":40,"notifyMs":1611566412672,"payload":{"cname":"c"}}"#;
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

    #[test]
    fn a_resend_with_a_new_notify_ms_is_the_same_notice() {
        let send = |body: &[u8]| {
            let headers = signed_headers(&Agora, SIGNING[0], body, now(), &[]);
            deliver_signed(&Agora, "POST", "/agora", &headers, body).unwrap()
        };
        let first = send(CREATED);
        let resent = String::from_utf8_lossy(CREATED).replace("1611566412672", "1611566415001");
        assert_eq!(send(resent.as_bytes()).key, first.key);
        let event = &first.events[0].event;
        assert_eq!(event.event_type, EventType::StreamStarted);
        assert_eq!(event.subject, "agora/test_webhook");
        assert_eq!(event.time, "2021-01-25T09:20:12Z");
    }
}
