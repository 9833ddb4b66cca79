//! Typed reasons a delivery is refused. Mapping them to HTTP statuses happens
//! in exactly one place: [`crate::pipeline`].

/// Why an authentication check failed. Logged and counted, never sent back to
/// the caller (a 401 says nothing that helps an attacker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `token` query parameter.
    MissingToken,
    /// More than one `token` query parameter: ambiguous, refused.
    AmbiguousToken,
    /// The token matches none of the configured tokens.
    WrongToken,
    /// The signature does not match (Tencent's `sign`, a signed platform's
    /// signature header, LiveKit's JWT under every configured key).
    BadSignature,
    /// The signed time is out of bounds (Tencent's `t` has passed, a signed
    /// timestamp is outside the tolerance, a JWT has expired).
    Expired,
    /// A signed platform's proof header is absent.
    MissingSignature,
    /// LiveKit's JWT is genuine but its `sha256` is not the body's.
    BodyHashMismatch,
}

impl AuthFailure {
    /// Short, stable name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthFailure::MissingToken => "missing_token",
            AuthFailure::AmbiguousToken => "ambiguous_token",
            AuthFailure::WrongToken => "wrong_token",
            AuthFailure::BadSignature => "bad_signature",
            AuthFailure::Expired => "expired",
            AuthFailure::MissingSignature => "missing_signature",
            AuthFailure::BodyHashMismatch => "body_hash_mismatch",
        }
    }
}

/// A delivery refused before anything is stored or published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Webhooks are POSTed; anything else is refused.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The (decoded) body is larger than the configured limit.
    #[error("body larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// One event of the delivery is larger than an SNS message may be (the
    /// topic's `MaximumMessageSize`) and cannot be split: refused before
    /// anything is written, since no retry could ever publish it.
    #[error(
        "the event does not fit one SNS message ({limit} bytes, the topic's MaximumMessageSize) and cannot be split"
    )]
    EventTooLarge {
        /// The topic's limit in bytes.
        limit: usize,
    },
    /// The delivery's record (every envelope, compressed) does not fit one
    /// DynamoDB item: refused before anything is written.
    #[error("the event's record does not fit one DynamoDB item ({limit} bytes) even compressed")]
    RecordTooLarge {
        /// DynamoDB's item limit in bytes.
        limit: usize,
    },
    /// The body holds more JSON objects or values than livehook parses
    /// (10,000 objects, 100,000 values): its tree would cost far more
    /// memory than its bytes. Refused before anything is built from it.
    #[error("body has more than {limit} {what}")]
    TooComplex {
        /// The limit that was passed.
        limit: usize,
        /// What was counted (`JSON objects`, `JSON values`).
        what: &'static str,
    },
    /// Authentication failed; the reason is for logs only.
    #[error("unauthenticated")]
    Unauthenticated(AuthFailure),
    /// The body is not what the provider sends (not JSON, not an object, a
    /// required field missing or of the wrong type).
    #[error("{0}")]
    Malformed(String),
    /// The event's own timestamp is older than the replay window: its
    /// idempotency record may have expired, so it is refused outright.
    #[error("event is older than the replay window")]
    Stale,
}

impl Rejection {
    /// Shorthand for a [`Rejection::Malformed`] with a reason.
    pub fn malformed(reason: impl Into<String>) -> Self {
        Rejection::Malformed(reason.into())
    }

    /// Short, stable name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Rejection::MethodNotAllowed => "method_not_allowed",
            Rejection::PayloadTooLarge { .. } => "payload_too_large",
            Rejection::EventTooLarge { .. } => "event_too_large",
            Rejection::RecordTooLarge { .. } => "record_too_large",
            Rejection::TooComplex { .. } => "too_complex",
            Rejection::Unauthenticated(_) => "unauthenticated",
            Rejection::Malformed(_) => "malformed",
            Rejection::Stale => "stale",
        }
    }
}

/// An error and its chain of causes on one line (the AWS SDK's own message is
/// terse, e.g. "service error"; the causes say why).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
