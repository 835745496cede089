//! Slab keys with a generation: what makes `Socket`, `Server` and `Timer`
//! small `Copy` handles whose stale copies are detected instead of aliasing a
//! reused slot.

/// A slot index plus the generation the slot had when the handle was made.
///
/// Generations come from one counter per loop, so `id()` is unique among all
/// handles a loop ever gave out (until 2^32 slots have been filled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Key {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl Key {
    pub(crate) fn new(index: usize, generation: u32) -> Key {
        Key {
            index: index as u32,
            generation,
        }
    }

    pub(crate) fn index(self) -> usize {
        self.index as usize
    }

    /// A stable identifier for maps and logs: generation in the high half,
    /// slot index in the low half.
    pub(crate) fn id(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }
}

/// Hands out generations, skipping 0 so that a zeroed key is never live.
#[derive(Debug, Default)]
pub(crate) struct Generations {
    next: u32,
}

impl Generations {
    pub(crate) fn next(&mut self) -> u32 {
        self.next = self.next.wrapping_add(1);
        if self.next == 0 {
            self.next = 1;
        }
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_differ_when_a_slot_is_reused() {
        let mut gens = Generations::default();
        let a = Key::new(3, gens.next());
        let b = Key::new(3, gens.next());
        assert_eq!(a.index(), b.index());
        assert_ne!(a, b);
        assert_ne!(a.id(), b.id());
        assert_eq!(a.id() & 0xffff_ffff, 3);
    }

    #[test]
    fn generation_zero_is_never_handed_out() {
        let mut gens = Generations { next: u32::MAX - 1 };
        assert_eq!(gens.next(), u32::MAX);
        assert_eq!(gens.next(), 1);
    }
}
