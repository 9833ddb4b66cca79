//! `livehook schema`: the event catalog of `schemas/`, generated from the
//! event model (`schemars` follows its serde attributes) and the registry:
//! every compiled-in sample goes through its provider's adapter, and what
//! the adapters make of them says which providers send each type and which
//! fields they set. Nothing here lists providers or types of its own.
//!
//! Written: `cloudevent.json` (the envelope), `data/<type>.json` (each
//! type's `data`, the URI an event's `dataschema` names), `asyncapi.yaml`
//! (AsyncAPI 3.0: the topic, one message per type with the samples as
//! examples, the attributes subscribers filter on) and, with `--readme`,
//! the README's table of types between its markers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::{Map, Value};

mod asyncapi;
mod catalog;
mod jsonschema;
mod readme;
mod yaml;

use readme::replace_generated;

/// The AsyncAPI document's file.
pub const ASYNCAPI_FILE: &str = "asyncapi.yaml";

#[derive(Debug, Args)]
#[command(
    about = "Write the JSON Schemas and the AsyncAPI document of the published events",
    long_about = "Write the event catalog: JSON Schemas (draft 2020-12) of the CloudEvents \
        envelope and of each type's `data`, and an AsyncAPI 3.0 document of the topic, \
        generated from the event model and the provider registry. Every compiled-in \
        sample goes through its provider's adapter: the providers and fields each type \
        shows come from what the adapters make of them, and the AsyncAPI examples are \
        those envelopes.\n\n\
        Files are replaced; `data/` schemas of types that no longer exist are removed. \
        CI regenerates into a temporary folder and fails on any difference with \
        schemas/ (`make lint`).",
    after_help = "Examples:\n  \
        livehook schema --out schemas --readme README.md\n  \
        livehook schema --out /tmp/s && diff -r schemas /tmp/s"
)]
pub struct SchemaArgs {
    /// The folder to write (created when missing).
    #[arg(long, value_name = "DIR", default_value = "schemas")]
    out: PathBuf,
    /// Also rewrite the table of types between the generated-part markers of this Markdown file.
    #[arg(long, value_name = "FILE")]
    readme: Option<PathBuf>,
}

/// Writes the catalog.
pub fn run(args: SchemaArgs) -> Result<()> {
    let catalog = Catalog::generate()?;
    let data_dir = args.out.join("data");
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let files = catalog.files()?;
    // Schemas of types that were renamed or removed would linger otherwise.
    let current: BTreeSet<PathBuf> = files.iter().map(|(p, _)| args.out.join(p)).collect();
    for entry in std::fs::read_dir(&data_dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") && !current.contains(&path) {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    for (relative, text) in &files {
        let path = args.out.join(relative);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(readme) = &args.readme {
        let text = std::fs::read_to_string(readme)
            .with_context(|| format!("reading {}", readme.display()))?;
        let updated = replace_generated(&text, &catalog.readme_table())
            .with_context(|| format!("in {}", readme.display()))?;
        std::fs::write(readme, updated).with_context(|| format!("writing {}", readme.display()))?;
    }
    eprintln!(
        "livehook schema: {} files in {}{}",
        files.len(),
        args.out.display(),
        args.readme
            .as_ref()
            .map(|r| format!(", table in {}", r.display()))
            .unwrap_or_default()
    );
    Ok(())
}

/// What the samples of one provider show of one type.
#[derive(Debug, Default)]
struct ProviderSeen {
    /// The provider's own event names (`data.provider_event`).
    provider_events: BTreeSet<String>,
    /// The `data` fields set (nested ones as `file.url`), besides
    /// `provider_event` and `raw`.
    fields: BTreeSet<String>,
    /// The first sample without a variant (else the first), as published.
    example: Option<Example>,
}

/// One sample as it reaches the topic.
#[derive(Debug)]
struct Example {
    /// `events/<provider>/<sample>.json`.
    sample: String,
    envelope: Value,
    /// The SNS message attributes it is published with.
    attributes: Map<String, Value>,
}

/// Everything the catalog is generated from.
#[derive(Debug)]
pub struct Catalog {
    /// Per type of [`EventType::ALL`] (same order): per provider of the
    /// registry (its position in `providers::ALL`), what the samples show.
    seen: Vec<BTreeMap<usize, ProviderSeen>>,
    /// Each type's one-line meaning (its doc comment, through the schema).
    meanings: BTreeMap<String, String>,
}

/// `a`, `b` as Markdown code.
fn join_quoted<'a>(names: impl IntoIterator<Item = &'a (impl AsRef<str> + 'a + ?Sized)>) -> String {
    names
        .into_iter()
        .map(|n| format!("`{}`", n.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Pretty JSON with a final newline, keys sorted whatever serde_json's
/// map order is in this build.
fn json_text(value: &Value) -> Result<String> {
    let mut value = value.clone();
    canonical(&mut value);
    Ok(serde_json::to_string_pretty(&value)? + "\n")
}

/// Sorts every map's keys, so the output does not depend on whether some
/// crate of the build turned on serde_json's `preserve_order`.
fn canonical(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.sort_keys();
            map.values_mut().for_each(canonical);
        }
        Value::Array(items) => items.iter_mut().for_each(canonical),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
