//! Request handlers: what a parsed request means and what answers it. Routing (`route`), static
//! files (`static_files`), built-in pages (`pages`), and the error and redirect responses every
//! handler shares. Nothing here touches a socket: handlers return a [`Plan`] or a [`Response`]
//! and the connection carries it out.

pub mod file_cache;
pub mod headers;
pub mod pages;
pub mod route;
pub mod static_files;
pub mod upload;

pub use route::{Site, select_location, select_server};

use crate::cgi::script::{self, Script};
use crate::config::{Methods, Template, Variable};
use crate::http::path;
use crate::http::request::{Method, Request};
use crate::http::response::{Body, Response};
use std::fmt::Write as _;
use std::net::SocketAddr;

/// What a handler may need to know of the connection a request came on.
pub struct ConnInfo<'a> {
    /// The bound address of the listener (its real port, also with `listen ...:0`).
    pub listen: SocketAddr,
    /// The connection is TLS (`https`).
    pub tls: bool,
    /// The connection's own local address: asked of the kernel only when needed (`$host` of a
    /// request without a host, on a wildcard listener).
    pub local: &'a dyn Fn() -> Option<SocketAddr>,
    /// The server's figures, for `stub_status` and `metrics`.
    pub metrics: &'a crate::observe::metrics::Registry,
}

/// The URL scheme of a connection: the one place that decides `http` or `https`.
pub fn scheme(tls: bool) -> &'static str {
    if tls { "https" } else { "http" }
}

/// What the connection does next with a request whose head has been read.
#[derive(Debug)]
pub enum Plan {
    /// Read and discard the request body (if any), then send this response.
    Respond(Response),
    /// Store the request body (POST or PUT to an `upload_store`), then answer.
    Upload(Box<upload::Upload>),
    /// Run a CGI script (with the request body as its input) and stream its output.
    Cgi(Box<Script>),
}

/// Decides how to answer `request`, in nginx's phase order: `return`, then the method check,
/// then the handler of the method.
pub fn plan(request: &Request, site: &Site, conn: &ConnInfo) -> Plan {
    let settings = site.settings;
    if !matches!(request.method, Method::Get | Method::Head) {
        file_cache::note_possible_change();
    }
    if let Some(ret) = &settings.return_ {
        return Plan::Respond(fixed_return(
            ret.code,
            ret.target.as_ref(),
            request,
            site,
            conn,
        ));
    }
    if let Some(page) = settings.observe.status_page {
        return Plan::Respond(crate::observe::status_page(
            page,
            request,
            conn.metrics,
            site,
        ));
    }
    if !settings.allow_methods.allows(request.method.as_set()) {
        return Plan::Respond(method_not_allowed(settings.allow_methods, site));
    }
    if matches!(request.method, Method::Get | Method::Head | Method::Post) {
        match script::locate(&request.path, site) {
            Ok(Some(script)) => return Plan::Cgi(Box::new(script)),
            Ok(None) => {}
            Err(status) => return Plan::Respond(error(status, site)),
        }
        if let Some(script) = script::for_index(&request.path, site) {
            return Plan::Cgi(Box::new(script));
        }
    }
    match request.method {
        Method::Get | Method::Head => Plan::Respond(static_files::serve(request, site)),
        Method::Post | Method::Put if settings.upload_store.is_some() => {
            match upload::Upload::start(request, site) {
                Ok(upload) => Plan::Upload(Box::new(upload)),
                Err(response) => Plan::Respond(response),
            }
        }
        Method::Delete => Plan::Respond(upload::delete(request, site)),
        // Allowed, but nothing here can take a body: `Allow` lists what does work.
        Method::Post | Method::Put => {
            let workable = settings
                .allow_methods
                .without(Methods::PUT.union(Methods::POST));
            Plan::Respond(method_not_allowed(workable, site))
        }
    }
}

/// The response for `return CODE [URL | TEXT]`.
fn fixed_return(
    code: u16,
    target: Option<&Template>,
    request: &Request,
    site: &Site,
    conn: &ConnInfo,
) -> Response {
    match (code, target) {
        (301 | 302 | 303 | 307 | 308, Some(url)) => {
            let url = url.expand(|v, out| variable(v, request, site, conn, true, out));
            redirect(code, &header_safe(&url))
        }
        (_, Some(text)) => {
            let text = text.expand(|v, out| variable(v, request, site, conn, false, out));
            Response::new(code, Body::Bytes(text.into_bytes()))
                .with_header("Content-Type", "text/plain; charset=utf-8")
        }
        (400.., None) => error(code, site),
        (_, None) => Response::new(code, Body::Empty),
    }
}

/// Appends the value of `v` for this request to `out`. `in_url`: the value goes into a URL
/// (a Location field), so the decoded path is percent-encoded again.
fn variable(
    v: Variable,
    request: &Request,
    site: &Site,
    conn: &ConnInfo,
    in_url: bool,
    out: &mut String,
) {
    let server_name = site.server.server_names.first();
    match v {
        Variable::Host => match (&request.host, server_name) {
            (Some(host), _) => out.push_str(host),
            (None, Some(name)) => out.push_str(name),
            (None, None) => {
                let listen = conn.listen.ip();
                let ip = if listen.is_unspecified() {
                    (conn.local)().map_or(listen, |a| a.ip())
                } else {
                    listen
                };
                match ip {
                    std::net::IpAddr::V4(ip) => {
                        let _ = write!(out, "{ip}");
                    }
                    std::net::IpAddr::V6(ip) => {
                        let _ = write!(out, "[{ip}]");
                    }
                }
            }
        },
        Variable::RequestUri => out.push_str(origin_form(&request.target)),
        Variable::Uri if in_url => out.push_str(&path::encode(&request.path)),
        Variable::Uri => out.push_str(&request.path),
        Variable::Args => out.push_str(request.query.as_deref().unwrap_or("")),
        Variable::IsArgs => {
            if request.query.is_some() {
                out.push('?');
            }
        }
        Variable::Scheme => out.push_str(scheme(conn.tls)),
        Variable::ServerName => out.push_str(server_name.map_or("", String::as_str)),
        Variable::ServerPort => {
            let _ = write!(out, "{}", conn.listen.port());
        }
    }
}

/// The path and query of a request-target: an absolute-form target
/// (`http://host/a?b`) loses its scheme and authority, as nginx's `$request_uri`.
fn origin_form(target: &str) -> &str {
    if target.starts_with('/') {
        return target;
    }
    let Some((_, rest)) = target.split_once("://") else {
        return target;
    };
    rest.find(['/', '?']).map_or("/", |i| &rest[i..])
}

/// A URL made safe for a header value: controls, spaces and non-ASCII bytes are
/// percent-encoded, so no value (whatever the request or the configuration put in it) can end
/// the field or start another.
fn header_safe(url: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    if url.bytes().all(|b| b.is_ascii_graphic()) {
        return url.to_string();
    }
    let mut out = String::with_capacity(url.len() + 8);
    for b in url.bytes() {
        if b.is_ascii_graphic() {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

fn method_not_allowed(allowed: Methods, site: &Site) -> Response {
    error(405, site).with_header("Allow", allowed.allow_header())
}

/// A redirect with a small HTML body pointing at `location`.
pub fn redirect(status: u16, location: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html><head><title>{status} {reason}</title></head>\
         <body><h1>{reason}</h1><p>The document is <a href=\"{href}\">here</a>.</p></body></html>\n",
        reason = pages::reason(status),
        href = pages::html_escape(location),
    );
    Response::html(status, html).with_header("Location", location)
}

/// The error response for `status`: the `error_page` configured for it (served with the
/// original status), or the built-in page when none is configured or it cannot be read.
pub fn error(status: u16, site: &Site) -> Response {
    if let Some(page) = configured_error_page(status, site) {
        return page;
    }
    Response::html(status, pages::error_page(status))
}

fn configured_error_page(status: u16, site: &Site) -> Option<Response> {
    let uri = site.settings.error_page(status)?;
    let page_site = select_location(site.server, uri);
    let file_path = page_site.file_path(uri);
    let (file, metadata) = static_files::open_regular(&file_path).ok()?;
    let len = metadata.len();
    Some(
        Response::new(
            status,
            Body::File {
                file,
                offset: 0,
                len,
            },
        )
        .with_header("Content-Type", static_files::content_type(&file_path)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Server, Settings};
    use std::path::Path;

    fn request(text: &str) -> Request {
        let mut bytes = text.as_bytes().to_vec();
        crate::http::request::parse(&mut bytes).unwrap().unwrap().0
    }

    fn server_allowing(methods: Methods) -> Server {
        let mut settings = Settings::defaults(Path::new("/nonexistent"));
        settings.allow_methods = methods;
        Server {
            listen: vec!["127.0.0.1:80".parse().unwrap()],
            ssl: Vec::new(),
            tls: None,
            server_names: Vec::new(),
            settings,
            locations: Vec::new(),
        }
    }

    fn answer(server: &Server, text: &str) -> Response {
        let request = request(text);
        let conn = ConnInfo {
            listen: "127.0.0.1:80".parse().unwrap(),
            tls: false,
            local: &|| None,
            metrics: &crate::observe::metrics::Registry::new(1),
        };
        match plan(&request, &select_location(server, &request.path), &conn) {
            Plan::Respond(response) => response,
            other => panic!("expected a response, got {other:?}"),
        }
    }

    #[test]
    fn a_method_outside_allow_methods_is_405_listing_the_allowed_ones() {
        let server = server_allowing(Methods::GET.union(Methods::DELETE));
        let response = answer(
            &server,
            "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
        );
        assert_eq!(response.status, 405);
        assert_eq!(response.header("Allow"), Some("GET, HEAD, DELETE"));
    }

    #[test]
    fn an_allowed_post_with_nowhere_to_go_is_405_without_post_in_allow() {
        let server = server_allowing(Methods::GET.union(Methods::POST));
        let response = answer(
            &server,
            "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n",
        );
        assert_eq!(response.status, 405);
        assert_eq!(response.header("Allow"), Some("GET, HEAD"));
    }

    #[test]
    fn return_comes_before_the_method_check() {
        let mut server = server_allowing(Methods::GET);
        server.settings.return_ = Some(crate::config::Return {
            code: 301,
            target: Some(crate::config::Template::literal("/new/")),
        });
        let response = answer(&server, "DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(response.status, 301);
        assert_eq!(response.header("Location"), Some("/new/"));
    }

    fn redirecting(url: &str, names: &[&str]) -> Server {
        let mut server = server_allowing(Methods::GET);
        server.server_names = names.iter().map(|n| n.to_string()).collect();
        server.settings.return_ = Some(crate::config::Return {
            code: 301,
            target: Some(Template::parse(url).unwrap()),
        });
        server
    }

    #[test]
    fn return_expands_host_request_uri_and_the_other_variables() {
        let server = redirecting("https://$host$request_uri", &[]);
        let r = answer(
            &server,
            "GET /a/b?x=1&y=%41 HTTP/1.1\r\nHost: Example.COM:8080\r\n\r\n",
        );
        assert_eq!(
            r.header("Location"),
            Some("https://example.com/a/b?x=1&y=%41")
        );
        let r = answer(
            &server,
            "GET http://other.test:81/p?q HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        assert_eq!(r.header("Location"), Some("https://other.test/p?q"));

        let server = redirecting(
            "$scheme://$server_name:$server_port$uri$is_args$args",
            &["s.test"],
        );
        let r = answer(
            &server,
            "GET /%7Ea%20b/../c%0D%0AX:%20y HTTP/1.1\r\nHost: h\r\n\r\n",
        );
        assert_eq!(r.header("Location"), Some("http://s.test:80/c%0D%0AX:%20y"));
        let r = answer(&server, "GET /d?k=v HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(r.header("Location"), Some("http://s.test:80/d?k=v"));
    }

    #[test]
    fn host_falls_back_to_the_server_name_then_the_address() {
        let request_10 = "GET /x HTTP/1.0\r\n\r\n";
        let r = answer(
            &redirecting("http://$host/", &["first.test", "b"]),
            request_10,
        );
        assert_eq!(r.header("Location"), Some("http://first.test/"));
        let r = answer(&redirecting("http://$host/", &[]), request_10);
        assert_eq!(r.header("Location"), Some("http://127.0.0.1/"));
    }

    #[test]
    fn a_return_text_expands_variables_unencoded() {
        let mut server = server_allowing(Methods::GET);
        server.settings.return_ = Some(crate::config::Return {
            code: 200,
            target: Some(Template::parse("path=$uri args=$args").unwrap()),
        });
        let r = answer(&server, "GET /a%20b?z HTTP/1.1\r\nHost: h\r\n\r\n");
        match r.body {
            Body::Bytes(bytes) => assert_eq!(bytes, b"path=/a b args=z"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn header_safe_encodes_whatever_could_end_a_field() {
        assert_eq!(
            header_safe("/a\r\nSet-Cookie: x"),
            "/a%0D%0ASet-Cookie:%20x"
        );
        assert_eq!(header_safe("/é"), "/%C3%A9");
        assert_eq!(header_safe("https://a/b?c=d"), "https://a/b?c=d");
    }
}
