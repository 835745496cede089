//! Time: the inactivity wheel behind `Socket::set_timeout`, and the user
//! timers (`set_timeout`, `set_interval`, `set_immediate`, `next_tick`).

pub(crate) mod user;
pub(crate) mod wheel;

use std::fmt;
use std::marker::PhantomData;

use crate::event_loop::{self, with};
use crate::handle::Key;
use crate::IntoDuration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Timeout,
    Immediate,
}

/// A user timer's handle: clear it, or `unref()` it so it does not keep
/// the loop alive.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timer {
    key: Key,
    kind: Kind,
    _thread: PhantomData<*const ()>,
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timer({:?}, {})", self.kind, self.key.id())
    }
}

impl Timer {
    fn new(key: Key, kind: Kind) -> Timer {
        Timer {
            key,
            kind,
            _thread: PhantomData,
        }
    }

    /// Lets the loop finish while this timer is pending.
    pub fn unref(&self) -> Timer {
        self.set_ref(false)
    }

    /// Makes this timer keep the loop alive again (the default): Node's
    /// `ref()`, spelled `r#ref` because `ref` is a Rust keyword.
    pub fn r#ref(&self) -> Timer {
        self.set_ref(true)
    }

    fn set_ref(&self, refd: bool) -> Timer {
        with(|c| match self.kind {
            Kind::Timeout => c.timers.set_ref(self.key, refd),
            Kind::Immediate => c.immediates.set_ref(self.key, refd),
        });
        *self
    }

    /// Whether the timer is pending and keeps the loop alive.
    pub fn has_ref(&self) -> bool {
        with(|c| match self.kind {
            Kind::Timeout => c.timers.has_ref(self.key),
            Kind::Immediate => false,
        })
    }

    /// Whether the timer is still pending (or an interval still armed).
    pub fn is_pending(&self) -> bool {
        with(|c| match self.kind {
            Kind::Timeout => c.timers.contains(self.key),
            Kind::Immediate => false,
        })
    }
}

/// Runs `callback` once, `delay` from now (milliseconds or a
/// [`Duration`](std::time::Duration); at least 1 ms).
///
/// A delay above Node's `TIMEOUT_MAX` (2^31 - 1, about 24.8 days) is clamped to
/// it, so `u64::MAX` means "practically never" (Node clamps to 1 ms:
/// a huge delay meaning "at once" is a footgun). `unref()` such a timer, or
/// clear it, or it keeps the loop alive.
///
/// # Examples
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// let fired = Rc::new(Cell::new(false));
/// let f = fired.clone();
/// nodenet::set_timeout(move || f.set(true), 5);
/// nodenet::run()?;
/// assert!(fired.get());
/// # Ok::<(), nodenet::Error>(())
/// ```
pub fn set_timeout(callback: impl FnOnce() + 'static, delay: impl IntoDuration) -> Timer {
    let ms = crate::duration::ms(delay);
    let mut callback = Some(callback);
    let f: Box<dyn FnMut()> = Box::new(move || {
        if let Some(cb) = callback.take() {
            cb()
        }
    });
    let key = with(|c| {
        let now = c.update_now();
        c.timers.insert(&mut c.gens, now, ms, false, f)
    });
    Timer::new(key, Kind::Timeout)
}

/// Runs `callback` every `delay` (milliseconds or a `Duration`) until
/// cleared (at least 1 ms; at most `TIMEOUT_MAX`, as for [`set_timeout`]).
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use nodenet::Timer;
///
/// let ticks = Rc::new(Cell::new(0));
/// let me: Rc<Cell<Option<Timer>>> = Rc::default();
/// let (t, m) = (ticks.clone(), me.clone());
/// let timer = nodenet::set_interval(
///     move || {
///         t.set(t.get() + 1);
///         if t.get() == 3 {
///             nodenet::clear_interval(m.get().unwrap());
///         }
///     },
///     5, // ms, or a Duration
/// );
/// me.set(Some(timer));
/// nodenet::run()?; // returns once the interval is cleared
/// assert_eq!(ticks.get(), 3);
/// # Ok::<(), nodenet::Error>(())
/// ```
pub fn set_interval(callback: impl FnMut() + 'static, delay: impl IntoDuration) -> Timer {
    let ms = crate::duration::ms(delay);
    let f: Box<dyn FnMut()> = Box::new(callback);
    let key = with(|c| {
        let now = c.update_now();
        c.timers.insert(&mut c.gens, now, ms, true, f)
    });
    Timer::new(key, Kind::Timeout)
}

/// Runs `callback` in the check phase of this loop turn (after I/O).
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
///
/// let order = Rc::new(RefCell::new(Vec::new()));
/// let (a, b, c) = (order.clone(), order.clone(), order.clone());
/// nodenet::set_timeout(move || a.borrow_mut().push("timeout"), 1);
/// nodenet::set_immediate(move || b.borrow_mut().push("immediate"));
/// nodenet::next_tick(move || c.borrow_mut().push("tick"));
/// nodenet::run()?;
/// assert_eq!(order.borrow()[..2], ["tick", "immediate"]);
/// # Ok::<(), nodenet::Error>(())
/// ```
pub fn set_immediate(callback: impl FnOnce() + 'static) -> Timer {
    let key = with(|c| c.immediates.push(&mut c.gens, Box::new(callback)));
    Timer::new(key, Kind::Immediate)
}

/// Runs `callback` as soon as the current callback returns, before any I/O.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
///
/// let order = Rc::new(RefCell::new(Vec::new()));
/// let (a, b, c) = (order.clone(), order.clone(), order.clone());
/// nodenet::set_timeout(move || a.borrow_mut().push("timeout"), 1);
/// nodenet::set_immediate(move || b.borrow_mut().push("immediate"));
/// nodenet::next_tick(move || c.borrow_mut().push("tick"));
/// nodenet::run()?;
/// assert_eq!(order.borrow()[..2], ["tick", "immediate"]);
/// # Ok::<(), nodenet::Error>(())
/// ```
pub fn next_tick(callback: impl FnOnce() + 'static) {
    event_loop::next_tick(callback);
}

/// A one-shot timer set from inside the loop's borrow (the loop's own
/// timers, e.g. a TLS handshake timeout): unref'd, so it never keeps the
/// loop alive by itself.
#[cfg(feature = "tls")]
pub(crate) fn set_internal_timeout(
    c: &mut crate::event_loop::Core,
    callback: impl FnOnce() + 'static,
    ms: u64,
) -> Timer {
    let mut callback = Some(callback);
    let f: Box<dyn FnMut()> = Box::new(move || {
        if let Some(cb) = callback.take() {
            cb()
        }
    });
    let now = c.update_now();
    let key = c.timers.insert(&mut c.gens, now, ms, false, f);
    c.timers.set_ref(key, false);
    Timer::new(key, Kind::Timeout)
}

/// Cancels a [`set_timeout`] timer (a no-op if it already ran).
///
/// # Examples
///
/// ```
/// let timer = nodenet::set_timeout(|| unreachable!("cleared"), 10);
/// nodenet::clear_timeout(timer);
/// nodenet::clear_timeout(timer); // a no-op
/// nodenet::run()?; // returns at once: nothing is pending
/// # Ok::<(), nodenet::Error>(())
/// ```
pub fn clear_timeout(timer: Timer) {
    clear(timer);
}

/// Cancels a [`set_interval`] timer.
///
/// # Examples
///
/// ```
/// let timer = nodenet::set_interval(|| unreachable!("cleared"), 10);
/// nodenet::clear_interval(timer);
/// nodenet::run()?;
/// # Ok::<(), nodenet::Error>(())
/// ```
pub fn clear_interval(timer: Timer) {
    clear(timer);
}

/// Cancels a [`set_immediate`] callback.
///
/// # Examples
///
/// ```
/// let immediate = nodenet::set_immediate(|| unreachable!("cleared"));
/// nodenet::clear_immediate(immediate);
/// nodenet::run()?;
/// # Ok::<(), nodenet::Error>(())
/// ```
pub fn clear_immediate(timer: Timer) {
    clear(timer);
}

/// Cancels a timer from inside the loop's borrow; for the loop's own
/// timers, whose callbacks capture nothing with a `Drop` of its own.
#[cfg(feature = "tls")]
pub(crate) fn cancel_internal_timeout(c: &mut crate::event_loop::Core, timer: Timer) {
    drop(c.timers.cancel(timer.key));
}

fn clear(timer: Timer) {
    // The callback is dropped after the borrow ends: its captures may run
    // any Drop code.
    let (a, b) = with(|c| match timer.kind {
        Kind::Timeout => (c.timers.cancel(timer.key).flatten(), None),
        Kind::Immediate => (None, c.immediates.cancel(timer.key)),
    });
    drop((a, b));
}
