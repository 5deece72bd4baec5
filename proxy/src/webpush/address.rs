//! Where a Web Push may go. The endpoint comes from the device, that is from any user, so a push
//! must never reach the gateway's own network: loopback, private, link-local (cloud metadata
//! at 169.254.169.254 among them), unique-local, carrier-grade NAT and the other special
//! ranges MPNS's pull request 166 refuses, plus the operator's `AdditionalBlockedCIDRs`.
//!
//! The check runs on the addresses a name resolves to, inside the HTTP client's resolver: the
//! client connects only to addresses that passed, so a name that resolves differently a moment
//! later (DNS rebinding) gains nothing. An address literal in the URL is checked before
//! sending. Written here because no kept crate does this on reqwest's resolver (paranoidhttp is
//! Go's).

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

use ipnet::IpNet;

/// The ranges no push goes to, beside the address kinds `forbidden` names. MPNS's list
/// (paranoidhttp's defaults and what it adds), and the documentation ranges.
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
    // IPv6: only global unicast (2000::/3) may be reached, without its special blocks.
    "::/3",
    "4000::/2",
    "8000::/1",
    "2001::/32",
    "2001:10::/28",
    "2001:20::/28",
    "2001:db8::/32",
    "2002::/16",
];

/// The address rules of one target.
#[derive(Clone)]
pub struct Rules {
    blocked: Arc<Vec<IpNet>>,
}

impl Rules {
    /// The built-in ranges and `additional` (`AdditionalBlockedCIDRs`); an entry that is not a
    /// CIDR is an error naming it.
    pub fn new(additional: &[String]) -> Result<Rules, String> {
        let mut blocked: Vec<IpNet> = BLOCKED
            .iter()
            .map(|c| c.parse().expect("a built-in CIDR"))
            .collect();
        for cidr in additional {
            blocked.push(cidr.parse().map_err(|e| {
                format!("AdditionalBlockedCIDRs entry {cidr:?} is not a valid CIDR: {e}")
            })?);
        }
        Ok(Rules {
            blocked: Arc::new(blocked),
        })
    }

    /// Whether no push may go to `ip`. An IPv4 address written as IPv6 (`::ffff:10.0.0.1`) is
    /// judged as the IPv4 address it is.
    pub fn forbidden(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.blocked.iter().any(|net| net.contains(&ip))
    }
}

/// Set only by test suites and load tests (`confine_to_loopback`): then no Web Push
/// connection, not even to an `AllowedHosts` host, goes anywhere but loopback, so that a
/// mistake in a test or in the rules cannot send traffic off the machine.
static LOOPBACK_ONLY: AtomicBool = AtomicBool::new(false);

/// From now on this process sends Web Push to loopback addresses only (`LOOPBACK_ONLY`).
pub fn confine_to_loopback() {
    LOOPBACK_ONLY.store(true, Ordering::SeqCst);
}

/// Whether the confinement refuses `ip`.
pub fn outside_confinement(ip: IpAddr) -> bool {
    LOOPBACK_ONLY.load(Ordering::SeqCst) && !ip.to_canonical().is_loopback()
}

/// Why a connection was not made: the destination is forbidden. Found in a failed request's
/// error chain, it makes the answer "destination not permitted".
#[derive(Debug)]
pub struct Blocked;

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("destination resolves to a forbidden IP range")
    }
}

impl std::error::Error for Blocked {}

/// Whether `error` (or one of its causes) is a `Blocked`.
pub fn is_blocked(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<Blocked>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// A client's resolver: the system's answer without the addresses refused; none left is
/// `Blocked`. The guarded client's applies the rules, the `AllowedHosts` one (`rules: None`)
/// only the confinement.
pub struct Resolver {
    pub rules: Option<Rules>,
}

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let rules = self.rules.clone();
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> = found
                .filter(|a| {
                    !outside_confinement(a.ip())
                        && !rules.as_ref().is_some_and(|r| r.forbidden(a.ip()))
                })
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(Blocked) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The address literal of a URL host (`127.0.0.2`, `[::1]`), if it is one.
pub fn literal(host: &url::Host<&str>) -> Option<IpAddr> {
    match host {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(Ipv4Addr::from(v4.octets()))),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(Ipv6Addr::from(v6.octets()))),
        url::Host::Domain(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confined_only_loopback_passes() {
        confine_to_loopback();
        for ip in ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"] {
            assert!(!outside_confinement(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "10.0.0.1",
            "169.254.169.254",
            "8.8.8.8",
            "::ffff:10.0.0.1",
            "2001:4860::8888",
        ] {
            assert!(outside_confinement(ip.parse().unwrap()), "{ip}");
        }
    }

    fn forbidden(ip: &str) -> bool {
        Rules::new(&[]).unwrap().forbidden(ip.parse().unwrap())
    }

    #[test]
    fn every_listed_range_is_refused() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "127.0.0.2",
            "127.255.255.255",
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.11",
            "169.254.169.254", // cloud metadata
            "169.254.0.1",
            "100.64.0.1", // carrier-grade NAT
            "100.127.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "198.19.255.255",
            "203.0.113.9",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fe80::1",         // link-local
            "fc00::1",         // unique-local
            "fd00:ec2::254",   // AWS metadata over IPv6
            "::ffff:10.0.0.1", // IPv4-mapped
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1", // NAT64
            "2001:db8::1",
            "2001::1", // Teredo
            "2002::1", // 6to4
            "ff02::1", // multicast
        ] {
            assert!(forbidden(ip), "{ip} must be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
        ] {
            assert!(!forbidden(ip), "{ip} is public");
        }
    }

    #[test]
    fn additional_ranges_are_added_and_checked() {
        let rules = Rules::new(&["8.8.8.0/24".into(), "2a00::/16".into()]).unwrap();
        assert!(rules.forbidden("8.8.8.8".parse().unwrap()));
        assert!(rules.forbidden("2a00:1450::1".parse().unwrap()));
        assert!(!rules.forbidden("1.1.1.1".parse().unwrap()));
        let error = Rules::new(&["not-a-cidr".into()]).err().unwrap();
        assert!(
            error.contains("AdditionalBlockedCIDRs entry \"not-a-cidr\""),
            "{error}"
        );
    }
}
