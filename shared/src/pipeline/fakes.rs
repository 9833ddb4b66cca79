//! In-memory stand-ins behind [`IdempotencyStore`] and [`EventSink`], for
//! millisecond unit tests of every branch of the flow and the relay. They
//! follow the contract of the real ones (the emulator tests in `tests/` hold
//! those to AWS's behaviour); they never replace those tests.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_dynamodb::types::AttributeValue;

use crate::record::Record;
use crate::sink::{EventSink, Message, Sent};
use crate::store::{Admitted, IdempotencyStore, StoreError, Written, first_id};
use crate::stream_keys::{self, KeyCheck, Reason};

/// A table in a map, with the conditional write of the DynamoDB one.
#[derive(Debug, Default)]
pub struct MemoryStore {
    pub items: Mutex<HashMap<String, HashMap<String, AttributeValue>>>,
    /// Every item written, in order (the table's stream).
    pub stream: Mutex<Vec<HashMap<String, AttributeValue>>>,
    pub calls: AtomicUsize,
    /// How many of the next writes fail.
    pub failing: AtomicUsize,
    /// How many of the next writes apply but then fail (a lost reply).
    pub applied_then_failing: AtomicUsize,
}

impl MemoryStore {
    pub fn item(&self, key: &str) -> Option<HashMap<String, AttributeValue>> {
        self.items.lock().unwrap().get(key).cloned()
    }

    pub fn take_calls(&self) -> usize {
        self.calls.swap(0, Ordering::SeqCst)
    }
}

fn take_one(counter: &AtomicUsize) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

impl MemoryStore {
    fn write(&self, record: Record) -> Result<Written, StoreError> {
        if take_one(&self.failing) {
            return Err(StoreError("injected failure".into()));
        }
        let mut items = self.items.lock().unwrap();
        if let Some(existing) = items.get(&record.key) {
            let first_seen = existing
                .get("first_seen_ms")
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<i128>().ok())
                .unwrap_or(i128::MAX);
            let lapsed = record.replace_before_ms.is_some_and(|b| first_seen < b);
            if !lapsed {
                return Ok(Written::Duplicate {
                    first_id: first_id(existing),
                });
            }
        }
        items.insert(record.key.clone(), record.item.clone());
        self.stream.lock().unwrap().push(record.item);
        if take_one(&self.applied_then_failing) {
            return Err(StoreError("injected lost reply".into()));
        }
        Ok(Written::New)
    }
}

impl IdempotencyStore for MemoryStore {
    async fn put_new(&self, record: Record) -> Result<Written, StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.write(record)
    }

    /// The key's condition and the record's write, as one call.
    async fn put_admitted(&self, record: Record, check: &KeyCheck) -> Result<Admitted, StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let key = self.item(&check.key.item_key);
        if !key
            .as_ref()
            .is_some_and(|item| stream_keys::admits(item, &check.key.hash, check.now_ms))
        {
            return Ok(Admitted::Refused(Reason::of_item(
                key.as_ref(),
                &check.key.hash,
                check.now_ms,
            )));
        }
        Ok(Admitted::Written(self.write(record)?))
    }
}

/// A sink that records what it published; messages whose body contains
/// `refuse` are refused, and the next `failing` messages fail.
#[derive(Debug, Default)]
pub struct RecordingSink {
    pub published: Mutex<Vec<String>>,
    pub failing: AtomicUsize,
    pub calls: AtomicUsize,
}

impl RecordingSink {
    pub fn published(&self) -> Vec<String> {
        self.published.lock().unwrap().clone()
    }
}

impl EventSink for RecordingSink {
    async fn publish(&self, messages: &[Message<'_>]) -> Vec<Sent> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        messages
            .iter()
            .map(|m| {
                if m.body.contains("refuse") {
                    Sent::Refused("InvalidParameter: refused".into())
                } else if take_one(&self.failing) {
                    Sent::Failed("injected failure".into())
                } else {
                    self.published.lock().unwrap().push(m.body.to_owned());
                    Sent::Published
                }
            })
            .collect()
    }
}

/// A key item: its hash, its last use in ms and as text.
type KeyItem = (String, Option<i64>, Option<String>);

/// Key items in a map, stamped under the condition of the DynamoDB
/// [`crate::key_use::DynamoKeyUses`]; the next `failing` stamps fail.
#[derive(Debug, Default)]
pub struct KeyItems {
    /// `pk` → its item.
    pub items: Mutex<HashMap<String, KeyItem>>,
    pub failing: AtomicUsize,
    pub calls: AtomicUsize,
}

impl KeyItems {
    pub fn with_key(item_key: &str, hash: &str) -> Self {
        let keys = KeyItems::default();
        keys.items
            .lock()
            .unwrap()
            .insert(item_key.to_owned(), (hash.to_owned(), None, None));
        keys
    }

    /// A key's recorded last use (text).
    pub fn last_used(&self, item_key: &str) -> Option<String> {
        self.items
            .lock()
            .unwrap()
            .get(item_key)
            .and_then(|(_, _, at)| at.clone())
    }
}

impl crate::key_use::KeyUses for KeyItems {
    async fn stamp(
        &self,
        key_use: &crate::key_use::KeyUse,
    ) -> Result<crate::key_use::Stamped, StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if take_one(&self.failing) {
            return Err(StoreError("injected failure".into()));
        }
        let mut items = self.items.lock().unwrap();
        match items.get_mut(&key_use.key.item_key) {
            Some((hash, last_ms, last))
                if *hash == key_use.key.hash && last_ms.is_none_or(|ms| ms < key_use.at_ms) =>
            {
                *last_ms = Some(key_use.at_ms);
                *last = Some(key_use.at.clone());
                Ok(crate::key_use::Stamped::Recorded)
            }
            _ => Ok(crate::key_use::Stamped::Unchanged),
        }
    }
}
