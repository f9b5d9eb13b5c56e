//! The loop every JetStream consumer in Herald runs: pull messages, hand each to a
//! handler with at most `concurrency` in flight, and on shutdown stop pulling and
//! wait for the handlers that hold messages. The handler acknowledges its message
//! itself, after its effects are durably published.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, consumer};
use futures::StreamExt;
use herald_proto::names::{header, subject as subjects};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::publish::{Publish, PublishError, publish};

/// How often a message that cannot be processed is tried before Herald gives up on
/// it and parks it in `REJECTED` with the reason, and how long it waits between
/// tries: doubling from one second up to `backoff_max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redelivery {
    /// `HERALD_MAX_DELIVERIES`: deliveries of one message, at most.
    pub max_deliveries: i64,
    /// `HERALD_REDELIVERY_BACKOFF_MAX`: the longest wait between two tries.
    pub backoff_max: Duration,
}

impl Default for Redelivery {
    /// The settings' defaults: 20 tries, waiting up to a minute between them,
    /// about a quarter of an hour.
    fn default() -> Self {
        crate::config::shared::redelivery(&crate::config::MapEnv::default())
            .expect("the defaults are within range")
    }
}

impl Redelivery {
    /// What a consumer is configured with: a few deliveries more than
    /// `max_deliveries`, so the last one can be parked even when parking fails once.
    pub fn consumer_max_deliver(&self) -> i64 {
        self.max_deliveries + 5
    }

    /// How long to wait before a message is offered again after its
    /// `delivered`-th try failed.
    pub fn backoff(&self, delivered: i64) -> Duration {
        let exponent = u32::try_from(delivered.clamp(1, 20) - 1).unwrap_or(0);
        Duration::from_secs(1u64 << exponent).min(self.backoff_max)
    }

    /// Whether `message` has been handed out `max_deliveries` times already.
    pub fn exhausted(&self, message: &jetstream::Message) -> bool {
        message
            .info()
            .is_ok_and(|info| info.delivered >= self.max_deliveries)
    }
}

/// Hands `message` back to be offered again after its backoff.
pub async fn retry_later(message: &jetstream::Message, redelivery: &Redelivery) {
    let delivered = message.info().map(|i| i.delivered).unwrap_or(1);
    if let Err(err) = message
        .ack_with(AckKind::Nak(Some(redelivery.backoff(delivered))))
        .await
    {
        tracing::warn!(error = %err, "cannot hand a message back");
    }
}

/// The tenant a Herald subject belongs to: `<kind>.<tenant>...`, or
/// `<kind>.<partition>.<tenant>...` for delivery tasks.
pub fn tenant_of(subject: &str) -> &str {
    let mut tokens = subject.split('.');
    let kind = tokens.next().unwrap_or_default();
    if kind == subjects::DELIVERIES || kind == subjects::PARKED {
        tokens.next();
    }
    tokens
        .next()
        .filter(|t| crate::nats::is_token(t))
        .unwrap_or(subjects::UNKNOWN_TENANT)
}

/// Stores `payload`, which came on `subject` and cannot be processed, on
/// `rejected.<tenant>` in `REJECTED` with the reason, and counts it.
pub async fn reject(
    js: &jetstream::Context,
    subject: &str,
    payload: bytes::Bytes,
    reason: &str,
) -> Result<(), PublishError> {
    tracing::error!(%subject, %reason, "message parked in REJECTED");
    let mut headers = HeaderMap::new();
    headers.insert(
        crate::nats::REJECTED_REASON_HEADER,
        reason.replace(['\r', '\n'], " ").as_str(),
    );
    headers.insert(header::ORIGINAL_SUBJECT, subject);
    // No message id: a message parked twice is stored twice. The trace is the
    // handler's, which continues the message's own.
    publish(
        js,
        subjects::rejected(Some(tenant_of(subject))),
        payload,
        Publish::default().headers(headers),
    )
    .await?;
    crate::metrics::metrics().messages_rejected.inc();
    Ok(())
}

/// Parks `message` in `REJECTED` with the reason and acknowledges it; when parking
/// fails, hands it back to be tried again a little later.
pub async fn park(message: &jetstream::Message, reason: &str) {
    let payload = message.payload.clone();
    match reject(&message.context, &message.subject, payload, reason).await {
        Ok(()) => {
            if let Err(err) = message.ack().await {
                tracing::warn!(error = %err, "cannot acknowledge a parked message");
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, "cannot park a message; it is offered again");
            let _ = message
                .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                .await;
        }
    }
}

/// Parks `message` if it has been tried as often as `redelivery` allows; returns
/// whether it did.
pub async fn give_up_if_exhausted(
    message: &jetstream::Message,
    consumer: &str,
    redelivery: &Redelivery,
) -> bool {
    if !redelivery.exhausted(message) {
        return false;
    }
    let reason = format!(
        "gave up after {} deliveries to consumer {consumer}: every try failed \
         (the service's log says why)",
        redelivery.max_deliveries
    );
    park(message, &reason).await;
    true
}

/// Runs `handler` on every message of `consumer` until `shutdown` is cancelled, then
/// waits for the handlers in flight. Messages pulled but not yet handed out go back
/// to the server (they are never acknowledged).
pub async fn run<F, Fut>(
    name: &str,
    consumer: consumer::Consumer<consumer::pull::Config>,
    concurrency: usize,
    redelivery: Redelivery,
    shutdown: CancellationToken,
    handler: F,
) where
    F: Fn(jetstream::Message) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(report_lag(consumer.clone(), shutdown.clone()));
    let shared_name: Arc<str> = Arc::from(name);
    let handler = Arc::new(handler);
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut in_flight = JoinSet::new();
    'outer: while !shutdown.is_cancelled() {
        let Some(mut messages) = pull(name, &consumer, concurrency.clamp(1, 500), &shutdown).await
        else {
            continue;
        };
        loop {
            let permit = tokio::select! {
                _ = shutdown.cancelled() => break 'outer,
                permit = permits.clone().acquire_owned() => permit.expect("semaphore is never closed"),
            };
            let next = tokio::select! {
                _ = shutdown.cancelled() => break 'outer,
                next = messages.next() => next,
            };
            match next {
                Some(Ok(message)) => {
                    let handler = handler.clone();
                    let name = shared_name.clone();
                    // The handler's future lives on the heap: a task's future is
                    // moved as a whole when it is spawned and when it ends, and a
                    // handler's is many KiB.
                    in_flight.spawn(async move {
                        if !give_up_if_exhausted(&message, &name, &redelivery).await {
                            Box::pin(handler(message)).await;
                        }
                        drop(permit);
                    });
                }
                Some(Err(err)) => {
                    tracing::warn!(consumer = name, error = %err, "consumer stream error");
                    if stream_is_broken(&err) {
                        break;
                    }
                }
                None => break,
            }
            while in_flight.try_join_next().is_some() {}
        }
    }
    while in_flight.join_next().await.is_some() {}
    tracing::info!(consumer = name, "consumer drained");
}

/// Like [`run`], but hands the handler every message that has arrived (up to
/// `max_batch`) at once, so it can write them together: what arrives within
/// `linger` of the first message joins it. One batch is handled at a time; the
/// handler acknowledges each message.
pub async fn run_batched<F, Fut>(
    name: &str,
    consumer: consumer::Consumer<consumer::pull::Config>,
    max_batch: usize,
    linger: Duration,
    redelivery: Redelivery,
    shutdown: CancellationToken,
    handler: F,
) where
    F: Fn(Vec<jetstream::Message>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(report_lag(consumer.clone(), shutdown.clone()));
    'outer: while !shutdown.is_cancelled() {
        let Some(messages) = pull(name, &consumer, max_batch.clamp(1, 1000), &shutdown).await
        else {
            continue;
        };
        let max_batch = max_batch.max(1);
        let mut batches = messages.ready_chunks(max_batch);
        // What arrived past the last batch's bound: the start of the next.
        let mut carried = Vec::new();
        loop {
            let mut items = if carried.is_empty() {
                let next = tokio::select! {
                    _ = shutdown.cancelled() => break 'outer,
                    next = batches.next() => next,
                };
                let Some(items) = next else { break };
                items
            } else {
                std::mem::take(&mut carried)
            };
            let deadline = tokio::time::Instant::now() + linger;
            let mut ended = false;
            while items.len() < max_batch {
                match tokio::time::timeout_at(deadline, batches.next()).await {
                    Ok(Some(more)) => items.extend(more),
                    Ok(None) => {
                        ended = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            if items.len() > max_batch {
                carried = items.split_off(max_batch);
            }
            let mut batch = Vec::with_capacity(items.len());
            let mut broken = ended;
            for item in items {
                match item {
                    Ok(message) => {
                        if !give_up_if_exhausted(&message, name, &redelivery).await {
                            batch.push(message);
                        }
                    }
                    Err(err) => {
                        tracing::warn!(consumer = name, error = %err, "consumer stream error");
                        broken |= stream_is_broken(&err);
                    }
                }
            }
            if !batch.is_empty() {
                // Finish the batch even when shutdown comes meanwhile: it is being written.
                handler(batch).await;
            }
            // Messages carried over are handled before the stream is opened again.
            if broken && carried.is_empty() {
                break;
            }
        }
    }
    tracing::info!(consumer = name, "consumer drained");
}

/// Whether a pull stream's error means it must be opened again (the server stopped
/// answering, or the consumer is gone); other errors pass.
pub fn stream_is_broken(err: &consumer::pull::MessagesError) -> bool {
    matches!(
        err.kind(),
        consumer::pull::MessagesErrorKind::MissingHeartbeat
            | consumer::pull::MessagesErrorKind::ConsumerDeleted
    )
}

/// Sends what the client still buffers — the acks of the last messages above all —
/// before the process exits; a lost ack would hand a finished message out again.
pub async fn flush(client: &async_nats::Client) {
    match tokio::time::timeout(Duration::from_secs(5), client.flush()).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::warn!(error = %err, "cannot flush to NATS"),
        Err(_) => tracing::warn!("flushing to NATS timed out"),
    }
}

/// Opens a pull stream on `consumer`; after a failure, waits a second and says
/// `None` so the caller tries again (or stops, at shutdown).
async fn pull(
    name: &str,
    consumer: &consumer::Consumer<consumer::pull::Config>,
    batch: usize,
    shutdown: &CancellationToken,
) -> Option<consumer::pull::Stream> {
    match consumer
        .stream()
        .max_messages_per_batch(batch)
        .heartbeat(Duration::from_secs(5))
        .expires(Duration::from_secs(30))
        .messages()
        .await
    {
        Ok(messages) => Some(messages),
        Err(err) => {
            tracing::warn!(consumer = name, error = %err, "cannot pull messages; retrying");
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            None
        }
    }
}

/// Keeps the `consumer_pending` and `consumer_ack_pending` gauges current until
/// `shutdown`, then removes them (another replica may report the consumer next).
pub async fn report_lag(
    mut consumer: consumer::Consumer<consumer::pull::Config>,
    shutdown: CancellationToken,
) {
    let metrics = crate::metrics::metrics();
    let mut reported = None;
    loop {
        if let Ok(info) = consumer.info().await {
            let labels = crate::metrics::ConsumerLabels {
                stream: info.stream_name.clone(),
                consumer: info.name.clone(),
            };
            reported = Some(labels.clone());
            metrics
                .consumer_pending
                .get_or_create(&labels)
                .set(i64::try_from(info.num_pending).unwrap_or(i64::MAX));
            metrics
                .consumer_ack_pending
                .get_or_create(&labels)
                .set(i64::try_from(info.num_ack_pending).unwrap_or(i64::MAX));
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
    if let Some(labels) = reported {
        metrics.consumer_pending.remove(&labels);
        metrics.consumer_ack_pending.remove(&labels);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tries_back_off_to_a_minute() {
        let redelivery = Redelivery::default();
        assert_eq!(redelivery.backoff(1), Duration::from_secs(1));
        assert_eq!(redelivery.backoff(3), Duration::from_secs(4));
        assert_eq!(redelivery.backoff(7), Duration::from_secs(60));
        assert_eq!(redelivery.backoff(1000), Duration::from_secs(60));
        let total: Duration = (1..redelivery.max_deliveries)
            .map(|n| redelivery.backoff(n))
            .sum();
        assert!(total > Duration::from_secs(600), "{total:?}");
    }

    #[test]
    fn rejected_messages_go_to_their_tenant() {
        assert_eq!(tenant_of("ingest.acme.job.done"), "acme");
        assert_eq!(tenant_of("deliveries.7.acme.wh_1"), "acme");
        assert_eq!(tenant_of("parked.7.acme.wh_1"), "acme");
        assert_eq!(tenant_of("outcomes.acme.wh_1.failed"), "acme");
        assert_eq!(tenant_of("bogus"), "_unknown");
        assert_eq!(tenant_of("ingest.*.x"), "_unknown");
    }
}
