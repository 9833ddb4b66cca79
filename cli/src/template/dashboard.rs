//! Each provider's pieces of the dashboard. The body is an `Fn::Join` of
//! pieces, so that a provider's widget, metrics and alarms are in it exactly
//! when its function exists; each piece carries its own trailing comma (or
//! leading one, in the alarm list), so that any choice of providers joins
//! into valid JSON.

use livehook::telemetry::Outcome;

use super::alarms::{LAMBDA_ALARMS, alarm_id};
use super::{Function, Registry, quoted};

/// One piece of the body: present always, or only under `condition`.
fn piece(condition: Option<&str>, text: &str) -> String {
    match condition {
        None => format!("- !Sub {}", quoted(text)),
        Some(c) => format!("- !If [{c}, !Sub {}, \"\"]", quoted(text)),
    }
}

/// The start of a metric widget, up to its list of metrics.
fn metric_widget_head(title: &str, stat: &str) -> String {
    format!(
        r#"{{"type":"metric","width":8,"height":6,"properties":{{"region":"${{AWS::Region}}","title":"{title}","view":"timeSeries","stacked":false,"stat":"{stat}","period":300,"metrics":["#
    )
}

/// Each provider's outcomes per 5 minutes (its functions' embedded metrics).
pub fn provider_widgets(registry: &Registry) -> Vec<String> {
    registry
        .functions
        .iter()
        .map(|f| {
            let metrics: Vec<String> = Outcome::ALL
                .iter()
                .map(|o| format!(r#"["livehook","{}","provider","{}"]"#, o.as_str(), f.name))
                .collect();
            let widget = format!(
                "{}{}]}}}},",
                metric_widget_head(&format!("{}: outcomes per 5 min", f.name), "Sum"),
                metrics.join(",")
            );
            piece(Some(&registry.condition_of(f)), &widget)
        })
        .collect()
}

/// The Lambda metrics compared across the functions (the relay's last), and
/// the cold starts of each from its log group.
pub fn function_widgets(registry: &Registry) -> Vec<String> {
    const WIDGETS: &[(&str, &str, &str)] = &[
        ("Lambda duration p50 (ms)", "Duration", "p50"),
        ("Lambda duration p99 (ms)", "Duration", "p99"),
        (
            "Lambda errors (crash, timeout, start-up failure)",
            "Errors",
            "Sum",
        ),
        ("Lambda throttles", "Throttles", "Sum"),
        ("Lambda invocations", "Invocations", "Sum"),
    ];
    let entry = |metric: &str, logical: &str, label: &str| {
        format!(
            r#"["AWS/Lambda","{metric}","FunctionName","${{{logical}Function}}",{{"label":"{label}"}}]"#
        )
    };
    let mut lines = Vec::new();
    for (title, metric, stat) in WIDGETS {
        lines.push(piece(None, &metric_widget_head(title, stat)));
        lines.extend(registry.functions.iter().map(|f| {
            piece(
                Some(&registry.condition_of(f)),
                &format!("{},", entry(metric, &f.logical, f.name)),
            )
        }));
        lines.push(piece(
            None,
            &format!("{}]}}}},", entry(metric, "Relay", "relay")),
        ));
    }
    lines.push(piece(
        None,
        r#"{"type":"log","width":8,"height":6,"properties":{"region":"${AWS::Region}","title":"Cold starts: init duration (ms) per function, from REPORT lines","view":"table","query":""#,
    ));
    lines.extend(registry.functions.iter().map(|f: &Function| {
        piece(
            Some(&registry.condition_of(f)),
            &format!("SOURCE '${{{}LogGroup}}' | ", f.logical),
        )
    }));
    lines.push(piece(
        None,
        r#"SOURCE '${RelayLogGroup}' | filter @type = 'REPORT' and ispresent(@initDuration) | stats count(*) as cold_starts, pct(@initDuration, 50) as p50_ms, pct(@initDuration, 99) as p99_ms, max(@initDuration) as max_ms by @log"}},"#,
    ));
    lines
}

/// Each provider function's alarms, for the alarm widget's list (each piece
/// starts with its comma: the hand-written alarms come first).
pub fn alarm_arns(registry: &Registry) -> Vec<String> {
    registry
        .functions
        .iter()
        .map(|f| {
            let arns: String = LAMBDA_ALARMS
                .iter()
                .map(|(metric, _, _)| format!(r#","${{{}.Arn}}""#, alarm_id(&f.logical, metric)))
                .collect();
            piece(Some(&registry.condition_of(f)), &arns)
        })
        .collect()
}
