//! The JSON Schemas (draft 2020-12): the envelope's and each type's
//! `data`, from schemars' output made strict (no `null` for skipped
//! `Option`s) and described by what the samples show.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Result, bail};
use livehook::event::{CloudEvent, DEFAULT_SCHEMA_BASE_URL, ENVELOPE_SCHEMA_FILE, EventType};
use livehook::providers;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::{Catalog, join_quoted};

impl Catalog {
    pub(super) fn envelope_schema(&self) -> Result<Value> {
        let mut schema = root_schema::<CloudEvent>()?;
        schema["$id"] = Value::from(format!("{DEFAULT_SCHEMA_BASE_URL}{ENVELOPE_SCHEMA_FILE}"));
        schema["title"] = Value::from("livehook event");
        schema["description"] = Value::from(
            "One event livehook publishes to its SNS topic: a CloudEvents 1.0 envelope in \
             structured JSON mode. `dataschema` names the schema of its `data` (one per \
             type, in data/ beside this file).",
        );
        Ok(schema)
    }

    /// Makes the schema of `EventData` the schema of `event_type`'s `data`:
    /// the same properties (every field an adapter may set stays allowed,
    /// and any other is refused), described by what the samples show.
    pub(super) fn annotate_data(&self, schema: &mut Value, event_type: EventType) {
        let seen = self.seen(event_type);
        let senders: Vec<String> = seen
            .iter()
            .map(|(&p, facts)| {
                format!(
                    "{} ({})",
                    providers::ALL[p].name(),
                    join_quoted(&facts.provider_events)
                )
            })
            .collect();
        let sent_by = if senders.is_empty() {
            "No sample in events/ has this type yet.".to_owned()
        } else {
            format!("Sent by: {}.", senders.join(", "))
        };
        schema["title"] = Value::from(format!("data of livehook's {event_type} events"));
        schema["description"] = Value::from(format!(
            "{} {sent_by} Every field but `provider_event` and `raw` is omitted when the \
             provider does not send it; `x-livehook-sent-by` lists, per provider, the fields \
             its samples set.",
            self.meaning(event_type)
        ));
        schema["x-livehook-sent-by"] = seen
            .iter()
            .map(|(&p, facts)| {
                (
                    providers::ALL[p].name().to_owned(),
                    json!({
                        "provider_event": facts.provider_events,
                        "fields": facts.fields,
                    }),
                )
            })
            .collect::<Map<String, Value>>()
            .into();
        let provider_events: BTreeSet<&String> =
            seen.values().flat_map(|f| &f.provider_events).collect();
        if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
            if let Some(p) = properties.get_mut("provider_event")
                && !provider_events.is_empty()
            {
                p["examples"] = json!(provider_events);
            }
            if let Some(raw) = properties.get_mut("raw") {
                let names: Vec<&str> = seen.keys().map(|&p| providers::ALL[p].name()).collect();
                raw["description"] = Value::from(format!(
                    "The provider's payload exactly as received (for a split message: this \
                     part's slice of it), any JSON; secrets replaced or removed. Its shape is \
                     the provider's{}",
                    if names.is_empty() {
                        ".".to_owned()
                    } else {
                        format!(": {}.", names.join(", "))
                    }
                ));
            }
        }
    }
}

/// A draft 2020-12 root schema of `T`, its definitions in `$defs`.
pub(super) fn root_schema<T: schemars::JsonSchema>() -> Result<Value> {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let mut schema = serde_json::to_value(generator.into_root_schema_for::<T>())?;
    never_null(&mut schema);
    unwrap_descriptions(&mut schema);
    Ok(schema)
}

/// Doc comments' line breaks as spaces (paragraphs stay apart): schemars
/// keeps the source's wrapping.
pub(super) fn unwrap_descriptions(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::String(text)) = map.get_mut("description") {
                *text = text
                    .split("\n\n")
                    .map(|paragraph| paragraph.replace('\n', " "))
                    .collect::<Vec<_>>()
                    .join("\n\n");
            }
            map.values_mut().for_each(unwrap_descriptions);
        }
        Value::Array(items) => items.iter_mut().for_each(unwrap_descriptions),
        _ => {}
    }
}

/// Removes the `null` schemars allows for every `Option`: the event model
/// skips `None` fields (`skip_serializing_if`), so a null in an event is
/// drift (an `Option` written without it), and the schema refuses it.
pub(super) fn never_null(schema: &mut Value) {
    let Value::Object(map) = schema else {
        if let Value::Array(items) = schema {
            items.iter_mut().for_each(never_null);
        }
        return;
    };
    if let Some(Value::Array(types)) = map.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types.remove(0);
            map.insert("type".to_owned(), only);
        }
    }
    if let Some(Value::Array(choices)) = map.get_mut("anyOf") {
        choices.retain(|c| c.get("type").is_none_or(|t| t != "null"));
        if choices.len() == 1
            && let Some(Value::Object(only)) = choices.pop()
        {
            map.remove("anyOf");
            for (k, v) in only {
                map.entry(k).or_insert(v);
            }
        }
    }
    if map.get("default").is_some_and(Value::is_null) {
        map.remove("default");
    }
    map.values_mut().for_each(never_null);
}

/// Each type's meaning: its doc comment, as schemars carries it into the
/// `oneOf` of `EventType`.
pub(super) fn type_meanings() -> Result<BTreeMap<String, String>> {
    let schema = root_schema::<EventType>()?;
    let mut meanings = BTreeMap::new();
    for variant in schema["oneOf"].as_array().into_iter().flatten() {
        if let (Some(name), Some(text)) =
            (variant["const"].as_str(), variant["description"].as_str())
        {
            meanings.insert(name.to_owned(), text.replace('\n', " "));
        }
    }
    if meanings.len() != EventType::ALL.len() {
        bail!("every EventType variant needs a doc comment (its meaning in the catalog)");
    }
    Ok(meanings)
}
