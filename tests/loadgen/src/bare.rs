//! The bare yardsticks: what a fresh nats-server and the load generator achieve with
//! nothing of Herald between them, measured in the same session as Herald's runs so
//! each Herald number can be read as a fraction of what this machine allows now.
//!
//! - [`Bare::Loop`]: the least a delivery needs. A file-storage stream is filled with
//!   the events first; then a durable pull consumer (explicit ack) hands them out,
//!   each body is POSTed to the [`Receiver`] over one shared `reqwest::Client` with
//!   `concurrency` requests in flight, and each message is acked after its 2xx.
//! - [`Bare::Publish`]: the same events published to a file-storage stream with
//!   `concurrency` publishes awaiting their ack, through the publisher s1-nats uses.

use std::fmt;
use std::path::Path;
use std::time::Instant;

use async_nats::jetstream::{self, AckKind, consumer, stream};
use futures::stream::FuturesUnordered;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::procstat::{Snapshot, Usage, Watched, round2};
use crate::publisher::{self, Load, Transport};
use crate::receiver::{Receiver, quantile};
use crate::report::{Latency, YardstickResult};
use crate::scenario::{STALL, per_sec};
use crate::stack::{Broker, Durability};
use crate::{Error, Result, TENANT};

/// Which bare run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bare {
    /// Pull, POST, ack: deliveries per second.
    Loop,
    /// JetStream publishes per second.
    Publish,
}

impl fmt::Display for Bare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Bare::Loop => "loop",
            Bare::Publish => "publish",
        })
    }
}

/// One bare run on its own fresh nats-server.
#[derive(Debug, Clone)]
pub struct Yardstick {
    pub durability: Durability,
    pub bare: Bare,
    pub messages: u64,
    pub payload_bytes: usize,
    /// Requests (loop) or publishes (publish) awaiting their answer at once.
    pub concurrency: usize,
}

impl Yardstick {
    /// `bare/<durability>/<loop|publish>`, which `--only` matches against.
    pub fn id(&self) -> String {
        format!("bare/{}/{}", self.durability, self.bare)
    }
}

/// The stream both runs write to, and its one subject (the publisher's
/// `ingest.<tenant>.<event_type>`).
const STREAM: &str = "BARE";
const EVENT_TYPE: &str = "bare";

/// Starts a nats-server for `yardstick` and measures it.
pub async fn run(yardstick: &Yardstick, nats_server: &Path) -> Result<YardstickResult> {
    crate::init_crypto();
    let broker = Broker::start(nats_server, yardstick.durability).await?;
    let client = async_nats::connect(broker.url()).await.map_err(nats)?;
    let jetstream = jetstream::new(client);
    let stream = jetstream
        .create_stream(stream::Config {
            name: STREAM.into(),
            subjects: vec![subject()],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .map_err(nats)?;
    let processes = [
        broker.process(),
        Watched {
            name: "herald-loadgen".into(),
            pid: None,
        },
    ];
    match yardstick.bare {
        Bare::Loop => delivery_loop(yardstick, &jetstream, &stream, &processes).await,
        Bare::Publish => publish(yardstick, broker.url(), &processes).await,
    }
}

fn subject() -> String {
    format!("ingest.{TENANT}.{EVENT_TYPE}")
}

fn nats(err: impl fmt::Display) -> Error {
    Error::Nats(err.to_string())
}

/// Fills the stream, then pulls, POSTs and acks every message.
async fn delivery_loop(
    yardstick: &Yardstick,
    jetstream: &jetstream::Context,
    stream: &stream::Stream,
    processes: &[Watched],
) -> Result<YardstickResult> {
    prefill(jetstream, yardstick).await?;
    let consumer = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some("bare".into()),
            ack_policy: consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .map_err(nats)?;
    let receiver = Receiver::start(yardstick.messages, 1, &[], &[]).await?;
    let url = receiver.url(0);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(yardstick.concurrency)
        .tcp_nodelay(true)
        .no_proxy()
        .build()
        .map_err(|e| Error::Api(e.to_string()))?;

    let before = Snapshot::take(processes);
    let started = Instant::now();
    let started_us = crate::unix_micros();
    let mut messages = consumer.messages().await.map_err(nats)?;
    let mut in_flight = FuturesUnordered::new();
    let (mut delivered, mut errors) = (0, 0);
    while delivered < yardstick.messages {
        tokio::select! {
            Some(message) = messages.next(), if in_flight.len() < yardstick.concurrency => {
                in_flight.push(deliver(&http, &url, message.map_err(nats)?));
            }
            Some(ok) = in_flight.next() => {
                if ok { delivered += 1 } else { errors += 1 }
            }
            () = tokio::time::sleep(STALL) => {
                eprintln!("  incomplete: {delivered} of {} delivered", yardstick.messages);
                break;
            }
        }
    }
    let processes = before.usage_since(processes);
    let tally = receiver.tally();
    let secs = tally.last_receipt_us.saturating_sub(started_us) as f64 / 1e6;
    // The stream's events carry `sent_at_us` 0, so the receiver's latencies are the
    // receipt times themselves; each message's time counts from the first pull.
    let ms = |q: f64| quantile(&tally.latencies_us, q).saturating_sub(started_us) as f64 / 1e3;
    Ok(YardstickResult {
        id: yardstick.id(),
        durability: yardstick.durability,
        bare: yardstick.bare,
        messages: yardstick.messages,
        payload_bytes: yardstick.payload_bytes,
        concurrency: yardstick.concurrency,
        per_sec: per_sec(tally.healthy_unique, secs),
        latency_ms: Some(Latency {
            p50: ms(0.50),
            p95: ms(0.95),
            p99: ms(0.99),
            max: ms(1.0),
        }),
        done: tally.healthy_unique,
        duplicates: tally.duplicates,
        errors,
        complete: tally.healthy_unique == yardstick.messages,
        duration_s: round2(started.elapsed().as_secs_f64()),
        processes,
    })
}

/// Publishes every event of the loop to the stream before the clock starts, each
/// stamped `sent_at_us` 0.
async fn prefill(jetstream: &jetstream::Context, yardstick: &Yardstick) -> Result<()> {
    let subject = subject();
    futures::stream::iter(0..yardstick.messages)
        .map(|seq| {
            let data = publisher::data(seq, 0, yardstick.payload_bytes);
            let body = publisher::event_body(EVENT_TYPE, &data);
            let subject = subject.clone();
            async move { jetstream.publish(subject, body.into()).await?.await }
        })
        .buffer_unordered(256)
        .map_err(nats)
        .try_for_each(|_| async { Ok(()) })
        .await
}

/// POSTs one message's body; acks it after a 2xx, or asks for it again. `true` when
/// it was delivered and acked.
async fn deliver(http: &reqwest::Client, url: &str, message: jetstream::Message) -> bool {
    let answer = http
        .post(url)
        .header("content-type", "application/json")
        .body(message.payload.clone())
        .send()
        .await;
    let delivered = match answer {
        Ok(response) => {
            let ok = response.status().is_success();
            // Read the answer, so the connection goes back to the pool.
            let _ = response.bytes().await;
            ok
        }
        Err(_) => false,
    };
    let kind = if delivered {
        AckKind::Ack
    } else {
        AckKind::Nak(None)
    };
    delivered && message.ack_with(kind).await.is_ok()
}

/// Publishes every event, `concurrency` awaiting their ack, and counts the acks.
async fn publish(
    yardstick: &Yardstick,
    nats_url: &str,
    processes: &[Watched],
) -> Result<YardstickResult> {
    let load = Load {
        transport: Transport::Nats,
        event_type: EVENT_TYPE.into(),
        events: yardstick.messages,
        payload_bytes: yardstick.payload_bytes,
        rate: None,
        concurrency: yardstick.concurrency,
    };
    let before = Snapshot::take(processes);
    let published = publisher::publish(&load, nats_url, "").await?;
    let processes: Vec<Usage> = before.usage_since(processes);
    if let Some(err) = &published.first_error {
        eprintln!("  {} publishes failed, the first: {err}", published.failed);
    }
    Ok(YardstickResult {
        id: yardstick.id(),
        durability: yardstick.durability,
        bare: yardstick.bare,
        messages: yardstick.messages,
        payload_bytes: yardstick.payload_bytes,
        concurrency: yardstick.concurrency,
        per_sec: per_sec(published.ok, published.elapsed.as_secs_f64()),
        latency_ms: None,
        done: published.ok,
        duplicates: 0,
        errors: published.failed,
        complete: published.ok == yardstick.messages,
        duration_s: round2(published.elapsed.as_secs_f64()),
        processes,
    })
}
