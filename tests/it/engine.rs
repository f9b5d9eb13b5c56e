//! The delivery engine: fan-out without duplicates (even when the dispatcher is
//! killed), per-endpoint limits, HTTP behaviour, and test deliveries.

use std::time::Duration;

use bytes::Bytes;
use herald_proto::wire;
use herald_tests::PATIENCE;
use herald_tests::herald::{Process, TENANT};
use herald_tests::nats::{ALL_CONSUMERS, wait_idle};
use herald_tests::receiver::Reply;
use herald_tests::{Herald, NatsServer, Receiver, eventually};
use prost::Message;
use reqwest::StatusCode;
use serde_json::json;

/// Successful deliveries of `webhook_id`, from its delivery log.
async fn successes(api: &herald_tests::Api, webhook_id: &str) -> usize {
    let (_, body) = api
        .get(&format!("/v1/webhooks/{webhook_id}/deliveries?limit=250"))
        .await;
    body["deliveries"]
        .as_array()
        .map(|d| d.iter().filter(|d| d["status"] == "success").count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_dispatcher_does_not_resend_to_endpoints_already_delivered() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut env = Herald::test_env(&nats.url(), dir.path());
    env.set("HERALD_DELIVERY_TIMEOUT", "4s");
    // Everything but the dispatcher in this process; the dispatcher on its own.
    let (herald, mut dispatcher) = Herald::start_apart("dispatcher", &env, dir).await;
    let api = herald.api();

    let mut receivers = Vec::new();
    let mut webhooks = Vec::new();
    for i in 0..10 {
        let receiver = Receiver::start().await;
        if i >= 5 {
            receiver.delay(Duration::from_secs(3));
        }
        let webhook = api.create_webhook(&receiver.url("/"), &["job.*"]).await;
        webhooks.push(webhook["webhook_id"].as_str().unwrap().to_owned());
        receivers.push(receiver);
    }
    let (status, _) = api
        .post(
            "/v1/events",
            json!({"event_type": "job.completed", "data": {"n": 1}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // The five fast endpoints are done and their tasks acknowledged; the five slow
    // ones are in flight when the dispatcher dies.
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    eventually(PATIENCE, "five deliveries done, five in flight", || {
        let js = js.clone();
        let fast_done = receivers[..5].iter().all(|r| r.received().len() == 1);
        let slow_started = receivers[5..].iter().all(|r| r.received().len() == 1);
        async move {
            let backlog = herald_tests::nats::delivery_backlog(&js).await?;
            (fast_done && slow_started && backlog.ack_pending == 5 && backlog.pending == 0)
                .then_some(())
        }
    })
    .await;
    dispatcher.kill();
    let _dispatcher = Process::spawn("dispatcher", &env);

    for (receiver, webhook) in receivers[5..].iter().zip(&webhooks[5..]) {
        receiver.wait_for(2, PATIENCE).await;
        eventually(PATIENCE, "the slow delivery to succeed", || async {
            (successes(&api, webhook).await == 1).then_some(())
        })
        .await;
    }
    wait_idle(&nats.url(), ALL_CONSUMERS).await;
    for (i, receiver) in receivers.iter().enumerate() {
        let expected = if i < 5 { 1 } else { 2 };
        assert_eq!(receiver.received().len(), expected, "endpoint {i}");
    }
    for webhook in &webhooks {
        assert_eq!(successes(&api, webhook).await, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_out_that_runs_twice_stores_each_task_once() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let receivers = [
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    ];
    for receiver in &receivers {
        api.create_webhook(&receiver.url("/"), &["job.*"]).await;
    }
    // The same event stored twice on EVENTS (as after a crash between the fan-out
    // and its ack, the event is handed out again).
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let event = wire::Event {
        event_id: "evt_twice".into(),
        event_type: "job.completed".into(),
        data: Bytes::from_static(b"{}"),
        tenant: TENANT.into(),
        timestamp_ms: 1,
        accepted_at_ms: 1,
        ..Default::default()
    };
    for _ in 0..2 {
        js.publish("events.acme.job.completed", event.encode_to_vec().into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    for receiver in &receivers {
        receiver.wait_for(1, PATIENCE).await;
    }
    wait_idle(&nats.url(), ALL_CONSUMERS).await;
    for receiver in &receivers {
        assert_eq!(receiver.received().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_endpoint_is_capped_and_never_starves_the_others() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let slow = Receiver::start().await;
    slow.delay(Duration::from_secs(2));
    let fast = Receiver::start().await;
    api.create_webhook(&slow.url("/"), &["flood.*"]).await;
    api.create_webhook(&fast.url("/"), &["fast.*"]).await;

    for n in 0..60 {
        let (status, _) = api
            .post(
                "/v1/events",
                json!({"event_type": "flood.item", "data": {"n": n}}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    for n in 0..10 {
        api.post(
            "/v1/events",
            json!({"event_type": "fast.item", "data": {"n": n}}),
        )
        .await;
    }
    fast.wait_for(10, PATIENCE).await;
    let slow_done = slow.received().len();
    assert!(
        slow_done < 60,
        "the fast endpoint waited for the slow one's flood ({slow_done})"
    );
    slow.wait_for(60, PATIENCE).await;
    let most = slow.max_in_flight();
    assert!(
        most <= 10,
        "{most} requests in flight to one endpoint; the cap is 10"
    );
    assert!(
        most >= 5,
        "deliveries to one endpoint should run in parallel up to the cap ({most})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_webhooks_get_no_more_than_their_rate() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    let (status, body) = api
        .post(
            "/v1/webhooks",
            json!({"url": receiver.url("/"), "events": ["job.*"], "rate_limit_per_sec": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["rate_limit_per_sec"], 2);
    for n in 0..6 {
        api.post(
            "/v1/events",
            json!({"event_type": "job.tick", "data": {"n": n}}),
        )
        .await;
    }
    let received = receiver.wait_for(6, PATIENCE).await;
    // Two at once, then two a second: the sixth comes at least two seconds after the first.
    let spread = received[5].at - received[0].at;
    assert!(
        spread >= Duration::from_millis(1900),
        "six deliveries within {spread:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_deliveries_report_status_timing_body_and_failures() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    let elsewhere = Receiver::start().await;
    let (_, webhook) = api
        .post(
            "/v1/webhooks",
            json!({
                "url": receiver.url("/hook"),
                "events": ["job.*"],
                "headers": {"Authorization": "Bearer customer-token"},
                "timeout_ms": 1000,
            }),
        )
        .await;
    let id = webhook["webhook_id"].as_str().unwrap();
    let test = format!("/v1/webhooks/{id}/test");

    // Success: status, duration, the first 4 KiB of the body, static headers sent.
    receiver.reply_with(vec![Reply {
        status: 200,
        body: "x".repeat(10_000),
        headers: vec![],
    }]);
    let (status, outcome) = api.post(&test, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["success"], true);
    assert_eq!(outcome["status_code"], 200);
    assert!(outcome["response_time_ms"].is_u64());
    assert_eq!(outcome["response_body"].as_str().unwrap().len(), 4096);
    let request = &receiver.received()[0];
    assert_eq!(request.json()["event_type"], "webhook.test");
    assert_eq!(request.json()["data"]["webhook_id"], id);
    assert_eq!(
        request.header("authorization"),
        Some("Bearer customer-token")
    );

    // A redirect is not followed and counts as a failure.
    receiver.reply_with(vec![Reply {
        status: 302,
        body: String::new(),
        headers: vec![("location".into(), elsewhere.url("/"))],
    }]);
    let (_, outcome) = api.post(&test, json!({})).await;
    assert_eq!(outcome["success"], false);
    assert_eq!(outcome["status_code"], 302);
    assert_eq!(outcome["error"], "HTTP 302");
    assert!(elsewhere.received().is_empty());

    // The webhook's own timeout applies.
    receiver.delay(Duration::from_secs(3));
    let (_, outcome) = api.post(&test, json!({})).await;
    assert_eq!(outcome["success"], false);
    assert_eq!(outcome["status_code"], serde_json::Value::Null);
    assert_eq!(outcome["error"], "timed out after 1000 ms");

    let (status, body) = api
        .call(
            "PUT",
            &format!("/v1/webhooks/{id}"),
            Some(json!({"timeout_ms": 60000})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}
