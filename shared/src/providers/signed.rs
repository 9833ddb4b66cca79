//! What the platforms that sign their webhooks have in common: a name, a
//! proof the gate checks over the raw body before the adapter sees it, a
//! console that takes livehook's URL, a JSON body, and tools that refresh
//! its times and sign it. A signed platform's module implements [`Signed`]
//! with what is its own; its [`Provider`] and [`Imitate`] follow from it.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::imitate::stamp::{TimeField, refresh_times};
use super::{AuthScheme, Delivery, Deployment, Imitate, Provider, Receiving, Sending};
use crate::auth::Verifier;
use crate::error::Rejection;
use crate::inbound::Inbound;
use crate::json::{Fields, parse_object};
use crate::proof::Proof;

/// A platform that signs its webhooks: what its module states; the rest of
/// [`Provider`] and [`Imitate`] is shared.
pub(crate) trait Signed: Send + Sync + std::panic::RefUnwindSafe + 'static {
    /// [`Provider::name`].
    const NAME: &'static str;
    /// How a delivery is proven ([`AuthScheme::Signed`]).
    const PROOF: &'static Proof;
    /// Where its console or API takes livehook's URL
    /// ([`Deployment::console`]).
    const CONSOLE: &'static str;
    /// [`Provider::nested_secret_fields`]: none unless stated.
    const NESTED_SECRETS: &'static [(&'static str, &'static str)] = &[];
    /// [`Provider::secret_fields`]: none unless stated (Volcengine's `sign`).
    const SECRETS: &'static [&'static str] = &[];
    /// [`Provider::receiving`]: a JSON `POST` unless stated (Alibaba's
    /// stream callbacks come as `GET`).
    const RECEIVING: Receiving = Receiving::DEFAULT;
    /// [`Imitate::sending`]: every signed platform resends a delivery that
    /// is not answered 2xx.
    const SENDING: Sending = Sending::DEFAULT;
    /// The payload's own times, which tools move to "now" before sending
    /// (the replay window checks the first present).
    const TIME_FIELDS: &'static [TimeField] = &[];

    /// Normalizes one delivery, whose proof the gate has checked over these
    /// bytes; `body` is the parsed object. Never panics, on any input.
    fn normalize(&self, inbound: &Inbound<'_>, body: Fields<'_>) -> Result<Delivery, Rejection>;

    /// [`Imitate::prepare`]: the [`Signed::TIME_FIELDS`] refreshed, unless
    /// the platform does more (Agora's send time, new on every resend).
    fn refresh(&self, body: &mut Map<String, Value>, now: OffsetDateTime, attempt: u32) {
        let _ = attempt;
        refresh_times(body, Self::TIME_FIELDS, now);
    }

    /// Signs `body` with `secret` where the platform signs inside the body
    /// (Volcengine's `t` and `sign`), after [`Signed::refresh`]; nothing
    /// unless stated (the others sign headers).
    fn sign_body(
        &self,
        body: &mut Map<String, Value>,
        secret: &str,
        now: OffsetDateTime,
        attempt: u32,
    ) {
        let _ = (body, secret, now, attempt);
    }

    /// [`Imitate::sends_as_query`]: never unless stated.
    fn as_query(&self, body: &Map<String, Value>) -> bool {
        let _ = body;
        false
    }

    /// [`Imitate::headers_before_signing`]: none unless stated (Twitch's
    /// message id and type).
    fn chosen_headers(&self, body: &[u8]) -> Vec<(String, String)> {
        let _ = body;
        Vec::new()
    }

    /// [`Imitate::synthetic`].
    fn synthetic_body(&self, stream: &str, nonce: &str) -> (&'static str, Map<String, Value>);
}

impl<T: Signed> Provider for T {
    fn name(&self) -> &'static str {
        T::NAME
    }

    fn auth_scheme(&self) -> AuthScheme {
        AuthScheme::Signed(T::PROOF)
    }

    fn nested_secret_fields(&self) -> &'static [(&'static str, &'static str)] {
        T::NESTED_SECRETS
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        T::SECRETS
    }

    fn receiving(&self) -> Receiving {
        T::RECEIVING
    }

    fn deployment(&self) -> Deployment {
        Deployment {
            console: T::CONSOLE,
            settings: &[],
            own_settings: &[],
        }
    }

    /// The proof was checked by the gate over these bytes.
    fn accept(&self, inbound: &Inbound<'_>, _verifier: &Verifier) -> Result<Delivery, Rejection> {
        let body = parse_object(inbound.body)?;
        self.normalize(inbound, Fields(&body))
    }
}

impl<T: Signed> Imitate for T {
    fn sending(&self) -> Sending {
        T::SENDING
    }

    fn prepare(
        &self,
        body: &mut Map<String, Value>,
        secret: Option<&str>,
        now: OffsetDateTime,
        attempt: u32,
    ) {
        self.refresh(body, now, attempt);
        if let Some(secret) = secret {
            self.sign_body(body, secret, now, attempt);
        }
    }

    fn sends_as_query(&self, body: &Map<String, Value>) -> bool {
        self.as_query(body)
    }

    fn headers_before_signing(&self, body: &[u8]) -> Vec<(String, String)> {
        self.chosen_headers(body)
    }

    fn synthetic(&self, stream: &str, nonce: &str) -> (&'static str, Map<String, Value>) {
        self.synthetic_body(stream, nonce)
    }
}
