//! `livehook events`: the idempotency records of the table, and replaying a
//! stored envelope to the topic.

use std::collections::HashMap;

use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_dynamodb::types::AttributeValue;
use clap::{Args, Subcommand};
use livehook::sink::{EventSink, Message, SnsSink};
use livehook::store::COMPLETED;
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
        Every delivery livehook accepts leaves an idempotency record in DynamoDB \
        (kept for the retention period, 7 days by default) holding the published \
        CloudEvents envelope when it fits. These commands read that table, and \
        replay re-publishes a stored envelope to the topic.",
    after_help = "Examples:\n  \
        livehook events list --stack livehook --provider lal --limit 20\n  \
        livehook events show 3f2a…\n  \
        livehook events replay 3f2a… --topic-arn arn:aws:sns:eu-west-1:123456789012:livehook"
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
    },
    /// Print a recorded event's stored envelope.
    #[command(after_help = "Example:\n  livehook events show 3f2a… | jq .data")]
    Show {
        #[command(flatten)]
        aws: AwsArgs,
        /// The event id (the idempotency key).
        id: String,
    },
    /// Re-publish a recorded event to the topic (message attribute replay=true).
    #[command(
        long_about = "Re-publish a recorded event to the topic.\n\n\
            The stored envelope is published unchanged, with the provider, type and \
            stream attributes subscribers filter on, plus replay=true so that a \
            consumer can tell a replay from the original. Only COMPLETED records \
            with a stored envelope can be replayed.",
        after_help = "Example:\n  livehook events replay 3f2a… --stack livehook"
    )]
    Replay {
        #[command(flatten)]
        aws: AwsArgs,
        /// The event id (the idempotency key).
        id: String,
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
    },
}

/// Runs `livehook events …`.
pub async fn run(args: EventsArgs) -> Result<()> {
    match args.command {
        EventsCommand::List {
            aws,
            provider,
            event_type,
            limit,
            json,
        } => list(&aws, provider, event_type, limit, json).await,
        EventsCommand::Show { aws, id } => show(&aws, &id).await,
        EventsCommand::Replay { aws, id } => replay(&aws, &id).await,
        EventsCommand::Apigw {
            out,
            token,
            fresh,
            tencent_key,
        } => {
            let options = crate::apigw::Options {
                token: &token,
                fresh: fresh.then_some(tencent_key.as_str()),
            };
            for path in crate::apigw::write_all(&out, &options)? {
                println!("wrote {path}");
            }
            Ok(())
        }
    }
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
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
            // The envelope can be large; the listing does not need it.
            .projection_expression(
                "pk, #status, provider, #type, first_seen, retry_times, #sequence",
            )
            .expression_attribute_names("#status", "status")
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
        items.extend(page.items().iter().cloned());
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
            for name in ["pk", "status", "provider", "type", "first_seen", "sequence"] {
                if let Some(v) = text(item, name) {
                    let key = if name == "pk" { "id" } else { name };
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
        "{:<32}  {:<11}  {:<9}  {:<22}  ID",
        "FIRST SEEN", "STATUS", "PROVIDER", "TYPE"
    );
    for item in &items {
        println!(
            "{:<32}  {:<11}  {:<9}  {:<22}  {}",
            text(item, "first_seen").unwrap_or("-"),
            text(item, "status").unwrap_or("-"),
            text(item, "provider").unwrap_or("-"),
            text(item, "type").unwrap_or("-"),
            text(item, "pk").unwrap_or("-"),
        );
    }
    Ok(())
}

async fn get(aws: &AwsArgs, id: &str) -> Result<(crate::aws::Target, Item)> {
    if id.trim().is_empty() {
        bail!("the event id is empty");
    }
    let target = aws.resolve().await?;
    let table = target.table()?.to_owned();
    let client = aws_sdk_dynamodb::Client::new(&target.sdk);
    let found = client
        .get_item()
        .table_name(&table)
        .key("pk", AttributeValue::S(id.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| anyhow!(sdk_error(&e)))
        .with_context(|| format!("reading event {id} from {table}"))?;
    let item = found.item.with_context(|| {
        format!("no event {id} in {table} (records expire after the retention period)")
    })?;
    Ok((target, item))
}

async fn show(aws: &AwsArgs, id: &str) -> Result<()> {
    let (_, item) = get(aws, id).await?;
    match text(&item, "envelope") {
        Some(envelope) => match serde_json::from_str::<Value>(envelope) {
            Ok(mut value) => {
                livehook::providers::scrub_envelope(&mut value);
                println!("{}", serde_json::to_string_pretty(&value)?);
            }
            // Not JSON: nothing in it can be scrubbed by field, so it is not shown.
            Err(_) => bail!("the stored envelope of {id} is not JSON"),
        },
        None => {
            let status = text(&item, "status").unwrap_or("?");
            eprintln!(
                "event {id} ({status}) has no stored envelope (still in progress, split into parts, or too large to store); its record:"
            );
            let mut row = serde_json::Map::new();
            for (k, v) in &item {
                let v = match v {
                    AttributeValue::S(s) => Value::from(s.as_str()),
                    AttributeValue::N(n) => n
                        .parse::<i64>()
                        .map_or(Value::from(n.as_str()), Value::from),
                    other => Value::from(format!("{other:?}")),
                };
                row.insert(k.clone(), v);
            }
            println!("{}", serde_json::to_string_pretty(&Value::Object(row))?);
        }
    }
    Ok(())
}

/// The `stream` attribute of a stored envelope: the subject without its
/// `<provider>/` prefix, when the event concerns a stream. The envelope does
/// not say so directly; the provider names the `data` fields that do
/// ([`livehook::providers::Provider::stream_fields`]).
pub fn stream_of(provider: &str, envelope: &Value) -> Option<String> {
    let data = envelope.get("data")?;
    let has = |field: &str| data.get(field).is_some_and(|v| !v.is_null());
    let fields =
        livehook::providers::by_name(provider).map_or(&["stream"][..], |p| p.stream_fields());
    if !fields.iter().any(|f| has(f)) {
        return None;
    }
    let subject = envelope.get("subject")?.as_str()?;
    subject
        .strip_prefix(provider)
        .and_then(|s| s.strip_prefix('/'))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

async fn replay(aws: &AwsArgs, id: &str) -> Result<()> {
    let (target, item) = get(aws, id).await?;
    let status = text(&item, "status").unwrap_or("?");
    if status != COMPLETED {
        bail!("event {id} is {status}, not {COMPLETED}: only published events can be replayed");
    }
    let Some(envelope_text) = text(&item, "envelope") else {
        bail!(
            "event {id} has no stored envelope (split into parts or too large to store): it cannot be replayed"
        );
    };
    let mut envelope: Value = serde_json::from_str(envelope_text)
        .with_context(|| format!("the stored envelope of {id} is not JSON"))?;
    // A record of an older version may still hold a secret-derived field.
    let scrubbed = livehook::providers::scrub_envelope(&mut envelope)
        .then(|| serde_json::to_string(&envelope))
        .transpose()?;
    let envelope_text = scrubbed.as_deref().unwrap_or(envelope_text);
    let field = |name: &str| envelope.get(name).and_then(Value::as_str);
    let provider = text(&item, "provider")
        .or_else(|| field("source").and_then(|s| s.strip_prefix("livehook/")))
        .context("the record names no provider")?;
    let event_type = field("type")
        .or_else(|| text(&item, "type"))
        .context("the envelope has no type")?;
    let subject = field("subject").unwrap_or(provider);
    let stream = stream_of(provider, &envelope);
    let topic_arn = target.topic_arn()?;
    // A FIFO topic would drop a replay carrying the original's deduplication
    // id (within its 5-minute window): a replay gets its own.
    let dedup = format!(
        "{}-replay-{}",
        id.chars().take(100).collect::<String>(),
        OffsetDateTime::now_utc().unix_timestamp()
    );
    let sink = SnsSink::new(
        aws_sdk_sns::Client::new(&target.sdk),
        topic_arn,
        livehook::config::DEFAULT_MAX_MESSAGE_BYTES,
    );
    sink.publish(&[Message {
        body: envelope_text,
        id: &dedup,
        provider,
        event_type,
        stream: stream.as_deref(),
        subject,
        replay: true,
    }])
    .await
    .with_context(|| format!("publishing to {topic_arn}"))?;
    println!("replayed {id} ({event_type}, {subject}) to {topic_arn}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stream_attribute_of_stored_envelopes() {
        let lal = json!({"subject": "lal/live/a", "data": {"stream": "a", "app": "live"}});
        assert_eq!(stream_of("lal", &lal).as_deref(), Some("live/a"));
        let stats = json!({"subject": "lal/server1", "data": {"server_id": "server1"}});
        assert_eq!(stream_of("lal", &stats), None);
        let bili = json!({"subject": "bililive/123", "data": {"room_id": "123"}});
        assert_eq!(stream_of("bililive", &bili).as_deref(), Some("123"));
        let api = json!({"subject": "apiserver/channel_live", "data": {}});
        assert_eq!(stream_of("apiserver", &api), None);
        let tencent = json!({"subject": "tencent/s1", "data": {"stream": "s1"}});
        assert_eq!(stream_of("tencent", &tencent).as_deref(), Some("s1"));
    }
}
