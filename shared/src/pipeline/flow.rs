//! The middle of the flow, after the gate: message and record sizes (413)
//! → one conditional write of the whole record (new: 200; duplicate: 200
//! with the first answer's body). One AWS call per delivery; publishing is
//! the relay's, from the table's stream.

use time::OffsetDateTime;

use super::answer::{Answered, Failure, JSON};
use super::gate::Gate;
use crate::error::Rejection;
use crate::providers::Delivery;
use crate::record::{MAX_ITEM_BYTES, Record, RecordParts};
use crate::sink::Message;
use crate::store::{Admitted, IdempotencyStore, Written};
use crate::stream_keys::KeyCheck;

/// The facts of one invocation the flow needs.
#[derive(Debug, Clone, Copy)]
pub struct Invocation<'a> {
    /// The request id (the key of providers that never resend).
    pub request_id: &'a str,
    /// When the request was received.
    pub now: OffsetDateTime,
}

/// What a delivery's write has to do with a stream key (see
/// [`super::admission`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Keyed<'a> {
    /// The key to check in the same call as the write.
    pub check: Option<&'a KeyCheck>,
    /// The key the client presented: masked by value.
    pub presented: Option<&'a str>,
}

/// Runs one admitted delivery through the store.
pub(crate) async fn deliver<S: IdempotencyStore>(
    gate: &Gate,
    store: &S,
    delivery: &Delivery,
    invocation: Invocation<'_>,
    keyed: Keyed<'_>,
) -> Result<Answered, Failure> {
    let provider = gate.provider();
    let event_type = delivery.event_type().as_str();

    // Serialized once: the stored text is what the relay publishes.
    let mut envelopes: Vec<String> = delivery
        .events
        .iter()
        .map(|o| serde_json::to_string(&o.event))
        .collect::<Result<_, _>>()
        .map_err(|e| Rejection::malformed(format!("the event cannot be serialized: {e}")))?;
    super::admission::mask_presented(keyed.presented, &mut envelopes);
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
            check: delivery.check,
        })
        .collect();
    // Refused before anything is written: no relay could ever publish it.
    let limit = gate.limits().max_message_bytes;
    if messages.iter().any(|m| m.size() > limit) {
        return Err(Rejection::EventTooLarge { limit }.into());
    }
    let record = Record::build(RecordParts {
        key: &delivery.key,
        messages: &messages,
        recorded: &delivery.recorded,
        now: invocation.now,
        expires_at: invocation.now + gate.limits().retention,
        dedupe_window: delivery.dedupe_window,
        key_use: keyed.check.map(|check| &check.key),
    })
    .map_err(|_| Rejection::RecordTooLarge {
        limit: MAX_ITEM_BYTES,
    })?;

    // The id the event was published with (a duplicate's: the first
    // delivery's, which the store returns), so that logs name what a
    // subscriber received; a split delivery, by its record key.
    let published = match delivery.events.as_slice() {
        [one] => one.event.id.clone(),
        _ => delivery.key.clone(),
    };
    let written = match keyed.check {
        None => store.put_new(record).await?,
        Some(check) => match store.put_admitted(record, check).await? {
            Admitted::Written(written) => written,
            Admitted::Refused(reason) => {
                return Err(Failure::Refused {
                    reason,
                    event_id: None,
                });
            }
        },
    };
    let (duplicate, id) = match written {
        Written::New => (false, published),
        Written::Duplicate { first_id } => (true, first_id.unwrap_or(published)),
    };
    // Built from the key, or from what the delivery asks (the same on a
    // resend): a duplicate gets the first answer's body.
    let (reply, content_type) = match &delivery.answer {
        Some(answer) => (answer.body.clone(), answer.content_type),
        None => (provider.reply(&delivery.key), JSON),
    };
    let first = delivery.events.first().map(|o| &o.event);
    Ok(Answered {
        id,
        event_type,
        subject: first.map(|e| e.subject.clone()).unwrap_or_default(),
        hook: first
            .map(|e| e.data.provider_event.clone())
            .unwrap_or_default(),
        reply,
        content_type,
        duplicate,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use super::*;
    use crate::pipeline::Limits;
    use crate::pipeline::fakes::MemoryStore;
    use crate::providers::testing::{deliver_as, now, verifier};
    use crate::providers::{Bililive, Lal, Provider};
    use crate::record::StoredRecord;
    use crate::store::StoreError;

    const LIMIT: usize = 64 * 1024;

    fn gate(provider: &'static dyn Provider) -> Gate {
        Gate::new(
            provider,
            verifier(),
            Limits {
                max_body_bytes: 1 << 20,
                retention: Duration::from_secs(3600),
                replay_window: Duration::ZERO,
                max_message_bytes: LIMIT,
            },
        )
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
    }

    impl World {
        fn new(provider: &'static dyn Provider) -> Self {
            World {
                gate: gate(provider),
                store: MemoryStore::default(),
            }
        }

        async fn deliver_at(
            &self,
            delivery: &Delivery,
            at: OffsetDateTime,
        ) -> Result<Answered, Failure> {
            let invocation = Invocation {
                request_id: "r",
                now: at,
            };
            deliver(
                &self.gate,
                &self.store,
                delivery,
                invocation,
                Keyed::default(),
            )
            .await
        }

        async fn deliver(&self, delivery: &Delivery) -> Result<Answered, Failure> {
            self.deliver_at(delivery, now()).await
        }

        fn outbox(&self, key: &str) -> StoredRecord {
            let item: serde_dynamo::Item = self.store.item(key).expect("a record").into();
            StoredRecord::from_item(&item).expect("an outbox record")
        }
    }

    #[tokio::test]
    async fn a_new_event_is_one_write_of_the_whole_record() {
        let w = World::new(&Bililive);
        let d = bililive("e1");
        let accepted = w.deliver(&d).await.unwrap();
        assert!(!accepted.duplicate);
        assert_eq!(w.store.take_calls(), 1);
        let outbox = w.outbox(&d.key);
        assert_eq!(outbox.messages.len(), 1);
        assert_eq!(
            outbox.messages[0].body,
            serde_json::to_string(&d.events[0].event).unwrap(),
            "the stored text is the envelope"
        );
        assert_eq!(outbox.event_type, "recording.file_closed");
        assert_eq!(w.store.stream.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_duplicate_costs_one_call_and_gets_the_same_reply() {
        let w = World::new(&Bililive);
        let d = bililive("e1");
        let first = w.deliver(&d).await.unwrap();
        w.store.take_calls();
        let again = w.deliver(&d).await.unwrap();
        assert!(again.duplicate);
        assert_eq!(again.reply, first.reply);
        assert_eq!(w.store.take_calls(), 1);
        assert_eq!(w.store.stream.lock().unwrap().len(), 1, "written once");
    }

    #[tokio::test]
    async fn a_delivery_asking_its_own_answer_gets_it_new_or_duplicate() {
        // Twitch's challenge: the challenge itself, as plain text, however often it comes.
        let w = World::new(&Bililive);
        let mut d = bililive("e1");
        d.answer = Some(crate::providers::Answer {
            content_type: "text/plain",
            body: "the-challenge".to_owned(),
        });
        for duplicate in [false, true] {
            let answered = w.deliver(&d).await.unwrap();
            assert_eq!(answered.duplicate, duplicate);
            assert_eq!(
                (answered.reply.as_str(), answered.content_type),
                ("the-challenge", "text/plain")
            );
            let response = super::super::answer::respond(
                Ok(answered),
                &Bililive,
                crate::config::AdmissionOnFailure::Refuse,
            );
            assert_eq!(response.headers()["content-type"], "text/plain");
        }
        let plain = w.deliver(&bililive("e2")).await.unwrap();
        assert_eq!(plain.content_type, JSON);
    }

    #[tokio::test]
    async fn a_lost_reply_is_503_and_the_retry_a_duplicate() {
        let w = World::new(&Bililive);
        let d = bililive("e1");
        w.store.applied_then_failing.store(1, Ordering::SeqCst);
        assert!(matches!(w.deliver(&d).await, Err(Failure::Store(_))));
        let retry = w.deliver(&d).await.unwrap();
        assert!(retry.duplicate, "the write had applied");
        assert_eq!(w.store.stream.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_failed_write_is_503_and_the_retry_new() {
        let w = World::new(&Bililive);
        let d = bililive("e1");
        w.store.failing.store(1, Ordering::SeqCst);
        match w.deliver(&d).await {
            Err(Failure::Store(StoreError(_))) => {}
            other => panic!("{other:?}"),
        }
        assert!(!w.deliver(&d).await.unwrap().duplicate);
    }

    #[tokio::test]
    async fn a_windowed_key_is_a_duplicate_within_the_window_and_new_after_it() {
        let w = World::new(&Bililive);
        let mut d = bililive("e1");
        d.dedupe_window = Some(Duration::from_secs(60));
        assert!(!w.deliver(&d).await.unwrap().duplicate);
        let soon = now() + Duration::from_secs(5);
        assert!(w.deliver_at(&d, soon).await.unwrap().duplicate);
        let later = now() + Duration::from_secs(61);
        assert!(!w.deliver_at(&d, later).await.unwrap().duplicate);
        assert_eq!(w.store.stream.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn the_answer_names_the_event_by_the_id_it_was_published_with() {
        // ZLMediaKit's windowed hooks: the published id is not the key.
        let w = World::new(&crate::providers::Zlmediakit);
        let body = serde_json::json!({"app": "live", "stream": "s", "hook_index": 1,
            "mediaServerId": "z", "vhost": "__defaultVhost__"});
        let send = |hook_index: u64, request_id: &str| {
            let mut body = body.clone();
            body["hook_index"] = hook_index.into();
            deliver_as(
                &crate::providers::Zlmediakit,
                "/zlmediakit/on_stream_none_reader",
                "token=test-token",
                &serde_json::to_vec(&body).unwrap(),
                request_id,
                LIMIT,
            )
            .unwrap()
        };
        let first = send(1, "r1");
        let published = first.events[0].event.id.clone();
        assert_ne!(published, first.key);
        assert_eq!(crate::record::record_key(&published), first.key);
        let accepted = w.deliver(&first).await.unwrap();
        assert_eq!(accepted.id, published);
        // Its retry (a new hook_index, another invocation) is a duplicate,
        // answered with the first delivery's published id.
        let retry = send(2, "r2");
        assert_ne!(retry.events[0].event.id, published);
        let again = w.deliver(&retry).await.unwrap();
        assert!(again.duplicate);
        assert_eq!(again.id, published);
    }

    fn busy_update() -> Vec<u8> {
        let groups: Vec<serde_json::Value> = (0..300)
            .map(|i| serde_json::json!({"stream_name": format!("s{i}"), "app_name": "live", "pub": {"session_id": format!("RTMPPUBSUB{i}"), "remote_addr": "10.0.0.1:5000"}, "padding": "x".repeat(400)}))
            .collect();
        serde_json::to_vec(&serde_json::json!({"server_id": "1", "groups": groups})).unwrap()
    }

    #[tokio::test]
    async fn a_split_delivery_stores_every_part_in_one_record() {
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
        assert!(w.deliver(&d).await.is_ok());
        assert_eq!(w.store.take_calls(), 1);
        let outbox = w.outbox(&d.key);
        assert_eq!(outbox.messages.len(), d.events.len());
        for (stored, event) in outbox.messages.iter().zip(&d.events) {
            assert_eq!(stored.id, event.event.id);
            assert!(stored.body.len() < LIMIT);
        }
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
        match w.deliver(&d).await {
            Err(Failure::Rejected(Rejection::EventTooLarge { limit })) => {
                assert_eq!(limit, LIMIT)
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(w.store.take_calls(), 0);
    }
}
