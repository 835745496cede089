//! The per-thread event loop: `mio::Poll`, the handle slabs, the deferred
//! queues, and the phases of one turn.
//!
//! All loop state sits in one thread-local `RefCell<Core>`. Every API call
//! borrows it for the length of the call and never calls user code while
//! borrowed; the loop takes what it is about to run (a listener snapshot, a
//! callback) out of the state, releases the borrow, then runs it. That is
//! what makes every API call legal from inside every callback.
//!
//! One turn, in Node's order:
//! 1. timers: user timers that are due, then inactivity timeouts;
//! 2. poll: wait for readiness (not at all if work is queued), then dispatch
//!    every event: accept, connect completion, read, flush;
//! 3. reads carried over: sockets resumed, or cut off by the per-turn cap;
//! 4. check: `set_immediate` callbacks queued before this phase;
//! 5. close: `'close'` for every handle destroyed so far, then their slots
//!    are freed, so a key is never reused within the batch that saw it die.
//!
//! The `next_tick` queue (user ticks and deferred events such as `'error'`
//! after `destroy(err)`) is drained after every callback the loop runs.
//!
//! User code runs inside [`catch`]: a panic is kept, the loop finishes the
//! bookkeeping of the event in progress, and the phase stops where it
//! stands, with everything it had not reached still queued (the rest of the
//! poll batch, due timers, closing sockets, posted closures, a cut-off read
//! or accept burst). `run*()` then re-raises the panic; running the loop
//! again picks up where it stopped. An unhandled `'error'` stops a phase the
//! same way.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token, Waker};
use slab::Slab;

use crate::error::{Error, ErrorCode};
use crate::handle::{Generations, Key};
use crate::read_buffer::ReadBuffer;
use crate::stream::server::{self, ServerState, ServerTick};
use crate::stream::socket::{self, SocketState, SocketTick, WriteCb};
use crate::timer::user::{Immediates, Timers};
use crate::timer::wheel::Wheel;

/// Tokens at or above this mark are servers; below, sockets.
pub(crate) const SERVER_TOKEN: usize = 1 << (usize::BITS - 2);
const WAKER_TOKEN: Token = Token(usize::MAX);

/// Bytes read from one socket in one turn before the others get theirs:
/// 256 full reads. The cap only binds while the peer refills the kernel
/// buffer as fast as we drain it (a local peer); libuv's 32 reads measured
/// 10-15 % slower on the 4-stream echo than reading on, because yielding
/// while data is waiting leaves the server behind its peers (perf/README.md).
pub(crate) const READ_CAP_PER_TURN: usize = 256 * crate::read_buffer::READ_BUFFER;

/// Resolution of the inactivity wheel: timeouts are whole seconds and fire
/// within this much of their deadline.
const WHEEL_RESOLUTION_MS: u64 = 250;
const WHEEL_SLOTS: usize = 256;

type Task = Box<dyn FnOnce()>;
pub(crate) type RemoteTask = Box<dyn FnOnce() + Send>;

/// Work deferred to the next tick.
pub(crate) enum Tick {
    Call(Task),
    Socket(Key, SocketTick),
    WriteDone(Key, WriteCb, Option<Error>),
    Server(Key, ServerTick),
}

/// Why a phase stopped before its end.
pub(crate) enum Halt {
    /// An `'error'` with no listener, where the default policy stops the loop.
    Error(Error),
    /// A panic in user code, to be re-raised from `run*()`.
    Panic(Box<dyn Any + Send>),
}

/// What other threads share with the loop: posted closures, the waker, the
/// stop flag.
pub(crate) struct Remote {
    pub(crate) queue: Mutex<Posted>,
    /// Set after a post, so the loop looks at the queue (and takes its
    /// lock) only when something was posted.
    pub(crate) posted: AtomicBool,
    pub(crate) waker: Waker,
    pub(crate) stop: AtomicBool,
}

/// Closures posted from other threads, and whether the loop is gone.
#[derive(Default)]
pub(crate) struct Posted {
    pub(crate) tasks: Vec<RemoteTask>,
    /// The loop's thread has ended: nothing posted will ever run.
    gone: bool,
}

impl Remote {
    /// Queues `task` for the loop; hands it back if the loop's thread has
    /// ended.
    pub(crate) fn post(&self, task: RemoteTask) -> Result<(), RemoteTask> {
        let mut posted = self
            .queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if posted.gone {
            return Err(task);
        }
        posted.tasks.push(task);
        drop(posted);
        self.posted.store(true, Ordering::Release);
        // A failed wake (the loop's epoll gone) leaves the task queued for a
        // later run(); nothing else can be done from this thread.
        let _ = self.waker.wake();
        Ok(())
    }
}

pub(crate) struct Core {
    pub(crate) poll: Poll,
    events: Option<Events>,
    pub(crate) gens: Generations,
    /// Bytes one socket may read per turn ([`READ_CAP_PER_TURN`]; tests
    /// lower it to reach the cap with a few kernel buffers' worth).
    pub(crate) read_cap: usize,
    /// Bumped before each `'data'` callback: writes to the same socket
    /// within one callback after the first are batched (see
    /// `write_path::write_to`).
    pub(crate) callback_seq: u64,
    /// The socket that last wrote straight to the kernel, and in which
    /// callback (`callback_seq`).
    pub(crate) last_inline_write: (Key, u64),
    /// Sockets holding a batch of writes: sent when the `'data'` callback
    /// that wrote them returns, or by their `Flush` tick.
    pub(crate) held: Vec<Key>,
    /// A `'data'` callback is running: its writes are batched from the
    /// first.
    pub(crate) in_data_callback: bool,
    /// The socket that last kept the loop alive: checked first, so that a
    /// loop of many paused or unref'd sockets does not scan them all on
    /// every turn.
    alive_hint: Cell<usize>,
    pub(crate) sockets: Slab<SocketState>,
    pub(crate) servers: Slab<ServerState>,
    pub(crate) timers: Timers<Box<dyn FnMut()>>,
    pub(crate) immediates: Immediates<Task>,
    pub(crate) ticks: VecDeque<Tick>,
    pub(crate) wheel: Wheel<Key>,
    /// Scratch for the wheel's due entries, kept to avoid an allocation per
    /// expiry.
    wheel_due: Vec<(Key, u64)>,
    pub(crate) read_buf: ReadBuffer,
    /// Sockets to read this turn without a readiness event (resumed, or cut
    /// off by the per-turn cap last turn).
    pub(crate) pending_reads: VecDeque<Key>,
    /// Sockets destroyed and awaiting the close phase.
    pub(crate) closing: VecDeque<Key>,
    /// Servers whose accept burst a panic cut off: accepted again next turn
    /// (their listening socket is edge-triggered and will not signal again).
    pub(crate) pending_accepts: Vec<Key>,
    /// Where a poll batch cut off by a panic or an unhandled error goes on:
    /// the next poll phase dispatches the rest before it polls again.
    batch_next: Option<usize>,
    /// What stops the phase in progress: the first panic caught in user
    /// code, else the first unhandled error. One field, so that the check
    /// after every callback is one test.
    halt: Option<Halt>,
    /// An unhandled error recorded while a panic was pending: `run*()`
    /// returns it on the next run, after the panic.
    held_error: Option<Error>,
    start: Instant,
    pub(crate) now_ms: u64,
    pub(crate) remote: Arc<Remote>,
    pub(crate) spare_fd: Option<File>,
}

impl Core {
    fn new() -> Core {
        let poll = Poll::new().unwrap_or_else(|e| {
            panic!("nodenet: cannot create the event loop's poll instance: {e}")
        });
        let waker = Waker::new(poll.registry(), WAKER_TOKEN)
            .unwrap_or_else(|e| panic!("nodenet: cannot create the event loop's waker: {e}"));
        Core {
            poll,
            events: Some(Events::with_capacity(1024)),
            gens: Generations::default(),
            alive_hint: Cell::new(0),
            read_cap: READ_CAP_PER_TURN,
            callback_seq: 0,
            last_inline_write: (Key::new(usize::MAX, 0), u64::MAX),
            held: Vec::new(),
            in_data_callback: false,
            sockets: Slab::new(),
            servers: Slab::new(),
            timers: Timers::default(),
            immediates: Immediates::default(),
            ticks: VecDeque::new(),
            wheel: Wheel::new(WHEEL_RESOLUTION_MS, WHEEL_SLOTS, 0),
            wheel_due: Vec::new(),
            read_buf: ReadBuffer::default(),
            pending_reads: VecDeque::new(),
            closing: VecDeque::new(),
            pending_accepts: Vec::new(),
            batch_next: None,
            halt: None,
            held_error: None,
            start: Instant::now(),
            now_ms: 0,
            remote: Arc::new(Remote {
                queue: Mutex::new(Posted::default()),
                posted: AtomicBool::new(false),
                waker,
                stop: AtomicBool::new(false),
            }),
            spare_fd: File::open("/dev/null").ok(),
        }
    }

    pub(crate) fn update_now(&mut self) -> u64 {
        self.now_ms = self.start.elapsed().as_millis() as u64;
        self.now_ms
    }

    /// Records an `'error'` nobody listened to; `run()` returns the first.
    pub(crate) fn unhandled_error(&mut self, err: Error) {
        match self.halt {
            None => self.halt = Some(Halt::Error(err)),
            Some(Halt::Panic(_)) if self.held_error.is_none() => self.held_error = Some(err),
            // Not the first: as before, run() reports the first one.
            Some(_) => {}
        }
    }

    fn panic_pending(&self) -> bool {
        matches!(self.halt, Some(Halt::Panic(_)))
    }

    /// What stops the phase in progress, if anything: a panic first.
    fn halt(&mut self) -> Result<(), Halt> {
        match self.halt.take() {
            None => Ok(()),
            Some(halt) => {
                if let Some(err) = self.held_error.take() {
                    self.halt = Some(Halt::Error(err));
                }
                Err(halt)
            }
        }
    }

    /// Whether anything keeps the loop running.
    fn alive(&self) -> bool {
        !self.ticks.is_empty()
            || self.immediates.refd() > 0
            || self.timers.refd() > 0
            || !self.pending_reads.is_empty()
            || !self.closing.is_empty()
            || !self.pending_accepts.is_empty()
            || self.batch_next.is_some()
            || !self.wheel_due.is_empty()
            || self.remote.posted.load(Ordering::Acquire)
            || self.servers.iter().any(|(_, s)| s.keeps_alive())
            || self.sockets_keep_alive()
    }

    fn sockets_keep_alive(&self) -> bool {
        let hint = self.alive_hint.get();
        if self.sockets.get(hint).is_some_and(|s| s.keeps_alive()) {
            return true;
        }
        match self.sockets.iter().find(|(_, s)| s.keeps_alive()) {
            Some((index, _)) => {
                self.alive_hint.set(index);
                true
            }
            None => false,
        }
    }

    /// How long the poll phase may block.
    fn poll_timeout(&mut self, until: Option<u64>) -> Option<Duration> {
        if !self.ticks.is_empty()
            || self.immediates.queued() > 0
            || !self.pending_reads.is_empty()
            || !self.closing.is_empty()
            || !self.pending_accepts.is_empty()
            || self.batch_next.is_some()
            || self.remote.posted.load(Ordering::Acquire)
        {
            return Some(Duration::ZERO);
        }
        let mut next = self.timers.next_deadline();
        for t in [self.wheel.next_wakeup_ms(), until].into_iter().flatten() {
            next = Some(next.map_or(t, |n: u64| n.min(t)));
        }
        next.map(|t| Duration::from_millis(t.saturating_sub(self.now_ms)))
    }

    pub(crate) fn new_generation(&mut self) -> u32 {
        self.gens.next()
    }
}

impl Drop for Core {
    /// The thread is ending: later posts are refused, and what was posted
    /// but never run is dropped here.
    fn drop(&mut self) {
        let orphans = {
            let mut posted = self.remote.queue.lock().unwrap_or_else(|p| p.into_inner());
            posted.gone = true;
            std::mem::take(&mut posted.tasks)
        };
        if !orphans.is_empty() {
            log::warn!(
                "nodenet: {} closure(s) posted to a loop whose thread ended were never run",
                orphans.len()
            );
        }
    }
}

thread_local! {
    static CORE: RefCell<Core> = RefCell::new(Core::new());
    static RUNNING: Cell<bool> = const { Cell::new(false) };
    /// Counts the `run*` calls of this thread, so that work meant for one
    /// run (a shutdown's grace period) can tell a later run apart.
    static RUN_EPOCH: Cell<u64> = const { Cell::new(0) };
}

/// Runs `f` with the loop state borrowed. `f` must not call user code.
pub(crate) fn with<R>(f: impl FnOnce(&mut Core) -> R) -> R {
    CORE.with(|c| f(&mut c.borrow_mut()))
}

pub(crate) fn defer(tick: Tick) {
    with(|c| c.ticks.push_back(tick));
}

/// Sets this thread's per-turn read cap (see [`READ_CAP_PER_TURN`]).
pub(crate) fn set_read_cap(bytes: usize) {
    with(|c| c.read_cap = bytes.max(1));
}

/// Runs user code. A panic is caught and kept (the first one, until
/// `run*()` re-raises it); the caller goes on with its bookkeeping as if
/// `f` had returned, and gets `None`.
#[inline]
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Option<R> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => Some(r),
        Err(payload) => {
            keep_panic(payload);
            None
        }
    }
}

#[cold]
fn keep_panic(payload: Box<dyn Any + Send>) {
    // A later panic's message was printed by the panic hook already; the
    // first is the one re-raised.
    let later = with(|c| match c.halt.take() {
        Some(Halt::Panic(first)) => {
            c.halt = Some(Halt::Panic(first));
            Some(payload)
        }
        error => {
            if let Some(Halt::Error(err)) = error {
                c.held_error.get_or_insert(err);
            }
            c.halt = Some(Halt::Panic(payload));
            None
        }
    });
    drop(later);
}

/// Runs every queued tick, including ones queued while running, until a
/// panic waits to be re-raised (the rest stay queued). Returns `false` if
/// it stopped for a panic.
pub(crate) fn drain_ticks() -> bool {
    loop {
        let next = with(|c| {
            if c.panic_pending() {
                Err(())
            } else {
                Ok(c.ticks.pop_front())
            }
        });
        let tick = match next {
            Ok(Some(tick)) => tick,
            Ok(None) => return true,
            Err(()) => return false,
        };
        match tick {
            Tick::Call(f) => {
                catch(f);
            }
            Tick::Socket(key, t) => socket::run_tick(key, t),
            Tick::WriteDone(key, cb, err) => socket::run_write_cb(key, cb, err),
            Tick::Server(key, t) => server::run_tick(key, t),
        }
    }
}

/// After each callback: drain ticks, then stop for a panic or an unhandled
/// error.
fn settle() -> Result<(), Halt> {
    if with(|c| c.ticks.is_empty() && c.halt.is_none()) {
        return Ok(());
    }
    drain_ticks();
    with(Core::halt)
}

/// Returns whether any callback ran (then the poll must not block: the
/// callback may have left the loop with nothing to wait for, or satisfied
/// `run_until`'s condition).
fn run_timers() -> Result<bool, Halt> {
    let (now, due) = with(|c| {
        let now = c.now_ms;
        let due = |t: Option<u64>| t.is_some_and(|t| t <= now);
        (
            now,
            due(c.timers.next_deadline())
                || due(c.wheel.next_wakeup_ms())
                || !c.wheel_due.is_empty(),
        )
    });
    if !due {
        return Ok(false);
    }
    let mut ran = false;
    while let Some((key, mut cb)) = with(|c| c.timers.pop_due(now)) {
        ran = true;
        catch(&mut cb);
        let leftover = with(|c| c.timers.finish(key, cb, now));
        drop(leftover);
        settle()?;
    }
    // Entries a halt left over come first, then the newly expired ones.
    let mut due = with(|c| {
        let mut due = std::mem::take(&mut c.wheel_due);
        c.wheel.expire(now, &mut due);
        due
    });
    let mut result = Ok(ran);
    let mut done = 0;
    while done < due.len() {
        let (key, deadline) = due[done];
        done += 1;
        if with(|c| socket::check_timeout(c, key, deadline)) {
            result = Ok(true);
            socket::emit_timeout(key);
            if let Err(halt) = settle() {
                result = Err(halt);
                break;
            }
        }
    }
    due.drain(..done);
    with(|c| c.wheel_due = due);
    result
}

fn run_posted() -> Result<(), Halt> {
    let Some(remote) = with(|c| {
        c.remote
            .posted
            .swap(false, Ordering::Acquire)
            .then(|| c.remote.clone())
    }) else {
        return Ok(());
    };
    let tasks = std::mem::take(&mut remote.queue.lock().unwrap_or_else(|p| p.into_inner()).tasks);
    let mut tasks = tasks.into_iter();
    while let Some(task) = tasks.next() {
        catch(task);
        if let Err(halt) = settle() {
            // The tasks not reached go back, ahead of any posted since.
            let mut posted = remote.queue.lock().unwrap_or_else(|p| p.into_inner());
            let queue = &mut posted.tasks;
            let later = std::mem::take(queue);
            queue.extend(tasks);
            queue.extend(later);
            if !queue.is_empty() {
                remote.posted.store(true, Ordering::Release);
                // The next run's poll must not block on them.
                let _ = remote.waker.wake();
            }
            return Err(halt);
        }
    }
    Ok(())
}

fn poll_io(timeout: Option<Duration>) -> Result<(), Halt> {
    // The poll may block with the state borrowed: no user code runs meanwhile
    // and no other thread can reach this thread's state. A batch a halt cut
    // off is finished first, without polling.
    let (events, polled, skip) = with(|c| {
        let mut events = c
            .events
            .take()
            .unwrap_or_else(|| Events::with_capacity(1024));
        if let Some(skip) = c.batch_next.take() {
            return (events, Ok(()), skip);
        }
        let polled = c.poll.poll(&mut events, timeout);
        c.update_now();
        (events, polled, 0)
    });
    if let Err(e) = polled {
        with(|c| c.events = Some(events));
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(());
        }
        return Err(Halt::Error(Error::from_io(e, "epoll_wait", None)));
    }
    // One catch for the whole batch: the read burst's 'data' emit, the hot
    // path, is not wrapped on its own. A panic that unwinds out of an event
    // leaves that socket's burst cut off: it is queued to read on.
    let current = Cell::new(skip);
    let mut stopped = None;
    let dispatched = panic::catch_unwind(AssertUnwindSafe(|| {
        let mut events_left = events.iter();
        if skip > 0 {
            events_left.nth(skip - 1);
        }
        let mut i = skip;
        for event in events_left {
            let token = event.token();
            current.set(i);
            i += 1;
            if token == WAKER_TOKEN {
                continue;
            }
            if token.0 >= SERVER_TOKEN {
                server::on_ready(token.0 - SERVER_TOKEN);
            } else {
                socket::on_ready(token.0, event);
            }
            if let Err(halt) = settle() {
                stopped = Some((i - 1, halt));
                return;
            }
        }
    }));
    let result = match (dispatched, stopped) {
        (Ok(()), None) => Ok(()),
        (Ok(()), Some((i, halt))) => {
            with(|c| c.batch_next = Some(i + 1));
            Err(halt)
        }
        (Err(payload), _) => {
            let i = current.get();
            keep_panic(payload);
            if let Some(event) = events.iter().nth(i) {
                if event.token().0 < SERVER_TOKEN {
                    socket::read_on_after_panic(event.token().0);
                }
            }
            with(|c| {
                c.batch_next = Some(i + 1);
                c.halt()
            })
        }
    };
    with(|c| c.events = Some(events));
    result?;
    run_posted()
}

/// Accept bursts a panic cut off, then reads carried over.
fn run_pending_reads() -> Result<(), Halt> {
    let (accepts, n) = with(|c| (!c.pending_accepts.is_empty(), c.pending_reads.len()));
    if accepts {
        while let Some(key) = with(|c| c.pending_accepts.pop()) {
            server::accept_pending(key);
            settle()?;
        }
    }
    for _ in 0..n {
        let Some(key) = with(|c| c.pending_reads.pop_front()) else {
            break;
        };
        if catch(|| socket::read_pending(key)).is_none() {
            socket::read_on_after_panic(key.index());
        }
        settle()?;
    }
    Ok(())
}

fn run_immediates() -> Result<(), Halt> {
    let n = with(|c| c.immediates.queued());
    for _ in 0..n {
        let Some(f) = with(|c| c.immediates.pop()) else {
            break;
        };
        catch(f);
        settle()?;
    }
    Ok(())
}

/// `'close'` for the sockets destroyed before this phase began (those
/// destroyed during it wait for the next turn's).
fn run_close_phase() -> Result<(), Halt> {
    let n = with(|c| c.closing.len());
    for _ in 0..n {
        let Some(key) = with(|c| c.closing.pop_front()) else {
            break;
        };
        socket::emit_close(key);
        settle()?;
    }
    Ok(())
}

/// One turn of the loop. `until` bounds how long the poll may block.
fn turn(until: Option<u64>) -> Result<(), Halt> {
    // Ticks queued outside the loop's callbacks (a server's 'close' after
    // close(), ...) run here; like timers, they may leave nothing to wait for.
    let ticks_ran = with(|c| {
        c.update_now();
        !c.ticks.is_empty()
    });
    settle()?;
    let timers_ran = run_timers()?;
    let timeout = if timers_ran || ticks_ran {
        Some(Duration::ZERO)
    } else {
        with(|c| c.poll_timeout(until))
    };
    poll_io(timeout)?;
    run_pending_reads()?;
    run_immediates()?;
    run_close_phase()
}

struct RunGuard;

impl RunGuard {
    fn enter() -> Result<RunGuard, Error> {
        RUN_EPOCH.with(|e| e.set(e.get() + 1));
        if RUNNING.with(|r| r.replace(true)) {
            return Err(Error::new(
                ErrorCode::ERR_INVALID_ARG_VALUE,
                "the event loop is already running on this thread (run() called from a callback)",
            ));
        }
        Ok(RunGuard)
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        RUNNING.with(|r| r.set(false));
    }
}

fn stop_requested() -> bool {
    with(|c| c.remote.stop.swap(false, Ordering::SeqCst))
}

/// Runs the loop until `done` says so, nothing keeps it alive, `limit`
/// passes or a stop is requested. Returns whether `done` said so.
pub(crate) fn run_loop(
    limit: Option<Duration>,
    mut done: impl FnMut() -> bool,
) -> Result<bool, Error> {
    let _guard = RunGuard::enter()?;
    let until = limit.map(|d| {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        with(|c| c.update_now()).saturating_add(ms)
    });
    let mut turned = false;
    loop {
        if done() {
            return Ok(true);
        }
        if !with(|c| c.alive()) || stop_requested() {
            return Ok(false);
        }
        if let Some(u) = until {
            // The clock was read after the last poll. A zero limit still
            // takes one turn, polling without blocking.
            if turned && with(|c| c.now_ms) >= u {
                return Ok(false);
            }
        }
        turned = true;
        match turn(until) {
            Ok(()) => {}
            Err(Halt::Error(err)) => return Err(err),
            // The guard is dropped on the way out: the loop can run again.
            Err(Halt::Panic(payload)) => panic::resume_unwind(payload),
        }
    }
}

/// The thread's loop handle for other threads.
pub(crate) fn remote() -> Arc<Remote> {
    with(|c| c.remote.clone())
}

/// Runs `f` on the next tick.
pub(crate) fn next_tick(f: impl FnOnce() + 'static) {
    defer(Tick::Call(Box::new(f)));
}

/// Every server of this thread's loop.
pub(crate) fn servers() -> Vec<crate::Server> {
    with(|c| {
        c.servers
            .iter()
            .map(|(i, s)| crate::Server::from_key(Key::new(i, s.generation())))
            .collect()
    })
}

/// Every socket of this thread's loop not yet destroyed.
pub(crate) fn sockets() -> Vec<crate::Socket> {
    with(|c| {
        c.sockets
            .iter()
            .filter(|(_, s)| !s.destroyed)
            .map(|(i, s)| crate::Socket::from_key(Key::new(i, s.generation)))
            .collect()
    })
}

/// Which `run*` call of this thread is (or was last) running.
pub(crate) fn run_epoch() -> u64 {
    RUN_EPOCH.with(Cell::get)
}

/// The loop's backend descriptor (its epoll instance): readable when the
/// loop has I/O to handle. libuv's `uv_backend_fd`.
#[cfg(unix)]
pub(crate) fn backend_fd() -> std::os::fd::RawFd {
    use std::os::fd::AsRawFd;
    with(|c| c.poll.as_raw_fd())
}

/// How long the loop may wait for I/O before it has other work (libuv's
/// `uv_backend_timeout`): zero when callbacks are queued, `None` when only
/// I/O can wake it.
pub(crate) fn backend_timeout() -> Option<Duration> {
    with(|c| {
        c.update_now();
        c.poll_timeout(None)
    })
}

/// Whether anything keeps the loop alive.
pub(crate) fn alive() -> bool {
    with(|c| c.alive())
}
