//! What the numbers are held to: each Herald run's throughput as a ratio to its bare
//! yardstick, and the targets, each PASS or MISS. Plain arithmetic on finished
//! results, so a report can be judged again from its JSON.

use std::fmt;

use serde::Serialize;

use crate::report::{ScenarioResult, YardstickResult};
use crate::stack::{Durability, Layout};

/// A Herald run's deliveries per second divided by its yardstick's rate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ratio {
    /// The yardstick's id, e.g. `bare/default/loop`.
    pub yardstick: String,
    pub value: f64,
}

/// The yardstick a run is read against: with fsync before every ack, the bare
/// fsync'd publish rate (the durable target's definition); otherwise the bare
/// delivery loop. Fixed-rate runs in the default profile have none: their rate is
/// the one asked for.
pub fn yardstick_for(result: &ScenarioResult) -> Option<&'static str> {
    match result.durability {
        Durability::Always => Some("bare/always/publish"),
        Durability::Default if result.target_rate.is_none() => Some("bare/default/loop"),
        Durability::Default => None,
    }
}

/// `result`'s ratio to its yardstick, when that yardstick ran and measured a rate.
pub fn ratio(result: &ScenarioResult, yardsticks: &[YardstickResult]) -> Option<Ratio> {
    let id = yardstick_for(result)?;
    let yardstick = yardsticks.iter().find(|y| y.id == id && y.per_sec > 0.0)?;
    Some(Ratio {
        yardstick: id.to_owned(),
        value: round3(result.deliveries_per_sec / yardstick.per_sec),
    })
}

/// For a max-rate run, p99 ÷ (backlog ÷ achieved rate): the backlog is the
/// deliveries per healthy endpoint, the achieved rate the deliveries per second per
/// healthy endpoint, so their quotient is how long the burst took to drain. 1 means
/// the slowest deliveries waited about as long as the whole burst took.
pub fn burst_tail(result: &ScenarioResult) -> Option<f64> {
    if result.target_rate.is_some() {
        return None;
    }
    let healthy = result.endpoints - result.failing_endpoints - result.hanging_endpoints;
    let backlog = result.deliveries as f64 / healthy.max(1) as f64;
    let rate = result.deliveries_per_sec / healthy.max(1) as f64;
    let drain_ms = backlog / rate * 1000.0;
    (drain_ms.is_finite() && drain_ms > 0.0).then(|| round3(result.latency_ms.p99 / drain_ms))
}

/// The most idle memory any one Herald process of the run had, and its name.
pub fn worst_idle_rss(result: &ScenarioResult) -> Option<(&str, f64)> {
    result
        .processes
        .iter()
        .filter(|p| p.name.starts_with("herald "))
        .map(|p| (p.name.as_str(), p.idle_rss_mib))
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// A bound a measured value must keep.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    AtLeast(f64),
    AtMost(f64),
    Below(f64),
}

impl Limit {
    pub fn holds(self, value: f64) -> bool {
        match self {
            Limit::AtLeast(limit) => value >= limit,
            Limit::AtMost(limit) => value <= limit,
            Limit::Below(limit) => value < limit,
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::AtLeast(limit) => write!(f, "≥ {limit}"),
            Limit::AtMost(limit) => write!(f, "≤ {limit}"),
            Limit::Below(limit) => write!(f, "< {limit}"),
        }
    }
}

/// How a run fared against a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Miss,
    /// The run happened but the number could not be had (its yardstick did not run).
    Unmeasured,
}

/// One target applied to one run.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub target: &'static str,
    /// The run's id; for memory, also the process that had the most.
    pub run: String,
    pub value: Option<f64>,
    /// What `value` is, e.g. "ratio" or "p99 ms".
    pub unit: &'static str,
    pub limit: Limit,
    pub verdict: Verdict,
}

fn check(
    target: &'static str,
    run: String,
    value: Option<f64>,
    unit: &'static str,
    limit: Limit,
) -> Check {
    let verdict = match value {
        Some(v) if limit.holds(v) => Verdict::Pass,
        Some(_) => Verdict::Miss,
        None => Verdict::Unmeasured,
    };
    Check {
        target,
        run,
        value,
        unit,
        limit,
        verdict,
    }
}

/// Every target that applies to the runs present, in the order of the brief:
/// ratios, burst tails, latencies at a fixed rate, idle memory, completeness.
pub fn checks(results: &[ScenarioResult], yardsticks: &[YardstickResult]) -> Vec<Check> {
    let mut checks = Vec::new();
    let ratio_of = |r: &ScenarioResult| ratio(r, yardsticks).map(|r| r.value);
    let in_all = |r: &&ScenarioResult| r.layout == Layout::All;
    for (target, durability, scenario, at_least) in [
        ("one endpoint", Durability::Default, "s1-nats", 0.30),
        ("fan-out", Durability::Default, "s2-fanout", 0.40),
        ("durable", Durability::Always, "s1-nats", 0.45),
    ] {
        for r in results
            .iter()
            .filter(in_all)
            .filter(|r| r.durability == durability && r.scenario == scenario)
        {
            checks.push(check(
                target,
                r.id(),
                ratio_of(r),
                "ratio",
                Limit::AtLeast(at_least),
            ));
        }
    }
    for r in results.iter().filter(|r| r.target_rate.is_none()) {
        let limit = Limit::AtMost(1.2);
        checks.push(check(
            "burst tail",
            r.id(),
            burst_tail(r),
            "p99 ÷ drain time",
            limit,
        ));
    }
    for r in results.iter().filter(in_all) {
        if r.durability == Durability::Always && r.scenario == "s3-rate" {
            let p99 = Some(r.latency_ms.p99);
            checks.push(check(
                "durable latency",
                r.id(),
                p99,
                "p99 ms",
                Limit::Below(20.0),
            ));
        }
    }
    for r in results.iter().filter(|r| {
        r.durability == Durability::Default
            && ["s3-rate", "s3-rate-5k"].contains(&r.scenario.as_str())
    }) {
        let p99 = Some(r.latency_ms.p99);
        checks.push(check(
            "fixed load",
            r.id(),
            p99,
            "p99 ms",
            Limit::AtMost(3.0),
        ));
    }
    for r in results {
        if let Some((process, mib)) = worst_idle_rss(r) {
            let run = format!("{} ({process})", r.id());
            checks.push(check(
                "memory",
                run,
                Some(mib),
                "idle RSS MiB",
                Limit::Below(50.0),
            ));
        }
    }
    if !results.is_empty() || !yardsticks.is_empty() {
        checks.push(completeness(results, yardsticks));
    }
    checks
}

/// One check over every run, yardsticks included: how many missed a delivery (or a
/// publish). Duplicates are named in the run column, not held against the target.
fn completeness(results: &[ScenarioResult], yardsticks: &[YardstickResult]) -> Check {
    let runs = results.len() + yardsticks.len();
    let incomplete = results.iter().filter(|r| !r.complete).count()
        + yardsticks.iter().filter(|y| !y.complete).count();
    let duplicates: u64 = results.iter().map(|r| r.duplicates).sum::<u64>()
        + yardsticks.iter().map(|y| y.duplicates).sum::<u64>();
    let run = format!("all {runs} runs ({duplicates} duplicates)");
    check(
        "completeness",
        run,
        Some(incomplete as f64),
        "runs incomplete",
        Limit::AtMost(0.0),
    )
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bare::Bare;
    use crate::procstat::Usage;
    use crate::publisher::Transport;
    use crate::report::Latency;

    /// A complete run `<layout>/<durability>/<scenario>` of 1 000 events to every
    /// one of `endpoints`, at `per_sec` deliveries per second and the given p99.
    fn run(
        id: &str,
        rate: Option<u32>,
        endpoints: usize,
        per_sec: f64,
        p99: f64,
    ) -> ScenarioResult {
        let mut parts = id.split('/');
        let layout = match parts.next() {
            Some("split") => Layout::Split,
            _ => Layout::All,
        };
        let durability = match parts.next() {
            Some("always") => Durability::Always,
            _ => Durability::Default,
        };
        let idle = |name: &str, idle_rss_mib| Usage {
            name: name.into(),
            idle_rss_mib,
            peak_rss_mib: 60.0,
            cpu_seconds: 1.0,
        };
        ScenarioResult {
            layout,
            durability,
            env: Vec::new(),
            scenario: parts.next().unwrap_or_default().into(),
            title: String::new(),
            transport: Transport::Nats,
            events: 1_000,
            endpoints,
            failing_endpoints: 0,
            hanging_endpoints: 0,
            hanging_requests: 0,
            payload_bytes: 1024,
            target_rate: rate,
            published: 1_000,
            publish_errors: 0,
            first_publish_error: None,
            publish_per_sec: 0.0,
            accepted_per_sec: None,
            deliveries_expected: 1_000 * endpoints as u64,
            deliveries: 1_000 * endpoints as u64,
            duplicates: 0,
            failing_attempts: 0,
            deliveries_per_sec: per_sec,
            per_endpoint_per_sec: per_sec / endpoints as f64,
            latency_ms: Latency {
                p50: p99 / 2.0,
                p95: p99,
                p99,
                max: p99,
            },
            duration_s: 1.0,
            complete: true,
            processes: vec![
                idle("herald ingest", 21.0),
                idle("herald dispatcher", 52.5),
                idle("nats-server", 90.0),
            ],
            ratio: None,
        }
    }

    fn yardstick(id: &str, per_sec: f64) -> YardstickResult {
        YardstickResult {
            id: id.into(),
            durability: Durability::Default,
            bare: Bare::Loop,
            messages: 3_000,
            payload_bytes: 1024,
            concurrency: 64,
            per_sec,
            latency_ms: None,
            done: 3_000,
            duplicates: 0,
            errors: 0,
            complete: true,
            duration_s: 0.2,
            processes: Vec::new(),
        }
    }

    fn yardsticks() -> Vec<YardstickResult> {
        vec![
            yardstick("bare/default/loop", 20_000.0),
            yardstick("bare/always/publish", 2_000.0),
        ]
    }

    #[test]
    fn each_profile_is_read_against_its_own_yardstick() {
        let loop_ratio = ratio(
            &run("all/default/s1-nats", None, 1, 6_000.0, 500.0),
            &yardsticks(),
        );
        assert_eq!(
            loop_ratio.map(|r| (r.yardstick, r.value)),
            Some(("bare/default/loop".into(), 0.3))
        );
        let durable = ratio(
            &run("all/always/s3-rate", Some(1_000), 1, 900.0, 5.0),
            &yardsticks(),
        );
        assert_eq!(durable.map(|r| r.value), Some(0.45));
        // A fixed rate in the default profile is the rate asked for: no ratio.
        assert_eq!(
            ratio(
                &run("all/default/s3-rate", Some(1_000), 1, 1_000.0, 2.0),
                &yardsticks()
            ),
            None
        );
        // Without its yardstick a run has no ratio either.
        assert_eq!(
            ratio(
                &run("all/always/s1-nats", None, 1, 900.0, 5.0),
                &yardsticks()[..1]
            ),
            None
        );
    }

    #[test]
    fn the_burst_tail_compares_p99_with_the_drain_time() {
        // 1 000 deliveries per endpoint at 500/s per endpoint drain in 2 s.
        let fanout = run("all/default/s2-fanout", None, 10, 5_000.0, 2_400.0);
        assert_eq!(burst_tail(&fanout), Some(1.2));
        // Failing endpoints get no deliveries: 8 healthy of 10 share the rate.
        let failing = ScenarioResult {
            failing_endpoints: 2,
            deliveries: 8_000,
            ..run("all/default/s4-failing", None, 10, 4_000.0, 1_000.0)
        };
        assert_eq!(burst_tail(&failing), Some(0.5));
        assert_eq!(
            burst_tail(&run("all/default/s3-rate", Some(1_000), 1, 1_000.0, 2.0)),
            None
        );
        assert_eq!(
            burst_tail(&run("all/default/s1-nats", None, 1, 0.0, 2.0)),
            None
        );
    }

    #[test]
    fn limits_are_inclusive_only_where_the_target_says_so() {
        assert!(Limit::AtLeast(0.3).holds(0.3) && !Limit::AtLeast(0.3).holds(0.299));
        assert!(Limit::AtMost(3.0).holds(3.0) && !Limit::AtMost(3.0).holds(3.001));
        assert!(!Limit::Below(20.0).holds(20.0) && Limit::Below(20.0).holds(19.9));
        assert_eq!(Limit::AtLeast(0.45).to_string(), "≥ 0.45");
    }

    #[test]
    fn targets_pass_and_miss_by_their_own_rule() {
        let results = [
            run("all/default/s1-nats", None, 1, 6_000.0, 500.0),
            run("all/default/s2-fanout", None, 10, 7_000.0, 1_500.0),
            run("all/always/s1-nats", None, 1, 800.0, 1_500.0),
            run("all/always/s3-rate", Some(1_000), 1, 900.0, 25.0),
            run("split/default/s3-rate-5k", Some(5_000), 1, 5_000.0, 2.5),
            ScenarioResult {
                complete: false,
                duplicates: 3,
                ..run("split/default/s1-nats", None, 1, 4_000.0, 300.0)
            },
        ];
        let checks = checks(&results, &yardsticks());
        let verdict = |target: &str, run: &str| {
            let found = checks
                .iter()
                .find(|c| c.target == target && c.run.starts_with(run));
            found.map(|c| c.verdict)
        };
        assert_eq!(
            verdict("one endpoint", "all/default/s1-nats"),
            Some(Verdict::Pass)
        );
        assert_eq!(
            verdict("one endpoint", "split/default/s1-nats"),
            None,
            "only `all` is held to it"
        );
        assert_eq!(
            verdict("fan-out", "all/default/s2-fanout"),
            Some(Verdict::Miss)
        );
        assert_eq!(
            verdict("durable", "all/always/s1-nats"),
            Some(Verdict::Miss)
        );
        assert_eq!(
            verdict("durable latency", "all/always/s3-rate"),
            Some(Verdict::Miss)
        );
        assert_eq!(
            verdict("fixed load", "split/default/s3-rate-5k"),
            Some(Verdict::Pass)
        );
        // 1 000 deliveries at 6 000/s drain in 167 ms; a p99 of 500 ms is three times that.
        assert_eq!(
            verdict("burst tail", "all/default/s1-nats"),
            Some(Verdict::Miss)
        );
        assert_eq!(
            verdict("burst tail", "all/always/s3-rate"),
            None,
            "fixed rate"
        );
        // The dispatcher's 52.5 MiB is the worst Herald process; nats-server is not Herald.
        let memory = checks.iter().find(|c| c.target == "memory").unwrap();
        assert_eq!(memory.run, "all/default/s1-nats (herald dispatcher)");
        assert_eq!((memory.value, memory.verdict), (Some(52.5), Verdict::Miss));
        let complete = checks.iter().find(|c| c.target == "completeness").unwrap();
        assert_eq!(complete.run, "all 8 runs (3 duplicates)");
        assert_eq!(
            (complete.value, complete.verdict),
            (Some(1.0), Verdict::Miss)
        );
    }

    #[test]
    fn a_missing_yardstick_leaves_its_target_unmeasured() {
        let results = [run("all/default/s1-nats", None, 1, 6_000.0, 100.0)];
        let checks = checks(&results, &[]);
        assert_eq!(checks[0].target, "one endpoint");
        assert_eq!(checks[0].verdict, Verdict::Unmeasured);
    }
}
