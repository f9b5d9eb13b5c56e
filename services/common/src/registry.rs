//! The webhook registry: endpoint definitions in the `endpoints` KV bucket, read
//! and written by every service through this one type.
//!
//! Every change is compare-and-set: read the entry and its revision, change it,
//! write it back only if nobody wrote in between, and otherwise start over with what
//! they wrote. So an automatic disable and a customer's edit, or an edit and a
//! secret rotation, never undo each other. A service that lists or looks webhooks
//! up often keeps a [`Mirror`] of the bucket, fed by a watch; reads that must see
//! the latest write go to the bucket itself.

use std::sync::Arc;

use async_nats::jetstream::{self, kv};
use herald_proto::Endpoint;
use tokio_util::sync::CancellationToken;

use crate::mirror::Mirror;
use crate::nats::Topology;
use crate::secrets::Cipher;

/// Compare-and-set rounds before a change gives up (only under a storm of writes to
/// one webhook). Rounds after a lost race wait a little, longer each time.
const MAX_ROUNDS: u32 = 32;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("endpoint registry: {0}")]
    Store(String),
    #[error("stored endpoint {key} is unreadable: {reason}")]
    Corrupt {
        key: String,
        reason: herald_proto::DecodeError,
    },
    #[error("endpoint {key} changed {MAX_ROUNDS} times while being changed")]
    Contended { key: String },
}

/// How a service treats the secrets and header values inside entries.
#[derive(Clone)]
pub enum Secrets {
    /// Opened on read and sealed on write (ingest, dispatcher). Header values an
    /// earlier release stored in the clear are read as they are, and sealed when the
    /// entry is next written.
    Open(Cipher),
    /// Kept sealed, copied as they are (a service without `HERALD_SECRET_KEY`).
    Sealed,
}

impl Secrets {
    fn decode(&self, bytes: &[u8]) -> Result<Endpoint, herald_proto::DecodeError> {
        match self {
            Secrets::Open(cipher) => Endpoint::decode_with(bytes, &|s| cipher.open(s)),
            Secrets::Sealed => Endpoint::decode(bytes),
        }
    }

    fn encode(&self, endpoint: &Endpoint) -> bytes::Bytes {
        match self {
            Secrets::Open(cipher) => endpoint.encode_with(&|s| cipher.seal(s)),
            Secrets::Sealed => endpoint.encode_with(&|s| s.to_owned()),
        }
    }
}

/// Whether a change is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Save,
    /// Nothing to change; the entry stays as it is.
    Keep,
}

#[derive(Clone)]
pub struct Registry {
    store: kv::Store,
    secrets: Secrets,
    mirror: Option<Mirror<Endpoint>>,
}

impl Registry {
    /// Opens the bucket (creating it when missing), without a mirror.
    pub async fn open(
        js: &jetstream::Context,
        topology: &Topology,
        secrets: Secrets,
    ) -> Result<Self, crate::Error> {
        let store = topology.endpoints_bucket(js).await?;
        Ok(Registry {
            store,
            secrets,
            mirror: None,
        })
    }

    /// Also keeps a mirror of the bucket until `shutdown`.
    pub fn mirrored(mut self, shutdown: CancellationToken) -> Self {
        let secrets = self.secrets.clone();
        self.mirror = Some(Mirror::start(
            self.store.clone(),
            Arc::new(move |bytes: &[u8]| Ok(secrets.decode(bytes)?)),
            shutdown,
        ));
        self
    }

    /// The mirror of the bucket.
    ///
    /// # Panics
    /// When the registry was opened without [`Registry::mirrored`]: a wiring mistake.
    pub fn mirror(&self) -> &Mirror<Endpoint> {
        self.mirror
            .as_ref()
            .expect("this registry was opened with a mirror")
    }

    /// One webhook of `tenant`, read from the bucket.
    pub async fn get(&self, tenant: &str, id: &str) -> Result<Option<Endpoint>, RegistryError> {
        let key = Endpoint::key_for(tenant, id);
        Ok(self.entry(key).await?.map(|(endpoint, _)| endpoint))
    }

    /// The entry under `key` and its revision; `None` when there is none (or the key
    /// is malformed).
    async fn entry(&self, key: String) -> Result<Option<(Endpoint, u64)>, RegistryError> {
        if !key_is_valid(&key) {
            return Ok(None);
        }
        let entry = self
            .store
            .entry(key.clone())
            .await
            .map_err(|e| RegistryError::Store(e.to_string()))?;
        let Some(entry) = entry.filter(|e| e.operation == kv::Operation::Put) else {
            return Ok(None);
        };
        let endpoint = self
            .secrets
            .decode(&entry.value)
            .map_err(|reason| RegistryError::Corrupt { key, reason })?;
        Ok(Some((endpoint, entry.revision)))
    }

    /// Stores a new webhook; its id must not be taken.
    pub async fn create(&self, endpoint: &Endpoint) -> Result<(), RegistryError> {
        let key = endpoint.key();
        let revision = self
            .store
            .create(&key, self.secrets.encode(endpoint))
            .await
            .map_err(|e| RegistryError::Store(e.to_string()))?;
        self.applied(&key, revision, Some(endpoint.clone()));
        Ok(())
    }

    /// Changes webhook `id` of `tenant` with `change`, compare-and-set: when someone
    /// else wrote it meanwhile, `change` runs again on what they wrote. Returns the
    /// webhook as written (or as it is, when `change` keeps it), `None` when there
    /// is no such webhook.
    pub async fn update<E, F>(
        &self,
        tenant: &str,
        id: &str,
        mut change: F,
    ) -> Result<Option<Endpoint>, E>
    where
        E: From<RegistryError>,
        F: FnMut(&mut Endpoint) -> Result<Write, E>,
    {
        let key = Endpoint::key_for(tenant, id);
        for round in 0..MAX_ROUNDS {
            if round > 0 {
                // Writers that raced wait apart before they read again.
                let jitter = rand::random_range(1..=5 * u64::from(round.min(20)));
                tokio::time::sleep(std::time::Duration::from_millis(jitter)).await;
            }
            let Some((mut endpoint, revision)) = self.entry(key.clone()).await? else {
                return Ok(None);
            };
            if change(&mut endpoint)? == Write::Keep {
                return Ok(Some(endpoint));
            }
            match self
                .store
                .update(&key, self.secrets.encode(&endpoint), revision)
                .await
            {
                Ok(revision) => {
                    self.applied(&key, revision, Some(endpoint.clone()));
                    return Ok(Some(endpoint));
                }
                Err(err) if err.kind() == kv::UpdateErrorKind::WrongLastRevision => continue,
                Err(err) => return Err(RegistryError::Store(err.to_string()).into()),
            }
        }
        Err(RegistryError::Contended { key }.into())
    }

    /// Removes webhook `id` of `tenant`.
    pub async fn delete(&self, tenant: &str, id: &str) -> Result<(), RegistryError> {
        let key = Endpoint::key_for(tenant, id);
        self.store
            .delete(&key)
            .await
            .map_err(|e| RegistryError::Store(e.to_string()))?;
        // A delete's revision is not returned; the watch will confirm it. Until
        // then the mirror hides the endpoint.
        self.applied(&key, u64::MAX, None);
        Ok(())
    }

    fn applied(&self, key: &str, revision: u64, value: Option<Endpoint>) {
        if let Some(mirror) = &self.mirror {
            mirror.apply(key, revision, value);
        }
    }

    /// Whether the mirror holds everything the bucket held when it started.
    pub fn is_ready(&self) -> bool {
        self.mirror.as_ref().is_none_or(Mirror::is_ready)
    }

    /// The highest bucket revision the mirror holds, this process's writes included.
    pub fn revision(&self) -> u64 {
        self.mirror.as_ref().map_or(0, Mirror::revision)
    }

    /// Every webhook of `tenant` in the mirror, oldest first; listening sessions
    /// are not webhooks and are left out.
    pub fn list(&self, tenant: &str) -> Vec<Arc<Endpoint>> {
        let mut endpoints = self.mirror().values_with_prefix(&format!("{tenant}."));
        endpoints.retain(|e| !e.is_session());
        endpoints.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
        endpoints
    }

    /// How many webhooks `tenant` has (listening sessions left out), as far as the
    /// mirror knows: this process's writes at once, other processes' when the
    /// watch brings them.
    pub fn count(&self, tenant: &str) -> usize {
        let all = self.mirror().count_with_prefix(&format!("{tenant}."));
        all.saturating_sub(self.count_sessions(tenant))
    }

    /// How many listening sessions `tenant` has in the mirror, expired ones
    /// included until they are swept.
    pub fn count_sessions(&self, tenant: &str) -> usize {
        self.mirror().count_with_prefix(&session_prefix(tenant))
    }

    /// `tenant`'s listening sessions in the mirror, expired ones included.
    pub fn sessions_of(&self, tenant: &str) -> Vec<Arc<Endpoint>> {
        self.mirror().values_with_prefix(&session_prefix(tenant))
    }

    /// Every listening session in the mirror, of every tenant, expired ones
    /// included: what the sweep looks through.
    pub fn sessions(&self) -> Vec<Arc<Endpoint>> {
        let mut sessions = self.mirror().values_with_prefix("");
        sessions.retain(|e| e.is_session());
        sessions
    }
}

/// The keys of `tenant`'s listening sessions start with this.
fn session_prefix(tenant: &str) -> String {
    format!("{tenant}.{}", herald_proto::endpoint::SESSION_ID_PREFIX)
}

/// Ids come from URLs and messages; only well-formed keys are looked up.
fn key_is_valid(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with('.')
        && !key.ends_with('.')
        && !key.contains("..")
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '=' | '/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_keys_are_never_looked_up() {
        assert!(key_is_valid("acme.wh_01abc"));
        for key in [
            "",
            ".acme.wh",
            "acme.wh.",
            "acme..wh",
            "acme.wh 1",
            "acme.wh*",
        ] {
            assert!(!key_is_valid(key), "{key}");
        }
    }

    fn endpoint() -> Endpoint {
        Endpoint {
            id: "wh_1".into(),
            tenant: "acme".into(),
            url: "https://example.com/hook".into(),
            events: vec![herald_proto::EventPattern::parse("job.*").unwrap()],
            secret: "whsec_current".into(),
            headers: [("Authorization".to_owned(), "Bearer tok-7".to_owned())].into(),
            description: String::new(),
            status: herald_proto::EndpointStatus::Active,
            created_at_ms: 1,
            updated_at_ms: 1,
            disabled_reason: None,
            timeout: None,
            rate_limit_per_sec: None,
            payload_format: herald_proto::PayloadFormat::Envelope,
            retry_schedule: Vec::new(),
            retiring_secrets: Vec::new(),
            listen: None,
        }
    }

    #[test]
    fn header_values_are_sealed_on_write_and_kept_sealed_without_the_key() {
        let cipher = Cipher::new(&[3; 32]).unwrap();
        let open = Secrets::Open(cipher.clone());
        let bytes = open.encode(&endpoint());
        let raw = String::from_utf8_lossy(&bytes);
        assert!(
            !raw.contains("tok-7") && !raw.contains("whsec_current"),
            "{raw}"
        );
        assert!(raw.contains("Authorization"), "names stay readable");
        assert_eq!(open.decode(&bytes).unwrap(), endpoint());
        // A service without the key writes back what it read, still sealed.
        let copied = Secrets::Sealed.encode(&Secrets::Sealed.decode(&bytes).unwrap());
        assert!(!String::from_utf8_lossy(&copied).contains("tok-7"));
        assert_eq!(open.decode(&copied).unwrap(), endpoint());
    }

    #[test]
    fn an_entry_with_header_values_in_the_clear_reads_and_is_sealed_when_written() {
        let cipher = Cipher::new(&[3; 32]).unwrap();
        let open = Secrets::Open(cipher.clone());
        // As earlier releases wrote it: the secret sealed, header values in the clear.
        let legacy = endpoint().encode_with(&|s| {
            if s.starts_with("whsec_") {
                cipher.seal(s)
            } else {
                s.to_owned()
            }
        });
        assert!(String::from_utf8_lossy(&legacy).contains("Bearer tok-7"));
        let read = open.decode(&legacy).unwrap();
        assert_eq!(read, endpoint());
        let written = open.encode(&read);
        assert!(!String::from_utf8_lossy(&written).contains("tok-7"));
    }
}
