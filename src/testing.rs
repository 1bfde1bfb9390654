//! Tests that need a tool this machine may not have (nginx, php-cgi, Chromium, pebble...).
//!
//! A test that cannot find its tool calls [`skip`]: under CI (the `CI` environment variable set,
//! as `.ci/run` sets it) that fails the test, since CI installs every tool and a test that
//! passes without running hides what was not exercised; elsewhere the skip is recorded in
//! `skipped-tests.txt` next to the test binaries (`target/debug/`), which the last test target
//! (`tests/zz_skipped.rs`) prints, so that a local `cargo test` ends with the list of what did not
//! run and why.
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

/// Records that `test` did not run for want of `missing` (a tool, with where it comes from);
/// under CI, fails instead.
pub fn skip(test: &str, missing: &str) {
    if required() {
        panic!("{test}: {missing} is missing, and CI runs every test (install it in .ci/run)");
    }
    eprintln!("note: {test} skipped: {missing} is missing");
    if let Some(file) = record_file()
        && let Ok(mut out) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
    {
        // One write per line: concurrent tests append whole lines.
        let _ = out.write_all(format!("{test}: {missing} is missing\n").as_bytes());
    }
}
