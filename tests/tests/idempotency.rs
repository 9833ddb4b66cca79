//! Idempotency against real DynamoDB semantics (moto): provider retries,
//! concurrent deliveries, lapsed and live claims, and what each costs.

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
    assert_eq!(n(&item, "retry_times"), Some(1), "{item:?}");

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

/// Test 3: many identical deliveries at once publish exactly one event; the
/// others are told "done" (200) or "retry later" (409 with Retry-After).
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
        let ok: Vec<_> = replies.iter().filter(|r| r.status == 200).collect();
        let busy: Vec<_> = replies.iter().filter(|r| r.status == 409).collect();
        let other: Vec<_> = replies
            .iter()
            .filter(|r| r.status != 200 && r.status != 409)
            .map(|r| (r.status, r.body.as_str()))
            .collect();
        assert!(other.is_empty(), "{provider}: unexpected answers {other:?}");
        assert!(!ok.is_empty(), "{provider}: nobody was answered 200");
        assert!(
            ok.iter().all(|r| r.body == ok[0].body),
            "{provider}: 200 bodies differ"
        );
        for r in &busy {
            assert!(
                r.retry_after().is_some_and(|s| s >= 1),
                "{provider}: 409 without Retry-After: {r:?}"
            );
        }
        let messages = stack.messages().await;
        let calls = stack.take_calls();
        let count = |name: &str| calls.iter().filter(|c| *c == name).count();
        // On failure, say which layer duplicated: two Publish calls mean two
        // invocations won the conditional put (the emulator's conditional
        // write was not atomic); one Publish and two messages would be SNS/SQS.
        assert_eq!(
            messages.len(),
            1,
            "{provider}: {N} concurrent deliveries published {} messages ({} × 200, {} × 409; \
             {} PutItem, {} Publish, {} UpdateItem, {} GetItem)",
            messages.len(),
            ok.len(),
            busy.len(),
            count("PutItem"),
            count("Publish"),
            count("UpdateItem"),
            count("GetItem"),
        );
        assert_eq!(count("PutItem"), N, "{provider}: {calls:?}");
        assert_eq!(count("Publish"), 1, "{provider}: {calls:?}");
        assert_eq!(count("UpdateItem"), 1, "{provider}: {calls:?}");
        assert_eq!(calls.len(), N + 2, "{provider}: {calls:?}");
        let key = messages[0].envelope["id"].as_str().expect("id");
        let item = stack.item(key).await.expect("record");
        assert_eq!(s(&item, "status"), Some("COMPLETED"));
        eprintln!(
            "{provider}: {N} concurrent deliveries → {} × 200, {} × 409, 1 message",
            ok.len(),
            busy.len()
        );
    }
}

/// The IN_PROGRESS record a crashed (or still running) invocation leaves.
fn claim_item(key: &str, provider: &str, event_type: &str, until_ms: i64) -> Item {
    [
        ("pk", AttributeValue::S(key.to_owned())),
        ("status", AttributeValue::S("IN_PROGRESS".into())),
        ("in_progress_until", AttributeValue::N(until_ms.to_string())),
        (
            "expires_at",
            AttributeValue::N((unix_now() + 3600).to_string()),
        ),
        ("provider", AttributeValue::S(provider.to_owned())),
        ("type", AttributeValue::S(event_type.to_owned())),
        (
            "first_seen",
            AttributeValue::S("2026-01-01T00:00:00Z".into()),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Test 6: a lapsed claim is taken over; a live one is answered 409.
#[tokio::test]
async fn lapsed_claims_are_taken_over_and_live_ones_are_not() {
    let stack = Stack::new("claims").await;
    let pipeline = stack.pipeline("bililive");

    // Lapsed a minute ago: the invocation that claimed it died.
    let stale = sample("bililive", "SessionStarted");
    let body = sample_body(&stale, 0);
    let delivery = adapter_view(&stack, &stale, &body);
    let event_type = delivery.event_type().as_str();
    stack
        .put_item(claim_item(
            &delivery.key,
            "bililive",
            event_type,
            unix_millis() - 60_000,
        ))
        .await;
    let reply = handle(&pipeline, sample_request(&stale, &body)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let messages = stack.messages().await;
    assert_eq!(messages.len(), 1, "a lapsed claim was not taken over");
    assert_eq!(messages[0].envelope["id"], delivery.key.as_str());
    let item = stack.item(&delivery.key).await.expect("record");
    assert_eq!(s(&item, "status"), Some("COMPLETED"), "{item:?}");

    // Claimed until a minute from now: someone is publishing it.
    let live = sample("bililive", "SessionEnded");
    let body = sample_body(&live, 0);
    let delivery = adapter_view(&stack, &live, &body);
    let until = unix_millis() + 60_000;
    let claim = claim_item(
        &delivery.key,
        "bililive",
        delivery.event_type().as_str(),
        until,
    );
    stack.put_item(claim.clone()).await;
    stack.take_calls();
    let reply = handle(&pipeline, sample_request(&live, &body)).await;
    assert_eq!(reply.status, 409, "{}", reply.body);
    let retry_after = reply.retry_after().expect("409 carries Retry-After");
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert!(
        stack.messages().await.is_empty(),
        "a live claim was published"
    );
    assert_eq!(
        stack.item(&delivery.key).await.as_ref(),
        Some(&claim),
        "the live claim was changed"
    );
    assert_eq!(
        stack.take_calls(),
        ["PutItem"],
        "a live claim costs one call"
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

/// Test 8: a new event costs exactly three AWS calls (PutItem, Publish,
/// UpdateItem); a duplicate exactly one (PutItem), when the store gets the
/// existing item back from the failed conditional put as real DynamoDB does.
/// Every provider of the registry; for those that never resend (lal, SRS)
/// the second delivery is a second event.
#[tokio::test]
async fn aws_calls_per_delivery() {
    let stack = Stack::new("calls").await;
    let all_old = returns_old_item_on_failed_condition(&stack).await;
    let duplicate_cost: &[&str] = if all_old {
        &["PutItem"]
    } else {
        eprintln!(
            "NOTE: this moto does not return the item on a failed condition \
             (ReturnValuesOnConditionCheckFailure=ALL_OLD); the store falls back to GetItem"
        );
        &["PutItem", "GetItem"]
    };
    let all_samples = samples();
    for provider in livehook::providers::ALL {
        let sample = all_samples
            .iter()
            .find(|s| s.provider == provider.name())
            .unwrap_or_else(|| panic!("no sample of {}", provider.name()));
        let resends = provider.sending().resends;
        let provider = provider.name();
        let pipeline = stack.pipeline(provider);
        let body = sample_body(sample, fresh_t());
        stack.take_calls();

        let reply = handle(&pipeline, sample_request(sample, &body)).await;
        assert_eq!(reply.status, 200, "{provider}: {}", reply.body);
        assert_eq!(
            stack.take_calls(),
            ["PutItem", "Publish", "UpdateItem"],
            "{provider}: new event"
        );

        let again = handle(&pipeline, sample_request(sample, &body)).await;
        assert_eq!(again.status, 200, "{provider}: {}", again.body);
        if resends {
            assert_eq!(again.body, reply.body, "{provider}");
            assert_eq!(stack.take_calls(), duplicate_cost, "{provider}: duplicate");
            assert_eq!(stack.messages().await.len(), 1, "{provider}");
        } else {
            assert_eq!(
                stack.take_calls(),
                ["PutItem", "Publish", "UpdateItem"],
                "{provider}: a second delivery is a new event"
            );
            assert_eq!(stack.messages().await.len(), 2, "{provider}");
        }
    }
    eprintln!(
        "calls: new = PutItem, Publish, UpdateItem (3); duplicate = {duplicate_cost:?} ({}); \
         moto returns ALL_OLD on a failed condition: {all_old}",
        duplicate_cost.len()
    );
}
