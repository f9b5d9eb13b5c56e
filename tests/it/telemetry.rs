//! Trace export as deployed: the endpoint and protocol the manifests name reach a
//! collector on that port, `http/json` works too, `grpc` is refused at start, and
//! a collector that cannot be reached costs one warning, not one per export.

use std::process::Command;
use std::time::{Duration, Instant};

use herald_tests::herald::{API_KEY, Process, binary, wait_ready};
use herald_tests::otlp::Collector;
use herald_tests::{Api, Herald, NatsServer, PATIENCE, eventually};
use serde_json::json;

/// The ConfigMap every service reads its settings from.
const CONFIGMAP: &str = "deploy/k8s/base/configmap.yaml";

/// The OTLP port and protocol the ConfigMap names, from its
/// `OTEL_EXPORTER_OTLP_ENDPOINT` line (set or commented out for the operator to
/// fill in) and its `OTEL_EXPORTER_OTLP_PROTOCOL` line (`http/protobuf` without
/// one).
fn manifest_endpoint() -> (u16, String) {
    let path = herald_tests::workspace_root().join(CONFIGMAP);
    let text = std::fs::read_to_string(&path).unwrap();
    let value = |key: &str| {
        text.lines()
            .map(|line| line.trim().trim_start_matches('#').trim())
            .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
            .map(|v| v.trim().trim_matches('"').to_owned())
    };
    let endpoint = value("OTEL_EXPORTER_OTLP_ENDPOINT")
        .unwrap_or_else(|| panic!("{CONFIGMAP} names no OTEL_EXPORTER_OTLP_ENDPOINT"));
    let authority = endpoint
        .split_once("://")
        .map_or(endpoint.as_str(), |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap();
    let port = authority
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("{endpoint} names no port"));
    let protocol = value("OTEL_EXPORTER_OTLP_PROTOCOL").unwrap_or("http/protobuf".into());
    (port, protocol)
}

/// Starts ingest exporting to `collector` over `protocol`, posts an event, and
/// waits for ingest's spans at the collector.
async fn spans_arrive(collector: &Collector, protocol: &str) {
    herald_common::telemetry::init_crypto();
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut env = Herald::test_env(&nats.url(), dir.path());
    collector.export_from(&mut env);
    env.set("OTEL_EXPORTER_OTLP_PROTOCOL", protocol);
    let (_ingest, addr) = Process::spawn_listening("ingest", &env);
    let base = format!("http://{addr}");
    wait_ready(&base).await;
    let api = Api::new(base, API_KEY);
    let (status, body) = api
        .post(
            "/v1/events",
            json!({"event_type": "job.completed", "data": {"n": 1}}),
        )
        .await;
    assert!(status.is_success(), "{body}");
    eventually(PATIENCE, "ingest's spans at the collector", || async {
        collector
            .spans()
            .iter()
            .any(|s| s.service == "herald-ingest" && s.name == "ingest.accept")
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_reach_a_collector_on_the_port_and_protocol_the_manifests_name() {
    let (port, protocol) = manifest_endpoint();
    // The exporter speaks OTLP over HTTP, whose port is 4318; 4317 is OTLP/gRPC.
    let env = herald_common::config::MapEnv::new([("OTEL_EXPORTER_OTLP_PROTOCOL", &*protocol)]);
    herald_common::telemetry::protocol(&env).expect("a protocol Herald exports with");
    assert_eq!(
        port, 4318,
        "{CONFIGMAP} must name the collector's OTLP/HTTP port"
    );
    let collector = Collector::start_on_port(port).await;
    assert_eq!(collector.addr().port(), port);
    spans_arrive(&collector, &protocol).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_reach_the_collector_as_http_json() {
    let collector = Collector::start().await;
    spans_arrive(&collector, "http/json").await;
}

#[test]
fn grpc_is_refused_at_start_naming_the_variable() {
    for var in [
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    ] {
        for value in ["grpc", "thrift"] {
            let output = Command::new(binary())
                .arg("all")
                .env_clear()
                .env("HERALD_API_KEYS", "acme:acme-key-0123456789")
                .env("HERALD_SECRET_KEY", herald_tests::herald::SECRET_KEY)
                .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
                .env(var, value)
                .output()
                .expect("run herald");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(64), "{var}={value}: {stderr}");
            assert!(stderr.contains(var), "{var}={value}: {stderr}");
            assert!(
                stderr.contains("http/protobuf"),
                "says what to use: {stderr}"
            );
        }
    }
}

/// The line each report of failed exports starts with.
const EXPORT_WARNING: &str = "cannot export traces to the OTLP collector";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_collector_is_reported_once_not_per_export() {
    herald_common::telemetry::init_crypto();
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut env = Herald::test_env(&nats.url(), dir.path());
    // Nothing listens there; every export (every 100 ms) fails within 300 ms.
    let nowhere = format!("http://127.0.0.1:{}", herald_tests::free_port());
    env.set("OTEL_EXPORTER_OTLP_ENDPOINT", nowhere);
    env.set("OTEL_BSP_SCHEDULE_DELAY", "100");
    env.set("OTEL_EXPORTER_OTLP_TIMEOUT", "300");
    let log = dir.path().join("ingest.log");
    let (_ingest, addr) = Process::spawn_logging("ingest", &env, &log);
    let base = format!("http://{addr}");
    wait_ready(&base).await;
    let api = Api::new(base, API_KEY);
    let warnings = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains(EXPORT_WARNING))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    // Spans keep coming, so export after export fails, for a few seconds past the
    // first warning.
    let mut posted = 0;
    let mut warned_at = None;
    let started = Instant::now();
    while warned_at.is_none_or(|at: Instant| at.elapsed() < Duration::from_secs(3)) {
        assert!(
            started.elapsed() < PATIENCE,
            "no warning about failed exports"
        );
        let (status, body) = api
            .post(
                "/v1/events",
                json!({"event_type": "job.completed", "data": {"n": posted}}),
            )
            .await;
        assert!(status.is_success(), "{body}");
        posted += 1;
        if warned_at.is_none() && !warnings().is_empty() {
            warned_at = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let warnings = warnings();
    assert_eq!(
        warnings.len(),
        1,
        "one warning for {posted} events' spans: {warnings:?}"
    );
    let warning: serde_json::Value = serde_json::from_str(&warnings[0]).unwrap();
    assert_eq!(warning["level"], "WARN", "{warning}");
    assert_eq!(warning["fields"]["failed_exports"], 1, "{warning}");
}
