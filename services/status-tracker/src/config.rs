//! The status-tracker's configuration.

use herald_common::config::{CommonConfig, ConfigError, Env, get};

#[derive(Debug, Clone)]
pub struct Config {
    pub common: CommonConfig,
    /// `DATABASE_URL`: `sqlite://path?mode=rwc` (default `sqlite://herald.db?mode=rwc`)
    /// or `postgres://...`.
    pub database_url: String,
    pub retention: crate::retention::Retention,
}

impl Config {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_env(env)?;
        let database_url =
            get(env, "DATABASE_URL").unwrap_or_else(|| "sqlite://herald.db?mode=rwc".to_owned());
        if !["sqlite:", "postgres:", "postgresql:"]
            .iter()
            .any(|scheme| database_url.starts_with(scheme))
        {
            return Err(ConfigError::new(
                "DATABASE_URL",
                "must start with sqlite:, postgres: or postgresql:",
            ));
        }
        let days = herald_common::config::at_least(env, "HERALD_RETENTION_DAYS", 30u32, 1)?;
        let interval = herald_common::config::duration_or(
            env,
            "HERALD_RETENTION_INTERVAL",
            std::time::Duration::from_secs(3600),
        )?;
        Ok(Config {
            common,
            database_url,
            retention: crate::retention::Retention {
                keep: std::time::Duration::from_secs(u64::from(days) * 86_400),
                interval,
            },
        })
    }
}
