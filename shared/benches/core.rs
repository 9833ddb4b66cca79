//! Per-event core cost: authenticate + parse + normalize + key (`accept`),
//! and the same plus serializing the envelope(s) as the pipeline does, for
//! every sample in `events/`; what a 1 MiB form costs the gate with a wrong
//! token and with the right one (which decodes it); redaction of the
//! largest payload (ZLMediaKit's configuration dump) and of one with
//! nothing to mask.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use lambda_http::http::HeaderMap;
use livehook::auth::{Secret, TokenSet, Verifier};
use livehook::inbound::Inbound;
use livehook::providers::{Provider, by_name};
use livehook_testkit::samples::{events_dir, load_dir};
use time::OffsetDateTime;

const TOKEN: &str = "bench-token";
const TENCENT_KEY: &str = "bench-key";

fn core(c: &mut Criterion) {
    let verifier = Verifier {
        tokens: TokenSet::parse(TOKEN),
        tencent_key: Some(Secret::new(TENCENT_KEY)),
        allow_unauthenticated: false,
        ..Verifier::default()
    };
    let received_at = OffsetDateTime::now_utc();
    let t = received_at.unix_timestamp() + 600;
    let headers = HeaderMap::new();
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
                body: sample.body_signed(TENCENT_KEY, t),
            })
        })
        .collect();
    for p in &prepared {
        let request = p.inbound(&headers, received_at);
        p.provider
            .accept(&request, &verifier)
            .expect("every sample is accepted");
    }

    let mut group = c.benchmark_group("core");
    for p in &prepared {
        let request = p.inbound(&headers, received_at);
        group.bench_function(&p.name, |b| {
            b.iter(|| p.provider.accept(black_box(&request), &verifier))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("core+envelope");
    for p in &prepared {
        let request = p.inbound(&headers, received_at);
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
}

impl Prepared {
    fn inbound<'a>(&'a self, headers: &'a HeaderMap, received_at: OffsetDateTime) -> Inbound<'a> {
        Inbound {
            path: &self.path,
            query: &self.query,
            headers,
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
