//! Request heads: never a panic; a head arriving whole or in three pieces (read the way the
//! connection reads, with `worth_parsing`) gets the same answer; a parsed request keeps
//! the promises of `Request` (normalised path, HTTP/1.0 or 1.1).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::request_head(data));
