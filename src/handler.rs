//! The handler-object form: a type whose methods are a socket's events and
//! whose fields are the connection's state, owned by it — no
//! `Rc<RefCell<_>>` in user code. Works for accepted and outgoing
//! connections alike; the handler is dropped with the socket's listeners,
//! after `'close'`.

use std::cell::RefCell;
use std::rc::Rc;

use bytes::Bytes;

use crate::error::Error;
use crate::tcp::Socket;

/// A connection's events as methods. Every method has an empty default;
/// implement the ones you need.
///
/// # Examples
///
/// ```
/// use nodenet::{tcp, Bytes, Handler, Server, ServerOptions, Socket};
///
/// /// Counts the bytes of one connection and reports them at the end.
/// struct Counter {
///     bytes: usize,
/// }
///
/// impl Handler for Counter {
///     fn on_data(&mut self, socket: &Socket, data: &Bytes) {
///         self.bytes += data.len();
///         socket.write(data); // echo
///     }
///     fn on_close(&mut self, _: &Socket, _had_error: bool) {
///         println!("{} bytes", self.bytes);
///     }
/// }
///
/// let server = tcp::create_server_with(ServerOptions::default(), |_: &Socket| Counter { bytes: 0 });
/// server.listen(0, "127.0.0.1")?;
/// server.close();
/// nodenet::run()?;
/// # Ok::<(), nodenet::Error>(())
/// ```
pub trait Handler: 'static {
    /// The connection is up (outgoing connections only; an accepted socket
    /// is connected when its handler is made).
    fn on_connect(&mut self, _socket: &Socket) {}
    /// Bytes arrived.
    fn on_data(&mut self, _socket: &Socket, _data: &Bytes) {}
    /// The peer ended its side (FIN).
    fn on_end(&mut self, _socket: &Socket) {}
    /// The write queue emptied after `write()` returned `false`.
    fn on_drain(&mut self, _socket: &Socket) {}
    /// The socket was idle for its timeout.
    fn on_timeout(&mut self, _socket: &Socket) {}
    /// The connection failed; `on_close(true)` follows.
    fn on_error(&mut self, _socket: &Socket, _err: &Error) {}
    /// The connection is closed; the last call the handler gets.
    fn on_close(&mut self, _socket: &Socket, _had_error: bool) {}
    /// The socket is ready for use, right after `on_connect` (outgoing
    /// connections only).
    fn on_ready(&mut self, _socket: &Socket) {}
    /// Our side is ended and every write reached the kernel.
    fn on_finish(&mut self, _socket: &Socket) {}
    /// The host name was resolved (outgoing connections to a name).
    fn on_lookup(&mut self, _socket: &Socket, _lookup: &crate::Lookup) {}
    /// A connection attempt to one address starts.
    fn on_connection_attempt(&mut self, _socket: &Socket, _attempt: &crate::ConnectionAttempt) {}
    /// A connection attempt failed (its error is in `attempt`).
    fn on_connection_attempt_failed(
        &mut self,
        _socket: &Socket,
        _attempt: &crate::ConnectionAttempt,
    ) {
    }
    /// A connection attempt timed out.
    fn on_connection_attempt_timeout(
        &mut self,
        _socket: &Socket,
        _attempt: &crate::ConnectionAttempt,
    ) {
    }
}

/// Routes `socket`'s events to `handler`'s methods.
pub(crate) fn attach<H: Handler>(socket: &Socket, handler: H) {
    let shared = Rc::new(RefCell::new(handler));
    // Events never arrive inside another event's call, so the borrow is
    // always free; a failed borrow would only skip, never panic.
    macro_rules! route {
        ($event:literal => $method:ident($($arg:ident: $ty:ty),*)) => {{
            let h = shared.clone();
            socket.on($event, move |s: &Socket $(, $arg: $ty)*| {
                if let Ok(mut h) = h.try_borrow_mut() {
                    h.$method(s $(, $arg)*);
                }
            });
        }};
    }
    route!("connect" => on_connect());
    route!("data" => on_data(data: &Bytes));
    route!("end" => on_end());
    route!("drain" => on_drain());
    route!("timeout" => on_timeout());
    route!("error" => on_error(err: &Error));
    route!("close" => on_close(had_error: bool));
    route!("ready" => on_ready());
    route!("finish" => on_finish());
    route!("lookup" => on_lookup(lookup: &crate::Lookup));
    route!("connectionAttempt" => on_connection_attempt(attempt: &crate::ConnectionAttempt));
    route!("connectionAttemptFailed" => on_connection_attempt_failed(attempt: &crate::ConnectionAttempt));
    route!("connectionAttemptTimeout" => on_connection_attempt_timeout(attempt: &crate::ConnectionAttempt));
    socket.keep_handler(shared);
}
