//! Idempotency against real DynamoDB semantics (moto): provider retries,
//! concurrent deliveries, windowed keys, and what each costs.

use std::sync::Arc;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use livehook_testkit::*;
use serde_json::{Value, json};

/// Delivers each body in turn; every answer must be a 200 with the first
/// answer's body, and exactly one message must come out.
async fn once_for_all(stack: &Stack, sample: &Sample, bodies: &[Vec<u8>]) -> Received {
    let pipeline = stack.pipeline(&sample.provider);
    let mut first: Option<String> = None;
    for (i, body) in bodies.iter().enumerate() {
        let reply = handle(&pipeline, sample_request(sample, body)).await;
        let ctx = format!("{}/{} delivery {}", sample.provider, sample.event, i + 1);
        assert_eq!(reply.status, 200, "{ctx}: {}", reply.body);
        match &first {
            None => first = Some(reply.body),
            Some(first) => assert_eq!(&reply.body, first, "{ctx}: reply differs"),
        }
    }
    let mut messages = stack.messages().await;
    assert_eq!(
        messages.len(),
        1,
        "{}/{}: {} deliveries published {} messages",
        sample.provider,
        sample.event,
        bodies.len(),
        messages.len()
    );
    messages.remove(0)
}

fn with(body: &[u8], field: &str, value: Value) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(body).expect("JSON sample");
    assert!(v.get(field).is_some(), "the sample has no {field}");
    v[field] = value;
    serde_json::to_vec(&v).expect("JSON")
}

/// Test 2: the providers' own retries are published once, and each retry
/// gets the first delivery's reply.
#[tokio::test]
async fn provider_retries_are_published_once() {
    let stack = Stack::new("dup").await;

    // BililiveRecorder retries the identical body (same EventId).
    let bililive = sample("bililive", "SessionStarted");
    let body = sample_body(&bililive, 0);
    once_for_all(&stack, &bililive, &[body.clone(), body]).await;

    // Aodianyun counts retry_times 1, 2, 3…; event_value may come as a string.
    let aodianyun = sample("aodianyun", "start_publish");
    let first = sample_body(&aodianyun, 0);
    let mut bodies: Vec<Vec<u8>> = (1..=3)
        .map(|n| with(&first, "retry_times", json!(n)))
        .collect();
    for variant in ["start_publish.retry-2", "start_publish.string-value"] {
        if let Some(s) = samples()
            .into_iter()
            .find(|s| s.provider == "aodianyun" && s.event == variant)
        {
            bodies.push(s.body);
        }
    }
    let m = once_for_all(&stack, &aodianyun, &bodies).await;
    assert_eq!(m.envelope["data"]["retry_times"], 1, "{}", m.message);
    let key = m.envelope["id"].as_str().expect("id").to_owned();
    let item = stack.item(&key).await.expect("record");
    assert_eq!(item_number(&item, "retry_times"), Some(1), "{item:?}");

    // Tencent re-signs each retry with a new `t`.
    let tencent = sample("tencent", "push");
    let t = fresh_t();
    once_for_all(
        &stack,
        &tencent,
        &[sample_body(&tencent, t), sample_body(&tencent, t + 60)],
    )
    .await;

    // lal and SRS never resend: each delivery is its own event (nothing_lost.rs).

    // Api Server: the same channel event twice.
    let apiserver = sample("apiserver", "channel_live");
    let body = sample_body(&apiserver, 0);
    once_for_all(&stack, &apiserver, &[body.clone(), body]).await;
}

/// Test 3: many identical deliveries at once: every one is answered 200 with
/// one body (no "in progress", no 409), and exactly one event is published.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_identical_deliveries_publish_once() {
    const N: usize = 50;
    let stack = Stack::new("race").await;
    for (provider, event) in [
        ("bililive", "SessionStarted"),
        ("apiserver", "channel_live"),
    ] {
        let sample = sample(provider, event);
        let body = sample_body(&sample, 0);
        let pipeline = Arc::new(stack.pipeline(provider));
        let barrier = Arc::new(tokio::sync::Barrier::new(N));
        let tasks: Vec<_> = (0..N)
            .map(|_| {
                let pipeline = Arc::clone(&pipeline);
                let barrier = Arc::clone(&barrier);
                let request = sample_request(&sample, &body);
                tokio::spawn(async move {
                    barrier.wait().await;
                    handle(&pipeline, request).await
                })
            })
            .collect();
        let mut replies = Vec::with_capacity(N);
        for task in tasks {
            replies.push(task.await.expect("task"));
        }
        let other: Vec<_> = replies
            .iter()
            .filter(|r| r.status != 200)
            .map(|r| (r.status, r.body.as_str()))
            .collect();
        assert!(
            other.is_empty(),
            "{provider}: answers other than 200: {other:?}"
        );
        assert!(
            replies.iter().all(|r| r.body == replies[0].body),
            "{provider}: 200 bodies differ"
        );
        let messages = stack.messages().await;
        let calls = stack.take_calls();
        let relayed = stack.relay_calls.take();
        // On failure, say which layer duplicated: two records on the stream
        // mean two conditional puts won (the emulator's write was not
        // atomic); one Publish and two messages would be SNS/SQS.
        assert_eq!(
            messages.len(),
            1,
            "{provider}: {N} concurrent deliveries published {} messages ({} PutItem; relay: {relayed:?})",
            messages.len(),
            calls.len(),
        );
        assert_eq!(
            calls,
            vec!["PutItem".to_owned(); N],
            "{provider}: one call each"
        );
        assert_eq!(relayed, ["Publish"], "{provider}: one record on the stream");
        eprintln!("{provider}: {N} concurrent deliveries → {N} × 200, one body, 1 message");
    }
}

/// A windowed key (ZLMediaKit: the same body is the same event only for a
/// while): within the window a duplicate, after it a new event that replaces
/// the record (a MODIFY on the stream) and is published with its own id.
#[tokio::test]
async fn a_windowed_key_replaces_a_lapsed_record_as_a_new_event() {
    use std::time::Duration;

    use livehook::record::{Record, RecordParts};
    use livehook::sink::Message;
    use livehook::store::{IdempotencyStore, Written};

    // A real envelope (subscribers' schemas check every message), written
    // by the pipeline on a stack of its own.
    let source = Stack::new("window-envelope").await;
    let sample = sample("bililive", "FileClosed");
    let reply = handle(
        &source.pipeline("bililive"),
        sample_request(&sample, &sample.body),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let envelope: Value = serde_json::from_str(
        item_string(&source.items().await[0], "envelope").expect("an envelope"),
    )
    .expect("JSON");

    let stack = Stack::new("window").await;
    let store = DynamoStore::new(dynamodb_client(&stack.endpoint, None), &stack.table);
    let record = |id: &str, seconds_ago: u64| {
        let now = time::OffsetDateTime::now_utc() - Duration::from_secs(seconds_ago);
        let mut envelope = envelope.clone();
        envelope["id"] = json!(id);
        let body = envelope.to_string();
        let message = Message {
            body: &body,
            id,
            provider: "bililive",
            event_type: "recording.file_closed",
            stream: None,
            subject: "bililive/room",
            replay: false,
            check: false,
        };
        Record::build(RecordParts {
            key: "same-body",
            messages: &[message],
            recorded: &[],
            now,
            expires_at: now + Duration::from_secs(3600),
            dedupe_window: Some(Duration::from_secs(60)),
            key_use: None,
        })
        .expect("a record")
    };
    assert_eq!(
        store.put_new(record("first", 120)).await.expect("put"),
        Written::New
    );
    // Two minutes later than its first seen: outside the 60 s window.
    assert_eq!(
        store.put_new(record("second", 0)).await.expect("put"),
        Written::New
    );
    // Seconds later: inside the window of "second".
    assert_eq!(
        store.put_new(record("third", 0)).await.expect("put"),
        Written::Duplicate {
            first_id: Some("second".to_owned())
        }
    );
    let ids: Vec<String> = stack
        .messages()
        .await
        .iter()
        .map(|m| m.envelope["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        ids,
        ["first", "second"],
        "the replacement is published as a new event"
    );
}

/// Whether the emulator returns the existing item when a conditional
/// PutItem fails with ReturnValuesOnConditionCheckFailure=ALL_OLD (real
/// DynamoDB does).
async fn returns_old_item_on_failed_condition(stack: &Stack) -> bool {
    let item = |v: &str| {
        [
            ("pk".to_owned(), AttributeValue::S("probe".into())),
            ("v".to_owned(), AttributeValue::S(v.into())),
        ]
        .into_iter()
        .collect::<Item>()
    };
    stack.put_item(item("old")).await;
    let result = stack
        .dynamodb
        .put_item()
        .table_name(&stack.table)
        .set_item(Some(item("new")))
        .condition_expression("attribute_not_exists(pk)")
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await;
    match result {
        Err(SdkError::ServiceError(e)) => match e.err() {
            PutItemError::ConditionalCheckFailedException(failed) => {
                failed.item() == Some(&item("old"))
            }
            other => panic!("unexpected error {other:?}"),
        },
        other => panic!("the condition did not fail: {other:?}"),
    }
}

/// Test 8: one synchronous AWS call per delivery, new or duplicate (the
/// conditional PutItem, which returns the existing item in the same call);
/// the relay's one Publish per new event at batch 1. Every provider of the
/// registry; for those that never resend (lal, SRS) the second delivery is a
/// second event.
#[tokio::test]
async fn aws_calls_per_delivery() {
    let stack = Stack::new("calls").await;
    assert!(
        returns_old_item_on_failed_condition(&stack).await,
        "the emulator must return the old item on a failed condition, as DynamoDB does"
    );
    let all_samples = samples();
    for provider in livehook::providers::ALL_IMITATE {
        let sample = all_samples
            .iter()
            .find(|s| s.provider == provider.name())
            .unwrap_or_else(|| panic!("no sample of {}", provider.name()));
        let resends = provider.sending().resends;
        let provider = provider.name();
        let pipeline = stack.pipeline(provider);
        let body = sample_body(sample, fresh_t());
        stack.take_calls();
        stack.relay_calls.take();

        let reply = handle(&pipeline, sample_request(sample, &body)).await;
        assert_eq!(reply.status, 200, "{provider}: {}", reply.body);
        assert_eq!(stack.take_calls(), ["PutItem"], "{provider}: new event");

        let again = handle(&pipeline, sample_request(sample, &body)).await;
        assert_eq!(again.status, 200, "{provider}: {}", again.body);
        assert_eq!(
            stack.take_calls(),
            ["PutItem"],
            "{provider}: second delivery"
        );
        let published = stack.messages().await.len();
        let relayed = stack.relay_calls.take();
        if resends {
            assert_eq!(again.body, reply.body, "{provider}");
            assert_eq!(published, 1, "{provider}");
        } else {
            assert_eq!(published, 2, "{provider}: a second delivery is a new event");
        }
        // Both records in one batch: one Publish, or one PublishBatch for two.
        assert_eq!(relayed.len(), 1, "{provider}: relay calls {relayed:?}");
    }
    eprintln!("calls: new = PutItem (1); duplicate = PutItem (1); relay: one call per batch");
}
