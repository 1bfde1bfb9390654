//! The write side of a connection: a response head followed by a body held in memory or in a
//! file. Each call to [`Output::write_to`] makes one system call; the caller loops while the
//! socket is writable and its budget lasts.

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

pub enum Progress {
    /// Everything has been written.
    Done,
    /// Some bytes went out; more remain.
    Partial,
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

    pub fn is_done(&self) -> bool {
        self.head_sent == self.head.len() && self.body_sent == self.body.len()
    }

    /// One write: `WouldBlock` is returned as an error like any other.
    pub fn write_to(&mut self, socket: &TcpStream) -> io::Result<Progress> {
        let head_left = &self.head[self.head_sent..];
        match &mut self.body {
            Body::Bytes(bytes) if !head_left.is_empty() => {
                let body_left = &bytes[self.body_sent as usize..];
                let n = (&*socket)
                    .write_vectored(&[IoSlice::new(head_left), IoSlice::new(body_left)])?;
                let from_head = n.min(head_left.len());
                self.head_sent += from_head;
                self.body_sent += (n - from_head) as u64;
            }
            Body::File { .. } if !head_left.is_empty() => {
                // MSG_MORE: let the head wait for the first sendfile so both share a segment.
                let n = send(socket, head_left, SendFlags::MORE)?;
                self.head_sent += n;
            }
            _ if !head_left.is_empty() => {
                let n = (&*socket).write(head_left)?;
                self.head_sent += n;
            }
            Body::Bytes(bytes) => {
                let n = (&*socket).write(&bytes[self.body_sent as usize..])?;
                self.body_sent += n as u64;
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
            }
            Body::Empty => {}
        }
        Ok(if self.is_done() {
            Progress::Done
        } else {
            Progress::Partial
        })
    }
}
