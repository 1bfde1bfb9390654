//! HTTP/2 frames (RFC 9113 §4 and §6): the 9-octet header, the checks each frame type makes on
//! its own (stream 0 or not, payload length, padding), and the encoders of the frames a server
//! sends.
//!
//! What depends on the connection (stream states, windows, the header block in progress, the
//! values of settings against our limits) is judged by `connection`, not here.

/// Octets of a frame header.
pub const HEADER_LEN: usize = 9;
/// SETTINGS_MAX_FRAME_SIZE before any SETTINGS, and the smallest value allowed (§6.5.2).
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;
/// The largest SETTINGS_MAX_FRAME_SIZE allowed (§6.5.2).
pub const MAX_MAX_FRAME_SIZE: u32 = (1 << 24) - 1;
/// The largest window and window increment (§6.9.1).
pub const MAX_WINDOW: u32 = (1 << 31) - 1;

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const PRIORITY: u8 = 0x2;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PUSH_PROMISE: u8 = 0x5;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

pub const FLAG_END_STREAM: u8 = 0x1;
pub const FLAG_ACK: u8 = 0x1;
pub const FLAG_END_HEADERS: u8 = 0x4;
pub const FLAG_PADDED: u8 = 0x8;
pub const FLAG_PRIORITY: u8 = 0x20;

/// The error codes of §7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    NoError = 0x0,
    ProtocolError = 0x1,
    InternalError = 0x2,
    FlowControlError = 0x3,
    SettingsTimeout = 0x4,
    StreamClosed = 0x5,
    FrameSizeError = 0x6,
    RefusedStream = 0x7,
    Cancel = 0x8,
    CompressionError = 0x9,
    ConnectError = 0xa,
    EnhanceYourCalm = 0xb,
    InadequateSecurity = 0xc,
    Http11Required = 0xd,
}

impl ErrorCode {
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::NoError => "NO_ERROR",
            ErrorCode::ProtocolError => "PROTOCOL_ERROR",
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::FlowControlError => "FLOW_CONTROL_ERROR",
            ErrorCode::SettingsTimeout => "SETTINGS_TIMEOUT",
            ErrorCode::StreamClosed => "STREAM_CLOSED",
            ErrorCode::FrameSizeError => "FRAME_SIZE_ERROR",
            ErrorCode::RefusedStream => "REFUSED_STREAM",
            ErrorCode::Cancel => "CANCEL",
            ErrorCode::CompressionError => "COMPRESSION_ERROR",
            ErrorCode::ConnectError => "CONNECT_ERROR",
            ErrorCode::EnhanceYourCalm => "ENHANCE_YOUR_CALM",
            ErrorCode::InadequateSecurity => "INADEQUATE_SECURITY",
            ErrorCode::Http11Required => "HTTP_1_1_REQUIRED",
        }
    }
}

/// A frame that breaks a rule of its own type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The whole connection ends with GOAWAY and this code (§5.4.1).
    Connection(ErrorCode),
    /// Only this stream ends, with RST_STREAM and this code (§5.4.2).
    Stream(u32, ErrorCode),
}

/// The 9-octet frame header (§4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub length: u32,
    pub kind: u8,
    pub flags: u8,
    /// With the reserved bit cleared: it "MUST be ignored when receiving".
    pub stream: u32,
}

impl Head {
    pub fn parse(bytes: &[u8; HEADER_LEN]) -> Head {
        Head {
            length: u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]),
            kind: bytes[3],
            flags: bytes[4],
            stream: u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]) & MAX_WINDOW,
        }
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bytes());
    }

    /// The nine octets of the frame header (§4.1).
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let [_, l0, l1, l2] = self.length.to_be_bytes();
        let [s0, s1, s2, s3] = (self.stream & MAX_WINDOW).to_be_bytes();
        [l0, l1, l2, self.kind, self.flags, s0, s1, s2, s3]
    }

    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// The priority fields of HEADERS and PRIORITY (§5.3.2, deprecated): parsed and checked, then
/// ignored, as RFC 9113 allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority {
    pub dependency: u32,
    pub exclusive: bool,
    pub weight: u8,
}

impl Priority {
    fn parse(bytes: &[u8]) -> Priority {
        let word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        Priority {
            dependency: word & MAX_WINDOW,
            exclusive: word & !MAX_WINDOW != 0,
            weight: bytes[4],
        }
    }
}

/// A received frame, its payload borrowed from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    Data {
        stream: u32,
        /// Without the padding; flow control counts the whole payload (the head's length).
        data: &'a [u8],
        end_stream: bool,
    },
    Headers {
        stream: u32,
        fragment: &'a [u8],
        end_stream: bool,
        end_headers: bool,
        priority: Option<Priority>,
    },
    Priority {
        stream: u32,
        priority: Priority,
    },
    RstStream {
        stream: u32,
        /// Unknown codes are allowed (§7): kept as sent.
        code: u32,
    },
    Settings {
        ack: bool,
        /// Six octets per setting; see [`settings`].
        params: &'a [u8],
    },
    PushPromise {
        stream: u32,
    },
    Ping {
        ack: bool,
        payload: [u8; 8],
    },
    GoAway {
        last_stream: u32,
        code: u32,
        debug: &'a [u8],
    },
    WindowUpdate {
        stream: u32,
        /// Still to be checked: 0 is an error (§6.9), judged with the stream's state.
        increment: u32,
    },
    Continuation {
        stream: u32,
        fragment: &'a [u8],
        end_headers: bool,
    },
    /// A frame type this endpoint does not know: ignored (§4.1, §5.5).
    Unknown {
        kind: u8,
        stream: u32,
    },
}

use ErrorCode::{FrameSizeError, ProtocolError};

fn connection(code: ErrorCode) -> FrameError {
    FrameError::Connection(code)
}

/// Reads the frame of `head` from its whole `payload`, with the checks of §6 that need no
/// connection state. The payload's length is already known to be within our
/// SETTINGS_MAX_FRAME_SIZE.
pub fn decode(head: Head, payload: &[u8]) -> Result<Frame<'_>, FrameError> {
    debug_assert_eq!(head.length as usize, payload.len());
    let stream = head.stream;
    let on_stream_zero = stream == 0;
    match head.kind {
        DATA => {
            if on_stream_zero {
                return Err(connection(ProtocolError));
            }
            let data = strip_padding(head, payload)?;
            Ok(Frame::Data {
                stream,
                data,
                end_stream: head.has(FLAG_END_STREAM),
            })
        }
        HEADERS => {
            if on_stream_zero {
                return Err(connection(ProtocolError));
            }
            let rest = strip_padding(head, payload)?;
            let (priority, fragment) = if head.has(FLAG_PRIORITY) {
                if rest.len() < 5 {
                    // The padding left no room for the priority fields: they and the padding
                    // exceed the payload (§6.2).
                    return Err(connection(if head.has(FLAG_PADDED) {
                        ProtocolError
                    } else {
                        FrameSizeError
                    }));
                }
                (Some(Priority::parse(&rest[..5])), &rest[5..])
            } else {
                (None, rest)
            };
            Ok(Frame::Headers {
                stream,
                fragment,
                end_stream: head.has(FLAG_END_STREAM),
                end_headers: head.has(FLAG_END_HEADERS),
                priority,
            })
        }
        PRIORITY => {
            if on_stream_zero {
                return Err(connection(ProtocolError));
            }
            if payload.len() != 5 {
                return Err(FrameError::Stream(stream, FrameSizeError));
            }
            Ok(Frame::Priority {
                stream,
                priority: Priority::parse(payload),
            })
        }
        RST_STREAM => {
            if on_stream_zero {
                return Err(connection(ProtocolError));
            }
            if payload.len() != 4 {
                return Err(connection(FrameSizeError));
            }
            Ok(Frame::RstStream {
                stream,
                code: be32(payload),
            })
        }
        SETTINGS => {
            if !on_stream_zero {
                return Err(connection(ProtocolError));
            }
            let ack = head.has(FLAG_ACK);
            if (ack && !payload.is_empty()) || !payload.len().is_multiple_of(6) {
                return Err(connection(FrameSizeError));
            }
            Ok(Frame::Settings {
                ack,
                params: payload,
            })
        }
        PUSH_PROMISE => {
            // Only a server may push (§8.4); a client's PUSH_PROMISE is a connection error,
            // whatever its content.
            Ok(Frame::PushPromise { stream })
        }
        PING => {
            if !on_stream_zero {
                return Err(connection(ProtocolError));
            }
            let payload: [u8; 8] = payload.try_into().map_err(|_| connection(FrameSizeError))?;
            Ok(Frame::Ping {
                ack: head.has(FLAG_ACK),
                payload,
            })
        }
        GOAWAY => {
            if !on_stream_zero {
                return Err(connection(ProtocolError));
            }
            if payload.len() < 8 {
                return Err(connection(FrameSizeError));
            }
            Ok(Frame::GoAway {
                last_stream: be32(payload) & MAX_WINDOW,
                code: be32(&payload[4..]),
                debug: &payload[8..],
            })
        }
        WINDOW_UPDATE => {
            if payload.len() != 4 {
                return Err(connection(FrameSizeError));
            }
            Ok(Frame::WindowUpdate {
                stream,
                increment: be32(payload) & MAX_WINDOW,
            })
        }
        CONTINUATION => {
            if on_stream_zero {
                return Err(connection(ProtocolError));
            }
            Ok(Frame::Continuation {
                stream,
                fragment: payload,
                end_headers: head.has(FLAG_END_HEADERS),
            })
        }
        kind => Ok(Frame::Unknown { kind, stream }),
    }
}

fn be32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// The payload of a DATA or HEADERS frame without its Pad Length field and padding (§6.1).
fn strip_padding(head: Head, payload: &[u8]) -> Result<&[u8], FrameError> {
    if !head.has(FLAG_PADDED) {
        return Ok(payload);
    }
    let (&pad, rest) = payload.split_first().ok_or(connection(FrameSizeError))?;
    // "If the length of the padding is the length of the frame payload or greater, the
    // recipient MUST treat this as a connection error of type PROTOCOL_ERROR."
    if pad as usize >= payload.len() {
        return Err(connection(ProtocolError));
    }
    Ok(&rest[..rest.len() - pad as usize])
}

/// One setting of a SETTINGS frame (§6.5.2), its value checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    HeaderTableSize(u32),
    EnablePush(bool),
    MaxConcurrentStreams(u32),
    InitialWindowSize(u32),
    MaxFrameSize(u32),
    MaxHeaderListSize(u32),
    /// RFC 8441 (extended CONNECT): we do not offer it, but a client may say it does.
    EnableConnectProtocol(bool),
    /// RFC 9218 §2.1.
    NoRfc7540Priorities(bool),
    /// "An endpoint that receives a SETTINGS frame with any unknown or unsupported identifier
    /// MUST ignore that setting."
    Unknown,
}

/// The settings of a SETTINGS payload, in order (they "MUST be processed in the order they
/// appear"), each checked against §6.5.2 and the RFCs that added one.
pub fn settings(params: &[u8]) -> impl Iterator<Item = Result<Setting, ErrorCode>> + '_ {
    params.chunks_exact(6).map(|entry| {
        let id = u16::from_be_bytes([entry[0], entry[1]]);
        let value = be32(&entry[2..]);
        let flag = |value: u32| match value {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(ProtocolError),
        };
        Ok(match id {
            0x1 => Setting::HeaderTableSize(value),
            0x2 => Setting::EnablePush(flag(value)?),
            0x3 => Setting::MaxConcurrentStreams(value),
            0x4 if value > MAX_WINDOW => return Err(ErrorCode::FlowControlError),
            0x4 => Setting::InitialWindowSize(value),
            0x5 if !(DEFAULT_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&value) => {
                return Err(ProtocolError);
            }
            0x5 => Setting::MaxFrameSize(value),
            0x6 => Setting::MaxHeaderListSize(value),
            0x8 => Setting::EnableConnectProtocol(flag(value)?),
            0x9 => Setting::NoRfc7540Priorities(flag(value)?),
            _ => Setting::Unknown,
        })
    })
}

// ---- Encoders of the frames a server sends.

/// Appends a DATA frame header; the caller appends `length` octets of payload.
pub fn write_data_head(out: &mut Vec<u8>, stream: u32, length: usize, end_stream: bool) {
    out.extend_from_slice(&data_head(stream, length, end_stream));
}

/// A DATA frame's header, for a payload already in place after it.
pub fn data_head(stream: u32, length: usize, end_stream: bool) -> [u8; HEADER_LEN] {
    Head {
        length: length as u32,
        kind: DATA,
        flags: if end_stream { FLAG_END_STREAM } else { 0 },
        stream,
    }
    .to_bytes()
}

/// Appends the header block `block` as one HEADERS frame and as many CONTINUATION frames as
/// `max_frame` requires.
pub fn write_header_block(
    out: &mut Vec<u8>,
    stream: u32,
    block: &[u8],
    end_stream: bool,
    max_frame: usize,
) {
    let mut chunks = block.chunks(max_frame.max(1));
    let first = chunks.next().unwrap_or_default();
    let only = block.len() <= max_frame;
    let mut flags = if end_stream { FLAG_END_STREAM } else { 0 };
    if only {
        flags |= FLAG_END_HEADERS;
    }
    Head {
        length: first.len() as u32,
        kind: HEADERS,
        flags,
        stream,
    }
    .write(out);
    out.extend_from_slice(first);
    let mut rest = chunks.peekable();
    while let Some(chunk) = rest.next() {
        Head {
            length: chunk.len() as u32,
            kind: CONTINUATION,
            flags: if rest.peek().is_none() {
                FLAG_END_HEADERS
            } else {
                0
            },
            stream,
        }
        .write(out);
        out.extend_from_slice(chunk);
    }
}

/// Appends a SETTINGS frame with these `(identifier, value)` pairs.
pub fn write_settings(out: &mut Vec<u8>, settings: &[(u16, u32)]) {
    Head {
        length: (settings.len() * 6) as u32,
        kind: SETTINGS,
        flags: 0,
        stream: 0,
    }
    .write(out);
    for (id, value) in settings {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&value.to_be_bytes());
    }
}

pub fn write_settings_ack(out: &mut Vec<u8>) {
    Head {
        length: 0,
        kind: SETTINGS,
        flags: FLAG_ACK,
        stream: 0,
    }
    .write(out);
}

pub fn write_ping_ack(out: &mut Vec<u8>, payload: [u8; 8]) {
    Head {
        length: 8,
        kind: PING,
        flags: FLAG_ACK,
        stream: 0,
    }
    .write(out);
    out.extend_from_slice(&payload);
}

pub fn write_window_update(out: &mut Vec<u8>, stream: u32, increment: u32) {
    Head {
        length: 4,
        kind: WINDOW_UPDATE,
        flags: 0,
        stream,
    }
    .write(out);
    out.extend_from_slice(&increment.to_be_bytes());
}

pub fn write_rst_stream(out: &mut Vec<u8>, stream: u32, code: ErrorCode) {
    Head {
        length: 4,
        kind: RST_STREAM,
        flags: 0,
        stream,
    }
    .write(out);
    out.extend_from_slice(&(code as u32).to_be_bytes());
}

pub fn write_goaway(out: &mut Vec<u8>, last_stream: u32, code: ErrorCode, debug: &[u8]) {
    Head {
        length: (8 + debug.len()) as u32,
        kind: GOAWAY,
        flags: 0,
        stream: 0,
    }
    .write(out);
    out.extend_from_slice(&last_stream.to_be_bytes());
    out.extend_from_slice(&(code as u32).to_be_bytes());
    out.extend_from_slice(debug);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> (Head, Vec<u8>) {
        (
            Head {
                length: payload.len() as u32,
                kind,
                flags,
                stream,
            },
            payload.to_vec(),
        )
    }

    fn check(
        kind: u8,
        flags: u8,
        stream: u32,
        payload: &[u8],
    ) -> Result<Frame<'static>, FrameError> {
        let (head, payload) = frame(kind, flags, stream, payload);
        let payload: &'static [u8] = Box::leak(payload.into_boxed_slice());
        decode(head, payload)
    }

    use FrameError::{Connection, Stream};

    /// RFC 9113 section, frame, expected error: every rule of §6 a frame breaks on its own.
    #[test]
    fn each_frame_rule_of_section_6_gives_its_error() {
        /// Section and rule, type, flags, stream, payload, the error.
        type Case = (&'static str, u8, u8, u32, &'static [u8], FrameError);
        let cases: &[Case] = &[
            (
                "6.1 DATA on stream 0",
                DATA,
                0,
                0,
                b"x",
                Connection(ProtocolError),
            ),
            (
                "6.1 DATA padding as long as the payload",
                DATA,
                FLAG_PADDED,
                1,
                &[4, 0, 0, 0],
                Connection(ProtocolError),
            ),
            (
                "6.1 DATA padding longer than the payload",
                DATA,
                FLAG_PADDED,
                1,
                &[9, 0],
                Connection(ProtocolError),
            ),
            (
                "6.1 DATA padded without a Pad Length",
                DATA,
                FLAG_PADDED,
                1,
                &[],
                Connection(FrameSizeError),
            ),
            (
                "6.2 HEADERS on stream 0",
                HEADERS,
                FLAG_END_HEADERS,
                0,
                &[0x82],
                Connection(ProtocolError),
            ),
            (
                "6.2 HEADERS padding past the payload",
                HEADERS,
                FLAG_PADDED | FLAG_END_HEADERS,
                1,
                &[5, 0x82],
                Connection(ProtocolError),
            ),
            (
                "6.2 HEADERS priority cut short",
                HEADERS,
                FLAG_PRIORITY,
                1,
                &[0, 0, 0],
                Connection(FrameSizeError),
            ),
            (
                "6.2 HEADERS padding eating the priority",
                HEADERS,
                FLAG_PRIORITY | FLAG_PADDED,
                1,
                &[3, 0, 0, 0, 0, 0, 16],
                Connection(ProtocolError),
            ),
            (
                "6.3 PRIORITY on stream 0",
                PRIORITY,
                0,
                0,
                &[0, 0, 0, 1, 16],
                Connection(ProtocolError),
            ),
            (
                "6.3 PRIORITY of 4 octets",
                PRIORITY,
                0,
                3,
                &[0, 0, 0, 1],
                Stream(3, FrameSizeError),
            ),
            (
                "6.3 PRIORITY of 6 octets",
                PRIORITY,
                0,
                3,
                &[0, 0, 0, 1, 16, 0],
                Stream(3, FrameSizeError),
            ),
            (
                "6.4 RST_STREAM on stream 0",
                RST_STREAM,
                0,
                0,
                &[0, 0, 0, 8],
                Connection(ProtocolError),
            ),
            (
                "6.4 RST_STREAM of 3 octets",
                RST_STREAM,
                0,
                1,
                &[0, 0, 8],
                Connection(FrameSizeError),
            ),
            (
                "6.5 SETTINGS on a stream",
                SETTINGS,
                0,
                1,
                &[],
                Connection(ProtocolError),
            ),
            (
                "6.5 SETTINGS ACK with a payload",
                SETTINGS,
                FLAG_ACK,
                0,
                &[0, 1, 0, 0, 0, 0],
                Connection(FrameSizeError),
            ),
            (
                "6.5 SETTINGS of 5 octets",
                SETTINGS,
                0,
                0,
                &[0, 1, 0, 0, 0],
                Connection(FrameSizeError),
            ),
            (
                "6.7 PING on a stream",
                PING,
                0,
                1,
                &[0; 8],
                Connection(ProtocolError),
            ),
            (
                "6.7 PING of 7 octets",
                PING,
                0,
                0,
                &[0; 7],
                Connection(FrameSizeError),
            ),
            (
                "6.7 PING of 9 octets",
                PING,
                0,
                0,
                &[0; 9],
                Connection(FrameSizeError),
            ),
            (
                "6.8 GOAWAY on a stream",
                GOAWAY,
                0,
                1,
                &[0; 8],
                Connection(ProtocolError),
            ),
            (
                "6.8 GOAWAY of 7 octets",
                GOAWAY,
                0,
                0,
                &[0; 7],
                Connection(FrameSizeError),
            ),
            (
                "6.9 WINDOW_UPDATE of 3 octets",
                WINDOW_UPDATE,
                0,
                0,
                &[0, 0, 1],
                Connection(FrameSizeError),
            ),
            (
                "6.9 WINDOW_UPDATE of 5 octets on a stream",
                WINDOW_UPDATE,
                0,
                1,
                &[0, 0, 0, 1, 0],
                Connection(FrameSizeError),
            ),
            (
                "6.10 CONTINUATION on stream 0",
                CONTINUATION,
                FLAG_END_HEADERS,
                0,
                &[0x82],
                Connection(ProtocolError),
            ),
        ];
        for (name, kind, flags, stream, payload, expected) in cases {
            assert_eq!(
                check(*kind, *flags, *stream, payload),
                Err(*expected),
                "{name}"
            );
        }
    }

    #[test]
    fn padding_is_removed_from_data_and_headers() {
        assert_eq!(
            check(
                DATA,
                FLAG_PADDED | FLAG_END_STREAM,
                1,
                &[2, b'h', b'i', 0, 0]
            ),
            Ok(Frame::Data {
                stream: 1,
                data: b"hi",
                end_stream: true
            })
        );
        // Padding leaving no data at all is allowed.
        assert_eq!(
            check(DATA, FLAG_PADDED, 1, &[3, 0, 0, 0]),
            Ok(Frame::Data {
                stream: 1,
                data: b"",
                end_stream: false
            })
        );
        assert_eq!(
            check(
                HEADERS,
                FLAG_PADDED | FLAG_PRIORITY | FLAG_END_HEADERS,
                5,
                &[1, 0x80, 0, 0, 3, 255, 0x82, 0]
            ),
            Ok(Frame::Headers {
                stream: 5,
                fragment: &[0x82],
                end_stream: false,
                end_headers: true,
                priority: Some(Priority {
                    dependency: 3,
                    exclusive: true,
                    weight: 255
                }),
            })
        );
    }

    #[test]
    fn the_reserved_bit_of_the_stream_identifier_is_ignored() {
        let head = Head::parse(&[0, 0, 0, DATA, 0, 0x80, 0, 0, 1]);
        assert_eq!(head.stream, 1);
        let head = Head::parse(&[0, 0, 4, WINDOW_UPDATE, 0, 0, 0, 0, 0]);
        assert_eq!(
            decode(head, &[0x80, 0, 0, 1]),
            Ok(Frame::WindowUpdate {
                stream: 0,
                increment: 1
            })
        );
    }

    #[test]
    fn unknown_frame_types_and_flags_are_accepted() {
        assert_eq!(
            check(0x42, 0xff, 7, b"whatever"),
            Ok(Frame::Unknown {
                kind: 0x42,
                stream: 7
            })
        );
        assert_eq!(
            check(PING, 0xfe, 0, &[1; 8]),
            Ok(Frame::Ping {
                ack: false,
                payload: [1; 8]
            })
        );
    }

    #[test]
    fn settings_values_are_checked_in_order() {
        let params = |list: &[(u16, u32)]| {
            let mut out = Vec::new();
            for (id, value) in list {
                out.extend_from_slice(&id.to_be_bytes());
                out.extend_from_slice(&value.to_be_bytes());
            }
            out
        };
        let all = |list: &[(u16, u32)]| settings(&params(list)).collect::<Vec<_>>();
        assert_eq!(all(&[(2, 2)]), [Err(ErrorCode::ProtocolError)]);
        assert_eq!(all(&[(4, 1 << 31)]), [Err(ErrorCode::FlowControlError)]);
        assert_eq!(
            all(&[(4, MAX_WINDOW)]),
            [Ok(Setting::InitialWindowSize(MAX_WINDOW))]
        );
        assert_eq!(all(&[(5, 16_383)]), [Err(ErrorCode::ProtocolError)]);
        assert_eq!(all(&[(5, 1 << 24)]), [Err(ErrorCode::ProtocolError)]);
        assert_eq!(
            all(&[(5, MAX_MAX_FRAME_SIZE)]),
            [Ok(Setting::MaxFrameSize(MAX_MAX_FRAME_SIZE))]
        );
        assert_eq!(all(&[(0xff, 7)]), [Ok(Setting::Unknown)]);
        assert_eq!(
            all(&[(4, 100), (4, 1), (1, 0)]),
            [
                Ok(Setting::InitialWindowSize(100)),
                Ok(Setting::InitialWindowSize(1)),
                Ok(Setting::HeaderTableSize(0))
            ]
        );
    }

    #[test]
    fn a_header_block_larger_than_a_frame_is_split_into_continuations() {
        let block: Vec<u8> = (0..40).collect();
        let mut out = Vec::new();
        write_header_block(&mut out, 3, &block, true, 16);
        let mut pos = 0;
        let mut frames = Vec::new();
        while pos < out.len() {
            let head = Head::parse(out[pos..pos + 9].try_into().unwrap());
            frames.push((head.kind, head.flags, head.length));
            pos += 9 + head.length as usize;
        }
        assert_eq!(
            frames,
            [
                (HEADERS, FLAG_END_STREAM, 16),
                (CONTINUATION, 0, 16),
                (CONTINUATION, FLAG_END_HEADERS, 8)
            ]
        );
    }

    proptest! {
        #[test]
        fn heads_round_trip(length in 0..(1u32 << 24), kind: u8, flags: u8, stream in 0..=MAX_WINDOW) {
            let head = Head { length, kind, flags, stream };
            let mut out = Vec::new();
            head.write(&mut out);
            prop_assert_eq!(Head::parse(out[..].try_into().unwrap()), head);
        }

        #[test]
        fn decoding_any_frame_never_panics(kind in 0..12u8, flags: u8, stream in 0..4u32, payload in proptest::collection::vec(any::<u8>(), 0..32)) {
            let (head, payload) = frame(kind, flags, stream, &payload);
            let _ = decode(head, &payload);
        }
    }
}
