//! The loop-wide read buffer: every socket reads into the spare capacity of
//! one `BytesMut`, and each read is split off as a `Bytes` chunk, so
//! listeners get the bytes without a copy and an idle connection holds no
//! receive memory.
//!
//! Reads go to uninitialized spare capacity through `socket2`'s
//! `recv(&mut [MaybeUninit<u8>])`, so the buffer is never zero-filled
//! first. Once every chunk split from an allocation is dropped, the next
//! `reserve` reclaims it: a steady echo allocates nothing.

use std::io;

use bytes::{Bytes, BytesMut};

/// Size of a fresh buffer; one read takes at most this much.
pub(crate) const READ_BUFFER: usize = 64 * 1024;
/// Below this much room, the buffer is renewed before a read.
const READ_BUFFER_MIN: usize = 16 * 1024;
/// Bytes read from the buffer before it tries to take its allocation back.
const RECLAIM_AFTER: usize = 4 * 1024;

#[derive(Debug, Default)]
pub(crate) struct ReadBuffer {
    buf: BytesMut,
}

impl ReadBuffer {
    /// How many bytes the next read may take (after making room).
    pub(crate) fn room(&mut self) -> usize {
        // The buffer is always empty between reads (each read is split off).
        // Once every chunk split from the allocation is dropped (the common
        // case: the listener wrote it through or let it go), the whole
        // allocation is taken back for free, so a read may take a full
        // READ_BUFFER: fewer, larger reads. Small reads reclaim only every
        // RECLAIM_AFTER bytes (the check is not free; the region they walk
        // stays in L1). While chunks are still alive, the tail of the
        // allocation is used up before a new one is made.
        if self.buf.capacity() <= READ_BUFFER - RECLAIM_AFTER
            && !self.buf.try_reclaim(READ_BUFFER)
            && self.buf.capacity() < READ_BUFFER_MIN
        {
            self.buf.reserve(READ_BUFFER);
        }
        self.buf.capacity() - self.buf.len()
    }

    /// Reads at most `max` bytes (and at most [`room`](Self::room)) from
    /// `socket`. `Ok` with an empty chunk is the peer's FIN.
    #[allow(unsafe_code)]
    pub(crate) fn read_from(
        &mut self,
        socket: &socket2::SockRef<'_>,
        max: usize,
    ) -> io::Result<Bytes> {
        debug_assert!(self.buf.is_empty());
        let spare = self.buf.spare_capacity_mut();
        let want = max.min(spare.len());
        let n = socket.recv(&mut spare[..want])?;
        debug_assert!(n <= want);
        // SAFETY: `recv` returned `n`: the kernel wrote the first `n` bytes
        // of the spare capacity (socket2 guarantees `n` is at most the slice
        // length and that those bytes are initialized), and the buffer was
        // empty, so the first `n` bytes of the buffer are now initialized.
        unsafe { self.buf.set_len(n.min(want)) };
        Ok(self.buf.split_to(n.min(want)).freeze())
    }
}

#[cfg(feature = "tls")]
impl ReadBuffer {
    /// TLS: reads at most `max` bytes after `prefix` (the incomplete
    /// record kept from the last read, copied in first) and hands the whole
    /// as a mutable chunk, for rustls to decrypt in place, with how many
    /// bytes were read and how many were asked for (fewer than `max` when
    /// the prefix took room; a read shorter than that drained the kernel):
    /// `Some(0)` is the peer's FIN, `None` a would-block read with a prefix
    /// to process (without one, `WouldBlock` is `Err`).
    #[allow(unsafe_code)]
    pub(crate) fn read_mut_after(
        &mut self,
        prefix: &[u8],
        socket: &socket2::SockRef<'_>,
        max: usize,
    ) -> io::Result<(BytesMut, Option<usize>, usize)> {
        debug_assert!(self.buf.is_empty());
        if self.buf.capacity() < prefix.len() + READ_BUFFER_MIN {
            self.buf.reserve(prefix.len() + READ_BUFFER);
        }
        self.buf.extend_from_slice(prefix);
        let spare = self.buf.spare_capacity_mut();
        let want = max.min(spare.len());
        let n = match socket.recv(&mut spare[..want]) {
            Ok(n) => n.min(want),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && !prefix.is_empty() => {
                let chunk = self.buf.split();
                return Ok((chunk, None, want));
            }
            Err(e) => {
                self.buf.clear();
                return Err(e);
            }
        };
        // SAFETY: `recv` wrote the first `n` bytes of the spare capacity
        // (socket2 guarantees `n` is at most the slice length and that
        // those bytes are initialized), which follows the `prefix.len()`
        // initialized bytes already in the buffer.
        unsafe { self.buf.set_len(prefix.len() + n) };
        Ok((self.buf.split(), Some(n), want))
    }

    /// TLS: a decrypted record, copied into the buffer and split off.
    pub(crate) fn copy_in(&mut self, bytes: &[u8]) -> Bytes {
        debug_assert!(self.buf.is_empty());
        if self.buf.capacity() < bytes.len() {
            self.buf.reserve(bytes.len().max(READ_BUFFER));
        }
        self.buf.extend_from_slice(bytes);
        self.buf.split().freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        (a, b)
    }

    #[test]
    fn reads_land_as_chunks_with_exactly_the_bytes_sent() {
        let (mut tx, rx) = pair();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        // From a thread: 200 KB need not fit in the kernel's buffers.
        let sent = data.clone();
        let writer = std::thread::spawn(move || {
            tx.write_all(&sent).unwrap();
            drop(tx);
        });
        let mut buf = ReadBuffer::default();
        let sock = socket2::SockRef::from(&rx);
        let mut got = Vec::new();
        let mut chunks = Vec::new();
        loop {
            let room = buf.room();
            assert!(room >= READ_BUFFER_MIN);
            let chunk = buf.read_from(&sock, 5_000).unwrap();
            if chunk.is_empty() {
                break;
            }
            assert!(chunk.len() <= 5_000);
            got.extend_from_slice(&chunk);
            // Keep some chunks alive: their allocation must not be reused.
            chunks.push(chunk);
            if chunks.len() > 3 {
                chunks.remove(0);
            }
        }
        writer.join().unwrap();
        assert_eq!(got, data);
        // Chunks kept alive still hold what was read into them.
        let tail: Vec<u8> = chunks.concat();
        assert_eq!(&data[data.len() - tail.len()..], &tail[..]);
    }

    #[test]
    fn every_read_gets_the_full_buffer_once_earlier_chunks_are_dropped() {
        let (mut tx, rx) = pair();
        let sock = socket2::SockRef::from(&rx);
        let mut buf = ReadBuffer::default();
        tx.write_all(&[7u8; 200]).unwrap();
        assert_eq!(buf.room(), READ_BUFFER);
        let first = buf.read_from(&sock, 100).unwrap();
        let start = first.as_ptr();
        // A live chunk pins the front of the allocation: the rest is used.
        assert_eq!(buf.room(), READ_BUFFER - 100);
        let second = buf.read_from(&sock, 100).unwrap();
        assert_eq!(buf.room(), READ_BUFFER - 200);
        drop(first);
        drop(second);
        // Small reads walk on for a while before trying to reclaim.
        assert_eq!(buf.room(), READ_BUFFER - 200);
        tx.write_all(&[8u8; RECLAIM_AFTER]).unwrap();
        let mut left = RECLAIM_AFTER;
        while left > 0 {
            left -= buf.read_from(&sock, left).unwrap().len();
            buf.room();
        }
        // Nothing alive any more: the whole allocation is taken back.
        assert_eq!(buf.room(), READ_BUFFER);
        tx.write_all(&[9u8; 100]).unwrap();
        let third = buf.read_from(&sock, 100).unwrap();
        assert_eq!(&third[..], &[9u8; 100]);
        assert_eq!(
            third.as_ptr(),
            start,
            "the allocation is read into from its start"
        );
    }

    #[test]
    fn a_dropped_chunks_allocation_is_reclaimed() {
        let (mut tx, rx) = pair();
        let sock = socket2::SockRef::from(&rx);
        let mut buf = ReadBuffer::default();
        tx.write_all(&[1u8; 100]).unwrap();
        buf.room();
        let first = buf.read_from(&sock, 100).unwrap();
        let base = first.as_ptr();
        drop(first);
        // Use up the room so that the next read must reserve again.
        while buf.buf.capacity() >= READ_BUFFER_MIN {
            let want = buf.buf.capacity().min(8192);
            tx.write_all(&vec![2u8; want]).unwrap();
            let mut left = want;
            while left > 0 {
                left -= buf.read_from(&sock, left).unwrap().len();
            }
        }
        tx.write_all(&[3u8; 10]).unwrap();
        buf.room();
        let again = buf.read_from(&sock, 10).unwrap();
        assert_eq!(&again[..], &[3u8; 10]);
        assert_eq!(again.as_ptr(), base, "the first allocation is reused");
    }

    /// TLS reads: the carried prefix comes first, then exactly the bytes
    /// the kernel held; a would-block read still hands the prefix back;
    /// decrypted records are copied in and split off.
    #[cfg(feature = "tls")]
    #[test]
    fn reads_after_a_prefix_keep_order_and_initialised_bytes() {
        let (mut tx, rx) = pair();
        rx.set_nonblocking(true).unwrap();
        let sock = socket2::SockRef::from(&rx);
        let mut buf = ReadBuffer::default();
        tx.write_all(b"world").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let room = buf.room();
        let (mut chunk, n, asked) = buf.read_mut_after(b"hello ", &sock, room).unwrap();
        assert_eq!((&chunk[..], n), (&b"hello world"[..], Some(5)));
        assert!(asked <= room - 6 && asked > 5);
        chunk[0] = b'H'; // mutable, for decryption in place
        assert_eq!(&chunk[..5], b"Hello");
        // Nothing more in the kernel: the prefix alone comes back.
        let room = buf.room();
        let (chunk, n, _) = buf.read_mut_after(b"partial", &sock, room).unwrap();
        assert_eq!((&chunk[..], n), (&b"partial"[..], None));
        // Without a prefix, would-block is an error.
        let room = buf.room();
        let err = buf.read_mut_after(b"", &sock, room).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
        // The peer's FIN.
        drop(tx);
        std::thread::sleep(std::time::Duration::from_millis(50));
        let room = buf.room();
        let (_, n, _) = buf.read_mut_after(b"", &sock, room).unwrap();
        assert_eq!(n, Some(0));
        let copied = buf.copy_in(b"plain");
        assert_eq!(&copied[..], b"plain");
    }
}
