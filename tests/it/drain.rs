//! Graceful drain: a dispatcher told to stop finishes what it holds, loses nothing,
//! and exits 0.

use std::time::{Duration, Instant};

use herald_tests::PATIENCE;
use herald_tests::herald::Process;
use herald_tests::nats::{ALL_CONSUMERS, wait_idle};
use herald_tests::{Herald, NatsServer, Receiver};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_fifty_deliveries_in_flight_loses_none() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut env = Herald::test_env(&nats.url(), dir.path());
    env.set("HERALD_ENDPOINT_CONCURRENCY", "64");
    env.set("HERALD_SHUTDOWN_TIMEOUT", "20s");
    let (herald, mut dispatcher) = Herald::start_apart("dispatcher", &env, dir).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    receiver.delay(Duration::from_secs(3));
    let webhook = api.create_webhook(&receiver.url("/"), &["job.*"]).await;
    let id = webhook["webhook_id"].as_str().unwrap().to_owned();
    for n in 0..50 {
        api.post(
            "/v1/events",
            json!({"event_type": "job.completed", "data": {"n": n}}),
        )
        .await;
    }
    receiver.wait_for(50, PATIENCE).await;

    let asked = Instant::now();
    let status = dispatcher.terminate();
    assert!(
        status.success(),
        "the dispatcher exits 0 after draining: {status:?}"
    );
    assert!(
        asked.elapsed() >= Duration::from_secs(1),
        "it waited for the deliveries in flight"
    );

    let path = format!("/v1/webhooks/{id}/deliveries?status=success&limit=250");
    api.get_until(&path, "all fifty to be recorded as delivered", |body| {
        (body["total"] == 50).then_some(())
    })
    .await;
    // Nothing was left half done: a new dispatcher finds no work.
    let _next = Process::spawn("dispatcher", &env);
    wait_idle(&nats.url(), ALL_CONSUMERS).await;
    assert_eq!(receiver.received().len(), 50, "each delivered once");
}
