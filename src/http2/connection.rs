//! One HTTP/2 connection, server side, as a state machine without I/O.
//!
//! Bytes from the client go in through [`Connection::receive`], one frame at a time, and come
//! out as [`Event`]s: a request on a new stream, request body data, a stream reset, the client's
//! GOAWAY, or the end of the connection. The exchange answers through actions:
//! [`Connection::send_headers`], [`Connection::send_data`] / [`Connection::send_data_with`]
//! (bounded by the flow-control windows), [`Connection::reset`], [`Connection::goaway`]. Every
//! frame the server sends is appended to one output buffer that the transport drains
//! ([`Connection::pending_output`], [`Connection::written`]).
//!
//! What is decided here, and nowhere else:
//! - the stream states of RFC 9113 §5.1, with the right answer to each frame in each state,
//!   stream errors (RST_STREAM) and connection errors (GOAWAY) told apart as §5.4 and §6 say;
//! - flow control both ways: the windows the client gives us (SETTINGS_INITIAL_WINDOW_SIZE
//!   changes applied to open streams, overflow an error) and the ones we give it, handed back
//!   only as the exchange consumes the body ([`Connection::release`]);
//! - the limits that bound a client's cost ([`Limits`]): concurrent streams, header block and
//!   header list sizes, CONTINUATION frames per block, resets (CVE-2023-44487), frames that do
//!   no work (SETTINGS, PING, empty DATA, WINDOW_UPDATE floods), and the output backlog (input
//!   is not taken while the client does not read what it asked for).
//!
//! Memory: per connection, the HPACK tables (4 KiB each by the RFC's count), the output
//! buffer (about [`Limits::output_backlog`] plus one frame), a header block in progress
//! (at most [`Limits::max_header_block`]), and a record of recently closed streams; per
//! stream, a few words. Request bodies are not buffered here: DATA is handed to the exchange
//! as a slice of the input.

use super::frame::{self, ErrorCode, Frame, FrameError, Head, Setting};
use super::hpack::{Decoder, Encoder, Indexing};
use super::request::{Rejection, RequestFields, trailer_field_is_valid};
use crate::http::request::Request;
use std::collections::VecDeque;

/// A stream identifier (31 bits).
pub type StreamId = u32;

/// What a client sends first (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// SETTINGS identifiers we send.
const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
const SETTINGS_MAX_HEADER_LIST_SIZE: u16 = 0x6;

/// The flow-control window every stream and the connection start with (§6.9.2).
const DEFAULT_WINDOW: u32 = 65_535;

/// The fixed limits of one connection. The defaults are the server's; tests use smaller ones.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// SETTINGS_MAX_CONCURRENT_STREAMS: a stream past it is refused (REFUSED_STREAM).
    pub max_concurrent_streams: u32,
    /// SETTINGS_INITIAL_WINDOW_SIZE we advertise: the most request body a stream may send
    /// ahead of the exchange consuming it.
    pub stream_window: u32,
    /// The connection's receive window: the most request body all streams together may
    /// send ahead of the exchanges consuming it.
    pub connection_window: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE: a request whose header list is larger gets 431.
    pub max_header_list: usize,
    /// The most octets of one compressed header block (HEADERS and its CONTINUATIONs); past
    /// it the connection ends with ENHANCE_YOUR_CALM.
    pub max_header_block: usize,
    /// The most CONTINUATION frames in one header block; past it, ENHANCE_YOUR_CALM.
    pub max_continuations: u32,
    /// Streams the client may reset (or have refused or reset for its faults) beyond those
    /// it lets complete; past it, ENHANCE_YOUR_CALM. Each completed stream earns one back.
    pub reset_budget: u32,
    /// Frames in a row that do no work (SETTINGS, PING, PRIORITY, WINDOW_UPDATE, empty DATA
    /// or CONTINUATION, unknown types, frames on closed streams) before ENHANCE_YOUR_CALM. A
    /// request, request body data, or response data sent resets the count.
    pub idle_frame_budget: u32,
    /// Output octets waiting for the client past which no more input is taken.
    pub output_backlog: usize,
    /// Closed streams remembered, to answer late frames as §5.1 says.
    pub closed_streams_remembered: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_concurrent_streams: 128,
            stream_window: DEFAULT_WINDOW,
            connection_window: 1 << 20,
            max_header_list: crate::http::request::MAX_HEAD,
            max_header_block: 64 * 1024,
            max_continuations: 32,
            reset_budget: 256,
            idle_frame_budget: 1000,
            output_backlog: 64 * 1024,
            closed_streams_remembered: 256,
        }
    }
}

/// What the client's bytes amounted to.
#[derive(Debug)]
pub enum Event<'a> {
    /// A new stream with its request: to answer with `send_headers` (and `send_data`). An
    /// `Err` is a status to answer with (a well-formed HTTP/2 request that HTTP refuses:
    /// unknown method, bad path, header list over the limit...).
    Request {
        stream: StreamId,
        request: Result<Request, u16>,
        /// No body follows.
        end_stream: bool,
    },
    /// Request body octets (possibly none, with `end_stream`). Once consumed, they must be
    /// handed back with [`Connection::release`] so that the client may send more.
    Data {
        stream: StreamId,
        data: &'a [u8],
        end_stream: bool,
    },
    /// The stream is gone before its response ended: the client reset it, or broke a rule
    /// on it (we reset it). Its exchange is to be dropped.
    Reset { stream: StreamId, code: u32 },
    /// The client will open no more streams; those open may finish.
    GoAway { last_stream: StreamId, code: u32 },
    /// The connection failed (a connection error, ours or detected in the client's frames):
    /// every exchange is to be dropped; the output holds the GOAWAY to flush before closing.
    Failed { code: ErrorCode },
}

/// What one call to [`Connection::receive`] did.
#[derive(Debug)]
pub struct Received<'a> {
    /// Input octets used; the rest is to be offered again, with more after it.
    pub consumed: usize,
    pub event: Option<Event<'a>>,
}

/// Where the connection stands, for the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Serving.
    Open,
    /// A GOAWAY went out or came in: the open streams finish, no new ones start.
    Closing,
    /// Nothing more to do: flush the output, then close.
    Done,
}

/// An action on a stream that cannot be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotSendable {
    /// The stream is not open (never was, reset, or the response already ended).
    NoStream,
    /// Headers were already sent (or not yet, for data).
    OutOfOrder,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading the client preface; `matched` octets of it so far.
    Preface {
        matched: usize,
    },
    /// The preface is in; the next frame must be SETTINGS (§3.4).
    FirstSettings,
    Frames,
    /// A connection error was sent: nothing more is read.
    Failed,
}

/// The client's half of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recv {
    /// Body may still come, counted against a declared content-length.
    Open {
        declared: Option<u64>,
        received: u64,
    },
    /// END_STREAM received: half-closed (remote).
    Ended,
}

/// Our half of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Send {
    /// No response headers yet.
    Head,
    /// Headers sent, body may follow.
    Body,
    /// END_STREAM sent: half-closed (local). The exchange is over; the stream stays only
    /// while the client finishes its request body, which is checked and discarded.
    Ended,
}

#[derive(Debug)]
struct Stream {
    id: StreamId,
    recv: Recv,
    send: Send,
    /// What we may still send (may go negative when the client shrinks the initial window).
    send_window: i64,
    /// What the client may still send.
    recv_window: i64,
    /// Body octets handed to the exchange and not yet released.
    held: u64,
    /// Released octets not yet given back with WINDOW_UPDATE.
    unreleased: u32,
}

impl Stream {
    fn exchange_active(&self) -> bool {
        self.send != Send::Ended
    }
}

/// How a remembered stream was closed, which decides the answer to a late frame (§5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closure {
    /// Both sides sent END_STREAM. `answer_end`: where our answer's last octet is in the
    /// output, counted from the connection's start (see [`Connection::output_end`]).
    Ended { answer_end: u64 },
    /// We sent RST_STREAM: frames in flight are ignored.
    ResetByUs,
    /// The client sent RST_STREAM: any frame but PRIORITY is a stream error STREAM_CLOSED.
    ResetByPeer,
}

/// What a header block will be used for, decided when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// A new stream's request.
    Request,
    /// Trailers of an open stream.
    Trailers,
    /// Decoded (the HPACK state must follow), then the stream is reset with this code.
    ResetStream(ErrorCode),
    /// Decoded, then refused with RST_STREAM and this code; no stream is opened.
    Refuse(ErrorCode),
    /// Decoded and dropped (a stream we reset, or one past our GOAWAY).
    Ignore,
}

/// A header block waiting for its CONTINUATION frames.
struct Block {
    stream: StreamId,
    purpose: Purpose,
    end_stream: bool,
    self_dependent: bool,
    fragments: Vec<u8>,
    continuations: u32,
}

/// A connection error, with a reason for the GOAWAY's debug data.
struct Fatal(ErrorCode, &'static str);

type Outcome<'a> = Result<Option<Event<'a>>, Fatal>;

pub struct Connection {
    limits: Limits,
    phase: Phase,
    decoder: Decoder,
    encoder: Encoder,
    /// The largest frame we send: the client's SETTINGS_MAX_FRAME_SIZE, but never more than
    /// 16 KiB (one TLS record; a larger frame would only make the output buffer larger).
    frame_limit: usize,
    /// The client's SETTINGS_INITIAL_WINDOW_SIZE.
    peer_initial_window: i64,
    streams: Vec<Stream>,
    closed: VecDeque<(StreamId, Closure)>,
    /// The highest stream identifier the client has used.
    last_peer_stream: StreamId,
    /// The highest stream handed to the exchange: the GOAWAY's last stream.
    last_processed: StreamId,
    send_window: i64,
    recv_window: i64,
    /// Connection-level credit released, not yet given back.
    unreleased: u32,
    block: Option<Block>,
    /// Our GOAWAY's last stream, once sent: streams above it are ignored.
    goaway_sent: Option<StreamId>,
    goaway_received: bool,
    resets_left: u32,
    idle_frames: u32,
    out: Vec<u8>,
    out_sent: usize,
    /// Output octets written since the connection started.
    written_total: u64,
    /// A header block being encoded.
    scratch: Vec<u8>,
}

impl Connection {
    /// A connection whose server preface (our SETTINGS and the connection window's first
    /// WINDOW_UPDATE) is already in the output.
    pub fn new(limits: Limits) -> Connection {
        let mut connection = Connection {
            limits,
            phase: Phase::Preface { matched: 0 },
            decoder: Decoder::new(super::hpack::ENCODER_TABLE_SIZE),
            encoder: Encoder::new(),
            frame_limit: frame::DEFAULT_MAX_FRAME_SIZE as usize,
            peer_initial_window: i64::from(DEFAULT_WINDOW),
            streams: Vec::new(),
            closed: VecDeque::new(),
            last_peer_stream: 0,
            last_processed: 0,
            send_window: i64::from(DEFAULT_WINDOW),
            recv_window: i64::from(DEFAULT_WINDOW),
            unreleased: 0,
            block: None,
            goaway_sent: None,
            goaway_received: false,
            resets_left: limits.reset_budget,
            idle_frames: 0,
            out: Vec::new(),
            out_sent: 0,
            written_total: 0,
            scratch: Vec::new(),
        };
        frame::write_settings(
            &mut connection.out,
            &[
                (
                    SETTINGS_MAX_CONCURRENT_STREAMS,
                    limits.max_concurrent_streams,
                ),
                (SETTINGS_INITIAL_WINDOW_SIZE, limits.stream_window),
                (SETTINGS_MAX_HEADER_LIST_SIZE, limits.max_header_list as u32),
            ],
        );
        if limits.connection_window > DEFAULT_WINDOW {
            let increment = limits.connection_window - DEFAULT_WINDOW;
            frame::write_window_update(&mut connection.out, 0, increment);
            connection.recv_window += i64::from(increment);
        }
        connection
    }

    // ---- Input.

    /// Takes at most one frame (or the preface) from the start of `input`. `consumed == 0`
    /// with no event: more input is needed, or none is taken now (the output backlog is
    /// full, or the connection is done: see [`Connection::state`]).
    pub fn receive<'a>(&mut self, input: &'a [u8]) -> Received<'a> {
        let nothing = Received {
            consumed: 0,
            event: None,
        };
        if self.pending_output().len() > self.limits.output_backlog {
            return nothing;
        }
        match self.phase {
            Phase::Failed => nothing,
            Phase::Preface { matched } => {
                let want = &PREFACE[matched..];
                let n = want.len().min(input.len());
                if input[..n] != want[..n] {
                    let event = self.fail(Fatal(ErrorCode::ProtocolError, "invalid preface"));
                    return Received {
                        consumed: 0,
                        event: Some(event),
                    };
                }
                self.phase = if matched + n == PREFACE.len() {
                    Phase::FirstSettings
                } else {
                    Phase::Preface {
                        matched: matched + n,
                    }
                };
                Received {
                    consumed: n,
                    event: None,
                }
            }
            Phase::FirstSettings | Phase::Frames => {
                let Some(head_bytes) = input.first_chunk::<{ frame::HEADER_LEN }>() else {
                    return nothing;
                };
                let head = Head::parse(head_bytes);
                // Our SETTINGS_MAX_FRAME_SIZE is the default: anything larger is refused as
                // soon as its header is seen (§4.2), whatever its type.
                if head.length > frame::DEFAULT_MAX_FRAME_SIZE {
                    let event = self.fail(Fatal(ErrorCode::FrameSizeError, "frame too large"));
                    return Received {
                        consumed: 0,
                        event: Some(event),
                    };
                }
                let total = frame::HEADER_LEN + head.length as usize;
                let Some(payload) = input.get(frame::HEADER_LEN..total) else {
                    return nothing;
                };
                let event = match self.frame(head, payload) {
                    Ok(event) => event,
                    Err(fatal) => Some(self.fail(fatal)),
                };
                Received {
                    consumed: total,
                    event,
                }
            }
        }
    }

    fn frame<'a>(&mut self, head: Head, payload: &'a [u8]) -> Outcome<'a> {
        if self.phase == Phase::FirstSettings {
            if head.kind != frame::SETTINGS || head.flags & frame::FLAG_ACK != 0 {
                return Err(Fatal(
                    ErrorCode::ProtocolError,
                    "preface not followed by SETTINGS",
                ));
            }
            self.phase = Phase::Frames;
        }
        // §6.10: while a header block is open, only its CONTINUATION frames may come.
        if let Some(block) = &self.block
            && (head.kind != frame::CONTINUATION || head.stream != block.stream)
        {
            return Err(Fatal(ErrorCode::ProtocolError, "header block interrupted"));
        }
        let frame = match frame::decode(head, payload) {
            Ok(frame) => frame,
            Err(FrameError::Connection(code)) => return Err(Fatal(code, "invalid frame")),
            Err(FrameError::Stream(stream, code)) => {
                self.idle_frame()?;
                return Ok(self.stream_error(stream, code));
            }
        };
        match frame {
            Frame::Data {
                stream,
                data,
                end_stream,
            } => self.data(stream, head.length, data, end_stream),
            Frame::Headers {
                stream,
                fragment,
                end_stream,
                end_headers,
                priority,
            } => {
                let purpose = self.headers_purpose(stream)?;
                let self_dependent = priority.is_some_and(|p| p.dependency == stream);
                if end_headers {
                    return self.header_block(
                        stream,
                        purpose,
                        end_stream,
                        self_dependent,
                        fragment,
                    );
                }
                if fragment.len() > self.limits.max_header_block {
                    return Err(Fatal(ErrorCode::EnhanceYourCalm, "header block too large"));
                }
                if fragment.is_empty() {
                    self.idle_frame()?;
                }
                self.block = Some(Block {
                    stream,
                    purpose,
                    end_stream,
                    self_dependent,
                    fragments: fragment.to_vec(),
                    continuations: 0,
                });
                Ok(None)
            }
            Frame::Continuation {
                stream,
                fragment,
                end_headers,
            } => {
                let Some(block) = &mut self.block else {
                    return Err(Fatal(
                        ErrorCode::ProtocolError,
                        "CONTINUATION without HEADERS",
                    ));
                };
                block.continuations += 1;
                if block.continuations > self.limits.max_continuations
                    || block.fragments.len() + fragment.len() > self.limits.max_header_block
                {
                    return Err(Fatal(ErrorCode::EnhanceYourCalm, "header block too large"));
                }
                block.fragments.extend_from_slice(fragment);
                if fragment.is_empty() && !end_headers {
                    self.idle_frame()?;
                }
                if !end_headers {
                    return Ok(None);
                }
                let Some(block) = self.block.take() else {
                    return Ok(None);
                };
                self.header_block(
                    stream,
                    block.purpose,
                    block.end_stream,
                    block.self_dependent,
                    &block.fragments,
                )
            }
            Frame::Priority { stream, priority } => {
                self.idle_frame()?;
                if priority.dependency == stream {
                    // §5.3.1: "A stream cannot depend on itself."
                    return Ok(self.stream_error(stream, ErrorCode::ProtocolError));
                }
                Ok(None)
            }
            Frame::RstStream { stream, code } => self.rst_stream(stream, code),
            Frame::Settings { ack, params } => {
                self.idle_frame()?;
                if !ack {
                    self.settings(params)?;
                    frame::write_settings_ack(&mut self.out);
                }
                Ok(None)
            }
            Frame::PushPromise { .. } => Err(Fatal(
                ErrorCode::ProtocolError,
                "PUSH_PROMISE from a client",
            )),
            Frame::Ping { ack, payload } => {
                self.idle_frame()?;
                if !ack {
                    frame::write_ping_ack(&mut self.out, payload);
                }
                Ok(None)
            }
            Frame::GoAway {
                last_stream, code, ..
            } => {
                self.goaway_received = true;
                Ok(Some(Event::GoAway { last_stream, code }))
            }
            Frame::WindowUpdate { stream, increment } => {
                self.idle_frame()?;
                self.window_update(stream, increment)
            }
            Frame::Unknown { .. } => {
                self.idle_frame()?;
                Ok(None)
            }
        }
    }

    /// A frame that does no work: counted, and too many in a row end the connection.
    fn idle_frame(&mut self) -> Result<(), Fatal> {
        self.idle_frames += 1;
        if self.idle_frames > self.limits.idle_frame_budget {
            return Err(Fatal(
                ErrorCode::EnhanceYourCalm,
                "too many frames without work",
            ));
        }
        Ok(())
    }

    /// A stream's closure once both sides ended it, with where our answer ends.
    fn ended(&self) -> Closure {
        Closure::Ended {
            answer_end: self.output_end(),
        }
    }

    /// The position of the output's end, counted in octets from the connection's start.
    fn output_end(&self) -> u64 {
        self.written_total + self.pending_output().len() as u64
    }

    /// A stream closed (or refused) by the client's doing: too many, and the connection ends.
    fn spend_reset(&mut self) -> Result<(), Fatal> {
        if self.resets_left == 0 {
            return Err(Fatal(ErrorCode::EnhanceYourCalm, "too many streams reset"));
        }
        self.resets_left -= 1;
        Ok(())
    }

    fn is_idle_stream(&self, stream: StreamId) -> bool {
        stream > self.last_peer_stream
    }

    fn find(&self, stream: StreamId) -> Option<usize> {
        self.streams.iter().position(|s| s.id == stream)
    }

    fn closure(&self, stream: StreamId) -> Option<Closure> {
        self.closed
            .iter()
            .rev()
            .find(|(id, _)| *id == stream)
            .map(|(_, how)| *how)
    }

    fn remember(&mut self, stream: StreamId, how: Closure) {
        if self.closed.len() >= self.limits.closed_streams_remembered {
            self.closed.pop_front();
        }
        self.closed.push_back((stream, how));
    }

    /// Removes a stream; its held body octets go back to the connection window.
    fn close(&mut self, index: usize, how: Closure) -> Stream {
        let stream = self.streams.swap_remove(index);
        self.remember(stream.id, how);
        self.give_back(stream.held);
        if matches!(how, Closure::Ended { .. }) {
            self.resets_left = (self.resets_left + 1).min(self.limits.reset_budget);
        }
        stream
    }

    /// Answers a stream error (§5.4.2): RST_STREAM, and the stream is closed. The exchange is
    /// told if it was still answering.
    fn stream_error<'a>(&mut self, stream: StreamId, code: ErrorCode) -> Option<Event<'a>> {
        frame::write_rst_stream(&mut self.out, stream, code);
        match self.find(stream) {
            Some(index) => {
                let closed = self.close(index, Closure::ResetByUs);
                closed.exchange_active().then_some(Event::Reset {
                    stream,
                    code: code as u32,
                })
            }
            None => {
                if !self.is_idle_stream(stream) && self.closure(stream).is_none() {
                    self.remember(stream, Closure::ResetByUs);
                }
                None
            }
        }
    }

    /// A connection error (§5.4.1): GOAWAY with the last stream handed to the exchange, and
    /// nothing more is read.
    fn fail<'a>(&mut self, Fatal(code, why): Fatal) -> Event<'a> {
        frame::write_goaway(&mut self.out, self.last_processed, code, why.as_bytes());
        self.phase = Phase::Failed;
        self.streams.clear();
        self.block = None;
        Event::Failed { code }
    }

    fn data<'a>(
        &mut self,
        stream: StreamId,
        length: u32,
        data: &'a [u8],
        end_stream: bool,
    ) -> Outcome<'a> {
        if self.is_idle_stream(stream) {
            return Err(Fatal(ErrorCode::ProtocolError, "DATA on an idle stream"));
        }
        // §6.9: the whole payload, padding included, counts against the connection window,
        // whatever becomes of the frame.
        let length = u64::from(length);
        if length as i64 > self.recv_window {
            return Err(Fatal(
                ErrorCode::FlowControlError,
                "connection window exceeded",
            ));
        }
        self.recv_window -= length as i64;
        let Some(index) = self.find(stream) else {
            self.give_back(length);
            return match self.closure(stream) {
                Some(Closure::Ended { .. }) => {
                    Err(Fatal(ErrorCode::StreamClosed, "DATA on a closed stream"))
                }
                Some(Closure::ResetByPeer) => {
                    Ok(self.stream_error(stream, ErrorCode::StreamClosed))
                }
                // Sent before our RST_STREAM reached the client, or too old to tell.
                Some(Closure::ResetByUs) | None => {
                    self.idle_frame()?;
                    Ok(None)
                }
            };
        };
        let s = &mut self.streams[index];
        let Recv::Open { declared, received } = s.recv else {
            self.give_back(length);
            return Ok(self.stream_error(stream, ErrorCode::StreamClosed));
        };
        if length as i64 > s.recv_window {
            self.give_back(length);
            return Ok(self.stream_error(stream, ErrorCode::FlowControlError));
        }
        s.recv_window -= length as i64;
        let received = received + data.len() as u64;
        let length_ok = match declared {
            Some(declared) => received <= declared && (!end_stream || received == declared),
            None => true,
        };
        if !length_ok {
            // §8.1.1: a content-length that is not the sum of the DATA frames.
            self.give_back(length);
            self.spend_reset()?;
            return Ok(self.stream_error(stream, ErrorCode::ProtocolError));
        }
        s.recv = if end_stream {
            Recv::Ended
        } else {
            Recv::Open { declared, received }
        };
        // Padding is flow-controlled but never handed on: given back at once.
        let padding = length - data.len() as u64;
        s.recv_window += padding as i64;
        if s.exchange_active() {
            s.held += data.len() as u64;
            self.give_back(padding);
            if data.is_empty() && !end_stream {
                self.idle_frame()?;
                return Ok(None);
            }
            if !data.is_empty() {
                self.idle_frames = 0;
            }
            return Ok(Some(Event::Data {
                stream,
                data,
                end_stream,
            }));
        }
        // The response is complete: the rest of the request body is checked and dropped.
        self.give_back(length);
        if end_stream {
            self.close(index, self.ended());
        } else if self.streams[index].recv_window <= 0 {
            // The client would wait for window we will never give: tell it to stop (§8.1).
            frame::write_rst_stream(&mut self.out, stream, ErrorCode::NoError);
            self.close(index, Closure::ResetByUs);
        }
        Ok(None)
    }

    /// Decides what a HEADERS frame on `stream` starts (§5.1, §5.1.1, §8.1).
    fn headers_purpose(&mut self, stream: StreamId) -> Result<Purpose, Fatal> {
        if stream.is_multiple_of(2) {
            return Err(Fatal(ErrorCode::ProtocolError, "even stream identifier"));
        }
        if self.is_idle_stream(stream) {
            self.last_peer_stream = stream;
            if self.goaway_sent.is_some_and(|last| stream > last) {
                return Ok(Purpose::Ignore);
            }
            if self.streams.len() >= self.limits.max_concurrent_streams as usize {
                return Ok(Purpose::Refuse(ErrorCode::RefusedStream));
            }
            return Ok(Purpose::Request);
        }
        if let Some(index) = self.find(stream) {
            return Ok(match self.streams[index].recv {
                Recv::Open { .. } => Purpose::Trailers,
                // Half-closed (remote): "MUST respond with a stream error of type
                // STREAM_CLOSED".
                Recv::Ended => Purpose::ResetStream(ErrorCode::StreamClosed),
            });
        }
        match self.closure(stream) {
            Some(Closure::ResetByUs) => Ok(Purpose::Ignore),
            Some(Closure::ResetByPeer) => Ok(Purpose::Refuse(ErrorCode::StreamClosed)),
            Some(Closure::Ended { .. }) => {
                Err(Fatal(ErrorCode::StreamClosed, "HEADERS on a closed stream"))
            }
            // §5.1.1: a new stream must have a larger identifier than every earlier one.
            None => Err(Fatal(ErrorCode::ProtocolError, "stream identifier reused")),
        }
    }

    /// A whole header block: decoded (always, to keep HPACK in step), then used as decided.
    fn header_block<'a>(
        &mut self,
        stream: StreamId,
        purpose: Purpose,
        end_stream: bool,
        self_dependent: bool,
        block: &[u8],
    ) -> Outcome<'a> {
        let compression = |_| Fatal(ErrorCode::CompressionError, "header block not decodable");
        match purpose {
            Purpose::Request => {
                let mut fields = RequestFields::new(self.limits.max_header_list);
                self.decoder
                    .decode(block, |name, value| fields.field(name, value))
                    .map_err(compression)?;
                let declared = fields.content_length();
                let verdict = fields.finish(end_stream);
                let empty_body_mismatch = end_stream && declared.is_some_and(|n| n > 0);
                if self_dependent
                    || matches!(verdict, Err(Rejection::Malformed))
                    || empty_body_mismatch
                {
                    self.spend_reset()?;
                    return Ok(self.stream_error(stream, ErrorCode::ProtocolError));
                }
                let request = verdict.map_err(|rejection| match rejection {
                    Rejection::Status(status) => status,
                    Rejection::Malformed => 400,
                });
                self.streams.push(Stream {
                    id: stream,
                    recv: if end_stream {
                        Recv::Ended
                    } else {
                        Recv::Open {
                            declared,
                            received: 0,
                        }
                    },
                    send: Send::Head,
                    send_window: self.peer_initial_window,
                    recv_window: i64::from(self.limits.stream_window),
                    held: 0,
                    unreleased: 0,
                });
                self.last_processed = stream;
                self.idle_frames = 0;
                Ok(Some(Event::Request {
                    stream,
                    request,
                    end_stream,
                }))
            }
            Purpose::Trailers => {
                let mut valid = true;
                self.decoder
                    .decode(block, |name, value| {
                        valid &= trailer_field_is_valid(name, value);
                    })
                    .map_err(compression)?;
                let Some(index) = self.find(stream) else {
                    return Ok(None);
                };
                let length_ok = match self.streams[index].recv {
                    Recv::Open {
                        declared: Some(declared),
                        received,
                    } => declared == received,
                    _ => true,
                };
                // §8.1: trailers end the stream; without END_STREAM they are malformed.
                if !valid || !end_stream || self_dependent || !length_ok {
                    self.spend_reset()?;
                    return Ok(self.stream_error(stream, ErrorCode::ProtocolError));
                }
                self.streams[index].recv = Recv::Ended;
                if self.streams[index].exchange_active() {
                    return Ok(Some(Event::Data {
                        stream,
                        data: &[],
                        end_stream: true,
                    }));
                }
                self.close(index, self.ended());
                Ok(None)
            }
            Purpose::ResetStream(code) => {
                self.decoder.decode(block, |_, _| {}).map_err(compression)?;
                self.spend_reset()?;
                Ok(self.stream_error(stream, code))
            }
            Purpose::Refuse(code) => {
                self.decoder.decode(block, |_, _| {}).map_err(compression)?;
                self.spend_reset()?;
                frame::write_rst_stream(&mut self.out, stream, code);
                if self.closure(stream).is_none() {
                    self.remember(stream, Closure::ResetByUs);
                }
                Ok(None)
            }
            Purpose::Ignore => {
                self.decoder.decode(block, |_, _| {}).map_err(compression)?;
                self.idle_frame()?;
                Ok(None)
            }
        }
    }

    fn rst_stream<'a>(&mut self, stream: StreamId, code: u32) -> Outcome<'a> {
        if self.is_idle_stream(stream) {
            return Err(Fatal(
                ErrorCode::ProtocolError,
                "RST_STREAM on an idle stream",
            ));
        }
        let Some(index) = self.find(stream) else {
            if let Some(Closure::Ended { answer_end }) = self.closure(stream)
                && answer_end > self.written_total
            {
                // A small answer is complete before the next frame is read, so a stream
                // opened and reset at once may be closed already: if the client cancelled it
                // before it could read the answer, that is still a reset (CVE-2023-44487),
                // and the completion's credit is taken back.
                self.resets_left = self.resets_left.saturating_sub(1);
                self.spend_reset()?;
                return Ok(None);
            }
            self.idle_frame()?;
            return Ok(None);
        };
        let closed = self.close(index, Closure::ResetByPeer);
        if !closed.exchange_active() {
            return Ok(None);
        }
        // CVE-2023-44487: a stream started and cancelled costs us more than the client.
        self.spend_reset()?;
        Ok(Some(Event::Reset { stream, code }))
    }

    fn settings(&mut self, params: &[u8]) -> Result<(), Fatal> {
        for setting in frame::settings(params) {
            match setting.map_err(|code| Fatal(code, "invalid setting"))? {
                Setting::HeaderTableSize(size) => self.encoder.set_peer_limit(size),
                Setting::InitialWindowSize(size) => {
                    // §6.9.2: every stream's window moves by the difference, and may go
                    // negative; past the maximum it is a connection error.
                    let delta = i64::from(size) - self.peer_initial_window;
                    self.peer_initial_window = i64::from(size);
                    for stream in &mut self.streams {
                        stream.send_window += delta;
                        if stream.send_window > i64::from(frame::MAX_WINDOW) {
                            return Err(Fatal(ErrorCode::FlowControlError, "window overflow"));
                        }
                    }
                }
                Setting::MaxFrameSize(size) => {
                    self.frame_limit = size.min(frame::DEFAULT_MAX_FRAME_SIZE) as usize
                }
                // We never push, never open streams, and the header list size is advisory.
                Setting::EnablePush(_)
                | Setting::MaxConcurrentStreams(_)
                | Setting::MaxHeaderListSize(_)
                | Setting::EnableConnectProtocol(_)
                | Setting::NoRfc7540Priorities(_)
                | Setting::Unknown => {}
            }
        }
        Ok(())
    }

    fn window_update<'a>(&mut self, stream: StreamId, increment: u32) -> Outcome<'a> {
        if stream == 0 {
            if increment == 0 {
                return Err(Fatal(ErrorCode::ProtocolError, "zero window increment"));
            }
            self.send_window += i64::from(increment);
            if self.send_window > i64::from(frame::MAX_WINDOW) {
                return Err(Fatal(ErrorCode::FlowControlError, "window overflow"));
            }
            return Ok(None);
        }
        if self.is_idle_stream(stream) {
            return Err(Fatal(
                ErrorCode::ProtocolError,
                "WINDOW_UPDATE on an idle stream",
            ));
        }
        let Some(index) = self.find(stream) else {
            // A closed stream: the client may not have seen the end yet (§5.1).
            return Ok(None);
        };
        if increment == 0 {
            return Ok(self.stream_error(stream, ErrorCode::ProtocolError));
        }
        let s = &mut self.streams[index];
        s.send_window += i64::from(increment);
        if s.send_window > i64::from(frame::MAX_WINDOW) {
            return Ok(self.stream_error(stream, ErrorCode::FlowControlError));
        }
        Ok(None)
    }

    /// Connection-level credit back to the client, in WINDOW_UPDATEs of at least half the
    /// window (one per octet would be a frame per frame).
    fn give_back(&mut self, octets: u64) {
        if self.phase == Phase::Failed || octets == 0 {
            return;
        }
        self.unreleased = self
            .unreleased
            .saturating_add(octets.min(u64::from(u32::MAX)) as u32);
        let target = i64::from(self.limits.connection_window);
        if self.unreleased as i64 >= target / 2 || self.recv_window <= 0 {
            let increment = self
                .unreleased
                .min((target - self.recv_window).max(0) as u32);
            if increment > 0 {
                frame::write_window_update(&mut self.out, 0, increment);
                self.recv_window += i64::from(increment);
            }
            self.unreleased = 0;
        }
    }

    // ---- Actions of the exchange.

    /// The exchange consumed `octets` of the stream's request body: the client may send that
    /// much more (WINDOW_UPDATEs go out once half a window is due).
    pub fn release(&mut self, stream: StreamId, octets: usize) {
        let octets = octets as u64;
        let Some(index) = self.find(stream) else {
            // Closed: its held octets went back then.
            return;
        };
        let s = &mut self.streams[index];
        let octets = octets.min(s.held);
        s.held -= octets;
        if let Recv::Open { .. } = s.recv {
            s.unreleased = s
                .unreleased
                .saturating_add(octets.min(u64::from(u32::MAX)) as u32);
            let target = i64::from(self.limits.stream_window);
            if i64::from(s.unreleased) >= target / 2 {
                let increment = s.unreleased;
                s.unreleased = 0;
                s.recv_window += i64::from(increment);
                frame::write_window_update(&mut self.out, stream, increment);
            }
        }
        self.give_back(octets);
    }

    fn sendable(&self, stream: StreamId) -> Result<usize, NotSendable> {
        let index = self.find(stream).ok_or(NotSendable::NoStream)?;
        if self.phase == Phase::Failed || !self.streams[index].exchange_active() {
            return Err(NotSendable::NoStream);
        }
        Ok(index)
    }

    /// Sends the response head. `fields` are HTTP/1-style names (any case; connection-specific
    /// fields are dropped, as §8.2.2 forbids them).
    pub fn send_headers<N, V>(
        &mut self,
        stream: StreamId,
        status: u16,
        fields: impl IntoIterator<Item = (N, V)>,
        end_stream: bool,
    ) -> Result<(), NotSendable>
    where
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let index = self.sendable(stream)?;
        if self.streams[index].send != Send::Head {
            return Err(NotSendable::OutOfOrder);
        }
        let mut block = std::mem::take(&mut self.scratch);
        block.clear();
        self.encoder.begin_block(&mut block);
        self.encoder.encode_status(status, &mut block);
        // Field names in lower case (§8.2): on the stack for the usual lengths, no allocation.
        let mut short = [0u8; 64];
        let mut long = Vec::new();
        for (name, value) in fields {
            let name = name.as_ref();
            if let Some(known) = known_name(name) {
                // A name the server sends often: its policy and static index at once.
                self.encoder.encode_in(
                    known.lower,
                    known.range,
                    value.as_ref(),
                    known.indexing,
                    &mut block,
                );
                continue;
            }
            let name: &[u8] = if !name.iter().any(u8::is_ascii_uppercase) {
                name
            } else if let Some(buf) = short.get_mut(..name.len()) {
                buf.copy_from_slice(name);
                buf.make_ascii_lowercase();
                buf
            } else {
                long.clear();
                long.extend_from_slice(name);
                long.make_ascii_lowercase();
                &long
            };
            if name.starts_with(b":")
                || [
                    &b"connection"[..],
                    b"keep-alive",
                    b"proxy-connection",
                    b"transfer-encoding",
                    b"upgrade",
                ]
                .contains(&name)
            {
                continue;
            }
            self.encoder
                .encode(name, value.as_ref(), indexing_of(name), &mut block);
        }
        frame::write_header_block(&mut self.out, stream, &block, end_stream, self.frame_limit);
        self.scratch = block;
        self.streams[index].send = Send::Body;
        self.idle_frames = 0;
        if end_stream {
            self.end_of_response(index);
        }
        Ok(())
    }

    /// How many body octets the stream may send now: within both send windows, one frame,
    /// and nothing while the output backlog is full.
    pub fn send_capacity(&self, stream: StreamId) -> usize {
        let Ok(index) = self.sendable(stream) else {
            return 0;
        };
        if self.pending_output().len() >= self.limits.output_backlog {
            return 0;
        }
        let window = self.streams[index].send_window.min(self.send_window);
        window.clamp(0, self.frame_limit as i64) as usize
    }

    /// Sends as much of `data` as the windows allow (see [`Connection::send_capacity`]), with
    /// END_STREAM if `end_stream` and all of it went. Returns the octets sent.
    pub fn send_data(
        &mut self,
        stream: StreamId,
        data: &[u8],
        end_stream: bool,
    ) -> Result<usize, NotSendable> {
        if data.is_empty() {
            if end_stream {
                self.end_stream(stream)?;
            }
            return Ok(0);
        }
        // END_STREAM goes with the frame that reaches `remaining`: one past the data when the
        // body goes on, so that it never does.
        let remaining = data.len() as u64 + u64::from(!end_stream);
        self.send_bytes(stream, remaining, data)
    }

    /// Sends one DATA frame of the first octets of `data` (as many as the windows allow, up to
    /// `remaining`), appended to the output as they are: no zeroed frame to copy them into.
    /// END_STREAM goes with the frame that reaches `remaining`. Returns the octets sent.
    pub fn send_bytes(
        &mut self,
        stream: StreamId,
        remaining: u64,
        data: &[u8],
    ) -> Result<usize, NotSendable> {
        let Ok(sent) = self.send_data_in(stream, remaining, |out, length| {
            let n = length.min(data.len());
            out.extend_from_slice(&data[..n]);
            Ok::<usize, std::convert::Infallible>(n)
        })?;
        Ok(sent)
    }

    /// Sends one DATA frame of up to `remaining` octets, its payload written in place by
    /// `fill` (for example read from a file straight into the output); END_STREAM goes with
    /// the frame that reaches `remaining`. Returns the octets sent (0 when the windows are
    /// shut), or `fill`'s error, in which case nothing is sent.
    pub fn send_data_with<E>(
        &mut self,
        stream: StreamId,
        remaining: u64,
        fill: impl FnOnce(&mut [u8]) -> Result<usize, E>,
    ) -> Result<Result<usize, E>, NotSendable> {
        self.send_data_in(stream, remaining, |out, length| {
            let start = out.len();
            out.resize(start + length, 0);
            match fill(&mut out[start..]) {
                Ok(n) => {
                    let n = n.min(length);
                    out.truncate(start + n);
                    Ok(n)
                }
                Err(error) => Err(error),
            }
        })
    }

    /// One DATA frame whose payload `append` adds to the output: at most the length it is
    /// given, and the count of octets it added (on an error, what it added is taken back).
    fn send_data_in<E>(
        &mut self,
        stream: StreamId,
        remaining: u64,
        append: impl FnOnce(&mut Vec<u8>, usize) -> Result<usize, E>,
    ) -> Result<Result<usize, E>, NotSendable> {
        let index = self.sendable(stream)?;
        if self.streams[index].send != Send::Body {
            return Err(NotSendable::OutOfOrder);
        }
        if remaining == 0 {
            return Ok(Ok(0));
        }
        let length = (self.send_capacity(stream) as u64).min(remaining) as usize;
        if length == 0 {
            return Ok(Ok(0));
        }
        let start = self.out.len();
        self.out.resize(start + frame::HEADER_LEN, 0);
        let n = match append(&mut self.out, length) {
            Ok(n) => n,
            Err(error) => {
                self.out.truncate(start);
                return Ok(Err(error));
            }
        };
        if n == 0 {
            self.out.truncate(start);
            return Ok(Ok(0));
        }
        let end_stream = n as u64 == remaining;
        self.out[start..start + frame::HEADER_LEN]
            .copy_from_slice(&frame::data_head(stream, n, end_stream));
        let s = &mut self.streams[index];
        s.send_window -= n as i64;
        self.send_window -= n as i64;
        self.idle_frames = 0;
        if end_stream {
            self.end_of_response(index);
        }
        Ok(Ok(n))
    }

    /// Ends the response with an empty DATA frame (when the body's end was not known with
    /// its last octets).
    pub fn end_stream(&mut self, stream: StreamId) -> Result<(), NotSendable> {
        let index = self.sendable(stream)?;
        if self.streams[index].send != Send::Body {
            return Err(NotSendable::OutOfOrder);
        }
        frame::write_data_head(&mut self.out, stream, 0, true);
        self.end_of_response(index);
        Ok(())
    }

    /// Our END_STREAM went out: the stream closes, or waits for the rest of the request body.
    fn end_of_response(&mut self, index: usize) {
        let s = &mut self.streams[index];
        s.send = Send::Ended;
        match s.recv {
            Recv::Ended => {
                self.close(index, self.ended());
            }
            Recv::Open { .. } => {
                // Body octets the exchange will not consume go back now.
                let held = std::mem::take(&mut s.held);
                let stream = s.id;
                let shut = s.recv_window <= 0;
                self.give_back(held);
                if shut {
                    frame::write_rst_stream(&mut self.out, stream, ErrorCode::NoError);
                    self.close(index, Closure::ResetByUs);
                }
            }
        }
    }

    /// The exchange gives up on a stream (its producer failed): RST_STREAM with `code`.
    pub fn reset(&mut self, stream: StreamId, code: ErrorCode) {
        if let Some(index) = self.find(stream)
            && self.phase != Phase::Failed
        {
            frame::write_rst_stream(&mut self.out, stream, code);
            self.close(index, Closure::ResetByUs);
        }
    }

    /// A graceful shutdown (§6.8): GOAWAY with the last stream handed to the exchange; open
    /// streams finish, later ones are ignored. Calling it again does nothing.
    pub fn goaway(&mut self) {
        if self.goaway_sent.is_some() || self.phase == Phase::Failed {
            return;
        }
        // A client still sending its preface has opened nothing.
        frame::write_goaway(&mut self.out, self.last_processed, ErrorCode::NoError, b"");
        self.goaway_sent = Some(self.last_processed);
    }

    // ---- State and output.

    /// A client's GOAWAY does not end the connection: the client closes it when it is done
    /// (it may still send PING, SETTINGS, WINDOW_UPDATE), or the idle timeout does.
    pub fn state(&self) -> State {
        let active = self.streams.iter().any(Stream::exchange_active);
        match self.phase {
            Phase::Failed => State::Done,
            _ if self.goaway_sent.is_some() && !active => State::Done,
            _ if self.goaway_sent.is_some() || self.goaway_received => State::Closing,
            _ => State::Open,
        }
    }

    /// No exchange is running: the connection may be closed for idleness.
    pub fn is_idle(&self) -> bool {
        self.block.is_none() && !self.streams.iter().any(Stream::exchange_active)
    }

    /// Whether input may be taken now (the output backlog is below its limit and the
    /// connection has not failed).
    pub fn wants_input(&self) -> bool {
        self.phase != Phase::Failed && self.pending_output().len() <= self.limits.output_backlog
    }

    /// Octets waiting to be written to the client.
    pub fn pending_output(&self) -> &[u8] {
        &self.out[self.out_sent..]
    }

    /// `n` octets of [`Connection::pending_output`] were written.
    pub fn written(&mut self, n: usize) {
        let n = n.min(self.out.len() - self.out_sent);
        self.written_total += n as u64;
        self.out_sent += n;
        if self.out_sent == self.out.len() {
            self.out.clear();
            self.out_sent = 0;
        } else if self.out_sent >= self.limits.output_backlog {
            self.out.drain(..self.out_sent);
            self.out_sent = 0;
        }
    }

    /// Frees the buffers an idle connection does not need (its output buffer and header
    /// scratch), so that an idle connection costs little memory.
    pub fn shrink(&mut self) {
        if self.pending_output().is_empty() {
            self.out = Vec::new();
            self.out_sent = 0;
        }
        self.scratch = Vec::new();
    }

    /// Open streams (for tests and the status page).
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }
}

/// A response field name the server sends often: in lower case, with its static-table range
/// and its indexing (what [`indexing_of`] and `static_range` say of it: a test checks).
#[derive(Debug, PartialEq, Eq)]
struct KnownName {
    lower: &'static [u8],
    range: Option<(usize, usize)>,
    indexing: Indexing,
}

const fn known(lower: &'static [u8], index: usize, indexing: Indexing) -> KnownName {
    KnownName {
        lower,
        range: Some((index, index)),
        indexing,
    }
}

const SERVER: KnownName = known(b"server", 54, Indexing::Index);
const DATE: KnownName = known(b"date", 33, Indexing::NoIndex);
const CONTENT_TYPE: KnownName = known(b"content-type", 31, Indexing::Index);
const LAST_MODIFIED: KnownName = known(b"last-modified", 44, Indexing::NoIndex);
const ETAG: KnownName = known(b"etag", 34, Indexing::NoIndex);
const ACCEPT_RANGES: KnownName = known(b"accept-ranges", 18, Indexing::Index);
const CONTENT_LENGTH: KnownName = known(b"content-length", 28, Indexing::NoIndex);
const LOCATION: KnownName = known(b"location", 46, Indexing::NoIndex);
const CACHE_CONTROL: KnownName = known(b"cache-control", 24, Indexing::Index);
const EXPIRES: KnownName = known(b"expires", 36, Indexing::Index);
const VARY: KnownName = known(b"vary", 59, Indexing::Index);
const CONTENT_ENCODING: KnownName = known(b"content-encoding", 26, Indexing::Index);
const CONTENT_RANGE: KnownName = known(b"content-range", 30, Indexing::NoIndex);
const ALLOW: KnownName = known(b"allow", 22, Indexing::Index);
const SET_COOKIE: KnownName = known(b"set-cookie", 55, Indexing::Never);

/// The known names, for the test that checks them against the general policy.
#[cfg(test)]
const KNOWN_NAMES: [&KnownName; 15] = [
    &SERVER,
    &DATE,
    &CONTENT_TYPE,
    &LAST_MODIFIED,
    &ETAG,
    &ACCEPT_RANGES,
    &CONTENT_LENGTH,
    &LOCATION,
    &CACHE_CONTROL,
    &EXPIRES,
    &VARY,
    &CONTENT_ENCODING,
    &CONTENT_RANGE,
    &ALLOW,
    &SET_COOKIE,
];

/// The entry for `name` when it is spelt as the server's handlers spell it (`Content-Type`) or
/// in lower case: whole-name comparisons with constants, no octet-by-octet case folding.
/// Other spellings take the general path, which gives the same encoding.
fn known_name(name: &[u8]) -> Option<&'static KnownName> {
    Some(match name {
        b"server" | b"Server" => &SERVER,
        b"date" | b"Date" => &DATE,
        b"Content-Type" | b"content-type" => &CONTENT_TYPE,
        b"Last-Modified" | b"last-modified" => &LAST_MODIFIED,
        b"ETag" | b"etag" => &ETAG,
        b"Accept-Ranges" | b"accept-ranges" => &ACCEPT_RANGES,
        b"content-length" | b"Content-Length" => &CONTENT_LENGTH,
        b"Location" | b"location" => &LOCATION,
        b"Cache-Control" | b"cache-control" => &CACHE_CONTROL,
        b"Expires" | b"expires" => &EXPIRES,
        b"Vary" | b"vary" => &VARY,
        b"Content-Encoding" | b"content-encoding" => &CONTENT_ENCODING,
        b"Content-Range" | b"content-range" => &CONTENT_RANGE,
        b"Allow" | b"allow" => &ALLOW,
        b"Set-Cookie" | b"set-cookie" => &SET_COOKIE,
        _ => return None,
    })
}

/// The encoder's indexing policy for a response field: values that change from response to
/// response are not worth a table entry, credentials are never indexed (RFC 7541 §7.1.3).
/// `date` changes every second: indexed, it would add an entry a second, pushing the fields
/// that do repeat (server, content-type) down the table, so that every search for them walks
/// past stale dates (a minute's worth fills the 4 KiB table); sent raw it costs 30 octets.
fn indexing_of(name: &[u8]) -> Indexing {
    match name {
        b"set-cookie" | b"authorization" | b"proxy-authenticate" | b"www-authenticate" => {
            Indexing::Never
        }
        b"content-length" | b"etag" | b"last-modified" | b"content-range" | b"location"
        | b"age" | b"date" => Indexing::NoIndex,
        _ => Indexing::Index,
    }
}

#[cfg(test)]
mod tests;
