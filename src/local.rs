//! What one worker thread owns and lends, explicitly, to everything it drives: the scratch
//! buffer reads land in, the file cache, the table of CGI processes, and the reverse proxy's
//! balancer state. No thread-local state: a connection (and the exchange it serves) reaches
//! these only through the `&mut Local` its worker passes down with each call.

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
}
