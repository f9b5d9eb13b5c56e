//! The walking skeleton end to end: a webhook for `job.*` gets `job.completed` over
//! HTTP and `job.failed` as protobuf over NATS, signed both ways, once each; other
//! types do not reach it; the delivery log lists both.

use bytes::Bytes;
use herald_proto::wire;
use herald_tests::PATIENCE;
use herald_tests::nats::{ALL_CONSUMERS, wait_idle};
use herald_tests::{Herald, NatsServer, Receiver, verify};
use prost::Message;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_over_http_and_nats_reach_subscribed_webhooks_signed_once() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let jobs = Receiver::start().await;
    let vision = Receiver::start().await;

    let webhook = api
        .create_webhook(&jobs.url("/hooks/jobs"), &["job.*"])
        .await;
    let webhook_id = webhook["webhook_id"].as_str().unwrap().to_owned();
    let secret = webhook["secret"].as_str().unwrap().to_owned();
    assert_eq!(webhook["status"], "active");
    assert_eq!(webhook["events"], json!(["job.*"]));
    assert!(secret.starts_with("whsec_"));
    assert!(webhook["created_at"].as_str().unwrap().ends_with('Z'));
    api.create_webhook(&vision.url("/hooks/vision"), &["vision.>"])
        .await;

    // job.completed over HTTP, sent twice with the same id.
    let event = json!({
        "event_type": "job.completed",
        "event_id": "evt_http_1",
        "job_id": "job_42",
        "data": {"job_id": "job_42", "result_url": "https://cdn.example.com/out.png"},
    });
    for _ in 0..2 {
        let (status, body) = api.post("/v1/events", event.clone()).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["event_id"], "evt_http_1");
    }

    // job.failed as protobuf over NATS, as a job producer publishes it.
    let client = async_nats::connect(nats.url()).await.unwrap();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Content-Type", "application/protobuf");
    let protobuf = wire::Event {
        event_id: "evt_nats_1".into(),
        event_type: "job.failed".into(),
        data: Bytes::from_static(br#"{"job_id":"job_43","error_code":"OOM"}"#),
        job_id: "job_43".into(),
        ..Default::default()
    };
    client
        .publish_with_headers(
            "ingest.acme.job.failed",
            headers,
            protobuf.encode_to_vec().into(),
        )
        .await
        .unwrap();
    client.flush().await.unwrap();

    // vision.completed goes to the vision webhook only.
    let (status, _) = api
        .post(
            "/v1/events",
            json!({"event_type": "vision.completed", "data": {"labels": ["cat"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);

    vision.wait_for(1, PATIENCE).await;
    jobs.wait_for(2, PATIENCE).await;
    wait_idle(&nats.url(), ALL_CONSUMERS).await;

    let received = jobs.received();
    assert_eq!(received.len(), 2, "each event exactly once, nothing else");
    let mut seen = Vec::new();
    for request in &received {
        assert_eq!(request.path, "/hooks/jobs");
        assert!(
            verify::standard_webhooks(&secret, request),
            "Standard Webhooks signature"
        );
        assert!(
            verify::hex_signature(&secret, request),
            "X-Webhook-Signature"
        );
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(
            request.header("user-agent"),
            Some(format!("Herald/{}", env!("CARGO_PKG_VERSION")).as_str())
        );
        assert_eq!(request.header("x-webhook-id"), Some(webhook_id.as_str()));
        let body = request.json();
        assert_eq!(request.header("x-event-id"), body["event_id"].as_str());
        assert_eq!(request.header("webhook-id"), body["event_id"].as_str());
        assert_eq!(
            request.header("x-timestamp"),
            request.header("webhook-timestamp")
        );
        assert_eq!(body["api_version"], "v1");
        assert_eq!(body["retry_count"], 0);
        assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
        seen.push((
            body["event_type"].as_str().unwrap().to_owned(),
            body["data"].clone(),
        ));
    }
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(seen[0].0, "job.completed");
    assert_eq!(seen[0].1["result_url"], "https://cdn.example.com/out.png");
    assert_eq!(seen[1].0, "job.failed");
    assert_eq!(seen[1].1["error_code"], "OOM");
    assert_eq!(
        vision.received()[0].json()["event_type"],
        "vision.completed"
    );

    // The delivery log lists both, newest first, with status and response time.
    let path = format!("/v1/webhooks/{webhook_id}/deliveries?limit=50");
    let log = api
        .get_when(&path, "two deliveries in the log", |body| {
            body["deliveries"].as_array().is_some_and(|d| d.len() == 2)
        })
        .await;
    assert_eq!(log["total"], 2);
    assert_eq!(log["limit"], 50);
    let mut ids = Vec::new();
    for delivery in log["deliveries"].as_array().unwrap() {
        assert_eq!(delivery["status"], "success");
        assert_eq!(delivery["status_code"], 200);
        assert!(delivery["response_time_ms"].is_u64());
        assert!(
            delivery["delivery_id"]
                .as_str()
                .unwrap()
                .starts_with("dlv_")
        );
        assert!(delivery["timestamp"].as_str().unwrap().ends_with('Z'));
        ids.push(delivery["event_id"].as_str().unwrap().to_owned());
    }
    ids.sort();
    assert_eq!(ids, ["evt_http_1", "evt_nats_1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_gets_the_event_again_until_it_accepts() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    receiver.respond_with(&[500, 503]);
    let webhook = api
        .create_webhook(&receiver.url("/"), &["job.completed"])
        .await;
    let webhook_id = webhook["webhook_id"].as_str().unwrap();

    let (status, _) = api
        .post(
            "/v1/events",
            json!({"event_type": "job.completed", "data": {"n": 1}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);

    let received = receiver.wait_for(3, PATIENCE).await;
    let counts: Vec<_> = received
        .iter()
        .map(|r| r.json()["retry_count"].clone())
        .collect();
    assert_eq!(counts, [json!(0), json!(1), json!(2)]);
    // The same message id on every attempt, so receivers can tell repeats apart.
    assert!(
        received
            .iter()
            .all(|r| r.header("webhook-id") == received[0].header("webhook-id"))
    );

    let path = format!("/v1/webhooks/{webhook_id}/deliveries");
    api.get_until(&path, "the delivery to be logged as a success", |body| {
        let delivery = body["deliveries"].get(0)?;
        (delivery["status"] == "success" && delivery["attempts"] == 3).then_some(())
    })
    .await;
}

/// First attempts to an endpoint that keeps up go from the fan-out straight to the
/// endpoint's lane on the dispatcher that owns it: no task is stored for them, and
/// the delivery log shows them as any other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_attempts_to_an_endpoint_that_keeps_up_store_no_task() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    let webhook = api.create_webhook(&receiver.url("/"), &["job.*"]).await;
    let webhook_id = webhook["webhook_id"].as_str().unwrap();
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    // The dispatcher owns every partition before the events come.
    herald_tests::nats::wait_partitions_owned(&js).await;

    for n in 0..20 {
        let (status, _) = api
            .post(
                "/v1/events",
                json!({"event_type": "job.completed", "data": {"n": n}}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    receiver.wait_for(20, PATIENCE).await;
    let path = format!("/v1/webhooks/{webhook_id}/deliveries?status=success&limit=100");
    api.get_until(&path, "all twenty to be recorded as delivered", |body| {
        (body["total"] == 20).then_some(())
    })
    .await;
    wait_idle(&nats.url(), ALL_CONSUMERS).await;
    let mut deliveries = js.get_stream("DELIVERIES").await.unwrap();
    let stored = deliveries.info().await.unwrap().state.last_sequence;
    assert_eq!(stored, 0, "no delivery task was stored");
    assert_eq!(receiver.received().len(), 20, "each delivered once");
}
