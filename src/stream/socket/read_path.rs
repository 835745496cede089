//! The read burst: from a readable edge to `'data'` listeners, with the
//! per-turn cap, read-ahead while paused, and text decoding.

use super::*;
use crate::emitter::Snapshot;

pub(super) enum ReadStep {
    /// A chunk for `'data'`, with the listeners to call (taken in the same
    /// borrow, as Node's emit copies its listener list). `last`: the kernel
    /// is drained and nothing is buffered, so the burst ends after it.
    Emit {
        chunk: Bytes,
        listeners: Snapshot<Socket>,
        last: bool,
    },
    /// A chunk for a socket with an encoding: decoded before `'data'`.
    Decode {
        chunk: Bytes,
        last: bool,
    },
    Again,
    Stop,
    /// TLS: the handshake finished; its verdict and events come next.
    #[cfg(feature = "tls")]
    Secure,
}

/// The step that hands `chunk` to the `'data'` listeners.
pub(super) fn deliver_step(s: &SocketState, chunk: Bytes, last: bool) -> ReadStep {
    if s.layers & LAYER_DECODE != 0 {
        ReadStep::Decode { chunk, last }
    } else {
        let listeners = s.listeners.snapshot(EV_DATA);
        ReadStep::Emit {
            chunk,
            listeners,
            last,
        }
    }
}

/// One step of a read burst; never runs user code. A step that hands a
/// chunk to the listeners starts a new callback (`callback_seq`).
fn read_step(c: &mut Core, key: Key, budget: &mut usize) -> ReadStep {
    let step = read_step_inner(c, key, budget);
    if matches!(step, ReadStep::Emit { .. } | ReadStep::Decode { .. }) {
        c.callback_seq += 1;
        c.in_data_callback = true;
    }
    step
}

fn read_step_inner(c: &mut Core, key: Key, budget: &mut usize) -> ReadStep {
    let now = c.now_ms;
    let Some(s) = sock(c, key) else {
        return ReadStep::Stop;
    };
    if s.destroyed || s.phase != Phase::Open {
        return ReadStep::Stop;
    }
    #[cfg(feature = "tls")]
    if s.layers & LAYER_TLS != 0 {
        return super::tls_path::read_step(c, key, budget);
    }
    let flowing = s.flowing == Some(true);
    // The flag (hot) rather than the queue (cold).
    if flowing && s.has_buffered {
        if let Some(chunk) = s.take_buffered() {
            return if s.listeners.has(EV_DATA) {
                deliver_step(s, chunk, false)
            } else {
                ReadStep::Again
            };
        }
    }
    if s.eof {
        if s.read_buffered_len == 0 && !s.end_queued {
            s.end_queued = true;
            c.ticks.push_back(Tick::Socket(key, SocketTick::End));
        }
        return ReadStep::Stop;
    }
    if !s.readable_ready || !s.readable || s.read_held {
        return ReadStep::Stop;
    }
    // An empty buffer is always read into, even at highWaterMark 0 (as
    // Node's read(0)): the FIN behind it still brings 'end'.
    if !flowing && s.read_buffered_len > 0 && s.read_buffered_len >= s.read_hwm as usize {
        return ReadStep::Stop;
    }
    if *budget == 0 {
        schedule_read(c, key);
        return ReadStep::Stop;
    }
    let room = c.read_buf.room();
    let want = room.min(*budget);
    let Core {
        sockets,
        read_buf,
        wheel,
        ticks,
        ..
    } = c;
    let s = &mut sockets[key.index()];
    let Some(stream) = s.stream.as_ref() else {
        return ReadStep::Stop;
    };
    match read_buf
        .read_from(&socket2::SockRef::from(stream), want)
        .map(|chunk| (chunk.len(), chunk))
    {
        Ok((0, _)) => {
            s.eof = true;
            s.readable_ready = false;
            if s.read_buffered_len == 0 && !s.end_queued {
                s.end_queued = true;
                ticks.push_back(Tick::Socket(key, SocketTick::End));
            }
            ReadStep::Stop
        }
        Ok((n, chunk)) => {
            s.bytes_read += n as u64;
            *budget -= n;
            touch(wheel, now, key, s);
            if n < want && !s.peer_closed {
                // A short read drained the kernel buffer: the next data
                // brings a new edge, so skip the extra EAGAIN read. Not so
                // once the peer's FIN is known to be there: it is read next.
                s.readable_ready = false;
            }
            if flowing {
                if s.listeners.has(EV_DATA) {
                    let last = !s.readable_ready;
                    deliver_step(s, chunk, last)
                } else {
                    // Node: flowing with no 'data' listener drops the data.
                    ReadStep::Again
                }
            } else {
                s.buffer_read(chunk);
                ReadStep::Again
            }
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            s.readable_ready = false;
            ReadStep::Stop
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => ReadStep::Again,
        Err(e) => {
            destroy(c, key, Some(Error::from_io(e, "read", None)));
            ReadStep::Stop
        }
    }
}

/// A read burst: until the kernel is drained, the socket paused or
/// destroyed, or the per-turn cap reached (then it is re-queued).
pub(super) fn read(key: Key) {
    let cap = with(|c| c.read_cap);
    read_burst(key, None, cap);
}

/// The first step of a burst, taken by the caller inside its own borrow of
/// the loop (a readiness event records the edge and reads in one borrow).
pub(super) struct FirstStep(ReadStep, usize);

/// [`read_step`] as the first step of a burst.
pub(super) fn first_step(c: &mut Core, key: Key) -> FirstStep {
    let mut budget = c.read_cap;
    let step = read_step(c, key, &mut budget);
    FirstStep(step, budget)
}

/// Goes on with a burst whose first step was taken already.
pub(super) fn read_on(key: Key, first: FirstStep) {
    read_burst(key, Some(first.0), first.1);
}

fn read_burst(key: Key, mut next: Option<ReadStep>, mut budget: usize) {
    loop {
        let step = match next.take() {
            Some(step) => step,
            None => with(|c| read_step(c, key, &mut budget)),
        };
        let last = match step {
            ReadStep::Emit {
                chunk,
                listeners,
                last,
            } => {
                // Not caught here (the hot path): a panic unwinds to the
                // loop's dispatch, which queues this socket to read on.
                emitter::call(&Socket::from_key(key), listeners, &Payload::Data(&chunk));
                super::write_path::end_data_callback(false);
                last
            }
            ReadStep::Decode { chunk, last } => {
                deliver(key, &chunk);
                super::write_path::end_data_callback(false);
                last
            }
            ReadStep::Again => continue,
            ReadStep::Stop => break,
            #[cfg(feature = "tls")]
            ReadStep::Secure => {
                super::tls_path::secured(key);
                false
            }
        };
        if last {
            break;
        }
        // As Node after each read callback: ticks queued by the 'data'
        // listeners run before the next chunk. After a panic the burst
        // stops; the rest is read on the next run.
        if !crate::event_loop::drain_ticks() {
            with(|c| schedule_read(c, key));
            break;
        }
    }
}

/// Emits `'data'` for a socket with an encoding: whole characters only
/// (only sockets with a decoder take this path; a decoder is never removed).
fn deliver(key: Key, chunk: &Bytes) {
    let decoded = with(|c| {
        sock(c, key)
            .and_then(|s| s.decoder.as_mut())
            .and_then(|d| d.decode(chunk))
    });
    // None: all held back (a split character), or the socket is gone.
    if let Some(piece) = decoded {
        emit(key, EV_DATA, &Payload::Text(&piece.bytes, &piece.text()));
    }
}

/// A `'data'` listener panicked and unwound the read burst of the socket
/// in slot `index`: it reads on in the next run (the kernel may hold more,
/// and an edge-triggered descriptor will not signal it again).
pub(crate) fn read_on_after_panic(index: usize) {
    super::write_path::end_data_callback(true);
    with(|c| {
        if let Some(s) = c.sockets.get(index) {
            let key = Key::new(index, s.generation);
            schedule_read(c, key);
        }
    });
}

/// A read the loop queued (resume, new 'data' listener, per-turn cap).
pub(crate) fn read_pending(key: Key) {
    with(|c| {
        if let Some(s) = sock(c, key) {
            s.in_pending_reads = false;
        }
    });
    read(key);
}
