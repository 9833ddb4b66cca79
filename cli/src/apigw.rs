//! API Gateway HTTP API (payload 2.0) events of the samples, as Lambda
//! receives them behind the stack's API, for `cargo lambda invoke
//! --data-file` (`livehook events apigw`).

use std::path::Path;

use anyhow::{Context, Result};
use livehook::providers::{self, AuthScheme, Imitate};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::samples::{self, Sample};

/// The API id and host the events pretend to come through.
const API_ID: &str = "abc123";
const HOST: &str = "abc123.execute-api.us-east-1.amazonaws.com";
/// 2026-11-25T00:00:00Z: a fixed request time, so that the files only
/// change when a sample or the registry does.
const TIME_EPOCH_MS: i64 = 1_795_564_800_000;

/// What to put in the events.
pub struct Options<'a> {
    /// The `?token=` of providers that take one.
    pub token: &'a str,
    /// Prepare the bodies as the provider would send them now (fresh
    /// timestamps; Tencent signed with `tencent_key`, valid 10 minutes).
    /// Otherwise the samples go as stored (Tencent's keeps the document's
    /// `sign`, so it is refused until re-signed).
    pub fresh: Option<&'a str>,
    /// With [`Options::fresh`], what a signed platform signs with: its
    /// proof headers over the body, made now (valid minutes only).
    pub signing: &'a str,
}

/// The API Gateway event of `sample` delivered by `provider`.
pub fn event_for(provider: &dyn Imitate, sample: &Sample, options: &Options<'_>) -> Value {
    let signed = matches!(provider.auth_scheme(), AuthScheme::Signed(_));
    let now = OffsetDateTime::now_utc();
    let body = match options.fresh {
        Some(key) => {
            let secret = if signed { options.signing } else { key };
            providers::prepared_body(provider, sample.body, Some(secret), now, 0)
        }
        None => sample.body.to_vec(),
    };
    // On the wire as the provider sends it (nginx: a form; Alibaba's stream
    // callbacks: a GET with the fields in the query).
    let wire = providers::wire(provider, &body);
    let body = &wire.body;
    // A signed platform's proof, over those bytes, only when fresh (a stored
    // event would be stale anyway).
    let proof = match options.fresh {
        Some(_) if signed => providers::signed_headers(
            provider,
            body,
            Some(options.signing),
            now,
            wire.target(HOST),
        ),
        _ => providers::chosen_header_map(provider, body)
            .iter()
            .filter_map(|(n, v)| Some((n.to_string(), v.to_str().ok()?.to_owned())))
            .collect(),
    };
    let path = providers::request_path(provider, sample.event);
    let route = format!("ANY {}", providers::route(provider));
    let sending = provider.sending();
    let agent = sending.user_agent.unwrap_or(crate::send::CLI_USER_AGENT);
    let mut headers = json!({
        "user-agent": agent,
        "host": HOST,
        "x-forwarded-proto": "https",
    });
    if let Some(content_type) = wire.content_type {
        headers["content-type"] = Value::from(content_type);
    }
    for (name, value) in sending.headers {
        headers[*name] = Value::from(*value);
    }
    for (name, value) in proof {
        headers[name.to_ascii_lowercase()] = Value::from(value);
    }
    let token = provider.auth_scheme() == AuthScheme::QueryToken;
    let mut query = if token {
        reqwest::Url::parse_with_params("http://h/", [("token", options.token)])
            .ok()
            .and_then(|u| u.query().map(str::to_owned))
            .unwrap_or_default()
    } else {
        String::new()
    };
    if !wire.query.is_empty() {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&wire.query);
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": API_ID,
            "domainName": HOST,
            "domainPrefix": API_ID,
            "http": {
                "method": wire.method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": agent,
            },
            "requestId": format!("sample-{}-{}", provider.name(), sample.event),
            "routeKey": route,
            "stage": "$default",
            "time": "25/Nov/2026:00:00:00 +0000",
            "timeEpoch": TIME_EPOCH_MS,
        },
        "isBase64Encoded": false,
    });
    if wire.method != "GET" {
        event["body"] = Value::from(String::from_utf8_lossy(body));
    }
    if !query.is_empty() {
        // As API Gateway gives them: a repeated name's values comma-joined.
        let mut parameters = serde_json::Map::new();
        let parsed = reqwest::Url::parse(&format!("http://h/?{query}"));
        for (name, value) in parsed.iter().flat_map(reqwest::Url::query_pairs) {
            match parameters.get_mut(name.as_ref()) {
                Some(Value::String(joined)) => {
                    joined.push(',');
                    joined.push_str(&value);
                }
                _ => {
                    parameters.insert(name.into_owned(), Value::from(value.into_owned()));
                }
            }
        }
        event["queryStringParameters"] = Value::Object(parameters);
    }
    if provider.receiving().hook_in_path {
        event["pathParameters"] = json!({"hook": providers::hook_of(sample.event)});
    }
    event
}

/// Writes `<provider>.json` into `dir` for every provider: the event of its
/// example sample. Returns the files written.
pub fn write_all(dir: &Path, options: &Options<'_>) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    for provider in providers::ALL_IMITATE {
        let example = provider.synthetic("livehook-check", "example").0;
        let Ok(sample) = samples::find(provider.name(), example) else {
            eprintln!(
                "note: {} has no sample `{example}` compiled in: no API Gateway event written",
                provider.name()
            );
            continue;
        };
        let path = dir.join(format!("{}.json", provider.name()));
        let text = serde_json::to_string_pretty(&event_for(provider, &sample, options))? + "\n";
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        written.push(path.display().to_string());
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use livehook::providers::{Lal, Tencent};

    #[test]
    fn lal_event_names_its_hook_and_carries_the_token() {
        let sample = samples::find("lal", "on_pub_start").unwrap();
        let options = Options {
            token: "dev-token",
            fresh: None,
            signing: "k:s",
        };
        let event = event_for(&Lal, &sample, &options);
        assert_eq!(event["rawPath"], "/lal/on_pub_start");
        assert_eq!(event["routeKey"], "ANY /lal/{hook}");
        assert_eq!(event["rawQueryString"], "token=dev-token");
        assert_eq!(event["pathParameters"]["hook"], "on_pub_start");
        assert_eq!(event["headers"]["accept-encoding"], "gzip");
        assert_eq!(event["body"].as_str().unwrap().as_bytes(), sample.body);
    }

    #[test]
    fn tencent_event_has_no_token_and_is_signed_when_fresh() {
        let sample = samples::find("tencent", "push").unwrap();
        let options = Options {
            token: "dev-token",
            fresh: Some("k"),
            signing: "k:s",
        };
        let event = event_for(&Tencent, &sample, &options);
        assert_eq!(event["rawQueryString"], "");
        assert!(event.get("queryStringParameters").is_none());
        let body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
        assert!(body["t"].as_i64().unwrap() > OffsetDateTime::now_utc().unix_timestamp());
    }

    #[test]
    fn a_signed_platform_is_signed_when_fresh() {
        let sample = samples::find("mux", "video.live_stream.active").unwrap();
        let fresh = Options {
            token: "dev-token",
            fresh: Some("k"),
            signing: "k:s",
        };
        let event = event_for(&livehook::providers::Mux, &sample, &fresh);
        assert!(
            event["headers"]["mux-signature"]
                .as_str()
                .is_some_and(|v| v.starts_with("t=")),
            "{event}"
        );
        assert_eq!(event["rawQueryString"], "");
        let stored = Options {
            fresh: None,
            ..fresh
        };
        let event = event_for(&livehook::providers::Mux, &sample, &stored);
        assert!(event["headers"].get("mux-signature").is_none());
    }

    /// `cargo lambda invoke --data-file events/apigw/<provider>.json` against
    /// `make dev` must pass the gate: the committed files are exactly what
    /// `livehook events apigw` writes with its defaults (make dev's token).
    #[test]
    fn the_committed_events_are_what_events_apigw_writes() {
        let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/apigw");
        let out = std::env::temp_dir().join(format!("livehook-apigw-{}", std::process::id()));
        let options = Options {
            token: "dev-token-0123456789",
            fresh: None,
            signing: "devkey:dev-signing-secret-0123456789",
        };
        let written = write_all(&out, &options).unwrap();
        assert_eq!(written.len(), providers::ALL_IMITATE.len());
        for path in written {
            let path = Path::new(&path);
            let name = path.file_name().unwrap();
            let fresh = std::fs::read_to_string(path).unwrap();
            let stored = std::fs::read_to_string(committed.join(name)).unwrap_or_default();
            assert!(
                fresh == stored,
                "events/apigw/{} is stale: run `livehook events apigw`",
                name.to_string_lossy()
            );
        }
        std::fs::remove_dir_all(&out).unwrap();
    }
}
