//! `Authorization: Bearer <key>`: the key decides the tenant, and each key may make
//! `HERALD_API_RATE_LIMIT` requests per second. A request without the header may
//! carry a portal session's cookie instead ([`crate::portal::session`]).

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::{ApiError, AppState};

/// The tenant the request's API key belongs to.
#[derive(Debug, Clone)]
pub struct Tenant(pub String);

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(header) = parts.headers.get(AUTHORIZATION) else {
            return crate::portal::session::tenant(parts, state);
        };
        let key = header
            .to_str()
            .ok()
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::Unauthorized("Authorization must be Bearer <api key>".into())
            })?;
        let (digest, tenant) = state
            .config()
            .api_key(key)
            .ok_or_else(|| ApiError::Unauthorized("unknown API key".into()))?;
        // Only known keys are counted, so unknown ones cannot fill the limiter.
        state.limits().check_rate(digest)?;
        parts.extensions.insert(RateKey(*digest));
        Ok(Tenant(tenant.to_owned()))
    }
}

/// The budget of requests per second a request was counted against (its API
/// key's, or its tenant's portal sessions'), for a route that does the work of
/// many requests and charges them ([`super::limits::Limits::charge`]).
#[derive(Debug, Clone, Copy)]
pub struct RateKey(pub [u8; 32]);
