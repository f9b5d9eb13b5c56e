//! Prometheus metrics, served on every service's `/metrics` in the OpenMetrics text
//! format. One registry per process (so `herald all` serves every service's series
//! together); every series carries a `service` label naming what the process runs.

use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    /// `success` or `failed`.
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    /// `http` or `nats`.
    pub source: &'static str,
    /// `accepted` or `rejected`.
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// `gone` or `exhausted`.
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConsumerLabels {
    pub stream: String,
    pub consumer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StreamLabel {
    /// A stream's name; a bucket's is `KV_<bucket>`.
    pub stream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// `attempt`, `event` or `decision`.
    pub kind: &'static str,
}

fn seconds_histogram() -> Histogram {
    // 1 ms to about 65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// Upper bounds of `delivery_latency_seconds`: from the first attempt's range (5 ms
/// to a minute) through every step of the default retry schedule (5 m, 30 m, 2 h,
/// 8 h, 24 h after the attempt before, so the fifth retry comes about 34.6 h after
/// the event, 38 h with jitter) to a week, past which only manual retries come.
/// 20 bounds: one series per bound, whatever the schedule.
pub const DELIVERY_LATENCY_BUCKETS: [f64; 20] = [
    0.005, 0.025, 0.1, 0.5, 2.5, 10.0, 30.0, 60.0, // the first attempt
    300.0, 600.0, 1800.0, 3600.0, // first and second retry (5 m, 35 m)
    7200.0, 14_400.0, 28_800.0, 43_200.0, // third and fourth (2.6 h, 10.6 h)
    86_400.0, 172_800.0, 345_600.0, 604_800.0, // fifth (34.6 h), manual retries
];

fn delivery_latency_histogram() -> Histogram {
    Histogram::new(DELIVERY_LATENCY_BUCKETS)
}

/// Every metric Herald exposes.
pub struct Metrics {
    registry: Registry,
    pub delivery_attempts: Family<StatusLabel, Counter>,
    pub attempt_duration: Family<StatusLabel, Histogram, fn() -> Histogram>,
    pub delivery_latency: Histogram,
    pub first_attempt_latency: Histogram,
    pub events: Family<EventLabels, Counter>,
    pub retries_scheduled: Counter,
    pub deliveries_exhausted: Counter,
    pub webhooks_disabled: Family<ReasonLabel, Counter>,
    pub consumer_pending: Family<ConsumerLabels, Gauge>,
    pub consumer_ack_pending: Family<ConsumerLabels, Gauge>,
    pub stream_limit_bytes: Family<StreamLabel, Gauge>,
    pub status_records: Family<KindLabel, Counter>,
    pub tasks_parked: Counter,
    pub tasks_handed_over: Counter,
    pub tasks_handed_back: Counter,
    pub partitions_owned: Gauge,
    pub tasks_waiting: Gauge,
    pub attempts_in_flight: Gauge,
    pub messages_rejected: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics(..)")
    }
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// Names the process's `service` label; the first call wins. Call it before any
/// metric is touched.
pub fn init(service: &str) -> &'static Metrics {
    METRICS.get_or_init(|| Metrics::new(service))
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    init("herald")
}

impl Metrics {
    fn new(service: &str) -> Self {
        let mut registry = Registry::with_prefix_and_labels(
            "herald",
            [("service".into(), service.to_owned().into())].into_iter(),
        );
        let metrics = Metrics {
            delivery_attempts: Family::default(),
            attempt_duration: Family::new_with_constructor(seconds_histogram),
            delivery_latency: delivery_latency_histogram(),
            first_attempt_latency: seconds_histogram(),
            events: Family::default(),
            retries_scheduled: Counter::default(),
            deliveries_exhausted: Counter::default(),
            webhooks_disabled: Family::default(),
            consumer_pending: Family::default(),
            consumer_ack_pending: Family::default(),
            stream_limit_bytes: Family::default(),
            status_records: Family::default(),
            tasks_parked: Counter::default(),
            tasks_handed_over: Counter::default(),
            tasks_handed_back: Counter::default(),
            partitions_owned: Gauge::default(),
            tasks_waiting: Gauge::default(),
            attempts_in_flight: Gauge::default(),
            messages_rejected: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "delivery_attempts",
            "HTTP delivery attempts, by outcome",
            metrics.delivery_attempts.clone(),
        );
        registry.register(
            "delivery_attempt_duration_seconds",
            "Duration of one HTTP delivery attempt",
            metrics.attempt_duration.clone(),
        );
        registry.register(
            "delivery_latency_seconds",
            "From the event's acceptance to its successful delivery, retries included",
            metrics.delivery_latency.clone(),
        );
        registry.register(
            "delivery_first_attempt_latency_seconds",
            "From the event's acceptance to its successful delivery by the first attempt",
            metrics.first_attempt_latency.clone(),
        );
        registry.register(
            "events",
            "Events offered to ingest, by source and result",
            metrics.events.clone(),
        );
        registry.register(
            "retries_scheduled",
            "Retries handed to the broker to hold",
            metrics.retries_scheduled.clone(),
        );
        registry.register(
            "deliveries_exhausted",
            "Deliveries that failed with no attempt left",
            metrics.deliveries_exhausted.clone(),
        );
        registry.register(
            "webhooks_disabled",
            "Webhooks disabled, by reason",
            metrics.webhooks_disabled.clone(),
        );
        registry.register(
            "consumer_pending",
            "Messages waiting for a JetStream consumer",
            metrics.consumer_pending.clone(),
        );
        registry.register(
            "consumer_ack_pending",
            "Messages handed out by a JetStream consumer and not yet acknowledged",
            metrics.consumer_ack_pending.clone(),
        );
        registry.register(
            "stream_limit_bytes",
            "The byte limit this process gave each stream and bucket when it provisioned them",
            metrics.stream_limit_bytes.clone(),
        );
        registry.register(
            "status_records",
            "Records written by the status-tracker, by kind",
            metrics.status_records.clone(),
        );
        registry.register(
            "tasks_parked",
            "Delivery tasks moved to PARKED because their endpoint was busy",
            metrics.tasks_parked.clone(),
        );
        registry.register(
            "tasks_handed_over",
            "First attempts handed from the fan-out straight to their endpoint's lane, without a stored task",
            metrics.tasks_handed_over.clone(),
        );
        registry.register(
            "tasks_handed_back",
            "Tasks handed over to a lane that came back to their fan-out and were stored on DELIVERIES",
            metrics.tasks_handed_back.clone(),
        );
        registry.register(
            "partitions_owned",
            "Delivery partitions this dispatcher owns",
            metrics.partitions_owned.clone(),
        );
        registry.register(
            "tasks_waiting",
            "Delivery tasks held in memory waiting for their endpoint",
            metrics.tasks_waiting.clone(),
        );
        registry.register(
            "attempts_in_flight",
            "HTTP attempts in flight",
            metrics.attempts_in_flight.clone(),
        );
        registry.register(
            "messages_rejected",
            "Messages parked in REJECTED: invalid, or tried too often without success",
            metrics.messages_rejected.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `le` bounds `name`'s histogram exposes, `+Inf` left out.
    fn bounds(text: &str, name: &str) -> Vec<f64> {
        let prefix = format!("herald_{name}_bucket{{");
        text.lines()
            .filter(|l| l.starts_with(&prefix))
            .filter_map(|l| l.split("le=\"").nth(1)?.split('"').next())
            .filter(|le| *le != "+Inf")
            .map(|le| le.parse().unwrap())
            .collect()
    }

    #[test]
    fn delivery_latency_covers_the_whole_retry_schedule_in_few_buckets() {
        let metrics = Metrics::new("test");
        metrics.delivery_latency.observe(0.004);
        metrics.first_attempt_latency.observe(0.004);
        let text = metrics.encode();
        let latency = bounds(&text, "delivery_latency_seconds");
        assert_eq!(latency, DELIVERY_LATENCY_BUCKETS);
        assert!(latency.windows(2).all(|w| w[0] < w[1]));
        // Each default retry (5m,30m,2h,8h,24h after the attempt before, +10 %
        // jitter) lands below the top bound, in a bucket of its own.
        let mut due = 0.0;
        let mut buckets = Vec::new();
        for delay in [300.0, 1800.0, 7200.0, 28_800.0, 86_400.0] {
            due += delay * 1.1;
            let bucket = latency.iter().position(|le| due <= *le).unwrap();
            buckets.push(bucket);
        }
        buckets.dedup();
        assert_eq!(buckets.len(), 5, "{buckets:?}");
        assert!(latency[7] >= 60.0 && latency.len() <= 20);
        // The first attempt keeps the fine buckets from 1 ms.
        let first = bounds(&text, "delivery_first_attempt_latency_seconds");
        assert_eq!(first.len(), 17);
        assert_eq!(first[0], 0.001);
    }
}
