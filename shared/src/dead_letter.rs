//! The dead-letter table: every message the relay could not publish.
//!
//! A message SNS refuses for its content, and one still unpublished when the
//! record is about to be given up on (`LIVEHOOK_DEAD_LETTER_AFTER_SECONDS`,
//! just under the event source mapping's 24 h), is written here before the
//! relay lets its shard move on. One item per message, keyed by the id it
//! is published with, holding its envelope: replay needs nothing from the
//! outbox table, whose records may expire first. Items live 14 days.
//!
//! The item is a [`Record`] of the one message (so [`crate::record::StoredRecord`]
//! reads it back, compressed or not), plus:
//!
//! | attribute | what |
//! |---|---|
//! | `first_seen` | when it was dead-lettered |
//! | `reason` | why it was not published |
//! | `record_key` | the outbox record it came from |
//! | `received` | when that record was written |
//! | `replayed_at` | when `livehook events replay` published it (set by the CLI) |

use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use time::OffsetDateTime;

use crate::error::error_chain;
use crate::providers::Recorded;
use crate::record::{Record, RecordParts};
use crate::sink::Message;
use crate::store::StoreError;

/// How long a dead letter stays replayable.
pub const DEAD_LETTER_RETENTION: Duration = Duration::from_secs(14 * 24 * 3600);

/// One message the relay could not publish.
#[derive(Debug, Clone)]
pub struct DeadLetter<'a> {
    /// The message, as it would have been published.
    pub message: Message<'a>,
    /// Why it was not published.
    pub reason: &'a str,
    /// The outbox record's key.
    pub record_key: &'a str,
    /// When the outbox record was written (RFC 3339), if known.
    pub received: Option<&'a str>,
}

impl DeadLetter<'_> {
    /// The item to write, dead-lettered at `now`.
    pub fn record(&self, now: OffsetDateTime) -> Result<Record, StoreError> {
        let mut recorded = vec![
            ("reason", Recorded::Text(self.reason.to_owned())),
            ("record_key", Recorded::Text(self.record_key.to_owned())),
        ];
        if let Some(received) = self.received {
            recorded.push(("received", Recorded::Text(received.to_owned())));
        }
        let messages = [self.message.clone()];
        Record::build(RecordParts {
            key: self.message.id,
            messages: &messages,
            recorded: &recorded,
            now,
            expires_at: now + DEAD_LETTER_RETENTION,
            dedupe_window: None,
            key_use: None,
        })
        .map_err(|e| StoreError(format!("dead letter {}: {e}", self.message.id)))
    }
}

/// Where dead letters are kept.
pub trait DeadLetters: Send + Sync {
    /// Keeps `letter`; already kept (the same id) is success.
    fn keep(&self, letter: &DeadLetter<'_>) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// No dead-letter table: [`DeadLetters::keep`] fails, so that what cannot be
/// published is retried rather than dropped.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDeadLetters;

impl DeadLetters for NoDeadLetters {
    async fn keep(&self, letter: &DeadLetter<'_>) -> Result<(), StoreError> {
        Err(StoreError(format!(
            "no dead-letter table (LIVEHOOK_FAILED_TABLE) to keep {}",
            letter.message.id
        )))
    }
}

/// [`DeadLetters`] in a DynamoDB table (partition key `pk`, string; TTL
/// attribute `expires_at`).
#[derive(Debug, Clone)]
pub struct DynamoDeadLetters {
    client: Client,
    table: String,
}

impl DynamoDeadLetters {
    /// Dead letters in `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoDeadLetters {
            client,
            table: table.into(),
        }
    }
}

impl DeadLetters for DynamoDeadLetters {
    async fn keep(&self, letter: &DeadLetter<'_>) -> Result<(), StoreError> {
        let record = letter.record(OffsetDateTime::now_utc())?;
        // Conditional: a repeat (the batch retried) keeps the first letter
        // and its `replayed_at`.
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(record.item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(())
            }
            Err(e) => Err(StoreError(format!(
                "dead-letter table {}: {}",
                self.table,
                error_chain(&e)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_letter_holds_its_envelope_for_fourteen_days() {
        let message = Message {
            body: r#"{"id":"e1"}"#,
            id: "e1",
            provider: "lal",
            event_type: "stream.started",
            stream: Some("live/a"),
            subject: "lal/live/a",
            replay: false,
            check: false,
        };
        let letter = DeadLetter {
            message,
            reason: "InvalidParameter: too long",
            record_key: "k",
            received: Some("2026-01-01T00:00:00Z"),
        };
        let now = OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap();
        let record = letter.record(now).unwrap();
        let image: serde_dynamo::Item = record.item.clone().into();
        let outbox = crate::record::StoredRecord::from_item(&image).unwrap();
        assert_eq!(outbox.key, "e1");
        assert_eq!(outbox.messages[0].body, r#"{"id":"e1"}"#);
        assert_eq!(outbox.stream.as_deref(), Some("live/a"));
        assert_eq!(
            record.item["expires_at"].as_n().unwrap(),
            &(1_767_225_600 + 14 * 24 * 3600).to_string()
        );
        assert_eq!(record.item["record_key"].as_s().unwrap(), "k");
        assert_eq!(
            record.item["reason"].as_s().unwrap(),
            "InvalidParameter: too long"
        );
    }
}
