//! The values of the variables a proxy value names, for one request: [`Vars::expand`] turns a
//! `proxy_set_header` value, a `proxy_redirect` rule or a `map` into text.
//!
//! The common variables (`$host`, `$request_uri`, `$scheme`...) are answered by the caller (the
//! handler knows the server and the connection); the proxy's own ones are answered here from
//! the request, the two addresses of the connection and the `proxy_pass` in force. Expanded
//! text may hold anything a client put in a path or a field; `request` and `headers` make it
//! safe for the head it goes into.

use std::fmt::Write as _;
use std::net::SocketAddr;

use crate::config::Variable;
use crate::config::proxy::model::ProxyPass;
use crate::config::proxy::value::{Map, ProxyVariable, Value, ValuePart};
use crate::http::request::Request;

/// How deep a `map` may refer to other maps while one value is expanded (the configuration
/// refuses cycles; this only bounds the work).
const MAX_MAP_DEPTH: usize = 16;

/// What the variables of one proxied request are made of.
pub struct Vars<'a> {
    pub request: &'a Request,
    /// The client's address.
    pub client: SocketAddr,
    /// The address the connection arrived on.
    pub local: SocketAddr,
    pub pass: &'a ProxyPass,
    /// `Config::maps`.
    pub maps: &'a [Map],
    /// Appends the value of a common variable (the handler's expansion).
    pub common: &'a dyn Fn(Variable, &mut String),
}

impl Vars<'_> {
    /// `value` with every variable replaced.
    pub fn expand(&self, value: &Value) -> String {
        let mut out = String::new();
        self.expand_into(value, &mut out, 0);
        out
    }

    /// Appends `value` expanded to `out`.
    pub fn expand_into(&self, value: &Value, out: &mut String, depth: usize) {
        for part in &value.parts {
            match part {
                ValuePart::Text(text) => out.push_str(text),
                ValuePart::Var(v) => self.variable(v, out, depth),
            }
        }
    }

    fn variable(&self, v: &ProxyVariable, out: &mut String, depth: usize) {
        let request = self.request;
        match v {
            ProxyVariable::Common(common) => (self.common)(*common, out),
            ProxyVariable::Http(name) => join_fields(request, name, out),
            ProxyVariable::ProxyHost => out.push_str(&self.pass.host),
            ProxyVariable::ProxyPort => out.push_str(&self.pass.port),
            ProxyVariable::ProxyAddXForwardedFor => {
                let before = out.len();
                join_fields(request, "x-forwarded-for", out);
                if out.len() > before {
                    out.push_str(", ");
                }
                let _ = write!(out, "{}", self.client.ip());
            }
            ProxyVariable::RemoteAddr => {
                let _ = write!(out, "{}", self.client.ip());
            }
            ProxyVariable::RemotePort => {
                let _ = write!(out, "{}", self.client.port());
            }
            ProxyVariable::ServerAddr => {
                let _ = write!(out, "{}", self.local.ip());
            }
            ProxyVariable::RequestMethod => out.push_str(request.method.as_str()),
            ProxyVariable::ContentLength => join_fields(request, "content-length", out),
            ProxyVariable::ContentType => join_fields(request, "content-type", out),
            ProxyVariable::Map(i) => {
                let Some(map) = self.maps.get(*i) else { return };
                if depth >= MAX_MAP_DEPTH {
                    return;
                }
                let mut key = String::new();
                self.expand_into(&map.source, &mut key, depth + 1);
                self.expand_into(map.lookup(&key), out, depth + 1);
            }
        }
    }
}

/// Every request field called `name` (lower-case), joined with `, ` (`; ` for Cookie, as
/// nginx joins them).
fn join_fields(request: &Request, name: &str, out: &mut String) {
    let separator = if name == "cookie" { "; " } else { ", " };
    let mut first = true;
    for (n, v) in &request.headers {
        if n.eq_ignore_ascii_case(name) {
            if !first {
                out.push_str(separator);
            }
            out.push_str(v);
            first = false;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::proxy::value::Value;

    pub(crate) fn request(head: &str) -> Request {
        let mut raw = head.replace('\n', "\r\n").into_bytes();
        raw.extend_from_slice(b"\r\n");
        match crate::http::request::parse(&mut raw) {
            Ok(Some((r, _))) => r,
            other => panic!("{head}: {other:?}"),
        }
    }

    /// The handler's answer for the common variables, as far as these tests need it.
    pub(crate) fn common(v: Variable, out: &mut String) {
        match v {
            Variable::Host => out.push_str("front.example"),
            Variable::Scheme => out.push_str("https"),
            Variable::Uri => out.push_str("/u"),
            other => {
                let _ = write!(out, "<{other:?}>");
            }
        }
    }

    pub(crate) fn with_vars<T>(
        request: &Request,
        pass: &ProxyPass,
        maps: &[Map],
        f: impl FnOnce(&Vars) -> T,
    ) -> T {
        let vars = Vars {
            request,
            client: "192.0.2.7:51000".parse().unwrap(),
            local: "[2001:db8::1]:443".parse().unwrap(),
            pass,
            maps,
            common: &common,
        };
        f(&vars)
    }

    fn expand(text: &str, head: &str, maps: &[Map], names: &[String]) -> String {
        let pass = crate::proxy::uri::tests::pass(None, "/");
        let value = Value::parse(text, names).unwrap();
        with_vars(&request(head), &pass, maps, |v| v.expand(&value))
    }

    #[test]
    fn proxy_variables_expand_from_the_request_and_the_connection() {
        let head = "POST /p HTTP/1.1\nHost: h\nX-Forwarded-For: 10.0.0.1\nx-forwarded-for: 10.0.0.2\n\
                    Cookie: a=1\nCookie: b=2\nContent-Length: 0\nContent-Type: text/plain\nUpgrade: websocket\n";
        let cases = [
            (
                "$proxy_add_x_forwarded_for",
                "10.0.0.1, 10.0.0.2, 192.0.2.7",
            ),
            ("$http_x_forwarded_for", "10.0.0.1, 10.0.0.2"),
            ("$http_cookie", "a=1; b=2"),
            ("$http_upgrade|$http_missing|", "websocket||"),
            ("$remote_addr:$remote_port", "192.0.2.7:51000"),
            ("$server_addr", "2001:db8::1"),
            (
                "$request_method $content_length $content_type",
                "POST 0 text/plain",
            ),
            ("$proxy_host:$proxy_port", "b:80"),
            ("$scheme://$host$uri", "https://front.example/u"),
        ];
        for (text, expected) in cases {
            assert_eq!(expand(text, head, &[], &[]), expected, "{text}");
        }
        assert_eq!(
            expand(
                "$proxy_add_x_forwarded_for",
                "GET / HTTP/1.1\nHost: h\n",
                &[],
                &[]
            ),
            "192.0.2.7"
        );
    }

    #[test]
    fn maps_look_up_their_source_and_may_chain() {
        let names = vec!["connection_upgrade".to_string(), "outer".to_string()];
        let upgrade = Map {
            name: names[0].clone(),
            source: Value::parse("$http_upgrade", &names).unwrap(),
            entries: vec![(String::new(), Value::literal("close"))],
            default: Value::literal("upgrade"),
        };
        let outer = Map {
            name: names[1].clone(),
            source: Value::parse("$connection_upgrade", &names).unwrap(),
            entries: vec![(
                "close".into(),
                Value::parse("no-$remote_addr", &names).unwrap(),
            )],
            default: Value::literal("yes"),
        };
        let maps = [upgrade, outer];
        let ws = "GET / HTTP/1.1\nHost: h\nUpgrade: WebSocket\n";
        let plain = "GET / HTTP/1.1\nHost: h\n";
        assert_eq!(expand("$connection_upgrade", ws, &maps, &names), "upgrade");
        assert_eq!(expand("$connection_upgrade", plain, &maps, &names), "close");
        assert_eq!(expand("[$outer]", ws, &maps, &names), "[yes]");
        assert_eq!(expand("[$outer]", plain, &maps, &names), "[no-192.0.2.7]");
    }

    #[test]
    fn a_map_cycle_that_slipped_through_ends_at_the_depth_bound() {
        let names = vec!["a".to_string()];
        let looping = Map {
            name: "a".into(),
            source: Value::parse("$a", &names).unwrap(),
            entries: Vec::new(),
            default: Value::parse("x$a", &names).unwrap(),
        };
        let out = expand("$a", "GET / HTTP/1.1\nHost: h\n", &[looping], &names);
        assert_eq!(out, "x".repeat(MAX_MAP_DEPTH));
    }
}
