//! The status-tracker's configuration.
//! Each variable it reads beyond the shared ones is a [`Setting`] declared here
//! and listed in [`SETTINGS`].

use herald_common::config::{CommonConfig, ConfigError, Env, MapEnv, Setting};

pub const DATABASE_URL: Setting = Setting::new(
    "DATABASE_URL",
    "status-tracker store: `sqlite://<file>?mode=rwc` or `postgres://...`",
)
.default("sqlite://herald.db?mode=rwc")
.rule("sqlite:, postgres: or postgresql: URL");
/// Every replica holds its own pool, so the replicas' sum must stay below the
/// database's `max_connections`. SQLite always uses one: it has a single writer.
pub const DB_POOL_SIZE: Setting = Setting::new(
    "HERALD_DB_POOL_SIZE",
    "PostgreSQL connections one status-tracker replica holds at most (SQLite always \
     uses one)",
)
.default("8")
.between("1", "100")
.more(
    "Replicas × this must stay below the database's `max_connections` minus what its \
     other clients need; see [deploy/README.md](deploy/README.md#sizing)",
);
pub const RETENTION_DAYS: Setting = Setting::new(
    "HERALD_RETENTION_DAYS",
    "records (deliveries, attempts, events, jobs) older than this many days are pruned",
)
.default("30")
.at_least("1");
pub const RETENTION_INTERVAL: Setting =
    Setting::new("HERALD_RETENTION_INTERVAL", "how often pruning runs").default("1h");

/// What the status-tracker reads besides the settings every service shares.
pub const SETTINGS: &[&Setting] = &[
    &DATABASE_URL,
    &DB_POOL_SIZE,
    &RETENTION_DAYS,
    &RETENTION_INTERVAL,
];

/// Every setting the status-tracker reads: the shared ones, then its own.
pub fn settings() -> Vec<&'static Setting> {
    herald_common::config::settings()
        .iter()
        .chain(SETTINGS)
        .copied()
        .collect()
}

/// Connections one replica holds to PostgreSQL unless `HERALD_DB_POOL_SIZE` says
/// otherwise.
pub fn default_db_pool_size() -> u32 {
    DB_POOL_SIZE
        .parse(&MapEnv::default())
        .expect("the default is within range")
}

#[derive(Debug, Clone)]
pub struct Config {
    pub common: CommonConfig,
    /// `DATABASE_URL`: `sqlite://path?mode=rwc` or `postgres://...`.
    pub database_url: String,
    /// `HERALD_DB_POOL_SIZE`: connections one replica may hold to PostgreSQL.
    pub db_pool_size: u32,
    pub retention: crate::retention::Retention,
}

impl Config {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_env(env)?;
        let database_url = DATABASE_URL.read(env, herald_common::config::text)?;
        if !["sqlite:", "postgres:", "postgresql:"]
            .iter()
            .any(|scheme| database_url.starts_with(scheme))
        {
            return Err(DATABASE_URL.error("must start with sqlite:, postgres: or postgresql:"));
        }
        let db_pool_size = DB_POOL_SIZE.parse(env)?;
        let days: u32 = RETENTION_DAYS.parse(env)?;
        let interval = RETENTION_INTERVAL.duration(env)?;
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

    fn pool_size(value: Option<&str>) -> Result<u32, ConfigError> {
        let mut env = MapEnv::new([("DATABASE_URL", "postgres://db/herald")]);
        if let Some(value) = value {
            env.set("HERALD_DB_POOL_SIZE", value);
        }
        Config::from_env(&env).map(|config| config.db_pool_size)
    }

    #[test]
    fn the_pool_size_defaults_to_8_and_takes_1_to_100() {
        assert_eq!(pool_size(None).unwrap(), default_db_pool_size());
        assert_eq!(default_db_pool_size(), 8);
        assert_eq!(pool_size(Some("1")).unwrap(), 1);
        assert_eq!(pool_size(Some("100")).unwrap(), 100);
        for bad in ["0", "101", "-1", "eight"] {
            let err = pool_size(Some(bad)).expect_err(bad).to_string();
            assert!(err.contains("HERALD_DB_POOL_SIZE"), "{bad}: {err}");
        }
    }
}
