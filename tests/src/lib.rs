//! livehook's integration tests live in `it/` beside this folder: one test
//! binary, a module per concern. What they share (the emulator harness,
//! stacks, requests) is the `livehook-testkit` crate.
