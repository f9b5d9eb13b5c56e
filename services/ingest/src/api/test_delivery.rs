//! `POST /v1/webhooks/{id}/test`: deliver a `webhook.test` event right away and
//! answer with the attempt's outcome. The dispatcher makes the attempt (it owns the
//! HTTP client and its SSRF policy); ingest asks it over NATS request/reply.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use bytes::Bytes;
use herald_proto::{DeliveryAttempt, DeliveryTask, Event, EventType, Trigger, ids};
use serde_json::{Value, json};

use super::{ApiError, AppState, Tenant};

/// The subject the dispatcher answers test deliveries on.
const SUBJECT: &str = "herald.dispatch.test";

pub async fn send(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let endpoint = super::webhooks::find(&state, &tenant, &id).await?;
    let now = herald_proto::now_ms();
    let event_id = crate::intake::new_event_id();
    let data = json!({
        "webhook_id": endpoint.id,
        "message": "This is a test event from Herald.",
    });
    let event = Event {
        event_id: event_id.clone(),
        tenant: tenant.clone(),
        event_type: EventType::parse("webhook.test").expect("valid type"),
        data: Bytes::from(data.to_string()),
        job_id: None,
        timestamp_ms: now,
        accepted_at_ms: now,
        callback: None,
    };
    let task = DeliveryTask {
        delivery_id: ids::delivery_id(&tenant, &event_id, &endpoint.id),
        endpoint_id: endpoint.id.clone(),
        attempt: 1,
        event,
        trigger: Trigger::Manual,
        callback: None,
        traceparent: None,
        run_id: Some(ulid::Ulid::new().to_string()),
    };
    // Longer than any delivery timeout, so the attempt's own timeout decides.
    let reply = tokio::time::timeout(
        Duration::from_secs(40),
        state.client().request(SUBJECT, task.encode()),
    )
    .await
    .map_err(|_| ApiError::Unavailable("the test delivery did not finish in time".into()))?
    .map_err(|e| match e.kind() {
        async_nats::RequestErrorKind::NoResponders => {
            ApiError::Unavailable("no dispatcher is running".into())
        }
        _ => ApiError::internal(e),
    })?;
    let attempt = DeliveryAttempt::decode(&reply.payload)
        .map_err(|_| ApiError::Internal("the dispatcher could not make the attempt".into()))?;
    Ok(Json(json!({
        "success": attempt.outcome == herald_proto::AttemptOutcome::Succeeded,
        "delivery_id": attempt.task.delivery_id,
        "event_id": attempt.task.event.event_id,
        "status_code": attempt.status_code,
        "response_time_ms": attempt.duration_ms,
        "error": attempt.error,
        "response_body": attempt.response_excerpt,
    })))
}
