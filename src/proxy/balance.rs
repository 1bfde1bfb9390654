//! Choosing the server of an upstream group for each try of a request, as nginx's
//! `ngx_http_upstream_round_robin` and `least_conn` modules do, with the state of every group
//! kept per worker (nginx without a `zone` does the same; webserv has no `zone`).
//!
//! - Round-robin is nginx's *smooth weighted* round-robin: each pick adds every available
//!   server's effective weight to its current weight, takes the server with the highest current
//!   weight and subtracts the total from it (weights 5, 1, 1 give `a a b a c a a`).
//! - `least_conn` takes the server with the fewest active connections relative to its weight;
//!   ties go by the same smooth round-robin among the tied servers.
//! - Passive health: a failed try counts against its server; once `max_fails` failures are
//!   counted within `fail_timeout`, the server is skipped for `fail_timeout`, then given one
//!   request: a success clears its count, a failure skips it again. A failure also lowers the
//!   server's effective weight by `weight / max_fails`; each pick raises it back by one. A group
//!   of a single server (and no backup) never counts failures: there is nowhere else to go.
//! - `backup` servers are used only when no primary server is available for a try; a request
//!   that went to the backups stays with them.
//! - When no server is available, the try gets none: nginx's "no live upstreams", a 502.
//! - `max_conns` skips a server with that many active connections (in this worker); `down`
//!   skips it always.
//!
//! Each [`Balancer::pick`] must be followed by exactly one [`Balancer::release`] of what it
//! returned (the [`Chosen`] is consumed), which ends the try and counts it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::proxy::model::{Balance, Upstream};

/// The per-worker state of every upstream group of a configuration.
#[derive(Debug)]
pub struct Balancer {
    groups: Vec<Group>,
}

#[derive(Debug)]
struct Group {
    primary: Vec<Peer>,
    backup: Vec<Peer>,
    balance: Balance,
    /// One primary server and no backup: failures are not counted (nginx's `single`).
    single: bool,
}

#[derive(Debug)]
struct Peer {
    /// Index of the server in `Upstream::servers`.
    server: usize,
    weight: i64,
    effective_weight: i64,
    current_weight: i64,
    conns: u32,
    max_conns: u32,
    fails: u32,
    max_fails: u32,
    fail_timeout: Duration,
    /// When the last failure was counted.
    accessed: Option<Instant>,
    /// When the current window of `fail_timeout` started.
    checked: Option<Instant>,
    down: bool,
}

impl Peer {
    /// Whether the server may take a try now.
    fn available(&self, now: Instant) -> bool {
        !self.down && !self.failed_recently(now) && !self.full()
    }

    fn failed_recently(&self, now: Instant) -> bool {
        self.max_fails > 0
            && self.fails >= self.max_fails
            && self
                .checked
                .is_some_and(|c| now.saturating_duration_since(c) <= self.fail_timeout)
    }

    fn full(&self) -> bool {
        self.max_conns > 0 && self.conns >= self.max_conns
    }

    /// Smooth round-robin's step for a candidate: its current weight grows by its effective
    /// weight, which itself recovers by one.
    fn advance(&mut self) -> i64 {
        self.current_weight += self.effective_weight;
        let added = self.effective_weight;
        if self.effective_weight < self.weight {
            self.effective_weight += 1;
        }
        added
    }
}

/// Which set of servers a request is being tried on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tier {
    Primary,
    Backup,
}

/// One request's tries on a group: which servers it has had, how many tries are left.
#[derive(Debug)]
pub struct Attempt {
    group: usize,
    tier: Tier,
    /// Servers of the current tier already tried by this request.
    tried: Tried,
    tries: u32,
    started: Instant,
}

/// A set of server indexes: in a word for the first 64 (no allocation for the usual groups),
/// in a vector beyond.
#[derive(Debug, Clone)]
struct Tried {
    first: u64,
    more: Vec<u64>,
}

impl Tried {
    fn new(servers: usize) -> Tried {
        Tried {
            first: 0,
            more: vec![0; servers.saturating_sub(1) / 64],
        }
    }

    fn has(&self, i: usize) -> bool {
        let word = match i / 64 {
            0 => self.first,
            n => self.more.get(n - 1).copied().unwrap_or(0),
        };
        word & (1 << (i % 64)) != 0
    }

    fn set(&mut self, i: usize) {
        let word = match i / 64 {
            0 => &mut self.first,
            n => match self.more.get_mut(n - 1) {
                Some(word) => word,
                None => return,
            },
        };
        *word |= 1 << (i % 64);
    }
}

impl Attempt {
    /// Tries left for this request (each release uses one).
    pub fn tries_left(&self) -> u32 {
        self.tries
    }

    /// Time since the first try began (for `proxy_next_upstream_timeout`).
    pub fn elapsed(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.started)
    }
}

/// The server picked for one try; give it back with [`Balancer::release`].
#[derive(Debug, PartialEq, Eq)]
pub struct Chosen {
    group: usize,
    tier: Tier,
    index: usize,
    /// Index in `Upstream::servers` (its address, for connecting and `$upstream_addr`).
    pub server: usize,
}

/// How a try ended, for the server's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answered (whatever the status), or moved on for a reason that is not the server's
    /// fault (`http_403`, `http_404`).
    Success,
    /// Error, timeout, invalid header, or a status `proxy_next_upstream` moved on for.
    Failure,
}

impl Balancer {
    /// Fresh state for every group of `upstreams` (indexed by `Upstream::id`).
    pub fn new(upstreams: &[Arc<Upstream>]) -> Balancer {
        let groups = upstreams
            .iter()
            .map(|u| {
                let peers = |backup: bool| -> Vec<Peer> {
                    u.servers
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| s.backup == backup)
                        .map(|(server, s)| Peer {
                            server,
                            weight: i64::from(s.weight),
                            effective_weight: i64::from(s.weight),
                            current_weight: 0,
                            conns: 0,
                            max_conns: s.max_conns,
                            fails: 0,
                            max_fails: s.max_fails,
                            fail_timeout: s.fail_timeout,
                            accessed: None,
                            checked: None,
                            down: s.down,
                        })
                        .collect()
                };
                let (primary, backup) = (peers(false), peers(true));
                Group {
                    single: primary.len() == 1 && backup.is_empty(),
                    primary,
                    backup,
                    balance: u.balance,
                }
            })
            .collect();
        Balancer { groups }
    }

    /// Starts the tries of one request on group `upstream` (its `id`): as many tries as the
    /// group has servers, or `limit` if that is lower (`proxy_next_upstream_tries`, 0 for no
    /// limit).
    pub fn begin(&self, upstream: usize, limit: u32, now: Instant) -> Attempt {
        let (servers, primary) = self.groups.get(upstream).map_or((0, 0), |g| {
            (g.primary.len() + g.backup.len(), g.primary.len())
        });
        let servers = u32::try_from(servers).unwrap_or(u32::MAX);
        Attempt {
            group: upstream,
            tier: Tier::Primary,
            tried: Tried::new(primary),
            tries: if limit == 0 {
                servers
            } else {
                servers.min(limit)
            },
            started: now,
        }
    }

    /// The server for the next try of `attempt`, or None when no server is available (no
    /// tries left, all tried, down, failing or full).
    pub fn pick(&mut self, attempt: &mut Attempt, now: Instant) -> Option<Chosen> {
        if attempt.tries == 0 {
            return None;
        }
        let group = self.groups.get_mut(attempt.group)?;
        if group.single {
            let peer = group.primary.first_mut()?;
            if peer.down || peer.full() || attempt.tried.has(0) {
                return None;
            }
            return Some(take(group, attempt, 0, now));
        }
        loop {
            let peers = match attempt.tier {
                Tier::Primary => &mut group.primary,
                Tier::Backup => &mut group.backup,
            };
            let found = match group.balance {
                Balance::RoundRobin => round_robin(peers, &attempt.tried, now),
                Balance::LeastConn => least_conn(peers, &attempt.tried, now),
            };
            match (found, attempt.tier) {
                (Some(i), _) => return Some(take(group, attempt, i, now)),
                (None, Tier::Primary) if !group.backup.is_empty() => {
                    attempt.tier = Tier::Backup;
                    attempt.tried = Tried::new(group.backup.len());
                }
                (None, _) => return None,
            }
        }
    }

    /// Ends the try of `chosen` with `outcome`: the server's connection count, its health,
    /// and one try of `attempt` used.
    pub fn release(
        &mut self,
        attempt: &mut Attempt,
        chosen: Chosen,
        outcome: Outcome,
        now: Instant,
    ) {
        attempt.tries = attempt.tries.saturating_sub(1);
        let Some(group) = self.groups.get_mut(chosen.group) else {
            return;
        };
        let single = group.single;
        let peers = match chosen.tier {
            Tier::Primary => &mut group.primary,
            Tier::Backup => &mut group.backup,
        };
        let Some(peer) = peers.get_mut(chosen.index) else {
            return;
        };
        peer.conns = peer.conns.saturating_sub(1);
        if single {
            attempt.tries = 0;
            return;
        }
        match outcome {
            Outcome::Failure => {
                peer.fails = peer.fails.saturating_add(1);
                peer.accessed = Some(now);
                peer.checked = Some(now);
                if peer.max_fails > 0 {
                    peer.effective_weight -= peer.weight / i64::from(peer.max_fails);
                }
                peer.effective_weight = peer.effective_weight.max(0);
            }
            Outcome::Success => {
                // The server was given a try after its window ended, and answered.
                if peer.accessed < peer.checked {
                    peer.fails = 0;
                }
            }
        }
    }
}

/// Marks peer `i` of the attempt's tier as taken by this try.
fn take(group: &mut Group, attempt: &mut Attempt, i: usize, now: Instant) -> Chosen {
    let peers = match attempt.tier {
        Tier::Primary => &mut group.primary,
        Tier::Backup => &mut group.backup,
    };
    let peer = &mut peers[i];
    if peer
        .checked
        .is_none_or(|c| now.saturating_duration_since(c) > peer.fail_timeout)
    {
        peer.checked = Some(now);
    }
    peer.conns = peer.conns.saturating_add(1);
    attempt.tried.set(i);
    Chosen {
        group: attempt.group,
        tier: attempt.tier,
        index: i,
        server: peer.server,
    }
}

/// nginx's smooth weighted round-robin over the available, untried peers.
fn round_robin(peers: &mut [Peer], tried: &Tried, now: Instant) -> Option<usize> {
    let mut best: Option<(usize, i64)> = None;
    let mut total = 0i64;
    for (i, peer) in peers.iter_mut().enumerate() {
        if tried.has(i) || !peer.available(now) {
            continue;
        }
        total += peer.advance();
        if best.is_none_or(|(_, weight)| peer.current_weight > weight) {
            best = Some((i, peer.current_weight));
        }
    }
    let (best, _) = best?;
    peers[best].current_weight -= total;
    Some(best)
}

/// `least_conn`: fewest connections per unit of weight; among equals, smooth round-robin.
fn least_conn(peers: &mut [Peer], tried: &Tried, now: Instant) -> Option<usize> {
    let candidate = |i: usize, p: &Peer| !tried.has(i) && p.available(now);
    let mut best: Option<usize> = None;
    let mut many = false;
    for (i, p) in peers.iter().enumerate() {
        if !candidate(i, p) {
            continue;
        }
        match best {
            None => best = Some(i),
            Some(b) => {
                let (mine, theirs) = ratio(p, &peers[b]);
                if mine < theirs {
                    best = Some(i);
                    many = false;
                } else if mine == theirs {
                    many = true;
                }
            }
        }
    }
    let first = best?;
    if !many {
        return Some(first);
    }
    let mut total = 0i64;
    let mut chosen = first;
    for i in first..peers.len() {
        let tied = {
            let (mine, theirs) = ratio(&peers[i], &peers[first]);
            mine == theirs
        };
        if !tied || !candidate(i, &peers[i]) {
            continue;
        }
        total += peers[i].advance();
        if peers[i].current_weight > peers[chosen].current_weight {
            chosen = i;
        }
    }
    peers[chosen].current_weight -= total;
    Some(chosen)
}

/// `a.conns / a.weight` against `b.conns / b.weight`, cross-multiplied.
fn ratio(a: &Peer, b: &Peer) -> (u128, u128) {
    let weight = |p: &Peer| u128::try_from(p.weight.max(1)).unwrap_or(1);
    (
        u128::from(a.conns) * weight(b),
        u128::from(b.conns) * weight(a),
    )
}

#[cfg(test)]
mod tests;
