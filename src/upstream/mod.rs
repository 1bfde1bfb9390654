//! Upstreams: the backends an exchange forwards a request to and streams an answer from (a CGI
//! script now; an HTTP server behind `proxy_pass` and a FastCGI server next).
//!
//! Every backend kind shares one [`Upstream`]: an [`Endpoint`] (a pipe pair to a child, or a
//! socket with a non-blocking connect), a [`Codec`] (the only part a backend kind writes: how
//! its response head is parsed, how its body is framed both ways) and one pump with bounded
//! buffers and backpressure both ways:
//!
//! - client → backend: [`Upstream::write_body`] takes request-body bytes only while the
//!   backend's input takes them (or, for a codec that frames them, while less than [`LIMIT`]
//!   framed bytes wait): the protocol keeps the rest and reads nothing more from the client
//!   meanwhile.
//! - backend → client: the backend is read only while less than [`LIMIT`] bytes of its output
//!   wait for the client; the protocol pulls them ([`Upstream::pull`], [`Upstream::consume`]).
//!
//! ```text
//!   Connecting ─▶ Head ─▶ Body ─▶ Ending (output ended; a child's exit awaited) ─▶ Done
//!        └────────┴─ Failed (502 before a head: refused, closed, malformed; 504: timeout)
//! ```
//!
//! Deadlines: connecting (`connect`), waiting for the backend's output when nothing of it waits
//! for the client (`read`: the CGI timeout), its input blocked (`send`), a child's exit after its
//! output ended (`exit_grace`). A backend gone silent in the middle of a body cuts the response
//! ([`Expiry::Cut`]); before the head it is a 504.

mod endpoint;
pub mod process;

pub use endpoint::{Address, Endpoint, Exit};

use crate::event::Role;
use crate::http::response::{Head, Pull};
use crate::log;
use std::os::unix::process::ExitStatusExt;
use std::task::Poll;
use std::time::{Duration, Instant};

/// Most backend output (decoded, and not yet decoded) held for the client, and most framed
/// request-body bytes held for the backend.
pub const LIMIT: usize = 64 * 1024;
/// Most bytes asked of the backend per read.
const READ_CHUNK: usize = 32 * 1024;
/// Bytes asked per read while a head is collected.
const HEAD_CHUNK: usize = 16 * 1024;

/// How one kind of backend speaks: the parser of its response head and the framing of bodies
/// both ways. Pure: bytes in, meaning out; the pump does the I/O. CGI's codec parses the
/// script's header block and passes bodies through; an HTTP/1 codec parses a status line and
/// fields and decodes Content-Length or chunked bodies; a FastCGI codec unwraps and wraps
/// records.
pub trait Codec {
    /// The longest head accepted: past it without a complete head, [`Codec::parse_head`] must
    /// refuse.
    fn head_limit(&self) -> usize;

    /// Parses the head from everything the backend sent so far. Ok(None): more bytes are
    /// needed; Ok(Some((head, n))): the head took the first `n` bytes. Err: the reason for the
    /// error log (the client gets a 502). The head never carries framing or connection fields:
    /// the protocol writes its own.
    fn parse_head(&mut self, input: &[u8]) -> Result<Option<(Head, usize)>, String>;

    /// Decodes body bytes from the start of `input`: how many bytes it used, and the payload
    /// (a slice of those bytes) or the end of the body.
    fn decode_body<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Payload<'a>), String> {
        Ok(match input.len() {
            0 => (0, Payload::NeedMore),
            n => (n, Payload::Data(input)),
        })
    }

    /// Whether the body is complete without more input (an HTTP body whose length or last
    /// chunk has been read: the backend's connection stays open, so no end of output will
    /// say so). Default: only the end of output completes a body.
    fn body_complete(&self) -> bool {
        false
    }

    /// The backend's output ended: Ok when that completes the body (a CGI body, an HTTP body
    /// delimited by the close), Err (for the error log) when it cuts it short.
    fn end_of_output(&mut self) -> Result<(), String> {
        Ok(())
    }

    /// Frames request-body bytes for the backend onto `out`.
    fn encode_body(&mut self, data: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(data);
    }

    /// Frames the end of the request body onto `out`.
    fn encode_end(&mut self, _out: &mut Vec<u8>) {}

    /// Whether [`Codec::encode_body`] copies bytes unchanged: then the pump writes them to the
    /// backend straight from the client's buffer, without a copy.
    fn passes_body_through(&self) -> bool {
        true
    }

    /// Whether the end of the request body closes the backend's input (a child's stdin: EOF
    /// is how a CGI script learns it). A codec whose requests are framed (HTTP, FastCGI) says
    /// false, so that the connection can carry another request.
    fn closes_input_at_end(&self) -> bool {
        true
    }
}

/// Most capacity a buffer keeps when it waits with its connection for the next exchange
/// ([`Spare`]): what a small response needed; a larger one is freed.
const SPARE_LIMIT: usize = 2 * HEAD_CHUNK;

/// The emptied buffers of an upstream whose connection is kept for another exchange.
#[derive(Debug, Default)]
pub struct Spare {
    buf: Vec<u8>,
    out: Vec<u8>,
}

/// `buffer` emptied, or none when it grew past [`SPARE_LIMIT`].
fn spare_buffer(mut buffer: Vec<u8>) -> Vec<u8> {
    buffer.clear();
    if buffer.capacity() > SPARE_LIMIT {
        buffer = Vec::new();
    }
    buffer
}

impl Spare {
    /// Whether it holds no allocated buffer (nothing to keep).
    pub fn is_empty(&self) -> bool {
        self.buf.capacity() == 0 && self.out.capacity() == 0
    }
}

/// What [`Codec::decode_body`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Payload<'a> {
    Data(&'a [u8]),
    /// The bytes used held no payload (framing), or there were none.
    NeedMore,
    /// The body is complete (bytes after it are not the response's).
    End,
}

/// An upstream's waits.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Establishing a connection.
    pub connect: Duration,
    /// Between two reads of the backend's output, while none of it waits for the client.
    pub read: Duration,
    /// Between two writes to the backend while its input is blocked (None: no limit).
    pub send: Option<Duration>,
    /// A child's exit after its output ended.
    pub exit_grace: Duration,
}

/// How a response from a backend ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Complete,
    /// Cut short: the client must not take it as complete.
    Cut,
}

/// What a passed deadline did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Handled: before a head it is now a 504 failure ([`Upstream::head`] says so); a child's
    /// grace is over and the body complete.
    Handled,
    /// The backend went silent in the middle of a body: the response is cut.
    Cut,
}

enum Phase {
    Connecting {
        since: Instant,
    },
    Head,
    Body,
    /// The output ended at `since`; a child's exit status decides how.
    Ending {
        since: Instant,
    },
    Done(Ending),
    /// Failed before its head: answer this status.
    Failed(u16),
}

/// The request body's way to the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    Open,
    /// The end is framed; closed once what waits is written.
    Ending,
    Closed,
}

/// One backend exchange: its endpoint, codec, buffers and deadlines.
pub struct Upstream {
    endpoint: Endpoint,
    codec: Box<dyn Codec>,
    /// Names the backend in the error log ("CGI /cgi-bin/app.py").
    label: String,
    phase: Phase,
    head: Option<Head>,
    /// The backend's output: `buf[start..ready]` is payload for the client,
    /// `buf[ready..]` bytes not decoded yet (a head being collected, a partial chunk line).
    buf: Vec<u8>,
    start: usize,
    ready: usize,
    /// Framed request-body bytes (or a request head) for the backend; `out[out_sent..]` waits.
    out: Vec<u8>,
    out_sent: usize,
    input: Input,
    /// Some byte went to the backend.
    wrote: bool,
    /// Bytes came after the end of the response (the backend cannot be trusted with another).
    trailing: bool,
    /// A tunnel after a protocol switch: bytes pass both ways until either side closes, and
    /// the read timeout is an idle timeout of both directions.
    tunnel: bool,
    timeouts: Timeouts,
    last_read: Instant,
    last_write: Instant,
}

impl Upstream {
    /// An upstream over `endpoint` (a connect under way, or a child already running) speaking
    /// `codec`. `input_open`: a request body will be written (else the backend's input is
    /// closed at once).
    pub fn new(
        endpoint: Endpoint,
        codec: Box<dyn Codec>,
        label: String,
        timeouts: Timeouts,
        input_open: bool,
        now: Instant,
    ) -> Upstream {
        let phase = if endpoint.is_connecting() {
            Phase::Connecting { since: now }
        } else {
            Phase::Head
        };
        let mut upstream = Upstream {
            endpoint,
            codec,
            label,
            phase,
            head: None,
            buf: Vec::new(),
            start: 0,
            ready: 0,
            out: Vec::new(),
            out_sent: 0,
            input: Input::Open,
            wrote: false,
            trailing: false,
            tunnel: false,
            timeouts,
            last_read: now,
            last_write: now,
        };
        if !input_open {
            upstream.end_body();
        }
        upstream
    }

    /// Queues bytes for the backend before any request body (a proxied request's head).
    pub fn send_first(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Records a readiness event of one of its fds.
    pub fn ready(&mut self, role: Role, readable: bool, writable: bool, hangup: bool, error: bool) {
        self.endpoint.ready(role, readable, writable, hangup, error);
    }

    /// Whether any byte went to the backend (a failed request may be retried elsewhere only
    /// when none did).
    pub fn sent_anything(&self) -> bool {
        self.wrote
    }

    /// Moves bytes between the backend and the buffers, as far as readiness and the limits
    /// allow. Returns whether anything changed.
    pub fn advance(&mut self, now: Instant) -> bool {
        let mut progress = false;
        if let Phase::Connecting { .. } = self.phase {
            match self.endpoint.finish_connect() {
                Ok(true) => {
                    self.phase = Phase::Head;
                    self.last_read = now;
                    self.last_write = now;
                    progress = true;
                }
                Ok(false) => return false,
                Err(error) => {
                    log::error(&format!("{}: connect() failed: {error}", self.label));
                    self.phase = Phase::Failed(502);
                    return true;
                }
            }
        }
        progress |= self.flush_input(now);
        progress |= match self.phase {
            Phase::Head => self.read_head(now),
            Phase::Body => self.read_body(now),
            Phase::Ending { since } => self.end(since, now),
            Phase::Connecting { .. } | Phase::Done(_) | Phase::Failed(_) => false,
        };
        progress
    }

    /// Writes what waits for the backend; closes its input once the body's end is out.
    fn flush_input(&mut self, now: Instant) -> bool {
        let mut progress = false;
        while self.out_sent < self.out.len() && self.endpoint.can_write() {
            match self.endpoint.write(&self.out[self.out_sent..]) {
                Ok(n) => {
                    self.out_sent += n;
                    self.wrote = self.wrote || n > 0;
                    self.last_write = now;
                    progress = true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    // The backend stopped reading: what is left of the body is dropped.
                    self.drop_input();
                    return true;
                }
            }
        }
        if self.out_sent == self.out.len() && !self.out.is_empty() {
            self.out.clear();
            self.out_sent = 0;
        }
        if self.input == Input::Ending && self.out.is_empty() {
            if self.codec.closes_input_at_end() {
                self.endpoint.close_input();
            }
            self.input = Input::Closed;
            progress = true;
        }
        progress
    }

    fn drop_input(&mut self) {
        self.endpoint.close_input();
        self.input = Input::Closed;
        self.out.clear();
        self.out_sent = 0;
    }

    /// Reads at most `room` more bytes onto `buf`. Ok(0): the output ended.
    fn read_more(&mut self, room: usize) -> std::io::Result<usize> {
        if self.start > 0 && self.buf.capacity() - self.buf.len() < room {
            self.buf.drain(..self.start);
            self.ready -= self.start;
            self.start = 0;
        }
        // Into the spare capacity: nothing is zeroed (a small response never fills the room).
        self.endpoint.read_append(&mut self.buf, room)
    }

    fn read_head(&mut self, now: Instant) -> bool {
        if !self.endpoint.can_read() {
            return false;
        }
        let room = (self.codec.head_limit() + 1).saturating_sub(self.buf.len());
        match self.read_more(room.min(HEAD_CHUNK)) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Ok(0) | Err(_) => {
                let reason = "output ended before a complete header block";
                log::error(&format!("{}: {reason}", self.label));
                self.phase = Phase::Failed(502);
                return true;
            }
            Ok(_) => {}
        }
        self.last_read = now;
        match self.codec.parse_head(&self.buf) {
            Ok(Some((head, used))) => {
                self.head = Some(head);
                self.start = used;
                self.ready = used;
                self.phase = Phase::Body;
                self.decode(now);
            }
            Ok(None) => {}
            Err(error) => {
                log::error(&format!("{}: {error}", self.label));
                self.phase = Phase::Failed(502);
            }
        }
        true
    }

    fn read_body(&mut self, now: Instant) -> bool {
        let held = self.buf.len() - self.start;
        if held >= LIMIT || !self.endpoint.can_read() {
            return false;
        }
        match self.read_more((LIMIT - held).min(READ_CHUNK)) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            // A read error ends the output as its end would.
            Ok(0) | Err(_) => self.output_ended(now),
            Ok(_) => {
                self.last_read = now;
                self.decode(now);
            }
        }
        true
    }

    /// Decodes what was read after the payload, moving payload bytes down to `ready` (in
    /// place: a codec that passes bytes through moves nothing).
    fn decode(&mut self, now: Instant) {
        self.decode_input(now);
        // A body that ended with the last bytes decoded (or had none) ends here: a kept-alive
        // backend sends nothing more to say so.
        if matches!(self.phase, Phase::Body) && self.codec.body_complete() {
            self.buf.truncate(self.ready);
            self.finish(Ending::Complete, now);
        }
    }

    fn decode_input(&mut self, now: Instant) {
        while self.ready < self.buf.len() && matches!(self.phase, Phase::Body) {
            let (used, data) = match self.codec.decode_body(&self.buf[self.ready..]) {
                Ok((used, Payload::Data(data))) => {
                    let offset = data.as_ptr() as usize - self.buf[self.ready..].as_ptr() as usize;
                    (used, Some(offset..offset + data.len()))
                }
                Ok((used, Payload::NeedMore)) => {
                    if used == 0 {
                        return;
                    }
                    (used, None)
                }
                Ok((used, Payload::End)) => {
                    // Whatever follows the body is not the response's.
                    self.trailing |= self.buf.len() > self.ready + used;
                    self.buf.truncate(self.ready);
                    self.finish(Ending::Complete, now);
                    return;
                }
                Err(error) => {
                    log::error(&format!("{}: {error}", self.label));
                    self.buf.truncate(self.ready);
                    self.finish(Ending::Cut, now);
                    return;
                }
            };
            let kept = match data {
                Some(range) => {
                    let len = range.len();
                    if range.start > 0 {
                        let at = self.ready;
                        self.buf.copy_within(at + range.start..at + range.end, at);
                    }
                    len
                }
                None => 0,
            };
            if used > kept {
                self.buf.drain(self.ready + kept..self.ready + used);
            }
            self.ready += kept;
        }
    }

    /// The backend's output ended: complete or cut, after a child's exit if there is one.
    fn output_ended(&mut self, now: Instant) {
        self.buf.truncate(self.ready);
        match self.codec.end_of_output() {
            Ok(()) => self.finish(Ending::Complete, now),
            Err(error) => {
                log::error(&format!("{}: {error}", self.label));
                self.finish(Ending::Cut, now);
            }
        }
    }

    /// The body is over as far as the backend's output goes; a child's exit is awaited
    /// before a complete body is declared.
    fn finish(&mut self, ending: Ending, now: Instant) {
        self.phase = match (ending, self.endpoint.exit()) {
            (Ending::Complete, Exit::Running | Exit::Exited(_)) => Phase::Ending { since: now },
            (ending, _) => Phase::Done(ending),
        };
        if let Phase::Ending { since } = self.phase {
            self.end(since, now);
        }
    }

    /// A child whose output ended: its exit decides. A child killed by a signal died in the
    /// middle of the response. One that exits with an error code after its output ended
    /// (php-cgi does after an error page) has said all it will: its body is complete, as
    /// Apache and lighttpd take it. One still running after the grace closed its output on
    /// purpose: the body is complete, and the child gets until the read timeout to exit.
    fn end(&mut self, since: Instant, now: Instant) -> bool {
        match self.endpoint.exit() {
            Exit::Exited(status) => {
                if !status.success() {
                    log::warn(&format!("{}: {status}", self.label));
                }
                let ending = match status.signal() {
                    Some(_) => Ending::Cut,
                    None => Ending::Complete,
                };
                self.phase = Phase::Done(ending);
                true
            }
            Exit::Running if now >= since + self.timeouts.exit_grace => {
                self.endpoint.release(self.timeouts.read);
                self.phase = Phase::Done(Ending::Complete);
                true
            }
            Exit::Running => false,
            Exit::NoProcess => {
                self.phase = Phase::Done(Ending::Complete);
                true
            }
        }
    }

    /// The response head, once parsed; Err(status) when the backend failed before it.
    pub fn head(&mut self) -> Poll<Result<Head, u16>> {
        if let Some(head) = self.head.take() {
            return Poll::Ready(Ok(head));
        }
        match self.phase {
            Phase::Failed(status) => Poll::Ready(Err(status)),
            _ => Poll::Pending,
        }
    }

    /// Takes request-body bytes for the backend: how many were taken (0: none now, the
    /// backend's input is full or enough waits already). Bytes for a backend that stopped
    /// reading are taken and dropped.
    pub fn write_body(&mut self, data: &[u8], now: Instant) -> usize {
        if self.input != Input::Open {
            return data.len();
        }
        if self.out.is_empty() && self.codec.passes_body_through() {
            if !self.endpoint.can_write() {
                return 0;
            }
            return match self.endpoint.write(data) {
                Ok(n) => {
                    self.wrote = self.wrote || n > 0;
                    self.last_write = now;
                    n
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
                Err(_) => {
                    self.drop_input();
                    data.len()
                }
            };
        }
        let room = LIMIT.saturating_sub(self.out.len() - self.out_sent);
        let take = room.min(data.len());
        if take > 0 {
            self.codec.encode_body(&data[..take], &mut self.out);
        }
        take
    }

    /// The head switched protocols (`101`): from now on the connection is a tunnel. The
    /// request went out whole; its input opens again for the client's bytes, which pass
    /// through ([`Upstream::write_body`]) until [`Upstream::end_body`] (the client's end: the
    /// backend's input is shut, if the codec says so). The body is the backend's bytes until
    /// it closes.
    pub fn open_tunnel(&mut self) {
        if matches!(self.phase, Phase::Body) && self.input == Input::Closed && self.out.is_empty() {
            self.input = Input::Open;
            self.tunnel = true;
        }
    }

    /// Whether the request body's end was given ([`Upstream::end_body`]), or the backend's
    /// input closed.
    pub fn input_ended(&self) -> bool {
        self.input != Input::Open
    }

    /// The request body is complete.
    pub fn end_body(&mut self) {
        if self.input == Input::Open {
            self.codec.encode_end(&mut self.out);
            self.input = Input::Ending;
            if self.out.is_empty() {
                if self.codec.closes_input_at_end() {
                    self.endpoint.close_input();
                }
                self.input = Input::Closed;
            }
        }
    }

    /// The next piece of the body for the client, at most `max` bytes.
    pub fn pull(&mut self, max: usize) -> Pull<'_> {
        if self.start < self.ready {
            let end = self.ready.min(self.start.saturating_add(max));
            return Pull::Bytes(&self.buf[self.start..end]);
        }
        match self.phase {
            Phase::Done(Ending::Complete) => Pull::End,
            Phase::Done(Ending::Cut) | Phase::Failed(_) => Pull::Abort,
            _ => Pull::Wait,
        }
    }

    /// Whether the body is over and all of it was taken (the next pull is `End`).
    pub fn at_end(&self) -> bool {
        self.start == self.ready && matches!(self.phase, Phase::Done(Ending::Complete))
    }

    /// The client took `n` bytes of the last pull.
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.ready);
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
            self.ready = 0;
        }
    }

    /// The endpoint of an upstream whose exchange is complete and clean (the whole request
    /// went out, the response ended as its framing said, nothing more arrived): a backend
    /// connection that can carry another request (a keep-alive pool's). None otherwise: the
    /// endpoint is closed with the upstream.
    pub fn into_reusable(self) -> Option<Endpoint> {
        Box::new(self)
            .into_reusable_with_spare()
            .map(|(endpoint, _)| endpoint)
    }

    /// [`Upstream::into_reusable`], with the upstream's buffers (emptied, capacity kept within
    /// bounds) for the next exchange on the connection ([`Upstream::use_spare`]): a kept-alive
    /// backend connection then allocates no buffer per request.
    pub fn into_reusable_with_spare(mut self: Box<Self>) -> Option<(Endpoint, Spare)> {
        let clean = matches!(self.phase, Phase::Done(Ending::Complete))
            && self.input == Input::Closed
            && self.out.is_empty()
            && self.buf.len() == self.start
            && !self.trailing
            && self.endpoint.has_input()
            && self.endpoint.exit() == Exit::NoProcess
            && self.endpoint.settle_idle();
        if !clean {
            return None;
        }
        // Only these fields leave the box (not the whole upstream).
        let Upstream {
            endpoint, buf, out, ..
        } = *self;
        let spare = Spare {
            buf: spare_buffer(buf),
            out: spare_buffer(out),
        };
        Some((endpoint, spare))
    }

    /// The upstream's buffers (emptied, capacity kept within bounds) for another upstream
    /// ([`Upstream::use_spare`]) when its connection is not kept: the endpoint closes here.
    pub fn into_spare(self) -> Spare {
        let Upstream { buf, out, .. } = self;
        Spare {
            buf: spare_buffer(buf),
            out: spare_buffer(out),
        }
    }

    /// Takes buffers left by the connection's previous exchange, before anything is queued or
    /// read (else they are dropped).
    pub fn use_spare(&mut self, spare: Spare) {
        if self.buf.is_empty() && self.buf.capacity() == 0 {
            self.buf = spare.buf;
        }
        if self.out.is_empty() && self.out.capacity() == 0 {
            self.out = spare.out;
        }
    }

    /// Whether the backend is still to be heard from (its output, or a child's exit).
    pub fn is_streaming(&self) -> bool {
        !matches!(self.phase, Phase::Done(_) | Phase::Failed(_))
    }

    /// When this upstream's current wait ends. `client_waiting`: the protocol holds bytes the
    /// client has not taken (then the backend's silence is the client's doing, and only the
    /// client's send timeout runs).
    pub fn deadline(&self, client_waiting: bool) -> Option<Instant> {
        let waiting = client_waiting || self.start < self.ready;
        let send = match self.timeouts.send {
            Some(send) if self.out_sent < self.out.len() => Some(self.last_write + send),
            _ => None,
        };
        let phase = match self.phase {
            Phase::Connecting { since } => Some(since + self.timeouts.connect),
            // A tunnel is idle when neither side sent anything.
            Phase::Body if self.tunnel && !waiting => {
                Some(self.last_read.max(self.last_write) + self.timeouts.read)
            }
            Phase::Head | Phase::Body if !waiting => Some(self.last_read + self.timeouts.read),
            Phase::Ending { since } => Some(since + self.timeouts.exit_grace),
            _ => None,
        };
        match (phase, send) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A deadline passed.
    pub fn timed_out(&mut self, now: Instant) -> Expiry {
        match self.phase {
            Phase::Connecting { .. } => {
                log::error(&format!("{}: connect() timed out", self.label));
                self.phase = Phase::Failed(504);
                Expiry::Handled
            }
            Phase::Head => {
                log::error(&format!("{}: no output in time", self.label));
                self.phase = Phase::Failed(504);
                Expiry::Handled
            }
            Phase::Ending { since } => {
                self.end(since, now);
                Expiry::Handled
            }
            Phase::Body => {
                if self.tunnel {
                    log::info(&format!(
                        "{}: tunnel idle for {:?}, closed",
                        self.label, self.timeouts.read
                    ));
                }
                self.phase = Phase::Done(Ending::Cut);
                Expiry::Cut
            }
            Phase::Done(_) | Phase::Failed(_) => Expiry::Handled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Poller, Registration};
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    /// A head of one line (`STATUS\n\n`), then a body framed as a length byte and its bytes (a
    /// 0 ends it); request bodies go out framed the same way. Enough framing to see the pump
    /// move payload in place and frame what it sends.
    struct Framed;

    impl Codec for Framed {
        fn head_limit(&self) -> usize {
            64
        }

        fn parse_head(&mut self, input: &[u8]) -> Result<Option<(Head, usize)>, String> {
            let Some(end) = input.windows(2).position(|w| w == b"\n\n") else {
                return if input.len() > 64 {
                    Err("head too long".into())
                } else {
                    Ok(None)
                };
            };
            let status = std::str::from_utf8(&input[..end])
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or("bad status")?;
            let head = Head {
                status,
                reason: None,
                headers: Vec::new(),
                length: None,
                close: false,
            };
            Ok(Some((head, end + 2)))
        }

        fn decode_body<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Payload<'a>), String> {
            let Some(&len) = input.first() else {
                return Ok((0, Payload::NeedMore));
            };
            let len = usize::from(len);
            if len == 0 {
                return Ok((1, Payload::End));
            }
            if input.len() < 1 + len {
                return Ok((0, Payload::NeedMore));
            }
            Ok((1 + len, Payload::Data(&input[1..1 + len])))
        }

        fn end_of_output(&mut self) -> Result<(), String> {
            Err("closed in the middle of the body".into())
        }

        fn encode_body(&mut self, data: &[u8], out: &mut Vec<u8>) {
            for piece in data.chunks(255) {
                out.push(piece.len() as u8);
                out.extend_from_slice(piece);
            }
        }

        fn encode_end(&mut self, out: &mut Vec<u8>) {
            out.push(0);
        }

        fn passes_body_through(&self) -> bool {
            false
        }
    }

    /// Bytes as they are, a head of one line.
    struct Raw;

    impl Codec for Raw {
        fn head_limit(&self) -> usize {
            64
        }

        fn parse_head(&mut self, input: &[u8]) -> Result<Option<(Head, usize)>, String> {
            Framed.parse_head(input)
        }
    }

    const TIMEOUTS: Timeouts = Timeouts {
        connect: Duration::from_secs(5),
        read: Duration::from_secs(5),
        send: Some(Duration::from_secs(5)),
        exit_grace: Duration::from_millis(200),
    };

    /// An upstream connected to a backend socket the test holds (blocking).
    fn connected(codec: Box<dyn Codec>, poller: &Poller) -> (Upstream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let registration = Registration {
            poller,
            slot: 1,
            generation: 1,
            stream: 1,
        };
        let address = Address::Inet(listener.local_addr().unwrap());
        let endpoint = Endpoint::connect(&address, &registration).unwrap();
        let upstream = Upstream::new(
            endpoint,
            codec,
            "test".into(),
            TIMEOUTS,
            true,
            Instant::now(),
        );
        let (backend, _) = listener.accept().unwrap();
        backend
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        (upstream, backend)
    }

    /// Waits (a little) for events, feeds them, advances. Returns whether anything moved.
    fn turn(poller: &mut Poller, upstream: &mut Upstream) -> bool {
        let mut events = Vec::new();
        poller
            .wait(Some(Duration::from_millis(20)), &mut events)
            .unwrap();
        for e in &events {
            upstream.ready(e.token.role, e.readable, e.writable, e.hangup, e.error);
        }
        upstream.advance(Instant::now())
    }

    fn head_of(poller: &mut Poller, upstream: &mut Upstream) -> Result<Head, u16> {
        for _ in 0..250 {
            turn(poller, upstream);
            if let Poll::Ready(head) = upstream.head() {
                return head;
            }
        }
        panic!("no head");
    }

    /// Pulls everything until the end: the bytes, and how it ended.
    fn body_of(poller: &mut Poller, upstream: &mut Upstream) -> (Vec<u8>, Pull<'static>) {
        let mut body = Vec::new();
        for _ in 0..2000 {
            turn(poller, upstream);
            loop {
                match upstream.pull(7) {
                    Pull::Bytes(bytes) => {
                        assert!(bytes.len() <= 7, "a pull gives at most what was asked");
                        body.extend_from_slice(bytes);
                        let n = bytes.len();
                        upstream.consume(n);
                    }
                    Pull::End => return (body, Pull::End),
                    Pull::Abort => return (body, Pull::Abort),
                    Pull::Wait => break,
                    Pull::File { .. } => panic!("no file from a socket"),
                }
            }
        }
        panic!("the body never ended");
    }

    #[test]
    fn a_framed_body_is_decoded_in_place_and_pulled_whole_to_its_end() {
        let mut poller = Poller::new(8).unwrap();
        let (mut upstream, mut backend) = connected(Box::new(Framed), &poller);
        let mut wire = b"201\n\n".to_vec();
        let mut expected = Vec::new();
        for n in 1..=40u8 {
            let piece: Vec<u8> = (0..n).map(|i| b'a' + (i + n) % 26).collect();
            wire.push(n);
            wire.extend_from_slice(&piece);
            expected.extend_from_slice(&piece);
        }
        wire.push(0);
        wire.extend_from_slice(b"not the response's");
        // In small pieces, so that frames straddle reads.
        std::thread::spawn(move || {
            for piece in wire.chunks(13) {
                backend.write_all(piece).unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(200));
        });
        assert_eq!(head_of(&mut poller, &mut upstream).unwrap().status, 201);
        let (body, end) = body_of(&mut poller, &mut upstream);
        assert_eq!(body, expected);
        assert!(matches!(end, Pull::End));
    }

    /// A head of one line; after a `101`, bytes pass both ways and the end of the request's
    /// side shuts the backend's input (as the proxy's codec does for a WebSocket).
    struct Switching {
        switched: bool,
    }

    impl Codec for Switching {
        fn head_limit(&self) -> usize {
            64
        }

        fn parse_head(&mut self, input: &[u8]) -> Result<Option<(Head, usize)>, String> {
            let parsed = Framed.parse_head(input)?;
            self.switched = matches!(&parsed, Some((head, _)) if head.status == 101);
            Ok(parsed)
        }

        fn closes_input_at_end(&self) -> bool {
            self.switched
        }
    }

    #[test]
    fn after_a_protocol_switch_bytes_pass_both_ways_until_each_side_ends() {
        let mut poller = Poller::new(8).unwrap();
        let (mut upstream, mut backend) =
            connected(Box::new(Switching { switched: false }), &poller);
        // The request had no body: its end went out (the backend's input stays open).
        upstream.end_body();
        upstream.open_tunnel();
        assert_eq!(upstream.write_body(b"early", Instant::now()), 5, "dropped");
        backend.write_all(b"101\n\nfrom the backend").unwrap();
        assert_eq!(head_of(&mut poller, &mut upstream).unwrap().status, 101);
        upstream.open_tunnel();
        let mut taken = 0;
        for _ in 0..100 {
            turn(&mut poller, &mut upstream);
            taken += upstream.write_body(&b"to the backend"[taken..], Instant::now());
            if taken == 14 {
                break;
            }
        }
        assert_eq!(taken, 14);
        let mut body = Vec::new();
        while let Pull::Bytes(bytes) = upstream.pull(usize::MAX) {
            body.extend_from_slice(bytes);
            let n = bytes.len();
            upstream.consume(n);
        }
        assert_eq!(body, b"from the backend");
        // Nothing waits for the client: the idle deadline runs, from the last byte either way.
        let idle = upstream.deadline(false).unwrap();
        assert!(idle > Instant::now() + TIMEOUTS.read - Duration::from_secs(1));
        upstream.end_body();
        let mut got = Vec::new();
        backend.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"to the backend", "the input is shut after the bytes");
        backend.write_all(b" and more").unwrap();
        drop(backend);
        let (body, end) = body_of(&mut poller, &mut upstream);
        assert_eq!(body, b" and more");
        assert!(matches!(end, Pull::End));
        assert!(upstream.into_reusable().is_none());
    }

    #[test]
    fn a_backend_closing_in_the_middle_of_a_framed_body_cuts_it() {
        let mut poller = Poller::new(8).unwrap();
        let (mut upstream, mut backend) = connected(Box::new(Framed), &poller);
        backend.write_all(b"200\n\n\x03abc\x05de").unwrap();
        drop(backend);
        assert_eq!(head_of(&mut poller, &mut upstream).unwrap().status, 200);
        let (body, end) = body_of(&mut poller, &mut upstream);
        assert_eq!(body, b"abc");
        assert!(matches!(end, Pull::Abort));
    }

    #[test]
    fn a_backend_closing_before_its_head_or_sending_a_bad_one_is_a_502() {
        let mut poller = Poller::new(8).unwrap();
        let (mut upstream, backend) = connected(Box::new(Framed), &poller);
        drop(backend);
        assert_eq!(head_of(&mut poller, &mut upstream).unwrap_err(), 502);
        let (mut upstream, mut backend) = connected(Box::new(Framed), &poller);
        backend.write_all(b"two hundred\n\n").unwrap();
        assert_eq!(head_of(&mut poller, &mut upstream).unwrap_err(), 502);
    }

    #[test]
    fn a_refused_connect_is_a_502_and_nothing_was_sent() {
        let mut poller = Poller::new(8).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let registration = Registration {
            poller: &poller,
            slot: 1,
            generation: 1,
            stream: 1,
        };
        let Ok(endpoint) = Endpoint::connect(&Address::Inet(port), &registration) else {
            return; // refused at once: the caller answers 502 itself
        };
        let mut upstream = Upstream::new(
            endpoint,
            Box::new(Raw),
            "test".into(),
            TIMEOUTS,
            false,
            Instant::now(),
        );
        assert_eq!(head_of(&mut poller, &mut upstream).unwrap_err(), 502);
        assert!(!upstream.sent_anything(), "a retry elsewhere is allowed");
    }

    #[test]
    fn the_backends_output_waits_in_a_bounded_buffer_until_the_client_takes_it() {
        let mut poller = Poller::new(8).unwrap();
        let (mut upstream, mut backend) = connected(Box::new(Raw), &poller);
        const TOTAL: usize = 4 << 20;
        let writer = std::thread::spawn(move || {
            backend.write_all(b"200\n\n").unwrap();
            let block = vec![b'x'; 64 * 1024];
            for _ in 0..TOTAL / block.len() {
                backend.write_all(&block).unwrap();
            }
        });
        assert_eq!(head_of(&mut poller, &mut upstream).unwrap().status, 200);
        // The client takes nothing: the pump stops reading at its limit.
        for _ in 0..50 {
            turn(&mut poller, &mut upstream);
            assert!(upstream.buf.len() - upstream.start <= LIMIT + READ_CHUNK);
        }
        assert!(upstream.buf.len() - upstream.start >= LIMIT - READ_CHUNK);
        let (body, end) = {
            let mut got = 0usize;
            loop {
                turn(&mut poller, &mut upstream);
                let mut ended = false;
                loop {
                    match upstream.pull(usize::MAX) {
                        Pull::Bytes(bytes) => {
                            let n = bytes.len();
                            got += n;
                            upstream.consume(n);
                        }
                        Pull::Wait => break,
                        _ => {
                            ended = true;
                            break;
                        }
                    }
                }
                assert!(upstream.buf.capacity() <= 2 * (LIMIT + READ_CHUNK));
                if ended || got == TOTAL {
                    break (got, ended);
                }
            }
        };
        assert_eq!(body, TOTAL);
        let _ = end;
        writer.join().unwrap();
    }

    #[test]
    fn request_body_bytes_are_taken_only_while_the_backend_takes_them() {
        let mut poller = Poller::new(8).unwrap();
        let (mut upstream, mut backend) = connected(Box::new(Raw), &poller);
        for _ in 0..50 {
            if !upstream.endpoint.is_connecting() && upstream.endpoint.can_write() {
                break;
            }
            turn(&mut poller, &mut upstream);
        }
        // The backend reads nothing: what the socket holds is all that is taken.
        let block = vec![7u8; 64 * 1024];
        let mut taken = 0usize;
        let mut refused = 0;
        while refused < 3 {
            let n = upstream.write_body(&block, Instant::now());
            taken += n;
            if n == 0 {
                refused += 1;
                turn(&mut poller, &mut upstream);
            }
            assert!(taken < 64 << 20, "the backend's socket never filled");
        }
        // Once the backend reads, more is taken.
        let mut sink = vec![0u8; 1 << 20];
        let mut read = backend.read(&mut sink).unwrap();
        let mut more = 0;
        for _ in 0..200 {
            turn(&mut poller, &mut upstream);
            more += upstream.write_body(&block, Instant::now());
            if more > 0 {
                break;
            }
            read += backend.read(&mut sink).unwrap();
        }
        assert!(read > 0 && more > 0);
    }

    #[test]
    fn a_framing_codec_frames_the_request_body_and_its_end_with_backpressure() {
        let mut poller = Poller::new(8).unwrap();
        let (mut upstream, mut backend) = connected(Box::new(Framed), &poller);
        upstream.send_first(b"HEAD\n");
        let data: Vec<u8> = (0..600u32).map(|i| (i % 251) as u8).collect();
        let mut offered = &data[..];
        while !offered.is_empty() {
            let n = upstream.write_body(offered, Instant::now());
            offered = &offered[n..];
            turn(&mut poller, &mut upstream);
        }
        upstream.end_body();
        for _ in 0..20 {
            turn(&mut poller, &mut upstream);
        }
        assert!(upstream.sent_anything());
        let mut wire = Vec::new();
        backend.read_to_end(&mut wire).unwrap();
        let mut expected = b"HEAD\n".to_vec();
        Framed.encode_body(&data, &mut expected);
        expected.push(0);
        assert_eq!(
            wire, expected,
            "framed, in order, and the input shut after the end"
        );
    }

    /// [`Framed`] for a backend that takes several requests on one connection.
    struct KeepAlive;

    impl Codec for KeepAlive {
        fn head_limit(&self) -> usize {
            64
        }

        fn parse_head(&mut self, input: &[u8]) -> Result<Option<(Head, usize)>, String> {
            Framed.parse_head(input)
        }

        fn decode_body<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Payload<'a>), String> {
            Framed.decode_body(input)
        }

        fn closes_input_at_end(&self) -> bool {
            false
        }
    }

    #[test]
    fn a_clean_backend_connection_carries_a_second_exchange_under_a_new_owner() {
        let mut poller = Poller::new(8).unwrap();
        let (mut first, mut backend) = connected(Box::new(KeepAlive), &poller);
        first.send_first(b"one\n");
        first.end_body();
        backend.write_all(b"200\n\n\x02ok\x00").unwrap();
        assert_eq!(head_of(&mut poller, &mut first).unwrap().status, 200);
        assert_eq!(body_of(&mut poller, &mut first).0, b"ok");
        let (mut endpoint, spare) = Box::new(first)
            .into_reusable_with_spare()
            .expect("a clean connection is kept");
        assert!(
            spare.buf.is_empty() && spare.buf.capacity() > 0,
            "its buffer is kept"
        );
        let kept = spare.buf.as_ptr();
        let token = crate::event::Token::upstream(9, 3, 2, crate::event::Role::Socket);
        endpoint.rebind(&poller, token).unwrap();
        let mut second = Upstream::new(
            endpoint,
            Box::new(KeepAlive),
            "test".into(),
            TIMEOUTS,
            true,
            Instant::now(),
        );
        second.use_spare(spare);
        assert_eq!(second.buf.as_ptr(), kept, "and used again");
        second.send_first(b"two\n");
        second.end_body();
        for _ in 0..10 {
            turn(&mut poller, &mut second);
        }
        let mut asked = [0u8; 8];
        backend.read_exact(&mut asked).unwrap();
        assert_eq!(
            &asked, b"one\ntwo\n",
            "the input was not shut after the first"
        );
        backend.write_all(b"201\n\n\x03yes\x00").unwrap();
        let mut events = Vec::new();
        poller
            .wait(Some(Duration::from_secs(5)), &mut events)
            .unwrap();
        assert!(!events.is_empty() && events.iter().all(|e| e.token == token));
        for e in &events {
            second.ready(e.token.role, e.readable, e.writable, e.hangup, e.error);
        }
        assert_eq!(head_of(&mut poller, &mut second).unwrap().status, 201);
        assert_eq!(body_of(&mut poller, &mut second).0, b"yes");
        // Bytes after the end: not reusable.
        let (mut third, mut backend) = connected(Box::new(KeepAlive), &poller);
        third.end_body();
        backend.write_all(b"200\n\n\x00junk").unwrap();
        assert_eq!(head_of(&mut poller, &mut third).unwrap().status, 200);
        body_of(&mut poller, &mut third);
        assert!(third.into_reusable().is_none());
    }

    #[test]
    fn silence_before_the_head_is_a_504_and_within_the_body_cuts_it() {
        let mut poller = Poller::new(8).unwrap();
        let (mut upstream, _backend) = connected(Box::new(Raw), &poller);
        turn(&mut poller, &mut upstream);
        let deadline = upstream.deadline(false).unwrap();
        assert!(deadline > Instant::now() + Duration::from_secs(4));
        assert_eq!(upstream.timed_out(deadline), Expiry::Handled);
        assert_eq!(head_of(&mut poller, &mut upstream).unwrap_err(), 504);

        let (mut upstream, mut backend) = connected(Box::new(Raw), &poller);
        backend.write_all(b"200\n\nsome").unwrap();
        assert_eq!(head_of(&mut poller, &mut upstream).unwrap().status, 200);
        for _ in 0..10 {
            turn(&mut poller, &mut upstream);
        }
        // Bytes wait for the client: its slowness is not the backend's silence.
        assert_eq!(upstream.deadline(false), None);
        let n = match upstream.pull(usize::MAX) {
            Pull::Bytes(bytes) => bytes.len(),
            other => panic!("{other:?}"),
        };
        upstream.consume(n);
        assert!(upstream.deadline(false).is_some());
        assert_eq!(upstream.deadline(true), None, "the client's own wait");
        assert_eq!(upstream.timed_out(Instant::now()), Expiry::Cut);
        assert!(matches!(upstream.pull(1), Pull::Abort));
    }
}
