//! A request body as it arrives on an HTTP/1 connection: delimited by Content-Length or
//! chunked (RFC 9112 §6), counted against the limit (or, after a protocol switch, the client's
//! side of a tunnel: every byte until its end of stream), and handed to the exchange's sink, which
//! may take fewer bytes than offered (backpressure): what it leaves stays in the connection's
//! input, and no more is read meanwhile.

use crate::exchange::{Cx, Exchange};
use crate::http::chunked::{ChunkedDecoder, Decoded};
use crate::http::request::Framing;

enum Decoder {
    Length {
        remaining: u64,
    },
    Chunked(ChunkedDecoder),
    /// A tunnel after a protocol switch: every byte, until the client's end of stream.
    Tunnel {
        ended: bool,
    },
}

/// Why the body cannot be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Broken framing (400) or over the limit (413).
    Status(u16),
    /// The sink failed; the exchange answers with its error already.
    Refused,
}

/// What feeding the sink left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fed {
    /// The whole body is in.
    Complete,
    /// More bytes are needed from the client.
    NeedMore,
    /// The sink takes nothing now: bytes wait in the input.
    Full,
}

/// The request body of the exchange in progress.
pub struct Incoming {
    decoder: Decoder,
    /// Decoded body bytes at the front of the input that the sink has not taken yet.
    pending: usize,
    received: u64,
}

impl Incoming {
    pub fn new(framing: Framing) -> Incoming {
        let decoder = match framing {
            Framing::Chunked => Decoder::Chunked(ChunkedDecoder::new()),
            Framing::Length(remaining) => Decoder::Length { remaining },
            // An HTTP/1 request is never delimited by its end (RFC 9112 §6.3: no body then).
            Framing::None | Framing::UntilEnd => Decoder::Length { remaining: 0 },
        };
        Incoming {
            decoder,
            pending: 0,
            received: 0,
        }
    }

    /// The client's bytes after a protocol switch (`101`), unframed and unlimited, up to its
    /// end of stream ([`Incoming::end_of_input`]).
    pub fn tunnel() -> Incoming {
        Incoming {
            decoder: Decoder::Tunnel { ended: false },
            pending: 0,
            received: 0,
        }
    }

    /// Whether this is a tunnel's input.
    pub fn is_tunnel(&self) -> bool {
        matches!(self.decoder, Decoder::Tunnel { .. })
    }

    /// The client's end of stream: a tunnel's input is complete once what came before it is
    /// taken. (A framed body cut short is not complete: this changes nothing for it.)
    pub fn end_of_input(&mut self) {
        if let Decoder::Tunnel { ended } = &mut self.decoder {
            *ended = true;
        }
    }

    /// Whether the whole body has been decoded and taken.
    pub fn is_complete(&self) -> bool {
        self.pending == 0
            && match &self.decoder {
                Decoder::Length { remaining } => *remaining == 0,
                Decoder::Chunked(decoder) => decoder.is_done(),
                Decoder::Tunnel { ended } => *ended,
            }
    }

    /// Moves body bytes from `input` to the exchange, as far as the sink takes them; a partial
    /// chunk line stays in `input` until more comes.
    pub fn feed(
        &mut self,
        input: &mut Vec<u8>,
        exchange: &mut Exchange,
        cx: &mut Cx,
    ) -> Result<Fed, BodyError> {
        loop {
            if self.pending > 0 {
                let taken = exchange
                    .offer(&input[..self.pending], cx)
                    .map_err(|_| BodyError::Refused)?;
                input.drain(..taken);
                self.pending -= taken;
                if self.pending > 0 {
                    return Ok(Fed::Full);
                }
            }
            if self.is_complete() {
                return Ok(Fed::Complete);
            }
            if input.is_empty() {
                return Ok(Fed::NeedMore);
            }
            let (used, data) = match &mut self.decoder {
                Decoder::Tunnel { .. } => {
                    // Passed on as it comes: no framing, and no limit (it is not a body).
                    self.pending = input.len();
                    continue;
                }
                Decoder::Length { remaining } => {
                    let take = (*remaining).min(input.len() as u64) as usize;
                    *remaining -= take as u64;
                    (0, 0..take)
                }
                Decoder::Chunked(decoder) => match decoder.decode(input) {
                    Ok((used, Decoded::Data(data))) => {
                        let start = data.as_ptr() as usize - input.as_ptr() as usize;
                        (used, start..start + data.len())
                    }
                    Ok((used, Decoded::NeedMore)) => {
                        if used == 0 {
                            return Ok(Fed::NeedMore);
                        }
                        (used, 0..0)
                    }
                    Ok((used, Decoded::Done)) => (used, 0..0),
                    Err(_) => return Err(BodyError::Status(400)),
                },
            };
            let announced = match &self.decoder {
                Decoder::Chunked(decoder) => decoder.announced(),
                Decoder::Length { .. } | Decoder::Tunnel { .. } => 0,
            };
            self.received += data.len() as u64;
            let limit = exchange.body_limit();
            if limit > 0 && self.received.saturating_add(announced) > limit {
                return Err(BodyError::Status(413));
            }
            // The data now starts the input: framing before it goes, framing after it is
            // dropped once the data is taken.
            match &self.decoder {
                Decoder::Length { .. } | Decoder::Tunnel { .. } => self.pending = data.len(),
                Decoder::Chunked(_) => {
                    let len = data.len();
                    if len > 0 {
                        input.copy_within(data.clone(), 0);
                    }
                    input.drain(len..used);
                    self.pending = len;
                }
            }
        }
    }
}
