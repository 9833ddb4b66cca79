//! The table is the outbox: what each outage does, with faults
//! injected into the strict emulator (scripts/moto_serial.py): SNS 5xx
//! bursts, DynamoDB 5xx, a write whose reply is held back until the client
//! gives up, and a relay that dies before answering its batch.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use livehook::record::StoredRecord;
use livehook::sink::{EventSink, Sent};
use livehook_testkit::*;
use serde_json::{Value, json};

fn fault(
    service: &'static str,
    target: &str,
    operation: Option<&'static str>,
    count: u32,
    kind: FaultKind,
) -> Fault {
    Fault {
        service,
        target: target.to_owned(),
        operation,
        count,
        kind,
    }
}

/// Every message's id, counted.
fn ids(messages: &[Received]) -> BTreeMap<String, usize> {
    let mut ids = BTreeMap::new();
    for m in messages {
        let id = m.envelope["id"].as_str().unwrap_or_default().to_owned();
        *ids.entry(id).or_default() += 1;
    }
    ids
}

/// A Bililive event of its own (a new EventId).
fn bililive_body(n: usize) -> Vec<u8> {
    let mut body: Value =
        serde_json::from_slice(&sample("bililive", "FileClosed").body).expect("JSON");
    body["EventId"] = json!(format!("outbox-{n}-{}", unix_millis()));
    serde_json::to_vec(&body).expect("JSON")
}

/// Delivers the Bililive events `ns` (each an event of its own), every one
/// answered 200: the ids they were answered with.
async fn deliver(pipeline: &LivePipeline, ns: std::ops::Range<usize>) -> Vec<String> {
    let mut ids = Vec::new();
    for n in ns {
        let reply = handle(pipeline, post("/bililive", &bililive_body(n))).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        ids.push(reply.json()["id"].as_str().expect("id").to_owned());
    }
    ids
}

#[tokio::test]
async fn sns_gone_for_seconds_loses_nothing_not_even_of_senders_that_never_resend() {
    let stack = Stack::new("sns-gone").await;
    moto().inject(&fault(
        "sns",
        &stack.topic_arn,
        None,
        10_000,
        FaultKind::Error { status: 500 },
    ));
    // lal and SRS never resend: before the outbox, a 503 here lost their events.
    let mut expected = Vec::new();
    for provider in ["lal", "srs", "bililive"] {
        let sample = livehook_testkit::samples()
            .into_iter()
            .find(|s| s.provider == provider)
            .expect("a sample");
        let body = sample_body(&sample, fresh_t());
        let reply = handle(&stack.pipeline(provider), sample_request(&sample, &body)).await;
        assert_eq!(reply.status, 200, "{provider}: {}", reply.body);
        expected.push(provider);
    }
    // The relay's batch fails while SNS is down, as often as it is tried.
    for _ in 0..3 {
        let relayed = stack.publish_pending().await;
        assert_eq!(relayed.failed_batches, 1, "{relayed:?}");
        assert!(stack.queued().await.is_empty());
    }
    moto().clear_faults(&stack.topic_arn);
    let messages = stack.messages().await;
    let published: Vec<&str> = messages
        .iter()
        .filter_map(|m| m.attributes.get("provider").map(String::as_str))
        .collect();
    assert_eq!(published, expected, "each event once, after SNS returned");
    assert!(ids(&messages).values().all(|&n| n == 1));
    assert!(stack.messages().await.is_empty(), "and never again");
}

#[tokio::test]
async fn a_write_applied_whose_replies_time_out_is_answered_on_the_quick_retry() {
    let stack = Stack::new("held-reply").await;
    // Production's deadlines: two attempts of at most 1 s, 2.5 s in all.
    let pipeline = stack.pipeline_with_production_timeouts("bililive");
    let sample = sample("bililive", "FileClosed");
    let body = sample_body(&sample, 0);
    moto().inject(&fault(
        "dynamodb",
        &stack.table,
        Some("PutItem"),
        2,
        FaultKind::HoldReply { seconds: 1.6 },
    ));
    let started = Instant::now();
    let first = handle(&pipeline, sample_request(&sample, &body)).await;
    assert_eq!(first.status, 503, "{}", first.body);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    // The write applied all the same.
    assert_eq!(stack.items().await.len(), 1);
    // BililiveRecorder retries about 1 s later: a duplicate of what was written.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let retry = handle(&pipeline, sample_request(&sample, &body)).await;
    assert_eq!(retry.status, 200, "{}", retry.body);
    let key = adapter_view(&stack, &sample, &body).key;
    assert_eq!(retry.json()["id"], key.as_str(), "the first answer's body");
    let again = handle(&pipeline, sample_request(&sample, &body)).await;
    assert_eq!(again.body, retry.body);
    assert_eq!(stack.messages().await.len(), 1, "one message");
}

#[tokio::test]
async fn dynamodb_down_is_503_publishes_nothing_and_the_retry_is_published_once() {
    let stack = Stack::new("ddb-down").await;
    let pipeline = stack.pipeline("bililive");
    let sample = sample("bililive", "SessionStarted");
    // Both attempts of the SDK.
    moto().inject(&fault(
        "dynamodb",
        &stack.table,
        None,
        2,
        FaultKind::Error { status: 500 },
    ));
    let reply = handle(&pipeline, sample_request(&sample, &sample.body)).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(stack.items().await.is_empty());
    assert!(stack.messages().await.is_empty());
    let retry = handle(&pipeline, sample_request(&sample, &sample.body)).await;
    assert_eq!(retry.status, 200, "{}", retry.body);
    assert_eq!(stack.messages().await.len(), 1);
    let again = handle(&pipeline, sample_request(&sample, &sample.body)).await;
    assert_eq!(again.body, retry.body);
    assert!(stack.messages().await.is_empty(), "published once");
}

#[tokio::test]
async fn srs_is_admitted_through_an_sns_outage() {
    // Its outage choice concerns DynamoDB only: with SNS down it is simply 200.
    let stack = Stack::new("srs-sns").await;
    moto().inject(&fault(
        "sns",
        &stack.topic_arn,
        None,
        10_000,
        FaultKind::Error { status: 503 },
    ));
    let pipeline = stack.pipeline("srs");
    let publish = sample("srs", "on_publish");
    let reply = handle(&pipeline, sample_request(&publish, &publish.body)).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, r#"{"code":0}"#));
    moto().clear_faults(&stack.topic_arn);
    assert_eq!(stack.messages().await.len(), 1);
}

#[tokio::test]
async fn a_relay_that_dies_mid_batch_loses_nothing_and_repeats_carry_the_same_id() {
    let stack = Stack::new("relay-dies").await;
    let pipeline = stack.pipeline("bililive");
    deliver(&pipeline, 0..4).await;
    // It publishes the batch, then dies before answering: the mapping (here
    // the pump) hands the same batch over again.
    stack.lose_relay_answers(1).await;
    let died = stack.publish_pending().await;
    assert_eq!(died.failed_batches, 1, "{died:?}");
    let messages = stack.messages().await;
    let seen = ids(&messages);
    assert_eq!(seen.len(), 4, "every event: {seen:?}");
    assert!(
        seen.values().all(|&n| n == 2),
        "published, then again on the retry, with the same id: {seen:?}"
    );
    assert!(
        stack.messages().await.is_empty(),
        "the answered batch is done"
    );
}

#[tokio::test]
async fn a_failed_batch_fails_only_its_records_and_the_retry_loses_nothing() {
    let stack = Stack::new("batch-fails").await;
    let pipeline = stack.pipeline("bililive");
    // 12 records in one invocation: two PublishBatch calls (10 + 2).
    deliver(&pipeline, 0..12).await;
    // The first PublishBatch fails (both SDK attempts); the second goes out.
    moto().inject(&fault(
        "sns",
        &stack.topic_arn,
        Some("PublishBatch"),
        2,
        FaultKind::Error { status: 500 },
    ));
    let first = stack.publish_pending().await;
    assert_eq!(first.failed_batches, 1, "{first:?}");
    assert_eq!(
        stack.relay_calls.take(),
        ["PublishBatch", "PublishBatch"],
        "the other batch was still sent"
    );
    assert_eq!(stack.queued().await.len(), 2, "the batch that went out");
    // The mapping retries from the lowest failed record: all 12 again.
    let messages = stack.messages().await;
    let seen = ids(&messages);
    assert_eq!(messages.len(), 12, "{seen:?}");
    assert_eq!(seen.len(), 12, "every event, each id once in this round");
}

#[tokio::test]
async fn a_message_sns_refuses_is_dead_lettered_and_the_shard_moves_on() {
    let stack = Stack::new("poison").await;
    let pipeline = stack.pipeline("bililive");
    let poison = {
        let mut body: Value = serde_json::from_slice(&bililive_body(1)).expect("JSON");
        body["EventData"]["Padding"] = json!("p".repeat(4000));
        serde_json::to_vec(&body).expect("JSON")
    };
    let reply = handle(&pipeline, post("/bililive", &poison)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let poison_key = reply.json()["id"].as_str().expect("id").to_owned();
    // The topic refuses it for its size (lowered behind the relay's back).
    stack
        .sns
        .set_topic_attributes()
        .topic_arn(&stack.topic_arn)
        .attribute_name("MaximumMessageSize")
        .attribute_value("1024")
        .send()
        .await
        .expect("SetTopicAttributes");
    let relayed = stack.publish_pending().await;
    assert_eq!(
        relayed.failed_batches, 0,
        "a poison record must not block its shard"
    );
    assert!(stack.queued().await.is_empty());
    stack
        .sns
        .set_topic_attributes()
        .topic_arn(&stack.topic_arn)
        .attribute_name("MaximumMessageSize")
        .attribute_value("262144")
        .send()
        .await
        .expect("SetTopicAttributes");
    // The shard moved on: the next event is published.
    let reply = handle(&pipeline, post("/bililive", &bililive_body(2))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let messages = stack.messages().await;
    assert_eq!(messages.len(), 1);
    assert_ne!(messages[0].envelope["id"], poison_key.as_str());
    // The refused message is kept in the dead-letter table for 14 days,
    // envelope and all, and a replay (what `livehook events replay --failed`
    // does) publishes it from there.
    assert_eq!(
        stack.failed_ids(false).await,
        std::slice::from_ref(&poison_key)
    );
    let item = stack
        .dynamodb
        .get_item()
        .table_name(&stack.failed_table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(poison_key.clone()),
        )
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item
        .expect("the dead letter");
    let kept_until = item_number(&item, "expires_at").expect("a TTL");
    assert!(
        kept_until >= unix_now() + 14 * 24 * 3600 - 60,
        "{kept_until}"
    );
    assert!(
        item_string(&item, "reason").is_some_and(|r| r.contains("InvalidParameter")),
        "{item:?}"
    );
    let outbox =
        StoredRecord::from_item(&serde_dynamo::Item::from(item)).expect("an outbox record");
    let sink = SnsSink::new(sns_client(&stack.endpoint, None), &stack.topic_arn, 262_144);
    assert_eq!(
        sink.publish(&outbox.messages(true)).await,
        [Sent::Published]
    );
    let replayed = stack.queued().await;
    assert_eq!(replayed.len(), 1);
    assert_eq!(replayed[0].envelope["id"], poison_key.as_str());
    assert_eq!(
        replayed[0].attributes.get("replay").map(String::as_str),
        Some("true")
    );
}

/// How SNS answers a message it refuses for its content.
#[derive(Debug, Clone, Copy)]
enum RefusalShape {
    /// `Publish` of the one message fails.
    Publish,
    /// The whole `PublishBatch` fails; sent alone, the message fails again.
    WholeBatch,
    /// The `PublishBatch` answers the message as a `Failed` entry.
    Entry,
}

#[tokio::test]
async fn every_content_refusal_code_is_refused_not_retried_whatever_its_shape() {
    for code in livehook::sink::CONTENT_REFUSAL_CODES {
        for shape in [
            RefusalShape::Publish,
            RefusalShape::WholeBatch,
            RefusalShape::Entry,
        ] {
            let ctx = format!("{code} {shape:?}");
            let stack = Stack::new("refusal").await;
            let pipeline = stack.pipeline("bililive");
            let others = match shape {
                RefusalShape::Publish => 0,
                _ => 2,
            };
            let mut poison: Value = serde_json::from_slice(&bililive_body(0)).expect("JSON");
            poison["EventData"]["Marker"] = json!("poison-marker");
            let mut bodies = vec![serde_json::to_vec(&poison).expect("JSON")];
            bodies.extend((1..=others).map(bililive_body));
            for body in &bodies {
                let reply = handle(&pipeline, post("/bililive", body)).await;
                assert_eq!(reply.status, 200, "{ctx}: {}", reply.body);
            }
            let refuse = |operation, entries| {
                fault(
                    "sns",
                    &stack.topic_arn,
                    Some(operation),
                    1,
                    FaultKind::Refuse {
                        code,
                        matching: Some("poison-marker"),
                        entries,
                    },
                )
            };
            match shape {
                RefusalShape::Publish => moto().inject(&refuse("Publish", false)),
                RefusalShape::WholeBatch => {
                    moto().inject(&refuse("PublishBatch", false));
                    moto().inject(&refuse("Publish", false));
                }
                RefusalShape::Entry => moto().inject(&refuse("PublishBatch", true)),
            }
            let relayed = stack.publish_pending().await;
            moto().clear_faults(&stack.topic_arn);
            assert_eq!(
                relayed.failed_batches, 0,
                "{ctx}: never retried: {relayed:?}"
            );
            let published = stack.queued().await;
            assert_eq!(published.len(), others, "{ctx}: the others, once");
            assert!(
                published
                    .iter()
                    .all(|m| !m.message.contains("poison-marker")),
                "{ctx}"
            );
            assert!(stack.messages().await.is_empty(), "{ctx}: and never again");
            let kept = stack.failed_ids(false).await;
            assert_eq!(kept.len(), 1, "{ctx}: dead-lettered: {kept:?}");
        }
    }
}

#[tokio::test]
async fn a_record_sns_fails_until_the_give_up_age_is_dead_lettered_not_dropped() {
    let stack = Stack::new("overdue").await;
    let pipeline = stack.pipeline("bililive");
    let mut keys = deliver(&pipeline, 0..3).await;
    keys.sort();
    moto().inject(&fault(
        "sns",
        &stack.topic_arn,
        None,
        10_000,
        FaultKind::Error { status: 500 },
    ));
    // Younger than the give-up age: held and retried, nothing dead-lettered.
    let held = stack.publish_pending().await;
    assert_eq!(held.failed_batches, 1, "{held:?}");
    assert!(stack.failed_ids(true).await.is_empty());
    // Past it (here: at once), the relay keeps them and lets the shard go on.
    let relayed = stack
        .publish_pending_with(stack.relay_dead_lettering_after(Duration::ZERO))
        .await;
    moto().clear_faults(&stack.topic_arn);
    assert_eq!(relayed.failed_batches, 0, "{relayed:?}");
    assert_eq!(stack.failed_ids(false).await, keys);
    assert!(stack.queued().await.is_empty());
}

#[tokio::test]
async fn a_restarted_pump_resumes_from_its_checkpoints_and_republishes_nothing() {
    let stack = Stack::new("pump-resumes").await;
    let pipeline = stack.pipeline("bililive");
    let dir = std::env::temp_dir().join(format!("livehook-{}", stack.name));
    let checkpoints = dir.join("pump.json");
    deliver(&pipeline, 0..3).await;
    let first = stack.publish_pending_checkpointed(&checkpoints).await;
    assert_eq!(first.failed_batches, 0, "{first:?}");
    assert_eq!(stack.queued().await.len(), 3);
    let new_id = deliver(&pipeline, 3..4).await.remove(0);
    // Restarted: only what came after its checkpoint.
    stack.publish_pending_checkpointed(&checkpoints).await;
    let published = stack.queued().await;
    assert_eq!(published.len(), 1, "nothing republished");
    assert_eq!(published[0].envelope["id"], new_id.as_str());
    stack.publish_pending_checkpointed(&checkpoints).await;
    assert!(stack.queued().await.is_empty());
    // A pump that has never seen the stream reads it from TRIM_HORIZON.
    stack
        .publish_pending_checkpointed(&dir.join("never-seen.json"))
        .await;
    assert_eq!(stack.queued().await.len(), 4);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_slow_sns_slows_the_relay_and_each_record_is_published_once() {
    let stack = Stack::new("slow-sns").await;
    let pipeline = stack.pipeline("bililive");
    // Two PublishBatch calls (10 + 2), each answered after 3 s: later than
    // the handlers' 2.5 s, after SNS applied the batch.
    deliver(&pipeline, 0..12).await;
    moto().inject(&fault(
        "sns",
        &stack.topic_arn,
        Some("PublishBatch"),
        2,
        FaultKind::HoldReply { seconds: 3.0 },
    ));
    let relay = stack.relay_with_timeouts(livehook::lambda::relay_timeouts());
    let relayed = stack.publish_pending_with(relay).await;
    assert_eq!(relayed.failed_batches, 0, "{relayed:?}");
    let messages = stack.queued().await;
    let seen = ids(&messages);
    assert_eq!(seen.len(), 12, "{seen:?}");
    assert!(seen.values().all(|&n| n == 1), "each once: {seen:?}");
}

/// A small message for the sink's deadline tests.
fn lal_started(id: &str) -> livehook::sink::Message<'_> {
    livehook::sink::Message {
        body: "{}",
        id,
        provider: "lal",
        event_type: "stream.started",
        stream: None,
        subject: "lal/x",
        replay: false,
        check: false,
    }
}

#[tokio::test]
async fn a_call_unanswered_at_the_deadline_fails_for_a_retry() {
    let stack = Stack::new("deadline").await;
    // SNS applies the batch and answers after 5 s; the sink has 1 s left
    // after its margin, and its client would wait 10 s for the answer.
    moto().inject(&fault(
        "sns",
        &stack.topic_arn,
        Some("PublishBatch"),
        1,
        FaultKind::HoldReply { seconds: 5.0 },
    ));
    let sink = SnsSink::new(sns_client(&stack.endpoint, None), &stack.topic_arn, 262_144);
    let message = lal_started("held");
    let deadline = Instant::now() + livehook::sink::DEADLINE_MARGIN + Duration::from_secs(1);
    let outcomes = sink
        .publish_until(&[message.clone(), message], deadline)
        .await;
    assert!(
        outcomes.iter().all(
            |o| matches!(o, Sent::Failed(reason) if reason.contains("left in this invocation"))
        ),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn a_sink_with_no_time_left_sends_nothing_and_fails_for_a_retry() {
    let stack = Stack::new("no-time").await;
    let sink = SnsSink::new(sns_client(&stack.endpoint, None), &stack.topic_arn, 262_144);
    let message = lal_started("late");
    let outcomes = sink
        .publish_until(&[message.clone(), message], Instant::now())
        .await;
    assert!(
        outcomes.iter().all(|o| matches!(o, Sent::Failed(_))),
        "{outcomes:?}"
    );
    assert!(stack.queued().await.is_empty(), "never sent late");
}
