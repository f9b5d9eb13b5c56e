//! The status-tracker's store: the same behaviour on SQLite and PostgreSQL.
//! PostgreSQL tests use `TEST_DATABASE_URL` with a fresh schema per test.

use bytes::Bytes;
use herald_proto::{
    AttemptOutcome, DeliveryAttempt, DeliveryTask, Event, EventType, RetryDecision, Trigger,
};
use herald_status_tracker::Store;
use herald_status_tracker::store::DeliveryFilter;
use herald_tests::db::{Scratch, scratch_schema};
use serde_json::Value;

/// Bytes an answer may hold: as on a server with the stock `max_payload`.
const BUDGET: usize = 1024 * 1024;

/// acme's failed deliveries to `wh_1` last attempted since `since_ms`.
fn failed_since(since_ms: i64) -> herald_status_tracker::store::Retryable<'static> {
    herald_status_tracker::store::Retryable {
        tenant: "acme",
        endpoint_id: "wh_1",
        since_ms,
        limit: 10,
        ..Default::default()
    }
}

/// A store of each kind: SQLite in a temporary file, PostgreSQL in a new schema.
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
    let (scoped, scratch) = scratch_schema(url, "herald_test").await;
    let store = Store::connect(&scoped).await.expect("PostgreSQL store");
    (store, scratch)
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
    let deliveries = page.deliveries.iter().map(json).collect();
    (deliveries, page.total.unwrap_or_default())
}

/// Records `attempt` as the OUTCOMES record with stream sequence `sequence`.
async fn record(store: &Store, attempt: &DeliveryAttempt, sequence: u64) {
    store.record_attempt(attempt, sequence).await.unwrap();
}

/// A manual attempt of `event_id`'s delivery, numbered as ingest numbers it.
fn manual(event_id: &str, number: u32, outcome: AttemptOutcome, run: &str) -> DeliveryAttempt {
    let mut manual = attempt(event_id, number, outcome, 1_000);
    manual.task.trigger = Trigger::Manual;
    manual.task.run_id = Some(run.into());
    manual
}

/// The retry-scheduler's decision about automatic `attempt`, stored at `sequence`.
fn decision_about(attempt: &DeliveryAttempt, sequence: u64, next: Option<i64>) -> RetryDecision {
    RetryDecision {
        delivery_id: attempt.task.delivery_id.clone(),
        tenant: "acme".into(),
        endpoint_id: "wh_1".into(),
        event_id: attempt.task.event.event_id.clone(),
        attempt: attempt.task.attempt,
        attempt_sequence: sequence,
        next_attempt_at_ms: next,
    }
}

/// A delivery's status, attempt count and next attempt time, from the log.
async fn state_of(store: &Store, event_id: &str) -> (String, i64, Option<String>) {
    let id = herald_proto::ids::delivery_id("acme", event_id, "wh_1");
    let view = json(store.delivery("acme", &id, BUDGET).await.unwrap().unwrap());
    (
        view["status"].as_str().unwrap().to_owned(),
        view["attempt_count"].as_i64().unwrap(),
        view["next_attempt_at"].as_str().map(str::to_owned),
    )
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
        record(&store, &first, 1).await;
        record(&store, &first, 1).await;
        let decision = RetryDecision {
            delivery_id: first.task.delivery_id.clone(),
            tenant: "acme".into(),
            endpoint_id: "wh_1".into(),
            event_id: "evt_a".into(),
            attempt: 1,
            attempt_sequence: 1,
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
            .record_attempt(&attempt("evt_a", 2, AttemptOutcome::Succeeded, 1_000), 3)
            .await
            .unwrap();
        // A late copy of the first attempt changes nothing.
        record(&store, &first, 1).await;
        store
            .record_attempt(&attempt("evt_b", 1, AttemptOutcome::Refused, 2_000), 4)
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
        let detail = json(
            store
                .delivery("acme", &first.task.delivery_id, BUDGET)
                .await
                .unwrap()
                .unwrap(),
        );
        let attempts = detail["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 2, "{backend}");
        assert_eq!(attempts[0]["status"], "failed", "{backend}");
        assert_eq!(attempts[1]["status"], "success", "{backend}");
        assert_eq!(attempts[1]["trigger"], "auto", "{backend}");
        assert!(
            store
                .delivery("globex", &first.task.delivery_id, BUDGET)
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
        let found = store
            .retryable(&failed_since(0), BUDGET)
            .await
            .unwrap()
            .deliveries;
        assert_eq!(found.len(), 1, "{backend}");
        assert_eq!(found[0].attempts, 1, "{backend}");
        assert_eq!(
            found[0].event.as_ref().unwrap().event_id,
            "evt_b",
            "{backend}"
        );
        assert!(
            store
                .retryable(&failed_since(10_000), BUDGET)
                .await
                .unwrap()
                .deliveries
                .is_empty()
        );
        let event_view = json(store.event("acme", "evt_b", BUDGET).await.unwrap().unwrap());
        assert_eq!(event_view["deliveries"][0]["status"], "failed", "{backend}");

        let stats = json(store.stats("acme", "wh_1", 0, None).await.unwrap());
        assert_eq!(stats["attempts"], 3, "{backend}");
        assert_eq!(stats["successes"], 1, "{backend}");
        assert_eq!(stats["p50_response_time_ms"], 12, "{backend}");

        // Disabling a webhook fails what was still retrying.
        store
            .record_attempt(&attempt("evt_c", 1, AttemptOutcome::Failed, 3_000), 5)
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
            attempt_sequence: 99,
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
        let (job, more) = store
            .job("acme", "job_9", None, BUDGET)
            .await
            .unwrap()
            .unwrap();
        let job = json(job);
        assert_eq!(more, None, "{backend}");
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
        assert!(
            store
                .job("acme", "job_x", None, BUDGET)
                .await
                .unwrap()
                .is_none()
        );
        scratch.clean().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_return_every_delivery_once_while_new_ones_arrive() {
    for (backend, store, scratch) in stores().await {
        for n in 0..25 {
            store
                .record_attempt(
                    &attempt(
                        &format!("evt_{n:02}"),
                        1,
                        AttemptOutcome::Succeeded,
                        10_000 + n,
                    ),
                    1,
                )
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
            seen.extend(page.deliveries.iter().map(|d| d.event_id.to_string()));
            // New deliveries keep arriving between pages.
            for _ in 0..3 {
                store
                    .record_attempt(
                        &attempt(
                            &format!("evt_new_{newer}"),
                            1,
                            AttemptOutcome::Succeeded,
                            20_000 + newer,
                        ),
                        1,
                    )
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
            .record_attempt(&attempt("evt_p", 1, AttemptOutcome::Succeeded, 500), 1)
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
        let view = json(
            store
                .event("acme", "evt_wide", BUDGET)
                .await
                .unwrap()
                .unwrap(),
        );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_ordered_by_stream_sequence_not_by_host_clocks() {
    for (backend, store, scratch) in stores().await {
        // Ingest's clock is ahead of the dispatchers': the event was accepted "after"
        // every attempt at it, and the second dispatcher is further behind than the first.
        let delivery_id = herald_proto::ids::delivery_id("acme", "evt_skew", "wh_1");
        let fan_out = herald_proto::FanOut {
            tenant: "acme".into(),
            event_id: "evt_skew".into(),
            event_type: "job.completed".into(),
            job_id: None,
            accepted_at_ms: 90_000,
            deliveries: vec![(delivery_id, "wh_1".into())],
        };
        store
            .record_batch(&[herald_status_tracker::store::Record::FanOut(fan_out)])
            .await
            .unwrap();
        let mut first = attempt("evt_skew", 1, AttemptOutcome::Failed, 0);
        first.attempted_at_ms = 60_000;
        record(&store, &first, 11).await;
        assert_eq!(
            state_of(&store, "evt_skew").await,
            ("retrying".into(), 1, None),
            "{backend}: an attempt moves a pending delivery whatever the clocks say"
        );
        let scheduled = decision_about(&first, 11, Some(120_000));
        assert!(
            store.record_decision(&scheduled).await.unwrap(),
            "{backend}"
        );
        assert_eq!(
            state_of(&store, "evt_skew").await,
            ("retrying".into(), 1, Some(herald_proto::rfc3339(120_000))),
            "{backend}"
        );
        let mut second = attempt("evt_skew", 2, AttemptOutcome::Succeeded, 0);
        second.attempted_at_ms = 30_000;
        record(&store, &second, 15).await;
        assert_eq!(
            state_of(&store, "evt_skew").await,
            ("success".into(), 2, None),
            "{backend}: a later record wins though its host's clock says earlier"
        );
        // A copy of the first record handed out again changes nothing.
        record(&store, &first, 11).await;
        assert_eq!(
            state_of(&store, "evt_skew").await,
            ("success".into(), 2, None),
            "{backend}"
        );
        scratch.clean().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_execution_is_an_attempt_of_its_own_numbered_in_record_order() {
    for (backend, store, scratch) in stores().await {
        // An automatic attempt fails and its retry is held.
        let auto_1 = attempt("evt_m", 1, AttemptOutcome::Failed, 1_000);
        record(&store, &auto_1, 3).await;
        assert!(
            store
                .record_decision(&decision_about(&auto_1, 3, Some(50_000)))
                .await
                .unwrap(),
            "{backend}"
        );
        let held = Some(herald_proto::rfc3339(50_000));
        // Two manual retries, both numbered `attempts + 1` by ingest, fail: the held
        // retry still comes, so the delivery stays `retrying`.
        let manual_a = manual("evt_m", 2, AttemptOutcome::Failed, "run_a");
        let manual_b = manual("evt_m", 2, AttemptOutcome::Failed, "run_b");
        record(&store, &manual_a, 5).await;
        record(&store, &manual_b, 6).await;
        record(&store, &manual_a, 5).await;
        assert_eq!(
            state_of(&store, "evt_m").await,
            ("retrying".into(), 3, held.clone()),
            "{backend}"
        );
        // The held retry (also number 2 from the scheduler's count) fails and is the last.
        let auto_2 = attempt("evt_m", 2, AttemptOutcome::Failed, 1_000);
        record(&store, &auto_2, 8).await;
        // A late decision about the superseded first attempt is dropped, not retried.
        assert!(
            store
                .record_decision(&decision_about(&auto_1, 3, Some(40_000)))
                .await
                .unwrap(),
            "{backend}"
        );
        assert_eq!(
            state_of(&store, "evt_m").await,
            ("retrying".into(), 4, None),
            "{backend}"
        );
        assert!(
            store
                .record_decision(&decision_about(&auto_2, 8, None))
                .await
                .unwrap(),
            "{backend}"
        );
        assert_eq!(
            state_of(&store, "evt_m").await,
            ("failed".into(), 4, None),
            "{backend}"
        );
        // A manual attempt that fails on a failed delivery leaves it failed; one that
        // succeeds makes it a success, which no decision about an older automatic
        // attempt undoes.
        record(
            &store,
            &manual("evt_m", 5, AttemptOutcome::Failed, "run_c"),
            9,
        )
        .await;
        assert_eq!(state_of(&store, "evt_m").await.0, "failed", "{backend}");
        record(
            &store,
            &manual("evt_m", 6, AttemptOutcome::Succeeded, "run_d"),
            10,
        )
        .await;
        assert!(
            store
                .record_decision(&decision_about(&auto_2, 8, Some(90_000)))
                .await
                .unwrap(),
            "{backend}"
        );
        assert_eq!(
            state_of(&store, "evt_m").await,
            ("success".into(), 6, None),
            "{backend}"
        );

        let id = herald_proto::ids::delivery_id("acme", "evt_m", "wh_1");
        let view = json(store.delivery("acme", &id, BUDGET).await.unwrap().unwrap());
        let log: Vec<_> = view["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["attempt"].as_i64().unwrap(),
                    a["trigger"].as_str().unwrap(),
                    a["status"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            log,
            [
                (1, "auto", "failed"),
                (2, "manual", "failed"),
                (3, "manual", "failed"),
                (4, "auto", "failed"),
                (5, "manual", "failed"),
                (6, "manual", "success"),
            ],
            "{backend}"
        );

        // A refused attempt is `failed`, manual or not; so is a manual failure of a
        // delivery that had no automatic retry coming.
        record(
            &store,
            &manual("evt_r", 1, AttemptOutcome::Refused, "run_e"),
            12,
        )
        .await;
        assert_eq!(state_of(&store, "evt_r").await.0, "failed", "{backend}");
        record(
            &store,
            &attempt("evt_s", 1, AttemptOutcome::Succeeded, 1_000),
            13,
        )
        .await;
        record(
            &store,
            &manual("evt_s", 2, AttemptOutcome::Failed, "run_f"),
            14,
        )
        .await;
        assert_eq!(
            state_of(&store, "evt_s").await,
            ("failed".into(), 2, None),
            "{backend}"
        );
        scratch.clean().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_first_page_counts_the_deliveries() {
    for (backend, store, scratch) in stores().await {
        for n in 0..5 {
            let event = format!("evt_{n}");
            record(
                &store,
                &attempt(&event, 1, AttemptOutcome::Succeeded, 1_000 + n),
                1,
            )
            .await;
        }
        let filter = DeliveryFilter {
            tenant: "acme".into(),
            endpoint_id: "wh_1".into(),
            limit: 2,
            ..Default::default()
        };
        let first = store.list_deliveries(&filter).await.unwrap();
        assert_eq!(serde_json::json!(first.total), 5, "{backend}");
        let next = store
            .list_deliveries(&DeliveryFilter {
                cursor: first.next_cursor.clone(),
                ..filter.clone()
            })
            .await
            .unwrap();
        assert_eq!(next.deliveries.len(), 2, "{backend}");
        assert!(
            serde_json::json!(next.total).is_null(),
            "{backend}: a later page does not count again"
        );
        scratch.clean().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_come_in_pages_that_fit_their_budget() {
    // Room for two or three events of about 1 KB each.
    const SMALL: usize = 2_500;
    let data = format!(r#"{{"blob":"{}"}}"#, "y".repeat(1_000));
    for (backend, store, scratch) in stores().await {
        for n in 0..7 {
            let event_id = format!("evt_{n}");
            let mut event = job_event(&event_id, "job.progress", &data, 1_000 + n);
            store.record_event(&event).await.unwrap();
            event.job_id = None;
            let mut refused = attempt(&event_id, 1, AttemptOutcome::Refused, 1_000 + n);
            refused.task.event = event;
            record(&store, &refused, 10 + n as u64).await;
        }

        // What `recover` re-sends: every failed delivery once, oldest first.
        let (mut seen, mut cursor, mut pages) = (Vec::new(), None, 0);
        loop {
            let wanted = herald_status_tracker::store::Retryable {
                cursor: cursor.as_deref(),
                ..failed_since(0)
            };
            let page = store.retryable(&wanted, SMALL).await.unwrap();
            assert!(
                (1..=3).contains(&page.deliveries.len()),
                "{backend}: {}",
                page.deliveries.len()
            );
            seen.extend(
                page.deliveries
                    .iter()
                    .map(|d| d.event.as_ref().unwrap().event_id.clone()),
            );
            pages += 1;
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let expected: Vec<_> = (0..7).map(|n| format!("evt_{n}")).collect();
        assert_eq!(seen, expected, "{backend}");
        assert!(pages >= 3, "{backend}: {pages} pages");
        let limited = herald_status_tracker::store::Retryable {
            limit: 2,
            ..failed_since(0)
        };
        let page = store.retryable(&limited, BUDGET).await.unwrap();
        assert_eq!(
            (page.deliveries.len(), page.next_cursor),
            (2, None),
            "{backend}"
        );

        // A job's history: the state first, then the rest in order.
        let (first, mut cursor) = store
            .job("acme", "job_9", None, SMALL)
            .await
            .unwrap()
            .unwrap();
        let first = json(first);
        assert_eq!(first["status"], "processing", "{backend}");
        let mut history: Vec<Value> = first["history"].as_array().unwrap().clone();
        while let Some(next) = cursor {
            let (part, more) = store
                .job("acme", "job_9", Some(&next), SMALL)
                .await
                .unwrap()
                .unwrap();
            let part = json(part);
            assert!(part.get("status").is_none(), "{backend}: {part}");
            history.extend(part["history"].as_array().unwrap().iter().cloned());
            cursor = more;
        }
        let ids: Vec<_> = history
            .iter()
            .map(|h| h["event_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids, expected, "{backend}");
        assert!(
            store
                .job("acme", "job_9", Some("forged"), SMALL)
                .await
                .is_err(),
            "{backend}"
        );
        scratch.clean().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_from_an_older_scheduler_is_matched_by_attempt_number() {
    for (backend, store, scratch) in stores().await {
        let failed = attempt("evt_old", 1, AttemptOutcome::Failed, 1_000);
        record(&store, &failed, 4).await;
        // No sequence: the latest automatic attempt with its number is the one.
        assert!(
            store
                .record_decision(&decision_about(&failed, 0, Some(70_000)))
                .await
                .unwrap(),
            "{backend}"
        );
        assert_eq!(
            state_of(&store, "evt_old").await,
            ("retrying".into(), 1, Some(herald_proto::rfc3339(70_000))),
            "{backend}"
        );
        // One about an attempt not recorded yet waits for it.
        let next = attempt("evt_old", 2, AttemptOutcome::Failed, 1_000);
        assert!(
            !store
                .record_decision(&decision_about(&next, 0, None))
                .await
                .unwrap(),
            "{backend}"
        );
        scratch.clean().await;
    }
}

/// A view as the JSON the API serves.
fn json<T: serde::Serialize>(view: T) -> Value {
    serde_json::to_value(view).unwrap()
}
