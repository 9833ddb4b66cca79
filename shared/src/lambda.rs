//! The Lambda entry point every function binary calls.

use std::convert::Infallible;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use lambda_http::{Request, service_fn};

use crate::config::Config;
use crate::pipeline::Pipeline;
use crate::providers::Provider;
use crate::sink::SnsSink;
use crate::store::DynamoStore;
use crate::telemetry;

/// Loads the AWS SDK configuration with deadlines that keep a hung
/// dependency well inside a provider's patience (Tencent: 20 s): each call
/// gives up after 2.5 s (two attempts of at most 1 s each), so the three
/// calls of a delivery cannot exceed the function's timeout.
///
/// Everything else is the SDK's default on purpose: measured side by side
/// against these defaults (bench/notes.md), turning stalled-stream protection
/// off and caching the endpoint resolver's answers changed CPU per event by
/// less than the run-to-run noise (±0.1 ms), and mimalloc as the global
/// allocator raised peak RSS from 8.5 to 15.7 MB for a gain inside the noise.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(500))
                .operation_attempt_timeout(Duration::from_secs(1))
                .operation_timeout(Duration::from_millis(2500))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(2))
        .load()
        .await
}

/// Builds the pipeline for `provider` from the environment: configuration
/// validated, AWS clients built once.
pub async fn pipeline_from_env(
    provider: &'static dyn Provider,
) -> Result<Pipeline<DynamoStore, SnsSink>, crate::config::ConfigError> {
    let config = Config::from_env(provider.auth_scheme())?;
    let sdk = sdk_config().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &config.table);
    let sink = SnsSink::new(
        aws_sdk_sns::Client::new(&sdk),
        &config.topic_arn,
        config.max_message_bytes,
    );
    Ok(Pipeline::new(provider, &config, store, sink))
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
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, Infallible>(pipeline.handle(request).await)
    }))
    .await
}
