//! Publishing events to SNS (the relay's side of the outbox).
//!
//! Every message gets its own outcome: published, refused by SNS for its
//! own content (a poison message: never retried, left in the table for
//! `livehook events replay`), or failed for a reason of the topic or the
//! service (retried by the stream's event source mapping).

use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_sns::Client;
use aws_sdk_sns::error::SdkError;
use aws_sdk_sns::operation::publish::PublishError;
use aws_sdk_sns::operation::publish_batch::PublishBatchError;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};

use crate::error::error_chain;

/// SNS FIFO `MessageGroupId` is at most 128 characters.
const MAX_GROUP_ID: usize = 128;
/// `PublishBatch` takes at most 10 entries.
pub const MAX_BATCH: usize = 10;
/// What a sink keeps in hand at its deadline: the relay still answers (and
/// dead-letters) after its last call.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(2);
/// SNS counts each message attribute's data type in the message size.
const STRING_TYPE: &str = "String";
/// The wire codes with which SNS refuses a message for its own content, as
/// the SDK reads them (`InvalidParameterException`,
/// `InvalidParameterValueException` and `ValidationException` are these
/// codes typed): sending it again can never succeed. A `PublishBatch` entry
/// carries them as its `Code`. Every other code (throttling, KMS, not found,
/// access denied, internal errors) concerns the topic or the service and is
/// retried.
pub const CONTENT_REFUSAL_CODES: [&str; 3] = [
    "InvalidParameter",
    "ParameterValueInvalid",
    "ValidationException",
];

/// One message to publish.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    /// The CloudEvents JSON.
    pub body: &'a str,
    /// Event id (FIFO deduplication id).
    pub id: &'a str,
    /// Provider name (attribute `provider`).
    pub provider: &'a str,
    /// Canonical type (attribute `type`).
    pub event_type: &'a str,
    /// Stream identity (attribute `stream`), when the event has one.
    pub stream: Option<&'a str>,
    /// Subject (FIFO message group).
    pub subject: &'a str,
    /// Marks a re-publication of a stored event (attribute `replay`).
    pub replay: bool,
    /// Marks a synthetic delivery of `livehook check` (attribute
    /// `livehook_check`), so subscribers can filter them out. Set only for
    /// deliveries the CLI marks as checks, never from a stream's name.
    pub check: bool,
}

impl Message<'_> {
    /// The message attributes (name, value). Every value is a `String`.
    pub fn attributes(&self) -> Vec<(&'static str, &str)> {
        let mut attrs = vec![("provider", self.provider), ("type", self.event_type)];
        // SNS rejects empty attribute values.
        if let Some(stream) = self.stream.filter(|s| !s.is_empty()) {
            attrs.push(("stream", stream));
        }
        if self.replay {
            attrs.push(("replay", "true"));
        }
        if self.check {
            attrs.push(("livehook_check", "true"));
        }
        attrs
    }

    /// The size SNS measures against the topic's `MaximumMessageSize`: the
    /// body plus each attribute's name, data type and value.
    pub fn size(&self) -> usize {
        self.body.len()
            + self
                .attributes()
                .iter()
                .map(|(name, value)| name.len() + STRING_TYPE.len() + value.len())
                .sum::<usize>()
    }
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// SNS took it.
    Published,
    /// SNS refused it for its own content; sending it again cannot succeed.
    Refused(String),
    /// The topic or the service failed; it may succeed later.
    Failed(String),
}

impl Sent {
    /// The outcome of a `PublishBatch` entry SNS answered as failed.
    fn of_entry(code: &str, sender_fault: bool, detail: String) -> Sent {
        if sender_fault && CONTENT_REFUSAL_CODES.contains(&code) {
            Sent::Refused(detail)
        } else {
            Sent::Failed(detail)
        }
    }
}

/// Whether SNS refused a `Publish` for the message's own content.
fn publish_refused<R>(error: &SdkError<PublishError, R>) -> bool {
    matches!(
        error.as_service_error(),
        Some(
            PublishError::InvalidParameterException(_)
                | PublishError::InvalidParameterValueException(_)
                | PublishError::ValidationException(_)
        )
    )
}

/// Whether SNS refused a whole `PublishBatch` for its content (or its total
/// size): each message is then sent alone, so only the poison one is refused.
fn batch_refused<R>(error: &SdkError<PublishBatchError, R>) -> bool {
    matches!(
        error.as_service_error(),
        Some(
            PublishBatchError::InvalidParameterException(_)
                | PublishBatchError::InvalidParameterValueException(_)
                | PublishBatchError::ValidationException(_)
                | PublishBatchError::BatchRequestTooLongException(_)
        )
    )
}

/// Where events go.
pub trait EventSink: Send + Sync {
    /// Publishes messages; returns one outcome per message, in order. Each
    /// message is sent at most once per call.
    fn publish(&self, messages: &[Message<'_>]) -> impl Future<Output = Vec<Sent>> + Send;

    /// Publishes like [`EventSink::publish`], each call bounded by
    /// `deadline` (less [`DEADLINE_MARGIN`]): what there is no time left to
    /// send is `Failed` without being sent, never sent late.
    fn publish_until(
        &self,
        messages: &[Message<'_>],
        deadline: Instant,
    ) -> impl Future<Output = Vec<Sent>> + Send {
        let _ = deadline;
        self.publish(messages)
    }
}

/// The time a call may take before `deadline`, keeping the margin; `None`
/// when there is none left.
pub(crate) fn time_left(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .and_then(|left| left.checked_sub(DEADLINE_MARGIN))
        .filter(|left| !left.is_zero())
}

/// The outcome of a call still unanswered when the time `left` to it has
/// passed: retried. Calls are bounded from outside (`tokio::time::timeout`,
/// which drops the call, retries included, as the SDK's operation timeout
/// would) rather than by a per-call config override, which builds a config
/// layer and merges it into every call's configuration.
fn out_of_time(left: Option<Duration>) -> Sent {
    let left = left.unwrap_or_default();
    Sent::Failed(format!(
        "no answer from SNS within the {} ms left in this invocation",
        left.as_millis()
    ))
}

/// [`EventSink`] on an SNS topic; a `.fifo` topic gets `MessageGroupId` =
/// subject (hashed when SNS would refuse it) and `MessageDeduplicationId` =
/// event id.
#[derive(Debug, Clone)]
pub struct SnsSink {
    client: Client,
    topic_arn: String,
    fifo: bool,
    max_message_bytes: usize,
}

impl SnsSink {
    /// A sink on `topic_arn`, whose `MaximumMessageSize` is
    /// `max_message_bytes` (batches are packed under it).
    pub fn new(client: Client, topic_arn: impl Into<String>, max_message_bytes: usize) -> Self {
        let topic_arn = topic_arn.into();
        SnsSink {
            fifo: topic_arn.ends_with(".fifo"),
            client,
            topic_arn,
            max_message_bytes,
        }
    }

    /// Whether the topic is FIFO.
    pub fn is_fifo(&self) -> bool {
        self.fifo
    }

    async fn publish_one(&self, m: &Message<'_>, left: Option<Duration>) -> Sent {
        let mut request = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(m.body);
        for (name, value) in m.attributes() {
            request = request.message_attributes(name, attribute(value));
        }
        if self.fifo {
            request = request
                .message_group_id(group_id(m.subject))
                .message_deduplication_id(m.id);
        }
        let sent = match left {
            Some(left) => tokio::time::timeout(left, request.send()).await.ok(),
            None => Some(request.send().await),
        };
        let Some(sent) = sent else {
            return out_of_time(left);
        };
        match sent {
            Ok(_) => Sent::Published,
            Err(e) if publish_refused(&e) => Sent::Refused(error_chain(&e)),
            Err(e) => Sent::Failed(error_chain(&e)),
        }
    }

    /// Sends one batch (indexes into `messages`) and writes each entry's
    /// outcome into `outcomes`. A batch SNS refuses whole for its content is
    /// sent again message by message, so that only the poison one is refused.
    async fn publish_batch(
        &self,
        messages: &[Message<'_>],
        batch: &[usize],
        outcomes: &mut [Option<Sent>],
        deadline: Option<Instant>,
    ) {
        let left = match deadline.map(time_left) {
            None => None,
            Some(Some(left)) => Some(left),
            Some(None) => {
                for &index in batch {
                    outcomes[index].get_or_insert_with(|| {
                        Sent::Failed("no time left in this invocation".to_owned())
                    });
                }
                return;
            }
        };
        if let [index] = batch {
            outcomes[*index] = Some(self.publish_one(&messages[*index], left).await);
            return;
        }
        let mut entries = Vec::with_capacity(batch.len());
        for &index in batch {
            let m = &messages[index];
            let mut entry = PublishBatchRequestEntry::builder()
                .id(index.to_string())
                .message(m.body);
            for (name, value) in m.attributes() {
                entry = entry.message_attributes(name, attribute(value));
            }
            if self.fifo {
                entry = entry
                    .message_group_id(group_id(m.subject))
                    .message_deduplication_id(m.id);
            }
            match entry.build() {
                Ok(entry) => entries.push(entry),
                Err(e) => outcomes[index] = Some(Sent::Refused(error_chain(&e))),
            }
        }
        let request = self
            .client
            .publish_batch()
            .topic_arn(&self.topic_arn)
            .set_publish_batch_request_entries(Some(entries));
        let sent = match left {
            Some(left) => tokio::time::timeout(left, request.send()).await.ok(),
            None => Some(request.send().await),
        };
        let Some(sent) = sent else {
            for &index in batch {
                outcomes[index].get_or_insert_with(|| out_of_time(left));
            }
            return;
        };
        match sent {
            Ok(output) => {
                for &index in batch {
                    outcomes[index].get_or_insert(Sent::Published);
                }
                for failure in output.failed() {
                    let Some(index) = failure
                        .id()
                        .parse::<usize>()
                        .ok()
                        .filter(|i| batch.contains(i))
                    else {
                        continue;
                    };
                    let detail = format!("{}: {}", failure.code(), failure.message().unwrap_or(""));
                    outcomes[index] = Some(Sent::of_entry(
                        failure.code(),
                        failure.sender_fault(),
                        detail,
                    ));
                }
            }
            Err(e) => {
                if batch_refused(&e) {
                    for &index in batch {
                        if outcomes[index].is_none() {
                            let left = match deadline {
                                Some(deadline) => match time_left(deadline) {
                                    Some(left) => Some(left),
                                    None => {
                                        outcomes[index] = Some(Sent::Failed(
                                            "no time left in this invocation".to_owned(),
                                        ));
                                        continue;
                                    }
                                },
                                None => None,
                            };
                            outcomes[index] = Some(self.publish_one(&messages[index], left).await);
                        }
                    }
                } else {
                    let detail = error_chain(&e);
                    for &index in batch {
                        outcomes[index].get_or_insert_with(|| Sent::Failed(detail.clone()));
                    }
                }
            }
        }
    }
}

fn attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type(STRING_TYPE)
        .string_value(value)
        .build()
        .expect("the one required field, data_type, is set")
}

/// A FIFO group id: the subject when SNS accepts it as one (1–128
/// characters, each an ASCII letter, digit or punctuation mark), else its
/// hash, so that a stream named `直播 1` still publishes.
pub fn group_id(subject: &str) -> String {
    let acceptable = !subject.is_empty()
        && subject.len() <= MAX_GROUP_ID
        && subject.bytes().all(|b| b.is_ascii_graphic());
    if acceptable {
        subject.to_owned()
    } else {
        crate::key::derive("group", &[subject.as_bytes()])
    }
}

/// Packs messages, in order, into `PublishBatch` requests that SNS accepts:
/// at most 10 entries, and at most `max_bytes` in all (SNS limits the whole
/// batch to the topic's `MaximumMessageSize`, not each entry). Returns
/// indexes into `messages`; a message too large on its own gets a batch of
/// its own (and SNS's refusal).
pub fn pack_batches(sizes: &[usize], pending: &[usize], max_bytes: usize) -> Vec<Vec<usize>> {
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut bytes = 0;
    for &index in pending {
        let size = sizes[index];
        match batches.last_mut() {
            Some(batch) if batch.len() < MAX_BATCH && bytes + size <= max_bytes => {
                batch.push(index);
                bytes += size;
            }
            _ => {
                batches.push(vec![index]);
                bytes = size;
            }
        }
    }
    batches
}

impl SnsSink {
    async fn publish_all(&self, messages: &[Message<'_>], deadline: Option<Instant>) -> Vec<Sent> {
        let mut outcomes: Vec<Option<Sent>> = vec![None; messages.len()];
        let sizes: Vec<usize> = messages.iter().map(Message::size).collect();
        let all: Vec<usize> = (0..messages.len()).collect();
        // One batch's failure never stops the others.
        for batch in pack_batches(&sizes, &all, self.max_message_bytes) {
            self.publish_batch(messages, &batch, &mut outcomes, deadline)
                .await;
        }
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Sent::Failed("not sent".to_owned())))
            .collect()
    }
}

impl EventSink for SnsSink {
    async fn publish(&self, messages: &[Message<'_>]) -> Vec<Sent> {
        self.publish_all(messages, None).await
    }

    async fn publish_until(&self, messages: &[Message<'_>], deadline: Instant) -> Vec<Sent> {
        self.publish_all(messages, Some(deadline)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message<'a>(subject: &'a str, stream: Option<&'a str>) -> Message<'a> {
        Message {
            body: "{}",
            id: "i",
            provider: "lal",
            event_type: "server.stats",
            stream,
            subject,
            replay: false,
            check: false,
        }
    }

    #[test]
    fn group_ids_are_what_sns_accepts() {
        assert_eq!(group_id("lal/live/test"), "lal/live/test");
        assert_eq!(group_id(&"x".repeat(128)), "x".repeat(128));
        for refused in [
            "x".repeat(129),
            "lal/直播 1".to_owned(),
            "a b".to_owned(),
            String::new(),
            "tab\t".to_owned(),
        ] {
            let id = group_id(&refused);
            assert_eq!(id.len(), crate::key::KEY_LEN, "{refused:?}");
            assert!(id.bytes().all(|b| b.is_ascii_graphic()));
        }
        assert_ne!(group_id("lal/直播 1"), group_id("lal/直播 2"));
    }

    #[test]
    fn stream_attribute_only_when_there_is_a_stream() {
        let mut m = message("lal/1", None);
        let names = |m: &Message<'_>| {
            m.attributes()
                .into_iter()
                .map(|(n, _)| n)
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&m), ["provider", "type"]);
        m.stream = Some("");
        assert_eq!(names(&m), ["provider", "type"]);
        m.stream = Some("live/x");
        m.replay = true;
        assert_eq!(names(&m), ["provider", "type", "stream", "replay"]);
        // Only a delivery marked as a check, never a stream's name.
        let named_like_a_check = message(
            "lal/livehook/livehook-check",
            Some("livehook/livehook-check"),
        );
        assert_eq!(names(&named_like_a_check), ["provider", "type", "stream"]);
        let mut check = named_like_a_check;
        check.check = true;
        assert_eq!(
            names(&check),
            ["provider", "type", "stream", "livehook_check"]
        );
    }

    #[test]
    fn size_counts_body_and_every_attribute() {
        let m = message("lal/1", Some("live/x"));
        // "{}" + provider/String/lal + type/String/server.stats + stream/String/live/x
        assert_eq!(m.size(), 2 + (8 + 6 + 3) + (4 + 6 + 12) + (6 + 6 + 6));
    }

    #[test]
    fn batches_hold_at_most_ten_entries_and_the_byte_limit() {
        let sizes = vec![100; 25];
        let all: Vec<usize> = (0..25).collect();
        let batches = pack_batches(&sizes, &all, 10_000);
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            [10, 10, 5]
        );
        let batches = pack_batches(&sizes, &all, 250);
        assert_eq!(batches.len(), 13);
        assert!(
            batches
                .iter()
                .all(|b| b.iter().map(|&i| sizes[i]).sum::<usize>() <= 250)
        );
        assert_eq!(batches.concat(), all, "every message once, in order");
        // A message over the limit alone gets its own batch.
        let batches = pack_batches(&[10, 500, 10], &[0, 1, 2], 100);
        assert_eq!(batches, [vec![0], vec![1], vec![2]]);
        // Exactly at the limit fits.
        assert_eq!(pack_batches(&[50, 50], &[0, 1], 100), [vec![0, 1]]);
    }
}
