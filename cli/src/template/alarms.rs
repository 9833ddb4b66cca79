//! Each provider function's Lambda alarms. One alarm per function and
//! metric: it names the function that failed, exists exactly when the
//! function does, and never meets CloudWatch's limit of 10 metrics per alarm
//! (the price is the same: a metric-math alarm is billed per metric).

use super::{Registry, quoted};

/// The Lambda metrics alarmed on for every provider function: metric,
/// alarm name suffix and what it means.
pub const LAMBDA_ALARMS: &[(&str, &str, &str)] = &[
    (
        "Errors",
        "errors",
        "failed (crash, timeout or start-up failure such as a missing secret); API Gateway \
         answered 500 and nothing was recorded for that request.",
    ),
    (
        "Throttles",
        "throttles",
        "was throttled (account or function concurrency exhausted); the sender got an error: \
         a provider that resends tries again, one that never does lost the event.",
    ),
];

/// The logical id of `function`'s alarm on `metric`.
pub fn alarm_id(logical: &str, metric: &str) -> String {
    format!("{logical}{metric}Alarm")
}

/// Every provider function's Errors and Throttles alarms.
pub fn function_alarms(registry: &Registry) -> Vec<String> {
    let mut lines = Vec::new();
    for f in &registry.functions {
        for (metric, suffix, means) in LAMBDA_ALARMS {
            if !lines.is_empty() {
                lines.push(String::new());
            }
            lines.extend([
                format!("{}:", alarm_id(&f.logical, metric)),
                "  Type: AWS::CloudWatch::Alarm".to_owned(),
                format!("  Condition: {}", registry.condition_of(f)),
                "  Properties:".to_owned(),
                format!(
                    "    AlarmName: !Sub ${{AWS::StackName}}-{}-{suffix}",
                    f.name
                ),
            ]);
            lines.push(format!(
                "    AlarmDescription: {}",
                quoted(&format!("livehook: the {} function {means}", f.name))
            ));
            lines.extend([
                "    Namespace: AWS/Lambda".to_owned(),
                format!("    MetricName: {metric}"),
                format!(
                    "    Dimensions: [{{Name: FunctionName, Value: !Ref {}Function}}]",
                    f.logical
                ),
                "    Statistic: Sum".to_owned(),
                "    Period: 300".to_owned(),
                "    EvaluationPeriods: 1".to_owned(),
                "    ComparisonOperator: GreaterThanThreshold".to_owned(),
                "    Threshold: 0".to_owned(),
                "    TreatMissingData: notBreaching".to_owned(),
                "    AlarmActions: [!Ref AlarmTopic]".to_owned(),
                "    OKActions: [!Ref AlarmTopic]".to_owned(),
            ]);
        }
    }
    lines
}
