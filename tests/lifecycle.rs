//! Lifecycle and event order (net-behaviours sections A, C and parts of D).

mod util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use nodenet::{
    tcp, Bytes, Error, ErrorCode, ReadyState, Server, ServerOptions, Socket, SocketOptions,
};
use util::*;

/// N01: the server writes then ends; the client sees the full lifecycle.
#[test]
fn n01_full_client_lifecycle_when_server_writes_then_ends() {
    let trace = Trace::new();
    let t = trace.clone();
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        trace_socket(s, &t, "S");
        s.end_with("hello");
        srv.close();
    });
    let port = listen_local(server);
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    trace_socket(&c, &trace, "C");
    run_bounded(LIMIT);
    assert_eq!(
        trace.with_prefix("C:"),
        [
            "C:connect",
            "C:ready",
            "C:data:hello",
            "C:end",
            "C:finish",
            "C:close:false"
        ]
    );
    assert_eq!(
        trace.with_prefix("S:"),
        ["S:finish", "S:end", "S:close:false"]
    );
}

/// N02: the client half-closes first (allowHalfOpen=false on both sides).
/// The server socket is not destroyed while its 'end' runs; the client's
/// 'end' comes after the server socket has closed.
#[test]
fn n02_client_half_closes_first() {
    let trace = Trace::new();
    let t = trace.clone();
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        let t2 = t.clone();
        // Registered before trace_socket's listeners, so it runs first.
        s.on("end", move |s: &Socket| {
            t2.log(format!(
                "S:in-end writable={} readable={} destroyed={} state={}",
                s.writable(),
                s.readable(),
                s.destroyed(),
                s.ready_state()
            ))
        });
        trace_socket(s, &t, "S");
        srv.close();
    });
    let port = listen_local(server);
    let t = trace.clone();
    let c = tcp::connect(port, "127.0.0.1", move |s: &Socket| {
        s.end_with("bye");
        t.log(format!(
            "C:after-end state={} writable={}",
            s.ready_state(),
            s.writable()
        ));
    })
    .unwrap();
    let t = trace.clone();
    c.on("end", move |s: &Socket| {
        t.log(format!("C:in-end state={}", s.ready_state()))
    });
    trace_socket(&c, &trace, "C");
    let t = trace.clone();
    // A handle is stale once 'close' has run, so "after close" is read in it.
    c.on("close", move |s: &Socket, _: bool| {
        t.log(format!("C:in-close pending={}", s.pending()))
    });
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        [
            // The listener given to connect() was registered first.
            "C:after-end state=readOnly writable=false",
            "C:connect",
            "C:ready",
            "C:finish",
            "S:data:bye",
            "S:in-end writable=true readable=false destroyed=false state=writeOnly",
            "S:end",
            "S:finish",
            "S:close:false",
            "C:in-end state=closed",
            "C:end",
            "C:close:false",
            "C:in-close pending=true",
        ]
    );
}

/// N03: 'end' waits until buffered data is consumed. With no 'data'
/// listener and no resume(), the FIN is read but 'end' is held back; a
/// 'data' listener added later gets the data, then 'end' and 'close'.
#[test]
fn n03_end_needs_the_buffered_data_to_be_consumed() {
    let trace = Trace::new();
    let server = tcp::create_server(ServerOptions::default(), |srv: &Server, s: &Socket| {
        s.end_with("hello");
        srv.close();
    });
    let port = listen_local(server);
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    let t = trace.clone();
    c.on("end", move |_: &Socket| t.log("C:end"));
    let t = trace.clone();
    c.on("close", move |_: &Socket, e: bool| {
        t.log(format!("C:close:{e}"))
    });
    // Wait until the 5 bytes (and the FIN behind them) have been read into
    // the socket's buffer, then a while longer.
    run_until(LIMIT, || c.readable_length() == 5);
    let waited = Rc::new(Cell::new(false));
    let w = waited.clone();
    nodenet::set_timeout(move || w.set(true), 300);
    run_until(LIMIT, || waited.get());
    assert!(trace.entries().is_empty(), "{:?}", trace.entries());
    assert_eq!(c.readable_length(), 5);
    assert_eq!(c.bytes_read(), 5);
    assert!(!c.destroyed());
    assert_eq!(c.ready_state(), ReadyState::Open);
    let t = trace.clone();
    c.on("data", move |_: &Socket, d: &Bytes| {
        t.log(format!("C:data:{}", String::from_utf8_lossy(d)))
    });
    run_bounded(LIMIT);
    assert_eq!(trace.entries(), ["C:data:hello", "C:end", "C:close:false"]);
}

/// N04: a bare FIN emits 'end' with no consumer at all.
#[test]
fn n04_bare_fin_emits_end_without_a_consumer() {
    let trace = Trace::new();
    let server = tcp::create_server(ServerOptions::default(), |srv: &Server, s: &Socket| {
        s.end();
        srv.close();
    });
    let port = listen_local(server);
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    for ev in ["connect", "end", "finish"] {
        let t = trace.clone();
        c.on(ev, move |_: &Socket| t.log(ev));
    }
    let t = trace.clone();
    c.on("close", move |_: &Socket, e: bool| {
        t.log(format!("close:{e}"))
    });
    run_bounded(LIMIT);
    // The automatic end() (allowHalfOpen=false) gives 'finish' between them.
    assert_eq!(trace.entries(), ["connect", "end", "finish", "close:false"]);
}

/// N05: flowing mode with no 'data' listener drops data. Node's timing
/// (listener added at 80 ms) is replaced by waiting until `bytes_read`
/// shows the early bytes were read and dropped.
#[test]
fn n05_flowing_without_a_data_listener_drops_data() {
    let trace = Trace::new();
    let accepted: Rc<RefCell<Option<Socket>>> = Rc::default();
    let a = accepted.clone();
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        s.write("early");
        *a.borrow_mut() = Some(*s);
        srv.close();
    });
    let port = listen_local(server);
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    c.resume();
    let t = trace.clone();
    c.on("end", move |_: &Socket| t.log("end"));
    let t = trace.clone();
    c.on("close", move |_: &Socket, e: bool| {
        t.log(format!("close:{e}"))
    });
    run_until(LIMIT, || c.bytes_read() == 5);
    assert_eq!(c.readable_length(), 0, "flowing: nothing is buffered");
    let t = trace.clone();
    c.on("data", move |_: &Socket, d: &Bytes| {
        t.log(format!("data:{}", String::from_utf8_lossy(d)))
    });
    let s = accepted.borrow().expect("accepted");
    s.end_with("late");
    run_bounded(LIMIT);
    assert_eq!(trace.entries(), ["data:late", "end", "close:false"]);
}

/// N07: destroy() right after connect(): no 'connect', no 'error', then
/// close(false).
#[test]
fn n07_destroy_immediately_after_connect() {
    let trace = Trace::new();
    let server = tcp::create_server(ServerOptions::default(), |_: &Server, s: &Socket| {
        s.on("error", |_: &Socket, _: &Error| {});
    });
    let port = listen_local(server);
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    trace_socket(&c, &trace, "C");
    assert!(c.connecting());
    assert_eq!(c.destroy(), c);
    assert!(c.destroyed());
    assert!(!c.connecting());
    assert!(trace.entries().is_empty(), "nothing runs inside destroy()");
    let t = trace.clone();
    c.on("close", move |_: &Socket, _: bool| {
        server.close();
        t.log("C:closed");
    });
    run_bounded(LIMIT);
    assert_eq!(trace.entries(), ["C:close:false", "C:closed"]);
}

/// N08: destroying a socket that never had a connection: 'close' once, on a
/// later turn. Node passes no argument (`hadError === undefined`); nodenet's
/// 'close' always carries a bool, so it is `false`.
#[test]
fn n08_destroying_a_never_connected_socket() {
    let trace = Trace::new();
    let s = Socket::new(SocketOptions::default());
    trace_socket(&s, &trace, "C");
    assert_eq!(s.destroy(), s);
    assert!(s.destroyed());
    assert!(trace.entries().is_empty(), "'close' is not synchronous");
    run_bounded(LIMIT);
    assert_eq!(trace.entries(), ["C:close:false"]);
}

/// N09: destroy(err) on a connected socket: returns at once with nothing
/// emitted; then 'error' (before a next_tick queued after the call), the
/// next_tick, the set_immediate, and close(true) last.
#[test]
fn n09_timing_of_destroy_with_error() {
    let trace = Trace::new();
    let server = tcp::create_server(ServerOptions::default(), |srv: &Server, s: &Socket| {
        s.on("error", |_: &Socket, _: &Error| {});
        srv.close();
    });
    let port = listen_local(server);
    let t = trace.clone();
    let c = tcp::connect(port, "127.0.0.1", move |s: &Socket| {
        let r = s.destroy_with(Error::new(ErrorCode::ERR_INVALID_ARG_VALUE, "x"));
        assert_eq!(r, *s);
        t.log(format!("destroyed={}", s.destroyed()));
        let t2 = t.clone();
        nodenet::next_tick(move || t2.log("nextTick"));
        let t2 = t.clone();
        nodenet::set_immediate(move || t2.log("setImmediate"));
        t.log("returned");
    })
    .unwrap();
    let t = trace.clone();
    c.on("error", move |_: &Socket, e: &Error| {
        t.log(format!("error:{}:{}", e.code(), e.message()))
    });
    let t = trace.clone();
    c.on("close", move |_: &Socket, e: bool| {
        t.log(format!("close:{e}"))
    });
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        [
            "destroyed=true",
            "returned",
            "error:ERR_INVALID_ARG_VALUE:x",
            "nextTick",
            "setImmediate",
            "close:true",
        ]
    );
}

/// N10: destroy() is idempotent and returns the socket; a write after it
/// returns false and its callback gets ERR_STREAM_DESTROYED; no 'error',
/// then close(false).
#[test]
fn n10_destroy_is_idempotent_and_write_after_destroy_fails_the_callback() {
    let trace = Trace::new();
    let server = tcp::create_server(ServerOptions::default(), |srv: &Server, s: &Socket| {
        s.on("error", |_: &Socket, _: &Error| {});
        srv.close();
    });
    let port = listen_local(server);
    let t = trace.clone();
    let c = tcp::connect(port, "127.0.0.1", move |s: &Socket| {
        assert_eq!(s.destroy().destroy(), *s);
        let t2 = t.clone();
        let ok = s.write_cb("x", move |_: &Socket, e: Option<&Error>| {
            let e = e.expect("an error");
            t2.log(format!("cb:{}:{}", e.code(), e.message()));
        });
        t.log(format!("write={ok}"));
    })
    .unwrap();
    trace_socket(&c, &trace, "C");
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        [
            "write=false",
            "C:connect",
            "C:ready",
            "cb:ERR_STREAM_DESTROYED:Cannot call write after a stream was destroyed",
            "C:close:false",
        ]
    );
}

/// N11: destroy() inside the first of two 'data' listeners: the second
/// still runs for that chunk; no 'end'; close(false). The peer sees a
/// normal end and close(false).
#[test]
fn n11_destroy_inside_a_data_listener() {
    let trace = Trace::new();
    let t = trace.clone();
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        trace_socket(s, &t, "S");
        s.write("hello");
        srv.close();
    });
    let port = listen_local(server);
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    let t = trace.clone();
    c.on("data", move |s: &Socket, d: &Bytes| {
        t.log(format!("C:data1:{}", String::from_utf8_lossy(d)));
        s.destroy();
    });
    let t = trace.clone();
    c.on("data", move |s: &Socket, d: &Bytes| {
        t.log(format!(
            "C:data2:{} destroyed={}",
            String::from_utf8_lossy(d),
            s.destroyed()
        ))
    });
    trace_socket(&c, &trace, "C");
    run_bounded(LIMIT);
    assert_eq!(
        trace.with_prefix("C:"),
        [
            "C:connect",
            "C:ready",
            "C:data1:hello",
            "C:data2:hello destroyed=true",
            "C:data:hello",
            "C:close:false",
        ]
    );
    assert_eq!(
        trace.with_prefix("S:"),
        ["S:end", "S:finish", "S:close:false"]
    );
}

/// N22: with allowHalfOpen=false, writing inside 'end' still works: the
/// automatic end() runs after the 'end' listeners.
#[test]
fn n22_writing_inside_end_still_works() {
    let trace = Trace::new();
    let received = Rc::new(RefCell::new(Vec::new()));
    let t = trace.clone();
    let r = received.clone();
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        let r = r.clone();
        s.on("data", move |_: &Socket, d: &Bytes| {
            r.borrow_mut().extend_from_slice(d)
        });
        let t = t.clone();
        s.on("close", move |_: &Socket, e: bool| {
            t.log(format!("S:close:{e}"))
        });
        s.end();
        srv.close();
    });
    let port = listen_local(server);
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    let t = trace.clone();
    c.on("end", move |s: &Socket| {
        t.log(format!(
            "C:end allow_half_open={} writable={} writable_ended={} destroyed={}",
            s.allow_half_open(),
            s.writable(),
            s.writable_ended(),
            s.destroyed()
        ));
        let t2 = t.clone();
        let ok = s.write_cb("written-in-end", move |_: &Socket, e: Option<&Error>| {
            t2.log(format!("C:write-cb:{:?}", e.map(Error::code)))
        });
        t.log(format!("C:write={ok}"));
    });
    let t = trace.clone();
    c.on("finish", move |_: &Socket| t.log("C:finish"));
    let t = trace.clone();
    c.on("close", move |_: &Socket, e: bool| {
        t.log(format!("C:close:{e}"))
    });
    run_bounded(LIMIT);
    assert_eq!(
        trace.with_prefix("C:"),
        [
            "C:end allow_half_open=false writable=true writable_ended=false destroyed=false",
            "C:write=true",
            "C:write-cb:None",
            "C:finish",
            "C:close:false",
        ]
    );
    assert_eq!(trace.with_prefix("S:"), ["S:close:false"]);
    assert_eq!(&received.borrow()[..], b"written-in-end");
}

/// N23: allowHalfOpen=true on both sides: after the client's end('req')
/// the server stays writable, a late write is delivered, and nothing
/// closes until the server's own end().
#[test]
fn n23_allow_half_open_keeps_the_other_direction_open() {
    let trace = Trace::new();
    let t = trace.clone();
    let opts = ServerOptions {
        socket: SocketOptions {
            allow_half_open: true,
            ..SocketOptions::default()
        },
        ..ServerOptions::default()
    };
    let server = tcp::create_server(opts, move |srv: &Server, s: &Socket| {
        trace_socket(s, &t, "S");
        let t = t.clone();
        s.on("end", move |s: &Socket| {
            t.log(format!(
                "S:in-end readable={} writable={} state={}",
                s.readable(),
                s.writable(),
                s.ready_state()
            ));
            let s = *s;
            let t = t.clone();
            nodenet::set_timeout(
                move || {
                    t.log(format!("S:late-write={}", s.write("0123456789")));
                    nodenet::set_timeout(
                        move || {
                            s.end();
                        },
                        100,
                    );
                },
                100,
            );
        });
        srv.close();
    });
    let port = listen_local(server);
    let c = connect_half_open(port);
    let t = trace.clone();
    c.once("connect", move |s: &Socket| {
        s.end_with("req");
        t.log(format!(
            "C:after-end writable={} readable={}",
            s.writable(),
            s.readable()
        ));
    });
    trace_socket(&c, &trace, "C");
    run_bounded(LIMIT);
    assert_eq!(
        trace.with_prefix("C:"),
        [
            "C:after-end writable=false readable=true",
            "C:connect",
            "C:ready",
            "C:finish",
            "C:data:0123456789",
            "C:end",
            "C:close:false",
        ]
    );
    assert_eq!(
        trace.with_prefix("S:"),
        [
            "S:data:req",
            "S:end",
            "S:in-end readable=false writable=true state=writeOnly",
            "S:late-write=true",
            "S:finish",
            "S:close:false",
        ]
    );
    // Nothing closed before the explicit end(): the late write came first.
    let all = trace.entries();
    let pos = |e: &str| all.iter().position(|x| x == e).unwrap();
    assert!(pos("S:late-write=true") < pos("C:data:0123456789"));
    assert!(pos("S:finish") < pos("C:end"));
    // Node emits the client's 'close' before the server socket's; nodenet's
    // server socket closes in the same turn as its 'finish', before the
    // client has even read the FIN. Both orders are legal loop schedules.
}

/// N25: write after our own end(): returns false and destroys at once;
/// the callback gets ERR_STREAM_WRITE_AFTER_END, then 'error', then
/// close(true).
#[test]
fn n25_write_after_end_fails_the_socket() {
    let trace = Trace::new();
    let server = tcp::create_server(ServerOptions::default(), |srv: &Server, s: &Socket| {
        s.on("error", |_: &Socket, _: &Error| {});
        srv.close();
    });
    let port = listen_local(server);
    let t = trace.clone();
    let c = tcp::connect(port, "127.0.0.1", move |s: &Socket| {
        s.end();
        let t2 = t.clone();
        let ok = s.write_cb("late", move |_: &Socket, e: Option<&Error>| {
            let e = e.expect("an error");
            t2.log(format!("cb:{}:{}", e.code(), e.message()))
        });
        t.log(format!("write={ok} destroyed={}", s.destroyed()));
    })
    .unwrap();
    trace_socket(&c, &trace, "C");
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        [
            "write=false destroyed=true",
            "C:connect",
            "C:ready",
            "cb:ERR_STREAM_WRITE_AFTER_END:write after end",
            "C:error:ERR_STREAM_WRITE_AFTER_END",
            "C:close:true",
        ]
    );
}

/// N27: writes before connect are queued and sent in order with later
/// ones; the first returns true (default high-water mark, small write).
#[test]
fn n27_writes_before_connect_are_queued_in_order() {
    let (server, port) = echo_server();
    let echoed = Rc::new(RefCell::new(Vec::new()));
    let c = tcp::connect(port, "127.0.0.1", |s: &Socket| {
        assert!(s.write(" after"));
    })
    .unwrap();
    assert!(c.write("before"));
    let e = echoed.clone();
    c.on("data", move |s: &Socket, d: &Bytes| {
        e.borrow_mut().extend_from_slice(d);
        if e.borrow().len() >= 12 {
            s.end();
            server.close();
        }
    });
    run_bounded(LIMIT);
    assert_eq!(&echoed.borrow()[..], b"before after");
}

/// N28: high-water mark 0: queued writes while connecting return false,
/// are counted in `bytes_written` at once (UTF-8 bytes), are not counted
/// twice once sent, and arrive in order.
#[test]
fn n28_queued_writes_while_connecting_with_high_water_mark_0() {
    let trace = Trace::new();
    let received = Rc::new(RefCell::new(Vec::new()));
    let r = received.clone();
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        let r = r.clone();
        s.on("data", move |_: &Socket, d: &Bytes| {
            r.borrow_mut().extend_from_slice(d)
        });
        srv.close();
    });
    let port = listen_local(server);
    let c = Socket::new(SocketOptions {
        high_water_mark: Some(0),
        ..SocketOptions::default()
    });
    c.connect(port, "127.0.0.1").unwrap();
    assert!(c.pending());
    assert!(c.connecting());
    assert_eq!(c.ready_state(), ReadyState::Opening);
    let a = "L'État, c'est ";
    assert_eq!(a.len(), 15);
    let t = trace.clone();
    let ok = c.write_cb(a, move |s: &Socket, e: Option<&Error>| {
        t.log(format!(
            "cb:{:?} pending={} connecting={} bytes_written={}",
            e.map(Error::code),
            s.pending(),
            s.connecting(),
            s.bytes_written()
        ))
    });
    assert!(!ok, "high-water mark 0");
    assert_eq!(c.bytes_written(), 15);
    c.end_with("moi");
    assert_eq!(c.bytes_written(), 18);
    let t = trace.clone();
    c.on("close", move |s: &Socket, e: bool| {
        t.log(format!("close:{e} pending={}", s.pending()))
    });
    c.resume();
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        [
            "cb:None pending=false connecting=false bytes_written=18",
            "close:false pending=true",
        ]
    );
    assert_eq!(
        String::from_utf8_lossy(&received.borrow()),
        "L'État, c'est moi"
    );
}

/// N34: end() while still connecting: the shutdown waits for the
/// connection; connect → finish → end → close.
#[test]
fn n34_end_while_connecting() {
    let trace = Trace::new();
    let t = trace.clone();
    let received = Rc::new(RefCell::new(Vec::new()));
    let r = received.clone();
    let accepted = Rc::new(Cell::new(0));
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        let r = r.clone();
        s.on("data", move |_: &Socket, d: &Bytes| {
            r.borrow_mut().extend_from_slice(d)
        });
        let t = t.clone();
        s.on("end", move |_: &Socket| t.log("S:end"));
        accepted.set(accepted.get() + 1);
        if accepted.get() == 2 {
            srv.close();
        }
    });
    let port = listen_local(server);
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    c.resume();
    c.end_with("x");
    assert!(c.connecting());
    assert!(!c.writable());
    for ev in ["connect", "ready", "finish", "end"] {
        let t = trace.clone();
        c.on(ev, move |_: &Socket| t.log(format!("C:{ev}")));
    }
    let t = trace.clone();
    c.on("close", move |_: &Socket, e: bool| {
        t.log(format!("C:close:{e}"))
    });
    // The callback form, while connecting, too.
    let c2 = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    let t = trace.clone();
    c2.end_cb(move |s: &Socket, e: Option<&Error>| {
        t.log(format!(
            "C2:end-cb:{:?} pending={}",
            e.map(Error::code),
            s.pending()
        ))
    });
    let t = trace.clone();
    c2.on("close", move |_: &Socket, e: bool| {
        t.log(format!("C2:close:{e}"))
    });
    run_bounded(LIMIT);
    assert_eq!(
        trace.with_prefix("C:"),
        ["C:connect", "C:ready", "C:finish", "C:end", "C:close:false"]
    );
    assert_eq!(
        trace.with_prefix("C2:"),
        ["C2:end-cb:None pending=false", "C2:close:false"]
    );
    assert_eq!(trace.count("S:end"), 2, "{:?}", trace.entries());
    assert_eq!(&received.borrow()[..], b"x");
}

/// N32: end() with pending writes flushes everything before the FIN: 10
/// writes of 2 MB with callbacks, then end(cb); every write callback has
/// run when end's runs; the reader (pausing now and then) gets all 20 MB in
/// order, then 'end', then close(false).
#[test]
fn n32_end_with_pending_writes_flushes_everything_before_fin() {
    const CHUNK: usize = 2_000_000;
    let data = Rc::new(random_bytes(10 * CHUNK, 32));
    let trace = Trace::new();
    let d = data.clone();
    let t = trace.clone();
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        let done = Rc::new(Cell::new(0usize));
        for i in 0..10 {
            let chunk = Bytes::copy_from_slice(&d[i * CHUNK..(i + 1) * CHUNK]);
            let done = done.clone();
            let t2 = t.clone();
            let ok = s.write_cb(chunk, move |_: &Socket, e: Option<&Error>| {
                assert!(e.is_none());
                assert_eq!(done.get(), i, "write callbacks run in order");
                done.set(i + 1);
                t2.log(format!("S:write-cb:{i}"));
            });
            // What write() promises, whatever the kernel took: `true` iff
            // the queue is empty or below the high-water mark.
            let queued = s.writable_length();
            let promised = queued == 0 || queued < s.writable_high_water_mark();
            t.log(format!("S:write:{i}={}", ok == promised));
        }
        let t2 = t.clone();
        s.end_cb(move |_: &Socket, e: Option<&Error>| {
            assert!(e.is_none());
            t2.log(format!("S:end-cb after {} write callbacks", done.get()));
        });
        srv.close();
    });
    let port = listen_local(server);
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    let offset = Rc::new(Cell::new(0usize));
    let chunks = Rc::new(Cell::new(0usize));
    let (o, n, d) = (offset.clone(), chunks.clone(), data.clone());
    c.on("data", move |s: &Socket, chunk: &Bytes| {
        let at = o.get();
        assert!(at + chunk.len() <= d.len(), "more bytes than were sent");
        assert!(
            d[at..at + chunk.len()] == chunk[..],
            "bytes differ at offset {at}"
        );
        o.set(at + chunk.len());
        n.set(n.get() + 1);
        if n.get() % 50 == 0 {
            s.pause();
            let s = *s;
            nodenet::set_timeout(
                move || {
                    s.resume();
                },
                5,
            );
        }
    });
    let (t, o) = (trace.clone(), offset.clone());
    c.on("end", move |_: &Socket| {
        t.log(format!("C:end after {} bytes", o.get()))
    });
    let t = trace.clone();
    c.on("close", move |_: &Socket, e: bool| {
        t.log(format!("C:close:{e}"))
    });
    run_bounded(LIMIT * 6);
    let writes = trace.with_prefix("S:write:");
    // How much the kernel takes at once is up to it (a cached window can
    // take several MB): only the return value's promise is checked.
    let expected: Vec<String> = (0..10).map(|i| format!("S:write:{i}=true")).collect();
    assert_eq!(writes, expected);
    let cbs = trace.with_prefix("S:write-cb:");
    assert_eq!(
        cbs,
        (0..10)
            .map(|i| format!("S:write-cb:{i}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        trace.with_prefix("S:end-cb"),
        ["S:end-cb after 10 write callbacks"]
    );
    assert_eq!(
        trace.with_prefix("C:"),
        ["C:end after 20000000 bytes", "C:close:false"]
    );
}

/// N33: each end() callback form runs its callback exactly once, before
/// 'finish': end_cb(cb); end_with(data) then end_cb(cb); write_cb(data, cb)
/// then end_cb(cb).
#[test]
fn n33_end_callback_forms() {
    let trace = Trace::new();
    let received = Rc::new(RefCell::new(Vec::new()));
    let r = received.clone();
    let server = tcp::create_server(ServerOptions::default(), move |_: &Server, s: &Socket| {
        let r = r.clone();
        s.on("data", move |_: &Socket, d: &Bytes| {
            r.borrow_mut().push(String::from_utf8_lossy(d).into_owned())
        });
    });
    let port = listen_local(server);
    let closed = Rc::new(Cell::new(0));
    for form in 0..3 {
        let t = trace.clone();
        let c = tcp::connect(port, "127.0.0.1", move |s: &Socket| {
            let tag = format!("C{form}");
            let t2 = t.clone();
            let tag2 = tag.clone();
            let cb = move |_: &Socket, e: Option<&Error>| {
                t2.log(format!("{tag2}:end-cb:{:?}", e.map(Error::code)))
            };
            match form {
                0 => {
                    s.end_cb(cb);
                }
                1 => {
                    s.end_with("foo1").end_cb(cb);
                }
                _ => {
                    let t3 = t.clone();
                    s.write_cb("foo2", move |_: &Socket, e: Option<&Error>| {
                        t3.log(format!("{tag}:write-cb:{:?}", e.map(Error::code)))
                    });
                    s.end_cb(cb);
                }
            }
        })
        .unwrap();
        let t = trace.clone();
        c.on("finish", move |_: &Socket| t.log(format!("C{form}:finish")));
        let closed = closed.clone();
        c.on("close", move |_: &Socket, _: bool| {
            closed.set(closed.get() + 1);
            if closed.get() == 3 {
                server.close();
            }
        });
    }
    run_bounded(LIMIT);
    assert_eq!(trace.with_prefix("C0:"), ["C0:end-cb:None", "C0:finish"]);
    assert_eq!(trace.with_prefix("C1:"), ["C1:end-cb:None", "C1:finish"]);
    assert_eq!(
        trace.with_prefix("C2:"),
        ["C2:write-cb:None", "C2:end-cb:None", "C2:finish"]
    );
    let mut got = received.borrow().clone();
    got.sort();
    assert_eq!(got, ["foo1", "foo2"]);
}

/// Like a Node process, the loop ends once its last timer has run, and a
/// `run_until` condition met inside a timer callback ends the run then,
/// not at the next I/O event. (Regression: the poll that follows the
/// timers phase used to block with nothing left to wake it.) Each scenario
/// runs on its own thread, so a hang fails the test instead of blocking it.
#[test]
fn run_returns_once_a_timer_has_done_the_last_work() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let fired = Rc::new(Cell::new(false));
        let f = fired.clone();
        nodenet::set_timeout(move || f.set(true), 5);
        nodenet::run().unwrap();
        tx.send(fired.get()).unwrap();
    });
    assert_eq!(
        rx.recv_timeout(LIMIT),
        Ok(true),
        "run() hung after its last timer"
    );

    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // A listening server keeps the loop alive; only the timer can end
        // the wait.
        let server = tcp::create_server(ServerOptions::default(), |_: &Server, _: &Socket| {});
        listen_local(server);
        let fired = Rc::new(Cell::new(false));
        let f = fired.clone();
        nodenet::set_timeout(move || f.set(true), 5);
        let reached = nodenet::run_until(|| fired.get()).unwrap();
        server.close();
        nodenet::run().unwrap();
        tx.send(reached).unwrap();
    });
    assert_eq!(
        rx.recv_timeout(LIMIT),
        Ok(true),
        "run_until() missed its condition"
    );
}

/// N38: `destroy_soon()` after a 1 MB write: our side is ended at once but
/// not destroyed; `'finish'` then `'close'`; the peer gets every byte, then
/// `'end'`.
#[test]
fn n38_destroy_soon_sends_everything_then_closes() {
    const SIZE: usize = 1_000_000;
    let trace = Trace::new();
    let got = Rc::new(Cell::new(0usize));
    let (t, g) = (trace.clone(), got.clone());
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        let g1 = g.clone();
        s.on("data", move |_: &Socket, d: &Bytes| {
            g1.set(g1.get() + d.len())
        });
        let (t, g) = (t.clone(), g.clone());
        s.on("end", move |_: &Socket| {
            t.log(format!("S:end after {} bytes", g.get()))
        });
        srv.close();
    });
    let port = listen_local(server);
    let t = trace.clone();
    let c = tcp::connect(port, "127.0.0.1", move |s: &Socket| {
        s.write(vec![7u8; SIZE]);
        s.destroy_soon();
        t.log(format!(
            "C:after destroy_soon ended={} destroyed={}",
            s.writable_ended(),
            s.destroyed()
        ));
    })
    .unwrap();
    let t = trace.clone();
    c.on("finish", move |s: &Socket| {
        t.log(format!("C:finish finished={}", s.writable_finished()))
    });
    let t = trace.clone();
    c.on("close", move |s: &Socket, e: bool| {
        t.log(format!("C:close:{e} closed={}", s.closed()))
    });
    run_bounded(LIMIT);
    assert_eq!(
        trace.with_prefix("C:"),
        [
            "C:after destroy_soon ended=true destroyed=false",
            "C:finish finished=true",
            "C:close:false closed=true"
        ]
    );
    assert_eq!(
        trace.with_prefix("S:"),
        [format!("S:end after {SIZE} bytes")]
    );
}

/// Issue 10, item 8 (and 7): what `destroy` / `destroy_with(err)` tell the
/// callbacks of writes still queued. Node 20 (confirmed with a script on
/// 127.0.0.1: a 16 MiB write to a peer that does not read, then 'x' and
/// 'y', then `destroy(err)`): the 16 MiB write, which the kernel has
/// partly taken, is in flight and its callback gets no error; 'x' and 'y',
/// still in the stream's buffer, get `err` itself (`destroy()` without an
/// error: `ERR_STREAM_DESTROYED`). (Node calls them after `'error'`;
/// nodenet before it.)
#[test]
fn destroy_fails_waiting_writes_with_its_error_and_completes_the_started_one() {
    for with_error in [true, false] {
        let trace = Trace::new();
        let server = tcp::create_server(
            ServerOptions {
                pause_on_connect: true,
                ..Default::default()
            },
            |srv: &Server, s: &Socket| {
                s.on("error", |_: &Socket, _: &Error| {});
                srv.close();
            },
        );
        let port = listen_local(server);
        let t = trace.clone();
        let c = tcp::connect(port, "127.0.0.1", move |s: &Socket| {
            // A pinned send buffer: the kernel takes some of the 16 MiB
            // write, never all of it.
            pin_buffers(s, 64 * 1024);
            for (name, data) in [
                ("big", vec![b'z'; 16 << 20]),
                ("x", b"x".to_vec()),
                ("y", b"y".to_vec()),
            ] {
                let t = t.clone();
                s.write_cb(data, move |_: &Socket, e: Option<&Error>| {
                    t.log(format!("cb {name} {}", e.map_or("ok", Error::code)))
                });
            }
            let (s, t) = (*s, t.clone());
            nodenet::set_timeout(
                move || {
                    t.log(format!("queued {}", s.writable_length() > 0));
                    if with_error {
                        s.destroy_with(Error::new(ErrorCode::ECONNABORTED, "boom"));
                    } else {
                        s.destroy();
                    }
                },
                100,
            );
        })
        .unwrap();
        let t = trace.clone();
        c.on("error", move |_: &Socket, e: &Error| {
            t.log(format!("error {} {}", e.code(), e.message()))
        });
        let t = trace.clone();
        c.on("close", move |_: &Socket, h: bool| {
            t.log(format!("close {h}"))
        });
        run_bounded(LIMIT);
        let mut expected = vec!["queued true", "cb big ok"];
        if with_error {
            expected.extend(["cb x ECONNABORTED", "cb y ECONNABORTED"]);
            expected.extend(["error ECONNABORTED boom", "close true"]);
        } else {
            expected.extend(["cb x ERR_STREAM_DESTROYED", "cb y ERR_STREAM_DESTROYED"]);
            expected.push("close false");
        }
        assert_eq!(trace.entries(), expected, "with_error={with_error}");
    }
}

/// Issue 10, item 7, while connecting (Node 20, confirmed with a script):
/// the first write, which waits for 'connect', gets
/// `ERR_SOCKET_CLOSED_BEFORE_CONNECTION` either way; the later ones get
/// `destroy_with`'s error, or the same `ERR_SOCKET_CLOSED_BEFORE_CONNECTION`
/// after a plain `destroy()`.
#[test]
fn destroy_while_connecting_fails_later_writes_with_its_error() {
    for with_error in [true, false] {
        let trace = Trace::new();
        let (server, port) = echo_server();
        let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
        assert!(c.connecting());
        for name in ["a", "b"] {
            let t = trace.clone();
            c.write_cb(name, move |_: &Socket, e: Option<&Error>| {
                t.log(format!("cb {name} {}", e.map_or("ok", Error::code)))
            });
        }
        let t = trace.clone();
        c.on("error", move |_: &Socket, e: &Error| {
            t.log(format!("error {}", e.code()))
        });
        if with_error {
            c.destroy_with(Error::new(ErrorCode::ECONNABORTED, "boom"));
        } else {
            c.destroy();
        }
        server.close();
        run_bounded(LIMIT);
        let later = if with_error {
            "cb b ECONNABORTED"
        } else {
            "cb b ERR_SOCKET_CLOSED_BEFORE_CONNECTION"
        };
        let mut expected = vec!["cb a ERR_SOCKET_CLOSED_BEFORE_CONNECTION", later];
        if with_error {
            expected.push("error ECONNABORTED");
        }
        assert_eq!(trace.entries(), expected, "with_error={with_error}");
    }
}
