//! What the benchmark binaries share: the local Lambda Runtime API, the
//! emulator's request recorder and its time per request, `/proc`
//! sampling, statistics, and the order of paired runs.

pub mod emulator_time;
pub mod events;
pub mod pairing;
pub mod proc;
pub mod recorder;
pub mod runtime_api;
pub mod stats;

/// The signing secret the benchmarks configure and sign with, for every
/// signed platform (a `KEY:SECRET` pair: LiveKit reads an API key and its
/// secret, the others the whole text).
pub const SIGNING_SECRET: &str = "bench-key:bench-signing-secret-0123456789";

/// Each signed platform's secret variable, set to [`SIGNING_SECRET`]: what
/// a function of the registry needs in its environment besides the token
/// and Tencent's key (every function gets them all, as each reads its own).
pub fn signing_env() -> Vec<(&'static str, &'static str)> {
    livehook::providers::ALL
        .iter()
        .filter_map(|p| match p.auth_scheme() {
            livehook::providers::AuthScheme::Signed(proof) => {
                Some((proof.secret_variable, SIGNING_SECRET))
            }
            _ => None,
        })
        .collect()
}
