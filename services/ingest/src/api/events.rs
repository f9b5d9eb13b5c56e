//! `POST /v1/events`: a producer publishes an event over HTTP.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use herald_model::{ErrorBody, EventAccepted, EventId};
use tracing::Instrument;

use super::json::AppJson;
use super::{ApiError, AppState, Tenant};
use crate::intake::{Draft, EventInput, IntakeError, Source};

/// Accepts an event for delivery to every webhook subscribed to its type. An
/// event id seen before (within the dedupe window) is accepted again and stored
/// once. A W3C `traceparent` header continues the producer's trace.
#[utoipa::path(
    post, path = "/v1/events", operation_id = "send_event", tag = "events", request_body = EventInput,
    params(("traceparent" = Option<String>, Header, description = "W3C trace context of the producer")),
    responses(
        (status = 202, description = "Accepted and stored", body = EventAccepted),
        (status = 422, description = "The event is invalid, or its data fails its type's schema", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    headers: HeaderMap,
    AppJson(input): AppJson<EventInput>,
) -> Result<(StatusCode, Json<EventAccepted>), ApiError> {
    let span = tracing::info_span!(
        "ingest.accept",
        otel.kind = "server",
        source = "http",
        tenant = %tenant,
        event_id = tracing::field::Empty,
        event_type = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    // A producer's own `traceparent` becomes the parent.
    use herald_proto::names::header::TRACEPARENT;
    let traceparent = headers
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    herald_common::trace::adopt_pairs(&span, &[(TRACEPARENT, traceparent)]);
    accept(state, tenant, input).instrument(span).await
}

async fn accept(
    state: AppState,
    tenant: String,
    input: EventInput,
) -> Result<(StatusCode, Json<EventAccepted>), ApiError> {
    let accepted = match Draft::try_from(input) {
        Ok(draft) => state.intake().accept(&tenant, draft, Source::Request).await,
        Err(invalid) => Err(invalid.into()),
    };
    let accepted = accepted.inspect_err(|err| {
        if let IntakeError::Invalid(_) = err {
            count("rejected");
        }
    })?;
    count("accepted");
    state.recent().accepted(&tenant, &accepted.event_id);
    if accepted.duplicate {
        tracing::debug!(event_id = %accepted.event_id, "repeated event id; stored once");
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(EventAccepted {
            event_id: EventId::from_record(accepted.event_id),
        }),
    ))
}

fn count(result: &'static str) {
    let labels = herald_common::metrics::EventLabels {
        source: "http",
        result,
    };
    herald_common::metrics::metrics()
        .events
        .get_or_create(&labels)
        .inc();
}
