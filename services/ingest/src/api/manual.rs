//! Steering deliveries by hand: re-enable a disabled webhook, attempt one delivery
//! now, or re-send every failed delivery since a time. Manual attempts are recorded
//! with trigger `manual` and schedule no retries of their own.

use std::future::IntoFuture;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use futures::future::try_join_all;
use herald_common::publish::{PendingAck, Publish, publish_unacked};
use herald_model::webhooks::{RecoverInput, Recovered, RetryAccepted, Webhook};
use herald_model::{DeliveryId, ErrorBody, WebhookId};
use herald_proto::query::{self, RetryableRequest, RetryableResponse};
use herald_proto::{DeliveryTask, Endpoint, EndpointStatus, Event, Trigger};

use super::json::AppJson;
use super::webhooks::{change, find, view};
use super::{ApiError, AppState, Tenant};

/// Most deliveries one recover call re-sends.
const RECOVER_LIMIT: u32 = 10_000;

/// `POST /v1/webhooks/{id}/enable`.
/// Resumes deliveries to a disabled webhook.
#[utoipa::path(
    post, path = "/v1/webhooks/{id}/enable", operation_id = "enable_webhook", tag = "webhooks",
    params(("id" = WebhookId, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "The webhook, active", body = Webhook),
        (status = 404, description = "No such webhook of this tenant", body = ErrorBody),
    )
)]
pub async fn enable(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<WebhookId>,
) -> Result<Json<Webhook>, ApiError> {
    change(&state, &tenant, id.as_str(), |endpoint| {
        endpoint.status = EndpointStatus::Active;
        endpoint.disabled_reason = None;
        Ok(())
    })
    .await
    .map(|endpoint| Json(view(&endpoint)))
}

/// `POST /v1/webhooks/{id}/deliveries/{delivery_id}/retry`: one attempt, now.
/// Attempts one delivery again now, whatever its status.
#[utoipa::path(
    post, path = "/v1/webhooks/{id}/deliveries/{delivery_id}/retry", operation_id = "retry_delivery", tag = "deliveries",
    params(
        ("id" = WebhookId, Path, description = "The webhook's id"),
        ("delivery_id" = DeliveryId, Path, description = "The delivery's id"),
    ),
    responses(
        (status = 202, description = "The attempt is queued", body = RetryAccepted),
        (status = 404, description = "No such webhook, or no such delivery of it", body = ErrorBody),
        (status = 409, description = "The webhook is disabled", body = ErrorBody),
    )
)]
pub async fn retry(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path((id, delivery_id)): Path<(WebhookId, DeliveryId)>,
) -> Result<(StatusCode, Json<RetryAccepted>), ApiError> {
    let (id, delivery_id) = (id.into_inner(), delivery_id.into_inner());
    refuse_if_disabled(&find(&state, &tenant, &id).await?)?;
    let request = RetryableRequest {
        tenant,
        endpoint_id: id.clone(),
        delivery_id: delivery_id.clone(),
        since_ms: 0,
        limit: 1,
        cursor: String::new(),
    };
    let (found, _) = retryable_page(&state, &request).await?;
    let delivery = found.into_iter().next().ok_or_else(|| {
        ApiError::NotFound(format!("no delivery `{delivery_id}` of webhook `{id}`"))
    })?;
    let task = manual_task(&id, delivery)?;
    publish(&state, &task)
        .await?
        .await
        .map_err(ApiError::internal)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RetryAccepted {
            delivery_id: DeliveryId::from_record(delivery_id),
            attempt: task.attempt,
            trigger: Trigger::Manual.as_str().into(),
        }),
    ))
}

/// Attempts again every failed delivery of a webhook whose last attempt was at or
/// after `since` (at most 10 000).
#[utoipa::path(
    post, path = "/v1/webhooks/{id}/recover", operation_id = "recover_deliveries", tag = "deliveries", request_body = RecoverInput,
    params(("id" = WebhookId, Path, description = "The webhook's id")),
    responses(
        (status = 202, description = "The attempts are queued", body = Recovered),
        (status = 404, description = "No such webhook of this tenant", body = ErrorBody),
        (status = 409, description = "The webhook is disabled", body = ErrorBody),
        (status = 422, description = "`since` is not an RFC 3339 time", body = ErrorBody),
    )
)]
pub async fn recover(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<WebhookId>,
    AppJson(body): AppJson<RecoverInput>,
) -> Result<(StatusCode, Json<Recovered>), ApiError> {
    let id = id.into_inner();
    refuse_if_disabled(&find(&state, &tenant, &id).await?)?;
    let since_ms = herald_proto::parse_rfc3339(&body.since)
        .map_err(|r| ApiError::Unprocessable(format!("since: {r}")))?;
    let mut request = RetryableRequest {
        tenant,
        endpoint_id: id.clone(),
        delivery_id: String::new(),
        since_ms,
        limit: RECOVER_LIMIT,
        cursor: String::new(),
    };
    // Page by page, so no more than one page of events is held at a time. A page's
    // tasks are published one after another and their acknowledgements awaited
    // together, not one round trip each.
    let mut ids = Vec::new();
    loop {
        let (page, next_cursor) = retryable_page(&state, &request).await?;
        let got = u32::try_from(page.len()).unwrap_or(u32::MAX);
        let mut acks = Vec::with_capacity(page.len());
        for delivery in page {
            let task = manual_task(&id, delivery)?;
            acks.push(publish(&state, &task).await?.into_future());
            ids.push(task.delivery_id);
        }
        try_join_all(acks).await.map_err(ApiError::internal)?;
        request.limit = request.limit.saturating_sub(got);
        if next_cursor.is_empty() || request.limit == 0 || got == 0 {
            break;
        }
        request.cursor = next_cursor;
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(Recovered {
            recovered: ids.len() as u64,
            delivery_ids: ids.into_iter().map(DeliveryId::from_record).collect(),
        }),
    ))
}

/// A disabled webhook gets no manual attempt: it would only be recorded as refused.
fn refuse_if_disabled(endpoint: &Endpoint) -> Result<(), ApiError> {
    if endpoint.status == EndpointStatus::Disabled {
        return Err(ApiError::Conflict(format!(
            "webhook `{}` is disabled; enable it first (POST /v1/webhooks/{}/enable)",
            endpoint.id, endpoint.id
        )));
    }
    Ok(())
}

/// The next attempt of `delivery`, as a manual task.
fn manual_task(
    endpoint_id: &str,
    delivery: query::RetryableDelivery,
) -> Result<DeliveryTask, ApiError> {
    let event = delivery
        .event
        .ok_or_else(|| ApiError::Internal("a retryable delivery without its event".into()))
        .and_then(|e| Event::try_from(e).map_err(ApiError::internal))?;
    Ok(DeliveryTask {
        delivery_id: delivery.delivery_id,
        endpoint_id: endpoint_id.to_owned(),
        attempt: delivery.attempts + 1,
        event,
        trigger: Trigger::Manual,
        callback: None,
        traceparent: None,
        // Every manual request is an attempt of its own, even for the same number.
        run_id: Some(ulid::Ulid::new().to_string()),
    })
}

/// Publishes `task`; the stream's acknowledgement is left to the caller to await.
async fn publish(state: &AppState, task: &DeliveryTask) -> Result<PendingAck, ApiError> {
    let message_id = task.message_id();
    publish_unacked(
        state.jetstream(),
        task.subject(),
        task.encode(),
        Publish::once(&message_id),
    )
    .await
    .map_err(ApiError::internal)
}

/// One page of the deliveries `request` matches (the status-tracker answers in pages
/// that fit in one NATS message), and the cursor of the next page (empty when there
/// is none).
async fn retryable_page(
    state: &AppState,
    request: &RetryableRequest,
) -> Result<(Vec<query::RetryableDelivery>, String), ApiError> {
    let reply = tokio::time::timeout(
        Duration::from_secs(10),
        state
            .client()
            .request(query::RETRYABLE_SUBJECT, query::encode(request)),
    )
    .await
    .map_err(|_| ApiError::Unavailable("the delivery log did not answer in time".into()))?
    .map_err(|e| match e.kind() {
        async_nats::RequestErrorKind::NoResponders => {
            ApiError::Unavailable("the delivery log is not running".into())
        }
        _ => ApiError::internal(e),
    })?;
    let response: RetryableResponse = query::decode(&reply.payload).map_err(ApiError::internal)?;
    if !response.error.is_empty() {
        return Err(ApiError::Internal(response.error));
    }
    Ok((response.deliveries, response.next_cursor))
}
