//! The typed registration (`on_data`, `once_close`, `register()...`): the
//! closures' parameters are inferred, and the semantics are the string
//! form's — registration order, `once`, `prepend`, removal by id, removal
//! during an emit, a snapshot per emit.

mod util;

use std::cell::Cell;
use std::rc::Rc;

use nodenet::{tcp, ListenerId, Server, ServerOptions, Socket, SocketOptions};
use util::*;

/// A full exchange written with the typed methods only: no annotation on
/// any closure parameter, every event of both handles delivered with its
/// payload.
#[test]
fn typed_methods_deliver_every_event_with_its_payload() {
    let trace = Trace::new();
    let t = trace.clone();
    let server = tcp::create_server(ServerOptions::default(), |_, _| {});
    let t2 = t.clone();
    server
        .on_listening(move |_| t2.log("S:listening"))
        .on_connection(move |_, socket| {
            let t = t.clone();
            let t2 = t.clone();
            let t3 = t.clone();
            socket
                .on_data(|s, chunk| {
                    s.end_with(chunk.clone());
                })
                .on_end(move |_| t.log("S:end"))
                .on_finish(move |_| t2.log("S:finish"))
                .on_close(move |_, had_error| t3.log(format!("S:close:{had_error}")));
        })
        .on_error(|_, err| panic!("server error {err}"))
        .on_close(|_| {});
    let port = listen_local(server);
    let (t1, t2, t3, t4, t5) = (
        trace.clone(),
        trace.clone(),
        trace.clone(),
        trace.clone(),
        trace.clone(),
    );
    tcp::connect(port, "127.0.0.1", |s| {
        s.write("ping");
    })
    .unwrap()
    .on_ready(move |_| t1.log("C:ready"))
    .on_data(move |_, chunk| t2.log(format!("C:data:{}", String::from_utf8_lossy(chunk))))
    .on_end(move |_| t3.log("C:end"))
    .on_error(move |_, err| t4.log(format!("C:error:{}", err.code())))
    .on_close(move |_, had_error| t5.log(format!("C:close:{had_error}")));
    run_until(LIMIT, || {
        trace.contains("C:close:false") && trace.contains("S:close:false")
    });
    server.close();
    run_bounded(LIMIT);
    assert_eq!(
        trace.stripped("C:"),
        ["ready", "data:ping", "end", "close:false"]
    );
    // The server ends first (its finish), then the client's automatic end arrives.
    assert_eq!(
        trace.stripped("S:"),
        ["listening", "finish", "end", "close:false"]
    );
}

/// Order, prepend and once through `register()`, and the `once_*` methods,
/// checked on a server's `'connection'` over three connections.
#[test]
fn register_orders_prepends_and_runs_once_like_the_string_form() {
    let trace = Trace::new();
    let server = tcp::create_server(ServerOptions::default(), |_, s| {
        s.on_error(|_, _| {});
    });
    let log = |name: &'static str| {
        let t = trace.clone();
        move |_: &Server, _: &Socket| t.log(name)
    };
    server.on_connection(log("A"));
    server.on("connection", log("B")); // the string form shares the list
    server.register().prepend().connection(log("P"));
    server.register().prepend().once().connection(log("PO"));
    server.once_connection(log("O"));
    let removed = server.register().connection(log("never"));
    server.remove_listener(removed);
    assert_eq!(server.listener_count("connection"), 6);
    let port = listen_local(server);
    let mut clients = Vec::new();
    for i in 1..=3 {
        clients.push(tcp::connect(port, "127.0.0.1", |_| {}).unwrap());
        run_until(LIMIT, || trace.count("A") == i);
    }
    server.close();
    for c in clients {
        c.destroy();
    }
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        ["PO", "P", "A", "B", "O", "P", "A", "B", "P", "A", "B"]
    );
}

/// A listener removed by id during an emit still runs for that emit (the
/// snapshot), not after; one added during an emit waits for the next.
#[test]
fn removal_and_addition_during_an_emit_follow_the_snapshot() {
    let trace = Trace::new();
    let second: Rc<Cell<Option<ListenerId>>> = Rc::new(Cell::new(None));
    let server = tcp::create_server(ServerOptions::default(), |_, s| {
        s.on_error(|_, _| {});
    });
    let (t, t2, sec) = (trace.clone(), trace.clone(), second.clone());
    server.register().connection(move |srv, _| {
        t.log("first");
        if let Some(id) = sec.take() {
            srv.remove_listener(id);
            let t = t.clone();
            srv.on_connection(move |_, _| t.log("added"));
        }
    });
    second.set(Some(
        server.register().connection(move |_, _| t2.log("second")),
    ));
    let port = listen_local(server);
    let mut clients = Vec::new();
    for i in 1..=2 {
        clients.push(tcp::connect(port, "127.0.0.1", |_| {}).unwrap());
        run_until(LIMIT, || trace.count("first") == i);
    }
    server.close();
    for c in clients {
        c.destroy();
    }
    run_bounded(LIMIT);
    assert_eq!(trace.entries(), ["first", "second", "first", "added"]);
}

/// `once_close` runs once; `remove_listener` of an id of another event or
/// an unknown id changes nothing; a stale handle's registration is
/// harmless.
#[test]
fn once_and_ids_on_a_socket() {
    let s = Socket::new(SocketOptions::default());
    let closes = Rc::new(Cell::new(0));
    let c = closes.clone();
    s.once_close(move |_, had_error| {
        assert!(!had_error);
        c.set(c.get() + 1);
    });
    let data_id = s.register().data(|_, _| {});
    assert_eq!(s.listener_count("data"), 1);
    s.remove_listener(data_id);
    s.remove_listener(data_id);
    assert_eq!(s.listener_count("data"), 0);
    assert_eq!(s.listener_count("close"), 1);
    s.destroy();
    run_bounded(LIMIT);
    assert_eq!(closes.get(), 1);
    // The slot is gone: registering on the stale handle does nothing.
    s.on_data(|_, _| {});
    assert_eq!(s.listener_count("data"), 0);
}
