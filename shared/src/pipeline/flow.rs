//! The middle of the flow, after the gate: size check → claim (duplicate:
//! 200, in progress: 409) → publish → complete. A new event costs three
//! AWS calls, a duplicate one.

use time::OffsetDateTime;

use super::answer::{Accepted, Failure};
use super::gate::Gate;
use crate::error::Rejection;
use crate::providers::Delivery;
use crate::sink::{EventSink, Message, SinkError};
use crate::store::{Claim, ClaimOutcome, IdempotencyStore};

/// The facts of one invocation the flow needs.
#[derive(Debug, Clone, Copy)]
pub struct Invocation<'a> {
    /// The request id (the claim's owner).
    pub request_id: &'a str,
    /// When the request was received.
    pub now: OffsetDateTime,
    /// Until when this invocation may run: its claim lapses then.
    pub deadline: OffsetDateTime,
}

/// Runs one admitted delivery through the store and the sink.
pub(crate) async fn deliver<S: IdempotencyStore, K: EventSink>(
    gate: &Gate,
    store: &S,
    sink: &K,
    delivery: &Delivery,
    invocation: Invocation<'_>,
) -> Result<Accepted, Failure> {
    let provider = gate.provider();
    let event_type = delivery.event_type().as_str();
    let accepted = |duplicate| Accepted {
        id: delivery.key.clone(),
        event_type,
        reply: provider.reply(&delivery.key),
        duplicate,
    };

    // Serialized once: the same text is published and stored.
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
            provider: provider.name(),
            event_type: o.event.event_type.as_str(),
            stream: o.stream.as_deref(),
            subject: &o.event.subject,
            replay: false,
        })
        .collect();
    // Refused before anything is written: no retry could ever publish it.
    let limit = gate.settings().max_message_bytes;
    if messages.iter().any(|m| m.size() > limit) {
        return Err(Rejection::EventTooLarge { limit }.into());
    }

    let expires_at = invocation.now + gate.settings().retention;
    let claim = Claim {
        key: &delivery.key,
        claimed_by: invocation.request_id,
        provider: provider.name(),
        event_type,
        retry_times: delivery.retry_times,
        sequence: delivery.sequence.as_deref(),
        now: invocation.now,
        in_progress_until: invocation.deadline,
        expires_at,
    };
    match store.claim(&claim).await? {
        ClaimOutcome::Claimed => {}
        ClaimOutcome::AlreadyCompleted => return Ok(accepted(true)),
        ClaimOutcome::InProgress { until } => {
            let seconds = until.map_or(1, |u| (u - invocation.now).whole_seconds().clamp(1, 60));
            return Err(Failure::InProgress {
                retry_after_seconds: seconds.unsigned_abs(),
            });
        }
    }

    if let Err(publish_error) = sink.publish(&messages).await {
        if let Err(release_error) = store.release(&delivery.key).await {
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
    // Published already: a 503 now would make the provider publish it again
    // once the claim lapses, so a failed completion is retried once, then
    // logged, and the answer stays 200.
    if let Err(first) = store.complete(&delivery.key, stored, expires_at).await {
        tracing::warn!(event_id = delivery.key, error = %first, "marking completed failed; retrying once");
        if let Err(e) = store.complete(&delivery.key, stored, expires_at).await {
            tracing::error!(event_id = delivery.key, error = %e, "published but not marked completed");
        }
    }
    Ok(accepted(false))
}
