//! Admission with stream keys (`LIVEHOOK_STREAM_KEYS`): a publish or play
//! whose key admits is written as any delivery, its key checked in the
//! same call (one `TransactWriteItems`); one the key refuses gets the
//! provider's refusal and a `stream.refused` event, written by one more
//! call (none is made for the key when the URL has none).

use super::answer::{Answered, Failure};
use super::flow::{self, Invocation, Keyed};
use super::gate::Gate;
use crate::event::EventType;
use crate::providers::Delivery;
use crate::store::IdempotencyStore;
use crate::stream_keys::{self, Admission, KeyCheck, Presented, Reason, UsedKey};

/// Runs an admission that needs a key through the store.
pub(crate) async fn deliver<S: IdempotencyStore>(
    gate: &Gate,
    store: &S,
    delivery: &Delivery,
    admission: &Admission,
    invocation: Invocation<'_>,
) -> Result<Answered, Failure> {
    let presented = admission.presented.key();
    let reason = match &admission.presented {
        Presented::Nothing => Reason::Missing,
        Presented::Several => Reason::Wrong,
        Presented::Key(key) => {
            let now_ms = invocation.now.unix_timestamp_nanos() / 1_000_000;
            let check = KeyCheck {
                key: UsedKey {
                    item_key: stream_keys::item_key(admission.action, &admission.stream),
                    hash: stream_keys::hash(key),
                },
                now_ms: i64::try_from(now_ms).unwrap_or(i64::MAX),
            };
            let keyed = Keyed {
                check: Some(&check),
                presented,
            };
            match flow::deliver(gate, store, delivery, invocation, keyed).await {
                Err(Failure::Refused { reason, .. }) => reason,
                answered => return answered,
            }
        }
    };
    let refused = refused(gate, delivery, reason);
    let keyed = Keyed {
        check: None,
        presented,
    };
    let event_id = match flow::deliver(gate, store, &refused, invocation, keyed).await {
        Ok(recorded) => Some(recorded.id),
        Err(error) => {
            // The client is refused all the same; the event is what is lost.
            tracing::error!(
                provider = gate.provider().name(),
                reason = reason.as_str(),
                error = %error,
                "the stream.refused event could not be recorded"
            );
            None
        }
    };
    Err(Failure::Refused { reason, event_id })
}

/// The `stream.refused` event of a refused admission: the admission's own
/// event (stream, client, payload, all redacted) with its type, reason and
/// an id of its own.
fn refused(gate: &Gate, delivery: &Delivery, reason: Reason) -> Delivery {
    let key = crate::key::derive(
        gate.provider().name(),
        &[delivery.key.as_bytes(), b"stream.refused"],
    );
    let mut refused = delivery.clone();
    refused.events.truncate(1);
    // A windowed key's event ids are the key and 16 hex digits of the
    // delivery (see [`crate::record::record_key`]); the refusal's follow.
    let id = match delivery.dedupe_window {
        None => key.clone(),
        Some(_) => {
            let first = delivery.events.first().map_or("", |o| o.event.id.as_str());
            let suffix = crate::key::derive("stream.refused", &[first.as_bytes()]);
            format!("{key}-{}", &suffix[..16])
        }
    };
    for outgoing in &mut refused.events {
        outgoing.event.id = id.clone();
        outgoing.event.event_type = EventType::StreamRefused;
        outgoing.event.data.reason = Some(reason.as_str().to_owned());
    }
    gate.stamp(refused.events.iter_mut().map(|o| &mut o.event));
    refused.key = key;
    refused.answer = None;
    refused
}

/// Masks a presented key by value in the envelopes (wherever the server
/// reported it besides its query). Only a key shaped as livehook makes
/// them (long, URL-safe) is searched: a short or odd value could match
/// ordinary JSON.
pub(crate) fn mask_presented(presented: Option<&str>, envelopes: &mut [String]) {
    let Some(key) = presented
        .filter(|k| k.len() >= crate::redact::MIN_SECRET_LEN && crate::auth::token_is_url_safe(k))
    else {
        return;
    };
    for envelope in envelopes {
        if envelope.contains(key) {
            *envelope = envelope.replace(key, crate::redact::MASK);
        }
    }
}
