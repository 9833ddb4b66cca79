//! Per-event core cost: authenticate + parse + normalize + key (`accept`),
//! and the same plus serializing the envelope(s) as the pipeline does, for
//! every sample in `events/`; a signed platform's whole gate (its proof,
//! then its adapter) for each of its samples; what a 1 MiB form costs the gate with a wrong
//! token and with the right one (which decodes it); redaction of the
//! largest payload (ZLMediaKit's configuration dump) and of one with
//! nothing to mask; the relay's own work on a batch of 100 stream records
//! (reading the images back, packing `PublishBatch` calls) with a sink
//! that takes everything, so no SNS.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use lambda_http::http::HeaderMap;
use livehook::auth::{Secret, TokenSet, Verifier};
use livehook::inbound::Inbound;
use livehook::proof::SigningSecrets;
use livehook::providers::{AuthScheme, Provider, by_name, signed_headers};
use livehook_testkit::samples::{events_dir, load_dir};
use time::OffsetDateTime;

const TOKEN: &str = "bench-token";
const TENCENT_KEY: &str = "bench-key";
/// Every signed platform's secret (a `KEY:SECRET` pair, for LiveKit).
const SIGNING: &str = "bench-key:bench-signing-secret";

fn core(c: &mut Criterion) {
    let verifier = Verifier {
        tokens: TokenSet::parse(TOKEN),
        tencent_key: Some(Secret::new(TENCENT_KEY)),
        allow_unauthenticated: false,
        ..Verifier::default()
    };
    let received_at = OffsetDateTime::now_utc();
    let t = received_at.unix_timestamp() + 600;
    let samples = load_dir(&events_dir()).expect("events/ is readable");
    assert!(
        !samples.is_empty(),
        "no samples in {}",
        events_dir().display()
    );

    // Every sample as the request its provider would send.
    let prepared: Vec<Prepared> = samples
        .iter()
        .filter_map(|sample| {
            Some(Prepared {
                name: format!("{}/{}", sample.provider, sample.event),
                provider: by_name(&sample.provider)?,
                path: sample.path(),
                query: sample.query(TOKEN),
                body: sample.body_signed_with(TENCENT_KEY, SIGNING, t),
                headers: livehook::providers::chosen_header_map(
                    by_name(&sample.provider)?,
                    &sample.body,
                ),
            })
        })
        .collect();
    for p in &prepared {
        let request = p.inbound(received_at);
        p.provider
            .accept(&request, &verifier)
            .expect("every sample is accepted");
    }

    let mut group = c.benchmark_group("core");
    for p in &prepared {
        let request = p.inbound(received_at);
        group.bench_function(&p.name, |b| {
            b.iter(|| p.provider.accept(black_box(&request), &verifier))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("core+envelope");
    for p in &prepared {
        let request = p.inbound(received_at);
        group.bench_function(&p.name, |b| {
            b.iter(|| {
                let delivery = p
                    .provider
                    .accept(black_box(&request), &verifier)
                    .expect("accepted");
                delivery
                    .events
                    .iter()
                    .map(|o| serde_json::to_string(&o.event).map_or(0, |s| s.len()))
                    .sum::<usize>()
            })
        });
    }
    group.finish();

    // A signed platform's whole gate: its proof over the body (HMAC, or
    // LiveKit's JWT), then its adapter.
    let mut group = c.benchmark_group("gate+proof");
    for p in prepared
        .iter()
        .filter(|p| matches!(p.provider.auth_scheme(), AuthScheme::Signed(_)))
    {
        let imitation = livehook::providers::imitate::of(p.provider).expect("registered");
        let gate = livehook::pipeline::Gate::new(
            p.provider,
            Verifier {
                signing: SigningSecrets::parse(SIGNING),
                ..verifier.clone()
            },
            livehook::pipeline::Limits {
                max_body_bytes: 1 << 20,
                retention: Duration::from_secs(86_400),
                replay_window: Duration::ZERO,
                max_message_bytes: 262_144,
            },
        );
        // As the platform sends it: a POST, or a GET with the fields in the
        // query (Alibaba's stream callbacks).
        let on_wire = livehook::providers::wire(imitation, &p.body);
        let signed = signed_headers(
            imitation,
            &on_wire.body,
            Some(SIGNING),
            received_at,
            on_wire.target("bench.local"),
        );
        let query = if on_wire.query.is_empty() {
            String::new()
        } else {
            format!("?{}", on_wire.query)
        };
        let mut request = lambda_http::http::Request::builder()
            .method(on_wire.method)
            .uri(format!("https://bench.local{}{query}", p.path))
            .header("host", "bench.local");
        for (name, value) in &signed {
            request = request.header(name.as_str(), value.as_str());
        }
        let request = request
            .body(lambda_http::Body::from(on_wire.body.clone()))
            .expect("a request");
        gate.admit(&request, received_at, "bench")
            .expect("a signed sample is admitted");
        group.bench_function(&p.name, |b| {
            b.iter(|| {
                gate.admit(black_box(&request), received_at, "bench")
                    .is_ok()
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("gate");
    let gate = livehook::pipeline::Gate::new(
        by_name("nginx").expect("nginx is registered"),
        verifier.clone(),
        livehook::pipeline::Limits {
            max_body_bytes: 1 << 20,
            retention: Duration::from_secs(86_400),
            replay_window: Duration::ZERO,
            max_message_bytes: 262_144,
        },
    );
    // 1 MiB of distinct keys: the most a form can cost to decode.
    let mut form = String::new();
    let mut i = 0u32;
    while form.len() < (1 << 20) - 16 {
        form.push_str(&format!("k{i:x}=&"));
        i += 1;
    }
    for (name, token) in [
        ("form-1MiB/wrong-token", "wrong-token"),
        ("form-1MiB/right-token", TOKEN),
    ] {
        let request = form_request(&format!("token={token}"), &form);
        group.bench_function(name, |b| {
            b.iter(|| {
                gate.admit(black_box(&request), received_at, "bench")
                    .is_err()
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("redact");
    let redactor = livehook::redact::Redactor::default()
        .with_secrets([TOKEN, TENCENT_KEY])
        .expect("two secrets make one search");
    for (name, sample) in [
        (
            "zlmediakit/on_server_started",
            "zlmediakit/on_server_started",
        ),
        (
            "bililive/SessionStarted (nothing to mask)",
            "bililive/SessionStarted",
        ),
    ] {
        let Some(p) = prepared.iter().find(|p| p.name == sample) else {
            continue;
        };
        let raw: Box<serde_json::value::RawValue> =
            serde_json::from_slice(&p.body).expect("samples are JSON");
        group.bench_function(name, |b| b.iter(|| redactor.redact_raw(black_box(&raw))));
    }
    group.finish();

    let mut group = c.benchmark_group("relay");
    if let Some(p) = prepared.iter().find(|p| p.name == "zlmediakit/on_publish") {
        let delivery = p
            .provider
            .accept(&p.inbound(received_at), &verifier)
            .expect("every sample is accepted");
        let envelope = serde_json::to_string(&delivery.events[0].event).expect("an envelope");
        let event = stream_batch(&envelope, 100, received_at);
        let relay = livehook::relay::Relay::new(Accepting);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let deadline = std::time::Instant::now() + Duration::from_secs(3600);
        group.bench_function("batch-100/zlmediakit-on_publish", |b| {
            b.iter(|| runtime.block_on(relay.relay_until(black_box(&event), Some(deadline))))
        });
    }
    group.finish();
}

/// A sink that publishes everything at once: the relay's own cost.
struct Accepting;

impl livehook::sink::EventSink for Accepting {
    fn publish(
        &self,
        messages: &[livehook::sink::Message<'_>],
    ) -> impl std::future::Future<Output = Vec<livehook::sink::Sent>> + Send {
        let published = messages
            .iter()
            .map(|_| livehook::sink::Sent::Published)
            .collect();
        std::future::ready(published)
    }
}

/// A stream batch of `count` new records, each holding `envelope` once
/// (as the table's stream hands them to the relay).
fn stream_batch(
    envelope: &str,
    count: usize,
    now: OffsetDateTime,
) -> livehook::stream_event::StreamBatch {
    let records: Vec<serde_json::Value> = (0..count)
        .map(|n| {
            let key = format!("{n:032x}");
            let message = livehook::sink::Message {
                body: envelope,
                id: &key,
                provider: "zlmediakit",
                event_type: "stream.started",
                stream: Some("live/test"),
                subject: "zlmediakit/live/test",
                replay: false,
                check: false,
            };
            let record = livehook::record::Record::build(livehook::record::RecordParts {
                key: &key,
                messages: &[message],
                recorded: &[],
                now,
                expires_at: now + Duration::from_secs(86_400),
                dedupe_window: None,
                key_use: None,
            })
            .expect("a record fits");
            let image: serde_dynamo::Item = record.item.into();
            serde_json::json!({
                "eventID": format!("e{n}"), "eventName": "INSERT", "eventVersion": "1.1",
                "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
                "dynamodb": {"ApproximateCreationDateTime": 1767225600.0,
                    "SequenceNumber": format!("{}", 100 + n), "SizeBytes": 1000,
                    "StreamViewType": "NEW_IMAGE", "Keys": {"pk": {"S": key}}, "NewImage": image},
                "eventSourceARN": "arn:aws:dynamodb:us-east-1:1:table/t/stream/x"
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).expect("a stream batch")
}

/// An nginx-rtmp notify as API Gateway hands it to the function.
fn form_request(query: &str, form: &str) -> lambda_http::Request {
    let event = serde_json::json!({
        "version": "2.0", "routeKey": "$default", "rawPath": "/nginx", "rawQueryString": query,
        "headers": {"content-type": "application/x-www-form-urlencoded"},
        "isBase64Encoded": false, "body": form,
        "requestContext": {"accountId": "1", "apiId": "a", "domainName": "x", "domainPrefix": "x",
            "http": {"method": "POST", "path": "/nginx", "protocol": "HTTP/1.0",
                "sourceIp": "127.0.0.1", "userAgent": ""},
            "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "", "timeEpoch": 0}
    });
    lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway event")
}

/// One sample, ready to deliver.
struct Prepared {
    name: String,
    provider: &'static dyn Provider,
    path: String,
    query: String,
    body: Vec<u8>,
    /// What a signed platform chooses before signing (Twitch's message id).
    headers: HeaderMap,
}

impl Prepared {
    fn inbound(&self, received_at: OffsetDateTime) -> Inbound<'_> {
        Inbound {
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            body: &self.body,
            received_at,
            request_id: "bench",
            max_message_bytes: 262_144,
            settings: &livehook::providers::settings::DEFAULTS,
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(800))
        .sample_size(20);
    targets = core
}
criterion_main!(benches);
