//! Property tests: every adapter returns (never panics) on arbitrary bytes,
//! arbitrary JSON, and arbitrary JSON shaped like its own payloads.

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::testing::*;
use super::{ALL, Provider};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        "[0-9]{1,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Field names the adapters look at, so generated objects hit real code paths.
const KNOWN_FIELDS: &[&str] = &[
    "t",
    "sign",
    "event_type",
    "stream_id",
    "channel_id",
    "sequence",
    "file_id",
    "pic_url",
    "event_time",
    "file_size",
    "end_time",
    "create_time",
    "retry_times",
    "event_value",
    "started_at",
    "admin_id",
    "cmd",
    "app",
    "stream",
    "EventType",
    "EventId",
    "EventData",
    "EventTimestamp",
    "EventRandomId",
    "RoomId",
    "FileSize",
    "Duration",
    "RelativePath",
    "server_id",
    "session_id",
    "app_name",
    "stream_name",
    "remote_addr",
    "remotet_addr",
    "groups",
    "event",
    "eventTime",
    "id",
    "channelId",
];

fn shaped_object() -> impl Strategy<Value = Value> {
    prop::collection::vec((prop::sample::select(KNOWN_FIELDS), json_value()), 0..14).prop_map(
        |fields| {
            let mut map = Map::new();
            for (k, v) in fields {
                map.insert(k.to_owned(), v);
            }
            Value::Object(map)
        },
    )
}

const PATHS: &[&str] = &[
    "/",
    "/tencent",
    "/lal/on_pub_start",
    "/lal/on_update",
    "/lal/on_x",
    "/lal/..",
    "",
];

fn exercise(body: &[u8], path: &str, query: &str) {
    for provider in ALL {
        let _ = deliver(provider, path, query, body);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512),
                                   path in prop::sample::select(PATHS),
                                   query in "(token=test-token|token=[a-z%]{0,6}|[a-z=&%]{0,16})") {
        exercise(&body, path, &query);
    }

    #[test]
    fn arbitrary_json_never_panics(value in json_value(), path in prop::sample::select(PATHS)) {
        exercise(&serde_json::to_vec(&value).unwrap(), path, "token=test-token");
    }

    #[test]
    fn payload_shaped_json_never_panics(value in shaped_object(), path in prop::sample::select(PATHS), t in any::<i64>()) {
        exercise(&serde_json::to_vec(&value).unwrap(), path, "token=test-token");
        // Tencent with a valid signature, so the code past authentication runs too.
        let signed = resign_tencent(&value, t);
        let _ = deliver(&super::Tencent, "/tencent", "", &signed);
        let _ = super::Tencent.name();
    }
}
