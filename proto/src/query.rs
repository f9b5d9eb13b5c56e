//! Request/reply between ingest and the status-tracker. The messages are the wire
//! types themselves: they never leave Herald and carry no invariants to check.

use bytes::Bytes;
use prost::Message;

pub use crate::wire::{
    RetryableDelivery, RetryableRequest, RetryableResponse, StatusQuery, StatusReply,
};

/// Subject the status-tracker answers [`StatusQuery`] on.
pub const STATUS_SUBJECT: &str = "herald.query.status";

/// Core NATS subject a job's changes are announced on, for live streams: the job
/// view as JSON, after it is stored.
pub fn job_changes_subject(tenant: &str, job_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(job_id.as_bytes());
    format!("herald.jobs.{tenant}.{}", hex::encode(&digest[..16]))
}

/// Subject the status-tracker answers "what can be retried by hand" on.
pub const RETRYABLE_SUBJECT: &str = "herald.query.deliveries.retryable";

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
