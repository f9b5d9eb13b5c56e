//! `/v1/webhooks`: customers register, read, change and remove their endpoints.

use crate::portal::session::{ReadOnlyView, shown_headers};
use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::time::Duration;

use herald_common::registry::Write;
use herald_model::webhooks::{
    self as model, CreateWebhook, CreatedWebhook, EventPatternText, RotateSecretInput,
    RotatedSecret, UpdateWebhook, Webhook, WebhookList, WebhookStatus,
};
use herald_model::{ErrorBody, WebhookId};
use herald_proto::{Endpoint, EndpointStatus, EventPattern, PayloadFormat, RetiringSecret};

use super::duration;
use super::ids::shown;
use super::json::{AppJson, too_large};
use super::{ApiError, AppState, Tenant};
use crate::catalogue::Catalogue;
use crate::config::Config;
use crate::intake::target::{check_headers, check_url, generate_secret};

const MAX_EVENTS: usize = 100;
const MAX_DESCRIPTION: usize = 1024;
const MAX_RETRY_DELAYS: usize = 20;
const MIN_RETRY_DELAY: Duration = Duration::from_secs(1);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(7 * 86_400);

/// Applies the given fields of `input` to `endpoint`, checking each.
fn apply(input: UpdateWebhook, endpoint: &mut Endpoint, config: &Config) -> Result<(), ApiError> {
    if let Some(url) = input.url {
        endpoint.url = check_url(&url, config)?;
    }
    if let Some(events) = input.events {
        endpoint.events = check_events(&events, config.catalogue.as_deref())?;
    }
    if let Some(headers) = input.headers {
        endpoint.headers = check_headers(headers)?;
    }
    if let Some(description) = input.description {
        endpoint.description = check_description(description)?;
    }
    if let Some(timeout_ms) = input.timeout_ms {
        if !(1_000..=30_000).contains(&timeout_ms) {
            return Err(ApiError::Unprocessable(
                "timeout_ms must be between 1000 and 30000".into(),
            ));
        }
        endpoint.timeout = Some(Duration::from_millis(u64::from(timeout_ms)));
    }
    if let Some(rate) = input.rate_limit_per_sec {
        if rate > 10_000 {
            return Err(ApiError::Unprocessable(
                "rate_limit_per_sec must be at most 10000 (0 for no limit)".into(),
            ));
        }
        endpoint.rate_limit_per_sec = Some(rate).filter(|r| *r > 0);
    }
    if let Some(format) = input.payload_format {
        endpoint.payload_format = payload_format(format);
    }
    if let Some(schedule) = input.retry_schedule {
        endpoint.retry_schedule = check_schedule(&schedule)?;
    }
    Ok(())
}

fn payload_format(format: model::PayloadFormat) -> PayloadFormat {
    match format {
        model::PayloadFormat::Envelope => PayloadFormat::Envelope,
        model::PayloadFormat::EnvelopeCamel => PayloadFormat::EnvelopeCamel,
        model::PayloadFormat::Data => PayloadFormat::Data,
    }
}

/// Registers a webhook. Its secret is in this answer only.
#[utoipa::path(
    post, path = "/v1/webhooks", operation_id = "create_webhook", tag = "webhooks", request_body = CreateWebhook,
    responses(
        (status = 201, description = "Made; the secret is shown this once", body = CreatedWebhook),
        (status = 422, description = "A field is invalid (`validation`), or the tenant has as many webhooks as it may (`limit_exceeded`)", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    AppJson(input): AppJson<CreateWebhook>,
) -> Result<(StatusCode, Json<CreatedWebhook>), ApiError> {
    let now = herald_proto::now_ms();
    let CreateWebhook {
        url,
        events,
        secret,
        headers,
        description,
        timeout_ms,
        rate_limit_per_sec,
        payload_format,
        retry_schedule,
    } = input;
    let secret = match secret {
        Some(secret) => check_secret(&secret)?,
        None => generate_secret(),
    };
    let config = state.config();
    let settings = UpdateWebhook {
        url: None,
        events: None,
        headers,
        description,
        timeout_ms,
        rate_limit_per_sec,
        payload_format,
        retry_schedule,
    };
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
        listen: None,
    };
    apply(settings, &mut endpoint, config)?;
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
    let secret = endpoint.secret.clone();
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhook {
            webhook: view(&endpoint),
            secret,
        }),
    ))
}

/// The tenant's webhooks.
#[utoipa::path(
    get, path = "/v1/webhooks", operation_id = "list_webhooks", tag = "webhooks",
    responses((status = 200, description = "Every webhook of the tenant", body = WebhookList))
)]
pub async fn list(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    read_only: Option<axum::Extension<ReadOnlyView>>,
) -> Json<WebhookList> {
    let webhooks = state
        .registry()
        .list(&tenant)
        .iter()
        .map(|e| {
            let mut webhook = view(e);
            shown_headers(read_only, &mut webhook.headers);
            webhook
        })
        .collect();
    Json(WebhookList { webhooks })
}

/// One webhook.
#[utoipa::path(
    get, path = "/v1/webhooks/{id}", operation_id = "get_webhook", tag = "webhooks",
    params(("id" = WebhookId, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "The webhook", body = Webhook),
        (status = 404, description = "No such webhook of this tenant", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    read_only: Option<axum::Extension<ReadOnlyView>>,
    Path(id): Path<WebhookId>,
) -> Result<Json<Webhook>, ApiError> {
    let mut webhook = view(&find(&state, &tenant, id.as_str()).await?);
    shown_headers(read_only, &mut webhook.headers);
    Ok(Json(webhook))
}

/// Changes the fields given; the others keep their value. The secret is changed
/// with `rotate-secret`.
#[utoipa::path(
    put, path = "/v1/webhooks/{id}", operation_id = "update_webhook", tag = "webhooks", request_body = UpdateWebhook,
    params(("id" = WebhookId, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "The webhook as changed", body = Webhook),
        (status = 404, description = "No such webhook of this tenant", body = ErrorBody),
        (status = 422, description = "A field is invalid, or `secret` was given", body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<WebhookId>,
    AppJson(input): AppJson<UpdateWebhook>,
) -> Result<Json<Webhook>, ApiError> {
    // The change is applied to the webhook as stored when it is written, so an
    // automatic disable or a rotation in between is kept.
    change(&state, &tenant, id.as_str(), |endpoint| {
        apply(input.clone(), endpoint, state.config())
    })
    .await
    .map(|endpoint| Json(view(&endpoint)))
}

/// Removes a webhook; retries held for it are dropped.
#[utoipa::path(
    delete, path = "/v1/webhooks/{id}", operation_id = "delete_webhook", tag = "webhooks",
    params(("id" = WebhookId, Path, description = "The webhook's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such webhook of this tenant", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<WebhookId>,
) -> Result<StatusCode, ApiError> {
    let id = id.as_str();
    find(&state, &tenant, id).await?;
    remove(&state, &tenant, id)
        .await
        .map_err(ApiError::internal)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a webhook or listening session and the retries held for it (they
/// would only be dropped when due).
pub(super) async fn remove(state: &AppState, tenant: &str, id: &str) -> Result<(), RemoveError> {
    state.registry().delete(tenant, id).await?;
    herald_common::nats::purge_held_retries(state.jetstream(), tenant, id).await?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub(super) enum RemoveError {
    #[error(transparent)]
    Registry(#[from] herald_common::registry::RegistryError),
    #[error(transparent)]
    Purge(#[from] herald_common::Error),
}

/// `POST /v1/webhooks/{id}/rotate-secret`: a new secret signs from now on; the one
/// it replaces keeps signing too until the grace period
/// (`HERALD_SECRET_ROTATION_GRACE`) ends. Only that one: a secret replaced by an
/// earlier rotation stops signing now, so a delivery carries two signatures at
/// most, however often the secret is rotated.
#[utoipa::path(
    post, path = "/v1/webhooks/{id}/rotate-secret", operation_id = "rotate_webhook_secret", tag = "webhooks",
    request_body(content = Option<RotateSecretInput>, description = "May be left out: Herald makes the new secret"),
    params(("id" = WebhookId, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "The new secret, shown this once", body = RotatedSecret),
        (status = 400, description = "The body could not be read", body = ErrorBody),
        (status = 404, description = "No such webhook of this tenant", body = ErrorBody),
        (status = 422, description = "The body or the secret is invalid", body = ErrorBody),
    )
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<WebhookId>,
    body: Result<axum::body::Bytes, BytesRejection>,
) -> Result<Json<RotatedSecret>, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large(state.config().max_body_bytes)
        } else {
            ApiError::BadRequest("the request body could not be read".into())
        }
    })?;
    // No body, or `null`, asks Herald to make the secret.
    let request: RotateSecretInput = if body.iter().all(u8::is_ascii_whitespace) {
        RotateSecretInput::default()
    } else {
        serde_json::from_slice::<Option<RotateSecretInput>>(&body)
            .map_err(|e| ApiError::Unprocessable(format!("body is not valid: {e}")))?
            .unwrap_or_default()
    };
    let secret = match request.secret {
        Some(secret) => check_secret(&secret)?,
        None => generate_secret(),
    };
    let grace = i64::try_from(state.config().rotation_grace.as_millis()).unwrap_or(i64::MAX);
    let mut expires_at_ms = 0;
    let endpoint = change(&state, &tenant, id.as_str(), |endpoint| {
        let now = herald_proto::now_ms();
        expires_at_ms = now.saturating_add(grace);
        endpoint.retiring_secrets = vec![RetiringSecret {
            secret: std::mem::replace(&mut endpoint.secret, secret.clone()),
            expires_at_ms,
        }];
        Ok(())
    })
    .await?;
    Ok(Json(RotatedSecret {
        webhook_id: webhook_id(&endpoint),
        secret: endpoint.secret,
        previous_secret_expires_at: herald_proto::rfc3339(expires_at_ms),
    }))
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
            if endpoint.is_session() {
                return Err(ApiError::NotFound(format!("no webhook `{id}`")));
            }
            apply(endpoint)?;
            endpoint.updated_at_ms = herald_proto::now_ms();
            Ok::<_, ApiError>(Write::Save)
        })
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no webhook `{id}`")))
}

/// The tenant's webhook `id`; another tenant's, or a listening session (which is
/// no webhook), is as good as missing.
pub async fn find(state: &AppState, tenant: &str, id: &str) -> Result<Endpoint, ApiError> {
    state
        .registry()
        .get(tenant, id)
        .await
        .map_err(ApiError::internal)?
        .filter(|endpoint| !endpoint.is_session())
        .ok_or_else(|| ApiError::NotFound(format!("no webhook `{id}`")))
}

/// The public view of a webhook. The secret is shown only when it is made.
pub(crate) fn view(endpoint: &Endpoint) -> Webhook {
    Webhook {
        webhook_id: webhook_id(endpoint),
        url: endpoint.url.clone(),
        events: endpoint
            .events
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect(),
        status: match endpoint.status {
            EndpointStatus::Active => WebhookStatus::Active,
            EndpointStatus::Disabled => WebhookStatus::Disabled,
        },
        headers: endpoint.headers.clone(),
        description: endpoint.description.clone(),
        created_at: herald_proto::rfc3339(endpoint.created_at_ms),
        updated_at: herald_proto::rfc3339(endpoint.updated_at_ms),
        timeout_ms: endpoint
            .timeout
            .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
        rate_limit_per_sec: endpoint.rate_limit_per_sec,
        payload_format: match endpoint.payload_format {
            PayloadFormat::Envelope => model::PayloadFormat::Envelope,
            PayloadFormat::EnvelopeCamel => model::PayloadFormat::EnvelopeCamel,
            PayloadFormat::Data => model::PayloadFormat::Data,
        },
        retry_schedule: endpoint
            .retry_schedule
            .iter()
            .map(|d| duration::format(*d))
            .collect(),
        disabled_reason: endpoint.disabled_reason.clone(),
    }
}

fn webhook_id(endpoint: &Endpoint) -> WebhookId {
    WebhookId::from_record(endpoint.id.clone())
}

fn check_schedule(delays: &[model::RetryDelay]) -> Result<Vec<Duration>, ApiError> {
    if delays.len() > MAX_RETRY_DELAYS {
        return Err(ApiError::Unprocessable(format!(
            "retry_schedule may list at most {MAX_RETRY_DELAYS} delays"
        )));
    }
    delays
        .iter()
        .map(|model::RetryDelay(d)| {
            duration::parse_within(d, MIN_RETRY_DELAY, MAX_RETRY_DELAY).ok_or_else(|| {
                ApiError::Unprocessable(format!(
                    "retry_schedule entry `{}` must be a duration between 1s and 7d, such as 30s, 5m or 2h",
                    shown(d)
                ))
            })
        })
        .collect()
}

pub(super) fn check_events(
    events: &[EventPatternText],
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
    for EventPatternText(entry) in events {
        let pattern = EventPattern::parse(entry)
            .map_err(|r| ApiError::Unprocessable(format!("events entry `{entry}` {r}")))?;
        if let Some(catalogue) = catalogue {
            catalogue
                .check_pattern(&pattern)
                .map_err(|unmatched| ApiError::Unprocessable(unmatched.to_string()))?;
        }
        if seen.insert(entry.clone()) {
            patterns.push(pattern);
        }
    }
    Ok(patterns)
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
pub(super) fn check_secret(secret: &str) -> Result<String, ApiError> {
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
}
