//! Per-event core cost: authenticate + parse + normalize + key (`accept`),
//! and the same plus serializing the envelope(s) as the pipeline does, for
//! every sample in `events/`.

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
