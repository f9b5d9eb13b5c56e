//! Reads of the record the status-tracker keeps — deliveries, events, jobs and
//! statistics — asked for over NATS request/reply and answered with the JSON the
//! API returns.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use futures::{StreamExt, TryStreamExt};
use herald_model::deliveries::{
    DeliveryDetail, DeliveryPage, DeliveryRequest, DeliveryStatus, EventDetail, Job,
    JobHistoryPart, Stats, StatsBucket, WebhookStats,
};
use herald_model::{DeliveryId, ErrorBody, EventId, JobId, WebhookId};
use herald_proto::names::DeliveryStatus as StatusWord;
use herald_proto::query::{self, StatusKind, StatusQuery, StatusReply};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::duration;
use super::query::AppQuery;
use super::{ApiError, AppState, RateKey, Tenant};

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 250;
/// The shortest and longest `window` of the stats.
const MIN_WINDOW: Duration = Duration::from_secs(60);
const MAX_WINDOW: Duration = Duration::from_secs(90 * 86_400);
/// Sends `query` to the status-tracker; `Ok(None)` when nothing matched.
async fn ask<T: DeserializeOwned>(
    state: &AppState,
    query: StatusQuery,
) -> Result<Option<T>, ApiError> {
    ask_reply(state, &query)
        .await?
        .map(|reply| answer(&reply))
        .transpose()
}

/// The status tracker's answer to `query` as it is, for the client: the tracker
/// makes it from the type the route documents (`T`). It is not parsed again here,
/// so a record whose ids Herald would not accept from a client today can still be
/// shown.
async fn relay<T>(state: &AppState, query: StatusQuery) -> Result<Option<Relayed<T>>, ApiError> {
    Ok(ask_reply(state, &query).await?.map(|reply| Relayed {
        json: reply.json,
        kind: std::marker::PhantomData,
    }))
}

/// JSON of type `T`, made by the status tracker.
pub struct Relayed<T> {
    json: bytes::Bytes,
    kind: std::marker::PhantomData<T>,
}

impl<T> axum::response::IntoResponse for Relayed<T> {
    fn into_response(self) -> axum::response::Response {
        (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            self.json,
        )
            .into_response()
    }
}

/// The answer a reply carries, as the type the API promises.
fn answer<T: DeserializeOwned>(reply: &StatusReply) -> Result<T, ApiError> {
    serde_json::from_slice(&reply.json)
        .map_err(|e| ApiError::Internal(format!("the status store's answer does not fit: {e}")))
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

fn time(name: &str, value: Option<&str>) -> Result<i64, ApiError> {
    value
        .map(|v| {
            herald_proto::parse_rfc3339(v)
                .map_err(|r| ApiError::Unprocessable(format!("{name}: {r}")))
        })
        .transpose()
        .map(Option::unwrap_or_default)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Deliveries per page, 1 to 250 (default 50). Signed, so that `-1` is told it
    /// is out of range rather than not a number.
    #[param(minimum = 1, maximum = 250)]
    limit: Option<i64>,
    /// Only deliveries with this status.
    #[param(value_type = Option<DeliveryStatus>)]
    status: Option<String>,
    /// Only deliveries of this event type.
    #[param(max_length = 256)]
    event_type: Option<String>,
    /// Only deliveries made at or after this time (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Only deliveries made before this time (RFC 3339).
    #[param(format = DateTime)]
    until: Option<String>,
    /// The `next_cursor` of the page before.
    #[param(pattern = "^[A-Za-z0-9_-]*$")]
    cursor: Option<String>,
}

/// A webhook's deliveries, newest first, a page at a time.
#[utoipa::path(
    get, path = "/v1/webhooks/{id}/deliveries", operation_id = "list_deliveries", tag = "deliveries",
    params(("id" = WebhookId, Path, description = "The webhook's id"), ListQuery),
    responses(
        (status = 200, description = "A page of deliveries", body = DeliveryPage),
        (status = 404, description = "No such webhook of this tenant", body = ErrorBody),
        (status = 422, description = "A parameter is invalid, or the cursor is not one this API gave out", body = ErrorBody),
    )
)]
pub async fn deliveries(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<WebhookId>,
    AppQuery(params): AppQuery<ListQuery>,
) -> Result<Relayed<DeliveryPage>, ApiError> {
    let id = id.into_inner();
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
    if !status.is_empty() && StatusWord::parse(&status).is_none() {
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
        event_type: match params.event_type {
            Some(name) => herald_proto::EventType::parse(&name)
                .map_err(|r| ApiError::Unprocessable(format!("event_type {r}")))?
                .to_string(),
            None => String::new(),
        },
    };
    let query = StatusQuery::new(tenant, StatusKind::ListDeliveries(list));
    relay(&state, query)
        .await?
        .ok_or_else(|| ApiError::Internal("the status store found no page".into()))
}

/// A delivery with its attempts, oldest first.
#[utoipa::path(
    get, path = "/v1/deliveries/{delivery_id}", operation_id = "get_delivery", tag = "deliveries",
    params(("delivery_id" = DeliveryId, Path, description = "The delivery's id")),
    responses(
        (status = 200, description = "The delivery", body = DeliveryDetail),
        (status = 404, description = "No such delivery of this tenant", body = ErrorBody),
    )
)]
pub async fn delivery(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(delivery_id): Path<DeliveryId>,
) -> Result<Relayed<DeliveryDetail>, ApiError> {
    let delivery_id = delivery_id.into_inner();
    let get = query::GetDelivery {
        delivery_id: delivery_id.clone(),
    };
    let query = StatusQuery::new(tenant, StatusKind::GetDelivery(get));
    relay(&state, query)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no delivery `{delivery_id}`")))
}

/// An event with its delivery to each webhook.
#[utoipa::path(
    get, path = "/v1/events/{event_id}", operation_id = "get_event", tag = "events",
    params(("event_id" = EventId, Path, description = "The event's id")),
    responses(
        (status = 200, description = "The event", body = EventDetail),
        (status = 404, description = "No such event of this tenant", body = ErrorBody),
    )
)]
pub async fn event(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(event_id): Path<EventId>,
) -> Result<Relayed<EventDetail>, ApiError> {
    let event_id = event_id.into_inner();
    let get = query::GetEvent {
        event_id: event_id.clone(),
    };
    let query = StatusQuery::new(tenant.clone(), StatusKind::GetEvent(get));
    // An event this replica has just accepted is read as soon as it is recorded.
    let waiting = state.recent().contains(&tenant, &event_id);
    let deadline = tokio::time::Instant::now() + super::recent::WAIT;
    loop {
        if let Some(found) = relay(&state, query.clone()).await? {
            return Ok(found);
        }
        if !waiting || tokio::time::Instant::now() >= deadline {
            return Err(ApiError::NotFound(format!("no event `{event_id}`")));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A job's state and history, from its events: the polling fallback for
/// customers who cannot receive webhooks.
#[utoipa::path(
    get, path = "/v1/jobs/{job_id}", operation_id = "get_job", tag = "jobs",
    params(("job_id" = JobId, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The job", body = Job),
        (status = 404, description = "No event of this job", body = ErrorBody),
    )
)]
pub async fn job(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(job_id): Path<JobId>,
) -> Result<Json<Job>, ApiError> {
    job_view(&state, JobView::WithHistory, &tenant, job_id.as_str())
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no job `{job_id}`")))
}

/// How much of a job [`job_view`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobView {
    WithHistory,
    StateOnly,
}

/// A job: with its history or its state alone. A history larger than one NATS
/// message comes in parts, each asked for with the cursor the previous one ended
/// with, and is put back together here.
pub async fn job_view(
    state: &AppState,
    view: JobView,
    tenant: &str,
    job_id: &str,
) -> Result<Option<Job>, ApiError> {
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
    let mut job: Job = answer(&first)?;
    let mut cursor = first.next_cursor;
    while !cursor.is_empty() {
        // The job was there a moment ago; a part gone since ends the history.
        let Some(part) = ask_reply(state, &part(std::mem::take(&mut cursor))).await? else {
            break;
        };
        let more: JobHistoryPart = answer(&part)?;
        if let Some(history) = job.history.as_mut() {
            history.extend(more.history);
        }
        cursor = part.next_cursor;
    }
    Ok(Some(job))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// How far back: a duration between `1m` and `90d` (default `24h`).
    #[param(example = "24h", pattern = "^[0-9]+(ms|s|m|h|d)$")]
    window: Option<String>,
    /// Also cut the window into this many equal spans (`series`), for charts.
    #[param(minimum = 1, maximum = 48)]
    buckets: Option<i64>,
}

/// The most spans `buckets` may ask for.
const MAX_BUCKETS: i64 = 48;
/// Spans asked of the status store at once.
const BUCKETS_AT_ONCE: usize = 8;

/// A webhook's attempts, success rate and response-time percentiles over a window.
#[utoipa::path(
    get, path = "/v1/webhooks/{id}/stats", operation_id = "get_webhook_stats", tag = "webhooks",
    params(("id" = WebhookId, Path, description = "The webhook's id"), StatsQuery),
    responses(
        (status = 200, description = "The statistics", body = WebhookStats),
        (status = 404, description = "No such webhook of this tenant", body = ErrorBody),
        (status = 422, description = "`window` is not a duration between 1m and 90d", body = ErrorBody),
    )
)]
pub async fn stats(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    axum::Extension(RateKey(rate_key)): axum::Extension<RateKey>,
    Path(id): Path<WebhookId>,
    AppQuery(params): AppQuery<StatsQuery>,
) -> Result<Json<WebhookStats>, ApiError> {
    super::webhooks::find(&state, &tenant, id.as_str()).await?;
    let window = params.window.unwrap_or_else(|| "24h".into());
    let span = duration::parse_within(&window, MIN_WINDOW, MAX_WINDOW).ok_or_else(|| {
        ApiError::Unprocessable("window must be a duration between 1m and 90d, such as 24h".into())
    })?;
    let buckets = params
        .buckets
        .map(|n| {
            (1..=MAX_BUCKETS).contains(&n).then_some(n).ok_or_else(|| {
                ApiError::Unprocessable(format!("buckets must be between 1 and {MAX_BUCKETS}"))
            })
        })
        .transpose()?;
    // Each span is a read of its own: the request counts as that many more.
    if let Some(n) = buckets {
        state
            .limits()
            .charge(&rate_key, u32::try_from(n).unwrap_or(u32::MAX))?;
    }
    let now = herald_proto::now_ms();
    // At most 90 days back: no overflow.
    let since_ms = now - i64::try_from(span.as_millis()).unwrap_or(i64::MAX);
    let stats = span_stats(&state, &tenant, id.as_str(), since_ms, 0).await?;
    let series = match buckets {
        None => None,
        Some(n) => {
            let edges: Vec<i64> = (0..=n)
                .map(|i| since_ms + (now - since_ms) * i / n)
                .collect();
            let pairs: Vec<(i64, i64)> = edges.windows(2).map(|e| (e[0], e[1])).collect();
            let spans = pairs.into_iter().map(|(start, end)| {
                let (state, tenant, id) = (&state, &tenant, &id);
                async move {
                    let stats = span_stats(state, tenant, id.as_str(), start, end).await?;
                    Ok::<_, ApiError>(StatsBucket {
                        start: herald_proto::rfc3339(start),
                        end: herald_proto::rfc3339(end),
                        stats,
                    })
                }
            });
            Some(
                futures::stream::iter(spans)
                    .buffered(BUCKETS_AT_ONCE)
                    .try_collect::<Vec<_>>()
                    .await?,
            )
        }
    };
    Ok(Json(WebhookStats {
        webhook_id: id,
        window,
        stats,
        series,
    }))
}

/// A webhook's attempts from `since_ms` until `until_ms` (`0`: until now).
async fn span_stats(
    state: &AppState,
    tenant: &str,
    endpoint_id: &str,
    since_ms: i64,
    until_ms: i64,
) -> Result<Stats, ApiError> {
    let stats = query::GetWebhookStats {
        endpoint_id: endpoint_id.to_owned(),
        since_ms,
        until_ms,
    };
    let query = StatusQuery::new(tenant.to_owned(), StatusKind::GetWebhookStats(stats));
    ask(state, query)
        .await?
        .ok_or_else(|| ApiError::Internal("the status store found no statistics".into()))
}

/// The request Herald sends for a delivery on its latest attempt, made again
/// from the event and the webhook as they are now: its URL, headers (the
/// signatures named, not made) and body.
#[utoipa::path(
    get, path = "/v1/deliveries/{delivery_id}/request", operation_id = "get_delivery_request", tag = "deliveries",
    params(("delivery_id" = DeliveryId, Path, description = "The delivery's id")),
    responses(
        (status = 200, description = "The request", body = DeliveryRequest),
        (status = 404, description = "No such delivery of this tenant, or its webhook or event is gone", body = ErrorBody),
    )
)]
pub async fn request(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    read_only: Option<axum::Extension<crate::portal::session::ReadOnlyView>>,
    Path(delivery_id): Path<DeliveryId>,
) -> Result<Json<DeliveryRequest>, ApiError> {
    let gone = || ApiError::NotFound(format!("no delivery `{delivery_id}`"));
    let get = query::GetDelivery {
        delivery_id: delivery_id.to_string(),
    };
    let query = StatusQuery::new(tenant.clone(), StatusKind::GetDelivery(get));
    let delivery: StoredDelivery = ask(&state, query).await?.ok_or_else(gone)?;
    let StoredDelivery {
        webhook_id,
        event_id,
        attempt_count,
        attempts,
    } = delivery;
    let endpoint = super::webhooks::find(&state, &tenant, &webhook_id).await?;
    let get = query::GetEvent {
        event_id: event_id.clone(),
    };
    let query = StatusQuery::new(tenant.clone(), StatusKind::GetEvent(get));
    let event: StoredEvent = ask(&state, query).await?.ok_or_else(|| {
        ApiError::NotFound(format!("the event of delivery `{delivery_id}` is gone"))
    })?;
    let attempt = attempt_count.max(1);
    // The latest attempt's time, or now for one not yet made.
    let sent_at_ms = attempts
        .last()
        .and_then(|latest| herald_proto::parse_rfc3339(&latest.timestamp).ok())
        .unwrap_or_else(herald_proto::now_ms);
    let event = herald_proto::Event {
        event_id: event_id.clone(),
        tenant,
        event_type: herald_proto::EventType::parse(&event.event_type)
            .map_err(|r| ApiError::Internal(format!("a stored event type {r}")))?,
        data: bytes::Bytes::copy_from_slice(event.data.get().as_bytes()),
        job_id: None,
        timestamp_ms: herald_proto::parse_rfc3339(&event.timestamp).unwrap_or_default(),
        accepted_at_ms: 0,
        callback: None,
    };
    let body = herald_proto::payload::body(
        &event,
        u32::try_from(attempt).unwrap_or(u32::MAX),
        endpoint.payload_format,
    );
    use herald_proto::names::header::http;
    let seconds = (sent_at_ms / 1000).to_string();
    // The webhook's own headers first: Herald's own win, as when sending.
    let mut headers: std::collections::BTreeMap<String, String> = endpoint
        .headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
        .collect();
    crate::portal::session::shown_headers(read_only, &mut headers);
    for (name, value) in [
        ("content-type", "application/json".to_owned()),
        (http::WEBHOOK_ID, event_id.clone()),
        (http::WEBHOOK_TIMESTAMP, seconds.clone()),
        (
            http::WEBHOOK_SIGNATURE,
            "v1,<base64 HMAC-SHA256 of id.timestamp.body>".to_owned(),
        ),
        (
            http::X_WEBHOOK_SIGNATURE,
            "<hex HMAC-SHA256 of the body>".to_owned(),
        ),
        (http::X_WEBHOOK_ID, webhook_id.clone()),
        (http::X_EVENT_ID, event_id),
        (http::X_TIMESTAMP, seconds),
    ] {
        headers.insert(name.to_owned(), value);
    }
    Ok(Json(DeliveryRequest {
        delivery_id,
        webhook_id: WebhookId::from_record(webhook_id),
        attempt,
        method: "POST".into(),
        url: endpoint.url,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }))
}

/// What [`request`] reads of a stored delivery (read loosely: ids as stored).
#[derive(Deserialize)]
struct StoredDelivery {
    webhook_id: String,
    event_id: String,
    attempt_count: i64,
    attempts: Vec<StoredAttempt>,
}

#[derive(Deserialize)]
struct StoredAttempt {
    timestamp: String,
}

/// What [`request`] reads of a stored event: its `data` as the producer's bytes.
#[derive(Deserialize)]
struct StoredEvent {
    event_type: String,
    timestamp: String,
    data: Box<serde_json::value::RawValue>,
}
