//! The values of the variables a proxy value names, for one request: [`Vars::expand`] turns a
//! `proxy_set_header` value, a `proxy_redirect` rule or a `map` into text.
//!
//! The common variables (`$host`, `$request_uri`, `$http_NAME`, `$remote_addr`...) are
//! answered by the caller (`handler::vars`, which knows the server and the connection); the
//! proxy's own (`$proxy_host`, `$proxy_port`, `$proxy_add_x_forwarded_for`) and the maps are
//! answered here. Expanded text may hold anything a client put in a path or a field; `request`
//! and `headers` make it safe for the head it goes into.

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
    pub pass: &'a ProxyPass,
    /// `Config::maps`.
    pub maps: &'a [Map],
    /// Appends the value of a common variable (the handler's `vars::Vars::value`, as text).
    pub common: &'a dyn Fn(&Variable, &mut String),
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
        match v {
            ProxyVariable::Common(common) => (self.common)(common, out),
            ProxyVariable::ProxyHost => out.push_str(&self.pass.host),
            ProxyVariable::ProxyPort => out.push_str(&self.pass.port),
            ProxyVariable::ProxyAddXForwardedFor => {
                let mut first = true;
                for (name, value) in &self.request.headers {
                    if name.eq_ignore_ascii_case("x-forwarded-for") {
                        if !first {
                            out.push_str(", ");
                        }
                        out.push_str(value);
                        first = false;
                    }
                }
                if !first {
                    out.push_str(", ");
                }
                crate::handler::vars::push_addr(out, self.client.ip());
            }
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::proxy::value::{Names, Value};
    use std::fmt::Write as _;

    pub(crate) fn request(head: &str) -> Request {
        let mut raw = head.replace('\n', "\r\n").into_bytes();
        raw.extend_from_slice(b"\r\n");
        match crate::http::request::parse(&mut raw) {
            Ok(Some((r, _))) => r,
            other => panic!("{head}: {other:?}"),
        }
    }

    /// The handler's answer for the common variables, as far as these tests need it (the
    /// handler's own are tested in `handler::vars`).
    pub(crate) fn common(request: &Request) -> impl Fn(&Variable, &mut String) + '_ {
        move |v, out| match v {
            Variable::Host => out.push_str("front.example"),
            Variable::Scheme => out.push_str("https"),
            Variable::Uri => out.push_str(&request.path),
            Variable::RequestUri => out.push_str(&request.target),
            Variable::RemoteAddr => out.push_str("192.0.2.7"),
            Variable::RequestMethod => out.push_str(request.method.as_str()),
            Variable::Header(name) => {
                let name = name.replace('_', "-");
                let values: Vec<&str> = request
                    .headers
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case(&name))
                    .map(|(_, v)| v.as_str())
                    .collect();
                out.push_str(&values.join(", "));
            }
            other => {
                let _ = write!(out, "<{}>", other.name());
            }
        }
    }

    pub(crate) fn with_vars<T>(
        request: &Request,
        pass: &ProxyPass,
        maps: &[Map],
        f: impl FnOnce(&Vars) -> T,
    ) -> T {
        let common = common(request);
        let vars = Vars {
            request,
            client: "192.0.2.7:51000".parse().unwrap(),
            pass,
            maps,
            common: &common,
        };
        f(&vars)
    }

    fn expand(text: &str, head: &str, maps: &[Map], names: &[String]) -> String {
        let pass = crate::proxy::uri::tests::pass(None, "/");
        let value = Value::parse(text, Names::maps(names)).unwrap();
        with_vars(&request(head), &pass, maps, |v| v.expand(&value))
    }

    #[test]
    fn proxy_variables_expand_here_and_the_others_through_the_handler() {
        let head = "POST /p HTTP/1.1\nHost: h\nX-Forwarded-For: 10.0.0.1\nx-forwarded-for: 10.0.0.2\n\
                    Content-Length: 0\nUpgrade: websocket\n";
        let cases = [
            (
                "$proxy_add_x_forwarded_for",
                "10.0.0.1, 10.0.0.2, 192.0.2.7",
            ),
            ("$proxy_host:$proxy_port", "b:80"),
            (
                "$scheme://$host$uri|$http_upgrade|$http_missing|",
                "https://front.example/p|websocket||",
            ),
            (
                "$remote_addr $request_method $server_addr",
                "192.0.2.7 POST <server_addr>",
            ),
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
            source: Value::parse("$http_upgrade", Names::maps(&names)).unwrap(),
            entries: vec![(String::new(), Value::literal("close"))],
            default: Value::literal("upgrade"),
        };
        let outer = Map {
            name: names[1].clone(),
            source: Value::parse("$connection_upgrade", Names::maps(&names)).unwrap(),
            entries: vec![(
                "close".into(),
                Value::parse("no-$remote_addr", Names::maps(&names)).unwrap(),
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
            source: Value::parse("$a", Names::maps(&names)).unwrap(),
            entries: Vec::new(),
            default: Value::parse("x$a", Names::maps(&names)).unwrap(),
        };
        let out = expand("$a", "GET / HTTP/1.1\nHost: h\n", &[looping], &names);
        assert_eq!(out, "x".repeat(MAX_MAP_DEPTH));
    }
}
