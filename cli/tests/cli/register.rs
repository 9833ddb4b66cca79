//! `livehook register` against a wiremock server implementing the Api
//! Server's documented webhook API (shared/reference/apiserver-webhook.vi.md).

use std::process::{Command, Output};

use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const BIN: &str = env!("CARGO_BIN_EXE_livehook");

async fn livehook(args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command.args(args).env_remove("LIVEHOOK_API_URL");
    tokio::task::spawn_blocking(move || command.output().expect("running livehook"))
        .await
        .expect("joining the CLI")
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn webhook(id: u32) -> Value {
    json!({ "id": id.to_string(), "uri": format!("https://hooks.example/{id}"), "event": ["channel_live"] })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_sends_uri_and_event_as_json() {
    let server = MockServer::start().await;
    let uri = "https://abc.example/apiserver?token=s3cret";
    Mock::given(method("POST"))
        .and(path("/v1/webhook"))
        .and(header("content-type", "application/json"))
        .and(body_json(
            json!({ "uri": uri, "event": "channel_live,channel_ended" }),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({ "id": "123456", "uri": uri, "event": ["channel_live", "channel_ended"] }),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let o = livehook(&[
        "register",
        "create",
        "--api",
        &server.uri(),
        "--uri",
        uri,
        "--event",
        "channel_live, channel_ended",
    ])
    .await;
    assert!(o.status.success(), "{}", err(&o));
    let created: Value = serde_json::from_str(&out(&o)).expect("created webhook JSON");
    assert_eq!(created["id"], "123456");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_all_follows_three_pages_until_total() {
    let server = MockServer::start().await;
    let pages = [vec![1, 2], vec![3, 4], vec![5]];
    for (page, ids) in pages.iter().enumerate() {
        Mock::given(method("GET"))
            .and(path("/v1/webhook"))
            .and(query_param("page", page.to_string()))
            .and(query_param("length", "2"))
            .and(query_param("event", "channel_live"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "data": ids.iter().map(|&i| webhook(i)).collect::<Vec<_>>(),
                "total": 5,
                "length": ids.len(),
                "page": page,
            })))
            // The last page is also asked for alone, below.
            .expect(if page == 2 { 2 } else { 1 })
            .mount(&server)
            .await;
    }
    let o = livehook(&[
        "register",
        "list",
        "--api",
        &server.uri(),
        "--length",
        "2",
        "--event",
        "channel_live",
        "--all",
        "--json",
    ])
    .await;
    assert!(o.status.success(), "{}", err(&o));
    let all: Vec<Value> = serde_json::from_str(&out(&o)).expect("a JSON array");
    let ids: Vec<&str> = all.iter().map(|w| w["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["1", "2", "3", "4", "5"]);

    // One page, as a table.
    let o = livehook(&[
        "register",
        "list",
        "--api",
        &server.uri(),
        "--length",
        "2",
        "--page",
        "2",
        "--event",
        "channel_live",
    ])
    .await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).contains("https://hooks.example/5"), "{}", out(&o));
    assert!(err(&o).contains("1 of 5"), "{}", err(&o));
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_puts_and_delete_uses_the_documented_get() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/v1/webhook/123456"))
        .and(body_json(json!({ "uri": "https://new.example/hook", "event": "all" })))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({ "id": "123456", "uri": "https://new.example/hook", "event": ["channel_live", "channel_stop", "channel_ended"] }),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/webhook/123456"))
        .and(query_param("event", "channel_stop"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v1/webhook/777"))
        .and(query_param_is_missing("event"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount(&server)
        .await;

    let o = livehook(&[
        "register",
        "update",
        "123456",
        "--api",
        &server.uri(),
        "--uri",
        "https://new.example/hook",
    ])
    .await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).contains("https://new.example/hook"));

    let o = livehook(&[
        "register",
        "delete",
        "123456",
        "--api",
        &server.uri(),
        "--event",
        "channel_stop",
    ])
    .await;
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).contains("deleted webhook 123456"));

    let o = livehook(&[
        "register",
        "delete",
        "777",
        "--api",
        &server.uri(),
        "--http-delete",
    ])
    .await;
    assert!(o.status.success(), "{}", err(&o));
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4xx_answer_is_a_clear_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/webhook"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({ "error": "uri is invalid" })),
        )
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/v1/webhook/404404"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let o = livehook(&[
        "register",
        "create",
        "--api",
        &server.uri(),
        "--uri",
        "https://x.example/h",
        "-H",
        "Authorization: Bearer very-secret",
    ])
    .await;
    assert!(!o.status.success());
    let e = err(&o);
    assert!(e.contains("400 Bad Request"), "{e}");
    assert!(e.contains("POST /v1/webhook"), "{e}");
    assert!(e.contains("uri is invalid"), "{e}");
    assert!(!e.contains("very-secret") && !out(&o).contains("very-secret"));
    assert_eq!(e.lines().count(), 1, "one clear line: {e}");

    let o = livehook(&[
        "register",
        "update",
        "404404",
        "--api",
        &server.uri(),
        "--uri",
        "https://x.example/h",
    ])
    .await;
    assert!(!o.status.success());
    assert!(
        err(&o).contains("404 Not Found") && err(&o).contains("(empty body)"),
        "{}",
        err(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_before_any_request() {
    let server = MockServer::start().await;
    for args in [
        &["register", "list", "--length", "0"][..],
        &["register", "list", "--length", "101"][..],
        &["register", "create", "--uri", "not a url"][..],
        &[
            "register",
            "create",
            "--uri",
            "https://x.example/",
            "--event",
            "all,channel_live",
        ][..],
        &["register", "update", "../x", "--uri", "https://x.example/"][..],
    ] {
        let mut full = args.to_vec();
        let api = server.uri();
        full.extend(["--api", api.as_str()]);
        let o = livehook(&full).await;
        assert!(!o.status.success(), "{args:?} was accepted");
        assert!(!err(&o).is_empty(), "{args:?}: no message");
        assert!(!err(&o).contains("panicked"), "{args:?}: {}", err(&o));
    }
    let o = livehook(&[
        "register",
        "list",
        "--api",
        &server.uri(),
        "--length",
        "101",
    ])
    .await;
    assert!(err(&o).contains("1..=100"), "{}", err(&o));
    let received = server.received_requests().await.expect("recording is on");
    assert!(received.is_empty(), "{} requests were sent", received.len());
}

/// A webhook whose `uri` carries livehook's token, as livehook's own are.
fn webhook_with_token(id: u32) -> Value {
    json!({ "id": id.to_string(), "uri": format!("https://abc.example/apiserver?token=s3cret-{id}&x=1"), "event": ["channel_live"] })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_and_list_never_print_the_token() {
    let server = MockServer::start().await;
    let uri = "https://abc.example/apiserver?token=s3cret-1&x=1";
    Mock::given(method("POST"))
        .and(path("/v1/webhook"))
        // The token itself is sent: only what is printed is redacted.
        .and(body_json(json!({ "uri": uri, "event": "all" })))
        .respond_with(ResponseTemplate::new(200).set_body_json(webhook_with_token(1)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/webhook"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [webhook_with_token(1), webhook_with_token(2)], "total": 2,
        })))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/v1/webhook/1"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({ "error": format!("bad uri {uri}") })),
        )
        .mount(&server)
        .await;
    let api = server.uri();
    let runs = [
        vec!["register", "create", "--api", &api, "--uri", uri],
        vec!["register", "list", "--api", &api],
        vec!["register", "list", "--api", &api, "--json"],
        vec!["register", "list", "--api", &api, "--all", "--json"],
        vec!["register", "update", "1", "--api", &api, "--uri", uri],
    ];
    for args in runs {
        let o = livehook(&args).await;
        let printed = format!("{}{}", out(&o), err(&o));
        assert!(
            !printed.contains("s3cret"),
            "{args:?} printed the token: {printed}"
        );
        assert!(printed.contains("token=***"), "{args:?}: {printed}");
    }
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_that_would_resolve_to_another_path_are_refused() {
    let server = MockServer::start().await;
    let api = server.uri();
    for id in [
        "%2e%2e",
        "%2E%2e",
        "..",
        "../../admin",
        "a/b",
        "%2e%2e%2fadmin",
        "%2E%2E",
    ] {
        for command in ["update", "delete"] {
            let mut args = vec!["register", command, id, "--api", &api];
            if command == "update" {
                args.extend(["--uri", "https://x.example/"]);
            }
            let o = livehook(&args).await;
            assert!(!o.status.success(), "{args:?} was accepted");
            assert!(
                err(&o).contains("is not a webhook id") && err(&o).contains("another path"),
                "{args:?}: {}",
                err(&o)
            );
        }
    }
    let received = server.received_requests().await.expect("recording is on");
    assert!(received.is_empty(), "{} requests were sent", received.len());
}
