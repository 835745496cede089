//! User timers: `set_timeout` / `set_interval` deadlines in a binary heap
//! with millisecond precision, `set_immediate` in a FIFO. Pure: callbacks are
//! an opaque `T`, time is passed in.
//!
//! A running timer's callback is taken out of its entry while it runs, so the
//! callback may clear or re-arm its own timer; cancelled entries leave a
//! stale heap node that is skipped by generation.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use slab::Slab;

use crate::handle::{Generations, Key};

/// The longest delay, in ms: Node's `TIMEOUT_MAX`, 2^31 - 1 (about 24.8
/// days). Longer delays, up to `u64::MAX`, are clamped to it: "practically
/// never". Node clamps them to 1 ms instead (with a warning); nodenet does
/// not, because a huge delay meaning "at once" is a footgun (COMPAT.md,
/// deliberate differences). Deadlines are also added with saturation, so
/// no clock value can overflow them.
pub(crate) const TIMEOUT_MAX: u64 = (1 << 31) - 1;

#[derive(Debug)]
struct Entry<T> {
    generation: u32,
    deadline: u64,
    interval: Option<u64>,
    refd: bool,
    callback: Option<T>,
}

/// `set_timeout` and `set_interval` timers.
#[derive(Debug)]
pub(crate) struct Timers<T> {
    entries: Slab<Entry<T>>,
    heap: BinaryHeap<Reverse<(u64, u64, Key)>>,
    seq: u64,
    refd: usize,
}

impl<T> Default for Timers<T> {
    fn default() -> Self {
        Timers {
            entries: Slab::new(),
            heap: BinaryHeap::new(),
            seq: 0,
            refd: 0,
        }
    }
}

impl<T> Timers<T> {
    /// Arms a timer `delay_ms` from `now_ms` (at least 1 ms, as in Node, and
    /// at most [`TIMEOUT_MAX`]); `repeat` makes it an interval of the same
    /// period.
    pub(crate) fn insert(
        &mut self,
        gens: &mut Generations,
        now_ms: u64,
        delay_ms: u64,
        repeat: bool,
        callback: T,
    ) -> Key {
        let delay = delay_ms.clamp(1, TIMEOUT_MAX);
        let generation = gens.next();
        let index = self.entries.insert(Entry {
            generation,
            deadline: now_ms.saturating_add(delay),
            interval: repeat.then_some(delay),
            refd: true,
            callback: Some(callback),
        });
        self.refd += 1;
        let key = Key::new(index, generation);
        self.push(now_ms.saturating_add(delay), key);
        key
    }

    fn push(&mut self, deadline: u64, key: Key) {
        self.seq += 1;
        self.heap.push(Reverse((deadline, self.seq, key)));
    }

    fn entry(&self, key: Key) -> Option<&Entry<T>> {
        self.entries
            .get(key.index())
            .filter(|e| e.generation == key.generation)
    }

    pub(crate) fn contains(&self, key: Key) -> bool {
        self.entry(key).is_some()
    }

    /// Cancels a timer; hands back its callback (if not running) to be
    /// dropped by the caller.
    pub(crate) fn cancel(&mut self, key: Key) -> Option<Option<T>> {
        self.entry(key)?;
        let e = self.entries.remove(key.index());
        if e.refd {
            self.refd -= 1;
        }
        Some(e.callback)
    }

    /// Whether the timer keeps the loop alive.
    pub(crate) fn set_ref(&mut self, key: Key, refd: bool) {
        if let Some(e) = self
            .entries
            .get_mut(key.index())
            .filter(|e| e.generation == key.generation)
        {
            if e.refd != refd {
                e.refd = refd;
                if refd {
                    self.refd += 1;
                } else {
                    self.refd -= 1;
                }
            }
        }
    }

    pub(crate) fn has_ref(&self, key: Key) -> bool {
        self.entry(key).is_some_and(|e| e.refd)
    }

    /// Timers that keep the loop alive.
    pub(crate) fn refd(&self) -> usize {
        self.refd
    }

    /// The earliest live deadline.
    pub(crate) fn next_deadline(&mut self) -> Option<u64> {
        while let Some(Reverse((deadline, _, key))) = self.heap.peek().copied() {
            match self.entry(key) {
                Some(e) if e.deadline == deadline => return Some(deadline),
                _ => {
                    self.heap.pop();
                }
            }
        }
        None
    }

    /// Takes the callback of the next timer due at `now_ms`. A timeout's
    /// entry is gone after this; an interval's stays, waiting for
    /// [`Timers::finish`].
    pub(crate) fn pop_due(&mut self, now_ms: u64) -> Option<(Key, T)> {
        loop {
            let deadline = self.next_deadline()?;
            if deadline > now_ms {
                return None;
            }
            let Reverse((_, _, key)) = self.heap.pop()?;
            let e = &mut self.entries[key.index()];
            if e.interval.is_some() {
                if let Some(cb) = e.callback.take() {
                    return Some((key, cb));
                }
            } else {
                let e = self.entries.remove(key.index());
                if e.refd {
                    self.refd -= 1;
                }
                if let Some(cb) = e.callback {
                    return Some((key, cb));
                }
            }
        }
    }

    /// Puts an interval's callback back after it ran and re-arms it, unless
    /// it was cleared meanwhile (then the callback is handed back to drop).
    pub(crate) fn finish(&mut self, key: Key, callback: T, now_ms: u64) -> Option<T> {
        let Some(e) = self
            .entries
            .get_mut(key.index())
            .filter(|e| e.generation == key.generation)
        else {
            return Some(callback);
        };
        let Some(interval) = e.interval else {
            return Some(callback);
        };
        e.callback = Some(callback);
        e.deadline = now_ms.saturating_add(interval);
        let deadline = e.deadline;
        self.push(deadline, key);
        None
    }
}

/// `set_immediate` callbacks: run in order, once per loop turn's check phase.
#[derive(Debug)]
pub(crate) struct Immediates<T> {
    entries: Slab<(u32, bool, Option<T>)>,
    order: VecDeque<Key>,
    refd: usize,
}

impl<T> Default for Immediates<T> {
    fn default() -> Self {
        Immediates {
            entries: Slab::new(),
            order: VecDeque::new(),
            refd: 0,
        }
    }
}

impl<T> Immediates<T> {
    pub(crate) fn push(&mut self, gens: &mut Generations, callback: T) -> Key {
        let generation = gens.next();
        let key = Key::new(
            self.entries.insert((generation, true, Some(callback))),
            generation,
        );
        self.order.push_back(key);
        self.refd += 1;
        key
    }

    pub(crate) fn cancel(&mut self, key: Key) -> Option<T> {
        match self.entries.get(key.index()) {
            Some((g, ..)) if *g == key.generation => {
                let (_, refd, cb) = self.entries.remove(key.index());
                if refd {
                    self.refd -= 1;
                }
                cb
            }
            _ => None,
        }
    }

    pub(crate) fn set_ref(&mut self, key: Key, refd: bool) {
        if let Some((g, r, _)) = self.entries.get_mut(key.index()) {
            if *g == key.generation && *r != refd {
                *r = refd;
                if refd {
                    self.refd += 1;
                } else {
                    self.refd -= 1;
                }
            }
        }
    }

    /// How many are queued now: the check phase runs only these, so an
    /// immediate queued by an immediate waits for the next turn (as in Node).
    pub(crate) fn queued(&self) -> usize {
        self.order.len()
    }

    pub(crate) fn refd(&self) -> usize {
        self.refd
    }

    pub(crate) fn pop(&mut self) -> Option<T> {
        while let Some(key) = self.order.pop_front() {
            if let Some(cb) = self.cancel(key) {
                return Some(cb);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_due(t: &mut Timers<&'static str>, now: u64) -> Vec<&'static str> {
        let mut out = Vec::new();
        while let Some((key, cb)) = t.pop_due(now) {
            out.push(cb);
            t.finish(key, cb, now);
        }
        out
    }

    #[test]
    fn timeouts_fire_in_deadline_then_insertion_order() {
        let mut g = Generations::default();
        let mut t = Timers::default();
        t.insert(&mut g, 0, 20, false, "b");
        t.insert(&mut g, 0, 10, false, "a");
        t.insert(&mut g, 0, 20, false, "c");
        assert_eq!(t.next_deadline(), Some(10));
        assert_eq!(run_due(&mut t, 9), Vec::<&str>::new());
        assert_eq!(run_due(&mut t, 25), ["a", "b", "c"]);
        assert_eq!(t.refd(), 0);
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn zero_delay_means_one_millisecond() {
        let mut g = Generations::default();
        let mut t = Timers::default();
        t.insert(&mut g, 100, 0, false, "x");
        assert_eq!(t.next_deadline(), Some(101));
    }

    #[test]
    fn huge_delays_are_clamped_to_timeout_max() {
        let mut g = Generations::default();
        let mut t = Timers::default();
        t.insert(&mut g, 100, u64::MAX, true, "x");
        assert_eq!(t.next_deadline(), Some(100 + TIMEOUT_MAX));
        assert_eq!(run_due(&mut t, 100 + TIMEOUT_MAX - 1), Vec::<&str>::new());
        assert_eq!(run_due(&mut t, 100 + TIMEOUT_MAX), ["x"]);
        // A clock near the end of u64 saturates instead of wrapping.
        let mut t = Timers::default();
        t.insert(&mut g, u64::MAX - 5, 10, true, "y");
        assert_eq!(t.next_deadline(), Some(u64::MAX));
        let (key, cb) = t.pop_due(u64::MAX).unwrap();
        assert_eq!(t.finish(key, cb, u64::MAX - 1), None);
        assert_eq!(t.next_deadline(), Some(u64::MAX));
    }

    #[test]
    fn intervals_rearm_until_cleared() {
        let mut g = Generations::default();
        let mut t = Timers::default();
        let k = t.insert(&mut g, 0, 10, true, "tick");
        assert_eq!(run_due(&mut t, 10), ["tick"]);
        assert_eq!(t.next_deadline(), Some(20));
        assert_eq!(run_due(&mut t, 20), ["tick"]);
        assert!(t.cancel(k).is_some());
        assert_eq!(run_due(&mut t, 100), Vec::<&str>::new());
        assert_eq!(t.refd(), 0);
    }

    #[test]
    fn an_interval_cleared_while_running_is_not_rearmed() {
        let mut g = Generations::default();
        let mut t = Timers::default();
        let k = t.insert(&mut g, 0, 10, true, "tick");
        let (key, cb) = t.pop_due(10).unwrap();
        assert_eq!(t.cancel(k), Some(None));
        assert_eq!(t.finish(key, cb, 10), Some("tick"));
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn unref_and_stale_keys() {
        let mut g = Generations::default();
        let mut t = Timers::default();
        let k = t.insert(&mut g, 0, 10, false, "x");
        t.set_ref(k, false);
        assert_eq!(t.refd(), 0);
        assert!(!t.has_ref(k));
        t.set_ref(k, true);
        assert_eq!(t.refd(), 1);
        assert!(t.cancel(k).is_some());
        assert!(t.cancel(k).is_none(), "second cancel is a no-op");
        let k2 = t.insert(&mut g, 0, 10, false, "y");
        assert_eq!(k.index(), k2.index());
        assert!(
            t.cancel(k).is_none(),
            "a stale key does not cancel the new timer"
        );
        assert!(t.contains(k2));
    }

    #[test]
    fn immediates_run_in_order_and_can_be_cancelled() {
        let mut g = Generations::default();
        let mut im = Immediates::default();
        im.push(&mut g, 1);
        let k = im.push(&mut g, 2);
        im.push(&mut g, 3);
        assert_eq!(im.cancel(k), Some(2));
        assert_eq!(im.queued(), 3);
        assert_eq!(im.pop(), Some(1));
        assert_eq!(im.pop(), Some(3));
        assert_eq!(im.pop(), None);
        assert_eq!(im.refd(), 0);
    }
}
