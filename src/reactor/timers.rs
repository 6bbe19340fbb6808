//! One min-heap of deadlines for the whole process (STYLE.md §4).
//!
//! Cancelling is forgetting: an entry whose id is no longer live is skipped when popped, and
//! every handler re-checks its condition, so a late or doubled fire does nothing.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

/// Handle of an armed timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId(u64);

/// The heap.
#[derive(Debug)]
pub struct Timers<T> {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    live: HashMap<u64, T>,
    next: u64,
}

impl<T> Default for Timers<T> {
    fn default() -> Self {
        Timers {
            heap: BinaryHeap::new(),
            live: HashMap::new(),
            next: 0,
        }
    }
}

impl<T> Timers<T> {
    /// Arms `t` to fire at `at`.
    pub fn arm(&mut self, at: Instant, t: T) -> TimerId {
        let id = self.next;
        self.next += 1;
        self.heap.push(Reverse((at, id)));
        self.live.insert(id, t);
        TimerId(id)
    }

    /// Forgets a timer.
    pub fn cancel(&mut self, id: TimerId) {
        self.live.remove(&id.0);
    }

    /// The earliest live deadline.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, id))) = self.heap.peek() {
            if self.live.contains_key(&id) {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    /// Pops one timer due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        while let Some(&Reverse((at, id))) = self.heap.peek() {
            if at > now {
                return None;
            }
            self.heap.pop();
            if let Some(t) = self.live.remove(&id) {
                return Some(t);
            }
        }
        None
    }

    /// Live timers.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether none is live.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn fires_in_order_and_skips_cancelled() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        t.arm(t0 + Duration::from_millis(30), "c");
        let b = t.arm(t0 + Duration::from_millis(20), "b");
        t.arm(t0 + Duration::from_millis(10), "a");
        t.cancel(b);
        assert_eq!(t.next_deadline(), Some(t0 + Duration::from_millis(10)));
        assert_eq!(t.pop_due(t0 + Duration::from_millis(5)), None);
        let later = t0 + Duration::from_millis(40);
        assert_eq!(t.pop_due(later), Some("a"));
        assert_eq!(t.pop_due(later), Some("c"));
        assert_eq!(t.pop_due(later), None);
    }
}
