//! What the delivery log answers: deliveries and their attempts, events, jobs and
//! a webhook's statistics. The status tracker builds these; ingest serves them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::ids::{DeliveryId, EventId, JobId, WebhookId};
use herald_proto::names;

/// Where a delivery (one event to one webhook) stands: `pending` (not attempted
/// yet), `success` (the endpoint answered 2xx), `retrying` (an attempt failed;
/// another is scheduled) or `failed` (no attempt left, or refused). The words are
/// [`herald_proto::names::DeliveryStatus`]'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeliveryStatus(pub names::DeliveryStatus);

impl Serialize for DeliveryStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.as_str())
    }
}

impl<'de> Deserialize<'de> for DeliveryStatus {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let word = String::deserialize(deserializer)?;
        names::DeliveryStatus::parse(&word)
            .map(DeliveryStatus)
            .ok_or_else(|| serde::de::Error::custom(format!("`{word}` is not a delivery status")))
    }
}

impl utoipa::PartialSchema for DeliveryStatus {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(names::DeliveryStatus::ALL.map(|s| s.as_str())))
            .description(Some(
                "`pending` (not attempted yet), `success` (the endpoint answered 2xx), \
                 `retrying` (an attempt failed; another is scheduled) or `failed` (no \
                 attempt left, or refused)",
            ))
            .into()
    }
}

impl utoipa::ToSchema for DeliveryStatus {}

/// A delivery as listings show it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliverySummary {
    pub delivery_id: DeliveryId,
    pub webhook_id: WebhookId,
    pub event_id: EventId,
    pub event_type: String,
    pub status: DeliveryStatus,
    /// The last attempt's HTTP status; `null` before one, or when none came back.
    pub status_code: Option<i64>,
    /// Attempts made so far.
    pub attempts: i64,
    /// The last attempt's response time.
    pub response_time_ms: Option<i64>,
    /// When the next attempt is due (RFC 3339), while `retrying`.
    pub next_attempt_at: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub timestamp: String,
}

/// `GET /v1/webhooks/{id}/deliveries`: newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryPage {
    pub deliveries: Vec<DeliverySummary>,
    /// How many match, counted on the first page only (`null` after it), at most
    /// 10 000.
    pub total: Option<u64>,
    /// Whether `total` is exact.
    pub total_exact: bool,
    pub limit: u32,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// One attempt of a delivery.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Attempt {
    /// 1 for the first.
    pub attempt: i64,
    /// `auto` (the first attempt or a scheduled retry) or `manual` (asked for by
    /// hand: a retry, a recovery or a test).
    pub trigger: String,
    /// `succeeded` or `failed`.
    pub status: String,
    /// RFC 3339.
    pub timestamp: String,
    pub status_code: Option<i64>,
    pub response_time_ms: i64,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// The first bytes of the endpoint's answer.
    pub response_body: String,
}

/// `GET /v1/deliveries/{delivery_id}`: a delivery with its attempts, oldest first
/// (as many of the latest as fit in one answer).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryDetail {
    pub delivery_id: DeliveryId,
    pub webhook_id: WebhookId,
    pub event_id: EventId,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub status_code: Option<i64>,
    pub attempt_count: i64,
    pub response_time_ms: Option<i64>,
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    pub timestamp: String,
    pub attempts: Vec<Attempt>,
}

impl DeliveryDetail {
    pub fn new(summary: DeliverySummary, attempts: Vec<Attempt>) -> Self {
        DeliveryDetail {
            delivery_id: summary.delivery_id,
            webhook_id: summary.webhook_id,
            event_id: summary.event_id,
            event_type: summary.event_type,
            status: summary.status,
            status_code: summary.status_code,
            attempt_count: summary.attempts,
            response_time_ms: summary.response_time_ms,
            next_attempt_at: summary.next_attempt_at,
            created_at: summary.created_at,
            timestamp: summary.timestamp,
            attempts,
        }
    }
}

/// `GET /v1/events/{event_id}`: an event with its delivery to each webhook.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventDetail {
    pub event_id: EventId,
    pub event_type: String,
    pub job_id: Option<JobId>,
    /// When it happened (RFC 3339).
    pub timestamp: String,
    /// When Herald accepted it (RFC 3339).
    pub accepted_at: String,
    /// The producer's data, byte for byte as it was sent.
    #[schema(value_type = Value)]
    pub data: Box<serde_json::value::RawValue>,
    pub deliveries: Vec<DeliverySummary>,
    /// Present (and true) when more deliveries exist than fit in one answer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deliveries_truncated: bool,
}

/// One event of a job's history.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobEvent {
    pub event_id: EventId,
    pub event_type: String,
    /// RFC 3339.
    pub timestamp: String,
    pub data: Value,
}

/// A job's state, from the events of its type `job.*` (`GET /v1/jobs/{job_id}`
/// adds its history; live streams send it without).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Job {
    pub job_id: JobId,
    pub job_type: Option<String>,
    /// The last status an event gave it, such as `running` or `completed`.
    pub status: String,
    /// 0 to 1, when events report it.
    pub progress: Option<f64>,
    /// Whether the status is a final one (`completed`, `failed`, `cancelled`).
    #[serde(rename = "final")]
    pub is_final: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// The job's result, once an event carried one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// The job's error, once an event carried one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// Every event of the job, oldest first (not in live streams).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<JobEvent>>,
}

/// `GET /v1/deliveries/{delivery_id}/request`: the request Herald sends for a
/// delivery on its latest attempt, made again from the event and the webhook as
/// they are now. The signatures are made per attempt with the secret of the
/// moment, so they are named, not shown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryRequest {
    pub delivery_id: DeliveryId,
    pub webhook_id: WebhookId,
    /// The attempt this request is for (its `retry_count` is one less).
    pub attempt: i64,
    /// Always `POST`.
    pub method: String,
    pub url: String,
    /// Names in lower case. `webhook-signature` and `x-webhook-signature` stand
    /// for the signatures of the body.
    pub headers: BTreeMap<String, String>,
    /// The body, with the event's `data` as stored.
    pub body: String,
}

/// A webhook's attempts over a window.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Stats {
    pub attempts: u64,
    pub successes: u64,
    pub failures: u64,
    /// `null` without attempts.
    pub success_rate: Option<f64>,
    pub p50_response_time_ms: Option<i64>,
    pub p95_response_time_ms: Option<i64>,
}

/// `GET /v1/webhooks/{id}/stats`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookStats {
    pub webhook_id: WebhookId,
    /// The window asked for, such as `24h`.
    pub window: String,
    #[serde(flatten)]
    pub stats: Stats,
    /// With `buckets`: the window cut into that many equal spans, oldest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<Vec<StatsBucket>>,
}

/// A webhook's attempts over one span of a [`WebhookStats`] window.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatsBucket {
    /// RFC 3339: the span's start (included).
    pub start: String,
    /// RFC 3339: the span's end (not included).
    pub end: String,
    #[serde(flatten)]
    pub stats: Stats,
}

/// A later part of a job's history, when the whole does not fit in one message
/// between services (never an answer of the API itself).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JobHistoryPart {
    pub history: Vec<JobEvent>,
}
