//! Per-event core cost: authenticate + parse + normalize + key (`accept`),
//! and the same plus serializing the envelope(s) as the pipeline does, for
//! every sample in `events/`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use lambda_http::http::HeaderMap;
use livehook::auth::{Secret, TokenSet, Verifier};
use livehook::inbound::Inbound;
use livehook::providers::by_name;
use livehook::samples::{events_dir, load_dir};
use time::OffsetDateTime;

const TOKEN: &str = "bench-token";
const TENCENT_KEY: &str = "bench-key";

fn core(c: &mut Criterion) {
    let verifier = Verifier {
        tokens: TokenSet::parse(TOKEN),
        tencent_key: Some(Secret::new(TENCENT_KEY)),
        allow_unauthenticated: false,
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

    let mut group = c.benchmark_group("core");
    for sample in &samples {
        let Some(provider) = by_name(&sample.provider) else {
            continue;
        };
        let (path, query, body) = (
            sample.path(),
            sample.query(TOKEN),
            sample.body_signed(TENCENT_KEY, t),
        );
        let inbound = Inbound {
            path: &path,
            query: &query,
            headers: &headers,
            body: &body,
            received_at,
        };
        provider
            .accept(&inbound, &verifier)
            .expect("every sample is accepted");
        group.bench_function(format!("{}/{}", sample.provider, sample.event), |b| {
            b.iter(|| provider.accept(black_box(&inbound), &verifier))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("core+envelope");
    for sample in &samples {
        let Some(provider) = by_name(&sample.provider) else {
            continue;
        };
        let (path, query, body) = (
            sample.path(),
            sample.query(TOKEN),
            sample.body_signed(TENCENT_KEY, t),
        );
        let inbound = Inbound {
            path: &path,
            query: &query,
            headers: &headers,
            body: &body,
            received_at,
        };
        group.bench_function(format!("{}/{}", sample.provider, sample.event), |b| {
            b.iter(|| {
                let delivery = provider
                    .accept(black_box(&inbound), &verifier)
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

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(800))
        .sample_size(20);
    targets = core
}
criterion_main!(benches);
