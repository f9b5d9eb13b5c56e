//! What the listener answers while the services start: `/healthz` 200 (the
//! process runs; restarting it would not help), `/readyz` 503 with what start-up
//! waits for, `/metrics`, and 503 `unavailable` for the API; once started,
//! whatever the started services' router answers.

use std::sync::{Arc, OnceLock};

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use herald_common::health::Router;
use herald_common::startup::Startup;
use tower::ServiceExt;

/// The router to serve from the moment the listener is bound: `app`, once set,
/// answers every request; until then, `startup` says what `/readyz` answers.
pub fn router(startup: Startup, app: Arc<OnceLock<Router>>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(herald_common::health::metrics))
        .fallback(move |request: Request| {
            let (startup, app) = (startup.clone(), app.clone());
            async move {
                match app.get() {
                    Some(app) => match app.clone().oneshot(request).await {
                        Ok(response) => response,
                        Err(never) => match never {},
                    },
                    None => while_starting(request.uri().path(), &startup),
                }
            }
        })
}

fn while_starting(path: &str, startup: &Startup) -> Response {
    let waiting = startup.status().unwrap_or_else(|| "starting".to_owned());
    if path == "/readyz" {
        return (StatusCode::SERVICE_UNAVAILABLE, waiting).into_response();
    }
    // API clients learn only that it starts; the reason is for operators.
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "1")],
        axum::Json(serde_json::json!({
            "code": "unavailable",
            "detail": "Herald is starting; try again shortly",
        })),
    )
        .into_response()
}
