//! Deadlines for the owners of a worker: one min-heap, lazily cleaned.
//!
//! An owner is a connection (`stream` 0) or one of its exchanges (`stream` 1..): each keeps its
//! own current [`Deadline`]; the heap may hold older entries for it. Popping an entry that no
//! longer matches the owner's deadline is how stale entries die, so moving a deadline later (the
//! common case: activity on a connection) costs nothing here.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// Who a timer entry is for: a connection's slot and generation, and the stream within it (0:
/// the connection itself; 1..: one of its exchanges).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimerKey {
    pub slot: u32,
    pub generation: u32,
    pub stream: u16,
}

/// One owner's deadline: when its current wait ends (`at`), and the earliest entry the timer
/// queue holds for it (`scheduled`), which the owner's worker keeps in step.
#[derive(Debug, Default, Clone, Copy)]
pub struct Deadline {
    pub at: Option<Instant>,
    pub scheduled: Option<Instant>,
}

impl Deadline {
    /// Whether the queue must get an entry for `at` (none is due by then).
    pub fn needs_entry(&self) -> Option<Instant> {
        let at = self.at?;
        self.scheduled.is_none_or(|s| s > at).then_some(at)
    }
}

#[derive(Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, TimerKey)>>,
    /// The entries the last [`Timers::retain`] kept.
    kept: usize,
}

impl Timers {
    /// Schedules a check of `key` at `at`.
    pub fn schedule(&mut self, at: Instant, key: TimerKey) {
        self.heap.push(Reverse((at, key)));
    }

    /// How long `epoll_wait` may sleep before the earliest entry is due.
    pub fn timeout(&self, now: Instant) -> Option<Duration> {
        self.heap
            .peek()
            .map(|Reverse((at, _))| at.saturating_duration_since(now))
    }

    /// Removes and returns an entry due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, TimerKey)> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    /// Keeps only the entries `keep(at, key)` approves: how the owner drops the stale entries
    /// of owners that are gone, when they pile up.
    pub fn retain(&mut self, mut keep: impl FnMut(Instant, TimerKey) -> bool) {
        self.heap.retain(|Reverse((at, key))| keep(*at, *key));
        self.kept = self.heap.len();
    }

    /// Whether stale entries may crowd the queue, for an owner of `live` connections: it
    /// holds more than twice what the last [`Timers::retain`] kept, and more than 4 entries a
    /// connection plus 1,024. Sweeping then (keeping one entry per deadline) holds the queue
    /// within a small multiple of the live deadlines, at O(1) a scheduled entry.
    pub fn crowded(&self, live: usize) -> bool {
        self.heap.len() > (4 * live + 1024).max(2 * self.kept)
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(slot: u32, stream: u16) -> TimerKey {
        TimerKey {
            slot,
            generation: 0,
            stream,
        }
    }

    #[test]
    fn entries_come_out_earliest_first_and_only_when_due() {
        let mut timers = Timers::default();
        let now = Instant::now();
        timers.schedule(now + Duration::from_secs(5), key(1, 0));
        timers.schedule(now + Duration::from_secs(1), key(2, 1));
        assert_eq!(timers.timeout(now), Some(Duration::from_secs(1)));
        assert_eq!(timers.pop_due(now), None);
        let later = now + Duration::from_secs(2);
        assert_eq!(timers.pop_due(later).map(|e| e.1), Some(key(2, 1)));
        assert_eq!(timers.pop_due(later), None);
        assert_eq!(timers.len(), 1);
    }

    #[test]
    fn retain_drops_what_the_owner_no_longer_wants() {
        let mut timers = Timers::default();
        let now = Instant::now();
        for slot in 0..10 {
            timers.schedule(now + Duration::from_secs(slot.into()), key(slot, 0));
        }
        timers.retain(|_, key| key.slot % 2 == 0);
        assert_eq!(timers.len(), 5);
        assert_eq!(timers.pop_due(now).map(|e| e.1.slot), Some(0));
    }

    #[test]
    fn an_exchange_deadline_per_request_leaves_a_bounded_queue() {
        // One connection, a million requests within one timeout: each request's exchange has
        // a deadline of its own (stream 1, its backend's read timeout), which needs an entry;
        // once the exchange is over, the entry is stale but falls due only a timeout later.
        let mut timers = Timers::default();
        let start = Instant::now();
        let mut connection = Deadline::default();
        let mut most = 0;
        let mut swept_entries = 0;
        for n in 0..1_000_000u64 {
            let now = start + Duration::from_micros(n * 20);
            connection.at = Some(now + Duration::from_secs(75));
            if let Some(at) = connection.needs_entry() {
                connection.scheduled = Some(at);
                timers.schedule(at, key(1, 0));
            }
            let mut exchange = Deadline {
                at: Some(now + Duration::from_secs(60)),
                scheduled: None,
            };
            if let Some(at) = exchange.needs_entry() {
                exchange.scheduled = Some(at);
                timers.schedule(at, key(1, 1));
            }
            assert_eq!(exchange.needs_entry(), None);
            // The exchange ends; the worker sweeps when the queue is crowded.
            if timers.crowded(1) {
                swept_entries += timers.len();
                let live = connection.scheduled;
                timers.retain(|at, key| key.stream == 0 && Some(at) == live);
            }
            most = most.max(timers.len());
        }
        assert!(most <= 4 + 1024 + 1, "{most} entries at most");
        assert!(
            swept_entries < 2 * 1_000_000,
            "O(1) a request: {swept_entries}"
        );
    }

    #[test]
    fn a_queue_of_many_live_deadlines_is_not_swept_at_every_entry() {
        // 20,000 live deadlines (HTTP/2 streams) on 10 connections: after one sweep keeps
        // them, the next waits until the queue has doubled.
        let mut timers = Timers::default();
        let now = Instant::now();
        for slot in 0..20_000 {
            timers.schedule(now + Duration::from_secs(slot.into()), key(slot, 1));
        }
        assert!(timers.crowded(10));
        timers.retain(|_, _| true);
        for slot in 0..20_000 {
            assert!(!timers.crowded(10), "entry {slot}");
            timers.schedule(now + Duration::from_secs(slot.into()), key(slot, 2));
        }
        timers.schedule(now, key(0, 3));
        assert!(timers.crowded(10));
    }

    #[test]
    fn a_deadline_needs_an_entry_only_when_none_is_due_by_then() {
        let now = Instant::now();
        let mut deadline = Deadline::default();
        assert_eq!(deadline.needs_entry(), None);
        deadline.at = Some(now + Duration::from_secs(2));
        assert_eq!(deadline.needs_entry(), deadline.at);
        deadline.scheduled = Some(now + Duration::from_secs(1));
        assert_eq!(
            deadline.needs_entry(),
            None,
            "an earlier entry will look again"
        );
        deadline.scheduled = Some(now + Duration::from_secs(3));
        assert_eq!(deadline.needs_entry(), deadline.at);
    }
}
