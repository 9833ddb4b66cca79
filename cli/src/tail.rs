//! `livehook tail`: follow the published events through a temporary SQS
//! queue subscribed to the topic.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use aws_sdk_sqs::types::QueueAttributeName;
use clap::Args;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::aws::AwsArgs;
use crate::sdk_error;

#[derive(Debug, Args)]
#[command(
    about = "Print the events livehook publishes, as they arrive",
    long_about = "Print the events livehook publishes, as they arrive.\n\n\
        Creates a temporary SQS queue, lets the topic send to it, and subscribes \
        it with an SNS filter policy built from --type, --provider and --stream \
        (each repeatable; values of one flag are alternatives, different flags \
        must all match; a value ending in `*` matches by prefix). Prints one line \
        per event (time, type, subject, id; `replay` for re-published events) or \
        the full CloudEvents envelope with --json. The subscription and the queue \
        are deleted on exit, Ctrl-C included.",
    after_help = "Examples:\n  \
        livehook tail --stack livehook\n  \
        livehook tail --type 'stream.*' --provider lal --json\n  \
        livehook tail --stream live/test110 --max 1 --timeout 30"
)]
pub struct TailArgs {
    #[command(flatten)]
    aws: AwsArgs,
    /// Only events of this type (e.g. stream.started, or stream.* for a prefix).
    #[arg(long = "type", value_name = "T")]
    types: Vec<String>,
    /// Only events of this provider.
    #[arg(long = "provider", value_name = "P")]
    providers: Vec<String>,
    /// Only events of this stream (the `stream` attribute, e.g. live/test110).
    #[arg(long = "stream", value_name = "S")]
    streams: Vec<String>,
    /// Print the full envelope (one JSON document per line).
    #[arg(long)]
    json: bool,
    /// Stop after N events.
    #[arg(long, value_name = "N")]
    max: Option<u64>,
    /// Stop after SECS seconds without an event.
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
}

/// The SNS filter policy (on message attributes) of the flags; `None` when
/// no flag filters.
pub fn filter_policy(types: &[String], providers: &[String], streams: &[String]) -> Option<Value> {
    let mut policy = serde_json::Map::new();
    for (name, values) in [
        ("type", types),
        ("provider", providers),
        ("stream", streams),
    ] {
        if values.is_empty() {
            continue;
        }
        let rules: Vec<Value> = values
            .iter()
            .map(|v| match v.strip_suffix('*') {
                Some(prefix) => json!({ "prefix": prefix }),
                None => Value::from(v.as_str()),
            })
            .collect();
        policy.insert(name.to_owned(), Value::Array(rules));
    }
    (!policy.is_empty()).then_some(Value::Object(policy))
}

/// The queue policy letting `topic_arn` (only) send to `queue_arn`.
pub fn queue_policy(queue_arn: &str, topic_arn: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "livehook-tail",
            "Effect": "Allow",
            "Principal": { "Service": "sns.amazonaws.com" },
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": { "ArnEquals": { "aws:SourceArn": topic_arn } }
        }]
    })
}

/// A temporary queue and its subscription; [`Tap::close`] deletes both.
pub(crate) struct Tap {
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    /// The queue's URL.
    pub(crate) queue_url: String,
    subscription_arn: Option<String>,
}

impl Tap {
    /// Creates a queue named `<prefix>-…` and subscribes it to the topic.
    pub(crate) async fn open(
        sqs: aws_sdk_sqs::Client,
        sns: aws_sdk_sns::Client,
        topic_arn: &str,
        filter: Option<&Value>,
        prefix: &str,
    ) -> Result<Tap> {
        let fifo = topic_arn.ends_with(".fifo");
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "{prefix}-{}-{nonce:x}{}",
            std::process::id(),
            if fifo { ".fifo" } else { "" }
        );
        let mut create = sqs
            .create_queue()
            .queue_name(&name)
            // Whatever is left behind (a killed tail) expires on its own.
            .attributes(QueueAttributeName::MessageRetentionPeriod, "3600");
        if fifo {
            create = create.attributes(QueueAttributeName::FifoQueue, "true");
        }
        let queue_url = create
            .send()
            .await
            .map_err(|e| anyhow!(sdk_error(&e)))
            .context("creating the temporary SQS queue")?
            .queue_url()
            .context("CreateQueue returned no queue URL")?
            .to_owned();
        let mut tap = Tap {
            sqs,
            sns,
            queue_url,
            subscription_arn: None,
        };
        if let Err(e) = tap.subscribe(topic_arn, filter).await {
            tap.close().await;
            return Err(e);
        }
        Ok(tap)
    }

    async fn subscribe(&mut self, topic_arn: &str, filter: Option<&Value>) -> Result<()> {
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| anyhow!(sdk_error(&e)))
            .context("reading the queue's ARN")?;
        let queue_arn = attrs
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .context("the queue has no ARN")?
            .clone();
        self.sqs
            .set_queue_attributes()
            .queue_url(&self.queue_url)
            .attributes(
                QueueAttributeName::Policy,
                queue_policy(&queue_arn, topic_arn).to_string(),
            )
            .send()
            .await
            .map_err(|e| anyhow!(sdk_error(&e)))
            .context("allowing the topic to send to the queue")?;
        let mut subscribe = self
            .sns
            .subscribe()
            .topic_arn(topic_arn)
            .protocol("sqs")
            .endpoint(&queue_arn)
            .return_subscription_arn(true);
        if let Some(filter) = filter {
            subscribe = subscribe
                .attributes("FilterPolicyScope", "MessageAttributes")
                .attributes("FilterPolicy", filter.to_string());
        }
        let subscribed = subscribe
            .send()
            .await
            .map_err(|e| anyhow!(sdk_error(&e)))
            .with_context(|| format!("subscribing to {topic_arn}"))?;
        self.subscription_arn = subscribed.subscription_arn().map(str::to_owned);
        Ok(())
    }

    /// Deletes the subscription and the queue; failures are reported, not fatal.
    pub(crate) async fn close(self) {
        if let Some(arn) = &self.subscription_arn
            && let Err(e) = self.sns.unsubscribe().subscription_arn(arn).send().await
        {
            eprintln!("warning: could not unsubscribe {arn}: {}", sdk_error(&e));
        }
        if let Err(e) = self
            .sqs
            .delete_queue()
            .queue_url(&self.queue_url)
            .send()
            .await
        {
            eprintln!(
                "warning: could not delete queue {}: {}",
                self.queue_url,
                sdk_error(&e)
            );
        }
    }
}

/// One received notification.
#[derive(Debug)]
pub struct Notification {
    /// The envelope (the SNS message), parsed when it is JSON.
    pub envelope: Value,
    /// The SNS message text.
    pub message: String,
    /// Message attributes (name → value).
    pub attributes: BTreeMap<String, String>,
}

/// Parses what SNS delivers to an SQS queue (a notification document).
pub fn parse_notification(body: &str) -> Notification {
    let doc: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let message = doc
        .get("Message")
        .and_then(Value::as_str)
        .map_or_else(|| body.to_owned(), str::to_owned);
    let attributes = doc
        .get("MessageAttributes")
        .and_then(Value::as_object)
        .map(|attrs| {
            attrs
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.get("Value")?.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    Notification {
        envelope: serde_json::from_str(&message).unwrap_or(Value::Null),
        message,
        attributes,
    }
}

/// `text` without the whitespace between JSON tokens, so that one document
/// is one line (`data.raw` keeps the provider's own formatting, newlines
/// included). Key order and string contents are untouched.
pub fn compact_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// A CloudEvents time at one width (milliseconds, UTC), so that columns
/// line up whatever precision the provider's clock had; as given when it
/// is not RFC 3339.
fn fixed_time(time: &str) -> String {
    match OffsetDateTime::parse(time, &Rfc3339) {
        Ok(t) => {
            let t = t.to_offset(time::UtcOffset::UTC);
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                t.millisecond()
            )
        }
        Err(_) => time.to_owned(),
    }
}

/// The one-line form: time, type, subject, id (and `replay`).
pub fn line(n: &Notification) -> String {
    let field = |name: &str| n.envelope.get(name).and_then(Value::as_str).unwrap_or("-");
    let mut out = format!(
        "{}  {:<22} {}  {}",
        fixed_time(field("time")),
        field("type"),
        field("subject"),
        field("id")
    );
    if n.attributes.get("replay").map(String::as_str) == Some("true") {
        out.push_str("  replay");
    }
    out
}

/// Runs `livehook tail`.
pub async fn run(args: TailArgs) -> Result<()> {
    let target = args.aws.resolve().await?;
    let topic_arn = target.topic_arn()?.to_owned();
    let filter = filter_policy(&args.types, &args.providers, &args.streams);
    let sqs = aws_sdk_sqs::Client::new(&target.sdk);
    let sns = aws_sdk_sns::Client::new(&target.sdk);

    // One listener for the whole run: a new one per phase would miss a
    // Ctrl-C that arrives between the phases.
    let shutdown = shutdown();
    tokio::pin!(shutdown);
    let tap = tokio::select! {
        tap = Tap::open(sqs.clone(), sns, &topic_arn, filter.as_ref(), "livehook-tail") => tap?,
        () = &mut shutdown => return Ok(()),
    };
    eprintln!(
        "tail: listening on {topic_arn}{}; Ctrl-C to stop",
        filter.map_or_else(String::new, |f| format!(" (filter {f})"))
    );
    let result = tokio::select! {
        r = receive(&sqs, &tap.queue_url, &args) => r,
        () = &mut shutdown => Ok(()),
    };
    tap.close().await;
    result
}

async fn receive(sqs: &aws_sdk_sqs::Client, queue_url: &str, args: &TailArgs) -> Result<()> {
    let quiet = args.timeout.map(Duration::from_secs);
    let mut last = Instant::now();
    let mut seen = 0_u64;
    loop {
        if args.max.is_some_and(|max| seen >= max) {
            return Ok(());
        }
        let wait = match quiet {
            Some(quiet) => {
                let left = quiet.saturating_sub(last.elapsed());
                if left.is_zero() {
                    eprintln!("tail: no event for {} s; stopping", quiet.as_secs());
                    return Ok(());
                }
                left.as_secs().clamp(1, 20)
            }
            None => 20,
        };
        let received = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(i32::try_from(wait).unwrap_or(20))
            .send()
            .await
            .map_err(|e| anyhow!(sdk_error(&e)))
            .context("receiving from the queue")?;
        for m in received.messages() {
            if args.max.is_some_and(|max| seen >= max) {
                break;
            }
            let n = parse_notification(m.body().unwrap_or_default());
            if args.json {
                println!("{}", compact_json(&n.message));
            } else {
                println!("{}", line(&n));
            }
            seen += 1;
            last = Instant::now();
            if let Some(handle) = m.receipt_handle() {
                // Best effort: the queue is deleted at the end anyway.
                let _ = sqs
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await;
            }
        }
    }
}

/// Resolves on Ctrl-C (and SIGTERM on Unix).
async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_policy_from_flags() {
        assert_eq!(filter_policy(&[], &[], &[]), None);
        let policy = filter_policy(
            &["stream.*".into(), "server.started".into()],
            &["lal".into()],
            &[],
        )
        .unwrap();
        assert_eq!(
            policy,
            json!({"type": [{"prefix": "stream."}, "server.started"], "provider": ["lal"]})
        );
    }

    #[test]
    fn compact_json_keeps_strings_and_order() {
        let text = "{\"b\": {\n  \"a\": \"x y\\\" }\"\n},\n \"a\": [1, 2]}";
        let compact = compact_json(text);
        assert_eq!(compact, "{\"b\":{\"a\":\"x y\\\" }\"},\"a\":[1,2]}");
        assert_eq!(
            serde_json::from_str::<Value>(&compact).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
    }

    #[test]
    fn notification_line() {
        let body = json!({
            "Type": "Notification",
            "Message": json!({"id": "k", "time": "t", "type": "stream.started", "subject": "lal/live/a"}).to_string(),
            "MessageAttributes": {"replay": {"Type": "String", "Value": "true"}}
        });
        let n = parse_notification(&body.to_string());
        assert_eq!(line(&n), "t  stream.started         lal/live/a  k  replay");
    }

    #[test]
    fn times_have_one_width() {
        for (given, shown) in [
            ("2026-12-04T10:00:00Z", "2026-12-04T10:00:00.000Z"),
            ("2026-12-04T10:00:00.5Z", "2026-12-04T10:00:00.500Z"),
            (
                "2026-12-04T18:00:00.123456789+08:00",
                "2026-12-04T10:00:00.123Z",
            ),
            ("not a time", "not a time"),
        ] {
            assert_eq!(fixed_time(given), shown);
        }
    }
}
