//! Protocols: how requests and responses travel on a client connection. A session owns its
//! transport (the socket, TLS) and drives the exchanges that answer its requests; it frames
//! what it pulls from them, and never learns what produced it. HTTP/1 (`http1`) carries one
//! exchange at a time; HTTP/2 will carry one per stream, each under its own stream number (for
//! its upstream's fds and its deadline).

pub mod http1;

use crate::event::{Deadline, Poller, Role};
use crate::local::Local;
use crate::server::Runtime;
use crate::transport::Transport;
use std::net::SocketAddr;
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
    /// Access-log lines of this batch; None when the access log is off.
    pub access_log: Option<&'a mut Vec<u8>>,
    pub log_time: &'a str,
    /// What the worker lends: scratch buffer, file cache, process table.
    pub local: &'a mut Local,
    /// The worker's epoll, and this connection's slot in it (for its exchanges' upstream fds).
    pub poller: &'a Poller,
    pub slot: u32,
    pub generation: u32,
}

/// A client connection as the worker sees it: one protocol session over one transport.
pub enum Connection {
    Http1(http1::Session),
}

impl Connection {
    /// A new connection, read as HTTP/1 until it says otherwise. `runtime` gives its default
    /// server's timeouts (the header timeout runs from the accept).
    pub fn new(
        transport: Transport,
        peer: SocketAddr,
        listen: SocketAddr,
        runtime: &Runtime,
        now: Instant,
    ) -> Connection {
        let servers = runtime.servers_for(listen);
        let settings = &runtime.config.servers[servers[0]].settings;
        Connection::Http1(http1::Session::new(transport, peer, listen, settings, now))
    }

    pub fn transport(&self) -> &Transport {
        match self {
            Connection::Http1(session) => session.transport(),
        }
    }

    /// Records a readiness event of the client socket.
    pub fn ready(&mut self, readable: bool, writable: bool, hangup: bool, error: bool) {
        match self {
            Connection::Http1(session) => session.ready(readable, writable, hangup, error),
        }
    }

    /// Records an event of an upstream fd (`role`) of exchange `stream`.
    pub fn upstream_ready(&mut self, stream: u16, role: Role, ready: [bool; 4]) {
        match self {
            Connection::Http1(session) => session.upstream_ready(stream, role, ready),
        }
    }

    pub fn drive(&mut self, ctx: &mut Context) -> Drive {
        match self {
            Connection::Http1(session) => session.drive(ctx),
        }
    }

    /// The deadline of `stream` (0: the connection's own) passed.
    pub fn timed_out(&mut self, stream: u16, ctx: &mut Context) -> Drive {
        match self {
            Connection::Http1(session) => session.timed_out(stream, ctx),
        }
    }

    /// Whether it waits for a request with nothing of it received (closed at shutdown).
    pub fn is_idle(&self) -> bool {
        match self {
            Connection::Http1(session) => session.is_idle(),
        }
    }

    /// The deadline of `stream`, if that stream exists.
    pub fn deadline_mut(&mut self, stream: u16) -> Option<&mut Deadline> {
        match self {
            Connection::Http1(session) => session.deadline_mut(stream),
        }
    }

    /// Hands every current deadline, with its stream, to `f`.
    pub fn each_deadline(&mut self, f: &mut dyn FnMut(u16, &mut Deadline)) {
        match self {
            Connection::Http1(session) => session.each_deadline(f),
        }
    }
}
