//! webserv: an HTTP/1.1 server built around one plain epoll loop per worker.
//!
//! The crate is split the way a request travels: `config` turns the file into typed settings,
//! `server` owns the workers, listeners and connections, `event` is the epoll reactor they run
//! on, `http` is pure protocol (no I/O), `handler` decides what a request means (routing, static
//! files, uploads, deletes, error pages) and `cgi` runs scripts; `log` is the error and access
//! log every layer may write to. All `unsafe` lives in `sys`: the compiler refuses it elsewhere.

#![deny(unsafe_code)]

pub mod cgi;
pub mod config;
pub mod event;
pub mod handler;
pub mod http;
pub mod local;
pub mod log;
pub mod server;
#[allow(unsafe_code)]
pub mod sys;
