//! webserv: an HTTP/1.1 server built around one plain epoll loop per worker.
//!
//! The crate is split the way a request travels: `config` turns the file into typed settings,
//! `server` owns the workers, listeners and connections, `event` is the epoll reactor they run
//! on, `http` is pure protocol (no I/O), `handler` decides what a request means (routing, static
//! files, uploads, deletes, error pages), `cgi` runs scripts and `fastcgi` speaks to FastCGI
//! applications. All `unsafe` lives in `sys`.

pub mod acme;
pub mod cgi;
pub mod config;
pub mod event;
pub mod fastcgi;
pub mod handler;
pub mod http;
pub mod http2;
pub mod server;
pub mod sys;
#[cfg(test)]
mod testing;
