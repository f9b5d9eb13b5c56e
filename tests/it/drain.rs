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

/// A dispatcher's environment for the drain tests: attempts may take 10 s, the
/// drain `shutdown`.
fn slow_env(
    nats: &NatsServer,
    dir: &std::path::Path,
    shutdown: &str,
) -> herald_common::config::MapEnv {
    let mut env = Herald::test_env(&nats.url(), dir);
    env.set("HERALD_DELIVERY_TIMEOUT", "10s");
    env.set("HERALD_SHUTDOWN_TIMEOUT", shutdown);
    env
}

/// Herald with the dispatcher as a process of its own, and one event's attempt in
/// flight to a receiver that answers after `delay`; returns the webhook's id too.
async fn attempt_in_flight(
    env: &herald_common::config::MapEnv,
    dir: tempfile::TempDir,
    delay: Duration,
) -> (Herald, Process, Receiver, String) {
    let (herald, dispatcher) = Herald::start_apart("dispatcher", env, dir).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    receiver.delay(delay);
    let webhook = api.create_webhook(&receiver.url("/"), &["job.*"]).await;
    let id = webhook["webhook_id"].as_str().unwrap().to_owned();
    api.post(
        "/v1/events",
        json!({"event_type": "job.completed", "data": {"n": 1}}),
    )
    .await;
    receiver.wait_for(1, PATIENCE).await;
    (herald, dispatcher, receiver, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_attempt_in_flight_at_sigterm_is_finished_recorded_and_not_repeated() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    // 12 s of drain: 9 s for attempts in flight, 3 s to record them.
    let env = slow_env(&nats, dir.path(), "12s");
    // Slower than a few seconds, within the webhook's 10 s.
    let (herald, mut dispatcher, receiver, id) =
        attempt_in_flight(&env, dir, Duration::from_secs(6)).await;
    let api = herald.api();

    let asked = Instant::now();
    let status = dispatcher.terminate();
    let took = asked.elapsed();
    assert!(status.success(), "a clean exit: {status:?}");
    assert!(
        took >= Duration::from_secs(4),
        "it waited for the answer: {took:?}"
    );
    assert!(took < Duration::from_secs(12), "within its drain: {took:?}");

    let path = format!("/v1/webhooks/{id}/deliveries?status=success");
    api.get_until(&path, "the delivery to be recorded", |body| {
        (body["total"] == 1).then_some(())
    })
    .await;
    let _next = Process::spawn("dispatcher", &env);
    wait_idle(&nats.url(), ALL_CONSUMERS).await;
    assert_eq!(receiver.received().len(), 1, "delivered once, not again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_outlasting_the_drain_is_handed_back_and_the_exit_is_clean() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    // 4 s of drain: 3 s for attempts in flight, less than the receiver takes.
    let env = slow_env(&nats, dir.path(), "4s");
    let (herald, mut dispatcher, receiver, id) =
        attempt_in_flight(&env, dir, Duration::from_secs(8)).await;
    let api = herald.api();

    let asked = Instant::now();
    let status = dispatcher.terminate();
    let took = asked.elapsed();
    assert!(status.success(), "a clean exit: {status:?}");
    assert!(
        took < Duration::from_secs(5),
        "within its drain (4 s): {took:?}"
    );

    // The task was handed back: the next dispatcher delivers it (at least once,
    // with the same webhook-id) and it is recorded.
    receiver.delay(Duration::ZERO);
    let _next = Process::spawn("dispatcher", &env);
    let received = receiver.wait_for(2, PATIENCE).await;
    assert_eq!(
        received[0].header("webhook-id"),
        received[1].header("webhook-id")
    );
    let path = format!("/v1/webhooks/{id}/deliveries?status=success");
    api.get_until(&path, "the delivery to be recorded", |body| {
        (body["total"] == 1).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_answers_a_request_in_flight_and_ends_live_streams_at_sigterm() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let env = slow_env(&nats, dir.path(), "12s");
    let modes = [
        herald::Mode::Dispatcher,
        herald::Mode::RetryScheduler,
        herald::Mode::StatusTracker,
    ];
    let _rest = Herald::start_modes(&modes, env.clone(), dir).await;
    let (mut ingest, addr) = Process::spawn_listening("ingest", &env);
    let base = format!("http://{addr}");
    herald_tests::herald::wait_ready(&base).await;
    let api = herald_tests::Api::new(&base, herald_tests::herald::API_KEY);
    let receiver = Receiver::start().await;
    receiver.delay(Duration::from_secs(5));
    let webhook = api.create_webhook(&receiver.url("/"), &["job.*"]).await;
    let id = webhook["webhook_id"].as_str().unwrap().to_owned();

    // A live stream open, and a test delivery waiting for the slow receiver.
    let mut stream = reqwest::Client::new()
        .get(format!("{base}/v1/stream?events=job.*"))
        .bearer_auth(herald_tests::herald::API_KEY)
        .send()
        .await
        .unwrap();
    assert!(stream.status().is_success());
    let test = tokio::spawn({
        let api = api.clone();
        async move {
            api.post(&format!("/v1/webhooks/{id}/test"), json!({}))
                .await
        }
    });
    receiver.wait_for(1, PATIENCE).await;

    let asked = Instant::now();
    let exited = tokio::task::spawn_blocking(move || {
        let status = ingest.terminate();
        (status, ingest)
    });
    let mut text = String::new();
    while !text.contains("event: shutdown") {
        let chunk = tokio::time::timeout(PATIENCE, stream.chunk())
            .await
            .expect("the stream ends with a shutdown event");
        match chunk.unwrap() {
            Some(bytes) => text.push_str(&String::from_utf8_lossy(&bytes)),
            None => panic!("the stream ended without a shutdown event: {text}"),
        }
    }
    let (status, outcome) = test.await.unwrap();
    assert!(
        status.is_success(),
        "the request in flight is answered: {outcome}"
    );
    assert_eq!(outcome["success"], true, "{outcome}");
    let (exit, _ingest) = exited.await.unwrap();
    let took = asked.elapsed();
    assert!(exit.success(), "a clean exit: {exit:?}");
    assert!(took < Duration::from_secs(12), "within its drain: {took:?}");
}
