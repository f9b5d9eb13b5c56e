//! Reads of the record the status-tracker keeps — deliveries, events, jobs and
//! statistics — asked for over NATS request/reply and answered with the JSON the
//! API returns.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use herald_proto::names::DeliveryStatus;
use herald_proto::query::{self, StatusKind, StatusQuery, StatusReply};
use serde::Deserialize;

use super::duration;
use super::query::AppQuery;
use super::{ApiError, AppState, Tenant};

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 250;
/// The shortest and longest `window` of the stats.
const MIN_WINDOW: Duration = Duration::from_secs(60);
const MAX_WINDOW: Duration = Duration::from_secs(90 * 86_400);

/// Sends `query` to the status-tracker; `Ok(None)` when nothing matched.
pub async fn ask(state: &AppState, query: StatusQuery) -> Result<Option<bytes::Bytes>, ApiError> {
    Ok(ask_reply(state, &query).await?.map(|reply| reply.json))
}

/// Sends `query` to the status-tracker and returns its whole reply (with the
/// cursor of the next part, if any); `Ok(None)` when nothing matched.
async fn ask_reply(state: &AppState, query: &StatusQuery) -> Result<Option<StatusReply>, ApiError> {
    let reply = tokio::time::timeout(
        Duration::from_secs(5),
        state
            .client()
            .request(query::STATUS_SUBJECT, query::encode(query)),
    )
    .await
    .map_err(|_| ApiError::Unavailable("the status store did not answer in time".into()))?
    .map_err(|e| match e.kind() {
        async_nats::RequestErrorKind::NoResponders => {
            ApiError::Unavailable("the status store is not running".into())
        }
        _ => ApiError::internal(e),
    })?;
    let reply: StatusReply = query::decode(&reply.payload).map_err(ApiError::internal)?;
    if !reply.invalid.is_empty() {
        return Err(ApiError::Unprocessable(reply.invalid));
    }
    if !reply.error.is_empty() {
        return Err(ApiError::Internal(reply.error));
    }
    Ok((!reply.not_found).then_some(reply))
}

fn json(body: bytes::Bytes) -> Response {
    ([(CONTENT_TYPE, "application/json")], body).into_response()
}

fn time(name: &str, value: Option<&str>) -> Result<i64, ApiError> {
    value
        .map(|v| {
            herald_proto::parse_rfc3339(v)
                .map_err(|r| ApiError::Unprocessable(format!("{name}: {r}")))
        })
        .transpose()
        .map(Option::unwrap_or_default)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Signed, so that `-1` is told it is out of range rather than not a number.
    limit: Option<i64>,
    status: Option<String>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
}

/// `GET /v1/webhooks/{id}/deliveries?limit&status&since&until&cursor`.
pub async fn deliveries(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
    AppQuery(params): AppQuery<ListQuery>,
) -> Result<Response, ApiError> {
    super::webhooks::find(&state, &tenant, &id).await?;
    let limit = params
        .limit
        .map_or(Ok(DEFAULT_LIMIT), u32::try_from)
        .ok()
        .filter(|limit| (1..=MAX_LIMIT).contains(limit))
        .ok_or_else(|| {
            ApiError::Unprocessable(format!("limit must be between 1 and {MAX_LIMIT}"))
        })?;
    let status = params.status.unwrap_or_default();
    if !status.is_empty() && DeliveryStatus::parse(&status).is_none() {
        return Err(ApiError::Unprocessable(
            "status must be one of pending, success, retrying, failed".into(),
        ));
    }
    let list = query::ListDeliveries {
        endpoint_id: id,
        status,
        since_ms: time("since", params.since.as_deref())?,
        until_ms: time("until", params.until.as_deref())?,
        limit,
        cursor: params.cursor.unwrap_or_default(),
    };
    let query = StatusQuery::new(tenant, StatusKind::ListDeliveries(list));
    let body = ask(&state, query).await?.unwrap_or_default();
    Ok(json(body))
}

/// `GET /v1/deliveries/{delivery_id}`: the delivery with every attempt.
pub async fn delivery(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(delivery_id): Path<String>,
) -> Result<Response, ApiError> {
    let get = query::GetDelivery {
        delivery_id: delivery_id.clone(),
    };
    let query = StatusQuery::new(tenant, StatusKind::GetDelivery(get));
    ask(&state, query)
        .await?
        .map(json)
        .ok_or_else(|| ApiError::NotFound(format!("no delivery `{delivery_id}`")))
}

/// `GET /v1/events/{event_id}`: the event with its delivery to each webhook.
pub async fn event(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(event_id): Path<String>,
) -> Result<Response, ApiError> {
    let get = query::GetEvent {
        event_id: event_id.clone(),
    };
    let query = StatusQuery::new(tenant, StatusKind::GetEvent(get));
    ask(&state, query)
        .await?
        .map(json)
        .ok_or_else(|| ApiError::NotFound(format!("no event `{event_id}`")))
}

/// `GET /v1/jobs/{job_id}`: the polling fallback.
pub async fn job(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(job_id): Path<String>,
) -> Result<Response, ApiError> {
    job_view(&state, JobView::WithHistory, &tenant, &job_id)
        .await?
        .map(json)
        .ok_or_else(|| ApiError::NotFound(format!("no job `{job_id}`")))
}

/// How much of a job [`job_view`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobView {
    WithHistory,
    StateOnly,
}

/// A job as JSON: with its history or its state alone. A history larger than one
/// NATS message comes in parts, each asked for with the cursor the previous one
/// ended with, and is put back together here.
pub async fn job_view(
    state: &AppState,
    view: JobView,
    tenant: &str,
    job_id: &str,
) -> Result<Option<bytes::Bytes>, ApiError> {
    let job_id = job_id.to_owned();
    let part = |cursor: String| {
        let kind = match view {
            JobView::WithHistory => StatusKind::GetJob(query::GetJob {
                job_id: job_id.clone(),
                cursor,
            }),
            JobView::StateOnly => StatusKind::GetJobState(query::GetJobState {
                job_id: job_id.clone(),
            }),
        };
        StatusQuery::new(tenant, kind)
    };
    let Some(first) = ask_reply(state, &part(String::new())).await? else {
        return Ok(None);
    };
    if first.next_cursor.is_empty() {
        return Ok(Some(first.json));
    }
    let mut view: serde_json::Value =
        serde_json::from_slice(&first.json).map_err(ApiError::internal)?;
    let mut cursor = first.next_cursor;
    while !cursor.is_empty() {
        // The job was there a moment ago; a part gone since ends the history.
        let Some(part) = ask_reply(state, &part(std::mem::take(&mut cursor))).await? else {
            break;
        };
        let mut more: serde_json::Value =
            serde_json::from_slice(&part.json).map_err(ApiError::internal)?;
        if let (Some(history), Some(more)) = (
            view["history"].as_array_mut(),
            more["history"].as_array_mut(),
        ) {
            history.append(more);
        }
        cursor = part.next_cursor;
    }
    let body = serde_json::to_vec(&view).map_err(ApiError::internal)?;
    Ok(Some(body.into()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    window: Option<String>,
}

/// `GET /v1/webhooks/{id}/stats?window=24h`.
pub async fn stats(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
    AppQuery(params): AppQuery<StatsQuery>,
) -> Result<Response, ApiError> {
    super::webhooks::find(&state, &tenant, &id).await?;
    let window = params.window.unwrap_or_else(|| "24h".into());
    let span = duration::parse_within(&window, MIN_WINDOW, MAX_WINDOW).ok_or_else(|| {
        ApiError::Unprocessable("window must be a duration between 1m and 90d, such as 24h".into())
    })?;
    let stats = query::GetWebhookStats {
        endpoint_id: id.clone(),
        // At most 90 days back: no overflow.
        since_ms: herald_proto::now_ms() - i64::try_from(span.as_millis()).unwrap_or(i64::MAX),
    };
    let query = StatusQuery::new(tenant, StatusKind::GetWebhookStats(stats));
    let body = ask(&state, query).await?.unwrap_or_default();
    let mut view: serde_json::Value = serde_json::from_slice(&body).map_err(ApiError::internal)?;
    view["webhook_id"] = id.into();
    view["window"] = window.into();
    Ok(axum::Json(view).into_response())
}
