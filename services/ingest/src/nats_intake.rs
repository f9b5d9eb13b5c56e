//! The consumer of `ingest.<tenant>.<event_type>`: producers publish here, Herald
//! validates, and accepted events go on to `events.<tenant>.<event_type>`. A message
//! that cannot be accepted is parked in `REJECTED` with the reason and acknowledged;
//! it never stops the consumer. One larger than an event may be is parked cut to
//! that size, with its size before in `Herald-Original-Size`.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream;
use herald_common::nats::{DurableConsumer, INGEST_STREAM, REJECTED_REASON_HEADER};
use herald_proto::ids::check_tenant;
use herald_proto::names::{consumer as consumers, header, subject};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::intake::{Draft, Intake, IntakeError, Invalid, Source, check_size};

/// Header on a parked message that was cut to the largest event: its size before.
pub use herald_proto::names::header::ORIGINAL_SIZE as ORIGINAL_SIZE_HEADER;

/// The most a parked message's reason takes, in bytes. A reason may repeat what
/// the producer sent (a field's name, an event type); bounded, it always fits in
/// the room a message keeps beside the largest event, so parking cannot fail for
/// its size.
pub const MAX_REASON_BYTES: usize = 1024;

/// The durable consumer every ingest replica shares.
pub fn consumer() -> DurableConsumer {
    DurableConsumer {
        stream: INGEST_STREAM,
        name: consumers::INGEST.into(),
        filter_subjects: vec![subject::INGEST_ALL.into()],
        max_ack_pending: 1024,
        ack_wait: Duration::from_secs(30),
    }
}

pub async fn run(
    consumer: async_nats::jetstream::consumer::Consumer<
        async_nats::jetstream::consumer::pull::Config,
    >,
    intake: Intake,
    shutdown: CancellationToken,
) {
    let client = intake.jetstream().client();
    let redelivery = intake.config().common.redelivery;
    herald_common::consume::run(
        consumers::INGEST,
        consumer,
        256,
        redelivery,
        shutdown,
        move |message| {
            let intake = intake.clone();
            async move { handle(&intake, message).await }
        },
    )
    .await;
    herald_common::consume::flush(&client).await;
}

async fn handle(intake: &Intake, message: jetstream::Message) {
    let span = tracing::info_span!(
        "ingest.accept",
        otel.kind = "consumer",
        source = "nats",
        subject = %message.subject,
        trace_id = tracing::field::Empty,
    );
    herald_common::trace::adopt(&span, message.headers.as_ref());
    take(intake, message).instrument(span).await
}

async fn take(intake: &Intake, message: jetstream::Message) {
    let content_type = message
        .headers
        .as_ref()
        .and_then(|h| h.get(header::CONTENT_TYPE))
        .map(|v| v.as_str());
    let decoded = decode(
        &message.subject,
        content_type,
        &message.payload,
        intake.config().max_body_bytes,
    );
    let outcome = match decoded {
        Ok((tenant, draft)) => intake
            .accept(tenant, draft, stored_at(&message))
            .await
            .map(|_| ()),
        Err(invalid) => Err(invalid.into()),
    };
    let redelivery = &intake.config().common.redelivery;
    let result = match outcome {
        Ok(()) => {
            count("accepted");
            message.ack().await
        }
        Err(IntakeError::Invalid(invalid)) => match park(intake, &message, &invalid).await {
            Ok(()) => {
                count("rejected");
                message.ack().await
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot park a rejected message; will retry");
                herald_common::consume::retry_later(&message, redelivery).await;
                Ok(())
            }
        },
        Err(err) => {
            tracing::warn!(error = %err, "cannot accept an event now; will retry");
            herald_common::consume::retry_later(&message, redelivery).await;
            Ok(())
        }
    };
    if let Err(err) = result {
        tracing::warn!(error = %err, "cannot acknowledge an ingest message");
    }
}

fn count(result: &'static str) {
    let labels = herald_common::metrics::EventLabels {
        source: "nats",
        result,
    };
    herald_common::metrics::metrics()
        .events
        .get_or_create(&labels)
        .inc();
}

/// Where the message is stored, which names an event sent without an id.
fn stored_at(message: &jetstream::Message) -> Source {
    let (sequence, published_nanos) = message
        .info()
        .map(|i| (i.stream_sequence, i.published.unix_timestamp_nanos()))
        .unwrap_or_default();
    Source::Stored {
        sequence,
        published_nanos,
    }
}

/// A message of `INGEST` read: the tenant its subject names, and what the producer
/// sent — a protobuf `herald.v1.Event` when `content_type` says protobuf, JSON
/// otherwise. The event type may come from the subject alone; given in both, they
/// must agree. Whatever cannot be read is [`Invalid`] with the reason.
pub fn decode<'s>(
    subject: &'s str,
    content_type: Option<&str>,
    payload: &[u8],
    max_event_bytes: usize,
) -> Result<(&'s str, Draft), Invalid> {
    let (tenant, subject_type) = split_subject(subject);
    let tenant = tenant.ok_or_else(|| {
        Invalid::new(format!(
            "subject `{subject}` must be ingest.<tenant>.<event_type> with a tenant of letters, digits, `_` or `-`"
        ))
    })?;
    check_size(payload.len(), max_event_bytes)?;
    let content_type = content_type.unwrap_or_default().to_ascii_lowercase();
    let mut draft = if content_type.starts_with(header::PROTOBUF)
        || content_type.starts_with(header::X_PROTOBUF)
    {
        Draft::from_protobuf(payload)?
    } else {
        Draft::from_json(payload)?
    };
    if draft.event_type.is_empty() {
        draft.event_type = subject_type.to_owned();
    } else if !subject_type.is_empty() && draft.event_type != subject_type {
        return Err(Invalid::new(format!(
            "event_type `{}` does not match the subject's `{subject_type}`",
            draft.event_type
        )));
    }
    Ok((tenant, draft))
}

/// `ingest.<tenant>.<event_type>` → (tenant if valid, event type possibly empty).
fn split_subject(subject: &str) -> (Option<&str>, &str) {
    let (tenant, event_type) = subject::split_ingest(subject);
    (check_tenant(tenant).ok().map(|_| tenant), event_type)
}

/// The reason as a header value: on one line, at most [`MAX_REASON_BYTES`].
pub fn reason_header(invalid: &Invalid) -> String {
    let mut reason: String = invalid
        .detail
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if reason.len() > MAX_REASON_BYTES {
        let ellipsis = '…';
        let kept = herald_proto::cut(&reason, MAX_REASON_BYTES - ellipsis.len_utf8()).len();
        reason.truncate(kept);
        reason.push(ellipsis);
    }
    reason
}

/// A rejected message could not be parked; it is offered again.
#[derive(Debug, thiserror::Error)]
#[error("cannot park in REJECTED: {0}")]
struct ParkError(#[from] jetstream::context::PublishError);

async fn park(
    intake: &Intake,
    message: &jetstream::Message,
    invalid: &Invalid,
) -> Result<(), ParkError> {
    let (tenant, _) = split_subject(&message.subject);
    let reason = reason_header(invalid);
    let mut headers = HeaderMap::new();
    headers.insert(REJECTED_REASON_HEADER, reason.as_str());
    headers.insert(header::ORIGINAL_SUBJECT, message.subject.as_str());
    if let Some(content_type) = message
        .headers
        .as_ref()
        .and_then(|h| h.get(header::CONTENT_TYPE))
    {
        headers.insert(header::CONTENT_TYPE, content_type.as_str());
    }
    if let Ok(info) = message.info() {
        headers.insert(
            header::MSG_ID,
            format!("ingest:{}", info.stream_sequence).as_str(),
        );
    }
    // A message larger than an event may be can be as large as the server takes: it
    // is kept cut to the largest event, so it fits beside these headers.
    let mut payload = message.payload.clone();
    let limit = intake.config().max_body_bytes;
    if payload.len() > limit {
        headers.insert(ORIGINAL_SIZE_HEADER, payload.len().to_string().as_str());
        payload.truncate(limit);
    }
    let subject = subject::rejected(tenant);
    tracing::info!(%subject, %reason, "event rejected");
    intake
        .jetstream()
        .publish_with_headers(subject, headers, payload)
        .await?
        .await?;
    Ok(())
}

#[cfg(test)]
mod decoders;

#[cfg(test)]
mod tests {
    use super::split_subject;

    #[test]
    fn subjects_name_tenant_and_type() {
        assert_eq!(
            split_subject("ingest.acme.job.failed"),
            (Some("acme"), "job.failed")
        );
        assert_eq!(split_subject("ingest.acme"), (Some("acme"), ""));
        assert_eq!(split_subject("ingest.a*b.job"), (None, "job"));
    }
}
