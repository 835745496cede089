//! Connecting: name resolution, connection attempts and their events, and
//! happy eyeballs (net-behaviours N15, N19; Node's `autoSelectFamily`).

mod util;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use nodenet::tcp::{self, Resolver};
use nodenet::{
    ConnectOptions, ConnectionAttempt, Error, Family, ListenOptions, Lookup, Server, ServerOptions,
    Socket,
};
use util::*;

const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn ipv6_available() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

/// Logs the connecting events of `s` (no ports: they vary).
fn trace_attempts(s: &Socket, trace: &Trace) {
    let t = trace.clone();
    s.on("lookup", move |_: &Socket, l: &Lookup| {
        match (&l.error, l.address) {
            (Some(e), _) => t.log(format!("lookup:error:{}", e.code())),
            (None, Some(ip)) => t.log(format!("lookup:{ip}:{}", l.family().unwrap().as_number())),
            (None, None) => t.log("lookup:?"),
        }
    });
    let t = trace.clone();
    s.on(
        "connectionAttempt",
        move |_: &Socket, a: &ConnectionAttempt| {
            t.log(format!("attempt:{}:{}", a.address, a.family.as_number()))
        },
    );
    let t = trace.clone();
    s.on(
        "connectionAttemptFailed",
        move |_: &Socket, a: &ConnectionAttempt| {
            let code = a.error.as_ref().map_or("none", |e| e.code());
            t.log(format!("failed:{}:{code}", a.address))
        },
    );
    let t = trace.clone();
    s.on(
        "connectionAttemptTimeout",
        move |_: &Socket, a: &ConnectionAttempt| t.log(format!("timeout:{}", a.address)),
    );
    let t = trace.clone();
    s.on("connect", move |_: &Socket| t.log("connect"));
    let t = trace.clone();
    s.on("error", move |_: &Socket, e: &Error| {
        t.log(format!("error:{}:{}", e.code(), e.errors().len()))
    });
    let t = trace.clone();
    s.on("close", move |_: &Socket, had_error: bool| {
        t.log(format!("close:{had_error}"))
    });
}

fn fixed(addrs: Vec<IpAddr>) -> Option<Resolver> {
    Some(Resolver::new(move |_: &str| Ok(addrs.clone())))
}

/// N15: two addresses, neither listening: every attempt in order, then one
/// aggregate error whose code is the first attempt's, then `close(true)`.
#[test]
fn n15_happy_eyeballs_failure_sequence() {
    if !ipv6_available() {
        eprintln!("skipped: no ::1 on this machine");
        return;
    }
    let port = closed_port();
    let trace = Trace::new();
    let attempted = Trace::new();
    let c = tcp::create_connection(ConnectOptions {
        port,
        host: "example.org".into(),
        lookup: fixed(vec![V6, V4]),
        ..Default::default()
    })
    .unwrap();
    trace_attempts(&c, &trace);
    let a = attempted.clone();
    c.on("close", move |s: &Socket, _: bool| {
        for addr in s
            .auto_select_family_attempted_addresses()
            .unwrap_or_default()
        {
            a.log(addr.ip().to_string());
        }
    });
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        [
            "lookup:::1:6",
            "lookup:127.0.0.1:4",
            "attempt:::1:6",
            "failed:::1:ECONNREFUSED",
            "attempt:127.0.0.1:4",
            "failed:127.0.0.1:ECONNREFUSED",
            "error:ECONNREFUSED:2",
            "close:true"
        ]
    );
    assert_eq!(attempted.entries(), ["::1", "127.0.0.1"]);
}

/// N15: when one address listens, that attempt wins and the attempted list
/// ends with it.
#[test]
fn n15_happy_eyeballs_connects_to_the_address_that_listens() {
    if !ipv6_available() {
        eprintln!("skipped: no ::1 on this machine");
        return;
    }
    let server = tcp::create_server(ServerOptions::default(), |srv: &Server, s: &Socket| {
        s.end();
        srv.close();
    });
    let port = listen_local(server);
    let trace = Trace::new();
    let c = tcp::create_connection(ConnectOptions {
        port,
        host: "example.org".into(),
        lookup: fixed(vec![V6, V4]),
        ..Default::default()
    })
    .unwrap();
    trace_attempts(&c, &trace);
    let t = trace.clone();
    c.on("connect", move |s: &Socket| {
        let list = s.auto_select_family_attempted_addresses().unwrap();
        t.log(format!("attempted:{}", list.len()));
        t.log(format!("remote:{}", s.remote_address().unwrap()));
    });
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        [
            "lookup:::1:6",
            "lookup:127.0.0.1:4",
            "attempt:::1:6",
            "failed:::1:ECONNREFUSED",
            "attempt:127.0.0.1:4",
            "connect",
            "attempted:2",
            "remote:127.0.0.1",
            "close:false"
        ]
    );
}

/// N15: with `auto_select_family: false` only the first address is tried:
/// a plain error, no attempted-address list.
#[test]
fn n15_without_auto_select_only_the_first_address_is_tried() {
    let port = closed_port();
    let trace = Trace::new();
    let c = tcp::create_connection(ConnectOptions {
        port,
        host: "example.org".into(),
        lookup: fixed(vec![V4, V6]),
        auto_select_family: Some(false),
        ..Default::default()
    })
    .unwrap();
    trace_attempts(&c, &trace);
    let t = trace.clone();
    c.on("close", move |s: &Socket, _: bool| {
        t.log(format!(
            "list:{:?}",
            s.auto_select_family_attempted_addresses()
        ))
    });
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        [
            "lookup:127.0.0.1:4",
            "attempt:127.0.0.1:4",
            "failed:127.0.0.1:ECONNREFUSED",
            "error:ECONNREFUSED:0",
            "close:true",
            "list:None"
        ]
    );
}

/// An attempt that hangs is abandoned after the attempt timeout
/// (`'connectionAttemptTimeout'`) for the next address, which connects.
#[test]
fn a_hanging_attempt_times_out_and_the_next_address_connects() {
    if !ipv6_available() {
        eprintln!("skipped: no ::1 on this machine");
        return;
    }
    let (_hanging, port) = hanging_port();
    // A server on ::1 with the same port number as the hanging 127.0.0.1.
    let server = tcp::create_server(ServerOptions::default(), |srv: &Server, s: &Socket| {
        s.end();
        srv.close();
    });
    server
        .listen_with(ListenOptions::new(port).host("::1").ipv6_only(true))
        .unwrap();
    let trace = Trace::new();
    let c = tcp::create_connection(ConnectOptions {
        port,
        host: "example.org".into(),
        lookup: fixed(vec![V4, V6]),
        auto_select_family_attempt_timeout: Some(Duration::from_millis(100)),
        ..Default::default()
    })
    .unwrap();
    trace_attempts(&c, &trace);
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        [
            "lookup:127.0.0.1:4",
            "lookup:::1:6",
            "attempt:127.0.0.1:4",
            "timeout:127.0.0.1",
            "attempt:::1:6",
            "connect",
            "close:false"
        ]
    );
}

/// N19: an IP literal skips name resolution (no `'lookup'`) but still
/// reports its connection attempt.
#[test]
fn n19_ip_literal_has_an_attempt_but_no_lookup() {
    let server = tcp::create_server(ServerOptions::default(), |srv: &Server, s: &Socket| {
        s.end();
        srv.close();
    });
    let port = listen_local(server);
    let trace = Trace::new();
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    trace_attempts(&c, &trace);
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        ["attempt:127.0.0.1:4", "connect", "close:false"]
    );
}

/// `family: Some(Family::Ipv6)` (Node's `family: 6`) keeps only IPv6
/// addresses (and turns happy eyeballs off). Node's other numbers are
/// refused by the type.
#[test]
fn family_filters_the_addresses() {
    if !ipv6_available() {
        eprintln!("skipped: no ::1 on this machine");
        return;
    }
    let port = closed_port();
    let trace = Trace::new();
    let c = tcp::create_connection(ConnectOptions {
        port,
        host: "example.org".into(),
        lookup: fixed(vec![V4, V6]),
        family: Some(Family::Ipv6),
        ..Default::default()
    })
    .unwrap();
    trace_attempts(&c, &trace);
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        [
            "lookup:::1:6",
            "attempt:::1:6",
            "failed:::1:ECONNREFUSED",
            "error:ECONNREFUSED:0",
            "close:true"
        ]
    );
}

/// A custom resolver's failure is a lookup error: `'lookup'` with the
/// error, then `'error'`, then `close(true)`.
#[test]
fn a_failing_custom_lookup_is_a_lookup_error() {
    let trace = Trace::new();
    let c = tcp::create_connection(ConnectOptions {
        port: 80,
        host: "nowhere.example".into(),
        lookup: Some(Resolver::new(|_: &str| {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such host",
            ))
        })),
        ..Default::default()
    })
    .unwrap();
    trace_attempts(&c, &trace);
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        ["lookup:error:ENOTFOUND", "error:ENOTFOUND:0", "close:true"]
    );
}

/// The process-wide defaults Node exposes.
#[test]
fn auto_select_family_defaults() {
    assert!(tcp::get_default_auto_select_family());
    assert_eq!(
        tcp::get_default_auto_select_family_attempt_timeout(),
        Duration::from_millis(250)
    );
}

/// Node 21+'s `blockList` on a client: connecting to a blocked address
/// fails with `ERR_IP_BLOCKED`, then `close(true)`, with no attempt.
#[test]
fn block_list_refuses_outgoing_connections() {
    let blocked = nodenet::BlockList::new();
    blocked.add_subnet("127.0.0.0".parse().unwrap(), 8).unwrap();
    let trace = Trace::new();
    let c = tcp::create_connection(ConnectOptions {
        port: closed_port(),
        host: "127.0.0.1".into(),
        block_list: Some(blocked),
        ..Default::default()
    })
    .unwrap();
    trace_attempts(&c, &trace);
    run_bounded(LIMIT);
    assert_eq!(trace.entries(), ["error:ERR_IP_BLOCKED:0", "close:true"]);
}
