//! HTTP/2 (RFC 9113) and its header compression HPACK (RFC 7541), sans I/O: bytes and actions
//! in, events and bytes out. Nothing here touches a socket, a file or a clock.
//!
//! - [`frame`]: the frame header, each frame type's own rules, the encoders;
//! - [`hpack`]: header compression, both directions;
//! - [`request`]: a request's header section checked (§8) and turned into the shared
//!   [`crate::http::request::Request`];
//! - [`connection`]: the state machine of one connection: the preface, settings, stream
//!   states (§5.1), flow control both ways (§5.2, §6.9), error handling (§5.4) and the limits
//!   that keep a hostile client's cost bounded.

pub mod connection;
pub mod frame;
pub mod hpack;
pub mod request;

pub use connection::{Connection, Event, Limits, StreamId};
pub use frame::ErrorCode;
