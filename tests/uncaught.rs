//! `'error'`s emitted with no `'error'` listener: the default (an accepted
//! connection's error never stops the loop; a client's or a server's stops
//! `run*()`), the loop-wide hook (`on_uncaught_error`, Node's
//! `process.on('uncaughtException')`), and the README's first example,
//! which has no `'error'` listener, serving on while clients reset.

mod util;

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::time::Duration;

use nodenet::{tcp, Error, ErrorOrigin, Server, ServerOptions};
use util::*;

/// A blocking client that sends `data` without reading, then resets.
fn reset_client(port: u16, data: &[u8]) {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.write_all(data).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let raw = socket2::Socket::from(c);
    raw.set_linger(Some(Duration::ZERO)).unwrap();
    drop(raw);
}

/// Runs the loop until a blocking client on another thread got its echo.
fn echo_roundtrip(port: u16, msg: &'static [u8]) {
    let client = spawn_waking(move || {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(LIMIT)).unwrap();
        c.write_all(msg).unwrap();
        let mut buf = vec![0; msg.len()];
        c.read_exact(&mut buf).unwrap();
        buf
    });
    run_until(LIMIT, || client.is_done());
    assert_eq!(client.join(), msg);
}

/// An echo server with no `'error'` listener anywhere.
fn bare_echo_server() -> (Server, u16) {
    let server = tcp::create_server(ServerOptions::default(), |_, socket| {
        socket.on_data(|s, chunk| {
            s.write(chunk);
        });
    });
    let port = listen_local(server);
    (server, port)
}

/// The README's first example, as written there, on port 0. The test
/// below keeps it identical to the README's text.
fn readme_server() -> Result<(u16, Server), Error> {
    // README BEGIN
    let server = tcp::create_server(ServerOptions::default(), |_, socket| {
        socket
            .on_data(|s, chunk| {
                if !s.write(chunk) {
                    s.pause(); // the peer reads slower than it sends
                }
            })
            .on_drain(|s| {
                s.resume();
            });
    });
    server.on_listening(|srv| println!("listening on {:?}", srv.address()));
    // README END
    server.listen(0, "127.0.0.1")?;
    Ok((server.address().unwrap().port(), server))
}

/// The lines between the markers above are the README's first example's.
#[test]
fn the_readme_example_here_is_the_readme_example() {
    let readme = include_str!("../README.md");
    let block = readme
        .split("```rust\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the README has a rust block");
    let this = include_str!("uncaught.rs");
    let copy = this
        .split("// README BEGIN\n")
        .nth(1)
        .and_then(|b| b.split("    // README END").next())
        .unwrap();
    let norm = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    };
    let copy = norm(copy);
    let block = norm(block);
    let start = block
        .iter()
        .position(|l| *l == copy[0])
        .expect("the README's example starts as the copy does");
    assert_eq!(block[start..start + copy.len()], copy[..]);
}

/// The README's example has no `'error'` listener: clients that reset
/// mid-stream do not stop it, and the next client is served.
#[test]
fn the_readme_example_serves_on_while_clients_reset() {
    let (port, server) = readme_server().unwrap();
    let resetter = spawn_waking(move || {
        for i in 0..5 {
            reset_client(port, &random_bytes(1 << 20, i));
        }
    });
    run_until(LIMIT, || resetter.is_done());
    resetter.join();
    run_bounded_short();
    echo_roundtrip(port, b"next client");
    server.close();
    nodenet::run_for(Duration::from_millis(200)).unwrap();
}

/// Runs the loop briefly; it must not return an error.
fn run_bounded_short() {
    nodenet::run_for(Duration::from_millis(100)).expect("no error stops the loop");
}

/// Without a hook, an accepted connection's unhandled error does not stop
/// the loop; with a hook, the hook gets it with the socket, which names its
/// server.
#[test]
fn the_hook_gets_an_accepted_connections_error_with_its_socket() {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s2 = seen.clone();
    nodenet::on_uncaught_error(move |err, origin| {
        // Inside the hook the socket still answers (it closes after).
        let server = origin.socket().and_then(|s| s.server());
        s2.borrow_mut()
            .push((err.code().to_string(), origin, server));
    });
    let (server, port) = bare_echo_server();
    let resetter = spawn_waking(move || reset_client(port, &[7; 100_000]));
    run_until(LIMIT, || !seen.borrow().is_empty());
    resetter.join();
    echo_roundtrip(port, b"served");
    nodenet::off_uncaught_error();
    server.close();
    nodenet::run_for(Duration::from_millis(200)).unwrap();
    let seen = seen.borrow();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (code, origin, its_server) = &seen[0];
    assert!(code == "ECONNRESET" || code == "EPIPE", "{code}");
    assert!(origin.socket().is_some() && origin.server().is_none());
    assert_eq!(*its_server, Some(server));
}

/// A client's unhandled error stops `run*()` without a hook (Node would
/// crash); with one, the hook gets it and the loop goes on.
#[test]
fn a_clients_error_stops_run_without_a_hook_and_reaches_the_hook_with_one() {
    tcp::connect(closed_port(), "127.0.0.1", |_| {}).unwrap();
    let err = nodenet::run_for(LIMIT).expect_err("the unhandled error");
    assert_eq!(err.code(), "ECONNREFUSED");
    // The loop runs again and finishes its work ('close').
    run_bounded(LIMIT);

    let seen = Rc::new(RefCell::new(Vec::new()));
    let s2 = seen.clone();
    nodenet::on_uncaught_error(move |err, origin| {
        s2.borrow_mut().push((err.code().to_string(), origin));
    });
    let client = tcp::connect(closed_port(), "127.0.0.1", |_| {}).unwrap();
    run_bounded(LIMIT);
    nodenet::off_uncaught_error();
    assert_eq!(
        *seen.borrow(),
        [("ECONNREFUSED".to_string(), ErrorOrigin::Socket(client))]
    );
}

/// A server's unhandled error (`EADDRINUSE`) reaches the hook as the
/// server's.
#[test]
fn a_servers_error_reaches_the_hook_as_the_servers() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s2 = seen.clone();
    nodenet::on_uncaught_error(move |err, origin| {
        s2.borrow_mut().push((err.code().to_string(), origin));
    });
    let server = tcp::create_server(ServerOptions::default(), |_, _| {});
    server.listen(port, "127.0.0.1").unwrap();
    run_bounded(LIMIT);
    nodenet::off_uncaught_error();
    assert_eq!(
        *seen.borrow(),
        [("EADDRINUSE".to_string(), ErrorOrigin::Server(server))]
    );
    assert!(format!("{}", seen.borrow()[0].1).starts_with("Server("));
}

/// A hook that panics: the panic comes out of `run*()`, and the loop runs
/// on afterwards.
#[test]
fn a_panicking_hook_is_re_raised_and_the_loop_goes_on() {
    nodenet::on_uncaught_error(|err, _| panic!("hook saw {}", err.code()));
    tcp::connect(closed_port(), "127.0.0.1", |_| {}).unwrap();
    let caught = std::panic::catch_unwind(|| nodenet::run_for(LIMIT)).unwrap_err();
    assert_eq!(
        caught.downcast_ref::<String>().map(String::as_str),
        Some("hook saw ECONNREFUSED")
    );
    nodenet::off_uncaught_error();
    run_bounded(LIMIT);
}
