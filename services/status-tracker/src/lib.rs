//! Herald status-tracker: the record of every delivery attempt, queryable by
//! ingest over NATS request/reply. Only this service touches the store.
//!
//! # Layout
//! - [`config`]: the store location (`DATABASE_URL`) and its pool size.
//! - [`store`]: SQLite or PostgreSQL through sqlx, the same migrations and queries.
//! - [`recorder`]: the consumers of `outcomes.>` and `events.>`, writing in batches.
//! - [`jobs`]: what an event says about its job.
//! - [`queries`]: the request/reply responders.
//! - [`retention`]: pruning records older than `HERALD_RETENTION_DAYS`.

#![forbid(unsafe_code)]

pub mod config;
pub mod jobs;
pub mod queries;
pub mod recorder;
pub mod retention;
pub mod store;

use herald_common::health::Readiness;
use herald_common::nats;
use herald_common::startup::Startup;
use herald_proto::names::consumer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use herald_common::service::Started;
pub use store::Store;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Common(#[from] herald_common::Error),
    #[error("cannot open the store: {0}")]
    Store(#[from] store::StoreError),
    #[error("NATS: {0}")]
    Nats(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Connects and provisions, each step tried again while NATS is not ready (see
/// [`Startup`]), opens the store, and prepares the consumers and responders.
pub async fn start(
    config: Config,
    startup: &Startup,
    shutdown: CancellationToken,
) -> Result<Started> {
    let (connection, js, topology) =
        nats::start(&config.common, consumer::client::STATUS_TRACKER, startup).await?;
    let client = connection.client.clone();
    let store = Store::connect_pooled(&config.database_url, config.db_pool_size).await?;
    let (outcomes, events) = startup
        .retry("opening consumers", || async {
            let outcomes = recorder::outcomes_consumer()
                .provision(&js, &topology)
                .await?;
            let events = recorder::events_consumer()
                .provision(&js, &topology)
                .await?;
            Ok::<_, herald_common::Error>((outcomes, events))
        })
        .await?;
    let responder = queries::subscribe(&client)
        .await
        .map_err(|e| Error::Nats(e.to_string()))?;
    let readiness = Readiness::new(connection, &[nats::OUTCOMES_STREAM, nats::EVENTS_STREAM])
        .with_check({
            let store = store.clone();
            move || {
                let store = store.clone();
                async move {
                    store
                        .ping()
                        .await
                        .map_err(|_| "the store is unreachable".to_owned())
                }
            }
        });
    let redelivery = config.common.redelivery;
    let work = Box::pin(async move {
        let record = recorder::run(
            consumer::STATUS_TRACKER,
            recorder::Source::Outcomes,
            outcomes,
            store.clone(),
            client.clone(),
            redelivery,
            shutdown.clone(),
        );
        let keep = recorder::run(
            consumer::STATUS_TRACKER_EVENTS,
            recorder::Source::Events,
            events,
            store.clone(),
            client.clone(),
            redelivery,
            shutdown.clone(),
        );
        let prune = retention::run(store.clone(), config.retention, shutdown.clone());
        let answer = queries::serve(responder, client.clone(), store, shutdown);
        tokio::join!(record, keep, prune, answer);
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
        Err(Error::Common(herald_common::Error::Stopped)) => Ok(()),
        started => {
            startup.finish();
            started?.run(listener, shutdown).await;
            Ok(())
        }
    }
}
