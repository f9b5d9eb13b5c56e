//! Every stream has a byte limit, so a full stream never stops the others: `EVENTS`
//! at its limit drops its oldest events while new ones are accepted and delivered;
//! an existing deployment's streams receive the limits on the next start (a limit
//! below what a replay stream holds trims it); and limits the servers cannot
//! reserve stop the start with an error naming the variables.

use async_nats::jetstream::{self, stream};
use herald_tests::{Herald, NatsServer, PATIENCE, Receiver, eventually};
use reqwest::StatusCode;
use serde_json::json;

const EVENTS_LIMIT: u64 = 8 << 20;

/// An event of about 100 KiB: 84 of them fill an 8 MiB `EVENTS`.
fn event(n: usize) -> serde_json::Value {
    json!({
        "event_type": "job.completed",
        "job_id": format!("job-{n}"),
        "data": {"n": n, "pad": "x".repeat(100 << 10)},
    })
}

async fn events_stream(nats_url: &str) -> stream::Info {
    let client = async_nats::connect(nats_url).await.expect("connect");
    let js = jetstream::new(client);
    let mut events = js.get_stream("EVENTS").await.expect("EVENTS exists");
    events.info().await.expect("EVENTS info").clone()
}

/// Waits until `receiver` got every event `0..n` (each at least once).
async fn wait_all_delivered(receiver: &Receiver, n: usize) {
    eventually(PATIENCE, &format!("{n} events delivered"), || async {
        let mut seen: Vec<u64> = receiver
            .received()
            .iter()
            .filter_map(|r| r.json()["data"]["n"].as_u64())
            .collect();
        seen.sort_unstable();
        seen.dedup();
        (seen.len() == n).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_events_stream_drops_its_oldest_events_and_delivery_goes_on() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[("HERALD_EVENTS_MAX_BYTES", "8MiB")]).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    api.create_webhook(&receiver.url("/"), &["job.*"]).await;

    // 250 events of 100 KiB: three times what EVENTS may hold.
    const N: usize = 250;
    for n in 0..N {
        let (status, body) = api.post("/v1/events", event(n)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "event {n}: {body}");
    }
    wait_all_delivered(&receiver, N).await;

    let info = events_stream(&nats.url()).await;
    println!(
        "EVENTS after {N} events of 100 KiB: {} messages, {} bytes (limit {EVENTS_LIMIT}), first sequence {}",
        info.state.messages, info.state.bytes, info.state.first_sequence
    );
    assert_eq!(info.config.max_bytes, EVENTS_LIMIT as i64);
    assert_eq!(info.config.discard, stream::DiscardPolicy::Old);
    assert!(info.state.bytes <= EVENTS_LIMIT, "{:?}", info.state);
    assert!(
        info.state.first_sequence > 1 && (info.state.messages as usize) < N,
        "the oldest events are gone: {:?}",
        info.state
    );
    assert_eq!(
        info.state.last_sequence, N as u64,
        "the newest events are kept"
    );

    // Still full, still delivering.
    let (status, body) = api.post("/v1/events", event(N)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    wait_all_delivered(&receiver, N + 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_deployment_gets_the_limits_on_its_next_start() {
    let nats = NatsServer::start();
    let receiver = Receiver::start().await;
    let herald = Herald::start(&nats.url(), &[("HERALD_EVENTS_MAX_BYTES", "64MiB")]).await;
    let api = herald.api();
    api.create_webhook(&receiver.url("/"), &["job.*"]).await;
    const N: usize = 120;
    for n in 0..N {
        let (status, body) = api.post("/v1/events", event(n)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "event {n}: {body}");
    }
    wait_all_delivered(&receiver, N).await;
    herald.stop().await.expect("a clean stop");

    // As a release without limits left them: no byte limit, old messages dropped.
    let js = jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let names = [
        "INGEST",
        "EVENTS",
        "DELIVERIES",
        "PARKED",
        "OUTCOMES",
        "REJECTED",
    ];
    for name in names {
        let mut stream = js.get_stream(name).await.unwrap();
        let mut config = stream.info().await.unwrap().config.clone();
        config.max_bytes = -1;
        config.discard = stream::DiscardPolicy::Old;
        js.update_stream(config).await.expect("remove the limit");
    }
    let before = events_stream(&nats.url()).await;
    assert_eq!(before.config.max_bytes, -1);
    assert!(before.state.bytes > EVENTS_LIMIT, "{:?}", before.state);

    // The next start brings every stream to its limit; EVENTS held more than its
    // new one and keeps only its newest events.
    let herald = Herald::start(&nats.url(), &[("HERALD_EVENTS_MAX_BYTES", "8MiB")]).await;
    for name in names {
        let mut stream = js.get_stream(name).await.unwrap();
        let info = stream.info().await.unwrap();
        assert!(info.config.max_bytes > 0, "{name}: {:?}", info.config);
        let discard = if matches!(name, "EVENTS" | "REJECTED") {
            stream::DiscardPolicy::Old
        } else {
            stream::DiscardPolicy::New
        };
        assert_eq!(info.config.discard, discard, "{name}");
    }
    let after = events_stream(&nats.url()).await;
    println!(
        "EVENTS lowered from no limit to 8 MiB: {} → {} bytes, first sequence {}",
        before.state.bytes, after.state.bytes, after.state.first_sequence
    );
    assert_eq!(after.config.max_bytes, EVENTS_LIMIT as i64);
    assert!(after.state.bytes <= EVENTS_LIMIT, "{:?}", after.state);
    assert_eq!(after.state.last_sequence, N as u64);
    for bucket in ["KV_endpoints", "KV_job-callbacks", "KV_tenant-secrets"] {
        let mut stream = js.get_stream(bucket).await.unwrap();
        let info = stream.info().await.unwrap();
        assert!(info.config.max_bytes > 0, "{bucket}: {:?}", info.config);
    }

    // And delivery goes on.
    let (status, body) = herald.api().post("/v1/events", event(N)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    wait_all_delivered(&receiver, N + 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_the_server_cannot_reserve_stop_the_start_with_a_clear_error() {
    // 512 MB of JetStream storage: less than the default limits (about 8 GiB).
    let nats = NatsServer::start_with("jetstream { max_file_store: 512MB }");
    let dir = tempfile::tempdir().unwrap();
    let env = Herald::test_env(&nats.url(), dir.path());
    let configs = herald::Configs::load(&[herald::Mode::All], &env).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ended = tokio::time::timeout(
        PATIENCE,
        herald::run(
            configs,
            listener,
            tokio_util::sync::CancellationToken::new(),
        ),
    )
    .await
    .expect("Herald stops instead of waiting");
    let error = ended.expect_err("the limits do not fit").to_string();
    println!("{error}");
    assert!(error.contains("HERALD_*_MAX_BYTES"), "{error}");
    assert!(error.contains("max_file_store"), "{error}");

    // Limits that fit start.
    let small: Vec<(&str, &str)> = herald_common::config::StorageLimits::VARIABLES
        .iter()
        .map(|setting| (setting.name, "8MiB"))
        .collect();
    let herald = Herald::start(&nats.url(), &small).await;
    let receiver = Receiver::start().await;
    herald
        .api()
        .create_webhook(&receiver.url("/"), &["job.*"])
        .await;
    let (status, body) = herald.api().post("/v1/events", event(0)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    wait_all_delivered(&receiver, 1).await;
}
