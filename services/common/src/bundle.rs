//! Records for `OUTCOMES` that only the status tracker reads — fan-outs and
//! succeeded attempts — published many to a message when they come faster than the
//! broker stores them. A record that arrives while fewer than
//! [`PUBLISHES_AT_ONCE`] publishes are in flight goes out at once and alone, on its
//! own subject, as it always did; the ones that arrive while the broker is busy wait
//! for the next free publish and go together in a [`Bundle`] on
//! `outcomes.<tenant>._bundle.records`. Under load one broker write (one fsync on a
//! durable broker) then stores many records, and the status tracker reads one
//! message instead of many.
//!
//! Each caller still waits until its own record is stored; a bundle publish that
//! fails fails every record in it, and each caller tries again as before.

use std::collections::HashMap;
use std::sync::Arc;

use async_nats::HeaderMap;
use async_nats::jetstream;
use bytes::Bytes;
use herald_proto::names::{RecordType, header};
use herald_proto::wire::{Bundle, BundledRecord};
use prost::Message as _;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::publish::{Publish, PublishError, PublishErrorKind};

/// Header on a bundle: how many records it holds.
pub use herald_proto::names::header::BUNDLE as BUNDLE_HEADER;
pub use herald_proto::names::subject::{bundle as bundle_subject, is_bundle};
/// Publishes of records or bundles in flight at once; more records wait and go
/// together.
pub const PUBLISHES_AT_ONCE: usize = 8;
/// Records in one bundle, at most.
const MAX_RECORDS: usize = 256;
/// Bytes of records in one bundle, at most (a larger record goes alone).
const MAX_BYTES: usize = 512 << 10;
/// Records waiting for a publish, at most; callers wait beyond it.
const QUEUE: usize = 4096;

struct Item {
    tenant: String,
    record_type: RecordType,
    subject: String,
    message_id: String,
    traceparent: Option<String>,
    payload: Bytes,
    stored: oneshot::Sender<Result<(), RecordError>>,
}

/// Why a record was not stored.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RecordError {
    /// The publish of the record, or of the bundle it went in, failed.
    #[error("{message}")]
    Publish {
        kind: PublishErrorKind,
        message: String,
    },
    /// The bundling publisher is gone (the process is stopping).
    #[error("the record publisher stopped")]
    Stopped,
}

impl RecordError {
    /// What the failed publish means for the caller; a stopped publisher is
    /// [`Unavailable`](PublishErrorKind::Unavailable).
    pub fn kind(&self) -> PublishErrorKind {
        match self {
            RecordError::Publish { kind, .. } => *kind,
            RecordError::Stopped => PublishErrorKind::Unavailable,
        }
    }
}

impl From<PublishError> for RecordError {
    fn from(err: PublishError) -> Self {
        RecordError::Publish {
            kind: err.kind(),
            message: err.to_string(),
        }
    }
}

/// A handle on the bundling publisher. Cloning is cheap; the publisher stops when
/// the last handle is dropped, after the publishes in flight.
#[derive(Clone)]
pub struct Bundler {
    queue: mpsc::Sender<Item>,
}

impl Bundler {
    pub fn start(jetstream: jetstream::Context) -> Self {
        let (queue, items) = mpsc::channel(QUEUE);
        tokio::spawn(run(jetstream, items));
        Bundler { queue }
    }

    /// Publishes one record of `tenant` that would go alone on `subject` with
    /// `message_id`, in the current span's trace; returns once it is stored.
    pub async fn publish(
        &self,
        tenant: &str,
        record_type: RecordType,
        subject: String,
        message_id: String,
        payload: Bytes,
    ) -> Result<(), RecordError> {
        let (stored, outcome) = oneshot::channel();
        let item = Item {
            tenant: tenant.to_owned(),
            record_type,
            subject,
            message_id,
            traceparent: crate::trace::traceparent(&tracing::Span::current()),
            payload,
            stored,
        };
        self.queue
            .send(item)
            .await
            .map_err(|_| RecordError::Stopped)?;
        outcome.await.map_err(|_| RecordError::Stopped)?
    }
}

async fn run(jetstream: jetstream::Context, mut queue: mpsc::Receiver<Item>) {
    let permits = Arc::new(Semaphore::new(PUBLISHES_AT_ONCE));
    let mut items = Vec::with_capacity(MAX_RECORDS);
    loop {
        // Waiting for a free publish first lets records gather meanwhile.
        let permit = permits.clone().acquire_owned().await.expect("never closed");
        if queue.recv_many(&mut items, MAX_RECORDS).await == 0 {
            return;
        }
        let mut permit = Some(permit);
        for group in groups(std::mem::take(&mut items)) {
            let permit = match permit.take() {
                Some(permit) => permit,
                None => permits.clone().acquire_owned().await.expect("never closed"),
            };
            let jetstream = jetstream.clone();
            tokio::spawn(async move {
                Box::pin(publish(&jetstream, group)).await;
                drop(permit);
            });
        }
    }
}

/// `items` by tenant, in arrival order, each group within [`MAX_BYTES`].
fn groups(items: Vec<Item>) -> Vec<Vec<Item>> {
    // Per tenant, in order of first arrival: its groups, and the bytes of the last.
    let mut tenants: Vec<(Vec<Vec<Item>>, usize)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for item in items {
        let slot = *index.entry(item.tenant.clone()).or_insert_with(|| {
            tenants.push((vec![Vec::new()], 0));
            tenants.len() - 1
        });
        let (groups, bytes) = &mut tenants[slot];
        let len = item.payload.len();
        if *bytes > 0 && *bytes + len > MAX_BYTES {
            groups.push(Vec::new());
            *bytes = 0;
        }
        *bytes += len;
        groups.last_mut().expect("never empty").push(item);
    }
    tenants.into_iter().flat_map(|(groups, _)| groups).collect()
}

/// Publishes one record alone, or many as a bundle, and tells each caller.
async fn publish(jetstream: &jetstream::Context, mut group: Vec<Item>) {
    let mut headers = HeaderMap::new();
    let (subject, payload, options) = if group.len() == 1 {
        let item = &mut group[0];
        headers.insert(header::RECORD_TYPE, item.record_type.as_str());
        let payload = std::mem::take(&mut item.payload);
        let item = &group[0];
        let options = Publish::once(&item.message_id)
            .headers(headers)
            .traceparent(item.traceparent.as_deref());
        (item.subject.clone(), payload, options)
    } else {
        // No message id: a bundle's records differ from one try to the next, and an
        // id naming only some of them would drop the others as a repeat. The status
        // tracker writes a record seen twice once, by its own id.
        headers.insert(BUNDLE_HEADER, group.len().to_string().as_str());
        let bundle = Bundle {
            records: group
                .iter_mut()
                .map(|item| BundledRecord {
                    subject: std::mem::take(&mut item.subject),
                    traceparent: item.traceparent.take().unwrap_or_default(),
                    payload: std::mem::take(&mut item.payload),
                    record_type: item.record_type.to_wire() as i32,
                })
                .collect(),
        };
        // Each record carries its own trace context inside the bundle.
        let options = Publish::default().headers(headers).traceparent(None);
        (
            bundle_subject(&group[0].tenant),
            Bytes::from(bundle.encode_to_vec()),
            options,
        )
    };
    let outcome = crate::publish::publish(jetstream, subject, payload, options)
        .await
        .map(|_| ())
        .map_err(RecordError::from);
    for item in group {
        let _ = item.stored.send(outcome.clone());
    }
}

/// The records of a bundle: each one's type, subject alone, trace context and
/// payload.
pub fn unbundle(payload: &[u8]) -> Result<Vec<BundledRecord>, prost::DecodeError> {
    Bundle::decode(payload).map(|bundle| bundle.records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(tenant: &str, bytes: usize) -> Item {
        Item {
            tenant: tenant.into(),
            record_type: RecordType::Attempt,
            subject: herald_proto::names::subject::attempt(tenant, "wh", true),
            message_id: "id".into(),
            traceparent: None,
            payload: Bytes::from(vec![0; bytes]),
            stored: oneshot::channel().0,
        }
    }

    #[test]
    fn records_are_grouped_by_tenant_in_order_and_within_the_byte_bound() {
        let items = vec![
            item("acme", 10),
            item("globex", 10),
            item("acme", 10),
            item("acme", MAX_BYTES),
        ];
        let groups = groups(items);
        let shape: Vec<(String, usize)> = groups
            .iter()
            .map(|g| (g[0].tenant.clone(), g.len()))
            .collect();
        assert_eq!(
            shape,
            [
                ("acme".to_owned(), 2),
                ("acme".to_owned(), 1),
                ("globex".to_owned(), 1)
            ]
        );
    }
}
