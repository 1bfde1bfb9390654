//! The slot for a body transform between an exchange's producer and the protocol's framing
//! (on-the-fly compression goes here). With no transform the producer's pieces reach the
//! protocol untouched, file ranges included, so `sendfile` stays in use; with one, the body is
//! read through it in bounded pieces and the protocol frames its output.

use super::Route;
use crate::http::request::Request;
use crate::http::response::Head;
use std::io;

/// Most body bytes fed to a transform at once (a file range is read in pieces this size).
pub const FEED: usize = 16 * 1024;

/// A transform of a response body (compression). The exchange calls [`Transform::head`] once,
/// then [`Transform::process`] with the body's bytes as they come, then [`Transform::finish`].
/// Output goes onto `out`, which the protocol drains before the next call: a transform must
/// keep its own state bounded, whatever the body's size.
pub trait Transform {
    /// Adjusts the head before it is sent (Content-Encoding, Vary; a length it changes is
    /// removed).
    fn head(&mut self, head: &mut Head);

    /// Takes some of `input` (at least one byte when `input` is not empty) and appends what it
    /// produces to `out`. Returns the bytes of `input` taken.
    fn process(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<usize>;

    /// The body ended: appends what is left to `out`.
    fn finish(&mut self, out: &mut Vec<u8>) -> io::Result<()>;
}

/// The transform for a response about to start, if one applies: where the compression
/// settings will be consulted (the request's Accept-Encoding, the route's `gzip` settings, the
/// head's type and length). None for now: bodies go out as produced.
#[inline]
pub fn choose(
    _request: Option<&Request>,
    _route: &Route,
    _head: &Head,
) -> Option<Box<dyn Transform>> {
    None
}
