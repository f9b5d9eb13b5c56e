//! Herald retry-scheduler: after a failed attempt, decides when the next one runs
//! and hands the next task to the broker to hold until then (NATS message
//! scheduling, `Nats-Schedule: @at <time>`), so no retry lives only in a process.
//!
//! # Layout
//! - [`config`]: the retry schedule.
//! - [`policy`]: the delay before each retry (jitter, `Retry-After`).
//! - [`scheduler`]: the consumer of failed attempts.
//! - [`disable`]: disabling a webhook that stays dead, and announcing it.

#![forbid(unsafe_code)]

pub mod config;
pub mod disable;
pub mod policy;
pub mod scheduler;

use std::sync::Arc;

use herald_common::health::Readiness;
use herald_common::nats;
use herald_common::registry::{Registry, Secrets};
use herald_common::startup::Startup;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use herald_common::service::Started;

pub use herald_common::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Connects and provisions, each step tried again while NATS is not ready (see
/// [`Startup`]), and prepares the consumer of failed attempts.
pub async fn start(
    config: Config,
    startup: &Startup,
    shutdown: CancellationToken,
) -> Result<Started> {
    let (connection, js, topology) = nats::start(
        &config.common,
        herald_proto::names::consumer::client::RETRY_SCHEDULER,
        startup,
    )
    .await?;
    let (consumer, registry) = startup
        .retry("opening buckets and consumers", || async {
            let consumer = scheduler::consumer().provision(&js, &topology).await?;
            // Secrets are never opened here; the registry keeps them sealed.
            let registry = Registry::open(&js, &topology, Secrets::Sealed).await?;
            Ok::<_, Error>((consumer, registry))
        })
        .await?;
    let registry = registry.mirrored(shutdown.clone());
    let readiness = Readiness::new(
        connection,
        &[nats::OUTCOMES_STREAM, nats::DELIVERIES_STREAM],
    );
    let state = scheduler::State {
        js,
        schedule: Arc::new(config.schedule),
        registry,
        redelivery: config.common.redelivery,
    };
    let work = Box::pin(async move {
        // Each webhook's own schedule must be known before deciding.
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = state.registry.mirror().wait_ready() => {}
        }
        let client = state.js.client();
        scheduler::run(consumer, state, shutdown).await;
        herald_common::consume::flush(&client).await;
    });
    Ok(Started { readiness, work })
}

/// Runs the service until `shutdown`, serving health on `listener` when given.
pub async fn run(
    config: Config,
    listener: Option<TcpListener>,
    shutdown: CancellationToken,
) -> Result<()> {
    let startup = Startup::new(shutdown.clone());
    match start(config, &startup, shutdown.clone()).await {
        Err(Error::Stopped) => Ok(()),
        started => {
            startup.finish();
            started?.run(listener, shutdown).await;
            Ok(())
        }
    }
}
