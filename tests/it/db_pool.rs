//! The status-tracker holds at most `HERALD_DB_POOL_SIZE` connections to
//! PostgreSQL, however many queries arrive at once: the sum over its replicas is
//! what a database's `max_connections` must hold.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use herald_tests::db::scratch_schema;
use herald_tests::{Herald, NatsServer, PATIENCE};

/// Connections the status-tracker may hold in this test (the default is 8).
const POOL_SIZE: i64 = 2;
/// API requests in flight at once, each a query the status-tracker answers from the
/// store: far more than the pool, so an unbounded pool would grow past it.
const CLIENTS: usize = 24;
/// How long the pool must stay at its size under that load once it got there.
const HOLD: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_status_tracker_holds_at_most_its_pool_size_of_postgresql_connections() {
    let Some(url) = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("SKIPPED: TEST_DATABASE_URL is not set (make test sets it)");
        return;
    };
    let (scoped, scratch) = scratch_schema(&url, "herald_pool").await;
    // The status-tracker's connections carry a name of their own, so the count below
    // sees them and nothing else on the server.
    let name = format!("herald_pool_{}", std::process::id());
    let database_url = format!("{scoped}&application_name={name}");
    let nats = NatsServer::start();
    let herald = Herald::start(
        &nats.url(),
        &[
            ("DATABASE_URL", database_url.as_str()),
            ("HERALD_DB_POOL_SIZE", &POOL_SIZE.to_string()),
            // The clients ask as fast as they can.
            ("HERALD_API_RATE_LIMIT", "0"),
        ],
    )
    .await;

    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..CLIENTS {
        let api = herald.api();
        let stop = stop.clone();
        clients.spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let (status, _) = api.get(&format!("/v1/events/evt_pool_{client}_{n}")).await;
                assert_eq!(status, reqwest::StatusCode::NOT_FOUND);
            }
        });
    }

    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    let deadline = Instant::now() + PATIENCE;
    let mut full_since: Option<Instant> = None;
    let mut most = 0;
    while Instant::now() < deadline {
        let (held,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1")
                .bind(&name)
                .fetch_one(&admin)
                .await
                .unwrap();
        most = most.max(held);
        assert!(
            held <= POOL_SIZE,
            "{held} connections held with HERALD_DB_POOL_SIZE={POOL_SIZE}"
        );
        if held == POOL_SIZE {
            let since = *full_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= HOLD {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    while let Some(done) = clients.join_next().await {
        done.expect("a client saw only 404s");
    }
    assert!(
        full_since.is_some_and(|since| since.elapsed() >= HOLD),
        "the pool never held {POOL_SIZE} connections under load for {HOLD:?} (at most {most})"
    );
    herald.stop().await.expect("clean stop");
    admin.close().await;
    scratch.clean().await;
}
