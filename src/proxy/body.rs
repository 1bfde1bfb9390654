//! The backend's response body as it arrives: where it ends by its framing (a length, chunked,
//! or the connection closing), handed on piece by piece without copying, and the one place
//! that decides whether a backend that stopped sending left the body complete. A body cut
//! short must reach the client as a cut connection, never as a response that looks whole.

use crate::http::chunked::{ChunkedDecoder, ChunkedError, Decoded};

use super::response::BodyFraming;

/// What one call to [`BodyReader::read`] gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Body bytes (borrowed from the input; never empty), to send on to the client.
    Data(&'a [u8]),
    /// All the input was consumed; more is needed.
    NeedMore,
    /// The body is complete. Input after it (bytes beyond a Content-Length, or after the last
    /// chunk) is not the body's: the connection cannot be reused.
    Done,
}

/// Why a body cannot be passed on whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Broken chunked framing (nginx: "upstream sent invalid chunked response").
    Chunked(ChunkedError),
    /// The backend closed before the end its framing announced ("upstream prematurely closed
    /// connection while reading upstream").
    Truncated,
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::Chunked(e) => write!(f, "upstream sent invalid chunked response: {e}"),
            BodyError::Truncated => {
                f.write_str("upstream prematurely closed connection while reading upstream")
            }
        }
    }
}

impl std::error::Error for BodyError {}

/// The reading state of one response body.
#[derive(Debug, Clone)]
pub enum BodyReader {
    /// `left` bytes still to come (a Content-Length body).
    Length {
        left: u64,
    },
    Chunked(ChunkedDecoder),
    /// Everything until the backend closes.
    UntilClose,
    Done,
}

impl BodyReader {
    pub fn new(framing: BodyFraming) -> BodyReader {
        match framing {
            BodyFraming::None | BodyFraming::Length(0) => BodyReader::Done,
            BodyFraming::Length(n) => BodyReader::Length { left: n },
            BodyFraming::Chunked => BodyReader::Chunked(ChunkedDecoder::new()),
            BodyFraming::UntilClose => BodyReader::UntilClose,
        }
    }

    /// Reads from the start of `input`: how many bytes were consumed and what they gave. The
    /// caller drops the consumed bytes and calls again while there is input and no `Done`.
    pub fn read<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Piece<'a>), BodyError> {
        match self {
            BodyReader::Done => Ok((0, Piece::Done)),
            _ if input.is_empty() => Ok((0, Piece::NeedMore)),
            BodyReader::UntilClose => Ok((input.len(), Piece::Data(input))),
            BodyReader::Length { left } => {
                let n = usize::try_from(*left).map_or(input.len(), |l| l.min(input.len()));
                *left -= n as u64;
                if *left == 0 {
                    *self = BodyReader::Done;
                }
                Ok((n, Piece::Data(&input[..n])))
            }
            BodyReader::Chunked(decoder) => {
                let (n, out) = decoder.decode(input).map_err(BodyError::Chunked)?;
                Ok(match out {
                    Decoded::Data(data) => (n, Piece::Data(data)),
                    Decoded::NeedMore => (n, Piece::NeedMore),
                    Decoded::Done => {
                        *self = BodyReader::Done;
                        (n, Piece::Done)
                    }
                })
            }
        }
    }

    /// The backend closed its side: fine when the body is complete (or ends at the close), a
    /// [`BodyError::Truncated`] otherwise.
    pub fn end_of_input(&mut self) -> Result<(), BodyError> {
        match self {
            BodyReader::Done => Ok(()),
            BodyReader::UntilClose => {
                *self = BodyReader::Done;
                Ok(())
            }
            BodyReader::Length { .. } | BodyReader::Chunked(_) => Err(BodyError::Truncated),
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self, BodyReader::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::testing::cut;
    use proptest::prelude::*;

    /// Feeds `pieces` as they would arrive, then the end of input if `closed`: the body passed
    /// on, whether it completed, the bytes left after it, or the error.
    fn feed(
        framing: BodyFraming,
        pieces: &[&[u8]],
        closed: bool,
    ) -> Result<(Vec<u8>, bool, Vec<u8>), BodyError> {
        let mut reader = BodyReader::new(framing);
        let mut buf: Vec<u8> = Vec::new();
        let mut body = Vec::new();
        for piece in pieces {
            buf.extend_from_slice(piece);
            while !reader.is_done() {
                let (n, out) = reader.read(&buf)?;
                assert!(n <= buf.len());
                let stop = match out {
                    Piece::Data(d) => {
                        assert!(!d.is_empty());
                        body.extend_from_slice(d);
                        false
                    }
                    Piece::NeedMore => true,
                    Piece::Done => true,
                };
                buf.drain(..n);
                if stop {
                    break;
                }
            }
        }
        if closed {
            reader.end_of_input()?;
        }
        Ok((body, reader.is_done(), buf))
    }

    #[test]
    fn each_framing_ends_where_it_says_at_every_split() {
        // (framing, input, closed at the end, body, complete, bytes left after it)
        type Case = (
            BodyFraming,
            &'static [u8],
            bool,
            &'static [u8],
            bool,
            &'static [u8],
        );
        let cases: [Case; 7] = [
            (
                BodyFraming::Length(5),
                b"helloNEXT",
                false,
                b"hello",
                true,
                b"NEXT",
            ),
            (BodyFraming::Length(0), b"x", false, b"", true, b"x"),
            (BodyFraming::None, b"", false, b"", true, b""),
            (
                BodyFraming::Chunked,
                b"5\r\nhello\r\n1;x=y\r\n!\r\n0\r\nT: v\r\n\r\nNEXT",
                false,
                b"hello!",
                true,
                b"NEXT",
            ),
            (
                BodyFraming::UntilClose,
                b"all of it",
                true,
                b"all of it",
                true,
                b"",
            ),
            (
                BodyFraming::UntilClose,
                b"so far",
                false,
                b"so far",
                false,
                b"",
            ),
            (
                BodyFraming::Length(10),
                b"12345",
                false,
                b"12345",
                false,
                b"",
            ),
        ];
        for (framing, input, closed, body, done, rest) in cases {
            for i in 0..=input.len() {
                for j in i..=input.len() {
                    let pieces = [&input[..i], &input[i..j], &input[j..]];
                    assert_eq!(
                        feed(framing, &pieces, closed),
                        Ok((body.to_vec(), done, rest.to_vec())),
                        "{framing:?} {:?} cut at {i}, {j}",
                        String::from_utf8_lossy(input)
                    );
                }
            }
        }
    }

    #[test]
    fn a_backend_closing_before_the_end_is_a_truncated_body() {
        let truncated = [
            (BodyFraming::Length(1000), &b"only a hundred"[..]),
            (BodyFraming::Chunked, b"a\r\n0123456789\r\n"),
            (BodyFraming::Chunked, b"5\r\nhel"),
            (BodyFraming::Chunked, b"0\r\n"),
            (BodyFraming::Length(1), b""),
        ];
        for (framing, input) in truncated {
            assert_eq!(
                feed(framing, &[input], true),
                Err(BodyError::Truncated),
                "{framing:?} {input:?}"
            );
        }
        assert_eq!(
            feed(BodyFraming::Chunked, &[b"zz\r\n"], false),
            Err(BodyError::Chunked(ChunkedError::BadSize))
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_pieces_give_the_body_they_give_whole(
            input in proptest::collection::vec(any::<u8>(), 0..200),
            points in proptest::collection::vec(any::<proptest::sample::Index>(), 0..5),
            framing in prop_oneof![
                Just(BodyFraming::Chunked),
                Just(BodyFraming::UntilClose),
                (0u64..150).prop_map(BodyFraming::Length),
            ],
            closed in any::<bool>(),
        ) {
            let whole = feed(framing, &[&input], closed);
            let pieces = cut(&input, &points);
            prop_assert_eq!(feed(framing, &pieces, closed), whole);
        }
    }
}
