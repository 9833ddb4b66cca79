//! What the catalog is generated from: every compiled-in sample
//! delivered through its provider's adapter, and what the adapters make of
//! them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::{Result, anyhow};
use livehook::auth::{Secret, TokenSet, Verifier};
use livehook::event::{DataSchemas, ENVELOPE_SCHEMA_FILE, EventData, EventType, data_schema_path};
use livehook::inbound::Inbound;
use livehook::providers::{self, AuthScheme, Delivery, Provider};
use livehook::sink::Message;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::jsonschema::{root_schema, type_meanings};
use super::{ASYNCAPI_FILE, Catalog, Example, ProviderSeen, canonical, json_text, yaml};
use crate::samples;

/// The fixed receive time samples are delivered at (the time of
/// `events/*/expected.tsv`), so that the generated files never change by
/// themselves.
pub(super) const SAMPLE_CLOCK: i64 = 1_767_225_600;
/// The secret the samples are authenticated with (never a real one).
pub(super) const SAMPLE_SECRET: &str = "schema-sample";

impl Catalog {
    /// Runs every compiled-in sample through its provider's adapter.
    pub fn generate() -> Result<Self> {
        let mut seen: Vec<BTreeMap<usize, ProviderSeen>> =
            EventType::ALL.iter().map(|_| BTreeMap::new()).collect();
        for sample in samples::all() {
            // Folders of events/ that are no provider of this build.
            let Some(position) = providers::ALL
                .iter()
                .position(|p| p.name() == sample.provider)
            else {
                continue;
            };
            let provider = providers::ALL[position];
            let delivery = deliver(provider, &sample)?;
            let variant = sample.event.contains('.');
            for outgoing in &delivery.events {
                let event = &outgoing.event;
                let envelope = serde_json::to_value(event)?;
                let facts = seen[event.event_type as usize].entry(position).or_default();
                facts
                    .provider_events
                    .insert(event.data.provider_event.clone());
                if let Some(data) = envelope["data"].as_object() {
                    collect_fields(data, "", &mut facts.fields);
                }
                let replace = match &facts.example {
                    None => true,
                    // A sample without a variant is the provider's plain case.
                    Some(e) => !variant && e.sample.contains('.') && delivery.events.len() == 1,
                };
                if replace {
                    let body = serde_json::to_string(event)?;
                    let message = Message {
                        body: &body,
                        id: &event.id,
                        provider: provider.name(),
                        event_type: event.event_type.as_str(),
                        stream: outgoing.stream.as_deref(),
                        subject: &event.subject,
                        replay: false,
                        check: false,
                    };
                    facts.example = Some(Example {
                        sample: format!("events/{}/{}.json", sample.provider, sample.event),
                        envelope: envelope.clone(),
                        attributes: message
                            .attributes()
                            .into_iter()
                            .map(|(k, v)| (k.to_owned(), Value::from(v)))
                            .collect(),
                    });
                }
            }
        }
        Ok(Catalog {
            seen,
            meanings: type_meanings()?,
        })
    }

    pub(super) fn seen(&self, event_type: EventType) -> &BTreeMap<usize, ProviderSeen> {
        &self.seen[event_type as usize]
    }

    pub(super) fn meaning(&self, event_type: EventType) -> &str {
        self.meanings
            .get(event_type.as_str())
            .map_or("", String::as_str)
    }

    /// Every file, as (path below the output folder, contents).
    pub fn files(&self) -> Result<Vec<(PathBuf, String)>> {
        let mut files = Vec::new();
        files.push((
            PathBuf::from(ENVELOPE_SCHEMA_FILE),
            json_text(&self.envelope_schema()?)?,
        ));
        let data = root_schema::<EventData>()?;
        for t in EventType::ALL {
            let mut schema = data.clone();
            self.annotate_data(&mut schema, t);
            schema["$id"] = Value::from(DataSchemas::default().uri(t));
            files.push((PathBuf::from(data_schema_path(t)), json_text(&schema)?));
        }
        let mut asyncapi = self.asyncapi()?;
        canonical(&mut asyncapi);
        files.push((PathBuf::from(ASYNCAPI_FILE), yaml::to_yaml(&asyncapi)));
        Ok(files)
    }
}

/// Delivers a sample as its provider would, received at [`SAMPLE_CLOCK`]
/// as the invocation named after it (the keys of `expected.tsv`), and
/// names the schemas as the gate does.
pub(super) fn deliver(provider: &dyn Provider, sample: &samples::Sample) -> Result<Delivery> {
    let now = OffsetDateTime::from_unix_timestamp(SAMPLE_CLOCK)?;
    let secret = Secret::new(SAMPLE_SECRET);
    let mut body = sample.body.to_vec();
    if provider.auth_scheme() == AuthScheme::TencentSign
        && let Ok(Value::Object(mut map)) = serde_json::from_slice(&body)
    {
        // Tencent's `t` is an expiry: ten minutes after the receive time.
        providers::sign_tencent(&mut map, &secret, now.unix_timestamp() + 600);
        body = serde_json::to_vec(&map)?;
    }
    let path = providers::request_path(provider, sample.event);
    let query = format!("token={SAMPLE_SECRET}");
    let request_id = format!("{}/{}", sample.provider, sample.event);
    // What a signed platform chooses before signing (Twitch's message id).
    let headers = providers::chosen_header_map(provider, &body);
    let inbound = Inbound {
        path: &path,
        query: &query,
        headers: &headers,
        body: &body,
        received_at: now,
        request_id: &request_id,
        max_message_bytes: livehook::config::DEFAULT_MAX_MESSAGE_BYTES,
        settings: &livehook::providers::settings::DEFAULTS,
    };
    let verifier = Verifier {
        tokens: TokenSet::parse(SAMPLE_SECRET),
        tencent_key: Some(secret),
        allow_unauthenticated: false,
        ..Verifier::default()
    };
    let mut delivery = provider.accept(&inbound, &verifier).map_err(|r| {
        anyhow!(
            "events/{}/{}.json is refused by its adapter: {r}",
            sample.provider,
            sample.event
        )
    })?;
    DataSchemas::default().stamp(delivery.events.iter_mut().map(|o| &mut o.event));
    Ok(delivery)
}

/// The names of the fields set in `data` (nested objects' as `file.url`),
/// besides `provider_event` and `raw`.
pub(super) fn collect_fields(data: &Map<String, Value>, prefix: &str, into: &mut BTreeSet<String>) {
    for (name, value) in data {
        // Always there: not a fact about the type.
        if prefix.is_empty() && (name == "raw" || name == "provider_event") {
            continue;
        }
        let path = format!("{prefix}{name}");
        // `renditions` is a map of the provider's names, not fields.
        if let Value::Object(inner) = value
            && name != "renditions"
        {
            collect_fields(inner, &format!("{path}."), into);
        }
        into.insert(path);
    }
}
