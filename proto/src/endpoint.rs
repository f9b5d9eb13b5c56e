//! [`Endpoint`]: a customer's subscription, as stored in the `endpoints` KV bucket
//! under `<tenant>.<endpoint_id>`.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use prost::Message;

use crate::delivery::PayloadFormat;
use crate::ids::check_tenant;
use crate::pattern::EventPattern;
use crate::{DecodeError, wire};

/// What every listening session's id starts with (webhooks' start with `wh_`).
pub const SESSION_ID_PREFIX: &str = "ls_";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointStatus {
    Active,
    Disabled,
}

impl EndpointStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointStatus::Active => "active",
            EndpointStatus::Disabled => "disabled",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub id: String,
    pub tenant: String,
    pub url: String,
    pub events: Vec<EventPattern>,
    pub secret: String,
    /// Sent with every delivery. Their values are sealed at rest like the secrets;
    /// the names are not (see [`crate::sealed`]).
    pub headers: BTreeMap<String, String>,
    pub description: String,
    pub status: EndpointStatus,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub disabled_reason: Option<String>,
    /// Time limit of one attempt; `None` for the service default.
    pub timeout: Option<Duration>,
    /// Most deliveries per second; `None` for no limit.
    pub rate_limit_per_sec: Option<u32>,
    pub payload_format: PayloadFormat,
    /// Delays before each retry; empty for the service default.
    pub retry_schedule: Vec<Duration>,
    /// Earlier secrets that still sign until they expire.
    pub retiring_secrets: Vec<RetiringSecret>,
    /// Set for a listening session (`herald listen`, id `ls_...`, no URL).
    pub listen: Option<Listening>,
}

/// What makes an endpoint a listening session: it lives while its CLI keeps it
/// alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listening {
    /// When it is gone unless its CLI keeps it alive, in milliseconds since the
    /// epoch.
    pub expires_at_ms: i64,
    /// How far each sign of its CLI pushes `expires_at_ms` forward.
    pub ttl: Duration,
}

/// A secret replaced by rotation that keeps signing for a grace period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetiringSecret {
    pub secret: String,
    pub expires_at_ms: i64,
}

impl Endpoint {
    /// The secrets that sign a request at `now_ms`: the current one first, then any
    /// retiring secret still within its grace period.
    pub fn signing_secrets(&self, now_ms: i64) -> Vec<&str> {
        std::iter::once(self.secret.as_str())
            .chain(
                self.retiring_secrets
                    .iter()
                    .filter(|r| r.expires_at_ms > now_ms)
                    .map(|r| r.secret.as_str()),
            )
            .collect()
    }

    /// Whether this is a listening session rather than a webhook.
    pub fn is_session(&self) -> bool {
        self.listen.is_some()
    }

    /// Whether this is a listening session whose time ran out at `now_ms`: readers
    /// treat it as gone.
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.listen.is_some_and(|l| l.expires_at_ms <= now_ms)
    }

    /// The key of this endpoint in the `endpoints` bucket.
    pub fn key(&self) -> String {
        Self::key_for(&self.tenant, &self.id)
    }

    pub fn key_for(tenant: &str, id: &str) -> String {
        format!("{tenant}.{id}")
    }

    /// Whether an event of this type goes to this endpoint (an expired listening
    /// session takes none).
    pub fn subscribes_to(&self, event_type: &str) -> bool {
        self.status == EndpointStatus::Active
            && !self.is_expired(crate::now_ms())
            && self.events.iter().any(|p| p.matches(event_type))
    }

    /// Encodes with every secret and every header value passed through `seal`
    /// (encryption at rest).
    pub fn encode_with(&self, seal: &dyn Fn(&str) -> String) -> Bytes {
        let status = match self.status {
            EndpointStatus::Active => wire::EndpointStatus::Active,
            EndpointStatus::Disabled => wire::EndpointStatus::Disabled,
        };
        Bytes::from(
            wire::Endpoint {
                id: self.id.clone(),
                tenant: self.tenant.clone(),
                url: self.url.clone(),
                events: self.events.iter().map(|p| p.to_string()).collect(),
                secret: seal(&self.secret),
                headers: self
                    .headers
                    .iter()
                    .map(|(name, value)| (name.clone(), seal(value)))
                    .collect(),
                description: self.description.clone(),
                status: status as i32,
                created_at_ms: self.created_at_ms,
                updated_at_ms: self.updated_at_ms,
                disabled_reason: self.disabled_reason.clone().unwrap_or_default(),
                timeout_ms: self
                    .timeout
                    .map(|t| u32::try_from(t.as_millis()).unwrap_or(u32::MAX))
                    .unwrap_or_default(),
                rate_limit_per_sec: self.rate_limit_per_sec.unwrap_or_default(),
                payload_format: self.payload_format.as_str().to_owned(),
                retry_schedule_ms: self
                    .retry_schedule
                    .iter()
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                    .collect(),
                retiring_secrets: self
                    .retiring_secrets
                    .iter()
                    .map(|r| wire::RetiringSecret {
                        secret: seal(&r.secret),
                        expires_at_ms: r.expires_at_ms,
                    })
                    .collect(),
                listen_expires_at_ms: self.listen.map_or(0, |l| l.expires_at_ms),
                listen_ttl_ms: self
                    .listen
                    .map_or(0, |l| u64::try_from(l.ttl.as_millis()).unwrap_or(u64::MAX)),
            }
            .encode_to_vec(),
        )
    }

    /// Decodes, passing every secret and every header value through `open`
    /// (decryption). A secret must open; a header value that does not is taken as it
    /// is: entries written before header values were sealed hold them in the clear.
    pub fn decode_with<E: std::fmt::Display>(
        bytes: &[u8],
        open: &dyn Fn(&str) -> Result<String, E>,
    ) -> Result<Self, DecodeError> {
        let mut wire = wire::Endpoint::decode(bytes)?;
        wire.secret = open(&wire.secret).map_err(|r| DecodeError::invalid("secret", r))?;
        for retiring in &mut wire.retiring_secrets {
            retiring.secret =
                open(&retiring.secret).map_err(|r| DecodeError::invalid("secret", r))?;
        }
        for value in wire.headers.values_mut() {
            *value = crate::sealed::open_or_as_is(value, open);
        }
        Endpoint::try_from(wire)
    }

    /// Encodes with secrets and header values in the clear (tests and tools only).
    pub fn encode(&self) -> Bytes {
        self.encode_with(&|s| s.to_owned())
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_with(bytes, &|s| Ok::<_, std::convert::Infallible>(s.to_owned()))
    }
}

impl TryFrom<wire::Endpoint> for Endpoint {
    type Error = DecodeError;

    fn try_from(endpoint: wire::Endpoint) -> Result<Self, Self::Error> {
        if endpoint.id.is_empty() {
            return Err(DecodeError::Missing { field: "id" });
        }
        check_tenant(&endpoint.tenant).map_err(|r| DecodeError::invalid("tenant", r))?;
        let listen = (endpoint.listen_expires_at_ms > 0).then(|| Listening {
            expires_at_ms: endpoint.listen_expires_at_ms,
            ttl: Duration::from_millis(endpoint.listen_ttl_ms),
        });
        if endpoint.url.is_empty() && listen.is_none() {
            return Err(DecodeError::Missing { field: "url" });
        }
        let events = endpoint
            .events
            .iter()
            .map(|p| EventPattern::parse(p).map_err(|r| DecodeError::invalid("events", r)))
            .collect::<Result<Vec<_>, _>>()?;
        let status = match wire::EndpointStatus::try_from(endpoint.status) {
            Ok(wire::EndpointStatus::Active) => EndpointStatus::Active,
            Ok(wire::EndpointStatus::Disabled) => EndpointStatus::Disabled,
            _ => return Err(DecodeError::invalid("status", "unknown status")),
        };
        Ok(Endpoint {
            id: endpoint.id,
            tenant: endpoint.tenant,
            url: endpoint.url,
            events,
            secret: endpoint.secret,
            headers: endpoint.headers.into_iter().collect(),
            description: endpoint.description,
            status,
            created_at_ms: endpoint.created_at_ms,
            updated_at_ms: endpoint.updated_at_ms,
            disabled_reason: Some(endpoint.disabled_reason).filter(|r| !r.is_empty()),
            timeout: Some(endpoint.timeout_ms)
                .filter(|t| *t > 0)
                .map(|t| Duration::from_millis(u64::from(t))),
            rate_limit_per_sec: Some(endpoint.rate_limit_per_sec).filter(|r| *r > 0),
            payload_format: PayloadFormat::parse(&endpoint.payload_format)
                .map_err(|r| DecodeError::invalid("payload_format", r))?,
            retry_schedule: endpoint
                .retry_schedule_ms
                .into_iter()
                .map(Duration::from_millis)
                .collect(),
            retiring_secrets: endpoint
                .retiring_secrets
                .into_iter()
                .map(|r| RetiringSecret {
                    secret: r.secret,
                    expires_at_ms: r.expires_at_ms,
                })
                .collect(),
            listen,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Endpoint {
        Endpoint {
            id: "wh_1".into(),
            tenant: "acme".into(),
            url: "https://example.com/hook".into(),
            events: vec![EventPattern::parse("job.*").unwrap()],
            secret: "whsec_abc".into(),
            headers: BTreeMap::from([("Authorization".into(), "Bearer x".into())]),
            description: String::new(),
            status: EndpointStatus::Active,
            created_at_ms: 1,
            updated_at_ms: 2,
            disabled_reason: None,
            timeout: Some(Duration::from_secs(5)),
            rate_limit_per_sec: Some(3),
            payload_format: PayloadFormat::EnvelopeCamel,
            retry_schedule: vec![Duration::from_secs(1)],
            retiring_secrets: vec![RetiringSecret {
                secret: "whsec_old".into(),
                expires_at_ms: 100,
            }],
            listen: None,
        }
    }

    fn seal(s: &str) -> String {
        format!("sealed:{s}")
    }

    fn open(s: &str) -> Result<String, String> {
        s.strip_prefix("sealed:")
            .map(str::to_owned)
            .ok_or_else(|| "not sealed".into())
    }

    #[test]
    fn round_trips_and_matches_only_when_active() {
        let mut endpoint = sample();
        assert_eq!(Endpoint::decode(&endpoint.encode()).unwrap(), endpoint);
        assert_eq!(endpoint.signing_secrets(50), ["whsec_abc", "whsec_old"]);
        assert_eq!(endpoint.signing_secrets(100), ["whsec_abc"]);
        let sealed = endpoint.encode_with(&seal);
        assert!(
            Endpoint::decode(&sealed)
                .unwrap()
                .secret
                .starts_with("sealed:")
        );
        assert_eq!(Endpoint::decode_with(&sealed, &open).unwrap(), endpoint);
        assert!(Endpoint::decode_with(&endpoint.encode(), &|_| Err::<String, _>("no")).is_err());
        assert!(endpoint.subscribes_to("job.failed"));
        assert!(!endpoint.subscribes_to("vision.completed"));
        endpoint.status = EndpointStatus::Disabled;
        assert!(!endpoint.subscribes_to("job.failed"));
    }

    #[test]
    fn a_session_has_no_url_and_takes_nothing_once_expired() {
        let mut session = sample();
        session.id = "ls_1".into();
        session.url = String::new();
        session.listen = Some(Listening {
            expires_at_ms: crate::now_ms() + 60_000,
            ttl: Duration::from_secs(60),
        });
        assert!(session.is_session() && !session.is_expired(crate::now_ms()));
        assert_eq!(Endpoint::decode(&session.encode()).unwrap(), session);
        assert!(session.subscribes_to("job.failed"));
        session.listen = Some(Listening {
            expires_at_ms: crate::now_ms() - 1,
            ttl: Duration::from_secs(60),
        });
        assert!(session.is_expired(crate::now_ms()));
        assert!(!session.subscribes_to("job.failed"));
        let mut webhook = sample();
        webhook.url = String::new();
        assert!(
            Endpoint::decode(&webhook.encode()).is_err(),
            "a webhook needs a URL"
        );
    }

    #[test]
    fn header_values_are_sealed_and_clear_ones_from_before_still_read() {
        let endpoint = sample();
        let sealed = endpoint.encode_with(&seal);
        let stored = Endpoint::decode(&sealed).unwrap();
        assert_eq!(stored.headers["Authorization"], "sealed:Bearer x");
        assert_eq!(Endpoint::decode_with(&sealed, &open).unwrap(), endpoint);

        // As earlier releases wrote it: secrets sealed, header values in the clear.
        let mut legacy = wire::Endpoint::decode(&sealed[..]).unwrap();
        legacy.headers = [("Authorization".to_owned(), "Bearer x".to_owned())].into();
        let legacy = Bytes::from(legacy.encode_to_vec());
        assert_eq!(Endpoint::decode_with(&legacy, &open).unwrap(), endpoint);
        // A secret, unlike a header value, must open.
        let mut clear_secret = wire::Endpoint::decode(&sealed[..]).unwrap();
        clear_secret.secret = "whsec_abc".into();
        let clear_secret = Bytes::from(clear_secret.encode_to_vec());
        assert!(Endpoint::decode_with(&clear_secret, &open).is_err());
    }
}
