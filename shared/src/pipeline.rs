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

/// The request flow of one provider's function.
pub struct Pipeline<S, K> {
    provider: &'static dyn Provider,
    verifier: Verifier,
    settings: Settings,
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
        Pipeline {
            provider,
            verifier: config.verifier.clone(),
            settings: Settings {
                max_body_bytes: config.max_body_bytes,
                retention: config.retention,
                replay_window: config.replay_window,
            },
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
        self.provider
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
        let provider = self.provider.name();
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
        if request.method() != Method::POST {
            return Err(Rejection::MethodNotAllowed.into());
        }
        let raw = request.body().as_ref();
        let limit = self.settings.max_body_bytes;
        if raw.len() > limit {
            return Err(Rejection::PayloadTooLarge { limit }.into());
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
        };
        let delivery = self.provider.accept(&inbound, &self.verifier)?;
        self.check_replay_window(&delivery, now)?;
        let event_type = delivery.event_type().as_str();
        let accepted = |duplicate| Accepted {
            id: delivery.key.clone(),
            reply: self.provider.reply(&delivery.key),
            duplicate,
        };

        let expires_at = now + self.settings.retention;
        let claim = Claim {
            key: &delivery.key,
            provider: self.provider.name(),
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
                provider: self.provider.name(),
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

    fn check_replay_window(
        &self,
        delivery: &Delivery,
        now: OffsetDateTime,
    ) -> Result<(), Rejection> {
        let window = self.settings.replay_window;
        match delivery.provider_time {
            Some(at) if !window.is_zero() && now - at > window => Err(Rejection::Stale),
            _ => Ok(()),
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
