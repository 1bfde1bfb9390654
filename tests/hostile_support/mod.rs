//! Helpers for the hostile-client tests (tests/hostile.rs, tests/stress.rs).
//!
//! The server process, raw connections and the response parser come from tests/support
//! (reused read-only through `#[path]`); what is added here is what an attacker needs: raw
//! exchanges that never panic on a reset or a short write, a note of how the exchange ended
//! (closed by the server, or still open when the time ran out), SO_LINGER 0 resets, and
//! descriptor accounting.

#![allow(dead_code)]

#[path = "../support/mod.rs"]
mod support;

pub use support::*;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::thread;
use std::time::{Duration, Instant};

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

/// `GET path` with `Connection: close` on a fresh connection; returns the response and how long
/// it took. Panics (with the test's message) if nothing complete arrives within 10 s.
pub fn timed_get(addr: SocketAddr, path: &str) -> (Response, Duration) {
    let started = Instant::now();
    let mut conn = Conn::connect(addr);
    conn.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes());
    let response = conn.read_response();
    (response, started.elapsed())
}

/// Waits until `f` holds (checking every 20 ms) or `limit` passes; returns whether it held.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// The descriptor count of the server once it is back at (or under) `baseline + slack`, or
/// whatever it is after 5 s; with the list of descriptors for the failure message.
pub fn fds_back_to(server: &Server, baseline: usize, slack: usize) -> (usize, Vec<String>) {
    let count = server.wait_fd_count_at_most(baseline + slack);
    (count, server.fd_list())
}

/// Names of the entries of a directory (sorted), hidden ones included.
pub fn dir_entries(path: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(path)
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Shows at most 300 bytes of `bytes`, for assertion messages.
pub fn show(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(300)];
    let mut text = format!("{:?}", String::from_utf8_lossy(cut));
    if bytes.len() > 300 {
        text.push_str(&format!(" ... ({} bytes)", bytes.len()));
    }
    text
}
