//! Fuzzes the full request path before AWS (method, path, query, headers,
//! body, decoding, adapter, replay window) for `LIVEHOOK_FUZZ_PROVIDER`.
fn main() {
    let gate = livehook_fuzz::gate(livehook_fuzz::provider());
    afl::fuzz!(|data: &[u8]| livehook_fuzz::run_request(&gate, data));
}
