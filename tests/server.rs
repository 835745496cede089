//! Server behaviour (net-behaviours section H): listen and address, bind
//! errors, close with live connections, the connection count, the
//! connection limit, IPv6-only, ref/unref, and running out of descriptors.

mod util;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nodenet::{tcp, Bytes, DropInfo, Error, Family, ListenOptions, Server, ServerOptions, Socket};
use util::*;

/// A server whose `'connection'` listener does nothing.
fn idle_server() -> Server {
    tcp::create_server(ServerOptions::default(), |_: &Server, _: &Socket| {})
}

/// The entries of `trace` that are one of `wanted`, in order.
fn only(trace: &Trace, wanted: &[&str]) -> Vec<String> {
    trace
        .entries()
        .into_iter()
        .filter(|e| wanted.contains(&e.as_str()))
        .collect()
}

fn ipv6_loopback_available() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

/// N53: `listen(0, "127.0.0.1")` binds at once: `address()` and
/// `listening()` are right after the call, `'listening'` comes later (never
/// inside `listen`), and both are cleared by `close()`.
#[test]
fn n53_listen_address_is_synchronous_and_listening_is_async() {
    let trace = Trace::new();
    let server = idle_server();
    assert_eq!(server.address(), None);
    assert!(!server.listening());

    let heard = Rc::new(Cell::new(false));
    let h = heard.clone();
    let t = trace.clone();
    server.on("listening", move |s: &Server| {
        h.set(true);
        // By then the server reports itself listening.
        t.log(format!("listening:{}", s.listening()));
    });
    let t = trace.clone();
    server.on("close", move |_: &Server| t.log("close"));

    let returned = server.listen(0, "127.0.0.1").unwrap();
    assert_eq!(returned, server, "listen returns the server");
    assert!(
        !heard.get(),
        "'listening' must not be emitted inside listen()"
    );
    assert!(server.listening());
    let addr = server
        .address()
        .expect("bound synchronously for an IP literal");
    assert_eq!(addr.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert!(addr.port() > 100, "an ephemeral port, got {}", addr.port());

    run_until(LIMIT, || heard.get());
    assert_eq!(trace.entries(), ["listening:true"]);

    server.close();
    assert!(!server.listening());
    assert_eq!(server.address(), None);
    run_bounded(LIMIT);
    assert_eq!(trace.entries(), ["listening:true", "close"]);
    assert_eq!(server.address(), None);
}

/// N53: a host-less `listen(0, "")` binds `::` (family IPv6) where IPv6 is
/// available, `0.0.0.0` otherwise; also synchronous.
#[test]
fn n53_hostless_listen_binds_the_unspecified_ipv6_address() {
    let server = idle_server();
    let heard = Rc::new(Cell::new(false));
    let h = heard.clone();
    server.on("listening", move |_: &Server| h.set(true));
    server.listen(0, "").unwrap();
    assert!(server.listening());
    assert!(!heard.get());
    let addr = server
        .address()
        .expect("host-less listen binds synchronously");
    if std::net::TcpListener::bind("[::]:0").is_ok() {
        assert_eq!(addr.ip(), IpAddr::V6(Ipv6Addr::UNSPECIFIED), "{addr}");
        assert!(addr.is_ipv6(), "family IPv6");
    } else {
        println!("note: no IPv6 here; host-less listen fell back to {addr}");
        assert_eq!(addr.ip(), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    }
    run_until(LIMIT, || heard.get());
    server.close();
    assert_eq!(server.address(), None);
    run_bounded(LIMIT);
}

/// N54: listening on a port in use gives an asynchronous `'error'`
/// (EADDRINUSE, errno -98, syscall "listen", address and port, Node's
/// message), no `'listening'` and no `'close'`; listening again from the
/// `'error'` listener works, and the once `'listening'` listener registered
/// for the failed listen fires too (Node's stale-callback gotcha).
#[test]
fn n54_eaddrinuse_then_relisten_fires_the_stale_listening_listener() {
    let trace = Trace::new();
    let first = idle_server();
    let port = listen_local(first);

    let second = idle_server();
    let t = trace.clone();
    second.once("listening", move |_: &Server| t.log("cb1"));
    let t = trace.clone();
    second.on("close", move |_: &Server| t.log("close"));
    let t = trace.clone();
    second.on("error", move |s: &Server, e: &Error| {
        t.log(format!("error:{}", e.code()));
        assert_eq!(e.syscall(), Some("listen"));
        assert_eq!(e.errno(), Some(-98));
        assert_eq!(e.address(), Some("127.0.0.1"));
        assert_eq!(e.port(), Some(port));
        assert_eq!(
            e.message(),
            format!("listen EADDRINUSE: address already in use 127.0.0.1:{port}")
        );
        assert!(!s.listening());
        assert_eq!(s.address(), None);
        // The failed listen's once listener is still registered.
        assert_eq!(s.listener_count("listening"), 1);
        let t2 = t.clone();
        s.once("listening", move |_: &Server| t2.log("cb2"));
        s.listen(0, "127.0.0.1")
            .expect("listening again after an error");
    });

    second
        .listen(port, "127.0.0.1")
        .expect("the bind error is reported as 'error'");
    assert!(trace.entries().is_empty(), "'error' must be asynchronous");
    assert!(!second.listening());

    run_until(LIMIT, || trace.contains("cb2"));
    assert_eq!(trace.entries(), ["error:EADDRINUSE", "cb1", "cb2"]);
    assert!(second.listening());
    assert_ne!(second.address().unwrap().port(), port);
    assert_eq!(second.listener_count("listening"), 0);

    second.close();
    first.close();
    run_bounded(LIMIT);
    assert_eq!(trace.entries(), ["error:EADDRINUSE", "cb1", "cb2", "close"]);
}

/// N54: the host-less form of the EADDRINUSE message reads `:::<port>`.
#[test]
fn n54_hostless_eaddrinuse_message() {
    if std::net::TcpListener::bind("[::]:0").is_err() {
        println!("note: no IPv6 here; skipping the ':::<port>' message check");
        return;
    }
    let first = idle_server();
    first.listen(0, "").unwrap();
    let port = first.address().unwrap().port();
    let second = idle_server();
    let seen = Rc::new(RefCell::new(None));
    let s2 = seen.clone();
    second.on("error", move |_: &Server, e: &Error| {
        *s2.borrow_mut() = Some(e.clone());
    });
    second.listen(port, "").unwrap();
    run_until(LIMIT, || seen.borrow().is_some());
    let err = seen.borrow_mut().take().unwrap();
    assert_eq!(err.code(), "EADDRINUSE");
    assert_eq!(
        err.message(),
        format!("listen EADDRINUSE: address already in use :::{port}")
    );
    assert!(!second.listening());
    first.close();
    run_bounded(LIMIT);
}

/// N55: a second `listen` while listening is refused with
/// ERR_SERVER_ALREADY_LISTEN (nothing changes); after `close()` the server
/// listens again. With a host name still resolving, a second `listen`
/// supersedes the first: no error, exactly one `'listening'`.
#[test]
fn n55_listen_twice() {
    let trace = Trace::new();
    let server = idle_server();
    let t = trace.clone();
    server.on("listening", move |_: &Server| t.log("listening"));
    let t = trace.clone();
    server.on("close", move |_: &Server| t.log("close"));

    let port = listen_local(server);
    let err = server.listen(0, "127.0.0.1").unwrap_err();
    assert_eq!(err.code(), "ERR_SERVER_ALREADY_LISTEN");
    assert_eq!(
        err.message(),
        "Listen method has been called more than once without closing."
    );
    assert_eq!(
        server.address().unwrap().port(),
        port,
        "still on the first port"
    );
    run_until(LIMIT, || trace.count("listening") == 1);

    server.close();
    let port2 = listen_local(server);
    assert!(server.listening());
    run_until(LIMIT, || trace.count("listening") == 2);
    assert_eq!(trace.entries(), ["listening", "close", "listening"]);
    // It really accepts on the new port.
    let connected = Rc::new(Cell::new(false));
    let c = connected.clone();
    tcp::connect(port2, "127.0.0.1", move |s: &Socket| {
        c.set(true);
        s.destroy();
    })
    .unwrap();
    run_until(LIMIT, || connected.get());
    server.close();
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        ["listening", "close", "listening", "close"]
    );

    // A host name: both calls return Ok, one 'listening'.
    let trace = Trace::new();
    let server = idle_server();
    let t = trace.clone();
    server.on("listening", move |_: &Server| t.log("listening"));
    let t = trace.clone();
    server.on("error", move |_: &Server, e: &Error| {
        t.log(format!("error:{}", e.code()))
    });
    server.listen(0, "localhost").unwrap();
    server.listen(0, "localhost").unwrap();
    run_until(LIMIT, || trace.count("listening") == 1);
    // Give a superseded answer time to (wrongly) show up.
    nodenet::run_for(Duration::from_millis(200)).unwrap();
    assert_eq!(trace.entries(), ["listening"]);
    server.close();
    run_bounded(LIMIT);
}

/// N56: ports outside 0..=65535 or not numbers are refused with
/// ERR_SOCKET_BAD_PORT, without a panic and without changing the server;
/// `"0"` means an ephemeral port. (Node takes a non-numeric string such as
/// `"abc"` as a Unix socket path; nodenet's `listen` is TCP only and refuses
/// it as a bad port.)
#[test]
fn n56_bad_ports_are_refused() {
    let server = idle_server();
    let check = |r: Result<Server, Error>, shown: &str| {
        let err = r.unwrap_err();
        assert_eq!(err.code(), "ERR_SOCKET_BAD_PORT", "{shown}");
        assert_eq!(
            err.message(),
            format!("Port should be >= 0 and < 65536. Received {shown}."),
        );
    };
    check(server.listen(-1, "127.0.0.1"), "-1");
    check(server.listen(65536, "127.0.0.1"), "65536");
    check(server.listen(i64::MAX, "127.0.0.1"), &i64::MAX.to_string());
    check(server.listen("abc", "127.0.0.1"), "'abc'");
    check(server.listen("1.5", "127.0.0.1"), "'1.5'");
    check(server.listen("", "127.0.0.1"), "''");
    assert!(!server.listening());
    assert_eq!(server.address(), None);

    server
        .listen("0", "127.0.0.1")
        .expect("'0' is an ephemeral port");
    assert!(server.address().unwrap().port() > 0);
    server.close();
    run_bounded(LIMIT);
}

/// N58: `close()` with two live connections: not listening and no address
/// at once, a new client is refused, the server's `'close'` (then the close
/// callback, with no error) waits for both accepted sockets to be
/// destroyed, and comes before the last accepted socket's own `'close'`.
#[test]
fn n58_close_with_live_connections() {
    let trace = Trace::new();
    let accepted: Rc<RefCell<Vec<Socket>>> = Rc::default();
    let a = accepted.clone();
    let t = trace.clone();
    let server = tcp::create_server(ServerOptions::default(), move |_: &Server, s: &Socket| {
        let tag = format!("S{}", a.borrow().len());
        trace_socket(s, &t, &tag);
        a.borrow_mut().push(*s);
    });
    let port = listen_local(server);
    let t = trace.clone();
    server.on("close", move |_: &Server| t.log("server:close"));

    let c0 = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    trace_socket(&c0, &trace, "C0");
    let c1 = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    trace_socket(&c1, &trace, "C1");
    run_until(LIMIT, || {
        accepted.borrow().len() == 2 && trace.contains("C0:connect") && trace.contains("C1:connect")
    });

    let t = trace.clone();
    let returned = server.close_cb(move |_: &Server, err: Option<&Error>| {
        t.log(format!("close_cb:{:?}", err.map(|e| e.code())))
    });
    assert_eq!(returned, server);
    assert!(!server.listening());
    assert_eq!(server.address(), None);

    let c2 = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    trace_socket(&c2, &trace, "C2");
    run_until(LIMIT, || trace.contains("C2:close:true"));
    assert_eq!(
        trace.with_prefix("C2:"),
        ["C2:error:ECONNREFUSED", "C2:close:true"]
    );

    let s0 = accepted.borrow()[0];
    let s1 = accepted.borrow()[1];
    s0.destroy();
    run_until(LIMIT, || trace.contains("S0:close:false"));
    assert!(
        !trace.contains("server:close"),
        "one connection is still open"
    );
    assert!(trace.with_prefix("close_cb").is_empty());
    assert_eq!(server.connections(), 1);

    s1.end();
    run_bounded(LIMIT);
    assert_eq!(
        only(
            &trace,
            &[
                "S0:close:false",
                "server:close",
                "close_cb:None",
                "S1:close:false"
            ]
        ),
        [
            "S0:close:false",
            "server:close",
            "close_cb:None",
            "S1:close:false"
        ]
    );
    assert_eq!(trace.count("server:close"), 1);
    assert_eq!(trace.with_prefix("C1:").last().unwrap(), "C1:close:false");
    assert_eq!(trace.with_prefix("C0:").last().unwrap(), "C0:close:false");
    assert_eq!(
        server.listener_count("close"),
        0,
        "the server is freed after its 'close', its listeners with it"
    );
}

/// N59: `close()` on a server that is not listening: the callback gets
/// ERR_SERVER_NOT_RUNNING and `'close'` is still emitted.
#[test]
fn n59_close_when_not_listening() {
    let trace = Trace::new();
    let server = idle_server();
    let t = trace.clone();
    server.on("close", move |_: &Server| t.log("close"));
    let t = trace.clone();
    server.close_cb(move |_: &Server, err: Option<&Error>| {
        let e = err.expect("an error for a server that is not running");
        t.log(format!("cb:{}:{}", e.code(), e.message()));
    });
    assert!(trace.entries().is_empty(), "nothing runs inside close()");
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        ["close", "cb:ERR_SERVER_NOT_RUNNING:Server is not running."]
    );
}

/// N59: a listening server closed twice in a row: the first callback gets no
/// error, the second ERR_SERVER_NOT_RUNNING. (Node 20 emits `'close'` a
/// second time for the second call; nodenet coalesces the two into one
/// `'close'` that runs both callbacks.)
#[test]
fn n59_close_twice() {
    let trace = Trace::new();
    let server = idle_server();
    listen_local(server);
    let t = trace.clone();
    server.on("close", move |_: &Server| t.log("close"));
    let t = trace.clone();
    server.close_cb(move |_: &Server, err: Option<&Error>| {
        t.log(format!("cb1:{:?}", err.map(|e| e.code())))
    });
    let t = trace.clone();
    server.close_cb(move |_: &Server, err: Option<&Error>| {
        t.log(format!("cb2:{:?}", err.map(|e| e.code())))
    });
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        ["close", "cb1:None", "cb2:Some(\"ERR_SERVER_NOT_RUNNING\")"]
    );
}

/// N60: `get_connections(cb)` answers on a later tick with the count of
/// accepted connections not yet destroyed.
#[test]
fn n60_get_connections_is_async() {
    let accepted: Rc<RefCell<Vec<Socket>>> = Rc::default();
    let a = accepted.clone();
    let server = tcp::create_server(ServerOptions::default(), move |_: &Server, s: &Socket| {
        a.borrow_mut().push(*s);
    });
    let port = listen_local(server);
    let clients: Vec<Socket> = (0..2)
        .map(|_| tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap())
        .collect();
    run_until(LIMIT, || accepted.borrow().len() == 2);

    let got = Rc::new(Cell::new(None));
    let g = got.clone();
    let returned = server.get_connections(move |_: &Server, n: usize| g.set(Some(n)));
    assert_eq!(returned, server);
    assert_eq!(
        got.get(),
        None,
        "the count is delivered later, not inside the call"
    );
    run_until(LIMIT, || got.get().is_some());
    assert_eq!(got.get(), Some(2));

    // The count drops as soon as an accepted socket is destroyed.
    accepted.borrow()[0].destroy();
    let g = got.clone();
    server.get_connections(move |_: &Server, n: usize| g.set(Some(n + 100)));
    run_until(LIMIT, || got.get() != Some(2));
    assert_eq!(got.get(), Some(101));

    for c in clients {
        c.destroy();
    }
    accepted.borrow()[1].destroy();
    server.close();
    run_bounded(LIMIT);
}

/// N61: `max_connections = 2` with 4 clients: 2 `'connection'`, 2 `'drop'`
/// with the dropped connection's addresses; dropped clients see connect,
/// then end, then `close(false)` (an ECONNRESET is tolerated, as in Node's
/// test); once an accepted connection is gone a new one is accepted. With
/// `Some(0)` every connection is dropped: nodenet follows Node 21+ here
/// (Node 20 treats 0 as "no limit").
#[test]
fn n61_max_connections_and_drop() {
    let trace = Trace::new();
    let accepted: Rc<RefCell<Vec<Socket>>> = Rc::default();
    let drops: Rc<RefCell<Vec<DropInfo>>> = Rc::default();
    let a = accepted.clone();
    let t = trace.clone();
    let server = tcp::create_server(ServerOptions::default(), move |_: &Server, s: &Socket| {
        t.log("connection");
        s.on("error", |_: &Socket, _: &Error| {});
        s.write("hi");
        a.borrow_mut().push(*s);
    });
    let d = drops.clone();
    let t = trace.clone();
    server.on("drop", move |_: &Server, info: &DropInfo| {
        t.log("drop");
        d.borrow_mut().push(info.clone());
    });
    assert_eq!(server.max_connections(), None);
    server.set_max_connections(Some(2));
    assert_eq!(server.max_connections(), Some(2));
    let port = listen_local(server);

    let local_addrs: Rc<RefCell<HashMap<String, SocketAddr>>> = Rc::default();
    let connect = |tag: &str| -> Socket {
        let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
        let l = local_addrs.clone();
        let tag2 = tag.to_string();
        c.on("connect", move |s: &Socket| {
            l.borrow_mut().insert(tag2.clone(), s.address().unwrap());
        });
        trace_socket(&c, &trace, tag);
        c
    };
    // A client ends one of two ways: accepted ("hi"), or dropped.
    let outcome = |tag: &str| -> Option<&'static str> {
        let events = trace.stripped(&format!("{tag}:"));
        let events: Vec<&str> = events
            .iter()
            .map(String::as_str)
            .filter(|e| *e != "ready" && *e != "finish")
            .collect();
        match events.as_slice() {
            ["connect", "data:hi", ..] => Some("accepted"),
            ["connect", "end", "close:false"] => Some("dropped"),
            ["connect", "error:ECONNRESET", "close:true"] => Some("dropped"),
            ["connect"] | [] => None,
            other => panic!("{tag}: unexpected events {other:?}"),
        }
    };

    let tags = ["C1", "C2", "C3", "C4"];
    let clients: Vec<Socket> = tags.iter().map(|t| connect(t)).collect();
    run_until(LIMIT, || {
        tags.iter().all(|t| outcome(t).is_some()) && drops.borrow().len() == 2
    });
    let outcomes: Vec<&str> = tags.iter().map(|t| outcome(t).unwrap()).collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "accepted").count(),
        2,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| **o == "dropped").count(),
        2,
        "{outcomes:?}"
    );
    assert_eq!(trace.count("connection"), 2);
    assert_eq!(trace.count("drop"), 2);
    assert_eq!(server.connections(), 2);

    // Each 'drop' names a dropped client's connection.
    let dropped_locals: Vec<SocketAddr> = tags
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| **o == "dropped")
        .map(|(t, _)| local_addrs.borrow()[*t])
        .collect();
    for info in drops.borrow().iter() {
        assert_eq!(info.local, Some(SocketAddr::from(([127, 0, 0, 1], port))));
        let remote = info.remote.expect("a TCP peer's address");
        assert_eq!(remote.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert!(
            dropped_locals.contains(&remote),
            "{info:?} vs {dropped_locals:?}"
        );
    }

    let got = Rc::new(Cell::new(None));
    let g = got.clone();
    server.get_connections(move |_: &Server, n: usize| g.set(Some(n)));
    run_until(LIMIT, || got.get().is_some());
    assert_eq!(got.get(), Some(2));

    // An accepted connection goes away: room for a new one.
    accepted.borrow()[0].destroy();
    assert_eq!(server.connections(), 1);
    let c5 = connect("C5");
    run_until(LIMIT, || outcome("C5").is_some());
    assert_eq!(outcome("C5"), Some("accepted"));
    assert_eq!(trace.count("connection"), 3);

    // Some(0): everything is dropped (Node 21+; Node 20 would accept).
    server.set_max_connections(Some(0));
    let c6 = connect("C6");
    run_until(LIMIT, || {
        outcome("C6").is_some() && drops.borrow().len() == 3
    });
    assert_eq!(outcome("C6"), Some("dropped"));
    assert_eq!(trace.count("connection"), 3);

    server.close();
    for s in accepted.borrow().iter() {
        s.destroy();
    }
    for c in clients.iter().chain([&c5, &c6]) {
        c.destroy();
    }
    run_bounded(LIMIT);
}

/// N66: `ipv6_only` on `::` refuses IPv4 clients and accepts `::1`; without
/// it `::` is dual-stack and reports an IPv4 client as `::ffff:127.0.0.1`.
#[test]
fn n66_ipv6_only() {
    if !ipv6_loopback_available() {
        println!("note: ::1 is not available here; skipping the ipv6_only test");
        return;
    }
    let trace = Trace::new();
    let server = idle_server();
    server
        .listen_with(ListenOptions::new(0).host("::").ipv6_only(true))
        .unwrap();
    let port = server.address().unwrap().port();
    let v4 = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    trace_socket(&v4, &trace, "v4");
    let v6 = tcp::connect(port, "::1", |s: &Socket| {
        s.destroy();
    })
    .unwrap();
    trace_socket(&v6, &trace, "v6");
    run_until(LIMIT, || {
        trace.contains("v4:close:true") && trace.contains("v6:close:false")
    });
    assert_eq!(
        trace.with_prefix("v4:"),
        ["v4:error:ECONNREFUSED", "v4:close:true"]
    );
    assert_eq!(
        trace.with_prefix("v6:"),
        ["v6:connect", "v6:ready", "v6:close:false"]
    );
    server.close();

    // Dual-stack.
    let remote = Rc::new(RefCell::new(None));
    let r = remote.clone();
    let dual = tcp::create_server(ServerOptions::default(), move |_: &Server, s: &Socket| {
        *r.borrow_mut() = Some((s.remote_address(), s.remote_family()));
        s.destroy();
    });
    dual.listen_with(ListenOptions::new(0).host("::")).unwrap();
    let port = dual.address().unwrap().port();
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    c.on("error", |_: &Socket, _: &Error| {});
    run_until(LIMIT, || remote.borrow().is_some());
    let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
    assert_eq!(*remote.borrow(), Some((Some(mapped), Some(Family::Ipv6))));
    dual.close();
    run_bounded(LIMIT);
}

/// N70: an unref'd listening server does not keep `run()` going: an
/// unref'd timer that would fire later never runs. The same with `unref()`
/// before `listen()`.
#[test]
fn n70_unref_server_lets_run_return() {
    for unref_first in [false, true] {
        let server = idle_server();
        if unref_first {
            server.unref();
        }
        listen_local(server);
        if !unref_first {
            server.unref();
        }
        let fired = Rc::new(Cell::new(false));
        let f = fired.clone();
        nodenet::set_timeout(move || f.set(true), 200).unref();
        run_bounded(LIMIT);
        assert!(!fired.get(), "run() stayed alive for an unref'd server");
        assert!(server.listening(), "unref does not close");
        server.close();
        run_bounded(LIMIT);
    }
}

/// N70: a ref'd listening server keeps `run_for` busy until its deadline
/// (an unref'd timer inside the window fires), and `r#ref()` after `unref()`
/// restores that.
#[test]
fn n70_refd_server_keeps_the_loop_alive() {
    let server = idle_server();
    listen_local(server);
    server.unref();
    server.r#ref();
    let fired = Rc::new(Cell::new(false));
    let f = fired.clone();
    nodenet::set_timeout(move || f.set(true), 100).unref();
    nodenet::run_for(Duration::from_millis(300)).unwrap();
    assert!(
        fired.get(),
        "the listening server should have kept the loop alive"
    );
    assert!(server.listening());
    server.close();
    run_bounded(LIMIT);
}

/// N70: `handle().stop()` from another thread makes `run()` return while a
/// ref'd server still listens; `post()`ed closures run on the loop thread.
#[test]
fn n70_loop_handle_stop_from_another_thread() {
    let server = idle_server();
    listen_local(server);
    let handle = nodenet::handle();
    let posted = Arc::new(AtomicBool::new(false));
    let p = posted.clone();
    let loop_thread = std::thread::current().id();
    let worker = std::thread::spawn(move || {
        let p2 = p.clone();
        handle
            .post(move || {
                assert_eq!(std::thread::current().id(), loop_thread);
                p2.store(true, Ordering::SeqCst);
            })
            .unwrap();
        let start = Instant::now();
        while !p.load(Ordering::SeqCst) && start.elapsed() < LIMIT {
            std::thread::sleep(Duration::from_millis(5));
        }
        handle.stop();
    });
    run_bounded(LIMIT);
    worker.join().unwrap();
    assert!(posted.load(Ordering::SeqCst));
    assert!(server.listening(), "stopped, not drained");
    server.close();
    run_bounded(LIMIT);
}

/// Running out of descriptors (EMFILE) neither strands pending clients nor
/// spins: the server, in a child process whose descriptor limit is lowered
/// with the shell's `ulimit -n` (no libc needed), holds what it can and
/// accepts-and-closes the rest (the spare-descriptor trick); every client
/// either gets the greeting or an end/reset, none waits forever; and while
/// at the limit the server uses no CPU to speak of.
#[test]
fn emfile_does_not_strand_clients_or_spin() {
    const CHILD_ENV: &str = "NODENET_TEST_EMFILE_CHILD";
    if std::env::var_os(CHILD_ENV).is_some() {
        emfile_child();
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 40 && exec \"$0\" \"$@\"")
        .arg(&exe)
        .args([
            "emfile_does_not_strand_clients_or_spin",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the child test process");
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port: u16 = loop {
        let line = lines
            .next()
            .expect("the child exited before printing its port")
            .unwrap();
        // libtest prints "test <name> ... " without a newline first.
        if let Some(at) = line.find("EMFILE-CHILD-PORT ") {
            break line[at + "EMFILE-CHILD-PORT ".len()..]
                .trim()
                .parse()
                .unwrap();
        }
    };
    // Keep draining the child's output so it never blocks on a full pipe.
    let drain = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());

    const CLIENTS: usize = 120;
    let mut streams = Vec::new();
    for _ in 0..CLIENTS {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        streams.push(s);
    }
    let (mut held, mut shed) = (0, 0);
    for (i, s) in streams.iter_mut().enumerate() {
        let mut buf = [0u8; 16];
        match s.read(&mut buf) {
            Ok(2) if &buf[..2] == b"hi" => held += 1,
            Ok(0) => shed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => shed += 1,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                let _ = child.kill();
                panic!("client {i} was stranded: no greeting, no end after 5 s");
            }
            other => {
                let _ = child.kill();
                panic!("client {i}: unexpected {other:?}");
            }
        }
    }
    println!("EMFILE: {held} connections held, {shed} shed");
    assert_eq!(held + shed, CLIENTS);
    assert!(held > 0, "the server accepted nothing");
    assert!(
        shed > 0,
        "the descriptor limit was never reached ({held} held)"
    );

    // At the limit, with connections held open, the server must be idle.
    let cpu_ticks = || -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after_comm.split_whitespace().collect();
        // utime and stime: fields 14 and 15 of the whole line.
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    if std::path::Path::new(&format!("/proc/{pid}/stat")).exists() {
        let before = cpu_ticks();
        std::thread::sleep(Duration::from_secs(1));
        let spent = cpu_ticks() - before;
        assert!(
            spent < 50,
            "the server spun at EMFILE: {spent} CPU ticks in 1 s"
        );
    }

    drop(streams);
    // Ask the child to stop; retry while it is still at the limit.
    let mut stopped = false;
    for _ in 0..50 {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let _ = s.write_all(b"quit");
            let mut buf = Vec::new();
            let _ = s.read_to_end(&mut buf);
            if buf.ends_with(b"bye") {
                stopped = true;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("the child did not exit (quit acknowledged: {stopped})");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = drain.join().unwrap();
    assert!(stopped, "the child never acknowledged quit");
    assert!(
        status.success(),
        "child failed: {status}\n{}",
        output.join("\n")
    );
}

/// The child side of [`emfile_does_not_strand_clients_or_spin`]: a server
/// that greets and holds every connection until a client says "quit".
fn emfile_child() {
    let server = tcp::create_server(ServerOptions::default(), |srv: &Server, s: &Socket| {
        let srv = *srv;
        s.on("error", |_: &Socket, _: &Error| {});
        s.on("data", move |s: &Socket, chunk: &Bytes| {
            if &chunk[..] == b"quit" {
                s.end_with("bye");
                srv.close();
            }
        });
        s.write("hi");
    });
    let port = listen_local(server);
    println!("EMFILE-CHILD-PORT {port}");
    std::io::stdout().flush().unwrap();
    nodenet::run_for(Duration::from_secs(60)).expect("no unhandled error");
    assert!(!server.listening(), "the child ran out of time before quit");
}

/// Node's canonical sequence: `listen(0)` then `close()` in the same tick
/// gives `'close'` only: no `'listening'`, no `'error'`.
#[test]
fn listen_then_close_in_the_same_tick_gives_close_only() {
    let trace = Trace::new();
    let server = tcp::create_server(ServerOptions::default(), |_: &Server, _: &Socket| {});
    for event in ["listening", "close"] {
        let t = trace.clone();
        server.on(event, move |_: &Server| t.log(event));
    }
    let t = trace.clone();
    server.on("error", move |_: &Server, e: &Error| {
        t.log(format!("error:{}", e.code()))
    });
    server.listen(0, "127.0.0.1").unwrap();
    server.close();
    run_bounded(LIMIT);
    assert_eq!(trace.entries(), ["close"]);
    assert!(!server.listening());
}

/// Node 21+'s `blockList` on a server: a blocked client is closed as soon
/// as it is accepted, with no `'connection'`; others are served.
#[test]
fn block_list_drops_blocked_clients_silently() {
    let blocked = nodenet::BlockList::new();
    blocked.add_address("127.0.0.1".parse().unwrap());
    let trace = Trace::new();
    let t = trace.clone();
    let server = tcp::create_server(
        ServerOptions {
            block_list: Some(blocked.clone()),
            ..ServerOptions::default()
        },
        move |_: &Server, _: &Socket| t.log("connection"),
    );
    server.listen(0, "").unwrap();
    let port = server.address().unwrap().port();
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    let t = trace.clone();
    c.on("close", move |_: &Socket, e: bool| {
        t.log(format!("blocked client close:{e}"))
    })
    .on("error", |_: &Socket, _: &Error| {});
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        let ok = tcp::connect(port, "::1", |_: &Socket| {}).unwrap();
        let t = trace.clone();
        ok.on("connect", move |s: &Socket| {
            t.log("::1 connected");
            s.end();
        });
    }
    let srv = server;
    nodenet::set_timeout(
        move || {
            srv.close();
        },
        300,
    );
    run_bounded(LIMIT);
    assert!(
        trace.contains("blocked client close:false") || trace.contains("blocked client close:true")
    );
    assert_eq!(trace.count("connection"), trace.count("::1 connected"));
}

/// Counts its drops: captured by a listener, it tells when the server's
/// slot (and so its listeners) was freed.
struct DropCount(Rc<Cell<usize>>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// A closed server is freed after its `'close'`, as a socket is: its
/// listeners (and what they capture) are dropped, and its handle goes
/// stale (`listen` says so). Many create/listen/close cycles leave nothing
/// behind.
#[test]
fn closed_servers_are_freed_after_close() {
    const CYCLES: usize = 2000;
    let drops = Rc::new(Cell::new(0));
    let closes = Rc::new(Cell::new(0));
    let mut last = None;
    for _ in 0..CYCLES {
        let guard = DropCount(drops.clone());
        let c = closes.clone();
        let server = tcp::create_server(ServerOptions::default(), move |_, _| {
            let _keep = &guard;
        });
        server.on_close(move |_| c.set(c.get() + 1));
        server.listen(0, "127.0.0.1").unwrap();
        server.close();
        last = Some(server);
    }
    run_bounded(LIMIT);
    assert_eq!(closes.get(), CYCLES);
    assert_eq!(
        drops.get(),
        CYCLES,
        "every closed server's listeners dropped"
    );
    let stale = last.unwrap();
    let err = stale.listen(0, "127.0.0.1").unwrap_err();
    assert_eq!(err.code(), "ERR_SERVER_NOT_RUNNING");
    assert_eq!(stale.listener_count("connection"), 0);
}

/// A server that listens again from its own `'close'` listener is kept,
/// and accepts on the new port; it is freed after its next `'close'`.
#[test]
fn a_server_relistening_in_its_close_listener_is_kept() {
    let drops = Rc::new(Cell::new(0));
    let guard = DropCount(drops.clone());
    let accepted = Rc::new(Cell::new(0));
    let a = accepted.clone();
    let server = tcp::create_server(ServerOptions::default(), move |_, s| {
        let _keep = &guard;
        a.set(a.get() + 1);
        s.destroy();
    });
    let relistened = Rc::new(Cell::new(false));
    let r = relistened.clone();
    server.on_close(move |srv| {
        if !r.replace(true) {
            srv.listen(0, "127.0.0.1").unwrap();
        }
    });
    listen_local(server);
    server.close();
    run_until(LIMIT, || server.listening());
    assert_eq!(drops.get(), 0);
    let port = server.address().unwrap().port();
    tcp::connect(port, "127.0.0.1", |_| {})
        .unwrap()
        .on_error(|_, _| {});
    run_until(LIMIT, || accepted.get() == 1);
    server.close();
    run_bounded(LIMIT);
    assert_eq!(drops.get(), 1);
}

/// Issue 11, item 6: every option type has `Default`, `Clone`, `Debug` and
/// `PartialEq`; a `BlockList` or `Resolver` inside compares by identity
/// (the same list, the same function), and `ServerOptions` nests the
/// accepted sockets' options as `ConnectOptions` nests the client's.
#[test]
fn option_types_default_clone_and_compare() {
    use nodenet::{tcp::Resolver, BlockList, ConnectOptions, SocketOptions};
    let socket = SocketOptions {
        allow_half_open: true,
        ..SocketOptions::default()
    };
    let server = ServerOptions {
        socket: socket.clone(),
        ..ServerOptions::default()
    };
    assert_eq!(server.clone(), server);
    assert_ne!(server, ServerOptions::default());
    let connect = ConnectOptions {
        socket,
        ..ConnectOptions::default()
    };
    assert_eq!(connect.socket, server.socket);
    assert_eq!(ListenOptions::default(), ListenOptions::new(0));
    assert!(format!("{:?}", ListenOptions::default()).contains("backlog: 511"));

    let list = BlockList::new();
    let with_list = ServerOptions {
        block_list: Some(list.clone()),
        ..ServerOptions::default()
    };
    assert_eq!(with_list.clone(), with_list);
    assert_ne!(
        with_list,
        ServerOptions {
            block_list: Some(BlockList::new()),
            ..ServerOptions::default()
        }
    );
    let resolver = Resolver::new(|_: &str| Ok(Vec::new()));
    let with_lookup = ConnectOptions {
        lookup: Some(resolver.clone()),
        ..ConnectOptions::default()
    };
    assert_eq!(with_lookup.clone(), with_lookup);
    assert_ne!(
        with_lookup,
        ConnectOptions {
            lookup: Some(Resolver::new(|_: &str| Ok(Vec::new()))),
            ..ConnectOptions::default()
        }
    );
}
