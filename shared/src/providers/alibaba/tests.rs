use time::OffsetDateTime;

use crate::providers::Imitate;
use lambda_http::http::{HeaderMap, HeaderValue};

use super::*;
use crate::error::AuthFailure;
use crate::proof::{SigningSecrets, sign, verify};
use crate::providers::testing::{HOST, SIGNING, WRONG_SIGNING, deliver_signed, now};

fn sample(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../events/alibaba/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path)
        .unwrap()
        .trim_end()
        .as_bytes()
        .to_vec()
}

/// The query a stream callback sample arrives as.
fn query_of(sample: &[u8]) -> String {
    let fields: Map<String, Value> = serde_json::from_slice(sample).unwrap();
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in &fields {
        query.append_pair(name, value.as_str().unwrap());
    }
    query.finish()
}

/// Alibaba's headers for a callback signed for `domain` at `at`.
fn proof_headers(secret: &str, domain: &str, at: OffsetDateTime) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    sign(&PROOF, secret, b"", at, domain, &mut headers);
    headers
}

/// A stream callback (`GET`, fields in the query) signed for its ingest
/// domain (the query's `app`).
fn get(name: &str, secret: &str, at: OffsetDateTime) -> Result<Delivery, Rejection> {
    let body = sample(name);
    let fields: Map<String, Value> = serde_json::from_slice(&body).unwrap();
    let domain = fields["app"].as_str().unwrap();
    let headers = proof_headers(secret, domain, at);
    let path = format!("/alibaba?{}", query_of(&body));
    deliver_signed(&Alibaba, "GET", &path, &headers, b"")
}

/// A `POST`ed callback signed for the callback URL's host.
fn post(body: &[u8], secret: &str, at: OffsetDateTime) -> Result<Delivery, Rejection> {
    let headers = proof_headers(secret, HOST, at);
    deliver_signed(&Alibaba, "POST", "/alibaba", &headers, body)
}

#[test]
fn the_documented_vector_signs_the_domain_of_each_kind_of_callback() {
    // Alibaba's page: md5(learn.aliyundoc.com|1519375990|yourkey).
    let expected = "9e226fc2c250be266e3657e156f68c12";
    let check = |query: &str, host: &str| {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_str(host).unwrap());
        headers.insert("ali-live-timestamp", HeaderValue::from_static("1519375990"));
        headers.insert("ali-live-signature", HeaderValue::from_static(expected));
        let inbound = Inbound {
            path: "/alibaba",
            query,
            headers: &headers,
            body: b"",
            received_at: OffsetDateTime::from_unix_timestamp(1_519_375_990).unwrap(),
            request_id: "r",
            max_message_bytes: 262_144,
            settings: &crate::providers::settings::DEFAULTS,
        };
        verify(
            &PROOF,
            &SigningSecrets::parse("other,yourkey"),
            PROOF.tolerance,
            &inbound,
        )
    };
    // Recording and snapshot callbacks: the callback URL's host.
    assert_eq!(check("", "learn.aliyundoc.com"), Ok(()));
    // Stream callbacks: the ingest domain, their query's `app`.
    assert_eq!(
        check(
            "action=publish&app=learn.aliyundoc.com&id=s",
            "hooks.example.com"
        ),
        Ok(())
    );
    assert_eq!(
        check(
            "action=publish&app=other.example.com",
            "learn.aliyundoc.com"
        ),
        Err(Rejection::Unauthenticated(AuthFailure::BadSignature))
    );
}

#[test]
fn stream_callbacks_arrive_as_get() {
    let started = get("publish", SIGNING[0], now()).unwrap();
    let event = &started.events[0].event;
    assert_eq!(event.event_type, EventType::StreamStarted);
    assert_eq!(event.subject, "alibaba/liveApp/world");
    assert_eq!(event.time, "2020-12-29T05:39:45Z");
    assert_eq!(event.data.domain.as_deref(), Some("example.aliyundoc.com"));
    assert_eq!(event.data.client_ip.as_deref(), Some("192.168.0.1"));
    // The publisher's URL signature never leaves livehook.
    let published = serde_json::to_string(event).unwrap();
    assert!(!published.contains("1f9c3b1d7a6e"), "{published}");
    assert_eq!(started.events[0].stream.as_deref(), Some("liveApp/world"));

    let stopped = get("publish_done", SIGNING[1], now()).unwrap();
    assert_eq!(stopped.event_type(), EventType::StreamStopped);
    assert_ne!(stopped.key, started.key);
    // A retry (signed again, later) is the same event.
    let again = get("publish", SIGNING[1], now() - time::Duration::seconds(3)).unwrap();
    assert_eq!(again.key, started.key);
}

#[test]
fn a_proof_is_required_and_must_be_fresh_and_made_with_the_key() {
    let body = sample("record_file");
    assert!(post(&body, SIGNING[0], now()).is_ok());
    assert!(
        post(&body, SIGNING[1], now()).is_ok(),
        "second key of the list"
    );
    assert_eq!(
        post(&body, WRONG_SIGNING, now()).unwrap_err(),
        Rejection::Unauthenticated(AuthFailure::BadSignature)
    );
    assert_eq!(
        post(&body, SIGNING[0], now() - time::Duration::hours(1)).unwrap_err(),
        Rejection::Unauthenticated(AuthFailure::Expired)
    );
    assert_eq!(
        get("publish", WRONG_SIGNING, now()).unwrap_err(),
        Rejection::Unauthenticated(AuthFailure::BadSignature)
    );
    assert_eq!(
        deliver_signed(&Alibaba, "POST", "/alibaba", &[], &body).unwrap_err(),
        Rejection::Unauthenticated(AuthFailure::MissingSignature)
    );
    // A stream callback signed for the callback URL's host instead of its
    // ingest domain is not Alibaba's.
    let publish = sample("publish");
    let headers = proof_headers(SIGNING[0], HOST, now());
    let path = format!("/alibaba?{}", query_of(&publish));
    assert_eq!(
        deliver_signed(&Alibaba, "GET", &path, &headers, b"").unwrap_err(),
        Rejection::Unauthenticated(AuthFailure::BadSignature)
    );
    // Only GET and POST.
    assert_eq!(
        deliver_signed(&Alibaba, "PUT", "/alibaba", &headers, &body).unwrap_err(),
        Rejection::MethodNotAllowed
    );
}

#[test]
fn only_a_provider_whose_fields_come_in_the_query_takes_get() {
    let headers = proof_headers(SIGNING[0], HOST, now());
    assert_eq!(
        deliver_signed(
            &super::super::Cloudflare,
            "GET",
            "/cloudflare?uid=u1",
            &headers,
            b""
        )
        .unwrap_err(),
        Rejection::MethodNotAllowed
    );
}

#[test]
fn posted_callbacks_map_to_the_catalog() {
    for (name, expected, subject) in [
        (
            "record_started",
            EventType::RecordingStarted,
            "gs_app/gs_stream",
        ),
        (
            "record_paused",
            EventType::RecordingPaused,
            "gs_app/gs_stream",
        ),
        (
            "record_resumed",
            EventType::RecordingResumed,
            "gs_app/gs_stream",
        ),
        (
            "record_file",
            EventType::RecordingReady,
            "liveApp/liveStream",
        ),
        (
            "live_snapshot",
            EventType::SnapshotReady,
            "liveApp/liveStream",
        ),
    ] {
        let d = post(&sample(name), SIGNING[0], now()).unwrap_or_else(|r| panic!("{name}: {r:?}"));
        let event = &d.events[0].event;
        assert_eq!(event.event_type, expected, "{name}");
        assert_eq!(event.subject, format!("alibaba/{subject}"), "{name}");
    }
    let file = post(&sample("record_file"), SIGNING[0], now()).unwrap();
    let event = &file.events[0].event;
    assert_eq!(event.time, "2017-03-08T15:10:40Z");
    let info = event.data.file.as_ref().unwrap();
    assert_eq!(info.format.as_deref(), Some("flv"));
    assert_eq!(info.duration_seconds, Some(69.403));
    assert_eq!(file.dedupe_window, None, "a file is one event for good");

    let snapshot = post(&sample("live_snapshot"), SIGNING[0], now()).unwrap();
    assert_eq!(
        snapshot.events[0].event.data.snapshot_url.as_deref(),
        Some(
            "https://liveBucket.oss-cn-shanghai.aliyuncs.com/snapshot/liveApp/liveStream/1488985840.jpg"
        )
    );

    // A status has no time of its own: the same status of the same stream
    // is one event within the window of Alibaba's retries, not for good.
    let started = post(&sample("record_started"), SIGNING[0], now()).unwrap();
    assert_eq!(started.dedupe_window, Some(UNTIMED_WINDOW));
    let again = post(&sample("record_started"), SIGNING[1], now()).unwrap();
    assert_eq!(again.key, started.key);
}

#[test]
fn unknown_callbacks_are_published_as_unrecognized() {
    let unknown_event = br#"{"domain":"d","app":"a","stream":"s","event":"record_exploded"}"#;
    assert_eq!(
        post(unknown_event, SIGNING[0], now()).unwrap().event_type(),
        EventType::Unrecognized
    );
    let headers = proof_headers(SIGNING[0], "d.example.com", now());
    let unknown_action = deliver_signed(
        &Alibaba,
        "GET",
        "/alibaba?action=publish_exploded&app=d.example.com&appname=a&id=s&time=1",
        &headers,
        b"",
    )
    .unwrap();
    assert_eq!(unknown_action.event_type(), EventType::Unrecognized);
}

#[test]
fn synthetic_stream_callbacks_go_as_signed_gets_one_event_per_nonce() {
    // As the tools send it: a GET, its fields in the query, signed for the
    // query's `app`.
    let send = |nonce: &str| {
        let (_, body) = Alibaba.synthetic("livehook-check", nonce);
        let bytes = crate::providers::prepared_body(
            &Alibaba,
            &serde_json::to_vec(&body).unwrap(),
            None,
            now(),
            0,
        );
        let wire = crate::providers::wire(&Alibaba, &bytes);
        assert_eq!((wire.method, wire.body.as_slice()), ("GET", &b""[..]));
        let headers = crate::providers::signed_headers(
            &Alibaba,
            &wire.body,
            Some(SIGNING[0]),
            now(),
            wire.target(HOST),
        );
        let path = format!("/alibaba?{}", wire.query);
        deliver_signed(&Alibaba, "GET", &path, &headers, b"").unwrap()
    };
    let (first, second) = (send("n-1"), send("n-2"));
    assert_eq!(first.event_type(), EventType::StreamStarted);
    assert_ne!(first.key, second.key, "two checks in one second");
    assert_eq!(send("n-1").key, first.key, "a resend is the same event");
}

#[test]
fn audio_moderation_verdicts_are_flagged_once_each() {
    let body = sample("audio_moderation");
    let flagged = post(&body, SIGNING[0], now()).unwrap();
    let event = &flagged.events[0].event;
    assert_eq!(event.event_type, EventType::ModerationFlagged);
    assert_eq!(event.subject, "alibaba/liveApp/liveStream");
    assert_eq!(event.time, "2019-10-25T07:45:15Z");
    assert_eq!(event.data.reason.as_deref(), Some("ad"));
    assert_eq!(event.data.domain.as_deref(), Some("example.com"));
    assert_eq!(
        flagged.dedupe_window, None,
        "a verdict has a time of its own"
    );
    // Resent (signed again with the other key, later): the same event.
    let resent = post(&body, SIGNING[1], now() + time::Duration::seconds(2)).unwrap();
    assert_eq!(resent.key, flagged.key);
    // Another verdict of the same stream in the same second is another one.
    let mut other: Map<String, Value> = serde_json::from_slice(&body).unwrap();
    other["result"][0]["label"] = Value::from("abuse");
    let other = post(&serde_json::to_vec(&other).unwrap(), SIGNING[0], now()).unwrap();
    assert_ne!(other.key, flagged.key);
    assert_eq!(other.events[0].event.data.reason.as_deref(), Some("abuse"));

    // A passed verdict is not what was flagged: the label is the first
    // verdict that is not a pass.
    let mixed = br#"{"domain":"d","app":"a","stream":"s","timestamp":1,"result":[{"label":"normal","suggestion":"pass"},{"label":"porn","suggestion":"review"}]}"#;
    let mixed = post(mixed, SIGNING[0], now()).unwrap();
    assert_eq!(mixed.events[0].event.data.reason.as_deref(), Some("porn"));
    // A `result` that is no list of verdicts is not a moderation callback.
    let odd = br#"{"domain":"d","app":"a","stream":"s","timestamp":1,"result":"x"}"#;
    assert_eq!(
        post(odd, SIGNING[0], now()).unwrap().event_type(),
        EventType::Unrecognized
    );
    // Unsigned (Alibaba documents no proof for moderation callbacks): 401.
    assert_eq!(
        deliver_signed(&Alibaba, "POST", "/alibaba", &[], &body).unwrap_err(),
        Rejection::Unauthenticated(AuthFailure::MissingSignature)
    );
}

#[test]
fn a_recording_file_keeps_its_push_arguments() {
    let file = post(&sample("record_file"), SIGNING[0], now()).unwrap();
    let published = serde_json::to_string(&file.events[0].event).unwrap();
    assert!(published.contains("callback_myid"), "{published}");
}

#[test]
fn video_moderation_verdicts_flag_the_frame_once_each() {
    let body = sample("video_moderation");
    let flagged = post(&body, SIGNING[0], now()).unwrap();
    let event = &flagged.events[0].event;
    assert_eq!(event.event_type, EventType::ModerationFlagged);
    assert_eq!(event.subject, "alibaba/ondemand_oss/gs0911_4");
    assert_eq!(event.data.domain.as_deref(), Some("qt01.alivecdn.com"));
    assert_eq!(event.data.reason.as_deref(), Some("Porn"));
    assert_eq!(
        event.data.snapshot_url.as_deref(),
        Some(
            "https://mts-bucket-test.oss-cn-hangzhou.aliyuncs.com/customer/ondemand_oss/gs0911_4/1505131029218.jpg"
        )
    );
    // No time of its own: received now, one event within the window of
    // Alibaba's retries.
    assert_eq!(event.time, format_time(now()));
    assert_eq!(flagged.dedupe_window, Some(UNTIMED_WINDOW));
    let resent = post(&body, SIGNING[1], now() + time::Duration::seconds(2)).unwrap();
    assert_eq!(resent.key, flagged.key, "a resend is the same event");
    // Another flagged frame of the same stream is another event.
    let mut other: Map<String, Value> = serde_json::from_slice(&body).unwrap();
    other["OssObject"] = Value::from("customer/ondemand_oss/gs0911_4/1505131031218.jpg");
    let other = post(&serde_json::to_vec(&other).unwrap(), SIGNING[0], now()).unwrap();
    assert_ne!(other.key, flagged.key);

    // The label is the first verdict, of any model, that is not a pass.
    let mixed = br#"{"DomainName":"d","AppName":"a","StreamName":"s","OssObject":"o.jpg","Result":[{"BizType":"d","Result":[{"Label":"normal","Suggestion":"pass"}]},{"BizType":"x","Result":[{"Label":"politics","Suggestion":"block"}]}]}"#;
    let mixed = post(mixed, SIGNING[0], now()).unwrap();
    assert_eq!(mixed.event_type(), EventType::ModerationFlagged);
    assert_eq!(
        mixed.events[0].event.data.reason.as_deref(),
        Some("politics")
    );
    // Without bucket and endpoint the frame is named by its path.
    assert_eq!(
        mixed.events[0].event.data.snapshot_url.as_deref(),
        Some("o.jpg")
    );
    // A `Result` that is no list of verdicts is not a moderation callback.
    let odd = br#"{"DomainName":"d","AppName":"a","StreamName":"s","Result":"x"}"#;
    assert_eq!(
        post(odd, SIGNING[0], now()).unwrap().event_type(),
        EventType::Unrecognized
    );

    // The proof stays out of what is published; the verdict is kept whole.
    let published = serde_json::to_string(event).unwrap();
    let signature = proof_headers(SIGNING[0], HOST, now())
        .into_iter()
        .find(|(name, _)| name == "ali-live-signature")
        .map(|(_, value)| value)
        .unwrap();
    for secret in [SIGNING[0], SIGNING[1], signature.as_str()] {
        assert!(!published.contains(secret), "{published}");
    }
    assert!(published.contains("\"BizType\""), "{published}");
    // Unsigned (Alibaba documents no proof for moderation callbacks): 401.
    assert_eq!(
        deliver_signed(&Alibaba, "POST", "/alibaba", &[], &body).unwrap_err(),
        Rejection::Unauthenticated(AuthFailure::MissingSignature)
    );
}
