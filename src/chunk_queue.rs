//! Bytes a socket keeps (its write queue, its read-ahead while paused),
//! stored so that what they pin stays about what they hold. Pure: no
//! socket.
//!
//! A received chunk is a `Bytes` view into a 64 KiB block of the loop's
//! read buffer, and keeping it keeps the whole block. A queue of one-byte
//! chunks, each the last one alive in its block, would pin 64 KiB per byte:
//! a peer could grow the server's memory by 65 536 times what the
//! high-water marks count. So a chunk shorter than [`COPY_BELOW`] is copied
//! into the queue's own tail buffer when it is kept (the write path keeps a
//! chunk only when the kernel did not take it at once, so an echo that
//! keeps up copies nothing), and a longer one is kept as it is: it pins at
//! most twice its length.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

/// Chunks shorter than this are copied into the tail when kept: half a read
/// buffer block, so a chunk kept as it is pins at most twice its length.
pub(crate) const COPY_BELOW: usize = 32 * 1024;
/// The tail is sealed into a chunk of its own once it holds this much.
const TAIL_MAX: usize = 16 * 1024;

/// Chunks in order: sealed ones, then the tail that small ones are copied
/// into.
#[derive(Debug, Default)]
pub(crate) struct ChunkQueue {
    chunks: VecDeque<Bytes>,
    tail: BytesMut,
}

impl ChunkQueue {
    /// How many chunks a `writev` would see.
    pub(crate) fn chunk_count(&self) -> usize {
        self.chunks.len() + usize::from(!self.tail.is_empty())
    }

    /// Appends `chunk`: kept as it is if long, copied into the tail if short.
    pub(crate) fn push(&mut self, chunk: Bytes) {
        if chunk.len() >= COPY_BELOW {
            self.seal_tail();
            self.chunks.push_back(chunk);
        } else if !chunk.is_empty() {
            self.push_slice(&chunk);
        }
    }

    /// Appends `chunk` as it is, however short: for a chunk that leaves the
    /// queue before the loop turns (TLS seals what a callback wrote when
    /// it returns), so it cannot pin its block for long.
    #[cfg(feature = "tls")]
    pub(crate) fn push_whole(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.seal_tail();
            self.chunks.push_back(chunk);
        }
    }

    /// Appends a copy of `data`, a short chunk, to the tail.
    #[inline]
    pub(crate) fn push_slice(&mut self, data: &[u8]) {
        debug_assert!(data.len() < COPY_BELOW);
        if !self.tail.is_empty() && self.tail.len() + data.len() > TAIL_MAX {
            self.seal_tail();
        }
        self.tail.extend_from_slice(data);
    }

    fn seal_tail(&mut self) {
        if !self.tail.is_empty() {
            self.chunks.push_back(self.tail.split().freeze());
        }
    }

    /// The first chunk.
    pub(crate) fn front(&self) -> Option<&[u8]> {
        match self.chunks.front() {
            Some(chunk) => Some(chunk),
            None if !self.tail.is_empty() => Some(&self.tail),
            None => None,
        }
    }

    /// Takes the first chunk off the queue.
    pub(crate) fn pop_front(&mut self) -> Option<Bytes> {
        match self.chunks.pop_front() {
            Some(chunk) => Some(chunk),
            None if !self.tail.is_empty() => Some(self.tail.split().freeze()),
            None => None,
        }
    }

    /// Fills `out` with the chunks in order, up to `max` bytes (the last
    /// one cut there); returns how many.
    pub(crate) fn slices<'a>(&'a self, out: &mut [IoSlice<'a>], mut max: usize) -> usize {
        let tail = (!self.tail.is_empty()).then_some(&self.tail[..]);
        let all = self.chunks.iter().map(|c| &c[..]).chain(tail);
        let mut n = 0;
        for (slot, chunk) in out.iter_mut().zip(all) {
            if max == 0 {
                break;
            }
            let take = chunk.len().min(max);
            *slot = IoSlice::new(&chunk[..take]);
            max -= take;
            n += 1;
        }
        n
    }

    /// Drops `n` bytes from the front (at most what is queued).
    pub(crate) fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else {
                if n >= self.tail.len() {
                    // All of it: keep the whole allocation for the next
                    // bytes (advancing would shrink it, and the next
                    // append would have to reclaim it).
                    self.tail.clear();
                } else {
                    self.tail.advance(n);
                }
                return;
            };
            if front.len() <= n {
                n -= front.len();
                self.chunks.pop_front();
            } else {
                front.advance(n);
                return;
            }
        }
    }

    /// Drops everything.
    pub(crate) fn clear(&mut self) {
        self.chunks.clear();
        self.tail.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(q: &ChunkQueue) -> Vec<u8> {
        let mut slices = [IoSlice::new(&[]); 64];
        let n = q.slices(&mut slices, usize::MAX);
        slices[..n].iter().flat_map(|s| s.iter().copied()).collect()
    }

    /// One-byte chunks cut from a big block are copied: the queue keeps
    /// none of the blocks alive, and holds the bytes in order.
    #[test]
    fn short_chunks_are_copied_and_release_their_block() {
        let mut q = ChunkQueue::default();
        let mut expect = Vec::new();
        for i in 0..1000u32 {
            let block = Bytes::from(vec![(i % 251) as u8; 64 * 1024]);
            let one = block.slice(7..8);
            drop(block);
            expect.push(one[0]);
            q.push(one.clone());
            // The queue holds its own copy: `one` is the block's last
            // handle.
            assert!(one.is_unique(), "the queue kept the block alive");
        }
        assert_eq!(contents(&q), expect);
        // Copies fill tails of at most TAIL_MAX, not one chunk per byte.
        assert!(
            q.chunk_count() <= 1000 / TAIL_MAX + 1,
            "{}",
            q.chunk_count()
        );
    }

    /// Long chunks are kept as they are (no copy): the same allocation.
    #[test]
    fn long_chunks_are_kept_without_a_copy() {
        let mut q = ChunkQueue::default();
        let big = Bytes::from(vec![3u8; COPY_BELOW]);
        let ptr = big.as_ptr();
        q.push(Bytes::from_static(b"ab"));
        q.push(big);
        q.push(Bytes::from_static(b"cd"));
        assert_eq!(q.chunk_count(), 3);
        assert_eq!(q.pop_front().as_deref(), Some(&b"ab"[..]));
        assert_eq!(q.front().map(<[u8]>::as_ptr), Some(ptr));
        let mut rest = contents(&q);
        assert_eq!(rest.len(), COPY_BELOW + 2);
        assert_eq!(rest.split_off(COPY_BELOW), b"cd");
    }

    /// Advancing across sealed chunks and into the tail keeps the order.
    #[test]
    fn advance_crosses_chunks_and_the_tail() {
        let mut q = ChunkQueue::default();
        let mut expect = Vec::new();
        for i in 0..40_000u32 {
            let b = [(i % 253) as u8];
            expect.push(b[0]);
            q.push_slice(&b);
        }
        q.push(Bytes::from(vec![9u8; COPY_BELOW + 5]));
        expect.extend(std::iter::repeat_n(9u8, COPY_BELOW + 5));
        q.push_slice(b"end");
        expect.extend_from_slice(b"end");
        let mut got = Vec::new();
        let mut step = 1;
        while q.chunk_count() > 0 {
            let front = q.front().unwrap();
            let take = step.min(front.len());
            got.extend_from_slice(&front[..take]);
            q.advance(take);
            step = step * 3 % 10_007 + 1;
        }
        assert_eq!(got, expect);
        assert_eq!(q.chunk_count(), 0);
        assert!(q.pop_front().is_none());
    }
}
