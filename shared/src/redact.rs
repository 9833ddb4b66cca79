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
//! Whatever the list of names says, two things are always masked: the
//! password of a URL's `user:password@` (`rtsp://admin:***@10.0.0.9/…`:
//! pull proxies and relays report their origin URL), and the configured
//! secrets themselves ([`Redactor::with_secrets`]) wherever their value
//! occurs (livehook's token inside the hook URLs of ZLMediaKit's
//! configuration dump), in values and member names alike.
//!
//! Keys and ids are derived by the adapters from the payload as received,
//! before redaction, so a redacted event keeps its identity. Redaction is
//! cheap when nothing matches (most deliveries): the raw text is only
//! rewritten when one of the names occurs in it.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use aho_corasick::{AhoCorasick, MatchKind};
use memchr::memmem;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::event::{CloudEvent, EventData, FileInfo};
use crate::providers::Delivery;

/// What a secret's value is replaced with.
pub const MASK: &str = "***";

/// The names redacted when `LIVEHOOK_REDACT` is not set: those the
/// streaming servers and CDNs livehook takes (and their publishers' URLs)
/// use for secrets. SRS and nginx-rtmp pass the publisher's query on
/// (`secret`, `token`, `sign`, `pass`, …); ZLMediaKit's configuration
/// carries `api.secret` and `hook.admin_params` (`secret=…`), SRT's
/// `passphrase` / `psk` and RTSP / RTMP credentials (`password`, `passwd`,
/// `pwd`). The CDNs' URL signing: Tencent `txSecret`, Alibaba `auth_key`,
/// Huawei `hwSecret`, Volcengine `volcSecret`, Wangsu `wsSecret`, Akamai
/// `hdnts` / `hdnea` / `__token__`, AWS SigV4 `X-Amz-Signature` /
/// `X-Amz-Credential` / `X-Amz-Security-Token`, Google `X-Goog-Signature` /
/// `X-Goog-Credential`, Azure SAS `sig`, CloudFront `Signature`.
pub const DEFAULT_NAMES: &[&str] = &[
    "secret",
    "txSecret",
    "token",
    "access_token",
    "refresh_token",
    "session_token",
    "security_token",
    "sign",
    "sig",
    "signature",
    "auth_key",
    "api_key",
    "apikey",
    "secret_key",
    "secret_access_key",
    "client_secret",
    "private_key",
    "authorization",
    "password",
    "passwd",
    "pwd",
    "pass",
    "passphrase",
    "psk",
    "stream_key",
    "streamkey",
    "api.secret",
    "hwSecret",
    "volcSecret",
    "wsSecret",
    "hdnts",
    "hdnea",
    "__token__",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "X-Goog-Signature",
    "X-Goog-Credential",
];

/// Configured secrets shorter than this are not searched for by value: a
/// short value occurs by chance in ordinary text (every token is at least
/// 16 characters; see [`crate::auth::MIN_TOKEN_LEN`]).
pub const MIN_SECRET_LEN: usize = 8;

/// `://` (a URL, which may carry `user:password@`) and `\u` (an escape
/// that may spell a name), looked for in every text redaction reads: each
/// searcher built once, not for every field of every delivery.
static URL_SCHEME: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new("://"));
static UNICODE_ESCAPE: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new("\\u"));

/// The secret names, and the redaction rules over them.
#[derive(Clone)]
pub struct Redactor {
    /// Lowercase names, sorted by length, then bytes: a name is looked up
    /// by a binary search (mostly comparing lengths), not compared with
    /// every name.
    names: Vec<String>,
    /// One automaton over every name and dotted name's last segment, any
    /// case: whether a text may hold a secret-named field in one pass
    /// (`None` when there are no names).
    name_finder: NameFinder,
    /// Every spelling of the configured secrets searched for by value (as
    /// they are and JSON-escaped), and one automaton over them all.
    secrets: Vec<String>,
    finder: Option<Arc<AhoCorasick>>,
}

impl std::fmt::Debug for Redactor {
    // The secrets themselves never reach a log through a config's `Debug`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("names", &self.names)
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

/// The configured secrets could not be made into one search (far more, or
/// far longer, than any configuration holds).
#[derive(Debug, thiserror::Error)]
#[error("the configured secrets cannot be searched for: {0}")]
pub struct SecretsError(#[from] aho_corasick::BuildError);

/// Where the names are searched for in a text.
#[derive(Clone)]
enum NameFinder {
    /// The names and dotted names' last segments, any case.
    Names(Arc<AhoCorasick>),
    /// There are none: no text holds a secret-named field.
    NoNames,
    /// Too many or too long to search for (no configuration comes near):
    /// every text is gone through.
    Unsearchable,
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new(DEFAULT_NAMES.iter().copied())
    }
}

impl Redactor {
    /// A redactor of exactly these names (case is ignored; blanks dropped).
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut names: Vec<String> = names
            .into_iter()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_ascii_lowercase)
            .collect();
        names.sort_unstable_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
        let mut parts: Vec<&str> = names
            .iter()
            .flat_map(|n| [n.as_str(), last_segment(n)])
            .filter(|p| !p.is_empty())
            .collect();
        parts.sort_unstable();
        parts.dedup();
        let name_finder = if parts.is_empty() {
            NameFinder::NoNames
        } else {
            AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(&parts)
                .map_or(NameFinder::Unsearchable, |f| NameFinder::Names(Arc::new(f)))
        };
        Redactor {
            names,
            name_finder,
            secrets: Vec::new(),
            finder: None,
        }
    }

    /// The same names and `name`, keeping the secrets.
    pub fn with_name(self, name: &str) -> Self {
        let mut with = Redactor::new(self.names.iter().map(String::as_str).chain([name]));
        with.secrets = self.secrets;
        with.finder = self.finder;
        with
    }

    /// Also masks these secret values wherever they occur, whatever the
    /// names say: livehook's tokens, the Tencent key, and any other secret
    /// the configuration holds. Values shorter than [`MIN_SECRET_LEN`] are
    /// skipped (they would mask ordinary text). Adds to the secrets of an
    /// earlier call.
    pub fn with_secrets<S: AsRef<str>>(
        mut self,
        secrets: impl IntoIterator<Item = S>,
    ) -> Result<Self, SecretsError> {
        for secret in secrets {
            let secret = secret.as_ref().trim();
            if secret.len() < MIN_SECRET_LEN {
                continue;
            }
            // As JSON text spells it too (`data.raw` is searched before it
            // is parsed), with and without the optional `\/`.
            let quoted = serde_json::to_string(secret).unwrap_or_default();
            let escaped = quoted
                .get(1..quoted.len().saturating_sub(1))
                .unwrap_or(secret)
                .to_owned();
            for spelling in [secret.to_owned(), escaped.replace('/', "\\/"), escaped] {
                if !self.secrets.contains(&spelling) {
                    self.secrets.push(spelling);
                }
            }
        }
        self.finder = if self.secrets.is_empty() {
            None
        } else {
            Some(Arc::new(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&self.secrets)?,
            ))
        };
        Ok(self)
    }

    /// `text` with every configured secret replaced by `***`; `None` when
    /// none occurs.
    pub fn mask_secrets(&self, text: &str) -> Option<String> {
        let finder = self.finder.as_deref()?;
        if !finder.is_match(text) {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        finder.replace_all_with(text, &mut out, |_, _, out| {
            out.push_str(MASK);
            true
        });
        Some(out)
    }

    /// A request's query string as it may be logged: `token` and every
    /// secret-named parameter masked, and the configured secrets wherever
    /// they occur (a token pasted into another parameter).
    pub fn log_query(&self, query: &str) -> String {
        let masked = crate::inbound::redact_query(query);
        self.redact_text(&masked).unwrap_or(masked)
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

    /// The names, lowercase, shortest first.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// Whether a field or query parameter of this name holds a secret: the
    /// name, or for a dotted name its last segment, is one of the names
    /// (any case).
    pub fn is_secret_name(&self, name: &str) -> bool {
        let tail = last_segment(name);
        self.has_name(name) || (tail.len() != name.len() && self.has_name(tail))
    }

    /// Whether `candidate` is one of the names, any ASCII case: searched
    /// for among the sorted names by its length and lowercase bytes.
    fn has_name(&self, candidate: &str) -> bool {
        let lower = || candidate.bytes().map(|b| b.to_ascii_lowercase());
        self.names
            .binary_search_by(|name| {
                (name.len().cmp(&candidate.len())).then_with(|| name.bytes().cmp(lower()))
            })
            .is_ok()
    }

    /// Whether `text` may hold something to redact: one of the names occurs
    /// in it (any case), or it has `\u` escapes or percent-encoding, behind
    /// which a name could hide. A `false` is certain, so the common delivery costs one pass.
    pub fn might_match(&self, text: &str) -> bool {
        self.may_hide_beyond_names(text) || self.names_occur(text)
    }

    /// What [`Redactor::might_match`] looks for besides the names: a
    /// configured secret, a URL's `user:password@`, an escape or
    /// percent-encoding. None of these is in a part of a text that has
    /// none of them, so the members of such a text need only the names
    /// looked for.
    fn may_hide_beyond_names(&self, text: &str) -> bool {
        if self.finder.as_ref().is_some_and(|f| f.is_match(text)) {
            return true;
        }
        let bytes = text.as_bytes();
        // A URL's `user:password@`: an `@` after a `://`.
        if let Some(at) = URL_SCHEME.find(bytes)
            && bytes[at..].contains(&b'@')
        {
            return true;
        }
        // Escapes and percent-encoding can spell a name in other bytes.
        UNICODE_ESCAPE.find(bytes).is_some()
            || text
                .match_indices('%')
                .any(|(i, _)| bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit))
    }

    /// Whether one of the names occurs in `text`, any case.
    fn names_occur(&self, text: &str) -> bool {
        match &self.name_finder {
            NameFinder::Names(finder) => finder.is_match(text),
            NameFinder::NoNames => false,
            NameFinder::Unsearchable => true,
        }
    }

    /// `text` with its secrets replaced by `***`: the configured secrets
    /// wherever they occur, the password of every URL's `user:password@`,
    /// and the values of its secret-named query parameters when it is a
    /// URL with a query (`…?a=1&secret=x#f`) or a query string itself
    /// (`secret=x&a=1`, SRS's `?secret=x`). `None` when there is nothing to
    /// replace.
    pub fn redact_text(&self, text: &str) -> Option<String> {
        let by_value = self.mask_secrets(text);
        let text = by_value.as_deref().unwrap_or(text);
        let passwords = mask_url_passwords(text);
        let text = passwords.as_deref().unwrap_or(text);
        self.redact_query(text).or(passwords).or(by_value)
    }

    /// `text` with the values of its secret-named query parameters replaced
    /// by `***`; `None` when there is none.
    fn redact_query(&self, text: &str) -> Option<String> {
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
        if self.finder.is_some() && map.keys().any(|k| self.mask_secrets(k).is_some()) {
            // A secret as a member name (a form field named by a token):
            // the object is rebuilt, in order, with that name masked.
            *map = std::mem::take(map)
                .into_iter()
                .map(|(k, v)| (self.mask_secrets(&k).unwrap_or(k), v))
                .collect();
            changed = true;
        }
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

    /// [`Redactor::might_match`] for the parts of a text (its members or
    /// elements), `hides` what [`Redactor::may_hide_beyond_names`] said of
    /// the whole: that is looked for in a part only when the whole has it.
    fn parts_might_match(&self, hides: bool) -> impl Fn(&str) -> bool {
        move |part| (hides && self.may_hide_beyond_names(part)) || self.names_occur(part)
    }

    /// Writes `text` (one JSON value) to `out` with its secrets replaced;
    /// members and elements in which no name occurs are copied as they are.
    fn rewrite(&self, text: &str, out: &mut String) -> Result<bool, serde_json::Error> {
        let trimmed = text.trim_start();
        match trimmed.as_bytes().first() {
            Some(b'{') => {
                let hides = self.may_hide_beyond_names(trimmed);
                let might_match = self.parts_might_match(hides);
                let members = crate::json::ordered_members(trimmed)?;
                let mut changed = false;
                out.push('{');
                for (index, (key, value)) in members.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    // A name as it is in the text (no escape) holds a
                    // configured secret only when the text does.
                    let masked = match key {
                        Cow::Borrowed(_) if !hides => None,
                        _ => self.mask_secrets(key),
                    };
                    match masked {
                        Some(masked) => {
                            out.push_str(&serde_json::to_string(&masked)?);
                            changed = true;
                        }
                        None => push_json_string(out, key)?,
                    }
                    out.push(':');
                    if self.is_secret_name(key) && raw_is_maskable(value) {
                        push_json_string(out, MASK)?;
                        changed = true;
                    } else if might_match(value.get()) {
                        changed |= self.rewrite(value.get(), out)?;
                    } else {
                        out.push_str(value.get());
                    }
                }
                out.push('}');
                Ok(changed)
            }
            Some(b'[') => {
                let might_match = self.parts_might_match(self.may_hide_beyond_names(trimmed));
                let items: Vec<&RawValue> = serde_json::from_str(trimmed)?;
                let mut changed = false;
                out.push('[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    if might_match(item.get()) {
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
        // Every normalized text that copies a payload string.
        for field in [
            &mut data.app,
            &mut data.stream,
            &mut data.domain,
            &mut data.url,
            &mut data.url_params,
            &mut data.client_addr,
            &mut data.node,
            &mut data.server_id,
            &mut data.session_id,
            &mut data.snapshot_url,
            &mut data.error_message,
            &mut data.room_id,
            &mut data.owner_id,
            &mut data.channel_id,
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

/// `text` with the password of every URL's `scheme://user:password@`
/// replaced by `***`, also inside longer text (a command line, an error
/// message). `None` when there is none.
fn mask_url_passwords(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = URL_SCHEME.find(&text.as_bytes()[from..]) {
        let start = from + found + 3;
        // The authority ends where the path, query or fragment begins (or
        // the text around the URL does).
        let end = text[start..]
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>') || c.is_whitespace()
            })
            .map_or(text.len(), |e| start + e);
        // The last `@`: an unescaped one inside a password stays hidden.
        if let Some(at) = text[start..end].rfind('@')
            && let Some(colon) = text[start..start + at].find(':')
        {
            let (password_start, password_end) = (start + colon + 1, start + at);
            let password = &text[password_start..password_end];
            if !password.is_empty() && password != MASK {
                out.push_str(&text[copied..password_start]);
                out.push_str(MASK);
                copied = password_end;
            }
        }
        from = end.max(start);
    }
    (copied > 0).then(|| {
        out.push_str(&text[copied..]);
        out
    })
}

/// Writes `text` as a JSON string, as serde_json writes it: quoted in place
/// when nothing in it needs an escape (`"`, `\\`, control characters), else
/// through serde_json. A rewritten object's every member name goes through
/// here.
fn push_json_string(out: &mut String, text: &str) -> Result<(), serde_json::Error> {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(text);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(text)?);
    }
    Ok(())
}

/// The part of a dotted name after its last `.` (`api.secret` → `secret`).
fn last_segment(name: &str) -> &str {
    name.rsplit_once('.').map_or(name, |(_, tail)| tail)
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

    proptest::proptest! {
        #[test]
        fn json_strings_are_written_as_serde_json_writes_them(text in "\\PC*|[\\x00-\\x7f\"\\\\]{0,12}") {
            let mut out = String::from("x");
            push_json_string(&mut out, &text).unwrap();
            proptest::prop_assert_eq!(&out[1..], serde_json::to_string(&text).unwrap());
        }
    }

    proptest::proptest! {
        // A rewrite looks for what is not a name once in the whole text
        // and for the names in each part: that must answer as
        // `might_match` on the part alone, for any part of any text.
        #[test]
        fn a_parts_might_match_answers_as_might_match_on_the_part(
            chunks in proptest::collection::vec(proptest::sample::select(vec![
                "://", "@", "%", "%4", "1", "G", "\\u", "\\", "u0073", "secret", "SeCrEt",
                "key", "ke", "y", "x", "\"", ":", "/", "?", "=", "&", "bench-token-", "0123456789",
                "bench-token-0123456789", " ", "{", "}", "[", "]", ",",
            ]), 0..24),
            from in 0usize..200,
            len in 0usize..200,
        ) {
            let r = Redactor::parse("+key")
                .with_secrets(["bench-token-0123456789"])
                .unwrap();
            let whole = chunks.concat();
            let from = from.min(whole.len());
            let to = (from + len).min(whole.len());
            let part = &whole[from..to];
            proptest::prop_assert_eq!(
                r.parts_might_match(r.may_hide_beyond_names(&whole))(part),
                r.might_match(part),
                "{:?} in {:?}", part, whole
            );
        }
    }

    #[test]
    fn secret_names_are_looked_up_as_compared_with_each() {
        let long = "x".repeat(70);
        let r = Redactor::parse(&format!("+{long},Grüße,a.b.Key"));
        let each = |name: &str| {
            let tail = last_segment(name);
            r.names
                .iter()
                .any(|n| n.eq_ignore_ascii_case(name) || n.eq_ignore_ascii_case(tail))
        };
        for name in [
            "secret",
            "SECRET",
            "Secret.",
            "api.Secret",
            "hook.admin.TOKEN",
            "api.secretx",
            "x-amz-signature",
            "X-Amz-Signature",
            "SIG",
            "Sign",
            "signa",
            "si",
            "~",
            "\u{0}",
            "server_id",
            "",
            ".",
            "token.",
            "grüße",
            "GRüSSE",
            "Grüße",
            "a.b.key",
            "b.KEY",
            "key",
            &long,
            &long.to_uppercase(),
            &format!("p.{long}"),
            &"y".repeat(64),
            &"secret".repeat(11),
        ] {
            assert_eq!(r.is_secret_name(name), each(name), "{name:?}");
        }
    }

    #[test]
    fn escapes_and_url_passwords_may_match_and_plain_text_does_not() {
        let r = Redactor::default();
        // `\u0073ecret` spells `secret`; a URL's `user:password@`.
        assert!(r.might_match(r#"{"\u0073ecret":"x"}"#));
        assert!(r.might_match(r#"{"url":"rtmp://u:p@h/live"}"#));
        assert!(r.might_match("%73ecret=x"));
        // An `@` only before the URL, a lone backslash, a `:/` that is no scheme.
        assert!(!r.might_match(r#"{"mail":"a@b","url":"rtmp://h/live"}"#));
        assert!(!r.might_match(r#"{"path":"C:\\live","t":"a:/b@c"}"#));
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

    #[test]
    fn the_cdns_url_signing_parameters_are_masked_by_default() {
        let r = Redactor::default();
        let cases = [
            (
                "rtmp://h/live/s?wsSecret=a1&wsTime=5F",
                "rtmp://h/live/s?wsSecret=***&wsTime=5F",
            ),
            ("hwSecret=a1&hwTime=5F", "hwSecret=***&hwTime=5F"),
            ("volcSecret=a1&volcTime=5F", "volcSecret=***&volcTime=5F"),
            (
                "https://h/a.m3u8?hdnts=exp~acl~hmac",
                "https://h/a.m3u8?hdnts=***",
            ),
            (
                "https://h/a.m3u8?__token__=x",
                "https://h/a.m3u8?__token__=***",
            ),
            (
                "https://b.s3.amazonaws.com/k?X-Amz-Credential=AK%2F1&X-Amz-Signature=ab&X-Amz-Expires=60",
                "https://b.s3.amazonaws.com/k?X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Expires=60",
            ),
            (
                "https://s/o?x-goog-signature=ab",
                "https://s/o?x-goog-signature=***",
            ),
            (
                "https://a.blob/c?sv=1&sig=ab",
                "https://a.blob/c?sv=1&sig=***",
            ),
            ("user=alice&pass=ab", "user=alice&pass=***"),
            (
                "srt://h:9000?streamid=s&psk=ab",
                "srt://h:9000?streamid=s&psk=***",
            ),
            ("stream_key=ab", "stream_key=***"),
        ];
        for (text, expected) in cases {
            assert_eq!(r.redact_text(text).as_deref(), Some(expected), "{text}");
        }
    }

    #[test]
    fn url_passwords_are_masked_wherever_a_url_is() {
        let r = Redactor::parse("stream_key");
        let cases = [
            (
                "rtsp://admin:Cam3raPass@10.0.0.9:554/Streaming/Channels/101",
                "rtsp://admin:***@10.0.0.9:554/Streaming/Channels/101",
            ),
            (
                "rtmp://relay:p%40ss@origin/live/s?x=1",
                "rtmp://relay:***@origin/live/s?x=1",
            ),
            // An unescaped `@` inside the password: the last one ends it.
            ("rtsp://u:a@b@cam/x", "rtsp://u:***@cam/x"),
            (
                "ffmpeg -i rtsp://a:b1@h/x -f flv rtmp://c:d2@k/y",
                "ffmpeg -i rtsp://a:***@h/x -f flv rtmp://c:***@k/y",
            ),
            ("srt://u:pw@h:9000", "srt://u:***@h:9000"),
        ];
        for (text, expected) in cases {
            assert_eq!(r.redact_text(text).as_deref(), Some(expected), "{text}");
            assert!(r.might_match(text), "{text}");
        }
        for text in [
            "rtsp://10.0.0.9:554/x",
            "rtsp://admin@10.0.0.9/x",
            "rtsp://admin:***@10.0.0.9/x",
            "mailto:a@b.c",
            "http://h/path?next=a:b@c",
        ] {
            assert_eq!(r.redact_text(text), None, "{text}");
        }
    }

    #[test]
    fn configured_secrets_are_masked_by_value_whatever_the_names_say() {
        let token = "livehook-token-0123456789";
        let r = Redactor::parse("stream_key")
            .with_secrets([token, "short", "tencent/key\"0123"])
            .unwrap();
        let mut dump = json!({
            "hook.on_publish": format!("https://x/zlmediakit/on_publish?token={token}"),
            "hook.on_play": format!("https://x/zlmediakit/on_play?t={token}&a=1"),
            "note": "short stays: too short to search for",
            "key": "tencent/key\"0123",
            token: "as a member name",
        });
        assert!(r.redact_value(&mut dump));
        assert_eq!(
            dump,
            json!({
                "hook.on_publish": "https://x/zlmediakit/on_publish?token=***",
                "hook.on_play": "https://x/zlmediakit/on_play?t=***&a=1",
                "note": "short stays: too short to search for",
                "key": "***",
                "***": "as a member name",
            })
        );
        // In raw JSON text, also behind JSON's escapes (`\/`, `\"`).
        let text =
            format!(r#"{{"a":"x{token}y","b":"tencent\/key\"0123","{token}":1,"c":"short"}}"#);
        let received: Box<RawValue> = serde_json::from_str(&text).unwrap();
        let redacted = r.redact_raw(&received).unwrap();
        assert_eq!(
            redacted.get(),
            r#"{"a":"x***y","b":"***","***":1,"c":"short"}"#
        );
        // The secrets never show through `Debug`.
        assert!(!format!("{r:?}").contains(token));
    }

    #[test]
    fn a_secret_as_a_member_name_is_masked_behind_any_escape() {
        let secret = "a/b/c-0123456789";
        let r = Redactor::default().with_secrets([secret]).unwrap();
        // One `/` escaped, one not: no spelling of the secret is in the
        // text, only in the decoded name; the `token` member makes the
        // text be rewritten.
        let text = r#"{"a\/b/c-0123456789":1,"plain":2,"token":"t"}"#;
        let received: Box<RawValue> = serde_json::from_str(text).unwrap();
        assert!(!r.may_hide_beyond_names(text));
        assert_eq!(
            r.redact_raw(&received).unwrap().get(),
            r#"{"***":1,"plain":2,"token":"***"}"#
        );
    }

    #[test]
    fn the_logged_query_hides_the_token_and_the_secrets_wherever_they_are() {
        let token = "livehook-token-0123456789";
        let r = Redactor::default().with_secrets([token]).unwrap();
        let logged = r.log_query(&format!("token={token}&next={token}&secret=s1&app=live"));
        assert!(
            !logged.contains(token) && !logged.contains("s1"),
            "{logged}"
        );
        assert!(logged.contains("app=live"), "{logged}");
    }
}
