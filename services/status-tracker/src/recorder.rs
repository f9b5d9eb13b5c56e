//! The consumers that fill the store: `outcomes.>` (attempts and retry decisions)
//! and `events.>` (events and the jobs they move). Messages are written in batches —
//! whatever has arrived, up to a limit, in one transaction — and acknowledged only
//! after the transaction commits. An attempt is stored with its `OUTCOMES` stream
//! sequence, which orders it among its delivery's records. A job that changed is
//! announced on core NATS for live streams.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::future::join_all;

use async_nats::jetstream;
use async_nats::jetstream::consumer::{Consumer, pull};
use herald_common::bundle;
use herald_common::consume::{Redelivery, retry_later, run_batched};
use herald_common::nats::{DurableConsumer, EVENTS_STREAM, OUTCOMES_STREAM};
use herald_proto::query::job_changes_subject;
use herald_proto::{DeliveryAttempt, Event, FanOut, RetryDecision};
use tokio_util::sync::CancellationToken;

use crate::store::{Record, Store, Written};

/// Most messages written in one transaction.
const BATCH: usize = 256;
/// How long the first message of a batch waits for others to join it: at a few
/// hundred records a second and more, a transaction then writes several instead of
/// one, at a tenth of the cost per record; the store shows a record this much later.
const LINGER: Duration = Duration::from_millis(10);

pub fn outcomes_consumer() -> DurableConsumer {
    DurableConsumer {
        stream: OUTCOMES_STREAM,
        name: "status-tracker".into(),
        filter_subjects: vec!["outcomes.>".into()],
        max_ack_pending: 4096,
        ack_wait: Duration::from_secs(30),
    }
}

pub fn events_consumer() -> DurableConsumer {
    DurableConsumer {
        stream: EVENTS_STREAM,
        name: "status-tracker-events".into(),
        filter_subjects: vec!["events.>".into()],
        max_ack_pending: 4096,
        ack_wait: Duration::from_secs(30),
    }
}

/// Writes what `consumer` delivers until `shutdown`.
pub async fn run(
    name: &'static str,
    consumer: Consumer<pull::Config>,
    store: Store,
    client: async_nats::Client,
    redelivery: Redelivery,
    shutdown: CancellationToken,
) {
    run_batched(
        name,
        consumer,
        BATCH,
        LINGER,
        redelivery,
        shutdown,
        move |messages| {
            let (store, client) = (store.clone(), client.clone());
            async move { write(&store, &client, &redelivery, messages).await }
        },
    )
    .await
}

async fn write(
    store: &Store,
    client: &async_nats::Client,
    redelivery: &Redelivery,
    messages: Vec<jetstream::Message>,
) {
    let mut records = Vec::with_capacity(messages.len());
    // Which of `kept` each record came in (a bundle holds many).
    let mut owners = Vec::with_capacity(messages.len());
    let mut kept = Vec::with_capacity(messages.len());
    // One span per record, in its producer's trace, lasting until it is stored.
    let mut spans = Vec::with_capacity(messages.len());
    for message in messages {
        match decode(&message) {
            Ok(decoded) => {
                for (record, traceparent) in decoded {
                    let span = tracing::info_span!(
                        "status.record",
                        otel.kind = "consumer",
                        subject = %message.subject,
                        batch = tracing::field::Empty,
                        trace_id = tracing::field::Empty,
                    );
                    match traceparent {
                        Some(traceparent) => herald_common::trace::adopt_pairs(
                            &span,
                            &[("traceparent", traceparent.as_str())],
                        ),
                        None => herald_common::trace::adopt(&span, message.headers.as_ref()),
                    }
                    spans.push(span);
                    records.push(record);
                    owners.push(kept.len());
                }
                kept.push(message);
            }
            Err(reason) => {
                // Only Herald publishes here; a record it cannot read is parked in
                // REJECTED with the reason rather than retried forever.
                herald_common::consume::park(&message, &format!("undecodable record: {reason}"))
                    .await;
            }
        }
    }
    for span in &spans {
        span.record("batch", records.len());
    }
    match store.record_batch(&records).await {
        Ok(written) => {
            let mut jobs = BTreeSet::new();
            // A message is done when every record it holds is.
            let mut settled = vec![Written::Done; kept.len()];
            for ((record, written), owner) in records.iter().zip(written).zip(&owners) {
                if written == Written::Done {
                    count(record);
                    if let Record::Event(event) = record
                        && let Some(job_id) = &event.job_id
                    {
                        jobs.insert((event.tenant.clone(), job_id.clone()));
                    }
                } else {
                    settled[*owner] = written;
                }
            }
            join_all(
                kept.iter()
                    .zip(settled)
                    .map(|(message, written)| settle(message, written, redelivery)),
            )
            .await;
            // Each job moved by the batch is announced once, in its state after it.
            for (tenant, job_id) in jobs {
                announce(store, client, &tenant, &job_id).await;
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, records = records.len(), "cannot write records; will retry");
            join_all(kept.iter().map(|m| retry_later(m, redelivery))).await;
        }
    }
}

fn count(record: &Record) {
    let kind = match record {
        Record::Attempt(..) => "attempt",
        Record::Decision(_) => "decision",
        Record::Event(_) => "event",
        Record::FanOut(_) => "fanout",
    };
    herald_common::metrics::metrics()
        .status_records
        .get_or_create(&herald_common::metrics::KindLabel { kind })
        .inc();
}

/// The records `message` holds: one, or a bundle's (each with the trace context
/// it was published in).
fn decode(message: &jetstream::Message) -> Result<Vec<(Record, Option<String>)>, String> {
    let sequence = || {
        message
            .info()
            .map(|info| info.stream_sequence)
            .map_err(|e| format!("no stream sequence: {e}"))
    };
    let subject = message.subject.as_str();
    if !bundle::is_bundle(subject) {
        return Ok(vec![(
            decode_one(subject, &message.payload, sequence)?,
            None,
        )]);
    }
    bundle::unbundle(&message.payload)
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|bundled| {
            let record = decode_one(&bundled.subject, &bundled.payload, sequence)?;
            Ok((record, Some(bundled.traceparent).filter(|t| !t.is_empty())))
        })
        .collect()
}

/// One record that came (or would have come) alone on `subject`. Attempts are
/// ordered by their message's `OUTCOMES` sequence; the attempts of one bundle
/// share it.
fn decode_one(
    subject: &str,
    payload: &[u8],
    sequence: impl Fn() -> Result<u64, String>,
) -> Result<Record, String> {
    if subject.starts_with("events.") {
        Event::decode(payload).map(|e| Record::Event(Box::new(e)))
    } else if subject.ends_with("._fanout.pending") {
        FanOut::decode(payload).map(Record::FanOut)
    } else if subject.ends_with(".scheduled") || subject.ends_with(".exhausted") {
        RetryDecision::decode(payload).map(Record::Decision)
    } else {
        let sequence = sequence()?;
        DeliveryAttempt::decode(payload).map(|a| Record::Attempt(Box::new(a), sequence))
    }
    .map_err(|e| e.to_string())
}

/// Tells live streams that a job moved: its state, without its history.
async fn announce(store: &Store, client: &async_nats::Client, tenant: &str, job_id: &str) {
    match store.job_state(tenant, job_id).await {
        Ok(Some(view)) => {
            let payload = serde_json::to_vec(&view).unwrap_or_default();
            let subject = job_changes_subject(tenant, job_id);
            if let Err(err) = client.publish(subject, payload.into()).await {
                tracing::warn!(error = %err, "cannot announce a job change");
            }
        }
        Ok(None) => {}
        Err(err) => tracing::warn!(error = %err, "cannot read a job to announce it"),
    }
}

/// Acknowledges `message` once it is written, or hands it back for later.
async fn settle(message: &jetstream::Message, written: Written, redelivery: &Redelivery) {
    match written {
        Written::Done => {
            if let Err(err) = message.ack().await {
                tracing::warn!(error = %err, "cannot acknowledge a record");
            }
        }
        // The attempt it follows is not recorded yet; ask again later.
        Written::Later => retry_later(message, redelivery).await,
    }
}
