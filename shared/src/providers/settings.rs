//! A provider's own settings: numbers its adapter needs from the server's
//! configuration (ZLMediaKit's hook retries and delays), declared in the
//! provider's module ([`Deployment::own_settings`](super::Deployment)),
//! read from the environment once at start-up and handed to the adapter
//! with every request ([`Inbound::settings`](crate::inbound::Inbound)).

use std::time::Duration;

use crate::config::ConfigError;

/// What a setting's number counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A whole number of times.
    Count,
    /// Seconds, with up to three decimals (`3.0`, `0.5`), as the servers'
    /// own configuration files write them.
    Seconds,
    /// A whole number of milliseconds.
    Milliseconds,
}

impl Unit {
    /// How it is named in messages and descriptions.
    pub const fn name(self) -> &'static str {
        match self {
            Unit::Count => "whole number",
            Unit::Seconds => "number of seconds",
            Unit::Milliseconds => "whole number of milliseconds",
        }
    }
}

/// One number a provider's function reads from its environment. The
/// template gets a parameter for it (named after the variable:
/// `LIVEHOOK_ZLMEDIAKIT_RETRY` → `ZlmediakitRetry`) with this default and
/// range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The environment variable.
    pub variable: &'static str,
    /// What it is and where the server sets it (the template parameter's
    /// description).
    pub about: &'static str,
    /// What the number counts.
    pub unit: Unit,
    /// The value when the variable is unset, in `unit`.
    pub default: u64,
    /// The largest value accepted, in `unit` (the smallest is 0).
    pub max: u64,
}

/// The values of a provider's settings, read once at start-up. A setting
/// absent from it has its default (tools that build an
/// [`Inbound`](crate::inbound::Inbound) without a configuration).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// Variable and value: a count, or milliseconds.
    values: Vec<(&'static str, u64)>,
}

/// The settings of a function configured with none: every default.
pub static DEFAULTS: Settings = Settings { values: Vec::new() };

impl Settings {
    /// Reads each of `declared` through `lookup`: unset or empty is the
    /// default; anything that is not a number of its unit within its range
    /// is a configuration error.
    pub fn from_lookup(
        declared: &[Setting],
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        let mut values = Vec::with_capacity(declared.len());
        for setting in declared {
            let Some(text) = lookup(setting.variable)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
            else {
                continue;
            };
            let value = parse(setting, &text).ok_or_else(|| ConfigError::Invalid {
                name: setting.variable,
                reason: format!(
                    "`{text}` is not a {} from 0 to {}",
                    setting.unit.name(),
                    setting.max
                ),
            })?;
            values.push((setting.variable, value));
        }
        Ok(Settings { values })
    }

    /// The value of `setting`, or its default, in its own unit's base: a
    /// count, or milliseconds for [`Unit::Seconds`] and
    /// [`Unit::Milliseconds`].
    fn value(&self, setting: &Setting) -> u64 {
        self.values
            .iter()
            .find(|(variable, _)| *variable == setting.variable)
            .map_or_else(
                || match setting.unit {
                    Unit::Seconds => setting.default.saturating_mul(1000),
                    Unit::Count | Unit::Milliseconds => setting.default,
                },
                |(_, value)| *value,
            )
    }

    /// A [`Unit::Count`] setting.
    pub fn count(&self, setting: &Setting) -> u64 {
        debug_assert_eq!(setting.unit, Unit::Count, "{}", setting.variable);
        self.value(setting)
    }

    /// A [`Unit::Seconds`] or [`Unit::Milliseconds`] setting.
    pub fn duration(&self, setting: &Setting) -> Duration {
        debug_assert_ne!(setting.unit, Unit::Count, "{}", setting.variable);
        Duration::from_millis(self.value(setting))
    }
}

/// `text` as `setting`'s value (a count, or milliseconds), if it is one.
fn parse(setting: &Setting, text: &str) -> Option<u64> {
    match setting.unit {
        Unit::Count | Unit::Milliseconds => text.parse::<u64>().ok().filter(|v| *v <= setting.max),
        Unit::Seconds => {
            let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
            let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
            if whole.is_empty() || !digits(whole) || fraction.len() > 3 || !digits(fraction) {
                return None;
            }
            let seconds = whole.parse::<u64>().ok().filter(|s| *s <= setting.max)?;
            let millis = format!("{fraction:0<3}").parse::<u64>().ok()?;
            let total = seconds.checked_mul(1000)?.checked_add(millis)?;
            (total <= setting.max.checked_mul(1000)?).then_some(total)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRIES: Setting = Setting {
        variable: "TRIES",
        about: "",
        unit: Unit::Count,
        default: 1,
        max: 10,
    };
    const DELAY: Setting = Setting {
        variable: "DELAY",
        about: "",
        unit: Unit::Seconds,
        default: 3,
        max: 600,
    };
    const WAIT: Setting = Setting {
        variable: "WAIT_MS",
        about: "",
        unit: Unit::Milliseconds,
        default: 20_000,
        max: 86_400_000,
    };

    fn read(variable: &str, value: &str) -> Result<Settings, ConfigError> {
        let (variable, value) = (variable.to_owned(), value.to_owned());
        Settings::from_lookup(&[TRIES, DELAY, WAIT], move |name| {
            (name == variable).then(|| value.clone())
        })
    }

    #[test]
    fn unset_and_empty_are_the_defaults() {
        for settings in [DEFAULTS.clone(), read("TRIES", " ").unwrap()] {
            assert_eq!(settings.count(&TRIES), 1);
            assert_eq!(settings.duration(&DELAY), Duration::from_secs(3));
            assert_eq!(settings.duration(&WAIT), Duration::from_secs(20));
        }
    }

    #[test]
    fn values_are_read_in_their_unit() {
        assert_eq!(read("TRIES", "0").unwrap().count(&TRIES), 0);
        assert_eq!(read("TRIES", "10").unwrap().count(&TRIES), 10);
        for (text, millis) in [("3.0", 3000), ("0.5", 500), ("12", 12_000), ("1.25", 1250)] {
            assert_eq!(
                read("DELAY", text).unwrap().duration(&DELAY),
                Duration::from_millis(millis),
                "{text}"
            );
        }
        assert_eq!(
            read("WAIT_MS", "5000").unwrap().duration(&WAIT),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn anything_else_is_a_start_up_error_naming_the_variable() {
        for (variable, text) in [
            ("TRIES", "-1"),
            ("TRIES", "11"),
            ("TRIES", "1.5"),
            ("TRIES", "one"),
            ("DELAY", "-3"),
            ("DELAY", "600.001"),
            ("DELAY", "3.0001"),
            ("DELAY", "1e3"),
            ("DELAY", ".5"),
            ("DELAY", "NaN"),
            ("WAIT_MS", "5000.0"),
            ("WAIT_MS", "86400001"),
            ("WAIT_MS", "18446744073709551616"),
        ] {
            match read(variable, text) {
                Err(ConfigError::Invalid { name, reason }) => {
                    assert_eq!(name, variable);
                    assert!(reason.contains(text), "{reason}");
                }
                other => panic!("{variable}={text}: {other:?}"),
            }
        }
    }
}
