//! One client connection and its state machine.
//!
//! ```text
//!   Head ─┬─▶ Body ─┬─▶ Send ──┬─▶ Head     (keep-alive: the next request)
//!         │         └─▶ Cgi ───┤
//!         ├─▶ Cgi ─────────────┤
//!         ├─▶ Send ────────────┘
//!         └─▶ Send (error) ──▶ [Closing] ──▶ Linger ──▶ closed
//! ```
//!
//! `Body` reads a request body into a sink (discarded, an upload, or a spool for CGI); `Cgi`
//! (in `cgi.rs`) feeds a script and streams its output; `Linger` reads what a client still sends
//! after a final response so that it sees the response rather than a reset (not needed, and
//! skipped, when the request was read whole and nothing more is readable); over TLS, `Closing`
//! first sends the close_notify alert.
//!
//! [`Connection::drive`] runs the machine until it has to wait for the socket (or its budget is
//! spent). Each step takes the state by value and returns the next one, so every transition is
//! one assignment. Readiness comes from edge-triggered epoll: an event sets `readable` or
//! `writable`, and `EAGAIN` (or a short read or write) clears it. Bytes go through a
//! [`Transport`] (plain or TLS); over TLS, input is also available while rustls holds decrypted
//! bytes, and queued ciphertext is flushed whenever the connection is driven.

mod cgi;

use super::fault::{self, Point};
use super::log;
use super::output::{Output, Progress};
use super::runtime::Runtime;
use super::transport::{SCRATCH, Transport, with_scratch};
use crate::cgi::process::Stdin;
use crate::config::Settings;
use crate::event::Poller;
use crate::handler::file_cache;
use crate::handler::upload::Upload;
use crate::handler::{self, Plan, Site};
use crate::http::chunked::{ChunkedDecoder, Decoded};
use crate::http::request::{self, Framing, Method, Request};
use crate::http::response::{self, Body, Response};
use rustix::buffer::spare_capacity;
use rustix::io::Errno;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

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

/// The interim answer to `Expect: 100-continue`, sent just before a body is wanted.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What the worker must do after `drive`.
#[derive(Debug, PartialEq, Eq)]
pub enum Drive {
    /// Waiting for readiness or a deadline.
    Wait,
    /// Budget spent with work left: drive again after the other ready connections.
    Yield,
    /// Done: drop the connection.
    Close,
}

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
    fn of(settings: &Settings) -> Timeouts {
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
    Body(Box<Receiving>),
    Send(Box<Sending>),
    /// Running a CGI script and streaming its output.
    Cgi(Box<cgi::CgiRun>),
    /// The last response is out; TLS close_notify is still being written. `read_whole`: the
    /// request was read completely.
    Closing {
        read_whole: bool,
    },
    /// The write side is shut; reading until the client closes or the linger time ends.
    Linger,
    Closed,
}

/// Reading a request body.
struct Receiving {
    request: Request,
    decoder: BodyDecoder,
    sink: Sink,
    /// Body bytes received so far, and the most allowed (0: no limit).
    received: u64,
    limit: u64,
    /// `100 Continue` still to be written (the client asked for it and sent no body yet).
    interim: &'static [u8],
}

enum BodyDecoder {
    Length { remaining: u64 },
    Chunked(ChunkedDecoder),
}

/// Where body bytes go.
enum Sink {
    /// Nowhere: the response is already decided.
    Discard(Response),
    /// To files in an upload store.
    Upload(Box<Upload>),
    /// To a temporary file, for a CGI script that needs CONTENT_LENGTH of a chunked body.
    Spool(cgi::Spool),
    /// Nowhere, after the response was sent: the rest of a body the answer did not need.
    Drop,
}

/// Why a body could not be taken.
enum BodyError {
    /// The framing was broken or the limit passed: answer this status.
    Status(u16),
    /// The sink failed and says how to answer.
    Response(Response),
}

/// Writing a response.
struct Sending {
    output: Output,
    keep_alive: bool,
    /// The request was read whole (head and body): closing after it cannot reset the response.
    read_whole: bool,
    log: Option<log::Entry>,
}

/// What a step may use from its worker.
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
    /// The worker's epoll, and this connection's slot in it (for a CGI script's fds).
    pub poller: &'a Poller,
    pub slot: u32,
    pub generation: u32,
}

pub struct Connection {
    transport: Transport,
    peer: SocketAddr,
    /// The bound address of the listener that accepted it (picks the virtual servers).
    listen: SocketAddr,
    /// Received bytes not consumed yet.
    input: Vec<u8>,
    /// How much of `input` is known to hold no complete head (while in `Head`).
    head_checked: usize,
    readable: bool,
    writable: bool,
    /// The peer closed its side (or the socket failed): reads go on until they say so.
    hangup: bool,
    state: State,
    timeouts: Timeouts,
    /// When the current wait ends (the worker schedules it).
    pub deadline: Option<Instant>,
    /// The earliest deadline the worker's timer queue holds for this connection.
    pub scheduled: Option<Instant>,
}

impl Connection {
    pub fn new(
        transport: Transport,
        peer: SocketAddr,
        listen: SocketAddr,
        runtime: &Runtime,
        now: Instant,
    ) -> Connection {
        let timeouts = Timeouts::of(route(runtime, listen, None).settings);
        Connection {
            transport,
            peer,
            listen,
            input: Vec::new(),
            head_checked: 0,
            readable: false,
            writable: false,
            hangup: false,
            state: State::Head { idle: false },
            timeouts,
            deadline: Some(now + timeouts.header),
            scheduled: None,
        }
    }

    pub fn socket(&self) -> &TcpStream {
        self.transport.socket()
    }

    /// Records a readiness event.
    pub fn ready(&mut self, readable: bool, writable: bool, hangup: bool, error: bool) {
        self.readable |= readable || hangup || error;
        self.writable |= writable || error;
        self.hangup |= hangup || error;
    }

    /// Whether the connection waits for a request with nothing of it received yet (new, or
    /// between keep-alive requests).
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Head { .. }) && self.input.is_empty()
    }

    /// Runs the state machine until it must wait.
    pub fn drive(&mut self, ctx: &mut Context) -> Drive {
        // Ciphertext waiting for this writable edge goes out whatever the state waits for.
        if self.transport.flush(&mut self.writable).is_err() {
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
                State::Body(receiving) => self.on_body(receiving, ctx),
                State::Send(sending) => self.on_send(sending, ctx),
                State::Cgi(run) => self.on_cgi(run, ctx),
                State::Closing { read_whole } => self.on_closing(read_whole, ctx),
                State::Linger => self.on_linger(),
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

    /// The deadline passed: answer 408 where a request was under way, else close.
    pub fn timed_out(&mut self, ctx: &mut Context) -> Drive {
        let state = std::mem::replace(&mut self.state, State::Closed);
        self.state = match state {
            State::Head { idle: false } if !self.input.is_empty() => self.fail(408, ctx),
            // Its answer is already sent: nothing more to say.
            State::Body(body) if matches!(body.sink, Sink::Drop) => State::Closed,
            State::Body(body) => {
                // The sink (a half-written upload) goes before the client hears the answer.
                drop(body);
                self.fail(408, ctx)
            }
            State::Cgi(run) => self.cgi_timed_out(run, ctx),
            _ => State::Closed,
        };
        self.drive(ctx)
    }

    /// Whether a read could bring bytes.
    fn can_read(&self) -> bool {
        self.transport.has_input(self.readable)
    }

    /// Whether the client ended its side with TLS close_notify: it sends nothing more, but
    /// (unlike one that closed the socket) still reads.
    fn sent_close_notify(&self) -> bool {
        matches!(&self.transport, Transport::Tls(tls) if tls.peer_closed())
    }

    /// Reads once into `input`, keeping it within `limit` bytes. Ok(0) is end of stream.
    fn read_some(&mut self, limit: usize) -> io::Result<usize> {
        let room = limit.saturating_sub(self.input.len()).min(BODY_CHUNK);
        if room == 0 {
            return Err(io::Error::other("input buffer full"));
        }
        let Transport::Tls(tls) = &mut self.transport else {
            return self.read_raw(room);
        };
        tls.read_into(
            &mut self.input,
            room,
            &mut self.readable,
            &mut self.writable,
            self.hangup,
        )
    }

    /// Reads once from the socket itself (for a TLS connection: ciphertext) into `input`, at
    /// most `room` bytes.
    fn read_raw(&mut self, room: usize) -> io::Result<usize> {
        self.input.reserve(room);
        let asked = self.input.capacity() - self.input.len();
        let result = rustix::io::read(self.transport.socket(), spare_capacity(&mut self.input));
        settle_read(result, asked, &mut self.readable, self.hangup)
    }

    /// Reads once (decrypted, over TLS) into the worker's scratch buffer, at most `room` bytes,
    /// and hands the bytes and `input` to `f`, which copies into `input` whatever must stay.
    /// Ok(None) is end of stream. A connection thus holds an input buffer only while bytes wait
    /// in it: the usual request is parsed where it was read, and nothing is allocated for it.
    fn read_scratch<R>(
        &mut self,
        room: usize,
        f: impl FnOnce(&mut [u8], &mut Vec<u8>) -> R,
    ) -> io::Result<Option<R>> {
        let (transport, input) = (&mut self.transport, &mut self.input);
        let (readable, writable, hangup) = (&mut self.readable, &mut self.writable, self.hangup);
        with_scratch(|scratch| {
            let buf = &mut scratch[..room.min(SCRATCH)];
            let n = match transport {
                Transport::Tls(tls) => tls.read(buf, readable, writable, hangup)?,
                Transport::Plain(socket) => {
                    let asked = buf.len();
                    settle_read(
                        rustix::io::read(&*socket, &mut *buf),
                        asked,
                        readable,
                        hangup,
                    )?
                }
            };
            Ok((n > 0).then(|| f(&mut buf[..n], input)))
        })
    }

    /// Reads a head into an empty `input`: through the scratch buffer, parsed there, and only
    /// what the request did not take (a partial head, pipelined requests, a body's start) is
    /// kept.
    fn read_fresh_head(&mut self, idle: bool, ctx: &mut Context) -> (State, Flow) {
        let read = self.read_scratch(READ_CHUNK, |bytes, input| {
            let parsed = if request::worth_parsing(bytes, 0) {
                request::parse(bytes)
            } else {
                Ok(None)
            };
            match parsed {
                Ok(Some((request, used))) => {
                    input.extend_from_slice(&bytes[used..]);
                    Some(Ok(request))
                }
                Ok(None) => {
                    input.extend_from_slice(bytes);
                    None
                }
                Err(status) => {
                    input.extend_from_slice(bytes);
                    Some(Err(status))
                }
            }
        });
        match read {
            Ok(None) => self.head_input_ended(),
            Ok(Some(parsed)) => {
                self.head_checked = 0;
                match parsed {
                    Some(Ok(request)) => (self.start(request, ctx), Flow::Continue),
                    Some(Err(status)) => (self.fail(status, ctx), Flow::Continue),
                    None => {
                        self.head_checked = self.input.len();
                        if idle {
                            // The keep-alive wait is over; the head must now come in time.
                            self.deadline = Some(ctx.now + self.timeouts.header);
                        }
                        (State::Head { idle: false }, Flow::Continue)
                    }
                }
            }
            Err(e) => self.head_read_failed(e, idle, ctx),
        }
    }

    /// The client's side ended where a request head was awaited. One that ended it with TLS
    /// close_notify gets ours (RFC 5246 section 7.2.1 requires the answer in TLS 1.2; nginx
    /// sends it in both versions); otherwise the connection just closes.
    fn head_input_ended(&mut self) -> (State, Flow) {
        if self.sent_close_notify() {
            self.transport.close_notify();
            return (State::Closing { read_whole: true }, Flow::Continue);
        }
        (State::Closed, Flow::Continue)
    }

    /// What a failed read of a head means.
    fn head_read_failed(&mut self, e: io::Error, idle: bool, ctx: &mut Context) -> (State, Flow) {
        match e {
            e if e.kind() == io::ErrorKind::WouldBlock => (State::Head { idle }, Flow::Blocked),
            _ if matches!(&self.transport, Transport::Tls(tls) if tls.is_plain_http()) => {
                (self.fail_plain_http(ctx), Flow::Continue)
            }
            error => {
                // A failed handshake or a broken session says why (the client's alert, no
                // protocol in common, ...): at `info`, as nginx logs SSL_do_handshake() errors.
                if matches!(self.transport, Transport::Tls(_))
                    && log::enabled(crate::config::LogLevel::Info)
                {
                    log::info(&format!(
                        "client {}: TLS: {error}, connection closed",
                        self.peer
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
        if !self.can_read() {
            return (State::Head { idle }, Flow::Blocked);
        }
        if self.input.is_empty() {
            return self.read_fresh_head(idle, ctx);
        }
        // Heads are small: read them in small pieces, up to the head limit.
        match self.read_some(INPUT_LIMIT.min(self.input.len() + READ_CHUNK)) {
            Ok(0) => self.head_input_ended(),
            // `input` already held part of this head, so its deadline is running.
            Ok(_) => (State::Head { idle: false }, Flow::Continue),
            Err(e) => self.head_read_failed(e, idle, ctx),
        }
    }

    /// Plain HTTP reached a TLS port: nginx's 400 page, in plain HTTP, and the connection ends.
    fn fail_plain_http(&mut self, ctx: &mut Context) -> State {
        let title = "400 The plain HTTP request was sent to HTTPS port";
        let body =
            "<h1>400 Bad Request</h1>\n<p>The plain HTTP request was sent to HTTPS port.</p>\n";
        let response = Response::html(400, handler::pages::page(title, body));
        let log = ctx.access_log.is_some().then(|| log_entry(None, 400));
        self.input.clear();
        self.send(response, false, false, false, log, ctx)
    }

    /// A complete head arrived: route it and decide what happens to it.
    fn start(&mut self, mut request: Request, ctx: &mut Context) -> State {
        fault::check(&request.target, Point::Plan);
        if let Some(response) = acme_http01(ctx.runtime, &request) {
            return self.respond(&request, response, true, ctx);
        }
        let site = route(ctx.runtime, self.listen, Some(&request));
        let client_cert = self.client_cert(site.server);
        if let (Some(auth), Some(cert)) = (&site.server.client_auth, &client_cert)
            && let Some(why) = super::client_cert::refusal(auth, cert)
        {
            return self.refuse_client_cert(&request, why, ctx);
        }
        self.timeouts = Timeouts::of(site.settings);
        let limit = site.settings.client_max_body_size;
        if let Framing::Length(length) = request.framing
            && limit > 0
            && length > limit
        {
            let response = handler::error(413, &site);
            return self.respond(&request, response, false, ctx);
        }
        let socket = self.transport.socket();
        let local = || socket.local_addr().ok();
        let conn = handler::ConnInfo {
            listen: self.listen,
            peer: self.peer,
            tls: matches!(self.transport, Transport::Tls(_)),
            local: &local,
            client_cert: client_cert.as_deref(),
        };
        match handler::plan(&mut request, &site, &conn) {
            Plan::Respond(response) => {
                if request.has_body() {
                    self.receive(request, Sink::Discard(response), limit, ctx)
                } else {
                    self.respond(&request, response, true, ctx)
                }
            }
            Plan::Upload(upload) => self.receive(request, Sink::Upload(upload), limit, ctx),
            Plan::Cgi(script) => match request.framing {
                Framing::Chunked => match cgi::Spool::new(script) {
                    Ok(spool) => self.receive(request, Sink::Spool(spool), limit, ctx),
                    Err(error) => {
                        log::error(&format!("cannot spool a request body: {error}"));
                        let response = handler::error(500, &site);
                        self.respond(&request, response, false, ctx)
                    }
                },
                Framing::Length(length) if length > 0 => {
                    self.start_cgi(request, &script, Stdin::Pipe, Some(length), length, ctx)
                }
                _ => self.start_cgi(request, &script, Stdin::Empty, None, 0, ctx),
            },
        }
    }

    /// The client certificate as `server` judges it, on a server that verifies them.
    fn client_cert(&mut self, server: &crate::config::Server) -> Option<Arc<handler::ClientCert>> {
        let auth = server.client_auth.as_ref()?;
        match &mut self.transport {
            Transport::Tls(tls) => Some(tls.client_cert(auth)),
            Transport::Plain(_) => None,
        }
    }

    /// nginx's 400 pages for a missing or invalid client certificate; the connection closes.
    fn refuse_client_cert(&mut self, request: &Request, why: &str, ctx: &mut Context) -> State {
        if log::enabled(crate::config::LogLevel::Info) {
            log::info(&format!("client {}: {why}, request refused", self.peer));
        }
        let title = format!("400 {why}");
        let body = format!("<h1>400 Bad Request</h1>\n<p>{why}</p>\n");
        let mut response = Response::html(400, handler::pages::page(&title, &body));
        response.close = true;
        self.respond(request, response, false, ctx)
    }

    fn receive(&mut self, request: Request, sink: Sink, limit: u64, ctx: &Context) -> State {
        let decoder = match request.framing {
            Framing::Chunked => BodyDecoder::Chunked(ChunkedDecoder::new()),
            Framing::Length(remaining) => BodyDecoder::Length { remaining },
            Framing::None => BodyDecoder::Length { remaining: 0 },
        };
        let interim: &'static [u8] = if request.expect_continue && self.input.is_empty() {
            CONTINUE
        } else {
            b""
        };
        self.deadline = Some(ctx.now + self.timeouts.body);
        State::Body(Box::new(Receiving {
            request,
            decoder,
            sink,
            received: 0,
            limit,
            interim,
        }))
    }

    /// Reads and drops the `left` body bytes of a request already answered.
    fn drop_body(&mut self, request: Request, left: u64, ctx: &Context) -> State {
        self.deadline = Some(ctx.now + self.timeouts.body);
        State::Body(Box::new(Receiving {
            request,
            decoder: BodyDecoder::Length { remaining: left },
            sink: Sink::Drop,
            received: 0,
            limit: 0,
            interim: b"",
        }))
    }

    fn on_body(&mut self, mut body: Box<Receiving>, ctx: &mut Context) -> (State, Flow) {
        if !body.interim.is_empty() {
            if !self.writable {
                return (State::Body(body), Flow::Blocked);
            }
            match self.transport.write(body.interim, &mut self.writable) {
                Ok(n) => body.interim = &body.interim[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return (State::Body(body), Flow::Blocked);
                }
                Err(_) => return (State::Closed, Flow::Continue),
            }
            return (State::Body(body), Flow::Continue);
        }
        // What is buffered goes to the sink first; a partial chunk line stays until more comes.
        match body.consume(&mut self.input) {
            Ok(true) => return (self.finish_body(*body, ctx), Flow::Continue),
            Ok(false) if body.received > 0 && matches!(body.sink, Sink::Upload(_)) => {
                fault::check(&body.request.target, Point::Upload);
            }
            Ok(false) => {}
            Err(error) => {
                let response = match error {
                    BodyError::Response(response) => response,
                    BodyError::Status(status) => {
                        self.error_response(status, Some(&body.request), ctx)
                    }
                };
                return (
                    self.respond(&body.request, response, false, ctx),
                    Flow::Continue,
                );
            }
        }
        if !self.can_read() {
            return (State::Body(body), Flow::Blocked);
        }
        match self.read_some(BODY_CHUNK) {
            // The client went away in the middle of its body.
            Ok(0) => (State::Closed, Flow::Continue),
            Ok(_) => {
                self.deadline = Some(ctx.now + self.timeouts.body);
                (State::Body(body), Flow::Continue)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => (State::Body(body), Flow::Blocked),
            Err(_) => (State::Closed, Flow::Continue),
        }
    }

    fn finish_body(&mut self, body: Receiving, ctx: &mut Context) -> State {
        let response = match body.sink {
            Sink::Discard(response) => response,
            Sink::Upload(upload) => {
                let response = upload.finish();
                file_cache::note_possible_change();
                response
            }
            Sink::Spool(spool) => return self.start_cgi_spooled(body.request, spool, ctx),
            Sink::Drop => return self.after_response(true, true, ctx),
        };
        self.respond(&body.request, response, true, ctx)
    }

    /// Starts sending `response`. `reusable`: the request was read whole, so the connection can
    /// carry another one if both sides want.
    fn respond(
        &mut self,
        request: &Request,
        mut response: Response,
        reusable: bool,
        ctx: &mut Context,
    ) -> State {
        self.decorate(&mut response, Some(request), false, ctx);
        let keep_alive = reusable && request.keep_alive && !response.close && !ctx.draining;
        let log = ctx
            .access_log
            .is_some()
            .then(|| log_entry(Some(request), response.status));
        let head_only = request.method == Method::Head;
        let read_whole = reusable && !response.close;
        self.send(response, keep_alive, read_whole, head_only, log, ctx)
    }

    /// Answers an error that ends the connection (malformed request, timeout, ...).
    fn fail(&mut self, status: u16, ctx: &mut Context) -> State {
        // A client's mistake, not the server's: nginx logs these at `info` too.
        if log::enabled(crate::config::LogLevel::Info) {
            log::info(&format!(
                "client {}: {status} {}, connection closed",
                self.peer,
                handler::pages::reason(status)
            ));
        }
        let mut response = self.error_response(status, None, ctx);
        self.decorate(&mut response, None, false, ctx);
        let log = ctx.access_log.is_some().then(|| log_entry(None, status));
        // The head could not be parsed, but a HEAD request still gets no body.
        let start = self.input.iter().position(|b| !matches!(b, b'\r' | b'\n'));
        let head_only = start.is_some_and(|i| self.input[i..].starts_with(b"HEAD "));
        self.send(response, false, false, head_only, log, ctx)
    }

    fn send(
        &mut self,
        response: Response,
        keep_alive: bool,
        read_whole: bool,
        head_only: bool,
        log: Option<log::Entry>,
        ctx: &Context,
    ) -> State {
        let with_body = response::status_has_body(response.status);
        let framing = if with_body {
            response::Framing::Length(response.body.len())
        } else {
            response::Framing::None
        };
        let mut head = Vec::with_capacity(256);
        let reason = handler::pages::reason(response.status);
        response::write_head(&mut head, &response, reason, ctx.date, framing, keep_alive);
        let body = if head_only || !with_body {
            Body::Empty
        } else {
            response.body
        };
        self.deadline = Some(ctx.now + self.timeouts.send);
        State::Send(Box::new(Sending {
            output: Output::new(head, body),
            keep_alive,
            read_whole,
            log,
        }))
    }

    fn on_send(&mut self, mut sending: Box<Sending>, ctx: &mut Context) -> (State, Flow) {
        if !sending.output.is_done() {
            if !self.writable {
                return (State::Send(sending), Flow::Blocked);
            }
            let written = match &mut self.transport {
                Transport::Tls(tls) if !tls.is_plain_http() => {
                    sending.output.write_tls(tls, &mut self.writable)
                }
                transport => sending.output.write_to(transport.socket()),
            };
            return match written {
                Ok(progress) => {
                    if progress == Progress::Full {
                        self.writable = false;
                    }
                    self.deadline = Some(ctx.now + self.timeouts.send);
                    (State::Send(sending), Flow::Continue)
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.writable = false;
                    (State::Send(sending), Flow::Blocked)
                }
                Err(_) => (State::Closed, Flow::Continue),
            };
        }
        self.log_response(sending.log.as_ref(), sending.output.body_sent(), ctx);
        let (keep_alive, read_whole) = (sending.keep_alive, sending.read_whole);
        (
            self.after_response(keep_alive, read_whole, ctx),
            Flow::Continue,
        )
    }

    /// The error response for `status` on this connection's site (the request's, or the
    /// default server's when the request could not be parsed).
    fn error_response(&self, status: u16, request: Option<&Request>, ctx: &Context) -> Response {
        handler::error(status, &route(ctx.runtime, self.listen, request))
    }

    /// Adds the fields the site configures (`add_header`, `expires`) to a response about to be
    /// sent: every response leaves through here, [`Connection::respond`], [`Connection::fail`]
    /// or the head of a CGI response.
    fn decorate(
        &self,
        response: &mut Response,
        request: Option<&Request>,
        from_cgi: bool,
        ctx: &Context,
    ) {
        if ctx.runtime.decorates {
            let site = route(ctx.runtime, self.listen, request);
            handler::headers::decorate(response, site.settings, SystemTime::now(), from_cgi);
        }
    }

    /// Adds the access-log line of a completed response (when the access log is on).
    fn log_response(&self, entry: Option<&log::Entry>, body_bytes: u64, ctx: &mut Context) {
        if let (Some(entry), Some(out)) = (entry, ctx.access_log.as_deref_mut()) {
            log::append_access(out, self.peer, ctx.log_time, entry, body_bytes);
        }
    }

    /// A response is complete: wait for the next request, or close. `read_whole`: the request
    /// was read completely (see [`Connection::on_closing`]).
    fn after_response(&mut self, keep_alive: bool, read_whole: bool, ctx: &Context) -> State {
        if keep_alive && !ctx.draining {
            self.head_checked = 0;
            let idle = self.input.is_empty();
            let wait = if idle {
                self.timeouts.keepalive
            } else {
                self.timeouts.header
            };
            self.deadline = Some(ctx.now + wait);
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
        if self.transport.flush(&mut self.writable).is_err() {
            return (State::Closed, Flow::Continue);
        }
        if self.transport.has_output() {
            return (State::Closing { read_whole }, Flow::Blocked);
        }
        if read_whole && self.input.is_empty() && !self.can_read() {
            return (State::Closed, Flow::Continue);
        }
        let _ = self.transport.socket().shutdown(Shutdown::Write);
        self.deadline = Some(ctx.now + LINGER);
        (State::Linger, Flow::Continue)
    }

    fn on_linger(&mut self) -> (State, Flow) {
        if !self.readable {
            return (State::Linger, Flow::Blocked);
        }
        self.input = Vec::new();
        // Over TLS too, what still comes is dropped unread: no need to decrypt it.
        let socket = self.transport.socket();
        let read = with_scratch(|scratch| {
            let buf = &mut scratch[..READ_CHUNK];
            let result = rustix::io::read(socket, &mut *buf);
            settle_read(result, READ_CHUNK, &mut self.readable, self.hangup)
        });
        match read {
            Ok(0) => (State::Closed, Flow::Continue),
            Ok(_) => (State::Linger, Flow::Continue),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => (State::Linger, Flow::Blocked),
            Err(_) => (State::Closed, Flow::Continue),
        }
    }
}

impl Receiving {
    fn is_complete(&self) -> bool {
        match &self.decoder {
            BodyDecoder::Length { remaining } => *remaining == 0,
            BodyDecoder::Chunked(decoder) => decoder.is_done(),
        }
    }

    /// Moves body bytes from `input` to the sink. Ok(true) when the body is complete; Err: the
    /// response that ends the exchange (and the connection).
    fn consume(&mut self, input: &mut Vec<u8>) -> Result<bool, BodyError> {
        loop {
            if self.is_complete() {
                return Ok(true);
            }
            if input.is_empty() {
                return Ok(false);
            }
            let (used, data) = match &mut self.decoder {
                BodyDecoder::Length { remaining } => {
                    let take = (*remaining).min(input.len() as u64) as usize;
                    *remaining -= take as u64;
                    (take, Some(0..take))
                }
                BodyDecoder::Chunked(decoder) => match decoder.decode(input) {
                    Ok((used, Decoded::Data(data))) => {
                        let start = data.as_ptr() as usize - input.as_ptr() as usize;
                        (used, Some(start..start + data.len()))
                    }
                    Ok((used, Decoded::NeedMore)) => {
                        if used == 0 {
                            return Ok(false);
                        }
                        (used, None)
                    }
                    Ok((used, Decoded::Done)) => (used, None),
                    Err(_) => return Err(BodyError::Status(400)),
                },
            };
            let announced = match &self.decoder {
                BodyDecoder::Chunked(decoder) => decoder.announced(),
                BodyDecoder::Length { .. } => 0,
            };
            if let Some(range) = &data {
                self.received += range.len() as u64;
            }
            if self.limit > 0 && self.received.saturating_add(announced) > self.limit {
                return Err(BodyError::Status(413));
            }
            if let Some(range) = data {
                match &mut self.sink {
                    Sink::Discard(_) | Sink::Drop => {}
                    Sink::Upload(upload) => {
                        upload.write(&input[range]).map_err(BodyError::Response)?;
                    }
                    Sink::Spool(spool) => {
                        if let Err(error) = spool.write(&input[range]) {
                            log::error(&format!("request body spool: {error}"));
                            return Err(BodyError::Status(500));
                        }
                    }
                }
            }
            input.drain(..used);
        }
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

/// What the access log keeps of a request (None: one that could not be parsed).
fn log_entry(request: Option<&Request>, status: u16) -> log::Entry {
    let header = |name| {
        request
            .and_then(|r| r.header(name))
            .unwrap_or("")
            .to_string()
    };
    log::Entry {
        request_line: request.map_or_else(String::new, |r| {
            format!(
                "{} {} HTTP/1.{}",
                r.method.as_str(),
                r.target,
                r.minor_version
            )
        }),
        status,
        referer: header("Referer"),
        user_agent: header("User-Agent"),
    }
}

/// The answer to an ACME HTTP-01 validation (`GET /.well-known/acme-challenge/TOKEN` for a
/// token being validated), before any server or location: the CA asks by name, on port 80,
/// whatever the server for that name does with other requests.
fn acme_http01(runtime: &Runtime, request: &Request) -> Option<Response> {
    let challenges = runtime.acme.as_ref()?;
    if request.has_body() || !matches!(request.method, Method::Get | Method::Head) {
        return None;
    }
    let answer = challenges.http01(&request.path)?;
    Some(
        Response::new(200, Body::Bytes(answer.into_bytes()))
            .with_header("Content-Type", "application/octet-stream"),
    )
}

/// The site for `request` on this listen address; without a request (an error found before
/// routing), the default server itself.
fn route<'r>(runtime: &'r Runtime, listen: SocketAddr, request: Option<&Request>) -> Site<'r> {
    let servers = &runtime.config.servers;
    match (request, runtime.hosts_for(listen)) {
        (Some(request), Some(hosts)) => {
            let (server, host) = hosts.select(servers, request.host.as_deref());
            let mut site = handler::route::routed_site(server, request);
            site.host = host;
            site
        }
        _ => Site::of_server(&servers[runtime.servers_for(listen)[0]]),
    }
}
