//! Many tenants on one Herald: one tenant's hanging endpoint and its backlog never
//! hold up another tenant's deliveries, and an endpoint's cap holds across every
//! dispatcher replica together.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use herald_tests::herald::{OTHER_API_KEY, Process, TENANT};
use herald_tests::nats::{DeliveryBacklog, consumer_backlog, delivery_backlog};
use herald_tests::{Api, Herald, NatsServer, PATIENCE, Receiver, eventually};
use reqwest::StatusCode;
use serde_json::json;

/// Posts `count` events of `event_type` one after another, a few milliseconds
/// apart, and returns when each was sent.
async fn post_spaced(api: &Api, event_type: &str, count: usize) -> Vec<Instant> {
    let mut sent = Vec::new();
    for n in 0..count {
        sent.push(Instant::now());
        let (status, body) = api
            .post(
                "/v1/events",
                json!({"event_type": event_type, "data": {"n": n}}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sent
}

/// Each event's latency from being sent to arriving at `receiver`, by `data.n`.
fn latencies(receiver: &Receiver, sent: &[Instant], skip: usize) -> Vec<Duration> {
    let mut latencies: Vec<Duration> = receiver
        .received()
        .iter()
        .skip(skip)
        .map(|r| {
            let n = r.json()["data"]["n"].as_u64().expect("numbered") as usize;
            r.at.saturating_duration_since(sent[n])
        })
        .collect();
    latencies.sort();
    latencies
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_endpoint_and_its_backlog_never_delay_another_tenant() {
    let nats = NatsServer::start();
    // Small limits, so that tenant A's backlog is many times what the consumers
    // may hold unacknowledged.
    let herald = Herald::start(
        &nats.url(),
        &[
            ("HERALD_MAX_IN_FLIGHT", "64"),
            ("HERALD_DISPATCH_QUEUE", "100"),
        ],
    )
    .await;
    let a = herald.api();
    let b = a.with_key(OTHER_API_KEY);

    let hanging = Receiver::start().await;
    hanging.delay(Duration::from_secs(3600));
    let (status, body) = a
        .post(
            "/v1/webhooks",
            // Timeouts at 2 s; no retry during the test.
            json!({"url": hanging.url("/"), "events": ["flood.*"], "timeout_ms": 2000,
                   "retry_schedule": ["1h"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let healthy = Receiver::start().await;
    b.create_webhook(&healthy.url("/"), &["job.*"]).await;

    // B alone: its latency on an idle Herald.
    let sent = post_spaced(&b, "job.idle", 20).await;
    healthy.wait_for(20, PATIENCE).await;
    let idle = latencies(&healthy, &sent, 0);

    // A floods its hanging endpoint over NATS: far more tasks than a delivery
    // consumer may hold unacknowledged (64 + 100 + what pulls and parks hold),
    // while B keeps sending.
    let held_at_most = 64 + 100 + 2 * 256 + 64;
    let flood = 3 * held_at_most;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let publisher = tokio::spawn({
        let js = js.clone();
        async move {
            for n in 0..flood {
                let body = json!({"event_type": "flood.item", "data": {"n": n}}).to_string();
                js.publish(format!("ingest.{TENANT}.flood.item"), body.into())
                    .await
                    .unwrap()
                    .await
                    .unwrap();
            }
        }
    });
    let sent = post_spaced(&b, "job.flood", 20).await;
    healthy.wait_for(40, PATIENCE).await;
    let during = latencies(&healthy, &sent, 20);
    publisher.await.unwrap();

    // Then with A's whole backlog waiting behind its hanging endpoint.
    let backlog = eventually(PATIENCE, "A's flood to be fanned out and set aside", || {
        let js = js.clone();
        async move {
            for (stream, consumer) in [("INGEST", "ingest"), ("EVENTS", "dispatcher-fanout")] {
                let (pending, ack_pending) = consumer_backlog(&js, stream, consumer).await?;
                if pending + ack_pending as u64 > 0 {
                    return None;
                }
            }
            let backlog = delivery_backlog(&js).await?;
            (backlog.pending == 0 && backlog.parked > 0).then_some(backlog)
        }
    })
    .await;
    println!("A's backlog for its hanging endpoint: {backlog:?} ({flood} tasks)");
    let DeliveryBacklog {
        ack_pending,
        parked,
        ..
    } = backlog;
    assert!(
        ack_pending < held_at_most,
        "deferred work stays out of the consumers' pending sets ({ack_pending})"
    );
    assert!(parked > 0, "the excess is parked");
    let sent = post_spaced(&b, "job.busy", 20).await;
    healthy.wait_for(60, PATIENCE).await;
    let busy = latencies(&healthy, &sent, 40);
    // The hanging endpoint answers nothing: until the first attempt times out
    // (2 s), every request it got was in flight at once.
    let hanging_requests = hanging.received();
    let first = hanging_requests[0].at;
    let hanging_max = hanging_requests
        .iter()
        .filter(|r| r.at < first + Duration::from_millis(1900))
        .count();
    println!(
        "tenant B latency: idle p50 {:?} max {:?}; while A floods its hanging endpoint \
         p50 {:?} max {:?}; with A's {flood} tasks waiting p50 {:?} max {:?}; \
         A's endpoint had at most {hanging_max} requests in flight",
        quantile(&idle, 0.5),
        quantile(&idle, 1.0),
        quantile(&during, 0.5),
        quantile(&during, 1.0),
        quantile(&busy, 0.5),
        quantile(&busy, 1.0),
    );
    assert!(
        quantile(&during, 1.0) < quantile(&idle, 1.0) + Duration::from_secs(2),
        "B's deliveries were held up while A flooded its hanging endpoint"
    );
    assert!(
        quantile(&busy, 1.0) < quantile(&idle, 1.0) + Duration::from_millis(500),
        "B's deliveries were held up by A's backlog"
    );
    assert!(
        hanging_max <= 10,
        "the hanging endpoint got {hanging_max} at once"
    );
    assert!(
        hanging.received().len() < flood / 10,
        "A's endpoint still hangs: the test measured B under A's backlog"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_dispatchers_keep_each_endpoints_cap_together() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut env = Herald::test_env(&nats.url(), dir.path());
    env.set("HERALD_ENDPOINT_CONCURRENCY", "4");
    let (herald, first) = Herald::start_apart("dispatcher", &env, dir).await;
    let mut dispatchers = vec![first, Process::spawn("dispatcher", &env)];
    let api = herald.api();

    // Both replicas own a share of the partitions before anything is sent.
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let leases = eventually(PATIENCE, "the dispatchers' lease bucket", || {
        let js = js.clone();
        async move { js.get_key_value("dispatcher-leases").await.ok() }
    })
    .await;
    let owners = eventually(PATIENCE, "two dispatchers sharing the partitions", || {
        let leases = leases.clone();
        async move {
            let mut owners = std::collections::HashMap::<String, usize>::new();
            for partition in 0..herald_proto::DELIVERY_PARTITIONS {
                let owner = leases.get(format!("partitions.{partition}")).await.ok()??;
                *owners
                    .entry(String::from_utf8_lossy(&owner).into_owned())
                    .or_default() += 1;
            }
            (owners.len() == 2 && owners.values().sum::<usize>() == 32).then_some(owners)
        }
    })
    .await;
    println!("partitions per dispatcher: {owners:?}");

    // Eight endpoints, spread over the partitions (so over both replicas), each
    // slow enough that every task waits for the cap.
    let mut receivers = Vec::new();
    for _ in 0..8 {
        let receiver = Receiver::start().await;
        receiver.delay(Duration::from_millis(300));
        api.create_webhook(&receiver.url("/"), &["job.*"]).await;
        receivers.push(receiver);
    }
    let events = 40;
    for n in 0..events {
        let (status, _) = api
            .post(
                "/v1/events",
                json!({"event_type": "job.tick", "data": {"n": n}}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    // Halfway, one replica dies; the other takes its partitions.
    receivers[0].wait_for(events / 2, PATIENCE).await;
    dispatchers.remove(0).kill();
    for receiver in &receivers {
        receiver.wait_for(events, Duration::from_secs(120)).await;
    }
    let most: Vec<usize> = receivers.iter().map(Receiver::max_in_flight).collect();
    println!("most requests in flight per endpoint (cap 4, two dispatchers): {most:?}");
    assert!(most.iter().all(|m| *m <= 4), "{most:?}");
    assert!(
        most.iter().all(|m| *m >= 3),
        "deliveries to one endpoint run in parallel up to the cap: {most:?}"
    );
}

/// Counts what a thousand endpoints receive without keeping the bodies: per
/// (path, event id), how many times.
#[derive(Default)]
struct Tally {
    seen: std::collections::HashMap<(String, String), u32>,
    bytes: u64,
}

async fn count(
    axum::extract::State(tally): axum::extract::State<Arc<Mutex<Tally>>>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    let event = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut tally = tally.lock().unwrap();
    tally.bytes += body.len() as u64;
    *tally
        .seen
        .entry((uri.path().to_owned(), event))
        .or_default() += 1;
    axum::http::StatusCode::OK
}

/// The peak resident memory `docs/isolation.md` promises for a dispatcher with the
/// default settings, whatever the events' size and the number of webhooks.
const DISPATCHER_PEAK_RSS_MIB: u64 = 450;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_out_of_large_events_to_a_thousand_webhooks_stays_within_its_memory_bound() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut env = Herald::test_env(&nats.url(), dir.path());
    env.set("HERALD_MAX_WEBHOOKS_PER_TENANT", "1000");
    env.set("HERALD_API_RATE_LIMIT", "0");
    let (herald, dispatcher) = Herald::start_apart("dispatcher", &env, dir).await;
    let api = herald.api();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let (addr, _receiver) = herald_tests::serve(
        axum::Router::new()
            .fallback(count)
            .with_state(tally.clone()),
    )
    .await;
    let webhooks = 1000;
    for i in 0..webhooks {
        api.create_webhook(&format!("http://{addr}/{i}"), &["job.*"])
            .await;
    }
    let baseline = herald_tests::procfs::rss_kib(dispatcher.pid());

    let events = 3;
    let pad = "x".repeat(512 * 1024);
    for n in 0..events {
        let (status, body) = api
            .post(
                "/v1/events",
                json!({"event_type": "job.completed", "data": {"n": n, "pad": pad}}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let expected = webhooks * events;
    let started = Instant::now();
    eventually(Duration::from_secs(300), "every delivery", || async {
        (tally.lock().unwrap().seen.len() >= expected).then_some(())
    })
    .await;
    let took = started.elapsed();
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    eventually(PATIENCE, "the dispatcher to finish", || {
        let js = js.clone();
        async move {
            let backlog = delivery_backlog(&js).await?;
            (backlog == DeliveryBacklog::default()).then_some(())
        }
    })
    .await;
    let peak = herald_tests::procfs::peak_rss_kib(dispatcher.pid()) / 1024;
    let tally = tally.lock().unwrap();
    let repeated = tally.seen.values().filter(|n| **n > 1).count();
    println!(
        "{expected} deliveries of 512 KiB events ({} MiB) in {took:?}; dispatcher RSS {} MiB before, peak {peak} MiB (bound {DISPATCHER_PEAK_RSS_MIB} MiB); {repeated} delivered more than once",
        tally.bytes >> 20,
        baseline / 1024,
    );
    assert_eq!(tally.seen.len(), expected);
    assert_eq!(repeated, 0, "nothing failed, so each arrives exactly once");
    assert!(
        peak <= DISPATCHER_PEAK_RSS_MIB,
        "the dispatcher peaked at {peak} MiB"
    );
}
