//! The middle of the flow, after the gate: size check → claim (duplicate:
//! 200, in progress: 409) → publish → complete. A new event costs three
//! AWS calls, a duplicate one.

use time::OffsetDateTime;

use super::answer::{Accepted, Failure};
use super::gate::Gate;
use crate::error::Rejection;
use crate::providers::Delivery;
use crate::sink::{EventSink, Message, SinkError};
use crate::store::{Claim, ClaimOutcome, IdempotencyStore};

/// The facts of one invocation the flow needs.
#[derive(Debug, Clone, Copy)]
pub struct Invocation<'a> {
    /// The request id (the claim's owner).
    pub request_id: &'a str,
    /// When the request was received.
    pub now: OffsetDateTime,
    /// Until when this invocation may run: its claim lapses then.
    pub deadline: OffsetDateTime,
}

/// Runs one admitted delivery through the store and the sink.
pub(crate) async fn deliver<S: IdempotencyStore, K: EventSink>(
    gate: &Gate,
    store: &S,
    sink: &K,
    delivery: &Delivery,
    invocation: Invocation<'_>,
) -> Result<Accepted, Failure> {
    let provider = gate.provider();
    let event_type = delivery.event_type().as_str();
    let accepted = |duplicate| Accepted {
        id: delivery.key.clone(),
        event_type,
        reply: provider.reply(&delivery.key),
        duplicate,
    };

    // Serialized once: the same text is published and stored.
    let envelopes: Vec<String> = delivery
        .events
        .iter()
        .map(|o| serde_json::to_string(&o.event))
        .collect::<Result<_, _>>()
        .map_err(|e| SinkError(format!("serializing the envelope: {e}")))?;
    let messages: Vec<Message<'_>> = delivery
        .events
        .iter()
        .zip(&envelopes)
        .map(|(o, body)| Message {
            body,
            id: &o.event.id,
            provider: provider.name(),
            event_type: o.event.event_type.as_str(),
            stream: o.stream.as_deref(),
            subject: &o.event.subject,
            replay: false,
        })
        .collect();
    // Refused before anything is written: no retry could ever publish it.
    let limit = gate.settings().max_message_bytes;
    if messages.iter().any(|m| m.size() > limit) {
        return Err(Rejection::EventTooLarge { limit }.into());
    }

    let expires_at = invocation.now + gate.settings().retention;
    let claim = Claim {
        key: &delivery.key,
        claimed_by: invocation.request_id,
        provider: provider.name(),
        event_type,
        recorded: &delivery.recorded,
        now: invocation.now,
        in_progress_until: invocation.deadline,
        expires_at,
    };
    match store.claim(&claim).await? {
        ClaimOutcome::Claimed => {}
        ClaimOutcome::AlreadyCompleted => return Ok(accepted(true)),
        ClaimOutcome::InProgress { until } => {
            let seconds = until.map_or(1, |u| (u - invocation.now).whole_seconds().clamp(1, 60));
            return Err(Failure::InProgress {
                retry_after_seconds: seconds.unsigned_abs(),
            });
        }
    }

    if let Err(publish_error) = sink.publish(&messages).await {
        if let Err(release_error) = store.release(&delivery.key).await {
            // The claim lapses at its deadline; the provider's retry then succeeds.
            tracing::error!(event_id = delivery.key, error = %release_error, "could not release claim");
        }
        return Err(publish_error.into());
    }

    // A split delivery stores no single envelope; its parts are in SNS.
    let stored = match envelopes.as_slice() {
        [one] => Some(one.as_str()),
        _ => None,
    };
    // Published already: a 503 now would make the provider publish it again
    // once the claim lapses, so a failed completion is retried once, then
    // logged, and the answer stays 200.
    if let Err(first) = store.complete(&delivery.key, stored).await {
        tracing::warn!(event_id = delivery.key, error = %first, "marking completed failed; retrying once");
        if let Err(e) = store.complete(&delivery.key, stored).await {
            tracing::error!(event_id = delivery.key, error = %e, "published but not marked completed");
        }
    }
    Ok(accepted(false))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use super::*;
    use crate::pipeline::Settings;
    use crate::pipeline::fakes::{MemoryStore, RecordingSink};
    use crate::providers::testing::{deliver_as, now, verifier};
    use crate::providers::{Bililive, Lal, Provider};

    const LIMIT: usize = 64 * 1024;

    fn gate(provider: &'static dyn Provider) -> Gate {
        Gate::new(
            provider,
            verifier(),
            Settings {
                max_body_bytes: 1 << 20,
                retention: Duration::from_secs(3600),
                replay_window: Duration::ZERO,
                max_message_bytes: LIMIT,
            },
        )
    }

    fn invocation(request_id: &str) -> Invocation<'_> {
        Invocation {
            request_id,
            now: now(),
            deadline: now() + Duration::from_secs(30),
        }
    }

    fn bililive(event_id: &str) -> Delivery {
        let body = serde_json::json!({"EventType": "FileClosed", "EventId": event_id, "EventTimestamp": "2025-12-31T23:00:00.0000000+00:00", "EventData": {"RoomId": 1}});
        deliver_as(
            &Bililive,
            "/bililive",
            "token=test-token",
            &serde_json::to_vec(&body).unwrap(),
            "r",
            LIMIT,
        )
        .unwrap()
    }

    struct World {
        gate: Gate,
        store: MemoryStore,
        sink: RecordingSink,
    }

    impl World {
        fn new(provider: &'static dyn Provider) -> Self {
            World {
                gate: gate(provider),
                store: MemoryStore::default(),
                sink: RecordingSink::default(),
            }
        }

        async fn deliver(
            &self,
            delivery: &Delivery,
            request_id: &str,
        ) -> Result<Accepted, Failure> {
            deliver(
                &self.gate,
                &self.store,
                &self.sink,
                delivery,
                invocation(request_id),
            )
            .await
        }
    }

    #[tokio::test]
    async fn a_new_event_is_claimed_published_and_completed() {
        let w = World::new(&Bililive);
        let d = bililive("e1");
        let accepted = w.deliver(&d, "r1").await.unwrap();
        assert!(!accepted.duplicate);
        assert_eq!(w.store.take_calls(), ["claim", "complete"]);
        let published = w.sink.published();
        assert_eq!(published.len(), 1);
        let record = w.store.record(&d.key).unwrap();
        assert!(record.completed);
        assert_eq!(
            record.envelope.as_deref(),
            Some(published[0].as_str()),
            "one serialization for both"
        );
    }

    #[tokio::test]
    async fn a_duplicate_costs_one_call_and_gets_the_same_reply() {
        let w = World::new(&Bililive);
        let d = bililive("e1");
        let first = w.deliver(&d, "r1").await.unwrap();
        w.store.take_calls();
        let again = w.deliver(&d, "r2").await.unwrap();
        assert!(again.duplicate);
        assert_eq!(again.reply, first.reply);
        assert_eq!(w.store.take_calls(), ["claim"]);
        assert_eq!(w.sink.published().len(), 1);
    }

    #[tokio::test]
    async fn another_invocations_live_claim_is_in_progress_and_our_own_goes_on() {
        let w = World::new(&Bililive);
        let d = bililive("e1");
        w.sink.fail_after.store(0, Ordering::SeqCst);
        // Leave a live claim behind: claim, then a publish that fails… without release.
        let claim = Claim {
            key: &d.key,
            claimed_by: "r1",
            provider: "bililive",
            event_type: "recording.file_closed",
            recorded: &[],
            now: now(),
            in_progress_until: now() + Duration::from_secs(20),
            expires_at: now() + Duration::from_secs(3600),
        };
        assert_eq!(w.store.claim(&claim).await.unwrap(), ClaimOutcome::Claimed);
        w.sink.fail_after.store(usize::MAX, Ordering::SeqCst);
        match w.deliver(&d, "r2").await {
            Err(Failure::InProgress {
                retry_after_seconds,
            }) => assert_eq!(retry_after_seconds, 20),
            other => panic!("{other:?}"),
        }
        assert!(w.sink.published().is_empty());
        // The same invocation (an SDK retry of its PutItem) owns it.
        let accepted = w.deliver(&d, "r1").await.unwrap();
        assert!(!accepted.duplicate);
        assert_eq!(w.sink.published().len(), 1);
    }

    #[tokio::test]
    async fn a_lapsed_claim_is_taken_over() {
        let w = World::new(&Bililive);
        let d = bililive("e1");
        let claim = Claim {
            key: &d.key,
            claimed_by: "crashed",
            provider: "bililive",
            event_type: "recording.file_closed",
            recorded: &[],
            now: now() - Duration::from_secs(120),
            in_progress_until: now() - Duration::from_secs(60),
            expires_at: now() + Duration::from_secs(3600),
        };
        w.store.claim(&claim).await.unwrap();
        assert!(w.deliver(&d, "r2").await.is_ok());
        assert_eq!(w.sink.published().len(), 1);
    }

    #[tokio::test]
    async fn a_publish_failure_releases_the_claim_so_the_retry_succeeds() {
        let w = World::new(&Bililive);
        let d = bililive("e1");
        w.sink.fail_after.store(0, Ordering::SeqCst);
        assert!(matches!(w.deliver(&d, "r1").await, Err(Failure::Sink(_))));
        assert_eq!(w.store.take_calls(), ["claim", "release"]);
        assert_eq!(w.store.record(&d.key), None);
        w.sink.fail_after.store(usize::MAX, Ordering::SeqCst);
        assert!(!w.deliver(&d, "r2").await.unwrap().duplicate);
        assert_eq!(w.sink.published().len(), 1);
    }

    #[tokio::test]
    async fn a_failed_completion_is_retried_once_and_the_answer_stays_200() {
        let w = World::new(&Bililive);
        let d = bililive("e1");
        w.store.failing_completes.store(1, Ordering::SeqCst);
        assert!(w.deliver(&d, "r1").await.is_ok());
        assert_eq!(w.store.take_calls(), ["claim", "complete", "complete"]);
        assert!(w.store.record(&d.key).unwrap().completed);

        // Failing twice: published, so still 200 (a 503 would publish it again).
        let d = bililive("e2");
        w.store.failing_completes.store(2, Ordering::SeqCst);
        assert!(w.deliver(&d, "r2").await.is_ok());
        assert_eq!(w.store.take_calls(), ["claim", "complete", "complete"]);
        assert!(!w.store.record(&d.key).unwrap().completed);
        assert_eq!(w.sink.published().len(), 2);
    }

    fn busy_update() -> Vec<u8> {
        let groups: Vec<serde_json::Value> = (0..300)
            .map(|i| serde_json::json!({"stream_name": format!("s{i}"), "app_name": "live", "pub": {"session_id": format!("RTMPPUBSUB{i}"), "remote_addr": "10.0.0.1:5000"}, "padding": "x".repeat(400)}))
            .collect();
        serde_json::to_vec(&serde_json::json!({"server_id": "1", "groups": groups})).unwrap()
    }

    #[tokio::test]
    async fn a_partly_published_split_delivery_is_released() {
        let w = World::new(&Lal);
        let d = deliver_as(
            &Lal,
            "/lal/on_update",
            "token=test-token",
            &busy_update(),
            "r1",
            LIMIT,
        )
        .unwrap();
        assert!(d.events.len() > 2, "{}", d.events.len());
        w.sink.fail_after.store(1, Ordering::SeqCst);
        assert!(matches!(w.deliver(&d, "r1").await, Err(Failure::Sink(_))));
        assert_eq!(w.store.take_calls(), ["claim", "release"]);
        assert_eq!(w.store.record(&d.key), None);
    }

    #[tokio::test]
    async fn a_split_delivery_stores_no_single_envelope() {
        let w = World::new(&Lal);
        let d = deliver_as(
            &Lal,
            "/lal/on_update",
            "token=test-token",
            &busy_update(),
            "r1",
            LIMIT,
        )
        .unwrap();
        assert!(w.deliver(&d, "r1").await.is_ok());
        assert_eq!(w.sink.published().len(), d.events.len());
        assert!(w.sink.published().iter().all(|m| m.len() < LIMIT));
        let record = w.store.record(&d.key).unwrap();
        assert!(record.completed && record.envelope.is_none());
    }

    #[tokio::test]
    async fn an_event_that_cannot_fit_is_refused_before_any_call() {
        let w = World::new(&Lal);
        let body = serde_json::json!({"server_id": "1", "session_id": "S1", "url_param": "x".repeat(LIMIT)});
        let d = deliver_as(
            &Lal,
            "/lal/on_pub_start",
            "token=test-token",
            &serde_json::to_vec(&body).unwrap(),
            "r1",
            LIMIT,
        )
        .unwrap();
        match w.deliver(&d, "r1").await {
            Err(Failure::Rejected(crate::error::Rejection::EventTooLarge { limit })) => {
                assert_eq!(limit, LIMIT)
            }
            other => panic!("{other:?}"),
        }
        assert!(w.store.take_calls().is_empty());
        assert!(w.sink.published().is_empty());
    }
}
