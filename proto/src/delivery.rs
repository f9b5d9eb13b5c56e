//! [`DeliveryTask`]: one event for one target; [`DeliveryAttempt`]: the record of
//! one HTTP try at it.

use bytes::Bytes;
use prost::Message;

use crate::event::Event;
use crate::names::subject;
use crate::sealed::SealedHeaders;
use crate::{DecodeError, wire};

/// The body shape a receiver gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PayloadFormat {
    /// `{"event_id","event_type","api_version","timestamp","data","retry_count"}`
    #[default]
    Envelope,
    /// `{"eventId","eventType","apiVersion","createdAt","data"}`
    EnvelopeCamel,
    /// The event's `data` alone.
    Data,
}

/// A payload format name Herald does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{name}` is not one of `envelope`, `envelope_camel`, `data`")]
pub struct UnknownFormat {
    pub name: String,
}

impl PayloadFormat {
    /// Parses a format name; the empty string means the default.
    pub fn parse(value: &str) -> Result<Self, UnknownFormat> {
        match value {
            "" | "envelope" => Ok(PayloadFormat::Envelope),
            "envelope_camel" => Ok(PayloadFormat::EnvelopeCamel),
            "data" => Ok(PayloadFormat::Data),
            other => Err(UnknownFormat {
                name: other.to_owned(),
            }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PayloadFormat::Envelope => "envelope",
            PayloadFormat::EnvelopeCamel => "envelope_camel",
            PayloadFormat::Data => "data",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Trigger {
    /// Fan-out or a scheduled retry.
    #[default]
    Auto,
    /// Asked for through the API.
    Manual,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Auto => "auto",
            Trigger::Manual => "manual",
        }
    }

    fn to_wire(self) -> i32 {
        match self {
            Trigger::Auto => wire::Trigger::Auto as i32,
            Trigger::Manual => wire::Trigger::Manual as i32,
        }
    }

    fn from_wire(value: i32) -> Self {
        match wire::Trigger::try_from(value) {
            Ok(wire::Trigger::Manual) => Trigger::Manual,
            _ => Trigger::Auto,
        }
    }
}

/// Where a per-job callback goes; such deliveries have no registered endpoint.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CallbackTarget {
    pub url: String,
    /// As the job's callback carries them: sealed; opened only to send.
    pub headers: SealedHeaders,
    pub payload_format: PayloadFormat,
}

/// How many partitions delivery tasks are spread over. Each partition is one durable
/// consumer that exactly one dispatcher replica pulls at a time, so every endpoint
/// (which always falls in the same partition) has one owner that enforces its
/// limits. It bounds the dispatcher replicas that share delivery work; changing it
/// moves endpoints between partitions, so every service must agree on it.
pub const DELIVERY_PARTITIONS: u32 = 32;

/// The partition of `tenant`'s endpoint (or callback target) `endpoint_id`: FNV-1a of
/// `<tenant>.<endpoint_id>`, stable across versions and processes.
pub fn partition_of(tenant: &str, endpoint_id: &str) -> u32 {
    let hash = fnv1a(&[tenant.as_bytes(), b".", endpoint_id.as_bytes()]);
    (hash % u64::from(DELIVERY_PARTITIONS)) as u32
}

/// 64-bit FNV-1a over the concatenation of `parts`: a fixed, portable hash for
/// placing things deterministically (partitions, their owners).
pub fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in parts.iter().flat_map(|p| p.iter()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

pub use crate::names::subject::{
    delivery as delivery_subject, lane_key, lane_key_of, parked as parked_subject,
    split_task as split_task_subject,
};

/// One event to deliver to one target, published to
/// `deliveries.<partition>.<tenant>.<endpoint_id>` (see [`delivery_subject`]).
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryTask {
    pub delivery_id: String,
    pub endpoint_id: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub event: Event,
    pub trigger: Trigger,
    pub callback: Option<CallbackTarget>,
    /// W3C trace context of the event's trace.
    pub traceparent: Option<String>,
    /// For manual attempts: unique per request (see [`DeliveryTask::message_id`]).
    pub run_id: Option<String>,
}

impl DeliveryTask {
    pub fn subject(&self) -> String {
        delivery_subject(&self.event.tenant, &self.endpoint_id)
    }

    /// The JetStream message id, which names one execution of the delivery: a task
    /// published twice is stored once. It carries the tenant (event ids are the
    /// producers' own), and a manual attempt's run id, so two manual requests are
    /// two attempts.
    pub fn message_id(&self) -> String {
        let mut id = format!(
            "{}:{}:{}:{}",
            self.event.tenant, self.event.event_id, self.endpoint_id, self.attempt
        );
        if self.trigger == Trigger::Manual {
            id.push_str(":manual:");
            id.push_str(self.run_id.as_deref().unwrap_or_default());
        }
        id
    }

    fn to_wire(&self) -> wire::DeliveryTask {
        wire::DeliveryTask {
            delivery_id: self.delivery_id.clone(),
            endpoint_id: self.endpoint_id.clone(),
            attempt: self.attempt,
            event: Some(self.event.to_wire()),
            trigger: self.trigger.to_wire(),
            callback: self.callback.as_ref().map(|c| wire::CallbackTarget {
                url: c.url.clone(),
                headers: c.headers.stored().clone().into_iter().collect(),
                payload_format: c.payload_format.as_str().to_owned(),
            }),
            traceparent: self.traceparent.clone().unwrap_or_default(),
            run_id: self.run_id.clone().unwrap_or_default(),
        }
    }

    pub fn encode(&self) -> Bytes {
        Bytes::from(self.to_wire().encode_to_vec())
    }

    /// At least the size of [`DeliveryTask::encode`]'s bytes, counted without
    /// encoding: every text and byte the task holds (its event's data, both
    /// callbacks' URLs and headers), and for every field room for its tag and its
    /// length or value.
    pub fn size_bound(&self) -> usize {
        /// A field's tag (at most 2 bytes here) and its length or varint value (at
        /// most 10).
        const FIELD: usize = 12;
        let text = |s: &str| FIELD + s.len();
        let headers = |h: &SealedHeaders| -> usize {
            // Each header is a map entry: the entry, its name, its value.
            h.stored()
                .iter()
                .map(|(n, v)| 3 * FIELD + n.len() + v.len())
                .sum()
        };
        let callback = |url: &str, h: &SealedHeaders, format: &PayloadFormat| {
            FIELD + text(url) + headers(h) + text(format.as_str())
        };
        let event = &self.event;
        let event_size = FIELD
            + text(&event.event_id)
            + text(event.event_type.as_str())
            + FIELD
            + event.data.len()
            + event.job_id.as_deref().map_or(0, text)
            + 2 * FIELD
            + text(&event.tenant)
            + event
                .callback
                .as_ref()
                .map_or(0, |c| callback(&c.url, &c.headers, &c.payload_format));
        text(&self.delivery_id)
            + text(&self.endpoint_id)
            + 2 * FIELD
            + event_size
            + self
                .callback
                .as_ref()
                .map_or(0, |c| callback(&c.url, &c.headers, &c.payload_format))
            + self.traceparent.as_deref().map_or(0, text)
            + self.run_id.as_deref().map_or(0, text)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        DeliveryTask::try_from(wire::DeliveryTask::decode(bytes)?)
    }

    /// Like [`DeliveryTask::decode`], but the event's `data` shares `bytes` instead
    /// of being copied.
    pub fn decode_shared(bytes: Bytes) -> Result<Self, DecodeError> {
        DeliveryTask::try_from(wire::DeliveryTask::decode(bytes)?)
    }
}

impl TryFrom<wire::DeliveryTask> for DeliveryTask {
    type Error = DecodeError;

    fn try_from(task: wire::DeliveryTask) -> Result<Self, Self::Error> {
        if task.delivery_id.is_empty() {
            return Err(DecodeError::Missing {
                field: "delivery_id",
            });
        }
        if task.endpoint_id.is_empty() {
            return Err(DecodeError::Missing {
                field: "endpoint_id",
            });
        }
        if task.attempt == 0 {
            return Err(DecodeError::invalid("attempt", "starts at 1"));
        }
        let event = task.event.ok_or(DecodeError::Missing { field: "event" })?;
        let callback = task
            .callback
            .map(|c| {
                Ok::<_, DecodeError>(CallbackTarget {
                    url: c.url,
                    headers: SealedHeaders::from_stored(c.headers.into_iter().collect()),
                    payload_format: PayloadFormat::parse(&c.payload_format)
                        .map_err(|r| DecodeError::invalid("callback.payload_format", r))?,
                })
            })
            .transpose()?;
        Ok(DeliveryTask {
            delivery_id: task.delivery_id,
            endpoint_id: task.endpoint_id,
            attempt: task.attempt,
            event: Event::try_from(event)?,
            trigger: Trigger::from_wire(task.trigger),
            callback,
            traceparent: Some(task.traceparent).filter(|t| !t.is_empty()),
            run_id: Some(task.run_id).filter(|r| !r.is_empty()),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Succeeded,
    /// Failed; may be retried.
    Failed,
    /// Failed and must not be retried (refused by policy, endpoint gone).
    Refused,
}

/// The record of one HTTP try, published to
/// `outcomes.<tenant>.<endpoint_id>.<succeeded|failed>`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryAttempt {
    pub task: DeliveryTask,
    pub outcome: AttemptOutcome,
    /// `None` when no HTTP response arrived.
    pub status_code: Option<u16>,
    pub duration_ms: u64,
    /// Why it failed, in words fit for the customer.
    pub error: Option<String>,
    /// The first 4 KiB of the response body.
    pub response_excerpt: String,
    pub attempted_at_ms: i64,
    /// From a `Retry-After` response header.
    pub retry_after_secs: Option<u32>,
}

impl DeliveryAttempt {
    pub fn subject(&self) -> String {
        subject::attempt(
            &self.task.event.tenant,
            &self.task.endpoint_id,
            self.outcome == AttemptOutcome::Succeeded,
        )
    }

    /// The JetStream message id: one record per execution of a task (see
    /// [`DeliveryTask::message_id`]).
    pub fn message_id(&self) -> String {
        format!("{}:outcome", self.task.message_id())
    }

    pub fn encode(&self) -> Bytes {
        let task = &self.task;
        let outcome = match self.outcome {
            AttemptOutcome::Succeeded => wire::AttemptOutcome::Succeeded,
            AttemptOutcome::Failed => wire::AttemptOutcome::Failed,
            AttemptOutcome::Refused => wire::AttemptOutcome::Refused,
        };
        Bytes::from(
            wire::DeliveryAttempt {
                delivery_id: task.delivery_id.clone(),
                endpoint_id: task.endpoint_id.clone(),
                tenant: task.event.tenant.clone(),
                event_id: task.event.event_id.clone(),
                event_type: task.event.event_type.to_string(),
                attempt: task.attempt,
                outcome: outcome as i32,
                status_code: self.status_code.map(u32::from).unwrap_or_default(),
                duration_ms: self.duration_ms,
                error: self.error.clone().unwrap_or_default(),
                response_excerpt: self.response_excerpt.clone(),
                attempted_at_ms: self.attempted_at_ms,
                trigger: task.trigger.to_wire(),
                task: Some(task.to_wire()),
                retry_after_secs: self.retry_after_secs.unwrap_or_default(),
                job_id: task.event.job_id.clone().unwrap_or_default(),
            }
            .encode_to_vec(),
        )
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        DeliveryAttempt::try_from(wire::DeliveryAttempt::decode(bytes)?)
    }
}

impl TryFrom<wire::DeliveryAttempt> for DeliveryAttempt {
    type Error = DecodeError;

    fn try_from(attempt: wire::DeliveryAttempt) -> Result<Self, Self::Error> {
        let task = attempt.task.ok_or(DecodeError::Missing { field: "task" })?;
        let outcome = match wire::AttemptOutcome::try_from(attempt.outcome) {
            Ok(wire::AttemptOutcome::Succeeded) => AttemptOutcome::Succeeded,
            Ok(wire::AttemptOutcome::Failed) => AttemptOutcome::Failed,
            Ok(wire::AttemptOutcome::Refused) => AttemptOutcome::Refused,
            _ => return Err(DecodeError::invalid("outcome", "unknown outcome")),
        };
        let status_code = match attempt.status_code {
            0 => None,
            code => Some(
                u16::try_from(code)
                    .map_err(|_| DecodeError::invalid("status_code", "too large"))?,
            ),
        };
        Ok(DeliveryAttempt {
            task: DeliveryTask::try_from(task)?,
            outcome,
            status_code,
            duration_ms: attempt.duration_ms,
            error: Some(attempt.error).filter(|e| !e.is_empty()),
            response_excerpt: attempt.response_excerpt,
            attempted_at_ms: attempt.attempted_at_ms,
            retry_after_secs: Some(attempt.retry_after_secs).filter(|s| *s > 0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventType;

    #[test]
    fn a_tasks_size_bound_is_never_below_its_encoded_size() {
        let headers = SealedHeaders::from_stored(
            (0..40)
                .map(|i| (format!("x-header-{i}"), "v".repeat(300)))
                .collect(),
        );
        let mut task = DeliveryTask {
            delivery_id: "dlv_1".into(),
            endpoint_id: "cb_1".into(),
            attempt: 3,
            event: Event {
                event_id: "evt_1".into(),
                tenant: "acme".into(),
                event_type: EventType::parse("job.failed").unwrap(),
                data: Bytes::from("[1]".repeat(20_000)),
                job_id: Some("job_1".into()),
                timestamp_ms: i64::MAX,
                accepted_at_ms: i64::MIN,
                callback: Some(crate::Callback {
                    url: format!("https://example.com/{}", "p".repeat(2000)),
                    headers: headers.clone(),
                    payload_format: PayloadFormat::Envelope,
                }),
            },
            trigger: Trigger::Manual,
            callback: Some(CallbackTarget {
                url: format!("https://example.com/{}", "q".repeat(2000)),
                headers,
                payload_format: PayloadFormat::Envelope,
            }),
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
            run_id: Some("r1".into()),
        };
        let bound = task.size_bound();
        let encoded = task.encode().len();
        assert!(bound >= encoded, "{bound} < {encoded}");
        // Not far above it either: the callbacks' headers are most of it.
        assert!(bound < encoded * 2, "{bound} vs {encoded}");
        task.event.callback = None;
        task.callback = None;
        task.event.data = Bytes::from_static(b"1");
        assert!(task.size_bound() >= task.encode().len());
    }

    #[test]
    fn attempt_round_trips_with_its_task() {
        let task = DeliveryTask {
            delivery_id: "dlv_1".into(),
            endpoint_id: "wh_1".into(),
            attempt: 2,
            event: Event {
                event_id: "evt_1".into(),
                tenant: "acme".into(),
                event_type: EventType::parse("job.failed").unwrap(),
                data: Bytes::from_static(b"{}"),
                job_id: None,
                timestamp_ms: 5,
                accepted_at_ms: 6,
                callback: None,
            },
            trigger: Trigger::Manual,
            callback: None,
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
            run_id: Some("r1".into()),
        };
        assert_eq!(task.message_id(), "acme:evt_1:wh_1:2:manual:r1");
        let attempt = DeliveryAttempt {
            task,
            outcome: AttemptOutcome::Failed,
            status_code: Some(503),
            duration_ms: 12,
            error: Some("HTTP 503".into()),
            response_excerpt: "busy".into(),
            attempted_at_ms: 7,
            retry_after_secs: Some(30),
        };
        assert_eq!(DeliveryAttempt::decode(&attempt.encode()).unwrap(), attempt);
        assert_eq!(attempt.subject(), "outcomes.acme.wh_1.failed");
    }

    #[test]
    fn task_subjects_name_a_stable_partition() {
        let subject = delivery_subject("acme", "wh_1");
        let (partition, tenant, endpoint) = split_task_subject(&subject).unwrap();
        assert_eq!((tenant, endpoint), ("acme", "wh_1"));
        assert!(partition < DELIVERY_PARTITIONS);
        // Fixed by the hash, not by the process: every service computes the same.
        assert_eq!(fnv1a(&[b"a"]), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(partition, partition_of("acme", "wh_1"));
        assert_eq!(
            parked_subject("acme", "wh_1"),
            format!("parked.{partition}.acme.wh_1")
        );
        let spread: std::collections::HashSet<u32> = (0..1000)
            .map(|i| partition_of("acme", &format!("wh_{i}")))
            .collect();
        assert_eq!(spread.len() as u32, DELIVERY_PARTITIONS);
        assert_eq!(split_task_subject("deliveries.x.acme.wh_1"), None);
        assert_eq!(lane_key(&subject), Some("acme.wh_1"));
        assert_eq!(lane_key_of("acme", "wh_1"), "acme.wh_1");
        assert_eq!(lane_key("deliveries.3.acme"), None);
    }
}

/// What the retry-scheduler decided after failed attempt `attempt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryDecision {
    pub delivery_id: String,
    pub tenant: String,
    pub endpoint_id: String,
    pub event_id: String,
    pub attempt: u32,
    /// The `OUTCOMES` stream sequence of the failed attempt's record, which the
    /// decision is about; 0 when unknown (a scheduler that predates it).
    pub attempt_sequence: u64,
    /// `None` when no attempt is left.
    pub next_attempt_at_ms: Option<i64>,
}

impl RetryDecision {
    pub fn subject(&self) -> String {
        subject::decision(
            &self.tenant,
            &self.endpoint_id,
            self.next_attempt_at_ms.is_some(),
        )
    }

    pub fn message_id(&self) -> String {
        format!(
            "{}:{}:{}:decision",
            self.tenant, self.delivery_id, self.attempt
        )
    }

    pub fn encode(&self) -> Bytes {
        Bytes::from(
            wire::RetryDecision {
                delivery_id: self.delivery_id.clone(),
                tenant: self.tenant.clone(),
                endpoint_id: self.endpoint_id.clone(),
                attempt: self.attempt,
                next_attempt_at_ms: self.next_attempt_at_ms.unwrap_or_default(),
                event_id: self.event_id.clone(),
                attempt_sequence: self.attempt_sequence,
            }
            .encode_to_vec(),
        )
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let wire = wire::RetryDecision::decode(bytes)?;
        if wire.delivery_id.is_empty() {
            return Err(DecodeError::Missing {
                field: "delivery_id",
            });
        }
        Ok(RetryDecision {
            delivery_id: wire.delivery_id,
            tenant: wire.tenant,
            endpoint_id: wire.endpoint_id,
            event_id: wire.event_id,
            attempt: wire.attempt,
            attempt_sequence: wire.attempt_sequence,
            next_attempt_at_ms: Some(wire.next_attempt_at_ms).filter(|t| *t > 0),
        })
    }
}

/// The deliveries one fan-out created: they are `pending` until their first attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanOut {
    pub tenant: String,
    pub event_id: String,
    pub event_type: String,
    pub job_id: Option<String>,
    pub accepted_at_ms: i64,
    /// (delivery id, endpoint id)
    pub deliveries: Vec<(String, String)>,
}

impl FanOut {
    pub fn subject(&self) -> String {
        subject::fan_out(&self.tenant)
    }

    pub fn message_id(&self) -> String {
        format!("{}:{}:fanout", self.tenant, self.event_id)
    }

    pub fn encode(&self) -> Bytes {
        Bytes::from(
            wire::FanOut {
                tenant: self.tenant.clone(),
                event_id: self.event_id.clone(),
                event_type: self.event_type.clone(),
                job_id: self.job_id.clone().unwrap_or_default(),
                accepted_at_ms: self.accepted_at_ms,
                deliveries: self
                    .deliveries
                    .iter()
                    .map(|(delivery_id, endpoint_id)| wire::PendingDelivery {
                        delivery_id: delivery_id.clone(),
                        endpoint_id: endpoint_id.clone(),
                    })
                    .collect(),
            }
            .encode_to_vec(),
        )
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let wire = wire::FanOut::decode(bytes)?;
        if wire.event_id.is_empty() {
            return Err(DecodeError::Missing { field: "event_id" });
        }
        Ok(FanOut {
            tenant: wire.tenant,
            event_id: wire.event_id,
            event_type: wire.event_type,
            job_id: Some(wire.job_id).filter(|j| !j.is_empty()),
            accepted_at_ms: wire.accepted_at_ms,
            deliveries: wire
                .deliveries
                .into_iter()
                .map(|d| (d.delivery_id, d.endpoint_id))
                .collect(),
        })
    }
}
