//! The values of nginx's variables (`config::Var`) for one request: those known once its head
//! is read ([`request_value`]: limit keys, and the access log's request part), and those known
//! when its response ends (the access log, `observe::access_log`).

use crate::config::Var;
use crate::http::request::Request;
use crate::site::route::Site;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};

/// What a request's variables are computed from.
pub struct Facts<'a> {
    /// None for a request that could not be parsed: only the connection's variables have
    /// values then.
    pub request: Option<&'a Request>,
    pub site: &'a Site<'a>,
    /// The client's address (`$remote_addr`, `$binary_remote_addr`, `$remote_port`).
    pub client: SocketAddr,
    /// The bound address of the listener (`$server_addr`, `$server_port`).
    pub listen: SocketAddr,
    pub conn: &'a ConnFacts,
}

/// What the variables know of the connection.
#[derive(Debug, Clone, Default)]
pub struct ConnFacts {
    /// `$connection`: unique in the process.
    pub serial: u64,
    /// `$connection_requests`: requests begun on the connection, the current one included.
    pub requests: u32,
    /// `$ssl_protocol` and `$ssl_cipher` (empty on plain HTTP).
    pub tls: Option<(&'static str, &'static str)>,
}

/// Appends the value of a variable of the request phase (`Var::of_request`) to `out`; false
/// when it has none (the access log writes `-`, a limit key leaves it out).
pub fn request_value(var: &Var, facts: &Facts, out: &mut Vec<u8>) -> bool {
    let before = out.len();
    if connection_value(var, facts, out) {
        return true;
    }
    let Some(request) = facts.request else {
        return false;
    };
    match var {
        Var::Request => {
            let _ = write!(
                out,
                "{} {} {}",
                request.method.as_str(),
                request.target,
                request.version.as_str()
            );
        }
        Var::RequestMethod => out.extend_from_slice(request.method.as_str().as_bytes()),
        Var::RequestUri => out.extend_from_slice(request.target.as_bytes()),
        Var::Uri => out.extend_from_slice(request.path.as_bytes()),
        Var::Args => return push(out, request.query.as_deref()),
        Var::IsArgs => {
            if request.query.is_some() {
                out.push(b'?');
            }
        }
        Var::ServerProtocol => {
            out.extend_from_slice(request.version.as_str().as_bytes());
        }
        Var::Host => {
            let name = facts.site.server.server_names.first();
            match (&request.host, name) {
                (Some(host), _) => out.extend_from_slice(host.as_bytes()),
                (None, Some(name)) => out.extend_from_slice(name.as_bytes()),
                (None, None) => {
                    let _ = write!(out, "{}", facts.listen.ip());
                }
            }
        }
        Var::RemoteUser => {
            let user = request
                .header("Authorization")
                .and_then(crate::http::credentials::user_name);
            return push(out, user.as_deref());
        }
        Var::ContentLength => return push(out, request.header("Content-Length")),
        Var::ContentType => return push(out, request.header("Content-Type")),
        Var::Http(name) => return push(out, header(request, name)),
        Var::Cookie(name) => return push(out, cookie(request, name)),
        Var::Arg(name) => return push(out, argument(request.query.as_deref(), name)),
        _ => return false,
    }
    out.len() > before || matches!(var, Var::IsArgs)
}

/// The variables of the connection (known without a request); false for any other.
fn connection_value(var: &Var, facts: &Facts, out: &mut Vec<u8>) -> bool {
    match var {
        Var::RemoteAddr => {
            let _ = write!(out, "{}", facts.client.ip());
        }
        Var::BinaryRemoteAddr => match facts.client.ip() {
            IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
            IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
        },
        Var::RemotePort => {
            let _ = write!(out, "{}", facts.client.port());
        }
        Var::ServerAddr => {
            let _ = write!(out, "{}", facts.listen.ip());
        }
        Var::ServerPort => {
            let _ = write!(out, "{}", facts.listen.port());
        }
        Var::Scheme => out.extend_from_slice(if facts.conn.tls.is_some() {
            b"https"
        } else {
            b"http"
        }),
        Var::Https => {
            if facts.conn.tls.is_some() {
                out.extend_from_slice(b"on");
            }
        }
        Var::Connection => {
            let _ = write!(out, "{}", facts.conn.serial);
        }
        Var::ConnectionRequests => {
            let _ = write!(out, "{}", facts.conn.requests);
        }
        Var::SslProtocol => return push(out, facts.conn.tls.map(|(p, _)| p)),
        Var::SslCipher => return push(out, facts.conn.tls.map(|(_, c)| c)),
        Var::Pid => {
            let _ = write!(out, "{}", std::process::id());
        }
        Var::Hostname => {
            out.extend_from_slice(hostname().as_bytes());
        }
        Var::ServerName => {
            let name = facts.site.server.server_names.first();
            out.extend_from_slice(name.map_or("", String::as_str).as_bytes());
        }
        _ => return false,
    }
    true
}

/// The machine's name, read once.
fn hostname() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|name| name.trim().to_string())
            .unwrap_or_default()
    })
}

fn push(out: &mut Vec<u8>, value: Option<&str>) -> bool {
    match value {
        Some(value) => {
            out.extend_from_slice(value.as_bytes());
            true
        }
        None => false,
    }
}

/// The first field whose name is `name` with `_` for `-` (case-insensitive), as nginx's
/// `$http_NAME`.
pub fn header<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request
        .headers
        .iter()
        .find(|(field, _)| same_field(field, name))
        .map(|(_, value)| value.as_str())
}

/// Whether header `field` is the one a variable names as `name` (lower-case, `_` for `-`).
pub fn same_field(field: &str, name: &str) -> bool {
    field.len() == name.len()
        && field
            .bytes()
            .zip(name.bytes())
            .all(|(f, n)| f.to_ascii_lowercase() == n || (f == b'-' && n == b'_'))
}

/// The value of cookie `name` in the `Cookie` fields.
fn cookie<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request
        .headers
        .iter()
        .filter(|(field, _)| field.eq_ignore_ascii_case("cookie"))
        .flat_map(|(_, value)| value.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim_start().split_once('=')?;
            (key == name).then_some(value)
        })
}

/// The value of argument `name` in a query (as sent, not decoded, as nginx's `$arg_NAME`).
fn argument<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        key.eq_ignore_ascii_case(name).then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(text: &str) -> Request {
        let mut bytes = text.as_bytes().to_vec();
        crate::http::request::parse(&mut bytes).unwrap().unwrap().0
    }

    fn value(var: Var, request: &Request) -> Option<Vec<u8>> {
        let config = crate::config::parse(
            "server { listen 80; server_name example.test; }",
            std::path::Path::new("/x/w.conf"),
        )
        .unwrap();
        let site = crate::site::route::select_location(&config.servers[0], "/");
        let conn = ConnFacts {
            serial: 7,
            requests: 2,
            tls: None,
        };
        let facts = Facts {
            request: Some(request),
            site: &site,
            client: "[::ffff:10.0.0.9]:5555".parse().unwrap(),
            listen: "127.0.0.1:8080".parse().unwrap(),
            conn: &conn,
        };
        let mut out = Vec::new();
        request_value(&var, &facts, &mut out).then_some(out)
    }

    #[test]
    fn request_variables_take_nginx_values() {
        let r = request(
            "POST /a%20b/?x=1&Q=two HTTP/1.1\r\nHost: Site.test:81\r\nUser-Agent: ua/1\r\n\
             X-Forwarded-For: 1.2.3.4\r\nCookie: a=1; sid=abc\r\nContent-Length: 0\r\n\
             Authorization: Basic dTpw\r\n\r\n",
        );
        let text = |v: Var| value(v, &r).map(|b| String::from_utf8_lossy(&b).into_owned());
        assert_eq!(
            text(Var::Request).as_deref(),
            Some("POST /a%20b/?x=1&Q=two HTTP/1.1")
        );
        assert_eq!(text(Var::Uri).as_deref(), Some("/a b/"));
        assert_eq!(text(Var::Args).as_deref(), Some("x=1&Q=two"));
        assert_eq!(text(Var::IsArgs).as_deref(), Some("?"));
        assert_eq!(text(Var::Host).as_deref(), Some("site.test"));
        assert_eq!(text(Var::ServerName).as_deref(), Some("example.test"));
        assert_eq!(
            text(Var::Http("user_agent".into())).as_deref(),
            Some("ua/1")
        );
        assert_eq!(
            text(Var::Http("x_forwarded_for".into())).as_deref(),
            Some("1.2.3.4")
        );
        assert_eq!(text(Var::Http("referer".into())), None);
        assert_eq!(text(Var::Cookie("sid".into())).as_deref(), Some("abc"));
        assert_eq!(text(Var::Arg("q".into())).as_deref(), Some("two"));
        assert_eq!(text(Var::RemoteUser).as_deref(), Some("u"));
        assert_eq!(text(Var::RemoteAddr).as_deref(), Some("::ffff:10.0.0.9"));
        assert_eq!(text(Var::RemotePort).as_deref(), Some("5555"));
        assert_eq!(text(Var::ServerPort).as_deref(), Some("8080"));
        assert_eq!(text(Var::Connection).as_deref(), Some("7"));
        assert_eq!(text(Var::ConnectionRequests).as_deref(), Some("2"));
        assert_eq!(text(Var::Scheme).as_deref(), Some("http"));
        assert_eq!(text(Var::SslProtocol), None);
        assert_eq!(text(Var::ServerProtocol).as_deref(), Some("HTTP/1.1"));
        assert_eq!(value(Var::BinaryRemoteAddr, &r).map(|b| b.len()), Some(16));
        assert_eq!(text(Var::Status), None, "not a request variable");
    }
}
