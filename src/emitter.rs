//! Listener storage and Node's emit rules, independent of sockets.
//!
//! Each handle type (`Socket`, `Server`) declares its events and the payload
//! shape each one carries. A closure registered with `.on(name, f)` is
//! checked against that shape where it is registered; a wrong name or shape
//! is refused there with a message naming the expected closure, never stored
//! as a listener that silently never fires.
//!
//! Emitting follows Node's `EventEmitter`:
//! - listeners run in registration order, prepended ones first;
//! - an emit works on a snapshot: a listener removed during the emit still
//!   runs for it, one added during the emit does not;
//! - a `once` listener is removed when it is invoked and never runs twice,
//!   even if the event is re-emitted from inside it.
//!
//! The snapshot is a `SmallVec` of `Rc` clones, so emitting to up to four
//! listeners allocates nothing.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

use bytes::Bytes;
use smallvec::SmallVec;

use crate::error::{Error, ErrorCode};

/// The argument list an event passes after the handle.
///
/// Used in error messages and by [`Listener::SHAPE`]; users meet it only when
/// a registration is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Nothing but the handle: `|s: &Socket|`.
    Unit,
    /// A chunk of received bytes: `|s: &Socket, chunk: &Bytes|`.
    Data,
    /// A chunk of received text: `|s: &Socket, text: &str|`.
    Text,
    /// Whether the close was caused by an error: `|s: &Socket, had_error: bool|`.
    HadError,
    /// An error: `|s: &Socket, err: &Error|`.
    Error,
    /// A new connection: `|server: &Server, socket: &Socket|`.
    Socket,
    /// A dropped connection: `|server: &Server, info: &DropInfo|`.
    Drop,
    /// A name resolution result: `|s: &Socket, lookup: &Lookup|`.
    Lookup,
    /// A connection attempt: `|s: &Socket, attempt: &ConnectionAttempt|`.
    Attempt,
    /// A TLS connection failed before its handshake was done:
    /// `|server: &Server, err: &Error, socket: &Socket|`.
    TlsClientError,
    /// A TLS key log line of one connection:
    /// `|server: &Server, line: &Bytes, socket: &Socket|`.
    Keylog,
}

impl Shape {
    fn closure(self, handle: &str) -> String {
        let h = handle.to_ascii_lowercase();
        let extra = match self {
            Shape::Unit => "",
            Shape::Data => ", chunk: &Bytes",
            Shape::Text => ", text: &str",
            Shape::HadError => ", had_error: bool",
            Shape::Error => ", err: &Error",
            Shape::Socket => ", socket: &Socket",
            Shape::Drop => ", info: &DropInfo",
            Shape::Lookup => ", lookup: &Lookup",
            Shape::Attempt => ", attempt: &ConnectionAttempt",
            Shape::TlsClientError => ", err: &Error, socket: &Socket",
            Shape::Keylog => ", line: &Bytes, socket: &Socket",
        };
        format!("|{h}: &{handle}{extra}|")
    }

    /// The closure's parameter names without types, as a typed method's
    /// closure is written: `|socket, chunk| ..`.
    fn args(self, handle: &str) -> String {
        let h = handle.to_ascii_lowercase();
        let extra = match self {
            Shape::Unit => "",
            Shape::Data => ", chunk",
            Shape::Text => ", text",
            Shape::HadError => ", had_error",
            Shape::Error => ", err",
            Shape::Socket => ", socket",
            Shape::Drop => ", info",
            Shape::Lookup => ", lookup",
            Shape::Attempt => ", attempt",
            Shape::TlsClientError => ", err, socket",
            Shape::Keylog => ", line, socket",
        };
        format!("|{h}{extra}| ..")
    }
}

/// What an event carries, handed to the stored listener.
///
/// Listeners never see this type: [`Listener`] unpacks it into the closure's
/// own parameters.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Payload<'a> {
    /// No payload.
    Unit,
    /// A received chunk.
    Data(&'a Bytes),
    /// A received chunk and its text, after `set_encoding`.
    Text(&'a Bytes, &'a str),
    /// `'close'`'s `had_error`.
    HadError(bool),
    /// An error.
    Error(&'a Error),
    /// A new connection.
    Socket(&'a crate::Socket),
    /// A dropped connection.
    Drop(&'a crate::DropInfo),
    /// A name resolution result.
    Lookup(&'a crate::Lookup),
    /// A connection attempt.
    Attempt(&'a crate::ConnectionAttempt),
    /// A TLS client error and its socket.
    TlsClientError(&'a Error, &'a crate::Socket),
    /// A key log line and its socket.
    Keylog(&'a Bytes, &'a crate::Socket),
}

/// One event of a handle type: its Node name and the payload it carries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventSpec {
    pub(crate) name: &'static str,
    pub(crate) shape: Shape,
    /// A second accepted shape (`'data'` takes `&Bytes` or `&str`).
    pub(crate) alt: Option<Shape>,
}

impl EventSpec {
    pub(crate) const fn new(name: &'static str, shape: Shape) -> EventSpec {
        EventSpec {
            name,
            shape,
            alt: None,
        }
    }

    /// Whether a closure of `shape` can listen to this event: its own
    /// shape, the alternative, or the handle alone.
    fn accepts(&self, shape: Shape) -> bool {
        shape == self.shape || Some(shape) == self.alt || shape == Shape::Unit
    }
}

/// The typed method for an event name: `"connectionAttempt"` ->
/// `on_connection_attempt`.
fn typed_method(name: &str) -> String {
    let mut out = String::from("on_");
    for ch in name.chars() {
        if ch.is_ascii_uppercase() {
            out.push('_');
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

/// The stored form of every listener: the handle, then the payload.
#[doc(hidden)]
pub type ListenerFn<H> = dyn FnMut(&H, &Payload<'_>);

/// A listener's closure plus the flag that keeps a `once` listener from
/// running twice when its event is re-emitted from inside it.
#[doc(hidden)]
pub struct ListenerCell<F: ?Sized> {
    fired: Cell<bool>,
    f: RefCell<F>,
}

#[doc(hidden)]
pub type ListenerRc<H> = Rc<ListenerCell<ListenerFn<H>>>;

/// A closure that can listen to an event of handle type `H`.
///
/// Implemented for closures of each payload shape; `Args` only tells the
/// shapes apart. Annotate the closure's parameters
/// (`|s: &Socket, chunk: &Bytes|`): the annotation both selects the shape and
/// documents it. A closure that takes only the handle (`|s: &Socket|`) fits
/// every event and ignores its payload, as a JavaScript `() => {}` does. The
/// typed methods (`on_data`, `on_close`, ...) need no annotations.
#[diagnostic::on_unimplemented(
    message = "this closure cannot listen to a `{H}` event",
    label = "not a listener closure of a shape `{H}`'s events take",
    note = "the string form needs the parameter types written out; every event takes \
            `|s: &Socket|` or `|srv: &Server|` (the payload ignored), and these take their payload:",
    note = "Socket 'data': `|s: &Socket, chunk: &Bytes|` or `|s: &Socket, text: &str|`; \
            'close': `|s: &Socket, had_error: bool|`; 'error': `|s: &Socket, err: &Error|`; \
            'lookup': `|s: &Socket, lookup: &Lookup|`; 'connectionAttempt', \
            'connectionAttemptFailed', 'connectionAttemptTimeout': \
            `|s: &Socket, attempt: &ConnectionAttempt|`; 'connect', 'ready', 'end', 'finish', \
            'drain', 'timeout': `|s: &Socket|`",
    note = "Server 'connection', 'secureConnection': `|srv: &Server, socket: &Socket|`; 'error': \
            `|srv: &Server, err: &Error|`; 'drop': `|srv: &Server, info: &DropInfo|`; \
            'tlsClientError': `|srv: &Server, err: &Error, socket: &Socket|`; 'keylog': \
            `|srv: &Server, line: &Bytes, socket: &Socket|`; 'listening', 'close': `|srv: &Server|`",
    note = "the typed methods infer the parameters: `socket.on_data(|s, chunk| ..)`, \
            `socket.on_close(|s, had_error| ..)`, `server.on_connection(|srv, socket| ..)`"
)]
pub trait Listener<H, Args>: 'static {
    /// The payload shape this closure accepts.
    const SHAPE: Shape;
    #[doc(hidden)]
    fn into_listener(self) -> ListenerRc<H>;
}

fn cell<H, F: FnMut(&H, &Payload<'_>) + 'static>(f: F) -> ListenerRc<H> {
    Rc::new(ListenerCell {
        fired: Cell::new(false),
        f: RefCell::new(f),
    })
}

macro_rules! listener_shape {
    ($args:ty, $shape:ident, ($($arg:ident: $ty:ty),*), $variant:ident($bind:ident) => ($($call:expr),*)) => {
        impl<H: 'static, F> Listener<H, $args> for F
        where
            F: FnMut(&H $(, $ty)*) + 'static,
        {
            const SHAPE: Shape = Shape::$shape;
            fn into_listener(mut self) -> ListenerRc<H> {
                cell(move |h: &H, p: &Payload<'_>| {
                    if let Payload::$variant($bind) = *p {
                        self(h $(, $call)*)
                    }
                })
            }
        }
    };
}

impl<H: 'static, F> Listener<H, ()> for F
where
    F: FnMut(&H) + 'static,
{
    const SHAPE: Shape = Shape::Unit;
    fn into_listener(mut self) -> ListenerRc<H> {
        cell(move |h: &H, _: &Payload<'_>| self(h))
    }
}

impl<H: 'static, F> Listener<H, (Bytes,)> for F
where
    F: FnMut(&H, &Bytes) + 'static,
{
    const SHAPE: Shape = Shape::Data;
    fn into_listener(mut self) -> ListenerRc<H> {
        cell(move |h: &H, p: &Payload<'_>| match *p {
            Payload::Data(b) | Payload::Text(b, _) => self(h, b),
            _ => {}
        })
    }
}

impl<H: 'static, F> Listener<H, (String,)> for F
where
    F: FnMut(&H, &str) + 'static,
{
    const SHAPE: Shape = Shape::Text;
    fn into_listener(mut self) -> ListenerRc<H> {
        cell(move |h: &H, p: &Payload<'_>| match *p {
            Payload::Text(_, t) => self(h, t),
            // Not reached on sockets: a text listener turns UTF-8 decoding
            // on. Kept total for any other emitter.
            Payload::Data(b) => self(h, &String::from_utf8_lossy(b)),
            _ => {}
        })
    }
}
listener_shape!((bool,), HadError, (had_error: bool), HadError(b) => (b));
listener_shape!((Error,), Error, (err: &Error), Error(e) => (e));
listener_shape!((crate::Socket,), Socket, (s: &crate::Socket), Socket(s) => (s));
listener_shape!((crate::DropInfo,), Drop, (d: &crate::DropInfo), Drop(d) => (d));
listener_shape!((crate::Lookup,), Lookup, (l: &crate::Lookup), Lookup(l) => (l));
listener_shape!((crate::ConnectionAttempt,), Attempt, (a: &crate::ConnectionAttempt), Attempt(a) => (a));

impl<H: 'static, F> Listener<H, (Error, crate::Socket)> for F
where
    F: FnMut(&H, &Error, &crate::Socket) + 'static,
{
    const SHAPE: Shape = Shape::TlsClientError;
    fn into_listener(mut self) -> ListenerRc<H> {
        cell(move |h: &H, p: &Payload<'_>| {
            if let Payload::TlsClientError(e, s) = *p {
                self(h, e, s)
            }
        })
    }
}

impl<H: 'static, F> Listener<H, (Bytes, crate::Socket)> for F
where
    F: FnMut(&H, &Bytes, &crate::Socket) + 'static,
{
    const SHAPE: Shape = Shape::Keylog;
    fn into_listener(mut self) -> ListenerRc<H> {
        cell(move |h: &H, p: &Payload<'_>| {
            if let Payload::Keylog(line, s) = *p {
                self(h, line, s)
            }
        })
    }
}

/// Identifies one registration, for [`off`](crate::Socket::off).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(u32);

struct Entry<H> {
    event: u8,
    once: bool,
    id: ListenerId,
    f: ListenerRc<H>,
}

/// The listeners of one handle, in registration order, with a bit per event
/// that has any. The first listener lives inline and the rest on the heap,
/// and a second mask says which events have listeners there: the hot path
/// ("any 'data' listener?", "which ones?") usually touches neither the heap
/// list nor any cache line beyond the handle's own. `repr(C)`: the masks and
/// the inline entry come first (see the layout of `SocketState`).
#[repr(C)]
pub(crate) struct Listeners<H> {
    mask: u16,
    rest_mask: u16,
    next_id: u32,
    first: Option<Entry<H>>,
    /// Empty while `first` is `None`.
    rest: Vec<Entry<H>>,
}

/// Listeners taken out of a handle, to be dropped once no loop state is
/// borrowed (their captured values may run arbitrary `Drop` code).
pub(crate) struct Removed<H>(#[allow(dead_code)] Vec<Entry<H>>);

/// One listener as an emit found it.
pub(crate) struct SnapEntry<H> {
    once: bool,
    id: ListenerId,
    f: ListenerRc<H>,
}

impl<H> SnapEntry<H> {
    fn of(e: &Entry<H>) -> SnapEntry<H> {
        SnapEntry {
            once: e.once,
            id: e.id,
            f: e.f.clone(),
        }
    }
}

/// What an emit calls: the listeners present when it started. A sole
/// listener, the common case on the hot path, is one `Rc` clone; several
/// are kept inline up to two (no allocation).
pub(crate) enum Snapshot<H> {
    Empty,
    One(SnapEntry<H>),
    Many(SmallVec<[SnapEntry<H>; 2]>),
}

impl<H> Snapshot<H> {
    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, Snapshot::Empty)
    }
}

impl<H> Default for Listeners<H> {
    fn default() -> Self {
        Listeners {
            mask: 0,
            rest_mask: 0,
            next_id: 0,
            first: None,
            rest: Vec::new(),
        }
    }
}

/// The mask bit of an event; every event table has at most 16 events (a
/// compile-time check in [`EventTarget`]).
fn bit(event: u8) -> u16 {
    1u16 << (event & 15)
}

impl<H> Listeners<H> {
    fn iter(&self) -> impl Iterator<Item = &Entry<H>> {
        self.first.iter().chain(self.rest.iter())
    }

    fn recompute_masks(&mut self) {
        self.rest_mask = self.rest.iter().fold(0, |m, e| m | bit(e.event));
        self.mask = self.first.as_ref().map_or(0, |e| bit(e.event)) | self.rest_mask;
    }

    /// Removes the entry at `pos` in registration order.
    fn remove_at(&mut self, pos: usize) -> Entry<H> {
        let entry = if pos == 0 {
            let entry = self.first.take().expect("position 0 is the inline entry");
            if !self.rest.is_empty() {
                self.first = Some(self.rest.remove(0));
            }
            entry
        } else {
            self.rest.remove(pos - 1)
        };
        self.recompute_masks();
        entry
    }

    /// Removes the entry with this id (a `once` listener being invoked).
    fn remove_id(&mut self, id: ListenerId) -> Option<Entry<H>> {
        let pos = self.iter().position(|e| e.id == id)?;
        Some(self.remove_at(pos))
    }

    pub(crate) fn add(
        &mut self,
        event: u8,
        once: bool,
        prepend: bool,
        f: ListenerRc<H>,
    ) -> ListenerId {
        self.next_id = self.next_id.wrapping_add(1);
        let id = ListenerId(self.next_id);
        let entry = Entry { event, once, id, f };
        match self.first.take() {
            None => self.first = Some(entry),
            Some(old) if prepend => {
                self.rest.insert(0, old);
                self.first = Some(entry);
            }
            Some(old) => {
                self.first = Some(old);
                self.rest.push(entry);
            }
        }
        self.recompute_masks();
        id
    }

    /// Removes one registration; `Some` with the removed listener if it was there.
    pub(crate) fn remove(&mut self, event: u8, id: ListenerId) -> Option<Removed<H>> {
        let pos = self.iter().position(|e| e.event == event && e.id == id)?;
        Some(Removed(vec![self.remove_at(pos)]))
    }

    /// Removes the registration `id`, whatever its event.
    pub(crate) fn remove_id_any(&mut self, id: ListenerId) -> Option<Removed<H>> {
        self.remove_id(id).map(|e| Removed(vec![e]))
    }

    /// Removes every listener of `event`, or of all events.
    pub(crate) fn remove_all(&mut self, event: Option<u8>) -> Removed<H> {
        let mut all: Vec<Entry<H>> = Vec::with_capacity(self.rest.len() + 1);
        all.extend(self.first.take());
        all.append(&mut self.rest);
        let removed = match event {
            None => all,
            Some(ev) => {
                let (removed, kept): (Vec<_>, Vec<_>) =
                    all.into_iter().partition(|e| e.event == ev);
                let mut kept = kept.into_iter();
                self.first = kept.next();
                self.rest.extend(kept);
                removed
            }
        };
        self.recompute_masks();
        Removed(removed)
    }

    pub(crate) fn count(&self, event: u8) -> usize {
        if !self.has(event) {
            return 0;
        }
        self.iter().filter(|e| e.event == event).count()
    }

    pub(crate) fn has(&self, event: u8) -> bool {
        self.mask & bit(event) != 0
    }

    /// Starts loading the first listener of `event` (its closure's cache
    /// line), so that an emit after a system call finds it in the cache.
    pub(crate) fn prefetch(&self, event: u8) {
        if let Some(e) = self.first.as_ref().filter(|e| e.event == event) {
            crate::prefetch::prefetch_read(Rc::as_ptr(&e.f));
        }
    }

    /// The listeners of `event`, in order. The heap list is read only when
    /// the event has listeners there.
    pub(crate) fn snapshot(&self, event: u8) -> Snapshot<H> {
        if !self.has(event) {
            return Snapshot::Empty;
        }
        if self.rest_mask & bit(event) == 0 {
            // Only the inline entry can be this event's.
            return match self.first.as_ref() {
                Some(e) if e.event == event => Snapshot::One(SnapEntry::of(e)),
                _ => Snapshot::Empty,
            };
        }
        let mut all: SmallVec<[SnapEntry<H>; 2]> = SmallVec::new();
        for e in self.iter().filter(|e| e.event == event) {
            all.push(SnapEntry::of(e));
        }
        match all.len() {
            0 => Snapshot::Empty,
            1 => Snapshot::One(all.pop().expect("one entry")),
            _ => Snapshot::Many(all),
        }
    }
}

/// Looks an event name up in a handle type's table and checks the closure's
/// shape against it.
pub(crate) fn resolve(
    events: &[EventSpec],
    handle: &str,
    name: &str,
    shape: Shape,
) -> Result<u8, Error> {
    match events.iter().position(|e| e.name == name) {
        None => {
            let known: Vec<&str> = events.iter().map(|e| e.name).collect();
            Err(Error::new(
                ErrorCode::ERR_INVALID_ARG_VALUE,
                format!(
                    "{handle} has no event '{name}'; its events are: {}",
                    known.join(", ")
                ),
            ))
        }
        Some(i) if !events[i].accepts(shape) => {
            let spec = &events[i];
            let mut expected = spec.shape.closure(handle);
            if let Some(alt) = spec.alt {
                expected = format!("{expected} or {}", alt.closure(handle));
            }
            Err(Error::new(
                ErrorCode::ERR_INVALID_ARG_TYPE,
                format!(
                    "'{name}' listeners on a {handle} take {expected} (or {}, which ignores \
                     the payload), but this closure takes {}; {}.{}({}) needs no annotations",
                    Shape::Unit.closure(handle),
                    shape.closure(handle),
                    handle.to_ascii_lowercase(),
                    typed_method(name),
                    spec.shape.args(handle),
                ),
            ))
        }
        Some(i) => Ok(i as u8),
    }
}

/// Where an emit finds the live listener list of a handle, to remove a
/// `once` listener as it is invoked. Implemented by the handle types over the
/// loop's state; the borrow lasts only for the removal.
pub(crate) trait ListenerHost: Sized {
    fn with_listeners<R>(&self, f: impl FnOnce(&mut Listeners<Self>) -> R) -> Option<R>;
}

/// Calls every listener of a snapshot, in order, with Node's `once` rule.
/// Returns whether there was any listener.
pub(crate) fn call<H: ListenerHost>(
    handle: &H,
    snapshot: Snapshot<H>,
    payload: &Payload<'_>,
) -> bool {
    match snapshot {
        Snapshot::Empty => false,
        Snapshot::One(entry) => {
            invoke(handle, entry, payload);
            true
        }
        Snapshot::Many(entries) => {
            for entry in entries {
                invoke(handle, entry, payload);
            }
            true
        }
    }
}

fn invoke<H: ListenerHost>(handle: &H, entry: SnapEntry<H>, payload: &Payload<'_>) {
    if entry.once {
        if entry.f.fired.replace(true) {
            return;
        }
        let id = entry.id;
        // Drop the removed entry after the borrow ends.
        let removed = handle.with_listeners(|l| l.remove_id(id));
        drop(removed);
    }
    // A listener already running (the event re-emitted from inside it) is
    // skipped: an `FnMut` cannot be entered twice.
    if let Ok(mut f) = entry.f.f.try_borrow_mut() {
        (f)(handle, payload);
    }
}

/// A handle type that emits events: its name and event table, and what to
/// do when a listener is added (a `'data'` listener starts a socket flowing).
pub(crate) trait EventTarget: ListenerHost + Copy + 'static {
    const NAME: &'static str;
    const EVENTS: &'static [EventSpec];
    /// Evaluated where listeners are added: a table of more than 16 events
    /// fails the build, as [`Listeners`] keeps one mask bit per event.
    const FITS_MASK: () = assert!(Self::EVENTS.len() <= 16);
    fn listener_added(&self, _event: u8, _shape: Shape) {}
}

/// Checks and stores a listener.
pub(crate) fn add_listener<H: EventTarget, A, F: Listener<H, A>>(
    handle: &H,
    name: &str,
    listener: F,
    once: bool,
    prepend: bool,
) -> Result<ListenerId, Error> {
    let event = resolve(H::EVENTS, H::NAME, name, F::SHAPE)?;
    Ok(add_resolved(handle, event, listener, once, prepend))
}

/// Stores a listener for an event already looked up (the typed methods,
/// whose signatures fix the shape).
pub(crate) fn add_resolved<H: EventTarget, A, F: Listener<H, A>>(
    handle: &H,
    event: u8,
    listener: F,
    once: bool,
    prepend: bool,
) -> ListenerId {
    #[allow(clippy::let_unit_value)]
    let () = H::FITS_MASK;
    let rc = listener.into_listener();
    let mut rc = Some(rc);
    let id = handle.with_listeners(|l| l.add(event, once, prepend, rc.take().expect("once")));
    // On a stale handle the listener is dropped here, outside the borrow.
    drop(rc);
    handle.listener_added(event, F::SHAPE);
    id.unwrap_or(ListenerId(0))
}

/// [`add_listener`], refusing a wrong name or shape with a panic that
/// points at the registration.
#[track_caller]
pub(crate) fn register<H: EventTarget, A, F: Listener<H, A>>(
    handle: &H,
    name: &str,
    listener: F,
    once: bool,
    prepend: bool,
) -> ListenerId {
    match add_listener(handle, name, listener, once, prepend) {
        Ok(id) => id,
        Err(e) => panic!("{e}"),
    }
}

pub(crate) fn event_index<H: EventTarget>(name: &str) -> Option<u8> {
    H::EVENTS
        .iter()
        .position(|e| e.name == name)
        .map(|i| i as u8)
}

/// The registration methods shared by every handle type, as inherent
/// methods so that no trait import is needed.
macro_rules! emitter_methods {
    ($handle:ident, $example:literal) => {
        impl $handle {
            /// Adds `listener` for `event` (Node's `on` / `addListener`).
            /// Listeners run in registration order. Returns the handle, for
            /// chaining.
            ///
            /// The closure takes the handle, then the event's payload, with
            /// the types written out; a closure of the handle alone fits
            /// every event and ignores the payload, as `() => {}` does in
            /// JavaScript. The typed methods (`on_<event>`) need no
            /// annotations.
            ///
            /// # Examples
            ///
            #[doc = $example]
            ///
            /// # Panics
            ///
            /// If `event` is not one of this handle's events, or `listener`
            /// does not take that event's payload; the message names the
            /// expected closure. [`try_on`](Self::try_on) returns the same
            /// refusal as an error.
            #[track_caller]
            pub fn on<A, F: $crate::emitter::Listener<$handle, A>>(
                &self,
                event: &str,
                listener: F,
            ) -> $handle {
                $crate::emitter::register(self, event, listener, false, false);
                *self
            }

            /// [`on`](Self::on) returning a refused registration as an error
            /// (`ERR_INVALID_ARG_VALUE` for an unknown event,
            /// `ERR_INVALID_ARG_TYPE` for a wrong closure shape).
            pub fn try_on<A, F: $crate::emitter::Listener<$handle, A>>(
                &self,
                event: &str,
                listener: F,
            ) -> Result<$handle, $crate::Error> {
                $crate::emitter::add_listener(self, event, listener, false, false)?;
                Ok(*self)
            }

            /// Adds a listener that runs at most once, then is removed.
            ///
            /// # Examples
            ///
            #[doc = concat!("```\n# use nodenet::{tcp, Server, ServerOptions, Socket, SocketOptions};\n# trait Make { fn make() -> Self; fn done(&self); }\n# impl Make for Socket {\n#     fn make() -> Self { Socket::new(SocketOptions::default()) }\n#     fn done(&self) { self.destroy(); }\n# }\n# impl Make for Server {\n#     fn make() -> Self { tcp::create_server(ServerOptions::default(), |_, _| {}) }\n#     fn done(&self) { self.close(); }\n# }\n# let handle = <", stringify!($handle), " as Make>::make();\nhandle.once(\"close\", |_: &", stringify!($handle), "| println!(\"closed\"));\nassert_eq!(handle.listener_count(\"close\"), 1);\n# handle.done();\n# nodenet::run()?;\n# assert_eq!(handle.listener_count(\"close\"), 0);\n# Ok::<(), nodenet::Error>(())\n```")]
            ///
            /// # Panics
            ///
            /// As [`on`](Self::on).
            #[track_caller]
            pub fn once<A, F: $crate::emitter::Listener<$handle, A>>(
                &self,
                event: &str,
                listener: F,
            ) -> $handle {
                $crate::emitter::register(self, event, listener, true, false);
                *self
            }

            /// Adds a listener ahead of the existing ones.
            ///
            /// # Panics
            ///
            /// As [`on`](Self::on).
            #[track_caller]
            pub fn prepend_listener<A, F: $crate::emitter::Listener<$handle, A>>(
                &self,
                event: &str,
                listener: F,
            ) -> $handle {
                $crate::emitter::register(self, event, listener, false, true);
                *self
            }

            /// Adds a once listener ahead of the existing ones.
            ///
            /// # Panics
            ///
            /// As [`on`](Self::on).
            #[track_caller]
            pub fn prepend_once_listener<A, F: $crate::emitter::Listener<$handle, A>>(
                &self,
                event: &str,
                listener: F,
            ) -> $handle {
                $crate::emitter::register(self, event, listener, true, true);
                *self
            }

            /// Adds a listener and returns its id, for [`off`](Self::off)
            /// (Rust closures have no identity to remove them by).
            ///
            /// # Panics
            ///
            /// As [`on`](Self::on).
            #[track_caller]
            pub fn add_listener<A, F: $crate::emitter::Listener<$handle, A>>(
                &self,
                event: &str,
                listener: F,
            ) -> $crate::ListenerId {
                $crate::emitter::register(self, event, listener, false, false)
            }

            /// Removes the listener `id` from `event` (Node's `off` /
            /// `removeListener`). If an emit is running, the listener still
            /// runs for it. Unknown names and ids are ignored.
            ///
            /// # Examples
            ///
            #[doc = concat!("```\n# use nodenet::{tcp, Server, ServerOptions, Socket, SocketOptions};\n# trait Make { fn make() -> Self; fn done(&self); }\n# impl Make for Socket {\n#     fn make() -> Self { Socket::new(SocketOptions::default()) }\n#     fn done(&self) { self.destroy(); }\n# }\n# impl Make for Server {\n#     fn make() -> Self { tcp::create_server(ServerOptions::default(), |_, _| {}) }\n#     fn done(&self) { self.close(); }\n# }\n# let handle = <", stringify!($handle), " as Make>::make();\n// Node removes by function; a closure has no identity, so keep its id.\nlet id = handle.add_listener(\"close\", |_: &", stringify!($handle), "| println!(\"closed\"));\nassert_eq!(handle.listener_count(\"close\"), 1);\nhandle.off(\"close\", id);\nassert_eq!(handle.listener_count(\"close\"), 0);\n# handle.done();\n```")]
            pub fn off(&self, event: &str, id: $crate::ListenerId) -> $handle {
                use $crate::emitter::ListenerHost;
                if let Some(ev) = $crate::emitter::event_index::<$handle>(event) {
                    let removed = self.with_listeners(|l| l.remove(ev, id));
                    drop(removed);
                }
                *self
            }

            /// Removes the listener `id`, whatever its event: the typed
            /// form of [`off`](Self::off), for ids from
            /// [`register`](Self::register). Unknown ids are ignored.
            pub fn remove_listener(&self, id: $crate::ListenerId) -> $handle {
                use $crate::emitter::ListenerHost;
                let removed = self.with_listeners(|l| l.remove_id_any(id));
                drop(removed);
                *self
            }

            /// Removes every listener of `event`, or of every event with
            /// `None`.
            pub fn remove_all_listeners<'a>(&self, event: impl Into<Option<&'a str>>) -> $handle {
                use $crate::emitter::ListenerHost;
                let event = match event.into() {
                    None => None,
                    Some(name) => match $crate::emitter::event_index::<$handle>(name) {
                        Some(ev) => Some(ev),
                        None => return *self,
                    },
                };
                let removed = self.with_listeners(|l| l.remove_all(event));
                drop(removed);
                *self
            }

            /// How many listeners `event` has.
            pub fn listener_count(&self, event: &str) -> usize {
                use $crate::emitter::ListenerHost;
                match $crate::emitter::event_index::<$handle>(event) {
                    Some(ev) => self.with_listeners(|l| l.count(ev)).unwrap_or(0),
                    None => 0,
                }
            }
        }
    };
}
pub(crate) use emitter_methods;

/// A typed registration with options, from `register()` on a [`Socket`]
/// or a [`Server`]: `socket.register().once().prepend().data(|s, chunk| ..)`
/// adds the listener and returns its id, for
/// [`remove_listener`](crate::Socket::remove_listener). The event methods
/// take the same closures as the handles' `on_*` methods, with the same
/// semantics as the string form.
///
/// [`Socket`]: crate::Socket
/// [`Server`]: crate::Server
///
/// # Examples
///
/// ```
/// use nodenet::{Socket, SocketOptions};
///
/// let socket = Socket::new(SocketOptions::default());
/// socket.on_close(|_, _| println!("second"));
/// let id = socket.register().prepend().once().close(|_, had_error| {
///     println!("first, once (had_error: {had_error})");
/// });
/// assert_eq!(socket.listener_count("close"), 2);
/// socket.remove_listener(id);
/// assert_eq!(socket.listener_count("close"), 1);
/// ```
///
/// A closure of the wrong shape does not compile: `'close'` passes
/// `had_error`,
///
/// ```compile_fail,E0593
/// # let socket = nodenet::Socket::new(nodenet::SocketOptions::default());
/// socket.on_close(|s| println!("closed"));
/// ```
///
/// and `'data'` lends its chunk, it does not give it away:
///
/// ```compile_fail,E0631
/// # let socket = nodenet::Socket::new(nodenet::SocketOptions::default());
/// socket.on_data(|s, chunk: nodenet::Bytes| drop(chunk));
/// ```
#[derive(Debug, Clone, Copy)]
#[must_use = "a registration adds nothing until one of its event methods is called"]
pub struct Registration<H> {
    pub(crate) handle: H,
    pub(crate) once: bool,
    pub(crate) prepend: bool,
}

impl<H> Registration<H> {
    pub(crate) fn new(handle: H) -> Registration<H> {
        Registration {
            handle,
            once: false,
            prepend: false,
        }
    }

    /// The listener runs at most once, then is removed (Node's `once`).
    pub fn once(mut self) -> Registration<H> {
        self.once = true;
        self
    }

    /// The listener goes ahead of the existing ones (Node's
    /// `prependListener`).
    pub fn prepend(mut self) -> Registration<H> {
        self.prepend = true;
        self
    }
}

/// The typed registration methods of a handle type: per event, `on_<event>`
/// and `once_<event>` on the handle, and `<event>` on its
/// [`Registration`]. Each takes a closure of exactly the event's shape, so
/// the closure's parameters need no annotations and a wrong shape is a
/// compile error.
macro_rules! typed_events {
    ($handle:ident, $var:literal {
        $( $name:literal => $event:ident = $index:expr, $on:ident, $once:ident,
           ($($ty:ty),*) as $args:ty, $what:literal; )*
    }) => {
        impl $handle {
            $(
                #[doc = concat!("Adds a `'", $name, "'` listener: ", $what,
                    " Node's `", $var, ".on('", $name, "', ...)`, with the closure's \
                    parameters inferred. Same rules as [`on`](Self::on): registration \
                    order, a snapshot per emit. Returns the handle, for chaining; \
                    [`register`](Self::register) gives the id, `once` and `prepend` forms.")]
                pub fn $on(&self, listener: impl FnMut(&$handle $(, $ty)*) + 'static) -> $handle {
                    $crate::emitter::add_resolved::<$handle, $args, _>(self, $index, listener, false, false);
                    *self
                }

                #[doc = concat!("Adds a `'", $name, "'` listener that runs at most once, then \
                    is removed (Node's `", $var, ".once('", $name, "', ...)`): ", $what)]
                pub fn $once(&self, listener: impl FnMut(&$handle $(, $ty)*) + 'static) -> $handle {
                    $crate::emitter::add_resolved::<$handle, $args, _>(self, $index, listener, true, false);
                    *self
                }
            )*

            /// Starts a typed registration with options (`once`, `prepend`)
            /// that returns the listener's id; see [`Registration`](crate::Registration).
            pub fn register(&self) -> $crate::Registration<$handle> {
                $crate::Registration::new(*self)
            }
        }

        impl $crate::Registration<$handle> {
            $(
                #[doc = concat!("Adds a `'", $name, "'` listener with this registration's \
                    options and returns its id: ", $what)]
                pub fn $event(self, listener: impl FnMut(&$handle $(, $ty)*) + 'static) -> $crate::ListenerId {
                    $crate::emitter::add_resolved::<$handle, $args, _>(
                        &self.handle, $index, listener, self.once, self.prepend,
                    )
                }
            )*
        }
    };
}
pub(crate) use typed_events;

impl fmt::Debug for ListenerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ListenerId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A handle whose listeners live in a thread-local, as a socket's live in
    /// the loop: the emitter rules tested without any socket.
    #[derive(Clone, Copy)]
    struct Thing;

    thread_local! {
        static LISTENERS: RefCell<Listeners<Thing>> = RefCell::new(Listeners::default());
        static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    }

    impl ListenerHost for Thing {
        fn with_listeners<R>(&self, f: impl FnOnce(&mut Listeners<Self>) -> R) -> Option<R> {
            LISTENERS.with(|l| Some(f(&mut l.borrow_mut())))
        }
    }

    const EVENTS: &[EventSpec] = &[
        EventSpec::new("x", Shape::Unit),
        EventSpec::new("data", Shape::Data),
    ];

    fn on<A, F: Listener<Thing, A>>(name: &str, once: bool, prepend: bool, f: F) -> ListenerId {
        let ev = resolve(EVENTS, "Thing", name, F::SHAPE).unwrap();
        let rc = f.into_listener();
        LISTENERS.with(|l| l.borrow_mut().add(ev, once, prepend, rc))
    }

    fn emit(name: &str) -> bool {
        let ev = resolve(EVENTS, "Thing", name, Shape::Unit).unwrap();
        let snap = LISTENERS.with(|l| l.borrow().snapshot(ev));
        call(&Thing, snap, &Payload::Unit)
    }

    fn log(s: &str) {
        LOG.with(|l| l.borrow_mut().push(s.to_string()));
    }

    fn take_log() -> Vec<String> {
        LOG.with(|l| std::mem::take(&mut *l.borrow_mut()))
    }

    fn reset() {
        LISTENERS.with(|l| *l.borrow_mut() = Listeners::default());
        take_log();
    }

    /// The inline first entry and the heap rest behave as one ordered list
    /// through every change, and the masks follow it.
    #[test]
    fn inline_first_and_heap_rest_keep_one_order() {
        reset();
        let x = resolve(EVENTS, "Thing", "x", Shape::Unit).unwrap();
        let a = on("x", false, false, |_: &Thing| log("a"));
        on("x", false, false, |_: &Thing| log("b"));
        on("x", false, true, |_: &Thing| log("p"));
        assert!(emit("x"));
        assert_eq!(take_log(), ["p", "a", "b"]);
        // The inline entry leaves: the next one takes its place.
        let p_id = LISTENERS.with(|l| l.borrow().first.as_ref().map(|e| e.id));
        assert!(p_id.is_some());
        LISTENERS.with(|l| l.borrow_mut().remove(x, p_id.unwrap()));
        assert!(emit("x"));
        assert_eq!(take_log(), ["a", "b"]);
        LISTENERS.with(|l| l.borrow_mut().remove(x, a));
        assert!(emit("x"));
        assert_eq!(take_log(), ["b"]);
        LISTENERS.with(|l| {
            let l = l.borrow();
            assert!(l.rest.is_empty() && l.rest_mask == 0 && l.has(x));
        });
        // Removing one event's listeners keeps the others in order.
        on("data", false, false, |_: &Thing, _: &Bytes| log("d"));
        on("x", false, false, |_: &Thing| log("c"));
        LISTENERS.with(|l| drop(l.borrow_mut().remove_all(Some(x))));
        assert!(!emit("x"));
        LISTENERS.with(|l| {
            let l = l.borrow();
            assert_eq!(l.count(1), 1);
            assert!(l.rest.is_empty() && l.rest_mask == 0 && l.mask == bit(1));
        });
        LISTENERS.with(|l| drop(l.borrow_mut().remove_all(None)));
        LISTENERS.with(|l| assert_eq!(l.borrow().mask, 0));
    }

    #[test]
    fn a_once_listener_inline_is_removed_as_it_runs() {
        reset();
        on("x", true, false, |_: &Thing| log("once"));
        on("x", false, false, |_: &Thing| log("always"));
        assert!(emit("x"));
        assert!(emit("x"));
        assert_eq!(take_log(), ["once", "always", "always"]);
        LISTENERS.with(|l| assert_eq!(l.borrow().count(0), 1));
    }

    #[test]
    fn registration_order_with_prepend_first() {
        reset();
        on("x", false, false, |_: &Thing| log("a"));
        on("x", false, false, |_: &Thing| log("b"));
        on("x", false, true, |_: &Thing| log("first"));
        assert!(emit("x"));
        assert_eq!(take_log(), ["first", "a", "b"]);
    }

    #[test]
    fn emit_without_listeners_returns_false() {
        reset();
        assert!(!emit("x"));
    }

    #[test]
    fn listener_added_during_emit_waits_for_the_next() {
        reset();
        on("x", false, false, |_: &Thing| {
            log("outer");
            on("x", false, false, |_: &Thing| log("added"));
        });
        emit("x");
        assert_eq!(take_log(), ["outer"]);
        emit("x");
        assert_eq!(take_log(), ["outer", "added"]);
    }

    #[test]
    fn listener_removed_during_emit_still_runs_for_it() {
        reset();
        let second = Rc::new(Cell::new(None));
        let s2 = second.clone();
        on("x", false, false, move |_: &Thing| {
            log("a");
            let id = s2.get().unwrap();
            LISTENERS.with(|l| drop(l.borrow_mut().remove(0, id)));
        });
        second.set(Some(on("x", false, false, |_: &Thing| log("b"))));
        emit("x");
        assert_eq!(take_log(), ["a", "b"]);
        emit("x");
        assert_eq!(take_log(), ["a"]);
    }

    #[test]
    fn once_reemitted_from_inside_reaches_the_others_but_not_itself() {
        // Node's test-event-emitter-once: fn1 re-emits, fn2 is also once.
        reset();
        on("x", true, false, |_: &Thing| {
            log("fn1");
            emit("x");
        });
        on("x", true, false, |_: &Thing| log("fn2"));
        emit("x");
        emit("x");
        assert_eq!(take_log(), ["fn1", "fn2"]);
        LISTENERS.with(|l| assert_eq!(l.borrow().count(0), 0));
    }

    #[test]
    fn once_can_be_removed_before_it_fires() {
        reset();
        let id = on("x", true, false, |_: &Thing| log("never"));
        assert!(LISTENERS.with(|l| l.borrow_mut().remove(0, id)).is_some());
        assert!(!emit("x"));
        assert!(take_log().is_empty());
    }

    #[test]
    fn same_closure_shape_twice_runs_twice() {
        reset();
        on("x", false, false, |_: &Thing| log("a"));
        on("x", false, false, |_: &Thing| log("a"));
        emit("x");
        assert_eq!(take_log(), ["a", "a"]);
    }

    #[test]
    fn remove_all_of_one_event_keeps_the_others() {
        reset();
        on("x", false, false, |_: &Thing| log("x"));
        on("data", false, false, |_: &Thing, _: &Bytes| log("d"));
        LISTENERS.with(|l| {
            let mut l = l.borrow_mut();
            drop(l.remove_all(Some(0)));
            assert_eq!(l.count(0), 0);
            assert_eq!(l.count(1), 1);
        });
    }

    #[test]
    fn unknown_event_is_refused_with_the_list() {
        let err = resolve(EVENTS, "Thing", "dat", Shape::Data).unwrap_err();
        assert_eq!(err.code(), "ERR_INVALID_ARG_VALUE");
        assert!(err.message().contains("no event 'dat'"), "{}", err);
        assert!(err.message().contains("x, data"), "{}", err);
    }

    #[test]
    fn wrong_shape_is_refused_naming_the_expected_closure() {
        let err = resolve(EVENTS, "Thing", "data", Shape::HadError).unwrap_err();
        assert_eq!(err.code(), "ERR_INVALID_ARG_TYPE");
        assert_eq!(
            err.message(),
            "'data' listeners on a Thing take |thing: &Thing, chunk: &Bytes| (or |thing: &Thing|, \
             which ignores the payload), but this closure takes |thing: &Thing, had_error: bool|; \
             thing.on_data(|thing, chunk| ..) needs no annotations"
        );
    }

    /// A closure of the handle alone fits every event, as `() => {}` does
    /// in JavaScript.
    #[test]
    fn a_handle_only_closure_fits_every_event() {
        for name in ["x", "data"] {
            assert!(
                resolve(EVENTS, "Thing", name, Shape::Unit).is_ok(),
                "{name}"
            );
        }
        reset();
        on("data", false, false, |_: &Thing| log("ignored the chunk"));
        let snap = LISTENERS.with(|l| l.borrow().snapshot(1));
        call(&Thing, snap, &Payload::Data(&Bytes::from_static(b"hi")));
        assert_eq!(take_log(), ["ignored the chunk"]);
    }

    #[test]
    fn typed_method_names_follow_the_event_names() {
        assert_eq!(typed_method("data"), "on_data");
        assert_eq!(
            typed_method("connectionAttemptFailed"),
            "on_connection_attempt_failed"
        );
    }

    #[test]
    fn payload_reaches_a_data_listener() {
        reset();
        on("data", false, false, |_: &Thing, chunk: &Bytes| {
            log(std::str::from_utf8(chunk).unwrap())
        });
        let snap = LISTENERS.with(|l| l.borrow().snapshot(1));
        call(&Thing, snap, &Payload::Data(&Bytes::from_static(b"hi")));
        assert_eq!(take_log(), ["hi"]);
    }
}
