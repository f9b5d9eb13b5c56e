//! Server-Sent Events for customers who cannot receive webhooks:
//! `GET /v1/jobs/{job_id}/stream` (the job's state, then every change, ending after
//! a final state) and `GET /v1/stream?events=job.*` (the tenant's events as they are
//! accepted). Both follow core NATS subjects, so any ingest replica can serve them.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, BoxStream, StreamExt};
use herald_proto::query::job_changes_subject;
use herald_proto::{Event, EventPattern};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, AppState, Tenant};

type Events = BoxStream<'static, Result<SseEvent, Infallible>>;

fn is_final(view: &Value) -> bool {
    view["final"].as_bool().unwrap_or(false)
}

fn job_event(view: &Value) -> SseEvent {
    SseEvent::default().event("job").data(view.to_string())
}

/// `GET /v1/jobs/{job_id}/stream`.
pub async fn job(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(job_id): Path<String>,
) -> Result<Response, ApiError> {
    // Subscribe before reading the current state, so no change falls in between.
    let changes = state
        .client()
        .subscribe(job_changes_subject(&tenant, &job_id))
        .await
        .map_err(ApiError::internal)?;
    let current: Option<Value> = super::status::job_view(&state, "job.state", &tenant, &job_id)
        .await?
        .map(|bytes| serde_json::from_slice(&bytes))
        .transpose()
        .map_err(ApiError::internal)?;
    let first: Vec<Result<SseEvent, Infallible>> =
        current.iter().map(|v| Ok(job_event(v))).collect();
    if current.as_ref().is_some_and(is_final) {
        return Ok(Sse::new(stream::iter(first).boxed()).into_response());
    }
    let last = current.map(|v| v.to_string());
    let updates = stream::unfold(
        (changes, last, false),
        |(mut changes, last, done)| async move {
            if done {
                return None;
            }
            loop {
                let message = changes.next().await?;
                let Ok(view) = serde_json::from_slice::<Value>(&message.payload) else {
                    continue;
                };
                let text = view.to_string();
                if last.as_deref() == Some(text.as_str()) {
                    continue;
                }
                let done = is_final(&view);
                return Some((Ok(job_event(&view)), (changes, Some(text), done)));
            }
        },
    );
    Ok(Sse::new(stream::iter(first).chain(updates).boxed())
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    events: Option<String>,
}

/// `GET /v1/stream?events=job.*,training.>`: every event of the tenant whose type
/// matches, as it is accepted, in the `envelope` shape.
pub async fn events(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Query(params): Query<StreamQuery>,
) -> Result<Response, ApiError> {
    let patterns = params.events.unwrap_or_else(|| ">".into());
    let mut subscriptions = Vec::new();
    for entry in patterns.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let pattern = EventPattern::parse(entry)
            .map_err(|r| ApiError::Unprocessable(format!("events entry `{entry}` {r}")))?;
        let subscription = state
            .client()
            .subscribe(format!("events.{tenant}.{pattern}"))
            .await
            .map_err(ApiError::internal)?;
        subscriptions.push(subscription);
    }
    if subscriptions.is_empty() {
        return Err(ApiError::Unprocessable(
            "events must name at least one pattern".into(),
        ));
    }
    let events = stream::select_all(subscriptions).filter_map(|message| async move {
        let event = Event::decode(&message.payload).ok()?;
        let body = json!({
            "event_id": event.event_id,
            "event_type": event.event_type.as_str(),
            "api_version": "v1",
            "timestamp": herald_proto::rfc3339(event.timestamp_ms),
            "job_id": event.job_id,
            "data": serde_json::from_slice::<Value>(&event.data).unwrap_or(Value::Null),
        });
        Some(Ok(SseEvent::default()
            .id(event.event_id.clone())
            .event(event.event_type.as_str())
            .data(body.to_string())))
    });
    let events: Events = events.boxed();
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}
