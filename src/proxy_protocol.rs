//! The PROXY protocol (versions 1 and 2, HAProxy's `proxy-protocol.txt`), pure: the header a
//! load balancer sends first on each connection to say whom the connection is really from.
//!
//! [`parse`] looks at the bytes received so far and says: not enough yet, the header and its
//! length, or why it is not a valid header. It never consumes past the header, so what follows
//! (HTTP, or a TLS handshake) is left for the next layer.
//!
//! ```text
//! v1: "PROXY" SP ( "TCP4" | "TCP6" ) SP src SP dst SP srcport SP dstport CRLF
//!     "PROXY" SP "UNKNOWN" [ SP anything ] CRLF            at most 107 bytes in all
//! v2: \r\n\r\n\0\r\nQUIT\n  ver|cmd  fam|proto  len(2, big-endian)  addresses  TLVs
//! ```
//!
//! v2's `LOCAL` command (a health check made by the proxy itself), its `UNSPEC` and `UNIX`
//! families, and v1's `UNKNOWN` all mean "use the connection's own addresses". TLVs (type, 16-bit
//! length, value) are checked to fit the header and otherwise skipped: nothing here needs them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The v2 signature: twelve bytes no HTTP request or TLS record can start with.
pub const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
const V1_PREFIX: &[u8] = b"PROXY ";
/// The longest v1 line, CRLF included (the specification's limit).
pub const V1_MAX: usize = 107;
/// The longest v2 header accepted, its 16 fixed bytes included. The protocol allows 64 KiB of
/// TLVs; load balancers send a few hundred bytes at most (AWS's VPC endpoint id, TLS details).
pub const V2_MAX: usize = 4096;
/// Bytes a reader must be able to hold to see any valid header.
pub const MAX_HEADER: usize = V2_MAX;

/// What the header says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// The connection carries a client's: its source and the address it connected to.
    Proxied {
        source: SocketAddr,
        destination: SocketAddr,
    },
    /// Use the connection's own addresses: v2 LOCAL (the proxy's health check), or a family
    /// without IP addresses (v1 UNKNOWN, v2 UNSPEC or UNIX).
    Local,
}

/// Why bytes are not a PROXY protocol header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Neither signature: the client did not speak the PROXY protocol.
    NotProxyProtocol,
    /// Longer than [`V1_MAX`] or [`V2_MAX`].
    TooLong,
    /// The header is broken; says where.
    Malformed(&'static str),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::NotProxyProtocol => f.write_str("no PROXY protocol header"),
            Error::TooLong => f.write_str("PROXY protocol header too long"),
            Error::Malformed(what) => write!(f, "broken PROXY protocol header: {what}"),
        }
    }
}

/// Looks at the first bytes of a connection. Ok(None): a valid start, more bytes needed;
/// Ok(Some((header, length))): a complete header of `length` bytes.
pub fn parse(bytes: &[u8]) -> Result<Option<(Header, usize)>, Error> {
    if starts_like(bytes, V2_SIGNATURE) {
        return parse_v2(bytes);
    }
    if starts_like(bytes, V1_PREFIX) {
        return parse_v1(bytes);
    }
    Err(Error::NotProxyProtocol)
}

/// Whether `bytes` and `prefix` agree on their common length.
fn starts_like(bytes: &[u8], prefix: &[u8]) -> bool {
    let n = bytes.len().min(prefix.len());
    bytes[..n] == prefix[..n]
}

fn parse_v1(bytes: &[u8]) -> Result<Option<(Header, usize)>, Error> {
    let window = &bytes[..bytes.len().min(V1_MAX)];
    let end = memchr::memchr(b'\n', window);
    // A byte that can never be part of a line is an error as soon as it is seen.
    if window[..end.unwrap_or(window.len())]
        .iter()
        .any(|&b| !is_v1_byte(b))
    {
        return Err(Error::Malformed("invalid character"));
    }
    let Some(end) = end else {
        if window.len() >= V1_MAX {
            return Err(Error::TooLong);
        }
        return Ok(None);
    };
    if end == 0 || window[end - 1] != b'\r' {
        return Err(Error::Malformed("line not ended by CRLF"));
    }
    let line = &window[V1_PREFIX.len()..end - 1];
    if line.contains(&b'\r') {
        return Err(Error::Malformed("invalid character"));
    }
    // Only printable ASCII and spaces are left: the line is UTF-8.
    let line = std::str::from_utf8(line).map_err(|_| Error::Malformed("invalid character"))?;
    let header = v1_fields(line)?;
    Ok(Some((header, end + 1)))
}

/// What may appear in a v1 line before its LF: printable ASCII, space, and the CR before LF.
fn is_v1_byte(b: u8) -> bool {
    b == b' ' || b == b'\r' || b.is_ascii_graphic()
}

fn v1_fields(line: &str) -> Result<Header, Error> {
    let mut fields = line.split(' ');
    let protocol = fields.next().unwrap_or("");
    let family = match protocol {
        // The rest of an UNKNOWN line may be anything (the specification: receivers ignore it).
        "UNKNOWN" => return Ok(Header::Local),
        "TCP4" => Family::V4,
        "TCP6" => Family::V6,
        _ => return Err(Error::Malformed("unknown protocol")),
    };
    let (Some(source), Some(destination), Some(source_port), Some(destination_port), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(Error::Malformed("wrong number of fields"));
    };
    let source = v1_address(source, family)?;
    let destination = v1_address(destination, family)?;
    Ok(Header::Proxied {
        source: SocketAddr::new(source, v1_port(source_port)?),
        destination: SocketAddr::new(destination, v1_port(destination_port)?),
    })
}

#[derive(Clone, Copy)]
enum Family {
    V4,
    V6,
}

fn v1_address(text: &str, family: Family) -> Result<IpAddr, Error> {
    let parsed = match family {
        Family::V4 => text.parse::<Ipv4Addr>().map(IpAddr::V4).ok(),
        Family::V6 => text.parse::<Ipv6Addr>().map(IpAddr::V6).ok(),
    };
    parsed.ok_or(Error::Malformed("invalid address"))
}

/// A port: 0 to 65535 in decimal, without leading zeros.
fn v1_port(text: &str) -> Result<u16, Error> {
    let valid = !text.is_empty()
        && text.len() <= 5
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    valid
        .then(|| text.parse::<u16>().ok())
        .flatten()
        .ok_or(Error::Malformed("invalid port"))
}

const V2_FIXED: usize = 16;
const COMMAND_LOCAL: u8 = 0x0;
const COMMAND_PROXY: u8 = 0x1;
const FAMILY_UNSPEC: u8 = 0x0;
const FAMILY_INET: u8 = 0x1;
const FAMILY_INET6: u8 = 0x2;
const FAMILY_UNIX: u8 = 0x3;
/// Address block sizes: two IPv4 addresses and ports; two IPv6; two 108-byte unix paths.
const INET_BLOCK: usize = 12;
const INET6_BLOCK: usize = 36;
const UNIX_BLOCK: usize = 216;

fn parse_v2(bytes: &[u8]) -> Result<Option<(Header, usize)>, Error> {
    if bytes.len() < V2_FIXED {
        // The version and command byte may already be there: check what can be checked.
        if let Some(&version_command) = bytes.get(12) {
            v2_command(version_command)?;
        }
        if let Some(&family_protocol) = bytes.get(13) {
            v2_family(family_protocol)?;
        }
        return Ok(None);
    }
    let command = v2_command(bytes[12])?;
    let family = v2_family(bytes[13])?;
    let length = usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
    let total = V2_FIXED + length;
    if total > V2_MAX {
        return Err(Error::TooLong);
    }
    let block = match family {
        FAMILY_INET => INET_BLOCK,
        FAMILY_INET6 => INET6_BLOCK,
        FAMILY_UNIX => UNIX_BLOCK,
        _ => 0,
    };
    // A LOCAL header's body (addresses, TLVs) is ignored whatever it holds, as HAProxy does.
    if command == COMMAND_PROXY && length < block {
        return Err(Error::Malformed("address block longer than the header"));
    }
    if bytes.len() < total {
        return Ok(None);
    }
    if command == COMMAND_LOCAL {
        return Ok(Some((Header::Local, total)));
    }
    let body = &bytes[V2_FIXED..total];
    check_tlvs(&body[block..])?;
    let header = match family {
        FAMILY_UNSPEC | FAMILY_UNIX => Header::Local,
        // A STREAM, DGRAM or unspecified transport: only the addresses matter here.
        FAMILY_INET => {
            let ip = |at: usize| {
                IpAddr::V4(Ipv4Addr::new(
                    body[at],
                    body[at + 1],
                    body[at + 2],
                    body[at + 3],
                ))
            };
            Header::Proxied {
                source: SocketAddr::new(ip(0), be16(&body[8..])),
                destination: SocketAddr::new(ip(4), be16(&body[10..])),
            }
        }
        _ => {
            let ip = |at: usize| {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&body[at..at + 16]);
                IpAddr::V6(Ipv6Addr::from(octets))
            };
            Header::Proxied {
                source: SocketAddr::new(ip(0), be16(&body[32..])),
                destination: SocketAddr::new(ip(16), be16(&body[34..])),
            }
        }
    };
    Ok(Some((header, total)))
}

fn be16(bytes: &[u8]) -> u16 {
    u16::from_be_bytes([bytes[0], bytes[1]])
}

/// The command of a version 2 header: LOCAL or PROXY.
fn v2_command(version_command: u8) -> Result<u8, Error> {
    if version_command >> 4 != 2 {
        return Err(Error::Malformed("version is not 2"));
    }
    match version_command & 0x0f {
        command @ (COMMAND_LOCAL | COMMAND_PROXY) => Ok(command),
        _ => Err(Error::Malformed("unknown command")),
    }
}

/// The address family of a version 2 header (its transport protocol, STREAM, DGRAM or
/// unspecified, is checked but does not matter here: only the addresses do).
fn v2_family(family_protocol: u8) -> Result<u8, Error> {
    let (family, protocol) = (family_protocol >> 4, family_protocol & 0x0f);
    if family > FAMILY_UNIX {
        return Err(Error::Malformed("unknown address family"));
    }
    if protocol > 2 {
        return Err(Error::Malformed("unknown transport protocol"));
    }
    Ok(family)
}

/// Each TLV (type, 16-bit big-endian length, value) must fit in what is left.
fn check_tlvs(mut tlvs: &[u8]) -> Result<(), Error> {
    while !tlvs.is_empty() {
        if tlvs.len() < 3 {
            return Err(Error::Malformed("truncated TLV"));
        }
        let length = usize::from(be16(&tlvs[1..]));
        if tlvs.len() < 3 + length {
            return Err(Error::Malformed("TLV longer than the header"));
        }
        tlvs = &tlvs[3 + length..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::testing::cut;
    use proptest::prelude::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn proxied(source: &str, destination: &str) -> Header {
        Header::Proxied {
            source: addr(source),
            destination: addr(destination),
        }
    }

    /// Checks `input` at every length: a prefix of a valid header is incomplete, the header is
    /// found at its length whatever follows, and a broken one never yields a header.
    fn at_every_length(input: &[u8]) -> Result<Option<(Header, usize)>, Error> {
        let whole = parse(input);
        for k in 0..input.len() {
            match (parse(&input[..k]), &whole) {
                (Ok(None), _) => {}
                (Ok(Some(found)), Ok(Some(expected))) => {
                    assert_eq!(found, *expected, "prefix of {k} bytes");
                    assert_eq!(found.1, k.min(found.1), "a header found early");
                }
                (Err(e), Err(expected)) => assert_eq!(e, *expected, "prefix of {k} bytes"),
                (got, _) => panic!("prefix of {k} bytes: {got:?}, whole: {whole:?}"),
            }
        }
        // What follows the header does not change it.
        if let Ok(Some((header, length))) = whole {
            let mut longer = input[..length].to_vec();
            longer.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n\x16\x03\x01");
            assert_eq!(parse(&longer), Ok(Some((header, length))));
        }
        whole
    }

    #[test]
    fn v1_headers_give_the_clients_addresses() {
        let cases: &[(&[u8], Header)] = &[
            (
                b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n",
                proxied("192.0.2.1:56324", "198.51.100.2:443"),
            ),
            (
                b"PROXY TCP6 2001:db8::1 ::1 0 65535\r\n",
                proxied("[2001:db8::1]:0", "[::1]:65535"),
            ),
            (b"PROXY UNKNOWN\r\n", Header::Local),
            (
                b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n",
                Header::Local,
            ),
        ];
        for (input, expected) in cases {
            let found = at_every_length(input);
            assert_eq!(found, Ok(Some((*expected, input.len()))), "{input:?}");
        }
        // The longest possible line is accepted.
        let mut longest = b"PROXY UNKNOWN ".to_vec();
        longest.resize(V1_MAX - 2, b'x');
        longest.extend_from_slice(b"\r\n");
        assert_eq!(at_every_length(&longest), Ok(Some((Header::Local, V1_MAX))));
    }

    #[test]
    fn broken_v1_headers_are_rejected() {
        let cases: &[(&[u8], Error)] = &[
            (b"GET / HTTP/1.1\r\n\r\n", Error::NotProxyProtocol),
            (b"\x16\x03\x01\x02\x00", Error::NotProxyProtocol),
            (
                b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
                Error::NotProxyProtocol,
            ),
            (
                b"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
                Error::Malformed("unknown protocol"),
            ),
            (
                b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
                Error::Malformed("unknown protocol"),
            ),
            (
                b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
                Error::Malformed("line not ended by CRLF"),
            ),
            (
                b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
                Error::Malformed("wrong number of fields"),
            ),
            (
                b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
                Error::Malformed("wrong number of fields"),
            ),
            (
                b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
                Error::Malformed("wrong number of fields"),
            ),
            (
                b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
                Error::Malformed("wrong number of fields"),
            ),
            (
                b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
                Error::Malformed("invalid address"),
            ),
            (
                b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
                Error::Malformed("invalid address"),
            ),
            (
                b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
                Error::Malformed("invalid address"),
            ),
            (
                b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
                Error::Malformed("invalid address"),
            ),
            (
                b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
                Error::Malformed("invalid port"),
            ),
            (
                b"PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n",
                Error::Malformed("invalid port"),
            ),
            (
                b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
                Error::Malformed("invalid port"),
            ),
            (
                b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
                Error::Malformed("invalid port"),
            ),
            (
                b"PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n",
                Error::Malformed("invalid port"),
            ),
            (
                b"PROXY TCP4 1.2.3.4\x005.6.7.8 1 2\r\n",
                Error::Malformed("invalid character"),
            ),
            (
                b"PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n",
                Error::Malformed("invalid character"),
            ),
            (
                b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
                Error::Malformed("invalid character"),
            ),
            (
                b"PROXY UNKNOWN \xc3\xa9\r\n",
                Error::Malformed("invalid character"),
            ),
            (b"PROXY \r\n", Error::Malformed("unknown protocol")),
        ];
        for (input, expected) in cases {
            assert_eq!(
                at_every_length(input),
                Err(*expected),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
        // No CRLF within 107 bytes.
        let mut long = b"PROXY UNKNOWN ".to_vec();
        long.resize(V1_MAX + 20, b'x');
        assert_eq!(at_every_length(&long), Err(Error::TooLong));
        let mut just_over = b"PROXY UNKNOWN ".to_vec();
        just_over.resize(V1_MAX - 1, b'x');
        just_over.extend_from_slice(b"\r\n");
        assert_eq!(at_every_length(&just_over), Err(Error::TooLong));
    }

    fn v2(version_command: u8, family_protocol: u8, body: &[u8]) -> Vec<u8> {
        let mut out = V2_SIGNATURE.to_vec();
        out.push(version_command);
        out.push(family_protocol);
        out.extend_from_slice(&(body.len() as u16).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    fn inet_body(tlvs: &[u8]) -> Vec<u8> {
        let mut body = vec![192, 0, 2, 1, 198, 51, 100, 2];
        body.extend_from_slice(&56324u16.to_be_bytes());
        body.extend_from_slice(&443u16.to_be_bytes());
        body.extend_from_slice(tlvs);
        body
    }

    #[test]
    fn v2_headers_give_the_clients_addresses() {
        let inet = v2(0x21, 0x11, &inet_body(&[]));
        assert_eq!(
            at_every_length(&inet),
            Ok(Some((proxied("192.0.2.1:56324", "198.51.100.2:443"), 28)))
        );
        // UDP over IPv4 carries addresses just the same.
        let udp = v2(0x21, 0x12, &inet_body(&[]));
        assert!(matches!(
            at_every_length(&udp),
            Ok(Some((Header::Proxied { .. }, 28)))
        ));

        let mut body6 = Vec::new();
        body6.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        body6.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        body6.extend_from_slice(&[0xff, 0xff, 0x01, 0xbb]);
        let inet6 = v2(0x21, 0x21, &body6);
        assert_eq!(
            at_every_length(&inet6),
            Ok(Some((proxied("[2001:db8::1]:65535", "[::1]:443"), 52)))
        );
    }

    #[test]
    fn v2_tlvs_are_skipped_when_they_fit_the_header() {
        // An ALPN TLV, an SSL TLV with a sub-TLV, an empty NOOP, then an unknown type.
        let tlvs = [
            &[0x01, 0x00, 0x02][..],
            b"h2",
            &[0x20, 0x00, 0x08, 0x01, 0, 0, 0, 0, 0x21, 0x00, 0x00],
            &[0x04, 0x00, 0x00],
            &[0xee, 0x00, 0x03, 1, 2, 3],
        ]
        .concat();
        let header = v2(0x21, 0x11, &inet_body(&tlvs));
        let length = header.len();
        assert_eq!(
            at_every_length(&header),
            Ok(Some((
                proxied("192.0.2.1:56324", "198.51.100.2:443"),
                length
            )))
        );
        for broken in [&[0x01][..], &[0x01, 0x00], &[0x01, 0x00, 0x05, b'h', b'2']] {
            let header = v2(0x21, 0x11, &inet_body(broken));
            assert!(
                matches!(at_every_length(&header), Err(Error::Malformed(_))),
                "{broken:?}"
            );
        }
    }

    #[test]
    fn v2_local_unspec_and_unix_keep_the_connections_own_addresses() {
        // LOCAL: the body (here none; or any, even a short address block) is ignored.
        assert_eq!(
            at_every_length(&v2(0x20, 0x31, &[0xff; 100])),
            Ok(Some((Header::Local, 116)))
        );
        assert_eq!(
            at_every_length(&v2(0x20, 0x00, &[])),
            Ok(Some((Header::Local, 16)))
        );
        assert_eq!(
            at_every_length(&v2(0x20, 0x11, &inet_body(&[]))),
            Ok(Some((Header::Local, 28)))
        );
        // PROXY with UNSPEC: no addresses, maybe TLVs.
        assert_eq!(
            at_every_length(&v2(0x21, 0x00, &[0x04, 0x00, 0x00])),
            Ok(Some((Header::Local, 19)))
        );
        // UNIX: two 108-byte paths.
        let mut paths = vec![0u8; 216];
        paths[..9].copy_from_slice(b"/run/lb.s");
        assert_eq!(
            at_every_length(&v2(0x21, 0x31, &paths)),
            Ok(Some((Header::Local, 16 + 216)))
        );
    }

    #[test]
    fn broken_v2_headers_are_rejected() {
        let cases: Vec<(Vec<u8>, Error)> = vec![
            (
                v2(0x11, 0x11, &inet_body(&[])),
                Error::Malformed("version is not 2"),
            ),
            (
                v2(0x31, 0x11, &inet_body(&[])),
                Error::Malformed("version is not 2"),
            ),
            (
                v2(0x22, 0x11, &inet_body(&[])),
                Error::Malformed("unknown command"),
            ),
            (
                v2(0x21, 0x41, &inet_body(&[])),
                Error::Malformed("unknown address family"),
            ),
            (
                v2(0x21, 0x13, &inet_body(&[])),
                Error::Malformed("unknown transport protocol"),
            ),
            (
                v2(0x21, 0x11, &[192, 0, 2, 1, 198, 51, 100, 2, 0, 1]),
                Error::Malformed("address block longer than the header"),
            ),
            (
                v2(0x21, 0x21, &inet_body(&[])),
                Error::Malformed("address block longer than the header"),
            ),
            (v2(0x21, 0x00, &vec![0; V2_MAX]), Error::TooLong),
        ];
        for (input, expected) in cases {
            assert_eq!(at_every_length(&input), Err(expected), "{input:?}");
        }
        // The signature with one byte changed is not the signature.
        for i in 0..12 {
            let mut header = v2(0x21, 0x11, &inet_body(&[]));
            header[i] ^= 0x40;
            assert!(at_every_length(&header).is_err(), "byte {i}");
        }
        // The longest accepted header, then one byte more.
        let longest = v2(
            0x21,
            0x00,
            &vec![0x04, 0x0f, 0xed]
                .into_iter()
                .chain(vec![0; 0x0fed])
                .collect::<Vec<u8>>(),
        );
        assert_eq!(longest.len(), V2_MAX);
        assert_eq!(at_every_length(&longest), Ok(Some((Header::Local, V2_MAX))));
    }

    proptest! {
        /// Any bytes at all: never a panic, and a header found is never longer than the input
        /// or the limits; cutting the input anywhere and growing it piece by piece gives the
        /// same answer as the whole.
        #[test]
        fn any_input_is_answered_consistently(
            input in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..300),
                proptest::collection::vec(any::<u8>(), 0..120).prop_map(|tail| [&b"PROXY TCP4 "[..], &tail].concat()),
                proptest::collection::vec(any::<u8>(), 0..120).prop_map(|tail| [&V2_SIGNATURE[..], &tail].concat()),
            ],
            points in proptest::collection::vec(any::<proptest::sample::Index>(), 0..4),
        ) {
            let whole = parse(&input);
            if let Ok(Some((_, length))) = whole {
                prop_assert!(length <= input.len() && length <= MAX_HEADER);
            }
            let mut seen = Vec::new();
            for piece in cut(&input, &points) {
                seen.extend_from_slice(piece);
                match parse(&seen) {
                    Ok(None) => {}
                    Ok(Some(found)) => {
                        prop_assert_eq!(Ok(Some(found)), whole);
                        break;
                    }
                    Err(e) => {
                        prop_assert_eq!(Err(e), whole);
                        break;
                    }
                }
            }
        }
    }
}
