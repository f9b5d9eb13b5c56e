//! `/metrics`: Prometheus text that parses, carries the documented series, and moves
//! when deliveries happen — in `herald all` and in a single service.

use std::collections::HashMap;

use herald_tests::PATIENCE;
use herald_tests::herald::Process;
use herald_tests::metrics::{parse, scrape};
use herald_tests::{Herald, NatsServer, Receiver, eventually};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_move_when_deliveries_happen() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    api.create_webhook(&receiver.url("/"), &["job.*"]).await;

    let before = scrape(&herald.base_url).await;
    let get = |m: &HashMap<String, f64>, k: &str| m.get(k).copied().unwrap_or(0.0);
    for n in 0..3 {
        api.post(
            "/v1/events",
            json!({"event_type": "job.completed", "data": {"n": n}}),
        )
        .await;
    }
    receiver.wait_for(3, PATIENCE).await;
    let after = eventually(PATIENCE, "the counters to move", || async {
        let after = scrape(&herald.base_url).await;
        (get(&after, "herald_status_records_total") - get(&before, "herald_status_records_total")
            >= 6.0)
            .then_some(after)
    })
    .await;
    // Other tests share this process's metrics, so counts only ever grow by at least ours.
    let grew = |name: &str, by: f64| {
        let delta = get(&after, name) - get(&before, name);
        assert!(
            delta >= by,
            "{name} grew by {delta}, expected at least {by}"
        );
    };
    grew("herald_delivery_attempts_total", 3.0);
    grew("herald_delivery_attempt_duration_seconds_count", 3.0);
    grew("herald_delivery_latency_seconds_count", 3.0);
    grew("herald_delivery_first_attempt_latency_seconds_count", 3.0);
    // Each stream's limit, for the storage panel: EVENTS at its default of 3 GiB.
    assert!(
        after
            .iter()
            .any(|(k, v)| k.starts_with("herald_stream_limit_bytes{")
                && k.contains(r#"stream="EVENTS""#)
                && *v == (3u64 << 30) as f64),
        "herald_stream_limit_bytes for EVENTS"
    );
    grew("herald_events_total", 3.0);
    assert!(
        after
            .keys()
            .any(|k| k.starts_with("herald_delivery_attempts_total{")
                && k.contains(r#"status="success""#))
    );
    assert!(after.keys().any(|k| k.starts_with("herald_events_total{")
        && k.contains(r#"source="http""#)
        && k.contains(r#"result="accepted""#)));
    // Consumer lag is reported for every consumer of the process.
    let lag = eventually(PATIENCE, "consumer gauges", || async {
        let now = scrape(&herald.base_url).await;
        now.keys()
            .any(|k| {
                k.starts_with("herald_consumer_pending{") && k.contains(r#"consumer="dispatcher-p"#)
            })
            .then_some(now)
    })
    .await;
    assert!(
        lag.keys()
            .any(|k| k.starts_with("herald_consumer_ack_pending{"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_service_serves_its_own_metrics() {
    herald_common::telemetry::init_crypto();
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let env = Herald::test_env(&nats.url(), dir.path());
    let (_dispatcher, addr) = Process::spawn_listening("dispatcher", &env);
    let base = format!("http://{addr}");
    let metrics = eventually(PATIENCE, "the dispatcher's /metrics", || async {
        let response = reqwest::get(format!("{base}/metrics")).await.ok()?;
        response.status().is_success().then_some(())?;
        Some(parse(&response.text().await.ok()?))
    })
    .await;
    assert!(
        metrics
            .keys()
            .any(|k| k.contains(r#"service="dispatcher""#)),
        "series carry the service label: {:?}",
        metrics.keys().take(5).collect::<Vec<_>>()
    );
    // /metrics answers from the start, while the service may still be starting.
    herald_tests::herald::wait_ready(&base).await;
}
