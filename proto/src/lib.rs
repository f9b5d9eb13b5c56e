//! Herald's wire schemas (`proto/herald/v1/*.proto`, compiled with prost) and the
//! domain types every service works with.
//!
//! # Layout
//! - [`wire`]: the generated protobuf types, for producers that publish protobuf and
//!   for the conversions below. Services do not pass them around.
//! - [`event`]: [`Event`], what producers publish, validated on the way in.
//! - [`endpoint`]: [`Endpoint`], a customer's subscription.
//! - [`delivery`]: [`DeliveryTask`] and [`DeliveryAttempt`].
//! - [`pattern`]: event types and the NATS-style patterns endpoints subscribe with.
//! - [`payload`]: the body a receiver gets, in each payload format.
//! - [`sealed`]: a job callback's headers, their values sealed wherever stored.
//! - [`listen`]: the request/reply of a listening session (`herald listen`).
//! - [`query`]: the request/reply messages between ingest and the status-tracker.
//! - [`names`]: every subject, stream, consumer, header, status word, record type
//!   and built-in event type the services share, defined once.
//!
//! Every conversion from wire bytes goes through `TryFrom` and rejects malformed
//! input with a [`DecodeError`] that says what was wrong.

#![forbid(unsafe_code)]

pub mod delivery;
pub mod endpoint;
pub mod event;
pub mod ids;
pub mod listen;
pub mod names;
pub mod pattern;
pub mod payload;
pub mod query;
pub mod sealed;

pub use delivery::{
    AttemptOutcome, DELIVERY_PARTITIONS, DeliveryAttempt, DeliveryTask, FanOut, PayloadFormat,
    RetryDecision, Trigger,
};
pub use endpoint::{Endpoint, EndpointStatus, Listening, RetiringSecret};
pub use event::{Callback, Event};
pub use pattern::{EventPattern, EventType};
pub use sealed::SealedHeaders;

/// The generated protobuf types of package `herald.v1`.
#[allow(clippy::all, missing_docs)]
pub mod wire {
    include!(concat!(env!("OUT_DIR"), "/herald.v1.rs"));
}

/// Why bytes could not become a domain value.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not a valid protobuf message: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("{field} is missing")]
    Missing { field: &'static str },
    #[error("{field} is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl DecodeError {
    pub(crate) fn invalid(field: &'static str, reason: impl ToString) -> Self {
        DecodeError::Invalid {
            field,
            reason: reason.to_string(),
        }
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// At most `max` bytes of `text`, cut at a character boundary: how every excerpt
/// and reason Herald keeps or forwards is bounded.
pub fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Formats milliseconds since the epoch as RFC 3339 in UTC with millisecond
/// precision, e.g. `2026-11-23T13:09:15.123Z`.
pub fn rfc3339(ms: i64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// A time that is not RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not an RFC 3339 time such as 2026-01-31T12:00:00Z")]
pub struct TimeError {
    pub value: String,
}

/// Parses an RFC 3339 time into milliseconds since the epoch.
pub fn parse_rfc3339(value: &str) -> Result<i64, TimeError> {
    time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| TimeError {
            value: value.to_owned(),
        })
}

#[cfg(test)]
mod time_tests {
    #[test]
    fn cut_keeps_whole_characters() {
        let text = "é".repeat(3000);
        assert_eq!(super::cut(&text, 4095).len(), 4094);
        assert_eq!(super::cut("ok", 4096), "ok");
        assert_eq!(super::cut("abc", 0), "");
    }

    #[test]
    fn rfc3339_round_trips_milliseconds() {
        assert_eq!(
            super::rfc3339(1_614_265_330_123),
            "2021-02-25T15:02:10.123Z"
        );
        assert_eq!(
            super::parse_rfc3339("2021-02-25T15:02:10.123Z").unwrap(),
            1_614_265_330_123
        );
        assert!(super::parse_rfc3339("yesterday").is_err());
    }
}
