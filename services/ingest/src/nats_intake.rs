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
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::api::AppState;
use crate::intake::{Draft, Invalid};

/// Header on a parked message that was cut to the largest event: its size before.
pub use herald_proto::names::header::ORIGINAL_SIZE as ORIGINAL_SIZE_HEADER;

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
    state: AppState,
    shutdown: CancellationToken,
) {
    let client = state.client().clone();
    let redelivery = state.config().common.redelivery;
    herald_common::consume::run(
        consumers::INGEST,
        consumer,
        256,
        redelivery,
        shutdown,
        move |message| {
            let state = state.clone();
            async move { handle(&state, message).await }
        },
    )
    .await;
    herald_common::consume::flush(&client).await;
}

async fn handle(state: &AppState, message: jetstream::Message) {
    let span = tracing::info_span!(
        "ingest.accept",
        otel.kind = "consumer",
        source = "nats",
        subject = %message.subject,
        trace_id = tracing::field::Empty,
    );
    herald_common::trace::adopt(&span, message.headers.as_ref());
    take(state, message).instrument(span).await
}

async fn take(state: &AppState, message: jetstream::Message) {
    let (tenant, subject_type) = split_subject(&message.subject);
    let outcome = match accept(state, &message, tenant, subject_type) {
        Ok(event) => state
            .accept_event(&event)
            .await
            .map(|_| ())
            .map_err(Failure::Publish),
        Err(invalid) => Err(Failure::Invalid(invalid)),
    };
    let result = match outcome {
        Ok(_) => {
            count("accepted");
            message.ack().await
        }
        Err(Failure::Invalid(invalid)) => match park(state, &message, tenant, &invalid).await {
            Ok(()) => {
                count("rejected");
                message.ack().await
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot park a rejected message; will retry");
                herald_common::consume::retry_later(&message, &state.config().common.redelivery)
                    .await;
                Ok(())
            }
        },
        Err(Failure::Publish(err)) => {
            tracing::warn!(error = %err, "cannot publish an accepted event; will retry");
            herald_common::consume::retry_later(&message, &state.config().common.redelivery).await;
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

enum Failure {
    Invalid(Invalid),
    Publish(crate::api::ApiError),
}

fn accept(
    state: &AppState,
    message: &jetstream::Message,
    tenant: Option<&str>,
    subject_type: &str,
) -> Result<herald_proto::Event, Invalid> {
    let tenant = tenant.ok_or_else(|| Invalid {
        detail: format!(
            "subject `{}` must be ingest.<tenant>.<event_type> with a tenant of letters, digits, `_` or `-`",
            message.subject
        ),
    })?;
    crate::intake::check_size(message.payload.len(), state.config().max_body_bytes)?;
    let content_type = message
        .headers
        .as_ref()
        .and_then(|h| h.get(header::CONTENT_TYPE))
        .map(|v| v.as_str().to_ascii_lowercase())
        .unwrap_or_default();
    let mut draft = if content_type.starts_with(header::PROTOBUF)
        || content_type.starts_with(header::X_PROTOBUF)
    {
        Draft::from_protobuf(&message.payload)?
    } else {
        Draft::from_json(&message.payload)?
    };
    if draft.event_type.is_empty() {
        draft.event_type = subject_type.to_owned();
    } else if !subject_type.is_empty() && draft.event_type != subject_type {
        return Err(Invalid {
            detail: format!(
                "event_type `{}` does not match the subject's `{subject_type}`",
                draft.event_type
            ),
        });
    }
    let info = message.info().ok();
    let default_id = || {
        // Derived from the stored message, so a redelivery names the same event.
        let (sequence, published) = info
            .as_ref()
            .map(|i| (i.stream_sequence, i.published.unix_timestamp_nanos()))
            .unwrap_or_default();
        let digest = Sha256::new()
            .chain_update(tenant.as_bytes())
            .chain_update(sequence.to_be_bytes())
            .chain_update(published.to_be_bytes())
            .finalize();
        format!("evt_{}", hex::encode(&digest[..13]))
    };
    let event = draft.accept(tenant, default_id, herald_proto::now_ms(), state.config())?;
    state.check_catalogue(&event)?;
    Ok(event)
}

/// `ingest.<tenant>.<event_type>` → (tenant if valid, event type possibly empty).
fn split_subject(subject: &str) -> (Option<&str>, &str) {
    let (tenant, event_type) = subject::split_ingest(subject);
    (check_tenant(tenant).ok().map(|_| tenant), event_type)
}

async fn park(
    state: &AppState,
    message: &jetstream::Message,
    tenant: Option<&str>,
    invalid: &Invalid,
) -> Result<(), String> {
    let mut headers = HeaderMap::new();
    headers.insert(
        REJECTED_REASON_HEADER,
        invalid.detail.replace(['\r', '\n'], " ").as_str(),
    );
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
    let limit = state.config().max_body_bytes;
    if payload.len() > limit {
        headers.insert(ORIGINAL_SIZE_HEADER, payload.len().to_string().as_str());
        payload.truncate(limit);
    }
    let subject = subject::rejected(tenant);
    tracing::info!(%subject, reason = %invalid.detail, "event rejected");
    state
        .jetstream()
        .publish_with_headers(subject, headers, payload)
        .await
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

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
