//! livehook's integration tests, one module per concern, linked as one
//! binary: the AWS SDK is linked once, and one emulator (`moto()`) serves
//! every test of the process. Each test works on its own `Stack` (table,
//! topic, queue), and the emulator's faults name their target, so tests run
//! in parallel without touching each other's resources.

mod bombs;
mod emulator;
mod failures;
mod hostile;
mod idempotency;
mod nothing_lost;
mod outbox;
mod samples;
mod signed;
mod stream_keys;
