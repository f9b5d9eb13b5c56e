//! `/v1/listen/sessions`: listening sessions, through which `herald listen`
//! receives a tenant's deliveries and forwards them to a local URL.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ids::SessionId;
use crate::webhooks::{EventPatternText, RetryDelay};

/// The body of `POST /v1/listen/sessions`; every field may be left out.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"events": ["job.*", "training.>"], "ttl": "2m"}))]
pub struct CreateSession {
    /// Event types or patterns, 1 to 100; every event (`>`) when left out.
    #[schema(min_items = 1, max_items = 100)]
    pub events: Option<Vec<EventPatternText>>,
    /// The signing secret, as a webhook's (so a receiver's configured secret keeps
    /// verifying); made by Herald when left out.
    pub secret: Option<String>,
    /// How long the session lives after its last stream closes (`90s`, `5m`);
    /// the server's default when left out, at most its maximum.
    pub ttl: Option<RetryDelay>,
}

/// A listening session as the API shows it. The secret is shown only when it is
/// made.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Session {
    pub session_id: SessionId,
    pub events: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339: when the session is gone unless a stream keeps it alive.
    pub expires_at: String,
}

/// A listening session just made, with its secret (shown this once).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedSession {
    #[serde(flatten)]
    pub session: Session,
    /// Signs every request the session forwards.
    pub secret: String,
}

/// One `event: request` frame of `GET /v1/listen/sessions/{session_id}/requests`:
/// the very request a webhook endpoint would be sent.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ForwardedRequest {
    /// Hand back with the result; it names the waiting attempt and nothing else.
    pub token: String,
    /// Always `POST`.
    pub method: String,
    pub headers: BTreeMap<String, String>,
    /// The body, exactly as signed.
    pub body: String,
}

/// The body of `POST /v1/listen/sessions/{session_id}/results`: what the local
/// receiver answered to one forwarded request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "sealed:...", "status": 200, "duration_ms": 12, "body": "ok"}))]
pub struct ListenResult {
    /// The request's `token`.
    #[schema(max_length = 4096)]
    pub token: String,
    /// The local answer's HTTP status; left out when there was no answer.
    #[schema(minimum = 100, maximum = 599)]
    pub status: Option<u16>,
    /// How long the local request took.
    pub duration_ms: u64,
    /// The first 4 KiB of the answer's body; longer bodies are cut.
    pub body: Option<String>,
    /// Why there was no answer (`connection refused`), at most 200 characters.
    #[schema(max_length = 200)]
    pub error: Option<String>,
}
