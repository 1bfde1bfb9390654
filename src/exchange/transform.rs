//! The slot for a body transform between an exchange's producer and the protocol's framing:
//! compression on the fly goes here. With no transform the producer's pieces reach the
//! protocol untouched, file ranges included, so `sendfile` stays in use; with one, the body is
//! read through it in bounded pieces, flushed whenever the producer pauses (a script that
//! streams keeps streaming), and the protocol frames its output.
//!
//! [`choose`] decides, once per answer, from the request, the route's settings and the head
//! (`crate::compress::decide`); the exchange then sends a static file's compressed variant
//! from the worker's file cache, or installs a [`Compressing`] transform (which may keep its
//! output for that cache).

use super::Route;
use crate::compress::{self, Compressor, Decision};
use crate::http::negotiation::Coding;
use crate::http::request::Request;
use crate::http::response::Head;
use std::io;

/// Most body bytes fed to a transform at once (a file range is read in pieces this size).
pub const FEED: usize = 16 * 1024;

/// A transform of a response body (compression). The exchange calls [`Transform::head`] once,
/// then [`Transform::process`] with the body's bytes as they come ([`Transform::flush`] when
/// the producer pauses), then [`Transform::finish`]. Output goes onto `out`, which the protocol
/// drains before the next call: a transform must keep its own state bounded, whatever the
/// body's size.
pub trait Transform {
    /// Adjusts the head before it is sent (Content-Encoding, Vary; a length it changes is
    /// removed).
    fn head(&mut self, head: &mut Head);

    /// Takes some of `input` (at least one byte when `input` is not empty) and appends what it
    /// produces to `out`. Returns the bytes of `input` taken.
    fn process(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<usize>;

    /// The producer has nothing more for now: appends what the transform holds back, so that
    /// the client gets everything so far.
    fn flush(&mut self, _out: &mut Vec<u8>) -> io::Result<()> {
        Ok(())
    }

    /// The body ended: appends what is left to `out`.
    fn finish(&mut self, out: &mut Vec<u8>) -> io::Result<()>;
}

/// How an answer about to start is compressed, if it is: None when compression on the fly is
/// off where the request landed (the common case: one check), or the response is not for it
/// (its head may then say `Vary: Accept-Encoding`, with `gzip_vary on`).
#[inline]
pub fn choose(request: Option<&Request>, route: &Route, head: &mut Head) -> Option<(Coding, u32)> {
    let settings = &route.settings().compress;
    if !settings.on_the_fly() {
        return None;
    }
    decide(request?, settings, head)
}

#[inline(never)]
fn decide(
    request: &Request,
    settings: &crate::config::Compress,
    head: &mut Head,
) -> Option<(Coding, u32)> {
    match compress::decide(request, settings, head) {
        Decision::Compress { coding, level } => Some((coding, level)),
        Decision::AsIs { vary } => {
            if vary {
                compress::add_vary(head);
            }
            None
        }
    }
}

/// Compression on the fly as a transform.
pub struct Compressing {
    compressor: Compressor,
    coding: Coding,
}

impl Compressing {
    pub fn new(compressor: Compressor, coding: Coding) -> Compressing {
        Compressing { compressor, coding }
    }
}

impl Transform for Compressing {
    fn head(&mut self, head: &mut Head) {
        compress::encoded_head(head, self.coding, None);
    }

    fn process(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<usize> {
        self.compressor.process(input, out)
    }

    fn flush(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        self.compressor.flush(out)
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        self.compressor.finish(out)
    }
}
