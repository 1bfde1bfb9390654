//! The values of the configuration's variables (`$uri`, `$document_root`, `$1`, `$http_host`,
//! ...) for one request: what `return`, `try_files` and `fastcgi_param` templates expand to.

use super::{ConnInfo, scheme};
use crate::config::Variable;
use crate::http::request::{Framing, Request};
use crate::http::{credentials, path};
use crate::site::route::{Captures, Site, capture};
use std::fmt::Write as _;

/// Everything a variable's value may come from.
pub struct Vars<'r, 'a> {
    pub request: &'r Request,
    pub site: &'r Site<'a>,
    pub conn: &'r ConnInfo<'r>,
    pub captures: &'r Captures<'a>,
    /// `$fastcgi_script_name` and `$fastcgi_path_info`, once `fastcgi_split_path_info` has
    /// split the path; None: the whole path and nothing.
    pub split: Option<(&'r str, &'r str)>,
}

/// Where an expanded value goes: a URL (a `Location` field: the decoded path is
/// percent-encoded again) or plain text.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Into {
    Url,
    Text,
}

impl Vars<'_, '_> {
    /// Appends the value of `v` for this request to `out`.
    pub fn value(&self, v: &Variable, into: Into, out: &mut String) {
        let request = self.request;
        let conn = self.conn;
        let server_name = self.site.server.server_names.first();
        match v {
            Variable::Host => match (&request.host, server_name) {
                (Some(host), _) => out.push_str(host),
                (None, Some(name)) => out.push_str(name),
                (None, None) => push_ip(out, self.server_ip()),
            },
            Variable::RequestUri => out.push_str(origin_form(&request.target)),
            Variable::Uri if into == Into::Url => out.push_str(&path::encode(&request.path)),
            Variable::Uri => out.push_str(&request.path),
            Variable::Args => out.push_str(request.query.as_deref().unwrap_or("")),
            Variable::IsArgs => {
                if request.query.is_some() {
                    out.push('?');
                }
            }
            Variable::Scheme => out.push_str(scheme(conn.tls)),
            Variable::ServerName => out.push_str(server_name.map_or("", String::as_str)),
            Variable::ServerPort => push_decimal(out, conn.listen.port().into()),
            Variable::ServerAddr => push_addr(out, self.server_ip()),
            Variable::RemoteAddr => push_addr(out, conn.peer.ip()),
            Variable::RemotePort => push_decimal(out, conn.peer.port().into()),
            Variable::RemoteUser => {
                if let Some(user) = request
                    .header("Authorization")
                    .and_then(credentials::user_name)
                {
                    out.push_str(&user);
                }
            }
            Variable::RequestMethod => out.push_str(request.method.as_str()),
            Variable::ServerProtocol => out.push_str(request.version.as_str()),
            Variable::ContentType => out.push_str(request.header("Content-Type").unwrap_or("")),
            Variable::ContentLength => {
                if let Framing::Length(n) = request.framing {
                    push_decimal(out, n);
                }
            }
            Variable::Https => {
                if conn.tls {
                    out.push_str("on");
                }
            }
            Variable::DocumentRoot => out.push_str(&self.site.document_root().to_string_lossy()),
            Variable::RealpathRoot => {
                let root = self.site.document_root();
                let real = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
                out.push_str(&real.to_string_lossy());
            }
            Variable::RequestFilename => {
                out.push_str(&self.site.file_path(&request.path).to_string_lossy());
            }
            Variable::FastcgiScriptName => {
                out.push_str(self.split.map_or(request.path.as_str(), |(s, _)| s));
            }
            Variable::FastcgiPathInfo => out.push_str(self.split.map_or("", |(_, p)| p)),
            Variable::NginxVersion => out.push_str(env!("CARGO_PKG_VERSION")),
            // The location's expression, else the server name's (nginx: the last match).
            Variable::Capture(n) if self.captures.is_empty() => out.push_str(
                self.site
                    .host
                    .and_then(|m| m.group(usize::from(*n)))
                    .unwrap_or(""),
            ),
            Variable::Capture(_) => capture(v, self.captures, out),
            // What `set` gave it, else a group of the location's or rewrite's expression,
            // else of the server name's.
            Variable::NamedCapture(name) => out.push_str(
                request
                    .variables
                    .iter()
                    .flat_map(|v| v.iter())
                    .find(|(n, _)| n == name)
                    .map(|(_, value)| value.as_str())
                    .or_else(|| self.captures.named(name))
                    .or_else(|| self.site.host?.named(self.site.server, name))
                    .unwrap_or(""),
            ),
            Variable::Header(name) => header(request, name, out),
            Variable::Arg(name) => {
                if let Some(value) = arg(request.query.as_deref().unwrap_or(""), name) {
                    out.push_str(value);
                }
            }
            Variable::Cookie(name) => {
                if let Some(value) = cookie(request, name) {
                    out.push_str(value);
                }
            }
            Variable::SslClientSDn => out.push_str(conn.client_cert.map_or("", |c| &c.subject)),
            Variable::SslClientIDn => out.push_str(conn.client_cert.map_or("", |c| &c.issuer)),
            Variable::SslClientSerial => out.push_str(conn.client_cert.map_or("", |c| &c.serial)),
            Variable::SslClientVerify => {
                out.push_str(conn.client_cert.map_or("NONE", |c| &c.verify));
            }
        }
    }

    /// `template` expanded for this request.
    pub fn expand(&self, template: &crate::config::Template, into: Into) -> String {
        template.expand(|v, out| self.value(v, into, out))
    }

    /// `template` expanded for this request, appended to `out`.
    pub fn expand_into(&self, template: &crate::config::Template, into: Into, out: &mut String) {
        template.expand_into(out, |v, out| self.value(v, into, out));
    }

    /// The address the connection arrived on (asked of the kernel on a wildcard listener).
    fn server_ip(&self) -> std::net::IpAddr {
        let listen = self.conn.listen.ip();
        if listen.is_unspecified() {
            (self.conn.local)().map_or(listen, |a| a.ip())
        } else {
            listen
        }
    }
}

/// Appends `n` in decimal (without `core::fmt`).
fn push_decimal(out: &mut String, n: u64) {
    let mut digits = [0u8; 20];
    let digits = crate::http::response::decimal(n, &mut digits);
    out.push_str(std::str::from_utf8(digits).unwrap_or_default());
}

/// Appends `ip` as `$remote_addr` writes it (IPv6 without brackets); IPv4, by far the most
/// common and asked for on every proxied request (X-Real-IP, X-Forwarded-For), without
/// `core::fmt`.
pub fn push_addr(out: &mut String, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(ip) => {
            for (i, octet) in ip.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                if octet >= 100 {
                    out.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    out.push(char::from(b'0' + octet / 10 % 10));
                }
                out.push(char::from(b'0' + octet % 10));
            }
        }
        std::net::IpAddr::V6(ip) => {
            let _ = write!(out, "{ip}");
        }
    }
}

fn push_ip(out: &mut String, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(ip) => {
            let _ = write!(out, "{ip}");
        }
        std::net::IpAddr::V6(ip) => {
            let _ = write!(out, "[{ip}]");
        }
    }
}

/// `$http_NAME`: the field NAME (`_` standing for `-`, any case); repeated fields are joined
/// with `, ` (`; ` for Cookie), as nginx does.
fn header(request: &Request, name: &str, out: &mut String) {
    let same = |field: &str| {
        field.len() == name.len()
            && field.bytes().zip(name.bytes()).all(|(f, n)| {
                let n = if n == b'_' { b'-' } else { n };
                f.eq_ignore_ascii_case(&n)
            })
    };
    let separator = if name.eq_ignore_ascii_case("cookie") {
        "; "
    } else {
        ", "
    };
    let mut first = true;
    for (field, value) in &request.headers {
        if same(field) {
            if !first {
                out.push_str(separator);
            }
            out.push_str(value);
            first = false;
        }
    }
}

/// The value of argument `name` in `query` (the first one; names compared ignoring case, as
/// nginx does), as sent.
fn arg<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        key.eq_ignore_ascii_case(name).then_some(value)
    })
}

/// The value of cookie `name` in the request's Cookie fields.
fn cookie<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request
        .headers
        .iter()
        .filter(|(field, _)| field.eq_ignore_ascii_case("cookie"))
        .flat_map(|(_, value)| value.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then_some(value)
        })
}

/// The path and query of a request-target: an absolute-form target
/// (`http://host/a?b`) loses its scheme and authority, as nginx's `$request_uri`.
pub fn origin_form(target: &str) -> &str {
    if target.starts_with('/') {
        return target;
    }
    let Some((_, rest)) = target.split_once("://") else {
        return target;
    };
    rest.find(['/', '?']).map_or("/", |i| &rest[i..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn request(text: &str) -> Request {
        let mut bytes = text.as_bytes().to_vec();
        crate::http::request::parse(&mut bytes).unwrap().unwrap().0
    }

    fn expand(config: &str, text: &str, template: &str, tls: bool) -> String {
        let config = crate::config::parse(
            &format!("server {{ listen 80; server_name s.test; root /srv; {config} }}"),
            Path::new("/etc/w/t.conf"),
        )
        .unwrap();
        let server = &config.servers[0];
        let request = request(text);
        let routed = crate::site::route::find_location(server, &request.path);
        let conn = ConnInfo {
            listen: "0.0.0.0:8080".parse().unwrap(),
            peer: "10.1.2.3:5555".parse().unwrap(),
            tls,
            local: &|| "192.0.2.1:8080".parse().ok(),
            client_cert: None,
            metrics: crate::observe::metrics::Registry::detached(),
        };
        let vars = Vars {
            request: &request,
            site: &routed.site,
            conn: &conn,
            captures: &routed.captures,
            split: None,
        };
        let names: Vec<String> = ["user".to_string()].into();
        let template = crate::config::Template::parse(template, &names).unwrap();
        vars.expand(&template, Into::Text)
    }

    #[test]
    fn request_variables_have_nginx_values() {
        let text = "POST /a%20b/c.php?x=1&Page=2 HTTP/1.0\r\nHost: H.test\r\n\
                    Content-Type: text/plain\r\nContent-Length: 4\r\nX-Real: a\r\nx-real: b\r\n\
                    Cookie: sid=42; t=z\r\nCookie: u=1\r\n\r\n";
        let got = expand(
            "",
            text,
            "$request_method|$server_protocol|$content_type|$content_length|$remote_addr|\
             $remote_port|$server_addr|$server_port|$https|$scheme|$document_root|\
             $request_filename|$fastcgi_script_name|$fastcgi_path_info|$http_x_real|$arg_page|\
             $cookie_sid|$cookie_u|$http_cookie|$request_uri|$uri|$args",
            true,
        );
        assert_eq!(
            got,
            "POST|HTTP/1.0|text/plain|4|10.1.2.3|5555|192.0.2.1|8080|on|https|/srv|\
             /srv/a b/c.php|/a b/c.php||a, b|2|42|1|sid=42; t=z; u=1|/a%20b/c.php?x=1&Page=2|\
             /a b/c.php|x=1&Page=2"
        );
        let plain = expand(
            "",
            "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
            "[$https$content_length]",
            false,
        );
        assert_eq!(plain, "[]");
    }

    #[test]
    fn captures_and_the_document_root_follow_the_location() {
        let config = "location ~ ^/~(?<user>\\w+)/(.*)$ { root /home; }
                      location /al { alias /data/al; }";
        let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(
            expand(
                config,
                &get("/~ann/x/y"),
                "$user:$1:$2:$3:$document_root",
                false
            ),
            "ann:ann:x/y::/home"
        );
        assert_eq!(
            expand(
                config,
                &get("/al/f"),
                "$1|$document_root|$request_filename",
                false
            ),
            "|/data/al|/data/al/f"
        );
    }

    #[test]
    fn remote_user_is_the_user_of_a_basic_credential() {
        // The same decoding as auth_basic's (http::credentials), so that the user logged is
        // the user checked.
        let user = credentials::user_name;
        assert_eq!(
            user("Basic YWxhZGRpbjpvcGVuc2VzYW1l").as_deref(),
            Some("aladdin")
        );
        assert_eq!(user("basic  YTpi ").as_deref(), Some("a"));
        assert_eq!(user("Basic Og==").as_deref(), Some(""));
        assert_eq!(user("Bearer YWxhZGRpbjpvcGVuc2VzYW1l"), None);
        assert_eq!(user("Basic !!!!"), None);
        assert_eq!(user("Basic YWxhZGRpbg=="), None, "no colon");
        let text = "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Basic dXNlcjpwdw==\r\n\r\n";
        assert_eq!(expand("", text, "[$remote_user]", false), "[user]");
    }

    #[test]
    fn origin_form_drops_scheme_and_authority() {
        assert_eq!(origin_form("/a?b"), "/a?b");
        assert_eq!(origin_form("http://h:1/p?q"), "/p?q");
        assert_eq!(origin_form("http://h?q"), "?q");
        assert_eq!(origin_form("http://h"), "/");
    }
}
