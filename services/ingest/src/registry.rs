//! The webhook registry: endpoint definitions in the `endpoints` KV bucket, with a
//! mirror for listing. Reads of one webhook go to the bucket, so a client always
//! reads its own writes.

use async_nats::jetstream::{self, kv};
use std::sync::Arc;

use herald_common::mirror::Mirror;
use herald_common::nats::Topology;
use herald_common::secrets::Cipher;
use herald_proto::Endpoint;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("endpoint registry: {0}")]
    Store(String),
    #[error("stored endpoint {key} is unreadable: {reason}")]
    Corrupt { key: String, reason: String },
}

#[derive(Clone)]
pub struct Registry {
    store: kv::Store,
    mirror: Mirror<Endpoint>,
    cipher: Cipher,
}

impl Registry {
    pub async fn start(
        js: &jetstream::Context,
        topology: &Topology,
        cipher: Cipher,
        shutdown: CancellationToken,
    ) -> Result<Self, herald_common::Error> {
        let store = topology.endpoints_bucket(js).await?;
        let opener = cipher.clone();
        let mirror = Mirror::start(
            store.clone(),
            Arc::new(move |bytes: &[u8]| decode(&opener, bytes)),
            shutdown,
        );
        Ok(Registry {
            store,
            mirror,
            cipher,
        })
    }

    pub fn is_ready(&self) -> bool {
        self.mirror.is_ready()
    }

    /// The highest bucket revision this replica holds, its own writes included.
    pub fn revision(&self) -> u64 {
        self.mirror.revision()
    }

    /// One webhook of `tenant`, read from the bucket.
    pub async fn get(&self, tenant: &str, id: &str) -> Result<Option<Endpoint>, RegistryError> {
        let key = Endpoint::key_for(tenant, id);
        if !kv_key_is_valid(&key) {
            return Ok(None);
        }
        let entry = self
            .store
            .get(key.clone())
            .await
            .map_err(|e| RegistryError::Store(e.to_string()))?;
        entry
            .map(|bytes| {
                decode(&self.cipher, &bytes)
                    .map_err(|reason| RegistryError::Corrupt { key, reason })
            })
            .transpose()
    }

    /// Every webhook of `tenant`, oldest first.
    pub fn list(&self, tenant: &str) -> Vec<Arc<Endpoint>> {
        let mut endpoints = self.mirror.values_with_prefix(&format!("{tenant}."));
        endpoints.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
        endpoints
    }

    /// How many webhooks `tenant` has, as far as this replica knows: its own writes
    /// at once, other replicas' when the watch brings them.
    pub fn count(&self, tenant: &str) -> usize {
        self.mirror.values_with_prefix(&format!("{tenant}.")).len()
    }

    /// Stores `endpoint`, replacing any earlier version.
    pub async fn put(&self, endpoint: &Endpoint) -> Result<(), RegistryError> {
        let key = endpoint.key();
        let revision = self
            .store
            .put(&key, endpoint.encode_with(&|s| self.cipher.seal(s)))
            .await
            .map_err(|e| RegistryError::Store(e.to_string()))?;
        self.mirror.apply(&key, revision, Some(endpoint.clone()));
        Ok(())
    }

    pub async fn delete(&self, endpoint: &Endpoint) -> Result<(), RegistryError> {
        let key = endpoint.key();
        self.store
            .delete(&key)
            .await
            .map_err(|e| RegistryError::Store(e.to_string()))?;
        // A delete's revision is not returned; the watch will confirm it. Until
        // then the listing hides the endpoint.
        self.mirror.apply(&key, u64::MAX, None);
        Ok(())
    }
}

fn decode(cipher: &Cipher, bytes: &[u8]) -> Result<Endpoint, String> {
    Endpoint::decode_with(bytes, &|s| cipher.open(s)).map_err(|e| e.to_string())
}

/// Ids come from URLs; only well-formed keys are looked up.
fn kv_key_is_valid(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '=' | '/'))
}
