//! A hashed timer wheel for inactivity timeouts, with lazy refresh.
//!
//! Pure: it stores `(key, deadline)` pairs in slots and hands back the ones
//! that are due at a time the caller passes in. It knows nothing of sockets.
//!
//! Activity on a socket does not touch the wheel: the socket only stamps its
//! last-activity time. When the socket's entry comes due, the loop compares
//! the stamp with the deadline; a socket that was active since is put back at
//! its true deadline, one that was not gets its `'timeout'`. A busy socket
//! therefore costs one wheel visit per timeout period, not one per read.

/// Slots of `resolution_ms` each, `slots` of them per rotation; an entry
/// further out than one rotation stays in its slot and is skipped until its
/// rotation comes.
#[doc(hidden)]
#[derive(Debug)]
pub struct Wheel<K> {
    slots: Box<[Vec<(K, u64)>]>,
    mask: u64,
    resolution_ms: u64,
    /// The next tick to process: tick `t` covers deadlines in
    /// `((t - 1) * res, t * res]` and is processed once `now >= t * res`.
    cursor: u64,
    len: usize,
}

impl<K: Copy> Wheel<K> {
    /// `slots` is rounded up to a power of two.
    pub fn new(resolution_ms: u64, slots: usize, now_ms: u64) -> Wheel<K> {
        let slots = slots.next_power_of_two().max(1);
        let resolution_ms = resolution_ms.max(1);
        Wheel {
            slots: (0..slots).map(|_| Vec::new()).collect(),
            mask: slots as u64 - 1,
            resolution_ms,
            cursor: now_ms / resolution_ms + 1,
            len: 0,
        }
    }

    /// Entries currently stored (including ones the caller will find stale).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Stores `key` to come due at `deadline_ms`.
    pub fn insert(&mut self, key: K, deadline_ms: u64) {
        let tick = deadline_ms.div_ceil(self.resolution_ms).max(self.cursor);
        self.slots[(tick & self.mask) as usize].push((key, deadline_ms));
        self.len += 1;
    }

    /// When the loop should wake to process the next tick, if anything is
    /// stored.
    pub fn next_wakeup_ms(&self) -> Option<u64> {
        (self.len > 0).then(|| self.cursor * self.resolution_ms)
    }

    /// Moves every entry due at `now_ms` into `due`, in no particular order.
    pub fn expire(&mut self, now_ms: u64, due: &mut Vec<(K, u64)>) {
        let now_tick = now_ms / self.resolution_ms;
        if now_tick < self.cursor {
            return;
        }
        let ticks = (now_tick - self.cursor + 1).min(self.slots.len() as u64);
        for t in self.cursor..self.cursor + ticks {
            if self.len == 0 {
                break;
            }
            let slot = &mut self.slots[(t & self.mask) as usize];
            let mut i = 0;
            while i < slot.len() {
                if slot[i].1 <= now_ms {
                    due.push(slot.swap_remove(i));
                    self.len -= 1;
                } else {
                    i += 1;
                }
            }
        }
        self.cursor = now_tick + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(w: &mut Wheel<u32>, now: u64) -> Vec<u32> {
        let mut out = Vec::new();
        w.expire(now, &mut out);
        let mut keys: Vec<u32> = out.into_iter().map(|(k, _)| k).collect();
        keys.sort();
        keys
    }

    #[test]
    fn entries_come_due_at_their_deadline_not_before() {
        let mut w = Wheel::new(250, 64, 0);
        w.insert(1, 1000);
        w.insert(2, 2000);
        assert_eq!(due(&mut w, 999), Vec::<u32>::new());
        assert_eq!(due(&mut w, 1000), [1]);
        assert_eq!(due(&mut w, 1999), Vec::<u32>::new());
        assert_eq!(due(&mut w, 2000), [2]);
        assert_eq!(w.len(), 0);
        assert_eq!(w.next_wakeup_ms(), None);
    }

    #[test]
    fn deadlines_between_ticks_fire_on_the_next_tick() {
        let mut w = Wheel::new(250, 64, 0);
        w.insert(1, 1100);
        assert_eq!(w.next_wakeup_ms(), Some(250));
        assert_eq!(due(&mut w, 1249), Vec::<u32>::new());
        assert_eq!(due(&mut w, 1250), [1]);
    }

    #[test]
    fn entries_beyond_one_rotation_wait_for_their_rotation() {
        // 4 slots of 100 ms: one rotation is 400 ms.
        let mut w = Wheel::new(100, 4, 0);
        w.insert(7, 1000);
        for now in (100..1000).step_by(100) {
            assert_eq!(due(&mut w, now), Vec::<u32>::new(), "at {now}");
        }
        assert_eq!(due(&mut w, 1000), [7]);
    }

    #[test]
    fn a_long_sleep_collects_everything_due_at_once() {
        let mut w = Wheel::new(100, 8, 0);
        for k in 0..20u32 {
            w.insert(k, 100 + u64::from(k) * 50);
        }
        assert_eq!(due(&mut w, 10_000), (0..20).collect::<Vec<_>>());
    }

    #[test]
    fn a_deadline_in_the_past_comes_due_on_the_next_expire() {
        let mut w = Wheel::new(100, 8, 5_000);
        w.insert(3, 10);
        assert_eq!(due(&mut w, 5_100), [3]);
    }

    #[test]
    fn lazy_refresh_pattern() {
        // The loop's use: an entry comes due, the owner was active since, so
        // it is put back at its true deadline; it fires only once idle.
        let mut w = Wheel::new(250, 64, 0);
        let timeout = 1000;
        let mut last_active = 0;
        w.insert(1, last_active + timeout);
        let mut fired_at = None;
        let mut now = 0;
        while now <= 5000 && fired_at.is_none() {
            now += 50;
            if now <= 2000 {
                last_active = now; // activity every 50 ms until 2 s
            }
            let mut out = Vec::new();
            w.expire(now, &mut out);
            for (k, _) in out {
                let deadline = last_active + timeout;
                if deadline <= now {
                    fired_at = Some(now);
                } else {
                    w.insert(k, deadline);
                }
            }
        }
        let fired = fired_at.expect("fires once idle");
        assert!((3000..3250).contains(&fired), "fired at {fired}");
    }
}
