//! Protocols: how requests and responses travel on a client connection. A session owns its
//! transport (the socket, TLS) and drives the exchanges that answer its requests; it frames
//! what it pulls from them, and never learns what produced it. HTTP/1 (`http1`) carries one
//! exchange at a time; HTTP/2 (`http2`) one per stream, each under its own stream number (for
//! its upstream's fds and its deadline).
//!
//! Which one a connection speaks is decided before its first request ([`start`]): over TLS by
//! ALPN once the handshake is done, on a plain address where HTTP/2 is on by the client
//! preface (prior knowledge, RFC 9113 §3.3), else HTTP/1 from the first byte. Before all of
//! that, on a `listen ... proxy_protocol` address, the transport reads the PROXY protocol header
//! (in [`start`]): whatever the protocol, the sessions then attribute each request to the
//! client it names where the balancer is trusted (`config::RealIp`).

pub mod http1;
pub mod http2;
mod start;
pub mod tally;

pub use http1::Waiting;

use crate::event::{Deadline, Poller, Role};
use crate::local::Local;
use crate::observe::metrics::WorkerStats;
use crate::runtime::Runtime;
use crate::transport::Transport;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Instant;

/// What the worker must do after driving a connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Drive {
    /// Waiting for readiness or a deadline.
    Wait,
    /// Budget spent with work left: drive again after the other ready connections.
    Yield,
    /// Done: drop the connection.
    Close,
}

/// What a session may use from its worker while it is driven.
pub struct Context<'a> {
    pub now: Instant,
    pub runtime: &'a Arc<Runtime>,
    /// The current `Date` header value.
    pub date: &'a str,
    /// The server is shutting down: finish the response in flight, keep nothing alive.
    pub draining: bool,
    /// The access log's `$time_local` of this second.
    pub log_time: &'a str,
    /// What the worker lends: scratch buffer, file cache, process table, access-log buffers,
    /// figures.
    pub local: &'a mut Local,
    /// The worker's epoll, and this connection's slot in it (for its exchanges' upstream fds).
    pub poller: &'a Poller,
    pub slot: u32,
    pub generation: u32,
}

/// A client connection as the worker sees it: one protocol session over one transport. (The
/// worker boxes each connection; HTTP/1's session is kept inline so that its path is as it
/// was, the rarer ones are boxed.)
#[allow(clippy::large_enum_variant)]
pub enum Connection {
    /// The protocol is not known yet (a TLS handshake, or a plain client on an HTTP/2 address
    /// that has not sent enough to tell).
    Start(Box<start::Start>),
    Http1(http1::Session),
    Http2(Box<http2::Session>),
    /// Gone: the worker drops it.
    Closed,
}

impl Connection {
    /// A new connection. `runtime` gives its default server's timeouts (the header timeout
    /// runs from the accept) and whether its address speaks HTTP/2.
    pub fn new(
        transport: Transport,
        peer: SocketAddr,
        listen: SocketAddr,
        runtime: &Runtime,
        now: Instant,
    ) -> Connection {
        let servers = runtime.servers_for(listen);
        let settings = &runtime.config.servers[servers[0]].settings;
        let detect = if transport.is_tls() {
            start::Detect::Tls
        } else if runtime.http2_for(listen) {
            start::Detect::Preface
        } else {
            start::Detect::Http1
        };
        let mut transport = transport;
        if runtime.expects_proxy_header(listen) {
            transport.expect_proxy_header();
        }
        if detect != start::Detect::Http1 || transport.awaits_proxy_header() {
            return Connection::Start(Box::new(start::Start::new(
                transport, detect, peer, listen, settings, now,
            )));
        }
        let tally = tally::Tally::new(&transport);
        Connection::Http1(http1::Session::new(
            transport, peer, listen, settings, now, tally,
        ))
    }

    /// Records a readiness event of the client socket.
    pub fn ready(&mut self, readable: bool, writable: bool, hangup: bool, error: bool) {
        match self {
            Connection::Http1(session) => session.ready(readable, writable, hangup, error),
            Connection::Http2(session) => session.ready(readable, writable, hangup, error),
            Connection::Start(start) => start.ready(readable, writable, hangup, error),
            Connection::Closed => {}
        }
    }

    /// Records an event of an upstream fd (`role`) of exchange `stream`.
    pub fn upstream_ready(&mut self, stream: u16, role: Role, ready: [bool; 4]) {
        match self {
            Connection::Http1(session) => session.upstream_ready(stream, role, ready),
            Connection::Http2(session) => session.upstream_ready(stream, role, ready),
            Connection::Start(_) | Connection::Closed => {}
        }
    }

    pub fn drive(&mut self, ctx: &mut Context) -> Drive {
        match self {
            Connection::Http1(session) => session.drive(ctx),
            Connection::Http2(session) => session.drive(ctx),
            Connection::Start(start) => match start.decide(ctx) {
                start::Decided::Wait => Drive::Wait,
                start::Decided::Close => Drive::Close,
                start::Decided::Speak(protocol) => {
                    let Connection::Start(mut start) = std::mem::replace(self, Connection::Closed)
                    else {
                        return Drive::Close;
                    };
                    // The handshake is counted before the first request (a status page it
                    // asks for counts it).
                    start.report(&ctx.local.stats);
                    *self = start.into_session(protocol, ctx);
                    self.drive(ctx)
                }
            },
            Connection::Closed => Drive::Close,
        }
    }

    /// The deadline of `stream` (0: the connection's own) passed.
    pub fn timed_out(&mut self, stream: u16, ctx: &mut Context) -> Drive {
        match self {
            Connection::Http1(session) => session.timed_out(stream, ctx),
            Connection::Http2(session) => session.timed_out(stream, ctx),
            // The handshake or the first bytes did not come in time.
            Connection::Start(_) | Connection::Closed => Drive::Close,
        }
    }

    /// What it waits for when no request is under way: a drain closes those waiting for a
    /// next request (an idle HTTP/2 connection is one) without a word, and gives those just
    /// accepted (a TLS handshake, a protocol not decided yet, an HTTP/1 head not begun) a moment
    /// for their first.
    pub fn waiting(&self) -> Option<Waiting> {
        match self {
            Connection::Http1(session) => session.waiting(),
            Connection::Http2(session) => session.is_idle().then_some(Waiting::NextRequest),
            Connection::Start(_) => Some(Waiting::FirstRequest),
            Connection::Closed => Some(Waiting::NextRequest),
        }
    }

    /// The client socket (what the worker registers in epoll); None once closed.
    pub fn socket(&self) -> Option<&TcpStream> {
        match self {
            Connection::Http1(session) => Some(session.transport().socket()),
            Connection::Http2(session) => Some(session.transport().socket()),
            Connection::Start(start) => Some(start.transport().socket()),
            Connection::Closed => None,
        }
    }

    /// The deadline of `stream`, if that stream exists.
    pub fn deadline_mut(&mut self, stream: u16) -> Option<&mut Deadline> {
        match self {
            Connection::Http1(session) => session.deadline_mut(stream),
            Connection::Http2(session) => session.deadline_mut(stream),
            Connection::Start(start) => (stream == 0).then_some(start.deadline_mut()),
            Connection::Closed => None,
        }
    }

    /// Brings the worker's figures up to date with this connection (after every drive).
    #[inline]
    pub fn report(&mut self, stats: &WorkerStats) {
        match self {
            Connection::Http1(session) => session.report(stats),
            Connection::Http2(session) => session.report(stats),
            Connection::Start(start) => start.report(stats),
            Connection::Closed => {}
        }
    }

    /// The connection is being dropped: its last figures.
    pub fn report_closed(&mut self, stats: &WorkerStats) {
        match self {
            Connection::Http1(session) => session.report_closed(stats),
            Connection::Http2(session) => session.report_closed(stats),
            Connection::Start(start) => start.report_closed(stats),
            Connection::Closed => {}
        }
    }

    /// Hands every current deadline, with its stream, to `f`.
    pub fn each_deadline(&mut self, f: &mut dyn FnMut(u16, &mut Deadline)) {
        match self {
            Connection::Http1(session) => session.each_deadline(f),
            Connection::Http2(session) => session.each_deadline(f),
            Connection::Start(start) => f(0, start.deadline_mut()),
            Connection::Closed => {}
        }
    }
}
