//! `cold`: per spawn, init time and the first invocation.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use livehook_bench::proc::cpu_sample;
use livehook_bench::runtime_api::*;
use livehook_bench::stats::*;
use serde_json::{Value, json};

use crate::{Common, label, merge};

/// What `runs` cold starts of `command` came to.
pub struct ColdStarts {
    /// Spawn → first `GET …/next`, sorted (ms).
    pub inits: Vec<f64>,
    /// The CPU the process used until that first `GET …/next` (its threads'
    /// on-CPU time, ms), sorted: init without the wait for a shared core.
    pub init_cpus: Vec<f64>,
    /// First invocation: event handed out → answer, sorted (ms).
    pub firsts: Vec<f64>,
    /// The first invocations' answers.
    pub answers: Vec<Answer>,
}

impl ColdStarts {
    pub fn summary(&self) -> Value {
        let (inits, firsts) = (&self.inits, &self.firsts);
        json!({
            "init_ms": {"median": percentile(inits, 50.0), "p90": percentile(inits, 90.0), "min": inits.first(), "max": inits.last()},
            "init_cpu_ms": {"median": percentile(&self.init_cpus, 50.0), "p90": percentile(&self.init_cpus, 90.0)},
            "first_invocation_ms": {"median": percentile(firsts, 50.0), "p90": percentile(firsts, 90.0)},
            // Every spawn's, so that the report pools the spawns of a label's rounds.
            "inits_ms": inits, "firsts_ms": firsts, "init_cpus_ms": self.init_cpus,
        })
    }
}

/// Spawns `command` `runs` times; each fresh process gets `payload(run)` as
/// its first invocation, then is stopped.
pub fn cold_starts(
    command: &[String],
    runs: usize,
    trace: bool,
    payload: impl Fn(usize) -> String,
) -> ColdStarts {
    let api = RuntimeApi::start();
    let (mut inits, mut init_cpus, mut firsts, mut answers) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let started = Instant::now();
        let mut child = spawn(command, &api);
        let Some((at, request)) = first_next(&api, &mut child) else {
            stop(child);
            eprintln!("run {run}: the function exited or sent no GET …/next within 30 s");
            std::process::exit(1);
        };
        inits.push(ms(at - started));
        // Waiting for its first event now: what it has used is its init.
        if let Some(cpu) = cpu_sample(child.id()) {
            init_cpus.push(cpu.on_cpu_ms());
        }
        let id = request_id();
        let handed = Instant::now();
        hand_out(request, &id, payload(run), trace);
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
        init_cpus: sorted(init_cpus),
        firsts: sorted(firsts),
        answers,
    }
}

pub fn cold(common: &Common, runs: usize) -> Value {
    let events = common.events();
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
