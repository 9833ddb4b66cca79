//! `livehook register`: the Api Server's webhook registration API
//! (`/v1/webhook`, see shared/reference/apiserver-webhook.vi.md).

use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use serde_json::{Value, json};

use crate::send::excerpt;

/// The events an Api Server webhook can subscribe to.
pub const EVENTS: [&str; 3] = ["channel_live", "channel_stop", "channel_ended"];

#[derive(Debug, Args)]
#[command(
    about = "Register livehook with an Api Server (create, list, update, delete webhooks)",
    long_about = "Register livehook with an Api Server: create, list, update and delete its \
        channel webhooks through the Api Server's /v1/webhook API.\n\n\
        Events are `all` or a comma-separated list of channel_live, channel_stop, \
        channel_ended. Requests and answers are JSON; an answer that is not 2xx is an \
        error showing the status and the start of the body.",
    after_help = "Examples:\n  \
        livehook register create --api http://api-server:8080 --uri 'https://…/apiserver?token=s3cret' --event all\n  \
        livehook register list --api http://api-server:8080 --all\n  \
        livehook register update 123456 --api http://api-server:8080 --uri https://… --event channel_live,channel_ended\n  \
        livehook register delete 123456 --api http://api-server:8080 --event channel_stop"
)]
pub struct RegisterArgs {
    #[command(subcommand)]
    command: RegisterCommand,
}

#[derive(Debug, Clone, Args)]
struct ApiArgs {
    /// The Api Server's base URL (`http://{API-SERVER}`).
    #[arg(long, value_name = "URL", env = "LIVEHOOK_API_URL")]
    api: String,
    /// Extra request header, `Name: value` (e.g. an Authorization header); repeatable.
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,
    /// Request timeout in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    timeout: u64,
}

#[derive(Debug, Subcommand)]
enum RegisterCommand {
    /// Create a webhook: POST /v1/webhook.
    #[command(
        after_help = "Example:\n  livehook register create --api http://api-server:8080 --uri 'https://abc.execute-api.eu-west-1.amazonaws.com/apiserver?token=s3cret' --event all"
    )]
    Create {
        #[command(flatten)]
        api: ApiArgs,
        /// The webhook URL the Api Server will POST to (livehook's /apiserver route, with ?token=).
        #[arg(long, value_name = "URL")]
        uri: String,
        /// `all`, or a comma-separated list of channel_live, channel_stop, channel_ended.
        #[arg(long, value_name = "EVENTS", default_value = "all")]
        event: String,
    },
    /// List webhooks: GET /v1/webhook?page=&length=&event=.
    #[command(
        after_help = "Example:\n  livehook register list --api http://api-server:8080 --event channel_live --all"
    )]
    List {
        #[command(flatten)]
        api: ApiArgs,
        /// Page number (from 0).
        #[arg(long, value_name = "N", default_value_t = 0)]
        page: u64,
        /// Webhooks per page, 1 to 100.
        #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
        length: u32,
        /// Only webhooks of these events (comma-separated).
        #[arg(long, value_name = "EVENTS")]
        event: Option<String>,
        /// Follow the pages (from --page) until all `total` webhooks are listed.
        #[arg(long)]
        all: bool,
        /// Print the JSON answer (with --all: every webhook, one JSON array).
        #[arg(long)]
        json: bool,
    },
    /// Update a webhook: PUT /v1/webhook/{id}.
    #[command(
        after_help = "Example:\n  livehook register update 123456 --api http://api-server:8080 --uri https://… --event channel_live"
    )]
    Update {
        #[command(flatten)]
        api: ApiArgs,
        /// The webhook id.
        id: String,
        /// The webhook URL.
        #[arg(long, value_name = "URL")]
        uri: String,
        /// `all`, or a comma-separated list of channel_live, channel_stop, channel_ended.
        #[arg(long, value_name = "EVENTS", default_value = "all")]
        event: String,
    },
    /// Delete a webhook's events: GET /v1/webhook/{id}?event=… (as the Api Server documents it).
    #[command(
        long_about = "Delete a webhook, or some of its events.\n\n\
            The Api Server documents deletion as GET /v1/webhook/{id}?event=… (not DELETE); \
            that is what is sent. --http-delete sends DELETE instead, for servers that \
            implement it.",
        after_help = "Example:\n  livehook register delete 123456 --api http://api-server:8080 --event all"
    )]
    Delete {
        #[command(flatten)]
        api: ApiArgs,
        /// The webhook id.
        id: String,
        /// Events to remove from the webhook (comma-separated, or `all`); without it no `event` parameter is sent.
        #[arg(long, value_name = "EVENTS")]
        event: Option<String>,
        /// Send an HTTP DELETE instead of the documented GET.
        #[arg(long)]
        http_delete: bool,
    },
}

/// Checks an event list: `all`, or known event names separated by commas.
/// Unknown names are allowed (a newer Api Server may have more) with a
/// warning.
pub fn check_events(list: &str) -> Result<String> {
    let names: Vec<&str> = list.split(',').map(str::trim).collect();
    if names.iter().any(|n| n.is_empty()) {
        bail!(
            "--event `{list}` has an empty name; use `all` or a comma-separated list of {}",
            EVENTS.join(", ")
        );
    }
    if names.len() > 1 && names.contains(&"all") {
        bail!("--event: `all` cannot be combined with other events");
    }
    for name in &names {
        if *name != "all" && !EVENTS.contains(name) {
            eprintln!(
                "warning: `{name}` is not a documented Api Server event ({}); sending it anyway",
                EVENTS.join(", ")
            );
        }
    }
    Ok(names.join(","))
}

fn check_uri(uri: &str) -> Result<()> {
    let url = Url::parse(uri).with_context(|| format!("--uri `{uri}` is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("--uri must be http:// or https://");
    }
    Ok(())
}

/// Refuses an id that would not stay one path segment under
/// `v1/webhook/`: `Url::join` resolves `..`, `%2e%2e` (any case) and `/` to
/// another path of the Api Server. Ids are RFC 3986 unreserved characters
/// (letters, digits, `-`, `.`, `_`, `~`), and never `.` or `..`.
pub fn check_id(id: &str) -> Result<()> {
    let unreserved = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~');
    let escaping = id.contains("..")
        || id.contains(['/', '\\'])
        || id.to_ascii_lowercase().contains("%2e")
        || id.to_ascii_lowercase().contains("%2f")
        || id.to_ascii_lowercase().contains("%5c");
    if escaping {
        bail!(
            "`{}` is not a webhook id: it contains `..`, `/` or an encoded dot or slash (%2e, %2f), which would send the request to another path of the Api Server",
            redact_tokens(id)
        );
    }
    if id.is_empty() || id == "." || !id.chars().all(unreserved) {
        bail!(
            "`{}` is not a webhook id: ids are letters, digits, `-`, `.`, `_` and `~`",
            redact_tokens(id)
        );
    }
    Ok(())
}

/// `text` with the value of every `token=` query parameter replaced by
/// `***` (as the functions' logs show queries: `inbound::redact_query`).
/// Webhook URIs carry livehook's token; the CLI never prints it.
pub fn redact_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = find_token_param(rest) {
        let value_start = at + "token=".len();
        out.push_str(&rest[..value_start]);
        let value_len = rest[value_start..]
            .find(|c: char| {
                matches!(c, '&' | '#' | '"' | '\'' | '\\' | '<' | '>') || c.is_whitespace()
            })
            .unwrap_or(rest.len() - value_start);
        if value_len > 0 {
            out.push_str("***");
        }
        rest = &rest[value_start + value_len..];
    }
    out.push_str(rest);
    out
}

/// Where the next `token=` parameter (case-insensitive, at the start of a
/// query parameter) begins in `text`.
fn find_token_param(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find("token=") {
        let at = from + found;
        let before = lower[..at].chars().next_back();
        if matches!(before, Some('?' | '&' | ';')) {
            return Some(at);
        }
        from = at + "token=".len();
    }
    None
}

/// A JSON answer as printed: every string redacted.
fn redacted(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(redact_tokens(s)),
        Value::Array(items) => Value::Array(items.iter().map(redacted).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), redacted(v))).collect())
        }
        other => other.clone(),
    }
}

/// Pretty JSON with tokens redacted.
fn pretty(value: &Value) -> Result<String> {
    Ok(serde_json::to_string_pretty(&redacted(value))?)
}

/// A client of one Api Server.
struct Api {
    base: Url,
    client: reqwest::Client,
    headers: HeaderMap,
}

impl Api {
    fn new(args: &ApiArgs) -> Result<Api> {
        let mut base =
            Url::parse(&args.api).with_context(|| format!("--api `{}` is not a URL", args.api))?;
        if !matches!(base.scheme(), "http" | "https") {
            bail!("--api must be http:// or https://");
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        for header in &args.headers {
            let (name, value) = header
                .split_once(':')
                .with_context(|| "a --header is not `Name: value`".to_owned())?;
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .with_context(|| format!("`{}` is not a header name", name.trim()))?;
            // The value may be a secret: never echo it.
            let mut value = HeaderValue::from_str(value.trim())
                .with_context(|| format!("the value of header {name} is not valid"))?;
            value.set_sensitive(true);
            headers.append(name, value);
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(args.timeout.max(1)))
            .user_agent(crate::send::CLI_USER_AGENT)
            .build()
            .context("building the HTTP client")?;
        Ok(Api {
            base,
            client,
            headers,
        })
    }

    fn url(&self, path: &str, query: &[(&str, String)]) -> Result<Url> {
        let mut url = self
            .base
            .join(path)
            .with_context(|| format!("building the URL of {path}"))?;
        // Defence in depth behind check_id: the joined path is exactly the
        // base's path + `path`, nothing resolved away.
        if url.path() != format!("{}{path}", self.base.path()) {
            bail!("`{path}` does not stay under the Api Server's base path");
        }
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    async fn call(&self, method: Method, url: Url, body: Option<Value>) -> Result<Value> {
        let shown = format!("{method} {}", url.path());
        let mut request = self
            .client
            .request(method, url)
            .headers(self.headers.clone());
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let response = request
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(crate::describe_reqwest(&e)))
            .with_context(|| format!("{shown} failed"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .with_context(|| format!("reading the answer to {shown}"))?;
        if !status.is_success() {
            bail!(
                "the Api Server answered {status} to {shown}: {}",
                if text.trim().is_empty() {
                    "(empty body)".to_owned()
                } else {
                    redact_tokens(&excerpt(&text, 300))
                }
            );
        }
        if text.trim().is_empty() {
            return Ok(json!({}));
        }
        serde_json::from_str(&text).with_context(|| {
            format!(
                "the Api Server's answer to {shown} is not JSON: {}",
                redact_tokens(&excerpt(&text, 200))
            )
        })
    }
}

/// Runs `livehook register …`.
pub async fn run(args: RegisterArgs) -> Result<()> {
    match args.command {
        RegisterCommand::Create { api, uri, event } => {
            check_uri(&uri)?;
            let event = check_events(&event)?;
            let api = Api::new(&api)?;
            let url = api.url("v1/webhook", &[])?;
            let created = api
                .call(
                    Method::POST,
                    url,
                    Some(json!({ "uri": uri, "event": event })),
                )
                .await?;
            println!("{}", pretty(&created)?);
        }
        RegisterCommand::List {
            api,
            page,
            length,
            event,
            all,
            json,
        } => {
            let event = event.as_deref().map(check_events).transpose()?;
            let api = Api::new(&api)?;
            list(&api, page, length, event, all, json).await?;
        }
        RegisterCommand::Update {
            api,
            id,
            uri,
            event,
        } => {
            check_id(&id)?;
            check_uri(&uri)?;
            let event = check_events(&event)?;
            let api = Api::new(&api)?;
            let url = api.url(&format!("v1/webhook/{id}"), &[])?;
            let updated = api
                .call(
                    Method::PUT,
                    url,
                    Some(json!({ "uri": uri, "event": event })),
                )
                .await?;
            println!("{}", pretty(&updated)?);
        }
        RegisterCommand::Delete {
            api,
            id,
            event,
            http_delete,
        } => {
            check_id(&id)?;
            let query: Vec<(&str, String)> = match event {
                Some(e) => vec![("event", check_events(&e)?)],
                None => Vec::new(),
            };
            let api = Api::new(&api)?;
            let url = api.url(&format!("v1/webhook/{id}"), &query)?;
            let method = if http_delete {
                Method::DELETE
            } else {
                Method::GET
            };
            let answer = api.call(method, url, None).await?;
            if answer.as_object().is_some_and(|o| !o.is_empty()) {
                println!("{}", pretty(&answer)?);
            }
            println!("deleted webhook {id}");
        }
    }
    Ok(())
}

/// The page cap of --all: a server whose `total` never comes within reach
/// must not be followed forever.
const MAX_PAGES: u64 = 10_000;

async fn list(
    api: &Api,
    page: u64,
    length: u32,
    event: Option<String>,
    all: bool,
    json: bool,
) -> Result<()> {
    let mut webhooks: Vec<Value> = Vec::new();
    let mut page_no = page;
    let mut total = None;
    loop {
        let mut query = vec![
            ("page", page_no.to_string()),
            ("length", length.to_string()),
        ];
        if let Some(e) = &event {
            query.push(("event", e.clone()));
        }
        let answer = api
            .call(Method::GET, api.url("v1/webhook", &query)?, None)
            .await?;
        if json && !all {
            println!("{}", pretty(&answer)?);
            return Ok(());
        }
        let data = answer
            .get("data")
            .and_then(Value::as_array)
            .with_context(|| {
                format!(
                    "the Api Server's list has no `data` array: {}",
                    redact_tokens(&excerpt(&answer.to_string(), 200))
                )
            })?;
        let count = data.len();
        webhooks.extend(data.iter().cloned());
        total = answer.get("total").and_then(Value::as_u64).or(total);
        if !all {
            break;
        }
        // Everything before --page, plus what was listed since.
        let listed = (page * u64::from(length)).saturating_add(webhooks.len() as u64);
        let done = total.is_none_or(|total| listed >= total);
        if done || count == 0 || page_no - page >= MAX_PAGES {
            break;
        }
        page_no += 1;
    }
    if json {
        println!("{}", pretty(&Value::Array(webhooks))?);
        return Ok(());
    }
    if webhooks.is_empty() {
        eprintln!("no webhooks");
    } else {
        println!("{:<12}  {:<40}  URI", "ID", "EVENTS");
        for w in &webhooks {
            let id = match w.get("id") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => "-".to_owned(),
            };
            let events = match w.get("event") {
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(","),
                Some(Value::String(s)) => s.clone(),
                _ => "-".to_owned(),
            };
            let uri = w.get("uri").and_then(Value::as_str).unwrap_or("-");
            println!(
                "{:<12}  {events:<40}  {}",
                redact_tokens(&id),
                redact_tokens(uri)
            );
        }
    }
    match total {
        Some(total) => eprintln!("{} of {total} webhooks", webhooks.len()),
        None => eprintln!("{} webhooks", webhooks.len()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_lists() {
        assert_eq!(check_events("all").unwrap(), "all");
        assert_eq!(
            check_events("channel_live, channel_ended").unwrap(),
            "channel_live,channel_ended"
        );
        assert!(check_events("").is_err());
        assert!(check_events("channel_live,,x").is_err());
        assert!(check_events("all,channel_live").is_err());
    }

    #[test]
    fn tokens_are_redacted_wherever_they_are() {
        assert_eq!(
            redact_tokens("https://a/apiserver?token=s3cret"),
            "https://a/apiserver?token=***"
        );
        assert_eq!(
            redact_tokens(r#"{"uri":"https://a/x?a=1&TOKEN=s%2F3&b=2#f"}"#),
            r#"{"uri":"https://a/x?a=1&TOKEN=***&b=2#f"}"#
        );
        assert_eq!(redact_tokens("mytoken=1 ?token= x"), "mytoken=1 ?token= x");
        assert_eq!(redact_tokens("no secrets"), "no secrets");
    }

    #[test]
    fn ids_cannot_escape_the_path() {
        assert!(check_id("123456").is_ok());
        assert!(check_id("../x").is_err());
        assert!(check_id("1?event=all").is_err());
        assert!(check_id("").is_err());
        for bad in [
            "..", ".", "%2e%2e", "%2E%2e", "a%2F..", "a/b", "..%2f", "a\\b", "x y",
        ] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
        assert!(check_id("5f2b9c1e8a4d").is_ok());
        assert!(check_id("v1.2_a-b~c").is_ok());
    }
}
