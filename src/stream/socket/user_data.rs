//! A connection's own state, kept with the socket: the user's data (Node's
//! expando properties, `socket.subs = new Set()`), the handler object, and
//! the way back from a stored id to its handle.

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;

use super::*;

/// What a socket keeps for its user, boxed apart from the socket's hot
/// state (most sockets have neither).
#[derive(Default)]
pub(crate) struct Owned {
    /// The user's per-connection state (`set_data`), dropped with the slot.
    data: Option<Box<dyn Any>>,
    /// The handler object (`set_handler`), an `Rc<RefCell<H>>`.
    handler: Option<Rc<dyn Any>>,
    /// The Unix socket path a client connected to, for its errors.
    pipe_path: Option<std::path::PathBuf>,
}

impl SocketState {
    pub(crate) fn set_pipe_path(&mut self, path: &std::path::Path) {
        owned(self).pipe_path = Some(path.to_path_buf());
    }

    pub(crate) fn pipe_path(&self) -> Option<&std::path::Path> {
        self.owned.as_ref()?.pipe_path.as_deref()
    }
}

fn owned(s: &mut SocketState) -> &mut Owned {
    s.owned.get_or_insert_with(Default::default)
}

/// Data lent out by `with_data`: put back when dropped (even if the
/// closure panics), unless the closure set new data meanwhile.
struct Lent {
    key: Key,
    data: Option<Box<dyn Any>>,
}

impl Drop for Lent {
    fn drop(&mut self) {
        let data = self.data.take();
        let rejected = with(|c| match sock(c, self.key).map(owned) {
            Some(owned) if owned.data.is_none() => {
                owned.data = data;
                None
            }
            _ => data,
        });
        drop(rejected);
    }
}

impl Socket {
    /// The socket whose [`id`](Socket::id) is `id`, if it is still open on
    /// this thread's loop (ids are never reused, so a stale id gives
    /// `None`).
    ///
    /// # Examples
    ///
    /// ```
    /// use nodenet::{Socket, SocketOptions};
    ///
    /// let socket = Socket::new(SocketOptions::default());
    /// let id = socket.id(); // stored somewhere: a map, a message
    /// assert_eq!(Socket::from_id(id), Some(socket));
    /// socket.destroy();
    /// nodenet::run()?;
    /// assert_eq!(Socket::from_id(id), None);
    /// # Ok::<(), nodenet::Error>(())
    /// ```
    pub fn from_id(id: u64) -> Option<Socket> {
        let key = Key::new((id & 0xffff_ffff) as usize, (id >> 32) as u32);
        with(|c| sock_ref(c, key).map(|_| Socket::from_key(key)))
    }

    /// Keeps `value` with this socket, as a JavaScript program sets an
    /// expando property (`socket.subs = new Set()`): any listener reaches it
    /// with [`with_data`](Socket::with_data), without a map keyed by
    /// socket. It is dropped when the socket's slot is freed, after
    /// `'close'`; a second call replaces (and drops) the first value.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashSet;
    /// use nodenet::{tcp, ServerOptions};
    ///
    /// // Per-connection subscriptions, as `socket.subs = new Set()`.
    /// let server = tcp::create_server(ServerOptions::default(), |_, socket| {
    ///     socket.set_data(HashSet::<String>::new());
    ///     socket.on_data(|s, chunk| {
    ///         let topic = String::from_utf8_lossy(chunk).trim().to_string();
    ///         s.with_data(|subs: &mut HashSet<String>| subs.insert(topic));
    ///     });
    /// });
    /// # server.close();
    /// ```
    pub fn set_data<T: 'static>(&self, value: T) -> Socket {
        let old = with(|c| {
            sock(c, self.key).map(|s| owned(s).data.replace(Box::new(value) as Box<dyn Any>))
        });
        drop(old);
        *self
    }

    /// Runs `f` on this socket's data if it holds a `T` (see
    /// [`set_data`](Socket::set_data)); `None` if it holds none, another
    /// type, or the socket is gone. Inside `f` the data is lent out: a
    /// nested `with_data` on the same socket gets `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use nodenet::{Socket, SocketOptions};
    ///
    /// let socket = Socket::new(SocketOptions::default());
    /// socket.set_data(0u32);
    /// socket.with_data(|n: &mut u32| *n += 1);
    /// assert_eq!(socket.with_data(|n: &mut u32| *n), Some(1));
    /// assert_eq!(socket.with_data(|s: &mut String| s.len()), None);
    /// ```
    pub fn with_data<T: 'static, R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let data = with(|c| sock(c, self.key).and_then(|s| s.owned.as_mut()?.data.take()))?;
        let mut lent = Lent {
            key: self.key,
            data: Some(data),
        };
        let result = lent
            .data
            .as_mut()
            .and_then(|d| (**d).downcast_mut::<T>())
            .map(f);
        drop(lent);
        result
    }

    /// A clone of this socket's data if it holds a `T` (handy for data that
    /// is itself a handle, an `Rc` or an id).
    pub fn data<T: Clone + 'static>(&self) -> Option<T> {
        self.with_data(|d: &mut T| d.clone())
    }

    /// Takes this socket's data out if it holds a `T`.
    pub fn take_data<T: 'static>(&self) -> Option<T> {
        let data = with(|c| {
            let owned = sock(c, self.key)?.owned.as_mut()?;
            if owned.data.as_ref().is_some_and(|d| d.is::<T>()) {
                owned.data.take()
            } else {
                None
            }
        })?;
        data.downcast::<T>().ok().map(|b| *b)
    }

    /// Runs `f` on this socket's handler object if it is an `H` (see
    /// [`set_handler`](Socket::set_handler)): how code outside the handler's
    /// own methods reaches the connection's state. `None` if the socket has
    /// no handler of that type, or from inside one of the handler's own
    /// methods (the handler is busy then; use `self`).
    ///
    /// # Examples
    ///
    /// ```
    /// use nodenet::{Handler, Socket, SocketOptions};
    ///
    /// struct Session {
    ///     user: Option<String>,
    /// }
    /// impl Handler for Session {}
    ///
    /// let socket = Socket::new(SocketOptions::default());
    /// socket.set_handler(Session { user: None });
    /// socket.with_handler(|s: &mut Session| s.user = Some("ada".into()));
    /// assert_eq!(
    ///     socket.with_handler(|s: &mut Session| s.user.clone()),
    ///     Some(Some("ada".to_string()))
    /// );
    /// ```
    pub fn with_handler<H: crate::Handler, R>(&self, f: impl FnOnce(&mut H) -> R) -> Option<R> {
        let handler = with(|c| sock(c, self.key).and_then(|s| s.owned.as_ref()?.handler.clone()))?;
        let handler = handler.downcast::<RefCell<H>>().ok()?;
        let mut h = handler.try_borrow_mut().ok()?;
        Some(f(&mut h))
    }

    /// Records the handler object for [`with_handler`](Socket::with_handler).
    pub(crate) fn keep_handler(&self, handler: Rc<dyn Any>) {
        let old = with(|c| sock(c, self.key).map(|s| owned(s).handler.replace(handler)));
        drop(old);
    }
}
