//! What one tenant may ask of one replica at a time: requests per second per API
//! key, live streams open at once, and one webhook create at a time (so the webhook
//! cap holds). Every map here is keyed by the configured keys or their tenants, so
//! none grows with what clients send.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::{Mutex, MutexGuard};

use super::ApiError;
use crate::config::Config;

pub struct Limits {
    /// `None` when `HERALD_API_RATE_LIMIT` is 0. Keyed by the key's digest, and
    /// consulted only for known keys, so it holds at most one entry per key.
    rate: Option<DefaultKeyedRateLimiter<[u8; 32]>>,
    /// What each tenant holds, for every tenant that has a key.
    tenants: HashMap<String, TenantLimits>,
    streams_per_tenant: usize,
}

#[derive(Default)]
struct TenantLimits {
    /// Live streams open.
    streams: Arc<AtomicUsize>,
    /// Held while a webhook is created, so two creates cannot both pass the cap.
    create: Mutex<()>,
}

impl Limits {
    pub fn new(config: &Config) -> Self {
        Limits {
            rate: config
                .limits
                .api_rate_limit
                .map(|rate| RateLimiter::keyed(Quota::per_second(rate))),
            tenants: config
                .tenants()
                .map(|t| (t.to_owned(), TenantLimits::default()))
                .collect(),
            streams_per_tenant: config.limits.streams_per_tenant,
        }
    }

    /// Whether `tenant` has an API key (one lookup, not a scan of the keys).
    pub fn knows(&self, tenant: &str) -> bool {
        self.tenants.contains_key(tenant)
    }

    fn tenant(&self, tenant: &str) -> Result<&TenantLimits, ApiError> {
        self.tenants
            .get(tenant)
            .ok_or_else(|| ApiError::internal(format!("tenant `{tenant}` has no key")))
    }

    /// Counts a request made with the key of digest `key`.
    pub fn check_rate(&self, key: &[u8; 32]) -> Result<(), ApiError> {
        let Some(rate) = &self.rate else {
            return Ok(());
        };
        rate.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(rate.clock().now());
            ApiError::rate_limited(
                format!(
                    "more than {} requests per second with this API key",
                    not_until.quota().burst_size()
                ),
                whole_seconds(wait),
            )
        })
    }

    /// Counts `n` requests more of the key of digest `key`: what one request
    /// that does the work of many costs.
    pub fn charge(&self, key: &[u8; 32], n: u32) -> Result<(), ApiError> {
        let (Some(rate), Some(n)) = (&self.rate, std::num::NonZeroU32::new(n)) else {
            return Ok(());
        };
        match rate.check_key_n(key, n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(ApiError::rate_limited(
                format!(
                    "this request counts as {n} of the {} requests per second of this API key",
                    not_until.quota().burst_size()
                ),
                whole_seconds(not_until.wait_time_from(rate.clock().now())),
            )),
            Err(_) => Err(ApiError::rate_limited(
                format!(
                    "this request counts as {n} requests, more than this API key may make in a second"
                ),
                1,
            )),
        }
    }

    /// A place for one more live stream of `tenant`, held until the stream ends.
    pub fn open_stream(&self, tenant: &str) -> Result<StreamSlot, ApiError> {
        let open = &self.tenant(tenant)?.streams;
        let max = self.streams_per_tenant;
        open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .map_err(|_| {
            ApiError::too_many(format!(
                "at most {max} live streams of one tenant may be open at once \
                 (HERALD_STREAM_MAX_PER_TENANT)"
            ))
        })?;
        Ok(StreamSlot(open.clone()))
    }

    /// Waits for `tenant`'s turn to create a webhook.
    pub async fn create_turn(&self, tenant: &str) -> Result<MutexGuard<'_, ()>, ApiError> {
        Ok(self.tenant(tenant)?.create.lock().await)
    }
}

/// A live stream's place in its tenant's count; given back when dropped, which
/// happens when the stream ends or its client goes away.
pub struct StreamSlot(Arc<AtomicUsize>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `Retry-After` is in whole seconds: rounded up, and at least 1.
fn whole_seconds(wait: Duration) -> u64 {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    seconds.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(vars: &[(&str, &str)]) -> Limits {
        let mut env = Config::test_env(vars);
        env.set(
            "HERALD_API_KEYS",
            "acme:acme-key-0123456789,globex:globex-key-0123456789",
        );
        Limits::new(&Config::from_env(&env).unwrap())
    }

    #[test]
    fn each_key_has_its_own_rate() {
        let limits = limits(&[("HERALD_API_RATE_LIMIT", "2")]);
        let (acme, globex) = ([1u8; 32], [2u8; 32]);
        assert!(limits.check_rate(&acme).is_ok());
        assert!(limits.check_rate(&acme).is_ok());
        match limits.check_rate(&acme) {
            Err(ApiError::TooManyRequests {
                code: "rate_limited",
                retry_after: Some(1),
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        assert!(limits.check_rate(&globex).is_ok());
        let off = self::limits(&[("HERALD_API_RATE_LIMIT", "0")]);
        assert!((0..10_000).all(|_| off.check_rate(&acme).is_ok()));
    }

    #[test]
    fn a_tenants_streams_are_counted_until_dropped() {
        let limits = limits(&[("HERALD_STREAM_MAX_PER_TENANT", "2")]);
        let first = limits.open_stream("acme").unwrap();
        let _second = limits.open_stream("acme").unwrap();
        assert!(matches!(
            limits.open_stream("acme"),
            Err(ApiError::TooManyRequests {
                code: "limit_exceeded",
                ..
            })
        ));
        let _other = limits.open_stream("globex").unwrap();
        drop(first);
        assert!(limits.open_stream("acme").is_ok());
    }

    #[test]
    fn retry_after_rounds_up_to_at_least_one_second() {
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        assert_eq!(whole_seconds(Duration::from_millis(200)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(2)), 2);
        assert_eq!(whole_seconds(Duration::from_millis(2001)), 3);
    }
}
