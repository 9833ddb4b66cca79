//! The pure front half of the flow: method (405) → size (413) → content
//! decoding → the provider's adapter: authentication (401) and parsing
//! (400) → replay window (400). No AWS call; fuzzed on its own.

use std::io::Read;
use std::time::Duration;

use lambda_http::http::{HeaderMap, Method, header};
use lambda_http::{Request, RequestExt};
use time::OffsetDateTime;

use crate::auth::Verifier;
use crate::error::Rejection;
use crate::event::DataSchemas;
use crate::inbound::Inbound;
use crate::providers::{Delivery, Provider};

/// Limits and windows of the pipeline.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Bodies above this (raw or decoded) are refused with 413.
    pub max_body_bytes: usize,
    /// Idempotency record lifetime (DynamoDB TTL).
    pub retention: Duration,
    /// Events whose own timestamp is older than this are refused; zero turns
    /// the check off.
    pub replay_window: Duration,
    /// The topic's `MaximumMessageSize`: every message must fit it.
    pub max_message_bytes: usize,
}

/// The pure front half of the flow: everything decided before any AWS call
/// (method, size, decoding, the adapter, the replay window). Fuzzed on its
/// own.
pub struct Gate {
    provider: &'static dyn Provider,
    verifier: Verifier,
    settings: Settings,
    data_schemas: DataSchemas,
}

impl Gate {
    /// A gate for `provider`; its events name the schemas under
    /// [`crate::event::DEFAULT_SCHEMA_BASE_URL`] (see [`Gate::with_data_schemas`]).
    pub fn new(provider: &'static dyn Provider, verifier: Verifier, settings: Settings) -> Self {
        Gate {
            provider,
            verifier,
            settings,
            data_schemas: DataSchemas::default(),
        }
    }

    /// Names the schemas of `data_schemas` in every event's `dataschema`
    /// (`LIVEHOOK_SCHEMA_BASE_URL`).
    pub fn with_data_schemas(mut self, data_schemas: DataSchemas) -> Self {
        self.data_schemas = data_schemas;
        self
    }

    /// The provider this gate serves.
    pub fn provider(&self) -> &'static dyn Provider {
        self.provider
    }

    /// The limits this gate applies.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Admits a request received at `now` by invocation `request_id` as a
    /// delivery, or refuses it.
    pub fn admit(
        &self,
        request: &Request,
        now: OffsetDateTime,
        request_id: &str,
    ) -> Result<Delivery, Rejection> {
        if request.method() != Method::POST {
            return Err(Rejection::MethodNotAllowed);
        }
        let raw = request.body().as_ref();
        let limit = self.settings.max_body_bytes;
        if raw.len() > limit {
            return Err(Rejection::PayloadTooLarge { limit });
        }
        let decoded = decode_body(request.headers(), raw, limit)?;
        // The raw path as the client sent it: the URI's path is normalized
        // (`/lal/x/..` → `/lal/`), which would turn traversal into a hook name.
        let raw_path = request.raw_http_path();
        let inbound = Inbound {
            path: if raw_path.is_empty() {
                request.uri().path()
            } else {
                raw_path
            },
            query: request.uri().query().unwrap_or(""),
            headers: request.headers(),
            body: decoded.as_deref().unwrap_or(raw),
            received_at: now,
            request_id,
            max_message_bytes: self.settings.max_message_bytes,
        };
        let mut delivery = self.provider.accept(&inbound, &self.verifier)?;
        // Adapters see no configuration: the schema URI is the gate's to add.
        self.data_schemas
            .stamp(delivery.events.iter_mut().map(|o| &mut o.event));
        let window = self.settings.replay_window;
        match delivery.provider_time {
            Some(at) if !window.is_zero() && now - at > window => Err(Rejection::Stale),
            _ => Ok(delivery),
        }
    }
}

/// Decodes a `Content-Encoding: gzip` body (lal's Go client advertises gzip),
/// refusing a decoded size above `limit`. `None` when the body is used as is.
fn decode_body(
    headers: &HeaderMap,
    raw: &[u8],
    limit: usize,
) -> Result<Option<Vec<u8>>, Rejection> {
    let Some(encoding) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(None);
    };
    let encoding = encoding.to_str().unwrap_or("").trim().to_ascii_lowercase();
    match encoding.as_str() {
        "" | "identity" => Ok(None),
        "gzip" | "x-gzip" => {
            let mut decoded = Vec::new();
            // Read one byte past the limit to tell "exactly at" from "above".
            flate2::read::GzDecoder::new(raw)
                .take(limit as u64 + 1)
                .read_to_end(&mut decoded)
                .map_err(|_| Rejection::malformed("body is not valid gzip"))?;
            if decoded.len() > limit {
                return Err(Rejection::PayloadTooLarge { limit });
            }
            Ok(Some(decoded))
        }
        _ => Err(Rejection::malformed("unsupported Content-Encoding")),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use base64::Engine;
    use serde_json::{Value, json};

    use super::*;
    use crate::error::AuthFailure;
    use crate::providers::testing::{now, verifier};
    use crate::providers::{Bililive, Lal};

    const LIMIT: usize = 4096;

    fn gate(provider: &'static dyn Provider, replay_window: Duration) -> Gate {
        Gate::new(
            provider,
            verifier(),
            Settings {
                max_body_bytes: LIMIT,
                retention: replay_window,
                replay_window,
                max_message_bytes: 262_144,
            },
        )
    }

    /// Admits at the fixed test clock, as invocation `r`.
    trait AdmitNow {
        fn admit_now(&self, request: &Request) -> Result<Delivery, Rejection>;
    }

    impl AdmitNow for Gate {
        fn admit_now(&self, request: &Request) -> Result<Delivery, Rejection> {
            self.admit(request, now(), "r")
        }
    }

    /// A request as lambda_http builds it from an API Gateway HTTP API v2 event.
    fn request(
        method: &str,
        path: &str,
        query: &str,
        headers: Value,
        body: &[u8],
        base64: bool,
    ) -> Request {
        let body = if base64 {
            base64::engine::general_purpose::STANDARD.encode(body)
        } else {
            String::from_utf8(body.to_vec()).unwrap()
        };
        let event = json!({
            "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
            "headers": headers, "isBase64Encoded": base64, "body": body,
            "requestContext": {"accountId": "1", "apiId": "a", "domainName": "x.example", "domainPrefix": "x",
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"},
                "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "", "timeEpoch": 0}
        });
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    fn bililive_body(timestamp: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({"EventType": "SessionStarted", "EventId": "e1", "EventTimestamp": timestamp, "EventData": {"RoomId": 1}}))
            .unwrap()
    }

    fn post(path: &str, query: &str, body: &[u8]) -> Request {
        request(
            "POST",
            path,
            query,
            json!({"content-type": "application/json"}),
            body,
            false,
        )
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    const DAY: Duration = Duration::from_secs(86_400);
    const RECENT: &str = "2025-12-31T23:00:00.0000000+00:00";

    #[test]
    fn method_then_size_then_token_then_body() {
        let g = gate(&Bililive, DAY);
        let get = request("GET", "/bililive", "", json!({}), b"", false);
        assert_eq!(g.admit_now(&get).unwrap_err(), Rejection::MethodNotAllowed);
        let huge = vec![b'x'; LIMIT + 1];
        assert_eq!(
            g.admit_now(&post("/bililive", "", &huge)).unwrap_err(),
            Rejection::PayloadTooLarge { limit: LIMIT }
        );
        assert_eq!(
            g.admit_now(&post("/bililive", "", b"nope")).unwrap_err(),
            Rejection::Unauthenticated(AuthFailure::MissingToken)
        );
        assert!(matches!(
            g.admit_now(&post("/bililive", "token=test-token", b"nope")),
            Err(Rejection::Malformed(_))
        ));
        assert!(
            g.admit_now(&post(
                "/bililive",
                "token=test-token",
                &bililive_body(RECENT)
            ))
            .is_ok()
        );
    }

    #[test]
    fn base64_bodies_from_api_gateway_are_decoded() {
        let g = gate(&Bililive, DAY);
        let r = request(
            "POST",
            "/bililive",
            "token=test-token",
            json!({}),
            &bililive_body(RECENT),
            true,
        );
        assert!(g.admit_now(&r).is_ok());
    }

    #[test]
    fn gzip_bodies_are_decoded_within_the_limit() {
        let g = gate(&Bililive, DAY);
        let gz = |body: &[u8]| {
            request(
                "POST",
                "/bililive",
                "token=test-token",
                json!({"content-encoding": "gzip"}),
                &gzip(body),
                true,
            )
        };
        assert!(g.admit_now(&gz(&bililive_body(RECENT))).is_ok());
        // A small bomb: 1 MiB of spaces compresses to about a kilobyte.
        let bomb = gz(&vec![b' '; 1 << 20]);
        assert!(bomb.body().len() < LIMIT);
        assert_eq!(
            g.admit_now(&bomb).unwrap_err(),
            Rejection::PayloadTooLarge { limit: LIMIT }
        );
        let not_gzip = request(
            "POST",
            "/bililive",
            "token=test-token",
            json!({"content-encoding": "gzip"}),
            b"{}",
            false,
        );
        assert!(matches!(
            g.admit_now(&not_gzip),
            Err(Rejection::Malformed(_))
        ));
        let brotli = request(
            "POST",
            "/bililive",
            "token=test-token",
            json!({"content-encoding": "br"}),
            b"{}",
            false,
        );
        assert!(matches!(g.admit_now(&brotli), Err(Rejection::Malformed(_))));
    }

    #[test]
    fn replay_window_both_sides() {
        let g = gate(&Bililive, DAY);
        let inside = "2025-12-31T00:00:01.0000000+00:00"; // 23:59:59 before now()
        let outside = "2025-12-30T23:59:59.0000000+00:00"; // a day and a second before
        assert!(
            g.admit_now(&post(
                "/bililive",
                "token=test-token",
                &bililive_body(inside)
            ))
            .is_ok()
        );
        assert_eq!(
            g.admit_now(&post(
                "/bililive",
                "token=test-token",
                &bililive_body(outside)
            ))
            .unwrap_err(),
            Rejection::Stale
        );
        // Zero turns the window off.
        let open = gate(&Bililive, Duration::ZERO);
        assert!(
            open.admit_now(&post(
                "/bililive",
                "token=test-token",
                &bililive_body(outside)
            ))
            .is_ok()
        );
        // lal sends no timestamp: never stale.
        let lal = gate(&Lal, DAY);
        let body = br#"{"server_id":"1","session_id":"S1"}"#;
        assert!(
            lal.admit_now(&post("/lal/on_pub_start", "token=test-token", body))
                .is_ok()
        );
    }

    #[test]
    fn lal_sees_the_raw_path_not_a_normalized_one() {
        let lal = gate(&Lal, DAY);
        let body = br#"{"server_id":"1","session_id":"S1"}"#;
        for path in [
            "/lal/on_pub_start/..",
            "/lal/%2e%2e",
            "/lal/on_pub_start/../../etc",
        ] {
            let r = post(path, "token=test-token", body);
            assert!(
                matches!(lal.admit_now(&r), Err(Rejection::Malformed(_))),
                "{path}"
            );
        }
        let d = lal
            .admit_now(&post("/stage/lal/on_pub_start", "token=test-token", body))
            .unwrap();
        assert_eq!(d.events[0].event.data.provider_event, "on_pub_start");
    }

    #[test]
    fn every_admitted_event_names_its_type_schema() {
        let body = br#"{"server_id":"1","session_id":"S1"}"#;
        let request = post("/lal/on_pub_start", "token=test-token", body);
        let d = gate(&Lal, DAY).admit_now(&request).unwrap();
        assert_eq!(
            d.events[0].event.dataschema,
            format!(
                "{}data/stream.started.json",
                crate::event::DEFAULT_SCHEMA_BASE_URL
            )
        );
        let elsewhere =
            gate(&Lal, DAY).with_data_schemas(DataSchemas::new("https://schemas.example"));
        let d = elsewhere.admit_now(&request).unwrap();
        assert_eq!(
            d.events[0].event.dataschema,
            "https://schemas.example/data/stream.started.json"
        );
    }
}
