//! The read burst: from a readable edge to `'data'` listeners, with the
//! per-turn cap, read-ahead while paused, and text decoding.

use super::*;

enum ReadStep {
    Deliver(Bytes),
    /// The last chunk of this burst: the kernel is drained and nothing is
    /// buffered, so no further step is needed after delivering it.
    DeliverLast(Bytes),
    Again,
    Stop,
}

/// One step of a read burst; never runs user code.
fn read_step(c: &mut Core, key: Key, budget: &mut usize) -> ReadStep {
    let now = c.now_ms;
    let Some(s) = sock(c, key) else {
        return ReadStep::Stop;
    };
    if s.destroyed || s.phase != Phase::Open {
        return ReadStep::Stop;
    }
    let flowing = s.flowing == Some(true);
    // The level (hot) rather than the queue (cold): chunks are never empty.
    if flowing && s.read_buffered_len > 0 {
        if let Some(chunk) = s.read_buffered.pop_front() {
            s.read_buffered_len -= chunk.len();
            return if s.listeners.has(EV_DATA) {
                ReadStep::Deliver(chunk)
            } else {
                ReadStep::Again
            };
        }
    }
    if s.eof {
        if s.read_buffered.is_empty() && !s.end_queued {
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
    if !flowing && s.read_buffered_len > 0 && s.read_buffered_len >= s.read_hwm {
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
            if s.read_buffered.is_empty() && !s.end_queued {
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
                    if s.readable_ready {
                        ReadStep::Deliver(chunk)
                    } else {
                        ReadStep::DeliverLast(chunk)
                    }
                } else {
                    // Node: flowing with no 'data' listener drops the data.
                    ReadStep::Again
                }
            } else {
                s.read_buffered_len += n;
                s.read_buffered.push_back(chunk);
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
    let mut budget = READ_CAP_PER_TURN;
    loop {
        match with(|c| read_step(c, key, &mut budget)) {
            ReadStep::Deliver(chunk) => {
                deliver(key, &chunk);
                // As Node after each read callback: ticks queued by the
                // 'data' listeners run before the next chunk.
                crate::event_loop::drain_ticks();
            }
            ReadStep::DeliverLast(chunk) => {
                deliver(key, &chunk);
                break;
            }
            ReadStep::Again => {}
            ReadStep::Stop => break,
        }
    }
}

/// Emits `'data'`: the chunk as it is, or whole characters of it once an
/// encoding is set.
fn deliver(key: Key, chunk: &Bytes) {
    let decoded = with(|c| sock(c, key).map(|s| s.decoder.as_mut().map(|d| d.decode(chunk))));
    match decoded {
        Some(Some(Some(piece))) => {
            emit(key, EV_DATA, &Payload::Text(&piece.bytes, &piece.text()));
        }
        Some(Some(None)) | None => {} // all held back, or the socket is gone
        Some(None) => {
            emit(key, EV_DATA, &Payload::Data(chunk));
        }
    }
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
