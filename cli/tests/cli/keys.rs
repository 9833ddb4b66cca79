//! `livehook keys` against the strict emulator, as a person runs it after
//! `make dev`: the key is printed once and only its hash is stored; the
//! listing never shows it; revocation marks every key of the stream.

use std::process::Output;

use livehook::stream_keys::{self, Action};
use livehook_testkit::{Stack, handle, post};

const BIN: &str = env!("CARGO_BIN_EXE_livehook");

fn keys(stack: &Stack, args: &[&str]) -> Output {
    std::process::Command::new(BIN)
        .arg("keys")
        .args(args)
        .env("LIVEHOOK_TABLE", &stack.table)
        .env("AWS_ENDPOINT_URL", &stack.endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("running livehook keys")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_created_listed_and_revoked_and_only_their_hash_is_stored() {
    let stack = Stack::new("cli-keys").await;

    let created = keys(&stack, &["create", "live/cam1", "--expires", "2h"]);
    assert!(created.status.success(), "{}", text(&created.stderr));
    let out = text(&created.stdout);
    let key = out
        .lines()
        .last()
        .expect("the key, on the last line")
        .to_owned();
    assert_eq!(key.len(), stream_keys::KEY_LEN, "{out}");
    let play = keys(&stack, &["create", "live/cam1", "--play"]);
    assert!(play.status.success(), "{}", text(&play.stderr));
    let play_key = text(&play.stdout).lines().last().unwrap_or("").to_owned();
    assert_ne!(play_key, key);

    // Stored: the hash, never the key.
    let item = stack
        .item(&stream_keys::item_key(Action::Publish, "live/cam1"))
        .await
        .expect("the publish key's item");
    assert_eq!(
        item[stream_keys::attr::HASH].as_s().ok(),
        Some(&stream_keys::hash(&key))
    );
    for item in stack.items().await {
        let dump = format!("{item:?}");
        assert!(!dump.contains(&key) && !dump.contains(&play_key), "{dump}");
    }

    let listed = keys(&stack, &["list"]);
    let listing = text(&listed.stdout);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    assert!(
        listing.contains("live/cam1") && listing.contains("active"),
        "{listing}"
    );
    assert!(
        !listing.contains(&key) && !listing.contains(&play_key),
        "{listing}"
    );
    assert_eq!(
        listing.lines().count(),
        3,
        "a header and two keys: {listing}"
    );

    let revoked = keys(&stack, &["revoke", "live/cam1"]);
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    let json = text(&keys(&stack, &["list", "--json"]).stdout);
    let states: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(states.len(), 2, "{json}");
    assert!(states.iter().all(|s| s["state"] == "revoked"), "{json}");
    // Nothing left to revoke: said, not silently done.
    assert!(!keys(&stack, &["revoke", "live/cam1"]).status.success());
    // Keys are not events.
    let events = std::process::Command::new(BIN)
        .args(["events", "list", "--json"])
        .env("LIVEHOOK_TABLE", &stack.table)
        .env("AWS_ENDPOINT_URL", &stack.endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("running livehook events list");
    assert_eq!(text(&events.stdout), "", "{}", text(&events.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listing_shows_each_keys_last_use_once_the_relay_has_run() {
    let stack = Stack::new("cli-keys-used").await;
    let created = |args: &[&str]| {
        let out = keys(&stack, args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).lines().last().unwrap_or("").to_owned()
    };
    let publish = created(&["create", "live/cam2"]);
    let play = created(&["create", "live/cam2", "--play"]);
    let pipeline = stack.pipeline_with("srs", &[("LIVEHOOK_STREAM_KEYS", "publish,play")]);
    // SRS asking whether `live/cam2` may be published (or played) with `key`.
    let srs = |publish: bool, key: &str, client: &str| {
        let body = serde_json::json!({"server_id": "vid-1",
            "action": if publish { "on_publish" } else { "on_play" },
            "client_id": client, "ip": "10.0.0.5", "vhost": "__defaultVhost__", "app": "live",
            "stream": "cam2", "tcUrl": "rtmp://127.0.0.1/live", "param": format!("?key={key}")});
        post("/srs", &serde_json::to_vec(&body).expect("JSON"))
    };
    for (request, n) in [(srs(true, &publish, "c1"), 1), (srs(false, &play, "c2"), 2)] {
        let reply = handle(&pipeline, request).await;
        assert_eq!(reply.body, r#"{"code":0}"#, "{n}");
    }
    let listed = |stack: &Stack| {
        let json = text(&keys(stack, &["list", "--json"]).stdout);
        json.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON"))
            .collect::<Vec<_>>()
    };
    // Admitted, not yet relayed: no use recorded.
    assert!(listed(&stack).iter().all(|k| k.get("last_used").is_none()));
    stack.publish_pending().await;
    let keys = listed(&stack);
    assert_eq!(keys.len(), 2);
    for key in &keys {
        let used = key["last_used"].as_str().unwrap_or("");
        assert!(
            time::OffsetDateTime::parse(used, &time::format_description::well_known::Rfc3339)
                .is_ok(),
            "{key}"
        );
    }
}
