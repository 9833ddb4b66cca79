//! Idempotency keys: short, printable, stable across a provider's retries.
//!
//! A key is the first 128 bits of SHA-256 over the provider name and the
//! fields that identify one event (never the fields that change between
//! retries), in lowercase hex: 32 characters, valid as a DynamoDB key, a
//! CloudEvents id and an SNS FIFO deduplication id.

use sha2::{Digest, Sha256};

/// Length of every key, in characters.
pub const KEY_LEN: usize = 32;

/// Derives the key of one event from its identifying parts. Parts are
/// length-prefixed, so `("ab", "c")` and `("a", "bc")` differ.
pub fn derive(provider: &str, parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    hash_part(&mut hasher, provider.as_bytes());
    for part in parts {
        hash_part(&mut hasher, part);
    }
    to_hex(&hasher.finalize()[..KEY_LEN / 2])
}

/// A new key that no other call returns: for an invocation without a
/// request id (local tools and tests; Lambda always gives one). Unique
/// within the process by a counter, across processes by pid and clock.
pub fn fresh() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    derive(
        "fresh",
        &[
            &nanos.to_be_bytes(),
            &std::process::id().to_be_bytes(),
            &NEXT.fetch_add(1, Ordering::Relaxed).to_be_bytes(),
        ],
    )
}

fn hash_part(hasher: &mut Sha256, part: &[u8]) {
    hasher.update((part.len() as u64).to_be_bytes());
    hasher.update(part);
}

/// Lowercase hex of some bytes.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// The bytes of a hex string (either case); `None` when it is not hex.
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_short_printable_and_stable() {
        let k = derive("bililive", &[b"e3e1c9ec"]);
        assert_eq!(k.len(), KEY_LEN);
        assert!(
            k.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(k, derive("bililive", &[b"e3e1c9ec"]));
    }

    #[test]
    fn parts_are_unambiguous_and_providers_separate() {
        assert_ne!(derive("p", &[b"ab", b"c"]), derive("p", &[b"a", b"bc"]));
        assert_ne!(derive("lal", &[b"x"]), derive("apiserver", &[b"x"]));
        assert_ne!(derive("p", &[b""]), derive("p", &[]));
    }

    #[test]
    fn fresh_keys_differ() {
        let (a, b) = (fresh(), fresh());
        assert_ne!(a, b);
        assert_eq!(a.len(), KEY_LEN);
    }

    #[test]
    fn hex_is_lowercase() {
        assert_eq!(to_hex(&[0x00, 0xab, 0xff]), "00abff");
    }
}
