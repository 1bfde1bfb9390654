//! What FastCGI adds to the shared pool of idle backend connections (`proxy::pass`, per
//! worker, `keepalive N` of an `upstream` group): two bounds, per worker and address, that keep
//! a pool of application processes from waiting on connections that hold them.
//!
//! An application such as php-fpm gives a kept connection a process of its own for as long
//! as the connection stays open, idle or not, and a connection it has not accepted yet waits in
//! its listen queue until one of its processes is free. So:
//! - a worker keeps at most N connections (busy, and idle in the pool) to one address, N being
//!   the group's `keepalive` (4 for a `fastcgi_pass` address); a request beyond them gets a
//!   connection of its own, opened without FCGI_KEEP_CONN and closed by the application after
//!   its answer ([`Bounds::lease`]);
//! - a kept connection whose answer ends while a new connection of this worker to the same
//!   address still waits for its first answer goes back to nobody: it is closed, which frees
//!   the process it held, maybe the one the new connection waits for ([`Bounds::waiting`]).
//!
//! With these, a pool of more processes than N never leaves a request waiting behind processes
//! held by idle connections.

use crate::config::proxy::model::PeerAddr;
use std::cell::Cell;
use std::rc::Rc;

/// The right to keep one connection open to an address (counted while it lives).
pub struct Lease(Rc<Cell<usize>>);

impl Drop for Lease {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

/// A new connection waiting for its first answer (counted while it lives).
pub struct Fresh(Rc<Cell<usize>>);

impl Drop for Fresh {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

struct Counts {
    addr: PeerAddr,
    /// Kept connections lent to exchanges (idle ones are the pool's).
    busy: Rc<Cell<usize>>,
    /// New connections waiting for their first answer.
    fresh: Rc<Cell<usize>>,
}

/// One worker's counts, per address.
#[derive(Default)]
pub struct Bounds {
    addrs: Vec<Counts>,
}

impl Bounds {
    fn counts(&mut self, addr: &PeerAddr) -> &mut Counts {
        let index = match self.addrs.iter().position(|c| c.addr == *addr) {
            Some(index) => index,
            None => {
                // Addresses nobody counts any more make room first.
                self.addrs.retain(|c| c.busy.get() > 0 || c.fresh.get() > 0);
                self.addrs.push(Counts {
                    addr: addr.clone(),
                    busy: Rc::new(Cell::new(0)),
                    fresh: Rc::new(Cell::new(0)),
                });
                self.addrs.len() - 1
            }
        };
        &mut self.addrs[index]
    }

    /// The right to keep a connection to `addr` open: always for one taken from the pool
    /// (`idle` None: it was counted there), else while the busy ones and the `idle` ones of its
    /// group stay under `limit`.
    pub fn lease(&mut self, addr: &PeerAddr, idle: Option<usize>, limit: usize) -> Option<Lease> {
        let counts = self.counts(addr);
        if let Some(idle) = idle
            && counts.busy.get() + idle >= limit
        {
            return None;
        }
        counts.busy.set(counts.busy.get() + 1);
        Some(Lease(Rc::clone(&counts.busy)))
    }

    /// Counts a new connection to `addr` until its first answer (the guard's drop).
    pub fn fresh(&mut self, addr: &PeerAddr) -> Fresh {
        let counts = self.counts(addr);
        counts.fresh.set(counts.fresh.get() + 1);
        Fresh(Rc::clone(&counts.fresh))
    }

    /// Whether a new connection of this worker to `addr` waits for its first answer.
    pub fn waiting(&self, addr: &PeerAddr) -> bool {
        self.addrs
            .iter()
            .any(|c| c.addr == *addr && c.fresh.get() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_connections_are_bounded_per_address_idle_ones_included() {
        let mut bounds = Bounds::default();
        let a = PeerAddr::Unix("/a.sock".into());
        let b = PeerAddr::Unix("/b.sock".into());
        let first: Vec<Lease> = (0..3)
            .map(|_| bounds.lease(&a, Some(1), 4).expect("under the bound"))
            .collect();
        assert!(bounds.lease(&a, Some(1), 4).is_none(), "3 busy + 1 idle");
        assert!(
            bounds.lease(&a, None, 4).is_some(),
            "one from the pool was counted"
        );
        assert!(
            bounds.lease(&b, Some(0), 4).is_some(),
            "another address has its own"
        );
        drop(first);
        assert!(
            bounds.lease(&a, Some(1), 4).is_some(),
            "a closed one frees its place"
        );
    }

    #[test]
    fn a_new_connection_is_waiting_until_its_guard_goes() {
        let mut bounds = Bounds::default();
        let a = PeerAddr::Unix("/a.sock".into());
        assert!(!bounds.waiting(&a));
        let fresh = bounds.fresh(&a);
        assert!(bounds.waiting(&a));
        assert!(!bounds.waiting(&PeerAddr::Unix("/b.sock".into())));
        drop(fresh);
        assert!(!bounds.waiting(&a));
    }
}
