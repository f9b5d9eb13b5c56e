//! Header values are sealed wherever Herald keeps them on the broker: a webhook's
//! static headers in `endpoints`, a job callback's headers in `job-callbacks`, in
//! the event on `EVENTS`, in every delivery task and attempt record. Receivers get
//! them in the clear; entries written before values were sealed still deliver theirs.

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use herald_common::config::MapEnv;
use herald_common::secrets::Cipher;
use herald_proto::{Callback, DeliveryAttempt, DeliveryTask, Endpoint, Event, SealedHeaders, wire};
use herald_tests::herald::{SECRET_KEY, TENANT};
use herald_tests::nats::{ALL_CONSUMERS, wait_idle};
use herald_tests::receiver::Reply;
use herald_tests::{Herald, NatsServer, PATIENCE, Receiver, eventually};
use prost::Message;
use reqwest::StatusCode;
use serde_json::json;

/// Every message published on the server from its start, whatever its subject:
/// stream writes, KV puts, consumer deliveries, requests and replies.
struct Wiretap {
    messages: Arc<Mutex<Vec<async_nats::Message>>>,
}

impl Wiretap {
    async fn start(nats: &NatsServer) -> Self {
        let client = async_nats::connect(nats.url()).await.unwrap();
        let mut all = client.subscribe(">").await.unwrap();
        client.flush().await.unwrap();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let kept = messages.clone();
        tokio::spawn(async move {
            let _client = client;
            while let Some(message) = all.next().await {
                kept.lock().unwrap().push(message);
            }
        });
        Wiretap { messages }
    }

    fn on(&self, subject: impl Fn(&str) -> bool) -> Vec<async_nats::Message> {
        let messages = self.messages.lock().unwrap();
        messages
            .iter()
            .filter(|m| subject(m.subject.as_str()))
            .cloned()
            .collect()
    }

    /// Panics when any message so far carried `text`, in its body or its headers.
    fn assert_never_carried(&self, text: &str) {
        let messages = self.messages.lock().unwrap();
        assert!(messages.len() > 10, "the wiretap heard {}", messages.len());
        for message in messages.iter() {
            let body = String::from_utf8_lossy(&message.payload);
            let headers = format!("{:?}", message.headers);
            assert!(
                !body.contains(text) && !headers.contains(text),
                "`{text}` crossed the broker in the clear on {}",
                message.subject
            );
        }
    }
}

fn cipher() -> Cipher {
    Cipher::from_env(&MapEnv::new([("HERALD_SECRET_KEY", SECRET_KEY)])).unwrap()
}

/// `value` as sealed, never as given.
fn assert_sealed(value: &str, clear: &str) {
    assert!(value.starts_with("v1:"), "{value}");
    assert_eq!(cipher().open(value).unwrap(), clear);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhooks_header_values_are_sealed_in_the_bucket_and_sent_in_the_clear() {
    let nats = NatsServer::start();
    let wiretap = Wiretap::start(&nats).await;
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    let (status, webhook) = api
        .post(
            "/v1/webhooks",
            json!({"url": receiver.url("/"), "events": ["job.*"],
                   "headers": {"Authorization": "Bearer wh-token-1111", "X-Team": "ml-ops"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{webhook}");
    let id = webhook["webhook_id"].as_str().unwrap();
    // The owner reads them back as given.
    let (_, read) = api.get(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(read["headers"]["Authorization"], "Bearer wh-token-1111");

    api.post(
        "/v1/events",
        json!({"event_type": "job.completed", "data": {}}),
    )
    .await;
    let request = &receiver.wait_for(1, PATIENCE).await[0];
    assert_eq!(
        request.header("authorization"),
        Some("Bearer wh-token-1111")
    );
    assert_eq!(request.header("x-team"), Some("ml-ops"));

    // A changed value is sealed too.
    let (status, changed) = api
        .call(
            "PUT",
            &format!("/v1/webhooks/{id}"),
            Some(json!({"headers": {"Authorization": "Bearer wh-token-2222"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["headers"]["Authorization"], "Bearer wh-token-2222");
    api.post(
        "/v1/events",
        json!({"event_type": "job.completed", "data": {}}),
    )
    .await;
    let request = &receiver.wait_for(2, PATIENCE).await[1];
    assert_eq!(
        request.header("authorization"),
        Some("Bearer wh-token-2222")
    );

    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let endpoints = js.get_key_value("endpoints").await.unwrap();
    let raw = endpoints
        .get(format!("{TENANT}.{id}"))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert!(!text.contains("wh-token"), "a header value in the clear");
    assert!(!text.contains("ml-ops"), "a header value in the clear");
    // Names stay readable; values are sealed.
    let stored = Endpoint::decode(&raw).unwrap();
    assert_eq!(
        stored.headers.keys().collect::<Vec<_>>(),
        ["Authorization"],
        "the change replaced the headers"
    );
    assert_sealed(&stored.headers["Authorization"], "Bearer wh-token-2222");
    wiretap.assert_never_carried("wh-token");
    wiretap.assert_never_carried("ml-ops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_callbacks_header_values_are_sealed_on_every_hop_and_sent_in_the_clear() {
    let nats = NatsServer::start();
    let wiretap = Wiretap::start(&nats).await;
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let callback = Receiver::start().await;
    // The first attempt fails: the retry-scheduler, which has no key, copies the
    // task into the retry.
    callback.reply_with(vec![Reply::status(500)]);
    let (status, body) = api
        .post(
            "/v1/events",
            json!({
                "event_type": "job.started",
                "job_id": "job-1",
                "data": {},
                "callback": {
                    "url": callback.url("/job-1"),
                    "headers": {"Authorization": "Bearer cb-token-3333"},
                },
            }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    callback.wait_for(2, PATIENCE).await;
    // A later event of the job goes to the callback the job's entry remembers.
    api.post(
        "/v1/events",
        json!({"event_type": "job.completed", "job_id": "job-1", "data": {}}),
    )
    .await;
    let got = callback.wait_for(3, PATIENCE).await;
    for request in &got {
        assert_eq!(
            request.header("authorization"),
            Some("Bearer cb-token-3333"),
            "{}",
            request.path
        );
    }
    wait_idle(&nats.url(), ALL_CONSUMERS).await;

    // The job's entry.
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let job_callbacks = js.get_key_value("job-callbacks").await.unwrap();
    let raw = job_callbacks
        .get(Callback::job_key(TENANT, "job-1"))
        .await
        .unwrap()
        .unwrap();
    assert!(!String::from_utf8_lossy(&raw).contains("cb-token"));
    let entry = Callback::decode(&raw).unwrap();
    assert_sealed(
        &entry.headers.stored()["Authorization"],
        "Bearer cb-token-3333",
    );

    // The event, the delivery tasks and the attempt records, as they were stored.
    let callback_headers = |target: &SealedHeaders| {
        assert_sealed(&target.stored()["Authorization"], "Bearer cb-token-3333")
    };
    // (Each message is heard as published and again as each consumer is handed it.)
    let events = wiretap.on(|s| s == "events.acme.job.started");
    assert!(!events.is_empty());
    for event in &events {
        callback_headers(
            &Event::decode(&event.payload)
                .unwrap()
                .callback
                .unwrap()
                .headers,
        );
    }
    let tasks: Vec<DeliveryTask> = wiretap
        .on(|s| s.starts_with("deliveries.") || s.starts_with("schedules."))
        .iter()
        .map(|m| DeliveryTask::decode(&m.payload).unwrap())
        .collect();
    // First attempts are handed to the endpoint's lane without a stored task; the
    // retry is stored, held and then due.
    assert!(!tasks.is_empty(), "{} tasks", tasks.len());
    for task in &tasks {
        callback_headers(&task.callback.as_ref().unwrap().headers);
        if let Some(event_callback) = &task.event.callback {
            callback_headers(&event_callback.headers);
        }
    }
    let records: Vec<DeliveryAttempt> = wiretap
        .on(|s| s.starts_with("outcomes.") && (s.ends_with(".succeeded") || s.ends_with(".failed")))
        .iter()
        .map(|m| DeliveryAttempt::decode(&m.payload).unwrap())
        .collect();
    // Two attempts of the first event, one of the second.
    assert!(records.len() >= 3, "{} records", records.len());
    for record in &records {
        callback_headers(&record.task.callback.as_ref().unwrap().headers);
    }
    wiretap.assert_never_carried("cb-token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_with_header_values_in_the_clear_from_before_still_deliver_them() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    let callback = Receiver::start().await;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());

    // A webhook as earlier releases stored it: its secret sealed, its header values
    // in the clear.
    let cipher = cipher();
    let legacy = wire::Endpoint {
        id: "wh_legacy".into(),
        tenant: TENANT.into(),
        url: receiver.url("/legacy"),
        events: vec!["job.*".into()],
        secret: cipher.seal("whsec_bGVnYWN5LXNlY3JldC1vZi0zMi1ieXRlcy0hISE="),
        headers: [(
            "Authorization".to_owned(),
            "Bearer old-token-4444".to_owned(),
        )]
        .into(),
        status: wire::EndpointStatus::Active as i32,
        created_at_ms: 1,
        updated_at_ms: 1,
        ..Default::default()
    };
    let endpoints = js.get_key_value("endpoints").await.unwrap();
    endpoints
        .put("acme.wh_legacy", legacy.encode_to_vec().into())
        .await
        .unwrap();
    // Once ingest's mirror holds it, an event's fan-out waits for it too.
    eventually(PATIENCE, "ingest to list the webhook", || async {
        let (_, list) = api.get("/v1/webhooks").await;
        list["webhooks"]
            .as_array()
            .is_some_and(|l| l.iter().any(|w| w["webhook_id"] == "wh_legacy"))
            .then_some(())
    })
    .await;
    let (_, read) = api.get("/v1/webhooks/wh_legacy").await;
    assert_eq!(read["headers"]["Authorization"], "Bearer old-token-4444");

    // A job callback remembered the same way, and the tenant's callback secret.
    let (status, _) = api.get("/v1/callback-secret").await;
    assert_eq!(status, StatusCode::OK);
    let remembered = Callback {
        url: callback.url("/job-9"),
        headers: SealedHeaders::from_stored(
            [("X-Job-Token".to_owned(), "old-cb-5555".to_owned())].into(),
        ),
        payload_format: Default::default(),
    };
    js.get_key_value("job-callbacks")
        .await
        .unwrap()
        .put(Callback::job_key(TENANT, "job-9"), remembered.encode())
        .await
        .unwrap();

    api.post(
        "/v1/events",
        json!({"event_type": "job.completed", "job_id": "job-9", "data": {}}),
    )
    .await;
    let request = &receiver.wait_for(1, PATIENCE).await[0];
    assert_eq!(
        request.header("authorization"),
        Some("Bearer old-token-4444")
    );
    let request = &callback.wait_for(1, PATIENCE).await[0];
    assert_eq!(request.header("x-job-token"), Some("old-cb-5555"));

    // Written again, the webhook's values are sealed.
    let (status, _) = api
        .call(
            "PUT",
            "/v1/webhooks/wh_legacy",
            Some(json!({"description": "moved on"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let raw = endpoints.get("acme.wh_legacy").await.unwrap().unwrap();
    assert!(!String::from_utf8_lossy(&raw).contains("old-token"));
    assert_sealed(
        &Endpoint::decode(&raw).unwrap().headers["Authorization"],
        "Bearer old-token-4444",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_echoes_the_request_puts_no_header_value_into_the_record() {
    let nats = NatsServer::start();
    let wiretap = Wiretap::start(&nats).await;
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    receiver.reply_with(vec![Reply {
        status: 400,
        body: "refused: Authorization: Bearer echo-token-6666".into(),
        headers: Vec::new(),
    }]);
    let (status, webhook) = api
        .post(
            "/v1/webhooks",
            json!({"url": receiver.url("/"), "events": ["job.*"],
                   "headers": {"Authorization": "Bearer echo-token-6666"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{webhook}");
    let id = webhook["webhook_id"].as_str().unwrap();
    api.post(
        "/v1/events",
        json!({"event_type": "job.completed", "data": {}}),
    )
    .await;
    let delivery = api
        .logged_delivery(id, "the retry to succeed", |d| d["status"] == "success")
        .await;
    let delivery_id = delivery["delivery_id"].as_str().unwrap();
    let (_, delivery) = api.get(&format!("/v1/deliveries/{delivery_id}")).await;
    let failed = delivery["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["status"] == "failed")
        .unwrap_or_else(|| panic!("{delivery}"));
    assert_eq!(
        failed["response_body"], "refused: Authorization: [redacted]",
        "{failed}"
    );
    wiretap.assert_never_carried("echo-token");
}
