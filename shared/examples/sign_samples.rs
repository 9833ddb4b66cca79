//! Every sample of the signed platforms (the registry's providers whose
//! auth is [`AuthScheme::Signed`]), prepared and signed now exactly as
//! `livehook send` signs it ([`prepared_body`], [`wire`],
//! [`signed_headers`]), one JSON line each (`provider`, `sample`, `secret`,
//! `method`, `query` (a GET's fields), `headers`, `body`): what
//! `scripts/vendors/` hands to each vendor's own verifier (`make
//! vendor-verify`).

use std::path::Path;

use livehook::providers::{
    ALL_IMITATE, AuthScheme, prepared_body, request_path, signed_headers, wire,
};
use time::OffsetDateTime;

/// A throwaway `KEY:SECRET` pair: LiveKit reads an API key and its secret,
/// the other platforms the whole text as their secret.
const SECRET: &str = "APIvendorcheck:vendor-check-secret-0123456789abcdef";

/// The host the deliveries are addressed to.
const HOST: &str = "hooks.example.com";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let events = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let now = OffsetDateTime::now_utc();
    let signed = ALL_IMITATE
        .iter()
        .filter(|p| matches!(p.auth_scheme(), AuthScheme::Signed(_)));
    for provider in signed {
        let mut files: Vec<_> = std::fs::read_dir(events.join(provider.name()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        for file in files {
            let sample = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            let body = std::fs::read(&file)?;
            let body = prepared_body(*provider, &body, Some(SECRET), now, 0);
            let wire = wire(*provider, &body);
            let target = wire.target(HOST);
            let headers = signed_headers(*provider, &wire.body, Some(SECRET), now, target);
            let line = serde_json::json!({
                "provider": provider.name(),
                "sample": sample,
                "path": request_path(*provider, sample),
                "host": HOST,
                "secret": SECRET,
                "method": wire.method,
                "query": wire.query,
                "headers": headers
                    .into_iter()
                    .map(|(n, v)| (n, serde_json::Value::String(v)))
                    .collect::<serde_json::Map<_, _>>(),
                "body": String::from_utf8(wire.body)?,
            });
            println!("{line}");
        }
    }
    Ok(())
}
