//! `/healthz` (the process runs), `/readyz` (it can do its work: NATS connected —
//! or, while not, the last error NATS reported, such as a refused credential —,
//! its streams present — asked of the server on every call — plus whatever the
//! service adds, such as its store) and `/metrics` (Prometheus).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_nats::jetstream;
use async_nats::jetstream::context::GetStreamErrorKind;
pub use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use futures::future::join_all;

type Check =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), NotReady>> + Send>> + Send + Sync>;

/// Why the service is not ready, as `/readyz` says it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NotReady {
    #[error("NATS is not connected")]
    Disconnected,
    /// Disconnected, with the last error NATS reported (a refused credential).
    #[error("NATS is not connected: {0}")]
    DisconnectedBecause(String),
    #[error("stream {0} is missing")]
    StreamMissing(&'static str),
    #[error("cannot check stream {stream}: {reason}")]
    StreamUnknown {
        stream: &'static str,
        reason: String,
    },
    /// A check of the service's own said why.
    #[error("{0}")]
    Check(String),
}

/// What `/readyz` checks.
#[derive(Clone)]
pub struct Readiness {
    /// Each service's connection (one per service in `herald all`), with what NATS
    /// last reported on it, said while it is down.
    connections: Vec<crate::nats::Connection>,
    streams: Vec<&'static str>,
    extra: Vec<Check>,
}

impl Readiness {
    pub fn new(connection: crate::nats::Connection, streams: &[&'static str]) -> Self {
        Readiness {
            connections: vec![connection],
            streams: streams.to_vec(),
            extra: Vec::new(),
        }
    }

    /// Adds a check of the service's own (its store, its mirror).
    pub fn with_check<F, Fut, E>(mut self, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        self.extra.push(Arc::new(move || {
            let checked = check();
            Box::pin(async move { checked.await.map_err(|e| NotReady::Check(e.to_string())) })
        }));
        self
    }

    /// Merges another service's checks into this one (for `herald all`).
    pub fn merge(mut self, other: Readiness) -> Self {
        self.connections.extend(other.connections);
        for stream in other.streams {
            if !self.streams.contains(&stream) {
                self.streams.push(stream);
            }
        }
        self.extra.extend(other.extra);
        self
    }

    pub async fn check(&self) -> Result<(), NotReady> {
        for connection in &self.connections {
            if connection.client.connection_state() != async_nats::connection::State::Connected {
                return Err(match connection.last_error.get() {
                    Some(reason) => NotReady::DisconnectedBecause(reason),
                    None => NotReady::Disconnected,
                });
            }
        }
        let js = jetstream::new(self.connections[0].client.clone());
        // A real request per stream, all at once: the server says whether each
        // exists now. The first stream in order that fails is the one reported.
        let answers = join_all(self.streams.iter().map(|stream| js.get_stream(*stream))).await;
        for (&stream, answer) in self.streams.iter().zip(answers) {
            answer.map_err(|err| match err.kind() {
                GetStreamErrorKind::JetStream(e)
                    if e.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
                {
                    NotReady::StreamMissing(stream)
                }
                _ => NotReady::StreamUnknown {
                    stream,
                    reason: err.to_string(),
                },
            })?;
        }
        for check in &self.extra {
            check().await?;
        }
        Ok(())
    }
}

/// The health routes, to merge into a service's router.
pub fn routes(readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(readiness)
}

/// `/metrics`: every metric of this process, in the OpenMetrics text format.
pub async fn metrics() -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        crate::metrics::metrics().encode(),
    )
}

async fn ready(State(readiness): State<Readiness>) -> (StatusCode, String) {
    match readiness.check().await {
        Ok(()) => (StatusCode::OK, "ready".into()),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, reason.to_string()),
    }
}
