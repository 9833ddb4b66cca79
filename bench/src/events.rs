//! The deliveries the bench sends: API Gateway HTTP API v2 events built
//! from a provider's own description (its synthetic delivery, or one of its
//! `events/` samples with the synthetic's identifying fields transplanted),
//! each made unique, prepared (timestamps, signatures) by the provider.

use livehook::providers::imitate::by_name;
use livehook::providers::{ALL, AuthScheme, Imitate, signed_headers, wire};
use livehook_testkit::samples::{events_dir, load_dir};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

/// A marker nonce: where a provider's synthetic delivery carries it are the
/// fields that identify an event.
const PROBE: &str = "runtime-bench-probe";

/// Every path (object keys, from the root) whose string value contains `needle`.
fn paths_containing(
    value: &Value,
    needle: &str,
    at: &mut Vec<String>,
    found: &mut Vec<Vec<String>>,
) {
    match value {
        Value::String(s) if s.contains(needle) => found.push(at.clone()),
        Value::Object(map) => {
            for (k, v) in map {
                at.push(k.clone());
                paths_containing(v, needle, at, found);
                at.pop();
            }
        }
        _ => {}
    }
}

fn lookup<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, k| v.get(k))
}

fn set_path(map: &mut Map<String, Value>, path: &[String], new: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut here = map;
    for k in parents {
        let entry = here
            .entry(k.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(next) = entry else {
            return;
        };
        here = next;
    }
    here.insert(last.clone(), new);
}

/// Builds API Gateway v2 events for a provider, each made unique by `n` so
/// that it is a new event; the same `n` again is the provider's retry.
#[derive(Clone)]
pub struct Events {
    provider: &'static dyn Imitate,
    /// With `--event`: the sample's name (its hook) and body.
    sample: Option<(String, Map<String, Value>)>,
    token: String,
    tencent_key: String,
    /// The time every delivery is prepared at: a retry must carry its first
    /// delivery's timestamps (Api Server keys by `eventTime`), and the nonce
    /// already makes each event unique.
    prepared_at: OffsetDateTime,
    /// The stream of the synthetic deliveries (default: each one's nonce).
    stream: Option<String>,
    /// A body field set on every delivery, and its value (the client's
    /// stream URL query of an admission hook, carrying a stream key).
    field: Option<(String, String)>,
}

impl Events {
    /// Events of `provider`: its synthetic delivery, or the sample
    /// `events/<provider>/<event>.json`; `token` is the `?token=` sent,
    /// `tencent_key` the key Tencent's deliveries are signed with.
    pub fn new(provider: &str, event: Option<&str>, token: &str, tencent_key: &str) -> Events {
        let name = provider;
        let provider = by_name(name).unwrap_or_else(|| {
            panic!(
                "no provider {:?}; known: {:?}",
                name,
                ALL.iter().map(|p| p.name()).collect::<Vec<_>>()
            )
        });
        let sample = event.map(|event| {
            let sample = load_dir(&events_dir())
                .expect("events/ is readable")
                .into_iter()
                .find(|s| s.provider == provider.name() && s.event == event)
                .unwrap_or_else(|| panic!("no sample events/{}/{event}.json", provider.name()));
            let body: Map<String, Value> =
                serde_json::from_slice(&sample.body).expect("a JSON object sample");
            (sample.kind().to_owned(), body)
        });
        Events {
            provider,
            sample,
            token: token.to_owned(),
            tencent_key: tencent_key.to_owned(),
            prepared_at: OffsetDateTime::now_utc(),
            stream: None,
            field: None,
        }
    }

    /// The synthetic deliveries about `stream` (one stream for all, as the
    /// admissions of one stream key), not each about its nonce.
    pub fn about_stream(mut self, stream: &str) -> Events {
        self.stream = Some(stream.to_owned());
        self
    }

    /// Every delivery with the body field `name` set to `value`.
    pub fn with_field(mut self, name: &str, value: &str) -> Events {
        self.field = Some((name.to_owned(), value.to_owned()));
        self
    }

    /// The `n`th event's body and name; `attempt` > 0 for a resend.
    pub fn body(&self, n: usize, attempt: u32) -> (String, Vec<u8>) {
        let nonce = format!("bench-{n}");
        let (name, mut body) = match &self.sample {
            None => {
                // The nonce as the stream too: some providers key an event by
                // its stream and time, not by the nonce alone.
                let stream = self.stream.as_deref().unwrap_or(&nonce);
                let (name, body) = self.provider.synthetic(stream, &nonce);
                (name.to_owned(), body)
            }
            Some((name, sample)) => {
                // The synthetic delivery shows which fields identify an event.
                let (_, probe) = self.provider.synthetic("bench", PROBE);
                let probe = Value::Object(probe);
                let mut found = Vec::new();
                paths_containing(&probe, PROBE, &mut Vec::new(), &mut found);
                let mut body = sample.clone();
                for path in &found {
                    if let Some(Value::String(s)) = lookup(&probe, path) {
                        set_path(&mut body, path, Value::String(s.replace(PROBE, &nonce)));
                    }
                }
                (name.clone(), body)
            }
        };
        if let Some((field, value)) = &self.field {
            body.insert(field.clone(), Value::String(value.clone()));
        }
        let secret = match self.provider.auth_scheme() {
            AuthScheme::TencentSign => Some(self.tencent_key.as_str()),
            // A platform that signs inside the body (Volcengine) signs there too.
            AuthScheme::Signed(_) => Some(crate::SIGNING_SECRET),
            AuthScheme::QueryToken => None,
        };
        self.provider
            .prepare(&mut body, secret, self.prepared_at, attempt);
        (name, serde_json::to_vec(&body).expect("JSON"))
    }

    /// The `n`th event as the API Gateway v2 request Lambda hands out.
    pub fn event(&self, n: usize, attempt: u32) -> String {
        let (name, body) = self.body(n, attempt);
        let sending = self.provider.sending();
        let path = if self.provider.receiving().hook_in_path {
            format!("/{}/{name}", self.provider.name())
        } else {
            format!("/{}", self.provider.name())
        };
        let (mut query, mut parameters) = match self.provider.auth_scheme() {
            AuthScheme::QueryToken => (
                form_urlencoded_token(&self.token),
                json!({"token": self.token}),
            ),
            AuthScheme::TencentSign | AuthScheme::Signed(_) => (String::new(), Value::Null),
        };
        let user_agent = sending.user_agent.unwrap_or("runtime-bench");
        // The host a platform that signs it (Alibaba) signs for.
        let mut headers = json!({"content-type": "application/json", "user-agent": user_agent,
            "host": "bench.local"});
        for (k, v) in sending.headers {
            headers[k.to_ascii_lowercase()] = json!(v);
        }
        // A delivery the platform sends as a GET (Alibaba's stream
        // callbacks): its fields in the query, no body.
        let on_wire = wire(self.provider, &body);
        let (method, body) = if on_wire.method == "GET" {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(&on_wire.query);
            let fields = form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), Value::from(v.into_owned())))
                .collect();
            parameters = Value::Object(fields);
            headers.as_object_mut().map(|h| h.remove("content-type"));
            ("GET", Vec::new())
        } else {
            ("POST", body)
        };
        // A signed platform's proof over these bytes, signed when built (a
        // resend is signed anew, as the platforms do).
        let proof = signed_headers(
            self.provider,
            &body,
            Some(crate::SIGNING_SECRET),
            OffsetDateTime::now_utc(),
            on_wire.target("bench.local"),
        );
        for (k, v) in proof {
            headers[k.to_ascii_lowercase()] = json!(v);
        }
        let unique = format!("bench-{n}-{attempt}");
        let mut event = json!({
            "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
            "headers": headers,
            "requestContext": {"accountId": "123456789012", "apiId": "bench", "domainName": "bench.local", "domainPrefix": "bench",
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": user_agent},
                "requestId": unique, "routeKey": "$default", "stage": "$default", "time": "", "timeEpoch": 0},
            "body": String::from_utf8(body).expect("UTF-8"), "isBase64Encoded": false
        });
        // API Gateway leaves the parsed query out when there is none.
        if !parameters.is_null() {
            event["queryStringParameters"] = parameters;
        }
        event.to_string()
    }
}

/// `token=<token>`, percent-encoded.
fn form_urlencoded_token(token: &str) -> String {
    let mut out = String::from("token=");
    for b in token.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(events: &Events, n: usize) -> Map<String, Value> {
        let event: Value = serde_json::from_str(&events.event(n, 0)).unwrap();
        serde_json::from_str(event["body"].as_str().unwrap()).unwrap()
    }

    #[test]
    fn admissions_are_about_one_stream_and_carry_the_field() {
        let plain = Events::new("srs", None, "t", "k");
        let keyed = plain
            .clone()
            .about_stream("cam")
            .with_field("param", "?key=K");
        let (a, b) = (body(&keyed, 1), body(&keyed, 2));
        assert_eq!(
            (a["stream"].as_str(), b["stream"].as_str()),
            (Some("cam"), Some("cam"))
        );
        assert_eq!(a["param"], "?key=K");
        assert_ne!(a["client_id"], b["client_id"], "still one event each");
        // Without them: each delivery about its own nonce, nothing added.
        let p = body(&plain, 1);
        assert_eq!(p["stream"], "bench-1");
        assert_eq!(p["param"], "");
    }

    #[test]
    fn every_providers_event_passes_its_gate() {
        // As its function admits it: the token, Tencent's key, or the
        // platform's proof (Volcengine's in the body, Alibaba's stream
        // callback a GET signed for the query's domain).
        use livehook::auth::{Secret, TokenSet, Verifier};
        use livehook::pipeline::{Gate, Limits};
        let verifier = Verifier {
            tokens: TokenSet::parse("bench-token"),
            tencent_key: Some(Secret::new("bench-key")),
            signing: livehook::proof::SigningSecrets::parse(crate::SIGNING_SECRET),
            allow_unauthenticated: false,
            ..Verifier::default()
        };
        for provider in ALL {
            let events = Events::new(provider.name(), None, "bench-token", "bench-key");
            let event = events.event(1, 0);
            // Sent with the method the platform uses for this delivery.
            let sent: Value = serde_json::from_str(&event).unwrap();
            let method = wire(events.provider, &events.body(1, 0).1).method;
            assert_eq!(sent["requestContext"]["http"]["method"], method);
            let request = lambda_http::request::from_str(&event).unwrap();
            let gate = Gate::new(
                provider,
                verifier.clone(),
                Limits {
                    max_body_bytes: 1 << 20,
                    retention: std::time::Duration::from_secs(86_400),
                    replay_window: std::time::Duration::ZERO,
                    max_message_bytes: 262_144,
                },
            );
            let admitted = gate.admit(&request, OffsetDateTime::now_utc(), "bench");
            assert!(admitted.is_ok(), "{}: {admitted:?}", provider.name());
        }
    }
}
