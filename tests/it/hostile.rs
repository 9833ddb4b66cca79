//! Hostile and unlucky input, class by class, through the real pipeline on
//! the emulator: each answers the contract's status; what is refused writes
//! no record and publishes nothing; no secret ever reaches the logs; a hung
//! dependency answers 503 well inside the providers' patience.

use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use base64::Engine;
use livehook::lambda;
use livehook::pipeline::Pipeline;
use livehook::relay::Relay;
use livehook::sink::SnsSink;
use livehook::store::DynamoStore;
use livehook_testkit::*;
use serde_json::{Value, json};

/// A request from an API Gateway v2 event after `edit` changes it.
fn edited(
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
    edit: impl FnOnce(&mut Value),
) -> lambda_http::Request {
    let mut event = apigw_event(method, path, query, b"");
    event["body"] = Value::String(String::from_utf8_lossy(body).into_owned());
    edit(&mut event);
    lambda_http::request::from_str(&event.to_string()).expect("an API Gateway v2 event")
}

fn base64_body(bytes: &[u8]) -> impl FnOnce(&mut Value) {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    move |event| {
        event["body"] = Value::String(encoded);
        event["isBase64Encoded"] = Value::Bool(true);
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

fn with_field(body: &[u8], field: &str, value: Value) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(body).expect("JSON sample");
    v[field] = value;
    serde_json::to_vec(&v).expect("JSON")
}

#[tokio::test]
async fn every_hostile_class_gets_its_status_and_leaves_no_trace() {
    // Installed before the first request, so every line is captured.
    captured_logs();
    let stack = Stack::new("hostile").await;
    let token_query = format!("token={TOKEN}");
    let bililive = sample("bililive", "SessionStarted").body;
    let lal = sample("lal", "on_pub_start").body;
    let tencent = sample("tencent", "push").body;

    let mut cases: Vec<(&str, &str, lambda_http::Request, u16)> = vec![
        (
            "invalid UTF-8",
            "bililive",
            edited(
                "POST",
                "/bililive",
                &token_query,
                b"",
                base64_body(b"{\"EventId\":\"\xff\xfe\"}"),
            ),
            400,
        ),
        (
            "deeply nested JSON",
            "bililive",
            post(
                "/bililive",
                format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).as_bytes(),
            ),
            400,
        ),
        (
            "deeply nested object",
            "lal",
            post(
                "/lal/on_update",
                format!("{}1{}", "{\"a\":".repeat(5_000), "}".repeat(5_000)).as_bytes(),
            ),
            400,
        ),
        (
            "number beyond f64",
            "apiserver",
            post(
                "/apiserver",
                br#"{"event":"channel_live","eventTime":1e400,"id":"x"}"#,
            ),
            400,
        ),
        (
            "duplicate keys",
            "bililive",
            post(
                "/bililive",
                br#"{"EventType":"SessionStarted","EventId":"a","EventId":"b","EventData":{}}"#,
            ),
            400,
        ),
        ("empty body", "aodianyun", post("/aodianyun", b""), 400),
        (
            "whitespace body",
            "aodianyun",
            post("/aodianyun", b" \r\n\t"),
            400,
        ),
        (
            "JSON but not an object",
            "apiserver",
            post("/apiserver", b"[\"channel_live\"]"),
            400,
        ),
        (
            "JSON string",
            "apiserver",
            post("/apiserver", b"\"channel_live\""),
            400,
        ),
        (
            "gzip that is not gzip",
            "lal",
            edited("POST", "/lal/on_pub_start", &token_query, &lal, |e| {
                e["headers"]["content-encoding"] = json!("gzip")
            }),
            400,
        ),
        (
            "gzip bomb",
            "lal",
            edited("POST", "/lal/on_update", &token_query, b"", |e| {
                base64_body(&gzip(&vec![b' '; 4 << 20]))(e);
                e["headers"]["content-encoding"] = json!("gzip");
            }),
            413,
        ),
        (
            "unknown content encoding",
            "lal",
            edited("POST", "/lal/on_pub_start", &token_query, &lal, |e| {
                e["headers"]["content-encoding"] = json!("br")
            }),
            400,
        ),
        (
            "several token values",
            "bililive",
            request(
                "POST",
                "/bililive",
                &format!("token={TOKEN}&token={TOKEN}"),
                &bililive,
            ),
            401,
        ),
        (
            "token and a wrong token",
            "bililive",
            request(
                "POST",
                "/bililive",
                &format!("token=wrong&token={TOKEN}"),
                &bililive,
            ),
            401,
        ),
        (
            "token in a header only",
            "bililive",
            edited("POST", "/bililive", "", &bililive, |e| {
                e["headers"]["token"] = json!(TOKEN)
            }),
            401,
        ),
        (
            "lal hook traversal",
            "lal",
            post("/lal/on_pub_start/../../etc/passwd", &lal),
            400,
        ),
        (
            "lal encoded traversal",
            "lal",
            post("/lal/%2e%2e", &lal),
            400,
        ),
        (
            "lal hook with a slash",
            "lal",
            post("/lal/on_pub%2fstart", &lal),
            400,
        ),
        (
            "tencent without a token but with ours",
            "tencent",
            request("POST", "/tencent", &token_query, &tencent),
            401,
        ),
        (
            "method PUT",
            "lal",
            request("PUT", "/lal/on_pub_start", &token_query, &lal),
            405,
        ),
    ];
    // Wrong types for every required field.
    let required: [(&str, &str, &[u8], &[&str]); 5] = [
        (
            "tencent",
            "/tencent",
            &tencent,
            &["event_type", "stream_id"],
        ),
        (
            "aodianyun",
            "/aodianyun",
            &sample("aodianyun", "start_publish").body,
            &["event_type"],
        ),
        (
            "bililive",
            "/bililive",
            &bililive,
            &["EventId", "EventType"],
        ),
        ("lal", "/lal/on_pub_start", &lal, &["session_id"]),
        (
            "apiserver",
            "/apiserver",
            &sample("apiserver", "channel_live").body,
            &["event"],
        ),
    ];
    for (provider, path, body, fields) in required {
        for field in fields {
            for wrong in [
                json!({"x": 1}),
                json!([1]),
                json!(true),
                json!(null),
                json!(""),
            ] {
                let mut bad = with_field(body, field, wrong);
                if provider == "tencent" {
                    bad = livehook_testkit::samples::resign_tencent(&bad, TENCENT_KEY, fresh_t())
                        .expect("object");
                    // channel_id alone would still identify the stream.
                    if *field == "stream_id" {
                        let mut v: Value = serde_json::from_slice(&bad).expect("JSON");
                        v.as_object_mut().expect("object").remove("channel_id");
                        bad = serde_json::to_vec(&v).expect("JSON");
                    }
                }
                let query = if provider == "tencent" {
                    String::new()
                } else {
                    token_query.clone()
                };
                let name = Box::leak(format!("{provider} {field} mistyped").into_boxed_str());
                cases.push((name, provider, request("POST", path, &query, &bad), 400));
            }
        }
    }

    for (name, provider, request, status) in cases {
        let pipeline = stack.pipeline(provider);
        let reply = handle(&pipeline, request).await;
        assert_eq!(reply.status, status, "{name}: {}", reply.body);
        assert!(reply.json()["error"].is_string(), "{name}: {}", reply.body);
        assert_eq!(
            stack.take_calls(),
            Vec::<String>::new(),
            "{name}: AWS was called"
        );
    }
    assert!(
        stack.items().await.is_empty(),
        "a refused request wrote a record"
    );
    assert!(
        stack.messages().await.is_empty(),
        "a refused request was published"
    );

    let logs = logs_text();
    assert!(
        logs.contains("delivery not accepted"),
        "the rejections were logged"
    );
    assert!(!logs.contains(TOKEN), "the token reached the logs");
    assert!(
        !logs.contains(TENCENT_KEY),
        "the Tencent key reached the logs"
    );
    assert!(logs.contains("token=***"), "the query is logged redacted");
}

#[tokio::test]
async fn encoded_bodies_are_accepted_once() {
    let stack = Stack::new("encoded").await;
    let token_query = format!("token={TOKEN}");
    let body = sample("bililive", "FileClosed").body;
    let gzipped = edited("POST", "/bililive", &token_query, b"", |e| {
        base64_body(&gzip(&body))(e);
        e["headers"]["content-encoding"] = json!("gzip");
    });
    let plain_base64 = edited("POST", "/bililive", &token_query, b"", base64_body(&body));
    let pipeline = stack.pipeline("bililive");
    let first = handle(&pipeline, gzipped).await;
    let second = handle(&pipeline, plain_base64).await;
    assert_eq!(
        (first.status, second.status),
        (200, 200),
        "{} / {}",
        first.body,
        second.body
    );
    assert_eq!(first.body, second.body);
    let messages = stack.messages().await;
    assert_eq!(messages.len(), 1);
    let raw = &messages[0].envelope["data"]["raw"];
    assert_eq!(
        raw,
        &serde_json::from_slice::<Value>(&body).expect("JSON"),
        "raw is the decoded body"
    );
}

/// A 1,000-group `on_update` of about 600 KiB, as a busy lalserver sends.
fn busy_update() -> Vec<u8> {
    let groups: Vec<Value> = (0..1000)
        .map(|i| json!({
            "stream_name": format!("stream{i}"), "app_name": "live", "audio_codec": "AAC", "video_codec": "H264",
            "video_width": 1920, "video_height": 1080,
            "pub": {"session_id": format!("RTMPPUBSUB{i}"), "protocol": "RTMP", "base_type": "PUB",
                    "remote_addr": "10.0.0.1:5000", "start_time": "2026-11-25 04:55:44.342",
                    "read_bytes_sum": 123_456_789, "wrote_bytes_sum": 3500, "bitrate_kbits": 2500},
            "subs": [
                {"session_id": format!("FLVSUB{i}"), "protocol": "FLV", "base_type": "SUB", "remote_addr": "10.0.0.2:6000", "wrote_bytes_sum": 5_123_456},
                {"session_id": format!("HLSSUB{i}"), "protocol": "HLS", "base_type": "SUB", "remote_addr": "10.0.0.3:7000", "wrote_bytes_sum": 1_234}
            ]
        }))
        .collect();
    serde_json::to_vec(&json!({"server_id": "edge-1", "groups": groups})).expect("JSON")
}

/// Every group of the messages, in stream order.
fn groups_of(messages: &[Received]) -> Vec<String> {
    let mut streams = Vec::new();
    for m in messages {
        assert_eq!(m.envelope["type"], "server.stats");
        assert_eq!(m.envelope["data"]["part"]["count"], messages.len());
        for g in m.envelope["data"]["raw"]["groups"]
            .as_array()
            .expect("groups")
        {
            streams.push(g["stream_name"].as_str().expect("name").to_owned());
        }
    }
    streams.sort_by_key(|s| {
        s.trim_start_matches("stream")
            .parse::<u32>()
            .unwrap_or(u32::MAX)
    });
    streams
}

#[tokio::test]
async fn large_lal_updates_reach_subscribers_in_parts() {
    let body = busy_update();
    assert!(
        (550_000..700_000).contains(&body.len()),
        "about 600 KiB: {}",
        body.len()
    );
    let expected: Vec<String> = (0..1000).map(|i| format!("stream{i}")).collect();

    // A default topic (256 KiB): parts, packed into batches the strict
    // emulator (as SNS) accepts: at most 10 entries and 256 KiB in all.
    let stack = Stack::new("split").await;
    let pipeline = stack.pipeline("lal");
    let reply = handle(&pipeline, post("/lal/on_update", &body)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let small_topic = stack.messages().await;
    assert!(
        small_topic.len() >= 3,
        "split into parts: {}",
        small_topic.len()
    );
    assert_eq!(
        groups_of(&small_topic),
        expected,
        "every group exactly once"
    );
    // One synchronous call; the relay packs the parts.
    assert_eq!(stack.take_calls(), ["PutItem"]);
    // Parts near the topic's size cannot share a batch: one call each (a
    // single-entry batch goes as Publish); the strict emulator refused the
    // old packing with BatchRequestTooLong.
    let relayed = stack.relay_calls.take();
    assert!(
        relayed.len() >= 3
            && relayed
                .iter()
                .all(|c| c == "Publish" || c == "PublishBatch"),
        "parts over 256 KiB in all need several calls: {relayed:?}"
    );

    // lal never resends: the same body again is the next heartbeat, published in full.
    let again = handle(&pipeline, post("/lal/on_update", &body)).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_ne!(again.body, reply.body, "a new event id");
    assert_eq!(groups_of(&stack.messages().await), expected);

    // A 1 MiB topic: the same update in fewer messages.
    let stack = Stack::new("split-large").await;
    stack.set_max_message_bytes(1024 * 1024).await;
    let pipeline = stack.pipeline_with("lal", &[("LIVEHOOK_MAX_MESSAGE_BYTES", "1048576")]);
    let reply = handle(&pipeline, post("/lal/on_update", &body)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let large_topic = stack.messages().await;
    assert!(
        large_topic.len() < small_topic.len(),
        "{} messages on a 1 MiB topic, {} on 256 KiB",
        large_topic.len(),
        small_topic.len()
    );
    if large_topic.len() > 1 {
        assert_eq!(groups_of(&large_topic), expected);
    } else {
        let raw = &large_topic[0].envelope["data"]["raw"];
        assert_eq!(raw["groups"].as_array().map(Vec::len), Some(1000));
    }
}

/// An endpoint that accepts connections and never answers.
fn black_hole() -> (TcpListener, String) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("binding a loopback port");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    (listener, endpoint)
}

#[tokio::test]
async fn hung_dependencies_answer_503_within_the_deadline() {
    let stack = Stack::new("hung").await;
    let (_dynamo_hole, dynamo_endpoint) = black_hole();
    let (_sns_hole, sns_endpoint) = black_hole();
    // The production SDK configuration (timeouts, retries), pointed at the holes.
    let production = lambda::sdk_config().await;
    let client_for = |endpoint: &str| {
        aws_sdk_dynamodb::config::Builder::from(&production)
            .endpoint_url(endpoint)
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::for_tests())
            .build()
    };
    let sample = sample("lal", "on_pub_start");

    // DynamoDB hangs.
    let config = stack.config(provider_named("lal"), &[]);
    let hung_store = DynamoStore::new(
        aws_sdk_dynamodb::Client::from_conf(client_for(&dynamo_endpoint)),
        &config.table,
    );
    let pipeline = Pipeline::new(provider_named("lal"), &config, hung_store);
    let started = Instant::now();
    let reply = handle(&pipeline, post("/lal/on_pub_start", &sample.body)).await;
    let took = started.elapsed();
    assert_eq!(reply.status, 503, "{}", reply.body);
    println!("hung DynamoDB answered 503 after {took:?}");
    assert!(
        took < Duration::from_secs(5),
        "past lal's patience (3 s) by far: {took:?}"
    );
    assert!(stack.messages().await.is_empty());

    // SNS hangs: never the provider's concern. The delivery is recorded (200);
    // the relay's batch fails within its deadline and is retried, and the
    // next relay publishes it once.
    let reply = handle(
        &stack.pipeline("lal"),
        post("/lal/on_pub_start", &sample.body),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let sns_config = aws_sdk_sns::config::Builder::from(&production)
        .endpoint_url(&sns_endpoint)
        .region(aws_sdk_sns::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sns::config::Credentials::for_tests())
        .build();
    let hung_relay = Relay::new(SnsSink::new(
        aws_sdk_sns::Client::from_conf(sns_config),
        &stack.topic_arn,
        config.max_message_bytes,
    ));
    let started = Instant::now();
    let summary = stack.publish_pending_with(hung_relay).await;
    let took = started.elapsed();
    println!("hung SNS failed the relay's batch after {took:?}");
    assert_eq!(summary.failed_batches, 1, "{summary:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(stack.items().await.len(), 1, "the record stays");
    assert_eq!(stack.messages().await.len(), 1);
}
