//! The AsyncAPI 3.0 document of the topic: one message per type, the
//! samples as examples, the attributes subscribers filter on.

use std::fmt::Write as _;

use anyhow::{Result, anyhow};
use livehook::event::{CloudEvent, DEFAULT_SCHEMA_BASE_URL, EventType, data_schema_path};
use livehook::providers;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::Catalog;
use super::jsonschema::{never_null, unwrap_descriptions};
use super::readme::filter_examples;

impl Catalog {
    /// The AsyncAPI 3.0 document.
    pub(super) fn asyncapi(&self) -> Result<Value> {
        // Draft 07 (AsyncAPI's own schema format) with the definitions
        // among the document's components.
        let mut settings = SchemaSettings::draft07();
        settings.definitions_path = "/components/schemas/".into();
        let mut generator = settings.into_generator();
        let envelope_ref = serde_json::to_value(generator.subschema_for::<CloudEvent>())?;
        let mut schemas: Map<String, Value> = generator.take_definitions(true);
        schemas.values_mut().for_each(never_null);
        schemas.values_mut().for_each(unwrap_descriptions);
        let data = schemas
            .get("EventData")
            .cloned()
            .ok_or_else(|| anyhow!("schemars gave no EventData definition"))?;
        let provider_names: Vec<&str> = providers::ALL.iter().map(|p| p.name()).collect();

        let mut messages = Map::new();
        let mut channel_messages = Map::new();
        let mut operation_messages = Vec::new();
        for t in EventType::ALL {
            let name = t.as_str();
            let data_name = format!("{name}.data");
            let mut schema = data.clone();
            self.annotate_data(&mut schema, t);
            schemas.insert(data_name.clone(), schema);
            let seen = self.seen(t);
            let examples: Vec<Value> = seen
                .iter()
                .filter_map(|(&p, facts)| {
                    let e = facts.example.as_ref()?;
                    Some(json!({
                        "name": providers::ALL[p].name(),
                        "summary": format!("{} through the {} adapter", e.sample, providers::ALL[p].name()),
                        "headers": e.attributes,
                        "payload": e.envelope,
                    }))
                })
                .collect();
            let mut message = json!({
                "name": name,
                "title": name,
                "summary": self.meaning(t),
                "contentType": "application/json",
                "headers": attributes_schema(&provider_names, name),
                "payload": {
                    "allOf": [
                        envelope_ref,
                        {
                            "type": "object",
                            "properties": {
                                "type": {"const": name},
                                "dataschema": {
                                    "description": format!(
                                        "`<base>{}`; base {DEFAULT_SCHEMA_BASE_URL} unless the deployment sets LIVEHOOK_SCHEMA_BASE_URL",
                                        data_schema_path(t)
                                    )
                                },
                                "data": {"$ref": format!("#/components/schemas/{data_name}")}
                            }
                        }
                    ]
                },
            });
            if !examples.is_empty() {
                message["examples"] = Value::Array(examples);
            }
            messages.insert(name.to_owned(), message);
            channel_messages.insert(
                name.to_owned(),
                json!({"$ref": format!("#/components/messages/{name}")}),
            );
            operation_messages.push(json!({"$ref": format!("#/channels/events/messages/{name}")}));
        }

        let filters = filter_examples();
        let consumers: Vec<Value> = filters
            .iter()
            .filter(|f| f.string_lists_only())
            .map(|f| {
                json!({
                    "protocol": "sqs",
                    "endpoint": {"name": f.queue},
                    "filterPolicy": f.policy,
                    "filterPolicyScope": "MessageAttributes",
                    "rawMessageDelivery": true,
                    "displayName": f.summary,
                })
            })
            .collect();
        let mut filter_text = String::new();
        for f in &filters {
            let _ = write!(filter_text, "\n- {}: `{}`", f.summary, f.policy);
        }

        Ok(json!({
            "asyncapi": "3.0.0",
            "info": {
                "title": "livehook events",
                "version": env!("CARGO_PKG_VERSION"),
                "description": format!(
                    "The events livehook publishes: one SNS message per event, its body a \
                     CloudEvents 1.0 envelope (structured JSON mode) whose `dataschema` names \
                     the JSON Schema of its `data`. Subscribers filter on the message \
                     attributes (`provider`, `type`, `stream`, `replay`, `livehook_check`). \
                     Filter policies (FilterPolicyScope MessageAttributes):\n{filter_text}\n\n\
                     Generated by `livehook schema` from the event model and the provider \
                     registry; the examples are the samples of events/ through their adapters."
                ),
                "license": {"name": "MIT OR Apache-2.0"},
            },
            "defaultContentType": "application/json",
            "servers": {
                "sns": {
                    "host": "sns.{region}.amazonaws.com",
                    "protocol": "sns",
                    "description": "Amazon SNS in the stack's region.",
                    "variables": {"region": {"default": "us-east-1", "description": "The stack's AWS region."}},
                }
            },
            "channels": {
                "events": {
                    "address": "{stack}-events",
                    "title": "The events topic",
                    "description": "The stack's SNS topic (output `TopicArn`; `{stack}-events.fifo` with TopicType=fifo: MessageGroupId = subject, MessageDeduplicationId = id).",
                    "parameters": {"stack": {"default": "livehook", "description": "The CloudFormation stack name."}},
                    "messages": channel_messages,
                    "bindings": {"sns": {"name": "{stack}-events", "bindingVersion": "0.1.0"}},
                }
            },
            "operations": {
                "publishEvent": {
                    "action": "send",
                    "channel": {"$ref": "#/channels/events"},
                    "title": "Publish an accepted event",
                    "summary": "Every accepted webhook becomes one event per message (a split delivery: several), published at least once with its stable id.",
                    "messages": operation_messages,
                    "bindings": {"sns": {"consumers": consumers, "bindingVersion": "0.1.0"}},
                }
            },
            "components": {
                "schemas": schemas,
                "messages": messages,
            }
        }))
    }
}

/// The SNS message attributes of a `type` message (what `sink::Message`
/// sets), as the AsyncAPI message's headers.
pub(super) fn attributes_schema(provider_names: &[&str], event_type: &str) -> Value {
    json!({
        "type": "object",
        "description": "SNS message attributes (all of type String): filter on them without reading bodies.",
        "properties": {
            "provider": {"type": "string", "enum": provider_names, "description": "The provider that sent the webhook."},
            "type": {"type": "string", "const": event_type, "description": "The event type (the envelope's `type`)."},
            "stream": {"type": "string", "minLength": 1, "description": "The stream identity, only when the event concerns a stream (as in `subject`, without the provider)."},
            "replay": {"type": "string", "const": "true", "description": "Only on re-publications of a stored event (`livehook events replay`)."},
            "livehook_check": {"type": "string", "const": "true", "description": "Only on the synthetic events of `livehook check` (subject ending in /livehook-check)."},
        },
        "required": ["provider", "type"],
        "additionalProperties": false,
    })
}
