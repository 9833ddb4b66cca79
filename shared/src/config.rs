//! Configuration from the environment, validated once at start-up: a
//! misconfigured function fails its init with a clear message instead of
//! failing (or worse, accepting everything) per request.

use std::time::Duration;

use crate::auth::{Secret, TOKEN_RULE, TokenSet, Verifier, token_is_url_safe};
use crate::proof::{SigningSecrets, secrets_problem};
use crate::providers::{AuthScheme, Provider, Settings};
use crate::redact::Redactor;

/// Default body limit: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// SNS's default `MaximumMessageSize` (256 KiB), body and attributes.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// The largest `MaximumMessageSize` an SNS topic can be given (1 MiB).
pub const LARGEST_MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// Default idempotency retention: 7 days.
pub const DEFAULT_RETENTION_SECONDS: u64 = 7 * 24 * 3600;

/// The retentions accepted, in seconds: 2 days to 365 days (the template's
/// `RetentionSeconds` has the same bounds). The floor outlives the event
/// source mapping's 24 h of retries, so a record still unpublished is there
/// until the relay dead-letters it.
pub const RETENTION_SECONDS: std::ops::RangeInclusive<u64> = 2 * 24 * 3600..=365 * 24 * 3600;

/// The dead-letter ages accepted (`LIVEHOOK_DEAD_LETTER_AFTER_SECONDS`):
/// 1 minute to 23 hours, always before the mapping gives a record up (24 h).
pub const DEAD_LETTER_AFTER_SECONDS: std::ops::RangeInclusive<u64> = 60..=23 * 3600;

/// A function's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `LIVEHOOK_TABLE`: the idempotency table.
    pub table: String,
    /// `LIVEHOOK_TOKEN`, `LIVEHOOK_TENCENT_KEY`, a signed platform's
    /// `LIVEHOOK_<PROVIDER>_SECRET`, `LIVEHOOK_SIGNATURE_TOLERANCE_SECONDS`,
    /// `LIVEHOOK_ALLOW_UNAUTHENTICATED`.
    pub verifier: Verifier,
    /// `LIVEHOOK_RETENTION_SECONDS`: how long idempotency records live.
    pub retention: Duration,
    /// `LIVEHOOK_REPLAY_WINDOW_SECONDS` (default: the retention; `0` turns
    /// the check off): events whose own timestamp is older are refused.
    pub replay_window: Duration,
    /// `LIVEHOOK_MAX_BODY_BYTES` (default 1 MiB): larger bodies get 413.
    pub max_body_bytes: usize,
    /// `LIVEHOOK_MAX_MESSAGE_BYTES` (default 256 KiB, at most 1 MiB): the
    /// topic's `MaximumMessageSize`. A large lal `on_update` is split into
    /// messages under it; an event that cannot be split to fit is refused
    /// with 413 before anything is written.
    pub max_message_bytes: usize,
    /// `LIVEHOOK_ADMISSION_ON_FAILURE` (`refuse`, the default, or `allow`):
    /// how a provider whose reply is admission control (SRS) is answered
    /// when AWS fails.
    pub admission_on_failure: AdmissionOnFailure,
    /// `LIVEHOOK_REDACT` (default [`crate::redact::DEFAULT_NAMES`]; a list
    /// starting with `+` adds to them): the field and query parameter
    /// names whose values are replaced by `***` before anything is written.
    /// The configured secrets (tokens, Tencent key, signing secrets) are
    /// masked by value whatever the list says.
    pub redactor: Redactor,
    /// `LIVEHOOK_STREAM_KEYS` (`off`, the default; `publish`;
    /// `publish,play`): which admissions need the stream's key (see
    /// [`crate::stream_keys`]). When on, the `key` query parameter is a
    /// secret name too.
    pub stream_keys: crate::stream_keys::Required,
    /// `LIVEHOOK_SCHEMA_BASE_URL` (default
    /// [`crate::event::DEFAULT_SCHEMA_BASE_URL`]): where the schemas of
    /// `schemas/` are published; every event's `dataschema` is under it.
    pub schema_base_url: String,
    /// The provider's own settings ([`crate::providers::Deployment::own_settings`],
    /// e.g. `LIVEHOOK_ZLMEDIAKIT_RETRY`): read by [`Config::for_provider`];
    /// every default otherwise.
    pub settings: Settings,
}

/// The answer to an admission-control provider (SRS, nginx-rtmp,
/// ZLMediaKit) when DynamoDB fails. (SNS failures never reach providers:
/// the relay publishes from the table.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AdmissionOnFailure {
    /// 503: the client's publish or play is refused; its reconnect
    /// redelivers the event once AWS is back. Nothing is lost.
    #[default]
    Refuse,
    /// The provider's success reply: streaming goes on, the event is lost
    /// (logged and counted as `store_failed`).
    Allow,
}

/// Why the configuration is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("{0} is not set")]
    Missing(&'static str),
    /// A variable's value cannot be used.
    #[error("{name} is invalid: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Why.
        reason: String,
    },
    /// The provider's secret is missing and unauthenticated mode is off.
    #[error(
        "{0} is not set: deliveries cannot be authenticated (set LIVEHOOK_ALLOW_UNAUTHENTICATED=true only for local experiments)"
    )]
    NoSecret(&'static str),
}

impl Config {
    /// Reads the process environment.
    pub fn from_env(scheme: AuthScheme) -> Result<Self, ConfigError> {
        Self::from_lookup(scheme, |name| std::env::var(name).ok())
    }

    /// The configuration of `provider`'s function through `lookup`: what
    /// [`Config::from_lookup`] reads for its scheme, and its own settings.
    pub fn for_provider(
        provider: &dyn Provider,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let settings = Settings::from_lookup(provider.deployment().own_settings, &lookup)?;
        Ok(Config {
            settings,
            ..Self::from_lookup(provider.auth_scheme(), lookup)?
        })
    }

    /// Reads configuration through `lookup` (the environment, or a test map).
    pub fn from_lookup(
        scheme: AuthScheme,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let get = |name: &'static str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));
        let seconds = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            get(name).map_or(Ok(default), |v| {
                v.parse().map_err(|_| ConfigError::Invalid {
                    name,
                    reason: format!("`{v}` is not a whole number of seconds"),
                })
            })
        };

        let allow_unauthenticated = match get("LIVEHOOK_ALLOW_UNAUTHENTICATED").as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "LIVEHOOK_ALLOW_UNAUTHENTICATED",
                    reason: format!("`{other}` is not true or false"),
                });
            }
        };
        let token_list = get("LIVEHOOK_TOKEN").unwrap_or_default();
        let tokens = TokenSet::parse(&token_list);
        let tencent_key = get("LIVEHOOK_TENCENT_KEY").map(Secret::new);
        match scheme {
            AuthScheme::QueryToken if tokens.is_empty() && !allow_unauthenticated => {
                return Err(ConfigError::NoSecret("LIVEHOOK_TOKEN"));
            }
            AuthScheme::TencentSign if tencent_key.is_none() && !allow_unauthenticated => {
                return Err(ConfigError::NoSecret("LIVEHOOK_TENCENT_KEY"));
            }
            _ => {}
        }
        let signing = match scheme {
            AuthScheme::Signed(proof) => {
                let name = proof.secret_variable;
                let secrets = SigningSecrets::parse(&lookup(name).unwrap_or_default());
                if secrets.is_empty() && !allow_unauthenticated {
                    return Err(ConfigError::NoSecret(name));
                }
                if let Some(reason) = secrets_problem(proof, &secrets) {
                    return Err(ConfigError::Invalid {
                        name,
                        reason: reason.to_owned(),
                    });
                }
                secrets
            }
            _ => SigningSecrets::default(),
        };
        let tolerance = get("LIVEHOOK_SIGNATURE_TOLERANCE_SECONDS")
            .map(|_| seconds("LIVEHOOK_SIGNATURE_TOLERANCE_SECONDS", 0))
            .transpose()?
            .map(Duration::from_secs);

        // Also with LIVEHOOK_ALLOW_UNAUTHENTICATED: a configured token is
        // required as configured, and one a sender cannot paste would refuse
        // every delivery. The tokens themselves are never shown.
        if token_list
            .split(',')
            .map(str::trim)
            .any(|t| !t.is_empty() && !token_is_url_safe(t))
        {
            return Err(ConfigError::Invalid {
                name: "LIVEHOOK_TOKEN",
                reason: TOKEN_RULE.to_owned(),
            });
        }

        let retention = seconds("LIVEHOOK_RETENTION_SECONDS", DEFAULT_RETENTION_SECONDS)?;
        if !RETENTION_SECONDS.contains(&retention) {
            // Past the upper bound `now + retention` could even leave the
            // calendar (year 9999) and abort every request.
            return Err(ConfigError::Invalid {
                name: "LIVEHOOK_RETENTION_SECONDS",
                reason: format!(
                    "{retention} is not from {} (2 days) to {} (365 days)",
                    RETENTION_SECONDS.start(),
                    RETENTION_SECONDS.end()
                ),
            });
        }
        let replay_window = seconds("LIVEHOOK_REPLAY_WINDOW_SECONDS", retention)?;
        if replay_window > retention {
            // Beyond the retention a replay finds no record and would be published again.
            return Err(ConfigError::Invalid {
                name: "LIVEHOOK_REPLAY_WINDOW_SECONDS",
                reason: format!("{replay_window} exceeds LIVEHOOK_RETENTION_SECONDS ({retention})"),
            });
        }
        let max_body_bytes =
            match get("LIVEHOOK_MAX_BODY_BYTES") {
                None => DEFAULT_MAX_BODY_BYTES,
                Some(v) => v.parse().ok().filter(|&b: &usize| b > 0).ok_or_else(|| {
                    ConfigError::Invalid {
                        name: "LIVEHOOK_MAX_BODY_BYTES",
                        reason: format!("`{v}` is not a positive number of bytes"),
                    }
                })?,
            };

        let max_message_bytes = max_message_bytes(get("LIVEHOOK_MAX_MESSAGE_BYTES"))?;
        let admission_on_failure = match get("LIVEHOOK_ADMISSION_ON_FAILURE").as_deref() {
            None | Some("refuse") => AdmissionOnFailure::Refuse,
            Some("allow") => AdmissionOnFailure::Allow,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "LIVEHOOK_ADMISSION_ON_FAILURE",
                    reason: format!("`{other}` is not refuse or allow"),
                });
            }
        };

        // The configured secrets are masked by value whatever the list
        // says: tokens, Tencent's key, the signing secrets (LiveKit's
        // `APIKEY:SECRET` pairs also by their secret alone).
        let signing_values = signing.iter().flat_map(|s| {
            let pair = s.expose();
            [Some(pair), pair.split_once(':').map(|(_, secret)| secret)]
        });
        let stream_keys = get(crate::stream_keys::SETTING)
            .map(|v| crate::stream_keys::Required::parse(&v))
            .transpose()
            .map_err(|reason| ConfigError::Invalid {
                name: crate::stream_keys::SETTING,
                reason,
            })?
            .unwrap_or_default();
        let names =
            get("LIVEHOOK_REDACT").map_or_else(Redactor::default, |list| Redactor::parse(&list));
        // A presented stream key (right or wrong) is masked wherever the
        // client's query is reported.
        let names = if stream_keys.is_on() {
            names.with_name(crate::stream_keys::KEY_PARAMETER)
        } else {
            names
        };
        let redactor = names
            .with_secrets(
                token_list
                    .split(',')
                    .chain(tencent_key.as_ref().map(Secret::expose))
                    .chain(signing_values.flatten()),
            )
            .map_err(|e| ConfigError::Invalid {
                name: "LIVEHOOK_REDACT",
                reason: e.to_string(),
            })?;
        let schema_base_url = match get("LIVEHOOK_SCHEMA_BASE_URL") {
            None => crate::event::DEFAULT_SCHEMA_BASE_URL.to_owned(),
            // `dataschema` is a URI: an absolute one, so consumers can fetch it.
            Some(v) if v.contains("://") && !v.contains(char::is_whitespace) => v,
            Some(v) => {
                return Err(ConfigError::Invalid {
                    name: "LIVEHOOK_SCHEMA_BASE_URL",
                    reason: format!("`{v}` is not an absolute URL"),
                });
            }
        };

        Ok(Config {
            table: required("LIVEHOOK_TABLE")?,
            verifier: Verifier {
                tokens,
                tencent_key,
                signing,
                tolerance,
                allow_unauthenticated,
            },
            retention: Duration::from_secs(retention),
            replay_window: Duration::from_secs(replay_window),
            max_body_bytes,
            max_message_bytes,
            admission_on_failure,
            stream_keys,
            schema_base_url,
            redactor,
            settings: Settings::default(),
        })
    }
}

/// `LIVEHOOK_MAX_MESSAGE_BYTES`: the topic's `MaximumMessageSize`.
fn max_message_bytes(value: Option<String>) -> Result<usize, ConfigError> {
    let Some(v) = value else {
        return Ok(DEFAULT_MAX_MESSAGE_BYTES);
    };
    v.parse()
        .ok()
        .filter(|b: &usize| (1024..=LARGEST_MAX_MESSAGE_BYTES).contains(b))
        .ok_or_else(|| ConfigError::Invalid {
            name: "LIVEHOOK_MAX_MESSAGE_BYTES",
            reason: format!(
                "`{v}` is not a number of bytes from 1024 to {LARGEST_MAX_MESSAGE_BYTES} (the topic's MaximumMessageSize)"
            ),
        })
}

/// The relay's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayConfig {
    /// `LIVEHOOK_TOPIC_ARN`: where events are published.
    pub topic_arn: String,
    /// `LIVEHOOK_MAX_MESSAGE_BYTES`: the topic's `MaximumMessageSize`, under
    /// which `PublishBatch` requests are packed.
    pub max_message_bytes: usize,
    /// `LIVEHOOK_FAILED_TABLE`: the dead-letter table, where what cannot be
    /// published is kept; without one it is retried until the mapping gives
    /// up.
    pub failed_table: Option<String>,
    /// `LIVEHOOK_DEAD_LETTER_AFTER_SECONDS`: a record still unpublished this
    /// long after it was written is dead-lettered (default 72000, 20 h).
    pub dead_letter_after: Duration,
    /// `LIVEHOOK_TABLE`: the events table, where stream keys' uses are
    /// recorded; without it they are not.
    pub table: Option<String>,
}

impl RelayConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let default_after = crate::relay::DEFAULT_DEAD_LETTER_AFTER.as_secs();
        let dead_letter_after = match get("LIVEHOOK_DEAD_LETTER_AFTER_SECONDS") {
            None => default_after,
            Some(v) => v
                .parse()
                .ok()
                .filter(|s| DEAD_LETTER_AFTER_SECONDS.contains(s))
                .ok_or_else(|| ConfigError::Invalid {
                    name: "LIVEHOOK_DEAD_LETTER_AFTER_SECONDS",
                    reason: format!(
                        "`{v}` is not a number of seconds from {} to {} (under the mapping's 24 h)",
                        DEAD_LETTER_AFTER_SECONDS.start(),
                        DEAD_LETTER_AFTER_SECONDS.end()
                    ),
                })?,
        };
        Ok(RelayConfig {
            topic_arn: get("LIVEHOOK_TOPIC_ARN")
                .ok_or(ConfigError::Missing("LIVEHOOK_TOPIC_ARN"))?,
            max_message_bytes: max_message_bytes(get("LIVEHOOK_MAX_MESSAGE_BYTES"))?,
            failed_table: get("LIVEHOOK_FAILED_TABLE"),
            dead_letter_after: Duration::from_secs(dead_letter_after),
            table: get("LIVEHOOK_TABLE"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(scheme: AuthScheme, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(scheme, |k| map.get(k).cloned())
    }

    const TOKEN: &str = "config-test-token-0123";
    const OTHER_TOKEN: &str = "config-test-token-4567";

    const BASE: [(&str, &str); 2] = [
        ("LIVEHOOK_TABLE", "t"),
        ("LIVEHOOK_TOPIC_ARN", "arn:aws:sns:us-east-1:1:x"),
    ];

    #[test]
    fn a_missing_secret_is_a_startup_error() {
        assert_eq!(
            load(AuthScheme::QueryToken, &BASE).unwrap_err(),
            ConfigError::NoSecret("LIVEHOOK_TOKEN")
        );
        assert_eq!(
            load(
                AuthScheme::TencentSign,
                &[BASE[0], BASE[1], ("LIVEHOOK_TOKEN", TOKEN)]
            )
            .unwrap_err(),
            ConfigError::NoSecret("LIVEHOOK_TENCENT_KEY")
        );
        let open = load(
            AuthScheme::QueryToken,
            &[BASE[0], BASE[1], ("LIVEHOOK_ALLOW_UNAUTHENTICATED", "true")],
        );
        assert!(open.unwrap().verifier.allow_unauthenticated);
    }

    #[test]
    fn a_signed_platform_reads_its_own_secret_list_and_tolerance() {
        use crate::proof::{Proof, Scheme};
        static JWT: Proof = Proof {
            secret_variable: "LIVEHOOK_LIVEKIT_SECRET",
            secret_about: "test",
            schemes: &[Scheme::BodyHashJwt],
            tolerance: Duration::from_secs(60),
        };
        let signed = AuthScheme::Signed(&JWT);
        assert_eq!(
            load(signed, &[BASE[0], BASE[1], ("LIVEHOOK_TOKEN", TOKEN)]).unwrap_err(),
            ConfigError::NoSecret("LIVEHOOK_LIVEKIT_SECRET")
        );
        let unpaired = [BASE[0], BASE[1], ("LIVEHOOK_LIVEKIT_SECRET", "k:s,nokey")];
        assert!(matches!(
            load(signed, &unpaired).unwrap_err(),
            ConfigError::Invalid { name: "LIVEHOOK_LIVEKIT_SECRET", ref reason } if !reason.contains("nokey")
        ));
        let c = load(
            signed,
            &[
                BASE[0],
                BASE[1],
                ("LIVEHOOK_LIVEKIT_SECRET", "k:s, k2:s2"),
                ("LIVEHOOK_SIGNATURE_TOLERANCE_SECONDS", "30"),
            ],
        )
        .unwrap();
        assert_eq!(c.verifier.signing.iter().count(), 2);
        assert_eq!(c.verifier.tolerance, Some(Duration::from_secs(30)));
        let c = load(
            signed,
            &[BASE[0], BASE[1], ("LIVEHOOK_LIVEKIT_SECRET", "k:s")],
        )
        .unwrap();
        assert_eq!(c.verifier.tolerance, None);
        // Signing secrets are masked by value, a pair's secret also alone.
        let c = load(
            signed,
            &[
                BASE[0],
                BASE[1],
                ("LIVEHOOK_LIVEKIT_SECRET", "APIkey01:livekit-secret-0123"),
            ],
        )
        .unwrap();
        let masked = c
            .redactor
            .redact_text("x livekit-secret-0123 APIkey01:livekit-secret-0123");
        assert_eq!(masked.as_deref(), Some("x *** ***"));
    }

    #[test]
    fn the_table_is_required_and_the_topic_is_the_relays() {
        assert_eq!(
            load(
                AuthScheme::QueryToken,
                &[("LIVEHOOK_TOKEN", TOKEN), BASE[1]]
            )
            .unwrap_err(),
            ConfigError::Missing("LIVEHOOK_TABLE")
        );
        // Provider functions never publish: they need no topic.
        assert!(
            load(
                AuthScheme::QueryToken,
                &[("LIVEHOOK_TOKEN", TOKEN), BASE[0]]
            )
            .is_ok()
        );
        let relay = |vars: &[(&str, &str)]| {
            let map: HashMap<&str, &str> = vars.iter().copied().collect();
            RelayConfig::from_lookup(|k| map.get(k).map(|v| (*v).to_owned()))
        };
        assert_eq!(
            relay(&[]).unwrap_err(),
            ConfigError::Missing("LIVEHOOK_TOPIC_ARN")
        );
        let c = relay(&[BASE[1], ("LIVEHOOK_MAX_MESSAGE_BYTES", "1048576")]).unwrap();
        assert_eq!(c.topic_arn, "arn:aws:sns:us-east-1:1:x");
        assert_eq!(c.max_message_bytes, 1_048_576);
        assert!(relay(&[BASE[1], ("LIVEHOOK_MAX_MESSAGE_BYTES", "10")]).is_err());
        assert_eq!(c.failed_table, None);
        assert_eq!(c.table, None);
        assert_eq!(c.dead_letter_after, Duration::from_secs(72_000));
        let c = relay(&[
            BASE[1],
            ("LIVEHOOK_TABLE", "events"),
            ("LIVEHOOK_FAILED_TABLE", "failed"),
            ("LIVEHOOK_DEAD_LETTER_AFTER_SECONDS", "3600"),
        ])
        .unwrap();
        assert_eq!(c.failed_table.as_deref(), Some("failed"));
        assert_eq!(c.table.as_deref(), Some("events"));
        assert_eq!(c.dead_letter_after, Duration::from_secs(3600));
        // Never at or past the mapping's 24 h: the record would be lost first.
        for after in ["86400", "82801", "59", "soon"] {
            let c = relay(&[BASE[1], ("LIVEHOOK_DEAD_LETTER_AFTER_SECONDS", after)]);
            assert!(c.is_err(), "{after}");
        }
    }

    #[test]
    fn defaults_and_overrides() {
        let c = load(
            AuthScheme::QueryToken,
            &[
                BASE[0],
                BASE[1],
                ("LIVEHOOK_TOKEN", &format!("{TOKEN},{OTHER_TOKEN}")),
            ],
        )
        .unwrap();
        assert_eq!(c.retention, Duration::from_secs(DEFAULT_RETENTION_SECONDS));
        assert_eq!(c.replay_window, c.retention);
        assert_eq!(c.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert_eq!(c.max_message_bytes, 262_144);
        assert_eq!(c.admission_on_failure, AdmissionOnFailure::Refuse);
        assert_eq!(c.schema_base_url, crate::event::DEFAULT_SCHEMA_BASE_URL);
        assert_eq!(c.verifier.tokens.len(), 2);
        assert!(
            c.redactor.is_secret_name("api.secret") && !c.redactor.is_secret_name("camera_code")
        );
        // The configured tokens are masked by value, whatever the list.
        let masked = c
            .redactor
            .redact_text(&format!("a {TOKEN} b {OTHER_TOKEN}"));
        assert_eq!(masked.as_deref(), Some("a *** b ***"));
        let c = load(
            AuthScheme::QueryToken,
            &[
                BASE[0],
                BASE[1],
                ("LIVEHOOK_TOKEN", TOKEN),
                ("LIVEHOOK_RETENTION_SECONDS", "172800"),
                ("LIVEHOOK_REPLAY_WINDOW_SECONDS", "0"),
                ("LIVEHOOK_MAX_BODY_BYTES", "2048"),
                ("LIVEHOOK_MAX_MESSAGE_BYTES", "1048576"),
                ("LIVEHOOK_ADMISSION_ON_FAILURE", "allow"),
                ("LIVEHOOK_REDACT", "+camera_code"),
                ("LIVEHOOK_SCHEMA_BASE_URL", "https://schemas.example/v1/"),
            ],
        )
        .unwrap();
        assert!(c.redactor.is_secret_name("Camera_Code") && c.redactor.is_secret_name("secret"));
        assert_eq!(c.schema_base_url, "https://schemas.example/v1/");
        assert_eq!(c.max_message_bytes, LARGEST_MAX_MESSAGE_BYTES);
        assert_eq!(c.admission_on_failure, AdmissionOnFailure::Allow);
        assert_eq!(c.retention, Duration::from_secs(172_800));
        assert_eq!(c.replay_window, Duration::ZERO);
        assert_eq!(c.max_body_bytes, 2048);
    }

    #[test]
    fn bad_values_are_named() {
        for (name, value) in [
            ("LIVEHOOK_RETENTION_SECONDS", "soon"),
            ("LIVEHOOK_RETENTION_SECONDS", "0"),
            ("LIVEHOOK_RETENTION_SECONDS", "3600"),
            ("LIVEHOOK_RETENTION_SECONDS", "172799"),
            ("LIVEHOOK_RETENTION_SECONDS", "31536001"),
            ("LIVEHOOK_RETENTION_SECONDS", "18446744073709551615"),
            ("LIVEHOOK_MAX_BODY_BYTES", "-1"),
            ("LIVEHOOK_ALLOW_UNAUTHENTICATED", "yes please"),
            ("LIVEHOOK_REPLAY_WINDOW_SECONDS", "999999999"),
            ("LIVEHOOK_MAX_MESSAGE_BYTES", "1048577"),
            ("LIVEHOOK_MAX_MESSAGE_BYTES", "100"),
            ("LIVEHOOK_ADMISSION_ON_FAILURE", "maybe"),
            ("LIVEHOOK_SCHEMA_BASE_URL", "schemas/"),
        ] {
            let err = load(
                AuthScheme::QueryToken,
                &[BASE[0], BASE[1], ("LIVEHOOK_TOKEN", TOKEN), (name, value)],
            )
            .unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn retention_is_two_days_to_a_year_so_expiry_stays_in_the_calendar() {
        for (seconds, ok) in [
            ("172800", true),
            ("31536000", true),
            ("172799", false),
            ("3600", false),
            ("31536001", false),
            ("253402300799", false),
        ] {
            let c = load(
                AuthScheme::QueryToken,
                &[
                    BASE[0],
                    BASE[1],
                    ("LIVEHOOK_TOKEN", TOKEN),
                    ("LIVEHOOK_RETENTION_SECONDS", seconds),
                ],
            );
            assert_eq!(c.is_ok(), ok, "{seconds}");
            if let Ok(c) = c {
                // What every request computes: the record's expiry.
                let expiry =
                    time::OffsetDateTime::now_utc().checked_add(c.retention.try_into().unwrap());
                assert!(expiry.is_some_and(|at| at.year() < 9999));
            }
        }
    }

    #[test]
    fn tokens_must_be_url_safe_and_the_error_says_how_to_make_one() {
        for bad in [
            "short",
            "abcdefghijklmno+pq",
            "abcdefghijklmnop/q==",
            "it-token",
        ] {
            for list in [bad.to_owned(), format!("{TOKEN},{bad}")] {
                for unauthenticated in ["false", "true"] {
                    let err = load(
                        AuthScheme::QueryToken,
                        &[
                            BASE[0],
                            BASE[1],
                            ("LIVEHOOK_TOKEN", &list),
                            ("LIVEHOOK_ALLOW_UNAUTHENTICATED", unauthenticated),
                        ],
                    )
                    .unwrap_err();
                    let text = err.to_string();
                    assert!(
                        text.contains("LIVEHOOK_TOKEN") && text.contains("livehook token"),
                        "{text}"
                    );
                    assert!(!text.contains(bad), "the token is never shown: {text}");
                }
            }
        }
        let ok = load(
            AuthScheme::QueryToken,
            &[
                BASE[0],
                BASE[1],
                ("LIVEHOOK_TOKEN", "Ab.c_d~e-0123456789, zyxwvutsrqponmlk"),
            ],
        );
        assert_eq!(ok.unwrap().verifier.tokens.len(), 2);
    }
}
