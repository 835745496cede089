//! The socket API: properties, counters, addresses, handles, options,
//! reset, and load (net-behaviours sections E, H and N62/N63).

mod util;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::Duration;

use nodenet::{
    tcp, Bytes, Error, Family, ReadyState, Server, ServerOptions, Socket, SocketOptions,
};
use util::*;

/// N65: a fresh socket reads "open" (Node's quirk) with pending=true and
/// connecting=false.
#[test]
fn n65_fresh_socket_reads_open_and_pending() {
    let s = Socket::new(SocketOptions::default());
    assert_eq!(s.ready_state(), ReadyState::Open);
    assert_eq!(s.ready_state().as_str(), "open");
    assert!(s.pending());
    assert!(!s.connecting());
    assert!(!s.destroyed());
    s.destroy();
    run_bounded(LIMIT);
}

/// N65: readyState through a half-open exchange. Client: opening →
/// open at 'connect' → readOnly after end() → closed at 'end' and
/// 'close'; connecting until 'connect'. Server socket: writeOnly in
/// 'end', closed after its end().
#[test]
fn n65_ready_state_transitions() {
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
        srv.close();
        let t = t.clone();
        s.on("end", move |s: &Socket| {
            t.log(format!("S:end {}", s.ready_state()));
            let s = *s;
            let t = t.clone();
            nodenet::set_timeout(
                move || {
                    s.end();
                    t.log(format!("S:after-end {}", s.ready_state()));
                },
                50,
            );
        });
        s.resume();
    });
    let port = listen_local(server);
    let c = connect_half_open(port);
    trace.log(format!(
        "C:connecting {} connecting={} pending={}",
        c.ready_state(),
        c.connecting(),
        c.pending()
    ));
    let t = trace.clone();
    c.on("connect", move |s: &Socket| {
        t.log(format!(
            "C:connect {} connecting={} pending={}",
            s.ready_state(),
            s.connecting(),
            s.pending()
        ));
        s.end();
        t.log(format!("C:after-end {}", s.ready_state()));
    });
    let t = trace.clone();
    c.on("end", move |s: &Socket| {
        t.log(format!("C:end {}", s.ready_state()))
    });
    let t = trace.clone();
    c.on("close", move |s: &Socket, e: bool| {
        t.log(format!(
            "C:close:{e} {} pending={}",
            s.ready_state(),
            s.pending()
        ))
    });
    c.resume();
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        [
            "C:connecting opening connecting=true pending=true",
            "C:connect open connecting=false pending=false",
            "C:after-end readOnly",
            "S:end writeOnly",
            "S:after-end closed",
            "C:end closed",
            "C:close:false closed pending=true",
        ]
    );
}

/// N40: `bytes_read` strictly increases with every 'data', matches the
/// bytes delivered so far, and equals the total at 'end' and inside
/// 'close'.
#[test]
fn n40_bytes_read_increases_and_totals_at_end_and_close() {
    const TOTAL: usize = 1 << 20;
    let server = tcp::create_server(ServerOptions::default(), |srv: &Server, s: &Socket| {
        s.end_with(vec![7u8; TOTAL]);
        srv.close();
    });
    let port = listen_local(server);
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let delivered = Rc::new(Cell::new(0u64));
    let (sn, d) = (seen.clone(), delivered.clone());
    c.on("data", move |s: &Socket, chunk: &Bytes| {
        d.set(d.get() + chunk.len() as u64);
        assert_eq!(s.bytes_read(), d.get(), "bytes_read counts delivered bytes");
        sn.borrow_mut().push(s.bytes_read());
    });
    let trace = Trace::new();
    let t = trace.clone();
    c.on("end", move |s: &Socket| {
        t.log(format!("end {}", s.bytes_read()))
    });
    let t = trace.clone();
    c.on("close", move |s: &Socket, _: bool| {
        t.log(format!("close {}", s.bytes_read()))
    });
    run_bounded(LIMIT);
    let seen = seen.borrow();
    assert!(seen.len() > 1);
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "strictly increasing");
    assert_eq!(
        trace.entries(),
        [format!("end {TOTAL}"), format!("close {TOTAL}")]
    );
}

/// N39: `bytes_written` counts bytes accepted by write(), synchronously,
/// while most of them are still queued; it is unchanged in the end
/// callback; the peer reads them all.
#[test]
fn n39_bytes_written_counts_accepted_bytes_synchronously() {
    const TOTAL: usize = 10_000_000;
    let trace = Trace::new();
    let t = trace.clone();
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        srv.close();
        assert_eq!(s.bytes_written(), 0);
        // Pinned, so that most of the 10 MB stays queued whatever the
        // kernel's defaults (a cached window can take several MB at once).
        pin_buffers(s, 64 * 1024);
        s.write(vec![1u8; TOTAL]);
        t.log(format!(
            "S:written {} queued={}",
            s.bytes_written(),
            s.writable_length() > 0
        ));
        let t = t.clone();
        s.end_cb(move |s: &Socket, e: Option<&Error>| {
            t.log(format!(
                "S:end-cb {:?} {}",
                e.map(Error::code),
                s.bytes_written()
            ))
        });
    });
    let port = listen_local(server);
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    let t = trace.clone();
    c.on("close", move |s: &Socket, _: bool| {
        t.log(format!("C:close {}", s.bytes_read()))
    });
    c.resume();
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        [
            format!("S:written {TOTAL} queued=true"),
            format!("S:end-cb None {TOTAL}"),
            format!("C:close {TOTAL}"),
        ]
    );
}

/// N64: remote and local addresses. None while connecting; set after
/// 'connect' on both sides, and matching each other; `server()` on the
/// accepted socket. Inside 'close' the remote address is still readable
/// while the local one is cleared.
#[test]
fn n64_remote_and_local_address_properties() {
    let trace = Trace::new();
    let server_sock: Rc<Cell<Option<Socket>>> = Rc::default();
    let ss = server_sock.clone();
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        ss.set(Some(*s));
        assert_eq!(s.server(), Some(*srv));
        srv.close();
    });
    let port = listen_local(server);
    let server_family = server.address().map(Family::from);
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    assert_eq!(c.remote_address(), None);
    assert_eq!(c.remote_port(), None);
    assert_eq!(c.remote_family(), None);
    assert_eq!(c.local_address(), None);
    assert_eq!(c.local_port(), None);
    assert_eq!(c.address(), None);
    assert_eq!(c.server(), None);
    let t = trace.clone();
    c.on("connect", move |s: &Socket| {
        t.log(format!(
            "C:connect {:?} {:?} {:?} {:?}",
            s.remote_address().map(|a| a.to_string()),
            s.remote_port() == Some(port),
            s.remote_family().map(|f| f.to_string()),
            s.local_address().map(|a| a.to_string()),
        ));
        assert!(s.local_port().is_some());
        assert_eq!(s.address().map(|a| a.port()), s.local_port());
        s.end();
    });
    let t = trace.clone();
    c.on("close", move |s: &Socket, _: bool| {
        t.log(format!(
            "C:close remote={:?} port_kept={} local={:?} local_port={:?}",
            s.remote_address().map(|a| a.to_string()),
            s.remote_port() == Some(port),
            s.address(),
            s.local_port(),
        ))
    });
    run_until(LIMIT, || {
        server_sock.get().is_some() && c.local_port().is_some()
    });
    let s = server_sock.get().unwrap();
    assert_eq!(
        s.local_address().map(|a| a.to_string()),
        Some("127.0.0.1".into())
    );
    assert_eq!(s.local_port(), Some(port));
    assert_eq!(s.local_family(), server_family);
    assert_eq!(s.remote_port(), c.local_port());
    assert_eq!(
        s.remote_address().map(|a| a.to_string()),
        Some("127.0.0.1".into())
    );
    assert_eq!(s.remote_family(), Some(Family::Ipv4));
    assert_eq!(s.remote_family().unwrap().to_string(), "IPv4");
    assert_eq!(s.server(), Some(server));
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        [
            "C:connect Some(\"127.0.0.1\") true Some(\"IPv4\") Some(\"127.0.0.1\")",
            "C:close remote=Some(\"127.0.0.1\") port_kept=true local=None local_port=None",
        ]
    );
}

/// N64: a dual-stack server (no host) reports an IPv4 client as
/// `::ffff:127.0.0.1`, family IPv6.
#[test]
fn n64_dual_stack_server_sees_ipv4_mapped_clients() {
    let seen = Trace::new();
    let t = seen.clone();
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        t.log(format!(
            "{:?} {:?}",
            s.remote_address().map(|a| a.to_string()),
            s.remote_family().map(|f| f.to_string())
        ));
        s.end();
        srv.close();
    });
    server.listen(0, "").unwrap();
    let addr = server.address().expect("bound at once");
    if addr.is_ipv4() {
        // No IPv6 on this machine: the host-less listen fell back to 0.0.0.0.
        eprintln!("skipped: no IPv6, the server listens on {addr}");
        server.close();
        run_bounded(LIMIT);
        return;
    }
    let c = tcp::connect(addr.port(), "127.0.0.1", |_: &Socket| {}).unwrap();
    c.resume();
    run_bounded(LIMIT);
    assert_eq!(
        seen.entries(),
        ["Some(\"::ffff:127.0.0.1\") Some(\"IPv6\")"]
    );
}

/// Handles: `id()` is stable over a socket's life and distinct between
/// sockets, even when a slot is reused; a handle is stale once its 'close'
/// has run; calls on a stale handle are harmless no-ops that never touch
/// the socket now in its slot.
#[test]
fn ids_are_stable_and_stale_handles_are_harmless() {
    let a = Socket::new(SocketOptions::default());
    let a_id = a.id();
    let copy = a;
    assert_eq!(copy.id(), a_id);
    assert_eq!(copy, a);
    let closed_id = Rc::new(Cell::new(0));
    let ci = closed_id.clone();
    a.on("close", move |s: &Socket, _: bool| ci.set(s.id()));
    a.destroy();
    run_bounded(LIMIT);
    assert_eq!(closed_id.get(), a_id, "id() unchanged inside 'close'");
    assert!(a.destroyed());
    assert!(a.destroyed());

    // A new socket, probably in the freed slot: a distinct id, and the
    // stale handle cannot reach it.
    let (server, port) = echo_server();
    let b = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    assert_ne!(b.id(), a_id);
    assert_ne!(b, a);
    assert!(!b.destroyed());

    // Every call on the stale handle is a no-op with a default answer.
    assert!(!a.write("x"));
    let stale_cb = Rc::new(RefCell::new(None));
    let sc = stale_cb.clone();
    assert!(!a.write_cb("x", move |_: &Socket, e: Option<&Error>| {
        *sc.borrow_mut() = Some(e.map(Error::code))
    }));
    assert_eq!(a.end(), a);
    assert_eq!(a.destroy(), a);
    a.pause();
    a.resume();
    a.set_timeout(1000);
    a.set_no_delay(true);
    a.set_keep_alive(true, 1000);
    a.reset_and_destroy();
    a.unref();
    a.on("data", |_: &Socket, _: &Bytes| {
        panic!("a stale handle's listener ran")
    });
    a.on("close", |_: &Socket, _: bool| {
        panic!("a stale handle's listener ran")
    });
    assert_eq!(a.listener_count("data"), 0);
    assert_eq!(a.bytes_read(), 0);
    assert_eq!(a.bytes_written(), 0);
    assert_eq!(a.peer_addr(), None);
    assert!(
        a.connect(port, "127.0.0.1").is_err(),
        "a stale socket cannot connect"
    );

    // b is untouched and works.
    assert!(!b.destroyed());
    assert_eq!(b.listener_count("data"), 0);
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    b.on("data", move |s: &Socket, d: &Bytes| {
        g.borrow_mut().extend_from_slice(d);
        s.end();
        server.close();
    });
    assert!(b.write("ping"));
    let closed = Rc::new(Cell::new(None));
    let cl = closed.clone();
    b.on("close", move |_: &Socket, e: bool| cl.set(Some(e)));
    run_bounded(LIMIT);
    assert_eq!(&got.borrow()[..], b"ping");
    assert_eq!(closed.get(), Some(false));
    assert_eq!(
        *stale_cb.borrow(),
        Some(Some("ERR_STREAM_DESTROYED")),
        "a stale write's callback still runs, with the error"
    );
}

/// Ids of many live sockets (client and accepted) are all distinct.
#[test]
fn ids_are_distinct_across_live_sockets() {
    let ids = Rc::new(RefCell::new(HashSet::new()));
    let i = ids.clone();
    let accepted = Rc::new(Cell::new(0));
    let a = accepted.clone();
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        assert!(i.borrow_mut().insert(s.id()), "duplicate id");
        a.set(a.get() + 1);
        if a.get() == 20 {
            srv.close();
        }
        s.end();
    });
    let port = listen_local(server);
    for _ in 0..20 {
        let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
        assert!(ids.borrow_mut().insert(c.id()), "duplicate id");
        c.resume();
    }
    run_bounded(LIMIT);
    assert_eq!(accepted.get(), 20);
    assert_eq!(ids.borrow().len(), 40);
}

/// N69 (in part) and N65's keep-alive bullet: `set_no_delay` and
/// `set_keep_alive` before connect, after connect and on accepted sockets
/// (and as options) never fail the connection; idle keep-alive sockets
/// still read "open".
#[test]
fn set_no_delay_and_keep_alive_do_not_fail_before_or_after_connect() {
    let trace = Trace::new();
    let t = trace.clone();
    let opts = ServerOptions {
        socket: SocketOptions {
            no_delay: true,
            keep_alive: true,
            keep_alive_initial_delay: Duration::from_millis(2500),
            ..SocketOptions::default()
        },
        ..ServerOptions::default()
    };
    let server = tcp::create_server(opts, move |srv: &Server, s: &Socket| {
        srv.close();
        s.set_no_delay(false).set_no_delay(true);
        s.set_keep_alive(true, 3000).set_keep_alive(true, 3000);
        let t2 = t.clone();
        s.on("data", move |s: &Socket, d: &Bytes| {
            t2.log(format!("S:data:{}", String::from_utf8_lossy(d)));
            s.write(d);
        });
        let t2 = t.clone();
        s.on("close", move |_: &Socket, e: bool| {
            t2.log(format!("S:close:{e}"))
        });
    });
    let port = listen_local(server);
    let c = Socket::new(SocketOptions {
        no_delay: true,
        keep_alive: true,
        keep_alive_initial_delay: Duration::from_millis(1500),
        ..SocketOptions::default()
    });
    c.set_no_delay(true).set_keep_alive(true, 4000);
    c.connect(port, "127.0.0.1").unwrap();
    c.set_no_delay(false).set_keep_alive(false, 0);
    let t = trace.clone();
    c.on("connect", move |s: &Socket| {
        s.set_no_delay(true).set_keep_alive(true, 1000);
        let s = *s;
        let t = t.clone();
        nodenet::set_timeout(
            move || {
                t.log(format!("C:idle {}", s.ready_state()));
                s.write("hi");
            },
            100,
        );
    });
    let t = trace.clone();
    c.on("data", move |s: &Socket, d: &Bytes| {
        t.log(format!("C:data:{}", String::from_utf8_lossy(d)));
        s.end();
    });
    let t = trace.clone();
    c.on("error", move |_: &Socket, e: &Error| {
        t.log(format!("C:error:{}", e.code()))
    });
    let t = trace.clone();
    c.on("close", move |_: &Socket, e: bool| {
        t.log(format!("C:close:{e}"))
    });
    run_bounded(LIMIT);
    assert_eq!(
        trace.with_prefix("C:"),
        ["C:idle open", "C:data:hi", "C:close:false"]
    );
    assert_eq!(trace.with_prefix("S:"), ["S:data:hi", "S:close:false"]);
}

/// N67: reset_and_destroy() on a connected client returns the socket and
/// destroys it synchronously; the resetting side gets close(false) and no
/// error; the peer gets 'error' ECONNRESET (syscall read) then close(true)
/// and no 'end'; a later write's callback gets ERR_STREAM_DESTROYED.
#[test]
fn n67_reset_and_destroy_sends_rst_to_the_peer() {
    let trace = Trace::new();
    let t = trace.clone();
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        srv.close();
        trace_socket(s, &t, "S");
        let t2 = t.clone();
        s.on("error", move |_: &Socket, e: &Error| {
            t2.log(format!("S:error-detail {:?} {}", e.syscall(), e.message()))
        });
        s.write("hi");
    });
    let port = listen_local(server);
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    trace_socket(&c, &trace, "C");
    let t = trace.clone();
    c.on("data", move |s: &Socket, _: &Bytes| {
        let r = s.reset_and_destroy();
        t.log(format!(
            "C:reset returned_self={} destroyed={}",
            r == *s,
            s.destroyed()
        ));
        let t = t.clone();
        let ok = s.write_cb("late", move |_: &Socket, e: Option<&Error>| {
            t.log(format!("C:late-cb:{:?}", e.map(Error::code)))
        });
        assert!(!ok);
    });
    run_bounded(LIMIT);
    assert_eq!(
        trace.with_prefix("C:"),
        [
            "C:connect",
            "C:ready",
            "C:data:hi",
            "C:reset returned_self=true destroyed=true",
            "C:late-cb:Some(\"ERR_STREAM_DESTROYED\")",
            "C:close:false",
        ]
    );
    assert_eq!(
        trace.with_prefix("S:"),
        [
            "S:error:ECONNRESET",
            "S:error-detail Some(\"read\") read ECONNRESET",
            "S:close:true",
        ]
    );
}

/// N67: a server resetting an accepted socket: the client gets 'error'
/// ECONNRESET then close(true), and no 'end'.
#[test]
fn n67_server_reset_reaches_the_client_as_econnreset() {
    let trace = Trace::new();
    let t = trace.clone();
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        srv.close();
        let t = t.clone();
        s.on("data", move |s: &Socket, _: &Bytes| {
            s.reset_and_destroy();
        });
        s.on("close", move |_: &Socket, e: bool| {
            t.log(format!("S:close:{e}"))
        });
    });
    let port = listen_local(server);
    let c = tcp::connect(port, "127.0.0.1", |s: &Socket| {
        s.write("hello");
    })
    .unwrap();
    trace_socket(&c, &trace, "C");
    run_bounded(LIMIT);
    assert_eq!(
        trace.with_prefix("C:"),
        ["C:connect", "C:ready", "C:error:ECONNRESET", "C:close:true"]
    );
    assert_eq!(trace.with_prefix("S:"), ["S:close:false"]);
}

/// N67: reset_and_destroy() on a socket that never connected: 'error'
/// ERR_SOCKET_CLOSED ("Socket is closed"), then 'close' (false: Node passes
/// no argument to a never-connected socket's 'close', even after an error).
#[test]
fn n67_reset_on_a_never_connected_socket() {
    let trace = Trace::new();
    let s = Socket::new(SocketOptions::default());
    trace_socket(&s, &trace, "C");
    let t = trace.clone();
    s.on("error", move |_: &Socket, e: &Error| {
        t.log(format!("C:message:{}", e.message()))
    });
    assert_eq!(s.reset_and_destroy(), s);
    assert!(s.destroyed());
    assert!(trace.entries().is_empty());
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        [
            "C:error:ERR_SOCKET_CLOSED",
            "C:message:Socket is closed",
            "C:close:false"
        ]
    );
}

/// N67: reset_and_destroy() while connecting waits for the connection,
/// then resets: no 'connect', no 'error', close(false). With destroy()
/// in between, likewise only close(false).
#[test]
fn n67_reset_while_connecting_is_deferred() {
    let trace = Trace::new();
    let server = tcp::create_server(ServerOptions::default(), |_: &Server, s: &Socket| {
        s.on("error", |_: &Socket, _: &Error| {});
        s.resume();
    });
    let port = listen_local(server);
    let c1 = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    trace_socket(&c1, &trace, "C1");
    assert_eq!(c1.reset_and_destroy(), c1);
    assert!(c1.connecting(), "the reset waits for the connection");
    let c2 = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    trace_socket(&c2, &trace, "C2");
    c2.reset_and_destroy();
    c2.destroy();
    assert!(c2.destroyed());
    let closed = Rc::new(Cell::new(0));
    for c in [c1, c2] {
        let closed = closed.clone();
        c.on("close", move |_: &Socket, _: bool| {
            closed.set(closed.get() + 1);
            if closed.get() == 2 {
                server.close();
            }
        });
    }
    run_bounded(LIMIT);
    assert_eq!(trace.with_prefix("C1:"), ["C1:close:false"]);
    assert_eq!(trace.with_prefix("C2:"), ["C2:close:false"]);
}

/// N62: 200 clients, each connecting 3 times in turn and receiving exactly
/// 40 KiB per connection; 600 server connections; every 'close' is
/// close(false). Node reconnects the same socket object; nodenet does not
/// support reconnecting a closed socket, so each round is a new socket.
#[test]
fn n62_many_clients_each_get_40_kib() {
    const CLIENTS: usize = 200;
    const ROUNDS: usize = 3;
    const BYTES: usize = 40 * 1024;
    let connections = Rc::new(Cell::new(0usize));
    let cn = connections.clone();
    let server = tcp::create_server(ServerOptions::default(), move |_: &Server, s: &Socket| {
        cn.set(cn.get() + 1);
        s.end_with(vec![b'x'; BYTES]);
    });
    let port = listen_local(server);
    /// (client, round, bytes received, had_error) of every connection.
    type Results = Rc<RefCell<Vec<(usize, usize, usize, bool)>>>;
    let results: Results = Rc::default();
    let finished = Rc::new(Cell::new(0usize));

    fn start(
        port: u16,
        client: usize,
        round: usize,
        results: Results,
        finished: Rc<Cell<usize>>,
        server: Server,
    ) {
        let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
        let got = Rc::new(Cell::new(0usize));
        let g = got.clone();
        c.on("data", move |_: &Socket, d: &Bytes| {
            assert!(d.iter().all(|&b| b == b'x'));
            g.set(g.get() + d.len());
        });
        c.on("error", |_: &Socket, e: &Error| panic!("client error: {e}"));
        c.on("close", move |_: &Socket, had_error: bool| {
            results
                .borrow_mut()
                .push((client, round, got.get(), had_error));
            if round + 1 < ROUNDS {
                start(
                    port,
                    client,
                    round + 1,
                    results.clone(),
                    finished.clone(),
                    server,
                );
            } else {
                finished.set(finished.get() + 1);
                if finished.get() == CLIENTS {
                    server.close();
                }
            }
        });
    }

    for client in 0..CLIENTS {
        start(port, client, 0, results.clone(), finished.clone(), server);
    }
    run_bounded(LIMIT * 3);
    assert_eq!(connections.get(), CLIENTS * ROUNDS);
    let results = results.borrow();
    assert_eq!(results.len(), CLIENTS * ROUNDS);
    for &(client, round, got, had_error) in results.iter() {
        assert_eq!(got, BYTES, "client {client} round {round}");
        assert!(!had_error, "client {client} round {round}");
    }
}

/// N62: 200 echo connections open at once, each sending its own id many
/// times in several writes: every client gets back exactly its own bytes,
/// unmixed; all close(false).
#[test]
fn n62_simultaneous_echo_connections_stay_unmixed() {
    const CLIENTS: usize = 200;
    const REPEAT: usize = 50;
    let (server, port) = echo_server();
    let done = Rc::new(Cell::new(0usize));
    let clients: Rc<RefCell<Vec<Socket>>> = Rc::default();
    let received: Rc<RefCell<HashMap<usize, Vec<u8>>>> = Rc::default();
    let closes = Trace::new();
    for id in 0..CLIENTS {
        let msg = format!("<{id}>");
        let expected_len = msg.len() * REPEAT;
        let m = msg.clone();
        let c = tcp::connect(port, "127.0.0.1", move |s: &Socket| {
            for _ in 0..REPEAT / 10 {
                s.write(m.repeat(10));
            }
        })
        .unwrap();
        let (r, d, cl) = (received.clone(), done.clone(), clients.clone());
        c.on("data", move |_: &Socket, chunk: &Bytes| {
            let mut r = r.borrow_mut();
            let mine = r.entry(id).or_default();
            mine.extend_from_slice(chunk);
            assert!(mine.len() <= expected_len, "client {id} got extra bytes");
            if mine.len() == expected_len {
                d.set(d.get() + 1);
                // All stay open until every client has its echo.
                if d.get() == CLIENTS {
                    for s in cl.borrow().iter() {
                        s.end();
                    }
                    server.close();
                }
            }
        });
        let t = closes.clone();
        c.on("close", move |_: &Socket, e: bool| {
            t.log(format!("close:{e}"))
        });
        clients.borrow_mut().push(c);
    }
    run_bounded(LIMIT * 3);
    assert_eq!(done.get(), CLIENTS);
    for id in 0..CLIENTS {
        let expected = format!("<{id}>").repeat(REPEAT);
        assert_eq!(
            String::from_utf8_lossy(&received.borrow()[&id]),
            expected,
            "client {id}"
        );
    }
    assert_eq!(closes.count("close:false"), CLIENTS);
    assert_eq!(closes.entries().len(), CLIENTS);
}

/// N63: 20 MB of random data, one write then end(); the reader pauses
/// periodically (resumed by a timer). Bytes arrive intact and in order,
/// no chunk exceeds 64 KiB, and `bytes_read` is 20,000,000 at 'end' and
/// inside 'close'.
#[test]
fn n63_large_transfer_arrives_intact() {
    const TOTAL: usize = 20_000_000;
    let data = Rc::new(random_bytes(TOTAL, 63));
    let d = data.clone();
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        s.end_with(Bytes::copy_from_slice(&d));
        srv.close();
    });
    let port = listen_local(server);
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    let offset = Rc::new(Cell::new(0usize));
    let max_chunk = Rc::new(Cell::new(0usize));
    let chunks = Rc::new(Cell::new(0usize));
    let pauses = Rc::new(Cell::new(0usize));
    let (o, m, n, p, d) = (
        offset.clone(),
        max_chunk.clone(),
        chunks.clone(),
        pauses.clone(),
        data.clone(),
    );
    c.on("data", move |s: &Socket, chunk: &Bytes| {
        let at = o.get();
        assert!(at + chunk.len() <= d.len(), "more bytes than were sent");
        assert!(
            d[at..at + chunk.len()] == chunk[..],
            "bytes differ at offset {at}"
        );
        o.set(at + chunk.len());
        m.set(m.get().max(chunk.len()));
        n.set(n.get() + 1);
        if n.get() % 40 == 0 {
            assert!(!s.is_paused());
            s.pause();
            p.set(p.get() + 1);
            let s = *s;
            nodenet::set_timeout(
                move || {
                    assert!(s.is_paused());
                    s.resume();
                },
                10,
            );
        }
    });
    let trace = Trace::new();
    let (t, o) = (trace.clone(), offset.clone());
    c.on("end", move |s: &Socket| {
        t.log(format!(
            "end received={} bytes_read={}",
            o.get(),
            s.bytes_read()
        ))
    });
    let t = trace.clone();
    c.on("close", move |s: &Socket, e: bool| {
        t.log(format!("close:{e} bytes_read={}", s.bytes_read()))
    });
    run_bounded(LIMIT * 6);
    assert_eq!(
        trace.entries(),
        [
            format!("end received={TOTAL} bytes_read={TOTAL}"),
            format!("close:false bytes_read={TOTAL}"),
        ]
    );
    assert!(
        max_chunk.get() <= 64 * 1024,
        "a chunk of {} bytes",
        max_chunk.get()
    );
    assert!(pauses.get() > 0);
}

/// N63 (test-net-stream.js): the reader destroys mid-flood; the writer,
/// pumping on 'drain', gets exactly one 'error' (the peer's reset) and
/// then close(true).
#[test]
fn n63_reader_destroying_mid_flood_fails_the_writer_once() {
    let trace = Trace::new();
    let t = trace.clone();
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        srv.close();
        let chunk = Bytes::from(vec![b'f'; 64 * 1024]);
        let pump = move |s: &Socket| while s.write(chunk.clone()) {};
        pump(s);
        s.on("drain", move |s: &Socket| pump(s));
        let t2 = t.clone();
        s.on("error", move |_: &Socket, e: &Error| {
            let c = e.code();
            t2.log(format!(
                "S:error:{}",
                if c == "ECONNRESET" || c == "EPIPE" {
                    "reset"
                } else {
                    c
                }
            ))
        });
        let t2 = t.clone();
        s.on("close", move |_: &Socket, e: bool| {
            t2.log(format!("S:close:{e}"))
        });
    });
    let port = listen_local(server);
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    let got = Rc::new(Cell::new(0usize));
    let t = trace.clone();
    c.on("data", move |s: &Socket, d: &Bytes| {
        got.set(got.get() + d.len());
        if got.get() >= 1 << 20 && !s.destroyed() {
            s.destroy();
            t.log("C:destroyed");
        }
    });
    let t = trace.clone();
    c.on("close", move |_: &Socket, e: bool| {
        t.log(format!("C:close:{e}"))
    });
    run_bounded(LIMIT);
    assert_eq!(trace.with_prefix("C:"), ["C:destroyed", "C:close:false"]);
    assert_eq!(trace.with_prefix("S:"), ["S:error:reset", "S:close:true"]);
}

/// Node's stream-state properties: `readableFlowing`, `readableEnded`,
/// `writableFinished`, `errored`, `closed`, `readableHighWaterMark`.
#[test]
fn stream_state_properties_follow_the_lifecycle() {
    let trace = Trace::new();
    let server = tcp::create_server(ServerOptions::default(), |srv: &Server, s: &Socket| {
        s.end_with("bye");
        srv.close();
    });
    let port = listen_local(server);
    let c = Socket::new(SocketOptions {
        high_water_mark: Some(1234),
        ..SocketOptions::default()
    });
    assert_eq!(c.readable_flowing(), None);
    assert_eq!(c.readable_high_water_mark(), 1234);
    assert!(!c.closed());
    c.connect(port, "127.0.0.1").unwrap();
    let t = trace.clone();
    c.on("data", move |s: &Socket, _: &Bytes| {
        t.log(format!("data flowing={:?}", s.readable_flowing()))
    });
    let t = trace.clone();
    c.on("end", move |s: &Socket| {
        t.log(format!("end ended={}", s.readable_ended()))
    });
    let t = trace.clone();
    c.on("finish", move |s: &Socket| {
        t.log(format!("finish finished={}", s.writable_finished()))
    });
    let t = trace.clone();
    c.on("close", move |s: &Socket, _: bool| {
        t.log(format!(
            "close closed={} errored={}",
            s.closed(),
            s.errored().is_some()
        ))
    });
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        [
            "data flowing=Some(true)",
            "end ended=true",
            "finish finished=true",
            "close closed=true errored=false"
        ]
    );
    assert!(c.closed(), "a stale handle reports closed");
}

/// `errored()` holds the error a socket was destroyed with.
#[test]
fn errored_holds_the_destroy_error() {
    let c = tcp::connect(closed_port(), "127.0.0.1", |_: &Socket| {}).unwrap();
    let seen = Rc::new(RefCell::new(None));
    let s2 = seen.clone();
    c.on("error", |_: &Socket, _: &Error| {});
    c.on("close", move |s: &Socket, had_error: bool| {
        *s2.borrow_mut() = Some((had_error, s.errored().map(|e| e.code())))
    });
    run_bounded(LIMIT);
    assert_eq!(*seen.borrow(), Some((true, Some("ECONNREFUSED"))));
}

/// Node's `setTypeOfService`: cached before connect, applied at connect,
/// read back from the kernel afterwards.
#[test]
fn type_of_service_is_applied_at_connect_and_read_back() {
    let server = tcp::create_server(ServerOptions::default(), |srv: &Server, s: &Socket| {
        s.end();
        srv.close();
    });
    let port = listen_local(server);
    let c = Socket::new(SocketOptions::default());
    c.set_type_of_service(0x10);
    assert_eq!(c.get_type_of_service(), 0x10, "cached before connect");
    c.connect(port, "127.0.0.1").unwrap();
    let seen = Rc::new(Cell::new(0u8));
    let s2 = seen.clone();
    c.on("connect", move |s: &Socket| {
        s2.set(s.get_type_of_service());
        s.set_type_of_service(0x08);
        assert_eq!(s.get_type_of_service(), 0x08);
    });
    run_bounded(LIMIT);
    assert_eq!(seen.get(), 0x10, "read back from the connected socket");
}

/// Separate readable and writable high-water marks; `high_water_mark`
/// sets both; keep-alive probe settings are accepted before and after
/// connect.
#[test]
fn separate_high_water_marks_and_keep_alive_probes() {
    let s = Socket::new(SocketOptions {
        high_water_mark: Some(1000),
        writable_high_water_mark: Some(2000),
        ..SocketOptions::default()
    });
    assert_eq!(s.readable_high_water_mark(), 1000);
    assert_eq!(s.writable_high_water_mark(), 2000);
    s.destroy();
    let (server, port) = echo_server();
    let c = Socket::new(SocketOptions::default()).set_keep_alive_probes(true, 2000, 3000, 4);
    c.connect(port, "127.0.0.1").unwrap();
    c.on("connect", move |s: &Socket| {
        s.set_keep_alive_probes(true, 5000, 1000, 3).end();
        server.close();
    });
    run_bounded(LIMIT);
}

/// `raw_fd()`: `None` before the first attempt and once destroyed; while
/// connected, the connection's own descriptor, so socket options set
/// through it apply to the connection (the tests pin `SO_SNDBUF` and
/// `SO_RCVBUF` that way).
#[test]
fn raw_fd_is_the_connections_descriptor_while_it_has_one() {
    let (server, port) = echo_server();
    let fresh = Socket::new(SocketOptions::default());
    assert_eq!(fresh.raw_fd(), None);
    fresh.destroy();
    let connected = Rc::new(Cell::new(false));
    let cn = connected.clone();
    let c = tcp::connect(port, "127.0.0.1", move |_: &Socket| cn.set(true)).unwrap();
    run_until(LIMIT, || connected.get());
    let local = with_sock(&c, |s| s.local_addr().unwrap().as_socket().unwrap()).unwrap();
    assert_eq!(Some(local.port()), c.local_port());
    pin_buffers(&c, 8192);
    let snd = with_sock(&c, |s| s.send_buffer_size().unwrap()).unwrap();
    let rcv = with_sock(&c, |s| s.recv_buffer_size().unwrap()).unwrap();
    // Linux reports twice the value set (its bookkeeping share).
    assert!((8192..=16384).contains(&snd), "{snd}");
    assert!((8192..=16384).contains(&rcv), "{rcv}");
    c.destroy();
    assert_eq!(c.raw_fd(), None);
    server.close();
    run_bounded(LIMIT);
}

/// Issue 11, item 2: a `SocketAddr` converts into `ListenOptions` and
/// `ConnectOptions` (`listen_with(addr.into())`,
/// `create_connection(addr.into())`), and a socket answers std's and
/// tokio's `local_addr()` / `peer_addr()` beside Node's names.
#[test]
fn socket_addrs_convert_into_options_and_read_back_by_std_names() {
    use std::net::SocketAddr;
    let accepted: Rc<Cell<Option<Socket>>> = Rc::new(Cell::new(None));
    let a = accepted.clone();
    let server = tcp::create_server(ServerOptions::default(), move |_: &Server, s: &Socket| {
        a.set(Some(*s));
    });
    let bind: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let options = nodenet::ListenOptions::from(bind);
    assert_eq!(options, nodenet::ListenOptions::new(0).host("127.0.0.1"));
    server.listen_with(bind.into()).unwrap();
    let addr = server.address().unwrap();
    assert_eq!(addr.ip(), bind.ip());

    let options = nodenet::ConnectOptions::from(addr);
    assert_eq!(
        (options.port, options.host.as_str()),
        (addr.port(), "127.0.0.1")
    );
    let c = tcp::create_connection(addr.into()).unwrap();
    assert_eq!((c.local_addr(), c.peer_addr()), (None, None));
    run_until(LIMIT, || {
        accepted.get().is_some() && c.local_addr().is_some()
    });
    let s = accepted.get().unwrap();
    assert_eq!(c.peer_addr(), Some(addr));
    assert_eq!(c.local_addr(), c.address());
    assert_eq!(s.local_addr(), Some(addr));
    assert_eq!(s.peer_addr(), c.local_addr());
    // Node's split names agree with them.
    assert_eq!(c.peer_addr().map(|a| a.ip()), c.remote_address());
    assert_eq!(c.peer_addr().map(|a| a.port()), c.remote_port());
    assert_eq!(c.local_addr().map(|a| a.port()), c.local_port());
    assert_eq!(c.local_family(), Some(Family::Ipv4));
    c.destroy();
    server.close();
    run_bounded(LIMIT);
}

/// Issue 11, item 2: `Family` prints and parses Node's `"IPv4"` / `"IPv6"`
/// and keeps Node's numbers reachable.
#[test]
fn family_prints_and_parses_nodes_names() {
    assert_eq!(Family::Ipv4.to_string(), "IPv4");
    assert_eq!(Family::Ipv6.to_string(), "IPv6");
    for (text, family) in [
        ("IPv4", Family::Ipv4),
        ("ipv6", Family::Ipv6),
        ("4", Family::Ipv4),
        ("6", Family::Ipv6),
    ] {
        assert_eq!(text.parse::<Family>().unwrap(), family, "{text}");
    }
    for family in [Family::Ipv4, Family::Ipv6] {
        assert_eq!(family.to_string().parse::<Family>().unwrap(), family);
    }
    let err = "IPv5".parse::<Family>().unwrap_err();
    assert_eq!(err.code(), "ERR_INVALID_ARG_VALUE");
    assert_eq!((u8::from(Family::Ipv4), Family::Ipv6.as_number()), (4, 6));
    let v6: std::net::IpAddr = "::1".parse().unwrap();
    assert_eq!(Family::from(v6), Family::Ipv6);
}

/// Issue 11, item 5: `ReadyState` prints Node's strings and parses them
/// back.
#[test]
fn ready_state_prints_and_parses_nodes_strings() {
    for (text, state) in [
        ("opening", ReadyState::Opening),
        ("open", ReadyState::Open),
        ("readOnly", ReadyState::ReadOnly),
        ("writeOnly", ReadyState::WriteOnly),
        ("closed", ReadyState::Closed),
    ] {
        assert_eq!(state.to_string(), text);
        assert_eq!(text.parse::<ReadyState>().unwrap(), state);
    }
    let err = "readonly".parse::<ReadyState>().unwrap_err();
    assert_eq!(err.code(), "ERR_INVALID_ARG_VALUE");
}

/// Issue 11, item 7: `io::Write` for `&Socket` and `Socket`: `write!` and
/// `serde_json::to_writer` queue their bytes, which reach the peer in
/// order; after `end()` and after `destroy()` a write is an `io::Error`
/// wrapping the write error, and the socket is left as it was.
#[test]
fn io_write_serves_write_macros_and_serde_json() {
    use std::io::Write;
    const EXPECTED: &str = "hello 42\n{\"n\":1,\"s\":\"x\"}\nbye";
    let received = Rc::new(RefCell::new(Vec::new()));
    let r = received.clone();
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        srv.close();
        let r = r.clone();
        s.on_data(move |_, chunk| r.borrow_mut().extend_from_slice(chunk));
    });
    let port = listen_local(server);
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    // Before the connection is up: queued, as Socket::write.
    writeln!(&c, "hello {}", 42).unwrap();
    serde_json::to_writer(&c, &serde_json::json!({"n": 1, "s": "x"})).unwrap();
    let mut owned = c;
    owned.write_all(b"\nbye").unwrap();
    owned.flush().unwrap();
    assert_eq!(c.bytes_written(), EXPECTED.len() as u64);
    c.end();
    let err = write!(&c, "late").unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
    let inner = err.get_ref().unwrap().downcast_ref::<Error>().unwrap();
    assert_eq!(inner.code(), "ERR_STREAM_WRITE_AFTER_END");
    assert!(
        c.errored().is_none(),
        "an io::Write error does not fail the socket"
    );
    run_until(LIMIT, || c.closed());
    assert_eq!(
        String::from_utf8(received.borrow().clone()).unwrap(),
        EXPECTED
    );

    let d = Socket::new(SocketOptions::default());
    d.destroy();
    // `.write()` is the inherent method; io::Write by its path.
    let err = Write::write(&mut &d, b"x").unwrap_err();
    let inner = err.into_inner().unwrap().downcast::<Error>().unwrap();
    assert_eq!(inner.code(), "ERR_STREAM_DESTROYED");
    run_bounded(LIMIT);
}
