//! Chunked bodies: never a panic; the whole input and the same input in three pieces decode to
//! the same body, end and rest (or the same error).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::chunked(data));
