//! `Socket`: a TCP connection's handle, and the state machine behind it.
//!
//! A socket moves `Fresh → (Resolving →) Connecting → Open → Closed`, or is
//! born `Open` when a server accepts it. While open, its two directions close
//! independently: our `end()` shuts the write side once the queue is flushed
//! (`'finish'`); the peer's FIN ends the read side once buffered data is
//! consumed (`'end'`). When both are done the socket destroys itself.
//! `destroy()` closes the descriptor at once; `'close'` follows in the loop's
//! close phase, after which the slot is freed and the listeners dropped.

use crate::chunk_queue::ChunkQueue;
use std::fmt;
use std::io::{self, IoSlice};
use std::marker::PhantomData;
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::time::Duration;

use crate::transport::{self, Stream};
use bytes::Bytes;
use mio::{Interest, Token};

use crate::emitter::{self, EventSpec, ListenerHost, Listeners, Payload, Shape};
use crate::error::{Error, ErrorCode};
use crate::event_loop::{with, Core, Tick};
use crate::handle::Key;
use crate::stream::server;
use crate::tcp::connect::{self, Attempts, Plan};
use crate::tcp::{ConnectionAttempt, SocketOptions, WriteData};
use crate::text::{Encoding, TextDecoder};
use crate::timer::user::TIMEOUT_MAX;
use crate::timer::wheel::Wheel;
use crate::write_queue::{Discarded, WriteQueue, MAX_IOVECS};

mod api;
mod connect_path;
mod read_path;
#[cfg(feature = "tls")]
pub(crate) mod tls_api;
#[cfg(feature = "tls")]
pub(crate) mod tls_path;
mod user_data;
mod write_path;

use read_path::read;
pub(crate) use read_path::{read_on_after_panic, read_pending};
use write_path::{after_flush, end_socket, flush, flush_step, write_to};
use write_path::{batching, flush_batch};

/// A write or end callback: the socket, then `None` or the error.
pub(crate) type WriteCb = Box<dyn FnOnce(&Socket, Option<&Error>)>;

/// The default high-water mark of the write queue and of buffered reads.
pub const DEFAULT_HIGH_WATER_MARK: usize = 64 * 1024;

pub(crate) const EV_CONNECT: u8 = 0;
pub(crate) const EV_READY: u8 = 1;
pub(crate) const EV_DATA: u8 = 2;
pub(crate) const EV_END: u8 = 3;
pub(crate) const EV_FINISH: u8 = 4;
pub(crate) const EV_DRAIN: u8 = 5;
pub(crate) const EV_TIMEOUT: u8 = 6;
pub(crate) const EV_ERROR: u8 = 7;
pub(crate) const EV_CLOSE: u8 = 8;
pub(crate) const EV_LOOKUP: u8 = 9;
pub(crate) const EV_ATTEMPT: u8 = 10;
pub(crate) const EV_ATTEMPT_FAILED: u8 = 11;
pub(crate) const EV_ATTEMPT_TIMEOUT: u8 = 12;
pub(crate) const EV_SECURE_CONNECT: u8 = 13;
pub(crate) const EV_SECURE: u8 = 14;
pub(crate) const EV_KEYLOG: u8 = 15;

/// `SocketState::layers`: `'data'` is decoded text.
const LAYER_DECODE: u8 = 1;
/// `SocketState::layers`: the stream carries TLS records.
const LAYER_TLS: u8 = 2;

pub(crate) const SOCKET_EVENTS: &[EventSpec] = &[
    EventSpec::new("connect", Shape::Unit),
    EventSpec::new("ready", Shape::Unit),
    EventSpec {
        name: "data",
        shape: Shape::Data,
        alt: Some(Shape::Text),
    },
    EventSpec::new("end", Shape::Unit),
    EventSpec::new("finish", Shape::Unit),
    EventSpec::new("drain", Shape::Unit),
    EventSpec::new("timeout", Shape::Unit),
    EventSpec::new("error", Shape::Error),
    EventSpec::new("close", Shape::HadError),
    EventSpec::new("lookup", Shape::Lookup),
    EventSpec::new("connectionAttempt", Shape::Attempt),
    EventSpec::new("connectionAttemptFailed", Shape::Attempt),
    EventSpec::new("connectionAttemptTimeout", Shape::Attempt),
    EventSpec::new("secureConnect", Shape::Unit),
    EventSpec::new("secure", Shape::Unit),
    EventSpec::new("keylog", Shape::Data),
];

/// Where a socket is in its life.
///
/// Eight bytes wide on purpose: its 2^64 - 5 unused values are the largest
/// niche in `SocketState` (a `Vec`'s capacity leaves 2^63), so the slab's
/// occupied/vacant tag is stored here, on the state's first cache line,
/// rather than in the capacity of the last `Vec` at the state's end: every
/// lookup reads the tag, and at 500 connections that cold line was a cache
/// miss per message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub(crate) enum Phase {
    /// Made with `Socket::new`, not connected yet.
    Fresh,
    /// Waiting for the host name's addresses.
    Resolving,
    /// Handshake in flight.
    Connecting,
    /// Connected (each direction may have ended).
    Open,
    /// Destroyed; `'close'` pending or done.
    Closed,
}

/// Node's `socket.readyState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadyState {
    /// Connecting (`"opening"`).
    Opening,
    /// Readable and writable (`"open"`).
    Open,
    /// Our side ended, still reading (`"readOnly"`).
    ReadOnly,
    /// The peer ended, still writable (`"writeOnly"`).
    WriteOnly,
    /// Neither (`"closed"`).
    Closed,
}

impl ReadyState {
    /// Node's string for the state.
    pub fn as_str(self) -> &'static str {
        match self {
            ReadyState::Opening => "opening",
            ReadyState::Open => "open",
            ReadyState::ReadOnly => "readOnly",
            ReadyState::WriteOnly => "writeOnly",
            ReadyState::Closed => "closed",
        }
    }
}

impl fmt::Display for ReadyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ReadyState {
    type Err = Error;

    /// Node's strings (`"opening"`, `"open"`, `"readOnly"`, `"writeOnly"`,
    /// `"closed"`), as `Display` prints them.
    ///
    /// # Errors
    ///
    /// `ERR_INVALID_ARG_VALUE` for any other string.
    fn from_str(s: &str) -> Result<ReadyState, Error> {
        [
            ReadyState::Opening,
            ReadyState::Open,
            ReadyState::ReadOnly,
            ReadyState::WriteOnly,
            ReadyState::Closed,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
        .ok_or_else(|| {
            Error::new(
                ErrorCode::ERR_INVALID_ARG_VALUE,
                format!("Unknown readyState: '{s}'"),
            )
        })
    }
}

/// Deferred socket work, run on the next tick.
pub(crate) enum SocketTick {
    /// Emit the socket's stored error.
    Error,
    /// Emit `'end'` (the peer's FIN, with nothing left buffered).
    End,
    /// `allow_half_open` is false: end our side after the peer's.
    AutoEnd,
    /// Our shutdown is done: end callbacks, then `'finish'`.
    Finish,
    /// `'connectionAttempt'`, `'connectionAttemptFailed'` or
    /// `'connectionAttemptTimeout'`.
    Attempt(u8, ConnectionAttempt),
    /// Bytes were flushed inside an API call (`uncork()`, `end()` while
    /// corked): `'drain'`, callbacks and the pending shutdown follow here.
    Flushed,
    /// Send what the last callback wrote in a batch (TLS: seal it too).
    Flush,
}

/// Everything the loop knows about one socket.
///
/// `repr(C)` keeps the declared order and `align(64)` starts every slab
/// entry on a cache line, so that what an echoed message touches (flags,
/// descriptor, counters, listener masks and the first listener, the write
/// queue's counters) fills the first two lines and nothing beyond: with
/// hundreds of connections the kernel's work between two messages evicts
/// them, and every extra line touched is a cache miss (perf/README.md). A
/// unit test checks the offsets.
#[repr(C, align(64))]
pub(crate) struct SocketState {
    // Line 0: the flags every read and write checks.
    pub(crate) phase: Phase,
    pub(crate) generation: u32,
    pub(crate) stream: Option<Stream>,
    /// `cork()` is in force (`cork_depth > 0`): writes queue instead of
    /// going out.
    corked: bool,
    flowing: Option<bool>,
    pub(crate) destroyed: bool,
    readable: bool,
    writable: bool,
    readable_ready: bool,
    writable_ready: bool,
    /// The last readiness event said the peer shut its side (EPOLLRDHUP):
    /// a short read does not mean drained, as the FIN is still to be read.
    peer_closed: bool,
    eof: bool,
    /// Paused when the connection came up (`pause_on_connect`, or
    /// `pause()` while connecting): nothing is read until `resume()`, as
    /// Node never starts reading such a socket.
    read_held: bool,
    /// What sits between the stream and the user (`LAYER_*` bits): text
    /// decoding, TLS. Kept here so that the read and write paths test one
    /// byte of line 0 rather than the cold fields.
    layers: u8,
    /// `read_buffered` holds chunks (`read_buffered_len > 0`).
    has_buffered: bool,
    bytes_read: u64,
    last_active: u64,
    // Lines 0-1: the listener masks and first listener, then the write
    // queue's counters (first in the `repr(C)` `WriteQueue`).
    pub(crate) listeners: Listeners<Socket>,
    queue: WriteQueue<WriteCb>,
    // Cold: set up once, or touched only off the echo path.
    read_buffered_len: usize,
    /// High-water marks, saturated to `u32` (4 GiB) to keep the state
    /// within eight cache lines.
    read_hwm: u32,
    write_hwm: u32,
    timeout_ms: u64,
    wheel_deadline: u64,
    /// `cork()` depth (Node's `writableCorked`); `corked` mirrors `> 0`.
    cork_depth: u32,
    /// `set_encoding()`: 'data' carries whole characters.
    decoder: Option<Box<TextDecoder>>,
    /// Read ahead while not flowing; boxed (made on first use), as most
    /// sockets never pause.
    read_buffered: Option<Box<ChunkQueue>>,
    end_cbs: Vec<WriteCb>,
    pub(crate) server: Option<Key>,
    remote: Option<SocketAddr>,
    local: Option<SocketAddr>,
    /// Boxed: errors are rare, and inline the 120-byte `Error` would
    /// widen every socket's state.
    error: Option<Box<Error>>,
    /// A client socket's addresses and attempts.
    pub(crate) connect: Option<Box<Attempts>>,
    /// The user's data and handler object; boxed, made on first use.
    pub(crate) owned: Option<Box<user_data::Owned>>,
    /// Keep-alive initial delay (seconds, saturated: the kernel takes at
    /// most 32767).
    keep_alive_delay_s: u32,
    /// Keep-alive probe interval (seconds) and count; 0 keeps Node 20's
    /// fixed 1 s and 10.
    keep_alive_interval_s: u32,
    keep_alive_count: u32,
    /// Every error this socket met, in order (failed attempts, then the
    /// one it was destroyed with).
    pub(crate) error_history: Vec<Error>,
    in_pending_reads: bool,
    need_drain: bool,
    ending: bool,
    shutdown: bool,
    end_queued: bool,
    end_emitted: bool,
    allow_half_open: bool,
    had_error: bool,
    refd: bool,
    pending_reset: bool,
    /// `destroy_soon()`: destroy once `'finish'` has been emitted.
    destroy_soon: bool,
    finish_emitted: bool,
    close_emitted: bool,
    no_delay: bool,
    keep_alive: bool,
    /// IP type of service / IPv6 traffic class, applied once connected.
    tos: Option<u8>,
    /// TLS over the stream (`LAYER_TLS`).
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<Box<tls_path::TlsState>>,
}

/// A high-water mark as stored: the default, saturated to `u32`.
fn hwm(option: Option<usize>) -> u32 {
    u32::try_from(option.unwrap_or(DEFAULT_HIGH_WATER_MARK)).unwrap_or(u32::MAX)
}

impl SocketState {
    /// Keep-alive as this socket asked for it.
    pub(crate) fn keep_alive_params(&self) -> transport::tcp::KeepAlive {
        transport::tcp::KeepAlive {
            enable: self.keep_alive,
            delay_s: u64::from(self.keep_alive_delay_s),
            interval_s: self.keep_alive_interval_s,
            count: self.keep_alive_count,
        }
    }

    /// Keeps a chunk read ahead (short ones are copied: see `ChunkQueue`).
    fn buffer_read(&mut self, chunk: Bytes) {
        self.read_buffered_len += chunk.len();
        self.has_buffered = true;
        self.read_buffered
            .get_or_insert_with(Default::default)
            .push(chunk);
    }

    /// The first chunk read ahead.
    fn take_buffered(&mut self) -> Option<Bytes> {
        let chunk = self.read_buffered.as_mut()?.pop_front()?;
        self.read_buffered_len -= chunk.len();
        self.has_buffered = self.read_buffered_len > 0;
        Some(chunk)
    }

    fn set_decoder(&mut self, decoder: TextDecoder) {
        self.decoder = Some(Box::new(decoder));
        self.layers |= LAYER_DECODE;
    }

    pub(crate) fn new(generation: u32, options: &SocketOptions) -> SocketState {
        SocketState {
            generation,
            phase: Phase::Fresh,
            stream: None,
            listeners: Listeners::default(),
            queue: WriteQueue::default(),
            end_cbs: Vec::new(),
            read_buffered: None,
            read_buffered_len: 0,
            layers: 0,
            has_buffered: false,
            server: None,
            remote: None,
            local: None,
            error: None,
            connect: None,
            owned: None,
            bytes_read: 0,
            read_hwm: hwm(options.readable_high_water_mark.or(options.high_water_mark)),
            write_hwm: hwm(options.writable_high_water_mark.or(options.high_water_mark)),
            timeout_ms: 0,
            last_active: 0,
            wheel_deadline: 0,
            keep_alive_delay_s: u32::try_from(options.keep_alive_initial_delay.as_secs())
                .unwrap_or(u32::MAX),
            flowing: None,
            readable: false,
            writable: true,
            ending: false,
            shutdown: false,
            eof: false,
            end_queued: false,
            end_emitted: false,
            allow_half_open: options.allow_half_open,
            readable_ready: false,
            peer_closed: false,
            writable_ready: false,
            destroyed: false,
            had_error: false,
            refd: true,
            need_drain: false,
            pending_reset: false,
            in_pending_reads: false,
            read_held: false,
            no_delay: options.no_delay,
            keep_alive: options.keep_alive,
            keep_alive_interval_s: 0,
            keep_alive_count: 0,
            tos: None,
            #[cfg(feature = "tls")]
            tls: None,
            corked: false,
            cork_depth: 0,
            error_history: Vec::new(),
            decoder: None,
            destroy_soon: false,
            finish_emitted: false,
            close_emitted: false,
        }
    }

    /// Whether this socket keeps the loop running: connecting, flushing, or
    /// reading (not explicitly paused), and ref'd.
    pub(crate) fn keeps_alive(&self) -> bool {
        if !self.refd || self.destroyed {
            return false;
        }
        match self.phase {
            Phase::Resolving | Phase::Connecting => true,
            Phase::Open => {
                !self.queue.is_empty()
                    || (self.ending && !self.shutdown)
                    || (self.readable && !self.eof && self.flowing != Some(false))
            }
            Phase::Fresh | Phase::Closed => false,
        }
    }

    /// Never connecting nor accepted: Node's socket with no handle.
    fn handleless(&self) -> bool {
        self.connect.is_none() && self.server.is_none() && self.pipe_path().is_none()
    }

    fn ready_state(&self) -> ReadyState {
        match self.phase {
            Phase::Resolving | Phase::Connecting => ReadyState::Opening,
            // Node's quirk: a socket that never connected reports "open".
            Phase::Fresh => ReadyState::Open,
            _ => match (self.readable, self.writable) {
                (true, true) => ReadyState::Open,
                (true, false) => ReadyState::ReadOnly,
                (false, true) => ReadyState::WriteOnly,
                (false, false) => ReadyState::Closed,
            },
        }
    }
}

/// A TCP connection: a small `Copy` handle into the loop's state.
///
/// Made by [`tcp::connect`](crate::tcp::connect),
/// [`tcp::create_connection`](crate::tcp::create_connection),
/// [`Socket::new`] + [`Socket::connect`], or handed to a server's
/// `'connection'` listeners. Copies refer to the same connection; once the
/// socket's `'close'` has run, every copy is stale: calls on it are harmless
/// no-ops (writes return `false`) and [`destroyed`](Socket::destroyed)
/// says so. Handles belong to the thread whose loop made them (`!Send`).
///
/// # Events
///
/// | event | listener |
/// |---|---|
/// | `"lookup"` | `\|s: &Socket, l: &Lookup\|` |
/// | `"connectionAttempt"`, `"connectionAttemptFailed"`, `"connectionAttemptTimeout"` | `\|s: &Socket, a: &ConnectionAttempt\|` |
/// | `"connect"`, `"ready"` | `\|s: &Socket\|` |
/// | `"data"` | `\|s: &Socket, chunk: &Bytes\|` or, as text, `\|s: &Socket, text: &str\|` |
/// | `"end"`, `"finish"`, `"drain"`, `"timeout"` | `\|s: &Socket\|` |
/// | `"error"` | `\|s: &Socket, err: &Error\|` |
/// | `"close"` | `\|s: &Socket, had_error: bool\|` |
///
/// # Examples
///
/// ```no_run
/// use nodenet::{tcp, Bytes, Socket};
///
/// let client = tcp::connect(7000, "127.0.0.1", |s: &Socket| {
///     s.write("hello");
/// })?;
/// client
///     .on("data", |s: &Socket, chunk: &Bytes| {
///         println!("{}", String::from_utf8_lossy(chunk));
///         s.end();
///     })
///     .on("close", |_: &Socket, had_error: bool| println!("closed ({had_error})"));
/// nodenet::run()?;
/// # Ok::<(), nodenet::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Socket {
    key: Key,
    _thread: PhantomData<*const ()>,
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Socket({})", self.key.id())
    }
}

pub(crate) fn sock(c: &mut Core, key: Key) -> Option<&mut SocketState> {
    c.sockets
        .get_mut(key.index())
        .filter(|s| s.generation == key.generation)
}

fn sock_ref(c: &Core, key: Key) -> Option<&SocketState> {
    c.sockets
        .get(key.index())
        .filter(|s| s.generation == key.generation)
}

/// Marks activity for the inactivity timeout: a stamp, plus re-arming if
/// the timeout already fired for the previous idle period.
#[inline]
fn touch(wheel: &mut Wheel<Key>, now: u64, key: Key, s: &mut SocketState) {
    let parked = s.last_active == TIMEOUT_PARKED;
    s.last_active = now;
    if parked && s.timeout_ms > 0 {
        s.wheel_deadline = now.saturating_add(s.timeout_ms);
        wheel.insert(key, s.wheel_deadline);
    }
}

/// `last_active` of a socket whose `'timeout'` fired: it has no wheel
/// entry until its next activity (kept in `last_active`, so that the read
/// path's check stays on the socket's first cache line).
const TIMEOUT_PARKED: u64 = u64::MAX;

impl ListenerHost for Socket {
    fn with_listeners<R>(&self, f: impl FnOnce(&mut Listeners<Self>) -> R) -> Option<R> {
        with(|c| sock(c, self.key).map(|s| f(&mut s.listeners)))
    }
}

impl emitter::EventTarget for Socket {
    const NAME: &'static str = "Socket";
    const EVENTS: &'static [EventSpec] = SOCKET_EVENTS;

    fn listener_added(&self, event: u8, shape: Shape) {
        // Node: a 'data' listener turns on flowing mode unless the socket
        // was explicitly paused. A text listener (`|s, text: &str|`) turns
        // on UTF-8 decoding if no encoding was set, so that characters
        // split across reads arrive whole.
        if event == EV_DATA {
            with(|c| {
                if let Some(s) = sock(c, self.key) {
                    if shape == Shape::Text && s.decoder.is_none() {
                        s.set_decoder(TextDecoder::new(Encoding::Utf8));
                    }
                    if s.flowing.is_none() {
                        s.flowing = Some(true);
                        schedule_read(c, self.key);
                    }
                }
            });
        }
        // Node: only handshakes after the first 'keylog' listener report.
        #[cfg(feature = "tls")]
        if event == EV_KEYLOG {
            with(|c| {
                if let Some(t) = sock(c, self.key).and_then(|s| s.tls.as_deref_mut()) {
                    t.want_keylog = true;
                }
            });
        }
    }
}

crate::emitter::emitter_methods!(
    Socket,
    "```
use nodenet::{Bytes, Socket, SocketOptions};

let socket = Socket::new(SocketOptions::default());
socket
    .on(\"data\", |s: &Socket, chunk: &Bytes| {
        s.write(chunk);
    })
    .on(\"close\", |_: &Socket| println!(\"closed\")); // had_error ignored
// The same with the typed methods:
socket.on_data(|s, chunk| {
    s.write(chunk);
});
assert_eq!(socket.listener_count(\"data\"), 2);
```"
);

crate::emitter::typed_events!(Socket, "socket" {
    "connect" => connect = EV_CONNECT, on_connect, once_connect, () as (),
        "the connection is established.";
    "ready" => ready = EV_READY, on_ready, once_ready, () as (),
        "the socket is ready for use, right after `'connect'`.";
    "data" => data = EV_DATA, on_data, once_data, (&Bytes) as (Bytes,),
        "a chunk arrived (`|socket, chunk|`; after `set_encoding`, the bytes of whole characters). \
         The chunk is a view into a 64 KiB block of the loop's read buffer: to keep a small piece \
         for long (a stored key, a value), copy it (`Bytes::copy_from_slice`), or it keeps the \
         whole block alive.";
    "end" => end = EV_END, on_end, once_end, () as (),
        "the peer ended its side (FIN).";
    "finish" => finish = EV_FINISH, on_finish, once_finish, () as (),
        "our side is ended and every write reached the kernel.";
    "drain" => drain = EV_DRAIN, on_drain, once_drain, () as (),
        "the write queue emptied after `write()` returned `false`.";
    "timeout" => timeout = EV_TIMEOUT, on_timeout, once_timeout, () as (),
        "the socket was idle for its timeout (it stays open).";
    "error" => error = EV_ERROR, on_error, once_error, (&Error) as (Error,),
        "the socket failed (`|socket, err|`); `'close'` follows.";
    "close" => close = EV_CLOSE, on_close, once_close, (bool) as (bool,),
        "the socket is fully closed (`|socket, had_error|`); the last event.";
    "lookup" => lookup = EV_LOOKUP, on_lookup, once_lookup, (&crate::Lookup) as (crate::Lookup,),
        "the host name was resolved (`|socket, lookup|`).";
    "connectionAttempt" => connection_attempt = EV_ATTEMPT, on_connection_attempt,
        once_connection_attempt, (&crate::ConnectionAttempt) as (crate::ConnectionAttempt,),
        "a connection attempt to one address starts (`|socket, attempt|`).";
    "connectionAttemptFailed" => connection_attempt_failed = EV_ATTEMPT_FAILED,
        on_connection_attempt_failed, once_connection_attempt_failed,
        (&crate::ConnectionAttempt) as (crate::ConnectionAttempt,),
        "a connection attempt failed (`|socket, attempt|`, with its error).";
    "connectionAttemptTimeout" => connection_attempt_timeout = EV_ATTEMPT_TIMEOUT,
        on_connection_attempt_timeout, once_connection_attempt_timeout,
        (&crate::ConnectionAttempt) as (crate::ConnectionAttempt,),
        "a connection attempt timed out (`|socket, attempt|`).";
    "secureConnect" => secure_connect = EV_SECURE_CONNECT, on_secure_connect, once_secure_connect,
        () as (), "TLS client: the handshake is done and the server judged (`tls::connect`).";
    "secure" => secure = EV_SECURE, on_secure, once_secure, () as (),
        "TLS: the handshake is done (every TLS socket; the only signal of an upgraded server \
         socket).";
    "keylog" => keylog = EV_KEYLOG, on_keylog, once_keylog, (&Bytes) as (Bytes,),
        "TLS: a line of key material in the NSS `SSLKEYLOGFILE` format (`|socket, line|`), \
         for decrypting captures. Only handshakes after the listener was added report it.";
});

/// Emits a socket event to a snapshot of its listeners.
pub(crate) fn emit(key: Key, event: u8, payload: &Payload<'_>) -> bool {
    let socket = Socket::from_key(key);
    let snapshot = with(|c| sock_ref(c, key).map(|s| s.listeners.snapshot(event)));
    match snapshot {
        Some(snap) if !snap.is_empty() => {
            crate::event_loop::catch(|| emitter::call(&socket, snap, payload));
            true
        }
        _ => false,
    }
}

/// Queues a read this turn, for a socket that may have data without a new
/// readiness event (resumed, data listener added, cap reached).
fn schedule_read(c: &mut Core, key: Key) {
    if let Some(s) = sock(c, key) {
        if !s.in_pending_reads
            && s.phase == Phase::Open
            && (s.readable_ready || s.read_buffered_len > 0 || (s.eof && !s.end_emitted))
        {
            s.in_pending_reads = true;
            c.pending_reads.push_back(key);
        }
    }
}

/// Tears a socket down now: the descriptor is closed, queued writes are
/// failed, and `'error'` (if any) and `'close'` are queued.
pub(crate) fn destroy(c: &mut Core, key: Key, err: Option<Error>) {
    let Some(s) = sock(c, key) else { return };
    if s.destroyed {
        return;
    }
    #[cfg(feature = "tls")]
    let err = tls_path::on_destroy(c, key, err);
    let Some(s) = sock(c, key) else { return };
    let was_connecting = matches!(s.phase, Phase::Resolving | Phase::Connecting);
    // Node's TLS layer has taken every write of a connected TLS socket:
    // their callbacks report success even if the bytes never left.
    let tls_took_writes = s.layers & LAYER_TLS != 0 && !was_connecting;
    let handleless = s.handleless();
    s.destroyed = true;
    s.readable = false;
    s.writable = false;
    s.phase = Phase::Closed;
    s.wheel_deadline = 0;
    if let Some(q) = s.read_buffered.as_mut() {
        q.clear();
    }
    s.read_buffered_len = 0;
    s.has_buffered = false;
    let stream = s.stream.take();
    let reset = s.pending_reset;
    let writes = s.queue.discard();
    let end_cbs = std::mem::take(&mut s.end_cbs);
    // Node fails the callbacks of writes still in its stream's buffer with
    // the destroy's error (ERR_STREAM_DESTROYED without one); the write in
    // flight, which the kernel has partly taken, completes without one.
    let buffered_err = err.clone();
    if let Some(e) = err {
        s.error_history.push(e.clone());
        s.had_error = true;
        s.error = Some(Box::new(e));
    }
    let has_error = s.error.is_some() && s.had_error;
    let server = s.server;
    if let Some(mut stream) = stream {
        if reset {
            let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
        }
        let _ = c.poll.registry().deregister(&mut stream);
        drop(stream);
    }
    let write_err = if was_connecting {
        Error::new(
            ErrorCode::ERR_SOCKET_CLOSED_BEFORE_CONNECTION,
            "Socket closed before the connection was established",
        )
    } else {
        Error::destroyed("write")
    };
    // Node's TLS socket reports the error before the callbacks of the
    // writes it had taken; a TCP socket fails them first.
    if has_error && tls_took_writes {
        c.ticks.push_back(Tick::Socket(key, SocketTick::Error));
    }
    for (state, cb) in writes {
        let result = match state {
            _ if tls_took_writes => None,
            // In flight for Node: it completes without an error.
            Discarded::Started => None,
            // Node's first write waits for 'connect' outside the buffer:
            // it always gets ERR_SOCKET_CLOSED_BEFORE_CONNECTION.
            Discarded::Waiting { first: true } if was_connecting => Some(write_err.clone()),
            Discarded::Waiting { .. } => {
                Some(buffered_err.clone().unwrap_or_else(|| write_err.clone()))
            }
        };
        c.ticks.push_back(Tick::WriteDone(key, cb, result));
    }
    for cb in end_cbs {
        let e = buffered_err.clone().unwrap_or_else(|| write_err.clone());
        c.ticks.push_back(Tick::WriteDone(key, cb, Some(e)));
    }
    if has_error && !tls_took_writes {
        c.ticks.push_back(Tick::Socket(key, SocketTick::Error));
    }
    if let Some(server) = server {
        server::connection_gone(c, server);
    }
    if handleless {
        // Node: no handle to close, so 'close' comes on the next tick.
        c.ticks
            .push_back(Tick::Call(Box::new(move || emit_close(key))));
    } else {
        c.closing.push_back(key);
    }
}

/// A descriptor's readiness, dispatched by the poll phase.
pub(crate) fn on_ready(index: usize, event: &mio::event::Event) {
    let writable = event.is_writable() || event.is_write_closed() || event.is_error();
    let readable = event.is_readable() || event.is_read_closed() || event.is_error();
    // One borrow records the readiness and decides what to do; with nothing
    // to flush first, it also takes the first read of the burst.
    let state = with(|c| {
        let s = c.sockets.get_mut(index)?;
        let key = Key::new(index, s.generation);
        if s.phase != Phase::Open {
            return Some((key, s.phase, false, None));
        }
        if writable {
            s.writable_ready = true;
        }
        if readable {
            s.readable_ready = true;
            s.peer_closed |= event.is_read_closed() || event.is_error();
            // The 'data' listener's closure is needed after the recv: start
            // loading it now, so the miss overlaps the system call.
            s.listeners.prefetch(EV_DATA);
        }
        // Nothing queued means nothing to flush: a pending end() or
        // 'drain' only exists behind queued bytes.
        // A TLS socket may have handshake records or a ClientHello to send
        // with nothing queued (compiled out without the feature).
        let tls = cfg!(feature = "tls") && s.layers & LAYER_TLS != 0;
        let flush_now = writable && (!s.queue.is_empty() || tls);
        let first = (readable && !flush_now).then(|| read_path::first_step(c, key));
        Some((key, Phase::Open, flush_now, first))
    });
    let Some((key, phase, flush_now, first)) = state else {
        return;
    };
    match phase {
        Phase::Connecting => finish_connect(key, event),
        Phase::Open => {
            if let Some(first) = first {
                read_path::read_on(key, first);
                return;
            }
            if flush_now {
                flush(key);
            }
            if readable {
                read(key);
            }
        }
        _ => {}
    }
}

enum ConnectOutcome {
    Pending,
    Connected,
    Failed(io::Error),
}

fn finish_connect(key: Key, event: &mio::event::Event) {
    let outcome = with(|c| {
        let Some(s) = sock(c, key) else {
            return ConnectOutcome::Pending;
        };
        let Some(stream) = s.stream.as_ref() else {
            return ConnectOutcome::Pending;
        };
        match stream.take_error() {
            Ok(Some(e)) | Err(e) => return ConnectOutcome::Failed(e),
            Ok(None) => {}
        }
        let Some(stream) = stream.tcp() else {
            // A Unix connect has no addresses to learn; a writable edge
            // with no error means it is up.
            return if event.is_writable() {
                ConnectOutcome::Connected
            } else if event.is_error() || event.is_write_closed() {
                ConnectOutcome::Failed(io::Error::from(io::ErrorKind::ConnectionRefused))
            } else {
                ConnectOutcome::Pending
            };
        };
        match stream.peer_addr() {
            Ok(addr) => {
                s.remote = Some(addr);
                s.local = stream.local_addr().ok();
                ConnectOutcome::Connected
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                if event.is_error() || event.is_write_closed() {
                    ConnectOutcome::Failed(io::Error::from(io::ErrorKind::ConnectionRefused))
                } else {
                    ConnectOutcome::Pending
                }
            }
            Err(e) => ConnectOutcome::Failed(e),
        }
    });
    match outcome {
        ConnectOutcome::Pending => {}
        ConnectOutcome::Failed(e) => with(|c| {
            if sock(c, key).is_some_and(|s| s.connect.is_some()) {
                connect::attempt_failed(c, key, e);
            } else {
                connect_path::pipe_connect_failed(c, key, e);
            }
        }),
        ConnectOutcome::Connected => connected(key, event),
    }
}

/// The TCP options a socket asked for, applied once it has a connection
/// (nothing for a Unix socket: Node's `setNoDelay` and `setKeepAlive` are
/// no-ops on a pipe).
fn apply_socket_options(s: &SocketState) {
    let Some(stream) = s.stream.as_ref().and_then(Stream::tcp) else {
        return;
    };
    if s.no_delay {
        let _ = stream.set_nodelay(true);
    }
    if s.keep_alive {
        transport::tcp::set_keep_alive(stream, &s.keep_alive_params());
    }
    if let Some(tos) = s.tos {
        transport::tcp::set_type_of_service(stream, tos);
    }
}

fn connected(key: Key, event: &mio::event::Event) {
    let reset = with(|c| {
        connect::connected(c, key);
        let now = c.now_ms;
        let Core { sockets, wheel, .. } = c;
        let Some(s) = sockets
            .get_mut(key.index())
            .filter(|s| s.generation == key.generation)
        else {
            return false;
        };
        s.phase = Phase::Open;
        s.readable = true;
        s.writable_ready = true;
        s.readable_ready = event.is_readable() || event.is_read_closed();
        s.peer_closed = event.is_read_closed();
        s.read_held = s.flowing == Some(false);
        apply_socket_options(s);
        touch(wheel, now, key, s);
        s.pending_reset
    });
    if reset {
        with(|c| destroy(c, key, None));
        return;
    }
    emit(key, EV_CONNECT, &Payload::Unit);
    emit(key, EV_READY, &Payload::Unit);
    // What was queued while connecting goes out now; a batch written in
    // 'connect' waits for its own tick, behind the callbacks of the write
    // before it.
    if !with(|c| batching(c, key)) {
        flush(key);
    }
    // As Node: ticks queued in 'connect' run before the first 'data'. After
    // a panic the rest of them wait for the next run, and so does the read.
    if crate::event_loop::drain_ticks() {
        read(key);
    } else {
        with(|c| schedule_read(c, key));
    }
}

/// Runs a socket's deferred work.
pub(crate) fn run_tick(key: Key, tick: SocketTick) {
    match tick {
        SocketTick::Error => {
            let err = with(|c| sock(c, key).and_then(|s| s.error.as_deref().cloned()));
            if let Some(err) = err {
                if !emit(key, EV_ERROR, &Payload::Error(&err)) {
                    crate::uncaught::report(err, crate::ErrorOrigin::Socket(Socket::from_key(key)));
                }
            }
        }
        SocketTick::End => {
            let go = with(|c| {
                let s = sock(c, key)?;
                if s.destroyed || s.end_emitted {
                    return None;
                }
                s.end_emitted = true;
                s.readable = false;
                Some(())
            });
            if go.is_none() {
                return;
            }
            // Bytes of an unfinished character go out (as U+FFFD) first.
            let rest = with(|c| sock(c, key).and_then(|s| s.decoder.as_mut()?.finish()));
            if let Some(piece) = rest {
                emit(key, EV_DATA, &Payload::Text(&piece.bytes, &piece.text()));
            }
            emit(key, EV_END, &Payload::Unit);
            with(|c| {
                let Some(s) = sock(c, key) else { return };
                if s.destroyed {
                    return;
                }
                if s.shutdown && !s.ending {
                    destroy(c, key, None);
                } else if s.shutdown {
                    // Shutdown done, 'finish' still queued: it destroys.
                } else if !s.allow_half_open && s.writable {
                    c.ticks.push_back(Tick::Socket(key, SocketTick::AutoEnd));
                }
            });
        }
        SocketTick::AutoEnd => with(|c| {
            if let Some(s) = sock(c, key) {
                if s.writable && !s.destroyed {
                    end_socket(c, key, None);
                }
            }
        }),
        SocketTick::Finish => {
            let cbs = with(|c| {
                let s = sock(c, key)?;
                if s.destroyed {
                    return None;
                }
                s.ending = false;
                Some(std::mem::take(&mut s.end_cbs))
            });
            let Some(cbs) = cbs else { return };
            let socket = Socket::from_key(key);
            for cb in cbs {
                crate::event_loop::catch(|| cb(&socket, None));
            }
            with(|c| {
                if let Some(s) = sock(c, key) {
                    s.finish_emitted = true;
                }
            });
            emit(key, EV_FINISH, &Payload::Unit);
            with(|c| {
                if let Some(s) = sock(c, key) {
                    if !s.destroyed && (s.end_emitted || s.destroy_soon) {
                        destroy(c, key, None);
                    }
                }
            });
        }
        SocketTick::Flushed => after_flush(key),
        #[cfg(feature = "tls")]
        SocketTick::Flush if with(|c| sock(c, key).is_some_and(|s| s.layers & LAYER_TLS != 0)) => {
            tls_path::flush_tick(key)
        }
        SocketTick::Flush => write_path::flush_tick(key),
        SocketTick::Attempt(event, attempt) => {
            emit(key, event, &Payload::Attempt(&attempt));
        }
    }
}

pub(crate) fn run_write_cb(key: Key, cb: WriteCb, err: Option<Error>) {
    crate::event_loop::catch(|| cb(&Socket::from_key(key), err.as_ref()));
}

/// Whether a wheel entry means the socket timed out; re-files it otherwise.
pub(crate) fn check_timeout(c: &mut Core, key: Key, deadline: u64) -> bool {
    let now = c.now_ms;
    let Core { sockets, wheel, .. } = c;
    let Some(s) = sockets
        .get_mut(key.index())
        .filter(|s| s.generation == key.generation)
    else {
        return false;
    };
    if s.destroyed || s.timeout_ms == 0 || s.wheel_deadline != deadline {
        return false;
    }
    let due = s.last_active.saturating_add(s.timeout_ms);
    if due <= now {
        s.wheel_deadline = 0;
        s.last_active = TIMEOUT_PARKED;
        true
    } else {
        s.wheel_deadline = due;
        wheel.insert(key, due);
        false
    }
}

pub(crate) fn emit_timeout(key: Key) {
    emit(key, EV_TIMEOUT, &Payload::Unit);
}

/// The close phase: `'close'`, then the slot is freed and the listeners
/// dropped (outside the borrow, as their captures may run any `Drop`).
pub(crate) fn emit_close(key: Key) {
    let had_error = with(|c| {
        sock(c, key).map(|s| {
            s.close_emitted = true;
            // Node passes no argument (undefined) for a handle-less socket.
            s.had_error && !s.handleless()
        })
    });
    let Some(had_error) = had_error else { return };
    emit(key, EV_CLOSE, &Payload::HadError(had_error));
    let state = with(|c| {
        if sock(c, key).is_some() {
            let mut state = c.sockets.remove(key.index());
            let ticks_left = state.queue.discard();
            Some((state, ticks_left))
        } else {
            None
        }
    });
    drop(state);
}

/// Creates the state of a socket a server accepted, registered and open.
pub(crate) fn adopt(
    c: &mut Core,
    mut stream: Stream,
    remote: Option<SocketAddr>,
    server: Key,
    options: &SocketOptions,
    paused: bool,
) -> io::Result<Key> {
    let generation = c.new_generation();
    let entry = c.sockets.vacant_entry();
    let key = Key::new(entry.key(), generation);
    c.poll.registry().register(
        &mut stream,
        Token(key.index()),
        Interest::READABLE | Interest::WRITABLE,
    )?;
    let mut s = SocketState::new(generation, options);
    s.phase = Phase::Open;
    s.readable = true;
    s.writable_ready = true;
    s.readable_ready = false;
    s.remote = remote;
    s.local = stream.tcp().and_then(|t| t.local_addr().ok());
    s.server = Some(server);
    s.last_active = c.now_ms;
    if paused {
        s.flowing = Some(false);
        s.read_held = true;
    }
    s.stream = Some(stream);
    apply_socket_options(&s);
    entry.insert(s);
    Ok(key)
}

#[cfg(test)]
mod tests {
    /// Every connection pays for its state inline in the slab: keep the
    /// idle footprint (issue 5: at most 1 KiB per idle connection with a
    /// timeout, listeners included; 0.8 KiB measured by perf's compare)
    /// from creeping up unnoticed. Eight cache lines.
    #[test]
    fn socket_state_stays_small() {
        let size = std::mem::size_of::<super::SocketState>();
        assert!(size <= 512, "SocketState grew to {size} bytes");
    }

    /// The fields an echoed message touches stay on the first two cache
    /// lines (see the layout note on `SocketState`).
    #[test]
    fn hot_fields_share_the_first_two_cache_lines() {
        use std::mem::{align_of, offset_of, size_of};
        type S = super::SocketState;
        assert_eq!(align_of::<S>(), 64);
        // mio's sources carry a registry id in debug builds, which shifts
        // everything after line 0's flags; in release builds (`cargo test
        // --release --lib`) the flags take exactly 32 bytes.
        let extra = offset_of!(S, bytes_read) - 32;
        if !cfg!(debug_assertions) {
            assert_eq!(extra, 0, "line 0's flags grew past 32 bytes");
        }
        for (name, end) in [
            ("flags", offset_of!(S, has_buffered) + 1),
            ("bytes_read", offset_of!(S, bytes_read) + 8),
            ("last_active", offset_of!(S, last_active) + 8),
            // The listener masks and the inline first listener.
            ("listeners", offset_of!(S, listeners) + 8 + 24),
            // The queue's three counters (`WriteQueue` is repr(C)).
            ("queue counters", offset_of!(S, queue) + 24),
        ] {
            assert!(end <= 128 + extra, "{name} ends at byte {end}, past line 1");
        }
        assert!(offset_of!(S, last_active) + 8 <= 64 + extra);
        assert_eq!(size_of::<crate::emitter::Listeners<crate::Socket>>(), 56);
    }
}
