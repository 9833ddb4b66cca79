//! Stream keys (`LIVEHOOK_STREAM_KEYS`) against the strict emulator: each
//! admission server's allow and refuse replies, what each costs, revocation,
//! expiry, the `stream.refused` event, and the key in no published, stored
//! or logged byte.

use livehook::key_use::{KeyUse, Stamped};
use livehook::record::{KEY_HASH, KEY_ITEM};
use livehook::stream_event::StreamBatch;
use livehook::stream_keys::{self, Action, attr};
use livehook_testkit::*;
use serde_json::{Value, json};
use time::OffsetDateTime;

const BOTH: &[(&str, &str)] = &[("LIVEHOOK_STREAM_KEYS", "publish,play")];

/// One admission server: how it asks, and how it is answered.
struct Server {
    name: &'static str,
    /// Its allow reply (status, body; nginx reads only the status).
    allow: (u16, Option<&'static str>),
    /// Its refusal (status, body).
    refuse: (u16, &'static str),
}

const SERVERS: [Server; 4] = [
    Server {
        name: "srs",
        allow: (200, Some(r#"{"code":0}"#)),
        refuse: (200, r#"{"code":403,"msg":"stream key refused"}"#),
    },
    Server {
        name: "nginx",
        allow: (200, None),
        refuse: (403, r#"{"error":"stream key refused"}"#),
    },
    Server {
        name: "zlmediakit",
        allow: (200, Some(r#"{"code":0,"msg":"success"}"#)),
        refuse: (200, r#"{"code":-1,"msg":"stream key refused"}"#),
    },
    Server {
        name: "mediamtx",
        allow: (200, Some(r#"{"ok":true}"#)),
        refuse: (401, r#"{"error":"stream key refused"}"#),
    },
];

/// The server's publish or play of `live/<stream>` from 10.0.0.5, with
/// `query` as the client's URL query (`key=…`); `n` tells sessions apart.
fn ask(server: &str, action: Action, stream: &str, query: &str, n: u32) -> lambda_http::Request {
    let publish = action == Action::Publish;
    let (path, body) = match server {
        "srs" => (
            "/srs".to_owned(),
            json!({"server_id": "vid-1", "action": if publish { "on_publish" } else { "on_play" },
                "client_id": format!("c{n}"), "ip": "10.0.0.5", "vhost": "__defaultVhost__",
                "app": "live", "stream": stream, "tcUrl": "rtmp://127.0.0.1/live",
                "param": format!("?{query}")}),
        ),
        "nginx" => {
            let mut body = json!({"app": "live", "flashver": "FMLE/3.0", "tcurl": "rtmp://127.0.0.1/live",
                "addr": "10.0.0.5", "clientid": n.to_string(), "call": if publish { "publish" } else { "play" },
                "name": stream, "type": "live"});
            // The client's query follows as more fields (a repeated one: an array).
            for (name, value) in form_urlencoded_pairs(query) {
                body[&name] = match body.get(&name) {
                    None => Value::from(value),
                    Some(first) => json!([first, value]),
                };
            }
            ("/nginx".to_owned(), body)
        }
        "mediamtx" => (
            "/mediamtx".to_owned(),
            json!({"user": "", "password": "", "token": "", "ip": "10.0.0.5",
                "action": if publish { "publish" } else { "read" }, "path": format!("live/{stream}"),
                "protocol": "rtmp", "id": format!("id{n}"), "query": query}),
        ),
        _ => (
            format!(
                "/zlmediakit/{}",
                if publish { "on_publish" } else { "on_play" }
            ),
            json!({"mediaServerId": "z1", "hook_index": n, "app": "live", "stream": stream,
                "vhost": "__defaultVhost__", "schema": "rtmp", "ip": "10.0.0.5", "port": 50000 + n,
                "id": format!("id{n}"), "params": query,
                "originUrl": format!("rtmp://127.0.0.1/live/{stream}?{query}")}),
        ),
    };
    post(&path, &serde_json::to_vec(&body).expect("JSON"))
}

fn form_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Stores a key for `stream` (as `livehook keys create` does) and returns it.
async fn create_key(stack: &Stack, action: Action, stream: &str, expired: bool) -> String {
    let key: String = livehook::key::fresh() + "Ab-_";
    let now = OffsetDateTime::now_utc();
    let (created, expires) = if expired {
        (
            now - time::Duration::hours(2),
            Some(time::Duration::hours(1)),
        )
    } else {
        (now, Some(time::Duration::hours(1)))
    };
    stack
        .put_item(stream_keys::new_item(
            &format!("live/{stream}"),
            action,
            &key,
            created,
            expires,
        ))
        .await;
    key
}

async fn revoke(stack: &Stack, action: Action, stream: &str) {
    let mut item = stack
        .item(&stream_keys::item_key(action, &format!("live/{stream}")))
        .await
        .expect("the key");
    item.insert(
        attr::REVOKED.to_owned(),
        aws_sdk_dynamodb::types::AttributeValue::S("2026-01-01T00:00:00Z".into()),
    );
    stack.put_item(item).await;
}

/// Every published message and stored item, and the logs: the keys occur
/// in none of them, and their hashes (which records may hold) in no
/// published byte and no log.
async fn nowhere(stack: &Stack, published: &[Received], keys: &[&str]) {
    let items = format!("{:?}", stack.items().await);
    let logs = logs_text();
    let hashes: Vec<String> = keys.iter().map(|k| stream_keys::hash(k)).collect();
    for hash in &hashes {
        for message in published {
            assert!(!message.message.contains(hash), "hash published");
            assert!(
                !format!("{:?}", message.attributes).contains(hash),
                "hash in attributes"
            );
        }
        assert!(!logs.contains(hash), "hash logged");
    }
    for key in keys {
        for message in published {
            assert!(
                !message.message.contains(key),
                "published: {}",
                message.message
            );
            assert!(
                !format!("{:?}", message.attributes).contains(key),
                "in attributes"
            );
        }
        assert!(!items.contains(key), "stored: {items}");
        assert!(!logs.contains(key), "logged");
    }
}

fn allowed(server: &Server, reply: &Reply) {
    assert_eq!(
        reply.status, server.allow.0,
        "{}: {}",
        server.name, reply.body
    );
    if let Some(body) = server.allow.1 {
        assert_eq!(reply.body, body, "{}", server.name);
    }
}

#[tokio::test]
async fn each_server_admits_the_key_and_refuses_anything_else_with_its_own_reply() {
    captured_logs();
    let stack = Stack::new("keys-admit").await;
    let mut every_key = Vec::new();
    // Each key item and the time of its admitted use (its record's first_seen).
    let mut uses = Vec::new();
    for (s, server) in SERVERS.iter().enumerate() {
        let pipeline = stack.pipeline_with(server.name, BOTH);
        let stream = format!("cam-{}", server.name);
        let publish_key = create_key(&stack, Action::Publish, &stream, false).await;
        let play_key = create_key(&stack, Action::Play, &stream, false).await;
        let wrong = livehook::key::fresh();
        every_key.extend([publish_key.clone(), play_key.clone(), wrong.clone()]);
        let n = |i: u32| 100 * s as u32 + i;
        let case = |action, query: String, i| ask(server.name, action, &stream, &query, n(i));

        // The right keys: the allow reply, one AWS call each, which only
        // checks the key.
        stack.take_transactions();
        let reply = handle(
            &pipeline,
            case(Action::Publish, format!("key={publish_key}"), 1),
        )
        .await;
        allowed(server, &reply);
        assert_eq!(
            stack.take_calls(),
            ["TransactWriteItems"],
            "{}",
            server.name
        );
        let reply = handle(
            &pipeline,
            case(Action::Play, format!("a=1&key={play_key}"), 2),
        )
        .await;
        allowed(server, &reply);
        assert_eq!(
            stack.take_calls(),
            ["TransactWriteItems"],
            "{}",
            server.name
        );
        assert_eq!(
            stack.take_transactions(),
            [["ConditionCheck", "Put"], ["ConditionCheck", "Put"]],
            "{}",
            server.name
        );

        // A wrong key, the play key for publishing, two keys: refused, two calls.
        for (i, query) in [
            format!("key={wrong}"),
            format!("key={play_key}"),
            format!("key={publish_key}&key={publish_key}"),
        ]
        .into_iter()
        .enumerate()
        {
            let reply = handle(&pipeline, case(Action::Publish, query, 3 + i as u32)).await;
            assert_eq!(
                (reply.status, reply.body.as_str()),
                server.refuse,
                "{}",
                server.name
            );
            assert!(stack.take_calls().len() <= 2, "{}", server.name);
        }
        // No key at all: refused after one call (the refusal's event).
        let reply = handle(&pipeline, case(Action::Play, "a=1".to_owned(), 9)).await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            server.refuse,
            "{}",
            server.name
        );
        assert_eq!(stack.take_calls(), ["PutItem"], "{}", server.name);

        // A hook that asks nothing is never refused for a key.
        let done = match server.name {
            "srs" => post(
                "/srs",
                br#"{"action":"on_unpublish","app":"live","stream":"s","client_id":"c","ip":"10.0.0.5"}"#,
            ),
            "nginx" => post(
                "/nginx",
                br#"{"call":"publish_done","app":"live","name":"s","clientid":"1","addr":"10.0.0.5"}"#,
            ),
            "mediamtx" => post(
                "/mediamtx",
                br#"{"action":"api","ip":"10.0.0.5","path":"","id":null,"query":""}"#,
            ),
            _ => post(
                "/zlmediakit/on_stream_none_reader",
                br#"{"mediaServerId":"z1","app":"live","stream":"s","vhost":"__defaultVhost__","schema":"rtmp"}"#,
            ),
        };
        assert_eq!(handle(&pipeline, done).await.status, 200, "{}", server.name);
        stack.take_calls();

        // The admissions wrote nothing to the keys' items: each event's
        // record carries its key's use, for the relay to record.
        for (action, key) in [(Action::Publish, &publish_key), (Action::Play, &play_key)] {
            let item_key = stream_keys::item_key(action, &format!("live/{stream}"));
            let item = stack.item(&item_key).await.expect("the key");
            assert!(!item.contains_key(attr::LAST_USED), "{}", server.name);
            let records = stack.items().await;
            let used: Vec<_> = records
                .iter()
                .filter(|r| item_string(r, KEY_ITEM) == Some(item_key.as_str()))
                .collect();
            assert_eq!(used.len(), 1, "{}: {used:?}", server.name);
            assert_eq!(
                item_string(used[0], KEY_HASH),
                Some(stream_keys::hash(key).as_str())
            );
            let first_seen = item_string(used[0], "first_seen").expect("first_seen");
            uses.push((item_key, first_seen.to_owned()));
        }
    }

    // The relay (run by `messages`) records each key's use on its item:
    // publish and play keys alike.
    let published = stack.messages().await;
    for (item_key, first_seen) in &uses {
        let item = stack.item(item_key).await.expect("the key");
        assert_eq!(
            item_string(&item, attr::LAST_USED),
            Some(first_seen.as_str()),
            "{item_key}"
        );
        assert!(
            item_number(&item, attr::LAST_USED_MS).is_some(),
            "{item_key}"
        );
    }
    let refused: Vec<&Received> = published
        .iter()
        .filter(|m| m.envelope["type"] == "stream.refused")
        .collect();
    // Per server: wrong, play key to publish, two keys, none.
    assert_eq!(refused.len(), 4 * SERVERS.len(), "{published:#?}");
    let reasons: Vec<&str> = refused
        .iter()
        .map(|m| m.envelope["data"]["reason"].as_str().unwrap_or(""))
        .collect();
    for reason in ["wrong_key", "missing_key"] {
        assert!(reasons.contains(&reason), "{reasons:?}");
    }
    for m in &refused {
        let data = &m.envelope["data"];
        assert_eq!(data["client_ip"], "10.0.0.5", "{}", m.message);
        assert!(data["stream"].as_str().unwrap_or("").contains("cam-"));
        assert_eq!(m.attributes["type"], "stream.refused");
        assert!(
            m.envelope["dataschema"]
                .as_str()
                .unwrap_or("")
                .contains("stream.refused")
        );
    }
    // Admitted: the events as today.
    let admitted = published
        .iter()
        .filter(|m| {
            m.envelope["type"] == "stream.started" || m.envelope["type"] == "playback.started"
        })
        .count();
    assert_eq!(admitted, 2 * SERVERS.len(), "{published:#?}");
    let keys: Vec<&str> = every_key.iter().map(String::as_str).collect();
    nowhere(&stack, &published, &keys).await;
}

#[tokio::test]
async fn revoked_and_expired_keys_refuse_with_their_reason() {
    captured_logs();
    let stack = Stack::new("keys-revoke").await;
    let pipeline = stack.pipeline_with("srs", BOTH);
    let key = create_key(&stack, Action::Publish, "rev", false).await;
    let publish = |query: String, n| ask("srs", Action::Publish, "rev", &query, n);
    assert_eq!(
        handle(&pipeline, publish(format!("key={key}"), 1))
            .await
            .body,
        r#"{"code":0}"#
    );
    revoke(&stack, Action::Publish, "rev").await;
    let reply = handle(&pipeline, publish(format!("key={key}"), 2)).await;
    assert_eq!(reply.body, SERVERS[0].refuse.1);
    let expired = create_key(&stack, Action::Publish, "old", true).await;
    let reply = handle(
        &pipeline,
        ask("srs", Action::Publish, "old", &format!("key={expired}"), 3),
    )
    .await;
    assert_eq!(reply.body, SERVERS[0].refuse.1);
    // A stream without any key.
    let reply = handle(
        &pipeline,
        ask("srs", Action::Publish, "none", &format!("key={key}"), 4),
    )
    .await;
    assert_eq!(reply.body, SERVERS[0].refuse.1);
    // Creating a new key replaces the revoked one.
    let renewed = create_key(&stack, Action::Publish, "rev", false).await;
    let reply = handle(&pipeline, publish(format!("key={renewed}"), 5)).await;
    assert_eq!(reply.body, r#"{"code":0}"#);

    let published = stack.messages().await;
    let mut reasons: Vec<&str> = published
        .iter()
        .filter_map(|m| m.envelope["data"]["reason"].as_str())
        .collect();
    reasons.sort_unstable();
    assert_eq!(reasons, ["expired_key", "no_key_for_stream", "revoked_key"]);
    nowhere(&stack, &published, &[&key, &expired, &renewed]).await;
}

#[tokio::test]
async fn off_by_default_and_publish_alone_leaves_players_alone() {
    let stack = Stack::new("keys-off").await;
    // Off: every client of a valid URL, as before; one PutItem.
    let off = stack.pipeline("srs");
    let reply = handle(&off, ask("srs", Action::Publish, "x", "a=1", 1)).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, r#"{"code":0}"#));
    assert_eq!(stack.take_calls(), ["PutItem"]);
    // `publish`: players need no key.
    let publish = stack.pipeline_with("zlmediakit", &[("LIVEHOOK_STREAM_KEYS", "publish")]);
    let reply = handle(&publish, ask("zlmediakit", Action::Play, "x", "a=1", 2)).await;
    assert_eq!(reply.body, r#"{"code":0,"msg":"success"}"#);
    let reply = handle(&publish, ask("zlmediakit", Action::Publish, "x", "a=1", 3)).await;
    assert_eq!(reply.body, r#"{"code":-1,"msg":"stream key refused"}"#);
}

#[tokio::test]
async fn the_pump_never_hands_the_relay_a_stream_key() {
    let stack = Stack::new("keys-pump").await;
    let pipeline = stack.pipeline_with("srs", BOTH);
    // The key's creation (INSERT), the event (INSERT), the key's revocation
    // (MODIFY); then the relay's record of the key's use (MODIFY).
    let key = create_key(&stack, Action::Publish, "pumped", false).await;
    let reply = handle(
        &pipeline,
        ask("srs", Action::Publish, "pumped", &format!("key={key}"), 1),
    )
    .await;
    assert_eq!(reply.body, r#"{"code":0}"#);
    revoke(&stack, Action::Publish, "pumped").await;
    let summary = stack.publish_pending().await;
    assert_eq!(
        (summary.delivered, summary.pending),
        (1, 0),
        "only the event reaches the relay: {summary:?}"
    );
    let published = stack.messages().await;
    assert_eq!(published.len(), 1, "{published:#?}");
    assert_eq!(published[0].envelope["type"], "stream.started");
    // The revoked key's use is recorded (it happened), and that write of
    // the relay's never comes back to it.
    let item = stack
        .item(&stream_keys::item_key(Action::Publish, "live/pumped"))
        .await
        .expect("the key");
    assert!(item.contains_key(attr::LAST_USED));
    let summary = stack.publish_pending().await;
    assert_eq!((summary.delivered, summary.pending), (0, 0), "{summary:?}");
}

/// A use at `at_ms` of `key` on `item_key`.
fn key_use(item_key: &str, key: &str, at_ms: i64) -> KeyUse {
    let at =
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000).expect("time");
    KeyUse {
        key: stream_keys::UsedKey {
            item_key: item_key.to_owned(),
            hash: stream_keys::hash(key),
        },
        at: livehook::event::format_time(at),
        at_ms,
    }
}

#[tokio::test]
async fn a_keys_use_never_moves_backwards_nor_stamps_a_replaced_or_missing_key() {
    let stack = Stack::new("keys-stamp").await;
    let uses = stack.key_uses();
    let key = create_key(&stack, Action::Publish, "stamp", false).await;
    let item_key = stream_keys::item_key(Action::Publish, "live/stamp");
    let last =
        |item: Option<Item>| item.and_then(|i| item_string(&i, attr::LAST_USED).map(str::to_owned));
    // A whole second and a fraction of it: their RFC 3339 texts sort the
    // other way (`…:00Z` after `…:00.5Z`).
    let (older, newer) = (1_767_225_600_000, 1_767_225_600_500);
    assert!(key_use(&item_key, &key, older).at > key_use(&item_key, &key, newer).at);
    let stamp = |at| {
        let used = key_use(&item_key, &key, at);
        let uses = &uses;
        async move { uses.stamp(&used).await }
    };
    assert_eq!(stamp(newer).await.expect("stamp"), Stamped::Recorded);
    assert_eq!(stamp(older).await.expect("stamp"), Stamped::Unchanged);
    assert_eq!(stamp(newer).await.expect("stamp"), Stamped::Unchanged);
    let at_newer = key_use(&item_key, &key, newer).at;
    assert_eq!(last(stack.item(&item_key).await), Some(at_newer.clone()));
    // Revoked: the use happened, and is recorded.
    revoke(&stack, Action::Publish, "stamp").await;
    assert_eq!(stamp(newer + 1).await.expect("stamp"), Stamped::Recorded);
    // Replaced: the old key's use leaves the new key alone.
    let renewed = create_key(&stack, Action::Publish, "stamp", false).await;
    assert_eq!(stamp(newer + 2).await.expect("stamp"), Stamped::Unchanged);
    assert_eq!(last(stack.item(&item_key).await), None);
    assert_eq!(
        uses.stamp(&key_use(&item_key, &renewed, newer + 3))
            .await
            .expect("stamp"),
        Stamped::Recorded
    );
    // A key that does not exist is never created by a use.
    let missing = stream_keys::item_key(Action::Play, "live/none");
    assert_eq!(
        uses.stamp(&key_use(&missing, &key, newer))
            .await
            .expect("stamp"),
        Stamped::Unchanged
    );
    assert!(stack.item(&missing).await.is_none());
}

/// The stream batch Lambda would hand the relay for `items` (INSERTs).
fn batch_of(items: &[Item]) -> StreamBatch {
    let records: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let image: serde_dynamo::Item = item.clone().into();
            json!({"eventID": format!("e{i}"), "eventName": "INSERT",
                "dynamodb": {"SequenceNumber": format!("{}", 100 + i), "NewImage": image}})
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).expect("a stream batch")
}

#[tokio::test]
async fn a_failed_record_of_a_keys_use_is_counted_and_fails_no_record() {
    captured_logs();
    let stack = Stack::new("keys-stamp-fails").await;
    let pipeline = stack.pipeline_with("srs", BOTH);
    let key = create_key(&stack, Action::Publish, "flaky", false).await;
    let reply = handle(
        &pipeline,
        ask("srs", Action::Publish, "flaky", &format!("key={key}"), 1),
    )
    .await;
    assert_eq!(reply.body, r#"{"code":0}"#);
    let item_key = stream_keys::item_key(Action::Publish, "live/flaky");
    let records: Vec<Item> = stack
        .items()
        .await
        .into_iter()
        .filter(|i| item_string(i, KEY_ITEM) == Some(item_key.as_str()))
        .collect();
    assert_eq!(records.len(), 1);
    // Every attempt of the relay's UpdateItem fails.
    moto().inject(&Fault {
        service: "dynamodb",
        target: stack.table.clone(),
        operation: Some("UpdateItem"),
        count: 10,
        kind: FaultKind::Error { status: 500 },
    });
    let report = stack.relay().relay(&batch_of(&records)).await;
    moto().clear_faults(&stack.table);
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(report.counts.published, 1);
    assert_eq!(report.counts.key_uses_failed, 1);
    let item = stack.item(&item_key).await.expect("the key");
    assert!(!item.contains_key(attr::LAST_USED));
    assert_eq!(stack.queued().await.len(), 1, "the event was published");
    // The next batch with the key's use records it.
    let report = stack.relay().relay(&batch_of(&records)).await;
    assert_eq!(report.counts.key_uses_failed, 0);
    let item = stack.item(&item_key).await.expect("the key");
    assert!(item.contains_key(attr::LAST_USED));
    assert!(
        !logs_text().contains(&stream_keys::hash(&key)),
        "no hash logged"
    );
}
