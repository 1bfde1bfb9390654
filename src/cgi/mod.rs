//! CGI/1.1: environment, spawning, header parsing and the exchange state machine.

pub mod headers;
