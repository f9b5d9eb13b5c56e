//! `herald-loadgen`: runs the benchmark plan ([`herald_loadgen::plan::bench`]), each
//! scenario on a fresh nats-server and Herald, and writes `results.json` and
//! `results.md` into `--out`. `make bench` builds Herald and this binary, then runs it.
//!
//! ```text
//! herald-loadgen [--herald PATH] [--nats-server PATH] [--out DIR] [--scale F]
//!                [--only TEXT]... [--env KEY=VALUE]...
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use herald_loadgen::plan::{self, Planned};
use herald_loadgen::report::{Machine, Report};
use herald_loadgen::stack::{self, Stack, StackConfig};

const USAGE: &str = "usage: herald-loadgen [--herald PATH] [--nats-server PATH] [--out DIR] \
[--scale F] [--only TEXT]... [--env KEY=VALUE]...
  --herald       the herald binary (default target/release/herald)
  --nats-server  nats-server 2.12 or newer (default $HERALD_TEST_NATS_SERVER or .tools/*/bin)
  --out          where results.json and results.md go (default target/bench)
  --scale        multiplies every scenario's number of events (default 1)
  --only         runs only the runs whose <layout>/<durability>/<scenario> contains TEXT
  --env          more environment for Herald, e.g. HERALD_MAX_IN_FLIGHT=64";

struct Options {
    herald: PathBuf,
    nats_server: Option<PathBuf>,
    out: PathBuf,
    scale: f64,
    only: Vec<String>,
    env: Vec<(String, String)>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        herald: PathBuf::from("target/release/herald"),
        nats_server: None,
        out: PathBuf::from("target/bench"),
        scale: 1.0,
        only: Vec::new(),
        env: Vec::new(),
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--herald" => options.herald = value()?.into(),
            "--nats-server" => options.nats_server = Some(value()?.into()),
            "--out" => options.out = value()?.into(),
            "--scale" => {
                options.scale = value()?
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s > 0.0)
                    .ok_or("--scale must be a positive number")?;
            }
            "--only" => options.only.push(value()?.clone()),
            "--env" => {
                let pair = value()?;
                let (key, val) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("--env {pair}: expected KEY=VALUE"))?;
                options.env.push((key.to_owned(), val.to_owned()));
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(options)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let options = match parse(&args) {
        Ok(options) => options,
        Err(err) => {
            eprintln!("herald-loadgen: {err}\n{USAGE}");
            return ExitCode::from(64);
        }
    };
    let cwd = std::env::current_dir().unwrap_or_default();
    let Some(nats_server) = options
        .nats_server
        .clone()
        .or_else(|| stack::locate_nats_server(&cwd))
    else {
        eprintln!("herald-loadgen: no nats-server; pass --nats-server (make bench does)");
        return ExitCode::from(64);
    };
    if !options.herald.exists() {
        eprintln!(
            "herald-loadgen: {} does not exist; build it with `cargo build --release -p herald`",
            options.herald.display()
        );
        return ExitCode::from(64);
    }
    let plan: Vec<Planned> = plan::bench(options.scale)
        .into_iter()
        .filter(|p| options.only.is_empty() || options.only.iter().any(|o| p.id().contains(o)))
        .collect();
    let mut report = Report {
        machine: Machine::describe(&options.herald, &nats_server),
        results: Vec::new(),
    };
    let mut failed = false;
    for (n, planned) in plan.iter().enumerate() {
        eprintln!(
            "[{}/{}] {}: {}",
            n + 1,
            plan.len(),
            planned.id(),
            planned.scenario.title
        );
        let config = StackConfig {
            herald: options.herald.clone(),
            nats_server: nats_server.clone(),
            layout: planned.layout,
            durability: planned.durability,
            env: options.env.clone(),
        };
        let outcome = match Stack::start(&config).await {
            Ok(stack) => herald_loadgen::scenario::run(&stack, &config, &planned.scenario).await,
            Err(err) => Err(err),
        };
        match outcome {
            Ok(result) => {
                eprintln!(
                    "  {} deliveries/s, accepted {} events/s, p50 {} ms, p99 {} ms{}",
                    result.deliveries_per_sec,
                    result
                        .accepted_per_sec
                        .map_or("?".into(), |v| v.to_string()),
                    result.latency_ms.p50,
                    result.latency_ms.p99,
                    if result.complete { "" } else { ", INCOMPLETE" },
                );
                failed |= !result.complete || result.publish_errors > 0;
                report.results.push(result);
            }
            Err(err) => {
                eprintln!("  failed: {err}");
                failed = true;
            }
        }
    }
    if let Err(err) = report.write(&options.out) {
        eprintln!("herald-loadgen: {err}");
        return ExitCode::FAILURE;
    }
    println!("{}", report.markdown());
    eprintln!("results in {}/results.{{json,md}}", options.out.display());
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
