//! `livehook send`, `tail`, `events`, `check` and `pump` against the real
//! pipeline: the test kit's strict emulator, every provider's function served
//! over HTTP, the relay behind the Lambda Invoke API, and the built
//! `livehook` binary: `livehook pump` publishes the table's stream, as
//! `make dev` runs it.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use livehook_testkit::{
    Received, SIGNING_SECRET, Stack, TENCENT_KEY, TOKEN, sdk_config, serve_functions, serve_relay,
};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt};

const BIN: &str = env!("CARGO_BIN_EXE_livehook");

// ---------------------------------------------------------------------------
// The emulated stack: the test kit's strict emulator, one stack, every
// provider's function served over HTTP.

struct World {
    stack: Stack,
    endpoint: String,
    table: String,
    topic_arn: String,
    url: String,
    dynamodb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    _pump: tokio::process::Child,
}

impl World {
    async fn new() -> World {
        let stack = Stack::new("cli").await;
        // The replay window stays on (at the retention, its default): the
        // CLI must refresh the samples' old timestamps to be accepted.
        let window = livehook::config::DEFAULT_RETENTION_SECONDS.to_string();
        let pipelines = livehook::providers::ALL
            .iter()
            .map(|p| {
                let pipeline =
                    stack.pipeline_with(p.name(), &[("LIVEHOOK_REPLAY_WINDOW_SECONDS", &window)]);
                (p.name(), pipeline)
            })
            .collect();
        let url = serve_functions(pipelines).await;
        let invoke_url = serve_relay(stack.relay()).await;
        let mut world = World {
            endpoint: stack.endpoint.clone(),
            table: stack.table.clone(),
            topic_arn: stack.topic_arn.clone(),
            dynamodb: stack.dynamodb.clone(),
            sqs: stack.sqs.clone(),
            sns: stack.sns.clone(),
            url,
            stack,
            _pump: tokio::process::Command::new("true")
                .spawn()
                .expect("a placeholder child"),
        };
        world._pump = world.pump(&invoke_url).await;
        world
    }

    /// Starts `livehook pump` (the one publisher of this world, as in `make
    /// dev`) and waits until it reads the table's stream.
    async fn pump(&self, invoke_url: &str) -> tokio::process::Child {
        let checkpoint = std::env::temp_dir().join(format!("livehook-pump-{}.json", self.table));
        let checkpoint = checkpoint.to_string_lossy().into_owned();
        let mut command = tokio::process::Command::from(self.cli(&[
            "pump",
            "--invoke-url",
            invoke_url,
            "--checkpoint",
            &checkpoint,
        ]));
        let child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("starting livehook pump");
        await_ready(
            child,
            "livehook pump",
            Announces::Stdout,
            "pump: reading",
            None,
        )
        .await
    }

    /// The CLI with the environment a user of this stack would have.
    fn cli(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", std::env::temp_dir())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("LIVEHOOK_TABLE", &self.table)
            .env("LIVEHOOK_TOPIC_ARN", &self.topic_arn)
            .env("LIVEHOOK_FAILED_TABLE", &self.stack.failed_table);
        command
    }

    /// Runs the CLI to completion (off the async runtime's threads).
    async fn run(&self, args: &[&str]) -> Output {
        let mut command = self.cli(args);
        tokio::task::spawn_blocking(move || command.output().expect("running livehook"))
            .await
            .expect("joining the CLI")
    }

    /// Starts `livehook tail …` and waits until it is subscribed.
    async fn tail(&self, args: &[&str]) -> tokio::process::Child {
        let mut command = tokio::process::Command::from(self.cli(args));
        let child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("starting livehook tail");
        await_ready(
            child,
            "livehook tail",
            Announces::Stderr,
            "tail: listening",
            Some("error"),
        )
        .await
    }

    /// `livehook send PROVIDER HOOK` to this world's function of the
    /// provider, with `args` after.
    async fn send_sample(&self, provider: &str, hook: &str, args: &[&str]) -> Output {
        let url = format!("{}/{provider}", self.url);
        let mut all = vec!["send", provider, hook, "--url", &url];
        all.extend_from_slice(args);
        self.run(&all).await
    }

    /// How many subscriptions the topic has (the test's own queue is one).
    async fn subscriptions(&self) -> usize {
        self.sns
            .list_subscriptions_by_topic()
            .topic_arn(&self.topic_arn)
            .send()
            .await
            .expect("ListSubscriptionsByTopic")
            .subscriptions()
            .len()
    }

    /// `livehook tail` left nothing behind (`after` what): no queue of its
    /// own, no subscription on the topic but the test's own.
    async fn assert_tail_left_nothing(&self, after: &str) {
        let queues = self
            .sqs
            .list_queues()
            .queue_name_prefix("livehook-tail-")
            .send()
            .await
            .expect("ListQueues");
        assert!(
            queues.queue_urls().is_empty(),
            "{after} left {:?}",
            queues.queue_urls()
        );
        assert_eq!(
            self.subscriptions().await,
            1,
            "{after} left its subscription"
        );
    }

    /// What SNS published since the last call (through `livehook pump`).
    async fn published(&self) -> Vec<Received> {
        self.stack.settled().await
    }
}

/// Where a spawned `livehook` says it is ready.
#[derive(Clone, Copy)]
enum Announces {
    Stdout,
    Stderr,
}

/// Waits (at most 30 s) until `child`'s stream `on` has a line starting
/// with `ready`; the test fails if the stream ends first or a line holding
/// `failure` comes first. The stream is then drained in the background, so
/// the child never blocks on it.
async fn await_ready(
    mut child: tokio::process::Child,
    name: &str,
    on: Announces,
    ready: &str,
    failure: Option<&str>,
) -> tokio::process::Child {
    let stream: Box<dyn tokio::io::AsyncRead + Unpin + Send> = match on {
        Announces::Stdout => Box::new(child.stdout.take().expect("a piped stdout")),
        Announces::Stderr => Box::new(child.stderr.take().expect("a piped stderr")),
    };
    let mut lines = tokio::io::BufReader::new(stream).lines();
    let outcome = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.starts_with(ready) {
                return Ok(());
            }
            if failure.is_some_and(|f| line.contains(f)) {
                return Err(line);
            }
        }
        Err(format!("ended before saying `{ready}`"))
    })
    .await
    .unwrap_or_else(|_| panic!("{name} did not say `{ready}` within 30 s"));
    outcome.unwrap_or_else(|e| panic!("{name}: {e}"));
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

async fn finish(child: tokio::process::Child) -> (bool, String) {
    let mut child = child;
    let mut stdout = child.stdout.take().expect("stdout");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("tail stopped within 30 s")
        .expect("waiting for tail");
    let mut text = String::new();
    stdout.read_to_string(&mut text).await.expect("tail stdout");
    (status.success(), text)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The event id in a reply body such as `{"ok":true,"id":"…"}`.
fn reply_id(stdout: &str) -> String {
    let start = stdout.find("{\"").expect("a JSON reply in the send output");
    let end = stdout[start..].find('}').expect("end of the reply") + start + 1;
    let reply: Value = serde_json::from_str(&stdout[start..end]).expect("reply JSON");
    reply["id"].as_str().expect("reply id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_tail_and_events_against_the_pipeline() {
    let world = World::new().await;
    let lal_url = format!("{}/lal", world.url);

    // --- send + tail: the lal sample arrives at tail as the published envelope.
    let tail = world
        .tail(&["tail", "--max", "1", "--timeout", "20", "--json"])
        .await;
    let sent = world
        .send_sample("lal", "on_pub_start", &["--token", TOKEN])
        .await;
    let stdout = text(&sent.stdout);
    assert!(
        sent.status.success(),
        "send failed: {stdout}{}",
        text(&sent.stderr)
    );
    // lal never resends, so the CLI sends it once (a resend would be a new event).
    assert_eq!(
        stdout.lines().filter(|l| l.contains("200 OK")).count(),
        1,
        "{stdout}"
    );
    let id = reply_id(&stdout);
    let (ok, tailed) = finish(tail).await;
    assert!(ok, "tail failed");
    let lines: Vec<&str> = tailed.lines().collect();
    assert_eq!(lines.len(), 1, "tail printed: {tailed}");
    let envelope: Value = serde_json::from_str(lines[0]).expect("tail --json prints the envelope");
    assert_eq!(envelope["type"], "stream.started");
    assert_eq!(envelope["subject"], "lal/live/test110");
    assert_eq!(envelope["source"], "livehook/lal");
    assert_eq!(envelope["id"], id.as_str());
    let published = world.published().await;
    assert_eq!(published.len(), 1, "one delivery, one publication");
    assert_eq!(published[0].envelope["id"], id.as_str());
    // `events show` without an id shows the newest recorded event: this one.
    let shown = world.run(&["events", "show"]).await;
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    let shown: Value = serde_json::from_slice(&shown.stdout).expect("events show prints JSON");
    assert_eq!(shown["id"], id.as_str());
    // tail cleaned up: no queue of its own, no subscription left but ours.
    world.assert_tail_left_nothing("tail").await;

    // --- Ctrl-C: tail stops cleanly and deletes its queue and subscription.
    let tail = world.tail(&["tail"]).await;
    let pid = tail.id().expect("tail pid").to_string();
    let interrupted = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill -INT");
    assert!(interrupted.success());
    let (ok, tailed) = finish(tail).await;
    assert!(ok && tailed.is_empty(), "tail after Ctrl-C: {tailed}");
    world.assert_tail_left_nothing("Ctrl-C").await;

    // --- tail's filter policy: only the tencent event, not the lal one.
    let tail = world
        .tail(&[
            "tail",
            "--provider",
            "tencent",
            "--type",
            "stream.*",
            "--max",
            "1",
            "--timeout",
            "20",
        ])
        .await;
    let lal_again = world
        .send_sample("lal", "on_sub_start", &["--token", TOKEN])
        .await;
    assert!(lal_again.status.success(), "{}", text(&lal_again.stdout));
    // Tencent: freshly signed (t = now + 600) with fresh times, re-signed on retry.
    let tencent = world
        .send_sample(
            "tencent",
            "push",
            &["--tencent-key", TENCENT_KEY, "--retry", "1"],
        )
        .await;
    let tencent_out = text(&tencent.stdout);
    assert!(
        tencent.status.success(),
        "{tencent_out}{}",
        text(&tencent.stderr)
    );
    assert_eq!(
        tencent_out.matches(r#"{"code":0}"#).count(),
        2,
        "{tencent_out}"
    );
    assert!(!tencent_out.contains(TENCENT_KEY) && !text(&tencent.stderr).contains(TENCENT_KEY));
    let (ok, tailed) = finish(tail).await;
    assert!(ok);
    assert_eq!(tailed.lines().count(), 1, "{tailed}");
    assert!(
        tailed.contains("stream.started") && tailed.contains("tencent/"),
        "{tailed}"
    );
    assert!(
        !tailed.contains("lal/"),
        "the filter let lal through: {tailed}"
    );
    let published = world.published().await;
    assert_eq!(
        published.len(),
        2,
        "lal on_sub_start and tencent push, once each"
    );

    // --- Aodianyun retries bump retry_times and stay one event.
    let aodianyun = world
        .send_sample(
            "aodianyun",
            "start_publish",
            &["--token", TOKEN, "--retry", "2"],
        )
        .await;
    assert!(aodianyun.status.success(), "{}", text(&aodianyun.stdout));
    let published = world.published().await;
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].envelope["data"]["retry_times"], 1);

    // --- A refused delivery makes send fail, with the status shown.
    let refused = world
        .send_sample("apiserver", "channel_live", &["--token", "wrong"])
        .await;
    assert!(!refused.status.success());
    assert!(
        text(&refused.stdout).contains("401"),
        "{}",
        text(&refused.stdout)
    );
    assert!(text(&refused.stderr).contains("answered 2xx"));
    // A wrong sample name lists the valid ones.
    let wrong = world
        .run(&["send", "lal", "on_nothing", "--url", &lal_url])
        .await;
    assert!(!wrong.status.success());
    assert!(
        text(&wrong.stderr).contains("on_pub_start"),
        "{}",
        text(&wrong.stderr)
    );

    // --- events list: newest first, filters.
    let listed = world.run(&["events", "list", "--json"]).await;
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let rows: Vec<Value> = text(&listed.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON row"))
        .collect();
    assert_eq!(rows.len(), 4, "lal ×2, tencent, aodianyun: {rows:?}");
    assert_eq!(rows[0]["provider"], "aodianyun", "newest first");
    assert_eq!(rows[3]["id"], id.as_str(), "oldest last");
    assert!(
        rows.iter()
            .all(|r| r["subject"].is_string() && r.get("status").is_none())
    );
    let lal_rows = world
        .run(&[
            "events",
            "list",
            "--provider",
            "lal",
            "--type",
            "stream.started",
        ])
        .await;
    let lal_rows = text(&lal_rows.stdout);
    assert_eq!(
        lal_rows.lines().count(),
        2,
        "header and one row: {lal_rows}"
    );
    assert!(lal_rows.contains(&id));
    let limited = world
        .run(&["events", "list", "--json", "--limit", "1"])
        .await;
    assert_eq!(text(&limited.stdout).lines().count(), 1);

    // --- events show: the stored envelope, pretty.
    let shown = world.run(&["events", "show", &id]).await;
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    let shown_text = text(&shown.stdout);
    assert!(
        shown_text.contains("\n  \"id\""),
        "not pretty: {shown_text}"
    );
    let shown: Value = serde_json::from_str(&shown_text).expect("show prints JSON");
    assert_eq!(shown, envelope, "show differs from what was published");
    let missing = world.run(&["events", "show", "no-such-id"]).await;
    assert!(!missing.status.success());
    assert!(text(&missing.stderr).contains("no event no-such-id"));

    // --- events replay: the stored envelope again, with replay=true.
    let replayed = world.run(&["events", "replay", &id]).await;
    assert!(replayed.status.success(), "{}", text(&replayed.stderr));
    let published = world.published().await;
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].envelope, envelope);
    let attrs = &published[0].attributes;
    assert_eq!(attrs.get("replay").map(String::as_str), Some("true"));
    assert_eq!(attrs.get("provider").map(String::as_str), Some("lal"));
    assert_eq!(
        attrs.get("type").map(String::as_str),
        Some("stream.started")
    );
    assert_eq!(
        attrs.get("stream").map(String::as_str),
        Some("live/test110")
    );

    // A record that holds no envelope (an older version's) cannot be replayed.
    world
        .dynamodb
        .put_item()
        .table_name(&world.table)
        .item("pk", AttributeValue::S("no-envelope".into()))
        .item("provider", AttributeValue::S("lal".into()))
        .send()
        .await
        .expect("PutItem");
    let refused = world.run(&["events", "replay", "no-envelope"]).await;
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("no envelope"),
        "{}",
        text(&refused.stderr)
    );
    assert!(world.published().await.is_empty());

    // --- one id everywhere: a ZLMediaKit windowed hook is published with
    // an id that is not its record key; list and show name it by that id.
    let sent = world
        .send_sample("zlmediakit", "on_stream_none_reader", &["--token", TOKEN])
        .await;
    assert!(sent.status.success(), "{}", text(&sent.stderr));
    let published = world.published().await;
    assert_eq!(published.len(), 1);
    let received = &published[0].envelope;
    let zlm_id = received["id"].as_str().expect("an id").to_owned();
    assert_ne!(
        livehook::record::record_key(&zlm_id),
        zlm_id,
        "a windowed id is not its record key"
    );
    let shown = world.run(&["events", "show", &zlm_id]).await;
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    let shown: Value = serde_json::from_str(&text(&shown.stdout)).expect("show prints JSON");
    assert_eq!(&shown, received, "show finds what the subscriber received");
    let listed = world
        .run(&["events", "list", "--json", "--provider", "zlmediakit"])
        .await;
    let rows: Vec<Value> = text(&listed.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON row"))
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["id"], zlm_id.as_str());

    // --stack: the table and topic from a stack's outputs.
    let template = serde_json::json!({
        "Resources": { "Placeholder": { "Type": "AWS::SNS::Topic" } },
        "Outputs": {
            "TableName": { "Value": world.table },
            "TopicArn": { "Value": world.topic_arn },
        }
    });
    aws_sdk_cloudformation::Client::new(&sdk_config(&world.endpoint))
        .create_stack()
        .stack_name("livehook-cli-it")
        .template_body(template.to_string())
        .send()
        .await
        .expect("CreateStack");
    let from_stack = world
        .cli(&["events", "list", "--json", "--stack", "livehook-cli-it"])
        .env_remove("LIVEHOOK_TABLE")
        .env_remove("LIVEHOOK_TOPIC_ARN")
        .output()
        .expect("running livehook");
    assert!(from_stack.status.success(), "{}", text(&from_stack.stderr));
    assert_eq!(
        text(&from_stack.stdout).lines().count(),
        6,
        "5 events (ZLMediaKit's included) and half-done"
    );
    let no_stack = world
        .cli(&["events", "list", "--stack", "no-such-stack"])
        .env_remove("LIVEHOOK_TABLE")
        .output()
        .expect("running livehook");
    assert!(!no_stack.status.success());
    assert!(
        text(&no_stack.stderr).contains("no-such-stack"),
        "{}",
        text(&no_stack.stderr)
    );

    // --- Every compiled-in sample is accepted, the replay window on: the
    // timestamps were refreshed and Tencent's signature is fresh.
    let list = world.run(&["send", "--list"]).await;
    let list = text(&list.stdout);
    let mut sent = 0;
    for line in list.lines() {
        let mut words = line.split_whitespace();
        let provider = words.next().expect("a provider");
        for event in words.filter(|w| !w.starts_with('(')) {
            let o = world
                .send_sample(
                    provider,
                    event,
                    &[
                        "--token",
                        TOKEN,
                        "--tencent-key",
                        TENCENT_KEY,
                        "--secret",
                        SIGNING_SECRET,
                    ],
                )
                .await;
            assert!(
                o.status.success(),
                "{provider}/{event}: {}{}",
                text(&o.stdout),
                text(&o.stderr)
            );
            sent += 1;
        }
    }
    assert!(sent >= 5, "only {sent} samples compiled in:\n{list}");

    // Without a table the error says how to give one.
    let mut bare = Command::new(BIN);
    let bare = bare
        .args(["events", "list"])
        .env_remove("LIVEHOOK_TABLE")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("running livehook");
    assert!(!bare.status.success());
    assert!(
        text(&bare.stderr).contains("--table"),
        "{}",
        text(&bare.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_proves_every_provider_and_fails_on_a_wrong_token() {
    let world = World::new().await;

    let o = world
        .run(&[
            "check",
            "--url",
            &world.url,
            "--token",
            TOKEN,
            "--tencent-key",
            TENCENT_KEY,
            "--secret",
            SIGNING_SECRET,
            "--settle",
            "1",
        ])
        .await;
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{stdout}{}", text(&o.stderr));
    for provider in livehook::providers::ALL_IMITATE {
        let row = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{} ", provider.name())))
            .unwrap_or_else(|| panic!("no row for {}: {stdout}", provider.name()));
        assert!(row.trim_end().ends_with(" ok"), "{row}");
        assert!(row.contains(" 401 "), "{row}");
        let duplicate = if provider.sending().resends {
            " yes "
        } else {
            "never resends"
        };
        assert!(row.contains(duplicate), "{row}");
    }
    // One event per provider reached the topic (the observer does not
    // filter), each about the check stream; the resends and wrong
    // credentials published nothing.
    let published = world.published().await;
    assert_eq!(
        published.len(),
        livehook::providers::ALL.len(),
        "{:?}",
        published
            .iter()
            .map(|p| &p.envelope["subject"])
            .collect::<Vec<_>>()
    );
    for p in &published {
        let subject = p.envelope["subject"].as_str().unwrap_or_default();
        assert!(subject.ends_with("livehook-check"), "{subject}");
        assert!(p.attributes["stream"].ends_with("livehook-check"));
    }

    // A wrong token: every token provider fails with the hint, nothing is
    // published by them, Tencent (signed with the right key) still passes.
    let o = world
        .run(&[
            "check",
            "--url",
            &world.url,
            "--token",
            "not-the-token",
            "--tencent-key",
            TENCENT_KEY,
            "--secret",
            SIGNING_SECRET,
            "--settle",
            "1",
        ])
        .await;
    let stderr = text(&o.stderr);
    assert!(!o.status.success(), "{}", text(&o.stdout));
    assert!(stderr.contains("wrong token"), "{stderr}");
    assert!(!stderr.contains("not-the-token") && !text(&o.stdout).contains("not-the-token"));
    // Tencent and the signed platforms (their own secrets) still pass.
    let mut published: Vec<String> = world
        .published()
        .await
        .iter()
        .map(|p| p.attributes["provider"].clone())
        .collect();
    published.sort();
    let mut own_secret: Vec<String> = livehook::providers::ALL
        .iter()
        .filter(|p| p.auth_scheme() != livehook::providers::AuthScheme::QueryToken)
        .map(|p| p.name().to_owned())
        .collect();
    own_secret.sort();
    assert_eq!(published, own_secret);

    // A wrong signing secret: the signed platforms fail with the hint.
    let mut wrong_signing = vec!["check", "--url", &world.url, "--secret", "not-the-secret"];
    let signed: Vec<&str> = livehook::providers::ALL
        .iter()
        .filter(|p| matches!(p.auth_scheme(), livehook::providers::AuthScheme::Signed(_)))
        .map(|p| p.name())
        .collect();
    for name in &signed {
        wrong_signing.extend(["--provider", name]);
    }
    wrong_signing.extend(["--settle", "0"]);
    if !signed.is_empty() {
        let o = world.run(&wrong_signing).await;
        let stderr = text(&o.stderr);
        assert!(!o.status.success(), "{}", text(&o.stdout));
        assert!(stderr.contains("wrong signing secret"), "{stderr}");
        assert!(!stderr.contains("not-the-secret") && !text(&o.stdout).contains("not-the-secret"));
    }

    // A wrong Tencent key.
    let o = world
        .run(&[
            "check",
            "--url",
            &world.url,
            "--token",
            TOKEN,
            "--tencent-key",
            "wrong",
            "--provider",
            "tencent",
            "--settle",
            "0",
        ])
        .await;
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("wrong Tencent key"),
        "{}",
        text(&o.stderr)
    );

    // The temporary queues and subscriptions are gone.
    // (The emulator is shared with the other tests: only the test's own queue
    // and those of other stacks may remain.)
    let queues = world.sqs.list_queues().send().await.expect("ListQueues");
    assert!(
        queues.queue_urls().iter().all(|q| q.contains("/lh-")),
        "{:?}",
        queues.queue_urls()
    );
    assert_eq!(world.subscriptions().await, 1);
}

/// The ids in `events list --failed --json` output.
fn listed_ids(output: &Output) -> Vec<String> {
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout)
        .lines()
        .map(|line| {
            let row: Value = serde_json::from_str(line).expect("one JSON object per line");
            row["id"].as_str().expect("an id").to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_events_are_listed_and_replayed_once_and_a_time_window_is_replayed() {
    let world = World::new().await;
    let sent = world
        .send_sample("lal", "on_pub_start", &["--token", TOKEN])
        .await;
    assert!(sent.status.success(), "{}", text(&sent.stderr));
    let id = reply_id(&text(&sent.stdout));
    let published = world.published().await;
    assert_eq!(published.len(), 1);
    let envelope = published[0].envelope.clone();

    // What the relay keeps when SNS refuses a message: its dead letter.
    let body = envelope.to_string();
    let letter = livehook::dead_letter::DeadLetter {
        message: livehook::sink::Message {
            body: &body,
            id: "dead-1",
            provider: "lal",
            event_type: "stream.started",
            stream: Some("live/test110"),
            subject: "lal/live/test110",
            replay: false,
            check: false,
        },
        reason: "ParameterValueInvalid: refused",
        record_key: "dead-1",
        received: None,
    };
    use livehook::dead_letter::DeadLetters as _;
    livehook::dead_letter::DynamoDeadLetters::new(
        world.dynamodb.clone(),
        &world.stack.failed_table,
    )
    .keep(&letter)
    .await
    .expect("kept");
    let listed = world.run(&["events", "list", "--failed", "--json"]).await;
    assert_eq!(listed_ids(&listed), ["dead-1"]);
    assert!(text(&listed.stdout).contains("ParameterValueInvalid"));
    let table = world.run(&["events", "list", "--failed"]).await;
    assert!(
        text(&table.stdout).contains("dead-1"),
        "{}",
        text(&table.stdout)
    );

    // Replayed once, marked, then no longer listed (unless asked).
    let replayed = world.run(&["events", "replay", "--failed"]).await;
    assert!(replayed.status.success(), "{}", text(&replayed.stderr));
    assert!(
        text(&replayed.stdout).contains("replayed 1 of 1"),
        "{}",
        text(&replayed.stdout)
    );
    let published = world.published().await;
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].envelope, envelope);
    assert_eq!(
        published[0].attributes.get("replay").map(String::as_str),
        Some("true")
    );
    assert!(listed_ids(&world.run(&["events", "list", "--failed", "--json"]).await).is_empty());
    assert_eq!(
        listed_ids(
            &world
                .run(&["events", "list", "--failed", "--include-replayed", "--json"])
                .await
        ),
        ["dead-1"]
    );
    let again = world.run(&["events", "replay", "--failed"]).await;
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(world.published().await.is_empty(), "replayed once");
    // A dead letter is found by id too.
    let by_id = world.run(&["events", "replay", "dead-1"]).await;
    assert!(by_id.status.success(), "{}", text(&by_id.stderr));
    assert_eq!(world.published().await.len(), 1);

    // A time window: exactly the records first seen in it.
    let item = world
        .dynamodb
        .get_item()
        .table_name(&world.table)
        .key("pk", AttributeValue::S(id.clone()))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item
        .expect("the record");
    let seen_ms: i128 = item["first_seen_ms"]
        .as_n()
        .expect("ms")
        .parse()
        .expect("ms");
    let at = |ms: i128| {
        time::OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000)
            .expect("a time")
            .format(&time::format_description::well_known::Rfc3339)
            .expect("RFC 3339")
    };
    let (since, until) = (at(seen_ms), at(seen_ms + 1));
    let window = world
        .run(&["events", "replay", "--since", &since, "--until", &until])
        .await;
    assert!(window.status.success(), "{}", text(&window.stderr));
    let published = world.published().await;
    assert_eq!(published.len(), 1, "{}", text(&window.stdout));
    assert_eq!(published[0].envelope["id"], id.as_str());
    let empty = world
        .run(&[
            "events",
            "replay",
            "--since",
            &until,
            "--until",
            &at(seen_ms + 2),
        ])
        .await;
    assert!(empty.status.success(), "{}", text(&empty.stderr));
    assert!(world.published().await.is_empty());
    let bad = world
        .run(&["events", "replay", "--since", "yesterday"])
        .await;
    assert!(!bad.status.success());
}
