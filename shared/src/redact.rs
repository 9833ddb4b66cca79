//! Secrets inside payloads, replaced by `***` before anything is written or
//! published.
//!
//! Streaming servers put secrets in their hooks: ZLMediaKit's
//! `on_server_started` sends its whole configuration (`api.secret`
//! included), and most servers append the publisher's URL query
//! (`?secret=…`, Tencent's `txSecret=…`) to the URLs and query strings they
//! report. Whoever reads the topic or the table could then push to those
//! streams or control the server. Two rules, over every field of `data`
//! and `data.raw`:
//!
//! - a field whose name is a secret name (any case; for a dotted name such
//!   as `api.secret`, the whole name or its last segment) has its value
//!   replaced by `***`, at any depth;
//! - a string that is a URL or a query string has the values of its
//!   secret-named query parameters replaced by `***`
//!   (`rtmp://h/app/s?secret=***&x=1`, `txSecret=***&txTime=5F…`).
//!
//! Keys and ids are derived by the adapters from the payload as received,
//! before redaction, so a redacted event keeps its identity. Redaction is
//! cheap when nothing matches (most deliveries): the raw text is only
//! rewritten when one of the names occurs in it.

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::event::{CloudEvent, EventData, FileInfo};
use crate::providers::Delivery;

/// What a secret's value is replaced with.
pub const MASK: &str = "***";

/// The names redacted when `LIVEHOOK_REDACT` is not set: those the
/// streaming servers and CDNs livehook takes (and their publishers' URLs)
/// use for secrets. SRS and nginx-rtmp pass the publisher's query on
/// (`secret`, `token`, `sign`, …); Tencent signs push URLs with
/// `txSecret`; Aliyun's URL auth is `auth_key`; ZLMediaKit's configuration
/// carries `api.secret` and `hook.admin_params` (`secret=…`), SRT's
/// `passphrase` and RTSP / RTMP credentials (`password`, `passwd`, `pwd`).
pub const DEFAULT_NAMES: &[&str] = &[
    "secret",
    "txSecret",
    "token",
    "access_token",
    "sign",
    "signature",
    "auth_key",
    "api_key",
    "apikey",
    "secret_key",
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "api.secret",
];

/// The secret names, and the redaction rules over them.
#[derive(Debug, Clone)]
pub struct Redactor {
    /// Lowercase names.
    names: Vec<String>,
    /// The first byte of each name and of each dotted name's last segment
    /// (lowercase): where a search for a name may start.
    first_bytes: [bool; 256],
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new(DEFAULT_NAMES.iter().copied())
    }
}

impl Redactor {
    /// A redactor of exactly these names (case is ignored; blanks dropped).
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let names: Vec<String> = names
            .into_iter()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_ascii_lowercase)
            .collect();
        let mut first_bytes = [false; 256];
        for name in &names {
            for part in [name.as_str(), last_segment(name)] {
                if let Some(&b) = part.as_bytes().first() {
                    first_bytes[usize::from(b)] = true;
                }
            }
        }
        Redactor { names, first_bytes }
    }

    /// The names of `LIVEHOOK_REDACT`: a comma-separated list that replaces
    /// the defaults, or, when it starts with `+`, is added to them
    /// (`+stream_key,hwSecret`).
    pub fn parse(list: &str) -> Self {
        match list.trim().strip_prefix('+') {
            Some(extra) => Redactor::new(DEFAULT_NAMES.iter().copied().chain(extra.split(','))),
            None => Redactor::new(list.split(',')),
        }
    }

    /// The names, lowercase.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// Whether a field or query parameter of this name holds a secret: the
    /// name, or for a dotted name its last segment, is one of the names
    /// (any case).
    pub fn is_secret_name(&self, name: &str) -> bool {
        let tail = last_segment(name);
        self.names
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name) || n.eq_ignore_ascii_case(tail))
    }

    /// Whether `text` may hold something to redact: one of the names occurs
    /// in it (any case), or it has `\u` escapes or percent-encoding, behind
    /// which a name could hide. A `false` is certain, so the common delivery costs one pass.
    pub fn might_match(&self, text: &str) -> bool {
        let bytes = text.as_bytes();
        bytes.iter().enumerate().any(|(i, &b)| {
            let lower = b.to_ascii_lowercase();
            // Escapes and percent-encoding can spell a name in other bytes.
            if (b == b'\\' && bytes.get(i + 1) == Some(&b'u'))
                || (b == b'%' && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit))
            {
                return true;
            }
            self.first_bytes[usize::from(lower)]
                && self.names.iter().any(|n| {
                    [n.as_str(), last_segment(n)].into_iter().any(|part| {
                        bytes
                            .get(i..i + part.len())
                            .is_some_and(|w| w.eq_ignore_ascii_case(part.as_bytes()))
                    })
                })
        })
    }

    /// `text` with the values of its secret-named query parameters replaced
    /// by `***`, when it is a URL with a query (`…?a=1&secret=x#f`) or a
    /// query string itself (`secret=x&a=1`, SRS's `?secret=x`). `None`
    /// when there is nothing to replace.
    pub fn redact_text(&self, text: &str) -> Option<String> {
        if !text.contains('=') {
            return None;
        }
        let (head, query) = match text.find('?') {
            Some(at) => text.split_at(at + 1),
            None => ("", text),
        };
        let (query, fragment) = match query.find('#') {
            Some(at) => query.split_at(at),
            None => (query, ""),
        };
        let mut out = String::with_capacity(text.len());
        out.push_str(head);
        let mut changed = false;
        for (index, pair) in query.split('&').enumerate() {
            if index > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((name, value))
                    if !value.is_empty() && value != MASK && self.is_secret_param(name) =>
                {
                    out.push_str(name);
                    out.push('=');
                    out.push_str(MASK);
                    changed = true;
                }
                _ => out.push_str(pair),
            }
        }
        out.push_str(fragment);
        changed.then_some(out)
    }

    /// A string field's value redacted: JSON text inside a string
    /// (Aodianyun's `event_value` may arrive so) by the field rules, any
    /// other string as a URL or query ([`Redactor::redact_text`]).
    fn redact_string(&self, text: &str) -> Option<String> {
        let trimmed = text.trim_start();
        if (trimmed.starts_with('{') || trimmed.starts_with('[')) && self.might_match(text) {
            let Some(mut inner) = crate::json::parse_embedded(text) else {
                return self.redact_text(text);
            };
            return if self.redact_value(&mut inner) {
                serde_json::to_string(&inner).ok()
            } else {
                None
            };
        }
        self.redact_text(text)
    }

    /// A query parameter's name, percent-decoded, is a secret name.
    fn is_secret_param(&self, name: &str) -> bool {
        form_urlencoded::parse(name.as_bytes())
            .next()
            .is_some_and(|(decoded, _)| self.is_secret_name(&decoded))
    }

    /// Redacts a parsed JSON value in place, at any depth. Returns whether
    /// anything changed.
    pub fn redact_value(&self, value: &mut Value) -> bool {
        match value {
            Value::Object(map) => self.redact_map(map),
            Value::Array(items) => items
                .iter_mut()
                .fold(false, |changed, item| self.redact_value(item) | changed),
            Value::String(text) => match self.redact_string(text) {
                Some(redacted) => {
                    *text = redacted;
                    true
                }
                None => false,
            },
            _ => false,
        }
    }

    /// Redacts a parsed JSON object in place. Returns whether anything
    /// changed.
    pub fn redact_map(&self, map: &mut Map<String, Value>) -> bool {
        let mut changed = false;
        for (key, value) in map.iter_mut() {
            if self.is_secret_name(key) {
                if is_maskable(value) {
                    *value = Value::String(MASK.to_owned());
                    changed = true;
                }
            } else {
                changed |= self.redact_value(value);
            }
        }
        changed
    }

    /// `raw` (a JSON text, such as `data.raw`) with its secrets replaced,
    /// every other member kept byte for byte and in order; `None` when
    /// there is nothing to replace (then nothing was copied or rebuilt).
    pub fn redact_raw(&self, raw: &RawValue) -> Option<Box<RawValue>> {
        if !self.might_match(raw.get()) {
            return None;
        }
        let mut out = String::with_capacity(raw.get().len());
        let changed = self.rewrite(raw.get(), &mut out).ok()?;
        if changed {
            RawValue::from_string(out).ok()
        } else {
            None
        }
    }

    /// Writes `text` (one JSON value) to `out` with its secrets replaced;
    /// members and elements in which no name occurs are copied as they are.
    fn rewrite(&self, text: &str, out: &mut String) -> Result<bool, serde_json::Error> {
        let trimmed = text.trim_start();
        match trimmed.as_bytes().first() {
            Some(b'{') => {
                let members: Vec<(String, &RawValue)> = crate::json::ordered_members(trimmed)?;
                let mut changed = false;
                out.push('{');
                for (index, (key, value)) in members.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(key)?);
                    out.push(':');
                    if self.is_secret_name(key) && raw_is_maskable(value) {
                        out.push_str(&serde_json::to_string(MASK)?);
                        changed = true;
                    } else if self.might_match(value.get()) {
                        changed |= self.rewrite(value.get(), out)?;
                    } else {
                        out.push_str(value.get());
                    }
                }
                out.push('}');
                Ok(changed)
            }
            Some(b'[') => {
                let items: Vec<&RawValue> = serde_json::from_str(trimmed)?;
                let mut changed = false;
                out.push('[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    if self.might_match(item.get()) {
                        changed |= self.rewrite(item.get(), out)?;
                    } else {
                        out.push_str(item.get());
                    }
                }
                out.push(']');
                Ok(changed)
            }
            Some(b'"') => {
                let decoded: String = serde_json::from_str(trimmed)?;
                match self.redact_string(&decoded) {
                    Some(redacted) => {
                        out.push_str(&serde_json::to_string(&redacted)?);
                        Ok(true)
                    }
                    None => {
                        out.push_str(text);
                        Ok(false)
                    }
                }
            }
            _ => {
                out.push_str(text);
                Ok(false)
            }
        }
    }

    /// Redacts the normalized fields that copy a payload string (URLs,
    /// query strings, file locations) and `raw`. Returns whether anything
    /// changed.
    pub fn redact_data(&self, data: &mut EventData) -> bool {
        let mut changed = false;
        for field in [
            &mut data.url,
            &mut data.url_params,
            &mut data.snapshot_url,
            &mut data.error_message,
            &mut data.name,
            &mut data.title,
        ] {
            changed |= self.redact_field(field);
        }
        if let Some(file) = &mut data.file {
            changed |= self.redact_file(file);
        }
        if let Some(raw) = self.redact_raw(&data.raw) {
            data.raw = raw;
            changed = true;
        }
        changed
    }

    fn redact_file(&self, file: &mut FileInfo) -> bool {
        let mut changed = false;
        for field in [
            &mut file.url,
            &mut file.path,
            &mut file.playlist_path,
            &mut file.playlist_url,
        ] {
            changed |= self.redact_field(field);
        }
        if let Some(renditions) = &mut file.renditions {
            changed |= self.redact_map(renditions);
        }
        changed
    }

    fn redact_field(&self, field: &mut Option<String>) -> bool {
        match field.as_deref().and_then(|text| self.redact_text(text)) {
            Some(redacted) => {
                *field = Some(redacted);
                true
            }
            None => false,
        }
    }

    /// Redacts an event's `data`. Returns whether anything changed.
    pub fn redact_event(&self, event: &mut CloudEvent) -> bool {
        self.redact_data(&mut event.data)
    }

    /// Redacts every event of an accepted delivery (its key and ids, derived
    /// before, are untouched). Returns whether anything changed.
    pub fn redact_delivery(&self, delivery: &mut Delivery) -> bool {
        delivery.events.iter_mut().fold(false, |changed, out| {
            self.redact_event(&mut out.event) | changed
        })
    }

    /// Redacts a stored envelope's `data` (`data.raw` included), for tools
    /// that show or re-publish records written before redaction, or under
    /// a shorter list (`livehook events show` / `replay`). Returns whether
    /// anything changed.
    pub fn redact_envelope(&self, envelope: &mut Value) -> bool {
        envelope
            .get_mut("data")
            .is_some_and(|data| self.redact_value(data))
    }
}

/// The part of a dotted name after its last `.` (`api.secret` → `secret`).
fn last_segment(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

/// Whether a secret-named field's value hides anything: null and empty
/// strings are left as they are (and `***` needs no second pass).
fn is_maskable(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty() && s != MASK,
        _ => true,
    }
}

fn raw_is_maskable(raw: &RawValue) -> bool {
    let text = raw.get().trim();
    !(text == "null" || text == "\"\"" || text == "\"***\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(value: Value) -> Box<RawValue> {
        serde_json::value::to_raw_value(&value).unwrap()
    }

    #[test]
    fn secret_names_match_in_any_case_and_as_the_last_dotted_segment() {
        let r = Redactor::default();
        for name in [
            "secret",
            "SECRET",
            "txSecret",
            "TXSECRET",
            "api.secret",
            "rtsp.Password",
            "Sign",
        ] {
            assert!(r.is_secret_name(name), "{name}");
        }
        for name in ["secretary", "signal", "stream", "api.secrets", "tokens", ""] {
            assert!(!r.is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn query_parameters_are_redacted_in_urls_and_query_strings() {
        let r = Redactor::default();
        let cases = [
            (
                "rtmp://host/app/stream?secret=abc&x=1",
                "rtmp://host/app/stream?secret=***&x=1",
            ),
            ("secret=abc&user=alice", "secret=***&user=alice"),
            ("?secret=abc", "?secret=***"),
            (
                "txSecret=f85a&txTime=5C2ACF00",
                "txSecret=***&txTime=5C2ACF00",
            ),
            (
                "http://h/a.flv?a=1&Token=t0&b=2#frag",
                "http://h/a.flv?a=1&Token=***&b=2#frag",
            ),
            ("http://h/x?s%65cret=abc", "http://h/x?s%65cret=***"),
        ];
        for (text, expected) in cases {
            assert_eq!(r.redact_text(text).as_deref(), Some(expected), "{text}");
        }
        for text in [
            "rtmp://host/app/stream",
            "rtmp://host/app?user=alice",
            "a = b",
            "secret=",
            "secret=***",
            "no query at all",
        ] {
            assert_eq!(r.redact_text(text), None, "{text}");
        }
    }

    #[test]
    fn nested_and_dotted_fields_are_masked_and_urls_inside_them_redacted() {
        let r = Redactor::default();
        let mut v = json!({
            "api.secret": "035c73f7", "api.apiDebug": "1",
            "hook.admin_params": "secret=035c73f7",
            "hook.on_publish": "https://x/zlmediakit/on_publish?token=livehook-token-123",
            "nested": {"Password": 1234, "list": [{"pwd": "p"}, "rtmp://h/a?sign=s"]},
            "empty": {"secret": ""}, "none": {"token": null},
        });
        assert!(r.redact_value(&mut v));
        assert_eq!(
            v,
            json!({
                "api.secret": "***", "api.apiDebug": "1",
                "hook.admin_params": "secret=***",
                "hook.on_publish": "https://x/zlmediakit/on_publish?token=***",
                "nested": {"Password": "***", "list": [{"pwd": "***"}, "rtmp://h/a?sign=***"]},
                "empty": {"secret": ""}, "none": {"token": null},
            })
        );
        assert!(!r.redact_value(&mut v), "a second pass changes nothing");
    }

    #[test]
    fn raw_text_is_rewritten_only_where_a_secret_is_and_kept_byte_for_byte_elsewhere() {
        let r = Redactor::default();
        let text = r#"{"z": 1.50, "param": "?secret=abc", "a" : {"k":[1, 2]}, "p": {"token": "t", "n": 1.0}}"#;
        let received: Box<RawValue> = serde_json::from_str(text).unwrap();
        let redacted = r.redact_raw(&received).unwrap();
        assert_eq!(
            redacted.get(),
            r#"{"z":1.50,"param":"?secret=***","a":{"k":[1, 2]},"p":{"token":"***","n":1.0}}"#
        );
        // Nothing to redact: no copy at all.
        assert!(
            r.redact_raw(&raw(json!({"stream": "s", "signal": "x"})))
                .is_none()
        );
        assert!(r.redact_raw(&raw(json!({"app": "live"}))).is_none());
        // A name hidden behind an escape is still found.
        let escaped: Box<RawValue> = serde_json::from_str(r#"{"s\u0065cret":"x"}"#).unwrap();
        assert_eq!(r.redact_raw(&escaped).unwrap().get(), r#"{"secret":"***"}"#);
    }

    #[test]
    fn json_text_inside_a_string_is_redacted_as_json() {
        let r = Redactor::default();
        let text = r#"{"event_value":"{\"cmd\":\"StartPublish\",\"secret\":\"abc\"}","n":1}"#;
        let received: Box<RawValue> = serde_json::from_str(text).unwrap();
        let redacted = r.redact_raw(&received).unwrap();
        let v: Value = serde_json::from_str(redacted.get()).unwrap();
        let inner: Value = serde_json::from_str(v["event_value"].as_str().unwrap()).unwrap();
        assert_eq!(inner, json!({"cmd": "StartPublish", "secret": "***"}));
        let mut parsed: Value = serde_json::from_str(text).unwrap();
        assert!(r.redact_value(&mut parsed));
        assert_eq!(parsed, v);
    }

    #[test]
    fn the_list_is_configurable_replaced_or_extended() {
        let only = Redactor::parse("stream_key");
        assert!(only.is_secret_name("Stream_Key") && !only.is_secret_name("secret"));
        let more = Redactor::parse("+hwSecret");
        assert!(more.is_secret_name("hwsecret") && more.is_secret_name("secret"));
        assert!(!more.might_match(r#"{"app":"live"}"#));
        assert!(more.might_match(r#"{"HWSECRET":"x"}"#));
    }

    #[test]
    fn stored_envelopes_are_redacted_in_data_and_raw() {
        let r = Redactor::default();
        let mut envelope = json!({"id": "k", "data": {
            "url_params": "txSecret=abc&txTime=1",
            "raw": {"stream_param": "txSecret=abc&txTime=1"},
        }});
        assert!(r.redact_envelope(&mut envelope));
        assert_eq!(envelope["id"], "k");
        assert_eq!(envelope["data"]["url_params"], "txSecret=***&txTime=1");
        assert_eq!(
            envelope["data"]["raw"]["stream_param"],
            "txSecret=***&txTime=1"
        );
        assert!(!r.redact_envelope(&mut envelope));
    }
}
