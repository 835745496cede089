//! Node.js's `net` module for Rust.
//!
//! `tcp::create_server` and `tcp::connect` return small `Copy` handles with
//! Node's events (`.on("data" | "end" | "close" | "drain" | "timeout" |
//! "error" | ...)`), write queues that signal `'drain'`, `pause()` /
//! `resume()`, and inactivity timeouts, all on one single-threaded
//! [mio](https://docs.rs/mio) event loop per thread. A JavaScript socket
//! program ports line by line:
//!
//! ```
//! use nodenet::{tcp, Bytes, ServerOptions, Socket};
//!
//! // An echo server...
//! let server = tcp::create_server(ServerOptions::default(), |_, socket| {
//!     socket.on_data(|s, chunk| {
//!         s.write(chunk);
//!     });
//! });
//! server.listen(0, "127.0.0.1")?;
//! let port = server.address().unwrap().port();
//!
//! // ...and a client that sends one line, prints the echo and hangs up
//! // (the string form, as in Node, with the closure's types written out).
//! tcp::connect(port, "127.0.0.1", |s| {
//!     s.write("hello\n");
//! })?
//! .on("data", move |s: &Socket, chunk: &Bytes| {
//!     assert_eq!(&chunk[..], b"hello\n");
//!     s.end();
//!     server.close();
//! });
//!
//! nodenet::run()?; // until nothing is left: like Node's process exit
//! # Ok::<(), nodenet::Error>(())
//! ```
//!
//! # The model
//!
//! - Each thread has one loop; the free functions use it. [`run`] runs it
//!   until no ref'd handle, timer or callback is left, [`run_for`] and
//!   [`run_until`] for code that waits.
//! - Handles ([`Socket`], [`Server`], [`Timer`]) are a slab key plus a
//!   generation: capture them in any closure; a handle whose socket is gone
//!   is detected, and calls on it are harmless no-ops.
//! - Listeners get the handle first, then the event's payload. The typed
//!   methods (`socket.on_data(|s, chunk| ..)`, `on_close(|s, had_error| ..)`,
//!   `server.on_connection(|srv, socket| ..)`, and [`Registration`] for
//!   `once` / `prepend` / ids) take exactly the event's closure, so a wrong
//!   shape does not compile. The string form (`on("data", |s: &Socket,
//!   chunk: &Bytes| ..)`, as in Node) checks the name and the shape where
//!   the listener is registered; a closure of the handle alone
//!   (`|s: &Socket|`) fits every event and ignores the payload.
//! - No callback ever runs inside an API call: errors, `'drain'`, write
//!   callbacks and `'close'` come on a later turn, as in Node.
//!
//! # Sharing state between callbacks
//!
//! Listeners are `'static` closures: they own what they capture. Handles
//! are `Copy`, so capture them freely. For state:
//!
//! - **Per connection**: keep it with the socket, as JavaScript sets
//!   `socket.subs = new Set()`: [`Socket::set_data`] once, then
//!   [`Socket::with_data`] from any listener; it is dropped after
//!   `'close'`. Or write a [`Handler`]: a type whose fields are the
//!   connection's state and whose methods are its events.
//! - **Shared by connections** (a room list, a counter): one
//!   `Rc<RefCell<T>>` (or `Rc<Cell<T>>` for `Copy` values), cloned into each
//!   closure that needs it, `move` closures taking the clone:
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use nodenet::{tcp, ServerOptions, Socket};
//!
//! let clients: Rc<RefCell<Vec<Socket>>> = Rc::default();
//! let joined = clients.clone();
//! let server = tcp::create_server(ServerOptions::default(), move |_, socket| {
//!     joined.borrow_mut().push(*socket);
//!     let left = joined.clone();
//!     socket.on_close(move |s, _| left.borrow_mut().retain(|c| c != s));
//! });
//! # server.close();
//! ```
//!
//! No borrow of yours is held across a call into nodenet that runs user
//! code, because none does: listeners only ever run from the loop, never
//! inside an API call, so a `borrow_mut()` inside a listener is never
//! already borrowed by nodenet.
//!
//! # Handles are `!Send`: what to do from other threads
//!
//! A loop belongs to its thread, and so do its handles: a `Socket` is an
//! index into that thread's loop, meaningless elsewhere (the compiler
//! refuses to move one across threads). From another thread, take the
//! loop's [`LoopHandle`] (`Send + Sync + Clone`, from [`handle`]) and
//! [`post`](LoopHandle::post) a closure that runs on the loop's thread and
//! uses the handles there; [`LoopHandle::stop`] and
//! [`LoopHandle::shutdown`] end the loop from outside. For one loop per
//! core on one port, see [`cluster`].
//!
//! # Where things fit
//!
//! - [`tcp`]: servers, connections, options — Node's `net`.
//! - [`Handler`]: a connection's events as methods of a type that owns its
//!   state (the other TCP APIs' style).
//! - [`LoopHandle`]: other threads; [`run_nowait`], [`backend_fd`] and
//!   [`backend_timeout`]: driving the loop from another event loop (tokio,
//!   a GUI).
//! - [`framing`]: turning a byte stream into frames (length-prefixed,
//!   lines) in a `'data'` listener.
//! - [`cluster`]: one loop per core, `SO_REUSEPORT`.
//! - `COMPAT.md` (in the repository): every item of Node's `net` with its
//!   nodenet spelling, status and test; `PORTING.md`: JavaScript beside
//!   Rust for the idioms of real socket programs.
//!
//! # Errors nobody handles
//!
//! An `'error'` emitted with no `'error'` listener goes to the hook set with
//! [`on_uncaught_error`] (Node's `process.on('uncaughtException')`), and the
//! loop goes on. Without a hook, an error on a connection a server accepted
//! is written to standard error and the loop goes on (a peer that resets
//! never stops a server); an error on a socket or server the program made
//! itself stops [`run`] with that error, where Node would crash. The loop
//! can be run again and loses nothing.
//!
//! # Panics in callbacks
//!
//! A panic in a listener or any other callback (timers, ticks, immediates,
//! write callbacks, posted closures, a custom resolver) is caught where the
//! loop called it. The loop finishes the bookkeeping of the event in
//! progress (a closing socket is still freed, a connection still counted),
//! stops the phase where it stands with everything not yet reached still
//! queued, and [`run`] re-raises the panic. Catch it
//! (`std::panic::catch_unwind`) and run the loop again: queued connections
//! are accepted, the rest of the poll batch is delivered, due timers, ticks
//! and posted closures run. With `panic = "abort"` the process ends, as
//! with any panic.

#![deny(missing_docs)]
#![warn(rust_2018_idioms)]
// Two `unsafe` blocks, each with its SAFETY argument and tests: the read
// buffer's set_len after recv (read_buffer.rs) and a cache prefetch hint
// (prefetch.rs).
#![deny(unsafe_code)]

mod block_list;
mod chunk_queue;
pub mod cluster;
mod duration;
mod emitter;
mod error;
mod event_loop;
pub mod framing;
mod handle;
mod handler;
mod prefetch;
mod read_buffer;
mod stream;
pub mod tcp;
mod text;
mod timer;
#[cfg(feature = "tls")]
pub mod tls;
mod transport;
mod uncaught;
mod write_queue;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

pub use block_list::BlockList;
pub use bytes::Bytes;
pub use duration::IntoDuration;
pub use emitter::{Listener, ListenerId, Payload, Registration, Shape};
pub use error::{Error, ErrorCode};
pub use handler::Handler;
pub use tcp::{
    ConnectOptions, ConnectionAttempt, DropInfo, Family, IntoPort, ListenOptions, Lookup,
    ReadyState, Server, ServerOptions, Socket, SocketOptions, WriteData,
};
pub use text::Encoding;
pub use timer::{
    clear_immediate, clear_interval, clear_timeout, next_tick, set_immediate, set_interval,
    set_timeout, Timer,
};
pub use uncaught::{off_uncaught_error, on_uncaught_error, ErrorOrigin};

/// Compiles (and runs) every Rust block of `PORTING.md` with the doc tests,
/// so that the porting guide's snippets cannot rot.
#[doc = include_str!("../PORTING.md")]
#[cfg(doctest)]
pub struct PortingDoctests;

/// Runs this thread's loop until nothing keeps it alive: no listening
/// server, active socket, pending timer or queued callback (ref'd ones).
///
/// # Errors
///
/// The first `'error'` emitted with no `'error'` listener on a client
/// socket or a server, when no [`on_uncaught_error`] hook is set (where
/// Node would crash the process); the loop stops there and can be run
/// again. Also refuses to run from inside one of its own callbacks.
///
/// # Panics
///
/// Re-raises a panic from a callback, once the loop has finished the
/// bookkeeping of the event in progress; the loop can be run again and
/// loses nothing (see the crate docs).
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// let fired = Rc::new(Cell::new(false));
/// let f = fired.clone();
/// nodenet::set_timeout(move || f.set(true), 5);
/// nodenet::run()?; // the timer was the last thing keeping the loop alive
/// assert!(fired.get());
/// # Ok::<(), nodenet::Error>(())
/// ```
pub fn run() -> Result<(), Error> {
    event_loop::run_loop(None, || false).map(|_| ())
}

/// Runs the loop for at most `duration` (less if nothing keeps it alive).
/// It always takes at least one turn: `run_for(Duration::ZERO)` polls once
/// without blocking, as [`run_nowait`].
///
/// # Errors
///
/// As [`run`].
///
/// # Panics
///
/// As [`run`].
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let keepalive = nodenet::set_interval(|| {}, 1000); // would run forever
/// let start = Instant::now();
/// nodenet::run_for(Duration::from_millis(20))?;
/// assert!(start.elapsed() >= Duration::from_millis(20));
/// nodenet::clear_interval(keepalive);
/// # Ok::<(), nodenet::Error>(())
/// ```
pub fn run_for(duration: Duration) -> Result<(), Error> {
    event_loop::run_loop(Some(duration), || false).map(|_| ())
}

/// Runs the loop until `done()` returns `true` (checked before every turn);
/// returns `false` if the loop ran out of work first.
///
/// # Errors
///
/// As [`run`].
///
/// # Panics
///
/// As [`run`], and if `done` panics.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// let done = Rc::new(Cell::new(false));
/// let d = done.clone();
/// nodenet::set_timeout(move || d.set(true), 5);
/// let keepalive = nodenet::set_interval(|| {}, 1000);
/// assert!(nodenet::run_until(|| done.get())?); // true: done() said so
/// nodenet::clear_interval(keepalive);
/// # Ok::<(), nodenet::Error>(())
/// ```
pub fn run_until(done: impl FnMut() -> bool) -> Result<bool, Error> {
    event_loop::run_loop(None, done)
}

/// [`run_until`] bounded by `timeout`: `false` if it passed (or the loop ran
/// out of work) before `done()` said so.
///
/// # Errors
///
/// As [`run`].
///
/// # Panics
///
/// As [`run_until`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let keepalive = nodenet::set_interval(|| {}, 1000);
/// let done = nodenet::run_until_timeout(Duration::from_millis(10), || false)?;
/// assert!(!done); // the timeout passed first
/// nodenet::clear_interval(keepalive);
/// # Ok::<(), nodenet::Error>(())
/// ```
pub fn run_until_timeout(timeout: Duration, done: impl FnMut() -> bool) -> Result<bool, Error> {
    event_loop::run_loop(Some(timeout), done)
}

/// Takes one turn of the loop without blocking (libuv's `UV_RUN_NOWAIT`):
/// due timers, the I/O that is ready, queued callbacks. For driving a
/// nodenet loop from another event loop: wait for [`backend_fd`] to become
/// readable, or for [`backend_timeout`], then call this. Returns whether
/// anything still keeps the loop alive.
///
/// # Errors
///
/// As [`run`].
///
/// # Panics
///
/// As [`run`].
///
/// # Examples
///
/// ```
/// use nodenet::{tcp, ServerOptions};
///
/// let server = tcp::create_server(ServerOptions::default(), |_, _| {});
/// server.listen(0, "127.0.0.1")?;
/// let port = server.address().unwrap().port();
/// let _client = std::net::TcpStream::connect(("127.0.0.1", port))?;
/// // One turn at a time, never blocking, until the connection is in.
/// for _ in 0..1000 {
///     if server.connections() == 1 {
///         break;
///     }
///     nodenet::run_nowait()?;
///     std::thread::sleep(std::time::Duration::from_millis(1));
/// }
/// assert_eq!(server.connections(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run_nowait() -> Result<bool, Error> {
    event_loop::run_loop(Some(Duration::ZERO), || false)?;
    Ok(event_loop::alive())
}

/// The loop's backend descriptor, an epoll instance that is readable when
/// the loop has I/O to handle (libuv's `uv_backend_fd`): register it with
/// another event loop (tokio's `AsyncFd`, a GUI toolkit's watch) and call
/// [`run_nowait`] when it is ready. See `examples/embed_tokio.rs`.
#[cfg(unix)]
pub fn backend_fd() -> std::os::fd::RawFd {
    event_loop::backend_fd()
}

/// How long the loop may wait for I/O before its next timer or queued
/// callback is due (libuv's `uv_backend_timeout`): `Some(ZERO)` when work
/// is queued now, `None` when only I/O (or a post) can give it work.
pub fn backend_timeout() -> Option<Duration> {
    event_loop::backend_timeout()
}

/// A `Send + Sync + Clone` handle on a thread's loop, for other threads:
/// post closures into it, or ask it to stop.
///
/// # Examples
///
/// ```
/// let handle = nodenet::handle();
/// let keepalive = nodenet::set_interval(|| {}, 1000);
/// std::thread::spawn(move || {
///     handle.post(move || println!("on the loop thread")).unwrap();
///     handle.stop();
/// });
/// nodenet::run()?; // returns once stop() is seen
/// nodenet::clear_interval(keepalive);
/// # Ok::<(), nodenet::Error>(())
/// ```
#[derive(Clone)]
pub struct LoopHandle {
    remote: Arc<event_loop::Remote>,
}

impl std::fmt::Debug for LoopHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoopHandle")
    }
}

/// [`LoopHandle::post`] to a loop whose thread has ended: the closure was
/// dropped, never run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoopGone;

impl std::fmt::Display for LoopGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the event loop's thread has ended; the posted closure was dropped")
    }
}

impl std::error::Error for LoopGone {}

impl LoopHandle {
    /// Runs `f` on the loop's thread, on its next turn (or on the next
    /// `run*` call there, if none is running now).
    ///
    /// # Errors
    ///
    /// [`LoopGone`] if the loop's thread has ended: `f` is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let loop_thread = std::thread::spawn(move || {
    ///     tx.send(nodenet::handle()).unwrap();
    ///     let keep = nodenet::set_interval(|| {}, 10);
    ///     nodenet::run_until(|| false).unwrap(); // returns at stop()
    ///     nodenet::clear_interval(keep);
    /// });
    /// let handle = rx.recv().unwrap();
    /// handle.post(|| println!("on the loop thread")).unwrap();
    /// handle.stop();
    /// loop_thread.join().unwrap();
    /// assert_eq!(handle.post(|| {}), Err(nodenet::LoopGone));
    /// ```
    pub fn post(&self, f: impl FnOnce() + Send + 'static) -> Result<(), LoopGone> {
        self.remote.post(Box::new(f)).map_err(|_| LoopGone)
    }

    /// Makes the loop's `run*` call return at its next turn.
    pub fn stop(&self) {
        self.remote.stop.store(true, Ordering::SeqCst);
        let _ = self.remote.waker.wake();
    }

    /// Graceful shutdown: every server of the loop stops accepting at once
    /// (their `'close'` follows as usual), open connections may finish on
    /// their own, and those still open after `grace` are destroyed; then the
    /// loop's `run*` call returns (even if timers would keep it going).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use nodenet::{tcp, Server, ServerOptions, Socket};
    ///
    /// let server = tcp::create_server(ServerOptions::default(), |_: &Server, _: &Socket| {});
    /// server.listen(0, "127.0.0.1")?;
    /// let handle = nodenet::handle();
    /// std::thread::spawn(move || handle.shutdown(Duration::from_millis(100)));
    /// nodenet::run()?; // returns: the server closed, nothing else was open
    /// assert!(!server.listening());
    /// # Ok::<(), nodenet::Error>(())
    /// ```
    pub fn shutdown(&self, grace: Duration) {
        let remote = self.remote.clone();
        // A loop that is gone has nothing to shut down.
        let _ = self.remote.post(Box::new(move || {
            for server in event_loop::servers() {
                server.close();
            }
            // The grace period belongs to this run: if the loop runs out of
            // work first, a later run on this thread must not be cut short.
            let epoch = event_loop::run_epoch();
            let deadline = set_timeout(
                move || {
                    if event_loop::run_epoch() != epoch {
                        return;
                    }
                    for socket in event_loop::sockets() {
                        socket.destroy();
                    }
                    remote.stop.store(true, Ordering::SeqCst);
                },
                grace.as_millis() as u64,
            );
            // The grace period alone does not hold the loop open.
            deadline.unref();
        }));
    }
}

/// The handle of this thread's loop.
pub fn handle() -> LoopHandle {
    LoopHandle {
        remote: event_loop::remote(),
    }
}

/// Crate-private pieces the benchmarks in `benches/` measure directly: not
/// part of the API, no stability promise.
#[doc(hidden)]
pub mod __bench {
    pub use crate::timer::wheel::Wheel;
    pub use crate::write_queue::{WriteQueue, MAX_IOVECS};

    /// Lowers (or raises) how many bytes one socket may read per loop turn
    /// on this thread, so that a test can reach the cap with a few kernel
    /// buffers' worth of data. At least 1.
    pub fn set_read_cap_per_turn(bytes: usize) {
        crate::event_loop::set_read_cap(bytes);
    }

    /// How many socket and server slots this thread's loop holds (live or
    /// awaiting their close phase), for tests that check nothing leaks.
    pub fn live_slots() -> (usize, usize) {
        crate::event_loop::with(|c| (c.sockets.len(), c.servers.len()))
    }
}

/// Crate-private pieces the fuzz targets in `fuzz/` drive directly: not part
/// of the API, no stability promise.
#[doc(hidden)]
pub mod __fuzz {
    use crate::{Bytes, Encoding};

    /// The decoder behind `Socket::set_encoding`, wrapped so that its type
    /// stays crate-private.
    #[derive(Debug)]
    pub struct TextDecoder(crate::text::TextDecoder);

    impl TextDecoder {
        /// A decoder for `encoding`.
        pub fn new(encoding: Encoding) -> TextDecoder {
            TextDecoder(crate::text::TextDecoder::new(encoding))
        }

        /// The next piece (its bytes and their text); `None` when the chunk
        /// is all held back.
        pub fn decode(&mut self, chunk: &Bytes) -> Option<(Bytes, String)> {
            self.0
                .decode(chunk)
                .map(|d| (d.bytes.clone(), d.text().into_owned()))
        }

        /// What was held back, at the end of the stream.
        pub fn finish(&mut self) -> Option<(Bytes, String)> {
            self.0
                .finish()
                .map(|d| (d.bytes.clone(), d.text().into_owned()))
        }
    }
}
