//! Composition of Herald's services: run one of them, or all four in one process
//! (the embedded mode for one machine). `main.rs` only reads the command line and
//! the signal; tests call [`run`] directly.
//!
//! Layout: this file runs the services; [`cli`] is the command line and its help;
//! [`settings`] what each command reads from the environment; [`client`] the
//! commands that talk to a running Herald; `starting` what the listener answers
//! while the services start.

#![forbid(unsafe_code)]

pub mod cli;
pub mod client;
pub mod settings;
mod starting;

use std::sync::{Arc, OnceLock};

use herald_common::config::{ConfigError, Env};
use herald_common::health::Router;
use herald_common::service::Work;
use herald_common::startup::Startup;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Which service(s) to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Ingest,
    Dispatcher,
    RetryScheduler,
    StatusTracker,
    All,
}

impl Mode {
    pub const ALL: [Mode; 5] = [
        Mode::Ingest,
        Mode::Dispatcher,
        Mode::RetryScheduler,
        Mode::StatusTracker,
        Mode::All,
    ];

    /// The mode's name on the command line, which names the service it runs.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Ingest => "ingest",
            Mode::Dispatcher => "dispatcher",
            Mode::RetryScheduler => "retry-scheduler",
            Mode::StatusTracker => "status-tracker",
            Mode::All => "all",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|mode| mode.as_str() == value)
    }

    /// Worker threads of the async runtime the mode runs on, given the cores it may
    /// use; `None` keeps tokio's one per core. `all` runs four services' tasks on
    /// one runtime beside the NATS server and the SQLite writer: a worker the
    /// kernel preempts holds the tasks queued on it until it runs again, so `all`
    /// has [`ALL_WORKERS_PER_CORE`] per core (BENCHMARKS.md, "Worker threads of
    /// `herald all`"). A service alone keeps one per core.
    pub fn worker_threads(self, cores: usize) -> Option<usize> {
        match self {
            Mode::All => Some(cores.max(1) * ALL_WORKERS_PER_CORE),
            _ => None,
        }
    }
}

/// Runtime worker threads per core in `herald all`.
pub const ALL_WORKERS_PER_CORE: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Ingest(#[from] herald_ingest::Error),
    #[error(transparent)]
    Dispatcher(#[from] herald_dispatcher::Error),
    #[error(transparent)]
    RetryScheduler(#[from] herald_retry_scheduler::Error),
    #[error(transparent)]
    StatusTracker(#[from] herald_status_tracker::Error),
    #[error("HTTP server: {0}")]
    Serve(std::io::Error),
}

impl Error {
    /// The shared infrastructure's error behind this one, if it is one.
    fn common(&self) -> Option<&herald_common::Error> {
        match self {
            Error::Ingest(herald_ingest::Error::Common(e))
            | Error::Dispatcher(herald_dispatcher::Error::Common(e))
            | Error::RetryScheduler(e)
            | Error::StatusTracker(herald_status_tracker::Error::Common(e)) => Some(e),
            _ => None,
        }
    }

    /// The process's exit status for this error: 64 when the fix is in the
    /// configuration (a bad value, a credential or certificate NATS refused), 71
    /// when the listener cannot be bound, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) => 64,
            Error::Listen { .. } => 71,
            _ if self.common().is_some_and(|e| e.is_configuration()) => 64,
            _ => 1,
        }
    }
}

/// The configuration of every service `mode` runs, checked before anything starts.
pub struct Configs {
    ingest: Option<herald_ingest::Config>,
    dispatcher: Option<herald_dispatcher::Config>,
    retry_scheduler: Option<herald_retry_scheduler::Config>,
    status_tracker: Option<herald_status_tracker::Config>,
    common: herald_common::config::CommonConfig,
}

impl Configs {
    /// The configuration of the services in `modes`.
    pub fn load(modes: &[Mode], env: &dyn Env) -> Result<Self, ConfigError> {
        let wants = |m: Mode| modes.contains(&m) || modes.contains(&Mode::All);
        Ok(Configs {
            ingest: wants(Mode::Ingest)
                .then(|| herald_ingest::Config::from_env(env))
                .transpose()?,
            dispatcher: wants(Mode::Dispatcher)
                .then(|| herald_dispatcher::Config::from_env(env))
                .transpose()?,
            retry_scheduler: wants(Mode::RetryScheduler)
                .then(|| herald_retry_scheduler::Config::from_env(env))
                .transpose()?,
            status_tracker: wants(Mode::StatusTracker)
                .then(|| herald_status_tracker::Config::from_env(env))
                .transpose()?,
            common: herald_common::config::CommonConfig::from_env(env)?,
        })
    }

    /// The `service` label of this process's metrics.
    pub fn service_name(&self) -> &'static str {
        match (
            self.ingest.is_some(),
            self.dispatcher.is_some(),
            self.retry_scheduler.is_some(),
            self.status_tracker.is_some(),
        ) {
            (true, false, false, false) => Mode::Ingest.as_str(),
            (false, true, false, false) => Mode::Dispatcher.as_str(),
            (false, false, true, false) => Mode::RetryScheduler.as_str(),
            (false, false, false, true) => Mode::StatusTracker.as_str(),
            _ => Mode::All.as_str(),
        }
    }

    pub fn http_addr(&self) -> std::net::SocketAddr {
        self.common.http_addr
    }

    /// How long a drain may take (`HERALD_SHUTDOWN_TIMEOUT`).
    pub fn shutdown_timeout(&self) -> std::time::Duration {
        self.common.shutdown_timeout
    }
}

/// Starts what `configs` holds and runs it until `shutdown`. The listener serves
/// the API (when ingest runs) and the health routes; it answers from the start:
/// while the services wait for NATS (see [`herald_common::startup`]), `/healthz`
/// says the process runs and `/readyz` what it waits for. Shutdown during that
/// wait ends the run at once, as a success.
pub async fn run(
    configs: Configs,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    herald_common::metrics::init(configs.service_name());
    let grace = herald_ingest::http_grace(configs.shutdown_timeout());
    let startup = Startup::new(shutdown.clone());
    let app = Arc::new(OnceLock::new());
    // Cancelled with `shutdown`, or alone when start-up fails.
    let serving = shutdown.child_token();
    let server = tokio::spawn(herald_common::shutdown::serve(
        listener,
        starting::router(startup.clone(), app.clone()),
        serving.clone(),
        grace,
    ));
    let works = match start(configs, &startup, &shutdown).await {
        Ok((works, router)) => {
            let _ = app.set(router);
            startup.finish();
            works
        }
        Err(err) => {
            serving.cancel();
            let _ = server.await;
            return match err.common() {
                Some(herald_common::Error::Stopped) => Ok(()),
                _ => Err(err),
            };
        }
    };
    let (served, ()) = tokio::join!(server, join_all(works));
    match served {
        Ok(result) => result.map_err(Error::Serve),
        // The listener's task panicked: fail the run as if it had served inline.
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Err(_) => Ok(()),
    }
}

/// Starts each service of `configs` in turn; returns their work and the router of
/// the API and the health routes.
async fn start(
    configs: Configs,
    startup: &Startup,
    shutdown: &CancellationToken,
) -> Result<(Vec<Work>, Router), Error> {
    let mut works: Vec<Work> = Vec::new();
    let mut readiness = None;
    let mut router = Router::new();
    let mut merge = |r: herald_common::health::Readiness| {
        readiness = Some(match readiness.take() {
            None => r,
            Some(existing) => herald_common::health::Readiness::merge(existing, r),
        });
    };
    // The status-tracker first: ingest's queries need it, and it owns the store.
    if let Some(config) = configs.status_tracker {
        let started = herald_status_tracker::start(config, startup, shutdown.clone()).await?;
        merge(started.readiness);
        works.push(started.work);
    }
    if let Some(config) = configs.retry_scheduler {
        let started = herald_retry_scheduler::start(config, startup, shutdown.clone()).await?;
        merge(started.readiness);
        works.push(started.work);
    }
    if let Some(config) = configs.dispatcher {
        let started = herald_dispatcher::start(config, startup, shutdown.clone()).await?;
        merge(started.readiness);
        works.push(started.work);
    }
    if let Some(config) = configs.ingest {
        let started = herald_ingest::start(&config, startup, shutdown.clone()).await?;
        merge(started.readiness);
        router = herald_ingest::api::app(started.state);
        works.push(started.intake);
    }
    if let Some(readiness) = readiness {
        router = router.merge(herald_common::health::routes(readiness));
    }
    Ok((works, router))
}

/// Binds the listener for `configs`.
pub async fn bind(configs: &Configs) -> Result<TcpListener, Error> {
    TcpListener::bind(configs.http_addr())
        .await
        .map_err(|source| Error::Listen {
            addr: configs.http_addr(),
            source,
        })
}

/// Runs every service's work to completion, each on its own task.
async fn join_all(works: Vec<Work>) {
    let handles: Vec<_> = works.into_iter().map(tokio::spawn).collect();
    for handle in handles {
        let _ = handle.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_runs_more_workers_than_cores_and_a_service_alone_one_per_core() {
        assert_eq!(Mode::All.worker_threads(2), Some(2 * ALL_WORKERS_PER_CORE));
        assert_eq!(Mode::All.worker_threads(0), Some(ALL_WORKERS_PER_CORE));
        for mode in Mode::ALL.into_iter().filter(|&mode| mode != Mode::All) {
            assert_eq!(mode.worker_threads(2), None, "{}", mode.as_str());
        }
    }
}
