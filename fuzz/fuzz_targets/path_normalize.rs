//! Path normalisation: never a panic; a normalised path starts with `/`, has no `.`, `..` or
//! empty segment, joined to a root never leaves it, and is a fixed point of encode + normalise.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::path_normalize(data));
