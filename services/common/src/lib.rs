//! What every Herald service needs and none of them owns: configuration from the
//! environment, the NATS connection and the provisioning of streams, consumers and
//! buckets, the health routes, the KV mirror, graceful shutdown and log setup.
//! No business logic lives here.
//!
//! # Layout
//! - [`config`]: the [`Env`](config::Env) trait, typed parsing, [`CommonConfig`](config::CommonConfig).
//! - [`nats`]: connecting (and refusing servers older than 2.12) and the
//!   [`topology`](nats::Topology): every stream, consumer and bucket Herald uses.
//! - [`publish`]: the one way to publish to JetStream (message id, trace
//!   context, awaited ack) and its typed error.
//! - [`nats_auth`]: credentials and TLS for NATS, and the server's refusals told by
//!   the variable to change.
//! - [`mirror`]: an in-memory copy of a KV bucket, kept current by a watch.
//! - [`registry`]: the webhook registry every service reads and changes
//!   (compare-and-set).
//! - [`consume`]: the loop every consumer runs, bounded redelivery, and parking in
//!   `REJECTED`.
//! - [`secrets`]: sealing secrets at rest.
//! - [`health`]: `/healthz`, `/readyz` and `/metrics`.
//! - [`metrics`]: the Prometheus metrics every service records.
//! - [`shutdown`]: the signal that starts a drain, and serving HTTP until it.
//! - [`startup`]: each start-up step tried again until NATS is ready.
//! - [`service`]: a started service and running it.
//! - [`reply`]: request/reply responders.
//! - [`telemetry`]: structured logs and OpenTelemetry traces.
//! - [`trace`]: W3C trace context in NATS headers.

#![forbid(unsafe_code)]

pub mod bundle;
pub mod config;
pub mod consume;
pub mod health;
pub mod metrics;
pub mod mirror;
pub mod nats;
pub mod nats_auth;
pub mod publish;
pub mod registry;
pub mod reply;
pub mod secrets;
pub mod service;
pub mod shutdown;
pub mod startup;
pub mod telemetry;
pub mod trace;

pub use tokio_util::sync::CancellationToken;

/// Failures of the shared infrastructure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect { url: String, reason: String },
    /// The server would not have Herald as configured: a credential or certificate
    /// it refused, or one it needs. `reason` names the variable to change.
    #[error("{reason}")]
    Refused { reason: String },
    #[error(
        "the NATS server at {url} runs {version}; Herald needs nats-server 2.12 or newer (message scheduling)"
    )]
    ServerTooOld { url: String, version: String },
    #[error(
        "the NATS server at {url} allows messages of {max_payload} bytes; Herald needs max_payload of at least 128KB (events of 64 KiB plus their envelope; the stock 1MB allows events of 960 KiB)"
    )]
    PayloadTooSmall { url: String, max_payload: usize },
    #[error("the NATS server at {url} does not have JetStream enabled (start it with -js)")]
    NoJetStream { url: String },
    #[error("cannot provision {what}: {reason}")]
    Provision { what: String, reason: String },
    #[error("NATS: {0}")]
    Nats(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// Shutdown was asked for before the service had started.
    #[error("shut down while starting")]
    Stopped,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn nats(err: impl std::fmt::Display) -> Self {
        Error::Nats(err.to_string())
    }

    /// Whether the fix is in Herald's configuration (exit status 64): a bad value,
    /// or a credential or certificate the NATS server refused.
    pub fn is_configuration(&self) -> bool {
        matches!(self, Error::Config(_) | Error::Refused { .. })
    }
}
