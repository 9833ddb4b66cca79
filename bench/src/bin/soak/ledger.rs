//! What SNS accepted, what the table holds, and the books that must
//! balance: every record published at least once or listed as failed,
//! every repeat under a known id.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use livehook::record::StoredRecord;
use livehook_testkit::Moto;
use serde_json::Value;

use crate::senders::{Outcome, delivery_in};

/// One message the topic accepted.
#[derive(Debug, Clone)]
pub struct Published {
    /// The CloudEvent id.
    pub id: String,
    /// The delivery whose nonce it carries.
    pub delivery: Option<usize>,
    /// The envelope's `time`.
    pub time: Option<String>,
}

/// What the topic accepted so far.
#[derive(Debug, Default)]
pub struct Received {
    pub messages: Vec<Published>,
    /// Deliveries seen at least once.
    pub deliveries: BTreeSet<usize>,
}

impl Received {
    /// Adds messages as published (the envelope's JSON).
    pub fn add<'a>(&mut self, messages: impl IntoIterator<Item = &'a str>) {
        for message in messages {
            let published = parse(message);
            if let Some(d) = published.delivery {
                self.deliveries.insert(d);
            }
            self.messages.push(published);
        }
    }
}

/// Everything `topic_arn` accepted: the emulator's own record of what SNS
/// published (a request or entry it refused or failed is not in it).
pub async fn accepted(moto: &'static Moto, topic_arn: &str) -> Result<Received, String> {
    let arn = topic_arn.to_owned();
    let all = tokio::task::spawn_blocking(move || moto.accepted(&arn, 0))
        .await
        .map_err(|e| format!("reading the published record: {e}"))??;
    let mut received = Received::default();
    received.add(all.iter().map(|m| m.message.as_str()));
    Ok(received)
}

/// Follows what the topic accepts, into `into`, until aborted: one cheap
/// request to the emulator every half second for what is new since the
/// last (it never waits inside the emulator or holds its lock).
pub async fn follow(moto: &'static Moto, topic_arn: String, into: Arc<Mutex<Received>>) {
    let mut next = 0;
    loop {
        let arn = topic_arn.clone();
        match tokio::task::spawn_blocking(move || moto.accepted(&arn, next)).await {
            Ok(Ok(new)) => {
                next += new.len();
                into.lock()
                    .expect("ledger lock")
                    .add(new.iter().map(|m| m.message.as_str()));
            }
            Ok(Err(e)) => eprintln!("soak: reading the published record: {e}"),
            Err(e) => eprintln!("soak: reading the published record: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A message as published: the CloudEvents envelope.
fn parse(message: &str) -> Published {
    let envelope: Value = serde_json::from_str(message).unwrap_or(Value::Null);
    Published {
        id: envelope["id"].as_str().unwrap_or_default().to_owned(),
        delivery: delivery_in(message),
        time: envelope["time"].as_str().map(str::to_owned),
    }
}

/// One record of the table: its delivery and the ids it publishes.
#[derive(Debug)]
pub struct Stored {
    pub delivery: Option<usize>,
    pub ids: Vec<String>,
    /// When it was received (RFC 3339), as recorded.
    pub first_seen: Option<String>,
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
                    first_seen: record.first_seen,
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
    let record_of: HashMap<usize, &Stored> = stored
        .iter()
        .filter_map(|r| r.delivery.map(|d| (d, r)))
        .collect();
    // What is known of a message's delivery: enough to tell why.
    let about = |m: &Published| match m.delivery {
        Some(d) if d < outcomes.len() => format!(
            "delivery {d} ({}, answered {:?}); this event received at {}, its record {:?} at {}",
            outcomes[d].provider,
            outcomes[d].statuses,
            m.time.as_deref().unwrap_or("?"),
            record_of.get(&d).map(|r| &r.ids),
            record_of
                .get(&d)
                .and_then(|r| r.first_seen.as_deref())
                .unwrap_or("?"),
        ),
        other => format!("delivery {other:?}"),
    };
    let mut published: HashMap<&str, usize> = HashMap::new();
    for m in &received.messages {
        *published.entry(&m.id).or_default() += 1;
        match known.get(m.id.as_str()) {
            None => books.unexplained.push(format!(
                "message {} under an id no record holds: {}",
                m.id,
                about(m)
            )),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::senders::nonce;

    fn outcome(statuses: &[u16]) -> Outcome {
        Outcome {
            provider: "srs",
            statuses: statuses.to_vec(),
        }
    }

    /// The envelope the relay publishes for delivery `n` under `id`.
    fn message(id: &str, n: usize) -> String {
        serde_json::json!({"id": id, "data": {"stream": nonce(n)}}).to_string()
    }

    fn stored(n: usize, id: &str) -> Stored {
        Stored {
            delivery: Some(n),
            ids: vec![id.to_owned()],
            first_seen: None,
        }
    }

    fn received(messages: &[(&str, usize)]) -> Received {
        let bodies: Vec<String> = messages.iter().map(|(id, n)| message(id, *n)).collect();
        let mut received = Received::default();
        received.add(bodies.iter().map(String::as_str));
        received
    }

    /// Three deliveries: one published twice (a repeat), one listed as
    /// failed, one answered 503 twice and never written.
    #[test]
    fn balanced_books() {
        let outcomes = [outcome(&[200]), outcome(&[503, 200]), outcome(&[503, 503])];
        let stored = [stored(0, "a"), stored(1, "b")];
        let failed: BTreeSet<String> = ["b".to_owned()].into();
        let books = account(
            &outcomes,
            &received(&[("a", 0), ("a", 0)]),
            &stored,
            0,
            Some(&failed),
        );
        assert!(books.lost.is_empty(), "{:?}", books.lost);
        assert!(books.unexplained.is_empty(), "{:?}", books.unexplained);
        assert_eq!(
            (books.accepted, books.not_accepted, books.attempts),
            (2, 1, 5)
        );
        assert_eq!((books.messages, books.published, books.repeats), (2, 1, 1));
        assert_eq!(books.failed_listed, Some(1));
    }

    /// A record neither published nor listed, and a delivery answered 200
    /// with no record, are lost.
    #[test]
    fn loss_is_caught() {
        let outcomes = [outcome(&[200]), outcome(&[200])];
        let books = account(&outcomes, &received(&[]), &[stored(0, "a")], 0, None);
        assert_eq!(books.lost.len(), 2, "{:?}", books.lost);
        assert!(books.lost[0].contains("delivery 1"), "{:?}", books.lost);
        assert!(books.lost[1].starts_with("a "), "{:?}", books.lost);
    }

    /// A message under an id no record holds, one carrying another
    /// delivery's nonce, and a delivery written twice are unexplained.
    #[test]
    fn the_unexplained_is_caught() {
        let outcomes = [outcome(&[200]), outcome(&[200])];
        let stored = [stored(0, "a"), stored(1, "b"), stored(1, "c")];
        let books = account(
            &outcomes,
            &received(&[("a", 0), ("b", 0), ("c", 1), ("x", 1)]),
            &stored,
            0,
            None,
        );
        assert!(books.lost.is_empty(), "{:?}", books.lost);
        assert_eq!(books.unexplained.len(), 3, "{:?}", books.unexplained);
        assert!(
            books
                .unexplained
                .iter()
                .any(|u| u.contains("message b carries"))
        );
        assert!(
            books
                .unexplained
                .iter()
                .any(|u| u.contains("message x under"))
        );
        assert!(books.unexplained.iter().any(|u| u.contains("written as 2")));
    }
}
