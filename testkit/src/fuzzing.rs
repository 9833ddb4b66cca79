//! Fuzz harness entry points, shared by the AFL targets in `fuzz/` and the
//! regression test that replays the crashing inputs they found
//! (`testkit/tests/fuzz_regressions.rs`), so both decode inputs the same way.
//!
//! Input formats (also what `scripts/fuzz.sh` seeds the corpora with):
//! - adapter: the body; for providers that name the event in the path
//!   (lal), `<hook>\n<body>`. Bodies of providers that sign them (Tencent)
//!   are re-signed with a fresh `t` when they are JSON objects, so the fuzzer
//!   reaches the code behind the signature check.
//! - request: `<method>\0<path>\0<query>\0<header lines>\0<body>`.

use crate::samples::resign_tencent;
use lambda_http::RequestExt;
use lambda_http::http::HeaderMap;
use livehook::auth::{Secret, TokenSet, Verifier};
use livehook::inbound::Inbound;
use livehook::pipeline::{Gate, Limits};
use livehook::providers::{AuthScheme, Provider, by_name};
use time::OffsetDateTime;

/// The token the fuzz verifier accepts.
pub const TOKEN: &str = "fuzz-token";
/// The Tencent key the fuzz verifier uses.
pub const TENCENT_KEY: &str = "fuzz-key";

/// The provider named by `LIVEHOOK_FUZZ_PROVIDER` (default `lal`).
pub fn provider() -> &'static dyn Provider {
    let name = std::env::var("LIVEHOOK_FUZZ_PROVIDER").unwrap_or_else(|_| "lal".into());
    by_name(&name).unwrap_or_else(|| panic!("unknown provider {name}"))
}

/// The verifier every fuzz input is checked against.
pub fn verifier() -> Verifier {
    Verifier {
        tokens: TokenSet::parse(TOKEN),
        tencent_key: Some(Secret::new(TENCENT_KEY)),
        allow_unauthenticated: false,
        ..Verifier::default()
    }
}

/// The fixed receive time of fuzz inputs.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Runs one `adapter` input.
pub fn run_adapter(provider: &dyn Provider, verifier: &Verifier, data: &[u8]) {
    let headers = HeaderMap::new();
    let (path, body) = if provider.receiving().hook_in_path {
        match data.iter().position(|&b| b == b'\n') {
            Some(i) => (
                format!(
                    "/{}/{}",
                    provider.name(),
                    String::from_utf8_lossy(&data[..i])
                ),
                &data[i + 1..],
            ),
            // No hook line: the provider's example event.
            None => {
                let example = livehook::providers::imitate::of(provider)
                    .map_or("", |imitation| imitation.synthetic("", "").0);
                (livehook::providers::request_path(provider, example), data)
            }
        }
    } else {
        (format!("/{}", provider.name()), data)
    };
    let signed;
    let body = if provider.auth_scheme() == AuthScheme::TencentSign {
        signed = resign_tencent(body, TENCENT_KEY, now().unix_timestamp() + 600);
        signed.as_deref().unwrap_or(body)
    } else {
        body
    };
    let query = format!("token={TOKEN}");
    let inbound = Inbound {
        path: &path,
        query: &query,
        headers: &headers,
        body,
        received_at: now(),
        request_id: "fuzz",
        // Small, so that the split path is reached.
        max_message_bytes: 16 * 1024,
        settings: &livehook::providers::settings::DEFAULTS,
    };
    if let Ok(delivery) = provider.accept(&inbound, verifier) {
        // Serializing is part of the path to SNS: it must not fail either.
        for outgoing in &delivery.events {
            assert!(
                serde_json::to_string(&outgoing.event).is_ok(),
                "an accepted event serializes"
            );
        }
    }
}

/// Runs one `request` input through the pipeline's gate.
pub fn run_request(gate: &Gate, data: &[u8]) {
    let mut parts = data.splitn(5, |&b| b == 0);
    let method = match parts.next().and_then(|m| m.first()) {
        Some(b) if b % 8 == 0 => "GET",
        Some(b) if b % 8 == 1 => "PUT",
        _ => "POST",
    };
    let path = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let query = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let headers = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default().to_vec();

    let uri = format!(
        "https://fuzz.example/{}?{}",
        path.trim_start_matches('/'),
        query
    );
    let Ok(uri) = uri.parse::<lambda_http::http::Uri>() else {
        return;
    };
    let mut builder = lambda_http::http::Request::builder()
        .method(method)
        .uri(uri);
    for line in headers.split(|&b| b == b'\n') {
        if let Some(i) = line.iter().position(|&b| b == b':') {
            builder = builder.header(&line[..i], &line[i + 1..]);
        }
    }
    let Ok(request) = builder.body(lambda_http::Body::from(body)) else {
        return;
    };
    let request = request.with_raw_http_path(path);
    let _ = gate.admit(&request, now(), "fuzz");
}

/// The gate under test, with the body limit low enough to be reached.
pub fn gate(provider: &'static dyn Provider) -> Gate {
    let window = std::time::Duration::from_secs(7 * 86_400);
    Gate::new(
        provider,
        verifier(),
        Limits {
            max_body_bytes: 64 * 1024,
            retention: window,
            replay_window: window,
            max_message_bytes: 16 * 1024,
        },
    )
}
