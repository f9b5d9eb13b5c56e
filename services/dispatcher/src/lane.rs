//! One endpoint's lane on the replica that owns it: the attempts in flight (at most
//! the endpoint's cap), its rate limit, the tasks waiting for it in memory, and how
//! many of its tasks wait parked in the `PARKED` stream.
//!
//! A lane keeps in memory only the tasks it expects to start within
//! [`QUEUE_HORIZON`], judged by the endpoint's response time (and how long its
//! oldest attempt in flight has run) and rate limit. The rest are parked, so a slow
//! or hanging endpoint holds almost nothing of the consumer's pending set, and a
//! fast one keeps its backlog in memory where it costs no extra write.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::message::Acker;
use bytes::Bytes;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, oneshot};

/// How far ahead a lane keeps work in memory.
pub const QUEUE_HORIZON: Duration = Duration::from_secs(5);
/// How soon a lane must expect to start a task the fan-out hands it directly: the
/// task's event stays unacknowledged until the attempt is over, so only an
/// endpoint that keeps up takes tasks this way.
pub const DIRECT_HORIZON: Duration = Duration::from_millis(500);
/// The response time assumed for an endpoint not heard from yet.
const FIRST_GUESS: Duration = Duration::from_millis(100);

/// Where a task in the dispatcher's hands came from, and so how it is finished.
pub enum Origin {
    /// Pulled from the partition's consumer at this `DELIVERIES` sequence:
    /// acknowledged once recorded.
    Consumer {
        acker: Arc<Acker>,
        sequence: u64,
        /// How many times the consumer has handed it out.
        delivered: i64,
    },
    /// Read from `PARKED` at this sequence: deleted once recorded.
    Parked(u64),
    /// Handed over by the fan-out, never stored: told once recorded. Dropped
    /// untold (handed back), the fan-out stores the task in `DELIVERIES` instead.
    Direct(oneshot::Sender<()>),
}

/// A task as the dispatcher holds it.
pub enum Task {
    /// As stored: its message's payload, decoded when its attempt starts.
    Encoded(Bytes),
    /// Handed over by the fan-out, as it made it: its event's data shared, not
    /// copied, and not checked once more.
    Decoded(Box<herald_proto::DeliveryTask>),
}

impl Task {
    /// Bytes it holds, as the memory bounds count them: its encoded form, or what
    /// that would take at most.
    pub fn size(&self) -> usize {
        match self {
            Task::Encoded(payload) => payload.len(),
            Task::Decoded(task) => task.size_bound(),
        }
    }

    /// Its encoded form, as it is stored.
    pub fn encoded(&self) -> Bytes {
        match self {
            Task::Encoded(payload) => payload.clone(),
            Task::Decoded(task) => task.encode(),
        }
    }
}

/// A task in the dispatcher's hands.
pub struct Work {
    pub task: Task,
    /// The `traceparent` its message carried.
    pub traceparent: Option<String>,
    pub origin: Origin,
    /// When it was last confirmed in progress to the broker (queued tasks are, so
    /// they are not handed out again while they wait).
    pub progressed: Instant,
    /// Its share of the in-memory queue, given back when it leaves the queue.
    pub reserved: Option<Reserved>,
}

/// A queued task's share of the in-memory queue: one task and its bytes (in KiB).
pub struct Reserved {
    pub _tasks: OwnedSemaphorePermit,
    pub _kib: OwnedSemaphorePermit,
}

impl Work {
    /// Hands the task back: a consumer's task is offered again at once (to this
    /// replica or the partition's next owner); a parked one stays parked; a direct
    /// one goes back to its fan-out, which stores it.
    pub async fn release(self) {
        if let Origin::Consumer { acker, .. } = self.origin
            && let Err(err) = acker
                .ack_with(async_nats::jetstream::AckKind::Nak(None))
                .await
        {
            tracing::debug!(error = %err, "cannot hand a task back; it returns after its ack wait");
        }
    }
}

/// What to do with a task that arrives for a lane.
#[derive(Debug, PartialEq, Eq)]
pub enum Placement {
    /// Keep it in memory.
    Queue,
    /// Move it to `PARKED`.
    Park,
}

/// What a lane's driver takes next.
pub enum Next {
    Queued(Work),
    /// Parked tasks are to be read back, from this sequence on.
    Parked(u64),
    /// Tasks are being parked; wait for them to land.
    Wait,
    /// Nothing left: the driver stops.
    Done,
}

pub struct Lane {
    pub tenant: String,
    pub endpoint_id: String,
    /// The endpoint's subjects on `DELIVERIES` and on `PARKED`, made once.
    pub task_subject: String,
    pub parked_subject: String,
    /// Its endpoint's key in the webhook registry, where its rate limit is read.
    pub registry_key: String,
    /// Attempts in flight, at most the endpoint's cap.
    pub permits: Arc<Semaphore>,
    concurrency: usize,
    pub queue: VecDeque<Work>,
    /// Tasks of this lane in `PARKED` not yet read back.
    pub parked: u64,
    /// Parked tasks read back and not yet started, in order (at most one batch).
    pub fetched: VecDeque<Work>,
    /// Tasks being parked now.
    pub parking: u32,
    /// The `PARKED` sequence to read from next.
    pub cursor: u64,
    /// Woken when a task lands in `PARKED`.
    pub landed: Arc<Notify>,
    /// Whether a driver runs for this lane.
    pub driving: bool,
    /// Start times of the attempts in flight.
    started: Vec<Instant>,
    /// Moving average of attempt durations.
    latency: Duration,
    rate: Option<(u32, DefaultDirectRateLimiter)>,
    pub last_active: Instant,
}

impl Lane {
    pub fn new(tenant: &str, endpoint_id: &str, concurrency: usize) -> Self {
        Lane {
            tenant: tenant.to_owned(),
            endpoint_id: endpoint_id.to_owned(),
            task_subject: herald_proto::delivery::delivery_subject(tenant, endpoint_id),
            parked_subject: herald_proto::delivery::parked_subject(tenant, endpoint_id),
            registry_key: herald_proto::Endpoint::key_for(tenant, endpoint_id),
            permits: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            queue: VecDeque::new(),
            parked: 0,
            fetched: VecDeque::new(),
            parking: 0,
            cursor: 0,
            landed: Arc::new(Notify::new()),
            driving: false,
            started: Vec::new(),
            latency: FIRST_GUESS,
            rate: None,
            last_active: Instant::now(),
        }
    }

    /// Where a new task goes: behind the parked ones if there are any (first in,
    /// first out), in memory while the lane expects to start it soon, else parked.
    pub fn place(&self, now: Instant) -> Placement {
        let parked_ahead = self.parked + u64::from(self.parking) > 0 || !self.fetched.is_empty();
        if parked_ahead || self.queue.len() >= self.queue_limit(now) {
            Placement::Park
        } else {
            Placement::Queue
        }
    }

    /// Whether the lane takes a task straight from the fan-out: nothing parked
    /// ahead of it, and it expects to start it within [`DIRECT_HORIZON`], also
    /// under the endpoint's rate limit `rate_per_sec` (which the lane learns only
    /// once it runs).
    pub fn takes_direct(&self, now: Instant, rate_per_sec: Option<u32>) -> bool {
        let parked_ahead = self.parked + u64::from(self.parking) > 0 || !self.fetched.is_empty();
        let mut starts = self.starts_within(now, DIRECT_HORIZON);
        if let Some(rate) = rate_per_sec {
            starts = starts.min((f64::from(rate) * DIRECT_HORIZON.as_secs_f64()) as usize);
        }
        !parked_ahead && self.queue.len() < starts
    }

    /// How many tasks this lane keeps in memory: those it expects to start within
    /// [`QUEUE_HORIZON`] at its current pace, at least one.
    pub fn queue_limit(&self, now: Instant) -> usize {
        self.starts_within(now, QUEUE_HORIZON).max(1)
    }

    /// How many attempts the lane expects to start within `horizon`, judged by the
    /// endpoint's response time (or how long its oldest attempt in flight has run)
    /// and its rate limit.
    fn starts_within(&self, now: Instant, horizon: Duration) -> usize {
        let running = self
            .started
            .iter()
            .map(|t| now.saturating_duration_since(*t))
            .max()
            .unwrap_or_default();
        let latency = self.latency.max(running).max(Duration::from_millis(1));
        let mut per_sec = self.concurrency as f64 / latency.as_secs_f64();
        if let Some((rate, _)) = &self.rate {
            per_sec = per_sec.min(f64::from(*rate));
        }
        (per_sec * horizon.as_secs_f64()) as usize
    }

    /// What the driver takes next: tasks in memory are older than parked ones.
    pub fn take_next(&mut self) -> Next {
        if let Some(work) = self.queue.pop_front() {
            return Next::Queued(work);
        }
        if let Some(work) = self.fetched.pop_front() {
            return Next::Queued(work);
        }
        if self.parked > 0 {
            return Next::Parked(self.cursor);
        }
        if self.parking > 0 {
            return Next::Wait;
        }
        self.driving = false;
        Next::Done
    }

    /// `None` when an attempt may start now under `rate_per_sec`, else how long
    /// until one may.
    pub fn rate_wait(&mut self, rate_per_sec: Option<u32>) -> Option<Duration> {
        let Some(per_sec) = rate_per_sec.and_then(NonZeroU32::new) else {
            self.rate = None;
            return None;
        };
        if self
            .rate
            .as_ref()
            .is_none_or(|(current, _)| *current != per_sec.get())
        {
            self.rate = Some((
                per_sec.get(),
                RateLimiter::direct(Quota::per_second(per_sec)),
            ));
        }
        let (_, limiter) = self.rate.as_ref().expect("set above");
        limiter
            .check()
            .err()
            .map(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// An attempt starts now.
    pub fn started(&mut self, at: Instant) {
        self.started.push(at);
        self.last_active = at;
    }

    /// The attempt that started at `at` is over.
    pub fn finished(&mut self, at: Instant) {
        let now = Instant::now();
        if let Some(i) = self.started.iter().position(|t| *t == at) {
            self.started.swap_remove(i);
        }
        let took = now.saturating_duration_since(at);
        self.latency = (self.latency * 7 + took) / 8;
        self.last_active = now;
    }

    /// Parked tasks read back from `PARKED`, each with its room in memory: they
    /// are next, and reading goes on after the last of them.
    pub fn fetched(&mut self, tasks: Vec<Work>) {
        if let Some(Origin::Parked(last)) = tasks.last().map(|w| &w.origin) {
            self.cursor = last + 1;
        }
        self.parked = self.parked.saturating_sub(tasks.len() as u64);
        self.fetched.extend(tasks);
    }

    /// The parked task at `sequence` must run again: it is read back once more,
    /// with the tasks read back after it.
    pub fn reread(&mut self, sequence: u64) {
        self.parked += 1 + self.fetched.len() as u64;
        self.fetched.clear();
        self.cursor = self.cursor.min(sequence);
    }

    /// Whether nothing is left of the lane but its remembered pace.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty()
            && self.fetched.is_empty()
            && self.started.is_empty()
            && self.parked == 0
            && self.parking == 0
            && !self.driving
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued() -> Work {
        Work {
            task: Task::Encoded(Bytes::new()),
            traceparent: None,
            origin: Origin::Parked(0),
            progressed: Instant::now(),
            reserved: None,
        }
    }

    #[test]
    fn a_task_handed_over_counts_what_its_encoded_form_would_take() {
        use herald_proto::{DeliveryTask, Event, EventType, Trigger};
        let task = DeliveryTask {
            delivery_id: "dlv_1".into(),
            endpoint_id: "wh_1".into(),
            attempt: 1,
            event: Event {
                event_id: "evt_1".into(),
                tenant: "acme".into(),
                event_type: EventType::parse("job.done").unwrap(),
                data: Bytes::from(format!("[{}1]", "1,".repeat(5_000))),
                job_id: None,
                timestamp_ms: 0,
                accepted_at_ms: 0,
                callback: None,
            },
            trigger: Trigger::Auto,
            callback: None,
            traceparent: None,
            run_id: None,
        };
        let (bound, encoded) = (task.size_bound(), task.encode());
        let handed_over = Task::Decoded(Box::new(task));
        assert_eq!(handed_over.size(), bound);
        assert!(bound >= encoded.len(), "{bound} < {}", encoded.len());
        assert_eq!(
            handed_over.encoded(),
            encoded,
            "stored as it would have been"
        );
        let stored = Task::Encoded(Bytes::from(vec![0; 700]));
        assert_eq!(stored.size(), 700);
    }

    #[test]
    fn a_fast_endpoint_keeps_its_backlog_in_memory() {
        let mut lane = Lane::new("acme", "wh_1", 10);
        let now = Instant::now();
        for _ in 0..60 {
            lane.started(now);
            lane.finished(now);
        }
        // About a millisecond per attempt, ten at once: tens of thousands in 5 s.
        assert!(lane.queue_limit(Instant::now()) > 10_000);
        assert_eq!(lane.place(Instant::now()), Placement::Queue);
    }

    #[test]
    fn a_hanging_endpoint_keeps_almost_nothing() {
        let mut lane = Lane::new("acme", "wh_1", 10);
        let long_ago = Instant::now() - Duration::from_secs(30);
        for _ in 0..10 {
            lane.started(long_ago);
        }
        // Ten attempts running for 30 s: about 1.7 starts in the next 5 s.
        assert_eq!(lane.queue_limit(Instant::now()), 1);
        lane.queue.push_back(queued());
        assert_eq!(lane.place(Instant::now()), Placement::Park);
    }

    #[test]
    fn a_rate_limit_bounds_the_queue_and_parked_tasks_come_first() {
        let mut lane = Lane::new("acme", "wh_1", 10);
        assert_eq!(lane.rate_wait(Some(2)), None);
        assert_eq!(lane.queue_limit(Instant::now()), 10);
        lane.parked = 1;
        assert_eq!(lane.place(Instant::now()), Placement::Park);
        assert!(matches!(lane.take_next(), Next::Parked(0)));
        lane.fetched(vec![Work {
            origin: Origin::Parked(7),
            ..queued()
        }]);
        // Read back but not started: new tasks still go behind it.
        assert_eq!(lane.place(Instant::now()), Placement::Park);
        assert!(matches!(
            lane.take_next(),
            Next::Queued(Work {
                origin: Origin::Parked(7),
                ..
            })
        ));
        assert_eq!(lane.cursor, 8);
        assert!(matches!(lane.take_next(), Next::Done));
        assert!(lane.is_idle());
    }

    #[test]
    fn only_a_lane_that_keeps_up_takes_tasks_directly() {
        let mut lane = Lane::new("acme", "wh_1", 10);
        // Not heard from yet (100 ms guessed, ten at once): 50 within 500 ms.
        assert!(lane.takes_direct(Instant::now(), None));
        for _ in 0..50 {
            lane.queue.push_back(queued());
        }
        assert!(!lane.takes_direct(Instant::now(), None));
        lane.queue.clear();
        // An attempt running for seconds: nothing is expected to start soon.
        lane.started(Instant::now() - Duration::from_secs(30));
        assert!(!lane.takes_direct(Instant::now(), None));
        assert_eq!(lane.place(Instant::now()), Placement::Queue);
        // Parked tasks come first.
        let mut lane = Lane::new("acme", "wh_1", 10);
        lane.parked = 1;
        assert!(!lane.takes_direct(Instant::now(), None));
        // A rate limit of one a second starts none within the horizon, known to
        // the lane or not; ten a second start five.
        let mut lane = Lane::new("acme", "wh_1", 10);
        assert!(!lane.takes_direct(Instant::now(), Some(1)));
        assert!(lane.takes_direct(Instant::now(), Some(10)));
        assert_eq!(lane.rate_wait(Some(1)), None);
        assert!(!lane.takes_direct(Instant::now(), None));
    }

    #[test]
    fn the_rate_limit_spaces_attempts() {
        let mut lane = Lane::new("acme", "wh_1", 10);
        assert_eq!(lane.rate_wait(Some(1)), None);
        let wait = lane.rate_wait(Some(1)).expect("over the rate");
        assert!(wait > Duration::from_millis(500), "{wait:?}");
        assert_eq!(lane.rate_wait(None), None);
    }
}
