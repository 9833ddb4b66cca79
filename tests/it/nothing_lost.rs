//! "Each event once, nothing lost", on the strict emulator (which refuses
//! what SNS refuses): the ways events were lost or exposed in production
//! while every test was green, one test each.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::config::{ConfigBag, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextMut;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::http::StatusCode;
use livehook::pipeline::Pipeline;
use livehook::store::DynamoStore;
use livehook_testkit::*;
use serde_json::{Value, json};

#[tokio::test]
async fn a_restarted_lalserver_publishes_its_first_session_again() {
    let stack = Stack::new("lal-restart").await;
    let pipeline = stack.pipeline("lal");
    let body = sample("lal", "on_pub_start").body;
    assert!(String::from_utf8_lossy(&body).contains("RTMPPUBSUB1"));
    let first = handle(&pipeline, post("/lal/on_pub_start", &body)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after_restart = handle(&pipeline, post("/lal/on_pub_start", &body)).await;
    assert_eq!((first.status, after_restart.status), (200, 200));
    let messages = stack.messages().await;
    assert_eq!(messages.len(), 2, "both publications reach subscribers");
    assert_ne!(messages[0].envelope["id"], messages[1].envelope["id"]);
}

#[tokio::test]
async fn every_idle_heartbeat_is_an_event() {
    let stack = Stack::new("lal-idle").await;
    let pipeline = stack.pipeline("lal");
    // What an idle lalserver sends every interval, byte for byte.
    let idle = br#"{"server_id":"1","groups":null}"#;
    for _ in 0..3 {
        let reply = handle(&pipeline, post("/lal/on_update", idle)).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    assert_eq!(stack.messages().await.len(), 3);
}

#[tokio::test]
async fn api_server_events_without_event_time_are_kept_apart() {
    let stack = Stack::new("apiserver-notime").await;
    let pipeline = stack.pipeline("apiserver");
    let live = serde_json::to_vec(&json!({"event": "channel_live", "id": "ch-1", "name": "News"}))
        .expect("JSON");
    let stop = serde_json::to_vec(&json!({"event": "channel_stop", "id": "ch-1", "status": 0}))
        .expect("JSON");
    for body in [&live, &stop] {
        let reply = handle(&pipeline, post("/apiserver", body)).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    assert_eq!(stack.messages().await.len(), 2, "two events of one channel");
    let retry = handle(&pipeline, post("/apiserver", &live)).await;
    assert_eq!(retry.status, 200, "{}", retry.body);
    assert!(
        stack.messages().await.is_empty(),
        "a retry publishes nothing"
    );
}

#[tokio::test]
async fn an_event_that_cannot_fit_is_413_before_anything_is_written() {
    let stack = Stack::new("too-large").await;
    let pipeline = stack.pipeline("lal");
    let mut body: Value =
        serde_json::from_slice(&sample("lal", "on_pub_start").body).expect("JSON");
    body["url_param"] = Value::String("x".repeat(400 * 1000));
    let body = serde_json::to_vec(&body).expect("JSON");
    let reply = handle(&pipeline, post("/lal/on_pub_start", &body)).await;
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert!(reply.body.contains("MaximumMessageSize"), "{}", reply.body);
    assert_eq!(
        stack.take_calls(),
        Vec::<String>::new(),
        "no AWS call at all"
    );
    assert!(stack.items().await.is_empty());
    assert!(stack.messages().await.is_empty());
}

#[tokio::test]
async fn a_fifo_topic_takes_a_stream_named_in_chinese_with_a_space() {
    let stack = Stack::fifo("fifo-cjk").await;
    let pipeline = stack.pipeline("lal");
    let mut body: Value =
        serde_json::from_slice(&sample("lal", "on_pub_start").body).expect("JSON");
    body["stream_name"] = Value::String("直播 1".to_owned());
    let body = serde_json::to_vec(&body).expect("JSON");
    let reply = handle(&pipeline, post("/lal/on_pub_start", &body)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let messages = stack.messages().await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].envelope["subject"], "lal/live/直播 1");
    let group = messages[0].group_id.as_deref().expect("a group id");
    assert!(group.bytes().all(|b| b.is_ascii_graphic()), "{group}");
}

/// Turns the first response of the first `PutItem` into a 500 after
/// DynamoDB has applied it: a reply lost on the way, which the SDK retries.
#[derive(Debug, Default)]
struct LoseFirstPutItemReply(Arc<AtomicUsize>);

impl Intercept for LoseFirstPutItemReply {
    fn name(&self) -> &'static str {
        "LoseFirstPutItemReply"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let is_put = cfg
            .load::<Metadata>()
            .is_some_and(|m| m.name() == "PutItem");
        if is_put && self.0.fetch_add(1, Ordering::SeqCst) == 0 {
            *context.response_mut().status_mut() = StatusCode::try_from(500)?;
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_write_whose_reply_was_lost_is_answered_as_the_duplicate_it_is() {
    let stack = Stack::new("lost-reply").await;
    let provider = provider_named("lal");
    let config = stack.config(provider, &[]);
    let lost = Arc::new(AtomicUsize::new(0));
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk_config(&stack.endpoint))
            .interceptor(LoseFirstPutItemReply(lost.clone()))
            .build(),
    );
    let pipeline = Pipeline::new(provider, &config, DynamoStore::new(dynamodb, &config.table));
    let reply = handle(
        &pipeline,
        post("/lal/on_pub_start", &sample("lal", "on_pub_start").body),
    )
    .await;
    assert_eq!(
        lost.load(Ordering::SeqCst),
        2,
        "the SDK retried the PutItem"
    );
    // The retry met the first attempt's item: a duplicate, answered 200.
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        stack.messages().await.len(),
        1,
        "written once, published once"
    );
    let items = stack.items().await;
    assert_eq!(items.len(), 1);
    assert!(item_string(&items[0], "envelope").is_some());
}

#[tokio::test]
async fn no_event_record_or_log_line_holds_a_sign_or_a_token() {
    // Installed before the first request, so every line is captured.
    captured_logs();
    let stack = Stack::new("secrets").await;
    let tencent = sample("tencent", "push");
    let signed = sample_body(&tencent, fresh_t());
    let sign = serde_json::from_slice::<Value>(&signed).expect("JSON")["sign"]
        .as_str()
        .expect("a sign")
        .to_owned();
    let reply = handle(
        &stack.pipeline("tencent"),
        sample_request(&tencent, &signed),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let bililive = sample("bililive", "SessionStarted");
    let reply = handle(
        &stack.pipeline("bililive"),
        sample_request(&bililive, &bililive.body),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // A wrong token is logged too: redacted.
    let reply = handle(
        &stack.pipeline("bililive"),
        request(
            "POST",
            "/bililive",
            "token=wrong-but-secret",
            &bililive.body,
        ),
    )
    .await;
    assert_eq!(reply.status, 401);

    let messages = stack.messages().await;
    assert_eq!(messages.len(), 2);
    let tencent_raw = &messages
        .iter()
        .find(|m| m.envelope["source"] == "livehook/tencent")
        .expect("the Tencent event")
        .envelope["data"]["raw"];
    assert!(tencent_raw.get("sign").is_none(), "{tencent_raw}");
    assert_eq!(
        tencent_raw["t"],
        serde_json::from_slice::<Value>(&signed).expect("JSON")["t"]
    );
    let records = format!("{:?}", stack.items().await);
    let published: String = messages.iter().map(|m| m.message.as_str()).collect();
    let logs = logs_text();
    assert!(logs.contains("delivery handled"), "logs were captured");
    for secret in [sign.as_str(), TOKEN, "wrong-but-secret", TENCENT_KEY] {
        assert!(!published.contains(secret), "published: {secret}");
        assert!(!records.contains(secret), "stored: {secret}");
        assert!(!logs.contains(secret), "logged: {secret}");
    }
}
