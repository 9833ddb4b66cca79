//! The sample payloads compiled into the binary, and what a real sender does
//! to one before and between deliveries: fresh timestamps, Tencent's
//! signature, Aodianyun's retry counter.

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, UtcOffset};

use livehook::auth::{Secret, tencent_sign};

mod table {
    include!(concat!(env!("OUT_DIR"), "/samples.rs"));
}

/// The five provider names, in the order `--list` shows them.
pub const PROVIDERS: [&str; 5] = ["tencent", "aodianyun", "bililive", "lal", "apiserver"];

/// One compiled-in sample.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Provider name.
    pub provider: &'static str,
    /// Event name (file stem).
    pub event: &'static str,
    /// The payload as stored.
    pub body: &'static [u8],
}

/// Every compiled-in sample.
pub fn all() -> impl Iterator<Item = Sample> {
    table::SAMPLES
        .iter()
        .map(|&(provider, event, body)| Sample {
            provider,
            event,
            body,
        })
}

/// The event names of `provider`'s samples.
pub fn events_of(provider: &str) -> Vec<&'static str> {
    all()
        .filter(|s| s.provider == provider)
        .map(|s| s.event)
        .collect()
}

/// The sample `provider`/`event`, or an error listing the valid names.
pub fn find(provider: &str, event: &str) -> Result<Sample> {
    check_provider(provider)?;
    if let Some(sample) = all().find(|s| s.provider == provider && s.event == event) {
        return Ok(sample);
    }
    let events = events_of(provider);
    if events.is_empty() {
        bail!(
            "no samples of {provider} were compiled into this binary (events/{provider}/ was empty at build time); use --file PATH"
        );
    }
    bail!(
        "no sample `{event}` for {provider}; valid events: {} (or send your own payload with --file PATH)",
        events.join(", ")
    )
}

/// Refuses a provider name that is not one of the five.
pub fn check_provider(provider: &str) -> Result<()> {
    if PROVIDERS.contains(&provider) {
        Ok(())
    } else {
        bail!(
            "unknown provider `{provider}`; valid providers: {}",
            PROVIDERS.join(", ")
        )
    }
}

/// The text of `livehook send --list`.
pub fn listing() -> String {
    let mut out = String::new();
    for provider in PROVIDERS {
        let events = events_of(provider);
        let shown = if events.is_empty() {
            "(none compiled in)".to_owned()
        } else {
            events.join(" ")
        };
        out.push_str(&format!("{provider:<10} {shown}\n"));
    }
    out
}

/// The provider's own event name: for lal, the hook (the stem before the
/// first `.`, so `on_update.large` is sent to `on_update`).
pub fn hook_of(event: &str) -> &str {
    event.split('.').next().unwrap_or(event)
}

// ---------------------------------------------------------------------------
// Timestamps

/// A timestamp field and how it is written.
#[derive(Clone, Copy)]
enum Unit {
    Seconds,
    Millis,
    Rfc3339,
}

/// The fields a provider stamps, the first present being the event's own
/// time (the one livehook checks against its replay window); the others are
/// shifted by the same amount so that durations stay as in the sample.
fn time_fields(provider: &str) -> &'static [(&'static [&'static str], Unit)] {
    match provider {
        "tencent" => &[
            (&["event_time"], Unit::Seconds),
            (&["end_time"], Unit::Seconds),
            (&["create_time"], Unit::Seconds),
            (&["start_time"], Unit::Seconds),
        ],
        "aodianyun" => &[
            (&["started_at"], Unit::Seconds),
            (&["event_value", "time"], Unit::Seconds),
            (&["event_value", "start"], Unit::Seconds),
            (&["event_value", "end"], Unit::Seconds),
            (&["event_value", "uptime"], Unit::Seconds),
        ],
        "bililive" => &[
            (&["EventTimestamp"], Unit::Rfc3339),
            (&["EndRecordTime"], Unit::Rfc3339),
            (&["StartRecordTime"], Unit::Rfc3339),
            (&["EventData", "FileOpenTime"], Unit::Rfc3339),
            (&["EventData", "FileCloseTime"], Unit::Rfc3339),
        ],
        "apiserver" => &[
            (&["eventTime"], Unit::Millis),
            (&["createdAt"], Unit::Millis),
            (&["updatedAt"], Unit::Millis),
        ],
        _ => &[],
    }
}

/// Sets the sample's timestamps to `now` as a real sender would: the event's
/// own time becomes `now`, related times move with it. Returns the body
/// unchanged when there is nothing to refresh (lal).
pub fn refresh_times(provider: &str, body: &[u8], now: OffsetDateTime) -> Result<Vec<u8>> {
    let fields = time_fields(provider);
    if fields.is_empty() {
        return Ok(body.to_vec());
    }
    let mut value: Value = serde_json::from_slice(body).context("the sample is not JSON")?;
    let Some(root) = value.as_object_mut() else {
        return Ok(body.to_vec());
    };
    let mut delta = None;
    for (path, unit) in fields {
        let Some(at) = with_field(root, path, |v| read_time(v, *unit)).flatten() else {
            continue;
        };
        let delta = *delta.get_or_insert(now - at);
        with_field(root, path, |v| write_time(v, *unit, at + delta));
    }
    if delta.is_none() {
        return Ok(body.to_vec());
    }
    Ok(serde_json::to_vec(&value)?)
}

/// Runs `f` on the field at `path`; an object given as a JSON string (as
/// Aodianyun may send `event_value`) is edited inside the string.
fn with_field<T>(
    root: &mut Map<String, Value>,
    path: &[&str],
    f: impl FnOnce(&mut Value) -> T,
) -> Option<T> {
    let (first, rest) = path.split_first()?;
    let value = root.get_mut(*first)?;
    if rest.is_empty() {
        return Some(f(value));
    }
    match value {
        Value::Object(map) => with_field(map, rest, f),
        Value::String(text) => {
            let mut inner: Value = serde_json::from_str(text).ok()?;
            let result = with_field(inner.as_object_mut()?, rest, f);
            *text = inner.to_string();
            result
        }
        _ => None,
    }
}

fn integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn read_time(v: &Value, unit: Unit) -> Option<OffsetDateTime> {
    match unit {
        Unit::Seconds => OffsetDateTime::from_unix_timestamp(integer(v)?).ok(),
        Unit::Millis => {
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(integer(v)?) * 1_000_000).ok()
        }
        Unit::Rfc3339 => OffsetDateTime::parse(v.as_str()?, &Rfc3339).ok(),
    }
}

/// Writes `at` in the field's own shape: a number stays a number, a numeric
/// string a string, an RFC 3339 text keeps its offset and fractional digits.
fn write_time(v: &mut Value, unit: Unit, at: OffsetDateTime) {
    let number = match unit {
        Unit::Seconds => at.unix_timestamp(),
        Unit::Millis => i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX),
        Unit::Rfc3339 => {
            if let Value::String(text) = v {
                *text = format_like(text, at);
            }
            return;
        }
    };
    *v = match v {
        Value::String(_) => Value::String(number.to_string()),
        _ => Value::from(number),
    };
}

/// `at` formatted like `template` (`2021-05-14T17:52:44.4960899+08:00`):
/// same offset, same number of fractional digits.
pub fn format_like(template: &str, at: OffsetDateTime) -> String {
    let offset = OffsetDateTime::parse(template, &Rfc3339).map_or(UtcOffset::UTC, |t| t.offset());
    let at = at.to_offset(offset);
    let digits = template
        .split_once('.')
        .map_or(0, |(_, rest)| {
            rest.chars().take_while(char::is_ascii_digit).count()
        })
        .min(9);
    let mut out = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
    if digits > 0 {
        let nanos = format!("{:09}", at.nanosecond());
        out.push('.');
        out.push_str(&nanos[..digits]);
    }
    if offset == UtcOffset::UTC && (template.ends_with('Z') || template.ends_with('z')) {
        out.push('Z');
    } else {
        let (h, m, _) = offset.as_hms();
        let sign = if offset.is_negative() { '-' } else { '+' };
        out.push_str(&format!(
            "{sign}{:02}:{:02}",
            h.unsigned_abs(),
            m.unsigned_abs()
        ));
    }
    out
}

// ---------------------------------------------------------------------------
// Signing and retries

/// A Tencent body with `t` = `t` and `sign` = md5(key + t); `t` keeps the
/// sample's shape (number or numeric string).
pub fn sign_tencent(body: &[u8], key: &Secret, t: i64) -> Result<Vec<u8>> {
    let mut value: Value = serde_json::from_slice(body).context("the Tencent body is not JSON")?;
    let map = value
        .as_object_mut()
        .context("the Tencent body is not a JSON object")?;
    let t_value = match map.get("t") {
        Some(Value::String(_)) => Value::String(t.to_string()),
        _ => Value::from(t),
    };
    map.insert("t".into(), t_value);
    map.insert(
        "sign".into(),
        Value::from(tencent_sign(key, &t.to_string())),
    );
    Ok(serde_json::to_vec(&value)?)
}

/// Aodianyun's retry `n` (1-based) of `body`: `retry_times` is 1 on the first
/// delivery and grows by one with each retry; everything else is unchanged.
pub fn aodianyun_retry(body: &[u8], retry: i64) -> Result<Vec<u8>> {
    let mut value: Value =
        serde_json::from_slice(body).context("the Aodianyun body is not JSON")?;
    let map = value
        .as_object_mut()
        .context("the Aodianyun body is not a JSON object")?;
    let first = map.get("retry_times").and_then(integer).unwrap_or(1);
    let next = first + retry;
    let v = match map.get("retry_times") {
        Some(Value::String(_)) => Value::String(next.to_string()),
        _ => Value::from(next),
    };
    map.insert("retry_times".into(), v);
    Ok(serde_json::to_vec(&value)?)
}

/// The `t` Tencent would put in a notification sent at `now`: ten minutes
/// ahead.
pub fn tencent_t(now: OffsetDateTime) -> i64 {
    (now + Duration::minutes(10)).unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    #[test]
    fn bililive_timestamps_keep_offset_and_digits() {
        let now = at(1_767_225_600) + Duration::nanoseconds(123_456_789);
        assert_eq!(
            format_like("2021-05-14T17:52:44.4960899+08:00", now),
            "2026-01-01T08:00:00.1234567+08:00"
        );
        assert_eq!(
            format_like("2021-05-14T09:52:44Z", now),
            "2026-01-01T00:00:00Z"
        );
    }

    #[test]
    fn tencent_times_move_together() {
        let body = json!({"event_type": 100, "start_time": 1000, "end_time": "1300"});
        let out = refresh_times("tencent", body.to_string().as_bytes(), at(5000)).unwrap();
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(out["end_time"], "5000");
        assert_eq!(out["start_time"], 4700);
    }

    #[test]
    fn aodianyun_string_event_value_is_edited_inside() {
        let body = json!({"started_at": 10, "event_value": "{\"start\":5,\"end\":10}"});
        let out = refresh_times("aodianyun", body.to_string().as_bytes(), at(100)).unwrap();
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(out["started_at"], 100);
        let inner: Value = serde_json::from_str(out["event_value"].as_str().unwrap()).unwrap();
        assert_eq!(inner, json!({"start": 95, "end": 100}));
    }

    #[test]
    fn lal_is_sent_byte_for_byte() {
        let body = br#"{"b":1, "a":2}"#;
        assert_eq!(refresh_times("lal", body, at(1)).unwrap(), body);
    }

    #[test]
    fn aodianyun_retries_count_up_from_one() {
        let out = aodianyun_retry(br#"{"retry_times":1}"#, 2).unwrap();
        assert_eq!(out, br#"{"retry_times":3}"#);
        let out = aodianyun_retry(br#"{"x":0}"#, 1).unwrap();
        assert_eq!(out, br#"{"retry_times":2,"x":0}"#);
    }

    #[test]
    fn tencent_is_signed_with_md5_of_key_and_t() {
        let key = Secret::new("ab");
        let out = sign_tencent(br#"{"t":"1"}"#, &key, 0).unwrap();
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(out["t"], "0");
        assert_eq!(out["sign"], tencent_sign(&key, "0"));
    }
}
