//! The configuration: never a panic; an error points inside the text (line and column within
//! bounds) and prints as `PATH:LINE:COL: message`; a warning likewise.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::config_parse(data));
