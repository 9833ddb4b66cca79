//! The one request flow of every function, in three layers:
//!
//! - [`gate`]: pure checks before any AWS call — method (405) → size (413)
//!   → content decoding → the provider's adapter: authentication (401) and
//!   parsing (400) → replay window (400);
//! - [`flow`]: message and record sizes (413) → one conditional write of
//!   the whole record (new or duplicate: 200);
//! - [`answer`]: the only place where outcomes become HTTP statuses. A
//!   DynamoDB failure or timeout answers 503; SNS is the relay's concern,
//!   never the provider's.

use std::time::Instant;

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use lambda_http::{Body, Request, RequestExt, Response};
use time::OffsetDateTime;

use crate::config::{AdmissionOnFailure, Config};
use crate::error::Rejection;
use crate::event::DataSchemas;
use crate::http_api::{HttpApiRequest, HttpRequest, proxy_response};
use crate::providers::Provider;
use crate::store::IdempotencyStore;
use crate::stream_keys::Required;
use crate::telemetry::{DeliveryLog, Outcome, log_delivery};

mod admission;
pub mod answer;
#[cfg(test)]
pub(crate) mod fakes;
pub mod flow;
pub mod gate;

pub use answer::{Answered, Failure};
pub use flow::Invocation;
pub use gate::{Gate, Limits};

/// The request flow of one provider's function.
pub struct Pipeline<S> {
    gate: Gate,
    store: S,
    admission_on_failure: AdmissionOnFailure,
    stream_keys: Required,
    clock: fn() -> OffsetDateTime,
}

impl<S: IdempotencyStore> Pipeline<S> {
    /// A pipeline for `provider`.
    pub fn new(provider: &'static dyn Provider, config: &Config, store: S) -> Self {
        let limits = Limits {
            max_body_bytes: config.max_body_bytes,
            retention: config.retention,
            replay_window: config.replay_window,
            max_message_bytes: config.max_message_bytes,
        };
        Pipeline {
            gate: Gate::new(provider, config.verifier.clone(), limits)
                .with_redactor(config.redactor.clone())
                .with_data_schemas(DataSchemas::new(&config.schema_base_url))
                .with_settings(config.settings.clone()),
            store,
            admission_on_failure: config.admission_on_failure,
            stream_keys: config.stream_keys,
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
        self.gate.provider()
    }

    /// The store (tests inspect fakes through it).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Handles one Lambda HTTP request: never fails, every outcome is a
    /// response. Logs one line and counts the outcome (EMF; see
    /// [`log_delivery`]).
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let request_id = request
            .lambda_context_ref()
            .map(|c| c.request_id.as_str())
            .unwrap_or_default();
        self.answer(Ok(HttpRequest::of(&request)), request_id).await
    }

    /// Handles one API Gateway HTTP API event, read as is from the Runtime
    /// API by invocation `request_id`: the proxy response (see
    /// [`crate::http_api`]), logged and counted as [`Pipeline::handle`] does.
    pub async fn handle_event(
        &self,
        mut event: HttpApiRequest,
        request_id: &str,
    ) -> ApiGatewayV2httpResponse {
        let body = event.take_body();
        let request = match &body {
            Ok(body) => Ok(event.request(body)),
            Err(rejection) => Err(rejection.clone()),
        };
        proxy_response(self.answer(request, request_id).await)
    }

    /// The response to `request` (or to a request that could not be read),
    /// logged and counted.
    async fn answer(
        &self,
        request: Result<HttpRequest<'_>, Rejection>,
        request_id: &str,
    ) -> Response<Body> {
        let started = Instant::now();
        let now = (self.clock)();
        let fresh;
        let request_id = if request_id.is_empty() {
            fresh = crate::key::fresh();
            fresh.as_str()
        } else {
            request_id
        };
        let invocation = Invocation { request_id, now };

        let (result, query) = match &request {
            Ok(request) => (self.process_http(request, invocation).await, request.query),
            Err(rejection) => (Err(Failure::Rejected(rejection.clone())), ""),
        };
        let query = if query.is_empty() {
            String::new()
        } else {
            self.gate.redactor().log_query(query)
        };
        let provider = self.gate.provider().name();
        let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let detail;
        let log = match &result {
            Ok(accepted) => DeliveryLog {
                request_id,
                provider,
                event_id: Some(&accepted.id),
                event_type: Some(accepted.event_type),
                hook: Some(&accepted.hook),
                subject: Some(&accepted.subject),
                outcome: if accepted.duplicate {
                    Outcome::Duplicate
                } else {
                    Outcome::Accepted
                },
                status: 200,
                detail: None,
                latency_us,
                query: &query,
            },
            Err(failure) => {
                detail = match failure {
                    Failure::Rejected(Rejection::Unauthenticated(why)) => why.as_str().to_owned(),
                    other => other.to_string(),
                };
                DeliveryLog {
                    request_id,
                    provider,
                    event_id: None,
                    event_type: None,
                    hook: None,
                    subject: None,
                    outcome: failure.outcome(),
                    status: failure.status().as_u16(),
                    detail: Some(&detail),
                    latency_us,
                    query: &query,
                }
            }
        };
        log_delivery(
            &log,
            i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0),
        );
        answer::respond(result, self.gate.provider(), self.admission_on_failure)
    }

    /// The flow without HTTP framing: the accepted delivery or the failure.
    pub async fn process(
        &self,
        request: &Request,
        invocation: Invocation<'_>,
    ) -> Result<Answered, Failure> {
        self.process_http(&HttpRequest::of(request), invocation)
            .await
    }

    /// [`Pipeline::process`] for a request however it arrived.
    pub async fn process_http(
        &self,
        request: &HttpRequest<'_>,
        invocation: Invocation<'_>,
    ) -> Result<Answered, Failure> {
        let delivery = self
            .gate
            .admit_http(request, invocation.now, invocation.request_id)?;
        let admission = delivery
            .admission
            .as_ref()
            .filter(|a| self.stream_keys.requires(a.action));
        match admission {
            None => {
                flow::deliver(
                    &self.gate,
                    &self.store,
                    &delivery,
                    invocation,
                    flow::Keyed::default(),
                )
                .await
            }
            Some(admission) => {
                admission::deliver(&self.gate, &self.store, &delivery, admission, invocation).await
            }
        }
    }
}
