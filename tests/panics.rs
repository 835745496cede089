//! A panic in any callback propagates out of `run*()` after the loop has
//! finished the bookkeeping of the event in progress, and running the loop
//! again loses nothing: queued connections are accepted, data from the same
//! poll batch is delivered, slots are freed, queued timers, ticks,
//! immediates and posted closures run. One test per kind of callback; each
//! catches the panic, checks its message, then runs the loop again.

mod util;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Duration;

use nodenet::{tcp, Bytes, ConnectOptions, ServerOptions, Socket};
use util::*;

/// Runs the loop once, expecting a panic out of it; returns its message.
fn run_expecting_panic() -> String {
    match panic::catch_unwind(AssertUnwindSafe(|| nodenet::run_for(LIMIT))) {
        Ok(result) => panic!("the loop returned {result:?} instead of re-raising the panic"),
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default(),
    }
}

/// Counts its drops: captured by a listener, it tells when the socket's
/// slot (and so its listeners) was freed.
struct DropGuard(Rc<Cell<usize>>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// Blocking clients, connected (and queued in the server's accept backlog)
/// before the loop runs, each having sent `msg`.
fn queued_clients(port: u16, n: usize, msg: &[u8]) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
            c.set_read_timeout(Some(LIMIT)).unwrap();
            c.write_all(msg).unwrap();
            c
        })
        .collect()
}

/// Reads from `c` until `want` bytes came back.
fn read_exactly(c: &mut TcpStream, want: usize) -> Vec<u8> {
    let mut buf = vec![0; want];
    c.read_exact(&mut buf).expect("the echo came back");
    buf
}

/// `'connection'` panics on the first of three queued connections: the
/// accept burst stops there, and the next run accepts the other two (the
/// listening socket is edge-triggered and signals nothing new).
#[test]
fn connection_listener_panics_and_queued_connections_are_accepted_next_run() {
    let accepted = Rc::new(Cell::new(0));
    let a = accepted.clone();
    let server = tcp::create_server(ServerOptions::default(), move |_, s| {
        a.set(a.get() + 1);
        s.on_data(|s, chunk| {
            s.write(chunk);
        });
        if a.get() == 1 {
            panic!("boom in 'connection'");
        }
    });
    let port = listen_local(server);
    let mut clients = queued_clients(port, 3, b"hi");
    assert_eq!(run_expecting_panic(), "boom in 'connection'");
    assert_eq!(accepted.get(), 1, "the burst stopped at the panic");
    run_until(LIMIT, || accepted.get() == 3);
    // Every connection, the one whose listener panicked included, works.
    let handle = spawn_waking(move || {
        for c in &mut clients {
            assert_eq!(read_exactly(c, 2), b"hi");
        }
    });
    run_until(LIMIT, || handle.is_done());
    handle.join();
    server.close();
    nodenet::run_for(Duration::from_millis(200)).unwrap();
}

/// `'data'` panics for the first socket of a poll batch in which three
/// sockets are readable: the other two sockets' data is delivered on the
/// next run, and so is everything the panicking socket had not read yet.
#[test]
fn data_listener_panics_and_the_rest_of_the_batch_is_delivered_next_run() {
    let received = Rc::new(RefCell::new(Vec::<usize>::new()));
    let panicked = Rc::new(Cell::new(false));
    let (r, p) = (received.clone(), panicked.clone());
    let server = tcp::create_server(ServerOptions::default(), move |_, s| {
        let (r, p) = (r.clone(), p.clone());
        r.borrow_mut().push(0);
        let index = r.borrow().len() - 1;
        s.on_data(move |s, chunk| {
            r.borrow_mut()[index] += chunk.len();
            s.write(chunk);
            if !p.replace(true) {
                panic!("boom in 'data'");
            }
        });
    });
    let port = listen_local(server);
    // Accept the three first, then let them all send at once, so that
    // one poll reports the three readable.
    let mut clients = queued_clients(port, 3, b"");
    run_until(LIMIT, || received.borrow().len() == 3);
    let big = random_bytes(300_000, 7);
    for c in &mut clients {
        c.write_all(&big).unwrap();
    }
    // The kernel has the data for all three before the loop looks.
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(run_expecting_panic(), "boom in 'data'");
    let handle = spawn_waking(move || {
        for c in &mut clients {
            assert!(read_exactly(c, big.len()) == big, "echo differs");
        }
    });
    run_until(LIMIT, || handle.is_done());
    handle.join();
    assert_eq!(*received.borrow(), [300_000; 3]);
    server.close();
    nodenet::run_for(Duration::from_millis(200)).unwrap();
}

/// A socket whose `'close'` listener panics is still freed (its listeners
/// dropped), and the other sockets closing in the same phase get theirs.
#[test]
fn close_listener_panics_and_the_slot_is_freed() {
    let drops = Rc::new(Cell::new(0));
    let closes = Rc::new(Cell::new(0));
    let mut sockets = Vec::new();
    for i in 0..3 {
        let guard = DropGuard(drops.clone());
        let c = closes.clone();
        let s = Socket::new(nodenet::SocketOptions::default());
        s.on_close(move |_, _| {
            let _keep = &guard;
            c.set(c.get() + 1);
            if i == 0 {
                panic!("boom in 'close'");
            }
        });
        sockets.push(s);
    }
    for s in &sockets {
        s.destroy();
    }
    assert_eq!(run_expecting_panic(), "boom in 'close'");
    assert_eq!(drops.get(), 1, "the panicking socket's slot was freed");
    run_bounded(LIMIT);
    assert_eq!(closes.get(), 3);
    assert_eq!(drops.get(), 3);
}

/// `'end'` panics: the automatic end, `'finish'` and `'close'` follow on the
/// next run, and the slot is freed.
#[test]
fn end_listener_panics_and_the_socket_still_closes() {
    let drops = Rc::new(Cell::new(0));
    let trace = Trace::new();
    let (t, d) = (trace.clone(), drops.clone());
    let server = tcp::create_server(ServerOptions::default(), move |srv, s| {
        let guard = DropGuard(d.clone());
        let t2 = t.clone();
        s.on_data(|_, _| {})
            .on_end(|_| panic!("boom in 'end'"))
            .on_finish(move |_| t2.log("finish"))
            .on_close(move |_, _| {
                let _keep = &guard;
            });
        srv.close();
    });
    let port = listen_local(server);
    let client = queued_clients(port, 1, b"x");
    client[0].shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(run_expecting_panic(), "boom in 'end'");
    run_bounded(LIMIT);
    assert!(trace.contains("finish"));
    assert_eq!(drops.get(), 1);
}

/// `'drain'` panics: the next run goes on — the end after it flushes and
/// every byte reaches the peer.
#[test]
fn drain_listener_panics_and_the_stream_completes() {
    const LEN: usize = 32 << 20;
    let data = Bytes::from(random_bytes(LEN, 3));
    let d = data.clone();
    let drained = Rc::new(Cell::new(false));
    let dr = drained.clone();
    let server = tcp::create_server(ServerOptions::default(), move |srv, s| {
        // More than the kernel's buffers on both sides can take at once:
        // the write must queue.
        assert!(!s.write(d.clone()), "32 MiB cannot all go at once");
        let dr = dr.clone();
        s.once_drain(move |s| {
            dr.set(true);
            s.end();
            panic!("boom in 'drain'");
        });
        srv.close();
    });
    let port = listen_local(server);
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let reader = spawn_waking(move || {
        let mut got = Vec::with_capacity(LEN);
        client.read_to_end(&mut got).unwrap();
        got
    });
    assert_eq!(run_expecting_panic(), "boom in 'drain'");
    assert!(drained.get());
    run_bounded(LIMIT);
    let got = reader.join();
    assert!(got == data, "the stream arrived whole");
}

/// Two sockets time out in the same wheel slot; the first one's
/// `'timeout'` panics. The second's `'timeout'` still comes, on the next
/// run.
#[test]
fn timeout_listener_panics_and_the_other_timeouts_still_fire() {
    let fired = Rc::new(RefCell::new(Vec::new()));
    let panicked = Rc::new(Cell::new(false));
    let (server, port) = echo_server();
    let mut sockets = Vec::new();
    for i in 0..2 {
        let (f, p) = (fired.clone(), panicked.clone());
        let s = tcp::connect(port, "127.0.0.1", |_| {}).unwrap();
        s.set_timeout(1000).on_timeout(move |s| {
            f.borrow_mut().push(i);
            s.destroy();
            if !p.replace(true) {
                panic!("boom in 'timeout'");
            }
        });
        sockets.push(s);
    }
    assert_eq!(run_expecting_panic(), "boom in 'timeout'");
    assert_eq!(fired.borrow().len(), 1);
    run_until(LIMIT, || fired.borrow().len() == 2);
    server.close();
    run_bounded(LIMIT);
}

/// `'error'` panics: `'close'` still follows and the slot is freed.
#[test]
fn error_listener_panics_and_close_follows() {
    let drops = Rc::new(Cell::new(0));
    let closed = Rc::new(Cell::new(false));
    let guard = DropGuard(drops.clone());
    let c = closed.clone();
    tcp::connect(closed_port(), "127.0.0.1", |_| {})
        .unwrap()
        .on_error(|_, err| panic!("boom in 'error': {}", err.code()))
        .on_close(move |_, had_error| {
            let _keep = &guard;
            assert!(had_error);
            c.set(true);
        });
    assert_eq!(run_expecting_panic(), "boom in 'error': ECONNREFUSED");
    run_bounded(LIMIT);
    assert!(closed.get());
    assert_eq!(drops.get(), 1);
}

/// A timer panics; another timer due in the same phase runs on the next
/// run, and an interval that panicked is still armed.
#[test]
fn timer_panics_and_the_other_timers_still_run() {
    let trace = Trace::new();
    let (t1, t2) = (trace.clone(), trace.clone());
    nodenet::set_timeout(
        move || {
            t1.log("first");
            panic!("boom in a timer");
        },
        5,
    );
    nodenet::set_timeout(move || t2.log("second"), 5);
    let ticks = Rc::new(Cell::new(0));
    let tk = ticks.clone();
    let interval = nodenet::set_interval(
        move || {
            tk.set(tk.get() + 1);
            if tk.get() == 1 {
                panic!("boom in an interval");
            }
        },
        5,
    );
    // Let both be due before the loop looks.
    std::thread::sleep(Duration::from_millis(20));
    let first = run_expecting_panic();
    assert!(first.starts_with("boom in a"), "{first}");
    let second = run_expecting_panic();
    assert!(
        second.starts_with("boom in a") && second != first,
        "{second}"
    );
    run_until(LIMIT, || ticks.get() >= 3);
    nodenet::clear_interval(interval);
    run_bounded(LIMIT);
    assert_eq!(trace.entries(), ["first", "second"]);
}

/// A write callback panics: the other write callbacks still run, in
/// order, and the data all arrives.
#[test]
fn write_callback_panics_and_the_others_still_run() {
    let trace = Trace::new();
    let (server, port) = echo_server();
    let t = trace.clone();
    let client = tcp::connect(port, "127.0.0.1", move |s| {
        for i in 0..3 {
            let t = t.clone();
            s.write_cb(format!("{i}"), move |_, err| {
                assert!(err.is_none());
                t.log(format!("cb{i}"));
                if i == 0 {
                    panic!("boom in a write callback");
                }
            });
        }
    })
    .unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    client.on_data(move |s, chunk| {
        g.borrow_mut().extend_from_slice(chunk);
        if g.borrow().len() == 3 {
            s.end();
        }
    });
    assert_eq!(run_expecting_panic(), "boom in a write callback");
    run_until(LIMIT, || got.borrow().len() == 3);
    server.close();
    run_bounded(LIMIT);
    assert_eq!(trace.entries(), ["cb0", "cb1", "cb2"]);
    assert_eq!(&got.borrow()[..], b"012");
}

/// A tick panics; the ticks queued after it run on the next run, in order.
#[test]
fn tick_panics_and_the_queued_ticks_still_run() {
    let trace = Trace::new();
    let t = trace.clone();
    nodenet::set_immediate(move || {
        for i in 0..3 {
            let t = t.clone();
            nodenet::next_tick(move || {
                t.log(format!("tick{i}"));
                if i == 0 {
                    panic!("boom in a tick");
                }
            });
        }
    });
    assert_eq!(run_expecting_panic(), "boom in a tick");
    assert_eq!(trace.entries(), ["tick0"]);
    run_bounded(LIMIT);
    assert_eq!(trace.entries(), ["tick0", "tick1", "tick2"]);
}

/// An immediate panics; the immediates queued after it run on the next
/// run.
#[test]
fn immediate_panics_and_the_others_still_run() {
    let trace = Trace::new();
    for i in 0..3 {
        let t = trace.clone();
        nodenet::set_immediate(move || {
            t.log(format!("imm{i}"));
            if i == 1 {
                panic!("boom in an immediate");
            }
        });
    }
    assert_eq!(run_expecting_panic(), "boom in an immediate");
    run_bounded(LIMIT);
    assert_eq!(trace.entries(), ["imm0", "imm1", "imm2"]);
}

/// A posted closure panics; the ones posted after it run on the next run,
/// in order.
#[test]
fn posted_closure_panics_and_the_others_still_run() {
    let handle = nodenet::handle();
    let (tx, rx) = std::sync::mpsc::channel();
    let keep = nodenet::set_timeout(|| {}, 60_000);
    for i in 0..3 {
        let tx = tx.clone();
        handle
            .post(move || {
                tx.send(i).unwrap();
                if i == 0 {
                    panic!("boom in a posted closure");
                }
            })
            .unwrap();
    }
    assert_eq!(run_expecting_panic(), "boom in a posted closure");
    let got = RefCell::new(rx.try_iter().collect::<Vec<i32>>());
    assert_eq!(*got.borrow(), [0]);
    run_until(LIMIT, || {
        got.borrow_mut().extend(rx.try_iter());
        got.borrow().len() == 3
    });
    nodenet::clear_timeout(keep);
    run_bounded(LIMIT);
    assert_eq!(*got.borrow(), [0, 1, 2]);
}

/// A custom resolver panics (on the resolver thread): the socket gets
/// `'error'` and `'close'` instead of connecting forever, and the panic is
/// re-raised from `run*()` on the loop thread.
#[test]
fn resolver_panics_and_the_socket_errors_and_closes() {
    let trace = Trace::new();
    let s = tcp::create_connection(ConnectOptions {
        port: 80,
        host: "example.invalid".into(),
        lookup: Some(tcp::Resolver::new(|_| panic!("boom in a resolver"))),
        ..ConnectOptions::default()
    })
    .unwrap();
    trace_socket(&s, &trace, "C");
    let message = run_expecting_panic();
    assert_eq!(message, "boom in a resolver");
    run_bounded(LIMIT);
    let errors = trace.with_prefix("C:error:");
    assert_eq!(errors.len(), 1, "{:?}", trace.entries());
    assert!(trace.contains("C:close:true"), "{:?}", trace.entries());
    assert!(s.destroyed());
}

/// `'connect'` panics: `'ready'` and the first `'data'` still come, and the
/// socket works on the next run.
#[test]
fn connect_listener_panics_and_the_socket_still_works() {
    let trace = Trace::new();
    let (server, port) = echo_server();
    let t = trace.clone();
    let client = tcp::connect(port, "127.0.0.1", |s| {
        s.write("hello");
        panic!("boom in 'connect'");
    })
    .unwrap();
    let t2 = t.clone();
    client
        .on_ready(move |_| t2.log("ready"))
        .on_data(move |s, chunk| {
            t.log(format!("data:{}", String::from_utf8_lossy(chunk)));
            s.end();
        });
    assert_eq!(run_expecting_panic(), "boom in 'connect'");
    run_until(LIMIT, || trace.contains("data:hello"));
    server.close();
    run_bounded(LIMIT);
    assert_eq!(trace.entries(), ["ready", "data:hello"]);
}

/// A write callback that completes on a flush (its bytes were queued)
/// panics: the callbacks after it still run, and the pending `end()`
/// still shuts the socket down (`'finish'`, then `'close'`).
#[test]
fn queued_write_callback_panics_and_the_end_still_happens() {
    const LEN: usize = 32 << 20;
    let trace = Trace::new();
    let t = trace.clone();
    let server = tcp::create_server(ServerOptions::default(), move |srv, s| {
        for i in 0..3 {
            let t = t.clone();
            let chunk = if i == 0 {
                Bytes::from(vec![1u8; LEN])
            } else {
                Bytes::from_static(b"x")
            };
            s.write_cb(chunk, move |_, err| {
                assert!(err.is_none());
                t.log(format!("cb{i}"));
                if i == 0 {
                    panic!("boom in a queued write's callback");
                }
            });
        }
        s.end();
        let t = t.clone();
        s.on_finish(move |_| t.log("finish"));
        srv.close();
    });
    let port = listen_local(server);
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let reader = spawn_waking(move || {
        let mut got = 0usize;
        let mut buf = vec![0; 1 << 20];
        loop {
            match client.read(&mut buf) {
                Ok(0) | Err(_) => return got,
                Ok(n) => got += n,
            }
        }
    });
    assert_eq!(run_expecting_panic(), "boom in a queued write's callback");
    run_bounded(LIMIT);
    assert_eq!(reader.join(), LEN + 2);
    assert_eq!(trace.entries(), ["cb0", "cb1", "cb2", "finish"]);
}
