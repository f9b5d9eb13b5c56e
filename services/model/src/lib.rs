//! The types of Herald's public REST API: what each route takes and answers,
//! with the OpenAPI schema of each ([`utoipa::ToSchema`]). Ingest serves them; the
//! status tracker builds the delivery log's answers from them, so both ends of
//! that request agree by construction.

pub mod deliveries;
pub mod ids;
pub mod listen;
pub mod payloads;
pub mod portal;
pub mod webhooks;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

pub use ids::{DeliveryId, EventId, InvalidId, JobId, SessionId, WebhookId};

/// Every error the API answers: a stable `code` to branch on and a `detail` for
/// people. 5xx answers never carry the cause, only `internal error`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"code": "validation", "detail": "url is missing"}))]
pub struct ErrorBody {
    /// One of `unauthorized`, `not_found`, `bad_request`, `validation`,
    /// `payload_too_large`, `unsupported_media_type`, `method_not_allowed`,
    /// `conflict`, `limit_exceeded`, `rate_limited`, `unavailable`, `internal`.
    pub code: String,
    pub detail: String,
}

/// An event accepted (`202`): stored, and to be delivered to every webhook
/// subscribed to its type.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventAccepted {
    pub event_id: EventId,
}

/// `GET /v1/callback-secret`: the tenant's secret for job callbacks.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CallbackSecret {
    pub secret: String,
}

/// One declared event type.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventTypeInfo {
    pub name: String,
    pub description: String,
    /// The JSON Schema the event's `data` must pass, if any.
    pub schema: Option<Value>,
    /// An example `data`, if any.
    pub example: Option<Value>,
}

/// `GET /v1/event-types`: the catalogue; empty when the server has none.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventTypes {
    pub event_types: Vec<EventTypeInfo>,
}
