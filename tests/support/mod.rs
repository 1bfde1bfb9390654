//! Shared helpers for the integration tests.
//!
//! Every server is the real `webserv` binary started from its own temporary directory holding
//! `webserv.conf` and the files the test asks for; configs use `listen 127.0.0.1:0;` and the
//! real ports are read from the server's `listening on` lines on stderr. Dropping a [`Server`]
//! sends SIGTERM, waits, escalates to SIGKILL, and removes the directory.
//!
//! - [`server`]: temporary directories, the server process, `webserv` as a command-line tool.
//! - [`http`]: raw connections and the HTTP/1.x response parser.
//! - [`proc`]: /proc readings (descriptors, memory, CPU, children) and polling.
//! - [`data`]: pseudo-random test data and byte strings for assertion messages.
//! - [`tls`]: certificates made at test time (rcgen) and their SPKI pins.
//! - [`load`]: a bounded load of client threads for restart tests, with every failure recorded.
//! - [`pebble`]: the ACME test CA and its DNS server, and an HTTPS client that verifies.
//! - [`uploads`], [`cgi`], [`hostile`]: what only the upload/DELETE, CGI and hostile-client
//!   tests need.
//! - [`skip`]: a test that cannot find its tool fails under CI and is recorded elsewhere.
//! - [`h2`]: HTTP/2 clients (curl, nghttp, h2load, Python h2 frame scenarios) and a server
//!   with a TLS and a plain HTTP/2 address.
//! - [`fastcgi`]: php-fpm and fcgiwrap started on a temporary socket or a free port and stopped
//!   by PID, and a fake FastCGI application with scripted (malformed) records.
//! - [`backends`]: the backends of the reverse-proxy tests (our Python backend, gunicorn, a
//!   WebSocket echo and its client).
//! - [`nginx`]: nginx in a temporary prefix, the reference of the differential tests.

#![allow(dead_code, unused_imports)]

pub mod backends;
pub mod cgi;
pub mod data;
pub mod fastcgi;
pub mod h2;
pub mod hostile;
pub mod http;
pub mod load;
pub mod nginx;
pub mod pebble;
pub mod proc;
pub mod server;
/// Tests whose tool is missing: failed under CI, recorded otherwise (`src/testing.rs`).
#[path = "../../src/testing.rs"]
pub mod skip;
pub mod tls;
pub mod uploads;

pub use data::*;
pub use http::*;
pub use proc::*;
pub use server::*;
