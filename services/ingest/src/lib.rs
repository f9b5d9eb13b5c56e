//! Herald ingest: the public REST API (`/v1/...`) and the NATS intake where job
//! producers publish events.
//!
//! # Layout
//! Accepting an event is layered the right way round: one core that knows nothing
//! of HTTP or of NATS messages, and two thin doors that decode what they received,
//! call it, and map its answer.
//!
//! - [`intake`]: the core. [`intake::Intake::accept`] validates a producer's draft
//!   for a tenant (rules and catalogue), remembers a job's callback and publishes the
//!   event; [`intake::IntakeError`] says why not, in kinds both doors map: `Invalid`
//!   (HTTP 422, NATS parks the message in `REJECTED`), `Unavailable` and `Internal`
//!   (HTTP 503 and 500, NATS hands the message back to be offered again).
//! - [`api`]: the HTTP API: [`api::app`] builds the router; one module per resource,
//!   one error type ([`api::ApiError`]) that becomes `{"code","detail"}`.
//!   `POST /v1/events` is one door of the intake.
//! - [`nats_intake`]: the other door, the consumer of `ingest.<tenant>.<event_type>`:
//!   it decodes a message ([`nats_intake::decode`]) and parks what cannot be
//!   accepted in `REJECTED` with the reason.
//! - [`catalogue`]: the declared event types (`HERALD_EVENT_TYPES`).
//! - [`config`]: API keys and limits, from the environment.

#![forbid(unsafe_code)]

pub mod api;
pub mod catalogue;
pub mod config;
pub mod intake;
pub mod nats_intake;
pub mod portal;

use herald_common::health::Readiness;
use herald_common::nats;
use herald_common::registry::{Registry, Secrets};
use herald_common::startup::Startup;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::Config;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Common(#[from] herald_common::Error),
    #[error("HTTP server: {0}")]
    Serve(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Connects, provisions, and serves the API on `listener` and the NATS intake until
/// `shutdown`. Returns the readiness checks so a combined process can serve them.
pub async fn run(config: Config, listener: TcpListener, shutdown: CancellationToken) -> Result<()> {
    let startup = Startup::new(shutdown.clone());
    let service = match start(&config, &startup, shutdown.clone()).await {
        Err(Error::Common(herald_common::Error::Stopped)) => return Ok(()),
        started => started?,
    };
    startup.finish();
    let router = api::app(service.state).merge(herald_common::health::routes(service.readiness));
    let intake = tokio::spawn(service.intake);
    let grace = http_grace(config.common.shutdown_timeout);
    herald_common::shutdown::serve(listener, router, shutdown, grace).await?;
    let _ = intake.await;
    Ok(())
}

/// How long open HTTP requests may run on after shutdown: the drain's work window
/// (`HERALD_SHUTDOWN_TIMEOUT` less 5 s), so a request in flight at SIGTERM is
/// answered and the process still exits cleanly within the timeout.
pub fn http_grace(shutdown_timeout: std::time::Duration) -> std::time::Duration {
    herald_common::shutdown::work_window(shutdown_timeout)
}

/// A started ingest: its API state, readiness and the running NATS intake.
pub struct Started {
    pub state: api::AppState,
    pub readiness: Readiness,
    pub intake: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
}

/// Connects and provisions, and prepares the API state and the intake consumer;
/// each step is tried again while NATS is not ready (see [`Startup`]).
pub async fn start(
    config: &Config,
    startup: &Startup,
    shutdown: CancellationToken,
) -> Result<Started> {
    let (connection, js, topology) = nats::start(
        &config.common,
        herald_proto::names::consumer::client::INGEST,
        startup,
    )
    .await?;
    let client = connection.client.clone();
    let max_payload = client.server_info().max_payload;
    let config = &config.clone().fit_to_nats(max_payload);
    tracing::info!(
        max_event_bytes = config.max_body_bytes,
        nats_max_payload = max_payload,
        "largest accepted event: {} bytes (request bodies alike), for NATS messages of up to {} bytes",
        config.max_body_bytes,
        max_payload
    );
    let (registry, consumer, buckets) = startup
        .retry("opening buckets and consumers", || async {
            let registry =
                Registry::open(&js, &topology, Secrets::Open(config.cipher.clone())).await?;
            let consumer = nats_intake::consumer().provision(&js, &topology).await?;
            let buckets = intake::Buckets {
                tenant_secrets: nats::bucket(&js, nats::TENANT_SECRETS_BUCKET).await?,
                job_callbacks: nats::bucket(&js, nats::JOB_CALLBACKS_BUCKET).await?,
            };
            Ok::<_, herald_common::Error>((registry, consumer, buckets))
        })
        .await?;
    let registry = registry.mirrored(shutdown.clone());
    let readiness = Readiness::new(
        connection,
        &[
            nats::INGEST_STREAM,
            nats::EVENTS_STREAM,
            nats::REJECTED_STREAM,
        ],
    )
    .with_check({
        let registry = registry.clone();
        move || {
            let ready = registry.is_ready();
            async move {
                if ready {
                    Ok(())
                } else {
                    Err("webhook registry is loading".to_owned())
                }
            }
        }
    });
    let intake = intake::Intake::new(config.clone(), js.clone(), registry.clone(), buckets);
    let state = api::AppState::new(
        config.clone(),
        client,
        registry,
        intake.clone(),
        shutdown.clone(),
    );
    // The background work: the NATS intake, and the sweep of expired listening
    // sessions.
    let sweep = api::sweep_listen_sessions(state.clone(), shutdown.clone());
    let intake = nats_intake::run(consumer, intake, shutdown);
    let intake = Box::pin(async move {
        tokio::join!(intake, sweep);
    });
    Ok(Started {
        state,
        readiness,
        intake,
    })
}
