//! The NATS intake follows the same rules as `POST /v1/events`, since both parse
//! with the same code: unknown fields, `data` nested too deep, callback headers
//! too large and event times out of range are parked in `REJECTED` with the
//! reason, and the consumer goes on.

use std::collections::HashMap;

use bytes::Bytes;
use herald_proto::wire;
use herald_tests::PATIENCE;
use prost::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_events_follow_the_http_rules() {
    let (_nats, _herald, receiver, js) = herald_tests::herald::with_producer().await;

    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let json_bodies = [
        r#"{"jobid":"job_1","data":{}}"#.to_owned(),
        format!(r#"{{"data":{deep}}}"#),
        r#"{"timestamp":"1969-12-31T23:59:59Z","data":{}}"#.to_owned(),
    ];
    for body in json_bodies {
        js.publish("ingest.acme.job.done", body.into_bytes().into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let protobufs = [
        wire::Event {
            data: Bytes::from(deep.clone()),
            ..Default::default()
        },
        wire::Event {
            data: Bytes::from_static(b"{}"),
            timestamp_ms: i64::MAX,
            ..Default::default()
        },
        wire::Event {
            data: Bytes::from_static(b"{}"),
            job_id: "job_1".into(),
            callback: Some(wire::Callback {
                url: "https://x.example/cb".into(),
                headers: HashMap::from([("X-Big".to_owned(), "v".repeat(100 * 1024))]),
                payload_format: String::new(),
            }),
            ..Default::default()
        },
    ];
    for event in protobufs {
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
    }
    // A valid event after them is still delivered.
    js.publish(
        "ingest.acme.job.done",
        Bytes::from_static(br#"{"data":{"ok":true}}"#),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let received = receiver.wait_for(1, PATIENCE).await;
    assert_eq!(received[0].json()["data"], serde_json::json!({"ok": true}));

    let rejected = herald_tests::nats::rejected(&js, 6).await;
    let reasons: Vec<_> = rejected.iter().map(|r| r.reason.as_str()).collect();
    let expected = [
        "body is not a valid event: unknown field `jobid`",
        "callback.headers",
        "data is nested more than 64 levels deep",
        "data is nested more than 64 levels deep",
        "timestamp",
        "timestamp",
    ];
    for (reason, expected) in reasons.iter().zip(expected) {
        assert!(reason.starts_with(expected), "{reason} vs {expected}");
    }
    assert_eq!(receiver.received().len(), 1);
}
