//! A JSON value as block-style YAML, for `schemas/asyncapi.yaml`.
//!
//! Only what a JSON value needs: maps, lists and scalars. Every string is
//! double-quoted (JSON's escapes are valid YAML), except multi-line text,
//! which is a literal block so descriptions stay readable; keys are plain
//! when they cannot be misread. A JSON document is valid YAML already, but
//! reviewers diff this one by eye.

use serde_json::Value;

/// `value` as a YAML document.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => write_list(&mut out, items, 0),
        scalar => {
            out.push_str(&scalar_text(scalar, 0));
            out.push('\n');
        }
    }
    out
}

fn write_map(out: &mut String, map: &serde_json::Map<String, Value>, indent: usize) {
    for (i, (key, value)) in map.iter().enumerate() {
        // The first key of a list item continues the item's `- ` line.
        if i > 0 || !out.ends_with("- ") {
            push_indent(out, indent);
        }
        out.push_str(&key_text(key));
        out.push(':');
        write_value(out, value, indent);
    }
}

fn write_list(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        push_indent(out, indent);
        out.push('-');
        match item {
            Value::Object(map) if !map.is_empty() => {
                out.push(' ');
                write_map(out, map, indent + 2);
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                write_list(out, inner, indent + 2);
            }
            scalar => {
                out.push(' ');
                out.push_str(&scalar_text(scalar, indent + 2));
                out.push('\n');
            }
        }
    }
}

/// After `key:`.
fn write_value(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            write_map(out, map, indent + 2);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_list(out, items, indent + 2);
        }
        scalar => {
            out.push(' ');
            out.push_str(&scalar_text(scalar, indent + 2));
            out.push('\n');
        }
    }
}

fn push_indent(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// A scalar (or an empty container) at `indent` (the indentation of a
/// literal block's lines).
fn scalar_text(value: &Value, indent: usize) -> String {
    match value {
        Value::String(text) if literal_block_fits(text) => {
            let mut block = String::from("|-");
            for line in text.split('\n') {
                block.push('\n');
                if !line.is_empty() {
                    block.extend(std::iter::repeat_n(' ', indent));
                    block.push_str(line);
                }
            }
            block
        }
        Value::Object(_) => "{}".to_owned(),
        Value::Array(_) => "[]".to_owned(),
        // Strings JSON-quoted; numbers, booleans and null as JSON writes them.
        other => other.to_string(),
    }
}

/// Multi-line text that a literal block keeps exactly: no line starting or
/// ending with a space (indentation and `|-` chomping would change it), no
/// control characters.
fn literal_block_fits(text: &str) -> bool {
    text.contains('\n')
        && !text.ends_with('\n')
        && text.split('\n').all(|line| {
            !line.starts_with(' ') && !line.ends_with(' ') && !line.chars().any(|c| c.is_control())
        })
}

/// A key plain when it is a word YAML cannot take for anything else.
fn key_text(key: &str) -> String {
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '$' || c == '_')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '$'))
        && !matches!(
            key.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain {
        key.to_owned()
    } else {
        Value::String(key.to_owned()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_maps_and_lists() {
        // Written in key order: the output follows the map's order.
        let value = json!({
            "/path": 1.5,
            "asyncapi": "3.0.0",
            "info": {"meta": {}, "tags": [], "title": "t"},
            "list": [{"a": 1, "b": [true, null]}, "x", ["y"]],
            "on": "yes"
        });
        let expected = r#""/path": 1.5
asyncapi: "3.0.0"
info:
  meta: {}
  tags: []
  title: "t"
list:
  - a: 1
    b:
      - true
      - null
  - "x"
  -
    - "y"
"on": "yes"
"#;
        assert_eq!(to_yaml(&value), expected);
    }

    #[test]
    fn multi_line_text_is_a_literal_block_unless_it_would_change() {
        let value = json!({"d": "one\n\ntwo", "e": " lead\nx", "f": "tab\tx\ny"});
        assert_eq!(
            to_yaml(&value),
            "d: |-\n  one\n\n  two\ne: \" lead\\nx\"\nf: \"tab\\tx\\ny\"\n"
        );
    }

    #[test]
    fn keys_that_yaml_would_misread_are_quoted() {
        for key in ["true", "No", "1.0", "a b", "a:b", "#x", ""] {
            assert!(key_text(key).starts_with('"'), "{key}");
        }
        for key in ["$ref", "stream.started", "x-livehook", "bindingVersion"] {
            assert_eq!(key_text(key), key);
        }
    }
}
