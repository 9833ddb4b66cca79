//! `runtime-bench`: a local implementation of the Lambda Runtime API on
//! loopback that spawns any command speaking it (a livehook `bootstrap`, or
//! another implementation to compare) and times it.
//!
//! - `cold`: per spawn, spawn → first `GET …/invocation/next` (init) and the
//!   first invocation (event handed out → response posted); median and p90.
//! - `warm`: one process, many invocations back to back: events/s, CPU per
//!   event (the on-CPU time of its threads, `/proc/<pid>/task/*/schedstat`,
//!   in ns: the 10 ms ticks of utime/stime are too coarse for the relay's
//!   cheap events), p50/p99 handler latency, non-200 answers, peak RSS
//!   (`VmHWM`) at the end, and,
//!   with `--emulator-log`, the AWS calls per new and per duplicate event as
//!   counted in the emulator's request log.
//! - `relay`: the relay function fed with the outbox table's stream, as the
//!   event source mapping feeds it: the records the handlers' runs wrote,
//!   read through the DynamoDB Streams API as `livehook pump` reads them
//!   (`livehook_pump::lambda_record`), handed out in batches of
//!   `--batch-size`: CPU per event and per invocation, latency per
//!   invocation, peak RSS, the AWS calls of one batch; with `--cold-runs`,
//!   its init and first batch too.
//!
//! Events are API Gateway HTTP API v2 requests built from the provider's own
//! description (`livehook::providers::ALL`): its synthetic delivery, or with
//! `--event` one of its `events/` samples with the synthetic's identifying
//! fields transplanted, made unique per invocation so that each is a new
//! event (duplicates on demand), prepared (timestamps, signatures) by the
//! provider itself. No provider is named here.
//!
//! AWS calls are counted with the emulator's request recorder (moto's
//! `/moto-api/recorder/…`), which also shows whether the SDK propagated the
//! X-Ray trace header.

use std::collections::HashMap;
use std::process::Child;
use std::time::{Duration, Instant};

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use clap::{Parser, Subcommand};
use livehook::providers::imitate::by_name;
use livehook::providers::{ALL, AuthScheme, Imitate};
use livehook_testkit::samples::{events_dir, load_dir};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

#[derive(Parser)]
#[command(
    about = "Times cold starts and warm invocations of any command that speaks the Lambda Runtime API"
)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(clap::Args, Clone)]
struct Common {
    /// The provider whose deliveries are sent (a name from `runtime-bench providers`).
    #[arg(long)]
    provider: String,
    /// The name this run is reported under (default: the provider's).
    #[arg(long)]
    label: Option<String>,
    /// Send this `events/<provider>/<EVENT>.json` sample (made unique per
    /// event) instead of the provider's synthetic delivery.
    #[arg(long)]
    event: Option<String>,
    /// Hand out a sampled `Lambda-Runtime-Trace-Id` with every invocation, as
    /// Lambda does with active X-Ray tracing (default: no trace header).
    #[arg(long)]
    xray: bool,
    /// The `?token=` to send.
    #[arg(long, default_value = "bench-token-0123456789")]
    token: String,
    /// The Tencent key to sign with.
    #[arg(long, default_value = "bench-tencent-key")]
    tencent_key: String,
    /// The command to run, and its arguments (after `--`).
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

#[derive(Subcommand)]
enum Mode {
    /// Spawn the command RUNS times: init time and first invocation.
    Cold {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 20)]
        runs: usize,
    },
    /// One process, EVENTS invocations back to back.
    Warm {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 10_000)]
        events: usize,
        /// Every Nth event repeats the previous one (a provider retry).
        #[arg(long, default_value_t = 5)]
        duplicate_every: usize,
        /// The emulator's endpoint (moto): its request recorder counts the
        /// AWS calls per new and per duplicate event.
        #[arg(long)]
        emulator: Option<String>,
    },
    /// The relay, fed with batches of the outbox table's stream records.
    Relay(RelayArgs),
    /// The providers of the registry, one name per line (what `make bench` iterates).
    Providers,
}

#[derive(clap::Args, Clone)]
struct RelayArgs {
    /// The name this run is reported under.
    #[arg(long, default_value = "relay")]
    label: String,
    /// The outbox table whose stream is read.
    #[arg(long, env = "LIVEHOOK_TABLE")]
    table: String,
    /// Only records of this provider (attribute `provider`).
    #[arg(long)]
    provider: Option<String>,
    /// Only records of this canonical type (attribute `type`).
    #[arg(long = "type")]
    event_type: Option<String>,
    /// At most this many records: the stream's last ones that match.
    #[arg(long, default_value_t = 1000)]
    events: usize,
    /// Records per invocation.
    #[arg(long, default_value_t = 10)]
    batch_size: usize,
    /// The emulator's endpoint: its request recorder counts the AWS calls of
    /// one batch.
    #[arg(long)]
    emulator: String,
    /// Also spawn the relay this many times: init and first batch.
    #[arg(long, default_value_t = 0)]
    cold_runs: usize,
    /// The command to run, and its arguments (after `--`).
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

use livehook_bench::proc::*;
use livehook_bench::recorder::*;
use livehook_bench::runtime_api::*;
use livehook_bench::stats::*;

/// A marker nonce: where a provider's synthetic delivery carries it are the
/// fields that identify an event.
const PROBE: &str = "runtime-bench-probe";

/// Every path (object keys, from the root) whose string value contains `needle`.
fn paths_containing(
    value: &Value,
    needle: &str,
    at: &mut Vec<String>,
    found: &mut Vec<Vec<String>>,
) {
    match value {
        Value::String(s) if s.contains(needle) => found.push(at.clone()),
        Value::Object(map) => {
            for (k, v) in map {
                at.push(k.clone());
                paths_containing(v, needle, at, found);
                at.pop();
            }
        }
        _ => {}
    }
}

fn lookup<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, k| v.get(k))
}

fn set_path(map: &mut Map<String, Value>, path: &[String], new: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut here = map;
    for k in parents {
        let entry = here
            .entry(k.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(next) = entry else {
            return;
        };
        here = next;
    }
    here.insert(last.clone(), new);
}

/// Builds API Gateway v2 events for a provider, each made unique by `n` so
/// that it is a new event; the same `n` again is the provider's retry.
struct Events {
    provider: &'static dyn Imitate,
    /// With `--event`: the sample's name (its hook) and body.
    sample: Option<(String, Map<String, Value>)>,
    token: String,
    tencent_key: String,
    /// The time every delivery is prepared at: a retry must carry its first
    /// delivery's timestamps (Api Server keys by `eventTime`), and the nonce
    /// already makes each event unique.
    prepared_at: OffsetDateTime,
}

impl Events {
    fn new(common: &Common) -> Events {
        let provider = by_name(&common.provider).unwrap_or_else(|| {
            panic!(
                "no provider {:?}; known: {:?}",
                common.provider,
                ALL.iter().map(|p| p.name()).collect::<Vec<_>>()
            )
        });
        let sample = common.event.as_ref().map(|event| {
            let sample = load_dir(&events_dir())
                .expect("events/ is readable")
                .into_iter()
                .find(|s| s.provider == provider.name() && &s.event == event)
                .unwrap_or_else(|| panic!("no sample events/{}/{event}.json", provider.name()));
            let body: Map<String, Value> =
                serde_json::from_slice(&sample.body).expect("a JSON object sample");
            (sample.kind().to_owned(), body)
        });
        Events {
            provider,
            sample,
            token: common.token.clone(),
            tencent_key: common.tencent_key.clone(),
            prepared_at: OffsetDateTime::now_utc(),
        }
    }

    /// The `n`th event's body and name; `attempt` > 0 for a resend.
    fn body(&self, n: usize, attempt: u32) -> (String, Vec<u8>) {
        let nonce = format!("bench-{n}");
        let (name, mut body) = match &self.sample {
            None => {
                // The nonce as the stream too: some providers key an event by
                // its stream and time, not by the nonce alone.
                let (name, body) = self.provider.synthetic(&nonce, &nonce);
                (name.to_owned(), body)
            }
            Some((name, sample)) => {
                // The synthetic delivery shows which fields identify an event.
                let (_, probe) = self.provider.synthetic("bench", PROBE);
                let probe = Value::Object(probe);
                let mut found = Vec::new();
                paths_containing(&probe, PROBE, &mut Vec::new(), &mut found);
                let mut body = sample.clone();
                for path in &found {
                    if let Some(Value::String(s)) = lookup(&probe, path) {
                        set_path(&mut body, path, Value::String(s.replace(PROBE, &nonce)));
                    }
                }
                (name.clone(), body)
            }
        };
        let secret = match self.provider.auth_scheme() {
            AuthScheme::TencentSign => Some(self.tencent_key.as_str()),
            AuthScheme::QueryToken | AuthScheme::Signed(_) => None,
        };
        self.provider
            .prepare(&mut body, secret, self.prepared_at, attempt);
        (name, serde_json::to_vec(&body).expect("JSON"))
    }

    /// The `n`th event as the API Gateway v2 request Lambda hands out.
    fn event(&self, n: usize, attempt: u32) -> String {
        let (name, body) = self.body(n, attempt);
        let sending = self.provider.sending();
        let path = if self.provider.receiving().hook_in_path {
            format!("/{}/{name}", self.provider.name())
        } else {
            format!("/{}", self.provider.name())
        };
        let (query, parameters) = match self.provider.auth_scheme() {
            AuthScheme::QueryToken => (
                form_urlencoded_token(&self.token),
                json!({"token": self.token}),
            ),
            AuthScheme::TencentSign | AuthScheme::Signed(_) => (String::new(), Value::Null),
        };
        let user_agent = sending.user_agent.unwrap_or("runtime-bench");
        let mut headers = json!({"content-type": "application/json", "user-agent": user_agent});
        for (k, v) in sending.headers {
            headers[k.to_ascii_lowercase()] = json!(v);
        }
        let unique = format!("bench-{n}-{attempt}");
        let mut event = json!({
            "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
            "headers": headers,
            "requestContext": {"accountId": "123456789012", "apiId": "bench", "domainName": "bench.local", "domainPrefix": "bench",
                "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": user_agent},
                "requestId": unique, "routeKey": "$default", "stage": "$default", "time": "", "timeEpoch": 0},
            "body": String::from_utf8(body).expect("UTF-8"), "isBase64Encoded": false
        });
        // API Gateway leaves the parsed query out when there is none.
        if !parameters.is_null() {
            event["queryStringParameters"] = parameters;
        }
        event.to_string()
    }
}

/// `token=<token>`, percent-encoded.
fn form_urlencoded_token(token: &str) -> String {
    let mut out = String::from("token=");
    for b in token.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What `runs` cold starts of `command` came to.
struct ColdStarts {
    /// Spawn → first `GET …/next`, sorted (ms).
    inits: Vec<f64>,
    /// First invocation: event handed out → answer, sorted (ms).
    firsts: Vec<f64>,
    /// The first invocations' answers.
    answers: Vec<Answer>,
}

impl ColdStarts {
    fn summary(&self) -> Value {
        let (inits, firsts) = (&self.inits, &self.firsts);
        json!({
            "init_ms": {"median": percentile(inits, 50.0), "p90": percentile(inits, 90.0), "min": inits.first(), "max": inits.last()},
            "first_invocation_ms": {"median": percentile(firsts, 50.0), "p90": percentile(firsts, 90.0)},
        })
    }
}

/// Spawns `command` `runs` times; each fresh process gets `payload(run)` as
/// its first invocation, then is stopped.
fn cold_starts(
    command: &[String],
    runs: usize,
    trace: bool,
    payload: impl Fn(usize) -> String,
) -> ColdStarts {
    let api = RuntimeApi::start();
    let (mut inits, mut firsts, mut answers) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let started = Instant::now();
        let mut child = spawn(command, &api);
        let Some((at, request)) = first_next(&api, &mut child) else {
            stop(child);
            eprintln!("run {run}: the function exited or sent no GET …/next within 30 s");
            std::process::exit(1);
        };
        inits.push(ms(at - started));
        let id = format!("cold-{run}");
        let handed = Instant::now();
        hand_out(request, &id, &payload(run), trace);
        let mut pending = None;
        if let Some(answer) = await_answer(&api, &id, &mut child, &mut pending) {
            firsts.push(ms(answer.at - handed));
            answers.push(answer);
        }
        stop(child);
        // The killed process's last `GET …/next` may still be queued: drop it,
        // or the next run would take it for its own first request.
        drop(pending);
        while api.next(Duration::from_millis(50)).is_some() {}
    }
    ColdStarts {
        inits: sorted(inits),
        firsts: sorted(firsts),
        answers,
    }
}

fn cold(common: &Common, runs: usize) -> Value {
    let events = Events::new(common);
    let nonce_base = 1_000_000 * (1 + std::process::id() as usize % 1000);
    let starts = cold_starts(&common.command, runs, common.xray, |run| {
        events.event(run + nonce_base, 0)
    });
    let mut statuses = HashMap::<u16, usize>::new();
    for answer in &starts.answers {
        *statuses.entry(answer.status()).or_default() += 1;
    }
    let mut result = json!({
        "mode": "cold", "provider": common.provider, "label": label(common), "xray": common.xray, "runs": runs,
        "statuses": statuses,
    });
    merge(&mut result, starts.summary());
    result
}

/// Adds `extra`'s fields to the object `into`.
fn merge(into: &mut Value, extra: Value) {
    if let (Value::Object(into), Value::Object(extra)) = (into, extra) {
        into.extend(extra);
    }
}

fn label(common: &Common) -> &str {
    common.label.as_deref().unwrap_or(&common.provider)
}

fn warm(common: &Common, total: usize, duplicate_every: usize, emulator: Option<&str>) -> Value {
    let api = RuntimeApi::start();
    let events = Events::new(common);
    let mut child = spawn(&common.command, &api);
    let base = 2_000_000 * (1 + std::process::id() as usize % 1000);
    let mut pending: Option<Incoming> = None;
    let mut latencies = Vec::with_capacity(total);
    let mut statuses = HashMap::<u16, usize>::new();
    let mut invocation = 0_usize;
    // One invocation of event `n`: its answer and latency (event handed out → response).
    let mut invoke = |n: usize,
                      attempt: u32,
                      child: &mut Child,
                      pending: &mut Option<Incoming>|
     -> Option<(Answer, f64)> {
        let (_, request) = match pending.take() {
            Some(p) => p,
            None => first_next(&api, child)?,
        };
        invocation += 1;
        let id = format!("warm-{invocation}");
        let handed = Instant::now();
        hand_out(request, &id, &events.event(n, attempt), common.xray);
        let answer = await_answer(&api, &id, child, pending)?;
        let latency = ms(answer.at - handed);
        Some((answer, latency))
    };

    // AWS calls per new and per duplicate event, recorded by the emulator,
    // and whether they carried the X-Ray trace header.
    let mut calls = Value::Null;
    if let Some(endpoint) = emulator {
        let probe = base - 1;
        let mut operations = Vec::new();
        let mut traced = 0_usize;
        for attempt in 0..2 {
            let (_, calls) = record_calls(endpoint, || {
                invoke(probe, attempt, &mut child, &mut pending)
            });
            if let Some((called, with_trace)) = calls {
                operations.push(called);
                traced += with_trace;
            }
        }
        if let [new_event, duplicate] = &operations[..] {
            calls = json!({"new_event": new_event.len(), "duplicate": duplicate.len(), "with_trace_header": traced,
                "operations": {"new_event": new_event, "duplicate": duplicate}});
        }
    }

    let cpu_before = cpu_sample(child.id());
    let started = Instant::now();
    let mut last = base;
    for i in 0..total {
        let resend = duplicate_every > 0 && i % duplicate_every == duplicate_every - 1;
        let n = if resend { last } else { base + i };
        last = n;
        match invoke(n, u32::from(resend), &mut child, &mut pending) {
            Some((answer, latency)) => {
                *statuses.entry(answer.status()).or_default() += 1;
                latencies.push(latency);
            }
            None => break,
        }
    }
    let elapsed = started.elapsed();
    let peak_rss_kb = vm_hwm_kb(child.id());
    let cpu_after = cpu_sample(child.id());
    stop(child);
    let done = latencies.len();
    let cpu = cpu_fields(cpu_before, cpu_after, done, done);
    let latencies = sorted(latencies);
    let mut result = json!({
        "mode": "warm", "provider": common.provider, "label": label(common), "event": common.event, "xray": common.xray, "events": done, "duplicate_every": duplicate_every,
        "events_per_second": done as f64 / elapsed.as_secs_f64(),
        "latency_ms": {"p50": percentile(&latencies, 50.0), "p99": percentile(&latencies, 99.0), "max": latencies.last()},
        "peak_rss_kb": peak_rss_kb,
        "statuses": statuses,
        "aws_calls": calls,
    });
    merge(&mut result, cpu);
    result
}

/// Whether a stream image is an outbox record of `provider` and `event_type`
/// (when given).
fn is_outbox_record(
    image: &serde_dynamo::Item,
    provider: Option<&str>,
    event_type: Option<&str>,
) -> bool {
    let text = |name: &str| match image.get(name) {
        Some(serde_dynamo::AttributeValue::S(value)) => Some(value.as_str()),
        _ => None,
    };
    let has_envelope = ["envelope", "envelopes", "envelopes_gz"]
        .iter()
        .any(|name| image.contains_key(*name));
    has_envelope
        && provider.is_none_or(|p| text("provider") == Some(p))
        && event_type.is_none_or(|t| text("type") == Some(t))
}

/// The table's stream, every shard from `TRIM_HORIZON`, as the records
/// Lambda hands the relay (`INSERT` and `MODIFY` only, as the mapping's
/// filter keeps them).
async fn stream_records(table: &str) -> Result<Vec<EventRecord>, String> {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let streams = aws_sdk_dynamodbstreams::Client::new(&sdk);
    let described = dynamodb
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| format!("DescribeTable {table}: {e:?}"))?;
    let arn = described
        .table()
        .and_then(|t| t.latest_stream_arn())
        .ok_or_else(|| format!("table {table} has no stream"))?
        .to_owned();
    let stream = streams
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .map_err(|e| format!("DescribeStream: {e:?}"))?;
    let shards: Vec<String> = stream
        .stream_description()
        .map(|d| {
            d.shards()
                .iter()
                .filter_map(|s| s.shard_id().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut records = Vec::new();
    for shard in shards {
        let mut iterator = streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(&shard)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .map_err(|e| format!("GetShardIterator: {e:?}"))?
            .shard_iterator;
        while let Some(at) = iterator {
            let page = streams
                .get_records()
                .shard_iterator(at)
                .limit(1000)
                .send()
                .await
                .map_err(|e| format!("GetRecords: {e:?}"))?;
            if page.records().is_empty() {
                break;
            }
            records.extend(
                page.records()
                    .iter()
                    .filter_map(|r| livehook_pump::lambda_record(r, &arn))
                    .filter(|r| r.event_name == "INSERT" || r.event_name == "MODIFY"),
            );
            iterator = page.next_shard_iterator;
        }
    }
    Ok(records)
}

/// The records a relay answer asks to retry (`batchItemFailures`); `None`
/// when the answer is not a batch response.
fn batch_failures(answer: &Answer) -> Option<usize> {
    let body: Value = serde_json::from_str(&answer.body).ok()?;
    Some(body["batchItemFailures"].as_array().map_or(0, Vec::len))
}

fn relay(args: &RelayArgs) -> Vec<Value> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut records = runtime
        .block_on(stream_records(&args.table))
        .unwrap_or_else(|e| panic!("reading the stream of {}: {e}", args.table));
    records.retain(|r| {
        is_outbox_record(
            &r.change.new_image,
            args.provider.as_deref(),
            args.event_type.as_deref(),
        )
    });
    let records = &records[records.len().saturating_sub(args.events)..];
    if records.is_empty() {
        eprintln!("no matching outbox record in the stream of {}", args.table);
        std::process::exit(1);
    }
    let batch_size = args.batch_size.max(1);
    let batches: Vec<String> = records
        .chunks(batch_size)
        .map(|chunk| {
            let mut event = Event::default();
            event.records = chunk.to_vec();
            serde_json::to_string(&event).expect("a stream event is JSON")
        })
        .collect();
    let record_bytes =
        records.iter().map(|r| r.change.size_bytes).sum::<i64>() as f64 / records.len() as f64;
    let mut out = Vec::new();
    let common = json!({
        "kind": "relay", "label": args.label, "provider": args.provider, "type": args.event_type,
        "batch_size": batch_size, "record_bytes_mean": record_bytes,
    });

    if args.cold_runs > 0 {
        let starts = cold_starts(&args.command, args.cold_runs, false, |_| batches[0].clone());
        let failures: usize = starts.answers.iter().filter_map(batch_failures).sum();
        let mut result =
            json!({"mode": "cold", "runs": args.cold_runs, "batch_failures": failures});
        merge(&mut result, common.clone());
        merge(&mut result, starts.summary());
        out.push(result);
    }

    let api = RuntimeApi::start();
    let mut child = spawn(&args.command, &api);
    let mut pending: Option<Incoming> = None;
    let mut invocation = 0_usize;
    let mut invoke = |payload: &str, child: &mut Child, pending: &mut Option<Incoming>| {
        let (_, request) = match pending.take() {
            Some(p) => p,
            None => first_next(&api, child)?,
        };
        invocation += 1;
        let id = format!("relay-{invocation}");
        let handed = Instant::now();
        hand_out(request, &id, payload, false);
        let answer = await_answer(&api, &id, child, pending)?;
        let latency = ms(answer.at - handed);
        Some((answer, latency))
    };
    // The AWS calls of one full batch (which also warms the connections,
    // as the handlers' probe does).
    let (_, probe) = record_calls(&args.emulator, || {
        invoke(&batches[0], &mut child, &mut pending)
    });
    let calls = probe.map_or(Value::Null, |(operations, _)| {
        let mut by_operation = HashMap::<String, usize>::new();
        for op in &operations {
            *by_operation.entry(op.clone()).or_default() += 1;
        }
        let events_in_batch = records.len().min(batch_size);
        json!({"per_batch": operations.len(), "events_in_batch": events_in_batch,
            "per_event": operations.len() as f64 / events_in_batch as f64, "operations": by_operation})
    });

    let (mut latencies, mut failures, mut errors, mut events) =
        (Vec::new(), 0_usize, 0_usize, 0_usize);
    let cpu_before = cpu_sample(child.id());
    let started = Instant::now();
    for (batch, chunk) in batches.iter().zip(records.chunks(batch_size)) {
        match invoke(batch, &mut child, &mut pending) {
            Some((answer, latency)) => {
                latencies.push(latency);
                events += chunk.len();
                match batch_failures(&answer) {
                    Some(n) => failures += n,
                    None => errors += 1,
                }
            }
            None => break,
        }
    }
    let elapsed = started.elapsed();
    let peak_rss_kb = vm_hwm_kb(child.id());
    let cpu_after = cpu_sample(child.id());
    stop(child);
    let invocations = latencies.len();
    let cpu = cpu_fields(cpu_before, cpu_after, events, invocations);
    let latencies = sorted(latencies);
    let mut result = json!({
        "mode": "warm", "events": events, "invocations": invocations,
        "events_per_second": events as f64 / elapsed.as_secs_f64(),
        "latency_ms": {"p50": percentile(&latencies, 50.0), "p99": percentile(&latencies, 99.0), "max": latencies.last()},
        "peak_rss_kb": peak_rss_kb,
        "batch_failures": failures, "invocation_errors": errors,
        "aws_calls": calls,
    });
    merge(&mut result, cpu);
    merge(&mut result, common);
    out.push(result);
    out
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.mode {
        Mode::Cold { common, runs } => cold(common, *runs),
        Mode::Warm {
            common,
            events,
            duplicate_every,
            emulator,
        } => warm(common, *events, *duplicate_every, emulator.as_deref()),
        Mode::Relay(args) => {
            for result in relay(args) {
                println!("{result}");
            }
            return;
        }
        Mode::Providers => {
            for provider in ALL {
                println!("{}", provider.name());
            }
            return;
        }
    };
    println!("{result}");
}
