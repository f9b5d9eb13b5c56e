//! `herald <command>`: the service commands (`all`, `ingest`, `dispatcher`,
//! `retry-scheduler`, `status-tracker`) read their configuration from the
//! environment, start (waiting for NATS as long as it takes, see
//! `docs/startup.md`), wait for SIGTERM or Ctrl-C, drain within
//! `HERALD_SHUTDOWN_TIMEOUT`, exit. Bad configuration, or a credential or
//! certificate the NATS server refuses, exits with status 64. The client commands
//! (`send`, `deliveries`, `webhooks`) call a running Herald and exit 1 on an error;
//! bad usage exits 2.

use std::process::ExitCode;

use clap::FromArgMatches;
use herald::cli::{Cli, Command};
use herald::client::Outcome;
use herald::{Configs, Mode};
use herald_common::config::SystemEnv;
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    herald_common::telemetry::init_crypto();
    let mut command = herald::cli::command();
    let cli = match Cli::from_arg_matches(&command.get_matches_mut()) {
        Ok(cli) => cli,
        Err(err) => err.format(&mut command).exit(),
    };
    let mode = cli.command.mode();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if std::env::var_os(WORKER_THREADS_ENV).is_none()
        && let Some(workers) = mode.and_then(|mode| mode.worker_threads(cores))
    {
        runtime.worker_threads(workers);
    }
    match runtime.build() {
        Ok(runtime) => runtime.block_on(start(cli, mode, command)),
        Err(err) => {
            eprintln!("herald: cannot start the async runtime: {err}");
            ExitCode::from(71)
        }
    }
}

/// Sets the number of the runtime's worker threads, as tokio reads it; when unset,
/// [`Mode::worker_threads`] decides.
const WORKER_THREADS_ENV: &str = "TOKIO_WORKER_THREADS";

async fn start(cli: Cli, mode: Option<Mode>, mut command: clap::Command) -> ExitCode {
    if let Some(mode) = mode {
        return serve(mode).await;
    }
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(shell, &mut command, "herald", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    match herald::client::run(cli.command, &SystemEnv).await {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Failure) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("herald: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the services of `mode` until SIGTERM or Ctrl-C, then drains them.
async fn serve(mode: Mode) -> ExitCode {
    let mut telemetry = match herald_common::telemetry::init(mode.as_str()) {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("herald: {err}");
            return ExitCode::from(64);
        }
    };
    let configs = match Configs::load(&[mode], &SystemEnv) {
        Ok(configs) => configs,
        Err(err) => {
            eprintln!("herald: {err}");
            return ExitCode::from(64);
        }
    };
    let shutdown_timeout = configs.shutdown_timeout();
    let listener = match herald::bind(&configs).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("herald: {err}");
            return ExitCode::from(71);
        }
    };
    let shutdown = CancellationToken::new();
    let mut running = tokio::spawn(herald::run(configs, listener, shutdown.clone()));
    tokio::select! {
        result = &mut running => return exit(result),
        _ = herald_common::shutdown::signal() => {
            tracing::info!("shutting down");
            shutdown.cancel();
        }
    }
    let drained = tokio::time::timeout(shutdown_timeout, running).await;
    // Spans of the drain itself go out too, within TRACE_FLUSH.
    telemetry.shutdown();
    match drained {
        Ok(result) => exit(result),
        Err(_) => {
            tracing::error!(timeout = ?shutdown_timeout, "drain did not finish in time");
            ExitCode::FAILURE
        }
    }
}

fn exit(result: Result<Result<(), herald::Error>, tokio::task::JoinError>) -> ExitCode {
    match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(err)) => {
            eprintln!("herald: {err}");
            tracing::error!(error = %err, "herald stopped");
            ExitCode::from(err.exit_code())
        }
        Err(err) => {
            eprintln!("herald: {err}");
            ExitCode::FAILURE
        }
    }
}
