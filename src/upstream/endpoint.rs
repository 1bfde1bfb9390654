//! The I/O end of an upstream: a pipe pair to a child process (a CGI script's stdin and stdout,
//! with its pidfd), or a socket to a backend (TCP or unix), connected without blocking. Every fd
//! is in the worker's epoll under the owning exchange's token (its [`Role`] says which fd), and
//! keeps edge-triggered readiness flags as the client transport does: an event sets them, and
//! `EAGAIN` clears them.
//!
//! The endpoint moves bytes and nothing else: what they mean is the upstream's codec's business.

use super::process::{Process, Spawned};
use crate::config::proxy::model::PeerAddr;
use crate::event::{Registration, Role};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::net::{self, AddressFamily, SocketFlags, SocketType};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// Where a backend listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Inet(SocketAddr),
    Unix(PathBuf),
}

impl From<&PeerAddr> for Address {
    /// Where a configured server (`upstream`, `proxy_pass`, `fastcgi_pass`) listens.
    fn from(addr: &PeerAddr) -> Address {
        match addr {
            PeerAddr::Tcp(addr) => Address::Inet(*addr),
            PeerAddr::Unix(path) => Address::Unix(path.clone()),
        }
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Inet(addr) => write!(f, "{addr}"),
            Address::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

enum Io {
    /// A child's stdin (None: closed, or never piped) and stdout (None: at its end).
    Pipes {
        input: Option<OwnedFd>,
        output: Option<OwnedFd>,
        process: Process,
    },
    Socket {
        fd: OwnedFd,
        connecting: bool,
        /// The write side is shut (the request is complete).
        input_closed: bool,
        /// Read end of stream or an error.
        output_ended: bool,
    },
}

/// What the end of a child tells, if there is a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// A socket: nothing to wait for.
    NoProcess,
    Running,
    Exited(ExitStatus),
}

pub struct Endpoint {
    io: Io,
    /// The backend's output may be read.
    readable: bool,
    /// A readiness event for the output came after the last read (it may have found nothing
    /// new: see [`Endpoint::settle_idle`]).
    input_event: bool,
    /// The backend's input may be written.
    writable: bool,
}

impl Endpoint {
    /// The pipes and pidfd of a started child, registered under `registration`.
    pub fn pipes(spawned: Spawned, registration: &Registration) -> io::Result<Endpoint> {
        let Spawned {
            process,
            stdin,
            stdout,
        } = spawned;
        // Dropped on an error below: the child is killed and reaped.
        if let Some(pidfd) = process.pidfd() {
            registration.add_readable(pidfd, Role::Exit)?;
        }
        registration.add(&stdout, Role::Read)?;
        if let Some(stdin) = &stdin {
            registration.add(stdin, Role::Write)?;
        }
        Ok(Endpoint {
            io: Io::Pipes {
                input: stdin,
                output: Some(stdout),
                process,
            },
            readable: false,
            input_event: false,
            writable: false,
        })
    }

    /// Starts connecting to `address` without blocking, registered under `registration`:
    /// [`Endpoint::is_connecting`] until the socket's first writable event, when
    /// [`Endpoint::finish_connect`] tells how it went. A refused unix socket, or one whose
    /// backlog is full, fails here.
    pub fn connect(address: &Address, registration: &Registration) -> io::Result<Endpoint> {
        let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
        let (fd, result) = match address {
            Address::Inet(addr) => {
                let family = match addr {
                    SocketAddr::V4(_) => AddressFamily::INET,
                    SocketAddr::V6(_) => AddressFamily::INET6,
                };
                let fd = net::socket_with(family, SocketType::STREAM, flags, None)?;
                let _ = net::sockopt::set_tcp_nodelay(&fd, true);
                let result = net::connect(&fd, addr);
                (fd, result)
            }
            Address::Unix(path) => {
                let fd = net::socket_with(AddressFamily::UNIX, SocketType::STREAM, flags, None)?;
                let result = net::SocketAddrUnix::new(path.as_path())
                    .and_then(|unix| net::connect(&fd, &unix));
                (fd, result)
            }
        };
        let connecting = match result {
            Ok(()) => false,
            Err(Errno::INPROGRESS) => true,
            Err(error) => return Err(error.into()),
        };
        registration.add(&fd, Role::Socket)?;
        Ok(Endpoint {
            io: Io::Socket {
                fd,
                connecting,
                input_closed: false,
                output_ended: false,
            },
            readable: false,
            input_event: false,
            writable: false,
        })
    }

    /// Hands a socket endpoint to a new owner (another exchange, or the worker's pool of idle
    /// backend connections): its fd's events carry `token` from now on, and its readiness is
    /// reported again. A child's pipes never change hands: Err.
    pub fn rebind(
        &mut self,
        poller: &crate::event::Poller,
        token: crate::event::Token,
    ) -> io::Result<()> {
        let Io::Socket { fd, .. } = &self.io else {
            return Err(io::Error::other("a child's pipes stay with their exchange"));
        };
        self.readable = false;
        self.writable = false;
        poller.modify(fd, token)
    }

    /// Whether an idle socket (a kept backend connection, before its reuse) is still open
    /// with nothing unasked waiting in it: a peek that finds nothing to read. A child's pipes
    /// are never idle.
    pub fn is_idle_alive(&self) -> bool {
        let Io::Socket {
            fd,
            connecting: false,
            input_closed: false,
            output_ended: false,
        } = &self.io
        else {
            return false;
        };
        let mut byte = [0u8; 1];
        matches!(
            net::recv(
                fd,
                &mut byte,
                net::RecvFlags::PEEK | net::RecvFlags::DONTWAIT
            ),
            Err(Errno::AGAIN)
        )
    }

    /// An idle socket taken for a new exchange: writable, and readable only from its next
    /// event (the flag the last answer's reads left set would cost a read that finds nothing).
    pub fn taken_idle(&mut self) {
        self.readable = false;
        self.writable = true;
    }

    /// Records a readiness event of the fd `role`. A pipe's hangup or error is readiness too:
    /// the next read or write reports it.
    pub fn ready(&mut self, role: Role, readable: bool, writable: bool, hangup: bool, error: bool) {
        match role {
            Role::Read => self.readable = true,
            Role::Write => self.writable = true,
            Role::Socket => {
                let input = readable || hangup || error;
                self.readable |= input;
                self.input_event |= input;
                self.writable |= writable || error;
            }
            Role::Exit => {
                // Collected at once: the pidfd is level-triggered and closes when reaped.
                if let Io::Pipes { process, .. } = &mut self.io {
                    let _ = process.exit_status();
                }
            }
            Role::None => {}
        }
    }

    /// The connection goes idle (kept for another request): true when nothing waits in it, and
    /// then its readable flag is cleared, so that the next request's answer is read when its
    /// event comes (no read that finds nothing right after the request is written). Without an
    /// event since the last read, nothing came after it (any later byte brings an event, which
    /// an idle connection's owner takes as its close); after one, a peek tells.
    pub fn settle_idle(&mut self) -> bool {
        if self.input_event && !self.is_idle_alive() {
            return false;
        }
        self.readable = false;
        self.input_event = false;
        true
    }

    pub fn is_connecting(&self) -> bool {
        matches!(
            self.io,
            Io::Socket {
                connecting: true,
                ..
            }
        )
    }

    /// Completes a non-blocking connect: Ok(true) once connected, Ok(false) while still
    /// connecting, Err with the connect error (refused, unreachable, timed out by the kernel).
    pub fn finish_connect(&mut self) -> io::Result<bool> {
        let Io::Socket { fd, connecting, .. } = &mut self.io else {
            return Ok(true);
        };
        if !*connecting {
            return Ok(true);
        }
        if !self.writable {
            return Ok(false);
        }
        match net::sockopt::socket_error(&*fd)? {
            Ok(()) => {
                *connecting = false;
                Ok(true)
            }
            Err(errno) => Err(errno.into()),
        }
    }

    /// Whether a read could bring bytes (or the end).
    pub fn can_read(&self) -> bool {
        self.readable && !self.is_connecting()
    }

    /// Whether the backend's input may take bytes now.
    pub fn can_write(&self) -> bool {
        self.writable && !self.is_connecting() && self.has_input()
    }

    /// Whether the backend's input is open (a pipe to write, a socket not shut).
    pub fn has_input(&self) -> bool {
        match &self.io {
            Io::Pipes { input, .. } => input.is_some(),
            Io::Socket { input_closed, .. } => !input_closed,
        }
    }

    /// Reads the backend's output into `buf`. Ok(0) is its end; `WouldBlock` clears the
    /// readable flag. A read error is the end too (reported as such once).
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(fd) = self.output_fd() else {
            return Ok(0);
        };
        let result = rustix::io::read(fd, buf);
        self.after_read(result)
    }

    /// Reads at most `max` bytes of the backend's output onto the end of `buf` (no zeroing of
    /// the room first); the rest as [`Endpoint::read`].
    pub fn read_append(&mut self, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        let Some(fd) = self.output_fd() else {
            return Ok(0);
        };
        let result = crate::sys::read_append(fd, buf, max);
        self.after_read(result)
    }

    /// The descriptor the backend's output is read from, while that output has not ended.
    #[inline]
    fn output_fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.io {
            Io::Pipes { output, .. } => output.as_ref().map(|fd| fd.as_fd()),
            Io::Socket {
                output_ended: true, ..
            } => None,
            Io::Socket { fd, .. } => Some(fd.as_fd()),
        }
    }

    /// What a read of the output means for the endpoint: `EAGAIN` clears the readable flag,
    /// and the end or an error ends the output.
    #[inline]
    fn after_read(&mut self, result: rustix::io::Result<usize>) -> io::Result<usize> {
        self.input_event = false;
        match result {
            Ok(n) if n > 0 => Ok(n),
            Err(Errno::AGAIN) => {
                self.readable = false;
                Err(io::ErrorKind::WouldBlock.into())
            }
            Err(Errno::INTR) => Err(io::ErrorKind::WouldBlock.into()),
            ended => {
                match &mut self.io {
                    Io::Pipes { output, .. } => *output = None,
                    Io::Socket { output_ended, .. } => *output_ended = true,
                }
                ended.map_err(Into::into)
            }
        }
    }

    /// Writes some of `data` to the backend's input: Ok(n), or `WouldBlock` (flag cleared). An
    /// error (EPIPE: the backend stopped reading) closes the input.
    pub fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let fd = match &self.io {
            Io::Pipes {
                input: Some(fd), ..
            } => fd,
            Io::Socket {
                fd,
                input_closed: false,
                ..
            } => fd,
            _ => return Err(io::ErrorKind::BrokenPipe.into()),
        };
        let result = match &self.io {
            Io::Socket { .. } => rustix::net::send(fd, data, rustix::net::SendFlags::NOSIGNAL),
            Io::Pipes { .. } => rustix::io::write(fd, data),
        };
        match result {
            Ok(n) => {
                if n < data.len() {
                    self.writable = false;
                }
                Ok(n)
            }
            Err(Errno::AGAIN) => {
                self.writable = false;
                Err(io::ErrorKind::WouldBlock.into())
            }
            Err(Errno::INTR) => Err(io::ErrorKind::WouldBlock.into()),
            Err(error) => {
                self.close_input();
                Err(error.into())
            }
        }
    }

    /// The request is complete: the child reads end of file, a socket's write side is shut.
    pub fn close_input(&mut self) {
        match &mut self.io {
            Io::Pipes { input, .. } => *input = None,
            Io::Socket {
                fd, input_closed, ..
            } => {
                if !*input_closed {
                    *input_closed = true;
                    let _ = net::shutdown(&*fd, net::Shutdown::Write);
                }
            }
        }
    }

    /// The child's state (collected without blocking).
    pub fn exit(&mut self) -> Exit {
        match &mut self.io {
            Io::Pipes { process, .. } => match process.exit_status() {
                Some(status) => Exit::Exited(status),
                None => Exit::Running,
            },
            Io::Socket { .. } => Exit::NoProcess,
        }
    }

    /// The exchange is done but the child still runs: it may finish within `grace`, then it
    /// is killed (by the worker's process table).
    pub fn release(&mut self, grace: Duration) {
        if let Io::Pipes { process, .. } = &mut self.io {
            process.release(grace);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Kind, Poller, Ready};
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::os::unix::net::UnixListener;
    use std::time::Instant;

    /// Waits for events of the endpoint (stream 7 of slot 3) and feeds them to it.
    fn pump_events(poller: &mut Poller, endpoint: &mut Endpoint) -> Vec<Ready> {
        let mut events = Vec::new();
        poller
            .wait(Some(Duration::from_secs(5)), &mut events)
            .unwrap();
        for event in &events {
            assert_eq!(event.token.kind, Kind::Upstream);
            assert_eq!((event.token.slot, event.token.stream), (3, 7));
            endpoint.ready(
                event.token.role,
                event.readable,
                event.writable,
                event.hangup,
                event.error,
            );
        }
        events
    }

    fn registration(poller: &Poller) -> Registration<'_> {
        Registration {
            poller,
            slot: 3,
            generation: 1,
            stream: 7,
        }
    }

    fn connected(poller: &mut Poller, endpoint: &mut Endpoint) {
        let start = Instant::now();
        while !endpoint.finish_connect().unwrap() {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "connect never completed"
            );
            pump_events(poller, endpoint);
        }
    }

    fn read_some(poller: &mut Poller, endpoint: &mut Endpoint) -> Vec<u8> {
        let mut buf = [0u8; 256];
        loop {
            match endpoint.read(&mut buf) {
                Ok(n) => return buf[..n].to_vec(),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    pump_events(poller, endpoint);
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn a_tcp_connect_completes_without_blocking_and_carries_bytes_both_ways() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = Address::Inet(listener.local_addr().unwrap());
        let mut poller = Poller::new(8).unwrap();
        let mut endpoint = Endpoint::connect(&address, &registration(&poller)).unwrap();
        connected(&mut poller, &mut endpoint);
        let (mut peer, _) = listener.accept().unwrap();
        assert!(endpoint.can_write());
        assert_eq!(endpoint.write(b"ping").unwrap(), 4);
        let mut got = [0u8; 4];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping");
        peer.write_all(b"pong").unwrap();
        assert_eq!(read_some(&mut poller, &mut endpoint), b"pong");
        // Our write side shut: the peer reads its end; its close is our end of stream.
        endpoint.close_input();
        assert_eq!(peer.read(&mut got).unwrap(), 0);
        drop(peer);
        assert_eq!(read_some(&mut poller, &mut endpoint), b"");
        assert_eq!(endpoint.exit(), Exit::NoProcess);
    }

    #[test]
    fn a_connection_settles_idle_only_when_nothing_came_after_its_last_read() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = Address::Inet(listener.local_addr().unwrap());
        let mut poller = Poller::new(8).unwrap();
        let mut endpoint = Endpoint::connect(&address, &registration(&poller)).unwrap();
        connected(&mut poller, &mut endpoint);
        let (mut peer, _) = listener.accept().unwrap();
        peer.write_all(b"answer").unwrap();
        assert_eq!(read_some(&mut poller, &mut endpoint), b"answer");
        // Read without meeting EAGAIN: still readable, but nothing came since.
        assert!(endpoint.settle_idle());
        assert!(!endpoint.can_read(), "the next answer waits for its event");
        // Bytes nobody asked for, whose event comes before the connection goes idle.
        peer.write_all(b"stray").unwrap();
        while !endpoint.can_read() {
            pump_events(&mut poller, &mut endpoint);
        }
        assert!(!endpoint.settle_idle());
        assert_eq!(read_some(&mut poller, &mut endpoint), b"stray");
        // An event that found nothing new (read already): a peek says it is quiet.
        endpoint.ready(Role::Socket, true, false, false, false);
        assert!(endpoint.settle_idle());
        // The backend's close is input too.
        drop(peer);
        while !endpoint.can_read() {
            pump_events(&mut poller, &mut endpoint);
        }
        assert!(!endpoint.settle_idle());
    }

    #[test]
    fn a_refused_tcp_connect_is_an_error_of_finish_connect() {
        // A port that was just free: nothing listens there.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut poller = Poller::new(8).unwrap();
        let mut endpoint = match Endpoint::connect(&Address::Inet(port), &registration(&poller)) {
            Ok(endpoint) => endpoint,
            // Loopback may refuse at once.
            Err(error) => {
                assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
                return;
            }
        };
        let start = Instant::now();
        let error = loop {
            match endpoint.finish_connect() {
                Ok(true) => panic!("connected to a closed port"),
                Ok(false) => {
                    assert!(start.elapsed() < Duration::from_secs(5));
                    pump_events(&mut poller, &mut endpoint);
                }
                Err(error) => break error,
            }
        };
        assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
    }

    #[test]
    fn a_unix_socket_connects_and_a_missing_one_fails_at_once() {
        let dir = std::env::temp_dir().join(format!("webserv-endpoint-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("backend.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let mut poller = Poller::new(8).unwrap();
        let mut endpoint =
            Endpoint::connect(&Address::Unix(path.clone()), &registration(&poller)).unwrap();
        connected(&mut poller, &mut endpoint);
        let (mut peer, _) = listener.accept().unwrap();
        peer.write_all(b"hello").unwrap();
        assert_eq!(read_some(&mut poller, &mut endpoint), b"hello");
        let missing = Address::Unix(dir.join("nobody.sock"));
        let error = Endpoint::connect(&missing, &registration(&poller))
            .err()
            .expect("connecting to a missing socket fails");
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_full_socket_clears_writable_and_its_next_edge_sets_it() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = Address::Inet(listener.local_addr().unwrap());
        let mut poller = Poller::new(8).unwrap();
        let mut endpoint = Endpoint::connect(&address, &registration(&poller)).unwrap();
        connected(&mut poller, &mut endpoint);
        let (mut peer, _) = listener.accept().unwrap();
        let data = vec![1u8; 1 << 20];
        let mut sent = 0usize;
        while endpoint.can_write() {
            match endpoint.write(&data) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
            assert!(sent < 256 << 20, "the socket never filled");
        }
        assert!(!endpoint.can_write());
        // The peer drains some: an edge says writable again.
        let mut sink = vec![0u8; 1 << 20];
        let mut drained = 0;
        while !endpoint.can_write() {
            drained += peer.read(&mut sink).unwrap();
            let mut events = Vec::new();
            poller
                .wait(Some(Duration::from_millis(50)), &mut events)
                .unwrap();
            for event in events {
                endpoint.ready(
                    event.token.role,
                    event.readable,
                    event.writable,
                    event.hangup,
                    event.error,
                );
            }
        }
        assert!(drained > 0);
    }
}
