//! The fuzz targets' harness lives in the shared crate (`livehook::fuzzing`),
//! so the regression test replays crashes exactly as the fuzzer ran them.
pub use livehook::fuzzing::*;
