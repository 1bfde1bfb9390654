//! The CGI/1.1 environment of a request (RFC 3875 §4.1). Pure: built from the request, the
//! script and the connection's addresses.

use super::Script;
use crate::cgi_vars::{Skip, Var};
use crate::http::request::Request;
use crate::http::response::decimal;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

/// What the environment needs to know beyond the request and the script.
pub struct Endpoint<'a> {
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// The first `server_name` of the server, if any.
    pub server_name: Option<&'a str>,
    pub document_root: &'a Path,
    /// Body length given to the script (after de-chunking), None without a body.
    pub content_length: Option<u64>,
    /// The request came over TLS.
    pub https: bool,
    /// The client certificate, on a server with `ssl_verify_client`.
    pub client_cert: Option<&'a crate::transport::client_cert::ClientCert>,
}

/// The environment variables for running `script` for `request`.
pub fn build(request: &Request, script: &Script, endpoint: &Endpoint) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::with_capacity(32 + request.headers.len());
    each(request, script, endpoint, Skip::NONE, &mut |name, value| {
        env.push((name.to_string(), value.to_string()));
    });
    env
}

/// Each variable of the environment for running `script` for `request`, in order, handed to
/// `set` (borrowed: a FastCGI request writes them into its records without a copy of its
/// own), but those `skip` leaves out (the `HTTP_*` ones among them are the caller's to leave
/// out: see [`Skip::fields`]). Repeated request fields come once, their values joined.
pub fn each(
    request: &Request,
    script: &Script,
    endpoint: &Endpoint,
    skip: Skip,
    set: &mut dyn FnMut(&str, &str),
) {
    // Numbers and addresses are written here, one at a time (without `core::fmt`: a FastCGI
    // request builds this for every request).
    let mut text = String::with_capacity(64);
    let mut number = |set: &mut dyn FnMut(&str, &str), name: &str, value: Number| {
        text.clear();
        value.write(&mut text);
        set(name, &text);
    };
    // `$var`, unless it is left out: `$value` (text, or a `Number` to write) is made only when
    // it is not.
    macro_rules! put {
        ($var:expr, number $value:expr) => {
            if !skip.has($var) {
                number(set, $var.name(), $value);
            }
        };
        ($var:expr, $value:expr) => {
            if !skip.has($var) {
                set($var.name(), $value);
            }
        };
    }
    put!(Var::GatewayInterface, "CGI/1.1");
    put!(
        Var::ServerSoftware,
        concat!("webserv/", env!("CARGO_PKG_VERSION"))
    );
    put!(Var::ServerProtocol, request.version.as_str());
    put!(Var::RequestMethod, request.method.as_str());
    put!(Var::RequestUri, &request.target);
    put!(Var::ScriptName, &script.script_name);
    put!(Var::ScriptFilename, &text_of(&script.file));
    put!(Var::PathInfo, &script.path_info);
    if !script.path_info.is_empty() && !skip.has(Var::PathTranslated) {
        let translated = endpoint
            .document_root
            .join(script.path_info.trim_start_matches('/'));
        set(Var::PathTranslated.name(), &text_of(&translated));
    }
    put!(Var::QueryString, request.query.as_deref().unwrap_or(""));
    put!(Var::DocumentRoot, &text_of(endpoint.document_root));
    put!(Var::RemoteAddr, number Number::Ip(endpoint.peer.ip()));
    put!(Var::RemotePort, number Number::Int(endpoint.peer.port().into()));
    put!(Var::ServerAddr, number Number::Ip(endpoint.local.ip()));
    put!(Var::ServerPort, number Number::Int(endpoint.local.port().into()));
    // Not in RFC 3875, but what PHP applications (and nginx's fastcgi_params) go by.
    put!(
        Var::RequestScheme,
        if endpoint.https { "https" } else { "http" }
    );
    if endpoint.https {
        put!(Var::Https, "on");
    }
    // mod_ssl's names (nginx users pass the same values with fastcgi_param).
    if let Some(cert) = endpoint.client_cert {
        put!(Var::SslClientVerify, &cert.verify);
        if cert.presented {
            put!(Var::SslClientSDn, &cert.subject);
            put!(Var::SslClientIDn, &cert.issuer);
            put!(Var::SslClientMSerial, &cert.serial);
        }
    }
    if !skip.has(Var::ServerName) {
        match request.host.as_deref().or(endpoint.server_name) {
            Some(name) => set(Var::ServerName.name(), name),
            None => number(set, Var::ServerName.name(), Number::Ip(endpoint.local.ip())),
        }
    }
    // php-cgi refuses to run without it (its guard against being called directly).
    put!(Var::RedirectStatus, "200");
    put!(Var::Path, "/usr/local/bin:/usr/bin:/bin");
    if let Some(length) = endpoint.content_length {
        put!(Var::ContentLength, number Number::Int(length));
    }
    if let Some(content_type) = request.header("Content-Type") {
        put!(Var::ContentType, content_type);
    }
    let headers = &request.headers;
    let mut variable = String::new();
    let mut joined = String::new();
    for (i, (name, value)) in headers.iter().enumerate() {
        if !header_variable(name, &mut variable)
            || headers[..i]
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            continue;
        }
        let mut repeats = headers[i + 1..]
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .peekable();
        if repeats.peek().is_none() {
            set(&variable, value);
            continue;
        }
        // Repeated fields are combined, as RFC 3875 §4.1.18 asks.
        joined.clear();
        joined.push_str(value);
        for (_, more) in repeats {
            joined.push_str(", ");
            joined.push_str(more);
        }
        set(&variable, &joined);
    }
}

/// A number or an address, as an environment variable's value.
enum Number {
    Ip(IpAddr),
    Int(u64),
}

impl Number {
    fn write(self, out: &mut String) {
        let mut digits = [0u8; 20];
        match self {
            Number::Ip(IpAddr::V4(ip)) => {
                // Written on the stack, then pushed once.
                let mut text = [0u8; 15];
                let mut len = 0;
                for (i, octet) in ip.octets().into_iter().enumerate() {
                    if i > 0 {
                        text[len] = b'.';
                        len += 1;
                    }
                    let octet = decimal(octet.into(), &mut digits);
                    text[len..len + octet.len()].copy_from_slice(octet);
                    len += octet.len();
                }
                push_ascii(out, &text[..len]);
            }
            Number::Ip(ip) => {
                let _ = write!(out, "{ip}");
            }
            Number::Int(n) => push_ascii(out, decimal(n, &mut digits)),
        }
    }
}

/// Appends ASCII text (digits and dots) to `out`.
fn push_ascii(out: &mut String, ascii: &[u8]) {
    out.push_str(std::str::from_utf8(ascii).unwrap_or_default());
}

/// A path as text (its bytes if they are UTF-8, which is checked faster than a lossy
/// conversion walks them; replacement characters otherwise).
fn text_of(path: &Path) -> std::borrow::Cow<'_, str> {
    match path.to_str() {
        Some(text) => text.into(),
        None => path.to_string_lossy(),
    }
}

/// Writes the `HTTP_*` name of a request header into `variable`; false for the headers that
/// must not become one: Content-Length and Content-Type (they have their own variables),
/// `Proxy` (HTTP_PROXY would redirect the script's own outgoing requests: "httpoxy"), and any
/// name with `_` (it would collide with the `-` spelling of another header).
fn header_variable(name: &str, variable: &mut String) -> bool {
    if name.eq_ignore_ascii_case("content-length")
        || name.eq_ignore_ascii_case("content-type")
        || name.eq_ignore_ascii_case("proxy")
        || name.contains('_')
    {
        return false;
    }
    variable.clear();
    variable.push_str("HTTP_");
    variable.extend(name.chars().map(|c| match c {
        '-' => '_',
        c => c.to_ascii_uppercase(),
    }));
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn numbers_and_addresses_are_written_as_their_display() {
        let text = |n: Number| {
            let mut out = String::from("x=");
            n.write(&mut out);
            out
        };
        for ip in [
            "0.0.0.0",
            "10.0.0.1",
            "127.0.0.1",
            "255.255.255.255",
            "192.168.100.9",
        ] {
            let addr: IpAddr = ip.parse().unwrap();
            assert_eq!(text(Number::Ip(addr)), format!("x={ip}"));
        }
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(text(Number::Ip(v6)), "x=2001:db8::1");
        for n in [0, 9, 10, 65_535, u64::MAX] {
            assert_eq!(text(Number::Int(n)), format!("x={n}"));
        }
    }

    fn request(text: &str) -> Request {
        let mut bytes = text.as_bytes().to_vec();
        crate::http::request::parse(&mut bytes).unwrap().unwrap().0
    }

    fn env_of(text: &str) -> Vec<(String, String)> {
        let script = Script {
            file: PathBuf::from("/srv/cgi-bin/app.py"),
            script_name: "/cgi-bin/app.py".into(),
            path_info: "/a/b".into(),
            interpreter: None,
        };
        let endpoint = Endpoint {
            peer: "10.0.0.2:5555".parse().unwrap(),
            local: "127.0.0.1:8080".parse().unwrap(),
            server_name: Some("example"),
            document_root: Path::new("/srv"),
            content_length: Some(3),
            https: false,
            client_cert: None,
        };
        build(&request(text), &script, &endpoint)
    }

    fn get<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
        env.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn the_rfc_3875_variables_are_set() {
        let env = env_of(
            "POST /cgi-bin/app.py/a/b?x=1 HTTP/1.1\r\nHost: Site:8080\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\n",
        );
        assert_eq!(get(&env, "SCRIPT_NAME"), Some("/cgi-bin/app.py"));
        assert_eq!(get(&env, "PATH_INFO"), Some("/a/b"));
        assert_eq!(get(&env, "PATH_TRANSLATED"), Some("/srv/a/b"));
        assert_eq!(get(&env, "QUERY_STRING"), Some("x=1"));
        assert_eq!(get(&env, "REQUEST_URI"), Some("/cgi-bin/app.py/a/b?x=1"));
        assert_eq!(get(&env, "REQUEST_METHOD"), Some("POST"));
        assert_eq!(get(&env, "CONTENT_LENGTH"), Some("3"));
        assert_eq!(get(&env, "CONTENT_TYPE"), Some("text/plain"));
        assert_eq!(get(&env, "SERVER_NAME"), Some("site"));
        assert_eq!(get(&env, "SERVER_PORT"), Some("8080"));
        assert_eq!(get(&env, "REMOTE_ADDR"), Some("10.0.0.2"));
        assert_eq!(get(&env, "SERVER_PROTOCOL"), Some("HTTP/1.1"));
        assert_eq!(get(&env, "REDIRECT_STATUS"), Some("200"));
        assert_eq!(get(&env, "SCRIPT_FILENAME"), Some("/srv/cgi-bin/app.py"));
        assert_eq!(get(&env, "HTTP_HOST"), Some("Site:8080"));
        assert_eq!(get(&env, "HTTP_CONTENT_LENGTH"), None);
        assert_eq!(get(&env, "REQUEST_SCHEME"), Some("http"));
        assert_eq!(get(&env, "HTTPS"), None);
    }

    #[test]
    fn proxy_and_underscore_headers_never_reach_the_environment() {
        let env = env_of(
            "GET / HTTP/1.1\r\nHost: h\r\nProxy: http://evil\r\nX_Forwarded: a\r\nX-Forwarded: b\r\n\r\n",
        );
        assert_eq!(get(&env, "HTTP_PROXY"), None);
        assert_eq!(get(&env, "HTTP_X_FORWARDED"), Some("b"));
    }

    #[test]
    fn a_client_certificate_is_described_as_mod_ssl_does() {
        let script = Script {
            file: PathBuf::from("/srv/a.py"),
            script_name: "/a.py".into(),
            path_info: String::new(),
            interpreter: None,
        };
        let cert = crate::transport::client_cert::ClientCert {
            verify: "SUCCESS".into(),
            verified: true,
            presented: true,
            subject: "CN=alice,O=Org".into(),
            issuer: "CN=Root".into(),
            serial: "0A".into(),
        };
        let none = crate::transport::client_cert::ClientCert::none();
        for (client, verify, dn) in [
            (Some(&cert), Some("SUCCESS"), Some("CN=alice,O=Org")),
            (Some(&none), Some("NONE"), None),
            (None, None, None),
        ] {
            let endpoint = Endpoint {
                peer: "10.0.0.2:5555".parse().unwrap(),
                local: "127.0.0.1:8443".parse().unwrap(),
                server_name: None,
                document_root: Path::new("/srv"),
                content_length: None,
                https: true,
                client_cert: client,
            };
            let env = build(
                &request("GET /a.py HTTP/1.1\r\nHost: h\r\n\r\n"),
                &script,
                &endpoint,
            );
            assert_eq!(get(&env, "SSL_CLIENT_VERIFY"), verify);
            assert_eq!(get(&env, "SSL_CLIENT_S_DN"), dn);
            assert_eq!(get(&env, "HTTPS"), Some("on"));
        }
    }

    #[test]
    fn repeated_headers_are_joined() {
        let env = env_of("GET / HTTP/1.1\r\nHost: h\r\nAccept: a\r\nAccept: b\r\n\r\n");
        assert_eq!(get(&env, "HTTP_ACCEPT"), Some("a, b"));
    }
}
