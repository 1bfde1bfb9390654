//! Decoder for the chunked transfer coding of request bodies (RFC 9112 §7.1).
//!
//! ```text
//! chunked-body   = *chunk last-chunk trailer-section CRLF
//! chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//! chunk-size     = 1*HEXDIG
//! last-chunk     = 1*("0") [ chunk-ext ] CRLF
//! chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//! trailer-section = *( field-line CRLF )
//! ```
//!
//! [`ChunkedDecoder`] is a pure state machine: it is given whatever bytes have arrived, consumes
//! what it can and never asks for them again, so the caller holds nothing back between calls. Data
//! is handed out as slices of the caller's input, without copying.
//!
//! Every line ending must be CRLF. Accepting a bare LF where a front proxy would not (or the other
//! way round) is how request smuggling starts, so a lone LF or a CR not followed by LF is an
//! error. Chunk extensions and trailer fields carry nothing we use: they are skipped, but the
//! size line and the trailer section are bounded so a client cannot make us scan forever.

/// Longest size line (chunk size plus extensions, without the CRLF) we accept.
const MAX_SIZE_LINE: usize = 4096;
/// Largest trailer section (field lines with their CRLFs, without the final CRLF).
const MAX_TRAILERS: usize = 32 * 1024;
/// Significant hex digits that still fit a `u64`.
const MAX_SIZE_DIGITS: u8 = 16;

/// Why a chunked body cannot be decoded. Each of these means a 400 and closing the connection,
/// since the framing of whatever follows is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkedError {
    /// The size line is not hex digits optionally followed by extensions.
    BadSize,
    /// The chunk size does not fit in 64 bits.
    SizeTooLarge,
    /// A line ended in a bare LF, or a CR was not followed by LF, or chunk data was not followed
    /// by CRLF.
    BadLineEnding,
    /// The size line (size and extensions) is longer than 4096 bytes.
    LineTooLong,
    /// The trailer section is larger than 32 KiB.
    TrailersTooLarge,
}

impl std::fmt::Display for ChunkedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ChunkedError::BadSize => "invalid chunk size line",
            ChunkedError::SizeTooLarge => "chunk size too large",
            ChunkedError::BadLineEnding => "chunked body line does not end in CRLF",
            ChunkedError::LineTooLong => "chunk size line too long",
            ChunkedError::TrailersTooLarge => "chunked trailer section too large",
        })
    }
}

impl std::error::Error for ChunkedError {}

/// What one call to [`ChunkedDecoder::decode`] produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// Body bytes, borrowed from the input; never empty.
    Data(&'a [u8]),
    /// All input was consumed without producing data or reaching the end.
    NeedMore,
    /// The final CRLF was consumed: the body is complete.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Hex digits of a chunk size. `line` counts the bytes of the size line so far, so 0 means
    /// no digit yet; `digits` counts significant digits (leading zeros are free).
    Size {
        value: u64,
        digits: u8,
        line: usize,
    },
    /// Whitespace after the size: only allowed before a `;` (BWS), never before the CRLF.
    SizeWs {
        value: u64,
        line: usize,
    },
    /// Inside the extensions, which are skipped up to the CR.
    Extension {
        value: u64,
        line: usize,
    },
    /// The CR of the size line was seen.
    SizeLf {
        value: u64,
    },
    /// Chunk data with `remaining > 0` bytes left.
    Data {
        remaining: u64,
    },
    /// Chunk data complete: its CRLF must follow.
    DataCr,
    DataLf,
    /// Start of a trailer line, or of the final empty line. `total` is the trailer bytes so far.
    TrailerStart {
        total: usize,
    },
    TrailerField {
        total: usize,
    },
    TrailerLf {
        total: usize,
    },
    /// The CR of the final empty line was seen.
    EndLf,
    Done,
}

/// Incremental decoder of one chunked body.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    /// Data bytes of the current chunk still to come: its whole announced size is known as soon
    /// as its size line ends, so a limit can be enforced before the data arrives.
    pub fn announced(&self) -> u64 {
        match self.state {
            State::Data { remaining } => remaining,
            _ => 0,
        }
    }

    pub fn new() -> Self {
        ChunkedDecoder {
            state: State::Size {
                value: 0,
                digits: 0,
                line: 0,
            },
        }
    }

    /// Decodes from the start of `input`. Returns how many bytes of input were consumed and what
    /// they gave. Data slices borrow from input (no copy). Called repeatedly by the caller, who
    /// drops the consumed bytes.
    ///
    /// `NeedMore` always consumes the whole input: partial lines live in the decoder's state.
    /// `Done` consumes exactly up to the end of the body, so pipelined bytes after it stay with
    /// the caller; once done, every call returns `(0, Done)`.
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Decoded<'a>), ChunkedError> {
        let mut pos = 0;
        loop {
            match self.state {
                State::Done => return Ok((pos, Decoded::Done)),
                State::Data { remaining } => {
                    let rest = &input[pos..];
                    if rest.is_empty() {
                        return Ok((pos, Decoded::NeedMore));
                    }
                    // A chunk larger than the address space is simply longer than any input.
                    let n = usize::try_from(remaining).map_or(rest.len(), |r| r.min(rest.len()));
                    let left = remaining - n as u64;
                    self.state = if left == 0 {
                        State::DataCr
                    } else {
                        State::Data { remaining: left }
                    };
                    return Ok((pos + n, Decoded::Data(&rest[..n])));
                }
                _ => {
                    let Some(&b) = input.get(pos) else {
                        return Ok((pos, Decoded::NeedMore));
                    };
                    pos += 1;
                    self.state = self.step(b)?;
                }
            }
        }
    }

    /// True once the whole body, trailers and final CRLF included, has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Advances every state but `Data` and `Done` by one byte.
    fn step(&self, b: u8) -> Result<State, ChunkedError> {
        let next = match self.state {
            State::Size {
                value,
                digits,
                line,
            } => {
                if let Some(d) = super::hex_value(b) {
                    let line = bump_line(line)?;
                    let digits = if value == 0 && d == 0 {
                        digits
                    } else {
                        digits + 1
                    };
                    if digits > MAX_SIZE_DIGITS {
                        return Err(ChunkedError::SizeTooLarge);
                    }
                    State::Size {
                        value: (value << 4) | u64::from(d),
                        digits,
                        line,
                    }
                } else if line == 0 {
                    // An empty size, or whitespace before it.
                    return Err(ChunkedError::BadSize);
                } else {
                    match b {
                        b' ' | b'\t' => State::SizeWs {
                            value,
                            line: bump_line(line)?,
                        },
                        b';' => State::Extension {
                            value,
                            line: bump_line(line)?,
                        },
                        b'\r' => State::SizeLf { value },
                        b'\n' => return Err(ChunkedError::BadLineEnding),
                        _ => return Err(ChunkedError::BadSize),
                    }
                }
            }
            State::SizeWs { value, line } => match b {
                b' ' | b'\t' => State::SizeWs {
                    value,
                    line: bump_line(line)?,
                },
                b';' => State::Extension {
                    value,
                    line: bump_line(line)?,
                },
                b'\n' => return Err(ChunkedError::BadLineEnding),
                // Trailing whitespace after the size, or a second number.
                _ => return Err(ChunkedError::BadSize),
            },
            State::Extension { value, line } => match b {
                b'\r' => State::SizeLf { value },
                b'\n' => return Err(ChunkedError::BadLineEnding),
                // No token or quoted-string may hold a control byte other than HTAB.
                0..=0x08 | 0x0a..=0x1f | 0x7f => return Err(ChunkedError::BadSize),
                _ => State::Extension {
                    value,
                    line: bump_line(line)?,
                },
            },
            State::SizeLf { value } => match (b, value) {
                (b'\n', 0) => State::TrailerStart { total: 0 },
                (b'\n', remaining) => State::Data { remaining },
                _ => return Err(ChunkedError::BadLineEnding),
            },
            State::DataCr => match b {
                b'\r' => State::DataLf,
                _ => return Err(ChunkedError::BadLineEnding),
            },
            State::DataLf => match b {
                b'\n' => State::Size {
                    value: 0,
                    digits: 0,
                    line: 0,
                },
                _ => return Err(ChunkedError::BadLineEnding),
            },
            State::TrailerStart { total } => match b {
                b'\r' => State::EndLf,
                b'\n' => return Err(ChunkedError::BadLineEnding),
                _ => State::TrailerField {
                    total: bump_trailers(total)?,
                },
            },
            State::TrailerField { total } => match b {
                b'\r' => State::TrailerLf {
                    total: bump_trailers(total)?,
                },
                b'\n' => return Err(ChunkedError::BadLineEnding),
                _ => State::TrailerField {
                    total: bump_trailers(total)?,
                },
            },
            State::TrailerLf { total } => match b {
                b'\n' => State::TrailerStart {
                    total: bump_trailers(total)?,
                },
                _ => return Err(ChunkedError::BadLineEnding),
            },
            State::EndLf => match b {
                b'\n' => State::Done,
                _ => return Err(ChunkedError::BadLineEnding),
            },
            // `decode` never steps these.
            State::Data { .. } | State::Done => self.state,
        };
        Ok(next)
    }
}

fn bump_line(line: usize) -> Result<usize, ChunkedError> {
    if line >= MAX_SIZE_LINE {
        Err(ChunkedError::LineTooLong)
    } else {
        Ok(line + 1)
    }
}

fn bump_trailers(total: usize) -> Result<usize, ChunkedError> {
    if total >= MAX_TRAILERS {
        Err(ChunkedError::TrailersTooLarge)
    } else {
        Ok(total + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a caller ends up with after feeding a whole input.
    #[derive(Debug, PartialEq, Eq)]
    struct Outcome {
        body: Vec<u8>,
        done: bool,
        /// Bytes left in the caller's buffer (pipelined data after `Done`).
        rest: Vec<u8>,
    }

    /// Plays the caller: appends each piece to a buffer, decodes until `NeedMore` or `Done`, and
    /// drops what was consumed.
    fn feed(pieces: &[&[u8]]) -> Result<Outcome, ChunkedError> {
        let mut dec = ChunkedDecoder::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut body = Vec::new();
        let mut done = false;
        for piece in pieces {
            buf.extend_from_slice(piece);
            if done {
                continue;
            }
            loop {
                let (n, out) = dec.decode(&buf)?;
                assert!(n <= buf.len());
                match out {
                    Decoded::Data(d) => {
                        assert!(!d.is_empty(), "Data is never empty");
                        body.extend_from_slice(d);
                        buf.drain(..n);
                    }
                    Decoded::NeedMore => {
                        assert_eq!(n, buf.len(), "NeedMore consumes everything");
                        buf.drain(..n);
                        break;
                    }
                    Decoded::Done => {
                        buf.drain(..n);
                        done = true;
                        assert!(dec.is_done());
                        assert_eq!(dec.decode(&buf), Ok((0, Decoded::Done)));
                        break;
                    }
                }
            }
        }
        Ok(Outcome {
            body,
            done,
            rest: buf,
        })
    }

    /// Decodes `input` whole, split at every offset, and one byte at a time; all must agree.
    fn decode_all(input: &[u8]) -> Result<Outcome, ChunkedError> {
        let whole = feed(&[input]);
        for i in 0..=input.len() {
            let (a, b) = input.split_at(i);
            assert_eq!(feed(&[a, b]), whole, "split at {i}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(feed(&bytes), whole, "one byte at a time");
        whole
    }

    fn body(input: &[u8]) -> Vec<u8> {
        let out = decode_all(input).expect("valid chunked body");
        assert!(out.done, "body is complete");
        assert!(out.rest.is_empty());
        out.body
    }

    #[test]
    fn a_single_chunk_is_decoded() {
        assert_eq!(body(b"5\r\nhello\r\n0\r\n\r\n"), b"hello");
    }

    #[test]
    fn multiple_chunks_are_concatenated() {
        assert_eq!(
            body(b"5\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\n\r\n"),
            b"hello 0123456789"
        );
    }

    #[test]
    fn hex_sizes_are_case_insensitive() {
        let data = vec![b'x'; 0xab];
        let mut input = b"aB\r\n".to_vec();
        input.extend_from_slice(&data);
        input.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(body(&input), data);
    }

    #[test]
    fn chunk_data_may_hold_crlf_and_binary_bytes() {
        assert_eq!(body(b"6\r\n\r\n\0\xff\n\r\r\n0\r\n\r\n"), b"\r\n\0\xff\n\r");
    }

    #[test]
    fn a_zero_size_first_chunk_is_an_empty_body() {
        assert_eq!(body(b"0\r\n\r\n"), b"");
    }

    #[test]
    fn leading_zeros_in_the_size_are_accepted() {
        assert_eq!(
            body(b"0000000000000000000005\r\nhello\r\n000\r\n\r\n"),
            b"hello"
        );
    }

    #[test]
    fn extensions_are_skipped() {
        assert_eq!(
            body(b"5;name=value\r\nhello\r\n3;a;b=\"q;\\\"x\"\r\nabc\r\n0;last\r\n\r\n"),
            b"helloabc"
        );
    }

    #[test]
    fn whitespace_before_an_extension_is_tolerated() {
        assert_eq!(body(b"5 \t ; ext = v\r\nhello\r\n0 ;x\r\n\r\n"), b"hello");
    }

    #[test]
    fn trailers_are_skipped() {
        assert_eq!(
            body(b"5\r\nhello\r\n0\r\nExpires: never\r\nX-Sum: 1234\r\n\r\n"),
            b"hello"
        );
    }

    #[test]
    fn pipelined_bytes_after_the_body_are_left_to_the_caller() {
        let out = decode_all(b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(out.body, b"abc");
        assert!(out.done);
        assert_eq!(out.rest, b"GET / HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn done_consumes_exactly_the_body() {
        let mut dec = ChunkedDecoder::new();
        let input = b"0\r\n\r\nXYZ";
        assert_eq!(dec.decode(input), Ok((5, Decoded::Done)));
        assert!(dec.is_done());
    }

    #[test]
    fn data_borrows_from_the_input_and_consumes_the_framing_before_it() {
        let mut dec = ChunkedDecoder::new();
        let input = b"5\r\nhel";
        assert_eq!(dec.decode(input), Ok((6, Decoded::Data(b"hel"))));
        assert_eq!(dec.decode(b"lo\r\n0\r\n"), Ok((2, Decoded::Data(b"lo"))));
        assert_eq!(dec.decode(b"\r\n0\r\n"), Ok((5, Decoded::NeedMore)));
        assert!(!dec.is_done());
        assert_eq!(dec.decode(b"\r\n"), Ok((2, Decoded::Done)));
    }

    #[test]
    fn an_incomplete_body_is_not_done() {
        let out = decode_all(b"5\r\nhello\r\n0\r\n").unwrap();
        assert_eq!(out.body, b"hello");
        assert!(!out.done);
        let out = decode_all(b"").unwrap();
        assert!(!out.done);
    }

    #[test]
    fn a_huge_size_is_accepted_and_streams() {
        let out = decode_all(b"ffffffffffffffff\r\nabc").unwrap();
        assert_eq!(out.body, b"abc");
        assert!(!out.done);
    }

    #[test]
    fn more_than_sixteen_significant_hex_digits_is_too_large() {
        assert_eq!(
            decode_all(b"10000000000000000\r\n"),
            Err(ChunkedError::SizeTooLarge)
        );
        assert_eq!(
            decode_all(b"0fffffffffffffffff\r\n"),
            Err(ChunkedError::SizeTooLarge)
        );
    }

    #[test]
    fn invalid_hex_is_a_bad_size() {
        for input in [
            &b"g\r\n"[..],
            b"5x\r\nhello\r\n",
            b"-5\r\n",
            b"+5\r\n",
            b"0x5\r\n",
            b"\r\n",
            b";ext\r\n",
        ] {
            assert_eq!(decode_all(input), Err(ChunkedError::BadSize), "{input:?}");
        }
    }

    #[test]
    fn spaces_around_the_size_are_rejected() {
        assert_eq!(decode_all(b" 5\r\nhello"), Err(ChunkedError::BadSize));
        assert_eq!(decode_all(b"5 \r\nhello"), Err(ChunkedError::BadSize));
        assert_eq!(decode_all(b"5 5\r\nhello"), Err(ChunkedError::BadSize));
    }

    #[test]
    fn control_bytes_in_an_extension_are_rejected() {
        assert_eq!(decode_all(b"5;a\0b\r\nhello"), Err(ChunkedError::BadSize));
    }

    #[test]
    fn bare_lf_is_rejected_everywhere() {
        for input in [
            &b"5\nhello\r\n0\r\n\r\n"[..],
            b"5;ext\nhello\r\n0\r\n\r\n",
            b"5 \nhello\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"5\r\nhello\r\n0\n\r\n",
            b"5\r\nhello\r\n0\r\n\n",
            b"0\r\nX: y\n\r\n",
            b"0\r\n\nX: y\r\n\r\n",
        ] {
            assert_eq!(
                decode_all(input),
                Err(ChunkedError::BadLineEnding),
                "{input:?}"
            );
        }
    }

    #[test]
    fn a_cr_not_followed_by_lf_is_rejected() {
        for input in [
            &b"5\rhello"[..],
            b"5\r\nhello\rX",
            b"0\r\n\rX",
            b"0\r\nX: y\rZ",
        ] {
            assert_eq!(
                decode_all(input),
                Err(ChunkedError::BadLineEnding),
                "{input:?}"
            );
        }
    }

    #[test]
    fn missing_crlf_after_chunk_data_is_rejected() {
        assert_eq!(
            decode_all(b"3\r\nhello\r\n0\r\n\r\n"),
            Err(ChunkedError::BadLineEnding)
        );
        assert_eq!(
            decode_all(b"3\r\nabc0\r\n\r\n"),
            Err(ChunkedError::BadLineEnding)
        );
    }

    #[test]
    fn a_size_line_of_4096_bytes_is_accepted_and_longer_is_not() {
        let mut ok = b"1;".to_vec();
        ok.resize(MAX_SIZE_LINE, b'x');
        ok.extend_from_slice(b"\r\nA\r\n0\r\n\r\n");
        assert_eq!(feed(&[&ok]).unwrap().body, b"A");

        let mut long = b"1;".to_vec();
        long.resize(MAX_SIZE_LINE + 1, b'x');
        long.extend_from_slice(b"\r\nA\r\n0\r\n\r\n");
        assert_eq!(feed(&[&long]), Err(ChunkedError::LineTooLong));
        let bytes: Vec<&[u8]> = long.chunks(7).collect();
        assert_eq!(feed(&bytes), Err(ChunkedError::LineTooLong));
    }

    #[test]
    fn a_long_run_of_leading_zeros_hits_the_line_limit() {
        let mut input = vec![b'0'; MAX_SIZE_LINE + 1];
        input.extend_from_slice(b"\r\n\r\n");
        assert_eq!(feed(&[&input]), Err(ChunkedError::LineTooLong));
    }

    #[test]
    fn trailers_up_to_32_kib_are_accepted_and_larger_are_not() {
        let line = format!("X-Pad: {}\r\n", "p".repeat(1015));
        assert_eq!(line.len(), 1024);
        let mut ok = b"0\r\n".to_vec();
        for _ in 0..32 {
            ok.extend_from_slice(line.as_bytes());
        }
        ok.extend_from_slice(b"\r\n");
        let out = feed(&[&ok]).unwrap();
        assert!(out.done);

        let mut big = b"0\r\n".to_vec();
        for _ in 0..32 {
            big.extend_from_slice(line.as_bytes());
        }
        big.extend_from_slice(b"X\r\n\r\n");
        assert_eq!(feed(&[&big]), Err(ChunkedError::TrailersTooLarge));
    }

    #[test]
    fn calling_again_after_an_error_does_not_panic() {
        // After an error the caller closes the connection; the decoder promises nothing more.
        let mut dec = ChunkedDecoder::new();
        assert_eq!(dec.decode(b"z"), Err(ChunkedError::BadSize));
        let _ = dec.decode(b"5\r\nhello\r\n");
    }

    /// Property tests: any bytes, any split, and encode-then-decode round trips.
    mod props {
        use super::*;
        use crate::http::testing::cut;
        use proptest::collection::vec;
        use proptest::prelude::*;
        use proptest::sample::Index;

        /// Bytes that mostly look like chunked framing, so that deep states are reached.
        fn framing_like() -> impl Strategy<Value = Vec<u8>> {
            let token = prop_oneof![
                Just(b"\r\n".to_vec()),
                Just(b"\r".to_vec()),
                Just(b"\n".to_vec()),
                Just(b"0".to_vec()),
                Just(b";".to_vec()),
                Just(b"=".to_vec()),
                Just(b" ".to_vec()),
                Just(b"\t".to_vec()),
                Just(b"\"".to_vec()),
                Just(b"X-T: v".to_vec()),
                "[0-9a-fA-F]{1,17}".prop_map(String::into_bytes),
                vec(any::<u8>(), 1..8),
            ];
            vec(token, 0..40).prop_map(|t| t.concat())
        }

        /// One chunk of data with how its size line is written.
        #[derive(Debug, Clone)]
        struct Chunk {
            data: Vec<u8>,
            upper: bool,
            zeros: usize,
            extension: &'static str,
        }

        fn chunk() -> impl Strategy<Value = Chunk> {
            (
                vec(any::<u8>(), 1..200),
                any::<bool>(),
                0usize..4,
                prop::sample::select(vec!["", ";a", ";a=b", " ; n=\"q v\"", ";x=1;y", "\t;e"]),
            )
                .prop_map(|(data, upper, zeros, extension)| Chunk {
                    data,
                    upper,
                    zeros,
                    extension,
                })
        }

        fn encode(chunks: &[Chunk], trailers: &[String]) -> Vec<u8> {
            let mut out = Vec::new();
            for c in chunks {
                let size = if c.upper {
                    format!("{:X}", c.data.len())
                } else {
                    format!("{:x}", c.data.len())
                };
                out.extend_from_slice("0".repeat(c.zeros).as_bytes());
                out.extend_from_slice(format!("{size}{}\r\n", c.extension).as_bytes());
                out.extend_from_slice(&c.data);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n");
            for t in trailers {
                out.extend_from_slice(format!("{t}\r\n").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            out
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn any_bytes_cut_anywhere_decode_as_the_whole_does(
                input in prop_oneof![vec(any::<u8>(), 0..300), framing_like()],
                points in vec(any::<Index>(), 0..6),
            ) {
                let whole = feed(&[&input]);
                prop_assert_eq!(feed(&cut(&input, &points)), whole);
            }

            #[test]
            fn random_chunks_encoded_then_decoded_give_the_data_and_the_rest_back(
                chunks in vec(chunk(), 0..8),
                trailers in vec("[A-Za-z-]{1,10}: [ -~]{0,20}", 0..3),
                rest in vec(any::<u8>(), 0..40),
                points in vec(any::<Index>(), 0..8),
            ) {
                let mut input = encode(&chunks, &trailers);
                input.extend_from_slice(&rest);
                let out = feed(&cut(&input, &points)).expect("a valid encoding decodes");
                prop_assert!(out.done);
                let data: Vec<u8> = chunks.iter().flat_map(|c| c.data.clone()).collect();
                prop_assert_eq!(out.body, data);
                prop_assert_eq!(out.rest, rest);
            }
        }
    }
}
