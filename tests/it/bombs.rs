//! Hostile bodies sized to hurt: a nested-object bomb,
//! deep arrays, a million small keys, long strings and gzip of zeros, sent
//! to every provider's pipeline on the emulator with and without
//! credentials. Each is answered 401, 400 or 413 before any AWS call, and
//! nothing is written. Then the secrets inside accepted payloads: replaced
//! by `***` in what is stored and published, and a token pasted raw into
//! the URL (with `~` and `.`) authenticates.

use std::io::Write;

use base64::Engine;
use livehook::providers::{ALL, AuthScheme, Provider};
use livehook_testkit::*;
use serde_json::{Value, json};

/// The body limit of the functions (`LIVEHOOK_MAX_BODY_BYTES`'s default).
const LIMIT: usize = 1 << 20;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

/// A nested-object bomb: about 1,640 chains of `{"":` nested 120 deep, under
/// serde's depth limit, filling the body limit; a few KB gzipped.
fn nested_object_bomb() -> Vec<u8> {
    let chain = format!("{}0{}", "{\"\":".repeat(120), "}".repeat(120));
    let count = (LIMIT - 32) / (chain.len() + 1);
    format!(
        "{{\"t\":1,\"sign\":\"x\",\"a\":[{}]}}",
        vec![chain; count].join(",")
    )
    .into_bytes()
}

/// Every hostile body, by name: (name, gzipped body).
fn hostile_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let mut keys = String::with_capacity(LIMIT);
    keys.push('{');
    let mut i = 0u64;
    while keys.len() < LIMIT - 32 {
        keys.push_str(&format!("\"{i:x}\":0,"));
        i += 1;
    }
    keys.push_str("\"end\":0}");
    let mut million = String::with_capacity(10 << 20);
    million.push('{');
    for i in 0..1_000_000u32 {
        million.push_str(&format!("\"{i:x}\":0,"));
    }
    million.push_str("\"end\":0}");
    vec![
        ("nested-object bomb", nested_object_bomb()),
        ("a million small keys", million.into_bytes()),
        (
            "deep arrays",
            format!("{{\"a\":{}{}}}", "[".repeat(200_000), "]".repeat(200_000)).into_bytes(),
        ),
        ("small keys up to the limit", keys.into_bytes()),
        (
            "many small arrays",
            format!("{{\"a\":[{}]}}", vec!["[]"; (LIMIT - 16) / 3].join(",")).into_bytes(),
        ),
        (
            "long string",
            format!("{{\"a\":\"{}\"}}", "x".repeat(LIMIT - 16)).into_bytes(),
        ),
        ("gzip of zeros", vec![0u8; 16 << 20]),
    ]
    .into_iter()
    // Compressed once: the test runs unoptimized, and each is sent many times.
    .map(|(name, body)| (name, gzip(&body)))
    .collect()
}

/// The request a provider's function receives for `body`, gzip-encoded as
/// lal's Go client may send it.
fn gzip_request(provider: &dyn Provider, query: &str, gzipped: &[u8]) -> lambda_http::Request {
    let path = livehook::providers::request_path(provider, "on_update");
    let mut event = apigw_event("POST", &path, query, b"");
    event["body"] = Value::String(base64::engine::general_purpose::STANDARD.encode(gzipped));
    event["isBase64Encoded"] = Value::Bool(true);
    event["headers"]["content-encoding"] = json!("gzip");
    lambda_http::request::from_str(&event.to_string()).expect("an API Gateway v2 event")
}

#[tokio::test]
async fn hostile_bodies_are_refused_before_anything_is_built_or_written() {
    let stack = Stack::new("bombs").await;
    assert!(
        gzip(&nested_object_bomb()).len() < 8192,
        "a few KB on the wire"
    );
    let bodies = hostile_bodies();
    for provider in ALL {
        let pipeline = stack.pipeline(provider.name());
        for (name, body) in &bodies {
            let name = *name;
            let mut attempts = vec![("without credentials", String::new())];
            // A long string with the token is a large body, not a hostile
            // shape: some hooks take it (it is bounded by the body limit).
            if provider.auth_scheme() == AuthScheme::QueryToken && name != "long string" {
                attempts.push(("with the token", format!("token={TOKEN}")));
            }
            for (how, query) in attempts {
                let reply = handle(&pipeline, gzip_request(provider, &query, body)).await;
                let expected: &[u16] = match (name, how) {
                    // Past the body limit even compressed: refused before anything else.
                    ("a million small keys", _) => &[413],
                    // The token is checked before the body is inflated.
                    (_, "without credentials")
                        if provider.auth_scheme() == AuthScheme::QueryToken =>
                    {
                        &[401]
                    }
                    // Inflated past the body limit.
                    ("gzip of zeros", _) => &[413],
                    // Tencent: no valid `t`/`sign` (400 or 401), read without the rest.
                    (_, "without credentials") => &[400, 401],
                    ("deep arrays", _) => &[400],
                    _ => &[413],
                };
                assert!(
                    expected.contains(&reply.status),
                    "{} {name} {how}: {} {}",
                    provider.name(),
                    reply.status,
                    reply.body
                );
                assert!(reply.json()["error"].is_string());
            }
        }
        assert_eq!(
            stack.take_calls(),
            Vec::<String>::new(),
            "{}: AWS was called",
            provider.name()
        );
    }
    assert!(
        stack.items().await.is_empty(),
        "a refused request wrote a record"
    );
}

#[tokio::test]
async fn a_token_pasted_raw_into_the_url_authenticates() {
    // The test kit's token has `.` and `~`, sent as a pasted URL sends them:
    // not percent-encoded.
    assert!(TOKEN.contains('~') && TOKEN.contains('.'));
    assert!(livehook::auth::token_is_url_safe(TOKEN));
    let stack = Stack::new("pasted").await;
    let pipeline = stack.pipeline("bililive");
    let body = sample("bililive", "SessionStarted").body;
    let reply = handle(
        &pipeline,
        request("POST", "/bililive", &format!("token={TOKEN}"), &body),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[tokio::test]
async fn secrets_inside_payloads_are_neither_stored_nor_published() {
    let stack = Stack::new("redacted").await;
    let secret = "s3cret-from-the-publisher";
    let srs = json!({"action": "on_publish", "client_id": "c1", "ip": "127.0.0.1", "vhost": "__defaultVhost__",
        "app": "live", "stream": "s", "tcUrl": format!("rtmp://127.0.0.1/live?secret={secret}"),
        "param": format!("?secret={secret}&user=alice"), "server_id": "vid-1"});
    let lal = json!({"server_id": "1", "session_id": "S1", "protocol": "RTMP", "app_name": "live", "stream_name": "s",
        "url": format!("rtmp://127.0.0.1/live/s?token={secret}"), "url_param": format!("token={secret}"),
        "password": secret});
    for (provider, path, body) in [("srs", "/srs", srs), ("lal", "/lal/on_pub_start", lal)] {
        let pipeline = stack.pipeline(provider);
        let reply = handle(
            &pipeline,
            post(path, &serde_json::to_vec(&body).expect("JSON")),
        )
        .await;
        assert_eq!(reply.status, 200, "{provider}: {}", reply.body);
    }
    let items = stack.items().await;
    assert_eq!(items.len(), 2);
    let stored = format!("{items:?}");
    assert!(
        !stored.contains(secret),
        "a secret reached the table: {stored}"
    );
    assert!(stored.contains("***"), "{stored}");
    for message in stack.messages().await {
        assert!(
            !message.message.contains(secret),
            "a secret was published: {}",
            message.message
        );
    }
}
