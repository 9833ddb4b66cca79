//! `livehook`: the command line of the livehook webhook gateway.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod apigw;
mod aws;
mod check;
mod events;
mod failed;
mod keys;
mod providers;
mod pump;
mod register;
mod samples;
mod schema;
mod send;
mod tail;
mod template;
mod token;

#[derive(Debug, Parser)]
#[command(
    name = "livehook",
    version,
    about = "Send, follow, inspect and replay livehook's live-streaming webhooks",
    long_about = "livehook receives the webhooks of live-streaming platforms (`livehook providers` \
        lists them), deduplicates them in DynamoDB and publishes CloudEvents to SNS. This command drives it from the outside:\n\n  \
        send      POST a sample webhook exactly as the provider would\n  \
        tail      print the events published to the topic as they arrive\n  \
        events    list, show and replay the recorded events\n  \
        keys      create, list and revoke stream keys (LIVEHOOK_STREAM_KEYS)\n  \
        register  manage the webhooks registered with an Api Server\n  \
        providers list the providers and how each one sends\n  \
        check     prove a deployment works: one event per provider to the topic\n  \
        pump      play the table stream's event source mapping locally (stream → relay)\n  \
        token     print a fresh token for LIVEHOOK_TOKEN\n  \
        schema    write the JSON Schemas and AsyncAPI document of the events\n  \
        template  rewrite the per-provider parts of template.yaml from the registry\n\n\
        The table and topic come from --table/--topic-arn, the functions' variables \
        (LIVEHOOK_TABLE, LIVEHOOK_TOPIC_ARN), or a deployed stack's outputs (--stack). \
        AWS_ENDPOINT_URL or --endpoint-url points the AWS calls at an emulator.",
    after_help = "Examples:\n  \
        livehook send lal on_pub_start --url https://abc.execute-api…/lal --token s3cret\n  \
        livehook tail --stack livehook --type 'stream.*'\n  \
        livehook events list --stack livehook --limit 10\n  \
        livehook events replay <id> --stack livehook\n  \
        livehook register list --api http://api-server:8080 --all\n  \
        livehook check --stack livehook\n\n\
        Run `livehook <command> --help` for the details of a command."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Send(send::SendArgs),
    Tail(tail::TailArgs),
    Events(events::EventsArgs),
    Keys(keys::KeysArgs),
    Register(register::RegisterArgs),
    Providers(providers::ProvidersArgs),
    Check(check::CheckArgs),
    Pump(pump::PumpArgs),
    Token(token::TokenArgs),
    Schema(schema::SchemaArgs),
    Template(template::TemplateArgs),
}

fn main() -> ExitCode {
    quiet_broken_pipe();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("livehook: error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Send(args) => send::run(args).await,
            Command::Tail(args) => tail::run(args).await,
            Command::Events(args) => events::run(args).await,
            Command::Keys(args) => keys::run(args).await,
            Command::Register(args) => register::run(args).await,
            Command::Providers(args) => providers::run(args),
            Command::Check(args) => check::run(args).await,
            Command::Pump(args) => pump::run(args).await,
            Command::Token(args) => token::run(args),
            Command::Schema(args) => schema::run(args),
            Command::Template(args) => template::run(args),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("livehook: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Restores SIGPIPE's default action, as every Unix tool has it: when the
/// reader of `livehook … | head` leaves, the command ends quietly instead
/// of panicking in `println!` (Rust ignores SIGPIPE). Sockets are
/// unaffected: the standard library and mio send with `MSG_NOSIGNAL`.
fn quiet_broken_pipe() {
    #[cfg(unix)]
    // SAFETY: called first in `main`, before any thread exists; `signal`
    // with `SIG_DFL` only changes the process's disposition of SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// An AWS SDK error with its causes (the SDK's own `Display` says only
/// "service error").
pub(crate) fn sdk_error(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A reqwest error with its causes (connection refused, timeout, …). URLs
/// are left out: they may carry a `?token=`.
pub(crate) fn describe_reqwest(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
