//! Producers publishing to `ingest.<tenant>.<event_type>`: JSON and protobuf are
//! delivered like HTTP events; anything invalid is parked in `REJECTED` with the
//! reason, and the consumer goes on.

use herald_tests::PATIENCE;
use herald_tests::nats::{ALL_CONSUMERS, wait_idle};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_messages_are_parked_with_their_reason() {
    let (nats, _herald, receiver, js) = herald_tests::herald::with_producer().await;
    let bad: [(&str, &[u8]); 4] = [
        ("ingest.acme.job.done", b"{not json"),
        ("ingest.acme.job.done", br#"{"event_type":"job.done"}"#),
        (
            "ingest.acme.job.done",
            br#"{"event_type":"job.other","data":{}}"#,
        ),
        ("ingest.acme", br#"{"data":{}}"#),
    ];
    for (subject, payload) in bad {
        js.publish(subject, bytes::Bytes::from_static(payload))
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Content-Type", "application/protobuf");
    js.publish_with_headers(
        "ingest.acme.job.done",
        headers,
        bytes::Bytes::from_static(b"\xff\xff"),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    // A valid JSON event after the bad ones is still delivered.
    js.publish(
        "ingest.acme.job.done",
        bytes::Bytes::from_static(br#"{"data":{"ok":true}}"#),
    )
    .await
    .unwrap()
    .await
    .unwrap();

    let received = receiver.wait_for(1, PATIENCE).await;
    assert_eq!(received[0].json()["event_type"], "job.done");
    assert_eq!(received[0].json()["data"], serde_json::json!({"ok": true}));
    wait_idle(&nats.url(), ALL_CONSUMERS).await;
    assert_eq!(receiver.received().len(), 1);

    let rejected = herald_tests::nats::rejected(&js, 5).await;
    let mut reasons = Vec::new();
    for parked in &rejected {
        assert_eq!(parked.subject, "rejected.acme");
        reasons.push(parked.reason.as_str());
    }
    let expected = [
        "body is not a valid event",
        "body is not a valid herald.v1.Event",
        "data is missing",
        "event_type `job.other` does not match the subject's `job.done`",
        "event_type is missing",
    ];
    assert_eq!(reasons.len(), expected.len());
    for (reason, expected) in reasons.iter().zip(expected) {
        assert!(reason.starts_with(expected), "{reason} vs {expected}");
    }
}

/// The tenant is the subject's: the broker lets only that tenant's producers
/// publish there. A body that names a tenant, whichever, is parked with the reason,
/// in JSON (where `tenant` is no field) as in protobuf (where Herald sets it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_named_in_the_body_is_refused() {
    use prost::Message;

    let (nats, _herald, receiver, js) = herald_tests::herald::with_producer().await;
    js.publish(
        "ingest.acme.job.done",
        bytes::Bytes::from_static(br#"{"tenant":"globex","data":{}}"#),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let event = herald_proto::wire::Event {
        event_type: "job.done".into(),
        tenant: "acme".into(),
        data: bytes::Bytes::from_static(b"{}"),
        ..Default::default()
    };
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Content-Type", "application/protobuf");
    js.publish_with_headers(
        "ingest.acme.job.done",
        headers,
        event.encode_to_vec().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();

    let rejected = herald_tests::nats::rejected(&js, 2).await;
    assert_eq!(rejected[0].subject, "rejected.acme");
    assert!(
        rejected[0]
            .reason
            .starts_with("body is not a valid event: unknown field `tenant`"),
        "{}",
        rejected[0].reason
    );
    assert_eq!(rejected[1].subject, "rejected.acme");
    assert!(
        rejected[1]
            .reason
            .starts_with("tenant `acme` is named in the body"),
        "{}",
        rejected[1].reason
    );
    wait_idle(&nats.url(), ALL_CONSUMERS).await;
    assert!(receiver.received().is_empty());
}

/// Messages made malformed in many ways — cut short, random bytes under either
/// content type, a field name or a tenant as large as a message allows — are each
/// parked with a reason that fits in a header, and the intake goes on accepting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_malformed_messages_are_each_parked_with_a_reason() {
    use prost::Message;

    // NATS's stock `max_payload` (1 MB): a reason as large as the message it
    // explains would not fit beside it.
    let nats = herald_tests::NatsServer::start_stock();
    let herald = herald_tests::herald::Herald::start(&nats.url(), &[]).await;
    let receiver = herald_tests::Receiver::start().await;
    herald
        .api()
        .create_webhook(&receiver.url("/"), &["job.*"])
        .await;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let json_event = serde_json::to_vec(&serde_json::json!({
        "event_type": "job.done",
        "job_id": "job_1",
        "data": {"ok": true, "items": [1, 2, 3]},
        "callback": {"url": "https://example.com/cb", "headers": {"X-Token": "t"}},
    }))
    .unwrap();
    let protobuf_event = herald_proto::wire::Event {
        event_type: "job.done".into(),
        data: bytes::Bytes::from_static(br#"{"ok":true}"#),
        ..Default::default()
    }
    .encode_to_vec();
    const JSON: &str = "application/json";
    const PROTOBUF: &str = "application/protobuf";
    let mut malformed: Vec<(&str, Vec<u8>)> = Vec::new();
    // Every proper prefix of a JSON object or of this protobuf event is invalid.
    let json_len = json_event.len();
    for cut in [0, 1, json_len / 3, json_len / 2, json_len - 1] {
        malformed.push((JSON, json_event[..cut].to_vec()));
    }
    let protobuf_len = protobuf_event.len();
    for cut in [1, protobuf_len / 2, protobuf_len - 1] {
        malformed.push((PROTOBUF, protobuf_event[..cut].to_vec()));
    }
    // Pseudo-random bytes after 0xff, which neither decoder takes as a start.
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for content_type in [JSON, PROTOBUF] {
        let mut bytes = vec![0xff];
        for _ in 0..200 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            bytes.push(seed as u8);
        }
        malformed.push((content_type, bytes));
    }
    // Reasons that would repeat 600 KB of the producer's text.
    let long = "x".repeat(600 * 1024);
    malformed.push((JSON, format!(r#"{{"data":{{}},"{long}":1}}"#).into_bytes()));
    let named = herald_proto::wire::Event {
        event_type: "job.done".into(),
        tenant: long.clone(),
        data: bytes::Bytes::from_static(b"{}"),
        ..Default::default()
    };
    malformed.push((PROTOBUF, named.encode_to_vec()));

    for (content_type, payload) in &malformed {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Content-Type", *content_type);
        js.publish_with_headers("ingest.acme.job.done", headers, payload.clone().into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    js.publish(
        "ingest.acme.job.done",
        bytes::Bytes::from_static(br#"{"data":{"after":"the bad ones"}}"#),
    )
    .await
    .unwrap()
    .await
    .unwrap();

    let received = receiver.wait_for(1, PATIENCE).await;
    assert_eq!(received[0].json()["data"]["after"], "the bad ones");
    let rejected = herald_tests::nats::rejected(&js, malformed.len()).await;
    for parked in &rejected {
        assert_eq!(parked.subject, "rejected.acme");
        assert!(!parked.reason.trim().is_empty());
        assert!(parked.reason.len() <= 1024, "{} bytes", parked.reason.len());
    }
    assert!(
        rejected.iter().any(|r| r
            .reason
            .starts_with("body is not a valid event: unknown field `xxx")),
        "{rejected:?}"
    );
    assert!(
        rejected.iter().any(|r| r.reason.starts_with("tenant `xxx")),
        "{rejected:?}"
    );
    // Each was parked once and acknowledged: nothing waits to be offered again.
    wait_idle(&nats.url(), ALL_CONSUMERS).await;
    assert_eq!(receiver.received().len(), 1);
}
