//! What a portal session cookie may do. It signs its customer into one tenant;
//! it may call only the routes marked [`OpenToPortal`] (a customer manages
//! endpoints and reads deliveries, but never publishes events or mints links);
//! every change needs the session's CSRF value in `X-CSRF-Token`, and a
//! read-only session may change nothing.

use axum::extract::FromRequestParts;
use axum::http::header::COOKIE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method};
use sha2::{Digest, Sha256};

use super::token::{COOKIE as NAME, Session};
use crate::api::{ApiError, AppState, RateKey, Tenant};
use herald_common::secrets::Cipher;

/// The header a change carries the session's CSRF value in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Marks a route of the REST API that a portal session may call.
#[derive(Debug, Clone, Copy)]
pub struct OpenToPortal;

/// Put on a request of a read-only portal session: webhooks' header values
/// (often a receiver's credentials) are shown to it as [`HIDDEN`].
#[derive(Debug, Clone, Copy)]
pub struct ReadOnlyView;

/// What a read-only session sees of a header value.
pub const HIDDEN: &str = "••••••";

/// `headers` as a request marked [`ReadOnlyView`] may see them.
pub fn shown_headers(
    read_only: Option<axum::Extension<ReadOnlyView>>,
    headers: &mut std::collections::BTreeMap<String, String>,
) {
    if read_only.is_some() {
        headers
            .values_mut()
            .for_each(|value| *value = HIDDEN.to_owned());
    }
}

/// The signed-in portal session of a request, from its cookie.
#[derive(Debug, Clone)]
pub struct Signed(pub Session);

impl FromRequestParts<AppState> for Signed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        from_cookie(&parts.headers, state)
            .map(Signed)
            .ok_or_else(|| {
                ApiError::Unauthorized(
                    "no portal session, or it has expired; open a new portal link".into(),
                )
            })
    }
}

/// The session of the request's cookie, when it is good now and its tenant
/// still has an API key.
fn from_cookie(headers: &HeaderMap, state: &AppState) -> Option<Session> {
    let config = state.config();
    let now = herald_proto::now_ms();
    let max_ttl = config.portal.max_ttl_ms();
    cookie_values(headers)
        .find_map(|value| Session::from_cookie(value, &config.cipher, now, max_ttl).ok())
        .filter(|session| state.limits().knows(&session.tenant))
}

/// The values of the request's portal session cookies.
fn cookie_values(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == NAME)
        .map(|(_, value)| value)
}

/// The tenant of a request to the REST API that carries no API key: its portal
/// session's, when the route is open to the portal and the request may change
/// what it asks to.
pub fn tenant(parts: &mut Parts, state: &AppState) -> Result<Tenant, ApiError> {
    let Some(session) = from_cookie(&parts.headers, state) else {
        let detail = if cookie_values(&parts.headers).next().is_some() {
            "the portal session has expired; open a new portal link"
        } else {
            "missing Authorization: Bearer <api key>"
        };
        return Err(ApiError::Unauthorized(detail.into()));
    };
    if parts.extensions.get::<OpenToPortal>().is_none() {
        return Err(ApiError::Forbidden {
            code: "forbidden",
            detail: "a portal session cannot use this route".into(),
        });
    }
    if !is_safe(&parts.method) {
        if session.read_only {
            return Err(ApiError::Forbidden {
                code: "read_only",
                detail: "this portal session is read-only".into(),
            });
        }
        check_csrf(&session, &parts.headers)?;
    }
    // A tenant's portal sessions share one budget of requests per second.
    let budget: [u8; 32] = Sha256::digest(format!("portal\0{}", session.tenant)).into();
    state.limits().check_rate(&budget)?;
    parts.extensions.insert(RateKey(budget));
    if session.read_only {
        parts.extensions.insert(ReadOnlyView);
    }
    Ok(Tenant(session.tenant))
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// 403 `csrf` unless the request carries the session's CSRF value.
pub fn check_csrf(session: &Session, headers: &HeaderMap) -> Result<(), ApiError> {
    let presented = headers
        .get(CSRF_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if session.csrf_matches(presented) {
        Ok(())
    } else {
        Err(ApiError::Forbidden {
            code: "csrf",
            detail: "a change from the portal must carry its session's X-CSRF-Token".into(),
        })
    }
}

/// The `Set-Cookie` value of `session`, kept by the browser until the session
/// ends: sent on same-site requests and top-level navigations only, never to
/// scripts, never over plain HTTP (but on `localhost`).
pub fn cookie(session: &Session, cipher: &Cipher, now_ms: i64) -> HeaderValue {
    let max_age = (session.expires_at_ms - now_ms).max(0) / 1000;
    let value = format!(
        "{NAME}={}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Lax",
        session.cookie_token(cipher)
    );
    HeaderValue::try_from(value).expect("a sealed token is a valid header value")
}

/// The `Set-Cookie` value that makes the browser forget the session.
pub fn clear_cookie() -> HeaderValue {
    HeaderValue::try_from(format!(
        "{NAME}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax"
    ))
    .expect("a valid header value")
}
