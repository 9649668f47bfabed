//! Which addresses a webhook may connect to.
//!
//! A webhook URL is written by whoever holds an admin key, while the gateway runs inside a
//! network that person may not be meant to reach: the database, the cloud's metadata service,
//! whatever listens on loopback. So the address a send actually connects to is checked against
//! the ranges below, and refused unless an operator allow-listed it
//! (`webhooks.allow_networks`). The sender checks after DNS resolution, in its resolver, so a
//! name that resolves to a public address at creation and to 127.0.0.1 at send time (DNS
//! rebinding) is still refused; hosts written as IP literals never reach a resolver and are
//! checked before the request and at creation.
//!
//! This room only decides: it never resolves a name or opens a connection.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// The kind of range a refused address lies in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forbidden {
    /// A cloud instance metadata service (169.254.169.254, fd00:ec2::254): it hands out
    /// credentials to whoever asks from inside.
    Metadata,
    Loopback,
    /// RFC 1918: 10/8, 172.16/12, 192.168/16.
    Private,
    /// 169.254/16, fe80::/10.
    LinkLocal,
    /// fc00::/7 (and the deprecated site-local fec0::/10).
    UniqueLocal,
    /// Carrier-grade NAT, 100.64/10: private in all but name.
    SharedAddressSpace,
    Unspecified,
    Broadcast,
    Multicast,
    /// 0/8, 240/4 and the IPv4-compatible ::/96: nothing a helpdesk lives at.
    Reserved,
}

impl Forbidden {
    pub fn as_str(self) -> &'static str {
        match self {
            Forbidden::Metadata => "a cloud metadata address",
            Forbidden::Loopback => "a loopback address",
            Forbidden::Private => "a private address",
            Forbidden::LinkLocal => "a link-local address",
            Forbidden::UniqueLocal => "a unique-local address",
            Forbidden::SharedAddressSpace => "a carrier-grade NAT address",
            Forbidden::Unspecified => "the unspecified address",
            Forbidden::Broadcast => "the broadcast address",
            Forbidden::Multicast => "a multicast address",
            Forbidden::Reserved => "a reserved address",
        }
    }
}

impl fmt::Display for Forbidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why `ip` must not be connected to, or `None` for an ordinary public address.
pub fn classify(ip: IpAddr) -> Option<Forbidden> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: &str) -> bool {
    net.parse::<Ipv4Net>()
        .expect("a well-formed range")
        .contains(&ip)
}

fn in_v6(ip: Ipv6Addr, net: &str) -> bool {
    net.parse::<Ipv6Net>()
        .expect("a well-formed range")
        .contains(&ip)
}

fn classify_v4(ip: Ipv4Addr) -> Option<Forbidden> {
    Some(if ip == Ipv4Addr::new(169, 254, 169, 254) {
        Forbidden::Metadata
    } else if ip.is_unspecified() {
        Forbidden::Unspecified
    } else if ip.is_broadcast() {
        Forbidden::Broadcast
    } else if ip.is_loopback() {
        Forbidden::Loopback
    } else if ip.is_private() {
        Forbidden::Private
    } else if ip.is_link_local() {
        Forbidden::LinkLocal
    } else if in_v4(ip, "100.64.0.0/10") {
        Forbidden::SharedAddressSpace
    } else if ip.is_multicast() {
        Forbidden::Multicast
    } else if in_v4(ip, "0.0.0.0/8") || in_v4(ip, "240.0.0.0/4") {
        // "This network" (Linux connects 0.x to the local host) and the old class E.
        Forbidden::Reserved
    } else {
        return None;
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<Forbidden> {
    // An IPv4 address dressed as IPv6 reaches the IPv4 host: judge that one. NAT64
    // (64:ff9b::/96) is translated to its embedded IPv4 address by the network.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    if in_v6(ip, "64:ff9b::/96") {
        let [.., a, b, c, d] = ip.octets();
        return classify_v4(Ipv4Addr::new(a, b, c, d));
    }
    Some(
        if ip == "fd00:ec2::254".parse::<Ipv6Addr>().expect("an address") {
            Forbidden::Metadata
        } else if ip.is_unspecified() {
            Forbidden::Unspecified
        } else if ip.is_loopback() {
            Forbidden::Loopback
        } else if ip.is_multicast() {
            Forbidden::Multicast
        } else if in_v6(ip, "fe80::/10") {
            Forbidden::LinkLocal
        } else if in_v6(ip, "fc00::/7") || in_v6(ip, "fec0::/10") {
            Forbidden::UniqueLocal
        } else if in_v6(ip, "::/96") {
            Forbidden::Reserved
        } else {
            return None;
        },
    )
}

/// The refused ranges, less what the operator allow-listed.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    allowed: Vec<IpNet>,
}

impl AddressPolicy {
    pub fn new(allowed: Vec<IpNet>) -> Self {
        Self { allowed }
    }

    /// `Ok` when a webhook may connect to `ip`.
    pub fn check(&self, ip: IpAddr) -> Result<(), Forbidden> {
        let Some(reason) = classify(ip) else {
            return Ok(());
        };
        // ::ffff:127.0.0.1 is allowed by 127.0.0.1/32, as it reaches the same host.
        let canonical = ip.to_canonical();
        if self
            .allowed
            .iter()
            .any(|net| net.contains(&ip) || net.contains(&canonical))
        {
            return Ok(());
        }
        Err(reason)
    }
}

/// Why a webhook URL is refused before any connection is tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlRefusal {
    /// Not `https` (nor `http` where that is allowed).
    Scheme {
        allow_http: bool,
    },
    NoHost,
    /// The host is an IP literal in a refused range.
    Address {
        ip: IpAddr,
        reason: Forbidden,
    },
}

impl fmt::Display for UrlRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlRefusal::Scheme { allow_http: true } => f.write_str("must be an http(s) URL"),
            UrlRefusal::Scheme { allow_http: false } => f.write_str(
                "must be an https URL (plain http is accepted only where the gateway is \
                 configured with webhooks.allow_http)",
            ),
            UrlRefusal::NoHost => f.write_str("must name a host"),
            UrlRefusal::Address { ip, reason } => write!(
                f,
                "points at {ip}, {reason}, which webhooks may not reach (unless the gateway \
                 allows it in webhooks.allow_networks)"
            ),
        }
    }
}

/// What can be decided about a webhook URL without resolving it: the scheme, and the address
/// when the host is an IP literal (a resolver never sees those, so nothing else would check
/// them). Host names are checked at connection time, after resolution.
pub fn check_url(
    url: &url::Url,
    allow_http: bool,
    policy: &AddressPolicy,
) -> Result<(), UrlRefusal> {
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        _ => return Err(UrlRefusal::Scheme { allow_http }),
    }
    let ip = match url.host() {
        None => return Err(UrlRefusal::NoHost),
        Some(url::Host::Domain(_)) => return Ok(()),
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
    };
    policy
        .check(ip)
        .map_err(|reason| UrlRefusal::Address { ip, reason })
}

/// Reads an allow-list entry: a CIDR (`10.1.0.0/16`, `fd12::/64`) or a single address.
pub fn parse_network(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{text}` is not a CIDR network (e.g. 10.1.0.0/16) or an address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn every_refused_range_is_named() {
        for (address, reason) in [
            ("127.0.0.1", Forbidden::Loopback),
            ("127.255.0.9", Forbidden::Loopback),
            ("::1", Forbidden::Loopback),
            ("10.0.0.1", Forbidden::Private),
            ("172.16.0.1", Forbidden::Private),
            ("172.31.255.254", Forbidden::Private),
            ("192.168.1.1", Forbidden::Private),
            ("169.254.0.1", Forbidden::LinkLocal),
            ("fe80::1", Forbidden::LinkLocal),
            ("febf::1", Forbidden::LinkLocal),
            ("fc00::1", Forbidden::UniqueLocal),
            ("fdff:ffff::1", Forbidden::UniqueLocal),
            ("fec0::1", Forbidden::UniqueLocal),
            ("169.254.169.254", Forbidden::Metadata),
            ("fd00:ec2::254", Forbidden::Metadata),
            ("100.64.0.1", Forbidden::SharedAddressSpace),
            ("100.127.255.254", Forbidden::SharedAddressSpace),
            ("0.0.0.0", Forbidden::Unspecified),
            ("::", Forbidden::Unspecified),
            ("0.1.2.3", Forbidden::Reserved),
            ("255.255.255.255", Forbidden::Broadcast),
            ("240.0.0.1", Forbidden::Reserved),
            ("224.0.0.251", Forbidden::Multicast),
            ("ff02::1", Forbidden::Multicast),
            ("::127.0.0.1", Forbidden::Reserved),
            // IPv4 in IPv6 clothing is judged as the IPv4 address it reaches.
            ("::ffff:127.0.0.1", Forbidden::Loopback),
            ("::ffff:10.1.2.3", Forbidden::Private),
            ("::ffff:169.254.169.254", Forbidden::Metadata),
            ("64:ff9b::a9fe:a9fe", Forbidden::Metadata),
            ("64:ff9b::7f00:1", Forbidden::Loopback),
        ] {
            assert_eq!(classify(ip(address)), Some(reason), "{address}");
        }
    }

    #[test]
    fn public_addresses_and_the_edges_of_refused_ranges_pass() {
        for address in [
            "1.1.1.1",
            "93.184.216.34",
            "172.15.255.255",
            "172.32.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "169.253.255.255",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "::ffff:1.1.1.1",
            "64:ff9b::101:101",
            "fbff::1",
        ] {
            assert_eq!(classify(ip(address)), None, "{address}");
        }
    }

    #[test]
    fn the_allow_list_opens_exactly_its_networks() {
        let policy = AddressPolicy::new(vec![
            parse_network("127.0.0.1/32").unwrap(),
            parse_network("10.1.0.0/16").unwrap(),
            parse_network("fd12::7").unwrap(),
        ]);
        for allowed in [
            "127.0.0.1",
            "::ffff:127.0.0.1",
            "10.1.200.3",
            "fd12::7",
            "8.8.8.8",
        ] {
            assert_eq!(policy.check(ip(allowed)), Ok(()), "{allowed}");
        }
        for (refused, reason) in [
            ("127.0.0.2", Forbidden::Loopback),
            ("::1", Forbidden::Loopback),
            ("10.2.0.1", Forbidden::Private),
            ("fd12::8", Forbidden::UniqueLocal),
            ("169.254.169.254", Forbidden::Metadata),
        ] {
            assert_eq!(policy.check(ip(refused)), Err(reason), "{refused}");
        }
        assert!(AddressPolicy::default().check(ip("127.0.0.1")).is_err());
    }

    #[test]
    fn urls_are_refused_for_their_scheme_or_their_literal_address() {
        let policy = AddressPolicy::new(vec![parse_network("127.0.0.2").unwrap()]);
        let check = |url: &str, allow_http: bool| {
            check_url(&url::Url::parse(url).unwrap(), allow_http, &policy)
        };
        assert_eq!(check("https://helpdesk.example/hook", false), Ok(()));
        assert_eq!(
            check("https://localhost/hook", false),
            Ok(()),
            "resolved later"
        );
        assert_eq!(
            check("http://helpdesk.example/hook", false),
            Err(UrlRefusal::Scheme { allow_http: false })
        );
        assert_eq!(check("http://helpdesk.example/hook", true), Ok(()));
        assert_eq!(
            check("ftp://helpdesk.example/", true),
            Err(UrlRefusal::Scheme { allow_http: true })
        );
        assert_eq!(
            check("http://127.0.0.2:9/hook", true),
            Ok(()),
            "allow-listed"
        );
        for (url, ip, reason) in [
            (
                "https://169.254.169.254/latest",
                "169.254.169.254",
                Forbidden::Metadata,
            ),
            (
                "https://[::ffff:10.0.0.1]/",
                "::ffff:10.0.0.1",
                Forbidden::Private,
            ),
            (
                "https://[fd00:ec2::254]/",
                "fd00:ec2::254",
                Forbidden::Metadata,
            ),
            // The URL parser reads the odd spellings of an address as that address.
            ("https://2130706433/", "127.0.0.1", Forbidden::Loopback),
            ("https://0x7f.1/", "127.0.0.1", Forbidden::Loopback),
            ("https://127.1/", "127.0.0.1", Forbidden::Loopback),
        ] {
            let Err(UrlRefusal::Address {
                ip: got,
                reason: why,
            }) = check(url, false)
            else {
                panic!("{url} should be refused for its address");
            };
            assert_eq!((got, why), (ip.parse().unwrap(), reason), "{url}");
        }
        let message = check("https://169.254.169.254/", false)
            .unwrap_err()
            .to_string();
        assert!(message.contains("cloud metadata"), "{message}");
    }

    #[test]
    fn allow_list_entries_are_networks_or_addresses() {
        assert_eq!(
            parse_network(" 192.168.0.0/24 ").unwrap().to_string(),
            "192.168.0.0/24"
        );
        assert_eq!(parse_network("::1").unwrap().to_string(), "::1/128");
        let err = parse_network("intranet").unwrap_err();
        assert!(err.contains("`intranet`"), "{err}");
        assert!(parse_network("10.0.0.0/33").is_err());
    }
}
