//! Idempotency records in DynamoDB.
//!
//! One item per delivery key. A new delivery costs three calls in all
//! (claim here, publish in the sink, complete here); a duplicate costs one:
//! the failed conditional put returns the existing item in the same call.

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use time::OffsetDateTime;

use crate::error::error_chain;
use crate::event::format_time;
use crate::providers::Recorded;

/// Status of a claimed key.
pub const IN_PROGRESS: &str = "IN_PROGRESS";
/// Status of a published key.
pub const COMPLETED: &str = "COMPLETED";

/// DynamoDB's item limit is 400 KB; the envelope is stored only when the
/// item stays comfortably under it.
pub const MAX_STORED_ENVELOPE_BYTES: usize = 350 * 1024;

/// What to record when claiming a key.
#[derive(Debug, Clone)]
pub struct Claim<'a> {
    /// The delivery's idempotency key.
    pub key: &'a str,
    /// The invocation's request id. A claim that meets an `IN_PROGRESS`
    /// item with its own id is its own earlier attempt (a `PutItem` whose
    /// reply was lost and which the SDK retried): it goes on.
    pub claimed_by: &'a str,
    /// Provider name.
    pub provider: &'a str,
    /// Canonical type (dotted name).
    pub event_type: &'a str,
    /// Provider facts to keep on the record (`retry_times`, `sequence`).
    pub recorded: &'a [(&'static str, Recorded)],
    /// Now.
    pub now: OffsetDateTime,
    /// Until when this invocation owns the claim (its deadline); after it, a
    /// retry may take the claim over.
    pub in_progress_until: OffsetDateTime,
    /// When the record may be deleted (TTL), even if never completed.
    pub expires_at: OffsetDateTime,
}

/// Result of a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// This invocation owns the key: publish, then complete.
    Claimed,
    /// Already published: answer as for the first delivery.
    AlreadyCompleted,
    /// Another invocation is publishing it right now.
    InProgress {
        /// When that invocation's claim lapses.
        until: Option<OffsetDateTime>,
    },
}

/// A store call failed (network, throttling, timeout, missing table).
#[derive(Debug, thiserror::Error)]
#[error("idempotency store: {0}")]
pub struct StoreError(pub String);

/// Where idempotency records live.
pub trait IdempotencyStore: Send + Sync {
    /// Claims a key (one call): succeeds when absent, or when an
    /// `IN_PROGRESS` claim has lapsed.
    fn claim(
        &self,
        claim: &Claim<'_>,
    ) -> impl Future<Output = Result<ClaimOutcome, StoreError>> + Send;

    /// Marks a key published, with (when it fits) the envelope. Its TTL is
    /// the claim's: the claim that is being completed wrote it.
    fn complete(
        &self,
        key: &str,
        envelope: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Drops an unpublished claim so the provider's retry can succeed.
    fn release(&self, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// [`IdempotencyStore`] on a DynamoDB table (partition key `pk`, string; TTL
/// attribute `expires_at`).
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    /// A store on `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i128) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn millis(at: OffsetDateTime) -> i128 {
    at.unix_timestamp_nanos() / 1_000_000
}

/// Reads the outcome from the item a failed condition returned.
fn outcome_of(item: &HashMap<String, AttributeValue>, claimed_by: &str) -> ClaimOutcome {
    let text = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
    };
    if text("status") == Some(COMPLETED) {
        return ClaimOutcome::AlreadyCompleted;
    }
    if !claimed_by.is_empty() && text("claimed_by") == Some(claimed_by) {
        return ClaimOutcome::Claimed;
    }
    let until = item
        .get("in_progress_until")
        .and_then(|v| v.as_n().ok())
        .and_then(|ms| ms.parse::<i128>().ok())
        .and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000).ok());
    ClaimOutcome::InProgress { until }
}

impl IdempotencyStore for DynamoStore {
    async fn claim(&self, claim: &Claim<'_>) -> Result<ClaimOutcome, StoreError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(claim.key))
            .item("status", s(IN_PROGRESS))
            .item("in_progress_until", n(millis(claim.in_progress_until)))
            .item(
                "expires_at",
                n(i128::from(claim.expires_at.unix_timestamp())),
            )
            .item("claimed_by", s(claim.claimed_by))
            .item("provider", s(claim.provider))
            .item("type", s(claim.event_type))
            .item("first_seen", s(format_time(claim.now)))
            .condition_expression(
                "attribute_not_exists(pk) OR (#status = :in_progress AND in_progress_until < :now)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .expression_attribute_values(":now", n(millis(claim.now)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (name, value) in claim.recorded {
            request = request.item(
                *name,
                match value {
                    Recorded::Number(v) => n(i128::from(*v)),
                    Recorded::Text(v) => s(v.as_str()),
                },
            );
        }
        match request.send().await {
            Ok(_) => Ok(ClaimOutcome::Claimed),
            Err(SdkError::ServiceError(err)) => match err.err() {
                PutItemError::ConditionalCheckFailedException(failed) => match failed.item() {
                    Some(item) => Ok(outcome_of(item, claim.claimed_by)),
                    // An emulator or older API without the returned item: look it up.
                    None => self.read_outcome(claim.key, claim.claimed_by).await,
                },
                _ => Err(StoreError(error_chain(&SdkError::ServiceError(err)))),
            },
            Err(e) => Err(StoreError(error_chain(&e))),
        }
    }

    async fn complete(&self, key: &str, envelope: Option<&str>) -> Result<(), StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":completed", s(COMPLETED));
        request = match envelope.filter(|e| e.len() <= MAX_STORED_ENVELOPE_BYTES) {
            Some(envelope) => request
                .update_expression(
                    "SET #status = :completed, envelope = :envelope REMOVE in_progress_until",
                )
                .expression_attribute_values(":envelope", s(envelope)),
            None => request.update_expression("SET #status = :completed REMOVE in_progress_until"),
        };
        request
            .send()
            .await
            .map(drop)
            .map_err(|e| StoreError(error_chain(&e)))
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(key))
            // Never delete a record another invocation completed meanwhile.
            .condition_expression("#status = :in_progress")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(err))
                if err.err().is_conditional_check_failed_exception() =>
            {
                Ok(())
            }
            Err(e) => Err(StoreError(error_chain(&e))),
        }
    }
}

impl DynamoStore {
    async fn read_outcome(&self, key: &str, claimed_by: &str) -> Result<ClaimOutcome, StoreError> {
        let found = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError(error_chain(&e)))?;
        Ok(found
            .item()
            .map_or(ClaimOutcome::InProgress { until: None }, |item| {
                outcome_of(item, claimed_by)
            }))
    }
}
