//! Listener semantics (net-behaviours section I, DESIGN "Events"): order,
//! `once`, `off`, snapshots during an emit, counts, refusals at the
//! registration site, listeners dropped after `'close'`, and API calls from
//! inside callbacks.

mod util;

use std::cell::Cell;
use std::rc::Rc;

use nodenet::{
    tcp, Bytes, DropInfo, Error, ListenerId, Server, ServerOptions, Socket, SocketOptions,
};
use util::*;

/// A server whose `'connection'` listener (registered first) logs "conn".
fn logging_server(trace: &Trace) -> (Server, u16) {
    let t = trace.clone();
    let server = tcp::create_server(ServerOptions::default(), move |_: &Server, s: &Socket| {
        t.log("conn");
        s.on("error", |_: &Socket, _: &Error| {});
    });
    let port = listen_local(server);
    (server, port)
}

/// Connects one client at a time, each after the previous one's
/// `'connection'` has been emitted, so the emits are separate.
fn connect_clients(port: u16, trace: &Trace, n: usize) -> Vec<Socket> {
    let mut clients = Vec::new();
    for i in 1..=n {
        clients.push(tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap());
        run_until(LIMIT, || trace.count("conn") == i);
    }
    clients
}

fn finish(server: Server, clients: Vec<Socket>) {
    server.close();
    for c in clients {
        c.destroy();
    }
    run_bounded(LIMIT);
}

fn logger(trace: &Trace, name: &'static str) -> impl FnMut(&Server, &Socket) + 'static {
    let t = trace.clone();
    move |_: &Server, _: &Socket| t.log(name)
}

/// Listeners run in registration order; `prepend_listener` and
/// `prepend_once_listener` put theirs first; a once listener runs once.
#[test]
fn listeners_run_in_registration_order_prepended_first() {
    let trace = Trace::new();
    let (server, port) = logging_server(&trace);
    server
        .on("connection", logger(&trace, "A"))
        .on("connection", logger(&trace, "B"))
        .prepend_listener("connection", logger(&trace, "P"))
        .prepend_once_listener("connection", logger(&trace, "Q"));
    assert_eq!(server.listener_count("connection"), 5);
    let clients = connect_clients(port, &trace, 2);
    assert_eq!(
        trace.entries(),
        ["Q", "P", "conn", "A", "B", "P", "conn", "A", "B"]
    );
    assert_eq!(server.listener_count("connection"), 4);
    finish(server, clients);
}

/// N72: a `once` listener runs for the first emit only and is then gone.
#[test]
fn n72_once_runs_once() {
    let trace = Trace::new();
    let (server, port) = logging_server(&trace);
    server.once("connection", logger(&trace, "once"));
    assert_eq!(server.listener_count("connection"), 2);
    let clients = connect_clients(port, &trace, 3);
    assert_eq!(trace.entries(), ["conn", "once", "conn", "conn"]);
    assert_eq!(server.listener_count("connection"), 1);
    finish(server, clients);
}

/// `off(event, id)` removes exactly that registration; unknown names and
/// ids, and removing twice, are ignored.
#[test]
fn off_removes_by_id() {
    let trace = Trace::new();
    let (server, port) = logging_server(&trace);
    let x = server.add_listener("connection", logger(&trace, "X"));
    let y = server.add_listener("connection", logger(&trace, "Y"));
    assert_eq!(server.listener_count("connection"), 3);
    server.off("connection", x);
    assert_eq!(server.listener_count("connection"), 2);
    server.off("connection", x);
    server.off("close", y); // not registered for 'close'
    server.off("no-such-event", y);
    assert_eq!(server.listener_count("connection"), 2);
    let clients = connect_clients(port, &trace, 1);
    assert_eq!(trace.entries(), ["conn", "Y"]);
    finish(server, clients);
}

/// A listener removed during an emit still runs for that emit (the emit
/// works on a snapshot), not for the next.
#[test]
fn listener_removed_during_emit_still_runs_for_it() {
    let trace = Trace::new();
    let (server, port) = logging_server(&trace);
    let victim: Rc<Cell<Option<ListenerId>>> = Rc::default();
    let (v, t) = (victim.clone(), trace.clone());
    server.on("connection", move |srv: &Server, _: &Socket| {
        t.log("remover");
        if let Some(id) = v.take() {
            srv.off("connection", id);
        }
    });
    victim.set(Some(
        server.add_listener("connection", logger(&trace, "victim")),
    ));
    let clients = connect_clients(port, &trace, 2);
    assert_eq!(
        trace.entries(),
        ["conn", "remover", "victim", "conn", "remover"]
    );
    finish(server, clients);
}

/// A listener added during an emit does not run for that emit, only for
/// later ones.
#[test]
fn listener_added_during_emit_waits_for_the_next() {
    let trace = Trace::new();
    let (server, port) = logging_server(&trace);
    let added = Rc::new(Cell::new(false));
    let t = trace.clone();
    server.on("connection", move |srv: &Server, _: &Socket| {
        t.log("adder");
        if !added.replace(true) {
            srv.on("connection", logger(&t, "added"));
        }
    });
    server.on("connection", logger(&trace, "B"));
    let clients = connect_clients(port, &trace, 2);
    assert_eq!(
        trace.entries(),
        ["conn", "adder", "B", "conn", "adder", "B", "added"]
    );
    finish(server, clients);
}

/// The running listener removes itself: it finishes this run, the ones
/// after it still run, and it is not called again.
#[test]
fn removing_the_running_listener() {
    let trace = Trace::new();
    let (server, port) = logging_server(&trace);
    let me: Rc<Cell<Option<ListenerId>>> = Rc::default();
    let (m, t) = (me.clone(), trace.clone());
    let id = server.add_listener("connection", move |srv: &Server, _: &Socket| {
        srv.off("connection", m.get().unwrap());
        t.log("self-removing:after-off");
    });
    me.set(Some(id));
    server.on("connection", logger(&trace, "after"));
    let clients = connect_clients(port, &trace, 2);
    assert_eq!(
        trace.entries(),
        ["conn", "self-removing:after-off", "after", "conn", "after"]
    );
    finish(server, clients);
}

/// `listener_count` per event; `remove_all_listeners(event)` clears one
/// event, `remove_all_listeners(None)` all of them; removed listeners do
/// not run.
#[test]
fn listener_count_and_remove_all_listeners() {
    let trace = Trace::new();
    let s = Socket::new(SocketOptions::default());
    trace_socket(&s, &trace, "s");
    s.on("data", |_: &Socket, _: &Bytes| {});
    for (event, n) in [
        ("data", 2),
        ("close", 1),
        ("end", 1),
        ("drain", 0),
        ("no-such", 0),
    ] {
        assert_eq!(s.listener_count(event), n, "{event}");
    }
    assert_eq!(s.remove_all_listeners("data"), s);
    assert_eq!(s.listener_count("data"), 0);
    assert_eq!(s.listener_count("close"), 1);
    s.remove_all_listeners("no-such"); // ignored
    assert_eq!(s.listener_count("close"), 1);
    s.destroy();
    run_bounded(LIMIT);
    assert_eq!(trace.entries(), ["s:close:false"]);

    let trace = Trace::new();
    let s = Socket::new(SocketOptions::default());
    trace_socket(&s, &trace, "s");
    s.remove_all_listeners(None);
    for event in [
        "connect", "ready", "data", "end", "finish", "error", "close",
    ] {
        assert_eq!(s.listener_count(event), 0, "{event}");
    }
    s.destroy();
    run_bounded(LIMIT);
    assert!(trace.entries().is_empty());
}

/// `try_on` with an unknown event name: ERR_INVALID_ARG_VALUE naming the
/// handle's events; nothing is registered.
#[test]
fn try_on_unknown_event_names_the_events() {
    let s = Socket::new(SocketOptions::default());
    let err = s.try_on("dat", |_: &Socket, _: &Bytes| {}).unwrap_err();
    assert_eq!(err.code(), "ERR_INVALID_ARG_VALUE");
    assert_eq!(
        err.message(),
        "Socket has no event 'dat'; its events are: connect, ready, data, end, finish, \
         drain, timeout, error, close, lookup, connectionAttempt, connectionAttemptFailed, \
         connectionAttemptTimeout, secureConnect, secure, keylog"
    );
    assert_eq!(s.listener_count("data"), 0);

    let server = tcp::create_server(ServerOptions::default(), |_: &Server, _: &Socket| {});
    let err = server.try_on("connect", |_: &Server| {}).unwrap_err();
    assert_eq!(err.code(), "ERR_INVALID_ARG_VALUE");
    assert_eq!(
        err.message(),
        "Server has no event 'connect'; its events are: listening, connection, close, error, drop, \
         secureConnection, tlsClientError, keylog"
    );
    // Right name and shape: accepted.
    assert!(server.try_on("drop", |_: &Server, _: &DropInfo| {}).is_ok());
    assert_eq!(server.listener_count("drop"), 1);
    s.destroy();
    run_bounded(LIMIT);
}

/// `try_on` with a closure of the wrong shape: ERR_INVALID_ARG_TYPE whose
/// message names the expected closure, the handle-only one that every event
/// takes, the one given, and the typed method that needs no annotations.
#[test]
fn try_on_wrong_shape_names_the_expected_closure() {
    let s = Socket::new(SocketOptions::default());
    let err = s.try_on("data", |_: &Socket, _: bool| {}).unwrap_err();
    assert_eq!(err.code(), "ERR_INVALID_ARG_TYPE");
    assert_eq!(
        err.message(),
        "'data' listeners on a Socket take |socket: &Socket, chunk: &Bytes| \
         or |socket: &Socket, text: &str| (or |socket: &Socket|, which ignores the payload), \
         but this closure takes |socket: &Socket, had_error: bool|; \
         socket.on_data(|socket, chunk| ..) needs no annotations"
    );
    let err = s.try_on("close", |_: &Socket, _: &Error| {}).unwrap_err();
    assert_eq!(
        err.message(),
        "'close' listeners on a Socket take |socket: &Socket, had_error: bool| \
         (or |socket: &Socket|, which ignores the payload), \
         but this closure takes |socket: &Socket, err: &Error|; \
         socket.on_close(|socket, had_error| ..) needs no annotations"
    );
    assert_eq!(s.listener_count("data") + s.listener_count("close"), 0);

    let server = tcp::create_server(ServerOptions::default(), |_: &Server, _: &Socket| {});
    let err = server
        .try_on("connection", |_: &Server, _: &Error| {})
        .unwrap_err();
    assert_eq!(err.code(), "ERR_INVALID_ARG_TYPE");
    assert_eq!(
        err.message(),
        "'connection' listeners on a Server take |server: &Server, socket: &Socket| \
         (or |server: &Server|, which ignores the payload), \
         but this closure takes |server: &Server, err: &Error|; \
         server.on_connection(|server, socket| ..) needs no annotations"
    );
    assert_eq!(server.listener_count("connection"), 1);
    s.destroy();
    run_bounded(LIMIT);
}

/// A closure that takes only the handle fits every event and ignores the
/// payload (JavaScript's `on('close', () => ..)`): it is called, with the
/// real events, on both handle types.
#[test]
fn a_handle_only_listener_fits_every_event() {
    let trace = Trace::new();
    let t = trace.clone();
    let server = tcp::create_server(ServerOptions::default(), move |_: &Server, s: &Socket| {
        let t2 = t.clone();
        s.on("data", |s: &Socket| {
            s.end();
        })
        .on("close", move |_: &Socket| t2.log("S:close"));
    });
    let t = trace.clone();
    server
        .on("connection", move |_: &Server| t.log("S:connection"))
        .on("close", |_: &Server| {});
    let port = listen_local(server);
    let t = trace.clone();
    let t2 = trace.clone();
    let c = tcp::connect(port, "127.0.0.1", |s: &Socket| {
        s.write("x");
    })
    .unwrap()
    .on("error", move |_: &Socket| t.log("C:error"))
    .on("close", move |_: &Socket| t2.log("C:close"));
    run_until(LIMIT, || {
        trace.contains("C:close") && trace.contains("S:close")
    });
    server.close();
    run_bounded(LIMIT);
    assert_eq!(trace.count("S:connection"), 1);
    assert!(!trace.contains("C:error"));
    assert!(c.destroyed());
}

/// `on` refuses an unknown event name with a panic at the registration
/// site, naming the events.
#[test]
#[should_panic(expected = "Socket has no event 'dat'; its events are: connect, ready, data")]
fn on_with_an_unknown_event_panics() {
    Socket::new(SocketOptions::default()).on("dat", |_: &Socket, _: &Bytes| {});
}

/// `on` refuses a closure of the wrong shape with a panic naming the
/// expected closure.
#[test]
#[should_panic(
    expected = "'data' listeners on a Socket take |socket: &Socket, chunk: &Bytes| or |socket: &Socket, text: &str| (or |socket: &Socket|, which ignores the payload), but this closure takes |socket: &Socket, err: &Error|"
)]
fn on_with_a_wrong_shape_panics() {
    Socket::new(SocketOptions::default()).on("data", |_: &Socket, _: &Error| {});
}

/// `once` and `prepend_listener` refuse the same way.
#[test]
#[should_panic(expected = "'close' listeners on a Server take |server: &Server|")]
fn once_with_a_wrong_shape_panics() {
    tcp::create_server(ServerOptions::default(), |_: &Server, _: &Socket| {})
        .once("close", |_: &Server, _: bool| {});
}

/// Captured by a listener: records its drop.
struct DropGuard(Rc<Cell<usize>>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// After `'close'` has run, a socket's listeners (and what they captured)
/// are dropped: all of them, including a once listener that never fired.
/// During `'close'` they are still alive. A listener registered on the stale
/// handle afterwards is dropped at once.
#[test]
fn listeners_are_dropped_after_close() {
    let (server, port) = echo_server();
    let token = Rc::new(());
    let drops = Rc::new(Cell::new(0));
    let c = tcp::connect(port, "127.0.0.1", |s: &Socket| {
        s.write("x");
    })
    .unwrap();
    let (tk, g) = (token.clone(), DropGuard(drops.clone()));
    c.on("data", move |s: &Socket, _: &Bytes| {
        let _keep = (&tk, &g);
        s.destroy();
    });
    let (tk, g) = (token.clone(), DropGuard(drops.clone()));
    c.once("timeout", move |_: &Socket| {
        let _keep = (&tk, &g);
    });
    let in_close = Rc::new(Cell::new(0));
    let (ic, tk, d) = (in_close.clone(), token.clone(), drops.clone());
    c.on("close", move |_: &Socket, _: bool| {
        // Everything is still registered while 'close' runs.
        ic.set(Rc::strong_count(&tk));
        assert_eq!(d.get(), 0);
    });
    assert_eq!(Rc::strong_count(&token), 4);
    c.on("connect", move |_: &Socket| {
        server.close();
    });
    run_bounded(LIMIT);
    assert_eq!(in_close.get(), 4);
    assert_eq!(Rc::strong_count(&token), 1, "listeners outlived 'close'");
    assert_eq!(drops.get(), 2);

    let tk = token.clone();
    c.on("data", move |_: &Socket, _: &Bytes| {
        let _keep = &tk;
    });
    assert_eq!(Rc::strong_count(&token), 1, "kept by a stale handle");
    assert_eq!(c.listener_count("data"), 0);
}

/// Closing the server from its own `'connection'` listener: it stops
/// listening at once, the accepted socket keeps working, and the server's
/// `'close'` comes once that socket is destroyed (before the socket's own
/// `'close'`, N58).
#[test]
fn close_server_inside_connection() {
    let trace = Trace::new();
    let t = trace.clone();
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        srv.close();
        t.log(format!("listening-after-close:{}", srv.listening()));
        trace_socket(s, &t, "S");
        s.on("data", |s: &Socket, d: &Bytes| {
            s.write(d);
        });
    });
    let t = trace.clone();
    server.on("close", move |_: &Server| t.log("server:close"));
    let port = listen_local(server);
    let c = tcp::connect(port, "127.0.0.1", |s: &Socket| {
        s.write("ping");
    })
    .unwrap();
    trace_socket(&c, &trace, "C");
    c.on("data", |s: &Socket, _: &Bytes| {
        s.end();
    });
    run_bounded(LIMIT);
    assert_eq!(trace.entries()[0], "listening-after-close:false");
    assert!(trace.contains("C:data:ping"));
    assert!(trace.contains("S:data:ping"));
    assert_eq!(
        trace
            .entries()
            .into_iter()
            .filter(|e| e == "server:close" || e == "S:close:false")
            .collect::<Vec<_>>(),
        ["server:close", "S:close:false"]
    );
    assert_eq!(trace.with_prefix("C:").last().unwrap(), "C:close:false");
}

/// Writing to another socket from inside a callback: the server relays
/// what client A sends to client B's connection.
#[test]
fn write_to_another_socket_inside_a_callback() {
    let trace = Trace::new();
    let accepted: Rc<std::cell::RefCell<Vec<Socket>>> = Rc::default();
    let a = accepted.clone();
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        a.borrow_mut().push(*s);
        if a.borrow().len() == 2 {
            srv.close();
        }
        let a2 = a.clone();
        let me = *s;
        s.on("data", move |_: &Socket, d: &Bytes| {
            for other in a2.borrow().iter().filter(|o| **o != me) {
                assert!(other.write(d));
            }
        });
    });
    let port = listen_local(server);
    let ca = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    run_until(LIMIT, || accepted.borrow().len() == 1);
    let cb = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    run_until(LIMIT, || accepted.borrow().len() == 2);
    trace_socket(&cb, &trace, "B");
    ca.write("from-a");
    run_until(LIMIT, || trace.contains("B:data:from-a"));
    ca.destroy();
    cb.destroy();
    for s in accepted.borrow().iter() {
        s.destroy();
    }
    run_bounded(LIMIT);
    assert_eq!(trace.with_prefix("B:"), ["B:data:from-a", "B:close:false"]);
}
