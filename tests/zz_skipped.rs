//! The last test target (cargo runs test targets in name order): lists the tests that did not
//! run in this `cargo test` and why (what `support::skip` recorded in
//! `target/debug/skipped-tests.txt`), then clears the list for the next run. Under CI no test
//! may skip for want of a tool (they fail instead), so the list holds only what no package
//! fixes. No harness: what it prints is not captured.

fn main() {
    let Some(file) = skip::record_file() else {
        return;
    };
    let Ok(text) = std::fs::read_to_string(&file) else {
        println!("\nskipped tests: none");
        return;
    };
    let mut lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    lines.sort_unstable();
    lines.dedup();
    if lines.is_empty() {
        println!("\nskipped tests: none");
    } else {
        println!("\nskipped tests ({}):", lines.len());
        for line in &lines {
            println!("  {line}");
        }
        println!("(install what they miss, see .ci/run; under CI a missing tool fails its test)");
    }
    let _ = std::fs::remove_file(&file);
}

#[path = "../src/testing.rs"]
#[allow(dead_code)]
mod skip;
