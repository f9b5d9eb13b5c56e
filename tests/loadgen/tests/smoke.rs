//! A short run of the load generator against a real Herald, part of `make test`:
//! `target/<profile>/herald all` (which `make test` builds first) and the pinned
//! nats-server (`HERALD_TEST_NATS_SERVER`). Every event must reach every endpoint
//! exactly once and the report must add up; nothing here asserts on timing. The bare
//! delivery loop, the yardstick Herald is read against, runs the same way.

use std::path::{Path, PathBuf};

use herald_loadgen::bare::{self, Bare, Yardstick};
use herald_loadgen::publisher::Transport;
use herald_loadgen::report::ScenarioResult;
use herald_loadgen::scenario::{self, Scenario};
use herald_loadgen::stack::{self, Durability, Layout, Stack, StackConfig};

/// `target/<profile>/deps/smoke-<hash>` → `target/<profile>/herald`.
fn herald_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test runs from target/<profile>/deps");
    let herald = profile.join("herald");
    assert!(
        herald.exists(),
        "{} is missing: run `cargo build -p herald` first (`make test` does)",
        herald.display()
    );
    herald
}

fn scenario(name: &str, transport: Transport, events: u64, failing: usize) -> Scenario {
    Scenario {
        name: name.to_owned(),
        title: format!("smoke {name}"),
        transport,
        events,
        endpoints: 2,
        failing,
        hanging: 0,
        payload_bytes: 256,
        rate: None,
        concurrency: 32,
    }
}

fn check(result: &ScenarioResult, events: u64, healthy: u64) {
    let name = &result.scenario;
    assert!(
        result.complete,
        "{name}: not every delivery arrived: {result:#?}"
    );
    assert_eq!(result.published, events, "{name}");
    assert_eq!(
        result.publish_errors, 0,
        "{name}: {:?}",
        result.first_publish_error
    );
    assert_eq!(result.deliveries_expected, events * healthy, "{name}");
    // Each (event, endpoint) counts once, so this many means every one arrived...
    assert_eq!(result.deliveries, events * healthy, "{name}");
    // ...and none arrived twice.
    assert_eq!(result.duplicates, 0, "{name}");
    assert!(result.deliveries_per_sec > 0.0, "{name}");
    assert!(result.accepted_per_sec.is_some_and(|v| v > 0.0), "{name}");
    let latency = &result.latency_ms;
    assert!(
        latency.p50 <= latency.p95 && latency.p95 <= latency.p99 && latency.p99 <= latency.max,
        "{name}: {latency:?}"
    );
    for process in ["herald all", "nats-server", "herald-loadgen"] {
        let usage = result.processes.iter().find(|p| p.name == process);
        assert!(
            usage.is_some_and(|u| u.idle_rss_mib > 0.0
                && u.peak_rss_mib >= u.idle_rss_mib
                && u.cpu_seconds >= 0.0),
            "{name}: {process} in {:?}",
            result.processes
        );
    }
}

fn nats_server() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    stack::locate_nats_server(&workspace)
        .expect("no nats-server: run with `make test`, which sets HERALD_TEST_NATS_SERVER")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bare_delivery_loop_delivers_every_message_once() {
    let yardstick = Yardstick {
        durability: Durability::Default,
        bare: Bare::Loop,
        messages: 200,
        payload_bytes: 1024,
        concurrency: 64,
    };
    let result = bare::run(&yardstick, &nats_server())
        .await
        .expect("bare loop");
    assert!(result.complete, "{result:#?}");
    assert_eq!((result.done, result.duplicates, result.errors), (200, 0, 0));
    assert!(result.per_sec > 0.0);
    let latency = result.latency_ms.expect("the loop measures latency");
    assert!(latency.p50 <= latency.p99 && latency.p99 <= latency.max);
    for process in ["nats-server", "herald-loadgen"] {
        let usage = result.processes.iter().find(|p| p.name == process);
        assert!(
            usage.is_some_and(|u| u.idle_rss_mib > 0.0 && u.peak_rss_mib >= u.idle_rss_mib),
            "{process} in {:?}",
            result.processes
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_reaches_every_endpoint_exactly_once() {
    let nats_server = nats_server();
    let config = StackConfig {
        herald: herald_binary(),
        nats_server,
        layout: Layout::All,
        durability: Durability::Default,
        env: Vec::new(),
    };
    let stack = Stack::start(&config)
        .await
        .expect("nats-server and Herald start");

    let over_nats = scenario("smoke-nats", Transport::Nats, 200, 0);
    let result = scenario::run(&stack, &config, &over_nats)
        .await
        .expect("NATS run");
    check(&result, 200, 2);

    let over_http = Scenario {
        rate: Some(400),
        ..scenario("smoke-http", Transport::Http, 100, 0)
    };
    let result = scenario::run(&stack, &config, &over_http)
        .await
        .expect("HTTP run");
    check(&result, 100, 2);

    let half_failing = scenario("smoke-failing", Transport::Nats, 50, 1);
    let result = scenario::run(&stack, &config, &half_failing)
        .await
        .expect("failing run");
    check(&result, 50, 1);
    assert_eq!(
        result.failing_attempts, 50,
        "one first attempt each at the failing endpoint"
    );
}
