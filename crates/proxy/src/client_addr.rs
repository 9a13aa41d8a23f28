//! Who the client is, for every per-address limit: the TCP peer, or — only when the peer is one
//! of `server.trusted_proxies` — the right-most `X-Forwarded-For` address that is not; and the
//! key a limit counts it under (an IPv6 address by its /64). The accept loop decides it once per
//! request and leaves it in the request's extensions, where handlers extract it.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

/// The header a reverse proxy appends the address it saw to.
const FORWARDED_FOR: &str = "x-forwarded-for";

/// An address block: an address and a prefix length (`10.0.0.0/8`, `2001:db8::/32`, or a
/// single address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `addr` or `addr/prefix`; the prefix at most 32 (IPv4) or 128 (IPv6).
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| format!("{text:?} is not an IP address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(p) if p <= max => p,
                _ => return Err(format!("{text:?}: the prefix length must be 0 to {max}")),
            },
        };
        Ok(Self { addr, prefix })
    }

    /// Whether `ip` lies in the block (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is; any other as it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Whether `ip` is one of the trusted proxies.
fn trusted(ip: IpAddr, proxies: &[Cidr]) -> bool {
    proxies.iter().any(|c| c.contains(ip))
}

/// One `X-Forwarded-For` entry: an address, perhaps with a port (`1.2.3.4:5`, `[::1]:5`).
fn forwarded_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry.parse::<IpAddr>().ok().or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// The client's address: the TCP peer, unless the peer is a trusted proxy; then the right-most
/// `X-Forwarded-For` address (over every such header, in order) that is not a trusted proxy.
/// When every listed address is trusted, the left-most; when an entry is not an address, the
/// hop right of it (a trusted proxy: never an address the client chose). `None` without a peer.
pub(crate) fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, proxies: &[Cidr]) -> Option<IpAddr> {
    let peer = canonical(peer?);
    if !trusted(peer, proxies) {
        return Some(peer);
    }
    let entries: Vec<&str> =
        headers.get_all(FORWARDED_FOR).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        match forwarded_entry(entry).map(canonical) {
            Some(ip) if trusted(ip, proxies) => client = ip,
            Some(ip) => return Some(ip),
            None => return Some(client),
        }
    }
    Some(client)
}

/// The key a per-address limit counts `ip` under: an IPv4 address itself, an IPv6 address its
/// /64 (one host usually holds a whole /64, so counting single addresses would not limit it).
pub(crate) fn limit_key(ip: Option<IpAddr>) -> String {
    match ip.map(canonical) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let net = Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64));
            format!("{net}/64")
        }
        None => "unknown".to_owned(),
    }
}

/// The client of a request, as [`client_ip`] decides it; extracted by handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientAddr(pub(crate) Option<IpAddr>);

impl ClientAddr {
    /// The key its per-address limits count under ([`limit_key`]).
    pub(crate) fn key(&self) -> String {
        limit_key(self.0)
    }
}

impl fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(ip) => write!(f, "{}", canonical(ip)),
            None => f.write_str("unknown"),
        }
    }
}

/// The address the accept loop decided; without one, the TCP peer (no proxy believed).
impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(client) = parts.extensions.get::<Self>() {
            return Ok(*client);
        }
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        Ok(Self(client_ip(peer, &parts.headers, &[])))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(FORWARDED_FOR, HeaderValue::from_str(v).expect("a value"));
        }
        h
    }

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|c| Cidr::parse(c).expect("a block")).collect()
    }

    #[test]
    fn blocks_parse_and_contain() {
        let net = Cidr::parse("10.1.0.0/16").expect("parses");
        assert!(net.contains(ip("10.1.200.3")) && !net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.0.9")), "an IPv4-mapped address is its IPv4 address");
        let one = Cidr::parse("192.0.2.7").expect("parses");
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let v6 = Cidr::parse("2001:db8::/32").expect("parses");
        assert!(v6.contains(ip("2001:db8:ffff::1")) && !v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("10.1.0.1")));
        assert!(Cidr::parse("0.0.0.0/0").expect("parses").contains(ip("203.0.113.1")));
        for bad in ["", "10.0.0.0/33", "::/129", "10.0.0/8", "example.com", "10.0.0.0/x", "10.0.0.0/-1"] {
            assert!(Cidr::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn forwarded_for_is_ignored_unless_the_peer_is_trusted() {
        let h = xff(&["198.51.100.9"]);
        assert_eq!(client_ip(Some(ip("203.0.113.5")), &h, &[]), Some(ip("203.0.113.5")), "no trusted proxies");
        let proxies = cidrs(&["10.0.0.0/8"]);
        assert_eq!(client_ip(Some(ip("203.0.113.5")), &h, &proxies), Some(ip("203.0.113.5")), "an untrusted peer");
        assert_eq!(client_ip(Some(ip("10.0.0.2")), &h, &proxies), Some(ip("198.51.100.9")));
        assert_eq!(client_ip(None, &h, &proxies), None);
    }

    #[test]
    fn the_right_most_untrusted_address_is_the_client() {
        let proxies = cidrs(&["10.0.0.0/8", "2001:db8::1"]);
        let peer = Some(ip("10.0.0.2"));
        // The client forged the left-most entry; the proxies appended the real ones.
        let h = xff(&["1.1.1.1, 198.51.100.9, 10.0.0.7"]);
        assert_eq!(client_ip(peer, &h, &proxies), Some(ip("198.51.100.9")));
        // Several header lines are one list, in order.
        let h = xff(&["1.1.1.1", "198.51.100.9", "10.0.0.7"]);
        assert_eq!(client_ip(peer, &h, &proxies), Some(ip("198.51.100.9")));
        // Ports and IPv6.
        let h = xff(&["[2001:db8::99]:443, 2001:db8::1"]);
        assert_eq!(client_ip(peer, &h, &proxies), Some(ip("2001:db8::99")));
        let h = xff(&["198.51.100.9:1234"]);
        assert_eq!(client_ip(peer, &h, &proxies), Some(ip("198.51.100.9")));
        // All trusted: the left-most. None at all: the peer.
        let h = xff(&["10.9.9.9, 10.0.0.7"]);
        assert_eq!(client_ip(peer, &h, &proxies), Some(ip("10.9.9.9")));
        assert_eq!(client_ip(peer, &HeaderMap::new(), &proxies), peer);
        // Garbage stops the walk at the hop right of it, a trusted proxy.
        let h = xff(&["198.51.100.9, junk, 10.0.0.7"]);
        assert_eq!(client_ip(peer, &h, &proxies), Some(ip("10.0.0.7")));
        let h = xff(&["junk"]);
        assert_eq!(client_ip(peer, &h, &proxies), peer);
    }

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        let key = |s: &str| limit_key(Some(ip(s)));
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:ffff:ffff:ffff:ffff"), key("2001:db8:1:2::"), "one /64, one key");
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"), "another /64, another key");
        assert_eq!(key("192.0.2.1"), "192.0.2.1");
        assert_ne!(key("192.0.2.1"), key("192.0.2.2"), "IPv4 addresses one by one");
        assert_eq!(key("::ffff:192.0.2.1"), "192.0.2.1", "an IPv4-mapped address is its IPv4 address");
        assert_eq!(limit_key(None), "unknown");
    }
}
