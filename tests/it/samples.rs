//! Every sample of `events/` through the real pipeline, and what is stored.

use livehook_testkit::*;
use serde_json::Value;

/// The type the contract (DESIGN.md, "Event type mapping") gives a sample,
/// by provider and the sample's event name; `None` where the name does not
/// say (the adapter's answer is then the expectation).
fn contract_type(provider: &str, kind: &str) -> Option<&'static str> {
    Some(match (provider, kind) {
        ("tencent", "push") => "stream.started",
        ("tencent", "stop") => "stream.stopped",
        ("tencent", "record") => "recording.ready",
        ("tencent", "snapshot") => "snapshot.ready",
        ("aodianyun", "start_publish") => "stream.started",
        ("aodianyun", "stop_publish") => "stream.stopped",
        ("aodianyun", "lss_fluency") => "stream.health",
        ("aodianyun", "live_dvr") => "recording.ready",
        ("aodianyun", "live_dvr_preview_image") => "snapshot.ready",
        ("bililive", "SessionStarted") => "recording.started",
        ("bililive", "FileOpening") => "recording.file_opened",
        ("bililive", "FileClosed") => "recording.file_closed",
        ("bililive", "SessionEnded") => "recording.ended",
        ("bililive", "v1") => "recording.file_closed",
        ("lal", "on_pub_start") => "stream.started",
        ("lal", "on_pub_stop") => "stream.stopped",
        ("lal", "on_sub_start") => "playback.started",
        ("lal", "on_sub_stop") => "playback.stopped",
        ("lal", "on_rtmp_connect") => "connection.opened",
        ("lal", "on_server_start") => "server.started",
        ("lal", "on_update") => "server.stats",
        ("apiserver", "channel_live") => "stream.started",
        ("apiserver", "channel_stop") => "stream.stopped",
        ("apiserver", "channel_ended") => "stream.ended",
        _ => return None,
    })
}

/// Test 1: each sample, alone on an empty table, is accepted (200) and
/// published exactly once as the CloudEvents envelope the contract
/// describes, with the routing attributes.
#[tokio::test]
async fn every_sample_is_published_once_as_a_cloudevent() {
    let mut stack = Stack::new("samples").await;
    let samples = samples();
    let mut failures = Vec::new();
    for sample in &samples {
        let name = format!("{}/{}", sample.provider, sample.event);
        let mut fail = |what: String| failures.push(format!("{name}: {what}"));
        stack.fresh_table().await;
        let pipeline = stack.pipeline(&sample.provider);
        let body = sample_body(sample, fresh_t());
        let expected = adapter_view_as(&stack, sample, &body, &name);
        let reply = handle(&pipeline, sample_request_as(sample, &body, &name)).await;
        let messages = stack.messages().await;

        if reply.status != 200 {
            fail(format!("status {} ({})", reply.status, reply.body));
            continue;
        }
        if sample.provider == "tencent" && reply.body != r#"{"code":0}"# {
            fail(format!("Tencent reply {}", reply.body));
        }
        if messages.len() != 1 {
            fail(format!("{} messages published, expected 1", messages.len()));
            continue;
        }
        let m = &messages[0];
        let e = &m.envelope;
        let outgoing = &expected.events[0];
        let event_type = outgoing.event.event_type.as_str();
        // A delivery's own answer (Twitch's challenge, plain text) names no
        // id. The reply names the event's record (a duplicate gets the same
        // reply): its id, or for a key held within a window (Alibaba's
        // untimed callbacks) the record key the id starts with.
        let answer: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
        let published = e["id"].as_str().unwrap_or_default();
        if let Some(id) = answer.get("id")
            && livehook::record::record_key(published) != id.as_str().unwrap_or_default()
        {
            fail(format!("id {published} differs from the reply's {id}"));
        }
        for (field, want) in [
            ("specversion", Value::from("1.0")),
            ("id", Value::from(outgoing.event.id.as_str())),
            (
                "source",
                Value::from(format!("livehook/{}", sample.provider)),
            ),
            ("type", Value::from(event_type)),
            ("datacontenttype", Value::from("application/json")),
        ] {
            if e[field] != want {
                fail(format!("{field} = {}, expected {want}", e[field]));
            }
        }
        if let Some(want) = contract_type(&sample.provider, sample.kind())
            && e["type"] != want
        {
            fail(format!(
                "type {} but the contract maps it to {want}",
                e["type"]
            ));
        }
        let subject_prefix = format!("{}/", sample.provider);
        if !e["subject"]
            .as_str()
            .is_some_and(|s| s.len() > subject_prefix.len() && s.starts_with(&subject_prefix))
        {
            fail(format!("subject {}", e["subject"]));
        }
        if !e["time"].as_str().is_some_and(|t| t.ends_with('Z')) {
            fail(format!("time {} is not RFC 3339 UTC", e["time"]));
        }
        let mut sent: Value = serde_json::from_slice(&body).expect("samples are JSON");
        // Tencent's `sign` and a provider's secret fields (MediaMTX's client
        // credentials) are never published; everything else is as sent.
        let signed = sent.as_object_mut().is_some_and(|o| {
            let fields = provider_named(&sample.provider).secret_fields();
            let mut removed = o.remove("sign").is_some();
            for field in fields {
                removed |= o.remove(*field).is_some();
            }
            removed
        });
        // So are secrets inside a signed platform's objects (a Mux live
        // stream's key, a LiveKit room's TURN password).
        let mut scrubbed = false;
        for (object, field) in provider_named(&sample.provider).nested_secret_fields() {
            if let Some(inner) = sent.get_mut(*object).and_then(Value::as_object_mut) {
                scrubbed |= inner.remove(*field).is_some();
            }
        }
        // Secrets inside the payload (`?token=…` in lal's URLs, SRS's
        // `?secret=…`, Tencent's `txSecret=…`) are published as `***`.
        let redacted = livehook::redact::Redactor::default().redact_value(&mut sent);
        if e["data"]["raw"] != sent {
            fail(format!(
                "data.raw {} differs from the body sent",
                e["data"]["raw"]
            ));
        }
        let sent_text = String::from_utf8_lossy(&body);
        if !signed && !redacted && !scrubbed && !m.message.contains(sent_text.trim()) {
            fail("data.raw is not the body exactly as received".into());
        }

        let attr = |k: &str| m.attributes.get(k).map(String::as_str);
        if attr("provider") != Some(sample.provider.as_str()) {
            fail(format!("attribute provider {:?}", attr("provider")));
        }
        if attr("type") != Some(event_type) {
            fail(format!(
                "attribute type {:?}, expected {event_type}",
                attr("type")
            ));
        }
        let stream = outgoing.stream.as_deref().filter(|s| !s.is_empty());
        if attr("stream") != stream {
            fail(format!(
                "attribute stream {:?}, expected {stream:?}",
                attr("stream")
            ));
        }
        if let Some(stream) = stream
            && e["subject"] != format!("{}/{stream}", sample.provider)
        {
            fail(format!("subject {} of a stream event", e["subject"]));
        }
        let extra: Vec<_> = m
            .attributes
            .keys()
            .filter(|k| !["provider", "type", "stream"].contains(&k.as_str()))
            .collect();
        if !extra.is_empty() {
            fail(format!("unexpected attributes {extra:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} samples failed:\n{}",
        failures.len(),
        samples.len(),
        failures.join("\n")
    );
    eprintln!("{} samples published", samples.len());
}

/// Test 10: after a success the record lives for the retention and holds
/// the published envelope, its routing facts and the provider's facts.
#[tokio::test]
async fn the_stored_record_after_success() {
    let stack = Stack::new("stored").await;
    let retention = 172_800; // the floor: two days
    let retention_text = retention.to_string();
    for (provider, event) in [
        ("tencent", "push"),
        ("aodianyun", "start_publish"),
        ("bililive", "SessionStarted"),
        ("lal", "on_pub_start"),
    ] {
        let sample = sample(provider, event);
        let pipeline = stack.pipeline_with(
            provider,
            &[("LIVEHOOK_RETENTION_SECONDS", retention_text.as_str())],
        );
        let body = sample_body(&sample, fresh_t());
        let expected = adapter_view_as(&stack, &sample, &body, "stored");
        let before = unix_now();
        let reply = handle(&pipeline, sample_request_as(&sample, &body, "stored")).await;
        let after = unix_now();
        assert_eq!(reply.status, 200, "{provider}/{event}: {}", reply.body);
        let messages = stack.messages().await;
        assert_eq!(messages.len(), 1, "{provider}/{event}");

        let item = stack
            .item(&expected.key)
            .await
            .unwrap_or_else(|| panic!("{provider}/{event}: no record for {}", expected.key));
        let ctx = format!("{provider}/{event}: {item:?}");
        assert!(
            !item.contains_key("status"),
            "no state to move through: {ctx}"
        );
        let expires_at = item_number(&item, "expires_at").expect("expires_at");
        assert!(
            (before + retention..=after + retention).contains(&expires_at),
            "expires_at {expires_at} not now + {retention} s ({before}..{after}): {ctx}"
        );
        assert_eq!(
            item_string(&item, "envelope"),
            Some(messages[0].message.as_str()),
            "stored envelope differs from the published message: {ctx}"
        );
        assert_eq!(item_string(&item, "provider"), Some(provider), "{ctx}");
        assert_eq!(
            item_string(&item, "type"),
            Some(expected.event_type().as_str()),
            "{ctx}"
        );
        assert!(item_string(&item, "first_seen").is_some(), "{ctx}");
        assert!(item_number(&item, "first_seen_ms").is_some(), "{ctx}");
        assert_eq!(
            item_string(&item, "subject"),
            messages[0].envelope["subject"].as_str(),
            "{ctx}"
        );
        let sent: Value = serde_json::from_slice(&body).expect("JSON");
        match provider {
            "aodianyun" => {
                let want = sent["retry_times"].as_i64();
                assert!(want.is_some(), "the sample has no retry_times");
                assert_eq!(item_number(&item, "retry_times"), want, "{ctx}");
            }
            "tencent" => {
                let want = match &sent["sequence"] {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                };
                assert!(want.is_some(), "the sample has no sequence");
                assert_eq!(item_string(&item, "sequence"), want.as_deref(), "{ctx}");
            }
            _ => {
                assert!(!item.contains_key("retry_times"), "{ctx}");
                assert!(!item.contains_key("sequence"), "{ctx}");
            }
        }
    }
}
