//! A batch written kind by kind rather than record by record: its records are cut
//! into runs in which writing all fan-outs, then all attempts, then all decisions,
//! then all events stores exactly what writing them one by one in order would.
//! Each run then costs a few multi-row statements instead of several statements a
//! record.
//!
//! Within a run, a delivery is touched in the order of those kinds and by at most
//! one attempt; a record that would break this (an attempt after a decision about
//! its delivery, a second attempt of a delivery, a fan-out after a decision or
//! after a failed manual attempt) starts the next run. A fan-out after its delivery's attempt (the dispatcher hands
//! first attempts over before it records the fan-out) stays in the run: a fan-out
//! only inserts a `pending` delivery not recorded yet, so written before the
//! attempt it is moved by it, and written after it would do nothing: the same. An event is in a run once, and a
//! `webhook.disabled` event, which fails deliveries of its webhook, ends its run.

use std::collections::{HashMap, HashSet};

use herald_proto::Event;
use sqlx::AnyConnection;

use super::rows::{self, Attempt};
use super::{Record, StoreError, Written, writes};

/// Splits `records` into runs, in order, that [`write_run`] may write kind by kind.
pub fn runs(records: &[Record]) -> Vec<&[Record]> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut touched = Touched::default();
    for (i, record) in records.iter().enumerate() {
        if !touched.admits(record) {
            runs.push(&records[start..i]);
            start = i;
            touched = Touched::default();
        }
        touched.add(record);
        if let Record::Event(event) = record
            && fails_deliveries(event)
        {
            runs.push(&records[start..=i]);
            start = i + 1;
            touched = Touched::default();
        }
    }
    if start < records.len() {
        runs.push(&records[start..]);
    }
    runs
}

/// In the order a run writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    FanOut,
    Attempt,
    /// A failed manual attempt: it keeps a `pending` delivery `pending`, so a
    /// fan-out written before it would change what it writes.
    KeepingAttempt,
    Decision,
}

/// What the records of a run so far have touched.
#[derive(Debug, Default)]
struct Touched<'a> {
    /// Each delivery, by tenant and id, and the latest step that touches it.
    deliveries: HashMap<(&'a str, &'a str), Step>,
    /// Its events, by tenant and id.
    events: HashSet<(&'a str, &'a str)>,
}

impl<'a> Touched<'a> {
    fn admits(&self, record: &Record) -> bool {
        match record {
            Record::FanOut(fan_out) => fan_out.deliveries.iter().all(|(id, _)| {
                self.deliveries
                    .get(&(&fan_out.tenant, id))
                    .is_none_or(|step| *step <= Step::Attempt)
            }),
            Record::Attempt(attempt, _) => {
                let task = &attempt.task;
                let step = self
                    .deliveries
                    .get(&(&task.event.tenant, &task.delivery_id));
                step.is_none_or(|step| *step == Step::FanOut)
            }
            Record::Decision(_) => true,
            Record::Event(event) => !self.events.contains(&(&event.tenant, &event.event_id)),
        }
    }

    fn add(&mut self, record: &'a Record) {
        match record {
            Record::FanOut(fan_out) => {
                for (id, _) in &fan_out.deliveries {
                    self.touch(&fan_out.tenant, id, Step::FanOut);
                }
            }
            Record::Attempt(attempt, _) => {
                let task = &attempt.task;
                let step = if rows::keeps_course(attempt) {
                    Step::KeepingAttempt
                } else {
                    Step::Attempt
                };
                self.touch(&task.event.tenant, &task.delivery_id, step);
            }
            Record::Decision(decision) => {
                self.touch(&decision.tenant, &decision.delivery_id, Step::Decision);
            }
            Record::Event(event) => {
                self.events.insert((&event.tenant, &event.event_id));
            }
        }
    }

    fn touch(&mut self, tenant: &'a str, delivery_id: &'a str, step: Step) {
        let latest = self.deliveries.entry((tenant, delivery_id)).or_insert(step);
        *latest = (*latest).max(step);
    }
}

/// Herald's own event that fails the retrying deliveries of a webhook.
fn fails_deliveries(event: &Event) -> bool {
    event.event_type.as_str() == herald_proto::names::event_type::WEBHOOK_DISABLED
}

/// An event that moves more than its own row (its job, or deliveries), and so is
/// written on its own, in order.
fn moves_more(event: &Event) -> bool {
    event.job_id.is_some() || fails_deliveries(event)
}

/// Writes one run of [`runs`], kind by kind, and appends what became of each of its
/// records to `written`, in order.
pub async fn write_run(
    conn: &mut AnyConnection,
    run: &[Record],
    written: &mut Vec<Written>,
) -> Result<(), StoreError> {
    let mut fan_outs = Vec::new();
    let mut attempts = Vec::new();
    let mut plain_events = Vec::new();
    for record in run {
        match record {
            Record::FanOut(fan_out) => {
                fan_outs.extend(fan_out.deliveries.iter().map(|row| (fan_out, row)));
            }
            Record::Attempt(attempt, sequence) => attempts.push(Attempt::new(attempt, *sequence)),
            Record::Event(event) if !moves_more(event) => {
                plain_events.push(&**event);
            }
            Record::Decision(_) | Record::Event(_) => {}
        }
    }
    // A delivery an attempt of this run moves gets its row from that move (or has
    // one since its attempt was first recorded): its fan-out row would only be
    // written to be moved at once.
    let moved: HashSet<(&str, &str)> = attempts
        .iter()
        .filter(|attempt| !attempt.keeps_course())
        .map(|attempt| attempt.delivery())
        .collect();
    fan_outs.retain(|(fan_out, (id, _))| !moved.contains(&(fan_out.tenant.as_str(), id.as_str())));
    rows::fan_outs(conn, &fan_outs).await?;
    let inserted = rows::attempts(conn, &attempts).await?;
    // Only a new attempt moves its delivery.
    let (keeping, others): (Vec<&Attempt>, Vec<&Attempt>) = attempts
        .iter()
        .filter(|attempt| inserted.contains(&attempt.record_id))
        .partition(|attempt| attempt.keeps_course());
    rows::moves(conn, &others, false).await?;
    rows::moves(conn, &keeping, true).await?;
    rows::events(conn, &plain_events).await?;
    // Decisions and the events that move more than their own row, one by one in order.
    for record in run {
        written.push(match record {
            Record::Decision(decision) => {
                if writes::decision(conn, decision).await? {
                    Written::Done
                } else {
                    Written::Later
                }
            }
            Record::Event(event) if moves_more(event) => {
                writes::event(conn, event).await?;
                Written::Done
            }
            Record::FanOut(_) | Record::Attempt(..) | Record::Event(_) => Written::Done,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use herald_proto::{
        AttemptOutcome, DeliveryAttempt, DeliveryTask, EventType, FanOut, RetryDecision, Trigger,
    };

    use super::*;

    fn event(id: &str, event_type: &str) -> Event {
        Event {
            event_id: id.into(),
            tenant: "acme".into(),
            event_type: EventType::parse(event_type).unwrap(),
            data: Bytes::from_static(b"{}"),
            job_id: None,
            timestamp_ms: 1,
            accepted_at_ms: 1,
            callback: None,
        }
    }

    fn fan_out(delivery: &str) -> Record {
        Record::FanOut(FanOut {
            tenant: "acme".into(),
            event_id: "evt".into(),
            event_type: "order.created".into(),
            job_id: None,
            accepted_at_ms: 1,
            deliveries: vec![(delivery.into(), "wh_1".into())],
        })
    }

    fn attempt(delivery: &str, sequence: u64) -> Record {
        let attempt = DeliveryAttempt {
            task: DeliveryTask {
                delivery_id: delivery.into(),
                endpoint_id: "wh_1".into(),
                attempt: 1,
                event: event("evt", "order.created"),
                trigger: Trigger::Auto,
                callback: None,
                traceparent: None,
                run_id: None,
            },
            outcome: AttemptOutcome::Failed,
            status_code: Some(500),
            duration_ms: 1,
            error: None,
            response_excerpt: String::new(),
            attempted_at_ms: 2,
            retry_after_secs: None,
        };
        Record::Attempt(Box::new(attempt), sequence)
    }

    fn decision(delivery: &str) -> Record {
        Record::Decision(RetryDecision {
            delivery_id: delivery.into(),
            tenant: "acme".into(),
            endpoint_id: "wh_1".into(),
            event_id: "evt".into(),
            attempt: 1,
            attempt_sequence: 1,
            next_attempt_at_ms: None,
        })
    }

    fn lengths(records: &[Record]) -> Vec<usize> {
        runs(records).iter().map(|run| run.len()).collect()
    }

    #[test]
    fn fan_outs_attempts_and_decisions_in_step_order_share_a_run() {
        let records = [
            fan_out("d1"),
            attempt("d1", 1),
            decision("d1"),
            fan_out("d2"),
            attempt("d2", 2),
            decision("d1"),
        ];
        assert_eq!(lengths(&records), [6]);
        assert!(lengths(&[]).is_empty());
    }

    #[test]
    fn a_record_a_run_would_write_too_early_starts_the_next() {
        // A second attempt of a delivery, a fan-out after an attempt, an attempt
        // after a decision.
        assert_eq!(lengths(&[attempt("d1", 1), attempt("d1", 2)]), [1, 1]);
        assert_eq!(lengths(&[decision("d1"), fan_out("d1")]), [1, 1]);
        // A fan-out recorded after its delivery's first attempt writes the same
        // before it.
        assert_eq!(lengths(&[attempt("d1", 1), fan_out("d1")]), [2]);
        assert_eq!(lengths(&[decision("d1"), attempt("d1", 1)]), [1, 1]);
        // The attempts of one bundle share its sequence, and one run.
        assert_eq!(lengths(&[attempt("d1", 1), attempt("d2", 1)]), [2]);
    }

    #[test]
    fn an_event_is_in_a_run_once_and_a_disabled_webhook_ends_its_run() {
        let plain = || Record::Event(Box::new(event("evt_1", "order.created")));
        let disabled = Record::Event(Box::new(event("evt_2", "webhook.disabled")));
        assert_eq!(lengths(&[plain(), plain()]), [1, 1]);
        assert_eq!(
            lengths(&[attempt("d1", 1), disabled, attempt("d2", 2)]),
            [2, 1]
        );
    }
}
