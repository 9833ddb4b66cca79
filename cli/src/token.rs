//! `livehook token`: a fresh `?token=` from the operating system's random
//! source, in the URL-safe alphabet every function requires.

use anyhow::Context;

/// How many characters a fresh token has: 32 of a 64-character alphabet,
/// 192 bits.
const LENGTH: usize = 32;

/// RFC 3986 unreserved characters, 64 of them so that one random byte's low
/// six bits pick one without bias.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

#[derive(Debug, clap::Args)]
#[command(
    about = "Print a fresh token for LIVEHOOK_TOKEN / the template's Token",
    long_about = "Print a fresh token: 32 URL-safe characters (A-Z a-z 0-9 - _) from the operating \
        system's random source. Tokens must be URL-safe so that a sender pasting the URL sends \
        them unchanged; several, comma-separated, allow a rotation.",
    after_help = "Examples:\n  \
        livehook token\n  \
        make deploy TOKEN=$(livehook token) TENCENT_KEY=$(openssl rand -hex 32)"
)]
pub struct TokenArgs {}

pub fn run(_args: TokenArgs) -> anyhow::Result<()> {
    println!("{}", fresh()?);
    Ok(())
}

/// A fresh token.
fn fresh() -> anyhow::Result<String> {
    let mut bytes = [0u8; LENGTH];
    getrandom::fill(&mut bytes).context("reading the operating system's random source")?;
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b & 63)]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_tokens_are_url_safe_long_and_different() {
        let (a, b) = (fresh().unwrap(), fresh().unwrap());
        assert_eq!(a.len(), LENGTH);
        assert!(livehook::auth::token_is_url_safe(&a), "{a}");
        assert_ne!(a, b);
    }
}
