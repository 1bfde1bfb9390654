//! Helpers for the CGI integration tests: a temporary site, the server process (port 0, stderr
//! drained), a raw HTTP/1.1 client that checks framing, and readings from /proc (memory, CPU
//! time, children, whether a pid still exists).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long any single read from the server may block before the test fails.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Files

/// A directory under the system temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("webserv-cgi-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes `contents` to `path` (creating its directory), mode 0755 or 0644.
pub fn write_file(path: &Path, contents: impl AsRef<[u8]>, executable: bool) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create dir");
    }
    std::fs::write(path, contents).expect("write file");
    let mode = if executable { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

// ---------------------------------------------------------------------------------------------
// The server

/// A running webserv, killed (SIGTERM, then SIGKILL) when dropped.
pub struct Server {
    child: Child,
    pub pid: i32,
    pub port: u16,
    log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `webserv CONFIG` and waits for its "listening on http://127.0.0.1:PORT" line.
    ///
    /// The server starts as from a clean shell: fds above 2 inherited from the test harness are
    /// closed at exec and signal dispositions and mask are the defaults, so that what a script
    /// inherits is what the server gives it.
    pub fn start(config: &Path) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_webserv"));
        command
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // SAFETY: only async-signal-safe calls (close_range, signal, sigprocmask) between fork
        // and exec.
        unsafe {
            command.pre_exec(|| {
                // CLOSE_RANGE_CLOEXEC keeps std's own exec-error pipe working.
                libc::syscall(
                    libc::SYS_close_range,
                    3u32,
                    u32::MAX,
                    libc::CLOSE_RANGE_CLOEXEC,
                );
                for signal in 1..32 {
                    if signal != libc::SIGKILL && signal != libc::SIGSTOP {
                        libc::signal(signal, libc::SIG_DFL);
                    }
                }
                let mut empty: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut empty);
                libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
                Ok(())
            });
        }
        let mut child = command.spawn().expect("spawn webserv");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (port_tx, port_rx) = mpsc::channel();
        let sink = Arc::clone(&log);
        thread::spawn(move || {
            let mut port_tx = Some(port_tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(tx) = &port_tx
                    && let Some(at) = line.find("listening on http://127.0.0.1:")
                {
                    let rest = &line[at + "listening on http://127.0.0.1:".len()..];
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    if let Ok(port) = digits.parse::<u16>() {
                        let _ = tx.send(port);
                        port_tx = None;
                    }
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let pid = child.id() as i32;
        let port = match port_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("webserv did not start:\n{}", log.lock().unwrap());
            }
        };
        Server {
            child,
            pid,
            port,
            log,
        }
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.port)
    }

    /// What the server wrote to its error log (stderr) so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// VmRSS of the server, KiB.
    pub fn rss_kib(&self) -> u64 {
        proc_status_kib(self.pid, "VmRSS:")
    }

    /// User + system CPU time of the server so far, in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        cpu_ticks(self.pid)
    }

    /// Live child processes of the server: (pid, state letter).
    pub fn children(&self) -> Vec<(i32, char)> {
        children_of(self.pid)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: plain kill(2) on our own child's pid, which is not reaped yet.
        unsafe { libc::kill(self.pid, libc::SIGTERM) };
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// /proc

fn proc_status_kib(pid: i32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// The fields of /proc/PID/stat after the command name: index 0 is the state.
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_string).collect())
}

pub fn cpu_ticks(pid: i32) -> u64 {
    let fields = stat_fields(pid).expect("proc stat");
    // utime and stime are fields 14 and 15 of stat, 11 and 12 after the state.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as u64 }
}

/// Processes whose parent is `parent`, with their state (`Z` for a zombie).
pub fn children_of(parent: i32) -> Vec<(i32, char)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if let Some(fields) = stat_fields(pid)
            && fields.get(1).and_then(|p| p.parse::<i32>().ok()) == Some(parent)
        {
            out.push((pid, fields[0].chars().next().unwrap_or('?')));
        }
    }
    out
}

/// Whether `pid` still exists (a zombie counts: it is gone once its parent reaped it).
pub fn pid_exists(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Reads a pid a script wrote to `path`, waiting for the file to appear.
pub fn read_pid_file(path: &Path) -> i32 {
    let mut pid = None;
    wait_until(Duration::from_secs(5), || {
        pid = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        pid.is_some()
    });
    pid.unwrap_or_else(|| panic!("no pid in {}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Data

/// Deterministic pseudo-random bytes (xorshift64*).
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Index of the first differing byte, for assertion messages that do not print megabytes.
pub fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .or((a.len() != b.len()).then(|| a.len().min(b.len())))
}

// ---------------------------------------------------------------------------------------------
// The client

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

/// A raw HTTP/1.1 connection with a read buffer.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
    eof: bool,
}

impl Client {
    pub fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            buf: Vec::new(),
            eof: false,
        }
    }

    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream.write_all(bytes.as_ref()).expect("send");
    }

    /// Sends a GET with only a Host header and reads the response.
    pub fn get(&mut self, target: &str) -> Response {
        self.send(format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n"));
        self.response(false)
    }

    /// Reads once more from the socket into the buffer; false at end of stream.
    fn fill(&mut self) -> bool {
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
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                self.eof = true;
                false
            }
            Err(e) => panic!("read from server: {e}"),
        }
    }

    /// Reads a line ending in CRLF (returned without it); None at end of stream.
    fn line(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(at) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf[..at].to_vec();
                self.buf.drain(..at + 2);
                return Some(line);
            }
            if !self.fill() {
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
        let status_line = String::from_utf8(self.line()?).expect("status line is UTF-8");
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default().to_string();
        assert!(
            version.starts_with("HTTP/1."),
            "bad status line {status_line:?}"
        );
        let status = parts
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let reason = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        loop {
            let line = self
                .line()
                .expect("connection closed inside a response head");
            if line.is_empty() {
                break;
            }
            let line = String::from_utf8(line).expect("header is UTF-8");
            let (name, value) = line.split_once(':').expect("header has a colon");
            assert!(!name.ends_with(' '), "space before colon in {line:?}");
            headers.push((name.to_string(), value.trim().to_string()));
        }
        Some(Head {
            version,
            status,
            reason,
            headers,
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
                if self.buf.is_empty() && !self.fill() {
                    return finish(reader, false);
                }
                let take = (reader.left.min(self.buf.len() as u64) as usize).min(max);
                reader.left -= take as u64;
                if reader.left == 0 {
                    reader.framing = Framing::Length(0);
                }
                Some(self.take(take))
            }
            Framing::Close => {
                if self.buf.is_empty() && !self.fill() {
                    return finish(reader, true);
                }
                let take = self.buf.len().min(max);
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
                if self.buf.is_empty() && !self.fill() {
                    return finish(reader, false);
                }
                let take = (reader.left.min(self.buf.len() as u64) as usize).min(max);
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
        if n == self.buf.len() {
            return std::mem::take(&mut self.buf);
        }
        let part = self.buf[..n].to_vec();
        self.buf.drain(..n);
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
        self.stream.set_read_timeout(Some(timeout)).unwrap();
        let mut extra = [0u8; 1024];
        let closed = loop {
            if !self.buf.is_empty() {
                break false;
            }
            match self.stream.read(&mut extra) {
                Ok(0) => break true,
                Ok(n) => self.buf.extend_from_slice(&extra[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
                Err(_) => break false,
            }
        };
        self.stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        closed
    }

    /// Bytes already received and not consumed.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Waits up to `timeout` for at least `n` bytes to be buffered; returns whether they came.
    pub fn wait_for_bytes(&mut self, n: usize, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        while self.buf.len() < n {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(k) => self.buf.extend_from_slice(&chunk[..k]),
                Err(_) => break,
            }
        }
        self.stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        self.buf.len() >= n
    }

    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
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
