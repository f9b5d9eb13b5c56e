//! `/v1/webhooks`: a customer's endpoints.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ids::{DeliveryId, EventId, WebhookId};

/// Whether Herald delivers to a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookStatus {
    Active,
    /// Stopped after failing for too long, or by hand; `POST .../enable` resumes it.
    Disabled,
}

/// The shape of the body Herald POSTs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PayloadFormat {
    /// `{"event_id","event_type","api_version","timestamp","data","retry_count"}`.
    Envelope,
    /// `{"eventId","eventType","apiVersion","createdAt","data"}`.
    EnvelopeCamel,
    /// The event's `data` alone.
    Data,
}

/// Declares a webhook request body: the fields given, then what a webhook may
/// set besides its URL, events and secret, the same on create and update.
macro_rules! webhook_body {
    ($(#[$meta:meta])* pub struct $name:ident { $($fields:tt)* }) => {
        #[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
        $(#[$meta])*
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($fields)*
            /// Headers sent with every delivery: at most 20, 8 KiB in all, none of
            /// the ones Herald sets itself, no name twice (names ignore case).
            pub headers: Option<BTreeMap<String, String>>,
            /// At most 1024 characters.
            #[schema(max_length = 1024)]
            pub description: Option<String>,
            /// How long one attempt may take, 1000 to 30000 ms.
            #[schema(minimum = 1000, maximum = 30000)]
            pub timeout_ms: Option<u32>,
            /// Deliveries per second at most; 0 for no limit.
            #[schema(minimum = 0, maximum = 10000)]
            pub rate_limit_per_sec: Option<u32>,
            pub payload_format: Option<PayloadFormat>,
            /// Delays before each retry (`30s`, `5m`, `2h`, `1d`; 1s to 7d each, at
            /// most 20); empty for the server's schedule.
            #[schema(max_items = 20)]
            pub retry_schedule: Option<Vec<RetryDelay>>,
        }
    };
}

webhook_body! {
    /// The body of `POST /v1/webhooks`.
    #[schema(example = json!({
        "url": "https://example.com/hooks/herald",
        "events": ["job.completed", "training.>"],
        "description": "Job results for the billing service"
    }))]
    pub struct CreateWebhook {
        /// Where deliveries go: an `http` or `https` URL (`https` only when the
        /// server requires it; ports as `HERALD_ALLOWED_PORTS` allows), at most
        /// 2048 characters.
        #[schema(max_length = 2048, pattern = r"^https?://\S+$")]
        pub url: String,
        /// Event types or patterns (`job.*` one part, `training.>` the rest), 1 to
        /// 100; with a catalogue, each must name or match a declared type.
        #[schema(min_items = 1, max_items = 100)]
        pub events: Vec<EventPatternText>,
        /// The signing secret: `whsec_` and base64 of 24 to 64 bytes, or 16 to 128
        /// printable characters. Made by Herald when left out.
        pub secret: Option<String>,
    }
}

webhook_body! {
    /// The body of `PUT /v1/webhooks/{id}`: the fields given change, the others
    /// keep their value. The secret changes with `rotate-secret`.
    #[schema(example = json!({"events": ["job.*"], "timeout_ms": 10000}))]
    pub struct UpdateWebhook {
        /// As on create.
        #[schema(max_length = 2048, pattern = r"^https?://\S+$")]
        pub url: Option<String>,
        /// As on create.
        #[schema(min_items = 1, max_items = 100)]
        pub events: Option<Vec<EventPatternText>>,
    }
}

/// A delay before a retry: a whole number of milliseconds, seconds, minutes,
/// hours or days, between `1s` and `7d`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, pattern = "^[0-9]+(ms|s|m|h|d)$", example = "30s")]
pub struct RetryDelay(pub String);

/// An event type, or a pattern where `*` stands for one part and a final `>` for
/// the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, pattern = r"^([A-Za-z0-9_-]+|\*)(\.([A-Za-z0-9_-]+|\*))*(\.>)?$|^>$", example = "job.*")]
pub struct EventPatternText(pub String);

/// A webhook as the API shows it. The secret is shown only when it is made.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Webhook {
    pub webhook_id: WebhookId,
    pub url: String,
    pub events: Vec<String>,
    pub status: WebhookStatus,
    pub headers: BTreeMap<String, String>,
    pub description: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// The webhook's own attempt timeout; `null` for the server's.
    pub timeout_ms: Option<u64>,
    /// `null` for no limit.
    pub rate_limit_per_sec: Option<u32>,
    pub payload_format: PayloadFormat,
    /// Empty for the server's schedule.
    pub retry_schedule: Vec<String>,
    /// Why it was disabled; only on a disabled webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
}

/// A webhook just made, with its secret (shown this once).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// Signs every delivery; keep it.
    pub secret: String,
}

/// `GET /v1/webhooks`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<Webhook>,
}

/// The body of `POST /v1/webhooks/{id}/rotate-secret`; may be left out.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecretInput {
    /// The new secret, in the form `secret` takes on create; made by Herald when
    /// left out.
    pub secret: Option<String>,
}

/// A rotated secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RotatedSecret {
    pub webhook_id: WebhookId,
    /// Signs from now on.
    pub secret: String,
    /// Until then (RFC 3339) deliveries carry a signature with the secret it
    /// replaced too.
    pub previous_secret_expires_at: String,
}

/// The answer of `POST /v1/webhooks/{id}/test`: one attempt with a test event,
/// made while the request waits.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TestResult {
    /// Whether the endpoint answered 2xx.
    pub success: bool,
    pub delivery_id: DeliveryId,
    pub event_id: EventId,
    /// The endpoint's HTTP status; `null` when it gave none.
    pub status_code: Option<u16>,
    pub response_time_ms: u64,
    /// Why the attempt failed, when it did.
    pub error: Option<String>,
    /// The first bytes of the endpoint's answer.
    pub response_body: String,
}

/// The body of `POST /v1/webhooks/{id}/recover`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverInput {
    /// RFC 3339 (from 1970 on): every failed delivery last attempted since then is
    /// sent again.
    #[schema(example = "2026-11-30T12:00:00Z", format = DateTime, pattern = r"^(19[7-9][0-9]|[2-9][0-9]{3})-")]
    pub since: String,
}

/// Deliveries sent again by `POST /v1/webhooks/{id}/recover`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Recovered {
    pub recovered: u64,
    pub delivery_ids: Vec<DeliveryId>,
}

/// A delivery sent again by hand.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RetryAccepted {
    pub delivery_id: DeliveryId,
    /// The number the new attempt will have.
    pub attempt: u32,
    /// Always `manual`.
    pub trigger: String,
}
