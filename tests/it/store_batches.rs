//! A batch written whole stores what its records written one by one, in order,
//! store, on SQLite and PostgreSQL: the store writes a batch kind by kind, many rows
//! to a statement, and this holds it to the order of the records.

use bytes::Bytes;
use herald_proto::{
    AttemptOutcome, DeliveryAttempt, DeliveryTask, Event, EventType, FanOut, RetryDecision, Trigger,
};
use herald_status_tracker::Store;
use herald_status_tracker::store::{Record, Written};
use herald_tests::db::{Scratch, scratch_schema};
use sqlx::Row;

/// Every column of every table the recorder writes, as text, in key order.
const TABLES: [&str; 4] = [
    "SELECT tenant, delivery_id, endpoint_id, event_id, event_type, job_id, status, \
     CAST(attempts AS TEXT), CAST(status_code AS TEXT), CAST(response_time_ms AS TEXT), \
     last_error, CAST(next_attempt_at AS TEXT), CAST(created_at AS TEXT), \
     CAST(updated_at AS TEXT), CAST(last_sequence AS TEXT), CAST(auto_sequence AS TEXT) \
     FROM deliveries ORDER BY tenant, delivery_id",
    "SELECT tenant, delivery_id, record_id, CAST(sequence AS TEXT), CAST(attempt AS TEXT), \
     trigger_kind, outcome, CAST(status_code AS TEXT), CAST(duration_ms AS TEXT), error, \
     response_excerpt, CAST(attempted_at AS TEXT), endpoint_id \
     FROM attempts ORDER BY tenant, delivery_id, record_id",
    "SELECT tenant, event_id, event_type, job_id, data, CAST(occurred_at AS TEXT), \
     CAST(accepted_at AS TEXT) FROM events ORDER BY tenant, event_id",
    "SELECT tenant, job_id, job_type, status, CAST(status_at AS TEXT), CAST(terminal AS TEXT), \
     CAST(progress AS TEXT), CAST(progress_at AS TEXT), result, error, CAST(created_at AS TEXT), \
     CAST(updated_at AS TEXT) FROM jobs ORDER BY tenant, job_id",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_stores_what_its_records_one_by_one_store() {
    let records = mixed_records();
    for (backend, [whole_url, one_by_one_url], scratches) in backends().await {
        let whole = Store::connect(&whole_url).await.unwrap();
        let one_by_one = Store::connect(&one_by_one_url).await.unwrap();
        let written_whole = whole.record_batch(&records).await.unwrap();
        let mut written_one_by_one = Vec::new();
        for record in &records {
            let written = one_by_one
                .record_batch(std::slice::from_ref(record))
                .await
                .unwrap();
            written_one_by_one.extend(written);
        }
        assert_eq!(written_whole, written_one_by_one, "{backend}");
        assert!(written_whole.contains(&Written::Later), "{backend}");
        let stored = dump(&whole_url).await;
        assert_eq!(stored, dump(&one_by_one_url).await, "{backend}");
        assert!(stored.iter().all(|rows| !rows.is_empty()), "{backend}");

        // Written again, whole, the batch changes nothing.
        whole.record_batch(&records).await.unwrap();
        assert_eq!(dump(&whole_url).await, stored, "{backend}");
        for scratch in scratches {
            scratch.clean().await;
        }
    }
}

/// Two empty stores of each backend: their URLs and what deletes them.
async fn backends() -> Vec<(&'static str, [String; 2], Vec<Scratch>)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = |name: &str| format!("sqlite://{}?mode=rwc", dir.path().join(name).display());
    let mut backends = vec![(
        "sqlite",
        [sqlite("whole.db"), sqlite("one_by_one.db")],
        vec![],
    )];
    backends[0].2.push(Scratch::Dir(dir));
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => {
            let (whole, first) = scratch_schema(&url, "herald_batch").await;
            let (one_by_one, second) = scratch_schema(&url, "herald_batch").await;
            backends.push(("postgres", [whole, one_by_one], vec![first, second]));
        }
        _ => eprintln!("SKIPPED PostgreSQL: TEST_DATABASE_URL is not set (make test sets it)"),
    }
    backends
}

/// Each table's rows, every column as text.
async fn dump(url: &str) -> Vec<Vec<Vec<Option<String>>>> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let mut tables = Vec::new();
    for select in TABLES {
        let rows = sqlx::query(select).fetch_all(&pool).await.unwrap();
        tables.push(
            rows.iter()
                .map(|row| {
                    (0..row.len())
                        .map(|i| row.try_get::<Option<String>, _>(i).unwrap())
                        .collect()
                })
                .collect(),
        );
    }
    pool.close().await;
    tables
}

/// OUTCOMES and EVENTS records of every kind, in an order that makes writing them
/// kind by kind hard: attempts before and after their fan-outs and decisions,
/// repeats, manual attempts, job events, a disabled webhook and a bundle.
fn mixed_records() -> Vec<Record> {
    let failed = attempt("evt_1", "wh_1", 1, AttemptOutcome::Failed, 2);
    let early = attempt("evt_2", "wh_1", 1, AttemptOutcome::Failed, 8);
    let mut manual = attempt("evt_1", "wh_1", 1, AttemptOutcome::Failed, 11);
    manual.task.trigger = Trigger::Manual;
    manual.task.run_id = Some("run_1".into());
    // A failed manual attempt keeps a pending delivery pending, so its fan-out
    // must not be written before it.
    let mut unannounced = attempt("evt_7", "wh_1", 1, AttemptOutcome::Failed, 13);
    unannounced.task.trigger = Trigger::Manual;
    unannounced.task.run_id = Some("run_2".into());
    let mut legacy = decision(&early, 8, None);
    legacy.attempt_sequence = 0;
    let mut disabled = event("evt_9", "webhook.disabled", None);
    disabled.data = Bytes::from_static(br#"{"webhook_id":"wh_1"}"#);
    vec![
        fan_out("evt_1", &["wh_1", "wh_2"]),
        Record::Attempt(Box::new(failed.clone()), 2),
        Record::Decision(decision(&failed, 2, Some(90_000))),
        Record::Attempt(
            Box::new(attempt("evt_1", "wh_2", 1, AttemptOutcome::Succeeded, 4)),
            4,
        ),
        Record::Attempt(
            Box::new(attempt("evt_1", "wh_2", 1, AttemptOutcome::Succeeded, 4)),
            4,
        ),
        // A decision before its attempt, then a fan-out after it.
        Record::Decision(decision(&early, 8, Some(95_000))),
        Record::Attempt(Box::new(early.clone()), 8),
        fan_out("evt_2", &["wh_1"]),
        fan_out("evt_3", &["wh_1", "wh_2"]),
        Record::Attempt(Box::new(manual), 11),
        Record::Decision(legacy),
        Record::Attempt(Box::new(unannounced), 13),
        fan_out("evt_7", &["wh_1"]),
        Record::Attempt(
            Box::new(attempt("evt_3", "wh_2", 1, AttemptOutcome::Refused, 12)),
            12,
        ),
        Record::Event(Box::new(event("evt_1", "order.created", None))),
        Record::Event(Box::new(event("evt_1", "order.created", None))),
        Record::Event(Box::new(event(
            "evt_4",
            "report.progress",
            Some(r#"{"progress":40}"#),
        ))),
        Record::Event(Box::new(event(
            "evt_5",
            "report.completed",
            Some(r#"{"result":"done"}"#),
        ))),
        Record::Event(Box::new(disabled)),
        Record::Attempt(
            Box::new(attempt("evt_3", "wh_1", 1, AttemptOutcome::Failed, 20)),
            20,
        ),
        Record::Event(Box::new(event("evt_6", "order.created", None))),
        // A bundle: two deliveries' attempts under one stream sequence.
        fan_out("evt_8", &["wh_1", "wh_2"]),
        Record::Attempt(
            Box::new(attempt("evt_8", "wh_1", 1, AttemptOutcome::Succeeded, 30)),
            30,
        ),
        Record::Attempt(
            Box::new(attempt("evt_8", "wh_2", 1, AttemptOutcome::Succeeded, 30)),
            30,
        ),
    ]
}

fn event(event_id: &str, event_type: &str, job: Option<&str>) -> Event {
    Event {
        event_id: event_id.into(),
        tenant: "acme".into(),
        event_type: EventType::parse(event_type).unwrap(),
        data: Bytes::from(job.unwrap_or("{}").to_owned()),
        job_id: job.map(|_| "job_1".into()),
        timestamp_ms: 1_000,
        accepted_at_ms: 1_000,
        callback: None,
    }
}

fn fan_out(event_id: &str, endpoints: &[&str]) -> Record {
    Record::FanOut(FanOut {
        tenant: "acme".into(),
        event_id: event_id.into(),
        event_type: "order.created".into(),
        job_id: None,
        accepted_at_ms: 1_000,
        deliveries: endpoints
            .iter()
            .map(|endpoint| {
                let id = herald_proto::ids::delivery_id("acme", event_id, endpoint);
                (id, (*endpoint).to_owned())
            })
            .collect(),
    })
}

fn attempt(
    event_id: &str,
    endpoint: &str,
    number: u32,
    outcome: AttemptOutcome,
    at: i64,
) -> DeliveryAttempt {
    DeliveryAttempt {
        task: DeliveryTask {
            delivery_id: herald_proto::ids::delivery_id("acme", event_id, endpoint),
            endpoint_id: endpoint.into(),
            attempt: number,
            event: event(event_id, "order.created", None),
            trigger: Trigger::Auto,
            callback: None,
            traceparent: None,
            run_id: None,
        },
        outcome,
        status_code: (outcome != AttemptOutcome::Refused).then_some(500),
        duration_ms: 7,
        error: (outcome != AttemptOutcome::Succeeded).then(|| "HTTP 500".into()),
        response_excerpt: "body".into(),
        attempted_at_ms: 1_000 + at,
        retry_after_secs: None,
    }
}

fn decision(attempt: &DeliveryAttempt, sequence: u64, next: Option<i64>) -> RetryDecision {
    RetryDecision {
        delivery_id: attempt.task.delivery_id.clone(),
        tenant: "acme".into(),
        endpoint_id: attempt.task.endpoint_id.clone(),
        event_id: attempt.task.event.event_id.clone(),
        attempt: attempt.task.attempt,
        attempt_sequence: sequence,
        next_attempt_at_ms: next,
    }
}
