//! Replays the fuzzing corpus kept in the repository through the fuzz targets' own checks
//! (`fuzz/checks.rs`): every seed (`fuzz/seeds/TARGET/`) and every input that once made a
//! target fail (`fuzz/regressions/TARGET/`). The fuzzer itself is not run here (see
//! `fuzz/run.sh`); this keeps what it found fixed.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::Path;

/// A fuzz target's check: panics on a broken promise.
type Check = fn(&[u8]);

const TARGETS: [(&str, Check); 7] = [
    ("request_head", checks::request_head),
    ("chunked", checks::chunked),
    ("multipart", checks::multipart),
    ("cgi_headers", checks::cgi_headers),
    ("path_normalize", checks::path_normalize),
    ("config_parse", checks::config_parse),
    ("proxy_response", checks::proxy_response),
];

/// Runs `check` on every file of `fuzz/KIND/TARGET/`; returns how many there were.
fn replay(kind: &str, target: &str, check: Check) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    let mut count = 0;
    for entry in entries {
        let path = entry.expect("directory entry").path();
        let data = std::fs::read(&path).expect("readable corpus file");
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{} fails its check", path.display());
        count += 1;
    }
    count
}

#[test]
fn every_seed_passes_its_fuzz_target_checks() {
    for (target, check) in TARGETS {
        assert!(replay("seeds", target, check) > 0, "no seeds for {target}");
    }
}

#[test]
fn every_input_that_once_failed_a_fuzz_target_now_passes() {
    let total: usize = TARGETS
        .iter()
        .map(|(target, check)| replay("regressions", target, *check))
        .sum();
    assert!(total > 0, "the regressions directory is empty");
}
