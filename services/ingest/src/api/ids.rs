//! Ids in paths: every route's `{id}`, `{delivery_id}`, `{event_id}` and `{job_id}`
//! is checked here, once for all routes, before any handler looks it up. An id
//! that cannot name anything (a leading, trailing or doubled dot, a character ids
//! never hold, more than 128 characters, bytes that are not UTF-8) is answered
//! like an id that names nothing: 404 `not_found`. So no malformed id ever reaches
//! a NATS subject, a KV key or the store.
//!
//! The client is authenticated first, so a request without a valid key still gets
//! 401 and counts against its key's rate, as every other request does.

use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{FromRequestParts, RawPathParams, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use herald_model::ids::{is_producer_id, is_token};

use super::{ApiError, AppState, Tenant};

/// What a path parameter names, and whether a value can be such an id.
fn kind(param: &str) -> (&'static str, fn(&str) -> bool) {
    match param {
        "id" => ("webhook", is_token),
        "delivery_id" => ("delivery", is_token),
        "session_id" => ("listening session", is_token),
        "event_id" => ("event", is_producer_id),
        "job_id" => ("job", is_producer_id),
        _ => ("resource", is_producer_id),
    }
}

/// An id as an error message repeats it.
pub use crate::intake::shown;

/// The 404 for a path parameter that cannot be an id of its kind, if any.
fn malformed(params: Result<RawPathParams, RawPathParamsRejection>) -> Option<ApiError> {
    match params {
        Ok(params) => params.iter().find_map(|(param, value)| {
            let (noun, valid) = kind(param);
            (!valid(value)).then(|| ApiError::NotFound(format!("no {noun} `{}`", shown(value))))
        }),
        Err(RawPathParamsRejection::InvalidUtf8InPathParam(_)) => Some(ApiError::NotFound(
            "no such resource: the path is not UTF-8 once percent-decoded".into(),
        )),
        // A route without parameters.
        Err(_) => None,
    }
}

/// Route middleware: answers 404 for a malformed id, after authenticating.
pub async fn check(
    State(state): State<AppState>,
    params: Result<RawPathParams, RawPathParamsRejection>,
    request: Request,
    next: Next,
) -> Response {
    let Some(error) = malformed(params) else {
        return next.run(request).await;
    };
    let (mut parts, _body) = request.into_parts();
    if let Err(unauthorized) = Tenant::from_request_parts(&mut parts, &state).await {
        return unauthorized.into_response();
    }
    error.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_model::ids::MAX_ID_LEN;

    #[test]
    fn ids_herald_makes_are_tokens() {
        assert!(is_token("wh_01jd5x2m3n4p5q6r7s8t9v0w1x"));
        assert!(is_token("dlv_0123456789abcdef0123456789abcdef"));
        for id in [
            "", "wh_...", ".wh", "wh.", "a..b", "a b", "a*b", "a>b", "a/b", "ü",
        ] {
            assert!(!is_token(id), "{id:?}");
        }
        assert!(is_token(&"a".repeat(MAX_ID_LEN)));
        assert!(!is_token(&"a".repeat(MAX_ID_LEN + 1)));
    }

    #[test]
    fn producer_ids_follow_the_intake() {
        assert!(is_producer_id("evt_1:a.b"));
        assert!(is_producer_id("job-7"));
        for id in ["", "a b", "a/b", "a*b", "ü"] {
            assert!(!is_producer_id(id), "{id:?}");
        }
        assert!(!is_producer_id(&"a".repeat(MAX_ID_LEN + 1)));
    }
}
