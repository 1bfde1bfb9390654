//! The one HTTP/1 response encoder: it chooses how a body is delimited (Content-Length, chunked,
//! or the connection's close), decides whether the connection persists, writes the head, and
//! frames the body's pieces as it pulls them from the exchange, whatever produced them.

use crate::http::response::{self, Head, Pull, status_has_body};
use crate::site::pages;
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
/// - After a `101 Switching Protocols` (a proxied WebSocket) the tunnel's bytes go unframed
///   until the connection closes (`Connection: upgrade`; it never persists).
/// - A known length is sent as Content-Length; otherwise HTTP/1.1 gets chunked, and HTTP/1.0
///   a body delimited by the close (so that connection cannot persist).
/// - The connection persists when the client asked for it, the answer did not ask to close
///   (an unread request body), and the server is not draining.
fn decide(facts: Facts, head: &Head, draining: bool) -> (response::Framing, Delimit, Persistence) {
    let (field, delimit) = match head.length {
        // A protocol switch: what follows is the new protocol's, until the connection closes.
        _ if head.status == 101 => (response::Framing::None, Delimit::Close),
        _ if !status_has_body(head.status) => (response::Framing::None, Delimit::Omitted),
        Some(length) => (response::Framing::Length(length), Delimit::Length(length)),
        None if facts.minor_version >= 1 => (response::Framing::Chunked, Delimit::Chunked(0)),
        None => (response::Framing::None, Delimit::Close),
    };
    let close_delimited = (head.length.is_none() && facts.minor_version == 0) || head.status == 101;
    let persistence = if facts.keep_alive && !head.close && !draining && !close_delimited {
        Persistence::KeepAlive
    } else {
        Persistence::Close
    };
    let delimit = if facts.head_only && head.status != 101 {
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
    #[inline]
    pub fn start(&mut self, head: &Head, facts: Facts, date: &str, draining: bool) {
        let (field, delimit, persistence) = decide(facts, head, draining);
        // A static file's head is about 250 bytes, a compressed one's about 300.
        self.prefix.reserve(384);
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
    #[inline]
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
            // A small chunk goes out with what precedes it, and with the last chunk when it
            // is the body's end (a short answer of a backend: one write, not two).
            Pull::Bytes(bytes)
                if delimit == Delimit::Chunked(0)
                    && !bytes.is_empty()
                    && bytes.len() <= COALESCE =>
            {
                let len = bytes.len();
                push_hex(&mut self.prefix, len as u64);
                self.prefix.extend_from_slice(b"\r\n");
                self.prefix.extend_from_slice(bytes);
                body.consume(len);
                self.body_bytes += len as u64;
                if body.at_end() {
                    self.prefix.extend_from_slice(b"\r\n0\r\n\r\n");
                    self.ended = Some(Ended::Complete);
                } else {
                    self.prefix.extend_from_slice(b"\r\n");
                }
                self.write_prefix(transport, scratch)?;
                self.blocked = !transport.writable();
                return Ok(Step::Progress);
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
    /// Whether the next pull is known to be the end (false when it cannot be told yet).
    fn at_end(&self) -> bool {
        false
    }
}

impl Body for crate::exchange::Exchange {
    fn pull(&mut self, max: usize) -> Pull<'_> {
        crate::exchange::Exchange::pull(self, max)
    }

    fn consume(&mut self, n: usize) {
        crate::exchange::Exchange::consume(self, n);
    }

    fn at_end(&self) -> bool {
        crate::exchange::Exchange::at_end(self)
    }
}

/// Most body bytes copied next to their chunk's framing (and sent in one write with it).
const COALESCE: usize = 4 * 1024;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::response::Value;
    use std::borrow::Cow;
    use std::collections::VecDeque;
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    /// A producer that gives its pieces in order (each may be pulled in parts), then ends or
    /// aborts.
    struct Script {
        pieces: VecDeque<Vec<u8>>,
        at: usize,
        abort: bool,
        /// Says when it has nothing more (`Body::at_end`).
        tells_end: bool,
    }

    impl Script {
        fn new(pieces: &[&[u8]], abort: bool) -> Script {
            Script {
                pieces: pieces.iter().map(|p| p.to_vec()).collect(),
                at: 0,
                abort,
                tells_end: false,
            }
        }
    }

    impl Body for Script {
        fn pull(&mut self, max: usize) -> Pull<'_> {
            match self.pieces.front() {
                Some(piece) => {
                    let end = piece.len().min(self.at.saturating_add(max));
                    Pull::Bytes(&piece[self.at..end])
                }
                None if self.abort => Pull::Abort,
                None => Pull::End,
            }
        }

        fn consume(&mut self, n: usize) {
            self.at += n;
            if self.pieces.front().is_some_and(|p| self.at == p.len()) {
                self.pieces.pop_front();
                self.at = 0;
            }
        }

        fn at_end(&self) -> bool {
            self.tells_end && !self.abort && self.pieces.is_empty()
        }
    }

    fn head(status: u16, length: Option<u64>) -> Head {
        Head {
            status,
            reason: None,
            headers: vec![(Cow::Borrowed("X-A"), Value::Static("1"))],
            length,
            close: false,
        }
    }

    const HTTP11: Facts = Facts {
        minor_version: 1,
        keep_alive: true,
        head_only: false,
    };

    /// Runs the encoder to the end over a real socket; returns what the client received and
    /// how the response ended.
    fn encode(head: &Head, facts: Facts, body: &mut dyn Body) -> (String, Ended, Persistence) {
        let (wire, ended, persistence, _) = encode_counting(head, facts, body);
        (wire, ended, persistence)
    }

    /// [`encode`], with the number of steps it took.
    fn encode_counting(
        head: &Head,
        facts: Facts,
        body: &mut dyn Body,
    ) -> (String, Ended, Persistence, usize) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let mut transport = Transport::plain(server);
        transport.ready(true, true, false, false);
        let mut scratch = Scratch::default();
        let mut encoder = Encoder::new();
        encoder.start(head, facts, "D", false);
        let mut steps = 0;
        let ended = loop {
            if let Some(ended) = encoder.finished() {
                break ended;
            }
            encoder
                .step(&mut Dyn(body), &mut transport, &mut scratch)
                .unwrap();
            steps += 1;
        };
        drop(transport);
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut wire = String::new();
        client.read_to_string(&mut wire).unwrap();
        (wire, ended, encoder.persistence(), steps)
    }

    /// `&mut dyn Body` as a `Body`.
    struct Dyn<'a>(&'a mut dyn Body);

    impl Body for Dyn<'_> {
        fn pull(&mut self, max: usize) -> Pull<'_> {
            self.0.pull(max)
        }

        fn consume(&mut self, n: usize) {
            self.0.consume(n)
        }

        fn at_end(&self) -> bool {
            self.0.at_end()
        }
    }

    fn body_of(wire: &str) -> &str {
        &wire[wire.find("\r\n\r\n").unwrap() + 4..]
    }

    #[test]
    fn a_known_length_is_sent_as_content_length_and_output_past_it_dropped() {
        let (wire, ended, persistence) = encode(
            &head(200, Some(5)),
            HTTP11,
            &mut Script::new(&[b"hel", b"lo", b" and more"], false),
        );
        assert!(wire.starts_with("HTTP/1.1 200 OK\r\nServer: webserv\r\nDate: D\r\nX-A: 1\r\n"));
        assert!(wire.contains("\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n"));
        assert_eq!(body_of(&wire), "hello");
        assert_eq!(
            (ended, persistence),
            (Ended::Complete, Persistence::KeepAlive)
        );
    }

    #[test]
    fn a_body_shorter_than_its_length_is_cut() {
        let (wire, ended, _) = encode(
            &head(200, Some(10)),
            HTTP11,
            &mut Script::new(&[b"short"], false),
        );
        assert_eq!(body_of(&wire), "short");
        assert_eq!(ended, Ended::Cut);
    }

    #[test]
    fn an_unknown_length_is_chunked_on_http_1_1_with_the_last_chunk_at_the_end() {
        let (wire, ended, persistence) = encode(
            &head(200, None),
            HTTP11,
            &mut Script::new(&[b"ab", b"cde"], false),
        );
        assert!(wire.contains("Transfer-Encoding: chunked\r\n"));
        assert_eq!(body_of(&wire), "2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n");
        assert_eq!(
            (ended, persistence),
            (Ended::Complete, Persistence::KeepAlive)
        );
    }

    #[test]
    fn a_short_chunked_body_whose_end_is_known_goes_with_its_last_chunk_in_one_write() {
        let mut body = Script::new(&[b"hello"], false);
        body.tells_end = true;
        let (wire, ended, _, steps) = encode_counting(&head(200, None), HTTP11, &mut body);
        assert_eq!(body_of(&wire), "5\r\nhello\r\n0\r\n\r\n");
        assert_eq!(
            (ended, steps),
            (Ended::Complete, 1),
            "head, chunk and end at once"
        );
        // Large pieces keep their own write; an end not known yet comes with the next step.
        let big = vec![b'x'; COALESCE + 1];
        let mut body = Script::new(&[&big, b"end"], false);
        body.tells_end = true;
        let (wire, ended, _, _) = encode_counting(&head(200, None), HTTP11, &mut body);
        let expected = format!(
            "{:x}\r\n{}\r\n3\r\nend\r\n0\r\n\r\n",
            big.len(),
            "x".repeat(big.len())
        );
        assert_eq!(
            (body_of(&wire), ended),
            (expected.as_str(), Ended::Complete)
        );
        let (wire, _, _, steps) = encode_counting(
            &head(200, None),
            HTTP11,
            &mut Script::new(&[b"hello"], false),
        );
        assert_eq!(body_of(&wire), "5\r\nhello\r\n0\r\n\r\n");
        assert!(
            steps > 1,
            "the end is a step of its own when it is not known"
        );
    }

    #[test]
    fn an_aborted_chunked_body_has_no_last_chunk() {
        let (wire, ended, _) = encode(&head(200, None), HTTP11, &mut Script::new(&[b"abc"], true));
        assert_eq!(body_of(&wire), "3\r\nabc\r\n");
        assert_eq!(ended, Ended::Cut);
    }

    #[test]
    fn http_1_0_without_a_length_is_delimited_by_the_close() {
        let facts = Facts {
            minor_version: 0,
            ..HTTP11
        };
        let (wire, ended, persistence) =
            encode(&head(200, None), facts, &mut Script::new(&[b"xyz"], false));
        assert!(!wire.contains("Transfer-Encoding") && !wire.contains("Content-Length"));
        assert!(wire.contains("Connection: close\r\n"));
        assert_eq!(body_of(&wire), "xyz");
        assert_eq!((ended, persistence), (Ended::Complete, Persistence::Close));
    }

    #[test]
    fn a_protocol_switch_is_followed_by_unframed_bytes_until_the_close() {
        let mut switch = head(101, None);
        switch
            .headers
            .push(("Upgrade".into(), "websocket".to_string().into()));
        let (wire, ended, persistence) = encode(
            &switch,
            HTTP11,
            &mut Script::new(&[b"frame 1", b"frame 2"], false),
        );
        assert!(
            wire.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
            "{wire}"
        );
        assert!(wire.contains("Upgrade: websocket\r\nConnection: upgrade\r\n\r\n"));
        assert!(!wire.contains("Transfer-Encoding") && !wire.contains("Content-Length"));
        assert_eq!(body_of(&wire), "frame 1frame 2");
        assert_eq!((ended, persistence), (Ended::Complete, Persistence::Close));
    }

    #[test]
    fn head_and_bodiless_statuses_send_no_body_but_pull_it_to_its_end() {
        let facts = Facts {
            head_only: true,
            ..HTTP11
        };
        let mut body = Script::new(&[b"12345"], false);
        let (wire, ended, _) = encode(&head(200, Some(5)), facts, &mut body);
        assert!(wire.contains("Content-Length: 5\r\n"));
        assert_eq!(body_of(&wire), "");
        assert!(body.pieces.is_empty(), "the body was pulled and dropped");
        assert_eq!(ended, Ended::Complete);
        let (wire, _, _) = encode(
            &head(304, Some(5)),
            HTTP11,
            &mut Script::new(&[b"12345"], false),
        );
        assert!(!wire.contains("Content-Length"));
        assert_eq!(body_of(&wire), "");
    }

    #[test]
    fn persistence_is_decided_in_one_place() {
        let table = [
            // (keep-alive asked, head.close, draining, minor, length) -> persists
            (true, false, false, 1, None, true),
            (true, false, false, 1, Some(3), true),
            (false, false, false, 1, Some(3), false),
            (true, true, false, 1, Some(3), false),
            (true, false, true, 1, Some(3), false),
            (true, false, false, 0, Some(3), true),
            (true, false, false, 0, None, false),
        ];
        for (keep_alive, close, draining, minor_version, length, persists) in table {
            let mut h = head(200, length);
            h.close = close;
            let facts = Facts {
                minor_version,
                keep_alive,
                head_only: false,
            };
            let (_, _, persistence) = decide(facts, &h, draining);
            assert_eq!(
                persistence == Persistence::KeepAlive,
                persists,
                "{keep_alive} {close} {draining} {minor_version} {length:?}"
            );
        }
    }

    #[test]
    fn an_interim_continue_goes_before_the_head() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let mut transport = Transport::plain(server);
        transport.ready(true, true, false, false);
        let mut scratch = Scratch::default();
        let mut encoder = Encoder::new();
        encoder.interim_continue();
        assert_eq!(
            encoder.write_interim(&mut transport, &mut scratch).unwrap(),
            Step::Progress
        );
        encoder.start(&head(204, None), HTTP11, "D", false);
        let mut body = Script::new(&[], false);
        while encoder.finished().is_none() {
            encoder
                .step(&mut body, &mut transport, &mut scratch)
                .unwrap();
        }
        drop(transport);
        let mut wire = String::new();
        client.read_to_string(&mut wire).unwrap();
        assert!(wire.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n"));
    }
}
