//! `GET /v1/callback-secret`: the secret job callbacks are signed with. Callbacks
//! themselves come with events; [`crate::intake::callback`] checks and keeps them.

use axum::Json;
use axum::extract::State;
use herald_model::CallbackSecret;

use super::{ApiError, AppState, Tenant};

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
    let secret = state.intake().callback_secret(&tenant).await?;
    Ok(Json(CallbackSecret { secret }))
}
