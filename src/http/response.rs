//! Responses as handlers describe them, and the serialisation of a response head.
//!
//! A handler returns a [`Response`]: status, its own header fields and a [`Body`]. The
//! connection adds what belongs to the connection (Date, Server, Connection, framing) when it
//! writes the head with [`write_head`].

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
}

impl Body {
    pub fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(bytes) => bytes.len() as u64,
            Body::File { len, .. } => *len,
            Body::Shared { len, .. } => *len as u64,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Handler-specific fields (Content-Type, ETag, Location, Allow, ...).
    pub headers: Vec<(Cow<'static, str>, String)>,
    pub body: Body,
    /// The connection must close after this response (for example: the request body was not
    /// read, so the next request cannot be found).
    pub close: bool,
}

impl Response {
    pub fn new(status: u16, body: Body) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body,
            close: false,
        }
    }

    pub fn with_header(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<String>,
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

/// Serialises a response head into `out`. `reason` defaults to the standard phrase.
pub fn write_head(
    out: &mut Vec<u8>,
    response: &Response,
    reason: &str,
    date: &str,
    framing: Framing,
    keep_alive: bool,
) {
    // By plain copies: core::fmt cost ~1,000 instructions per head here.
    out.extend_from_slice(b"HTTP/1.1 ");
    push_decimal(out, u64::from(response.status));
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\nServer: webserv\r\nDate: ");
    out.extend_from_slice(date.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in &response.headers {
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
    out.extend_from_slice(if keep_alive {
        b"Connection: keep-alive\r\n\r\n"
    } else {
        b"Connection: close\r\n\r\n"
    });
}

/// Appends `n` in decimal.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
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
            &response,
            "Not Found",
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
