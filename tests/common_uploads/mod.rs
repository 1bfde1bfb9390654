//! Helpers for the upload and DELETE integration tests: a temporary site directory, the real
//! `webserv` binary running on it, raw HTTP/1.1 exchanges, chunked and multipart body builders,
//! and looks at the store on disk and at the server's memory.
//!
//! Every server runs from its own directory holding `webserv.conf`, `www/`, `store/` and
//! `outside/` (a directory no request should ever reach). Configs use `listen 127.0.0.1:0;` and
//! the port is read from the server's `listening on` line. Dropping a [`Server`] sends SIGTERM,
//! waits, falls back to SIGKILL, and removes the directory.

#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long a server may take to announce its port on a busy machine.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Read timeout of test sockets: a hang fails the test, not the suite.
pub const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// The configuration most tests use: `/uploads` is served from and stored into `store/`,
/// `/small` takes at most 1 KiB, `/slow` times bodies out after 1 s.
pub const CONFIG: &str = "\
workers 1;
access_log off;
server {
    listen 127.0.0.1:0;
    root www;
    client_max_body_size 300m;
    location /uploads {
        allow_methods GET HEAD POST PUT DELETE;
        alias store;
        upload_store store;
        autoindex on;
    }
    location /small {
        allow_methods POST PUT;
        alias store;
        upload_store store;
        client_max_body_size 1k;
    }
    location /slow {
        allow_methods POST PUT;
        alias store;
        upload_store store;
        client_body_timeout 1s;
    }
    location /files {
        allow_methods GET DELETE;
    }
    location /readonly {
        allow_methods GET;
    }
}
";

/// A fresh directory, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new() -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "webserv-uploads-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// A running server.
pub struct Server {
    child: Child,
    pub port: u16,
    stderr: Arc<Mutex<String>>,
    // Last: removed once the server is gone.
    pub dir: TempDir,
}

impl Server {
    /// Starts a server on [`CONFIG`].
    pub fn start() -> Server {
        Server::with_config(CONFIG, |_| {})
    }

    /// Starts a server on `config`, after `prepare` has filled its directory (which already
    /// holds `www/`, `store/` and `outside/`).
    pub fn with_config(config: &str, prepare: impl FnOnce(&Path)) -> Server {
        Server::spawn(config, prepare, |command| command)
    }

    /// Like [`Server::with_config`], with a last say on the command (limits, environment).
    pub fn spawn(
        config: &str,
        prepare: impl FnOnce(&Path),
        adjust: impl FnOnce(&mut Command) -> &mut Command,
    ) -> Server {
        let dir = TempDir::new();
        for sub in ["www", "store", "outside"] {
            fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        prepare(dir.path());
        let config_path = dir.path().join("webserv.conf");
        fs::write(&config_path, config).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_webserv"));
        command
            .arg(&config_path)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = adjust(&mut command).spawn().expect("start webserv");

        // One thread reads stderr for the whole life of the server: it hands over the port,
        // then keeps draining so the server never blocks on a full pipe.
        let stderr = Arc::new(Mutex::new(String::new()));
        let (port_tx, port_rx) = mpsc::channel();
        let reader = BufReader::new(child.stderr.take().unwrap());
        let log = Arc::clone(&stderr);
        thread::spawn(move || {
            for line in reader.lines() {
                let Ok(line) = line else { break };
                if let Some(port) = line
                    .split("listening on http://127.0.0.1:")
                    .nth(1)
                    .and_then(|rest| rest.trim().parse::<u16>().ok())
                {
                    let _ = port_tx.send(port);
                }
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let port = match port_rx.recv_timeout(START_TIMEOUT) {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "webserv did not announce its port:\n{}",
                    stderr.lock().unwrap()
                );
            }
        };
        Server {
            child,
            port,
            stderr,
            dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn store(&self) -> PathBuf {
        self.path("store")
    }

    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
        stream
    }

    /// Sends `raw` on a new connection and reads the response until the server closes.
    pub fn exchange(&self, raw: &[u8]) -> Response {
        let mut stream = self.connect();
        // The server may answer (413) and close before taking everything.
        let _ = stream.write_all(raw);
        read_response(&mut stream)
    }

    /// A request with `Content-Length` and `Connection: close`.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let mut raw = head(method, path, headers);
        raw.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        raw.extend_from_slice(body);
        self.exchange(&raw)
    }

    pub fn get(&self, path: &str) -> Response {
        self.exchange(
            format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
        )
    }

    pub fn delete(&self, path: &str) -> Response {
        self.exchange(
            format!("DELETE {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
        )
    }

    /// A `/proc/PID/status` field in kB (`VmHWM`, `VmRSS`).
    pub fn memory_kb(&self, field: &str) -> u64 {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill has no memory effects; the pid is our own child, not yet reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The start of a request: request line, `Host`, `Connection: close` and `headers`, without the
/// blank line.
pub fn head(method: &str, path: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n");
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.into_bytes()
}

/// `body` in the chunked coding, in chunks of `size` bytes.
pub fn chunked(body: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in body.chunks(size) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// One part of a multipart form: (name, filename, content).
pub type Part<'a> = (&'a str, Option<&'a str>, &'a [u8]);

/// A `multipart/form-data` body with `boundary`.
pub fn multipart(boundary: &str, parts: &[Part]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, filename, content) in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(filename) => out.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => out.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        out.extend_from_slice(content);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one final response (skipping `100 Continue`), body by `Content-Length` or to the end.
pub fn read_response(stream: &mut TcpStream) -> Response {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let mut lines = head.split("\r\n");
            let status: u16 = lines
                .next()
                .and_then(|line| line.split(' ').nth(1))
                .and_then(|code| code.parse().ok())
                .unwrap_or_else(|| panic!("bad status line in {head:?}"));
            let headers: Vec<(String, String)> = lines
                .filter_map(|line| line.split_once(':'))
                .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
                .collect();
            if (100..200).contains(&status) {
                buf.drain(..end + 4);
                continue;
            }
            let mut response = Response {
                status,
                headers,
                body: buf[end + 4..].to_vec(),
            };
            let length = response
                .header("Content-Length")
                .and_then(|v| v.parse::<usize>().ok());
            while length.is_none_or(|length| response.body.len() < length) {
                match stream.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => response.body.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    // A reset after the response (the server closed with unread input).
                    Err(_) => break,
                }
            }
            if let Some(length) = length {
                response.body.truncate(length);
            }
            return response;
        }
        match stream.read(&mut chunk) {
            Ok(0) => panic!(
                "connection closed before a complete response: {:?}",
                String::from_utf8_lossy(&buf)
            ),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!(
                "reading the response: {e}; got {:?}",
                String::from_utf8_lossy(&buf)
            ),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The entries of `dir`, sorted (hidden ones included).
pub fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Every file and directory below `dir`, as paths relative to it, sorted.
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.strip_prefix(base).unwrap().display().to_string());
            if path.is_dir() && !path.is_symlink() {
                walk(base, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Waits until `condition` holds, up to `timeout`; returns whether it did.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Deterministic pseudo-random bytes, every value of a byte included.
pub fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 11) as u8
        })
        .collect()
}
