//! Request handlers: what a routed request means and what answers it. The configuration's
//! variables (`vars`), the rewrite program (`rewrite`), static files (`static_files`, through
//! the worker's `file_cache`), uploads and deletes (`upload`), the script a request names
//! (`script`), the parameters of a FastCGI request (`fastcgi`). Routing, the built-in pages and
//! the error responses are below, in `crate::site`. Nothing here touches a socket: handlers
//! return a [`Plan`] or a [`Response`] and the connection carries it out.
//!
//! [`plan`] runs nginx's phases for a routed request: `return`, the method check, `try_files`,
//! then the content handler (file, script, upload, delete). `try_files` and `error_page` may
//! send the request elsewhere in its server (an internal redirect: to a URI, whose location is
//! found again, or to a named location); that loops here, at most
//! [`MAX_INTERNAL_REDIRECTS`] times, as in nginx.

pub mod fastcgi;
pub mod file_cache;
pub mod headers;
pub mod rewrite;
pub mod script;
pub mod static_files;
pub mod upload;
pub mod vars;

use crate::access::basic::Cache as Verified;
pub use crate::fastcgi::upstream::Job as FastCgiJob;

use file_cache::FileCache;

use crate::cgi::Script;
use crate::config::{ErrorPageStatus, Methods, Template, TryFallback, TryFiles};
use crate::http::path;
use crate::http::request::{Framing, Method, Request, RoutedTo};
use crate::http::response::{Body, Response};
use crate::log;
use crate::site::route::{self, Captures, Routed, Site};
use crate::site::{error, header_safe, redirect};
use crate::transport::client_cert::ClientCert;
use std::net::SocketAddr;
use vars::{Into, Vars};

/// What a handler may need to know of the connection a request came on.
pub struct ConnInfo<'a> {
    /// The bound address of the listener (its real port, also with `listen ...:0`).
    pub listen: SocketAddr,
    /// The client's address.
    pub peer: SocketAddr,
    /// The connection is TLS (`https`).
    pub tls: bool,
    /// The connection's own local address: asked of the kernel only when needed (`$host` of a
    /// request without a host, on a wildcard listener).
    pub local: &'a dyn Fn() -> Option<SocketAddr>,
    /// The server's figures, for `stub_status` and `metrics`.
    pub metrics: &'a crate::observe::metrics::Registry,
    /// The client's certificate as the request's server judged it (servers with
    /// `ssl_verify_client` only).
    pub client_cert: Option<&'a ClientCert>,
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
    /// Pass the request to the location's FastCGI application (`fastcgi_pass`).
    FastCgi(Box<crate::fastcgi::upstream::Job>),
    /// Forward the request to the location's `proxy_pass` and stream the backend's answer.
    Proxy,
}

/// nginx's `return 444`: the connection is closed without any response.
pub const CLOSE_WITHOUT_RESPONSE: u16 = 444;

/// Internal redirects one request may take (nginx's limit): one more is a 500.
pub const MAX_INTERNAL_REDIRECTS: usize = 10;

/// Where an internal redirect sends the request.
enum Redirect {
    /// A new URI: its path (normalised) and query; the server's rewrite program runs again,
    /// then the location is found again.
    Uri(String, Option<String>),
    /// The location's `rewrite` changed the request's path: the location is found again.
    Rewritten,
    /// A named location (`@name`).
    Named(String),
}

/// One pass of the phases in one location: a plan, or an internal redirect.
enum Step {
    Plan(Plan),
    Redirect(Redirect),
}

/// An `error_page` answered by a named location: the status its answer goes out with.
struct PendingStatus {
    error: u16,
    status: ErrorPageStatus,
}

/// Decides how to answer `request`, routed to `site`, following internal redirects (which
/// may change `request.path` and `request.query`, as they change nginx's `$uri` and `$args`).
/// Records the final location in `request.routed`. `files`: the worker's file cache;
/// `verified`: the passwords `auth_basic` verified lately.
pub fn plan(
    request: &mut Request,
    site: &Site,
    conn: &ConnInfo,
    files: &mut FileCache,
    verified: &mut Verified,
) -> Plan {
    if !matches!(request.method, Method::Get | Method::Head) {
        files.note_possible_change();
    }
    let server = site.server;
    let first = match server_rewrites(request, site, conn) {
        ServerPhase::Respond(response) => {
            request.routed = Some(RoutedTo::new(None));
            return Plan::Respond(response);
        }
        ServerPhase::Moved => Step::Redirect(Redirect::Rewritten),
        ServerPhase::Stay
            if server.auto_redirect && route::auto_redirect(server, &request.path) =>
        {
            request.routed = Some(RoutedTo::new(site.id));
            return Plan::Respond(slash_redirect(request));
        }
        // Only internal redirects reach an `internal` location.
        ServerPhase::Stay if site.settings.internal => Step::Plan(Plan::Respond(error(404, site))),
        ServerPhase::Stay => {
            let captures = route::captures_for(site, &request.path);
            plan_once(request, site, captures, conn, files, verified)
        }
    };
    // The common case, no internal redirect: nothing is copied.
    let mut redirect = match first {
        Step::Plan(plan) => match named_error_page(&plan, site) {
            None => {
                request.routed = Some(RoutedTo::new(site.id));
                return plan;
            }
            Some(redirect) => redirect,
        },
        Step::Redirect(redirect) => (redirect, None),
    };
    let mut current = site.clone();
    let mut redirects = 0;
    loop {
        let (target, status) = redirect;
        redirects += 1;
        if redirects > MAX_INTERNAL_REDIRECTS {
            log::error(&format!(
                "rewrite or internal redirection cycle while processing \"{}\"",
                request.path
            ));
            request.routed = Some(RoutedTo::new(current.id));
            return Plan::Respond(error(500, &current));
        }
        let routed = match target {
            Redirect::Uri(path, query) => {
                request.path = path;
                request.query = query;
                if let ServerPhase::Respond(response) = server_rewrites(request, site, conn) {
                    request.routed = Some(RoutedTo::new(None));
                    return with_status(Plan::Respond(response), status);
                }
                if route::auto_redirect(server, &request.path) {
                    request.routed = Some(RoutedTo::new(current.id));
                    return Plan::Respond(slash_redirect(request));
                }
                route::find_location(server, &request.path)
            }
            Redirect::Rewritten if route::auto_redirect(server, &request.path) => {
                request.routed = Some(RoutedTo::new(current.id));
                return Plan::Respond(slash_redirect(request));
            }
            Redirect::Rewritten => route::find_location(server, &request.path),
            Redirect::Named(name) => {
                let id = server.named_location(&name);
                let captures = Captures::default();
                Routed {
                    site: route::site_of(server, id, &captures),
                    captures,
                }
            }
        };
        current = routed.site;
        current.host = site.host;
        let step = plan_once(request, &current, routed.captures, conn, files, verified);
        redirect = match step {
            Step::Redirect(next) => (next, status),
            // nginx answers one error with one error page (no `recursive_error_pages`).
            Step::Plan(plan) if status.is_some() => {
                request.routed = Some(RoutedTo::new(current.id));
                return with_status(plan, status);
            }
            Step::Plan(plan) => match named_error_page(&plan, &current) {
                None => {
                    request.routed = Some(RoutedTo::new(current.id));
                    return plan;
                }
                Some(next) => next,
            },
        };
    }
}

/// What the server's own rewrite program (nginx's server rewrite phase) made of a request.
enum ServerPhase {
    /// Nothing that matters here: the location already chosen stands.
    Stay,
    /// The path changed: the location is to be found again.
    Moved,
    Respond(Response),
}

/// Runs the rewrite program of `site`'s server (not of its location) for `request`.
#[inline]
fn server_rewrites(request: &mut Request, site: &Site, conn: &ConnInfo) -> ServerPhase {
    if site.server.settings.rewrites.is_empty() {
        return ServerPhase::Stay;
    }
    run_server_rewrites(request, site, conn)
}

fn run_server_rewrites(request: &mut Request, site: &Site, conn: &ConnInfo) -> ServerPhase {
    let program = &site.server.settings.rewrites;
    let mut server_site = Site::of_server(site.server);
    server_site.host = site.host;
    let mut captures = Captures::default();
    match rewrite::run(program, request, &server_site, &mut captures, conn) {
        rewrite::Outcome::Respond(response) => ServerPhase::Respond(response),
        rewrite::Outcome::Relocate | rewrite::Outcome::Continue { moved: true } => {
            ServerPhase::Moved
        }
        rewrite::Outcome::Continue { moved: false } => ServerPhase::Stay,
    }
}

/// The 301 to the request's path with a slash (and its query).
fn slash_redirect(request: &Request) -> Response {
    let mut location = path::encode(&format!("{}/", request.path));
    if let Some(query) = &request.query {
        location.push('?');
        location.push_str(query);
    }
    redirect(301, &location)
}

/// When `plan` is an error answered by an `error_page` naming a location: the redirect there,
/// with the status the answer will go out with.
fn named_error_page(plan: &Plan, site: &Site) -> Option<(Redirect, Option<PendingStatus>)> {
    let Plan::Respond(response) = plan else {
        return None;
    };
    if response.status < 300 {
        return None;
    }
    let page = site.settings.error_page(response.status)?;
    page.named()?;
    Some((
        Redirect::Named(page.target.clone()),
        Some(PendingStatus {
            error: response.status,
            status: page.status,
        }),
    ))
}

/// `plan` with the status an `error_page` asks for.
fn with_status(plan: Plan, pending: Option<PendingStatus>) -> Plan {
    match (plan, pending) {
        (Plan::Respond(mut response), Some(p)) => {
            response.status = match p.status {
                ErrorPageStatus::Original => p.error,
                ErrorPageStatus::FromPage => response.status,
                ErrorPageStatus::Set(code) => code,
            };
            Plan::Respond(response)
        }
        (plan, _) => plan,
    }
}

/// nginx's phases in one location: its rewrite program (`rewrite`, `return`, `set`), then
/// the method check, then `try_files`, then the handler of the method.
fn plan_once<'a>(
    request: &mut Request,
    site: &Site<'a>,
    mut captures: Captures<'a>,
    conn: &ConnInfo,
    files: &mut FileCache,
    verified: &mut Verified,
) -> Step {
    let settings = site.settings;
    if !settings.rewrites.is_empty() {
        match rewrite::run(&settings.rewrites, request, site, &mut captures, conn) {
            rewrite::Outcome::Respond(response) => return Step::Plan(Plan::Respond(response)),
            rewrite::Outcome::Relocate => return Step::Redirect(Redirect::Rewritten),
            rewrite::Outcome::Continue { .. } => {}
        }
    }
    // The access phase of this location (every location an internal redirect reaches, as in
    // nginx); the limits ran once, before the first location (`crate::access::admit`).
    if settings.access.is_active()
        && let Some(response) = crate::access::check(request, site, conn.peer.ip(), verified)
    {
        return Step::Plan(Plan::Respond(response));
    }
    if let Some(page) = settings.observe.status_page {
        return Step::Plan(Plan::Respond(crate::observe::status_page(
            page,
            request,
            conn.metrics,
            site,
        )));
    }
    // `allow_methods` written in the file is checked before `try_files` (as nginx's
    // `limit_except`); the default (`GET HEAD`, for files) after it, as nginx's static module
    // refuses a POST to a file only once `try_files` has not sent the request elsewhere (a
    // front controller takes every method).
    let allowed = settings.allow_methods.allows(Methods::of(request.method));
    if !allowed && (settings.methods_set || settings.try_files.is_none()) {
        return Step::Plan(Plan::Respond(method_not_allowed(
            settings.allow_methods,
            site,
        )));
    }
    if let Some(try_files) = &settings.try_files
        && let Some(step) = try_files_phase(try_files, request, site, &captures, conn)
    {
        return step;
    }
    if !allowed {
        return Step::Plan(Plan::Respond(method_not_allowed(
            settings.allow_methods,
            site,
        )));
    }
    if settings.fastcgi.pass.is_some() {
        return Step::Plan(fastcgi_plan(request, site, &captures, conn));
    }
    if let Some(uri) = index_elsewhere(request, site) {
        return Step::Redirect(Redirect::Uri(uri, request.query.clone()));
    }
    Step::Plan(content(request, site, files))
}

/// A directory's index file that another location answers (`index index.php` with a
/// `location ~ \.php$`): as nginx's index module, the request goes there by an internal
/// redirect. An index in the same location is served by the static handler, which finds it
/// itself.
fn index_elsewhere(request: &Request, site: &Site) -> Option<String> {
    if !request.path.ends_with('/')
        || site.server.locations.is_empty()
        || !matches!(request.method, Method::Get | Method::Head | Method::Post)
    {
        return None;
    }
    let dir = site.file_path(&request.path);
    let name = site
        .settings
        .index
        .iter()
        .find(|name| std::fs::metadata(dir.join(name)).is_ok_and(|m| m.is_file()))?;
    let uri = format!("{}{name}", request.path);
    let there = route::find_location(site.server, &uri).site.id;
    (there != site.id).then_some(uri)
}

/// A location with `fastcgi_pass`: every request goes to the application (after `try_files`),
/// with its parameters built now, while the location's groups are known. A chunked body's
/// length is set once it is spooled.
fn fastcgi_plan(request: &Request, site: &Site, captures: &Captures, conn: &ConnInfo) -> Plan {
    use fastcgi::{BodyLength, encode};
    let length = match request.framing {
        Framing::Length(n) => BodyLength::Known(Some(n)),
        Framing::Chunked | Framing::UntilEnd => BodyLength::Later,
        Framing::None => BodyLength::Known(None),
    };
    Plan::FastCgi(Box::new(encode(request, site, conn, captures, length)))
}

/// `try_files`: the first name that exists (a directory for a name ending in `/`, anything
/// else otherwise) becomes the request's path and the location goes on with it (None);
/// when none does, the fallback: an internal redirect, or a status.
fn try_files_phase(
    try_files: &TryFiles,
    request: &mut Request,
    site: &Site,
    captures: &Captures,
    conn: &ConnInfo,
) -> Option<Step> {
    // `$fastcgi_script_name` as the location splits it (nginx's safe `try_files
    // $fastcgi_script_name =404`).
    let fastcgi = &site.settings.fastcgi;
    let split = (fastcgi.split_path_info.is_some() || fastcgi.index.is_some())
        .then(|| fastcgi::split(&request.path, fastcgi));
    let vars = Vars {
        request,
        site,
        conn,
        captures,
        split: split
            .as_ref()
            .map(|s| (s.script_name.as_str(), s.path_info.as_str())),
    };
    let mut found = None;
    for template in &try_files.files {
        let mut name = vars.expand(template, Into::Text);
        // An argument written with a final `/` asks for a directory, and (as in nginx, which
        // takes the slash off the argument) names it without that slash: `$uri/` for `/dir`
        // goes on as `/dir`, which the directory's handler then redirects to `/dir/`.
        let wants_dir = template.source().ends_with('/');
        if wants_dir && name.len() > 1 {
            name.pop();
        }
        // A name that would climb above `/` can name nothing here.
        let Ok(uri) = path::resolve(&name) else {
            continue;
        };
        let file = site.try_files_path(&uri);
        match std::fs::metadata(&file) {
            Ok(m) if m.is_dir() == wants_dir => {
                found = Some(uri);
                break;
            }
            _ => continue,
        }
    }
    if let Some(uri) = found {
        request.path = uri;
        return None;
    }
    Some(match &try_files.fallback {
        TryFallback::Code(code) => Step::Plan(Plan::Respond(status_response(*code, site))),
        TryFallback::Named(name) => Step::Redirect(Redirect::Named(name.clone())),
        TryFallback::Uri(template) => {
            let target = vars.expand(template, Into::Text);
            let (path, query) = match target.split_once('?') {
                Some((path, query)) => (path, (!query.is_empty()).then(|| query.to_string())),
                None => (target.as_str(), None),
            };
            match path::resolve(path) {
                Ok(path) => Step::Redirect(Redirect::Uri(path, query)),
                Err(_) => {
                    log::error(&format!(
                        "try_files: the fallback \"{target}\" is not a valid path"
                    ));
                    Step::Plan(Plan::Respond(error(500, site)))
                }
            }
        }
    })
}

/// The handler of the request's method, in the location: its `proxy_pass`, else a script,
/// a file, an upload or a delete.
fn content(request: &Request, site: &Site, files: &mut FileCache) -> Plan {
    let settings = site.settings;
    if settings.proxy.pass.is_some() {
        return Plan::Proxy;
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
        Method::Get | Method::Head => Plan::Respond(static_files::serve(request, site, files)),
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

/// The answer for a bare status (`try_files ... =CODE`): an error page for errors, an empty
/// response otherwise.
fn status_response(code: u16, site: &Site) -> Response {
    if code >= 400 {
        error(code, site)
    } else {
        Response::new(code, Body::Empty)
    }
}

/// The response for `return CODE [URL | TEXT]`.
pub(crate) fn fixed_return(code: u16, target: Option<&Template>, vars: &Vars) -> Response {
    match (code, target) {
        (301 | 302 | 303 | 307 | 308, Some(url)) => {
            let url = vars.expand(url, Into::Url);
            redirect(code, &header_safe(&url))
        }
        (_, Some(text)) => {
            let text = vars.expand(text, Into::Text);
            Response::new(code, Body::Bytes(text.into_bytes()))
                .with_header("Content-Type", "text/plain; charset=utf-8")
        }
        (400.., None) => error(code, vars.site),
        (_, None) => Response::new(code, Body::Empty),
    }
}

fn method_not_allowed(allowed: Methods, site: &Site) -> Response {
    error(405, site).with_header("Allow", allowed.allow_header())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Server;
    use std::path::Path;

    fn request(text: &str) -> Request {
        let mut bytes = text.as_bytes().to_vec();
        crate::http::request::parse(&mut bytes).unwrap().unwrap().0
    }

    /// The only server of `server { listen 80; BODY }`, read as `/etc/w/t.conf`.
    fn server(body: &str) -> Server {
        crate::config::parse(
            &format!("server {{ listen 80; {body} }}"),
            Path::new("/etc/w/t.conf"),
        )
        .unwrap_or_else(|e| panic!("{body}: {e}"))
        .servers
        .remove(0)
    }

    /// The plan for `text` and the request as the plan left it.
    fn plan_of(server: &Server, text: &str) -> (Plan, Request) {
        let mut request = request(text);
        let conn = ConnInfo {
            listen: "127.0.0.1:80".parse().unwrap(),
            peer: "127.0.0.1:4000".parse().unwrap(),
            tls: false,
            local: &|| None,
            client_cert: None,
            metrics: crate::observe::metrics::Registry::detached(),
        };
        let site = route::select_location(server, &request.path);
        let plan = plan(
            &mut request,
            &site,
            &conn,
            &mut FileCache::new(),
            &mut Verified::default(),
        );
        (plan, request)
    }

    fn answer(server: &Server, text: &str) -> Response {
        match plan_of(server, text).0 {
            Plan::Respond(response) => response,
            other => panic!("expected a response, got {other:?}"),
        }
    }

    fn get(path: &str) -> String {
        format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n")
    }

    fn body(response: &Response) -> String {
        match &response.body {
            Body::Bytes(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn a_method_outside_allow_methods_is_405_listing_the_allowed_ones() {
        let server = server("root /nonexistent; allow_methods GET DELETE;");
        let response = answer(
            &server,
            "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
        );
        assert_eq!(response.status, 405);
        assert_eq!(response.header("Allow"), Some("GET, HEAD, DELETE"));
    }

    #[test]
    fn an_allowed_post_with_nowhere_to_go_is_405_without_post_in_allow() {
        let server = server("root /nonexistent; allow_methods GET POST;");
        let response = answer(
            &server,
            "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n",
        );
        assert_eq!(response.status, 405);
        assert_eq!(response.header("Allow"), Some("GET, HEAD"));
    }

    #[test]
    fn return_comes_before_the_method_check() {
        let server = server("allow_methods GET; return 301 /new/;");
        let response = answer(&server, "DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(response.status, 301);
        assert_eq!(response.header("Location"), Some("/new/"));
    }

    #[test]
    fn return_expands_host_request_uri_and_the_other_variables() {
        let s = server("return 301 https://$host$request_uri;");
        let r = answer(
            &s,
            "GET /a/b?x=1&y=%41 HTTP/1.1\r\nHost: Example.COM:8080\r\n\r\n",
        );
        assert_eq!(
            r.header("Location"),
            Some("https://example.com/a/b?x=1&y=%41")
        );
        let r = answer(
            &s,
            "GET http://other.test:81/p?q HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        assert_eq!(r.header("Location"), Some("https://other.test/p?q"));

        let s = server(
            "server_name s.test; return 301 $scheme://$server_name:$server_port$uri$is_args$args;",
        );
        let r = answer(
            &s,
            "GET /%7Ea%20b/../c%0D%0AX:%20y HTTP/1.1\r\nHost: h\r\n\r\n",
        );
        assert_eq!(r.header("Location"), Some("http://s.test:80/c%0D%0AX:%20y"));
        let r = answer(&s, &get("/d?k=v"));
        assert_eq!(r.header("Location"), Some("http://s.test:80/d?k=v"));
    }

    #[test]
    fn host_falls_back_to_the_server_name_then_the_address() {
        let request_10 = "GET /x HTTP/1.0\r\n\r\n";
        let r = answer(
            &server("server_name first.test b; return 301 http://$host/;"),
            request_10,
        );
        assert_eq!(r.header("Location"), Some("http://first.test/"));
        let r = answer(&server("return 301 http://$host/;"), request_10);
        assert_eq!(r.header("Location"), Some("http://127.0.0.1/"));
    }

    #[test]
    fn a_return_text_expands_variables_unencoded() {
        let s = server("return 200 \"path=$uri args=$args\";");
        let r = answer(&s, "GET /a%20b?z HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(body(&r), "path=/a b args=z");
    }

    #[test]
    fn return_takes_the_groups_of_the_location_expression() {
        let s = server(
            "location ~ ^/old/(?<section>[a-z]+)/(.*)$ { return 301 /new/$section/$2?from=$1; }",
        );
        let r = answer(&s, &get("/old/news/2024/a.html"));
        assert_eq!(
            r.header("Location"),
            Some("/new/news/2024/a.html?from=news")
        );
    }

    /// A directory with `files` (a name ending in `/` is a directory), removed on drop.
    struct Tree(std::path::PathBuf);

    impl Tree {
        fn new(files: &[&str]) -> Tree {
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("webserv-plan-{}-{n}", std::process::id()));
            for f in files {
                let path = dir.join(f.trim_start_matches('/'));
                if f.ends_with('/') {
                    std::fs::create_dir_all(&path).unwrap();
                } else {
                    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                    std::fs::write(&path, f.as_bytes()).unwrap();
                }
            }
            Tree(dir)
        }
        fn root(&self) -> String {
            self.0.display().to_string()
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn try_files_serves_the_first_name_that_exists_with_uri_set_to_it() {
        let tree = Tree::new(&["/a.html", "/dir/", "/dir/index.html", "/fallback.html"]);
        let s = server(&format!(
            "root {}; location / {{ try_files $uri $uri.html $uri/ /fallback.html; }}",
            tree.root()
        ));
        let (plan, request) = plan_of(&s, &get("/a"));
        assert!(
            matches!(plan, Plan::Respond(ref r) if r.status == 200),
            "{plan:?}"
        );
        assert_eq!(request.path, "/a.html");
        // A directory only for a name ending in `/`: `$uri` (the directory) is skipped, and
        // `$uri/` goes on as `/dir` (nginx takes the slash off), which the directory handler
        // redirects to `/dir/`; there, `$uri/` serves its index.
        let (plan, request) = plan_of(&s, &get("/dir"));
        let Plan::Respond(r) = plan else { panic!() };
        assert_eq!((r.status, r.header("Location")), (301, Some("/dir/")));
        assert_eq!(request.path, "/dir");
        let (plan, request) = plan_of(&s, &get("/dir/"));
        let Plan::Respond(r) = plan else { panic!() };
        assert_eq!(r.status, 200);
        assert!(matches!(&r.body, Body::Shared { data, .. } if &data[..] == b"/dir/index.html"));
        assert_eq!(request.path, "/dir/");
        let (_, request) = plan_of(&s, &get("/nothing?x=1"));
        assert_eq!(request.path, "/fallback.html");
        assert_eq!(request.query, None);
        assert_eq!(request.routed, Some(RoutedTo::new(Some(0))));
    }

    #[test]
    fn a_fallback_uri_is_routed_again_with_its_own_query() {
        let tree = Tree::new(&["/index.php"]);
        let s = server(&format!(
            "root {}; location / {{ try_files $uri /index.php?q=$uri&$args; }}
             location ~ \\.php$ {{ return 200 \"php $uri $args\"; }}",
            tree.root()
        ));
        let (plan, request) = plan_of(&s, &get("/blog/post?page=2"));
        let Plan::Respond(r) = plan else { panic!() };
        assert_eq!(body(&r), "php /index.php q=/blog/post&page=2");
        assert_eq!(request.routed, Some(RoutedTo::new(Some(1))));
        // $request_uri keeps what the client sent.
        assert_eq!(request.target, "/blog/post?page=2");
    }

    #[test]
    fn try_files_ends_in_a_named_location_or_a_status() {
        let tree = Tree::new(&[]);
        let s = server(&format!(
            "root {}; location / {{ try_files $uri @app; }}
             location @app {{ return 200 \"app $uri\"; }}
             location /strict {{ try_files $uri =404; }}
             location /teapot {{ try_files $uri =418; }}",
            tree.root()
        ));
        let r = answer(&s, &get("/x/y"));
        assert_eq!((r.status, body(&r)), (200, "app /x/y".to_string()));
        assert_eq!(answer(&s, &get("/strict/a")).status, 404);
        assert_eq!(answer(&s, &get("/teapot/a")).status, 418);
    }

    #[test]
    fn try_files_with_alias_maps_names_under_the_prefix_to_the_alias() {
        let tree = Tree::new(&["/store/a.txt", "/store/default.txt"]);
        let s = server(&format!(
            "location /files/ {{ alias {}/store/; try_files $uri /files/default.txt; }}",
            tree.root()
        ));
        let (_, request) = plan_of(&s, &get("/files/a.txt"));
        assert_eq!(request.path, "/files/a.txt");
        let (plan, request) = plan_of(&s, &get("/files/b.txt"));
        assert_eq!(request.path, "/files/default.txt");
        assert!(
            matches!(plan, Plan::Respond(ref r) if r.status == 200),
            "{plan:?}"
        );
    }

    #[test]
    fn a_redirect_loop_ends_after_ten_with_a_500() {
        let s = server(
            "root /nonexistent; location / { try_files $uri /loop$uri; }
             location @a { try_files $uri @b; } location @b { try_files $uri @a; }
             location /n { try_files $uri @a; }",
        );
        assert_eq!(answer(&s, &get("/x")).status, 500);
        assert_eq!(answer(&s, &get("/n")).status, 500);
    }

    #[test]
    fn try_files_names_that_climb_above_the_root_are_skipped() {
        let tree = Tree::new(&["/secret.txt", "/www/"]);
        let s = server(&format!(
            "root {}/www; location / {{ try_files /../secret.txt $uri =404; }}",
            tree.root()
        ));
        // `$uri` is `/`, a directory, which only `$uri/` could name (nginx: 404 too).
        assert_eq!(answer(&s, &get("/")).status, 404);
        assert_eq!(answer(&s, &get("/a")).status, 404);
    }

    #[test]
    fn a_path_one_slash_short_of_a_fastcgi_location_is_redirected_as_nginx_does() {
        let s = server(
            "location / { } location /app/ { fastcgi_pass 127.0.0.1:9000; }
             location = /exact/ { fastcgi_pass 127.0.0.1:9000; }
             location /both/ { fastcgi_pass 127.0.0.1:9000; } location /both { }
             location /files/ { }
             location /outer/ { location /outer/in/ { fastcgi_pass 127.0.0.1:9000; } }
             location ~ ^/app$ { return 200 \"regex\"; }",
        );
        for (path, to) in [
            ("/app", Some("/app/")),
            ("/app?x=1", Some("/app/?x=1")),
            ("/exact", Some("/exact/")),
            ("/outer/in", Some("/outer/in/")),
            ("/both", None),
            ("/files", None),
            ("/app/", None),
            ("/ap", None),
        ] {
            match (plan_of(&s, &get(path)).0, to) {
                (Plan::Respond(r), Some(to)) => {
                    assert_eq!(r.status, 301, "{path}");
                    assert_eq!(r.header("Location"), Some(to), "{path}");
                }
                (Plan::Respond(r), None) => assert_ne!(r.status, 301, "{path}"),
                (other, to) => assert!(to.is_none(), "{path}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_error_page_in_a_named_location_keeps_or_sets_the_status() {
        let s = server(
            "root /nonexistent; error_page 404 @missing; location @missing { return 200 \"not here: $uri\"; }
             location /eq { error_page 404 = @missing; }
             location /set { error_page 404 =410 @missing; }
             location /loop { error_page 404 @again; }
             location @again { return 404; }",
        );
        let r = answer(&s, &get("/a"));
        assert_eq!((r.status, body(&r)), (404, "not here: /a".to_string()));
        assert_eq!(answer(&s, &get("/eq/a")).status, 200);
        assert_eq!(answer(&s, &get("/set/a")).status, 410);
        // One error, one error page: the named location's own 404 is final.
        let r = answer(&s, &get("/loop/a"));
        assert_eq!(r.status, 404);
        assert!(body(&r).contains("<html"), "{}", body(&r));
    }
}
