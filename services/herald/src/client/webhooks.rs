//! `herald webhooks list|create|delete|test`: the common calls on `/v1/webhooks`.

use herald_model::WebhookId;
use herald_model::webhooks::{
    CreateWebhook, CreatedWebhook, EventPatternText, TestResult, Webhook, WebhookList,
    WebhookStatus,
};

use super::{Client, Outcome, Result};
use crate::cli::CreateArgs;

pub async fn list(client: &Client) -> Result<Outcome> {
    let list: WebhookList = client.get("/v1/webhooks", &[]).await?;
    if client.output.json {
        client.output.json(&list)?;
    } else {
        let rows: Vec<Vec<String>> = list.webhooks.iter().map(row).collect();
        client.output.table(HEADER, &rows)?;
    }
    Ok(Outcome::Success)
}

pub async fn create(client: &Client, args: &CreateArgs) -> Result<Outcome> {
    let body = CreateWebhook {
        url: args.endpoint.clone(),
        events: args.events.iter().cloned().map(EventPatternText).collect(),
        secret: args.secret.clone(),
        headers: None,
        description: args.description.clone(),
        timeout_ms: None,
        rate_limit_per_sec: None,
        payload_format: None,
        retry_schedule: None,
    };
    let created: CreatedWebhook = client.post("/v1/webhooks", &body).await?;
    if client.output.json {
        client.output.json(&created)?;
    } else {
        client.output.table(HEADER, &[row(&created.webhook)])?;
        client.output.line(&format!(
            "secret: {} (shown this once: keep it to verify signatures)",
            created.secret
        ))?;
    }
    Ok(Outcome::Success)
}

pub async fn delete(client: &Client, id: &WebhookId) -> Result<Outcome> {
    client.delete(&format!("/v1/webhooks/{id}")).await?;
    if client.output.json {
        client
            .output
            .json(&serde_json::json!({"webhook_id": id, "deleted": true}))?;
    } else {
        client.output.line(&format!("deleted {id}"))?;
    }
    Ok(Outcome::Success)
}

/// A test delivery now; [`Outcome::Failure`] when the endpoint did not accept it.
pub async fn test(client: &Client, id: &WebhookId) -> Result<Outcome> {
    let result: TestResult = client
        .post(&format!("/v1/webhooks/{id}/test"), &serde_json::json!({}))
        .await?;
    if client.output.json {
        client.output.json(&result)?;
    } else {
        let answer = match result.status_code {
            Some(code) => format!("HTTP {code}"),
            None => "no answer".to_owned(),
        };
        let verdict = if result.success {
            "delivered"
        } else {
            "not delivered"
        };
        let mut line = format!(
            "{verdict}: {answer} in {} ms (delivery {}, event {})",
            result.response_time_ms, result.delivery_id, result.event_id
        );
        if let Some(error) = &result.error {
            line.push_str(&format!(": {error}"));
        }
        client.output.line(&line)?;
    }
    Ok(if result.success {
        Outcome::Success
    } else {
        Outcome::Failure
    })
}

const HEADER: &[&str] = &["ID", "STATUS", "EVENT TYPES", "URL", "DESCRIPTION"];

fn row(webhook: &Webhook) -> Vec<String> {
    let status = match webhook.status {
        WebhookStatus::Active => "active".to_owned(),
        WebhookStatus::Disabled => match &webhook.disabled_reason {
            Some(reason) => format!("disabled ({reason})"),
            None => "disabled".to_owned(),
        },
    };
    vec![
        webhook.webhook_id.to_string(),
        status,
        webhook.events.join(","),
        webhook.url.clone(),
        webhook.description.clone(),
    ]
}
