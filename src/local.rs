//! What one worker thread owns and lends, explicitly, to everything it drives: the scratch
//! buffer reads land in, the file cache, the table of CGI processes, the balancer and pool of
//! the backends (the proxy's and FastCGI's) and FastCGI's bounds on them, the passwords
//! `auth_basic` verified lately, the access-log lines
//! of the current batch and the worker's figures. No thread-local state: a connection (and the
//! exchange it serves) reaches these only through the `&mut Local` its worker passes down with
//! each call.

use crate::access::basic::Cache as Verified;
use crate::config::proxy::model::PeerAddr;
use crate::fastcgi::pool::Bounds;
use crate::handler::file_cache::FileCache;
use crate::observe::metrics::{Registry, WorkerStats};
use crate::proxy::pass::ProxyWorker;
use crate::transport::Scratch;
use crate::upstream::process::Processes;
use std::sync::Arc;
use std::time::Instant;

#[derive(Default)]
pub struct Local {
    pub scratch: Scratch,
    pub files: FileCache,
    pub processes: Processes,
    /// Access-log lines of this batch, one buffer per file of `Config::log_files` (the worker
    /// writes them once per batch).
    pub logs: Vec<Vec<u8>>,
    /// This worker's figures (`observe::metrics`): only this worker writes them.
    pub stats: Arc<WorkerStats>,
    /// Every worker's figures (what a status page shows).
    pub metrics: Arc<Registry>,
    /// The reverse proxy's balancer state.
    pub proxy: ProxyWorker,
    /// FastCGI's bounds on the connections kept open to its applications (the idle ones are in
    /// the proxy's pool).
    pub fastcgi: Bounds,
    /// `auth_basic` passwords verified lately (a bcrypt run costs milliseconds).
    pub verified: Verified,
}

impl Local {
    /// When the worker must wake for [`Local::upkeep`] although nothing else happens: an idle
    /// backend connection reaching its `keepalive_timeout`, or a new FastCGI connection
    /// starting to starve (`fastcgi::pool`). Early rather than late: a wake-up that finds
    /// nothing due costs one turn of the loop.
    #[inline(always)]
    pub fn next_upkeep(&self) -> Option<Instant> {
        match (self.proxy.wake(), self.fastcgi.wake()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Closes the idle backend connections that are due by `now`: those idle for their
    /// `keepalive_timeout`, and every one to an address a new FastCGI connection starves on.
    /// Returns those addresses: the other workers' idle connections to them must close too.
    #[cold]
    #[inline(never)]
    pub fn upkeep(&mut self, now: Instant) -> Vec<PeerAddr> {
        let proxy = &mut self.proxy;
        let mut starving = Vec::new();
        self.fastcgi.due(now, |addr| {
            proxy.close_idle_to(addr);
            starving.push(addr.clone());
        });
        proxy.expire(now);
        starving
    }
}
