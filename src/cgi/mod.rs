//! CGI/1.1 (RFC 3875): a script's environment (`env`), the parsing of its header block
//! (`headers`), and CGI as an upstream kind (`upstream`: the script's pipes are the endpoint,
//! its header block the head). Which script a request names is routing (`handler::script`);
//! the streaming of its output is the shared upstream pump's (`crate::upstream`).

pub mod env;
pub mod headers;
pub mod upstream;

use std::path::PathBuf;

/// A script to run for a request.
#[derive(Debug, Clone)]
pub struct Script {
    /// The file to run.
    pub file: PathBuf,
    /// The URL path of the script (`/cgi-bin/app.py`).
    pub script_name: String,
    /// The URL path after it (`/a/b`), possibly empty.
    pub path_info: String,
    /// The program that runs it, or None to execute it directly.
    pub interpreter: Option<PathBuf>,
}
