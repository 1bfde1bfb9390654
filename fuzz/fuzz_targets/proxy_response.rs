//! Backend response heads, as the reverse proxy reads them: never a panic; whole or in three
//! pieces, the same answer; nothing in what the client is given can end a field early.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::proxy_response(data));
