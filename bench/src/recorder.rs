//! AWS calls counted with the emulator's request recorder (moto's
//! `/moto-api/recorder/…`).

use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::Value;

/// One request to the emulator's own API (HTTP/1.0: the answer ends at close).
pub fn emulator_call(endpoint: &str, method: &str, path: &str) -> Option<String> {
    let authority = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(authority).ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {authority}\r\nContent-Length: 0\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
}

/// The requests the emulator recorded since the last reset.
pub fn recorded(endpoint: &str) -> Option<Vec<Value>> {
    let body = emulator_call(endpoint, "GET", "/moto-api/recorder/download-recording")?;
    Some(
        body.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect(),
    )
}

/// The AWS operation a recorded request called: the operation of its
/// `X-Amz-Target` (JSON protocols: DynamoDB, DynamoDB Streams) or its
/// query's `Action` (SNS), `?` when neither is found.
pub fn operation(request: &Value) -> String {
    let target = request["headers"].as_object().and_then(|headers| {
        headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("x-amz-target"))
            .and_then(|(_, value)| value.as_str())
    });
    if let Some(target) = target {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    let body = request["body"].as_str().unwrap_or("");
    let body = if request["body_encoded"].as_bool() == Some(true) {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    } else {
        body.to_owned()
    };
    let query = request["url"]
        .as_str()
        .and_then(|url| url.split_once('?'))
        .map(|(_, q)| q);
    body.split('&')
        .chain(query.into_iter().flat_map(|q| q.split('&')))
        .find_map(|pair| pair.strip_prefix("Action="))
        .map_or_else(|| "?".to_owned(), str::to_owned)
}

/// Records the AWS calls `run` makes: (operations, of which with the X-Ray
/// trace header). `None` when the recorder could not be read.
pub fn record_calls<T>(
    endpoint: &str,
    run: impl FnOnce() -> T,
) -> (T, Option<(Vec<String>, usize)>) {
    emulator_call(endpoint, "POST", "/moto-api/recorder/reset-recording");
    emulator_call(endpoint, "POST", "/moto-api/recorder/start-recording");
    let out = run();
    emulator_call(endpoint, "POST", "/moto-api/recorder/stop-recording");
    let calls = recorded(endpoint).map(|requests| {
        let traced = requests
            .iter()
            .filter(|r| {
                r["headers"]
                    .as_object()
                    .is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case("x-amzn-trace-id")))
            })
            .count();
        (requests.iter().map(operation).collect(), traced)
    });
    emulator_call(endpoint, "POST", "/moto-api/recorder/reset-recording");
    (out, calls)
}
