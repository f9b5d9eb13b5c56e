//! The documented delivery vocabulary: the three body formats, the producer's JSON
//! unchanged end to end, the operator's User-Agent, the status words, and the
//! event-type catalogue.

use std::time::Duration;

use bytes::Bytes;
use herald_proto::wire;
use herald_tests::PATIENCE;
use herald_tests::nats::{ALL_CONSUMERS, wait_idle};
use herald_tests::{Herald, NatsServer, Receiver, verify};
use prost::Message;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Non-alphabetical keys, a float written `8.0`, 2^60, non-ASCII text, `1.50`.
const DATA: &str =
    r#"{"zeta":8.0,"big":1152921504606846976,"text":"日本語 — café","alpha":[1.50,2]}"#;

async fn webhook_with(api: &herald_tests::Api, url: &str, format: &str) -> Value {
    let (status, body) = api
        .post(
            "/v1/webhooks",
            json!({"url": url, "events": ["job.*"], "payload_format": format}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["payload_format"], format);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_in_three_formats_each_signed_over_the_bytes_sent() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[("HERALD_USER_AGENT", "Acme-Webhooks/3.1")]).await;
    let api = herald.api();
    let (envelope, camel, data) = (
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    );
    let secrets = [
        webhook_with(&api, &envelope.url("/"), "envelope").await["secret"].clone(),
        webhook_with(&api, &camel.url("/"), "envelope_camel").await["secret"].clone(),
        webhook_with(&api, &data.url("/"), "data").await["secret"].clone(),
    ];
    let body = format!(
        r#"{{"event_type":"job.completed","event_id":"evt_fmt","job_id":"job_1","data":{DATA}}}"#
    );
    let (status, _) = api
        .raw("POST", "/v1/events", "application/json", body.into_bytes())
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);

    for (receiver, secret) in [&envelope, &camel, &data].into_iter().zip(&secrets) {
        let request = &receiver.wait_for(1, PATIENCE).await[0];
        let secret = secret.as_str().unwrap();
        assert!(verify::standard_webhooks(secret, request));
        assert!(verify::hex_signature(secret, request));
        assert_eq!(request.header("user-agent"), Some("Acme-Webhooks/3.1"));
        assert_eq!(request.header("webhook-id"), Some("evt_fmt"));
        assert_eq!(request.header("x-event-id"), Some("evt_fmt"));
    }
    // A receiver written against each shape.
    let e = envelope.received()[0].json();
    assert_eq!(e["event_id"], "evt_fmt");
    assert_eq!(e["event_type"], "job.completed");
    assert_eq!(e["api_version"], "v1");
    assert_eq!(e["retry_count"], 0);
    assert!(e["timestamp"].is_string());
    let text = String::from_utf8(envelope.received()[0].body.to_vec()).unwrap();
    assert!(text.contains(&format!(r#""data":{DATA}"#)), "{text}");

    let c = camel.received()[0].json();
    let keys: Vec<&String> = c.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["apiVersion", "createdAt", "data", "eventId", "eventType"]
    );
    assert_eq!(c["eventId"], "evt_fmt");
    assert_eq!(c["eventType"], "job.completed");
    let text = String::from_utf8(camel.received()[0].body.to_vec()).unwrap();
    assert!(text.contains(&format!(r#""data":{DATA}"#)), "{text}");

    assert_eq!(
        &data.received()[0].body[..],
        DATA.as_bytes(),
        "data format is data alone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_producers_json_arrives_unchanged_over_http_nats_json_and_protobuf() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let receiver = Receiver::start().await;
    webhook_with(&herald.api(), &receiver.url("/"), "data").await;

    let body = format!(r#"{{"event_type":"job.completed","data":{DATA}}}"#);
    herald
        .api()
        .raw(
            "POST",
            "/v1/events",
            "application/json",
            body.clone().into_bytes(),
        )
        .await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    client
        .publish("ingest.acme.job.completed", body.into())
        .await
        .unwrap();
    let protobuf = wire::Event {
        event_type: "job.completed".into(),
        data: Bytes::from_static(DATA.as_bytes()),
        ..Default::default()
    };
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Content-Type", "application/protobuf");
    client
        .publish_with_headers(
            "ingest.acme.job.completed",
            headers,
            protobuf.encode_to_vec().into(),
        )
        .await
        .unwrap();
    client.flush().await.unwrap();

    let received = receiver.wait_for(3, PATIENCE).await;
    for request in &received {
        assert_eq!(std::str::from_utf8(&request.body).unwrap(), DATA);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_callback_in_data_format_carries_its_headers() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let callback = Receiver::start().await;
    let (_, secret) = api.get("/v1/callback-secret").await;
    let data = r#"{"task_id":"t_1","status":"succeeded","webhook_type":"completed","timestamp":1700000000,"output":{"url":"https://cdn.example.com/x.png"}}"#;
    let body = format!(
        r#"{{"event_type":"inference.completed","job_id":"t_1","data":{data},"callback":{{"url":"{}","headers":{{"Authorization":"Bearer cust-42"}},"payload_format":"data"}}}}"#,
        callback.url("/cb")
    );
    let (status, reply) = api
        .raw("POST", "/v1/events", "application/json", body.into_bytes())
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    let request = &callback.wait_for(1, PATIENCE).await[0];
    assert_eq!(std::str::from_utf8(&request.body).unwrap(), data);
    assert_eq!(request.header("authorization"), Some("Bearer cust-42"));
    assert_eq!(request.header("webhook-id"), reply["event_id"].as_str());
    assert!(verify::standard_webhooks(
        secret["secret"].as_str().unwrap(),
        request
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delivery_log_speaks_pending_success_retrying_and_failed() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let ok = Receiver::start().await;
    let flaky = Receiver::start().await;
    flaky.respond_with(&[500]);
    // Pending while its first attempt waits out the webhook's 30 s timeout: long
    // enough to be seen however busy the machine is.
    let slow = Receiver::start().await;
    slow.delay(Duration::from_secs(3600));
    let (_, slow_hook) = api
        .post(
            "/v1/webhooks",
            json!({"url": slow.url("/"), "events": ["job.*"], "timeout_ms": 30_000}),
        )
        .await;
    let slow_id = slow_hook["webhook_id"].clone();
    let gone = Receiver::start().await;
    gone.respond_with(&[410]);
    let ok_id = api.create_webhook(&ok.url("/"), &["job.*"]).await["webhook_id"].clone();
    let (_, flaky_hook) = api
        .post(
            "/v1/webhooks",
            json!({"url": flaky.url("/"), "events": ["job.*"], "retry_schedule": ["1h"]}),
        )
        .await;
    let gone_id = api.create_webhook(&gone.url("/"), &["job.*"]).await["webhook_id"].clone();
    api.post(
        "/v1/events",
        json!({"event_type": "job.completed", "data": {}}),
    )
    .await;

    for (id, word) in [
        (&slow_id, "pending"),
        (&ok_id, "success"),
        (&flaky_hook["webhook_id"], "retrying"),
        (&gone_id, "failed"),
    ] {
        let path = format!(
            "/v1/webhooks/{}/deliveries?status={word}",
            id.as_str().unwrap()
        );
        let delivery = api
            .get_until(&path, word, |body| {
                let delivery = body["deliveries"].get(0)?;
                (word != "retrying" || delivery["next_attempt_at"].is_string())
                    .then(|| delivery.clone())
            })
            .await;
        assert_eq!(delivery["status"], word);
    }
    let (status, body) = api
        .get(&format!(
            "/v1/webhooks/{}/deliveries?status=dead",
            ok_id.as_str().unwrap()
        ))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalogue_is_listed_and_enforced() {
    let nats = NatsServer::start();
    let catalogue = format!(
        "{}/deploy/k8s/components/event-types/event-types.yaml",
        herald_tests::workspace_root().display()
    );
    let herald = Herald::start(&nats.url(), &[("HERALD_EVENT_TYPES", &catalogue)]).await;
    let api = herald.api();

    let (status, listed) = api.get("/v1/event-types").await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = listed["event_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"job.completed") && names.contains(&"training.progress"));

    let (status, body) = api
        .post(
            "/v1/webhooks",
            json!({"url": "https://x.example/h", "events": ["job.*", "genomics.*"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["detail"].as_str().unwrap().contains("`genomics.*`"),
        "{body}"
    );

    let receiver = Receiver::start().await;
    api.create_webhook(&receiver.url("/"), &["job.*"]).await;
    let (status, body) = api
        .post(
            "/v1/events",
            json!({"event_type": "job.failed", "data": {"jobId": "j1"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["detail"].as_str().unwrap().contains("job.failed"),
        "{body}"
    );

    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    js.publish(
        "ingest.acme.job.failed",
        Bytes::from_static(br#"{"data":{"jobId":"j1"}}"#),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let (status, _) = api
        .post(
            "/v1/events",
            json!({"event_type": "job.failed", "data": {"jobId": "j1", "errorCode": "OOM"}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    receiver.wait_for(1, PATIENCE).await;
    wait_idle(&nats.url(), ALL_CONSUMERS).await;
    assert_eq!(
        receiver.received().len(),
        1,
        "only the valid event is delivered"
    );

    let reason = &herald_tests::nats::rejected(&js, 1).await[0].reason;
    assert!(reason.contains("schema of `job.failed`"), "{reason}");
}
