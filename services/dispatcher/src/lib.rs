//! Herald dispatcher: fans each event out to the endpoints subscribed to it, and
//! delivers each task as a signed HTTP request.
//!
//! # Layout
//! - [`config`]: allowed targets, user agent, timeouts, concurrency.
//! - [`fanout`]: `events.>` → one task per (event, endpoint), handed to its lane
//!   or stored on `deliveries.>`.
//! - [`ownership`]: which replica owns which delivery partition (leases in KV).
//! - [`partition`]: one owned partition: its consumer, per-endpoint lanes, parking.
//! - [`lane`]: one endpoint's cap, rate limit and waiting tasks.
//! - [`parked`]: the `PARKED` stream, where a busy endpoint's excess tasks wait.
//! - [`slots`]: attempts in flight, shared fairly between tenants.
//! - [`deliver`]: one task → HTTP attempt → record on `outcomes.>`.
//! - [`sender`]: the shared HTTP client and one attempt.
//! - [`listen`]: one attempt to a listening session, over NATS request/reply.
//! - [`signing`]: Standard Webhooks and hex signatures.
//! - [`payload`]: the body in each format.
//! - [`ssrf`]: which addresses delivery may reach.
//! - [`test_delivery`]: `POST /v1/webhooks/{id}/test`, answered over request/reply.

#![forbid(unsafe_code)]

pub mod config;
pub mod deliver;
pub mod fanout;
pub mod lane;
pub mod listen;
pub mod ownership;
pub mod parked;
pub mod partition;
pub mod sender;
pub mod signing;
pub mod slots;
pub mod ssrf;
pub mod test_delivery;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use herald_common::health::Readiness;
use herald_common::mirror::Mirror;
use herald_common::nats;
use herald_common::publish::{Publish, PublishError, publish};
use herald_common::registry::{Registry, Secrets};
use herald_common::secrets::OpenError;
use herald_common::startup::Startup;
use herald_proto::Endpoint;
use herald_proto::names::RecordType;
use herald_proto::names::consumer;
use herald_proto::names::stream::callback_secret_key;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use herald_common::service::Started;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Common(#[from] herald_common::Error),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error(transparent)]
    Parked(#[from] parked::ParkError),
    #[error("cannot open the partition leases: {0}")]
    Leases(#[source] jetstream::context::CreateKeyValueError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the dispatcher's handlers share; a clone shares the same [`Shared`]
/// (every fan-out and attempt takes one, and the buckets' handles alone are dozens
/// of allocations to copy).
#[derive(Clone)]
pub struct State(Arc<Shared>);

impl std::ops::Deref for State {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of [`State`].
pub struct Shared {
    pub config: Arc<Config>,
    /// Core NATS, for attempts to listening sessions.
    pub client: async_nats::Client,
    pub jetstream: jetstream::Context,
    /// The webhook registry, mirrored.
    pub registry: Registry,
    /// Per-tenant secrets (the job-callback signing secret), opened.
    pub tenant_secrets: Mirror<String>,
    /// The bucket behind `tenant_secrets`, for secrets the mirror has not seen yet.
    pub tenant_secrets_store: kv::Store,
    /// Job callback targets by `<tenant>.<job_id>`.
    pub job_callbacks: kv::Store,
    pub sender: sender::Sender,
    /// KiB of delivery tasks being published by fan-outs at once.
    pub fan_out_budget: Arc<tokio::sync::Semaphore>,
    /// Publishes fan-out records and succeeded attempts, bundled under load.
    pub records: herald_common::bundle::Bundler,
    /// The delivery partitions this replica owns, for first attempts handed over
    /// by the fan-out.
    pub owned: partition::Owned,
    /// Events whose first attempts were handed over and are not yet over: each
    /// keeps its event unacknowledged, so they are bounded well below the fan-out
    /// consumer's pending limit.
    pub direct_events: Arc<tokio::sync::Semaphore>,
    /// Those events' waits, finished before the dispatcher stops.
    pub fan_outs: tokio_util::task::TaskTracker,
}

/// KiB of tasks all fan-outs together publish at once: a fan-out to many webhooks
/// holds at most this much of encoded copies of its event.
const FAN_OUT_BUDGET_KIB: usize = 32 * 1024;

impl State {
    /// The mirror of the webhook registry.
    pub fn endpoints(&self) -> &Mirror<Endpoint> {
        self.registry.mirror()
    }

    /// The tenant's job-callback signing secret, if one was made: from the mirror,
    /// or — for a secret made a moment ago that the watch has not brought yet — from
    /// the bucket. An error (the bucket could not be read) is worth trying again.
    pub async fn callback_secret(&self, tenant: &str) -> Result<Option<String>, kv::EntryError> {
        let key = callback_secret_key(tenant);
        if let Some(secret) = self.tenant_secrets.get(&key) {
            return Ok(Some(secret.as_ref().clone()));
        }
        let Some(sealed) = self.tenant_secrets_store.get(&key).await? else {
            return Ok(None);
        };
        match open_secret(&self.config.cipher, &sealed) {
            Ok(secret) => Ok(Some(secret)),
            Err(reason) => {
                tracing::error!(%tenant, %reason, "unreadable callback secret");
                Ok(None)
            }
        }
    }

    /// Publishes `payload` once (by `message_id`) and waits for the broker's ack.
    pub async fn publish(
        &self,
        subject: String,
        message_id: &str,
        payload: bytes::Bytes,
    ) -> Result<(), PublishError> {
        publish(&self.jetstream, subject, payload, Publish::once(message_id))
            .await
            .map(drop)
    }

    /// Publishes a record of `record_type` for `OUTCOMES` alone, as
    /// [`publish`](Self::publish) does.
    pub async fn publish_record(
        &self,
        record_type: RecordType,
        subject: String,
        message_id: &str,
        payload: bytes::Bytes,
    ) -> Result<(), PublishError> {
        let options = Publish::once(message_id).headers(nats::record_headers(record_type));
        publish(&self.jetstream, subject, payload, options)
            .await
            .map(drop)
    }
}

impl herald_common::startup::StartError for Error {
    fn is_transient(&self) -> bool {
        match self {
            Error::Common(e) => e.is_transient(),
            Error::Parked(_) | Error::Leases(_) => true,
            Error::Client(_) => false,
        }
    }
}

/// Connects and provisions, each step tried again while NATS is not ready (see
/// [`Startup`]), and prepares fan-out, the delivery partitions and test deliveries.
pub async fn start(
    config: Config,
    startup: &Startup,
    shutdown: CancellationToken,
) -> Result<Started> {
    let (connection, js, topology) =
        nats::start(&config.common, consumer::client::DISPATCHER, startup).await?;
    let client = connection.client.clone();
    let sender = sender::Sender::new(
        ssrf::Policy::new(config.allowed_targets.clone()),
        &config.user_agent,
    )
    .map_err(|e| Error::Client(e.to_string()))?;
    let ack_wait = config.task_ack_wait();
    let opened = startup
        .retry("opening buckets and consumers", || async {
            let registry =
                Registry::open(&js, &topology, Secrets::Open(config.cipher.clone())).await?;
            let tenant_secrets_store = nats::bucket(&js, nats::TENANT_SECRETS_BUCKET).await?;
            let job_callbacks = nats::bucket(&js, nats::JOB_CALLBACKS_BUCKET).await?;
            let fanout = fanout::consumer().provision(&js, &topology).await?;
            let mut partition_consumers = Vec::new();
            for number in 0..herald_proto::DELIVERY_PARTITIONS {
                partition_consumers.push(
                    partition::consumer(number, ack_wait, config.max_in_flight, config.queue_tasks)
                        .provision(&js, &topology)
                        .await?,
                );
            }
            let parked = parked::Parked::open(&js).await?;
            let leases =
                ownership::bucket(&js, config.partition_lease, config.common.stream_replicas)
                    .await
                    .map_err(Error::Leases)?;
            Ok::<_, Error>(Opened {
                registry,
                tenant_secrets_store,
                job_callbacks,
                fanout,
                partition_consumers,
                parked,
                leases,
            })
        })
        .await?;
    let Opened {
        registry,
        tenant_secrets_store,
        job_callbacks,
        fanout,
        partition_consumers,
        parked,
        leases,
    } = opened;
    let registry = registry.mirrored(shutdown.clone());
    let cipher = config.cipher.clone();
    let tenant_secrets = Mirror::start(
        tenant_secrets_store.clone(),
        Arc::new(move |bytes: &[u8]| Ok(open_secret(&cipher, bytes)?)),
        shutdown.clone(),
    );
    let tests = test_delivery::subscribe(&client)
        .await
        .map_err(herald_common::Error::nats)?;
    let readiness = Readiness::new(
        connection,
        &[
            nats::EVENTS_STREAM,
            nats::DELIVERIES_STREAM,
            nats::OUTCOMES_STREAM,
        ],
    )
    .with_check({
        let registry = registry.clone();
        move || {
            let ready = registry.is_ready();
            async move {
                if ready {
                    Ok(())
                } else {
                    Err("endpoint registry is loading".to_owned())
                }
            }
        }
    });
    let slots = slots::Slots::new(slots::Capacity {
        slots: config.max_in_flight,
        bytes: config.in_flight_bytes,
        tenant_slots: config.tenant_max_in_flight,
        tenant_bytes: config.in_flight_bytes / 4,
    });
    let queue_tasks = Arc::new(tokio::sync::Semaphore::new(config.queue_tasks));
    let queue_kib = Arc::new(tokio::sync::Semaphore::new(
        usize::try_from(config.queue_bytes / 1024).unwrap_or(usize::MAX),
    ));
    let (replica_id, lease) = (config.replica_id.clone(), config.partition_lease);
    let config_shutdown_timeout = config.common.shutdown_timeout;
    let records = herald_common::bundle::Bundler::start(js.clone());
    let state = State(Arc::new(Shared {
        config: Arc::new(config),
        client: client.clone(),
        jetstream: js,
        registry,
        tenant_secrets,
        tenant_secrets_store,
        job_callbacks,
        sender,
        fan_out_budget: Arc::new(tokio::sync::Semaphore::new(FAN_OUT_BUDGET_KIB)),
        records,
        owned: partition::Owned::default(),
        direct_events: Arc::new(tokio::sync::Semaphore::new(fanout::DIRECT_EVENTS)),
        fan_outs: tokio_util::task::TaskTracker::new(),
    }));
    // Attempts in flight at SIGTERM get the drain's work window; those still
    // running then are cut, so the drain ends within HERALD_SHUTDOWN_TIMEOUT.
    let cut = CancellationToken::new();
    tokio::spawn({
        let (shutdown, cut) = (shutdown.clone(), cut.clone());
        let window = herald_common::shutdown::work_window(config_shutdown_timeout);
        async move {
            shutdown.cancelled().await;
            tokio::time::sleep(window).await;
            cut.cancel();
        }
    });
    let shared = partition::Shared {
        state: state.clone(),
        slots: slots.clone(),
        queue_tasks: queue_tasks.clone(),
        queue_kib,
        parked,
        cut,
    };
    let start_partition: ownership::Start = {
        let shutdown = shutdown.clone();
        Arc::new(move |number| {
            partition::Partition::start(
                number,
                shared.clone(),
                partition_consumers[number as usize].clone(),
                &shutdown,
            )
        })
    };
    let ownership =
        ownership::Ownership::new(leases, replica_id, lease, start_partition, &shutdown);
    let queue_capacity = state.config.queue_tasks;
    let work = Box::pin(async move {
        // Fanning out before the registry is loaded would skip endpoints.
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = state.endpoints().wait_ready() => {}
        }
        let fanout_state = state.clone();
        let fanout = herald_common::consume::run(
            consumer::DISPATCHER_FANOUT,
            fanout,
            64,
            state.config.common.redelivery,
            shutdown.clone(),
            move |message| {
                let state = fanout_state.clone();
                async move { fanout::handle(&state, message).await }
            },
        );
        let gauges = report_load(slots, queue_tasks, queue_capacity, shutdown.clone());
        let deliver = ownership.run(shutdown.clone());
        let fan_outs = state.fan_outs.clone();
        let tests = test_delivery::serve(tests, client.clone(), state, shutdown);
        tokio::join!(fanout, deliver, tests, gauges);
        // The partitions have stopped: every task handed over is recorded or back
        // with its fan-out, which stores it.
        fan_outs.close();
        fan_outs.wait().await;
        herald_common::consume::flush(&client).await;
    });
    Ok(Started { readiness, work })
}

/// Runs the service until `shutdown`, serving health on `listener` when given.
pub async fn run(
    config: Config,
    listener: Option<TcpListener>,
    shutdown: CancellationToken,
) -> Result<()> {
    let startup = Startup::new(shutdown.clone());
    match start(config, &startup, shutdown.clone()).await {
        Err(Error::Common(herald_common::Error::Stopped)) => Ok(()),
        started => {
            startup.finish();
            started?.run(listener, shutdown).await;
            Ok(())
        }
    }
}

/// What start-up opens on the broker, in one step tried again as a whole.
struct Opened {
    registry: Registry,
    tenant_secrets_store: kv::Store,
    job_callbacks: kv::Store,
    fanout: async_nats::jetstream::consumer::PullConsumer,
    partition_consumers: Vec<async_nats::jetstream::consumer::PullConsumer>,
    parked: parked::Parked,
    leases: kv::Store,
}

/// Keeps the `attempts_in_flight` and `tasks_waiting` gauges current.
async fn report_load(
    slots: slots::Slots,
    queue: Arc<tokio::sync::Semaphore>,
    capacity: usize,
    shutdown: CancellationToken,
) {
    let metrics = herald_common::metrics::metrics();
    loop {
        metrics.attempts_in_flight.set(slots.in_flight() as i64);
        metrics
            .tasks_waiting
            .set(capacity.saturating_sub(queue.available_permits()) as i64);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// A sealed secret from a bucket, opened.
fn open_secret(
    cipher: &herald_common::secrets::Cipher,
    sealed: &[u8],
) -> Result<String, OpenError> {
    let sealed = std::str::from_utf8(sealed).map_err(|_| OpenError::NotUtf8)?;
    cipher.open(sealed)
}
