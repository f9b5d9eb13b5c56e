//! The dispatcher's configuration.

use std::time::Duration;

use herald_common::config::{CommonConfig, ConfigError, Env, duration_or, get, parse_or};
use ipnet::IpNet;

#[derive(Debug, Clone)]
pub struct Config {
    pub common: CommonConfig,
    /// `HERALD_ALLOWED_TARGETS`: CIDRs delivery may reach although private.
    pub allowed_targets: Vec<IpNet>,
    /// `HERALD_USER_AGENT`: the `User-Agent` of every delivery.
    pub user_agent: String,
    /// `HERALD_DELIVERY_TIMEOUT`: how long one HTTP attempt may take.
    pub delivery_timeout: Duration,
    /// `HERALD_MAX_IN_FLIGHT`: deliveries one dispatcher runs at once.
    pub max_in_flight: usize,
    /// `HERALD_ENDPOINT_CONCURRENCY`: attempts in flight to one endpoint at once.
    pub endpoint_concurrency: usize,
    /// `HERALD_SECRET_KEY`: opens the webhook secrets stored in the registry.
    pub cipher: herald_common::secrets::Cipher,
}

impl Config {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_env(env)?;
        let allowed_targets =
            parse_cidrs(get(env, "HERALD_ALLOWED_TARGETS").as_deref().unwrap_or(""))
                .map_err(|reason| ConfigError::new("HERALD_ALLOWED_TARGETS", reason))?;
        let user_agent = get(env, "HERALD_USER_AGENT")
            .unwrap_or_else(|| format!("Herald/{}", env!("CARGO_PKG_VERSION")));
        if reqwest::header::HeaderValue::from_str(&user_agent).is_err() {
            return Err(ConfigError::new(
                "HERALD_USER_AGENT",
                "is not a valid header value",
            ));
        }
        let delivery_timeout =
            duration_or(env, "HERALD_DELIVERY_TIMEOUT", Duration::from_secs(30))?;
        if delivery_timeout < Duration::from_secs(1) || delivery_timeout > Duration::from_secs(30) {
            return Err(ConfigError::new(
                "HERALD_DELIVERY_TIMEOUT",
                "must be between 1s and 30s",
            ));
        }
        let max_in_flight = parse_or(env, "HERALD_MAX_IN_FLIGHT", 512usize)?;
        if max_in_flight == 0 {
            return Err(ConfigError::new(
                "HERALD_MAX_IN_FLIGHT",
                "must be at least 1",
            ));
        }
        let endpoint_concurrency = parse_or(env, "HERALD_ENDPOINT_CONCURRENCY", 10usize)?;
        if endpoint_concurrency == 0 {
            return Err(ConfigError::new(
                "HERALD_ENDPOINT_CONCURRENCY",
                "must be at least 1",
            ));
        }
        let cipher = herald_common::secrets::Cipher::from_env(env)?;
        Ok(Config {
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
        assert_eq!(config.allowed_targets.len(), 2);
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
        assert!(config.allowed_targets.is_empty());
    }
}
