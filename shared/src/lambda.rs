//! The Lambda entry points the function binaries call: [`serve`] for a
//! provider's webhook function, [`serve_relay`] for the relay.

use std::convert::Infallible;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use lambda_runtime::LambdaEvent;
use serde_json::value::RawValue;

use crate::config::{Config, RelayConfig};
use crate::dead_letter::{DeadLetters, DynamoDeadLetters};
use crate::http_api::HttpApiRequest;
use crate::key_use::DynamoKeyUses;
use crate::pipeline::Pipeline;
use crate::providers::Provider;
use crate::relay::Relay;
use crate::sink::SnsSink;
use crate::store::DynamoStore;
use crate::stream_event::StreamBatch;
use crate::telemetry;

/// Loads the AWS SDK configuration with deadlines that keep a hung
/// dependency well inside a provider's patience (Tencent: 20 s; lal: 3 s):
/// the one call of a delivery gives up after 2.5 s (two attempts of at most
/// 1 s each), far inside the function's timeout.
///
/// Everything else is the SDK's default on purpose: measured side by side
/// against these defaults (bench/notes.md), turning stalled-stream protection
/// off and caching the endpoint resolver's answers changed CPU per event by
/// less than the run-to-run noise (±0.1 ms), and mimalloc as the global
/// allocator raised peak RSS from 8.5 to 15.7 MB for a gain inside the noise.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(production_timeouts())
        .retry_config(RetryConfig::standard().with_max_attempts(2))
        .load()
        .await
}

/// Builds the pipeline for `provider` from the environment: configuration
/// validated, AWS clients built once.
pub async fn pipeline_from_env(
    provider: &'static dyn Provider,
) -> Result<Pipeline<DynamoStore>, crate::config::ConfigError> {
    let config = Config::for_provider(provider, |name| std::env::var(name).ok())?;
    let sdk = sdk_config().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &config.table);
    Ok(Pipeline::new(provider, &config, store))
}

/// The relay's SDK configuration: nothing waits on the relay, so its calls
/// get the time its own invocation has (each call is bounded by Lambda's
/// deadline for the batch, see [`crate::relay::Relay::relay_until`]), with
/// [`relay_timeouts`] as the outer bounds and three attempts.
///
/// Stalled-stream protection is off: it watches the throughput of every
/// body, for streams that can stall for good (downloads); the relay's
/// bodies are a `PublishBatch` held in memory and SNS's short answer, and
/// an attempt that stalls is ended by the attempt timeout and retried.
/// Watching them cost under 1 % of the relay's instructions at batch 10
/// (bench/notes.md, "The relay at batch 10: instruction counts").
pub async fn relay_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(relay_timeouts())
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .load()
        .await
}

/// The relay's outer deadlines per AWS call: 3 s to connect, attempts of at
/// most 30 s, 60 s in all (inside the relay's 120 s timeout; a slow SNS
/// answering after 2.5 s is waited for, not timed out after it applied a
/// batch).
pub fn relay_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(30))
        .operation_timeout(Duration::from_secs(60))
        .build()
}

/// The functions' deadlines per AWS call: 500 ms to connect, two attempts
/// of at most 1 s, 2.5 s in all (tests of held-back replies use them too).
pub fn production_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(500))
        .operation_attempt_timeout(Duration::from_secs(1))
        .operation_timeout(Duration::from_millis(2500))
        .build()
}

/// Runs a provider's Lambda function: logging, configuration (a bad one stops
/// the function at start-up with a clear message), AWS clients built once,
/// then every request through the pipeline.
pub async fn serve(provider: &'static dyn Provider) -> Result<(), lambda_http::Error> {
    telemetry::init();
    let pipeline = match pipeline_from_env(provider).await {
        Ok(pipeline) => pipeline,
        Err(e) => {
            tracing::error!(provider = provider.name(), error = %e, "configuration error");
            // A String error prints as its message when main returns it.
            return Err(format!("configuration error: {e}").into());
        }
    };
    let pipeline = &pipeline;
    // API Gateway's event read directly, not through lambda_http's request
    // conversion (see crate::http_api). Boxed: the runtime's future is deep
    // enough to exceed the compiler's default query depth in the binary's main.
    Box::pin(lambda_runtime::run(lambda_runtime::service_fn(
        move |event: LambdaEvent<Box<RawValue>>| async move {
            // Parsed here rather than by lambda_runtime, whose path tracking
            // (serde_path_to_error) keeps a String of every key it reads.
            let request = HttpApiRequest::from_json(event.payload.get())?;
            let response = pipeline
                .handle_event(request, &event.context.request_id)
                .await;
            Ok::<_, lambda_runtime::Error>(response)
        },
    )))
    .await
}

/// Runs the relay: the table's stream batches published to the topic, the
/// records not published returned as `batchItemFailures`.
pub async fn serve_relay() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = match RelayConfig::from_env() {
        Ok(config) => config,
        Err(e) => {
            tracing::error!(function = "relay", error = %e, "configuration error");
            return Err(format!("configuration error: {e}").into());
        }
    };
    let sdk = relay_sdk_config().await;
    // One DynamoDB client for the dead letters and the keys' uses.
    let dynamodb = (config.failed_table.is_some() || config.table.is_some())
        .then(|| aws_sdk_dynamodb::Client::new(&sdk));
    let key_uses = match (&config.table, &dynamodb) {
        (Some(table), Some(client)) => Some(DynamoKeyUses::new(client.clone(), table)),
        _ => {
            tracing::warn!(
                function = "relay",
                "no LIVEHOOK_TABLE: stream keys' last use is not recorded"
            );
            None
        }
    };
    let relay = Relay::new(SnsSink::new(
        aws_sdk_sns::Client::new(&sdk),
        &config.topic_arn,
        config.max_message_bytes,
    ))
    .with_key_uses(key_uses);
    match (&config.failed_table, dynamodb) {
        (Some(table), Some(client)) => {
            let dead_letters = DynamoDeadLetters::new(client, table);
            // Boxed: the relay's future is deep enough to exceed the
            // compiler's default query depth in the binary's main.
            Box::pin(run_relay(
                relay.with_dead_letters(dead_letters, config.dead_letter_after),
            ))
            .await
        }
        _ => {
            tracing::warn!(
                function = "relay",
                "no LIVEHOOK_FAILED_TABLE: what SNS refuses is retried until the mapping gives up"
            );
            Box::pin(run_relay(relay)).await
        }
    }
}

async fn run_relay<D: DeadLetters>(
    relay: Relay<SnsSink, D, Option<DynamoKeyUses>>,
) -> Result<(), lambda_runtime::Error> {
    let relay = &relay;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: LambdaEvent<StreamBatch>| async move {
            // Lambda's deadline for this invocation (Unix ms), as an Instant.
            let now_ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
            let left_ms = i128::from(event.context.deadline) - now_ms;
            let deadline = u64::try_from(left_ms)
                .ok()
                .map(|ms| std::time::Instant::now() + Duration::from_millis(ms));
            let report = relay.relay_until(&event.payload, deadline).await;
            let now_ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
            telemetry::emit_relay_metrics(report.counts, i64::try_from(now_ms).unwrap_or(0));
            Ok::<DynamoDbEventResponse, Infallible>(report.response())
        },
    ))
    .await
}
