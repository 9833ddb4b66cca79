//! Each scheme against known answers computed outside this crate (the
//! vendors' documented examples, Python's `hmac`/`hashlib`), and every way
//! a proof can fail.

use lambda_http::http::{HeaderMap, HeaderName, HeaderValue};

use super::*;
use crate::providers::{Agora, Alibaba, AuthScheme, Cloudflare, LiveKit, Mux, Provider, Twitch};

const BODY: &[u8] = br#"{"type":"video.live_stream.active","id":"e1"}"#;

/// The proof a signed platform's adapter declares: the schemes are tested
/// as the gate meets them.
fn proof_of(provider: &dyn Provider) -> &'static Proof {
    match provider.auth_scheme() {
        AuthScheme::Signed(proof) => proof,
        AuthScheme::QueryToken | AuthScheme::TencentSign => {
            panic!("{} is not a signed platform", provider.name())
        }
    }
}

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap()
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

fn check(
    proof: &Proof,
    secrets: &str,
    pairs: &[(&str, &str)],
    body: &[u8],
    now: OffsetDateTime,
) -> Result<(), Rejection> {
    let headers = headers(pairs);
    let inbound = Inbound {
        path: "/",
        query: "",
        headers: &headers,
        body,
        received_at: now,
        request_id: "r",
        max_message_bytes: 262_144,
        settings: &crate::providers::settings::DEFAULTS,
    };
    verify(
        proof,
        &SigningSecrets::parse(secrets),
        proof.tolerance,
        &inbound,
    )
}

fn refused(why: AuthFailure) -> Result<(), Rejection> {
    Err(Rejection::Unauthenticated(why))
}

/// Signs with [`sign`] and checks: the two halves agree.
fn round_trip(proof: &Proof, secret: &str, secrets: &str, body: &[u8], now: OffsetDateTime) {
    let mut signed = vec![("twitch-eventsub-message-id".to_owned(), "m-1".to_owned())];
    sign(proof, secret, body, now, "hooks.example.com", &mut signed);
    signed.push(("host".to_owned(), "hooks.example.com".to_owned()));
    let pairs: Vec<(&str, &str)> = signed
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        check(proof, secrets, &pairs, body, now),
        Ok(()),
        "{proof:?}"
    );
    // Alibaba's signature covers the host and time, not the body.
    if proof.secret_variable == "LIVEHOOK_ALIBABA_KEY" {
        return;
    }
    assert_eq!(
        check(proof, secrets, &pairs, b"{\"tampered\":1}", now).map_err(|_| ()),
        Err(()),
        "{proof:?}"
    );
}

#[test]
fn mux_pairs_known_answer() {
    let sig = "770b7f79671f0af2676d9b7292a248173d0734d28feb33d06b31fe5c869eb5ed";
    let header = format!("t=1565220904,v1={sig}");
    let now = at(1_565_220_904 + 60);
    let ok = [("mux-signature", header.as_str())];
    assert_eq!(check(proof_of(&Mux), "mux-secret", &ok, BODY, now), Ok(()));
    // Rotation: the second secret of the list, and several `v1` in a header.
    assert_eq!(
        check(proof_of(&Mux), "old, mux-secret", &ok, BODY, now),
        Ok(())
    );
    let two = format!(
        "t=1565220904,v1={},v1={}",
        "00".repeat(32),
        sig.to_uppercase()
    );
    assert_eq!(
        check(
            proof_of(&Mux),
            "mux-secret",
            &[("mux-signature", &two)],
            BODY,
            now
        ),
        Ok(())
    );
    assert_eq!(
        check(proof_of(&Mux), "wrong", &ok, BODY, now),
        refused(AuthFailure::BadSignature)
    );
    assert_eq!(
        check(proof_of(&Mux), "mux-secret", &ok, b"{}", now),
        refused(AuthFailure::BadSignature)
    );
    // A changed `t` is not the signed one.
    let moved = format!("t=1565220905,v1={sig}");
    assert_eq!(
        check(
            proof_of(&Mux),
            "mux-secret",
            &[("mux-signature", &moved)],
            BODY,
            now
        ),
        refused(AuthFailure::BadSignature)
    );
    // Genuine, but too old or too far ahead.
    for now in [at(1_565_220_904 + 301), at(1_565_220_904 - 301)] {
        assert_eq!(
            check(proof_of(&Mux), "mux-secret", &ok, BODY, now),
            refused(AuthFailure::Expired)
        );
    }
    assert_eq!(
        check(proof_of(&Mux), "mux-secret", &[], BODY, now),
        refused(AuthFailure::MissingSignature)
    );
    let no_time = format!("v1={sig}");
    assert_eq!(
        check(
            proof_of(&Mux),
            "mux-secret",
            &[("mux-signature", &no_time)],
            BODY,
            now
        ),
        refused(AuthFailure::MissingSignature)
    );
    round_trip(proof_of(&Mux), "new", "old,new", BODY, now);
}

#[test]
fn twitch_headers_known_answer() {
    let sig = "sha256=eb43853edc5bd244ded0a6a922dd5da2497979d8cc263e80b3fe7bdc2c51d416";
    let stamp = "2026-12-04T10:00:00.123456789Z";
    let ok = [
        ("twitch-eventsub-message-id", "m-1"),
        ("twitch-eventsub-message-timestamp", stamp),
        ("twitch-eventsub-message-signature", sig),
    ];
    let now = OffsetDateTime::parse(stamp, &Rfc3339).unwrap();
    assert_eq!(
        check(proof_of(&Twitch), "twitch-secret", &ok, BODY, now),
        Ok(())
    );
    let mut other_id = ok;
    other_id[0].1 = "m-2";
    assert_eq!(
        check(proof_of(&Twitch), "twitch-secret", &other_id, BODY, now),
        refused(AuthFailure::BadSignature)
    );
    let later = now + Duration::from_secs(601);
    assert_eq!(
        check(proof_of(&Twitch), "twitch-secret", &ok, BODY, later),
        refused(AuthFailure::Expired)
    );
    let bare = [
        ok[0],
        ok[1],
        ("twitch-eventsub-message-signature", &sig[7..]),
    ];
    assert_eq!(
        check(proof_of(&Twitch), "twitch-secret", &bare, BODY, now),
        refused(AuthFailure::BadSignature)
    );
    round_trip(proof_of(&Twitch), "s2", "s1,s2", BODY, now);
}

#[test]
fn agora_documented_vectors() {
    // Agora's signature-verification page: secret `secret`, this body.
    let body = br#"{"eventType":10,"noticeId":"4eb720f0-8da7-11e9-a43e-53f411c2761f","notifyMs":1560408533119,"payload":{"a":"1","b":2},"productId":1}"#;
    let v2 = "de96da5acf03b0021ac3b4fa2225e7ae6f3533a30d50bb02c08ea4fa748bda24";
    let v1 = "5a3bb6a6d9fad2ea9ae3fb707a14c9d7f3136df1";
    let now = at(0);
    let both = [("agora-signature-v2", v2), ("agora-signature", v1)];
    assert_eq!(check(proof_of(&Agora), "secret", &both, body, now), Ok(()));
    assert_eq!(
        check(
            proof_of(&Agora),
            "secret",
            &[("agora-signature", v1)],
            body,
            now
        ),
        Ok(())
    );
    // V2 decides when present: a good SHA-1 does not rescue a bad SHA-256.
    let bad_v2 = [("agora-signature-v2", v1), ("agora-signature", v1)];
    assert_eq!(
        check(proof_of(&Agora), "secret", &bad_v2, body, now),
        refused(AuthFailure::BadSignature)
    );
    round_trip(proof_of(&Agora), "secret", "secret", body, now);
}

#[test]
fn cloudflare_signature_or_secret_header() {
    let sig = "8690546e1e3a69e3dcaf4fd447197e656243061e9c31e816e4989668f3fa9f4d";
    let header = format!("time=1565220904,sig1={sig}");
    let now = at(1_565_220_904);
    let ok = [("webhook-signature", header.as_str())];
    assert_eq!(
        check(proof_of(&Cloudflare), "cf-secret", &ok, BODY, now),
        Ok(())
    );
    let live = [("cf-webhook-auth", "cf-secret")];
    assert_eq!(
        check(proof_of(&Cloudflare), "a,cf-secret", &live, BODY, now),
        Ok(())
    );
    assert_eq!(
        check(
            proof_of(&Cloudflare),
            "cf-secret",
            &[("cf-webhook-auth", "cf-secre")],
            BODY,
            now
        ),
        refused(AuthFailure::BadSignature)
    );
    round_trip(proof_of(&Cloudflare), "k", "k", BODY, now);
}

#[test]
fn alibaba_documented_vector() {
    // Alibaba's callback-authentication page: md5(learn.aliyundoc.com|1519375990|yourkey).
    let ok = [
        ("host", "learn.aliyundoc.com"),
        ("ali-live-timestamp", "1519375990"),
        ("ali-live-signature", "9e226fc2c250be266e3657e156f68c12"),
    ];
    let now = at(1_519_375_990);
    assert_eq!(check(proof_of(&Alibaba), "yourkey", &ok, b"", now), Ok(()));
    let other_host = [("host", "evil.example.com"), ok[1], ok[2]];
    assert_eq!(
        check(proof_of(&Alibaba), "yourkey", &other_host, b"", now),
        refused(AuthFailure::BadSignature)
    );
    round_trip(proof_of(&Alibaba), "k2", "k1,k2", BODY, now);
}

#[test]
fn livekit_jwt_known_answer() {
    // HS256 over {"iss":"APIkey1","exp":1800000300,"nbf":1800000000,"sha256":base64(sha256(BODY))}
    // with `lk-secret`, made with Python's hmac/hashlib.
    let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJBUElrZXkxIiwiZXhwIjoxODAwMDAwMzAwLCJuYmYiOjE4MDAwMDAwMDAsInNoYTI1NiI6ImpnNERJdWY1TnAxYkVUeFpCTjJvZ2xlMDUzeDhISkhyS0JjVnVyYmM2UUU9In0.zz_xLZkMd-IZaLyWYLVQHwrz7rXEErjZHg9kE2ezw-0";
    let now = at(1_800_000_100);
    let keys = "other:x, APIkey1:lk-secret";
    for header in ["authorization", "authorize"] {
        assert_eq!(
            check(proof_of(&LiveKit), keys, &[(header, token)], BODY, now),
            Ok(())
        );
    }
    let bearer = format!("Bearer {token}");
    assert_eq!(
        check(
            proof_of(&LiveKit),
            keys,
            &[("authorization", &bearer)],
            BODY,
            now
        ),
        Ok(())
    );
    let auth = [("authorization", token)];
    // Unknown API key, or the key's secret is another.
    assert_eq!(
        check(proof_of(&LiveKit), "APIkey2:lk-secret", &auth, BODY, now),
        refused(AuthFailure::BadSignature)
    );
    assert_eq!(
        check(proof_of(&LiveKit), "APIkey1:wrong", &auth, BODY, now),
        refused(AuthFailure::BadSignature)
    );
    assert_eq!(
        check(proof_of(&LiveKit), keys, &auth, b"{}", now),
        refused(AuthFailure::BodyHashMismatch)
    );
    assert_eq!(
        check(
            proof_of(&LiveKit),
            keys,
            &auth,
            BODY,
            at(1_800_000_300 + 61)
        ),
        refused(AuthFailure::Expired)
    );
    assert_eq!(
        check(
            proof_of(&LiveKit),
            keys,
            &auth,
            BODY,
            at(1_800_000_000 - 61)
        ),
        refused(AuthFailure::Expired)
    );
    // Genuine but without `exp`: valid forever, so refused (as LiveKit's SDKs do).
    let no_exp = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJBUElrZXkxIiwic2hhMjU2Ijoiamc0REl1ZjVOcDFiRVR4WkJOMm9nbGUwNTN4OEhKSHJLQmNWdXJiYzZRRT0ifQ.S8Cm4cXQwCS8AeKWyMgmuSBfqlnBV1Dhr4TGVaCzQhk";
    assert_eq!(
        check(
            proof_of(&LiveKit),
            keys,
            &[("authorization", no_exp)],
            BODY,
            now
        ),
        refused(AuthFailure::Expired)
    );
    assert_eq!(
        check(
            proof_of(&LiveKit),
            keys,
            &[("authorization", "not.a.jwt")],
            BODY,
            now
        ),
        refused(AuthFailure::BadSignature)
    );
    assert_eq!(
        check(proof_of(&LiveKit), keys, &[], BODY, now),
        refused(AuthFailure::MissingSignature)
    );
    round_trip(proof_of(&LiveKit), "k2:s2", "k1:s1,k2:s2", BODY, now);
}

#[test]
fn livekit_secrets_must_be_pairs() {
    let parse = SigningSecrets::parse;
    assert!(secrets_problem(proof_of(&LiveKit), &parse("k:s, k2:s2")).is_none());
    assert!(secrets_problem(proof_of(&LiveKit), &parse("k:s, s2")).is_some());
    assert!(secrets_problem(proof_of(&LiveKit), &parse(":s")).is_some());
    assert!(secrets_problem(proof_of(&Mux), &parse("s2")).is_none());
}

#[test]
fn secrets_do_not_debug_print() {
    let shown = format!("{:?}", SigningSecrets::parse("hunter2,k:hunter3"));
    assert!(!shown.contains("hunter"));
}

#[test]
fn hex_decoding() {
    assert_eq!(crate::key::from_hex("00aBff"), Some(vec![0, 0xab, 0xff]));
    assert_eq!(crate::key::from_hex("0"), None);
    assert_eq!(crate::key::from_hex("zz"), None);
    assert_eq!(crate::key::from_hex("é0"), None);
}
