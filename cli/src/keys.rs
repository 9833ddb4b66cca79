//! `livehook keys`: the stream keys media servers' clients must present when
//! `LIVEHOOK_STREAM_KEYS` is on. Only a key's hash is stored (in the events
//! table, under the `streamkey#` prefix); the key is printed once.

use std::collections::HashMap;

use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_dynamodb::types::AttributeValue;
use clap::{Args, Subcommand};
use livehook::stream_keys::{self, Action, KEY_LEN, attr};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::aws::AwsArgs;
use crate::sdk_error;

type Item = HashMap<String, AttributeValue>;

#[derive(Debug, Args)]
#[command(
    about = "Create, list and revoke stream keys (LIVEHOOK_STREAM_KEYS)",
    long_about = "Create, list and revoke the stream keys SRS, nginx-rtmp, ZLMediaKit and MediaMTX \
        clients must present when the functions run with LIVEHOOK_STREAM_KEYS=publish (or \
        publish,play): the `key` query parameter of the stream URL, e.g. \
        rtmp://host/live/cam1?key=K.\n\n\
        A stream has one publish key and, with --play, one play key; creating a key again \
        replaces the old one. Only its SHA-256 is stored, in the events table: the key is \
        printed once, alone on the last line.",
    after_help = "Examples:\n  \
        livehook keys create live/cam1\n  \
        livehook keys create live/cam1 --play --expires 7d\n  \
        livehook keys list\n  \
        livehook keys revoke live/cam1"
)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create (or replace) a stream's key and print it once.
    Create {
        #[command(flatten)]
        aws: AwsArgs,
        /// The stream, as `<app>/<stream>` (MediaMTX: its path).
        stream: String,
        /// A key for players instead of the publisher.
        #[arg(long)]
        play: bool,
        /// It stops admitting after this long: e.g. 90m, 12h, 7d, 2w (default: never).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        expires: Option<Duration>,
    },
    /// List the keys: stream, created, expires, last used (never the key). A key's last
    /// use is recorded by the relay after it publishes the admitted event: seconds late.
    List {
        #[command(flatten)]
        aws: AwsArgs,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a stream's keys (publish and play): they admit no one from now on.
    Revoke {
        #[command(flatten)]
        aws: AwsArgs,
        /// The stream, as `<app>/<stream>`.
        stream: String,
    },
}

pub async fn run(args: KeysArgs) -> Result<()> {
    match args.command {
        KeysCommand::Create {
            aws,
            stream,
            play,
            expires,
        } => {
            let action = if play { Action::Play } else { Action::Publish };
            create(&aws, &stream, action, expires).await
        }
        KeysCommand::List { aws, json } => list(&aws, json).await,
        KeysCommand::Revoke { aws, stream } => revoke(&aws, &stream).await,
    }
}

/// A stream name as keys take it: `<app>/<stream>`, printable, no spaces.
fn check_stream(stream: &str) -> Result<()> {
    let valid = stream.contains('/')
        && !stream.starts_with('/')
        && !stream.ends_with('/')
        && stream.len() <= 512
        && stream.chars().all(|c| c.is_ascii_graphic() && c != '?');
    if !valid {
        bail!("`{stream}` is not <app>/<stream> (e.g. live/cam1)");
    }
    Ok(())
}

/// `90s`, `90m`, `12h`, `7d`, `2w`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: i64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 90m, 12h, 7d"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("`{text}`: the unit is one of s, m, h, d, w")),
    };
    if n <= 0 || n > 10 * 365 * 86_400 / seconds {
        return Err(format!("`{text}` is not from 1s to 10 years"));
    }
    Ok(Duration::seconds(n * seconds))
}

fn rfc3339(at: OffsetDateTime) -> String {
    livehook::event::format_time(at)
}

/// A fresh key from the operating system's random source.
fn fresh_key() -> Result<String> {
    let mut bytes = [0u8; KEY_LEN];
    getrandom::fill(&mut bytes).context("reading the operating system's random source")?;
    Ok(stream_keys::key_from_random(&bytes))
}

async fn create(
    aws: &AwsArgs,
    stream: &str,
    action: Action,
    expires: Option<Duration>,
) -> Result<()> {
    check_stream(stream)?;
    let target = aws.resolve().await?;
    let table = target.table()?;
    let client = aws_sdk_dynamodb::Client::new(&target.sdk);
    let key = fresh_key()?;
    // Whole seconds: what the listing shows.
    let now = OffsetDateTime::now_utc().replace_nanosecond(0)?;
    client
        .put_item()
        .table_name(table)
        .set_item(Some(stream_keys::new_item(
            stream, action, &key, now, expires,
        )))
        .send()
        .await
        .map_err(|e| anyhow!(sdk_error(&e)))
        .with_context(|| format!("storing the key in table {table}"))?;
    let until = expires.map_or_else(
        || "does not expire".to_owned(),
        |after| format!("expires {}", rfc3339(now + after)),
    );
    println!(
        "{} key of {stream} ({until}); it replaces any earlier one. Shown once, only its hash is stored.",
        action.as_str()
    );
    println!("Clients add it to the stream URL: rtmp://HOST/{stream}?key=<key>");
    println!("{key}");
    Ok(())
}

/// Every key item of the table (a Scan: keys are few, events many, but
/// the listing is rare and the projection leaves the envelopes behind).
async fn scan_keys(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    let mut start: Option<Item> = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .filter_expression("begins_with(pk, :prefix)")
            .expression_attribute_values(
                ":prefix",
                AttributeValue::S(stream_keys::ITEM_PREFIX.into()),
            )
            .projection_expression("pk, #stream, #action, created, expires, revoked, last_used")
            .expression_attribute_names("#stream", attr::STREAM)
            .expression_attribute_names("#action", attr::ACTION)
            .set_exclusive_start_key(start.take())
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
    let text = |item: &Item, name: &str| crate::events::text(item, name).map(str::to_owned);
    items.sort_by_key(|item| (text(item, attr::STREAM), text(item, attr::ACTION)));
    Ok(items)
}

/// A key's row: stream, for, created, expires, last used, state.
fn row(item: &Item, now: OffsetDateTime) -> [String; 6] {
    let text = |name: &str| crate::events::text(item, name).unwrap_or("").to_owned();
    let expired = crate::events::text(item, attr::EXPIRES)
        .and_then(|at| OffsetDateTime::parse(at, &Rfc3339).ok())
        .is_some_and(|at| at <= now);
    let state = if item.contains_key(attr::REVOKED) {
        "revoked"
    } else if expired {
        "expired"
    } else {
        "active"
    };
    let or_dash = |v: String| if v.is_empty() { "-".to_owned() } else { v };
    [
        text(attr::STREAM),
        text(attr::ACTION),
        text(attr::CREATED),
        or_dash(text(attr::EXPIRES)),
        or_dash(text(attr::LAST_USED)),
        state.to_owned(),
    ]
}

async fn list(aws: &AwsArgs, json: bool) -> Result<()> {
    let target = aws.resolve().await?;
    let table = target.table()?;
    let client = aws_sdk_dynamodb::Client::new(&target.sdk);
    let items = scan_keys(&client, table).await?;
    let now = OffsetDateTime::now_utc();
    const HEADERS: [&str; 6] = ["stream", "for", "created", "expires", "last_used", "state"];
    if json {
        for item in &items {
            let row = row(item, now);
            let object: serde_json::Map<String, serde_json::Value> = HEADERS
                .iter()
                .zip(row)
                .filter(|(_, v)| v != "-")
                .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(v)))
                .collect();
            println!("{}", serde_json::Value::Object(object));
        }
        return Ok(());
    }
    if items.is_empty() {
        eprintln!("no stream keys in {table} (livehook keys create <app>/<stream>)");
        return Ok(());
    }
    let rows: Vec<[String; 6]> = items.iter().map(|item| row(item, now)).collect();
    let mut widths = HEADERS.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: [&str; 6]| {
        cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    println!(
        "{}",
        line(
            HEADERS
                .map(str::to_uppercase)
                .each_ref()
                .map(String::as_str)
        )
    );
    for r in &rows {
        println!("{}", line(r.each_ref().map(String::as_str)));
    }
    Ok(())
}

async fn revoke(aws: &AwsArgs, stream: &str) -> Result<()> {
    check_stream(stream)?;
    let target = aws.resolve().await?;
    let table = target.table()?;
    let client = aws_sdk_dynamodb::Client::new(&target.sdk);
    let now = rfc3339(OffsetDateTime::now_utc());
    let mut revoked = Vec::new();
    for action in [Action::Publish, Action::Play] {
        let result = client
            .update_item()
            .table_name(table)
            .key(
                "pk",
                AttributeValue::S(stream_keys::item_key(action, stream)),
            )
            .update_expression("SET revoked = :now")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(revoked)")
            .expression_attribute_values(":now", AttributeValue::S(now.clone()))
            .send()
            .await;
        match result {
            Ok(_) => revoked.push(action.as_str()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
            Err(e) => {
                return Err(anyhow!(sdk_error(&e)))
                    .with_context(|| format!("revoking in table {table}"));
            }
        }
    }
    if revoked.is_empty() {
        bail!("{stream} has no active key in {table} (livehook keys list)");
    }
    println!("revoked the {} key of {stream}", revoked.join(" and "));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_number_and_a_unit() {
        assert_eq!(parse_duration("90m").unwrap(), Duration::minutes(90));
        assert_eq!(parse_duration("7d").unwrap(), Duration::days(7));
        assert_eq!(parse_duration("2w").unwrap(), Duration::days(14));
        for bad in ["", "7", "d", "0h", "-1h", "3y", "99999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn streams_are_app_and_stream() {
        assert!(check_stream("live/cam1").is_ok());
        assert!(check_stream("live/a/b").is_ok());
        for bad in ["cam1", "/cam1", "live/", "live/cam 1", "live/cam1?key=x"] {
            assert!(check_stream(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_key_item_holds_the_hash_never_the_key() {
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let key = fresh_key().unwrap();
        assert_ne!(key, fresh_key().unwrap());
        let item = stream_keys::new_item(
            "live/cam1",
            Action::Publish,
            &key,
            now,
            Some(Duration::hours(1)),
        );
        assert!(!format!("{item:?}").contains(&key));
        assert_eq!(item[attr::HASH].as_s().unwrap(), &stream_keys::hash(&key));
        assert_eq!(item[attr::EXPIRES_MS].as_n().unwrap(), "1700003600000");
        assert_eq!(row(&item, now)[5], "active");
        assert_eq!(row(&item, now + Duration::hours(2))[5], "expired");
    }
}
