//! The settings every service shares (NATS, the HTTP listener, streams, drain,
//! logs), those two services share (the secret key, allowed ports), and
//! [`CommonConfig`], read with them.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use super::{ConfigError, Env, MapEnv, Setting, parse_ports};

pub const NATS_URL: Setting = Setting::new(
    "HERALD_NATS_URL",
    "NATS server, or a cluster's seed URLs separated by commas",
)
.default("nats://127.0.0.1:4222")
.more(
    "For example `nats://nats-0:4222,nats://nats-1:4222,nats://nats-2:4222`: Herald \
     connects to the first that answers, in random order, and learns the rest of the \
     cluster from it; must be 2.12 or newer with JetStream; `tls://` requires TLS; \
     `nats://user:password@host` or `nats://token@host` carries a credential (shown as \
     `***` in messages), the same in every seed URL or none. Until NATS is reachable \
     and the streams are provisioned Herald keeps trying, `/readyz` answering 503 with \
     what it waits for ([docs/startup.md](docs/startup.md))",
);
pub const NATS_CREDS: Setting = Setting::new(
    "HERALD_NATS_CREDS",
    "path of a `.creds` file (user JWT and nkey seed) to authenticate with",
);
pub const NATS_NKEY_SEED: Setting = Setting::new(
    "HERALD_NATS_NKEY_SEED",
    "path of a file holding a user nkey seed (`SU...`) to authenticate with",
);
pub const NATS_USER: Setting = Setting::new(
    "HERALD_NATS_USER",
    "user to authenticate with, and `HERALD_NATS_PASSWORD` its password: both or neither",
);
pub const NATS_PASSWORD: Setting = Setting::new(
    "HERALD_NATS_PASSWORD",
    "password of `HERALD_NATS_USER`, taken exactly as given",
);
pub const NATS_TOKEN: Setting = Setting::new(
    "HERALD_NATS_TOKEN",
    "token to authenticate with, taken exactly as given",
)
.more(
    "At most one of the four ways to authenticate (and no credential in the URL \
     besides); see [docs/nats-connect.md](docs/nats-connect.md)",
);
pub const NATS_TLS_CA: Setting = Setting::new(
    "HERALD_NATS_TLS_CA",
    "PEM file of the CA(s) to verify the NATS server with (instead of the system's \
     roots); setting it requires TLS",
)
.unset("the system's roots");
pub const NATS_TLS_CERT: Setting = Setting::new(
    "HERALD_NATS_TLS_CERT",
    "PEM client certificate, for servers with `verify: true` (mutual TLS), and \
     `HERALD_NATS_TLS_KEY` its key: both or neither; setting them requires TLS",
);
pub const NATS_TLS_KEY: Setting =
    Setting::new("HERALD_NATS_TLS_KEY", "PEM key of `HERALD_NATS_TLS_CERT`");
pub const HTTP_ADDR: Setting = Setting::new(
    "HERALD_HTTP_ADDR",
    "API (ingest) and health listener; use `0.0.0.0:8080` in containers",
)
.default("127.0.0.1:8080");
pub const STREAM_REPLICAS: Setting = Setting::new(
    "HERALD_STREAM_REPLICAS",
    "replicas of every stream and bucket (3 on a NATS cluster)",
)
.default("1")
.between("1", "5");
pub const DEDUPE_WINDOW: Setting = Setting::new(
    "HERALD_DEDUPE_WINDOW",
    "how long a repeated event id (and task id) is recognised",
)
.default("10m")
.between("1s", "7d");
/// The default is the longest attempt (30 s) and 5 s to record it, hand back the
/// rest and flush: see `shutdown::work_window`.
pub const SHUTDOWN_TIMEOUT: Setting = Setting::new(
    "HERALD_SHUTDOWN_TIMEOUT",
    "how long a drain may take after SIGTERM",
)
.default("40s")
.more(
    "Work in flight gets all but the last 5 s (a quarter of a shorter drain), which \
     record it and hand the rest back; the default lets the longest attempt (30 s) \
     finish. The trace flush follows, at most 5 s \
     ([docs/drain-budgets.md](docs/drain-budgets.md))",
);
pub const MAX_DELIVERIES: Setting = Setting::new(
    "HERALD_MAX_DELIVERIES",
    "how often a message that cannot be processed is tried before it is parked in \
     `REJECTED` with the reason",
)
.default("20")
.between("2", "1000");
pub const REDELIVERY_BACKOFF_MAX: Setting = Setting::new(
    "HERALD_REDELIVERY_BACKOFF_MAX",
    "the longest wait between two such tries; waits double from 1 s",
)
.default("60s")
.between("100ms", "1h");
pub const RUST_LOG: Setting = Setting::new(
    "RUST_LOG",
    "log level (or `tracing` filter); logs are JSON lines on stdout",
)
.default("info");

/// The byte limit of one stream or bucket: 8MiB (room for eight of the largest
/// messages, 1 MiB events in their envelope) to 16TiB.
const fn stream_bytes(name: &'static str, doc: &'static str, default: &'static str) -> Setting {
    Setting::new(name, doc)
        .default(default)
        .between("8MiB", "16TiB")
}

pub const EVENTS_MAX_BYTES: Setting = stream_bytes(
    "HERALD_EVENTS_MAX_BYTES",
    "bytes `EVENTS` (accepted events, kept up to 7 days for replay) may hold; at the \
     limit the oldest events go first",
    "3GiB",
)
.more("See [docs/storage.md](docs/storage.md) for every limit below");
pub const REJECTED_MAX_BYTES: Setting = stream_bytes(
    "HERALD_REJECTED_MAX_BYTES",
    "bytes `REJECTED` (messages that could not be accepted, kept up to 30 days) may \
     hold; the oldest go first",
    "512MiB",
);
pub const INGEST_MAX_BYTES: Setting = stream_bytes(
    "HERALD_INGEST_MAX_BYTES",
    "bytes `INGEST` (producers' events not yet validated) may hold; beyond, a \
     producer's publish is refused and retried",
    "512MiB",
);
pub const DELIVERIES_MAX_BYTES: Setting = stream_bytes(
    "HERALD_DELIVERIES_MAX_BYTES",
    "bytes `DELIVERIES` (delivery tasks and retries held until due) may hold; beyond, \
     new tasks wait in `EVENTS` and `OUTCOMES`",
    "2GiB",
);
pub const PARKED_MAX_BYTES: Setting = stream_bytes(
    "HERALD_PARKED_MAX_BYTES",
    "bytes `PARKED` (tasks waiting for a busy endpoint) may hold; beyond, tasks wait \
     in `DELIVERIES`",
    "512MiB",
);
pub const OUTCOMES_MAX_BYTES: Setting = stream_bytes(
    "HERALD_OUTCOMES_MAX_BYTES",
    "bytes `OUTCOMES` (attempt records not yet read) may hold; beyond, the attempt is \
     tried again later",
    "1GiB",
);
pub const JOB_CALLBACKS_MAX_BYTES: Setting = stream_bytes(
    "HERALD_JOB_CALLBACKS_MAX_BYTES",
    "bytes the `job-callbacks` bucket (per-job callback targets, kept 7 days) may \
     hold; beyond, storing a new job's callback fails (the API answers 500)",
    "256MiB",
);

/// Read by ingest and the dispatcher.
pub const SECRET_KEY: Setting = Setting::new(
    "HERALD_SECRET_KEY",
    "base64 of 32 random bytes (`openssl rand -base64 32`); encrypts webhook and \
     callback secrets, and webhook and callback header values, at rest",
)
.required();
/// Read by ingest and the dispatcher.
pub const ALLOWED_PORTS: Setting = Setting::new(
    "HERALD_ALLOWED_PORTS",
    "comma-separated ports (`80,443`) webhook and callback URLs may use",
)
.unset("any port")
.rule("ports from 1 to 65535")
.more(
    "Another port is refused with 422 naming it, and the dispatcher refuses to \
     connect to one (a webhook saved before the change: `failed` with the reason, not \
     retried). Set it to the ports your egress firewall allows; the Kubernetes \
     manifests set `80,443`",
);

/// The settings every service reads, in the order README lists them.
pub fn settings() -> &'static [&'static Setting] {
    &[
        &NATS_URL,
        &NATS_CREDS,
        &NATS_NKEY_SEED,
        &NATS_USER,
        &NATS_PASSWORD,
        &NATS_TOKEN,
        &NATS_TLS_CA,
        &NATS_TLS_CERT,
        &NATS_TLS_KEY,
        &HTTP_ADDR,
        &STREAM_REPLICAS,
        &DEDUPE_WINDOW,
        &EVENTS_MAX_BYTES,
        &REJECTED_MAX_BYTES,
        &INGEST_MAX_BYTES,
        &DELIVERIES_MAX_BYTES,
        &PARKED_MAX_BYTES,
        &OUTCOMES_MAX_BYTES,
        &JOB_CALLBACKS_MAX_BYTES,
        &SHUTDOWN_TIMEOUT,
        &MAX_DELIVERIES,
        &REDELIVERY_BACKOFF_MAX,
        &RUST_LOG,
    ]
}

/// `HERALD_ALLOWED_PORTS`: the ports webhook and callback URLs may use, `None`
/// (any) when unset. Ingest refuses other ports when a URL is given; the dispatcher
/// refuses to connect to them.
pub fn allowed_ports(env: &dyn Env) -> Result<Option<BTreeSet<u16>>, ConfigError> {
    ALLOWED_PORTS.read_opt(env, parse_ports)
}

/// Settings every service shares.
#[derive(Clone)]
pub struct CommonConfig {
    /// `HERALD_NATS_URL`: the NATS server, or the cluster's seed URLs separated by
    /// commas, as given (it may hold a credential: show it with
    /// [`redact_url`](crate::nats_auth::redact_url)).
    pub nats_url: String,
    /// The seed URLs of `HERALD_NATS_URL` without their credential: what the client
    /// connects to (the first it reaches; the rest of the cluster it learns then).
    pub nats_servers: Vec<async_nats::ServerAddr>,
    /// `HERALD_NATS_CREDS`, `HERALD_NATS_NKEY_SEED`, `HERALD_NATS_USER` and
    /// `HERALD_NATS_PASSWORD`, `HERALD_NATS_TOKEN`, `HERALD_NATS_TLS_*`: how Herald
    /// proves itself to NATS and checks the server, files read and checked here.
    pub nats_auth: crate::nats_auth::NatsAuth,
    /// `HERALD_HTTP_ADDR`: the API (ingest) or health/metrics (other services) listener.
    pub http_addr: SocketAddr,
    /// `HERALD_STREAM_REPLICAS`: replicas of each stream and bucket; 3 on a cluster.
    pub stream_replicas: usize,
    /// `HERALD_DEDUPE_WINDOW`: how long the broker remembers event and task ids, so a
    /// repeated publish within it is stored once.
    pub dedupe_window: Duration,
    /// `HERALD_SHUTDOWN_TIMEOUT`: how long a drain may take before the process exits.
    pub shutdown_timeout: Duration,
    /// `HERALD_MAX_DELIVERIES` and `HERALD_REDELIVERY_BACKOFF_MAX`: how often a
    /// message that cannot be processed is tried before it is parked in `REJECTED`.
    pub redelivery: crate::consume::Redelivery,
    /// `HERALD_<STREAM>_MAX_BYTES`: how many bytes each stream may hold, so that
    /// together they never fill the broker's store (see [`StorageLimits`]).
    pub storage: StorageLimits,
}

/// The byte limit of every stream and bucket whose size depends on traffic, one
/// variable each (`docs/storage.md`). The broker reserves each limit on every
/// server holding a replica, so their sum must fit the servers' `max_file_store`;
/// with every stream limited, none can take another's room.
///
/// `EVENTS` and `REJECTED` are kept for replay: at their limit the oldest
/// messages go first. The others hold work: at their limit a publish is refused,
/// which the publisher handles as it does any failed publish (it tries again
/// later), so no work is dropped to make room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageLimits {
    /// `HERALD_INGEST_MAX_BYTES`: producers' events not yet validated.
    pub ingest: u64,
    /// `HERALD_EVENTS_MAX_BYTES`: accepted events, kept 7 days for replay.
    pub events: u64,
    /// `HERALD_DELIVERIES_MAX_BYTES`: delivery tasks and held retries.
    pub deliveries: u64,
    /// `HERALD_PARKED_MAX_BYTES`: tasks waiting for a busy endpoint.
    pub parked: u64,
    /// `HERALD_OUTCOMES_MAX_BYTES`: attempt records not yet read by all readers.
    pub outcomes: u64,
    /// `HERALD_REJECTED_MAX_BYTES`: messages that could not be accepted, kept 30 days.
    pub rejected: u64,
    /// `HERALD_JOB_CALLBACKS_MAX_BYTES`: per-job callback targets, kept 7 days.
    pub job_callbacks: u64,
}

impl StorageLimits {
    /// The variables, in stream order. Their defaults make 7.75 GiB in all, with
    /// the fixed buckets' 160 MiB under 8 GiB, which fits the NATS chart's stock
    /// 10Gi volume and a developer's disk.
    pub const VARIABLES: [Setting; 7] = [
        INGEST_MAX_BYTES,
        EVENTS_MAX_BYTES,
        DELIVERIES_MAX_BYTES,
        PARKED_MAX_BYTES,
        OUTCOMES_MAX_BYTES,
        REJECTED_MAX_BYTES,
        JOB_CALLBACKS_MAX_BYTES,
    ];

    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let mut values = [0u64; 7];
        for (value, setting) in values.iter_mut().zip(&Self::VARIABLES) {
            *value = setting.bytes(env)?;
        }
        let [
            ingest,
            events,
            deliveries,
            parked,
            outcomes,
            rejected,
            job_callbacks,
        ] = values;
        Ok(StorageLimits {
            ingest,
            events,
            deliveries,
            parked,
            outcomes,
            rejected,
            job_callbacks,
        })
    }
}

impl Default for StorageLimits {
    fn default() -> Self {
        Self::from_env(&MapEnv::default()).expect("the defaults are within range")
    }
}

impl std::fmt::Debug for CommonConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password or token.
        f.debug_struct("CommonConfig")
            .field("nats_url", &crate::nats_auth::redact_url(&self.nats_url))
            .field("nats_auth", &self.nats_auth)
            .field("http_addr", &self.http_addr)
            .field("stream_replicas", &self.stream_replicas)
            .field("dedupe_window", &self.dedupe_window)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("redelivery", &self.redelivery)
            .field("storage", &self.storage)
            .finish()
    }
}

impl CommonConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let nats_url = NATS_URL.read(env, super::text)?;
        let nats_servers = crate::nats_auth::server_addrs(&nats_url)?;
        let nats_auth = crate::nats_auth::NatsAuth::from_env(env, &nats_url)?;
        let http_addr = HTTP_ADDR.parse(env)?;
        let stream_replicas = STREAM_REPLICAS.parse(env)?;
        let dedupe_window = DEDUPE_WINDOW.duration(env)?;
        let shutdown_timeout = SHUTDOWN_TIMEOUT.duration(env)?;
        let redelivery = redelivery(env)?;
        let storage = StorageLimits::from_env(env)?;
        Ok(CommonConfig {
            nats_url,
            nats_servers,
            nats_auth,
            http_addr,
            stream_replicas,
            dedupe_window,
            shutdown_timeout,
            redelivery,
            storage,
        })
    }
}

/// `HERALD_MAX_DELIVERIES` and `HERALD_REDELIVERY_BACKOFF_MAX`.
pub fn redelivery(env: &dyn Env) -> Result<crate::consume::Redelivery, ConfigError> {
    Ok(crate::consume::Redelivery {
        max_deliveries: MAX_DELIVERIES.parse(env)?,
        backoff_max: REDELIVERY_BACKOFF_MAX.duration(env)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_limits_are_sizes_within_range() {
        let limits = StorageLimits::default();
        assert_eq!(limits.events, 3 << 30);
        assert_eq!(limits.rejected, 512 << 20);
        let env = MapEnv::new([
            ("HERALD_EVENTS_MAX_BYTES", "40GiB"),
            ("HERALD_DELIVERIES_MAX_BYTES", "64MiB"),
        ]);
        let limits = StorageLimits::from_env(&env).unwrap();
        assert_eq!((limits.events, limits.deliveries), (40 << 30, 64 << 20));
        let env = MapEnv::new([("HERALD_REJECTED_MAX_BYTES", "1MiB")]);
        let err = CommonConfig::from_env(&env).unwrap_err();
        assert_eq!(err.var, "HERALD_REJECTED_MAX_BYTES");
        assert_eq!(err.reason, "must be between 8MiB and 16TiB");
        let env = MapEnv::new([("HERALD_OUTCOMES_MAX_BYTES", "lots")]);
        assert_eq!(
            CommonConfig::from_env(&env).unwrap_err().var,
            "HERALD_OUTCOMES_MAX_BYTES"
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        let env = MapEnv::new([("HERALD_HTTP_ADDR", "not-an-address")]);
        let err = CommonConfig::from_env(&env).unwrap_err();
        assert_eq!(err.var, "HERALD_HTTP_ADDR");
        assert!(err.to_string().contains("HERALD_HTTP_ADDR"));

        let env = MapEnv::new([("HERALD_STREAM_REPLICAS", "9")]);
        assert_eq!(
            CommonConfig::from_env(&env).unwrap_err().var,
            "HERALD_STREAM_REPLICAS"
        );
    }

    #[test]
    fn defaults_apply_when_unset() {
        let config = CommonConfig::from_env(&MapEnv::default()).unwrap();
        assert_eq!(config.nats_url, "nats://127.0.0.1:4222");
        assert_eq!(config.stream_replicas, 1);
        assert_eq!(config.shutdown_timeout, Duration::from_secs(40));
    }
}
