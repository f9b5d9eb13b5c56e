//! The retry-scheduler's configuration.
//! Each variable it reads beyond the shared ones is a [`Setting`] declared here
//! and listed in [`SETTINGS`].

use std::time::Duration;

use herald_common::config::{CommonConfig, ConfigError, Env, Setting, ValueError, parse_duration};

/// Five retries by default: 5 min, 30 min, 2 h, 8 h, 24 h.
pub const RETRY_SCHEDULE: Setting = Setting::new(
    "HERALD_RETRY_SCHEDULE",
    "delays before each retry, ±10 % jitter; `Retry-After` honoured within [delay, 2×delay]",
)
.default("5m,30m,2h,8h,24h")
.rule("up to 20 delays, each between 1s and 7d");

/// What the retry-scheduler reads besides the settings every service shares.
pub const SETTINGS: &[&Setting] = &[&RETRY_SCHEDULE];

/// Every setting the retry-scheduler reads: the shared ones, then its own.
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
    /// `HERALD_RETRY_SCHEDULE`: delays before each retry, after the first attempt.
    pub schedule: Vec<Duration>,
}

impl Config {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_env(env)?;
        let schedule = RETRY_SCHEDULE.read(env, parse_schedule)?;
        Ok(Config { common, schedule })
    }
}

/// A retry schedule Herald does not take; the text reads after the variable's
/// name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error(transparent)]
    Delay(#[from] ValueError),
    #[error("may list at most 20 delays")]
    TooMany,
    #[error("each delay must be between 1s and 7d")]
    OutOfRange,
}

/// Parses `5m,30m,2h`: up to 20 delays, each between 1 s and 7 days. An empty
/// schedule means no retries.
pub fn parse_schedule(value: &str) -> Result<Vec<Duration>, ScheduleError> {
    let delays = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(parse_duration)
        .collect::<Result<Vec<_>, _>>()?;
    if delays.len() > 20 {
        return Err(ScheduleError::TooMany);
    }
    if delays
        .iter()
        .any(|d| *d < Duration::from_secs(1) || *d > Duration::from_secs(7 * 86_400))
    {
        return Err(ScheduleError::OutOfRange);
    }
    Ok(delays)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_is_five_retries() {
        let delays = parse_schedule(RETRY_SCHEDULE.default_value().unwrap()).unwrap();
        let secs: Vec<u64> = delays.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [300, 1800, 7200, 28_800, 86_400]);
        assert!(parse_schedule("1s,2s,3s").is_ok());
        assert!(parse_schedule("1s,forever").is_err());
        assert!(parse_schedule("10ms").is_err());
    }
}
