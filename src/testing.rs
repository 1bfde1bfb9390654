//! Tests that need something this machine may not have (nginx, php-cgi, Chromium, pebble...).
//!
//! A test that cannot find its tool calls [`missing`]: under CI (the `CI` environment variable
//! set, as `.ci/run` sets it) that fails the test, since CI installs every tool and a test that
//! passes without running hides what was not exercised; elsewhere the skip is recorded in
//! `skipped-tests.txt` next to the test binaries (`target/debug/`), which the last test target
//! (`tests/zz_skipped.rs`) prints and clears, so that a local `cargo test` ends with the list of
//! what did not run and why. A test that cannot run for a reason no package fixes (no IPv6
//! loopback in this container) calls [`unavailable`]: recorded, and listed, under CI too.
//!
//! Shared by the unit tests (`crate::testing`) and the integration tests (`support::skip`).

use std::io::Write;
use std::path::PathBuf;

/// Where skips are recorded: `skipped-tests.txt` in the directory of the test binaries.
pub fn record_file() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let mut dir = exe.parent()?.to_path_buf();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    Some(dir.join("skipped-tests.txt"))
}

/// Whether this run must exercise everything (CI).
pub fn required() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// The running test's name (libtest names each test's thread after it).
fn test_name() -> String {
    std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .unwrap_or("a test")
        .to_string()
}

/// The running test does not run for want of `tool` (with where it comes from: "nginx (Debian
/// package nginx)"): under CI that fails the test; elsewhere it is recorded.
pub fn missing(tool: &str) {
    let test = test_name();
    if required() {
        panic!("{test}: {tool} is missing, and CI runs every test (install it in .ci/run)");
    }
    record(&test, &format!("{tool} is missing"));
}

/// The running test cannot run here for a reason no installation fixes: recorded (and listed
/// at the end of the run), under CI too.
pub fn unavailable(why: &str) {
    record(&test_name(), why);
}

fn record(test: &str, why: &str) {
    eprintln!("note: {test} skipped: {why}");
    if let Some(file) = record_file()
        && let Ok(mut out) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
    {
        // One write per line: concurrent tests append whole lines.
        let _ = out.write_all(format!("{test}: {why}\n").as_bytes());
    }
}
