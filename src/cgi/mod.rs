//! CGI/1.1 (RFC 3875): a script's environment (`env`), the running process and its pipes
//! (`process`) and the parsing of its header block (`headers`). Which script a request names is
//! routing (`handler::script`); the exchange that streams a script's output is an upstream.

pub mod env;
pub mod headers;
pub mod process;

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
