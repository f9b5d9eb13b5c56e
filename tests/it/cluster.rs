//! Herald on a three-node NATS cluster with R3 streams, as production runs it: the
//! four services start at once, right after the servers, while the cluster is
//! still forming, and come up without a restart; the node most of them are
//! connected to is killed while events keep coming, and restarted; every event is
//! delivered and nothing is left pending.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use herald_common::config::MapEnv;
use herald_tests::herald::{API_KEY, Process, SERVICES, wait_ready};
use herald_tests::nats::{ALL_CONSUMERS, NatsCluster, wait_idle};
use herald_tests::{Api, Herald, PATIENCE, Receiver, eventually};
use reqwest::StatusCode;
use serde_json::json;

/// Events published in all: a third before the kill, a third while the node is
/// down, a third after it is back.
const EVENTS: usize = 150;

/// How long the services may take to start. Provisioning R3 streams on a cluster
/// that has only just elected its JetStream leader takes a server round per stream
/// and consumer; on a machine busy with the whole suite a JetStream request there
/// can time out (10 s) several times before every stream exists.
const STARTING: Duration = Duration::from_secs(2 * PATIENCE.as_secs());

fn event_id(n: usize) -> String {
    format!("evt_cluster_{n:04}")
}

/// The distinct event ids the receiver got.
fn delivered(receiver: &Receiver) -> std::collections::BTreeSet<String> {
    receiver
        .received()
        .iter()
        .filter_map(|r| r.json()["event_id"].as_str().map(str::to_owned))
        .collect()
}

/// Publishes [`EVENTS`] events through the API one after another, each tried
/// again until accepted (the same id, so a retry is stored once); `published`
/// counts those accepted.
async fn publish(api: Api, published: Arc<AtomicUsize>) {
    for n in 0..EVENTS {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let event =
                json!({"event_type": "job.progress", "event_id": event_id(n), "data": {"n": n}});
            let (status, body) = api.post("/v1/events", event).await;
            if status == StatusCode::ACCEPTED {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "event {n} still refused after {PATIENCE:?}: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        published.store(n + 1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How many Herald connections each node holds.
async fn herald_clients(cluster: &NatsCluster) -> Vec<usize> {
    let mut counts = Vec::new();
    for node in &cluster.nodes {
        let names = node.client_names().await;
        counts.push(names.iter().filter(|n| n.starts_with("herald-")).count());
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_starts_on_a_forming_cluster_and_loses_nothing_when_a_node_dies() {
    herald_common::telemetry::init_crypto();
    let mut cluster = NatsCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let mut env: MapEnv = Herald::test_env(&cluster.seed_urls(), dir.path());
    env.set("HERALD_STREAM_REPLICAS", "3");

    // All four at once, before the cluster has formed or elected a leader.
    let mut processes: Vec<(Process, std::net::SocketAddr)> = SERVICES
        .iter()
        .map(|service| Process::spawn_listening(service, &env))
        .collect();
    let started = Instant::now();
    for (service, (process, addr)) in SERVICES.iter().zip(processes.iter_mut()) {
        let url = format!("http://{addr}/readyz");
        let waited_for = Arc::new(std::sync::Mutex::new(Vec::<(String, u64)>::new()));
        eventually(STARTING, &format!("{service} to be ready"), || {
            let exited = process.exit_status();
            assert!(
                exited.is_none(),
                "{service} exited while starting: {exited:?}"
            );
            let (url, waited_for) = (url.clone(), waited_for.clone());
            async move {
                let response = reqwest::get(&url).await.ok()?;
                if response.status().is_success() {
                    return Some(());
                }
                let reason = response.text().await.unwrap_or_default();
                let mut seen = waited_for.lock().unwrap();
                if !seen.iter().any(|(known, _)| *known == reason) {
                    // Said as it happens, so a start-up that times out shows why.
                    eprintln!("{service} at {:?}: {reason}", started.elapsed());
                    seen.push((reason, started.elapsed().as_secs()));
                }
                None
            }
        })
        .await;
        eprintln!(
            "{service} ready after {:?}, having waited for (reason, seconds) {:?}",
            started.elapsed(),
            waited_for.lock().unwrap()
        );
    }
    let api = Api::new(format!("http://{}", processes[0].1), API_KEY);
    let receiver = Receiver::start().await;
    api.create_webhook(&receiver.url("/"), &["job.*"]).await;

    let published = Arc::new(AtomicUsize::new(0));
    let publisher = tokio::spawn(publish(api.clone(), published.clone()));
    let after = |count: usize, what: &'static str| {
        let published = published.clone();
        async move {
            eventually(PATIENCE, what, || {
                let done = published.load(Ordering::SeqCst);
                async move { (done >= count).then_some(()) }
            })
            .await
        }
    };
    after(EVENTS / 3, "the first third of the events to be published").await;

    // Kill the node that serves the most Herald connections.
    let counts = eventually(PATIENCE, "the four services to be connected", || async {
        let counts = herald_clients(&cluster).await;
        (counts.iter().sum::<usize>() >= SERVICES.len()).then_some(counts)
    })
    .await;
    let victim = (0..counts.len()).max_by_key(|&i| counts[i]).unwrap();
    eprintln!(
        "Herald connections per node {counts:?}; killing node {}",
        victim + 1
    );
    let killed_at = published.load(Ordering::SeqCst);
    cluster.nodes[victim].kill();

    // Every service reconnects to the other nodes, and deliveries go on.
    eventually(PATIENCE, "every service to reconnect elsewhere", || async {
        let counts = herald_clients(&cluster).await;
        (counts.iter().sum::<usize>() >= SERVICES.len()).then_some(())
    })
    .await;
    after(2 * EVENTS / 3, "the second third to be published").await;
    let published_while_down: Vec<String> = (killed_at..2 * EVENTS / 3).map(event_id).collect();
    eventually(
        PATIENCE,
        "an event published while the node is down to be delivered",
        || {
            let got = delivered(&receiver);
            let any = published_while_down.iter().any(|id| got.contains(id));
            async move { any.then_some(()) }
        },
    )
    .await;

    eprintln!(
        "restarting node {} after {:?}",
        victim + 1,
        started.elapsed()
    );
    cluster.nodes[victim].restart();
    publisher.await.expect("every event was accepted");

    let expected: std::collections::BTreeSet<String> = (0..EVENTS).map(event_id).collect();
    eventually(PATIENCE, "every event to be delivered", || {
        let got = delivered(&receiver);
        let missing = expected.difference(&got).count();
        async move { (missing == 0).then_some(()) }
    })
    .await;
    assert_eq!(
        delivered(&receiver),
        expected,
        "no event lost, none unknown"
    );
    let live = (victim + 1) % cluster.nodes.len();
    wait_idle(&cluster.nodes[live].url(), ALL_CONSUMERS).await;
    for (service, (process, addr)) in SERVICES.iter().zip(processes.iter_mut()) {
        assert!(process.exit_status().is_none(), "{service} ran throughout");
        wait_ready(&format!("http://{addr}")).await;
    }
}
