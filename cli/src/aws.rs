//! Where the table and topic are: flags, the functions' environment
//! variables, or a deployed stack's outputs; and the AWS SDK configuration.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use clap::Args;

/// The CloudFormation output holding the table name.
pub const TABLE_OUTPUT: &str = "TableName";
/// The CloudFormation output holding the topic ARN.
pub const TOPIC_OUTPUT: &str = "TopicArn";
/// The CloudFormation output holding the dead-letter table name.
pub const FAILED_TABLE_OUTPUT: &str = "FailedTableName";

/// AWS options shared by `tail` and `events`.
#[derive(Debug, Clone, Args)]
pub struct AwsArgs {
    /// DynamoDB idempotency table [default: from --stack]
    #[arg(long, value_name = "NAME", env = "LIVEHOOK_TABLE")]
    pub table: Option<String>,
    /// SNS topic ARN [default: from --stack]
    #[arg(long, value_name = "ARN", env = "LIVEHOOK_TOPIC_ARN")]
    pub topic_arn: Option<String>,
    /// DynamoDB table of what the relay could not publish [default: from --stack]
    #[arg(long, value_name = "NAME", env = "LIVEHOOK_FAILED_TABLE")]
    pub failed_table: Option<String>,
    /// Read the table and topic from this deployed CloudFormation (SAM) stack's outputs (TableName, TopicArn)
    #[arg(long, value_name = "NAME")]
    pub stack: Option<String>,
    /// AWS endpoint (an emulator such as moto or LocalStack)
    #[arg(long, value_name = "URL", env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// AWS region [default: the SDK's (AWS_REGION, profile)]
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
}

/// What `tail` and `events` work on.
pub struct Target {
    /// SDK configuration.
    pub sdk: SdkConfig,
    table: Option<String>,
    topic_arn: Option<String>,
    failed_table: Option<String>,
    stack: Option<String>,
}

impl AwsArgs {
    /// Loads the SDK configuration and, when a table or topic is missing and
    /// `--stack` is given, the stack's outputs.
    pub async fn resolve(&self) -> Result<Target> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    // SQS long polls hold a request for up to 20 s.
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .operation_timeout(Duration::from_secs(60))
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(3));
        if let Some(region) = self.region.clone().filter(|r| !r.is_empty()) {
            loader = loader.region(Region::new(region));
        }
        if let Some(endpoint) = self.endpoint_url.clone().filter(|e| !e.is_empty()) {
            // A local emulator takes any credentials: a shell without AWS
            // settings (another terminal than `make dev`'s) still works.
            // Only for loopback, so real credentials are never replaced.
            if is_loopback(&endpoint)
                && std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
                && std::env::var_os("AWS_PROFILE").is_none()
            {
                loader = loader
                    .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                        "testing",
                        "testing",
                        None,
                        None,
                        "livehook-local-emulator",
                    ))
                    .region(Region::new(
                        self.region
                            .clone()
                            .filter(|r| !r.is_empty())
                            .unwrap_or_else(|| "us-east-1".to_owned()),
                    ));
            }
            loader = loader.endpoint_url(endpoint);
        }
        let local = self.endpoint_url.as_deref().is_some_and(|e| !e.is_empty());
        let sdk = loader.load().await;
        if !local {
            ready_for_aws(&sdk).await?;
        }
        let mut target = Target {
            sdk,
            table: self.table.clone().filter(|t| !t.is_empty()),
            topic_arn: self.topic_arn.clone().filter(|t| !t.is_empty()),
            failed_table: self.failed_table.clone().filter(|t| !t.is_empty()),
            stack: self.stack.clone().filter(|s| !s.is_empty()),
        };
        if let Some(stack) = target.stack.clone()
            && (target.table.is_none()
                || target.topic_arn.is_none()
                || target.failed_table.is_none())
        {
            let outputs = stack_outputs(&target.sdk, &stack).await?;
            let find = |name: &str| {
                outputs
                    .iter()
                    .find(|(k, _)| k == name)
                    .or_else(|| outputs.iter().find(|(k, _)| k.ends_with(name)))
                    .map(|(_, v)| v.clone())
            };
            target.table = target.table.or_else(|| find(TABLE_OUTPUT));
            target.topic_arn = target.topic_arn.or_else(|| find(TOPIC_OUTPUT));
            target.failed_table = target.failed_table.or_else(|| find(FAILED_TABLE_OUTPUT));
        }
        Ok(target)
    }
}

/// What a command against the local stack needs, for errors that would
/// otherwise name only the SDK's last attempt (IMDS, on a laptop).
pub const LOCAL_HINT: &str = "for the local stack (make dev), run `source .livehook/env` \
     (sets AWS_ENDPOINT_URL, LIVEHOOK_TABLE, LIVEHOOK_TOPIC_ARN) or pass \
     --endpoint-url http://127.0.0.1:5050 with --table/--topic-arn";

/// Without an emulator endpoint the calls go to AWS: fails early, naming the
/// flags and variables, when no region or no credentials are configured.
async fn ready_for_aws(sdk: &SdkConfig) -> Result<()> {
    use aws_sdk_sqs::config::ProvideCredentials;
    if sdk.region().is_none() {
        bail!(
            "no AWS region and no endpoint: for AWS pass --region or set AWS_REGION; {LOCAL_HINT}"
        );
    }
    let Some(provider) = sdk.credentials_provider() else {
        bail!("no AWS credentials provider; {LOCAL_HINT}");
    };
    // The default chain ends with the instance metadata service, which off
    // EC2 fails only after its own retries: bounded here.
    let found = tokio::time::timeout(Duration::from_secs(5), provider.provide_credentials()).await;
    match found {
        Ok(Ok(_)) => Ok(()),
        // The chain's every attempt is noise here: what to set is the news.
        Ok(Err(e)) => bail!(
            "no AWS credentials ({e}) and no endpoint: for AWS set AWS_PROFILE or \
             AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; {LOCAL_HINT}"
        ),
        Err(_) => bail!(
            "no AWS credentials found within 5 s and no endpoint: for AWS set AWS_PROFILE or \
             AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; {LOCAL_HINT}"
        ),
    }
}

/// Whether an endpoint URL names this machine (an emulator, never AWS).
fn is_loopback(endpoint: &str) -> bool {
    reqwest::Url::parse(endpoint)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
        .is_some_and(|host| {
            host == "localhost"
                || host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        })
}

impl Target {
    /// The table, or an error saying how to give one.
    pub fn table(&self) -> Result<&str> {
        match (&self.table, &self.stack) {
            (Some(t), _) => Ok(t),
            (None, Some(stack)) => {
                bail!("stack {stack} has no {TABLE_OUTPUT} output; pass --table NAME")
            }
            (None, None) => {
                bail!(
                    "no table: pass --table NAME, set LIVEHOOK_TABLE, or name the stack with --stack; {LOCAL_HINT}"
                )
            }
        }
    }

    /// The dead-letter table, when one was given.
    pub fn failed_table_if_any(&self) -> Option<&str> {
        self.failed_table.as_deref()
    }

    /// The dead-letter table, or an error saying how to give one.
    pub fn failed_table(&self) -> Result<&str> {
        match (&self.failed_table, &self.stack) {
            (Some(t), _) => Ok(t),
            (None, Some(stack)) => {
                bail!("stack {stack} has no {FAILED_TABLE_OUTPUT} output; pass --failed-table NAME")
            }
            (None, None) => bail!(
                "no dead-letter table: pass --failed-table NAME, set LIVEHOOK_FAILED_TABLE, or name the stack with --stack"
            ),
        }
    }

    /// The topic ARN, or an error saying how to give one.
    pub fn topic_arn(&self) -> Result<&str> {
        match (&self.topic_arn, &self.stack) {
            (Some(t), _) => Ok(t),
            (None, Some(stack)) => {
                bail!("stack {stack} has no {TOPIC_OUTPUT} output; pass --topic-arn ARN")
            }
            (None, None) => bail!(
                "no topic: pass --topic-arn ARN, set LIVEHOOK_TOPIC_ARN, or name the stack with --stack; {LOCAL_HINT}"
            ),
        }
    }
}

/// The outputs (key, value) of a deployed stack.
pub(crate) async fn stack_outputs(sdk: &SdkConfig, stack: &str) -> Result<Vec<(String, String)>> {
    let client = aws_sdk_cloudformation::Client::new(sdk);
    let found = client
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(crate::sdk_error(&e)))
        .with_context(|| format!("describing CloudFormation stack {stack}"))?;
    let Some(description) = found.stacks().first() else {
        bail!("CloudFormation stack {stack} not found");
    };
    Ok(description
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_machine_is_an_emulator() {
        for local in [
            "http://127.0.0.1:5050",
            "http://localhost:4566",
            "http://[::1]:5050",
            "http://127.9.9.9",
        ] {
            assert!(is_loopback(local), "{local}");
        }
        for remote in [
            "https://sns.us-east-1.amazonaws.com",
            "http://10.0.0.1:5050",
            "not a url",
            "http://localhost.example.com",
        ] {
            assert!(!is_loopback(remote), "{remote}");
        }
    }
}
