//! What Herald sends: the body of a delivery in each payload format, and the
//! events of the live stream (`GET /v1/stream`).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::ids::{EventId, JobId};

/// The `envelope` body (the default) of a delivery, and an event of `GET /v1/stream`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "event_id": "evt_01jd5x2m3n4p5q6r7s8t9v0w1x",
    "event_type": "job.completed",
    "api_version": "v1",
    "timestamp": "2026-11-30T12:00:00Z",
    "data": {"job_id": "job_42", "status": "completed"},
    "retry_count": 0
}))]
pub struct EnvelopePayload {
    pub event_id: EventId,
    pub event_type: String,
    /// `v1`.
    pub api_version: String,
    /// When the event happened (RFC 3339).
    pub timestamp: String,
    /// The producer's data, byte for byte.
    pub data: Value,
    /// 0 on the first attempt. Not in live streams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_count: Option<u32>,
    /// The event's job, in live streams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<JobId>,
}

/// The `envelope_camel` body of a delivery.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvelopeCamelPayload {
    pub event_id: EventId,
    pub event_type: String,
    pub api_version: String,
    pub created_at: String,
    pub data: Value,
}

/// One frame of `GET /v1/jobs/{job_id}/stream`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobStreamFrame {
    /// Always `job`.
    #[schema(pattern = "^job$")]
    pub event: String,
    /// The job's state (a `Job` without `history`), as JSON.
    #[schema(content_media_type = "application/json")]
    pub data: String,
}

/// One frame of `GET /v1/stream`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventStreamFrame {
    /// The event's type.
    pub event: String,
    /// The event's id.
    pub id: String,
    /// The event as an `EnvelopePayload` (with `job_id`, without `retry_count`),
    /// as JSON.
    #[schema(content_media_type = "application/json")]
    pub data: String,
}
