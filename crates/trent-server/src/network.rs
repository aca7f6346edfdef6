//! Who a request came from, for `aws:SourceIp`, `aws:SecureTransport` and the audit
//! record's source address: the connection's peer and whether it is TLS, unless the peer
//! is one of the configured proxies (`trusted_proxies`), whose forwarding headers are
//! believed then — and only then.
//!
//! From a trusted proxy, `Forwarded` (RFC 7239) or, without it, `X-Forwarded-For` lists
//! the addresses the request passed through, the nearest last: the client is the nearest
//! address that is not itself a trusted proxy. The request came over TLS if the hop the
//! client reached said so (`proto=https`; with `X-Forwarded-For`, every value of
//! `X-Forwarded-Proto` is `https`). A header that cannot be read refuses the request:
//! guessing would make `aws:SourceIp` say whatever a caller wanted.

use std::net::IpAddr;

use http::HeaderMap;
use trent_policy::Cidr;

use crate::listener::Peer;

/// What the network settings say about forwarded requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proxies {
    trusted: Vec<Cidr>,
}

/// The client of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    pub ip: IpAddr,
    pub secure_transport: bool,
}

impl Proxies {
    /// The proxies at these addresses or CIDR blocks (`10.0.0.5`, `10.1.0.0/16`).
    pub fn parse(entries: &[String]) -> Result<Proxies, String> {
        let trusted = entries
            .iter()
            .map(|e| {
                Cidr::parse(e).ok_or_else(|| {
                    format!("trusted_proxies: {e:?} is not an IP address or CIDR block")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Proxies { trusted })
    }

    pub fn is_empty(&self) -> bool {
        self.trusted.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|c| c.contains(ip))
    }

    /// The client of a request on `peer` with these headers; an error (for the caller)
    /// if a trusted proxy sent forwarding headers that cannot be read.
    pub fn client(&self, peer: Peer, headers: &HeaderMap) -> Result<Client, String> {
        let direct = Client {
            ip: peer.addr.ip(),
            secure_transport: peer.tls,
        };
        if !self.trusts(peer.addr.ip()) {
            return Ok(direct);
        }
        let proxy = peer.addr.ip();
        let (hops, protos) = if headers.contains_key(http::header::FORWARDED) {
            let elements = forwarded(headers).ok_or_else(|| {
                format!("the Forwarded header from the proxy {proxy} cannot be read")
            })?;
            elements.into_iter().unzip()
        } else if headers.contains_key("x-forwarded-for") {
            let hops = x_forwarded_for(headers).ok_or_else(|| {
                format!("the X-Forwarded-For header from the proxy {proxy} cannot be read")
            })?;
            let secure = x_forwarded_proto_is_https(headers).ok_or_else(|| {
                format!("the X-Forwarded-Proto header from the proxy {proxy} cannot be read")
            })?;
            let protos = vec![secure; hops.len()];
            (hops, protos)
        } else {
            // The proxy's own request (a health check, say).
            return Ok(direct);
        };
        // The nearest hop that is not a trusted proxy, or the farthest one.
        let mut chosen = 0;
        for (i, ip) in hops.iter().enumerate().rev() {
            chosen = i;
            if !self.trusts(*ip) {
                break;
            }
        }
        match (hops.get(chosen), protos.get(chosen)) {
            (Some(ip), Some(secure)) => Ok(Client {
                ip: *ip,
                secure_transport: *secure,
            }),
            _ => Err(format!(
                "the forwarding headers from the proxy {proxy} name no client"
            )),
        }
    }
}

/// The values of every `name` header, comma-joined as RFC 9110 allows.
fn joined(headers: &HeaderMap, name: impl http::header::AsHeaderName) -> Option<String> {
    let mut out = String::new();
    for value in headers.get_all(name) {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(value.to_str().ok()?);
    }
    Some(out)
}

/// `X-Forwarded-For: client, proxy1, proxy2`: every entry an IP address (IPv6 possibly
/// bracketed, either possibly with a port).
fn x_forwarded_for(headers: &HeaderMap) -> Option<Vec<IpAddr>> {
    let text = joined(headers, "x-forwarded-for")?;
    let hops: Option<Vec<IpAddr>> = text.split(',').map(|h| node_ip(h.trim())).collect();
    hops.filter(|h| !h.is_empty())
}

/// Whether `X-Forwarded-Proto` says `https` in each of its values; absent: no. `None`
/// if it cannot be read.
fn x_forwarded_proto_is_https(headers: &HeaderMap) -> Option<bool> {
    if !headers.contains_key("x-forwarded-proto") {
        return Some(false);
    }
    let text = joined(headers, "x-forwarded-proto")?;
    let mut all_https = true;
    for proto in text.split(',').map(str::trim) {
        match proto.to_ascii_lowercase().as_str() {
            "https" => {}
            "http" => all_https = false,
            _ => return None,
        }
    }
    Some(all_https)
}

/// `Forwarded: for=192.0.2.60;proto=https, for="[2001:db8::17]:4711"`: each element's
/// `for` address and whether its `proto` is `https`. An element without `for`, or whose
/// `for` is not an address (`unknown`, an obfuscated name), cannot be used.
fn forwarded(headers: &HeaderMap) -> Option<Vec<(IpAddr, bool)>> {
    let text = joined(headers, http::header::FORWARDED)?;
    let mut out = Vec::new();
    for element in split_outside_quotes(&text, ',') {
        let mut for_ip = None;
        let mut https = false;
        for pair in split_outside_quotes(element, ';') {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            let (name, value) = pair.split_once('=')?;
            let value = value.trim();
            let value = match value.strip_prefix('"') {
                Some(quoted) => quoted.strip_suffix('"')?,
                None => value,
            };
            match name.trim().to_ascii_lowercase().as_str() {
                "for" => {
                    if for_ip.is_some() {
                        return None;
                    }
                    for_ip = Some(node_ip(value)?);
                }
                "proto" => https = value.eq_ignore_ascii_case("https"),
                _ => {}
            }
        }
        out.push((for_ip?, https));
    }
    (!out.is_empty()).then_some(out)
}

/// Splits at `sep` where it is not inside double quotes.
fn split_outside_quotes(text: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// A node: `192.0.2.1`, `192.0.2.1:443`, `2001:db8::1`, `[2001:db8::1]`,
/// `[2001:db8::1]:443`.
fn node_ip(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        let port_ok = after.is_empty()
            || after
                .strip_prefix(':')
                .is_some_and(|p| p.parse::<u16>().is_ok());
        return port_ok.then(|| ip.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6))?;
    }
    let (ip, port) = node.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    ip.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(addr: &str, tls: bool) -> Peer {
        Peer {
            addr: addr.parse().unwrap(),
            tls,
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn client(ip: &str, secure: bool) -> Client {
        Client {
            ip: ip.parse().unwrap(),
            secure_transport: secure,
        }
    }

    #[test]
    fn forwarding_headers_from_anyone_else_are_ignored() {
        let proxies = Proxies::parse(&["10.0.0.0/8".into()]).unwrap();
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-proto", "https"),
            ("forwarded", "for=198.51.100.1;proto=https"),
        ]);
        assert_eq!(
            proxies.client(peer("192.0.2.7:5000", false), &h),
            Ok(client("192.0.2.7", false))
        );
        assert_eq!(
            Proxies::default().client(peer("10.0.0.1:5000", true), &h),
            Ok(client("10.0.0.1", true))
        );
        // Even unreadable ones: they are not read.
        let bad = headers(&[("x-forwarded-for", "not an address")]);
        assert_eq!(
            proxies.client(peer("192.0.2.7:5000", false), &bad),
            Ok(client("192.0.2.7", false))
        );
    }

    #[test]
    fn the_client_is_the_nearest_hop_that_is_not_a_trusted_proxy() {
        let proxies = Proxies::parse(&["10.0.0.0/8".into(), "2001:db8::1".into()]).unwrap();
        let via = peer("10.0.0.1:5000", false);
        // A spoofed first entry is not believed: the nearest untrusted hop is.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.0.0.2")]);
        assert_eq!(proxies.client(via, &h), Ok(client("203.0.113.9", false)));
        // Several header lines are one list.
        let h = headers(&[
            ("x-forwarded-for", "198.51.100.3"),
            ("x-forwarded-for", "10.9.9.9"),
        ]);
        assert_eq!(proxies.client(via, &h), Ok(client("198.51.100.3", false)));
        // Every hop a trusted proxy: the farthest.
        let h = headers(&[("x-forwarded-for", "10.1.1.1, 10.2.2.2")]);
        assert_eq!(proxies.client(via, &h), Ok(client("10.1.1.1", false)));
        // Ports and brackets.
        let h = headers(&[("x-forwarded-for", "[2001:db8::9]:443, 192.0.2.1:80")]);
        assert_eq!(proxies.client(via, &h), Ok(client("192.0.2.1", false)));
        // No forwarding header: the proxy itself.
        assert_eq!(
            proxies.client(via, &HeaderMap::new()),
            Ok(client("10.0.0.1", false))
        );
    }

    #[test]
    fn tls_in_front_is_believed_only_when_every_value_says_https() {
        let proxies = Proxies::parse(&["127.0.0.1".into()]).unwrap();
        let via = peer("127.0.0.1:5000", false);
        let with = |proto: &str| {
            headers(&[
                ("x-forwarded-for", "192.0.2.1"),
                ("x-forwarded-proto", proto),
            ])
        };
        assert_eq!(
            proxies.client(via, &with("https")),
            Ok(client("192.0.2.1", true))
        );
        assert_eq!(
            proxies.client(via, &with("HTTPS")),
            Ok(client("192.0.2.1", true))
        );
        assert_eq!(
            proxies.client(via, &with("http")),
            Ok(client("192.0.2.1", false))
        );
        assert_eq!(
            proxies.client(via, &with("https, http")),
            Ok(client("192.0.2.1", false))
        );
        let h = headers(&[("x-forwarded-for", "192.0.2.1")]);
        assert_eq!(proxies.client(via, &h), Ok(client("192.0.2.1", false)));
        assert!(proxies.client(via, &with("gopher")).is_err());
    }

    #[test]
    fn forwarded_is_read_per_rfc_7239_and_preferred() {
        let proxies = Proxies::parse(&["10.0.0.0/8".into()]).unwrap();
        let via = peer("10.0.0.1:5000", false);
        let h = headers(&[
            (
                "forwarded",
                r#"for=192.0.2.60;proto=https;by=203.0.113.43, For="[2001:db8:cafe::17]:4711";proto=http, for=10.3.3.3;proto=https"#,
            ),
            ("x-forwarded-for", "198.51.100.1"),
        ]);
        assert_eq!(
            proxies.client(via, &h),
            Ok(client("2001:db8:cafe::17", false))
        );
        let h = headers(&[("forwarded", "proto=https;for=192.0.2.60")]);
        assert_eq!(proxies.client(via, &h), Ok(client("192.0.2.60", true)));
        let h = headers(&[("forwarded", r#"for="192.0.2.60:8080""#)]);
        assert_eq!(proxies.client(via, &h), Ok(client("192.0.2.60", false)));
    }

    #[test]
    fn unreadable_headers_from_a_trusted_proxy_refuse_the_request() {
        let proxies = Proxies::parse(&["10.0.0.0/8".into()]).unwrap();
        let via = peer("10.0.0.1:5000", false);
        for (name, value) in [
            ("x-forwarded-for", "not-an-ip"),
            ("x-forwarded-for", "192.0.2.1,"),
            ("x-forwarded-for", ""),
            ("x-forwarded-for", "192.0.2.1:99999"),
            ("x-forwarded-for", "[192.0.2.1]"),
            ("forwarded", "for=unknown"),
            ("forwarded", "for=_hidden"),
            ("forwarded", "proto=https"),
            ("forwarded", "for"),
            ("forwarded", r#"for="192.0.2.1"#),
            ("forwarded", "for=192.0.2.1;for=192.0.2.2"),
            ("forwarded", "for=192.0.2.1,"),
        ] {
            let h = headers(&[(name, value)]);
            let err = proxies.client(via, &h).unwrap_err();
            assert!(err.contains("10.0.0.1"), "{name}: {value}: {err}");
        }
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            http::HeaderValue::from_bytes(b"192.0.2.1\xff").unwrap(),
        );
        assert!(proxies.client(via, &h).is_err());
    }

    #[test]
    fn trusted_proxies_must_be_addresses_or_blocks() {
        assert!(Proxies::parse(&["10.0.0.0/8".into(), "::1".into()]).is_ok());
        let err = Proxies::parse(&["10.0.0.0/33".into()]).unwrap_err();
        assert!(err.contains("10.0.0.0/33"), "{err}");
        assert!(Proxies::parse(&["proxy.example.com".into()]).is_err());
    }
}
