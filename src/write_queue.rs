//! The bytes a socket has accepted but the kernel has not yet taken, and the
//! write callbacks waiting on them. Pure: no socket, no clock.
//!
//! Chunks are `Bytes`, so queueing a long received chunk for echo copies
//! nothing and a partial write is a `Bytes` advance; short chunks are
//! copied together so that they do not pin the read buffer's blocks
//! ([`ChunkQueue`]). A flush hands up to
//! [`MAX_IOVECS`] chunks to one `writev`. A write callback is tied to the
//! stream position its write ends at and completes once the kernel has taken
//! every byte up to there.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::Bytes;

use crate::chunk_queue::ChunkQueue;

/// How many chunks one flush hands to `writev` (Linux's `UIO_MAXIOV` is 1024;
/// 64 slices already cover far more than a socket buffer of small chunks).
#[doc(hidden)]
pub const MAX_IOVECS: usize = 64;

/// What had become of a write whose callback [`WriteQueue::discard`] hands
/// back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Discarded {
    /// The kernel had taken some (or all) of its bytes.
    Started,
    /// None of its bytes had reached the kernel; `first`: it is the
    /// stream's very first write.
    Waiting { first: bool },
}

/// A socket's pending output: chunks in order, and callbacks by position.
///
/// `VecDeque` rather than an inline `SmallVec`: pops from the front are O(1)
/// whatever the queue length, an idle socket's empty queue costs two words
/// and no heap, and capacity is kept, so a busy socket stops allocating after
/// its first burst.
///
/// `repr(C)`: the counters an inline write touches come first, so they sit
/// on the same cache line as the socket's other hot fields.
#[doc(hidden)]
#[derive(Debug)]
#[repr(C)]
pub struct WriteQueue<C> {
    queued: usize,
    /// Bytes ever accepted (queued or written inline).
    accepted: u64,
    /// Bytes ever handed to the kernel.
    flushed: u64,
    chunks: ChunkQueue,
    /// Each waiting callback with the stream positions its write starts
    /// and ends at.
    callbacks: VecDeque<(u64, u64, C)>,
    /// While corked: the stream position past which bytes are held
    /// (`u64::MAX`: nothing is held).
    hold_from: u64,
}

impl<C> Default for WriteQueue<C> {
    fn default() -> Self {
        WriteQueue {
            chunks: ChunkQueue::default(),
            queued: 0,
            accepted: 0,
            flushed: 0,
            callbacks: VecDeque::new(),
            hold_from: u64::MAX,
        }
    }
}

impl<C> WriteQueue<C> {
    /// Bytes waiting for the kernel.
    pub fn len(&self) -> usize {
        self.queued
    }

    /// Whether no byte is waiting.
    pub fn is_empty(&self) -> bool {
        self.queued == 0
    }

    /// Bytes ever accepted: Node's `bytesWritten`.
    pub(crate) fn accepted(&self) -> u64 {
        self.accepted
    }

    /// Whether any write callback is still waiting.
    pub(crate) fn has_callbacks(&self) -> bool {
        !self.callbacks.is_empty()
    }

    /// Records bytes the socket wrote straight to the kernel with nothing
    /// queued before them.
    pub(crate) fn note_written_inline(&mut self, n: usize) {
        debug_assert!(self.is_empty(), "inline writes only with an empty queue");
        self.accepted += n as u64;
        self.flushed += n as u64;
    }

    /// Appends a chunk behind everything queued.
    pub fn push(&mut self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        self.queued += chunk.len();
        self.accepted += chunk.len() as u64;
        self.chunks.push(chunk);
    }

    /// Appends a chunk that leaves the queue's storage before the loop
    /// turns (see [`seal_front`](Self::seal_front)): kept as it is, not
    /// copied.
    #[cfg(feature = "tls")]
    pub(crate) fn push_transient(&mut self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        self.queued += chunk.len();
        self.accepted += chunk.len() as u64;
        self.chunks.push_whole(chunk);
    }

    /// Drops the first `n` bytes' storage, which a layer below keeps in a
    /// form of its own (TLS records not yet sent): they still count as
    /// queued until [`advance_sealed`](Self::advance_sealed). Only with
    /// nothing sealed before them.
    #[cfg(feature = "tls")]
    pub(crate) fn seal_front(&mut self, n: usize) {
        self.chunks.advance(n.min(self.queued));
    }

    /// Copies every sendable byte into `out` and seals it (see
    /// [`seal_front`](Self::seal_front)): plaintext queued before a TLS
    /// upgrade, which goes to the kernel as it is, ahead of the handshake.
    /// Returns how many bytes that was.
    #[cfg(feature = "tls")]
    pub(crate) fn seal_sendable_into(&mut self, out: &mut Vec<u8>) -> usize {
        let total = self.sendable();
        let mut left = total;
        while left > 0 {
            let took = {
                let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                let n = self.chunks.slices(&mut slices, left);
                slices[..n].iter().fold(0, |took, slice| {
                    out.extend_from_slice(slice);
                    took + slice.len()
                })
            };
            if took == 0 {
                break;
            }
            self.chunks.advance(took);
            left -= took;
        }
        total - left
    }

    /// The kernel took the `n` sealed bytes at the front.
    #[cfg(feature = "tls")]
    pub(crate) fn advance_sealed(&mut self, n: usize) {
        let n = n.min(self.queued);
        self.queued -= n;
        self.flushed += n as u64;
    }

    /// Appends a copy of `data`: short data (below the chunk queue's copy
    /// limit) goes straight into the tail, with no chunk of its own made
    /// (a batched `write(&[u8])` allocates nothing); longer data is copied
    /// into a chunk.
    #[inline]
    pub(crate) fn push_copy(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        if data.len() >= crate::chunk_queue::COPY_BELOW {
            self.push(Bytes::copy_from_slice(data));
            return;
        }
        self.queued += data.len();
        self.accepted += data.len() as u64;
        self.chunks.push_slice(data);
    }

    /// Ties `cb` to the end of everything accepted so far, for a write
    /// that began at stream position `start` (`accepted()` before it). If
    /// those bytes are all flushed already, the callback is handed back
    /// (`Err`) for the caller to complete on a later turn.
    pub(crate) fn push_callback(&mut self, start: u64, cb: C) -> Result<(), C> {
        if self.accepted <= self.flushed {
            return Err(cb);
        }
        self.callbacks.push_back((start, self.accepted, cb));
        Ok(())
    }

    /// Holds every byte accepted from now on (`cork()`): the flush stops
    /// at the current end of the stream until [`release`](Self::release).
    /// Bytes queued before stay sendable, as writes Node had already
    /// handed to its handle go on while corked.
    pub(crate) fn hold(&mut self) {
        self.hold_from = self.accepted;
    }

    /// Ends a [`hold`](Self::hold) (`uncork()`, `end()`).
    pub(crate) fn release(&mut self) {
        self.hold_from = u64::MAX;
    }

    /// Queued bytes that may go to the kernel now: all of them unless
    /// held.
    pub fn sendable(&self) -> usize {
        let room = self.hold_from.saturating_sub(self.flushed);
        usize::try_from(room).map_or(self.queued, |room| room.min(self.queued))
    }

    /// Fills `out` with the sendable bytes' chunks in order (the last one
    /// cut where a hold starts); returns how many.
    pub fn slices<'a>(&'a self, out: &mut [IoSlice<'a>]) -> usize {
        self.chunks.slices(out, self.sendable())
    }

    /// The sendable part of the first queued chunk, for a single `write`
    /// when it is the only one.
    pub(crate) fn front(&self) -> Option<&[u8]> {
        let room = self.sendable();
        self.chunks.front().map(|c| &c[..c.len().min(room)])
    }

    /// How many chunks are queued.
    pub(crate) fn chunk_count(&self) -> usize {
        self.chunks.chunk_count()
    }

    /// Consumes `n` bytes the kernel took from the front of the queue.
    pub fn advance(&mut self, mut n: usize) {
        debug_assert!(n <= self.queued);
        n = n.min(self.queued);
        self.queued -= n;
        self.flushed += n as u64;
        self.chunks.advance(n);
    }

    /// The next callback whose bytes have all reached the kernel.
    pub(crate) fn pop_completed(&mut self) -> Option<C> {
        match self.callbacks.front() {
            Some((_, end, _)) if *end <= self.flushed => {
                self.callbacks.pop_front().map(|(_, _, cb)| cb)
            }
            _ => None,
        }
    }

    /// Drops every queued byte and hands back every waiting callback, in
    /// order (the socket is being destroyed), each with where its write
    /// began relative to what the kernel took: `Started` if it took some
    /// of its bytes (for Node that write was in flight: its callback
    /// reports success), `Waiting` otherwise (still in the stream's buffer:
    /// it gets the error).
    pub(crate) fn discard(&mut self) -> Vec<(Discarded, C)> {
        self.chunks.clear();
        self.queued = 0;
        self.hold_from = u64::MAX;
        let flushed = self.flushed;
        std::mem::take(&mut self.callbacks)
            .into_iter()
            .map(|(start, _, cb)| {
                let state = if start < flushed {
                    Discarded::Started
                } else {
                    Discarded::Waiting { first: start == 0 }
                };
                (state, cb)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kernel that takes at most `room` bytes per call, for flushing
    /// deterministically.
    fn flush(q: &mut WriteQueue<u32>, room: usize, sent: &mut Vec<u8>) -> usize {
        let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
        let n = q.slices(&mut slices);
        let mut taken = 0;
        for s in &slices[..n] {
            let take = (room - taken).min(s.len());
            sent.extend_from_slice(&s[..take]);
            taken += take;
            if taken == room {
                break;
            }
        }
        q.advance(taken);
        taken
    }

    fn completed(q: &mut WriteQueue<u32>) -> Vec<u32> {
        std::iter::from_fn(|| q.pop_completed()).collect()
    }

    #[test]
    fn partial_flushes_keep_order_and_complete_callbacks_by_position() {
        let mut q = WriteQueue::default();
        let at = q.accepted();
        q.push(Bytes::from_static(b"hello "));
        q.push_callback(at, 1).unwrap();
        let at = q.accepted();
        q.push(Bytes::from_static(b"world"));
        q.push_callback(at, 2).unwrap();
        assert_eq!(q.len(), 11);
        let mut sent = Vec::new();

        assert_eq!(flush(&mut q, 4, &mut sent), 4);
        assert!(completed(&mut q).is_empty());
        assert_eq!(flush(&mut q, 4, &mut sent), 4);
        assert_eq!(completed(&mut q), [1]);
        assert_eq!(q.len(), 3);
        assert_eq!(flush(&mut q, 100, &mut sent), 3);
        assert_eq!(completed(&mut q), [2]);
        assert_eq!(sent, b"hello world");
        assert!(q.is_empty());
        assert_eq!(q.chunk_count(), 0);
    }

    #[test]
    fn callback_after_inline_write_is_handed_back() {
        let mut q: WriteQueue<u32> = WriteQueue::default();
        q.note_written_inline(10);
        assert_eq!(q.push_callback(0, 7), Err(7));
        assert!(!q.has_callbacks());
    }

    #[test]
    fn callback_of_an_empty_write_waits_for_earlier_bytes() {
        let mut q = WriteQueue::default();
        q.push(Bytes::from_static(b"abc"));
        let at = q.accepted();
        q.push(Bytes::new());
        q.push_callback(at, 9).unwrap();
        assert_eq!(q.chunk_count(), 1);
        let mut sent = Vec::new();
        flush(&mut q, 2, &mut sent);
        assert!(completed(&mut q).is_empty());
        flush(&mut q, 2, &mut sent);
        assert_eq!(completed(&mut q), [9]);
    }

    #[test]
    fn many_chunks_flush_in_batches_of_max_iovecs() {
        let mut q = WriteQueue::default();
        let mut expect = Vec::new();
        for i in 0..200u32 {
            let chunk = Bytes::from(vec![(i % 251) as u8; 3]);
            expect.extend_from_slice(&chunk);
            let at = q.accepted();
            q.push(chunk);
            q.push_callback(at, i).unwrap();
        }
        let mut sent = Vec::new();
        let mut done = Vec::new();
        while !q.is_empty() {
            flush(&mut q, 1 << 20, &mut sent);
            done.extend(completed(&mut q));
        }
        assert_eq!(sent, expect);
        assert_eq!(done, (0..200).collect::<Vec<_>>());
    }

    #[test]
    fn a_hold_keeps_later_bytes_back_until_released() {
        let mut q = WriteQueue::default();
        let mut sent = Vec::new();
        let at = q.accepted();
        q.push(Bytes::from_static(b"abc"));
        q.push_callback(at, 1).unwrap();
        q.hold();
        let at = q.accepted();
        q.push(Bytes::from_static(b"def"));
        q.push_callback(at, 2).unwrap();
        assert_eq!(q.sendable(), 3);
        assert_eq!(q.front().unwrap(), b"abc");
        assert_eq!(flush(&mut q, 2, &mut sent), 2);
        assert_eq!(
            flush(&mut q, 100, &mut sent),
            1,
            "stops where the hold starts"
        );
        assert_eq!(flush(&mut q, 100, &mut sent), 0);
        assert_eq!(sent, b"abc");
        assert_eq!(q.pop_completed(), Some(1));
        assert_eq!(q.pop_completed(), None);
        assert_eq!(q.len(), 3);
        q.release();
        assert_eq!(q.sendable(), 3);
        assert_eq!(flush(&mut q, 100, &mut sent), 3);
        assert_eq!(sent, b"abcdef");
        assert_eq!(q.pop_completed(), Some(2));
    }

    #[test]
    fn discard_hands_back_waiting_callbacks_in_order() {
        let mut q = WriteQueue::default();
        let at = q.accepted();
        q.push(Bytes::from_static(b"x"));
        q.push_callback(at, 1).unwrap();
        let at = q.accepted();
        q.push(Bytes::from_static(b"y"));
        q.push_callback(at, 2).unwrap();
        let cbs: Vec<u32> = q.discard().into_iter().map(|(_, c)| c).collect();
        assert_eq!(cbs, [1, 2]);
        assert!(q.is_empty());
    }

    #[test]
    fn discard_tells_started_writes_from_waiting_ones() {
        let mut q = WriteQueue::default();
        let mut sent = Vec::new();
        for (i, chunk) in [&b"done"[..], b"partly", b"unsent"].into_iter().enumerate() {
            let at = q.accepted();
            q.push(Bytes::copy_from_slice(chunk));
            q.push_callback(at, i as u32).unwrap();
        }
        flush(&mut q, 6, &mut sent);
        let first = Discarded::Waiting { first: true };
        let waiting = Discarded::Waiting { first: false };
        assert_eq!(
            q.discard(),
            [
                (Discarded::Started, 0),
                (Discarded::Started, 1),
                (waiting, 2)
            ]
        );
        let mut fresh = WriteQueue::default();
        fresh.push(Bytes::from_static(b"a"));
        fresh.push_callback(0, 7).unwrap();
        fresh.push(Bytes::from_static(b"b"));
        fresh.push_callback(1, 8).unwrap();
        assert_eq!(fresh.discard(), [(first, 7), (waiting, 8)]);
    }

    /// TLS: bytes sealed into records leave the queue's storage at once
    /// but count as queued, and complete their callbacks, only once the
    /// records are sent.
    #[cfg(feature = "tls")]
    #[test]
    fn sealed_bytes_count_until_sent() {
        let mut q = WriteQueue::default();
        let at = q.accepted();
        q.push_transient(Bytes::from_static(b"hello "));
        q.push_callback(at, 1).unwrap();
        let at = q.accepted();
        q.push_transient(Bytes::from_static(b"world"));
        q.push_callback(at, 2).unwrap();
        q.seal_front(6);
        assert_eq!(q.len(), 11, "sealed bytes still count");
        let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
        let n = q.slices(&mut slices);
        assert_eq!(
            &*slices[..n]
                .iter()
                .flat_map(|s| s.to_vec())
                .collect::<Vec<u8>>(),
            b"world"
        );
        assert_eq!(completed(&mut q), Vec::<u32>::new());
        q.advance_sealed(6);
        assert_eq!((q.len(), completed(&mut q)), (5, vec![1]));
        q.seal_front(5);
        q.advance_sealed(5);
        assert!(q.is_empty());
        assert_eq!(completed(&mut q), vec![2]);
    }
}
