//! Request handlers: what a parsed request means and what answers it. Routing (`route`), static
//! files (`static_files`), built-in pages (`pages`), and the error and redirect responses every
//! handler shares. Nothing here touches a socket: handlers return a [`Plan`] or a [`Response`]
//! and the connection carries it out.

pub mod file_cache;
pub mod pages;
pub mod route;
pub mod static_files;
pub mod upload;

pub use route::{Site, select_location, select_server};

use crate::cgi::script::{self, Script};
use crate::config::Methods;
use crate::http::request::{Method, Request};
use crate::http::response::{Body, Response};

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
pub fn plan(request: &Request, site: &Site) -> Plan {
    let settings = site.settings;
    if !matches!(request.method, Method::Get | Method::Head) {
        file_cache::note_possible_change();
    }
    if let Some(ret) = &settings.return_ {
        return Plan::Respond(fixed_return(ret.code, ret.target.as_deref(), site));
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
fn fixed_return(code: u16, target: Option<&str>, site: &Site) -> Response {
    match (code, target) {
        (301 | 302 | 303 | 307 | 308, Some(url)) => redirect(code, url),
        (_, Some(text)) => Response::new(code, Body::Bytes(text.as_bytes().to_vec()))
            .with_header("Content-Type", "text/plain; charset=utf-8"),
        (400.., None) => error(code, site),
        (_, None) => Response::new(code, Body::Empty),
    }
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
        match plan(&request, &select_location(server, &request.path)) {
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
            target: Some("/new/".into()),
        });
        let response = answer(&server, "DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(response.status, 301);
        assert_eq!(response.header("Location"), Some("/new/"));
    }
}
