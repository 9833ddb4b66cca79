//! The signed platforms (every provider of the registry whose deliveries
//! carry a proof) on the strict emulator, sent as the tools send them
//! (`providers::prepared_body`, signed inside the body where the platform
//! signs there; `providers::wire`, a `GET` where it sends the fields in the
//! query; `providers::signed_headers` over the bytes sent): a valid delivery
//! is one event, a resend re-signed later (with the other secret of the
//! list) is the same event, a part the proof covers changed after signing
//! (the body, or what the platform signs instead: a timestamp, a domain),
//! a wrong secret and a stale proof are 401 with nothing written, an
//! unknown type is published as `unrecognized`, and no secret is in any
//! published or stored byte.

use livehook::proof::{Part, Scheme, Signature, TimeFormat, Timestamp, TimestampSource};
use livehook::providers::{
    ALL_IMITATE, AuthScheme, Imitate, Wire, prepared_body, request_path, signed_headers, wire,
};
use livehook_testkit::*;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The registry's signed platforms.
fn signed_platforms() -> Vec<&'static dyn Imitate> {
    ALL_IMITATE
        .iter()
        .copied()
        .filter(|p| matches!(p.auth_scheme(), AuthScheme::Signed(_)))
        .collect()
}

/// Whether a platform's proof covers a time (a timestamp, a JWT's `exp`,
/// an expiry `t`).
fn signs_a_time(provider: &dyn Imitate) -> bool {
    let AuthScheme::Signed(proof) = provider.auth_scheme() else {
        return false;
    };
    proof.schemes.iter().any(|s| match s {
        Scheme::Signature(s) => s.timestamp.is_some(),
        Scheme::BodyHashJwt | Scheme::BodyExpirySign => true,
        Scheme::SecretHeader(_) => false,
    })
}

/// One delivery as the platform sends it: on the wire, with its proof.
#[derive(Clone)]
struct Sent {
    wire: Wire,
    headers: Vec<(String, String)>,
}

/// `payload` (a synthetic delivery's JSON, before preparing) as `provider`
/// sends attempt `attempt` of an event first sent at `first`, proven with
/// `secret` at `signed_at` (no proof when `secret` is `None`).
fn sent(
    provider: &dyn Imitate,
    payload: &[u8],
    secret: Option<&str>,
    first: OffsetDateTime,
    attempt: u32,
    signed_at: OffsetDateTime,
) -> Sent {
    let prepared = prepared_body(provider, payload, secret, first, attempt);
    let wire = wire(provider, &prepared);
    let headers = signed_headers(provider, &wire.body, secret, signed_at, wire.target(HOST));
    Sent { wire, headers }
}

/// The request that carries `sent` to `path`.
fn request_of(path: &str, sent: &Sent) -> lambda_http::Request {
    let w = &sent.wire;
    with_headers(
        request(w.method, path, &w.query, &w.body),
        sent.headers.clone(),
    )
}

/// `sent` with each part its proof covers changed after signing, as the
/// platform's declared proof says which (the scheme it proves this
/// delivery with): the body; else what it signs instead of the body (a
/// timestamp header, the domain of the query, Volcengine's expiry `t`).
/// Empty only for a scheme that covers nothing (a secret echoed in a
/// header).
fn tampered(provider: &dyn Imitate, sent: &Sent) -> Vec<(&'static str, Sent)> {
    let AuthScheme::Signed(proof) = provider.auth_scheme() else {
        return Vec::new();
    };
    let body_changed = || {
        let mut changed = sent.clone();
        let body = &mut changed.wire.body;
        let end = body
            .iter()
            .rposition(|&b| b == b'}')
            .expect("a JSON object");
        body.splice(end..end, *b",\"x\":1");
        ("the body", changed)
    };
    let mut out = Vec::new();
    match proof.schemes.get(provider.signing_scheme(&sent.wire.body)) {
        Some(Scheme::BodyHashJwt) => out.push(body_changed()),
        Some(Scheme::BodyExpirySign) => {
            let mut changed = sent.clone();
            let mut body: Value = serde_json::from_slice(&changed.wire.body).expect("JSON");
            let holder = if body.get("t").is_some() {
                &mut body
            } else {
                &mut body["data"]
            };
            let t = holder["t"].as_i64().expect("a numeric t");
            holder["t"] = Value::from(t + 1);
            changed.wire.body = serde_json::to_vec(&body).expect("JSON");
            out.push(("the expiry t", changed));
        }
        Some(Scheme::Signature(s)) => {
            let Signature {
                message, timestamp, ..
            } = s;
            if message.contains(&Part::Body) {
                out.push(body_changed());
            }
            if let Some(Timestamp {
                source: TimestampSource::Header(name),
                format,
            }) = timestamp
            {
                // A second later, written as the platform writes it.
                let later = |v: &str| match format {
                    TimeFormat::UnixSeconds => {
                        (v.parse::<i64>().expect("unix seconds") + 1).to_string()
                    }
                    TimeFormat::Rfc3339 => (OffsetDateTime::parse(v, &Rfc3339).expect("RFC 3339")
                        + time::Duration::seconds(1))
                    .format(&Rfc3339)
                    .expect("RFC 3339"),
                };
                let mut changed = sent.clone();
                for (n, v) in &mut changed.headers {
                    if n.eq_ignore_ascii_case(name) {
                        *v = later(v);
                    }
                }
                out.push(("the timestamp", changed));
            }
            for part in message.iter() {
                if let Part::QueryElseHost(field) = part {
                    let mut changed = sent.clone();
                    let prefix = format!("{field}=");
                    let query: Vec<String> = changed
                        .wire
                        .query
                        .split('&')
                        .map(|pair| match pair.strip_prefix(&prefix) {
                            Some(value) => format!("{prefix}other.{value}"),
                            None => pair.to_owned(),
                        })
                        .collect();
                    changed.wire.query = query.join("&");
                    if changed.wire.query != sent.wire.query {
                        out.push(("the signed query field", changed));
                    }
                }
            }
        }
        Some(Scheme::SecretHeader(_)) | None => {}
    }
    out
}

/// `provider`'s synthetic delivery about `stream`: its path and payload
/// (JSON, before [`sent`] prepares it), of a type this version does not
/// know when `unknown`.
fn synthetic(
    stack: &Stack,
    provider: &dyn Imitate,
    stream: &str,
    nonce: &str,
    unknown: bool,
) -> (String, Vec<u8>) {
    let (event, body) = provider.synthetic(stream, nonce);
    let body = if unknown {
        unknown_type(stack, provider, event, &body)
            .unwrap_or_else(|| panic!("{}: no field makes its type unknown", provider.name()))
    } else {
        body
    };
    let bytes = serde_json::to_vec(&Value::Object(body)).expect("JSON");
    (request_path(provider, event), bytes)
}

/// `body` with one field changed so that its adapter accepts it as a type
/// this version does not know: each string or number of the body in turn
/// (a type field, Twitch's subscription type, Agora's event number) is
/// given a value no platform sends, until the adapter says `unrecognized`.
fn unknown_type(
    stack: &Stack,
    provider: &dyn Imitate,
    event: &str,
    body: &serde_json::Map<String, Value>,
) -> Option<serde_json::Map<String, Value>> {
    let config = stack.config(provider, &[]);
    let path = request_path(provider, event);
    let original = Value::Object(body.clone());
    let mut leaves = Vec::new();
    leaf_paths(&original, &mut Vec::new(), &mut leaves);
    leaves.into_iter().find_map(|leaf| {
        let mut changed = original.clone();
        let target = leaf
            .iter()
            .try_fold(&mut changed, |v, k| v.get_mut(k.as_str()))?;
        *target = match target {
            Value::Number(_) => Value::from(999_999),
            _ => Value::from("livehook.unknown_type"),
        };
        let bytes = serde_json::to_vec(&changed).ok()?;
        let headers = livehook::providers::chosen_header_map(provider, &bytes);
        let inbound = livehook::inbound::Inbound {
            path: &path,
            query: "",
            headers: &headers,
            body: &bytes,
            received_at: OffsetDateTime::now_utc(),
            request_id: "unknown-type",
            max_message_bytes: config.max_message_bytes,
            settings: &config.settings,
        };
        let delivery = provider.accept(&inbound, &config.verifier).ok()?;
        let unknown = delivery.event_type() == livehook::event::EventType::Unrecognized;
        match changed {
            Value::Object(map) if unknown => Some(map),
            _ => None,
        }
    })
}

/// The paths of every string and number inside objects of `value`.
fn leaf_paths(value: &Value, at: &mut Vec<String>, into: &mut Vec<Vec<String>>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                at.push(k.clone());
                leaf_paths(v, at, into);
                at.pop();
            }
        }
        Value::String(_) | Value::Number(_) => into.push(at.clone()),
        _ => {}
    }
}

/// The secret texts configured for every signed platform (each entry, and
/// for `KEY:SECRET` pairs the secret alone).
fn secret_texts() -> Vec<String> {
    let mut texts = Vec::new();
    for entry in SIGNING_SECRETS.split(',') {
        texts.push(entry.to_owned());
        if let Some((_, secret)) = entry.split_once(':') {
            texts.push(secret.to_owned());
        }
    }
    texts
}

#[tokio::test]
async fn every_signed_platform_keeps_its_contract_on_the_emulator() {
    let platforms = signed_platforms();
    assert!(!platforms.is_empty(), "no signed platform is registered");
    for provider in platforms {
        let name = provider.name();
        let stack = Stack::new("signed").await;
        let pipeline = stack.pipeline(name);
        let now = OffsetDateTime::now_utc();
        let stream = format!("signed-{name}");
        let (path, payload) = synthetic(&stack, provider, &stream, &format!("{name}-1"), false);
        let deliver = |sent: Sent| handle(&pipeline, request_of(&path, &sent));

        // Valid: one event.
        let valid = sent(provider, &payload, Some(SIGNING_SECRET), now, 0, now);
        let reply = deliver(valid.clone()).await;
        assert_eq!(reply.status, 200, "{name}: {}", reply.body);
        assert_eq!(stack.items().await.len(), 1, "{name}");

        // Resent 20 s later, re-signed with the other secret of the list:
        // answered as the duplicate it is, nothing new written.
        let later = now + time::Duration::seconds(20);
        let resent = deliver(sent(
            provider,
            &payload,
            Some(OLD_SIGNING_SECRET),
            now,
            1,
            later,
        ))
        .await;
        assert_eq!(resent.status, 200, "{name}: {}", resent.body);
        assert_eq!(resent.body, reply.body, "{name}: the first answer again");
        assert_eq!(
            stack.items().await.len(),
            1,
            "{name}: a resend is one event"
        );

        // Refused, nothing written: a part the proof covers changed after
        // signing, a wrong secret, no proof at all, a stale proof.
        let changes = tampered(provider, &valid);
        assert!(!changes.is_empty(), "{name}: its proof covers nothing");
        let mut refused = Vec::new();
        for (what, changed) in changes {
            let reply = deliver(changed).await;
            assert_eq!(reply.status, 401, "{name}: {what} changed after signing");
            refused.push(reply);
        }
        let wrong = deliver(sent(
            provider,
            &payload,
            Some("it-key-new:not-the-secret"),
            now,
            0,
            now,
        ))
        .await;
        assert_eq!(wrong.status, 401, "{name}: a wrong secret");
        let unsigned = deliver(sent(provider, &payload, None, now, 0, now)).await;
        assert_eq!(unsigned.status, 401, "{name}: no proof");
        refused.extend([wrong, unsigned]);
        for refused in &refused {
            assert!(
                !secret_texts()
                    .iter()
                    .any(|s| refused.body.contains(s.as_str())),
                "{name}: {}",
                refused.body
            );
        }
        let hour_ago = now - time::Duration::hours(1);
        if signs_a_time(provider) {
            // Made an hour ago (Volcengine's expiry `t` an hour ago + 10 min).
            let (_, fresh) = synthetic(&stack, provider, &stream, &format!("{name}-stale"), false);
            let stale = deliver(sent(
                provider,
                &fresh,
                Some(SIGNING_SECRET),
                hour_ago,
                0,
                hour_ago,
            ))
            .await;
            assert_eq!(stale.status, 401, "{name}: a stale proof");
        } else {
            // Nothing of the time is signed (Agora signs the body alone):
            // an old delivery is refused by the replay window, on the
            // payload's own time.
            let windowed = stack.pipeline_with(name, &[("LIVEHOOK_REPLAY_WINDOW_SECONDS", "600")]);
            let (_, old) = synthetic(&stack, provider, &stream, &format!("{name}-old"), false);
            let old = sent(provider, &old, Some(SIGNING_SECRET), hour_ago, 0, now);
            let stale = handle(&windowed, request_of(&path, &old)).await;
            assert_eq!(stale.status, 400, "{name}: outside the replay window");
        }
        assert_eq!(
            stack.items().await.len(),
            1,
            "{name}: nothing refused was written"
        );

        // A type this version does not know: published, never refused.
        let (_, unknown) = synthetic(&stack, provider, &stream, &format!("{name}-2"), true);
        let reply = deliver(sent(provider, &unknown, Some(SIGNING_SECRET), now, 0, now)).await;
        assert_eq!(reply.status, 200, "{name}: {}", reply.body);

        let published = stack.messages().await;
        let types: Vec<&str> = published
            .iter()
            .map(|m| m.envelope["type"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(published.len(), 2, "{name}: {types:?}");
        assert!(types.contains(&"unrecognized"), "{name}: {types:?}");
        assert!(
            types.iter().any(|t| *t != "unrecognized"),
            "{name}: {types:?}"
        );
        let stored = format!("{:?}", stack.items().await);
        for secret in secret_texts() {
            for m in &published {
                assert!(!m.message.contains(&secret), "{name}: {}", m.message);
                assert!(!m.attributes.values().any(|v| v.contains(&secret)));
            }
            assert!(!stored.contains(&secret), "{name}: {stored}");
        }
    }
}

#[tokio::test]
async fn twitch_challenge_is_echoed_as_plain_text_and_revocation_published() {
    if livehook::providers::by_name("twitch").is_none() {
        return;
    }
    let stack = Stack::new("twitch").await;
    let pipeline = stack.pipeline("twitch");
    let challenge = sample("twitch", "webhook_callback_verification");
    let body = sample_body(&challenge, fresh_t());
    let reply = handle(&pipeline, sample_request(&challenge, &body)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body, "pogchamp-kappa-360noscope-vohiyo");
    assert_eq!(
        reply.headers.get("content-type").map(|v| v.as_bytes()),
        Some(&b"text/plain"[..])
    );
    // Twitch's resend of the challenge gets the very same answer.
    let again = handle(&pipeline, sample_request(&challenge, &body)).await;
    assert_eq!(again.body, reply.body);
    // Unsigned, it is not answered.
    let unsigned = handle(&pipeline, request("POST", "/twitch", "", &body)).await;
    assert_eq!(unsigned.status, 401);
    assert!(!unsigned.body.contains("pogchamp"));

    let revocation = sample("twitch", "revocation");
    let body = sample_body(&revocation, fresh_t());
    let reply = handle(&pipeline, sample_request(&revocation, &body)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);

    let published = stack.messages().await;
    let mut types: Vec<&str> = published
        .iter()
        .map(|m| m.envelope["type"].as_str().unwrap_or_default())
        .collect();
    types.sort_unstable();
    assert_eq!(types, ["subscription.revoked", "subscription.verified"]);
}

#[tokio::test]
async fn livekit_refuses_an_expired_token_an_unknown_key_and_another_body() {
    let Some(livekit) = livehook::providers::imitate::by_name("livekit") else {
        return;
    };
    let stack = Stack::new("livekit").await;
    let pipeline = stack.pipeline("livekit");
    let room = sample("livekit", "room_started");
    let now = OffsetDateTime::now_utc();
    let body = room.prepared(None, now, 0);
    let send = |secret: &str, signed_for: &[u8], at: OffsetDateTime| {
        let headers = signed_headers(livekit, signed_for, Some(secret), at, HOST);
        handle(
            &pipeline,
            with_headers(request("POST", "/livekit", "", &body), headers),
        )
    };
    // Valid 5 minutes with a minute's leeway: signed 7 minutes ago, expired.
    let expired = send(SIGNING_SECRET, &body, now - time::Duration::minutes(7)).await;
    assert_eq!(expired.status, 401);
    let unknown_key = send("it-key-unknown:it-signing-new", &body, now).await;
    assert_eq!(unknown_key.status, 401);
    let other_body = send(SIGNING_SECRET, b"{}", now).await;
    assert_eq!(other_body.status, 401);
    assert!(
        stack.items().await.is_empty(),
        "nothing refused was written"
    );
    // The same token made for this body is accepted.
    let valid = send(SIGNING_SECRET, &body, now).await;
    assert_eq!(valid.status, 200, "{}", valid.body);
}
