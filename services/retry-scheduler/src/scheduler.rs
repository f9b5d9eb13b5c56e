//! The consumer of `outcomes.*.*.failed`. For each failed automatic attempt it
//! either schedules the next one — the task is published to
//! `schedules.<tenant>.<endpoint_id>.<delivery_id>` with `Nats-Schedule: @at <time>` and
//! `Nats-Schedule-Target: deliveries.<tenant>.<endpoint_id>`, and the broker
//! holds it durably until due — or, with no retry left (or a 410 Gone), records the
//! delivery as exhausted and disables the webhook. Its decision goes to `outcomes.<tenant>.<endpoint_id>.<scheduled|exhausted>`
//! for the status-tracker. The attempt is acknowledged only after both are stored.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream;
use async_nats::jetstream::consumer::{Consumer, pull};
use std::sync::Arc;

use herald_common::nats::{DurableConsumer, OUTCOMES_STREAM, schedule_subject};
use herald_common::publish::{Publish, PublishError, publish};
use herald_common::registry::Registry;
use herald_proto::names::{RecordType, consumer as consumers, header, subject};
use herald_proto::{
    AttemptOutcome, DeliveryAttempt, DeliveryTask, Endpoint, RetryDecision, Trigger,
};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::disable::{DisableError, disable};
use crate::policy::next_delay;

pub fn consumer() -> DurableConsumer {
    DurableConsumer {
        stream: OUTCOMES_STREAM,
        name: consumers::RETRY_SCHEDULER.into(),
        filter_subjects: vec![subject::OUTCOMES_FAILED.into()],
        max_ack_pending: 4096,
        ack_wait: Duration::from_secs(30),
    }
}

/// What the scheduler's handlers share.
#[derive(Clone)]
pub struct State {
    pub js: jetstream::Context,
    pub schedule: Arc<Vec<Duration>>,
    /// The endpoint registry, for each webhook's own schedule and for disabling.
    pub registry: Registry,
    pub redelivery: herald_common::consume::Redelivery,
}

pub async fn run(consumer: Consumer<pull::Config>, state: State, shutdown: CancellationToken) {
    let redelivery = state.redelivery;
    let consume = herald_common::consume::run;
    consume(
        consumers::RETRY_SCHEDULER,
        consumer,
        128,
        redelivery,
        shutdown,
        move |message| {
            let state = state.clone();
            async move { handle(&state, message).await }
        },
    )
    .await
}

async fn handle(state: &State, message: jetstream::Message) {
    let span = tracing::info_span!(
        "retry.schedule",
        otel.kind = "consumer",
        subject = %message.subject,
        next_attempt_at = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    herald_common::trace::adopt(&span, message.headers.as_ref());
    decide_and_ack(state, message).instrument(span).await
}

async fn decide_and_ack(state: &State, message: jetstream::Message) {
    // The record's place in OUTCOMES names it in the decision (0 if unknown).
    let sequence = message
        .info()
        .map(|i| i.stream_sequence)
        .unwrap_or_default();
    match DeliveryAttempt::decode(&message.payload) {
        Ok(attempt) => match decide(state, &attempt, sequence).await {
            Ok(()) => {
                if let Err(err) = message.ack().await {
                    tracing::warn!(error = %err, "cannot acknowledge an attempt record");
                }
            }
            // The broker refuses the retry or the decision as such: trying again
            // would not help.
            Err(DecideError::Publish(err)) if !err.is_transient() => {
                let reason = format!("cannot schedule a retry: {err}");
                herald_common::consume::park(&message, &reason).await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot schedule a retry; will try again");
                herald_common::consume::retry_later(&message, &state.redelivery).await;
            }
        },
        Err(err) => {
            herald_common::consume::park(&message, &format!("undecodable attempt record: {err}"))
                .await;
        }
    }
}

/// Why an attempt's decision is not stored yet.
#[derive(Debug, thiserror::Error)]
enum DecideError {
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error("cannot disable the webhook: {0}")]
    Disable(#[from] DisableError),
}

async fn decide(
    state: &State,
    attempt: &DeliveryAttempt,
    sequence: u64,
) -> Result<(), DecideError> {
    // Refusals are final; a manual attempt is a one-off and schedules nothing.
    if attempt.outcome != AttemptOutcome::Failed || attempt.task.trigger == Trigger::Manual {
        return Ok(());
    }
    let js = &state.js;
    let task = &attempt.task;
    let tenant = &task.event.tenant;
    let endpoint = state
        .registry
        .mirror()
        .get(&Endpoint::key_for(tenant, &task.endpoint_id));
    let gone = attempt.status_code == Some(410);
    let delay = if gone {
        None
    } else {
        let schedule = endpoint
            .as_ref()
            .map(|e| &e.retry_schedule)
            .filter(|s| !s.is_empty())
            .unwrap_or(&state.schedule);
        // `Retry-After` counts only where HTTP gives it that meaning.
        let retry_after = attempt
            .retry_after_secs
            .filter(|_| matches!(attempt.status_code, Some(429 | 503)))
            .map(|s| Duration::from_secs(u64::from(s)));
        next_delay(schedule, task.attempt, retry_after)
    };
    let next_attempt_at_ms = match delay {
        Some(delay) => {
            let due_ms = attempt.attempted_at_ms.max(herald_proto::now_ms())
                + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
            let next = DeliveryTask {
                attempt: task.attempt + 1,
                ..task.clone()
            };
            tracing::Span::current().record("next_attempt_at", herald_proto::rfc3339(due_ms));
            hold(js, &next, due_ms).await?;
            herald_common::metrics::metrics().retries_scheduled.inc();
            Some(due_ms)
        }
        None => None,
    };
    // A callback has no registry entry to disable.
    if next_attempt_at_ms.is_none() && task.callback.is_none() {
        let reason = if gone {
            "the endpoint answered 410 Gone".to_owned()
        } else {
            format!(
                "delivery {} failed {} attempts; last: {}",
                task.delivery_id,
                task.attempt,
                attempt.error.as_deref().unwrap_or("unknown error")
            )
        };
        let metrics = herald_common::metrics::metrics();
        if !gone {
            metrics.deliveries_exhausted.inc();
        }
        if disable(js, &state.registry, tenant, &task.endpoint_id, &reason).await? {
            let reason = if gone { "gone" } else { "exhausted" };
            metrics
                .webhooks_disabled
                .get_or_create(&herald_common::metrics::ReasonLabel { reason })
                .inc();
        }
    }
    let decision = RetryDecision {
        delivery_id: task.delivery_id.clone(),
        tenant: task.event.tenant.clone(),
        endpoint_id: task.endpoint_id.clone(),
        event_id: task.event.event_id.clone(),
        attempt: task.attempt,
        attempt_sequence: sequence,
        next_attempt_at_ms,
    };
    let message_id = decision.message_id();
    let options = Publish::once(&message_id)
        .headers(herald_common::nats::record_headers(RecordType::Decision));
    publish(js, decision.subject(), decision.encode(), options).await?;
    Ok(())
}

/// Hands `task` to the broker to publish on its delivery subject at `due_ms`.
async fn hold(
    js: &jetstream::Context,
    task: &DeliveryTask,
    due_ms: i64,
) -> Result<(), PublishError> {
    // Schedules have one-second resolution; round up so a retry is never early.
    let due_secs = (due_ms + 999) / 1000;
    let at = herald_proto::rfc3339(due_secs * 1000);
    let at = format!("{}Z", at.trim_end_matches(".000Z"));
    let mut headers = HeaderMap::new();
    headers.insert(header::SCHEDULE, format!("@at {at}").as_str());
    headers.insert(header::SCHEDULE_TARGET, task.subject().as_str());
    let message_id = format!("{}:schedule", task.message_id());
    publish(
        js,
        schedule_subject(&task.event.tenant, &task.endpoint_id, &task.delivery_id),
        task.encode(),
        Publish::once(&message_id).headers(headers),
    )
    .await?;
    Ok(())
}
