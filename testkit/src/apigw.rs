//! API Gateway HTTP API (payload v2) events turned into `lambda_http::Request`s
//! as the Lambda runtime does, and the replies read back.

use crate::{LivePipeline, Provider, TOKEN};
use lambda_http::Request;
use lambda_http::http::HeaderMap;
use serde_json::{Value, json};

/// The provider of a function name.
pub fn provider_named(name: &str) -> &'static dyn Provider {
    livehook::providers::by_name(name).unwrap_or_else(|| panic!("no provider named {name}"))
}

/// The host every test request is addressed to (what a signed platform
/// that signs the host signs).
pub const HOST: &str = "abc123.execute-api.us-east-1.amazonaws.com";

/// `request` with `headers` added (a signed platform's proof), replacing
/// any of the same name.
pub fn with_headers(mut request: Request, headers: Vec<(String, String)>) -> Request {
    use lambda_http::http::{HeaderName, HeaderValue};
    for (name, value) in headers {
        let name = HeaderName::try_from(name).expect("a header name");
        let value = HeaderValue::try_from(value).expect("a header value");
        request.headers_mut().insert(name, value);
    }
    request
}

/// An API Gateway HTTP API (payload v2) event, as JSON.
pub fn apigw_event(method: &str, path: &str, query: &str, body: &[u8]) -> Value {
    let body = std::str::from_utf8(body).expect("test bodies are UTF-8");
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "content-type": "application/json",
            "host": "abc123.execute-api.us-east-1.amazonaws.com",
            "user-agent": "livehook-tests",
            "x-forwarded-proto": "https"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "livehook-tests"
            },
            "requestId": "it-request",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 1767225600000_i64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// A `lambda_http::Request` as the Lambda runtime builds it from an API
/// Gateway HTTP API event.
pub fn request(method: &str, path: &str, query: &str, body: &[u8]) -> Request {
    let event = apigw_event(method, path, query, body).to_string();
    lambda_http::request::from_str(&event).expect("an API Gateway v2 event")
}

/// `request` as invocation `request_id` (the Lambda context the runtime
/// attaches): two requests with one id are one invocation's attempts.
pub fn as_invocation(request: Request, request_id: &str) -> Request {
    use lambda_http::RequestExt;
    let mut context = lambda_http::Context::default();
    context.request_id = request_id.to_owned();
    request.with_lambda_context(context)
}

/// A POST with `?token=` of the configured token.
pub fn post(path: &str, body: &[u8]) -> Request {
    request("POST", path, &format!("token={TOKEN}"), body)
}

/// A handled request's answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body text.
    pub body: String,
}

impl Reply {
    /// `Retry-After` in seconds, if present and numeric.
    pub fn retry_after(&self) -> Option<u64> {
        self.headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("reply is not JSON ({e}): {}", self.body))
    }
}

/// Runs `request` through `pipeline`.
pub async fn handle(pipeline: &LivePipeline, request: Request) -> Reply {
    let response = pipeline.handle(request).await;
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: String::from_utf8_lossy(body.as_ref()).into_owned(),
    }
}
