//! The sample payloads of `events/`: loading them and turning one into the
//! request a provider would send (route, query, freshly signed body).
//!
//! Used by the unit tests, benchmarks, integration tests and the CLI, so
//! every consumer delivers the samples the same way.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::auth::{Secret, tencent_sign};

/// One sample payload: `events/<provider>/<event>.json`.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Provider name (the folder).
    pub provider: String,
    /// Event name (the file stem); for lal, the hook is the part before the
    /// first `.`.
    pub event: String,
    /// The body as the provider sends it.
    pub body: Vec<u8>,
}

/// The workspace's `events/` folder (for tests and benchmarks in this
/// repository).
pub fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("events")
}

/// Every `<provider>/<event>.json` under `dir` for every provider of the
/// registry,
/// sorted by provider and event. Other folders (`apigw/`) are skipped.
pub fn load_dir(dir: &Path) -> std::io::Result<Vec<Sample>> {
    let mut samples = Vec::new();
    for provider in crate::providers::ALL.iter().map(|p| p.name()) {
        let folder = dir.join(provider);
        if !folder.is_dir() {
            continue;
        }
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let Some(event) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            samples.push(Sample {
                provider: provider.to_owned(),
                event: event.to_owned(),
                body: std::fs::read(&path)?,
            });
        }
    }
    samples.sort_by(|a, b| (&a.provider, &a.event).cmp(&(&b.provider, &b.event)));
    Ok(samples)
}

impl Sample {
    /// The provider's own event name (for lal, the hook).
    pub fn kind(&self) -> &str {
        self.event.split('.').next().unwrap_or(&self.event)
    }

    /// The path the provider POSTs to (`/lal/<hook>` for lal).
    pub fn path(&self) -> String {
        match self.provider.as_str() {
            "lal" => format!("/lal/{}", self.kind()),
            other => format!("/{other}"),
        }
    }

    /// The query string carrying `token` (none for Tencent, which signs).
    pub fn query(&self, token: &str) -> String {
        if self.provider == "tencent" {
            String::new()
        } else {
            form_urlencoded::Serializer::new(String::new())
                .append_pair("token", token)
                .finish()
        }
    }

    /// The body to send: as is, except Tencent's, re-signed with expiry `t`
    /// (as Tencent's own retries are).
    pub fn body_signed(&self, tencent_key: &str, t: i64) -> Vec<u8> {
        if self.provider != "tencent" {
            return self.body.clone();
        }
        resign_tencent(&self.body, tencent_key, t).unwrap_or_else(|| self.body.clone())
    }
}

/// A Tencent body with `t` set and `sign` = md5(key + t); `None` if the body
/// is not a JSON object.
pub fn resign_tencent(body: &[u8], key: &str, t: i64) -> Option<Vec<u8>> {
    let mut value: Value = serde_json::from_slice(body).ok()?;
    let map = value.as_object_mut()?;
    map.insert("t".into(), Value::from(t));
    map.insert(
        "sign".into(),
        Value::from(tencent_sign(&Secret::new(key), &t.to_string())),
    );
    serde_json::to_vec(&value).ok()
}
