//! `POST /v1/portal/sessions`: a link that signs the key's tenant's customer into
//! the portal ([`crate::portal`]) for a while. Only an API key may ask; a portal
//! session cannot mint another.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::header::HOST;
use axum::http::{HeaderMap, StatusCode};
use herald_model::portal::{CreatePortalSession, PortalLink};
use herald_model::webhooks::RetryDelay;

use super::json::AppJson;
use super::{ApiError, AppState, Tenant, duration};
use crate::portal::token::Session;

/// The shortest link a platform may ask for.
const MIN_TTL: Duration = Duration::from_secs(1);
/// A link's life when the request names none.
const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// Makes a sign-in link to the portal of the key's tenant. Hand it to the
/// customer at once: it signs in within ten minutes (or `ttl`, if shorter), any
/// number of times, so treat it as a password; the session it opens lasts until
/// `expires_at`.
#[utoipa::path(
    post, path = "/v1/portal/sessions", operation_id = "create_portal_session", tag = "portal",
    request_body = CreatePortalSession,
    responses(
        (status = 201, description = "The link", body = PortalLink),
        (status = 400, description = "The body is not JSON", body = herald_model::ErrorBody),
        (status = 413, description = "The body is too large", body = herald_model::ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = herald_model::ErrorBody),
        (status = 422, description = "`ttl` is not a duration within the server's bounds, or the request names no host to link to", body = herald_model::ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    headers: HeaderMap,
    AppJson(input): AppJson<CreatePortalSession>,
) -> Result<(StatusCode, Json<PortalLink>), ApiError> {
    let portal = &state.config().portal;
    let ttl = match input.ttl {
        None => DEFAULT_TTL.min(portal.max_ttl),
        Some(RetryDelay(ttl)) => {
            duration::parse_within(&ttl, MIN_TTL, portal.max_ttl).ok_or_else(|| {
                ApiError::Unprocessable(format!(
                    "ttl must be a duration between {} and {}, such as 15m or 1h",
                    duration::format(MIN_TTL),
                    duration::format(portal.max_ttl)
                ))
            })?
        }
    };
    let base = match &portal.url {
        Some(url) => url.clone(),
        None => format!("http://{}", request_host(&headers)?),
    };
    let now = herald_proto::now_ms();
    let expires_at_ms = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
    let session = Session::new(
        &tenant,
        input.read_only.unwrap_or(false),
        now,
        expires_at_ms,
    );
    let token = session.link_token(&state.config().cipher);
    Ok((
        StatusCode::CREATED,
        Json(PortalLink {
            url: format!("{base}/portal/login?token={token}"),
            expires_at: herald_proto::rfc3339(expires_at_ms),
        }),
    ))
}

/// The request's `Host`, when it is a plain host and port.
fn request_host(headers: &HeaderMap) -> Result<String, ApiError> {
    headers
        .get(HOST)
        .and_then(|value| value.to_str().ok())
        .and_then(|host| host.parse::<axum::http::uri::Authority>().ok())
        .filter(|authority| !authority.as_str().contains('@'))
        .map(|authority| authority.as_str().to_owned())
        .ok_or_else(|| {
            ApiError::Unprocessable(
                "the request has no Host to link to; set HERALD_PORTAL_URL".into(),
            )
        })
}
