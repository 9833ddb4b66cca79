use base64::Engine;
use lambda_http::http::StatusCode;
use serde_json::{Value, json};

use super::*;

/// An HTTP API (payload 2.0) event as API Gateway sends it.
fn event(
    method: &str,
    path: &str,
    query: &str,
    headers: Value,
    body: Value,
    base64: bool,
) -> Value {
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "cookies": ["session=a", "theme=dark"],
        "headers": headers, "isBase64Encoded": base64, "body": body,
        "queryStringParameters": {"ignored": "x"},
        "requestContext": {"accountId": "1", "apiId": "a", "domainName": "x.example", "domainPrefix": "x",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"},
            "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "", "timeEpoch": 0}
    })
}

fn read(event: &Value) -> HttpApiRequest {
    HttpApiRequest::from_json(&event.to_string()).unwrap()
}

/// What the pipeline reads of `event` through this module and through
/// `lambda_http`'s conversion must be the same.
fn assert_same_as_lambda_http(event: &Value) {
    let mut ours = read(event);
    let body = ours.take_body().unwrap();
    let ours = ours.request(&body);
    let theirs = lambda_http::request::from_str(&event.to_string()).unwrap();
    let theirs = HttpRequest::of(&theirs);
    assert_eq!(ours.method, theirs.method);
    assert_eq!(ours.path, theirs.path);
    assert_eq!(ours.query, theirs.query);
    assert_eq!(ours.headers, theirs.headers);
    assert_eq!(ours.body, theirs.body);
}

#[test]
fn requests_read_as_lambda_http_reads_them() {
    let headers =
        json!({"Content-Type": "application/json", "x-token": "a,b", "host": "x.example"});
    for e in [
        event(
            "POST",
            "/lal/on_pub_start",
            "token=a%2Cb&x=1&token=c+d",
            headers.clone(),
            json!("{\"a\":1}"),
            false,
        ),
        event(
            "GET",
            "/prod/alibaba",
            "action=publish&domain=live.example&app=a&id=s&time=1&usrargs=k%3Dv",
            headers.clone(),
            Value::Null,
            false,
        ),
        event("POST", "/lal/x/../y/", "", json!({}), json!(""), false),
        event(
            "POST",
            "/b",
            "",
            headers,
            json!(base64::engine::general_purpose::STANDARD.encode([0u8, 159, 146, 150])),
            true,
        ),
    ] {
        assert_same_as_lambda_http(&e);
    }
}

#[test]
fn base64_bodies_are_decoded_to_their_bytes() {
    let raw = [0x1f_u8, 0x8b, 0x08, 0x00, 0xff];
    let body = base64::engine::general_purpose::STANDARD.encode(raw);
    let mut e = read(&event("POST", "/p", "", json!({}), json!(body), true));
    assert_eq!(e.take_body().unwrap(), raw);
    let mut plain = read(&event("POST", "/p", "", json!({}), json!("aGk="), false));
    assert_eq!(plain.take_body().unwrap(), b"aGk=");
}

#[test]
fn a_body_that_is_not_base64_is_malformed() {
    let mut e = read(&event(
        "POST",
        "/p",
        "",
        json!({}),
        json!("not base64!"),
        true,
    ));
    assert!(matches!(e.take_body(), Err(Rejection::Malformed(_))));
}

#[test]
fn headers_are_case_insensitive_and_keep_every_value() {
    let headers = json!({"X-Signature": "t=1,v1=ab", "X-Multi": ["a", "b"], "Content-Type": "application/json"});
    let mut e = read(&event("POST", "/p", "", headers, json!("{}"), false));
    let body = e.take_body().unwrap();
    let r = e.request(&body);
    // A comma-joined value (API Gateway's repeated header) stays one value.
    assert_eq!(r.headers.get("x-signature").unwrap(), "t=1,v1=ab");
    assert_eq!(r.headers.get("X-SIGNATURE").unwrap(), "t=1,v1=ab");
    let multi: Vec<_> = r.headers.get_all("x-multi").iter().collect();
    assert_eq!(multi, ["a", "b"]);
    assert_eq!(r.headers.get("cookie").unwrap(), "session=a; theme=dark");
}

#[test]
fn the_raw_query_is_kept_for_the_adapters_to_decode() {
    let mut e = read(&event(
        "GET",
        "/alibaba",
        "token=a%2Cb&stream=c+d",
        json!({}),
        Value::Null,
        false,
    ));
    let body = e.take_body().unwrap();
    let r = e.request(&body);
    assert_eq!(r.method, Method::GET);
    assert_eq!(r.query, "token=a%2Cb&stream=c+d");
    let inbound = crate::inbound::Inbound {
        path: r.path,
        query: r.query,
        headers: r.headers,
        body: r.body,
        received_at: time::OffsetDateTime::UNIX_EPOCH,
        request_id: "r",
        max_message_bytes: 262_144,
        settings: &crate::providers::settings::DEFAULTS,
    };
    assert_eq!(inbound.query_values("token").collect::<Vec<_>>(), ["a,b"]);
    assert_eq!(inbound.query_values("stream").collect::<Vec<_>>(), ["c d"]);
}

#[test]
fn absent_and_null_fields_read_as_empty() {
    let mut e = HttpApiRequest::from_json(
        r#"{"headers":null,"body":null,"isBase64Encoded":null,"requestContext":{"http":{"method":"POST"}}}"#,
    )
    .unwrap();
    assert!(e.take_body().unwrap().is_empty());
    let r = e.request(&[]);
    assert_eq!((r.path, r.query), ("/", ""));
    assert!(r.headers.is_empty());
}

#[test]
fn a_header_http_forbids_fails_the_event() {
    let e = event("POST", "/p", "", json!({"bad name": "x"}), json!(""), false);
    assert!(HttpApiRequest::from_json(&e.to_string()).is_err());
    let e = event("POST", "/p", "", json!({"x": "a\nb"}), json!(""), false);
    assert!(HttpApiRequest::from_json(&e.to_string()).is_err());
}

#[test]
fn a_header_value_beyond_ascii_is_kept_as_its_bytes() {
    let e = event(
        "POST",
        "/p",
        "",
        json!({"user-agent": "直播助手/1.0"}),
        json!(""),
        false,
    );
    let mut e = read(&e);
    let r = e.request(&[]);
    assert_eq!(
        r.headers.get("user-agent").map(HeaderValue::as_bytes),
        Some("直播助手/1.0".as_bytes())
    );
}

fn response(content_type: Option<&str>, body: Body) -> Value {
    let mut builder = Response::builder()
        .status(StatusCode::OK)
        .header(SET_COOKIE, "a=1")
        .header(SET_COOKIE, "b=2");
    if let Some(content_type) = content_type {
        builder = builder.header(CONTENT_TYPE, content_type);
    }
    serde_json::to_value(proxy_response(builder.body(body).unwrap())).unwrap()
}

#[test]
fn responses_are_written_as_lambda_http_writes_them() {
    let json_reply = response(
        Some("application/json"),
        Body::from("{\"code\":0}".to_owned()),
    );
    assert_eq!(
        json_reply,
        json!({"statusCode": 200, "headers": {"content-type": "application/json"},
               "multiValueHeaders": {}, "body": "{\"code\":0}", "isBase64Encoded": false,
               "cookies": ["a=1", "b=2"]})
    );
    // Bytes of a textual type are text; text of another type is base64.
    let text = response(
        Some("text/plain; charset=utf-8"),
        Body::from(b"ok".to_vec()),
    );
    assert_eq!(
        (&text["body"], &text["isBase64Encoded"]),
        (&json!("ok"), &json!(false))
    );
    let binary = response(
        Some("application/octet-stream"),
        Body::from("ok".to_owned()),
    );
    assert_eq!(
        (&binary["body"], &binary["isBase64Encoded"]),
        (&json!("b2s="), &json!(true))
    );
    let untyped = response(None, Body::Empty);
    assert_eq!(
        (&untyped["body"], &untyped["isBase64Encoded"]),
        (&json!(""), &json!(false))
    );
}

/// A Bililive function on an in-memory store, configured with [`TOKEN`].
fn bililive() -> crate::pipeline::Pipeline<crate::pipeline::fakes::MemoryStore> {
    use crate::providers::Bililive;
    let config = crate::config::Config::for_provider(&Bililive, |name| match name {
        "LIVEHOOK_TABLE" => Some("t".to_owned()),
        "LIVEHOOK_TOKEN" => Some(TOKEN.to_owned()),
        // The committed sample is older than any window.
        "LIVEHOOK_REPLAY_WINDOW_SECONDS" => Some("0".to_owned()),
        _ => None,
    })
    .unwrap();
    crate::pipeline::Pipeline::new(&Bililive, &config, Default::default())
}

const TOKEN: &str = "http-api-test-token-0123";

async fn handle(event: Value) -> Value {
    let e = HttpApiRequest::from_json(&event.to_string()).unwrap();
    serde_json::to_value(bililive().handle_event(e, "r1").await).unwrap()
}

#[tokio::test]
async fn a_base64_event_is_handled_as_its_decoded_body() {
    let body = crate::providers::testing::sample(&crate::providers::Bililive, "FileClosed");
    let encoded = base64::engine::general_purpose::STANDARD.encode(&body);
    let query = format!("token={TOKEN}");
    let headers = json!({"Content-Type": "application/json"});
    let pipeline = bililive();
    // Sent twice (a provider's retry): one record.
    for n in 1..=2 {
        let e = event(
            "POST",
            "/bililive",
            &query,
            headers.clone(),
            json!(encoded),
            true,
        );
        let e = HttpApiRequest::from_json(&e.to_string()).unwrap();
        let reply = pipeline.handle_event(e, &format!("r{n}")).await;
        assert_eq!(reply.status_code, 200, "{reply:?}");
        assert!(!reply.is_base64_encoded);
    }
    assert_eq!(pipeline.store().items.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_event_that_cannot_be_read_is_refused_with_its_reason() {
    let query = format!("token={TOKEN}");
    let bad = handle(event(
        "POST",
        "/bililive",
        &query,
        json!({}),
        json!("%%%"),
        true,
    ))
    .await;
    assert_eq!(bad["statusCode"], 400);
    assert_eq!(bad["headers"]["content-type"], "application/json");
    let reason: Value = serde_json::from_str(bad["body"].as_str().unwrap()).unwrap();
    assert_eq!(reason["error"], "body is not valid base64");
    let get = handle(event(
        "GET",
        "/bililive",
        &query,
        json!({}),
        Value::Null,
        false,
    ))
    .await;
    assert_eq!(
        (&get["statusCode"], &get["headers"]["allow"]),
        (&json!(405), &json!("POST"))
    );
}
