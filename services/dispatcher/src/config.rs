//! The dispatcher's configuration.
//! Each variable it reads beyond the shared ones is a [`Setting`] declared here
//! and listed in [`SETTINGS`].

use std::time::Duration;

use herald_common::config::shared::{ALLOWED_PORTS, SECRET_KEY};
use herald_common::config::{CommonConfig, ConfigError, Env, Setting, from_str, get};
use ipnet::IpNet;

use crate::ssrf::AllowedTargets;

pub const ALLOWED_TARGETS: Setting = Setting::new(
    "HERALD_ALLOWED_TARGETS",
    "comma-separated CIDRs delivery may reach although private (loopback, RFC 1918, \
     link-local, CGNAT, ...)",
)
.unset("no private network");
pub const USER_AGENT: Setting =
    Setting::new("HERALD_USER_AGENT", "`User-Agent` of deliveries").derived("`Herald/<version>`");
/// At most the longest attempt ([`herald_common::shutdown::LONGEST_ATTEMPT`]), which
/// the drain budget leaves time for.
pub const DELIVERY_TIMEOUT: Setting =
    Setting::new("HERALD_DELIVERY_TIMEOUT", "time limit of one HTTP attempt")
        .default("30s")
        .between("1s", "30s");
pub const MAX_IN_FLIGHT: Setting = Setting::new(
    "HERALD_MAX_IN_FLIGHT",
    "deliveries one dispatcher runs at once",
)
.default("512")
.at_least("1");
pub const ENDPOINT_CONCURRENCY: Setting = Setting::new(
    "HERALD_ENDPOINT_CONCURRENCY",
    "deliveries in flight to one webhook at once, across all dispatcher replicas",
)
.default("10")
.at_least("1");
pub const TENANT_MAX_IN_FLIGHT: Setting = Setting::new(
    "HERALD_TENANT_MAX_IN_FLIGHT",
    "deliveries one tenant may have in flight on one dispatcher",
)
.derived("a quarter of `HERALD_MAX_IN_FLIGHT`")
.rule("between 1 and HERALD_MAX_IN_FLIGHT");
pub const DISPATCH_MEMORY: Setting = Setting::new(
    "HERALD_DISPATCH_MEMORY",
    "bytes of tasks one dispatcher holds: a quarter for tasks waiting in memory, the \
     rest for attempts in flight",
)
.default("128MiB")
.at_least("16MiB")
.why("a quarter of it must hold the largest task");
pub const DISPATCH_QUEUE: Setting = Setting::new(
    "HERALD_DISPATCH_QUEUE",
    "tasks one dispatcher keeps in memory waiting for their endpoint; beyond it (or \
     the memory) they are parked",
)
.default("10000")
.at_least("1");
pub const ENDPOINT_IDLE: Setting = Setting::new(
    "HERALD_ENDPOINT_IDLE",
    "how long a dispatcher keeps an idle endpoint's limits and response times",
)
.default("5m");
pub const PARTITION_LEASE: Setting = Setting::new(
    "HERALD_PARTITION_LEASE",
    "how long a dispatcher's claim on a delivery partition lasts unless renewed; a \
     dead dispatcher's partitions move after it. Same on every replica",
)
.default("10s")
.between("1s", "5m");
pub const REPLICA_ID: Setting = Setting::new(
    "HERALD_REPLICA_ID",
    "this dispatcher's name among the replicas",
)
.derived("`<host name>-<process id>`")
.rule("1 to 128 letters, digits, `_` or `-`");

/// What the dispatcher reads besides the settings every service shares, in the
/// order README lists them.
pub const SETTINGS: &[&Setting] = &[
    &SECRET_KEY,
    &ALLOWED_TARGETS,
    &ALLOWED_PORTS,
    &USER_AGENT,
    &DELIVERY_TIMEOUT,
    &MAX_IN_FLIGHT,
    &ENDPOINT_CONCURRENCY,
    &TENANT_MAX_IN_FLIGHT,
    &DISPATCH_MEMORY,
    &DISPATCH_QUEUE,
    &ENDPOINT_IDLE,
    &PARTITION_LEASE,
    &REPLICA_ID,
];

/// Every setting the dispatcher reads: the shared ones, then its own.
pub fn settings() -> Vec<&'static Setting> {
    herald_common::config::settings()
        .iter()
        .chain(SETTINGS)
        .copied()
        .collect()
}

#[derive(Debug, Clone)]
pub struct Config {
    pub common: CommonConfig,
    /// `HERALD_ALLOWED_TARGETS`: CIDRs delivery may reach although private; and
    /// `HERALD_ALLOWED_PORTS`: the only ports it connects to (any when unset), so
    /// that a NetworkPolicy on egress ports and the API agree.
    pub allowed_targets: AllowedTargets,
    /// `HERALD_USER_AGENT`: the `User-Agent` of every delivery.
    pub user_agent: String,
    /// `HERALD_DELIVERY_TIMEOUT`: how long one HTTP attempt may take.
    pub delivery_timeout: Duration,
    /// `HERALD_MAX_IN_FLIGHT`: deliveries one dispatcher runs at once.
    pub max_in_flight: usize,
    /// `HERALD_ENDPOINT_CONCURRENCY`: attempts in flight to one endpoint at once,
    /// across all dispatcher replicas (one replica owns each endpoint).
    pub endpoint_concurrency: usize,
    /// `HERALD_TENANT_MAX_IN_FLIGHT`: attempts one tenant may have in flight on one
    /// dispatcher, so a tenant whose endpoints hang cannot hold every slot.
    pub tenant_max_in_flight: usize,
    /// `HERALD_DISPATCH_MEMORY`: bytes of tasks one dispatcher holds in flight; a
    /// quarter of it is the most one tenant holds.
    pub in_flight_bytes: u64,
    /// `HERALD_DISPATCH_QUEUE`: tasks one dispatcher keeps in memory waiting for
    /// their endpoint (all endpoints together); beyond it they are parked.
    pub queue_tasks: usize,
    /// Bytes of the tasks waiting in memory, at most (a quarter of
    /// `HERALD_DISPATCH_MEMORY`).
    pub queue_bytes: u64,
    /// `HERALD_ENDPOINT_IDLE`: how long an endpoint's in-memory state (limits,
    /// response times) outlives its last task.
    pub endpoint_idle: Duration,
    /// `HERALD_PARTITION_LEASE`: how long a dispatcher's claim on a delivery
    /// partition lasts unless renewed; a dead replica's partitions move after it.
    pub partition_lease: Duration,
    /// `HERALD_REPLICA_ID`: this replica's name among the dispatchers.
    pub replica_id: String,
    /// `HERALD_SECRET_KEY`: opens the webhook secrets and header values stored in the
    /// registry, and job callbacks' header values.
    pub cipher: herald_common::secrets::Cipher,
}

impl Config {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_env(env)?;
        let allowed_targets = AllowedTargets {
            networks: parse_cidrs(ALLOWED_TARGETS.get(env).as_deref().unwrap_or(""))
                .map_err(|reason| ALLOWED_TARGETS.error(reason.to_string()))?,
            ports: herald_common::config::allowed_ports(env)?,
        };
        let user_agent = USER_AGENT
            .get(env)
            .unwrap_or_else(|| format!("Herald/{}", env!("CARGO_PKG_VERSION")));
        if reqwest::header::HeaderValue::from_str(&user_agent).is_err() {
            return Err(USER_AGENT.error("is not a valid header value"));
        }
        let delivery_timeout = DELIVERY_TIMEOUT.duration(env)?;
        let max_in_flight: usize = MAX_IN_FLIGHT.parse(env)?;
        let endpoint_concurrency = ENDPOINT_CONCURRENCY.parse(env)?;
        let tenant_max_in_flight = TENANT_MAX_IN_FLIGHT
            .read_opt(env, from_str)?
            .unwrap_or((max_in_flight / 4).max(1));
        if tenant_max_in_flight == 0 || tenant_max_in_flight > max_in_flight {
            return Err(TENANT_MAX_IN_FLIGHT.out_of_range());
        }
        let memory = DISPATCH_MEMORY.bytes(env)?;
        let queue_tasks = DISPATCH_QUEUE.parse(env)?;
        let endpoint_idle = ENDPOINT_IDLE.duration(env)?;
        let partition_lease = PARTITION_LEASE.duration(env)?;
        let replica_id = match REPLICA_ID.get(env) {
            Some(id) => id,
            None => default_replica_id(env),
        };
        // One token of its key in the leases bucket, `members.<replica>`.
        if replica_id.len() > 128 || !herald_common::nats::is_token(&replica_id) {
            return Err(REPLICA_ID.out_of_range());
        }
        let cipher = herald_common::secrets::Cipher::from_env(env)?;
        Ok(Config {
            tenant_max_in_flight,
            in_flight_bytes: memory - memory / 4,
            queue_tasks,
            queue_bytes: memory / 4,
            endpoint_idle,
            partition_lease,
            replica_id,
            common,
            allowed_targets,
            user_agent,
            delivery_timeout,
            max_in_flight,
            endpoint_concurrency,
            cipher,
        })
    }
}

/// `<host name>-<process id>`, made safe for a key: stable while a container
/// restarts in its pod (its process id is the same), distinct for two processes on
/// one machine.
fn default_replica_id(env: &dyn Env) -> String {
    let host = get(env, "HOSTNAME")
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .unwrap_or_else(|| "dispatcher".to_owned());
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    format!("{host}-{}", std::process::id())
}

impl Config {
    /// How long a delivery task handed out waits for its ack before the broker
    /// offers it again: the longest attempt, and time to record it.
    pub fn task_ack_wait(&self) -> Duration {
        self.delivery_timeout + Duration::from_secs(10)
    }
}

/// A network that is not a CIDR or an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a CIDR such as 127.0.0.0/8")]
pub struct NotCidr(pub String);

fn parse_cidrs(value: &str) -> Result<Vec<IpNet>, NotCidr> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| NotCidr(s.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_common::config::MapEnv;

    const KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    #[test]
    fn parses_allowed_targets_and_user_agent() {
        let env = MapEnv::new([
            ("HERALD_SECRET_KEY", KEY),
            ("HERALD_ALLOWED_TARGETS", "127.0.0.0/8, ::1"),
            ("HERALD_USER_AGENT", "Acme-Webhooks/2.0"),
        ]);
        let config = Config::from_env(&env).unwrap();
        assert_eq!(config.allowed_targets.networks.len(), 2);
        assert_eq!(config.user_agent, "Acme-Webhooks/2.0");

        let env = MapEnv::new([
            ("HERALD_SECRET_KEY", KEY),
            ("HERALD_ALLOWED_TARGETS", "localhost"),
        ]);
        assert_eq!(
            Config::from_env(&env).unwrap_err().var,
            "HERALD_ALLOWED_TARGETS"
        );
    }

    #[test]
    fn default_user_agent_names_herald_and_version() {
        let config = Config::from_env(&MapEnv::new([("HERALD_SECRET_KEY", KEY)])).unwrap();
        assert_eq!(
            config.user_agent,
            format!("Herald/{}", env!("CARGO_PKG_VERSION"))
        );
        assert!(config.allowed_targets.networks.is_empty());
        assert_eq!(config.allowed_targets.ports, None, "any port");
        assert_eq!(config.tenant_max_in_flight, 128);
        assert_eq!(config.queue_bytes + config.in_flight_bytes, 128 << 20);
        assert!(
            config
                .replica_id
                .ends_with(&format!("-{}", std::process::id()))
        );
    }

    #[test]
    fn allowed_ports_are_a_list() {
        let env = MapEnv::new([
            ("HERALD_SECRET_KEY", KEY),
            ("HERALD_ALLOWED_PORTS", " 443, 80,443 "),
        ]);
        let ports = Config::from_env(&env).unwrap().allowed_targets.ports;
        assert_eq!(ports, Some([80, 443].into()));
    }

    #[test]
    fn an_attempt_fits_the_drain_budget() {
        let longest = DELIVERY_TIMEOUT.duration(&MapEnv::new([(DELIVERY_TIMEOUT.name, "1d")]));
        assert_eq!(
            longest.unwrap_err().reason,
            format!(
                "must be between 1s and {}",
                herald_common::config::format_duration(herald_common::shutdown::LONGEST_ATTEMPT)
            )
        );
    }

    #[test]
    fn limits_are_checked() {
        for (var, value) in [
            ("HERALD_TENANT_MAX_IN_FLIGHT", "0"),
            ("HERALD_DISPATCH_MEMORY", "1MiB"),
            ("HERALD_DISPATCH_QUEUE", "0"),
            ("HERALD_PARTITION_LEASE", "100ms"),
            ("HERALD_REPLICA_ID", "a.b"),
            ("HERALD_ALLOWED_PORTS", "0"),
            ("HERALD_ALLOWED_PORTS", "443,https"),
            ("HERALD_ALLOWED_PORTS", "70000"),
            ("HERALD_ALLOWED_PORTS", ","),
        ] {
            let env = MapEnv::new([("HERALD_SECRET_KEY", KEY), (var, value)]);
            assert_eq!(Config::from_env(&env).unwrap_err().var, var, "{value}");
        }
    }
}
