//! The emulator's own share of each invocation's latency.
//!
//! moto interprets every request in Python: a conditional `PutItem` takes it
//! about a millisecond, a transaction two, where DynamoDB answers in a few
//! milliseconds of network and storage that the bench cannot reproduce. So
//! beside a label's latency the bench reports how much of each invocation
//! the emulator spent (scripts/moto_timing.py: each request's start and
//! duration on the wall clock) and the latency less that time: the
//! function's own wait, and the loopback's.

use serde_json::{Value, json};

use crate::recorder::emulator_call;
use crate::stats::{percentile, sorted};

/// Nanoseconds since the epoch: the clock the emulator stamps requests with.
pub fn unix_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// The requests the emulator served from `from_ns` on: (start, duration) in
/// ns, in order. `None` when it does not report them.
pub fn emulator_timings(endpoint: &str, from_ns: u128) -> Option<Vec<(u128, u128)>> {
    let body = emulator_call(
        endpoint,
        "GET",
        &format!("/_livehook/timings?from={from_ns}"),
    )?;
    let answer: Value = serde_json::from_str(&body).ok()?;
    answer["timings"]
        .as_array()?
        .iter()
        .map(|t| Some((t[0].as_u64()?.into(), t[1].as_u64()?.into())))
        .collect()
}

/// The emulator's time in each span (start, end; ns, in order, not
/// overlapping), in ms: the durations of the requests that started within
/// it. The driver runs one invocation at a time, so every request of a span
/// is its invocation's.
pub fn per_span_ms(spans: &[(u128, u128)], timings: &[(u128, u128)]) -> Vec<f64> {
    let mut timings = timings.iter().peekable();
    spans
        .iter()
        .map(|&(start, end)| {
            while timings.next_if(|t| t.0 < start).is_some() {}
            let mut ns = 0;
            while let Some((_, duration)) = timings.next_if(|t| t.0 <= end) {
                ns += duration;
            }
            ns as f64 / 1e6
        })
        .collect()
}

/// The emulator's time in each of `spans` (ms, in order), fetched once:
/// `None` when it does not report its timings.
pub fn emulator_per_span(endpoint: &str, spans: &[(u128, u128)]) -> Option<Vec<f64>> {
    let first = spans.first()?;
    let timings = emulator_timings(endpoint, first.0)?;
    Some(per_span_ms(spans, &timings))
}

/// The JSON fields of a run's emulator time: `emulator_ms` (per invocation:
/// p50, mean) and `latency_less_emulator_ms` (p50, p99 of each invocation's
/// latency less its emulator time). `latencies` are the spans' (ms, in the
/// same order). Null when the emulator does not report its timings.
pub fn emulator_fields(endpoint: Option<&str>, spans: &[(u128, u128)], latencies: &[f64]) -> Value {
    match endpoint.and_then(|endpoint| emulator_per_span(endpoint, spans)) {
        Some(emulator) => emulator_summary(latencies, &emulator),
        None => Value::Null,
    }
}

/// Each latency less the emulator's time in it (ms, same order).
pub fn less_emulator(latencies: &[f64], emulator: &[f64]) -> Vec<f64> {
    latencies
        .iter()
        .zip(emulator)
        .map(|(latency, emulator)| latency - emulator)
        .collect()
}

/// [`emulator_fields`] of invocations whose latencies and emulator times
/// (ms, in the same order) are known.
pub fn emulator_summary(latencies: &[f64], emulator: &[f64]) -> Value {
    let less = sorted(less_emulator(latencies, emulator));
    let mean = emulator.iter().sum::<f64>() / emulator.len().max(1) as f64;
    let emulator = sorted(emulator.to_vec());
    json!({
        "emulator_ms": {"p50": percentile(&emulator, 50.0), "mean": mean},
        "latency_less_emulator_ms": {"p50": percentile(&less, 50.0), "p99": percentile(&less, 99.0)},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_span_gets_the_requests_that_started_within_it() {
        let ms = 1_000_000;
        let spans = [(10 * ms, 20 * ms), (30 * ms, 40 * ms), (50 * ms, 60 * ms)];
        let timings = [
            (5 * ms, 3 * ms),  // before the first span: the driver's own
            (11 * ms, 2 * ms), // first
            (15 * ms, 4 * ms), // first
            (25 * ms, ms),     // between spans: nobody's
            (30 * ms, ms / 2), // second, at its start
            (61 * ms, 7 * ms), // after the last
        ];
        assert_eq!(per_span_ms(&spans, &timings), [6.0, 0.5, 0.0]);
    }
}
