//! `livehook pump` as `make dev` runs it, through an emulator restart: the
//! emulator comes back empty, the table is re-created with a new stream, and
//! the pump follows it without being restarted.

use std::process::Stdio;
use std::time::{Duration, Instant};

use livehook_testkit::{Moto, Stack, handle, post, serve_relay};
use serde_json::Value;
use tokio::io::AsyncBufReadExt;

const BIN: &str = env!("CARGO_BIN_EXE_livehook");

fn bililive(event_id: &str) -> Vec<u8> {
    let mut body: Value =
        serde_json::from_slice(&livehook_testkit::sample("bililive", "FileClosed").body)
            .expect("JSON");
    body["EventId"] = Value::from(event_id);
    serde_json::to_vec(&body).expect("JSON")
}

/// Delivers one event and waits (at most 30 s) until the topic's queue has it.
async fn delivered_and_published(stack: &Stack, event_id: &str) {
    let reply = handle(
        &stack.pipeline("bililive"),
        post("/bililive", &bililive(event_id)),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let started = Instant::now();
    loop {
        let published = stack.settled().await;
        if !published.is_empty() {
            assert_eq!(published.len(), 1, "published once");
            assert_eq!(published[0].envelope["data"]["raw"]["EventId"], event_id);
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{event_id} was not published by the pump within 30 s"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pump_survives_an_emulator_restart() {
    let first = Moto::start();
    let port = first.port();
    let mut stack = Stack::on(&first.endpoint, "pump-restart").await;
    let invoke_url = serve_relay(stack.relay()).await;
    let mut pump = tokio::process::Command::new(BIN)
        .args(["pump", "--invoke-url", &invoke_url, "--table", &stack.table])
        .arg("--checkpoint")
        .arg(std::env::temp_dir().join(format!("livehook-pump-{}.json", stack.table)))
        .env("AWS_ENDPOINT_URL", &stack.endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starting livehook pump");
    let mut lines = tokio::io::BufReader::new(pump.stdout.take().expect("stdout")).lines();
    let (tx, mut streams) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(arn) = line.strip_prefix("pump: reading ") {
                let _ = tx.send(arn.to_owned());
            }
        }
    });
    let first_stream = tokio::time::timeout(Duration::from_secs(30), streams.recv())
        .await
        .expect("the pump reads the stream")
        .expect("a stream");
    delivered_and_published(&stack, "before-restart").await;

    // The emulator restarts on the same port, empty; the table comes back
    // with a new stream.
    drop(first);
    let _second = Moto::start_on(port);
    stack.create_resources().await;
    let second_stream = tokio::time::timeout(Duration::from_secs(30), streams.recv())
        .await
        .expect("the pump follows the new stream")
        .expect("a stream");
    assert_ne!(first_stream, second_stream);
    delivered_and_published(&stack, "after-restart").await;
    assert!(
        pump.try_wait().expect("pump status").is_none(),
        "the pump still runs"
    );
}
