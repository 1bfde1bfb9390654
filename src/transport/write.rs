//! The write side of a connection: some framing bytes (a response head, a chunk header) followed
//! by a piece of body held in memory or in a file. Each call to [`Transport::write_parts`] makes
//! one system call on a plain socket (`writev`, `write`, `send` with `MSG_MORE` before a file, or
//! `sendfile`); the caller loops while the socket is writable and its budget lasts. Over TLS a
//! file is read in record-sized pieces with `pread` (into the worker's scratch buffer) and
//! encrypted by rustls, a buffer's worth per call (this kernel offers no kTLS, so sendfile
//! cannot carry TLS).

use super::{Scratch, Stream, TlsStream, Transport};
use rustix::net::{SendFlags, send};
use std::fs::File;
use std::io::{self, IoSlice, Write};
use std::net::TcpStream;

/// Most bytes one sendfile call is asked for, so one fast client cannot starve the others; and
/// the stream is cut at its multiples (see [`sendfile_size`]).
const SENDFILE_CHUNK: u64 = 256 * 1024;

/// Body bytes to write after the prefix.
#[derive(Clone, Copy)]
pub enum Piece<'a> {
    None,
    Bytes(&'a [u8]),
    /// `len` bytes of `file` from `offset` (sent with sendfile on a plain socket).
    File {
        file: &'a File,
        offset: u64,
        len: u64,
    },
}

/// What one write took: bytes of the prefix, then of the piece.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub prefix: usize,
    pub body: usize,
}

impl Transport {
    /// Writes some of `prefix` then of `piece`, in one system call on a plain socket. A short
    /// write (or, over TLS, ciphertext left waiting) clears the writable flag: the next write
    /// would only say EAGAIN. `WouldBlock` is returned as an error like any other.
    #[inline]
    pub fn write_parts(
        &mut self,
        prefix: &[u8],
        piece: Piece,
        scratch: &mut Scratch,
    ) -> io::Result<Written> {
        let result = match &mut self.stream {
            Stream::Tls(tls) if !tls.plain_http => {
                let written = write_tls(tls, prefix, piece, scratch, &mut self.writable);
                if let Ok(w) = &written {
                    self.sent += (w.prefix + w.body) as u64;
                }
                return written;
            }
            Stream::Tls(tls) => write_plain(&tls.socket, prefix, piece, self.sent),
            Stream::Plain(socket) => write_plain(socket, prefix, piece, self.sent),
        };
        match result {
            Ok((written, full)) => {
                if full {
                    self.writable = false;
                }
                self.sent += (written.prefix + written.body) as u64;
                Ok(written)
            }
            Err(e) => {
                if e.kind() == io::ErrorKind::WouldBlock {
                    self.writable = false;
                }
                Err(e)
            }
        }
    }
}

/// One system call; `full`: the socket took less than it was offered. `sent`: the bytes the
/// connection's stream carried before this call.
fn write_plain(
    socket: &TcpStream,
    prefix: &[u8],
    piece: Piece,
    sent: u64,
) -> io::Result<(Written, bool)> {
    let mut socket = socket;
    Ok(match piece {
        Piece::Bytes(body) if !prefix.is_empty() && !body.is_empty() => {
            let n = socket.write_vectored(&[IoSlice::new(prefix), IoSlice::new(body)])?;
            let from_prefix = n.min(prefix.len());
            let written = Written {
                prefix: from_prefix,
                body: n - from_prefix,
            };
            (written, n < prefix.len() + body.len())
        }
        Piece::File { .. } if !prefix.is_empty() => {
            // MSG_MORE: let the prefix wait for the first sendfile so both share a segment.
            let n = send(socket, prefix, SendFlags::MORE)?;
            (Written { prefix: n, body: 0 }, n < prefix.len())
        }
        _ if !prefix.is_empty() => {
            let n = socket.write(prefix)?;
            (Written { prefix: n, body: 0 }, n < prefix.len())
        }
        Piece::Bytes(body) => {
            let n = socket.write(body)?;
            (Written { prefix: 0, body: n }, n < body.len())
        }
        Piece::File { file, offset, len } => {
            let mut position = offset;
            let want = sendfile_size(sent, len);
            let n = rustix::fs::sendfile(socket, file, Some(&mut position), want)?;
            if n == 0 && want > 0 {
                // The file shrank under us: the promised length can no longer be kept.
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file truncated",
                ));
            }
            // sendfile may stop short for reasons of its own (page cache, its internal pipe),
            // not only a full socket: only EAGAIN may stop this writer.
            (Written { prefix: 0, body: n }, false)
        }
        Piece::None => (Written::default(), false),
    })
}

/// One batch over TLS: as much as rustls's bounded buffer takes, then what the socket takes of
/// it. `WouldBlock` (with `writable` cleared) when earlier ciphertext still waits.
fn write_tls(
    tls: &mut TlsStream,
    prefix: &[u8],
    piece: Piece,
    scratch: &mut Scratch,
    writable: &mut bool,
) -> io::Result<Written> {
    let taken = match piece {
        Piece::None => tls.write_pair(prefix, &[], writable)?,
        Piece::Bytes(body) => tls.write_pair(prefix, body, writable)?,
        Piece::File { file, offset, len } => {
            let mut head = prefix;
            let mut position = offset;
            let end = offset + len;
            tls.write_with(
                scratch,
                |record| {
                    let from_head = head.len().min(record.len());
                    record[..from_head].copy_from_slice(&head[..from_head]);
                    head = &head[from_head..];
                    let room = (record.len() - from_head) as u64;
                    let want = room.min(end - position) as usize;
                    if want == 0 {
                        return Ok(from_head);
                    }
                    let target = &mut record[from_head..from_head + want];
                    let n = rustix::io::pread(file, target, position)?;
                    if n == 0 {
                        // The file shrank under us: the promised length cannot be kept.
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "file truncated",
                        ));
                    }
                    position += n as u64;
                    Ok(from_head + n)
                },
                writable,
            )?
        }
    };
    let from_prefix = taken.min(prefix.len());
    Ok(Written {
        prefix: from_prefix,
        body: taken - from_prefix,
    })
}

/// How much of the `left` bytes of a file one sendfile call asks for, when the connection's
/// stream has carried `sent` bytes: up to the next multiple of [`SENDFILE_CHUNK`] of the stream,
/// so the first call after a head of N bytes is a chunk minus N and every later one a whole
/// chunk, as lighttpd does. Measured on loopback (bench/PROFILE.md, "Large files"): 256 KiB
/// calls aligned this way move a 64 MiB file about 1.4x as fast as the same calls shifted by the
/// head's length, and faster than 64 KiB or 1 MiB calls.
fn sendfile_size(sent: u64, left: u64) -> usize {
    let to_boundary = SENDFILE_CHUNK - sent % SENDFILE_CHUNK;
    left.min(to_boundary) as usize
}

#[cfg(test)]
mod sendfile_tests {
    use super::*;

    #[test]
    fn sendfile_calls_end_at_chunk_multiples_of_the_stream() {
        let chunk = SENDFILE_CHUNK;
        // After a 257-byte head: the first call fills the chunk, the next ones are whole.
        assert_eq!(sendfile_size(257, 64 << 20), (chunk - 257) as usize);
        assert_eq!(sendfile_size(chunk, 64 << 20), chunk as usize);
        assert_eq!(sendfile_size(5 * chunk, 64 << 20), chunk as usize);
        // A short write leaves the rest of the chunk for the next call.
        assert_eq!(
            sendfile_size(chunk + 1000, 64 << 20),
            (chunk - 1000) as usize
        );
        // Never more than what is left.
        assert_eq!(sendfile_size(257, 10), 10);
        assert_eq!(sendfile_size(0, 0), 0);
    }
}
