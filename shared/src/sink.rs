//! Publishing events to SNS.

use std::future::Future;

use aws_sdk_sns::Client;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};

use crate::error::error_chain;

/// SNS FIFO `MessageGroupId` is at most 128 characters.
const MAX_GROUP_ID: usize = 128;
/// `PublishBatch` takes at most 10 entries.
const MAX_BATCH: usize = 10;

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
/// subject and `MessageDeduplicationId` = event id.
#[derive(Debug, Clone)]
pub struct SnsSink {
    client: Client,
    topic_arn: String,
    fifo: bool,
}

impl SnsSink {
    /// A sink on `topic_arn`.
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        let topic_arn = topic_arn.into();
        SnsSink {
            fifo: topic_arn.ends_with(".fifo"),
            client,
            topic_arn,
        }
    }

    /// Whether the topic is FIFO.
    pub fn is_fifo(&self) -> bool {
        self.fifo
    }
}

fn attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .expect("data_type is set")
}

fn attributes(m: &Message<'_>) -> Vec<(&'static str, MessageAttributeValue)> {
    let mut attrs = vec![
        ("provider", attribute(m.provider)),
        ("type", attribute(m.event_type)),
    ];
    // SNS rejects empty attribute values.
    if let Some(stream) = m.stream.filter(|s| !s.is_empty()) {
        attrs.push(("stream", attribute(stream)));
    }
    if m.replay {
        attrs.push(("replay", attribute("true")));
    }
    attrs
}

/// A FIFO group id: the subject, or its hash when the subject is too long.
pub fn group_id(subject: &str) -> String {
    if subject.len() <= MAX_GROUP_ID {
        subject.to_owned()
    } else {
        crate::key::derive("group", &[subject.as_bytes()])
    }
}

impl EventSink for SnsSink {
    async fn publish(&self, messages: &[Message<'_>]) -> Result<(), SinkError> {
        if let [m] = messages {
            let mut request = self
                .client
                .publish()
                .topic_arn(&self.topic_arn)
                .message(m.body);
            for (name, value) in attributes(m) {
                request = request.message_attributes(name, value);
            }
            if self.fifo {
                request = request
                    .message_group_id(group_id(m.subject))
                    .message_deduplication_id(m.id);
            }
            return request
                .send()
                .await
                .map(drop)
                .map_err(|e| SinkError(error_chain(&e)));
        }
        for batch in messages.chunks(MAX_BATCH) {
            let mut entries = Vec::with_capacity(batch.len());
            for (index, m) in batch.iter().enumerate() {
                let mut entry = PublishBatchRequestEntry::builder()
                    .id(index.to_string())
                    .message(m.body);
                for (name, value) in attributes(m) {
                    entry = entry.message_attributes(name, value);
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
            if let Some(failed) = output.failed().first() {
                return Err(SinkError(format!(
                    "{} of {} batch entries failed, first: {}",
                    output.failed().len(),
                    batch.len(),
                    failed.message().unwrap_or(failed.code())
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_subjects_become_hashed_group_ids() {
        assert_eq!(group_id("lal/live/test"), "lal/live/test");
        let long = "x".repeat(200);
        assert_eq!(group_id(&long).len(), crate::key::KEY_LEN);
    }

    #[test]
    fn stream_attribute_only_when_there_is_a_stream() {
        let mut m = Message {
            body: "{}",
            id: "i",
            provider: "lal",
            event_type: "server.stats",
            stream: None,
            subject: "lal/1",
            replay: false,
        };
        let names = |m: &Message<'_>| {
            attributes(m)
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
    }
}
