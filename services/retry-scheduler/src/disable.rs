//! Disabling a webhook that stays dead: mark it disabled (with the reason) in the
//! registry, drop its held retries, and publish `webhook.disabled` for the tenant so
//! any endpoint subscribed to `webhook.*` hears of it.

use async_nats::HeaderMap;
use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use herald_common::nats::purge_held_retries;
use herald_proto::{Endpoint, EndpointStatus, Event, EventType};
use serde_json::json;

/// Disables `endpoint_id` of `tenant` for `reason`. Returns `false` when the webhook
/// no longer exists or was already disabled.
pub async fn disable(
    js: &jetstream::Context,
    registry: &kv::Store,
    tenant: &str,
    endpoint_id: &str,
    reason: &str,
) -> Result<bool, String> {
    let key = Endpoint::key_for(tenant, endpoint_id);
    // Read, change, write back only if nobody changed it meanwhile.
    let (endpoint, revision) = loop {
        let Some(entry) = registry.entry(&key).await.map_err(|e| e.to_string())? else {
            return Ok(false);
        };
        if entry.operation != kv::Operation::Put {
            return Ok(false);
        }
        // Secrets stay sealed: they are copied, never opened.
        let mut endpoint = Endpoint::decode_with(&entry.value, &|s| Ok(s.to_owned()))
            .map_err(|e| e.to_string())?;
        if endpoint.status == EndpointStatus::Disabled {
            return Ok(false);
        }
        endpoint.status = EndpointStatus::Disabled;
        endpoint.disabled_reason = Some(reason.to_owned());
        endpoint.updated_at_ms = herald_proto::now_ms();
        let bytes = endpoint.encode_with(&|s| s.to_owned());
        match registry.update(&key, bytes, entry.revision).await {
            Ok(revision) => break (endpoint, revision),
            Err(err) if err.kind() == kv::UpdateErrorKind::WrongLastRevision => continue,
            Err(err) => return Err(err.to_string()),
        }
    };
    purge_held_retries(js, tenant, endpoint_id)
        .await
        .map_err(|e| e.to_string())?;
    announce(js, &endpoint, revision).await?;
    tracing::warn!(%tenant, webhook_id = %endpoint_id, %reason, "webhook disabled");
    Ok(true)
}

/// Publishes `webhook.disabled` on the tenant's events, once per disabling.
async fn announce(
    js: &jetstream::Context,
    endpoint: &Endpoint,
    revision: u64,
) -> Result<(), String> {
    let now = herald_proto::now_ms();
    let event = Event {
        event_id: format!("evt_disabled_{}_{revision}", endpoint.id),
        tenant: endpoint.tenant.clone(),
        event_type: EventType::parse("webhook.disabled").expect("valid type"),
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
    let mut headers = HeaderMap::new();
    herald_common::trace::inject(&tracing::Span::current(), &mut headers);
    headers.insert(
        "Nats-Msg-Id",
        format!("{}:{}", event.tenant, event.event_id).as_str(),
    );
    js.publish_with_headers(event.subject(), headers, event.encode())
        .await
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}
