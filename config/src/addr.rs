//! [`ServiceAddr`]: where a service is found, `host:port`, the host an IP literal or a DNS
//! name.
//!
//! The cluster file names every service by one of these. A name is never resolved here:
//! callers put it in the URLs they connect to, and the HTTP client resolves it on every new
//! connection (a failed connection is followed by a new one, so a service that comes back
//! under the same name at a new address is found again). A service binds its own address
//! by resolving it once at start-up, unless it is told where to listen (`--addr`, e.g.
//! `0.0.0.0:8091` in a container whose name belongs to the container network).
//!
//! Guarantees: a parsed address has a non-empty host of valid DNS characters (letters,
//! digits, `-`, `.`, `_`) or an IP literal (IPv6 in brackets), and a port; it prints as it
//! was read (IPv6 in brackets), so it round-trips through the cluster file.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// `host:port`: an IP literal or a DNS name, and a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServiceAddr {
    host: Host,
    port: u16,
}

/// The host part: an IP literal or a name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Host {
    Ip(IpAddr),
    /// Lower-cased (DNS names are case-insensitive, and duplicates must be found).
    Name(String),
}

/// Why text is not a `host:port` address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not HOST:PORT ({why})")]
pub struct BadAddr {
    text: String,
    why: &'static str,
}

impl ServiceAddr {
    /// The address of an IP and port.
    pub fn ip(addr: SocketAddr) -> Self {
        ServiceAddr {
            host: Host::Ip(addr.ip()),
            port: addr.port(),
        }
    }

    /// `127.0.0.1:port`.
    pub fn loopback(port: u16) -> Self {
        Self::ip(SocketAddr::from(([127, 0, 0, 1], port)))
    }

    /// The host as it goes into a URL or a certificate check: a name, or the IP (without
    /// brackets).
    pub fn host(&self) -> String {
        match &self.host {
            Host::Ip(ip) => ip.to_string(),
            Host::Name(name) => name.clone(),
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The socket address, when the host is an IP literal (no lookup is ever made here).
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self.host {
            Host::Ip(ip) => Some(SocketAddr::new(ip, self.port)),
            Host::Name(_) => None,
        }
    }

    /// Whether the host is a name (resolved when connecting).
    pub fn is_name(&self) -> bool {
        matches!(self.host, Host::Name(_))
    }

    /// The base URL of the service at this address: `http://host:port` or, with TLS,
    /// `https://host:port`.
    pub fn url(&self, tls: bool) -> String {
        let scheme = if tls { "https" } else { "http" };
        format!("{scheme}://{self}")
    }
}

impl From<SocketAddr> for ServiceAddr {
    fn from(addr: SocketAddr) -> Self {
        Self::ip(addr)
    }
}

impl fmt::Display for ServiceAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            Host::Ip(ip) => write!(f, "{ip}:{}", self.port),
            Host::Name(name) => write!(f, "{name}:{}", self.port),
        }
    }
}

impl FromStr for ServiceAddr {
    type Err = BadAddr;

    fn from_str(text: &str) -> Result<Self, BadAddr> {
        let bad = |why| BadAddr {
            text: text.to_owned(),
            why,
        };
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Ok(Self::ip(addr));
        }
        let (host, port) = text.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        let port = port.parse::<u16>().map_err(|_| bad("bad port"))?;
        if host.starts_with('[') || host.contains(':') {
            return Err(bad("bad IPv6 literal"));
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(ServiceAddr {
                host: Host::Ip(ip),
                port,
            });
        }
        valid_name(host).map_err(bad)?;
        Ok(ServiceAddr {
            host: Host::Name(host.to_ascii_lowercase()),
            port,
        })
    }
}

/// Checks a DNS name: labels of letters, digits, `-` and `_` (not at a label's ends for
/// `-`), 1 to 63 bytes each, 253 in all.
fn valid_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("no host");
    }
    if name.len() > 253 {
        return Err("host name longer than 253 bytes");
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("empty or over-long label in host name");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("host name with a character other than letters, digits, '-', '_', '.'");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("host name label starting or ending with '-'");
        }
    }
    if name.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err("numeric host that is not an IP address");
    }
    Ok(())
}

impl TryFrom<String> for ServiceAddr {
    type Error = BadAddr;

    fn try_from(text: String) -> Result<Self, BadAddr> {
        text.parse()
    }
}

impl From<ServiceAddr> for String {
    fn from(addr: ServiceAddr) -> String {
        addr.to_string()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn ips_and_names_round_trip() {
        for text in [
            "127.0.0.1:8090",
            "[::1]:8080",
            "order-2.toystore:8091",
            "localhost:1",
            "catalog-0.catalog.toystore.svc.cluster.local:8090",
        ] {
            let addr: ServiceAddr = text.parse().unwrap();
            assert_eq!(addr.to_string(), text);
        }
        let name: ServiceAddr = "Order-2.Toystore:8091".parse().unwrap();
        assert_eq!(name.to_string(), "order-2.toystore:8091");
        assert!(name.is_name());
        assert_eq!(name.socket_addr(), None);
        assert_eq!(name.url(true), "https://order-2.toystore:8091");
        let ip: ServiceAddr = "[::1]:8080".parse().unwrap();
        assert_eq!(ip.host(), "::1");
        assert_eq!(ip.url(false), "http://[::1]:8080");
        assert_eq!(ip.socket_addr(), Some("[::1]:8080".parse().unwrap()));
    }

    #[test]
    fn refuses_what_is_not_host_and_port() {
        for text in [
            "",
            "order-1",
            ":8091",
            "order-1:",
            "order-1:65536",
            "order 1:8091",
            "-order:8091",
            "a..b:80",
            "http://a:80",
            "::1:80",
            "[::1:80",
            "10.0.0:80",
            "o/1:80",
        ] {
            assert!(text.parse::<ServiceAddr>().is_err(), "{text:?} accepted");
        }
    }

    #[test]
    fn serde_reads_and_writes_the_text() {
        #[derive(Serialize, Deserialize)]
        struct T {
            addr: ServiceAddr,
        }
        let t: T = toml::from_str("addr = \"catalog-1:8090\"").unwrap();
        assert_eq!(t.addr.port(), 8090);
        assert_eq!(
            toml::to_string(&t).unwrap().trim(),
            "addr = \"catalog-1:8090\""
        );
        assert!(toml::from_str::<T>("addr = \"catalog-1\"").is_err());
    }
}
