//! livehook's test kit: what the integration tests (`tests/`), the CLI's
//! tests and the benchmarks share.
//!
//! Everything is real: a `moto_server` process (one per test process, started
//! on first use, killed when the binary exits), the AWS SDK clients the
//! functions use, [`DynamoStore`] and [`SnsSink`], and API Gateway HTTP API
//! (payload v2) events turned into `lambda_http::Request`s exactly as the
//! Lambda runtime does. Events reach the topic as in AWS: through the
//! table's stream, read by [`livehook_pump::Pump`] (the local event source
//! mapping) and handed to the relay, which runs in-process. What SNS
//! publishes is read back from an SQS queue subscribed to the topic.
//!
//! Every [`Stack`] has its own table, topic and queue, so tests of one binary
//! run in parallel against the one emulator.

use livehook::relay::Relay;

pub use livehook::config::Config;
pub use livehook::pipeline::Pipeline;
pub use livehook::providers::{Delivery, Provider};
pub use samples::Sample;

pub mod apigw;
pub mod catalog;
pub mod clients;
pub mod fixtures;
pub mod fuzzing;
pub mod logs;
pub mod moto;
pub mod samples;
pub mod serve;
pub mod stack;

pub use apigw::*;
pub use clients::*;
pub use fixtures::*;
pub use livehook::dead_letter::{DeadLetters, DynamoDeadLetters};
pub use livehook::key_use::{DynamoKeyUses, KeyUses};
pub use livehook::sink::SnsSink;
pub use livehook::store::DynamoStore;
pub use logs::*;
pub use moto::*;
pub use serve::*;
pub use stack::*;

/// The `?token=` every token provider is configured with.
pub const TOKEN: &str = "it-token.0123~abcdef";
/// The Tencent callback key.
pub const TENCENT_KEY: &str = "it-tencent-key";
/// Every signed platform's secrets, comma-separated as during a rotation:
/// `KEY:SECRET` pairs (LiveKit reads an API key and its secret, the other
/// platforms the whole text).
pub const SIGNING_SECRETS: &str = "it-key-new:it-signing-new,it-key-old:it-signing-old";
/// The first of [`SIGNING_SECRETS`]: what the tools sign with.
pub const SIGNING_SECRET: &str = "it-key-new:it-signing-new";
/// The second: a platform still signing with the secret being rotated out.
pub const OLD_SIGNING_SECRET: &str = "it-key-old:it-signing-old";

/// The pipeline under test: the production store.
pub type LivePipeline = Pipeline<DynamoStore>;

/// The relay under test: the production sink and dead-letter table.
pub type LiveRelay = Relay<SnsSink, DynamoDeadLetters, DynamoKeyUses>;
