//! Per-job callbacks: an event may carry `callback: {"url", "headers",
//! "payload_format"}` (a job started with its own `webhook_url`), and every event
//! of that job then goes there too, signed with the tenant's callback secret.
//!
//! The callback's header values are sealed here, as soon as they are checked: the
//! event on `EVENTS`, the job's entry in `job-callbacks`, every delivery task and
//! attempt record carry them sealed, and only the dispatcher opens them to send.

use std::collections::BTreeMap;

use async_nats::jetstream::kv;
use herald_common::secrets::Cipher;
use herald_proto::{Callback, PayloadFormat, SealedHeaders};
use serde::Deserialize;

use super::accept::IntakeError;
use super::target::{check_headers, check_url, generate_secret};
use super::{Invalid, MAX_CALLBACK_BYTES};

/// The `callback` object of an event.
/// A job's own delivery target: every event of the job goes there too, signed with
/// the tenant's callback secret (`GET /v1/callback-secret`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallbackInput {
    /// An `http` or `https` URL, as a webhook's.
    #[schema(max_length = 2048, pattern = r"^https?://\S+$")]
    pub url: String,
    /// Headers sent with each delivery, as a webhook's.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[schema(value_type = Option<herald_model::webhooks::PayloadFormat>)]
    pub payload_format: Option<String>,
}

impl CallbackInput {
    /// The callback, checked and bounded ([`MAX_CALLBACK_BYTES`]), its header values
    /// sealed.
    pub fn check(self, config: &crate::Config) -> Result<Callback, Invalid> {
        let prefix = |e: Invalid| Invalid::new(format!("callback.{}", e.detail));
        let url = check_url(&self.url, config).map_err(prefix)?;
        let headers = check_headers(self.headers).map_err(prefix)?;
        let payload_format = PayloadFormat::parse(self.payload_format.as_deref().unwrap_or(""))
            .map_err(|r| Invalid::new(format!("callback.payload_format {r}")))?;
        let size = url.len()
            + headers
                .iter()
                .map(|(name, value)| name.len() + value.len())
                .sum::<usize>();
        if size > MAX_CALLBACK_BYTES {
            return Err(Invalid::new(format!(
                "callback takes {size} bytes (url, header names and values); \
                 the most is {MAX_CALLBACK_BYTES}"
            )));
        }
        Ok(Callback {
            url,
            headers: SealedHeaders::seal(&headers, &|value| config.cipher.seal(value)),
            payload_format,
        })
    }
}

/// The KV buckets the intake writes besides the registry, opened once.
#[derive(Clone)]
pub struct Buckets {
    /// Per-tenant secrets (the job-callback signing secret), sealed.
    pub tenant_secrets: kv::Store,
    /// Job callback targets by tenant and job.
    pub job_callbacks: kv::Store,
}

impl Buckets {
    /// The tenant's callback secret, creating it if it does not exist yet. Safe when
    /// several replicas race: the bucket's `create` lets exactly one win.
    pub(super) async fn ensure_secret(
        &self,
        tenant: &str,
        cipher: &Cipher,
    ) -> Result<String, IntakeError> {
        const DURING: &str = "reading the callback secret";
        let store = &self.tenant_secrets;
        let key = herald_proto::names::stream::callback_secret_key(tenant);
        for _ in 0..3 {
            let entry = store.get(&key).await.map_err(|e| {
                let timed_out = e.kind() == kv::EntryErrorKind::TimedOut;
                IntakeError::nats(DURING, timed_out, e)
            })?;
            if let Some(sealed) = entry {
                let sealed =
                    std::str::from_utf8(&sealed).map_err(|e| IntakeError::internal(DURING, e))?;
                return cipher
                    .open(sealed)
                    .map_err(|e| IntakeError::internal(DURING, SecretUnreadable(e.to_string())));
            }
            let secret = generate_secret();
            if store
                .create(&key, cipher.seal(&secret).into_bytes().into())
                .await
                .is_ok()
            {
                return Ok(secret);
            }
        }
        Err(IntakeError::internal(
            "creating the callback secret",
            SecretUnreadable("neither read nor created in three tries".into()),
        ))
    }

    /// Remembers `callback` for every later event of `job_id`.
    pub(super) async fn remember(
        &self,
        tenant: &str,
        job_id: &str,
        callback: &Callback,
    ) -> Result<(), IntakeError> {
        self.job_callbacks
            .put(Callback::job_key(tenant, job_id), callback.encode())
            .await
            .map_err(|e| {
                let passing = e.kind() != kv::PutErrorKind::InvalidKey;
                IntakeError::nats("remembering the job's callback", passing, e)
            })?;
        Ok(())
    }
}

/// The stored callback secret could not be had.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct SecretUnreadable(String);
