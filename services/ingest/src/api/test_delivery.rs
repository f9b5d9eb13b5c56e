//! `POST /v1/webhooks/{id}/test`: deliver a `webhook.test` event right away and
//! answer with the attempt's outcome. The dispatcher makes the attempt (it owns the
//! HTTP client and its SSRF policy); ingest asks it over NATS request/reply.
//!
//! The attempt may take the webhook's whole timeout (`timeout_ms`, or up to 30 s
//! without one), so ingest waits that long plus [`REPLY_MARGIN`] for the answer, and
//! the route's own time limit, [`ROUTE_TIME_LIMIT`], is above the longest wait: the
//! client always gets the attempt's outcome, a timeout included.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use bytes::Bytes;
use herald_model::webhooks::TestResult;
use herald_model::{DeliveryId, ErrorBody, EventId, WebhookId};
use herald_proto::{DeliveryAttempt, DeliveryTask, Event, Trigger, ids};
use serde_json::json;

use super::{ApiError, AppState, Tenant};

/// The subject the dispatcher answers test deliveries on.
use herald_proto::names::subject::TEST_DELIVERY as SUBJECT;

/// The longest an attempt may take: the upper bound of both a webhook's
/// `timeout_ms` and `HERALD_DELIVERY_TIMEOUT`, the dispatcher's default for a
/// webhook without one (which ingest does not know).
const MAX_ATTEMPT: Duration = herald_common::shutdown::LONGEST_ATTEMPT;

/// What the answer may take beyond the attempt: the request to the dispatcher, its
/// lookup of the webhook, and the reply.
pub const REPLY_MARGIN: Duration = Duration::from_secs(5);

/// The route's time limit: above the longest wait, so it never cuts one short.
pub const ROUTE_TIME_LIMIT: Duration = MAX_ATTEMPT
    .saturating_add(REPLY_MARGIN)
    .saturating_add(REPLY_MARGIN);

/// Sends a `webhook.test` event to the webhook now and answers with what the
/// endpoint answered. The attempt is not retried and not in the delivery log.
#[utoipa::path(
    post, path = "/v1/webhooks/{id}/test", operation_id = "test_webhook", tag = "webhooks",
    params(("id" = WebhookId, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "The attempt was made (`success` says whether the endpoint took it)", body = TestResult),
        (status = 404, description = "No such webhook of this tenant", body = ErrorBody),
    )
)]
pub async fn send(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<WebhookId>,
) -> Result<Json<TestResult>, ApiError> {
    let endpoint = super::webhooks::find(&state, &tenant, id.as_str()).await?;
    let now = herald_proto::now_ms();
    let event_id = crate::intake::new_event_id();
    let data = json!({
        "webhook_id": endpoint.id,
        "message": "This is a test event from Herald.",
    });
    let event = Event {
        event_id: event_id.clone(),
        tenant: tenant.clone(),
        event_type: herald_proto::names::event_type::built_in(
            herald_proto::names::event_type::WEBHOOK_TEST,
        ),
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
    // The attempt's own timeout decides; the wait only covers it and the way back.
    let wait = endpoint.timeout.unwrap_or(MAX_ATTEMPT).min(MAX_ATTEMPT) + REPLY_MARGIN;
    let request = async_nats::Request::new()
        .payload(task.encode())
        .timeout(Some(wait));
    let reply = state
        .client()
        .send_request(SUBJECT, request)
        .await
        .map_err(|e| match e.kind() {
            async_nats::RequestErrorKind::NoResponders => {
                ApiError::Unavailable("no dispatcher is running".into())
            }
            async_nats::RequestErrorKind::TimedOut => {
                ApiError::Unavailable("the test delivery did not finish in time".into())
            }
            _ => ApiError::internal(e),
        })?;
    // An empty answer: the dispatcher could not make or record the attempt (it
    // logs why). The webhook may have been removed meanwhile.
    let Ok(attempt) = DeliveryAttempt::decode(&reply.payload) else {
        super::webhooks::find(&state, &tenant, id.as_str()).await?;
        return Err(ApiError::Unavailable(
            "the test delivery could not be made; try again".into(),
        ));
    };
    Ok(Json(TestResult {
        success: attempt.outcome == herald_proto::AttemptOutcome::Succeeded,
        delivery_id: DeliveryId::from_record(attempt.task.delivery_id),
        event_id: EventId::from_record(attempt.task.event.event_id),
        status_code: attempt.status_code,
        response_time_ms: attempt.duration_ms,
        error: attempt.error,
        response_body: attempt.response_excerpt,
    }))
}
