//! Where a workspace's SMTP server may be (issue 18, item 12). A workspace admin types the
//! host, and "Send a test email" connects to it from the server: without a rule, that probes
//! the server's own ports, the cloud metadata service and the private network. So a
//! workspace's host must resolve to public addresses only: loopback, link-local, private
//! (RFC 1918, CGNAT 100.64/10, IPv6 ULA fc00::/7), unspecified, multicast, broadcast and
//! reserved addresses are refused, as are their IPv4-mapped (and NAT64 / 6to4) forms, unless
//! the operator sets `SWITCHBOARD_SMTP_ALLOW_PRIVATE=1`. `SMTP_URL` is the operator's own
//! and never checked.
//!
//! The check runs when the settings are saved (a 422 naming the reason) and again when
//! connecting: the name is resolved, every address checked, and the connection made to a
//! checked address (the TLS name stays the host name), so a name that resolves elsewhere
//! later (DNS rebinding) gets nowhere.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

/// What kind of non-public address `ip` is, or `None` for a public one.
pub fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    Some(match () {
        _ if ip.is_loopback() => "a loopback address",
        _ if a == 0 => "an unspecified address",
        _ if ip.is_private() => "a private address",
        _ if a == 100 && (b & 0xc0) == 64 => "a private (carrier-grade NAT) address",
        _ if ip.is_link_local() => "a link-local address",
        _ if ip.is_broadcast() => "the broadcast address",
        _ if ip.is_multicast() => "a multicast address",
        _ if a >= 240 => "a reserved address",
        _ => return None,
    })
}

fn non_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d) forms are the IPv4
    // address they carry; :: and ::1 first, which would read as 0.0.0.0 and 0.0.0.1.
    if ip.is_unspecified() {
        return Some("an unspecified address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    if let Some(v4) = ip.to_ipv4() {
        return non_public_v4(v4);
    }
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address too.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return non_public_v4(Ipv4Addr::new((segments[6] >> 8) as u8, segments[6] as u8, (segments[7] >> 8) as u8, segments[7] as u8));
    }
    if segments[0] == 0x2002 {
        let inner = Ipv4Addr::new((segments[1] >> 8) as u8, segments[1] as u8, (segments[2] >> 8) as u8, segments[2] as u8);
        if let Some(kind) = non_public_v4(inner) {
            return Some(kind);
        }
    }
    Some(match segments[0] {
        s if (s & 0xfe00) == 0xfc00 => "a private (unique local) address",
        s if (s & 0xffc0) == 0xfe80 => "a link-local address",
        s if (s & 0xffc0) == 0xfec0 => "a private (site-local) address",
        s if (s & 0xff00) == 0xff00 => "a multicast address",
        _ => return None,
    })
}

/// Why `host` may not be a workspace's SMTP server.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// It resolves to a non-public address: the sentence for the page.
    NotPublic(String),
    /// It does not resolve (now): the sentence for the page.
    Unresolved(String),
}

impl Refusal {
    pub fn message(&self) -> &str {
        match self {
            Refusal::NotPublic(m) | Refusal::Unresolved(m) => m,
        }
    }
}

/// The sentence for a host that is or resolves to a non-public address.
fn not_public(host: &str, ip: IpAddr, kind: &str) -> Refusal {
    let what = if host.parse::<IpAddr>().is_ok_and(|literal| literal == ip) { format!("{host} is {kind}") } else { format!("{host} resolves to {ip}, {kind}") };
    Refusal::NotPublic(format!(
        "{what}, not on the public internet. A workspace's SMTP server must be reachable on the public internet, \
         not on this server or its private network; the operator can allow such addresses with SWITCHBOARD_SMTP_ALLOW_PRIVATE=1."
    ))
}

/// Resolves `host` and checks every address it has; the addresses when all are public.
/// Blocking (the system resolver): call it off the async workers.
pub fn resolve_public(host: &str, port: u16) -> Result<Vec<SocketAddr>, Refusal> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| Refusal::Unresolved(format!("The address of {host} cannot be found ({e}); check the host name.")))?
        .collect();
    if addrs.is_empty() {
        return Err(Refusal::Unresolved(format!("{host} has no address; check the host name.")));
    }
    for addr in &addrs {
        if let Some(kind) = non_public(addr.ip()) {
            return Err(not_public(host, addr.ip(), kind));
        }
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(ip: &str) -> Option<&'static str> {
        non_public(ip.parse().unwrap())
    }

    #[test]
    fn internal_addresses_of_every_kind_are_not_public() {
        for ip in [
            "127.0.0.1",
            "127.255.0.9",
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.254",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "169.254.169.254",
            "224.0.0.1",
            "239.1.2.3",
            "255.255.255.255",
            "240.0.0.1",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:0a00:0001::1",
        ] {
            assert!(kind(ip).is_some(), "{ip} is not public");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in ["8.8.8.8", "100.63.255.255", "100.128.0.1", "172.32.0.1", "203.0.113.9", "2001:4860:4860::8888", "::ffff:8.8.8.8", "2002:0808:0808::1"] {
            assert_eq!(kind(ip), None, "{ip} is public");
        }
    }

    #[test]
    fn names_are_resolved_and_every_address_checked() {
        let refused = resolve_public("localhost", 25).unwrap_err();
        assert!(matches!(&refused, Refusal::NotPublic(m) if m.starts_with("localhost resolves to ") && m.contains("loopback")), "{refused:?}");
        let literal = resolve_public("10.0.0.1", 25).unwrap_err();
        assert!(literal.message().starts_with("10.0.0.1 is a private address"), "{literal:?}");
        assert_eq!(resolve_public("203.0.113.9", 587).unwrap(), vec!["203.0.113.9:587".parse().unwrap()]);
    }
}
