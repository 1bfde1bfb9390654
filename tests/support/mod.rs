//! Shared helpers for the integration tests: a temporary directory, a running `webserv` child
//! process bound to free ports, raw TCP exchanges and a small HTTP/1.x response parser.
//!
//! Every server is started from its own temporary directory holding `webserv.conf` and the
//! files the test asks for; configs use `listen 127.0.0.1:0;` and the real ports are read from
//! the server's `listening on` lines on stderr. Dropping a [`Server`] sends SIGTERM, waits,
//! escalates to SIGKILL, and removes the directory.

#![allow(dead_code)]

use std::collections::HashSet;
use std::fs;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a server may take to print its listening lines (the machine is shared and busy).
pub const START_TIMEOUT: Duration = Duration::from_secs(15);
/// Default read timeout of test sockets: long enough for a loaded machine, short enough that
/// a hang fails the test instead of the whole suite.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_webserv")
}

// ---------------------------------------------------------------------------------------------
// Temporary directories

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new() -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "webserv-test-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            nanos
        ));
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `contents` at `relative` (parents created). A name ending in `/` makes a directory.
    pub fn write(&self, relative: &str, contents: &[u8]) -> PathBuf {
        let path = self.path.join(relative);
        if relative.ends_with('/') {
            fs::create_dir_all(&path).expect("create dir");
        } else {
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).expect("create parent dir");
            }
            fs::write(&path, contents).expect("write file");
        }
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------------------------------------
// The server process

/// A running `webserv`. Killed (SIGTERM, then SIGKILL) and cleaned up on drop.
pub struct Server {
    child: Option<Child>,
    /// Listening addresses, in the order the server printed them (listen order).
    pub addrs: Vec<SocketAddr>,
    stderr: Arc<Mutex<String>>,
    // Declared last: dropped after the child is gone.
    pub dir: TempDir,
}

/// The distinct `listen` arguments of a config text, in order: the number of listening lines a
/// server prints for it (the server binds each distinct address once).
pub fn listen_addresses(config: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for line in config.lines() {
        let line = line.split('#').next().unwrap_or("");
        let tokens: Vec<&str> = line
            .split(|c: char| c.is_whitespace() || c == ';' || c == '{' || c == '}')
            .filter(|t| !t.is_empty())
            .collect();
        for pair in tokens.windows(2) {
            if pair[0] == "listen" && !seen.iter().any(|s: &String| s == pair[1]) {
                seen.push(pair[1].to_string());
            }
        }
    }
    seen
}

/// Outcome of starting a server that was expected to fail.
pub struct Failed {
    pub status: ExitStatus,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Server {
    /// Writes `files` (paths relative to a new temp dir) and `config` (as `webserv.conf` in
    /// that dir), starts the server and waits until every listener is announced.
    pub fn start(config: &str, files: &[(&str, &[u8])]) -> Server {
        match Server::try_start(config, files) {
            Ok(server) => server,
            Err(failed) => panic!(
                "webserv failed to start ({}):\n{}\nconfig:\n{config}",
                failed.status, failed.stderr
            ),
        }
    }

    /// Like [`Server::start`], but a server that exits before announcing its listeners is
    /// returned as `Err` with its exit status and stderr.
    pub fn try_start(config: &str, files: &[(&str, &[u8])]) -> Result<Server, Failed> {
        Server::try_start_with(config, files, None)
    }

    /// Like [`Server::start`], with the server's RLIMIT_NOFILE set to `nofile`.
    pub fn start_with_fd_limit(config: &str, files: &[(&str, &[u8])], nofile: u64) -> Server {
        match Server::try_start_with(config, files, Some(nofile)) {
            Ok(server) => server,
            Err(failed) => panic!(
                "webserv failed to start ({}):\n{}",
                failed.status, failed.stderr
            ),
        }
    }

    fn try_start_with(
        config: &str,
        files: &[(&str, &[u8])],
        nofile: Option<u64>,
    ) -> Result<Server, Failed> {
        let dir = TempDir::new();
        for (path, contents) in files {
            dir.write(path, contents);
        }
        let config_path = dir.write("webserv.conf", config.as_bytes());
        let expected = listen_addresses(config).len();
        let started = Instant::now();
        let mut command = Command::new(binary());
        command
            .arg(&config_path)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(limit) = nofile {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe; the closure touches no shared state.
            unsafe {
                command.pre_exec(move || {
                    let rlimit = libc::rlimit {
                        rlim_cur: limit as libc::rlim_t,
                        rlim_max: limit as libc::rlim_t,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = command.spawn().expect("spawn webserv");

        let stderr_pipe = child.stderr.take().expect("stderr pipe");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (lines_tx, lines_rx) = mpsc::channel::<String>();
        {
            let stderr = Arc::clone(&stderr);
            thread::spawn(move || {
                // Keeps draining for the life of the process, so the pipe never fills.
                let mut reader = BufReader::new(stderr_pipe);
                let mut line = String::new();
                loop {
                    line.clear();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            stderr.lock().unwrap().push_str(&line);
                            let _ = lines_tx.send(line.trim_end().to_string());
                        }
                    }
                }
            });
        }

        let mut addrs = Vec::new();
        let deadline = started + START_TIMEOUT;
        while addrs.len() < expected {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines_rx.recv_timeout(left.max(Duration::from_millis(1))) {
                Ok(line) => {
                    if let Some(addr) = parse_listening_line(&line) {
                        addrs.push(addr);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // stderr closed: the process is exiting.
                    let status = wait_timeout(&mut child, Duration::from_secs(5))
                        .unwrap_or_else(|| kill_and_wait(&mut child));
                    let text = stderr.lock().unwrap().clone();
                    return Err(Failed {
                        status,
                        stderr: text,
                        elapsed: started.elapsed(),
                    });
                }
                Err(RecvTimeoutError::Timeout) => {
                    let status = kill_and_wait(&mut child);
                    let text = stderr.lock().unwrap().clone();
                    panic!(
                        "webserv announced {} of {expected} listeners in {START_TIMEOUT:?} \
                         ({status}):\n{text}",
                        addrs.len()
                    );
                }
            }
        }
        // The channel's sender lives on in the drain thread; nobody reads it from now on, which
        // is fine (an unbounded channel of a few log lines).
        drop(lines_rx);
        Ok(Server {
            child: Some(child),
            addrs,
            stderr,
            dir,
        })
    }

    pub fn port(&self) -> u16 {
        self.addrs[0].port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Everything the server wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// A connection to the first listener.
    pub fn connect(&self) -> Conn {
        Conn::connect(self.addr())
    }

    /// Connects, writes `request`, and reads until the server closes (or the read timeout).
    pub fn raw(&self, request: &[u8]) -> Vec<u8> {
        raw(self.addr(), request)
    }

    /// `GET path` with `Connection: close`, parsed.
    pub fn get(&self, path: &str) -> Response {
        self.request(&format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        ))
    }

    /// Sends one request on a fresh connection and parses the first response.
    pub fn request(&self, request: &str) -> Response {
        let head = request.starts_with("HEAD ");
        let mut conn = self.connect();
        conn.send(request.as_bytes());
        if head {
            conn.read_head_response()
        } else {
            conn.read_response()
        }
    }

    /// Open file descriptors of the server process (entries of /proc/PID/fd).
    pub fn fd_count(&self) -> usize {
        fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("read /proc/PID/fd")
            .count()
    }

    /// What each open descriptor of the server refers to (for failure messages).
    pub fn fd_list(&self) -> Vec<String> {
        let mut list: Vec<String> = fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|dir| {
                dir.filter_map(|e| e.ok())
                    .map(|e| {
                        let target = fs::read_link(e.path())
                            .map(|t| t.display().to_string())
                            .unwrap_or_default();
                        format!("{}->{}", e.file_name().to_string_lossy(), target)
                    })
                    .collect()
            })
            .unwrap_or_default();
        list.sort();
        list
    }

    /// The descriptor count once it stops changing (workers open their own descriptors after
    /// the listening lines are printed): three equal samples 50 ms apart, 5 s at most.
    pub fn settled_fd_count(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut last = self.fd_count();
        let mut same = 0;
        while same < 2 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(50));
            let now = self.fd_count();
            if now == last {
                same += 1;
            } else {
                same = 0;
                last = now;
            }
        }
        last
    }

    /// Waits (5 s at most) until the descriptor count is at most `limit`; returns the count.
    pub fn wait_fd_count_at_most(&self, limit: usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let count = self.fd_count();
            if count <= limit || Instant::now() >= deadline {
                return count;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `signal` to the server.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) with our own child's pid has no memory-safety requirements.
        let rc = unsafe { libc::kill(self.pid() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "kill({signal})");
    }

    /// Waits for the server to exit on its own within `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let status = wait_timeout(self.child.as_mut()?, timeout);
        if status.is_some() {
            self.child = None;
        }
        status
    }

    /// SIGTERM, then wait (5 s) for the exit status.
    pub fn terminate(&mut self) -> Option<ExitStatus> {
        self.signal(libc::SIGTERM);
        self.wait_exit(Duration::from_secs(5))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take()
            && let Ok(None) = child.try_wait()
        {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            if wait_timeout(&mut child, Duration::from_secs(5)).is_none() {
                kill_and_wait(&mut child);
            }
        }
    }
}

/// `YYYY/MM/DD HH:MM:SS [notice] listening on http://ADDR` → ADDR.
fn parse_listening_line(line: &str) -> Option<SocketAddr> {
    let (_, rest) = line.split_once("listening on http://")?;
    rest.trim().trim_end_matches('/').parse().ok()
}

pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

fn kill_and_wait(child: &mut Child) -> ExitStatus {
    let _ = child.kill();
    child.wait().expect("wait for webserv")
}

/// Runs `webserv ARGS` to completion (30 s at most): (status, stdout, stderr).
pub fn run_cli(args: &[&str], cwd: &Path) -> (ExitStatus, String, String) {
    let mut child = Command::new(binary())
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn webserv");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_thread = thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_thread = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = wait_timeout(&mut child, Duration::from_secs(30))
        .unwrap_or_else(|| kill_and_wait(&mut child));
    (
        status,
        out_thread.join().unwrap(),
        err_thread.join().unwrap(),
    )
}

// ---------------------------------------------------------------------------------------------
// Raw connections

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
    buf: Vec<u8>,
    eof: bool,
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

    /// Reads more bytes into the buffer; false on EOF, panics on timeout.
    fn fill(&mut self) -> bool {
        if self.eof {
            return false;
        }
        let mut chunk = [0u8; 16384];
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

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
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
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("").to_string();
    if !version.starts_with("HTTP/1.") {
        return Parse::Invalid(format!("bad status line {status_line:?}"));
    }
    let status: u16 = match parts.next().and_then(|s| s.parse().ok()) {
        Some(code) => code,
        None => return Parse::Invalid(format!("bad status line {status_line:?}")),
    };
    let reason = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Parse::Invalid(format!("bad header line {line:?}"));
        };
        if name.is_empty() || name.ends_with(' ') {
            return Parse::Invalid(format!("bad header name {line:?}"));
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let mut response = Response {
        version,
        status,
        reason,
        headers,
        body: Vec::new(),
        chunked: false,
    };
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

/// A minimal config with one server on 127.0.0.1:0, `root www`, and `extra` inside the server
/// block.
pub fn simple_config(extra: &str) -> String {
    format!(
        "workers 1;\naccess_log off;\nserver {{\n    listen 127.0.0.1:0;\n    root www;\n{extra}\n}}\n"
    )
}
