//! The outbox table in DynamoDB: one conditional `PutItem` per delivery,
//! new or duplicate.
//!
//! The write is the commit. It succeeds: the event is new and durable (the
//! table's stream hands it to the relay). Its condition fails: a duplicate,
//! and the old item comes back in the same call. It errors or times out:
//! whether or not it applied, the provider's retry is answered correctly,
//! since the retry's write either succeeds or meets the first one's item.

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use crate::error::error_chain;
use crate::record::Record;

/// What the write found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// The record is new: the event will be published.
    New,
    /// A record with the key exists: a duplicate of the event it holds.
    Duplicate {
        /// That event's id (the first of its ids), when the store returned
        /// the item.
        first_id: Option<String>,
    },
}

/// A store call failed (network, throttling, timeout, missing table).
#[derive(Debug, thiserror::Error)]
#[error("idempotency store: {0}")]
pub struct StoreError(pub String);

/// Where outbox records live.
pub trait IdempotencyStore: Send + Sync {
    /// Writes `record` unless its key exists (and, for a windowed key, was
    /// first seen within the window): one call.
    fn put_new(&self, record: Record) -> impl Future<Output = Result<Written, StoreError>> + Send;
}

/// [`IdempotencyStore`] on a DynamoDB table (partition key `pk`, string; TTL
/// attribute `expires_at`; stream `NEW_IMAGE`).
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

/// The id of the event a returned item holds.
pub fn first_id(item: &HashMap<String, AttributeValue>) -> Option<String> {
    let text = |v: &AttributeValue| v.as_s().ok().cloned();
    match item.get("ids") {
        Some(AttributeValue::L(ids)) => ids.first().and_then(text),
        _ => item.get("pk").and_then(text),
    }
}

impl IdempotencyStore for DynamoStore {
    async fn put_new(&self, record: Record) -> Result<Written, StoreError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(record.item))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        request = match record.replace_before_ms {
            None => request.condition_expression("attribute_not_exists(pk)"),
            Some(before) => request
                .condition_expression("attribute_not_exists(pk) OR first_seen_ms < :window_start")
                .expression_attribute_values(
                    ":window_start",
                    AttributeValue::N(before.to_string()),
                ),
        };
        match request.send().await {
            Ok(_) => Ok(Written::New),
            Err(SdkError::ServiceError(err)) => match err.err() {
                PutItemError::ConditionalCheckFailedException(failed) => Ok(Written::Duplicate {
                    first_id: failed.item().and_then(first_id),
                }),
                _ => Err(StoreError(error_chain(&SdkError::ServiceError(err)))),
            },
            Err(e) => Err(StoreError(error_chain(&e))),
        }
    }
}
