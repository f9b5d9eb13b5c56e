//! herald-loadgen: drives a real Herald — a pinned `nats-server` and the `herald`
//! binary as child processes — with events over NATS or HTTP, and measures what
//! reaches a counting webhook receiver: events accepted per second, deliveries per
//! second, end-to-end latency (the producer's send time, carried in each event's
//! `data`, to the receiver's clock), and the peak memory and CPU time of every process.
//!
//! Beside Herald it measures bare yardsticks — nats-server and this load generator
//! alone — so every Herald number is also read as a ratio to what the same machine
//! did in the same session, and judged against the targets.
//!
//! `make bench` runs [`plan::yardsticks`] and then [`plan::bench`] through the
//! `herald-loadgen` binary; the smoke test in `tests/smoke.rs` runs small scenarios
//! and the bare delivery loop as part of `make test`.
//!
//! # Layout
//! - [`stack`]: nats-server and Herald (`herald all`, or the four services apart) as
//!   child processes in a temporary directory, killed on drop.
//! - [`procstat`]: peak RSS and CPU seconds of a process, read from `/proc`.
//! - [`receiver`]: the webhook receiver that counts deliveries and their latency.
//! - [`publisher`]: events stamped with their send time, over NATS or HTTP, at a fixed
//!   rate or as fast as a bounded number in flight allows.
//! - [`scenario`]: one measured run: register webhooks, load, wait for every delivery.
//! - [`bare`]: the yardsticks: a bare pull-POST-ack delivery loop, and bare
//!   JetStream publishes.
//! - [`targets`]: ratios to the yardsticks and the targets, PASS or MISS.
//! - [`report`]: results, as JSON and as Markdown tables.
//! - [`plan`]: the yardsticks, scenarios and stacks `make bench` runs.

#![forbid(unsafe_code)]

pub mod bare;
pub mod plan;
pub mod procstat;
pub mod publisher;
pub mod receiver;
pub mod report;
pub mod scenario;
pub mod stack;
pub mod targets;

use std::time::{SystemTime, UNIX_EPOCH};

/// Why a benchmark run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot start {what}: {reason}")]
    Start { what: String, reason: String },
    #[error("Herald API: {0}")]
    Api(String),
    #[error("NATS: {0}")]
    Nats(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("timed out waiting for {0}")]
    Timeout(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
}

/// The tenant every benchmark event and webhook belongs to.
pub const TENANT: &str = "bench";
/// The tenant's API key (at least 16 characters, as Herald requires).
pub const API_KEY: &str = "bench-key-0123456789abcdef";
/// Base64 of 32 bytes: seals webhook secrets in the benchmark's throwaway store.
pub const SECRET_KEY: &str = "YmVuY2gtb25seS1zZWNyZXQta2V5LTMyLWJ5dGVzISE=";

/// Installs the TLS crypto provider reqwest needs (the workspace builds it without
/// one). Safe to call more than once.
pub fn init_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Microseconds since the Unix epoch: the clock send and receipt times share.
pub fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}
