//! `herald portal`: a sign-in link to the tenant's customer portal.

use herald_model::portal::{CreatePortalSession, PortalLink};
use herald_model::webhooks::RetryDelay;

use super::{Client, Outcome, Result};
use crate::cli::PortalArgs;

pub async fn run(client: &Client, args: &PortalArgs) -> Result<Outcome> {
    let body = CreatePortalSession {
        ttl: args.ttl.clone().map(RetryDelay),
        read_only: Some(args.read_only),
    };
    let link: PortalLink = client.post("/v1/portal/sessions", &body).await?;
    if client.output.json {
        client.output.json(&link)?;
    } else {
        client.output.line(&link.url)?;
        client
            .output
            .line(&format!("(valid until {})", link.expires_at))?;
    }
    Ok(Outcome::Success)
}
