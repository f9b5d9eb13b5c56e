//! One measured run against a running [`Stack`]: register the webhooks (pointing at
//! a fresh [`Receiver`]), warm each up with a test delivery (which also proves the
//! dispatcher knows it), note every process's idle memory, publish the load, wait
//! until every expected delivery has arrived (or nothing has moved for [`STALL`]),
//! and sum up.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::procstat::{Snapshot, Watched};
use crate::publisher::{self, Load, Transport};
use crate::receiver::{Receiver, quantile};
use crate::report::{Latency, ScenarioResult};
use crate::stack::{Stack, StackConfig};
use crate::{API_KEY, Error, Result};

/// How long the run may go without a new delivery before it is called incomplete.
pub const STALL: Duration = Duration::from_secs(30);

/// One load and its endpoints.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Short id; the events' type is `bench.<name>`.
    pub name: String,
    pub title: String,
    pub transport: Transport,
    pub events: u64,
    pub endpoints: usize,
    /// How many endpoints (the last ones) answer 500. Their webhooks retry only
    /// after an hour, so retries stay out of the measurement.
    pub failing: usize,
    /// How many endpoints (the ones before the failing ones) answer nothing, so
    /// every attempt lasts Herald's whole timeout. They retry only after an hour.
    pub hanging: usize,
    pub payload_bytes: usize,
    /// Events per second; `None` for as fast as possible.
    pub rate: Option<u32>,
    /// Publishes awaiting their answer at once.
    pub concurrency: usize,
}

impl Scenario {
    fn event_type(&self) -> String {
        format!(
            "bench.{}",
            self.name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        )
    }
}

/// Runs `scenario` against `stack` (started from `config`).
pub async fn run(
    stack: &Stack,
    config: &StackConfig,
    scenario: &Scenario,
) -> Result<ScenarioResult> {
    crate::init_crypto();
    let failing: Vec<usize> = (scenario.endpoints - scenario.failing..scenario.endpoints).collect();
    let healthy_end = scenario.endpoints - scenario.failing - scenario.hanging;
    let hanging: Vec<usize> = (healthy_end..healthy_end + scenario.hanging).collect();
    let receiver = Receiver::start(scenario.events, scenario.endpoints, &failing, &hanging).await?;
    let api = Api {
        http: reqwest::Client::new(),
        base: stack.api_url().to_owned(),
    };
    let event_type = scenario.event_type();
    for index in 0..scenario.endpoints {
        let mut body = json!({ "url": receiver.url(index), "events": [event_type] });
        if failing.contains(&index) || hanging.contains(&index) {
            body["retry_schedule"] = json!(["1h"]);
        }
        let id = api.create_webhook(&body).await?;
        // A test delivery to a hanging endpoint would wait out the whole timeout.
        if !hanging.contains(&index) {
            api.warm_up(&id).await?;
        }
    }

    let mut processes = stack.processes();
    processes.push(Watched {
        name: "herald-loadgen".into(),
        pid: None,
    });
    // Idle memory and the CPU clocks, before any load.
    let before = Snapshot::take(&processes);
    let accepted = watch_accepted(stack.nats_url(), scenario.events).await?;
    let started = Instant::now();
    let started_us = crate::unix_micros();
    let load = Load {
        transport: scenario.transport,
        event_type,
        events: scenario.events,
        payload_bytes: scenario.payload_bytes,
        rate: scenario.rate,
        concurrency: scenario.concurrency,
    };
    let published = publisher::publish(&load, stack.nats_url(), stack.api_url()).await?;
    let healthy = (scenario.endpoints - scenario.failing - scenario.hanging) as u64;
    let expected = (
        published.ok * healthy,
        published.ok * scenario.failing as u64,
    );
    let complete = wait_for(&receiver, expected).await;
    let usage = before.usage_since(&processes);
    // Every event was accepted before its deliveries arrived; the watcher polls.
    let mut accepted = accepted;
    let accepted_at = match tokio::time::timeout(Duration::from_secs(2), &mut accepted).await {
        Ok(at) => at.ok().flatten(),
        Err(_) => {
            accepted.abort();
            None
        }
    };

    let tally = receiver.tally();
    let delivery_secs = tally.last_receipt_us.saturating_sub(started_us) as f64 / 1e6;
    let deliveries_per_sec = per_sec(tally.healthy_unique, delivery_secs);
    let ms = |q: f64| quantile(&tally.latencies_us, q) as f64 / 1000.0;
    Ok(ScenarioResult {
        layout: config.layout,
        durability: config.durability,
        env: config.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        scenario: scenario.name.clone(),
        title: scenario.title.clone(),
        transport: scenario.transport,
        events: scenario.events,
        endpoints: scenario.endpoints,
        failing_endpoints: scenario.failing,
        hanging_endpoints: scenario.hanging,
        hanging_requests: tally.hanging_requests,
        payload_bytes: scenario.payload_bytes,
        target_rate: scenario.rate,
        published: published.ok,
        publish_errors: published.failed,
        first_publish_error: published.first_error,
        publish_per_sec: per_sec(published.ok, published.elapsed.as_secs_f64()),
        accepted_per_sec: accepted_at.map(|at| per_sec(published.ok, (at - started).as_secs_f64())),
        deliveries_expected: expected.0,
        deliveries: tally.healthy_unique,
        duplicates: tally.duplicates,
        failing_attempts: tally.failing_unique,
        deliveries_per_sec,
        per_endpoint_per_sec: crate::procstat::round2(deliveries_per_sec / healthy.max(1) as f64),
        latency_ms: Latency {
            p50: ms(0.50),
            p95: ms(0.95),
            p99: ms(0.99),
            max: ms(1.0),
        },
        duration_s: crate::procstat::round2(started.elapsed().as_secs_f64()),
        complete,
        processes: usage,
        ratio: None,
    })
}

/// `count` per second over `secs`, rounded; 0 for no time at all.
pub(crate) fn per_sec(count: u64, secs: f64) -> f64 {
    if secs <= 0.0 {
        return 0.0;
    }
    (count as f64 / secs).round()
}

/// Waits until `expected` (healthy, failing) first receipts have arrived; `false`
/// when nothing moved for [`STALL`].
async fn wait_for(receiver: &Receiver, expected: (u64, u64)) -> bool {
    let mut last = receiver.progress();
    let mut moved = Instant::now();
    loop {
        let now = receiver.progress();
        if now.0 >= expected.0 && now.1 >= expected.1 {
            return true;
        }
        if now != last {
            last = now;
            moved = Instant::now();
        } else if moved.elapsed() > STALL {
            eprintln!("  incomplete: {now:?} of {expected:?} (healthy, failing) arrived");
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Watches the `EVENTS` stream until it holds `events` more messages than now:
/// when Herald has accepted every event. Resolves to that moment.
async fn watch_accepted(
    nats_url: &str,
    events: u64,
) -> Result<tokio::task::JoinHandle<Option<Instant>>> {
    let client = async_nats::connect(nats_url)
        .await
        .map_err(|e| Error::Nats(e.to_string()))?;
    let jetstream = async_nats::jetstream::new(client);
    let mut stream = jetstream
        .get_stream("EVENTS")
        .await
        .map_err(|e| Error::Nats(e.to_string()))?;
    let baseline = stream
        .info()
        .await
        .map_err(|e| Error::Nats(e.to_string()))?
        .state
        .messages;
    Ok(tokio::spawn(async move {
        loop {
            let messages = stream.info().await.ok()?.state.messages;
            if messages >= baseline + events {
                return Some(Instant::now());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }))
}

/// The few API calls a run needs.
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    /// `POST /v1/webhooks`; returns the new webhook's id.
    async fn create_webhook(&self, body: &serde_json::Value) -> Result<String> {
        let response = self
            .http
            .post(format!("{}/v1/webhooks", self.base))
            .bearer_auth(API_KEY)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| Error::Api(format!("POST /v1/webhooks: {e}")))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status != reqwest::StatusCode::CREATED {
            return Err(Error::Api(format!(
                "POST /v1/webhooks answered {status}: {text}"
            )));
        }
        let created: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::Api(format!("POST /v1/webhooks answer: {e}")))?;
        created["webhook_id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::Api(format!("no webhook_id in {text}")))
    }

    /// Asks for test deliveries until one is made: the dispatcher then knows the
    /// webhook, and the connection to the receiver is open.
    async fn warm_up(&self, id: &str) -> Result<()> {
        let url = format!("{}/v1/webhooks/{id}/test", self.base);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answer = self.http.post(&url).bearer_auth(API_KEY).send().await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout(format!("a test delivery to webhook {id}")));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
