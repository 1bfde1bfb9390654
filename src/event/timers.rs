//! Deadlines for the owners of a worker: one min-heap, lazily cleaned.
//!
//! An owner keeps its own current deadline; the heap may hold older entries for it. Popping an
//! entry that no longer matches the owner's deadline is how stale entries die, so moving a
//! deadline later (the common case: activity on a connection) costs nothing here.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u32, u32)>>,
}

impl Timers {
    /// Schedules a check of `(slot, generation)` at `at`.
    pub fn schedule(&mut self, at: Instant, slot: u32, generation: u32) {
        self.heap.push(Reverse((at, slot, generation)));
    }

    /// How long `epoll_wait` may sleep before the earliest entry is due.
    pub fn timeout(&self, now: Instant) -> Option<Duration> {
        self.heap
            .peek()
            .map(|Reverse((at, _, _))| at.saturating_duration_since(now))
    }

    /// Removes and returns an entry due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, u32, u32)> {
        match self.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    /// Keeps only the entries `keep(at, slot, generation)` approves: how the owner drops the
    /// stale entries of owners that are gone, when they pile up.
    pub fn retain(&mut self, mut keep: impl FnMut(Instant, u32, u32) -> bool) {
        self.heap
            .retain(|Reverse((at, slot, generation))| keep(*at, *slot, *generation));
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

    #[test]
    fn entries_come_out_earliest_first_and_only_when_due() {
        let mut timers = Timers::default();
        let now = Instant::now();
        timers.schedule(now + Duration::from_secs(5), 1, 0);
        timers.schedule(now + Duration::from_secs(1), 2, 0);
        assert_eq!(timers.timeout(now), Some(Duration::from_secs(1)));
        assert_eq!(timers.pop_due(now), None);
        let later = now + Duration::from_secs(2);
        assert_eq!(timers.pop_due(later).map(|e| e.1), Some(2));
        assert_eq!(timers.pop_due(later), None);
        assert_eq!(timers.len(), 1);
    }

    #[test]
    fn retain_drops_what_the_owner_no_longer_wants() {
        let mut timers = Timers::default();
        let now = Instant::now();
        for slot in 0..10 {
            timers.schedule(now + Duration::from_secs(slot.into()), slot, 0);
        }
        timers.retain(|_, slot, _| slot % 2 == 0);
        assert_eq!(timers.len(), 5);
        assert_eq!(timers.pop_due(now).map(|e| e.1), Some(0));
    }
}
