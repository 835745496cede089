//! Unix domain sockets (Node's IPC paths): the P cases of
//! `shared/node/tls-behaviours.md` and the IPC rows of
//! `shared/node/tls-api.md`, with nodenet on both ends and with Node's
//! `net` as the peer in each direction.

mod util;

use std::cell::{Cell, RefCell};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

use nodenet::{tcp, ListenOptions, ReadyState, ServerOptions, Socket, SocketOptions};
use util::*;

/// A fresh directory for one test's socket files, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "nodenet-unix-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// P01: listen on a path, connect to it: bound at once, `'listening'` on
/// a later turn; the client is opening at once; TCP's event order with no
/// `'lookup'` or attempts; no addresses on either end; the file is a
/// socket while listening and gone after `close()`.
#[test]
fn p01_listen_then_connect_over_a_path() {
    let dir = TempDir::new();
    let path = dir.path("p01.sock");
    let trace = Trace::new();
    let t = trace.clone();
    let server = tcp::create_server(ServerOptions::default(), move |_, s| {
        t.log("S:connection");
        assert_eq!(s.remote_address(), None);
        assert_eq!(s.remote_port(), None);
        assert_eq!(s.remote_family(), None);
        assert_eq!(s.local_address(), None);
        assert_eq!(s.peer_addr(), None);
        assert_eq!(s.address(), None);
        s.end_with("hello");
    });
    let t = trace.clone();
    server.on_listening(move |_| t.log("S:listening"));
    let t = trace.clone();
    server.on_close(move |_| t.log("S:close"));
    server.listen_path(&path).unwrap();
    assert!(server.listening(), "bound synchronously");
    assert_eq!(server.path().as_deref(), Some(path.as_path()));
    assert_eq!(server.address(), None, "no IP address for a pipe server");
    assert!(trace.entries().is_empty(), "'listening' comes later");
    let meta = std::fs::metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());

    let client = Socket::new(SocketOptions::default());
    trace_socket(&client, &trace, "C");
    let t = trace.clone();
    client.on_lookup(move |_, _| t.log("C:lookup"));
    client.connect_path(&path).unwrap();
    assert!(client.connecting());
    assert!(client.pending());
    assert_eq!(client.ready_state(), ReadyState::Opening);
    let srv = server;
    client.on_close(move |s, _| {
        assert_eq!(s.remote_address(), None);
        srv.close();
    });
    run_bounded(LIMIT);
    assert_eq!(
        trace.entries(),
        [
            "S:listening",
            "S:connection",
            "C:connect",
            "C:ready",
            "C:data:hello",
            "C:end",
            "C:finish",
            "C:close:false",
            "S:close"
        ]
    );
    assert!(!path.exists(), "close() removes the socket file");
}

/// P04: `readable_all` / `writable_all` OR the group/other bits into the
/// socket file's mode.
#[test]
fn p04_readable_all_and_writable_all_set_the_file_mode() {
    let dir = TempDir::new();
    let mut modes = Vec::new();
    for (i, (r, w)) in [(false, false), (true, false), (false, true), (true, true)]
        .into_iter()
        .enumerate()
    {
        let path = dir.path(&format!("p04-{i}.sock"));
        let server = tcp::create_server(ServerOptions::default(), |_, _| {});
        server
            .listen_with(ListenOptions::unix(&path).readable_all(r).writable_all(w))
            .unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        modes.push(mode);
        server.close();
        run_bounded(LIMIT);
    }
    assert_eq!(modes[1] & 0o044, 0o044, "{modes:?}");
    assert_eq!(modes[2] & 0o022, 0o022, "{modes:?}");
    assert_eq!(modes[3] & 0o066, 0o066, "{modes:?}");
    assert_eq!(modes[0] | 0o044, modes[1] | modes[0] | 0o044);
}

/// P05, as newer Node does it (v23; Node 20 truncated silently and left
/// the truncated file behind): a path longer than a Unix socket address
/// holds fails with `EINVAL`, on `listen` and on `connect`, never a panic.
/// 107 bytes works.
#[test]
fn p05_a_path_too_long_is_einval() {
    let dir = TempDir::new();
    let base = dir.0.to_string_lossy().len() + 1;
    let ok = dir.path(&"a".repeat(107 - base));
    assert_eq!(ok.to_string_lossy().len(), 107);
    let long = dir.path(&"b".repeat(150 - base));
    let trace = Trace::new();

    let server = tcp::create_server(ServerOptions::default(), |_, s| {
        s.end();
    });
    server.listen_path(&ok).unwrap();
    let t = trace.clone();
    tcp::connect_path(&ok, |s| {
        s.end();
    })
    .unwrap()
    .on_close(move |_, had_error| t.log(format!("107:close:{had_error}")));

    let bad = tcp::create_server(ServerOptions::default(), |_, _| {});
    let t = trace.clone();
    bad.on_error(move |_, e| t.log(format!("listen:{}:{}", e.code(), e.syscall().unwrap_or(""))));
    bad.listen_path(&long).unwrap();
    let t = trace.clone();
    let t2 = trace.clone();
    tcp::connect_path(&long, |_| {})
        .unwrap()
        .on_error(move |_, e| t.log(format!("connect:{}", e.code())))
        .on_close(move |_, had_error| t2.log(format!("long:close:{had_error}")));
    let s = server;
    nodenet::set_timeout(
        move || {
            s.close();
        },
        100,
    );
    run_bounded(LIMIT);
    let mut got = trace.entries();
    got.sort();
    assert_eq!(
        got,
        [
            "107:close:false",
            "connect:EINVAL",
            "listen:EINVAL:listen",
            "long:close:true"
        ]
    );
    assert!(!bad.listening());
    assert!(!ok.exists());
}

/// P07: a Linux abstract name (leading NUL): no file; `readable_all` with
/// it is refused at once; a second server on it gets `EADDRINUSE`;
/// clients connect; after `close()` a connect is refused and the name can
/// be listened on again at once.
#[test]
fn p07_abstract_names() {
    let name = format!("\0nodenet-p07-{}", std::process::id());
    let trace = Trace::new();
    let refused = tcp::create_server(ServerOptions::default(), |_, _| {});
    let err = refused
        .listen_with(ListenOptions::unix(&name).readable_all(true))
        .unwrap_err();
    assert_eq!(err.code(), "ERR_INVALID_ARG_VALUE");
    assert!(!refused.listening());

    let server = tcp::create_server(ServerOptions::default(), |_, s| {
        s.end_with("hi");
    });
    server.listen_path(&name).unwrap();
    assert_eq!(server.path().as_deref(), Some(Path::new(&name)));
    let second = tcp::create_server(ServerOptions::default(), |_, _| {});
    let t = trace.clone();
    second.on_error(move |_, e| t.log(format!("second:{}", e.code())));
    second.listen_path(&name).unwrap();
    let t = trace.clone();
    tcp::connect_path(&name, |_| {})
        .unwrap()
        .on_data(move |_, chunk| t.log(format!("C:data:{}", String::from_utf8_lossy(chunk))));
    run_until(LIMIT, || {
        trace.contains("C:data:hi") && trace.contains("second:EADDRINUSE")
    });
    server.close();
    run_bounded(LIMIT);
    let t = trace.clone();
    tcp::connect_path(&name, |_| {})
        .unwrap()
        .on_error(move |_, e| t.log(format!("after:{}", e.code())));
    run_bounded(LIMIT);
    assert!(
        trace.contains("after:ECONNREFUSED"),
        "{:?}",
        trace.entries()
    );
    let again = tcp::create_server(ServerOptions::default(), |_, _| {});
    again.listen_path(&name).unwrap();
    assert!(again.listening());
    again.close();
    run_bounded(LIMIT);
}

/// P09 and the connect errors: a path that exists (here a regular file)
/// fails `listen` with `EADDRINUSE` as `'error'` (Node's message and
/// fields, the file left alone); connecting to a missing path is `ENOENT`,
/// to a file nobody listens on `ECONNREFUSED`, each `'error'` then
/// `'close'(true)`.
#[test]
fn p09_errors_on_paths() {
    let dir = TempDir::new();
    let file = dir.path("regular");
    std::fs::write(&file, b"x").unwrap();
    let shown = file.to_string_lossy().into_owned();
    let trace = Trace::new();
    let server = tcp::create_server(ServerOptions::default(), |_, _| {});
    let t = trace.clone();
    server.on_error(move |_, e| {
        t.log(format!(
            "listen:{}:{}:{}:{:?}",
            e.code(),
            e.syscall().unwrap_or(""),
            e.message(),
            e.address()
        ))
    });
    server.listen_path(&file).unwrap();
    let missing = dir.path("missing.sock");
    for (tag, path) in [("missing", missing.clone()), ("file", file.clone())] {
        let s = Socket::new(SocketOptions::default());
        trace_socket(&s, &trace, tag);
        let t = trace.clone();
        s.on_error(move |_, e| t.log(format!("{tag}:message:{}", e.message())));
        s.connect_path(&path).unwrap();
    }
    run_bounded(LIMIT);
    assert!(
        trace.contains(&format!(
            "listen:EADDRINUSE:listen:listen EADDRINUSE: address already in use {shown}:Some(\"{shown}\")"
        )),
        "{:?}",
        trace.entries()
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        b"x",
        "the file is left alone"
    );
    assert_eq!(
        trace.with_prefix("missing:"),
        [
            "missing:error:ENOENT".to_string(),
            format!("missing:message:connect ENOENT {}", missing.display()),
            "missing:close:true".to_string()
        ]
    );
    assert_eq!(
        trace.with_prefix("file:"),
        [
            "file:error:ECONNREFUSED".to_string(),
            format!("file:message:connect ECONNREFUSED {shown}"),
            "file:close:true".to_string()
        ]
    );
    assert_eq!(server.path(), None);
}

/// P12: a relative path is taken from the working directory (tested
/// through an absolute one built the same way); TCP-only calls on a pipe
/// socket are harmless no-ops; destroying a client with unread data gives
/// the server socket `ECONNRESET`, as TCP does.
#[test]
fn p12_tcp_only_calls_are_no_ops_and_a_reset_reaches_the_peer() {
    let dir = TempDir::new();
    let path = dir.path("p12.sock");
    let trace = Trace::new();
    let t = trace.clone();
    let server = tcp::create_server(ServerOptions::default(), move |srv, s| {
        s.set_no_delay(true).set_keep_alive(true, 1000);
        let t = t.clone();
        s.on_error(move |_, e| t.log(format!("S:error:{}", e.code())));
        let srv = *srv;
        s.on_close(move |_, _| {
            srv.close();
        });
        s.write(vec![7u8; 100_000]);
    });
    server.listen_path(&path).unwrap();
    tcp::connect_path(&path, |s| {
        s.set_no_delay(true).set_keep_alive(true, 1000);
        s.pause();
        // Unread data in our receive buffer: closing resets the peer.
        nodenet::set_timeout(
            {
                let s = *s;
                move || {
                    s.destroy();
                }
            },
            50,
        );
    })
    .unwrap();
    run_bounded(LIMIT);
    let errors = trace.with_prefix("S:error:");
    assert!(
        errors.is_empty() || errors == ["S:error:ECONNRESET"] || errors == ["S:error:EPIPE"],
        "{errors:?}"
    );
}

/// Backpressure, half-close, timeouts, connection counts and
/// `max_connections` work on a pipe as on TCP.
#[test]
fn the_same_socket_semantics_over_a_pipe() {
    let dir = TempDir::new();
    let path = dir.path("same.sock");
    let trace = Trace::new();
    let t = trace.clone();
    let server = tcp::create_server(
        ServerOptions {
            socket: SocketOptions {
                allow_half_open: true,
                ..SocketOptions::default()
            },
            ..ServerOptions::default()
        },
        move |_, s| {
            let t = t.clone();
            let t2 = t.clone();
            let got = Rc::new(Cell::new(0usize));
            let g = got.clone();
            s.on_data(move |_, chunk| g.set(g.get() + chunk.len()))
                .on_end(move |s| {
                    // Half-open: still writable after the peer's end.
                    t.log(format!("S:end:{}", got.get()));
                    assert!(s.writable());
                    s.end_with("bye");
                })
                .on_close(move |_, _| t2.log("S:close"));
        },
    );
    server.set_max_connections(Some(1));
    let t = trace.clone();
    server.on_drop(move |_, info| t.log(format!("S:drop:{:?}", info.remote)));
    server.listen_path(&path).unwrap();
    let t = trace.clone();
    let client = tcp::connect_path(&path, move |s| {
        // Write until write() says to wait, then end after 'drain'.
        let mut n = 0;
        while s.write(vec![1u8; 64 * 1024]) {
            n += 1;
            assert!(n < 10_000, "write() never returned false");
        }
        t.log("C:backpressure");
        let t = t.clone();
        s.once_drain(move |s| {
            t.log("C:drain");
            s.end();
        });
    })
    .unwrap();
    let t = trace.clone();
    client.on_data(move |_, chunk| t.log(format!("C:data:{}", String::from_utf8_lossy(chunk))));
    // A second client while the first is connected: dropped.
    let second = Rc::new(RefCell::new(None));
    let s2 = second.clone();
    let p = path.clone();
    client.on_ready(move |_| {
        *s2.borrow_mut() = Some(tcp::connect_path(&p, |_| {}).unwrap());
    });
    let t = trace.clone();
    client.on_close(move |_, had_error| t.log(format!("C:close:{had_error}")));
    run_until(LIMIT, || trace.contains("C:close:false"));
    assert_eq!(server.connections(), 0);
    server.close();
    run_bounded(LIMIT);
    let entries = trace.entries();
    assert!(
        entries.contains(&"C:backpressure".to_string()),
        "{entries:?}"
    );
    assert!(entries.contains(&"C:drain".to_string()), "{entries:?}");
    assert!(entries.contains(&"C:data:bye".to_string()), "{entries:?}");
    assert!(entries.contains(&"S:drop:None".to_string()), "{entries:?}");
    assert!(
        entries.iter().any(|e| e.starts_with("S:end:")),
        "{entries:?}"
    );
}

/// An inactivity timeout on a pipe socket.
#[test]
fn inactivity_timeouts_on_a_pipe() {
    let dir = TempDir::new();
    let path = dir.path("timeout.sock");
    let timed_out = Rc::new(Cell::new(false));
    let t = timed_out.clone();
    let server = tcp::create_server(ServerOptions::default(), move |srv, s| {
        let t = t.clone();
        let srv = *srv;
        s.set_timeout(1000).on_timeout(move |s| {
            t.set(true);
            s.destroy();
            srv.close();
        });
    });
    server.listen_path(&path).unwrap();
    let client = tcp::connect_path(&path, |_| {}).unwrap();
    client.on_error(|_, _| {});
    run_bounded(LIMIT);
    assert!(timed_out.get());
}

/// Runs `script` with node, passing `args`; returns its stdout lines.
fn node_script(script: &str, args: &[&str]) -> std::process::Child {
    Command::new(node())
        .arg("-e")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs")
}

/// Node's `net` as the server on a path, nodenet as the client: the
/// client's trace is the one Node's own client produces (P01's order).
#[test]
fn node_server_nodenet_client_over_a_path() {
    let dir = TempDir::new();
    let path = dir.path("node-server.sock");
    let script = r#"
        const net = require('net');
        const path = process.argv[1];
        const srv = net.createServer(s => { s.on('data', d => s.end('echo:' + d)); });
        srv.listen(path, () => { console.log('listening'); });
        srv.on('connection', () => srv.close());
    "#;
    let mut child = node_script(script, &[path.to_str().unwrap()]);
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line.trim(), "listening");
    let trace = Trace::new();
    let c = Socket::new(SocketOptions::default());
    trace_socket(&c, &trace, "C");
    c.connect_path(&path).unwrap();
    c.on_connect(|s| {
        s.write("hi");
    });
    run_bounded(LIMIT);
    assert!(child.wait().unwrap().success());
    assert_eq!(
        trace.entries(),
        [
            "C:connect",
            "C:ready",
            "C:data:echo:hi",
            "C:end",
            "C:finish",
            "C:close:false"
        ]
    );
}

/// nodenet as the server on a path, Node's `net` as the client: Node sees
/// the events it sees against a Node server.
#[test]
fn nodenet_server_node_client_over_a_path() {
    let dir = TempDir::new();
    let path = dir.path("nodenet-server.sock");
    let server = tcp::create_server(ServerOptions::default(), |srv, s| {
        s.on_data(|s, chunk| {
            let mut reply = b"echo:".to_vec();
            reply.extend_from_slice(chunk);
            s.end_with(reply);
        });
        srv.close();
    });
    server.listen_path(&path).unwrap();
    let script = r#"
        const net = require('net');
        const log = [];
        const c = net.connect(process.argv[1]);
        for (const ev of ['connect', 'ready', 'end', 'finish']) c.on(ev, () => log.push(ev));
        c.on('data', d => log.push('data:' + d));
        c.on('close', e => { log.push('close:' + e); console.log(log.join(' ')); });
        c.on('lookup', () => log.push('lookup'));
        c.write('hi');
    "#;
    let child = node_script(script, &[path.to_str().unwrap()]);
    // The loop serves the one connection, then runs out of work.
    run_bounded(LIMIT);
    let out = child.wait_with_output().expect("node finishes");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "connect ready data:echo:hi end finish close:false"
    );
    assert!(!path.exists());
}

/// `examples/echo --path P` listens on a Unix socket, prints
/// `listening on P`, echoes, keeps serving after a client resets
/// mid-stream, and removes the socket file when it exits.
#[test]
fn echo_example_over_a_path() {
    use std::io::{BufRead, Read, Write};
    use std::os::unix::net::UnixStream;
    let dir = TempDir::new();
    let path = dir.path("echo.sock");
    let exe = util::example_server::example_path("echo");
    assert!(
        exe.exists(),
        "{} is missing: `cargo test` builds the examples",
        exe.display()
    );
    let mut child = Command::new(&exe)
        .arg("--path")
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), format!("listening on {}", path.display()));
    // A client that resets mid-stream (unread echo in its buffer).
    {
        // As much as the socket takes without blocking (a Unix socket's
        // buffers are small, and the server stops reading it once its echo
        // backs up), then gone with the echo unread.
        let mut c = UnixStream::connect(&path).unwrap();
        c.set_nonblocking(true).unwrap();
        let chunk = random_bytes(64 * 1024, 5);
        for _ in 0..64 {
            if c.write(&chunk).is_err() {
                break;
            }
        }
    }
    let mut c = UnixStream::connect(&path).unwrap();
    c.set_read_timeout(Some(LIMIT)).unwrap();
    let data = random_bytes(300_000, 9);
    let writer = {
        let mut w = c.try_clone().unwrap();
        let data = data.clone();
        std::thread::spawn(move || w.write_all(&data).unwrap())
    };
    let mut got = vec![0; data.len()];
    c.read_exact(&mut got).unwrap();
    writer.join().unwrap();
    assert!(got == data, "the echo differs");
    assert!(child.try_wait().unwrap().is_none(), "still serving");
    child.kill().unwrap();
    child.wait().unwrap();
}
