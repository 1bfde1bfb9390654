//! The HTTP client side: raw connections with a read buffer ([`Conn`]) for keep-alive and
//! pipelining, and a strict HTTP/1.x response parser (Content-Length, chunked, close-delimited).

use std::collections::HashSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Default read timeout of test sockets: long enough for a loaded machine, short enough that
/// a hang fails the test instead of the whole suite.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to `addr`, writes `request`, reads until EOF (or the read timeout) and returns what
/// was read.
pub fn raw(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut conn = Conn::connect(addr);
    conn.send(request);
    conn.read_to_end()
}

/// A client connection with a read buffer, for keep-alive and pipelining tests.
pub struct Conn {
    pub stream: TcpStream,
    /// Received bytes not consumed yet.
    pub(super) buf: Vec<u8>,
    /// The server closed (or reset) the connection.
    pub(super) eof: bool,
}

impl Conn {
    pub fn connect(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            stream,
            buf: Vec::new(),
            eof: false,
        }
    }

    /// Connects to an IPv4 `addr` from the local address `from` (another loopback address such
    /// as 127.0.0.2, so that the server sees a second client address).
    pub fn connect_from(from: std::net::Ipv4Addr, addr: SocketAddr) -> Conn {
        use std::os::fd::FromRawFd;
        let sockaddr = |ip: std::net::Ipv4Addr, port: u16| libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(ip).to_be(),
            },
            sin_zero: [0; 8],
        };
        let SocketAddr::V4(to) = addr else {
            panic!("connect_from needs an IPv4 address, not {addr}");
        };
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        // SAFETY: a new socket; bind and connect get pointers to live sockaddr_in values of the
        // given length; the fd is owned by the TcpStream made from it and by nothing else.
        let stream = unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            assert!(fd >= 0, "socket");
            let stream = TcpStream::from_raw_fd(fd);
            let local = sockaddr(from, 0);
            let rc = libc::bind(fd, (&local as *const libc::sockaddr_in).cast(), len);
            assert_eq!(rc, 0, "bind {from}: {}", std::io::Error::last_os_error());
            let remote = sockaddr(*to.ip(), to.port());
            let rc = libc::connect(fd, (&remote as *const libc::sockaddr_in).cast(), len);
            assert_eq!(rc, 0, "connect {addr}: {}", std::io::Error::last_os_error());
            stream
        };
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            stream,
            buf: Vec::new(),
            eof: false,
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write request");
    }

    /// Writes without panicking (the server may already have closed).
    pub fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Reads more bytes into the buffer (true: call again, maybe with nothing new after an
    /// interrupted read); false on EOF, panics on timeout.
    pub(super) fn fill(&mut self) -> bool {
        if self.eof {
            return false;
        }
        let mut chunk = [0u8; 65536];
        match self.stream.read(&mut chunk) {
            Ok(0) => {
                self.eof = true;
                false
            }
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                self.eof = true;
                false
            }
            // A read with a timeout stopped and continued (SIGSTOP/SIGCONT) says EINTR: again.
            Err(e) if e.kind() == ErrorKind::Interrupted => true,
            Err(e) => panic!(
                "read failed ({e}); received so far: {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
        }
    }

    fn read_parsed(&mut self, no_body: bool) -> Response {
        loop {
            match parse_response(&self.buf, no_body, self.eof) {
                Parse::Complete(response, used) => {
                    self.buf.drain(..used);
                    return response;
                }
                Parse::Invalid(why) => panic!(
                    "invalid response ({why}): {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
                Parse::Partial => {
                    if !self.fill() {
                        if let Parse::Complete(response, used) =
                            parse_response(&self.buf, no_body, true)
                        {
                            self.buf.drain(..used);
                            return response;
                        }
                        panic!(
                            "connection closed before a complete response; received: {:?}",
                            String::from_utf8_lossy(&self.buf)
                        );
                    }
                }
            }
        }
    }

    /// Reads one complete response (interim 1xx responses included, as responses).
    pub fn read_response(&mut self) -> Response {
        self.read_parsed(false)
    }

    /// Reads one response to a HEAD request: head only, whatever Content-Length says.
    pub fn read_head_response(&mut self) -> Response {
        self.read_parsed(true)
    }

    /// Reads until EOF (or the read timeout) and returns everything not consumed yet.
    pub fn read_to_end(&mut self) -> Vec<u8> {
        let mut chunk = [0u8; 16384];
        while !self.eof {
            match self.stream.read(&mut chunk) {
                Ok(0) => self.eof = true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => self.eof = true,
                Err(_) => break,
            }
        }
        std::mem::take(&mut self.buf)
    }

    /// True when the server closes the connection within `timeout` (EOF or reset) with no
    /// further bytes; any bytes received are returned as `Err`.
    pub fn closed_within(&mut self, timeout: Duration) -> Result<bool, Vec<u8>> {
        self.stream.set_read_timeout(Some(timeout)).unwrap();
        let mut chunk = [0u8; 4096];
        let result = if self.eof {
            Ok(true)
        } else {
            match self.stream.read(&mut chunk) {
                Ok(0) => Ok(true),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    Err(std::mem::take(&mut self.buf))
                }
                Err(e) if e.kind() == ErrorKind::ConnectionReset => Ok(true),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    Ok(false)
                }
                Err(e) => panic!("read: {e}"),
            }
        };
        self.stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        result
    }

    /// Bytes received but not consumed by a parsed response.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }
}

/// SO_LINGER {on, 0}: closing the socket sends RST instead of FIN.
pub fn set_linger_zero(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a valid fd with a pointer to a live linger of the given size.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt(SO_LINGER)");
}

/// Closes `stream` with a reset.
pub fn reset(stream: TcpStream) {
    set_linger_zero(&stream);
    drop(stream);
}

/// Shrinks the receive buffer (set before data arrives), so a slow reader really is slow.
pub fn set_small_receive_buffer(stream: &TcpStream, bytes: i32) {
    // SAFETY: setsockopt on a valid fd with a pointer to a live c_int.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &bytes as *const i32 as *const libc::c_void,
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt(SO_RCVBUF)");
}

// ---------------------------------------------------------------------------------------------
// Responses

#[derive(Debug, Clone)]
pub struct Response {
    pub version: String,
    pub status: u16,
    pub reason: String,
    /// In received order; names as received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// True when the body was chunked.
    pub chunked: bool,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.header(name).is_some()
    }

    /// All values of `name`.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// True when the body is a complete HTML document.
    pub fn is_html_page(&self) -> bool {
        let text = self.text();
        let lower = text.to_ascii_lowercase();
        (lower.trim_start().starts_with("<!doctype html") || lower.contains("<html"))
            && lower.contains("</html>")
    }

    /// True when the server announced it will close the connection.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .map(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
            .unwrap_or(false)
    }
}

pub enum Parse {
    Complete(Response, usize),
    Partial,
    Invalid(String),
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses a response head (status line and header lines, without the blank line) into a
/// response with an empty body; `Err` says what is wrong with it.
pub fn parse_head(head: &str) -> Result<Response, String> {
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("").to_string();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("bad status line {status_line:?}"));
    }
    let Some(status) = parts.next().and_then(|s| s.parse::<u16>().ok()) else {
        return Err(format!("bad status line {status_line:?}"));
    };
    let reason = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("bad header line {line:?}"));
        };
        if name.is_empty() || name.ends_with(' ') {
            return Err(format!("bad header name {line:?}"));
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    Ok(Response {
        version,
        status,
        reason,
        headers,
        body: Vec::new(),
        chunked: false,
    })
}

/// Parses one response from the start of `bytes`. `no_body`: the response answers a HEAD.
/// `eof`: no more bytes will come (a response delimited by close is then complete).
pub fn parse_response(bytes: &[u8], no_body: bool, eof: bool) -> Parse {
    let Some(head_end) = find(bytes, b"\r\n\r\n") else {
        return Parse::Partial;
    };
    let head = match std::str::from_utf8(&bytes[..head_end]) {
        Ok(head) => head,
        Err(_) => return Parse::Invalid("head is not UTF-8".into()),
    };
    let mut response = match parse_head(head) {
        Ok(response) => response,
        Err(why) => return Parse::Invalid(why),
    };
    let status = response.status;
    let body_start = head_end + 4;
    if no_body || status < 200 || status == 204 || status == 304 {
        return Parse::Complete(response, body_start);
    }
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        response.chunked = true;
        let mut pos = body_start;
        loop {
            let Some(line_len) = find(&bytes[pos..], b"\r\n") else {
                return Parse::Partial;
            };
            let line = String::from_utf8_lossy(&bytes[pos..pos + line_len]).into_owned();
            let size_text = line.split(';').next().unwrap_or("").trim();
            let Ok(size) = usize::from_str_radix(size_text, 16) else {
                return Parse::Invalid(format!("bad chunk size line {line:?}"));
            };
            pos += line_len + 2;
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    let Some(len) = find(&bytes[pos..], b"\r\n") else {
                        return Parse::Partial;
                    };
                    pos += len + 2;
                    if len == 0 {
                        return Parse::Complete(response, pos);
                    }
                }
            }
            if bytes.len() < pos + size + 2 {
                return Parse::Partial;
            }
            response.body.extend_from_slice(&bytes[pos..pos + size]);
            if &bytes[pos + size..pos + size + 2] != b"\r\n" {
                return Parse::Invalid("chunk not followed by CRLF".into());
            }
            pos += size + 2;
        }
    }
    if let Some(length) = response.header("content-length") {
        let Ok(length) = length.parse::<usize>() else {
            return Parse::Invalid(format!("bad Content-Length {length:?}"));
        };
        if bytes.len() < body_start + length {
            return Parse::Partial;
        }
        response.body = bytes[body_start..body_start + length].to_vec();
        return Parse::Complete(response, body_start + length);
    }
    // Delimited by close.
    if eof {
        response.body = bytes[body_start..].to_vec();
        Parse::Complete(response, bytes.len())
    } else {
        Parse::Partial
    }
}

/// Parses every response in `bytes` (a whole stream read to EOF). `head_flags[i]` says whether
/// the i-th response answers a HEAD (missing entries: false).
pub fn parse_all(bytes: &[u8], head_flags: &[bool]) -> Vec<Response> {
    let mut responses = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let no_body = head_flags.get(responses.len()).copied().unwrap_or(false);
        match parse_response(rest, no_body, true) {
            Parse::Complete(response, used) => {
                responses.push(response);
                rest = &rest[used..];
            }
            Parse::Partial => panic!(
                "truncated response after {} complete: {:?}",
                responses.len(),
                String::from_utf8_lossy(rest)
            ),
            Parse::Invalid(why) => {
                panic!(
                    "invalid response ({why}): {:?}",
                    String::from_utf8_lossy(rest)
                )
            }
        }
    }
    responses
}

/// Parses exactly one response from a whole stream; panics when there are more or none.
pub fn parse_one(bytes: &[u8]) -> Response {
    let mut all = parse_all(bytes, &[]);
    assert_eq!(
        all.len(),
        1,
        "expected one response, got {}: {:?}",
        all.len(),
        String::from_utf8_lossy(bytes)
    );
    all.pop().unwrap()
}

/// A distinct set, for comparing header lists like `Allow`.
pub fn token_set(value: &str) -> HashSet<String> {
    value
        .split(',')
        .map(|t| t.trim().to_ascii_uppercase())
        .filter(|t| !t.is_empty())
        .collect()
}
