//! The real client address behind trusted proxies: nginx's realip module (`set_real_ip_from`,
//! `real_ip_header`, `real_ip_recursive`), its directives and its rule, pure.
//!
//! A connection whose address is trusted (`set_real_ip_from`) may say whom it speaks for, in a
//! request header or in its PROXY protocol header; the address found there is the request's
//! client for the access log, CGI's `REMOTE_ADDR` and anything that judges clients. As nginx:
//! the header's rightmost address is taken (with `real_ip_recursive on`, trusted addresses are
//! skipped from the right, so the first untrusted one is taken, or the leftmost if all are
//! trusted); an address that does not parse leaves the one found so far.

use std::net::{IpAddr, SocketAddr};

use super::directive::Directive;
use super::lexer::{Error, Pos};

/// An address block: `192.0.2.0/24`, `2001:db8::/32`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `ADDRESS[/PREFIX]`; the address's bits past the prefix must be zero, as nginx warns
    /// ("low address bits are meaningless") and here refuses.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("invalid address \"{text}\""))?;
        let bits = match network {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        let prefix = match prefix {
            None => bits,
            Some(p) => {
                let digits = !p.is_empty()
                    && p.bytes().all(|b| b.is_ascii_digit())
                    && (p == "0" || !p.starts_with('0'));
                match p.parse::<u8>() {
                    Ok(p) if digits && p <= bits => p,
                    _ => return Err(format!("invalid prefix in \"{text}\"")),
                }
            }
        };
        let cidr = Cidr { network, prefix };
        if cidr.mask(network) != network {
            return Err(format!("low address bits of \"{text}\" are meaningless"));
        }
        Ok(cidr)
    }

    /// `ip` with the bits past the prefix cleared (IPv4 or IPv6 as the block is).
    fn mask(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(v4) => {
                let bits = u32::from(v4);
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4((bits & mask).into())
            }
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6((bits & mask).into())
            }
        }
    }

    /// Whether `ip` is in the block (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.network, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                self.mask(ip) == self.network
            }
            _ => false,
        }
    }
}

/// `::ffff:a.b.c.d` as `a.b.c.d`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Where the real address is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RealIpHeader {
    /// A request header field (`X-Real-IP`, the default, `X-Forwarded-For`, or any other).
    Field(String),
    /// The source address of the connection's PROXY protocol header.
    ProxyProtocol,
}

/// The realip settings of a server or location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealIp {
    /// `set_real_ip_from`: empty, the default, trusts nobody.
    pub from: Vec<Cidr>,
    pub header: RealIpHeader,
    pub recursive: bool,
}

impl Default for RealIp {
    fn default() -> RealIp {
        RealIp {
            from: Vec::new(),
            header: RealIpHeader::Field("X-Real-IP".to_string()),
            recursive: false,
        }
    }
}

impl RealIp {
    /// Whether any address is trusted: when none is, nothing needs looking at.
    pub fn is_active(&self) -> bool {
        !self.from.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.from.iter().any(|cidr| cidr.contains(ip))
    }

    /// The client of a request on a connection from `peer`: `proxied` is the source of its
    /// PROXY protocol header, if it had one with addresses; `headers` the request's fields
    /// (none for what happens before a request is parsed).
    pub fn client(
        &self,
        peer: SocketAddr,
        proxied: Option<SocketAddr>,
        headers: &[(String, String)],
    ) -> SocketAddr {
        if !self.trusts(peer.ip()) {
            return peer;
        }
        match &self.header {
            RealIpHeader::ProxyProtocol => proxied.unwrap_or(peer),
            RealIpHeader::Field(name) if name.eq_ignore_ascii_case("X-Forwarded-For") => {
                // Every X-Forwarded-For line, in order, is one list.
                let values: Vec<&str> = headers
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.as_str())
                    .collect();
                if values.is_empty() {
                    return peer;
                }
                self.forwarded(peer, &values.join(","))
            }
            RealIpHeader::Field(name) => {
                match headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                    Some((_, value)) => self.forwarded(peer, value),
                    None => peer,
                }
            }
        }
    }

    /// nginx's walk of a forwarded list from the right, starting at a trusted `peer`.
    fn forwarded(&self, peer: SocketAddr, list: &str) -> SocketAddr {
        let mut client = peer;
        for entry in list.rsplit([',', ' ']).filter(|entry| !entry.is_empty()) {
            match parse_forwarded(entry) {
                Some(address) => client = address,
                None => break,
            }
            if !self.recursive || !self.trusts(client.ip()) {
                break;
            }
        }
        client
    }
}

/// One address of a forwarded list: `192.0.2.1`, `192.0.2.1:4242`, `2001:db8::1` or
/// `[2001:db8::1]:4242`; without a port, the port is 0.
fn parse_forwarded(entry: &str) -> Option<SocketAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(SocketAddr::new(canonical(ip), 0));
    }
    let address: SocketAddr = entry.parse().ok()?;
    Some(SocketAddr::new(canonical(address.ip()), address.port()))
}

/// What a `server` or `location` block sets itself.
#[derive(Debug, Default)]
pub(crate) struct Overrides {
    from: Option<Vec<Cidr>>,
    header: Option<RealIpHeader>,
    recursive: Option<bool>,
}

impl Overrides {
    /// A block's own `set_real_ip_from` list replaces the inherited one (nginx's merge).
    pub(crate) fn apply_to(self, base: &RealIp) -> RealIp {
        RealIp {
            from: self.from.unwrap_or_else(|| base.from.clone()),
            header: self.header.unwrap_or_else(|| base.header.clone()),
            recursive: self.recursive.unwrap_or(base.recursive),
        }
    }
}

fn fail<T>(pos: Pos, message: impl Into<String>) -> Result<T, Error> {
    Err(Error::new(pos, message))
}

/// `set_real_ip_from`, `real_ip_header` or `real_ip_recursive`, already checked for its block
/// and argument count.
pub(crate) fn directive(o: &mut Overrides, d: &Directive) -> Result<(), Error> {
    let arg = &d.args[0];
    let name = d.name.text.as_str();
    match name {
        "set_real_ip_from" => {
            let list = o.from.get_or_insert_with(Vec::new);
            if arg.text == "unix:" {
                // nginx trusts connections over unix sockets with this; webserv listens on
                // TCP only, so there is nothing to trust.
                return Ok(());
            }
            match Cidr::parse(&arg.text) {
                Ok(cidr) => list.push(cidr),
                Err(message) => return fail(arg.pos, format!("{message} in \"{name}\"")),
            }
        }
        "real_ip_header" => {
            if o.header.is_some() {
                return fail(d.name.pos, format!("\"{name}\" directive is duplicate"));
            }
            let text = arg.text.as_str();
            if text == "proxy_protocol" {
                o.header = Some(RealIpHeader::ProxyProtocol);
            } else if !text.is_empty() && text.bytes().all(crate::http::is_tchar) {
                o.header = Some(RealIpHeader::Field(text.to_string()));
            } else {
                return fail(arg.pos, format!("invalid header name \"{text}\""));
            }
        }
        _ => {
            if o.recursive.is_some() {
                return fail(d.name.pos, format!("\"{name}\" directive is duplicate"));
            }
            o.recursive = Some(match arg.text.as_str() {
                "on" => true,
                "off" => false,
                other => {
                    return fail(
                        arg.pos,
                        format!(
                            "invalid value \"{other}\" in \"{name}\" directive, it must be \
                             \"on\" or \"off\""
                        ),
                    );
                }
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn a(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn realip(from: &[&str], header: RealIpHeader, recursive: bool) -> RealIp {
        RealIp {
            from: from.iter().map(|c| Cidr::parse(c).unwrap()).collect(),
            header,
            recursive,
        }
    }

    fn xff() -> RealIpHeader {
        RealIpHeader::Field("X-Forwarded-For".to_string())
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn address_blocks_match_their_addresses_only() {
        let block = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(block.contains("10.1.255.7".parse().unwrap()));
        assert!(!block.contains("10.2.0.1".parse().unwrap()));
        assert!(block.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!block.contains(IpAddr::V6(Ipv6Addr::UNSPECIFIED)));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:ffff::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("192.0.2.1".parse().unwrap())
        );
        assert!(
            Cidr::parse("::/0")
                .unwrap()
                .contains("::1".parse().unwrap())
        );
        let one = Cidr::parse("192.0.2.1").unwrap();
        assert!(one.contains("192.0.2.1".parse().unwrap()));
        assert!(!one.contains("192.0.2.2".parse().unwrap()));
        for bad in [
            "10.1.0.1/16",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/08",
            "host",
            "10.0.0.0/8/8",
            "",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_untrusted_peer_is_its_own_client_whatever_it_says() {
        let r = realip(&["10.0.0.0/8"], xff(), false);
        let h = headers(&[("X-Forwarded-For", "192.0.2.1")]);
        assert_eq!(r.client(a("192.0.2.9:5000"), None, &h), a("192.0.2.9:5000"));
        let nobody = RealIp::default();
        assert_eq!(nobody.client(a("10.0.0.1:1"), None, &h), a("10.0.0.1:1"));
    }

    #[test]
    fn x_forwarded_for_gives_its_rightmost_address() {
        let r = realip(&["10.0.0.0/8"], xff(), false);
        let peer = a("10.0.0.1:5000");
        let cases = [
            ("192.0.2.1", "192.0.2.1:0"),
            ("203.0.113.9, 192.0.2.1", "192.0.2.1:0"),
            ("203.0.113.9,192.0.2.1 ", "192.0.2.1:0"),
            ("10.0.0.2, 10.0.0.3", "10.0.0.3:0"),
            ("192.0.2.1:4242", "192.0.2.1:4242"),
            ("[2001:db8::1]:80", "[2001:db8::1]:80"),
            ("2001:db8::1", "[2001:db8::1]:0"),
            ("::ffff:192.0.2.1", "192.0.2.1:0"),
            ("unknown", "10.0.0.1:5000"),
            ("192.0.2.1, garbage", "10.0.0.1:5000"),
            ("", "10.0.0.1:5000"),
        ];
        for (value, expected) in cases {
            let h = headers(&[("x-forwarded-for", value)]);
            assert_eq!(r.client(peer, None, &h), a(expected), "{value:?}");
        }
        assert_eq!(r.client(peer, None, &[]), peer);
    }

    #[test]
    fn recursive_skips_trusted_addresses_from_the_right() {
        let r = realip(&["10.0.0.0/8", "2001:db8::/32"], xff(), true);
        let peer = a("10.0.0.1:5000");
        let cases = [
            ("203.0.113.9, 192.0.2.1, 10.0.0.7", "192.0.2.1:0"),
            ("203.0.113.9, 10.0.0.8, 2001:db8::5", "203.0.113.9:0"),
            // All trusted: the leftmost.
            ("10.0.0.9, 10.0.0.8", "10.0.0.9:0"),
            // A broken entry stops the walk where it is.
            ("203.0.113.9, bad, 10.0.0.8", "10.0.0.8:0"),
        ];
        for (value, expected) in cases {
            let h = headers(&[("X-Forwarded-For", value)]);
            assert_eq!(r.client(peer, None, &h), a(expected), "{value:?}");
        }
        // Several lines are one list, in order.
        let h = headers(&[
            ("X-Forwarded-For", "203.0.113.9"),
            ("Host", "x"),
            ("X-Forwarded-For", "10.0.0.5"),
        ]);
        assert_eq!(r.client(peer, None, &h), a("203.0.113.9:0"));
    }

    #[test]
    fn other_fields_and_the_proxy_protocol_give_their_address() {
        let real = realip(&["10.0.0.1"], RealIp::default().header, false);
        let h = headers(&[
            ("X-Real-IP", "192.0.2.1"),
            ("X-Forwarded-For", "203.0.113.9"),
        ]);
        assert_eq!(real.client(a("10.0.0.1:9"), None, &h), a("192.0.2.1:0"));
        let cf = realip(
            &["10.0.0.1"],
            RealIpHeader::Field("CF-Connecting-IP".into()),
            false,
        );
        let h = headers(&[("cf-connecting-ip", "2001:db8::7")]);
        assert_eq!(cf.client(a("10.0.0.1:9"), None, &h), a("[2001:db8::7]:0"));

        let pp = realip(&["10.0.0.1"], RealIpHeader::ProxyProtocol, false);
        let source = Some(a("192.0.2.1:4242"));
        assert_eq!(pp.client(a("10.0.0.1:9"), source, &[]), a("192.0.2.1:4242"));
        assert_eq!(pp.client(a("10.0.0.1:9"), None, &[]), a("10.0.0.1:9"));
        assert_eq!(pp.client(a("10.0.0.2:9"), source, &[]), a("10.0.0.2:9"));
    }
}
