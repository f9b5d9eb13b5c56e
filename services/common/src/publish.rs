//! The one way Herald publishes to JetStream: with a message id (a repeat within
//! the stream's dedupe window is stored once), the W3C trace context, and the
//! broker's ack awaited — or handed back un-awaited to callers that publish many
//! and await the acks together. A failure is a [`PublishError`] whose
//! [`kind`](PublishError::kind) tells a consumer what to do with the message it
//! was handling: hand it back to be tried again, or park it.

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use async_nats::HeaderMap;
use async_nats::Subject;
use async_nats::jetstream::{self, ErrorCode, context};
use bytes::Bytes;
use herald_proto::names::header;

pub use async_nats::jetstream::publish::PublishAck;

/// Where a message's trace context comes from.
#[derive(Debug, Clone, Copy, Default)]
pub enum Trace<'a> {
    /// The current span's: the message continues the work in hand.
    #[default]
    Current,
    /// A `traceparent` kept with the work itself (a parked task's own), or none.
    Parent(Option<&'a str>),
}

/// How one message is published, besides its subject and payload.
#[derive(Debug, Default)]
pub struct Publish<'a> {
    /// `Nats-Msg-Id`: the broker stores a repeat within its dedupe window once and
    /// says so in the ack ([`PublishAck::duplicate`]).
    pub message_id: Option<&'a str>,
    /// Further headers: a record's type, a schedule, a rejection reason.
    pub headers: HeaderMap,
    pub trace: Trace<'a>,
}

impl<'a> Publish<'a> {
    /// Once by `message_id`, in the current span's trace.
    pub fn once(message_id: &'a str) -> Self {
        Publish {
            message_id: Some(message_id),
            ..Default::default()
        }
    }

    /// With `headers` besides the ones the helper sets.
    pub fn headers(self, headers: HeaderMap) -> Self {
        Publish { headers, ..self }
    }

    /// In the trace of `traceparent` (none when `None`) instead of the current span's.
    pub fn traceparent(self, traceparent: Option<&'a str>) -> Self {
        Publish {
            trace: Trace::Parent(traceparent),
            ..self
        }
    }

    fn into_headers(self) -> HeaderMap {
        let mut headers = self.headers;
        if let Some(message_id) = self.message_id {
            headers.insert(header::MSG_ID, message_id);
        }
        match self.trace {
            Trace::Current => crate::trace::inject(&tracing::Span::current(), &mut headers),
            Trace::Parent(Some(traceparent)) => headers.insert(header::TRACEPARENT, traceparent),
            Trace::Parent(None) => {}
        }
        headers
    }
}

/// Publishes `payload` on `subject` as `options` say and waits for the broker's
/// ack: the message is stored when this returns `Ok`.
pub async fn publish(
    js: &jetstream::Context,
    subject: impl Into<Subject>,
    payload: Bytes,
    options: Publish<'_>,
) -> Result<PublishAck, PublishError> {
    publish_unacked(js, subject, payload, options).await?.await
}

/// Sends `payload` on `subject` as `options` say and returns the ack to await:
/// callers that publish many messages await their acks together.
pub async fn publish_unacked(
    js: &jetstream::Context,
    subject: impl Into<Subject>,
    payload: Bytes,
    options: Publish<'_>,
) -> Result<PendingAck, PublishError> {
    let subject: Subject = subject.into();
    let headers = options.into_headers();
    match js
        .publish_with_headers(subject.clone(), headers, payload)
        .await
    {
        Ok(ack) => Ok(PendingAck {
            ack,
            subject: subject.to_string(),
        }),
        Err(source) => Err(PublishError::new(subject.to_string(), source)),
    }
}

/// The broker's ack of a message sent, still to come.
#[derive(Debug)]
pub struct PendingAck {
    ack: context::PublishAckFuture,
    subject: String,
}

impl IntoFuture for PendingAck {
    type Output = Result<PublishAck, PublishError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        let PendingAck { ack, subject } = self;
        Box::pin(async move {
            ack.await
                .map_err(|source| PublishError::new(subject, source))
        })
    }
}

/// What a failed publish means for the message a caller was handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishErrorKind {
    /// The broker did not take the message now: no ack in time, the connection
    /// broke, too many acks outstanding, or no stream answered — none exists for
    /// the subject, or (which the client cannot tell apart) its leader is being
    /// elected. Hand the work back and try again.
    Unavailable,
    /// The stream (or the account's storage) is at its limit and refuses new
    /// messages until it has drained. Try again later; nothing is dropped.
    Full,
    /// The broker refuses this very message: too large, or headers it cannot
    /// accept. Trying again will not help: park the work.
    Rejected,
    /// Anything else the broker or the client said. Try again; a consumer's
    /// bounded redelivery parks the work if it never passes.
    Other,
}

/// A publish that failed, with what it means for the caller.
#[derive(Debug, thiserror::Error)]
#[error("cannot publish to {subject}: {source}")]
pub struct PublishError {
    kind: PublishErrorKind,
    subject: String,
    source: context::PublishError,
}

impl PublishError {
    fn new(subject: String, source: context::PublishError) -> Self {
        PublishError {
            kind: kind_of(&source),
            subject,
            source,
        }
    }

    pub fn kind(&self) -> PublishErrorKind {
        self.kind
    }

    /// Whether the same publish may succeed later (every kind but
    /// [`Rejected`](PublishErrorKind::Rejected)).
    pub fn is_transient(&self) -> bool {
        self.kind != PublishErrorKind::Rejected
    }
}

fn kind_of(err: &context::PublishError) -> PublishErrorKind {
    use context::PublishErrorKind as Client;
    match err.kind() {
        Client::TimedOut | Client::BrokenPipe | Client::MaxAckPending => {
            PublishErrorKind::Unavailable
        }
        // "No responders": no stream captures the subject, or its leader is gone
        // for the moment. Herald publishes only to subjects its streams capture,
        // so the second is what a running system meets.
        Client::StreamNotFound => PublishErrorKind::Unavailable,
        Client::MaxPayloadExceeded | Client::WrongLastMessageId | Client::WrongLastSequence => {
            PublishErrorKind::Rejected
        }
        Client::Other => std::error::Error::source(err)
            .and_then(|source| source.downcast_ref::<jetstream::Error>())
            .map_or(PublishErrorKind::Other, |api| {
                kind_of_code(api.error_code())
            }),
    }
}

/// What the broker's own error code means for the caller.
fn kind_of_code(code: ErrorCode) -> PublishErrorKind {
    match code {
        // "maximum bytes exceeded", "maximum messages exceeded" (discard new).
        ErrorCode::STREAM_STORE_FAILED
        | ErrorCode::STORAGE_RESOURCES_EXCEEDED
        | ErrorCode::MEMORY_RESOURCES_EXCEEDED
        | ErrorCode::ACCOUNT_RESOURCES_EXCEEDED
        | ErrorCode::INSUFFICIENT_RESOURCES => PublishErrorKind::Full,
        ErrorCode::CLUSTER_NOT_AVAILABLE
        | ErrorCode::CLUSTER_NOT_LEADER
        | ErrorCode::STREAM_OFFLINE
        | ErrorCode::STREAM_OFFLINE_REASON
        | ErrorCode::JETSTREAM_NOT_ENABLED => PublishErrorKind::Unavailable,
        ErrorCode::STREAM_MESSAGE_EXCEEDS_MAXIMUM
        | ErrorCode::STREAM_HEADER_EXCEEDS_MAXIMUM
        | ErrorCode::STREAM_NOT_MATCH
        | ErrorCode::BAD_REQUEST
        | ErrorCode::MESSAGE_TTL_INVALID
        | ErrorCode::MESSAGE_TTL_DISABLED
        | ErrorCode::MESSAGE_SCHEDULES_DISABLED
        | ErrorCode::MESSAGE_SCHEDULES_PATTERN_INVALID
        | ErrorCode::MESSAGE_SCHEDULES_TARGET_INVALID
        | ErrorCode::MESSAGE_SCHEDULES_TTL_INVALID
        | ErrorCode::MESSAGE_SCHEDULES_ROLLUP_INVALID
        | ErrorCode::MESSAGE_SCHEDULES_SOURCE_INVALID
        | ErrorCode::MESSAGE_SCHEDULES_SCHEDULER_INVALID
        | ErrorCode::MESSAGE_SCHEDULES_TIME_ZONE_INVALID => PublishErrorKind::Rejected,
        _ => PublishErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_are_told_apart() {
        use context::PublishErrorKind as Client;
        let kind = |k| kind_of(&context::PublishError::new(k));
        assert_eq!(kind(Client::TimedOut), PublishErrorKind::Unavailable);
        assert_eq!(kind(Client::StreamNotFound), PublishErrorKind::Unavailable);
        assert_eq!(kind(Client::MaxPayloadExceeded), PublishErrorKind::Rejected);
        assert_eq!(kind(Client::Other), PublishErrorKind::Other);
    }

    #[test]
    fn broker_refusals_are_told_by_their_code() {
        let refusal = |code: u64| {
            let api: jetstream::Error = serde_json::from_value(serde_json::json!({
                "code": 503, "err_code": code, "description": "refused",
            }))
            .unwrap();
            kind_of(&context::PublishError::with_source(
                context::PublishErrorKind::Other,
                api,
            ))
        };
        assert_eq!(refusal(10077), PublishErrorKind::Full);
        assert_eq!(refusal(10054), PublishErrorKind::Rejected);
        assert_eq!(refusal(10008), PublishErrorKind::Unavailable);
        assert_eq!(refusal(10189), PublishErrorKind::Rejected);
        assert_eq!(refusal(1), PublishErrorKind::Other);
    }

    #[test]
    fn the_helper_sets_the_message_id_and_a_given_trace() {
        let headers = Publish::once("evt_1")
            .traceparent(Some(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ))
            .into_headers();
        assert_eq!(headers.get(header::MSG_ID).unwrap().as_str(), "evt_1");
        assert!(
            headers
                .get(header::TRACEPARENT)
                .unwrap()
                .as_str()
                .starts_with("00-4bf92f"),
        );
    }
}
