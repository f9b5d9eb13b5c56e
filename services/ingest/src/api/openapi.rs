//! The OpenAPI 3.1 document of the API, made from the handlers' annotations and
//! the types of `herald_model`: served at `GET /openapi.json`, with a reference
//! to browse at `GET /docs` (served from this binary, nothing from elsewhere), and
//! committed as `docs/openapi.json`.

use std::sync::OnceLock;

use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::response::IntoResponse;
use herald_model::ErrorBody;
use herald_model::payloads::{EnvelopeCamelPayload, EnvelopePayload};
use serde_json::{Value, json};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Herald",
        description = "Webhook delivery: producers publish events, Herald delivers them to every \
            subscribed endpoint, signed (Standard Webhooks and `X-Webhook-Signature`), retried \
            until taken, and recorded attempt by attempt.\n\nEvery route takes \
            `Authorization: Bearer <api key>`; the key decides the tenant. Errors are \
            `{code, detail}`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        super::events::create,
        super::status::event,
        super::live::events,
        super::callbacks::secret,
        super::event_types,
        super::webhooks::create,
        super::webhooks::list,
        super::webhooks::get,
        super::webhooks::update,
        super::webhooks::delete,
        super::webhooks::rotate_secret,
        super::manual::enable,
        super::test_delivery::send,
        super::status::stats,
        super::status::deliveries,
        super::status::delivery,
        super::status::request,
        super::manual::retry,
        super::manual::recover,
        super::status::job,
        super::live::job,
        super::listen::create,
        super::listen::get,
        super::listen::delete,
        super::listen::requests,
        super::listen::results,
        super::portal::create,
    ),
    components(schemas(ErrorBody, EnvelopePayload, EnvelopeCamelPayload)),
    tags(
        (name = "events", description = "Events in, and what became of them"),
        (name = "webhooks", description = "The endpoints deliveries go to"),
        (name = "deliveries", description = "The delivery log, and sending again by hand"),
        (name = "jobs", description = "Jobs' state for customers who poll or follow a stream"),
        (name = "listen", description = "Listening sessions: deliveries forwarded to a developer's machine by `herald listen`"),
        (name = "portal", description = "Sign-in links to the customer portal, served by Herald under `/portal/`"),
    ),
    security(("api_key" = [])),
    modifiers(&Common),
)]
struct Api;

/// What every route has in common: the API key, and the answers any route may
/// give whatever it does.
struct Common;

impl utoipa::Modify for Common {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key from HERALD_API_KEYS; it decides the tenant.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Answers any route may give, with why.
const COMMON_RESPONSES: &[(&str, &str)] = &[
    ("401", "No API key, or one this Herald does not know"),
    (
        "405",
        "The route does not take this method (`method_not_allowed`)",
    ),
    (
        "429",
        "Too many requests with this key (`rate_limited`, with `Retry-After` in seconds)",
    ),
    (
        "500",
        "Something failed inside Herald (`internal`); the cause is in its log, under the trace id",
    ),
    (
        "503",
        "A part of Herald did not answer in time or is not running (`unavailable`); try again",
    ),
];

/// Answers any route with a body may give.
const BODY_RESPONSES: &[(&str, &str)] = &[
    ("400", "The body is not JSON (`bad_request`)"),
    (
        "413",
        "The body is larger than this Herald accepts (`payload_too_large`)",
    ),
    (
        "415",
        "The body is not sent as JSON (`unsupported_media_type`)",
    ),
];

/// The document, made once.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut doc = serde_json::to_value(Api::openapi()).expect("the document is JSON");
        add_common_responses(&mut doc);
        doc["webhooks"] = webhooks();
        doc
    })
}

/// The document as committed in `docs/openapi.json`.
pub fn pretty() -> String {
    let mut text = serde_json::to_string_pretty(document()).expect("the document is JSON");
    text.push('\n');
    text
}

fn add_common_responses(doc: &mut Value) {
    let error = json!({
        "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } }
    });
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for operation in item.values_mut() {
            let has_body = operation.get("requestBody").is_some();
            let Some(responses) = operation["responses"].as_object_mut() else {
                continue;
            };
            let body = if has_body { BODY_RESPONSES } else { &[] };
            for (status, description) in COMMON_RESPONSES.iter().chain(body) {
                responses.entry(*status).or_insert_with(|| {
                    let mut response = json!({ "description": description, "content": error });
                    if *status == "429" {
                        response["headers"] = json!({
                            "Retry-After": {
                                "description": "Seconds to wait (with `rate_limited`)",
                                "schema": { "type": "integer", "minimum": 0 }
                            }
                        });
                    }
                    response
                });
            }
        }
    }
}

/// The requests Herald makes: a delivery to a webhook (or a job's callback), in
/// each payload format, with the headers a receiver verifies.
fn webhooks() -> Value {
    let headers = json!({
        "webhook-id": {
            "description": "The event's id, the same on every attempt and for every webhook: use it to drop repeats",
            "required": true, "schema": { "type": "string" }
        },
        "webhook-timestamp": {
            "description": "Unix seconds when this attempt was signed",
            "required": true, "schema": { "type": "string", "pattern": "^[0-9]+$" }
        },
        "webhook-signature": {
            "description": "Standard Webhooks: `v1,` and the base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}`; two, space-separated, while a rotated secret is in its grace period",
            "required": true, "schema": { "type": "string" }
        },
        "X-Webhook-Signature": {
            "description": "The hex HMAC-SHA256 of the body, keyed with the secret as written (`whsec_...` included)",
            "required": true, "schema": { "type": "string", "pattern": "^[0-9a-f]{64}$" }
        },
        "X-Webhook-Id": { "description": "The webhook's id", "schema": { "type": "string" } },
        "X-Event-Id": { "description": "As `webhook-id`", "schema": { "type": "string" } },
        "X-Timestamp": { "description": "As `webhook-timestamp`", "schema": { "type": "string" } },
        "traceparent": { "description": "W3C trace context of the delivery", "schema": { "type": "string" } }
    });
    let responses = json!({
        "2XX": { "description": "Taken: the delivery succeeded and is not sent again" },
        "410": { "description": "Gone: the delivery fails at once, without retries" },
        "default": { "description": "Any other answer, or none within the timeout, is a failed attempt, retried with backoff; `Retry-After` on 429 and 503 is honoured" }
    });
    let delivery = |summary: &str, schema: Value| {
        json!({
            "post": {
                "summary": summary,
                "tags": ["webhooks"],
                "parameters": headers
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(name, header)| {
                        let mut header = header.clone();
                        header["name"] = json!(name);
                        header["in"] = json!("header");
                        header
                    })
                    .collect::<Vec<_>>(),
                "requestBody": { "required": true, "content": { "application/json": { "schema": schema } } },
                "responses": responses,
            }
        })
    };
    json!({
        "delivery": delivery(
            "A delivery in the default `envelope` format",
            json!({ "$ref": "#/components/schemas/EnvelopePayload" }),
        ),
        "delivery-envelope-camel": delivery(
            "A delivery in the `envelope_camel` format",
            json!({ "$ref": "#/components/schemas/EnvelopeCamelPayload" }),
        ),
        "delivery-data": delivery(
            "A delivery in the `data` format: the event's data alone",
            json!({}),
        ),
    })
}

/// `GET /openapi.json`.
pub async fn json() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "application/json"),
            (CACHE_CONTROL, "public, max-age=300"),
        ],
        pretty(),
    )
}

const PAGE: &str = include_str!("docs/index.html");
const SCRIPT: &str = include_str!("docs/reference.js");
const STYLE: &str = include_str!("docs/reference.css");

/// Only Herald's own script and style, no inline code, nothing from elsewhere.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `GET /docs`: the reference, rendered in the browser from `/openapi.json`.
pub async fn page() -> impl IntoResponse {
    asset("text/html; charset=utf-8", PAGE)
}

/// `GET /docs/reference.js`.
pub async fn script() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /docs/reference.css`.
pub async fn style() -> impl IntoResponse {
    asset("text/css; charset=utf-8", STYLE)
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, content_type),
            (CONTENT_SECURITY_POLICY, POLICY),
            (CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/openapi.json` is the document the code makes. `UPDATE_OPENAPI=1`
    /// rewrites it.
    #[test]
    fn the_committed_document_is_the_generated_one() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
        let generated = pretty();
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/openapi.json differs from the document the code makes; \
             regenerate it with `UPDATE_OPENAPI=1 cargo test -p herald-ingest openapi`"
        );
    }

    #[test]
    fn every_route_is_in_the_document() {
        let paths = document()["paths"].as_object().unwrap();
        for path in [
            "/v1/events",
            "/v1/events/{event_id}",
            "/v1/stream",
            "/v1/callback-secret",
            "/v1/event-types",
            "/v1/webhooks",
            "/v1/webhooks/{id}",
            "/v1/webhooks/{id}/rotate-secret",
            "/v1/webhooks/{id}/enable",
            "/v1/webhooks/{id}/test",
            "/v1/webhooks/{id}/stats",
            "/v1/webhooks/{id}/deliveries",
            "/v1/deliveries/{delivery_id}",
            "/v1/deliveries/{delivery_id}/request",
            "/v1/webhooks/{id}/deliveries/{delivery_id}/retry",
            "/v1/webhooks/{id}/recover",
            "/v1/jobs/{job_id}",
            "/v1/jobs/{job_id}/stream",
            "/v1/listen/sessions",
            "/v1/listen/sessions/{session_id}",
            "/v1/listen/sessions/{session_id}/requests",
            "/v1/listen/sessions/{session_id}/results",
            "/v1/portal/sessions",
        ] {
            assert!(paths.contains_key(path), "{path} is not documented");
        }
        assert_eq!(
            paths.len(),
            23,
            "a route is documented that the list above lacks"
        );
        assert_eq!(document()["openapi"], "3.1.0");
    }
}
