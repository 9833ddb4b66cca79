//! `soak` (`make soak`): a chaos run of the whole outbox, not part of
//! `make test`.
//!
//! Every provider of the registry delivers its synthetic events (each a new
//! event, marked by a nonce) through its real pipeline on the strict
//! emulator (scripts/moto_serial.py) with production's SDK deadlines, each
//! sender retrying as the provider does (its documented delays, compressed
//! by `--time-scale`). The real `relay` bootstrap publishes behind a local
//! Lambda, fed by the real `livehook pump`; both are killed (`SIGKILL`) at
//! random and started again, while SNS answers bursts of 5xx and PutItem
//! replies are held back until the handlers give up.
//!
//! Then the books: every record (each delivery answered 200 must have one)
//! is published at least once (what SNS accepted, as the emulator records
//! it) or listed by `livehook events list --failed`;
//! every message carries the id of a record of its own delivery (a repeat is
//! a known id again); one delivery is never two events. The figures are
//! printed; the exit status is non-zero when anything is lost or unexplained.

mod chaos;
mod lambda;
mod ledger;
mod process;
mod senders;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use livehook::providers::{ALL, AuthScheme, Provider};
use livehook_testkit::{
    DynamoStore, LivePipeline, Pipeline, Stack, moto, sdk_config, workspace_dir,
};

use crate::process::{Companion, Spawn, Supervised};

#[derive(Parser)]
#[command(about = "A chaos run of the outbox with exact accounting (make soak)")]
struct Args {
    /// Deliveries (new events), shared among every provider of the registry.
    #[arg(long, default_value_t = 10_000)]
    deliveries: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// The providers' retry delays are multiplied by this (Tencent's 60 s → 3 s).
    #[arg(long, default_value_t = 0.05)]
    time_scale: f64,
    /// Mean pause between two faults, in seconds.
    #[arg(long, default_value_t = 1.5)]
    fault_every: f64,
    /// At most this many pump kills (each restart resumes from the pump's checkpoint).
    #[arg(long, default_value_t = 20)]
    max_pump_kills: usize,
    /// Inject content refusals even when `livehook events list --failed` is
    /// missing (their records are then counted lost: what the books catch).
    #[arg(long)]
    force_refusals: bool,
    /// The seed of the random choices (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
    /// How long to wait for publications to progress after the senders are done.
    #[arg(long, default_value_t = 600)]
    patience_seconds: u64,
    /// The relay's timeout (the template's RelayFunction Timeout), in seconds.
    #[arg(long, default_value_t = 120)]
    relay_timeout: u64,
    /// The relay bootstrap.
    #[arg(long, default_value = "target/debug/relay")]
    relay: PathBuf,
    /// The `livehook` CLI (its `pump` and `events list --failed`).
    #[arg(long, default_value = "target/debug/livehook")]
    livehook: PathBuf,
    /// Where the relay's and the pump's output go.
    #[arg(long, default_value = "target/soak")]
    out: PathBuf,
}

fn main() {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let clean = runtime.block_on(soak(args));
    std::process::exit(if clean { 0 } else { 1 });
}

/// The environment every process of the run gets: the emulator, dummy
/// credentials.
fn aws_env(endpoint: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Starts `livehook pump` with its output appended to `log`.
fn pump_spawner(
    livehook: PathBuf,
    env: Vec<(String, String)>,
    table: String,
    invoke_url: String,
    log: PathBuf,
) -> Spawn {
    Box::new(move || {
        let (livehook, env, table, invoke_url, log) = (
            livehook.clone(),
            env.clone(),
            table.clone(),
            invoke_url.clone(),
            log.clone(),
        );
        Box::pin(async move {
            let out = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)?;
            let child = tokio::process::Command::new(&livehook)
                .args(["pump", "--table", &table, "--invoke-url", &invoke_url])
                // Beside the logs: one file per run's table, resumed after a kill.
                .arg("--checkpoint")
                .arg(log.with_file_name(format!("pump-checkpoint-{table}.json")))
                .envs(env)
                .stdin(Stdio::null())
                .stdout(out.try_clone()?)
                .stderr(out)
                .kill_on_drop(true)
                .spawn()?;
            Ok((child, Companion::None))
        })
    })
}

async fn soak(args: Args) -> bool {
    let seed = args.seed.unwrap_or_else(|| fastrand::u64(..));
    let mut rng = fastrand::Rng::with_seed(seed);
    let root = workspace_dir()
        .canonicalize()
        .expect("the workspace folder");
    let (relay_bin, livehook_bin, out) = (
        root.join(&args.relay),
        root.join(&args.livehook),
        root.join(&args.out),
    );
    for program in [&relay_bin, &livehook_bin] {
        assert!(
            program.exists(),
            "{} is missing: `make soak` builds it",
            program.display()
        );
    }
    std::fs::create_dir_all(&out).expect("creating the output folder");
    let providers: Vec<&str> = ALL.iter().map(|p| p.name()).collect();
    eprintln!(
        "soak: {} deliveries across {} providers ({}), seed {seed}, logs in {}",
        args.deliveries,
        providers.len(),
        providers.join(", "),
        out.display()
    );
    let started = Instant::now();
    let stack = Stack::new("soak").await;
    let env = aws_env(&stack.endpoint);

    let (lambda, invoke_url) = lambda::Lambda::start(Duration::from_secs(args.relay_timeout)).await;
    let mut relay_env = env.clone();
    relay_env.extend(
        [
            ("LIVEHOOK_TOPIC_ARN", stack.topic_arn.as_str()),
            ("LIVEHOOK_TABLE", stack.table.as_str()),
            ("LIVEHOOK_FAILED_TABLE", stack.failed_table.as_str()),
            ("AWS_LAMBDA_FUNCTION_NAME", "relay"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/relay"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "soak"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let relay = Supervised::start(
        "relay",
        lambda.spawner(&relay_bin, relay_env, &out.join("relay.log")),
    );
    let pump = Supervised::start(
        "pump",
        pump_spawner(
            livehook_bin.clone(),
            env.clone(),
            stack.table.clone(),
            invoke_url,
            out.join("pump.log"),
        ),
    );
    // Publications are counted from the emulator's own record of what the
    // topic accepted. The queue the stack subscribes would only slow every
    // Publish: moto's SQS walks its whole backlog for each message sent to
    // it (seconds per call with thousands queued).
    unsubscribe_all(&stack).await;
    let following = Arc::new(Mutex::new(ledger::Received::default()));
    let follow = tokio::spawn(ledger::follow(
        moto(),
        stack.topic_arn.clone(),
        following.clone(),
    ));

    // The handlers in-process, with production's SDK deadlines.
    let pipelines: HashMap<&'static str, LivePipeline> = ALL
        .iter()
        .map(|p| (p.name(), pipeline(&stack, *p)))
        .collect();
    let refusals = args.force_refusals || lists_failed(&livehook_bin).await;
    if !refusals {
        eprintln!(
            "soak: this livehook has no `events list --failed`: no content refusals injected"
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let started_deliveries = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let chaos = chaos::Chaos {
        moto: moto(),
        table: stack.table.clone(),
        topic_arn: stack.topic_arn.clone(),
        relay: &relay,
        pump: &pump,
        max_pump_kills: args.max_pump_kills,
        mean_pause: Duration::from_secs_f64(args.fault_every),
        refusals: refusals.then(|| chaos::Refusals {
            started: started_deliveries.clone(),
            deliveries: args.deliveries,
        }),
    };
    let mut chaos_rng = fastrand::Rng::with_seed(rng.u64(..));
    let sending = async {
        let outcomes = senders::send_all(
            Arc::new(pipelines),
            args.deliveries,
            args.concurrency,
            args.time_scale,
            started_deliveries.clone(),
        )
        .await;
        stop.store(true, Ordering::SeqCst);
        outcomes
    };
    let (outcomes, done) = tokio::join!(sending, chaos.run(&mut chaos_rng, stop.clone()));
    let sent_in = started.elapsed();
    eprintln!(
        "soak: sent in {:.0} s; waiting for the relay to publish what was accepted",
        sent_in.as_secs_f64()
    );

    // Every delivery answered 200 reaches the topic (those SNS refuses are
    // not waited for: the books find them listed as failed, or lost), or the
    // wait runs out of patience.
    let wanted: BTreeSet<usize> = (0..outcomes.len())
        .filter(|n| outcomes[*n].accepted() && !done.refused.contains(n))
        .collect();
    let patience = Duration::from_secs(args.patience_seconds);
    let (mut last_seen, mut last_progress) = (0, Instant::now());
    loop {
        let (seen, missing) = {
            let received = following.lock().expect("ledger lock");
            (
                received.messages.len(),
                wanted.difference(&received.deliveries).count(),
            )
        };
        if seen != last_seen {
            (last_seen, last_progress) = (seen, Instant::now());
        }
        if missing == 0 && last_progress.elapsed() > Duration::from_secs(5) {
            break;
        }
        if last_progress.elapsed() > patience {
            eprintln!(
                "soak: no progress for {} s; {missing} accepted deliveries unseen",
                patience.as_secs()
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (relay_kills, relay_crashes) = (load(&relay.kills), load(&relay.crashes));
    let (pump_kills, pump_crashes) = (load(&pump.kills), load(&pump.crashes));
    pump.stop().await;
    relay.stop().await;
    follow.abort();
    let wall = started.elapsed();

    let (stored, other_items) = ledger::records(&stack.dynamodb, &stack.table)
        .await
        .unwrap_or_else(|e| panic!("reading the table: {e}"));
    let failed = failed_list(&livehook_bin, &env, &stack.table, &stack.failed_table).await;
    // The books read the whole record again, now that nothing publishes.
    let received = ledger::accepted(moto(), &stack.topic_arn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let books = ledger::account(&outcomes, &received, &stored, other_items, failed.as_ref());
    let refused_listed = done
        .refused
        .iter()
        .filter(|n| {
            stored.iter().any(|r| {
                r.delivery == Some(**n)
                    && r.ids
                        .iter()
                        .all(|id| failed.as_ref().is_some_and(|f| f.contains(id)))
            })
        })
        .count();

    let line = |name: &str, value: String| eprintln!("  {name:<22} {value}");
    eprintln!("soak: figures (seed {seed})");
    line("deliveries", books.deliveries.to_string());
    line("attempts", books.attempts.to_string());
    line("accepted (200)", books.accepted.to_string());
    line(
        "written, answered 503",
        books.written_unanswered.to_string(),
    );
    line("not accepted (503)", books.not_accepted.to_string());
    line("other statuses", format!("{:?}", books.other_statuses));
    line(
        "records",
        format!("{} (other items: {})", books.records, books.other_items),
    );
    line("published (ids)", books.published.to_string());
    line("messages", books.messages.to_string());
    line("repeats", books.repeats.to_string());
    line(
        "failed-listed",
        books.failed_listed.map_or_else(
            || "n/a (no `events list --failed`)".to_owned(),
            |n| n.to_string(),
        ),
    );
    line("lost", books.lost.len().to_string());
    line("unexplained", books.unexplained.len().to_string());
    line(
        "faults",
        format!(
            "{} SNS 5xx bursts ({} requests), {} content refusals ({refused_listed} of them listed as failed), {} held PutItem replies, relay killed {relay_kills}× (crashed {relay_crashes}×), pump killed {pump_kills}× (crashed {pump_crashes}×), {} relay invocations failed",
            done.sns_bursts,
            done.sns_failed_requests,
            done.refused.len(),
            done.held_puts,
            load(&lambda.failed_invocations),
        ),
    );
    line(
        "wall time",
        format!(
            "{:.0} s (sending {:.0} s)",
            wall.as_secs_f64(),
            sent_in.as_secs_f64()
        ),
    );
    for what in books.lost.iter().chain(&books.unexplained).take(20) {
        eprintln!("  ! {what}");
    }
    books.lost.is_empty() && books.unexplained.is_empty() && books.other_statuses.is_empty()
}

/// The pipeline of `provider` on `stack` as its function builds it:
/// production's SDK deadlines, a signed platform's secret configured.
fn pipeline(stack: &Stack, provider: &'static dyn Provider) -> LivePipeline {
    let overrides = match provider.auth_scheme() {
        AuthScheme::Signed(proof) => vec![(proof.secret_variable, senders::SIGNING_SECRET)],
        AuthScheme::QueryToken | AuthScheme::TencentSign => Vec::new(),
    };
    let config = stack.config(provider, &overrides);
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk_config(&stack.endpoint))
            .timeout_config(livehook::lambda::production_timeouts())
            .build(),
    );
    Pipeline::new(provider, &config, DynamoStore::new(client, &config.table))
}

/// Removes every subscription of the stack's topic.
async fn unsubscribe_all(stack: &Stack) {
    let subscriptions = stack
        .sns
        .list_subscriptions_by_topic()
        .topic_arn(&stack.topic_arn)
        .send()
        .await
        .expect("ListSubscriptionsByTopic");
    for arn in subscriptions
        .subscriptions()
        .iter()
        .filter_map(|s| s.subscription_arn())
    {
        stack
            .sns
            .unsubscribe()
            .subscription_arn(arn)
            .send()
            .await
            .expect("Unsubscribe");
    }
}

/// Whether this `livehook` lists what the relay could not publish.
async fn lists_failed(livehook: &PathBuf) -> bool {
    tokio::process::Command::new(livehook)
        .args(["events", "list", "--help"])
        .output()
        .await
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("--failed"))
}

fn load(counter: &std::sync::atomic::AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

/// The ids `livehook events list --failed` lists; `None` when this version
/// has no such listing.
async fn failed_list(
    livehook: &PathBuf,
    env: &[(String, String)],
    table: &str,
    failed_table: &str,
) -> Option<BTreeSet<String>> {
    let output = tokio::process::Command::new(livehook)
        .args([
            "events",
            "list",
            "--failed",
            "--json",
            "--limit",
            "1000000",
            "--table",
            table,
            "--failed-table",
            failed_table,
        ])
        .envs(env.iter().cloned())
        .output()
        .await
        .ok()?;
    if !output.status.success() {
        eprintln!(
            "soak: `livehook events list --failed` failed: {}",
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .next()
                .unwrap_or("")
        );
        return None;
    }
    Some(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["id"].as_str().map(str::to_owned))
            .collect(),
    )
}
