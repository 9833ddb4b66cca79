//! The schemas of `schemas/` against what the adapters really make: every
//! sample of `events/` through its provider's adapter (and a split lal
//! `on_update`), as the gate stamps it, validates; envelopes that drifted
//! from the event model do not.

use livehook::event::DataSchemas;
use livehook::inbound::Inbound;
use livehook::providers::{Delivery, by_name, chosen_header_map};
use livehook_testkit::catalog::validate_envelope;
use livehook_testkit::fuzzing::{TENCENT_KEY, TOKEN, now, verifier};
use livehook_testkit::samples::{Sample, events_dir, load_dir};
use serde_json::{Value, json};

/// What the adapter makes of `body`, with `dataschema` set as the gate sets it.
fn deliver(sample: &Sample, body: &[u8], max_message_bytes: usize) -> Delivery {
    let provider = by_name(&sample.provider).unwrap();
    // The headers a platform chooses before signing (Twitch's message id and type).
    let headers = chosen_header_map(provider, body);
    let path = sample.path();
    let query = sample.query(TOKEN);
    let request_id = format!("{}/{}", sample.provider, sample.event);
    let inbound = Inbound {
        path: &path,
        query: &query,
        headers: &headers,
        body,
        received_at: now(),
        request_id: &request_id,
        max_message_bytes,
        settings: &livehook::providers::settings::DEFAULTS,
    };
    let mut delivery = provider
        .accept(&inbound, &verifier())
        .unwrap_or_else(|r| panic!("{}/{} refused: {r:?}", sample.provider, sample.event));
    DataSchemas::default().stamp(delivery.events.iter_mut().map(|o| &mut o.event));
    delivery
}

fn envelopes(delivery: &Delivery) -> Vec<Value> {
    delivery
        .events
        .iter()
        .map(|o| serde_json::to_value(&o.event).unwrap())
        .collect()
}

fn signed(sample: &Sample) -> Vec<u8> {
    sample.body_signed(TENCENT_KEY, now().unix_timestamp() + 600)
}

#[test]
fn every_sample_through_its_adapter_matches_its_schema() {
    let samples = load_dir(&events_dir()).unwrap();
    assert!(samples.len() > 40, "{} samples", samples.len());
    let mut failures = Vec::new();
    for sample in &samples {
        for envelope in envelopes(&deliver(sample, &signed(sample), 262_144)) {
            if let Err(e) = validate_envelope(&envelope) {
                failures.push(format!(
                    "events/{}/{}.json: {e}",
                    sample.provider, sample.event
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_parts_of_a_split_message_match_their_schema() {
    let samples = load_dir(&events_dir()).unwrap();
    let update = samples
        .iter()
        .find(|s| s.provider == "lal" && s.event == "on_update")
        .expect("events/lal/on_update.json");
    let mut body: Value = serde_json::from_slice(&update.body).unwrap();
    let group = body["groups"][0].clone();
    body["groups"] = Value::Array(vec![group; 40]);
    let body = serde_json::to_vec(&body).unwrap();
    let delivery = deliver(update, &body, 16 * 1024);
    assert!(delivery.events.len() > 1, "not split");
    for envelope in envelopes(&delivery) {
        assert!(envelope["data"]["part"]["count"].is_u64());
        validate_envelope(&envelope).unwrap();
    }
}

/// A valid envelope (lal `on_pub_start`) to break.
fn valid() -> Value {
    let samples = load_dir(&events_dir()).unwrap();
    let sample = samples
        .iter()
        .find(|s| s.provider == "lal" && s.event == "on_pub_start")
        .unwrap();
    let envelope = envelopes(&deliver(sample, &sample.body, 262_144)).remove(0);
    validate_envelope(&envelope).unwrap();
    envelope
}

/// A change that takes an envelope away from the event model.
type Spoil = fn(&mut Value);

#[test]
fn envelopes_that_drifted_from_the_model_are_refused() {
    let cases: [(&str, Spoil); 9] = [
        ("an unknown data field", |e| {
            e["data"]["stream_key"] = json!("x")
        }),
        ("an unknown envelope attribute", |e| {
            e["traceparent"] = json!("00-1")
        }),
        ("a null optional field", |e| e["data"]["app"] = Value::Null),
        ("a field of the wrong type", |e| {
            e["data"]["has_viewers"] = json!("no")
        }),
        ("no dataschema", |e| {
            e.as_object_mut().unwrap().remove("dataschema");
        }),
        ("a dataschema naming another type", |e| {
            e["dataschema"] = json!(DataSchemas::default().uri(livehook::EventType::ServerStats))
        }),
        ("an unknown type", |e| e["type"] = json!("stream.exploded")),
        ("a time that is no date-time", |e| {
            e["time"] = json!("yesterday")
        }),
        ("no raw", |e| {
            e["data"].as_object_mut().unwrap().remove("raw");
        }),
    ];
    for (what, spoil) in cases {
        let mut envelope = valid();
        spoil(&mut envelope);
        assert!(
            validate_envelope(&envelope).is_err(),
            "{what} passed: {envelope}"
        );
    }
}

#[test]
fn any_raw_payload_and_any_other_base_are_accepted() {
    let mut envelope = valid();
    envelope["data"]["raw"] = json!([1, "two", {"three": null}]);
    envelope["dataschema"] = json!("https://schemas.example/v2/data/stream.started.json");
    validate_envelope(&envelope).unwrap();
}
