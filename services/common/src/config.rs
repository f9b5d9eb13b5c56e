//! Configuration from environment variables with the `HERALD_` prefix (plus
//! `DATABASE_URL` and `RUST_LOG`). Values are parsed once, at start-up; a bad value
//! stops the service with a message naming the variable.
//!
//! Every variable is declared once, as a [`Setting`]: its name, default, range and
//! meaning. The declaration reads the variable, and lists of them describe each
//! service's configuration (README's reference is generated from them; see
//! `docs/configuration.md`).
//!
//! Services read the environment through [`Env`], so tests hand them a map instead
//! of changing the process environment.
//!
//! # Layout
//! - [`setting`]: the [`Setting`] declaration and reading a variable with it.
//! - [`shared`]: the settings every service shares, and [`CommonConfig`].
//! - [`reference`]: README's configuration reference, written from the settings.
//! - here: where values come from ([`Env`]), [`ConfigError`], and the parsers of
//!   durations, sizes and ports.

pub mod reference;
pub mod setting;
pub mod shared;

pub use setting::{DefaultValue, Range, Setting, from_str, text};
pub use shared::{CommonConfig, StorageLimits, allowed_ports, settings};

use std::collections::HashMap;
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

/// `duration` in its largest whole unit, as [`parse_duration`] reads it: `7d`,
/// `1h`, `5m`, `30s`, `100ms`.
pub fn format_duration(duration: Duration) -> String {
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

/// A value that does not read as what its setting takes; the text reads after the
/// variable's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("`{0}` needs a unit (ms, s, m, h or d)")]
    DurationWithoutUnit(String),
    #[error("`{0}` is not a duration like 30s, 5m or 2h")]
    NotDuration(String),
    #[error("`{0}` has an unknown unit (use ms, s, m, h or d)")]
    DurationUnit(String),
    #[error("`{0}` is too long")]
    TooLong(String),
    #[error("`{0}` is not a size like 64MiB or 512KiB")]
    NotSize(String),
    #[error("`{0}` has an unknown unit (use KiB, MiB, GiB or TiB)")]
    SizeUnit(String),
    #[error("`{0}` is too large")]
    TooLarge(String),
    #[error("`{0}` is not a port from 1 to 65535")]
    NotPort(String),
    #[error("must list at least one port, or be unset for any")]
    NoPorts,
    #[error("`{0}` is not a boolean (true or false)")]
    NotBool(String),
    /// A value its type's `FromStr` refuses, and why.
    #[error("`{value}` is not valid: {reason}")]
    Invalid { value: String, reason: String },
}

/// Parses `250ms`, `30s`, `5m`, `2h` or `7d`.
pub fn parse_duration(value: &str) -> Result<Duration, ValueError> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| ValueError::DurationWithoutUnit(value.to_owned()))?;
    let (number, unit) = value.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| ValueError::NotDuration(value.to_owned()))?;
    let seconds = match unit {
        "ms" => return Ok(Duration::from_millis(number)),
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(ValueError::DurationUnit(value.to_owned())),
    };
    number
        .checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(|| ValueError::TooLong(value.to_owned()))
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
pub fn parse_bytes(value: &str) -> Result<u64, ValueError> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| ValueError::NotSize(value.to_owned()))?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "KB" | "K" => 1 << 10,
        "MiB" | "MB" | "M" => 1 << 20,
        "GiB" | "GB" | "G" => 1 << 30,
        "TiB" | "TB" | "T" => 1 << 40,
        _ => return Err(ValueError::SizeUnit(value.to_owned())),
    };
    number
        .checked_mul(scale)
        .ok_or_else(|| ValueError::TooLarge(value.to_owned()))
}

/// `80,443`: ports from 1 to 65535, comma-separated.
pub fn parse_ports(value: &str) -> Result<std::collections::BTreeSet<u16>, ValueError> {
    let ports = value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.parse::<u16>() {
            Ok(port) if port > 0 => Ok(port),
            _ => Err(ValueError::NotPort(p.to_owned())),
        })
        .collect::<Result<std::collections::BTreeSet<_>, _>>()?;
    if ports.is_empty() {
        return Err(ValueError::NoPorts);
    }
    Ok(ports)
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
    fn durations_are_written_in_their_largest_unit() {
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
}
