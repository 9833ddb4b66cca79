//! The one request flow, and the only place where outcomes become HTTP
//! statuses.
//!
//! method (405) → size (413) → content decoding → adapter: authentication
//! (401) and parsing (400) → replay window (400) → claim (duplicate: 200,
//! in progress: 409) → publish → complete → the provider's 200 reply.
//! Any DynamoDB or SNS failure answers 503 with nothing recorded as done.

use std::io::Read;
use std::time::{Duration, Instant};

use lambda_http::http::{HeaderMap, Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use time::OffsetDateTime;

use crate::auth::Verifier;
use crate::config::Config;
use crate::error::Rejection;
use crate::inbound::{Inbound, redact_query};
use crate::providers::{Delivery, Provider};
use crate::sink::{EventSink, Message, SinkError};
use crate::store::{Claim, ClaimOutcome, IdempotencyStore, StoreError};
use crate::telemetry::{Outcome, emit_metrics};

/// When the invocation has no Lambda context (tests, local tools), a claim
/// lasts this long.
const DEFAULT_CLAIM: Duration = Duration::from_secs(30);

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
}

/// The pure front half of the flow: everything decided before any AWS call
/// (method, size, decoding, the adapter, the replay window). Fuzzed on its
/// own.
pub struct Gate {
    provider: &'static dyn Provider,
    verifier: Verifier,
    settings: Settings,
}

impl Gate {
    /// A gate for `provider`.
    pub fn new(provider: &'static dyn Provider, verifier: Verifier, settings: Settings) -> Self {
        Gate {
            provider,
            verifier,
            settings,
        }
    }

    /// The provider this gate serves.
    pub fn provider(&self) -> &'static dyn Provider {
        self.provider
    }

    /// Admits a request received at `now` as a delivery, or refuses it.
    pub fn admit(&self, request: &Request, now: OffsetDateTime) -> Result<Delivery, Rejection> {
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
        let local_id;
        let request_id = match request.lambda_context_ref().map(|c| c.request_id.as_str()) {
            Some(id) if !id.is_empty() => id,
            _ => {
                local_id = local_request_id(now);
                &local_id
            }
        };
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
        };
        let delivery = self.provider.accept(&inbound, &self.verifier)?;
        let window = self.settings.replay_window;
        match delivery.provider_time {
            Some(at) if !window.is_zero() && now - at > window => Err(Rejection::Stale),
            _ => Ok(delivery),
        }
    }
}

/// A request id unique within this process, for requests that carry no
/// Lambda context (direct calls, tests): never empty, never repeated.
fn local_request_id(now: OffsetDateTime) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!(
        "local-{}-{}-{n}",
        std::process::id(),
        now.unix_timestamp_nanos()
    )
}

/// The request flow of one provider's function.
pub struct Pipeline<S, K> {
    gate: Gate,
    store: S,
    sink: K,
    clock: fn() -> OffsetDateTime,
}

/// Everything that is not a 200, in one type: mapped to a status only in
/// [`Failure::into_response`].
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Refused (4xx): nothing stored or published.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// Another invocation is publishing this event: retry later (409).
    #[error("event is being processed; retry later")]
    InProgress {
        /// Seconds for `Retry-After`.
        retry_after_seconds: u64,
    },
    /// DynamoDB failed (503).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// SNS failed (503); the claim was released.
    #[error(transparent)]
    Sink(#[from] SinkError),
}

impl Failure {
    /// The outcome to log and count.
    pub fn outcome(&self) -> Outcome {
        match self {
            Failure::Rejected(_) => Outcome::Rejected,
            Failure::InProgress { .. } => Outcome::InProgress,
            Failure::Store(_) | Failure::Sink(_) => Outcome::PublishFailed,
        }
    }

    /// The HTTP status of this failure.
    pub fn status(&self) -> StatusCode {
        match self {
            Failure::Rejected(Rejection::MethodNotAllowed) => StatusCode::METHOD_NOT_ALLOWED,
            Failure::Rejected(Rejection::PayloadTooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            Failure::Rejected(Rejection::Unauthenticated(_)) => StatusCode::UNAUTHORIZED,
            Failure::Rejected(Rejection::Malformed(_) | Rejection::Stale) => {
                StatusCode::BAD_REQUEST
            }
            Failure::InProgress { .. } => StatusCode::CONFLICT,
            Failure::Store(_) | Failure::Sink(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The response: a short JSON reason, never internal detail.
    pub fn into_response(self) -> Response<Body> {
        let status = self.status();
        let reason = match &self {
            // What failed inside AWS is for our logs, not for the caller.
            Failure::Store(_) | Failure::Sink(_) => {
                "temporarily unavailable; retry later".to_owned()
            }
            other => other.to_string(),
        };
        let mut builder = Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "application/json");
        match &self {
            Failure::InProgress {
                retry_after_seconds,
            } => {
                builder = builder.header(header::RETRY_AFTER, retry_after_seconds.to_string());
            }
            Failure::Rejected(Rejection::MethodNotAllowed) => {
                builder = builder.header(header::ALLOW, "POST")
            }
            Failure::Store(_) | Failure::Sink(_) => {
                builder = builder.header(header::RETRY_AFTER, "5")
            }
            _ => {}
        }
        let body = serde_json::json!({ "error": reason }).to_string();
        builder
            .body(Body::from(body))
            .unwrap_or_else(|_| Response::new(Body::Empty))
    }
}

/// A successful answer: the provider's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The delivery's key.
    pub id: String,
    /// The reply body.
    pub reply: String,
    /// Whether it was a duplicate of a published event.
    pub duplicate: bool,
}

impl<S: IdempotencyStore, K: EventSink> Pipeline<S, K> {
    /// A pipeline for `provider`.
    pub fn new(provider: &'static dyn Provider, config: &Config, store: S, sink: K) -> Self {
        let settings = Settings {
            max_body_bytes: config.max_body_bytes,
            retention: config.retention,
            replay_window: config.replay_window,
        };
        Pipeline {
            gate: Gate::new(provider, config.verifier.clone(), settings),
            store,
            sink,
            clock: OffsetDateTime::now_utc,
        }
    }

    /// Replaces the clock (tests of expiry and replay windows).
    pub fn with_clock(mut self, clock: fn() -> OffsetDateTime) -> Self {
        self.clock = clock;
        self
    }

    /// The provider this pipeline serves.
    pub fn provider(&self) -> &'static dyn Provider {
        self.gate.provider
    }

    /// Handles one Lambda HTTP request: never fails, every outcome is a
    /// response. Logs one line and one EMF metrics line.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let started = Instant::now();
        let now = (self.clock)();
        let context = request.lambda_context_ref();
        let request_id = context.map_or_else(String::new, |c| c.request_id.clone());
        let deadline = context
            .and_then(|c| i64::try_from(c.deadline).ok())
            .filter(|&ms| ms > 0)
            .and_then(|ms| {
                OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
            })
            .filter(|&d| d > now)
            .unwrap_or(now + DEFAULT_CLAIM);

        let result = self.process(&request, now, deadline).await;

        let query = request.uri().query().map(redact_query).unwrap_or_default();
        let provider = self.gate.provider.name();
        let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let outcome = match &result {
            Ok(accepted) => {
                let outcome = if accepted.0.duplicate {
                    Outcome::Duplicate
                } else {
                    Outcome::Accepted
                };
                tracing::info!(
                    request_id,
                    provider,
                    event_id = accepted.0.id,
                    r#type = accepted.1,
                    outcome = outcome.as_str(),
                    status = 200,
                    latency_us,
                    query,
                    "delivery handled"
                );
                outcome
            }
            Err(failure) => {
                let outcome = failure.outcome();
                let detail = match failure {
                    Failure::Rejected(Rejection::Unauthenticated(why)) => why.as_str().to_owned(),
                    other => other.to_string(),
                };
                tracing::warn!(
                    request_id,
                    provider,
                    outcome = outcome.as_str(),
                    status = failure.status().as_u16(),
                    detail,
                    latency_us,
                    query,
                    "delivery not accepted"
                );
                outcome
            }
        };
        emit_metrics(
            provider,
            outcome,
            i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0),
        );

        match result {
            Ok((accepted, _)) => Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(accepted.reply))
                .unwrap_or_else(|_| Response::new(Body::Empty)),
            Err(failure) => failure.into_response(),
        }
    }

    /// The flow without HTTP framing: the accepted delivery (and its type's
    /// name) or the failure.
    pub async fn process(
        &self,
        request: &Request,
        now: OffsetDateTime,
        deadline: OffsetDateTime,
    ) -> Result<(Accepted, &'static str), Failure> {
        let delivery = self.gate.admit(request, now)?;
        let event_type = delivery.event_type().as_str();
        let accepted = |duplicate| Accepted {
            id: delivery.key.clone(),
            reply: self.gate.provider.reply(&delivery.key),
            duplicate,
        };

        let expires_at = now + self.gate.settings.retention;
        let claim = Claim {
            key: &delivery.key,
            provider: self.gate.provider.name(),
            event_type,
            retry_times: delivery.retry_times,
            sequence: delivery.sequence.as_deref(),
            now,
            in_progress_until: deadline,
            expires_at,
        };
        match self.store.claim(&claim).await? {
            ClaimOutcome::Claimed => {}
            ClaimOutcome::AlreadyCompleted => return Ok((accepted(true), event_type)),
            ClaimOutcome::InProgress { until } => {
                let seconds = until.map_or(1, |u| (u - now).whole_seconds().clamp(1, 60));
                return Err(Failure::InProgress {
                    retry_after_seconds: seconds.unsigned_abs(),
                });
            }
        }

        let envelopes: Vec<String> = delivery
            .events
            .iter()
            .map(|o| serde_json::to_string(&o.event))
            .collect::<Result<_, _>>()
            .map_err(|e| SinkError(format!("serializing the envelope: {e}")))?;
        let messages: Vec<Message<'_>> = delivery
            .events
            .iter()
            .zip(&envelopes)
            .map(|(o, body)| Message {
                body,
                id: &o.event.id,
                provider: self.gate.provider.name(),
                event_type: o.event.event_type.as_str(),
                stream: o.stream.as_deref(),
                subject: &o.event.subject,
                replay: false,
            })
            .collect();
        if let Err(publish_error) = self.sink.publish(&messages).await {
            if let Err(release_error) = self.store.release(&delivery.key).await {
                // The claim lapses at its deadline; the provider's retry then succeeds.
                tracing::error!(event_id = delivery.key, error = %release_error, "could not release claim");
            }
            return Err(publish_error.into());
        }

        // A split delivery stores no single envelope; its parts are in SNS.
        let stored = match envelopes.as_slice() {
            [one] => Some(one.as_str()),
            _ => None,
        };
        if let Err(e) = self.store.complete(&delivery.key, stored, expires_at).await {
            // Published already: answering 503 would make the provider retry
            // into a second publication once the claim lapses. Answer 200.
            tracing::error!(event_id = delivery.key, error = %e, "published but not marked completed");
        }
        Ok((accepted(false), event_type))
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
    use crate::providers::{ApiServer, Bililive, Lal};

    const LIMIT: usize = 4096;

    fn gate(provider: &'static dyn Provider, replay_window: Duration) -> Gate {
        Gate::new(
            provider,
            verifier(),
            Settings {
                max_body_bytes: LIMIT,
                retention: replay_window,
                replay_window,
            },
        )
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
        assert_eq!(
            g.admit(&get, now()).unwrap_err(),
            Rejection::MethodNotAllowed
        );
        let huge = vec![b'x'; LIMIT + 1];
        assert_eq!(
            g.admit(&post("/bililive", "", &huge), now()).unwrap_err(),
            Rejection::PayloadTooLarge { limit: LIMIT }
        );
        assert_eq!(
            g.admit(&post("/bililive", "", b"nope"), now()).unwrap_err(),
            Rejection::Unauthenticated(AuthFailure::MissingToken)
        );
        assert!(matches!(
            g.admit(&post("/bililive", "token=test-token", b"nope"), now()),
            Err(Rejection::Malformed(_))
        ));
        assert!(
            g.admit(
                &post("/bililive", "token=test-token", &bililive_body(RECENT)),
                now()
            )
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
        assert!(g.admit(&r, now()).is_ok());
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
        assert!(g.admit(&gz(&bililive_body(RECENT)), now()).is_ok());
        // A small bomb: 1 MiB of spaces compresses to about a kilobyte.
        let bomb = gz(&vec![b' '; 1 << 20]);
        assert!(bomb.body().len() < LIMIT);
        assert_eq!(
            g.admit(&bomb, now()).unwrap_err(),
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
            g.admit(&not_gzip, now()),
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
        assert!(matches!(
            g.admit(&brotli, now()),
            Err(Rejection::Malformed(_))
        ));
    }

    #[test]
    fn replay_window_both_sides() {
        let g = gate(&Bililive, DAY);
        let inside = "2025-12-31T00:00:01.0000000+00:00"; // 23:59:59 before now()
        let outside = "2025-12-30T23:59:59.0000000+00:00"; // a day and a second before
        assert!(
            g.admit(
                &post("/bililive", "token=test-token", &bililive_body(inside)),
                now()
            )
            .is_ok()
        );
        assert_eq!(
            g.admit(
                &post("/bililive", "token=test-token", &bililive_body(outside)),
                now()
            )
            .unwrap_err(),
            Rejection::Stale
        );
        // Zero turns the window off.
        let open = gate(&Bililive, Duration::ZERO);
        assert!(
            open.admit(
                &post("/bililive", "token=test-token", &bililive_body(outside)),
                now()
            )
            .is_ok()
        );
        // lal sends no timestamp: never stale.
        let lal = gate(&Lal, DAY);
        let body = br#"{"server_id":"1","session_id":"S1"}"#;
        assert!(
            lal.admit(&post("/lal/on_pub_start", "token=test-token", body), now())
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
                matches!(lal.admit(&r, now()), Err(Rejection::Malformed(_))),
                "{path}"
            );
        }
        let d = lal
            .admit(
                &post("/stage/lal/on_pub_start", "token=test-token", body),
                now(),
            )
            .unwrap();
        assert_eq!(d.events[0].event.data.provider_event, "on_pub_start");
    }

    #[test]
    fn failures_map_to_the_contract_statuses() {
        let cases = [
            (Failure::Rejected(Rejection::MethodNotAllowed), 405),
            (
                Failure::Rejected(Rejection::PayloadTooLarge { limit: 1 }),
                413,
            ),
            (
                Failure::Rejected(Rejection::Unauthenticated(AuthFailure::WrongToken)),
                401,
            ),
            (Failure::Rejected(Rejection::malformed("x")), 400),
            (Failure::Rejected(Rejection::Stale), 400),
            (
                Failure::InProgress {
                    retry_after_seconds: 3,
                },
                409,
            ),
            (Failure::Store(StoreError("secret detail".into())), 503),
            (Failure::Sink(SinkError("secret detail".into())), 503),
        ];
        for (failure, status) in cases {
            let response = failure.into_response();
            assert_eq!(response.status().as_u16(), status);
            let body = String::from_utf8(response.body().to_vec()).unwrap();
            assert!(
                !body.contains("secret detail") && !body.contains("WrongToken"),
                "{body}"
            );
            if status == 409 {
                assert_eq!(response.headers()[header::RETRY_AFTER], "3");
            }
            if status == 405 {
                assert_eq!(response.headers()[header::ALLOW], "POST");
            }
        }
        let _ = ApiServer;
    }
}
