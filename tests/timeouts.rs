//! Inactivity timeouts (net-behaviours section G) and user timers.
//!
//! nodenet's socket inactivity timeouts are whole seconds (a value is
//! rounded to the nearest second, at least one): a design decision, so the
//! tests use 1000 ms and stay within about three seconds each.

mod util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use nodenet::{
    clear_immediate, clear_interval, clear_timeout, next_tick, set_immediate, set_interval,
    set_timeout, tcp, Bytes, ConnectOptions, Error, ReadyState, Server, ServerOptions, Socket,
    SocketOptions, Timer,
};
use util::*;

/// A client connected to an echo server, with `'timeout'`, `'data'` and
/// `'close'` logged into `trace`.
fn echo_client(trace: &Trace) -> (Server, Socket) {
    let (server, port) = echo_server();
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    let t = trace.clone();
    c.on("timeout", move |_: &Socket| t.log("timeout"));
    let t = trace.clone();
    c.on("data", move |_: &Socket, d: &Bytes| {
        t.log(format!("data:{}", String::from_utf8_lossy(d)))
    });
    let t = trace.clone();
    c.on("close", move |_: &Socket, e: bool| {
        t.log(format!("close:{e}"))
    });
    (server, c)
}

/// Sets a flag after `ms` (a ref'd timer: it also keeps the loop alive).
fn flag_after(ms: u64) -> Rc<Cell<bool>> {
    let flag = Rc::new(Cell::new(false));
    let f = flag.clone();
    set_timeout(move || f.set(true), ms);
    flag
}

/// N47: `set_timeout(0)` disables the timer: no `'timeout'` during 1.5 s of
/// idleness after `set_timeout(1000)` then `set_timeout(0)`. `timeout()` is
/// `None` before any call and after 0, the whole-second value otherwise.
#[test]
fn n47_set_timeout_zero_disables() {
    let trace = Trace::new();
    let (server, c) = echo_client(&trace);
    assert_eq!(c.timeout(), None);
    assert_eq!(c.set_timeout(1000), c, "set_timeout returns the socket");
    assert_eq!(c.timeout(), Some(Duration::from_secs(1)));
    c.set_timeout(0);
    assert_eq!(c.timeout(), None);

    let done = flag_after(1500);
    run_until(LIMIT, || done.get());
    assert!(trace.entries().is_empty(), "{:?}", trace.entries());
    assert!(!c.destroyed());

    c.destroy();
    server.close();
    run_bounded(LIMIT);
    assert_eq!(trace.entries(), ["close:false"]);
}

/// N47 (nodenet's units): values are rounded to the nearest whole second,
/// at least one. And a difference from Node, documented: closures have no
/// identity, so `set_timeout_cb(0, cb)` cannot remove a callback given
/// earlier; it disables the timer and adds nothing.
#[test]
fn n47_timeouts_are_whole_seconds_and_cb_is_not_removed_by_zero() {
    let c = Socket::new(SocketOptions::default());
    for (ms, secs) in [
        (1, 1),
        (499, 1),
        (1000, 1),
        (1499, 1),
        (1500, 2),
        (2499, 2),
        (60_000, 60),
    ] {
        c.set_timeout(ms);
        assert_eq!(c.timeout(), Some(Duration::from_secs(secs)), "{ms} ms");
    }
    c.set_timeout_cb(1000, |_: &Socket| {});
    assert_eq!(c.listener_count("timeout"), 1);
    c.set_timeout_cb(0, |_: &Socket| {});
    assert_eq!(c.timeout(), None);
    // Node: the count would drop to 0 here.
    assert_eq!(c.listener_count("timeout"), 1);
    c.destroy();
    run_bounded(LIMIT);
}

/// N48: `'timeout'` fires once per idle period and only notifies: the
/// socket stays open (still exactly one `'timeout'` while it stays idle,
/// and it still echoes afterwards).
#[test]
fn n48_timeout_fires_once_and_does_not_close() {
    let trace = Trace::new();
    let (server, c) = echo_client(&trace);
    let t = trace.clone();
    c.set_timeout_cb(1000, move |s: &Socket| {
        t.log(format!(
            "cb:destroyed={}:{}",
            s.destroyed(),
            s.ready_state()
        ))
    });
    run_until(LIMIT, || trace.contains("timeout"));
    // Idle for a good while longer: no second 'timeout' without activity.
    let later = flag_after(1300);
    run_until(LIMIT, || later.get());
    assert_eq!(trace.entries(), ["timeout", "cb:destroyed=false:open"]);
    assert!(!c.destroyed());
    assert_eq!(c.ready_state(), ReadyState::Open);
    assert_eq!(c.timeout(), Some(Duration::from_secs(1)), "still armed");

    assert!(c.write("ping"));
    run_until(LIMIT, || trace.contains("data:ping"));
    c.destroy();
    server.close();
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        [
            "timeout",
            "cb:destroyed=false:open",
            "data:ping",
            "close:false"
        ]
    );
}

/// N48: after a `'timeout'`, activity re-arms the timer: a write from the
/// listener (and its echo) starts a new idle period, which ends in a second
/// `'timeout'`.
#[test]
fn n48_activity_after_timeout_rearms_it() {
    let trace = Trace::new();
    let (server, c) = echo_client(&trace);
    c.set_timeout(1000);
    let t = trace.clone();
    c.on("timeout", move |s: &Socket| {
        if t.count("timeout") == 1 {
            s.write("x");
        } else {
            s.destroy();
        }
    });
    // Closed once connected: closing with the connection still in the
    // accept queue would reset it.
    c.on("connect", move |_: &Socket| {
        server.close();
    });
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        ["timeout", "data:x", "timeout", "close:false"]
    );
}

/// N49: activity (a write every 300 ms for 2 s, echoed back) keeps the
/// timer from firing; it fires once after the activity stops.
#[test]
fn n49_activity_prevents_timeout_until_it_stops() {
    let trace = Trace::new();
    let (server, c) = echo_client(&trace);
    c.set_timeout(1000);
    let t = trace.clone();
    c.on("timeout", move |s: &Socket| {
        t.log(format!("timeout-handled:writes={}", t.count("data:p")));
        s.destroy();
    });
    let writes = Rc::new(Cell::new(0));
    let w = writes.clone();
    let interval: Rc<Cell<Option<Timer>>> = Rc::default();
    let (i, t) = (interval.clone(), trace.clone());
    interval.set(Some(set_interval(
        move || {
            w.set(w.get() + 1);
            if w.get() * 300 > 2000 {
                t.log("stopped");
                clear_interval(i.get().unwrap());
            } else {
                c.write("p");
            }
        },
        300,
    )));
    c.on("connect", move |_: &Socket| {
        server.close();
    });
    run_bounded(LIMIT);
    let entries = trace.entries();
    let stopped = entries
        .iter()
        .position(|e| e == "stopped")
        .expect("stopped");
    assert_eq!(trace.count("data:p"), 6, "{entries:?}");
    assert!(
        entries[..stopped].iter().all(|e| e == "data:p"),
        "'timeout' while active: {entries:?}"
    );
    assert_eq!(
        &entries[stopped..],
        [
            "stopped",
            "timeout",
            "timeout-handled:writes=6",
            "close:false"
        ]
    );
}

/// N50: `set_timeout` on a socket that never connects still fires
/// `'timeout'` (and nothing else); the socket is not destroyed by it.
#[test]
fn n50_timeout_on_a_never_connected_socket() {
    let trace = Trace::new();
    let s = Socket::new(SocketOptions::default());
    trace_socket(&s, &trace, "s");
    let t = trace.clone();
    s.on("timeout", move |s: &Socket| {
        t.log(format!(
            "s:timeout:pending={}:destroyed={}",
            s.pending(),
            s.destroyed()
        ))
    });
    s.set_timeout(1000);
    // The inactivity timer does not keep the loop alive (N52): hold it open.
    let keepalive = set_timeout(|| {}, 5000);
    run_until(LIMIT, || {
        trace.count("s:timeout:pending=true:destroyed=false") == 1
    });
    clear_timeout(keepalive);
    assert_eq!(trace.entries(), ["s:timeout:pending=true:destroyed=false"]);
    s.destroy();
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        ["s:timeout:pending=true:destroyed=false", "s:close:false"]
    );
}

/// N50: `ConnectOptions { timeout }` covers the connection attempt: a
/// connect that hangs (the server's accept queue is full, so its SYNs are
/// dropped) gets `'timeout'` while still connecting, not destroyed, in
/// state opening; the listener destroys it, giving `close(false)` and no
/// `'connect'` or `'error'`.
#[test]
fn n50_connect_options_timeout_covers_connecting() {
    let (_hanging, port) = hanging_port();

    let trace = Trace::new();
    let c = tcp::create_connection(ConnectOptions {
        port,
        host: "127.0.0.1".into(),
        timeout: Some(Duration::from_secs(1)),
        ..Default::default()
    })
    .unwrap();
    trace_socket(&c, &trace, "c");
    let t = trace.clone();
    c.on("timeout", move |s: &Socket| {
        t.log(format!(
            "c:timeout:connecting={}:destroyed={}:{}",
            s.connecting(),
            s.destroyed(),
            s.ready_state()
        ));
        s.destroy();
    });
    assert_eq!(c.timeout(), Some(Duration::from_secs(1)));
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        [
            "c:timeout:connecting=true:destroyed=false:opening",
            "c:close:false"
        ]
    );
    drop(_hanging);
}

/// N51: `set_timeout` on a destroyed socket is a no-op: it returns the
/// socket, adds no listener, and the callback never fires.
#[test]
fn n51_set_timeout_after_destroy_is_a_noop() {
    let fired = Rc::new(Cell::new(0));
    let (server, port) = echo_server();
    let connected = Socket::new(SocketOptions::default());
    connected.connect(port, "127.0.0.1").unwrap();
    let ready = Rc::new(Cell::new(false));
    let r = ready.clone();
    connected.on("connect", move |_: &Socket| r.set(true));
    run_until(LIMIT, || ready.get());

    let fresh = Socket::new(SocketOptions::default());
    for s in [connected, fresh] {
        s.destroy();
        let f = fired.clone();
        assert_eq!(
            s.set_timeout_cb(1000, move |_: &Socket| f.set(f.get() + 1)),
            s
        );
        assert_eq!(s.timeout(), None);
        assert_eq!(s.listener_count("timeout"), 0);
    }
    server.close();
    let done = flag_after(1600);
    run_until(LIMIT, || done.get());
    assert_eq!(fired.get(), 0);
    run_bounded(LIMIT);
    // And on the stale handles, after 'close'.
    let f = fired.clone();
    connected.set_timeout_cb(1000, move |_: &Socket| f.set(f.get() + 1));
    run_bounded(LIMIT);
    assert_eq!(fired.get(), 0);
}

/// N52: the inactivity timer does not keep the loop alive: a socket with
/// only `set_timeout(2000)` pending lets `run()` return, and its
/// `'timeout'` never runs; the same for an unref'd connected pair with long
/// timeouts on both ends.
#[test]
fn n52_idle_timer_does_not_keep_the_loop_alive() {
    let fired = Rc::new(Cell::new(0));
    let s = Socket::new(SocketOptions::default());
    let f = fired.clone();
    s.set_timeout_cb(2000, move |_: &Socket| f.set(f.get() + 1));
    run_bounded(LIMIT);
    assert_eq!(fired.get(), 0);
    s.destroy();
    run_bounded(LIMIT);

    let accepted: Rc<Cell<Option<Socket>>> = Rc::default();
    let (a, f) = (accepted.clone(), fired.clone());
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        srv.close();
        let f = f.clone();
        s.unref()
            .set_timeout_cb(2000, move |_: &Socket| f.set(f.get() + 1));
        a.set(Some(*s));
    });
    let port = listen_local(server);
    let (f, c) = (fired.clone(), Socket::new(SocketOptions::default()));
    c.unref()
        .set_timeout_cb(2000, move |_: &Socket| f.set(f.get() + 1));
    c.connect(port, "127.0.0.1").unwrap();
    // The unref'd client still connects? The server side is what matters:
    // run until accepted (the server keeps the loop alive until then).
    run_until(LIMIT, || accepted.get().is_some());
    run_bounded(LIMIT);
    assert_eq!(fired.get(), 0, "an inactivity timer kept the loop alive");
    assert!(!c.destroyed());
    c.destroy();
    accepted.get().unwrap().destroy();
    run_bounded(LIMIT);
}

/// User timers, from inside a timer callback: `next_tick` runs as soon as
/// the callback returns, `set_immediate` in this turn's check phase, and a
/// 0 ms (= 1 ms) `set_timeout` in a later turn's timers phase
/// (event_loop.rs: timers, poll, check, close).
#[test]
fn user_timer_phase_order_from_a_timer_callback() {
    let trace = Trace::new();
    let t = trace.clone();
    set_timeout(
        move || {
            let (a, b, c, d) = (t.clone(), t.clone(), t.clone(), t.clone());
            set_timeout(move || a.log("timeout"), 0);
            set_immediate(move || b.log("immediate"));
            next_tick(move || {
                c.log("tick");
                next_tick(move || d.log("nested-tick"));
            });
            t.log("callback-end");
        },
        1,
    );
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        [
            "callback-end",
            "tick",
            "nested-tick",
            "immediate",
            "timeout"
        ]
    );
}

/// User timers, from inside an I/O callback (`'connect'`): next tick, then
/// the immediate (same turn), then the timeout (a later turn).
#[test]
fn user_timer_phase_order_from_an_io_callback() {
    let trace = Trace::new();
    let (server, port) = echo_server();
    let t = trace.clone();
    tcp::connect(port, "127.0.0.1", move |s: &Socket| {
        let (a, b, c) = (t.clone(), t.clone(), t.clone());
        set_timeout(move || a.log("timeout"), 0);
        set_immediate(move || b.log("immediate"));
        next_tick(move || c.log("tick"));
        t.log("connect");
        s.destroy();
        server.close();
    })
    .unwrap();
    run_bounded(LIMIT);
    assert_eq!(trace.entries(), ["connect", "tick", "immediate", "timeout"]);
}

/// User timers from the main code: `next_tick` runs before anything else;
/// an immediate queued from an immediate waits for the next turn; timeouts
/// run in deadline order, then in the order they were set.
#[test]
fn user_timer_ordering_rules() {
    let trace = Trace::new();
    let t = |s: &'static str| {
        let t = trace.clone();
        move || t.log(s)
    };
    set_immediate(t("immediate"));
    set_timeout(t("timeout"), 0);
    next_tick(t("tick"));
    run_bounded(LIMIT);
    let e = trace.entries();
    assert_eq!(e[0], "tick", "{e:?}");
    // Which of the two comes first depends on whether 1 ms passed before
    // the first turn, as in Node's main module.
    assert_eq!(e.len(), 3);

    let trace = Trace::new();
    let (t1, t2) = (trace.clone(), trace.clone());
    let t3 = trace.clone();
    set_immediate(move || {
        t1.log("A");
        let t = t1.clone();
        set_immediate(move || t.log("A2"));
    });
    set_immediate(move || t2.log("B"));
    set_timeout(move || t3.log("late"), 30);
    let (a, b, c) = (trace.clone(), trace.clone(), trace.clone());
    set_timeout(move || a.log("t20"), 20);
    set_timeout(move || b.log("t10-first"), 10);
    set_timeout(move || c.log("t10-second"), 10);
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        ["A", "B", "A2", "t10-first", "t10-second", "t20", "late"]
    );
}

/// `clear_timeout`, `clear_interval` and `clear_immediate` cancel: nothing
/// runs and nothing keeps the loop alive; a timeout cleared by an earlier
/// timer's callback does not run either.
#[test]
fn user_timers_clear() {
    let fired = Trace::new();
    let f = |s: &'static str| {
        let t = fired.clone();
        move || t.log(s)
    };
    let t = set_timeout(f("timeout"), 10);
    let i = set_interval(f("interval"), 10);
    let m = set_immediate(f("immediate"));
    assert!(t.is_pending() && i.is_pending());
    clear_timeout(t);
    clear_interval(i);
    clear_immediate(m);
    assert!(!t.is_pending() && !i.is_pending());
    run_bounded(LIMIT);
    assert!(fired.entries().is_empty(), "{:?}", fired.entries());

    let victim = set_timeout(f("victim"), 40);
    let killer_log = fired.clone();
    set_timeout(
        move || {
            killer_log.log("killer");
            clear_timeout(victim);
        },
        10,
    );
    run_bounded(LIMIT);
    assert_eq!(fired.entries(), ["killer"]);
    // Clearing twice, or a timer that already ran, is harmless.
    clear_timeout(victim);
    clear_timeout(t);
}

/// An unref'd timer does not keep `run()` alive (it never runs if nothing
/// else does), but runs when something else keeps the loop going; `r#ref()`
/// restores it.
#[test]
fn user_timers_unref() {
    let trace = Trace::new();
    let t = trace.clone();
    let lonely = set_timeout(move || t.log("lonely"), 5000).unref();
    assert!(!lonely.has_ref());
    assert!(lonely.is_pending());
    run_bounded(LIMIT);
    assert!(trace.entries().is_empty());
    clear_timeout(lonely);

    let (a, b, c) = (trace.clone(), trace.clone(), trace.clone());
    set_timeout(move || a.log("unrefd"), 10).unref();
    set_timeout(move || b.log("refd"), 60);
    let back = set_timeout(move || c.log("unref-then-ref"), 80).unref();
    back.r#ref();
    assert!(back.has_ref());
    run_bounded(LIMIT);
    assert_eq!(trace.entries(), ["unrefd", "refd", "unref-then-ref"]);
}

/// An interval cleared from inside its own callback stops: it ran exactly
/// three times and no longer keeps the loop alive.
#[test]
fn user_interval_cleared_from_its_own_callback() {
    let count = Rc::new(Cell::new(0));
    let me: Rc<Cell<Option<Timer>>> = Rc::default();
    let (c, m) = (count.clone(), me.clone());
    let timer = set_interval(
        move || {
            c.set(c.get() + 1);
            if c.get() == 3 {
                clear_interval(m.get().unwrap());
            }
        },
        5,
    );
    me.set(Some(timer));
    // Would show a fourth run if clearing failed.
    let f = Rc::new(RefCell::new(false));
    let f2 = f.clone();
    set_timeout(move || *f2.borrow_mut() = true, 100);
    run_bounded(LIMIT);
    assert!(*f.borrow());
    assert_eq!(count.get(), 3);
    assert!(!timer.is_pending());
}

/// `run()` from inside a callback is refused (the loop is already running)
/// rather than re-entered.
#[test]
fn run_inside_a_callback_is_refused() {
    let result: Rc<RefCell<Option<Result<(), Error>>>> = Rc::default();
    let r = result.clone();
    set_timeout(move || *r.borrow_mut() = Some(nodenet::run()), 1);
    run_bounded(LIMIT);
    let err = result.borrow_mut().take().unwrap().unwrap_err();
    assert_eq!(err.code(), "ERR_INVALID_ARG_VALUE");
}

/// Issue 10, item 2: a delay above Node's `TIMEOUT_MAX` (2^31 - 1 ms, about
/// 24.8 days) is clamped to it, for every timer and timeout: `u64::MAX`
/// means "practically never", neither an overflow (a panic in a debug
/// build) nor a wrapped deadline that fires at once (release). Node clamps
/// user timers to 1 ms instead (COMPAT.md, deliberate differences).
/// Keep-alive delays are clamped to the kernel's largest (32767 s).
#[test]
fn huge_delays_are_clamped_not_overflowed() {
    // The loop's clock must be well past 0 for `now + huge` to overflow.
    let (server, port) = echo_server();
    let connected = Rc::new(Cell::new(0));
    let cn = connected.clone();
    let c = tcp::connect(port, "127.0.0.1", move |_: &Socket| cn.set(cn.get() + 1)).unwrap();
    let cn = connected.clone();
    let c2 = tcp::create_connection(ConnectOptions {
        port,
        host: "127.0.0.1".into(),
        timeout: Some(Duration::from_millis(u64::MAX)),
        ..Default::default()
    })
    .unwrap();
    c2.once("connect", move |_: &Socket| cn.set(cn.get() + 1));
    let warm = flag_after(700);
    run_until(LIMIT, || warm.get() && connected.get() == 2);

    let fired = Trace::new();
    let f = fired.clone();
    let once = set_timeout(move || f.log("set_timeout"), u64::MAX);
    assert!(once.is_pending() && once.has_ref());
    let f = fired.clone();
    let every = set_interval(move || f.log("set_interval"), u64::MAX);
    assert!(every.is_pending() && every.has_ref());
    let f = fired.clone();
    c.set_timeout(u64::MAX)
        .on("timeout", move |_: &Socket| f.log("socket timeout"));
    // Whole seconds, at most TIMEOUT_MAX.
    let max = Some(Duration::from_secs(2_147_483));
    assert_eq!(c.timeout(), max);
    assert_eq!(c2.timeout(), max);
    let f = fired.clone();
    c2.set_timeout_cb(u64::MAX, move |_: &Socket| f.log("connect option timeout"));
    assert_eq!(c2.timeout(), max);
    c.set_keep_alive(true, u64::MAX);
    c2.set_keep_alive_probes(true, u64::MAX, u64::MAX, 3);
    let idle = Duration::from_secs(32767);
    assert_eq!(with_sock(&c, |s| s.keepalive_time().unwrap()), Some(idle));
    assert_eq!(with_sock(&c2, |s| s.keepalive_time().unwrap()), Some(idle));
    assert_eq!(
        with_sock(&c2, |s| s.keepalive_interval().unwrap()),
        Some(idle)
    );
    // Activity re-stamps the socket timeout (no overflow there either).
    assert!(c.write("ping"));

    // The timers keep the loop alive: this runs the whole 600 ms, past a
    // wheel tick and past a wrapped deadline's "at once".
    nodenet::run_for(Duration::from_millis(600)).unwrap();
    assert!(fired.entries().is_empty(), "{:?}", fired.entries());
    assert!(once.is_pending() && every.is_pending());
    // Unref'd, they let the loop end; cleared, they are gone.
    once.unref();
    every.unref();
    c.destroy();
    c2.destroy();
    server.close();
    run_bounded(LIMIT);
    assert!(fired.entries().is_empty(), "{:?}", fired.entries());
    clear_timeout(once);
    clear_interval(every);
    assert!(!once.is_pending() && !every.is_pending());
    // A run bounded by the longest Duration is not an overflow either.
    assert!(nodenet::run_until_timeout(Duration::MAX, || true).unwrap());
}

/// Issue 11, item 2: every time argument takes `impl IntoDuration`: Node's
/// milliseconds as a `u64` (a bare literal is one), or a `Duration`, with
/// the same result; the socket timeout's getter is a `Duration` either way.
#[test]
fn time_arguments_take_milliseconds_or_a_duration() {
    use nodenet::IntoDuration;
    assert_eq!(250u64.into_duration(), Duration::from_millis(250));
    assert_eq!(
        Duration::from_secs(3).into_duration(),
        Duration::from_secs(3)
    );

    let fired = Trace::new();
    let f = fired.clone();
    set_timeout(move || f.log("ms"), 20);
    let f = fired.clone();
    set_timeout(move || f.log("duration"), Duration::from_millis(10));
    let f = fired.clone();
    let ticks = Rc::new(Cell::new(0));
    let t = ticks.clone();
    let slot: Rc<Cell<Option<Timer>>> = Rc::new(Cell::new(None));
    let s = slot.clone();
    let every = set_interval(
        move || {
            t.set(t.get() + 1);
            if t.get() == 2 {
                f.log("interval");
                clear_interval(s.get().unwrap());
            }
        },
        Duration::from_millis(3),
    );
    slot.set(Some(every));
    run_bounded(LIMIT);
    // 10 ms before 20 ms, both set in the same turn.
    let mut timeouts = fired.entries();
    timeouts.retain(|e| e != "interval");
    assert_eq!(timeouts, ["duration", "ms"]);
    assert_eq!(fired.count("interval"), 1);

    let (server, port) = echo_server();
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    c.set_timeout(Duration::from_millis(1600));
    assert_eq!(c.timeout(), Some(Duration::from_secs(2)));
    c.set_timeout(1600);
    assert_eq!(c.timeout(), Some(Duration::from_secs(2)));
    // A sub-millisecond Duration is not 0 ("off"): the minimum, 1 s.
    c.set_timeout(Duration::from_micros(10));
    assert_eq!(c.timeout(), Some(Duration::from_secs(1)));
    c.set_timeout(Duration::ZERO);
    assert_eq!(c.timeout(), None);
    c.set_keep_alive(true, Duration::from_secs(5));
    c.set_keep_alive_probes(true, 5000, Duration::from_secs(2), 3);
    c.destroy();
    server.close();
    run_bounded(LIMIT);
}
