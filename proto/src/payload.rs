//! The body a receiver gets, in the webhook's format. `data` is embedded as the
//! producer's bytes, never re-encoded.

use crate::{Event, PayloadFormat};

pub const API_VERSION: &str = "v1";

/// A JSON object written field by field; values arrive already encoded, so the
/// event's `data` goes in as its bytes, neither parsed nor re-encoded.
struct Object {
    out: Vec<u8>,
}

impl Object {
    fn with_capacity(capacity: usize) -> Self {
        let mut out = Vec::with_capacity(capacity);
        out.push(b'{');
        Object { out }
    }

    fn raw(mut self, name: &str, json: &[u8]) -> Self {
        if self.out.len() > 1 {
            self.out.push(b',');
        }
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out.extend_from_slice(json);
        self
    }

    fn string(self, name: &str, value: &str) -> Self {
        let json = serde_json::to_string(value).expect("a string always encodes");
        self.raw(name, json.as_bytes())
    }

    fn finish(mut self) -> Vec<u8> {
        self.out.push(b'}');
        self.out
    }
}

/// The body for `event` on its `attempt` (1-based), in `format`.
pub fn body(event: &Event, attempt: u32, format: PayloadFormat) -> Vec<u8> {
    let time = crate::rfc3339(event.timestamp_ms);
    let capacity = event.data.len() + 192;
    match format {
        PayloadFormat::Envelope => Object::with_capacity(capacity)
            .string("event_id", &event.event_id)
            .string("event_type", event.event_type.as_str())
            .string("api_version", API_VERSION)
            .string("timestamp", &time)
            .raw("data", &event.data)
            .raw(
                "retry_count",
                attempt.saturating_sub(1).to_string().as_bytes(),
            )
            .finish(),
        PayloadFormat::EnvelopeCamel => Object::with_capacity(capacity)
            .string("eventId", &event.event_id)
            .string("eventType", event.event_type.as_str())
            .string("apiVersion", API_VERSION)
            .string("createdAt", &time)
            .raw("data", &event.data)
            .finish(),
        PayloadFormat::Data => event.data.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventType;
    use bytes::Bytes;

    fn event() -> Event {
        Event {
            event_id: "evt_1".into(),
            tenant: "acme".into(),
            event_type: EventType::parse("job.completed").unwrap(),
            data: Bytes::from_static(br#"{"z":8.0,"a":1152921504606846976}"#),
            job_id: None,
            timestamp_ms: 1_614_265_330_000,
            accepted_at_ms: 0,
            callback: None,
        }
    }

    #[test]
    fn envelope_embeds_data_verbatim() {
        let body = String::from_utf8(body(&event(), 3, PayloadFormat::Envelope)).unwrap();
        assert_eq!(
            body,
            r#"{"event_id":"evt_1","event_type":"job.completed","api_version":"v1","timestamp":"2021-02-25T15:02:10.000Z","data":{"z":8.0,"a":1152921504606846976},"retry_count":2}"#
        );
    }

    #[test]
    fn camel_and_data_formats() {
        let camel = String::from_utf8(body(&event(), 1, PayloadFormat::EnvelopeCamel)).unwrap();
        assert!(camel.starts_with(
            r#"{"eventId":"evt_1","eventType":"job.completed","apiVersion":"v1","createdAt":"#
        ));
        assert_eq!(
            body(&event(), 1, PayloadFormat::Data),
            br#"{"z":8.0,"a":1152921504606846976}"#
        );
    }
}
