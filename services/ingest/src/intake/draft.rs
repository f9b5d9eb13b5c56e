//! Turning what a producer sent into an [`Event`]: the JSON body of
//! `POST /v1/events` (also accepted on NATS) or a protobuf `herald.v1.Event`.
//! `data` is kept as the producer's bytes, never re-encoded. Both ways follow the
//! same rules: a JSON body with a field Herald does not know is refused (so a
//! typo such as `jobid` is not silently dropped), a body naming a tenant is refused
//! (the tenant is the subject's or the API key's, never the producer's word), `data` may nest at most
//! [`MAX_DATA_DEPTH`](herald_proto::event::MAX_DATA_DEPTH) levels, and the event's
//! time must lie between 1970 and 9999. Events are bounded so that each fits in one
//! NATS message with its envelope: the whole body by the largest event
//! ([`check_size`]), a job's callback by [`MAX_CALLBACK_BYTES`].

use bytes::Bytes;
use herald_proto::event::{check_data, check_event_time};
use herald_proto::{Event, EventType, ids::check_event_id, wire};
use prost::Message;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::callback::CallbackInput;
use super::shown;
use crate::Config;

/// Why an event was not accepted; `detail` is fit to show the producer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct Invalid {
    pub detail: String,
}

impl Invalid {
    pub fn new(detail: impl Into<String>) -> Self {
        Invalid {
            detail: detail.into(),
        }
    }
}

/// The JSON shape of an event, as posted to `/v1/events` (and published on NATS
/// as JSON). `event_type` and `data` are required; they are `Option`s here so that
/// their absence is told in words of the API, not of the parser.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "event_type": "job.completed",
    "event_id": "order-42-done",
    "job_id": "job_42",
    "data": {"job_id": "job_42", "status": "completed", "result_url": "https://example.com/r/42"}
}))]
pub struct EventInput {
    /// Dot-separated parts of letters, digits, `_` and `-`, such as `job.completed`;
    /// with a catalogue, one it declares.
    #[schema(
        required = true,
        nullable = false,
        max_length = 128,
        pattern = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"
    )]
    pub event_type: Option<String>,
    /// Any JSON value, delivered byte for byte; with a catalogue, it must pass the
    /// type's schema.
    #[schema(required = true, value_type = serde_json::Value)]
    pub data: Option<Box<RawValue>>,
    /// The producer's id for the event: a repeat within the dedupe window is stored
    /// once. Made by Herald (`evt_` and a ULID) when left out.
    #[schema(value_type = Option<herald_model::EventId>)]
    pub event_id: Option<String>,
    /// The job the event belongs to: its events make up `GET /v1/jobs/{job_id}`.
    #[schema(value_type = Option<herald_model::JobId>)]
    pub job_id: Option<String>,
    /// When it happened (RFC 3339, from 1970 on); defaults to when Herald accepted it.
    #[schema(format = DateTime, pattern = r"^(19[7-9][0-9]|[2-9][0-9]{3})-")]
    pub timestamp: Option<String>,
    /// The job's own delivery target.
    pub callback: Option<CallbackInput>,
}

/// What the producer sent, before Herald adds tenant, id and times.
#[derive(Debug)]
pub struct Draft {
    pub event_type: String,
    pub data: Bytes,
    pub event_id: Option<String>,
    pub job_id: Option<String>,
    pub timestamp_ms: Option<i64>,
    pub callback: Option<CallbackInput>,
}

impl Draft {
    /// Parses the JSON body of an event.
    pub fn from_json(body: &[u8]) -> Result<Self, Invalid> {
        let input: EventInput = serde_json::from_slice(body)
            .map_err(|e| Invalid::new(format!("body is not a valid event: {e}")))?;
        Draft::try_from(input)
    }

    /// Parses a protobuf `herald.v1.Event`.
    pub fn from_protobuf(body: &[u8]) -> Result<Self, Invalid> {
        let event = wire::Event::decode(body)
            .map_err(|e| Invalid::new(format!("body is not a valid herald.v1.Event: {e}")))?;
        // As in JSON, where `tenant` is not a field: the tenant is the subject's (or
        // the API key's), which the broker lets only that tenant's producers use.
        if !event.tenant.is_empty() {
            return Err(Invalid::new(format!(
                "tenant `{}` is named in the body; Herald takes the tenant from the \
                 subject or the API key, never from the body",
                shown(&event.tenant)
            )));
        }
        Ok(Draft {
            event_type: event.event_type,
            data: event.data,
            event_id: Some(event.event_id).filter(|s| !s.is_empty()),
            job_id: Some(event.job_id).filter(|s| !s.is_empty()),
            timestamp_ms: Some(event.timestamp_ms).filter(|t| *t > 0),
            callback: event.callback.map(|c| CallbackInput {
                url: c.url,
                headers: c.headers.into_iter().collect(),
                payload_format: Some(c.payload_format).filter(|f| !f.is_empty()),
            }),
        })
    }

    /// Completes the event for `tenant`. `default_id` names it when the producer did
    /// not; it must be the same each time the same message is processed.
    pub fn accept(
        self,
        tenant: &str,
        default_id: impl FnOnce() -> String,
        now_ms: i64,
        config: &Config,
    ) -> Result<Event, Invalid> {
        if self.event_type.is_empty() {
            return Err(Invalid::new("event_type is missing"));
        }
        let event_type = EventType::parse(&self.event_type)
            .map_err(|r| Invalid::new(format!("event_type {r}")))?;
        check_data(&self.data).map_err(|r| Invalid::new(format!("data {r}")))?;
        if let Some(timestamp_ms) = self.timestamp_ms {
            check_event_time(timestamp_ms).map_err(|r| Invalid::new(format!("timestamp {r}")))?;
        }
        let event_id = match self.event_id {
            Some(id) => {
                check_event_id(&id).map_err(|r| Invalid::new(format!("event_id {r}")))?;
                id
            }
            None => default_id(),
        };
        if let Some(job_id) = &self.job_id {
            check_event_id(job_id).map_err(|r| Invalid::new(format!("job_id {r}")))?;
        }
        // Checked, bounded, and its header values sealed.
        let callback = self.callback.map(|c| c.check(config)).transpose()?;
        Ok(Event {
            event_id,
            tenant: tenant.to_owned(),
            event_type,
            data: self.data,
            job_id: self.job_id,
            timestamp_ms: self.timestamp_ms.unwrap_or(now_ms),
            accepted_at_ms: now_ms,
            callback,
        })
    }
}

impl TryFrom<EventInput> for Draft {
    type Error = Invalid;

    fn try_from(input: EventInput) -> Result<Self, Invalid> {
        let timestamp_ms = input
            .timestamp
            .as_deref()
            .map(|t| {
                herald_proto::parse_rfc3339(t).map_err(|r| Invalid::new(format!("timestamp: {r}")))
            })
            .transpose()?;
        Ok(Draft {
            event_type: input.event_type.unwrap_or_default(),
            data: input
                .data
                .map(|raw| Bytes::copy_from_slice(raw.get().as_bytes()))
                .ok_or_else(|| Invalid::new("data is missing"))?,
            event_id: input.event_id,
            job_id: input.job_id,
            timestamp_ms,
            callback: input.callback,
        })
    }
}

/// The most a callback's URL, header names and values may take together, as the
/// producer sent them. A job's callback rides in every delivery task of the job
/// beside the event, so it counts against the room kept for the envelope
/// ([`herald_common::nats::ENVELOPE_BYTES`]), not against the event's own size.
/// Sealed, a value grows to 4/3 of its length plus at most 60 bytes; as headers
/// take at most 8 KiB in all (20 of them) and a URL at most 2 KiB, a sealed callback
/// still takes less than 16 KiB.
pub const MAX_CALLBACK_BYTES: usize = 16 * 1024;

/// An event of `size` bytes, refused when over `limit` (the largest event).
pub fn check_size(size: usize, limit: usize) -> Result<(), Invalid> {
    if size > limit {
        return Err(Invalid::new(format!(
            "event is {size} bytes; the limit is {limit}"
        )));
    }
    Ok(())
}

/// A fresh event id for events posted without one.
pub fn new_event_id() -> String {
    format!("evt_{}", ulid::Ulid::new().to_string().to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_data_keeps_the_producers_bytes() {
        let body = r#"{"event_type":"job.completed","data":{"z":8.0,"big":1152921504606846976,"s":"caf\u00e9 ü"}}"#.as_bytes();
        let event = Draft::from_json(body)
            .unwrap()
            .accept("acme", || "evt_x".into(), 5, &Config::test_with(&[]))
            .unwrap();
        assert_eq!(
            &event.data[..],
            r#"{"z":8.0,"big":1152921504606846976,"s":"caf\u00e9 ü"}"#.as_bytes()
        );
        assert_eq!(event.event_id, "evt_x");
        assert_eq!(event.timestamp_ms, 5);
    }

    #[test]
    fn invalid_events_say_what_is_wrong() {
        let deep = format!(
            r#"{{"event_type":"a","data":{}1{}}}"#,
            "[".repeat(65),
            "]".repeat(65)
        );
        let cases: [(&[u8], &str); 8] = [
            (
                br#"{"event_type":"job.done","jobid":"j","data":{}}"#,
                "body is not a valid event: unknown field `jobid`",
            ),
            (deep.as_bytes(), "data is nested more than 64 levels deep"),
            (
                br#"{"event_type":"a","timestamp":"1969-12-31T23:59:59Z","data":{}}"#,
                "timestamp must be between",
            ),
            (b"{", "body is not a valid event"),
            (br#"{"data":{}}"#, "event_type is missing"),
            (
                br#"{"event_type":"job.*","data":{}}"#,
                "event_type part `*`",
            ),
            (br#"{"event_type":"job.done"}"#, "data is missing"),
            (
                br#"{"event_type":"job.done","data":{},"event_id":"a b"}"#,
                "event_id must be",
            ),
        ];
        for (body, expected) in cases {
            let err = Draft::from_json(body)
                .and_then(|d| d.accept("acme", || "evt_1".into(), 1, &Config::test_with(&[])))
                .unwrap_err();
            assert!(
                err.detail.starts_with(expected),
                "{} vs {expected}",
                err.detail
            );
        }
    }

    #[test]
    fn a_callback_is_bounded_with_its_headers() {
        let config = Config::test_with(&[]);
        let event = |headers: serde_json::Value| {
            let body = serde_json::json!({
                "event_type": "job.done",
                "data": {},
                "callback": {"url": "https://example.com/cb", "headers": headers},
            });
            Draft::from_json(&serde_json::to_vec(&body).unwrap())
                .unwrap()
                .accept("acme", || "evt_1".into(), 1, &config)
        };
        // As much as the header bounds allow fits within the callback's bound.
        let largest = serde_json::json!({
            "X-Token-A": "a".repeat(4000),
            "X-Token-B": "b".repeat(4000),
        });
        assert!(event(largest).is_ok());
        let err = event(serde_json::json!({"X-Token": "t".repeat(16 * 1024)})).unwrap_err();
        assert!(err.detail.contains("X-Token"), "{}", err.detail);
    }

    #[test]
    fn an_accepted_callback_carries_its_header_values_sealed() {
        let config = Config::test_with(&[]);
        let body = serde_json::json!({
            "event_type": "job.done",
            "data": {},
            "callback": {"url": "https://example.com/cb",
                         "headers": {"Authorization": "Bearer tok-1"}},
        });
        let event = Draft::from_json(&serde_json::to_vec(&body).unwrap())
            .unwrap()
            .accept("acme", || "evt_1".into(), 1, &config)
            .unwrap();
        // As stored on EVENTS and in job-callbacks, no value is in the clear.
        assert!(!String::from_utf8_lossy(&event.encode()).contains("tok-1"));
        let callback = event.callback.unwrap();
        assert!(!String::from_utf8_lossy(&callback.encode()).contains("tok-1"));
        let stored = &callback.headers.stored()["Authorization"];
        assert!(stored.starts_with("v1:"), "{stored}");
        let opened = callback.headers.open(&|v| config.cipher.open(v));
        assert_eq!(opened["Authorization"], "Bearer tok-1");
    }
}
