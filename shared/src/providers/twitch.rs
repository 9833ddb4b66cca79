//! Twitch EventSub over webhooks: `{"subscription": {"id", "type", …},
//! "event": {…}}` for a `notification`, `{"challenge", "subscription"}` for
//! the `webhook_callback_verification` that confirms a new subscription,
//! `{"subscription"}` for a `revocation`; the message type, id and time
//! are headers.
//!
//! Proven by `Twitch-Eventsub-Message-Signature: sha256=<hex HMAC-SHA256(
//! secret, id + timestamp + body)>`, the timestamp within 10 minutes (see
//! [`crate::proof`]). The key is `Twitch-Eventsub-Message-Id`, the same on
//! every resend. The challenge is answered as Twitch requires: 200,
//! `text/plain`, exactly the challenge.

use std::time::Duration;

use serde_json::{Map, Value};

use super::imitate::stamp::{TimeField, Unit};
use super::signed::Signed;
use super::{Answer, Delivery, Identity, single};
use crate::error::Rejection;
use crate::event::{EventData, EventType, parse_rfc3339};
use crate::inbound::Inbound;
use crate::json::Fields;
use crate::key;
use crate::proof::{
    Algorithm, Encoding, Layout, Part, Proof, Scheme, Signature, TimeFormat, Timestamp,
    TimestampSource,
};

/// Twitch EventSub webhook adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Twitch;

const NAME: &str = "twitch";

const MESSAGE_ID: &str = "twitch-eventsub-message-id";
const MESSAGE_TYPE: &str = "twitch-eventsub-message-type";
const MESSAGE_TIMESTAMP: &str = "twitch-eventsub-message-timestamp";

/// An event's own time, where it has one (`stream.online`, `channel.follow`).
const EVENT_TIMES: &[&str] = &["started_at", "followed_at"];

/// The signature Twitch documents ("Verifying the event message").
pub static PROOF: Proof = Proof {
    secret_variable: "LIVEHOOK_TWITCH_SECRET",
    secret_about: "Twitch EventSub secret(s) (the transport.secret of your subscriptions, 10 to 100 ASCII characters), comma-separated for rotation",
    schemes: &[Scheme::Signature(Signature {
        header: "twitch-eventsub-message-signature",
        layout: Layout::Whole { prefix: "sha256=" },
        algorithm: Algorithm::HmacSha256,
        encoding: Encoding::Hex,
        message: &[Part::Header(MESSAGE_ID), Part::Timestamp, Part::Body],
        timestamp: Some(Timestamp {
            source: TimestampSource::Header(MESSAGE_TIMESTAMP),
            format: TimeFormat::Rfc3339,
        }),
    })],
    tolerance: Duration::from_secs(600),
};

impl Signed for Twitch {
    const NAME: &'static str = NAME;
    const PROOF: &'static Proof = &PROOF;
    const CONSOLE: &'static str =
        "Twitch EventSub subscription transport.callback (POST /eventsub/subscriptions)";
    // Twitch resends a notification that is not answered 2xx in a few
    // seconds, with the same message id: the default sending.
    const TIME_FIELDS: &'static [TimeField] = &[
        (&["event", "started_at"], Unit::Rfc3339),
        (&["event", "followed_at"], Unit::Rfc3339),
    ];

    fn normalize(&self, inbound: &Inbound<'_>, f: Fields<'_>) -> Result<Delivery, Rejection> {
        let header = |name: &str| {
            inbound
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let message_id = header(MESSAGE_ID)
            .ok_or_else(|| Rejection::malformed("missing Twitch-Eventsub-Message-Id"))?;
        let message_type = header(MESSAGE_TYPE).unwrap_or_default();
        let subscription = f.object("subscription");
        let subscription_type = subscription
            .and_then(|s| s.text("type"))
            .unwrap_or_default();
        let event = f.object("event");
        let mut answer = None;
        let event_type = match message_type.as_str() {
            "webhook_callback_verification" => {
                let challenge = f.required_text("challenge")?;
                answer = Some(Answer {
                    content_type: "text/plain",
                    body: challenge,
                });
                EventType::SubscriptionVerified
            }
            "revocation" => EventType::SubscriptionRevoked,
            "notification" => notification_type(&subscription_type),
            _ => EventType::Unrecognized,
        };
        let condition = subscription.and_then(|s| s.object("condition"));
        // A raid concerns the channel the subscription watches: the raided
        // one (`to_…`) or the raiding one (`from_…`).
        let raid_side = if condition.is_some_and(|c| c.get("to_broadcaster_user_id").is_some()) {
            "to_broadcaster_user_login"
        } else {
            "from_broadcaster_user_login"
        };
        let broadcaster = event
            .and_then(|e| e.text_any(&["broadcaster_user_login", raid_side]))
            .or_else(|| {
                condition.and_then(|c| {
                    c.text_any(&[
                        "broadcaster_user_id",
                        "to_broadcaster_user_id",
                        "from_broadcaster_user_id",
                    ])
                })
            });
        let data = EventData {
            provider_event: if message_type == "notification" {
                subscription_type
            } else {
                message_type
            },
            stream: broadcaster.clone(),
            room_id: event.and_then(|e| e.text("broadcaster_user_id")),
            name: event.and_then(|e| e.text("broadcaster_user_name")),
            session_id: event.and_then(|e| e.text("id")),
            raw: super::raw_json(inbound.body)?,
            ..EventData::default()
        };
        let identity = match broadcaster {
            Some(login) => Identity::Stream(login),
            None => Identity::Other(
                subscription
                    .and_then(|s| s.text("id"))
                    .unwrap_or_else(|| "unknown".to_owned()),
            ),
        };
        let time = event
            .and_then(|e| e.text_any(EVENT_TIMES))
            .or_else(|| header(MESSAGE_TIMESTAMP))
            .as_deref()
            .and_then(parse_rfc3339);
        let mut delivery = single(
            NAME,
            inbound,
            key::derive(NAME, &[message_id.as_bytes()]),
            event_type,
            identity,
            time,
            data,
        );
        delivery.answer = answer;
        Ok(delivery)
    }

    /// The message id (a UUID, the same for every resend of one body, as
    /// Twitch keeps it across resends) and the message type the body's
    /// shape says: a `challenge` is a verification, an `event` a
    /// notification, anything else a revocation.
    fn chosen_headers(&self, body: &[u8]) -> Vec<(String, String)> {
        use sha2::Digest;
        let hex = key::to_hex(&sha2::Sha256::digest(body));
        let id = format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        );
        let kind = match serde_json::from_slice::<Map<String, Value>>(body) {
            Ok(b) if b.contains_key("challenge") => "webhook_callback_verification",
            Ok(b) if b.contains_key("event") => "notification",
            Ok(_) => "revocation",
            Err(_) => "notification",
        };
        vec![
            (MESSAGE_ID.to_owned(), id),
            (MESSAGE_TYPE.to_owned(), kind.to_owned()),
        ]
    }

    fn synthetic_body(&self, stream: &str, nonce: &str) -> (&'static str, Map<String, Value>) {
        let body = serde_json::json!({
            "subscription": {"id": format!("livehook-check-{nonce}"), "status": "enabled", "type": "stream.online", "version": "1",
                "condition": {"broadcaster_user_id": "0"}, "transport": {"method": "webhook", "callback": "https://example.com/twitch"},
                "created_at": "1970-01-01T00:00:00Z", "cost": 0},
            "event": {"id": nonce, "broadcaster_user_id": "0", "broadcaster_user_login": stream, "broadcaster_user_name": stream,
                "type": "live", "started_at": "1970-01-01T00:00:00Z"},
        });
        ("stream.online", super::into_map(body))
    }
}

/// The catalog type of a notification, by its subscription type: the
/// stream's own events, and what its viewers do.
fn notification_type(subscription_type: &str) -> EventType {
    match subscription_type {
        "stream.online" => EventType::StreamStarted,
        "stream.offline" => EventType::StreamStopped,
        // The title, category or language changed.
        "channel.update" => EventType::StreamUpdated,
        "channel.follow"
        | "channel.subscribe"
        | "channel.subscription.end"
        | "channel.subscription.gift"
        | "channel.subscription.message"
        | "channel.cheer"
        | "channel.raid"
        | "channel.channel_points_custom_reward_redemption.add"
        | "channel.hype_train.begin"
        | "channel.hype_train.progress"
        | "channel.hype_train.end" => EventType::AudienceActivity,
        _ => EventType::Unrecognized,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::testing::{
        SIGNING, deliver_signed, now, signed_headers, signed_platform_contract,
    };

    fn sample(name: &str) -> Vec<u8> {
        crate::providers::testing::sample(&Twitch, name)
    }

    fn deliver(kind: &str, id: &str, body: &[u8]) -> Result<Delivery, Rejection> {
        let first = [(MESSAGE_ID, id), (MESSAGE_TYPE, kind)];
        let headers = signed_headers(&Twitch, SIGNING[0], body, now(), &first);
        deliver_signed(&Twitch, "POST", "/twitch", &headers, body)
    }

    #[test]
    fn keeps_the_signed_platform_contract() {
        let first = [
            (MESSAGE_ID, "befa7b53-d79d-478f-86b9-120f112b044e"),
            (MESSAGE_TYPE, "notification"),
        ];
        let unknown = br#"{"subscription":{"id":"s2","type":"channel.unknown_type","version":"2","condition":{"broadcaster_user_id":"1337"}},"event":{"user_login":"fan"}}"#;
        signed_platform_contract(
            &Twitch,
            "/twitch",
            &first,
            &sample("stream.online"),
            unknown,
        );
    }

    #[test]
    fn notifications_map_and_keep_their_subscription_type() {
        let d = deliver("notification", "m1", &sample("stream.online")).unwrap();
        let event = &d.events[0].event;
        assert_eq!(event.event_type, EventType::StreamStarted);
        assert_eq!(event.subject, "twitch/cool_user");
        assert_eq!(event.time, "2020-10-11T10:11:12.123Z");
        assert_eq!(d.key, key::derive(NAME, &[b"m1"]));
        let d = deliver("notification", "m2", &sample("stream.offline")).unwrap();
        assert_eq!(d.events[0].event.event_type, EventType::StreamStopped);
        assert_eq!(d.events[0].event.data.provider_event, "stream.offline");
        assert!(d.answer.is_none());
    }

    #[test]
    fn channel_changes_and_viewers_actions_have_types() {
        for (name, expected, subject, time) in [
            (
                "channel.update",
                EventType::StreamUpdated,
                "twitch/cool_user",
                // No time of its own: the message's.
                None,
            ),
            (
                "channel.follow",
                EventType::AudienceActivity,
                "twitch/cooler_user",
                Some("2020-07-15T18:16:11.17106713Z"),
            ),
            // Subscribed as the raided channel: its side of the raid.
            (
                "channel.raid",
                EventType::AudienceActivity,
                "twitch/cooler_user",
                None,
            ),
        ] {
            let d = deliver("notification", name, &sample(name)).unwrap();
            let event = &d.events[0].event;
            assert_eq!(event.event_type, expected, "{name}");
            assert_eq!(event.subject, subject, "{name}");
            assert_eq!(event.data.provider_event, name);
            if let Some(time) = time {
                assert_eq!(event.time, time, "{name}");
            }
        }
        // Tools send it with its time refreshed, so the replay window admits it.
        let follow =
            crate::providers::prepared_body(&Twitch, &sample("channel.follow"), None, now(), 0);
        let d = deliver("notification", "m6", &follow).unwrap();
        assert_eq!(d.events[0].event.time, crate::event::format_time(now()));
        let raid = String::from_utf8(sample("channel.raid")).unwrap().replace(
            r#""to_broadcaster_user_id":"1337"}"#,
            r#""from_broadcaster_user_id":"1234"}"#,
        );
        let d = deliver("notification", "m5", raid.as_bytes()).unwrap();
        assert_eq!(d.events[0].event.subject, "twitch/cool_user");
        for kind in [
            "channel.subscribe",
            "channel.subscription.gift",
            "channel.subscription.message",
            "channel.subscription.end",
            "channel.cheer",
            "channel.hype_train.begin",
        ] {
            assert_eq!(
                notification_type(kind),
                EventType::AudienceActivity,
                "{kind}"
            );
        }
    }

    #[test]
    fn the_challenge_is_answered_as_plain_text_and_published() {
        let d = deliver(
            "webhook_callback_verification",
            "m3",
            &sample("webhook_callback_verification"),
        )
        .unwrap();
        assert_eq!(
            d.events[0].event.event_type,
            EventType::SubscriptionVerified
        );
        assert_eq!(
            d.answer,
            Some(Answer {
                content_type: "text/plain",
                body: "pogchamp-kappa-360noscope-vohiyo".to_owned()
            })
        );
        // Unsigned, the challenge is not answered.
        let unsigned = deliver_signed(
            &Twitch,
            "POST",
            "/twitch",
            &[],
            &sample("webhook_callback_verification"),
        );
        assert!(matches!(unsigned, Err(Rejection::Unauthenticated(_))));
    }

    #[test]
    fn tools_choose_the_message_headers_before_signing() {
        let headers =
            |body: &[u8]| crate::providers::Imitate::headers_before_signing(&Twitch, body);
        let online = sample("stream.online");
        let first = headers(&online);
        // A resend of the same delivery keeps its message id; another event has its own.
        assert_eq!(first, headers(&online));
        assert_ne!(first[0], headers(&sample("stream.offline"))[0]);
        assert_eq!(first[0].0, MESSAGE_ID);
        assert_eq!(first[0].1.len(), 36, "a UUID: {}", first[0].1);
        let kind = |name: &str| headers(&sample(name))[1].1.clone();
        assert_eq!(kind("stream.online"), "notification");
        assert_eq!(kind("revocation"), "revocation");
        assert_eq!(
            kind("webhook_callback_verification"),
            "webhook_callback_verification"
        );
        // Signed with them, as `livehook send` signs: accepted by the gate.
        let body = sample("webhook_callback_verification");
        let signed = crate::providers::signed_headers(
            &Twitch,
            &body,
            Some(SIGNING[0]),
            now(),
            crate::providers::testing::HOST,
        );
        let d = deliver_signed(&Twitch, "POST", "/twitch", &signed, &body).unwrap();
        assert_eq!(d.event_type(), EventType::SubscriptionVerified);
    }

    #[test]
    fn revocation_is_published() {
        let d = deliver("revocation", "m4", &sample("revocation")).unwrap();
        assert_eq!(d.events[0].event.event_type, EventType::SubscriptionRevoked);
        assert_eq!(d.events[0].event.data.provider_event, "revocation");
        assert_eq!(d.events[0].event.subject, "twitch/1337");
    }
}
