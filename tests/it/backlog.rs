//! A burst to one endpoint beyond what its lane keeps in memory: the excess is
//! parked, read back in batches, delivered once each and removed from `PARKED`; the
//! burst's records reach the store, some of them in bundles.

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use herald_tests::herald::TENANT;
use herald_tests::{Herald, NatsServer, PATIENCE, Receiver, eventually};
use serde_json::{Value, json};

#[tokio::test]
async fn a_burst_beyond_memory_is_parked_read_back_and_delivered_whole() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    // Ten attempts at once of 250 ms each: 40 a second, so its lane keeps what it
    // starts in the next 5 s (200 tasks) in memory and parks the rest.
    receiver.delay(Duration::from_millis(250));
    let webhook = api.create_webhook(&receiver.url("/"), &["burst.*"]).await;
    let id = webhook["webhook_id"].as_str().unwrap().to_owned();

    let client = async_nats::connect(nats.url()).await.unwrap();
    let mut bundles = client
        .subscribe("outcomes.*._bundle.records")
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let burst = 500;
    publish_burst(&js, 0..burst).await;

    let received = receiver.wait_for(burst, PATIENCE * 2).await;
    let delivered = numbers(&received);
    assert_eq!(delivered.len(), burst, "every event delivered");

    let metrics = herald_tests::metrics::scrape(&herald.base_url).await;
    let parked = metrics
        .get("herald_tasks_parked_total")
        .copied()
        .unwrap_or_default();
    assert!(
        parked >= 200.0,
        "most of the burst went through PARKED ({parked})"
    );
    eventually(PATIENCE, "PARKED to be emptied", || {
        let js = js.clone();
        async move {
            let mut stream = js.get_stream("PARKED").await.ok()?;
            (stream.info().await.ok()?.state.messages == 0).then_some(())
        }
    })
    .await;

    let path = format!("/v1/webhooks/{id}/deliveries?status=success&limit=1");
    api.get_until(&path, "the whole burst recorded as delivered", |body| {
        (body["total"] == burst).then_some(())
    })
    .await;
    let bundle = tokio::time::timeout(Duration::from_secs(1), bundles.next()).await;
    assert!(
        matches!(bundle, Ok(Some(_))),
        "records came faster than they were stored, and some went in bundles"
    );
}

/// Tasks the fan-out handed to a lane that then slows down go back to their
/// fan-out, are stored on `DELIVERIES` (and parked from there), and are delivered
/// once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_handed_to_a_lane_that_slows_down_are_stored_and_delivered_once() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    // Attempts may take 10 s (the tests' default is 5 s).
    let webhook = api
        .create_webhook_from(
            json!({"url": receiver.url("/"), "events": ["burst.*"], "timeout_ms": 10_000}),
        )
        .await;
    let id = webhook["webhook_id"].as_str().unwrap().to_owned();
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    herald_tests::nats::wait_partitions_owned(&js).await;
    // The lane learns the endpoint answers at once, so it takes a burst directly…
    let warm = 5;
    publish_burst(&js, 0..warm).await;
    receiver.wait_for(warm, PATIENCE).await;
    let before = herald_tests::metrics::scrape(&herald.base_url).await;
    // …then the endpoint takes 5 s per request, ten at once: as its attempts run
    // on, the lane expects to start fewer and fewer within 5 s (about ten once
    // they have run for 5 s) and hands the rest back.
    receiver.delay(Duration::from_secs(5));
    let burst = 40;
    publish_burst(&js, warm..warm + burst).await;
    let burst = warm + burst;

    let received = receiver.wait_for(burst, PATIENCE * 2).await;
    let delivered = numbers(&received);
    assert_eq!(delivered.len(), burst, "every event delivered");
    let path = format!("/v1/webhooks/{id}/deliveries?status=success&limit=1");
    api.get_until(&path, "the whole burst recorded as delivered", |body| {
        (body["total"] == burst).then_some(())
    })
    .await;
    herald_tests::nats::wait_idle(&nats.url(), herald_tests::nats::ALL_CONSUMERS).await;
    assert_eq!(receiver.received().len(), burst, "each delivered once");

    // The receiver answered every attempt with 200, so what is stored on
    // DELIVERIES was handed back, or not taken by the lane once it had slowed down.
    let mut deliveries = js.get_stream("DELIVERIES").await.unwrap();
    let stored = deliveries.info().await.unwrap().state.last_sequence;
    let after = herald_tests::metrics::scrape(&herald.base_url).await;
    let grew = |name: &str| after.get(name).unwrap_or(&0.0) - before.get(name).unwrap_or(&0.0);
    let (over, back) = (
        grew("herald_tasks_handed_over_total"),
        grew("herald_tasks_handed_back_total"),
    );
    eprintln!("{stored} stored, {over} handed over, {back} handed back");
    assert!(
        stored > 0 && stored < (burst - warm) as u64,
        "{stored} stored"
    );
    // (Other tests in this process count too: the counters grow by at least ours.)
    assert!(back >= 1.0, "some came back: {back}");
    assert!(
        over >= (burst - warm) as f64 - stored as f64,
        "{over} handed over"
    );
}

/// The distinct `n` of the events in `received`.
fn numbers(received: &[herald_tests::receiver::Received]) -> HashSet<u64> {
    received
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            body["data"]["n"].as_u64().unwrap()
        })
        .collect()
}

/// Publishes `burst.item` events numbered `range` to ingest over NATS, all at
/// once, and waits for every ack.
async fn publish_burst(js: &async_nats::jetstream::Context, range: std::ops::Range<usize>) {
    let mut acks = Vec::with_capacity(range.len());
    for n in range {
        let body = json!({"event_type": "burst.item", "data": {"n": n}}).to_string();
        acks.push(
            js.publish(format!("ingest.{TENANT}.burst.item"), body.into())
                .await
                .unwrap(),
        );
    }
    for ack in acks {
        ack.await.unwrap();
    }
}
