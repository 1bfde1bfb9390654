//! The idle keep-alive connections of each upstream group, per worker (`keepalive N` in an
//! `upstream` block), as nginx's `ngx_http_upstream_keepalive_module` keeps them: after the
//! balancer has picked a server, a request takes the connection to that server that went idle
//! last; a connection whose exchange ended cleanly (`response::after_exchange`) comes back; at
//! most N are kept per group, the one idle longest is closed to make room. A connection is not
//! kept past `keepalive_requests` requests or `keepalive_time` of age, nor idle past
//! `keepalive_timeout`.
//!
//! Generic over the connection (`C`), which the pool only holds: closing what it gives back,
//! and noticing that a backend closed an idle connection (then [`Pool::remove`]), are the
//! caller's.

use std::sync::Arc;
use std::time::Instant;

use crate::config::proxy::model::{Keepalive, PeerAddr, Upstream};

/// One idle connection.
#[derive(Debug)]
pub struct Idle<C> {
    pub conn: C,
    pub addr: PeerAddr,
    /// When it was opened.
    pub created: Instant,
    /// Requests it has served.
    pub requests: u64,
    /// When it went idle.
    pub since: Instant,
}

/// What [`Pool::put`] did with a connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Put<C> {
    /// Kept; the connection idle longest was evicted to make room (close it).
    Kept { evicted: Option<C> },
    /// Not kept (the group keeps none, or this one is spent): close it.
    Refused(C),
}

/// The idle connections of every group of a configuration.
#[derive(Debug)]
pub struct Pool<C> {
    groups: Vec<GroupPool<C>>,
}

#[derive(Debug)]
struct GroupPool<C> {
    limits: Option<Keepalive>,
    /// Oldest idle first.
    idle: Vec<Idle<C>>,
}

impl<C> Pool<C> {
    /// An empty pool for `upstreams` (indexed by `Upstream::id`).
    pub fn new(upstreams: &[Arc<Upstream>]) -> Pool<C> {
        Pool {
            groups: upstreams
                .iter()
                .map(|u| GroupPool {
                    limits: u.keepalive,
                    idle: Vec::new(),
                })
                .collect(),
        }
    }

    /// Whether group `group` keeps idle connections at all.
    pub fn keeps(&self, group: usize) -> bool {
        self.groups.get(group).is_some_and(|g| g.limits.is_some())
    }

    /// The connection to `addr` that went idle last, unless it has been idle too long.
    pub fn take(&mut self, group: usize, addr: &PeerAddr, now: Instant) -> Option<Idle<C>> {
        let g = self.groups.get_mut(group)?;
        let limits = g.limits?;
        let i = g.idle.iter().rposition(|c| {
            c.addr == *addr && now.saturating_duration_since(c.since) < limits.timeout
        })?;
        Some(g.idle.remove(i))
    }

    /// Offers back a connection that has served `requests` requests and may serve another.
    pub fn put(
        &mut self,
        group: usize,
        conn: C,
        addr: PeerAddr,
        created: Instant,
        requests: u64,
        now: Instant,
    ) -> Put<C> {
        let Some(g) = self.groups.get_mut(group) else {
            return Put::Refused(conn);
        };
        let Some(limits) = g.limits else {
            return Put::Refused(conn);
        };
        if requests >= limits.requests || now.saturating_duration_since(created) >= limits.time {
            return Put::Refused(conn);
        }
        let evicted = if g.idle.len() >= limits.connections {
            Some(g.idle.remove(0).conn)
        } else {
            None
        };
        g.idle.push(Idle {
            conn,
            addr,
            created,
            requests,
            since: now,
        });
        Put::Kept { evicted }
    }

    /// When a connection of `group` that goes idle `now` will have been idle too long.
    pub fn expiry(&self, group: usize, now: Instant) -> Option<Instant> {
        let limits = self.groups.get(group)?.limits?;
        Some(now + limits.timeout)
    }

    /// Removes the idle connections that have been idle for `keepalive_timeout` (to close).
    pub fn expire(&mut self, now: Instant) -> Vec<C> {
        let mut out = Vec::new();
        for g in &mut self.groups {
            let Some(limits) = g.limits else { continue };
            let mut i = 0;
            while i < g.idle.len() {
                if now.saturating_duration_since(g.idle[i].since) >= limits.timeout {
                    out.push(g.idle.remove(i).conn);
                } else {
                    i += 1;
                }
            }
        }
        out
    }

    /// When the next idle connection times out, if any is idle.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.groups
            .iter()
            .filter_map(|g| {
                let limits = g.limits?;
                // Oldest idle first.
                g.idle.first().map(|c| c.since + limits.timeout)
            })
            .min()
    }

    /// Takes out the idle connection `is` picks (one the backend closed, or that sent
    /// something unasked: either way it cannot be used).
    pub fn remove(&mut self, mut is: impl FnMut(&C) -> bool) -> Option<C> {
        for g in &mut self.groups {
            if let Some(i) = g.idle.iter().position(|c| is(&c.conn)) {
                return Some(g.idle.remove(i).conn);
            }
        }
        None
    }

    /// Takes out every idle connection to `addr`, of any group (to close).
    pub fn remove_to(&mut self, addr: &PeerAddr) -> Vec<C> {
        let mut out = Vec::new();
        for g in &mut self.groups {
            let mut i = 0;
            while i < g.idle.len() {
                if g.idle[i].addr == *addr {
                    out.push(g.idle.remove(i).conn);
                } else {
                    i += 1;
                }
            }
        }
        out
    }

    /// Idle connections of `group`.
    pub fn idle(&self, group: usize) -> usize {
        self.groups.get(group).map_or(0, |g| g.idle.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::proxy::model::Balance;
    use std::time::Duration;

    fn group(keepalive: Option<Keepalive>) -> Arc<Upstream> {
        Arc::new(Upstream {
            id: 0,
            name: "u".into(),
            implicit: false,
            servers: Vec::new(),
            balance: Balance::RoundRobin,
            keepalive,
        })
    }

    fn limits(connections: usize) -> Keepalive {
        Keepalive {
            connections,
            timeout: Duration::from_secs(60),
            requests: 100,
            time: Duration::from_secs(3600),
        }
    }

    fn addr(port: u16) -> PeerAddr {
        PeerAddr::Tcp(([127, 0, 0, 1], port).into())
    }

    #[test]
    fn a_request_takes_the_last_idle_connection_to_its_server() {
        let t = Instant::now();
        let mut pool: Pool<&str> = Pool::new(&[group(Some(limits(4)))]);
        assert!(pool.keeps(0));
        for (name, port) in [("a1", 1), ("b1", 2), ("a2", 1)] {
            assert_eq!(
                pool.put(0, name, addr(port), t, 1, t),
                Put::Kept { evicted: None }
            );
        }
        assert_eq!(pool.take(0, &addr(1), t).map(|c| c.conn), Some("a2"));
        assert_eq!(pool.take(0, &addr(1), t).map(|c| c.conn), Some("a1"));
        assert!(pool.take(0, &addr(1), t).is_none());
        let b = pool.take(0, &addr(2), t).unwrap();
        assert_eq!((b.conn, b.requests, b.created), ("b1", 1, t));
        assert!(pool.take(0, &addr(3), t).is_none());
    }

    #[test]
    fn a_full_pool_closes_the_connection_idle_longest() {
        let t = Instant::now();
        let mut pool: Pool<u32> = Pool::new(&[group(Some(limits(2)))]);
        assert_eq!(
            pool.put(0, 1, addr(1), t, 1, t),
            Put::Kept { evicted: None }
        );
        assert_eq!(
            pool.put(0, 2, addr(2), t, 1, t),
            Put::Kept { evicted: None }
        );
        assert_eq!(
            pool.put(0, 3, addr(1), t, 1, t),
            Put::Kept { evicted: Some(1) }
        );
        assert_eq!(pool.idle(0), 2);
    }

    #[test]
    fn spent_connections_and_groups_without_keepalive_are_refused() {
        let t = Instant::now();
        let mut none: Pool<u32> = Pool::new(&[group(None)]);
        assert!(!none.keeps(0) && !none.keeps(5));
        assert_eq!(none.put(0, 1, addr(1), t, 1, t), Put::Refused(1));
        assert_eq!(none.put(9, 2, addr(1), t, 1, t), Put::Refused(2));
        assert!(none.take(0, &addr(1), t).is_none());
        let mut pool: Pool<u32> = Pool::new(&[group(Some(limits(8)))]);
        assert_eq!(pool.put(0, 1, addr(1), t, 100, t), Put::Refused(1));
        let old = t + Duration::from_secs(3600);
        assert_eq!(pool.put(0, 2, addr(1), t, 1, old), Put::Refused(2));
        assert_eq!(
            pool.put(0, 3, addr(1), t, 99, t),
            Put::Kept { evicted: None }
        );
    }

    #[test]
    fn idle_connections_expire_after_the_timeout() {
        let t = Instant::now();
        let s = |n| t + Duration::from_secs(n);
        let mut pool: Pool<u32> = Pool::new(&[group(Some(limits(8))), group(None)]);
        assert_eq!(pool.next_expiry(), None);
        assert_eq!(pool.expiry(0, s(1)), Some(s(61)));
        assert_eq!(pool.expiry(1, s(1)), None, "keeps none");
        pool.put(0, 1, addr(1), t, 1, t);
        pool.put(0, 2, addr(1), t, 1, s(30));
        assert_eq!(pool.next_expiry(), Some(s(60)));
        assert!(pool.expire(s(59)).is_empty());
        // Too old to take, even before the sweep.
        assert_eq!(pool.take(0, &addr(1), s(61)).map(|c| c.conn), Some(2));
        pool.put(0, 2, addr(1), t, 2, s(61));
        assert_eq!(pool.expire(s(60)), vec![1]);
        assert_eq!(pool.next_expiry(), Some(s(121)));
        assert_eq!(pool.remove(|c| *c == 2), Some(2));
        assert_eq!(pool.remove(|c| *c == 2), None);
        assert_eq!(pool.idle(0), 0);
    }

    #[test]
    fn the_idle_connections_to_one_address_can_all_be_taken_out() {
        let t = Instant::now();
        let mut pool: Pool<u32> = Pool::new(&[group(Some(limits(8))), group(Some(limits(8)))]);
        pool.put(0, 1, addr(1), t, 1, t);
        pool.put(0, 2, addr(2), t, 1, t);
        pool.put(1, 3, addr(1), t, 1, t);
        pool.put(0, 4, addr(1), t, 1, t);
        assert_eq!(pool.remove_to(&addr(1)), vec![1, 4, 3]);
        assert!(pool.remove_to(&addr(1)).is_empty());
        assert_eq!((pool.idle(0), pool.idle(1)), (1, 0));
    }
}
