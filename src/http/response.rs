//! Responses as handlers describe them, and the serialisation of an HTTP/1 response head.
//!
//! A handler returns a [`Response`]: status, its own header fields and a [`Body`]. An exchange
//! hands the protocol a [`Head`] (a handler's response split from its body, or a backend's
//! head); the protocol adds what belongs to the connection (Date, Server, Connection, framing)
//! when it writes the head, over HTTP/1 with [`write_head`].

use std::borrow::Cow;
use std::fs::File;
use std::sync::Arc;

/// What follows the head.
#[derive(Debug)]
pub enum Body {
    Empty,
    Bytes(Vec<u8>),
    /// `len` bytes of `file` from `offset`, sent with sendfile.
    File {
        file: File,
        offset: u64,
        len: u64,
    },
    /// `len` bytes of shared memory from `offset` (a cached file).
    Shared {
        data: Arc<[u8]>,
        offset: usize,
        len: usize,
    },
    /// `len` bytes from `offset` of the file `origin`, in that version, not opened yet (the
    /// worker's file cache knows it current, and keeps compressed variants of it). The
    /// exchange sends a variant instead, or opens the file before the head goes out (a
    /// [`Body::File`] then).
    Unopened {
        origin: Arc<FileOrigin>,
        offset: u64,
        len: u64,
    },
}

impl Body {
    pub fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(bytes) => bytes.len() as u64,
            Body::File { len, .. } => *len,
            Body::Shared { len, .. } => *len as u64,
            Body::Unopened { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A header field's value: a constant, a string made for this response, or one shared with a
/// cache entry (a cached file's type and validators: counted, not copied, per response).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Static(&'static str),
    Owned(String),
    Shared(Arc<str>),
}

impl Value {
    pub fn as_str(&self) -> &str {
        match self {
            Value::Static(s) => s,
            Value::Owned(s) => s,
            Value::Shared(s) => s,
        }
    }
}

impl std::ops::Deref for Value {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Owned(s)
    }
}

impl From<&'static str> for Value {
    fn from(s: &'static str) -> Value {
        Value::Static(s)
    }
}

impl From<Arc<str>> for Value {
    fn from(s: Arc<str>) -> Value {
        Value::Shared(s)
    }
}

impl From<&Arc<str>> for Value {
    fn from(s: &Arc<str>) -> Value {
        Value::Shared(Arc::clone(s))
    }
}

impl PartialEq<str> for Value {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Header fields: names (mostly constants) and values.
pub type Fields = Vec<(Cow<'static, str>, Value)>;

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Handler-specific fields (Content-Type, ETag, Location, Allow, ...).
    pub headers: Fields,
    pub body: Body,
    /// The connection must close after this response (for example: the request body was not
    /// read, so the next request cannot be found).
    pub close: bool,
    /// The file the body is, in its version (a static file's whole content, where compression
    /// on the fly is on): what a compressed variant of it is cached under.
    pub origin: Option<Arc<FileOrigin>>,
}

/// A file at a path, in one version: what a response body read from it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOrigin {
    pub path: std::path::PathBuf,
    pub version: FileVersion,
}

/// What tells two versions of a file apart: its identity, size and times (to the nanosecond).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileVersion {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
}

impl FileVersion {
    pub fn of(metadata: &std::fs::Metadata) -> FileVersion {
        use std::os::unix::fs::MetadataExt;
        FileVersion {
            dev: metadata.dev(),
            ino: metadata.ino(),
            size: metadata.len(),
            mtime: (metadata.mtime(), metadata.mtime_nsec()),
            ctime: (metadata.ctime(), metadata.ctime_nsec()),
        }
    }
}

impl Response {
    pub fn new(status: u16, body: Body) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body,
            close: false,
            origin: None,
        }
    }

    pub fn with_header(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<Value>,
    ) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// A small HTML body.
    pub fn html(status: u16, html: String) -> Response {
        Response::new(status, Body::Bytes(html.into_bytes()))
            .with_header("Content-Type", "text/html; charset=utf-8")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Response {
    /// The head and the body, apart: the head goes to the protocol, the body is pulled.
    pub fn into_parts(self) -> (Head, Body) {
        let head = Head {
            status: self.status,
            reason: None,
            headers: self.headers,
            length: Some(self.body.len()),
            close: self.close,
        };
        (head, self.body)
    }
}

/// A response head, protocol-neutral: what an exchange hands the protocol to frame and send.
#[derive(Debug)]
pub struct Head {
    pub status: u16,
    /// The reason phrase when it is not the standard one (a CGI script's own).
    pub reason: Option<String>,
    /// The exchange's fields (Content-Type, ETag, a backend's fields...): never the framing or
    /// connection fields, which are the protocol's.
    pub headers: Fields,
    /// The body's length, when known before the body is sent.
    pub length: Option<u64>,
    /// The connection must close after this response (the request body was not read).
    pub close: bool,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One piece of a response body, as the protocol pulls it from an exchange. Bytes and file
/// ranges stay the exchange's until the protocol says how many it took (`consume`); a later pull
/// returns the bytes not taken first, unchanged.
#[derive(Debug)]
pub enum Pull<'a> {
    Bytes(&'a [u8]),
    /// `len` bytes of `file` from `offset`: the protocol may send them with sendfile.
    File {
        file: &'a File,
        offset: u64,
        len: u64,
    },
    /// Nothing now: the exchange waits for its producer (a backend's fd), whose event will
    /// drive the connection again.
    Wait,
    /// The body is complete.
    End,
    /// The body cannot be completed (the backend failed in its middle): the protocol must
    /// not let it look complete (HTTP/1: no last chunk, and the connection closes).
    Abort,
}

/// Statuses that never carry a body or a Content-Length describing one (RFC 9110 §8.6, §15.4.5).
pub fn status_has_body(status: u16) -> bool {
    !(status < 200 || status == 204 || status == 304)
}

/// How the connection frames the body it is about to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length: n` (also sent for HEAD, describing the body not sent).
    Length(u64),
    Chunked,
    /// Neither: the body ends when the connection closes (HTTP/1.0 streaming), or there is none.
    None,
}

/// Serialises an HTTP/1.1 response head into `out`: the status line with `reason`, Server and
/// Date, the exchange's `headers`, the framing field and Connection.
pub fn write_head(
    out: &mut Vec<u8>,
    status: u16,
    reason: &str,
    headers: &[(Cow<'static, str>, Value)],
    date: &str,
    framing: Framing,
    keep_alive: bool,
) {
    // By plain copies: core::fmt cost ~1,000 instructions per head here.
    out.extend_from_slice(b"HTTP/1.1 ");
    push_decimal(out, u64::from(status));
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\nServer: webserv\r\nDate: ");
    out.extend_from_slice(date.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match framing {
        Framing::Length(len) => {
            out.extend_from_slice(b"Content-Length: ");
            push_decimal(out, len);
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        Framing::None => {}
    }
    out.extend_from_slice(if status == 101 {
        // A protocol switch (a proxied WebSocket): the connection becomes a tunnel.
        b"Connection: upgrade\r\n\r\n"
    } else if keep_alive {
        b"Connection: keep-alive\r\n\r\n"
    } else {
        b"Connection: close\r\n\r\n"
    });
}

/// Appends `n` in decimal.
pub fn push_decimal(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(decimal(n, &mut [0u8; 20]));
}

/// `n` in decimal digits, written at the end of `digits` (20 digits hold any u64).
pub fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &digits[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_lists_the_handler_fields_then_framing_and_connection() {
        let response = Response::html(404, "x".into());
        let mut out = Vec::new();
        write_head(
            &mut out,
            response.status,
            "Not Found",
            &response.headers,
            "D",
            Framing::Length(1),
            false,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 404 Not Found\r\nServer: webserv\r\nDate: D\r\n\
             Content-Type: text/html; charset=utf-8\r\nContent-Length: 1\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn decimals_are_written_whole() {
        for n in [0, 7, 10, 99, 100, 1024, 65_535, u64::MAX] {
            let mut out = b"x".to_vec();
            push_decimal(&mut out, n);
            assert_eq!(out, format!("x{n}").into_bytes());
        }
    }

    #[test]
    fn no_body_statuses() {
        assert!(!status_has_body(304));
        assert!(!status_has_body(204));
        assert!(!status_has_body(100));
        assert!(status_has_body(200));
        assert!(status_has_body(404));
    }
}
