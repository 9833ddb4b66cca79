//! The pure front half of the flow: method (405; `GET` only for a provider
//! whose fields may come in the query) → size (413) → a token
//! provider's `?token=` (401) → content decoding (gzip; a form body into a
//! JSON object) → the provider's adapter: authentication inside the body
//! (Tencent's signature, 401) and parsing (400) → replay window (400) →
//! redaction of secrets inside the payload. No AWS call; fuzzed on its own.

use std::io::Read;
use std::time::Duration;

use lambda_http::Request;
use lambda_http::http::{HeaderMap, Method, header};
use time::OffsetDateTime;

use crate::auth::Verifier;
use crate::error::Rejection;
use crate::event::DataSchemas;
use crate::http_api::HttpRequest;
use crate::inbound::Inbound;
use crate::providers::{AuthScheme, Delivery, Provider, Settings};
use crate::redact::Redactor;

/// The query parameter with which `livehook check` marks its synthetic
/// deliveries (`&livehook_check=true` on the authenticated URL).
pub const CHECK_PARAMETER: &str = "livehook_check";

/// Limits and windows of the pipeline.
#[derive(Debug, Clone)]
pub struct Limits {
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
    limits: Limits,
    redactor: Redactor,
    data_schemas: DataSchemas,
    settings: Settings,
}

impl Gate {
    /// A gate for `provider`; its events name the schemas under
    /// [`crate::event::DEFAULT_SCHEMA_BASE_URL`] (see [`Gate::with_data_schemas`]).
    pub fn new(provider: &'static dyn Provider, verifier: Verifier, limits: Limits) -> Self {
        Gate {
            provider,
            verifier,
            limits,
            redactor: Redactor::default(),
            data_schemas: DataSchemas::default(),
            settings: Settings::default(),
        }
    }

    /// Hands the provider's own settings (read at start-up) to its adapter
    /// with every request, instead of their defaults.
    pub fn with_settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// Redacts with `redactor` (`LIVEHOOK_REDACT`) instead of the default
    /// names.
    pub fn with_redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
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

    /// The redaction this gate applies (also to the logged query).
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Names the schema of each event's (changed) type in its `dataschema`.
    pub(crate) fn stamp<'a>(&self, events: impl IntoIterator<Item = &'a mut crate::CloudEvent>) {
        self.data_schemas.stamp(events);
    }

    /// The limits this gate applies.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Admits a request received at `now` by invocation `request_id` as a
    /// delivery, or refuses it.
    pub fn admit(
        &self,
        request: &Request,
        now: OffsetDateTime,
        request_id: &str,
    ) -> Result<Delivery, Rejection> {
        self.admit_http(&HttpRequest::of(request), now, request_id)
    }

    /// [`Gate::admit`] for a request however it arrived (the functions read
    /// API Gateway's event directly, see [`crate::http_api`]).
    pub fn admit_http(
        &self,
        request: &HttpRequest<'_>,
        now: OffsetDateTime,
        request_id: &str,
    ) -> Result<Delivery, Rejection> {
        let receiving = self.provider.receiving();
        let get = request.method == Method::GET && receiving.query_on_get;
        if request.method != Method::POST && !get {
            return Err(Rejection::MethodNotAllowed);
        }
        let raw = request.body;
        let limit = self.limits.max_body_bytes;
        if raw.len() > limit {
            return Err(Rejection::PayloadTooLarge { limit });
        }
        let query = request.query;
        // Before anything is done with the body: a sender without the
        // secret costs neither the gzip nor the form decoding.
        match self.provider.auth_scheme() {
            AuthScheme::QueryToken => self.verifier.check_token(
                form_urlencoded::parse(query.as_bytes())
                    .filter(|(name, _)| name == "token")
                    .map(|(_, value)| value),
            )?,
            // Tencent's signature is inside the body (checked by its
            // adapter); a signed platform's proof is checked below.
            AuthScheme::TencentSign | AuthScheme::Signed(_) => {}
        }
        let mut decoded = decode_body(request.headers, raw, limit)?;
        if get {
            // The fields are the query: the body of a GET is nothing.
            decoded = Some(decode_form(query.as_bytes(), limit)?);
        } else if receiving.form_body && is_form(request.headers) {
            let form = decode_form(decoded.as_deref().unwrap_or(raw), limit)?;
            decoded = Some(form);
        }
        let inbound = Inbound {
            path: request.path,
            query,
            headers: request.headers,
            body: decoded.as_deref().unwrap_or(raw),
            received_at: now,
            request_id,
            max_message_bytes: self.limits.max_message_bytes,
            settings: &self.settings,
        };
        // A signed platform's proof, over the body as received, before the
        // adapter parses it (Tencent's check is its adapter's).
        if let AuthScheme::Signed(proof) = self.provider.auth_scheme() {
            self.verifier.check_proof(proof, &inbound)?;
        }
        let mut delivery = self.provider.accept(&inbound, &self.verifier)?;
        // Adapters see only their own settings: the schema URI is the gate's to add.
        self.data_schemas
            .stamp(delivery.events.iter_mut().map(|o| &mut o.event));
        let window = self.limits.replay_window;
        if let Some(at) = delivery.provider_time
            && !window.is_zero()
            && now - at > window
        {
            return Err(Rejection::Stale);
        }
        // Authenticated already: only a holder of the secret can mark a check.
        delivery.check = inbound
            .query_values(CHECK_PARAMETER)
            .any(|v| v == "true" || v == "1");
        // After the adapter derived the key from the payload as received,
        // before anything is written or published.
        self.redactor.redact_delivery(&mut delivery);
        Ok(delivery)
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

/// Whether the body is declared `application/x-www-form-urlencoded` (any
/// parameters, any case). Only then is a form provider's body a form: a JSON
/// object (the decoded fields, as samples hold them) is taken as it is.
fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| {
            media
                .trim()
                .eq_ignore_ascii_case(crate::providers::FORM_CONTENT_TYPE)
        })
}

/// A form body as the JSON object the adapter parses and `data.raw` holds:
/// each field a string (decoded, invalid UTF-8 replaced), a repeated key an
/// array of its values in order. The JSON can be a few times longer than
/// the form (`a&b` → `{"a":"","b":""}`), so it is held to `limit` too.
fn decode_form(body: &[u8], limit: usize) -> Result<Vec<u8>, Rejection> {
    use serde_json::{Map, Value};
    let mut fields: Map<String, Value> = Map::new();
    for (name, value) in form_urlencoded::parse(body) {
        let value = Value::String(value.into_owned());
        match fields.get_mut(name.as_ref()) {
            None => {
                fields.insert(name.into_owned(), value);
            }
            Some(Value::Array(values)) => values.push(value),
            Some(first) => {
                let first = first.take();
                fields.insert(name.into_owned(), Value::Array(vec![first, value]));
            }
        }
    }
    let json = serde_json::to_vec(&fields)
        .map_err(|_| Rejection::malformed("body is not a valid form"))?;
    if json.len() > limit {
        return Err(Rejection::PayloadTooLarge { limit });
    }
    Ok(json)
}

#[cfg(test)]
mod tests;
