//! `livehook providers`: the provider registry (`livehook::providers::ALL`)
//! for people and scripts, so that nothing outside the adapters keeps its
//! own list of providers, routes or credentials.

use anyhow::{Context, Result, bail};
use clap::Args;
use livehook::providers::{self, AuthScheme, Imitate};
use reqwest::Url;
use serde_json::{Value, json};

use crate::{samples, template};

#[derive(Debug, Args)]
#[command(
    about = "List the providers livehook serves and how each one sends",
    long_about = "List the providers livehook serves and how each one sends.\n\n\
        One line per provider, from the adapters themselves: its route, where its \
        credential goes (?token= or Tencent's body signature), whether it resends \
        (and after which delays), the User-Agent and headers its client sends, \
        whether its answer is admission control, its example event and the \
        compiled-in samples. With --url BASE, each function's local URL under \
        BASE (as `make dev` serves them: BASE/<provider>/, BASE/lal/{hook}), with \
        the token when the provider takes one.\n\n\
        --json prints one JSON object per provider; --format prints a template \
        per provider (for scripts).",
    after_help = "Fields of --format (and keys of --json):\n  \
        {name} {route} {auth} {resends} {retry_delays} {user_agent} {headers}\n  \
        {admission} {content_type} {example} {samples} {function_url} {url}\n  \
        {secret} {parameter} {resource} {settings} (the secret's variable and template\n  \
        parameter, the prefix of its template resources, the variables it takes from the stack)\n\n\
        Examples:\n  \
        livehook providers\n  \
        livehook providers --url http://127.0.0.1:9000/lambda-url --token dev-token-0123456789\n  \
        livehook providers --format '{name} {example}'\n  \
        livehook providers --json | jq -r .route"
)]
pub struct ProvidersArgs {
    /// Show each function's URL under this base (`make dev`: http://127.0.0.1:9000/lambda-url).
    #[arg(long, value_name = "BASE")]
    url: Option<String>,
    /// Put this token in the URLs of providers that take one (the first of a comma-separated list).
    #[arg(long, value_name = "T", env = "LIVEHOOK_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// One JSON object per provider, one per line.
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// Print this template per provider, e.g. '{name} {route}'.
    #[arg(long, value_name = "TEMPLATE")]
    format: Option<String>,
}

/// Where a provider's credential goes, as `livehook providers` names it.
pub fn auth_name(provider: &dyn Imitate) -> &'static str {
    match provider.auth_scheme() {
        AuthScheme::QueryToken => "token",
        AuthScheme::TencentSign => "tencent-sign",
        AuthScheme::Signed(_) => "signature",
    }
}

/// The local function URL of `provider` under `base` (`make dev` serves
/// each function at `<base>/<provider>/`): what `livehook send --url` and
/// `livehook check --url` take.
pub fn function_url(base: &str, provider: &dyn Imitate) -> Result<Url> {
    let mut url = Url::parse(base).with_context(|| format!("`{base}` is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("`{base}` must be http:// or https://");
    }
    let path = format!("{}/{}/", url.path().trim_end_matches('/'), provider.name());
    url.set_path(&path);
    Ok(url)
}

/// The URL the provider is configured with: the function URL, `{hook}`
/// appended for providers that name the event in the path, and the token.
fn provider_url(base: &str, provider: &dyn Imitate, token: Option<&str>) -> Result<String> {
    const HOOK: &str = "livehook-hook-placeholder";
    let function = function_url(base, provider)?;
    let event = if provider.receiving().hook_in_path {
        HOOK
    } else {
        ""
    };
    let url = crate::send::target_url(function.as_str(), provider, event, token)?;
    Ok(url.as_str().replace(HOOK, "{hook}"))
}

/// The facts about one provider, as `--json` prints them.
fn describe(provider: &dyn Imitate, url: Option<&str>, token: Option<&str>) -> Result<Value> {
    let sending = provider.sending();
    let secret = provider.auth_scheme().secret();
    let mut value = json!({
        "name": provider.name(),
        "route": providers::route(provider),
        "auth": auth_name(provider),
        "resends": sending.resends,
        "retry_delays": sending.retry_delays_seconds,
        "user_agent": sending.user_agent,
        "headers": sending.headers.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>(),
        "admission": provider.receiving().admission,
        "content_type": providers::wire_body(provider, b"{}").0,
        "example": provider.synthetic("livehook-check", "example").0,
        "samples": samples::events_of(provider.name()),
        "secret": secret.variable,
        "parameter": template::parameter_name(&secret),
        "resource": template::logical_name(provider.name()),
        "settings": deployment_variables(&provider.deployment()),
    });
    if let Some(base) = url {
        value["function_url"] = Value::from(function_url(base, provider)?.as_str());
        value["url"] = Value::from(provider_url(base, provider, token)?);
    }
    Ok(value)
}

/// A field as one shell word: lists joined by commas, nothing as `-`.
/// The variables a function takes from the stack: the shared settings and
/// its provider's own.
fn deployment_variables(deployment: &providers::Deployment) -> Vec<&'static str> {
    let shared = deployment.settings.iter().map(|(variable, _)| *variable);
    shared
        .chain(deployment.own_settings.iter().map(|s| s.variable))
        .collect()
}

fn plain(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) if s.is_empty() => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "-".to_owned(),
        Value::Array(items) => items.iter().map(plain).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Runs `livehook providers`.
pub fn run(args: ProvidersArgs) -> Result<()> {
    let token = args
        .token
        .as_deref()
        .and_then(|t| t.split(',').map(str::trim).find(|t| !t.is_empty()));
    let rows = providers::ALL_IMITATE
        .iter()
        .map(|p| describe(*p, args.url.as_deref(), token))
        .collect::<Result<Vec<_>>>()?;
    if args.json {
        for row in &rows {
            println!("{row}");
        }
        return Ok(());
    }
    if let Some(template) = &args.format {
        for row in &rows {
            println!("{}", fill(template, row));
        }
        return Ok(());
    }
    let shown = |row: &Value, key: &str| plain(&row[key]);
    let header = format!(
        "{:<10} {:<16} {:<12} {:<8} {:<12} {:<24} {:<15}{}",
        "PROVIDER",
        "ROUTE",
        "AUTH",
        "RESENDS",
        "DELAYS (S)",
        "USER-AGENT",
        "EXAMPLE",
        if args.url.is_some() { " URL" } else { "" }
    );
    println!("{}", header.trim_end());
    for row in &rows {
        let url = if args.url.is_some() {
            format!(" {}", shown(row, "url"))
        } else {
            String::new()
        };
        let line = format!(
            "{:<10} {:<16} {:<12} {:<8} {:<12} {:<24} {:<15}{url}",
            shown(row, "name"),
            shown(row, "route"),
            shown(row, "auth"),
            shown(row, "resends"),
            shown(row, "retry_delays"),
            shown(row, "user_agent"),
            shown(row, "example"),
        );
        println!("{}", line.trim_end());
    }
    Ok(())
}

/// `template` with each `{field}` of `row` filled in; other braces (the
/// `{hook}` of a route) are left as they are.
fn fill(template: &str, row: &Value) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if row.get(&after[..close]).is_some() => {
                out.push_str(&plain(&row[&after[..close]]));
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use livehook::providers::{Lal, Tencent};

    #[test]
    fn urls_under_a_local_base() {
        let base = "http://127.0.0.1:9000/lambda-url";
        assert_eq!(
            provider_url(base, &Lal, Some("a b")).unwrap(),
            "http://127.0.0.1:9000/lambda-url/lal/{hook}?token=a+b"
        );
        assert_eq!(
            provider_url(&format!("{base}/"), &Tencent, Some("t")).unwrap(),
            "http://127.0.0.1:9000/lambda-url/tencent/"
        );
    }

    #[test]
    fn templates_fill_known_fields_only() {
        let row = describe(&Lal, None, None).unwrap();
        assert_eq!(
            fill("{name} {route} {resends} {nope}", &row),
            "lal /lal/{hook} false {nope}"
        );
    }

    #[test]
    fn every_provider_is_described() {
        for provider in providers::ALL_IMITATE {
            let row = describe(provider, Some("http://h/x"), Some("t")).unwrap();
            assert_eq!(row["name"], provider.name());
            assert!(row["url"].as_str().unwrap().starts_with("http://h/x/"));
            // make dev's banner prints `livehook send <name> <example>`.
            let example = row["example"].as_str().unwrap();
            assert!(
                crate::samples::find(provider.name(), example).is_ok(),
                "{}: the example `{example}` is no sample `livehook send` knows",
                provider.name()
            );
        }
    }
}
