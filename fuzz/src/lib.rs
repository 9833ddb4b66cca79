//! The fuzz targets' harness lives in the test kit (`livehook_testkit::fuzzing`),
//! so the regression test replays crashes exactly as the fuzzer ran them.
pub use livehook_testkit::fuzzing::*;
