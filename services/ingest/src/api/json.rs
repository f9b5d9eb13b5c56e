//! `AppJson`: axum's `Json` extractor with the API's own error shape for bodies that
//! are not JSON, too large, or of the wrong type. Every body the API takes is a
//! JSON object: an array is refused even where its items would fill the fields in
//! order (as serde allows for a struct).

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::{ApiError, AppState};

pub struct AppJson<T>(pub T);

impl<T> FromRequest<AppState> for AppJson<T>
where
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let limit = state.config().max_body_bytes;
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(|value| {
                let essence = value.split(';').next().unwrap_or_default();
                essence.trim().to_ascii_lowercase()
            })
            .is_some_and(|essence| {
                essence == "application/json"
                    || (essence.starts_with("application/") && essence.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as JSON with Content-Type: application/json".into(),
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    too_large(limit)
                } else {
                    ApiError::BadRequest(rejection.body_text())
                }
            })?;
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first.is_some_and(|b| *b != b'{') {
            return Err(ApiError::Unprocessable(
                "the body must be a JSON object".into(),
            ));
        }
        axum::Json::<T>::from_bytes(&bytes)
            .map(|axum::Json(value)| AppJson(value))
            .map_err(|rejection| rejection_to_error(rejection, limit))
    }
}

/// The API's error for a body axum's `Json` refused; `limit` is the largest body.
pub fn rejection_to_error(rejection: JsonRejection, limit: usize) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large(limit);
    }
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType(
            "send the body as JSON with Content-Type: application/json".into(),
        ),
        JsonRejection::JsonDataError(e) => ApiError::Unprocessable(e.body_text()),
        JsonRejection::JsonSyntaxError(e) => ApiError::BadRequest(e.body_text()),
        other => ApiError::BadRequest(other.body_text()),
    }
}

/// 413 for a body over `limit` bytes, the largest this Herald accepts.
pub fn too_large(limit: usize) -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "request body is larger than {limit} bytes, the most this Herald accepts"
    ))
}
