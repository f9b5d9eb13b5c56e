//! One delivery partition while this replica owns it: its consumer's tasks go to
//! per-endpoint [`Lane`]s, each driven by a task of its own that starts attempts as
//! the endpoint's cap, its rate limit and the replica's fair share of slots allow.
//!
//! Nothing waits for a busy endpoint in the consumer's pending set beyond what the
//! endpoint will take within a few seconds: the rest is parked in `PARKED` (and the
//! consumer's message acknowledged once it is stored there), and read back in order
//! as the endpoint frees up. The consumer so keeps handing out every other
//! endpoint's tasks, whatever one endpoint's backlog.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, AckKind, consumer};
use futures::StreamExt;
use herald_common::nats::{DELIVERIES_STREAM, DurableConsumer, partition_consumer};
use herald_proto::DeliveryTask;
use herald_proto::names::{header, subject};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::lane::{Lane, Next, Origin, Placement, Reserved, Task, Work};
use crate::parked::Parked;
use crate::slots::Slots;

/// Tasks asked for in one pull.
const PULL_BATCH: usize = 256;
/// Bytes asked for in one pull: room for the largest task (a 1 MiB event and its
/// envelope).
const PULL_BYTES: usize = 2 << 20;
/// Parked tasks read back at once, at most (and about
/// [`FETCH_BYTES`](crate::parked::FETCH_BYTES)).
const FETCH_BATCH: usize = 256;
/// KiB of memory one read of parked tasks takes before it knows their sizes: a
/// batch stops at [`FETCH_BYTES`](crate::parked::FETCH_BYTES), or at its first task
/// when that is larger (the largest task fits one pull).
const READ_KIB: u32 = (PULL_BYTES / 1024) as u32;
/// Tasks being parked at once per partition.
const PARKING: usize = 64;
/// How long a task waits for room in memory before it is parked instead.
const ROOM_WAIT: Duration = Duration::from_millis(100);
/// How often lanes are looked over (spilling, progress, eviction).
const SWEEP: Duration = Duration::from_secs(1);
/// How often the parked backlog is read from the stream, in case a count drifted.
const RECONCILE: Duration = Duration::from_secs(30);

/// The delivery consumer of `partition`, with limits sized so that deferred work can
/// never fill it: at most `max_in_flight` attempts and `queued` waiting tasks are
/// held, plus what one pull and the parking in progress hold.
pub fn consumer(
    partition: u32,
    ack_wait: Duration,
    max_in_flight: usize,
    queued: usize,
) -> DurableConsumer {
    let held = max_in_flight + queued + 2 * PULL_BATCH + PARKING;
    DurableConsumer {
        stream: DELIVERIES_STREAM,
        name: partition_consumer(partition),
        filter_subjects: vec![subject::deliveries_of_partition(partition)],
        max_ack_pending: i64::try_from(held).unwrap_or(i64::MAX),
        ack_wait,
    }
}

/// The partitions this replica owns now, by number: where the fan-out hands
/// first attempts over without storing them.
#[derive(Clone, Default)]
pub struct Owned(Arc<RwLock<HashMap<u32, Arc<Partition>>>>);

impl Owned {
    /// The partition of `tenant`'s endpoint `endpoint_id`, when this replica owns it.
    pub fn of(&self, tenant: &str, endpoint_id: &str) -> Option<Arc<Partition>> {
        let number = herald_proto::delivery::partition_of(tenant, endpoint_id);
        self.0.read().expect("owned lock").get(&number).cloned()
    }

    fn insert(&self, partition: Arc<Partition>) {
        let mut owned = self.0.write().expect("owned lock");
        owned.insert(partition.number, partition);
    }

    fn remove(&self, number: u32) {
        self.0.write().expect("owned lock").remove(&number);
    }
}

/// What every partition of this replica shares.
#[derive(Clone)]
pub struct Shared {
    pub state: crate::State,
    pub slots: Slots,
    /// Room for tasks waiting in memory: tasks, and KiB.
    pub queue_tasks: Arc<Semaphore>,
    pub queue_kib: Arc<Semaphore>,
    pub parked: Parked,
    /// Fires when the drain's time for attempts in flight is over: attempts still
    /// waiting for their endpoint are abandoned and their tasks handed back.
    pub cut: CancellationToken,
}

/// A partition this replica owns, running until [`Partition::stop`].
pub struct Partition {
    pub number: u32,
    shared: Shared,
    /// By `<tenant>.<endpoint_id>`, the tail of the endpoint's subjects.
    lanes: Mutex<HashMap<Box<str>, Arc<Mutex<Lane>>>>,
    /// The consumer's name, for the reason of a task given up on.
    consumer: String,
    stop: CancellationToken,
    /// Drivers, attempts and parks in progress.
    tasks: TaskTracker,
    parking: Arc<Semaphore>,
    /// Set when the last wait for room in memory came to nothing.
    room_short: std::sync::atomic::AtomicBool,
    loops: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Partition {
    /// Starts pulling `consumer` for partition `number`.
    pub fn start(
        number: u32,
        shared: Shared,
        consumer: consumer::PullConsumer,
        shutdown: &CancellationToken,
    ) -> Arc<Self> {
        let partition = Arc::new(Partition {
            number,
            shared,
            lanes: Mutex::default(),
            consumer: partition_consumer(number),
            stop: shutdown.child_token(),
            tasks: TaskTracker::new(),
            parking: Arc::new(Semaphore::new(PARKING)),
            room_short: Default::default(),
            loops: Mutex::default(),
        });
        let loops = vec![
            tokio::spawn(partition.clone().pull(consumer.clone())),
            tokio::spawn(partition.clone().sweep()),
            tokio::spawn(herald_common::consume::report_lag(
                consumer,
                partition.stop.clone(),
            )),
        ];
        *partition.loops.lock().expect("partition lock") = loops;
        partition.shared.state.owned.insert(partition.clone());
        tracing::info!(partition = number, "delivery partition taken");
        partition
    }

    /// Stops pulling, hands the tasks waiting in memory back to the consumer, and
    /// waits for the attempts and parks in progress. Parked tasks stay parked for
    /// the partition's next owner.
    pub async fn stop(&self) {
        self.shared.state.owned.remove(self.number);
        self.stop.cancel();
        let loops = std::mem::take(&mut *self.loops.lock().expect("partition lock"));
        for handle in loops {
            let _ = handle.await;
        }
        let lanes: Vec<_> = self.lanes().into_iter().collect();
        for lane in lanes {
            let waiting: Vec<Work> = lane.lock().expect("lane lock").queue.drain(..).collect();
            for work in waiting {
                work.release().await;
            }
        }
        self.tasks.close();
        self.tasks.wait().await;
        tracing::info!(partition = self.number, "delivery partition released");
    }

    fn lanes(&self) -> Vec<Arc<Mutex<Lane>>> {
        self.lanes
            .lock()
            .expect("partition lock")
            .values()
            .cloned()
            .collect()
    }

    /// The rate limit the registry holds for the lane's endpoint (none for a job's
    /// callback, which is not in it), read afresh: a webhook's change applies at
    /// once.
    fn rate_limit(&self, registry_key: &str) -> Option<u32> {
        self.shared
            .state
            .endpoints()
            .get(registry_key)
            .and_then(|e| e.rate_limit_per_sec)
    }

    /// The lane of `key` (`<tenant>.<endpoint_id>`, the tail of the endpoint's
    /// subjects), made when missing. Looking a lane up allocates nothing.
    fn lane(&self, key: &str) -> Arc<Mutex<Lane>> {
        let mut lanes = self.lanes.lock().expect("partition lock");
        if let Some(lane) = lanes.get(key) {
            return lane.clone();
        }
        // Tenants hold no dots, so the first one ends the tenant.
        let (tenant, endpoint_id) = key.split_once('.').unwrap_or((key, ""));
        let lane = Arc::new(Mutex::new(Lane::new(
            tenant,
            endpoint_id,
            self.shared.state.config.endpoint_concurrency,
        )));
        lanes.insert(key.into(), lane.clone());
        lane
    }

    async fn pull(self: Arc<Self>, consumer: consumer::PullConsumer) {
        // Tasks an earlier owner parked come before the ones arriving now.
        self.reconcile().await;
        while !self.stop.is_cancelled() {
            let messages = consumer
                .stream()
                .max_messages_per_batch(PULL_BATCH)
                .max_bytes_per_batch(PULL_BYTES)
                .heartbeat(Duration::from_secs(5))
                .expires(Duration::from_secs(30))
                .messages()
                .await;
            let mut messages = match messages {
                Ok(messages) => messages,
                Err(err) => {
                    tracing::warn!(partition = self.number, error = %err, "cannot pull tasks; retrying");
                    tokio::select! {
                        _ = self.stop.cancelled() => {}
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                    continue;
                }
            };
            loop {
                let next = tokio::select! {
                    _ = self.stop.cancelled() => break,
                    next = messages.next() => next,
                };
                match next {
                    Some(Ok(message)) => self.place(message).await,
                    Some(Err(err)) => {
                        tracing::warn!(partition = self.number, error = %err, "task stream error");
                        if herald_common::consume::stream_is_broken(&err) {
                            break;
                        }
                    }
                    None => break,
                }
            }
            if self.stop.is_cancelled() {
                // Tasks that arrived but were not placed go back at once, not after
                // their ack wait.
                while let Ok(Some(Ok(message))) =
                    tokio::time::timeout(Duration::from_millis(50), messages.next()).await
                {
                    let _ = message.ack_with(AckKind::Nak(None)).await;
                }
            }
        }
    }

    /// Takes a first attempt's task straight from the fan-out, without storing it,
    /// when its lane expects to start it soon (see [`Lane::takes_direct`]) and
    /// memory has room at once; `None` otherwise, and the fan-out stores it. The
    /// answer resolves once the attempt is recorded, and fails when the task is
    /// handed back (the partition stopped, the attempt could not be recorded, the
    /// endpoint slowed down): the fan-out then stores it.
    pub fn offer(self: &Arc<Self>, task: &DeliveryTask) -> Option<oneshot::Receiver<()>> {
        let key = herald_proto::delivery::lane_key_of(&task.event.tenant, &task.endpoint_id);
        let lane = self.lane(&key);
        let mut guard = lane.lock().expect("lane lock");
        // A new lane has not learned its endpoint's rate limit yet.
        let rate = self.rate_limit(&guard.registry_key);
        // Checked under the lane's lock: `stop` cancels before it empties the lanes,
        // so a task queued here is either emptied out by it or refused.
        if self.stop.is_cancelled() || !guard.takes_direct(Instant::now(), rate) {
            return None;
        }
        let reserved = self.try_room(task.size_bound())?;
        let (done, answer) = oneshot::channel();
        guard.queue.push_back(Work {
            task: Task::Decoded(Box::new(task.clone())),
            traceparent: None,
            origin: Origin::Direct(done),
            progressed: Instant::now(),
            reserved: Some(reserved),
        });
        self.drive(&lane, &mut guard);
        Some(answer)
    }

    /// Puts a task pulled from the consumer in its lane's memory, or parks it.
    async fn place(self: &Arc<Self>, message: jetstream::Message) {
        let (sequence, delivered) = message
            .info()
            .map(|i| (i.stream_sequence, i.delivered))
            .unwrap_or_default();
        let Some(key) = herald_proto::delivery::lane_key(&message.subject) else {
            herald_common::consume::park(&message, "a delivery task on a malformed subject").await;
            return;
        };
        let lane = self.lane(key);
        let redelivery = &self.shared.state.config.common.redelivery;
        if herald_common::consume::give_up_if_exhausted(&message, &self.consumer, redelivery).await
        {
            return;
        }
        let traceparent = message
            .headers
            .as_ref()
            .and_then(|h| h.get(header::TRACEPARENT))
            .map(|v| v.as_str().to_owned());
        let (message, acker) = message.split();
        let mut work = Work {
            task: Task::Encoded(message.payload),
            traceparent,
            origin: Origin::Consumer {
                acker: Arc::new(acker),
                sequence,
                delivered,
            },
            progressed: Instant::now(),
            reserved: None,
        };
        let placement = lane.lock().expect("lane lock").place(Instant::now());
        if placement == Placement::Queue
            && let Some(reserved) = self.room_for(work.task.size()).await
        {
            work.reserved = Some(reserved);
            let mut guard = lane.lock().expect("lane lock");
            guard.queue.push_back(work);
            self.drive(&lane, &mut guard);
            return;
        }
        self.park(lane, work).await;
    }

    /// Room in memory for a waiting task of `bytes`: at once, or within
    /// [`ROOM_WAIT`] unless the last wait of this partition came to nothing (then the
    /// memory is full for a while, and waiting for each task would only slow down
    /// handing the rest out).
    async fn room_for(&self, bytes: usize) -> Option<Reserved> {
        use std::sync::atomic::Ordering;
        if let Some(reserved) = self.try_room(bytes) {
            self.room_short.store(false, Ordering::Relaxed);
            return Some(reserved);
        }
        let kib = u32::try_from(bytes.div_ceil(1024).max(1)).unwrap_or(u32::MAX);
        let shared = &self.shared;
        if self.room_short.load(Ordering::Relaxed) {
            return None;
        }
        let room = async {
            let tasks = shared.queue_tasks.clone().acquire_owned().await.ok()?;
            let kib = shared
                .queue_kib
                .clone()
                .acquire_many_owned(kib)
                .await
                .ok()?;
            Some(Reserved {
                _tasks: tasks,
                _kib: kib,
            })
        };
        let reserved = tokio::time::timeout(ROOM_WAIT, room).await.ok().flatten();
        self.room_short.store(reserved.is_none(), Ordering::Relaxed);
        reserved
    }

    /// Room in memory for a waiting task of `bytes`, if there is some now.
    fn try_room(&self, bytes: usize) -> Option<Reserved> {
        let kib = u32::try_from(bytes.div_ceil(1024).max(1)).unwrap_or(u32::MAX);
        let shared = &self.shared;
        let tasks = shared.queue_tasks.clone().try_acquire_owned().ok()?;
        let kib = shared.queue_kib.clone().try_acquire_many_owned(kib).ok()?;
        Some(Reserved {
            _tasks: tasks,
            _kib: kib,
        })
    }

    /// Moves a task to `PARKED`, then acknowledges (or hands back) its message. A
    /// task from the fan-out goes back to it instead, to be stored in `DELIVERIES`
    /// and parked from there if need be.
    async fn park(self: &Arc<Self>, lane: Arc<Mutex<Lane>>, mut work: Work) {
        if matches!(work.origin, Origin::Direct(_)) {
            return;
        }
        let permit = tokio::select! {
            _ = self.stop.cancelled() => {
                work.release().await;
                return;
            }
            permit = self.parking.clone().acquire_owned() => permit.expect("never closed"),
        };
        work.reserved = None;
        let subject = {
            let mut guard = lane.lock().expect("lane lock");
            guard.parking += 1;
            guard.parked_subject.clone()
        };
        let this = self.clone();
        self.tasks.spawn(async move {
            let Origin::Consumer {
                acker,
                sequence,
                delivered,
            } = &work.origin
            else {
                unreachable!("only tasks from the consumer are parked");
            };
            let stored = this
                .shared
                .parked
                .park(
                    &subject,
                    *sequence,
                    work.task.encoded(),
                    work.traceparent.as_deref(),
                )
                .await;
            {
                let mut guard = lane.lock().expect("lane lock");
                guard.parking -= 1;
                if stored.is_ok() {
                    guard.parked += 1;
                    this.drive(&lane, &mut guard);
                }
                guard.landed.notify_one();
            }
            match stored {
                Ok(()) => {
                    herald_common::metrics::metrics().tasks_parked.inc();
                    if let Err(err) = acker.ack().await {
                        tracing::warn!(error = %err, "cannot acknowledge a parked task");
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cannot park a task; it is offered again");
                    let _ = acker
                        .ack_with(AckKind::Nak(Some(
                            this.shared
                                .state
                                .config
                                .common
                                .redelivery
                                .backoff(*delivered),
                        )))
                        .await;
                }
            }
            drop(permit);
        });
    }

    /// Starts the lane's driver unless it runs.
    fn drive(self: &Arc<Self>, lane: &Arc<Mutex<Lane>>, guard: &mut Lane) {
        if !guard.driving && !self.stop.is_cancelled() {
            guard.driving = true;
            self.tasks
                .spawn(Box::pin(self.clone().driver(lane.clone())));
        }
    }

    /// Starts the lane's attempts, one by one, as its cap, its rate limit and a
    /// fair share of the replica's slots allow; ends when the lane has nothing left.
    async fn driver(self: Arc<Self>, lane: Arc<Mutex<Lane>>) {
        let (tenant, parked_subject, registry_key, permits, landed) = {
            let guard = lane.lock().expect("lane lock");
            (
                crate::slots::Tenant::from(guard.tenant.as_str()),
                guard.parked_subject.clone(),
                guard.registry_key.clone(),
                guard.permits.clone(),
                guard.landed.clone(),
            )
        };
        loop {
            let permit = tokio::select! {
                _ = self.stop.cancelled() => break,
                permit = permits.clone().acquire_owned() => permit.expect("never closed"),
            };
            let next = lane.lock().expect("lane lock").take_next();
            let work = match next {
                Next::Done => return,
                Next::Wait => {
                    drop(permit);
                    tokio::select! {
                        _ = self.stop.cancelled() => break,
                        _ = tokio::time::timeout(Duration::from_secs(1), landed.notified()) => {}
                    }
                    continue;
                }
                Next::Queued(mut work) => {
                    work.reserved = None;
                    work
                }
                Next::Parked(cursor) => {
                    drop(permit);
                    if !self.read_back(&lane, &parked_subject, cursor).await {
                        break;
                    }
                    continue;
                }
            };
            let rate = self.rate_limit(&registry_key);
            if !self.wait_for_rate(&lane, rate).await {
                work.release().await;
                break;
            }
            let slot = tokio::select! {
                _ = self.stop.cancelled() => {
                    work.release().await;
                    break;
                }
                slot = self.shared.slots.acquire(&tenant, work.task.size() as u64) => slot,
            };
            let started = Instant::now();
            lane.lock().expect("lane lock").started(started);
            let this = self.clone();
            let lane = lane.clone();
            // On the heap: an attempt's future is many KiB, and a task's future is
            // moved as a whole when it is spawned and when it ends.
            self.tasks.spawn(async move {
                Box::pin(this.attempt(&lane, work, started, permit)).await;
                drop(slot);
            });
        }
        lane.lock().expect("lane lock").driving = false;
    }

    /// Reads the lane's next parked tasks back from `PARKED`: a batch of what the
    /// lane expects to start soon (like the tasks it keeps in memory), at most
    /// [`FETCH_BATCH`], and only as many as there is room for in memory (each keeps
    /// its share until it starts); `false` when the partition stopped meanwhile.
    async fn read_back(&self, lane: &Mutex<Lane>, subject: &str, cursor: u64) -> bool {
        let (counted, wanted) = {
            let guard = lane.lock().expect("lane lock");
            let wanted = usize::try_from(guard.parked)
                .unwrap_or(usize::MAX)
                .min(guard.queue_limit(Instant::now()))
                .min(FETCH_BATCH);
            (guard.parked, wanted)
        };
        let room = tokio::select! {
            _ = self.stop.cancelled() => return false,
            room = self.room_to_read(wanted) => room,
        };
        // No room for even one: the memory is full for a while; try again later.
        let Some((mut tasks_room, mut kib_room)) = room else {
            return true;
        };
        let wanted = tasks_room.num_permits();
        match self.shared.parked.next_batch(subject, cursor, wanted).await {
            Ok(tasks) if tasks.is_empty() => {
                // What was counted is not there: read already, or a count that
                // drifted (the sweep recounts). Tasks parked during the read stay
                // counted.
                let mut guard = lane.lock().expect("lane lock");
                guard.parked = guard.parked.saturating_sub(counted);
                true
            }
            Ok(tasks) => {
                let now = Instant::now();
                let works = tasks
                    .into_iter()
                    .map(|task| {
                        let kib = task.payload.len().div_ceil(1024).max(1);
                        let reserved =
                            tasks_room
                                .split(1)
                                .zip(kib_room.split(kib))
                                .map(|(tasks, kib)| Reserved {
                                    _tasks: tasks,
                                    _kib: kib,
                                });
                        Work {
                            task: Task::Encoded(task.payload),
                            traceparent: task.traceparent,
                            origin: Origin::Parked(task.sequence),
                            progressed: now,
                            reserved,
                        }
                    })
                    .collect();
                lane.lock().expect("lane lock").fetched(works);
                true
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot read parked tasks; retrying");
                tokio::select! {
                    _ = self.stop.cancelled() => false,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => true,
                }
            }
        }
    }

    /// Room in memory for up to `wanted` parked tasks read back at once: the bytes
    /// of one read and at least one task, waited for up to [`ROOM_WAIT`], and as many
    /// more tasks as are free.
    async fn room_to_read(
        &self,
        wanted: usize,
    ) -> Option<(OwnedSemaphorePermit, OwnedSemaphorePermit)> {
        let shared = &self.shared;
        let room = async {
            let kib = shared
                .queue_kib
                .clone()
                .acquire_many_owned(READ_KIB)
                .await
                .ok()?;
            let tasks = shared.queue_tasks.clone().acquire_owned().await.ok()?;
            Some((tasks, kib))
        };
        let (mut tasks, kib) = tokio::time::timeout(ROOM_WAIT, room).await.ok().flatten()?;
        let more = wanted
            .saturating_sub(1)
            .min(shared.queue_tasks.available_permits());
        if let Ok(more) = u32::try_from(more)
            && more > 0
            && let Ok(permits) = shared.queue_tasks.clone().try_acquire_many_owned(more)
        {
            tasks.merge(permits);
        }
        Some((tasks, kib))
    }

    /// Waits until the endpoint's rate limit lets an attempt start; `false` when the
    /// partition stopped meanwhile.
    async fn wait_for_rate(&self, lane: &Mutex<Lane>, rate: Option<u32>) -> bool {
        loop {
            let Some(wait) = lane.lock().expect("lane lock").rate_wait(rate) else {
                return true;
            };
            tokio::select! {
                _ = self.stop.cancelled() => return false,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One attempt at `work`, then its acknowledgement (or its removal from
    /// `PARKED`); a task whose attempt cannot be recorded is tried again.
    async fn attempt(
        self: &Arc<Self>,
        lane: &Arc<Mutex<Lane>>,
        work: Work,
        started: Instant,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) {
        let subject = lane.lock().expect("lane lock").task_subject.clone();
        // The endpoint's permit is given back as soon as it answered: writing the
        // record (an fsync on a durable broker) is not the endpoint's time.
        let sent = || {
            lane.lock().expect("lane lock").finished(started);
            drop(permit);
        };
        let (state, cut) = (&self.shared.state, &self.shared.cut);
        let traceparent = work.traceparent.as_deref();
        let done = match work.task {
            Task::Decoded(task) => {
                crate::deliver::deliver_task(state, *task, traceparent, cut, sent).await
            }
            Task::Encoded(payload) => {
                crate::deliver::deliver(state, &subject, payload, traceparent, cut, sent).await
            }
        };
        if let Err(crate::deliver::DeliverError::Cut) = done {
            // Offered again at once, to the partition's next owner; a parked task
            // simply stays parked.
            tracing::warn!(
                partition = self.number,
                "an attempt still in flight when the drain's time ran out is abandoned; its task is offered again"
            );
            if let Origin::Consumer { acker, .. } = work.origin {
                let _ = acker.ack_with(AckKind::Nak(None)).await;
            }
            return;
        }
        match (done, work.origin) {
            (Ok(()), Origin::Consumer { acker, .. }) => {
                if let Err(err) = acker.ack().await {
                    tracing::warn!(error = %err, "cannot acknowledge a delivery task");
                }
            }
            (Ok(()), Origin::Direct(done)) => {
                let _ = done.send(());
            }
            (Err(err), Origin::Direct(_)) => {
                tracing::warn!(error = %err, "the task goes back to its fan-out, to be stored and run again");
            }
            (Ok(()), Origin::Parked(sequence)) => {
                for _ in 0..3 {
                    match self.shared.parked.remove(sequence).await {
                        Ok(()) => return,
                        Err(err) => tracing::warn!(error = %err, "cannot remove a parked task"),
                    }
                }
            }
            (
                Err(err),
                Origin::Consumer {
                    acker, delivered, ..
                },
            ) => {
                tracing::warn!(error = %err, "the task will run again");
                let _ = acker
                    .ack_with(AckKind::Nak(Some(
                        self.shared
                            .state
                            .config
                            .common
                            .redelivery
                            .backoff(delivered),
                    )))
                    .await;
            }
            (Err(err), Origin::Parked(sequence)) => {
                tracing::warn!(error = %err, "the parked task will run again");
                tokio::time::sleep(Duration::from_secs(1)).await;
                let mut guard = lane.lock().expect("lane lock");
                guard.reread(sequence);
                self.drive(lane, &mut guard);
            }
        }
    }

    /// Once a second: parks what a lane holds beyond what it will start soon (its
    /// endpoint slowed down), tells the broker the tasks waiting in memory are in
    /// progress, and forgets idle lanes; now and then, recounts the parked backlog.
    async fn sweep(self: Arc<Self>) {
        let mut reconciled = Instant::now();
        let idle = self.shared.state.config.endpoint_idle;
        let progress_after = self.shared.state.config.task_ack_wait() / 3;
        loop {
            if reconciled.elapsed() >= RECONCILE {
                self.reconcile().await;
                reconciled = Instant::now();
            }
            tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = tokio::time::sleep(SWEEP) => {}
            }
            let now = Instant::now();
            for lane in self.lanes() {
                let (spill, progress) = {
                    let mut guard = lane.lock().expect("lane lock");
                    let limit = guard.queue_limit(now);
                    let mut spill = Vec::new();
                    while guard.queue.len() > limit {
                        spill.extend(guard.queue.pop_back());
                    }
                    let mut progress = Vec::new();
                    for work in guard.queue.iter_mut() {
                        if now.duration_since(work.progressed) >= progress_after
                            && let Origin::Consumer { acker, .. } = &work.origin
                        {
                            work.progressed = now;
                            progress.push(acker.clone());
                        }
                    }
                    (spill, progress)
                };
                for acker in progress {
                    let _ = acker.ack_with(AckKind::Progress).await;
                }
                for work in spill.into_iter().rev() {
                    self.park(lane.clone(), work).await;
                }
            }
            // A lane nobody else holds (no driver, no task being placed) that has
            // been idle long enough is forgotten; the map's lock keeps anyone from
            // taking it meanwhile.
            self.lanes
                .lock()
                .expect("partition lock")
                .retain(|_, lane| {
                    let guard = lane.lock().expect("lane lock");
                    !(Arc::strong_count(lane) == 1
                        && guard.is_idle()
                        && guard.last_active.elapsed() >= idle)
                });
        }
    }

    /// Reads how many tasks of each endpoint wait parked, so that tasks parked by an
    /// earlier owner of the partition (or a count that drifted) are worked through.
    /// Only idle lanes take the count: a busy lane reads its parked tasks in order
    /// already, and reading from the start could repeat one in flight.
    async fn reconcile(self: &Arc<Self>) {
        let backlog = match self.shared.parked.backlog(self.number).await {
            Ok(backlog) => backlog,
            Err(err) => {
                tracing::warn!(partition = self.number, error = %err, "cannot read the parked backlog");
                return;
            }
        };
        for (key, count) in backlog {
            let lane = self.lane(&key);
            let mut guard = lane.lock().expect("lane lock");
            if guard.is_idle() {
                guard.parked = count;
                guard.cursor = 0;
                self.drive(&lane, &mut guard);
            }
        }
    }
}
