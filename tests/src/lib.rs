//! livehook's integration tests live in `tests/` beside this file; what they
//! share (the emulator harness, stacks, requests) is the `livehook-testkit`
//! crate.
