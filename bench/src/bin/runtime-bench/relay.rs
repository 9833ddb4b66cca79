//! `relay`: the relay function fed with the outbox table's stream.

use std::collections::HashMap;
use std::process::Child;
use std::time::Instant;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use livehook_bench::emulator_time::{emulator_fields, unix_ns};
use livehook_bench::proc::*;
use livehook_bench::recorder::*;
use livehook_bench::runtime_api::*;
use livehook_bench::stats::*;
use serde_json::{Value, json};

use crate::cold::cold_starts;
use crate::{RelayArgs, merge};

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

pub fn relay(args: &RelayArgs) -> Vec<Value> {
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
        invocation += 1;
        let id = format!("relay-{invocation}");
        invoke(&api, child, pending, &id, false, || payload)
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
    let mut spans = Vec::new();
    let cpu_before = cpu_sample(child.id());
    let started = Instant::now();
    for (batch, chunk) in batches.iter().zip(records.chunks(batch_size)) {
        let from = unix_ns();
        match invoke(batch, &mut child, &mut pending) {
            Some((answer, latency)) => {
                spans.push((from, unix_ns()));
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
    let emulator_time = emulator_fields(Some(&args.emulator), &spans, &latencies);
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
    merge(&mut result, emulator_time);
    merge(&mut result, common);
    out.push(result);
    out
}
