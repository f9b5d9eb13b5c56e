//! Server-Sent Events for customers who cannot receive webhooks:
//! `GET /v1/jobs/{job_id}/stream` (the job's state, then every change, ending after
//! a final state; 404 for a job Herald has no record of, as `GET /v1/jobs/{job_id}`)
//! and `GET /v1/stream?events=job.*` (the tenant's events as they are accepted).
//! Both follow core NATS subjects, so any ingest replica can serve them.
//!
//! A tenant may have `HERALD_STREAM_MAX_PER_TENANT` streams open at once on one
//! replica, each following at most `HERALD_STREAM_MAX_PATTERNS` patterns; see
//! [`relay`] for how a stream's memory stays bounded and how it ends.

mod relay;

use axum::extract::{Path, State};
use axum::response::Response;
use futures::stream;
use herald_proto::query::job_changes_subject;
use herald_proto::{Event, EventPattern};
use serde::Deserialize;
use serde_json::{Value, json};

use super::query::AppQuery;
use super::{ApiError, AppState, Tenant};
use relay::{Frame, Relay, Step};

fn is_final(view: &Value) -> bool {
    view["final"].as_bool().unwrap_or(false)
}

/// `GET /v1/jobs/{job_id}/stream`.
pub async fn job(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(job_id): Path<String>,
) -> Result<Response, ApiError> {
    let slot = state.limits().open_stream(&tenant)?;
    // Subscribe before reading the current state, so no change falls in between.
    let changes = state
        .client()
        .subscribe(job_changes_subject(&tenant, &job_id))
        .await
        .map_err(ApiError::internal)?;
    let current: Value =
        super::status::job_view(&state, super::status::JobView::StateOnly, &tenant, &job_id)
            .await?
            .map(|bytes| serde_json::from_slice(&bytes))
            .transpose()
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::NotFound(format!("no job `{job_id}`")))?;
    let text = current.to_string();
    let first = Frame::new("job", None, &text).into_event();
    let relay = if is_final(&current) {
        None
    } else {
        let mut last = Some(text);
        Some(Relay::start(
            changes,
            &state.config().limits,
            move |message| {
                let Ok(view) = serde_json::from_slice::<Value>(&message.payload) else {
                    return Step::Skip;
                };
                let text = view.to_string();
                if last.as_deref() == Some(text.as_str()) {
                    return Step::Skip;
                }
                let frame = Frame::new("job", None, &text);
                last = Some(text);
                if is_final(&view) {
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
        let body = json!({
            "event_id": event.event_id,
            "event_type": event.event_type.as_str(),
            "api_version": "v1",
            "timestamp": herald_proto::rfc3339(event.timestamp_ms),
            "job_id": event.job_id,
            "data": serde_json::from_slice::<Value>(&event.data).unwrap_or(Value::Null),
        });
        Step::Send(Frame::new(
            event.event_type.as_str(),
            Some(&event.event_id),
            &body.to_string(),
        ))
    });
    Ok(relay::respond(
        None,
        Some(relay),
        slot,
        state.shutdown().clone(),
    ))
}
