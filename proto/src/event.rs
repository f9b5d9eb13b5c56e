//! [`Event`]: one state change of a job, as carried on `events.<tenant>.<event_type>`.

use bytes::Bytes;
use prost::Message;
use serde_json::value::RawValue;

use crate::delivery::PayloadFormat;
use crate::ids::{check_event_id, check_tenant};
use crate::pattern::EventType;
use crate::sealed::SealedHeaders;
use crate::{DecodeError, wire};

/// A validated event. `data` holds the producer's JSON bytes exactly as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub event_id: String,
    pub tenant: String,
    pub event_type: EventType,
    /// Valid JSON, byte for byte what the producer sent.
    pub data: Bytes,
    pub job_id: Option<String>,
    /// When the event happened (milliseconds since the epoch).
    pub timestamp_ms: i64,
    /// When Herald accepted it (milliseconds since the epoch).
    pub accepted_at_ms: i64,
    pub callback: Option<Callback>,
}

/// A job's own delivery target, given when the job was started.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Callback {
    pub url: String,
    /// Sealed by ingest when it accepts the event; opened only to send.
    pub headers: SealedHeaders,
    pub payload_format: PayloadFormat,
}

impl Event {
    /// The NATS subject this event is stored under.
    pub fn subject(&self) -> String {
        crate::names::subject::event(&self.tenant, self.event_type.as_str())
    }

    pub fn to_wire(&self) -> wire::Event {
        wire::Event {
            event_id: self.event_id.clone(),
            event_type: self.event_type.to_string(),
            data: self.data.clone(),
            job_id: self.job_id.clone().unwrap_or_default(),
            timestamp_ms: self.timestamp_ms,
            tenant: self.tenant.clone(),
            callback: self.callback.as_ref().map(|c| wire::Callback {
                url: c.url.clone(),
                headers: c.headers.stored().clone().into_iter().collect(),
                payload_format: c.payload_format.as_str().to_owned(),
            }),
            accepted_at_ms: self.accepted_at_ms,
        }
    }

    pub fn encode(&self) -> Bytes {
        Bytes::from(self.to_wire().encode_to_vec())
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Event::try_from(wire::Event::decode(bytes)?)
    }
}

/// Why an event's `data` is refused; the text reads after the field's name.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("is missing")]
    Missing,
    #[error("is not valid JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("is nested more than {MAX_DATA_DEPTH} levels deep (arrays and objects)")]
    TooDeep,
}

/// An event time outside what every part of Herald can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z")]
pub struct EventTimeError;

/// Checks that `data` is one JSON value.
pub fn check_json(data: &[u8]) -> Result<(), DataError> {
    if data.is_empty() {
        return Err(DataError::Missing);
    }
    serde_json::from_slice::<&RawValue>(data)
        .map(|_| ())
        .map_err(DataError::NotJson)
}

/// How deep a producer's `data` may nest arrays and objects. Receivers parse what
/// Herald sends, one level deeper inside the envelope: at 64 it stays well within
/// the nesting common JSON parsers take by default (Ruby's 100, serde_json's 128).
pub const MAX_DATA_DEPTH: usize = 64;

/// What intake asks of a producer's `data`: one JSON value ([`check_json`]),
/// nested at most [`MAX_DATA_DEPTH`] levels deep.
pub fn check_data(data: &[u8]) -> Result<(), DataError> {
    check_json(data)?;
    if depth_exceeds(data, MAX_DATA_DEPTH) {
        return Err(DataError::TooDeep);
    }
    Ok(())
}

/// Whether valid JSON `json` nests arrays and objects deeper than `max`. One pass,
/// no recursion, so any depth is measured without risk.
fn depth_exceeds(json: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in json {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// The latest event time Herald takes: 9999-12-31T23:59:59.999Z, the last instant
/// RFC 3339 can write.
pub const MAX_EVENT_TIME_MS: i64 = 253_402_300_799_999;

/// What intake asks of an event's time (milliseconds since the epoch): not before
/// 1970, not after year 9999, so that every part of Herald can write it as RFC 3339
/// and receivers as Unix seconds.
pub fn check_event_time(ms: i64) -> Result<(), EventTimeError> {
    if (0..=MAX_EVENT_TIME_MS).contains(&ms) {
        Ok(())
    } else {
        Err(EventTimeError)
    }
}

impl TryFrom<wire::Event> for Event {
    type Error = DecodeError;

    fn try_from(event: wire::Event) -> Result<Self, Self::Error> {
        if event.tenant.is_empty() {
            return Err(DecodeError::Missing { field: "tenant" });
        }
        check_tenant(&event.tenant).map_err(|r| DecodeError::invalid("tenant", r))?;
        if event.event_id.is_empty() {
            return Err(DecodeError::Missing { field: "event_id" });
        }
        check_event_id(&event.event_id).map_err(|r| DecodeError::invalid("event_id", r))?;
        if event.event_type.is_empty() {
            return Err(DecodeError::Missing {
                field: "event_type",
            });
        }
        let event_type = EventType::parse(&event.event_type)
            .map_err(|r| DecodeError::invalid("event_type", r))?;
        check_json(&event.data).map_err(|r| DecodeError::invalid("data", r))?;
        let callback = event
            .callback
            .map(|c| {
                Ok::<_, DecodeError>(Callback {
                    url: c.url,
                    headers: SealedHeaders::from_stored(c.headers.into_iter().collect()),
                    payload_format: PayloadFormat::parse(&c.payload_format)
                        .map_err(|r| DecodeError::invalid("callback.payload_format", r))?,
                })
            })
            .transpose()?;
        Ok(Event {
            event_id: event.event_id,
            tenant: event.tenant,
            event_type,
            data: event.data,
            job_id: Some(event.job_id).filter(|j| !j.is_empty()),
            timestamp_ms: event.timestamp_ms,
            accepted_at_ms: event.accepted_at_ms,
            callback,
        })
    }
}

impl Callback {
    /// Encodes as a protobuf `herald.v1.Callback` (the job-callbacks bucket's values).
    pub fn encode(&self) -> Bytes {
        Bytes::from(
            wire::Callback {
                url: self.url.clone(),
                headers: self.headers.stored().clone().into_iter().collect(),
                payload_format: self.payload_format.as_str().to_owned(),
            }
            .encode_to_vec(),
        )
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let wire = wire::Callback::decode(bytes)?;
        if wire.url.is_empty() {
            return Err(DecodeError::Missing { field: "url" });
        }
        Ok(Callback {
            url: wire.url,
            headers: SealedHeaders::from_stored(wire.headers.into_iter().collect()),
            payload_format: PayloadFormat::parse(&wire.payload_format)
                .map_err(|r| DecodeError::invalid("payload_format", r))?,
        })
    }

    /// The key of a job's callback in the job-callbacks bucket. Job ids may hold
    /// characters keys may not, so the key carries a digest of the id.
    pub fn job_key(tenant: &str, job_id: &str) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(job_id.as_bytes());
        format!("{tenant}.{}", hex::encode(&digest[..16]))
    }

    /// The id `tenant`'s deliveries to this callback go under: derived from the
    /// tenant and the URL, so every event of a job shares one delivery queue and its
    /// limits, and two tenants calling back the same URL never share anything.
    pub fn target_id(&self, tenant: &str) -> String {
        use sha2::{Digest, Sha256};
        let mut digest = Sha256::new();
        digest.update(tenant.as_bytes());
        digest.update([0]);
        digest.update(self.url.as_bytes());
        format!("cb_{}", hex::encode(&digest.finalize()[..12]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Event {
        Event {
            event_id: "evt_1".into(),
            tenant: "acme".into(),
            event_type: EventType::parse("job.completed").unwrap(),
            data: Bytes::from_static(br#"{"z":8.0,"a":1152921504606846976}"#),
            job_id: Some("job_9".into()),
            timestamp_ms: 1_700_000_000_000,
            accepted_at_ms: 1_700_000_000_001,
            callback: None,
        }
    }

    #[test]
    fn round_trips_through_protobuf_with_data_bytes_intact() {
        let event = sample();
        let decoded = Event::decode(&event.encode()).unwrap();
        assert_eq!(decoded, event);
        assert_eq!(&decoded.data[..], br#"{"z":8.0,"a":1152921504606846976}"#);
    }

    #[test]
    fn rejects_invalid_json_and_missing_fields() {
        let mut wire = sample().to_wire();
        wire.data = Bytes::from_static(b"{not json");
        let err = Event::try_from(wire).unwrap_err();
        assert!(err.to_string().starts_with("data is invalid"), "{err}");

        let mut wire = sample().to_wire();
        wire.event_type.clear();
        assert_eq!(
            Event::try_from(wire).unwrap_err().to_string(),
            "event_type is missing"
        );

        assert!(Event::decode(b"\xff\xff\xff").is_err());
    }

    fn nested(depth: usize) -> String {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn data_may_nest_so_deep_and_no_deeper() {
        assert!(check_data(b"1").is_ok());
        assert!(check_data(nested(MAX_DATA_DEPTH).as_bytes()).is_ok());
        let deep = check_data(nested(MAX_DATA_DEPTH + 1).as_bytes()).unwrap_err();
        assert!(deep.to_string().contains("64 levels"), "{deep}");
        assert!(check_data(nested(100_000).as_bytes()).is_err());
        let objects = format!(r#"{}1{}"#, r#"{"a":"#.repeat(65), "}".repeat(65));
        assert!(check_data(objects.as_bytes()).is_err());
        // Brackets and escaped quotes inside strings are text.
        let text = format!(r#"{{"s":"\"{}\\","t":[[1]]}}"#, "[{".repeat(500));
        assert!(check_data(text.as_bytes()).is_ok(), "{text}");
        // Siblings do not add up.
        let wide = format!("[{}]", vec![nested(60); 100].join(","));
        assert!(check_data(wide.as_bytes()).is_ok());
        assert_eq!(check_data(b"").unwrap_err().to_string(), "is missing");
        assert!(check_data(b"[").is_err());
    }

    #[test]
    fn event_times_are_writable_as_rfc3339() {
        assert!(check_event_time(0).is_ok());
        assert!(check_event_time(MAX_EVENT_TIME_MS).is_ok());
        assert_eq!(
            crate::rfc3339(MAX_EVENT_TIME_MS),
            "9999-12-31T23:59:59.999Z"
        );
        assert!(check_event_time(-1).is_err());
        assert!(check_event_time(MAX_EVENT_TIME_MS + 1).is_err());
        assert!(check_event_time(i64::MAX).is_err());
    }
}
