//! Every sample of the signed platforms, prepared and signed now as
//! `livehook send` signs it, one JSON line each (`provider`, `sample`,
//! `secret`, `headers`, `body`): what `scripts/vendors/` hands to each
//! vendor's own verifier (`make vendor-verify`).

use std::path::Path;

use livehook::providers::{AuthScheme, Imitate, LiveKit, Mux, Twitch, prepared_body};
use time::OffsetDateTime;

/// The signed platforms (registered ones join the registry's walk).
const SIGNED: &[&dyn Imitate] = &[&LiveKit, &Mux, &Twitch];

/// A throwaway `KEY:SECRET` pair: LiveKit reads an API key and its secret,
/// the other platforms the whole text as their secret.
const SECRET: &str = "APIvendorcheck:vendor-check-secret-0123456789abcdef";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let events = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let now = OffsetDateTime::now_utc();
    for provider in SIGNED {
        let AuthScheme::Signed(proof) = provider.auth_scheme() else {
            continue;
        };
        let mut files: Vec<_> = std::fs::read_dir(events.join(provider.name()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        for file in files {
            let sample = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            let body = std::fs::read(&file)?;
            let body = String::from_utf8(body)?.trim_end().as_bytes().to_vec();
            let body = prepared_body(*provider, &body, Some(SECRET), now, 0);
            // Twitch signs its message id, chosen before signing.
            let mut headers = Vec::new();
            if provider.name() == "twitch" {
                headers.push((
                    "twitch-eventsub-message-id".to_owned(),
                    format!("{sample}-0001"),
                ));
            }
            livehook::proof::sign(proof, SECRET, &body, now, "hooks.example.com", &mut headers);
            let line = serde_json::json!({
                "provider": provider.name(),
                "sample": sample,
                "secret": SECRET,
                "headers": headers
                    .into_iter()
                    .map(|(n, v)| (n, serde_json::Value::String(v)))
                    .collect::<serde_json::Map<_, _>>(),
                "body": String::from_utf8(body)?,
            });
            println!("{line}");
        }
    }
    Ok(())
}
