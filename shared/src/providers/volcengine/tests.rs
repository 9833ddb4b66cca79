use super::*;
use crate::error::AuthFailure;
use crate::providers::Imitate;
use crate::providers::testing::{SIGNING, WRONG_SIGNING, deliver_signed, now};

fn sample(name: &str) -> Map<String, Value> {
    let path = format!(
        "{}/../events/volcengine/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `body` as Volcengine sends it at `at` with `secret`: `t` 10 minutes on.
fn signed(body: &Map<String, Value>, secret: &str, at: OffsetDateTime) -> Vec<u8> {
    let mut body = body.clone();
    sign_event(&mut body, secret, at.unix_timestamp() + SIGN_VALID_FOR);
    serde_json::to_vec(&body).unwrap()
}

fn deliver(body: &[u8]) -> Result<Delivery, Rejection> {
    deliver_signed(&Volcengine, "POST", "/volcengine", &[], body)
}

fn refused(why: AuthFailure) -> Result<(), Rejection> {
    Err(Rejection::Unauthenticated(why))
}

#[test]
fn a_sign_computed_outside_livehook_is_accepted() {
    // md5("yourkey" + "1640850110") with Python's hashlib; t as a number
    // and as a numeric string, the sign in either case.
    let mut secrets = crate::proof::SigningSecrets::parse("other,yourkey");
    let check = |body: &str, secrets: &crate::proof::SigningSecrets| {
        let headers = lambda_http::http::HeaderMap::new();
        let inbound = Inbound {
            path: "/volcengine",
            query: "",
            headers: &headers,
            body: body.as_bytes(),
            received_at: OffsetDateTime::from_unix_timestamp(1_640_849_510).unwrap(),
            request_id: "r",
            max_message_bytes: 262_144,
            settings: &crate::providers::settings::DEFAULTS,
        };
        crate::proof::verify(&PROOF, secrets, PROOF.tolerance, &inbound)
    };
    let sign = "2a47ca7c1e8f306a13ad982a1384f0d7";
    for body in [
        format!(r#"{{"event_type":"push_start","t":1640850110,"sign":"{sign}"}}"#),
        format!(r#"{{"event_type":"push_start","t":"1640850110","sign":"{sign}"}}"#),
        format!(
            r#"{{"code":0,"data":{{"event_type":"push_start","t":1640850110,"sign":"{}"}}}}"#,
            sign.to_uppercase()
        ),
    ] {
        assert_eq!(check(&body, &secrets), Ok(()), "{body}");
    }
    secrets = crate::proof::SigningSecrets::parse("other");
    let body = format!(r#"{{"event_type":"push_start","t":1640850110,"sign":"{sign}"}}"#);
    assert_eq!(check(&body, &secrets), refused(AuthFailure::BadSignature));
}

#[test]
fn keeps_the_signed_platform_rules() {
    let body = sample("push_start");
    let first = deliver(&signed(&body, SIGNING[0], now())).unwrap();
    assert_eq!(first.event_type(), EventType::StreamStarted);
    let rotated = deliver(&signed(&body, SIGNING[1], now())).unwrap();
    // A retry is signed anew, later: the same event.
    let resent = deliver(&signed(
        &body,
        SIGNING[1],
        now() + time::Duration::seconds(9),
    ))
    .unwrap();
    assert_eq!(first.key, rotated.key);
    assert_eq!(first.key, resent.key);

    assert_eq!(
        deliver(&signed(&body, WRONG_SIGNING, now())).map(|_| ()),
        refused(AuthFailure::BadSignature)
    );
    // Its `t` passed: signed more than 10 minutes before it arrived.
    assert_eq!(
        deliver(&signed(&body, SIGNING[0], now() - time::Duration::hours(1))).map(|_| ()),
        refused(AuthFailure::Expired)
    );
    // `t` moved on after signing.
    let mut later: Map<String, Value> =
        serde_json::from_slice(&signed(&body, SIGNING[0], now())).unwrap();
    later.insert("t".to_owned(), Value::from(now().unix_timestamp() + 86_400));
    assert_eq!(
        deliver(&serde_json::to_vec(&later).unwrap()).map(|_| ()),
        refused(AuthFailure::BadSignature)
    );
    // What Volcengine sends with authentication off: `sign` "" and `t` 0.
    let mut off = body.clone();
    off.insert("sign".to_owned(), Value::from(""));
    off.insert("t".to_owned(), Value::from(0));
    assert_eq!(
        deliver(&serde_json::to_vec(&off).unwrap()).map(|_| ()),
        refused(AuthFailure::MissingSignature)
    );
    assert!(matches!(deliver(b"not json"), Err(Rejection::Malformed(_))));

    let mut unknown = body.clone();
    unknown.insert("event_type".to_owned(), Value::from("record_exploded"));
    let unknown = deliver(&signed(&unknown, SIGNING[0], now())).unwrap();
    assert_eq!(unknown.event_type(), EventType::Unrecognized);

    for delivery in [&first, &unknown] {
        let published = serde_json::to_string(&delivery.events[0].event).unwrap();
        assert!(!published.contains("\"sign\""), "{published}");
        assert!(!published.contains("signing-"), "{published}");
        // The publisher's URL secret is redacted.
        assert!(!published.contains("5b3c2a1d0e9f"), "{published}");
    }
}

#[test]
fn samples_map_to_the_catalog() {
    let start = deliver(&signed(&sample("push_start"), SIGNING[0], now())).unwrap();
    let event = &start.events[0].event;
    assert_eq!(event.subject, "volcengine/live/stream-123456");
    assert_eq!(event.time, "2021-12-30T07:31:50.029Z");
    assert_eq!(event.data.client_ip.as_deref(), Some("10.10.10.2"));
    assert_eq!(
        start.key,
        key::derive(NAME, &[b"push_start", b"7047120163158329630"])
    );

    let end = deliver(&signed(&sample("push_end"), SIGNING[0], now())).unwrap();
    assert_eq!(end.event_type(), EventType::StreamStopped);
    assert_ne!(end.key, start.key);

    // The wrapped form of Volcengine's examples: the same event.
    let wrapped = deliver(&signed(&sample("push_start.wrapped"), SIGNING[0], now())).unwrap();
    let event = &wrapped.events[0].event;
    assert_eq!(wrapped.key, start.key);
    assert_eq!(event.event_type, EventType::StreamStarted);
    assert_eq!(event.subject, "volcengine/live/stream-123456");
    assert_eq!(event.time, "2021-12-30T07:31:50.029Z");
    let published = serde_json::to_string(event).unwrap();
    assert!(!published.contains("\"sign\""), "{published}");
}

#[test]
fn tools_sign_each_attempt_as_volcengine_does() {
    for name in ["push_start", "push_start.wrapped"] {
        for attempt in 0..3 {
            let mut body = sample(name);
            Volcengine.prepare(&mut body, Some(SIGNING[1]), now(), attempt);
            let bytes = serde_json::to_vec(&body).unwrap();
            assert!(deliver(&bytes).is_ok(), "{name} attempt {attempt}");
        }
    }
}
