//! `Socket`: a TCP connection's handle, and the state machine behind it.
//!
//! A socket moves `Fresh → (Resolving →) Connecting → Open → Closed`, or is
//! born `Open` when a server accepts it. While open, its two directions close
//! independently: our `end()` shuts the write side once the queue is flushed
//! (`'finish'`); the peer's FIN ends the read side once buffered data is
//! consumed (`'end'`). When both are done the socket destroys itself.
//! `destroy()` closes the descriptor at once; `'close'` follows in the loop's
//! close phase, after which the slot is freed and the listeners dropped.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, IoSlice, Write};
use std::marker::PhantomData;
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use mio::net::TcpStream;
use mio::{Interest, Token};

use crate::emitter::{self, EventSpec, ListenerHost, Listeners, Payload, Shape};
use crate::error::{Error, ErrorCode};
use crate::event_loop::{with, Core, Tick, READ_CAP_PER_TURN};
use crate::handle::Key;
use crate::tcp::connect::{self, Attempts, Plan};
use crate::tcp::server;
use crate::tcp::{ConnectionAttempt, SocketOptions, WriteData};
use crate::text::{Encoding, TextDecoder};
use crate::timer::wheel::Wheel;
use crate::write_queue::{WriteQueue, MAX_IOVECS};

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
];

/// Where a socket is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

/// Everything the loop knows about one socket.
pub(crate) struct SocketState {
    pub(crate) generation: u32,
    pub(crate) phase: Phase,
    pub(crate) stream: Option<TcpStream>,
    pub(crate) listeners: Listeners<Socket>,
    queue: WriteQueue<WriteCb>,
    end_cbs: Vec<WriteCb>,
    read_buffered: VecDeque<Bytes>,
    read_buffered_len: usize,
    pub(crate) server: Option<Key>,
    remote: Option<SocketAddr>,
    local: Option<SocketAddr>,
    /// Boxed: errors are rare, and inline the 120-byte `Error` would
    /// widen every socket's state.
    error: Option<Box<Error>>,
    /// A client socket's addresses and attempts.
    pub(crate) connect: Option<Box<Attempts>>,
    bytes_read: u64,
    read_hwm: usize,
    write_hwm: usize,
    timeout_ms: u64,
    last_active: u64,
    wheel_deadline: u64,
    keep_alive_delay_s: u64,
    flowing: Option<bool>,
    readable: bool,
    writable: bool,
    ending: bool,
    shutdown: bool,
    eof: bool,
    end_queued: bool,
    end_emitted: bool,
    allow_half_open: bool,
    readable_ready: bool,
    /// The last readiness event said the peer shut its side (EPOLLRDHUP):
    /// a short read does not mean drained, as the FIN is still to be read.
    peer_closed: bool,
    writable_ready: bool,
    pub(crate) destroyed: bool,
    had_error: bool,
    refd: bool,
    need_drain: bool,
    auto_ended: bool,
    pending_reset: bool,
    timeout_parked: bool,
    in_pending_reads: bool,
    /// Paused when the connection came up (`pause_on_connect`, or
    /// `pause()` while connecting): nothing is read until `resume()`, as
    /// Node never starts reading such a socket.
    read_held: bool,
    no_delay: bool,
    keep_alive: bool,
    /// Keep-alive probe interval (seconds) and count; 0 keeps Node 20's
    /// fixed 1 s and 10.
    keep_alive_interval_s: u32,
    keep_alive_count: u32,
    /// IP type of service / IPv6 traffic class, applied once connected.
    tos: Option<u8>,
    /// `cork()` depth: while above 0, writes queue instead of going out.
    corked: u32,
    /// Every error this socket met, in order (failed attempts, then the
    /// one it was destroyed with).
    pub(crate) error_history: Vec<Error>,
    /// `set_encoding()`: 'data' carries whole characters.
    decoder: Option<Box<TextDecoder>>,
    /// `destroy_soon()`: destroy once `'finish'` has been emitted.
    destroy_soon: bool,
    finish_emitted: bool,
    close_emitted: bool,
}

impl SocketState {
    pub(crate) fn new(generation: u32, options: &SocketOptions) -> SocketState {
        SocketState {
            generation,
            phase: Phase::Fresh,
            stream: None,
            listeners: Listeners::default(),
            queue: WriteQueue::default(),
            end_cbs: Vec::new(),
            read_buffered: VecDeque::new(),
            read_buffered_len: 0,
            server: None,
            remote: None,
            local: None,
            error: None,
            connect: None,
            bytes_read: 0,
            read_hwm: options
                .readable_high_water_mark
                .or(options.high_water_mark)
                .unwrap_or(DEFAULT_HIGH_WATER_MARK),
            write_hwm: options
                .writable_high_water_mark
                .or(options.high_water_mark)
                .unwrap_or(DEFAULT_HIGH_WATER_MARK),
            timeout_ms: 0,
            last_active: 0,
            wheel_deadline: 0,
            keep_alive_delay_s: options.keep_alive_initial_delay / 1000,
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
            auto_ended: false,
            pending_reset: false,
            timeout_parked: false,
            in_pending_reads: false,
            read_held: false,
            no_delay: options.no_delay,
            keep_alive: options.keep_alive,
            keep_alive_interval_s: 0,
            keep_alive_count: 0,
            tos: None,
            corked: 0,
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
        self.connect.is_none() && self.server.is_none()
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
/// no-ops (writes return `false`) and [`is_destroyed`](Socket::is_destroyed)
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
fn touch(wheel: &mut Wheel<Key>, now: u64, key: Key, s: &mut SocketState) {
    s.last_active = now;
    if s.timeout_parked && s.timeout_ms > 0 {
        s.timeout_parked = false;
        s.wheel_deadline = now + s.timeout_ms;
        wheel.insert(key, s.wheel_deadline);
    }
}

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
                        s.decoder = Some(Box::new(TextDecoder::new(Encoding::Utf8)));
                    }
                    if s.flowing.is_none() {
                        s.flowing = Some(true);
                        schedule_read(c, self.key);
                    }
                }
            });
        }
    }
}

crate::emitter::emitter_methods!(Socket);

/// Emits a socket event to a snapshot of its listeners.
pub(crate) fn emit(key: Key, event: u8, payload: &Payload<'_>) -> bool {
    let socket = Socket::from_key(key);
    let snapshot = with(|c| sock_ref(c, key).map(|s| s.listeners.snapshot(event)));
    match snapshot {
        Some(snap) if !snap.is_empty() => emitter::call(&socket, snap, payload),
        _ => false,
    }
}

/// Queues a read this turn, for a socket that may have data without a new
/// readiness event (resumed, data listener added, cap reached).
fn schedule_read(c: &mut Core, key: Key) {
    if let Some(s) = sock(c, key) {
        if !s.in_pending_reads
            && s.phase == Phase::Open
            && (s.readable_ready || !s.read_buffered.is_empty() || (s.eof && !s.end_emitted))
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
    let was_connecting = matches!(s.phase, Phase::Resolving | Phase::Connecting);
    let handleless = s.handleless();
    s.destroyed = true;
    s.readable = false;
    s.writable = false;
    s.phase = Phase::Closed;
    s.wheel_deadline = 0;
    s.read_buffered.clear();
    s.read_buffered_len = 0;
    let stream = s.stream.take();
    let reset = s.pending_reset;
    let mut failed: Vec<WriteCb> = s.queue.discard().into_iter().map(|(_, cb)| cb).collect();
    failed.append(&mut s.end_cbs);
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
            ErrorCode::ErrSocketClosedBeforeConnection,
            "Socket closed before the connection was established",
        )
    } else {
        Error::destroyed("write")
    };
    for cb in failed {
        c.ticks
            .push_back(Tick::WriteDone(key, cb, Some(write_err.clone())));
    }
    if has_error {
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
        c.closing.push(key);
    }
}

/// A descriptor's readiness, dispatched by the poll phase.
pub(crate) fn on_ready(index: usize, event: &mio::event::Event) {
    let writable = event.is_writable() || event.is_write_closed() || event.is_error();
    let readable = event.is_readable() || event.is_read_closed() || event.is_error();
    // One borrow records the readiness and decides what to do.
    let state = with(|c| {
        let s = c.sockets.get_mut(index)?;
        let key = Key::new(index, s.generation);
        if s.phase != Phase::Open {
            return Some((key, s.phase, false));
        }
        if writable {
            s.writable_ready = true;
        }
        if readable {
            s.readable_ready = true;
            s.peer_closed |= event.is_read_closed() || event.is_error();
        }
        // Nothing queued means nothing to flush: a pending end() or
        // 'drain' only exists behind queued bytes.
        Some((key, s.phase, writable && !s.queue.is_empty()))
    });
    let Some((key, phase, flush_now)) = state else {
        return;
    };
    match phase {
        Phase::Connecting => finish_connect(key, event),
        Phase::Open => {
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
        ConnectOutcome::Failed(e) => with(|c| connect::attempt_failed(c, key, e)),
        ConnectOutcome::Connected => connected(key, event),
    }
}

fn apply_socket_options(s: &SocketState) {
    let Some(stream) = s.stream.as_ref() else {
        return;
    };
    if s.no_delay {
        let _ = stream.set_nodelay(true);
    }
    if s.keep_alive {
        set_keep_alive_on(stream, s);
    }
    if let Some(tos) = s.tos {
        set_tos_on(stream, tos);
    }
}

fn set_keep_alive_on(stream: &TcpStream, s: &SocketState) {
    let sock = socket2::SockRef::from(stream);
    if !s.keep_alive {
        let _ = sock.set_keepalive(false);
        return;
    }
    let interval = if s.keep_alive_interval_s > 0 {
        s.keep_alive_interval_s
    } else {
        1
    };
    let mut ka = socket2::TcpKeepalive::new().with_interval(Duration::from_secs(interval.into()));
    if s.keep_alive_delay_s > 0 {
        ka = ka.with_time(Duration::from_secs(s.keep_alive_delay_s));
    }
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    {
        let count = if s.keep_alive_count > 0 {
            s.keep_alive_count
        } else {
            10
        };
        ka = ka.with_retries(count);
    }
    let _ = sock.set_tcp_keepalive(&ka);
    let _ = sock.set_keepalive(true);
}

fn set_tos_on(stream: &TcpStream, tos: u8) {
    let sock = socket2::SockRef::from(stream);
    match stream.local_addr() {
        Ok(a) if a.is_ipv6() => {
            let _ = sock.set_tclass_v6(tos.into());
        }
        _ => {
            let _ = sock.set_tos(tos.into());
        }
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
    flush(key);
    // As Node: ticks queued in 'connect' run before the first 'data'.
    crate::event_loop::drain_ticks();
    read(key);
}

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
    if flowing {
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
fn read(key: Key) {
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

/// Writes queued bytes until the queue is empty or the kernel is full.
fn flush_step(c: &mut Core, key: Key) {
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
    let mut failure = None;
    while !s.queue.is_empty() && s.writable_ready {
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
fn flush(key: Key) {
    with(|c| flush_step(c, key));
    after_flush(key);
}

/// The user-visible half of a flush, run from the loop (never inside an
/// API call): `'drain'`, write callbacks, then a pending shutdown.
fn after_flush(key: Key) {
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
        cb(&socket, None);
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
fn end_socket(c: &mut Core, key: Key, cb: Option<WriteCb>) {
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
        } else if s.phase == Phase::Open && s.corked > 0 {
            // end() uncorks: what was held goes out, then the FIN.
            s.corked = 0;
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

/// Runs a socket's deferred work.
pub(crate) fn run_tick(key: Key, tick: SocketTick) {
    match tick {
        SocketTick::Error => {
            let err = with(|c| sock(c, key).and_then(|s| s.error.as_deref().cloned()));
            if let Some(err) = err {
                if !emit(key, EV_ERROR, &Payload::Error(&err)) {
                    with(|c| c.unhandled_error(err));
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
                    s.auto_ended = true;
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
                cb(&socket, None);
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
        SocketTick::Attempt(event, attempt) => {
            emit(key, event, &Payload::Attempt(&attempt));
        }
    }
}

pub(crate) fn run_write_cb(key: Key, cb: WriteCb, err: Option<Error>) {
    cb(&Socket::from_key(key), err.as_ref());
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
    let due = s.last_active + s.timeout_ms;
    if due <= now {
        s.wheel_deadline = 0;
        s.timeout_parked = true;
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
    mut stream: TcpStream,
    remote: SocketAddr,
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
    s.remote = Some(remote);
    s.local = stream.local_addr().ok();
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

impl Socket {
    pub(crate) fn from_key(key: Key) -> Socket {
        Socket {
            key,
            _thread: PhantomData,
        }
    }

    /// A socket that is not connected yet; call [`connect`](Socket::connect).
    ///
    /// # Examples
    ///
    /// ```
    /// use nodenet::{Socket, SocketOptions};
    /// let s = Socket::new(SocketOptions::default());
    /// assert!(s.pending());
    /// assert!(!s.connecting());
    /// s.destroy();
    /// ```
    pub fn new(options: SocketOptions) -> Socket {
        with(|c| {
            let generation = c.new_generation();
            let index = c.sockets.insert(SocketState::new(generation, &options));
            Socket::from_key(Key::new(index, generation))
        })
    }

    /// Connects to `host:port`. An IP literal is connected at once; a host
    /// name is resolved off the loop thread first (`'lookup'`).
    ///
    /// # Errors
    ///
    /// `ERR_SOCKET_BAD_PORT` for a port outside 0..=65535 (or 0, which no
    /// server listens on); `ERR_SOCKET_CLOSED` if the socket was destroyed;
    /// `ERR_INVALID_ARG_VALUE` if it is already connecting or connected.
    /// Connection failures arrive later as `'error'`.
    pub fn connect(&self, port: impl crate::tcp::IntoPort, host: &str) -> Result<Socket, Error> {
        let port = crate::tcp::connect_port(port)?;
        self.connect_plan(Plan::new(port, host))
    }

    pub(crate) fn connect_plan(&self, mut plan: Plan) -> Result<Socket, Error> {
        let key = self.key;
        if plan.host.is_empty() {
            plan.host = "localhost".to_string();
        }
        let to_resolve = with(|c| -> Result<Option<Plan>, Error> {
            let now = c.now_ms;
            let s = sock(c, key)
                .ok_or_else(|| Error::new(ErrorCode::ErrSocketClosed, "Socket is closed"))?;
            if s.destroyed {
                return Err(Error::new(ErrorCode::ErrSocketClosed, "Socket is closed"));
            }
            if s.phase != Phase::Fresh {
                return Err(Error::new(
                    ErrorCode::ErrInvalidArgValue,
                    "the socket is already connecting or connected",
                ));
            }
            s.last_active = now;
            Ok(connect::start(c, key, plan))
        })?;
        if let Some(plan) = to_resolve {
            connect::resolve(key, plan);
        }
        Ok(*self)
    }

    fn get<R>(&self, default: R, f: impl FnOnce(&SocketState) -> R) -> R {
        with(|c| sock_ref(c, self.key).map_or(default, f))
    }

    /// A stable identifier, unique among this loop's handles (Starcounter's
    /// `ToUInt64()`).
    pub fn id(&self) -> u64 {
        self.key.id()
    }

    /// Queues `data` for sending; writes straight to the kernel when nothing
    /// is queued. Returns `writable_length() < high_water_mark`: `false`
    /// asks the producer to wait for `'drain'`.
    ///
    /// After `end()` this fails the socket with `ERR_STREAM_WRITE_AFTER_END`
    /// (`'error'`, then `'close'`); after `destroy()` it returns `false` and
    /// does nothing. Bytes written before the connection is up are sent, in
    /// order, once it is.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use nodenet::{Bytes, Socket};
    /// # fn f(socket: Socket, chunk: Bytes) {
    /// if !socket.write(chunk) {
    ///     socket.pause();
    ///     socket.once("drain", |s: &Socket| { s.resume(); });
    /// }
    /// # }
    /// ```
    pub fn write(&self, data: impl WriteData) -> bool {
        self.write_inner(data, None)
    }

    /// [`write`](Socket::write), calling `cb` once the bytes reach the
    /// kernel (`None`) or fail (`Some(err)`), always on a later turn.
    pub fn write_cb(
        &self,
        data: impl WriteData,
        cb: impl FnOnce(&Socket, Option<&Error>) + 'static,
    ) -> bool {
        self.write_inner(data, Some(Box::new(cb)))
    }

    fn write_inner(&self, data: impl WriteData, cb: Option<WriteCb>) -> bool {
        let key = self.key;
        with(|c| write(c, key, data, cb))
    }

    /// Half-closes: sends what is queued, then FIN (`'finish'`). Reading
    /// goes on until the peer ends too.
    pub fn end(&self) -> Socket {
        with(|c| end_socket(c, self.key, None));
        *self
    }

    /// `write(data)`, then [`end`](Socket::end).
    pub fn end_with(&self, data: impl WriteData) -> Socket {
        self.write(data);
        self.end()
    }

    /// [`end`](Socket::end), calling `cb` when our side has finished
    /// (before `'finish'` listeners), or with the error.
    pub fn end_cb(&self, cb: impl FnOnce(&Socket, Option<&Error>) + 'static) -> Socket {
        with(|c| end_socket(c, self.key, Some(Box::new(cb))));
        *self
    }

    /// Closes the connection now. Queued writes are dropped (their
    /// callbacks get `ERR_STREAM_DESTROYED`); `'close'(false)` follows on a
    /// later turn. Idempotent; harmless on a stale handle.
    pub fn destroy(&self) -> Socket {
        with(|c| destroy(c, self.key, None));
        *self
    }

    /// [`destroy`](Socket::destroy) with an error: `'error'(err)` on the
    /// next tick, then `'close'(true)`. Only the first error is reported.
    pub fn destroy_with(&self, err: Error) -> Socket {
        with(|c| destroy(c, self.key, Some(err)));
        *self
    }

    /// Closes with a TCP RST instead of FIN (the peer sees `ECONNRESET`).
    /// While connecting, the reset waits for the connection.
    pub fn reset_and_destroy(&self) -> Socket {
        with(|c| {
            let Some(s) = sock(c, self.key) else { return };
            match s.phase {
                Phase::Fresh => destroy(
                    c,
                    self.key,
                    Some(Error::new(ErrorCode::ErrSocketClosed, "Socket is closed")),
                ),
                Phase::Resolving | Phase::Connecting => s.pending_reset = true,
                Phase::Open => {
                    s.pending_reset = true;
                    destroy(c, self.key, None);
                }
                Phase::Closed => {}
            }
        });
        *self
    }

    /// Stops `'data'`. Reading stops once the buffered bytes reach the
    /// high-water mark, so the kernel's window pushes back on the peer.
    pub fn pause(&self) -> Socket {
        with(|c| {
            if let Some(s) = sock(c, self.key) {
                s.flowing = Some(false);
            }
        });
        *self
    }

    /// Restarts `'data'`, first with what is already buffered or readable
    /// (on a later turn, never inside this call).
    pub fn resume(&self) -> Socket {
        with(|c| {
            if let Some(s) = sock(c, self.key) {
                s.flowing = Some(true);
                s.read_held = false;
                schedule_read(c, self.key);
            }
        });
        *self
    }

    /// Whether [`pause`](Socket::pause) is in force.
    pub fn is_paused(&self) -> bool {
        self.get(false, |s| s.flowing == Some(false))
    }

    /// Routes this socket's events to the methods of `handler`, which owns
    /// the connection's state (see [`Handler`](crate::Handler)). Listeners
    /// added with `on` keep working beside it.
    pub fn set_handler(&self, handler: impl crate::Handler) -> Socket {
        crate::handler::attach(self, handler);
        *self
    }

    /// Decodes received bytes as `encoding` text: `'data'` listeners that
    /// take `&str` get whole characters, never half of one split across
    /// reads (`&Bytes` listeners get the same bytes, cut at character
    /// boundaries). A `&str` listener on a socket with no encoding set
    /// turns on UTF-8.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use nodenet::{Encoding, Socket};
    /// # fn f(s: Socket) {
    /// s.set_encoding(Encoding::Utf8)
    ///     .on("data", |_: &Socket, text: &str| println!("{text}"));
    /// # }
    /// ```
    pub fn set_encoding(&self, encoding: Encoding) -> Socket {
        with(|c| {
            if let Some(s) = sock(c, self.key) {
                if s.decoder.as_ref().map(|d| d.encoding()) != Some(encoding) {
                    s.decoder = Some(Box::new(TextDecoder::new(encoding)));
                }
            }
        });
        *self
    }

    /// The encoding set by [`set_encoding`](Socket::set_encoding).
    pub fn encoding(&self) -> Option<Encoding> {
        self.get(None, |s| s.decoder.as_ref().map(|d| d.encoding()))
    }

    /// Holds writes in the queue until the matching
    /// [`uncork`](Socket::uncork), so that many small writes leave in one
    /// `writev`. Calls nest.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(s: nodenet::Socket) {
    /// s.cork();
    /// s.write("HTTP/1.1 200 OK\r\n");
    /// s.write("content-length: 2\r\n\r\nok");
    /// s.uncork(); // both leave in one system call
    /// # }
    /// ```
    pub fn cork(&self) -> Socket {
        with(|c| {
            if let Some(s) = sock(c, self.key) {
                s.corked += 1;
            }
        });
        *self
    }

    /// Undoes one [`cork`](Socket::cork); the last one flushes what was
    /// held (write callbacks and `'drain'` follow on a later turn).
    pub fn uncork(&self) -> Socket {
        let key = self.key;
        with(|c| {
            let Some(s) = sock(c, key) else { return };
            if s.corked == 0 {
                return;
            }
            s.corked -= 1;
            if s.corked == 0 && s.phase == Phase::Open && !s.queue.is_empty() {
                flush_step(c, key);
                c.ticks.push_back(Tick::Socket(key, SocketTick::Flushed));
            }
        });
        *self
    }

    /// `cork()` depth (Node's `writableCorked`).
    pub fn writable_corked(&self) -> u32 {
        self.get(0, |s| s.corked)
    }

    /// Ends our side, then destroys the socket once `'finish'` has been
    /// emitted (at once if it already has). Queued writes are sent first.
    pub fn destroy_soon(&self) {
        let key = self.key;
        with(|c| {
            let Some(s) = sock(c, key) else { return };
            if s.destroyed {
                return;
            }
            s.destroy_soon = true;
            if s.phase == Phase::Fresh || s.finish_emitted {
                destroy(c, key, None);
            } else if s.writable {
                end_socket(c, key, None);
            }
        });
    }

    /// Emits `'timeout'` after `ms` of inactivity (no read, no write).
    ///
    /// Inactivity timeouts are second-granular: `ms` is rounded to the
    /// nearest whole second, at least one; `0` disables. `'timeout'` only
    /// notifies, once per idle period: the listener decides (usually
    /// `destroy()` or `end()`). The timer does not keep the loop alive.
    pub fn set_timeout(&self, ms: u64) -> Socket {
        with(|c| {
            let now = c.now_ms;
            let Core { sockets, wheel, .. } = c;
            let Some(s) = sockets
                .get_mut(self.key.index())
                .filter(|s| s.generation == self.key.generation)
            else {
                return;
            };
            if s.destroyed {
                return;
            }
            s.timeout_parked = false;
            if ms == 0 {
                s.timeout_ms = 0;
                s.wheel_deadline = 0;
                return;
            }
            s.timeout_ms = round_timeout(ms);
            s.last_active = now;
            let deadline = now + s.timeout_ms;
            if s.wheel_deadline == 0 || deadline < s.wheel_deadline {
                s.wheel_deadline = deadline;
                wheel.insert(self.key, deadline);
            }
        });
        *self
    }

    /// [`set_timeout`](Socket::set_timeout) plus `cb` as a once `'timeout'`
    /// listener (not added when `ms` is 0 or the socket is destroyed).
    pub fn set_timeout_cb<A, F: emitter::Listener<Socket, A>>(&self, ms: u64, cb: F) -> Socket {
        self.set_timeout(ms);
        if ms > 0 && !self.is_destroyed() {
            self.once("timeout", cb);
        }
        *self
    }

    /// The inactivity timeout in force, after rounding (`None` when off).
    pub fn timeout(&self) -> Option<Duration> {
        self.get(None, |s| {
            (s.timeout_ms > 0).then(|| Duration::from_millis(s.timeout_ms))
        })
    }

    /// Turns Nagle's algorithm off (`true`) or on; remembered until
    /// connected.
    pub fn set_no_delay(&self, no_delay: bool) -> Socket {
        with(|c| {
            if let Some(s) = sock(c, self.key) {
                if s.no_delay != no_delay {
                    s.no_delay = no_delay;
                    if let Some(stream) = s.stream.as_ref().filter(|_| s.phase == Phase::Open) {
                        let _ = stream.set_nodelay(no_delay);
                    }
                }
            }
        });
        *self
    }

    /// Enables TCP keep-alive probes after `initial_delay_ms` idle (floored
    /// to seconds; 0 keeps the system default); remembered until connected.
    pub fn set_keep_alive(&self, enable: bool, initial_delay_ms: u64) -> Socket {
        self.set_keep_alive_probes(enable, initial_delay_ms, 0, 0)
    }

    /// [`set_keep_alive`](Socket::set_keep_alive) with the probe interval
    /// (ms, floored to seconds) and count (Node 26's
    /// `setKeepAlive(enable, initialDelay, interval, count)`); 0 keeps
    /// Node 20's fixed 1 s and 10 probes.
    pub fn set_keep_alive_probes(
        &self,
        enable: bool,
        initial_delay_ms: u64,
        interval_ms: u64,
        count: u32,
    ) -> Socket {
        with(|c| {
            if let Some(s) = sock(c, self.key) {
                let delay = initial_delay_ms / 1000;
                let interval = u32::try_from(interval_ms / 1000).unwrap_or(u32::MAX);
                let changed = s.keep_alive != enable
                    || (enable
                        && (s.keep_alive_delay_s != delay
                            || s.keep_alive_interval_s != interval
                            || s.keep_alive_count != count));
                if changed {
                    s.keep_alive = enable;
                    s.keep_alive_delay_s = delay;
                    s.keep_alive_interval_s = interval;
                    s.keep_alive_count = count;
                    if let Some(stream) = s.stream.as_ref().filter(|_| s.phase == Phase::Open) {
                        set_keep_alive_on(stream, s);
                    }
                }
            }
        });
        *self
    }

    /// Sets the IP type of service (IPv6: traffic class), 0..=255; cached
    /// until connected (Node's `setTypeOfService`).
    pub fn set_type_of_service(&self, tos: u8) -> Socket {
        with(|c| {
            if let Some(s) = sock(c, self.key) {
                s.tos = Some(tos);
                if let Some(stream) = s.stream.as_ref().filter(|_| s.phase == Phase::Open) {
                    set_tos_on(stream, tos);
                }
            }
        });
        *self
    }

    /// The IP type of service in force (Node's `getTypeOfService`): read
    /// from the connection when there is one, else the cached value.
    pub fn type_of_service(&self) -> u8 {
        self.get(0, |s| {
            let from_socket = s
                .stream
                .as_ref()
                .filter(|_| s.phase == Phase::Open)
                .and_then(|st| {
                    let sock = socket2::SockRef::from(st);
                    let v = match st.local_addr() {
                        Ok(a) if a.is_ipv6() => sock.tclass_v6(),
                        _ => sock.tos(),
                    };
                    v.ok().map(|v| v as u8)
                });
            from_socket.or(s.tos).unwrap_or(0)
        })
    }

    /// Keeps the loop alive while this socket is active (the default).
    pub fn ref_(&self) -> Socket {
        self.set_ref(true)
    }

    /// Lets the loop finish even while this socket is open.
    pub fn unref(&self) -> Socket {
        self.set_ref(false)
    }

    fn set_ref(&self, refd: bool) -> Socket {
        with(|c| {
            if let Some(s) = sock(c, self.key) {
                s.refd = refd;
            }
        });
        *self
    }

    /// The local address, once connected.
    pub fn address(&self) -> Option<SocketAddr> {
        self.get(None, |s| if s.destroyed { None } else { s.local })
    }

    /// The peer's address, once connected (kept after destroy, until the
    /// handle goes stale).
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.get(None, |s| s.remote)
    }

    /// The peer's IP address.
    pub fn remote_address(&self) -> Option<IpAddr> {
        self.remote_addr().map(|a| a.ip())
    }

    /// The peer's port.
    pub fn remote_port(&self) -> Option<u16> {
        self.remote_addr().map(|a| a.port())
    }

    /// `"IPv4"` or `"IPv6"`, as Node's `remoteFamily`.
    pub fn remote_family(&self) -> Option<&'static str> {
        self.remote_addr().map(|a| family(&a))
    }

    /// Our IP address, once connected.
    pub fn local_address(&self) -> Option<IpAddr> {
        self.address().map(|a| a.ip())
    }

    /// Our port, once connected.
    pub fn local_port(&self) -> Option<u16> {
        self.address().map(|a| a.port())
    }

    /// `"IPv4"` or `"IPv6"`, as Node's `localFamily`.
    pub fn local_family(&self) -> Option<&'static str> {
        self.address().map(|a| family(&a))
    }

    /// Bytes received so far.
    pub fn bytes_read(&self) -> u64 {
        self.get(0, |s| s.bytes_read)
    }

    /// Bytes accepted by `write()` so far, including bytes still queued.
    pub fn bytes_written(&self) -> u64 {
        self.get(0, |s| s.queue.accepted())
    }

    /// Bytes queued in user space, waiting for the kernel.
    pub fn writable_length(&self) -> usize {
        self.get(0, |s| s.queue.len())
    }

    /// The write queue's high-water mark.
    pub fn writable_high_water_mark(&self) -> usize {
        self.get(0, |s| s.write_hwm)
    }

    /// Whether a `write()` returned `false` and `'drain'` is still to come.
    pub fn writable_need_drain(&self) -> bool {
        self.get(false, |s| s.need_drain)
    }

    /// Bytes received but not yet delivered (paused, or no reader yet).
    pub fn readable_length(&self) -> usize {
        self.get(0, |s| s.read_buffered_len)
    }

    /// Node's `readyState`.
    pub fn ready_state(&self) -> ReadyState {
        self.get(ReadyState::Closed, SocketState::ready_state)
    }

    /// `true` until connected, and again once destroyed (Node's `pending`).
    pub fn pending(&self) -> bool {
        self.get(true, |s| s.phase != Phase::Open || s.destroyed)
    }

    /// `true` while resolving or connecting.
    pub fn connecting(&self) -> bool {
        self.get(false, |s| {
            matches!(s.phase, Phase::Resolving | Phase::Connecting)
        })
    }

    /// Node's `destroyed`: `true` from `destroy()` (or a fatal error) on.
    pub fn destroyed(&self) -> bool {
        self.get(true, |s| s.destroyed)
    }

    /// Whether the socket is gone: destroyed, or a stale handle
    /// (Starcounter's `IsDead()`).
    pub fn is_destroyed(&self) -> bool {
        self.destroyed()
    }

    /// Whether the read side is open (Node's `readable`).
    pub fn readable(&self) -> bool {
        self.get(false, |s| s.readable)
    }

    /// Whether `write()` is still allowed (Node's `writable`).
    pub fn writable(&self) -> bool {
        self.get(false, |s| s.writable && !s.destroyed)
    }

    /// Whether `end()` was called (Node's `writableEnded`).
    pub fn writable_ended(&self) -> bool {
        self.get(false, |s| !s.writable && (s.ending || s.shutdown))
    }

    /// Whether `'finish'` has been emitted (Node's `writableFinished`).
    pub fn writable_finished(&self) -> bool {
        self.get(false, |s| s.finish_emitted)
    }

    /// Whether `'end'` has been emitted (Node's `readableEnded`).
    pub fn readable_ended(&self) -> bool {
        self.get(false, |s| s.end_emitted)
    }

    /// Node's `readableFlowing`: `None` before any `'data'` listener,
    /// `resume()` or `pause()`; then whether data flows.
    pub fn readable_flowing(&self) -> Option<bool> {
        self.get(None, |s| s.flowing)
    }

    /// The read buffer's high-water mark: how much is read ahead while
    /// paused or before a reader exists.
    pub fn readable_high_water_mark(&self) -> usize {
        self.get(0, |s| s.read_hwm)
    }

    /// Every error this socket met, oldest first: each failed connection
    /// attempt, then the error it was destroyed with (4D's `errors`).
    /// Available until the handle goes stale after `'close'`.
    pub fn errors(&self) -> Vec<Error> {
        self.get(Vec::new(), |s| s.error_history.clone())
    }

    /// Runs the loop until this socket has closed (its `'close'` listeners
    /// have run), at most `timeout`; returns whether it closed. For code
    /// that waits, like 4D's `wait()`; not for use inside a callback.
    ///
    /// # Errors
    ///
    /// As [`run`](crate::run): an unhandled `'error'`, or a call from inside
    /// a callback.
    pub fn wait_closed(&self, timeout: Duration) -> Result<bool, Error> {
        let socket = *self;
        crate::run_until_timeout(timeout, || socket.closed())
    }

    /// The error the socket was destroyed with (Node's `errored`).
    pub fn errored(&self) -> Option<Error> {
        self.get(None, |s| {
            if s.had_error {
                s.error.as_deref().cloned()
            } else {
                None
            }
        })
    }

    /// Whether `'close'` has been emitted (Node's `closed`); a stale handle
    /// also reports `true`.
    pub fn closed(&self) -> bool {
        self.get(true, |s| s.close_emitted)
    }

    /// Whether `allow_half_open` is set.
    pub fn allow_half_open(&self) -> bool {
        self.get(false, |s| s.allow_half_open)
    }

    /// The addresses tried, in order, when happy eyeballs ran (Node's
    /// `autoSelectFamilyAttemptedAddresses`); `None` otherwise.
    pub fn auto_select_family_attempted_addresses(&self) -> Option<Vec<SocketAddr>> {
        self.get(None, |s| s.connect.as_ref()?.attempted.clone())
    }

    /// The server that accepted this socket (`None` for client sockets).
    pub fn server(&self) -> Option<crate::Server> {
        self.get(None, |s| s.server.map(crate::Server::from_key))
    }
}

fn family(addr: &SocketAddr) -> &'static str {
    if addr.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}

/// Inactivity timeouts are whole seconds: nearest, at least one.
pub(crate) fn round_timeout(ms: u64) -> u64 {
    (ms.saturating_add(500) / 1000).max(1) * 1000
}

/// The write path: straight to the kernel when nothing is queued, else
/// behind the queue.
fn write(c: &mut Core, key: Key, data: impl WriteData, cb: Option<WriteCb>) -> bool {
    let now = c.now_ms;
    let Some(s) = sock(c, key) else {
        if let Some(cb) = cb {
            c.ticks
                .push_back(Tick::WriteDone(key, cb, Some(Error::destroyed("write"))));
        }
        return false;
    };
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
            Error::new(ErrorCode::ErrSocketClosed, "Socket is closed")
        } else if s.auto_ended {
            Error::ended_by_peer()
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
    let Core { sockets, wheel, .. } = c;
    let s = &mut sockets[key.index()];
    let len = data.as_slice().len();
    let mut failure = None;
    if s.phase == Phase::Open && s.queue.is_empty() && s.writable_ready && s.corked == 0 && len > 0
    {
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
    if let Some(cb) = cb {
        if let Err(cb) = s.queue.push_callback(cb) {
            c.ticks.push_back(Tick::WriteDone(key, cb, None));
        }
    }
    // Node 20: `true` once the kernel took everything, even at
    // highWaterMark 0 (then no 'drain' is owed).
    let below = s.queue.is_empty() || s.queue.len() < s.write_hwm;
    if !below {
        s.need_drain = true;
    }
    below
}
#[cfg(test)]
mod tests {
    /// Every connection pays for its state inline in the slab: keep the
    /// idle footprint (issue 5: at most 1 KiB per idle connection with a
    /// timeout, listeners included) from creeping up unnoticed.
    #[test]
    fn socket_state_stays_small() {
        let size = std::mem::size_of::<super::SocketState>();
        assert!(size <= 448, "SocketState grew to {size} bytes");
    }
}
