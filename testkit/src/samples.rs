//! The sample payloads of `events/`: loading them and turning one into the
//! request a provider would send (route, query, freshly signed body).
//!
//! Used by the unit tests, benchmarks, integration tests and the CLI, so
//! every consumer delivers the samples the same way.

use std::path::{Path, PathBuf};

use serde_json::Value;

use time::OffsetDateTime;

use livehook::auth::Secret;
use livehook::proof::{Scheme, Target};
use livehook::providers::{AuthScheme, Imitate, Wire};

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
    for provider in livehook::providers::ALL.iter().map(|p| p.name()) {
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
        livehook::providers::hook_of(&self.event)
    }

    fn adapter(&self) -> Option<&'static dyn Imitate> {
        livehook::providers::imitate::by_name(&self.provider)
    }

    /// The path the provider POSTs to (`/lal/<hook>` for a provider that
    /// names the event in the path).
    pub fn path(&self) -> String {
        match self.adapter() {
            Some(p) => livehook::providers::request_path(p, &self.event),
            None => format!("/{}", self.provider),
        }
    }

    /// The query string carrying `token` (none for a provider that signs
    /// its body instead).
    pub fn query(&self, token: &str) -> String {
        match self.adapter().map(|p| p.auth_scheme()) {
            Some(AuthScheme::TencentSign | AuthScheme::Signed(_)) => String::new(),
            _ => form_urlencoded::Serializer::new(String::new())
                .append_pair("token", token)
                .finish(),
        }
    }

    /// `body` (a JSON object, as samples hold it) as the provider puts it
    /// on the wire: a `POST`, or a `GET` with the fields in the query where
    /// it sends this body so (Alibaba's stream callbacks).
    pub fn wire(&self, body: &[u8]) -> Wire {
        match self.adapter() {
            Some(p) => livehook::providers::wire(p, body),
            None => Wire {
                method: "POST",
                content_type: Some("application/json"),
                query: String::new(),
                body: body.to_vec(),
            },
        }
    }

    /// The headers a signed platform sends with `body` (the bytes on the
    /// wire) when it signs it with `secret` at `signed_at`, calling
    /// `target` (the host, and the query a `GET` carries); none for other
    /// providers.
    pub fn proof_headers(
        &self,
        body: &[u8],
        secret: &str,
        signed_at: OffsetDateTime,
        target: Target<'_>,
    ) -> Vec<(String, String)> {
        match self.adapter() {
            Some(p) if matches!(p.auth_scheme(), AuthScheme::Signed(_)) => {
                livehook::providers::signed_headers(p, body, Some(secret), signed_at, target)
            }
            _ => Vec::new(),
        }
    }

    /// The body to send with the sample's own timestamps: as is, except
    /// where the provider signs its body, re-signed with expiry `t` (as
    /// Tencent's own retries are).
    pub fn body_signed(&self, tencent_key: &str, t: i64) -> Vec<u8> {
        match self.adapter().map(|p| p.auth_scheme()) {
            Some(AuthScheme::TencentSign) => {
                resign_tencent(&self.body, tencent_key, t).unwrap_or_else(|| self.body.clone())
            }
            _ => self.body.clone(),
        }
    }

    /// The same, and for a platform that signs inside the body (Volcengine)
    /// the body prepared as it sends it 10 minutes before `t`, signed with
    /// `signing_secret` (expiry `t`): what passes its function's gate.
    pub fn body_signed_with(&self, tencent_key: &str, signing_secret: &str, t: i64) -> Vec<u8> {
        match self.adapter().map(|p| p.auth_scheme()) {
            Some(AuthScheme::Signed(proof)) if proof.schemes.contains(&Scheme::BodyExpirySign) => {
                let sent = OffsetDateTime::from_unix_timestamp(t - 600)
                    .unwrap_or(OffsetDateTime::UNIX_EPOCH);
                self.prepared(Some(signing_secret), sent, 0)
            }
            _ => self.body_signed(tencent_key, t),
        }
    }

    /// The body as the provider would send it at `now` (timestamps
    /// refreshed, signed with `secret` where the provider signs), on
    /// attempt `attempt` (0: the first delivery).
    pub fn prepared(&self, secret: Option<&str>, now: OffsetDateTime, attempt: u32) -> Vec<u8> {
        match self.adapter() {
            Some(p) => livehook::providers::prepared_body(p, &self.body, secret, now, attempt),
            None => self.body.clone(),
        }
    }
}

/// A Tencent body with `t` set and `sign` = md5(key + t); `None` if the body
/// is not a JSON object.
pub fn resign_tencent(body: &[u8], key: &str, t: i64) -> Option<Vec<u8>> {
    let mut value: Value = serde_json::from_slice(body).ok()?;
    livehook::providers::sign_tencent(value.as_object_mut()?, &Secret::new(key), t);
    serde_json::to_vec(&value).ok()
}
