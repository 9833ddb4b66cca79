//! The outbox record: one DynamoDB item per delivery that is at once the
//! idempotency record and everything the relay needs to publish it.
//!
//! A handler writes it once ([`crate::store`]); the table's stream hands its
//! `NEW_IMAGE` to the relay ([`crate::relay`]), which reads it back with
//! [`StoredRecord::from_item`]. Nothing updates a record in place.
//!
//! Attributes:
//!
//! | attribute | what |
//! |---|---|
//! | `pk` | the delivery's idempotency key |
//! | `provider`, `type` | provider name, canonical type (of the first event) |
//! | `subject`, `stream` | FIFO group and `stream` message attribute (`stream` only when there is one) |
//! | `first_seen`, `first_seen_ms` | when it was received (RFC 3339; Unix ms for the dedupe window) |
//! | `expires_at` | TTL (Unix seconds) |
//! | `livehook_check` | `true` on the synthetic deliveries of `livehook check` |
//! | provider facts | `retry_times`, `sequence`, … ([`crate::providers::Recorded`]) |
//! | `envelope` | the one envelope's JSON text, exactly as published |
//! | `envelopes` | a split delivery's envelopes (list of texts) |
//! | `envelopes_gz` | gzip of a JSON array of the envelope texts, when the text would not fit the item |
//! | `ids` | the events' ids, when they are not just `pk` (split parts, windowed keys) |
//! | `key_item`, `key_hash` | an admission's stream key: its item's `pk` and the presented key's SHA-256, for the relay to record the key's use (never published) |

use std::collections::HashMap;
use std::io::{Read, Write};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_dynamo::AttributeValue as Image;
use time::OffsetDateTime;

use crate::event::format_time;
use crate::providers::Recorded;
use crate::sink::Message;
use crate::stream_event::{Attr, OutboxImage};
use crate::stream_keys::UsedKey;

/// DynamoDB's item limit (400 KB, attribute names included).
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// A record whose plain text would exceed this is compressed: what is left of
/// the item limit is ample for every other attribute.
const COMPRESS_ABOVE_BYTES: usize = MAX_ITEM_BYTES - 8 * 1024;

/// Decompressed records larger than this are refused (nothing livehook writes
/// comes near it: a delivery is at most the 1 MiB body limit, a few times
/// over for its parts' envelopes).
const MAX_DECOMPRESSED_BYTES: usize = 64 << 20;

/// A record ready to be written.
#[derive(Debug, Clone)]
pub struct Record {
    /// The delivery's key (`pk`).
    pub key: String,
    /// The whole item, `pk` included.
    pub item: HashMap<String, AttributeValue>,
    /// When the key holds only within a window: records first seen before
    /// this (Unix ms) are replaced.
    pub replace_before_ms: Option<i128>,
    /// The item's size as DynamoDB counts it (approximately, from above).
    pub size: usize,
}

/// What a record is built from.
#[derive(Debug, Clone, Copy)]
pub struct RecordParts<'a> {
    /// The delivery's key.
    pub key: &'a str,
    /// The messages to publish, in order (their bodies are the envelopes).
    pub messages: &'a [Message<'a>],
    /// Provider facts to keep.
    pub recorded: &'a [(&'static str, Recorded)],
    /// When it was received.
    pub now: OffsetDateTime,
    /// When the record may be deleted (TTL).
    pub expires_at: OffsetDateTime,
    /// The dedupe window, if the key holds only within one.
    pub dedupe_window: Option<std::time::Duration>,
    /// The stream key that admitted it: its use, recorded by the relay
    /// (`first_seen` is the time of use).
    pub key_use: Option<&'a UsedKey>,
}

/// The record attribute of the admitting key item's `pk` (not the key
/// item's `key_sha256`: the relay's mapping drops images holding that).
pub const KEY_ITEM: &str = "key_item";

/// The record attribute of the presented key's SHA-256.
pub const KEY_HASH: &str = "key_hash";

/// The record cannot be written: even compressed it exceeds the item limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the record is {size} bytes compressed, over DynamoDB's item limit of {MAX_ITEM_BYTES}")]
pub struct TooLarge {
    /// Its compressed size.
    pub size: usize,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The size DynamoDB counts for a value (numbers from above: their digits).
fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(t) | AttributeValue::N(t) => t.len(),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::L(list) => 3 + list.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        _ => 1,
    }
}

fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

impl Record {
    /// Builds the record of a delivery: plain text when it fits the item,
    /// else gzip-compressed; [`TooLarge`] when not even that fits.
    pub fn build(parts: RecordParts<'_>) -> Result<Record, TooLarge> {
        let mut item = HashMap::with_capacity(12 + parts.recorded.len());
        item.insert("pk".to_owned(), s(parts.key));
        let first = parts.messages.first();
        if let Some(m) = first {
            item.insert("provider".to_owned(), s(m.provider));
            item.insert("type".to_owned(), s(m.event_type));
            item.insert("subject".to_owned(), s(m.subject));
            if let Some(stream) = m.stream.filter(|s| !s.is_empty()) {
                item.insert("stream".to_owned(), s(stream));
            }
            if m.check {
                item.insert("livehook_check".to_owned(), AttributeValue::Bool(true));
            }
        }
        let now_ms = parts.now.unix_timestamp_nanos() / 1_000_000;
        item.insert("first_seen".to_owned(), s(format_time(parts.now)));
        item.insert("first_seen_ms".to_owned(), n(now_ms));
        item.insert(
            "expires_at".to_owned(),
            n(parts.expires_at.unix_timestamp()),
        );
        for (name, value) in parts.recorded {
            let value = match value {
                Recorded::Number(v) => n(v),
                Recorded::Text(v) => s(v.as_str()),
            };
            item.insert((*name).to_owned(), value);
        }
        if let Some(used) = parts.key_use {
            item.insert(KEY_ITEM.to_owned(), s(used.item_key.as_str()));
            item.insert(KEY_HASH.to_owned(), s(used.hash.as_str()));
        }
        let ids_are_key = matches!(parts.messages, [one] if one.id == parts.key);
        if !ids_are_key {
            let ids = parts.messages.iter().map(|m| s(m.id)).collect();
            item.insert("ids".to_owned(), AttributeValue::L(ids));
        }
        let fixed = item_size(&item);
        let text: usize = parts.messages.iter().map(|m| m.body.len() + 1).sum();
        if fixed + "envelopes".len() + 3 + text <= COMPRESS_ABOVE_BYTES {
            match parts.messages {
                [one] => item.insert("envelope".to_owned(), s(one.body)),
                many => item.insert(
                    "envelopes".to_owned(),
                    AttributeValue::L(many.iter().map(|m| s(m.body)).collect()),
                ),
            };
        } else {
            let bodies: Vec<&str> = parts.messages.iter().map(|m| m.body).collect();
            let compressed = gzip(&bodies);
            let size = fixed + "envelopes_gz".len() + compressed.len();
            if size > MAX_ITEM_BYTES {
                return Err(TooLarge { size });
            }
            item.insert(
                "envelopes_gz".to_owned(),
                AttributeValue::B(Blob::new(compressed)),
            );
        }
        Ok(Record {
            key: parts.key.to_owned(),
            size: item_size(&item),
            item,
            replace_before_ms: parts
                .dedupe_window
                .map(|w| now_ms - i128::try_from(w.as_millis()).unwrap_or(i128::MAX)),
        })
    }
}

fn gzip(bodies: &[&str]) -> Vec<u8> {
    let json = serde_json::to_vec(bodies).unwrap_or_default();
    // Fast compression: envelopes are JSON text, which compresses well at
    // any level, and the handler's CPU is billed time.
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(json.len() / 4),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(&json);
    encoder.finish().unwrap_or_default()
}

/// A record that cannot be read back as an outbox record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a livehook record: {0}")]
pub struct NotARecord(pub String);

/// One message of a stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// The event id (FIFO deduplication id).
    pub id: String,
    /// The envelope's JSON text.
    pub body: String,
}

/// A record read back from the table (a stream image or an item) for
/// publishing (relay, `livehook events`); [`Record`] is what is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// The delivery's key.
    pub key: String,
    /// Provider name.
    pub provider: String,
    /// Canonical type.
    pub event_type: String,
    /// Subject (FIFO group).
    pub subject: String,
    /// Stream identity, when the event concerns a stream.
    pub stream: Option<String>,
    /// A `livehook check` delivery.
    pub check: bool,
    /// When it was received (RFC 3339), as recorded.
    pub first_seen: Option<String>,
    /// When it was received (Unix ms), as recorded.
    pub first_seen_ms: Option<i64>,
    /// The messages, in order.
    pub messages: Vec<StoredMessage>,
    /// The stream key that admitted it, if one did.
    pub key_use: Option<UsedKey>,
}

impl StoredRecord {
    /// Reads a record from a `GetItem`/`Scan` item (converted with
    /// `serde_dynamo::Item::from`) or a stream image.
    pub fn from_item(item: &HashMap<String, Image>) -> Result<StoredRecord, NotARecord> {
        Self::read(|name| item.get(name))
    }

    /// Reads a record from the relay's stream image.
    pub fn from_image(image: &OutboxImage) -> Result<StoredRecord, NotARecord> {
        Self::read(|name| image.get(name))
    }

    fn read<'a, V: AttrValue + 'a>(
        get: impl Fn(&str) -> Option<&'a V>,
    ) -> Result<StoredRecord, NotARecord> {
        let text = |name: &str| get(name).and_then(V::s).map(str::to_owned);
        let required = |name: &str| text(name).ok_or_else(|| NotARecord(format!("no {name}")));
        let key = required("pk")?;
        let bodies: Vec<String> = if let Some(one) = get("envelope").and_then(V::s) {
            vec![one.to_owned()]
        } else if let Some(many) = get("envelopes").and_then(V::l) {
            many.iter()
                .map(|v| {
                    v.s()
                        .map(str::to_owned)
                        .ok_or_else(|| NotARecord("an envelope is not a string".to_owned()))
                })
                .collect::<Result<_, _>>()?
        } else if let Some(compressed) = get("envelopes_gz").and_then(V::b) {
            gunzip(compressed)?
        } else {
            return Err(NotARecord(format!("{key} has no envelope")));
        };
        let ids: Vec<String> = match get("ids").and_then(V::l) {
            Some(ids) => ids
                .iter()
                .map(|v| {
                    v.s()
                        .map(str::to_owned)
                        .ok_or_else(|| NotARecord("an id is not a string".to_owned()))
                })
                .collect::<Result<_, _>>()?,
            None => vec![key.clone()],
        };
        if ids.len() != bodies.len() {
            return Err(NotARecord(format!(
                "{key} has {} ids for {} envelopes",
                ids.len(),
                bodies.len()
            )));
        }
        Ok(StoredRecord {
            provider: required("provider")?,
            event_type: required("type")?,
            subject: required("subject")?,
            stream: text("stream"),
            check: get("livehook_check").and_then(V::bool) == Some(true),
            first_seen: text("first_seen"),
            first_seen_ms: get("first_seen_ms")
                .and_then(V::n)
                .and_then(|ms| ms.parse().ok()),
            key_use: text(KEY_ITEM)
                .zip(text(KEY_HASH))
                .map(|(item_key, hash)| UsedKey { item_key, hash }),
            messages: ids
                .into_iter()
                .zip(bodies)
                .map(|(id, body)| StoredMessage { id, body })
                .collect(),
            key,
        })
    }

    /// Its messages, ready for the sink (`replay` marks a re-publication).
    pub fn messages(&self, replay: bool) -> Vec<Message<'_>> {
        self.messages
            .iter()
            .map(|m| Message {
                body: &m.body,
                id: &m.id,
                provider: &self.provider,
                event_type: &self.event_type,
                stream: self.stream.as_deref(),
                subject: &self.subject,
                replay,
                check: self.check,
            })
            .collect()
    }
}

fn gunzip(compressed: &[u8]) -> Result<Vec<String>, NotARecord> {
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(compressed)
        .take(MAX_DECOMPRESSED_BYTES as u64)
        .read_to_end(&mut json)
        .map_err(|e| NotARecord(format!("envelopes_gz is not gzip: {e}")))?;
    serde_json::from_slice(&json)
        .map_err(|e| NotARecord(format!("envelopes_gz is not a list of envelopes: {e}")))
}

/// An attribute value as a record is read from it: `serde_dynamo`'s (items,
/// the pump's images) or the relay's lean stream image.
trait AttrValue: Sized {
    fn s(&self) -> Option<&str>;
    fn n(&self) -> Option<&str>;
    fn b(&self) -> Option<&[u8]>;
    fn bool(&self) -> Option<bool>;
    fn l(&self) -> Option<&[Self]>;
}

impl AttrValue for Image {
    fn s(&self) -> Option<&str> {
        match self {
            Image::S(v) => Some(v),
            _ => None,
        }
    }
    fn n(&self) -> Option<&str> {
        match self {
            Image::N(v) => Some(v),
            _ => None,
        }
    }
    fn b(&self) -> Option<&[u8]> {
        match self {
            Image::B(v) => Some(v),
            _ => None,
        }
    }
    fn bool(&self) -> Option<bool> {
        match self {
            Image::Bool(v) => Some(*v),
            _ => None,
        }
    }
    fn l(&self) -> Option<&[Self]> {
        match self {
            Image::L(v) => Some(v),
            _ => None,
        }
    }
}

impl AttrValue for Attr {
    fn s(&self) -> Option<&str> {
        match self {
            Attr::S(v) => Some(v),
            _ => None,
        }
    }
    fn n(&self) -> Option<&str> {
        match self {
            Attr::N(v) => Some(v),
            _ => None,
        }
    }
    fn b(&self) -> Option<&[u8]> {
        match self {
            Attr::B(v) => Some(v),
            _ => None,
        }
    }
    fn bool(&self) -> Option<bool> {
        match self {
            Attr::Bool(v) => Some(*v),
            _ => None,
        }
    }
    fn l(&self) -> Option<&[Self]> {
        match self {
            Attr::L(v) => Some(v),
            _ => None,
        }
    }
}

/// The record key (`pk`) of a published event id. An event that is not its
/// record's only event has an id of the key, `-` and a suffix: a split lal
/// update's parts (`<key>-1`, `<key>-2`, …), a ZLMediaKit windowed hook
/// (`<key>-<16 hex>`), a replay (`<id>-replay-<time>`). Keys themselves
/// are hex and never hold a `-`.
pub fn record_key(id: &str) -> &str {
    match id.split_once('-') {
        Some((key, _))
            if key.len() == crate::key::KEY_LEN && key.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            key
        }
        // Not a derived key (a record some other writer put): the whole id.
        _ => id,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn message<'a>(id: &'a str, body: &'a str) -> Message<'a> {
        Message {
            body,
            id,
            provider: "lal",
            event_type: "server.stats",
            stream: Some("live/a"),
            subject: "lal/live/a",
            replay: false,
            check: false,
        }
    }

    fn parts<'a>(key: &'a str, messages: &'a [Message<'a>]) -> RecordParts<'a> {
        RecordParts {
            key,
            messages,
            recorded: &[("retry_times", Recorded::Number(2))],
            now: OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap(),
            expires_at: OffsetDateTime::from_unix_timestamp(1_767_229_200).unwrap(),
            dedupe_window: None,
            key_use: None,
        }
    }

    fn round_trip(record: &Record) -> StoredRecord {
        let image: serde_dynamo::Item = record.item.clone().into();
        let stored = StoredRecord::from_item(&image).unwrap();
        // The relay's lean image of the same item, as the stream's JSON carries it, reads the same.
        assert_eq!(StoredRecord::from_image(&lean(&image)).unwrap(), stored);
        stored
    }

    fn lean(image: &serde_dynamo::Item) -> OutboxImage {
        serde_json::from_str(&serde_json::to_string(image).unwrap()).unwrap()
    }

    #[test]
    fn a_single_event_is_stored_as_its_published_text() {
        let messages = [message("k", r#"{"id":"k"}"#)];
        let record = Record::build(parts("k", &messages)).unwrap();
        assert_eq!(record.item["envelope"], s(r#"{"id":"k"}"#));
        assert!(!record.item.contains_key("ids"), "ids are the key");
        assert_eq!(record.item["retry_times"], n(2));
        assert_eq!(record.item["expires_at"], n(1_767_229_200));
        assert_eq!(record.item["first_seen_ms"], n(1_767_225_600_000_i64));
        assert_eq!(record.replace_before_ms, None);
        let outbox = round_trip(&record);
        assert_eq!(outbox.messages(false)[0].body, r#"{"id":"k"}"#);
        assert_eq!(outbox.messages(false)[0].id, "k");
        assert_eq!(outbox.stream.as_deref(), Some("live/a"));
        assert!(!outbox.check);
        assert_eq!(outbox.first_seen_ms, Some(1_767_225_600_000));
    }

    #[test]
    fn an_admitted_record_carries_its_keys_use_never_as_a_key_item() {
        let messages = [message("k", r#"{"id":"k"}"#)];
        let used = UsedKey {
            item_key: "streamkey#publish#live/a".into(),
            hash: "ab".repeat(32),
        };
        let record = Record::build(RecordParts {
            key_use: Some(&used),
            ..parts("k", &messages)
        })
        .unwrap();
        assert_eq!(record.item[KEY_ITEM], s("streamkey#publish#live/a"));
        assert_eq!(record.item[KEY_HASH], s("ab".repeat(32)));
        // What the relay's mapping drops: the key items' own attribute.
        assert!(!record.item.contains_key(crate::stream_keys::attr::HASH));
        let outbox = round_trip(&record);
        assert_eq!(outbox.key_use, Some(used));
        assert_eq!(
            round_trip(&Record::build(parts("k", &messages)).unwrap()).key_use,
            None
        );
    }

    #[test]
    fn split_parts_keep_their_ids_and_order() {
        let messages = [message("k-1", "{1}"), message("k-2", "{2}")];
        let record = Record::build(parts("k", &messages)).unwrap();
        let outbox = round_trip(&record);
        let got: Vec<(&str, &str)> = outbox
            .messages
            .iter()
            .map(|m| (m.id.as_str(), m.body.as_str()))
            .collect();
        assert_eq!(got, [("k-1", "{1}"), ("k-2", "{2}")]);
    }

    #[test]
    fn large_records_are_compressed_and_read_back_whole() {
        // 3 × 200 KB of JSON-ish text: 600 KB plain, far less compressed.
        let bodies: Vec<String> = (0..3)
            .map(|i| format!(r#"{{"part":{i},"pad":"{}"}}"#, "abc".repeat(70_000)))
            .collect();
        let ids = ["k-1", "k-2", "k-3"];
        let messages: Vec<Message<'_>> = ids
            .iter()
            .zip(&bodies)
            .map(|(id, body)| message(id, body))
            .collect();
        let record = Record::build(parts("k", &messages)).unwrap();
        assert!(record.item.contains_key("envelopes_gz"));
        assert!(record.size < MAX_ITEM_BYTES, "{}", record.size);
        let outbox = round_trip(&record);
        assert_eq!(outbox.messages.len(), 3);
        for (stored, body) in outbox.messages.iter().zip(&bodies) {
            assert_eq!(&stored.body, body);
        }
    }

    #[test]
    fn a_record_that_cannot_fit_even_compressed_is_too_large() {
        // Nearly incompressible: 900 000 pseudo-random characters of 64.
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let noise: String = (0..900_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from(ALPHABET[(state & 63) as usize])
            })
            .collect();
        let messages = [message("k", &noise)];
        match Record::build(parts("k", &messages)) {
            Err(TooLarge { size }) => assert!(size > MAX_ITEM_BYTES, "{size}"),
            Ok(record) => panic!("a {} byte record was built", record.size),
        }
    }

    #[test]
    fn a_windowed_key_replaces_records_first_seen_before_the_window() {
        let messages = [message("other-id", "{}")];
        let mut p = parts("k", &messages);
        p.dedupe_window = Some(Duration::from_secs(60));
        let record = Record::build(p).unwrap();
        assert_eq!(record.replace_before_ms, Some(1_767_225_600_000 - 60_000));
        assert_eq!(round_trip(&record).messages[0].id, "other-id");
    }

    #[test]
    fn check_deliveries_are_marked() {
        let mut m = message("k", "{}");
        m.check = true;
        let messages = [m];
        let outbox = round_trip(&Record::build(parts("k", &messages)).unwrap());
        assert!(outbox.check);
        assert!(outbox.messages(false)[0].check);
    }

    #[test]
    fn foreign_items_are_not_records() {
        let mut item = HashMap::new();
        item.insert("pk".to_owned(), Image::S("x".into()));
        assert!(StoredRecord::from_item(&item).is_err());
        assert!(StoredRecord::from_image(&lean(&item.clone().into())).is_err());
        item.insert("envelopes_gz".to_owned(), Image::B(b"not gzip".to_vec()));
        assert!(StoredRecord::from_item(&item).is_err());
        assert!(StoredRecord::from_image(&lean(&item.clone().into())).is_err());
    }

    #[test]
    fn an_id_names_its_record() {
        let key = "0123456789abcdef0123456789abcdef";
        for id in [
            key.to_owned(),
            format!("{key}-2"),
            format!("{key}-89abcdef01234567"),
            format!("{key}-89abcdef01234567-replay-1767225600"),
        ] {
            assert_eq!(record_key(&id), key, "{id}");
        }
        assert_eq!(record_key("no-envelope"), "no-envelope");
    }
}
