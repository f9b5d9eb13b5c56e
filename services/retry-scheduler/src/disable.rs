//! Disabling a webhook that stays dead: mark it disabled (with the reason) in the
//! registry, drop its held retries, and publish `webhook.disabled` for the tenant so
//! any endpoint subscribed to `webhook.*` hears of it.

use async_nats::jetstream;
use bytes::Bytes;
use herald_common::nats::purge_held_retries;
use herald_common::publish::{Publish, PublishError, publish};
use herald_common::registry::{Registry, RegistryError, Write};
use herald_proto::names::event_type;
use herald_proto::{Endpoint, EndpointStatus, Event};
use serde_json::json;

/// Why a webhook could not be disabled; the caller tries again.
#[derive(Debug, thiserror::Error)]
pub enum DisableError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("cannot drop the held retries: {0}")]
    Purge(#[from] herald_common::Error),
    #[error("cannot announce the disabling: {0}")]
    Announce(#[from] PublishError),
}

/// Disables `endpoint_id` of `tenant` for `reason`. Returns `false` when the webhook
/// no longer exists or was already disabled.
pub async fn disable(
    js: &jetstream::Context,
    registry: &Registry,
    tenant: &str,
    endpoint_id: &str,
    reason: &str,
) -> Result<bool, DisableError> {
    let mut changed = false;
    // Secrets stay sealed: the registry copies them, never opens them.
    let endpoint = registry
        .update(tenant, endpoint_id, |endpoint| {
            changed = endpoint.status != EndpointStatus::Disabled;
            if !changed {
                return Ok::<_, RegistryError>(Write::Keep);
            }
            endpoint.status = EndpointStatus::Disabled;
            endpoint.disabled_reason = Some(reason.to_owned());
            endpoint.updated_at_ms = herald_proto::now_ms();
            Ok(Write::Save)
        })
        .await?;
    let Some(endpoint) = endpoint.filter(|_| changed) else {
        return Ok(false);
    };
    purge_held_retries(js, tenant, endpoint_id).await?;
    announce(js, &endpoint).await?;
    tracing::warn!(%tenant, webhook_id = %endpoint_id, %reason, "webhook disabled");
    Ok(true)
}

/// Publishes `webhook.disabled` on the tenant's events, once per disabling.
async fn announce(js: &jetstream::Context, endpoint: &Endpoint) -> Result<(), PublishError> {
    let now = herald_proto::now_ms();
    let event = Event {
        // One per disabling: its time stamp is the disabling's own.
        event_id: format!("evt_disabled_{}_{}", endpoint.id, endpoint.updated_at_ms),
        tenant: endpoint.tenant.clone(),
        event_type: event_type::built_in(event_type::WEBHOOK_DISABLED),
        data: Bytes::from(
            json!({
                "webhook_id": endpoint.id,
                "url": endpoint.url,
                "reason": endpoint.disabled_reason,
                "disabled_at": herald_proto::rfc3339(now),
            })
            .to_string(),
        ),
        job_id: None,
        timestamp_ms: now,
        accepted_at_ms: now,
        callback: None,
    };
    let message_id = format!("{}:{}", event.tenant, event.event_id);
    publish(
        js,
        event.subject(),
        event.encode(),
        Publish::once(&message_id),
    )
    .await?;
    Ok(())
}
