//! What the benchmark binaries share: the local Lambda Runtime API, the
//! emulator's request recorder, `/proc` sampling and statistics.

pub mod events;
pub mod proc;
pub mod recorder;
pub mod runtime_api;
pub mod stats;
