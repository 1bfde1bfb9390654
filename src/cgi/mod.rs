//! CGI/1.1 (RFC 3875): finding the script (`script`), its environment (`env`), the running
//! process and its pipes (`process`) and the parsing of its header block (`headers`). The
//! exchange itself (body in, output streamed out) is a state of the connection.

pub mod env;
pub mod headers;
pub mod process;
pub mod script;
