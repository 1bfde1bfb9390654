//! The request to the backend: its head, written afresh from the parsed request (the client's
//! bytes are never forwarded, so nothing the front parser refused or normalised can reach the
//! backend in another shape), how its body travels, and whether it asks for a WebSocket
//! tunnel.
//!
//! The head is `METHOD TARGET HTTP/1.x`, then the location's field list (its `proxy_set_header`
//! lines, then the defaults they do not name: `Host $proxy_host`, `Connection close`,
//! `X-Real-IP`, `X-Forwarded-For`, `X-Forwarded-Proto`, and empty `TE`, `Keep-Alive`, `Expect`,
//! `Upgrade`), a field whose value expands to nothing left out; then the client's fields
//! (unless `proxy_pass_request_headers off`) except those the list names and the hop-by-hop
//! ones (RFC 9110 §7.6.1: `Connection` and every field it names, `Keep-Alive`,
//! `Proxy-Connection`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`), and the client's
//! `Content-Length`; last the framing of the body as it will be sent.
//!
//! WebSocket (and any HTTP/1.1 `Upgrade`), as nginx does it: `Upgrade` and `Connection` are
//! hop-by-hop, so the backend is asked to switch only when the location says so, with nginx's
//! snippet (`proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header
//! Connection $connection_upgrade;` or `"upgrade"`). When the client asked for a switch
//! (HTTP/1.1, `Connection: upgrade` with an `Upgrade` field, no body) and the head sent carries
//! an `Upgrade` field, a `101` from the backend turns the exchange into a tunnel; a `101` to any
//! other request is a 502. HTTP/2 requests never ask (RFC 9113 §8.2.2 makes `Upgrade` there
//! malformed, and the front refuses them).

use crate::config::proxy::model::{ProxyHttpVersion, ProxySettings};
use crate::config::proxy::value::ValuePart;
use crate::http::path::percent_encode_into;
use crate::http::request::{Framing, Request, Version};

use super::vars::Vars;

/// How the request body travels to the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyPlan {
    /// Nothing follows the head.
    None,
    /// The client sends a body the backend does not get (`proxy_pass_request_body off`): it is
    /// read and dropped.
    Discard,
    /// The body is sent as it arrives, framed as the head says.
    Stream(Outgoing),
    /// The whole body is read first (`proxy_request_buffering on`, or a chunked body to an
    /// HTTP/1.0 backend, which needs its length); the head is written after, with
    /// `Outgoing::Length` of what was read.
    Spool,
}

/// The body framing the head announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outgoing {
    None,
    Length(u64),
    /// Chunked: only to an HTTP/1.1 backend.
    Chunked,
}

/// What the request lets the backend connection do after the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    /// The request did not ask to close: the connection may go back to the pool if the
    /// response allows it too.
    Keep,
    /// The request said `Connection: close` (nginx's default), was HTTP/1.0 without
    /// `keep-alive`, or became a tunnel.
    Close,
}

/// What [`write_head`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadInfo {
    pub reuse: Reuse,
    /// The head asks for a protocol switch: a `101` answer turns the exchange into a tunnel.
    pub upgrade: bool,
}

/// How the body of `request` goes to the backend.
pub fn body_plan(request: &Request, settings: &ProxySettings) -> BodyPlan {
    if !settings.pass_request_body {
        return if request.has_body() {
            BodyPlan::Discard
        } else {
            BodyPlan::None
        };
    }
    match request.framing {
        Framing::None => BodyPlan::None,
        Framing::Length(0) => BodyPlan::Stream(Outgoing::Length(0)),
        Framing::Length(_) if settings.request_buffering => BodyPlan::Spool,
        Framing::Length(n) => BodyPlan::Stream(Outgoing::Length(n)),
        // Of unknown length (chunked, or an HTTP/2 body without content-length): chunked to
        // an HTTP/1.1 backend, spooled for an HTTP/1.0 one.
        Framing::Chunked | Framing::UntilEnd
            if !settings.request_buffering && settings.http_version == ProxyHttpVersion::Http11 =>
        {
            BodyPlan::Stream(Outgoing::Chunked)
        }
        Framing::Chunked | Framing::UntilEnd => BodyPlan::Spool,
    }
}

/// Whether the client asks for a protocol switch (nginx's `r->headers_in.upgrade`, held to RFC
/// 9110 §7.8): HTTP/1.1, `Connection` names `upgrade`, an `Upgrade` field with a value, no
/// body. The backend is asked too only when the location's fields send it an `Upgrade`.
pub fn client_asks_upgrade(request: &Request) -> bool {
    // HTTP/1.1 only: HTTP/1.0 has no Upgrade, HTTP/2 no connection-specific fields.
    if request.version != Version::Http11 || request.has_body() {
        return false;
    }
    let asked = request
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, v)| tokens(v))
        .any(|t| t.eq_ignore_ascii_case("upgrade"));
    asked
        && request
            .header("upgrade")
            .is_some_and(|v| !v.trim().is_empty())
}

/// The fields a proxy never passes on from the client: they belong to the client's connection
/// (RFC 9110 §7.6.1), or frame a body whose framing the head states afresh.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// Appends the request head for the backend to `out`: `upgrade` from
/// [`client_asks_upgrade`], `outgoing` from [`body_plan`] (for `Spool`, the length read).
pub fn write_head(
    out: &mut Vec<u8>,
    vars: &Vars,
    settings: &ProxySettings,
    outgoing: Outgoing,
    upgrade: bool,
) -> HeadInfo {
    let info = write_fields(out, vars, settings, upgrade);
    end_head(out, outgoing);
    info
}

/// The body's framing field and the end of the head, after [`write_fields`] (apart, for a
/// body whose length is known only once it is read whole).
pub fn end_head(out: &mut Vec<u8>, outgoing: Outgoing) {
    match outgoing {
        Outgoing::None => {}
        Outgoing::Length(n) => {
            out.extend_from_slice(b"Content-Length: ");
            crate::http::response::push_decimal(out, n);
            out.extend_from_slice(b"\r\n");
        }
        Outgoing::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

/// The request line and the fields of the head, without the body's framing and the empty
/// line that ends it ([`end_head`]).
pub fn write_fields(
    out: &mut Vec<u8>,
    vars: &Vars,
    settings: &ProxySettings,
    upgrade: bool,
) -> HeadInfo {
    write_fields_with(out, vars, settings, upgrade, &mut String::new())
}

/// [`write_fields`] with `scratch` for the target and each configured value (a buffer the
/// caller keeps from one request to the next).
pub fn write_fields_with(
    out: &mut Vec<u8>,
    vars: &Vars,
    settings: &ProxySettings,
    upgrade: bool,
    scratch: &mut String,
) -> HeadInfo {
    let request = vars.request;
    let http11 = settings.http_version == ProxyHttpVersion::Http11;
    out.extend_from_slice(request.method.as_str().as_bytes());
    out.push(b' ');
    scratch.clear();
    super::uri::backend_target(vars.pass, request, scratch);
    out.extend_from_slice(scratch.as_bytes());
    out.extend_from_slice(if http11 {
        b" HTTP/1.1\r\n"
    } else {
        b" HTTP/1.0\r\n"
    });

    // The Connection field sent, as it bears on reuse: (close, keep-alive) named in it.
    let mut connection: Option<(bool, bool)> = None;
    // An `Upgrade` field went out (the location passes the client's on).
    let mut upgrade_sent = false;
    for field in settings.headers.iter() {
        let lower_is = |name: &str| field.name.eq_ignore_ascii_case(name);
        // A value without variables (most of the defaults: empty `TE`, `Keep-Alive`...) is
        // taken as it is, not copied through `scratch`.
        let value = match field.value.parts.as_slice() {
            [] => continue,
            [ValuePart::Text(text)] if text.is_empty() => continue,
            [ValuePart::Text(text)] => text.as_str(),
            _ => {
                scratch.clear();
                vars.expand_into(&field.value, scratch, 0);
                scratch.as_str()
            }
        };
        if push_field(out, &field.name, value) {
            if lower_is("connection") {
                connection = Some((has_token(value, "close"), has_token(value, "keep-alive")));
            } else if lower_is("upgrade") {
                upgrade_sent = true;
            }
        }
    }
    let upgrade = upgrade && upgrade_sent;

    if settings.pass_request_headers {
        // The fields the client's Connection names (gathered only when it has one).
        let is_connection = |(n, _): &&(String, String)| n.eq_ignore_ascii_case("connection");
        let named: Vec<&str> = if request.headers.iter().any(|h| is_connection(&h)) {
            let values = request.headers.iter().filter(is_connection);
            values.flat_map(|(_, v)| tokens(v)).collect()
        } else {
            Vec::new()
        };
        for (name, value) in &request.headers {
            let skip = settings
                .headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case(name))
                || HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
                || named.iter().any(|n| n.eq_ignore_ascii_case(name));
            if !skip {
                push_field(out, name, value);
            }
        }
    }

    let reuse = match (upgrade, http11, connection) {
        (true, _, _) => Reuse::Close,
        (false, true, Some((true, _))) => Reuse::Close,
        (false, true, _) => Reuse::Keep,
        (false, false, Some((false, true))) => Reuse::Keep,
        (false, false, _) => Reuse::Close,
    };
    HeadInfo { reuse, upgrade }
}

/// Appends `name: value` (value trimmed) unless the value is empty; control characters in it
/// (what a decoded path or a configured variable could bring: CR, LF, NUL...) are written as
/// `%XX`, so no value can end the field or start another. Whether a field was written.
fn push_field(out: &mut Vec<u8>, name: &str, value: &str) -> bool {
    let value = trim(value.as_bytes());
    if value.is_empty() {
        return false;
    }
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    if has_control(value) {
        percent_encode_into(out, value, is_control);
    } else {
        out.extend_from_slice(value);
    }
    out.extend_from_slice(b"\r\n");
    true
}

/// A control character other than tab: what a field value cannot carry.
fn is_control(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// Whether `value` holds a control character. The whole value is looked at, without an early
/// exit, so that the loop compiles to vector instructions (values are short, and clean).
fn has_control(value: &[u8]) -> bool {
    value.iter().fold(false, |found, &b| found | is_control(b))
}

/// `value` without the spaces and tabs around it.
fn trim(value: &[u8]) -> &[u8] {
    let blank = |b: &u8| matches!(b, b' ' | b'\t');
    // Most values have nothing to trim: two looks instead of two scans.
    match (value.first(), value.last()) {
        (Some(first), Some(last)) if !blank(first) && !blank(last) => return value,
        _ => {}
    }
    let start = value.iter().position(|b| !blank(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !blank(b))
        .map_or(start, |p| p + 1);
    &value[start..end]
}

/// The comma-separated elements of a list field, trimmed, empty ones skipped.
fn tokens(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(',')
        .map(|t| t.trim_matches([' ', '\t']))
        .filter(|t| !t.is_empty())
}

fn has_token(value: &str, token: &str) -> bool {
    tokens(value).any(|t| t.eq_ignore_ascii_case(token))
}

/// The line that starts a chunk of `len` bytes (`len` > 0) when a body is streamed chunked;
/// the chunk's data is followed by `\r\n`, and the body ends with [`LAST_CHUNK`].
pub fn chunk_start(len: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(format!("{len:x}\r\n").as_bytes());
}

/// The end of a chunked body: the last chunk and an empty trailer section.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::proxy::model::{HeaderOrigin, ProxySettings, SetHeader};
    use crate::config::proxy::value::{Map, Names, Value};
    use crate::proxy::uri::tests::pass;
    use crate::proxy::vars::tests::{request, with_vars};

    fn settings(configured: &[(&str, &str)]) -> ProxySettings {
        let names = ["connection_upgrade".to_string()];
        let list = configured
            .iter()
            .map(|(n, v)| SetHeader {
                name: n.to_string(),
                value: Value::parse(v, Names::maps(&names)).unwrap(),
                origin: HeaderOrigin::Configured,
            })
            .collect();
        ProxySettings {
            headers: ProxySettings::merge_headers(list),
            ..ProxySettings::default()
        }
    }

    fn upgrade_map() -> Map {
        Map {
            name: "connection_upgrade".into(),
            source: Value::parse("$http_upgrade", Names::default()).unwrap(),
            entries: vec![(String::new(), Value::literal("close"))],
            default: Value::literal("upgrade"),
        }
    }

    /// The head for `head` (a client request head, `\n` line ends) through `settings`.
    fn build(head: &str, settings: &ProxySettings, uri: Option<&str>) -> (String, HeadInfo) {
        let request = request(head);
        let pass = pass(uri, "/app/");
        let maps = [upgrade_map()];
        with_vars(&request, &pass, &maps, |vars| {
            let upgrade = client_asks_upgrade(vars.request);
            let outgoing = match body_plan(&request, settings) {
                BodyPlan::Stream(o) => o,
                BodyPlan::Spool => Outgoing::Length(99),
                BodyPlan::None | BodyPlan::Discard => Outgoing::None,
            };
            let mut out = Vec::new();
            let info = write_head(&mut out, vars, settings, outgoing, upgrade);
            (String::from_utf8(out).unwrap(), info)
        })
    }

    #[test]
    fn a_plain_request_gets_nginx_defaults_and_the_forwarding_fields() {
        let (head, info) = build(
            "GET /app/x?q=1 HTTP/1.1\nHost: front\nUser-Agent: t\nAccept: */*\n",
            &ProxySettings::default(),
            None,
        );
        assert_eq!(
            head,
            "GET /app/x?q=1 HTTP/1.0\r\nHost: b\r\nConnection: close\r\nX-Real-IP: 192.0.2.7\r\n\
             X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\nUser-Agent: t\r\n\
             Accept: */*\r\n\r\n"
        );
        assert_eq!(
            info,
            HeadInfo {
                reuse: Reuse::Close,
                upgrade: false
            }
        );
    }

    #[test]
    fn the_clients_forwarding_fields_are_replaced_or_extended_never_trusted() {
        let (head, _) = build(
            "GET / HTTP/1.1\nHost: front\nX-Real-IP: 6.6.6.6\nX-Forwarded-Proto: http\n\
             X-Forwarded-For: 10.1.1.1\n",
            &ProxySettings::default(),
            None,
        );
        assert!(head.contains("\r\nX-Real-IP: 192.0.2.7\r\n"), "{head}");
        assert!(head.contains("\r\nX-Forwarded-Proto: https\r\n"), "{head}");
        assert!(
            head.contains("\r\nX-Forwarded-For: 10.1.1.1, 192.0.2.7\r\n"),
            "{head}"
        );
        assert!(
            !head.contains("6.6.6.6") && !head.contains("Proto: http\r"),
            "{head}"
        );
    }

    #[test]
    fn hop_by_hop_fields_and_those_connection_names_are_not_passed() {
        let (head, _) = build(
            "POST /app/ HTTP/1.1\nHost: front\nConnection: keep-alive, X-Secret\nKeep-Alive: 5\n\
             X-Secret: s\nTE: trailers\nTrailer: X\nProxy-Connection: close\nUpgrade: h2c\n\
             Expect: 100-continue\nContent-Length: 3\nX-Kept: k\n",
            &settings(&[("Connection", "")]),
            None,
        );
        for gone in [
            "X-Secret",
            "Keep-Alive",
            "TE:",
            "Trailer",
            "Proxy-Connection",
            "Upgrade",
            "Expect",
            "Connection",
        ] {
            assert!(!head.contains(gone), "{gone} in {head}");
        }
        assert!(head.contains("\r\nX-Kept: k\r\n"), "{head}");
        assert!(
            head.ends_with("X-Kept: k\r\nContent-Length: 3\r\n\r\n"),
            "{head}"
        );
        assert_eq!(head.matches("Content-Length").count(), 1);
    }

    #[test]
    fn configured_fields_come_first_replace_the_clients_and_empty_ones_are_dropped() {
        let s = settings(&[
            ("Host", "$host"),
            ("X-Custom", "$http_x_in-$request_method"),
            ("X-Real-IP", ""),
            ("X-In", "replaced"),
        ]);
        let (head, _) = build("GET / HTTP/1.1\nHost: front\nX-In: original\n", &s, None);
        assert!(
            head.starts_with("GET / HTTP/1.0\r\nHost: front.example\r\nX-Custom: original-GET\r\nX-In: replaced\r\nConnection: close\r\n"),
            "{head}"
        );
        assert!(
            !head.contains("X-Real-IP") && !head.contains("original\r\n"),
            "{head}"
        );
        let off = ProxySettings {
            pass_request_headers: false,
            ..settings(&[])
        };
        let (head, _) = build("GET / HTTP/1.1\nHost: front\nX-In: original\n", &off, None);
        assert!(!head.contains("X-In"), "{head}");
        assert!(head.contains("Host: b\r\n"), "{head}");
    }

    #[test]
    fn no_value_can_inject_a_field_into_the_backend_head() {
        let s = settings(&[("X-Path", "$uri"), ("X-Raw", "$request_uri")]);
        let request = request("GET /app/a%0d%0aX-Evil:%201%7f HTTP/1.1\nHost: front\n");
        assert_eq!(request.path, "/app/a\r\nX-Evil: 1\u{7f}");
        let pass = pass(Some("/"), "/app/");
        let path = request.path.clone();
        let common = move |v: &crate::config::Variable, out: &mut String| match v {
            crate::config::Variable::Uri => out.push_str(&path),
            _ => out.push_str("/raw%0d%0a"),
        };
        let vars = Vars {
            request: &request,
            client: "192.0.2.7:1".parse().unwrap(),
            pass: &pass,
            maps: &[],
            common: &common,
        };
        let mut out = Vec::new();
        write_head(&mut out, &vars, &s, Outgoing::None, false);
        let head = String::from_utf8(out).unwrap();
        assert!(
            head.starts_with(
                "GET /a%0D%0AX-Evil:%201%7F HTTP/1.0\r\nX-Path: /app/a%0D%0AX-Evil: 1%7F\r\n\
                 X-Raw: /raw%0d%0a\r\n"
            ),
            "{head}"
        );
        for line in head.split("\r\n") {
            assert!(!line.starts_with("X-Evil"), "{head}");
            assert!(!line.contains(['\r', '\n', '\u{7f}']), "{line:?}");
        }
    }

    #[test]
    fn the_request_line_takes_the_uri_rule_and_the_configured_version() {
        let s11 = ProxySettings {
            http_version: ProxyHttpVersion::Http11,
            ..settings(&[("Connection", "")])
        };
        let (head, info) = build("DELETE /app/a%20b?x HTTP/1.0\nX: y\n", &s11, Some("/v2/"));
        assert!(
            head.starts_with("DELETE /v2/a%20b?x HTTP/1.1\r\nHost: b\r\n"),
            "{head}"
        );
        assert!(!head.contains("Connection"), "{head}");
        assert_eq!(info.reuse, Reuse::Keep);
    }

    #[test]
    fn reuse_follows_the_version_and_the_connection_field_sent() {
        let cases = [
            (ProxyHttpVersion::Http10, "close", Reuse::Close),
            (ProxyHttpVersion::Http10, "", Reuse::Close),
            (ProxyHttpVersion::Http10, "Keep-Alive", Reuse::Keep),
            (ProxyHttpVersion::Http10, "keep-alive, close", Reuse::Close),
            (ProxyHttpVersion::Http11, "", Reuse::Keep),
            (ProxyHttpVersion::Http11, "keep-alive", Reuse::Keep),
            (ProxyHttpVersion::Http11, "x, CLOSE", Reuse::Close),
        ];
        for (version, connection, reuse) in cases {
            let s = ProxySettings {
                http_version: version,
                ..settings(&[("Connection", connection)])
            };
            let (_, info) = build("GET / HTTP/1.1\nHost: h\n", &s, None);
            assert_eq!(info.reuse, reuse, "{version:?} {connection:?}");
        }
    }

    #[test]
    fn body_framing_follows_buffering_and_version() {
        use ProxyHttpVersion::{Http10, Http11};
        let head = |framing: &str| request(&format!("POST / HTTP/1.1\nHost: h\n{framing}"));
        let plain = head("");
        let empty = head("Content-Length: 0\n");
        let sized = head("Content-Length: 10\n");
        let chunked = head("Transfer-Encoding: chunked\n");
        let cases = [
            (&plain, Http10, false, true, BodyPlan::None),
            (
                &empty,
                Http10,
                false,
                true,
                BodyPlan::Stream(Outgoing::Length(0)),
            ),
            (
                &sized,
                Http10,
                false,
                true,
                BodyPlan::Stream(Outgoing::Length(10)),
            ),
            (&sized, Http11, true, true, BodyPlan::Spool),
            (
                &chunked,
                Http11,
                false,
                true,
                BodyPlan::Stream(Outgoing::Chunked),
            ),
            (&chunked, Http10, false, true, BodyPlan::Spool),
            (&chunked, Http11, true, true, BodyPlan::Spool),
            (&sized, Http11, false, false, BodyPlan::Discard),
            (&chunked, Http11, false, false, BodyPlan::Discard),
            (&empty, Http11, false, false, BodyPlan::None),
            (&plain, Http11, false, false, BodyPlan::None),
        ];
        for (request, version, buffering, pass_body, plan) in cases {
            let s = ProxySettings {
                http_version: version,
                request_buffering: buffering,
                pass_request_body: pass_body,
                ..ProxySettings::default()
            };
            assert_eq!(
                body_plan(request, &s),
                plan,
                "{:?} {version:?} buffering {buffering} body {pass_body}",
                request.framing
            );
        }
        let s = ProxySettings {
            http_version: Http11,
            ..settings(&[])
        };
        let (head, _) = build(
            "PUT / HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n",
            &s,
            None,
        );
        assert!(
            head.ends_with("\r\nTransfer-Encoding: chunked\r\n\r\n"),
            "{head}"
        );
        assert_eq!(head.matches("Transfer-Encoding").count(), 1, "{head}");
    }

    fn snippet() -> ProxySettings {
        ProxySettings {
            http_version: ProxyHttpVersion::Http11,
            ..settings(&[
                ("Upgrade", "$http_upgrade"),
                ("Connection", "$connection_upgrade"),
            ])
        }
    }

    #[test]
    fn a_websocket_request_is_passed_as_an_upgrade_only_with_nginxs_snippet() {
        let ws = "GET /chat HTTP/1.1\nHost: h\nConnection: keep-alive, Upgrade\nUpgrade: websocket\n\
                  Sec-WebSocket-Key: k\nSec-WebSocket-Version: 13\n";
        let literal = ProxySettings {
            http_version: ProxyHttpVersion::Http11,
            ..settings(&[("Upgrade", "$http_upgrade"), ("Connection", "upgrade")])
        };
        for s in [snippet(), literal] {
            let (head, info) = build(ws, &s, None);
            assert!(head.starts_with("GET /chat HTTP/1.1\r\n"), "{head}");
            assert!(head.contains("\r\nUpgrade: websocket\r\n"), "{head}");
            assert!(head.contains("\r\nConnection: upgrade\r\n"), "{head}");
            assert!(head.contains("\r\nSec-WebSocket-Key: k\r\n"), "{head}");
            assert_eq!(head.matches("Upgrade:").count(), 1, "{head}");
            assert_eq!(
                info,
                HeadInfo {
                    reuse: Reuse::Close,
                    upgrade: true
                }
            );
        }
        // Without the snippet, Upgrade and Connection are hop-by-hop like any other.
        let (head, info) = build(ws, &ProxySettings::default(), None);
        assert!(head.starts_with("GET /chat HTTP/1.0\r\n"), "{head}");
        assert!(!head.contains("Upgrade"), "{head}");
        assert!(head.contains("\r\nConnection: close\r\n"), "{head}");
        assert!(!info.upgrade);
        // The snippet on a plain request: Connection from the map, no Upgrade.
        let (head, info) = build("GET / HTTP/1.1\nHost: h\n", &snippet(), None);
        assert!(
            head.contains("\r\nConnection: close\r\n") && !head.contains("Upgrade"),
            "{head}"
        );
        assert!(!info.upgrade);
    }

    #[test]
    fn an_upgrade_is_not_a_switch_when_disabled_or_not_really_asked() {
        let ws = "GET / HTTP/1.1\nHost: h\nConnection: Upgrade\nUpgrade: websocket\n";
        let disabled = ProxySettings {
            http_version: ProxyHttpVersion::Http11,
            ..settings(&[("Upgrade", ""), ("Connection", "$connection_upgrade")])
        };
        let cases = [
            (ws.to_string(), disabled),
            (ws.replace("Connection: Upgrade\n", ""), snippet()),
            (ws.replace("Upgrade: websocket\n", ""), snippet()),
            (ws.replace("HTTP/1.1", "HTTP/1.0"), snippet()),
            (ws.replace("GET", "POST") + "Content-Length: 2\n", snippet()),
        ];
        for (request, s) in cases {
            let (_, info) = build(&request, &s, None);
            assert!(!info.upgrade, "{request}");
        }
    }

    #[test]
    fn chunk_lines_are_hex_sizes() {
        let mut out = Vec::new();
        chunk_start(1, &mut out);
        chunk_start(255, &mut out);
        chunk_start(65536, &mut out);
        out.extend_from_slice(LAST_CHUNK);
        assert_eq!(out, b"1\r\nff\r\n10000\r\n0\r\n\r\n");
    }
}
