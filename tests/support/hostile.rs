//! What the hostile-client tests (tests/hostile.rs, tests/stress.rs) add to the shared helpers:
//! raw exchanges that never panic on a reset or a short write, a note of how the exchange ended
//! (closed by the server, or still open when the time ran out), and descriptor
//! accounting. Socket options for resets and slow readers are in [`super::http`].

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::http::{Conn, Response, parse_all};
use super::server::Server;

/// How an exchange ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The server closed the connection (FIN or RST).
    Closed,
    /// The time ran out with the connection still open.
    Open,
}

/// What came back from one raw exchange.
pub struct Exchange {
    pub bytes: Vec<u8>,
    pub end: End,
    pub elapsed: Duration,
}

impl Exchange {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// Every response received (a truncated or invalid tail panics). `head_flags[i]`: the i-th
    /// response answers a HEAD.
    pub fn responses(&self, head_flags: &[bool]) -> Vec<Response> {
        parse_all(&self.bytes, head_flags)
    }

    /// The status codes of every response received, in order.
    pub fn statuses(&self) -> Vec<u16> {
        self.responses(&[]).iter().map(|r| r.status).collect()
    }
}

/// Connects, writes `request` (a write the server cuts short by closing is not an error), and
/// reads until the server closes or `limit` has passed.
pub fn exchange(addr: SocketAddr, request: &[u8], limit: Duration) -> Exchange {
    let started = Instant::now();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).expect("connect");
    stream.set_nodelay(true).unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = stream.write_all(request);
    let (bytes, end) = read_until_closed(&mut stream, started + limit);
    Exchange {
        bytes,
        end,
        elapsed: started.elapsed(),
    }
}

/// Reads until EOF, a reset, or `deadline`.
pub fn read_until_closed(stream: &mut TcpStream, deadline: Instant) -> (Vec<u8>, End) {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (bytes, End::Open);
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut chunk) {
            Ok(0) => return (bytes, End::Closed),
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return (bytes, End::Open);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return (bytes, End::Closed),
        }
    }
}

/// `GET path` with `Connection: close` on a fresh connection; returns the response and how long
/// it took. Panics (with the test's message) if nothing complete arrives within 10 s.
pub fn timed_get(addr: SocketAddr, path: &str) -> (Response, Duration) {
    let started = Instant::now();
    let mut conn = Conn::connect(addr);
    conn.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes());
    let response = conn.read_response();
    (response, started.elapsed())
}

/// The descriptor count of the server once it is back at (or under) `baseline + slack`, or
/// whatever it is after 5 s; with the list of descriptors for the failure message.
pub fn fds_back_to(server: &Server, baseline: usize, slack: usize) -> (usize, Vec<String>) {
    let count = server.wait_fd_count_at_most(baseline + slack);
    (count, server.fd_list())
}
