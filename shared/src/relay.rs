//! The relay: the outbox table's stream, published to SNS.
//!
//! Lambda's event source mapping (locally, `livehook pump`) hands it batches
//! of the table's `INSERT` and `MODIFY` records (`NEW_IMAGE`). Every message
//! of the batch is sent once, packed into `PublishBatch` requests under the
//! topic's limits; a batch that fails fails only its own records, which are
//! returned as `batchItemFailures` so that Lambda retries them.
//!
//! What cannot be published is never dropped: a message SNS refuses for its
//! own content, and one still failing when its record is older than the
//! dead-letter age (just under the mapping's 24 h), is kept in the
//! dead-letter table ([`crate::dead_letter`]) and counted (`dead_lettered`,
//! which raises an alarm); only then does its shard move on. If the
//! dead-letter table cannot take it, the record is retried.
//!
//! After publishing, it records each stream key's latest use in the batch
//! on the key's item ([`crate::key_use`]); that never fails a record.

use std::time::Duration;

use aws_lambda_events::event::dynamodb::EventRecord;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use time::OffsetDateTime;

use crate::dead_letter::{DeadLetter, DeadLetters, NoDeadLetters};
use crate::key_use::{KeyUses, NoKeyUses};
use crate::record::StoredRecord;
use crate::sink::{EventSink, Message, Sent};
use crate::stream_event::{Attr, StreamBatch, StreamRecord};
use crate::telemetry::RelayCounts;

/// A record still unpublished this long after it was written is
/// dead-lettered instead of retried: 20 h, well inside the event source
/// mapping's 24 h `MaximumRecordAgeInSeconds`.
pub const DEFAULT_DEAD_LETTER_AFTER: Duration = Duration::from_secs(72_000);

/// The filter of the relay's event source mapping, in Lambda's pattern
/// syntax: `INSERT` and `MODIFY` records (the TTL's deletions, `REMOVE`,
/// are no news) of items that are not stream keys (a key's creation, use
/// and revocation are never events: every key item holds its hash, no
/// event's record does). Lambda drops the rest before invoking the relay,
/// so a busy stream key costs the relay nothing. `livehook template`
/// writes it into template.yaml; `livehook pump` applies the same test,
/// [`mapping_admits`].
pub fn mapping_filter() -> String {
    let mut image = serde_json::Map::new();
    image.insert(
        crate::stream_keys::attr::HASH.to_owned(),
        serde_json::json!({"S": [{"exists": false}]}),
    );
    serde_json::json!({
        "eventName": ["INSERT", "MODIFY"],
        "dynamodb": {"NewImage": image},
    })
    .to_string()
}

/// Whether [`mapping_filter`] lets `record` through to the relay (the
/// pump's records; the relay's own are [`StreamRecord::admitted`]).
pub fn mapping_admits(record: &EventRecord) -> bool {
    matches!(record.event_name.as_str(), "INSERT" | "MODIFY")
        && !matches!(
            record.change.new_image.get(crate::stream_keys::attr::HASH),
            Some(serde_dynamo::AttributeValue::S(_))
        )
}

/// What one batch came to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// The sequence numbers of the records to retry.
    pub failed: Vec<String>,
    /// Counts for logs and metrics.
    pub counts: RelayCounts,
}

impl BatchReport {
    /// The answer Lambda reads (`ReportBatchItemFailures`).
    pub fn response(&self) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        response.batch_item_failures = self
            .failed
            .iter()
            .map(|sequence| {
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = Some(sequence.clone());
                failure
            })
            .collect();
        response
    }
}

/// Publishes stream batches through a sink; keeps what it cannot publish in
/// its dead letters; records stream keys' uses in its key uses.
#[derive(Debug)]
pub struct Relay<K, D = NoDeadLetters, U = NoKeyUses> {
    sink: K,
    dead_letters: D,
    dead_letter_after: Duration,
    key_uses: U,
}

impl<K: EventSink> Relay<K> {
    /// A relay publishing through `sink`, with no dead-letter table: what
    /// cannot be published is retried.
    pub fn new(sink: K) -> Self {
        Relay {
            sink,
            dead_letters: NoDeadLetters,
            dead_letter_after: DEFAULT_DEAD_LETTER_AFTER,
            key_uses: NoKeyUses,
        }
    }
}

impl<K: EventSink, D: DeadLetters, U: KeyUses> Relay<K, D, U> {
    /// The same relay keeping what it cannot publish in `dead_letters`: a
    /// refused message at once, a failing one once its record is older than
    /// `after`.
    pub fn with_dead_letters<E: DeadLetters>(
        self,
        dead_letters: E,
        after: Duration,
    ) -> Relay<K, E, U> {
        Relay {
            sink: self.sink,
            dead_letters,
            dead_letter_after: after,
            key_uses: self.key_uses,
        }
    }

    /// The same relay recording stream keys' uses in `key_uses`.
    pub fn with_key_uses<V: KeyUses>(self, key_uses: V) -> Relay<K, D, V> {
        Relay {
            sink: self.sink,
            dead_letters: self.dead_letters,
            dead_letter_after: self.dead_letter_after,
            key_uses,
        }
    }

    /// The key uses (tests inspect fakes through them).
    pub fn key_uses(&self) -> &U {
        &self.key_uses
    }

    /// The sink (tests inspect fakes through it).
    pub fn sink(&self) -> &K {
        &self.sink
    }

    /// The dead letters (tests inspect fakes through them).
    pub fn dead_letters(&self) -> &D {
        &self.dead_letters
    }

    /// Publishes one batch of stream records; never fails as a whole.
    pub async fn relay(&self, event: &StreamBatch) -> BatchReport {
        self.relay_until(event, None).await
    }

    /// The same, every SNS call bounded by `deadline` (the invocation's own:
    /// Lambda's deadline for this batch): a slow SNS slows the relay, and
    /// what there is no time left for is retried, never sent after the
    /// relay has given up on it.
    pub async fn relay_until(
        &self,
        event: &StreamBatch,
        deadline: Option<std::time::Instant>,
    ) -> BatchReport {
        let mut report = BatchReport::default();
        // Records and their first message's index in `messages`.
        let mut outboxes: Vec<(&StreamRecord, StoredRecord)> =
            Vec::with_capacity(event.records.len());
        for record in &event.records {
            // TTL deletions and stream keys: the mapping's filter keeps them
            // out in AWS and the pump locally; skipped here too should a
            // mapping lack it.
            let key_item = matches!(&record.change.new_image.pk,
                Some(Attr::S(pk)) if crate::stream_keys::is_key_item(pk));
            if !record.admitted() || key_item {
                report.counts.skipped += 1;
                continue;
            }
            match StoredRecord::from_image(&record.change.new_image) {
                Ok(outbox) => outboxes.push((record, outbox)),
                Err(e) => {
                    // Retrying cannot make it readable: counted, left in the table.
                    report.counts.refused += 1;
                    tracing::error!(sequence = record.position(), error = %e, "stream record is not an outbox record; skipped");
                }
            }
        }
        let messages: Vec<Message<'_>> = outboxes
            .iter()
            .flat_map(|(_, outbox)| outbox.messages(false))
            .collect();
        let outcomes = match deadline {
            _ if messages.is_empty() => Vec::new(),
            Some(deadline) => self.sink.publish_until(&messages, deadline).await,
            None => self.sink.publish(&messages).await,
        };
        let mut outcomes = outcomes.into_iter();
        let now_ms = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let after_ms = i128::try_from(self.dead_letter_after.as_millis()).unwrap_or(i128::MAX);
        for (record, outbox) in &outboxes {
            // The mapping would give this record up soon: keep it instead.
            let overdue = outbox
                .first_seen_ms
                .is_some_and(|seen| now_ms - i128::from(seen) > after_ms);
            let mut failed = false;
            for (message, outcome) in outbox.messages(false).into_iter().zip(outcomes.by_ref()) {
                let reason = match outcome {
                    Sent::Published => {
                        report.counts.published += 1;
                        continue;
                    }
                    Sent::Refused(reason) => {
                        report.counts.refused += 1;
                        reason
                    }
                    Sent::Failed(reason) if overdue => reason,
                    Sent::Failed(reason) => {
                        failed = true;
                        tracing::warn!(
                            event_id = message.id,
                            key = outbox.key,
                            reason,
                            "publish failed; the record will be retried"
                        );
                        continue;
                    }
                };
                let letter = DeadLetter {
                    message: message.clone(),
                    reason: &reason,
                    record_key: &outbox.key,
                    received: outbox.first_seen.as_deref(),
                };
                match self.dead_letters.keep(&letter).await {
                    Ok(()) => {
                        report.counts.dead_lettered += 1;
                        tracing::error!(
                            event_id = message.id,
                            key = outbox.key,
                            provider = outbox.provider,
                            reason,
                            "not published; kept in the dead-letter table for `livehook events replay --failed`"
                        );
                    }
                    Err(e) => {
                        failed = true;
                        tracing::error!(
                            event_id = message.id,
                            key = outbox.key,
                            reason,
                            error = %e,
                            "not published and not dead-lettered; the record will be retried"
                        );
                    }
                }
            }
            if failed {
                report.counts.batch_failures += 1;
                report.failed.push(record.position());
            }
        }
        // After publishing: a key's use never delays its event.
        if self.key_uses.records() {
            let uses = crate::key_use::latest(outboxes.iter().map(|(_, outbox)| outbox));
            if !uses.is_empty() {
                report.counts.key_uses_failed =
                    crate::key_use::stamp_all(&self.key_uses, &uses, deadline).await;
            }
        }
        tracing::info!(
            records = event.records.len(),
            published = report.counts.published,
            refused = report.counts.refused,
            dead_lettered = report.counts.dead_lettered,
            failed = report.counts.batch_failures,
            key_uses_failed = report.counts.key_uses_failed,
            "batch relayed"
        );
        report
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::Ordering;

    use aws_sdk_dynamodb::types::AttributeValue;
    use time::OffsetDateTime;

    use super::*;
    use crate::key_use::KeyUses;
    use crate::pipeline::fakes::{KeyItems, RecordingSink};
    use crate::record::{Record, RecordParts};

    fn item(key: &str, bodies: &[&str]) -> HashMap<String, AttributeValue> {
        let ids: Vec<String> = (0..bodies.len()).map(|i| format!("{key}-{i}")).collect();
        let messages: Vec<Message<'_>> = bodies
            .iter()
            .zip(&ids)
            .map(|(body, id)| Message {
                body,
                id,
                provider: "bililive",
                event_type: "recording.file_closed",
                stream: None,
                subject: "bililive/1",
                replay: false,
                check: false,
            })
            .collect();
        let now = OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap();
        record_item(key, &messages, now, None)
    }

    /// The item of a record of `messages` written at `now`.
    fn record_item(
        key: &str,
        messages: &[Message<'_>],
        now: OffsetDateTime,
        key_use: Option<&crate::stream_keys::UsedKey>,
    ) -> HashMap<String, AttributeValue> {
        Record::build(RecordParts {
            key,
            messages,
            recorded: &[],
            now,
            expires_at: now,
            dedupe_window: None,
            key_use,
        })
        .unwrap()
        .item
    }

    /// A stream event as Lambda sends it, every member the relay ignores included.
    fn event_json(records: &[(&str, &str, HashMap<String, AttributeValue>)]) -> serde_json::Value {
        let records: Vec<serde_json::Value> = records
            .iter()
            .map(|(name, sequence, item)| {
                let image: serde_dynamo::Item = item.clone().into();
                serde_json::json!({
                    "eventID": format!("e{sequence}"), "eventName": name, "eventVersion": "1.1",
                    "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
                    "dynamodb": {"ApproximateCreationDateTime": 1767225600.0, "SequenceNumber": sequence,
                        "SizeBytes": 100, "StreamViewType": "NEW_IMAGE", "Keys": {"pk": {"S": "k"}},
                        "NewImage": image},
                    "eventSourceARN": "arn:aws:dynamodb:us-east-1:1:table/t/stream/x"
                })
            })
            .collect();
        serde_json::json!({ "Records": records })
    }

    /// The same, read as the relay reads it.
    fn event(records: &[(&str, &str, HashMap<String, AttributeValue>)]) -> StreamBatch {
        serde_json::from_str(&event_json(records).to_string()).unwrap()
    }

    fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn an_empty_batch_has_no_failures() {
        let relay = Relay::new(RecordingSink::default());
        let report = block_on(relay.relay(&event(&[])));
        assert!(report.response().batch_item_failures.is_empty());
        assert_eq!(relay.sink().calls.load(Ordering::SeqCst), 0, "no call");
    }

    #[test]
    fn every_message_of_every_record_is_published_once_in_one_call() {
        let relay = Relay::new(RecordingSink::default());
        let batch = event(&[
            ("INSERT", "100", item("a", &["{a}"])),
            ("MODIFY", "200", item("b", &["{b1}", "{b2}"])),
            ("REMOVE", "300", item("c", &["{c}"])),
        ]);
        let report = block_on(relay.relay(&batch));
        assert_eq!(relay.sink().published(), ["{a}", "{b1}", "{b2}"]);
        assert_eq!(relay.sink().calls.load(Ordering::SeqCst), 1);
        assert!(report.failed.is_empty());
        assert_eq!(report.counts.published, 3);
        assert_eq!(report.counts.skipped, 1, "TTL removals are not published");
    }

    #[test]
    fn failed_messages_fail_their_record_only() {
        let relay = Relay::new(RecordingSink::default());
        // The first message fails: record "100" is retried, "200" is not.
        relay.sink().failing.store(1, Ordering::SeqCst);
        let batch = event(&[
            ("INSERT", "100", item("a", &["{a}"])),
            ("INSERT", "200", item("b", &["{b}"])),
        ]);
        let report = block_on(relay.relay(&batch));
        assert_eq!(report.failed, ["100"]);
        let response = report.response();
        assert_eq!(
            response.batch_item_failures[0].item_identifier.as_deref(),
            Some("100")
        );
        assert_eq!(relay.sink().published(), ["{b}"]);
    }

    /// Dead letters kept in memory; `failing` makes the table unavailable.
    #[derive(Default)]
    struct Kept {
        ids: std::sync::Mutex<Vec<String>>,
        failing: std::sync::atomic::AtomicBool,
    }

    impl DeadLetters for Kept {
        async fn keep(&self, letter: &DeadLetter<'_>) -> Result<(), crate::store::StoreError> {
            if self.failing.load(Ordering::SeqCst) {
                return Err(crate::store::StoreError("unavailable".to_owned()));
            }
            self.ids.lock().unwrap().push(letter.message.id.to_owned());
            Ok(())
        }
    }

    fn kept(relay: &Relay<RecordingSink, Kept>) -> Vec<String> {
        relay.dead_letters().ids.lock().unwrap().clone()
    }

    /// The test records were written on 2026-01-01: long overdue at the
    /// default age, never at this one.
    const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

    #[test]
    fn a_refused_message_is_dead_lettered_and_never_retried() {
        let relay = Relay::new(RecordingSink::default()).with_dead_letters(Kept::default(), NEVER);
        let batch = event(&[
            ("INSERT", "100", item("a", &["{refuse}"])),
            ("INSERT", "200", item("b", &["{b}"])),
        ]);
        let report = block_on(relay.relay(&batch));
        assert!(
            report.failed.is_empty(),
            "a poison record must not block its shard"
        );
        assert_eq!(report.counts.refused, 1);
        assert_eq!(report.counts.dead_lettered, 1);
        assert_eq!(kept(&relay), ["a-0"]);
        assert_eq!(relay.sink().published(), ["{b}"]);
    }

    #[test]
    fn a_refused_message_that_cannot_be_dead_lettered_is_retried() {
        let relay = Relay::new(RecordingSink::default()).with_dead_letters(Kept::default(), NEVER);
        relay.dead_letters().failing.store(true, Ordering::SeqCst);
        let batch = event(&[("INSERT", "100", item("a", &["{refuse}"]))]);
        let report = block_on(relay.relay(&batch));
        assert_eq!(report.failed, ["100"], "never dropped");
        assert_eq!(report.counts.dead_lettered, 0);
        // Without a dead-letter table at all, the same.
        let relay = Relay::new(RecordingSink::default());
        assert_eq!(block_on(relay.relay(&batch)).failed, ["100"]);
    }

    #[test]
    fn a_failing_record_is_retried_until_overdue_then_dead_lettered() {
        let batch = event(&[("INSERT", "100", item("a", &["{a}"]))]);
        let young = Relay::new(RecordingSink::default()).with_dead_letters(Kept::default(), NEVER);
        young.sink().failing.store(1, Ordering::SeqCst);
        let report = block_on(young.relay(&batch));
        assert_eq!(report.failed, ["100"]);
        assert!(kept(&young).is_empty());
        let overdue = Relay::new(RecordingSink::default())
            .with_dead_letters(Kept::default(), DEFAULT_DEAD_LETTER_AFTER);
        overdue.sink().failing.store(1, Ordering::SeqCst);
        let report = block_on(overdue.relay(&batch));
        assert!(report.failed.is_empty(), "the shard moves on");
        assert_eq!(report.counts.dead_lettered, 1);
        assert_eq!(kept(&overdue), ["a-0"]);
    }

    #[test]
    fn stream_keys_are_skipped_never_published_nor_counted_refused() {
        let relay = Relay::new(RecordingSink::default());
        let mut key = HashMap::new();
        key.insert(
            "pk".to_owned(),
            AttributeValue::S(crate::stream_keys::item_key(
                crate::stream_keys::Action::Publish,
                "live/cam1",
            )),
        );
        key.insert("key_sha256".to_owned(), AttributeValue::S("ab".into()));
        let report = block_on(relay.relay(&event(&[
            ("INSERT", "1", key.clone()),
            ("MODIFY", "2", key),
        ])));
        assert!(report.failed.is_empty());
        assert_eq!((report.counts.skipped, report.counts.refused), (2, 0));
        assert!(relay.sink().published().is_empty());
    }

    /// Lambda's matching of a filter pattern, for the rules
    /// [`mapping_filter`] uses (a list of strings, `exists`): a field
    /// matches when one of its rules does, an object when all its fields do.
    fn pattern_matches(pattern: &serde_json::Value, value: Option<&serde_json::Value>) -> bool {
        use serde_json::Value;
        match pattern {
            Value::Object(fields) => fields
                .iter()
                .all(|(name, p)| pattern_matches(p, value.and_then(|v| v.get(name)))),
            Value::Array(rules) => rules.iter().any(|rule| match rule {
                Value::String(_) => value == Some(rule),
                Value::Object(o) if o.len() == 1 && o.contains_key("exists") => {
                    o["exists"].as_bool() == Some(value.is_some())
                }
                _ => panic!("a rule this matcher does not know: {rule}"),
            }),
            _ => panic!("not a pattern: {pattern}"),
        }
    }

    #[test]
    fn the_mapping_filter_admits_what_the_pump_admits_and_never_a_stream_key() {
        let pattern: serde_json::Value = serde_json::from_str(&mapping_filter()).unwrap();
        let key = crate::stream_keys::new_item(
            "live/cam1",
            crate::stream_keys::Action::Publish,
            "k",
            OffsetDateTime::now_utc(),
            None,
        );
        let json = event_json(&[
            ("INSERT", "1", item("a", &["{a}"])),
            ("MODIFY", "2", item("b", &["{b}"])),
            ("REMOVE", "3", item("c", &["{c}"])),
            ("INSERT", "4", key.clone()),
            ("MODIFY", "5", key.clone()),
            ("REMOVE", "6", key),
        ]);
        // The pump's records and the relay's own, from the same event.
        let pump: aws_lambda_events::event::dynamodb::Event =
            serde_json::from_value(json.clone()).unwrap();
        let lean: StreamBatch = serde_json::from_value(json).unwrap();
        let admitted: Vec<(bool, bool, bool)> = pump
            .records
            .iter()
            .zip(&lean.records)
            .map(|(record, own)| {
                let json = serde_json::to_value(record).unwrap();
                (
                    mapping_admits(record),
                    pattern_matches(&pattern, Some(&json)),
                    own.admitted(),
                )
            })
            .collect();
        let expected = [true, true, false, false, false, false];
        assert_eq!(admitted, expected.map(|a| (a, a, a)));
    }

    /// An admitted record: its key's use (item, hash) at `at_ms`.
    fn admitted(
        key: &str,
        item_key: &str,
        hash: &str,
        at_ms: i64,
    ) -> HashMap<String, AttributeValue> {
        let body = format!("{{{key}}}");
        let messages = [Message {
            body: &body,
            id: key,
            provider: "srs",
            event_type: "stream.started",
            stream: Some("live/cam1"),
            subject: "srs/live/cam1",
            replay: false,
            check: false,
        }];
        let now = OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000).unwrap();
        let used = crate::stream_keys::UsedKey {
            item_key: item_key.to_owned(),
            hash: hash.to_owned(),
        };
        record_item(key, &messages, now, Some(&used))
    }

    const CAM: &str = "streamkey#publish#live/cam1";
    const T1: i64 = 1_767_225_601_000;
    const T2: i64 = 1_767_225_602_500;

    fn at(ms: i64) -> Option<String> {
        let time = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap();
        Some(crate::event::format_time(time))
    }

    #[test]
    fn each_keys_latest_use_is_recorded_once_after_publishing_never_backwards() {
        let relay =
            Relay::new(RecordingSink::default()).with_key_uses(KeyItems::with_key(CAM, "h"));
        let batch = event(&[
            ("INSERT", "1", admitted("a", CAM, "h", T2)),
            ("INSERT", "2", admitted("b", CAM, "h", T1)),
            ("INSERT", "3", item("c", &["{c}"])),
        ]);
        let report = block_on(relay.relay(&batch));
        assert!(report.failed.is_empty());
        assert_eq!(report.counts.published, 3);
        assert_eq!(report.counts.key_uses_failed, 0);
        assert_eq!(
            relay.key_uses().calls.load(Ordering::SeqCst),
            1,
            "one per key"
        );
        assert_eq!(relay.key_uses().last_used(CAM), at(T2));
        // An older use relayed after a newer one leaves the newer.
        block_on(relay.relay(&event(&[("INSERT", "4", admitted("d", CAM, "h", T1))])));
        assert_eq!(relay.key_uses().last_used(CAM), at(T2));
        // Records without a key's use cost no call.
        block_on(relay.relay(&event(&[("INSERT", "5", item("e", &["{e}"]))])));
        assert_eq!(relay.key_uses().calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_replaced_or_missing_key_is_not_stamped_by_an_old_use() {
        let relay =
            Relay::new(RecordingSink::default()).with_key_uses(KeyItems::with_key(CAM, "new"));
        let play = "streamkey#play#live/cam1";
        let report = block_on(relay.relay(&event(&[
            ("INSERT", "1", admitted("a", CAM, "old", T1)),
            ("INSERT", "2", admitted("b", play, "h", T1)),
        ])));
        assert_eq!(
            (report.counts.published, report.counts.key_uses_failed),
            (2, 0)
        );
        assert_eq!(relay.key_uses().last_used(CAM), None);
        assert!(!relay.key_uses().items.lock().unwrap().contains_key(play));
    }

    #[test]
    fn a_failed_stamp_is_counted_and_fails_no_record() {
        let relay =
            Relay::new(RecordingSink::default()).with_key_uses(KeyItems::with_key(CAM, "h"));
        relay.key_uses().failing.store(1, Ordering::SeqCst);
        let batch = event(&[("INSERT", "1", admitted("a", CAM, "h", T1))]);
        let report = block_on(relay.relay(&batch));
        assert!(report.failed.is_empty(), "the event was published");
        assert_eq!(report.counts.published, 1);
        assert_eq!(report.counts.key_uses_failed, 1);
        assert_eq!(relay.key_uses().last_used(CAM), None);
        // Past the deadline: counted, never sent late.
        let report = block_on(relay.relay_until(&batch, Some(std::time::Instant::now())));
        assert_eq!(report.counts.key_uses_failed, 1);
        assert!(report.failed.is_empty());
        assert_eq!(relay.key_uses().calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn without_a_table_no_use_is_recorded() {
        let none: Option<KeyItems> = None;
        let relay = Relay::new(RecordingSink::default()).with_key_uses(none);
        let batch = event(&[("INSERT", "1", admitted("a", CAM, "h", T1))]);
        let report = block_on(relay.relay(&batch));
        assert_eq!(
            (report.counts.published, report.counts.key_uses_failed),
            (1, 0)
        );
        assert!(!relay.key_uses().records());
    }

    #[test]
    fn a_record_that_is_not_ours_is_skipped_not_retried() {
        let relay = Relay::new(RecordingSink::default());
        let mut foreign = HashMap::new();
        foreign.insert("pk".to_owned(), AttributeValue::S("x".into()));
        let report = block_on(relay.relay(&event(&[("INSERT", "1", foreign)])));
        assert!(report.failed.is_empty());
        assert_eq!(report.counts.refused, 1);
    }
}
