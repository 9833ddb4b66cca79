//! livehook's shared crate.
//!
//! Everything a livehook Lambda function does lives here; the binaries in
//! `functions/` only pick their [`providers::Provider`] and call
//! [`lambda::serve`].
//!
//! The flow of one request ([`pipeline::Pipeline::handle`]):
//! method and size checks → the provider adapter authenticates, parses and
//! normalizes the delivery into a [`event::CloudEvent`] with a stable
//! idempotency key → one conditional write of the whole [`record::Record`]
//! ([`store::IdempotencyStore`]) → the provider's own success reply. The
//! table is the outbox: its stream drives the [`relay`], which publishes
//! through the [`sink::EventSink`].
//!
//! Pure logic (adapters, auth, keys, event model) needs no network and is
//! unit-tested here; the AWS implementations are tested against a real
//! emulator in the workspace's `tests/` crate.

pub mod auth;
pub mod config;
pub mod dead_letter;
pub mod error;
pub mod event;
pub mod http_api;
pub mod inbound;
mod json;
pub mod key;
pub mod key_use;
pub mod lambda;
pub mod pipeline;
pub mod proof;
pub mod providers;
pub mod record;
pub mod redact;
pub mod relay;
pub mod sink;
pub mod store;
pub mod stream_event;
pub mod stream_keys;
pub mod telemetry;

pub use error::{AuthFailure, Rejection};
pub use event::{CloudEvent, EventData, EventType};
pub use providers::{Delivery, Provider};
