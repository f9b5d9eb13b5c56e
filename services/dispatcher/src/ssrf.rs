//! Server-side request forgery protection. Delivery targets are checked after DNS
//! resolution, inside the HTTP client's resolver, so the address that was checked is
//! the address that is connected to (no DNS-rebinding window). Addresses in
//! `HERALD_ALLOWED_TARGETS` are allowed although private; when
//! `HERALD_ALLOWED_PORTS` is set, only those ports are connected to.
//!
//! A name that resolves only to refused addresses fails exactly like a name that
//! does not resolve, so a customer cannot probe which names exist inside the
//! network Herald runs in; the log says which it was. Also here: [`redact_url`],
//! a delivery URL fit for traces.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Ranges never reached unless allowed: loopback, private, link-local (cloud
/// metadata), CGNAT, multicast, documentation, benchmarking and reserved, and the
/// IPv6 ranges that embed or translate to IPv4 addresses (NAT64, 6to4,
/// IPv4-compatible) or are site-local.
const BLOCKED: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/96",
    "::/128",
    "::1/128",
    "64:ff9b::/96",
    "64:ff9b:1::/48",
    "100::/64",
    "2001:db8::/32",
    "2002::/16",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
];

/// What a customer reads when a host name gives no address delivery may use:
/// the same whether the name does not resolve or resolves only to refused
/// addresses.
pub const UNRESOLVED: &str = "the host name does not resolve to an address deliveries may reach";

/// Why a target was refused before anything was sent.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// A host name that gave no address delivery may use: it did not resolve, or it
/// resolved only to refused addresses. Displays as [`UNRESOLVED`] either way.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{UNRESOLVED}")]
pub struct Unresolved;

/// What delivery may reach beyond public addresses on any port.
#[derive(Debug, Clone, Default)]
pub struct AllowedTargets {
    /// `HERALD_ALLOWED_TARGETS`: networks reached although private.
    pub networks: Vec<IpNet>,
    /// `HERALD_ALLOWED_PORTS`: the only ports connected to; `None` for any.
    pub ports: Option<BTreeSet<u16>>,
}

/// Decides which addresses and ports delivery may reach.
#[derive(Debug, Clone)]
pub struct Policy {
    blocked: Vec<IpNet>,
    allowed: Vec<IpNet>,
    ports: Option<BTreeSet<u16>>,
}

impl Policy {
    pub fn new(allowed: AllowedTargets) -> Self {
        Policy {
            blocked: BLOCKED
                .iter()
                .map(|n| n.parse().expect("valid CIDR"))
                .collect(),
            allowed: allowed.networks,
            ports: allowed.ports,
        }
    }

    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.allowed.iter().any(|n| n.contains(&ip))
            || !self.blocked.iter().any(|n| n.contains(&ip))
    }

    /// Checks the URL's port (explicit, or its scheme's) against
    /// `HERALD_ALLOWED_PORTS`.
    pub fn check_port(&self, url: &url::Url) -> Result<(), Refused> {
        let Some(ports) = &self.ports else {
            return Ok(());
        };
        match url.port_or_known_default() {
            Some(port) if ports.contains(&port) => Ok(()),
            port => Err(Refused(format!(
                "refused: port {} is not in HERALD_ALLOWED_PORTS ({})",
                port.map_or_else(|| "(none)".to_owned(), |p| p.to_string()),
                ports
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Checks a URL whose host is an IP literal (the resolver is not asked for those).
    pub fn check_literal(&self, url: &url::Url) -> Result<(), Refused> {
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            _ => return Ok(()),
        };
        if self.permits(ip) {
            Ok(())
        } else {
            Err(Refused(format!(
                "refused: {ip} is a private or reserved address and not in HERALD_ALLOWED_TARGETS"
            )))
        }
    }
}

/// The HTTP client's resolver: system DNS, then only permitted addresses.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    pub policy: Arc<Policy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = match tokio::net::lookup_host((host.as_str(), 0)).await {
                Ok(found) => found.collect(),
                Err(err) => {
                    tracing::info!(%host, error = %err, "delivery target does not resolve");
                    return Err(Box::new(Unresolved) as Box<dyn std::error::Error + Send + Sync>);
                }
            };
            let permitted: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| policy.permits(a.ip()))
                .collect();
            if permitted.is_empty() {
                tracing::warn!(
                    %host,
                    addresses = ?found.iter().map(SocketAddr::ip).collect::<Vec<_>>(),
                    "delivery refused: the target resolves only to private or reserved \
                     addresses not in HERALD_ALLOWED_TARGETS"
                );
                return Err(Box::new(Unresolved) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(permitted.into_iter()) as Addrs)
        })
    }
}

/// Whether the resolver found no address to use, somewhere in an error's source
/// chain.
pub fn is_unresolved(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.is::<Unresolved>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// `url` fit for a trace's `url.full` (OpenTelemetry semantic conventions): user
/// name and password become `REDACTED`, and so does every query value (any of
/// them may be a token) and the fragment; a query part without `=` may be a bare
/// token and is replaced whole. A URL that does not parse is `REDACTED`.
pub fn redact_url(url: Option<&url::Url>) -> String {
    const REDACTED: &str = "REDACTED";
    let Some(mut url) = url.cloned() else {
        return REDACTED.to_owned();
    };
    if !url.username().is_empty() {
        let _ = url.set_username(REDACTED);
    }
    if url.password().is_some() {
        let _ = url.set_password(Some(REDACTED));
    }
    if let Some(query) = url.query().filter(|q| !q.is_empty()) {
        let redacted = query
            .split('&')
            .map(|part| match part.split_once('=') {
                Some((key, _)) => format!("{key}={REDACTED}"),
                None if part.is_empty() => String::new(),
                None => REDACTED.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("&");
        url.set_query(Some(&redacted));
    }
    if url.fragment().is_some_and(|f| !f.is_empty()) {
        url.set_fragment(Some(REDACTED));
    }
    url.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_metadata_addresses_are_refused_by_default() {
        let policy = Policy::new(AllowedTargets::default());
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.20.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
            // Local-use NAT64 (RFC 8215), 6to4 (RFC 3056), IPv4-compatible IPv6
            // and deprecated site-local: each can carry or reach an internal address.
            "64:ff9b:1::a00:1",
            "2002:a00:1::1",
            "2002:7f00:1::",
            "::127.0.0.1",
            "::a00:1",
            "fec0::1",
        ] {
            assert!(!policy.permits(ip.parse().unwrap()), "{ip}");
        }
        assert!(policy.permits("93.184.216.34".parse().unwrap()));
        assert!(policy.permits("2606:2800:220:1::1".parse().unwrap()));
    }

    #[test]
    fn allow_list_opens_listed_ranges_only() {
        let policy = Policy::new(AllowedTargets {
            networks: vec!["127.0.0.0/8".parse().unwrap()],
            ports: None,
        });
        assert!(policy.permits("127.0.0.1".parse().unwrap()));
        assert!(!policy.permits("10.0.0.1".parse().unwrap()));
        let url = url::Url::parse("http://10.0.0.1/hook").unwrap();
        assert!(policy.check_literal(&url).is_err());
        let url = url::Url::parse("http://127.0.0.1:9/hook").unwrap();
        assert!(policy.check_literal(&url).is_ok());
    }

    #[test]
    fn allowed_ports_name_the_refused_port() {
        let policy = Policy::new(AllowedTargets {
            networks: Vec::new(),
            ports: Some([80, 443].into()),
        });
        for url in ["https://example.com/", "http://example.com:80/"] {
            assert!(policy.check_port(&url::Url::parse(url).unwrap()).is_ok());
        }
        let refused = policy
            .check_port(&url::Url::parse("https://example.com:8443/").unwrap())
            .unwrap_err();
        assert_eq!(
            refused.0,
            "refused: port 8443 is not in HERALD_ALLOWED_PORTS (80, 443)"
        );
        let any = Policy::new(AllowedTargets::default());
        assert!(
            any.check_port(&url::Url::parse("http://x:1/").unwrap())
                .is_ok()
        );
    }

    #[test]
    fn urls_for_traces_hide_credentials_query_values_and_fragment() {
        for (url, redacted) in [
            ("https://example.com/hook", "https://example.com/hook"),
            (
                "https://user:pass@example.com:8443/h?token=abc&x=1#frag",
                "https://REDACTED:REDACTED@example.com:8443/h?token=REDACTED&x=REDACTED#REDACTED",
            ),
            (
                "http://user@example.com/?a=1&a=2&bare",
                "http://REDACTED@example.com/?a=REDACTED&a=REDACTED&REDACTED",
            ),
            ("http://example.com/?", "http://example.com/?"),
            ("not a url ?token=abc", "REDACTED"),
        ] {
            let parsed = url::Url::parse(url).ok();
            assert_eq!(redact_url(parsed.as_ref()), redacted, "{url}");
        }
    }
}
