//! `herald deliveries tail`: follows the delivery log. Each second it reads the
//! newest deliveries of one webhook (or of every webhook of the tenant) and prints
//! each delivery when it first sees it and again whenever its status or attempt
//! count changes, oldest first; `--once` prints what is there and stops.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use herald_common::config::Env;
use herald_model::WebhookId;
use herald_model::deliveries::{DeliveryPage, DeliveryStatus, DeliverySummary};
use herald_model::webhooks::WebhookList;

use super::{Client, Outcome, Result};
use crate::cli::TailArgs;

/// How often the log is read.
const POLL: Duration = Duration::from_secs(1);
/// Deliveries per page, the API's largest.
const PAGE: &str = "250";
/// Pages read per webhook and poll: while a page holds anything new the next is
/// read too, up to this many (1 000 deliveries).
const MAX_PAGES: usize = 4;
/// Deliveries remembered; beyond, the longest-known are forgotten (and printed
/// again should they change).
const MAX_REMEMBERED: usize = 100_000;

pub async fn run(args: TailArgs, env: &dyn Env) -> Result<Outcome> {
    let client = Client::new(&args.client, env)?;
    let mut seen = Seen::default();
    loop {
        let mut changed = Vec::new();
        for webhook in webhooks(&client, &args).await? {
            changed.extend(poll(&client, &args, &webhook, &seen).await?);
        }
        changed.sort_by(|a, b| {
            (&a.created_at, &a.timestamp, &a.delivery_id).cmp(&(
                &b.created_at,
                &b.timestamp,
                &b.delivery_id,
            ))
        });
        for delivery in changed {
            print(&client, &delivery)?;
            seen.remember(&delivery);
        }
        if args.once {
            return Ok(Outcome::Success);
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = tokio::signal::ctrl_c() => return Ok(Outcome::Success),
        }
    }
}

/// The webhooks to follow: the one asked for, or every webhook of the tenant now.
async fn webhooks(client: &Client, args: &TailArgs) -> Result<Vec<WebhookId>> {
    if let Some(id) = &args.webhook {
        return Ok(vec![id.clone()]);
    }
    let list: WebhookList = client.get("/v1/webhooks", &[]).await?;
    Ok(list.webhooks.into_iter().map(|w| w.webhook_id).collect())
}

/// The deliveries of `webhook` that are new or changed since `seen`.
async fn poll(
    client: &Client,
    args: &TailArgs,
    webhook: &WebhookId,
    seen: &Seen,
) -> Result<Vec<DeliverySummary>> {
    let path = format!("/v1/webhooks/{webhook}/deliveries");
    let mut changed = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut query = vec![("limit", PAGE)];
        if let Some(status) = args.status {
            query.push(("status", status.as_str()));
        }
        if let Some(since) = &args.since {
            query.push(("since", since));
        }
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor));
        }
        let page: DeliveryPage = client.get(&path, &query).await?;
        let before = changed.len();
        changed.extend(page.deliveries.into_iter().filter(|d| seen.changed(d)));
        match page.next_cursor {
            Some(next) if changed.len() > before => cursor = Some(next),
            _ => break,
        }
    }
    Ok(changed)
}

/// One delivery: a line of text, or its JSON on a line.
fn print(client: &Client, delivery: &DeliverySummary) -> Result<()> {
    if client.output.json {
        client.output.json(delivery)?;
        return Ok(());
    }
    let code = delivery
        .status_code
        .map_or_else(|| "-".to_owned(), |code| code.to_string());
    client.output.line(&format!(
        "{}  {:<8}  {:>3}  {}  {}  {}  {}",
        delivery.timestamp,
        delivery.status.0.as_str(),
        code,
        delivery.webhook_id,
        delivery.event_type,
        delivery.event_id,
        delivery.delivery_id,
    ))?;
    Ok(())
}

/// What was printed of each delivery: its status and attempts, bounded.
#[derive(Default)]
struct Seen {
    state: HashMap<String, (DeliveryStatus, i64)>,
    order: VecDeque<String>,
}

impl Seen {
    fn changed(&self, delivery: &DeliverySummary) -> bool {
        self.state.get(delivery.delivery_id.as_str()) != Some(&key(delivery))
    }

    fn remember(&mut self, delivery: &DeliverySummary) {
        let id = delivery.delivery_id.as_str().to_owned();
        if self.state.insert(id.clone(), key(delivery)).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > MAX_REMEMBERED {
            if let Some(oldest) = self.order.pop_front() {
                self.state.remove(&oldest);
            }
        }
    }
}

fn key(delivery: &DeliverySummary) -> (DeliveryStatus, i64) {
    (delivery.status, delivery.attempts)
}
