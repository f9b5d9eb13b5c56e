//! The public REST API. [`app`] builds the router; every handler returns
//! [`ApiError`] for failures, which is the one place errors become responses.
//! Whatever a client sends that the API cannot take — a malformed id in the path
//! ([`ids`]), a query string ([`query`]) or body ([`json`]) that does not fit the
//! route, a method the route does not have — is answered with that shape too.

mod auth;
mod callbacks;
mod duration;
mod error;
mod events;
mod ids;
mod json;
pub(crate) mod limits;
mod listen;
mod live;
mod manual;
pub mod openapi;
mod portal;
mod query;
mod recent;
mod status;
mod test_delivery;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio_util::sync::CancellationToken;

pub use auth::{RateKey, Tenant};
pub use error::ApiError;

use crate::config::Config;
use crate::intake::Intake;
use herald_common::registry::Registry;

/// What handlers share. Cloning is cheap.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    client: async_nats::Client,
    jetstream: jetstream::Context,
    registry: Registry,
    /// Accepts events; `POST /v1/events` only maps its answers.
    intake: Intake,
    limits: limits::Limits,
    /// Events this replica just accepted, for reads right after.
    recent: recent::RecentEvents,
    /// Cancelled when the service drains: live streams end at once, so the server
    /// does not wait for them.
    shutdown: CancellationToken,
}

impl AppState {
    pub fn new(
        config: Config,
        client: async_nats::Client,
        registry: Registry,
        intake: Intake,
        shutdown: CancellationToken,
    ) -> Self {
        let jetstream = jetstream::new(client.clone());
        let limits = limits::Limits::new(&config);
        AppState {
            inner: Arc::new(Inner {
                config,
                client,
                jetstream,
                registry,
                intake,
                limits,
                recent: recent::RecentEvents::default(),
                shutdown,
            }),
        }
    }

    pub fn intake(&self) -> &Intake {
        &self.inner.intake
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.inner.jetstream
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.inner.client
    }

    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    pub(crate) fn limits(&self) -> &limits::Limits {
        &self.inner.limits
    }

    fn recent(&self) -> &recent::RecentEvents {
        &self.inner.recent
    }

    fn shutdown(&self) -> &CancellationToken {
        &self.inner.shutdown
    }
}

/// The event types the server declares (`HERALD_EVENT_CATALOGUE`), with their
/// descriptions, schemas and examples; empty without a catalogue.
#[utoipa::path(
    get, path = "/v1/event-types", operation_id = "list_event_types", tag = "events",
    responses((status = 200, description = "The catalogue", body = herald_model::EventTypes))
)]
async fn event_types(
    State(state): State<AppState>,
    _tenant: Tenant,
) -> axum::Json<herald_model::EventTypes> {
    axum::Json(match &state.config().catalogue {
        Some(catalogue) => catalogue.list(),
        None => herald_model::EventTypes {
            event_types: Vec::new(),
        },
    })
}

/// How long a request may take before its answer starts (a live stream's answer
/// starts at once). `POST /v1/webhooks/{id}/test` has a limit of its own, above
/// the longest attempt it waits for ([`test_delivery::ROUTE_TIME_LIMIT`]).
pub const REQUEST_TIME_LIMIT: Duration = Duration::from_secs(30);

/// Answers 503 `unavailable` when the route has not answered within `limit`.
pub(crate) async fn time_limit(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Unavailable(format!(
            "the request was not done within {} s; try again",
            limit.as_secs()
        ))
        .into_response(),
    }
}

/// The API router (without health routes), ready to serve or to test with `oneshot`.
pub fn app(state: AppState) -> Router {
    let max_body = state.config().max_body_bytes;
    let within = |limit: Duration| middleware::from_fn_with_state(limit, time_limit);
    // A malformed id is 404 after authenticating, which needs the portal marker
    // in place: this layer goes inside it.
    let ids = || middleware::from_fn_with_state(state.clone(), ids::check);
    // What a platform's customer manages from the portal: a portal session may
    // call these routes, and no others.
    let customer = Router::new()
        .route("/v1/webhooks", post(webhooks::create).get(webhooks::list))
        .route(
            "/v1/webhooks/{id}",
            get(webhooks::get)
                .put(webhooks::update)
                .delete(webhooks::delete),
        )
        .route("/v1/webhooks/{id}/deliveries", get(status::deliveries))
        .route("/v1/webhooks/{id}/stats", get(status::stats))
        .route("/v1/deliveries/{delivery_id}", get(status::delivery))
        .route("/v1/deliveries/{delivery_id}/request", get(status::request))
        .route("/v1/events/{event_id}", get(status::event))
        .route(
            "/v1/webhooks/{id}/rotate-secret",
            post(webhooks::rotate_secret),
        )
        .route("/v1/webhooks/{id}/enable", post(manual::enable))
        .route("/v1/webhooks/{id}/recover", post(manual::recover))
        .route(
            "/v1/webhooks/{id}/deliveries/{delivery_id}/retry",
            post(manual::retry),
        )
        .route("/v1/event-types", get(event_types))
        .route_layer(ids())
        .route_layer(axum::Extension(crate::portal::OpenToPortal))
        .route_layer(within(REQUEST_TIME_LIMIT));
    let platform = Router::new()
        .route("/v1/events", post(events::create))
        .route("/v1/jobs/{job_id}", get(status::job))
        .route("/v1/jobs/{job_id}/stream", get(live::job))
        .route("/v1/stream", get(live::events))
        .route("/v1/callback-secret", get(callbacks::secret))
        .route("/v1/portal/sessions", post(portal::create))
        .route("/v1/listen/sessions", post(listen::create))
        .route(
            "/v1/listen/sessions/{session_id}",
            get(listen::get).delete(listen::delete),
        )
        .route(
            "/v1/listen/sessions/{session_id}/requests",
            get(listen::requests),
        )
        .route(
            "/v1/listen/sessions/{session_id}/results",
            post(listen::results),
        )
        .route_layer(ids())
        .route_layer(within(REQUEST_TIME_LIMIT));
    // A test delivery waits for the attempt, which may take the webhook's whole
    // timeout: it has a longer limit of its own.
    let test = Router::new()
        .route("/v1/webhooks/{id}/test", post(test_delivery::send))
        .route_layer(ids())
        .route_layer(axum::Extension(crate::portal::OpenToPortal))
        .route_layer(within(test_delivery::ROUTE_TIME_LIMIT));
    // The document and its reference need no key.
    let document = Router::new()
        .route("/openapi.json", get(openapi::json))
        .route("/docs", get(openapi::page))
        .route("/docs/reference.js", get(openapi::script))
        .route("/docs/reference.css", get(openapi::style));
    customer
        .merge(platform)
        .merge(test)
        .merge(document)
        .merge(crate::portal::routes())
        .method_not_allowed_fallback(|| async {
            ApiError::MethodNotAllowed("this route does not take this method".into())
        })
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn(error::with_trace_id))
        .with_state(state)
}

/// Removes expired listening sessions, once a minute until `shutdown`.
pub async fn sweep_listen_sessions(state: AppState, shutdown: CancellationToken) {
    listen::sweep(state, shutdown).await;
}
