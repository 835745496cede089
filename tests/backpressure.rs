//! The write path and flow control (net-behaviours sections D and F):
//! what `write()` returns against the high-water mark, `'drain'`, write
//! callbacks, and `pause()` / `resume()` pushing back on the peer.

mod util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use nodenet::{tcp, Bytes, ConnectOptions, Error, Server, ServerOptions, Socket, SocketOptions};
use util::*;

const CHUNK: usize = 64 * 1024;

/// A server that reads and counts everything, per connection, in total.
fn sink_server(received: Rc<Cell<usize>>) -> (Server, u16) {
    let server = tcp::create_server(ServerOptions::default(), move |_: &Server, s: &Socket| {
        let r = received.clone();
        s.on("data", move |_: &Socket, chunk: &Bytes| {
            r.set(r.get() + chunk.len())
        })
        .on("error", |_: &Socket, _: &Error| {});
    });
    let port = listen_local(server);
    (server, port)
}

/// 256 distinct 64 KiB chunks: chunk `i` is all `i as u8`, so a reader can
/// check every byte against its offset in the stream.
fn pattern_chunks() -> Vec<Bytes> {
    (0..256)
        .map(|i| Bytes::from(vec![i as u8; CHUNK]))
        .collect()
}

/// Checks `chunk`, received at stream offset `offset`, against the pattern.
fn check_pattern(offset: usize, chunk: &[u8]) {
    let mut at = offset;
    let mut rest = chunk;
    while !rest.is_empty() {
        let expected = ((at / CHUNK) % 256) as u8;
        let n = rest.len().min(CHUNK - at % CHUNK);
        assert!(
            rest[..n].iter().all(|&b| b == expected),
            "corrupt or reordered data near offset {at}"
        );
        at += n;
        rest = &rest[n..];
    }
}

/// N27, backpressure side: writes made while connecting are queued in
/// order and count against the high-water mark (8 bytes here): `true`
/// below it, `false` at it, also for a write made in `'connect'` before the
/// queue is flushed; one `'drain'` once it empties; the peer gets
/// everything in order.
#[test]
fn n27_writes_before_connect_queue_in_order_against_the_mark() {
    let (server, port) = echo_server();
    let trace = Trace::new();
    let c = tcp::create_connection(ConnectOptions {
        port,
        host: "127.0.0.1".into(),
        socket: SocketOptions {
            high_water_mark: Some(8),
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap();
    assert!(c.connecting());
    assert!(c.write("before"), "6 bytes < 8");
    assert_eq!(c.writable_length(), 6);
    assert!(!c.writable_need_drain());
    assert!(!c.write(" middle"), "13 bytes >= 8");
    assert_eq!(c.writable_length(), 13);
    assert_eq!(c.bytes_written(), 13);
    assert!(c.writable_need_drain());

    let t = trace.clone();
    c.on("connect", move |s: &Socket| {
        t.log(format!("connect:queued={}", s.writable_length()));
        let ok = s.write(" after");
        t.log(format!("write-in-connect:{ok}"));
    });
    let t = trace.clone();
    c.on("drain", move |s: &Socket| {
        t.log(format!("drain:queued={}", s.writable_length()))
    });
    let echoed = Rc::new(RefCell::new(Vec::new()));
    let e = echoed.clone();
    c.on("data", move |s: &Socket, chunk: &Bytes| {
        e.borrow_mut().extend_from_slice(chunk);
        if e.borrow().len() >= 19 {
            s.end();
        }
    });
    run_until(LIMIT, || echoed.borrow().len() >= 19);
    assert_eq!(&echoed.borrow()[..], b"before middle after");
    assert_eq!(
        trace.entries(),
        [
            "connect:queued=13",
            "write-in-connect:false",
            "drain:queued=0"
        ]
    );
    assert_eq!(c.bytes_written(), 19);
    server.close();
    run_bounded(LIMIT);
    assert_eq!(trace.count("drain:queued=0"), 1);
}

/// N29: with a high-water mark of 16384, while connecting: 16383 bytes ->
/// `true` with `writable_length` 16383; one more byte -> `false` and
/// `writable_need_drain()`; exactly one `'drain'` after connect; then a
/// small write is `true` again.
#[test]
fn n29_write_return_value_against_the_high_water_mark_while_connecting() {
    let received = Rc::new(Cell::new(0));
    let (server, port) = sink_server(received.clone());
    let c = tcp::create_connection(ConnectOptions {
        port,
        host: "127.0.0.1".into(),
        socket: SocketOptions {
            high_water_mark: Some(16384),
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap();
    assert_eq!(c.writable_high_water_mark(), 16384);
    assert!(c.write(vec![1u8; 16383]));
    assert_eq!(c.writable_length(), 16383);
    assert!(!c.writable_need_drain());
    assert!(!c.write(&[2u8]));
    assert_eq!(c.writable_length(), 16384);
    assert!(c.writable_need_drain());

    let drains = Rc::new(Cell::new(0));
    let d = drains.clone();
    c.on("drain", move |s: &Socket| {
        d.set(d.get() + 1);
        assert_eq!(s.writable_length(), 0);
        assert!(!s.writable_need_drain());
        assert!(s.write("small"), "a small write after 'drain' is true");
    });
    run_until(LIMIT, || received.get() == 16384 + 5);
    // Anything spurious would have shown up by now.
    nodenet::run_for(Duration::from_millis(100)).unwrap();
    assert_eq!(drains.get(), 1);
    c.end();
    server.close();
    run_bounded(LIMIT);
    assert_eq!(drains.get(), 1);
    assert_eq!(received.get(), 16384 + 5);
}

/// N29: once connected, with the reader paused: 64 KiB writes return `true`
/// while the kernel takes them, `false` once a chunk stays queued (the queue
/// is then at least the 64 KiB default mark), and go on queueing; exactly
/// one `'drain'` per false-to-empty transition (two rounds here); all bytes
/// arrive.
#[test]
fn n29_connected_writes_and_one_drain_per_transition() {
    let received = Rc::new(Cell::new(0usize));
    let reader: Rc<Cell<Option<Socket>>> = Rc::default();
    let (r, rd) = (received.clone(), reader.clone());
    let server = tcp::create_server(
        ServerOptions {
            pause_on_connect: true,
            ..Default::default()
        },
        move |_: &Server, s: &Socket| {
            let r = r.clone();
            s.on("data", move |_: &Socket, chunk: &Bytes| {
                r.set(r.get() + chunk.len())
            });
            rd.set(Some(*s));
        },
    );
    let port = listen_local(server);
    let connected = Rc::new(Cell::new(false));
    let cn = connected.clone();
    let c = tcp::connect(port, "127.0.0.1", move |_: &Socket| cn.set(true)).unwrap();
    let drains = Rc::new(Cell::new(0));
    let d = drains.clone();
    c.on("drain", move |_: &Socket| d.set(d.get() + 1));
    run_until(LIMIT, || connected.get() && reader.get().is_some());
    let reader = reader.get().unwrap();
    assert!(reader.is_paused());
    assert_eq!(
        c.writable_high_water_mark(),
        64 * 1024,
        "nodenet's default mark"
    );

    let chunk = Bytes::from(vec![7u8; CHUNK]);
    let mut written = 0;
    for round in 1..=2 {
        // Write until false: the kernel takes a lot on loopback first.
        let mut trues = 0;
        loop {
            let ok = c.write(chunk.clone());
            written += CHUNK;
            if !ok {
                break;
            }
            trues += 1;
            assert!(trues < 100_000, "write() never returned false");
        }
        let queued = c.writable_length();
        assert!(
            (CHUNK..2 * CHUNK).contains(&queued),
            "round {round}: false once a chunk stays queued, got {queued}"
        );
        assert!(c.writable_need_drain());
        // Further writes are still queued, and still false.
        for i in 1..=3 {
            assert!(!c.write(chunk.clone()));
            written += CHUNK;
            assert_eq!(c.writable_length(), queued + i * CHUNK);
        }
        assert_eq!(drains.get(), round - 1, "no 'drain' inside write()");
        reader.resume();
        run_until(LIMIT, || drains.get() == round && received.get() == written);
        assert_eq!(c.writable_length(), 0);
        assert!(!c.writable_need_drain());
        assert!(c.write("x"), "a small write after 'drain' is true");
        written += 1;
        run_until(LIMIT, || received.get() == written);
        reader.pause();
    }
    nodenet::run_for(Duration::from_millis(100)).unwrap();
    assert_eq!(
        drains.get(),
        2,
        "exactly one 'drain' per false-to-empty transition"
    );
    c.destroy();
    reader.destroy();
    server.close();
    run_bounded(LIMIT);
}

/// N30: a producer writes 64 KiB chunks until `write()` is `false` and
/// resumes on `'drain'`; the reader pauses for 300 ms mid-stream, during
/// which the producer's queue holds at least a chunk and it waits for
/// `'drain'`. No byte is lost or reordered, and there is one `'drain'` per
/// pump that ended with `false`.
#[test]
fn n30_producer_loop_resumes_on_drain_and_loses_nothing() {
    const TOTAL: usize = 32 * 1024 * 1024;
    let chunks = Rc::new(pattern_chunks());
    let written = Rc::new(Cell::new(0usize));
    let pumps_blocked = Rc::new(Cell::new(0));
    let drains = Rc::new(Cell::new(0));
    let producer: Rc<Cell<Option<Socket>>> = Rc::default();

    let (w, pb, dr, pr) = (
        written.clone(),
        pumps_blocked.clone(),
        drains.clone(),
        producer.clone(),
    );
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        srv.close();
        // Pinned on both ends, so the 31 MB left when the reader pauses
        // cannot all fit in the kernel's buffers, whatever its defaults.
        pin_buffers(s, 64 * 1024);
        pr.set(Some(*s));
        let (w, pb, chunks) = (w.clone(), pb.clone(), chunks.clone());
        let pump = Rc::new(move |s: &Socket| {
            while w.get() < TOTAL {
                let i = w.get() / CHUNK;
                w.set(w.get() + CHUNK);
                if !s.write(chunks[i % 256].clone()) {
                    pb.set(pb.get() + 1);
                    return;
                }
            }
            s.end();
        });
        let p = pump.clone();
        let dr = dr.clone();
        s.on("drain", move |s: &Socket| {
            dr.set(dr.get() + 1);
            p(s);
        });
        pump(s);
    });
    let port = listen_local(server);

    let got = Rc::new(Cell::new(0usize));
    let paused_checked = Rc::new(Cell::new(false));
    let ended = Rc::new(Cell::new(false));
    let (g, pc, pr) = (got.clone(), paused_checked.clone(), producer.clone());
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    pin_buffers(&c, 64 * 1024);
    c.on("data", move |s: &Socket, chunk: &Bytes| {
        check_pattern(g.get(), chunk);
        let before = g.get();
        g.set(before + chunk.len());
        if before < 1024 * 1024 && g.get() >= 1024 * 1024 {
            s.pause();
            let (s, pc, pr) = (*s, pc.clone(), pr.clone());
            nodenet::set_timeout(
                move || {
                    let p = pr.get().unwrap();
                    assert!(p.writable_length() >= CHUNK, "{}", p.writable_length());
                    assert!(p.writable_need_drain());
                    pc.set(true);
                    s.resume();
                },
                300,
            );
        }
    });
    let e = ended.clone();
    c.on("end", move |_: &Socket| e.set(true));
    run_bounded(LIMIT);
    assert!(paused_checked.get());
    assert!(ended.get());
    assert_eq!(written.get(), TOTAL);
    assert_eq!(got.get(), TOTAL);
    assert!(pumps_blocked.get() >= 2, "the producer never had to wait");
    assert_eq!(drains.get(), pumps_blocked.get());
}

/// N31: write callbacks run once each, in write order, with no error, on a
/// later turn (never inside `write()`); writes made while connecting and
/// after connecting share one order.
#[test]
fn n31_write_callbacks_in_order() {
    let received = Rc::new(Cell::new(0));
    let (server, port) = sink_server(received.clone());
    let trace = Trace::new();
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    let cb = |i: usize| {
        let t = trace.clone();
        move |_: &Socket, err: Option<&Error>| t.log(format!("cb{i}:{:?}", err.map(|e| e.code())))
    };
    c.write_cb(vec![0u8; 1 << 20], cb(0));
    c.write_cb("a", cb(1));
    let (cb2, cb3, cb4) = (cb(2), cb(3), cb(4));
    let cbs = RefCell::new(Some((cb2, cb3, cb4)));
    let t = trace.clone();
    c.once("connect", move |s: &Socket| {
        let (cb2, cb3, cb4) = cbs.borrow_mut().take().unwrap();
        s.write_cb(vec![0u8; 1 << 20], cb2);
        s.write_cb("b", cb3);
        s.write_cb(Bytes::from_static(b"c"), cb4);
        t.log(format!("after-writes:{}", t.entries().len()));
    });
    assert!(trace.entries().is_empty(), "no callback inside write()");
    let total = 2 * (1 << 20) + 3;
    run_until(LIMIT, || {
        received.get() == total && trace.count("cb4:None") == 1
    });
    nodenet::run_for(Duration::from_millis(50)).unwrap();
    assert_eq!(
        trace.entries(),
        [
            "after-writes:0",
            "cb0:None",
            "cb1:None",
            "cb2:None",
            "cb3:None",
            "cb4:None"
        ]
    );
    c.end();
    server.close();
    run_bounded(LIMIT);
}

/// N43: pause/resume while connecting, then a `'data'` listener. Clients 1
/// (resume), 2 (pause, resume) and 4 (resume, pause, resume) get the data;
/// 3 (pause) and 5 (resume, resume, pause) get none: a `'data'` listener
/// does not resume an explicitly paused socket. Resuming 3 later delivers
/// what it buffered.
#[test]
fn n43_pause_resume_while_connecting() {
    let server = tcp::create_server(ServerOptions::default(), |_: &Server, s: &Socket| {
        s.on("error", |_: &Socket, _: &Error| {});
        s.end_with("line\n");
    });
    let port = listen_local(server);
    let trace = Trace::new();
    let mut clients = Vec::new();
    for n in 1..=5 {
        let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
        match n {
            1 => {
                c.resume();
            }
            2 => {
                c.pause().resume();
            }
            3 => {
                c.pause();
            }
            4 => {
                c.resume().pause().resume();
            }
            _ => {
                c.resume().resume().pause();
            }
        }
        assert_eq!(c.is_paused(), n == 3 || n == 5, "client {n}");
        trace_socket(&c, &trace, &format!("c{n}"));
        clients.push(c);
    }
    let flowing_done = || {
        ["c1", "c2", "c4"]
            .iter()
            .all(|t| trace.contains(&format!("{t}:close:false")))
    };
    run_until(LIMIT, flowing_done);
    // The paused ones had every chance to (wrongly) get data by now.
    nodenet::run_for(Duration::from_millis(200)).unwrap();
    for n in [1, 2, 4] {
        assert_eq!(
            trace.stripped(&format!("c{n}:")),
            [
                "connect",
                "ready",
                "data:line\n",
                "end",
                "finish",
                "close:false"
            ],
            "client {n}"
        );
    }
    for n in [3, 5] {
        assert_eq!(
            trace.stripped(&format!("c{n}:")),
            ["connect", "ready"],
            "client {n}"
        );
        assert!(clients[n - 1].is_paused());
        // Paused when the connection came up: like Node, nothing is read
        // from the kernel until resume().
        assert_eq!(clients[n - 1].bytes_read(), 0, "client {n}");
        assert_eq!(clients[n - 1].readable_length(), 0, "client {n}");
    }
    assert_eq!(
        trace
            .entries()
            .iter()
            .filter(|e| e.contains(":data:"))
            .count(),
        3
    );

    clients[2].resume();
    run_until(LIMIT, || trace.contains("c3:close:false"));
    assert_eq!(
        trace.stripped("c3:"),
        [
            "connect",
            "ready",
            "data:line\n",
            "end",
            "finish",
            "close:false"
        ]
    );
    clients[4].destroy();
    server.close();
    run_bounded(LIMIT);
}

/// N44: `pause()` pushes back on the writer: while paused no `'data'`,
/// `is_paused()`, the reader buffers about one high-water mark (at least the
/// mark, less than the mark plus one 64 KiB read) and stops reading; the
/// writer's queue grows and it needs a drain. After `resume()` everything
/// arrives intact and the writer gets `'drain'`.
#[test]
fn n44_pause_applies_backpressure() {
    const TOTAL: usize = 32 * 1024 * 1024;
    let chunks = Rc::new(pattern_chunks());
    let written = Rc::new(Cell::new(0usize));
    let drains = Rc::new(Cell::new(0));
    let writer: Rc<Cell<Option<Socket>>> = Rc::default();
    let (w, dr, wr) = (written.clone(), drains.clone(), writer.clone());
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        srv.close();
        // Pinned on both ends: while the reader is paused, the writer's
        // queue grows whatever the kernel's defaults.
        pin_buffers(s, 64 * 1024);
        wr.set(Some(*s));
        let (w, chunks) = (w.clone(), chunks.clone());
        let pump = Rc::new(move |s: &Socket| {
            while w.get() < TOTAL {
                let i = w.get() / CHUNK;
                w.set(w.get() + CHUNK);
                if !s.write(chunks[i % 256].clone()) {
                    return;
                }
            }
            s.end();
        });
        let (p, dr) = (pump.clone(), dr.clone());
        s.on("drain", move |s: &Socket| {
            dr.set(dr.get() + 1);
            p(s);
        });
        pump(s);
    });
    let port = listen_local(server);

    let got = Rc::new(Cell::new(0usize));
    let data_events = Rc::new(Cell::new(0));
    let paused = Rc::new(Cell::new(false));
    let (g, de, pa) = (got.clone(), data_events.clone(), paused.clone());
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    pin_buffers(&c, 64 * 1024);
    c.on("data", move |s: &Socket, chunk: &Bytes| {
        check_pattern(g.get(), chunk);
        g.set(g.get() + chunk.len());
        de.set(de.get() + 1);
        if !pa.get() {
            pa.set(true);
            s.pause();
        }
    });
    let ended = Rc::new(Cell::new(false));
    let read_at_end = Rc::new(Cell::new(0));
    let (e, rae) = (ended.clone(), read_at_end.clone());
    c.on("end", move |s: &Socket| {
        e.set(true);
        rae.set(s.bytes_read());
    });

    run_until(LIMIT, || paused.get());
    let events_at_pause = data_events.get();
    nodenet::run_for(Duration::from_millis(300)).unwrap();
    assert_eq!(data_events.get(), events_at_pause, "'data' while paused");
    assert!(c.is_paused());
    let hwm = c.writable_high_water_mark();
    let buffered = c.readable_length();
    assert!(
        (hwm..hwm + 64 * 1024).contains(&buffered),
        "the paused reader should stop at about one mark, buffered {buffered}"
    );
    let w = writer.get().unwrap();
    assert!(
        w.writable_length() >= CHUNK,
        "writer queue {}",
        w.writable_length()
    );
    assert!(w.writable_need_drain());
    let drains_at_pause = drains.get();
    // Still stopped: the reader did not read on.
    nodenet::run_for(Duration::from_millis(100)).unwrap();
    assert_eq!(c.readable_length(), buffered);
    assert_eq!(drains.get(), drains_at_pause);

    c.resume();
    assert!(!c.is_paused());
    run_bounded(LIMIT);
    assert!(ended.get());
    assert_eq!(got.get(), TOTAL);
    // Read at 'end': after 'close' the handle is stale (a nodenet
    // difference: Node keeps bytesRead readable after 'close').
    assert_eq!(read_at_end.get(), TOTAL as u64);
    assert!(
        drains.get() > drains_at_pause,
        "the writer got 'drain' after resume"
    );
}

/// N44 (last bullet): a connected socket that is explicitly paused and idle
/// does not keep `run()` alive, while a flowing idle one does.
#[test]
fn n44_paused_idle_socket_does_not_keep_the_loop_alive() {
    let accepted: Rc<Cell<Option<Socket>>> = Rc::default();
    let a = accepted.clone();
    let server = tcp::create_server(
        ServerOptions {
            pause_on_connect: true,
            ..Default::default()
        },
        move |srv: &Server, s: &Socket| {
            a.set(Some(*s));
            srv.close();
        },
    );
    let port = listen_local(server);
    let connected = Rc::new(Cell::new(false));
    let cn = connected.clone();
    let c = tcp::connect(port, "127.0.0.1", move |_: &Socket| cn.set(true)).unwrap();
    run_until(LIMIT, || connected.get() && accepted.get().is_some());
    c.pause();

    // Both ends paused, nothing else: run() returns, the unref'd timer that
    // would prove otherwise never fires.
    let fired = Rc::new(Cell::new(false));
    let f = fired.clone();
    let probe = nodenet::set_timeout(move || f.set(true), 200).unref();
    run_bounded(LIMIT);
    assert!(!fired.get(), "a paused idle socket kept the loop alive");
    assert!(!c.destroyed());
    nodenet::clear_timeout(probe);

    // Flowing and idle: the loop stays alive (the probe fires).
    c.resume();
    let f = fired.clone();
    nodenet::set_timeout(move || f.set(true), 100).unref();
    nodenet::run_for(Duration::from_millis(300)).unwrap();
    assert!(
        fired.get(),
        "a flowing idle socket should keep the loop alive"
    );

    c.destroy();
    accepted.get().unwrap().destroy();
    run_bounded(LIMIT);
}

/// N45: `pause_on_connect`: the accepted socket is paused in
/// `'connection'`, reads nothing (`bytes_read()` 0, no `'data'`) until
/// `resume()`, then gets the client's bytes.
#[test]
fn n45_pause_on_connect() {
    let trace = Trace::new();
    let accepted: Rc<Cell<Option<Socket>>> = Rc::default();
    let (a, t) = (accepted.clone(), trace.clone());
    let server = tcp::create_server(
        ServerOptions {
            pause_on_connect: true,
            ..Default::default()
        },
        move |_: &Server, s: &Socket| {
            t.log(format!("connection:paused={}", s.is_paused()));
            let t2 = t.clone();
            s.on("data", move |_: &Socket, chunk: &Bytes| {
                t2.log(format!("data:{}", String::from_utf8_lossy(chunk)))
            });
            a.set(Some(*s));
        },
    );
    let port = listen_local(server);
    let wrote = Rc::new(Cell::new(false));
    let w = wrote.clone();
    let c = tcp::connect(port, "127.0.0.1", move |s: &Socket| {
        let w = w.clone();
        s.write_cb("test", move |_: &Socket, _: Option<&Error>| w.set(true));
    })
    .unwrap();
    run_until(LIMIT, || wrote.get() && accepted.get().is_some());
    nodenet::run_for(Duration::from_millis(150)).unwrap();
    let s = accepted.get().unwrap();
    assert_eq!(trace.entries(), ["connection:paused=true"]);
    assert_eq!(s.bytes_read(), 0, "nothing is read before resume()");
    assert!(s.is_paused());

    s.resume();
    run_until(LIMIT, || trace.contains("data:test"));
    assert_eq!(trace.entries(), ["connection:paused=true", "data:test"]);
    assert_eq!(s.bytes_read(), 4);
    c.destroy();
    server.close();
    run_bounded(LIMIT);
}

/// A server that records everything it receives and how many reads that
/// took, and reports both at the client's FIN.
fn recording_server(received: Rc<RefCell<Vec<u8>>>) -> u16 {
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        let r = received.clone();
        s.on("data", move |_: &Socket, d: &Bytes| {
            r.borrow_mut().extend_from_slice(d)
        })
        .on("error", |_: &Socket, _: &Error| {});
        srv.close();
    });
    listen_local(server)
}

/// N37: `cork()` while connecting holds the writes; `bytes_written()`
/// counts them at once, at `'connect'` and at the end; the peer gets them
/// in order.
#[test]
fn n37_cork_while_connecting_counts_and_sends_in_order() {
    let received = Rc::new(RefCell::new(Vec::new()));
    let port = recording_server(received.clone());
    let at_connect = Rc::new(Cell::new(0));
    let ac = at_connect.clone();
    let c = tcp::connect(port, "127.0.0.1", move |s: &Socket| {
        ac.set(s.bytes_written())
    })
    .unwrap();
    c.cork();
    assert_eq!(c.writable_corked(), 1);
    assert!(c.write("one"));
    assert!(c.write(Bytes::from("twø")));
    c.uncork();
    assert_eq!(c.writable_corked(), 0);
    assert_eq!(c.bytes_written(), 7);
    let at_finish = Rc::new(Cell::new(0));
    let af = at_finish.clone();
    c.on("finish", move |s: &Socket| af.set(s.bytes_written()));
    c.end();
    run_bounded(LIMIT);
    assert_eq!(at_connect.get(), 7);
    assert_eq!(at_finish.get(), 7);
    assert_eq!(&received.borrow()[..], "onetwø".as_bytes());
}

/// N37: a connected loop of `cork(); write(2 B); write(2 B); uncork()` 100
/// times: every write returns true, nothing is lost, write callbacks all
/// run in order.
#[test]
fn n37_cork_uncork_loop_batches_writes() {
    let received = Rc::new(RefCell::new(Vec::new()));
    let port = recording_server(received.clone());
    let trace = Trace::new();
    let returns = Rc::new(RefCell::new(Vec::new()));
    let (t, r) = (trace.clone(), returns.clone());
    let c = tcp::connect(port, "127.0.0.1", move |s: &Socket| {
        for i in 0..100u32 {
            s.cork();
            r.borrow_mut().push(s.write(format!("{:02}", i % 100)));
            let t = t.clone();
            r.borrow_mut()
                .push(s.write_cb("..", move |_: &Socket, e: Option<&Error>| {
                    t.log(format!("cb{i}:{}", e.is_none()))
                }));
            s.uncork();
        }
        s.end();
    })
    .unwrap();
    c.on("error", |_: &Socket, e: &Error| panic!("client error {e}"));
    run_bounded(LIMIT);
    assert_eq!(returns.borrow().len(), 200);
    assert!(returns.borrow().iter().all(|&ok| ok));
    let expected: String = (0..100u32).map(|i| format!("{:02}..", i % 100)).collect();
    assert_eq!(String::from_utf8_lossy(&received.borrow()), expected);
    let expected_cbs: Vec<String> = (0..100).map(|i| format!("cb{i}:true")).collect();
    assert_eq!(trace.entries(), expected_cbs);
}

/// `end()` while corked sends what was held, then the FIN.
#[test]
fn end_while_corked_flushes_then_finishes() {
    let received = Rc::new(RefCell::new(Vec::new()));
    let port = recording_server(received.clone());
    let trace = Trace::new();
    let t = trace.clone();
    let c = tcp::connect(port, "127.0.0.1", |s: &Socket| {
        s.cork();
        s.write("held ");
        s.write("back");
        s.end();
    })
    .unwrap();
    c.on("finish", move |s: &Socket| {
        t.log(format!("finish corked={}", s.writable_corked()))
    });
    run_bounded(LIMIT);
    assert_eq!(&received.borrow()[..], b"held back");
    assert_eq!(trace.entries(), ["finish corked=0"]);
}

/// Issue 10, item 4: `cork()` under backpressure. Bytes written after
/// `cork()` stay queued through writable edges until `uncork()`, even
/// while bytes queued before it flush (as in Node, where the write already
/// handed to the handle goes on and the corked ones wait in the stream's
/// buffer); after `uncork()` everything arrives, in order, nothing lost.
/// The buffers are pinned and the reader paused, so the queue backs up
/// whatever the kernel's defaults.
#[test]
fn corked_writes_wait_for_uncork_under_backpressure() {
    let received = Rc::new(RefCell::new(Vec::new()));
    let reader: Rc<Cell<Option<Socket>>> = Rc::default();
    let (r, rd) = (received.clone(), reader.clone());
    let server = tcp::create_server(
        ServerOptions {
            pause_on_connect: true,
            ..Default::default()
        },
        move |srv: &Server, s: &Socket| {
            srv.close();
            pin_buffers(s, 4096);
            let r = r.clone();
            s.on("data", move |_: &Socket, d: &Bytes| {
                r.borrow_mut().extend_from_slice(d)
            });
            rd.set(Some(*s));
        },
    );
    let port = listen_local(server);
    let connected = Rc::new(Cell::new(false));
    let cn = connected.clone();
    let c = tcp::connect(port, "127.0.0.1", move |_: &Socket| cn.set(true)).unwrap();
    run_until(LIMIT, || connected.get() && reader.get().is_some());
    pin_buffers(&c, 4096);
    let reader = reader.get().unwrap();

    // Before cork(): 'a' bytes until some stay queued.
    let chunk = Bytes::from(vec![b'a'; 4096]);
    while c.writable_length() == 0 {
        c.write(chunk.clone());
        assert!(c.bytes_written() < 1 << 30, "the queue never backed up");
    }
    let before = c.bytes_written() as usize;
    c.cork();
    let held_cb = Rc::new(Cell::new(false));
    let h = held_cb.clone();
    c.write_cb(vec![b'b'; 10_000], move |_: &Socket, e: Option<&Error>| {
        assert!(e.is_none());
        h.set(true);
    });
    c.write(vec![b'c'; 10_000]);
    assert_eq!(c.writable_corked(), 1);

    // The reader takes everything it can: exactly the bytes from before.
    reader.resume();
    run_until(LIMIT, || received.borrow().len() >= before);
    nodenet::run_for(Duration::from_millis(200)).unwrap();
    assert_eq!(
        received.borrow().len(),
        before,
        "bytes written after cork() arrived before uncork()"
    );
    assert!(!held_cb.get(), "a corked write's callback ran");
    assert_eq!(c.writable_length(), 20_000);

    c.uncork();
    run_until(LIMIT, || received.borrow().len() == before + 20_000);
    let got = received.borrow();
    assert!(got[..before].iter().all(|&b| b == b'a'));
    assert!(got[before..before + 10_000].iter().all(|&b| b == b'b'));
    assert!(got[before + 10_000..].iter().all(|&b| b == b'c'));
    drop(got);
    run_until(LIMIT, || held_cb.get());
    c.destroy();
    reader.destroy();
    run_bounded(LIMIT);
}
