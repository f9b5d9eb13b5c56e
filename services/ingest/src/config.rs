//! Ingest's configuration: API keys, and limits on what it accepts.
//! Each variable it reads beyond the shared ones is a [`Setting`] declared here
//! and listed in [`SETTINGS`].

use std::collections::{BTreeSet, HashMap};
use std::num::NonZeroU32;

use herald_common::config::shared::{ALLOWED_PORTS, SECRET_KEY};
use herald_common::config::{CommonConfig, ConfigError, Env, Setting};
use sha2::{Digest, Sha256};

pub const API_KEYS: Setting = Setting::new(
    "HERALD_API_KEYS",
    "comma-separated `tenant:key` pairs, the bearer keys of the API and their tenants",
)
.required()
.rule("keys at least 16 characters");
pub const SECRET_ROTATION_GRACE: Setting = Setting::new(
    "HERALD_SECRET_ROTATION_GRACE",
    "how long a rotated-out secret keeps signing",
)
.default("24h")
.at_most("30d");
pub const REQUIRE_HTTPS: Setting =
    Setting::new("HERALD_REQUIRE_HTTPS", "refuse `http://` webhook URLs").default("false");
pub const EVENT_TYPES: Setting = Setting::new(
    "HERALD_EVENT_TYPES",
    "path of the event-type catalogue (YAML or JSON); without one every type is accepted",
);
pub const API_RATE_LIMIT: Setting = Setting::new(
    "HERALD_API_RATE_LIMIT",
    "requests per second per API key on one ingest replica, burst as many; `0` turns it off",
)
.default("1000");
pub const MAX_WEBHOOKS_PER_TENANT: Setting = Setting::new(
    "HERALD_MAX_WEBHOOKS_PER_TENANT",
    "webhooks one tenant may have",
)
.default("1000")
.at_least("1");
pub const STREAM_MAX_PATTERNS: Setting = Setting::new(
    "HERALD_STREAM_MAX_PATTERNS",
    "patterns one `GET /v1/stream` may name",
)
.default("20")
.at_least("1");
pub const STREAM_MAX_PER_TENANT: Setting = Setting::new(
    "HERALD_STREAM_MAX_PER_TENANT",
    "live streams of one tenant open at once on one ingest replica",
)
.default("20")
.at_least("1");
pub const STREAM_BUFFER: Setting = Setting::new(
    "HERALD_STREAM_BUFFER",
    "events a live stream holds for a slow client before it is closed",
)
.default("256")
.between("1", "65536");
pub const STREAM_BUFFER_BYTES: Setting = Setting::new(
    "HERALD_STREAM_BUFFER_BYTES",
    "bytes those events may take; one larger event still fits",
)
.default("4194304")
.between("1024", "1073741824");
pub const LISTEN_TTL: Setting = Setting::new(
    "HERALD_LISTEN_TTL",
    "how long a listening session (`herald listen`) lives without its CLI, when it asks for no `ttl`",
)
.default("60s")
.between("5s", "1d");
pub const LISTEN_MAX_TTL: Setting = Setting::new(
    "HERALD_LISTEN_MAX_TTL",
    "the longest `ttl` a listening session may ask for",
)
.default("1h")
.between("5s", "1d")
.rule("at least HERALD_LISTEN_TTL");
pub const LISTEN_MAX_PER_TENANT: Setting = Setting::new(
    "HERALD_LISTEN_MAX_PER_TENANT",
    "listening sessions one tenant may have at once",
)
.default("10")
.at_least("1");

pub const PORTAL_URL: Setting = Setting::new(
    "HERALD_PORTAL_URL",
    "the address customers reach Herald's portal at, such as `https://hooks.example.com`; portal links start with it",
)
.unset("links use the `Host` of the request that asked for them, over `http`");
pub const PORTAL_NAME: Setting = Setting::new(
    "HERALD_PORTAL_NAME",
    "the platform's name, shown in the portal's header and title",
)
.default("Herald");
pub const PORTAL_COLOR: Setting = Setting::new("HERALD_PORTAL_COLOR", "the portal's accent colour")
    .default("#4f46e5")
    .rule("`#rgb` or `#rrggbb`");
pub const PORTAL_LOGO: Setting = Setting::new(
    "HERALD_PORTAL_LOGO",
    "path of the logo the portal shows (SVG, PNG, JPEG or WebP, at most 256 KiB)",
)
.unset("the name alone");
pub const PORTAL_MAX_TTL: Setting = Setting::new(
    "HERALD_PORTAL_MAX_TTL",
    "the longest `ttl` a portal link may ask for",
)
.default("24h")
.between("1m", "30d");

/// What ingest reads besides the settings every service shares, in the order
/// README lists them.
pub const SETTINGS: &[&Setting] = &[
    &API_KEYS,
    &SECRET_KEY,
    &SECRET_ROTATION_GRACE,
    &REQUIRE_HTTPS,
    &ALLOWED_PORTS,
    &EVENT_TYPES,
    &API_RATE_LIMIT,
    &MAX_WEBHOOKS_PER_TENANT,
    &STREAM_MAX_PATTERNS,
    &STREAM_MAX_PER_TENANT,
    &STREAM_BUFFER,
    &STREAM_BUFFER_BYTES,
    &LISTEN_TTL,
    &LISTEN_MAX_TTL,
    &LISTEN_MAX_PER_TENANT,
    &PORTAL_URL,
    &PORTAL_NAME,
    &PORTAL_COLOR,
    &PORTAL_LOGO,
    &PORTAL_MAX_TTL,
];

/// Every setting ingest reads: the shared ones, then its own.
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
    /// `HERALD_API_KEYS`: SHA-256 of each bearer key, to its tenant. Keys are kept
    /// only as digests so they never sit in memory dumps or logs in the clear.
    pub api_keys: HashMap<[u8; 32], String>,
    /// Largest accepted request body or NATS event: 1 MiB, lowered at start to
    /// what the NATS server's `max_payload` leaves room for (see
    /// [`Config::fit_to_nats`]). Larger events get 413 over HTTP and are parked in
    /// `REJECTED` over NATS.
    pub max_body_bytes: usize,
    /// `HERALD_REQUIRE_HTTPS`: refuse `http://` webhook URLs.
    pub require_https: bool,
    /// `HERALD_ALLOWED_PORTS`: the only ports webhook and callback URLs may use
    /// (any when unset); the dispatcher refuses other ports too.
    pub allowed_ports: Option<BTreeSet<u16>>,
    /// `HERALD_SECRET_KEY`: seals webhook secrets and the values of webhook and
    /// callback headers before they are stored.
    pub cipher: herald_common::secrets::Cipher,
    /// `HERALD_SECRET_ROTATION_GRACE`: how long a rotated-out secret keeps signing.
    pub rotation_grace: std::time::Duration,
    /// `HERALD_EVENT_TYPES`: the declared event types, when a catalogue is given.
    pub catalogue: Option<std::sync::Arc<crate::catalogue::Catalogue>>,
    /// What one tenant may hold or ask of one replica.
    pub limits: Limits,
    /// Listening sessions (`herald listen`).
    pub listen: Listen,
    /// The customer portal's address, branding and session lengths.
    pub portal: Portal,
}

/// How long listening sessions live and how many a tenant may have.
#[derive(Debug, Clone)]
pub struct Listen {
    /// `HERALD_LISTEN_TTL`: a session's life without its CLI, when it asks for none.
    pub ttl: std::time::Duration,
    /// `HERALD_LISTEN_MAX_TTL`: the longest life a session may ask for.
    pub max_ttl: std::time::Duration,
    /// `HERALD_LISTEN_MAX_PER_TENANT`: sessions one tenant may have at once.
    pub per_tenant: usize,
}

impl Listen {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let ttl = LISTEN_TTL.duration(env)?;
        let max_ttl = LISTEN_MAX_TTL.duration(env)?;
        if max_ttl < ttl {
            return Err(LISTEN_MAX_TTL.error("must be at least HERALD_LISTEN_TTL"));
        }
        Ok(Listen {
            ttl,
            max_ttl,
            per_tenant: LISTEN_MAX_PER_TENANT.parse(env)?,
        })
    }
}

/// The customer portal: where it is reached, how it is branded, how long its
/// sessions may last.
#[derive(Debug, Clone)]
pub struct Portal {
    /// `HERALD_PORTAL_URL` without a trailing `/`; `None` to use each request's
    /// `Host`.
    pub url: Option<String>,
    /// `HERALD_PORTAL_NAME`.
    pub name: String,
    /// `HERALD_PORTAL_COLOR`, as `#rrggbb`.
    pub color: String,
    /// `HERALD_PORTAL_LOGO`, read once at start: its media type and bytes.
    pub logo: Option<(&'static str, bytes::Bytes)>,
    /// `HERALD_PORTAL_MAX_TTL`.
    pub max_ttl: std::time::Duration,
}

impl Portal {
    /// `HERALD_PORTAL_MAX_TTL` in milliseconds.
    pub fn max_ttl_ms(&self) -> i64 {
        i64::try_from(self.max_ttl.as_millis()).unwrap_or(i64::MAX)
    }
}

/// The largest logo `HERALD_PORTAL_LOGO` may name.
const MAX_LOGO_BYTES: u64 = 256 * 1024;

impl Portal {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let url = PORTAL_URL.read_opt(env, |value| {
            let parsed = url::Url::parse(value).map_err(|e| e.to_string())?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
                return Err("must be an http or https URL".to_owned());
            }
            if parsed.query().is_some() || parsed.fragment().is_some() {
                return Err("must have no query or fragment".to_owned());
            }
            Ok(value.trim_end_matches('/').to_owned())
        })?;
        let name = PORTAL_NAME.read(env, |value| {
            if value.chars().count() > 64 || value.chars().any(char::is_control) {
                Err("must be at most 64 printable characters")
            } else {
                Ok(value.to_owned())
            }
        })?;
        let color = PORTAL_COLOR.read(env, parse_color)?;
        let logo = PORTAL_LOGO.read_opt(env, read_logo)?;
        Ok(Portal {
            url,
            name,
            color,
            logo,
            max_ttl: PORTAL_MAX_TTL.duration(env)?,
        })
    }
}

/// `#rgb` or `#rrggbb` as `#rrggbb`, lower case.
fn parse_color(value: &str) -> Result<String, &'static str> {
    const RULE: &str = "must be a colour written #rgb or #rrggbb";
    let hex = value.strip_prefix('#').ok_or(RULE)?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(RULE);
    }
    match hex.len() {
        6 => Ok(format!("#{}", hex.to_ascii_lowercase())),
        3 => Ok(hex.chars().fold(String::from("#"), |mut color, c| {
            color.push(c.to_ascii_lowercase());
            color.push(c.to_ascii_lowercase());
            color
        })),
        _ => Err(RULE),
    }
}

/// The logo file at `path`, with the media type its extension names.
fn read_logo(path: &str) -> Result<(&'static str, bytes::Bytes), String> {
    let extension = std::path::Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let media_type = match extension.as_deref() {
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        _ => return Err("must name a .svg, .png, .jpg or .webp file".into()),
    };
    let size = std::fs::metadata(path)
        .map_err(|e| format!("cannot be read: {e}"))?
        .len();
    if size > MAX_LOGO_BYTES {
        return Err(format!("is {size} bytes; at most {MAX_LOGO_BYTES}"));
    }
    let logo = std::fs::read(path).map_err(|e| format!("cannot be read: {e}"))?;
    Ok((media_type, logo.into()))
}

/// Bounds on what one tenant may hold or ask of one ingest replica, so that a
/// replica's memory stays bounded whatever its clients do. `docs/api-limits.md`
/// explains each one and the memory it allows.
#[derive(Debug, Clone)]
pub struct Limits {
    /// `HERALD_MAX_WEBHOOKS_PER_TENANT`: webhooks one tenant may have.
    pub webhooks_per_tenant: usize,
    /// `HERALD_STREAM_MAX_PATTERNS`: patterns one `/v1/stream` request may name;
    /// each is a subscription.
    pub stream_patterns: usize,
    /// `HERALD_STREAM_MAX_PER_TENANT`: live streams of one tenant open at once on
    /// one replica.
    pub streams_per_tenant: usize,
    /// `HERALD_STREAM_BUFFER`: events a live stream holds for a client that reads
    /// slower than they come; a stream whose buffer overflows is closed.
    pub stream_buffer: usize,
    /// `HERALD_STREAM_BUFFER_BYTES`: the bytes those events may take; an event
    /// larger than this still fits in an empty buffer.
    pub stream_buffer_bytes: usize,
    /// `HERALD_API_RATE_LIMIT`: requests per second per API key, with a burst of as
    /// many; `None` when set to 0.
    pub api_rate_limit: Option<NonZeroU32>,
}

impl Limits {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Limits {
            webhooks_per_tenant: MAX_WEBHOOKS_PER_TENANT.parse(env)?,
            stream_patterns: STREAM_MAX_PATTERNS.parse(env)?,
            streams_per_tenant: STREAM_MAX_PER_TENANT.parse(env)?,
            stream_buffer: STREAM_BUFFER.parse(env)?,
            stream_buffer_bytes: STREAM_BUFFER_BYTES.parse(env)?,
            api_rate_limit: NonZeroU32::new(API_RATE_LIMIT.parse(env)?),
        })
    }
}

impl Config {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_env(env)?;
        // Unset is an empty list, which `parse_api_keys` explains.
        let api_keys = parse_api_keys(API_KEYS.get(env).as_deref().unwrap_or(""))
            .map_err(|reason| API_KEYS.error(reason.to_string()))?;
        let require_https = REQUIRE_HTTPS.flag(env)?;
        let allowed_ports = herald_common::config::allowed_ports(env)?;
        let cipher = herald_common::secrets::Cipher::from_env(env)?;
        let rotation_grace = SECRET_ROTATION_GRACE.duration(env)?;
        let catalogue = EVENT_TYPES.read_opt(env, |path| {
            crate::catalogue::Catalogue::load(std::path::Path::new(path))
                .map(std::sync::Arc::new)
                .map_err(|e| e.to_string())
        })?;
        let limits = Limits::from_env(env)?;
        let listen = Listen::from_env(env)?;
        let portal = Portal::from_env(env)?;
        Ok(Config {
            portal,
            catalogue,
            limits,
            listen,
            common,
            api_keys,
            max_body_bytes: herald_common::nats::MAX_EVENT_BYTES,
            require_https,
            allowed_ports,
            cipher,
            rotation_grace,
        })
    }

    /// This configuration for a NATS server whose messages may be `max_payload`
    /// bytes: events, and every request body, no larger than fits in a message with
    /// the envelope around them.
    pub fn fit_to_nats(mut self, max_payload: usize) -> Self {
        self.max_body_bytes = self
            .max_body_bytes
            .min(herald_common::nats::max_event_bytes(max_payload));
        self
    }

    /// The tenant a bearer key belongs to.
    pub fn tenant_for(&self, key: &str) -> Option<&str> {
        self.api_key(key).map(|(_, tenant)| tenant)
    }

    /// The digest of a known bearer key, and its tenant.
    pub fn api_key(&self, key: &str) -> Option<(&[u8; 32], &str)> {
        self.api_keys
            .get_key_value(&digest(key))
            .map(|(digest, tenant)| (digest, tenant.as_str()))
    }

    /// Every tenant that has a key.
    pub fn tenants(&self) -> impl Iterator<Item = &str> {
        self.api_keys.values().map(String::as_str)
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// What is wrong with `HERALD_API_KEYS`.
#[derive(Debug, thiserror::Error)]
pub enum ApiKeysError {
    #[error("each entry must be tenant:key")]
    NotAPair,
    #[error("tenant `{tenant}` {reason}")]
    BadTenant { tenant: String, reason: String },
    #[error("the key of tenant `{0}` must be at least 16 characters")]
    ShortKey(String),
    #[error("a key of tenant `{0}` is listed twice")]
    Twice(String),
    #[error("must list at least one tenant:key pair")]
    Empty,
}

/// Parses `tenant:key,tenant:key`.
fn parse_api_keys(value: &str) -> Result<HashMap<[u8; 32], String>, ApiKeysError> {
    let mut keys = HashMap::new();
    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (tenant, key) = pair.split_once(':').ok_or(ApiKeysError::NotAPair)?;
        herald_proto::ids::check_tenant(tenant).map_err(|reason| ApiKeysError::BadTenant {
            tenant: tenant.to_owned(),
            reason: reason.to_string(),
        })?;
        if key.len() < 16 {
            return Err(ApiKeysError::ShortKey(tenant.to_owned()));
        }
        if keys.insert(digest(key), tenant.to_owned()).is_some() {
            return Err(ApiKeysError::Twice(tenant.to_owned()));
        }
    }
    if keys.is_empty() {
        return Err(ApiKeysError::Empty);
    }
    Ok(keys)
}

#[cfg(test)]
impl Config {
    /// The environment of a valid configuration (one tenant, `acme`) with `vars`
    /// on top, for unit tests.
    pub(crate) fn test_env(vars: &[(&str, &str)]) -> herald_common::config::MapEnv {
        let mut env = herald_common::config::MapEnv::new([
            ("HERALD_API_KEYS", "acme:acme-key-0123456789"),
            (
                "HERALD_SECRET_KEY",
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            ),
        ]);
        for (key, value) in vars {
            env.set(*key, *value);
        }
        env
    }

    /// A valid configuration with `vars` on top, for unit tests.
    pub(crate) fn test_with(vars: &[(&str, &str)]) -> Self {
        Config::from_env(&Config::test_env(vars)).expect("a valid test configuration")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_common::config::MapEnv;

    #[test]
    fn keys_decide_the_tenant() {
        let config = Config::test_with(&[(
            "HERALD_API_KEYS",
            "acme:acme-key-0123456789, globex:globex-key-0123456789",
        )]);
        assert_eq!(config.tenant_for("acme-key-0123456789"), Some("acme"));
        assert_eq!(config.tenant_for("globex-key-0123456789"), Some("globex"));
        assert_eq!(config.tenant_for("nope"), None);
    }

    fn valid_env() -> MapEnv {
        Config::test_env(&[])
    }

    #[test]
    fn limits_have_defaults_and_refuse_bad_values_naming_the_variable() {
        let limits = Config::from_env(&valid_env()).unwrap().limits;
        assert_eq!(limits.webhooks_per_tenant, 1000);
        assert_eq!(limits.stream_patterns, 20);
        assert_eq!(limits.streams_per_tenant, 20);
        assert_eq!(limits.stream_buffer, 256);
        assert_eq!(limits.stream_buffer_bytes, 4 << 20);
        assert_eq!(limits.api_rate_limit.map(NonZeroU32::get), Some(1000));

        let mut env = valid_env();
        env.set("HERALD_API_RATE_LIMIT", "0");
        assert_eq!(Config::from_env(&env).unwrap().limits.api_rate_limit, None);

        for var in [
            "HERALD_MAX_WEBHOOKS_PER_TENANT",
            "HERALD_STREAM_MAX_PATTERNS",
            "HERALD_STREAM_MAX_PER_TENANT",
            "HERALD_STREAM_BUFFER",
            "HERALD_STREAM_BUFFER_BYTES",
            "HERALD_API_RATE_LIMIT",
        ] {
            for value in ["0", "-1", "many", "99999999999"] {
                let fine = match var {
                    "HERALD_API_RATE_LIMIT" => value == "0",
                    "HERALD_MAX_WEBHOOKS_PER_TENANT"
                    | "HERALD_STREAM_MAX_PATTERNS"
                    | "HERALD_STREAM_MAX_PER_TENANT" => value == "99999999999",
                    _ => false,
                };
                if fine {
                    continue;
                }
                let mut env = valid_env();
                env.set(var, value);
                let err = Config::from_env(&env).unwrap_err();
                assert_eq!(err.var, var, "{var}={value}");
            }
        }
    }

    #[test]
    fn allowed_ports_are_a_list_or_any() {
        assert_eq!(Config::from_env(&valid_env()).unwrap().allowed_ports, None);
        let mut env = valid_env();
        env.set("HERALD_ALLOWED_PORTS", "443, 80");
        let ports = Config::from_env(&env).unwrap().allowed_ports;
        assert_eq!(ports, Some([80, 443].into()));
        for value in ["0", "http", "65536", ",", "80;443"] {
            let mut env = valid_env();
            env.set("HERALD_ALLOWED_PORTS", value);
            let err = Config::from_env(&env).unwrap_err();
            assert_eq!(err.var, "HERALD_ALLOWED_PORTS", "{value}");
        }
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
