//! In-memory stand-ins behind [`IdempotencyStore`] and [`EventSink`], for
//! millisecond unit tests of every branch of the flow. They follow the
//! contract of the real ones (the emulator tests in `tests/` hold those to
//! AWS's behaviour); they never replace those tests.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use time::OffsetDateTime;

use crate::sink::{EventSink, Message, SinkError};
use crate::store::{Claim, ClaimOutcome, IdempotencyStore, StoreError};

/// One record of the [`MemoryStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub completed: bool,
    pub claimed_by: String,
    pub in_progress_until: OffsetDateTime,
    pub envelope: Option<String>,
}

/// A store in a map, with the claim rules of the DynamoDB one.
#[derive(Debug, Default)]
pub struct MemoryStore {
    pub records: Mutex<HashMap<String, Record>>,
    pub calls: Mutex<Vec<&'static str>>,
    /// How many of the next `complete` calls fail.
    pub failing_completes: AtomicUsize,
}

impl MemoryStore {
    pub fn record(&self, key: &str) -> Option<Record> {
        self.records.lock().unwrap().get(key).cloned()
    }

    pub fn take_calls(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    fn called(&self, name: &'static str) {
        self.calls.lock().unwrap().push(name);
    }
}

impl IdempotencyStore for MemoryStore {
    async fn claim(&self, claim: &Claim<'_>) -> Result<ClaimOutcome, StoreError> {
        self.called("claim");
        let mut records = self.records.lock().unwrap();
        if let Some(existing) = records.get(claim.key) {
            if existing.completed {
                return Ok(ClaimOutcome::AlreadyCompleted);
            }
            let ours = existing.claimed_by == claim.claimed_by;
            if !ours && existing.in_progress_until >= claim.now {
                return Ok(ClaimOutcome::InProgress {
                    until: Some(existing.in_progress_until),
                });
            }
        }
        records.insert(
            claim.key.to_owned(),
            Record {
                completed: false,
                claimed_by: claim.claimed_by.to_owned(),
                in_progress_until: claim.in_progress_until,
                envelope: None,
            },
        );
        Ok(ClaimOutcome::Claimed)
    }

    async fn complete(&self, key: &str, envelope: Option<&str>) -> Result<(), StoreError> {
        self.called("complete");
        let failing = self.failing_completes.load(Ordering::SeqCst);
        if failing > 0 {
            self.failing_completes.store(failing - 1, Ordering::SeqCst);
            return Err(StoreError("complete failed".into()));
        }
        if let Some(record) = self.records.lock().unwrap().get_mut(key) {
            record.completed = true;
            record.envelope = envelope.map(str::to_owned);
        }
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        self.called("release");
        let mut records = self.records.lock().unwrap();
        if records.get(key).is_some_and(|r| !r.completed) {
            records.remove(key);
        }
        Ok(())
    }
}

/// A sink that records what it publishes; it can be told to fail after
/// publishing some messages (a partly failed batch).
#[derive(Debug)]
pub struct RecordingSink {
    pub published: Mutex<Vec<String>>,
    /// Messages published before every further one fails.
    pub fail_after: AtomicUsize,
}

impl Default for RecordingSink {
    fn default() -> Self {
        RecordingSink {
            published: Mutex::default(),
            fail_after: AtomicUsize::new(usize::MAX),
        }
    }
}

impl RecordingSink {
    pub fn published(&self) -> Vec<String> {
        self.published.lock().unwrap().clone()
    }
}

impl EventSink for RecordingSink {
    async fn publish(&self, messages: &[Message<'_>]) -> Result<(), SinkError> {
        let mut published = self.published.lock().unwrap();
        for m in messages {
            if published.len() >= self.fail_after.load(Ordering::SeqCst) {
                return Err(SinkError("publish failed".into()));
            }
            published.push(m.body.to_owned());
        }
        Ok(())
    }
}
