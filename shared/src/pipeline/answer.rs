//! The answer: the only place where outcomes become HTTP statuses and
//! bodies.

use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Response};

use crate::config::AdmissionOnFailure;
use crate::error::Rejection;
use crate::providers::Provider;
use crate::store::StoreError;
use crate::stream_keys::Reason;
use crate::telemetry::Outcome;

/// Everything that is not a 200, in one type.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Refused (4xx): nothing stored or published.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// DynamoDB failed or timed out (503); whether or not the write
    /// applied, the provider's retry is answered correctly.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stream key refused the client's publish or play: the provider's
    /// refusal ([`Provider::refusal`]), and a `stream.refused` event.
    #[error("stream key refused: {}", reason.as_str())]
    Refused {
        /// Why.
        reason: Reason,
        /// The id of the `stream.refused` event, once recorded.
        event_id: Option<String>,
    },
}

impl Failure {
    /// The outcome to log and count.
    pub fn outcome(&self) -> Outcome {
        match self {
            Failure::Rejected(Rejection::Unauthenticated(_)) => Outcome::Unauthenticated,
            Failure::Rejected(
                Rejection::EventTooLarge { .. } | Rejection::RecordTooLarge { .. },
            ) => Outcome::TooLarge,
            Failure::Rejected(_) => Outcome::Rejected,
            Failure::Store(_) => Outcome::StoreFailed,
            Failure::Refused { .. } => Outcome::Refused,
        }
    }

    /// The HTTP status of this failure.
    pub fn status(&self) -> StatusCode {
        match self {
            Failure::Rejected(Rejection::MethodNotAllowed) => StatusCode::METHOD_NOT_ALLOWED,
            Failure::Rejected(
                Rejection::PayloadTooLarge { .. }
                | Rejection::EventTooLarge { .. }
                | Rejection::RecordTooLarge { .. }
                | Rejection::TooComplex { .. },
            ) => StatusCode::PAYLOAD_TOO_LARGE,
            Failure::Rejected(Rejection::Unauthenticated(_)) => StatusCode::UNAUTHORIZED,
            Failure::Rejected(Rejection::Malformed(_) | Rejection::Stale) => {
                StatusCode::BAD_REQUEST
            }
            Failure::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            // What the provider is answered is its own refusal (see `respond`).
            Failure::Refused { .. } => StatusCode::FORBIDDEN,
        }
    }

    /// Whether AWS, not the request, failed.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Failure::Store(_))
    }

    /// The response: a short JSON reason, never internal detail.
    pub fn into_response(self) -> Response<Body> {
        let status = self.status();
        let reason = match &self {
            // What failed inside AWS is for our logs, not for the caller.
            Failure::Store(_) => "temporarily unavailable; retry later".to_owned(),
            other => other.to_string(),
        };
        let mut builder = Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "application/json");
        match &self {
            Failure::Rejected(Rejection::MethodNotAllowed) => {
                builder = builder.header(header::ALLOW, "POST")
            }
            Failure::Store(_) => builder = builder.header(header::RETRY_AFTER, "5"),
            _ => {}
        }
        let body = serde_json::json!({ "error": reason }).to_string();
        builder
            .body(Body::from(body))
            .unwrap_or_else(|_| internal_error())
    }
}

/// A 200 answer, to a new event or to a duplicate: the provider's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    /// The id the event was published with (for a duplicate, the first
    /// delivery's; for a split delivery, its record key).
    pub id: String,
    /// The canonical type's name.
    pub event_type: &'static str,
    /// The event's subject (the stream, for most types), as published.
    pub subject: String,
    /// The provider's own name of the event (its hook or action).
    pub hook: String,
    /// The reply body.
    pub reply: String,
    /// Its media type.
    pub content_type: &'static str,
    /// Whether it was a duplicate of an accepted event.
    pub duplicate: bool,
}

/// The response to one request. An admission-control provider (SRS, nginx,
/// ZLMediaKit) set to [`AdmissionOnFailure::Allow`] gets its success reply
/// when DynamoDB fails, so that its client's publish or play goes on.
pub fn respond(
    result: Result<Answered, Failure>,
    provider: &dyn Provider,
    admission_on_failure: AdmissionOnFailure,
) -> Response<Body> {
    match result {
        Ok(accepted) => ok(accepted.reply, accepted.content_type),
        Err(Failure::Refused { .. }) => {
            let refusal = provider.refusal();
            Response::builder()
                .status(refusal.status)
                .header(header::CONTENT_TYPE, JSON)
                .body(Body::from(refusal.body))
                .unwrap_or_else(|_| internal_error())
        }
        Err(failure)
            if failure.is_unavailable()
                && provider.receiving().admission
                && admission_on_failure == AdmissionOnFailure::Allow =>
        {
            ok(provider.reply(""), JSON)
        }
        Err(failure) => failure.into_response(),
    }
}

/// The media type of livehook's own replies.
pub const JSON: &str = "application/json";

fn ok(reply: String, content_type: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(reply))
        .unwrap_or_else(|_| internal_error())
}

/// A response that could not be built is a 500, never a 200 that would tell
/// the provider to stop retrying.
fn internal_error() -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AuthFailure;
    use crate::providers::{Bililive, Srs};

    #[test]
    fn failures_map_to_the_contract_statuses() {
        let cases = [
            (Failure::Rejected(Rejection::MethodNotAllowed), 405),
            (
                Failure::Rejected(Rejection::PayloadTooLarge { limit: 1 }),
                413,
            ),
            (
                Failure::Rejected(Rejection::EventTooLarge { limit: 1 }),
                413,
            ),
            (
                Failure::Rejected(Rejection::Unauthenticated(AuthFailure::WrongToken)),
                401,
            ),
            (Failure::Rejected(Rejection::malformed("x")), 400),
            (Failure::Rejected(Rejection::Stale), 400),
            (
                Failure::Rejected(Rejection::RecordTooLarge { limit: 1 }),
                413,
            ),
            (Failure::Store(StoreError("secret detail".into())), 503),
        ];
        for (failure, status) in cases {
            let response = failure.into_response();
            assert_eq!(response.status().as_u16(), status);
            let body = String::from_utf8(response.body().to_vec()).unwrap();
            assert!(
                !body.contains("secret detail") && !body.contains("WrongToken"),
                "{body}"
            );
            if status == 503 {
                assert_eq!(response.headers()[header::RETRY_AFTER], "5");
            }
            if status == 405 {
                assert_eq!(response.headers()[header::ALLOW], "POST");
            }
        }
    }

    #[test]
    fn outcomes_separate_auth_and_size_from_other_rejections() {
        let unauth = Failure::Rejected(Rejection::Unauthenticated(AuthFailure::MissingToken));
        assert_eq!(unauth.outcome(), Outcome::Unauthenticated);
        let large = Failure::Rejected(Rejection::EventTooLarge { limit: 1 });
        assert_eq!(large.outcome(), Outcome::TooLarge);
        assert_eq!(
            Failure::Rejected(Rejection::Stale).outcome(),
            Outcome::Rejected
        );
    }

    fn body(response: Response<Body>) -> (u16, String) {
        let status = response.status().as_u16();
        (
            status,
            String::from_utf8_lossy(response.body()).into_owned(),
        )
    }

    #[test]
    fn srs_is_refused_or_admitted_on_an_outage_as_configured() {
        let outage = || Err(Failure::Store(StoreError("down".into())));
        // Refuse (the default): SRS refuses the publish; the encoder's reconnect redelivers.
        let (status, _) = body(respond(outage(), &Srs, AdmissionOnFailure::Refuse));
        assert_eq!(status, 503);
        // Allow: SRS's own success answer, so streaming goes on.
        let allowed = body(respond(outage(), &Srs, AdmissionOnFailure::Allow));
        assert_eq!(allowed, (200, r#"{"code":0}"#.to_owned()));
        // Never for what the request got wrong.
        let (status, _) = body(respond(
            Err(Failure::Rejected(Rejection::Unauthenticated(
                AuthFailure::WrongToken,
            ))),
            &Srs,
            AdmissionOnFailure::Allow,
        ));
        assert_eq!(status, 401);
    }

    #[test]
    fn fail_open_applies_only_to_admission_providers_and_outages() {
        let unavailable = || Err(Failure::Store(StoreError("down".into())));
        // Bililive's reply is not admission control: 503 either way.
        let r = respond(unavailable(), &Bililive, AdmissionOnFailure::Allow);
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        let r = respond(
            Err(Failure::Rejected(Rejection::Stale)),
            &Bililive,
            AdmissionOnFailure::Allow,
        );
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
}
