//! What reached subscribers, what the table holds, and the books that must
//! balance: every record published at least once or listed as failed,
//! every repeat under a known id.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use livehook::record::StoredRecord;
use serde_json::Value;

use crate::senders::{Outcome, delivery_in};

/// One message read from the queue subscribed to the topic.
#[derive(Debug, Clone)]
pub struct Published {
    /// The CloudEvent id.
    pub id: String,
    /// The delivery whose nonce it carries.
    pub delivery: Option<usize>,
}

/// Everything read from the queue so far.
#[derive(Debug, Default)]
pub struct Received {
    pub messages: Vec<Published>,
    /// Deliveries seen at least once.
    pub deliveries: BTreeSet<usize>,
}

/// Drains the queue until aborted, deleting what it read.
pub async fn drain(sqs: aws_sdk_sqs::Client, queue_url: String, into: Arc<Mutex<Received>>) {
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .visibility_timeout(600)
            .send()
            .await;
        let messages = match received {
            Ok(r) => r.messages.unwrap_or_default(),
            Err(e) => {
                eprintln!("soak: ReceiveMessage: {e:?}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            tokio::time::sleep(Duration::from_millis(300)).await;
            continue;
        }
        let mut entries = Vec::new();
        {
            let mut seen = into.lock().expect("ledger lock");
            for (n, m) in messages.iter().enumerate() {
                let published = parse(m.body().unwrap_or_default());
                if let Some(d) = published.delivery {
                    seen.deliveries.insert(d);
                }
                seen.messages.push(published);
                if let Some(handle) = m.receipt_handle() {
                    entries.push(
                        DeleteMessageBatchRequestEntry::builder()
                            .id(n.to_string())
                            .receipt_handle(handle)
                            .build()
                            .expect("a delete entry"),
                    );
                }
            }
        }
        let deleted = sqs
            .delete_message_batch()
            .queue_url(&queue_url)
            .set_entries(Some(entries))
            .send()
            .await;
        if let Err(e) = deleted {
            eprintln!("soak: DeleteMessageBatch: {e:?}");
        }
    }
}

/// An SNS notification as SQS delivers it (not raw).
fn parse(body: &str) -> Published {
    let notification: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let message = notification["Message"].as_str().unwrap_or_default();
    let envelope: Value = serde_json::from_str(message).unwrap_or(Value::Null);
    Published {
        id: envelope["id"].as_str().unwrap_or_default().to_owned(),
        delivery: delivery_in(message),
    }
}

/// One record of the table: its delivery and the ids it publishes.
#[derive(Debug)]
pub struct Stored {
    pub delivery: Option<usize>,
    pub ids: Vec<String>,
}

/// Every outbox record of `table` (other items are counted, not read).
pub async fn records(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<(Vec<Stored>, usize), String> {
    let (mut out, mut others) = (Vec::new(), 0);
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let page = dynamodb
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| format!("Scan {table}: {e:?}"))?;
        for item in page.items() {
            match StoredRecord::from_item(&serde_dynamo::Item::from(item.clone())) {
                Ok(record) => out.push(Stored {
                    delivery: record.messages.iter().find_map(|m| delivery_in(&m.body)),
                    ids: record.messages.iter().map(|m| m.id.clone()).collect(),
                }),
                Err(_) => others += 1,
            }
        }
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok((out, others)),
        }
    }
}

/// The figures of a run.
#[derive(Debug, Default)]
pub struct Books {
    pub deliveries: usize,
    pub attempts: usize,
    pub accepted: usize,
    /// Never answered 200, yet written (a reply lost after the write): the
    /// event is published all the same.
    pub written_unanswered: usize,
    /// Never answered 200 and not written.
    pub not_accepted: usize,
    /// Statuses other than 200 and 503 (none expected).
    pub other_statuses: BTreeMap<u16, usize>,
    pub records: usize,
    pub other_items: usize,
    pub messages: usize,
    pub published: usize,
    pub repeats: usize,
    pub failed_listed: Option<usize>,
    pub lost: Vec<String>,
    pub unexplained: Vec<String>,
}

/// Balances the books.
pub fn account(
    outcomes: &[Outcome],
    received: &Received,
    stored: &[Stored],
    other_items: usize,
    failed: Option<&BTreeSet<String>>,
) -> Books {
    let mut books = Books {
        deliveries: outcomes.len(),
        attempts: outcomes.iter().map(|o| o.statuses.len()).sum(),
        records: stored.len(),
        other_items,
        messages: received.messages.len(),
        failed_listed: failed.map(BTreeSet::len),
        ..Books::default()
    };
    for outcome in outcomes {
        for status in &outcome.statuses {
            if *status != 200 && *status != 503 {
                *books.other_statuses.entry(*status).or_default() += 1;
            }
        }
    }
    // Which delivery each stored id belongs to.
    let mut known: HashMap<&str, Option<usize>> = HashMap::new();
    let mut records_of: BTreeMap<usize, usize> = BTreeMap::new();
    for record in stored {
        for id in &record.ids {
            known.insert(id, record.delivery);
        }
        match record.delivery {
            Some(d) if d < outcomes.len() => *records_of.entry(d).or_default() += 1,
            _ => books.unexplained.push(format!(
                "record {:?} of no delivery the soak made",
                record.ids
            )),
        }
    }
    let mut published: HashMap<&str, usize> = HashMap::new();
    for m in &received.messages {
        *published.entry(&m.id).or_default() += 1;
        match known.get(m.id.as_str()) {
            None => books
                .unexplained
                .push(format!("message {} under an id no record holds", m.id)),
            Some(d) if *d != m.delivery => books.unexplained.push(format!(
                "message {} carries delivery {:?}, its record {:?}",
                m.id, m.delivery, d
            )),
            Some(_) => {}
        }
    }
    books.published = published.len();
    books.repeats = books.messages - books.published;
    for (n, outcome) in outcomes.iter().enumerate() {
        let written = records_of.get(&n).copied().unwrap_or(0);
        match (outcome.accepted(), written) {
            (true, 0) => books.lost.push(format!(
                "delivery {n} ({}) answered 200, never written",
                outcome.provider
            )),
            (false, 0) => books.not_accepted += 1,
            (true, _) => books.accepted += 1,
            (false, _) => books.written_unanswered += 1,
        }
        if written > 1 {
            books.unexplained.push(format!(
                "delivery {n} ({}) written as {written} events",
                outcome.provider
            ));
        }
    }
    for record in stored {
        for id in &record.ids {
            let listed = failed.is_some_and(|f| f.contains(id));
            if !published.contains_key(id.as_str()) && !listed {
                books.lost.push(format!(
                    "{id} (delivery {:?}) neither published nor listed as failed",
                    record.delivery
                ));
            }
        }
    }
    books
}
