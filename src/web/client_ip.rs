//! The client's IP address, for audit rows, throttling and the session list.
//!
//! The socket peer is the client unless it is one of `SWITCHBOARD_TRUSTED_PROXIES` (read by
//! `config::parse_trusted`). Only then is `X-Forwarded-For` read, from the right: each
//! trusted proxy appends the address it received the request from, so the right-most
//! address that is not a trusted proxy is the client. Everything left of it was written by the client and is never believed.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

/// Entries read from the right of `X-Forwarded-For` at most (a proxy chain is short).
const MAX_HOPS: usize = 20;

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&ip))
}

/// One `X-Forwarded-For` entry: an address, maybe with a port (`192.0.2.1:4711`,
/// `[2001:db8::1]:80`) as some proxies write it. IPv4-mapped IPv6 becomes IPv4.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let ip = entry.parse::<IpAddr>().ok().or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))?;
    Some(ip.to_canonical())
}

/// The client's address. `forwarded_for` are the `X-Forwarded-For` header values in the
/// order received; they count only when `peer` is a trusted proxy. Walking from the right,
/// trusted hops are skipped; the first address that is not trusted is the client. An entry
/// that is not an address stops the walk at the last hop we could check (a trusted proxy
/// never writes one, so it came from the client), as does running out of entries.
pub fn client_ip<'a>(peer: Option<IpAddr>, forwarded_for: impl Iterator<Item = &'a str>, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = peer.map(|p| p.to_canonical())?;
    if !is_trusted(peer, trusted) {
        return Some(peer);
    }
    let entries: Vec<&str> = forwarded_for.flat_map(|v| v.split(',')).collect();
    let mut client = peer;
    for entry in entries.iter().rev().take(MAX_HOPS) {
        let Some(hop) = parse_entry(entry) else { break };
        client = hop;
        if !is_trusted(hop, trusted) {
            break;
        }
    }
    Some(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn resolve(peer: &str, xff: &[&str], trusted: &str) -> String {
        let trusted = crate::config::parse_trusted(trusted).unwrap();
        client_ip(ip(peer), xff.iter().copied(), &trusted).unwrap().to_string()
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        assert_eq!(resolve("127.0.0.1", &["1.2.3.4"], ""), "127.0.0.1");
        assert_eq!(resolve("203.0.113.5", &["1.2.3.4, 5.6.7.8"], ""), "203.0.113.5");
    }

    #[test]
    fn a_peer_outside_the_trusted_ranges_is_the_client_whatever_it_claims() {
        assert_eq!(resolve("203.0.113.5", &["1.2.3.4"], "127.0.0.0/8"), "203.0.113.5");
    }

    #[test]
    fn the_right_most_untrusted_address_is_the_client() {
        let trusted = "127.0.0.0/8";
        assert_eq!(resolve("127.0.0.1", &["1.2.3.4, 5.6.7.8"], trusted), "5.6.7.8");
        assert_eq!(resolve("127.0.0.1", &["1.2.3.4, 127.0.0.5"], trusted), "1.2.3.4");
        // Several header lines are one list, in order.
        assert_eq!(resolve("127.0.0.1", &["1.2.3.4", "5.6.7.8, 127.0.0.9"], trusted), "5.6.7.8");
        assert_eq!(resolve("10.1.2.3", &["198.51.100.1, 10.9.9.9"], "10.0.0.0/8, 127.0.0.1"), "198.51.100.1");
    }

    #[test]
    fn garbage_entries_never_become_the_client() {
        let trusted = "127.0.0.0/8";
        // The client wrote everything left of the proxy's entry; garbage there stops nothing.
        assert_eq!(resolve("127.0.0.1", &["evil, <script>, 1.2.3.4"], trusted), "1.2.3.4");
        // Garbage where a trusted proxy should have written: the last checked hop.
        assert_eq!(resolve("127.0.0.1", &["1.2.3.4, not-an-ip, 127.0.0.5"], trusted), "127.0.0.5");
        assert_eq!(resolve("127.0.0.1", &["unknown"], trusted), "127.0.0.1");
        assert_eq!(resolve("127.0.0.1", &[""], trusted), "127.0.0.1");
        assert_eq!(resolve("127.0.0.1", &[",,, ,"], trusted), "127.0.0.1");
        assert_eq!(resolve("127.0.0.1", &["1.2.3.4\u{0}"], trusted), "127.0.0.1");
        // No header at all: the proxy itself.
        assert_eq!(resolve("127.0.0.1", &[], trusted), "127.0.0.1");
        // Only trusted hops: the furthest one.
        assert_eq!(resolve("127.0.0.1", &["127.0.0.7, 127.0.0.5"], trusted), "127.0.0.7");
    }

    #[test]
    fn ports_ipv6_and_mapped_addresses_are_understood() {
        assert_eq!(resolve("127.0.0.1", &["192.0.2.1:4711"], "127.0.0.0/8"), "192.0.2.1");
        assert_eq!(resolve("127.0.0.1", &["[2001:db8::1]:80"], "127.0.0.0/8"), "2001:db8::1");
        assert_eq!(resolve("::ffff:127.0.0.1", &["2001:db8::2"], "127.0.0.0/8"), "2001:db8::2");
        assert_eq!(resolve("127.0.0.1", &["::ffff:192.0.2.9"], "127.0.0.0/8"), "192.0.2.9");
        assert_eq!(resolve("fd00::1", &["2001:db8::3, fd00::2"], "fd00::/8"), "2001:db8::3");
    }

    #[test]
    fn a_long_forged_chain_is_not_walked_to_its_end() {
        let mut entries = vec!["6.6.6.6".to_string()];
        entries.extend((0..100).map(|i| format!("127.0.0.{}", i % 250 + 1)));
        let header = entries.join(", ");
        let got = resolve("127.0.0.1", &[&header], "127.0.0.0/8");
        assert_ne!(got, "6.6.6.6");
        assert!(got.starts_with("127."), "{got}");
    }
}
