//! What a sender does to a payload before each delivery, shared by the
//! adapters' [`Imitate::prepare`](super::Imitate::prepare): moving its
//! timestamps to "now" in the field's own shape.

use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// How a timestamp field is written.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Unit {
    /// Unix seconds (a number or a numeric string).
    Seconds,
    /// Unix milliseconds (a number or a numeric string).
    Millis,
    /// RFC 3339 text, keeping its offset and fractional digits.
    Rfc3339,
}

/// A timestamp field: its path from the root (an object given as a JSON
/// string, as Aodianyun may send `event_value`, is entered too) and unit.
pub(crate) type TimeField = (&'static [&'static str], Unit);

/// Sets the timestamps to `now` as a real sender would: the first field
/// present (the event's own time, the one the replay window checks) becomes
/// `now`, the others move by the same amount so that durations stay as they
/// were.
pub(crate) fn refresh_times(
    root: &mut Map<String, Value>,
    fields: &[TimeField],
    now: OffsetDateTime,
) {
    let mut delta = None;
    for (path, unit) in fields {
        let Some(at) = with_field(root, path, |v| read_time(v, *unit)).flatten() else {
            continue;
        };
        let delta = *delta.get_or_insert(now - at);
        with_field(root, path, |v| write_time(v, *unit, at + delta));
    }
}

/// Sets an integer field, keeping its shape (number or numeric string).
pub(crate) fn set_integer(root: &mut Map<String, Value>, name: &str, value: i64) {
    let new = match root.get(name) {
        Some(Value::String(_)) => Value::String(value.to_string()),
        _ => Value::from(value),
    };
    root.insert(name.to_owned(), new);
}

/// An integer field, as a number or a numeric string.
pub(crate) fn integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Runs `f` on the field at `path`; an object given as a JSON string is
/// edited inside the string.
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
pub(crate) fn format_like(template: &str, at: OffsetDateTime) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    #[test]
    fn rfc3339_keeps_offset_and_digits() {
        let now = OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap()
            + Duration::nanoseconds(123_456_789);
        assert_eq!(
            format_like("2021-05-14T17:52:44.4960899+08:00", now),
            "2026-01-01T08:00:00.1234567+08:00"
        );
        assert_eq!(
            format_like("2021-05-14T09:52:44Z", now),
            "2026-01-01T00:00:00Z"
        );
    }
}
