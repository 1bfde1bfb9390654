//! The first moments of a connection, before its protocol is known.
//!
//! - Over TLS, the handshake is completed here (no application data is taken: what came with
//!   the client's last flight stays with rustls for the session's first read), then ALPN
//!   decides: `h2` is HTTP/2, anything else (`http/1.1`, `http/1.0`, nothing) HTTP/1. A client
//!   that sent plain HTTP to the TLS port goes to HTTP/1, which answers it in plain HTTP.
//! - On a plain address where HTTP/2 is on, the first bytes are looked at without being taken
//!   (`MSG_PEEK`): the client preface's request line, `PRI * HTTP/2.0` (RFC 9113 §3.4), starts
//!   HTTP/2 with prior knowledge (§3.3), and the HTTP/2 core checks the rest of the preface
//!   (a wrong one is a connection error it answers with GOAWAY PROTOCOL_ERROR); a first byte
//!   that departs from it starts HTTP/1 (h2c by `Upgrade` is not offered, as nginx does not).
//!   So an HTTP/1 client costs one `recv` more than on an address without HTTP/2, and nothing
//!   later.
//! - On a `listen ... proxy_protocol` address, the PROXY protocol header a load balancer sends
//!   first is read before any of that (before TLS too), by the transport, byte-exact: a broken
//!   or missing one closes the connection (logged at `error`, as nginx does), one that does not
//!   come by the header timeout too. An address with neither TLS nor HTTP/2 comes here only
//!   for it, and speaks HTTP/1 once it is read.

use super::tally::Tally;
use super::{Connection, Context, http1, http2};
use crate::config::Settings;
use crate::event::Deadline;
use crate::http2::connection::PREFACE;
use crate::log;
use crate::observe::metrics::{Phase, WorkerStats};
use crate::transport::Transport;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

/// The preface's first octets, `PRI * HTTP/2.0`: no HTTP/1 request starts so.
const PREFACE_LINE: usize = 14;

/// How a connection's protocol is told, once its PROXY protocol header (if any) is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detect {
    /// By ALPN, after the TLS handshake.
    Tls,
    /// By the first bytes: the HTTP/2 client preface, or HTTP/1.
    Preface,
    /// Nothing to tell: HTTP/1.
    Http1,
}

/// The protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    Http2,
}

/// What the first moments decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Decided {
    /// Not yet: readiness (or the deadline) will tell.
    Wait,
    /// The handshake failed, or the client left.
    Close,
    Speak(Protocol),
}

pub struct Start {
    transport: Transport,
    detect: Detect,
    peer: SocketAddr,
    listen: SocketAddr,
    /// When the connection was accepted: the header timeout runs from then.
    accepted: Instant,
    /// The header timeout, for the handshake and the first bytes too.
    deadline: Deadline,
    /// What the worker's figures were told (handed on to the session).
    tally: Tally,
}

impl Start {
    pub fn new(
        transport: Transport,
        detect: Detect,
        peer: SocketAddr,
        listen: SocketAddr,
        settings: &Settings,
        now: Instant,
    ) -> Start {
        Start {
            tally: Tally::new(&transport),
            transport,
            detect,
            peer,
            listen,
            accepted: now,
            deadline: Deadline {
                at: Some(now + settings.client_header_timeout),
                scheduled: None,
            },
        }
    }

    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    pub fn ready(&mut self, readable: bool, writable: bool, hangup: bool, error: bool) {
        self.transport.ready(readable, writable, hangup, error);
    }

    pub fn deadline_mut(&mut self) -> &mut Deadline {
        &mut self.deadline
    }

    /// Brings the worker's figures up to date: a connection whose protocol is not known yet
    /// is waiting (for its handshake, or its first bytes).
    pub fn report(&mut self, stats: &WorkerStats) {
        self.tally.report(Phase::Waiting, &self.transport, stats);
    }

    /// The connection is being dropped: its last figures.
    pub fn report_closed(&mut self, stats: &WorkerStats) {
        self.tally.closed(&self.transport, stats);
    }

    pub fn decide(&mut self, ctx: &mut Context) -> Decided {
        if self.transport.awaits_proxy_header() {
            match self.transport.read_proxy_header(&mut ctx.local.scratch) {
                Ok(true) => {}
                Ok(false) => return Decided::Wait,
                Err(error) => {
                    // nginx logs a broken header as an error: it is most often a load balancer
                    // that does not send one, or a client reaching past it.
                    if error.kind() != io::ErrorKind::UnexpectedEof {
                        log::error(&format!("client {}: {error}, connection closed", self.peer));
                    }
                    return Decided::Close;
                }
            }
        }
        match self.detect {
            Detect::Tls => self.after_handshake(),
            Detect::Preface => self.by_preface(),
            Detect::Http1 => Decided::Speak(Protocol::Http1),
        }
    }

    fn after_handshake(&mut self) -> Decided {
        match self.transport.handshake() {
            Ok(true) if self.transport.alpn() == Some(b"h2") => Decided::Speak(Protocol::Http2),
            Ok(true) => Decided::Speak(Protocol::Http1),
            // The client left, or it was a TLS-ALPN-01 validation: nothing follows.
            Ok(false) => Decided::Close,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Decided::Wait,
            // HTTP/1 answers it, in plain HTTP.
            Err(_) if self.transport.is_plain_http() => Decided::Speak(Protocol::Http1),
            Err(error) => {
                // Why a handshake failed (the client's alert, no protocol in common...): at
                // `info`, as nginx logs SSL_do_handshake() errors.
                if log::enabled(crate::config::LogLevel::Info) {
                    log::info(&format!(
                        "client {}: TLS: {error}, connection closed",
                        self.peer
                    ));
                }
                Decided::Close
            }
        }
    }

    fn by_preface(&mut self) -> Decided {
        if !self.transport.socket_readable() {
            return Decided::Wait;
        }
        let mut first = [0u8; PREFACE_LINE];
        match self.transport.peek(&mut first) {
            Ok(0) => Decided::Close,
            Ok(n) if first[..n] != PREFACE[..n] => Decided::Speak(Protocol::Http1),
            Ok(PREFACE_LINE) => Decided::Speak(Protocol::Http2),
            Ok(_) => {
                // A beginning of the preface: the rest comes with a new edge.
                self.transport.not_readable();
                Decided::Wait
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Decided::Wait,
            Err(_) => Decided::Close,
        }
    }

    /// The session of the protocol decided, over this connection's transport.
    pub fn into_session(self, protocol: Protocol, ctx: &Context) -> Connection {
        match protocol {
            Protocol::Http1 => {
                let servers = ctx.runtime.servers_for(self.listen);
                let settings = &ctx.runtime.config.servers[servers[0]].settings;
                Connection::Http1(http1::Session::new(
                    self.transport,
                    self.peer,
                    self.listen,
                    settings,
                    self.accepted,
                    self.tally,
                ))
            }
            Protocol::Http2 => Connection::Http2(Box::new(http2::Session::new(
                self.transport,
                self.peer,
                self.listen,
                ctx,
                self.tally,
            ))),
        }
    }
}
