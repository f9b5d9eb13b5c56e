//! The producer side: `events` events, each stamped with its send time in `data`
//! (`{"seq": n, "sent_at_us": <Unix µs>, "pad": "xx…"}`, padded to the payload
//! size), published as JSON to `ingest.<tenant>.<event_type>` on NATS (JetStream,
//! waiting for the stream's ack) or posted to `POST /v1/events`. At a fixed rate, or
//! as fast as `concurrency` publishes awaiting their answer allow.

use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::Serialize;

use crate::{API_KEY, Error, Result, TENANT};

/// How events reach Herald.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// JSON published to `ingest.<tenant>.<event_type>`.
    Nats,
    /// `POST /v1/events` with the tenant's API key.
    Http,
}

/// What to publish.
#[derive(Debug, Clone)]
pub struct Load {
    pub transport: Transport,
    pub event_type: String,
    pub events: u64,
    /// Size of each event's `data` in bytes.
    pub payload_bytes: usize,
    /// Events per second; `None` for as fast as `concurrency` allows.
    pub rate: Option<u32>,
    /// Publishes (or HTTP requests) awaiting their answer at once.
    pub concurrency: usize,
}

/// How publishing went.
#[derive(Debug, Clone)]
pub struct Published {
    pub ok: u64,
    pub failed: u64,
    pub first_error: Option<String>,
    /// From the first send to the last answer.
    pub elapsed: Duration,
}

enum Target {
    Nats {
        jetstream: Box<async_nats::jetstream::Context>,
        subject: String,
    },
    Http {
        client: reqwest::Client,
        url: String,
    },
}

/// The `data` of event `seq`: its send time, padded to `payload_bytes`.
pub fn data(seq: u64, sent_at_us: u64, payload_bytes: usize) -> String {
    let mut data = format!(r#"{{"seq":{seq},"sent_at_us":{sent_at_us},"pad":""#);
    let pad = payload_bytes.saturating_sub(data.len() + 2);
    data.extend(std::iter::repeat_n('x', pad));
    data.push_str("\"}");
    data
}

/// The JSON event, as `POST /v1/events` and the NATS intake take it.
pub fn event_body(event_type: &str, data: &str) -> Vec<u8> {
    format!(r#"{{"event_type":"{event_type}","data":{data}}}"#).into_bytes()
}

/// Publishes `load` to the Herald behind `nats_url` and `api_url`.
pub async fn publish(load: &Load, nats_url: &str, api_url: &str) -> Result<Published> {
    let target = match load.transport {
        Transport::Nats => {
            let client = async_nats::connect(nats_url)
                .await
                .map_err(|e| Error::Nats(e.to_string()))?;
            Target::Nats {
                jetstream: Box::new(async_nats::jetstream::new(client)),
                subject: format!("ingest.{TENANT}.{}", load.event_type),
            }
        }
        Transport::Http => {
            crate::init_crypto();
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(load.concurrency)
                .tcp_nodelay(true)
                .build()
                .map_err(|e| Error::Api(e.to_string()))?;
            Target::Http {
                client,
                url: format!("{api_url}/v1/events"),
            }
        }
    };
    let target = &target;
    let one = |seq: u64| async move {
        // Stamped when first polled, which is when it goes out.
        let data = data(seq, crate::unix_micros(), load.payload_bytes);
        send(target, event_body(&load.event_type, &data)).await
    };
    let concurrency = load.concurrency.max(1);
    let started = Instant::now();
    let mut published = Published {
        ok: 0,
        failed: 0,
        first_error: None,
        elapsed: Duration::ZERO,
    };
    let mut tally = |result: Result<(), String>| match result {
        Ok(()) => published.ok += 1,
        Err(err) => {
            published.failed += 1;
            published.first_error.get_or_insert(err);
        }
    };
    let mut in_flight = FuturesUnordered::new();
    let mut seq = 0;
    while seq < load.events || !in_flight.is_empty() {
        if seq < load.events && in_flight.len() < concurrency {
            let Some(rate) = load.rate else {
                in_flight.push(one(seq));
                seq += 1;
                continue;
            };
            let due = started + Duration::from_secs_f64(seq as f64 / f64::from(rate.max(1)));
            if Instant::now() >= due {
                in_flight.push(one(seq));
                seq += 1;
                continue;
            }
            tokio::select! {
                Some(result) = in_flight.next() => tally(result),
                () = tokio::time::sleep_until(due.into()) => {}
            }
        } else if let Some(result) = in_flight.next().await {
            tally(result);
        }
    }
    published.elapsed = started.elapsed();
    Ok(published)
}

async fn send(target: &Target, body: Vec<u8>) -> Result<(), String> {
    match target {
        Target::Nats { jetstream, subject } => {
            jetstream
                .publish(subject.clone(), body.into())
                .await
                .map_err(|e| format!("publish: {e}"))?
                .await
                .map_err(|e| format!("publish ack: {e}"))?;
            Ok(())
        }
        Target::Http { client, url } => {
            let response = client
                .post(url)
                .bearer_auth(API_KEY)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .map_err(|e| format!("POST /v1/events: {e}"))?;
            let status = response.status();
            // Read the answer, so the connection goes back to the pool.
            let _ = response.bytes().await;
            if status == reqwest::StatusCode::ACCEPTED {
                Ok(())
            } else {
                Err(format!("POST /v1/events answered {status}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_padded_to_the_payload_size() {
        let data = data(42, 1_700_000_000_000_000, 1024);
        assert_eq!(data.len(), 1024);
        let value: serde_json::Value = serde_json::from_str(&data).expect("JSON");
        assert_eq!(value["seq"], 42);
        assert_eq!(value["sent_at_us"], 1_700_000_000_000_000_u64);
    }

    #[test]
    fn small_payloads_are_not_truncated() {
        let data = data(1, 2, 0);
        let value: serde_json::Value = serde_json::from_str(&data).expect("JSON");
        assert_eq!(value["pad"], "");
    }

    #[test]
    fn events_carry_type_and_data() {
        let body = event_body("bench.s1", r#"{"seq":1}"#);
        let value: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(value["event_type"], "bench.s1");
        assert_eq!(value["data"]["seq"], 1);
    }
}
