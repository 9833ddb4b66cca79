//! Adapter tests on inline payloads: rejections, retries, type mapping.

use serde_json::{Value, json};

use super::testing::*;
use super::*;
use crate::error::{AuthFailure, Rejection};

fn to_vec(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

fn tencent_push() -> Value {
    json!({
        "app": "3954.livepush.myqcloud.com", "appname": "live",
        "channel_id": "3954_abc", "stream_id": "3954_abc",
        "event_type": 1, "t": 1767226200, "sign": "not-a-signature",
        "event_time": 1767225500, "sequence": "5911795891871911817",
        "node": "123.10.1.1", "user_ip": "127.0.0.1", "stream_param": "a=1"
    })
}

fn reject(provider: &dyn Provider, path: &str, query: &str, body: &[u8]) -> Rejection {
    match deliver(provider, path, query, body) {
        Ok(d) => panic!("expected a rejection, got {:?}", d.event_type()),
        Err(r) => r,
    }
}

#[test]
fn tencent_signature_and_expiry() {
    let body = resign_tencent(&tencent_push(), fresh_t());
    let delivery = deliver(&Tencent, "/tencent", "", &body).unwrap();
    assert_eq!(delivery.event_type(), EventType::StreamStarted);
    assert_eq!(Tencent.reply(&delivery.key), r#"{"code":0}"#);

    let mut bad = serde_json::from_slice::<Value>(&body).unwrap();
    bad["sign"] = json!("00000000000000000000000000000000");
    assert_eq!(
        reject(&Tencent, "/tencent", "", &to_vec(&bad)),
        Rejection::Unauthenticated(AuthFailure::BadSignature)
    );
    let expired = resign_tencent(&tencent_push(), now().unix_timestamp() - 1);
    assert_eq!(
        reject(&Tencent, "/tencent", "", &expired),
        Rejection::Unauthenticated(AuthFailure::Expired)
    );
    // A token in the query is no substitute for the signature.
    assert!(matches!(
        reject(
            &Tencent,
            "/tencent",
            "token=test-token",
            &to_vec(&tencent_push())
        ),
        Rejection::Unauthenticated(_)
    ));
}

#[test]
fn tencent_t_as_string_and_uppercase_sign_are_accepted() {
    let mut body: Value =
        serde_json::from_slice(&resign_tencent(&tencent_push(), fresh_t())).unwrap();
    body["t"] = json!(fresh_t().to_string());
    body["sign"] = json!(body["sign"].as_str().unwrap().to_uppercase());
    assert!(deliver(&Tencent, "/tencent", "", &to_vec(&body)).is_ok());
}

#[test]
fn tencent_retries_with_a_new_t_keep_the_key() {
    let first = deliver(
        &Tencent,
        "/tencent",
        "",
        &resign_tencent(&tencent_push(), fresh_t()),
    )
    .unwrap();
    let retry = deliver(
        &Tencent,
        "/tencent",
        "",
        &resign_tencent(&tencent_push(), fresh_t() + 60),
    )
    .unwrap();
    assert_eq!(first.key, retry.key);
    let mut stop = tencent_push();
    stop["event_type"] = json!(0);
    let stop = deliver(&Tencent, "/tencent", "", &resign_tencent(&stop, fresh_t())).unwrap();
    assert_ne!(
        first.key, stop.key,
        "start and stop of one sequence are two events"
    );
}

#[test]
fn tencent_structure_errors_are_400_before_the_signature() {
    for (field, value) in [
        ("t", Value::Null),
        ("sign", Value::Null),
        ("t", json!("soon")),
        ("t", json!([1])),
    ] {
        let mut body = tencent_push();
        body[field] = value;
        assert!(
            matches!(
                reject(&Tencent, "/tencent", "", &to_vec(&body)),
                Rejection::Malformed(_)
            ),
            "{field}"
        );
    }
    let mut body = tencent_push();
    body.as_object_mut().unwrap().remove("stream_id");
    // channel_id alone is enough …
    assert!(deliver(&Tencent, "/tencent", "", &resign_tencent(&body, fresh_t())).is_ok());
    // … but not neither.
    body.as_object_mut().unwrap().remove("channel_id");
    assert!(matches!(
        reject(&Tencent, "/tencent", "", &resign_tencent(&body, fresh_t())),
        Rejection::Malformed(reason) if reason.contains("stream_id")
    ));
    let mut body = tencent_push();
    body["event_type"] = json!({"nested": true});
    assert!(matches!(
        reject(&Tencent, "/tencent", "", &resign_tencent(&body, fresh_t())),
        Rejection::Malformed(reason) if reason.contains("event_type")
    ));
}

#[test]
fn tencent_unknown_event_types_are_unrecognized() {
    let mut body = tencent_push();
    body["event_type"] = json!(999);
    let d = deliver(&Tencent, "/tencent", "", &resign_tencent(&body, fresh_t())).unwrap();
    assert_eq!(d.event_type(), EventType::Unrecognized);
    let again = deliver(
        &Tencent,
        "/tencent",
        "",
        &resign_tencent(&body, fresh_t() + 1),
    )
    .unwrap();
    assert_eq!(
        d.key, again.key,
        "t and sign are not part of a fallback key"
    );
}

#[test]
fn token_providers_check_the_token_before_the_body() {
    let providers: [(&dyn Provider, &str); 5] = [
        (&Aodianyun, "/aodianyun"),
        (&Bililive, "/bililive"),
        (&Lal, "/lal/on_pub_start"),
        (&ApiServer, "/apiserver"),
        (&Srs, "/srs"),
    ];
    for (provider, path) in providers {
        let name = provider.name();
        assert_eq!(
            reject(provider, path, "", b"not json"),
            Rejection::Unauthenticated(AuthFailure::MissingToken),
            "{name}"
        );
        assert_eq!(
            reject(provider, path, "token=nope", b"not json"),
            Rejection::Unauthenticated(AuthFailure::WrongToken),
            "{name}"
        );
        assert_eq!(
            reject(provider, path, "token=test-token&token=test-token", b"{}"),
            Rejection::Unauthenticated(AuthFailure::AmbiguousToken),
            "{name}"
        );
        for token in ["test-token", "old-token"] {
            let query = format!("token={token}");
            assert!(
                matches!(
                    reject(provider, path, &query, b"not json"),
                    Rejection::Malformed(_)
                ),
                "{name}"
            );
            assert!(
                matches!(reject(provider, path, &query, b""), Rejection::Malformed(_)),
                "{name}"
            );
            assert!(
                matches!(
                    reject(provider, path, &query, b"[1,2]"),
                    Rejection::Malformed(_)
                ),
                "{name}"
            );
            assert!(
                matches!(
                    reject(provider, path, &query, b"{}"),
                    Rejection::Malformed(_)
                ),
                "{name}"
            );
        }
    }
}

fn aodianyun(retry_times: i64, event_value: Value) -> Vec<u8> {
    to_vec(&json!({
        "room_id": 0, "admin_id": 13830, "retry_times": retry_times, "started_at": 1767225500,
        "event_type": "sys/notify/lss", "event_value": event_value
    }))
}

#[test]
fn aodianyun_retries_and_string_values_are_one_event() {
    let value =
        json!({"cmd": "StartPublish", "app": "dyy_1", "stream": "live1", "time": "1767225500"});
    let first = deliver(
        &Aodianyun,
        "/aodianyun",
        "token=test-token",
        &aodianyun(1, value.clone()),
    )
    .unwrap();
    assert_eq!(first.event_type(), EventType::StreamStarted);
    assert_eq!(first.recorded, [("retry_times", Recorded::Number(1))]);
    assert_eq!(first.events[0].event.subject, "aodianyun/dyy_1/live1");
    for retry in 2..=3 {
        let d = deliver(
            &Aodianyun,
            "/aodianyun",
            "token=test-token",
            &aodianyun(retry, value.clone()),
        )
        .unwrap();
        assert_eq!(d.key, first.key);
        assert_eq!(d.recorded, [("retry_times", Recorded::Number(retry))]);
    }
    let as_string = aodianyun(1, Value::String(value.to_string()));
    let d = deliver(&Aodianyun, "/aodianyun", "token=test-token", &as_string).unwrap();
    assert_eq!(d.key, first.key);
    assert_eq!(d.event_type(), EventType::StreamStarted);
    let stop =
        json!({"cmd": "StopPublish", "app": "dyy_1", "stream": "live1", "time": "1767225500"});
    let d = deliver(
        &Aodianyun,
        "/aodianyun",
        "token=test-token",
        &aodianyun(1, stop),
    )
    .unwrap();
    assert_ne!(d.key, first.key);
    assert_eq!(d.event_type(), EventType::StreamStopped);
}

#[test]
fn aodianyun_upload_shapes_and_unknown_types() {
    let upload = |value: Value| {
        let body = to_vec(
            &json!({"admin_id": 1, "retry_times": 1, "started_at": 1, "event_type": "sys/notify/upload_dvr", "event_value": value}),
        );
        deliver(&Aodianyun, "/aodianyun", "token=test-token", &body).unwrap()
    };
    assert_eq!(
        upload(json!({"user": "1", "url": "u", "filename": "f"})).event_type(),
        EventType::VodUploaded
    );
    assert_eq!(
        upload(json!({"user": "1", "url": "u", "adaptive": "a"})).event_type(),
        EventType::VodTranscoded
    );
    assert_eq!(
        upload(json!({"user": "1", "url": "u", "m3u8_720": "m"})).event_type(),
        EventType::VodTranscoded
    );
    let unknown = to_vec(
        &json!({"admin_id": 1, "event_type": "sys/notify/brand_new", "event_value": "not json"}),
    );
    let d = deliver(&Aodianyun, "/aodianyun", "token=test-token", &unknown).unwrap();
    assert_eq!(d.event_type(), EventType::Unrecognized);
    assert_eq!(d.events[0].event.subject, "aodianyun/1");
    assert_eq!(d.events[0].stream, None);
    let no_type = to_vec(&json!({"admin_id": 1, "event_value": {}}));
    assert!(matches!(
        reject(&Aodianyun, "/aodianyun", "token=test-token", &no_type),
        Rejection::Malformed(r) if r.contains("event_type")
    ));
}

#[test]
fn bililive_v2_v1_and_required_fields() {
    let v2 = json!({
        "EventType": "FileClosed", "EventTimestamp": "2021-05-14T17:52:54.9461101+08:00",
        "EventId": "98f85267", "EventData": {"RoomId": 23058, "RelativePath": "a/b.flv", "FileSize": 816412, "Duration": 4.992}
    });
    let d = deliver(&Bililive, "/bililive", "token=test-token", &to_vec(&v2)).unwrap();
    assert_eq!(d.event_type(), EventType::RecordingFileClosed);
    let event = &d.events[0].event;
    assert_eq!(event.time, "2021-05-14T09:52:54.9461101Z");
    assert_eq!(event.subject, "bililive/23058");
    let file = event.data.file.as_ref().unwrap();
    assert_eq!(
        (file.size_bytes, file.format.as_deref()),
        (Some(816412), Some("flv"))
    );
    assert_eq!(
        d.key,
        deliver(&Bililive, "/bililive", "token=test-token", &to_vec(&v2))
            .unwrap()
            .key
    );

    let v1 = json!({"EventRandomId": "bc2d0a41", "RoomId": 14846654, "EndRecordTime": "2021-01-07T16:06:16.1693244+08:00"});
    let d = deliver(&Bililive, "/bililive", "token=test-token", &to_vec(&v1)).unwrap();
    assert_eq!(d.event_type(), EventType::RecordingFileClosed);
    assert_eq!(d.events[0].event.time, "2021-01-07T08:06:16.1693244Z");

    for missing in ["EventId", "EventType"] {
        let mut body = v2.clone();
        body.as_object_mut().unwrap().remove(missing);
        assert!(matches!(
            reject(&Bililive, "/bililive", "token=test-token", &to_vec(&body)),
            Rejection::Malformed(r) if r.contains(missing)
        ));
    }
    let mut unknown = v2.clone();
    unknown["EventType"] = json!("SomethingNew");
    unknown["EventData"] = json!("a string, even");
    let d = deliver(
        &Bililive,
        "/bililive",
        "token=test-token",
        &to_vec(&unknown),
    )
    .unwrap();
    assert_eq!(d.event_type(), EventType::Unrecognized);
}

#[test]
fn lal_hooks_come_from_the_path() {
    let body = json!({"server_id": "1", "session_id": "RTMPPUBSUB1", "app_name": "live", "stream_name": "test110", "remotet_addr": "[::1]:57308"});
    let cases = [
        ("on_pub_start", EventType::StreamStarted),
        ("on_pub_stop", EventType::StreamStopped),
        ("on_sub_start", EventType::PlaybackStarted),
        ("on_sub_stop", EventType::PlaybackStopped),
        ("on_rtmp_connect", EventType::ConnectionOpened),
        ("on_hls_make_ts", EventType::Unrecognized),
    ];
    let mut keys = std::collections::HashSet::new();
    for (hook, expected) in cases {
        let d = deliver(
            &Lal,
            &format!("/prod/lal/{hook}"),
            "token=test-token",
            &to_vec(&body),
        )
        .unwrap();
        assert_eq!(d.event_type(), expected, "{hook}");
        assert_eq!(d.events[0].event.data.provider_event, hook);
        assert!(keys.insert(d.key), "{hook} shares a key");
    }
    let d = deliver(
        &Lal,
        "/lal/on_pub_start",
        "token=test-token",
        &to_vec(&body),
    )
    .unwrap();
    assert_eq!(d.events[0].event.subject, "lal/live/test110");
    assert_eq!(d.events[0].event.data.client_ip.as_deref(), Some("::1"));
    assert_eq!(d.events[0].event.time, crate::event::format_time(now()));

    let mut no_session = body.clone();
    no_session.as_object_mut().unwrap().remove("session_id");
    assert!(matches!(
        reject(&Lal, "/lal/on_pub_start", "token=test-token", &to_vec(&no_session)),
        Rejection::Malformed(r) if r.contains("session_id")
    ));
    for path in ["/lal/..", "/lal/on_pub%2fstart", "/lal/a b"] {
        assert!(
            matches!(
                reject(&Lal, path, "token=test-token", &to_vec(&body)),
                Rejection::Malformed(_)
            ),
            "{path}"
        );
    }
}

#[test]
fn lal_keys_every_delivery_apart() {
    // An idle server's identical heartbeats are each an event.
    let update = to_vec(&json!({"server_id": "1", "groups": null}));
    let a = deliver(&Lal, "/lal/on_update", "token=test-token", &update).unwrap();
    let b = deliver(&Lal, "/lal/on_update", "token=test-token", &update).unwrap();
    assert_ne!(a.key, b.key);
    assert_eq!(a.event_type(), EventType::ServerStats);
    assert_eq!(a.events[0].event.subject, "lal/1");
    assert_eq!(a.events[0].stream, None);
    // A restarted lalserver's first publisher is `RTMPPUBSUB1` again.
    let publish = to_vec(
        &json!({"server_id": "1", "session_id": "RTMPPUBSUB1", "app_name": "live", "stream_name": "s"}),
    );
    let first = deliver(&Lal, "/lal/on_pub_start", "token=test-token", &publish).unwrap();
    let after_restart = deliver(&Lal, "/lal/on_pub_start", "token=test-token", &publish).unwrap();
    assert_ne!(first.key, after_restart.key);
    // Within one invocation (an SDK retry) the key is the same.
    let once = |id| {
        deliver_as(
            &Lal,
            "/lal/on_pub_start",
            "token=test-token",
            &publish,
            id,
            262_144,
        )
        .unwrap()
        .key
    };
    assert_eq!(once("req-1"), once("req-1"));
}

#[test]
fn large_lal_updates_split_without_losing_groups() {
    let groups: Vec<Value> = (0..1000)
        .map(|i| json!({"stream_name": format!("stream{i}"), "app_name": "live", "pub": {"session_id": format!("RTMPPUBSUB{i}"), "remote_addr": "10.0.0.1:5000", "read_bytes_sum": 123456789, "bitrate_kbits": 2500}, "subs": [{"session_id": "FLVSUB1", "protocol": "HTTP-FLV"}]}))
        .collect();
    let body = to_vec(&json!({"server_id": "1", "groups": groups}));
    assert!(body.len() > 200_000, "{}", body.len());
    // Fits a 1 MiB topic whole; a 64 KiB topic gets parts.
    let whole = deliver_as(
        &Lal,
        "/lal/on_update",
        "token=test-token",
        &body,
        "r",
        1 << 20,
    )
    .unwrap();
    assert_eq!(whole.events.len(), 1);
    let limit = 64 * 1024;
    let d = deliver_as(
        &Lal,
        "/lal/on_update",
        "token=test-token",
        &body,
        "r",
        limit,
    )
    .unwrap();
    assert!(d.events.len() > 3, "{}", d.events.len());
    let mut seen = 0;
    for (i, o) in d.events.iter().enumerate() {
        let envelope = serde_json::to_string(&o.event).unwrap();
        assert!(
            envelope.len() + 1024 < limit,
            "part {i} is {} bytes",
            envelope.len()
        );
        assert_eq!(o.event.data.part.unwrap().index, i + 1);
        assert_eq!(o.event.id, format!("{}-{}", d.key, i + 1));
        let raw: Value = serde_json::from_str(o.event.data.raw.get()).unwrap();
        assert_eq!(raw["server_id"], "1");
        for g in raw["groups"].as_array().unwrap() {
            assert_eq!(g["stream_name"], format!("stream{seen}"));
            seen += 1;
        }
    }
    assert_eq!(seen, 1000);
}

#[test]
fn apiserver_keys_and_fallback() {
    let live = json!({"event": "channel_live", "eventTime": 1476697473034_i64, "id": "ch1", "name": "Demo"});
    let d = deliver(&ApiServer, "/apiserver", "token=test-token", &to_vec(&live)).unwrap();
    assert_eq!(d.event_type(), EventType::StreamStarted);
    assert_eq!(d.events[0].event.time, "2016-10-17T09:44:33.034Z");
    assert_eq!(d.events[0].event.subject, "apiserver/ch1");
    let mut camel = live.clone();
    camel.as_object_mut().unwrap().remove("id");
    camel["channelId"] = json!("ch1");
    assert_eq!(
        d.key,
        deliver(
            &ApiServer,
            "/apiserver",
            "token=test-token",
            &to_vec(&camel)
        )
        .unwrap()
        .key
    );
    let mut later = live.clone();
    later["eventTime"] = json!(1476697473035_i64);
    assert_ne!(
        d.key,
        deliver(
            &ApiServer,
            "/apiserver",
            "token=test-token",
            &to_vec(&later)
        )
        .unwrap()
        .key
    );
    let anonymous = json!({"event": "channel_ended", "eventTime": 1});
    let d = deliver(
        &ApiServer,
        "/apiserver",
        "token=test-token",
        &to_vec(&anonymous),
    )
    .unwrap();
    assert_eq!(d.events[0].stream, None);
    assert!(matches!(
        reject(&ApiServer, "/apiserver", "token=test-token", &to_vec(&json!({"eventTime": 1}))),
        Rejection::Malformed(r) if r.contains("event")
    ));
    assert!(matches!(
        reject(
            &ApiServer,
            "/apiserver",
            "token=test-token",
            &to_vec(&json!({"event": {"x": 1}}))
        ),
        Rejection::Malformed(_)
    ));
}

#[test]
fn registry_finds_every_provider() {
    for name in [
        "tencent",
        "aodianyun",
        "bililive",
        "lal",
        "apiserver",
        "srs",
    ] {
        assert_eq!(by_name(name).map(|p| p.name()), Some(name));
    }
    assert!(by_name("nope").is_none());
}

#[test]
fn raw_is_the_body_as_received() {
    let body = br#"{ "event":"channel_live" , "eventTime":1.50e3,"id":"x" }"#;
    let d = deliver(&ApiServer, "/apiserver", "token=test-token", body).unwrap();
    assert_eq!(
        d.events[0].event.data.raw.get(),
        r#"{ "event":"channel_live" , "eventTime":1.50e3,"id":"x" }"#
    );
}

// ---------------------------------------------------------------------------
// Sending: what `prepare` does to a payload, as the provider itself would.

fn prepared(provider: &dyn Imitate, body: &Value, secret: Option<&str>, attempt: u32) -> Value {
    let out = prepared_body(provider, &to_vec(body), secret, now(), attempt);
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn tencent_times_move_together_and_the_body_is_signed() {
    let body =
        json!({"event_type": 100, "start_time": 1000, "end_time": "1300", "t": "1", "sign": "x"});
    let out = prepared(&Tencent, &body, Some(TENCENT_KEY), 0);
    let now = now().unix_timestamp();
    assert_eq!(out["end_time"], now.to_string());
    assert_eq!(out["start_time"], now - 300);
    // `t` keeps its shape (a string here), ten minutes ahead.
    assert_eq!(out["t"], fresh_t().to_string());
    assert_eq!(
        out["sign"],
        crate::auth::tencent_sign(
            &crate::auth::Secret::new(TENCENT_KEY),
            &fresh_t().to_string()
        )
    );
    // Without a key the body is not signed.
    assert_eq!(prepared(&Tencent, &body, None, 0)["sign"], "x");
}

#[test]
fn tencent_prepared_synthetic_is_accepted_and_its_retry_is_the_same_event() {
    let (event, body) = Tencent.synthetic("livehook-check", "n1");
    let body = Value::Object(body);
    let first = prepared_body(&Tencent, &to_vec(&body), Some(TENCENT_KEY), now(), 0);
    let retry = prepared_body(&Tencent, &to_vec(&body), Some(TENCENT_KEY), now(), 1);
    let path = request_path(&Tencent, event);
    let a = deliver(&Tencent, &path, "", &first).unwrap();
    let b = deliver(&Tencent, &path, "", &retry).unwrap();
    assert_eq!(a.key, b.key);
    // The retry is signed anew, with the later expiry of its send time.
    let retry: Value = serde_json::from_slice(&retry).unwrap();
    assert_eq!(retry["t"], fresh_t() + 60);
    assert!(a.events[0].event.subject.ends_with("/livehook-check"));
}

#[test]
fn aodianyun_string_event_value_is_edited_inside() {
    let body =
        json!({"started_at": 10, "retry_times": 1, "event_value": "{\"start\":5,\"end\":10}"});
    let out = prepared(&Aodianyun, &body, None, 0);
    let now = now().unix_timestamp();
    assert_eq!(out["started_at"], now);
    let inner: Value = serde_json::from_str(out["event_value"].as_str().unwrap()).unwrap();
    assert_eq!(inner, json!({"start": now - 5, "end": now}));
}

#[test]
fn aodianyun_retries_count_up_from_one() {
    assert_eq!(
        prepared(&Aodianyun, &json!({"retry_times": 1}), None, 2)["retry_times"],
        3
    );
    assert_eq!(
        prepared(&Aodianyun, &json!({"retry_times": "1"}), None, 1)["retry_times"],
        "2"
    );
    assert_eq!(
        prepared(&Aodianyun, &json!({"x": 0}), None, 0)["retry_times"],
        1
    );
    assert_eq!(
        prepared(&Aodianyun, &json!({"x": 0}), None, 1)["retry_times"],
        2
    );
}

#[test]
fn bililive_timestamps_keep_offset_and_digits() {
    let body = json!({"EventTimestamp": "2021-05-14T17:52:44.4960899+08:00",
        "EventData": {"FileOpenTime": "2021-05-14T17:52:40.4960899+08:00"}});
    let out = prepared(&Bililive, &body, None, 0);
    assert_eq!(out["EventTimestamp"], "2026-01-01T08:00:00.0000000+08:00");
    assert_eq!(
        out["EventData"]["FileOpenTime"],
        "2026-01-01T07:59:56.0000000+08:00"
    );
}

#[test]
fn apiserver_event_time_is_in_milliseconds() {
    let body = json!({"eventTime": 1000, "createdAt": 500});
    let out = prepared(&ApiServer, &body, None, 0);
    let ms = now().unix_timestamp() * 1000;
    assert_eq!(out["eventTime"], ms);
    assert_eq!(out["createdAt"], ms - 500);
}

#[test]
fn lal_is_sent_byte_for_byte() {
    let body = br#"{"b":1, "a":2}"#;
    assert_eq!(prepared_body(&Lal, body, Some("k"), now(), 0), body);
    // And a body that is not a JSON object, by every provider.
    for provider in ALL_IMITATE {
        assert_eq!(
            prepared_body(provider, b"[1, 2]", Some("k"), now(), 1),
            b"[1, 2]"
        );
    }
}

#[test]
fn every_prepared_synthetic_event_is_accepted_about_the_check_stream() {
    for provider in ALL_IMITATE {
        let (event, body) = provider.synthetic("livehook-check", "nonce-1");
        // What signs inside the body (Tencent's key; a signed platform's
        // secret, for Volcengine's `sign`).
        let body_key = match provider.auth_scheme() {
            AuthScheme::Signed(_) => crate::providers::testing::SIGNING[1],
            _ => TENCENT_KEY,
        };
        let bytes = prepared_body(
            provider,
            &to_vec(&Value::Object(body)),
            Some(body_key),
            now(),
            0,
        );
        let query = match provider.auth_scheme() {
            AuthScheme::QueryToken => format!("token={TOKEN}"),
            AuthScheme::TencentSign | AuthScheme::Signed(_) => String::new(),
        };
        let path = request_path(provider, event);
        let d = match provider.auth_scheme() {
            // Signed as the tools sign it, through the whole gate (the proof checked).
            // A GET where the platform sends the fields in the query.
            AuthScheme::Signed(_) => {
                let wire = super::wire(provider, &bytes);
                let headers = super::signed_headers(
                    provider,
                    &wire.body,
                    Some(crate::providers::testing::SIGNING[1]),
                    now(),
                    wire.target(crate::providers::testing::HOST),
                );
                let provider: &'static dyn Provider = provider;
                let target = match wire.query.as_str() {
                    "" => path.clone(),
                    query => format!("{path}?{query}"),
                };
                let (method, body) = (wire.method, &wire.body);
                crate::providers::testing::deliver_signed(provider, method, &target, &headers, body)
            }
            _ => deliver(provider, &path, &query, &bytes),
        }
        .unwrap_or_else(|r| panic!("{}: {r:?}", provider.name()));
        let out = &d.events[0];
        assert!(
            out.event.subject.ends_with("livehook-check"),
            "{}: {}",
            provider.name(),
            out.event.subject
        );
        assert!(
            out.stream
                .as_deref()
                .is_some_and(|s| s.ends_with("livehook-check"))
        );
    }
}

#[test]
fn routes_and_paths_come_from_receiving() {
    assert_eq!(route(&Lal), "/lal/{hook}");
    assert_eq!(request_path(&Lal, "on_update.large"), "/lal/on_update");
    assert_eq!(route(&Tencent), "/tencent");
    assert_eq!(request_path(&Tencent, "push"), "/tencent");
}

#[test]
fn lal_segment_is_ready_only_when_closed() {
    let segment = |event: &str| {
        to_vec(
            &json!({"server_id": "1", "event": event, "stream_name": "test110",
            "ts_file": "/opt/lal/hls/test110/test110-1-12.ts", "id": 12, "duration": 3.067,
            "live_m3u8_file": "/opt/lal/hls/test110/playlist.m3u8"}),
        )
    };
    let open = deliver(
        &Lal,
        "/lal/on_hls_make_ts",
        "token=test-token",
        &segment("open"),
    )
    .unwrap();
    assert_eq!(open.event_type(), EventType::Unrecognized);
    assert_eq!(open.events[0].event.data.file, None);
    let closed = deliver(
        &Lal,
        "/lal/on_hls_make_ts",
        "token=test-token",
        &segment("close"),
    )
    .unwrap();
    assert_eq!(closed.event_type(), EventType::RecordingSegmentReady);
    let file = closed.events[0].event.data.file.clone().unwrap();
    assert_eq!(file.seq_no, Some(12));
    assert_eq!(file.duration_seconds, Some(3.067));
    assert_eq!(
        file.path.as_deref(),
        Some("/opt/lal/hls/test110/test110-1-12.ts")
    );
    assert_eq!(
        file.playlist_path.as_deref(),
        Some("/opt/lal/hls/test110/playlist.m3u8")
    );
}

fn srs(action: &str) -> Value {
    json!({
        "server_id": "vid-0xk989d", "service_id": "d8d3fc3s", "action": action,
        "client_id": "341w361a", "ip": "127.0.0.1", "vhost": "__defaultVhost__", "app": "live",
        "tcUrl": "rtmp://127.0.0.1/live", "stream": "livestream", "param": "?secret=x",
        "stream_url": "/live/livestream", "stream_id": "vid-2h3a69i"
    })
}

#[test]
fn srs_actions_map_to_types() {
    let cases = [
        ("on_connect", EventType::ConnectionOpened),
        ("on_close", EventType::ConnectionClosed),
        ("on_publish", EventType::StreamStarted),
        ("on_unpublish", EventType::StreamStopped),
        ("on_play", EventType::PlaybackStarted),
        ("on_stop", EventType::PlaybackStopped),
        ("on_dvr", EventType::RecordingFileClosed),
        ("on_hls", EventType::RecordingSegmentReady),
        ("on_forward", EventType::Unrecognized),
        ("on_something_new", EventType::Unrecognized),
    ];
    for (action, expected) in cases {
        let d = deliver(&Srs, "/srs", "token=test-token", &to_vec(&srs(action))).unwrap();
        assert_eq!(d.event_type(), expected, "{action}");
        let e = &d.events[0].event;
        assert_eq!(e.data.provider_event, action);
        assert_eq!(e.subject, "srs/live/livestream", "{action}");
        assert_eq!(d.events[0].stream.as_deref(), Some("live/livestream"));
        assert_eq!(e.time, crate::event::format_time(now()));
        assert_eq!(e.data.client_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(e.data.session_id.as_deref(), Some("341w361a"));
        assert_eq!(e.data.server_id.as_deref(), Some("vid-0xk989d"));
        assert_eq!(e.data.url.as_deref(), Some("rtmp://127.0.0.1/live"));
        assert_eq!(e.data.url_params.as_deref(), Some("?secret=x"));
        // `__defaultVhost__` is SRS's placeholder, not a domain.
        assert_eq!(e.data.domain, None);
    }
    assert_eq!(Srs.reply("any"), r#"{"code":0}"#);
}

#[test]
fn srs_requires_an_action_after_the_token() {
    let mut body = srs("on_publish");
    body.as_object_mut().unwrap().remove("action");
    assert!(matches!(
        reject(&Srs, "/srs", "token=test-token", &to_vec(&body)),
        Rejection::Malformed(r) if r.contains("action")
    ));
    // The token is checked before the body is even parsed.
    assert_eq!(
        reject(&Srs, "/srs", "token=nope", &to_vec(&body)),
        Rejection::Unauthenticated(AuthFailure::WrongToken)
    );
    assert_eq!(
        reject(&Srs, "/srs", "token=nope", b"not json"),
        Rejection::Unauthenticated(AuthFailure::WrongToken)
    );
}

#[test]
fn srs_keys_are_per_delivery() {
    let body = to_vec(&srs("on_publish"));
    let a = deliver_as(&Srs, "/srs", "token=test-token", &body, "req-a", 262_144).unwrap();
    let again = deliver_as(&Srs, "/srs", "token=test-token", &body, "req-a", 262_144).unwrap();
    let b = deliver_as(&Srs, "/srs", "token=test-token", &body, "req-b", 262_144).unwrap();
    // SRS never resends: the same body twice is two events; the same
    // invocation (a Lambda retry of one request) is one.
    assert_eq!(a.key, again.key);
    assert_ne!(a.key, b.key);
    let other = to_vec(&srs("on_unpublish"));
    let c = deliver_as(&Srs, "/srs", "token=test-token", &other, "req-a", 262_144).unwrap();
    assert_eq!(a.key, c.key, "the key depends on the request id only");
}

#[test]
fn srs_tolerates_old_and_odd_field_types() {
    // SRS 3: `client_id` is an integer and there are no server ids.
    let old = json!({"action": "on_publish", "client_id": 107, "ip": "127.0.0.1",
        "vhost": "__defaultVhost__", "app": "live", "tcUrl": "rtmp://127.0.0.1/live",
        "stream": "livestream", "param": ""});
    let d = deliver(&Srs, "/srs", "token=test-token", &to_vec(&old)).unwrap();
    assert_eq!(d.event_type(), EventType::StreamStarted);
    let e = &d.events[0].event;
    assert_eq!(e.data.session_id.as_deref(), Some("107"));
    assert_eq!(e.data.server_id, None);
    assert_eq!(e.data.url_params, None);

    // A connection before any stream: subject is the client id.
    let connect = json!({"action": "on_connect", "client_id": "341w361a", "app": "live",
        "stream": "", "vhost": "video.test.com"});
    let d = deliver(&Srs, "/srs", "token=test-token", &to_vec(&connect)).unwrap();
    assert_eq!(d.events[0].event.subject, "srs/341w361a");
    assert_eq!(d.events[0].stream, None);
    assert_eq!(
        d.events[0].event.data.domain.as_deref(),
        Some("video.test.com")
    );

    // Wrong types in optional fields stay in `raw`.
    let odd = json!({"action": "on_hls", "client_id": {"x": 1}, "duration": "9.5",
        "seq_no": "7", "file": 5, "app": ["live"], "stream": true});
    let d = deliver(&Srs, "/srs", "token=test-token", &to_vec(&odd)).unwrap();
    assert_eq!(d.event_type(), EventType::RecordingSegmentReady);
    assert_eq!(d.events[0].event.subject, "srs/unknown");
    let file = d.events[0].event.data.file.clone().unwrap();
    assert_eq!(file.duration_seconds, Some(9.5));
    assert_eq!(file.seq_no, Some(7));
    assert_eq!(file.path.as_deref(), Some("5"));

    // An action that is not text is an action this version does not know.
    let numeric = json!({"action": 3, "client_id": "a"});
    let d = deliver(&Srs, "/srs", "token=test-token", &to_vec(&numeric)).unwrap();
    assert_eq!(d.event_type(), EventType::Unrecognized);
}

#[test]
fn srs_segment_and_dvr_files() {
    let mut hls = srs("on_hls");
    let extra = json!({"duration": 10.011, "cwd": "/usr/local/srs",
        "file": "./objs/nginx/html/live/livestream-12.ts", "url": "live/livestream-12.ts",
        "m3u8": "./objs/nginx/html/live/livestream.m3u8", "m3u8_url": "live/livestream.m3u8",
        "seq_no": 12});
    hls.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let d = deliver(&Srs, "/srs", "token=test-token", &to_vec(&hls)).unwrap();
    let file = d.events[0].event.data.file.clone().unwrap();
    assert_eq!(
        file,
        crate::event::FileInfo {
            url: Some("live/livestream-12.ts".into()),
            path: Some("./objs/nginx/html/live/livestream-12.ts".into()),
            format: Some("ts".into()),
            duration_seconds: Some(10.011),
            seq_no: Some(12),
            playlist_path: Some("./objs/nginx/html/live/livestream.m3u8".into()),
            playlist_url: Some("live/livestream.m3u8".into()),
            ..Default::default()
        }
    );
    let mut dvr = srs("on_dvr");
    dvr["file"] = json!("./objs/nginx/html/live/livestream.1729001234567.FLV");
    let d = deliver(&Srs, "/srs", "token=test-token", &to_vec(&dvr)).unwrap();
    let file = d.events[0].event.data.file.clone().unwrap();
    assert_eq!(file.format.as_deref(), Some("flv"));
    assert_eq!(file.duration_seconds, None);
}

#[test]
fn recorded_envelopes_are_scrubbed_of_secret_fields() {
    // A record written before `sign` was removed from `data.raw`.
    let mut old = json!({"source": "livehook/tencent", "data": {"raw": {"t": 1, "sign": "abc", "stream_id": "s"}}});
    assert!(scrub_envelope(&mut old));
    assert_eq!(old["data"]["raw"], json!({"t": 1, "stream_id": "s"}));
    assert!(!scrub_envelope(&mut old), "nothing left to remove");
    // Other providers have no secret fields: a `sign` of theirs is data.
    let mut lal = json!({"source": "livehook/lal", "data": {"raw": {"sign": "x"}}});
    assert!(!scrub_envelope(&mut lal));
    assert_eq!(lal["data"]["raw"]["sign"], "x");
    let mut unknown = json!({"source": "elsewhere", "data": {"raw": {"sign": "x"}}});
    assert!(!scrub_envelope(&mut unknown));
    // A member of a top-level object (a Mux live stream's key).
    let mut mux = json!({"source": "livehook/mux", "data": {"raw": {"data": {"id": "ls", "stream_key": "k"}}}});
    assert!(scrub_envelope(&mut mux));
    assert_eq!(mux["data"]["raw"]["data"], json!({"id": "ls"}));
}

/// The README's first paragraph, what a newcomer reads first, names every
/// provider of the registry (spaces, hyphens and case aside: "Api Server").
#[test]
fn the_readme_introduction_names_every_provider() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md beside the workspace");
    let intro = readme
        .split("\n\n")
        .find(|p| !p.trim_start().starts_with('#'))
        .unwrap_or_default();
    let squashed: String = intro
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    for provider in ALL {
        assert!(
            squashed.contains(provider.name()),
            "README's first paragraph does not name {}",
            provider.name()
        );
    }
}

#[test]
fn dot_segments_are_read_as_decoding_would_read_them() {
    // What the check replaced: lowercase, decode `%2e`, compare.
    let decoded = |segment: &str| {
        let d = segment.to_ascii_lowercase().replace("%2e", ".");
        d == "." || d == ".."
    };
    for segment in [
        ".",
        "..",
        "%2e",
        "%2E",
        "%2e%2E",
        ".%2e",
        "%2E.",
        "",
        "...",
        "%2e%2e%2e",
        "%2",
        "%2f",
        "a..",
        "..a",
        ".%2",
        "%%2e",
        "%2e%",
        "on_publish",
        "%252e",
    ] {
        assert_eq!(is_dot_segment(segment), decoded(segment), "{segment:?}");
    }
}

#[test]
fn the_default_reply_and_the_envelope_names_are_exact() {
    assert_eq!(Lal.reply("0123abcd"), r#"{"ok":true,"id":"0123abcd"}"#);
    let body =
        json!({"server_id": "1", "session_id": "S1", "app_name": "live", "stream_name": "cam"});
    let d = deliver(
        &Lal,
        "/lal/on_pub_start",
        "token=test-token",
        &to_vec(&body),
    )
    .unwrap();
    let e = &d.events[0].event;
    assert_eq!(e.source, "livehook/lal");
    assert_eq!(e.subject, "lal/live/cam");
    assert_eq!(d.events[0].stream.as_deref(), Some("live/cam"));
    let srs = json!({"action": "on_publish", "app": "live", "stream": "cam", "param": "?key=k1"});
    let d = deliver(&Srs, "/srs", "token=test-token", &to_vec(&srs)).unwrap();
    assert_eq!(d.admission.map(|a| a.stream).as_deref(), Some("live/cam"));
}
