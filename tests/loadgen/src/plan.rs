//! What `make bench` measures: first the bare yardsticks (nats-server and the load
//! generator alone, one fresh server each), then the scenarios, each on a fresh stack
//! (a new nats-server store and new Herald processes, so peak memory and CPU belong to
//! that scenario alone), with `herald all` and with the four services apart, and under
//! both NATS durability profiles.
//!
//! Sizes fit the whole run in about 11 minutes on 2 cores with today's Herald;
//! `--scale` multiplies them (the fixed-rate scenarios only ever shrink).

use crate::bare::{Bare, Yardstick};
use crate::publisher::Transport;
use crate::scenario::Scenario;
use crate::stack::{Durability, Layout};

/// One measured run: a scenario on a fresh stack.
#[derive(Debug, Clone)]
pub struct Planned {
    pub layout: Layout,
    pub durability: Durability,
    pub scenario: Scenario,
}

impl Planned {
    /// `<layout>/<durability>/<scenario>`, which `--only` matches against.
    pub fn id(&self) -> String {
        format!("{}/{}/{}", self.layout, self.durability, self.scenario.name)
    }
}

const KB: usize = 1024;

fn scaled(events: u64, scale: f64) -> u64 {
    ((events as f64 * scale).round() as u64).max(1)
}

/// The scenarios, by name, at `scale` times their usual size.
pub fn scenarios(scale: f64) -> Vec<Scenario> {
    let base = |name: &str, title: &str, transport, events, endpoints| Scenario {
        name: name.to_owned(),
        title: title.to_owned(),
        transport,
        events: scaled(events, scale),
        endpoints,
        failing: 0,
        hanging: 0,
        payload_bytes: KB,
        rate: None,
        concurrency: 256,
    };
    vec![
        base(
            "s1-nats",
            "1 endpoint, 1 KB, max rate, published over NATS",
            Transport::Nats,
            3_000,
            1,
        ),
        Scenario {
            concurrency: 64,
            ..base(
                "s1-http",
                "1 endpoint, 1 KB, max rate, POST /v1/events",
                Transport::Http,
                3_000,
                1,
            )
        },
        base(
            "s2-fanout",
            "each event to 10 endpoints, 1 KB, max rate",
            Transport::Nats,
            1_000,
            10,
        ),
        Scenario {
            rate: Some(1_000),
            // Ten seconds at the fixed rate; a larger scale would only make it longer.
            events: scaled(10_000, scale.min(1.0)),
            ..base(
                "s3-rate",
                "1 endpoint, 1 KB, fixed 1 000 events/s (latency)",
                Transport::Nats,
                10_000,
                1,
            )
        },
        Scenario {
            rate: Some(5_000),
            events: scaled(50_000, scale.min(1.0)),
            ..base(
                "s3-rate-5k",
                "1 endpoint, 1 KB, fixed 5 000 events/s (latency)",
                Transport::Nats,
                50_000,
                1,
            )
        },
        Scenario {
            failing: 2,
            ..base(
                "s4-failing",
                "10 endpoints of which 2 answer 500, 1 KB, max rate",
                Transport::Nats,
                1_000,
                10,
            )
        },
        base(
            "s5-baseline",
            "9 healthy endpoints, 1 KB, max rate (the isolation scenario without its hanging endpoint)",
            Transport::Nats,
            1_000,
            9,
        ),
        Scenario {
            hanging: 1,
            ..base(
                "s5-isolation",
                "the same 9 healthy endpoints plus 1 that never answers (every attempt waits out the 30 s timeout), 1 KB, max rate",
                Transport::Nats,
                1_000,
                10,
            )
        },
    ]
}

/// Every run of the benchmark, in order.
pub fn bench(scale: f64) -> Vec<Planned> {
    let all = scenarios(scale);
    let pick = |names: &[&str]| -> Vec<Scenario> {
        all.iter()
            .filter(|s| names.contains(&s.name.as_str()))
            .cloned()
            .collect()
    };
    let every = [
        "s1-nats",
        "s1-http",
        "s2-fanout",
        "s3-rate",
        "s3-rate-5k",
        "s4-failing",
        "s5-baseline",
        "s5-isolation",
    ];
    let durable = ["s1-nats", "s3-rate"];
    let stacks: [(Layout, Durability, Vec<Scenario>); 4] = [
        (Layout::All, Durability::Default, pick(&every)),
        (Layout::All, Durability::Always, pick(&durable)),
        (Layout::Split, Durability::Default, pick(&every)),
        (Layout::Split, Durability::Always, pick(&durable)),
    ];
    stacks
        .into_iter()
        .flat_map(|(layout, durability, scenarios)| {
            scenarios.into_iter().map(move |scenario| Planned {
                layout,
                durability,
                scenario,
            })
        })
        .collect()
}

/// The bare yardsticks, run before Herald's scenarios. The delivery loop carries the
/// s1 scenarios' number of events; the publish run also their publish concurrency.
pub fn yardsticks(scale: f64) -> Vec<Yardstick> {
    let s1 = scenarios(scale)
        .into_iter()
        .find(|s| s.name == "s1-nats")
        .expect("the plan has s1-nats");
    let yardstick = |durability, bare, concurrency| Yardstick {
        durability,
        bare,
        messages: s1.events,
        payload_bytes: s1.payload_bytes,
        concurrency,
    };
    vec![
        yardstick(Durability::Default, Bare::Loop, 64),
        yardstick(Durability::Always, Bare::Loop, 64),
        yardstick(Durability::Default, Bare::Publish, s1.concurrency),
        yardstick(Durability::Always, Bare::Publish, s1.concurrency),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_runs_with_both_layouts_and_s1_with_both_profiles() {
        let plan = bench(1.0);
        let ids: Vec<String> = plan.iter().map(Planned::id).collect();
        for id in [
            "all/default/s4-failing",
            "split/default/s2-fanout",
            "all/always/s1-nats",
            "split/always/s1-nats",
            "all/default/s3-rate-5k",
            "split/default/s3-rate-5k",
            "all/always/s3-rate",
        ] {
            assert!(ids.iter().any(|i| i == id), "{id} missing from {ids:?}");
        }
        let failing = plan.iter().find(|p| p.scenario.name == "s4-failing");
        assert!(failing.is_some_and(|p| p.scenario.failing * 5 == p.scenario.endpoints));
        // The isolation run has the baseline's healthy endpoints plus one hanging.
        let by_name = |name: &str| plan.iter().find(|p| p.scenario.name == name).unwrap();
        let (baseline, isolation) = (by_name("s5-baseline"), by_name("s5-isolation"));
        assert_eq!(
            isolation.scenario.endpoints - isolation.scenario.hanging,
            baseline.scenario.endpoints
        );
    }

    #[test]
    fn scale_shrinks_but_never_to_nothing() {
        assert!(scenarios(0.0).iter().all(|s| s.events == 1));
        assert_eq!(scenarios(0.5)[0].events, 1_500);
        let rated = |scale| scenarios(scale).into_iter().filter(|s| s.rate.is_some());
        // Ten seconds each at scale 1 and above, five at scale 0.5.
        for (scale, seconds) in [(10.0, 10), (1.0, 10), (0.5, 5)] {
            for s in rated(scale) {
                assert_eq!(s.events, u64::from(s.rate.unwrap()) * seconds, "{}", s.name);
            }
        }
    }

    #[test]
    fn yardsticks_carry_the_s1_load() {
        let ids: Vec<String> = yardsticks(0.5).iter().map(Yardstick::id).collect();
        assert_eq!(
            ids,
            [
                "bare/default/loop",
                "bare/always/loop",
                "bare/default/publish",
                "bare/always/publish"
            ]
        );
        for y in yardsticks(0.5) {
            assert_eq!((y.messages, y.payload_bytes), (1_500, 1024));
        }
        let publish = &yardsticks(1.0)[3];
        assert_eq!(publish.concurrency, 256);
    }
}
