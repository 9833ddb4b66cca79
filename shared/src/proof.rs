//! Proofs that a delivery comes from the platform that signs it. Each
//! signed provider declares its [`Proof`] as data (which header, which
//! message, which digest, which timestamp); the work is done here, once,
//! over the body bytes as received (never a re-serialization), before the
//! body is parsed. Every configured secret is tried (rotation), every
//! comparison is constant-time, and a timestamp is only trusted once the
//! signature over it is.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::auth::Secret;
use crate::error::{AuthFailure, Rejection};
use crate::inbound::Inbound;

/// How one platform proves its deliveries genuine.
#[derive(Debug, PartialEq, Eq)]
pub struct Proof {
    /// The variable that holds the secret(s), comma-separated for rotation
    /// (`LIVEHOOK_MUX_SECRET`).
    pub secret_variable: &'static str,
    /// What the secret is and where the platform gives it (the template
    /// parameter's description).
    pub secret_about: &'static str,
    /// The schemes the platform signs with, in order of preference: the
    /// first whose header is present decides (Agora's SHA-256 signature
    /// before its SHA-1 one).
    pub schemes: &'static [Scheme],
    /// How far a signed timestamp may be from the receive time, either way
    /// (for a JWT: the leeway past its `exp`). `LIVEHOOK_SIGNATURE_TOLERANCE_SECONDS`
    /// overrides it.
    pub tolerance: Duration,
}

/// One way a delivery can be proven.
#[derive(Debug, PartialEq, Eq)]
pub enum Scheme {
    /// A digest of a message built from the delivery, in a header.
    Signature(Signature),
    /// The header holds one of the secrets itself (Cloudflare's live-input
    /// notifications: `cf-webhook-auth`).
    SecretHeader(&'static str),
    /// LiveKit's: `Authorization` (or `Authorize`) holds an HS256 JWT whose
    /// `iss` is an API key, signed with that key's secret, not expired,
    /// whose `sha256` claim is base64(SHA-256(body)). The secrets are
    /// `KEY:SECRET` pairs.
    BodyHashJwt,
    /// Tencent's scheme, which Volcengine's live callbacks use too: the
    /// body's `sign` is hex md5(secret + `t`), `t` (a number or a numeric
    /// string, signed as sent) the time the notification expires, refused
    /// once passed by more than the tolerance. Both fields are at the top of
    /// the body or in its top-level `data` object (the wrapped form of
    /// Volcengine's examples). It always decides: a body that is not a JSON
    /// object is a 400, one without a non-empty `sign` a 401. Tools sign
    /// the body itself ([`sign_expiry`]), not headers.
    BodyExpirySign,
}

/// A signature header and how it is computed.
#[derive(Debug, PartialEq, Eq)]
pub struct Signature {
    /// The header holding the signature (lowercase).
    pub header: &'static str,
    /// How the header's value is written.
    pub layout: Layout,
    /// The digest.
    pub algorithm: Algorithm,
    /// How the digest is written.
    pub encoding: Encoding,
    /// The signed message: these parts, concatenated.
    pub message: &'static [Part],
    /// The signed timestamp checked against the tolerance, if any.
    pub timestamp: Option<Timestamp>,
}

impl Signature {
    /// `<header>: <timestamp>=<unix s>,<signature>=<hex HMAC-SHA256(secret,
    /// timestamp + "." + body)>`, the layout Stripe's webhooks made common
    /// (Mux's `t`/`v1`, Cloudflare Stream's `time`/`sig1`).
    pub const fn timestamped_pairs(
        header: &'static str,
        timestamp: &'static str,
        signature: &'static str,
    ) -> Signature {
        Signature {
            header,
            layout: Layout::Pairs {
                timestamp,
                signature,
            },
            algorithm: Algorithm::HmacSha256,
            encoding: Encoding::Hex,
            message: TIMESTAMP_DOT_BODY,
            timestamp: Some(Timestamp {
                source: TimestampSource::Pair,
                format: TimeFormat::UnixSeconds,
            }),
        }
    }
}

/// The message of [`Signature::timestamped_pairs`].
const TIMESTAMP_DOT_BODY: &[Part] = &[Part::Timestamp, Part::Text("."), Part::Body];

/// How a signature header's value is written.
#[derive(Debug, PartialEq, Eq)]
pub enum Layout {
    /// The value is the signature, after `prefix` (`sha256=`, or empty).
    Whole {
        /// What precedes the signature.
        prefix: &'static str,
    },
    /// Comma-separated `name=value` pairs (`t=…,v1=…`, `time=…,sig1=…`):
    /// the timestamp's name and the signature's, which may repeat (a
    /// platform rolling its secret sends one per secret).
    Pairs {
        /// The timestamp pair's name.
        timestamp: &'static str,
        /// The signature pairs' name.
        signature: &'static str,
    },
}

/// The digest of the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// HMAC-SHA256 keyed with the secret.
    HmacSha256,
    /// HMAC-SHA1 keyed with the secret.
    HmacSha1,
    /// Plain MD5 of the message, which holds the secret as a [`Part::Secret`].
    Md5,
}

/// How a digest is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Hexadecimal, either case.
    Hex,
    /// Standard base64 with padding.
    Base64,
}

/// One part of a signed message.
#[derive(Debug, PartialEq, Eq)]
pub enum Part {
    /// The body bytes as received.
    Body,
    /// The timestamp's text as sent.
    Timestamp,
    /// A header's value (empty when absent; the signature then fails).
    Header(&'static str),
    /// Fixed text (`.`, `|`).
    Text(&'static str),
    /// The secret itself (digests that are not keyed).
    Secret,
    /// The host the platform called (the `Host` header).
    Host,
    /// A query parameter's value when the request has it, else the host
    /// (Alibaba signs its ingest domain, the `app` of a stream callback's
    /// query, and the callback URL's host for the others).
    QueryElseHost(&'static str),
}

/// Where a signed timestamp is and how it is written.
#[derive(Debug, PartialEq, Eq)]
pub struct Timestamp {
    /// Where it is.
    pub source: TimestampSource,
    /// How it is written.
    pub format: TimeFormat,
}

/// Where a signed timestamp is.
#[derive(Debug, PartialEq, Eq)]
pub enum TimestampSource {
    /// In the signature header's pairs ([`Layout::Pairs`]).
    Pair,
    /// In a header of its own.
    Header(&'static str),
}

/// How a timestamp is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeFormat {
    /// Unix seconds.
    UnixSeconds,
    /// RFC 3339 (Twitch, with nanoseconds).
    Rfc3339,
}

/// The signing secrets of one function's platform, from its comma list.
#[derive(Clone, Debug, Default)]
pub struct SigningSecrets {
    secrets: Vec<Secret>,
}

impl SigningSecrets {
    /// Parses a comma-separated list; blanks around and between are ignored.
    pub fn parse(list: &str) -> Self {
        SigningSecrets {
            secrets: list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(Secret::new)
                .collect(),
        }
    }

    /// True when no secret is configured.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// The secrets, in the order given.
    pub fn iter(&self) -> impl Iterator<Item = &Secret> {
        self.secrets.iter()
    }
}

/// Why a secret list cannot be used with a proof (a start-up error).
pub fn secrets_problem(proof: &Proof, secrets: &SigningSecrets) -> Option<&'static str> {
    let jwt = proof.schemes.contains(&Scheme::BodyHashJwt);
    let unpaired = secrets.iter().any(|s| {
        s.expose()
            .split_once(':')
            .is_none_or(|(k, v)| k.trim().is_empty() || v.trim().is_empty())
    });
    (jwt && unpaired).then_some("each comma-separated entry must be APIKEY:SECRET")
}

/// Checks that `inbound` carries `proof`, made with one of `secrets`, at a
/// time within `tolerance` of its receive time.
pub fn verify(
    proof: &Proof,
    secrets: &SigningSecrets,
    tolerance: Duration,
    inbound: &Inbound<'_>,
) -> Result<(), Rejection> {
    let fail = |why| Err(Rejection::Unauthenticated(why));
    for scheme in proof.schemes {
        if *scheme == Scheme::BodyExpirySign {
            return check_expiry_sign(secrets, tolerance, inbound);
        }
        let value = match scheme {
            Scheme::Signature(s) => header(inbound, s.header),
            Scheme::SecretHeader(name) => header(inbound, name),
            Scheme::BodyHashJwt => {
                header(inbound, "authorization").or_else(|| header(inbound, "authorize"))
            }
            Scheme::BodyExpirySign => None,
        };
        let Some(value) = value else { continue };
        return match scheme {
            Scheme::Signature(s) => check_signature(s, value, secrets, tolerance, inbound),
            Scheme::SecretHeader(_) => {
                let found = secrets.iter().fold(subtle::Choice::from(0), |found, s| {
                    found | digest_eq(s.expose().as_bytes(), value.as_bytes())
                });
                if bool::from(found) {
                    Ok(())
                } else {
                    fail(AuthFailure::BadSignature)
                }
            }
            Scheme::BodyHashJwt => check_jwt(value, secrets, tolerance, inbound),
            Scheme::BodyExpirySign => fail(AuthFailure::MissingSignature),
        };
    }
    fail(AuthFailure::MissingSignature)
}

/// A header's value as text; a value that is not text is as good as absent.
fn header<'a>(inbound: &Inbound<'a>, name: &str) -> Option<&'a str> {
    inbound.headers.get(name).and_then(|v| v.to_str().ok())
}

/// Compares two secrets of any length in constant time (of their digests,
/// so neither length shows).
fn digest_eq(a: &[u8], b: &[u8]) -> subtle::Choice {
    Sha256::digest(a)
        .as_slice()
        .ct_eq(Sha256::digest(b).as_slice())
}

/// The parts of a signature header: the timestamp (when it is in the
/// header) and every signature it carries, decoded.
fn parse_signature_header<'a>(s: &Signature, value: &'a str) -> (Option<&'a str>, Vec<Vec<u8>>) {
    let decode = |text: &str| decode(s.encoding, text.trim());
    match s.layout {
        Layout::Whole { prefix } => {
            let sig = value.trim().strip_prefix(prefix).and_then(decode);
            (None, sig.into_iter().collect())
        }
        Layout::Pairs {
            timestamp,
            signature,
        } => {
            let mut time = None;
            let mut sigs = Vec::new();
            for (name, text) in value.split(',').filter_map(|p| p.split_once('=')) {
                match name.trim() {
                    n if n == timestamp => time = Some(text.trim()),
                    n if n == signature => sigs.extend(decode(text)),
                    _ => {}
                }
            }
            (time, sigs)
        }
    }
}

fn decode(encoding: Encoding, text: &str) -> Option<Vec<u8>> {
    match encoding {
        Encoding::Hex => crate::key::from_hex(text),
        Encoding::Base64 => BASE64.decode(text).ok(),
    }
}

fn check_signature(
    s: &Signature,
    value: &str,
    secrets: &SigningSecrets,
    tolerance: Duration,
    inbound: &Inbound<'_>,
) -> Result<(), Rejection> {
    let (pair_time, provided) = parse_signature_header(s, value);
    let time = match &s.timestamp {
        None => None,
        Some(Timestamp {
            source: TimestampSource::Pair,
            ..
        }) => pair_time,
        Some(Timestamp {
            source: TimestampSource::Header(name),
            ..
        }) => header(inbound, name),
    };
    if s.timestamp.is_some() && time.is_none() {
        return Err(Rejection::Unauthenticated(AuthFailure::MissingSignature));
    }
    let host = header(inbound, "host").unwrap_or("");
    let mut matched = subtle::Choice::from(0);
    for secret in secrets.iter() {
        let expected = digest(s, secret, time.unwrap_or(""), host, inbound);
        for candidate in &provided {
            matched |= expected.as_slice().ct_eq(candidate);
        }
    }
    if !bool::from(matched) {
        return Err(Rejection::Unauthenticated(AuthFailure::BadSignature));
    }
    // Checked after the signature, so an unsigned timestamp reveals nothing.
    if let (Some(format), Some(text)) = (s.timestamp.as_ref().map(|t| t.format), time) {
        within(parse_time(format, text), tolerance, inbound.received_at)?;
    }
    Ok(())
}

/// A query parameter's raw value (Alibaba's domains need no decoding; a
/// value that does is compared as sent).
fn query_value<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// The digest of the message `s` describes, with `secret`.
fn digest(
    s: &Signature,
    secret: &Secret,
    time: &str,
    host: &str,
    inbound: &Inbound<'_>,
) -> Vec<u8> {
    let parts = s.message.iter().map(|part| match part {
        Part::Body => inbound.body,
        Part::Timestamp => time.as_bytes(),
        Part::Header(name) => header(inbound, name).unwrap_or("").as_bytes(),
        Part::Text(text) => text.as_bytes(),
        Part::Secret => secret.expose().as_bytes(),
        Part::Host => host.as_bytes(),
        Part::QueryElseHost(name) => query_value(inbound.query, name).unwrap_or(host).as_bytes(),
    });
    compute(s.algorithm, secret, parts)
}

/// `algorithm` over the concatenation of `parts`.
fn compute<'a>(
    algorithm: Algorithm,
    secret: &Secret,
    parts: impl Iterator<Item = &'a [u8]>,
) -> Vec<u8> {
    let key = secret.expose().as_bytes();
    match algorithm {
        Algorithm::HmacSha256 => {
            // HMAC takes keys of any length: this cannot fail.
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
                .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
            parts.for_each(|p| mac.update(p));
            mac.finalize().into_bytes().to_vec()
        }
        Algorithm::HmacSha1 => {
            let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(key)
                .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
            parts.for_each(|p| mac.update(p));
            mac.finalize().into_bytes().to_vec()
        }
        Algorithm::Md5 => {
            let mut md5 = Md5::new();
            parts.for_each(|p| md5.update(p));
            md5.finalize().to_vec()
        }
    }
}

fn parse_time(format: TimeFormat, text: &str) -> Option<OffsetDateTime> {
    match format {
        TimeFormat::UnixSeconds => text
            .parse::<i64>()
            .ok()
            .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok()),
        TimeFormat::Rfc3339 => OffsetDateTime::parse(text, &Rfc3339).ok(),
    }
}

/// A signed time must be within `tolerance` of the receive time, either way.
fn within(
    at: Option<OffsetDateTime>,
    tolerance: Duration,
    now: OffsetDateTime,
) -> Result<(), Rejection> {
    match at {
        Some(at) if (now - at).unsigned_abs() <= tolerance => Ok(()),
        _ => Err(Rejection::Unauthenticated(AuthFailure::Expired)),
    }
}

/// The members [`Scheme::BodyExpirySign`] reads; every other member is
/// skipped unparsed, so an unsigned body never gets a tree built from it.
#[derive(serde::Deserialize)]
struct ExpirySigned<'a> {
    #[serde(borrow, default)]
    t: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow, default)]
    sign: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    data: Option<&'a serde_json::value::RawValue>,
}

/// `t` as signed (a number's or a string's text) and `sign`, from the top
/// of `body` or its `data` object; `None` without a non-empty `sign`.
fn expiry_fields(body: &[u8]) -> Result<Option<(String, String)>, Rejection> {
    let top: ExpirySigned<'_> = serde_json::from_slice(body)
        .map_err(|_| Rejection::malformed("body must be a JSON object with `t` and `sign`"))?;
    let fields = |f: ExpirySigned<'_>| {
        let sign = f.sign.filter(|s| !s.trim().is_empty())?;
        let t = match serde_json::from_str::<serde_json::Value>(f.t?.get()).ok()? {
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::String(s) => s,
            _ => return None,
        };
        Some((t, sign.into_owned()))
    };
    let data = top.data;
    Ok(fields(top).or_else(|| {
        data.and_then(|d| serde_json::from_str::<ExpirySigned<'_>>(d.get()).ok())
            .and_then(fields)
    }))
}

fn check_expiry_sign(
    secrets: &SigningSecrets,
    tolerance: Duration,
    inbound: &Inbound<'_>,
) -> Result<(), Rejection> {
    let Some((t, sign)) = expiry_fields(inbound.body)? else {
        return Err(Rejection::Unauthenticated(AuthFailure::MissingSignature));
    };
    let provided = decode(Encoding::Hex, sign.trim()).unwrap_or_default();
    let mut matched = subtle::Choice::from(0);
    for secret in secrets.iter() {
        let parts = [secret.expose().as_bytes(), t.as_bytes()];
        matched |= compute(Algorithm::Md5, secret, parts.into_iter()).ct_eq(&provided);
    }
    if !bool::from(matched) {
        return Err(Rejection::Unauthenticated(AuthFailure::BadSignature));
    }
    // Checked after the signature, so an unsigned `t` reveals nothing.
    let leeway = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    match t.trim().parse::<i64>() {
        Ok(expires) if expires.saturating_add(leeway) >= inbound.received_at.unix_timestamp() => {
            Ok(())
        }
        _ => Err(Rejection::Unauthenticated(AuthFailure::Expired)),
    }
}

/// Sets `t` (an expiry, Unix seconds) and `sign` = hex md5(secret + t) at
/// the top of `body`, as a platform of [`Scheme::BodyExpirySign`] signs.
pub fn sign_expiry(body: &mut serde_json::Map<String, serde_json::Value>, secret: &str, t: i64) {
    let secret = Secret::new(secret);
    let text = t.to_string();
    let parts = [secret.expose().as_bytes(), text.as_bytes()];
    let digest = compute(Algorithm::Md5, &secret, parts.into_iter());
    body.insert("t".to_owned(), serde_json::Value::from(t));
    body.insert(
        "sign".to_owned(),
        serde_json::Value::from(crate::key::to_hex(&digest)),
    );
}

/// The claims of LiveKit's webhook JWT that matter here.
#[derive(serde::Deserialize, serde::Serialize)]
struct LiveKitClaims {
    iss: String,
    #[serde(default)]
    exp: Option<i64>,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    sha256: String,
}

fn check_jwt(
    value: &str,
    secrets: &SigningSecrets,
    tolerance: Duration,
    inbound: &Inbound<'_>,
) -> Result<(), Rejection> {
    use jsonwebtoken::{Algorithm as Alg, DecodingKey, Validation, decode};
    let token = value.trim();
    let token = token.strip_prefix("Bearer ").unwrap_or(token);
    let mut validation = Validation::new(Alg::HS256);
    // Times are checked below against the receive time, not the system clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.required_spec_claims.clear();
    let mut claims = None;
    for pair in secrets.iter() {
        let Some((key, secret)) = pair.expose().split_once(':') else {
            continue;
        };
        let (key, secret) = (key.trim(), secret.trim());
        let Ok(decoding) = DecodingKey::from_secret(secret.as_bytes()) else {
            continue;
        };
        validation.set_issuer(&[key]);
        if let Ok(data) = decode::<LiveKitClaims>(token, &decoding, &validation) {
            claims = Some(data.claims);
            break;
        }
    }
    let Some(claims) = claims else {
        return Err(Rejection::Unauthenticated(AuthFailure::BadSignature));
    };
    let expected = BASE64.encode(Sha256::digest(inbound.body));
    if !bool::from(expected.as_bytes().ct_eq(claims.sha256.as_bytes())) {
        return Err(Rejection::Unauthenticated(AuthFailure::BodyHashMismatch));
    }
    let now = inbound.received_at.unix_timestamp();
    let leeway = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    // A token without `exp` would be valid forever: LiveKit's SDKs refuse it.
    let expired = claims
        .exp
        .is_none_or(|exp| exp.saturating_add(leeway) < now);
    let early = claims
        .nbf
        .is_some_and(|nbf| nbf.saturating_sub(leeway) > now);
    if expired || early {
        return Err(Rejection::Unauthenticated(AuthFailure::Expired));
    }
    Ok(())
}

/// Where a delivery is sent, as far as a proof may cover it: the host the
/// platform calls and the request's query (Alibaba signs a stream
/// callback's `app`, from its query). A host alone is a target without a
/// query.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Target<'a> {
    /// The host called (the `Host` header).
    pub host: &'a str,
    /// The query string sent, without the `?`.
    pub query: &'a str,
}

impl<'a> From<&'a str> for Target<'a> {
    fn from(host: &'a str) -> Self {
        Target { host, query: "" }
    }
}

/// The headers that prove `body` as the platform would send it at `now`
/// with `secret` to `target`, by the proof's first scheme: what `livehook
/// send` and the tests sign with. `headers` holds the headers already
/// chosen (Twitch's message id); the proof's own are appended to it.
pub fn sign<'a>(
    proof: &Proof,
    secret: &str,
    body: &[u8],
    now: OffsetDateTime,
    target: impl Into<Target<'a>>,
    headers: &mut Vec<(String, String)>,
) {
    sign_with(proof, 0, secret, body, now, target, headers);
}

/// The same by the proof's scheme number `scheme` (none when there is no
/// such scheme): a platform that proves different deliveries differently
/// (Cloudflare's live-input notifications carry their destination's secret).
pub fn sign_with<'a>(
    proof: &Proof,
    scheme: usize,
    secret: &str,
    body: &[u8],
    now: OffsetDateTime,
    target: impl Into<Target<'a>>,
    headers: &mut Vec<(String, String)>,
) {
    let Some(scheme) = proof.schemes.get(scheme) else {
        return;
    };
    let Target { host, query } = target.into();
    let secret = Secret::new(secret);
    match scheme {
        // Signed in the body ([`sign_expiry`]): no header.
        Scheme::BodyExpirySign => {}
        Scheme::SecretHeader(name) => {
            headers.push(((*name).to_owned(), secret.expose().to_owned()))
        }
        Scheme::BodyHashJwt => headers.push(("authorization".to_owned(), jwt(&secret, body, now))),
        Scheme::Signature(s) => {
            let time = s.timestamp.as_ref().map(|t| match t.format {
                TimeFormat::UnixSeconds => now.unix_timestamp().to_string(),
                TimeFormat::Rfc3339 => now.format(&Rfc3339).unwrap_or_default(),
            });
            if let Some(Timestamp {
                source: TimestampSource::Header(name),
                ..
            }) = &s.timestamp
            {
                headers.push(((*name).to_owned(), time.clone().unwrap_or_default()));
            }
            let time = time.unwrap_or_default();
            let lookup = |name: &str| {
                headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map_or("", |(_, v)| v.as_str())
            };
            let parts: Vec<&[u8]> = s
                .message
                .iter()
                .map(|part| match part {
                    Part::Body => body,
                    Part::Timestamp => time.as_bytes(),
                    Part::Header(name) => lookup(name).as_bytes(),
                    Part::Text(text) => text.as_bytes(),
                    Part::Secret => secret.expose().as_bytes(),
                    Part::Host => host.as_bytes(),
                    Part::QueryElseHost(name) => {
                        query_value(query, name).unwrap_or(host).as_bytes()
                    }
                })
                .collect();
            let digest = compute(s.algorithm, &secret, parts.into_iter());
            let encoded = match s.encoding {
                Encoding::Hex => crate::key::to_hex(&digest),
                Encoding::Base64 => BASE64.encode(&digest),
            };
            let value = match s.layout {
                Layout::Whole { prefix } => format!("{prefix}{encoded}"),
                Layout::Pairs {
                    timestamp,
                    signature,
                } => format!("{timestamp}={time},{signature}={encoded}"),
            };
            headers.push((s.header.to_owned(), value));
        }
    }
}

/// LiveKit's webhook token for `body`: `KEY:SECRET`, valid for 5 minutes
/// from `now` (as LiveKit's server makes it).
fn jwt(pair: &Secret, body: &[u8], now: OffsetDateTime) -> String {
    use jsonwebtoken::{EncodingKey, Header, encode};
    let (key, secret) = pair.expose().split_once(':').unwrap_or(("", pair.expose()));
    let claims = LiveKitClaims {
        iss: key.to_owned(),
        exp: Some(now.unix_timestamp() + 300),
        nbf: Some(now.unix_timestamp()),
        sha256: BASE64.encode(Sha256::digest(body)),
    };
    EncodingKey::from_secret(secret.as_bytes())
        .and_then(|key| encode(&Header::default(), &claims, &key))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
