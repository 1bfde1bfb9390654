//! Where a request lands, and the answers that need nothing more than that: `route` finds its
//! server and location (a `route::Site`: the settings in force), `pages` builds the built-in
//! pages, `file_info` says what a file is (type, validators) and opens it for serving. Here:
//! the error responses (the `error_page` configured for a status, or the built-in page),
//! redirects and 503s, which every layer above answers with (the access phases, the status
//! pages, the handler, the exchange, the protocols).

pub mod file_info;
pub mod pages;
pub mod route;

use crate::config::ErrorPageStatus;
use crate::http::path;
use crate::http::response::{Body, Response};
use crate::log;
use route::{Site, select_location};

/// A URL made safe for a header value: controls, spaces and non-ASCII bytes are
/// percent-encoded, so no value (whatever the request or the configuration put in it) can end
/// the field or start another.
pub(crate) fn header_safe(url: &str) -> String {
    if url.bytes().all(|b| b.is_ascii_graphic()) {
        return url.to_string();
    }
    let mut out = Vec::with_capacity(url.len() + 8);
    path::percent_encode_into(&mut out, url.as_bytes(), |b| !b.is_ascii_graphic());
    path::ascii_text(out)
}

/// A redirect with a small HTML body pointing at `location`.
pub fn redirect(status: u16, location: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html><head><title>{status} {reason}</title></head>\
         <body><h1>{reason}</h1><p>The document is <a href=\"{href}\">here</a>.</p></body></html>\n",
        reason = pages::reason(status),
        href = pages::html_escape(location),
    );
    Response::html(status, html).with_header("Location", location.to_string())
}

/// Whether a failed system call says the server ran out of something it will have again soon
/// (descriptors, memory, processes): the same request may succeed in a moment.
pub fn out_of_resources(error: &std::io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::ENOBUFS | libc::EAGAIN)
    )
}

/// How long a client told 503 should wait before it tries again, in seconds.
pub const RETRY_AFTER: &str = "1";

/// 503 with `Retry-After`: the server cannot take the request now, but will soon.
pub fn unavailable(site: &Site) -> Response {
    error(503, site).with_header("Retry-After", RETRY_AFTER)
}

/// The answer to a request whose system call failed for a reason of the server's, not the
/// client's: `what` (as nginx words it: `open() "PATH"`) is logged at `error` with the cause,
/// and the client gets 503 with `Retry-After` when the server is out of resources, else 500.
pub fn server_failure(what: &str, cause: &std::io::Error, site: &Site) -> Response {
    log::error(&format!("{what} failed: {cause}"));
    if out_of_resources(cause) {
        unavailable(site)
    } else {
        error(500, site)
    }
}

/// The error response for `status`: the `error_page` configured for it (served with the
/// original status), or the built-in page when none is configured or it cannot be read.
pub fn error(status: u16, site: &Site) -> Response {
    if let Some(page) = configured_error_page(status, site) {
        return page;
    }
    Response::html(status, pages::error_page(status))
}

/// An `error_page` URI mapped to a file through the server's locations. A named location's
/// page is answered by `handler::plan` (None here: the built-in page where `plan` is not involved).
fn configured_error_page(status: u16, site: &Site) -> Option<Response> {
    let page = site.settings.error_page(status)?;
    if page.named().is_some() {
        return None;
    }
    let uri = page.target.as_str();
    if uri.starts_with("http://") || uri.starts_with("https://") {
        // nginx: a page elsewhere is a redirect there (302, or the `=CODE` given).
        let code = match page.status {
            ErrorPageStatus::Set(code @ (301 | 302 | 303 | 307 | 308)) => code,
            _ => 302,
        };
        return Some(redirect(code, &header_safe(uri)));
    }
    let status = match page.status {
        ErrorPageStatus::Original => status,
        ErrorPageStatus::FromPage => 200,
        ErrorPageStatus::Set(code) => code,
    };
    let page_site = select_location(site.server, uri);
    let file_path = page_site.file_path(uri);
    let (file, metadata) = file_info::open_regular(&file_path).ok()?;
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
        .with_header("Content-Type", file_info::content_type(&file_path)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
