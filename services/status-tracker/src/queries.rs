//! Request/reply responders: ingest asks, the status-tracker answers from its store.
//! Every replica joins one queue group, so each request is answered once.

use herald_proto::query::{self, RetryableRequest, RetryableResponse, StatusQuery, StatusReply};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::store::{DeliveryFilter, Store, StoreError};

const QUEUE_GROUP: &str = "status-tracker";

pub async fn subscribe(
    client: &async_nats::Client,
) -> Result<async_nats::Subscriber, async_nats::SubscribeError> {
    client
        .queue_subscribe("herald.query.>", QUEUE_GROUP.to_owned())
        .await
}

pub async fn serve(
    requests: async_nats::Subscriber,
    client: async_nats::Client,
    store: Store,
    shutdown: CancellationToken,
) {
    herald_common::reply::serve(requests, client, shutdown, move |request| {
        let store = store.clone();
        async move {
            match request.subject.as_str() {
                query::STATUS_SUBJECT => {
                    Some(query::encode(&status(&store, &request.payload).await))
                }
                query::RETRYABLE_SUBJECT => {
                    Some(query::encode(&retryable(&store, &request.payload).await))
                }
                other => {
                    tracing::warn!(subject = other, "unknown query");
                    None
                }
            }
        }
    })
    .await
}

async fn status(store: &Store, payload: &[u8]) -> StatusReply {
    let query: StatusQuery = match query::decode(payload) {
        Ok(query) => query,
        Err(err) => {
            return StatusReply {
                error: format!("undecodable query: {err}"),
                ..Default::default()
            };
        }
    };
    let some = |s: &str| Some(s.to_owned()).filter(|s| !s.is_empty());
    let tenant = query.tenant.as_str();
    let answer = match query.kind.as_str() {
        "deliveries.list" => store
            .list_deliveries(&DeliveryFilter {
                tenant: query.tenant.clone(),
                endpoint_id: query.endpoint_id.clone(),
                status: some(&query.status),
                since_ms: (query.since_ms != 0).then_some(query.since_ms),
                until_ms: (query.until_ms != 0).then_some(query.until_ms),
                limit: query.limit.clamp(1, 250),
                cursor: some(&query.cursor),
            })
            .await
            .map(|page| {
                Some(json!({
                    "deliveries": page.deliveries,
                    "total": page.total,
                    "limit": query.limit,
                    "next_cursor": page.next_cursor,
                }))
            }),
        "delivery.get" => store.delivery(tenant, &query.delivery_id).await,
        "event.get" => store.event(tenant, &query.event_id).await,
        "job.get" => store.job(tenant, &query.job_id).await,
        "job.state" => store.job_state(tenant, &query.job_id).await,
        "webhook.stats" => store
            .stats(tenant, &query.endpoint_id, query.since_ms)
            .await
            .map(Some),
        other => Err(StoreError::BadRequest(format!(
            "unknown query kind `{other}`"
        ))),
    };
    match answer {
        Ok(Some(view)) => StatusReply {
            json: serde_json::to_vec(&view).unwrap_or_default().into(),
            ..Default::default()
        },
        Ok(None) => StatusReply {
            not_found: true,
            ..Default::default()
        },
        Err(StoreError::BadRequest(reason)) => StatusReply {
            invalid: reason,
            ..Default::default()
        },
        Err(err) => {
            tracing::error!(error = %err, kind = %query.kind, "status query failed");
            StatusReply {
                error: "the store could not be read".into(),
                ..Default::default()
            }
        }
    }
}

async fn retryable(store: &Store, payload: &[u8]) -> RetryableResponse {
    let request: RetryableRequest = match query::decode(payload) {
        Ok(request) => request,
        Err(err) => {
            return RetryableResponse {
                error: format!("undecodable request: {err}"),
                ..Default::default()
            };
        }
    };
    let delivery_id = Some(request.delivery_id.as_str()).filter(|d| !d.is_empty());
    match store
        .retryable(
            &request.tenant,
            &request.endpoint_id,
            delivery_id,
            request.since_ms,
            request.limit.clamp(1, 10_000),
        )
        .await
    {
        Ok(deliveries) => RetryableResponse {
            deliveries,
            error: String::new(),
        },
        Err(err) => {
            tracing::error!(error = %err, "retryable query failed");
            RetryableResponse {
                error: "the delivery log could not be read".into(),
                ..Default::default()
            }
        }
    }
}
