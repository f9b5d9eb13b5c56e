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
