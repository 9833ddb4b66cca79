//! `livehook events list --failed`, `events replay --failed` and
//! `events replay --since/--until`: what the relay could not publish, and
//! publishing it again.

use std::collections::HashMap;

use anyhow::{Context, Result, anyhow};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::aws::{AwsArgs, Target};
use crate::events::{outbox_of, publish_again, sink, text};
use crate::sdk_error;

type Item = HashMap<String, AttributeValue>;

/// Every item of `table` matching `filter` (all pages).
async fn scan(
    target: &Target,
    table: &str,
    filter: Option<(&str, HashMap<String, AttributeValue>)>,
) -> Result<Vec<Item>> {
    let client = aws_sdk_dynamodb::Client::new(&target.sdk);
    let mut items = Vec::new();
    let mut start: Option<Item> = None;
    loop {
        let mut request = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start.take());
        if let Some((expression, values)) = &filter {
            request = request.filter_expression(*expression);
            // DynamoDB refuses an empty value map.
            if !values.is_empty() {
                request = request.set_expression_attribute_values(Some(values.clone()));
            }
        }
        let page = request
            .send()
            .await
            .map_err(|e| anyhow!(sdk_error(&e)))
            .with_context(|| format!("scanning table {table}"))?;
        items.extend(page.items().iter().cloned());
        match page.last_evaluated_key() {
            Some(key) if !key.is_empty() => start = Some(key.clone()),
            _ => return Ok(items),
        }
    }
}

/// The dead letters, oldest first; without `include_replayed`, only those
/// not replayed yet.
async fn dead_letters(target: &Target, include_replayed: bool) -> Result<Vec<Item>> {
    let table = target.failed_table()?;
    let filter = (!include_replayed).then(|| ("attribute_not_exists(replayed_at)", HashMap::new()));
    let mut items = scan(target, table, filter).await?;
    items.sort_by(|a, b| text(a, "first_seen").cmp(&text(b, "first_seen")));
    Ok(items)
}

/// `events list --failed`.
pub async fn list(aws: &AwsArgs, include_replayed: bool, limit: usize, json: bool) -> Result<()> {
    let target = aws.resolve().await?;
    let mut items = dead_letters(&target, include_replayed).await?;
    items.truncate(limit);
    if json {
        for item in &items {
            let mut row = serde_json::Map::new();
            for (name, key) in [
                ("pk", "id"),
                ("provider", "provider"),
                ("type", "type"),
                ("subject", "subject"),
                ("first_seen", "failed_at"),
                ("received", "received"),
                ("reason", "reason"),
                ("record_key", "record_key"),
                ("replayed_at", "replayed_at"),
            ] {
                if let Some(v) = text(item, name) {
                    row.insert(key.to_owned(), Value::from(v));
                }
            }
            println!("{}", Value::Object(row));
        }
        return Ok(());
    }
    if items.is_empty() {
        eprintln!(
            "nothing the relay could not publish in {}",
            target.failed_table()?
        );
        return Ok(());
    }
    println!(
        "{:<32}  {:<10}  {:<22}  {:<32}  REASON",
        "FAILED AT", "PROVIDER", "TYPE", "ID"
    );
    for item in &items {
        let replayed = text(item, "replayed_at")
            .map(|at| format!(" (replayed {at})"))
            .unwrap_or_default();
        println!(
            "{:<32}  {:<10}  {:<22}  {:<32}  {}{replayed}",
            text(item, "first_seen").unwrap_or("-"),
            text(item, "provider").unwrap_or("-"),
            text(item, "type").unwrap_or("-"),
            text(item, "pk").unwrap_or("-"),
            text(item, "reason").unwrap_or("-"),
        );
    }
    Ok(())
}

/// `events replay --failed`: publishes every dead letter not replayed yet,
/// marking each `replayed_at` once SNS took it.
pub async fn replay_failed(aws: &AwsArgs) -> Result<()> {
    let target = aws.resolve().await?;
    let table = target.failed_table()?.to_owned();
    let sink = sink(&target)?;
    let client = aws_sdk_dynamodb::Client::new(&target.sdk);
    let items = dead_letters(&target, false).await?;
    let total = items.len();
    let mut replayed = 0;
    let mut errors = Vec::new();
    for item in items {
        let Some(id) = text(&item, "pk").map(str::to_owned) else {
            continue;
        };
        let published = match outbox_of(&id, item) {
            Ok(outbox) => publish_again(&sink, &id, outbox).await,
            Err(e) => Err(e),
        };
        if let Err(e) = published {
            errors.push(format!("{id}: {e:#}"));
            continue;
        }
        let now = OffsetDateTime::now_utc().format(&Rfc3339)?;
        client
            .update_item()
            .table_name(&table)
            .key("pk", AttributeValue::S(id.clone()))
            .update_expression("SET replayed_at = :now")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", AttributeValue::S(now))
            .send()
            .await
            .map_err(|e| anyhow!(sdk_error(&e)))
            .with_context(|| format!("marking {id} replayed in {table}"))?;
        replayed += 1;
    }
    println!(
        "replayed {replayed} of {total} failed event{} to {}",
        if total == 1 { "" } else { "s" },
        target.topic_arn()?
    );
    if errors.is_empty() {
        Ok(())
    } else {
        Err(anyhow!(
            "{} not replayed (they stay listed by `events list --failed`):\n{}",
            errors.len(),
            errors.join("\n")
        ))
    }
}

/// `events replay --since T [--until T]`: every record first seen in the
/// window, oldest first.
pub async fn replay_window(
    aws: &AwsArgs,
    since: OffsetDateTime,
    until: Option<OffsetDateTime>,
) -> Result<()> {
    let target = aws.resolve().await?;
    let table = target.table()?.to_owned();
    let until = until.unwrap_or_else(OffsetDateTime::now_utc);
    let ms = |t: OffsetDateTime| (t.unix_timestamp_nanos() / 1_000_000).to_string();
    let values = HashMap::from([
        (":since".to_owned(), AttributeValue::N(ms(since))),
        (":until".to_owned(), AttributeValue::N(ms(until))),
    ]);
    let mut items = scan(
        &target,
        &table,
        Some(("first_seen_ms >= :since AND first_seen_ms < :until", values)),
    )
    .await?;
    items.sort_by(|a, b| text(a, "first_seen").cmp(&text(b, "first_seen")));
    let sink = sink(&target)?;
    let total = items.len();
    for item in items {
        let id = text(&item, "pk").unwrap_or_default().to_owned();
        publish_again(&sink, &id, outbox_of(&id, item)?).await?;
    }
    println!(
        "replayed {total} event{} recorded from {} to {} to {}",
        if total == 1 { "" } else { "s" },
        since.format(&Rfc3339)?,
        until.format(&Rfc3339)?,
        target.topic_arn()?
    );
    Ok(())
}
