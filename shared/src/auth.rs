//! Authentication: the shared `?token=` of the token providers and Tencent's
//! `sign = md5(key + t)`. Every comparison is constant-time; secrets are kept
//! in [`Secret`], whose `Debug` never shows them.

use md5::{Digest, Md5};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::error::{AuthFailure, Rejection};

/// A secret value. `Debug` prints `Secret(***)`, so it cannot leak through
/// logging of a config struct.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself: only for computing signatures.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The accepted `?token=` values. Several are accepted at once so a token can
/// be rotated without downtime (add the new one, move the senders, drop the
/// old one).
#[derive(Clone, Debug, Default)]
pub struct TokenSet {
    // SHA-256 of each token: comparing fixed-length digests hides the
    // configured tokens' lengths as well as their contents.
    digests: Vec<[u8; 32]>,
}

impl TokenSet {
    /// Parses a comma-separated list; blanks around and between are ignored.
    pub fn parse(list: &str) -> Self {
        TokenSet {
            digests: list
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| Sha256::digest(t.as_bytes()).into())
                .collect(),
        }
    }

    /// True when no token is configured.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// How many tokens are accepted.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Constant-time membership: every configured token is compared, whatever
    /// matched first.
    pub fn contains(&self, candidate: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
        self.digests
            .iter()
            .fold(subtle::Choice::from(0), |found, d| found | d.ct_eq(&digest))
            .into()
    }
}

/// The shortest token accepted (`LIVEHOOK_TOKEN`, the template's `Token`).
pub const MIN_TOKEN_LEN: usize = 16;

/// Whether a token can be pasted into a URL as it is: at least
/// [`MIN_TOKEN_LEN`] characters of `A-Z a-z 0-9 . _ ~ -` (RFC 3986's
/// unreserved set). Anything else is changed on the way: the query is
/// form-decoded, so a pasted `+` arrives as a space and `%xx` as a byte,
/// and every delivery of a sender that pastes the URL would get 401.
pub fn token_is_url_safe(token: &str) -> bool {
    token.len() >= MIN_TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
}

/// What a refused token must be, and how to make one (for start-up errors).
pub const TOKEN_RULE: &str = "each comma-separated token must be at least 16 characters of A-Z a-z 0-9 . _ ~ - (URL-safe, so that a sender pasting the URL sends it unchanged); make one with `livehook token`";

/// The credentials one function checks deliveries against.
#[derive(Clone, Debug, Default)]
pub struct Verifier {
    /// Accepted `?token=` values.
    pub tokens: TokenSet,
    /// Tencent callback key.
    pub tencent_key: Option<Secret>,
    /// A signed platform's secrets (`LIVEHOOK_<PROVIDER>_SECRET`).
    pub signing: crate::proof::SigningSecrets,
    /// `LIVEHOOK_SIGNATURE_TOLERANCE_SECONDS`: overrides the platform's own
    /// timestamp tolerance.
    pub tolerance: Option<std::time::Duration>,
    /// Skip checks whose secret is not configured (local experiments only).
    pub allow_unauthenticated: bool,
}

impl Verifier {
    /// Checks the `token` query parameters of a token provider. Exactly one
    /// `token` must be present and match a configured token.
    pub fn check_token<T: AsRef<str>>(
        &self,
        tokens: impl IntoIterator<Item = T>,
    ) -> Result<(), Rejection> {
        if self.tokens.is_empty() && self.allow_unauthenticated {
            return Ok(());
        }
        let mut tokens = tokens.into_iter();
        let fail = |why| Err(Rejection::Unauthenticated(why));
        match (tokens.next(), tokens.next()) {
            (None, _) => fail(AuthFailure::MissingToken),
            (Some(_), Some(_)) => fail(AuthFailure::AmbiguousToken),
            (Some(token), None) if self.tokens.contains(token.as_ref()) => Ok(()),
            (Some(_), None) => fail(AuthFailure::WrongToken),
        }
    }

    /// Checks a signed platform's proof over the body as received (see
    /// [`crate::proof`]), before anything parses it.
    pub fn check_proof(
        &self,
        proof: &crate::proof::Proof,
        inbound: &crate::inbound::Inbound<'_>,
    ) -> Result<(), Rejection> {
        if self.signing.is_empty() && self.allow_unauthenticated {
            return Ok(());
        }
        let tolerance = self.tolerance.unwrap_or(proof.tolerance);
        crate::proof::verify(proof, &self.signing, tolerance, inbound)
    }

    /// Checks a Tencent signature: `sign` must be the hex MD5 of `key + t`
    /// (case-insensitive), and `t`, the notification's expiry time, must not
    /// have passed.
    pub fn check_tencent(
        &self,
        t: &str,
        t_seconds: i64,
        sign: &str,
        now: OffsetDateTime,
    ) -> Result<(), Rejection> {
        let Some(key) = &self.tencent_key else {
            return if self.allow_unauthenticated {
                Ok(())
            } else {
                Err(Rejection::Unauthenticated(AuthFailure::BadSignature))
            };
        };
        let expected = tencent_sign(key, t);
        let provided = sign.trim().to_ascii_lowercase();
        if !bool::from(expected.as_bytes().ct_eq(provided.as_bytes())) {
            return Err(Rejection::Unauthenticated(AuthFailure::BadSignature));
        }
        // Checked after the signature so that an unsigned `t` reveals nothing.
        if t_seconds < now.unix_timestamp() {
            return Err(Rejection::Unauthenticated(AuthFailure::Expired));
        }
        Ok(())
    }
}

/// `md5(key + t)` in lowercase hex: what Tencent puts in `sign`.
pub fn tencent_sign(key: &Secret, t: &str) -> String {
    let mut md5 = Md5::new();
    md5.update(key.expose().as_bytes());
    md5.update(t.as_bytes());
    crate::key::to_hex(&md5.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier(tokens: &str) -> Verifier {
        Verifier {
            tokens: TokenSet::parse(tokens),
            tencent_key: Some(Secret::new("key")),
            allow_unauthenticated: false,
            ..Verifier::default()
        }
    }

    #[test]
    fn rotated_tokens_are_both_accepted() {
        let v = verifier(" old , new ,");
        assert_eq!(v.tokens.len(), 2);
        assert!(v.check_token(["old"]).is_ok());
        assert!(v.check_token(["new"]).is_ok());
        assert_eq!(
            v.check_token(["older"]),
            Err(Rejection::Unauthenticated(AuthFailure::WrongToken))
        );
        assert_eq!(
            v.check_token([""]),
            Err(Rejection::Unauthenticated(AuthFailure::WrongToken))
        );
    }

    #[test]
    fn missing_and_repeated_tokens_are_refused() {
        let v = verifier("t");
        assert_eq!(
            v.check_token::<&str>([]),
            Err(Rejection::Unauthenticated(AuthFailure::MissingToken))
        );
        assert_eq!(
            v.check_token(["t", "t"]),
            Err(Rejection::Unauthenticated(AuthFailure::AmbiguousToken))
        );
    }

    #[test]
    fn no_token_configured_is_closed_unless_allowed() {
        let closed = Verifier::default();
        assert!(closed.check_token(["anything"]).is_err());
        assert!(closed.check_token::<&str>([]).is_err());
        let open = Verifier {
            allow_unauthenticated: true,
            ..Verifier::default()
        };
        assert!(open.check_token::<&str>([]).is_ok());
    }

    #[test]
    fn tencent_sign_is_md5_of_key_and_t() {
        // md5("key1471256100")
        let key = Secret::new("key");
        let sign = tencent_sign(&key, "1471256100");
        assert_eq!(sign.len(), 32);
        let now = OffsetDateTime::from_unix_timestamp(1471256000).unwrap();
        let v = verifier("t");
        assert!(
            v.check_tencent("1471256100", 1471256100, &sign, now)
                .is_ok()
        );
        assert!(
            v.check_tencent("1471256100", 1471256100, &sign.to_uppercase(), now)
                .is_ok()
        );
        assert_eq!(
            v.check_tencent("1471256101", 1471256101, &sign, now),
            Err(Rejection::Unauthenticated(AuthFailure::BadSignature))
        );
        let later = OffsetDateTime::from_unix_timestamp(1471256101).unwrap();
        assert_eq!(
            v.check_tencent("1471256100", 1471256100, &sign, later),
            Err(Rejection::Unauthenticated(AuthFailure::Expired))
        );
    }

    #[test]
    fn known_md5_vector() {
        // RFC 1321 test suite: md5("abc").
        assert_eq!(
            tencent_sign(&Secret::new("ab"), "c"),
            "900150983cd24fb0d6963f7d28e17f72"
        );
    }

    #[test]
    fn url_safe_tokens_only() {
        for good in [
            "abcdefghijklmnop",
            "A1.b2_c3~d4-e5f6g7",
            "0123456789abcdef0123456789abcdef",
        ] {
            assert!(token_is_url_safe(good), "{good}");
        }
        for bad in [
            "short-token",
            "abcdefghijklmno+",
            "abcdefghijklmno/",
            "abcdefghijklmno=",
            "abcdefgh ijklmnop",
            "abcdefghijklmnoé",
            "abcdefghijklmn%2B",
        ] {
            assert!(!token_is_url_safe(bad), "{bad}");
        }
    }

    #[test]
    fn secrets_do_not_debug_print() {
        let v = verifier("supersecret");
        let shown = format!("{:?} {:?}", v, Secret::new("hunter2"));
        assert!(!shown.contains("hunter2") && !shown.contains("supersecret"));
        assert!(!shown.contains("\"key\""));
    }
}
