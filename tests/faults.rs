//! Fault tests (issue 10): nodenet over a link that misbehaves.
//!
//! Each test makes two network namespaces of its own, joined by a
//! user-space forwarder between two TUN devices (tests/util/netns.rs; the
//! kernel has no `tc netem`) that loses, reorders, duplicates and corrupts
//! packets at seeded random, or drops all of them. A nodenet server runs on
//! a thread that has entered namespace A, a nodenet client on a thread in
//! namespace B, each with its own loop. Nothing leaves the namespaces, so
//! the host's interfaces and TCP metrics are untouched.
//!
//! The tests need root, `/dev/net/tun` and iproute2's `ip netns`. Where one
//! is missing they print `SKIPPED <test>: <why>` to stderr (visible in
//! `cargo test`'s output) and return; CI runs as root and has all three.
//!
//! Every wait is bounded; the only durations asserted are generous upper
//! bounds on a hang.

mod util;

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use nodenet::{tcp, Bytes, Error, Server, ServerOptions, Socket};
use util::netns::{self, Faults, Link, ADDR_A};
use util::random_bytes;

/// The server's port inside namespace A.
const PORT: u16 = 7000;

/// Prints one line of results past the harness's capture.
fn report(line: String) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Runs `f` on a thread that has entered namespace `ns` (so its nodenet
/// loop's sockets live there).
fn spawn_in<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    let ns = ns.to_string();
    thread::spawn(move || {
        // Enter first: the thread's loop is created lazily, by its first
        // socket, after this.
        netns::enter(&ns);
        f()
    })
}

/// What one side of a test saw, sent back from its thread.
#[derive(Debug, Default)]
struct SideReport {
    /// Events in order, with milliseconds since `t0` where it matters.
    events: Vec<String>,
    bytes_read: u64,
    bytes_written: u64,
}

// ---------------------------------------------------------------------------
// 1. Echo over a lossy, reordering, duplicating, corrupting link
// ---------------------------------------------------------------------------

/// Concurrent connections through the echo.
const ECHO_CONNECTIONS: usize = 4;
/// Bytes each connection streams through the echo (each way).
const ECHO_BYTES: usize = 8 * 1024 * 1024;
/// The forwarder's seed; connection `i`'s data uses `ECHO_SEED + i`.
/// `NODENET_FAULT_SEED` overrides it (the report line prints the one used).
const ECHO_SEED: u64 = 0x6e6f_6465_6e65_7410;
/// Per mille: 5 % loss, 3 % reordered, 2 % duplicated, 2 % corrupted.
const ECHO_FAULTS: Faults = Faults {
    loss: 50,
    reorder: 30,
    duplicate: 20,
    corrupt: 20,
};
/// A hang, not a slow machine.
const ECHO_LIMIT: Duration = Duration::from_secs(90);

/// `NODENET_FAULT_SEED` (decimal, or hex with `0x`), else `ECHO_SEED`. The
/// seed fixes the forwarder's sequence of choices; which packets they fall
/// on still depends on timing.
fn echo_seed() -> u64 {
    let Ok(v) = std::env::var("NODENET_FAULT_SEED") else {
        return ECHO_SEED;
    };
    let parsed = match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    parsed.unwrap_or_else(|e| panic!("NODENET_FAULT_SEED={v}: {e}"))
}

/// An echo server in namespace A for `ECHO_CONNECTIONS` connections, with
/// `pause()` / `'drain'` backpressure; returns what each socket saw and how
/// often it paused.
fn echo_server(ready: mpsc::Sender<()>) -> (Vec<SideReport>, usize) {
    let reports = Rc::new(RefCell::new(Vec::new()));
    let pauses = Rc::new(Cell::new(0usize));
    let (r, p) = (reports.clone(), pauses.clone());
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        let i = {
            let mut r = r.borrow_mut();
            r.push(SideReport::default());
            r.len() - 1
        };
        if i + 1 == ECHO_CONNECTIONS {
            srv.close(); // the loop ends with the last connection
        }
        let (r1, r2, r3, p) = (r.clone(), r.clone(), r.clone(), p.clone());
        s.on_data(move |s, chunk| {
            if !s.write(chunk) {
                p.set(p.get() + 1);
                s.pause();
            }
        })
        .on_drain(|s| {
            s.resume();
        })
        .on_end(move |_| r1.borrow_mut()[i].events.push("end".into()))
        .on_error(move |_, e| r2.borrow_mut()[i].events.push(format!("error:{e}")))
        .on_close(move |s, had_error| {
            let r = &mut r3.borrow_mut()[i];
            r.events.push(format!("close:{had_error}"));
            r.bytes_read = s.bytes_read();
            r.bytes_written = s.bytes_written();
        });
    });
    server
        .listen(PORT, &ADDR_A.to_string())
        .expect("listen in namespace A");
    ready.send(()).unwrap();
    nodenet::run_for(ECHO_LIMIT).expect("the server's loop failed");
    let reports = reports.take();
    (reports, pauses.get())
}

/// One client connection in namespace B: streams `ECHO_BYTES` of random
/// data seeded by `seed` with backpressure, checks every echoed byte
/// against its offset, ends once all came back. Counts its `'drain'`s in
/// `drains`.
fn echo_client(seed: u64, report: Rc<RefCell<SideReport>>, drains: Rc<Cell<usize>>) {
    let data = Bytes::from(random_bytes(ECHO_BYTES, seed));
    let c = tcp::connect(PORT, &ADDR_A.to_string(), |_| {}).expect("connect from namespace B");

    // Writes 64 KiB slices until the queue is full or everything is sent.
    let sent = Rc::new(Cell::new(0usize));
    let pump = {
        let (data, sent) = (data.clone(), sent.clone());
        move |s: &Socket| {
            while sent.get() < data.len() {
                let from = sent.get();
                let to = (from + 64 * 1024).min(data.len());
                sent.set(to);
                if !s.write(data.slice(from..to)) {
                    break;
                }
            }
        }
    };
    let received = Rc::new(Cell::new(0usize));
    let (r1, r2, r3, r4) = (
        report.clone(),
        report.clone(),
        report.clone(),
        report.clone(),
    );
    let rec = received.clone();
    c.on_connect({
        let pump = pump.clone();
        move |s| pump(s)
    })
    .on_drain(move |s| {
        drains.set(drains.get() + 1);
        pump(s)
    })
    .on_data(move |s, chunk| {
        let at = rec.get();
        let expected = data.get(at..at + chunk.len());
        if expected != Some(&chunk[..]) {
            let bad = expected.and_then(|e| e.iter().zip(chunk.iter()).position(|(a, b)| a != b));
            r1.borrow_mut().events.push(format!(
                "mismatch: chunk of {} at offset {at}, first differing byte at {bad:?} (stream is {} bytes)",
                chunk.len(),
                data.len()
            ));
            s.destroy();
            return;
        }
        rec.set(at + chunk.len());
        if rec.get() == data.len() {
            s.end();
        }
    })
    .on_end(move |_| r2.borrow_mut().events.push("end".into()))
    .on_error(move |_, e: &Error| r3.borrow_mut().events.push(format!("error:{e}")))
    .on_close(move |s, had_error| {
        let mut r = r4.borrow_mut();
        r.events.push(format!("close:{had_error}"));
        r.events.push(format!("received:{}", received.get()));
        r.bytes_read = s.bytes_read();
        r.bytes_written = s.bytes_written();
    });
}

/// `ECHO_CONNECTIONS` concurrent stream echoes through a link that loses
/// 5 %, reorders 3 %, duplicates 2 % and corrupts 2 % of the packets: TCP
/// repairs all of it, and every byte of every stream comes back in order;
/// each socket on both sides sees `'end'` and a clean `'close'`.
#[test]
fn echo_survives_loss_reordering_duplication_and_corruption() {
    if netns::skip_without_capabilities("echo_survives_loss_reordering_duplication_and_corruption")
    {
        return;
    }
    let seed = echo_seed();
    let link = Link::new("echo", ECHO_FAULTS, seed);
    let (ready_tx, ready_rx) = mpsc::channel();
    let server = spawn_in(link.a.name(), move || echo_server(ready_tx));
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the server did not start listening in namespace A");
    let client = spawn_in(link.b.name(), move || {
        let start = Instant::now();
        let drains = Rc::new(Cell::new(0));
        let reports: Vec<_> = (0..ECHO_CONNECTIONS)
            .map(|i| {
                let r = Rc::new(RefCell::new(SideReport::default()));
                echo_client(seed + i as u64, r.clone(), drains.clone());
                r
            })
            .collect();
        nodenet::run_for(ECHO_LIMIT).expect("the client's loop failed");
        let elapsed = start.elapsed();
        let reports: Vec<SideReport> = reports.into_iter().map(|r| r.take()).collect();
        (reports, drains.get(), elapsed)
    });

    let (clients, drains, elapsed) = client.join().expect("the client thread panicked");
    let (servers, pauses) = server.join().expect("the server thread panicked");
    // The corrupted packets reached TCP and failed its checksum there.
    let csum_errors = link.a.tcp_counter("InCsumErrors") + link.b.tcp_counter("InCsumErrors");
    let retransmits = link.a.tcp_counter("RetransSegs") + link.b.tcp_counter("RetransSegs");
    let corrupted = link.stats().corrupted.load(Ordering::Relaxed);
    report(format!(
        "faults: echoed {ECHO_CONNECTIONS} x {ECHO_BYTES} bytes in {elapsed:.1?} (seed {seed:#x}, \
         server paused {pauses} times, clients drained {drains} times) over a link with \
         {ECHO_FAULTS:?}; forwarder: {}; TCP: {retransmits} segments retransmitted, \
         {csum_errors} checksum errors",
        link.stats()
    ));
    drop(link);
    assert!(corrupted > 0, "the link corrupted nothing");
    assert!(
        csum_errors > 0,
        "{corrupted} packets were corrupted but TCP saw no checksum error"
    );

    let n = ECHO_BYTES as u64;
    let received = format!("received:{ECHO_BYTES}");
    for (i, c) in clients.iter().enumerate() {
        assert_eq!(
            c.events,
            ["end", "close:false", received.as_str()],
            "client {i} (servers saw {servers:?})"
        );
        assert_eq!(
            (c.bytes_written, c.bytes_read),
            (n, n),
            "client {i} counters"
        );
    }
    assert_eq!(servers.len(), ECHO_CONNECTIONS, "connections accepted");
    for (i, s) in servers.iter().enumerate() {
        assert_eq!(s.events, ["end", "close:false"], "server socket {i}");
        assert_eq!(
            (s.bytes_read, s.bytes_written),
            (n, n),
            "server socket {i} counters"
        );
    }
    assert!(elapsed < ECHO_LIMIT, "the echo took {elapsed:?}");
}

// ---------------------------------------------------------------------------
// 2. A blackhole the inactivity timeout must reap
// ---------------------------------------------------------------------------

/// A hang, not a slow machine.
const HOLE_LIMIT: Duration = Duration::from_secs(20);
/// Written by each side into the blackhole, so that both have unacknowledged
/// data (the kernel retransmits it) and queued data (nodenet holds what the
/// kernel did not take) when their timeouts fire.
const HOLE_WRITE: usize = 1024 * 1024;

/// Milliseconds since `t0`, for the event logs.
fn ms(t0: Instant) -> u128 {
    t0.elapsed().as_millis()
}

/// The server in namespace A: echoes, times out after 1 s of inactivity
/// and destroys the socket on `'timeout'`. 200 ms after its first data it
/// writes `HOLE_WRITE` bytes, by then into the blackhole.
fn hole_server(t0: Instant, ready: mpsc::Sender<()>) -> SideReport {
    let report = Rc::new(RefCell::new(SideReport::default()));
    let r = report.clone();
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        srv.close();
        let (r1, r2, r3, r4) = (r.clone(), r.clone(), r.clone(), r.clone());
        let first = Rc::new(Cell::new(true));
        s.set_timeout(1000)
            .on_data(move |s, chunk| {
                s.write(chunk);
                if first.replace(false) {
                    let s = *s;
                    nodenet::set_timeout(
                        move || {
                            s.write(vec![0x5a; HOLE_WRITE]);
                        },
                        200,
                    );
                }
            })
            .on_timeout(move |s| {
                r1.borrow_mut().events.push(format!("timeout@{}", ms(t0)));
                s.destroy();
            })
            .on_end(move |_| r2.borrow_mut().events.push("end".into()))
            .on_error(move |_, e| r3.borrow_mut().events.push(format!("error:{e}")))
            .on_close(move |s, had_error| {
                let mut r = r4.borrow_mut();
                r.events.push(format!("close:{had_error}@{}", ms(t0)));
                r.bytes_read = s.bytes_read();
                r.bytes_written = s.bytes_written();
            });
    });
    server
        .listen(PORT, &ADDR_A.to_string())
        .expect("listen in namespace A");
    ready.send(()).unwrap();
    nodenet::run_for(HOLE_LIMIT).expect("the server's loop failed");
    report.take()
}

/// The client in namespace B: sends a greeting, and once it is echoed
/// tells the test (which turns the link into a blackhole) and 200 ms later
/// writes `HOLE_WRITE` bytes into it. Its timeout is 2 s, also destroying.
/// Times are logged in milliseconds since `t0`.
fn hole_client(
    t0: Instant,
    established: mpsc::Sender<()>,
    hole_started: mpsc::Receiver<()>,
) -> SideReport {
    let report = Rc::new(RefCell::new(SideReport::default()));
    let c = tcp::connect(PORT, &ADDR_A.to_string(), |s| {
        s.write("hello through the link");
    })
    .expect("connect from namespace B");
    let (r1, r2, r3, r4) = (
        report.clone(),
        report.clone(),
        report.clone(),
        report.clone(),
    );
    let got = Rc::new(Cell::new(0usize));
    c.set_timeout(2000)
        .on_data(move |s, chunk| {
            got.set(got.get() + chunk.len());
            if got.get() == "hello through the link".len() {
                established.send(()).unwrap();
                // The test answers at once, once the link drops everything.
                hole_started
                    .recv_timeout(Duration::from_secs(5))
                    .expect("the test did not start the blackhole");
                let s = *s;
                nodenet::set_timeout(
                    move || {
                        s.write(vec![0xa5; HOLE_WRITE]);
                    },
                    200,
                );
            }
        })
        .on_timeout(move |s| {
            r1.borrow_mut().events.push(format!("timeout@{}", ms(t0)));
            s.destroy();
        })
        .on_end(move |_| r2.borrow_mut().events.push("end".into()))
        .on_error(move |_, e| r3.borrow_mut().events.push(format!("error:{e}")))
        .on_close(move |s, had_error| {
            let mut r = r4.borrow_mut();
            r.events.push(format!("close:{had_error}@{}", ms(t0)));
            r.bytes_read = s.bytes_read();
            r.bytes_written = s.bytes_written();
        });
    nodenet::run_for(HOLE_LIMIT).expect("the client's loop failed");
    report.take()
}

/// Splits `"event@ms"` entries into names and times.
fn split_times(events: &[String]) -> (Vec<&str>, Vec<u128>) {
    events
        .iter()
        .map(|e| match e.split_once('@') {
            Some((name, t)) => (name, t.parse().unwrap()),
            None => (e.as_str(), 0),
        })
        .unzip()
}

/// Once the connection is up and has carried data, the link drops every
/// packet. Neither side hears anything again (no FIN, no RST, no error:
/// the kernel keeps retransmitting for minutes), so only the inactivity
/// timeouts can end it: the server (1 s) and the client (2 s) each get
/// `'timeout'`, destroy, and `'close'(false)`, with unacknowledged and
/// queued data, within a bounded time.
#[test]
fn inactivity_timeout_reaps_a_blackholed_connection() {
    if netns::skip_without_capabilities("inactivity_timeout_reaps_a_blackholed_connection") {
        return;
    }
    let link = Link::new("hole", Faults::default(), 0x686f_6c65);
    let t0 = Instant::now();
    let (ready_tx, ready_rx) = mpsc::channel();
    let server = spawn_in(link.a.name(), move || hole_server(t0, ready_tx));
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the server did not start listening in namespace A");
    let (est_tx, est_rx) = mpsc::channel();
    let (hole_tx, hole_rx) = mpsc::channel();
    let client = spawn_in(link.b.name(), move || hole_client(t0, est_tx, hole_rx));

    est_rx
        .recv_timeout(Duration::from_secs(15))
        .expect("the greeting was not echoed over the link");
    link.set_blackhole(true);
    let hole_at = Instant::now();
    let hole_ms = hole_at.duration_since(t0).as_millis();
    hole_tx.send(()).unwrap();

    let c = client.join().expect("the client thread panicked");
    let s = server.join().expect("the server thread panicked");
    let waited = hole_at.elapsed();
    report(format!(
        "faults: blackhole from {hole_ms} ms; server {:?}, client {:?} (ms); forwarder: {}",
        s.events,
        c.events,
        link.stats()
    ));
    drop(link);

    let (s_names, s_times) = split_times(&s.events);
    let (c_names, c_times) = split_times(&c.events);
    assert_eq!(
        s_names,
        ["timeout", "close:false"],
        "server: {:?}",
        s.events
    );
    assert_eq!(
        c_names,
        ["timeout", "close:false"],
        "client: {:?}",
        c.events
    );
    // Every event after the blackhole began, none later than a generous
    // bound: a hang, not a slow machine.
    let bound = hole_ms + Duration::from_secs(10).as_millis();
    assert!(
        s_times
            .iter()
            .chain(&c_times)
            .all(|&t| t >= hole_ms && t < bound),
        "events outside {hole_ms}..{bound} ms: server {:?}, client {:?}",
        s.events,
        c.events
    );
    assert!(waited < HOLE_LIMIT, "the sides took {waited:?} to close");
    // Both wrote into the hole after the greeting, more than reached the
    // peer.
    let greeting = "hello through the link".len() as u64;
    assert_eq!(c.bytes_written, greeting + HOLE_WRITE as u64);
    assert_eq!(s.bytes_written, greeting + HOLE_WRITE as u64);
    assert!(c.bytes_read < s.bytes_written && s.bytes_read < c.bytes_written);
}
