//! The one mapping from failures to HTTP responses. Client errors carry
//! `{"code","detail"}`; internal errors are logged here and answered with a bare
//! `{"code":"internal","detail":"internal error"}`, never their own text.

use axum::Json;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let detail = match &self {
            ApiError::Internal(cause) => {
                // The cause stays here, in the log, under the request's trace.
                let trace_id = herald_common::trace::traceparent(&tracing::Span::current())
                    .and_then(|tp| tp.split('-').nth(1).map(str::to_owned))
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
