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
    let mut acks = Vec::with_capacity(burst);
    for n in 0..burst {
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

    let received = receiver.wait_for(burst, PATIENCE * 2).await;
    let delivered: HashSet<u64> = received
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            body["data"]["n"].as_u64().unwrap()
        })
        .collect();
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
