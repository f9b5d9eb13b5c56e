//! The counting webhook receiver: an HTTP server on `127.0.0.1:0` with one path per
//! endpoint (`/e/<index>`). It answers 200 (or 500 for an endpoint told to fail, or
//! nothing for an hour for an endpoint told to hang),
//! and for each benchmark event it gets — the body's `data.seq` and
//! `data.sent_at_us` — it notes whether that endpoint saw the event before and how
//! long the event took from the producer's send to this receipt. Anything else (the
//! `webhook.test` events that warm each webhook up) is counted apart.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;
use tokio::task::JoinHandle;

use crate::{Error, Result};

/// What the receiver reads from a delivery's body (the default `envelope` format).
#[derive(Deserialize)]
struct Body {
    data: Probe,
}

#[derive(Deserialize)]
struct Probe {
    seq: u64,
    sent_at_us: u64,
}

#[derive(Default)]
struct Log {
    /// Receipts per event sequence number.
    seen: Vec<u8>,
    received: u64,
    unique: u64,
    duplicates: u64,
    other: u64,
    /// Send-to-receipt time of each first receipt.
    latencies_us: Vec<u64>,
    last_receipt_us: u64,
}

struct Endpoint {
    failing: bool,
    hanging: bool,
    log: Mutex<Log>,
}

struct Shared {
    events: u64,
    endpoints: Vec<Endpoint>,
    /// First receipts at healthy and at failing endpoints, polled while waiting.
    healthy_unique: AtomicU64,
    failing_unique: AtomicU64,
}

/// A running receiver; stopped on drop.
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

/// Everything the receiver counted.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Events that reached a healthy endpoint, each (event, endpoint) once.
    pub healthy_unique: u64,
    /// Events that reached a failing endpoint, each (event, endpoint) once.
    pub failing_unique: u64,
    /// Receipts of an (event, endpoint) seen before, at any endpoint.
    pub duplicates: u64,
    /// Requests that were not benchmark events (test deliveries).
    pub other: u64,
    /// Requests the hanging endpoints got (none answered).
    pub hanging_requests: u64,
    /// First receipts per endpoint, in endpoint order.
    pub per_endpoint: Vec<u64>,
    /// Send-to-receipt times at healthy endpoints, sorted.
    pub latencies_us: Vec<u64>,
    /// When the last first receipt at a healthy endpoint arrived (Unix µs).
    pub last_receipt_us: u64,
}

impl Receiver {
    /// Starts a receiver for `events` events (sequence numbers `0..events`) and
    /// `endpoints` endpoints, of which those in `failing` answer 500 and those in
    /// `hanging` answer nothing (Herald gives up at its timeout).
    pub async fn start(
        events: u64,
        endpoints: usize,
        failing: &[usize],
        hanging: &[usize],
    ) -> Result<Self> {
        let size = usize::try_from(events).unwrap_or(usize::MAX);
        let shared = Arc::new(Shared {
            events,
            endpoints: (0..endpoints)
                .map(|i| Endpoint {
                    failing: failing.contains(&i),
                    hanging: hanging.contains(&i),
                    log: Mutex::new(Log {
                        seen: vec![0; size],
                        latencies_us: Vec::with_capacity(size),
                        ..Log::default()
                    }),
                })
                .collect(),
            healthy_unique: AtomicU64::new(0),
            failing_unique: AtomicU64::new(0),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(Error::io("receiver listener"))?;
        let addr = listener
            .local_addr()
            .map_err(Error::io("receiver address"))?;
        let app = Router::new()
            .route("/e/{index}", post(receive))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                eprintln!("receiver stopped: {err}");
            }
        });
        Ok(Receiver { addr, shared, task })
    }

    /// The URL of endpoint `index`.
    pub fn url(&self, index: usize) -> String {
        format!("http://{}/e/{index}", self.addr)
    }

    /// First receipts so far at healthy and at failing endpoints.
    pub fn progress(&self) -> (u64, u64) {
        (
            self.shared.healthy_unique.load(Ordering::Relaxed),
            self.shared.failing_unique.load(Ordering::Relaxed),
        )
    }

    /// Everything counted so far.
    pub fn tally(&self) -> Tally {
        let mut tally = Tally::default();
        for endpoint in &self.shared.endpoints {
            let log = endpoint.log.lock().unwrap_or_else(PoisonError::into_inner);
            tally.duplicates += log.duplicates;
            tally.other += log.other;
            tally.per_endpoint.push(log.unique);
            if endpoint.failing {
                tally.failing_unique += log.unique;
            } else if endpoint.hanging {
                tally.hanging_requests += log.received;
            } else {
                tally.healthy_unique += log.unique;
                tally.latencies_us.extend_from_slice(&log.latencies_us);
                tally.last_receipt_us = tally.last_receipt_us.max(log.last_receipt_us);
            }
        }
        tally.latencies_us.sort_unstable();
        tally
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    Path(index): Path<usize>,
    body: Bytes,
) -> StatusCode {
    let now = crate::unix_micros();
    let Some(endpoint) = shared.endpoints.get(index) else {
        return StatusCode::NOT_FOUND;
    };
    if endpoint.hanging {
        endpoint
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .received += 1;
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        return StatusCode::OK;
    }
    let probe = serde_json::from_slice::<Body>(&body)
        .ok()
        .map(|b| b.data)
        .filter(|p| p.seq < shared.events);
    {
        let mut log = endpoint.log.lock().unwrap_or_else(PoisonError::into_inner);
        log.received += 1;
        match probe {
            None => log.other += 1,
            Some(probe) => {
                let slot = usize::try_from(probe.seq).unwrap_or(usize::MAX);
                let count = &mut log.seen[slot];
                *count = count.saturating_add(1);
                if *count > 1 {
                    log.duplicates += 1;
                } else {
                    log.unique += 1;
                    log.latencies_us.push(now.saturating_sub(probe.sent_at_us));
                    log.last_receipt_us = log.last_receipt_us.max(now);
                    let counter = if endpoint.failing {
                        &shared.failing_unique
                    } else {
                        &shared.healthy_unique
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
    if endpoint.failing {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

/// The value at quantile `q` (0–1) of sorted `values`, nearest rank.
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&values, 0.5), 50);
        assert_eq!(quantile(&values, 0.99), 99);
        assert_eq!(quantile(&values, 1.0), 100);
        assert_eq!(quantile(&[7], 0.5), 7);
        assert_eq!(quantile(&[], 0.5), 0);
    }
}
