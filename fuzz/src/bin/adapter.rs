//! Fuzzes one adapter (`LIVEHOOK_FUZZ_PROVIDER`) with arbitrary bodies.
fn main() {
    let provider = livehook_fuzz::provider();
    let verifier = livehook_fuzz::verifier();
    afl::fuzz!(|data: &[u8]| livehook_fuzz::run_adapter(provider, &verifier, data));
}
