//! Every sample in `events/`: expected type, subject, time, stream attribute
//! and key. Keys are pinned: a change here means every deployed record stops
//! deduplicating the provider's retries, so it must be deliberate.

use livehook::error::Rejection;
use livehook::inbound::Inbound;
use livehook::providers::{AuthScheme, Delivery, Provider, by_name};
use livehook_testkit::fuzzing::{TENCENT_KEY, TOKEN, now, verifier};
use livehook_testkit::samples::{Sample, events_dir, load_dir};

/// A valid Tencent `t`: ten minutes after the fixed receive time.
fn fresh_t() -> i64 {
    now().unix_timestamp() + 600
}

/// What `provider`'s adapter makes of `body`, received at the fixed clock by
/// invocation `request_id` on a topic of `max_message_bytes`.
fn deliver_as(
    provider: &dyn Provider,
    path: &str,
    query: &str,
    body: &[u8],
    request_id: &str,
    max_message_bytes: usize,
) -> Result<Delivery, Rejection> {
    deliver_with_headers_of(
        provider,
        path,
        query,
        body,
        body,
        request_id,
        max_message_bytes,
    )
}

/// The same with the headers a signed platform would choose for `chosen`
/// (Twitch's message id and type, which the adapter reads; the proof itself
/// is the gate's).
fn deliver_with_headers_of(
    provider: &dyn Provider,
    path: &str,
    query: &str,
    body: &[u8],
    chosen: &[u8],
    request_id: &str,
    max_message_bytes: usize,
) -> Result<Delivery, Rejection> {
    let headers = livehook::providers::chosen_header_map(provider, chosen);
    let inbound = Inbound {
        path,
        query,
        headers: &headers,
        body,
        received_at: now(),
        request_id,
        max_message_bytes,
        settings: &livehook::providers::settings::DEFAULTS,
    };
    provider.accept(&inbound, &verifier())
}

/// The same as a new invocation.
fn deliver(
    provider: &dyn Provider,
    path: &str,
    query: &str,
    body: &[u8],
) -> Result<Delivery, Rejection> {
    deliver_as(
        provider,
        path,
        query,
        body,
        &livehook::key::fresh(),
        262_144,
    )
}

/// Delivers a sample as the invocation named after it, so that the keys of
/// providers that key per delivery (lal) are pinned too.
fn deliver_sample(sample: &Sample) -> Delivery {
    let provider = by_name(&sample.provider).unwrap();
    let body = sample.body_signed(TENCENT_KEY, fresh_t());
    let request_id = format!("{}/{}", sample.provider, sample.event);
    deliver_as(
        provider,
        &sample.path(),
        &sample.query(TOKEN),
        &body,
        &request_id,
        262_144,
    )
    .unwrap_or_else(|r| panic!("{}/{} refused: {r:?}", sample.provider, sample.event))
}

/// The expectations of one provider's samples: `events/<provider>/expected.tsv`,
/// one line per sample (sample, type, subject, time, stream attribute or
/// `-`, key). They live beside the samples so that a new provider brings its
/// own; `LIVEHOOK_WRITE_EXPECTED=1` rewrites them from the current code (a
/// change of a key must be deliberate: deployed records stop deduplicating).
fn expected_rows(provider: &str) -> Vec<[String; 6]> {
    let path = events_dir().join(provider).join("expected.tsv");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let cells: Vec<String> = l.split('\t').map(str::to_owned).collect();
            cells
                .try_into()
                .unwrap_or_else(|c: Vec<String>| panic!("{}: bad line {c:?}", path.display()))
        })
        .collect()
}

/// What the code makes of a sample, as an expectation row.
fn actual_row(sample: &Sample) -> [String; 6] {
    let d = deliver_sample(sample);
    let e = &d.events[0].event;
    [
        sample.event.clone(),
        e.event_type.as_str().to_owned(),
        e.subject.clone(),
        e.time.clone(),
        d.events[0].stream.clone().unwrap_or_else(|| "-".to_owned()),
        d.key.clone(),
    ]
}

#[test]
fn every_sample_normalizes_as_expected() {
    let samples = load_dir(&events_dir()).unwrap();
    if std::env::var_os("LIVEHOOK_WRITE_EXPECTED").is_some() {
        for provider in livehook::providers::ALL {
            let mut text = String::from(
                "# sample\ttype\tsubject\ttime\tstream attribute\tkey  (pinned by shared/tests/samples_table.rs; LIVEHOOK_WRITE_EXPECTED=1 rewrites it)\n",
            );
            for s in samples.iter().filter(|s| s.provider == provider.name()) {
                text.push_str(&actual_row(s).join("\t"));
                text.push('\n');
            }
            let path = events_dir().join(provider.name()).join("expected.tsv");
            std::fs::write(&path, text).unwrap();
        }
    }
    for provider in livehook::providers::ALL {
        let expected = expected_rows(provider.name());
        let ours: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.provider == provider.name())
            .collect();
        assert!(
            !ours.is_empty(),
            "{} has no samples in events/",
            provider.name()
        );
        for row in &expected {
            assert!(
                ours.iter().any(|s| s.event == row[0]),
                "{}/{} is expected but not in events/",
                provider.name(),
                row[0]
            );
        }
        for sample in ours {
            let name = format!("{}/{}", sample.provider, sample.event);
            let row = expected.iter().find(|row| row[0] == sample.event).unwrap_or_else(|| {
                panic!("{name} has no line in events/{}/expected.tsv (LIVEHOOK_WRITE_EXPECTED=1 writes it)", sample.provider)
            });
            assert_eq!(&actual_row(sample), row, "{name}");
        }
    }
}
#[test]
fn every_envelope_keeps_the_contract() {
    for sample in load_dir(&events_dir()).unwrap() {
        let name = format!("{}/{}", sample.provider, sample.event);
        let d = deliver_sample(&sample);
        let e = &d.events[0].event;
        if d.dedupe_window.is_some() {
            // A key that holds only within a window (ZLMediaKit): a later
            // event that replaces a lapsed record must not reuse the id.
            assert_ne!(e.id, d.key, "{name}");
        } else {
            assert_eq!(e.id, d.key, "{name}");
        }
        assert_eq!(e.source, format!("livehook/{}", sample.provider));
        assert_eq!(e.specversion, "1.0");
        assert_eq!(e.datacontenttype, "application/json");
        // `raw` is the body as sent, but for Tencent's `sign`, which is never published.
        let mut sent: serde_json::Value =
            serde_json::from_slice(&sample.body_signed(TENCENT_KEY, fresh_t())).unwrap();
        let signed =
            by_name(&sample.provider).map(|p| p.auth_scheme()) == Some(AuthScheme::TencentSign);
        if let Some(object) = sent.as_object_mut().filter(|_| signed) {
            assert!(object.remove("sign").is_some(), "{name}");
        }
        // Secrets inside a signed platform's objects are never published.
        let provider = by_name(&sample.provider).unwrap();
        for (object, field) in provider.nested_secret_fields() {
            if let Some(inner) = sent.get_mut(*object).and_then(|o| o.as_object_mut()) {
                inner.remove(*field);
            }
        }
        // A provider's secret fields (MediaMTX's client credentials) are left out.
        if let Some(object) = sent.as_object_mut() {
            for field in provider.secret_fields() {
                object.remove(*field);
            }
        }
        assert!(!e.data.raw.get().contains("\"sign\""), "{name}");
        // ZLMediaKit's configuration dump: its own credentials always masked.
        if name == "zlmediakit/on_server_started" {
            livehook::redact::Redactor::new(["api.secret", "hook.admin_params", "srt.passPhrase"])
                .redact_value(&mut sent);
            assert_eq!(sent["api.secret"], "***");
        }
        let raw: serde_json::Value = serde_json::from_str(e.data.raw.get()).unwrap();
        assert_eq!(raw, sent, "{name}");
        assert!(!e.data.provider_event.is_empty(), "{name}");
    }
}

#[test]
fn retry_variants_share_a_key_and_other_events_do_not() {
    let samples = load_dir(&events_dir()).unwrap();
    // Samples that are the same event as another one (a retry or another wire form).
    let same_event = [
        ("aodianyun/start_publish.retry-2", "aodianyun/start_publish"),
        (
            "aodianyun/start_publish.string-value",
            "aodianyun/start_publish",
        ),
        ("tencent/record.file-size-string", "tencent/record"),
        ("volcengine/push_start.wrapped", "volcengine/push_start"),
        // Recorded: ZLMediaKit's retry 3 s after a reply without an integer code.
        (
            "zlmediakit/on_flow_report.retry",
            "zlmediakit/on_flow_report",
        ),
    ];
    let mut keys: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for s in &samples {
        let name = format!("{}/{}", s.provider, s.event);
        let key = deliver_sample(s).key;
        if let Some((_, original)) = same_event.iter().find(|(variant, _)| *variant == name) {
            let original = samples
                .iter()
                .find(|o| format!("{}/{}", o.provider, o.event) == *original)
                .unwrap();
            assert_eq!(key, deliver_sample(original).key, "{name}");
            continue;
        }
        if let Some(other) = keys.insert(key, name.clone()) {
            panic!("{name} and {other} share a key");
        }
    }
}

#[test]
fn providers_that_never_resend_key_every_delivery_apart() {
    // The same body twice is two events (lal: a restarted server's
    // `RTMPPUBSUB1`, an idle server's identical `on_update`); the same
    // invocation (an SDK retry within it) is one.
    for s in load_dir(&events_dir()).unwrap() {
        let provider = livehook::providers::imitate::by_name(&s.provider).unwrap();
        // MediaMTX asks again about one reading session for every HLS
        // segment: a read is keyed on its session, not per delivery.
        if provider.sending().resends || (s.provider == "mediamtx" && s.event == "read") {
            continue;
        }
        let body = s.body_signed(TENCENT_KEY, fresh_t());
        let key = |request_id: &str| {
            deliver_as(
                provider,
                &s.path(),
                &s.query(TOKEN),
                &body,
                request_id,
                262_144,
            )
            .unwrap()
            .key
        };
        assert_ne!(key("first"), key("second"), "{}/{}", s.provider, s.event);
        assert_eq!(key("first"), key("first"), "{}/{}", s.provider, s.event);
    }
}

#[test]
fn tencent_samples_keep_their_key_when_re_signed() {
    for s in load_dir(&events_dir())
        .unwrap()
        .iter()
        .filter(|s| s.provider == "tencent")
    {
        let provider = by_name("tencent").unwrap();
        let first = deliver(
            provider,
            "/tencent",
            "",
            &s.body_signed(TENCENT_KEY, fresh_t()),
        )
        .unwrap();
        let retry = deliver(
            provider,
            "/tencent",
            "",
            &s.body_signed(TENCENT_KEY, fresh_t() + 60),
        )
        .unwrap();
        assert_eq!(first.key, retry.key, "{}", s.event);
    }
}

#[test]
fn every_sample_survives_wrong_types_in_optional_fields() {
    // Optional fields of an unexpected type stay in `raw` and never refuse a
    // delivery; only a required field may, with a 400 that names it. Which
    // fields are required is learnt from those refusals, so no provider's
    // list is kept here.
    let mistyped = serde_json::json!([{"unexpected": true}]);
    for s in load_dir(&events_dir()).unwrap() {
        let provider = by_name(&s.provider).unwrap();
        let original: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
        let deliver_body = |body: &serde_json::Value| {
            let sample = Sample {
                body: serde_json::to_vec(body).unwrap(),
                ..s.clone()
            };
            let sent = sample.body_signed(TENCENT_KEY, fresh_t());
            // The message headers of the sample as sent (Twitch's type does
            // not change with the body's fields).
            deliver_with_headers_of(
                provider,
                &sample.path(),
                &sample.query(TOKEN),
                &sent,
                &s.body,
                &livehook::key::fresh(),
                262_144,
            )
        };
        let mut required: Vec<String> = Vec::new();
        loop {
            let mut body = original.clone();
            for (key, value) in body.as_object_mut().unwrap().iter_mut() {
                if !required.contains(key) {
                    *value = mistyped.clone();
                }
            }
            match deliver_body(&body) {
                Ok(_) => break,
                Err(Rejection::Malformed(reason)) => {
                    let named = original
                        .as_object()
                        .unwrap()
                        .keys()
                        .find(|k| !required.contains(k) && reason.contains(&format!("`{k}`")))
                        .unwrap_or_else(|| {
                            panic!(
                                "{}/{}: refused ({reason}) naming no field it was sent",
                                s.provider, s.event
                            )
                        });
                    // A required field refuses alike when it is absent; an
                    // optional one refused for its type would not.
                    let mut without = body.clone();
                    without.as_object_mut().unwrap().remove(named);
                    assert!(
                        matches!(deliver_body(&without), Err(Rejection::Malformed(_))),
                        "{}/{}: `{named}` is refused when mistyped but not when absent: an optional field",
                        s.provider,
                        s.event
                    );
                    required.push(named.clone());
                }
                Err(other) => panic!(
                    "{}/{} refused with mistyped fields: {other:?}",
                    s.provider, s.event
                ),
            }
        }
    }
}
