//! The write path: `write()` straight to the kernel when nothing is
//! queued, else behind the queue; flushing on writable edges; `end()` and
//! the shutdown that follows the last queued byte.

use super::*;
use smallvec::SmallVec;

/// Writes queued bytes until the queue is empty (or what is left is held by
/// `cork()`) or the kernel is full.
pub(super) fn flush_step(c: &mut Core, key: Key) {
    let now = c.now_ms;
    let Core { sockets, wheel, .. } = c;
    let Some(s) = sockets
        .get_mut(key.index())
        .filter(|s| s.generation == key.generation)
    else {
        return;
    };
    if s.destroyed || s.phase != Phase::Open {
        return;
    }
    #[cfg(feature = "tls")]
    if s.layers & LAYER_TLS != 0 {
        return super::tls_path::flush_step(c, key);
    }
    let mut failure = None;
    while s.queue.sendable() > 0 && s.writable_ready {
        let Some(stream) = s.stream.as_mut() else {
            break;
        };
        let (result, offered) = if s.queue.chunk_count() == 1 {
            let front = s.queue.front().expect("one chunk");
            (stream.write(front), front.len())
        } else {
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let n = s.queue.slices(&mut slices);
            let offered = slices[..n].iter().map(|s| s.len()).sum();
            (stream.write_vectored(&slices[..n]), offered)
        };
        match result {
            Ok(n) => {
                s.queue.advance(n);
                touch(wheel, now, key, s);
                if n < offered {
                    s.writable_ready = false;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => s.writable_ready = false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    if let Some(e) = failure {
        destroy(c, key, Some(Error::from_io(e, "write", None)));
    }
}

/// After a flush: completed write callbacks, then `'drain'`, then the
/// pending shutdown.
pub(super) fn flush(key: Key) {
    with(|c| flush_step(c, key));
    after_flush(key);
}

/// The user-visible half of a flush, run from the loop (never inside an
/// API call): `'drain'`, write callbacks, then a pending shutdown.
pub(super) fn after_flush(key: Key) {
    let socket = Socket::from_key(key);
    // As Node's afterWrite: 'drain' (not once end() was called) comes
    // before the callbacks of the writes that emptied the queue.
    let drain = with(|c| {
        let s = sock(c, key)?;
        if s.destroyed || !s.queue.is_empty() {
            return Some(false);
        }
        Some(std::mem::take(&mut s.need_drain) && s.writable)
    });
    if drain == Some(true) {
        emit(key, EV_DRAIN, &Payload::Unit);
    }
    while let Some(cb) = with(|c| sock(c, key).and_then(|s| s.queue.pop_completed())) {
        // Caught here, not by the poll batch: the callbacks after it and
        // the pending shutdown must still run.
        crate::event_loop::catch(|| cb(&socket, None));
    }
    with(|c| {
        let Some(s) = sock(c, key) else { return };
        if !s.destroyed && s.queue.is_empty() && s.ending && !s.shutdown && s.phase == Phase::Open {
            shutdown(c, key);
        }
    });
}

/// Shuts our write side (the queue is empty): `'finish'` on the next tick.
fn shutdown(c: &mut Core, key: Key) {
    let Some(s) = sock(c, key) else { return };
    #[cfg(feature = "tls")]
    if s.layers & LAYER_TLS != 0 {
        return super::tls_path::shutdown(c, key);
    }
    s.shutdown = true;
    let result = match s.stream.as_ref() {
        Some(stream) => stream.shutdown(Shutdown::Write),
        None => Ok(()),
    };
    match result {
        Ok(()) => c.ticks.push_back(Tick::Socket(key, SocketTick::Finish)),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => {
            // The peer is gone already (it reset us): the read side reports it.
            c.ticks.push_back(Tick::Socket(key, SocketTick::Finish))
        }
        Err(e) => destroy(c, key, Some(Error::from_io(e, "shutdown", None))),
    }
}

/// Our end of the stream: flush, then FIN.
pub(super) fn end_socket(c: &mut Core, key: Key, cb: Option<WriteCb>) {
    let live = sock(c, key).is_some_and(|s| !s.destroyed);
    if !live {
        if let Some(cb) = cb {
            c.ticks
                .push_back(Tick::WriteDone(key, cb, Some(Error::destroyed("end"))));
        }
        return;
    }
    let s = sock(c, key).expect("checked above");
    let mut done_cb = None;
    if let Some(cb) = cb {
        if s.shutdown && !s.ending {
            done_cb = Some(cb);
        } else {
            s.end_cbs.push(cb);
        }
    }
    if !s.ending && s.writable {
        s.writable = false;
        s.ending = true;
        if s.phase == Phase::Open && s.queue.is_empty() {
            shutdown(c, key);
        } else if s.phase == Phase::Open && s.corked {
            // end() uncorks: what was held goes out, then the FIN.
            s.corked = false;
            s.cork_depth = 0;
            s.queue.release();
            flush_step(c, key);
            c.ticks.push_back(Tick::Socket(key, SocketTick::Flushed));
        } else if s.phase == Phase::Fresh {
            // Never connected: nothing to flush or shut down.
            s.shutdown = true;
            s.ending = false;
            let cbs = std::mem::take(&mut s.end_cbs);
            for cb in cbs {
                c.ticks.push_back(Tick::WriteDone(key, cb, None));
            }
        }
    }
    if let Some(cb) = done_cb {
        c.ticks.push_back(Tick::WriteDone(key, cb, None));
    }
}

/// The write path: straight to the kernel when nothing is queued, else
/// behind the queue.
pub(super) fn write_to(c: &mut Core, key: Key, data: impl WriteData, cb: Option<WriteCb>) -> bool {
    let now = c.now_ms;
    let Some(s) = sock(c, key) else {
        if let Some(cb) = cb {
            c.ticks
                .push_back(Tick::WriteDone(key, cb, Some(Error::destroyed("write"))));
        }
        return false;
    };
    if s.end_emitted && !s.allow_half_open && (s.ending || s.shutdown) {
        // Node's writeAfterFIN: once the peer's 'end' was emitted on a
        // socket that is not half-open, a write after our side ended
        // (whoever ended first, and even once destroyed) fails with EPIPE.
        let err = Error::ended_by_peer();
        if let Some(cb) = cb {
            c.ticks
                .push_back(Tick::WriteDone(key, cb, Some(err.clone())));
        }
        destroy(c, key, Some(err));
        return false;
    }
    if s.destroyed {
        if let Some(cb) = cb {
            c.ticks
                .push_back(Tick::WriteDone(key, cb, Some(Error::destroyed("write"))));
        }
        return false;
    }
    if !s.writable || s.phase == Phase::Fresh {
        let fresh = s.phase == Phase::Fresh;
        let err = if fresh {
            Error::new(ErrorCode::ERR_SOCKET_CLOSED, "Socket is closed")
        } else {
            Error::write_after_end()
        };
        if let Some(cb) = cb {
            c.ticks
                .push_back(Tick::WriteDone(key, cb, Some(err.clone())));
        }
        if fresh {
            // Node: the callback, then the destroy, on the next tick.
            let destroy_later = move || with(|c| destroy(c, key, Some(err)));
            c.ticks.push_back(Tick::Call(Box::new(destroy_later)));
        } else {
            destroy(c, key, Some(err));
        }
        return false;
    }
    #[cfg(feature = "tls")]
    if s.layers & LAYER_TLS != 0 {
        return super::tls_path::write(c, key, data, cb);
    }
    let seq = c.callback_seq;
    // Writes made in a `'data'` callback, and a socket's writes after its
    // first in any other callback, are batched: one `writev` when the
    // callback returns (or at its `Flush` tick) instead of one system call
    // each. Node would have sent each at once; the batch is invisible
    // (`writable_length()` does not count it, `write()` returns `true`),
    // and a `destroy()` in the callback sends it first.
    let in_data_callback = c.in_data_callback;
    let batch = in_data_callback || c.last_inline_write == (key, seq);
    let Core {
        sockets,
        wheel,
        ticks,
        last_inline_write,
        held,
        ..
    } = c;
    let s = &mut sockets[key.index()];
    let len = data.as_slice().len();
    let start = s.queue.accepted();
    let mut failure = None;
    let ready = s.phase == Phase::Open && s.writable_ready && !s.corked && len > 0;
    if ready && batch {
        // Nothing else can be queued here: the kernel has room.
        if s.queue.is_empty() {
            held.push(key);
            if !in_data_callback {
                ticks.push_back(Tick::Socket(key, SocketTick::Flush));
            }
        }
        if len < crate::chunk_queue::COPY_BELOW {
            // Copied into the queue's tail now (it would be at the next
            // step anyway), without making a chunk for it.
            s.queue.push_copy(data.as_slice());
        } else {
            s.queue.push(data.into_bytes_from(0));
        }
        touch(wheel, now, key, s);
        if cb.is_none() && s.queue.len() < s.write_hwm as usize {
            // The common case, without finish_write's lookups: no callback
            // to tie, below the mark, no 'drain' owed.
            return true;
        }
        if s.queue.len() >= s.write_hwm as usize {
            // The batch reaches the high-water mark: send it now, as Node
            // would have sent each write.
            flush_step(c, key);
            let Some(s) = sock(c, key) else { return false };
            if s.destroyed {
                if let Some(cb) = cb {
                    c.ticks
                        .push_back(Tick::WriteDone(key, cb, Some(Error::destroyed("write"))));
                }
                return false;
            }
        }
        return finish_write(c, key, start, cb);
    } else if ready && s.queue.is_empty() {
        *last_inline_write = (key, seq);
        let stream = s.stream.as_mut().expect("open sockets have a stream");
        match stream.write(data.as_slice()) {
            Ok(n) => {
                s.queue.note_written_inline(n);
                if n < len {
                    s.writable_ready = false;
                    s.queue.push(data.into_bytes_from(n));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                s.writable_ready = false;
                s.queue.push(data.into_bytes_from(0));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                s.queue.push(data.into_bytes_from(0));
            }
            Err(e) => {
                s.queue.note_written_inline(0);
                failure = Some(e);
            }
        }
        touch(wheel, now, key, s);
    } else {
        s.queue.push(data.into_bytes_from(0));
        if s.phase == Phase::Open {
            touch(wheel, now, key, s);
        }
    }
    if let Some(e) = failure {
        let err = Error::from_io(e, "write", None);
        if let Some(cb) = cb {
            c.ticks
                .push_back(Tick::WriteDone(key, cb, Some(err.clone())));
        }
        destroy(c, key, Some(err));
        return false;
    }
    finish_write(c, key, start, cb)
}

/// The end of a write: its callback tied to its last byte, and the return
/// value.
pub(super) fn finish_write(c: &mut Core, key: Key, start: u64, cb: Option<WriteCb>) -> bool {
    let Some(s) = sock(c, key) else { return false };
    if let Some(cb) = cb {
        if let Err(cb) = s.queue.push_callback(start, cb) {
            c.ticks.push_back(Tick::WriteDone(key, cb, None));
        }
    }
    let Some(s) = sock(c, key) else { return false };
    // Node 20: `true` once the kernel took everything, even at
    // highWaterMark 0 (then no 'drain' is owed).
    let below = s.queue.is_empty() || s.queue.len() < s.write_hwm as usize;
    if !below {
        s.need_drain = true;
    }
    below
}

/// Whether the socket holds a batch of this callback's writes (queued
/// while the kernel has room): for Node those bytes were sent already.
pub(super) fn batching(c: &Core, key: Key) -> bool {
    c.held.contains(&key)
        && sock_ref(c, key).is_some_and(|s| {
            s.phase == Phase::Open && s.writable_ready && !s.corked && !s.queue.is_empty()
        })
}

/// A batch's `Flush` tick: it goes out.
pub(super) fn flush_tick(key: Key) {
    with(|c| c.held.retain(|k| *k != key));
    flush(key);
}

/// The `'data'` callback returned: its batches go out, one `writev` per
/// socket, in the same borrow of the loop; only a socket with something
/// more to do (`'drain'`, write callbacks, a pending `end()`) goes through
/// [`after_flush`]. After a panic in the callback, the batches go by
/// `Flush` ticks.
pub(crate) fn end_data_callback(panicked: bool) {
    // The usual case (one socket answered) without collecting anything.
    let mut first = None;
    let mut more: SmallVec<[Key; 2]> = SmallVec::new();
    with(|c| {
        c.in_data_callback = false;
        if panicked {
            for &key in &c.held {
                c.ticks.push_back(Tick::Socket(key, SocketTick::Flush));
            }
            // The ticks send them; until then they are batches still.
            return;
        }
        while let Some(key) = c.held.pop() {
            flush_step(c, key);
            let after = sock(c, key).is_some_and(|s| {
                s.need_drain || s.queue.has_callbacks() || (s.ending && !s.shutdown)
            });
            if after {
                if first.is_none() {
                    first = Some(key);
                } else {
                    more.push(key);
                }
            }
        }
    });
    if let Some(key) = first {
        after_flush(key);
        for key in more {
            after_flush(key);
        }
    }
}

/// Sends a batch of writes now (before a `destroy()`: Node had sent them).
pub(super) fn flush_batch(c: &mut Core, key: Key) {
    if batching(c, key) {
        flush_step(c, key);
    }
}
