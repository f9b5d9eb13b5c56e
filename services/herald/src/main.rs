//! `herald <ingest|dispatcher|retry-scheduler|status-tracker|all>`: configuration
//! from the environment, start (waiting for NATS as long as it takes, see
//! `docs/startup.md`), wait for SIGTERM or Ctrl-C, drain within
//! `HERALD_SHUTDOWN_TIMEOUT`, exit. Bad configuration, or a credential or
//! certificate the NATS server refuses, exits with status 64.

use std::process::ExitCode;

use herald::{Configs, Mode};
use herald_common::config::SystemEnv;
use tokio_util::sync::CancellationToken;

mod cli {
    pub mod listen;
}

const USAGE: &str = "usage: herald <ingest|dispatcher|retry-scheduler|status-tracker|all>";

#[tokio::main]
async fn main() -> ExitCode {
    herald_common::telemetry::init_crypto();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "listen") {
        return listen(&args[1..]).await;
    }
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

/// `herald listen`, until the command line is parsed with clap.
async fn listen(args: &[String]) -> ExitCode {
    let mut url = std::env::var("HERALD_URL").ok();
    let mut api_key = std::env::var("HERALD_API_KEY").ok();
    let (mut forward_to, mut events, mut secret, mut ttl) = (None, Vec::new(), None, None);
    let (mut print, mut json) = (false, false);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().cloned();
        match arg.as_str() {
            "--url" => url = value(),
            "--api-key" => api_key = value(),
            "--forward-to" => forward_to = value(),
            "--events" => {
                events = value()
                    .unwrap_or_default()
                    .split(',')
                    .map(str::trim)
                    .filter(|e| !e.is_empty())
                    .map(str::to_owned)
                    .collect()
            }
            "--secret" => secret = value(),
            "--ttl" => ttl = value(),
            "--print" => print = true,
            "--json" => json = true,
            _ => return usage(),
        }
    }
    let (Some(url), Some(api_key), Some(forward_to)) = (url, api_key, forward_to) else {
        eprintln!("herald listen: --url, --api-key and --forward-to are needed");
        return ExitCode::from(64);
    };
    let Ok(forward_to) = forward_to.parse() else {
        eprintln!("herald listen: --forward-to is not a URL");
        return ExitCode::from(64);
    };
    let options = cli::listen::Options {
        url,
        api_key,
        forward_to,
        events,
        secret,
        ttl,
        print,
        json,
    };
    let stop = CancellationToken::new();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            let _ = tokio::signal::ctrl_c().await;
            stop.cancel();
        }
    });
    match cli::listen::run(options, stop).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("herald listen: {err}");
            ExitCode::FAILURE
        }
    }
}
