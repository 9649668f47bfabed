//! Which address a request comes from, for the failure limits.
//!
//! The TCP peer is the client unless it is one of `server.trusted_proxies`. Only then is
//! `X-Forwarded-For` read, and from the right: each trusted proxy appends the address it was
//! reached from, so the right-most entry that is not itself a trusted proxy is the first
//! address no proxy of ours vouches for: the client. Anything left of it was written by the
//! client and is ignored, so a client cannot pick the address it is counted under. With no
//! trusted proxies (the default) the header is never read.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

/// The configured proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses CIDRs (`10.0.0.0/8`, `fd00::/8`) or single addresses; the error names the entry.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        entries
            .iter()
            .map(|e| {
                let e = e.trim();
                e.parse::<IpNet>()
                    .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| format!("{e:?} is not an address or CIDR block"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    fn trusts(&self, addr: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// The client of a request from `peer` carrying these `X-Forwarded-For` header values (in
    /// the order they appear).
    pub fn client<'a>(&self, peer: IpAddr, forwarded_for: impl Iterator<Item = &'a str>) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded_for.flat_map(|v| v.split(',')).collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            // Garbage cannot be counted under anything better than the proxy that passed it.
            let Some(addr) = parse_hop(hop) else {
                return client;
            };
            client = addr;
            if !self.trusts(addr) {
                return addr;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`[::1]:80`, `1.2.3.4:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_header_is_never_read() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client(ip("198.51.100.7"), ["203.0.113.1"].into_iter()),
            ip("198.51.100.7")
        );
        // A peer outside the list is the client, whatever it sends.
        let some = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            some.client(ip("198.51.100.7"), ["203.0.113.1"].into_iter()),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn the_rightmost_address_no_trusted_proxy_vouches_for_is_the_client() {
        let p = proxies(&["10.0.0.0/8", "2001:db8:ffff::/48", "192.0.2.9"]);
        let peer = ip("10.1.2.3");
        assert_eq!(
            p.client(peer, ["203.0.113.5"].into_iter()),
            ip("203.0.113.5")
        );
        // What the client wrote itself (left) is ignored.
        assert_eq!(
            p.client(peer, ["1.1.1.1, 203.0.113.5"].into_iter()),
            ip("203.0.113.5")
        );
        // Trusted hops on the right are skipped, across several headers too.
        assert_eq!(
            p.client(
                peer,
                ["1.1.1.1, 203.0.113.5", "192.0.2.9, 10.9.9.9"].into_iter()
            ),
            ip("203.0.113.5")
        );
        assert_eq!(
            p.client(peer, ["[2001:db8::1]:443, 2001:db8:ffff::2"].into_iter()),
            ip("2001:db8::1")
        );
        assert_eq!(
            p.client(peer, ["203.0.113.5:1234"].into_iter()),
            ip("203.0.113.5")
        );
        // No header: the proxy itself. Only trusted hops: the left-most of them.
        assert_eq!(p.client(peer, std::iter::empty()), peer);
        assert_eq!(
            p.client(peer, ["10.0.0.1, 10.0.0.2"].into_iter()),
            ip("10.0.0.1")
        );
        // Garbage stops the walk at the last hop a trusted proxy vouched for.
        assert_eq!(
            p.client(peer, ["203.0.113.5, nonsense, 10.0.0.2"].into_iter()),
            ip("10.0.0.2")
        );
        assert_eq!(p.client(peer, ["unknown"].into_iter()), peer);
        // An IPv4-mapped peer is its IPv4 address.
        assert_eq!(
            p.client(ip("::ffff:10.1.2.3"), ["203.0.113.5"].into_iter()),
            ip("203.0.113.5")
        );
    }

    #[test]
    fn entries_are_cidrs_or_addresses() {
        assert!(TrustedProxies::parse(&["10.0.0.0/8".into(), "::1".into()]).is_ok());
        let err = TrustedProxies::parse(&["10.0.0.0/33".into()]).unwrap_err();
        assert!(err.contains("10.0.0.0/33"), "{err}");
        assert!(TrustedProxies::parse(&["proxy.internal".into()]).is_err());
        // Host bits are ignored rather than refused.
        let p = proxies(&["10.1.2.3/8"]);
        assert!(p.trusts(ip("10.200.0.1")));
    }
}
