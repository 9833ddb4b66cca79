//! `warm`: one process, many invocations back to back.

use std::collections::HashMap;
use std::process::Child;
use std::time::Instant;

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
    let api = RuntimeApi::start();
    let mut events = common.events();
    let admission = common
        .stream_key
        .as_deref()
        .zip(common.query_field.as_deref())
        .map(|(stream, field)| Admission::prepare(&common.provider, events.clone(), stream, field));
    if let Some(admission) = &admission {
        events = admission.admitted.clone();
    }
    let mut child = spawn(&common.command, &api);
    let base = 2_000_000 * (1 + std::process::id() as usize % 1000);
    let mut pending: Option<Incoming> = None;
    let mut latencies = Vec::with_capacity(total);
    // Each invocation's span on the wall clock, for the emulator's time in it.
    let mut spans = Vec::with_capacity(total);
    let mut statuses = HashMap::<u16, usize>::new();
    let mut invocation = 0_usize;
    // One invocation of event `n`: its answer and latency (event handed out → response).
    let mut invoke = |events: &Events,
                      n: usize,
                      attempt: u32,
                      child: &mut Child,
                      pending: &mut Option<Incoming>|
     -> Option<(Answer, f64)> {
        invocation += 1;
        let id = format!("warm-{invocation}");
        invoke(&api, child, pending, &id, common.xray, || {
            events.event(n, attempt)
        })
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
                invoke(&events, probe, attempt, &mut child, &mut pending)
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
        // An admission's refusal: a wrong key, on another event.
        if let Some(admission) = &admission {
            let (answer, refused) = record_calls(endpoint, || {
                invoke(&admission.refused, probe - 1, 0, &mut child, &mut pending)
            });
            let was_refused = answer.is_some_and(|(a, _)| admission.is_refusal(&a));
            if let Some((refused, _)) = refused {
                calls["refusal"] = json!(refused.len());
                calls["refusal_answered"] = json!(was_refused);
                calls["operations"]["refusal"] = json!(refused);
            }
        }
    }

    let cpu_before = cpu_sample(child.id());
    let started = Instant::now();
    let mut last = base;
    let mut refusals = 0_usize;
    for i in 0..total {
        let resend = duplicate_every > 0 && i % duplicate_every == duplicate_every - 1;
        let n = if resend { last } else { base + i };
        last = n;
        let from = unix_ns();
        match invoke(&events, n, u32::from(resend), &mut child, &mut pending) {
            Some((answer, latency)) => {
                spans.push((from, unix_ns()));
                *statuses.entry(answer.status()).or_default() += 1;
                if admission.as_ref().is_some_and(|a| a.is_refusal(&answer)) {
                    refusals += 1;
                }
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
    let emulator_time = emulator_fields(emulator, &spans, &latencies);
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
    if admission.is_some() {
        result["admission"] = json!({"stream": common.stream_key, "refused": refusals});
    }
    merge(&mut result, cpu);
    merge(&mut result, emulator_time);
    result
}
