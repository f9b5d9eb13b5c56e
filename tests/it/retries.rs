//! Retries held by the broker: they survive the retry-scheduler's death and a
//! broker restart; 410 and exhaustion disable the webhook and announce it; people
//! can re-enable, retry one delivery and recover many; a deleted webhook's held
//! retries are dropped.

use std::time::Duration;

use futures::StreamExt;
use herald_tests::PATIENCE;
use herald_tests::api::is_retrying;
use herald_tests::nats::{ALL_CONSUMERS, wait_idle};
use herald_tests::{Api, Herald, NatsServer, Receiver};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_retries_fire_after_the_retry_scheduler_dies() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut env = Herald::test_env(&nats.url(), dir.path());
    env.set("HERALD_RETRY_SCHEDULE", "3s,3s");
    let (herald, mut scheduler) = Herald::start_apart("retry-scheduler", &env, dir).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    let id = hold_one_retry(&api, &receiver, 500).await;
    scheduler.kill();
    the_retry_succeeds(&api, &receiver, &id).await;
}

/// Creates a webhook whose receiver fails the first attempt with `status`, sends
/// one event, and waits until its retry is held. Returns the webhook id.
async fn hold_one_retry(api: &Api, receiver: &Receiver, status: u16) -> String {
    receiver.respond_with(&[status]);
    let webhook = api.create_webhook(&receiver.url("/"), &["job.*"]).await;
    let id = webhook["webhook_id"].as_str().unwrap().to_owned();
    api.post(
        "/v1/events",
        json!({"event_type": "job.completed", "data": {}}),
    )
    .await;
    api.logged_delivery(&id, "the retry to be held", is_retrying)
        .await;
    id
}

/// The held retry reaches the receiver as the second attempt and succeeds.
async fn the_retry_succeeds(api: &Api, receiver: &Receiver, id: &str) {
    let received = receiver.wait_for(2, PATIENCE).await;
    assert_eq!(received[1].json()["retry_count"], 1);
    api.logged_delivery(id, "the retry to succeed", |d| d["status"] == "success")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_retries_fire_after_the_broker_restarts() {
    let mut nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[("HERALD_RETRY_SCHEDULE", "4s,4s")]).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    let id = hold_one_retry(&api, &receiver, 503).await;
    nats.restart();
    the_retry_succeeds(&api, &receiver, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_disables_at_once_and_is_announced() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    let watcher = Receiver::start().await;
    receiver.respond_with(&[410]);
    let webhook = api.create_webhook(&receiver.url("/"), &["job.*"]).await;
    let id = webhook["webhook_id"].as_str().unwrap();
    api.create_webhook(&watcher.url("/"), &["webhook.*"]).await;
    api.post(
        "/v1/events",
        json!({"event_type": "job.completed", "data": {}}),
    )
    .await;

    let disabled = api
        .get_when(
            &format!("/v1/webhooks/{id}"),
            "the webhook to be disabled",
            |w| w["status"] == "disabled",
        )
        .await;
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("410"),
        "{disabled}"
    );
    let announced = watcher.wait_for(1, PATIENCE).await[0].json();
    assert_eq!(announced["event_type"], "webhook.disabled");
    assert_eq!(announced["data"]["webhook_id"], id);
    api.logged_delivery(id, "the delivery to be failed", |d| d["status"] == "failed")
        .await;
    wait_idle(&nats.url(), ALL_CONSUMERS).await;
    assert_eq!(receiver.received().len(), 1, "410 is not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhaustion_disables_then_people_enable_recover_and_retry() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    let watcher = Receiver::start().await;
    // Every attempt fails until the receiver is fixed, below.
    receiver.respond_with(&[500; 100]);
    let (status, webhook) = api
        .post(
            "/v1/webhooks",
            json!({"url": receiver.url("/"), "events": ["job.*"], "retry_schedule": ["1s"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{webhook}");
    assert_eq!(webhook["retry_schedule"], json!(["1s"]));
    let id = webhook["webhook_id"].as_str().unwrap();
    api.create_webhook(&watcher.url("/"), &["webhook.disabled"])
        .await;
    let since = herald_proto::rfc3339(herald_proto::now_ms() - 1000);
    for n in 0..2 {
        api.post(
            "/v1/events",
            json!({"event_type": "job.completed", "data": {"n": n}}),
        )
        .await;
    }

    let disabled = api
        .get_when(
            &format!("/v1/webhooks/{id}"),
            "exhaustion to disable the webhook",
            |w| w["status"] == "disabled",
        )
        .await;
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("failed"),
        "{disabled}"
    );
    assert_eq!(
        watcher.wait_for(1, PATIENCE).await[0].json()["data"]["webhook_id"],
        id
    );
    wait_idle(&nats.url(), ALL_CONSUMERS).await;
    let path = format!("/v1/webhooks/{id}/deliveries?status=failed");
    api.get_until(&path, "both deliveries to be failed", |body| {
        (body["total"] == 2).then_some(())
    })
    .await;

    let (status, enabled) = api
        .post(&format!("/v1/webhooks/{id}/enable"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(enabled["status"], "active");
    assert!(enabled.get("disabled_reason").is_none());

    receiver.respond_with(&[]);
    let before = receiver.received().len();
    let (status, recovered) = api
        .post(
            &format!("/v1/webhooks/{id}/recover"),
            json!({"since": since}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{recovered}");
    assert_eq!(recovered["recovered"], 2);
    receiver.wait_for(before + 2, PATIENCE).await;
    let path = format!("/v1/webhooks/{id}/deliveries?status=success");
    api.get_until(&path, "both recovered deliveries to succeed", |body| {
        (body["total"] == 2).then_some(())
    })
    .await;

    // One delivery, by hand, once more.
    let (_, log) = api.get(&format!("/v1/webhooks/{id}/deliveries")).await;
    let delivery = &log["deliveries"][0];
    let attempts = delivery["attempts"].as_u64().unwrap();
    let delivery_id = delivery["delivery_id"].as_str().unwrap();
    let (status, body) = api
        .post(
            &format!("/v1/webhooks/{id}/deliveries/{delivery_id}/retry"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["attempt"], attempts + 1);
    receiver.wait_for(before + 3, PATIENCE).await;
    api.logged_delivery(id, "the manual attempt to be logged", |d| {
        d["delivery_id"] == delivery_id && d["attempts"] == attempts + 1
    })
    .await;
    let (status, _) = api
        .post(
            &format!("/v1/webhooks/{id}/deliveries/dlv_missing/retry"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_webhooks_held_retries_never_fire() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[("HERALD_RETRY_SCHEDULE", "6s")]).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    receiver.respond_with(&[500]);
    let webhook = api.create_webhook(&receiver.url("/"), &["job.*"]).await;
    let id = webhook["webhook_id"].as_str().unwrap();
    api.post(
        "/v1/events",
        json!({"event_type": "job.completed", "data": {}}),
    )
    .await;
    let held = api
        .logged_delivery(id, "the retry to be held", is_retrying)
        .await;

    let (status, _) = api
        .call("DELETE", &format!("/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream("DELIVERIES").await.unwrap();
    let mut held_subjects = stream
        .info_with_subjects(format!("schedules.acme.{id}.>"))
        .await
        .unwrap();
    let remaining = held_subjects.next().await;
    assert!(remaining.is_none(), "held retries remain");
    // Past the time it was due, it still has not come.
    let due = herald_proto::parse_rfc3339(held["next_attempt_at"].as_str().unwrap()).unwrap();
    let wait = (due - herald_proto::now_ms()).max(0) as u64 + 1500;
    tokio::time::sleep(Duration::from_millis(wait)).await;
    wait_idle(&nats.url(), ALL_CONSUMERS).await;
    assert_eq!(receiver.received().len(), 1);
}
