//! What is refused (405, 413, 401, 400) and what happens when AWS fails
//! (503), and the FIFO topic.

use std::time::Instant;

use livehook_testkit::*;
use serde_json::Value;

/// The body without `fields` (each of which the sample must have).
fn without(body: &[u8], fields: &[&str]) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(body).expect("JSON sample");
    for field in fields {
        let removed = v.as_object_mut().and_then(|o| o.remove(*field));
        assert!(
            removed.is_some(),
            "the sample has no top-level {field}: {v}"
        );
    }
    serde_json::to_vec(&v).expect("JSON")
}

/// The body without any of `fields` (the sample must have at least one).
fn without_any(body: &[u8], fields: &[&str]) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(body).expect("JSON sample");
    let removed = fields
        .iter()
        .filter(|f| v.as_object_mut().and_then(|o| o.remove(**f)).is_some())
        .count();
    assert!(removed > 0, "the sample has none of {fields:?}: {v}");
    serde_json::to_vec(&v).expect("JSON")
}

fn signed(body: &[u8], t: i64) -> Vec<u8> {
    livehook_testkit::samples::resign_tencent(body, TENCENT_KEY, t).expect("a JSON object")
}

/// Asserts that nothing reached AWS: no call at all, no record, no message.
async fn nothing_happened(stack: &Stack, ctx: &str) {
    assert_eq!(
        stack.take_calls(),
        Vec::<String>::new(),
        "{ctx}: AWS was called"
    );
    assert!(
        stack.items().await.is_empty(),
        "{ctx}: a record was written"
    );
    assert!(
        stack.messages().await.is_empty(),
        "{ctx}: something was published"
    );
}

/// Test 4: SNS fails → never the provider's concern: 200, the record is
/// written; the relay's batch fails and is retried, and once the topic is
/// back the event is published exactly once.
#[tokio::test]
async fn an_sns_outage_is_200_and_published_once_the_topic_is_back() {
    let mut stack = Stack::new("snsfail").await;
    let sample = sample("bililive", "FileClosed");
    let body = sample_body(&sample, 0);
    let key = adapter_view(&stack, &sample, &body).key;
    let pipeline = stack.pipeline("bililive");

    stack.delete_topic().await;
    let reply = handle(&pipeline, sample_request(&sample, &body)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(stack.take_calls(), ["PutItem"], "one call, no publish");
    assert!(stack.item(&key).await.is_some(), "the record is the outbox");
    let relayed = stack.publish_pending().await;
    assert_eq!(
        relayed.failed_batches, 1,
        "NotFound is retried: {relayed:?}"
    );

    let arn = stack.topic_arn.clone();
    stack.create_topic().await;
    assert_eq!(stack.topic_arn, arn, "the recreated topic has a new ARN");
    let retry = handle(&pipeline, sample_request(&sample, &body)).await;
    assert_eq!(retry.status, 200, "{}", retry.body);
    assert_eq!(
        retry.body, reply.body,
        "the duplicate gets the first answer"
    );
    let messages = stack.messages().await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].envelope["id"], key.as_str());
    assert!(stack.messages().await.is_empty(), "published once");
}

/// Test 5: DynamoDB unreachable → 503, quickly, and nothing published.
#[tokio::test]
async fn an_unreachable_table_is_503_and_nothing_is_published() {
    let stack = Stack::new("ddbdown").await;
    let closed = closed_endpoint();
    let pipeline = stack.pipeline_on("bililive", &[], &closed.url);
    let sample = sample("bililive", "SessionStarted");
    let started = Instant::now();
    let reply = handle(&pipeline, sample_request(&sample, &sample.body)).await;
    let elapsed = started.elapsed();
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(reply.retry_after().is_some(), "503 without Retry-After");
    assert_eq!(stack.take_calls(), ["PutItem"]);
    assert!(stack.items().await.is_empty());
    assert!(
        stack.messages().await.is_empty(),
        "published without a record"
    );
    eprintln!("DynamoDB unreachable: 503 after {elapsed:?}");
}

/// SRS's reply is admission control: on an outage it is refused (503, the
/// default: the encoder's reconnect redelivers) or allowed (`{"code":0}`,
/// the event lost and counted), as the deployment chose.
#[tokio::test]
async fn srs_on_an_outage_is_refused_or_allowed_as_configured() {
    let stack = Stack::new("srs-outage").await;
    let closed = closed_endpoint();
    let sample = sample("srs", "on_publish");
    for (setting, status, body) in [("refuse", 503, None), ("allow", 200, Some(r#"{"code":0}"#))] {
        let pipeline = stack.pipeline_on(
            "srs",
            &[("LIVEHOOK_ADMISSION_ON_FAILURE", setting)],
            &closed.url,
        );
        let reply = handle(&pipeline, sample_request(&sample, &sample.body)).await;
        assert_eq!(reply.status, status, "{setting}: {}", reply.body);
        if let Some(body) = body {
            assert_eq!(reply.body, body, "{setting}");
        }
        assert!(stack.messages().await.is_empty(), "{setting}: published");
    }
    // And when AWS is up, SRS gets its success answer.
    let reply = handle(
        &stack.pipeline("srs"),
        sample_request(&sample, &sample.body),
    )
    .await;
    assert_eq!((reply.status, reply.body.as_str()), (200, r#"{"code":0}"#));
    assert_eq!(stack.messages().await.len(), 1);
}

/// Test 7: authentication failures (401) and malformed bodies (400) touch
/// nothing: no AWS call, no record, no message.
#[tokio::test]
async fn auth_failures_and_malformed_bodies_touch_nothing() {
    let stack = Stack::new("refused").await;
    let mut unauthorized_bodies = Vec::new();

    for (provider, event) in [
        ("aodianyun", "start_publish"),
        ("bililive", "SessionStarted"),
        ("lal", "on_pub_start"),
        ("apiserver", "channel_live"),
    ] {
        let sample = sample(provider, event);
        let pipeline = stack.pipeline(provider);
        let path = sample.path();
        for query in [
            "",
            "token=wrong",
            "token=",
            "app=live",
            "token=it-token&token=it-token",
        ] {
            let reply = handle(&pipeline, request("POST", &path, query, &sample.body)).await;
            assert_eq!(reply.status, 401, "{provider} ?{query}: {}", reply.body);
            unauthorized_bodies.push(reply.body);
        }
        // The token is checked before the body is parsed.
        let reply = handle(&pipeline, request("POST", &path, "", b"not json")).await;
        assert_eq!(reply.status, 401, "{provider}: bad body without token");
        for body in [&b"not json"[..], b"", b"[1,2]", b"\"text\"", b"{"] {
            let reply = handle(&pipeline, post(&path, body)).await;
            assert_eq!(
                reply.status,
                400,
                "{provider} body {:?}: {}",
                String::from_utf8_lossy(body),
                reply.body
            );
            assert!(reply.json()["error"].is_string(), "{}", reply.body);
        }
        nothing_happened(&stack, provider).await;
    }

    // Required fields (DESIGN.md): their absence is a 400.
    let missing: [(&str, &str, &[&str]); 6] = [
        ("bililive", "SessionStarted", &["EventId"]),
        ("bililive", "SessionStarted", &["EventType"]),
        ("bililive", "v1", &["EventRandomId"]),
        ("lal", "on_pub_start", &["session_id"]),
        ("apiserver", "channel_live", &["event"]),
        ("aodianyun", "start_publish", &["event_type"]),
    ];
    for (provider, event, fields) in missing {
        let sample = sample(provider, event);
        let pipeline = stack.pipeline(provider);
        let reply = handle(
            &pipeline,
            post(&sample.path(), &without(&sample.body, fields)),
        )
        .await;
        assert_eq!(
            reply.status, 400,
            "{provider}/{event} without {fields:?}: {}",
            reply.body
        );
        nothing_happened(&stack, &format!("{provider}/{event} without {fields:?}")).await;
    }

    // Tencent signs inside the body.
    let tencent = sample("tencent", "push");
    let pipeline = stack.pipeline("tencent");
    let good = sample_body(&tencent, fresh_t());
    let mut bad_sign: Value = serde_json::from_slice(&good).expect("JSON");
    bad_sign["sign"] = Value::from("0123456789abcdef0123456789abcdef");
    let mut wrong_key: Value = serde_json::from_slice(&good).expect("JSON");
    wrong_key["sign"] = Value::from(livehook::auth::tencent_sign(
        &livehook::auth::Secret::new("not-the-key"),
        &wrong_key["t"].to_string(),
    ));
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "bad sign",
            serde_json::to_vec(&bad_sign).expect("JSON"),
            401,
        ),
        (
            "signed with another key",
            serde_json::to_vec(&wrong_key).expect("JSON"),
            401,
        ),
        ("expired t", sample_body(&tencent, unix_now() - 5), 401),
        ("token instead of sign", without(&good, &["sign"]), 400),
        ("not JSON", b"t=1&sign=x".to_vec(), 400),
        ("without t", without(&good, &["t"]), 400),
        ("without sign", without(&good, &["sign"]), 400),
        (
            "without event_type",
            signed(&without(&good, &["event_type"]), fresh_t()),
            400,
        ),
        (
            "without stream_id and channel_id",
            signed(&without_any(&good, &["stream_id", "channel_id"]), fresh_t()),
            400,
        ),
    ];
    for (what, body, status) in cases {
        let query = if what == "token instead of sign" {
            format!("token={TOKEN}")
        } else {
            String::new()
        };
        let reply = handle(&pipeline, request("POST", "/tencent", &query, &body)).await;
        assert_eq!(reply.status, status, "tencent {what}: {}", reply.body);
        if status == 401 {
            unauthorized_bodies.push(reply.body);
        }
        nothing_happened(&stack, &format!("tencent {what}")).await;
    }

    // A 401 says nothing about why.
    unauthorized_bodies.dedup();
    assert_eq!(
        unauthorized_bodies.len(),
        1,
        "401 bodies differ: {unauthorized_bodies:?}"
    );
}

/// Test 9: 405 for anything but POST, 413 above the body limit (checked
/// before authentication), and the FIFO topic's group and deduplication ids.
#[tokio::test]
async fn method_size_and_fifo() {
    let stack = Stack::new("limits").await;
    let sample = sample("lal", "on_pub_start");
    let pipeline = stack.pipeline("lal");
    for method in ["GET", "PUT", "DELETE", "PATCH"] {
        let reply = handle(&pipeline, request(method, &sample.path(), "", &sample.body)).await;
        assert_eq!(reply.status, 405, "{method}: {}", reply.body);
        assert_eq!(
            reply.headers.get("allow").and_then(|v| v.to_str().ok()),
            Some("POST"),
            "{method}"
        );
    }

    // LIVEHOOK_MAX_BODY_BYTES: the limit itself passes, one byte more is 413.
    let limit = sample.body.len();
    let limited = stack.pipeline_with("lal", &[("LIVEHOOK_MAX_BODY_BYTES", &limit.to_string())]);
    let mut padded = sample.body.clone();
    padded.push(b' ');
    for query in [format!("token={TOKEN}"), String::new()] {
        let reply = handle(&limited, request("POST", &sample.path(), &query, &padded)).await;
        assert_eq!(reply.status, 413, "?{query}: {}", reply.body);
    }
    // The default limit: 1 MiB.
    let mut huge = b"{\"x\":\"".to_vec();
    huge.resize(1024 * 1024 + 1 - 2, b'a');
    huge.extend_from_slice(b"\"}");
    assert_eq!(huge.len(), 1024 * 1024 + 1);
    let reply = handle(&pipeline, post(&sample.path(), &huge)).await;
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert_eq!(stack.take_calls(), Vec::<String>::new());
    let reply = handle(&limited, sample_request(&sample, &sample.body)).await;
    assert_eq!(reply.status, 200, "a body at the limit: {}", reply.body);
    assert_eq!(stack.messages().await.len(), 1);

    // FIFO: MessageGroupId = subject, MessageDeduplicationId = event id.
    let fifo = Stack::fifo("fifo").await;
    for (provider, event) in [
        ("lal", "on_pub_start"),
        ("bililive", "SessionStarted"),
        ("tencent", "push"),
    ] {
        let sample = livehook_testkit::sample(provider, event);
        let pipeline = fifo.pipeline(provider);
        let body = sample_body(&sample, fresh_t());
        for _ in 0..2 {
            let reply = handle(&pipeline, sample_request(&sample, &body)).await;
            assert_eq!(reply.status, 200, "{provider} FIFO: {}", reply.body);
        }
        let messages = fifo.messages().await;
        // lal never resends: its second delivery is a second event.
        let imitation = livehook::providers::imitate::of(pipeline.provider());
        let events = if imitation.is_some_and(|p| p.sending().resends) {
            1
        } else {
            2
        };
        assert_eq!(messages.len(), events, "{provider} FIFO");
        let m = &messages[0];
        assert_eq!(
            m.group_id.as_deref(),
            m.envelope["subject"].as_str(),
            "{provider}: MessageGroupId"
        );
        assert_eq!(
            m.deduplication_id.as_deref(),
            m.envelope["id"].as_str(),
            "{provider}: MessageDeduplicationId"
        );
    }
}
