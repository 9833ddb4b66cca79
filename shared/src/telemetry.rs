//! Structured logs (`tracing`, JSON) and CloudWatch embedded-metric-format
//! lines, so dashboards need no extra API calls.

use std::sync::atomic::{AtomicBool, Ordering};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The outcome of one request, as logged and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Recorded for the first time (the relay publishes it).
    Accepted,
    /// Already recorded; answered like the first delivery.
    Duplicate,
    /// Refused before anything was stored (400, 405, 413 body).
    Rejected,
    /// Authentication failed (401): a misconfigured or attacked provider.
    Unauthenticated,
    /// The event cannot fit an SNS message (413): never publishable.
    TooLarge,
    /// DynamoDB failed or timed out; 503.
    StoreFailed,
    /// A stream key refused a publish or play (`stream.refused`).
    Refused,
}

impl Outcome {
    /// Every outcome; each is a metric name.
    pub const ALL: [Outcome; 7] = [
        Outcome::Accepted,
        Outcome::Duplicate,
        Outcome::Rejected,
        Outcome::Unauthenticated,
        Outcome::TooLarge,
        Outcome::StoreFailed,
        Outcome::Refused,
    ];

    /// Name in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Duplicate => "duplicate",
            Outcome::Rejected => "rejected",
            Outcome::Unauthenticated => "unauthenticated",
            Outcome::TooLarge => "too_large",
            Outcome::StoreFailed => "store_failed",
            Outcome::Refused => "refused",
        }
    }
}

mod human;

/// Width of the hook column of the human log format
/// (`LIVEHOOK_LOG_FORMAT=human`): most providers' hooks fit it (Mux's
/// `video.asset.live_stream_completed` is 33); a longer one (Mux's
/// simulcast-target events) keeps its end, so the columns after it line up.
pub const HUMAN_HOOK_WIDTH: usize = 34;

/// How the functions write their logs (`LIVEHOOK_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, a delivery's line also its EMF metrics
    /// document: what CloudWatch Logs and metrics read (the default).
    Json,
    /// One short line per delivery and per relay batch for a person at a
    /// terminal (`make dev`); no EMF lines.
    Human,
}

impl LogFormat {
    /// The format named by `LIVEHOOK_LOG_FORMAT` (`json` or `human`); JSON
    /// when unset or unknown, so a deployed function never loses its
    /// structured logs to a typo.
    pub fn from_env() -> LogFormat {
        LogFormat::parse(std::env::var("LIVEHOOK_LOG_FORMAT").ok().as_deref())
    }

    fn parse(value: Option<&str>) -> LogFormat {
        match value.map(str::trim) {
            Some(v) if v.eq_ignore_ascii_case("human") => LogFormat::Human,
            _ => LogFormat::Json,
        }
    }
}

/// Set once by [`init`]: whether EMF lines are written (JSON format only).
static HUMAN: AtomicBool = AtomicBool::new(false);

/// Set by [`init`] in the JSON format: a delivery's log line is written by
/// [`log_delivery`] itself, with its EMF metrics in the same JSON document
/// (one write instead of two). Unset (tests' own subscribers, the human
/// format), the line goes through `tracing` and the metrics on a line of
/// their own.
static COMBINED: AtomicBool = AtomicBool::new(false);

/// Installs the log subscriber (level from `RUST_LOG`, default `info`) in
/// the format of `LIVEHOOK_LOG_FORMAT`. Safe to call more than once.
pub fn init() {
    init_with(LogFormat::from_env());
}

/// Installs the log subscriber in `format`. The human format writes colours
/// when stdout is a terminal or `CLICOLOR_FORCE` is set (as `make dev` does
/// for its terminal), never when `NO_COLOR` is set.
pub fn init_with(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    HUMAN.store(format == LogFormat::Human, Ordering::Relaxed);
    match format {
        LogFormat::Json => {
            // The delivery's line is ours only when this subscriber, whose
            // JSON it reproduces, is the one installed.
            let installed = tracing_subscriber::fmt()
                .json()
                .with_env_filter(filter)
                .with_current_span(false)
                .with_span_list(false)
                .with_target(false)
                .without_time() // CloudWatch stamps every line.
                .finish()
                .with(events_only())
                .try_init();
            COMBINED.store(installed.is_ok(), Ordering::Relaxed);
        }
        LogFormat::Human => {
            let set =
                |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0");
            let ansi = !set("NO_COLOR")
                && (set("CLICOLOR_FORCE") || std::io::IsTerminal::is_terminal(&std::io::stdout()));
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .event_format(human::Human { ansi })
                .finish()
                .with(events_only())
                .try_init();
        }
    }
}

/// Turns every span off: neither format writes spans, and lambda_runtime
/// opens one per invocation (its request id and trace id formatted and
/// stored, then dropped) that would otherwise cost every delivery.
fn events_only() -> tracing_subscriber::filter::FilterFn {
    tracing_subscriber::filter::filter_fn(|metadata| !metadata.is_span())
}

/// The part of every EMF line after the timestamp up to the provider: the
/// metric declarations never change, so they are written out once here.
const EMF_DECLARATION: &str = concat!(
    r#","CloudWatchMetrics":[{"Namespace":"livehook","Dimensions":[["provider"]],"Metrics":["#,
    r#"{"Name":"accepted","Unit":"Count"},{"Name":"duplicate","Unit":"Count"},"#,
    r#"{"Name":"rejected","Unit":"Count"},"#,
    r#"{"Name":"unauthenticated","Unit":"Count"},{"Name":"too_large","Unit":"Count"},"#,
    r#"{"Name":"store_failed","Unit":"Count"},{"Name":"refused","Unit":"Count"}]}]},"provider":""#
);

/// One EMF line: namespace `livehook`, dimension `provider`, every outcome a
/// count (1 for this request's outcome, 0 for the others).
///
/// Built in one pre-sized `String` (the declarations are a constant): it is
/// written on every request, and the former `format!`/`join` version made a
/// dozen small allocations per line.
pub fn emf_line(provider: &str, outcome: Outcome, timestamp_ms: i64) -> String {
    let mut line = String::with_capacity(EMF_DECLARATION.len() + provider.len() + 128);
    line.push('{');
    push_emf_members(&mut line, provider, outcome, timestamp_ms);
    line.push('}');
    line
}

/// The members of an EMF document (`"_aws":…,"provider":…` and the
/// counts), without its braces.
fn push_emf_members(line: &mut String, provider: &str, outcome: Outcome, timestamp_ms: i64) {
    use std::fmt::Write as _;
    line.push_str(r#""_aws":{"Timestamp":"#);
    let _ = write!(line, "{timestamp_ms}");
    line.push_str(EMF_DECLARATION);
    // Provider names are plain ASCII identifiers: nothing to escape.
    line.push_str(provider);
    line.push('"');
    for o in Outcome::ALL {
        line.push_str(r#",""#);
        line.push_str(o.as_str());
        line.push_str(if o == outcome { r#"":1"# } else { r#"":0"# });
    }
}

/// What is logged of one delivery: the fields of its `delivery handled`
/// (accepted or duplicate, INFO) or `delivery not accepted` (WARN) line.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct DeliveryLog<'a> {
    /// The invocation's request id.
    pub request_id: &'a str,
    /// The provider's name (also the metrics' dimension).
    pub provider: &'a str,
    /// The published id (accepted and duplicate only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<&'a str>,
    /// The canonical type (accepted and duplicate only).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub event_type: Option<&'a str>,
    /// The provider's hook (accepted and duplicate only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook: Option<&'a str>,
    /// The event's subject (accepted and duplicate only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<&'a str>,
    /// The outcome (as counted).
    #[serde(serialize_with = "outcome_name")]
    pub outcome: Outcome,
    /// The HTTP status answered.
    pub status: u16,
    /// Why it was not accepted (never a secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'a str>,
    /// Microseconds spent on it.
    pub latency_us: u64,
    /// The query string, secrets redacted.
    pub query: &'a str,
}

fn outcome_name<S: serde::Serializer>(outcome: &Outcome, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(outcome.as_str())
}

impl DeliveryLog<'_> {
    fn accepted(&self) -> bool {
        matches!(self.outcome, Outcome::Accepted | Outcome::Duplicate)
    }

    /// The line's message.
    pub fn message(&self) -> &'static str {
        if self.accepted() {
            "delivery handled"
        } else {
            "delivery not accepted"
        }
    }

    /// The JSON log line of the delivery with its EMF metrics in the same
    /// document (EMF takes other members beside its own): the
    /// `{"level":…,"fields":{…}}` the JSON subscriber writes for the
    /// `tracing` event, then the members of [`emf_line`].
    pub fn combined_line(&self, timestamp_ms: i64) -> String {
        let mut line = String::with_capacity(EMF_DECLARATION.len() + 512);
        line.push_str(if self.accepted() {
            r#"{"level":"INFO","fields":{"message":""#
        } else {
            r#"{"level":"WARN","fields":{"message":""#
        });
        line.push_str(self.message());
        line.push('"');
        // The fields after the message: serialized as an object, its `{`
        // dropped (`,"…":…}` follows the message; an object of no fields
        // would close `fields` right after it).
        let fields = serde_json::to_string(self).unwrap_or_default();
        match fields.strip_prefix('{') {
            Some(rest) if rest != "}" => {
                line.push(',');
                line.push_str(rest);
            }
            _ => line.push('}'),
        }
        line.push(',');
        push_emf_members(&mut line, self.provider, self.outcome, timestamp_ms);
        line.push_str("}\n");
        line
    }

    /// The `tracing` event of this line (target `livehook::pipeline`, as
    /// the pipeline's own events).
    fn trace(&self) {
        let d = self;
        let outcome = d.outcome.as_str();
        if self.accepted() {
            tracing::info!(
                target: "livehook::pipeline",
                request_id = d.request_id,
                provider = d.provider,
                event_id = d.event_id.unwrap_or_default(),
                r#type = d.event_type.unwrap_or_default(),
                hook = d.hook.unwrap_or_default(),
                subject = d.subject.unwrap_or_default(),
                outcome,
                status = d.status,
                latency_us = d.latency_us,
                query = d.query,
                "delivery handled"
            );
        } else {
            tracing::warn!(
                target: "livehook::pipeline",
                request_id = d.request_id,
                provider = d.provider,
                outcome,
                status = d.status,
                detail = d.detail.unwrap_or_default(),
                latency_us = d.latency_us,
                query = d.query,
                "delivery not accepted"
            );
        }
    }
}

/// Logs one delivery and counts its outcome: in the JSON format one line
/// carrying both (its EMF metrics beside the log fields), which is one
/// write to stdout instead of two; otherwise the `tracing` event and
/// [`emit_metrics`]. A log level that filters the line out leaves the
/// metrics on their own line.
pub fn log_delivery(log: &DeliveryLog<'_>, timestamp_ms: i64) {
    if !COMBINED.load(Ordering::Relaxed) {
        log.trace();
        emit_metrics(log.provider, log.outcome, timestamp_ms);
        return;
    }
    let enabled = if log.accepted() {
        tracing::enabled!(target: "livehook::pipeline", tracing::Level::INFO)
    } else {
        tracing::enabled!(target: "livehook::pipeline", tracing::Level::WARN)
    };
    let line = delivery_output(log, timestamp_ms, enabled);
    // One write of the whole line (stdout is line-buffered).
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), line.as_bytes());
}

/// What [`log_delivery`] writes in the JSON format: the combined line, or
/// the EMF line alone when the log line is filtered out.
fn delivery_output(log: &DeliveryLog<'_>, timestamp_ms: i64, line_enabled: bool) -> String {
    if line_enabled {
        return log.combined_line(timestamp_ms);
    }
    let mut line = emf_line(log.provider, log.outcome, timestamp_ms);
    line.push('\n');
    line
}

/// Writes one EMF line to stdout (where Lambda's log agent reads it; the
/// `println!` family is what test harnesses capture); nothing in the human
/// format.
pub fn emit_metrics(provider: &str, outcome: Outcome, timestamp_ms: i64) {
    if HUMAN.load(Ordering::Relaxed) {
        return;
    }
    println!("{}", emf_line(provider, outcome, timestamp_ms));
}

/// What the relay did with one batch, as logged and counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayCounts {
    /// Messages SNS took.
    pub published: u64,
    /// Messages SNS refused for their content, and records that are not
    /// outbox records: left in the table, never retried.
    pub refused: u64,
    /// Messages not published and kept in the dead-letter table (refused,
    /// or given up on): each raises the dead-letter alarm.
    pub dead_lettered: u64,
    /// Records returned as `batchItemFailures` (retried by Lambda).
    pub batch_failures: u64,
    /// Records that are not `INSERT` or `MODIFY` (TTL removals).
    pub skipped: u64,
    /// Stream keys whose use the batch could not record on their item
    /// (the events were published; the key's next use records it).
    pub key_uses_failed: u64,
}

/// The relay's EMF line: namespace `livehook`, dimension `function=relay`,
/// counts `published`, `refused`, `dead_lettered`, `batch_failures` and
/// `key_uses_failed`.
pub fn relay_emf_line(counts: RelayCounts, timestamp_ms: i64) -> String {
    format!(
        concat!(
            r#"{{"_aws":{{"Timestamp":{},"CloudWatchMetrics":[{{"Namespace":"livehook","Dimensions":[["function"]],"#,
            r#""Metrics":[{{"Name":"published","Unit":"Count"}},{{"Name":"refused","Unit":"Count"}},"#,
            r#"{{"Name":"dead_lettered","Unit":"Count"}},{{"Name":"batch_failures","Unit":"Count"}},"#,
            r#"{{"Name":"key_uses_failed","Unit":"Count"}}]}}]}},"#,
            r#""function":"relay","published":{},"refused":{},"dead_lettered":{},"batch_failures":{},"#,
            r#""key_uses_failed":{}}}"#
        ),
        timestamp_ms,
        counts.published,
        counts.refused,
        counts.dead_lettered,
        counts.batch_failures,
        counts.key_uses_failed
    )
}

/// Writes the relay's EMF line to stdout (nothing in the human format).
pub fn emit_relay_metrics(counts: RelayCounts, timestamp_ms: i64) {
    if HUMAN.load(Ordering::Relaxed) {
        return;
    }
    println!("{}", relay_emf_line(counts, timestamp_ms));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_is_json_unless_human_is_asked_for() {
        assert_eq!(LogFormat::parse(None), LogFormat::Json);
        assert_eq!(LogFormat::parse(Some("json")), LogFormat::Json);
        assert_eq!(LogFormat::parse(Some("humane")), LogFormat::Json);
        assert_eq!(LogFormat::parse(Some(" Human ")), LogFormat::Human);
    }

    #[test]
    fn emf_lines_are_json_with_one_counted_outcome() {
        let line = emf_line("lal", Outcome::Duplicate, 1700000000000);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "livehook");
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .len(),
            Outcome::ALL.len()
        );
        assert_eq!(v["provider"], "lal");
        assert_eq!(v["duplicate"], 1);
        assert_eq!(v["accepted"], 0);
        assert_eq!(v["store_failed"], 0);
    }

    #[test]
    fn emf_declarations_name_every_outcome_in_order() {
        let line = emf_line("bililive", Outcome::Accepted, 1);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let declared: Vec<&str> = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        let names: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(declared, names);
        assert_eq!(v["_aws"]["Timestamp"], 1);
        for o in Outcome::ALL {
            assert_eq!(v[o.as_str()], u8::from(o == Outcome::Accepted));
        }
    }

    /// What the JSON subscriber of [`init_with`] writes for `log`'s
    /// `tracing` event.
    fn traced(log: &DeliveryLog<'_>) -> serde_json::Value {
        use std::sync::{Arc, Mutex};
        #[derive(Clone)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer(Arc::default());
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_current_span(false)
            .with_span_list(false)
            .with_target(false)
            .without_time()
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || log.trace());
        let bytes = buffer.0.lock().unwrap().clone();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn delivery(outcome: Outcome) -> DeliveryLog<'static> {
        let accepted = matches!(outcome, Outcome::Accepted | Outcome::Duplicate);
        DeliveryLog {
            request_id: "r-1",
            provider: "alibaba",
            event_id: accepted.then_some("5335113e424633734c66808b13d8c50a"),
            event_type: accepted.then_some("stream.started"),
            hook: accepted.then_some("publish"),
            subject: accepted.then_some("alibaba/live.example/app/s \"1\""),
            outcome,
            status: if accepted { 200 } else { 401 },
            detail: (!accepted).then_some("wrong_token"),
            latency_us: 1234,
            query: "action=publish&token=***&名=値",
        }
    }

    #[test]
    fn a_combined_line_is_the_traced_log_line_and_the_emf_document() {
        for outcome in [
            Outcome::Accepted,
            Outcome::Duplicate,
            Outcome::Unauthenticated,
        ] {
            let log = delivery(outcome);
            let line = log.combined_line(1_700_000_000_000);
            assert!(
                line.ends_with("}\n") && !line.trim_end().contains('\n'),
                "{line}"
            );
            let mut combined: serde_json::Value = serde_json::from_str(&line).unwrap();
            let emf: serde_json::Value =
                serde_json::from_str(&emf_line("alibaba", outcome, 1_700_000_000_000)).unwrap();
            // The EMF document's every member, at the top level.
            for (name, value) in emf.as_object().unwrap() {
                assert_eq!(&combined[name], value, "{name}");
                combined.as_object_mut().unwrap().remove(name);
            }
            // And the rest is the line the subscriber writes for the event.
            assert_eq!(combined, traced(&log), "{outcome:?}");
        }
    }

    #[test]
    fn spans_are_off_and_events_on() {
        use tracing_subscriber::layer::SubscriberExt as _;
        let subscriber = tracing_subscriber::fmt()
            .with_writer(std::io::sink)
            .finish()
            .with(events_only());
        tracing::subscriber::with_default(subscriber, || {
            assert!(tracing::info_span!("Lambda runtime invoke", requestId = "r").is_disabled());
            assert!(tracing::enabled!(tracing::Level::INFO));
        });
    }

    #[test]
    fn a_filtered_out_line_leaves_its_metrics() {
        let log = delivery(Outcome::Accepted);
        let only = delivery_output(&log, 5, false);
        assert_eq!(
            only,
            format!("{}\n", emf_line("alibaba", Outcome::Accepted, 5))
        );
        assert_eq!(delivery_output(&log, 5, true), log.combined_line(5));
    }

    #[test]
    fn relay_emf_lines_count_published_refused_and_failures() {
        let counts = RelayCounts {
            published: 9,
            refused: 1,
            dead_lettered: 3,
            batch_failures: 2,
            skipped: 0,
            key_uses_failed: 4,
        };
        let v: serde_json::Value = serde_json::from_str(&relay_emf_line(counts, 5)).unwrap();
        assert_eq!(v["function"], "relay");
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0],
            "function"
        );
        assert_eq!(v["dead_lettered"], 3);
        assert_eq!(v["key_uses_failed"], 4);
        let declared: Vec<&str> = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(
            declared,
            [
                "published",
                "refused",
                "dead_lettered",
                "batch_failures",
                "key_uses_failed"
            ]
        );
        assert_eq!(
            (&v["published"], &v["refused"], &v["batch_failures"]),
            (
                &serde_json::json!(9),
                &serde_json::json!(1),
                &serde_json::json!(2)
            )
        );
    }
}
