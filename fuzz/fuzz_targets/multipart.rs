//! multipart/form-data bodies: never a panic; whole and three pieces agree; the parser's event
//! order and hold-back bound hold (checked in the driver).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::multipart(data));
