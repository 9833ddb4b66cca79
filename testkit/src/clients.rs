//! The AWS SDK clients the functions use, pointed at the emulator, and the
//! interceptor that counts their calls.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::{
    ConfigBag, Credentials, Region, RuntimeComponents, SharedCredentialsProvider,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

/// The AWS operations a client made, in order (one entry per operation,
/// however many attempts it took), and the parts of its transactions.
#[derive(Debug, Clone, Default)]
pub struct Calls {
    names: Arc<Mutex<Vec<String>>>,
    transactions: Arc<Mutex<Vec<Vec<&'static str>>>>,
}

impl Calls {
    /// The operations so far, emptying the record.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.names.lock().expect("calls lock"))
    }

    /// The operations so far.
    pub fn list(&self) -> Vec<String> {
        self.names.lock().expect("calls lock").clone()
    }

    /// Each `TransactWriteItems` so far, as the kinds of its parts in order
    /// (`ConditionCheck`, `Put`, `Update`, `Delete`), emptying the record.
    pub fn take_transactions(&self) -> Vec<Vec<&'static str>> {
        std::mem::take(&mut *self.transactions.lock().expect("calls lock"))
    }
}

/// The kind of one part of a transaction.
fn part_kind(item: &aws_sdk_dynamodb::types::TransactWriteItem) -> &'static str {
    if item.condition_check().is_some() {
        "ConditionCheck"
    } else if item.put().is_some() {
        "Put"
    } else if item.update().is_some() {
        "Update"
    } else if item.delete().is_some() {
        "Delete"
    } else {
        "<none>"
    }
}

/// An SDK interceptor recording each operation's name.
///
/// It hooks `read_before_serialization`, which runs once per operation
/// (before the attempt loop, so retries are not counted twice) and is the
/// first hook of a client-level interceptor that sees the operation's
/// [`Metadata`] (`read_before_execution` of client interceptors runs before
/// the operation's configuration is applied).
#[derive(Debug)]
pub(crate) struct CountCalls(pub(crate) Calls);

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "CountCalls"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = cfg
            .load::<Metadata>()
            .map_or_else(|| "<unknown>".to_owned(), |m| m.name().to_owned());
        self.0.names.lock().expect("calls lock").push(name);
        if let Some(input) = context
            .input()
            .downcast_ref::<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput>()
        {
            let parts = input.transact_items().iter().map(part_kind).collect();
            self.0.transactions.lock().expect("calls lock").push(parts);
        }
        Ok(())
    }
}

/// The SDK configuration for an endpoint: dummy static credentials,
/// us-east-1, and the production retry policy (two attempts) and connect
/// timeout. Attempt timeouts are more generous than production's so that
/// a busy emulator on a small machine does not cause spurious retries.
pub fn sdk_config(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "livehook-tests",
        )))
        .endpoint_url(endpoint)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(500))
                .operation_attempt_timeout(Duration::from_secs(10))
                .operation_timeout(Duration::from_secs(20))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(2))
        .build()
}

/// A DynamoDB client on `endpoint`, counting its operations into `calls`.
pub fn dynamodb_client(endpoint: &str, calls: Option<&Calls>) -> aws_sdk_dynamodb::Client {
    let mut builder = aws_sdk_dynamodb::config::Builder::from(&sdk_config(endpoint));
    if let Some(calls) = calls {
        builder = builder.interceptor(CountCalls(calls.clone()));
    }
    aws_sdk_dynamodb::Client::from_conf(builder.build())
}

/// An SNS client on `endpoint`, counting its operations into `calls`.
pub fn sns_client(endpoint: &str, calls: Option<&Calls>) -> aws_sdk_sns::Client {
    let mut builder = aws_sdk_sns::config::Builder::from(&sdk_config(endpoint));
    if let Some(calls) = calls {
        builder = builder.interceptor(CountCalls(calls.clone()));
    }
    aws_sdk_sns::Client::from_conf(builder.build())
}

/// A DynamoDB Streams client on `endpoint` (the pump's; never counted).
pub fn streams_client(endpoint: &str) -> aws_sdk_dynamodbstreams::Client {
    aws_sdk_dynamodbstreams::Client::from_conf(
        aws_sdk_dynamodbstreams::config::Builder::from(&sdk_config(endpoint)).build(),
    )
}

/// An SQS client on `endpoint` (verification only, never counted).
pub fn sqs_client(endpoint: &str) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&sdk_config(endpoint)).build(),
    )
}
