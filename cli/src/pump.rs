//! `livehook pump`: the table's stream to the relay function, as Lambda's
//! event source mapping does in AWS (see the `livehook-pump` crate).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use livehook_pump::{Checkpoints, DEFAULT_BATCH_SIZE, HttpInvoke, Pump};

use crate::aws::AwsArgs;

#[derive(Debug, Args)]
#[command(
    about = "Play the table stream's event source mapping locally: stream records to the relay",
    long_about = "Play the DynamoDB stream's event source mapping locally.\n\n\
        In AWS, Lambda reads the outbox table's stream and invokes the relay, which \
        publishes to SNS. Locally nothing does: livehook pump reads the stream through \
        the DynamoDB Streams API of AWS_ENDPOINT_URL, keeps its position in a checkpoint \
        file (each shard's last record the relay accepted: a restarted pump resumes \
        there, and reads a stream it has never seen from TRIM_HORIZON), \
        keeps INSERT and MODIFY records, and invokes the relay through the Lambda \
        Invoke API that `cargo lambda watch` serves \
        (POST <invoke-url>/2015-03-31/functions/<function>/invocations) with the very \
        event Lambda sends. A failed invocation is retried with back-off (at most 5 s); \
        batchItemFailures resume from the lowest failed sequence number. When the table \
        is re-created (an emulator restart: a new stream), it follows the new stream. \
        It prints a line per batch and runs until interrupted.",
    after_help = "Example:\n  \
        AWS_ENDPOINT_URL=http://127.0.0.1:5050 livehook pump --table livehook-dev --invoke-url http://127.0.0.1:9000"
)]
pub struct PumpArgs {
    #[command(flatten)]
    aws: AwsArgs,
    /// The Lambda Invoke API to call (`cargo lambda watch`'s address)
    #[arg(long, value_name = "URL")]
    invoke_url: String,
    /// The function to invoke
    #[arg(long, value_name = "NAME", default_value = "relay")]
    function: String,
    /// Records per invocation at most (the mapping's BatchSize)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_BATCH_SIZE)]
    batch_size: usize,
    /// Where the pump keeps its position [default: .livehook/pump-checkpoints/<table>.json]
    #[arg(long, value_name = "PATH")]
    checkpoint: Option<PathBuf>,
}

/// Runs `livehook pump` until Ctrl-C.
pub async fn run(args: PumpArgs) -> Result<()> {
    if args.batch_size == 0 || args.batch_size > 10_000 {
        bail!("--batch-size must be from 1 to 10000 (the mapping's limits)");
    }
    if !args.invoke_url.starts_with("http://") && !args.invoke_url.starts_with("https://") {
        bail!("--invoke-url must be an http:// or https:// URL, such as http://127.0.0.1:9000");
    }
    let target = args.aws.resolve().await?;
    let table = target.table()?.to_owned();
    let checkpoint = args.checkpoint.unwrap_or_else(|| {
        PathBuf::from(".livehook/pump-checkpoints").join(format!("{table}.json"))
    });
    let checkpoints = Checkpoints::load(&checkpoint)?;
    let mut pump = Pump::new(
        aws_sdk_dynamodb::Client::new(&target.sdk),
        aws_sdk_dynamodbstreams::Client::new(&target.sdk),
        &table,
        HttpInvoke::new(&args.invoke_url, &args.function),
        args.batch_size,
    )
    .with_checkpoints(checkpoints);
    println!(
        "pump: {table}'s stream → {} ({}), batches of at most {}, position in {}",
        args.function,
        args.invoke_url,
        args.batch_size,
        checkpoint.display()
    );
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    pump.run(stop, &mut |line| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    })
    .await;
    println!("pump: stopped");
    Ok(())
}
