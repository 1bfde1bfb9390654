//! What one worker thread owns and lends, explicitly, to everything it drives: the scratch
//! buffer reads land in, the file cache, the table of CGI processes, the balancer and pool of
//! the backends (the proxy's and FastCGI's) and FastCGI's bounds on them. No thread-local
//! state: a connection (and the exchange it serves) reaches these only through the `&mut Local`
//! its worker passes down with each call.

use crate::fastcgi::pool::Bounds;
use crate::handler::file_cache::FileCache;
use crate::proxy::pass::ProxyWorker;
use crate::transport::Scratch;
use crate::upstream::process::Processes;

#[derive(Default)]
pub struct Local {
    pub scratch: Scratch,
    pub files: FileCache,
    pub processes: Processes,
    /// The reverse proxy's balancer state.
    pub proxy: ProxyWorker,
    /// FastCGI's bounds on the connections kept open to its applications (the idle ones are in
    /// the proxy's pool).
    pub fastcgi: Bounds,
}
