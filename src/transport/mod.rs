//! A client connection's byte stream: the socket, plain or under TLS (`tls`), its edge-triggered
//! readiness, and the writes of a response's bytes (`write`: vectored writes, sendfile, TLS
//! records). Nothing here knows HTTP: the protocol above asks for bytes in and hands bytes (or
//! file ranges) out.
//!
//! Readiness comes from edge-triggered epoll: an event sets `readable` or `writable`, and
//! `EAGAIN` (or a short read or write, which proves the socket drained or filled) clears it, so
//! every read and write is driven by readiness without a wasted system call. Over TLS, input is
//! also available while rustls holds decrypted bytes, and queued ciphertext is flushed whenever
//! the connection is driven ([`Transport::flush`]).
//!
//! A connection from a load balancer may start with a PROXY protocol header (`listen ...
//! proxy_protocol`), before TLS on a TLS address: a preamble read here
//! ([`Transport::read_proxy_header`]), byte-exact, so that what follows is untouched.
//!
//! The plain path makes the very system calls it always made; closing (TLS close_notify, the
//! write side's shutdown) and lingering (reading what a client still sends after the last
//! response, so that it sees the response rather than a reset) are here too.

pub mod client_cert;
mod tls;
mod write;

pub use tls::{AddressOptions, CertSource, RECORD, TLS_BUFFER, TlsStream, server_config};
pub use write::{Piece, Written};

use crate::config::ClientAuth;
use crate::proxy_protocol;
use crate::transport::client_cert::ClientCert;
use rustix::buffer::spare_capacity;
use rustix::io::Errno;
use rustix::net::{RecvFlags, recv};
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;

/// Size of the worker's scratch buffer: one read of a request body, or one record of a file.
pub const SCRATCH: usize = 64 * 1024;

/// A worker's scratch buffer ([`SCRATCH`] bytes): what a read lands in before it is parsed or
/// kept, and where a file's record is read before rustls encrypts it. The worker owns one (in
/// its context) and lends it to the connection it drives; nothing keeps bytes in it between two
/// calls.
pub struct Scratch(Box<[u8]>);

impl Default for Scratch {
    fn default() -> Scratch {
        Scratch(vec![0; SCRATCH].into_boxed_slice())
    }
}

impl Scratch {
    /// A scratch buffer of no bytes (no allocation): what stands in the worker's place while
    /// its buffer is lent out of its context.
    pub fn empty() -> Scratch {
        Scratch(Box::default())
    }

    /// The first `len` bytes (at most [`SCRATCH`]).
    pub fn take(&mut self, len: usize) -> &mut [u8] {
        &mut self.0[..len.min(SCRATCH)]
    }
}

/// How a connection's bytes travel.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

/// What a connection reads before its protocol (or TLS) begins.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Preamble {
    None,
    /// A PROXY protocol header.
    ProxyHeader,
}

/// A client connection's socket, its TLS session if any, and its readiness.
pub struct Transport {
    stream: Stream,
    readable: bool,
    writable: bool,
    /// The peer closed its side (or the socket failed): reads go on until they say so.
    hangup: bool,
    preamble: Preamble,
    /// Bytes read from the client and written to it (after TLS: HTTP's bytes), since the
    /// connection began (the metrics and `$bytes_sent` take differences; where sendfile cuts
    /// the stream: `write`).
    received: u64,
    sent: u64,
    /// The client's address as the connection's PROXY protocol header gave it.
    proxied: Option<SocketAddr>,
}

impl Transport {
    pub fn plain(socket: TcpStream) -> Transport {
        Transport::new(Stream::Plain(socket))
    }

    pub fn tls(tls: TlsStream) -> Transport {
        Transport::new(Stream::Tls(Box::new(tls)))
    }

    fn new(stream: Stream) -> Transport {
        Transport {
            stream,
            readable: false,
            writable: false,
            hangup: false,
            preamble: Preamble::None,
            received: 0,
            sent: 0,
            proxied: None,
        }
    }

    /// The connection starts with a PROXY protocol header, to be read before anything else.
    pub fn expect_proxy_header(&mut self) {
        self.preamble = Preamble::ProxyHeader;
    }

    /// Whether the PROXY protocol header is still to be read.
    pub fn awaits_proxy_header(&self) -> bool {
        self.preamble == Preamble::ProxyHeader
    }

    /// The client's address as the connection's PROXY protocol header gave it (None without
    /// one, or for a header that names none: a balancer's own health check).
    pub fn proxied(&self) -> Option<SocketAddr> {
        self.proxied
    }

    /// Reads the PROXY protocol header, and not one byte more: it is looked at with
    /// `MSG_PEEK`, and only once complete is it read off the socket, exactly its length, so
    /// what follows stays for HTTP or TLS. Ok(true): read (its source, if any, is
    /// [`Transport::proxied`]); Ok(false): incomplete, `readable` cleared (the next bytes bring
    /// a new edge). Err: the client closed first, or the bytes are no PROXY protocol header.
    /// Either way, or once read, the preamble is over.
    pub fn read_proxy_header(&mut self, scratch: &mut Scratch) -> io::Result<bool> {
        match self.take_proxy_header(scratch)? {
            Some(header) => {
                if let proxy_protocol::Header::Proxied { source, .. } = header {
                    self.proxied = Some(source);
                }
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn take_proxy_header(
        &mut self,
        scratch: &mut Scratch,
    ) -> io::Result<Option<proxy_protocol::Header>> {
        if !self.readable {
            return Ok(None);
        }
        let socket = match &self.stream {
            Stream::Plain(socket) => socket,
            Stream::Tls(tls) => &tls.socket,
        };
        let buf = scratch.take(proxy_protocol::MAX_HEADER);
        let seen = match recv(socket, &mut *buf, RecvFlags::PEEK) {
            Ok((n, _)) => n,
            Err(Errno::AGAIN) => {
                self.readable = false;
                return Ok(None);
            }
            Err(e) => {
                self.preamble = Preamble::None;
                return Err(e.into());
            }
        };
        let parsed = if seen == 0 {
            Err(io::Error::from(io::ErrorKind::UnexpectedEof))
        } else {
            proxy_protocol::parse(&buf[..seen])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
        };
        match parsed {
            Ok(Some((header, length))) => {
                self.preamble = Preamble::None;
                let (taken, _) = recv(socket, &mut buf[..length], RecvFlags::empty())?;
                if taken != length {
                    return Err(io::Error::other("PROXY protocol header read short"));
                }
                Ok(Some(header))
            }
            Ok(None) if self.hangup => {
                self.preamble = Preamble::None;
                Err(io::ErrorKind::UnexpectedEof.into())
            }
            Ok(None) => {
                // Everything the socket holds has been seen: wait for more.
                self.readable = false;
                Ok(None)
            }
            Err(error) => {
                self.preamble = Preamble::None;
                Err(error)
            }
        }
    }

    /// Bytes read from the client so far (decrypted, over TLS).
    #[inline]
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Bytes written to the client so far (before encryption, over TLS).
    #[inline]
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// The TLS protocol and cipher suite agreed (None on plain HTTP, or while the handshake
    /// runs).
    pub fn negotiated(&self) -> Option<(&'static str, &'static str)> {
        match &self.stream {
            Stream::Tls(tls) if !tls.plain_http => tls.negotiated(),
            _ => None,
        }
    }

    /// Whether a TLS handshake is still to complete (false on plain HTTP and once it has).
    pub fn handshaking(&self) -> bool {
        matches!(&self.stream, Stream::Tls(tls) if !tls.plain_http && tls.conn.is_handshaking())
    }

    pub fn socket(&self) -> &TcpStream {
        match &self.stream {
            Stream::Plain(socket) => socket,
            Stream::Tls(tls) => &tls.socket,
        }
    }

    /// Whether this is a TLS connection (`https`), whatever the client sent.
    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    /// The client's certificate as a server verifying with `auth` judges it (None on a plain
    /// connection).
    pub fn client_cert(&mut self, auth: &Arc<ClientAuth>) -> Option<Arc<ClientCert>> {
        match &mut self.stream {
            Stream::Tls(tls) => Some(tls.client_cert(auth)),
            Stream::Plain(_) => None,
        }
    }

    /// The protocol agreed by ALPN in the TLS handshake (None: plain, or none agreed).
    pub fn alpn(&self) -> Option<&[u8]> {
        match &self.stream {
            Stream::Tls(tls) => tls.alpn(),
            Stream::Plain(_) => None,
        }
    }

    /// Moves a TLS handshake on without taking application data (see
    /// [`TlsStream::handshake`]); a plain connection has none: Ok(true).
    pub fn handshake(&mut self) -> io::Result<bool> {
        match &mut self.stream {
            Stream::Tls(tls) => tls.handshake(&mut self.readable, &mut self.writable, self.hangup),
            Stream::Plain(_) => Ok(true),
        }
    }

    /// Looks at the first bytes the client sent without taking them (`MSG_PEEK`), at most
    /// `buf.len()`: how many there are. Ok(0) is end of stream; `WouldBlock` (with `readable`
    /// cleared) when none came yet. Only for plain connections (over TLS: Ok(0)).
    pub fn peek(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Stream::Plain(socket) = &self.stream else {
            return Ok(0);
        };
        match rustix::net::recv(socket, buf, rustix::net::RecvFlags::PEEK) {
            Ok((n, _)) => Ok(n),
            Err(Errno::AGAIN) => {
                self.readable = false;
                Err(io::ErrorKind::WouldBlock.into())
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Everything readable was seen (by a peek): the next bytes bring a new edge.
    pub fn not_readable(&mut self) {
        if !self.hangup {
            self.readable = false;
        }
    }

    /// Whether a TLS port received plain HTTP (it is then answered in plain HTTP).
    pub fn is_plain_http(&self) -> bool {
        matches!(&self.stream, Stream::Tls(tls) if tls.plain_http)
    }

    /// Whether the client ended its side with TLS close_notify: it sends nothing more, but
    /// (unlike one that closed the socket) still reads.
    pub fn sent_close_notify(&self) -> bool {
        matches!(&self.stream, Stream::Tls(tls) if tls.peer_closed())
    }

    /// Records a readiness event.
    pub fn ready(&mut self, readable: bool, writable: bool, hangup: bool, error: bool) {
        self.readable |= readable || hangup || error;
        self.writable |= writable || error;
        self.hangup |= hangup || error;
    }

    /// Whether the socket may take bytes now.
    #[inline]
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// Whether the socket itself is readable (what a lingering close waits for: over TLS too,
    /// what still comes is dropped unread).
    pub fn socket_readable(&self) -> bool {
        self.readable
    }

    /// Whether a read could bring bytes (or the end of the stream): the socket is readable,
    /// or rustls holds plaintext or an unreported close_notify (or the client spoke plain
    /// HTTP to the TLS port, which a read reports).
    pub fn can_read(&self) -> bool {
        self.readable
            || match &self.stream {
                Stream::Plain(_) => false,
                Stream::Tls(tls) => tls.plaintext > 0 || tls.peer_closed || tls.plain_http,
            }
    }

    /// Reads once (decrypted, over TLS) into `buf`. Ok(0) is end of stream.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let result = match &mut self.stream {
            Stream::Tls(tls) => tls.read(buf, &mut self.readable, &mut self.writable, self.hangup),
            Stream::Plain(socket) => {
                let asked = buf.len();
                let result = rustix::io::read(&*socket, buf);
                settle_read(result, asked, &mut self.readable, self.hangup)
            }
        };
        if let Ok(n) = result {
            self.received += n as u64;
        }
        result
    }

    /// Reads once onto the end of `input`, at most `room` bytes: straight into its spare
    /// capacity on a plain socket, through `scratch` over TLS. Ok(0) is end of stream.
    pub fn read_into(
        &mut self,
        input: &mut Vec<u8>,
        room: usize,
        scratch: &mut Scratch,
    ) -> io::Result<usize> {
        let result = match &mut self.stream {
            Stream::Tls(tls) => tls.read_into(
                input,
                room,
                scratch,
                &mut self.readable,
                &mut self.writable,
                self.hangup,
            ),
            Stream::Plain(socket) => {
                input.reserve(room);
                let asked = input.capacity() - input.len();
                let result = rustix::io::read(&*socket, spare_capacity(input));
                settle_read(result, asked, &mut self.readable, self.hangup)
            }
        };
        if let Ok(n) = result {
            self.received += n as u64;
        }
        result
    }

    /// Reads and drops what the client still sends after the last response (lingering). Over
    /// TLS too the bytes are dropped undecrypted. Ok(0) is end of stream.
    pub fn discard_input(&mut self, scratch: &mut Scratch) -> io::Result<usize> {
        let socket = match &self.stream {
            Stream::Plain(socket) => socket,
            Stream::Tls(tls) => &tls.socket,
        };
        let buf = scratch.take(16 * 1024);
        let asked = buf.len();
        let result = rustix::io::read(socket, buf);
        settle_read(result, asked, &mut self.readable, self.hangup)
    }

    /// Writes queued ciphertext while the socket is writable. Err: the socket failed.
    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.stream {
            Stream::Tls(tls) if !tls.plain_http => tls.flush(&mut self.writable),
            _ => Ok(()),
        }
    }

    /// Whether ciphertext waits for the socket.
    pub fn has_output(&self) -> bool {
        match &self.stream {
            Stream::Tls(tls) if !tls.plain_http => tls.conn.wants_write(),
            _ => false,
        }
    }

    /// Writes some of `data`: Ok(n) bytes taken, `WouldBlock` (with `writable` cleared) when
    /// none could be.
    pub fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let result = match &mut self.stream {
            Stream::Tls(tls) if !tls.plain_http => tls.write(data, &mut self.writable),
            _ => {
                let result = self.socket().write(data);
                match &result {
                    Ok(n) if *n < data.len() => self.writable = false,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                    _ => {}
                }
                result
            }
        };
        if let Ok(n) = result {
            self.sent += n as u64;
        }
        result
    }

    /// Queues TLS close_notify (nothing for plain connections); [`Transport::flush`] sends it.
    pub fn close_notify(&mut self) {
        if let Stream::Tls(tls) = &mut self.stream
            && !tls.plain_http
        {
            tls.conn.send_close_notify();
        }
    }

    /// Shuts the write side (the start of a lingering close).
    pub fn shutdown_write(&self) {
        let _ = self.socket().shutdown(Shutdown::Write);
    }
}

/// The outcome of a `read(2)` of `asked` bytes, with the readiness flag updated: a short read
/// emptied the socket, so any later byte brings a new edge, which spares the read that would
/// only say EAGAIN. A pending end of stream gives no new edge, so after a hangup the flag stays
/// until read() returns 0.
fn settle_read(
    result: rustix::io::Result<usize>,
    asked: usize,
    readable: &mut bool,
    hangup: bool,
) -> io::Result<usize> {
    match result {
        Ok(n) => {
            if n < asked && !hangup {
                *readable = false;
            }
            Ok(n)
        }
        Err(Errno::AGAIN) => {
            *readable = false;
            Err(io::ErrorKind::WouldBlock.into())
        }
        Err(error) => Err(error.into()),
    }
}
