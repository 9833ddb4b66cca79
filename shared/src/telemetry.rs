//! Structured logs (`tracing`, JSON) and CloudWatch embedded-metric-format
//! lines, so dashboards need no extra API calls.

use tracing_subscriber::EnvFilter;

/// The outcome of one request, as logged and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Published for the first time.
    Accepted,
    /// Already published; answered like the first delivery.
    Duplicate,
    /// Another invocation holds the claim; 409.
    InProgress,
    /// Refused before anything was stored (400, 405, 413 body).
    Rejected,
    /// Authentication failed (401): a misconfigured or attacked provider.
    Unauthenticated,
    /// The event cannot fit an SNS message (413): never publishable.
    TooLarge,
    /// DynamoDB or SNS failed; 503.
    PublishFailed,
}

impl Outcome {
    /// Every outcome; each is a metric name.
    pub const ALL: [Outcome; 7] = [
        Outcome::Accepted,
        Outcome::Duplicate,
        Outcome::InProgress,
        Outcome::Rejected,
        Outcome::Unauthenticated,
        Outcome::TooLarge,
        Outcome::PublishFailed,
    ];

    /// Name in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Duplicate => "duplicate",
            Outcome::InProgress => "in_progress",
            Outcome::Rejected => "rejected",
            Outcome::Unauthenticated => "unauthenticated",
            Outcome::TooLarge => "too_large",
            Outcome::PublishFailed => "publish_failed",
        }
    }
}

/// Installs the JSON log subscriber (level from `RUST_LOG`, default `info`).
/// Safe to call more than once.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .without_time() // CloudWatch stamps every line.
        .try_init();
}

/// One EMF line: namespace `livehook`, dimension `provider`, every outcome a
/// count (1 for this request's outcome, 0 for the others).
pub fn emf_line(provider: &str, outcome: Outcome, timestamp_ms: i64) -> String {
    let metrics: Vec<String> = Outcome::ALL
        .iter()
        .map(|o| format!(r#"{{"Name":"{}","Unit":"Count"}}"#, o.as_str()))
        .collect();
    let values: Vec<String> = Outcome::ALL
        .iter()
        .map(|o| format!(r#""{}":{}"#, o.as_str(), u8::from(*o == outcome)))
        .collect();
    format!(
        r#"{{"_aws":{{"Timestamp":{timestamp_ms},"CloudWatchMetrics":[{{"Namespace":"livehook","Dimensions":[["provider"]],"Metrics":[{}]}}]}},"provider":"{provider}",{}}}"#,
        metrics.join(","),
        values.join(",")
    )
}

/// Writes one EMF line to stdout (where Lambda's log agent reads it; the
/// `println!` family is what test harnesses capture).
pub fn emit_metrics(provider: &str, outcome: Outcome, timestamp_ms: i64) {
    println!("{}", emf_line(provider, outcome, timestamp_ms));
}

#[cfg(test)]
mod tests {
    use super::*;

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
            7
        );
        assert_eq!(v["provider"], "lal");
        assert_eq!(v["duplicate"], 1);
        assert_eq!(v["accepted"], 0);
        assert_eq!(v["publish_failed"], 0);
    }
}
