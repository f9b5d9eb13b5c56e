//! Request/reply between ingest and the status-tracker. The messages are the wire
//! types themselves: they never leave Herald and carry no invariants to check.

use bytes::Bytes;
use prost::Message;

pub use crate::wire::{
    RetryableDelivery, RetryableRequest, RetryableResponse, StatusQuery, StatusReply,
};

pub use crate::names::subject::{
    RETRYABLE_QUERY as RETRYABLE_SUBJECT, STATUS_QUERY as STATUS_SUBJECT,
    job_changes as job_changes_subject,
};

/// Room kept in every answer for what is not its items: the reply's own framing
/// and headers, the job's state beside a page of its history.
pub const REPLY_HEADROOM: usize = 64 * 1024;

/// Bytes of items one answer may carry when the server accepts messages of
/// `max_payload` bytes (`client.server_info().max_payload`). Answers are paged or
/// capped to it, so that they always reach the asker.
pub fn reply_budget(max_payload: usize) -> usize {
    max_payload.saturating_sub(REPLY_HEADROOM)
}

pub fn encode<M: Message>(message: &M) -> Bytes {
    Bytes::from(message.encode_to_vec())
}

pub fn decode<M: Message + Default>(bytes: &[u8]) -> Result<M, crate::DecodeError> {
    Ok(M::decode(bytes)?)
}

pub use crate::wire::status_query::Kind as StatusKind;
pub use crate::wire::{
    GetDelivery, GetEvent, GetJob, GetJobState, GetWebhookStats, ListDeliveries,
};

impl StatusQuery {
    /// A query of `tenant`'s records.
    pub fn new(tenant: impl Into<String>, kind: StatusKind) -> Self {
        StatusQuery {
            tenant: tenant.into(),
            kind: Some(kind),
        }
    }
}

impl StatusKind {
    /// The variant's field name, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            StatusKind::ListDeliveries(_) => "list_deliveries",
            StatusKind::GetDelivery(_) => "get_delivery",
            StatusKind::GetEvent(_) => "get_event",
            StatusKind::GetJob(_) => "get_job",
            StatusKind::GetJobState(_) => "get_job_state",
            StatusKind::GetWebhookStats(_) => "get_webhook_stats",
        }
    }
}
