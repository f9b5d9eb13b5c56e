//! Results: one [`YardstickResult`] per bare yardstick, one [`ScenarioResult`] per
//! measured Herald run, the [`Machine`] they came from, and the targets judged on
//! them, written as JSON (`results.json`) and as Markdown tables (`results.md`).

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::bare::Bare;
use crate::procstat::Usage;
use crate::publisher::Transport;
use crate::stack::{Durability, Layout};
use crate::targets::{self, Check, Ratio, Verdict};
use crate::{Error, Result};

/// End-to-end latency (producer's send → receiver's receipt), in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

/// One scenario on one stack.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub layout: Layout,
    pub durability: Durability,
    /// Environment given to Herald beyond the defaults.
    pub env: Vec<String>,
    pub scenario: String,
    pub title: String,
    pub transport: Transport,
    pub events: u64,
    pub endpoints: usize,
    pub failing_endpoints: usize,
    /// Endpoints that answer nothing until Herald's timeout.
    pub hanging_endpoints: usize,
    /// Requests the hanging endpoints got.
    pub hanging_requests: u64,
    pub payload_bytes: usize,
    /// Events per second asked for; `None` for as fast as possible.
    pub target_rate: Option<u32>,
    pub published: u64,
    pub publish_errors: u64,
    pub first_publish_error: Option<String>,
    /// Producer side: events acknowledged (NATS) or answered 202 (HTTP) per second.
    pub publish_per_sec: f64,
    /// Events stored in `EVENTS` by ingest per second, from the first send.
    pub accepted_per_sec: Option<f64>,
    /// Deliveries expected at healthy endpoints.
    pub deliveries_expected: u64,
    /// Deliveries that arrived at healthy endpoints, each (event, endpoint) once.
    pub deliveries: u64,
    pub duplicates: u64,
    /// First attempts that reached the endpoints answering 500.
    pub failing_attempts: u64,
    /// Healthy deliveries per second, from the first send to the last receipt.
    pub deliveries_per_sec: f64,
    pub per_endpoint_per_sec: f64,
    pub latency_ms: Latency,
    pub duration_s: f64,
    /// Every expected delivery arrived.
    pub complete: bool,
    pub processes: Vec<Usage>,
    /// Deliveries per second against the run's yardstick; set by [`Report::judge`].
    pub ratio: Option<Ratio>,
}

impl ScenarioResult {
    /// `<layout>/<durability>/<scenario>`, as the plan names the run.
    pub fn id(&self) -> String {
        format!("{}/{}/{}", self.layout, self.durability, self.scenario)
    }
}

/// One bare yardstick's run.
#[derive(Debug, Clone, Serialize)]
pub struct YardstickResult {
    /// `bare/<durability>/<loop|publish>`.
    pub id: String,
    pub durability: Durability,
    pub bare: Bare,
    pub messages: u64,
    pub payload_bytes: usize,
    /// Requests (loop) or publishes (publish) awaiting their answer at once.
    pub concurrency: usize,
    /// Loop: deliveries per second, from the first pull to the last receipt.
    /// Publish: acknowledged publishes per second.
    pub per_sec: f64,
    /// Loop only: each message's time from the first pull to its receipt.
    pub latency_ms: Option<Latency>,
    /// Loop: messages received (each once); publish: publishes acknowledged.
    pub done: u64,
    pub duplicates: u64,
    /// Loop: POSTs without a 2xx or acks that failed; publish: publishes that failed.
    pub errors: u64,
    /// Every message was received (loop) or acknowledged (publish).
    pub complete: bool,
    pub duration_s: f64,
    /// nats-server and the load generator.
    pub processes: Vec<Usage>,
}

/// The machine the numbers came from.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu_model: String,
    /// The `Mem:` line of `free -h`.
    pub memory: String,
    pub kernel: String,
    pub nats_server: String,
    pub herald: String,
    pub clk_tck: u64,
    pub date: String,
}

impl Machine {
    pub fn describe(herald: &Path, nats_server: &Path) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
            .unwrap_or_default();
        let memory = command("free", &["-h"])
            .lines()
            .find(|l| l.starts_with("Mem:"))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default();
        Machine {
            nproc: std::thread::available_parallelism().map_or(0, usize::from),
            cpu_model,
            memory,
            kernel: command("uname", &["-sr"]),
            nats_server: command(&nats_server.to_string_lossy(), &["--version"]),
            herald: command(&herald.to_string_lossy(), &["--version"]),
            clk_tck: crate::procstat::clock_ticks(),
            date: command("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        }
    }
}

/// Everything one benchmark produced.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub yardsticks: Vec<YardstickResult>,
    pub results: Vec<ScenarioResult>,
    /// Set by [`Report::judge`].
    pub targets: Vec<Check>,
}

impl Report {
    pub fn new(machine: Machine) -> Self {
        Report {
            machine,
            yardsticks: Vec::new(),
            results: Vec::new(),
            targets: Vec::new(),
        }
    }

    /// Gives every run its ratio to its yardstick and checks every target.
    pub fn judge(&mut self) {
        for result in &mut self.results {
            result.ratio = targets::ratio(result, &self.yardsticks);
        }
        self.targets = targets::checks(&self.results, &self.yardsticks);
    }

    /// Writes `results.json` and `results.md` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(Error::io(dir.display().to_string()))?;
        let json = serde_json::to_string_pretty(self).map_err(|e| Error::Io {
            what: "results.json".into(),
            source: e.into(),
        })?;
        let json_path = dir.join("results.json");
        std::fs::write(&json_path, json + "\n")
            .map_err(Error::io(json_path.display().to_string()))?;
        let md_path = dir.join("results.md");
        std::fs::write(&md_path, self.markdown()).map_err(Error::io(md_path.display().to_string()))
    }

    /// The machine, the yardsticks, a summary of Herald's runs, the targets, and
    /// each run's processes.
    pub fn markdown(&self) -> String {
        let m = &self.machine;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Machine: {} CPUs ({}), memory {}, {}.",
            m.nproc, m.cpu_model, m.memory, m.kernel
        );
        let _ = writeln!(
            out,
            "Software: {}, {}. Measured {}.\n",
            m.herald, m.nats_server, m.date
        );
        if !self.yardsticks.is_empty() {
            self.yardsticks_table(&mut out);
        }
        if !self.results.is_empty() {
            self.results_table(&mut out);
        }
        if !self.targets.is_empty() {
            self.targets_table(&mut out);
        }
        self.processes_table(&mut out);
        out
    }

    fn yardsticks_table(&self, out: &mut String) {
        out.push_str(
            "Yardsticks (nats-server and the load generator alone):\n\n\
             | yardstick | messages | in flight | per s | p50 ms | p99 ms | complete \
             | nats CPU s | nats peak RSS MiB | loadgen CPU s |\n",
        );
        out.push_str(&"|---".repeat(10));
        out.push_str("|\n");
        for y in &self.yardsticks {
            let find = |name: &str| y.processes.iter().find(|p| p.name == name);
            let nats = find("nats-server");
            let loadgen = find("herald-loadgen");
            let ms = |q: fn(&Latency) -> f64| {
                y.latency_ms
                    .as_ref()
                    .map_or("—".into(), |l| format!("{:.1}", q(l)))
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.0} | {} | {} | {} | {:.1} | {:.0} | {:.1} |",
                y.id,
                y.messages,
                y.concurrency,
                y.per_sec,
                ms(|l| l.p50),
                ms(|l| l.p99),
                if y.complete { "yes" } else { "**no**" },
                nats.map_or(0.0, |p| p.cpu_seconds),
                nats.map_or(0.0, |p| p.peak_rss_mib),
                loadgen.map_or(0.0, |p| p.cpu_seconds),
            );
        }
        out.push('\n');
    }

    fn results_table(&self, out: &mut String) {
        out.push_str(
            "| layout | fsync | scenario | via | events | endpoints | accepted ev/s | deliveries/s \
             | ratio to yardstick | per endpoint/s | p50 ms | p95 ms | p99 ms | complete | Herald CPU s \
             | Herald peak RSS MiB | nats CPU s | nats peak RSS MiB | loadgen CPU s |\n",
        );
        out.push_str(&"|---".repeat(19));
        out.push_str("|\n");
        for r in &self.results {
            let herald = r.processes.iter().filter(|p| p.name.starts_with("herald "));
            let (cpu, rss) = herald.fold((0.0, 0.0), |(c, m), p| {
                (c + p.cpu_seconds, m + p.peak_rss_mib)
            });
            let find = |name: &str| r.processes.iter().find(|p| p.name == name);
            let nats = find("nats-server");
            let loadgen = find("herald-loadgen");
            let endpoints = if r.failing_endpoints > 0 {
                format!("{} ({} failing)", r.endpoints, r.failing_endpoints)
            } else if r.hanging_endpoints > 0 {
                format!("{} ({} hanging)", r.endpoints, r.hanging_endpoints)
            } else {
                r.endpoints.to_string()
            };
            let events = match r.target_rate {
                Some(rate) => format!("{} @ {rate}/s", r.events),
                None => r.events.to_string(),
            };
            let name = if r.env.is_empty() {
                r.scenario.clone()
            } else {
                format!("{} ({})", r.scenario, r.env.join(" "))
            };
            let ratio = r.ratio.as_ref().map_or("—".into(), |ratio| {
                let bare = ratio.yardstick.rsplit('/').next().unwrap_or_default();
                format!("{:.2} ({bare})", ratio.value)
            });
            let _ = writeln!(
                out,
                "| {} | {} | {name} | {} | {events} | {endpoints} | {} | {} | {ratio} | {} | {:.1} | {:.1} | {:.1} | {} | {:.1} | {:.0} | {:.1} | {:.0} | {:.1} |",
                r.layout,
                r.durability,
                match r.transport {
                    Transport::Nats => "NATS",
                    Transport::Http => "HTTP",
                },
                r.accepted_per_sec.map_or("—".into(), |v| format!("{v:.0}")),
                r.deliveries_per_sec,
                r.per_endpoint_per_sec,
                r.latency_ms.p50,
                r.latency_ms.p95,
                r.latency_ms.p99,
                if r.complete { "yes" } else { "**no**" },
                cpu,
                rss,
                nats.map_or(0.0, |p| p.cpu_seconds),
                nats.map_or(0.0, |p| p.peak_rss_mib),
                loadgen.map_or(0.0, |p| p.cpu_seconds),
            );
        }
        out.push('\n');
    }

    fn targets_table(&self, out: &mut String) {
        out.push_str(
            "Targets:\n\n| target | run | measured | limit | result |\n|---|---|---|---|---|\n",
        );
        for c in &self.targets {
            let value = c.value.map_or("—".into(), |v| v.to_string());
            let verdict = match c.verdict {
                Verdict::Pass => "PASS",
                Verdict::Miss => "**MISS**",
                Verdict::Unmeasured => "— (no yardstick)",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {value} {} | {} | {verdict} |",
                c.target, c.run, c.unit, c.limit
            );
        }
        out.push('\n');
    }

    /// One row per run, one column per Herald process: idle RSS (after start-up and
    /// warm-up, before the load) / peak RSS, and CPU seconds during the load.
    fn processes_table(&self, out: &mut String) {
        const PROCESSES: [&str; 5] = [
            "herald all",
            "herald ingest",
            "herald dispatcher",
            "herald retry-scheduler",
            "herald status-tracker",
        ];
        out.push_str(
            "Herald per process: idle RSS / peak RSS MiB, CPU s during the load:\n\n| run |",
        );
        for name in PROCESSES {
            let _ = write!(out, " {} |", name.trim_start_matches("herald "));
        }
        out.push('\n');
        out.push_str(&"|---".repeat(PROCESSES.len() + 1));
        out.push_str("|\n");
        for r in &self.results {
            let _ = write!(out, "| {} |", r.id());
            for name in PROCESSES {
                match r.processes.iter().find(|p| p.name == name) {
                    Some(p) => {
                        let _ = write!(
                            out,
                            " {:.1} / {:.1}, {:.1} s |",
                            p.idle_rss_mib, p.peak_rss_mib, p.cpu_seconds
                        );
                    }
                    None => out.push_str(" |"),
                }
            }
            out.push('\n');
        }
    }
}

/// The trimmed standard output of a command, or empty when it fails.
fn command(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_default()
}
