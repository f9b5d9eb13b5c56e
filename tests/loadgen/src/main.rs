//! `herald-loadgen`: runs the bare yardsticks ([`herald_loadgen::plan::yardsticks`]),
//! each on a fresh nats-server, then the benchmark plan ([`herald_loadgen::plan::bench`]),
//! each scenario on a fresh nats-server and Herald, judges the targets, and writes
//! `results.json` and `results.md` into `--out`. `make bench` builds Herald and this binary, then runs it.
//!
//! ```text
//! herald-loadgen [--herald PATH] [--nats-server PATH] [--out DIR] [--scale F]
//!                [--only TEXT]... [--env KEY=VALUE]...
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use herald_loadgen::Result;
use herald_loadgen::bare::{self, Yardstick};
use herald_loadgen::plan::{self, Planned};
use herald_loadgen::report::{Machine, Report, ScenarioResult};
use herald_loadgen::stack::{self, Stack, StackConfig};

const USAGE: &str = "usage: herald-loadgen [--herald PATH] [--nats-server PATH] [--out DIR] \
[--scale F] [--only TEXT]... [--env KEY=VALUE]...
  --herald       the herald binary (default target/release/herald)
  --nats-server  nats-server 2.12 or newer (default $HERALD_TEST_NATS_SERVER or .tools/*/bin)
  --out          where results.json and results.md go (default target/bench)
  --scale        multiplies every scenario's number of events (default 1)
  --only         runs only the runs whose <layout>/<durability>/<scenario> (or
                 bare/<durability>/<loop|publish>) contains TEXT
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
    let selected =
        |id: &str| options.only.is_empty() || options.only.iter().any(|o| id.contains(o));
    let yardsticks: Vec<Yardstick> = plan::yardsticks(options.scale)
        .into_iter()
        .filter(|y| selected(&y.id()))
        .collect();
    let plan: Vec<Planned> = plan::bench(options.scale)
        .into_iter()
        .filter(|p| selected(&p.id()))
        .collect();
    let total = yardsticks.len() + plan.len();
    let mut report = Report::new(Machine::describe(&options.herald, &nats_server));
    let mut failed = false;
    for (n, yardstick) in yardsticks.iter().enumerate() {
        eprintln!("[{}/{total}] {}", n + 1, yardstick.id());
        match bare::run(yardstick, &nats_server).await {
            Ok(result) => {
                eprintln!(
                    "  {} per s{}",
                    result.per_sec,
                    if result.complete { "" } else { ", INCOMPLETE" }
                );
                failed |= !result.complete;
                report.yardsticks.push(result);
            }
            Err(err) => {
                eprintln!("  failed: {err}");
                failed = true;
            }
        }
    }
    for (n, planned) in plan.iter().enumerate() {
        eprintln!(
            "[{}/{total}] {}: {}",
            yardsticks.len() + n + 1,
            planned.id(),
            planned.scenario.title
        );
        match run(planned, &options, &nats_server).await {
            Ok(result) => {
                failed |= !result.complete || result.publish_errors > 0;
                report.results.push(result);
            }
            Err(err) => {
                eprintln!("  failed: {err}");
                failed = true;
            }
        }
    }
    report.judge();
    if let Err(err) = report.write(&options.out) {
        eprintln!("herald-loadgen: {err}");
        return ExitCode::FAILURE;
    }
    println!("{}", report.markdown());
    eprintln!("results in {}/results.{{json,md}}", options.out.display());
    // A missed target is a finding, not a failed run: only lost deliveries fail.
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs one Herald scenario on a fresh stack and prints its headline numbers.
async fn run(planned: &Planned, options: &Options, nats_server: &Path) -> Result<ScenarioResult> {
    let config = StackConfig {
        herald: options.herald.clone(),
        nats_server: nats_server.to_owned(),
        layout: planned.layout,
        durability: planned.durability,
        env: options.env.clone(),
    };
    let stack = Stack::start(&config).await?;
    let result = herald_loadgen::scenario::run(&stack, &config, &planned.scenario).await?;
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
    Ok(result)
}
