//! Where a request body goes: nowhere (the answer is decided: the body is read and dropped so
//! the connection stays usable), an upload store, a spool file (a chunked body for a CGI script
//! or a FastCGI application, which need its length; a proxied body read whole, in memory while
//! small), or an upstream (streamed to a backend, with backpressure).

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
    /// Read whole before a proxied request is sent (`proxy_request_buffering on`, or a chunked
    /// body for an HTTP/1.0 backend, which needs its length).
    ProxySpool(ProxySpool),
    /// Read and dropped after the response was sent: the rest of a body the answer did not
    /// need.
    Drop,
    /// Not read yet: the request waits (a `limit_req` delay) before its sink is known.
    Hold,
}

/// The most of a proxied request body read whole that is kept in memory (nginx's
/// `client_body_buffer_size`, 16k on 64-bit platforms): a longer body goes to a temporary
/// file (nginx's `client_body_temp_path`), so that memory does not grow with body size.
pub(super) const PROXY_SPOOL_MEMORY: usize = 16 * 1024;

/// A proxied request body read whole before it is sent: in memory while it is small, then in
/// an anonymous temporary file.
#[derive(Default)]
pub(super) struct ProxySpool {
    memory: Vec<u8>,
    file: Option<(File, u64)>,
}

impl ProxySpool {
    pub(super) fn write(&mut self, data: &[u8]) -> io::Result<()> {
        if self.file.is_none() && self.memory.len() + data.len() > PROXY_SPOOL_MEMORY {
            let mut file = anonymous_file()?;
            file.write_all(&self.memory)?;
            self.file = Some((file, self.memory.len() as u64));
            self.memory = Vec::new();
        }
        match &mut self.file {
            Some((file, size)) => {
                file.write_all(data)?;
                *size += data.len() as u64;
            }
            None => self.memory.extend_from_slice(data),
        }
        Ok(())
    }

    /// The body read.
    pub(super) fn into_body(self) -> crate::proxy::pass::SpooledBody {
        match self.file {
            Some((file, size)) => crate::proxy::pass::SpooledBody::File(file, size),
            None => crate::proxy::pass::SpooledBody::Memory(self.memory),
        }
    }
}

/// A temporary file that has no name (unlinked at once: gone when closed, never left behind).
fn anonymous_file() -> io::Result<File> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(".webserv-body-{}-{n}", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

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
        Ok(Spool {
            file: anonymous_file()?,
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
