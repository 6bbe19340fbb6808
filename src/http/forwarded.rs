//! The client address behind trusted reverse proxies (`X-Forwarded-For`), sans-IO.
//!
//! Behind a proxy or tunnel every connection comes from the proxy, so per-address throttling
//! would slow everybody down at once. When (and only when) the peer is a configured trusted
//! proxy, the client is the rightmost `X-Forwarded-For` entry that is not itself a trusted
//! proxy: entries to its left were written by the client and prove nothing.

use std::net::IpAddr;

/// An address range: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `1.2.3.4`, `10.0.0.0/8`, `::1`, `fd00::/8`; `None` otherwise.
    pub fn parse(s: &str) -> Option<Cidr> {
        let s = s.trim();
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse().ok().filter(|n| *n <= max)?
            }
            Some(_) => return None,
            None => max,
        };
        Some(Cidr { addr, prefix })
    }

    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address counts as its IPv4 one).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

/// A comma-separated list of addresses and ranges; the error names the bad entry.
pub fn parse_list(s: &str) -> Result<Vec<Cidr>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| Cidr::parse(e).ok_or_else(|| format!("not an address or range: {e:?}")))
        .collect()
}

/// The client address of a request from `peer` carrying the `X-Forwarded-For` header values
/// `xff` (in order of appearance).
pub fn client_ip<'a>(peer: IpAddr, xff: impl Iterator<Item = &'a str>, trusted: &[Cidr]) -> IpAddr {
    let trusted_ip = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !trusted_ip(canonical(peer)) {
        return peer;
    }
    let entries: Vec<&str> = xff.flat_map(|v| v.split(',')).collect();
    let mut client = peer;
    for e in entries.iter().rev() {
        let Some(ip) = parse_entry(e) else {
            // Garbage from here leftwards: the last hop we could read is the client.
            return client;
        };
        client = ip;
        if !trusted_ip(ip) {
            return ip;
        }
    }
    client
}

/// One list entry: an address, optionally as `[v6]` or with a `:port` (some proxies add it).
fn parse_entry(e: &str) -> Option<IpAddr> {
    let e = e.trim();
    if let Ok(ip) = e.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(sa) = e.parse::<std::net::SocketAddr>() {
        return Some(canonical(sa.ip()));
    }
    let inner = e.strip_prefix('[')?.strip_suffix(']')?;
    inner.parse::<IpAddr>().ok().map(canonical)
}

/// IPv4-mapped IPv6 (`::ffff:1.2.3.4`) as IPv4, so one client is one throttle entry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let (full, rest) = ((bits / 8) as usize, bits % 8);
    if a[..full] != b[..full] {
        return false;
    }
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        a[full] & mask == b[full] & mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains(ip("10.1.255.3")));
        assert!(!c.contains(ip("10.2.0.1")));
        assert!(c.contains(ip("::ffff:10.1.0.9")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(!Cidr::parse("0.0.0.0/0").unwrap().contains(ip("::1")));
        assert!(Cidr::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(
            Cidr::parse("172.16.0.0/12")
                .unwrap()
                .contains(ip("172.31.9.9"))
        );
        assert!(
            !Cidr::parse("172.16.0.0/12")
                .unwrap()
                .contains(ip("172.32.0.1"))
        );
        assert!(Cidr::parse("::1").unwrap().contains(ip("::1")));
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "host",
            "1.2.3.4/8/8",
        ] {
            assert_eq!(Cidr::parse(bad), None, "{bad:?}");
        }
        assert_eq!(parse_list(" 127.0.0.1, ::1 ,").unwrap().len(), 2);
        assert!(parse_list("127.0.0.1, nope").unwrap_err().contains("nope"));
    }

    #[test]
    fn rightmost_untrusted_entry_behind_a_trusted_peer() {
        let t = parse_list("127.0.0.1, 10.0.0.0/8").unwrap();
        let lo = ip("127.0.0.1");
        let one = |v: &'static str| std::iter::once(v);
        // Not behind a trusted proxy: the header is the client's own claim and ignored.
        assert_eq!(
            client_ip(ip("203.0.113.5"), one("1.1.1.1"), &t),
            ip("203.0.113.5")
        );
        assert_eq!(client_ip(lo, one("198.51.100.7"), &t), ip("198.51.100.7"));
        // A spoofed left part is skipped; trusted hops on the right are walked past.
        assert_eq!(
            client_ip(lo, one("6.6.6.6, 198.51.100.7, 10.0.0.2"), &t),
            ip("198.51.100.7")
        );
        // Several header lines are one list.
        assert_eq!(
            client_ip(lo, ["6.6.6.6", "198.51.100.7 , 10.1.2.3"].into_iter(), &t),
            ip("198.51.100.7")
        );
        // Ports, brackets and mapped addresses.
        assert_eq!(
            client_ip(lo, one("198.51.100.7:4711"), &t),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_ip(lo, one("[2001:db8::1]:443"), &t),
            ip("2001:db8::1")
        );
        assert_eq!(client_ip(lo, one("[2001:db8::1]"), &t), ip("2001:db8::1"));
        assert_eq!(
            client_ip(lo, one("::ffff:198.51.100.7"), &t),
            ip("198.51.100.7")
        );
        // Missing, empty or unreadable: the last readable hop.
        assert_eq!(client_ip(lo, std::iter::empty(), &t), lo);
        assert_eq!(client_ip(lo, one(""), &t), lo);
        assert_eq!(client_ip(lo, one("198.51.100.7, garbage"), &t), lo);
        assert_eq!(client_ip(lo, one("garbage, 10.0.0.3"), &t), ip("10.0.0.3"));
        // Only trusted hops: the leftmost one.
        assert_eq!(client_ip(lo, one("10.0.0.1, 10.0.0.2"), &t), ip("10.0.0.1"));
        // Nothing trusted: the peer, whatever the header says.
        assert_eq!(client_ip(lo, one("198.51.100.7"), &[]), lo);
    }
}
