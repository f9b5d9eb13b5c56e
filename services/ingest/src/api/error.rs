//! The one mapping from failures to HTTP responses. Client errors carry
//! `{"code","detail"}`; internal errors are logged here and answered with a bare
//! `{"code":"internal","detail":"internal error"}`, never their own text.

use axum::Json;
use axum::extract::Request;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use herald_model::ErrorBody;

use crate::intake::{IntakeError, Invalid};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The route exists, but not with this method (405).
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    /// Known, but not allowed this (403): `forbidden`, `read_only` or `csrf`.
    #[error("{detail}")]
    Forbidden { code: &'static str, detail: String },
    #[error("{0}")]
    Unavailable(String),
    /// The tenant already holds as much of something as it may (422).
    #[error("{0}")]
    LimitExceeded(String),
    /// Too much at once (429): `limit_exceeded` for what is open at a time,
    /// `rate_limited` with a `Retry-After` in seconds for requests per second.
    #[error("{detail}")]
    TooManyRequests {
        code: &'static str,
        detail: String,
        retry_after: Option<u64>,
    },
    #[error("internal: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn internal(err: impl std::fmt::Display) -> Self {
        ApiError::Internal(err.to_string())
    }

    /// 429 `limit_exceeded`: more open at once than a limit allows.
    pub fn too_many(detail: impl Into<String>) -> Self {
        ApiError::TooManyRequests {
            code: "limit_exceeded",
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// 429 `rate_limited`, to be tried again after `retry_after` seconds.
    pub fn rate_limited(detail: impl Into<String>, retry_after: u64) -> Self {
        ApiError::TooManyRequests {
            code: "rate_limited",
            detail: detail.into(),
            retry_after: Some(retry_after),
        }
    }

    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Forbidden { code, .. } => (StatusCode::FORBIDDEN, *code),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::LimitExceeded(_) => (StatusCode::UNPROCESSABLE_ENTITY, "limit_exceeded"),
            ApiError::TooManyRequests { code, .. } => (StatusCode::TOO_MANY_REQUESTS, *code),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<herald_common::registry::RegistryError> for ApiError {
    fn from(err: herald_common::registry::RegistryError) -> Self {
        ApiError::internal(err)
    }
}

impl From<Invalid> for ApiError {
    fn from(invalid: Invalid) -> Self {
        ApiError::Unprocessable(invalid.detail)
    }
}

/// An event refused is 422 with the reason; NATS not answering is 503, and anything
/// else 500: the cause of either is logged, never answered.
impl From<IntakeError> for ApiError {
    fn from(err: IntakeError) -> Self {
        match err {
            IntakeError::Invalid(invalid) => invalid.into(),
            IntakeError::Unavailable { .. } => {
                tracing::warn!(error = %err, "cannot accept an event now");
                ApiError::Unavailable("the event cannot be stored now; try again".into())
            }
            IntakeError::Internal { .. } => ApiError::internal(err),
        }
    }
}

tokio::task_local! {
    /// The trace id of the request being answered, from its `traceparent` header,
    /// for the log of a 5xx answered outside any span of the request.
    static REQUEST_TRACE_ID: Option<String>;
}

/// The trace id of a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`).
fn trace_id_of(traceparent: &str) -> Option<&str> {
    traceparent
        .split('-')
        .nth(1)
        .filter(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Runs the rest of the request with its trace id at hand for [`ApiError`]'s log.
pub async fn with_trace_id(request: Request, next: Next) -> Response {
    let trace_id = request
        .headers()
        .get(herald_proto::names::header::TRACEPARENT)
        .and_then(|value| value.to_str().ok())
        .and_then(trace_id_of)
        .map(str::to_owned);
    REQUEST_TRACE_ID.scope(trace_id, next.run(request)).await
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let detail = match &self {
            ApiError::Internal(cause) => {
                // The cause stays here, in the log, under the request's trace.
                let trace_id = herald_common::trace::traceparent(&tracing::Span::current())
                    .as_deref()
                    .and_then(trace_id_of)
                    .map(str::to_owned)
                    .or_else(|| REQUEST_TRACE_ID.try_with(Clone::clone).ok().flatten())
                    .unwrap_or_default();
                tracing::error!(error = %cause, %trace_id, "internal error");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        let body = ErrorBody {
            code: code.to_owned(),
            detail,
        };
        let mut response = (status, Json(body)).into_response();
        if let ApiError::TooManyRequests {
            retry_after: Some(seconds),
            ..
        } = self
        {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Log {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_5xx_is_logged_with_its_cause_and_trace_id_and_answered_without_them() {
        let log = Log::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let trace_id = "0af7651916cd43dd8448eb211c80319c";
        let response = REQUEST_TRACE_ID
            .scope(Some(trace_id.to_owned()), async {
                ApiError::internal("the disk is on fire").into_response()
            })
            .await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(
            body.as_ref(),
            br#"{"code":"internal","detail":"internal error"}"#
        );
        let logged = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        assert!(logged.contains("the disk is on fire"), "{logged}");
        assert!(logged.contains(trace_id), "{logged}");
    }

    #[test]
    fn only_a_well_formed_traceparent_gives_a_trace_id() {
        assert_eq!(
            trace_id_of("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
            Some("0af7651916cd43dd8448eb211c80319c")
        );
        assert_eq!(trace_id_of("00-nothex-b7ad6b7169203331-01"), None);
        assert_eq!(trace_id_of("garbage"), None);
    }
}
