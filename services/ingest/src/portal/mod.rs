//! The customer portal, served by ingest: a platform's backend asks
//! `POST /v1/portal/sessions` for a link ([`crate::api`]), its customer opens
//! it, and `/portal/login` trades the link for a session cookie; the pages under
//! `/portal/` then call the same REST API with that cookie instead of an API key
//! ([`session`] decides what a cookie may do). The pages are static files built
//! into the binary ([`Assets`]), branded by configuration (`/portal/theme.css`,
//! `/portal/logo`), and served under a strict Content-Security-Policy.

pub mod session;
pub mod token;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, REFERRER_POLICY, SET_COOKIE,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use herald_model::portal::{PortalSessionInfo, PortalTheme};

use crate::api::{ApiError, AppState};
pub use session::{OpenToPortal, Signed};
use token::Session;

/// The portal's pages and scripts, built into the binary. Debug builds read them
/// from `src/portal/assets/` at each request.
#[derive(rust_embed::Embed)]
#[folder = "src/portal/assets/"]
struct Assets;

/// Everything a portal page may load comes from Herald itself; nothing inline,
/// no frames, no forms sent elsewhere.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";

/// Where the logo is served, when there is one.
const LOGO_PATH: &str = "/portal/logo";

/// The portal's routes, each answered with [`protect`]'s headers.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/portal", get(|| async { Redirect::permanent("/portal/") }))
        .route("/portal/", get(index))
        .route("/portal/assets/{*file}", get(asset))
        .route("/portal/theme.css", get(theme))
        .route("/portal/logo", get(logo))
        .route("/portal/login", get(login))
        .route("/portal/api/session", get(session_info))
        .route("/portal/api/logout", post(logout))
        .route_layer(axum::middleware::from_fn_with_state(
            crate::api::REQUEST_TIME_LIMIT,
            crate::api::time_limit,
        ))
        .layer(axum::middleware::map_response(protect))
}

/// Headers on every portal answer: the policy, no sniffing, no framing, and no
/// `Referer` (a sign-in link must not travel on).
async fn protect(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// A file of [`Assets`] with the media type its extension names.
fn file(name: &str, status: StatusCode) -> Response {
    let Some(found) = Assets::get(name) else {
        return ApiError::NotFound("no such portal file".into()).into_response();
    };
    let media_type = match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    };
    (
        status,
        [(CONTENT_TYPE, media_type), (CACHE_CONTROL, "no-cache")],
        found.data.into_owned(),
    )
        .into_response()
}

/// `GET /portal/`: the portal's one page; its script shows the sign-in state.
async fn index() -> Response {
    file("index.html", StatusCode::OK)
}

/// `GET /portal/assets/{file}`.
async fn asset(Path(name): Path<String>) -> Response {
    // Only the page itself and the expired page are served at their own paths.
    if name.ends_with(".html") {
        return ApiError::NotFound("no such portal file".into()).into_response();
    }
    file(&name, StatusCode::OK)
}

/// `GET /portal/theme.css`: the accent colour of `HERALD_PORTAL_COLOR`.
async fn theme(State(state): State<AppState>) -> Response {
    let css = format!(":root {{ --brand: {}; }}\n", state.config().portal.color);
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
        ],
        css,
    )
        .into_response()
}

/// `GET /portal/logo`: the file of `HERALD_PORTAL_LOGO`.
async fn logo(State(state): State<AppState>) -> Response {
    match &state.config().portal.logo {
        Some((media_type, bytes)) => (
            [
                (CONTENT_TYPE, *media_type),
                (CACHE_CONTROL, "public, max-age=300"),
            ],
            bytes.clone(),
        )
            .into_response(),
        None => ApiError::NotFound("no logo is configured".into()).into_response(),
    }
}

/// The page shown for a link that has expired, been altered, or belongs to no
/// tenant of this server: it shows no data, only how to get a new link. A
/// session the browser already holds is left as it is, so that no other site can
/// sign a customer out by sending them to a bad link.
fn expired() -> Response {
    let mut response = file("expired.html", StatusCode::UNAUTHORIZED);
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /portal/login?token=…`: a good link sets the session cookie and sends the
/// browser to the portal (so the token leaves the address bar and history); any
/// other token gets the expired page.
async fn login(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let token = query.as_deref().and_then(|query| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| name == "token")
            .map(|(_, value)| value.into_owned())
    });
    let Some(token) = token else {
        return expired();
    };
    let config = state.config();
    let now = herald_proto::now_ms();
    let session = match Session::from_link(&token, &config.cipher, now, config.portal.max_ttl_ms())
    {
        Ok(session) if state.limits().knows(&session.tenant) => session,
        Ok(_) => {
            tracing::info!("portal link of a tenant without an API key refused");
            return expired();
        }
        Err(refused) => {
            tracing::info!(reason = %refused, "portal link refused");
            return expired();
        }
    };
    let cookie = session::cookie(&session, &config.cipher, now);
    let mut headers = HeaderMap::new();
    headers.insert(LOCATION, HeaderValue::from_static("/portal/"));
    headers.insert(SET_COOKIE, cookie);
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    (StatusCode::SEE_OTHER, headers).into_response()
}

/// `GET /portal/api/session`: who is signed in, until when, the CSRF value to
/// send with changes, and the platform's branding.
async fn session_info(State(state): State<AppState>, Signed(session): Signed) -> impl IntoResponse {
    let portal = &state.config().portal;
    let info = axum::Json(PortalSessionInfo {
        tenant: session.tenant,
        read_only: session.read_only,
        expires_at: herald_proto::rfc3339(session.expires_at_ms),
        csrf_token: session.csrf,
        theme: PortalTheme {
            name: portal.name.clone(),
            color: portal.color.clone(),
            logo_url: portal.logo.as_ref().map(|_| LOGO_PATH.to_owned()),
        },
    });
    // It holds the CSRF value: no cache keeps it.
    ([(CACHE_CONTROL, "no-store")], info)
}

/// `POST /portal/api/logout`: clears the cookie. The session's token stays good
/// until it expires (nothing is stored to revoke), but this browser forgets it.
async fn logout(headers: HeaderMap, Signed(session): Signed) -> Result<Response, ApiError> {
    session::check_csrf(&session, &headers)?;
    Ok((
        StatusCode::NO_CONTENT,
        [(SET_COOKIE, session::clear_cookie())],
    )
        .into_response())
}
