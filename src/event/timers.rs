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
