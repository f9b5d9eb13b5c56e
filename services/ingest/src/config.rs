//! Ingest's configuration: API keys, and limits on what it accepts.

use std::collections::HashMap;

use herald_common::config::{CommonConfig, ConfigError, Env, get};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone)]
pub struct Config {
    pub common: CommonConfig,
    /// `HERALD_API_KEYS`: SHA-256 of each bearer key, to its tenant. Keys are kept
    /// only as digests so they never sit in memory dumps or logs in the clear.
    pub api_keys: HashMap<[u8; 32], String>,
    /// Largest accepted request body (1 MiB); larger events get 413.
    pub max_body_bytes: usize,
    /// `HERALD_REQUIRE_HTTPS`: refuse `http://` webhook URLs.
    pub require_https: bool,
    /// `HERALD_SECRET_KEY`: seals webhook secrets before they are stored.
    pub cipher: herald_common::secrets::Cipher,
    /// `HERALD_SECRET_ROTATION_GRACE`: how long a rotated-out secret keeps signing.
    pub rotation_grace: std::time::Duration,
    /// `HERALD_EVENT_TYPES`: the declared event types, when a catalogue is given.
    pub catalogue: Option<std::sync::Arc<crate::catalogue::Catalogue>>,
}

impl Config {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_env(env)?;
        let api_keys = parse_api_keys(get(env, "HERALD_API_KEYS").as_deref().unwrap_or(""))
            .map_err(|reason| ConfigError::new("HERALD_API_KEYS", reason))?;
        let require_https = herald_common::config::bool_or(env, "HERALD_REQUIRE_HTTPS", false)?;
        let cipher = herald_common::secrets::Cipher::from_env(env)?;
        let rotation_grace = herald_common::config::duration_or(
            env,
            "HERALD_SECRET_ROTATION_GRACE",
            std::time::Duration::from_secs(86_400),
        )?;
        let catalogue = get(env, "HERALD_EVENT_TYPES")
            .map(|path| {
                crate::catalogue::Catalogue::load(std::path::Path::new(&path))
                    .map(std::sync::Arc::new)
                    .map_err(|reason| ConfigError::new("HERALD_EVENT_TYPES", reason))
            })
            .transpose()?;
        Ok(Config {
            catalogue,
            common,
            api_keys,
            max_body_bytes: 1024 * 1024,
            require_https,
            cipher,
            rotation_grace,
        })
    }

    /// The tenant a bearer key belongs to.
    pub fn tenant_for(&self, key: &str) -> Option<&str> {
        self.api_keys.get(&digest(key)).map(String::as_str)
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Parses `tenant:key,tenant:key`.
fn parse_api_keys(value: &str) -> Result<HashMap<[u8; 32], String>, String> {
    let mut keys = HashMap::new();
    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (tenant, key) = pair
            .split_once(':')
            .ok_or_else(|| "each entry must be tenant:key".to_owned())?;
        herald_proto::ids::check_tenant(tenant).map_err(|r| format!("tenant `{tenant}` {r}"))?;
        if key.len() < 16 {
            return Err(format!(
                "the key of tenant `{tenant}` must be at least 16 characters"
            ));
        }
        if keys.insert(digest(key), tenant.to_owned()).is_some() {
            return Err(format!("a key of tenant `{tenant}` is listed twice"));
        }
    }
    if keys.is_empty() {
        return Err("must list at least one tenant:key pair".into());
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_common::config::MapEnv;

    #[test]
    fn keys_decide_the_tenant() {
        let env = MapEnv::new([
            (
                "HERALD_API_KEYS",
                "acme:acme-key-0123456789, globex:globex-key-0123456789",
            ),
            (
                "HERALD_SECRET_KEY",
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            ),
        ]);
        let config = Config::from_env(&env).unwrap();
        assert_eq!(config.tenant_for("acme-key-0123456789"), Some("acme"));
        assert_eq!(config.tenant_for("globex-key-0123456789"), Some("globex"));
        assert_eq!(config.tenant_for("nope"), None);
    }

    #[test]
    fn bad_keys_are_refused_naming_the_variable() {
        for value in ["", "acme", "acme:short", "a.b:0123456789abcdef0"] {
            let env = MapEnv::new([("HERALD_API_KEYS", value)]);
            let err = Config::from_env(&env).unwrap_err();
            assert_eq!(err.var, "HERALD_API_KEYS", "{value}");
        }
    }
}
