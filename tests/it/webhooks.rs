//! What a webhook's settings do on the wire: SSRF refusal, allowed ports, HTTPS-only, secret
//! rotation and encryption at rest, per-job callbacks, and changes reaching every
//! dispatcher replica.

use std::time::{Duration, Instant};

use herald_tests::PATIENCE;
use herald_tests::nats::{ALL_CONSUMERS, wait_idle};
use herald_tests::{Herald, NatsServer, Receiver, eventually, verify};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_are_refused_without_an_allow_list_and_never_retried() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[("HERALD_ALLOWED_TARGETS", "")]).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    let webhook = api.create_webhook(&receiver.url("/"), &["job.*"]).await;
    let id = webhook["webhook_id"].as_str().unwrap();

    api.post(
        "/v1/events",
        json!({"event_type": "job.completed", "data": {}}),
    )
    .await;
    wait_idle(&nats.url(), ALL_CONSUMERS).await;
    let delivery = last_delivery(&api, id).await;
    assert_eq!(delivery["status"], "failed", "{delivery}");
    assert_eq!(delivery["attempts"], 1);
    assert_eq!(delivery["status_code"], Value::Null);
    let (_, outcome) = api
        .post(&format!("/v1/webhooks/{id}/test"), json!({}))
        .await;
    assert!(
        outcome["error"].as_str().unwrap().starts_with("refused"),
        "{outcome}"
    );
    assert!(
        receiver.received().is_empty(),
        "nothing may reach a private address"
    );
}

/// A customer must not learn from Herald whether a name exists in its network: a
/// name that resolves only to refused addresses fails exactly like one that does
/// not resolve at all, in the delivery log and in the `/test` answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_internal_name_reads_like_a_name_that_does_not_resolve() {
    let nats = NatsServer::start();
    let herald = Herald::start(
        &nats.url(),
        &[
            ("HERALD_ALLOWED_TARGETS", ""),
            ("HERALD_RETRY_SCHEDULE", "1s"),
        ],
    )
    .await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    let port = receiver.url("").rsplit(':').next().unwrap().to_owned();
    // `localhost` exists and is loopback; `.invalid` never resolves (RFC 2606).
    let mut ids = Vec::new();
    for host in ["localhost", "no-such-host.invalid"] {
        let webhook = api
            .create_webhook(&format!("http://{host}:{port}/"), &["job.*"])
            .await;
        ids.push(webhook["webhook_id"].as_str().unwrap().to_owned());
    }

    api.post(
        "/v1/events",
        json!({"event_type": "job.completed", "data": {}}),
    )
    .await;
    let mut seen = Vec::new();
    for id in &ids {
        let delivery = eventually(PATIENCE, "the delivery to end", || {
            let api = api.clone();
            async move {
                let summary = last_delivery(&api, id).await;
                (summary["status"] == "failed").then_some(())?;
                let path = format!("/v1/deliveries/{}", summary["delivery_id"].as_str()?);
                Some(api.get(&path).await.1)
            }
        })
        .await;
        let (_, test) = api
            .post(&format!("/v1/webhooks/{id}/test"), json!({}))
            .await;
        let attempts: Vec<_> = delivery["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["status"].clone(),
                    a["status_code"].clone(),
                    a["error"].clone(),
                )
            })
            .collect();
        seen.push((
            delivery["status"].clone(),
            delivery["attempts"].as_array().unwrap().len(),
            attempts,
            test["success"].clone(),
            test["status_code"].clone(),
            test["error"].clone(),
            test["response_body"].clone(),
        ));
    }
    assert_eq!(seen[0], seen[1], "the two names must read alike");
    assert_eq!(seen[0].1, 2, "retried like any failure: {:?}", seen[0]);
    let error = seen[0].5.as_str().unwrap();
    for word in [
        "private",
        "reserved",
        "refused",
        "HERALD_ALLOWED_TARGETS",
        "127.0.0.1",
    ] {
        assert!(!error.contains(word), "{error}");
    }
    assert!(receiver.received().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_urls_must_use_an_allowed_port() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[("HERALD_ALLOWED_PORTS", "80, 443")]).await;
    let api = herald.api();
    for url in [
        "https://example.com/hook",
        "http://example.com/hook",
        "https://example.com:443/hook",
    ] {
        api.create_webhook(url, &["job.*"]).await;
    }
    let (status, body) = api
        .post(
            "/v1/webhooks",
            json!({"url": "https://example.com:8443/hook", "events": ["a"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "validation");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("8443"), "{detail}");
    assert!(detail.contains("80, 443"), "{detail}");

    let webhook = api
        .create_webhook("https://example.com/hook", &["job.*"])
        .await;
    let id = webhook["webhook_id"].as_str().unwrap();
    let (status, body) = api
        .call(
            "PUT",
            &format!("/v1/webhooks/{id}"),
            Some(json!({"url": "http://example.com:8080/hook"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("8080"), "{body}");

    let (status, body) = api
        .post(
            "/v1/events",
            json!({"event_type": "job.x", "data": {}, "callback": {"url": "http://example.com:9000/cb"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["detail"].as_str().unwrap().starts_with("callback.url"),
        "{body}"
    );
}

/// A webhook saved before the ports were restricted (or by an ingest configured
/// otherwise) is refused by the dispatcher before it connects: `failed`, with the
/// reason, and never retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dispatcher_refuses_a_port_that_is_not_allowed() {
    let nats = NatsServer::start();
    let receiver = Receiver::start().await;
    let port = receiver.url("").rsplit(':').next().unwrap().to_owned();
    let herald = Herald::start(&nats.url(), &[]).await;
    let webhook = herald
        .api()
        .create_webhook(&receiver.url("/"), &["job.*"])
        .await;
    let id = webhook["webhook_id"].as_str().unwrap().to_owned();
    herald.stop().await.unwrap();

    let herald = Herald::start(&nats.url(), &[("HERALD_ALLOWED_PORTS", "443")]).await;
    let api = herald.api();
    api.post(
        "/v1/events",
        json!({"event_type": "job.completed", "data": {}}),
    )
    .await;
    wait_idle(&nats.url(), ALL_CONSUMERS).await;
    let delivery = last_delivery(&api, &id).await;
    assert_eq!(delivery["status"], "failed", "{delivery}");
    assert_eq!(delivery["attempts"], 1);
    let (_, outcome) = api
        .post(&format!("/v1/webhooks/{id}/test"), json!({}))
        .await;
    let error = outcome["error"].as_str().unwrap();
    assert!(error.starts_with("refused"), "{error}");
    assert!(error.contains(&port), "{error}");
    assert!(error.contains("HERALD_ALLOWED_PORTS"), "{error}");
    assert!(receiver.received().is_empty(), "nothing may be sent");
}

/// The newest delivery of a webhook, once there is one.
async fn last_delivery(api: &herald_tests::Api, webhook_id: &str) -> Value {
    api.logged_delivery(webhook_id, "a delivery in the log", |_| true)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_can_be_required() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[("HERALD_REQUIRE_HTTPS", "true")]).await;
    let (status, body) = herald
        .api()
        .post(
            "/v1/webhooks",
            json!({"url": "http://example.com/hook", "events": ["a"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"], "url must use https");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_secrets_sign_alongside_the_new_one_and_are_encrypted_at_rest() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    let webhook = api.create_webhook(&receiver.url("/"), &["job.*"]).await;
    let id = webhook["webhook_id"].as_str().unwrap();
    let old = webhook["secret"].as_str().unwrap().to_owned();

    let rotated = api.rotate_secret(id, Some(json!({}))).await;
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert!(rotated["previous_secret_expires_at"].as_str().is_some());

    api.post(
        "/v1/events",
        json!({"event_type": "job.completed", "data": {}}),
    )
    .await;
    let request = &receiver.wait_for(1, PATIENCE).await[0];
    let signatures: Vec<_> = request
        .header("webhook-signature")
        .unwrap()
        .split(' ')
        .collect();
    assert_eq!(
        signatures.len(),
        2,
        "both keys sign during the grace period"
    );
    assert!(verify::standard_webhooks(&new, request));
    assert!(verify::standard_webhooks(&old, request));
    assert!(
        verify::hex_signature(&new, request),
        "the hex signature uses the new secret"
    );

    // The bucket holds neither secret in the clear.
    let client = async_nats::connect(nats.url()).await.unwrap();
    let kv = async_nats::jetstream::new(client)
        .get_key_value("endpoints")
        .await
        .unwrap();
    let stored = kv.get(format!("acme.{id}")).await.unwrap().unwrap();
    let stored = String::from_utf8_lossy(&stored);
    for secret in [&old, &new] {
        let key = secret.trim_start_matches("whsec_");
        assert!(!stored.contains(key), "a secret is stored in the clear");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_callbacks_get_every_event_of_the_job_signed_with_the_callback_secret() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let subscriber = Receiver::start().await;
    let callback = Receiver::start().await;
    api.create_webhook(&subscriber.url("/"), &["job.*"]).await;
    let (status, secret) = api.get("/v1/callback-secret").await;
    assert_eq!(status, StatusCode::OK);
    let secret = secret["secret"].as_str().unwrap().to_owned();

    let (status, body) = api
        .post(
            "/v1/events",
            json!({
                "event_type": "job.started",
                "job_id": "job-7",
                "data": {"job_id": "job-7"},
                "callback": {
                    "url": callback.url("/job-7"),
                    "headers": {"X-Customer-Token": "abc123"},
                },
            }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    // A later event of the same job carries no callback and still goes there.
    api.post(
        "/v1/events",
        json!({"event_type": "job.completed", "job_id": "job-7", "data": {"job_id": "job-7"}}),
    )
    .await;
    // Another job's event does not.
    api.post(
        "/v1/events",
        json!({"event_type": "job.completed", "job_id": "job-8", "data": {}}),
    )
    .await;

    subscriber.wait_for(3, PATIENCE).await;
    callback.wait_for(2, PATIENCE).await;
    wait_idle(&nats.url(), ALL_CONSUMERS).await;
    let received = callback.received();
    assert_eq!(received.len(), 2);
    let mut types: Vec<_> = received
        .iter()
        .map(|r| {
            assert_eq!(r.path, "/job-7");
            assert_eq!(r.header("x-customer-token"), Some("abc123"));
            assert!(
                verify::standard_webhooks(&secret, r),
                "signed with the callback secret"
            );
            assert!(verify::hex_signature(&secret, r));
            r.json()["event_type"].as_str().unwrap().to_owned()
        })
        .collect();
    types.sort();
    assert_eq!(types, ["job.completed", "job.started"]);

    let (status, body) = api
        .post(
            "/v1/events",
            json!({"event_type": "job.x", "data": {}, "callback": {"url": "gopher://x"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["detail"].as_str().unwrap().starts_with("callback.url"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_accepted_after_a_webhook_change_is_fanned_out_with_it() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    // An event whose ingest already held the next registry revision, the one the
    // webhook below is created at: as if this dispatcher's watch lagged behind it.
    let next = js
        .get_stream("KV_endpoints")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .last_sequence
        + 1;
    let event = herald_proto::wire::Event {
        event_id: "evt_after".into(),
        event_type: "job.completed".into(),
        data: bytes::Bytes::from_static(b"{}"),
        tenant: herald_tests::herald::TENANT.into(),
        timestamp_ms: 1,
        accepted_at_ms: 1,
        ..Default::default()
    };
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Herald-Registry-Revision", next.to_string().as_str());
    js.publish_with_headers(
        "events.acme.job.completed",
        headers,
        prost::Message::encode_to_vec(&event).into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    // The fan-out holds the event until its registry has caught up.
    let consumer = js
        .get_consumer_from_stream::<async_nats::jetstream::consumer::pull::Config, _, _>(
            "dispatcher-fanout",
            "EVENTS",
        )
        .await
        .unwrap();
    eventually(PATIENCE, "the fan-out to hold the event", || {
        let mut consumer = consumer.clone();
        async move {
            let info = consumer.info().await.ok()?;
            (info.num_ack_pending == 1).then_some(())
        }
    })
    .await;
    let webhook = api.create_webhook(&receiver.url("/"), &["job.*"]).await;
    let request = &receiver.wait_for(1, PATIENCE).await[0];
    assert_eq!(request.json()["event_id"], "evt_after");

    // Ingest stamps what it accepts with the registry revision it holds, its own
    // writes included.
    let created_at = js
        .get_key_value("endpoints")
        .await
        .unwrap()
        .entry(format!("acme.{}", webhook["webhook_id"].as_str().unwrap()))
        .await
        .unwrap()
        .unwrap()
        .revision;
    let accepted = js.get_stream("EVENTS").await.unwrap();
    api.post(
        "/v1/events",
        json!({"event_type": "job.completed", "event_id": "evt_stamped", "data": {}}),
    )
    .await;
    let stored = accepted
        .get_last_raw_message_by_subject("events.acme.job.completed")
        .await
        .unwrap();
    let stamped: u64 = stored
        .headers
        .get("Herald-Registry-Revision")
        .expect("a registry revision on the event")
        .as_str()
        .parse()
        .unwrap();
    assert!(stamped >= created_at, "{stamped} < {created_at}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_changes_reach_every_dispatcher_within_a_second() {
    let nats = NatsServer::start();
    // Two replicas of everything, sharing one broker.
    let first = Herald::start(&nats.url(), &[]).await;
    let second = Herald::start(&nats.url(), &[]).await;
    let old = Receiver::start().await;
    let new = Receiver::start().await;
    let webhook = first.api().create_webhook(&old.url("/"), &["job.*"]).await;
    let id = webhook["webhook_id"].as_str().unwrap();

    let (status, _) = second
        .api()
        .call(
            "PUT",
            &format!("/v1/webhooks/{id}"),
            Some(json!({"url": new.url("/"), "events": ["training.>"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let changed = Instant::now();
    // Events accepted a second after the change, through either replica, follow it.
    tokio::time::sleep_until((changed + Duration::from_secs(1)).into()).await;
    for (n, api) in [first.api(), second.api()]
        .iter()
        .cycle()
        .take(10)
        .enumerate()
    {
        api.post(
            "/v1/events",
            json!({"event_type": "training.done", "data": {"n": n}}),
        )
        .await;
        api.post(
            "/v1/events",
            json!({"event_type": "job.done", "data": {"n": n}}),
        )
        .await;
    }
    new.wait_for(10, PATIENCE).await;
    wait_idle(&nats.url(), ALL_CONSUMERS).await;
    assert!(
        old.received().is_empty(),
        "an old URL or subscription was used"
    );
    assert_eq!(new.received().len(), 10);
    assert!(
        new.received()
            .iter()
            .all(|r| r.json()["event_type"] == "training.done")
    );
}
