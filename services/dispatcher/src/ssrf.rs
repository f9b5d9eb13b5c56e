//! Server-side request forgery protection. Delivery targets are checked after DNS
//! resolution, inside the HTTP client's resolver, so the address that was checked is
//! the address that is connected to (no DNS-rebinding window). Addresses in
//! `HERALD_ALLOWED_TARGETS` are allowed although private.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Ranges never reached unless allowed: loopback, private, link-local (cloud
/// metadata), CGNAT, multicast, documentation, benchmarking and reserved.
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
    "::/128",
    "::1/128",
    "64:ff9b::/96",
    "100::/64",
    "2001:db8::/32",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
];

/// Why a target was refused; carried through the HTTP client's error chain.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Decides which addresses delivery may reach.
#[derive(Debug, Clone)]
pub struct Policy {
    blocked: Vec<IpNet>,
    allowed: Vec<IpNet>,
}

impl Policy {
    pub fn new(allowed: Vec<IpNet>) -> Self {
        Policy {
            blocked: BLOCKED
                .iter()
                .map(|n| n.parse().expect("valid CIDR"))
                .collect(),
            allowed,
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
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?
                .collect();
            let permitted: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| policy.permits(a.ip()))
                .collect();
            if permitted.is_empty() {
                let refused = Refused(format!(
                    "refused: {host} resolves only to private or reserved addresses not in HERALD_ALLOWED_TARGETS"
                ));
                return Err(Box::new(refused) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(permitted.into_iter()) as Addrs)
        })
    }
}

/// The refusal somewhere in an error's source chain, if any.
pub fn find_refusal<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refused> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return Some(refused);
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_metadata_addresses_are_refused_by_default() {
        let policy = Policy::new(vec![]);
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
        ] {
            assert!(!policy.permits(ip.parse().unwrap()), "{ip}");
        }
        assert!(policy.permits("93.184.216.34".parse().unwrap()));
        assert!(policy.permits("2606:2800:220:1::1".parse().unwrap()));
    }

    #[test]
    fn allow_list_opens_listed_ranges_only() {
        let policy = Policy::new(vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(policy.permits("127.0.0.1".parse().unwrap()));
        assert!(!policy.permits("10.0.0.1".parse().unwrap()));
        let url = url::Url::parse("http://10.0.0.1/hook").unwrap();
        assert!(policy.check_literal(&url).is_err());
        let url = url::Url::parse("http://127.0.0.1:9/hook").unwrap();
        assert!(policy.check_literal(&url).is_ok());
    }
}
