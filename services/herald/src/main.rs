//! `herald <ingest|dispatcher|retry-scheduler|status-tracker|all>`: configuration
//! from the environment, start (waiting for NATS as long as it takes, see
//! `docs/startup.md`), wait for SIGTERM or Ctrl-C, drain within
//! `HERALD_SHUTDOWN_TIMEOUT`, exit. Bad configuration, or a credential or
//! certificate the NATS server refuses, exits with status 64.

use std::process::ExitCode;

use herald::{Configs, Mode};
use herald_common::config::SystemEnv;
use tokio_util::sync::CancellationToken;

const USAGE: &str = "usage: herald <ingest|dispatcher|retry-scheduler|status-tracker|all>";

#[tokio::main]
async fn main() -> ExitCode {
    herald_common::telemetry::init_crypto();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = match args.as_slice() {
        [arg] if arg == "--version" => {
            println!("herald {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        [arg] => match Mode::parse(arg) {
            Some(mode) => mode,
            None => return usage(),
        },
        _ => return usage(),
    };
    let mut telemetry = match herald_common::telemetry::init(args[0].as_str()) {
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

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(64)
}
