//! Where a request body goes: nowhere (the answer is decided: the body is read and dropped so
//! the connection stays usable), an upload store, a spool file (a chunked body for a CGI script
//! or a FastCGI application, which need its length), or an upstream (streamed to a backend,
//! with backpressure).

use crate::cgi::Script;
use crate::fastcgi::upstream::Job;
use crate::handler::upload::Upload;
use std::fs::File;
use std::io::{self, Write};

pub(super) enum Sink {
    /// No body is read (there is none, or the answer closes the connection without it).
    None,
    /// Read and dropped: the response is decided and sent once the body is in.
    Discard,
    Upload(Box<Upload>),
    Spool(Box<Spool>),
    /// Into the source's upstream.
    Upstream,
    /// Read whole into memory before a proxied request is sent (`proxy_request_buffering on`,
    /// or a chunked body for an HTTP/1.0 backend): at most [`PROXY_SPOOL_LIMIT`] bytes.
    ProxySpool(Vec<u8>),
    /// Read and dropped after the response was sent: the rest of a body the answer did not
    /// need.
    Drop,
    /// Not read yet: the request waits (a `limit_req` delay) before its sink is known.
    Hold,
}

/// The most a proxied request body is read into memory before it is sent whole (larger ones
/// get 413: stream them with `proxy_http_version 1.1` and `proxy_request_buffering off`).
pub(super) const PROXY_SPOOL_LIMIT: usize = 1024 * 1024;

/// A chunked request body being written to a temporary file before the backend starts (it
/// must be told the body's length first).
pub(super) struct Spool {
    pub(super) file: File,
    pub(super) size: u64,
    pub(super) then: Then,
}

/// What runs on a spooled body.
pub(super) enum Then {
    Cgi(Box<Script>),
    FastCgi(Box<Job>),
}

impl Spool {
    /// An anonymous temporary file: unlinked at once, gone when closed.
    pub(super) fn new(then: Then) -> io::Result<Spool> {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(".webserv-body-{}-{n}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        std::fs::remove_file(&path)?;
        Ok(Spool {
            file,
            size: 0,
            then,
        })
    }

    pub(super) fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.write_all(data)?;
        self.size += data.len() as u64;
        Ok(())
    }
}
