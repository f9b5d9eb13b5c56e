//! `AppQuery`: axum's `Query` extractor with the API's own error shape. A query
//! string that does not fit the route's parameters (a wrong type, an unknown or
//! repeated parameter) is 422 `validation` naming the parameter, as JSON.

use std::error::Error as _;

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::ApiError;

pub struct AppQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for AppQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(AppQuery(value)),
            Err(rejection) => Err(rejection_to_error(&rejection)),
        }
    }
}

fn rejection_to_error(rejection: &QueryRejection) -> ApiError {
    // The deserializer's own words, which name the parameter and say what is
    // wrong with it (`limit: invalid digit found in string`).
    let reason = match rejection {
        QueryRejection::FailedToDeserializeQueryString(e) => e
            .source()
            .map_or_else(|| e.body_text(), ToString::to_string),
        other => other.body_text(),
    };
    ApiError::Unprocessable(format!(
        "query string: {}",
        reason
            .replace("unknown field", "unknown parameter")
            .replace("duplicate field", "repeated parameter")
    ))
}
