//! A fault trigger for the tests of panic isolation, compiled into debug builds only.
//!
//! A debug server started with `WEBSERV_TEST_PANIC=MARKER` (read once, at startup) panics on
//! purpose for a request whose target contains `MARKER=POINT`: `plan` before the request is
//! handled, `upload` once an upload has stored its first body bytes, `cgi` once a script's
//! header block has arrived. In a release build [`check`] is empty and the variable is never
//! read, so no release server can be made to panic this way.

/// Where a request may be made to panic.
#[derive(Clone, Copy)]
pub enum Point {
    Plan,
    Upload,
    Cgi,
}

#[cfg(debug_assertions)]
static MARKER: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// Reads `WEBSERV_TEST_PANIC` (debug builds only).
pub fn init() {
    #[cfg(debug_assertions)]
    MARKER.get_or_init(|| std::env::var("WEBSERV_TEST_PANIC").ok());
}

/// Panics when the request `target` asks for it at `point` (debug builds only).
#[inline(always)]
pub fn check(target: &str, point: Point) {
    #[cfg(debug_assertions)]
    if let Some(Some(marker)) = MARKER.get() {
        let name = match point {
            Point::Plan => "plan",
            Point::Upload => "upload",
            Point::Cgi => "cgi",
        };
        if target.contains(&format!("{marker}={name}")) {
            panic!("test panic at {name} for {target}");
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = (target, point);
}
