//! The consumers that fill the store: `outcomes.>` (attempts, retry decisions and
//! fan-outs, each read by the record type it carries) and `events.>` (events and
//! the jobs they move). Messages are written in batches —
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
use herald_proto::names::{RecordType, consumer, header, subject};
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
        name: consumer::STATUS_TRACKER.into(),
        filter_subjects: vec![subject::OUTCOMES_ALL.into()],
        max_ack_pending: 4096,
        ack_wait: Duration::from_secs(30),
    }
}

pub fn events_consumer() -> DurableConsumer {
    DurableConsumer {
        stream: EVENTS_STREAM,
        name: consumer::STATUS_TRACKER_EVENTS.into(),
        filter_subjects: vec![subject::EVENTS_ALL.into()],
        max_ack_pending: 4096,
        ack_wait: Duration::from_secs(30),
    }
}

/// Which stream a recorder reads, which says how its messages are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `EVENTS`: every message is an event.
    Events,
    /// `OUTCOMES`: records, each of the type it carries, or bundles of them.
    Outcomes,
}

/// Writes what `consumer` of `source` delivers until `shutdown`.
pub async fn run(
    name: &'static str,
    source: Source,
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
            async move { write(source, &store, &client, &redelivery, messages).await }
        },
    )
    .await
}

async fn write(
    source: Source,
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
        match decode(source, &message) {
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
                            &[(header::TRACEPARENT, traceparent.as_str())],
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
        Record::Attempt(..) => RecordType::Attempt.as_str(),
        Record::Decision(_) => RecordType::Decision.as_str(),
        Record::Event(_) => "event",
        Record::FanOut(_) => RecordType::FanOut.as_str(),
    };
    herald_common::metrics::metrics()
        .status_records
        .get_or_create(&herald_common::metrics::KindLabel { kind })
        .inc();
}

/// The records `message` holds: one, or a bundle's (each with the trace context
/// it was published in). A record says its type in the message; one of an earlier
/// release, which does not, is told by its subject.
/// Why a message's records cannot be read.
#[derive(Debug, thiserror::Error)]
enum RecordsError {
    #[error(transparent)]
    Record(#[from] herald_proto::DecodeError),
    #[error(transparent)]
    Bundle(#[from] prost::DecodeError),
    #[error("unknown record type `{0}`")]
    UnknownType(String),
    #[error("no stream sequence: {0}")]
    NoSequence(#[source] async_nats::Error),
}

fn decode(
    source: Source,
    message: &jetstream::Message,
) -> Result<Vec<(Record, Option<String>)>, RecordsError> {
    let sequence = || {
        message
            .info()
            .map(|info| info.stream_sequence)
            .map_err(RecordsError::NoSequence)
    };
    if source == Source::Events {
        let event = Event::decode(&message.payload)?;
        return Ok(vec![(Record::Event(Box::new(event)), None)]);
    }
    let headers = message.headers.as_ref();
    // Bundles have carried this header since they were introduced.
    if headers.and_then(|h| h.get(header::BUNDLE)).is_none() {
        let record_type = match headers.and_then(|h| h.get(header::RECORD_TYPE)) {
            Some(value) => RecordType::parse(value.as_str())
                .ok_or_else(|| RecordsError::UnknownType(value.as_str().to_owned()))?,
            None => RecordType::of_legacy_subject(&message.subject),
        };
        return Ok(vec![(
            decode_one(record_type, &message.payload, sequence)?,
            None,
        )]);
    }
    bundle::unbundle(&message.payload)?
        .into_iter()
        .map(|bundled| {
            let record_type = RecordType::from_wire(bundled.record_type)
                .unwrap_or_else(|| RecordType::of_legacy_subject(&bundled.subject));
            let record = decode_one(record_type, &bundled.payload, sequence)?;
            Ok((record, Some(bundled.traceparent).filter(|t| !t.is_empty())))
        })
        .collect()
}

/// One record of `record_type`. Attempts are ordered by their message's
/// `OUTCOMES` sequence; the attempts of one bundle share it.
fn decode_one(
    record_type: RecordType,
    payload: &[u8],
    sequence: impl Fn() -> Result<u64, RecordsError>,
) -> Result<Record, RecordsError> {
    match record_type {
        RecordType::FanOut => FanOut::decode(payload).map(Record::FanOut),
        RecordType::Decision => RetryDecision::decode(payload).map(Record::Decision),
        RecordType::Attempt => {
            let sequence = sequence()?;
            DeliveryAttempt::decode(payload).map(|a| Record::Attempt(Box::new(a), sequence))
        }
    }
    .map_err(RecordsError::from)
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
