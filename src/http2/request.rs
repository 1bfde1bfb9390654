//! An HTTP/2 request's header section (RFC 9113 §8.2 and §8.3) turned into the same
//! [`Request`] HTTP/1 produces, so that routing and handlers are shared.
//!
//! Fields arrive one by one from the HPACK decoder ([`RequestFields::field`]) and are checked
//! as they come; nothing past the header list limit is kept. The verdict is one of:
//! - a [`Request`];
//! - [`Rejection::Malformed`]: the message breaks an HTTP/2 rule (§8.1.1): a stream error
//!   PROTOCOL_ERROR, no response;
//! - [`Rejection::Status`]: a well-formed HTTP/2 message that HTTP refuses (an unknown method,
//!   a bad path, a header list over the limit): answered with that status like on HTTP/1.

use crate::http::path;
use crate::http::request::{self, Framing, Method, Request, Version};

/// Why a request is not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Malformed in HTTP/2's terms: reset the stream with PROTOCOL_ERROR.
    Malformed,
    /// Answer with this status.
    Status(u16),
}

/// The fields RFC 9113 §8.2.2 calls connection-specific: a message carrying one is malformed.
const CONNECTION_SPECIFIC: [&[u8]; 5] = [
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"transfer-encoding",
    b"upgrade",
];

/// A `:method` value, judged as it arrives (no copy is kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MethodToken {
    Known(Method),
    Connect,
    /// Not implemented here (501), but the one method whose `:path` may be `*` (§8.3.1).
    Options,
    /// A token this server does not implement: 501.
    Unknown,
    /// Empty or not a token: malformed.
    Invalid,
}

impl MethodToken {
    fn of(value: &[u8]) -> MethodToken {
        // The methods served come first: no octet-by-octet check for them.
        if let Some(method) = Method::from_bytes(value) {
            return MethodToken::Known(method);
        }
        match value {
            b"CONNECT" => MethodToken::Connect,
            b"OPTIONS" => MethodToken::Options,
            _ if !value.is_empty() && value.iter().all(|&b| crate::http::is_tchar(b)) => {
                MethodToken::Unknown
            }
            _ => MethodToken::Invalid,
        }
    }
}

/// A `:scheme` value, judged as it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Valid,
    Invalid,
}

/// The header section of a request as it is decoded, field by field.
pub struct RequestFields {
    limit: usize,
    /// The header list size so far, counted as SETTINGS_MAX_HEADER_LIST_SIZE is (§6.5.2).
    size: usize,
    problem: Option<Rejection>,
    method: Option<MethodToken>,
    scheme: Option<Scheme>,
    authority: Option<String>,
    path: Option<String>,
    regular_seen: bool,
    headers: Vec<(String, String)>,
    host: Option<String>,
    content_length: Option<u64>,
    /// `cookie` fields, joined with "; " as §8.2.3 requires before leaving HTTP/2.
    cookie: Option<String>,
}

impl RequestFields {
    /// `limit`: the most header list octets kept (431 past it).
    pub fn new(limit: usize) -> RequestFields {
        RequestFields {
            limit,
            size: 0,
            problem: None,
            method: None,
            scheme: None,
            authority: None,
            path: None,
            regular_seen: false,
            // The host (from :authority) and a few fields: no growth for the usual request.
            headers: Vec::with_capacity(8),
            host: None,
            content_length: None,
            cookie: None,
        }
    }

    fn reject(&mut self, why: Rejection) {
        // Malformed wins over a status: the stream is reset either way, and a malformed
        // message must never be served.
        match (self.problem, why) {
            (None, _) | (Some(Rejection::Status(_)), Rejection::Malformed) => {
                self.problem = Some(why)
            }
            _ => {}
        }
    }

    /// One decoded field, in order.
    pub fn field(&mut self, name: &[u8], value: &[u8]) {
        self.size += name.len() + value.len() + crate::http2::hpack::ENTRY_OVERHEAD;
        if self.size > self.limit {
            self.reject(Rejection::Status(431));
        }
        if !valid_value(value) {
            return self.reject(Rejection::Malformed);
        }
        if let Some(pseudo) = name.strip_prefix(b":") {
            return self.pseudo(pseudo, value);
        }
        self.regular_seen = true;
        if !valid_name(name) {
            return self.reject(Rejection::Malformed);
        }
        if CONNECTION_SPECIFIC.contains(&name) {
            return self.reject(Rejection::Malformed);
        }
        if !te_allowed(name, value) {
            return self.reject(Rejection::Malformed);
        }
        if name == b"content-length" {
            match parse_length(value) {
                Some(n) if self.content_length.is_none_or(|m| m == n) => {
                    self.content_length = Some(n)
                }
                _ => return self.reject(Rejection::Malformed),
            }
        }
        if self.problem.is_some() {
            // Judged already: keep checking the rest for malformation, store nothing more.
            return;
        }
        // Names are lower-case ASCII tokens by now; values may hold obs-text.
        let name = owned_text(name);
        let value = owned_text(value);
        match name.as_str() {
            "cookie" => {
                match &mut self.cookie {
                    Some(joined) => {
                        joined.push_str("; ");
                        joined.push_str(&value);
                    }
                    None => self.cookie = Some(value),
                }
                return;
            }
            "host" => {
                if self.host.is_some() {
                    return self.reject(Rejection::Status(400));
                }
                self.host = Some(value.clone());
            }
            _ => {}
        }
        self.headers.push((name, value));
    }

    fn pseudo(&mut self, name: &[u8], value: &[u8]) {
        // "All pseudo-header fields MUST appear in a field block before all regular field
        // lines"; unknown ones and response ones (:status) make the request malformed.
        if self.regular_seen {
            return self.reject(Rejection::Malformed);
        }
        let repeated = match name {
            b"method" => self.method.replace(MethodToken::of(value)).is_some(),
            b"scheme" => {
                let scheme = if valid_scheme(value) {
                    Scheme::Valid
                } else {
                    Scheme::Invalid
                };
                self.scheme.replace(scheme).is_some()
            }
            b"authority" => self.authority.replace(owned_text(value)).is_some(),
            b"path" => self.path.replace(owned_text(value)).is_some(),
            _ => return self.reject(Rejection::Malformed),
        };
        if repeated {
            self.reject(Rejection::Malformed);
        }
    }

    /// The verdict once the block has ended. `end_stream`: the HEADERS frame ended the stream,
    /// so there is no body.
    pub fn finish(self, end_stream: bool) -> Result<Request, Rejection> {
        if self.problem == Some(Rejection::Malformed) {
            return Err(Rejection::Malformed);
        }
        let method = self.method.ok_or(Rejection::Malformed)?;
        if method == MethodToken::Invalid {
            return Err(Rejection::Malformed);
        }
        if method == MethodToken::Connect {
            // §8.5: only :method and :authority. Well-formed or not, we do not tunnel.
            if self.scheme.is_some() || self.path.is_some() || self.authority.is_none() {
                return Err(Rejection::Malformed);
            }
            return Err(Rejection::Status(501));
        }
        // §8.3.1: exactly one :method, :scheme and :path, and :path not empty.
        let (Some(scheme), Some(target)) = (self.scheme, self.path) else {
            return Err(Rejection::Malformed);
        };
        if scheme == Scheme::Invalid {
            return Err(Rejection::Malformed);
        }
        // §8.3.1: a valid :path is an absolute path (and query), or "*" for OPTIONS.
        let asterisk = target == "*" && method == MethodToken::Options;
        if !target.starts_with('/') && !asterisk {
            return Err(Rejection::Malformed);
        }
        if self
            .authority
            .as_deref()
            .is_some_and(|authority| authority.as_bytes().contains(&b'@'))
        {
            // §8.3.1: no userinfo in the authority of http and https URIs.
            return Err(Rejection::Malformed);
        }
        if let (Some(authority), Some(host)) = (&self.authority, &self.host) {
            // §8.3.1: a Host that names another entity than :authority.
            if !authority.eq_ignore_ascii_case(host) {
                return Err(Rejection::Malformed);
            }
        }
        if let Some(problem) = self.problem {
            return Err(problem);
        }
        let MethodToken::Known(method) = method else {
            return Err(Rejection::Status(501));
        };
        if target.len() > crate::http::request::MAX_TARGET {
            return Err(Rejection::Status(414));
        }
        let (raw_path, query) = path::split_target(target.as_bytes());
        // A path already normal is ASCII.
        let normal = request::already_normal(raw_path).then(|| crate::sys::ascii_string(raw_path));
        let path = match normal.flatten() {
            Some(path) => path,
            None => path::normalize(raw_path).map_err(|_| Rejection::Status(400))?,
        };
        let query = query.map(|q| String::from_utf8_lossy(q).into_owned());
        let host = match self.authority.as_deref().or(self.host.as_deref()) {
            // The same rule as HTTP/1's Host: `host[:port]`, userinfo refused, IPv6 in brackets.
            Some(value) => Some(request::parse_host(value.as_bytes()).map_err(Rejection::Status)?),
            None => None,
        };
        let mut headers = self.headers;
        if self.host.is_none()
            && let Some(authority) = self.authority
        {
            // Handlers and CGI read the host from the Host field, as on HTTP/1.1.
            headers.insert(0, ("host".to_string(), authority));
        }
        if let Some(cookie) = self.cookie {
            headers.push(("cookie".to_string(), cookie));
        }
        let framing = match (end_stream, self.content_length) {
            (true, _) => Framing::None,
            (false, Some(length)) => Framing::Length(length),
            // Delimited by END_STREAM.
            (false, None) => Framing::UntilEnd,
        };
        Ok(Request {
            method,
            target,
            path,
            query,
            version: Version::Http2,
            headers,
            host: host.filter(|h| !h.is_empty()),
            framing,
            keep_alive: true,
            expect_continue: false,
            routed: None,
            variables: None,
        })
    }

    /// The declared content-length, checked against the DATA frames (§8.1.1).
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }
}

/// Octets as a `String`: copied when they are ASCII (nearly always: a quick check and a copy)
/// or UTF-8, with U+FFFD for what is not (the lossy path, several times slower).
fn owned_text(octets: &[u8]) -> String {
    if let Some(text) = crate::sys::ascii_string(octets) {
        return text;
    }
    match std::str::from_utf8(octets) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(octets).into_owned(),
    }
}

/// The check of a trailer section (§8.1): regular fields only, valid as in a header section.
/// Trailers are not passed on (no handler reads them); they only have to be well-formed.
pub fn trailer_field_is_valid(name: &[u8], value: &[u8]) -> bool {
    valid_value(value)
        && valid_name(name)
        && !CONNECTION_SPECIFIC.contains(&name)
        && te_allowed(name, value)
}

/// §8.2.2: TE may be present, but with no value other than "trailers".
fn te_allowed(name: &[u8], value: &[u8]) -> bool {
    name != b"te" || value.eq_ignore_ascii_case(b"trailers")
}

/// A field name: a token (RFC 9110 §5.1) in lower case (RFC 9113 §8.2.1), which also keeps
/// out every octet §8.2.1 forbids (controls, space, colon, DEL, non-ASCII).
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| NAME_OCTETS[usize::from(b)])
}

/// The octets of a field name: a token's, in lower case (one load per octet).
const NAME_OCTETS: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = crate::http::is_tchar(b) && !b.is_ascii_uppercase();
        i += 1;
    }
    table
};

/// A field value (RFC 9110 §5.5): visible octets, obs-text, SP and HTAB, and no whitespace at
/// either end (RFC 9113 §8.2.1). This keeps out NUL, CR and LF, as §8.2.1 requires.
fn valid_value(value: &[u8]) -> bool {
    let edge_ok = |b: Option<&u8>| !matches!(b, Some(b' ' | b'\t'));
    edge_ok(value.first())
        && edge_ok(value.last())
        && value.iter().all(|&b| VALUE_OCTETS[usize::from(b)])
}

/// The octets a field value may hold: visible, obs-text, SP and HTAB (one load per octet).
const VALUE_OCTETS: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = value_octet(i as u8);
        i += 1;
    }
    table
};

/// An octet a field value may hold: visible, obs-text, SP or HTAB.
const fn value_octet(b: u8) -> bool {
    b == b'\t' || b == b' ' || (b > 0x20 && b != 0x7f)
}

/// `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )` (RFC 3986 §3.1).
fn valid_scheme(scheme: &[u8]) -> bool {
    let mut bytes = scheme.iter().copied();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// `content-length = 1*DIGIT`, as HTTP/1 reads it (one value here: HTTP/2 has no list folding
/// of its own, and a repeated field is compared by the caller).
fn parse_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 18 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(value.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn values_are_judged_by_the_table_as_by_the_rule(
            value in proptest::collection::vec(
                prop_oneof![Just(b'\t'), Just(b' '), Just(0x7fu8), Just(0u8), Just(0x1f),
                            Just(0x20), Just(0x21), Just(0x80), Just(0xff), any::<u8>(),
                            Just(b'a'), Just(b'a'), Just(b'a'), Just(b'a')],
                0..40),
        ) {
            let edge_ok = |b: Option<&u8>| !matches!(b, Some(b' ' | b'\t'));
            let simple = edge_ok(value.first())
                && edge_ok(value.last())
                && value.iter().all(|&b| b == b'\t' || b == b' ' || (b > 0x20 && b != 0x7f));
            prop_assert_eq!(valid_value(&value), simple);
        }
    }

    #[test]
    fn every_control_octet_is_refused_at_every_place() {
        for place in 1..16 {
            for b in (0u8..0x20).chain([0x7f]) {
                let mut value = vec![b'a'; 17];
                value[place] = b;
                assert_eq!(valid_value(&value), b == b'\t', "{b:#x} at {place}");
            }
        }
    }

    const BASE: &[(&str, &str)] = &[
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "Example.COM:8443"),
        (":path", "/a/%7Eb/../c?x=1"),
    ];

    fn build(fields: &[(&str, &str)], end_stream: bool) -> Result<Request, Rejection> {
        let mut collector = RequestFields::new(32 * 1024);
        for (name, value) in fields {
            collector.field(name.as_bytes(), value.as_bytes());
        }
        collector.finish(end_stream)
    }

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut all = BASE.to_vec();
        all.extend_from_slice(extra);
        all
    }

    #[test]
    fn a_well_formed_request_becomes_the_shared_request_type() {
        let request = build(
            &with(&[("accept", "*/*"), ("cookie", "a=1"), ("cookie", "b=2")]),
            true,
        )
        .unwrap();
        assert_eq!(request.method, Method::Get);
        assert_eq!(request.target, "/a/%7Eb/../c?x=1");
        assert_eq!(request.path, "/a/c");
        assert_eq!(request.query.as_deref(), Some("x=1"));
        assert_eq!(request.host.as_deref(), Some("example.com"));
        assert_eq!(request.header("host"), Some("Example.COM:8443"));
        assert_eq!(request.header("accept"), Some("*/*"));
        assert_eq!(request.header("cookie"), Some("a=1; b=2"));
        assert_eq!(request.framing, Framing::None);
        assert!(request.keep_alive);
    }

    #[test]
    fn the_body_framing_follows_end_stream_and_content_length() {
        let post = |extra: &[(&'static str, &'static str)], end| {
            let mut fields = with(extra);
            fields[0].1 = "POST";
            build(&fields, end).unwrap().framing
        };
        assert_eq!(post(&[], true), Framing::None);
        assert_eq!(
            post(&[("content-length", "12")], false),
            Framing::Length(12)
        );
        assert_eq!(post(&[], false), Framing::UntilEnd);
    }

    /// RFC 9113 section, fields, expected verdict.
    #[test]
    fn each_rule_of_section_8_gives_its_verdict() {
        use Rejection::{Malformed, Status};
        /// Section and rule, the fields, the verdict.
        type Case = (&'static str, Vec<(&'static str, &'static str)>, Rejection);
        let cases: &[Case] = &[
            ("8.2 upper-case name", with(&[("Accept", "x")]), Malformed),
            ("8.2.1 space in a name", with(&[("a b", "x")]), Malformed),
            (
                "8.2.1 colon in a regular name",
                with(&[("a:b", "x")]),
                Malformed,
            ),
            ("8.2.1 empty name", with(&[("", "x")]), Malformed),
            (
                "8.2.1 non-ASCII name",
                with(&[("caf\u{e9}", "x")]),
                Malformed,
            ),
            ("8.2.1 NUL in a value", with(&[("a", "x\0y")]), Malformed),
            ("8.2.1 CR in a value", with(&[("a", "x\ry")]), Malformed),
            ("8.2.1 LF in a value", with(&[("a", "x\ny")]), Malformed),
            (
                "8.2.1 leading space in a value",
                with(&[("a", " x")]),
                Malformed,
            ),
            (
                "8.2.1 trailing tab in a value",
                with(&[("a", "x\t")]),
                Malformed,
            ),
            (
                "8.2.2 connection",
                with(&[("connection", "keep-alive")]),
                Malformed,
            ),
            (
                "8.2.2 keep-alive",
                with(&[("keep-alive", "timeout=5")]),
                Malformed,
            ),
            (
                "8.2.2 proxy-connection",
                with(&[("proxy-connection", "x")]),
                Malformed,
            ),
            (
                "8.2.2 transfer-encoding",
                with(&[("transfer-encoding", "chunked")]),
                Malformed,
            ),
            ("8.2.2 upgrade", with(&[("upgrade", "h2c")]), Malformed),
            (
                "8.2.2 te other than trailers",
                with(&[("te", "gzip")]),
                Malformed,
            ),
            (
                "8.3 unknown pseudo-header",
                with(&[(":foo", "x")]),
                Malformed,
            ),
            (
                "8.3 response pseudo-header",
                vec![
                    (":status", "200"),
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":path", "/"),
                ],
                Malformed,
            ),
            (
                "8.3 pseudo-header after a regular field",
                vec![
                    (":method", "GET"),
                    (":scheme", "http"),
                    ("a", "b"),
                    (":path", "/"),
                ],
                Malformed,
            ),
            (
                "8.3.1 :protocol without extended CONNECT",
                with(&[(":protocol", "websocket")]),
                Malformed,
            ),
            (
                "8.3.1 empty :path",
                vec![(":method", "GET"), (":scheme", "http"), (":path", "")],
                Malformed,
            ),
            (
                "8.3.1 no :method",
                vec![(":scheme", "http"), (":path", "/")],
                Malformed,
            ),
            (
                "8.3.1 no :scheme",
                vec![(":method", "GET"), (":path", "/")],
                Malformed,
            ),
            (
                "8.3.1 no :path",
                vec![(":method", "GET"), (":scheme", "http")],
                Malformed,
            ),
            ("8.3.1 two :method", with(&[(":method", "GET")]), Malformed),
            (
                "8.3.1 two :scheme",
                vec![
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":scheme", "http"),
                    (":path", "/"),
                ],
                Malformed,
            ),
            (
                "8.3.1 two :path",
                vec![
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":path", "/"),
                    (":path", "/"),
                ],
                Malformed,
            ),
            (
                "8.3.1 Host naming another entity",
                with(&[("host", "other.example")]),
                Malformed,
            ),
            (
                "8.1.1 content-length not a number",
                with(&[("content-length", "1x")]),
                Malformed,
            ),
            (
                "8.1.1 two different content-lengths",
                with(&[("content-length", "1"), ("content-length", "2")]),
                Malformed,
            ),
            (
                "8.5 CONNECT with :path",
                with(&[])
                    .into_iter()
                    .map(|(n, v)| {
                        if n == ":method" {
                            (n, "CONNECT")
                        } else {
                            (n, v)
                        }
                    })
                    .collect(),
                Malformed,
            ),
            (
                "8.5 CONNECT as it should be: not served",
                vec![(":method", "CONNECT"), (":authority", "example.com:443")],
                Status(501),
            ),
            (
                "an unknown method",
                vec![(":method", "BREW"), (":scheme", "http"), (":path", "/")],
                Status(501),
            ),
            (
                "8.3.1 a :path in absolute form",
                vec![
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":path", "http://x/"),
                ],
                Malformed,
            ),
            (
                "8.3.1 a :path of * for GET",
                vec![(":method", "GET"), (":scheme", "http"), (":path", "*")],
                Malformed,
            ),
            (
                "8.3.1 userinfo in :authority",
                vec![
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":authority", "u@h"),
                    (":path", "/"),
                ],
                Malformed,
            ),
            (
                "OPTIONS * is well-formed, and not served",
                vec![(":method", "OPTIONS"), (":scheme", "http"), (":path", "*")],
                Status(501),
            ),
            (
                "a :path climbing above the root",
                vec![(":method", "GET"), (":scheme", "http"), (":path", "/../x")],
                Status(400),
            ),
            (
                "a bad :authority",
                vec![
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":authority", "a b"),
                    (":path", "/"),
                ],
                Status(400),
            ),
        ];
        for (name, fields, expected) in cases {
            assert_eq!(build(fields, true).err(), Some(*expected), "{name}");
        }
    }

    #[test]
    fn a_matching_host_with_authority_is_accepted() {
        let request = build(&with(&[("host", "example.com:8443")]), true).unwrap();
        assert_eq!(request.header("host"), Some("example.com:8443"));
        assert_eq!(
            request.headers.iter().filter(|(n, _)| n == "host").count(),
            1
        );
    }

    #[test]
    fn a_request_without_authority_takes_its_host_from_host() {
        let request = build(
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                ("host", "a.example"),
            ],
            true,
        )
        .unwrap();
        assert_eq!(request.host.as_deref(), Some("a.example"));
    }

    #[test]
    fn a_header_list_over_the_limit_is_431_and_is_not_kept() {
        let mut collector = RequestFields::new(200);
        for (name, value) in BASE {
            collector.field(name.as_bytes(), value.as_bytes());
        }
        for _ in 0..100 {
            collector.field(b"x-big", &[b'v'; 100]);
        }
        assert!(collector.headers.len() <= 2);
        assert_eq!(collector.finish(true).err(), Some(Rejection::Status(431)));
    }

    #[test]
    fn malformed_wins_over_a_status() {
        let mut collector = RequestFields::new(100);
        for (name, value) in BASE {
            collector.field(name.as_bytes(), value.as_bytes());
        }
        collector.field(b"x-big", &[b'v'; 200]);
        collector.field(b"Upper", b"x");
        assert_eq!(collector.finish(true).err(), Some(Rejection::Malformed));
    }

    #[test]
    fn te_trailers_is_allowed_and_obs_text_values_are_kept() {
        let request = build(&with(&[("te", "trailers"), ("x-a", "caf\u{e9}")]), true).unwrap();
        assert_eq!(request.header("te"), Some("trailers"));
        assert_eq!(request.header("x-a"), Some("caf\u{e9}"));
    }

    #[test]
    fn trailer_fields_are_checked_like_headers() {
        assert!(trailer_field_is_valid(b"x-checksum", b"abc"));
        assert!(!trailer_field_is_valid(b"X-Checksum", b"abc"));
        assert!(!trailer_field_is_valid(b":path", b"/"));
        assert!(!trailer_field_is_valid(b"x", b"a\nb"));
        assert!(!trailer_field_is_valid(b"transfer-encoding", b"chunked"));
    }
}
