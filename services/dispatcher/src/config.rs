//! The dispatcher's configuration.

use std::time::Duration;

use herald_common::config::{
    CommonConfig, ConfigError, Env, at_least, bytes_or, duration_in, duration_or, get, parse_or,
};
use ipnet::IpNet;

use crate::ssrf::AllowedTargets;

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
            networks: parse_cidrs(get(env, "HERALD_ALLOWED_TARGETS").as_deref().unwrap_or(""))
                .map_err(|reason| ConfigError::new("HERALD_ALLOWED_TARGETS", reason))?,
            ports: herald_common::config::allowed_ports(env)?,
        };
        let user_agent = get(env, "HERALD_USER_AGENT")
            .unwrap_or_else(|| format!("Herald/{}", env!("CARGO_PKG_VERSION")));
        if reqwest::header::HeaderValue::from_str(&user_agent).is_err() {
            return Err(ConfigError::new(
                "HERALD_USER_AGENT",
                "is not a valid header value",
            ));
        }
        let delivery_timeout = duration_in(
            env,
            "HERALD_DELIVERY_TIMEOUT",
            Duration::from_secs(30),
            Duration::from_secs(1)..=herald_common::shutdown::LONGEST_ATTEMPT,
        )?;
        let max_in_flight = at_least(env, "HERALD_MAX_IN_FLIGHT", 512usize, 1)?;
        let endpoint_concurrency = at_least(env, "HERALD_ENDPOINT_CONCURRENCY", 10usize, 1)?;
        let tenant_max_in_flight = parse_or(
            env,
            "HERALD_TENANT_MAX_IN_FLIGHT",
            (max_in_flight / 4).max(1),
        )?;
        if tenant_max_in_flight == 0 || tenant_max_in_flight > max_in_flight {
            return Err(ConfigError::new(
                "HERALD_TENANT_MAX_IN_FLIGHT",
                "must be between 1 and HERALD_MAX_IN_FLIGHT",
            ));
        }
        let memory = bytes_or(env, "HERALD_DISPATCH_MEMORY", 128 << 20)?;
        if memory < 16 << 20 {
            return Err(ConfigError::new(
                "HERALD_DISPATCH_MEMORY",
                "must be at least 16MiB (a quarter of it must hold the largest task)",
            ));
        }
        let queue_tasks = at_least(env, "HERALD_DISPATCH_QUEUE", 10_000usize, 1)?;
        let endpoint_idle = duration_or(env, "HERALD_ENDPOINT_IDLE", Duration::from_secs(300))?;
        let partition_lease = duration_in(
            env,
            "HERALD_PARTITION_LEASE",
            Duration::from_secs(10),
            Duration::from_secs(1)..=Duration::from_secs(300),
        )?;
        let replica_id = match get(env, "HERALD_REPLICA_ID") {
            Some(id) => id,
            None => default_replica_id(env),
        };
        // One token of its key in the leases bucket, `members.<replica>`.
        if replica_id.len() > 128 || !herald_common::nats::is_token(&replica_id) {
            return Err(ConfigError::new(
                "HERALD_REPLICA_ID",
                "must be 1 to 128 letters, digits, `_` or `-`",
            ));
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

fn parse_cidrs(value: &str) -> Result<Vec<IpNet>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{s}` is not a CIDR such as 127.0.0.0/8"))
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
