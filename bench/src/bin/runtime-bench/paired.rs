//! `paired`: every subject function measured against a reference (the naive
//! one-call handler) in small blocks, each subject block between two
//! reference blocks (`livehook_bench::pairing::schedule`); all the
//! processes spawned first and kept warm. Each subject's result carries its
//! pairs: its block's CPU and latencies beside those of the two reference
//! blocks around it, so that a ratio is formed from the same seconds of the
//! shared machine.

use clap::Parser;
use livehook_bench::emulator_time::{emulator_per_span, emulator_summary, less_emulator};
use livehook_bench::pairing::{Slot, blocks_of, schedule};
use livehook_bench::stats::{percentile, sorted};
use serde_json::{Value, json};

use crate::warm::{Block, WarmProcess};
use crate::{Common, label};

#[derive(clap::Args, Clone)]
pub struct PairedArgs {
    /// The reference function: the arguments of `warm` (`--provider …
    /// --label … -- COMMAND…`) as one string, split at whitespace.
    #[arg(long, allow_hyphen_values = true)]
    reference: String,
    /// A function measured against the reference: `--events N` (its
    /// deliveries in this run) and the arguments of `warm`, as one string
    /// split at whitespace. Repeat for each.
    #[arg(long = "subject", allow_hyphen_values = true)]
    subjects: Vec<String>,
    /// Deliveries per subject block.
    #[arg(long, default_value_t = 100)]
    block: usize,
    /// Deliveries per reference block (each subject block is compared with
    /// the two around it).
    #[arg(long, default_value_t = 50)]
    reference_block: usize,
    /// Deliveries at the start of every block (both sides) that are not
    /// measured: they re-warm a process after its pause. A multiple of
    /// `--duplicate-every` keeps every block's share of resends.
    #[arg(long, default_value_t = 5)]
    rewarm: usize,
    /// Every Nth delivery of a process repeats the one before (a provider retry).
    #[arg(long, default_value_t = 5)]
    duplicate_every: usize,
    /// The emulator's endpoint: the AWS calls probed, the emulator's time
    /// in each invocation.
    #[arg(long)]
    emulator: Option<String>,
    /// Where the subjects' turns start (the round's number: the order rotates).
    #[arg(long, default_value_t = 0)]
    rotate: usize,
}

/// One function of a paired run, as given on the command line.
#[derive(Parser)]
struct Function {
    #[command(flatten)]
    common: Common,
    /// Its deliveries in this run (subjects only).
    #[arg(long, default_value_t = 0)]
    events: usize,
}

fn parse(spec: &str) -> Function {
    Function::try_parse_from(std::iter::once("paired").chain(spec.split_whitespace()))
        .unwrap_or_else(|e| panic!("paired function {spec:?}: {e}"))
}

/// The latencies `ranges` of `values`, sorted.
fn pooled<'v>(
    values: &'v [f64],
    ranges: impl IntoIterator<Item = &'v std::ops::Range<usize>>,
) -> Vec<f64> {
    sorted(
        ranges
            .into_iter()
            .flat_map(|r| values[r.clone()].iter().copied())
            .collect(),
    )
}

fn p50_p99(sorted: &[f64]) -> Value {
    json!({"p50": percentile(sorted, 50.0), "p99": percentile(sorted, 99.0)})
}

pub fn paired(args: &PairedArgs) -> Vec<Value> {
    let reference = parse(&args.reference);
    let subjects: Vec<Function> = args.subjects.iter().map(|s| parse(s)).collect();
    let counts: Vec<Vec<usize>> = subjects
        .iter()
        .map(|s| blocks_of(s.events, args.block))
        .collect();
    let order = schedule(
        &counts.iter().map(Vec::len).collect::<Vec<_>>(),
        args.rotate,
    );
    let reference_events =
        order.iter().filter(|s| **s == Slot::Reference).count() * args.reference_block;
    // Each process numbers its events in a range of its own (probes just
    // below it), so that no two send the same event.
    let stride = 2_000_000 / (subjects.len() + 1);
    let most = subjects
        .iter()
        .map(|s| s.events)
        .chain([reference_events])
        .max()
        .unwrap_or(0);
    assert!(
        most + 2 < stride,
        "{most} deliveries of one process do not fit its {stride} event numbers"
    );
    let base = 2_000_000 * (1 + std::process::id() as usize % 1000) + 2;
    let emulator = args.emulator.as_deref();
    let mut reference_process =
        WarmProcess::start(&reference.common, args.duplicate_every, base, emulator);
    let mut processes: Vec<WarmProcess> = subjects
        .iter()
        .enumerate()
        .map(|(i, s)| {
            WarmProcess::start(
                &s.common,
                args.duplicate_every,
                base + (i + 1) * stride,
                emulator,
            )
        })
        .collect();

    let mut next = vec![0_usize; subjects.len()];
    let blocks: Vec<Block> = order
        .iter()
        .map(|slot| match *slot {
            Slot::Reference => reference_process.block(args.rewarm, args.reference_block),
            Slot::Subject(i) => {
                next[i] += 1;
                processes[i].block(args.rewarm, counts[i][next[i] - 1])
            }
        })
        .collect();

    // The emulator's time in every delivery, all processes' spans in the
    // order they ran (one after another), fetched once.
    let mut all: Vec<(u128, u128, usize, usize)> = Vec::new();
    for (p, process) in std::iter::once(&reference_process)
        .chain(&processes)
        .enumerate()
    {
        all.extend(
            process
                .spans
                .iter()
                .enumerate()
                .map(|(k, &(a, b))| (a, b, p, k)),
        );
    }
    all.sort_unstable();
    let spans: Vec<(u128, u128)> = all.iter().map(|&(a, b, _, _)| (a, b)).collect();
    let emulator_ms: Option<Vec<Vec<f64>>> = emulator
        .and_then(|e| emulator_per_span(e, &spans))
        .map(|times| {
            let mut per: Vec<Vec<f64>> = std::iter::once(&reference_process)
                .chain(&processes)
                .map(|p| vec![0.0; p.spans.len()])
                .collect();
            for (&(_, _, p, k), t) in all.iter().zip(times) {
                per[p][k] = t;
            }
            per
        });
    let less: Option<Vec<Vec<f64>>> = emulator_ms.as_ref().map(|per| {
        std::iter::once(&reference_process)
            .chain(&processes)
            .zip(per)
            .map(|(p, e)| less_emulator(&p.latencies, e))
            .collect()
    });

    let reference_label = label(&reference.common).to_owned();
    let mut results = Vec::new();
    let subject_pairs: Vec<Value> = (0..subjects.len())
        .map(|i| {
            let process = &processes[i];
            let reference_less = less.as_ref().map(|l| &l[0]);
            let own_less = less.as_ref().map(|l| &l[i + 1]);
            let (mut pairs, mut brackets) = (Vec::new(), Vec::new());
            for (at, slot) in order.iter().enumerate() {
                if *slot != Slot::Subject(i) || blocks[at].range.is_empty() {
                    continue;
                }
                let (own, around) = (&blocks[at], [&blocks[at - 1], &blocks[at + 1]]);
                let reference_ranges: Vec<_> = around.iter().map(|b| &b.range).collect();
                let reference_cpu = around
                    .iter()
                    .map(|b| b.cpu_ms)
                    .sum::<Option<f64>>();
                let p50 = |values: &[f64], ranges: &[&std::ops::Range<usize>]| {
                    percentile(&pooled(values, ranges.iter().copied()), 50.0)
                };
                pairs.push(json!({
                    "events": own.range.len(), "cpu_ms": own.cpu_ms,
                    "reference_events": reference_ranges.iter().map(|r| r.len()).sum::<usize>(),
                    "reference_cpu_ms": reference_cpu,
                    "p50_ms": p50(&process.latencies, &[&own.range]),
                    "reference_p50_ms": p50(&reference_process.latencies, &reference_ranges),
                    "p50_less_emulator_ms": own_less.map(|l| p50(l, &[&own.range])),
                    "reference_p50_less_emulator_ms": reference_less.map(|l| p50(l, &reference_ranges)),
                }));
                brackets.extend(reference_ranges);
            }
            let sum = |key: &str| pairs.iter().map(|p| p[key].as_f64()).sum::<Option<f64>>();
            let reference_cpu = sum("reference_cpu_ms").zip(sum("reference_events")).map(|(c, n)| c / n.max(1.0));
            json!({
                "reference": reference_label, "block": args.block, "reference_block": args.reference_block, "rewarm": args.rewarm,
                "reference_cpu_ms_per_event": reference_cpu,
                "reference_latency_ms": p50_p99(&pooled(&reference_process.latencies, brackets.iter().copied())),
                "reference_latency_less_emulator_ms": reference_less.map(|l| p50_p99(&pooled(l, brackets.iter().copied()))),
                "pairs": pairs,
            })
        })
        .collect();

    let emulator_fields = |p: usize, latencies: &[f64]| match &emulator_ms {
        Some(per) => emulator_summary(latencies, &per[p]),
        None => Value::Null,
    };
    for (i, (process, paired)) in processes.into_iter().zip(subject_pairs).enumerate() {
        let emulator_time = emulator_fields(i + 1, &process.latencies);
        let mut result = process.finish(emulator_time);
        result["paired"] = paired;
        results.push(result);
    }
    let emulator_time = emulator_fields(0, &reference_process.latencies);
    let mut result = reference_process.finish(emulator_time);
    result["paired_reference"] = json!({"blocks": reference_events / args.reference_block.max(1), "block": args.reference_block,
        "subjects": subjects.iter().map(|s| label(&s.common)).collect::<Vec<_>>()});
    results.push(result);
    results
}
