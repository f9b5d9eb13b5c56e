//! Test deliveries: ingest asks (request/reply on `herald.dispatch.test`, queue group
//! `dispatcher`) for one attempt right now, outside the queue and its limits; the
//! attempt is recorded like any other and its record is the reply.

use herald_common::bundle::RecordError;
use herald_common::registry::RegistryError;
use herald_proto::names::consumer::TEST_DELIVERY_QUEUE;
use herald_proto::{DeliveryAttempt, DeliveryTask};
use tokio_util::sync::CancellationToken;

use crate::{State, deliver};

/// Test deliveries one dispatcher makes at once; more wait their turn.
const TESTS_AT_ONCE: usize = 64;

/// The subject test deliveries are requested on.
pub use herald_proto::names::subject::TEST_DELIVERY as SUBJECT;

pub async fn subscribe(
    client: &async_nats::Client,
) -> Result<async_nats::Subscriber, async_nats::SubscribeError> {
    client
        .queue_subscribe(SUBJECT, TEST_DELIVERY_QUEUE.to_owned())
        .await
}

pub async fn serve(
    requests: async_nats::Subscriber,
    client: async_nats::Client,
    state: State,
    shutdown: CancellationToken,
) {
    herald_common::reply::serve(requests, client, TESTS_AT_ONCE, shutdown, move |request| {
        let state = state.clone();
        async move {
            Some(match run(&state, &request.payload).await {
                Ok(attempt) => attempt.encode(),
                Err(reason) => {
                    tracing::warn!(%reason, "test delivery failed");
                    bytes::Bytes::new()
                }
            })
        }
    })
    .await
}

/// Why a test delivery was not made or not recorded.
#[derive(Debug, thiserror::Error)]
enum TestError {
    #[error(transparent)]
    Decode(#[from] herald_proto::DecodeError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("the webhook does not exist")]
    Missing,
    #[error(transparent)]
    Record(#[from] RecordError),
}

async fn run(state: &State, payload: &[u8]) -> Result<DeliveryAttempt, TestError> {
    let task = DeliveryTask::decode(payload)?;
    // From the bucket, not the mirror: a test asked for right after a change (a
    // rotation, a new URL) goes out with that change.
    let endpoint = state
        .registry
        .get(&task.event.tenant, &task.endpoint_id)
        .await?
        .ok_or(TestError::Missing)?;
    let mut target = deliver::Target::of(&endpoint, state.config.delivery_timeout);
    // A test is asked for explicitly: it goes out even to a disabled webhook.
    target.refusal = None;
    let response = deliver::attempt(state, &task, &target).await;
    Ok(deliver::record(state, task, response).await?)
}
