//! The write side of a connection: a response head followed by a body held in memory or in a
//! file. Each call to [`Output::write_to`] makes one system call; the caller loops while the
//! socket is writable and its budget lasts. Over TLS ([`Output::write_tls`]) a file is read in
//! record-sized pieces with `pread` (into the worker's scratch buffer) and encrypted by rustls, a buffer's worth per call (this
//! kernel offers no kTLS, so sendfile cannot carry TLS).

use super::transport::TlsStream;
use crate::http::response::Body;
use rustix::net::{SendFlags, send};
use std::io::{self, IoSlice, Write};
use std::net::TcpStream;

/// Most bytes one sendfile call is asked for, so one fast client cannot starve the others.
const SENDFILE_CHUNK: usize = 1 << 20;

pub struct Output {
    head: Vec<u8>,
    head_sent: usize,
    body: Body,
    body_sent: u64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// Everything has been written.
    Done,
    /// Some bytes went out; more remain.
    Partial,
    /// The socket took less than it was offered: its buffer is full, so the next write would
    /// only say EAGAIN. Wait for the next writable edge.
    Full,
}

impl Output {
    pub fn new(head: Vec<u8>, body: Body) -> Output {
        Output {
            head,
            head_sent: 0,
            body,
            body_sent: 0,
        }
    }

    /// Body bytes written so far (for the access log).
    pub fn body_sent(&self) -> u64 {
        self.body_sent
    }

    /// Head and body bytes written so far (`$bytes_sent`).
    pub fn bytes_sent(&self) -> u64 {
        self.head_sent as u64 + self.body_sent
    }

    pub fn is_done(&self) -> bool {
        self.head_sent == self.head.len() && self.body_sent == self.body.len()
    }

    /// One write: `WouldBlock` is returned as an error like any other.
    pub fn write_to(&mut self, socket: &TcpStream) -> io::Result<Progress> {
        let head_left = &self.head[self.head_sent..];
        let (offered, written) = match &mut self.body {
            Body::Bytes(bytes) if !head_left.is_empty() => {
                let body_left = &bytes[self.body_sent as usize..];
                let slices = [IoSlice::new(head_left), IoSlice::new(body_left)];
                let n = (&*socket).write_vectored(&slices)?;
                let from_head = n.min(head_left.len());
                let offered = head_left.len() + body_left.len();
                self.head_sent += from_head;
                self.body_sent += (n - from_head) as u64;
                (offered, n)
            }
            Body::Shared { data, offset, len } => {
                let start = *offset + self.body_sent as usize;
                let body_left = &data[start..*offset + *len];
                let slices = [IoSlice::new(head_left), IoSlice::new(body_left)];
                let n = (&*socket).write_vectored(&slices)?;
                let from_head = n.min(head_left.len());
                self.head_sent += from_head;
                self.body_sent += (n - from_head) as u64;
                (head_left.len() + body_left.len(), n)
            }
            Body::File { .. } if !head_left.is_empty() => {
                // MSG_MORE: let the head wait for the first sendfile so both share a segment.
                let n = send(socket, head_left, SendFlags::MORE)?;
                let offered = head_left.len();
                self.head_sent += n;
                (offered, n)
            }
            _ if !head_left.is_empty() => {
                let n = (&*socket).write(head_left)?;
                let offered = head_left.len();
                self.head_sent += n;
                (offered, n)
            }
            Body::Bytes(bytes) => {
                let body_left = &bytes[self.body_sent as usize..];
                let n = (&*socket).write(body_left)?;
                self.body_sent += n as u64;
                (body_left.len(), n)
            }
            Body::File { file, offset, len } => {
                let left = *len - self.body_sent;
                let mut position = *offset + self.body_sent;
                let want = left.min(SENDFILE_CHUNK as u64) as usize;
                let n = rustix::fs::sendfile(socket, &*file, Some(&mut position), want)?;
                if n == 0 && want > 0 {
                    // The file shrank under us: the promised length can no longer be kept.
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file truncated",
                    ));
                }
                self.body_sent += n as u64;
                // sendfile may stop short for reasons of its own (page cache, its internal
                // pipe), not only a full socket: only EAGAIN may stop this writer.
                (n, n)
            }
            Body::Empty => (0, 0),
        };
        Ok(if self.is_done() {
            Progress::Done
        } else if written < offered {
            Progress::Full
        } else {
            Progress::Partial
        })
    }

    /// One batch over TLS: as much as rustls's bounded buffer takes, then what the socket takes
    /// of it. `WouldBlock` (with `writable` cleared) when earlier ciphertext still waits.
    pub fn write_tls(&mut self, tls: &mut TlsStream, writable: &mut bool) -> io::Result<Progress> {
        let head_left = &self.head[self.head_sent..];
        let taken = match &self.body {
            Body::Empty => tls.write_pair(head_left, &[], writable)?,
            Body::Bytes(bytes) => {
                tls.write_pair(head_left, &bytes[self.body_sent as usize..], writable)?
            }
            Body::Shared { data, offset, len } => {
                let body_left = &data[*offset + self.body_sent as usize..*offset + *len];
                tls.write_pair(head_left, body_left, writable)?
            }
            Body::File { file, offset, len } => {
                let mut head = head_left;
                let mut position = *offset + self.body_sent;
                let end = *offset + *len;
                tls.write_with(
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
        let from_head = taken.min(self.head.len() - self.head_sent);
        self.head_sent += from_head;
        self.body_sent += (taken - from_head) as u64;
        Ok(if self.is_done() {
            Progress::Done
        } else if !*writable {
            Progress::Full
        } else {
            Progress::Partial
        })
    }
}
