//! The connection driven by a scripted client: exact frame sequences in, the frames and events
//! that must come out, section by section of RFC 9113; the hardening limits; and every input
//! fed again split at every offset.

use super::*;
use crate::http2::hpack::{Decoder, Encoder, Indexing};
use proptest::prelude::*;

/// An event with everything owned, to compare runs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Request {
        stream: StreamId,
        request: Result<(String, String), u16>,
        end_stream: bool,
    },
    Data {
        stream: StreamId,
        data: Vec<u8>,
        end_stream: bool,
    },
    Reset {
        stream: StreamId,
        code: u32,
    },
    GoAway {
        last_stream: StreamId,
        code: u32,
    },
    Failed {
        code: ErrorCode,
    },
}

fn own(event: Event<'_>) -> Seen {
    match event {
        Event::Request {
            stream,
            request,
            end_stream,
        } => Seen::Request {
            stream,
            request: request.map(|r| (r.method.as_str().to_string(), r.target)),
            end_stream,
        },
        Event::Data {
            stream,
            data,
            end_stream,
        } => Seen::Data {
            stream,
            data: data.to_vec(),
            end_stream,
        },
        Event::Reset { stream, code } => Seen::Reset { stream, code },
        Event::GoAway { last_stream, code } => Seen::GoAway { last_stream, code },
        Event::Failed { code } => Seen::Failed { code },
    }
}

/// A frame the server sent.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Out {
    kind: u8,
    flags: u8,
    stream: u32,
    payload: Vec<u8>,
}

impl Out {
    fn code(&self) -> u32 {
        match self.kind {
            frame::RST_STREAM => u32::from_be_bytes(self.payload[..4].try_into().unwrap()),
            frame::GOAWAY => u32::from_be_bytes(self.payload[4..8].try_into().unwrap()),
            _ => panic!("no error code in {self:?}"),
        }
    }
}

/// The client side of a test: builds frames, feeds the server, reads what it sent.
struct Client {
    server: Connection,
    encoder: Encoder,
    decoder: Decoder,
    /// Input offered but not taken yet.
    pending: Vec<u8>,
    events: Vec<Seen>,
}

const GET: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":authority", "example.com"),
    (":path", "/"),
];

fn post(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut fields = GET.to_vec();
    fields[0].1 = "POST";
    fields.extend_from_slice(extra);
    fields
}

fn raw(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Head {
        length: payload.len() as u32,
        kind,
        flags,
        stream,
    }
    .write(&mut out);
    out.extend_from_slice(payload);
    out
}

fn settings(list: &[(u16, u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    frame::write_settings(&mut out, list);
    out
}

fn data(stream: u32, bytes: &[u8], end: bool) -> Vec<u8> {
    raw(
        frame::DATA,
        if end { frame::FLAG_END_STREAM } else { 0 },
        stream,
        bytes,
    )
}

fn window_update(stream: u32, increment: u32) -> Vec<u8> {
    raw(frame::WINDOW_UPDATE, 0, stream, &increment.to_be_bytes())
}

fn rst(stream: u32, code: u32) -> Vec<u8> {
    raw(frame::RST_STREAM, 0, stream, &code.to_be_bytes())
}

fn ping(payload: [u8; 8]) -> Vec<u8> {
    raw(frame::PING, 0, 0, &payload)
}

impl Client {
    fn new() -> Client {
        Client::with(Limits::default())
    }

    fn with(limits: Limits) -> Client {
        Client {
            server: Connection::new(limits),
            encoder: Encoder::new(),
            decoder: Decoder::new(4096),
            pending: Vec::new(),
            events: Vec::new(),
        }
    }

    /// A client past the preface, its SETTINGS acknowledged, the server's output read.
    fn ready() -> Client {
        let mut client = Client::new();
        client.handshake();
        client
    }

    fn handshake(&mut self) {
        let mut bytes = PREFACE.to_vec();
        bytes.extend(settings(&[]));
        self.send(&bytes);
        let frames = self.read();
        assert_eq!(frames[0].kind, frame::SETTINGS);
        assert!(
            frames
                .iter()
                .any(|f| f.kind == frame::SETTINGS && f.flags == frame::FLAG_ACK)
        );
        self.events.clear();
    }

    fn block(&mut self, fields: &[(&str, &str)]) -> Vec<u8> {
        let mut block = Vec::new();
        self.encoder.begin_block(&mut block);
        for (name, value) in fields {
            self.encoder.encode(
                name.as_bytes(),
                value.as_bytes(),
                Indexing::Index,
                &mut block,
            );
        }
        block
    }

    fn headers(&mut self, stream: u32, fields: &[(&str, &str)], end_stream: bool) -> Vec<u8> {
        let block = self.block(fields);
        let mut flags = frame::FLAG_END_HEADERS;
        if end_stream {
            flags |= frame::FLAG_END_STREAM;
        }
        raw(frame::HEADERS, flags, stream, &block)
    }

    /// Offers bytes to the server, taking every event.
    fn send(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        self.pump();
    }

    fn pump(&mut self) {
        loop {
            let received = self.server.receive(&self.pending);
            let consumed = received.consumed;
            let stop = consumed == 0 && received.event.is_none();
            if let Some(event) = received.event {
                self.events.push(own(event));
            }
            self.pending.drain(..consumed);
            if stop {
                break;
            }
        }
    }

    /// Every frame the server has written, marked as read.
    fn read(&mut self) -> Vec<Out> {
        let bytes = self.server.pending_output().to_vec();
        self.server.written(bytes.len());
        let mut frames = Vec::new();
        let mut pos = 0;
        while pos < bytes.len() {
            let head = Head::parse(bytes[pos..pos + 9].try_into().unwrap());
            let payload = bytes[pos + 9..pos + 9 + head.length as usize].to_vec();
            pos += 9 + head.length as usize;
            frames.push(Out {
                kind: head.kind,
                flags: head.flags,
                stream: head.stream,
                payload,
            });
        }
        frames
    }

    fn take_events(&mut self) -> Vec<Seen> {
        std::mem::take(&mut self.events)
    }

    /// The one error frame the server sent (RST_STREAM or GOAWAY), as (kind, stream, code).
    fn error(&mut self) -> (u8, u32, ErrorCode) {
        let frames = self.read();
        let errors: Vec<_> = frames
            .iter()
            .filter(|f| f.kind == frame::RST_STREAM || f.kind == frame::GOAWAY)
            .collect();
        assert_eq!(errors.len(), 1, "one error frame expected: {frames:?}");
        let f = errors[0];
        let stream = if f.kind == frame::GOAWAY { 0 } else { f.stream };
        (f.kind, stream, code_of(f.code()))
    }

    fn connection_error(&mut self) -> ErrorCode {
        let (kind, _, code) = self.error();
        assert_eq!(kind, frame::GOAWAY, "a connection error expected");
        assert_eq!(self.server.state(), State::Done);
        code
    }

    fn stream_error(&mut self) -> (u32, ErrorCode) {
        let (kind, stream, code) = self.error();
        assert_eq!(kind, frame::RST_STREAM, "a stream error expected");
        assert_ne!(self.server.state(), State::Done);
        (stream, code)
    }

    /// Decodes a HEADERS frame's block sent by the server.
    fn response_fields(&mut self, frame: &Out) -> Vec<(String, String)> {
        let mut fields = Vec::new();
        self.decoder
            .decode(&frame.payload, |n, v| {
                fields.push((
                    String::from_utf8(n.to_vec()).unwrap(),
                    String::from_utf8(v.to_vec()).unwrap(),
                ))
            })
            .unwrap();
        fields
    }
}

fn code_of(code: u32) -> ErrorCode {
    use ErrorCode::*;
    [
        NoError,
        ProtocolError,
        InternalError,
        FlowControlError,
        SettingsTimeout,
        StreamClosed,
        FrameSizeError,
        RefusedStream,
        Cancel,
        CompressionError,
        ConnectError,
        EnhanceYourCalm,
        InadequateSecurity,
        Http11Required,
    ][code as usize]
}

// ---- §3.4 The connection preface.

#[test]
fn the_server_preface_is_settings_then_the_connection_window() {
    let mut client = Client::new();
    let frames = client.read();
    assert_eq!(frames[0].kind, frame::SETTINGS);
    assert_eq!(frames[0].flags, 0);
    let list: Vec<(u16, u32)> = frames[0]
        .payload
        .chunks(6)
        .map(|c| {
            (
                u16::from_be_bytes([c[0], c[1]]),
                u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
            )
        })
        .collect();
    assert!(list.contains(&(0x3, 128)));
    assert!(list.contains(&(0x6, 32 * 1024)));
    assert_eq!(frames[1].kind, frame::WINDOW_UPDATE);
    assert_eq!(frames[1].stream, 0);
}

#[test]
fn a_client_settings_frame_is_acknowledged() {
    let mut client = Client::ready();
    client.send(&settings(&[(0x2, 0)]));
    let frames = client.read();
    assert_eq!(frames.len(), 1);
    assert_eq!(
        (frames[0].kind, frames[0].flags),
        (frame::SETTINGS, frame::FLAG_ACK)
    );
    assert!(frames[0].payload.is_empty());
}

#[test]
fn an_invalid_preface_is_a_protocol_error() {
    let mut client = Client::new();
    client.read();
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(client.connection_error(), ErrorCode::ProtocolError);
    assert_eq!(
        client.take_events(),
        [Seen::Failed {
            code: ErrorCode::ProtocolError
        }]
    );
}

#[test]
fn a_first_frame_other_than_settings_is_a_protocol_error() {
    let mut client = Client::new();
    client.read();
    let mut bytes = PREFACE.to_vec();
    bytes.extend(ping([0; 8]));
    client.send(&bytes);
    assert_eq!(client.connection_error(), ErrorCode::ProtocolError);
}

// ---- §4 Frames.

#[test]
fn unknown_frame_types_unknown_flags_and_the_reserved_bit_are_ignored() {
    let mut client = Client::ready();
    client.send(&raw(0x42, 0xff, 0, b"extension"));
    client.send(&raw(frame::PING, 0xfe, 0x8000_0000, &[7; 8]));
    let frames = client.read();
    assert_eq!(frames.len(), 1);
    assert_eq!(
        (frames[0].kind, frames[0].flags),
        (frame::PING, frame::FLAG_ACK)
    );
    assert_eq!(frames[0].payload, [7; 8]);
}

#[test]
fn a_frame_larger_than_our_max_frame_size_is_a_frame_size_error_as_soon_as_its_header_is_seen() {
    let mut client = Client::ready();
    let mut head = Vec::new();
    Head {
        length: 16_385,
        kind: frame::DATA,
        flags: 0,
        stream: 1,
    }
    .write(&mut head);
    client.send(&head);
    assert_eq!(client.connection_error(), ErrorCode::FrameSizeError);
}

#[test]
fn a_data_frame_of_exactly_the_max_frame_size_is_accepted() {
    let mut client = Client::ready();
    let h = client.headers(1, &post(&[]), false);
    client.send(&h);
    client.send(&data(1, &[b'x'; 16_384], true));
    let events = client.take_events();
    assert!(
        matches!(&events[1], Seen::Data { data, end_stream: true, .. } if data.len() == 16_384)
    );
}

#[test]
fn an_undecodable_header_block_is_a_compression_error() {
    let mut client = Client::ready();
    client.send(&raw(frame::HEADERS, frame::FLAG_END_HEADERS, 1, &[0x80]));
    assert_eq!(client.connection_error(), ErrorCode::CompressionError);
}

#[test]
fn any_frame_but_continuation_of_the_same_stream_inside_a_header_block_is_a_protocol_error() {
    let interruptions = [
        raw(frame::PRIORITY, 0, 1, &[0, 0, 0, 3, 16]),
        raw(frame::HEADERS, frame::FLAG_END_HEADERS, 3, &[0x82]),
        raw(frame::CONTINUATION, frame::FLAG_END_HEADERS, 3, &[0x82]),
        ping([0; 8]),
        data(1, b"x", false),
        raw(0x42, 0, 1, b"extension"),
    ];
    for interruption in interruptions {
        let mut client = Client::ready();
        let block = client.block(GET);
        client.send(&raw(frame::HEADERS, 0, 1, &block[..2]));
        client.send(&interruption);
        assert_eq!(
            client.connection_error(),
            ErrorCode::ProtocolError,
            "{interruption:?}"
        );
    }
}

// ---- §5.1 Stream states.

#[test]
fn frames_on_an_idle_stream_are_protocol_errors() {
    let frames = [
        data(1, b"x", true),
        rst(1, 8),
        window_update(1, 100),
        raw(frame::CONTINUATION, frame::FLAG_END_HEADERS, 1, &[0x82]),
    ];
    for f in frames {
        let mut client = Client::ready();
        client.send(&f);
        assert_eq!(client.connection_error(), ErrorCode::ProtocolError, "{f:?}");
    }
}

#[test]
fn priority_on_an_idle_stream_is_accepted_and_opens_nothing() {
    let mut client = Client::ready();
    client.send(&raw(frame::PRIORITY, 0, 5, &[0, 0, 0, 0, 16]));
    assert!(client.read().is_empty());
    let h = client.headers(1, GET, true);
    client.send(&h);
    assert!(matches!(
        client.take_events()[..],
        [Seen::Request { stream: 1, .. }]
    ));
}

#[test]
fn data_or_headers_on_a_half_closed_remote_stream_is_a_stream_error_stream_closed() {
    for second in ["data", "headers"] {
        let mut client = Client::ready();
        let h = client.headers(1, GET, true);
        client.send(&h);
        let f = if second == "data" {
            data(1, b"x", true)
        } else {
            client.headers(1, GET, true)
        };
        client.send(&f);
        assert_eq!(
            client.stream_error(),
            (1, ErrorCode::StreamClosed),
            "{second}"
        );
        let events = client.take_events();
        assert_eq!(
            events[1],
            Seen::Reset {
                stream: 1,
                code: ErrorCode::StreamClosed as u32
            }
        );
    }
}

#[test]
fn frames_after_the_client_reset_a_stream_are_stream_errors_stream_closed() {
    for second in ["data", "headers"] {
        let mut client = Client::ready();
        let h = client.headers(1, GET, false);
        client.send(&h);
        client.send(&rst(1, ErrorCode::Cancel as u32));
        let f = if second == "data" {
            data(1, b"x", true)
        } else {
            client.headers(1, GET, true)
        };
        client.send(&f);
        assert_eq!(
            client.stream_error(),
            (1, ErrorCode::StreamClosed),
            "{second}"
        );
        assert_eq!(client.take_events()[1], Seen::Reset { stream: 1, code: 8 });
    }
}

#[test]
fn data_or_headers_on_a_stream_closed_by_both_ends_is_a_connection_error_stream_closed() {
    for second in ["data", "headers"] {
        let mut client = Client::ready();
        let h = client.headers(1, GET, true);
        client.send(&h);
        client
            .server
            .send_headers(1, 200, [("content-length", "0")], true)
            .unwrap();
        client.read();
        let f = if second == "data" {
            data(1, b"x", true)
        } else {
            client.headers(1, GET, true)
        };
        client.send(&f);
        assert_eq!(
            client.connection_error(),
            ErrorCode::StreamClosed,
            "{second}"
        );
    }
}

#[test]
fn frames_after_our_reset_are_ignored_but_their_header_blocks_still_update_hpack() {
    let mut client = Client::ready();
    let h = client.headers(1, &post(&[]), false);
    client.send(&h);
    client.server.reset(1, ErrorCode::InternalError);
    assert_eq!(client.stream_error(), (1, ErrorCode::InternalError));
    client.send(&data(1, b"in flight", false));
    // Trailers in flight that add an entry to the client's table...
    let trailers = client.headers(1, &[("x-late", "value")], true);
    client.send(&trailers);
    assert!(client.read().iter().all(|f| f.kind == frame::WINDOW_UPDATE));
    // ...which the next request refers to by index: the server's table followed.
    let h = client.headers(
        3,
        &[GET[0], GET[1], GET[2], GET[3], ("x-late", "value")],
        true,
    );
    assert!(h.len() < 20);
    client.send(&h);
    let events = client.take_events();
    assert!(
        matches!(
            events.last(),
            Some(Seen::Request {
                stream: 3,
                request: Ok(_),
                ..
            })
        ),
        "{events:?}"
    );
}

#[test]
fn an_even_stream_identifier_is_a_protocol_error() {
    let mut client = Client::ready();
    let h = client.headers(2, GET, true);
    client.send(&h);
    assert_eq!(client.connection_error(), ErrorCode::ProtocolError);
}

#[test]
fn a_stream_identifier_smaller_than_a_previous_one_is_a_protocol_error() {
    let mut client = Client::ready();
    let h = client.headers(5, GET, true);
    client.send(&h);
    let h = client.headers(3, GET, true);
    client.send(&h);
    assert_eq!(client.connection_error(), ErrorCode::ProtocolError);
}

#[test]
fn a_stream_past_the_concurrency_limit_is_refused() {
    let mut client = Client::with(Limits {
        max_concurrent_streams: 2,
        ..Limits::default()
    });
    client.handshake();
    for stream in [1, 3, 5] {
        let h = client.headers(stream, GET, true);
        client.send(&h);
    }
    assert_eq!(client.stream_error(), (5, ErrorCode::RefusedStream));
    assert_eq!(client.take_events().len(), 2);
    // Once one finishes, a new one is taken.
    client
        .server
        .send_headers(1, 204, [("x", "y")], true)
        .unwrap();
    let h = client.headers(7, GET, true);
    client.send(&h);
    assert!(matches!(
        client.take_events()[..],
        [Seen::Request { stream: 7, .. }]
    ));
}

// ---- §5.3 Priority.

#[test]
fn a_stream_depending_on_itself_is_a_stream_error() {
    let mut client = Client::ready();
    let block = client.block(GET);
    let mut payload = vec![0, 0, 0, 1, 16];
    payload.extend(block);
    client.send(&raw(
        frame::HEADERS,
        frame::FLAG_END_HEADERS | frame::FLAG_END_STREAM | frame::FLAG_PRIORITY,
        1,
        &payload,
    ));
    assert_eq!(client.stream_error(), (1, ErrorCode::ProtocolError));
    assert!(client.take_events().is_empty());
    client.send(&raw(frame::PRIORITY, 0, 3, &[0, 0, 0, 3, 16]));
    assert_eq!(client.stream_error(), (3, ErrorCode::ProtocolError));
}

// ---- §6 Frame definitions (the rules needing connection state; the others are in frame.rs).

#[test]
fn a_priority_frame_of_the_wrong_length_is_a_stream_error_frame_size_error() {
    let mut client = Client::ready();
    client.send(&raw(frame::PRIORITY, 0, 1, &[0, 0, 0, 3]));
    assert_eq!(client.stream_error(), (1, ErrorCode::FrameSizeError));
}

#[test]
fn settings_with_invalid_values_are_connection_errors_with_their_codes() {
    let cases = [
        ((0x2, 2), ErrorCode::ProtocolError),
        ((0x4, 1 << 31), ErrorCode::FlowControlError),
        ((0x5, 16_383), ErrorCode::ProtocolError),
        ((0x5, 1 << 24), ErrorCode::ProtocolError),
    ];
    for (setting, code) in cases {
        let mut client = Client::ready();
        client.send(&settings(&[setting]));
        assert_eq!(client.connection_error(), code, "{setting:?}");
    }
}

#[test]
fn a_ping_is_answered_with_its_payload_and_a_ping_ack_is_not() {
    let mut client = Client::ready();
    client.send(&raw(frame::PING, frame::FLAG_ACK, 0, &[9; 8]));
    client.send(&ping([1, 2, 3, 4, 5, 6, 7, 8]));
    let frames = client.read();
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].payload, [1, 2, 3, 4, 5, 6, 7, 8]);
}

#[test]
fn a_client_goaway_lets_open_streams_finish_and_the_connection_answer_until_closed() {
    let mut client = Client::ready();
    let h = client.headers(1, GET, true);
    client.send(&h);
    client.send(&raw(frame::GOAWAY, 0, 0, &[0, 0, 0, 1, 0, 0, 0, 0x42]));
    assert_eq!(
        client.take_events()[1],
        Seen::GoAway {
            last_stream: 1,
            code: 0x42
        }
    );
    assert_eq!(client.server.state(), State::Closing);
    client
        .server
        .send_headers(1, 200, [("a", "b")], true)
        .unwrap();
    client.read();
    assert_eq!(client.server.state(), State::Closing);
    client.send(&ping([3; 8]));
    assert_eq!(client.read()[0].payload, [3; 8]);
}

#[test]
fn rst_stream_with_an_unknown_error_code_is_accepted() {
    let mut client = Client::ready();
    let h = client.headers(1, GET, false);
    client.send(&h);
    client.send(&rst(1, 0xdead));
    assert_eq!(
        client.take_events()[1],
        Seen::Reset {
            stream: 1,
            code: 0xdead
        }
    );
    assert!(client.read().is_empty());
}

#[test]
fn a_zero_window_increment_is_a_connection_or_stream_error_by_its_stream() {
    let mut client = Client::ready();
    client.send(&window_update(0, 0));
    assert_eq!(client.connection_error(), ErrorCode::ProtocolError);

    let mut client = Client::ready();
    let h = client.headers(1, GET, true);
    client.send(&h);
    client.send(&window_update(1, 0));
    assert_eq!(client.stream_error(), (1, ErrorCode::ProtocolError));
}

#[test]
fn push_promise_from_a_client_is_a_protocol_error() {
    let mut client = Client::ready();
    client.send(&raw(
        frame::PUSH_PROMISE,
        frame::FLAG_END_HEADERS,
        1,
        &[0, 0, 0, 2, 0x82],
    ));
    assert_eq!(client.connection_error(), ErrorCode::ProtocolError);
}

// ---- §6.9 Flow control, our sending side.

/// A client that asked for `/` and got the response head; `window` is its initial window.
fn responding(window: Option<u32>) -> Client {
    let mut client = Client::ready();
    if let Some(window) = window {
        client.send(&settings(&[(0x4, window)]));
    }
    let h = client.headers(1, GET, true);
    client.send(&h);
    client
        .server
        .send_headers(1, 200, [("content-type", "text/plain")], false)
        .unwrap();
    client.read();
    client
}

#[test]
fn data_is_sent_within_the_stream_window_set_by_settings() {
    let mut client = responding(Some(1));
    assert_eq!(client.server.send_capacity(1), 1);
    assert_eq!(client.server.send_data(1, b"hello", true), Ok(1));
    let frames = client.read();
    assert_eq!(
        (frames[0].kind, frames[0].flags, frames[0].payload.len()),
        (frame::DATA, 0, 1)
    );
    assert_eq!(client.server.send_capacity(1), 0);
    assert_eq!(client.server.send_data(1, b"ello", true), Ok(0));
}

#[test]
fn the_last_of_several_initial_window_values_in_one_frame_applies() {
    let mut client = Client::ready();
    client.send(&settings(&[(0x4, 100), (0x4, 1)]));
    let h = client.headers(1, GET, true);
    client.send(&h);
    client
        .server
        .send_headers(1, 200, [("a", "b")], false)
        .unwrap();
    assert_eq!(client.server.send_capacity(1), 1);
}

#[test]
fn an_initial_window_change_moves_open_streams_windows_even_below_zero() {
    let mut client = responding(Some(0));
    assert_eq!(client.server.send_capacity(1), 0);
    client.send(&settings(&[(0x4, 3)]));
    assert_eq!(client.server.send_data(1, b"hello", true), Ok(3));
    client.send(&settings(&[(0x4, 2)]));
    // The window is now -1: a WINDOW_UPDATE of 2 leaves 1.
    assert_eq!(client.server.send_capacity(1), 0);
    client.send(&window_update(1, 2));
    assert_eq!(client.server.send_capacity(1), 1);
    assert_eq!(client.server.send_data(1, b"lo", true), Ok(1));
}

#[test]
fn windows_past_2_to_the_31_are_flow_control_errors() {
    let mut client = Client::ready();
    client.send(&window_update(0, frame::MAX_WINDOW));
    assert_eq!(client.connection_error(), ErrorCode::FlowControlError);

    let mut client = responding(None);
    client.send(&window_update(1, frame::MAX_WINDOW));
    assert_eq!(client.stream_error(), (1, ErrorCode::FlowControlError));

    let mut client = responding(None);
    client.send(&settings(&[(0x4, frame::MAX_WINDOW - 10)]));
    client.send(&window_update(1, 20));
    assert_eq!(client.stream_error(), (1, ErrorCode::FlowControlError));

    let mut client = responding(None);
    client.send(&window_update(1, frame::MAX_WINDOW - 65_535));
    client.send(&settings(&[(0x4, 65_536)]));
    assert_eq!(client.connection_error(), ErrorCode::FlowControlError);
}

#[test]
fn the_connection_window_is_shared_by_all_streams() {
    let mut client = Client::ready();
    for stream in [1, 3] {
        let h = client.headers(stream, GET, true);
        client.send(&h);
        client
            .server
            .send_headers(stream, 200, [("a", "b")], false)
            .unwrap();
    }
    let big = vec![b'x'; 65_535];
    let mut sent = 0;
    while client.server.send_capacity(1) > 0 {
        sent += client.server.send_data(1, &big[sent..], false).unwrap();
        client.read();
    }
    assert_eq!(sent, 65_535);
    assert_eq!(client.server.send_capacity(3), 0);
    client.send(&window_update(0, 10));
    assert_eq!(client.server.send_capacity(3), 10);
}

#[test]
fn data_frames_are_at_most_16_kib_even_when_the_client_allows_larger() {
    let mut client = Client::ready();
    client.send(&settings(&[(0x5, 20_000)]));
    client.send(&window_update(0, 100_000));
    client.send(&settings(&[(0x4, 100_000)]));
    let h = client.headers(1, GET, true);
    client.send(&h);
    client
        .server
        .send_headers(1, 200, [("a", "b")], false)
        .unwrap();
    assert_eq!(client.server.send_capacity(1), 16_384);
}

#[test]
fn send_data_with_fills_the_frame_in_place_and_ends_the_stream_at_remaining() {
    let mut client = responding(None);
    let sent = client
        .server
        .send_data_with(1, 10, |buf| {
            assert_eq!(buf.len(), 10);
            buf.copy_from_slice(b"0123456789");
            Ok::<_, ()>(10)
        })
        .unwrap();
    assert_eq!(sent, Ok(10));
    let frames = client.read();
    assert_eq!(frames[0].payload, b"0123456789");
    assert_eq!(frames[0].flags, frame::FLAG_END_STREAM);
    assert_eq!(client.server.stream_count(), 0);
}

#[test]
fn a_failed_fill_sends_nothing() {
    let mut client = responding(None);
    let sent = client
        .server
        .send_data_with(1, 10, |_| Err("disk"))
        .unwrap();
    assert_eq!(sent, Err("disk"));
    assert!(client.read().is_empty());
    assert_eq!(client.server.send_capacity(1), 16_384);
}

#[test]
fn response_headers_are_lower_cased_without_connection_fields_and_split_into_continuations() {
    let mut client = Client::ready();
    let h = client.headers(1, GET, true);
    client.send(&h);
    let long = "v".repeat(20_000);
    client
        .server
        .send_headers(
            1,
            200,
            [
                ("Content-Type", "text/html"),
                ("Connection", "close"),
                ("X-Long", long.as_str()),
            ],
            true,
        )
        .unwrap();
    let frames = client.read();
    assert_eq!(frames[0].kind, frame::HEADERS);
    assert_eq!(frames[0].flags, frame::FLAG_END_STREAM);
    assert_eq!(frames[1].kind, frame::CONTINUATION);
    assert_eq!(frames[1].flags, frame::FLAG_END_HEADERS);
    let mut whole = frames[0].clone();
    whole.payload.extend_from_slice(&frames[1].payload);
    let fields = client.response_fields(&whole);
    assert_eq!(fields[0], (":status".to_string(), "200".to_string()));
    assert_eq!(
        fields[1],
        ("content-type".to_string(), "text/html".to_string())
    );
    assert_eq!(fields[2], ("x-long".to_string(), long));
    assert_eq!(fields.len(), 3);
}

#[test]
fn response_field_names_of_any_length_are_sent_in_lower_case() {
    let mut client = Client::ready();
    let h = client.headers(1, GET, true);
    client.send(&h);
    let long_name = format!("X-{}", "Long-Name".repeat(10));
    client
        .server
        .send_headers(
            1,
            200,
            [
                ("X-Short", "1"),
                (long_name.as_str(), "2"),
                ("x-already-lower", "3"),
            ],
            true,
        )
        .unwrap();
    let frames = client.read();
    let fields = client.response_fields(&frames[0]);
    assert_eq!(
        fields[1..],
        [
            ("x-short".to_string(), "1".to_string()),
            (long_name.to_ascii_lowercase(), "2".to_string()),
            ("x-already-lower".to_string(), "3".to_string()),
        ]
    );
}

// ---- §6.9 Flow control, our receiving side.

#[test]
fn request_body_beyond_the_stream_window_is_a_stream_error() {
    let mut client = Client::with(Limits {
        stream_window: 10,
        ..Limits::default()
    });
    client.handshake();
    let h = client.headers(1, &post(&[]), false);
    client.send(&h);
    client.send(&data(1, &[b'x'; 11], false));
    assert_eq!(client.stream_error(), (1, ErrorCode::FlowControlError));
}

#[test]
fn request_body_beyond_the_connection_window_is_a_connection_error() {
    let mut client = Client::with(Limits {
        connection_window: 65_535,
        ..Limits::default()
    });
    client.handshake();
    for stream in [1, 3, 5, 7, 9] {
        let h = client.headers(stream, &post(&[]), false);
        client.send(&h);
        client.send(&data(stream, &[b'x'; 16_000], false));
    }
    assert_eq!(client.connection_error(), ErrorCode::FlowControlError);
}

#[test]
fn released_body_octets_are_given_back_in_window_updates() {
    let mut client = Client::ready();
    let h = client.headers(1, &post(&[]), false);
    client.send(&h);
    for _ in 0..3 {
        client.send(&data(1, &[b'x'; 16_000], false));
    }
    assert!(client.read().is_empty());
    client.server.release(1, 16_000);
    assert!(client.read().is_empty());
    client.server.release(1, 32_000);
    let frames = client.read();
    assert_eq!(frames.len(), 1);
    assert_eq!(
        (frames[0].kind, frames[0].stream),
        (frame::WINDOW_UPDATE, 1)
    );
    assert_eq!(frames[0].payload, 48_000u32.to_be_bytes());
}

#[test]
fn padding_is_given_back_at_once() {
    let mut client = Client::with(Limits {
        stream_window: 300,
        ..Limits::default()
    });
    client.handshake();
    let h = client.headers(1, &post(&[]), false);
    client.send(&h);
    let mut payload = vec![200u8];
    payload.extend_from_slice(b"abc");
    payload.extend_from_slice(&[0; 200]);
    client.send(&raw(frame::DATA, frame::FLAG_PADDED, 1, &payload));
    client.send(&raw(frame::DATA, frame::FLAG_PADDED, 1, &payload));
    let events = client.take_events();
    assert_eq!(
        events[1],
        Seen::Data {
            stream: 1,
            data: b"abc".to_vec(),
            end_stream: false
        }
    );
    assert_eq!(events.len(), 3);
}

// ---- §8 HTTP semantics.

#[test]
fn a_request_body_and_trailers_reach_the_exchange() {
    let mut client = Client::ready();
    let h = client.headers(1, &post(&[("content-length", "5")]), false);
    client.send(&h);
    client.send(&data(1, b"hel", false));
    client.send(&data(1, b"lo", false));
    let t = client.headers(1, &[("x-checksum", "abc")], true);
    client.send(&t);
    assert_eq!(
        client.take_events(),
        [
            Seen::Request {
                stream: 1,
                request: Ok(("POST".to_string(), "/".to_string())),
                end_stream: false
            },
            Seen::Data {
                stream: 1,
                data: b"hel".to_vec(),
                end_stream: false
            },
            Seen::Data {
                stream: 1,
                data: b"lo".to_vec(),
                end_stream: false
            },
            Seen::Data {
                stream: 1,
                data: vec![],
                end_stream: true
            },
        ]
    );
}

#[test]
fn trailers_without_end_stream_are_malformed() {
    let mut client = Client::ready();
    let h = client.headers(1, &post(&[]), false);
    client.send(&h);
    client.send(&data(1, b"test", false));
    let t = client.headers(1, &[("x-test", "ok")], false);
    client.send(&t);
    assert_eq!(client.stream_error(), (1, ErrorCode::ProtocolError));
}

#[test]
fn a_content_length_that_is_not_the_sum_of_the_data_frames_is_malformed() {
    let bodies: [&[&[u8]]; 4] = [&[b"test"], &[b"te", b"st"], &[b""], &[b"t", b""]];
    for frames in bodies {
        let mut client = Client::ready();
        let h = client.headers(1, &post(&[("content-length", "2")]), false);
        client.send(&h);
        for (i, body) in frames.iter().enumerate() {
            client.send(&data(1, body, i + 1 == frames.len()));
        }
        assert_eq!(
            client.stream_error(),
            (1, ErrorCode::ProtocolError),
            "{frames:?}"
        );
    }
    let mut client = Client::ready();
    let h = client.headers(1, &post(&[("content-length", "2")]), true);
    client.send(&h);
    assert_eq!(client.stream_error(), (1, ErrorCode::ProtocolError));
}

#[test]
fn a_malformed_request_is_reset_and_never_reaches_the_exchange() {
    let mut client = Client::ready();
    let h = client.headers(1, &[GET[0], GET[1], GET[2], GET[3], ("Upper", "x")], true);
    client.send(&h);
    assert_eq!(client.stream_error(), (1, ErrorCode::ProtocolError));
    assert!(client.take_events().is_empty());
}

#[test]
fn a_request_http_refuses_reaches_the_exchange_as_a_status() {
    let mut client = Client::ready();
    let h = client.headers(
        1,
        &[(":method", "BREW"), (":scheme", "https"), (":path", "/")],
        true,
    );
    client.send(&h);
    assert!(matches!(
        client.take_events()[..],
        [Seen::Request {
            stream: 1,
            request: Err(501),
            ..
        }]
    ));
}

#[test]
fn a_response_finished_before_the_request_body_discards_the_rest_and_still_checks_it() {
    let mut client = Client::ready();
    let h = client.headers(1, &post(&[("content-length", "1")]), false);
    client.send(&h);
    client
        .server
        .send_headers(1, 405, [("content-length", "0")], true)
        .unwrap();
    client.read();
    client.send(&data(1, b"test", true));
    assert_eq!(client.stream_error(), (1, ErrorCode::ProtocolError));
    assert_eq!(client.take_events().len(), 1);
}

#[test]
fn a_response_finished_before_a_large_request_body_stops_it_with_no_error() {
    let mut client = Client::with(Limits {
        stream_window: 100,
        ..Limits::default()
    });
    client.handshake();
    let h = client.headers(1, &post(&[]), false);
    client.send(&h);
    client
        .server
        .send_headers(1, 413, [("content-length", "0")], true)
        .unwrap();
    client.read();
    client.send(&data(1, &[b'x'; 60], false));
    assert!(client.read().iter().all(|f| f.kind == frame::WINDOW_UPDATE));
    client.send(&data(1, &[b'x'; 40], false));
    assert_eq!(client.stream_error(), (1, ErrorCode::NoError));
    // Late DATA after our reset is ignored.
    client.send(&data(1, &[b'x'; 10], false));
    assert!(client.read().iter().all(|f| f.kind == frame::WINDOW_UPDATE));
    assert_eq!(client.server.stream_count(), 0);
}

#[test]
fn a_graceful_goaway_names_the_last_stream_and_ignores_later_ones() {
    let mut client = Client::ready();
    let h = client.headers(1, GET, true);
    client.send(&h);
    client.server.goaway();
    let frames = client.read();
    assert_eq!(frames[0].kind, frame::GOAWAY);
    assert_eq!(&frames[0].payload[..8], &[0, 0, 0, 1, 0, 0, 0, 0]);
    let h = client.headers(3, GET, true);
    client.send(&h);
    assert_eq!(client.take_events().len(), 1);
    assert_eq!(client.server.state(), State::Closing);
    client
        .server
        .send_headers(1, 200, [("a", "b")], true)
        .unwrap();
    assert_eq!(client.server.state(), State::Done);
}

// ---- Hardening: each attack, its bound.

#[test]
fn rapid_reset_ends_the_connection_with_enhance_your_calm() {
    let budget = 20;
    let mut client = Client::with(Limits {
        reset_budget: budget,
        ..Limits::default()
    });
    client.handshake();
    let mut stream = 1;
    for _ in 0..budget {
        let h = client.headers(stream, GET, true);
        client.send(&h);
        client.send(&rst(stream, ErrorCode::Cancel as u32));
        stream += 2;
    }
    assert_ne!(client.server.state(), State::Done);
    let h = client.headers(stream, GET, true);
    client.send(&h);
    client.send(&rst(stream, ErrorCode::Cancel as u32));
    assert_eq!(client.connection_error(), ErrorCode::EnhanceYourCalm);
}

#[test]
fn resets_between_completed_streams_are_not_an_attack() {
    let mut client = Client::with(Limits {
        reset_budget: 5,
        ..Limits::default()
    });
    client.handshake();
    let mut stream = 1;
    for _ in 0..50 {
        let h = client.headers(stream, GET, true);
        client.send(&h);
        client
            .server
            .send_headers(stream, 200, [("a", "b")], true)
            .unwrap();
        let h = client.headers(stream + 2, GET, true);
        client.send(&h);
        client.send(&rst(stream + 2, ErrorCode::Cancel as u32));
        stream += 4;
    }
    assert_ne!(client.server.state(), State::Done);
}

#[test]
fn streams_answered_at_once_but_reset_before_the_answer_was_written_count_as_resets() {
    // The session answers a small request before it reads the next frame: the stream is
    // closed when its RST_STREAM arrives, but the client cannot have read the answer.
    let budget = 20;
    let mut client = Client::with(Limits {
        reset_budget: budget,
        ..Limits::default()
    });
    client.handshake();
    let mut stream = 1;
    for _ in 0..budget - 1 {
        let h = client.headers(stream, GET, true);
        client.send(&h);
        client
            .server
            .send_headers(stream, 200, [("a", "b")], true)
            .unwrap();
        client.send(&rst(stream, ErrorCode::Cancel as u32));
        stream += 2;
    }
    assert_ne!(client.server.state(), State::Done);
    let h = client.headers(stream, GET, true);
    client.send(&h);
    client
        .server
        .send_headers(stream, 200, [("a", "b")], true)
        .unwrap();
    client.send(&rst(stream, ErrorCode::Cancel as u32));
    assert_eq!(client.connection_error(), ErrorCode::EnhanceYourCalm);
}

#[test]
fn a_reset_of_a_stream_whose_answer_was_written_is_not_counted() {
    let mut client = Client::with(Limits {
        reset_budget: 5,
        ..Limits::default()
    });
    client.handshake();
    let mut stream = 1;
    for _ in 0..50 {
        let h = client.headers(stream, GET, true);
        client.send(&h);
        client
            .server
            .send_headers(stream, 200, [("a", "b")], true)
            .unwrap();
        client.read();
        client.send(&rst(stream, ErrorCode::Cancel as u32));
        stream += 2;
    }
    assert_ne!(client.server.state(), State::Done);
}

#[test]
fn a_continuation_flood_ends_the_connection_with_enhance_your_calm() {
    let mut client = Client::ready();
    let block = client.block(GET);
    client.send(&raw(frame::HEADERS, 0, 1, &block[..1]));
    for _ in 0..32 {
        client.send(&raw(frame::CONTINUATION, 0, 1, &[]));
    }
    assert!(client.read().is_empty());
    client.send(&raw(frame::CONTINUATION, 0, 1, &[]));
    assert_eq!(client.connection_error(), ErrorCode::EnhanceYourCalm);
}

#[test]
fn a_header_block_over_its_size_limit_ends_the_connection() {
    let mut client = Client::with(Limits {
        max_header_block: 1000,
        ..Limits::default()
    });
    client.handshake();
    client.send(&raw(frame::HEADERS, 0, 1, &[0; 600]));
    client.send(&raw(frame::CONTINUATION, 0, 1, &[0; 600]));
    assert_eq!(client.connection_error(), ErrorCode::EnhanceYourCalm);
}

#[test]
fn an_hpack_bomb_is_answered_431_without_keeping_the_decoded_fields() {
    let mut client = Client::ready();
    // One 4000-octet entry in the table, then a block referring to it 1000 times: 4 MB
    // decoded from 1 KB.
    let value = [b'v'; 4000];
    let mut block = client.block(GET);
    // Literal with incremental indexing, new name (the encoder's own policy would not index
    // an entry this large).
    block.extend_from_slice(&[0x40, 6]);
    block.extend_from_slice(b"x-bomb");
    block.extend_from_slice(&[0x7f, 0xa1, 0x1e]); // 4000 = 127 + 33 + 30 * 128
    block.extend_from_slice(&value);
    client.send(&raw(
        frame::HEADERS,
        frame::FLAG_END_HEADERS | frame::FLAG_END_STREAM,
        1,
        &block,
    ));
    // GET https / from the static table, then the bomb entry (index 62, the newest in the
    // server's table) a thousand times.
    let mut block = vec![0x82, 0x87, 0x84];
    block.extend(std::iter::repeat_n(0xbe, 1000));
    client.send(&raw(
        frame::HEADERS,
        frame::FLAG_END_HEADERS | frame::FLAG_END_STREAM,
        3,
        &block,
    ));
    let events = client.take_events();
    assert!(
        matches!(
            events.last(),
            Some(Seen::Request {
                stream: 3,
                request: Err(431),
                ..
            })
        ),
        "{events:?}"
    );
}

#[test]
fn floods_of_frames_without_work_end_the_connection_with_enhance_your_calm() {
    let floods: [(&str, Vec<u8>); 6] = [
        ("PING", ping([0; 8])),
        ("SETTINGS", settings(&[(0x3, 100)])),
        ("WINDOW_UPDATE", window_update(0, 1)),
        ("PRIORITY", raw(frame::PRIORITY, 0, 9, &[0, 0, 0, 0, 16])),
        ("unknown", raw(0x42, 0, 0, b"x")),
        ("empty DATA", data(1, b"", false)),
    ];
    for (name, flood) in floods {
        let mut client = Client::with(Limits {
            idle_frame_budget: 50,
            ..Limits::default()
        });
        client.handshake();
        let h = client.headers(1, &post(&[]), false);
        client.send(&h);
        for _ in 0..48 {
            client.send(&flood);
            client.read();
        }
        assert_ne!(client.server.state(), State::Done, "{name}");
        for _ in 0..3 {
            client.send(&flood);
        }
        assert_eq!(
            client.connection_error(),
            ErrorCode::EnhanceYourCalm,
            "{name}"
        );
    }
}

#[test]
fn work_between_control_frames_resets_the_flood_count() {
    let mut client = Client::with(Limits {
        idle_frame_budget: 10,
        ..Limits::default()
    });
    client.handshake();
    let h = client.headers(1, &post(&[]), false);
    client.send(&h);
    for _ in 0..100 {
        for _ in 0..8 {
            client.send(&ping([0; 8]));
        }
        client.send(&data(1, b"x", false));
        client.server.release(1, 1);
        client.read();
    }
    assert_ne!(client.server.state(), State::Done);
}

#[test]
fn a_client_that_does_not_read_stops_being_read() {
    let mut client = Client::ready();
    let mut flood = Vec::new();
    for _ in 0..10_000 {
        flood.extend(ping([0; 8]));
    }
    let limits = Limits::default();
    client.send(&flood);
    let backlog = client.server.pending_output().len();
    assert!(backlog <= limits.output_backlog + 17, "{backlog}");
    assert!(!client.pending.is_empty());
    assert!(!client.server.wants_input());
    client.read();
    client.pump();
    assert!(client.server.pending_output().len() <= limits.output_backlog + 17);
}

#[test]
fn a_stream_that_never_reads_its_response_holds_no_more_than_its_window() {
    let mut client = responding(None);
    let body = vec![b'x'; 1 << 20];
    let mut sent = 0;
    loop {
        let n = client.server.send_data(1, &body[sent..], true).unwrap();
        if n == 0 {
            break;
        }
        sent += n;
        client.read();
    }
    assert_eq!(sent, 65_535);
    assert!(client.server.pending_output().is_empty());
}

#[test]
fn an_idle_connection_is_reported_idle_and_a_working_one_not() {
    let mut client = Client::ready();
    assert!(client.server.is_idle());
    let h = client.headers(1, GET, true);
    client.send(&h);
    assert!(!client.server.is_idle());
    client
        .server
        .send_headers(1, 200, [("a", "b")], true)
        .unwrap();
    assert!(client.server.is_idle());
}

// ---- Every input split at every offset gives the same events and output.

/// A session touching most paths: preface, settings, a request in HEADERS + CONTINUATION with
/// padding and priority, a body in padded DATA, trailers, a ping, a window update, a reset.
fn session(client: &mut Client) -> Vec<u8> {
    let mut bytes = PREFACE.to_vec();
    bytes.extend(settings(&[(0x4, 1000), (0x1, 100)]));
    let block = client.block(&post(&[("content-length", "6"), ("x-a", "b")]));
    let mut first = vec![2, 0, 0, 0, 0, 16];
    first.extend_from_slice(&block[..3]);
    first.extend_from_slice(&[0, 0]);
    bytes.extend(raw(
        frame::HEADERS,
        frame::FLAG_PADDED | frame::FLAG_PRIORITY,
        1,
        &first,
    ));
    bytes.extend(raw(
        frame::CONTINUATION,
        frame::FLAG_END_HEADERS,
        1,
        &block[3..],
    ));
    bytes.extend(raw(
        frame::DATA,
        frame::FLAG_PADDED,
        1,
        &[1, b'a', b'b', b'c', 0],
    ));
    bytes.extend(ping([5; 8]));
    bytes.extend(data(1, b"def", false));
    let trailers = client.block(&[("x-t", "1")]);
    bytes.extend(raw(
        frame::HEADERS,
        frame::FLAG_END_HEADERS | frame::FLAG_END_STREAM,
        1,
        &trailers,
    ));
    let get = client.block(GET);
    bytes.extend(raw(frame::HEADERS, frame::FLAG_END_HEADERS, 3, &get));
    bytes.extend(window_update(0, 5));
    bytes.extend(rst(3, 8));
    bytes
}

fn run(pieces: &[&[u8]]) -> (Vec<Seen>, Vec<u8>) {
    let mut client = Client::new();
    client.server.written(client.server.pending_output().len());
    let mut output = Vec::new();
    for piece in pieces {
        client.send(piece);
        output.extend_from_slice(client.server.pending_output());
        let n = client.server.pending_output().len();
        client.server.written(n);
    }
    (client.take_events(), output)
}

#[test]
fn a_session_split_at_every_offset_gives_the_same_events_and_output() {
    let bytes = session(&mut Client::new());
    let (events, output) = run(&[&bytes]);
    assert_eq!(events.len(), 6, "{events:?}");
    assert!(output.len() > 20);
    for cut in 0..=bytes.len() {
        let (a, b) = bytes.split_at(cut);
        assert_eq!(
            run(&[a, b]),
            (events.clone(), output.clone()),
            "cut at {cut}"
        );
    }
    let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(run(&bytewise), (events, output));
}

proptest! {
    #[test]
    fn a_session_cut_anywhere_gives_the_same_events_and_output(points in proptest::collection::vec(any::<proptest::sample::Index>(), 0..12)) {
        let bytes = session(&mut Client::new());
        let whole = run(&[&bytes]);
        let pieces = crate::http::testing::cut(&bytes, &points);
        prop_assert_eq!(run(&pieces), whole);
    }

    #[test]
    fn arbitrary_frames_never_panic_and_answer_within_bounds(
        frames in proptest::collection::vec((0..11u8, any::<u8>(), 0..8u32, proptest::collection::vec(any::<u8>(), 0..40)), 0..40)
    ) {
        let mut client = Client::ready();
        for (kind, flags, stream, payload) in frames {
            client.send(&raw(kind, flags, stream, &payload));
            prop_assert!(client.server.pending_output().len() <= Limits::default().output_backlog + 100);
            client.read();
        }
    }
}

// ---- One table: RFC section, what the client sends after the preface, what must happen.

/// The server's answer to a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// GOAWAY with this code, and the connection is done.
    Connection(ErrorCode),
    /// RST_STREAM on this stream with this code, and the connection goes on.
    Stream(u32, ErrorCode),
    /// No error at all: the connection still answers a PING.
    Nothing,
}

fn headers_raw(client: &mut Client, stream: u32, flags: u8, fields: &[(&str, &str)]) -> Vec<u8> {
    let block = client.block(fields);
    raw(frame::HEADERS, flags, stream, &block)
}

const EH: u8 = frame::FLAG_END_HEADERS;
const ES: u8 = frame::FLAG_END_STREAM;

fn open(client: &mut Client) -> Vec<u8> {
    headers_raw(client, 1, EH, &post(&[]))
}

fn half_closed(client: &mut Client) -> Vec<u8> {
    headers_raw(client, 1, EH | ES, GET)
}

fn then(mut a: Vec<u8>, b: Vec<u8>) -> Vec<u8> {
    a.extend(b);
    a
}

type Case = (&'static str, fn(&mut Client) -> Vec<u8>, Expect);

#[test]
fn every_case_of_the_conformance_table_gives_its_answer() {
    use ErrorCode::*;
    use Expect::{Connection as C, Nothing, Stream as S};
    let cases: &[Case] = &[
        ("4.1 unknown type", |_| raw(0xee, 0, 0, b"x"), Nothing),
        (
            "4.1 unknown flags",
            |_| raw(frame::PING, 0xfe, 0, &[0; 8]),
            Nothing,
        ),
        (
            "4.1 reserved bit",
            |c| headers_raw(c, 0x8000_0001, EH | ES, GET),
            Nothing,
        ),
        (
            "4.2 DATA of 16384",
            |c| then(open(c), data(1, &[0; 16_384], true)),
            Nothing,
        ),
        (
            "4.2 DATA of 16385",
            |c| then(open(c), data(1, &[0; 16_385], true)),
            C(FrameSizeError),
        ),
        (
            "4.2 HEADERS of 16385",
            |_| raw(frame::HEADERS, EH, 1, &[0x82; 16_385]),
            C(FrameSizeError),
        ),
        (
            "4.3 undecodable block",
            |_| raw(frame::HEADERS, EH, 1, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            C(CompressionError),
        ),
        (
            "4.3 PRIORITY inside a block",
            |c| {
                then(
                    headers_raw(c, 1, 0, GET),
                    raw(frame::PRIORITY, 0, 1, &[0, 0, 0, 0, 1]),
                )
            },
            C(ProtocolError),
        ),
        (
            "4.3 HEADERS of another stream inside a block",
            |c| then(headers_raw(c, 1, 0, GET), headers_raw(c, 3, EH, GET)),
            C(ProtocolError),
        ),
        ("5.1 idle: DATA", |_| data(1, b"x", true), C(ProtocolError)),
        ("5.1 idle: RST_STREAM", |_| rst(1, 8), C(ProtocolError)),
        (
            "5.1 idle: WINDOW_UPDATE",
            |_| window_update(1, 1),
            C(ProtocolError),
        ),
        (
            "5.1 idle: CONTINUATION",
            |_| raw(frame::CONTINUATION, EH, 1, &[0x82]),
            C(ProtocolError),
        ),
        (
            "5.1 idle: PRIORITY",
            |_| raw(frame::PRIORITY, 0, 1, &[0, 0, 0, 0, 1]),
            Nothing,
        ),
        (
            "5.1 half-closed (remote): DATA",
            |c| then(half_closed(c), data(1, b"x", true)),
            S(1, StreamClosed),
        ),
        (
            "5.1 half-closed (remote): HEADERS",
            |c| then(half_closed(c), headers_raw(c, 1, EH | ES, GET)),
            S(1, StreamClosed),
        ),
        (
            "5.1 half-closed (remote): CONTINUATION",
            |c| then(half_closed(c), raw(frame::CONTINUATION, EH, 1, &[0x82])),
            C(ProtocolError),
        ),
        (
            "5.1 half-closed (remote): WINDOW_UPDATE",
            |c| then(half_closed(c), window_update(1, 1)),
            Nothing,
        ),
        (
            "5.1 half-closed (remote): RST_STREAM",
            |c| then(half_closed(c), rst(1, 8)),
            Nothing,
        ),
        (
            "5.1 closed by the client: DATA",
            |c| then(then(open(c), rst(1, 8)), data(1, b"x", true)),
            S(1, StreamClosed),
        ),
        (
            "5.1 closed by the client: HEADERS",
            |c| then(then(open(c), rst(1, 8)), headers_raw(c, 1, EH | ES, GET)),
            S(1, StreamClosed),
        ),
        (
            "5.1 closed by the client: CONTINUATION",
            |c| {
                then(
                    then(open(c), rst(1, 8)),
                    raw(frame::CONTINUATION, EH, 1, &[0x82]),
                )
            },
            C(ProtocolError),
        ),
        (
            "5.1 closed by the client: PRIORITY",
            |c| {
                then(
                    then(open(c), rst(1, 8)),
                    raw(frame::PRIORITY, 0, 1, &[0, 0, 0, 0, 1]),
                )
            },
            Nothing,
        ),
        (
            "5.1.1 even identifier",
            |c| headers_raw(c, 2, EH | ES, GET),
            C(ProtocolError),
        ),
        (
            "5.1.1 smaller identifier",
            |c| {
                then(
                    headers_raw(c, 5, EH | ES, GET),
                    headers_raw(c, 3, EH | ES, GET),
                )
            },
            C(ProtocolError),
        ),
        (
            "5.3.1 HEADERS depending on itself",
            |c| {
                let block = c.block(GET);
                raw(
                    frame::HEADERS,
                    EH | ES | frame::FLAG_PRIORITY,
                    1,
                    &[&[0, 0, 0, 1, 16][..], &block].concat(),
                )
            },
            S(1, ProtocolError),
        ),
        (
            "5.3.1 PRIORITY depending on itself",
            |_| raw(frame::PRIORITY, 0, 1, &[0, 0, 0, 1, 16]),
            S(1, ProtocolError),
        ),
        (
            "5.5 unknown frame inside a block",
            |c| then(headers_raw(c, 1, 0, GET), raw(0xee, 0, 1, b"x")),
            C(ProtocolError),
        ),
        (
            "6.1 DATA on stream 0",
            |_| data(0, b"x", true),
            C(ProtocolError),
        ),
        (
            "6.1 DATA with a pad length past the payload",
            |c| {
                then(
                    open(c),
                    raw(
                        frame::DATA,
                        frame::FLAG_PADDED,
                        1,
                        &[6, b't', b'e', b's', b't'],
                    ),
                )
            },
            C(ProtocolError),
        ),
        (
            "6.2 HEADERS on stream 0",
            |c| headers_raw(c, 0, EH | ES, GET),
            C(ProtocolError),
        ),
        (
            "6.2 HEADERS with a pad length past the payload",
            |_| raw(frame::HEADERS, EH | frame::FLAG_PADDED, 1, &[9, 0x82]),
            C(ProtocolError),
        ),
        (
            "6.3 PRIORITY on stream 0",
            |_| raw(frame::PRIORITY, 0, 0, &[0, 0, 0, 1, 16]),
            C(ProtocolError),
        ),
        (
            "6.3 PRIORITY of 4 octets",
            |c| then(open(c), raw(frame::PRIORITY, 0, 1, &[0, 0, 0, 3])),
            S(1, FrameSizeError),
        ),
        (
            "6.4 RST_STREAM on stream 0",
            |_| rst(0, 8),
            C(ProtocolError),
        ),
        (
            "6.4 RST_STREAM of 3 octets",
            |c| then(open(c), raw(frame::RST_STREAM, 0, 1, &[0, 0, 8])),
            C(FrameSizeError),
        ),
        (
            "6.5 SETTINGS ACK with a payload",
            |_| raw(frame::SETTINGS, frame::FLAG_ACK, 0, &[0, 1, 0, 0, 0, 0]),
            C(FrameSizeError),
        ),
        (
            "6.5 SETTINGS on stream 1",
            |_| raw(frame::SETTINGS, 0, 1, &[]),
            C(ProtocolError),
        ),
        (
            "6.5 SETTINGS of 3 octets",
            |_| raw(frame::SETTINGS, 0, 0, &[0, 2, 0]),
            C(FrameSizeError),
        ),
        (
            "6.5.2 ENABLE_PUSH of 2",
            |_| settings(&[(0x2, 2)]),
            C(ProtocolError),
        ),
        (
            "6.5.2 INITIAL_WINDOW_SIZE of 2^31",
            |_| settings(&[(0x4, 1 << 31)]),
            C(FlowControlError),
        ),
        (
            "6.5.2 MAX_FRAME_SIZE below 16384",
            |_| settings(&[(0x5, 16_383)]),
            C(ProtocolError),
        ),
        (
            "6.5.2 MAX_FRAME_SIZE of 2^24",
            |_| settings(&[(0x5, 1 << 24)]),
            C(ProtocolError),
        ),
        ("6.5.2 unknown setting", |_| settings(&[(0xff, 1)]), Nothing),
        (
            "6.7 PING on stream 1",
            |_| raw(frame::PING, 0, 1, &[0; 8]),
            C(ProtocolError),
        ),
        (
            "6.7 PING of 6 octets",
            |_| raw(frame::PING, 0, 0, &[0; 6]),
            C(FrameSizeError),
        ),
        (
            "6.8 GOAWAY on stream 1",
            |_| raw(frame::GOAWAY, 0, 1, &[0; 8]),
            C(ProtocolError),
        ),
        (
            "6.9 WINDOW_UPDATE of 0 on the connection",
            |_| window_update(0, 0),
            C(ProtocolError),
        ),
        (
            "6.9 WINDOW_UPDATE of 0 on a stream",
            |c| then(open(c), window_update(1, 0)),
            S(1, ProtocolError),
        ),
        (
            "6.9 WINDOW_UPDATE of 3 octets",
            |_| raw(frame::WINDOW_UPDATE, 0, 0, &[0, 0, 1]),
            C(FrameSizeError),
        ),
        (
            "6.9.1 connection window past 2^31-1",
            |_| then(window_update(0, 1 << 30), window_update(0, 1 << 30)),
            C(FlowControlError),
        ),
        (
            "6.9.1 stream window past 2^31-1",
            |c| {
                then(
                    then(open(c), window_update(1, 1 << 30)),
                    window_update(1, 1 << 30),
                )
            },
            S(1, FlowControlError),
        ),
        (
            "6.10 CONTINUATION after HEADERS ending the block",
            |c| then(half_closed(c), raw(frame::CONTINUATION, EH, 1, &[0x82])),
            C(ProtocolError),
        ),
        (
            "6.10 CONTINUATION on stream 0",
            |c| {
                then(
                    headers_raw(c, 1, 0, GET),
                    raw(frame::CONTINUATION, EH, 0, &[0x82]),
                )
            },
            C(ProtocolError),
        ),
        (
            "6.10 DATA inside a block",
            |c| then(headers_raw(c, 1, 0, GET), data(1, b"x", true)),
            C(ProtocolError),
        ),
        (
            "6.10 CONTINUATION after DATA",
            |c| {
                then(
                    then(open(c), data(1, b"x", false)),
                    raw(frame::CONTINUATION, EH, 1, &[0x82]),
                )
            },
            C(ProtocolError),
        ),
        (
            "7 GOAWAY with an unknown code",
            |_| raw(frame::GOAWAY, 0, 0, &[0, 0, 0, 0, 0, 0, 0xff, 0xff]),
            Nothing,
        ),
        (
            "7 RST_STREAM with an unknown code",
            |c| then(open(c), rst(1, 0xffff)),
            Nothing,
        ),
        (
            "8.1 second HEADERS without END_STREAM",
            |c| {
                then(
                    then(open(c), data(1, b"test", false)),
                    headers_raw(c, 1, EH, &[("x-test", "ok")]),
                )
            },
            S(1, ProtocolError),
        ),
        (
            "8.1 trailers with a pseudo-header",
            |c| then(open(c), headers_raw(c, 1, EH | ES, &[(":path", "/")])),
            S(1, ProtocolError),
        ),
        (
            "8.2 upper-case field name",
            |c| {
                headers_raw(
                    c,
                    1,
                    EH | ES,
                    &[GET[0], GET[1], GET[2], GET[3], ("X-Test", "ok")],
                )
            },
            S(1, ProtocolError),
        ),
        (
            "8.2.2 connection-specific field",
            |c| {
                headers_raw(
                    c,
                    1,
                    EH | ES,
                    &[GET[0], GET[1], GET[2], GET[3], ("connection", "keep-alive")],
                )
            },
            S(1, ProtocolError),
        ),
        (
            "8.2.2 TE other than trailers",
            |c| {
                headers_raw(
                    c,
                    1,
                    EH | ES,
                    &[GET[0], GET[1], GET[2], GET[3], ("te", "trailers, deflate")],
                )
            },
            S(1, ProtocolError),
        ),
        (
            "8.3 unknown pseudo-header",
            |c| {
                headers_raw(
                    c,
                    1,
                    EH | ES,
                    &[GET[0], GET[1], GET[2], GET[3], (":test", "ok")],
                )
            },
            S(1, ProtocolError),
        ),
        (
            "8.3 :status in a request",
            |c| {
                headers_raw(
                    c,
                    1,
                    EH | ES,
                    &[GET[0], GET[1], GET[2], GET[3], (":status", "200")],
                )
            },
            S(1, ProtocolError),
        ),
        (
            "8.3 pseudo-header after a regular field",
            |c| {
                headers_raw(
                    c,
                    1,
                    EH | ES,
                    &[GET[0], GET[1], GET[2], ("x-a", "b"), GET[3]],
                )
            },
            S(1, ProtocolError),
        ),
        (
            "8.3.1 empty :path",
            |c| headers_raw(c, 1, EH | ES, &[GET[0], GET[1], GET[2], (":path", "")]),
            S(1, ProtocolError),
        ),
        (
            "8.3.1 no :method",
            |c| headers_raw(c, 1, EH | ES, &[GET[1], GET[2], GET[3]]),
            S(1, ProtocolError),
        ),
        (
            "8.3.1 no :scheme",
            |c| headers_raw(c, 1, EH | ES, &[GET[0], GET[2], GET[3]]),
            S(1, ProtocolError),
        ),
        (
            "8.3.1 no :path",
            |c| headers_raw(c, 1, EH | ES, &[GET[0], GET[1], GET[2]]),
            S(1, ProtocolError),
        ),
        (
            "8.3.1 two :method",
            |c| headers_raw(c, 1, EH | ES, &[GET[0], GET[1], GET[2], GET[3], GET[0]]),
            S(1, ProtocolError),
        ),
        (
            "8.3.1 two :scheme",
            |c| headers_raw(c, 1, EH | ES, &[GET[0], GET[1], GET[2], GET[3], GET[1]]),
            S(1, ProtocolError),
        ),
        (
            "8.3.1 two :path",
            |c| headers_raw(c, 1, EH | ES, &[GET[0], GET[1], GET[2], GET[3], GET[3]]),
            S(1, ProtocolError),
        ),
        (
            "8.1.1 content-length unlike one DATA",
            |c| {
                then(
                    headers_raw(c, 1, EH, &post(&[("content-length", "1")])),
                    data(1, b"test", true),
                )
            },
            S(1, ProtocolError),
        ),
        (
            "8.1.1 content-length unlike two DATA",
            |c| {
                then(
                    then(
                        headers_raw(c, 1, EH, &post(&[("content-length", "1")])),
                        data(1, b"test", false),
                    ),
                    data(1, b"test", true),
                )
            },
            S(1, ProtocolError),
        ),
        (
            "8.4 PUSH_PROMISE",
            |_| raw(frame::PUSH_PROMISE, EH, 1, &[0, 0, 0, 2, 0x82]),
            C(ProtocolError),
        ),
        (
            "HPACK 2.3.3 index past the tables",
            |_| {
                raw(
                    frame::HEADERS,
                    EH | ES,
                    1,
                    &[0x82, 0x87, 0x84, 0xff, 0x80, 0x01],
                )
            },
            C(CompressionError),
        ),
        (
            "HPACK 2.3.3 literal name index past the tables",
            |_| {
                raw(
                    frame::HEADERS,
                    EH | ES,
                    1,
                    &[0x82, 0x87, 0x84, 0x7f, 0x80, 0x01, 0x01, b'x'],
                )
            },
            C(CompressionError),
        ),
        (
            "HPACK 4.2 size update after a field",
            |_| raw(frame::HEADERS, EH | ES, 1, &[0x82, 0x87, 0x84, 0x20]),
            C(CompressionError),
        ),
        (
            "HPACK 5.2 Huffman padding over 7 bits",
            |_| {
                raw(
                    frame::HEADERS,
                    EH | ES,
                    1,
                    &[0x82, 0x87, 0x84, 0x00, 0x81, 0x1f, 0x82, 0x1f, 0xff],
                )
            },
            C(CompressionError),
        ),
        (
            "HPACK 5.2 Huffman padding not ones",
            |_| {
                raw(
                    frame::HEADERS,
                    EH | ES,
                    1,
                    &[0x82, 0x87, 0x84, 0x00, 0x81, 0x18, 0x01, b'x'],
                )
            },
            C(CompressionError),
        ),
        (
            "HPACK 5.2 Huffman EOS",
            |_| {
                raw(
                    frame::HEADERS,
                    EH | ES,
                    1,
                    &[
                        0x82, 0x87, 0x84, 0x00, 0x81, 0x1f, 0x84, 0xff, 0xff, 0xff, 0xff,
                    ],
                )
            },
            C(CompressionError),
        ),
        (
            "HPACK 6.1 index 0",
            |_| raw(frame::HEADERS, EH | ES, 1, &[0x80]),
            C(CompressionError),
        ),
        (
            "HPACK 6.3 size update over the setting",
            |_| {
                raw(
                    frame::HEADERS,
                    EH | ES,
                    1,
                    &[0x3f, 0xe2, 0x1f, 0x82, 0x87, 0x84],
                )
            },
            C(CompressionError),
        ),
        (
            "HPACK 6.3 size update to 0 first",
            |_| raw(frame::HEADERS, EH | ES, 1, &[0x20, 0x82, 0x87, 0x84]),
            Nothing,
        ),
    ];
    for (name, build, expected) in cases {
        let mut client = Client::ready();
        let bytes = build(&mut client);
        client.send(&bytes);
        let frames = client.read();
        let errors: Vec<(u8, u32, ErrorCode)> = frames
            .iter()
            .filter(|f| f.kind == frame::RST_STREAM || f.kind == frame::GOAWAY)
            .map(|f| (f.kind, f.stream, code_of(f.code())))
            .collect();
        match expected {
            Expect::Connection(code) => {
                assert_eq!(errors, [(frame::GOAWAY, 0, *code)], "{name}");
                assert_eq!(client.server.state(), State::Done, "{name}");
            }
            Expect::Stream(stream, code) => {
                assert_eq!(errors, [(frame::RST_STREAM, *stream, *code)], "{name}");
                client.send(&ping([1; 8]));
                assert!(
                    client.read().iter().any(|f| f.kind == frame::PING),
                    "{name}: alive"
                );
            }
            Expect::Nothing => {
                assert_eq!(errors, [], "{name}");
                client.send(&ping([1; 8]));
                assert!(
                    client.read().iter().any(|f| f.kind == frame::PING),
                    "{name}: alive"
                );
            }
        }
    }
}

#[test]
fn known_response_names_keep_the_general_policy() {
    for known in KNOWN_NAMES {
        assert_eq!(
            known.indexing,
            indexing_of(known.lower),
            "{:?}",
            known.lower
        );
        assert_eq!(
            known.range,
            crate::http2::hpack::static_range(known.lower),
            "{:?}",
            known.lower
        );
        assert!(!known.lower.iter().any(u8::is_ascii_uppercase));
        assert_eq!(known_name(known.lower), Some(known));
        // The spelling of the handlers: each word capitalized (ETag aside).
        let mut capitalized = known.lower.to_vec();
        for i in 0..capitalized.len() {
            if i == 0 || capitalized[i - 1] == b'-' {
                capitalized[i] = capitalized[i].to_ascii_uppercase();
            }
        }
        if known.lower == b"etag" {
            capitalized = b"ETag".to_vec();
        }
        assert_eq!(known_name(&capitalized), Some(known));
    }
    // Another spelling takes the general path.
    assert!(known_name(b"CONTENT-TYPE").is_none());
    assert!(known_name(b"connection").is_none());
    assert!(known_name(b"x-server").is_none());
}

#[test]
fn a_head_with_capitalized_names_decodes_as_lower_case() {
    // The fast path of known names and the general one, in one block, twice (the second
    // time the indexed fields are dynamic-table indexes).
    let mut c = Connection::new(Limits::default());
    let mut decoder = Decoder::new(4096);
    for round in 0..2 {
        let stream = 1 + 2 * round;
        c.streams.push(Stream {
            id: stream,
            recv: Recv::Ended,
            send: Send::Head,
            send_window: 65_535,
            recv_window: 65_535,
            held: 0,
            unreleased: 0,
        });
        let before = c.out.len();
        let fields = [
            ("Server", "webserv"),
            ("Content-Type", "text/html"),
            ("ETag", "\"1\""),
            ("X-Custom", "a"),
            ("Connection", "close"),
            ("Set-Cookie", "s=1"),
        ];
        c.send_headers(stream, 200, fields, false).unwrap();
        let block = &c.out[before + 9..];
        let mut got = Vec::new();
        decoder
            .decode(block, |n, v| got.push((n.to_vec(), v.to_vec())))
            .unwrap();
        let want: Vec<(Vec<u8>, Vec<u8>)> = [
            (":status", "200"),
            ("server", "webserv"),
            ("content-type", "text/html"),
            ("etag", "\"1\""),
            ("x-custom", "a"),
            ("set-cookie", "s=1"),
        ]
        .iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
        assert_eq!(got, want, "round {round}");
    }
}
