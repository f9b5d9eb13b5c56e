//! `/v1/webhooks`: customers register, read, change and remove their endpoints.

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::time::Duration;

use herald_common::registry::Write;
use herald_proto::{Endpoint, EndpointStatus, EventPattern, PayloadFormat, RetiringSecret};
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Value, json};

use super::duration;
use super::ids::shown;
use super::json::{AppJson, too_large};
use super::{ApiError, AppState, Tenant};
use crate::catalogue::Catalogue;
use crate::config::Config;

const MAX_EVENTS: usize = 100;
/// Bounds of a webhook's (or a job callback's) own headers: they go out with every
/// delivery, and receivers' servers commonly refuse more than 8 KiB of headers.
const MAX_HEADERS: usize = 20;
const MAX_HEADER_NAME: usize = 256;
const MAX_HEADER_VALUE: usize = 4096;
/// Names and values together, in bytes.
const MAX_HEADERS_TOTAL: usize = 8192;
const MAX_URL_LEN: usize = 2048;
const MAX_DESCRIPTION: usize = 1024;
const MAX_RETRY_DELAYS: usize = 20;
const MIN_RETRY_DELAY: Duration = Duration::from_secs(1);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(7 * 86_400);

/// Headers Herald sets itself; a webhook may not override them.
use herald_proto::names::header::http::RESERVED as RESERVED_HEADERS;

/// The body of `POST` (where `url` and `events` are required) and `PUT` (where every
/// field is optional and the secret cannot be set) on `/v1/webhooks`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    url: Option<String>,
    events: Option<Vec<String>>,
    secret: Option<String>,
    headers: Option<BTreeMap<String, String>>,
    description: Option<String>,
    timeout_ms: Option<u32>,
    rate_limit_per_sec: Option<u32>,
    payload_format: Option<String>,
    retry_schedule: Option<Vec<String>>,
}

impl WebhookInput {
    /// Applies the given fields to `endpoint`, checking each.
    fn apply(self, endpoint: &mut Endpoint, config: &Config) -> Result<(), ApiError> {
        if let Some(url) = self.url {
            endpoint.url = check_url(&url, config)?;
        }
        if let Some(events) = self.events {
            endpoint.events = check_events(&events, config.catalogue.as_deref())?;
        }
        if let Some(headers) = self.headers {
            endpoint.headers = check_headers(headers)?;
        }
        if let Some(description) = self.description {
            endpoint.description = check_description(description)?;
        }
        if let Some(timeout_ms) = self.timeout_ms {
            if !(1_000..=30_000).contains(&timeout_ms) {
                return Err(ApiError::Unprocessable(
                    "timeout_ms must be between 1000 and 30000".into(),
                ));
            }
            endpoint.timeout = Some(Duration::from_millis(u64::from(timeout_ms)));
        }
        if let Some(rate) = self.rate_limit_per_sec {
            if rate > 10_000 {
                return Err(ApiError::Unprocessable(
                    "rate_limit_per_sec must be at most 10000 (0 for no limit)".into(),
                ));
            }
            endpoint.rate_limit_per_sec = Some(rate).filter(|r| *r > 0);
        }
        if let Some(format) = self.payload_format {
            endpoint.payload_format = PayloadFormat::parse(&format)
                .map_err(|r| ApiError::Unprocessable(format!("payload_format {r}")))?;
        }
        if let Some(schedule) = self.retry_schedule {
            endpoint.retry_schedule = check_schedule(&schedule)?;
        }
        Ok(())
    }
}

pub async fn create(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    AppJson(mut input): AppJson<WebhookInput>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let now = herald_proto::now_ms();
    let secret = match input.secret.take() {
        Some(secret) => check_secret(&secret)?,
        None => generate_secret(),
    };
    let config = state.config();
    let url = input
        .url
        .take()
        .ok_or_else(|| ApiError::Unprocessable("url is missing".into()))?;
    let events = input
        .events
        .take()
        .ok_or_else(|| ApiError::Unprocessable("events is missing".into()))?;
    let mut endpoint = Endpoint {
        id: format!("wh_{}", ulid::Ulid::new().to_string().to_ascii_lowercase()),
        tenant,
        url: check_url(&url, config)?,
        events: check_events(&events, config.catalogue.as_deref())?,
        secret,
        headers: BTreeMap::new(),
        description: String::new(),
        status: EndpointStatus::Active,
        created_at_ms: now,
        updated_at_ms: now,
        disabled_reason: None,
        timeout: None,
        rate_limit_per_sec: None,
        payload_format: PayloadFormat::Envelope,
        retry_schedule: Vec::new(),
        retiring_secrets: Vec::new(),
    };
    input.apply(&mut endpoint, config)?;
    // One create of a tenant at a time on this replica, so two cannot both pass the
    // cap. The registry counts this replica's own writes at once and other
    // replicas' within milliseconds.
    let _turn = state.limits().create_turn(&endpoint.tenant).await?;
    let max = config.limits.webhooks_per_tenant;
    if state.registry().count(&endpoint.tenant) >= max {
        return Err(ApiError::LimitExceeded(format!(
            "a tenant may have at most {max} webhooks (HERALD_MAX_WEBHOOKS_PER_TENANT); \
             delete one first"
        )));
    }
    state
        .registry()
        .create(&endpoint)
        .await
        .map_err(ApiError::internal)?;
    let mut body = view(&endpoint);
    body["secret"] = Value::String(endpoint.secret.clone());
    Ok((StatusCode::CREATED, Json(body)))
}

pub async fn list(State(state): State<AppState>, Tenant(tenant): Tenant) -> Json<Value> {
    let webhooks: Vec<Value> = state
        .registry()
        .list(&tenant)
        .iter()
        .map(|e| view(e))
        .collect();
    Json(json!({ "webhooks": webhooks }))
}

pub async fn get(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(view(&find(&state, &tenant, &id).await?)))
}

pub async fn update(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
    AppJson(input): AppJson<WebhookInput>,
) -> Result<Json<Value>, ApiError> {
    if input.secret.is_some() {
        return Err(ApiError::Unprocessable(
            "secret cannot be changed here; use POST /v1/webhooks/{id}/rotate-secret".into(),
        ));
    }
    // The change is applied to the webhook as stored when it is written, so an
    // automatic disable or a rotation in between is kept.
    change(&state, &tenant, &id, |endpoint| {
        input.clone().apply(endpoint, state.config())
    })
    .await
    .map(|endpoint| Json(view(&endpoint)))
}

pub async fn delete(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    find(&state, &tenant, &id).await?;
    state
        .registry()
        .delete(&tenant, &id)
        .await
        .map_err(ApiError::internal)?;
    // Retries held for it would only be dropped when due; drop them now.
    herald_common::nats::purge_held_retries(state.jetstream(), &tenant, &id)
        .await
        .map_err(ApiError::internal)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    secret: Option<String>,
}

/// `POST /v1/webhooks/{id}/rotate-secret`: a new secret signs from now on; the one
/// it replaces keeps signing too until the grace period
/// (`HERALD_SECRET_ROTATION_GRACE`) ends. Only that one: a secret replaced by an
/// earlier rotation stops signing now, so a delivery carries two signatures at
/// most, however often the secret is rotated.
pub async fn rotate_secret(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
    body: Result<axum::body::Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large(state.config().max_body_bytes)
        } else {
            ApiError::BadRequest("the request body could not be read".into())
        }
    })?;
    let request: RotateSecret = if body.iter().all(u8::is_ascii_whitespace) {
        RotateSecret::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::Unprocessable(format!("body is not valid: {e}")))?
    };
    let secret = match request.secret {
        Some(secret) => check_secret(&secret)?,
        None => generate_secret(),
    };
    let grace = i64::try_from(state.config().rotation_grace.as_millis()).unwrap_or(i64::MAX);
    let mut expires_at_ms = 0;
    let endpoint = change(&state, &tenant, &id, |endpoint| {
        let now = herald_proto::now_ms();
        expires_at_ms = now.saturating_add(grace);
        endpoint.retiring_secrets = vec![RetiringSecret {
            secret: std::mem::replace(&mut endpoint.secret, secret.clone()),
            expires_at_ms,
        }];
        Ok(())
    })
    .await?;
    Ok(Json(json!({
        "webhook_id": endpoint.id,
        "secret": endpoint.secret,
        "previous_secret_expires_at": herald_proto::rfc3339(expires_at_ms),
    })))
}

/// Changes the tenant's webhook `id` with `apply`, compare-and-set (so a change
/// someone else made meanwhile is kept), stamped now. Another tenant's webhook is
/// as good as missing.
pub async fn change<F>(
    state: &AppState,
    tenant: &str,
    id: &str,
    mut apply: F,
) -> Result<Endpoint, ApiError>
where
    F: FnMut(&mut Endpoint) -> Result<(), ApiError>,
{
    state
        .registry()
        .update(tenant, id, |endpoint| {
            apply(endpoint)?;
            endpoint.updated_at_ms = herald_proto::now_ms();
            Ok::<_, ApiError>(Write::Save)
        })
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no webhook `{id}`")))
}

/// The tenant's webhook `id`; another tenant's is as good as missing.
pub async fn find(state: &AppState, tenant: &str, id: &str) -> Result<Endpoint, ApiError> {
    state
        .registry()
        .get(tenant, id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::NotFound(format!("no webhook `{id}`")))
}

/// The public view of a webhook. The secret is shown only when it is made.
pub(crate) fn view(endpoint: &Endpoint) -> Value {
    let mut body = json!({
        "webhook_id": endpoint.id,
        "url": endpoint.url,
        "events": endpoint.events.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        "status": endpoint.status.as_str(),
        "headers": endpoint.headers,
        "description": endpoint.description,
        "created_at": herald_proto::rfc3339(endpoint.created_at_ms),
        "updated_at": herald_proto::rfc3339(endpoint.updated_at_ms),
        "timeout_ms": endpoint.timeout.map(|t| t.as_millis() as u64),
        "rate_limit_per_sec": endpoint.rate_limit_per_sec,
        "payload_format": endpoint.payload_format.as_str(),
        "retry_schedule": endpoint
            .retry_schedule
            .iter()
            .map(|d| duration::format(*d))
            .collect::<Vec<_>>(),
    });
    if let Some(reason) = &endpoint.disabled_reason {
        body["disabled_reason"] = Value::String(reason.clone());
    }
    body
}

fn check_schedule(delays: &[String]) -> Result<Vec<Duration>, ApiError> {
    if delays.len() > MAX_RETRY_DELAYS {
        return Err(ApiError::Unprocessable(format!(
            "retry_schedule may list at most {MAX_RETRY_DELAYS} delays"
        )));
    }
    delays
        .iter()
        .map(|d| {
            duration::parse_within(d, MIN_RETRY_DELAY, MAX_RETRY_DELAY).ok_or_else(|| {
                ApiError::Unprocessable(format!(
                    "retry_schedule entry `{}` must be a duration between 1s and 7d, such as 30s, 5m or 2h",
                    shown(d)
                ))
            })
        })
        .collect()
}

/// A webhook's or callback's URL: http(s) (https only with `HERALD_REQUIRE_HTTPS`),
/// with a host, on a port `HERALD_ALLOWED_PORTS` allows.
pub(crate) fn check_url(value: &str, config: &Config) -> Result<String, ApiError> {
    let invalid = |detail: &str| ApiError::Unprocessable(format!("url {detail}"));
    if value.len() > MAX_URL_LEN {
        return Err(invalid("must be at most 2048 characters"));
    }
    let url = url::Url::parse(value).map_err(|e| invalid(&format!("is not a valid URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if !config.require_https => {}
        "http" => return Err(invalid("must use https")),
        _ => return Err(invalid("must be an http or https URL")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("must name a host"));
    }
    if let (Some(allowed), Some(port)) = (&config.allowed_ports, url.port_or_known_default())
        && !allowed.contains(&port)
    {
        let allowed: Vec<String> = allowed.iter().map(u16::to_string).collect();
        return Err(invalid(&format!(
            "uses port {port}; the ports allowed are {}",
            allowed.join(", ")
        )));
    }
    Ok(url.to_string())
}

fn check_events(
    events: &[String],
    catalogue: Option<&Catalogue>,
) -> Result<Vec<EventPattern>, ApiError> {
    if events.is_empty() {
        return Err(ApiError::Unprocessable(
            "events must list at least one event type or pattern".into(),
        ));
    }
    if events.len() > MAX_EVENTS {
        return Err(ApiError::Unprocessable(format!(
            "events may list at most {MAX_EVENTS} entries"
        )));
    }
    let mut seen = BTreeSet::new();
    let mut patterns = Vec::new();
    for entry in events {
        let pattern = EventPattern::parse(entry)
            .map_err(|r| ApiError::Unprocessable(format!("events entry `{entry}` {r}")))?;
        if let Some(catalogue) = catalogue {
            catalogue
                .check_pattern(&pattern)
                .map_err(ApiError::Unprocessable)?;
        }
        if seen.insert(entry.clone()) {
            patterns.push(pattern);
        }
    }
    Ok(patterns)
}

/// A webhook's or a job callback's own headers: at most [`MAX_HEADERS`] of them,
/// names of at most [`MAX_HEADER_NAME`] bytes, values of at most
/// [`MAX_HEADER_VALUE`], [`MAX_HEADERS_TOTAL`] bytes in all; valid, not one of
/// Herald's own, and no name twice (names are case-insensitive).
pub(crate) fn check_headers(
    headers: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ApiError> {
    if headers.len() > MAX_HEADERS {
        return Err(ApiError::Unprocessable(format!(
            "headers may hold at most {MAX_HEADERS} entries"
        )));
    }
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for (name, value) in &headers {
        if name.len() > MAX_HEADER_NAME {
            return Err(ApiError::Unprocessable(format!(
                "headers: the name `{}` is longer than {MAX_HEADER_NAME} bytes",
                shown(name)
            )));
        }
        let parsed = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            ApiError::Unprocessable(format!("headers: `{name}` is not a valid header name"))
        })?;
        if RESERVED_HEADERS.contains(&parsed.as_str()) {
            return Err(ApiError::Unprocessable(format!(
                "headers: `{name}` is set by Herald and cannot be overridden"
            )));
        }
        if !seen.insert(parsed.as_str().to_owned()) {
            return Err(ApiError::Unprocessable(format!(
                "headers: `{name}` is given twice (header names ignore case)"
            )));
        }
        if value.len() > MAX_HEADER_VALUE {
            return Err(ApiError::Unprocessable(format!(
                "headers: the value of `{name}` is longer than {MAX_HEADER_VALUE} bytes"
            )));
        }
        if value.contains(['\r', '\n']) || HeaderValue::from_str(value).is_err() {
            return Err(ApiError::Unprocessable(format!(
                "headers: the value of `{name}` is not a valid header value"
            )));
        }
        total += name.len() + value.len();
    }
    if total > MAX_HEADERS_TOTAL {
        return Err(ApiError::Unprocessable(format!(
            "headers: names and values may take at most {MAX_HEADERS_TOTAL} bytes in all, not {total}"
        )));
    }
    Ok(headers)
}

fn check_description(description: String) -> Result<String, ApiError> {
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(ApiError::Unprocessable(format!(
            "description must be at most {MAX_DESCRIPTION} characters"
        )));
    }
    Ok(description)
}

/// A secret supplied by the customer: `whsec_` + base64 of 24 to 64 bytes, or a
/// plain string of 16 to 128 printable characters.
fn check_secret(secret: &str) -> Result<String, ApiError> {
    if let Some(encoded) = secret.strip_prefix("whsec_") {
        let key = STANDARD.decode(encoded).map_err(|_| {
            ApiError::Unprocessable("secret: after `whsec_` must come base64".into())
        })?;
        if !(24..=64).contains(&key.len()) {
            return Err(ApiError::Unprocessable(
                "secret: a whsec_ secret must encode 24 to 64 bytes".into(),
            ));
        }
    } else if !(16..=128).contains(&secret.len()) || !secret.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ApiError::Unprocessable(
            "secret must be whsec_<base64> or 16 to 128 printable ASCII characters".into(),
        ));
    }
    Ok(secret.to_owned())
}

/// `whsec_` + base64 of 32 random bytes.
pub fn generate_secret() -> String {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    format!("whsec_{}", STANDARD.encode(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_whsec_base64_of_32_bytes() {
        let secret = generate_secret();
        let key = STANDARD
            .decode(secret.strip_prefix("whsec_").unwrap())
            .unwrap();
        assert_eq!(key.len(), 32);
        assert_ne!(secret, generate_secret());
        assert!(check_secret(&secret).is_ok());
    }

    #[test]
    fn headers_cannot_smuggle_or_override() {
        let bad = [
            ("X-Ok", "a\r\nInjected: 1"),
            ("Bad Name", "v"),
            ("Webhook-Signature", "v1,forged"),
            ("content-type", "text/plain"),
        ];
        for (name, value) in bad {
            let headers = BTreeMap::from([(name.to_owned(), value.to_owned())]);
            assert!(check_headers(headers).is_err(), "{name}");
        }
        let good = BTreeMap::from([("Authorization".to_owned(), "Bearer abc".to_owned())]);
        assert!(check_headers(good).is_ok());
    }

    #[test]
    fn headers_are_bounded() {
        let one = |name: String, value: String| BTreeMap::from([(name, value)]);
        assert!(check_headers(one("X-A".into(), "v".repeat(MAX_HEADER_VALUE))).is_ok());
        assert!(check_headers(one("X-A".into(), "v".repeat(MAX_HEADER_VALUE + 1))).is_err());
        assert!(check_headers(one("x".repeat(MAX_HEADER_NAME), "v".into())).is_ok());
        assert!(check_headers(one("x".repeat(MAX_HEADER_NAME + 1), "v".into())).is_err());
        let many = |count: usize, size: usize| -> BTreeMap<String, String> {
            (0..count)
                .map(|i| (format!("X-{i:02}"), "v".repeat(size - 4)))
                .collect()
        };
        assert!(check_headers(many(2, MAX_HEADERS_TOTAL / 2)).is_ok());
        let err = check_headers(many(3, MAX_HEADERS_TOTAL / 2)).unwrap_err();
        assert!(err.to_string().contains("8192 bytes in all"), "{err}");
        let twice = BTreeMap::from([
            ("X-Same".to_owned(), "a".to_owned()),
            ("x-same".to_owned(), "b".to_owned()),
        ]);
        assert!(check_headers(twice).is_err());
    }

    #[test]
    fn urls_must_be_http_or_https() {
        let any = Config::test_with(&[]);
        let https = Config::test_with(&[("HERALD_REQUIRE_HTTPS", "true")]);
        assert!(check_url("https://example.com/hook", &https).is_ok());
        assert!(check_url("http://example.com/hook", &any).is_ok());
        assert!(check_url("http://example.com/hook", &https).is_err());
        assert!(check_url("ftp://example.com/", &any).is_err());
        assert!(check_url("not a url", &any).is_err());
    }

    #[test]
    fn urls_must_use_an_allowed_port() {
        let web = Config::test_with(&[("HERALD_ALLOWED_PORTS", "80,443")]);
        assert!(check_url("https://example.com/hook", &web).is_ok());
        assert!(check_url("http://example.com:80/hook", &web).is_ok());
        let Err(ApiError::Unprocessable(detail)) = check_url("https://example.com:8443/", &web)
        else {
            panic!("port 8443 accepted");
        };
        assert_eq!(detail, "url uses port 8443; the ports allowed are 80, 443");
        let any = Config::test_with(&[]);
        assert!(check_url("https://example.com:8443/", &any).is_ok());
    }
}
