//! `warm`: one process, many invocations back to back; [`WarmProcess`] is
//! such a process, run in blocks (one for `warm`, many for `paired`).

use std::collections::HashMap;
use std::process::Child;
use std::time::{Duration, Instant};

use livehook_bench::emulator_time::{emulator_fields, unix_ns};
use livehook_bench::events::Events;
use livehook_bench::proc::*;
use livehook_bench::recorder::*;
use livehook_bench::runtime_api::*;
use livehook_bench::stats::*;
use serde_json::{Value, json};

use crate::admission::Admission;
use crate::{Common, label, merge};

pub fn warm(
    common: &Common,
    total: usize,
    duplicate_every: usize,
    emulator: Option<&str>,
) -> Value {
    let base = 2_000_000 * (1 + std::process::id() as usize % 1000);
    let mut process = WarmProcess::start(common, duplicate_every, base, emulator);
    process.block(0, total);
    let spans = process.spans.clone();
    let latencies = process.latencies.clone();
    let emulator_time = emulator_fields(emulator, &spans, &latencies);
    process.finish(emulator_time)
}

/// A function's process kept warm, its deliveries sent in blocks.
pub struct WarmProcess<'a> {
    common: &'a Common,
    api: RuntimeApi,
    events: Events,
    admission: Option<Admission>,
    child: Child,
    pending: Option<Incoming>,
    duplicate_every: usize,
    base: usize,
    /// Deliveries sent so far (duplicates included), and the last event's number.
    sent: usize,
    last: usize,
    calls: Value,
    /// Every measured delivery: its latency (handed out → answered, ms) and
    /// its span on the wall clock, for the emulator's time in it.
    pub latencies: Vec<f64>,
    pub spans: Vec<(u128, u128)>,
    statuses: HashMap<u16, usize>,
    refusals: usize,
    cpu: Option<CpuUse>,
    elapsed: Duration,
    stopped: bool,
}

/// One block of a process's deliveries.
pub struct Block {
    /// Its deliveries: indexes into the process's `latencies` and `spans`.
    pub range: std::ops::Range<usize>,
    /// The CPU the process used over the block (ms; `None` when `/proc`
    /// could not be read).
    pub cpu_ms: Option<f64>,
}

impl<'a> WarmProcess<'a> {
    /// Spawns the command and, with an emulator, probes the AWS calls of
    /// one new event and its duplicate (and of an admission's refusal);
    /// its events are numbered from `base` (the probes just below it).
    pub fn start(
        common: &'a Common,
        duplicate_every: usize,
        base: usize,
        emulator: Option<&str>,
    ) -> WarmProcess<'a> {
        let api = RuntimeApi::start();
        let mut events = common.events();
        let admission = common
            .stream_key
            .as_deref()
            .zip(common.query_field.as_deref())
            .map(|(stream, field)| {
                Admission::prepare(&common.provider, events.clone(), stream, field)
            });
        if let Some(admission) = &admission {
            events = admission.admitted.clone();
        }
        let child = spawn(&common.command, &api);
        let mut process = WarmProcess {
            common,
            api,
            events,
            admission,
            child,
            pending: None,
            duplicate_every,
            base,
            sent: 0,
            last: base,
            calls: Value::Null,
            latencies: Vec::new(),
            spans: Vec::new(),
            statuses: HashMap::new(),
            refusals: 0,
            cpu: None,
            elapsed: Duration::ZERO,
            stopped: false,
        };
        if let Some(endpoint) = emulator {
            process.calls = process.probe(endpoint);
        }
        process
    }

    /// One invocation of event `n` (`refused`: with the admission's wrong
    /// key): its answer and latency.
    fn invoke(&mut self, n: usize, attempt: u32, refused: bool) -> Option<(Answer, f64)> {
        let id = request_id();
        let events = match (&self.admission, refused) {
            (Some(admission), true) => &admission.refused,
            _ => &self.events,
        };
        invoke(
            &self.api,
            &mut self.child,
            &mut self.pending,
            &id,
            self.common.xray,
            || events.event(n, attempt),
        )
    }

    /// AWS calls per new and per duplicate event, recorded by the emulator,
    /// and whether they carried the X-Ray trace header.
    fn probe(&mut self, endpoint: &str) -> Value {
        let probe = self.base - 1;
        let mut calls = Value::Null;
        let mut operations = Vec::new();
        let mut traced = 0_usize;
        for attempt in 0..2 {
            let (_, calls) = record_calls(endpoint, || self.invoke(probe, attempt, false));
            if let Some((called, with_trace)) = calls {
                operations.push(called);
                traced += with_trace;
            }
        }
        if let [new_event, duplicate] = &operations[..] {
            calls = json!({"new_event": new_event.len(), "duplicate": duplicate.len(), "with_trace_header": traced,
                "operations": {"new_event": new_event, "duplicate": duplicate}});
        }
        // An admission's refusal: a wrong key, on another event.
        if self.admission.is_some() {
            let (answer, refused) = record_calls(endpoint, || self.invoke(probe - 1, 0, true));
            let was_refused = answer.is_some_and(|(a, _)| self.is_refusal(&a));
            if let Some((refused, _)) = refused {
                calls["refusal"] = json!(refused.len());
                calls["refusal_answered"] = json!(was_refused);
                calls["operations"]["refusal"] = json!(refused);
            }
        }
        calls
    }

    fn is_refusal(&self, answer: &Answer) -> bool {
        self.admission
            .as_ref()
            .is_some_and(|a| a.is_refusal(answer))
    }

    /// The next delivery (every `duplicate_every`th a resend of the one
    /// before): its answer and latency.
    fn deliver(&mut self) -> Option<(Answer, f64)> {
        let i = self.sent;
        self.sent += 1;
        let every = self.duplicate_every;
        let resend = every > 0 && i % every == every - 1;
        let n = if resend { self.last } else { self.base + i };
        self.last = n;
        self.invoke(n, u32::from(resend), false)
    }

    /// `rewarm` deliveries that are not measured, then the next `count`,
    /// their CPU measured from first to last. After a pause (the other
    /// functions' blocks of a paired run) the first deliveries cost more:
    /// about 0.2 ms of CPU more for the first, a little for the next few
    /// (caches refilled); unmeasured, every block is read warm, as one
    /// long run is.
    pub fn block(&mut self, rewarm: usize, count: usize) -> Block {
        let from = self.latencies.len();
        for _ in 0..rewarm {
            if self.stopped || self.deliver().is_none() {
                self.stopped = true;
            }
        }
        if self.stopped {
            return Block {
                range: from..from,
                cpu_ms: None,
            };
        }
        let cpu_before = cpu_sample(self.child.id());
        let started = Instant::now();
        for _ in 0..count {
            let at = unix_ns();
            match self.deliver() {
                Some((answer, latency)) => {
                    self.spans.push((at, unix_ns()));
                    *self.statuses.entry(answer.status()).or_default() += 1;
                    if self.is_refusal(&answer) {
                        self.refusals += 1;
                    }
                    self.latencies.push(latency);
                }
                None => {
                    self.stopped = true;
                    break;
                }
            }
        }
        self.elapsed += started.elapsed();
        let used = cpu_before
            .zip(cpu_sample(self.child.id()))
            .map(|(before, after)| CpuUse::between(&before, &after));
        if let Some(used) = &used {
            self.cpu.get_or_insert_default().add(used);
        }
        Block {
            range: from..self.latencies.len(),
            cpu_ms: used.map(|u| u.total_ms()),
        }
    }

    /// Stops the process: the result of all its blocks, with
    /// `emulator_time`'s fields (see `emulator_fields`).
    pub fn finish(self, emulator_time: Value) -> Value {
        let peak_rss_kb = vm_hwm_kb(self.child.id());
        stop(self.child);
        let common = self.common;
        let done = self.latencies.len();
        let cpu = match &self.cpu {
            Some(used) => cpu_use_fields(used, done, done),
            None => json!({"cpu_ms_per_event": null}),
        };
        let latencies = sorted(self.latencies);
        let mut result = json!({
            "mode": "warm", "provider": common.provider, "label": label(common), "event": common.event, "xray": common.xray, "events": done, "duplicate_every": self.duplicate_every,
            "events_per_second": done as f64 / self.elapsed.as_secs_f64(),
            "latency_ms": {"p50": percentile(&latencies, 50.0), "p99": percentile(&latencies, 99.0), "max": latencies.last()},
            "peak_rss_kb": peak_rss_kb,
            "statuses": self.statuses,
            "aws_calls": self.calls,
        });
        if self.admission.is_some() {
            result["admission"] = json!({"stream": common.stream_key, "refused": self.refusals});
        }
        merge(&mut result, cpu);
        merge(&mut result, emulator_time);
        result
    }
}
