//! Stream keys: admission that can say no.
//!
//! SRS, nginx-rtmp, ZLMediaKit and MediaMTX ask their hook whether a client
//! may publish or play. With `LIVEHOOK_STREAM_KEYS` set, livehook answers
//! per stream: the client must present the stream's key as the `key` query
//! parameter of its stream URL (`rtmp://host/live/cam1?key=K`).
//!
//! Where keys live: in the events table itself, one item per stream and
//! action under the `streamkey#` prefix (`streamkey#publish#live/cam1`).
//! The check of the key and the write of the event's record are then one
//! `TransactWriteItems` on one table (one AWS call, as every delivery), the
//! functions need no other table, and the CLI finds keys where it finds
//! events (`--table`). The relay skips key items (their stream records are
//! never events), and so do the CLI's event listings. Only the key's
//! SHA-256 is stored: a key is 240 random bits, so a fast hash is as good
//! as a slow one, and whoever reads the table cannot present it.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::event::format_time;

/// The `pk` prefix of every key item.
pub const ITEM_PREFIX: &str = "streamkey#";

/// The query parameter of a client's stream URL that carries the key.
pub const KEY_PARAMETER: &str = "key";

/// The environment variable of the setting.
pub const SETTING: &str = "LIVEHOOK_STREAM_KEYS";

/// The template parameter the setting comes from.
pub const SETTING_PARAMETER: &str = "StreamKeys";

/// The setting as the admission providers' deployment passes it.
pub const DEPLOYMENT_SETTING: (&str, &str) = (SETTING, SETTING_PARAMETER);

/// What a client asks its media server for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Push a stream.
    Publish,
    /// Watch a stream.
    Play,
}

impl Action {
    /// `publish` or `play`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Publish => "publish",
            Action::Play => "play",
        }
    }
}

/// Which actions require a key (`LIVEHOOK_STREAM_KEYS`: `off`, the default;
/// `publish`; `publish,play`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Required {
    /// Publishers must present the stream's publish key.
    pub publish: bool,
    /// Players must present the stream's play key.
    pub play: bool,
}

impl Required {
    /// No key is required (today's behaviour).
    pub const OFF: Required = Required {
        publish: false,
        play: false,
    };

    /// The setting's value; `Err` says what is accepted.
    pub fn parse(value: &str) -> Result<Required, String> {
        let value = value.trim();
        if value.is_empty() || value.eq_ignore_ascii_case("off") {
            return Ok(Required::OFF);
        }
        let mut required = Required::OFF;
        for part in value.split(',').map(str::trim) {
            match part {
                "publish" => required.publish = true,
                "play" => required.play = true,
                _ => return Err(format!("`{value}` is not off, publish or publish,play")),
            }
        }
        if required.play && !required.publish {
            // Keys for players but none for publishers protects nothing.
            return Err(format!(
                "`{value}`: play keys need publish keys too (publish,play)"
            ));
        }
        Ok(required)
    }

    /// Whether an action needs a key.
    pub fn requires(self, action: Action) -> bool {
        match action {
            Action::Publish => self.publish,
            Action::Play => self.play,
        }
    }

    /// Whether any action needs a key.
    pub fn is_on(self) -> bool {
        self.publish || self.play
    }
}

/// The `pk` of a stream's key for an action.
pub fn item_key(action: Action, stream: &str) -> String {
    format!("{ITEM_PREFIX}{}#{stream}", action.as_str())
}

/// Whether an item (by its `pk`) is a stream key, not an event's record.
pub fn is_key_item(pk: &str) -> bool {
    pk.starts_with(ITEM_PREFIX)
}

/// Whether a table item is a stream key.
pub fn is_key(item: &HashMap<String, AttributeValue>) -> bool {
    item.get("pk")
        .and_then(|v| v.as_s().ok())
        .is_some_and(|pk| is_key_item(pk))
}

/// What is stored of a key: its SHA-256, lowercase hex.
pub fn hash(key: &str) -> String {
    crate::key::to_hex(&Sha256::digest(key.as_bytes()))
}

/// The characters of a key livehook makes: RFC 3986 unreserved, 64 of
/// them, so it goes into a URL unchanged.
pub const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// How many characters a key has (240 bits).
pub const KEY_LEN: usize = 40;

/// A key from 40 random bytes (the CLI takes them from the OS).
pub fn key_from_random(bytes: &[u8; KEY_LEN]) -> String {
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b & 63)]))
        .collect()
}

/// The item of a new key: its hash, never the key. `expires` after `now`,
/// if given.
pub fn new_item(
    stream: &str,
    action: Action,
    key: &str,
    now: OffsetDateTime,
    expires: Option<time::Duration>,
) -> HashMap<String, AttributeValue> {
    let s = AttributeValue::S;
    let mut item = HashMap::from([
        ("pk".to_owned(), s(item_key(action, stream))),
        (attr::STREAM.to_owned(), s(stream.to_owned())),
        (attr::ACTION.to_owned(), s(action.as_str().to_owned())),
        (attr::HASH.to_owned(), s(hash(key))),
        (attr::CREATED.to_owned(), s(format_time(now))),
    ]);
    if let Some(after) = expires {
        let at = now + after;
        item.insert(attr::EXPIRES.to_owned(), s(format_time(at)));
        let ms = at.unix_timestamp_nanos() / 1_000_000;
        item.insert(
            attr::EXPIRES_MS.to_owned(),
            AttributeValue::N(ms.to_string()),
        );
    }
    item
}

/// What a client presented in its stream URL's query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    /// No `key` parameter.
    Nothing,
    /// One `key`.
    Key(String),
    /// More than one `key`: ambiguous, refused as a wrong key.
    Several,
}

impl Presented {
    /// The `key` values of a query string (with or without its leading
    /// `?`, as SRS's `param` has it).
    pub fn in_query(query: &str) -> Presented {
        let query = query.trim_start_matches('?');
        Presented::of(
            form_urlencoded::parse(query.as_bytes())
                .filter(|(name, _)| name == KEY_PARAMETER)
                .map(|(_, value)| value.into_owned()),
        )
    }

    /// The presented values, in order.
    pub fn of(values: impl IntoIterator<Item = String>) -> Presented {
        let mut values = values.into_iter();
        match (values.next(), values.next()) {
            (None, _) => Presented::Nothing,
            (Some(key), None) if !key.is_empty() => Presented::Key(key),
            (Some(_), None) => Presented::Nothing,
            (Some(_), Some(_)) => Presented::Several,
        }
    }

    /// The key, when exactly one was presented.
    pub fn key(&self) -> Option<&str> {
        match self {
            Presented::Key(key) => Some(key),
            _ => None,
        }
    }
}

/// An admission question a delivery asks: set by the adapters of providers
/// whose reply admits a client (see [`crate::providers::Receiving::admission`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// Publish or play.
    pub action: Action,
    /// The stream, as keys name it (`<app>/<stream>`, MediaMTX's path).
    pub stream: String,
    /// The key the client presented.
    pub presented: Presented,
}

/// Why a client was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The URL has no `key`.
    Missing,
    /// The stream has no key for this action.
    NoKey,
    /// Not the stream's key (or several keys).
    Wrong,
    /// The stream's key has expired.
    Expired,
    /// The stream's key was revoked.
    Revoked,
}

impl Reason {
    /// The reason as published (`data.reason`) and logged.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Missing => "missing_key",
            Reason::NoKey => "no_key_for_stream",
            Reason::Wrong => "wrong_key",
            Reason::Expired => "expired_key",
            Reason::Revoked => "revoked_key",
        }
    }

    /// Why the key item the failed condition returned refuses `hash` at
    /// `now_ms` (no item: the stream has no key).
    pub fn of_item(
        item: Option<&HashMap<String, AttributeValue>>,
        hash: &str,
        now_ms: i64,
    ) -> Reason {
        let Some(item) = item else {
            return Reason::NoKey;
        };
        let stored = item.get(attr::HASH).and_then(|v| v.as_s().ok());
        if stored.map(String::as_str) != Some(hash) {
            return Reason::Wrong;
        }
        if item.contains_key(attr::REVOKED) {
            return Reason::Revoked;
        }
        let expires = item
            .get(attr::EXPIRES_MS)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<i64>().ok());
        if expires.is_some_and(|at| at <= now_ms) {
            return Reason::Expired;
        }
        // The condition failed though the item passes now: a concurrent
        // change (created, revoked) between the two; refused as wrong.
        Reason::Wrong
    }
}

/// Whether a key item admits `hash` at `now_ms`: what [`CONDITION`] asks
/// of it (for stores that evaluate it themselves).
pub fn admits(item: &HashMap<String, AttributeValue>, hash: &str, now_ms: i64) -> bool {
    let expires = item
        .get(attr::EXPIRES_MS)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<i64>().ok());
    item.get(attr::HASH)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        == Some(hash)
        && !item.contains_key(attr::REVOKED)
        && expires.is_none_or(|at| at > now_ms)
}

/// The attribute names of a key item.
pub mod attr {
    /// The stream (`<app>/<stream>`).
    pub const STREAM: &str = "stream";
    /// `publish` or `play`.
    pub const ACTION: &str = "action";
    /// SHA-256 of the key, hex.
    pub const HASH: &str = "key_sha256";
    /// When it was created (RFC 3339).
    pub const CREATED: &str = "created";
    /// When it expires (RFC 3339), if it does.
    pub const EXPIRES: &str = "expires";
    /// The same, in ms since the epoch: what the admission condition compares.
    pub const EXPIRES_MS: &str = "expires_ms";
    /// When it was revoked (RFC 3339).
    pub const REVOKED: &str = "revoked";
    /// When it last admitted a client (RFC 3339), as the relay records it.
    pub const LAST_USED: &str = "last_used";
    /// The same, in ms since the epoch: what keeps the record from moving
    /// backwards (RFC 3339 texts of varying precision do not sort).
    pub const LAST_USED_MS: &str = "last_used_ms";
}

/// The stream key an admission presented: what its check looks up, and
/// what its admitted record carries for the relay to record its use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsedKey {
    /// The key item's `pk`.
    pub item_key: String,
    /// The presented key's SHA-256, as the key item holds it.
    pub hash: String,
}

/// The key check of one admission, as the store runs it beside the write
/// of the event's record (see [`crate::store::IdempotencyStore::put_admitted`]).
/// The check writes nothing to the key's item: the record carries the use
/// ([`crate::record::RecordParts::key_use`]) and the relay records it, so
/// that an admission costs no write on the key's item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCheck {
    /// The key presented.
    pub key: UsedKey,
    /// The time of the check, ms since the epoch.
    pub now_ms: i64,
}

/// The condition a key item must meet to admit: the presented hash, not
/// revoked, not expired. Uses `:hash` and `:now_ms`.
pub const CONDITION: &str = "key_sha256 = :hash AND attribute_not_exists(revoked) \
    AND (attribute_not_exists(expires_ms) OR expires_ms > :now_ms)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_is_off_publish_or_publish_and_play() {
        assert_eq!(Required::parse("").unwrap(), Required::OFF);
        assert_eq!(Required::parse("off").unwrap(), Required::OFF);
        let publish = Required::parse("publish").unwrap();
        assert!(publish.requires(Action::Publish) && !publish.requires(Action::Play));
        let both = Required::parse(" publish, play ").unwrap();
        assert!(both.requires(Action::Publish) && both.requires(Action::Play));
        assert!(Required::parse("play").is_err());
        assert!(Required::parse("on").is_err());
    }

    #[test]
    fn a_key_is_read_from_the_query_once() {
        assert_eq!(
            Presented::in_query("?key=abc&token=x"),
            Presented::Key("abc".into())
        );
        assert_eq!(Presented::in_query("a=1&key=a%2Bb").key(), Some("a+b"));
        assert_eq!(Presented::in_query("key=a&key=b"), Presented::Several);
        assert_eq!(Presented::in_query("keys=a"), Presented::Nothing);
        assert_eq!(Presented::in_query("key="), Presented::Nothing);
        assert_eq!(Presented::in_query(""), Presented::Nothing);
    }

    #[test]
    fn key_items_are_named_apart_from_event_records() {
        let pk = item_key(Action::Play, "live/cam1");
        assert_eq!(pk, "streamkey#play#live/cam1");
        assert!(is_key_item(&pk));
        // Event records are 32 hex digits (or that, `-` and 16 more).
        assert!(!is_key_item(&crate::key::derive("srs", &[b"x"])));
    }

    #[test]
    fn a_key_is_url_safe_and_only_its_hash_is_kept() {
        let key = key_from_random(&[200; KEY_LEN]);
        assert_eq!(key.len(), KEY_LEN);
        assert!(crate::auth::token_is_url_safe(&key));
        let h = hash(&key);
        assert_eq!(h.len(), 64);
        assert!(!h.contains(&key));
    }

    #[test]
    fn the_reason_comes_from_the_returned_item() {
        let h = hash("k");
        let item = |extra: &[(&str, AttributeValue)]| {
            let mut item = HashMap::from([(attr::HASH.to_owned(), AttributeValue::S(h.clone()))]);
            for (name, value) in extra {
                item.insert((*name).to_owned(), value.clone());
            }
            item
        };
        assert_eq!(Reason::of_item(None, &h, 0), Reason::NoKey);
        assert_eq!(
            Reason::of_item(Some(&item(&[])), &hash("x"), 0),
            Reason::Wrong
        );
        let revoked = item(&[(attr::REVOKED, AttributeValue::S("t".into()))]);
        assert_eq!(Reason::of_item(Some(&revoked), &h, 0), Reason::Revoked);
        let expiring = item(&[(attr::EXPIRES_MS, AttributeValue::N("100".into()))]);
        assert_eq!(Reason::of_item(Some(&expiring), &h, 100), Reason::Expired);
        assert_eq!(Reason::of_item(Some(&expiring), &h, 99), Reason::Wrong);
    }
}
