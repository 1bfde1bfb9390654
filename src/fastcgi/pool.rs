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
//! - a new connection of this worker that has had no answer for [`STARVING_AFTER`] may be
//!   waiting for a process that idle kept connections hold, this worker's or another's: from
//!   then until its first answer, every [`STARVING_AFTER`], the idle connections to that
//!   address are closed, in every worker ([`Bounds::due`], when the worker wakes for it:
//!   [`Bounds::wake`]), and a kept connection of this worker whose answer ends goes back to
//!   nobody ([`Bounds::starving`]): it is closed, which frees the process it held.
//!
//! A new connection that is answered within the grace, as nearly all are, changes nothing: under
//! concurrent load kept connections stay kept. One that is only slow (a long script) costs no
//! more than connections opened per request while it lasts. With these, a pool of more processes
//! than N never leaves a request waiting behind processes held by idle connections for more than
//! the grace.

use crate::config::proxy::model::PeerAddr;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How long a new connection may go without its first answer before it counts as waiting for
/// a process (a page of php-fpm is answered in well under a millisecond on an idle pool).
pub const STARVING_AFTER: Duration = Duration::from_millis(20);

/// The right to keep one connection open to an address (counted while it lives).
pub struct Lease(Rc<Cell<usize>>);

impl Drop for Lease {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

/// A new connection waiting for its first answer (listed while it lives).
pub struct Fresh {
    waiting: Rc<RefCell<Vec<Waiter>>>,
    id: u64,
}

impl Drop for Fresh {
    fn drop(&mut self) {
        if let Ok(mut waiting) = self.waiting.try_borrow_mut() {
            waiting.retain(|w| w.id != self.id);
        }
    }
}

/// One new connection without an answer yet.
struct Waiter {
    id: u64,
    /// When it was opened.
    since: Instant,
}

struct Counts {
    addr: PeerAddr,
    /// Kept connections lent to exchanges (idle ones are the pool's).
    busy: Rc<Cell<usize>>,
    /// New connections waiting for their first answer, oldest first.
    waiting: Rc<RefCell<Vec<Waiter>>>,
    /// When the idle connections to the address were last closed for them.
    relieved: Option<Instant>,
}

impl Counts {
    fn unused(&self) -> bool {
        self.busy.get() == 0 && self.waiting.try_borrow().is_ok_and(|w| w.is_empty())
    }

    /// When the oldest connection still waiting opened.
    fn oldest(&self) -> Option<Instant> {
        Some(self.waiting.try_borrow().ok()?.first()?.since)
    }

    /// When the idle connections to the address are to be closed (again) for the connections
    /// waiting on it: [`STARVING_AFTER`] after the oldest one opened, and after the last time.
    /// One relief covers every connection waiting then: at most one per [`STARVING_AFTER`],
    /// however many wait (each is a message to every other worker).
    fn relieve_at(&self) -> Option<Instant> {
        let oldest = self.oldest()?;
        let after = self.relieved.map_or(oldest, |last| last.max(oldest));
        Some(after + STARVING_AFTER)
    }
}

/// One worker's counts, per address.
#[derive(Default)]
pub struct Bounds {
    addrs: Vec<Counts>,
    /// The last id given to a [`Fresh`].
    last_id: u64,
    /// No new connection starts to starve before this ([`Bounds::wake`]).
    wake: Option<Instant>,
}

impl Bounds {
    fn counts(&mut self, addr: &PeerAddr) -> &mut Counts {
        let index = match self.addrs.iter().position(|c| c.addr == *addr) {
            Some(index) => index,
            None => {
                // Addresses nobody counts any more make room first.
                self.addrs.retain(|c| !c.unused());
                self.addrs.push(Counts {
                    addr: addr.clone(),
                    busy: Rc::new(Cell::new(0)),
                    waiting: Rc::new(RefCell::new(Vec::new())),
                    relieved: None,
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

    /// When a new connection may start to starve (early rather than late: one answered
    /// since leaves it early; see [`Bounds::due`]).
    #[inline(always)]
    pub fn wake(&self) -> Option<Instant> {
        self.wake
    }

    /// Lists a new connection to `addr`, opened `now`, until its first answer (the guard's
    /// drop).
    pub fn fresh(&mut self, addr: &PeerAddr, now: Instant) -> Fresh {
        self.last_id += 1;
        let id = self.last_id;
        let counts = self.counts(addr);
        let waiting = Rc::clone(&counts.waiting);
        if let Ok(mut list) = waiting.try_borrow_mut() {
            list.push(Waiter { id, since: now });
        }
        let starves = now + STARVING_AFTER;
        if self.wake.is_none_or(|wake| starves < wake) {
            self.wake = Some(starves);
        }
        Fresh { waiting, id }
    }

    /// Whether a new connection of this worker to `addr` has gone [`STARVING_AFTER`] without
    /// an answer by `now`: a kept connection to `addr` whose answer ends is then closed.
    pub fn starving(&self, addr: &PeerAddr, now: Instant) -> bool {
        self.addrs.iter().any(|c| {
            c.addr == *addr
                && c.oldest()
                    .is_some_and(|since| now.saturating_duration_since(since) >= STARVING_AFTER)
        })
    }

    /// When the idle connections to an address are next to be closed for a new connection.
    fn next_due(&self) -> Option<Instant> {
        self.addrs.iter().filter_map(Counts::relieve_at).min()
    }

    /// The addresses with a new connection that starves by `now`, given to `relieve` (which
    /// closes the idle connections to it, this worker's and the other workers'), once per
    /// [`STARVING_AFTER`] while any starves: connections that went idle meanwhile, another
    /// worker's included, go too. The worker calls it when [`Bounds::wake`] has come.
    pub fn due(&mut self, now: Instant, mut relieve: impl FnMut(&PeerAddr)) {
        for counts in &mut self.addrs {
            if counts.relieve_at().is_some_and(|at| at <= now) {
                counts.relieved = Some(now);
                relieve(&counts.addr);
            }
        }
        self.wake = self.next_due();
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
    fn a_new_connection_starves_after_the_grace_until_its_guard_goes() {
        let mut bounds = Bounds::default();
        let a = PeerAddr::Unix("/a.sock".into());
        let b = PeerAddr::Unix("/b.sock".into());
        let t = Instant::now();
        let later = t + STARVING_AFTER;
        assert!(!bounds.starving(&a, later));
        assert_eq!(bounds.next_due(), None);
        let fresh = bounds.fresh(&a, t);
        assert!(
            !bounds.starving(&a, t),
            "answered in time, as nearly all are"
        );
        assert!(bounds.starving(&a, later));
        assert!(
            !bounds.starving(&b, later),
            "another address is not held up"
        );
        assert_eq!(bounds.next_due(), Some(later));
        drop(fresh);
        assert!(!bounds.starving(&a, later));
        assert_eq!(bounds.next_due(), None);
    }

    #[test]
    fn an_address_is_relieved_every_grace_while_a_connection_starves_on_it() {
        let mut bounds = Bounds::default();
        let a = PeerAddr::Unix("/a.sock".into());
        let b = PeerAddr::Tcp(([127, 0, 0, 1], 9000).into());
        let t = Instant::now();
        let ms = |n| t + Duration::from_millis(n);
        let first = bounds.fresh(&a, t);
        let second = bounds.fresh(&a, ms(5));
        let other = bounds.fresh(&b, ms(30));
        let mut relieved = Vec::new();
        bounds.due(ms(10), |addr| relieved.push(addr.clone()));
        assert!(relieved.is_empty(), "nobody waited long enough");
        bounds.due(ms(21), |addr| relieved.push(addr.clone()));
        assert_eq!(relieved, vec![a.clone()]);
        assert_eq!(
            bounds.next_due(),
            Some(ms(41)),
            "the relief covered the second one"
        );
        bounds.due(ms(26), |addr| relieved.push(addr.clone()));
        assert_eq!(relieved.len(), 1, "one relief per grace and address");
        assert!(bounds.starving(&a, ms(40)), "relieved, still starving");
        bounds.due(ms(41), |addr| relieved.push(addr.clone()));
        assert_eq!(relieved, vec![a.clone(), a.clone()]);
        drop(first);
        drop(second);
        assert!(!bounds.starving(&a, ms(45)));
        assert_eq!(bounds.next_due(), Some(ms(50)));
        bounds.due(ms(50), |addr| relieved.push(addr.clone()));
        assert_eq!(relieved.last(), Some(&b));
        drop(other);
        assert_eq!(bounds.next_due(), None);
    }

    #[test]
    fn the_worker_wakes_when_the_first_new_connection_may_starve_and_not_after_the_last() {
        let mut bounds = Bounds::default();
        let a = PeerAddr::Unix("/a.sock".into());
        let t = Instant::now();
        let ms = |n| t + Duration::from_millis(n);
        assert_eq!(bounds.wake(), None);
        let answered = bounds.fresh(&a, t);
        let waiting = bounds.fresh(&a, ms(3));
        assert_eq!(bounds.wake(), Some(ms(20)));
        drop(answered);
        assert_eq!(bounds.wake(), Some(ms(20)), "early rather than late");
        bounds.due(ms(20), |_| panic!("nobody starves yet"));
        assert_eq!(bounds.wake(), Some(ms(23)), "the one still waiting");
        let mut relieved = 0;
        bounds.due(ms(23), |_| relieved += 1);
        assert_eq!(
            (relieved, bounds.wake()),
            (1, Some(ms(43))),
            "again while it starves"
        );
        drop(waiting);
        bounds.due(ms(43), |_| relieved += 1);
        assert_eq!((relieved, bounds.wake()), (1, None));
    }
}
