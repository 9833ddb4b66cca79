use std::io::Write;

use base64::Engine;
use serde_json::{Value, json};

use super::*;
use crate::error::AuthFailure;
use crate::providers::testing::{now, verifier};
use crate::providers::{Bililive, Lal};

const LIMIT: usize = 4096;

fn gate(provider: &'static dyn Provider, replay_window: Duration) -> Gate {
    Gate::new(
        provider,
        verifier(),
        Limits {
            max_body_bytes: LIMIT,
            retention: replay_window,
            replay_window,
            max_message_bytes: 262_144,
        },
    )
}

/// Admits at the fixed test clock, as invocation `r`.
trait AdmitNow {
    fn admit_now(&self, request: &Request) -> Result<Delivery, Rejection>;
}

impl AdmitNow for Gate {
    fn admit_now(&self, request: &Request) -> Result<Delivery, Rejection> {
        self.admit(request, now(), "r")
    }
}

/// A request as lambda_http builds it from an API Gateway HTTP API v2 event.
fn request(
    method: &str,
    path: &str,
    query: &str,
    headers: Value,
    body: &[u8],
    base64: bool,
) -> Request {
    let body = if base64 {
        base64::engine::general_purpose::STANDARD.encode(body)
    } else {
        String::from_utf8(body.to_vec()).unwrap()
    };
    let event = json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": headers, "isBase64Encoded": base64, "body": body,
        "requestContext": {"accountId": "1", "apiId": "a", "domainName": "x.example", "domainPrefix": "x",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"},
            "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "", "timeEpoch": 0}
    });
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

fn bililive_body(timestamp: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"EventType": "SessionStarted", "EventId": "e1", "EventTimestamp": timestamp, "EventData": {"RoomId": 1}}))
        .unwrap()
}

fn post(path: &str, query: &str, body: &[u8]) -> Request {
    request(
        "POST",
        path,
        query,
        json!({"content-type": "application/json"}),
        body,
        false,
    )
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

const DAY: Duration = Duration::from_secs(86_400);
const RECENT: &str = "2025-12-31T23:00:00.0000000+00:00";

#[test]
fn method_then_size_then_token_then_body() {
    let g = gate(&Bililive, DAY);
    let get = request("GET", "/bililive", "", json!({}), b"", false);
    assert_eq!(g.admit_now(&get).unwrap_err(), Rejection::MethodNotAllowed);
    let huge = vec![b'x'; LIMIT + 1];
    assert_eq!(
        g.admit_now(&post("/bililive", "", &huge)).unwrap_err(),
        Rejection::PayloadTooLarge { limit: LIMIT }
    );
    assert_eq!(
        g.admit_now(&post("/bililive", "", b"nope")).unwrap_err(),
        Rejection::Unauthenticated(AuthFailure::MissingToken)
    );
    assert!(matches!(
        g.admit_now(&post("/bililive", "token=test-token", b"nope")),
        Err(Rejection::Malformed(_))
    ));
    assert!(
        g.admit_now(&post(
            "/bililive",
            "token=test-token",
            &bililive_body(RECENT)
        ))
        .is_ok()
    );
}

#[test]
fn base64_bodies_from_api_gateway_are_decoded() {
    let g = gate(&Bililive, DAY);
    let r = request(
        "POST",
        "/bililive",
        "token=test-token",
        json!({}),
        &bililive_body(RECENT),
        true,
    );
    assert!(g.admit_now(&r).is_ok());
}

#[test]
fn gzip_bodies_are_decoded_within_the_limit() {
    let g = gate(&Bililive, DAY);
    let gz = |body: &[u8]| {
        request(
            "POST",
            "/bililive",
            "token=test-token",
            json!({"content-encoding": "gzip"}),
            &gzip(body),
            true,
        )
    };
    assert!(g.admit_now(&gz(&bililive_body(RECENT))).is_ok());
    // A small bomb: 1 MiB of spaces compresses to about a kilobyte.
    let bomb = gz(&vec![b' '; 1 << 20]);
    assert!(bomb.body().len() < LIMIT);
    assert_eq!(
        g.admit_now(&bomb).unwrap_err(),
        Rejection::PayloadTooLarge { limit: LIMIT }
    );
    let not_gzip = request(
        "POST",
        "/bililive",
        "token=test-token",
        json!({"content-encoding": "gzip"}),
        b"{}",
        false,
    );
    assert!(matches!(
        g.admit_now(&not_gzip),
        Err(Rejection::Malformed(_))
    ));
    let brotli = request(
        "POST",
        "/bililive",
        "token=test-token",
        json!({"content-encoding": "br"}),
        b"{}",
        false,
    );
    assert!(matches!(g.admit_now(&brotli), Err(Rejection::Malformed(_))));
}

#[test]
fn replay_window_both_sides() {
    let g = gate(&Bililive, DAY);
    let inside = "2025-12-31T00:00:01.0000000+00:00"; // 23:59:59 before now()
    let outside = "2025-12-30T23:59:59.0000000+00:00"; // a day and a second before
    assert!(
        g.admit_now(&post(
            "/bililive",
            "token=test-token",
            &bililive_body(inside)
        ))
        .is_ok()
    );
    assert_eq!(
        g.admit_now(&post(
            "/bililive",
            "token=test-token",
            &bililive_body(outside)
        ))
        .unwrap_err(),
        Rejection::Stale
    );
    // Zero turns the window off.
    let open = gate(&Bililive, Duration::ZERO);
    assert!(
        open.admit_now(&post(
            "/bililive",
            "token=test-token",
            &bililive_body(outside)
        ))
        .is_ok()
    );
    // lal sends no timestamp: never stale.
    let lal = gate(&Lal, DAY);
    let body = br#"{"server_id":"1","session_id":"S1"}"#;
    assert!(
        lal.admit_now(&post("/lal/on_pub_start", "token=test-token", body))
            .is_ok()
    );
}

#[test]
fn lal_sees_the_raw_path_not_a_normalized_one() {
    let lal = gate(&Lal, DAY);
    let body = br#"{"server_id":"1","session_id":"S1"}"#;
    for path in [
        "/lal/on_pub_start/..",
        "/lal/%2e%2e",
        "/lal/on_pub_start/../../etc",
    ] {
        let r = post(path, "token=test-token", body);
        assert!(
            matches!(lal.admit_now(&r), Err(Rejection::Malformed(_))),
            "{path}"
        );
    }
    let d = lal
        .admit_now(&post("/stage/lal/on_pub_start", "token=test-token", body))
        .unwrap();
    assert_eq!(d.events[0].event.data.provider_event, "on_pub_start");
}

/// A nested-object bomb: chains of `{"":` nested 120 deep (under serde's
/// depth limit), as many as fit the body limit.
fn nested_object_bomb(limit: usize) -> Vec<u8> {
    let chain = format!("{}0{}", "{\"\":".repeat(120), "}".repeat(120));
    let count = (limit - 16) / (chain.len() + 1);
    let mut body = String::from("{\"t\":1,\"a\":[");
    body.push_str(&vec![chain; count].join(","));
    body.push_str("]}");
    body.into_bytes()
}

fn gate_with_limit(provider: &'static dyn Provider, limit: usize) -> Gate {
    Gate::new(
        provider,
        verifier(),
        Limits {
            max_body_bytes: limit,
            retention: DAY,
            replay_window: Duration::ZERO,
            max_message_bytes: 262_144,
        },
    )
}

#[test]
fn the_nested_object_bomb_is_refused_before_a_tree_is_built() {
    use crate::providers::{Aodianyun, Srs, Tencent};
    let limit = 1 << 20;
    let bomb = nested_object_bomb(limit);
    assert!(bomb.len() <= limit && bomb.len() > limit - 1024);
    let gz = |query: &str, path: &str| {
        request(
            "POST",
            path,
            query,
            json!({"content-encoding": "gzip"}),
            &gzip(&bomb),
            true,
        )
    };
    assert!(gzip(&bomb).len() < 8192, "a few KB on the wire");
    // Tencent: only `t` and `sign` are read before the signature (no `sign`: 400).
    let tencent = gate_with_limit(&Tencent, limit);
    assert!(matches!(
        tencent.admit_now(&gz("", "/tencent")),
        Err(Rejection::Malformed(_))
    ));
    // With a wrong sign: 401, still without parsing the rest.
    let mut signed = bomb.clone();
    signed.splice(
        1..1,
        br#""sign":"0123456789abcdef0123456789abcdef","#.iter().copied(),
    );
    let r = request("POST", "/tencent", "", json!({}), &signed, false);
    assert_eq!(
        tencent.admit_now(&r).unwrap_err(),
        Rejection::Unauthenticated(AuthFailure::BadSignature)
    );
    // A token provider: 401 without the token, 413 with it.
    for provider in [&Srs as &'static dyn Provider, &Aodianyun, &Bililive, &Lal] {
        let g = gate_with_limit(provider, limit);
        let path = format!("/{}/on_update", provider.name());
        assert_eq!(
            g.admit_now(&gz("", &path)).unwrap_err(),
            Rejection::Unauthenticated(AuthFailure::MissingToken)
        );
        assert!(
            matches!(
                g.admit_now(&gz("token=test-token", &path)),
                Err(Rejection::TooComplex { .. })
            ),
            "{}",
            provider.name()
        );
    }
}

#[test]
fn other_hostile_shapes_are_400_or_413() {
    let limit = 1 << 20;
    let g = gate_with_limit(&Bililive, limit);
    let send = |body: Vec<u8>| {
        g.admit_now(&request(
            "POST",
            "/bililive",
            "token=test-token",
            json!({"content-encoding": "gzip"}),
            &gzip(&body),
            true,
        ))
    };
    let deep_arrays = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(
        send(deep_arrays.into_bytes()).unwrap_err(),
        Rejection::malformed("body is nested too deeply")
    );
    let mut keys = String::from("{");
    for i in 0..150_000 {
        keys.push_str(&format!("\"{i:x}\":0,"));
    }
    keys.push_str("\"end\":0}");
    keys.truncate(limit - 2);
    keys.push_str("0}");
    assert!(matches!(
        send(keys.into_bytes()),
        Err(Rejection::TooComplex {
            what: "JSON values",
            ..
        })
    ));
    let zeros = vec![0u8; 64 << 20];
    assert_eq!(
        send(zeros).unwrap_err(),
        Rejection::PayloadTooLarge { limit }
    );
    // One long string is a large body, not a complex one: parsed (and
    // refused by Bililive for its missing fields).
    let long = format!("{{\"EventType\":\"{}\"}}", "x".repeat(limit - 64));
    assert!(matches!(
        send(long.into_bytes()),
        Err(Rejection::Malformed(_))
    ));
    // Aodianyun's event_value sent as JSON text is bounded as a body is.
    let inner = String::from_utf8(nested_object_bomb(200_000)).unwrap();
    let body =
        serde_json::to_vec(&json!({"event_type": "sys/notify/lss", "event_value": inner})).unwrap();
    let aodianyun = gate_with_limit(&crate::providers::Aodianyun, limit);
    let d = aodianyun
        .admit_now(&post("/aodianyun", "token=test-token", &body))
        .unwrap();
    assert_eq!(d.event_type(), crate::event::EventType::Unrecognized);
}

#[test]
fn a_pasted_token_with_tilde_and_dot_is_accepted_raw() {
    let token = "paste.d~Token-0123_x";
    assert!(crate::auth::token_is_url_safe(token));
    let g = Gate::new(
        &Bililive,
        Verifier {
            tokens: crate::auth::TokenSet::parse(token),
            ..Verifier::default()
        },
        gate(&Bililive, DAY).limits().clone(),
    );
    let r = post(
        "/bililive",
        &format!("token={token}"),
        &bililive_body(RECENT),
    );
    assert!(g.admit_now(&r).is_ok());
}

#[test]
fn secrets_are_redacted_after_the_key_is_derived() {
    use crate::providers::{Srs, Tencent};
    let srs = gate(&Srs, DAY);
    let body = json!({"action": "on_publish", "client_id": "c1", "app": "live", "stream": "s",
        "tcUrl": "rtmp://127.0.0.1/live?secret=abc", "param": "?secret=abc&user=alice"});
    let body = serde_json::to_vec(&body).unwrap();
    let d = srs
        .admit(
            &post("/srs", "token=test-token", &body),
            now(),
            "same-invocation",
        )
        .unwrap();
    let data = &d.events[0].event.data;
    assert_eq!(
        data.url.as_deref(),
        Some("rtmp://127.0.0.1/live?secret=***")
    );
    assert_eq!(data.url_params.as_deref(), Some("?secret=***&user=alice"));
    let raw: Value = serde_json::from_str(data.raw.get()).unwrap();
    assert_eq!(raw["param"], "?secret=***&user=alice");
    assert!(!data.raw.get().contains("abc"));
    // The key is the original's: the same with another list of names.
    let unredacted = gate(&Srs, DAY).with_redactor(Redactor::new(["nothing"]));
    let same = unredacted
        .admit(
            &post("/srs", "token=test-token", &body),
            now(),
            "same-invocation",
        )
        .unwrap();
    assert_eq!(same.key, d.key);
    assert!(same.events[0].event.data.raw.get().contains("secret=abc"));

    // Aodianyun keys by the body: two bodies that differ only in a
    // secret are two events, though both publish `***`.
    let aodianyun = gate(&crate::providers::Aodianyun, Duration::ZERO);
    let with = |secret: &str| {
        let body = json!({"event_type": "sys/notify/lss", "event_value": {"cmd": "StartPublish",
            "app": "live", "stream": "s", "secret": secret}});
        aodianyun
            .admit_now(&post(
                "/aodianyun",
                "token=test-token",
                &serde_json::to_vec(&body).unwrap(),
            ))
            .unwrap()
    };
    let (a, b) = (with("one"), with("two"));
    assert_ne!(a.key, b.key);
    assert_eq!(
        a.events[0].event.data.raw.get(),
        b.events[0].event.data.raw.get()
    );
    assert!(
        a.events[0]
            .event
            .data
            .raw
            .get()
            .contains(r#""secret":"***""#)
    );

    // Tencent: txSecret in stream_param; sign removed (not masked).
    let tencent = gate(&Tencent, Duration::ZERO);
    let mut push = json!({"event_type": 1, "stream_id": "s", "channel_id": "s", "sequence": "1",
        "stream_param": "txSecret=f85a&txTime=5C2ACF00", "t": 0, "sign": ""});
    crate::providers::sign_tencent(
        push.as_object_mut().unwrap(),
        &crate::auth::Secret::new(crate::providers::testing::TENCENT_KEY),
        now().unix_timestamp() + 600,
    );
    let r = post("/tencent", "", &serde_json::to_vec(&push).unwrap());
    let d = tencent.admit_now(&r).unwrap();
    let data = &d.events[0].event.data;
    assert_eq!(
        data.url_params.as_deref(),
        Some("txSecret=***&txTime=5C2ACF00")
    );
    let raw: Value = serde_json::from_str(data.raw.get()).unwrap();
    assert_eq!(raw["stream_param"], "txSecret=***&txTime=5C2ACF00");
    assert!(raw.get("sign").is_none(), "sign is removed, not masked");
}

#[test]
fn deliveries_without_secrets_keep_raw_as_received() {
    let g = gate(&Bililive, DAY);
    let body = br#"{"EventType": "SessionStarted","EventId":"e1",  "EventTimestamp":"2025-12-31T23:00:00.0000000+00:00","EventData":{"RoomId":1, "Title":"a=b"}}"#;
    let d = g
        .admit_now(&post("/bililive", "token=test-token", body))
        .unwrap();
    assert_eq!(d.events[0].event.data.raw.get().as_bytes(), body);
}

#[test]
fn every_admitted_event_names_its_type_schema() {
    let body = br#"{"server_id":"1","session_id":"S1"}"#;
    let request = post("/lal/on_pub_start", "token=test-token", body);
    let d = gate(&Lal, DAY).admit_now(&request).unwrap();
    assert_eq!(
        d.events[0].event.dataschema,
        format!(
            "{}data/stream.started.json",
            crate::event::DEFAULT_SCHEMA_BASE_URL
        )
    );
    let elsewhere = gate(&Lal, DAY).with_data_schemas(DataSchemas::new("https://schemas.example"));
    let d = elsewhere.admit_now(&request).unwrap();
    assert_eq!(
        d.events[0].event.dataschema,
        "https://schemas.example/data/stream.started.json"
    );
}

#[test]
fn the_token_is_checked_before_the_body_is_decoded() {
    // Bodies whose decoding fails or is refused, with a wrong token:
    // 401, never the body's 400 or 413.
    let g = gate(&Bililive, DAY);
    let wrong = |headers: Value, body: &[u8]| {
        g.admit_now(&request(
            "POST",
            "/bililive",
            "token=wrong-token",
            headers,
            body,
            true,
        ))
        .unwrap_err()
    };
    let unauthenticated = Rejection::Unauthenticated(AuthFailure::WrongToken);
    assert_eq!(
        wrong(json!({"content-encoding": "gzip"}), b"not gzip"),
        unauthenticated
    );
    assert_eq!(
        wrong(
            json!({"content-encoding": "gzip"}),
            &gzip(&vec![b' '; 1 << 20])
        ),
        unauthenticated
    );
    assert_eq!(
        wrong(json!({"content-encoding": "br"}), b"{}"),
        unauthenticated
    );
    // A form whose JSON would exceed the limit (nginx-rtmp decodes forms).
    let n = gate(&crate::providers::Nginx, DAY);
    let form = "a&".repeat(LIMIT / 2);
    let form_request = |query: &str| {
        request(
            "POST",
            "/nginx",
            query,
            json!({"content-type": "application/x-www-form-urlencoded"}),
            form.as_bytes(),
            false,
        )
    };
    assert_eq!(
        n.admit_now(&form_request("token=wrong-token")).unwrap_err(),
        unauthenticated
    );
    assert_eq!(
        n.admit_now(&form_request("")).unwrap_err(),
        Rejection::Unauthenticated(AuthFailure::MissingToken)
    );
    assert_eq!(
        n.admit_now(&form_request("token=test-token")).unwrap_err(),
        Rejection::PayloadTooLarge { limit: LIMIT }
    );
}

/// Every text of the published event: its `data` (`raw` included),
/// subject and attributes.
fn published(d: &Delivery) -> String {
    d.events
        .iter()
        .map(|o| serde_json::to_string(&o.event).unwrap())
        .collect()
}

#[test]
fn url_passwords_and_configured_secrets_never_reach_the_event() {
    use crate::providers::Zlmediakit;
    // Whatever the names: a list without the defaults.
    let only = || {
        Redactor::parse("stream_key")
            .with_secrets(["test-token", "old-token"])
            .unwrap()
    };
    // ZLMediaKit's pull proxy of an IP camera.
    let zlm = gate(&Zlmediakit, DAY).with_redactor(only());
    let changed = json!({"app": "live", "stream": "cam", "regist": true, "schema": "rtsp",
            "hook_index": 3, "mediaServerId": "z", "originType": 4, "originTypeStr": "pull",
            "originUrl": "rtsp://admin:Cam3raPass@10.0.0.9:554/Streaming/Channels/101",
            "vhost": "__defaultVhost__"});
    let d = zlm
        .admit_now(&post(
            "/zlmediakit/on_stream_changed",
            "token=test-token",
            &serde_json::to_vec(&changed).unwrap(),
        ))
        .unwrap();
    let text = published(&d);
    assert!(!text.contains("Cam3raPass"), "{text}");
    assert_eq!(
        d.events[0].event.data.url.as_deref(),
        Some("rtsp://admin:***@10.0.0.9:554/Streaming/Channels/101")
    );
    // Its configuration dump: livehook's token in every hook URL.
    let started = json!({"api.secret": "lab-api-secret-123", "hook_index": 0,
            "general.mediaServerId": "z",
            "hook.on_publish": "http://h/zlmediakit/on_publish?token=test-token",
            "hook.on_play": "http://h/zlmediakit/on_play?old=old-token"});
    let d = zlm
        .admit_now(&post(
            "/zlmediakit/on_server_started",
            "token=test-token",
            &serde_json::to_vec(&started).unwrap(),
        ))
        .unwrap();
    let text = published(&d);
    assert!(
        !text.contains("test-token") && !text.contains("old-token"),
        "{text}"
    );
    // Its own API secret too, whatever the names say.
    assert!(!text.contains("lab-api-secret-123"), "{text}");
    // lal's relay pull from a protected origin.
    let lal = gate(&Lal, DAY).with_redactor(only());
    let pull = json!({"server_id": "1", "session_id": "RTMPPULL1", "protocol": "RTMP",
            "url": "rtmp://relay:Rel4yPass@origin:1935/live/s", "app_name": "live",
            "stream_name": "s", "url_param": "", "has_in_session": true});
    let d = lal
        .admit_now(&post(
            "/lal/on_relay_pull_start",
            "token=test-token",
            &serde_json::to_vec(&pull).unwrap(),
        ))
        .unwrap();
    let text = published(&d);
    assert!(!text.contains("Rel4yPass"), "{text}");
    assert!(
        text.contains("rtmp://relay:***@origin:1935/live/s"),
        "{text}"
    );
}
