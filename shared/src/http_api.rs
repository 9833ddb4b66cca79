//! The API Gateway HTTP API event (payload format 2.0, also what Lambda
//! function URLs and `cargo lambda watch` send), read straight from the
//! Runtime API, and the proxy response written back.
//!
//! The functions run on `lambda_runtime` with these instead of `lambda_http`'s
//! conversion, which reads every event twice (as raw JSON, then as the full
//! `ApiGatewayV2httpRequest` with its request context and query map), builds
//! an `http::Request` with a URI, extensions and a second query map, and
//! collects the response body again: a few percent of a delivery's CPU
//! (bench/notes.md). [`HttpApiRequest`] keeps only what the pipeline reads.

use std::borrow::Cow;
use std::fmt;

use base64::Engine;
use lambda_http::Body;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use lambda_http::http::header::{CONTENT_ENCODING, CONTENT_TYPE, COOKIE, SET_COOKIE};
use lambda_http::http::{HeaderMap, HeaderName, HeaderValue, Method, Response};
use lambda_http::{Request, RequestExt};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::Rejection;

/// The fields of an HTTP API (payload 2.0) event that livehook reads; the
/// request context, route, stage and the parsed query map are skipped.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpApiRequest {
    /// The path as the client sent it (not normalized).
    #[serde(default)]
    raw_path: Option<String>,
    /// The query string as the client sent it, without `?`.
    #[serde(default)]
    raw_query_string: Option<String>,
    /// Header names are case-insensitive; API Gateway joins a repeated
    /// header's values with commas (a list of values is taken too).
    #[serde(default, deserialize_with = "headers")]
    headers: HeaderMap,
    /// API Gateway moves `Cookie` headers here; they are put back as one
    /// `cookie` header, as `lambda_http` does.
    #[serde(default)]
    cookies: Option<Vec<String>>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default, deserialize_with = "nullable_bool")]
    is_base64_encoded: bool,
    request_context: RequestContext,
}

#[derive(Debug, Deserialize)]
struct RequestContext {
    http: HttpContext,
}

#[derive(Debug, Deserialize)]
struct HttpContext {
    #[serde(deserialize_with = "method")]
    method: Method,
}

/// One HTTP request as the pipeline reads it, whatever carried it: method,
/// the raw path and query, headers and the body (base64 already decoded).
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The raw path (any stage or `/lambda-url/<fn>` prefix included).
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// The body as received (after base64, before any content decoding).
    pub body: &'a [u8],
}

impl<'a> HttpRequest<'a> {
    /// The parts of a `lambda_http` request (tests, the local server).
    pub fn of(request: &'a Request) -> Self {
        // The raw path as the client sent it: the URI's path is normalized
        // (`/lal/x/..` → `/lal/`), which would turn traversal into a hook name.
        let raw_path = request.raw_http_path();
        HttpRequest {
            method: request.method(),
            path: if raw_path.is_empty() {
                request.uri().path()
            } else {
                raw_path
            },
            query: request.uri().query().unwrap_or(""),
            headers: request.headers(),
            body: request.body().as_ref(),
        }
    }
}

impl HttpApiRequest {
    /// Reads an event from its JSON text.
    pub fn from_json(json: &str) -> serde_json::Result<Self> {
        serde_json::from_str(json)
    }

    /// Puts the event's cookies back into a `cookie` header (joined with
    /// `; `), replacing any: what `lambda_http` hands its handlers.
    fn fold_cookies(&mut self) {
        if let Some(cookies) = self.cookies.take()
            && let Ok(value) = HeaderValue::from_str(&cookies.join("; "))
        {
            self.headers.insert(COOKIE, value);
        }
    }

    /// Takes the body's bytes: base64-decoded when API Gateway encoded it
    /// (a body that is not valid base64 is malformed), empty when there is
    /// none.
    pub fn take_body(&mut self) -> Result<Vec<u8>, Rejection> {
        match self.body.take() {
            None => Ok(Vec::new()),
            Some(body) if self.is_base64_encoded => base64::engine::general_purpose::STANDARD
                .decode(body)
                .map_err(|_| Rejection::malformed("body is not valid base64")),
            Some(body) => Ok(body.into_bytes()),
        }
    }

    /// The request as the pipeline reads it, over `body` (from
    /// [`HttpApiRequest::take_body`]).
    pub fn request<'a>(&'a mut self, body: &'a [u8]) -> HttpRequest<'a> {
        self.fold_cookies();
        let path = self.raw_path.as_deref().unwrap_or("");
        HttpRequest {
            method: &self.request_context.http.method,
            path: if path.is_empty() { "/" } else { path },
            query: self.raw_query_string.as_deref().unwrap_or(""),
            headers: &self.headers,
            body,
        }
    }
}

/// The proxy response API Gateway expects for `response`, as `lambda_http`
/// writes it: `Set-Cookie` headers as `cookies`; a body as text when its
/// media type is textual (or unnamed), otherwise base64; no body as `""`.
pub fn proxy_response(response: Response<Body>) -> ApiGatewayV2httpResponse {
    let (parts, body) = response.into_parts();
    let mut headers = parts.headers;
    let cookies = headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .collect();
    headers.remove(SET_COOKIE);
    let body = match body {
        Body::Text(text) if is_text(&headers) => Body::Text(text),
        Body::Text(text) => Body::Binary(text.into_bytes()),
        Body::Binary(bytes) if is_text(&headers) => match String::from_utf8(bytes) {
            Ok(text) => Body::Text(text),
            Err(e) => Body::Text(String::from_utf8_lossy(e.as_bytes()).into_owned()),
        },
        Body::Binary(bytes) => Body::Binary(bytes),
        _ if is_text(&headers) => Body::Text(String::new()),
        _ => Body::Binary(Vec::new()),
    };
    let mut proxy = ApiGatewayV2httpResponse::default();
    proxy.status_code = i64::from(parts.status.as_u16());
    proxy.is_base64_encoded = matches!(body, Body::Binary(_));
    proxy.body = Some(body);
    proxy.headers = headers;
    proxy.cookies = cookies;
    proxy
}

/// Whether `lambda_http` would send a body of these headers as text.
fn is_text(headers: &HeaderMap) -> bool {
    if headers.contains_key(CONTENT_ENCODING) {
        return false;
    }
    let Some(content_type) = headers.get(CONTENT_TYPE) else {
        return true;
    };
    let content_type = content_type.to_str().unwrap_or_default();
    const PREFIXES: [&str; 5] = [
        "text",
        "application/json",
        "application/javascript",
        "application/xml",
        "application/yaml",
    ];
    let mime = content_type.trim().split(';').next().unwrap_or_default();
    PREFIXES.iter().any(|p| content_type.starts_with(p))
        || ["+xml", "+yaml", "+json"].iter().any(|s| mime.ends_with(s))
        || headers
            .get("x-lambda-http-content-encoding")
            .is_some_and(|v| v == "text")
}

fn method<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Method, D::Error> {
    deserializer.deserialize_str(Parsed(|s: &str| Method::from_bytes(s.as_bytes())))
}

/// A string parsed as it is read, without a `String` of its own (serde's
/// `Cow<str>` always allocates one).
struct Parsed<F>(F);

impl<'de, T, E: fmt::Display, F: FnOnce(&str) -> Result<T, E>> Visitor<'de> for Parsed<F> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<R: de::Error>(self, value: &str) -> Result<T, R> {
        (self.0)(value).map_err(R::custom)
    }
}

/// A header name, parsed as it is read.
struct Name(HeaderName);

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(Parsed(|s: &str| {
            HeaderName::from_bytes(s.as_bytes()).map(Name)
        }))
    }
}

fn nullable_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(deserializer)?.unwrap_or(false))
}

/// Headers from a JSON object of names to a value or a list of values
/// (`null` is no headers). A name or value HTTP does not allow (a space in
/// a name, a control character in a value) fails the event, as in
/// `lambda_http`; a value beyond ASCII is kept as its bytes.
fn headers<'de, D: Deserializer<'de>>(deserializer: D) -> Result<HeaderMap, D::Error> {
    struct Headers;
    impl<'de> Visitor<'de> for Headers {
        type Value = HeaderMap;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of header names to values")
        }
        fn visit_unit<E: de::Error>(self) -> Result<HeaderMap, E> {
            Ok(HeaderMap::new())
        }
        fn visit_map<M: MapAccess<'de>>(self, mut access: M) -> Result<HeaderMap, M::Error> {
            let mut map = HeaderMap::with_capacity(access.size_hint().unwrap_or(0));
            while let Some(Name(name)) = access.next_key()? {
                access.next_value_seed(Values {
                    name: &name,
                    map: &mut map,
                })?;
            }
            Ok(map)
        }
    }
    deserializer.deserialize_any(Headers)
}

/// One header's value or list of values, appended to `map` under `name`.
struct Values<'m> {
    name: &'m HeaderName,
    map: &'m mut HeaderMap,
}

impl Values<'_> {
    fn append<E: de::Error>(&mut self, value: &str) -> Result<(), E> {
        // As bytes: a value beyond ASCII (a client's UTF-8 `User-Agent`) is
        // legal HTTP and must not fail a delivery; only control characters do.
        let value = HeaderValue::from_bytes(value.as_bytes()).map_err(E::custom)?;
        self.map.append(self.name, value);
        Ok(())
    }
}

impl<'de> de::DeserializeSeed<'de> for Values<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Values<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a header value or a list of them")
    }
    fn visit_str<E: de::Error>(mut self, value: &str) -> Result<(), E> {
        self.append(value)
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while let Some(value) = seq.next_element::<Cow<'de, str>>()? {
            self.append(&value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
