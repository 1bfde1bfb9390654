//! An HTTP/2 session: one client connection carrying many exchanges at once, one per stream,
//! over the sans-I/O core in [`crate::http2`].
//!
//! ```text
//!   Serving ──▶ [GOAWAY: the open streams finish] ──▶ Closing ──▶ Linger ──▶ closed
//!      └──────▶ (a connection error: the GOAWAY is flushed) ──┘
//! ```
//!
//! Each [`Session::drive`] pass writes what the core has for the client, reads what the
//! client sent (while the core takes input: not while 64 KiB of answers wait for a client
//! that does not read), feeds it to the core frame by frame and acts on its events (a request
//! starts an exchange, body data is offered to its exchange, a reset drops it), then pumps
//! every stream: its exchange's own I/O, request body it did not take yet, its head into
//! HEADERS, its body into DATA frames under the flow-control windows (a file range is read
//! with `pread` straight into the frame). A stream whose window is shut, or whose producer
//! waits for its upstream, is passed over; the others go on.
//!
//! Request bodies flow under flow control: the window is given back (WINDOW_UPDATE) only as
//! the exchange takes the bytes, so a backend that reads slowly slows its client down, not the
//! connection; bytes the exchange did not take yet wait in the stream (at most the stream's
//! window, 64 KiB; all streams together at most the connection's, 1 MiB).
//!
//! Deadlines: the session's own (stream 0): the idle timeout (`keepalive_timeout`) while no
//! stream is open, the send timeout while answers wait for a client that does not read; each
//! stream's own (under its stream number, as its upstream's fds are): its upstream's waits, the
//! body timeout while a request body is awaited, and the send timeout while its window stays
//! shut. A stream's timeout resets that stream only.

use super::tally::Tally;
use super::{Context, Drive};
use crate::event::{Deadline, Registration, Role};
use crate::exchange::{Cx, Exchange, Finish, Origin, Outcome, Route};
use crate::http::request::{Method, Request};
use crate::http::response::{self, Head, Pull};
use crate::http2::ErrorCode;
use crate::http2::connection::{self as core, Event, Limits, StreamId};
use crate::log;
use crate::observe::metrics::{Phase as Tallied, WorkerStats};
use crate::observe::vars::ConnFacts;
use crate::site;
use crate::transport::{Scratch, Transport};
use crate::upstream::Expiry;
use std::io;
use std::net::SocketAddr;
use std::task::Poll;
use std::time::{Duration, Instant};

/// Bytes asked of the kernel per read.
const READ_CHUNK: usize = 16 * 1024;
/// Most bytes of input held: a read, and a frame (the largest we accept) not complete yet.
const INPUT_LIMIT: usize = READ_CHUNK + 16 * 1024 + 9;
/// Passes one `drive` may make (each makes a few system calls at most) before it yields to
/// the other connections.
const IO_BUDGET: u32 = 32;
/// How long a closing connection keeps reading what the client still sends, so that the
/// client sees our GOAWAY rather than a reset.
const LINGER: Duration = Duration::from_secs(2);

/// The bytes of a frame's header (RFC 9113 §4.1), counted in `$bytes_sent`.
const FRAME_HEADER: u64 = 9;

/// The stream number of the session's own deadline.
const SESSION: u16 = 0;
/// How long a connection stays quiet before it gives its buffers back (at once would free
/// and grow them again between every two requests of a busy client).
const SHRINK_AFTER: Duration = Duration::from_secs(1);

/// Connection-wide timeouts, from the address's default server.
#[derive(Clone, Copy)]
struct Timeouts {
    idle: Duration,
    send: Duration,
}

enum Phase {
    Serving,
    /// Nothing more to serve: the last frames and TLS close_notify go out.
    Closing,
    /// The write side is shut; reading until the client closes or the linger time ends.
    Linger,
}

/// How a stream's answer goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    /// Waiting for the exchange's head.
    Head,
    /// DATA frames; `left`: body bytes still to send when the length was announced.
    Body { left: Option<u64> },
    /// END_STREAM went with the head (HEAD, 204, 304): what the producer gives is pulled and
    /// dropped, so that a backend finishes as it would for HTTP/1.
    Drain,
}

/// The request body of a stream, as it arrives.
enum Incoming {
    /// None follows, or all of it was handed to the exchange.
    Done,
    /// Body bytes go to the exchange; `pending`: bytes it has not taken yet (the core counts
    /// them against the stream's window until they are released).
    Open {
        pending: Vec<u8>,
        received: u64,
        /// END_STREAM came: the exchange hears of the end once `pending` is taken.
        ended: bool,
        last: Instant,
    },
    /// The exchange does not read it (answered without it, or refused it): released at once.
    Dropped,
}

/// Why a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The answer is complete.
    Complete,
    /// The answer was cut (RST_STREAM from us, the connection failed).
    Cut,
    /// The client reset the stream, or left (its log says 499 before a head, as nginx's).
    ClientLeft,
}

impl End {
    fn outcome(self) -> Outcome {
        match self {
            End::Complete => Outcome::Complete,
            End::Cut => Outcome::Cut,
            End::ClientLeft => Outcome::ClientLeft,
        }
    }
}

struct Stream {
    id: StreamId,
    /// The number its upstream's fds and its deadline are registered under.
    number: u16,
    exchange: Exchange,
    head_only: bool,
    out: Out,
    incoming: Incoming,
    /// Body bytes sent (`$body_bytes_sent`), and every byte of its frames (`$bytes_sent`:
    /// HEADERS as encoded, DATA with their frame headers).
    sent: u64,
    frame_bytes: u64,
    /// Since when its window has been shut with body bytes to send.
    stalled: Option<Instant>,
    deadline: Deadline,
    /// The stream is over: its exchange is finished, logged and dropped after this pass.
    ended: Option<End>,
}

pub struct Session {
    transport: Transport,
    peer: SocketAddr,
    listen: SocketAddr,
    core: core::Connection,
    /// Received bytes the core has not taken yet (a frame not complete).
    input: Vec<u8>,
    streams: Vec<Stream>,
    /// The last stream number handed out (numbers wrap, skipping those in use, so that a
    /// stale event of a gone stream never reaches a new one in the same batch).
    last_number: u16,
    phase: Phase,
    timeouts: Timeouts,
    deadline: Deadline,
    /// When the client last took bytes, and when it last sent a frame of a request.
    last_sent: Instant,
    last_active: Instant,
    /// A request came: the idle timeout runs between them (before: the header timeout).
    seen_request: bool,
    /// The buffers were given back since the connection went quiet.
    shrunk: bool,
    /// When the first request must have come.
    header_deadline: Instant,
    /// What the address's servers were when the connection started (a reload that changes
    /// them sends a GOAWAY).
    fingerprint: u64,
    /// What the worker's figures have been told of the connection.
    tally: Tally,
    /// `$connection` and `$connection_requests`.
    serial: u64,
    requests: u32,
}

impl Session {
    /// A session over `transport`, whose client spoke HTTP/2 (by ALPN, or with the preface:
    /// still unread in the socket).
    /// `tally`: what the worker's figures were told of the connection so far.
    pub fn new(
        transport: Transport,
        peer: SocketAddr,
        listen: SocketAddr,
        ctx: &Context,
        tally: Tally,
    ) -> Session {
        let runtime = ctx.runtime;
        let servers = runtime.servers_for(listen);
        let settings = &runtime.config.servers[servers[0]].settings;
        let timeouts = Timeouts {
            idle: settings.keepalive_timeout,
            send: settings.send_timeout,
        };
        Session {
            transport,
            peer,
            listen,
            core: core::Connection::new(Limits::default()),
            input: Vec::new(),
            streams: Vec::new(),
            last_number: 0,
            phase: Phase::Serving,
            timeouts,
            // Until the preface and the first request: the header timeout.
            deadline: Deadline {
                at: Some(ctx.now + settings.client_header_timeout),
                scheduled: None,
            },
            last_sent: ctx.now,
            last_active: ctx.now,
            seen_request: false,
            shrunk: false,
            header_deadline: ctx.now + settings.client_header_timeout,
            fingerprint: runtime.fingerprint_for(listen),
            tally,
            serial: crate::observe::next_connection(),
            requests: 0,
        }
    }

    /// Where the connection is, as stub_status counts it: writing while a stream is open (a
    /// request under way), reading while a frame is half in, else waiting.
    fn phase(&self) -> Tallied {
        if !self.streams.is_empty() {
            Tallied::Writing
        } else if !self.input.is_empty() {
            Tallied::Reading
        } else {
            Tallied::Waiting
        }
    }

    /// Brings the worker's figures up to date with this connection.
    pub fn report(&mut self, stats: &WorkerStats) {
        let phase = self.phase();
        self.tally.report(phase, &self.transport, stats);
    }

    /// The connection is being dropped: its last figures.
    pub fn report_closed(&mut self, stats: &WorkerStats) {
        self.tally.closed(&self.transport, stats);
    }

    /// Records a readiness event of the client socket.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    pub fn ready(&mut self, readable: bool, writable: bool, hangup: bool, error: bool) {
        self.transport.ready(readable, writable, hangup, error);
    }

    /// Records an event of an upstream fd of the exchange numbered `number`.
    pub fn upstream_ready(&mut self, number: u16, role: Role, ready: [bool; 4]) {
        if let Some(stream) = self.streams.iter_mut().find(|s| s.number == number) {
            let [readable, writable, hangup, error] = ready;
            stream
                .exchange
                .upstream_ready(role, readable, writable, hangup, error);
        }
    }

    /// An HTTP/2 connection is never closed silently at shutdown: it is told (GOAWAY).
    pub fn is_idle(&self) -> bool {
        false
    }

    pub fn deadline_mut(&mut self, number: u16) -> Option<&mut Deadline> {
        if number == SESSION {
            return Some(&mut self.deadline);
        }
        self.streams
            .iter_mut()
            .find(|s| s.number == number)
            .map(|s| &mut s.deadline)
    }

    pub fn each_deadline(&mut self, f: &mut dyn FnMut(u16, &mut Deadline)) {
        f(SESSION, &mut self.deadline);
        for stream in &mut self.streams {
            f(stream.number, &mut stream.deadline);
        }
    }

    /// Runs the session until it must wait.
    pub fn drive(&mut self, ctx: &mut Context) -> Drive {
        if self.transport.flush().is_err() {
            return self.close(ctx);
        }
        if ctx.draining || ctx.runtime.fingerprint_for(self.listen) != self.fingerprint {
            // Shutdown, or a reload that changed what this address serves: the streams open
            // finish, no new one starts (§6.8).
            self.core.goaway();
        }
        let mut budget = IO_BUDGET;
        loop {
            if budget == 0 {
                self.set_deadlines();
                return Drive::Yield;
            }
            budget -= 1;
            let step = match self.phase {
                Phase::Serving => self.serve(ctx),
                Phase::Closing => self.on_closing(ctx),
                Phase::Linger => self.on_linger(ctx),
            };
            match step {
                Ok(true) => {}
                Ok(false) => {
                    self.set_deadlines();
                    return Drive::Wait;
                }
                Err(()) => return self.close(ctx),
            }
        }
    }

    /// The deadline of stream `number` (0: the session's own) passed.
    pub fn timed_out(&mut self, number: u16, ctx: &mut Context) -> Drive {
        let now = ctx.now;
        if number != SESSION {
            if let Some(index) = self.streams.iter().position(|s| s.number == number) {
                self.stream_timed_out(index, ctx);
                self.finish_ended(ctx);
            }
            return self.drive(ctx);
        }
        match self.phase {
            Phase::Serving
                if !self.core.pending_output().is_empty() || self.transport.has_output() =>
            {
                // The client takes nothing of what it asked for.
                self.close(ctx)
            }
            Phase::Serving if !self.idle_timed_out(now) => {
                // Quiet for a while: the buffers go back until the client speaks again.
                if self.is_quiet() {
                    self.input = Vec::new();
                    self.core.shrink();
                }
                self.shrunk = true;
                self.set_deadlines();
                Drive::Wait
            }
            Phase::Serving => {
                // Idle (or the preface never came): tell the client, then close.
                self.core.goaway();
                self.deadline.at = Some(now + LINGER);
                self.drive(ctx)
            }
            Phase::Closing | Phase::Linger => self.close(ctx),
        }
    }

    /// One pass of serving: output out, input in, events, streams pumped. Ok(progress).
    fn serve(&mut self, ctx: &mut Context) -> Result<bool, ()> {
        let mut progress = self.write_output(ctx)?;
        progress |= self.receive(ctx)?;
        progress |= self.pump_streams(ctx);
        self.finish_ended(ctx);
        if self.core.state() == core::State::Done && self.core.pending_output().is_empty() {
            self.streams_gone(End::Cut, ctx);
            self.transport.close_notify();
            self.phase = Phase::Closing;
            return Ok(true);
        }
        if progress {
            self.shrunk = false;
        }
        Ok(progress)
    }

    /// Whether the idle (or, before the first request, the header) timeout has passed.
    fn idle_timed_out(&self, now: Instant) -> bool {
        if self.seen_request {
            self.last_active + self.timeouts.idle <= now
        } else {
            self.header_deadline <= now
        }
    }

    /// Whether nothing is under way: no stream, no header block, no input, no output.
    fn is_quiet(&self) -> bool {
        self.streams.is_empty()
            && self.core.is_idle()
            && self.input.is_empty()
            && self.core.pending_output().is_empty()
    }

    /// Writes what the core has for the client. Ok(progress); Err: the socket failed.
    fn write_output(&mut self, ctx: &Context) -> Result<bool, ()> {
        let mut progress = false;
        while self.transport.writable() && !self.core.pending_output().is_empty() {
            match self.transport.write(self.core.pending_output()) {
                Ok(n) => {
                    self.core.written(n);
                    self.last_sent = ctx.now;
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => return Err(()),
            }
        }
        Ok(progress)
    }

    /// Feeds the core what is buffered, then reads what the client sent (while the core takes
    /// input) and feeds it. A read into an empty input goes to the worker's scratch buffer and
    /// is fed from there: only a frame not complete is kept, so a connection holds an input
    /// buffer only while part of a frame waits. Ok(progress); Err: the client left.
    fn receive(&mut self, ctx: &mut Context) -> Result<bool, ()> {
        let mut progress = false;
        if !self.input.is_empty() {
            let input = std::mem::take(&mut self.input);
            let used = self.feed(&input, ctx);
            progress |= used > 0;
            let mut input = input;
            input.drain(..used);
            self.input = input;
        }
        if !self.core.wants_input() || !self.transport.can_read() {
            return Ok(progress);
        }
        let read = if self.input.is_empty() {
            // The scratch is lent out of the context while its bytes are fed (the exchanges
            // the events start never use it).
            let mut scratch = std::mem::replace(&mut ctx.local.scratch, Scratch::empty());
            let buf = scratch.take(READ_CHUNK);
            let read = self.transport.read(buf);
            if let Ok(n) = read
                && n > 0
            {
                let used = self.feed(&buf[..n], ctx);
                self.input.extend_from_slice(&buf[used..n]);
            }
            ctx.local.scratch = scratch;
            read
        } else {
            let room = INPUT_LIMIT.saturating_sub(self.input.len()).min(READ_CHUNK);
            if room == 0 {
                return Ok(progress);
            }
            let read = self
                .transport
                .read_into(&mut self.input, room, &mut ctx.local.scratch);
            if let Ok(n) = read
                && n > 0
            {
                let input = std::mem::take(&mut self.input);
                let used = self.feed(&input, ctx);
                let mut input = input;
                input.drain(..used);
                self.input = input;
            }
            read
        };
        match read {
            Ok(0) => Err(()),
            Ok(_) => {
                self.last_active = ctx.now;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(progress),
            Err(error) => {
                if self.transport.is_tls() && log::enabled(crate::config::LogLevel::Info) {
                    log::info(&format!(
                        "client {}: TLS: {error}, connection closed",
                        self.peer
                    ));
                }
                Err(())
            }
        }
    }

    /// Feeds `input` to the core, frame by frame, acting on each event: how many octets it
    /// took (the rest is part of a frame, or waits for the output to drain).
    fn feed(&mut self, input: &[u8], ctx: &mut Context) -> usize {
        let mut used = 0;
        loop {
            let received = self.core.receive(&input[used..]);
            if received.consumed == 0 && received.event.is_none() {
                break;
            }
            used += received.consumed;
            if let Some(event) = received.event {
                self.on_event(event, ctx);
            }
        }
        used
    }

    fn on_event(&mut self, event: Event, ctx: &mut Context) {
        match event {
            Event::Request {
                stream,
                request,
                end_stream,
            } => self.start(stream, request, end_stream, ctx),
            Event::Data {
                stream,
                data,
                end_stream,
            } => self.body(stream, data, end_stream, ctx),
            Event::Reset { stream, .. } => {
                if let Some(s) = self.streams.iter_mut().find(|s| s.id == stream) {
                    s.ended = Some(End::ClientLeft);
                }
            }
            Event::GoAway { .. } => {}
            Event::Failed { code } => {
                if log::enabled(crate::config::LogLevel::Info) {
                    log::info(&format!(
                        "client {}: HTTP/2 connection error {}, connection closed",
                        self.peer,
                        code.name()
                    ));
                }
                for stream in &mut self.streams {
                    stream.ended.get_or_insert(End::Cut);
                }
            }
        }
    }

    /// A stream number not in use, the next after the last one given.
    fn next_number(&mut self) -> u16 {
        loop {
            self.last_number = self.last_number.checked_add(1).unwrap_or(1);
            let n = self.last_number;
            if !self.streams.iter().any(|s| s.number == n) {
                return n;
            }
        }
    }

    /// A request arrived on a new stream: its exchange starts.
    fn start(
        &mut self,
        id: StreamId,
        request: Result<Request, u16>,
        end_stream: bool,
        ctx: &mut Context,
    ) {
        self.last_active = ctx.now;
        self.seen_request = true;
        self.requests = self.requests.wrapping_add(1);
        self.tally.request_started(&ctx.local.stats);
        let number = self.next_number();
        let hosts = ctx.runtime.hosts_for(self.listen);
        let route = Route::select(&ctx.runtime.config, hosts, request.as_ref().ok());
        let client_cert = match &route.site().server.client_auth {
            Some(auth) => self.transport.client_cert(auth),
            None => None,
        };
        // Behind a trusted proxy, the request's client is the one it names (nginx's realip).
        let real_ip = &route.site().settings.real_ip;
        let client = match &request {
            Ok(request) if real_ip.is_active() => {
                real_ip.client(self.peer, self.transport.proxied(), &request.headers)
            }
            _ if real_ip.is_active() => real_ip.client(self.peer, self.transport.proxied(), &[]),
            _ => self.peer,
        };
        let socket = self.transport.socket();
        let local = || socket.local_addr().ok();
        let (serial, requests) = (self.serial, self.requests);
        let tls = self.transport.negotiated();
        let conn = || ConnFacts {
            serial,
            requests,
            tls,
        };
        let origin = Origin {
            peer: client,
            listen: self.listen,
            tls: self.transport.is_tls(),
            local: &local,
            client_cert,
            acme: ctx.runtime.acme.as_deref(),
            conn: &conn,
            zones: &ctx.runtime.zones,
        };
        // The stream is made in its place at the end of the list, and its exchange started
        // there: no move of the whole (752 octets) once it is built.
        let head_only = matches!(&request, Ok(request) if request.method == Method::Head);
        let exchange = match &request {
            Ok(_) => Exchange::new(route, &origin, ctx.now),
            Err(status) => {
                let response = site::error(*status, &route.site());
                Exchange::failed(route, response, &origin, ctx.now)
            }
        };
        self.streams.push(Stream {
            id,
            number,
            exchange,
            head_only,
            out: Out::Head,
            incoming: Incoming::Done,
            sent: 0,
            frame_bytes: 0,
            stalled: None,
            deadline: Deadline::default(),
            ended: None,
        });
        let index = self.streams.len() - 1;
        let stream = &mut self.streams[index];
        if let Ok(request) = request {
            let mut cx = exchange_cx(ctx, number);
            stream.exchange.start(request, &origin, &mut cx);
            if stream.exchange.wants_body() {
                if end_stream {
                    stream.exchange.end_of_body(&mut cx);
                } else {
                    stream.incoming = Incoming::Open {
                        pending: Vec::new(),
                        received: 0,
                        ended: false,
                        last: ctx.now,
                    };
                }
            } else if !end_stream {
                stream.incoming = Incoming::Dropped;
            }
        } else if !end_stream {
            stream.incoming = Incoming::Dropped;
        }
        self.first_turn(ctx);
    }

    /// The stream just started gets its turn at once, before the next frame is decoded: its
    /// head and one DATA frame. A small answer (a cached file, an error page, a redirect) is
    /// then complete, and its exchange is dropped here, so that each request of a batch reuses
    /// the memory of the one before (the allocator's per-thread cache) instead of ten or a
    /// hundred of them being alive together. Larger answers go on in [`Session::pump_streams`],
    /// one frame per stream per round as before.
    fn first_turn(&mut self, ctx: &mut Context) {
        let index = self.streams.len() - 1;
        self.prepare(index, ctx);
        self.send_some(index, ctx);
        if self.streams[index].out == Out::Drain {
            // The whole body went (or none was due): the producer's end is seen now.
            self.send_some(index, ctx);
        }
        if self.streams[index].ended.is_some() {
            // Finished and dropped where it is (the last of the list): no move of the stream.
            finish(&mut self.core, &mut self.streams[index], ctx);
            self.streams.truncate(index);
        }
    }

    /// Request body data for stream `id`.
    fn body(&mut self, id: StreamId, data: &[u8], end_stream: bool, ctx: &mut Context) {
        self.last_active = ctx.now;
        let Some(stream) = self.streams.iter_mut().find(|s| s.id == id) else {
            self.core.release(id, data.len());
            return;
        };
        let Incoming::Open {
            pending,
            received,
            ended,
            last,
        } = &mut stream.incoming
        else {
            self.core.release(id, data.len());
            return;
        };
        *last = ctx.now;
        *received += data.len() as u64;
        let limit = stream.exchange.body_limit();
        if limit > 0 && *received > limit {
            // A body without content-length grew past client_max_body_size.
            self.core.release(id, data.len() + pending.len());
            stream.incoming = Incoming::Dropped;
            if !stream.exchange.refuse_body(413) {
                self.core.reset(id, ErrorCode::Cancel);
                stream.ended = Some(End::Cut);
            }
            return;
        }
        let mut cx = exchange_cx(ctx, stream.number);
        if pending.is_empty() && !data.is_empty() {
            match stream.exchange.offer(data, &mut cx) {
                Ok(taken) => {
                    self.core.release(id, taken);
                    pending.extend_from_slice(&data[taken..]);
                }
                Err(_) => {
                    // The sink failed; the exchange answers with its error.
                    self.core.release(id, data.len());
                    stream.incoming = Incoming::Dropped;
                    return;
                }
            }
        } else {
            pending.extend_from_slice(data);
        }
        if end_stream {
            *ended = true;
            if pending.is_empty() {
                stream.incoming = Incoming::Done;
                stream.exchange.end_of_body(&mut cx);
            }
        }
    }

    /// Every stream: its exchange's I/O, its pending body, its head, its body frames (one
    /// frame per stream per round, round after round while frames go and the output has
    /// room).
    fn pump_streams(&mut self, ctx: &mut Context) -> bool {
        let mut progress = false;
        for index in 0..self.streams.len() {
            progress |= self.prepare(index, ctx);
        }
        loop {
            let mut sent = false;
            for index in 0..self.streams.len() {
                sent |= self.send_some(index, ctx);
            }
            if !sent {
                break;
            }
            progress = true;
        }
        progress
    }

    /// A stream's own I/O, body bytes it did not take yet, and its head. Ok(progress).
    fn prepare(&mut self, index: usize, ctx: &mut Context) -> bool {
        let stream = &mut self.streams[index];
        if stream.ended.is_some() {
            return false;
        }
        let mut cx = exchange_cx(ctx, stream.number);
        let mut progress = stream.exchange.advance(&mut cx);
        if let Incoming::Open { pending, ended, .. } = &mut stream.incoming
            && !pending.is_empty()
        {
            match stream.exchange.offer(pending, &mut cx) {
                Ok(taken) => {
                    if taken > 0 {
                        progress = true;
                        self.core.release(stream.id, taken);
                        pending.drain(..taken);
                        if pending.is_empty() {
                            *pending = Vec::new();
                        }
                    }
                    if pending.is_empty() && *ended {
                        stream.incoming = Incoming::Done;
                        stream.exchange.end_of_body(&mut cx);
                    }
                }
                Err(_) => {
                    self.core.release(stream.id, pending.len());
                    stream.incoming = Incoming::Dropped;
                    progress = true;
                }
            }
        }
        if stream.out == Out::Head
            && let Poll::Ready(head) = stream.exchange.head(&mut cx)
        {
            progress = true;
            send_head(&mut self.core, stream, &head, ctx.date);
        }
        progress
    }

    /// One DATA frame (or the body's end) of a stream, if its window and the output allow.
    /// Returns whether anything went.
    fn send_some(&mut self, index: usize, ctx: &Context) -> bool {
        let stream = &mut self.streams[index];
        if stream.ended.is_some() {
            return false;
        }
        let left = match stream.out {
            Out::Head => return false,
            Out::Drain => return drain(stream),
            Out::Body { left } => left,
        };
        let id = stream.id;
        let capacity = self.core.send_capacity(id);
        if capacity == 0 {
            // The stream's window, the connection's, or the output's room: which one matters
            // only for the stall timeout, which runs while this stream has bytes to send.
            if stream.stalled.is_none() && has_bytes(&mut stream.exchange) {
                stream.stalled = Some(ctx.now);
            }
            return false;
        }
        stream.stalled = None;
        let max = left.map_or(capacity, |left| capacity.min(left as usize));
        // `remaining` for the core: END_STREAM goes with the frame that reaches it; one past
        // the piece when the length is not known (the end comes as its own frame).
        let outcome = match stream.exchange.pull(max) {
            Pull::Bytes(bytes) => {
                let remaining = left.unwrap_or(bytes.len() as u64 + 1);
                let bytes = &bytes[..bytes.len().min(max)];
                self.core
                    .send_bytes(id, remaining, bytes)
                    .map(Ok::<usize, io::Error>)
                    .map_err(|_| ())
            }
            Pull::File { file, offset, len } => {
                let len = len.min(max as u64);
                let remaining = left.unwrap_or(len + 1);
                self.core
                    .send_data_with(id, remaining, |buf| {
                        let want = buf.len().min(len as usize);
                        match rustix::io::pread(file, &mut buf[..want], offset) {
                            // The file shrank under us: the promised length cannot be kept.
                            Ok(0) => Err(io::ErrorKind::UnexpectedEof.into()),
                            Ok(n) => Ok(n),
                            Err(e) => Err(io::Error::from(e)),
                        }
                    })
                    .map_err(|_| ())
            }
            Pull::Wait => return false,
            Pull::End => {
                match left {
                    Some(0) => {} // END_STREAM went with the last frame
                    Some(_) => {
                        // Fewer bytes than announced: the answer must not look complete.
                        self.core.reset(id, ErrorCode::InternalError);
                        stream.ended = Some(End::Cut);
                        return true;
                    }
                    None => {
                        let _ = self.core.end_stream(id);
                    }
                }
                stream.ended = Some(End::Complete);
                return true;
            }
            Pull::Abort => {
                self.core.reset(id, ErrorCode::InternalError);
                stream.ended = Some(End::Cut);
                return true;
            }
        };
        match outcome {
            Ok(Ok(n)) => {
                stream.exchange.consume(n);
                stream.sent += n as u64;
                stream.frame_bytes += n as u64 + FRAME_HEADER;
                if let Out::Body { left: Some(left) } = &mut stream.out {
                    *left -= n as u64;
                    if *left == 0 {
                        // END_STREAM went with this frame; whatever the producer still gives
                        // (a backend past its announced length) is pulled and dropped.
                        stream.out = Out::Drain;
                    }
                }
                n > 0
            }
            Ok(Err(error)) => {
                log::error(&format!("HTTP/2 stream {id}: reading the body: {error}"));
                self.core.reset(id, ErrorCode::InternalError);
                stream.ended = Some(End::Cut);
                true
            }
            Err(()) => {
                // The core no longer has the stream (reset, or the connection failed).
                stream.ended = Some(End::Cut);
                true
            }
        }
    }

    /// A stream's deadline passed: its upstream's wait, its request body, or its window.
    fn stream_timed_out(&mut self, index: usize, ctx: &mut Context) {
        let now = ctx.now;
        let send = self.timeouts.send;
        let stream = &mut self.streams[index];
        if stream.ended.is_some() {
            return;
        }
        if stream
            .exchange
            .deadline(stream.stalled.is_some())
            .is_some_and(|at| at <= now)
        {
            match stream
                .exchange
                .timed_out(&mut exchange_cx(ctx, stream.number))
            {
                Expiry::Handled => {}
                Expiry::Cut => {
                    self.core.reset(stream.id, ErrorCode::InternalError);
                    stream.ended = Some(End::Cut);
                }
            }
            return;
        }
        let body_timeout = stream.exchange.site().settings.client_body_timeout;
        if let Incoming::Open { last, .. } = stream.incoming
            && !stream.exchange.streams_body()
            && last + body_timeout <= now
        {
            // The body stopped coming: the sink goes, and the client hears 408 if it can.
            self.core.release(stream.id, pending_len(&stream.incoming));
            stream.incoming = Incoming::Dropped;
            if stream.out != Out::Head || !stream.exchange.refuse_body(408) {
                self.core.reset(stream.id, ErrorCode::Cancel);
                stream.ended = Some(End::Cut);
            }
            return;
        }
        if stream.stalled.is_some_and(|since| since + send <= now) {
            // The client keeps the stream's window shut: it is given up, the others go on.
            self.core.reset(stream.id, ErrorCode::Cancel);
            stream.ended = Some(End::Cut);
        }
    }

    /// Finishes, logs and drops the streams that ended.
    fn finish_ended(&mut self, ctx: &mut Context) {
        let mut index = 0;
        while index < self.streams.len() {
            if self.streams[index].ended.is_none() {
                index += 1;
                continue;
            }
            // Finished in place, then the last stream takes its place (one move, none when
            // it is the last).
            finish(&mut self.core, &mut self.streams[index], ctx);
            let last = self.streams.len() - 1;
            if index != last {
                self.streams.swap(index, last);
            }
            self.streams.truncate(last);
        }
    }

    /// The connection ends: every stream still open is dropped (and logged), as `end` says.
    fn streams_gone(&mut self, end: End, ctx: &mut Context) {
        for mut stream in std::mem::take(&mut self.streams) {
            stream.ended.get_or_insert(end);
            finish(&mut self.core, &mut stream, ctx);
        }
    }

    /// The connection is closed under its streams (the client left, the socket failed, or
    /// the client took nothing for the send timeout): the client is gone for them.
    fn close(&mut self, ctx: &mut Context) -> Drive {
        self.streams_gone(End::ClientLeft, ctx);
        Drive::Close
    }

    /// Sets the session's deadline and each stream's for the wait ahead.
    fn set_deadlines(&mut self) {
        if let Phase::Serving = self.phase {
            let waiting_output =
                !self.core.pending_output().is_empty() || self.transport.has_output();
            if waiting_output {
                self.deadline.at = Some(self.last_sent + self.timeouts.send);
            } else if self.streams.is_empty() && self.core.is_idle() {
                // The header timeout until the first request, then the idle timeout; with a
                // stop on the way to give the buffers back.
                let end = if self.seen_request {
                    self.last_active + self.timeouts.idle
                } else {
                    self.header_deadline
                };
                self.deadline.at = Some(if self.shrunk {
                    end
                } else {
                    end.min(self.last_active + SHRINK_AFTER)
                });
            } else {
                self.deadline.at = None;
            }
        }
        let send = self.timeouts.send;
        for stream in &mut self.streams {
            let client_waiting = stream.stalled.is_some();
            let mut at = stream.exchange.deadline(client_waiting);
            if let Incoming::Open { last, .. } = stream.incoming
                && !stream.exchange.streams_body()
            {
                let body = last + stream.exchange.site().settings.client_body_timeout;
                at = Some(at.map_or(body, |at| at.min(body)));
            }
            if let Some(since) = stream.stalled {
                let stall = since + send;
                at = Some(at.map_or(stall, |at| at.min(stall)));
            }
            stream.deadline.at = at;
        }
    }

    /// Waits until the last frames and the TLS close_notify are written, then shuts the write
    /// side and lingers: an HTTP/2 client may have frames in flight whatever we read last (it
    /// learns of the GOAWAY only when it arrives), and a close with bytes unread would be a
    /// reset that destroys the GOAWAY before the client reads it.
    fn on_closing(&mut self, ctx: &mut Context) -> Result<bool, ()> {
        self.write_output(ctx)?;
        if !self.core.pending_output().is_empty() {
            return Ok(false);
        }
        if self.transport.flush().is_err() {
            return Err(());
        }
        if self.transport.has_output() {
            return Ok(false);
        }
        self.transport.shutdown_write();
        self.deadline.at = Some(ctx.now + LINGER);
        self.phase = Phase::Linger;
        Ok(true)
    }

    fn on_linger(&mut self, ctx: &mut Context) -> Result<bool, ()> {
        if !self.transport.socket_readable() {
            return Ok(false);
        }
        self.input = Vec::new();
        match self.transport.discard_input(&mut ctx.local.scratch) {
            Ok(0) => Err(()),
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(_) => Err(()),
        }
    }
}

/// A stream is over: its exchange counts, logs and frees what it held, once.
fn finish(core: &mut core::Connection, stream: &mut Stream, ctx: &mut Context) {
    let end = Finish {
        outcome: stream.ended.unwrap_or(End::Cut).outcome(),
        body_bytes: stream.sent,
        bytes_sent: stream.frame_bytes,
    };
    let mut cx = exchange_cx(ctx, stream.number);
    stream.exchange.finish(end, &mut cx);
    if let Incoming::Open { pending, .. } = &stream.incoming {
        core.release(stream.id, pending.len());
    }
}

/// The response head into HEADERS: `:status`, server and date, the exchange's fields, and the
/// body's length when known (a HEAD gets the length a GET would have had). END_STREAM goes with
/// it when no body follows.
fn send_head(core: &mut core::Connection, stream: &mut Stream, head: &Head, date: &str) {
    let has_body = response::status_has_body(head.status);
    let mut digits = [0u8; 20];
    let length = match head.length {
        Some(n) if has_body => response::decimal(n, &mut digits),
        _ => &[],
    };
    let fields = [
        (&b"server"[..], &b"webserv"[..]),
        (b"date", date.as_bytes()),
    ]
    .into_iter()
    .chain(
        head.headers
            .iter()
            .map(|(name, value)| (name.as_bytes(), value.as_bytes())),
    )
    .chain((!length.is_empty()).then_some((&b"content-length"[..], length)));
    let no_body = !has_body || stream.head_only || head.length == Some(0);
    let before = core.pending_output().len();
    if core
        .send_headers(stream.id, head.status, fields, no_body)
        .is_err()
    {
        stream.ended = Some(End::Cut);
        return;
    }
    stream.frame_bytes += core.pending_output().len().saturating_sub(before) as u64;
    stream.out = if no_body {
        Out::Drain
    } else {
        Out::Body { left: head.length }
    };
}

/// Pulls and drops a body that is not sent (END_STREAM went with the head). True when the
/// stream ended or advanced.
fn drain(stream: &mut Stream) -> bool {
    let n = match stream.exchange.pull(usize::MAX) {
        Pull::Bytes(bytes) => bytes.len(),
        Pull::File { len, .. } => len as usize,
        Pull::Wait => return false,
        Pull::End | Pull::Abort => {
            stream.ended = Some(End::Complete);
            return true;
        }
    };
    stream.exchange.consume(n);
    n > 0
}

/// Whether the exchange has body bytes ready now (a pull of one byte that is not a wait).
fn has_bytes(exchange: &mut Exchange) -> bool {
    matches!(exchange.pull(1), Pull::Bytes(_) | Pull::File { .. })
}

fn pending_len(incoming: &Incoming) -> usize {
    match incoming {
        Incoming::Open { pending, .. } => pending.len(),
        _ => 0,
    }
}

/// The exchange's view of the worker, for the stream numbered `number`.
fn exchange_cx<'a>(ctx: &'a mut Context, number: u16) -> Cx<'a> {
    Cx {
        now: ctx.now,
        log_time: ctx.log_time,
        local: ctx.local,
        registration: Registration {
            poller: ctx.poller,
            slot: ctx.slot,
            generation: ctx.generation,
            stream: number,
        },
    }
}
