//! `livehook events`: the outbox records of the table, and replaying a
//! record's envelopes to the topic.

use std::collections::HashMap;

use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_dynamodb::types::AttributeValue;
use clap::{Args, Subcommand};
use livehook::record::StoredRecord;
use livehook::sink::{EventSink, Sent, SnsSink};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::aws::AwsArgs;
use crate::sdk_error;

type Item = HashMap<String, AttributeValue>;

#[derive(Debug, Args)]
#[command(
    about = "List, show and replay the events livehook recorded",
    long_about = "List, show and replay the events livehook recorded.\n\n\
        Every delivery livehook accepts is one record in DynamoDB (kept for the \
        retention period, 7 days by default): the idempotency record and the outbox \
        at once, holding every CloudEvents envelope of the delivery (gzip-compressed \
        when large). The relay publishes it from the table's stream. These commands \
        read that table, and replay publishes a record's envelopes again.\n\n\
        What the relay could not publish (SNS refused its content, or it was still \
        failing 20 hours after it was written) is kept 14 days in the dead-letter \
        table (--failed-table, LIVEHOOK_FAILED_TABLE, or the stack's FailedTableName): \
        `events list --failed` lists it and `events replay --failed` publishes it.",
    after_help = "Examples:\n  \
        livehook events list --stack livehook --provider lal --limit 20\n  \
        livehook events show 3f2a…\n  \
        livehook events replay 3f2a… --topic-arn arn:aws:sns:eu-west-1:123456789012:livehook\n  \
        livehook events list --failed --stack livehook\n  \
        livehook events replay --failed --stack livehook\n  \
        livehook events replay --since 2026-01-01T10:00:00Z --until 2026-01-01T12:00:00Z"
)]
pub struct EventsArgs {
    #[command(subcommand)]
    command: EventsCommand,
}

#[derive(Debug, Subcommand)]
enum EventsCommand {
    /// List recorded events, newest first (a Scan of the table).
    #[command(after_help = "Example:\n  livehook events list --type stream.started --limit 10")]
    List {
        #[command(flatten)]
        aws: AwsArgs,
        /// Only this provider.
        #[arg(long, value_name = "P")]
        provider: Option<String>,
        /// Only this type (e.g. stream.started).
        #[arg(long = "type", value_name = "T")]
        event_type: Option<String>,
        /// At most N events (the newest).
        #[arg(long, value_name = "N", default_value_t = 50)]
        limit: usize,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
        /// The events the relay could not publish (the dead-letter table), not yet replayed.
        #[arg(long)]
        failed: bool,
        /// With --failed: those already replayed too.
        #[arg(long, requires = "failed")]
        include_replayed: bool,
    },
    /// Print a recorded event's envelopes (every part of a split one).
    #[command(
        after_help = "Examples:\n  livehook events show 3f2a… | jq .data\n  livehook events show"
    )]
    Show {
        #[command(flatten)]
        aws: AwsArgs,
        /// The event id (the idempotency key) [default: the newest recorded event]
        id: Option<String>,
    },
    /// Re-publish recorded events to the topic (message attribute replay=true).
    #[command(
        long_about = "Re-publish recorded events to the topic.\n\n\
            The stored envelopes (every part of a split delivery) are published \
            unchanged, with the provider, type and stream attributes subscribers \
            filter on, plus replay=true so that a consumer can tell a replay from \
            the original. Give event ids; or --failed: every event the relay kept in \
            the dead-letter table and not yet replayed (each is then marked replayed); \
            or --since/--until: every event recorded in that time window (RFC 3339), \
            e.g. the records of a stream batch in the relay-failures queue.",
        after_help = "Examples:\n  \
            livehook events replay 3f2a… --stack livehook\n  \
            livehook events replay --failed --stack livehook\n  \
            livehook events replay --since 2026-01-01T10:00:00Z --until 2026-01-01T12:00:00Z"
    )]
    Replay {
        #[command(flatten)]
        aws: AwsArgs,
        /// The event ids (the ids events list shows).
        #[arg(required_unless_present_any = ["failed", "since"], conflicts_with_all = ["failed", "since"])]
        ids: Vec<String>,
        /// Every event in the dead-letter table not replayed yet.
        #[arg(long, conflicts_with = "since")]
        failed: bool,
        /// Every event recorded at or after this time (RFC 3339).
        #[arg(long, value_name = "T", value_parser = parse_time)]
        since: Option<OffsetDateTime>,
        /// With --since: recorded before this time (RFC 3339) [default: now].
        #[arg(long, value_name = "T", value_parser = parse_time, requires = "since")]
        until: Option<OffsetDateTime>,
    },
    /// Write API Gateway events of the samples (events/apigw/) for `cargo lambda invoke`.
    #[command(
        long_about = "Write API Gateway HTTP API (payload 2.0) events of the samples.\n\n\
            One file per provider, <provider>.json, holding its example sample as \
            Lambda receives it behind the stack's API (route, path, ?token=, the \
            provider's headers), for `cargo lambda invoke <provider> --data-file`. \
            By default the samples go as stored, so the files change only when a \
            sample or a provider does (Tencent's keeps the document's sign: 401 \
            until re-signed); --fresh prepares each body as the provider would send \
            it now, Tencent's signed with --tencent-key and valid for 10 minutes.",
        after_help = "Examples:\n  \
            livehook events apigw\n  \
            livehook events apigw --fresh --out /tmp/apigw && cargo lambda invoke tencent --data-file /tmp/apigw/tencent.json"
    )]
    Apigw {
        /// Folder to write into.
        #[arg(long, value_name = "DIR", default_value = "events/apigw")]
        out: std::path::PathBuf,
        /// The ?token= of providers that take one (make dev's default).
        #[arg(long, value_name = "T", default_value = "dev-token-0123456789")]
        token: String,
        /// Prepare the bodies as sent now (fresh timestamps, Tencent signed).
        #[arg(long)]
        fresh: bool,
        /// Tencent key for --fresh (make dev's default).
        #[arg(long, value_name = "K", default_value = "dev-tencent-key")]
        tencent_key: String,
        /// The signed platforms' secret for --fresh: their proof headers (make dev's default).
        #[arg(
            long,
            value_name = "S",
            default_value = "devkey:dev-signing-secret-0123456789"
        )]
        secret: String,
    },
}

/// Runs `livehook events …`.
pub async fn run(args: EventsArgs) -> Result<()> {
    match args.command {
        EventsCommand::List {
            aws,
            failed: true,
            include_replayed,
            limit,
            json,
            ..
        } => crate::failed::list(&aws, include_replayed, limit, json).await,
        EventsCommand::List {
            aws,
            provider,
            event_type,
            limit,
            json,
            ..
        } => list(&aws, provider, event_type, limit, json).await,
        EventsCommand::Show { aws, id } => {
            let id = match id {
                Some(id) => id,
                None => newest(&aws).await?,
            };
            show(&aws, &id).await
        }
        EventsCommand::Replay {
            aws, failed: true, ..
        } => crate::failed::replay_failed(&aws).await,
        EventsCommand::Replay {
            aws,
            since: Some(since),
            until,
            ..
        } => crate::failed::replay_window(&aws, since, until).await,
        EventsCommand::Replay { aws, ids, .. } => {
            let target = aws.resolve().await?;
            for id in &ids {
                replay(&target, id).await?;
            }
            Ok(())
        }
        EventsCommand::Apigw {
            out,
            token,
            fresh,
            tencent_key,
            secret,
        } => {
            let options = crate::apigw::Options {
                token: &token,
                fresh: fresh.then_some(tencent_key.as_str()),
                signing: &secret,
            };
            for path in crate::apigw::write_all(&out, &options)? {
                println!("wrote {path}");
            }
            Ok(())
        }
    }
}

pub(crate) fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
}

async fn list(
    aws: &AwsArgs,
    provider: Option<String>,
    event_type: Option<String>,
    limit: usize,
    json: bool,
) -> Result<()> {
    let target = aws.resolve().await?;
    let table = target.table()?;
    let client = aws_sdk_dynamodb::Client::new(&target.sdk);

    let mut filters = Vec::new();
    let mut values = HashMap::new();
    if let Some(p) = provider {
        filters.push("provider = :provider");
        values.insert(":provider".to_owned(), AttributeValue::S(p));
    }
    if let Some(t) = event_type {
        filters.push("#type = :type");
        values.insert(":type".to_owned(), AttributeValue::S(t));
    }
    let mut items = Vec::new();
    let mut start: Option<Item> = None;
    loop {
        let mut scan = client
            .scan()
            .table_name(table)
            // The envelopes can be large; the listing does not need them.
            .projection_expression(
                "pk, ids, provider, #type, subject, first_seen, retry_times, #sequence",
            )
            .expression_attribute_names("#type", "type")
            .expression_attribute_names("#sequence", "sequence")
            .set_exclusive_start_key(start.take());
        if !filters.is_empty() {
            scan = scan
                .filter_expression(filters.join(" AND "))
                .set_expression_attribute_values(Some(values.clone()));
        }
        let page = scan
            .send()
            .await
            .map_err(|e| anyhow!(sdk_error(&e)))
            .with_context(|| format!("scanning table {table}"))?;
        // Stream keys share the table; they are not events.
        items.extend(
            page.items()
                .iter()
                .filter(|item| !livehook::stream_keys::is_key(item))
                .cloned(),
        );
        match page.last_evaluated_key() {
            Some(key) if !key.is_empty() => start = Some(key.clone()),
            _ => break,
        }
    }
    let seen = |item: &Item| {
        text(item, "first_seen").and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
    };
    items.sort_by_key(|item| std::cmp::Reverse(seen(item)));
    items.truncate(limit);

    if json {
        for item in &items {
            let mut row = serde_json::Map::new();
            for name in [
                "pk",
                "provider",
                "type",
                "subject",
                "first_seen",
                "sequence",
            ] {
                let (key, value) = match name {
                    "pk" => ("id", published_id(item)),
                    other => (other, text(item, other)),
                };
                if let Some(v) = value {
                    row.insert(key.to_owned(), Value::from(v));
                }
            }
            if let Some(n) = number(item, "retry_times") {
                row.insert("retry_times".to_owned(), Value::from(n));
            }
            println!("{}", Value::Object(row));
        }
        return Ok(());
    }
    if items.is_empty() {
        eprintln!("no events recorded in {table}");
        return Ok(());
    }
    println!(
        "{:<32}  {:<10}  {:<22}  {:<32}  SUBJECT",
        "FIRST SEEN", "PROVIDER", "TYPE", "ID"
    );
    for item in &items {
        println!(
            "{:<32}  {:<10}  {:<22}  {:<32}  {}",
            text(item, "first_seen").unwrap_or("-"),
            text(item, "provider").unwrap_or("-"),
            text(item, "type").unwrap_or("-"),
            published_id(item).unwrap_or("-"),
            text(item, "subject").unwrap_or("-"),
        );
    }
    Ok(())
}

/// The id a record's event was published with: its one id when that is
/// not the key (a ZLMediaKit windowed hook), else the key (a split lal
/// update's parts are `<key>-1`, `<key>-2`, …).
fn published_id(item: &Item) -> Option<&str> {
    match item
        .get("ids")
        .and_then(|v| v.as_l().ok())
        .map(Vec::as_slice)
    {
        Some([one]) => one.as_s().ok().map(String::as_str),
        _ => text(item, "pk"),
    }
}

/// The id of the most recently recorded event (a Scan of keys and times).
async fn newest(aws: &AwsArgs) -> Result<String> {
    let target = aws.resolve().await?;
    let table = target.table()?;
    let client = aws_sdk_dynamodb::Client::new(&target.sdk);
    let mut newest: Option<(OffsetDateTime, String)> = None;
    let mut start: Option<Item> = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .projection_expression("pk, ids, first_seen")
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| anyhow!(sdk_error(&e)))
            .with_context(|| format!("scanning table {table}"))?;
        for item in page.items() {
            let seen =
                text(item, "first_seen").and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok());
            if let (Some(seen), Some(id)) = (seen, published_id(item))
                && newest.as_ref().is_none_or(|(t, _)| seen > *t)
            {
                newest = Some((seen, id.to_owned()));
            }
        }
        match page.last_evaluated_key() {
            Some(key) if !key.is_empty() => start = Some(key.clone()),
            _ => break,
        }
    }
    newest
        .map(|(_, id)| id)
        .with_context(|| format!("no events recorded in {table}"))
}

async fn get_from(target: &crate::aws::Target, table: &str, id: &str) -> Result<Option<Item>> {
    let client = aws_sdk_dynamodb::Client::new(&target.sdk);
    let found = client
        .get_item()
        .table_name(table)
        // The id a subscriber received names its record.
        .key(
            "pk",
            AttributeValue::S(livehook::record::record_key(id.trim()).to_owned()),
        )
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| anyhow!(sdk_error(&e)))
        .with_context(|| format!("reading event {id} from {table}"))?;
    Ok(found.item)
}

/// The record of `id`: in the table, else (when one is known) in the
/// dead-letter table, which keeps what the relay could not publish longer.
async fn get(target: &crate::aws::Target, id: &str) -> Result<Item> {
    if id.trim().is_empty() {
        bail!("the event id is empty");
    }
    let table = target.table()?;
    if let Some(item) = get_from(target, table, id).await? {
        return Ok(item);
    }
    if let Some(failed) = target.failed_table_if_any()
        && let Some(item) = get_from(target, failed, id).await?
    {
        return Ok(item);
    }
    bail!("no event {id} in {table} (records expire after the retention period)")
}

/// The record's envelopes, read back as the relay reads them.
pub(crate) fn outbox_of(id: &str, item: Item) -> Result<StoredRecord> {
    let image: serde_dynamo::Item = item.into();
    StoredRecord::from_item(&image).with_context(|| format!("event {id}'s record"))
}

/// An envelope fit to show or publish again: fields a provider never
/// publishes are removed and secret values masked with the default names
/// (records of older versions may hold them).
fn scrubbed(id: &str, body: &str) -> Result<(Value, Option<String>)> {
    let mut envelope: Value = serde_json::from_str(body)
        .with_context(|| format!("the stored envelope of {id} is not JSON"))?;
    // Both, always: `|` so that redaction runs even when the scrub changed something.
    let changed = livehook::providers::scrub_envelope(&mut envelope)
        | livehook::redact::Redactor::default().redact_envelope(&mut envelope);
    let text = changed
        .then(|| serde_json::to_string(&envelope))
        .transpose()?;
    Ok((envelope, text))
}

async fn show(aws: &AwsArgs, id: &str) -> Result<()> {
    let target = aws.resolve().await?;
    let item = get(&target, id).await?;
    let outbox = outbox_of(id, item)?;
    for stored in &outbox.messages {
        let (envelope, _) = scrubbed(id, &stored.body)?;
        println!("{}", serde_json::to_string_pretty(&envelope)?);
    }
    Ok(())
}

async fn replay(target: &crate::aws::Target, id: &str) -> Result<()> {
    let item = get(target, id).await?;
    let outbox = outbox_of(id, item)?;
    let topic_arn = target.topic_arn()?;
    publish_again(&sink(target)?, id, outbox).await?;
    println!("replayed {id} to {topic_arn}");
    Ok(())
}

/// The sink replays publish through.
pub(crate) fn sink(target: &crate::aws::Target) -> Result<SnsSink> {
    Ok(SnsSink::new(
        aws_sdk_sns::Client::new(&target.sdk),
        target.topic_arn()?,
        livehook::config::DEFAULT_MAX_MESSAGE_BYTES,
    ))
}

/// Publishes a stored record's envelopes again (scrubbed, marked replay).
pub(crate) async fn publish_again(
    sink: &SnsSink,
    id: &str,
    mut outbox: StoredRecord,
) -> Result<()> {
    for stored in &mut outbox.messages {
        if let (_, Some(text)) = scrubbed(id, &stored.body)? {
            stored.body = text;
        }
        // A FIFO topic would drop a replay carrying the original's
        // deduplication id (within its 5-minute window): a replay gets its own.
        stored.id = format!(
            "{}-replay-{}",
            stored.id.chars().take(90).collect::<String>(),
            OffsetDateTime::now_utc().unix_timestamp()
        );
    }
    let outcomes = sink.publish(&outbox.messages(true)).await;
    for (stored, outcome) in outbox.messages.iter().zip(&outcomes) {
        match outcome {
            Sent::Published => {}
            Sent::Refused(reason) => {
                bail!("SNS refused {} for its content: {reason}", stored.id)
            }
            Sent::Failed(reason) => bail!("publishing {id} failed: {reason}"),
        }
    }
    eprintln!(
        "{id}: {}, {}, {} message{}",
        outbox.event_type,
        outbox.subject,
        outbox.messages.len(),
        if outbox.messages.len() == 1 { "" } else { "s" }
    );
    Ok(())
}

fn parse_time(value: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(value, &Rfc3339)
        .map_err(|e| format!("`{value}` is not an RFC 3339 time such as 2026-01-01T10:00:00Z: {e}"))
}
