//! NATS request/reply responders: every replica of a service joins one queue group,
//! so each request is answered once; each request is handled on its own task, at
//! most `concurrency` at a time (the rest wait in the subscription, and a requester
//! that waits too long gives up).

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Answers the requests of `requests` with `handler`, at most `concurrency` at once,
/// until `shutdown`. A handler that returns `None` sends no reply.
pub async fn serve<F, Fut>(
    mut requests: async_nats::Subscriber,
    client: async_nats::Client,
    concurrency: usize,
    shutdown: CancellationToken,
    handler: F,
) where
    F: Fn(async_nats::Message) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Option<Bytes>> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(concurrency.max(1)));
    loop {
        let slot = tokio::select! {
            _ = shutdown.cancelled() => break,
            slot = slots.clone().acquire_owned() => slot.expect("never closed"),
        };
        let request = tokio::select! {
            _ = shutdown.cancelled() => break,
            request = requests.next() => match request {
                Some(request) => request,
                None => break,
            },
        };
        let Some(reply) = request.reply.clone() else {
            continue;
        };
        let (client, handler) = (client.clone(), handler.clone());
        tokio::spawn(async move {
            if let Some(answer) = handler(request).await
                && let Err(err) = client.publish(reply, answer).await
            {
                tracing::warn!(error = %err, "cannot answer a request");
            }
            drop(slot);
        });
    }
    let _ = requests.unsubscribe().await;
}
