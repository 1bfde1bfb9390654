//! HTTP protocol, pure: no I/O happens here.

pub mod chunked;
pub mod multipart;
pub mod path;
pub mod request;
pub mod response;
