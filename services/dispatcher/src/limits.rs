//! Per-endpoint limits, so that one slow or dead endpoint never delays another's
//! deliveries: at most `per_endpoint` attempts in flight to one endpoint, and at
//! most `rate_limit_per_sec` started per second when the webhook sets one.
//!
//! A task that cannot start now is handed back to the broker with a delay sized to
//! the endpoint's backlog and speed, and the consumer moves on to other endpoints'
//! tasks.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::Rng;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

const MIN_DEFER: Duration = Duration::from_millis(100);
/// Tasks of one endpoint that may wait in memory for a permit, per permit.
const WAITERS_PER_PERMIT: usize = 4;
/// The longest a task waits in memory before it is handed back.
const MAX_WAIT: Duration = Duration::from_millis(250);
const MAX_DEFER: Duration = Duration::from_secs(60);

/// Whether a task may start now.
pub enum Admission {
    /// Start; the permit is held for the attempt.
    Go(Permit),
    /// Hand the task back to be offered again after this long.
    Later(Duration),
}

/// Held while an attempt runs; records its duration when dropped via [`Permit::done`].
pub struct Permit {
    _permit: OwnedSemaphorePermit,
    endpoint: Arc<EndpointLimit>,
}

impl Permit {
    /// Records how long the attempt took, to size later deferrals.
    pub fn done(self, took: Duration) {
        let took = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        let mut latency = self.endpoint.latency_ms.lock().expect("limits lock");
        *latency = (*latency * 7 + took) / 8;
    }
}

struct EndpointLimit {
    in_flight: Arc<Semaphore>,
    rate: Mutex<Option<(u32, DefaultDirectRateLimiter)>>,
    /// Stream sequences of this endpoint's tasks handed back and not yet seen again.
    deferred: Mutex<HashSet<u64>>,
    /// Moving average of attempt durations.
    latency_ms: Mutex<u64>,
    /// Tasks waiting in memory for a permit.
    waiting: std::sync::atomic::AtomicUsize,
}

#[derive(Default)]
pub struct Limits {
    per_endpoint: usize,
    endpoints: Mutex<HashMap<String, Arc<EndpointLimit>>>,
}

impl Limits {
    pub fn new(per_endpoint: usize) -> Self {
        Limits {
            per_endpoint,
            endpoints: Mutex::default(),
        }
    }

    /// Decides whether the task with stream sequence `sequence` for `endpoint` may
    /// start now under a rate limit of `rate_per_sec`.
    pub async fn admit(
        &self,
        endpoint: &str,
        sequence: u64,
        rate_per_sec: Option<u32>,
    ) -> Admission {
        let limit = self.endpoint(endpoint);
        limit
            .deferred
            .lock()
            .expect("limits lock")
            .remove(&sequence);
        let permit = match limit.in_flight.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => match self.wait_for_permit(&limit).await {
                Some(permit) => permit,
                None => return self.defer(&limit, sequence, None),
            },
        };
        if let Some(wait) = limit.rate_wait(rate_per_sec) {
            drop(permit);
            return self.defer(&limit, sequence, Some(wait));
        }
        Admission::Go(Permit {
            _permit: permit,
            endpoint: limit,
        })
    }

    /// Waits briefly in memory for a permit of a busy endpoint, unless enough of its
    /// tasks wait already: a fast endpoint's backlog starts as soon as a permit frees,
    /// while a slow one holds at most `per_endpoint * WAITERS_PER_PERMIT` slots.
    async fn wait_for_permit(&self, limit: &EndpointLimit) -> Option<OwnedSemaphorePermit> {
        use std::sync::atomic::Ordering;
        let max_waiters = self.per_endpoint * WAITERS_PER_PERMIT;
        if limit.waiting.fetch_add(1, Ordering::SeqCst) >= max_waiters {
            limit.waiting.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        let latency = Duration::from_millis(*limit.latency_ms.lock().expect("limits lock"));
        let wait = (latency * 4).clamp(Duration::from_millis(20), MAX_WAIT);
        let permit = tokio::time::timeout(wait, limit.in_flight.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok);
        limit.waiting.fetch_sub(1, Ordering::SeqCst);
        permit
    }

    fn endpoint(&self, endpoint: &str) -> Arc<EndpointLimit> {
        let mut endpoints = self.endpoints.lock().expect("limits lock");
        endpoints
            .entry(endpoint.to_owned())
            .or_insert_with(|| {
                Arc::new(EndpointLimit {
                    in_flight: Arc::new(Semaphore::new(self.per_endpoint)),
                    rate: Mutex::new(None),
                    deferred: Mutex::default(),
                    latency_ms: Mutex::new(100),
                    waiting: Default::default(),
                })
            })
            .clone()
    }

    /// The delay for a task that must wait: its place in the endpoint's backlog over
    /// the endpoint's throughput, with jitter, so a long backlog is offered back
    /// rarely instead of churning.
    fn defer(&self, limit: &EndpointLimit, sequence: u64, at_least: Option<Duration>) -> Admission {
        let backlog = {
            let mut deferred = limit.deferred.lock().expect("limits lock");
            deferred.insert(sequence);
            deferred.len() as u64
        };
        let latency = *limit.latency_ms.lock().expect("limits lock");
        let per_task_us = (latency.max(1) * 1000) / (self.per_endpoint as u64).max(1);
        let estimate = Duration::from_micros(backlog.saturating_mul(per_task_us.max(1)));
        let base = estimate
            .max(at_least.unwrap_or_default())
            .clamp(MIN_DEFER, MAX_DEFER);
        let jitter = rand::rng().random_range(1.0..1.25);
        Admission::Later(base.mul_f64(jitter))
    }
}

impl EndpointLimit {
    /// `None` when a delivery may start now under `rate_per_sec`; otherwise how long
    /// until it may.
    fn rate_wait(&self, rate_per_sec: Option<u32>) -> Option<Duration> {
        let mut rate = self.rate.lock().expect("limits lock");
        let Some(per_sec) = rate_per_sec.and_then(NonZeroU32::new) else {
            *rate = None;
            return None;
        };
        if rate
            .as_ref()
            .is_none_or(|(current, _)| *current != per_sec.get())
        {
            *rate = Some((
                per_sec.get(),
                RateLimiter::direct(Quota::per_second(per_sec)),
            ));
        }
        let (_, limiter) = rate.as_ref().expect("set above");
        limiter
            .check()
            .err()
            .map(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The clock is paused: waits for a permit pass at once.
    #[tokio::test(start_paused = true)]
    async fn caps_in_flight_per_endpoint_only() {
        let limits = Limits::new(2);
        let a1 = limits.admit("a", 1, None).await;
        let a2 = limits.admit("a", 2, None).await;
        assert!(matches!(a1, Admission::Go(_)) && matches!(a2, Admission::Go(_)));
        assert!(matches!(
            limits.admit("a", 3, None).await,
            Admission::Later(_)
        ));
        assert!(matches!(limits.admit("b", 4, None).await, Admission::Go(_)));
        drop(a1);
        assert!(matches!(limits.admit("a", 3, None).await, Admission::Go(_)));
    }

    // The clock is paused: waits for a permit pass at once.
    #[tokio::test(start_paused = true)]
    async fn longer_backlogs_wait_longer() {
        let limits = Limits::new(1);
        let _busy = limits.admit("a", 0, None).await;
        let mut delays = Vec::new();
        for seq in 1..=200 {
            match limits.admit("a", seq, None).await {
                Admission::Later(delay) => delays.push(delay),
                Admission::Go(_) => panic!("the endpoint is busy"),
            }
        }
        assert!(
            delays[0] < delays[199],
            "{:?} vs {:?}",
            delays[0],
            delays[199]
        );
        assert!(
            delays
                .iter()
                .all(|d| *d >= MIN_DEFER && *d <= MAX_DEFER.mul_f64(1.25))
        );
    }

    // The clock is paused: waits for a permit pass at once.
    #[tokio::test(start_paused = true)]
    async fn rate_limit_defers_beyond_the_quota() {
        let limits = Limits::new(10);
        let first = limits.admit("a", 1, Some(1)).await;
        assert!(matches!(first, Admission::Go(_)));
        match limits.admit("a", 2, Some(1)).await {
            Admission::Later(delay) => assert!(delay >= Duration::from_millis(500), "{delay:?}"),
            Admission::Go(_) => panic!("over the rate"),
        }
    }
}
