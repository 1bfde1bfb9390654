//! The connections to FastCGI applications kept open between requests (`fastcgi_keep_conn
//! on`), per worker and per address: a request takes the connection that went idle last, a
//! clean exchange gives its connection back ([`crate::upstream::Upstream::into_reusable`]).
//!
//! Bounds, and why: an application such as php-fpm gives a kept connection a worker process of
//! its own for as long as the connection stays open, idle or not, and a connection it has not
//! accepted yet waits in its listen queue until one of its processes is free. So:
//! - a worker keeps at most [`KEPT_PER_ADDRESS`] connections (idle and busy) to one address; a
//!   request beyond them gets a connection of its own, opened without FCGI_KEEP_CONN and closed
//!   by the application after its answer;
//! - a kept connection whose answer ends while a new connection of this worker to the same
//!   address still waits for its first answer is closed instead of kept: that frees the
//!   application process it held, which may be what the new connection waits for;
//! - an idle connection is closed after [`IDLE_TIMEOUT`], and any connection after
//!   [`MAX_REQUESTS`] requests (nginx's `keepalive_timeout` and `keepalive_requests` defaults).
//!
//! With these, a pool of more application processes than [`KEPT_PER_ADDRESS`] never leaves a
//! request waiting behind processes held by idle connections.
//!
//! An idle connection stays in the worker's epoll under a token of kind [`Kind::Idle`]: any
//! input on it (the application closing it, or sending something unasked) removes and closes
//! it. A connection is also checked just before its reuse (a peek that must find nothing).
//!
//! The shared upstream pool of `upstream` blocks (`keepalive N`) replaces this one when it
//! exists; the interface is the same shape: take, lease, put, closed, expire.

use crate::event::{Kind, Poller, Registration, Role, Token};
use crate::upstream::{Address, Endpoint};
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Most connections (idle and busy) a worker keeps open to one address.
pub const KEPT_PER_ADDRESS: usize = 4;
/// How long a connection may stay idle.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Requests one connection carries before it is closed.
pub const MAX_REQUESTS: u32 = 1000;

/// The right to keep one connection open to an address (counted while it lives).
pub struct Lease {
    kept: Rc<Cell<usize>>,
    /// Requests its connection has carried.
    requests: u32,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.kept.set(self.kept.get().saturating_sub(1));
    }
}

struct Idle {
    id: u64,
    endpoint: Endpoint,
    lease: Lease,
    since: Instant,
}

/// A new connection waiting for its first answer (counted while it lives).
pub struct Fresh(Rc<Cell<usize>>);

impl Drop for Fresh {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

struct Backend {
    address: Address,
    kept: Rc<Cell<usize>>,
    /// New connections waiting for their first answer.
    fresh: Rc<Cell<usize>>,
    /// Oldest idle first.
    idle: Vec<Idle>,
}

/// One worker's kept connections.
#[derive(Default)]
pub struct Pool {
    backends: Vec<Backend>,
    next_id: u64,
}

/// Idle-connection ids fit a token's slot and generation.
const ID_BITS: u32 = Token::SLOT_BITS + Token::GENERATION_BITS;

fn token_of(id: u64) -> Token {
    let slot_mask = (1u64 << Token::SLOT_BITS) - 1;
    Token::new(
        Kind::Idle,
        (id & slot_mask) as u32,
        (id >> Token::SLOT_BITS) as u32,
    )
}

fn id_of(token: Token) -> u64 {
    u64::from(token.slot) | u64::from(token.generation) << Token::SLOT_BITS
}

impl Pool {
    fn backend(&mut self, address: &Address) -> &mut Backend {
        let index = match self.backends.iter().position(|b| b.address == *address) {
            Some(index) => index,
            None => {
                self.backends.push(Backend {
                    address: address.clone(),
                    kept: Rc::new(Cell::new(0)),
                    fresh: Rc::new(Cell::new(0)),
                    idle: Vec::new(),
                });
                self.backends.len() - 1
            }
        };
        &mut self.backends[index]
    }

    /// The connection to `address` that went idle last and is still open, handed to the
    /// exchange of `registration`.
    pub fn take(
        &mut self,
        address: &Address,
        registration: &Registration,
    ) -> Option<(Endpoint, Lease)> {
        let backend = self.backends.iter_mut().find(|b| b.address == *address)?;
        while let Some(mut idle) = backend.idle.pop() {
            if idle.endpoint.is_idle_alive()
                && idle
                    .endpoint
                    .take_idle(registration.poller, registration.token(Role::Socket))
                    .is_ok()
            {
                return Some((idle.endpoint, idle.lease));
            }
            // Closed by the application meanwhile: dropped (closed) here.
        }
        None
    }

    /// The right to open one more kept connection to `address`, unless the worker keeps
    /// [`KEPT_PER_ADDRESS`] already.
    pub fn lease(&mut self, address: &Address) -> Option<Lease> {
        let backend = self.backend(address);
        if backend.kept.get() >= KEPT_PER_ADDRESS {
            return None;
        }
        backend.kept.set(backend.kept.get() + 1);
        Some(Lease {
            kept: Rc::clone(&backend.kept),
            requests: 0,
        })
    }

    /// Counts a new connection to `address` until its first answer (the guard's drop).
    pub fn fresh(&mut self, address: &Address) -> Fresh {
        let backend = self.backend(address);
        backend.fresh.set(backend.fresh.get() + 1);
        Fresh(Rc::clone(&backend.fresh))
    }

    /// Keeps `endpoint` (a connection to `address` that finished a request cleanly) idle,
    /// watched in `poller`. It is closed instead when a new connection to the address waits
    /// for its first answer, or when it is spent ([`MAX_REQUESTS`]).
    pub fn put(
        &mut self,
        address: &Address,
        mut endpoint: Endpoint,
        mut lease: Lease,
        poller: &Poller,
        now: Instant,
    ) {
        lease.requests += 1;
        if lease.requests >= MAX_REQUESTS || self.backend(address).fresh.get() > 0 {
            return;
        }
        let id = self.next_id & ((1 << ID_BITS) - 1);
        self.next_id = self.next_id.wrapping_add(1);
        if endpoint.park(poller, token_of(id)).is_err() {
            return;
        }
        self.backend(address).idle.push(Idle {
            id,
            endpoint,
            lease,
            since: now,
        });
    }

    /// An event on an idle connection (`token`, of kind [`Kind::Idle`], watched for input only):
    /// input or a hangup means it cannot carry a request; it is closed.
    pub fn ready(&mut self, token: Token, readable: bool, hangup: bool, error: bool) {
        if !(readable || hangup || error) {
            return;
        }
        let id = id_of(token);
        for backend in &mut self.backends {
            if let Some(i) = backend.idle.iter().position(|idle| idle.id == id) {
                backend.idle.remove(i);
                return;
            }
        }
    }

    /// Closes the connections idle for [`IDLE_TIMEOUT`].
    pub fn expire(&mut self, now: Instant) {
        for backend in &mut self.backends {
            backend.idle.retain(|idle| now < idle.since + IDLE_TIMEOUT);
        }
        self.backends
            .retain(|b| !b.idle.is_empty() || b.kept.get() > 0 || b.fresh.get() > 0);
    }

    /// When the next idle connection times out.
    #[inline]
    pub fn next_expiry(&self) -> Option<Instant> {
        if self.backends.is_empty() {
            return None;
        }
        self.backends
            .iter()
            .filter_map(|b| b.idle.first().map(|idle| idle.since + IDLE_TIMEOUT))
            .min()
    }

    /// Idle connections to `address`.
    pub fn idle(&self, address: &Address) -> usize {
        self.backends
            .iter()
            .find(|b| b.address == *address)
            .map_or(0, |b| b.idle.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    fn registration(poller: &Poller) -> Registration<'_> {
        Registration {
            poller,
            slot: 5,
            generation: 1,
            stream: 1,
        }
    }

    #[test]
    fn idle_ids_survive_their_token() {
        for id in [0, 1, (1 << 20) - 1, 1 << 20, (1 << ID_BITS) - 1] {
            assert_eq!(id_of(token_of(id)), id);
        }
    }

    #[test]
    fn kept_connections_are_bounded_per_address_and_counted_until_closed() {
        let mut pool = Pool::default();
        let a = Address::Unix("/a.sock".into());
        let b = Address::Unix("/b.sock".into());
        let leases: Vec<Lease> = (0..KEPT_PER_ADDRESS)
            .map(|_| pool.lease(&a).expect("under the bound"))
            .collect();
        assert!(pool.lease(&a).is_none(), "at the bound");
        assert!(pool.lease(&b).is_some(), "another address has its own");
        drop(leases);
        assert!(
            pool.lease(&a).is_some(),
            "a closed connection frees its place"
        );
    }

    #[test]
    fn a_connection_comes_back_idle_and_leaves_when_closed_expired_or_taken() {
        let mut poller = Poller::new(8).unwrap();
        // A unix socket: connected at once (an idle connection is one whose connect is done).
        let dir = std::env::temp_dir().join(format!("webserv-pool-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("app.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let address = Address::Unix(path);
        let mut pool = Pool::default();
        let connect = |pool: &mut Pool, poller: &Poller| {
            let endpoint = Endpoint::connect(&address, &registration(poller)).unwrap();
            let (peer, _) = listener.accept().unwrap();
            let lease = pool.lease(&address).unwrap();
            (endpoint, lease, peer)
        };
        let t = Instant::now();

        // Kept, then taken back (the peek finds nothing), then the pool is empty.
        let (endpoint, lease, _peer1) = connect(&mut pool, &poller);
        pool.put(&address, endpoint, lease, &poller, t);
        assert_eq!(pool.idle(&address), 1);
        assert_eq!(pool.next_expiry(), Some(t + IDLE_TIMEOUT));
        assert!(pool.take(&address, &registration(&poller)).is_some());
        assert!(pool.take(&address, &registration(&poller)).is_none());

        // Closed by the application while idle: its event removes it.
        let (endpoint, lease, peer2) = connect(&mut pool, &poller);
        pool.put(&address, endpoint, lease, &poller, t);
        drop(peer2);
        let mut events = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool.idle(&address) == 1 && Instant::now() < deadline {
            events.clear();
            poller
                .wait(Some(Duration::from_millis(50)), &mut events)
                .unwrap();
            for e in &events {
                assert_eq!(e.token.kind, Kind::Idle);
                pool.ready(e.token, e.readable, e.hangup, e.error);
            }
        }
        assert_eq!(pool.idle(&address), 0);

        // Closed without its event being seen: the peek before reuse finds the end.
        let (endpoint, lease, peer3) = connect(&mut pool, &poller);
        pool.put(&address, endpoint, lease, &poller, t);
        drop(peer3);
        std::thread::sleep(Duration::from_millis(50));
        assert!(pool.take(&address, &registration(&poller)).is_none());

        // Not kept while a new connection waits for its first answer.
        let (endpoint, lease, _peer5) = connect(&mut pool, &poller);
        let fresh = pool.fresh(&address);
        pool.put(&address, endpoint, lease, &poller, t);
        assert_eq!(pool.idle(&address), 0);
        drop(fresh);

        // Idle too long: expired.
        let (endpoint, lease, _peer4) = connect(&mut pool, &poller);
        pool.put(&address, endpoint, lease, &poller, t);
        pool.expire(t + IDLE_TIMEOUT - Duration::from_millis(1));
        assert_eq!(pool.idle(&address), 1);
        pool.expire(t + IDLE_TIMEOUT);
        assert_eq!(pool.idle(&address), 0);
        assert!(
            pool.lease(&address).is_some(),
            "expired ones free their place"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
