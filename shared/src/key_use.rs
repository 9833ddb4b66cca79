//! A stream key's last use (`livehook keys list`'s `last_used`), recorded
//! by the relay.
//!
//! An admission only checks its key (a `ConditionCheck` beside the write of
//! the event's record, [`crate::store::IdempotencyStore::put_admitted`]):
//! writing the use there would make the key's item a write of the
//! synchronous path (DynamoDB's and the emulator's most expensive part of
//! the transaction, and a second stream record per admission).
//! The admitted record carries the key's use instead
//! ([`crate::record::KEY_ITEM`], [`crate::record::KEY_HASH`], its
//! `first_seen`); the relay, after publishing a batch, stamps each key's
//! latest use in it with one `UpdateItem`, seconds after the admission.
//!
//! The stamp never moves backwards (records of one key may reach the relay
//! out of order, and a retried batch stamps again) and lands only on the
//! item that holds the presented key's hash: a key replaced since, deleted,
//! or never created is left as it is; a revoked one is stamped, the use
//! happened. A failed stamp never fails a record: the event was published,
//! and publishing it again to record a timestamp would be worse. It is
//! logged and counted (`key_uses_failed`), and the key's next use records
//! it.

use std::collections::HashMap;
use std::future::Future;
use std::time::Instant;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::error::error_chain;
use crate::record::StoredRecord;
use crate::store::StoreError;
use crate::stream_keys::{UsedKey, attr};

/// One key's latest use in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUse {
    /// The key.
    pub key: UsedKey,
    /// When it was used (RFC 3339, the record's `first_seen`).
    pub at: String,
    /// The same, ms since the epoch.
    pub at_ms: i64,
}

/// What a stamp did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamped {
    /// The key's `last_used` is now this use.
    Recorded,
    /// Left as it was: a later use is recorded, or the item no longer
    /// holds the key (replaced, deleted, never created).
    Unchanged,
}

/// The condition of a stamp: the item holds the key, and no later use is
/// recorded. Uses `:hash` and `:at_ms`.
pub const CONDITION: &str = "key_sha256 = :hash AND \
    (attribute_not_exists(last_used_ms) OR last_used_ms < :at_ms)";

/// Where the relay records keys' uses.
pub trait KeyUses: Send + Sync {
    /// Whether uses are recorded at all (without a table they are not).
    fn records(&self) -> bool {
        true
    }

    /// Records `key_use` on its key's item, unless [`CONDITION`] fails.
    fn stamp(&self, key_use: &KeyUse) -> impl Future<Output = Result<Stamped, StoreError>> + Send;
}

/// No table: uses are not recorded.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoKeyUses;

/// Uses recorded where `Some` says, or not at all.
impl<U: KeyUses> KeyUses for Option<U> {
    fn records(&self) -> bool {
        self.as_ref().is_some_and(U::records)
    }

    async fn stamp(&self, key_use: &KeyUse) -> Result<Stamped, StoreError> {
        match self {
            Some(uses) => uses.stamp(key_use).await,
            None => Ok(Stamped::Unchanged),
        }
    }
}

impl KeyUses for NoKeyUses {
    fn records(&self) -> bool {
        false
    }

    async fn stamp(&self, _: &KeyUse) -> Result<Stamped, StoreError> {
        Ok(Stamped::Unchanged)
    }
}

/// [`KeyUses`] on the events table, where the keys live.
#[derive(Debug, Clone)]
pub struct DynamoKeyUses {
    client: Client,
    table: String,
}

impl DynamoKeyUses {
    /// Key uses recorded in `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoKeyUses {
            client,
            table: table.into(),
        }
    }
}

impl KeyUses for DynamoKeyUses {
    async fn stamp(&self, key_use: &KeyUse) -> Result<Stamped, StoreError> {
        // A plain UpdateItem: it never cancels an admission's transaction
        // (DynamoDB fails the UpdateItem itself when it meets one).
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key_use.key.item_key.clone()))
            .update_expression("SET #last_used = :at, #last_used_ms = :at_ms")
            .condition_expression(CONDITION)
            .expression_attribute_names("#last_used", attr::LAST_USED)
            .expression_attribute_names("#last_used_ms", attr::LAST_USED_MS)
            .expression_attribute_values(":hash", AttributeValue::S(key_use.key.hash.clone()))
            .expression_attribute_values(":at", AttributeValue::S(key_use.at.clone()))
            .expression_attribute_values(":at_ms", AttributeValue::N(key_use.at_ms.to_string()))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Stamped::Recorded),
            Err(SdkError::ServiceError(err))
                if matches!(
                    err.err(),
                    UpdateItemError::ConditionalCheckFailedException(_)
                ) =>
            {
                Ok(Stamped::Unchanged)
            }
            Err(e) => Err(StoreError(error_chain(&e))),
        }
    }
}

/// Each key's latest use among `records` (one per key item and hash), in
/// the order of their first use in the batch.
pub fn latest<'a>(records: impl IntoIterator<Item = &'a StoredRecord>) -> Vec<KeyUse> {
    let mut uses: Vec<KeyUse> = Vec::new();
    let mut index: HashMap<(&str, &str), usize> = HashMap::new();
    for record in records {
        let (Some(used), Some(at), Some(at_ms)) = (
            record.key_use.as_ref(),
            record.first_seen.as_ref(),
            record.first_seen_ms,
        ) else {
            continue;
        };
        let key_use = || KeyUse {
            key: used.clone(),
            at: at.clone(),
            at_ms,
        };
        match index.get(&(used.item_key.as_str(), used.hash.as_str())) {
            Some(&i) if uses[i].at_ms >= at_ms => {}
            Some(&i) => uses[i] = key_use(),
            None => {
                index.insert((&used.item_key, &used.hash), uses.len());
                uses.push(key_use());
            }
        }
    }
    uses
}

/// Stamps each use, one call each, every call bounded by `deadline` (what
/// there is no time left for is a failure, recorded by the key's next use);
/// returns how many failed. Failures are logged without the hash.
pub async fn stamp_all<U: KeyUses>(
    key_uses: &U,
    uses: &[KeyUse],
    deadline: Option<Instant>,
) -> u64 {
    let mut failed = 0;
    for key_use in uses {
        let stamped = match deadline.map(crate::sink::time_left) {
            None => key_uses.stamp(key_use).await,
            Some(None) => Err(StoreError("no time left before the deadline".to_owned())),
            Some(Some(left)) => tokio::time::timeout(left, key_uses.stamp(key_use))
                .await
                .unwrap_or_else(|_| Err(StoreError(format!("no answer within {left:?}")))),
        };
        if let Err(e) = stamped {
            failed += 1;
            tracing::warn!(
                key = key_use.key.item_key,
                used_at = key_use.at,
                error = %e,
                "the key's last use was not recorded; its next use records it"
            );
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(item_key: &str, hash: &str, at_ms: i64) -> StoredRecord {
        StoredRecord {
            key: format!("r{at_ms}"),
            provider: "srs".into(),
            event_type: "stream.started".into(),
            subject: "s".into(),
            stream: None,
            check: false,
            first_seen: Some(format!("t{at_ms}")),
            first_seen_ms: Some(at_ms),
            messages: Vec::new(),
            key_use: Some(UsedKey {
                item_key: item_key.into(),
                hash: hash.into(),
            }),
        }
    }

    #[test]
    fn the_latest_use_of_each_key_and_hash_is_kept_once() {
        let mut plain = record("k", "h", 1);
        plain.key_use = None;
        let records = [
            record("k", "h", 5),
            plain,
            record("k", "h", 9),
            record("k", "h", 7),
            record("k", "other", 3),
            record("p", "h", 2),
        ];
        let uses = latest(&records);
        let seen: Vec<(&str, &str, i64, &str)> = uses
            .iter()
            .map(|u| {
                let key = &u.key;
                (
                    key.item_key.as_str(),
                    key.hash.as_str(),
                    u.at_ms,
                    u.at.as_str(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("k", "h", 9, "t9"),
                ("k", "other", 3, "t3"),
                ("p", "h", 2, "t2")
            ]
        );
    }
}
