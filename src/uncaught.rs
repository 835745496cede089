//! `'error'`s that nobody listens to: the loop-wide hook (Node's
//! `process.on('uncaughtException')`) and the default without one.
//!
//! Without a hook, an error on a connection a server accepted is written to
//! standard error and the loop goes on: its peer caused it, and no peer may
//! stop a server. An error on a handle the program made itself (a client
//! socket, a server) stops `run*()` with that error, where Node would crash:
//! it is the program's own failure, and its caller should see it. The loop
//! can be run again and loses nothing.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use crate::error::Error;
use crate::event_loop::{self, with};
use crate::tcp::{Server, Socket};

/// The handle an unhandled `'error'` was emitted on, as the
/// [`on_uncaught_error`] hook receives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorOrigin {
    /// A socket: accepted by a server ([`Socket::server`] says which) or
    /// made with `connect`.
    Socket(Socket),
    /// A server (a failed `listen`, an accept error).
    Server(Server),
}

impl ErrorOrigin {
    /// The socket, if the error came from one.
    pub fn socket(&self) -> Option<Socket> {
        match self {
            ErrorOrigin::Socket(s) => Some(*s),
            ErrorOrigin::Server(_) => None,
        }
    }

    /// The server, if the error came from one.
    pub fn server(&self) -> Option<Server> {
        match self {
            ErrorOrigin::Server(s) => Some(*s),
            ErrorOrigin::Socket(_) => None,
        }
    }
}

impl fmt::Display for ErrorOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorOrigin::Socket(s) => {
                write!(f, "{s:?}")?;
                if let Some(peer) = s.peer_addr() {
                    write!(f, " (peer {peer})")?;
                }
                if let Some(server) = s.server() {
                    write!(f, ", accepted by {server:?}")?;
                }
                Ok(())
            }
            ErrorOrigin::Server(s) => write!(f, "{s:?}"),
        }
    }
}

type Hook = Rc<RefCell<dyn FnMut(&Error, ErrorOrigin)>>;

thread_local! {
    static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
}

/// Sets this thread's hook for `'error'`s emitted with no `'error'`
/// listener (Node's `process.on('uncaughtException', ...)`), replacing any
/// earlier one. The hook gets the error and the handle it came from; the
/// loop goes on after it. The socket is destroyed either way (`'close'`
/// follows), as after any `'error'`.
///
/// Without a hook, errors on accepted connections are written to standard
/// error and the loop goes on; errors on client sockets and servers stop
/// [`run`](crate::run) with the error (COMPAT.md, deliberate differences).
///
/// # Examples
///
/// ```
/// use nodenet::{tcp, ErrorOrigin};
///
/// nodenet::on_uncaught_error(|err, origin| {
///     eprintln!("{origin}: {err}");
/// });
/// // No 'error' listener: the refused connection reaches the hook, and
/// // run() goes on instead of returning the error.
/// let socket = tcp::connect(1, "127.0.0.1", |_| {})?;
/// nodenet::run()?;
/// assert!(socket.closed() || socket.destroyed());
/// nodenet::off_uncaught_error();
/// # Ok::<(), nodenet::Error>(())
/// ```
pub fn on_uncaught_error(hook: impl FnMut(&Error, ErrorOrigin) + 'static) {
    let old = HOOK.with(|h| h.borrow_mut().replace(Rc::new(RefCell::new(hook))));
    drop(old);
}

/// Removes this thread's [`on_uncaught_error`] hook: the default applies
/// again.
pub fn off_uncaught_error() {
    let old = HOOK.with(|h| h.borrow_mut().take());
    drop(old);
}

/// An `'error'` was emitted with no listener.
pub(crate) fn report(err: Error, origin: ErrorOrigin) {
    log::warn!("nodenet: unhandled 'error' on {origin}: {err}");
    let hook = HOOK.with(|h| h.borrow().clone());
    if let Some(hook) = hook {
        // A hook is never entered twice: errors come from ticks, which do
        // not run inside the hook.
        if let Ok(mut f) = hook.try_borrow_mut() {
            event_loop::catch(|| (f)(&err, origin));
            return;
        }
    }
    let accepted = matches!(origin, ErrorOrigin::Socket(s) if s.server().is_some());
    if accepted {
        eprintln!(
            "nodenet: unhandled 'error' on {origin}: {err} (the connection is closed; \
             an 'error' listener or nodenet::on_uncaught_error handles it)"
        );
    } else {
        with(|c| c.unhandled_error(err));
    }
}
