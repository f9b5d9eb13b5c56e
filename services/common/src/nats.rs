//! The NATS side of every service: connecting, refusing servers without what Herald
//! needs, and the [`Topology`] — every stream, consumer and bucket, provisioned
//! idempotently by whichever service starts first.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv, stream};

use crate::config::CommonConfig;
use crate::{Error, Result};

pub use herald_proto::names::consumer::partition as partition_consumer;
pub use herald_proto::names::header::{
    REGISTRY_REVISION as REGISTRY_REVISION_HEADER, REJECTED_REASON as REJECTED_REASON_HEADER,
};
pub use herald_proto::names::stream::{
    DELIVERIES as DELIVERIES_STREAM, ENDPOINTS_BUCKET, EVENTS as EVENTS_STREAM,
    INGEST as INGEST_STREAM, JOB_CALLBACKS_BUCKET, LEASES_BUCKET, OUTCOMES as OUTCOMES_STREAM,
    PARKED as PARKED_STREAM, REJECTED as REJECTED_STREAM, TENANT_SECRETS_BUCKET,
};
pub use herald_proto::names::subject::{
    INBOX as INBOX_PREFIX, inbox_prefix, schedule as schedule_subject,
};
use herald_proto::names::{consumer as consumers_named, header, subject};

/// How long a job's callback target is remembered after it was last given.
pub const JOB_CALLBACK_TTL: Duration = Duration::from_secs(7 * 86_400);
/// Byte limit of the `endpoints` bucket: at most 1 000 webhooks per tenant by
/// default, a few KiB each, five revisions kept.
pub const ENDPOINTS_MAX_BYTES: i64 = 128 << 20;
/// Byte limit of the `tenant-secrets` bucket: one small value per tenant.
pub const TENANT_SECRETS_MAX_BYTES: i64 = 16 << 20;
/// Byte limit of the `dispatcher-leases` bucket: one entry per replica and per
/// partition, each a few bytes.
pub const LEASES_MAX_BYTES: i64 = 16 << 20;

/// The headers of a record alone on `OUTCOMES`: its type, which readers decode it
/// by.
pub fn record_headers(record_type: herald_proto::names::RecordType) -> async_nats::HeaderMap {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(header::RECORD_TYPE, record_type.as_str());
    headers
}

/// Opens the KV bucket `name`, which provisioning made.
pub async fn bucket(js: &jetstream::Context, name: &str) -> Result<kv::Store> {
    js.get_key_value(name).await.map_err(Error::nats)
}

/// Drops the retry held for one delivery (a manual attempt delivered it).
pub async fn purge_held_retry(
    js: &jetstream::Context,
    tenant: &str,
    endpoint_id: &str,
    delivery_id: &str,
) -> Result<u64> {
    purge_schedules(js, schedule_subject(tenant, endpoint_id, delivery_id)).await
}

/// Drops every retry held for a webhook (it was deleted or disabled).
pub async fn purge_held_retries(
    js: &jetstream::Context,
    tenant: &str,
    endpoint_id: &str,
) -> Result<u64> {
    purge_schedules(js, subject::schedules_of(tenant, endpoint_id)).await
}

/// Drops the held retries on `filter`; returns how many there were.
async fn purge_schedules(js: &jetstream::Context, filter: String) -> Result<u64> {
    let stream = js
        .get_stream(DELIVERIES_STREAM)
        .await
        .map_err(Error::nats)?;
    let purged = stream.purge().filter(filter).await.map_err(Error::nats)?;
    Ok(purged.purged)
}

/// The largest event Herald accepts, however much more the NATS server allows.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;
/// Room kept beside an event in one message: a delivery task wraps the event (ids,
/// trace context, a job's callback target of up to 16 KiB), an attempt record wraps
/// the task (error, response excerpt of up to 4 KiB), and NATS headers ride along
/// (message id, trace context, schedule, a rejection reason). Less than half of it
/// is used at worst.
pub const ENVELOPE_BYTES: usize = 64 * 1024;
/// The smallest `max_payload` Herald runs on: room for events of 64 KiB.
pub const MIN_MAX_PAYLOAD: usize = 2 * ENVELOPE_BYTES;

/// The largest event (request body or NATS message) Herald accepts from a server
/// whose messages may be `max_payload` bytes: what leaves [`ENVELOPE_BYTES`] free,
/// at most [`MAX_EVENT_BYTES`]. A stock server (1 MiB) takes events of 960 KiB;
/// one with `max_payload` of 1 MiB + 64 KiB or more, events of 1 MiB.
pub fn max_event_bytes(max_payload: usize) -> usize {
    max_payload
        .saturating_sub(ENVELOPE_BYTES)
        .min(MAX_EVENT_BYTES)
}

/// Every durable consumer: (stream, name, filter), one per delivery partition
/// included. Each service then sets its own consumer's limits when it starts.
pub fn consumers() -> Vec<(&'static str, String, String)> {
    let named = |stream, name: &str, filter: &str| (stream, name.to_owned(), filter.to_owned());
    let mut all = vec![
        named(INGEST_STREAM, consumers_named::INGEST, subject::INGEST_ALL),
        named(
            EVENTS_STREAM,
            consumers_named::DISPATCHER_FANOUT,
            subject::EVENTS_ALL,
        ),
        named(
            EVENTS_STREAM,
            consumers_named::STATUS_TRACKER_EVENTS,
            subject::EVENTS_ALL,
        ),
        named(
            OUTCOMES_STREAM,
            consumers_named::STATUS_TRACKER,
            subject::OUTCOMES_ALL,
        ),
        named(
            OUTCOMES_STREAM,
            consumers_named::RETRY_SCHEDULER,
            subject::OUTCOMES_FAILED,
        ),
    ];
    all.extend((0..herald_proto::DELIVERY_PARTITIONS).map(|p| {
        (
            DELIVERIES_STREAM,
            partition_consumer(p),
            subject::deliveries_of_partition(p),
        )
    }));
    all
}

/// The single delivery consumer of releases before partitions. Its filter overlaps
/// every partition's, which a work-queue stream refuses, so it is removed.
const LEGACY_DELIVERY_CONSUMER: &str = consumers_named::LEGACY_DISPATCHER;

/// Whether `token` can stand as one token of a subject Herald publishes to.
pub fn is_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A connection to NATS, and the last error the server or the client reported on
/// it (cleared when it connects again), for `/readyz` to say while it is down.
#[derive(Clone)]
pub struct Connection {
    pub client: async_nats::Client,
    pub last_error: crate::nats_auth::LastError,
}

/// Connects to NATS with the configured credential and TLS — to the first of the
/// seed URLs that answers — and checks that the server can run Herald: JetStream
/// enabled, version 2.12 or newer, `max_payload` of at least [`MIN_MAX_PAYLOAD`]
/// (the stock 1 MB is enough; it sizes the largest event, see
/// [`max_event_bytes`]). A credential or certificate the server refuses is
/// [`Error::Refused`], naming the variable to change; an unreachable server is
/// [`Error::Connect`], worth trying again. Whether JetStream answers yet is
/// [`jetstream_ready`]'s to say.
pub async fn connect(config: &CommonConfig, name: &str) -> Result<Connection> {
    let url = crate::nats_auth::redact_url(&config.nats_url);
    let auth = config.nats_auth.clone();
    let last_error = crate::nats_auth::LastError::default();
    let options = async_nats::ConnectOptions::new()
        .name(name)
        .custom_inbox_prefix(inbox_prefix(name))
        .connection_timeout(Duration::from_secs(5))
        .event_callback({
            let (auth, last_error) = (auth.clone(), last_error.clone());
            move |event| {
                let (auth, last_error) = (auth.clone(), last_error.clone());
                async move { last_error.record(&auth, event) }
            }
        });
    let client = auth
        .apply(options)
        .connect(config.nats_servers.clone())
        .await
        .map_err(|e| match auth.refusal(&url, &e) {
            Some(reason) => Error::Refused { reason },
            None => Error::Connect {
                url: url.clone(),
                reason: e.to_string(),
            },
        })?;
    let info = client.server_info();
    // The server reached, when there is a choice.
    let url = if config.nats_servers.len() > 1 {
        format!("nats://{}:{}", info.host, info.port)
    } else {
        url
    };
    if !version_at_least(&info.version, 2, 12) {
        return Err(Error::ServerTooOld {
            url,
            version: info.version,
        });
    }
    if info.max_payload < MIN_MAX_PAYLOAD {
        return Err(Error::PayloadTooSmall {
            url,
            max_payload: info.max_payload,
        });
    }
    if !info.jetstream {
        return Err(Error::NoJetStream { url });
    }
    Ok(Connection { client, last_error })
}

/// Whether JetStream answers on `client`: a server of a cluster still forming
/// (no meta leader yet) does not, which is worth waiting for; an account without
/// JetStream is [`Error::NoJetStream`].
pub async fn jetstream_ready(js: &jetstream::Context) -> Result<()> {
    use jetstream::context::AccountErrorKind;
    match js.query_account().await {
        Ok(_) => Ok(()),
        Err(err) => match err.kind() {
            AccountErrorKind::JetStream(e)
                if e.error_code() == jetstream::ErrorCode::JETSTREAM_NOT_ENABLED_FOR_ACCOUNT
                    || e.error_code() == jetstream::ErrorCode::JETSTREAM_NOT_ENABLED =>
            {
                let info = js.client().server_info();
                Err(Error::NoJetStream {
                    url: format!("nats://{}:{}", info.host, info.port),
                })
            }
            _ => Err(Error::Nats(format!(
                "JetStream is not available yet: {err}"
            ))),
        },
    }
}

/// Connects to NATS and provisions the [`Topology`], each step tried again while
/// it fails for a reason that may pass (see [`crate::startup`]): a server not up
/// yet, JetStream or a stream leader not elected, too few peers for the replicas.
pub async fn start(
    config: &CommonConfig,
    name: &str,
    startup: &crate::startup::Startup,
) -> Result<(Connection, jetstream::Context, Topology)> {
    let auth = &config.nats_auth;
    // Once: the attempts that follow are logged only when they fail.
    tracing::info!(
        url = %crate::nats_auth::redact_url(&config.nats_url),
        credential = auth.credential.vars(),
        tls_ca = auth.tls.ca.is_some(),
        client_certificate = auth.tls.client.is_some(),
        "connecting to NATS"
    );
    let connection = startup
        .retry("connecting to NATS", || connect(config, name))
        .await?;
    let js = jetstream::new(connection.client.clone());
    let topology = Topology::new(config);
    startup
        .retry("provisioning streams", || async {
            jetstream_ready(&js).await?;
            topology.provision(&js).await
        })
        .await?;
    Ok((connection, js, topology))
}

/// Whether a server version string such as `2.12.1` is at least `major.minor`.
pub fn version_at_least(version: &str, major: u64, minor: u64) -> bool {
    let mut parts = version
        .trim_start_matches('v')
        .split(['.', '-'])
        .map(|p| p.parse::<u64>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    found >= (major, minor)
}

/// Every stream and bucket Herald uses, with the settings that apply to all of them.
#[derive(Debug, Clone)]
pub struct Topology {
    pub replicas: usize,
    pub dedupe_window: Duration,
    pub redelivery: crate::consume::Redelivery,
    /// Each stream's byte limit (`docs/storage.md`).
    pub storage: crate::config::StorageLimits,
}

impl Topology {
    pub fn new(config: &CommonConfig) -> Self {
        Topology {
            replicas: config.stream_replicas,
            dedupe_window: config.dedupe_window,
            redelivery: config.redelivery,
            storage: config.storage,
        }
    }

    /// The configuration of each stream, by name. Every stream has a byte limit,
    /// because the broker refuses every write, to every stream, once the store is
    /// full, and a stream without a limit can fill it past what the others have
    /// reserved. The replay streams (`EVENTS`, `REJECTED`) drop their oldest
    /// messages at the limit; the work streams refuse new ones, which their
    /// publishers retry, so no work is dropped.
    pub fn streams(&self) -> Vec<stream::Config> {
        const WEEK: Duration = Duration::from_secs(7 * 86_400);
        let limits = &self.storage;
        let base = |name: &str, subjects: &[&str], retention, max_age, max_bytes: u64| {
            let replay = matches!(name, EVENTS_STREAM | REJECTED_STREAM);
            stream::Config {
                name: name.to_owned(),
                subjects: subjects.iter().map(|s| (*s).to_owned()).collect(),
                retention,
                max_age,
                max_bytes: i64::try_from(max_bytes).unwrap_or(i64::MAX),
                discard: if replay {
                    stream::DiscardPolicy::Old
                } else {
                    stream::DiscardPolicy::New
                },
                storage: stream::StorageType::File,
                num_replicas: self.replicas,
                duplicate_window: self.dedupe_window.min(max_age),
                ..Default::default()
            }
        };
        vec![
            base(
                INGEST_STREAM,
                &[subject::INGEST_ALL],
                stream::RetentionPolicy::WorkQueue,
                WEEK,
                limits.ingest,
            ),
            base(
                EVENTS_STREAM,
                &[subject::EVENTS_ALL],
                stream::RetentionPolicy::Limits,
                WEEK,
                limits.events,
            ),
            stream::Config {
                allow_message_schedules: true,
                ..base(
                    DELIVERIES_STREAM,
                    &[subject::DELIVERIES_ALL, subject::SCHEDULES_ALL],
                    stream::RetentionPolicy::WorkQueue,
                    Duration::from_secs(30 * 86_400),
                    limits.deliveries,
                )
            },
            stream::Config {
                // A busy endpoint's parked tasks are read back many at a time, with
                // batched direct gets.
                allow_direct: true,
                ..base(
                    PARKED_STREAM,
                    &[subject::PARKED_ALL],
                    stream::RetentionPolicy::Limits,
                    Duration::from_secs(30 * 86_400),
                    limits.parked,
                )
            },
            base(
                OUTCOMES_STREAM,
                &[subject::OUTCOMES_ALL],
                stream::RetentionPolicy::Interest,
                WEEK,
                limits.outcomes,
            ),
            base(
                REJECTED_STREAM,
                &[subject::REJECTED_ALL],
                stream::RetentionPolicy::Limits,
                Duration::from_secs(30 * 86_400),
                limits.rejected,
            ),
        ]
    }

    /// Why the server refused stream `name`: replicas or byte limits it cannot give
    /// are configuration errors, naming the variable to change; anything else is
    /// a provisioning error, tried again while start-up waits.
    fn refused(&self, name: &str, error: jetstream::context::CreateStreamError) -> Error {
        use jetstream::ErrorCode;
        use jetstream::context::CreateStreamErrorKind;
        let code = match error.kind() {
            CreateStreamErrorKind::JetStream(e) => Some(e.error_code()),
            _ => None,
        };
        let storage = || {
            format!(
                "{error}: the servers cannot reserve the stream limits \
                 (HERALD_*_MAX_BYTES together, on every server holding a replica) within \
                 their JetStream storage (max_file_store); lower the limits or enlarge the \
                 volume (docs/storage.md)"
            )
        };
        match code {
            Some(ErrorCode::STREAM_REPLICAS_NOT_SUPPORTED) => {
                Error::Config(crate::config::ConfigError::new(
                    crate::config::shared::STREAM_REPLICAS.name,
                    format!(
                        "is {} but the NATS server is not part of a cluster; set 1, \
                         or run a cluster of at least that many servers",
                        self.replicas
                    ),
                ))
            }
            Some(ErrorCode::STORAGE_RESOURCES_EXCEEDED) => Error::Config(
                crate::config::ConfigError::new("HERALD_*_MAX_BYTES", storage()),
            ),
            Some(ErrorCode::INSUFFICIENT_RESOURCES) => Error::Provision {
                what: format!("stream {name}"),
                reason: storage(),
            },
            _ => Error::Provision {
                what: format!("stream {name}"),
                reason: error.to_string(),
            },
        }
    }

    /// Creates every stream and bucket, or brings an existing one to this
    /// configuration. Safe to run from every replica at once.
    pub async fn provision(&self, js: &jetstream::Context) -> Result<()> {
        for config in self.streams() {
            let name = config.name.clone();
            let limit = config.max_bytes;
            let info = js
                .create_or_update_stream(config)
                .await
                .map_err(|e| self.refused(&name, e))?;
            warn_if_above_limit(&info);
            record_limit(name, limit);
        }
        // Every durable consumer exists before anything is published: OUTCOMES keeps
        // a message only for the consumers that exist when it arrives.
        let deliveries = js
            .get_stream(DELIVERIES_STREAM)
            .await
            .map_err(|e| Error::Provision {
                what: format!("stream {DELIVERIES_STREAM}"),
                reason: e.to_string(),
            })?;
        if deliveries
            .consumer_info(LEGACY_DELIVERY_CONSUMER)
            .await
            .is_ok()
        {
            tracing::warn!(
                "removing the delivery consumer of an earlier release; its pending tasks \
                 (on deliveries.<tenant>.<endpoint>) are no longer delivered"
            );
            let _ = deliveries.delete_consumer(LEGACY_DELIVERY_CONSUMER).await;
        }
        for (stream, name, filter) in consumers() {
            let stream = js.get_stream(stream).await.map_err(|e| Error::Provision {
                what: format!("stream {stream}"),
                reason: e.to_string(),
            })?;
            if stream.consumer_info(&name).await.is_err() {
                stream
                    .create_consumer(consumer::pull::Config {
                        durable_name: Some(name.clone()),
                        filter_subjects: vec![filter],
                        ack_policy: consumer::AckPolicy::Explicit,
                        max_deliver: self.redelivery.consumer_max_deliver(),
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| Error::Provision {
                        what: format!("consumer {name}"),
                        reason: e.to_string(),
                    })?;
            }
        }
        self.endpoints_bucket(js).await?;
        self.bucket(
            js,
            JOB_CALLBACKS_BUCKET,
            "Herald per-job callback targets",
            JOB_CALLBACK_TTL,
            i64::try_from(self.storage.job_callbacks).unwrap_or(i64::MAX),
        )
        .await?;
        self.bucket(
            js,
            TENANT_SECRETS_BUCKET,
            "Herald per-tenant secrets",
            Duration::ZERO,
            TENANT_SECRETS_MAX_BYTES,
        )
        .await?;
        Ok(())
    }

    /// A bucket with one value per key; `max_age` zero keeps values forever. At
    /// `max_bytes` a write is refused (a bucket never drops values to make room).
    pub async fn bucket(
        &self,
        js: &jetstream::Context,
        name: &str,
        description: &str,
        max_age: Duration,
        max_bytes: i64,
    ) -> Result<kv::Store> {
        let store = js
            .create_or_update_key_value(kv::Config {
                bucket: name.to_owned(),
                description: description.to_owned(),
                history: 1,
                max_age,
                max_bytes,
                num_replicas: self.replicas,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| Error::Provision {
                what: format!("bucket {name}"),
                reason: e.to_string(),
            })?;
        record_limit(format!("KV_{name}"), max_bytes);
        Ok(store)
    }

    /// The endpoint registry bucket, created when missing.
    pub async fn endpoints_bucket(&self, js: &jetstream::Context) -> Result<kv::Store> {
        js.create_or_update_key_value(kv::Config {
            bucket: ENDPOINTS_BUCKET.to_owned(),
            description: "Herald endpoint definitions".to_owned(),
            history: 5,
            max_bytes: ENDPOINTS_MAX_BYTES,
            num_replicas: self.replicas,
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .map_err(|e| Error::Provision {
            what: format!("bucket {ENDPOINTS_BUCKET}"),
            reason: e.to_string(),
        })
        .inspect(|_| record_limit(format!("KV_{ENDPOINTS_BUCKET}"), ENDPOINTS_MAX_BYTES))
    }
}

/// Exposes a stream's byte limit as `herald_stream_limit_bytes`, for the storage
/// panel and alert to compare the stream's size with.
pub fn record_limit(stream: String, max_bytes: i64) {
    crate::metrics::metrics()
        .stream_limit_bytes
        .get_or_create(&crate::metrics::StreamLabel { stream })
        .set(max_bytes);
}

/// Says when a stream holds more than its limit after the update. A replay
/// stream (discard old) cannot: the server removed its oldest messages down to
/// the limit. A work stream keeps them all (nothing is dropped to make room) and
/// refuses new ones until it has drained below the limit.
fn warn_if_above_limit(info: &stream::Info) {
    let limit = u64::try_from(info.config.max_bytes).unwrap_or(0);
    let held = info.state.bytes;
    if limit > 0 && held > limit {
        tracing::warn!(
            stream = %info.config.name,
            held,
            limit,
            "the stream holds more than its limit: nothing is removed, and new messages are \
             refused (and retried by their publishers) until it has drained below the limit"
        );
    }
}

/// A durable pull consumer shared by every replica of a service.
#[derive(Debug, Clone)]
pub struct DurableConsumer {
    pub stream: &'static str,
    pub name: String,
    pub filter_subjects: Vec<String>,
    /// How many messages may be handed out and not yet acknowledged.
    pub max_ack_pending: i64,
    /// How long a handed-out message waits for an ack before redelivery.
    pub ack_wait: Duration,
}

impl DurableConsumer {
    /// Creates the consumer, or updates it to this configuration.
    pub async fn provision(
        &self,
        js: &jetstream::Context,
        topology: &Topology,
    ) -> Result<consumer::Consumer<consumer::pull::Config>> {
        let stream = js
            .get_stream(self.stream)
            .await
            .map_err(|e| Error::Provision {
                what: format!("stream {}", self.stream),
                reason: e.to_string(),
            })?;
        stream
            .create_consumer(consumer::pull::Config {
                durable_name: Some(self.name.clone()),
                filter_subjects: self.filter_subjects.clone(),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: self.ack_wait,
                max_ack_pending: self.max_ack_pending,
                max_deliver: topology.redelivery.consumer_max_deliver(),
                ..Default::default()
            })
            .await
            .map_err(|e| Error::Provision {
                what: format!("consumer {} on {}", self.name, self.stream),
                reason: e.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stream_has_a_byte_limit_and_only_replay_streams_drop_old_messages() {
        let env = crate::config::MapEnv::new([
            ("HERALD_EVENTS_MAX_BYTES", "40GiB"),
            ("HERALD_REJECTED_MAX_BYTES", "2GiB"),
            ("HERALD_DELIVERIES_MAX_BYTES", "16GiB"),
        ]);
        let topology = Topology::new(&CommonConfig::from_env(&env).unwrap());
        let streams = topology.streams();
        assert_eq!(streams.len(), 6);
        let limits = topology.storage;
        for config in &streams {
            let expected = match config.name.as_str() {
                INGEST_STREAM => limits.ingest,
                EVENTS_STREAM => 40 << 30,
                DELIVERIES_STREAM => 16 << 30,
                PARKED_STREAM => limits.parked,
                OUTCOMES_STREAM => limits.outcomes,
                REJECTED_STREAM => 2 << 30,
                other => panic!("unexpected stream {other}"),
            };
            assert_eq!(config.max_bytes, expected as i64, "{}", config.name);
            let replay = [EVENTS_STREAM, REJECTED_STREAM].contains(&config.name.as_str());
            let discard = if replay {
                stream::DiscardPolicy::Old
            } else {
                stream::DiscardPolicy::New
            };
            assert_eq!(config.discard, discard, "{}", config.name);
        }
    }

    #[test]
    fn default_limits_fit_a_10_gib_volume_with_headroom() {
        let limits = crate::config::StorageLimits::default();
        let streams: i64 = Topology {
            replicas: 1,
            dedupe_window: Duration::from_secs(600),
            redelivery: Default::default(),
            storage: limits,
        }
        .streams()
        .iter()
        .map(|s| s.max_bytes)
        .sum();
        let buckets = limits.job_callbacks as i64
            + ENDPOINTS_MAX_BYTES
            + TENANT_SECRETS_MAX_BYTES
            + LEASES_MAX_BYTES;
        // deploy/nats/values.yaml's arithmetic: at most 8 GiB reserved, the rest
        // of 10 GiB for the servers' own files.
        assert!(streams + buckets <= 8 << 30, "{}", streams + buckets);
    }

    #[test]
    fn version_check_accepts_2_12_and_later() {
        assert!(version_at_least("2.12.0", 2, 12));
        assert!(version_at_least("2.14.6", 2, 12));
        assert!(version_at_least("3.0.0", 2, 12));
        assert!(!version_at_least("2.9.10", 2, 12));
        assert!(!version_at_least("2.11.9", 2, 12));
        assert!(version_at_least("v2.12.1-RC.2", 2, 12));
    }
}
