//! Delivery: for each task, one signed HTTP attempt, then its record on
//! `outcomes.<tenant>.<endpoint_id>.<succeeded|failed>`, then the task's ack. A
//! crash between the attempt and the ack repeats the attempt (at least once); the
//! receiver tells repeats apart by `webhook-id`.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use herald_common::bundle::RecordError;
use herald_common::publish::PublishError;
use herald_proto::{
    AttemptOutcome, DeliveryAttempt, DeliveryTask, Endpoint, EndpointStatus, PayloadFormat, Trigger,
};

use herald_proto::names::{DeliveryStatus, RecordType, header};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::State;
use crate::sender::{Request, Response};

/// Why a task is not finished with and must be tried again.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error("cannot record the attempt: {0}")]
    Record(#[from] RecordError),
    #[error("cannot park an undecodable task: {0}")]
    Reject(#[source] PublishError),
    #[error("cannot look the target up: {0}")]
    Lookup(#[from] LookupError),
    /// The drain's time for attempts in flight ran out: the attempt was abandoned
    /// unrecorded, and the task is handed back to be tried again.
    #[error("the attempt was cut by the drain")]
    Cut,
}

/// Why a task's target could not be looked up; worth trying again.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("cannot read the callback secret: {0}")]
    Secret(#[from] async_nats::jetstream::kv::EntryError),
    #[error(transparent)]
    Registry(#[from] herald_common::registry::RegistryError),
}

/// Where and how a task is delivered.
pub struct Target {
    pub url: String,
    /// The static or callback headers, their values opened: only for the request.
    pub headers: BTreeMap<String, String>,
    pub secrets: Vec<String>,
    pub format: PayloadFormat,
    pub timeout: Duration,
    pub rate_limit_per_sec: Option<u32>,
    /// Why the attempt is refused without sending (a disabled webhook).
    pub refusal: Option<String>,
    /// For a listening session: the core NATS subject its requests go to instead
    /// of an HTTP request.
    pub listen: Option<String>,
}

/// Delivers one encoded task from `subject`: one attempt (unless refused), and its
/// record. `Ok` when the task is finished with (recorded, or undecodable and
/// parked in `REJECTED`); the caller then
/// acknowledges it. `traceparent` is the one its message carried, for tasks whose
/// body carries none. `sent` runs as soon as the endpoint has answered (or was
/// not asked), before the record is written: the endpoint is free from then on.
/// When `cut` fires while the endpoint has not answered, the attempt is abandoned
/// with [`DeliverError::Cut`]; a record being written is always finished.
pub async fn deliver(
    state: &State,
    subject: &str,
    payload: Bytes,
    traceparent: Option<&str>,
    cut: &CancellationToken,
    sent: impl FnOnce(),
) -> Result<(), DeliverError> {
    let task = match DeliveryTask::decode_shared(payload.clone()) {
        Ok(task) => task,
        Err(err) => {
            sent();
            let reason = format!("undecodable delivery task: {err}");
            return herald_common::consume::reject(&state.jetstream, subject, payload, &reason)
                .await
                .map_err(DeliverError::Reject);
        }
    };
    deliver_task(state, task, traceparent, cut, sent).await
}

/// [`deliver`] for a task already decoded: one the fan-out handed over.
pub async fn deliver_task(
    state: &State,
    task: DeliveryTask,
    traceparent: Option<&str>,
    cut: &CancellationToken,
    sent: impl FnOnce(),
) -> Result<(), DeliverError> {
    let span = tracing::info_span!(
        "dispatcher.deliver",
        otel.kind = "consumer",
        tenant = %task.event.tenant,
        event_id = %task.event.event_id,
        webhook_id = %task.endpoint_id,
        delivery_id = %task.delivery_id,
        attempt = task.attempt,
        trace_id = tracing::field::Empty,
    );
    // The task carries its trace context: a retry published by the broker hours
    // later has no other.
    match task.traceparent.as_deref().or(traceparent) {
        Some(traceparent) => {
            herald_common::trace::adopt_pairs(&span, &[(header::TRACEPARENT, traceparent)])
        }
        None => herald_common::trace::adopt(&span, None),
    }
    attempt_and_record(state, task, cut, sent)
        .instrument(span)
        .await
}

async fn attempt_and_record(
    state: &State,
    task: DeliveryTask,
    cut: &CancellationToken,
    sent: impl FnOnce(),
) -> Result<(), DeliverError> {
    let target = match target(state, &task).await {
        Ok(target) => target,
        Err(err) => {
            sent();
            return Err(err);
        }
    };
    let response = match target.refusal.clone() {
        Some(reason) => Some(Response::refused(reason)),
        None => tokio::select! {
            response = attempt(state, &task, &target) => Some(response),
            () = cut.cancelled() => None,
        },
    };
    sent();
    let Some(response) = response else {
        return Err(DeliverError::Cut);
    };
    let record = record(state, task, response)
        .await
        .map_err(DeliverError::Record)?;
    if record.outcome == AttemptOutcome::Succeeded && record.task.trigger == Trigger::Manual {
        forget_held_retry(state, &record.task).await;
    }
    Ok(())
}

/// A manual attempt delivered what an automatic retry held by the broker was
/// waiting to deliver: the retry is dropped. Should it fire anyway (it was already
/// due), the receiver gets the event once more, with the same `webhook-id`.
async fn forget_held_retry(state: &State, task: &DeliveryTask) {
    let tenant = &task.event.tenant;
    if let Err(err) = herald_common::nats::purge_held_retry(
        &state.jetstream,
        tenant,
        &task.endpoint_id,
        &task.delivery_id,
    )
    .await
    {
        tracing::warn!(error = %err, "cannot drop the retry a manual attempt made needless");
    }
}

/// The target of `task`: its webhook, or the job's callback. A webhook that is
/// missing or disabled in this replica's mirror is looked up in the bucket first,
/// since the mirror may lag behind a change; one that is really gone gets a target
/// that refuses, so the delivery is recorded `failed` with the reason.
pub async fn target(state: &State, task: &DeliveryTask) -> Result<Target, DeliverError> {
    let tenant = &task.event.tenant;
    if let Some(callback) = &task.callback {
        let secret = state
            .callback_secret(tenant)
            .await
            .map_err(LookupError::from)?;
        let refusal = secret
            .is_none()
            .then(|| "refused: the tenant has no callback secret".to_owned());
        let cipher = &state.config.cipher;
        return Ok(Target {
            url: callback.url.clone(),
            headers: callback.headers.open(&|value| cipher.open(value)),
            secrets: secret.into_iter().collect(),
            format: callback.payload_format,
            timeout: state.config.delivery_timeout,
            rate_limit_per_sec: None,
            refusal,
            listen: None,
        });
    }
    let mirrored = state
        .endpoints()
        .get(&Endpoint::key_for(tenant, &task.endpoint_id));
    let endpoint = match mirrored {
        // A session the mirror holds as expired may have been kept alive since.
        Some(endpoint)
            if endpoint.status != EndpointStatus::Disabled
                && !endpoint.is_expired(herald_proto::now_ms()) =>
        {
            endpoint
        }
        _ => match state
            .registry
            .get(tenant, &task.endpoint_id)
            .await
            .map_err(LookupError::from)?
        {
            Some(endpoint) => std::sync::Arc::new(endpoint),
            None => return Ok(Target::refusing("refused: the webhook was deleted")),
        },
    };
    Ok(Target::of(&endpoint, state.config.delivery_timeout))
}

impl Target {
    /// Where `endpoint`'s deliveries go, signed with the secrets valid now; a
    /// disabled webhook's target refuses. `default_timeout` applies when the
    /// webhook sets none.
    pub fn of(endpoint: &Endpoint, default_timeout: Duration) -> Self {
        let now = herald_proto::now_ms();
        let refusal = if endpoint.is_expired(now) {
            Some("refused: the listening session has ended".to_owned())
        } else {
            (endpoint.status == EndpointStatus::Disabled)
                .then(|| "refused: the webhook is disabled".to_owned())
        };
        Target {
            secrets: endpoint
                .signing_secrets(now)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            refusal,
            listen: endpoint
                .is_session()
                .then(|| herald_proto::listen::subject(&endpoint.tenant, &endpoint.id)),
            url: endpoint.url.clone(),
            headers: endpoint.headers.clone(),
            format: endpoint.payload_format,
            timeout: endpoint.timeout.unwrap_or(default_timeout),
            rate_limit_per_sec: endpoint.rate_limit_per_sec,
        }
    }

    /// A target nothing is sent to, for `reason`.
    fn refusing(reason: &str) -> Self {
        Target {
            url: String::new(),
            headers: Default::default(),
            secrets: Vec::new(),
            format: PayloadFormat::default(),
            timeout: Duration::ZERO,
            rate_limit_per_sec: None,
            refusal: Some(reason.to_owned()),
            listen: None,
        }
    }
}

pub async fn attempt(state: &State, task: &DeliveryTask, target: &Target) -> Response {
    let body = herald_proto::payload::body(&task.event, task.attempt, target.format);
    if let Some(subject) = &target.listen {
        return attempt_to_session(state, task, target, subject, body).await;
    }
    let url = url::Url::parse(&target.url).ok();
    // An HTTP client span, with the semantic-convention attributes.
    let span = tracing::info_span!(
        "POST",
        otel.kind = "client",
        http.request.method = "POST",
        url.full = %crate::ssrf::redact_url(url.as_ref()),
        server.address = url.as_ref().and_then(|u| u.host_str()).unwrap_or_default(),
        server.port = url.as_ref().and_then(|u| u.port_or_known_default()).unwrap_or_default(),
        http.response.status_code = tracing::field::Empty,
        error.type = tracing::field::Empty,
        herald.attempt = task.attempt,
        herald.webhook_id = %task.endpoint_id,
        herald.event_id = %task.event.event_id,
        trace_id = tracing::field::Empty,
    );
    herald_common::trace::adopt(&span, None);
    let traceparent = herald_common::trace::traceparent(&span);
    let response = state
        .sender
        .send(request(
            task,
            target,
            url.as_ref(),
            body,
            traceparent.as_deref(),
        ))
        .instrument(span.clone())
        .await;
    if let Some(code) = response.status_code {
        span.record("http.response.status_code", code);
    }
    if let Some(error) = &response.error {
        span.record("error.type", error.as_str());
    }
    redact(response, &target.headers)
}

/// The request of `task`'s attempt to `target`, with `body` made for it.
fn request<'a>(
    task: &'a DeliveryTask,
    target: &'a Target,
    url: Option<&'a url::Url>,
    body: Vec<u8>,
    traceparent: Option<&'a str>,
) -> Request<'a> {
    Request {
        url,
        body,
        secrets: target.secrets.iter().map(String::as_str).collect(),
        msg_id: &task.event.event_id,
        webhook_id: &task.endpoint_id,
        headers: &target.headers,
        timeout: target.timeout,
        traceparent,
    }
}

/// An attempt to a listening session: the request an HTTP attempt would send,
/// handed to the session's CLI over NATS.
async fn attempt_to_session(
    state: &State,
    task: &DeliveryTask,
    target: &Target,
    subject: &str,
    body: Vec<u8>,
) -> Response {
    let span = tracing::info_span!(
        "listen",
        otel.kind = "client",
        herald.attempt = task.attempt,
        herald.webhook_id = %task.endpoint_id,
        herald.event_id = %task.event.event_id,
        trace_id = tracing::field::Empty,
    );
    herald_common::trace::adopt(&span, None);
    let traceparent = herald_common::trace::traceparent(&span);
    let request =
        state
            .sender
            .listen_request(request(task, target, None, body, traceparent.as_deref()));
    let Some(request) = request else {
        return Response::refused(
            "refused: the delivery's ids cannot be sent as header values".into(),
        );
    };
    crate::listen::send(&state.client, subject.to_owned(), request, target.timeout)
        .instrument(span)
        .await
}

/// Header values shorter than this are not looked for in a response: they are
/// rarely credentials, and blotting out every `1` or `prod` would spoil excerpts.
const MIN_REDACTED: usize = 8;

/// `response` with every header value of the request (of [`MIN_REDACTED`] bytes or
/// more) blotted out of its excerpt, also when the excerpt ends partway into one: a
/// receiver that echoes the request (an echo service, a verbose error page) must not
/// put a credential into the attempt record, which the broker and the status store
/// keep and the API shows.
fn redact(mut response: Response, headers: &BTreeMap<String, String>) -> Response {
    const BLOT: &str = "[redacted]";
    for value in headers.values().filter(|v| v.len() >= MIN_REDACTED) {
        if response.excerpt.contains(value.as_str()) {
            response.excerpt = response.excerpt.replace(value.as_str(), BLOT);
        }
        // The excerpt is cut at its bound, perhaps inside a value.
        let cut = (MIN_REDACTED..value.len())
            .rev()
            .filter(|&end| value.is_char_boundary(end))
            .find(|&end| response.excerpt.ends_with(&value[..end]));
        if let Some(end) = cut {
            let keep = response.excerpt.len() - end;
            response.excerpt.truncate(keep);
            response.excerpt.push_str(BLOT);
        }
    }
    response
}

/// Publishes the record of an attempt and returns it.
pub async fn record(
    state: &State,
    task: DeliveryTask,
    response: Response,
) -> Result<DeliveryAttempt, RecordError> {
    let outcome = if response.succeeded() {
        AttemptOutcome::Succeeded
    } else if response.refused {
        AttemptOutcome::Refused
    } else {
        AttemptOutcome::Failed
    };
    let metrics = herald_common::metrics::metrics();
    let status = if outcome == AttemptOutcome::Succeeded {
        DeliveryStatus::Success
    } else {
        DeliveryStatus::Failed
    }
    .as_str();
    let label = herald_common::metrics::StatusLabel { status };
    metrics.delivery_attempts.get_or_create(&label).inc();
    if !response.refused {
        metrics
            .attempt_duration
            .get_or_create(&label)
            .observe(response.duration_ms as f64 / 1000.0);
    }
    if outcome == AttemptOutcome::Succeeded {
        let waited = (herald_proto::now_ms() - task.event.accepted_at_ms).max(0) as f64 / 1000.0;
        metrics.delivery_latency.observe(waited);
        if task.attempt == 1 && task.trigger == Trigger::Auto {
            metrics.first_attempt_latency.observe(waited);
        }
    }
    let mut task = task;
    if outcome == AttemptOutcome::Succeeded {
        // Only the status tracker reads a success, and it keeps the event from
        // `EVENTS`: the record need not store the event's data a second time.
        task.event.data = bytes::Bytes::from_static(b"null");
    }
    let record = DeliveryAttempt {
        task,
        outcome,
        status_code: response.status_code,
        duration_ms: response.duration_ms,
        error: response.error,
        response_excerpt: response.excerpt,
        attempted_at_ms: herald_proto::now_ms(),
        retry_after_secs: response.retry_after_secs,
    };
    if outcome == AttemptOutcome::Succeeded {
        // Only the status tracker reads these: they may go in a bundle.
        state
            .records
            .publish(
                &record.task.event.tenant,
                RecordType::Attempt,
                record.subject(),
                record.message_id(),
                record.encode(),
            )
            .await?;
    } else {
        state
            .publish_record(
                RecordType::Attempt,
                record.subject(),
                &record.message_id(),
                record.encode(),
            )
            .await?;
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excerpt(text: &str) -> Response {
        Response {
            status_code: Some(500),
            duration_ms: 1,
            error: Some("HTTP 500".into()),
            excerpt: text.to_owned(),
            retry_after_secs: None,
            refused: false,
        }
    }

    #[test]
    fn header_values_echoed_by_the_receiver_are_blotted_out() {
        let headers = BTreeMap::from([
            ("Authorization".to_owned(), "Bearer tok-123456".to_owned()),
            ("X-Env".to_owned(), "prod".to_owned()),
        ]);
        let echoed = redact(
            excerpt("got Authorization: Bearer tok-123456, X-Env: prod"),
            &headers,
        );
        assert_eq!(echoed.excerpt, "got Authorization: [redacted], X-Env: prod");
        // Cut at the excerpt's bound partway into a value.
        let cut = redact(excerpt("echo: Bearer tok-12"), &headers);
        assert_eq!(cut.excerpt, "echo: [redacted]");
        // Shorter endings are words, not values.
        let plain = redact(excerpt("a Bearer"), &headers);
        assert_eq!(plain.excerpt, "a Bearer");
        assert_eq!(redact(excerpt(""), &headers).excerpt, "");
    }
}
