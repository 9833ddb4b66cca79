//! The sample payloads compiled into the binary. How a provider sends one
//! (route, credential, timestamps, signature, retries) is the provider's own
//! business: [`livehook::providers`].

use anyhow::{Result, bail};
use livehook::providers::{self, Imitate};

mod table {
    include!(concat!(env!("OUT_DIR"), "/samples.rs"));
}

/// One compiled-in sample.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Provider name.
    pub provider: &'static str,
    /// Event name (file stem).
    pub event: &'static str,
    /// The payload as stored.
    pub body: &'static [u8],
}

/// Every compiled-in sample.
pub fn all() -> impl Iterator<Item = Sample> {
    table::SAMPLES
        .iter()
        .map(|&(provider, event, body)| Sample {
            provider,
            event,
            body,
        })
}

/// The event names of `provider`'s samples.
pub fn events_of(provider: &str) -> Vec<&'static str> {
    all()
        .filter(|s| s.provider == provider)
        .map(|s| s.event)
        .collect()
}

/// The sample `provider`/`event`, or an error listing the valid names.
pub fn find(provider: &str, event: &str) -> Result<Sample> {
    if let Some(sample) = all().find(|s| s.provider == provider && s.event == event) {
        return Ok(sample);
    }
    let events = events_of(provider);
    if events.is_empty() {
        bail!(
            "no samples of {provider} were compiled into this binary (events/{provider}/ was empty at build time); use --file PATH"
        );
    }
    bail!(
        "no sample `{event}` for {provider}; valid events: {} (or send your own payload with --file PATH)",
        events.join(", ")
    )
}

/// The registered provider `name`, or an error listing the valid names.
pub fn provider(name: &str) -> Result<&'static dyn Imitate> {
    match providers::imitate::by_name(name) {
        Some(p) => Ok(p),
        None => bail!(
            "unknown provider `{name}`; valid providers: {}",
            names().join(", ")
        ),
    }
}

/// The registered providers' names, in registry order.
pub fn names() -> Vec<&'static str> {
    providers::ALL_IMITATE.iter().map(|p| p.name()).collect()
}

/// The text of `livehook send --list`.
pub fn listing() -> String {
    let mut out = String::new();
    for provider in names() {
        let events = events_of(provider);
        let shown = if events.is_empty() {
            "(none compiled in)".to_owned()
        } else {
            events.join(" ")
        };
        out.push_str(&format!("{provider:<10} {shown}\n"));
    }
    out
}
