//! The state of `limit_req` and `limit_conn`: one table per zone, shared by every worker (a
//! mutex each, taken only by requests of locations that use the zone), bounded by the zone's
//! size, least recently used keys evicted first.
//!
//! `limit_req` is nginx's leaky bucket, counted in thousandths of a request: each key keeps
//! its `excess` and the time of its last request; a request drains `rate × elapsed` from the
//! excess and adds one request. Past `burst` it is refused; within it, it passes at once (up to
//! `delay` excess requests, or all with `nodelay`) or waits `(excess − delay) / rate`.
//! `limit_conn` counts the requests of a key being served; the count drops when the request
//! ends ([`ConnHold`] is dropped), and a key at zero leaves the table.

use crate::config::{LimitConn, LimitReq, Zone, ZoneKind};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What each state counts against its zone's size besides its key: the node, the map entry
/// and the allocator's share (nginx counts 64 bytes per state on 64-bit systems, so a 1 MiB
/// zone keeps about 16,000 IPv4 states in both).
pub const STATE_BYTES: u64 = 60;

/// The live state of every zone of a configuration, indexed as `Config::zones`.
#[derive(Default)]
pub struct Zones {
    zones: Vec<Arc<ZoneState>>,
}

/// One zone's table.
pub struct ZoneState {
    /// As configured when the table was made: a reload keeps the table only for the same
    /// name, kind, size and key.
    name: String,
    key: String,
    size: u64,
    requests: bool,
    /// Milliseconds are counted from here.
    epoch: Instant,
    table: Mutex<Table>,
}

impl Zones {
    /// The states for `zones`, taking over those of `previous` that are the same zone.
    pub fn new(zones: &[Zone], previous: Option<&Zones>) -> Zones {
        let zones = zones
            .iter()
            .map(|zone| {
                let requests = matches!(zone.kind, ZoneKind::Requests { .. });
                let kept = previous.and_then(|p| {
                    p.zones.iter().find(|s| {
                        s.name == zone.name
                            && s.key == zone.key_text
                            && s.size == zone.size
                            && s.requests == requests
                    })
                });
                match kept {
                    Some(state) => Arc::clone(state),
                    None => Arc::new(ZoneState {
                        name: zone.name.clone(),
                        key: zone.key_text.clone(),
                        size: zone.size,
                        requests,
                        epoch: Instant::now(),
                        table: Mutex::new(Table::new(zone.size)),
                    }),
                }
            })
            .collect();
        Zones { zones }
    }

    fn get(&self, index: usize) -> Option<&Arc<ZoneState>> {
        self.zones.get(index)
    }
}

impl ZoneState {
    fn lock(&self) -> MutexGuard<'_, Table> {
        // A panic while holding the lock leaves a table that is still consistent (every
        // change is one assignment): go on with it.
        self.table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn millis(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_millis() as u64
    }
}

/// What the request-rate limits say about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    Pass,
    /// Over the rate, within the burst: wait this long first.
    Delay(Duration),
    /// Over the burst of the limit at this index of the list.
    Refuse(usize),
    /// The zone at this index could not make room for the key (every state in use).
    Full(usize),
}

/// Applies every `limit_req` of a location to a request whose key in each zone is
/// `keys[i]` (None: an empty key, not limited). As nginx, the request counts against every
/// zone only when no limit refuses it; the delay is the longest any limit asks.
pub fn check_rates(
    limits: &[LimitReq],
    config_zones: &[Zone],
    zones: &Zones,
    keys: &[Option<Vec<u8>>],
    now: Instant,
) -> Rate {
    let mut verdicts = Vec::with_capacity(limits.len());
    for (i, limit) in limits.iter().enumerate() {
        let (Some(state), Some(Some(key))) = (zones.get(limit.zone), keys.get(i)) else {
            continue;
        };
        let Some(ZoneKind::Requests { rate }) = config_zones.get(limit.zone).map(|z| z.kind) else {
            continue;
        };
        let ms = state.millis(now);
        let known = state.lock().peek(key);
        // nginx: excess − rate × elapsed + one request, at least 0; a new key starts at 0.
        let excess = known.map_or(0, |bucket| {
            let elapsed = ms.saturating_sub(bucket.last);
            let drained = i128::from(rate) * i128::from(elapsed) / 1000;
            (i128::from(bucket.excess) - drained + 1000).clamp(0, i128::from(u64::MAX)) as u64
        });
        if excess > limit.burst.saturating_mul(1000) {
            return Rate::Refuse(i);
        }
        verdicts.push((state, key, excess, ms, *limit, rate));
    }
    let mut delay = Duration::ZERO;
    for (i, (state, key, excess, ms, limit, rate)) in verdicts.into_iter().enumerate() {
        let mut table = state.lock();
        if !table.set(key, ReqState { excess, last: ms }) {
            return Rate::Full(i);
        }
        drop(table);
        let free = limit.delay.saturating_mul(1000);
        if excess > free {
            let ms = (excess - free) as u128 * 1000 / rate.max(1) as u128;
            delay = delay.max(Duration::from_millis(ms.min(u64::MAX as u128) as u64));
        }
    }
    if delay.is_zero() {
        Rate::Pass
    } else {
        Rate::Delay(delay)
    }
}

/// One request's place in a `limit_conn` zone: the count of its key drops when this is
/// dropped (when the request ends, or the connection closes).
pub struct ConnHold {
    state: Arc<ZoneState>,
    key: Box<[u8]>,
}

impl std::fmt::Debug for ConnHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConnHold({})", self.state.name)
    }
}

impl Drop for ConnHold {
    fn drop(&mut self) {
        self.state.lock().release(&self.key);
    }
}

/// What the connection limits say.
pub enum Conns {
    Pass(Vec<ConnHold>),
    /// The limit at this index is reached (or its zone is full).
    Refuse(usize),
}

/// Takes a place in every `limit_conn` zone of a location for a request with these keys;
/// none if any limit is reached.
pub fn check_conns(limits: &[LimitConn], zones: &Zones, keys: &[Option<Vec<u8>>]) -> Conns {
    let mut holds = Vec::with_capacity(limits.len());
    for (i, limit) in limits.iter().enumerate() {
        let (Some(state), Some(Some(key))) = (zones.get(limit.zone), keys.get(i)) else {
            continue;
        };
        if !state.lock().acquire(key, limit.max) {
            // The places taken so far are given back as `holds` drops.
            return Conns::Refuse(i);
        }
        holds.push(ConnHold {
            state: Arc::clone(state),
            key: key.clone().into_boxed_slice(),
        });
    }
    Conns::Pass(holds)
}

/// A `limit_req` key's bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ReqState {
    /// Requests over the rate, in thousandths.
    excess: u64,
    /// The zone's milliseconds at the last request.
    last: u64,
}

const NIL: u32 = u32::MAX;

struct Node {
    key: Box<[u8]>,
    /// For a request zone: the bucket; for a connection zone, `excess` is the count.
    state: ReqState,
    prev: u32,
    next: u32,
}

/// Keys to states, with a least-recently-used list threaded through the nodes.
struct Table {
    map: HashMap<Box<[u8]>, u32>,
    nodes: Vec<Node>,
    free: Vec<u32>,
    /// Most recently used.
    head: u32,
    tail: u32,
    used: u64,
    size: u64,
}

impl Table {
    fn new(size: u64) -> Table {
        Table {
            map: HashMap::new(),
            nodes: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            used: 0,
            size,
        }
    }

    fn cost(key: &[u8]) -> u64 {
        STATE_BYTES + key.len() as u64
    }

    fn peek(&self, key: &[u8]) -> Option<ReqState> {
        self.map.get(key).map(|&i| self.nodes[i as usize].state)
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next) = {
            let n = &self.nodes[i as usize];
            (n.prev, n.next)
        };
        match prev {
            NIL => self.head = next,
            p => self.nodes[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.nodes[n as usize].prev = prev,
        }
    }

    fn push_front(&mut self, i: u32) {
        self.nodes[i as usize].prev = NIL;
        self.nodes[i as usize].next = self.head;
        if self.head != NIL {
            self.nodes[self.head as usize].prev = i;
        }
        self.head = i;
        if self.tail == NIL {
            self.tail = i;
        }
    }

    fn remove(&mut self, i: u32) {
        self.unlink(i);
        let key = std::mem::take(&mut self.nodes[i as usize].key);
        self.used -= Table::cost(&key);
        self.map.remove(&key);
        self.free.push(i);
    }

    /// Inserts a key not in the table; false when it does not fit even after `evict` allowed
    /// removing the least recently used states.
    fn insert(&mut self, key: &[u8], state: ReqState, evict: bool) -> bool {
        let cost = Table::cost(key);
        if cost > self.size {
            return false;
        }
        while self.used + cost > self.size {
            if !evict || self.tail == NIL {
                return false;
            }
            self.remove(self.tail);
        }
        let node = Node {
            key: key.into(),
            state,
            prev: NIL,
            next: NIL,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        self.map.insert(key.into(), i);
        self.used += cost;
        self.push_front(i);
        true
    }

    /// Sets the bucket of a request key (the least recently used keys make room).
    fn set(&mut self, key: &[u8], state: ReqState) -> bool {
        match self.map.get(key) {
            Some(&i) => {
                self.nodes[i as usize].state = state;
                self.unlink(i);
                self.push_front(i);
                true
            }
            None => self.insert(key, state, true),
        }
    }

    /// One more request for a connection key, unless it has `max` already. A connection zone
    /// evicts nothing: every state in it is a request being served.
    fn acquire(&mut self, key: &[u8], max: u32) -> bool {
        match self.map.get(key) {
            Some(&i) => {
                let count = &mut self.nodes[i as usize].state.excess;
                if *count >= u64::from(max) {
                    return false;
                }
                *count += 1;
                true
            }
            None => self.insert(key, ReqState { excess: 1, last: 0 }, false),
        }
    }

    fn release(&mut self, key: &[u8]) {
        if let Some(&i) = self.map.get(key) {
            let count = &mut self.nodes[i as usize].state.excess;
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.remove(i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Piece;

    fn zone(kind: ZoneKind, size: u64) -> Zone {
        Zone {
            name: "z".into(),
            key: vec![Piece::Text("k".into())],
            key_text: "k".into(),
            size,
            kind,
        }
    }

    fn req(burst: u64, delay: u64) -> LimitReq {
        LimitReq {
            zone: 0,
            burst,
            delay,
        }
    }

    /// The rate verdicts of requests for `key` at the given milliseconds.
    fn run(rate: u64, limit: LimitReq, at_ms: &[u64]) -> Vec<Rate> {
        let config = [zone(ZoneKind::Requests { rate }, 1 << 20)];
        let zones = Zones::new(&config, None);
        let epoch = zones.zones[0].epoch;
        at_ms
            .iter()
            .map(|ms| {
                let now = epoch + Duration::from_millis(*ms);
                check_rates(&[limit], &config, &zones, &[Some(b"a".to_vec())], now)
            })
            .collect()
    }

    #[test]
    fn without_burst_one_request_per_interval_passes() {
        // 1 r/s: the second request within the second is refused, one a second later passes.
        let got = run(1000, req(0, 0), &[0, 10, 999, 1000, 1500, 2600]);
        assert_eq!(
            got,
            [
                Rate::Pass,
                Rate::Refuse(0),
                Rate::Refuse(0),
                Rate::Pass,
                Rate::Refuse(0),
                Rate::Pass
            ]
        );
    }

    #[test]
    fn a_burst_delays_the_excess_and_refuses_beyond_it() {
        // 2 r/s (one per 500 ms), burst 3: requests 2..4 at once wait 500, 1000, 1500 ms.
        let got = run(2000, req(3, 0), &[0, 0, 0, 0, 0]);
        assert_eq!(
            got,
            [
                Rate::Pass,
                Rate::Delay(Duration::from_millis(500)),
                Rate::Delay(Duration::from_millis(1000)),
                Rate::Delay(Duration::from_millis(1500)),
                Rate::Refuse(0),
            ]
        );
    }

    #[test]
    fn nodelay_passes_the_burst_at_once_and_delay_n_only_the_first_n() {
        let got = run(2000, req(3, u64::MAX), &[0, 0, 0, 0, 0]);
        assert_eq!(
            got,
            [
                Rate::Pass,
                Rate::Pass,
                Rate::Pass,
                Rate::Pass,
                Rate::Refuse(0)
            ]
        );
        let got = run(2000, req(3, 2), &[0, 0, 0, 0, 0]);
        assert_eq!(
            got,
            [
                Rate::Pass,
                Rate::Pass,
                Rate::Pass,
                Rate::Delay(Duration::from_millis(500)),
                Rate::Refuse(0),
            ]
        );
    }

    #[test]
    fn a_refused_request_does_not_count() {
        // At 1 r/s with no burst, hammering does not push the next allowed request further.
        let got = run(1000, req(0, 0), &[0, 100, 200, 300, 1000]);
        assert_eq!(got[4], Rate::Pass);
    }

    #[test]
    fn keys_are_counted_apart() {
        let config = [zone(ZoneKind::Requests { rate: 1000 }, 1 << 20)];
        let zones = Zones::new(&config, None);
        let now = Instant::now();
        let check =
            |key: &[u8]| check_rates(&[req(0, 0)], &config, &zones, &[Some(key.to_vec())], now);
        assert_eq!(check(b"one"), Rate::Pass);
        assert_eq!(check(b"one"), Rate::Refuse(0));
        assert_eq!(check(b"two"), Rate::Pass);
        // An empty key is not limited.
        assert_eq!(
            check_rates(&[req(0, 0)], &config, &zones, &[None], now),
            Rate::Pass
        );
        assert_eq!(
            check_rates(&[req(0, 0)], &config, &zones, &[None], now),
            Rate::Pass
        );
    }

    #[test]
    fn a_full_request_zone_forgets_its_least_recently_used_keys() {
        let mut table = Table::new(3 * (STATE_BYTES + 1));
        let state = ReqState { excess: 5, last: 0 };
        for key in [b"a", b"b", b"c"] {
            assert!(table.set(key, state));
        }
        assert!(table.set(b"a", state), "a is now the most recent");
        assert!(table.set(b"d", state));
        assert!(table.peek(b"b").is_none(), "b was the least recently used");
        assert!(table.peek(b"a").is_some() && table.peek(b"c").is_some());
        assert_eq!(table.map.len(), 3);
        assert!(table.used <= table.size);
        assert!(
            !table.set(&[0u8; 1000], state),
            "a key larger than the zone"
        );
    }

    #[test]
    fn connection_places_are_counted_per_key_and_given_back() {
        let config = [zone(ZoneKind::Connections, 1 << 20)];
        let zones = Zones::new(&config, None);
        let limit = [LimitConn { zone: 0, max: 2 }];
        let key = [Some(b"a".to_vec())];
        let Conns::Pass(first) = check_conns(&limit, &zones, &key) else {
            panic!()
        };
        let Conns::Pass(second) = check_conns(&limit, &zones, &key) else {
            panic!()
        };
        assert!(matches!(
            check_conns(&limit, &zones, &key),
            Conns::Refuse(0)
        ));
        assert!(matches!(
            check_conns(&limit, &zones, &[Some(b"b".to_vec())]),
            Conns::Pass(_)
        ));
        drop(first);
        let Conns::Pass(third) = check_conns(&limit, &zones, &key) else {
            panic!()
        };
        drop((second, third));
        assert!(
            zones.zones[0].lock().map.is_empty(),
            "a key at zero leaves the table"
        );
    }

    #[test]
    fn a_full_connection_zone_refuses_instead_of_evicting() {
        let mut table = Table::new(2 * (STATE_BYTES + 1));
        assert!(table.acquire(b"a", 10));
        assert!(table.acquire(b"b", 10));
        assert!(!table.acquire(b"c", 10));
        table.release(b"a");
        assert!(table.acquire(b"c", 10));
    }

    #[test]
    fn a_reload_keeps_the_states_of_an_unchanged_zone_only() {
        let config = [zone(ZoneKind::Requests { rate: 1000 }, 1 << 20)];
        let old = Zones::new(&config, None);
        let kept = Zones::new(&config, Some(&old));
        assert!(Arc::ptr_eq(&old.zones[0], &kept.zones[0]));
        let mut bigger = config.clone();
        bigger[0].size *= 2;
        let fresh = Zones::new(&bigger, Some(&old));
        assert!(!Arc::ptr_eq(&old.zones[0], &fresh.zones[0]));
    }
}
