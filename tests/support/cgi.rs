//! The CGI tests' client: reads a response head, then its body piece by piece as it streams
//! (checking the framing), so tests can watch a script's output arrive; and script files.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use super::http::{Conn, READ_TIMEOUT as IO_TIMEOUT, parse_head};
use super::server::Server;

/// Writes `contents` to `path` (creating its directory), mode 0755 or 0644.
pub fn write_file(path: &Path, contents: impl AsRef<[u8]>, executable: bool) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create dir");
    }
    std::fs::write(path, contents).expect("write file");
    let mode = if executable { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

impl Server {
    /// A streaming client connected to the first listener.
    pub fn client(&self) -> Client {
        Client::connect(self.port())
    }
}

/// A response head.
#[derive(Debug, Clone)]
pub struct Head {
    pub version: String,
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// How the body is delimited (RFC 9112 §6.3), for a response to a request that was `HEAD`
    /// or not.
    pub fn framing(&self, head_request: bool) -> Framing {
        if head_request || self.status / 100 == 1 || self.status == 204 || self.status == 304 {
            return Framing::Empty;
        }
        if let Some(te) = self.header("Transfer-Encoding") {
            assert!(
                te.eq_ignore_ascii_case("chunked"),
                "unexpected Transfer-Encoding {te}"
            );
            assert!(
                self.header("Content-Length").is_none(),
                "both Content-Length and Transfer-Encoding"
            );
            return Framing::Chunked;
        }
        if let Some(length) = self.header("Content-Length") {
            return Framing::Length(length.parse().expect("Content-Length"));
        }
        Framing::Close
    }

    /// Whether the server said it will close the connection.
    pub fn closes(&self) -> bool {
        self.header("Connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Empty,
    Length(u64),
    Chunked,
    Close,
}

#[derive(Debug)]
pub struct Response {
    pub head: Head,
    pub body: Vec<u8>,
    pub framing: Framing,
    /// The body ended as its framing says (false: the connection closed before).
    pub complete: bool,
}

impl Response {
    pub fn status(&self) -> u16 {
        self.head.status
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Where a body being read stands.
#[derive(Debug)]
pub struct BodyReader {
    pub framing: Framing,
    left: u64,
    /// The CRLF after a chunk's data is still to be read.
    chunk_crlf: bool,
    pub done: bool,
    pub complete: bool,
}

/// A raw HTTP/1.1 connection that reads bodies as they stream; the shared [`Conn`] underneath
/// (its buffer, `stream` and `shutdown_write` included).
pub struct Client {
    conn: Conn,
}

impl Deref for Client {
    type Target = Conn;

    fn deref(&self) -> &Conn {
        &self.conn
    }
}

impl DerefMut for Client {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.conn
    }
}

impl Client {
    pub fn connect(port: u16) -> Client {
        Client {
            conn: Conn::connect(SocketAddr::from(([127, 0, 0, 1], port))),
        }
    }

    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.conn.send(bytes.as_ref());
    }

    /// Sends a GET with only a Host header and reads the response.
    pub fn get(&mut self, target: &str) -> Response {
        self.send(format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n"));
        self.response(false)
    }

    /// Reads a line ending in CRLF (returned without it); None at end of stream.
    fn line(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(at) = self.conn.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.conn.buf[..at].to_vec();
                self.conn.buf.drain(..at + 2);
                return Some(line);
            }
            if !self.conn.fill() {
                return None;
            }
        }
    }

    /// Reads a response head (a 100 Continue head included, if that is what comes).
    pub fn head(&mut self) -> Head {
        self.try_head()
            .expect("connection closed before a response head")
    }

    /// Reads a response head; None if the connection closed first.
    pub fn try_head(&mut self) -> Option<Head> {
        let mut lines = vec![String::from_utf8(self.line()?).expect("status line is UTF-8")];
        loop {
            let line = self
                .line()
                .expect("connection closed inside a response head");
            if line.is_empty() {
                break;
            }
            lines.push(String::from_utf8(line).expect("header is UTF-8"));
        }
        let head = parse_head(&lines.join("\r\n")).unwrap_or_else(|why| panic!("{why}"));
        Some(Head {
            version: head.version,
            status: head.status,
            reason: head.reason,
            headers: head.headers,
        })
    }

    pub fn body_reader(&self, head: &Head, head_request: bool) -> BodyReader {
        let framing = head.framing(head_request);
        BodyReader {
            framing,
            left: match framing {
                Framing::Length(n) => n,
                _ => 0,
            },
            chunk_crlf: false,
            done: false,
            complete: false,
        }
    }

    /// Takes up to `max` buffered body bytes, reading from the socket only when nothing is
    /// buffered. None when the body is over (see `reader.complete`).
    pub fn body_part(&mut self, reader: &mut BodyReader, max: usize) -> Option<Vec<u8>> {
        if reader.done {
            return None;
        }
        let finish = |reader: &mut BodyReader, complete: bool| {
            reader.done = true;
            reader.complete = complete;
            None
        };
        match reader.framing {
            Framing::Empty | Framing::Length(0) => finish(reader, true),
            Framing::Length(_) => {
                if self.conn.buf.is_empty() && !self.conn.fill() {
                    return finish(reader, false);
                }
                let take = (reader.left.min(self.conn.buf.len() as u64) as usize).min(max);
                reader.left -= take as u64;
                if reader.left == 0 {
                    reader.framing = Framing::Length(0);
                }
                Some(self.take(take))
            }
            Framing::Close => {
                if self.conn.buf.is_empty() && !self.conn.fill() {
                    return finish(reader, true);
                }
                let take = self.conn.buf.len().min(max);
                Some(self.take(take))
            }
            Framing::Chunked => {
                if reader.left == 0 {
                    if reader.chunk_crlf {
                        match self.line() {
                            Some(line) => assert!(line.is_empty(), "no CRLF after chunk data"),
                            None => return finish(reader, false),
                        }
                        reader.chunk_crlf = false;
                    }
                    let Some(line) = self.line() else {
                        return finish(reader, false);
                    };
                    let line = String::from_utf8(line).expect("chunk size line");
                    let size = line.split(';').next().unwrap().trim();
                    let size = u64::from_str_radix(size, 16)
                        .unwrap_or_else(|_| panic!("bad chunk size line {line:?}"));
                    if size == 0 {
                        loop {
                            match self.line() {
                                Some(trailer) if trailer.is_empty() => return finish(reader, true),
                                Some(_) => {}
                                None => return finish(reader, false),
                            }
                        }
                    }
                    reader.left = size;
                }
                if self.conn.buf.is_empty() && !self.conn.fill() {
                    return finish(reader, false);
                }
                let take = (reader.left.min(self.conn.buf.len() as u64) as usize).min(max);
                reader.left -= take as u64;
                if reader.left == 0 {
                    reader.chunk_crlf = true;
                }
                Some(self.take(take))
            }
        }
    }

    /// The first `n` buffered bytes.
    fn take(&mut self, n: usize) -> Vec<u8> {
        if n == self.conn.buf.len() {
            return std::mem::take(&mut self.conn.buf);
        }
        let part = self.conn.buf[..n].to_vec();
        self.conn.buf.drain(..n);
        part
    }

    /// Reads the rest of a body.
    pub fn body(&mut self, reader: &mut BodyReader) -> Vec<u8> {
        let mut body = Vec::new();
        while let Some(part) = self.body_part(reader, usize::MAX) {
            body.extend_from_slice(&part);
        }
        body
    }

    /// Reads a whole response (skipping 1xx interim responses).
    pub fn response(&mut self, head_request: bool) -> Response {
        let mut head = self.head();
        while head.status / 100 == 1 {
            head = self.head();
        }
        let framing = head.framing(head_request);
        let mut reader = self.body_reader(&head, head_request);
        let body = self.body(&mut reader);
        Response {
            head,
            body,
            framing,
            complete: reader.complete,
        }
    }

    /// Whether the server closes the connection within `timeout` (nothing more arrives).
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        self.conn.stream.set_read_timeout(Some(timeout)).unwrap();
        let mut extra = [0u8; 1024];
        let closed = loop {
            if !self.conn.buf.is_empty() {
                break false;
            }
            match self.conn.stream.read(&mut extra) {
                Ok(0) => break true,
                Ok(n) => self.conn.buf.extend_from_slice(&extra[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
                Err(_) => break false,
            }
        };
        self.conn.stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        closed
    }

    /// Waits up to `timeout` for at least `n` bytes to be buffered; returns whether they came.
    pub fn wait_for_bytes(&mut self, n: usize, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        while self.conn.buf.len() < n {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.conn.stream.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 4096];
            match self.conn.stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(k) => self.conn.buf.extend_from_slice(&chunk[..k]),
                Err(_) => break,
            }
        }
        self.conn.stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        self.conn.buf.len() >= n
    }
}

/// Sends `body` from another thread while the caller reads (a script that echoes its input
/// would otherwise deadlock a client that writes everything before reading). Write errors are
/// ignored: the server may close early on purpose.
pub fn send_in_background(client: &Client, body: Vec<u8>) -> thread::JoinHandle<()> {
    let mut stream = client.stream.try_clone().expect("clone stream");
    thread::spawn(move || {
        let _ = stream.write_all(&body);
    })
}

/// The CGI test scripts: (path under www, contents, executable). Run through their
/// interpreter by `cgi .EXT INTERPRETER` (tests/cgi.rs) or, with a `#!` line added, by fcgiwrap
/// (tests/fcgiwrap.rs).
pub const SCRIPTS: &[(&str, &str, bool)] = &[
    (
        "cgi-bin/env.py",
        r#"import json, os, sys
sys.stdout.write("Content-Type: text/plain\r\n\r\n")
for name, value in sorted(os.environ.items()):
    print(f"{name}={value}")
print("@cwd=" + os.getcwd())
print("@argv=" + json.dumps(sys.argv))
"#,
        false,
    ),
    (
        "cgi-bin/echo.sh",
        "printf 'Content-Type: application/octet-stream\\nX-Content-Length: %s\\n\\n' \"${CONTENT_LENGTH-unset}\"\nexec cat\n",
        false,
    ),
    (
        "cgi-bin/q.sh",
        "case \"$QUERY_STRING\" in slow*) sleep 0.3 ;; esac\nprintf 'Content-Type: text/plain\\n\\n%s' \"$QUERY_STRING\"\n",
        false,
    ),
    (
        "cgi-bin/status.sh",
        "printf 'Status: 404 Not Found\\nContent-Type: text/plain\\n\\nnothing here\\n'\n",
        false,
    ),
    (
        "cgi-bin/redirect.sh",
        "printf 'Location: /x\\n\\n'\n",
        false,
    ),
    (
        "cgi-bin/length.sh",
        "printf 'Content-Type: text/plain\\nContent-Length: 5\\n\\nhello'\n",
        false,
    ),
    ("cgi-bin/silent.sh", "exit 0\n", false),
    (
        "cgi-bin/invalid.sh",
        "printf 'this is not a header\\n\\nbody\\n'\n",
        false,
    ),
    (
        "cgi-bin/huge-head.sh",
        "printf 'Content-Type: text/plain\\nX-Big: '\nhead -c 40000 /dev/zero | tr '\\0' a\nprintf '\\n\\nbody'\n",
        false,
    ),
    ("cgi-bin/app.nope", "never run\n", false),
    (
        "cgi-bin/direct.bin",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nrun directly\\n'\n",
        true,
    ),
    (
        "cgi-bin/not-executable.bin",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nshould not run\\n'\n",
        false,
    ),
    // Writes its pid to the file named by the query string (in its own directory), then
    // sleeps without printing anything.
    (
        "cgi-bin/sleeper.sh",
        "echo $$ > \"$QUERY_STRING\"\nexec sleep 60\n",
        false,
    ),
    (
        "long-bin/sleeper.sh",
        "echo $$ > \"$QUERY_STRING\"\nexec sleep 60\n",
        false,
    ),
    (
        "cgi-bin/forever.sh",
        "echo $$ > \"$QUERY_STRING\"\nprintf 'Content-Type: text/plain\\n\\n'\nexec yes 'all work and no play'\n",
        false,
    ),
    (
        "cgi-bin/dies.sh",
        "printf 'Content-Type: text/plain\\n\\npartial output\\n'\nkill -9 $$\n",
        false,
    ),
    (
        "cgi-bin/passthrough.sh",
        "printf 'Content-Type: text/plain\\r\\nConnection: close\\r\\nTransfer-Encoding: chunked\\r\\nKeep-Alive: timeout=1\\r\\nUpgrade: h2c\\r\\nX-Custom: yes\\r\\nSet-Cookie: a=1\\r\\nSet-Cookie: b=2\\r\\n\\r\\npassed'\n",
        false,
    ),
    (
        "cgi-bin/head.sh",
        ": > \"$QUERY_STRING\"\nprintf 'Content-Type: text/plain\\nX-Method: %s\\n\\nbody that HEAD must not show\\n' \"$REQUEST_METHOD\"\n",
        false,
    ),
    (
        "cgi-bin/fds.py",
        r#"import os
fds = {}
for name in os.listdir("/proc/self/fd"):
    try:
        fds[int(name)] = os.readlink(f"/proc/self/fd/{name}")
    except OSError:
        pass  # the directory listing's own fd, closed by now
print("Content-Type: text/plain\n")
for fd, target in sorted(fds.items()):
    print(fd, target)
"#,
        false,
    ),
    (
        "cgi-bin/signals.sh",
        "printf 'Content-Type: text/plain\\n\\n'\nexec grep -E '^Sig(Blk|Ign):' /proc/self/status\n",
        false,
    ),
    (
        "cgi-bin/stderr.sh",
        "echo 'complaint from stderr.sh: marker-5150' >&2\nprintf 'Content-Type: text/plain\\n\\nok\\n'\n",
        false,
    ),
    (
        "cgi-bin/ignores-body.sh",
        "printf 'Content-Type: text/plain\\n\\nyour body was ignored\\n'\n",
        false,
    ),
    // Exits at once, but a background child keeps its stdout open for 1.5 s.
    (
        "cgi-bin/background.sh",
        "printf 'Content-Type: text/plain\\n\\nhi\\n'\nsleep 1.5 &\n",
        false,
    ),
    (
        "cgi-bin/no-content.sh",
        "printf 'Status: 204 No Content\\n\\n'\n",
        false,
    ),
    (
        "cgi-bin/bad-status.sh",
        "printf 'Status: abc\\nContent-Type: text/plain\\n\\nbody'\n",
        false,
    ),
    (
        "cgi-bin/too-long.sh",
        "printf 'Content-Type: text/plain\\nContent-Length: 3\\n\\nhello'\n",
        false,
    ),
    (
        "cgi-bin/too-short.sh",
        "printf 'Content-Type: text/plain\\nContent-Length: 10\\n\\nhello'\n",
        false,
    ),
    (
        "cgi-bin/slow-head.sh",
        "printf 'Content-Type: text/plain\\n'\nsleep 0.2\nprintf 'X-Late: yes\\n'\nsleep 0.2\nprintf '\\nbody'\n",
        false,
    ),
    // Starts its body, then goes silent (pid to the file named by the query string).
    (
        "cgi-bin/stalls.sh",
        "echo $$ > \"$QUERY_STRING\"\nprintf 'Content-Type: text/plain\\n\\nstarted\\n'\nexec sleep 60\n",
        false,
    ),
    // A complete response, stdout closed, then 3 s more work before it exits.
    (
        "cgi-bin/closes-early.sh",
        "printf 'Content-Type: text/plain\\n\\ndone\\n'\nexec >&-\nexec sleep 3\n",
        false,
    ),
    (
        "cgi-bin/hello.php",
        "<?php\nheader('X-Test: php');\necho 'Hello from PHP, method ', $_SERVER['REQUEST_METHOD'], ', name ', htmlspecialchars($_GET['name'] ?? 'nobody'), \"\\n\";\n",
        false,
    ),
    (
        "long-bin/stream.sh",
        "printf 'Content-Type: text/plain\\n\\n'\necho first\nsleep 2\necho second\n",
        false,
    ),
    // 50 MiB of 64-byte records: 15 decimal digits (the record number), 48 dots, LF.
    (
        "long-bin/big.py",
        r#"import sys
out = sys.stdout.buffer
out.write(b"Content-Type: application/octet-stream\r\n\r\n")
FILL = b"." * 48
RECORDS = 50 * 1024 * 1024 // 64
BATCH = 1024
for start in range(0, RECORDS, BATCH):
    out.write(b"".join(b"%015d%s\n" % (i, FILL) for i in range(start, start + BATCH)))
out.flush()
"#,
        false,
    ),
];
