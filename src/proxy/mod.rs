//! The reverse proxy, pure: everything `proxy_pass` decides without touching a socket, so each
//! part can be tested exhaustively. The upstream pipeline (endpoint, connect, body pump) carries
//! these decisions out.
//!
//! - `uri`: the request-target sent to the backend (nginx's rule for a URI part in `proxy_pass`).
//! - `vars`: the values of the variables in `proxy_set_header`, `proxy_redirect` and `map`.
//! - `request`: the request head to the backend, re-serialised from the parsed request (never
//!   forwarded raw), its body framing, and whether it asks for a WebSocket tunnel.
//! - `response`: the backend's response head, parsed strictly and bounded, its body framing and
//!   whether the connection may be kept.
//! - `codec`: the proxy as an `upstream::Codec` (HTTP/1 backends), made of the parts below.
//! - `body`: the backend's body by its framing, and whether a backend that stopped sending left
//!   it complete (a body cut short reaches the client as a cut connection).
//! - `headers`: the backend's fields as the client gets them (hop-by-hop and hidden fields
//!   removed, `proxy_redirect` applied) and `proxy_intercept_errors`.
//! - `balance`: nginx's smooth weighted round-robin and `least_conn`, passive health checks and
//!   backup servers, with per-worker state.
//! - `retry`: `proxy_next_upstream`: whether a failed attempt goes on to the next server, and
//!   what the client gets when it does not.
//! - `log`: `$upstream_addr`, `$upstream_status` and `$upstream_response_time` of a request's
//!   tries, as nginx writes them.
//! - `pass`: one proxied request's tries (server, connection, head, what follows a failure),
//!   and the worker's share of it (`ProxyWorker`).
//! - `pool`: the idle keep-alive connections of each upstream group (per worker).

pub mod balance;
pub mod body;
pub mod codec;
pub mod headers;
pub mod log;
pub mod pass;
pub mod pool;
pub mod request;
pub mod response;
pub mod retry;
pub mod uri;
pub mod vars;
