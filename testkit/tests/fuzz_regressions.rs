//! Replays every input the fuzzers ever crashed on (and every sample, as the
//! fuzzers' seeds) through the same harness: each must now return normally.
//!
//! Crashing inputs are kept in `testkit/tests/fuzz-regressions/<provider>/`,
//! named `adapter-…` or `request-…` after the target that found them
//! (`scripts/fuzz.sh` copies them there).

use std::path::Path;

use livehook::providers::by_name;
use livehook_testkit::fuzzing::{gate, run_adapter, run_request, verifier};
use livehook_testkit::samples::{events_dir, load_dir};

#[test]
fn kept_crash_inputs_no_longer_crash() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fuzz-regressions");
    let mut replayed = 0;
    for provider_dir in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        let name = provider_dir.file_name().to_string_lossy().into_owned();
        let Some(provider) = by_name(&name) else {
            continue;
        };
        for input in std::fs::read_dir(provider_dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let data = std::fs::read(input.path()).expect("reading a kept input");
            let file = input.file_name().to_string_lossy().into_owned();
            if file.starts_with("request-") {
                run_request(&gate(provider), &data);
            } else {
                run_adapter(provider, &verifier(), &data);
            }
            replayed += 1;
        }
    }
    println!("replayed {replayed} kept fuzz inputs");
}

#[test]
fn seeds_run_through_both_harnesses() {
    let samples = load_dir(&events_dir()).expect("events/ is readable");
    assert!(!samples.is_empty());
    for sample in samples {
        let provider = by_name(&sample.provider).expect("a known provider");
        let adapter_input = if sample.provider == "lal" {
            [sample.kind().as_bytes(), b"\n", &sample.body].concat()
        } else {
            sample.body.clone()
        };
        run_adapter(provider, &verifier(), &adapter_input);
        let request_input = [
            b"\x02\0",
            sample.path().as_bytes(),
            b"\0token=fuzz-token\0content-type: application/json\0",
            &sample.body,
        ]
        .concat();
        run_request(&gate(provider), &request_input);
    }
}
