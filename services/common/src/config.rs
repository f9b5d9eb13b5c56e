//! Configuration from environment variables with the `HERALD_` prefix (plus
//! `DATABASE_URL` and `RUST_LOG`). Values are parsed once, at start-up; a bad value
//! stops the service with a message naming the variable.
//!
//! Services read the environment through [`Env`], so tests hand them a map instead
//! of changing the process environment.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

/// Where configuration values come from.
pub trait Env: Send + Sync {
    fn var(&self, key: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemEnv;

impl Env for SystemEnv {
    fn var(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

/// A fixed set of variables, for tests and embedding.
#[derive(Debug, Clone, Default)]
pub struct MapEnv(pub HashMap<String, String>);

impl MapEnv {
    pub fn new<K: Into<String>, V: Into<String>>(vars: impl IntoIterator<Item = (K, V)>) -> Self {
        MapEnv(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.0.insert(key.into(), value.into());
        self
    }
}

impl Env for MapEnv {
    fn var(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
}

/// A configuration value that cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid configuration: {var}: {reason}")]
pub struct ConfigError {
    pub var: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(var: &str, reason: impl Into<String>) -> Self {
        ConfigError {
            var: var.to_owned(),
            reason: reason.into(),
        }
    }
}

/// A set, non-empty variable (surrounding white space removed).
pub fn get(env: &dyn Env, key: &str) -> Option<String> {
    env.var(key)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// A variable parsed with `FromStr`, or `default` when unset.
pub fn parse_or<T: FromStr>(env: &dyn Env, key: &str, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match get(env, key) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|e| ConfigError::new(key, format!("`{v}` is not valid: {e}"))),
    }
}

/// A number of at least `min`, or `default` when unset; below it, `must be at least
/// <min>`.
pub fn at_least<T>(env: &dyn Env, key: &str, default: T, min: T) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + std::fmt::Display,
    T::Err: std::fmt::Display,
{
    let value = parse_or(env, key, default)?;
    if value < min {
        return Err(ConfigError::new(key, format!("must be at least {min}")));
    }
    Ok(value)
}

/// A number within `range`, or `default` when unset; outside it, `must be between
/// <start> and <end>`.
pub fn parse_in<T>(
    env: &dyn Env,
    key: &str,
    default: T,
    range: RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + std::fmt::Display,
    T::Err: std::fmt::Display,
{
    within(key, parse_or(env, key, default)?, &range, T::to_string)
}

/// `value` when `range` holds it; otherwise `must be between <start> and <end>`,
/// each bound written by `show` as the variable takes it.
fn within<T: PartialOrd>(
    key: &str,
    value: T,
    range: &RangeInclusive<T>,
    show: impl Fn(&T) -> String,
) -> Result<T, ConfigError> {
    if !range.contains(&value) {
        return Err(ConfigError::new(
            key,
            format!(
                "must be between {} and {}",
                show(range.start()),
                show(range.end())
            ),
        ));
    }
    Ok(value)
}

/// A boolean: `true`/`false`, `1`/`0`, `yes`/`no`.
pub fn bool_or(env: &dyn Env, key: &str, default: bool) -> Result<bool, ConfigError> {
    match get(env, key)
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => Ok(default),
        Some("true" | "1" | "yes") => Ok(true),
        Some("false" | "0" | "no") => Ok(false),
        Some(other) => Err(ConfigError::new(
            key,
            format!("`{other}` is not a boolean (true or false)"),
        )),
    }
}

/// A variable read with `parse`, or `default` when unset; `parse`'s reason names
/// what is wrong.
fn read_or<T>(
    env: &dyn Env,
    key: &str,
    default: T,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    match get(env, key) {
        None => Ok(default),
        Some(v) => parse(&v).map_err(|reason| ConfigError::new(key, reason)),
    }
}

/// A duration such as `250ms`, `30s`, `5m`, `2h` or `7d`, or `default` when unset.
pub fn duration_or(env: &dyn Env, key: &str, default: Duration) -> Result<Duration, ConfigError> {
    read_or(env, key, default, parse_duration)
}

/// A duration within `range`, or `default` when unset; outside it, `must be
/// between 1s and 30s` (the bounds as [`parse_duration`] reads them).
pub fn duration_in(
    env: &dyn Env,
    key: &str,
    default: Duration,
    range: RangeInclusive<Duration>,
) -> Result<Duration, ConfigError> {
    within(key, duration_or(env, key, default)?, &range, |d| {
        format_duration(*d)
    })
}

/// `duration` in its largest whole unit, as [`parse_duration`] reads it: `7d`,
/// `1h`, `5m`, `30s`, `100ms`.
fn format_duration(duration: Duration) -> String {
    let ms = duration.as_millis();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms >= size && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Parses `250ms`, `30s`, `5m`, `2h` or `7d`.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{value}` needs a unit (ms, s, m, h or d)"))?;
    let (number, unit) = value.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{value}` is not a duration like 30s, 5m or 2h"))?;
    let seconds = match unit {
        "ms" => return Ok(Duration::from_millis(number)),
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "`{value}` has an unknown unit (use ms, s, m, h or d)"
            ));
        }
    };
    number
        .checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{value}` is too long"))
}

/// A size such as `64MiB`, `512KiB`, `1GiB` or a plain number of bytes, or
/// `default` when unset.
pub fn bytes_or(env: &dyn Env, key: &str, default: u64) -> Result<u64, ConfigError> {
    read_or(env, key, default, parse_bytes)
}

/// A size within `range`, or `default` when unset; outside it, `must be between
/// 8MiB and 16TiB` (the bounds as [`parse_bytes`] reads them).
pub fn bytes_in(
    env: &dyn Env,
    key: &str,
    default: u64,
    range: RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    within(key, bytes_or(env, key, default)?, &range, |b| {
        format_bytes(*b)
    })
}

/// `bytes` in its largest whole binary unit, as [`parse_bytes`] reads it: `16TiB`,
/// `8MiB`, `1500B`.
pub fn format_bytes(bytes: u64) -> String {
    for (unit, shift) in [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        let size = 1u64 << shift;
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes}B")
}

/// Parses `64MiB`, `512KiB`, `1GiB`, `2TiB` (also `KB`, `MB`, `GB`, `TB` as the
/// same powers of 1024) or a plain number of bytes.
pub fn parse_bytes(value: &str) -> Result<u64, String> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{value}` is not a size like 64MiB or 512KiB"))?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "KB" | "K" => 1 << 10,
        "MiB" | "MB" | "M" => 1 << 20,
        "GiB" | "GB" | "G" => 1 << 30,
        "TiB" | "TB" | "T" => 1 << 40,
        _ => {
            return Err(format!(
                "`{value}` has an unknown unit (use KiB, MiB, GiB or TiB)"
            ));
        }
    };
    number
        .checked_mul(scale)
        .ok_or_else(|| format!("`{value}` is too large"))
}

/// `HERALD_ALLOWED_PORTS`: the ports webhook and callback URLs may use, `None`
/// (any) when unset. Ingest refuses other ports when a URL is given; the dispatcher
/// refuses to connect to them.
pub fn allowed_ports(
    env: &dyn Env,
) -> Result<Option<std::collections::BTreeSet<u16>>, ConfigError> {
    get(env, "HERALD_ALLOWED_PORTS")
        .map(|ports| parse_ports(&ports))
        .transpose()
        .map_err(|reason| ConfigError::new("HERALD_ALLOWED_PORTS", reason))
}

/// `80,443`: ports from 1 to 65535, comma-separated.
fn parse_ports(value: &str) -> Result<std::collections::BTreeSet<u16>, String> {
    let ports = value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.parse::<u16>() {
            Ok(port) if port > 0 => Ok(port),
            _ => Err(format!("`{p}` is not a port from 1 to 65535")),
        })
        .collect::<Result<std::collections::BTreeSet<_>, _>>()?;
    if ports.is_empty() {
        return Err("must list at least one port, or be unset for any".into());
    }
    Ok(ports)
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
    /// The variables, in stream order, with their defaults: 7.75 GiB in all, with
    /// the fixed buckets' 160 MiB under 8 GiB, which fits the NATS chart's stock
    /// 10Gi volume and a developer's disk.
    pub const VARIABLES: [(&'static str, u64); 7] = [
        ("HERALD_INGEST_MAX_BYTES", 512 << 20),
        ("HERALD_EVENTS_MAX_BYTES", 3 << 30),
        ("HERALD_DELIVERIES_MAX_BYTES", 2 << 30),
        ("HERALD_PARKED_MAX_BYTES", 512 << 20),
        ("HERALD_OUTCOMES_MAX_BYTES", 1 << 30),
        ("HERALD_REJECTED_MAX_BYTES", 512 << 20),
        ("HERALD_JOB_CALLBACKS_MAX_BYTES", 256 << 20),
    ];
    /// The smallest limit: room for eight of the largest messages (1 MiB events
    /// in their envelope).
    pub const MIN: u64 = 8 << 20;
    /// The largest limit.
    pub const MAX: u64 = 16 << 40;

    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let mut values = [0u64; 7];
        for (value, (var, default)) in values.iter_mut().zip(Self::VARIABLES) {
            *value = bytes_in(env, var, default, Self::MIN..=Self::MAX)?;
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
        let nats_url =
            get(env, "HERALD_NATS_URL").unwrap_or_else(|| "nats://127.0.0.1:4222".into());
        let nats_servers = crate::nats_auth::server_addrs(&nats_url)?;
        let nats_auth = crate::nats_auth::NatsAuth::from_env(env, &nats_url)?;
        let http_addr = parse_or(
            env,
            "HERALD_HTTP_ADDR",
            SocketAddr::from(([127, 0, 0, 1], 8080)),
        )?;
        let stream_replicas = parse_in(env, "HERALD_STREAM_REPLICAS", 1usize, 1..=5)?;
        let dedupe_window = duration_in(
            env,
            "HERALD_DEDUPE_WINDOW",
            Duration::from_secs(600),
            Duration::from_secs(1)..=Duration::from_secs(7 * 86_400),
        )?;
        // The longest attempt (30 s) and 5 s to record it, hand back the rest and
        // flush: see `shutdown::work_window`.
        let shutdown_timeout =
            duration_or(env, "HERALD_SHUTDOWN_TIMEOUT", Duration::from_secs(40))?;
        let defaults = crate::consume::Redelivery::default();
        let max_deliveries = parse_in(
            env,
            "HERALD_MAX_DELIVERIES",
            defaults.max_deliveries,
            2..=1000,
        )?;
        let backoff_max = duration_in(
            env,
            "HERALD_REDELIVERY_BACKOFF_MAX",
            defaults.backoff_max,
            Duration::from_millis(100)..=Duration::from_secs(3600),
        )?;
        let storage = StorageLimits::from_env(env)?;
        Ok(CommonConfig {
            storage,
            redelivery: crate::consume::Redelivery {
                max_deliveries,
                backoff_max,
            },
            nats_url,
            nats_servers,
            nats_auth,
            http_addr,
            stream_replicas,
            dedupe_window,
            shutdown_timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5y").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("99999999999999999d").is_err(), "no overflow");
    }

    #[test]
    fn bounds_are_named_as_they_are_written() {
        for (duration, text) in [
            (Duration::from_millis(100), "100ms"),
            (Duration::from_millis(1500), "1500ms"),
            (Duration::from_secs(30), "30s"),
            (Duration::from_secs(300), "5m"),
            (Duration::from_secs(3600), "1h"),
            (Duration::from_secs(7 * 86_400), "7d"),
        ] {
            assert_eq!(format_duration(duration), text);
            assert_eq!(parse_duration(text).unwrap(), duration);
        }
        let env = MapEnv::new([("A", "0"), ("B", "9"), ("C", "2m")]);
        assert_eq!(
            at_least(&env, "A", 5, 1).unwrap_err().reason,
            "must be at least 1"
        );
        assert_eq!(
            parse_in(&env, "B", 1, 1..=5).unwrap_err().reason,
            "must be between 1 and 5"
        );
        let range = Duration::from_secs(1)..=Duration::from_secs(30);
        assert_eq!(
            duration_in(&env, "C", Duration::from_secs(5), range.clone())
                .unwrap_err()
                .reason,
            "must be between 1s and 30s"
        );
        assert_eq!(
            duration_in(&env, "unset", Duration::from_secs(5), range).unwrap(),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_bytes("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("512KiB").unwrap(), 512 << 10);
        assert_eq!(parse_bytes("1048576").unwrap(), 1 << 20);
        assert!(parse_bytes("64 parsecs").is_err());
        assert!(parse_bytes("MiB").is_err());
        assert_eq!(parse_bytes("2TiB").unwrap(), 2 << 40);
        assert!(parse_bytes("99999999TiB").is_err(), "no overflow");
        for (bytes, text) in [(8 << 20, "8MiB"), (16 << 40, "16TiB"), (1500, "1500B")] {
            assert_eq!(format_bytes(bytes), text);
            assert_eq!(parse_bytes(text).unwrap(), bytes);
        }
    }

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
