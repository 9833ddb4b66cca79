//! Publishing events to SNS.

use std::future::Future;

use aws_sdk_sns::Client;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};

use crate::error::error_chain;

/// SNS FIFO `MessageGroupId` is at most 128 characters.
const MAX_GROUP_ID: usize = 128;
/// `PublishBatch` takes at most 10 entries.
const MAX_BATCH: usize = 10;
/// Rounds of `PublishBatch` for entries SNS reports as failed (the SDK
/// already retries whole requests): the first try and two more.
const BATCH_ROUNDS: usize = 3;
/// SNS counts each message attribute's data type in the message size.
const STRING_TYPE: &str = "String";

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
}

/// The stream of the synthetic events `livehook check` sends: events whose
/// subject ends in `/livehook-check` carry the attribute `livehook_check`,
/// so subscribers can filter them out.
pub const CHECK_STREAM: &str = "livehook-check";

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
        let check = self
            .subject
            .strip_suffix(CHECK_STREAM)
            .is_some_and(|rest| rest.ends_with('/'));
        if check {
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

/// Publishing failed; nothing may be recorded as done.
#[derive(Debug, thiserror::Error)]
#[error("event sink: {0}")]
pub struct SinkError(pub String);

/// Where events go.
pub trait EventSink: Send + Sync {
    /// Publishes messages: all of them, or an error.
    fn publish(
        &self,
        messages: &[Message<'_>],
    ) -> impl Future<Output = Result<(), SinkError>> + Send;
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

    async fn publish_one(&self, m: &Message<'_>) -> Result<(), SinkError> {
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
        request
            .send()
            .await
            .map(drop)
            .map_err(|e| SinkError(error_chain(&e)))
    }

    /// Sends one batch; returns the indexes (into `messages`) SNS reports as
    /// failed, and the first failure's reason.
    async fn publish_batch(
        &self,
        messages: &[Message<'_>],
        batch: Vec<usize>,
    ) -> Result<(Vec<usize>, Option<String>), SinkError> {
        let mut entries = Vec::with_capacity(batch.len());
        for &index in &batch {
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
            entries.push(entry.build().map_err(|e| SinkError(error_chain(&e)))?);
        }
        let output = self
            .client
            .publish_batch()
            .topic_arn(&self.topic_arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await
            .map_err(|e| SinkError(error_chain(&e)))?;
        let reason = output
            .failed()
            .first()
            .map(|f| format!("{}: {}", f.code(), f.message().unwrap_or("")));
        let failed = output
            .failed()
            .iter()
            .filter_map(|f| f.id().parse::<usize>().ok())
            .filter(|index| batch.contains(index))
            .collect();
        Ok((failed, reason))
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

impl EventSink for SnsSink {
    async fn publish(&self, messages: &[Message<'_>]) -> Result<(), SinkError> {
        if let [m] = messages {
            return self.publish_one(m).await;
        }
        let sizes: Vec<usize> = messages.iter().map(Message::size).collect();
        publish_in_rounds(&sizes, self.max_message_bytes, |batch| {
            self.publish_batch(messages, batch)
        })
        .await
    }
}

/// Sends messages (given by their sizes) in packed batches through
/// `send_batch`, which answers the indexes SNS reported as failed and why;
/// those are sent again, for [`BATCH_ROUNDS`] rounds in all. Complete only
/// when every message is out.
async fn publish_in_rounds<F, Fut>(
    sizes: &[usize],
    max_bytes: usize,
    mut send_batch: F,
) -> Result<(), SinkError>
where
    F: FnMut(Vec<usize>) -> Fut,
    Fut: Future<Output = Result<(Vec<usize>, Option<String>), SinkError>>,
{
    let mut pending: Vec<usize> = (0..sizes.len()).collect();
    let mut last_reason = None;
    for _ in 0..BATCH_ROUNDS {
        let mut failed = Vec::new();
        for batch in pack_batches(sizes, &pending, max_bytes) {
            let (batch_failed, reason) = send_batch(batch).await?;
            failed.extend(batch_failed);
            last_reason = reason.or(last_reason);
        }
        if failed.is_empty() {
            return Ok(());
        }
        pending = failed;
    }
    Err(SinkError(format!(
        "{} of {} batch entries still failed after {BATCH_ROUNDS} rounds, last: {}",
        pending.len(),
        sizes.len(),
        last_reason.unwrap_or_default()
    )))
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
        let check = message(
            "lal/livehook/livehook-check",
            Some("livehook/livehook-check"),
        );
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

    /// Runs [`publish_in_rounds`] with a batch sender that reports as failed
    /// each entry `fail(index)` says, recording every batch sent.
    fn rounds(
        sizes: &[usize],
        fail: impl Fn(usize) -> bool,
    ) -> (Result<(), SinkError>, Vec<Vec<usize>>) {
        let sent = std::cell::RefCell::new(Vec::new());
        let result = block_on(publish_in_rounds(sizes, 1000, |batch| {
            let failed: Vec<usize> = batch.iter().copied().filter(|&i| fail(i)).collect();
            sent.borrow_mut().push(batch);
            async move { Ok((failed, Some("InternalError: try again".to_owned()))) }
        }));
        (result, sent.into_inner())
    }

    fn block_on<T>(future: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
            .block_on(future)
    }

    #[test]
    fn failed_batch_entries_are_sent_again_until_all_are_out() {
        // Entry 3 fails once: the second round sends only it.
        let once = std::cell::Cell::new(true);
        let (result, sent) = rounds(&[100; 12], |i| i == 3 && once.replace(false));
        assert!(result.is_ok());
        assert_eq!(sent, [(0..10).collect::<Vec<_>>(), vec![10, 11], vec![3]]);
        // An entry that always fails: an error after three rounds, never a success.
        let (result, sent) = rounds(&[100; 3], |i| i == 1);
        let error = result.unwrap_err().to_string();
        assert!(
            error.contains("1 of 3") && error.contains("InternalError"),
            "{error}"
        );
        assert_eq!(sent, [vec![0, 1, 2], vec![1], vec![1]]);
    }
}
