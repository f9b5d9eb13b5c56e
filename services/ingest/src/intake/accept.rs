//! [`Intake`]: accepting one event for a tenant — validate, remember the job's
//! callback, publish on `events.<tenant>.<event_type>` — and [`IntakeError`], which
//! says what went wrong in kinds HTTP and NATS each map to their own answer.

use std::sync::Arc;

use async_nats::jetstream;
use herald_common::publish::{Publish, publish};
use herald_common::registry::Registry;
use herald_proto::Event;
use sha2::{Digest, Sha256};

use super::callback::Buckets;
use super::{Draft, Invalid, new_event_id};
use crate::Config;

/// Why an event was not accepted, in kinds a caller branches on.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The event breaks a rule, and will every time: HTTP answers 422, NATS parks
    /// the message in `REJECTED` with the reason.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// NATS did not take a write in time or the connection is down: the same event
    /// may be tried again (HTTP 503, NATS redelivers).
    #[error("{during}: {cause}")]
    Unavailable {
        during: &'static str,
        #[source]
        cause: Cause,
    },
    /// Anything else that is Herald's fault (HTTP 500, NATS redelivers).
    #[error("{during}: {cause}")]
    Internal {
        during: &'static str,
        #[source]
        cause: Cause,
    },
}

/// The error beneath an [`IntakeError`], for the log; never shown to a client.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

impl IntakeError {
    pub(super) fn internal(
        during: &'static str,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        IntakeError::Internal {
            during,
            cause: Box::new(cause),
        }
    }

    /// A NATS operation failed; `passing` when trying again may well succeed.
    pub(super) fn nats(
        during: &'static str,
        passing: bool,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        let cause = Box::new(cause);
        if passing {
            IntakeError::Unavailable { during, cause }
        } else {
            IntakeError::Internal { during, cause }
        }
    }
}

/// How an event came, which decides the id of an event sent without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A request: a fresh id (`evt_` and a ULID) each time.
    Request,
    /// A message of the `INGEST` stream: an id derived from where it is stored, so
    /// a redelivery names the same event and is stored once.
    Stored {
        sequence: u64,
        published_nanos: i128,
    },
}

impl Source {
    fn default_id(self, tenant: &str) -> String {
        match self {
            Source::Request => new_event_id(),
            Source::Stored {
                sequence,
                published_nanos,
            } => {
                let digest = Sha256::new()
                    .chain_update(tenant.as_bytes())
                    .chain_update(sequence.to_be_bytes())
                    .chain_update(published_nanos.to_be_bytes())
                    .finalize();
                format!("evt_{}", hex::encode(&digest[..13]))
            }
        }
    }
}

/// An event accepted and stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub event_id: String,
    /// The event id was seen before within the dedupe window; the event is stored
    /// once.
    pub duplicate: bool,
}

/// `draft` made the event of `tenant` accepted at `now_ms`, checked by every rule,
/// the catalogue's included. Touches nothing outside.
pub fn validate(
    draft: Draft,
    tenant: &str,
    source: Source,
    now_ms: i64,
    config: &Config,
) -> Result<Event, Invalid> {
    let event = draft.accept(tenant, || source.default_id(tenant), now_ms, config)?;
    if let Some(catalogue) = &config.catalogue {
        catalogue
            .check_event(&event.event_type, &event.data)
            .map_err(|refused| Invalid::new(refused.to_string()))?;
    }
    Ok(event)
}

/// What accepting needs, shared by the HTTP API and the NATS intake. Cloning is
/// cheap: clones share one [`Parts`] (every request and message takes a clone).
#[derive(Clone)]
pub struct Intake(Arc<Parts>);

impl std::ops::Deref for Intake {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

/// The parts of an [`Intake`].
pub struct Parts {
    /// The rules: limits, URL policy, the cipher that seals callback headers, the
    /// catalogue.
    config: Config,
    jetstream: jetstream::Context,
    /// Its revision rides on every event, so the dispatcher's fan-out waits until
    /// it has seen the webhooks this replica had when it accepted the event.
    registry: Registry,
    buckets: Buckets,
}

impl Intake {
    pub fn new(
        config: Config,
        jetstream: jetstream::Context,
        registry: Registry,
        buckets: Buckets,
    ) -> Self {
        Intake(Arc::new(Parts {
            config,
            jetstream,
            registry,
            buckets,
        }))
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    /// Accepts `draft` as an event of `tenant`: validates it, remembers its job
    /// callback (and makes sure the tenant has a callback secret) first, so later
    /// events of the job find it, then publishes it. The current span gets the
    /// event's `event_id` and `event_type`.
    pub async fn accept(
        &self,
        tenant: &str,
        draft: Draft,
        source: Source,
    ) -> Result<Accepted, IntakeError> {
        let event = validate(draft, tenant, source, herald_proto::now_ms(), &self.config)?;
        let span = tracing::Span::current();
        span.record("event_id", event.event_id.as_str());
        span.record("event_type", event.event_type.as_str());
        if let Some(callback) = &event.callback {
            self.callback_secret(&event.tenant).await?;
            if let Some(job_id) = &event.job_id {
                self.buckets
                    .remember(&event.tenant, job_id, callback)
                    .await?;
            }
        }
        let duplicate = self.publish_event(&event).await?;
        Ok(Accepted {
            event_id: event.event_id,
            duplicate,
        })
    }

    /// The tenant's secret for job callbacks, made on first use.
    pub async fn callback_secret(&self, tenant: &str) -> Result<String, IntakeError> {
        self.buckets
            .ensure_secret(tenant, &self.config.cipher)
            .await
    }

    /// Stores `event` on `events.<tenant>.<event_type>`, once per tenant and event id
    /// within the dedupe window. Returns whether it was a repeat.
    async fn publish_event(&self, event: &Event) -> Result<bool, IntakeError> {
        use herald_proto::names::header;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, header::PROTOBUF);
        headers.insert(
            herald_common::nats::REGISTRY_REVISION_HEADER,
            self.registry.revision().to_string().as_str(),
        );
        let message_id = format!("{}:{}", event.tenant, event.event_id);
        let ack = publish(
            &self.jetstream,
            event.subject(),
            event.encode(),
            Publish::once(&message_id).headers(headers),
        )
        .await
        .map_err(|err| IntakeError::nats("publishing the event", err.is_transient(), err))?;
        Ok(ack.duplicate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_message_names_its_event_the_same_each_time() {
        let stored = Source::Stored {
            sequence: 7,
            published_nanos: 1_700_000_000_000_000_000,
        };
        let id = stored.default_id("acme");
        assert!(id.starts_with("evt_") && id.len() == 30, "{id}");
        assert_eq!(stored.default_id("acme"), id);
        assert_ne!(stored.default_id("globex"), id);
        assert_ne!(
            Source::Request.default_id("acme"),
            Source::Request.default_id("acme")
        );
    }
}
