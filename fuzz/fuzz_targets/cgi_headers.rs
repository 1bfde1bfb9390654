//! CGI header blocks: never a panic; any prefix of the script's output either needs more bytes
//! or already gives the answer the whole gives (lines are judged as soon as they are complete).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::cgi_headers(data));
