//! Server-Sent Events for customers who cannot receive webhooks:
//! `GET /v1/jobs/{job_id}/stream` (the job's state, then every change, ending after
//! a final state; 404 for a job Herald has no record of, as `GET /v1/jobs/{job_id}`)
//! and `GET /v1/stream?events=job.*` (the tenant's events as they are accepted).
//! Both follow core NATS subjects, so any ingest replica can serve them.
//!
//! A tenant may have `HERALD_STREAM_MAX_PER_TENANT` streams open at once on one
//! replica, each following at most `HERALD_STREAM_MAX_PATTERNS` patterns; see
//! [`relay`] for how a stream's memory stays bounded and how it ends.

pub(super) mod relay;

use axum::extract::{Path, State};
use axum::response::Response;
use futures::stream;
use herald_model::deliveries::Job;
use herald_model::payloads::EnvelopePayload;
use herald_model::{ErrorBody, EventId, JobId};
use herald_proto::query::job_changes_subject;
use herald_proto::{Event, EventPattern};
use serde::Deserialize;
use serde_json::Value;

use super::query::AppQuery;
use super::{ApiError, AppState, Tenant};
use relay::{Frame, Relay, Step};

/// Follows a job as Server-Sent Events: an event `job` with its state (as
/// `GET /v1/jobs/{job_id}` without history) now and after every change; the stream
/// ends after a final state.
#[utoipa::path(
    get, path = "/v1/jobs/{job_id}/stream", operation_id = "stream_job", tag = "jobs",
    params(("job_id" = JobId, Path, description = "The job's id")),
    responses(
        (status = 200, description = "A stream of `event: job` frames whose `data` is a Job", content_type = "text/event-stream", body = herald_model::payloads::JobStreamFrame),
        (status = 404, description = "No event of this job", body = ErrorBody),
        (status = 429, description = "The tenant has as many streams open as it may (`limit_exceeded`)", body = ErrorBody),
    )
)]
pub async fn job(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(job_id): Path<JobId>,
) -> Result<Response, ApiError> {
    let job_id = job_id.into_inner();
    let slot = state.limits().open_stream(&tenant)?;
    // Subscribe before reading the current state, so no change falls in between.
    let changes = state
        .client()
        .subscribe(job_changes_subject(&tenant, &job_id))
        .await
        .map_err(ApiError::internal)?;
    let current =
        super::status::job_view(&state, super::status::JobView::StateOnly, &tenant, &job_id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no job `{job_id}`")))?;
    let text = serde_json::to_string(&current).map_err(ApiError::internal)?;
    let first = Frame::new("job", None, &text).into_event();
    let relay = if current.is_final {
        None
    } else {
        let mut last = Some(text);
        Some(Relay::start(
            changes,
            &state.config().limits,
            move |message| {
                let Ok(view) = serde_json::from_slice::<Job>(&message.payload) else {
                    return Step::Skip;
                };
                let Ok(text) = serde_json::to_string(&view) else {
                    return Step::Skip;
                };
                if last.as_deref() == Some(text.as_str()) {
                    return Step::Skip;
                }
                let frame = Frame::new("job", None, &text);
                last = Some(text);
                if view.is_final {
                    Step::Last(frame)
                } else {
                    Step::Send(frame)
                }
            },
        ))
    };
    Ok(relay::respond(
        Some(first),
        relay,
        slot,
        state.shutdown().clone(),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Comma-separated event types or patterns (`job.*`, `training.>`); all when
    /// left out.
    #[param(example = "job.*,training.>")]
    events: Option<String>,
}

/// Follows the tenant's events as Server-Sent Events, as they are accepted: one
/// frame per event whose type matches, named by its type, with its id, and the
/// event in the `envelope` shape (with `job_id`, without `retry_count`) as `data`.
/// The stream does not end by itself.
#[utoipa::path(
    get, path = "/v1/stream", operation_id = "stream_events", tag = "events",
    params(StreamQuery),
    responses(
        (status = 200, description = "A stream of frames whose `data` is an EnvelopePayload", content_type = "text/event-stream", body = herald_model::payloads::EventStreamFrame),
        (status = 422, description = "A pattern is invalid", body = ErrorBody),
        (status = 429, description = "Too many patterns, or as many streams open as the tenant may (`limit_exceeded`)", body = ErrorBody),
    )
)]
pub async fn events(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    AppQuery(params): AppQuery<StreamQuery>,
) -> Result<Response, ApiError> {
    let limits = &state.config().limits;
    let entries = params.events.unwrap_or_else(|| ">".into());
    let mut patterns = Vec::new();
    for entry in entries.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let pattern = EventPattern::parse(entry)
            .map_err(|r| ApiError::Unprocessable(format!("events entry `{entry}` {r}")))?;
        patterns.push(pattern);
    }
    if patterns.is_empty() {
        return Err(ApiError::Unprocessable(
            "events must name at least one pattern".into(),
        ));
    }
    if patterns.len() > limits.stream_patterns {
        return Err(ApiError::too_many(format!(
            "events may name at most {} patterns (HERALD_STREAM_MAX_PATTERNS)",
            limits.stream_patterns
        )));
    }
    let slot = state.limits().open_stream(&tenant)?;
    let mut subscriptions = Vec::new();
    for pattern in patterns {
        let subscription = state
            .client()
            .subscribe(herald_proto::names::subject::events_matching(
                &tenant,
                pattern.as_str(),
            ))
            .await
            .map_err(ApiError::internal)?;
        subscriptions.push(subscription);
    }
    let relay = Relay::start(stream::select_all(subscriptions), limits, |message| {
        let Ok(event) = Event::decode(&message.payload) else {
            return Step::Skip;
        };
        let body = EnvelopePayload {
            event_id: EventId::from_record(event.event_id.clone()),
            event_type: event.event_type.as_str().to_owned(),
            api_version: "v1".into(),
            timestamp: herald_proto::rfc3339(event.timestamp_ms),
            data: serde_json::from_slice::<Value>(&event.data).unwrap_or(Value::Null),
            retry_count: None,
            job_id: event.job_id.map(JobId::from_record),
        };
        let Ok(text) = serde_json::to_string(&body) else {
            return Step::Skip;
        };
        Step::Send(Frame::new(
            event.event_type.as_str(),
            Some(&event.event_id),
            &text,
        ))
    });
    Ok(relay::respond(
        None,
        Some(relay),
        slot,
        state.shutdown().clone(),
    ))
}
