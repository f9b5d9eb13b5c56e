//! Request/reply responders: ingest asks, the status-tracker answers from its store.
//! Every replica joins one queue group, so each request is answered once. Every
//! answer fits in one NATS message: what can grow is paged (a job's history, what
//! can be retried by hand) or capped (a delivery's attempts, an event's deliveries)
//! to the connected server's `max_payload`, and an answer that still would not fit
//! is replaced by an error the asker sees at once instead of waiting for a reply
//! that never comes.

use herald_proto::names::{consumer, subject};
use herald_proto::query::{
    self, RetryableRequest, RetryableResponse, StatusKind, StatusQuery, StatusReply,
};
use tokio_util::sync::CancellationToken;

use crate::store::{DeliveryFilter, Retryable, Store, StoreError};

pub async fn subscribe(
    client: &async_nats::Client,
) -> Result<async_nats::Subscriber, async_nats::SubscribeError> {
    client
        .queue_subscribe(subject::QUERY_ALL, consumer::QUERY_QUEUE.to_owned())
        .await
}

/// Queries answered at once per replica; more wait their turn in the subscription,
/// so a flood of reads holds a bounded number of tasks and answers in memory.
const QUERIES_AT_ONCE: usize = 32;

pub async fn serve(
    requests: async_nats::Subscriber,
    client: async_nats::Client,
    store: Store,
    shutdown: CancellationToken,
) {
    let server = client.clone();
    herald_common::reply::serve(
        requests,
        client,
        QUERIES_AT_ONCE,
        shutdown,
        move |request| {
            let store = store.clone();
            // Read per request: a reconnect may reach a server with another limit.
            let max_payload = server.server_info().max_payload;
            async move {
                let budget = query::reply_budget(max_payload);
                let subject = request.subject.as_str();
                match subject {
                    query::STATUS_SUBJECT => Some(fitted(
                        status(&store, &request.payload, budget).await,
                        max_payload,
                        subject,
                    )),
                    query::RETRYABLE_SUBJECT => Some(fitted(
                        retryable(&store, &request.payload, budget).await,
                        max_payload,
                        subject,
                    )),
                    other => {
                        tracing::warn!(subject = other, "unknown query");
                        None
                    }
                }
            }
        },
    )
    .await
}

/// A reply that can say, instead of answering, that the query failed.
trait Reply: prost::Message + Sized {
    fn failed(error: String) -> Self;
}

impl Reply for StatusReply {
    fn failed(error: String) -> Self {
        StatusReply {
            error,
            ..Default::default()
        }
    }
}

impl Reply for RetryableResponse {
    fn failed(error: String) -> Self {
        RetryableResponse {
            error,
            ..Default::default()
        }
    }
}

/// `answer` encoded, or an error reply when it would exceed `max_payload`.
fn fitted<R: Reply>(answer: R, max_payload: usize, subject: &str) -> bytes::Bytes {
    let bytes = answer.encoded_len();
    if bytes <= max_payload {
        return query::encode(&answer);
    }
    tracing::error!(
        subject,
        bytes,
        max_payload,
        "an answer does not fit in one message"
    );
    query::encode(&R::failed(
        "the answer is larger than the NATS server's max_payload".to_owned(),
    ))
}

/// An answer as the JSON the API serves.
fn to_json<T: serde::Serialize>(view: &T) -> Vec<u8> {
    serde_json::to_vec(view).unwrap_or_default()
}

async fn status(store: &Store, payload: &[u8], budget: usize) -> StatusReply {
    let query: StatusQuery = match query::decode(payload) {
        Ok(query) => query,
        Err(err) => {
            return StatusReply::failed(format!("undecodable query: {err}"));
        }
    };
    let some = |s: &str| Some(s.to_owned()).filter(|s| !s.is_empty());
    let tenant = query.tenant.as_str();
    let mut next_cursor = String::new();
    // A query of a kind this status-tracker does not know decodes without one.
    let Some(kind) = query.kind else {
        return StatusReply {
            invalid: "the query names no kind of read this status-tracker knows".into(),
            ..Default::default()
        };
    };
    let answer = match &kind {
        StatusKind::ListDeliveries(list) => store
            .list_deliveries(&DeliveryFilter {
                tenant: query.tenant.clone(),
                endpoint_id: list.endpoint_id.clone(),
                status: some(&list.status),
                event_type: some(&list.event_type),
                since_ms: (list.since_ms != 0).then_some(list.since_ms),
                until_ms: (list.until_ms != 0).then_some(list.until_ms),
                limit: list.limit.clamp(1, 250),
                cursor: some(&list.cursor),
            })
            .await
            .map(|page| Some(to_json(&page))),
        StatusKind::GetDelivery(get) => store
            .delivery(tenant, &get.delivery_id, budget)
            .await
            .map(|view| view.map(|v| to_json(&v))),
        StatusKind::GetEvent(get) => store
            .event(tenant, &get.event_id, budget)
            .await
            .map(|view| view.map(|v| to_json(&v))),
        StatusKind::GetJob(get) => store
            .job(tenant, &get.job_id, some(&get.cursor).as_deref(), budget)
            .await
            .map(|page| {
                page.map(|(view, next)| {
                    next_cursor = next.unwrap_or_default();
                    to_json(&view)
                })
            }),
        StatusKind::GetJobState(get) => store
            .job_state(tenant, &get.job_id)
            .await
            .map(|view| view.map(|v| to_json(&v))),
        StatusKind::GetWebhookStats(stats) => store
            .stats(
                tenant,
                &stats.endpoint_id,
                stats.since_ms,
                (stats.until_ms != 0).then_some(stats.until_ms),
            )
            .await
            .map(|stats| Some(to_json(&stats))),
    };
    match answer {
        Ok(Some(json)) => StatusReply {
            json: json.into(),
            next_cursor,
            ..Default::default()
        },
        Ok(None) => StatusReply {
            not_found: true,
            ..Default::default()
        },
        Err(StoreError::Invalid(reason)) => StatusReply {
            invalid: reason,
            ..Default::default()
        },
        Err(err) => {
            tracing::error!(error = %err, kind = kind.name(), "status query failed");
            StatusReply::failed("the store could not be read".into())
        }
    }
}

async fn retryable(store: &Store, payload: &[u8], budget: usize) -> RetryableResponse {
    let request: RetryableRequest = match query::decode(payload) {
        Ok(request) => request,
        Err(err) => {
            return RetryableResponse::failed(format!("undecodable request: {err}"));
        }
    };
    let delivery_id = Some(request.delivery_id.as_str()).filter(|d| !d.is_empty());
    let cursor = Some(request.cursor.as_str()).filter(|c| !c.is_empty());
    let wanted = Retryable {
        tenant: &request.tenant,
        endpoint_id: &request.endpoint_id,
        delivery_id,
        since_ms: request.since_ms,
        limit: request.limit.clamp(1, 10_000),
        cursor,
    };
    match store.retryable(&wanted, budget).await {
        Ok(page) => RetryableResponse {
            deliveries: page.deliveries,
            error: String::new(),
            next_cursor: page.next_cursor.unwrap_or_default(),
        },
        Err(err) => {
            tracing::error!(error = %err, "retryable query failed");
            RetryableResponse::failed("the delivery log could not be read".into())
        }
    }
}
