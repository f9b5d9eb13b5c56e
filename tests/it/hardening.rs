//! Defects a review found in the delivery path, each shown fixed: deliveries whose
//! webhook is gone are recorded, ids carry the tenant, a message that keeps failing
//! is parked instead of tried forever, a value from the wire never panics a
//! handler, concurrent webhook changes never undo each other, and manual attempts
//! on a disabled webhook are refused.

use std::time::Duration;

use bytes::Bytes;
use herald_proto::names::{self, RecordType};
use herald_proto::{DeliveryTask, Event, EventType, FanOut, Trigger, wire};
use herald_tests::api::is_retrying;
use herald_tests::herald::{OTHER_API_KEY, TENANT};
use herald_tests::{Herald, NatsServer, PATIENCE, Receiver};
use prost::Message;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_whose_webhook_was_deleted_is_recorded_failed_with_why() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[("HERALD_ENDPOINT_CONCURRENCY", "1")]).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    receiver.delay(Duration::from_secs(2));
    let webhook = api.create_webhook(&receiver.url("/"), &["job.*"]).await;
    let id = webhook["webhook_id"].as_str().unwrap().to_owned();
    let mut events = Vec::new();
    for n in 0..3 {
        let (_, body) = api
            .post(
                "/v1/events",
                json!({"event_type": "job.done", "data": {"n": n}}),
            )
            .await;
        events.push(body["event_id"].as_str().unwrap().to_owned());
    }
    // One attempt in flight (the cap is 1), two waiting: then the webhook goes.
    receiver.wait_for(1, PATIENCE).await;
    let (status, _) = api
        .call("DELETE", &format!("/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let mut failed = 0;
    for event_id in &events {
        let delivery_id = herald_proto::ids::delivery_id(TENANT, event_id, &id);
        let delivery = api
            .get_when(
                &format!("/v1/deliveries/{delivery_id}"),
                "the delivery to be settled",
                |d| d["status"] == "success" || d["status"] == "failed",
            )
            .await;
        if delivery["status"] == "failed" {
            failed += 1;
            let error = delivery["attempts"][0]["error"]
                .as_str()
                .unwrap_or_default();
            assert!(error.contains("deleted"), "{delivery}");
        }
    }
    assert!(
        failed >= 1,
        "the waiting deliveries are recorded, not dropped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenants_with_one_event_id_and_one_callback_url_each_get_theirs() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let receiver = Receiver::start().await;
    for (api, tenant) in [
        (herald.api(), "acme"),
        (herald.api().with_key(OTHER_API_KEY), "globex"),
    ] {
        let (status, body) = api
            .post(
                "/v1/events",
                json!({
                    "event_type": "job.completed",
                    "event_id": "evt_shared",
                    "job_id": "job_1",
                    "data": {"tenant": tenant},
                    "callback": {"url": receiver.url("/cb")},
                }),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let received = receiver.wait_for(2, PATIENCE).await;
    let mut tenants: Vec<String> = received
        .iter()
        .map(|r| r.json()["data"]["tenant"].as_str().unwrap().to_owned())
        .collect();
    tenants.sort();
    assert_eq!(tenants, ["acme", "globex"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_keeps_failing_is_parked_with_its_reason() {
    let nats = NatsServer::start();
    let herald = Herald::start(
        &nats.url(),
        &[
            ("HERALD_MAX_DELIVERIES", "3"),
            ("HERALD_REDELIVERY_BACKOFF_MAX", "200ms"),
        ],
    )
    .await;
    // A retry decision about an attempt that is never recorded: the status-tracker
    // can never apply it.
    // Any field the message gains later keeps its default.
    #[allow(clippy::needless_update)]
    let decision = wire::RetryDecision {
        delivery_id: "dlv_never_attempted".into(),
        tenant: TENANT.into(),
        endpoint_id: "wh_nowhere".into(),
        attempt: 1,
        next_attempt_at_ms: herald_proto::now_ms() + 60_000,
        event_id: "evt_nowhere".into(),
        ..Default::default()
    };
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    js.publish(
        format!("outcomes.{TENANT}.wh_nowhere.scheduled"),
        decision.encode_to_vec().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();

    let parked = herald_tests::nats::last_rejected(&js, TENANT).await;
    let reason = parked
        .headers
        .get("Herald-Rejected-Reason")
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default();
    assert!(reason.contains("gave up after 3 deliveries"), "{reason}");
    assert_eq!(
        parked
            .headers
            .get("Herald-Original-Subject")
            .map(|v| v.as_str()),
        Some(format!("outcomes.{TENANT}.wh_nowhere.scheduled").as_str())
    );
    let metrics = herald_tests::metrics::scrape(&herald.base_url).await;
    let rejected = metrics.get("herald_messages_rejected_total").copied();
    assert!(rejected.is_some_and(|n| n > 0.0), "{rejected:?}");
}

/// A record on `OUTCOMES` says what it is in its `Herald-Record-Type` header, and the
/// status-tracker reads it by that: a fan-out on a subject whose last token would
/// make it an attempt (as records without the header are told) is still a fan-out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_is_read_by_the_type_it_carries_not_by_its_subject() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let fan_out = FanOut {
        tenant: TENANT.into(),
        event_id: "evt_typed".into(),
        event_type: "order.created".into(),
        job_id: None,
        accepted_at_ms: herald_proto::now_ms(),
        deliveries: vec![("dlv_typed".into(), "wh_typed".into())],
    };
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(names::header::RECORD_TYPE, RecordType::FanOut.as_str());
    js.publish_with_headers(
        names::subject::attempt(TENANT, "wh_typed", true),
        headers,
        fan_out.encode(),
    )
    .await
    .unwrap()
    .await
    .unwrap();

    let delivery = api
        .get_when("/v1/deliveries/dlv_typed", "the fan-out's delivery", |_| {
            true
        })
        .await;
    assert_eq!(delivery["status"], names::status::PENDING, "{delivery}");
    assert_eq!(delivery["event_id"], "evt_typed", "{delivery}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_that_is_no_header_value_is_refused_and_nothing_panics() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    // A callback makes the tenant's callback secret.
    let (status, _) = api
        .post(
            "/v1/events",
            json!({"event_type": "job.started", "job_id": "job_1", "data": {},
                   "callback": {"url": receiver.url("/cb")}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    receiver.wait_for(1, PATIENCE).await;

    // A task whose target id is a valid subject token but no valid header value.
    let endpoint_id = "cb_\u{1}bad";
    let task = DeliveryTask {
        delivery_id: "dlv_bad_header".into(),
        endpoint_id: endpoint_id.into(),
        attempt: 1,
        event: Event {
            event_id: "evt_bad_header".into(),
            tenant: TENANT.into(),
            event_type: EventType::parse("job.done").unwrap(),
            data: Bytes::from_static(b"{}"),
            job_id: None,
            timestamp_ms: 1,
            accepted_at_ms: 1,
            callback: None,
        },
        trigger: Trigger::Auto,
        callback: Some(herald_proto::delivery::CallbackTarget {
            url: receiver.url("/cb"),
            headers: Default::default(),
            payload_format: Default::default(),
        }),
        traceparent: None,
        run_id: None,
    };
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    js.publish(task.subject(), task.encode())
        .await
        .unwrap()
        .await
        .unwrap();
    let delivery = api
        .get_when(
            "/v1/deliveries/dlv_bad_header",
            "the refusal to be recorded",
            |d| d["status"] == "failed",
        )
        .await;
    assert!(
        delivery["attempts"][0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("header"),
        "{delivery}"
    );
    // The dispatcher goes on delivering.
    api.post(
        "/v1/events",
        json!({"event_type": "job.completed", "job_id": "job_1", "data": {}}),
    )
    .await;
    receiver.wait_for(2, PATIENCE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_edits_never_undo_a_secret_rotation() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    let webhook = api.create_webhook(&receiver.url("/"), &["job.*"]).await;
    let id = webhook["webhook_id"].as_str().unwrap().to_owned();
    for round in 0..5 {
        let edits: Vec<_> = (0..20)
            .map(|n| {
                let (api, id) = (api.clone(), id.clone());
                tokio::spawn(async move {
                    api.call(
                        "PUT",
                        &format!("/v1/webhooks/{id}"),
                        Some(json!({"description": format!("edit {round}.{n}")})),
                    )
                    .await
                })
            })
            .collect();
        let rotated = api.rotate_secret(&id, Some(json!({}))).await;
        for edit in edits {
            assert_eq!(edit.await.unwrap().0, StatusCode::OK);
        }
        let secret = rotated["secret"].as_str().unwrap();
        let (status, outcome) = api
            .post(&format!("/v1/webhooks/{id}/test"), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{outcome}");
        let request = receiver.received().pop().unwrap();
        assert!(
            herald_tests::verify::hex_signature(secret, &request),
            "round {round}: an edit wrote back the secret from before the rotation"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_attempts_on_a_disabled_webhook_are_refused_with_409() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    receiver.respond_with(&[410]);
    let webhook = api.create_webhook(&receiver.url("/"), &["job.*"]).await;
    let id = webhook["webhook_id"].as_str().unwrap().to_owned();
    let (_, event) = api
        .post("/v1/events", json!({"event_type": "job.done", "data": {}}))
        .await;
    let event_id = event["event_id"].as_str().unwrap();
    api.get_when(
        &format!("/v1/webhooks/{id}"),
        "the webhook to be disabled",
        |w| w["status"] == "disabled",
    )
    .await;
    let delivery_id = herald_proto::ids::delivery_id(TENANT, event_id, &id);
    let (status, body) = api
        .post(
            &format!("/v1/webhooks/{id}/deliveries/{delivery_id}/retry"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "conflict");
    let (status, body) = api
        .post(
            &format!("/v1/webhooks/{id}/recover"),
            json!({"since": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(receiver.received().len(), 1, "nothing more was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_attempt_that_succeeds_drops_the_held_retry_and_each_counts() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    receiver.respond_with(&[500]);
    let (status, webhook) = api
        .post(
            "/v1/webhooks",
            json!({"url": receiver.url("/"), "events": ["job.*"], "retry_schedule": ["4s"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{webhook}");
    let id = webhook["webhook_id"].as_str().unwrap().to_owned();
    api.post("/v1/events", json!({"event_type": "job.done", "data": {}}))
        .await;
    let delivery = api
        .logged_delivery(&id, "the delivery to be retrying", is_retrying)
        .await;
    let delivery_id = delivery["delivery_id"].as_str().unwrap().to_owned();

    // Two manual attempts at once, while the automatic retry is held.
    let retry = format!("/v1/webhooks/{id}/deliveries/{delivery_id}/retry");
    let (first, second) = tokio::join!(api.post(&retry, json!({})), api.post(&retry, json!({})));
    assert_eq!(first.0, StatusCode::ACCEPTED, "{}", first.1);
    assert_eq!(second.0, StatusCode::ACCEPTED, "{}", second.1);
    let recorded = api
        .get_when(
            &format!("/v1/deliveries/{delivery_id}"),
            "both manual attempts recorded",
            |d| d["status"] == "success" && d["attempts"].as_array().is_some_and(|a| a.len() == 3),
        )
        .await;
    let numbers: Vec<u64> = recorded["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["attempt"].as_u64().unwrap())
        .collect();
    let mut sorted = numbers.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, [1, 2, 3], "attempt numbers are unique: {numbers:?}");
    let manual = recorded["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["trigger"] == "manual" && a["status"] == "success")
        .count();
    assert_eq!(manual, 2, "{recorded}");

    // The held retry was dropped: past its due time nothing more arrives.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        receiver.received().len(),
        3,
        "the automatic retry fired after a manual attempt delivered"
    );
    let (_, after) = api.get(&format!("/v1/deliveries/{delivery_id}")).await;
    assert_eq!(after["status"], "success", "{after}");
}
