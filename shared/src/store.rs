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
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};

use crate::error::error_chain;
use crate::record::Record;
use crate::stream_keys::{self, KeyCheck, Reason};

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

/// What the write of an admission found: the key admitted the client and
/// the record was written (or was there), or the key refused it and
/// nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admitted {
    /// The key admits: the record's write, as [`IdempotencyStore::put_new`].
    Written(Written),
    /// The key refuses; nothing was written.
    Refused(Reason),
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

    /// Writes `record` as [`IdempotencyStore::put_new`] does, only if the
    /// key of `check` admits (its hash, not revoked, not expired): one
    /// call for both, which writes nothing to the key's item.
    fn put_admitted(
        &self,
        record: Record,
        check: &KeyCheck,
    ) -> impl Future<Output = Result<Admitted, StoreError>> + Send;
}

/// The condition of a record's write: its key is new (or, for a windowed
/// key, its record lapsed, `:window_start`).
fn put_condition(replace_before_ms: Option<i128>) -> (&'static str, Option<AttributeValue>) {
    match replace_before_ms {
        None => ("attribute_not_exists(pk)", None),
        Some(before) => (
            "attribute_not_exists(pk) OR first_seen_ms < :window_start",
            Some(AttributeValue::N(before.to_string())),
        ),
    }
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
        let (condition, window_start) = put_condition(record.replace_before_ms);
        request = request.condition_expression(condition);
        if let Some(start) = window_start {
            request = request.expression_attribute_values(":window_start", start);
        }
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

    async fn put_admitted(&self, record: Record, check: &KeyCheck) -> Result<Admitted, StoreError> {
        let built = |e: aws_sdk_dynamodb::error::BuildError| StoreError(e.to_string());
        let hash = AttributeValue::S(check.key.hash.clone());
        let now_ms = AttributeValue::N(check.now_ms.to_string());
        let key = AttributeValue::S(check.key.item_key.clone());
        // Only checked, never written: the record carries the key's use and
        // the relay stamps it, so the key's item costs no write and no stream
        // record per admission. (Concurrent transactions naming one item can
        // still conflict, a ConditionCheck's too: that is the 503 below.)
        // The item comes back when its condition fails: why it refused.
        let condition = ConditionCheck::builder()
            .table_name(&self.table)
            .key("pk", key)
            .condition_expression(stream_keys::CONDITION)
            .expression_attribute_values(":hash", hash)
            .expression_attribute_values(":now_ms", now_ms)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(built)?;
        let key_op = TransactWriteItem::builder()
            .condition_check(condition)
            .build();
        let (condition, window_start) = put_condition(record.replace_before_ms);
        let mut put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(record.item))
            .condition_expression(condition)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(start) = window_start {
            put = put.expression_attribute_values(":window_start", start);
        }
        let put = TransactWriteItem::builder()
            .put(put.build().map_err(built)?)
            .build();
        let sent = self
            .client
            .transact_write_items()
            .transact_items(key_op)
            .transact_items(put)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Admitted::Written(Written::New)),
            Err(SdkError::ServiceError(err)) => match err.err() {
                TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                    let reasons = cancelled.cancellation_reasons();
                    let failed = |i: usize| {
                        reasons.get(i).and_then(|r| r.code()) == Some("ConditionalCheckFailed")
                    };
                    let settled = |i: usize| {
                        matches!(reasons.get(i).and_then(|r| r.code()), None | Some("None"))
                    };
                    if failed(0) {
                        let item = reasons.first().and_then(|r| r.item());
                        return Ok(Admitted::Refused(Reason::of_item(
                            item,
                            &check.key.hash,
                            check.now_ms,
                        )));
                    }
                    if settled(0) && failed(1) {
                        let item = reasons.get(1).and_then(|r| r.item());
                        return Ok(Admitted::Written(Written::Duplicate {
                            first_id: item.and_then(first_id),
                        }));
                    }
                    // A conflict with another transaction, throttling, …: 503,
                    // and the provider's retry is answered correctly.
                    Err(StoreError(error_chain(&SdkError::ServiceError(err))))
                }
                _ => Err(StoreError(error_chain(&SdkError::ServiceError(err)))),
            },
            Err(e) => Err(StoreError(error_chain(&e))),
        }
    }
}
