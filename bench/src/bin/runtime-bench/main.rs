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
//!   With `--stream-key`, every delivery is an admission that presents the
//!   stream's key (put in the table first): the probe also counts the AWS
//!   calls of a refusal (a wrong key), and refused answers are counted.
//! - `paired`: a reference (the naive one-call handler) and subject
//!   functions, all spawned first and kept warm, run in alternating small
//!   blocks, each subject block between two reference blocks: every
//!   subject's `warm` result, with its pairs (its block's CPU and p50, the
//!   two reference blocks' around it), and the reference's.
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

mod admission;
mod cold;
mod paired;
mod relay;
mod warm;

use clap::{Parser, Subcommand};
use livehook::providers::ALL;
use livehook_bench::events::Events;
use serde_json::Value;

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
    /// The stream of the synthetic deliveries (default: each one's nonce).
    #[arg(long)]
    stream: Option<String>,
    /// Admission with stream keys (warm): put a publish key for this stream
    /// (`app/stream`, as the provider names it) in the table before the run,
    /// and present it in every delivery's `--query-field`; the AWS calls of
    /// a refusal (a wrong key) are probed too.
    #[arg(long, requires = "query_field")]
    stream_key: Option<String>,
    /// The body field that carries the client's stream URL query (`?key=…`).
    #[arg(long, requires = "stream_key")]
    query_field: Option<String>,
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
    /// Functions measured against a reference in alternating blocks, all
    /// kept warm: each subject block between two reference blocks.
    Paired(paired::PairedArgs),
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

impl Common {
    /// The events this run sends.
    fn events(&self) -> Events {
        let events = Events::new(
            &self.provider,
            self.event.as_deref(),
            &self.token,
            &self.tencent_key,
        );
        match &self.stream {
            Some(stream) => events.about_stream(stream),
            None => events,
        }
    }
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

fn main() {
    let cli = Cli::parse();
    let result = match &cli.mode {
        Mode::Cold { common, runs } => cold::cold(common, *runs),
        Mode::Warm {
            common,
            events,
            duplicate_every,
            emulator,
        } => warm::warm(common, *events, *duplicate_every, emulator.as_deref()),
        Mode::Paired(args) => {
            for result in paired::paired(args) {
                println!("{result}");
            }
            return;
        }
        Mode::Relay(args) => {
            for result in relay::relay(args) {
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
