//! A bounded load for restart tests: client threads making GET requests (half on a fresh
//! connection each, half keep-alive) until stopped, each request with a unique `id` in its query,
//! and every failure recorded with its reason. A keep-alive request that meets a connection the
//! server closed before any byte of the response is retried once on a new connection, as HTTP
//! clients do (RFC 9112 section 9.3.1); anything else that does not give a complete 200 is a
//! failure, a refused connection included.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::FromRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

#[derive(Default, Debug)]
pub struct Report {
    /// Complete 200 responses.
    pub ok: u64,
    /// Requests retried on a new connection after a keep-alive connection was closed.
    pub retried: u64,
    pub failures: Vec<String>,
    /// The `id` of every request answered.
    pub ids: Vec<String>,
}

pub struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    report: Arc<Mutex<Report>>,
}

impl Load {
    /// Starts `clients` threads against `target` (from `source`, when given), asking for `path`
    /// whose body is `body_len` bytes.
    pub fn start(
        target: SocketAddr,
        source: Option<IpAddr>,
        clients: usize,
        path: &str,
        body_len: usize,
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let report = Arc::new(Mutex::new(Report::default()));
        let threads = (0..clients)
            .map(|client| {
                let (stop, report, path) =
                    (Arc::clone(&stop), Arc::clone(&report), path.to_string());
                thread::spawn(move || {
                    let keep_alive = client % 2 == 1;
                    let mut conn: Option<(TcpStream, u32)> = None;
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let id = format!("c{client}n{n}");
                        let target_path = format!("{path}?id={id}");
                        let outcome = if keep_alive {
                            keep_alive_request(&mut conn, target, source, &target_path, body_len)
                        } else {
                            fresh_request(target, source, &target_path, body_len).map(|_| false)
                        };
                        let mut report = report.lock().unwrap();
                        match outcome {
                            Ok(retried) => {
                                report.ok += 1;
                                report.retried += u64::from(retried);
                                report.ids.push(id);
                            }
                            Err(reason) => report.failures.push(format!("{id}: {reason}")),
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            threads,
            report,
        }
    }

    /// Requests answered so far.
    pub fn answered(&self) -> u64 {
        self.report.lock().unwrap().ok
    }

    pub fn stop(self) -> Report {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().expect("load thread");
        }
        std::mem::take(&mut *self.report.lock().unwrap())
    }
}

/// A TCP connection to `target`, from `source` (port chosen by the kernel) when given.
pub fn connect_from(source: Option<IpAddr>, target: SocketAddr) -> std::io::Result<TcpStream> {
    let Some(IpAddr::V4(source)) = source else {
        return TcpStream::connect_timeout(&target, Duration::from_secs(5));
    };
    let SocketAddr::V4(target) = target else {
        return Err(std::io::Error::other("IPv4 only"));
    };
    let sockaddr = |ip: std::net::Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(ip.octets()),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: plain socket calls on a descriptor owned here (wrapped in TcpStream at once, so
    // it is closed on every path); the sockaddrs live across the calls that read them.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let stream = TcpStream::from_raw_fd(fd);
        let local = sockaddr(source, 0);
        if libc::bind(fd, (&local as *const libc::sockaddr_in).cast(), len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let remote = sockaddr(*target.ip(), target.port());
        if libc::connect(fd, (&remote as *const libc::sockaddr_in).cast(), len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(stream)
    }
}

fn fresh_request(
    target: SocketAddr,
    source: Option<IpAddr>,
    path: &str,
    body_len: usize,
) -> Result<(), String> {
    let mut stream = connect_from(source, target).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    read_response(&mut stream, body_len)
        .map(|_| ())
        .map_err(String::from)
}

/// One request on the client's keep-alive connection (made when there is none). Ok(true):
/// answered after a retry on a new connection.
fn keep_alive_request(
    conn: &mut Option<(TcpStream, u32)>,
    target: SocketAddr,
    source: Option<IpAddr>,
    path: &str,
    body_len: usize,
) -> Result<bool, String> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    for attempt in 0..2 {
        if conn.is_none() {
            let stream = connect_from(source, target).map_err(|e| format!("connect: {e}"))?;
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            *conn = Some((stream, 0));
        }
        let Some((stream, used)) = conn.as_mut() else {
            unreachable!()
        };
        let reused = *used > 0;
        let sent = stream.write_all(request.as_bytes());
        let result = match sent {
            Ok(()) => read_response(stream, body_len),
            Err(e) => Err(Failure::BeforeResponse(format!("write: {e}"))),
        };
        match result {
            Ok(closes) => {
                *used += 1;
                if closes {
                    *conn = None;
                }
                return Ok(attempt > 0);
            }
            Err(Failure::BeforeResponse(_)) if reused && attempt == 0 => *conn = None,
            Err(failure) => {
                *conn = None;
                return Err(failure.into());
            }
        }
    }
    Err("retried request failed".to_string())
}

enum Failure {
    /// The connection ended (or failed) before any byte of the response.
    BeforeResponse(String),
    During(String),
}

impl From<Failure> for String {
    fn from(f: Failure) -> String {
        match f {
            Failure::BeforeResponse(r) => format!("before the response: {r}"),
            Failure::During(r) => r,
        }
    }
}

/// Reads one response: Ok(whether the server closes the connection after it) for a complete
/// 200 with a `body_len`-byte body.
fn read_response(stream: &mut TcpStream, body_len: usize) -> Result<bool, Failure> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) if buf.is_empty() => return Err(Failure::BeforeResponse("closed".into())),
            Ok(0) => return Err(Failure::During("closed in the head".into())),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if buf.is_empty() && e.kind() == ErrorKind::ConnectionReset => {
                return Err(Failure::BeforeResponse(format!("read: {e}")));
            }
            Err(e) => return Err(Failure::During(format!("read: {e}"))),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let status = head.split(' ').nth(1).unwrap_or("");
    if status != "200" {
        return Err(Failure::During(format!("status {status}")));
    }
    let field = |name: &str| {
        head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_ascii_lowercase())
        })
    };
    let length: usize = field("content-length")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Failure::During("no Content-Length".into()))?;
    if length != body_len {
        return Err(Failure::During(format!("Content-Length {length}")));
    }
    let mut got = buf.len() - head_end;
    while got < length {
        match stream.read(&mut chunk) {
            Ok(0) => return Err(Failure::During(format!("closed after {got} body bytes"))),
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(Failure::During(format!("read body: {e}"))),
        }
    }
    Ok(field("connection").is_some_and(|v| v == "close"))
}
