//! Header names: those on NATS messages Herald sets or reads, and those on the
//! HTTP requests it delivers (lowercase, as HTTP/2 sends them).

/// JetStream's de-duplication id.
pub const MSG_ID: &str = "Nats-Msg-Id";
/// When the server publishes a held message (`@at <RFC 3339>`).
pub const SCHEDULE: &str = "Nats-Schedule";
/// Where the server publishes a held message.
pub const SCHEDULE_TARGET: &str = "Nats-Schedule-Target";
/// A message's stream sequence, on direct gets.
pub const SEQUENCE: &str = "Nats-Sequence";
/// The body's format on `ingest.>` and `events.>`.
pub const CONTENT_TYPE: &str = "Content-Type";
/// [`CONTENT_TYPE`] of a protobuf `herald.v1.Event`.
pub const PROTOBUF: &str = "application/protobuf";
/// Also taken for [`PROTOBUF`].
pub const X_PROTOBUF: &str = "application/x-protobuf";
/// W3C trace context, on NATS messages and HTTP requests alike.
pub const TRACEPARENT: &str = "traceparent";
pub const TRACESTATE: &str = "tracestate";

/// On `events.>`: the highest `endpoints` revision ingest held when it accepted the
/// event. Fan-out waits until its own mirror holds it, so a webhook created before
/// the event was accepted is never missed.
pub const REGISTRY_REVISION: &str = "Herald-Registry-Revision";
/// On `REJECTED`: why the message was parked.
pub const REJECTED_REASON: &str = "Herald-Rejected-Reason";
/// On `REJECTED`: the subject the message came on.
pub const ORIGINAL_SUBJECT: &str = "Herald-Original-Subject";
/// On `REJECTED`: the size of a message cut to the largest event, before.
pub const ORIGINAL_SIZE: &str = "Herald-Original-Size";
/// On a bundle of records: how many it holds.
pub const BUNDLE: &str = "Herald-Bundle";
/// On a record alone on `OUTCOMES`: its [`RecordType`](super::RecordType).
pub const RECORD_TYPE: &str = "Herald-Record-Type";

/// Headers of a delivery (HTTP), Standard Webhooks' and the compatibility ones.
pub mod http {
    pub const WEBHOOK_ID: &str = "webhook-id";
    pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
    pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";
    pub const X_WEBHOOK_SIGNATURE: &str = "x-webhook-signature";
    pub const X_WEBHOOK_ID: &str = "x-webhook-id";
    pub const X_EVENT_ID: &str = "x-event-id";
    pub const X_TIMESTAMP: &str = "x-timestamp";

    /// Headers Herald sets itself (or HTTP owns); a webhook's own headers may not
    /// override them. Lowercase.
    pub const RESERVED: &[&str] = &[
        "content-type",
        "content-length",
        "host",
        "user-agent",
        super::TRACEPARENT,
        super::TRACESTATE,
        "transfer-encoding",
        "connection",
        WEBHOOK_ID,
        WEBHOOK_TIMESTAMP,
        WEBHOOK_SIGNATURE,
        X_WEBHOOK_SIGNATURE,
        X_WEBHOOK_ID,
        X_EVENT_ID,
        X_TIMESTAMP,
    ];
}
