//! The log format for a person at a terminal (`LIVEHOOK_LOG_FORMAT=human`):
//! one short line per delivery and per relay batch, errors in colour.

use std::fmt::{self, Write as _};

use time::OffsetDateTime;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// ANSI colours of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Paint {
    Plain,
    Dim,
    Green,
    Yellow,
    Red,
}

impl Paint {
    fn code(self) -> &'static str {
        match self {
            Paint::Plain => "",
            Paint::Dim => "\x1b[2m",
            Paint::Green => "\x1b[32m",
            Paint::Yellow => "\x1b[33m",
            Paint::Red => "\x1b[1;31m",
        }
    }
}

/// The event's fields as text, in the order they were logged.
#[derive(Default)]
struct Fields {
    message: String,
    values: Vec<(&'static str, String)>,
}

impl Fields {
    fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    fn or_dash(&self, name: &str) -> &str {
        self.get(name).filter(|v| !v.is_empty()).unwrap_or("-")
    }

    fn number(&self, name: &str) -> u64 {
        self.get(name).and_then(|v| v.parse().ok()).unwrap_or(0)
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.values.push((field.name(), value.to_owned()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.values.push((field.name(), format!("{value:?}")));
        }
    }
}

/// Formats events for people: see [`line`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Human {
    /// Whether to write ANSI colours.
    pub(super) ansi: bool,
}

impl<S, N> FormatEvent<S, N> for Human
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let (paint, text) = line(
            OffsetDateTime::now_utc(),
            *event.metadata().level(),
            &fields,
        );
        if self.ansi && paint != Paint::Plain {
            writeln!(writer, "{}{text}\x1b[0m", paint.code())
        } else {
            writeln!(writer, "{text}")
        }
    }
}

/// Width of the type column: the longest [`crate::event::EventType`] name
/// (a test checks every type against it).
const TYPE_WIDTH: usize = 23;

/// Width of the subject column; a longer subject pushes the rest of its
/// line right (stream names are the senders' to choose).
const SUBJECT_WIDTH: usize = 32;

/// `text` cut to `width` characters from the left, marked with `…`, when
/// longer: the end of a hook (Mux's `…simulcast_target.broadcasting`) is
/// what tells it apart.
fn fit_left(text: &str, width: usize) -> std::borrow::Cow<'_, str> {
    let count = text.chars().count();
    if count <= width {
        return text.into();
    }
    let tail: String = text.chars().skip(count + 1 - width).collect();
    format!("…{tail}").into()
}

/// One line: `HH:MM:SS.mmm` (UTC) then, for a delivery, provider, hook,
/// type, subject, published id, outcome and milliseconds; for a relay
/// batch, its counts; for anything else, level, message and fields.
fn line(now: OffsetDateTime, level: Level, fields: &Fields) -> (Paint, String) {
    let mut text = format!(
        "{:02}:{:02}:{:02}.{:03}  ",
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    );
    let ms = fields.number("latency_us") as f64 / 1000.0;
    let paint = match fields.message.as_str() {
        "delivery handled" => {
            let outcome = fields.or_dash("outcome");
            let _ = write!(
                text,
                "{:<10} {:<hook$} {:<TYPE_WIDTH$} {:<SUBJECT_WIDTH$} {:<32} {:<9} {ms:>7.1} ms",
                fields.or_dash("provider"),
                fit_left(fields.or_dash("hook"), super::HUMAN_HOOK_WIDTH),
                fields.or_dash("type"),
                fields.or_dash("subject"),
                fields.or_dash("event_id"),
                outcome,
                hook = super::HUMAN_HOOK_WIDTH,
            );
            if outcome == "duplicate" {
                Paint::Dim
            } else {
                Paint::Green
            }
        }
        "delivery not accepted" => {
            let outcome = fields.or_dash("outcome");
            let _ = write!(
                text,
                "{:<10} {} {:<16} {ms:>7.1} ms  {}",
                fields.or_dash("provider"),
                fields.or_dash("status"),
                outcome.to_uppercase(),
                fields.or_dash("detail"),
            );
            if outcome == "rejected" {
                Paint::Yellow
            } else {
                Paint::Red
            }
        }
        "batch relayed" => {
            let (refused, failed) = (fields.number("refused"), fields.number("failed"));
            let _ = write!(
                text,
                "{:<10} batch of {}: published {}, refused {refused}, failed {failed}",
                "relay",
                fields.or_dash("records"),
                fields.or_dash("published"),
            );
            if refused + failed > 0 {
                Paint::Red
            } else {
                Paint::Plain
            }
        }
        message => {
            let _ = write!(text, "{level:<5} {message}");
            for (name, value) in &fields.values {
                let _ = write!(text, "  {name}={value}");
            }
            match level {
                Level::ERROR => Paint::Red,
                Level::WARN => Paint::Yellow,
                _ => Paint::Plain,
            }
        }
    };
    (paint, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(message: &str, values: &[(&'static str, &str)]) -> Fields {
        Fields {
            message: message.to_owned(),
            values: values.iter().map(|(n, v)| (*n, (*v).to_owned())).collect(),
        }
    }

    fn at() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_042_000_000).unwrap()
    }

    #[test]
    fn a_delivery_is_one_line_with_its_facts() {
        let (paint, text) = line(
            at(),
            Level::INFO,
            &fields(
                "delivery handled",
                &[
                    ("request_id", "r-1"),
                    ("provider", "zlmediakit"),
                    ("event_id", "4f1c0d8e"),
                    ("type", "stream.started"),
                    ("hook", "on_publish"),
                    ("subject", "live/cam1"),
                    ("outcome", "accepted"),
                    ("status", "200"),
                    ("latency_us", "12345"),
                    ("query", "token=%5Bredacted%5D"),
                ],
            ),
        );
        assert_eq!(paint, Paint::Green);
        assert!(
            text.starts_with("22:13:20.042  zlmediakit on_publish "),
            "{text}"
        );
        for part in [
            "stream.started",
            "live/cam1",
            "4f1c0d8e",
            "accepted",
            "12.3 ms",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
        assert!(!text.contains("r-1") && !text.contains("token") && !text.contains('{'));
    }

    #[test]
    fn columns_hold_every_type_and_long_hooks() {
        for t in crate::event::EventType::ALL {
            assert!(t.as_str().len() <= TYPE_WIDTH, "{}", t.as_str());
        }
        let row = |hook: &str, subject: &str| {
            line(
                at(),
                Level::INFO,
                &fields(
                    "delivery handled",
                    &[
                        ("provider", "aodianyun"),
                        ("hook", hook),
                        ("type", "stream.started"),
                        ("subject", subject),
                        ("event_id", "503d1b40c5510292e41b482c7c0fa935"),
                        ("outcome", "accepted"),
                        ("latency_us", "35200"),
                    ],
                ),
            )
            .1
        };
        let longest = row(
            "video.live_stream.simulcast_target.broadcasting",
            "aodianyun/dyy_1/live1",
        );
        assert!(
            longest.contains(" …eam.simulcast_target.broadcasting stream.started"),
            "{longest}"
        );
        let long = row("sys/notify/lss:StartPublish", "aodianyun/dyy_1/live1");
        let short = row("1", "tencent/3954_ea88f7495ba711e6a2");
        // The id starts in the same column whatever the hook and subject.
        assert_eq!(
            long.find("503d1b40"),
            short.find("503d1b40"),
            "\n{long}\n{short}"
        );
        // In characters: `…` is three bytes.
        let column = |row: &str| row.find("503d1b40").map(|at| row[..at].chars().count());
        assert_eq!(column(&longest), column(&short), "\n{longest}\n{short}");
        assert!(long.len() < 200, "{long}");
    }

    #[test]
    fn refusals_and_failures_stand_out() {
        let (paint, text) = line(
            at(),
            Level::WARN,
            &fields(
                "delivery not accepted",
                &[
                    ("provider", "lal"),
                    ("outcome", "unauthenticated"),
                    ("status", "401"),
                    ("detail", "wrong token"),
                    ("latency_us", "800"),
                ],
            ),
        );
        assert_eq!(paint, Paint::Red);
        assert!(text.contains("401 UNAUTHENTICATED") && text.contains("wrong token"));
        let (paint, _) = line(
            at(),
            Level::WARN,
            &fields("delivery not accepted", &[("outcome", "rejected")]),
        );
        assert_eq!(paint, Paint::Yellow);
        let (paint, text) = line(
            at(),
            Level::ERROR,
            &fields(
                "configuration error",
                &[("error", "LIVEHOOK_TABLE is not set")],
            ),
        );
        assert_eq!(paint, Paint::Red);
        assert!(text.contains("ERROR configuration error  error=LIVEHOOK_TABLE is not set"));
    }

    #[test]
    fn a_relay_batch_is_one_line_red_when_anything_failed() {
        let batch = |failed: &str| {
            line(
                at(),
                Level::INFO,
                &fields(
                    "batch relayed",
                    &[
                        ("records", "3"),
                        ("published", "3"),
                        ("refused", "0"),
                        ("failed", failed),
                    ],
                ),
            )
        };
        let (paint, text) = batch("0");
        assert_eq!(paint, Paint::Plain);
        assert!(text.ends_with("relay      batch of 3: published 3, refused 0, failed 0"));
        assert_eq!(batch("1").0, Paint::Red);
    }

    #[test]
    fn colour_only_when_asked() {
        use tracing_subscriber::layer::SubscriberExt as _;
        for ansi in [false, true] {
            let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
            let sink = buffer.clone();
            let subscriber = tracing_subscriber::registry().with(
                tracing_subscriber::fmt::layer()
                    .event_format(Human { ansi })
                    .with_writer(move || Captured(sink.clone())),
            );
            tracing::subscriber::with_default(subscriber, || {
                tracing::warn!(
                    provider = "lal",
                    outcome = "store_failed",
                    status = 503u16,
                    detail = "timeout",
                    latency_us = 5u64,
                    "delivery not accepted"
                );
            });
            let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
            assert!(text.contains("lal        503 STORE_FAILED"), "{text}");
            assert_eq!(text.contains("\x1b["), ansi, "{text:?}");
            assert_eq!(text.lines().count(), 1);
        }
    }

    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
