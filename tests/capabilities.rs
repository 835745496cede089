//! What the covered TCP APIs need beyond Node: the handler-object form,
//! graceful shutdown from another thread, one loop per core, the blocking
//! one-shot request, the per-socket error history and waiting on a socket.

mod util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nodenet::{cluster, tcp, Bytes, Error, Handler, ListenOptions, Server, ServerOptions, Socket};
use util::*;

/// A handler owning its connection's state: a byte count, and its own log.
struct Recorder {
    name: &'static str,
    bytes: usize,
    trace: Trace,
}

impl Handler for Recorder {
    fn on_connect(&mut self, s: &Socket) {
        self.trace.log(format!("{}:connect", self.name));
        s.write("ping");
    }
    fn on_data(&mut self, s: &Socket, data: &Bytes) {
        self.bytes += data.len();
        if self.name == "S" {
            s.end_with(data.clone());
        }
    }
    fn on_end(&mut self, _: &Socket) {
        self.trace
            .log(format!("{}:end after {} bytes", self.name, self.bytes));
    }
    fn on_error(&mut self, _: &Socket, e: &Error) {
        self.trace.log(format!("{}:error:{}", self.name, e.code()));
    }
    fn on_close(&mut self, _: &Socket, had_error: bool) {
        self.trace.log(format!("{}:close:{had_error}", self.name));
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.trace.log(format!("{}:dropped", self.name));
    }
}

/// The handler form works for accepted and outgoing sockets, gets the
/// events in Node's order, owns its state, and is dropped after `'close'`.
#[test]
fn handler_objects_receive_the_events_and_own_the_state() {
    let trace = Trace::new();
    let t = trace.clone();
    let server = tcp::create_server_with(ServerOptions::default(), move |_: &Socket| Recorder {
        name: "S",
        bytes: 0,
        trace: t.clone(),
    });
    server.on("connection", |srv: &Server, _: &Socket| {
        srv.close();
    });
    let port = listen_local(server);
    tcp::connect_with(
        port,
        "127.0.0.1",
        Recorder {
            name: "C",
            bytes: 0,
            trace: trace.clone(),
        },
    )
    .unwrap();
    run_bounded(LIMIT);
    assert_eq!(
        trace.with_prefix("C:"),
        [
            "C:connect",
            "C:end after 4 bytes",
            "C:close:false",
            "C:dropped"
        ]
    );
    assert_eq!(
        trace.with_prefix("S:"),
        ["S:end after 4 bytes", "S:close:false", "S:dropped"]
    );
}

/// The handler's `on_error` then `on_close(true)` for a refused connect.
#[test]
fn handler_gets_error_then_close() {
    let trace = Trace::new();
    tcp::connect_with(
        closed_port(),
        "127.0.0.1",
        Recorder {
            name: "C",
            bytes: 0,
            trace: trace.clone(),
        },
    )
    .unwrap();
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        ["C:error:ECONNREFUSED", "C:close:true", "C:dropped"]
    );
}

/// `LoopHandle::shutdown` from another thread: the server stops accepting
/// at once, a connection that finishes within the grace period finishes
/// normally, one still open after it is destroyed, and `run()` returns
/// even with an interval still armed.
#[test]
fn graceful_shutdown_from_another_thread() {
    let trace = Trace::new();
    let t = trace.clone();
    let server = tcp::create_server(ServerOptions::default(), move |_: &Server, s: &Socket| {
        let t = t.clone();
        s.on("close", move |_: &Socket, e: bool| {
            t.log(format!("S:close:{e}"))
        });
    });
    server.on("close", {
        let t = trace.clone();
        move |_: &Server| t.log("server:close")
    });
    let port = listen_local(server);
    // A client that never ends: only the grace period ends it.
    let lingering = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    let t = trace.clone();
    lingering.on("close", move |_: &Socket, _: bool| t.log("C:close"));
    let keep_busy = nodenet::set_interval(|| {}, 50);
    let handle = nodenet::handle();
    // Shut down once the connection is up.
    let armed = std::rc::Rc::new(std::cell::Cell::new(false));
    let a = armed.clone();
    lingering.on("connect", move |_: &Socket| {
        if !a.replace(true) {
            let h = handle.clone();
            std::thread::spawn(move || h.shutdown(Duration::from_millis(300)));
        }
    });
    run_bounded(LIMIT);
    nodenet::clear_interval(keep_busy);
    assert!(!server.listening());
    assert!(trace.contains("S:close:false"), "{:?}", trace.entries());
    assert!(trace.contains("C:close"), "{:?}", trace.entries());
    assert!(trace.contains("server:close"), "{:?}", trace.entries());
}

/// One loop per core: two loops share one port through SO_REUSEPORT, both
/// serve, and all shut down through their handles.
#[test]
fn one_loop_per_core_shares_a_port() {
    let served = Arc::new(AtomicUsize::new(0));
    let served_by_loop: Arc<Vec<AtomicUsize>> =
        Arc::new((0..2).map(|_| AtomicUsize::new(0)).collect());
    let (s1, s2) = (served.clone(), served_by_loop.clone());
    let group = cluster::spawn_servers(
        2,
        ServerOptions::default(),
        ListenOptions::new(0).host("127.0.0.1"),
        move |index| {
            let (served, by_loop) = (s1.clone(), s2.clone());
            move |_: &Server, s: &Socket| {
                served.fetch_add(1, Ordering::SeqCst);
                by_loop[index].fetch_add(1, Ordering::SeqCst);
                s.on("data", |s: &Socket, d: &Bytes| {
                    s.write(d);
                });
            }
        },
    )
    .unwrap();
    assert_eq!(group.handles().len(), 2);
    let port = group.port();
    for i in 0..40 {
        let msg = format!("m{i}");
        let reply = tcp::request(port, "127.0.0.1", &msg, Duration::from_secs(5)).unwrap();
        assert_eq!(reply, msg.as_bytes());
    }
    group.shutdown(Duration::from_millis(100));
    group.join().unwrap();
    assert_eq!(served.load(Ordering::SeqCst), 40);
    // The kernel spreads connections by hash: with 40, both loops serve
    // (the chance that one gets none is 2 * 2^-40).
    assert!(served_by_loop.iter().all(|n| n.load(Ordering::SeqCst) > 0));
}

/// A port already taken fails the cluster with the listen error.
#[test]
fn a_cluster_on_a_taken_port_fails() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = cluster::spawn_servers(
        2,
        ServerOptions::default(),
        ListenOptions::new(port).host("127.0.0.1"),
        |_| |_: &Server, _: &Socket| {},
    )
    .unwrap_err();
    assert_eq!(err.code(), "EADDRINUSE");
}

/// The blocking one-shot helper: reply until the peer closes; a refused
/// connection is an error.
#[test]
fn request_returns_the_reply_or_the_error() {
    let group = cluster::spawn_servers(
        1,
        ServerOptions::default(),
        ListenOptions::new(0).host("127.0.0.1"),
        |_| {
            |_: &Server, s: &Socket| {
                s.on("data", |s: &Socket, d: &Bytes| {
                    s.write(d.to_ascii_uppercase());
                });
            }
        },
    )
    .unwrap();
    let reply = tcp::request(group.port(), "127.0.0.1", "hello", Duration::from_secs(5)).unwrap();
    assert_eq!(reply, "HELLO");
    group.shutdown(Duration::ZERO);
    group.join().unwrap();
    let err = tcp::request(closed_port(), "127.0.0.1", "x", Duration::from_secs(5)).unwrap_err();
    assert_eq!(err.code(), "ECONNREFUSED");
}

/// `errors()` keeps the socket's errors; `wait_closed` runs the loop until
/// the socket has closed.
#[test]
fn error_history_and_wait_closed() {
    let c = tcp::connect(closed_port(), "127.0.0.1", |_: &Socket| {}).unwrap();
    let seen = Trace::new();
    let t = seen.clone();
    c.on("error", |_: &Socket, _: &Error| {});
    c.on("close", move |s: &Socket, _: bool| {
        let codes: Vec<&str> = s.errors().iter().map(|e| e.code()).collect();
        t.log(codes.join(","));
    });
    assert!(c.wait_closed(LIMIT).unwrap());
    assert_eq!(seen.entries(), ["ECONNREFUSED"]);
}

/// A shutdown's grace period ends with the run it was meant for: a later
/// run on the same thread is not cut short by it.
#[test]
fn a_finished_shutdown_does_not_reach_the_next_run() {
    let first = tcp::create_server(ServerOptions::default(), |_: &Server, _: &Socket| {});
    listen_local(first);
    let handle = nodenet::handle();
    std::thread::spawn(move || handle.shutdown(Duration::from_millis(300)));
    run_bounded(LIMIT); // the server closes at once: the run ends early
    let (second, port) = echo_server();
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    let reply = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let r = reply.clone();
    c.on("data", move |_: &Socket, d: &Bytes| {
        r.borrow_mut().extend_from_slice(d)
    });
    // Well past the first grace period, then talk.
    let done = std::rc::Rc::new(std::cell::Cell::new(false));
    let d = done.clone();
    nodenet::set_timeout(
        move || {
            c.write("still here");
            let d = d.clone();
            nodenet::set_timeout(move || d.set(true), 200);
        },
        600,
    );
    run_until(LIMIT, || done.get());
    assert!(second.listening(), "the old grace period closed nothing");
    assert!(!c.destroyed());
    assert_eq!(&reply.borrow()[..], b"still here");
    c.destroy();
    second.close();
    run_bounded(LIMIT);
}
