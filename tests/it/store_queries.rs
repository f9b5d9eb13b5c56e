//! The status-tracker's answers at scale: request/reply answers larger than one NATS
//! message come in pages that ingest follows, and the hot queries use an index.

use herald_proto::query::{self, StatusKind, StatusQuery, StatusReply};
use herald_status_tracker::store::TOTAL_CAP;
use herald_status_tracker::store::sql::{self, DeliveryFilter, Param};
use herald_tests::PATIENCE;
use herald_tests::db::{Scratch, scratch_schema};
use herald_tests::{Herald, NatsServer, Receiver};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Event data of about 950 KiB: ten of them are more than the test server's
/// `max_payload` (8 MiB).
fn big_data(n: usize) -> Value {
    json!({ "n": n, "blob": "x".repeat(950 * 1024) })
}

const BIG_EVENTS: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_history_larger_than_one_message_is_answered_whole() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    for n in 0..BIG_EVENTS {
        let (status, body) = api
            .post(
                "/v1/events",
                json!({"event_type": "job.progress", "job_id": "job_big", "data": big_data(n)}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let job = api
        .get_when("/v1/jobs/job_big", "the whole history of the job", |body| {
            body["history"]
                .as_array()
                .is_some_and(|h| h.len() == BIG_EVENTS)
        })
        .await;
    let order: Vec<_> = job["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["data"]["n"].as_u64().unwrap())
        .collect();
    assert_eq!(order, (0..BIG_EVENTS as u64).collect::<Vec<_>>());
    assert_eq!(job["status"], "processing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_resends_failed_deliveries_larger_than_one_message() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[("HERALD_RETRY_SCHEDULE", "3s")]).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    // Every attempt fails: once a delivery has no retry left the webhook is
    // disabled and the others fail with it.
    receiver.respond_with(&[500; 4 * BIG_EVENTS]);
    let webhook = api.create_webhook(&receiver.url("/"), &["job.*"]).await;
    let id = webhook["webhook_id"].as_str().unwrap().to_owned();
    let since = herald_proto::rfc3339(herald_proto::now_ms() - 60_000);
    for n in 0..BIG_EVENTS {
        let (status, body) = api
            .post(
                "/v1/events",
                json!({"event_type": "job.completed", "data": big_data(n)}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let path = format!("/v1/webhooks/{id}/deliveries?status=failed");
    api.get_until(&path, "every delivery to be failed", |body| {
        (body["deliveries"].as_array()?.len() == BIG_EVENTS).then_some(())
    })
    .await;
    let (status, _) = api
        .post(&format!("/v1/webhooks/{id}/enable"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    receiver.respond_with(&[]);

    let before = receiver.received().len();
    let (status, recovered) = api
        .post(
            &format!("/v1/webhooks/{id}/recover"),
            json!({"since": since}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{recovered}");
    assert_eq!(recovered["recovered"], BIG_EVENTS, "{recovered}");
    let mut ids: Vec<_> = recovered["delivery_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), BIG_EVENTS, "each delivery once");
    let received = receiver.wait_for(before + BIG_EVENTS, PATIENCE).await;
    let mut resent: Vec<_> = received[before..]
        .iter()
        .map(|r| r.json()["data"]["n"].as_u64().unwrap())
        .collect();
    resent.sort();
    assert_eq!(resent, (0..BIG_EVENTS as u64).collect::<Vec<_>>());
}

/// A query that names no read the status-tracker knows — none, or one added by a
/// newer ingest — is answered `invalid`, with why, rather than not at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_of_no_known_kind_is_answered_invalid() {
    let nats = NatsServer::start();
    let _herald = Herald::start(&nats.url(), &[]).await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let unknown = StatusQuery {
        tenant: "acme".into(),
        kind: None,
    };
    let reply = client
        .request(query::STATUS_SUBJECT, query::encode(&unknown))
        .await
        .unwrap();
    let reply: StatusReply = query::decode(&reply.payload).unwrap();
    assert!(reply.invalid.contains("no kind"), "{reply:?}");
    assert!(reply.error.is_empty() && reply.json.is_empty(), "{reply:?}");

    let known = StatusQuery::new(
        "acme",
        StatusKind::GetDelivery(query::GetDelivery {
            delivery_id: "dlv_none".into(),
        }),
    );
    let reply = client
        .request(query::STATUS_SUBJECT, query::encode(&known))
        .await
        .unwrap();
    let reply: StatusReply = query::decode(&reply.payload).unwrap();
    assert!(reply.not_found && reply.invalid.is_empty(), "{reply:?}");
}

/// A PostgreSQL store in a schema of its own, and one connection to that schema
/// for reading plans.
async fn postgres() -> Option<(
    herald_status_tracker::Store,
    sqlx::pool::PoolConnection<sqlx::Postgres>,
    Scratch,
)> {
    use sqlx::Executor;
    let url = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let Some(url) = url else {
        eprintln!("SKIPPED: TEST_DATABASE_URL is not set (make test sets it)");
        return None;
    };
    let (scoped, scratch) = scratch_schema(&url, "herald_plan").await;
    let store = herald_status_tracker::Store::connect(&scoped)
        .await
        .expect("PostgreSQL store");
    let plans = sqlx::pool::PoolOptions::<sqlx::Postgres>::new()
        .max_connections(1)
        .connect(&scoped)
        .await
        .unwrap();
    let mut conn = plans.acquire().await.unwrap();
    // Rows enough, and statistics, for the planner to tell one index from another;
    // the tables are still small enough to be scanned whole, which is not the
    // question here: whether an index answers each query is.
    for fill in [
        "INSERT INTO deliveries (tenant, delivery_id, endpoint_id, event_id, event_type, status, \
         attempts, created_at, updated_at) SELECT 'acme', 'dlv_' || g, 'wh_' || (g % 50), \
         'evt_' || (g / 50), 'job.completed', CASE WHEN g % 4 = 0 THEN 'failed' ELSE 'success' END, \
         1, g, g FROM generate_series(1, 20000) g",
        "INSERT INTO attempts (tenant, delivery_id, record_id, sequence, attempt, trigger_kind, \
         outcome, duration_ms, response_excerpt, attempted_at, endpoint_id) SELECT 'acme', \
         'dlv_' || g, 'r_' || g, g, 1, 'auto', 'success', 5, '', g, 'wh_' || (g % 50) \
         FROM generate_series(1, 20000) g",
        "INSERT INTO events (tenant, event_id, event_type, job_id, data, occurred_at, accepted_at) \
         SELECT 'acme', 'evt_' || g, 'job.progress', \
         CASE WHEN g % 5 = 0 THEN 'job_' || (g % 100) ELSE 'job_1' END, '{}', g, g \
         FROM generate_series(0, 5000) g",
        "INSERT INTO jobs (tenant, job_id, status, status_at, terminal, created_at, updated_at) \
         SELECT 'acme', 'job_' || g, 'processing', g, 0, g, g FROM generate_series(0, 99) g",
        "ANALYZE",
        "SET enable_seqscan = off",
    ] {
        conn.execute(fill).await.unwrap();
    }
    Some((store, conn, scratch))
}

/// The plan PostgreSQL chooses for `sql` with `params`, as text.
async fn plan(conn: &mut sqlx::PgConnection, sql: &str, params: &[Param]) -> String {
    use sqlx::Row;
    let explain = format!("EXPLAIN {sql}");
    let mut query = sqlx::query(&explain);
    for param in params {
        query = match param {
            Param::Text(v) => query.bind(v.as_str()),
            Param::Int(v) => query.bind(*v),
        };
    }
    query
        .fetch_all(conn)
        .await
        .unwrap_or_else(|e| panic!("EXPLAIN {sql}: {e}"))
        .iter()
        .map(|row| row.get::<String, _>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_uses(plan: &str, index: &str, what: &str) {
    assert!(
        plan.contains(index) && !plan.contains("Seq Scan"),
        "{what} should use {index}:\n{plan}"
    );
}

fn text(value: &str) -> Param {
    Param::Text(value.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_queries_use_an_index_on_postgres() {
    let Some((_store, mut conn, scratch)) = postgres().await else {
        return;
    };
    let conn = &mut *conn;
    let filter = DeliveryFilter {
        tenant: "acme".into(),
        endpoint_id: "wh_1".into(),
        limit: 50,
        ..Default::default()
    };
    let after = (1_000, "dlv_x".to_owned());
    let by_status = DeliveryFilter {
        status: Some("failed".into()),
        since_ms: Some(1),
        until_ms: Some(9_000),
        ..filter.clone()
    };
    for (what, statement, index) in [
        (
            "the delivery list",
            filter.page(None),
            "deliveries_by_endpoint",
        ),
        (
            "its next page",
            filter.page(Some(&after)),
            "deliveries_by_endpoint",
        ),
        (
            "its count",
            filter.count(TOTAL_CAP),
            "deliveries_by_endpoint",
        ),
        (
            "the list by status and time",
            by_status.page(Some(&after)),
            "deliveries_by_endpoint_status",
        ),
        (
            "its count",
            by_status.count(TOTAL_CAP),
            "deliveries_by_endpoint_status",
        ),
    ] {
        let shown = plan(conn, &statement.sql, &statement.params).await;
        assert_uses(&shown, index, what);
        assert!(
            !shown.contains("Sort"),
            "{what} reads in index order:\n{shown}"
        );
    }
    let shown = plan(
        conn,
        &sql::event_deliveries(),
        &[text("acme"), text("evt_1")],
    )
    .await;
    assert_uses(&shown, "deliveries_by_event", "an event's deliveries");
    let shown = plan(
        conn,
        sql::JOB_HISTORY,
        &[
            text("acme"),
            text("job_1"),
            Param::Int(i64::MIN),
            Param::Int(i64::MIN),
            text(""),
            Param::Int(16),
        ],
    )
    .await;
    assert_uses(&shown, "events_by_job", "a job's history");
    assert!(!shown.contains("Sort"), "history in index order:\n{shown}");
    let shown = plan(
        conn,
        &sql::retryable_since(),
        &[
            text("acme"),
            text("wh_1"),
            text("failed"),
            Param::Int(0),
            Param::Int(i64::MIN),
            text(""),
            Param::Int(10_000),
        ],
    )
    .await;
    assert_uses(
        &shown,
        "deliveries_by_endpoint_status",
        "the deliveries recover re-sends",
    );
    let shown = plan(conn, sql::DELIVERY_ATTEMPTS, &[text("acme"), text("dlv_1")]).await;
    assert_uses(&shown, "attempt_records_pkey", "a delivery's attempts");
    for (statement, index) in sql::PRUNE.iter().zip([
        "attempts_by_time",
        "deliveries_by_update",
        "events_by_time",
        "jobs_by_update",
    ]) {
        let shown = plan(conn, statement, &[Param::Int(5), Param::Int(1000)]).await;
        assert_uses(&shown, index, "pruning");
    }
    scratch.clean().await;
}
