//! Property tests of the decoders a NATS message goes through: its subject, content
//! type and payload (JSON or protobuf) become an event or a reason to park it.
//! Whatever a producer publishes — arbitrary bytes, arbitrary JSON, a valid event
//! with bytes flipped, cut or added — nothing panics, every refusal says why in a
//! header that fits, and every valid event comes out as it went in.

use std::sync::{Arc, LazyLock};

use herald_common::nats::REJECTED_REASON_HEADER;
use herald_proto::names::header;
use herald_proto::{Event, wire};
use proptest::prelude::*;
use prost::Message;
use serde_json::{Value, json};

use super::{MAX_REASON_BYTES, decode, reason_header};
use crate::Config;
use crate::catalogue::Catalogue;
use crate::intake::{Invalid, Source, validate};

const NOW_MS: i64 = 1_700_000_000_000;
const STORED: Source = Source::Stored {
    sequence: 42,
    published_nanos: 1_700_000_000_000_000_000,
};

/// Without a catalogue, and with one whose `job.done` has a schema.
static CONFIGS: LazyLock<[Config; 2]> = LazyLock::new(|| {
    let plain = Config::test_with(&[]);
    let mut catalogued = Config::test_with(&[]);
    catalogued.catalogue = Some(Arc::new(
        Catalogue::parse(
            "event_types:\n  - name: job.done\n    schema: {type: object, required: [ok]}\n  - name: job.started\n",
        )
        .unwrap(),
    ));
    [plain, catalogued]
});

/// What the intake makes of one message: decode, then validate as the core does.
fn intake(
    subject: &str,
    content_type: Option<&str>,
    payload: &[u8],
    config: &Config,
    max_event_bytes: usize,
) -> Result<Event, Invalid> {
    let (tenant, draft) = decode(subject, content_type, payload, max_event_bytes)?;
    validate(draft, tenant, STORED, NOW_MS, config)
}

/// Any outcome is fine but a panic; a refusal must say why, on one bounded line.
fn check_outcome(subject: &str, outcome: Result<Event, Invalid>) -> Result<(), TestCaseError> {
    match outcome {
        Ok(event) => {
            // The subject's tenant, whatever the body says.
            let mut tokens = subject.split('.');
            prop_assert_eq!(tokens.nth(1), Some(event.tenant.as_str()));
            // What would be stored reads back the same.
            prop_assert_eq!(Event::decode(&event.encode()).unwrap(), event);
        }
        Err(invalid) => {
            prop_assert!(!invalid.detail.trim().is_empty(), "an empty reason");
            let line = reason_header(&invalid);
            prop_assert!(!line.trim().is_empty());
            prop_assert!(line.len() <= MAX_REASON_BYTES, "{} bytes", line.len());
            prop_assert!(!line.chars().any(char::is_control), "{line:?}");
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(REJECTED_REASON_HEADER, line.as_str());
        }
    }
    Ok(())
}

fn subjects() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("ingest.acme.job.done".to_owned()),
        2 => Just("ingest.acme".to_owned()),
        1 => Just("ingest.acme.job.started".to_owned()),
        2 => "ingest\\.[a-z*> _-]{0,8}(\\.[a-z._*>-]{0,12})?",
    ]
}

fn content_types() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("application/json".to_owned())),
        Just(Some(header::PROTOBUF.to_owned())),
        Just(Some(
            "Application/X-Protobuf; proto=herald.v1.Event".to_owned()
        )),
        any::<String>().prop_map(Some),
    ]
}

/// The largest event: the configured one mostly, sometimes tiny.
fn limits() -> impl Strategy<Value = usize> {
    prop_oneof![4 => Just(herald_common::nats::MAX_EVENT_BYTES), 1 => 0..64usize]
}

/// JSON values of any shape, a few levels deep.
fn json_values() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,24}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(keys(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Object keys: mostly the fields an event or a callback has, sometimes any.
fn keys() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "event_type", "data", "event_id", "job_id", "timestamp", "callback", "tenant",
            "url", "headers", "payload_format",
        ])
        .prop_map(str::to_owned),
        1 => ".{0,12}",
    ]
}

/// Event-shaped JSON: an object of the event's fields, each of any value.
fn event_like_json() -> impl Strategy<Value = Value> {
    let field = |name: &'static str| {
        prop::option::weighted(0.6, json_values()).prop_map(move |v| v.map(|v| (name, v)))
    };
    (
        field("event_type"),
        field("data"),
        field("event_id"),
        field("job_id"),
        field("timestamp"),
        field("callback"),
        prop::option::weighted(0.1, (keys(), json_values())),
    )
        .prop_map(|(a, b, c, d, e, f, extra)| {
            let mut object = serde_json::Map::new();
            for (name, value) in [a, b, c, d, e, f].into_iter().flatten() {
                object.insert(name.to_owned(), value);
            }
            if let Some((name, value)) = extra {
                object.insert(name, value);
            }
            Value::Object(object)
        })
}

/// Valid events, JSON and protobuf, with and without callbacks.
fn valid_payloads() -> impl Strategy<Value = (Vec<u8>, &'static str)> {
    let json_event = json!({
        "event_type": "job.done",
        "event_id": "evt-1",
        "job_id": "job_1",
        "timestamp": "2026-11-30T12:00:00Z",
        "data": {"ok": true, "n": [1, 2.5, "x"]},
        "callback": {"url": "https://example.com/cb", "headers": {"Authorization": "Bearer t"},
                     "payload_format": "data"},
    });
    let protobuf_event = wire::Event {
        event_id: "evt-2".into(),
        event_type: "job.done".into(),
        data: bytes::Bytes::from_static(br#"{"ok":false}"#),
        job_id: "job_2".into(),
        timestamp_ms: NOW_MS,
        callback: Some(wire::Callback {
            url: "https://example.com/cb".into(),
            headers: [("X-Token".to_owned(), "t".to_owned())].into(),
            payload_format: "envelope".into(),
        }),
        ..Default::default()
    };
    prop_oneof![
        Just((serde_json::to_vec(&json_event).unwrap(), "application/json")),
        Just((protobuf_event.encode_to_vec(), header::PROTOBUF)),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(prop::sample::Index, u8),
    Remove(prop::sample::Index),
    Insert(prop::sample::Index, u8),
    Cut(prop::sample::Index),
}

fn mutate(mut payload: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for mutation in mutations {
        let at = |i: &prop::sample::Index, len: usize| i.index(len.max(1)).min(len);
        match mutation {
            Mutation::Flip(i, mask) if !payload.is_empty() => {
                let i = i.index(payload.len());
                payload[i] ^= mask | 1;
            }
            Mutation::Remove(i) if !payload.is_empty() => {
                payload.remove(i.index(payload.len()));
            }
            Mutation::Insert(i, byte) => {
                let i = at(i, payload.len());
                payload.insert(i, *byte);
            }
            Mutation::Cut(i) => payload.truncate(at(i, payload.len())),
            _ => {}
        }
    }
    payload
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    let one = prop_oneof![
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, m)| Mutation::Flip(i, m)),
        any::<prop::sample::Index>().prop_map(Mutation::Remove),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<prop::sample::Index>().prop_map(Mutation::Cut),
    ];
    prop::collection::vec(one, 1..6)
}

/// Event types of one to four dotted parts.
fn event_types() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{1,12}(\\.[A-Za-z0-9_-]{1,12}){0,3}"
}

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_are_refused_with_a_reason(
        subject in subjects(),
        content_type in content_types(),
        payload in prop::collection::vec(any::<u8>(), 0..2048),
        catalogued in any::<bool>(),
        limit in limits(),
    ) {
        let config = &CONFIGS[usize::from(catalogued)];
        let outcome = intake(&subject, content_type.as_deref(), &payload, config, limit);
        check_outcome(&subject, outcome)?;
    }

    #[test]
    fn arbitrary_json_is_accepted_or_refused_with_a_reason(
        subject in subjects(),
        value in prop_oneof![3 => event_like_json(), 1 => json_values()],
        catalogued in any::<bool>(),
    ) {
        let config = &CONFIGS[usize::from(catalogued)];
        let payload = serde_json::to_vec(&value).unwrap();
        let limit = config.max_body_bytes;
        let outcome = intake(&subject, None, &payload, config, limit);
        check_outcome(&subject, outcome)?;
    }

    #[test]
    fn mutated_events_are_accepted_or_refused_with_a_reason(
        subject in subjects(),
        (payload, content_type) in valid_payloads(),
        mutations in mutations(),
        catalogued in any::<bool>(),
    ) {
        let config = &CONFIGS[usize::from(catalogued)];
        let payload = mutate(payload, &mutations);
        let limit = config.max_body_bytes;
        let outcome = intake(&subject, Some(content_type), &payload, config, limit);
        check_outcome(&subject, outcome)?;
    }

    #[test]
    fn valid_events_come_out_as_they_went_in(
        event_type in event_types(),
        type_in_subject in any::<bool>(),
        // `"data": null` counts as no data.
        data in json_values().prop_filter("data", |v| !v.is_null()),
        event_id in prop::option::of("[A-Za-z0-9_-]{1,40}"),
        job_id in prop::option::of("[A-Za-z0-9_-]{1,40}"),
        timestamp_ms in prop::option::of(0..=herald_proto::event::MAX_EVENT_TIME_MS),
        protobuf in any::<bool>(),
    ) {
        let config = &CONFIGS[0];
        let data_bytes = serde_json::to_vec(&data).unwrap();
        let (subject, body_type) = if type_in_subject {
            (format!("ingest.acme.{event_type}"), None)
        } else {
            ("ingest.acme".to_owned(), Some(event_type.clone()))
        };
        let (payload, content_type) = if protobuf {
            let event = wire::Event {
                event_type: body_type.unwrap_or_default(),
                data: data_bytes.clone().into(),
                event_id: event_id.clone().unwrap_or_default(),
                job_id: job_id.clone().unwrap_or_default(),
                timestamp_ms: timestamp_ms.unwrap_or_default(),
                ..Default::default()
            };
            (event.encode_to_vec(), header::PROTOBUF)
        } else {
            let mut body = serde_json::Map::new();
            body.insert("data".into(), data.clone());
            let mut put = |name: &str, value: Option<String>| {
                if let Some(value) = value {
                    body.insert(name.into(), Value::String(value));
                }
            };
            put("event_type", body_type);
            put("event_id", event_id.clone());
            put("job_id", job_id.clone());
            put("timestamp", timestamp_ms.map(rfc3339));
            (serde_json::to_vec(&body).unwrap(), "application/json")
        };
        let event = intake(&subject, Some(content_type), &payload, config, config.max_body_bytes)
            .map_err(|invalid| TestCaseError::fail(invalid.detail))?;
        prop_assert_eq!(event.tenant.as_str(), "acme");
        prop_assert_eq!(event.event_type.as_str(), event_type.as_str());
        prop_assert_eq!(&event.data[..], &data_bytes[..]);
        match &event_id {
            Some(id) => prop_assert_eq!(&event.event_id, id),
            None => prop_assert!(event.event_id.starts_with("evt_"), "{}", event.event_id),
        }
        prop_assert_eq!(&event.job_id, &job_id);
        // Protobuf has no "unset" for 0: the epoch itself is taken as no time.
        let expected_time = timestamp_ms.filter(|t| !protobuf || *t > 0).unwrap_or(NOW_MS);
        prop_assert_eq!(event.timestamp_ms, expected_time);
        prop_assert_eq!(event.accepted_at_ms, NOW_MS);
        prop_assert_eq!(Event::decode(&event.encode()).unwrap(), event);
    }
}

/// A redelivered message, sent without an id, names the same event each time.
#[test]
fn a_redelivery_names_the_same_event() {
    let config = &CONFIGS[0];
    let payload = br#"{"data":{}}"#;
    let first = intake("ingest.acme.job.done", None, payload, config, 1024).unwrap();
    let again = intake("ingest.acme.job.done", None, payload, config, 1024).unwrap();
    assert_eq!(first.event_id, again.event_id);
}

/// A reason that repeats much of what the producer sent is cut, not left to make
/// the parked message too large to park.
#[test]
fn a_long_reason_is_cut_to_fit() {
    let event = wire::Event {
        event_type: "job.done".into(),
        tenant: "t".repeat(100_000),
        data: bytes::Bytes::from_static(b"{}"),
        ..Default::default()
    };
    let payload = event.encode_to_vec();
    let config = &CONFIGS[0];
    let invalid = intake(
        "ingest.acme.job.done",
        Some(header::PROTOBUF),
        &payload,
        config,
        config.max_body_bytes,
    )
    .unwrap_err();
    assert!(invalid.detail.len() < 200, "{}", invalid.detail.len());
    let long = Invalid::new(format!("event_type `{}` is wrong", "é".repeat(5000)));
    let header = reason_header(&long);
    assert!(header.len() <= MAX_REASON_BYTES && header.ends_with('…'));
    assert!(header.starts_with("event_type `éé"));
}
