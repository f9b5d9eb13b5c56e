//! The status-tracker's store: the same behaviour on SQLite and PostgreSQL.
//! PostgreSQL tests use `TEST_DATABASE_URL` with a fresh schema per test.

use bytes::Bytes;
use herald_proto::{
    AttemptOutcome, DeliveryAttempt, DeliveryTask, Event, EventType, RetryDecision, Trigger,
};
use herald_status_tracker::Store;
use herald_status_tracker::store::DeliveryFilter;
use serde_json::Value;

/// A store of each kind: SQLite in a temporary file, PostgreSQL in a new schema.
/// What to clean up after a store: the SQLite file's directory or the PostgreSQL schema.
enum Scratch {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Schema(sqlx::PgPool, String),
}

impl Scratch {
    async fn clean(self) {
        if let Scratch::Schema(admin, schema) = self {
            use sqlx::Executor;
            let _ = admin
                .execute(format!("DROP SCHEMA {schema} CASCADE").as_str())
                .await;
        }
    }
}

async fn stores() -> Vec<(&'static str, Store, Scratch)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::connect(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("t.db").display()
    ))
    .await
    .expect("SQLite store");
    let mut stores = vec![("sqlite", sqlite, Scratch::Dir(dir))];
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => {
            let (store, scratch) = postgres(&url).await;
            stores.push(("postgres", store, scratch));
        }
        _ => eprintln!("SKIPPED PostgreSQL: TEST_DATABASE_URL is not set (make test sets it)"),
    }
    stores
}

async fn postgres(url: &str) -> (Store, Scratch) {
    use sqlx::Executor;
    let schema = format!("herald_test_{}", std::process::id()) + &format!("_{}", rand_suffix());
    let admin = sqlx::PgPool::connect(url)
        .await
        .expect("TEST_DATABASE_URL reachable");
    admin
        .execute(format!("CREATE SCHEMA {schema}").as_str())
        .await
        .unwrap();
    let separator = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{separator}options=-c%20search_path%3D{schema}");
    let store = Store::connect(&scoped).await.expect("PostgreSQL store");
    (store, Scratch::Schema(admin, schema))
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{nanos}_{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn attempt(event_id: &str, attempt: u32, outcome: AttemptOutcome, at: i64) -> DeliveryAttempt {
    let event = Event {
        event_id: event_id.into(),
        tenant: "acme".into(),
        event_type: EventType::parse("job.completed").unwrap(),
        data: Bytes::from_static(b"{}"),
        job_id: None,
        timestamp_ms: at,
        accepted_at_ms: at,
        callback: None,
    };
    DeliveryAttempt {
        task: DeliveryTask {
            delivery_id: herald_proto::ids::delivery_id("acme", event_id, "wh_1"),
            endpoint_id: "wh_1".into(),
            attempt,
            event,
            trigger: Trigger::Auto,
            callback: None,
            traceparent: None,
            run_id: None,
        },
        outcome,
        status_code: Some(if outcome == AttemptOutcome::Succeeded {
            200
        } else {
            500
        }),
        duration_ms: 12,
        error: None,
        response_excerpt: String::new(),
        attempted_at_ms: at + i64::from(attempt) * 1000,
        retry_after_secs: None,
    }
}

/// A webhook's deliveries (statuses filtered) and the total, from the store.
async fn list(store: &Store, tenant: &str, status: Option<&str>) -> (Vec<Value>, u64) {
    let page = store
        .list_deliveries(&DeliveryFilter {
            tenant: tenant.into(),
            endpoint_id: "wh_1".into(),
            status: status.map(str::to_owned),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    (page.deliveries, page.total)
}

fn job_event(event_id: &str, event_type: &str, data: &str, at: i64) -> Event {
    Event {
        event_id: event_id.into(),
        tenant: "acme".into(),
        event_type: EventType::parse(event_type).unwrap(),
        data: Bytes::from(data.to_owned()),
        job_id: Some("job_9".into()),
        timestamp_ms: at,
        accepted_at_ms: at,
        callback: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_idempotent_and_listed_newest_first_on_every_backend() {
    for (backend, store, scratch) in stores().await {
        let first = attempt("evt_a", 1, AttemptOutcome::Failed, 1_000);
        store.record_attempt(&first).await.unwrap();
        store.record_attempt(&first).await.unwrap();
        let decision = RetryDecision {
            delivery_id: first.task.delivery_id.clone(),
            tenant: "acme".into(),
            endpoint_id: "wh_1".into(),
            event_id: "evt_a".into(),
            attempt: 1,
            next_attempt_at_ms: Some(50_000),
        };
        assert!(store.record_decision(&decision).await.unwrap(), "{backend}");
        let (deliveries, total) = list(&store, "acme", None).await;
        assert_eq!((deliveries.len(), total), (1, 1), "{backend}");
        assert_eq!(deliveries[0]["status"], "retrying", "{backend}");
        assert_eq!(
            deliveries[0]["next_attempt_at"],
            herald_proto::rfc3339(50_000),
            "{backend}"
        );

        store
            .record_attempt(&attempt("evt_a", 2, AttemptOutcome::Succeeded, 1_000))
            .await
            .unwrap();
        // A late copy of the first attempt changes nothing.
        store.record_attempt(&first).await.unwrap();
        store
            .record_attempt(&attempt("evt_b", 1, AttemptOutcome::Refused, 2_000))
            .await
            .unwrap();

        let (deliveries, total) = list(&store, "acme", None).await;
        assert_eq!(total, 2, "{backend}");
        let view: Vec<_> = deliveries
            .iter()
            .map(|d| {
                (
                    d["event_id"].as_str().unwrap(),
                    d["status"].as_str().unwrap(),
                    d["attempts"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            view,
            [("evt_b", "failed", 1), ("evt_a", "success", 2)],
            "{backend}"
        );
        let (failed, total) = list(&store, "acme", Some("failed")).await;
        assert_eq!((failed.len(), total), (1, 1), "{backend}");
        assert!(list(&store, "globex", None).await.0.is_empty(), "{backend}");

        // One delivery with every attempt.
        let detail = store
            .delivery("acme", &first.task.delivery_id)
            .await
            .unwrap()
            .unwrap();
        let attempts = detail["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 2, "{backend}");
        assert_eq!(attempts[0]["status"], "failed", "{backend}");
        assert_eq!(attempts[1]["status"], "success", "{backend}");
        assert_eq!(attempts[1]["trigger"], "auto", "{backend}");
        assert!(
            store
                .delivery("globex", &first.task.delivery_id)
                .await
                .unwrap()
                .is_none()
        );

        // Failed deliveries can be found again with their events, by id or by time.
        let event = attempt("evt_b", 1, AttemptOutcome::Refused, 2_000)
            .task
            .event;
        store.record_event(&event).await.unwrap();
        store.record_event(&event).await.unwrap();
        let found = store.retryable("acme", "wh_1", None, 0, 10).await.unwrap();
        assert_eq!(found.len(), 1, "{backend}");
        assert_eq!(found[0].attempts, 1, "{backend}");
        assert_eq!(
            found[0].event.as_ref().unwrap().event_id,
            "evt_b",
            "{backend}"
        );
        assert!(
            store
                .retryable("acme", "wh_1", None, 10_000, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let event_view = store.event("acme", "evt_b").await.unwrap().unwrap();
        assert_eq!(event_view["deliveries"][0]["status"], "failed", "{backend}");

        let stats = store.stats("acme", "wh_1", 0).await.unwrap();
        assert_eq!(stats["attempts"], 3, "{backend}");
        assert_eq!(stats["successes"], 1, "{backend}");
        assert_eq!(stats["p50_response_time_ms"], 12, "{backend}");

        // Disabling a webhook fails what was still retrying.
        store
            .record_attempt(&attempt("evt_c", 1, AttemptOutcome::Failed, 3_000))
            .await
            .unwrap();
        assert_eq!(
            store.fail_retrying("acme", "wh_1").await.unwrap(),
            1,
            "{backend}"
        );
        assert_eq!(
            list(&store, "acme", Some("failed")).await.0.len(),
            2,
            "{backend}"
        );

        // A decision about an attempt that is not recorded yet asks to be retried.
        let early = RetryDecision {
            attempt: 3,
            ..decision.clone()
        };
        assert!(!store.record_decision(&early).await.unwrap(), "{backend}");

        // Retention removes what is older than the cut-off, and only that.
        let pruned = store.prune(3_500, 1).await.unwrap();
        assert!(pruned >= 3, "{backend}: {pruned}");
        let (left, _) = list(&store, "acme", None).await;
        assert_eq!(left.len(), 1, "{backend}");
        assert_eq!(left[0]["event_id"], "evt_c", "{backend}");
        scratch.clean().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_job_events_end_in_the_right_state() {
    for (backend, store, scratch) in stores().await {
        // Arrival order: completed, then the earlier processing and progress events.
        store
            .record_event(&job_event(
                "e3",
                "job.completed",
                r#"{"jobType":"render","results":{"url":"u"}}"#,
                3_000,
            ))
            .await
            .unwrap();
        store
            .record_event(&job_event(
                "e1",
                "job.processing",
                r#"{"jobType":"render"}"#,
                1_000,
            ))
            .await
            .unwrap();
        store
            .record_event(&job_event(
                "e2",
                "job.progress",
                r#"{"progress_percent":50}"#,
                2_000,
            ))
            .await
            .unwrap();
        let job = store.job("acme", "job_9").await.unwrap().unwrap();
        assert_eq!(job["status"], "completed", "{backend}");
        assert_eq!(job["final"], true, "{backend}");
        assert_eq!(job["job_type"], "render", "{backend}");
        assert_eq!(job["progress"], 100.0, "{backend}");
        assert_eq!(job["result"], serde_json::json!({"url": "u"}), "{backend}");
        let history: Vec<_> = job["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["event_type"].as_str().unwrap())
            .collect();
        assert_eq!(
            history,
            ["job.processing", "job.progress", "job.completed"],
            "{backend}"
        );
        assert_eq!(job["created_at"], herald_proto::rfc3339(1_000), "{backend}");
        assert!(store.job("acme", "job_x").await.unwrap().is_none());
        scratch.clean().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_return_every_delivery_once_while_new_ones_arrive() {
    for (backend, store, scratch) in stores().await {
        for n in 0..25 {
            store
                .record_attempt(&attempt(
                    &format!("evt_{n:02}"),
                    1,
                    AttemptOutcome::Succeeded,
                    10_000 + n,
                ))
                .await
                .unwrap();
        }
        let mut seen = Vec::new();
        let mut cursor = None;
        let mut newer = 0;
        loop {
            let page = store
                .list_deliveries(&DeliveryFilter {
                    tenant: "acme".into(),
                    endpoint_id: "wh_1".into(),
                    limit: 7,
                    cursor: cursor.clone(),
                    ..Default::default()
                })
                .await
                .unwrap();
            seen.extend(
                page.deliveries
                    .iter()
                    .map(|d| d["event_id"].as_str().unwrap().to_owned()),
            );
            // New deliveries keep arriving between pages.
            for _ in 0..3 {
                store
                    .record_attempt(&attempt(
                        &format!("evt_new_{newer}"),
                        1,
                        AttemptOutcome::Succeeded,
                        20_000 + newer,
                    ))
                    .await
                    .unwrap();
                newer += 1;
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let expected: Vec<String> = (0..25).rev().map(|n| format!("evt_{n:02}")).collect();
        assert_eq!(seen, expected, "{backend}");
        let bad = store
            .list_deliveries(&DeliveryFilter {
                tenant: "acme".into(),
                endpoint_id: "wh_1".into(),
                limit: 7,
                cursor: Some("forged".into()),
                ..Default::default()
            })
            .await;
        assert!(bad.is_err(), "{backend}");
        scratch.clean().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanned_out_deliveries_are_pending_until_attempted() {
    for (backend, store, scratch) in stores().await {
        // A fan-out makes deliveries pending before their first attempt; an attempt
        // moves them on, and a late fan-out record changes nothing.
        let pending = herald_proto::FanOut {
            tenant: "acme".into(),
            event_id: "evt_p".into(),
            event_type: "job.completed".into(),
            job_id: None,
            accepted_at_ms: 500,
            deliveries: vec![(
                herald_proto::ids::delivery_id("acme", "evt_p", "wh_1"),
                "wh_1".into(),
            )],
        };
        store
            .record_batch(&[herald_status_tracker::store::Record::FanOut(
                pending.clone(),
            )])
            .await
            .unwrap();
        let (listed, _) = list(&store, "acme", Some("pending")).await;
        assert_eq!(listed.len(), 1, "{backend}");
        assert_eq!(listed[0]["attempts"], 0, "{backend}");
        store
            .record_attempt(&attempt("evt_p", 1, AttemptOutcome::Succeeded, 500))
            .await
            .unwrap();
        store
            .record_batch(&[herald_status_tracker::store::Record::FanOut(pending)])
            .await
            .unwrap();
        assert!(
            list(&store, "acme", Some("pending")).await.0.is_empty(),
            "{backend}"
        );

        // A fan-out to more webhooks than one statement holds records every one.
        let wide = herald_proto::FanOut {
            tenant: "acme".into(),
            event_id: "evt_wide".into(),
            event_type: "job.completed".into(),
            job_id: Some("job_9".into()),
            accepted_at_ms: 600,
            deliveries: (0..450)
                .map(|n| {
                    let endpoint = format!("wh_w{n:03}");
                    (
                        herald_proto::ids::delivery_id("acme", "evt_wide", &endpoint),
                        endpoint,
                    )
                })
                .collect(),
        };
        store
            .record_event(&job_event("evt_wide", "job.completed", "{}", 600))
            .await
            .unwrap();
        store
            .record_batch(&[herald_status_tracker::store::Record::FanOut(wide)])
            .await
            .unwrap();
        let view = store.event("acme", "evt_wide").await.unwrap().unwrap();
        let deliveries = view["deliveries"].as_array().unwrap();
        assert_eq!(deliveries.len(), 450, "{backend}");
        assert!(
            deliveries
                .iter()
                .all(|d| d["status"] == "pending" && d["attempts"] == 0),
            "{backend}"
        );
        assert_eq!(deliveries[449]["webhook_id"], "wh_w449", "{backend}");

        scratch.clean().await;
    }
}
