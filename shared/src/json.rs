//! Lenient field access over a parsed JSON object.
//!
//! Provider documents disagree with their senders about types (Tencent's `t`
//! and `file_size` arrive as numbers or strings, Aodianyun's `time` is a
//! string). Optional fields therefore never fail: a value of an unexpected
//! type is simply not normalized (it stays in `raw`). Required fields fail with
//! a [`Rejection::Malformed`] that names the field.

use std::borrow::Cow;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::Rejection;

/// A JSON object with lenient, typed getters.
#[derive(Clone, Copy)]
pub(crate) struct Fields<'a>(pub &'a Map<String, Value>);

impl<'a> Fields<'a> {
    /// The raw value of a field, if present and not null.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    /// A non-empty string, or a number rendered as text. Anything else: `None`.
    pub fn text(&self, key: &str) -> Option<String> {
        self.get(key).and_then(value_text)
    }

    /// The first of several spellings that holds text (`remote_addr` /
    /// `remotet_addr`, `id` / `channelId`).
    pub fn text_any(&self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|k| self.text(k))
    }

    /// An integer, from a JSON number (integral) or a numeric string.
    pub fn int(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(value_int)
    }

    /// A float, from a JSON number or a numeric string.
    pub fn float(&self, key: &str) -> Option<f64> {
        match self.get(key)? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok().filter(|f: &f64| f.is_finite()),
            _ => None,
        }
    }

    /// A boolean (also `"true"`/`"false"`, `1`/`0`).
    pub fn boolean(&self, key: &str) -> Option<bool> {
        match self.get(key)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s == "true" => Some(true),
            Value::String(s) if s == "false" => Some(false),
            Value::Number(n) => n.as_i64().map(|i| i != 0),
            _ => None,
        }
    }

    /// A nested object.
    pub fn object(&self, key: &str) -> Option<Fields<'a>> {
        self.get(key).and_then(Value::as_object).map(Fields)
    }

    /// A required identifier: a non-empty string or a number. Missing, empty
    /// or of another type is a 400 naming the field.
    pub fn required_text(&self, key: &str) -> Result<String, Rejection> {
        match self.get(key) {
            None => Err(Rejection::malformed(format!("missing field `{key}`"))),
            Some(v) => value_text(v).ok_or_else(|| {
                Rejection::malformed(format!("field `{key}` must be a non-empty string"))
            }),
        }
    }

    /// A required integer (number or numeric string).
    pub fn required_int(&self, key: &str) -> Result<i64, Rejection> {
        match self.get(key) {
            None => Err(Rejection::malformed(format!("missing field `{key}`"))),
            Some(v) => value_int(v)
                .ok_or_else(|| Rejection::malformed(format!("field `{key}` must be an integer"))),
        }
    }
}

/// A value as [`Fields::text`] reads it: a non-empty string, or a number
/// rendered as text.
pub(crate) fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn value_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            // Integral floats (`1.0`) and u64 above i64::MAX are not ids we can use.
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Parses a body into a JSON object, or the 400 that explains why not.
///
/// Objects with a repeated key are refused at any depth: parsers disagree on
/// which duplicate wins, so `{"EventId":"a","EventId":"b"}` could mean one
/// event to livehook and another to a subscriber reading `raw`.
pub(crate) fn parse_object(body: &[u8]) -> Result<Map<String, Value>, Rejection> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Rejection::malformed("empty body"));
    }
    check_shape(body)?;
    match serde_json::from_slice::<Strict>(body) {
        Ok(Strict(Value::Object(map))) => Ok(map),
        Ok(_) => Err(Rejection::malformed("body must be a JSON object")),
        Err(e) if e.is_data() => Err(Rejection::malformed(
            if e.to_string().starts_with(DUPLICATE) {
                "body has a duplicate key"
            } else {
                "body is not valid JSON"
            },
        )),
        Err(_) => Err(Rejection::malformed("body is not JSON")),
    }
}

const DUPLICATE: &str = "duplicate key";

/// The most objects a body may hold. A parsed object costs a B-tree node of
/// about 630 bytes whatever its size, so a 1 MiB body of tiny nested
/// objects (`{"":{"":…}}`) would otherwise grow into a tree 130 times its
/// size. 10,000 objects is a ~3,000-stream lal `on_update`, more than a
/// 1 MiB body of real groups holds.
pub const MAX_OBJECTS: usize = 10_000;

/// The most values (members and array elements, containers included) a
/// body may hold: each costs at least 32 bytes parsed, however short its
/// text.
pub const MAX_VALUES: usize = 100_000;

/// The deepest nesting a body may have (serde_json's own recursion limit).
pub const MAX_DEPTH: usize = 128;

/// Counts a body's objects, values and depth in one pass over its bytes,
/// before anything is built from it: a body over [`MAX_OBJECTS`] or
/// [`MAX_VALUES`] is a 413 ([`Rejection::TooComplex`]), one nested deeper
/// than [`MAX_DEPTH`] a 400. Not a validator: serde_json still parses what
/// passes (and refuses what is not JSON).
pub(crate) fn check_shape(body: &[u8]) -> Result<(), Rejection> {
    let (mut objects, mut values, mut depth) = (0usize, 0usize, 0usize);
    let mut at = 0;
    while let Some(&b) = body.get(at) {
        at += 1;
        match b {
            // A string counts nothing: jump to its closing quote (memchr
            // over the string's bytes), past every escaped character.
            b'"' => loop {
                match body
                    .get(at..)
                    .and_then(|rest| memchr::memchr2(b'"', b'\\', rest))
                {
                    // Unterminated: nothing more to count (serde_json refuses it).
                    None => return Ok(()),
                    Some(i) if body[at + i] == b'\\' => at += i + 2,
                    Some(i) => {
                        at += i + 1;
                        break;
                    }
                }
            },
            b'{' | b'[' => {
                objects += usize::from(b == b'{');
                values += 1;
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(Rejection::malformed("body is nested too deeply"));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            // Every value after the first of a container follows a comma.
            b',' => values += 1,
            _ => continue,
        }
        if objects > MAX_OBJECTS {
            return Err(Rejection::TooComplex {
                limit: MAX_OBJECTS,
                what: "JSON objects",
            });
        }
        if values > MAX_VALUES {
            return Err(Rejection::TooComplex {
                limit: MAX_VALUES,
                what: "JSON values",
            });
        }
    }
    Ok(())
}

/// A JSON value found inside a string field (Aodianyun's `event_value`
/// sent as JSON text), parsed under the same limits as a body; `None` when
/// it is not JSON or exceeds them.
pub(crate) fn parse_embedded(text: &str) -> Option<Value> {
    check_shape(text.as_bytes()).ok()?;
    serde_json::from_str::<Strict>(text).ok().map(|Strict(v)| v)
}

/// The object `body` without its top-level members named in `fields`, every
/// other member kept byte for byte and in order (for `data.raw`, which is
/// the payload as received). `body` is a JSON object (checked before).
pub(crate) fn object_without(body: &[u8], fields: &[&str]) -> Result<Box<RawValue>, Rejection> {
    let members: Members<'_> =
        serde_json::from_slice(body).map_err(|_| Rejection::malformed("body is not JSON"))?;
    let mut out = String::with_capacity(body.len());
    out.push('{');
    for (key, value) in members
        .0
        .iter()
        .filter(|(key, _)| !fields.contains(&key.as_ref()))
    {
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(key).unwrap_or_default());
        out.push(':');
        out.push_str(value.get());
    }
    out.push('}');
    RawValue::from_string(out).map_err(|_| Rejection::malformed("body is not JSON"))
}

/// The object `body` without the members `(object, field)` names inside
/// its top-level objects (LiveKit's `room.turnPassword`, Mux's
/// `data.stream_key`), everything else byte for byte and in order.
pub(crate) fn object_without_nested(
    body: &[u8],
    fields: &[(&str, &str)],
) -> Result<Box<RawValue>, Rejection> {
    let malformed = |_| Rejection::malformed("body is not JSON");
    let text = std::str::from_utf8(body).map_err(|_| Rejection::malformed("body is not UTF-8"))?;
    let mut out = String::with_capacity(body.len());
    let push_member = |out: &mut String, first: bool, name: &str, value: &str| {
        if !first {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(name).unwrap_or_default());
        out.push(':');
        out.push_str(value);
    };
    out.push('{');
    for (i, (name, value)) in ordered_members(text).map_err(malformed)?.iter().enumerate() {
        let drop: Vec<&str> = fields
            .iter()
            .filter(|(object, _)| *object == name)
            .map(|(_, field)| *field)
            .collect();
        match ordered_members(value.get()) {
            Ok(members) if !drop.is_empty() => {
                let mut inner = String::from("{");
                let kept = members.iter().filter(|(n, _)| !drop.contains(&n.as_ref()));
                for (j, (n, v)) in kept.enumerate() {
                    push_member(&mut inner, j == 0, n, v.get());
                }
                inner.push('}');
                push_member(&mut out, i == 0, name, &inner);
            }
            _ => push_member(&mut out, i == 0, name, value.get()),
        }
    }
    out.push('}');
    RawValue::from_string(out).map_err(malformed)
}

/// An object's members in order, values unparsed (`object_without` and
/// redaction both rewrite objects member by member, the rest byte for byte);
/// a name is borrowed from `text` unless it has an escape.
pub(crate) fn ordered_members(
    text: &str,
) -> Result<Vec<(Cow<'_, str>, &RawValue)>, serde_json::Error> {
    serde_json::from_str::<Members<'_>>(text).map(|m| m.0)
}

/// An object's members in order, values unparsed.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

/// A member's name: the text itself when it has no escape, else decoded.
struct Name<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Name<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for NameVisitor<'a> {
            type Value = Name<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, name: &'de str) -> Result<Name<'a>, E> {
                Ok(Name(Cow::Borrowed(name)))
            }
            fn visit_str<E>(self, name: &str) -> Result<Name<'a>, E> {
                Ok(Name(Cow::Owned(name.to_owned())))
            }
        }
        deserializer.deserialize_str(NameVisitor(std::marker::PhantomData))
    }
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for Members<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for MembersVisitor<'a> {
            type Value = Members<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut access: A,
            ) -> Result<Members<'a>, A::Error> {
                let mut members = Vec::new();
                while let Some((Name(name), value)) =
                    access.next_entry::<Name<'de>, &'de RawValue>()?
                {
                    members.push((name, value));
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor(std::marker::PhantomData))
    }
}

/// A JSON value whose objects have unique keys.
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let Strict(value) = access.next_value()?;
            if map.insert(key, value).is_some() {
                return Err(serde::de::Error::custom(DUPLICATE));
            }
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn members_are_in_order_their_names_borrowed_unless_escaped() {
        let text = r#"{"b":1, "a\"q":[2], "s\u0065cret":"x", "c\/d":{"e":null}}"#;
        let members = ordered_members(text).unwrap();
        let names: Vec<(&str, bool)> = members
            .iter()
            .map(|(name, _)| (name.as_ref(), matches!(name, Cow::Borrowed(_))))
            .collect();
        assert_eq!(
            names,
            [
                ("b", true),
                ("a\"q", false),
                ("secret", false),
                ("c/d", false)
            ]
        );
        let values: Vec<&str> = members.iter().map(|(_, value)| value.get()).collect();
        assert_eq!(values, ["1", "[2]", r#""x""#, r#"{"e":null}"#]);
        assert!(ordered_members("[1]").is_err());
    }

    /// The byte-at-a-time count `check_shape` replaced: its answers are
    /// the reference.
    fn check_shape_bytewise(body: &[u8]) -> Result<(), Rejection> {
        let (mut objects, mut values, mut depth) = (0usize, 0usize, 0usize);
        let (mut in_string, mut escaped) = (false, false);
        for &b in body {
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => {
                    objects += usize::from(b == b'{');
                    values += 1;
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(Rejection::malformed("body is nested too deeply"));
                    }
                }
                b'}' | b']' => depth = depth.saturating_sub(1),
                b',' => values += 1,
                _ => continue,
            }
            if objects > MAX_OBJECTS {
                return Err(Rejection::TooComplex {
                    limit: MAX_OBJECTS,
                    what: "JSON objects",
                });
            }
            if values > MAX_VALUES {
                return Err(Rejection::TooComplex {
                    limit: MAX_VALUES,
                    what: "JSON values",
                });
            }
        }
        Ok(())
    }

    fn same_answer(body: &[u8]) {
        assert_eq!(
            format!("{:?}", check_shape(body)),
            format!("{:?}", check_shape_bytewise(body)),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }

    #[test]
    fn the_shape_is_counted_as_byte_by_byte() {
        for body in [
            &br#"{"a":"x\"y","b":[1,{"c":"}"}]}"#[..],
            br#"{"a":"\\","b":{}}"#,
            br#"{"a":"unterminated"#,
            br#"{"a":"ends in an escape\"#,
            br#""\"#,
            b"",
            b"\"\"",
        ] {
            same_answer(body);
        }
        let deep = "[".repeat(MAX_DEPTH + 1);
        same_answer(deep.as_bytes());
        let quoted_deep = format!("\"{deep}\"{deep}");
        same_answer(quoted_deep.as_bytes());
        let many = format!("[{}]", "{},".repeat(MAX_OBJECTS + 1));
        same_answer(many.as_bytes());
        let values = format!("[{}]", "1,".repeat(MAX_VALUES + 1));
        same_answer(values.as_bytes());
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_are_counted_as_byte_by_byte(body in proptest::collection::vec(
            proptest::sample::select(b"{}[],\"\\ax:1".to_vec()), 0..300)
        ) {
            same_answer(&body);
        }
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn a_member_is_removed_and_the_rest_kept_byte_for_byte() {
        let body = br#"{"z": 1.50, "sign":"abc", "a" : {"k":[1, 2]},"e":"\u00e9"}"#;
        let raw = object_without(body, &["sign"]).unwrap();
        assert_eq!(raw.get(), r#"{"z":1.50,"a":{"k":[1, 2]},"e":"\u00e9"}"#);
        let only = object_without(br#"{"sign":"x"}"#, &["sign"]).unwrap();
        assert_eq!(only.get(), "{}");
        assert!(object_without(b"[1]", &["sign"]).is_err());
    }

    #[test]
    fn text_accepts_strings_and_numbers_only() {
        let m = obj(json!({"s": "a", "n": 12, "e": "", "b": true, "o": {}, "z": null}));
        let f = Fields(&m);
        assert_eq!(f.text("s").as_deref(), Some("a"));
        assert_eq!(f.text("n").as_deref(), Some("12"));
        for k in ["e", "b", "o", "z", "missing"] {
            assert_eq!(f.text(k), None, "{k}");
        }
        assert_eq!(f.text_any(&["missing", "n"]).as_deref(), Some("12"));
    }

    #[test]
    fn ints_come_from_numbers_and_numeric_strings() {
        let m = obj(json!({"n": 5, "s": " 7 ", "f": 3.0, "x": 3.5, "w": "abc", "big": 1e300}));
        let f = Fields(&m);
        assert_eq!(f.int("n"), Some(5));
        assert_eq!(f.int("s"), Some(7));
        assert_eq!(f.int("f"), Some(3));
        assert_eq!(f.int("x"), None);
        assert_eq!(f.int("w"), None);
        assert_eq!(f.int("big"), None);
    }

    #[test]
    fn required_fields_name_themselves() {
        let m = obj(json!({"a": [], "b": "x"}));
        let f = Fields(&m);
        assert_eq!(
            f.required_text("missing"),
            Err(Rejection::malformed("missing field `missing`"))
        );
        assert_eq!(
            f.required_text("a"),
            Err(Rejection::malformed("field `a` must be a non-empty string"))
        );
        assert_eq!(
            f.required_int("b"),
            Err(Rejection::malformed("field `b` must be an integer"))
        );
    }

    #[test]
    fn bodies_must_be_json_objects() {
        assert_eq!(
            parse_object(b"").unwrap_err(),
            Rejection::malformed("empty body")
        );
        assert_eq!(
            parse_object(b" \n").unwrap_err(),
            Rejection::malformed("empty body")
        );
        assert_eq!(
            parse_object(b"[1]").unwrap_err(),
            Rejection::malformed("body must be a JSON object")
        );
        assert_eq!(
            parse_object(b"{\"a\":").unwrap_err(),
            Rejection::malformed("body is not JSON")
        );
        assert_eq!(
            parse_object(b"\xff\xfe").unwrap_err(),
            Rejection::malformed("body is not JSON")
        );
        assert_eq!(
            parse_object(br#"{"a":1,"a":2}"#).unwrap_err(),
            Rejection::malformed("body has a duplicate key")
        );
        assert_eq!(
            parse_object(br#"{"a":{"b":1,"b":1}}"#).unwrap_err(),
            Rejection::malformed("body has a duplicate key")
        );
        assert!(parse_object(br#"{"a":{"b":1},"b":[{"a":1},{"a":2}]}"#).is_ok());
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        assert!(parse_object(deep.as_bytes()).is_err());
        // Beyond f64's range: refused, never a panic or an infinity.
        assert!(matches!(
            parse_object(br#"{"n":1e400}"#),
            Err(Rejection::Malformed(_))
        ));
        assert!(parse_object(br#"{"n":123456789012345678901234567890}"#).is_ok());
    }
}
