//! The status-tracker's configuration.

use herald_common::config::{CommonConfig, ConfigError, Env, get};

/// Connections one status-tracker replica holds to PostgreSQL unless
/// `HERALD_DB_POOL_SIZE` says otherwise.
pub const DEFAULT_DB_POOL_SIZE: u32 = 8;

#[derive(Debug, Clone)]
pub struct Config {
    pub common: CommonConfig,
    /// `DATABASE_URL`: `sqlite://path?mode=rwc` (default `sqlite://herald.db?mode=rwc`)
    /// or `postgres://...`.
    pub database_url: String,
    /// `HERALD_DB_POOL_SIZE`: connections one replica may hold to PostgreSQL (1–100,
    /// default [`DEFAULT_DB_POOL_SIZE`]). Every replica holds its own pool, so the
    /// replicas' sum must stay below the database's `max_connections`. SQLite always
    /// uses one: it has a single writer.
    pub db_pool_size: u32,
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
        let db_pool_size = herald_common::config::parse_in(
            env,
            "HERALD_DB_POOL_SIZE",
            DEFAULT_DB_POOL_SIZE,
            1..=100,
        )?;
        let days = herald_common::config::at_least(env, "HERALD_RETENTION_DAYS", 30u32, 1)?;
        let interval = herald_common::config::duration_or(
            env,
            "HERALD_RETENTION_INTERVAL",
            std::time::Duration::from_secs(3600),
        )?;
        Ok(Config {
            common,
            database_url,
            db_pool_size,
            retention: crate::retention::Retention {
                keep: std::time::Duration::from_secs(u64::from(days) * 86_400),
                interval,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_common::config::MapEnv;

    fn pool_size(value: Option<&str>) -> Result<u32, ConfigError> {
        let mut env = MapEnv::new([("DATABASE_URL", "postgres://db/herald")]);
        if let Some(value) = value {
            env.set("HERALD_DB_POOL_SIZE", value);
        }
        Config::from_env(&env).map(|config| config.db_pool_size)
    }

    #[test]
    fn the_pool_size_defaults_to_8_and_takes_1_to_100() {
        assert_eq!(pool_size(None).unwrap(), DEFAULT_DB_POOL_SIZE);
        assert_eq!(pool_size(Some("1")).unwrap(), 1);
        assert_eq!(pool_size(Some("100")).unwrap(), 100);
        for bad in ["0", "101", "-1", "eight"] {
            let err = pool_size(Some(bad)).expect_err(bad).to_string();
            assert!(err.contains("HERALD_DB_POOL_SIZE"), "{bad}: {err}");
        }
    }
}
