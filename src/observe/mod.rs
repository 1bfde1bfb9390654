//! What an operator watches: the server's figures and their pages (`metrics`), and the values
//! of nginx's variables for a request (`vars`).

pub mod access_log;
pub mod metrics;
pub mod vars;

use crate::config::StatusPage;
use crate::http::request::{Method, Request};
use crate::http::response::{Body, Response};
use crate::site::{self, route::Site};
use metrics::Registry;

/// The response of a `stub_status` or `metrics` location: GET and HEAD only (405 otherwise,
/// as nginx's stub_status), never cached.
pub fn status_page(
    page: StatusPage,
    request: &Request,
    registry: &Registry,
    site: &Site,
) -> Response {
    if !matches!(request.method, Method::Get | Method::Head) {
        return site::error(405, site).with_header("Allow", "GET, HEAD");
    }
    let (body, content_type) = match page {
        StatusPage::Stub => (registry.stub_status(), "text/plain"),
        StatusPage::Prometheus => (
            registry.prometheus(),
            "text/plain; version=0.0.4; charset=utf-8",
        ),
    };
    Response::new(200, Body::Bytes(body.into_bytes()))
        .with_header("Content-Type", content_type)
        .with_header("Cache-Control", "no-cache")
}

/// A number for a new connection (`$connection`), unique in the process.
pub fn next_connection() -> u64 {
    static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}
