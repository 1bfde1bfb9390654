//! The one HTTP/1 response encoder: it chooses how a body is delimited (Content-Length, chunked,
//! or the connection's close), decides whether the connection persists, writes the head, and
//! frames the body's pieces as it pulls them from the exchange, whatever produced them.

use crate::handler::pages;
use crate::http::response::{self, Head, Pull, status_has_body};
use crate::transport::{Piece, Scratch, Transport, Written};
use std::io;

/// Most body bytes one chunk carries.
const MAX_CHUNK: usize = 1 << 20;

/// The interim answer to `Expect: 100-continue`, sent just before a body is wanted.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What the protocol keeps of a request to answer it: its version, whether it asked to keep
/// the connection, whether it was a HEAD.
#[derive(Debug, Clone, Copy)]
pub struct Facts {
    pub minor_version: u8,
    pub keep_alive: bool,
    pub head_only: bool,
}

/// Whether the connection carries another request after this response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    KeepAlive,
    Close,
}

/// How the body is delimited on the wire (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delimit {
    /// Content-Length: this many body bytes still to send; more from the producer are dropped.
    Length(u64),
    /// Chunked: this many bytes of the current chunk still to send.
    Chunked(u64),
    /// The body ends with the connection (HTTP/1.0 without a length).
    Close,
    /// No body is sent (HEAD, 204, 304): what the producer gives is pulled and dropped.
    Omitted,
}

/// How the response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The body is complete as framed.
    Complete,
    /// Cut short (a backend failed, fewer bytes than announced): the connection must close.
    Cut,
}

/// The decision, in one place: the head's framing field, the body's delimitation, and whether
/// the connection persists.
///
/// - No body for 1xx, 204, 304; a HEAD gets the head (with the length a GET would have had).
/// - A known length is sent as Content-Length; otherwise HTTP/1.1 gets chunked, and HTTP/1.0
///   a body delimited by the close (so that connection cannot persist).
/// - The connection persists when the client asked for it, the answer did not ask to close
///   (an unread request body), and the server is not draining.
fn decide(facts: Facts, head: &Head, draining: bool) -> (response::Framing, Delimit, Persistence) {
    let (field, delimit) = match head.length {
        _ if !status_has_body(head.status) => (response::Framing::None, Delimit::Omitted),
        Some(length) => (response::Framing::Length(length), Delimit::Length(length)),
        None if facts.minor_version >= 1 => (response::Framing::Chunked, Delimit::Chunked(0)),
        None => (response::Framing::None, Delimit::Close),
    };
    let close_delimited = head.length.is_none() && facts.minor_version == 0;
    let persistence = if facts.keep_alive && !head.close && !draining && !close_delimited {
        Persistence::KeepAlive
    } else {
        Persistence::Close
    };
    let delimit = if facts.head_only {
        Delimit::Omitted
    } else {
        delimit
    };
    (field, delimit, persistence)
}

/// One response on its way out: framing bytes waiting (an interim 100, the head, chunk lines),
/// then the body's pieces.
pub struct Encoder {
    /// Bytes to send before the next body bytes; `prefix[..prefix_sent]` is sent.
    prefix: Vec<u8>,
    prefix_sent: usize,
    /// None until the head is written.
    delimit: Option<Delimit>,
    persistence: Persistence,
    ended: Option<Ended>,
    /// Body bytes sent (the access log's size).
    body_bytes: u64,
    /// The producer gave bytes the socket could not take yet.
    blocked: bool,
}

/// What one write step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Bytes went out, or the body advanced.
    Progress,
    /// Nothing now: the socket is full, or the producer has nothing yet.
    Blocked,
}

impl Encoder {
    pub fn new() -> Encoder {
        Encoder {
            prefix: Vec::new(),
            prefix_sent: 0,
            delimit: None,
            persistence: Persistence::Close,
            ended: None,
            body_bytes: 0,
            blocked: false,
        }
    }

    /// Queues `100 Continue` ahead of everything.
    pub fn interim_continue(&mut self) {
        self.prefix.extend_from_slice(CONTINUE);
    }

    /// Whether the head was written (queued).
    pub fn started(&self) -> bool {
        self.delimit.is_some()
    }

    /// Writes `head` (queued for the socket), decides the body's framing and the connection's
    /// persistence.
    pub fn start(&mut self, head: &Head, facts: Facts, date: &str, draining: bool) {
        let (field, delimit, persistence) = decide(facts, head, draining);
        self.prefix.reserve(256);
        let reason = head
            .reason
            .as_deref()
            .unwrap_or_else(|| pages::reason(head.status));
        response::write_head(
            &mut self.prefix,
            head.status,
            reason,
            &head.headers,
            date,
            field,
            persistence == Persistence::KeepAlive,
        );
        self.delimit = Some(delimit);
        self.persistence = persistence;
    }

    pub fn persistence(&self) -> Persistence {
        self.persistence
    }

    pub fn body_bytes(&self) -> u64 {
        self.body_bytes
    }

    /// How the response ended, once it has and its last byte is written.
    pub fn finished(&self) -> Option<Ended> {
        self.ended.filter(|_| self.prefix_sent == self.prefix.len())
    }

    /// Whether bytes wait for the client (the send timeout runs).
    pub fn client_waiting(&self) -> bool {
        self.prefix_sent < self.prefix.len() || self.blocked
    }

    /// Writes a pending interim answer before the head exists (`100 Continue`).
    pub fn write_interim(
        &mut self,
        transport: &mut Transport,
        scratch: &mut Scratch,
    ) -> io::Result<Step> {
        if self.prefix_sent == self.prefix.len() || !transport.writable() {
            return Ok(Step::Blocked);
        }
        let written = transport.write_parts(&self.prefix[self.prefix_sent..], Piece::None, scratch);
        match written {
            Ok(written) => {
                self.advance_prefix(written.prefix);
                Ok(Step::Progress)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Step::Blocked),
            Err(e) => Err(e),
        }
    }

    fn advance_prefix(&mut self, n: usize) {
        self.prefix_sent += n;
        if self.prefix_sent == self.prefix.len() {
            self.prefix.clear();
            self.prefix_sent = 0;
        }
    }

    /// One step of the body: pulls from `body` (the exchange), frames, and makes at most one
    /// write. Err: the socket failed.
    pub fn step<B: Body>(
        &mut self,
        body: &mut B,
        transport: &mut Transport,
        scratch: &mut Scratch,
    ) -> io::Result<Step> {
        let Some(delimit) = self.delimit else {
            return Ok(Step::Blocked);
        };
        if self.ended.is_some() {
            return self.write_prefix(transport, scratch);
        }
        let max = match delimit {
            Delimit::Length(0) | Delimit::Omitted | Delimit::Close => usize::MAX,
            Delimit::Length(left) => left.min(usize::MAX as u64) as usize,
            Delimit::Chunked(0) => MAX_CHUNK,
            Delimit::Chunked(left) => left as usize,
        };
        let (written, dropped) = match body.pull(max) {
            Pull::Wait => {
                self.blocked = false;
                return self.write_prefix(transport, scratch);
            }
            Pull::End => {
                self.ended = Some(match delimit {
                    Delimit::Length(left) if left > 0 => Ended::Cut,
                    Delimit::Chunked(_) => {
                        self.prefix.extend_from_slice(b"0\r\n\r\n");
                        Ended::Complete
                    }
                    _ => Ended::Complete,
                });
                self.blocked = false;
                return Ok(Step::Progress);
            }
            Pull::Abort => {
                self.ended = Some(Ended::Cut);
                self.blocked = false;
                return Ok(Step::Progress);
            }
            // Output past the announced length, or of a body not sent, is dropped.
            Pull::Bytes(bytes) if matches!(delimit, Delimit::Length(0) | Delimit::Omitted) => {
                (Written::default(), bytes.len())
            }
            Pull::File { len, .. } if matches!(delimit, Delimit::Length(0) | Delimit::Omitted) => {
                (Written::default(), len as usize)
            }
            pulled => {
                let piece = match pulled {
                    Pull::Bytes(bytes) => Piece::Bytes(bytes),
                    Pull::File { file, offset, len } => Piece::File { file, offset, len },
                    _ => Piece::None,
                };
                let len = match piece {
                    Piece::Bytes(bytes) => bytes.len() as u64,
                    Piece::File { len, .. } => len,
                    Piece::None => 0,
                };
                if len == 0 {
                    return self.write_prefix(transport, scratch);
                }
                if let Delimit::Chunked(0) = delimit {
                    push_hex(&mut self.prefix, len);
                    self.prefix.extend_from_slice(b"\r\n");
                    self.delimit = Some(Delimit::Chunked(len));
                }
                if !transport.writable() {
                    self.blocked = true;
                    return Ok(Step::Blocked);
                }
                match transport.write_parts(&self.prefix[self.prefix_sent..], piece, scratch) {
                    Ok(written) => (written, 0),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.blocked = true;
                        return Ok(Step::Blocked);
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        self.advance_prefix(written.prefix);
        let sent = written.body as u64;
        body.consume(written.body + dropped);
        self.body_bytes += sent;
        self.delimit = Some(match self.delimit.unwrap_or(delimit) {
            Delimit::Length(left) => Delimit::Length(left - sent.min(left)),
            Delimit::Chunked(left) => {
                let left = left - sent.min(left);
                if left == 0 {
                    self.prefix.extend_from_slice(b"\r\n");
                }
                Delimit::Chunked(left)
            }
            other => other,
        });
        self.blocked = !transport.writable();
        if self.delimit == Some(Delimit::Length(0)) && self.prefix.is_empty() {
            // All that was announced is out: the producer's end is usually known at once.
            match body.pull(usize::MAX) {
                Pull::End => self.ended = Some(Ended::Complete),
                Pull::Abort => self.ended = Some(Ended::Cut),
                _ => {}
            }
        }
        Ok(Step::Progress)
    }

    /// Writes framing bytes that wait with no body bytes to go with them.
    fn write_prefix(
        &mut self,
        transport: &mut Transport,
        scratch: &mut Scratch,
    ) -> io::Result<Step> {
        if self.prefix_sent == self.prefix.len() || !transport.writable() {
            return Ok(Step::Blocked);
        }
        match transport.write_parts(&self.prefix[self.prefix_sent..], Piece::None, scratch) {
            Ok(written) => {
                self.advance_prefix(written.prefix);
                Ok(Step::Progress)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Step::Blocked),
            Err(e) => Err(e),
        }
    }
}

/// What the encoder pulls a body from (the exchange).
pub trait Body {
    fn pull(&mut self, max: usize) -> Pull<'_>;
    fn consume(&mut self, n: usize);
}

impl Body for crate::exchange::Exchange {
    fn pull(&mut self, max: usize) -> Pull<'_> {
        crate::exchange::Exchange::pull(self, max)
    }

    fn consume(&mut self, n: usize) {
        crate::exchange::Exchange::consume(self, n);
    }
}

/// Appends `n` in lower-case hexadecimal (a chunk size).
fn push_hex(out: &mut Vec<u8>, n: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut start = digits.len();
    let mut n = n;
    loop {
        start -= 1;
        digits[start] = DIGITS[(n & 0xf) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}
