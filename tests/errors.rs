//! Connection errors and argument validation (net-behaviours section B,
//! plus N10 and resets).

mod util;

use std::cell::{Cell, RefCell};
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;

use nodenet::{
    tcp, Bytes, ConnectOptions, Error, ErrorCode, Family, Lookup, Server, ServerOptions, Socket,
};
use util::*;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Logs the full detail of every error of `s`, and its 'connect' and
/// 'close', into `trace` under `tag`.
fn trace_errors(s: &Socket, trace: &Trace, tag: &str) {
    let (t, tg) = (trace.clone(), tag.to_string());
    s.on("connect", move |_: &Socket| t.log(format!("{tg}:connect")));
    let (t, tg) = (trace.clone(), tag.to_string());
    s.on("error", move |s: &Socket, e: &Error| {
        t.log(format!(
            "{tg}:error code={} errno={:?} syscall={:?} address={:?} port={:?} hostname={:?} \
             message={:?} connecting={} destroyed={}",
            e.code(),
            e.errno(),
            e.syscall(),
            e.address(),
            e.port(),
            e.hostname(),
            e.message(),
            s.connecting(),
            s.destroyed()
        ))
    });
    let (t, tg) = (trace.clone(), tag.to_string());
    s.on("close", move |_: &Socket, e: bool| {
        t.log(format!("{tg}:close:{e}"))
    });
}

/// N13: ECONNREFUSED on a closed port: code, errno, syscall, address,
/// port and message as Node's; inside the handler the socket is no longer
/// connecting and already destroyed; then close(true); never 'connect'.
#[test]
fn n13_econnrefused_on_a_closed_port() {
    let port = closed_port();
    let trace = Trace::new();
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| panic!("connected")).unwrap();
    trace_errors(&c, &trace, "C");
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        [
            format!(
                "C:error code=ECONNREFUSED errno=Some(-111) syscall=Some(\"connect\") \
                 address=Some(\"127.0.0.1\") port=Some({port}) hostname=None \
                 message=\"connect ECONNREFUSED 127.0.0.1:{port}\" connecting=false destroyed=true"
            ),
            "C:close:true".to_string(),
        ]
    );
}

/// N13: 5 rounds of 50 parallel refused connects: each socket gets one
/// ECONNREFUSED and one close(true), and no socket is left over (the loop
/// runs out of work).
#[test]
fn n13_many_parallel_refused_connects() {
    let port = closed_port();
    for round in 0..5 {
        let trace = Trace::new();
        let mut sockets = Vec::new();
        for i in 0..50 {
            let c = tcp::connect(port, "127.0.0.1", |_: &Socket| panic!("connected")).unwrap();
            let t = trace.clone();
            c.on("error", move |_: &Socket, e: &Error| {
                t.log(format!("{i}:error:{}", e.code()))
            });
            let t = trace.clone();
            c.on("close", move |_: &Socket, e: bool| {
                t.log(format!("{i}:close:{e}"))
            });
            sockets.push(c);
        }
        run_bounded(LIMIT);
        for i in 0..50 {
            assert_eq!(
                trace.stripped(&format!("{i}:")),
                ["error:ECONNREFUSED", "close:true"],
                "round {round} socket {i}"
            );
        }
        assert!(sockets.iter().all(Socket::destroyed));
    }
}

/// N16: an 'error' with no listener is not lost: `run()` returns it (where
/// Node would crash the process); 'close'(true) is still emitted when the
/// loop is run again.
#[test]
fn n16_unhandled_error_is_returned_by_run() {
    let port = closed_port();
    let trace = Trace::new();
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    let t = trace.clone();
    c.on("close", move |_: &Socket, e: bool| {
        t.log(format!("close:{e}"))
    });
    let err = run_bounded_result(LIMIT).expect_err("the unhandled error");
    assert_eq!(err.code(), "ECONNREFUSED");
    assert_eq!(
        err.message(),
        format!("connect ECONNREFUSED 127.0.0.1:{port}")
    );
    assert!(trace.entries().is_empty(), "the loop stopped at the error");
    run_bounded(LIMIT);
    assert_eq!(trace.entries(), ["close:true"]);
}

/// N17: binding to a local port that a listening server holds fails with
/// EADDRINUSE from `bind`; no 'connect'; then close(true).
#[test]
fn n17_local_port_conflict_is_eaddrinuse_from_bind() {
    let server = tcp::create_server(ServerOptions::default(), |_: &Server, _: &Socket| {
        panic!("no connection expected")
    });
    let port = listen_local(server);
    let trace = Trace::new();
    let c = tcp::create_connection(ConnectOptions {
        port,
        host: "127.0.0.1".into(),
        local_address: Some(LOCALHOST),
        local_port: Some(port),
        ..ConnectOptions::default()
    })
    .unwrap();
    trace_errors(&c, &trace, "C");
    c.on("close", move |_: &Socket, _: bool| {
        server.close();
    });
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        [
            format!(
                "C:error code=EADDRINUSE errno=Some(-98) syscall=Some(\"bind\") \
                 address=Some(\"127.0.0.1\") port=Some({port}) hostname=None \
                 message=\"bind EADDRINUSE 127.0.0.1:{port}\" connecting=false destroyed=true"
            ),
            "C:close:true".to_string(),
        ]
    );
}

/// N17: a free local port is used: the client's `local_port()` is it, and
/// the server sees it as the remote port.
#[test]
fn n17_free_local_port_is_used() {
    let remote_port = Rc::new(Cell::new(None));
    let rp = remote_port.clone();
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        rp.set(s.remote_port());
        s.end();
        srv.close();
    });
    let port = listen_local(server);
    let local_port = closed_port();
    let c = tcp::create_connection(ConnectOptions {
        port,
        host: "127.0.0.1".into(),
        local_address: Some(LOCALHOST),
        local_port: Some(local_port),
        ..ConnectOptions::default()
    })
    .unwrap();
    let seen = Rc::new(Cell::new(None));
    let sn = seen.clone();
    c.on("connect", move |s: &Socket| sn.set(s.local_port()));
    c.resume();
    run_bounded(LIMIT);
    assert_eq!(seen.get(), Some(local_port));
    assert_eq!(remote_port.get(), Some(local_port));
}

/// N17: a connect that fails after a successful bind names the local end
/// in its message: `connect ECONNREFUSED a:p - Local (la:lp)`.
#[test]
fn n17_refused_after_bind_names_the_local_end() {
    let port = closed_port();
    let local_port = closed_port();
    let c = tcp::create_connection(ConnectOptions {
        port,
        host: "127.0.0.1".into(),
        local_address: Some(LOCALHOST),
        local_port: Some(local_port),
        ..ConnectOptions::default()
    })
    .unwrap();
    let trace = Trace::new();
    let t = trace.clone();
    c.on("error", move |_: &Socket, e: &Error| {
        t.log(format!("{} {:?} {}", e.code(), e.syscall(), e.message()))
    });
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        [format!(
            "ECONNREFUSED Some(\"connect\") connect ECONNREFUSED 127.0.0.1:{port} - Local \
             (127.0.0.1:{local_port})"
        )]
    );
}

/// N18: a name that does not resolve: 'lookup' carries the error, then
/// 'error' ENOTFOUND from getaddrinfo with the hostname and no address or
/// port, then close(true); never 'connect' or 'finish', even with end()
/// called at once.
#[test]
fn n18_dns_failure_is_enotfound() {
    let trace = Trace::new();
    let c = tcp::connect(80, "something.invalid", |_: &Socket| panic!("connected")).unwrap();
    assert!(c.connecting());
    let t = trace.clone();
    c.on("lookup", move |_: &Socket, l: &Lookup| {
        t.log(format!(
            "C:lookup error={:?} address={:?} family={:?} host={}",
            l.error.as_ref().map(Error::code),
            l.address,
            l.family().map(Family::as_number),
            l.host
        ))
    });
    trace_errors(&c, &trace, "C");
    let t = trace.clone();
    c.on("finish", move |_: &Socket| t.log("C:finish"));
    c.end();
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        [
            "C:lookup error=Some(\"ENOTFOUND\") address=None family=None host=something.invalid",
            "C:error code=ENOTFOUND errno=None syscall=Some(\"getaddrinfo\") address=None \
             port=None hostname=Some(\"something.invalid\") \
             message=\"getaddrinfo ENOTFOUND something.invalid\" connecting=false destroyed=true",
            "C:close:true",
        ]
    );
}

/// N19: 'lookup' is emitted for a host name ("localhost"), before
/// 'connect', and not for an IP literal.
#[test]
fn n19_lookup_only_for_host_names() {
    let accepted = Rc::new(Cell::new(0));
    let a = accepted.clone();
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        a.set(a.get() + 1);
        if a.get() == 2 {
            srv.close();
        }
        s.end();
    });
    let port = listen_local(server);
    let trace = Trace::new();
    for host in ["localhost", "127.0.0.1"] {
        let c = tcp::connect(port, host, |_: &Socket| {}).unwrap();
        let t = trace.clone();
        c.on("lookup", move |_: &Socket, l: &Lookup| {
            t.log(format!(
                "{host}:lookup error={:?} address={:?} family={:?} host={}",
                l.error.as_ref().map(Error::code),
                l.address.map(|a| a.to_string()),
                l.family().map(Family::as_number),
                l.host
            ))
        });
        for ev in ["connect", "ready"] {
            let t = trace.clone();
            c.on(ev, move |_: &Socket| t.log(format!("{host}:{ev}")));
        }
        c.resume();
    }
    run_bounded(LIMIT);
    assert_eq!(
        trace.with_prefix("localhost:"),
        [
            "localhost:lookup error=None address=Some(\"127.0.0.1\") family=Some(4) host=localhost",
            "localhost:connect",
            "localhost:ready",
        ]
    );
    assert_eq!(
        trace.with_prefix("127.0.0.1:"),
        ["127.0.0.1:connect", "127.0.0.1:ready"]
    );
}

/// N21: bad ports are refused synchronously with ERR_SOCKET_BAD_PORT (an
/// `Err`, never a panic and never an event); numeric and hex strings are
/// accepted.
#[test]
fn n21_argument_validation() {
    fn bad(r: Result<Socket, Error>, what: &str) {
        match r {
            Err(e) => assert_eq!(e.code(), "ERR_SOCKET_BAD_PORT", "{what}"),
            Ok(_) => panic!("{what} was accepted"),
        }
    }
    let never = |_: &Socket| panic!("connected");
    bad(tcp::connect(-1, "127.0.0.1", never), "-1");
    bad(tcp::connect(65536, "127.0.0.1", never), "65536");
    bad(tcp::connect(0, "127.0.0.1", never), "0");
    bad(tcp::connect(0u16, "127.0.0.1", never), "0u16");
    bad(tcp::connect("", "127.0.0.1", never), "''");
    bad(tcp::connect(" ", "127.0.0.1", never), "' '");
    bad(tcp::connect("abc", "127.0.0.1", never), "'abc'");
    bad(tcp::connect("1.5", "127.0.0.1", never), "'1.5'");
    bad(tcp::connect(i64::MAX, "127.0.0.1", never), "i64::MAX");
    bad(
        tcp::create_connection(ConnectOptions {
            port: 0,
            host: "127.0.0.1".into(),
            ..ConnectOptions::default()
        }),
        "create_connection port 0",
    );
    let s = Socket::new(Default::default());
    bad(s.connect(-5, "127.0.0.1"), "Socket::connect(-5)");
    bad(s.connect("x", "127.0.0.1"), "Socket::connect('x')");
    assert!(
        !s.connecting(),
        "a refused connect leaves the socket as it was"
    );
    s.destroy();

    // Valid string forms connect: "8080" (0x1f90) parses...
    let c = tcp::connect("0x1f90", "127.0.0.1", |_: &Socket| {}).expect("hex accepted");
    c.on("error", |_: &Socket, _: &Error| {});
    c.destroy();
    let c = tcp::connect("8080", "127.0.0.1", |_: &Socket| {}).expect("decimal accepted");
    c.on("error", |_: &Socket, _: &Error| {});
    c.destroy();
    // ...and reach a real server, as decimal and as hex.
    let accepted = Rc::new(Cell::new(0));
    let a = accepted.clone();
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        a.set(a.get() + 1);
        if a.get() == 2 {
            srv.close();
        }
        s.end();
    });
    let port = listen_local(server);
    let connected = Rc::new(Cell::new(0));
    for p in [format!("{port}"), format!("{port:#x}")] {
        let cn = connected.clone();
        let c = tcp::connect(p.as_str(), "127.0.0.1", move |_: &Socket| {
            cn.set(cn.get() + 1)
        })
        .unwrap();
        c.resume();
    }
    run_bounded(LIMIT);
    assert_eq!(connected.get(), 2);
    assert_eq!(accepted.get(), 2);
}

/// N10: writes after destroy(), from outside any connect listener: the
/// callback gets ERR_STREAM_DESTROYED, `write` returns false, and no
/// 'error' is emitted; a write queued while connecting and dropped by
/// destroy() gets ERR_SOCKET_CLOSED_BEFORE_CONNECTION.
#[test]
fn n10_write_after_destroy_fails_only_the_callback() {
    let (server, port) = echo_server();
    let trace = Trace::new();
    // Connected, then destroyed in 'data'.
    let c = tcp::connect(port, "127.0.0.1", |s: &Socket| {
        s.write("ping");
    })
    .unwrap();
    trace_socket(&c, &trace, "C");
    let t = trace.clone();
    c.on("data", move |s: &Socket, _: &Bytes| {
        s.destroy();
        let t2 = t.clone();
        let ok = s.write_cb("more", move |_: &Socket, e: Option<&Error>| {
            t2.log(format!(
                "C:cb:{:?}",
                e.map(|e| (e.code(), e.message().to_string()))
            ))
        });
        t.log(format!("C:write={ok}"));
    });
    // Queued while connecting, then destroyed.
    let c2 = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    trace_socket(&c2, &trace, "C2");
    let t = trace.clone();
    c2.write_cb("queued", move |_: &Socket, e: Option<&Error>| {
        t.log(format!("C2:cb:{:?}", e.map(Error::code)))
    });
    c2.destroy();
    let closed = Rc::new(Cell::new(0));
    for s in [c, c2] {
        let closed = closed.clone();
        s.on("close", move |_: &Socket, _: bool| {
            closed.set(closed.get() + 1);
            if closed.get() == 2 {
                server.close();
            }
        });
    }
    run_bounded(LIMIT);
    assert_eq!(
        trace.with_prefix("C:"),
        [
            "C:connect",
            "C:ready",
            "C:data:ping",
            "C:write=false",
            "C:cb:Some((\"ERR_STREAM_DESTROYED\", \"Cannot call write after a stream was destroyed\"))",
            "C:close:false",
        ]
    );
    assert_eq!(
        trace.with_prefix("C2:"),
        [
            "C2:cb:Some(\"ERR_SOCKET_CLOSED_BEFORE_CONNECTION\")",
            "C2:close:false"
        ]
    );
}

/// A peer resetting mid-stream fails only its own connection: the server
/// socket gets ECONNRESET (syscall read) and close(true); the other
/// uploads, running at the same time, arrive complete.
#[test]
fn econnreset_mid_stream_does_not_affect_other_connections() {
    const CLIENTS: usize = 4;
    const UPLOAD: usize = 2 << 20;
    let trace = Trace::new();
    let totals: Rc<RefCell<Vec<(u16, usize)>>> = Rc::default();
    let accepted = Rc::new(Cell::new(0));
    let (t, tot, a) = (trace.clone(), totals.clone(), accepted.clone());
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        a.set(a.get() + 1);
        if a.get() == CLIENTS {
            srv.close();
        }
        let peer = s.remote_port().unwrap();
        let got = Rc::new(Cell::new(0usize));
        let g = got.clone();
        s.on("data", move |_: &Socket, d: &Bytes| {
            g.set(g.get() + d.len())
        });
        let t2 = t.clone();
        s.on("error", move |_: &Socket, e: &Error| {
            t2.log(format!("S:error {} {:?}", e.code(), e.syscall()))
        });
        let (t2, tot) = (t.clone(), tot.clone());
        s.on("close", move |_: &Socket, e: bool| {
            tot.borrow_mut().push((peer, got.get()));
            t2.log(format!("S:close:{e}"));
        });
    });
    let port = listen_local(server);
    let mut ports = Vec::new();
    let chunk = Bytes::from(vec![b'u'; 64 * 1024]);
    for i in 0..CLIENTS {
        let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
        let sent = Rc::new(Cell::new(0usize));
        let chunk = chunk.clone();
        let pump = move |s: &Socket| {
            while sent.get() < UPLOAD {
                sent.set(sent.get() + chunk.len());
                let more = s.write(chunk.clone());
                if i == 0 && sent.get() >= UPLOAD / 2 {
                    // The first client resets half-way through its upload.
                    s.reset_and_destroy();
                    return;
                }
                if sent.get() >= UPLOAD {
                    s.end();
                    return;
                }
                if !more {
                    return;
                }
            }
        };
        let t = trace.clone();
        c.on("connect", move |s: &Socket| {
            t.log(format!("C{i}:port {}", s.local_port().unwrap()))
        });
        let pump2 = pump.clone();
        c.once("connect", move |s: &Socket| pump(s));
        c.on("drain", move |s: &Socket| pump2(s));
        let t = trace.clone();
        c.on("close", move |_: &Socket, e: bool| {
            t.log(format!("C{i}:close:{e}"))
        });
        c.on("error", |_: &Socket, e: &Error| panic!("client error: {e}"));
        c.resume();
        ports.push(c);
    }
    run_bounded(LIMIT);
    for i in 0..CLIENTS {
        assert_eq!(
            trace.count(&format!("C{i}:close:false")),
            1,
            "{:?}",
            trace.entries()
        );
    }
    let reset_port: u16 = trace.stripped("C0:port ")[0].parse().unwrap();
    assert_eq!(
        trace.with_prefix("S:error"),
        ["S:error ECONNRESET Some(\"read\")"]
    );
    assert_eq!(trace.count("S:close:true"), 1);
    assert_eq!(trace.count("S:close:false"), CLIENTS - 1);
    let totals = totals.borrow();
    assert_eq!(totals.len(), CLIENTS);
    for &(peer, got) in totals.iter() {
        if peer == reset_port {
            assert!(got < UPLOAD, "the reset upload was cut short");
        } else {
            assert_eq!(got, UPLOAD, "upload from port {peer}");
        }
    }
}

/// Issue 11, item 7: `io::Error::from(err)` takes its kind from the code
/// and keeps the nodenet error inside, so `?` works in `io::Result` code.
#[test]
fn errors_convert_into_io_errors_by_code() {
    use std::io::ErrorKind;
    let refused = Error::from(std::io::Error::from(ErrorKind::ConnectionRefused));
    assert_eq!(refused.code(), "ECONNREFUSED");
    for (err, kind) in [
        (refused, ErrorKind::ConnectionRefused),
        (
            Error::new(ErrorCode::ERR_SOCKET_BAD_PORT, "bad port"),
            ErrorKind::InvalidInput,
        ),
        (
            Error::new(ErrorCode::ERR_STREAM_WRITE_AFTER_END, "write after end"),
            ErrorKind::BrokenPipe,
        ),
        (Error::msg("mine"), ErrorKind::Other),
    ] {
        let code = err.code();
        let io = std::io::Error::from(err);
        assert_eq!(io.kind(), kind, "{code}");
        let inner = io.get_ref().unwrap().downcast_ref::<Error>().unwrap();
        assert_eq!(inner.code(), code);
    }
    fn io_code() -> std::io::Result<()> {
        Err(Error::new(ErrorCode::EPIPE, "gone"))?;
        Ok(())
    }
    assert_eq!(io_code().unwrap_err().kind(), ErrorKind::BrokenPipe);
}

/// Issue 11, item 7: an `Error` carries any error as its source
/// (`with_source`), and `msg` / `other` make code-less errors (Node's
/// `new Error('x')`): `code()` is `""`, `kind()` is `NO_CODE`.
#[test]
fn errors_carry_any_source_and_can_have_no_code() {
    use std::error::Error as _;
    let parse = "port".parse::<u16>().unwrap_err();
    let err = Error::with_source(ErrorCode::ERR_SOCKET_BAD_PORT, "bad port", parse.clone());
    assert_eq!(err.code(), "ERR_SOCKET_BAD_PORT");
    assert_eq!(err.message(), "bad port");
    let source = err.source().unwrap();
    assert_eq!(
        source.downcast_ref::<std::num::ParseIntError>(),
        Some(&parse)
    );
    assert!(err.io_error().is_none(), "not an OS error");

    // An OS error is still reachable as one.
    let os = Error::from_io(std::io::Error::from_raw_os_error(111), "connect", None);
    assert_eq!(os.io_error().unwrap().raw_os_error(), Some(111));
    assert!(os.source().unwrap().is::<std::io::Error>());
    assert_eq!(os.errno(), Some(-111));

    let mine = Error::msg("the peer sent garbage");
    assert_eq!((mine.code(), mine.kind()), ("", ErrorCode::NO_CODE));
    assert_eq!(mine.to_string(), "the peer sent garbage");
    assert!(mine.source().is_none() && mine.syscall().is_none());

    let wrapped = Error::other(parse.clone());
    assert_eq!(wrapped.kind(), ErrorCode::NO_CODE);
    assert_eq!(wrapped.message(), parse.to_string());
    assert!(wrapped.source().unwrap().is::<std::num::ParseIntError>());
    // A clone shares the source.
    let again = wrapped.clone();
    assert!(again.source().unwrap().is::<std::num::ParseIntError>());
}
