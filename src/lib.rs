//! webserv: an HTTP/1.1 server built around one plain epoll loop per worker.
//!
//! The crate is split the way a request travels (docs/ARCHITECTURE.md draws it): `config` turns
//! the file into typed settings; `server` owns the workers and listeners, `runtime` is what the
//! workers serve with (replaced whole on reload), and `event` is the epoll reactor they run on;
//! a client connection is a `transport` (socket, TLS, readiness) under a `protocol` session
//! (HTTP/1, HTTP/2), which drives one `exchange` per request (its route, its body's sink, its
//! answer's source); `handler` decides what a request means (static files, uploads, deletes,
//! scripts), after the `access` phases; `site` is where a request lands (routing) and the
//! answers given from that alone (error pages, redirects); an `upstream` streams an answer from a backend (`cgi`
//! is one kind; `fastcgi` speaks to FastCGI applications; `proxy` holds the reverse proxy's
//! decisions); `http` and `http2` are pure protocol (no I/O), and so is `proxy_protocol`, the
//! header a load balancer may send before anything else; `log` is the error and access log
//! every layer may write to; `local` is what a worker lends to what it drives. All `unsafe` lives in `sys`:
//! the compiler refuses it elsewhere.

#![deny(unsafe_code)]

pub mod access;
pub mod acme;
pub mod cgi;
pub mod cgi_vars;
pub mod compress;
pub mod config;
pub mod event;
pub mod exchange;
pub mod fastcgi;
pub mod fault;
pub mod handler;
pub mod http;
pub mod http2;
pub mod local;
pub mod log;
pub mod observe;
pub mod pki;
pub mod protocol;
pub mod proxy;
pub mod proxy_protocol;
pub mod runtime;
pub mod server;
pub mod site;
#[allow(unsafe_code)]
pub mod sys;
#[cfg(test)]
#[allow(dead_code)] // what the unit tests do not use yet of what the integration tests do
mod testing;
pub mod transport;
pub mod upstream;
