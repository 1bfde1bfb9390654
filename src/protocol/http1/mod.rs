//! An HTTP/1 session: one client connection carrying requests one after the other (pipelined
//! requests wait in the input), each answered by an [`Exchange`].
//!
//! ```text
//!   Head ─┬─▶ Exchange ──┬─▶ Head      (keep-alive: the next request)
//!         │              └─▶ [Closing] ──▶ Linger ──▶ closed
//!         └─▶ Exchange (an error) ──▶ [Closing] ...
//! ```
//!
//! `Exchange` carries one request from its head to the end of its answer, both ways at once:
//! the request body is decoded ([`body`]) into the exchange's sink while the answer is pulled
//! from it and framed ([`encode`]: Content-Length, chunked or close-delimited; one keep-alive
//! decision). The session never learns what produced the answer: a file, a page, a script.
//! An answer that switches protocols (`101`, a proxied WebSocket) makes the rest of the
//! connection a tunnel through the exchange: the client's bytes go in as an unframed "body"
//! until its end of stream, the backend's come out unframed until its end; then the connection
//! closes.
//! `Linger` reads what a client still sends after a final response so that it sees the response
//! rather than a reset (not needed, and skipped, when the request was read whole and nothing
//! more is readable); over TLS, `Closing` first sends the close_notify alert.
//!
//! [`Session::drive`] runs the machine until it has to wait for the socket, the exchange's
//! upstream or a deadline (or its budget is spent). Each step takes the state by value and
//! returns the next one, so every transition is one assignment. Deadlines: the session's own
//! (stream 0: header, keep-alive, body, send, linger) and its exchange's (stream 1: its
//! upstream's), each in the worker's timer queue.

mod body;
mod encode;

pub use encode::{CONTINUE, Facts, Persistence};

use super::tally::Tally;
use super::{Context, Drive};
use crate::event::{Deadline, Registration, Role};
use crate::exchange::{Cx, Exchange, Finish, Origin, Outcome, Route};
use crate::handler;
use crate::http::request::{self, Method, Request, Version};
use crate::http::response::Response;
use crate::log;
use crate::observe::metrics::{Phase, WorkerStats};
use crate::observe::vars::ConnFacts;
use crate::site;
use crate::transport::{Scratch, Transport};
use crate::upstream::Expiry;
use body::{BodyError, Fed, Incoming};
use encode::{Encoder, Ended, Step};
use std::io;
use std::net::SocketAddr;
use std::task::Poll;
use std::time::{Duration, Instant};

/// Bytes asked of the kernel per read.
const READ_CHUNK: usize = 16 * 1024;
/// Bytes asked of the kernel per read while a request body streams through to a sink.
const BODY_CHUNK: usize = 64 * 1024;
/// Most bytes a connection buffers: a whole head at its limit, plus one read.
const INPUT_LIMIT: usize = request::MAX_HEAD + READ_CHUNK;
/// Steps one `drive` may take (each makes a few system calls at most) before it yields to the
/// other connections.
const IO_BUDGET: u32 = 32;
/// How long a closing connection keeps reading what the client still sends, so that the
/// client sees our response rather than a reset.
const LINGER: Duration = Duration::from_secs(2);

/// The stream number of the session's own deadline, and of its exchange's.
pub const SESSION: u16 = 0;
pub const EXCHANGE: u16 = 1;

/// The outcome of one step.
enum Flow {
    /// The state changed or made progress: step again.
    Continue,
    /// Nothing more until readiness or a deadline.
    Blocked,
}

/// Per-request timeouts, taken from the settings of the site in force.
#[derive(Clone, Copy)]
struct Timeouts {
    keepalive: Duration,
    header: Duration,
    body: Duration,
    send: Duration,
}

impl Timeouts {
    fn of(settings: &crate::config::Settings) -> Timeouts {
        Timeouts {
            keepalive: settings.keepalive_timeout,
            header: settings.client_header_timeout,
            body: settings.client_body_timeout,
            send: settings.send_timeout,
        }
    }
}

enum State {
    /// Waiting for a request head; `idle` until its first byte (the keep-alive wait).
    Head {
        idle: bool,
    },
    /// One request being answered.
    Exchange(Box<Active>),
    /// The last response is out; TLS close_notify is still being written. `read_whole`: the
    /// request was read completely.
    Closing {
        read_whole: bool,
    },
    /// The write side is shut; reading until the client closes or the linger time ends.
    Linger,
    Closed,
}

/// The request being answered.
struct Active {
    exchange: Exchange,
    facts: Facts,
    /// The request body still arriving (None: there is none, or it is not read).
    incoming: Option<Incoming>,
    /// The body is not read (the answer closes the connection without it).
    abandoned: bool,
    /// The answer asked to close the connection.
    head_close: bool,
    /// The answer is nginx's 444: the connection closes without a response.
    silent: bool,
    out: Encoder,
    /// The answer is out: what is left of the body is read and dropped.
    answered: bool,
    /// The answer switched protocols (`101`): the connection is a tunnel through the exchange
    /// until either side closes.
    tunnel: bool,
    /// When the client last took bytes, or body bytes last came.
    last_sent: Instant,
    last_received: Instant,
    /// The exchange's deadline (its upstream's).
    deadline: Deadline,
    /// What the transport had sent when the exchange began (`$bytes_sent` is the rest).
    sent_before: u64,
}

/// What a connection with no request under way waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// Its first request (or, behind `proxy_protocol`, its PROXY header): just accepted.
    FirstRequest,
    /// The next request on a keep-alive connection.
    NextRequest,
}

pub struct Session {
    transport: Transport,
    /// The address the connection comes from.
    peer: SocketAddr,
    /// Whom the current request is attributed to (access log, CGI, access rules): `peer`, or
    /// the address a trusted proxy gave (`set_real_ip_from`, `real_ip_header`).
    client: SocketAddr,
    /// The bound address of the listener that accepted it (picks the virtual servers).
    listen: SocketAddr,
    /// Received bytes not consumed yet.
    input: Vec<u8>,
    /// How much of `input` is known to hold no complete head (while in `Head`).
    head_checked: usize,
    state: State,
    timeouts: Timeouts,
    /// The session's own deadline.
    deadline: Deadline,
    /// `$connection` and `$connection_requests`.
    serial: u64,
    requests: u32,
    /// What the worker's figures have been told.
    tally: Tally,
}

impl Session {
    /// A session over `transport`; `tally`: what the worker's figures were told of the
    /// connection so far (its TLS handshake, when one came first).
    pub fn new(
        transport: Transport,
        peer: SocketAddr,
        listen: SocketAddr,
        settings: &crate::config::Settings,
        now: Instant,
        tally: Tally,
    ) -> Session {
        let timeouts = Timeouts::of(settings);
        let client = match transport.proxied() {
            Some(_) => settings.real_ip.client(peer, transport.proxied(), &[]),
            None => peer,
        };
        Session {
            tally,
            serial: crate::observe::next_connection(),
            requests: 0,
            transport,
            peer,
            client,
            listen,
            input: Vec::new(),
            head_checked: 0,
            state: State::Head { idle: false },
            timeouts,
            deadline: Deadline {
                at: Some(now + timeouts.header),
                scheduled: None,
            },
        }
    }

    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Where the connection is, as stub_status counts it: waiting for a request, reading its
    /// head, or past it.
    fn phase(&self) -> Phase {
        match &self.state {
            State::Head { .. } if self.input.is_empty() => Phase::Waiting,
            State::Head { .. } => Phase::Reading,
            _ => Phase::Writing,
        }
    }

    /// Brings the worker's figures up to date with this connection.
    #[inline]
    pub fn report(&mut self, stats: &WorkerStats) {
        let phase = self.phase();
        self.tally.report(phase, &self.transport, stats);
    }

    /// The connection is being dropped: its last figures.
    pub fn report_closed(&mut self, stats: &WorkerStats) {
        self.tally.closed(&self.transport, stats);
    }

    /// What the variables know of the connection.
    fn conn_facts(&self) -> ConnFacts {
        ConnFacts {
            serial: self.serial,
            requests: self.requests,
            tls: self.transport.negotiated(),
        }
    }

    /// Records a readiness event of the client socket.
    pub fn ready(&mut self, readable: bool, writable: bool, hangup: bool, error: bool) {
        self.transport.ready(readable, writable, hangup, error);
    }

    /// Records an event of an upstream fd of exchange `stream`.
    pub fn upstream_ready(&mut self, stream: u16, role: Role, ready: [bool; 4]) {
        if stream != EXCHANGE {
            return;
        }
        if let State::Exchange(active) = &mut self.state {
            let [readable, writable, hangup, error] = ready;
            active
                .exchange
                .upstream_ready(role, readable, writable, hangup, error);
        }
    }

    /// What the connection waits for, when it waits for a request of which nothing has
    /// arrived yet: None while a request is under way.
    pub fn waiting(&self) -> Option<Waiting> {
        match self.state {
            State::Head { .. } if !self.input.is_empty() => None,
            State::Head { idle: true } => Some(Waiting::NextRequest),
            State::Head { idle: false } => Some(Waiting::FirstRequest),
            _ => None,
        }
    }

    /// The deadline of `stream` (0: the session's, 1: its exchange's).
    pub fn deadline_mut(&mut self, stream: u16) -> Option<&mut Deadline> {
        match (stream, &mut self.state) {
            (SESSION, _) => Some(&mut self.deadline),
            (EXCHANGE, State::Exchange(active)) => Some(&mut active.deadline),
            _ => None,
        }
    }

    /// Hands every current deadline to `f`, with its stream.
    pub fn each_deadline(&mut self, f: &mut dyn FnMut(u16, &mut Deadline)) {
        f(SESSION, &mut self.deadline);
        if let State::Exchange(active) = &mut self.state {
            f(EXCHANGE, &mut active.deadline);
        }
    }

    /// Runs the state machine until it must wait.
    pub fn drive(&mut self, ctx: &mut Context) -> Drive {
        // Ciphertext waiting for this writable edge goes out whatever the state waits for.
        if self.transport.flush().is_err() {
            return Drive::Close;
        }
        let mut budget = IO_BUDGET;
        loop {
            if budget == 0 {
                return Drive::Yield;
            }
            budget -= 1;
            let state = std::mem::replace(&mut self.state, State::Closed);
            let (next, flow) = match state {
                State::Head { idle } => self.on_head(idle, ctx),
                State::Exchange(active) => self.on_exchange(active, ctx),
                State::Closing { read_whole } => self.on_closing(read_whole, ctx),
                State::Linger => self.on_linger(&mut ctx.local.scratch),
                State::Closed => return Drive::Close,
            };
            self.state = next;
            match (&self.state, flow) {
                (State::Closed, _) => return Drive::Close,
                (_, Flow::Continue) => {}
                (_, Flow::Blocked) => return Drive::Wait,
            }
        }
    }

    /// The deadline of `stream` passed.
    pub fn timed_out(&mut self, stream: u16, ctx: &mut Context) -> Drive {
        let state = std::mem::replace(&mut self.state, State::Closed);
        self.state = match (stream, state) {
            (EXCHANGE, State::Exchange(mut active)) => {
                match active.exchange.timed_out(&mut exchange_cx(ctx)) {
                    Expiry::Handled => State::Exchange(active),
                    // The response has begun: all the client can be told is that it is cut
                    // short.
                    Expiry::Cut => self.abandon(active, Outcome::Cut, ctx),
                }
            }
            (EXCHANGE, state) => state,
            (_, State::Head { idle: false }) if !self.input.is_empty() => self.fail(408, ctx),
            (_, State::Exchange(active)) => {
                let reading = active.incoming.is_some() && !active.out.started();
                if reading && !active.answered {
                    // The body stopped coming: the sink (a half-written upload) goes before the
                    // client hears the answer.
                    drop(active);
                    self.fail(408, ctx)
                } else {
                    // The client stopped reading, or the rest of a body stopped coming after
                    // the answer: nothing more to say.
                    self.abandon(active, Outcome::Cut, ctx)
                }
            }
            _ => State::Closed,
        };
        self.drive(ctx)
    }

    /// Reads a head into an empty `input`: through the scratch buffer, parsed there, and only
    /// what the request did not take (a partial head, pipelined requests, a body's start) is
    /// kept. A connection thus holds an input buffer only while bytes wait in it.
    fn read_fresh_head(&mut self, idle: bool, ctx: &mut Context) -> (State, Flow) {
        let buf = ctx.local.scratch.take(READ_CHUNK);
        let n = match self.transport.read(buf) {
            Ok(0) => return self.head_input_ended(),
            Ok(n) => n,
            Err(e) => return self.head_read_failed(e, idle, ctx),
        };
        let bytes = &mut buf[..n];
        let parsed = if request::worth_parsing(bytes, 0) {
            request::parse(bytes)
        } else {
            Ok(None)
        };
        self.head_checked = 0;
        match parsed {
            Ok(Some((request, used))) => {
                self.input.extend_from_slice(&bytes[used..]);
                (self.start(request, ctx), Flow::Continue)
            }
            Ok(None) => {
                self.input.extend_from_slice(bytes);
                self.head_checked = self.input.len();
                if idle {
                    // The keep-alive wait is over; the head must now come in time.
                    self.deadline.at = Some(ctx.now + self.timeouts.header);
                }
                (State::Head { idle: false }, Flow::Continue)
            }
            Err(status) => {
                self.input.extend_from_slice(bytes);
                (self.fail(status, ctx), Flow::Continue)
            }
        }
    }

    /// The client's side ended where a request head was awaited. One that ended it with TLS
    /// close_notify gets ours (RFC 5246 section 7.2.1 requires the answer in TLS 1.2; nginx
    /// sends it in both versions); otherwise the connection just closes.
    fn head_input_ended(&mut self) -> (State, Flow) {
        if self.transport.sent_close_notify() {
            self.transport.close_notify();
            return (State::Closing { read_whole: true }, Flow::Continue);
        }
        (State::Closed, Flow::Continue)
    }

    /// What a failed read of a head means.
    fn head_read_failed(&mut self, e: io::Error, idle: bool, ctx: &mut Context) -> (State, Flow) {
        match e {
            e if e.kind() == io::ErrorKind::WouldBlock => (State::Head { idle }, Flow::Blocked),
            _ if self.transport.is_plain_http() => (self.fail_plain_http(ctx), Flow::Continue),
            error => {
                // A failed handshake or a broken session says why (the client's alert, no
                // protocol in common, ...): at `info`, as nginx logs SSL_do_handshake() errors.
                if self.transport.is_tls() && log::enabled(crate::config::LogLevel::Info) {
                    log::info(&format!(
                        "client {}: TLS: {error}, connection closed",
                        self.client
                    ));
                }
                (State::Closed, Flow::Continue)
            }
        }
    }

    fn on_head(&mut self, idle: bool, ctx: &mut Context) -> (State, Flow) {
        if self.input.len() > self.head_checked {
            if request::worth_parsing(&self.input, self.head_checked) {
                match request::parse(&mut self.input) {
                    Ok(Some((request, used))) => {
                        self.input.drain(..used);
                        self.head_checked = 0;
                        return (self.start(request, ctx), Flow::Continue);
                    }
                    Ok(None) => {}
                    Err(status) => return (self.fail(status, ctx), Flow::Continue),
                }
            }
            self.head_checked = self.input.len();
        }
        if !self.transport.can_read() {
            return (State::Head { idle }, Flow::Blocked);
        }
        if self.input.is_empty() {
            return self.read_fresh_head(idle, ctx);
        }
        // The rest of a head is read through the scratch buffer and only what came is kept: a
        // partial head holds as many bytes as it has (a client trickling one, slowloris, costs
        // what it sent), up to the head limit.
        let room = INPUT_LIMIT.min(self.input.len() + READ_CHUNK) - self.input.len();
        let buf = ctx.local.scratch.take(room);
        match self.transport.read(buf) {
            Ok(0) => self.head_input_ended(),
            Ok(n) => {
                self.input.extend_from_slice(&buf[..n]);
                // `input` already held part of this head, so its deadline is running.
                (State::Head { idle: false }, Flow::Continue)
            }
            Err(e) => self.head_read_failed(e, idle, ctx),
        }
    }

    /// The route of a request on this connection (None: the default server's own settings).
    #[inline]
    fn route(&self, request: Option<&Request>, ctx: &Context) -> Route {
        Route::select(
            &ctx.runtime.config,
            ctx.runtime.hosts_for(self.listen),
            request,
        )
    }

    /// A complete head arrived: start its exchange.
    fn start(&mut self, request: Request, ctx: &mut Context) -> State {
        self.requests = self.requests.wrapping_add(1);
        self.tally.request_started(&ctx.local.stats);
        let route = self.route(Some(&request), ctx);
        let site = route.site();
        self.timeouts = Timeouts::of(site.settings);
        // Behind a trusted proxy, the request's client is the one it names (nginx's realip).
        let real_ip = &site.settings.real_ip;
        self.client = if real_ip.is_active() {
            real_ip.client(self.peer, self.transport.proxied(), &request.headers)
        } else {
            self.peer
        };
        drop(site);
        let facts = Facts {
            minor_version: u8::from(request.version != Version::Http10),
            keep_alive: request.keep_alive,
            head_only: request.method == Method::Head,
        };
        let framing = request.framing;
        let expect_continue = request.expect_continue;
        let has_body = request.has_body();
        let client_cert = match &route.site().server.client_auth {
            Some(auth) => self.transport.client_cert(auth),
            None => None,
        };
        let socket = self.transport.socket();
        let local = || socket.local_addr().ok();
        let conn = || self.conn_facts();
        let origin = Origin {
            peer: self.client,
            listen: self.listen,
            tls: self.transport.is_tls(),
            local: &local,
            client_cert,
            acme: ctx.runtime.acme.as_deref(),
            conn: &conn,
            zones: &ctx.runtime.zones,
        };
        let mut active = Box::new(Active {
            sent_before: self.transport.sent(),
            exchange: Exchange::new(route, &origin, ctx.now),
            facts,
            incoming: None,
            abandoned: false,
            head_close: false,
            silent: false,
            answered: false,
            tunnel: false,
            out: Encoder::new(),
            last_sent: ctx.now,
            last_received: ctx.now,
            deadline: Deadline::default(),
        });
        active
            .exchange
            .start(request, &origin, &mut exchange_cx(ctx));
        if active.exchange.wants_body() {
            active.incoming = Some(Incoming::new(framing));
            // The client asked whether to send its body: it is wanted.
            if expect_continue && self.input.is_empty() {
                active.out.interim_continue();
            }
            self.deadline.at =
                (!active.exchange.streams_body()).then(|| ctx.now + self.timeouts.body);
        } else {
            active.abandoned = has_body;
        }
        // A head ready at once (a file, a page, an error) is written at once.
        self.take_head(&mut active, ctx);
        if active.silent {
            return self.close_silently(active, ctx);
        }
        State::Exchange(active)
    }

    /// Starts the response when the exchange has its head.
    fn take_head(&mut self, active: &mut Active, ctx: &mut Context) -> bool {
        if active.out.started() {
            return false;
        }
        let mut cx = exchange_cx(ctx);
        match active.exchange.head(&mut cx) {
            Poll::Ready(head) if head.status == handler::CLOSE_WITHOUT_RESPONSE => {
                active.silent = true;
                true
            }
            Poll::Ready(head) => {
                if head.close && active.incoming.is_some() && !active.exchange.wants_body() {
                    // The answer leaves the body unread.
                    active.incoming = None;
                    active.abandoned = true;
                }
                active.head_close = head.close;
                if head.status == 101 && active.exchange.wants_body() {
                    // What the client sends from now on (and what it sent already) is the
                    // tunnel's, whatever the request's framing said.
                    active.incoming = Some(Incoming::tunnel());
                    active.abandoned = false;
                    active.tunnel = true;
                }
                active
                    .out
                    .start(&head, active.facts, ctx.date, ctx.draining);
                active.last_sent = ctx.now;
                self.deadline.at = Some(ctx.now + self.timeouts.send);
                true
            }
            Poll::Pending => false,
        }
    }

    /// Answers an error that ends the connection (malformed request, timeout, ...).
    fn fail(&mut self, status: u16, ctx: &mut Context) -> State {
        // A client's mistake, not the server's: nginx logs these at `info` too.
        if log::enabled(crate::config::LogLevel::Info) {
            log::info(&format!(
                "client {}: {status} {}, connection closed",
                self.client,
                site::pages::reason(status)
            ));
        }
        let route = self.route(None, ctx);
        let response = site::error(status, &route.site());
        // The head could not be parsed, but a HEAD request still gets no body.
        let start = self.input.iter().position(|b| !matches!(b, b'\r' | b'\n'));
        let head_only = start.is_some_and(|i| self.input[i..].starts_with(b"HEAD "));
        self.failed(route, response, head_only, ctx)
    }

    /// Plain HTTP reached a TLS port: nginx's 400 page, in plain HTTP, and the connection ends.
    fn fail_plain_http(&mut self, ctx: &mut Context) -> State {
        let title = "400 The plain HTTP request was sent to HTTPS port";
        let body =
            "<h1>400 Bad Request</h1>\n<p>The plain HTTP request was sent to HTTPS port.</p>\n";
        let response = Response::html(400, site::pages::page(title, body));
        self.input.clear();
        let route = self.route(None, ctx);
        self.failed(route, response, false, ctx)
    }

    fn failed(
        &mut self,
        route: Route,
        response: Response,
        head_only: bool,
        ctx: &mut Context,
    ) -> State {
        self.tally.request_started(&ctx.local.stats);
        let socket = self.transport.socket();
        let local = || socket.local_addr().ok();
        let conn = || self.conn_facts();
        let origin = Origin {
            peer: self.client,
            listen: self.listen,
            tls: self.transport.is_tls(),
            local: &local,
            client_cert: None,
            acme: None,
            conn: &conn,
            zones: &ctx.runtime.zones,
        };
        let mut active = Box::new(Active {
            sent_before: self.transport.sent(),
            exchange: Exchange::failed(route, response, &origin, ctx.now),
            facts: Facts {
                minor_version: 1,
                keep_alive: false,
                head_only,
            },
            incoming: None,
            abandoned: true,
            head_close: false,
            silent: false,
            answered: false,
            tunnel: false,
            out: Encoder::new(),
            last_sent: ctx.now,
            last_received: ctx.now,
            deadline: Deadline::default(),
        });
        self.take_head(&mut active, ctx);
        State::Exchange(active)
    }

    /// One step of an exchange: request body in, the exchange's own I/O, the answer out.
    fn on_exchange(&mut self, mut active: Box<Active>, ctx: &mut Context) -> (State, Flow) {
        let mut progress = false;

        // The request body, client to sink.
        match self.receive(&mut active, ctx) {
            Ok(received) => progress |= received,
            Err(outcome) => return (self.abandon(active, outcome, ctx), Flow::Continue),
        }

        // The exchange's own fds (its upstream).
        progress |= active.exchange.advance(&mut exchange_cx(ctx));

        if active.answered {
            // The rest of a body the answer did not need.
            if active.incoming.is_none() {
                return (self.after_response(true, true, ctx), Flow::Continue);
            }
            active.deadline.at = None;
            self.deadline.at = Some(active.last_received + self.timeouts.body);
            let flow = if progress {
                Flow::Continue
            } else {
                Flow::Blocked
            };
            return (State::Exchange(active), flow);
        }

        // The answer, exchange to client.
        if !active.out.started() {
            if self.take_head(&mut active, ctx) {
                if active.silent {
                    return (self.close_silently(active, ctx), Flow::Continue);
                }
                progress = true;
            } else if self.transport.writable() {
                // An interim `100 Continue` goes out while the answer is not decided.
                match active
                    .out
                    .write_interim(&mut self.transport, &mut ctx.local.scratch)
                {
                    Ok(Step::Progress) => progress = true,
                    Ok(Step::Blocked) => {}
                    Err(_) => {
                        return (
                            self.abandon(active, Outcome::ClientLeft, ctx),
                            Flow::Continue,
                        );
                    }
                }
            }
        }
        // Two steps at most: a write, then (often) the end of the body it completed.
        for _ in 0..2 {
            if !active.out.started() || active.out.finished().is_some() {
                break;
            }
            match active.out.step(
                &mut active.exchange,
                &mut self.transport,
                &mut ctx.local.scratch,
            ) {
                Ok(Step::Progress) => {
                    progress = true;
                    active.last_sent = ctx.now;
                }
                Ok(Step::Blocked) => break,
                Err(_) => {
                    return (
                        self.abandon(active, Outcome::ClientLeft, ctx),
                        Flow::Continue,
                    );
                }
            }
        }

        if let Some(ended) = active.out.finished() {
            return (self.answered(active, ended, ctx), Flow::Continue);
        }
        self.set_deadlines(&mut active);
        let flow = if progress {
            Flow::Continue
        } else {
            Flow::Blocked
        };
        (State::Exchange(active), flow)
    }

    /// Moves request-body bytes from the client to the exchange, reading when the sink has
    /// taken what was buffered. After the body (or without one), while a backend answers,
    /// reading goes on: it keeps a pipelined request for later, and it notices a client that
    /// leaves (end of stream: the backend is stopped; as nginx does, a half-close is taken as
    /// a departure, since only a write could tell them apart). A TLS close_notify after the
    /// whole body is not a departure but "nothing more": the answer is finished, and the end is
    /// read (and answered with ours) after that. Err: the connection is to close, and how the
    /// exchange ended.
    fn receive(&mut self, active: &mut Active, ctx: &mut Context) -> Result<bool, Outcome> {
        let mut progress = false;
        let streams = active.exchange.streams_body();
        let wants_more = match &mut active.incoming {
            Some(incoming) => {
                let mut cx = exchange_cx(ctx);
                match incoming.feed(&mut self.input, &mut active.exchange, &mut cx) {
                    Ok(Fed::Complete) => {
                        active.incoming = None;
                        active.exchange.end_of_body(&mut cx);
                        return Ok(true);
                    }
                    Ok(Fed::NeedMore) => true,
                    Ok(Fed::Full) => false,
                    Err(error) => {
                        let refused = match error {
                            BodyError::Status(status) => active.exchange.refuse_body(status),
                            BodyError::Refused => true,
                        };
                        active.incoming = None;
                        active.abandoned = true;
                        return if refused { Ok(true) } else { Err(Outcome::Cut) };
                    }
                }
            }
            None => false,
        };
        let (room, reading) = if wants_more {
            let limit = if streams { INPUT_LIMIT } else { BODY_CHUNK };
            let empty_enough = if streams {
                self.input.is_empty()
            } else {
                self.input.len() < BODY_CHUNK
            };
            (limit.saturating_sub(self.input.len()), empty_enough)
        } else if active.incoming.is_none()
            && !active.tunnel
            && active.exchange.watches_client()
            && !self.transport.sent_close_notify()
        {
            (
                INPUT_LIMIT.saturating_sub(self.input.len()),
                self.input.len() < INPUT_LIMIT,
            )
        } else {
            (0, false)
        };
        if reading && room > 0 && self.transport.can_read() {
            match self.transport.read_into(
                &mut self.input,
                room.min(BODY_CHUNK),
                &mut ctx.local.scratch,
            ) {
                // The end of a tunnel's client side: passed on once what came before it is.
                Ok(0) if active.incoming.as_ref().is_some_and(Incoming::is_tunnel) => {
                    if let Some(incoming) = &mut active.incoming {
                        incoming.end_of_input();
                    }
                    progress = true;
                }
                // The client went away.
                Ok(0) => return Err(Outcome::ClientLeft),
                Ok(_) => {
                    progress = true;
                    active.last_received = ctx.now;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return Err(Outcome::ClientLeft),
            }
        }
        Ok(progress)
    }

    /// Sets the session's deadline and the exchange's for the wait ahead: the client's send
    /// timeout while bytes wait for it; the body timeout while a body comes into a sink with no
    /// deadline of its own; the exchange's upstream's.
    fn set_deadlines(&mut self, active: &mut Active) {
        let client_waiting = active.out.started() && active.out.client_waiting();
        self.deadline.at = if client_waiting {
            Some(active.last_sent + self.timeouts.send)
        } else if active.incoming.is_some() && !active.exchange.streams_body() {
            Some(active.last_received + self.timeouts.body)
        } else {
            None
        };
        active.deadline.at = active.exchange.deadline(client_waiting);
    }

    /// `return 444`: the connection closes without a response (nginx's way to drop a
    /// request), logged with status 444 and no bytes.
    fn close_silently(&mut self, mut active: Box<Active>, ctx: &mut Context) -> State {
        self.finish(&mut active, Outcome::Complete, ctx);
        State::Closed
    }

    /// The answer is out: log it, then the next request, the rest of the body, or the close.
    fn answered(&mut self, mut active: Box<Active>, ended: Ended, ctx: &mut Context) -> State {
        let outcome = match ended {
            Ended::Complete => Outcome::Complete,
            Ended::Cut => Outcome::Cut,
        };
        self.finish(&mut active, outcome, ctx);
        let keep_alive = ended == Ended::Complete
            && active.out.persistence() == Persistence::KeepAlive
            && !ctx.draining;
        if keep_alive && active.incoming.is_some() {
            // The answer came before the client finished its body: the head promised
            // keep-alive, so the rest of the body is read and dropped first.
            active.exchange.drop_body();
            active.answered = true;
            active.last_received = ctx.now;
            self.deadline.at = Some(ctx.now + self.timeouts.body);
            return State::Exchange(active);
        }
        let read_whole = active.incoming.is_none() && !active.abandoned && !active.head_close;
        self.after_response(keep_alive, read_whole, ctx)
    }

    /// The exchange is over: it counts and logs itself.
    fn finish(&self, active: &mut Active, outcome: Outcome, ctx: &mut Context) {
        let end = Finish {
            outcome,
            body_bytes: active.out.body_bytes(),
            bytes_sent: self.transport.sent() - active.sent_before,
        };
        active.exchange.finish(end, &mut exchange_cx(ctx));
    }

    /// The exchange ends before its answer did (`outcome`: the client left, or the answer was
    /// cut): it is counted and logged as such (nginx's 499 when the client left first), and the
    /// connection closes.
    fn abandon(&mut self, mut active: Box<Active>, outcome: Outcome, ctx: &mut Context) -> State {
        if !active.answered {
            self.finish(&mut active, outcome, ctx);
        }
        State::Closed
    }

    /// A response is complete: wait for the next request, or close. `read_whole`: the request
    /// was read completely (see [`Session::on_closing`]).
    fn after_response(&mut self, keep_alive: bool, read_whole: bool, ctx: &Context) -> State {
        if keep_alive && !ctx.draining {
            self.head_checked = 0;
            let idle = self.input.is_empty();
            let wait = if idle {
                self.timeouts.keepalive
            } else {
                self.timeouts.header
            };
            self.deadline.at = Some(ctx.now + wait);
            if idle {
                // An idle connection holds no buffer: the next head is read into the scratch.
                self.input = Vec::new();
            }
            return State::Head { idle };
        }
        self.transport.close_notify();
        State::Closing { read_whole }
    }

    /// Waits until the TLS close_notify (and whatever ciphertext precedes it) is written, then
    /// closes, or shuts the write side and lingers.
    ///
    /// Lingering exists so that bytes the client still sends do not turn the close into a reset
    /// that destroys the response in flight. When the request was read whole and nothing is
    /// buffered or known readable, there is nothing to reset: close at once (nginx's rule too),
    /// which spares a `shutdown` and the `read` of the end of stream.
    fn on_closing(&mut self, read_whole: bool, ctx: &Context) -> (State, Flow) {
        if self.transport.flush().is_err() {
            return (State::Closed, Flow::Continue);
        }
        if self.transport.has_output() {
            return (State::Closing { read_whole }, Flow::Blocked);
        }
        if read_whole && self.input.is_empty() && !self.transport.can_read() {
            return (State::Closed, Flow::Continue);
        }
        self.transport.shutdown_write();
        self.deadline.at = Some(ctx.now + LINGER);
        (State::Linger, Flow::Continue)
    }

    fn on_linger(&mut self, scratch: &mut Scratch) -> (State, Flow) {
        if !self.transport.socket_readable() {
            return (State::Linger, Flow::Blocked);
        }
        self.input = Vec::new();
        match self.transport.discard_input(scratch) {
            Ok(0) => (State::Closed, Flow::Continue),
            Ok(_) => (State::Linger, Flow::Continue),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => (State::Linger, Flow::Blocked),
            Err(_) => (State::Closed, Flow::Continue),
        }
    }
}

/// The exchange's view of the worker: its time, what the worker lends, and where its
/// upstream's fds are registered (this connection's slot, the exchange's stream).
fn exchange_cx<'a>(ctx: &'a mut Context) -> Cx<'a> {
    Cx {
        now: ctx.now,
        log_time: ctx.log_time,
        local: ctx.local,
        registration: Registration {
            poller: ctx.poller,
            slot: ctx.slot,
            generation: ctx.generation,
            stream: EXCHANGE,
        },
    }
}
