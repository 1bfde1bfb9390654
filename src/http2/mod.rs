//! HTTP/2 (RFC 9113) and its header compression HPACK (RFC 7541), sans I/O: bytes and actions
//! in, events and bytes out. Nothing here touches a socket.

pub mod hpack;
