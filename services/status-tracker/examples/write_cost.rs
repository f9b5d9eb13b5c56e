//! What the store's write path costs: records the common path of a delivery (its
//! fan-out, one successful attempt and its event) 20 000 times, in batches of 256
//! as the recorder writes them under load (or of the size given), into a temporary
//! SQLite file, and prints the CPU time (user + system, of the whole process) per
//! 1 000 deliveries. CPU time, not wall time, so other work on the machine does not
//! skew it.
//!
//! `cargo run --release -p herald-status-tracker --example write_cost [deliveries] [batch]`

use bytes::Bytes;
use herald_proto::{
    AttemptOutcome, DeliveryAttempt, DeliveryTask, Event, EventType, FanOut, Trigger,
};
use herald_status_tracker::Store;
use herald_status_tracker::store::Record;

/// Records in one transaction, as the recorder's `BATCH`.
const BATCH: usize = 256;

#[tokio::main]
async fn main() {
    let deliveries: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("a number of deliveries"))
        .unwrap_or(20_000);
    let batch_size: usize = std::env::args()
        .nth(2)
        .map(|n| n.parse().expect("a batch size"))
        .unwrap_or(BATCH);
    let dir = std::env::temp_dir().join(format!("herald-write-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("store.db").display());
    let store = Store::connect(&url).await.expect("SQLite store");

    // What OUTCOMES holds (each fan-out followed by its attempt) and what EVENTS holds.
    let mut outcomes = Vec::with_capacity(2 * deliveries);
    let mut events = Vec::with_capacity(deliveries);
    for i in 0..deliveries {
        let event = event(i);
        outcomes.push(Record::FanOut(fan_out(&event)));
        outcomes.push(Record::Attempt(
            Box::new(attempt(&event)),
            outcomes.len() as u64 + 1,
        ));
        events.push(Record::Event(Box::new(event)));
    }

    let before = cpu_seconds();
    for batch in outcomes.chunks(batch_size).chain(events.chunks(batch_size)) {
        store.record_batch(batch).await.expect("a batch written");
    }
    let spent = cpu_seconds() - before;
    println!(
        "{deliveries} deliveries in batches of {batch_size}: {spent:.2} s CPU, {:.3} s per 1 000 deliveries",
        spent * 1000.0 / deliveries as f64
    );
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn event(i: usize) -> Event {
    let at = 1_700_000_000_000 + i as i64;
    Event {
        event_id: format!("evt_{i:08}"),
        tenant: "acme".into(),
        event_type: EventType::parse("order.created").unwrap(),
        data: Bytes::from(format!(r#"{{"order":{i},"total":"12.50"}}"#)),
        job_id: None,
        timestamp_ms: at,
        accepted_at_ms: at,
        callback: None,
    }
}

fn fan_out(event: &Event) -> FanOut {
    FanOut {
        tenant: event.tenant.clone(),
        event_id: event.event_id.clone(),
        event_type: event.event_type.as_str().to_owned(),
        job_id: None,
        accepted_at_ms: event.accepted_at_ms,
        deliveries: vec![(delivery_id(event), "wh_1".into())],
    }
}

fn delivery_id(event: &Event) -> String {
    herald_proto::ids::delivery_id(&event.tenant, &event.event_id, "wh_1")
}

fn attempt(event: &Event) -> DeliveryAttempt {
    DeliveryAttempt {
        task: DeliveryTask {
            delivery_id: delivery_id(event),
            endpoint_id: "wh_1".into(),
            attempt: 1,
            event: event.clone(),
            trigger: Trigger::Auto,
            callback: None,
            traceparent: None,
            run_id: None,
        },
        outcome: AttemptOutcome::Succeeded,
        status_code: Some(200),
        duration_ms: 12,
        error: None,
        response_excerpt: "ok".into(),
        attempted_at_ms: event.accepted_at_ms + 5,
        retry_after_secs: None,
    }
}

/// User and system CPU time of this process so far, from `/proc/self/stat`
/// (fields 14 and 15, in clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The command name may hold spaces; the fields counted start after its `)`.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks = |n: usize| fields[n - 3].parse::<f64>().unwrap();
    (ticks(14) + ticks(15)) / 100.0
}
