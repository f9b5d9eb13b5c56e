//! Per-job callbacks: an event may carry `callback: {"url", "headers",
//! "payload_format"}` (a job started with its own `webhook_url`), and every event
//! of that job then goes there too, signed with the tenant's callback secret.
//!
//! The callback's header values are sealed here, as soon as they are checked: the
//! event on `EVENTS`, the job's entry in `job-callbacks`, every delivery task and
//! attempt record carry them sealed, and only the dispatcher opens them to send.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use herald_model::CallbackSecret;
use herald_proto::{Callback, PayloadFormat, SealedHeaders};
use serde::Deserialize;

use super::webhooks::{check_headers, check_url, generate_secret};
use super::{ApiError, AppState, Tenant};
use crate::intake::MAX_CALLBACK_BYTES;

/// The `callback` object of an event.
/// A job's own delivery target: every event of the job goes there too, signed with
/// the tenant's callback secret (`GET /v1/callback-secret`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallbackInput {
    /// An `http` or `https` URL, as a webhook's.
    #[schema(
        max_length = 2048,
        pattern = r"^https?://[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~/-]*)?$"
    )]
    pub url: String,
    /// Headers sent with each delivery, as a webhook's.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[schema(value_type = Option<herald_model::webhooks::PayloadFormat>)]
    pub payload_format: Option<String>,
}

impl CallbackInput {
    /// The callback, checked and bounded ([`MAX_CALLBACK_BYTES`]), its header values
    /// sealed.
    pub fn check(self, config: &crate::Config) -> Result<Callback, ApiError> {
        let prefix = |e: ApiError| match e {
            ApiError::Unprocessable(detail) => {
                ApiError::Unprocessable(format!("callback.{detail}"))
            }
            other => other,
        };
        let url = check_url(&self.url, config).map_err(prefix)?;
        let headers = check_headers(self.headers).map_err(prefix)?;
        let payload_format = PayloadFormat::parse(self.payload_format.as_deref().unwrap_or(""))
            .map_err(|r| ApiError::Unprocessable(format!("callback.payload_format {r}")))?;
        let size = url.len()
            + headers
                .iter()
                .map(|(name, value)| name.len() + value.len())
                .sum::<usize>();
        if size > MAX_CALLBACK_BYTES {
            return Err(ApiError::Unprocessable(format!(
                "callback takes {size} bytes (url, header names and values); \
                 the most is {MAX_CALLBACK_BYTES}"
            )));
        }
        Ok(Callback {
            url,
            headers: SealedHeaders::seal(&headers, &|value| config.cipher.seal(value)),
            payload_format,
        })
    }
}

/// `GET /v1/callback-secret`: the secret job callbacks are signed with; made on
/// first use.
/// The tenant's secret for job callbacks, made on first use. Callbacks are signed
/// with it as webhooks are with theirs.
#[utoipa::path(
    get, path = "/v1/callback-secret", operation_id = "get_callback_secret", tag = "events",
    responses((status = 200, description = "The secret", body = CallbackSecret))
)]
pub async fn secret(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
) -> Result<Json<CallbackSecret>, ApiError> {
    let secret = ensure_secret(&state, &tenant).await?;
    Ok(Json(CallbackSecret { secret }))
}

/// The tenant's callback secret, creating it if it does not exist yet. Safe when
/// several replicas race: the bucket's `create` lets exactly one win.
pub async fn ensure_secret(state: &AppState, tenant: &str) -> Result<String, ApiError> {
    let store = &state.buckets().tenant_secrets;
    let key = herald_proto::names::stream::callback_secret_key(tenant);
    let cipher = &state.config().cipher;
    for _ in 0..3 {
        if let Some(sealed) = store.get(&key).await.map_err(ApiError::internal)? {
            let sealed = std::str::from_utf8(&sealed).map_err(ApiError::internal)?;
            return cipher.open(sealed).map_err(ApiError::internal);
        }
        let secret = generate_secret();
        if store
            .create(&key, cipher.seal(&secret).into_bytes().into())
            .await
            .is_ok()
        {
            return Ok(secret);
        }
    }
    Err(ApiError::Internal(
        "cannot create the callback secret".into(),
    ))
}

/// Remembers `callback` for every later event of `job_id`.
pub async fn remember(
    state: &AppState,
    tenant: &str,
    job_id: &str,
    callback: &Callback,
) -> Result<(), ApiError> {
    state
        .buckets()
        .job_callbacks
        .put(Callback::job_key(tenant, job_id), callback.encode())
        .await
        .map_err(ApiError::internal)?;
    Ok(())
}
