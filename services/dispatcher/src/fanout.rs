//! Fan-out: for each accepted event, one delivery task per subscribed endpoint.
//! The task of an event with one target, whose endpoint's lane is on this replica
//! and keeps up, is handed to the lane in memory, and the event acknowledged once
//! its attempt is recorded; other tasks (and any handed back) are published with a
//! deterministic message id before the event is acknowledged, so a fan-out that
//! runs again (after a crash) stores no task twice.

use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use futures::StreamExt;
use herald_common::nats::{DurableConsumer, EVENTS_STREAM};
use herald_common::publish::PublishErrorKind;
use herald_proto::delivery::CallbackTarget;
use herald_proto::names::{RecordType, consumer as consumers, subject};
use herald_proto::{Callback, DeliveryTask, Event, FanOut, Trigger, ids};
use tracing::Instrument;

use crate::State;

pub fn consumer() -> DurableConsumer {
    DurableConsumer {
        stream: EVENTS_STREAM,
        name: consumers::DISPATCHER_FANOUT.into(),
        filter_subjects: vec![subject::EVENTS_ALL.into()],
        max_ack_pending: 1024,
        ack_wait: Duration::from_secs(30),
    }
}

/// Longest a fan-out waits for a webhook change ingest knew of to reach this
/// replica; past it the event goes to the webhooks known, as before the change.
const REGISTRY_WAIT: Duration = Duration::from_secs(5);

/// Waits until this replica's registry holds every webhook change ingest held when
/// it accepted the event (almost always already true).
async fn registry_caught_up(state: &State, message: &jetstream::Message) {
    let wanted = message
        .headers
        .as_ref()
        .and_then(|h| h.get(herald_common::nats::REGISTRY_REVISION_HEADER))
        .and_then(|v| v.as_str().parse::<u64>().ok())
        .unwrap_or(0);
    if state.endpoints().revision() < wanted
        && !state.endpoints().wait_revision(wanted, REGISTRY_WAIT).await
    {
        tracing::warn!(
            wanted,
            held = state.endpoints().revision(),
            "webhook registry lags; fanning out to the webhooks known"
        );
    }
}

pub async fn handle(state: &State, message: jetstream::Message) {
    let span = tracing::info_span!(
        "dispatcher.fanout",
        otel.kind = "consumer",
        tenant = tracing::field::Empty,
        event_id = tracing::field::Empty,
        event_type = tracing::field::Empty,
        tasks = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    herald_common::trace::adopt(&span, message.headers.as_ref());
    fan_out(state, message).instrument(span).await
}

async fn fan_out(state: &State, message: jetstream::Message) {
    let event = match Event::decode(&message.payload) {
        Ok(event) => event,
        Err(err) => {
            herald_common::consume::park(&message, &format!("undecodable event: {err}")).await;
            return;
        }
    };
    let span = tracing::Span::current();
    span.record("tenant", event.tenant.as_str());
    span.record("event_id", event.event_id.as_str());
    span.record("event_type", event.event_type.as_str());
    let traceparent = herald_common::trace::traceparent(&span);
    registry_caught_up(state, &message).await;
    let mut tasks = tasks_for(state, &event, traceparent.clone());
    match callback_task(state, &event).await {
        Ok(Some(task)) => tasks.push(DeliveryTask {
            traceparent: traceparent.clone(),
            ..task
        }),
        Ok(None) => {}
        Err(err) => {
            tracing::warn!(error = %err, "cannot look up the job's callback; will retry");
            herald_common::consume::retry_later(&message, &state.config.common.redelivery).await;
            return;
        }
    }
    // One record per event makes the new deliveries visible as `pending`.
    let fan_out = FanOut {
        tenant: event.tenant.clone(),
        event_id: event.event_id.clone(),
        event_type: event.event_type.to_string(),
        job_id: event.job_id.clone(),
        accepted_at_ms: event.accepted_at_ms,
        deliveries: tasks
            .iter()
            .map(|t| (t.delivery_id.clone(), t.endpoint_id.clone()))
            .collect(),
    };
    span.record("tasks", tasks.len());
    let (direct, tasks) = hand_over(state, &message, tasks);
    let mut failed = publish_all(state, &message, &tasks).await;
    drop(tasks);
    if failed.is_empty()
        && !fan_out.deliveries.is_empty()
        && let Err(err) = state
            .records
            .publish(
                &event.tenant,
                RecordType::FanOut,
                fan_out.subject(),
                fan_out.message_id(),
                fan_out.encode(),
            )
            .await
    {
        tracing::warn!(error = %err, "cannot record the fan-out");
        failed.push(err.kind());
    }
    match direct {
        // The event is finished with once its handed-over tasks are: waited for
        // apart, so the next events are fanned out meanwhile.
        Some(direct) if failed.is_empty() => {
            let held = state.clone();
            let waiting = async move { Box::pin(settle(&held, message, direct)).await };
            state.fan_outs.spawn(waiting.in_current_span());
        }
        // Handed-over tasks run anyway; the event comes back and runs them again.
        _ => finish(state, &message, failed).await,
    }
}

/// An event's one task, taken by its endpoint's lane on this replica straight
/// from the fan-out, and the event's share of [`DIRECT_EVENTS`]. The task is kept
/// to be stored should it come back (the lane holds a copy; its event's data is
/// shared between them, not copied).
struct Direct {
    task: DeliveryTask,
    done: tokio::sync::oneshot::Receiver<()>,
    _event: tokio::sync::OwnedSemaphorePermit,
}

/// Shares of [`DIRECT_SHARE`] bytes for events whose tasks were handed over and
/// are not over yet. Such an event holds its message and its decoded data, and
/// takes a share per `DIRECT_SHARE` of them, at least one: at most 512 events wait
/// so (the fan-out consumer's pending limit, 1024, keeps room beyond them for the
/// fan-outs under way, so endpoints that hold their attempts long cannot stop
/// fan-out), holding at most 32 MiB.
pub const DIRECT_EVENTS: usize = 512;
const DIRECT_SHARE: usize = 64 << 10;

/// Hands an event's task straight to its lane when the event has one target, its
/// endpoint's partition is owned here and the lane expects to start it soon: its
/// first attempt then needs no stored task. Returns it, or the tasks to store.
///
/// Only an event with one target: an event's tasks finish at different times, and
/// should the dispatcher die while one of them runs, the event comes back and
/// every task handed over would be attempted again, also to the endpoints that
/// already have it. Stored tasks are de-duplicated by their message ids instead.
fn hand_over(
    state: &State,
    message: &jetstream::Message,
    mut tasks: Vec<DeliveryTask>,
) -> (Option<Direct>, Vec<DeliveryTask>) {
    let [task] = tasks.as_slice() else {
        return (None, tasks);
    };
    let Some(partition) = state.owned.of(&task.event.tenant, &task.endpoint_id) else {
        return (None, tasks);
    };
    let shares = (message.payload.len() + task.event.data.len())
        .div_ceil(DIRECT_SHARE)
        .max(1);
    let shares = u32::try_from(shares).unwrap_or(u32::MAX);
    let Ok(permit) = state.direct_events.clone().try_acquire_many_owned(shares) else {
        return (None, tasks);
    };
    let Some(done) = partition.offer(task) else {
        return (None, tasks);
    };
    herald_common::metrics::metrics().tasks_handed_over.inc();
    let task = tasks.pop().expect("one task");
    let direct = Direct {
        task,
        done,
        _event: permit,
    };
    (Some(direct), tasks)
}

/// Waits until the handed-over task is over, stores it should it have come back,
/// then finishes with the event.
async fn settle(state: &State, message: jetstream::Message, direct: Direct) {
    let Direct { task, done, _event } = direct;
    tokio::pin!(done);
    let came_back = loop {
        tokio::select! {
            answer = &mut done => break answer.is_err(),
            _ = tokio::time::sleep(PROGRESS_EVERY) => {
                let _ = message.ack_with(AckKind::Progress).await;
            }
        }
    };
    let mut failed = Vec::new();
    if came_back {
        herald_common::metrics::metrics().tasks_handed_back.inc();
        if let Err(err) = state
            .publish(task.subject(), &task.message_id(), task.encode())
            .await
        {
            failed.push(err.kind());
        }
    }
    finish(state, &message, failed).await
}

/// Acknowledges the event once all went well, else parks it (the broker refuses
/// something as such) or has it come back.
async fn finish(state: &State, message: &jetstream::Message, failed: Vec<PublishErrorKind>) {
    if failed.is_empty() {
        if let Err(err) = message.ack().await {
            tracing::warn!(error = %err, "cannot acknowledge an event");
        }
    } else if failed.contains(&PublishErrorKind::Rejected) {
        // The broker refuses a task or the record as such: another try would not
        // help.
        let reason = "the broker refuses a delivery task or the fan-out record";
        herald_common::consume::park(message, reason).await;
    } else {
        let failed = failed.len();
        tracing::warn!(failed, "fan-out incomplete; will retry");
        herald_common::consume::retry_later(message, &state.config.common.redelivery).await;
    }
}

/// Publishes `tasks`, a bounded number at once and within the fan-out budget, so
/// a large event to many webhooks holds few encoded copies at a time; tells the
/// broker the event is in progress while it takes long. Returns what each failure
/// means.
async fn publish_all(
    state: &State,
    message: &jetstream::Message,
    tasks: &[DeliveryTask],
) -> Vec<PublishErrorKind> {
    let kib = u32::try_from(
        (tasks.first().map_or(0, |t| t.event.data.len()) / 1024 + 1).min(crate::FAN_OUT_BUDGET_KIB),
    )
    .unwrap_or(u32::MAX);
    let publishing = futures::stream::iter(0..tasks.len())
        .map(|i| async move {
            let task = &tasks[i];
            let _budget = state
                .fan_out_budget
                .acquire_many(kib)
                .await
                .expect("never closed");
            state
                .publish(task.subject(), &task.message_id(), task.encode())
                .await
        })
        .buffer_unordered(PUBLISHES_AT_ONCE)
        .filter_map(|result| {
            std::future::ready(result.err().map(|err| {
                tracing::debug!(error = %err, "cannot publish a delivery task");
                err.kind()
            }))
        })
        .collect::<Vec<_>>();
    tokio::pin!(publishing);
    loop {
        tokio::select! {
            failed = &mut publishing => return failed,
            _ = tokio::time::sleep(PROGRESS_EVERY) => {
                let _ = message.ack_with(AckKind::Progress).await;
            }
        }
    }
}

/// Task publishes one fan-out awaits at once.
const PUBLISHES_AT_ONCE: usize = 64;
/// How often a long fan-out tells the broker it is still at work (its ack wait is
/// 30 s).
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// One first-attempt task per active endpoint of the tenant that subscribes to the
/// event's type.
fn tasks_for(state: &State, event: &Event, traceparent: Option<String>) -> Vec<DeliveryTask> {
    // One tenant's endpoints, in id order, without looking at any other tenant's.
    let endpoints = state
        .endpoints()
        .values_with_prefix(&format!("{}.", event.tenant));
    endpoints
        .into_iter()
        .filter(|e| e.subscribes_to(event.event_type.as_str()))
        .map(|endpoint| DeliveryTask {
            delivery_id: ids::delivery_id(&event.tenant, &event.event_id, &endpoint.id),
            endpoint_id: endpoint.id.clone(),
            attempt: 1,
            event: event.clone(),
            trigger: Trigger::Auto,
            callback: None,
            traceparent: traceparent.clone(),
            run_id: None,
        })
        .collect()
}

/// The task for the job's own callback: the event's, or the one an earlier event of
/// the same job registered.
async fn callback_task(
    state: &State,
    event: &Event,
) -> Result<Option<DeliveryTask>, jetstream::kv::EntryError> {
    let callback = match (&event.callback, &event.job_id) {
        (Some(callback), _) => Some(callback.clone()),
        (None, Some(job_id)) => state
            .job_callbacks
            .get(Callback::job_key(&event.tenant, job_id))
            .await?
            .and_then(|bytes| match Callback::decode(&bytes) {
                Ok(callback) => Some(callback),
                Err(err) => {
                    tracing::error!(error = %err, "unreadable job callback ignored");
                    None
                }
            }),
        (None, None) => None,
    };
    Ok(callback.map(|callback| {
        let target_id = callback.target_id(&event.tenant);
        DeliveryTask {
            delivery_id: ids::delivery_id(&event.tenant, &event.event_id, &target_id),
            endpoint_id: target_id,
            attempt: 1,
            event: event.clone(),
            trigger: Trigger::Auto,
            callback: Some(CallbackTarget {
                url: callback.url,
                headers: callback.headers,
                payload_format: callback.payload_format,
            }),
            traceparent: None,
            run_id: None,
        }
    }))
}
