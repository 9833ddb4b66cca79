//! The DynamoDB stream event Lambda hands the relay, reduced to what the
//! relay reads.
//!
//! `aws_lambda_events`' `Event` with `serde_dynamo` images builds a map of
//! every attribute of every image (and `Keys`, `OldImage`, the creation
//! time…); that was the largest part of the relay's own CPU. Here a record
//! keeps its name, sequence number and the outbox attributes of its
//! `NewImage`; everything else, known or not, is skipped without being
//! kept, and an attribute of a type the relay never reads (`M`, `SS`,
//! `NULL`, or one AWS adds later) is [`Attr::Other`], never an error.

use base64::Engine;
use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

/// One invocation's batch (`Records`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamBatch {
    /// The stream records, in shard order.
    #[serde(rename = "Records", default)]
    pub records: Vec<StreamRecord>,
}

/// One stream record.
#[derive(Debug, Clone, Deserialize)]
pub struct StreamRecord {
    /// The record's id (names the record when it has no sequence number).
    #[serde(rename = "eventID")]
    pub event_id: String,
    /// `INSERT`, `MODIFY` or `REMOVE`.
    #[serde(rename = "eventName")]
    pub event_name: String,
    /// The change.
    #[serde(rename = "dynamodb")]
    pub change: StreamChange,
}

/// The `dynamodb` member of a stream record.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamChange {
    /// Its position in the shard, as `batchItemFailures` names it.
    #[serde(rename = "SequenceNumber", default)]
    pub sequence_number: Option<String>,
    /// The item after the change (`NEW_IMAGE`), the outbox attributes only.
    #[serde(rename = "NewImage", default)]
    pub new_image: OutboxImage,
}

/// The attributes of an item that the relay reads (see [`crate::record`]
/// for what each holds); the others are skipped.
#[derive(Debug, Clone, Default, Deserialize)]
#[allow(missing_docs)]
pub struct OutboxImage {
    pub pk: Option<Attr>,
    pub provider: Option<Attr>,
    #[serde(rename = "type")]
    pub event_type: Option<Attr>,
    pub subject: Option<Attr>,
    pub stream: Option<Attr>,
    pub livehook_check: Option<Attr>,
    pub first_seen: Option<Attr>,
    pub first_seen_ms: Option<Attr>,
    pub envelope: Option<Attr>,
    pub envelopes: Option<Attr>,
    pub envelopes_gz: Option<Attr>,
    pub ids: Option<Attr>,
    pub key_item: Option<Attr>,
    pub key_hash: Option<Attr>,
    /// A stream key's hash: present on key items only.
    pub key_sha256: Option<Attr>,
}

impl OutboxImage {
    /// The attribute `name`, when it is one the relay reads and present.
    pub fn get(&self, name: &str) -> Option<&Attr> {
        match name {
            "pk" => self.pk.as_ref(),
            "provider" => self.provider.as_ref(),
            "type" => self.event_type.as_ref(),
            "subject" => self.subject.as_ref(),
            "stream" => self.stream.as_ref(),
            "livehook_check" => self.livehook_check.as_ref(),
            "first_seen" => self.first_seen.as_ref(),
            "first_seen_ms" => self.first_seen_ms.as_ref(),
            "envelope" => self.envelope.as_ref(),
            "envelopes" => self.envelopes.as_ref(),
            "envelopes_gz" => self.envelopes_gz.as_ref(),
            "ids" => self.ids.as_ref(),
            "key_item" => self.key_item.as_ref(),
            "key_hash" => self.key_hash.as_ref(),
            "key_sha256" => self.key_sha256.as_ref(),
            _ => None,
        }
    }
}

/// A DynamoDB attribute value (`{"S": "…"}`, …) of the types the relay reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attr {
    /// `S`.
    S(String),
    /// `N`, as its text.
    N(String),
    /// `B`, decoded.
    B(Vec<u8>),
    /// `BOOL`.
    Bool(bool),
    /// `L`.
    L(Vec<Attr>),
    /// Any other type (`M`, sets, `NULL`, …) or a `B` that is not base64:
    /// nothing the relay reads.
    Other,
}

/// The type tag of an attribute value.
#[derive(Deserialize)]
enum Tag {
    S,
    N,
    B,
    #[serde(rename = "BOOL")]
    Bool,
    L,
    #[serde(other)]
    Other,
}

impl<'de> Deserialize<'de> for Attr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(AttrVisitor)
    }
}

struct AttrVisitor;

impl<'de> Visitor<'de> for AttrVisitor {
    type Value = Attr;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a DynamoDB attribute value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attr, A::Error> {
        let mut value = Attr::Other;
        while let Some(tag) = map.next_key::<Tag>()? {
            value = match tag {
                Tag::S => Attr::S(map.next_value()?),
                Tag::N => Attr::N(map.next_value()?),
                Tag::B => {
                    let text: String = map.next_value()?;
                    base64::engine::general_purpose::STANDARD
                        .decode(text)
                        .map_or(Attr::Other, Attr::B)
                }
                Tag::Bool => Attr::Bool(map.next_value()?),
                Tag::L => Attr::L(map.next_value()?),
                Tag::Other => {
                    map.next_value::<IgnoredAny>()?;
                    Attr::Other
                }
            };
        }
        Ok(value)
    }
}

impl StreamRecord {
    /// Whether the mapping's filter ([`crate::relay::mapping_filter`]) lets
    /// it through: an `INSERT` or `MODIFY` of an item that is not a stream
    /// key.
    pub fn admitted(&self) -> bool {
        matches!(self.event_name.as_str(), "INSERT" | "MODIFY")
            && !matches!(self.change.new_image.key_sha256, Some(Attr::S(_)))
    }

    /// The record's position, as `batchItemFailures` names it.
    pub fn position(&self) -> String {
        self.change
            .sequence_number
            .clone()
            .unwrap_or_else(|| self.event_id.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_of_every_type_read_and_unknown_ones_are_harmless() {
        let image: OutboxImage = serde_json::from_value(serde_json::json!({
            "pk": {"S": "k"},
            "first_seen_ms": {"N": "1767225600000"},
            "livehook_check": {"BOOL": true},
            "envelopes_gz": {"B": "aGk="},
            "ids": {"L": [{"S": "a"}, {"N": "1"}, {"M": {"x": {"S": "y"}}}]},
            "stream": {"NULL": true},
            "subject": {"SS": ["a", "b"]},
            "provider": {"XYZ": {"whatever": [1, 2]}},
            "envelope": {"B": "not base64!"},
            "not_read": {"M": {"deep": {"L": [{"S": "x"}]}}},
        }))
        .unwrap();
        assert_eq!(image.pk, Some(Attr::S("k".into())));
        assert_eq!(image.first_seen_ms, Some(Attr::N("1767225600000".into())));
        assert_eq!(image.livehook_check, Some(Attr::Bool(true)));
        assert_eq!(image.envelopes_gz, Some(Attr::B(b"hi".to_vec())));
        assert_eq!(
            image.ids,
            Some(Attr::L(vec![
                Attr::S("a".into()),
                Attr::N("1".into()),
                Attr::Other
            ]))
        );
        for other in [
            &image.stream,
            &image.subject,
            &image.provider,
            &image.envelope,
        ] {
            assert_eq!(other, &Some(Attr::Other));
        }
        assert_eq!(image.get("type"), None);
    }

    #[test]
    fn a_record_without_a_sequence_number_is_named_by_its_id() {
        let batch: StreamBatch = serde_json::from_value(serde_json::json!({"Records": [
            {"eventID": "e1", "eventName": "INSERT", "awsRegion": "us-east-1", "dynamodb": {}},
            {"eventID": "e2", "eventName": "REMOVE", "dynamodb": {"SequenceNumber": "7",
                "Keys": {"pk": {"S": "k"}}, "OldImage": {"pk": {"S": "k"}}, "SizeBytes": 9}},
        ]}))
        .unwrap();
        let named: Vec<(String, bool)> = batch
            .records
            .iter()
            .map(|r| (r.position(), r.admitted()))
            .collect();
        assert_eq!(named, [("e1".into(), true), ("7".into(), false)]);
    }
}
