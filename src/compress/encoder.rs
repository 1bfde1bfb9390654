//! The three compressors behind one face: take input, append output, flush what is buffered
//! (so that a producer's pause reaches the client), finish the stream. Each is sans-I/O and
//! driven with buffers; what each allocates is the table in `compress`.

use crate::http::negotiation::Coding;
use brotli::enc::StandardAlloc;
use brotli::enc::encode::{
    BrotliEncoderOperation as BrotliOp, BrotliEncoderParameter as BrotliParam,
    BrotliEncoderStateStruct,
};
use flate2::{Compress, Compression, FlushCompress, Status};
use std::io;
use zstd::zstd_safe::zstd_sys::ZSTD_EndDirective;
use zstd::zstd_safe::{CCtx, CParameter, InBuffer, OutBuffer};

/// brotli's window: 2^18 = 256 KiB (see the memory table in `compress`; below 2^17, the
/// encoder switches to hashers that need far more memory at qualities 5 and up).
const BROTLI_LGWIN: u32 = 18;
/// zstd's largest window: 2^18 = 256 KiB.
const ZSTD_WINDOW_LOG: u32 = 18;
/// Room added to the output before each step of a compressor.
const OUT_STEP: usize = 16 * 1024;

/// A compressing stream of one coding.
pub struct Compressor(Inner);

enum Inner {
    Gzip(Box<Compress>),
    Brotli(Box<BrotliEncoderStateStruct<StandardAlloc>>),
    Zstd(Box<CCtx<'static>>),
}

impl Compressor {
    /// A stream of `coding` at `level`; `length`: the input's exact length when known (smaller
    /// windows, as nginx sizes gzip's, and zstd's tables for it).
    pub fn new(coding: Coding, level: u32, length: Option<u64>) -> io::Result<Compressor> {
        Ok(Compressor(match coding {
            Coding::Gzip => {
                // The smallest window that holds the whole body (nginx's rule), at least 2^9.
                let bits = match length {
                    Some(n) => (64 - n.saturating_sub(1).leading_zeros()).clamp(9, 15) as u8,
                    None => 15,
                };
                Inner::Gzip(Box::new(Compress::new_gzip(
                    Compression::new(level.clamp(1, 9)),
                    bits,
                )))
            }
            Coding::Br => {
                let mut state = BrotliEncoderStateStruct::new(StandardAlloc::default());
                state.set_parameter(BrotliParam::BROTLI_PARAM_QUALITY, level.min(11));
                state.set_parameter(BrotliParam::BROTLI_PARAM_LGWIN, BROTLI_LGWIN);
                if let Some(n) = length {
                    state.set_parameter(
                        BrotliParam::BROTLI_PARAM_SIZE_HINT,
                        n.min(u64::from(u32::MAX)) as u32,
                    );
                }
                Inner::Brotli(Box::new(state))
            }
            Coding::Zstd => {
                let mut cctx = CCtx::try_create()
                    .ok_or_else(|| io::Error::other("zstd: cannot create a context"))?;
                let set = |cctx: &mut CCtx, p| cctx.set_parameter(p).map_err(zstd_error);
                set(&mut cctx, CParameter::CompressionLevel(level as i32))?;
                set(&mut cctx, CParameter::WindowLog(ZSTD_WINDOW_LOG))?;
                set(&mut cctx, CParameter::ChecksumFlag(false))?;
                if let Some(n) = length {
                    cctx.set_pledged_src_size(Some(n)).map_err(zstd_error)?;
                }
                Inner::Zstd(Box::new(cctx))
            }
        }))
    }

    /// Compresses all of `input`, appending what comes out to `out` (maybe nothing yet: the
    /// compressor keeps a window). Returns the bytes taken: all of them.
    pub fn process(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<usize> {
        match &mut self.0 {
            Inner::Gzip(c) => gzip(c, input, out, FlushCompress::None).map(|_| input.len()),
            Inner::Brotli(s) => brotli(s, input, out, BrotliOp::BROTLI_OPERATION_PROCESS),
            Inner::Zstd(c) => zstd(c, input, out, ZSTD_EndDirective::ZSTD_e_continue),
        }
    }

    /// Appends everything the compressor holds back, so that the client can decode all the
    /// input so far (a sync flush; the stream goes on).
    pub fn flush(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        match &mut self.0 {
            Inner::Gzip(c) => gzip(c, &[], out, FlushCompress::Sync).map(|_| ()),
            Inner::Brotli(s) => brotli(s, &[], out, BrotliOp::BROTLI_OPERATION_FLUSH).map(|_| ()),
            Inner::Zstd(c) => zstd(c, &[], out, ZSTD_EndDirective::ZSTD_e_flush).map(|_| ()),
        }
    }

    /// The input ended: appends the rest and the stream's end.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        match &mut self.0 {
            Inner::Gzip(c) => gzip(c, &[], out, FlushCompress::Finish).map(|_| ()),
            Inner::Brotli(s) => brotli(s, &[], out, BrotliOp::BROTLI_OPERATION_FINISH).map(|_| ()),
            Inner::Zstd(c) => zstd(c, &[], out, ZSTD_EndDirective::ZSTD_e_end).map(|_| ()),
        }
    }
}

/// Runs deflate over `input` with `flush` until it has taken everything and (for a flush or
/// the finish) written everything.
fn gzip(c: &mut Compress, input: &[u8], out: &mut Vec<u8>, flush: FlushCompress) -> io::Result<()> {
    let mut taken = 0;
    loop {
        out.reserve(OUT_STEP);
        let before = c.total_in();
        let status = c
            .compress_vec(&input[taken..], out, flush)
            .map_err(|e| io::Error::other(format!("gzip: {e}")))?;
        taken += (c.total_in() - before) as usize;
        if status == Status::StreamEnd {
            return Ok(());
        }
        // Everything taken, and room left over: nothing more to write now.
        let room_left = out.len() < out.capacity();
        if !matches!(flush, FlushCompress::Finish) && taken == input.len() && room_left {
            return Ok(());
        }
    }
}

fn brotli(
    s: &mut BrotliEncoderStateStruct<StandardAlloc>,
    input: &[u8],
    out: &mut Vec<u8>,
    op: BrotliOp,
) -> io::Result<usize> {
    let mut available_in = input.len();
    let mut in_offset = 0;
    loop {
        let start = out.len();
        out.resize(start + OUT_STEP, 0);
        let mut available_out = OUT_STEP;
        let mut out_offset = start;
        let mut total = None;
        let ok = s.compress_stream(
            op,
            &mut available_in,
            input,
            &mut in_offset,
            &mut available_out,
            out,
            &mut out_offset,
            &mut total,
            &mut |_, _, _, _| (),
        );
        out.truncate(out_offset);
        if !ok {
            return Err(io::Error::other("brotli: the encoder failed"));
        }
        let done = match op {
            BrotliOp::BROTLI_OPERATION_FINISH => s.is_finished(),
            _ => available_in == 0 && !s.has_more_output(),
        };
        if done {
            return Ok(in_offset);
        }
    }
}

fn zstd(
    c: &mut CCtx<'static>,
    input: &[u8],
    out: &mut Vec<u8>,
    directive: ZSTD_EndDirective,
) -> io::Result<usize> {
    let len = input.len();
    let mut input = InBuffer::around(input);
    loop {
        out.reserve(OUT_STEP);
        let start = out.len();
        let mut output = OutBuffer::around_pos(out, start);
        let left = c
            .compress_stream2(&mut output, &mut input, directive)
            .map_err(zstd_error)?;
        let all_in = input.pos() == len;
        let done = match directive {
            ZSTD_EndDirective::ZSTD_e_continue => all_in,
            _ => all_in && left == 0,
        };
        if done {
            return Ok(input.pos());
        }
    }
}

fn zstd_error(code: usize) -> io::Error {
    io::Error::other(format!("zstd: {}", zstd::zstd_safe::get_error_name(code)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| b"<p>webserv compresses what it serves</p>\n"[i % 41] ^ ((i / 4099) % 5) as u8)
            .collect()
    }

    /// Compresses `input` in `piece`-byte steps, flushing after each when `flush`.
    fn run(coding: Coding, level: u32, input: &[u8], piece: usize, flush: bool) -> Vec<u8> {
        let mut c = Compressor::new(coding, level, None).unwrap();
        let mut out = Vec::new();
        for chunk in input.chunks(piece.max(1)) {
            assert_eq!(c.process(chunk, &mut out).unwrap(), chunk.len());
            if flush {
                c.flush(&mut out).unwrap();
            }
        }
        c.finish(&mut out).unwrap();
        out
    }

    fn decode(coding: Coding, data: &[u8]) -> Vec<u8> {
        let mut plain = Vec::new();
        match coding {
            Coding::Gzip => {
                flate2::read::GzDecoder::new(data)
                    .read_to_end(&mut plain)
                    .unwrap();
            }
            Coding::Br => {
                brotli::Decompressor::new(data, 4096)
                    .read_to_end(&mut plain)
                    .unwrap();
            }
            Coding::Zstd => {
                plain = zstd::stream::decode_all(data).unwrap();
            }
        }
        plain
    }

    #[test]
    fn each_coding_round_trips_in_any_piece_size_with_or_without_flushes() {
        let input = sample(200_000);
        for coding in Coding::ALL {
            for (piece, flush) in [
                (1, false),
                (7, true),
                (16 * 1024, false),
                (16 * 1024, true),
                (1 << 20, false),
            ] {
                let small = if piece < 16 {
                    &input[..3000]
                } else {
                    &input[..]
                };
                let out = run(coding, 6, small, piece, flush);
                assert_eq!(decode(coding, &out), small, "{coding:?} {piece} {flush}");
                // (A flush every 7 bytes costs more than it saves: only the big pieces.)
                if piece >= 16 * 1024 {
                    assert!(out.len() < small.len() / 4, "{coding:?} made {}", out.len());
                }
            }
            // Empty bodies make a valid, empty stream.
            assert_eq!(decode(coding, &run(coding, 1, b"", 10, false)), b"");
        }
    }

    #[test]
    fn a_flush_makes_everything_so_far_decodable() {
        for coding in Coding::ALL {
            let mut c = Compressor::new(coding, 6, None).unwrap();
            let mut out = Vec::new();
            c.process(b"first part, ", &mut out).unwrap();
            c.flush(&mut out).unwrap();
            // A streaming decoder reads the first part before the stream ends.
            let mut got = vec![0u8; 12];
            match coding {
                Coding::Gzip => flate2::read::GzDecoder::new(&out[..])
                    .read_exact(&mut got)
                    .unwrap(),
                Coding::Br => brotli::Decompressor::new(&out[..], 4096)
                    .read_exact(&mut got)
                    .unwrap(),
                Coding::Zstd => zstd::stream::read::Decoder::new(&out[..])
                    .unwrap()
                    .read_exact(&mut got)
                    .unwrap(),
            }
            assert_eq!(&got, b"first part, ", "{coding:?}");
        }
    }

    #[test]
    fn every_level_in_range_and_a_known_length_work() {
        let input = sample(50_000);
        for level in 1..=9 {
            let mut c = Compressor::new(Coding::Gzip, level, Some(input.len() as u64)).unwrap();
            let mut out = Vec::new();
            c.process(&input, &mut out).unwrap();
            c.finish(&mut out).unwrap();
            assert_eq!(decode(Coding::Gzip, &out), input);
        }
        for (coding, levels) in [(Coding::Br, 0..=6), (Coding::Zstd, 1..=6)] {
            for level in levels {
                let mut c = Compressor::new(coding, level, Some(input.len() as u64)).unwrap();
                let mut out = Vec::new();
                c.process(&input, &mut out).unwrap();
                c.finish(&mut out).unwrap();
                assert_eq!(decode(coding, &out), input, "{coding:?} {level}");
            }
        }
    }

    #[test]
    fn a_zstd_stream_shorter_than_it_pledged_fails_instead_of_lying() {
        let mut c = Compressor::new(Coding::Zstd, 3, Some(100)).unwrap();
        let mut out = Vec::new();
        c.process(&[b'a'; 50], &mut out).unwrap();
        assert!(c.finish(&mut out).is_err());
    }
}
