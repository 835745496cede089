//! The seed ports of issue 4, each driven over loopback by real clients:
//! Starcounter's `Handle.Tcp` echo (`examples/starcounter_echo.rs`),
//! kn-sock (`examples/kn_sock.rs`), 4D's `TCPConnection`
//! (`examples/fourd_client.rs`) and Mongoose's `tcp` snippet
//! (`examples/mongoose.rs`). Clients are blocking `std::net` streams on
//! other threads, nodenet sockets, and Node's `net`.
//!
//! Every wait is bounded; nothing asserts a duration.

mod util;

#[path = "../examples/chat.rs"]
#[allow(dead_code)]
mod chat;
#[path = "../examples/fourd_client.rs"]
#[allow(dead_code)]
mod fourd_client;
#[path = "../examples/kn_sock.rs"]
#[allow(dead_code)]
mod kn_sock;
#[path = "../examples/mongoose.rs"]
#[allow(dead_code)]
mod mongoose;
#[path = "../examples/starcounter_echo.rs"]
#[allow(dead_code)]
mod starcounter_echo;

use std::collections::{HashMap, HashSet};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nodenet::framing::{Decoder, LengthPrefixed};
use nodenet::{tcp, Bytes, Error, LoopHandle, Server, ServerOptions, Socket, SocketOptions};
use serde_json::{json, Value};
use util::*;

use fourd_client::{TCPCallbacks, TCPConnection, TCPEvent};
use kn_sock::{ServerArgs, ShutdownEvent};

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

/// A blocking loopback client with read and write timeouts.
fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    stream.set_write_timeout(Some(LIMIT)).unwrap();
    stream
}

/// Reads exactly `n` bytes.
fn read_n(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    stream
        .read_exact(&mut buf)
        .expect("the expected bytes within the timeout");
    buf
}

/// Reads until the peer closes (EOF or reset); what arrived first.
fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    let deadline = Instant::now() + LIMIT;
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return all,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("waiting for the peer to close: {e}"),
        }
    }
    panic!("the peer did not close the connection");
}

/// Closes `stream` with a reset (RST) instead of a FIN.
fn reset(stream: TcpStream) {
    let s = socket2::Socket::from(stream);
    s.set_linger(Some(Duration::ZERO)).unwrap();
    drop(s);
}

/// Waits for a thread, bounded.
fn join_bounded<T>(thread: JoinHandle<T>) -> T {
    let deadline = Instant::now() + LIMIT;
    while !thread.is_finished() {
        assert!(Instant::now() < deadline, "the thread did not finish");
        thread::sleep(Duration::from_millis(5));
    }
    thread.join().expect("the thread did not panic")
}

/// A nodenet server on a thread (and loop) of its own, stopped on drop.
struct LoopServer {
    port: u16,
    handle: LoopHandle,
    thread: Option<JoinHandle<()>>,
}

impl LoopServer {
    fn start(start: impl FnOnce() -> Result<Server, Error> + Send + 'static) -> LoopServer {
        let (tx, rx) = mpsc::channel();
        let thread = thread::spawn(move || {
            let server = start().expect("the server starts");
            let port = server.address().expect("bound").port();
            tx.send((port, nodenet::handle())).unwrap();
            // Bounded: stop() ends it long before.
            nodenet::run_for(Duration::from_secs(120)).expect("no unhandled error on the server");
        });
        let (port, handle) = rx.recv_timeout(LIMIT).expect("the server reports its port");
        LoopServer {
            port,
            handle,
            thread: Some(thread),
        }
    }
}

impl Drop for LoopServer {
    fn drop(&mut self) {
        self.handle.stop();
        if let Some(thread) = self.thread.take() {
            let result = thread.join();
            if !thread::panicking() {
                result.expect("the server thread did not panic");
            }
        }
    }
}

/// A Node process running `script` with `PORT` set, on a watcher thread
/// that wakes this thread's loop when it ends.
struct NodePeer {
    done: Arc<AtomicBool>,
    thread: JoinHandle<(bool, String)>,
}

impl NodePeer {
    fn spawn(script: &str, port: u16) -> NodePeer {
        let node = util::node();
        let mut child = Command::new(node)
            .arg("-e")
            .arg(script)
            .env("PORT", port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node starts");
        let done = Arc::new(AtomicBool::new(false));
        let finished = done.clone();
        let wake = nodenet::handle();
        let thread = thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    break;
                }
                thread::sleep(Duration::from_millis(10));
            }
            let output = child.wait_with_output().unwrap();
            finished.store(true, Ordering::SeqCst);
            wake.post(|| {}).unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            (output.status.success(), text)
        });
        NodePeer { done, thread }
    }

    /// Runs this thread's loop until the Node process has ended; its
    /// output, checked to be `OK`.
    fn run_to_end(self) {
        let done = self.done.clone();
        run_until(Duration::from_secs(70), move || done.load(Ordering::SeqCst));
        let (ok, output) = self.thread.join().unwrap();
        assert!(ok, "node failed: {output}");
        assert_eq!(output.trim(), "OK", "{output}");
    }
}

// ---------------------------------------------------------------------------
// Starcounter: Handle.Tcp (examples/starcounter_echo.rs)
// ---------------------------------------------------------------------------

/// The sample's resources live in a table keyed by `socket.id()`: created
/// on a socket's first data, echo meanwhile, and freed when the handler
/// gets `None`, whichever way the socket went (`quit` → `Disconnect()`,
/// the client's FIN, the client's reset). Stored handles report
/// `destroyed()` (`IsDead()`) once the socket is gone.
#[test]
fn starcounter_sessions_by_id_freed_on_disconnect() {
    let (server, sessions) = starcounter_echo::start("127.0.0.1", 0, false).unwrap();
    let port = server.address().unwrap().port();
    let phase = Arc::new(AtomicUsize::new(0));
    let (go, wait_go) = mpsc::channel::<()>();
    let wake = nodenet::handle();
    let p = phase.clone();
    let clients = thread::spawn(move || {
        let mut clients: Vec<TcpStream> = (0..3).map(|_| connect(port)).collect();
        for (i, c) in clients.iter_mut().enumerate() {
            let msg = format!("hello from {i}\n");
            c.write_all(msg.as_bytes()).unwrap();
            assert_eq!(read_n(c, msg.len()), msg.as_bytes());
        }
        p.store(1, Ordering::SeqCst);
        wake.post(|| {}).unwrap();
        wait_go.recv_timeout(LIMIT).expect("the go-ahead");
        let third = clients.pop().unwrap();
        let mut second = clients.pop().unwrap();
        let mut first = clients.pop().unwrap();
        // Disconnect() on request: the server closes.
        first.write_all(b"quit\n").unwrap();
        assert!(read_to_close(&mut first).is_empty(), "no echo of quit");
        // The client closes its side: the server follows.
        second.shutdown(Shutdown::Write).unwrap();
        assert!(read_to_close(&mut second).is_empty());
        // A reset.
        reset(third);
        p.store(2, Ordering::SeqCst);
        wake.post(|| {}).unwrap();
    });

    run_until(LIMIT, || phase.load(Ordering::SeqCst) == 1);
    let live = sessions.borrow().clone();
    assert_eq!(live.len(), 3, "one session per socket id");
    let mut sizes: Vec<u64> = live.values().map(|s| s.bytes).collect();
    sizes.sort();
    assert_eq!(sizes, [13, 13, 13]);
    for (id, session) in &live {
        assert_eq!(*id, session.socket.id(), "keyed by ToUInt64()");
        assert_eq!(session.chunks, 1);
        assert!(!session.socket.destroyed());
        assert_eq!(session.peer, session.socket.peer_addr());
    }
    go.send(()).unwrap();
    let table = sessions.clone();
    run_until(LIMIT, move || {
        phase.load(Ordering::SeqCst) == 2 && table.borrow().is_empty()
    });
    for session in live.values() {
        assert!(session.socket.destroyed(), "IsDead() after disconnect");
        assert!(!session.socket.write("too late"), "Send to a dead socket");
    }
    join_bounded(clients);
    server.close();
    run_bounded(LIMIT);
}

/// `handle_tcp`: one handler per port, `Some(data)` per chunk and `None`
/// exactly once per socket, last, with the socket already dead, for a clean
/// close and for a reset alike (the reset's `'error'` never escapes).
#[test]
fn starcounter_handler_gets_none_once_per_disconnect() {
    let trace = Trace::new();
    let t = trace.clone();
    let server = starcounter_echo::handle_tcp(
        "127.0.0.1",
        0,
        move |socket: &Socket, data: Option<&Bytes>| match data {
            Some(data) => {
                t.log(format!(
                    "{}:data:{}",
                    socket.id(),
                    String::from_utf8_lossy(data)
                ));
                socket.write(data);
            }
            None => t.log(format!("{}:none:dead={}", socket.id(), socket.destroyed())),
        },
    )
    .unwrap();
    let port = server.address().unwrap().port();
    let wake = nodenet::handle();
    let clients = thread::spawn(move || {
        let mut a = connect(port);
        let mut b = connect(port);
        for msg in ["a1", "a2"] {
            a.write_all(msg.as_bytes()).unwrap();
            assert_eq!(read_n(&mut a, 2), msg.as_bytes());
        }
        b.write_all(b"b1").unwrap();
        assert_eq!(read_n(&mut b, 2), b"b1");
        drop(a);
        reset(b);
        wake.post(|| {}).unwrap();
    });
    let t = trace.clone();
    run_until(LIMIT, move || {
        t.entries().iter().filter(|e| e.contains(":none:")).count() == 2
    });
    join_bounded(clients);
    server.close();
    run_bounded(LIMIT);

    let mut by_id: HashMap<String, Vec<String>> = HashMap::new();
    for entry in trace.entries() {
        let (id, rest) = entry.split_once(':').unwrap();
        by_id
            .entry(id.to_string())
            .or_default()
            .push(rest.to_string());
    }
    let mut seen: Vec<Vec<String>> = by_id.into_values().collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            vec!["data:a1", "data:a2", "none:dead=true"],
            vec!["data:b1", "none:dead=true"],
        ]
    );
}

/// Interop: Node's `net` clients against the Starcounter sample: each gets
/// its echo, then `quit` disconnects it; every session is freed.
#[test]
fn starcounter_echo_with_node_clients() {
    let (server, sessions) = starcounter_echo::start("127.0.0.1", 0, false).unwrap();
    let port = server.address().unwrap().port();
    let script = r#"
const net = require('net');
const port = Number(process.env.PORT);
const N = 5;
const fail = (why) => { console.error('FAIL ' + why); process.exit(1); };
setTimeout(() => fail('timed out'), 20000);
let closed = 0;
for (let i = 0; i < N; i++) {
  const s = net.connect(port, '127.0.0.1');
  const msg = `hello ${i}\n`;
  let got = '';
  let quitting = false;
  s.setEncoding('utf8');
  s.on('connect', () => s.write(msg));
  s.on('data', (d) => {
    if (quitting) fail(`client ${i}: data after quit: ${d}`);
    got += d;
    if (got === msg) { quitting = true; s.write('quit\n'); }
    else if (!msg.startsWith(got)) fail(`client ${i}: got ${JSON.stringify(got)}`);
  });
  s.on('error', (e) => fail(`client ${i}: ${e.code}`));
  s.on('close', () => {
    if (!quitting) fail(`client ${i}: closed before its echo`);
    if (++closed === N) { console.log('OK'); process.exit(0); }
  });
}
"#;
    NodePeer::spawn(script, port).run_to_end();
    let table = sessions.clone();
    run_until(LIMIT, move || table.borrow().is_empty());
    server.close();
    run_bounded(LIMIT);
}

// ---------------------------------------------------------------------------
// kn-sock (examples/kn_sock.rs)
// ---------------------------------------------------------------------------

/// Starts a kn-sock server on a thread with a shutdown event; its port,
/// its thread, and the event.
fn spawn_kn_server(
    threads: Option<usize>,
    start: impl FnOnce(ServerArgs) -> Result<(), Error> + Send + 'static,
) -> (u16, JoinHandle<Result<(), Error>>, ShutdownEvent) {
    let event = ShutdownEvent::new();
    let (tx, rx) = mpsc::channel();
    let args = ServerArgs {
        host: "127.0.0.1".to_string(),
        shutdown_event: Some(event.clone()),
        threads,
        on_listening: Some(Box::new(move |addr: SocketAddr| {
            let _ = tx.send(addr.port());
        })),
    };
    let thread = thread::spawn(move || start(args));
    let port = rx.recv_timeout(LIMIT).expect("the server listens");
    (port, thread, event)
}

type Seen = Arc<Mutex<Vec<(Vec<u8>, SocketAddr, Option<SocketAddr>)>>>;

/// `start_tcp_server(port, handler)`: the handler gets `(data, addr,
/// client_socket)` with the client's address; `send_tcp_message` and
/// `send_tcp_bytes` return the server's reply; `set()` from this thread
/// makes the server's call return.
#[test]
fn kn_sock_handler_gets_data_addr_socket_and_send_gets_the_reply() {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let (port, server, event) = spawn_kn_server(None, move |args| {
        kn_sock::start_tcp_server(
            0,
            move |data: &Bytes, addr: SocketAddr, client_socket: &Socket| {
                s.lock()
                    .unwrap()
                    .push((data.to_vec(), addr, client_socket.peer_addr()));
                kn_sock::handle_tcp_message(data, addr, client_socket);
            },
            args,
        )
    });
    let reply = kn_sock::send_tcp_message("127.0.0.1", port, "Hello, World!").unwrap();
    assert_eq!(reply, "Message received");
    let reply = kn_sock::send_tcp_bytes("127.0.0.1", port, b"\x01\x02\x03\x04").unwrap();
    assert_eq!(reply, "Message received");
    // A client whose own address we know.
    let mut c = connect(port);
    c.write_all(b"from std").unwrap();
    assert_eq!(read_n(&mut c, 16), b"Message received");
    let local = c.local_addr().unwrap();
    drop(c);

    event.set();
    join_bounded(server).expect("start_tcp_server returns Ok");
    let seen = seen.lock().unwrap();
    let data: Vec<&[u8]> = seen.iter().map(|(d, _, _)| d.as_slice()).collect();
    assert_eq!(
        data,
        [&b"Hello, World!"[..], b"\x01\x02\x03\x04", b"from std"]
    );
    for (_, addr, remote) in seen.iter() {
        assert_eq!(Some(*addr), *remote, "addr is the client socket's peer");
        assert!(addr.ip().is_loopback());
    }
    assert_eq!(seen[2].1, local);
    // A refused one-shot send is an error.
    let err = kn_sock::send_tcp_message("127.0.0.1", closed_port(), "x").unwrap_err();
    assert_eq!(err.code(), "ECONNREFUSED");
}

/// `start_threaded_tcp_server`: one loop per thread on one port; the
/// connections are spread over them, and one `set()` stops them all.
#[test]
fn kn_sock_threaded_server_serves_on_several_loops() {
    let threads: Arc<Mutex<HashSet<String>>> = Arc::default();
    let t = threads.clone();
    let (port, server, event) = spawn_kn_server(Some(2), move |args| {
        kn_sock::start_threaded_tcp_server(
            0,
            move |data: &Bytes, addr: SocketAddr, client_socket: &Socket| {
                let name = thread::current().name().unwrap_or("?").to_string();
                t.lock().unwrap().insert(name);
                kn_sock::handle_tcp_message(data, addr, client_socket);
            },
            args,
        )
    });
    for i in 0..40 {
        let reply = kn_sock::send_tcp_message("127.0.0.1", port, &format!("m{i}")).unwrap();
        assert_eq!(reply, "Message received");
    }
    event.set();
    join_bounded(server).expect("every loop returns Ok");
    // The kernel spreads connections by hash: with 40, both loops serve
    // (the chance that one gets none is 2 * 2^-40).
    let threads = threads.lock().unwrap();
    assert_eq!(threads.len(), 2, "{threads:?}");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "closed");
}

/// Graceful shutdown from another thread: the server stops accepting, a
/// connection still open gets the grace period (its data then is ignored
/// by the document's `is_set()` check) and is closed, and the server's
/// call returns. An event set before the server starts stops it at once.
#[test]
fn kn_sock_shutdown_from_another_thread_returns() {
    let (port, server, event) = spawn_kn_server(None, |args| {
        let event = args.shutdown_event.clone().unwrap();
        kn_sock::start_tcp_server(
            0,
            move |data: &Bytes, addr: SocketAddr, client_socket: &Socket| {
                // if shutdown_event.is_set(): return
                if event.is_set() {
                    return;
                }
                kn_sock::handle_tcp_message(data, addr, client_socket);
            },
            args,
        )
    });
    let mut lingering = connect(port);
    lingering.write_all(b"hi").unwrap();
    assert_eq!(read_n(&mut lingering, 16), b"Message received");

    let setter = event.clone();
    join_bounded(thread::spawn(move || setter.set()));
    assert!(event.is_set());
    // During the grace period: ignored, then closed.
    let _ = lingering.write_all(b"late");
    assert!(read_to_close(&mut lingering).is_empty());
    join_bounded(server).expect("start_tcp_server returns Ok");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "closed");

    // Set before the start: the server stops as soon as it is up.
    let early = ShutdownEvent::new();
    early.set();
    let args = ServerArgs {
        shutdown_event: Some(early),
        ..ServerArgs::default()
    };
    let server =
        thread::spawn(move || kn_sock::start_tcp_server(0, kn_sock::handle_tcp_message, args));
    join_bounded(server).expect("returns Ok");
}

/// The async server and client: `start_async_tcp_server` with the
/// document's async handler, `send_tcp_message_async` on this thread's
/// loop (`asyncio.run` → `nodenet::run`).
#[test]
fn kn_sock_async_server_and_client() {
    let (port, server, event) = spawn_kn_server(None, |args| {
        kn_sock::start_async_tcp_server(0, kn_sock::handle_tcp_message_async, args)
    });
    let replies = Trace::new();
    for target in [port, closed_port()] {
        let r = replies.clone();
        kn_sock::send_tcp_message_async("127.0.0.1", target, "Hello, World!", move |reply| {
            r.log(match reply {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(e) => e.code().to_string(),
            })
        })
        .unwrap();
    }
    run_bounded(LIMIT);
    let mut got = replies.entries();
    got.sort();
    assert_eq!(got, ["ECONNREFUSED", "Message received"]);
    event.set();
    join_bounded(server).expect("returns Ok");
}

/// `await writer.drain()`: a reply larger than the write queue's mark
/// pauses reading from that client until the reply has drained; nothing
/// is lost.
#[test]
fn kn_sock_async_handler_waits_for_drain() {
    const BIG: usize = 16 * 1024 * 1024;
    let paused: Arc<Mutex<Vec<bool>>> = Arc::default();
    let p = paused.clone();
    let (port, server, event) = spawn_kn_server(None, move |args| {
        let reply = Bytes::from(vec![b'x'; BIG]);
        kn_sock::start_async_tcp_server(
            0,
            move |_: &Bytes, _: SocketAddr, writer: &Socket| {
                // A pinned send buffer keeps most of the reply queued (so
                // write() is false) whatever the kernel's defaults.
                pin_buffers(writer, 64 * 1024);
                kn_sock::write_and_drain(writer, reply.clone());
                p.lock().unwrap().push(writer.is_paused());
            },
            args,
        )
    });
    let mut c = connect(port);
    for msg in [b"1", b"2"] {
        c.write_all(msg).unwrap();
        let got = read_n(&mut c, BIG);
        assert!(got.iter().all(|&b| b == b'x'));
    }
    drop(c);
    event.set();
    join_bounded(server).expect("returns Ok");
    assert_eq!(*paused.lock().unwrap(), [true, true]);
}

// ---------------------------------------------------------------------------
// 4D: TCPConnection (examples/fourd_client.rs)
// ---------------------------------------------------------------------------

/// Callbacks that log what they see: `connection`, `data:<text>`,
/// `shutdown`, `error:<codes>`, `terminate`.
struct Recorder {
    trace: Trace,
    no_delay: bool,
    shutdown_on_connection: bool,
}

impl Recorder {
    fn new(trace: &Trace) -> Recorder {
        Recorder {
            trace: trace.clone(),
            no_delay: false,
            shutdown_on_connection: false,
        }
    }
}

impl TCPCallbacks for Recorder {
    fn on_connection(&mut self, connection: &TCPConnection, event: &TCPEvent) {
        self.trace.log(event.kind);
        if self.shutdown_on_connection {
            connection.shutdown();
        }
    }
    fn on_data(&mut self, _: &TCPConnection, event: &TCPEvent) {
        let data = event.data.as_deref().unwrap_or_default();
        self.trace
            .log(format!("data:{}", String::from_utf8_lossy(data)));
    }
    fn on_shutdown(&mut self, _: &TCPConnection, event: &TCPEvent) {
        self.trace.log(event.kind);
    }
    fn on_error(&mut self, connection: &TCPConnection, event: &TCPEvent) {
        let codes: Vec<&str> = connection.errors().iter().map(Error::code).collect();
        self.trace
            .log(format!("{}:{}", event.kind, codes.join(",")));
    }
    fn on_terminate(&mut self, _: &TCPConnection, event: &TCPEvent) {
        self.trace.log(event.kind);
    }
    fn no_delay(&self) -> bool {
        self.no_delay
    }
}

/// The trace with consecutive `data:` entries joined into one (how the
/// bytes were cut into chunks is the network's business).
fn joined(trace: &Trace) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for entry in trace.entries() {
        match (entry.strip_prefix("data:"), out.last_mut()) {
            (Some(more), Some(last)) if last.starts_with("data:") => last.push_str(more),
            _ => out.push(entry),
        }
    }
    out
}

/// The document's usage example (`AsyncTCP`): connect, getInfo, disconnect,
/// all before the connection is up. The info is sent once connected, the
/// half-close follows it, the server's answer (sent only after our FIN)
/// still arrives, and the callbacks come in 4D's order. In a worker
/// (`callWorker`) too.
#[test]
fn fourd_usage_example_callbacks_in_order() {
    let server = LoopServer::start(|| fourd_client::start_info_server("127.0.0.1", 0));
    let my_object = fourd_client::async_tcp("127.0.0.1", server.port, false).unwrap();
    assert!(my_object.connection.is_none(), "disconnect() nulls it");
    run_bounded(LIMIT);
    let expected = [
        "Connection established",
        "Received \"Information\"",
        "Connection closed",
        "Connection terminated",
    ];
    let infos = my_object.infos();
    let data: String = infos[1..infos.len() - 2].concat();
    assert_eq!(infos[0], expected[0]);
    assert_eq!(data, expected[1]);
    assert_eq!(infos[infos.len() - 2..], expected[2..]);

    let infos = fourd_client::call_worker("127.0.0.1", server.port, true).unwrap();
    assert_eq!(infos.concat(), expected.concat());

    // The server "launched inside a worker", as the example's main runs it.
    let workers = fourd_client::launch_info_server("127.0.0.1", 0).unwrap();
    let reply = tcp::request(workers.port(), "127.0.0.1", "Information", LIMIT).unwrap();
    assert_eq!(reply, "Received \"Information\"");
    workers.shutdown(Duration::ZERO);
    workers.join().unwrap();
}

/// Failures: a refused connection gets `on_error` then `on_terminate`
/// (never `on_shutdown`, never `on_connection`), and `errors` still says
/// why after termination; `wait()` returns at once for a closed
/// connection. A reset mid-connection: connection, error, terminate.
#[test]
fn fourd_failure_gives_error_then_terminate() {
    let my_object = fourd_client::async_tcp("127.0.0.1", closed_port(), false).unwrap();
    run_bounded(LIMIT);
    assert_eq!(
        my_object.infos(),
        ["Connection error", "Connection terminated"]
    );

    let trace = Trace::new();
    let connection = TCPConnection::new("127.0.0.1", closed_port(), Recorder::new(&trace)).unwrap();
    assert!(connection.wait(None).unwrap());
    assert!(connection.closed());
    let errors = connection.errors();
    let codes: Vec<&str> = errors.iter().map(Error::code).collect();
    assert_eq!(codes, ["ECONNREFUSED"]);
    // 4D's errCode, message and componentSignature.
    #[cfg(target_os = "linux")]
    assert_eq!(errors[0].errno(), Some(-111));
    assert!(errors[0]
        .message()
        .starts_with("connect ECONNREFUSED 127.0.0.1:"));
    assert_eq!(errors[0].syscall(), Some("connect"));
    assert_eq!(trace.entries(), ["error:ECONNREFUSED", "terminate"]);
    assert!(connection.wait(Some(LIMIT)).unwrap(), "already closed");

    // A reset by the server, mid-connection.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(LIMIT)).unwrap();
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).unwrap();
        reset(s);
    });
    let trace = Trace::new();
    let connection = TCPConnection::new("127.0.0.1", port, Recorder::new(&trace)).unwrap();
    connection.send("hello");
    assert!(connection.wait(Some(LIMIT)).unwrap());
    join_bounded(peer);
    assert_eq!(
        trace.entries(),
        ["connection", "error:ECONNRESET", "terminate"]
    );
    assert_eq!(connection.errors()[0].code(), "ECONNRESET");
}

/// `send()` before the connection is established: queued, then sent in
/// order once it is; `shutdown()` right after still comes after the data.
/// `closed` is true from `shutdown()` on, as 4D documents it.
#[test]
fn fourd_send_before_connect_is_sent_in_order() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(LIMIT)).unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        let mut reply = b"got:".to_vec();
        reply.extend_from_slice(&all);
        s.write_all(&reply).unwrap();
    });
    let trace = Trace::new();
    let connection = TCPConnection::new("127.0.0.1", port, Recorder::new(&trace)).unwrap();
    assert!(!connection.closed());
    connection.send("one ");
    connection.send(b"two ".to_vec());
    connection.send(Bytes::from_static(b"three"));
    connection.shutdown();
    assert!(connection.closed(), "closed by shutdown()");
    assert!(connection.wait(Some(LIMIT)).unwrap());
    join_bounded(peer);
    assert_eq!(
        joined(&trace),
        [
            "connection",
            "data:got:one two three",
            "shutdown",
            "terminate"
        ]
    );
    assert!(connection.errors().is_empty());
}

/// `shutdown()` is a half-close: called from `on_connection`, it sends our
/// FIN, and everything the server sends afterwards, in several writes,
/// still reaches `on_data` before `on_shutdown` and `on_terminate`.
#[test]
fn fourd_shutdown_is_a_half_close_that_keeps_reading() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(LIMIT)).unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap(); // our FIN
        for part in ["after ", "your ", "shutdown"] {
            s.write_all(part.as_bytes()).unwrap();
            thread::sleep(Duration::from_millis(20));
        }
    });
    let trace = Trace::new();
    let recorder = Recorder {
        shutdown_on_connection: true,
        ..Recorder::new(&trace)
    };
    let connection = TCPConnection::new("127.0.0.1", port, recorder).unwrap();
    assert!(connection.wait(Some(LIMIT)).unwrap());
    join_bounded(peer);
    assert_eq!(
        joined(&trace),
        [
            "connection",
            "data:after your shutdown",
            "shutdown",
            "terminate"
        ]
    );
}

/// `wait(timeout)` returns `false` while the connection stays open and
/// runs the callbacks meanwhile; once the server closes, `wait` returns
/// `true` and `closed` is set. `noDelay` is the options' value.
#[test]
fn fourd_wait_timeout_closed_errors_and_no_delay() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (close, wait_close) = mpsc::channel::<()>();
    let peer = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.write_all(b"hello").unwrap();
        wait_close.recv_timeout(LIMIT).unwrap();
    });
    let trace = Trace::new();
    let recorder = Recorder {
        no_delay: true,
        ..Recorder::new(&trace)
    };
    let connection = TCPConnection::new("127.0.0.1", port, recorder).unwrap();
    assert!(connection.no_delay());
    // wait() runs the callbacks: the greeting arrives while it waits.
    for _ in 0..100 {
        if joined(&trace).len() == 2 {
            break;
        }
        assert!(!connection.wait(Some(Duration::from_millis(100))).unwrap());
    }
    assert_eq!(joined(&trace), ["connection", "data:hello"]);
    // Still open: the timeout passes and wait says so.
    assert!(!connection.wait(Some(Duration::from_millis(200))).unwrap());
    assert!(!connection.closed());
    close.send(()).unwrap();
    assert!(connection.wait(Some(LIMIT)).unwrap());
    join_bounded(peer);
    assert!(connection.closed());
    assert!(connection.errors().is_empty());
    assert_eq!(
        joined(&trace),
        ["connection", "data:hello", "shutdown", "terminate"]
    );
    let plain =
        TCPConnection::new("127.0.0.1", closed_port(), Recorder::new(&Trace::new())).unwrap();
    assert!(!plain.no_delay());
    assert!(plain.wait(Some(LIMIT)).unwrap());
}

// ---------------------------------------------------------------------------
// Mongoose: the tcp snippet (examples/mongoose.rs)
// ---------------------------------------------------------------------------

/// The snippet's output, in order. The server's "New incoming conenction"
/// and the client's "Client connected" come from the two ends of one
/// handshake, in either order.
#[test]
fn mongoose_snippet_prints_in_order() {
    let console = mongoose::Console::new(true);
    let (server, client) = mongoose::snippet(&console, "127.0.0.1", 0).unwrap();
    run_until(LIMIT, move || client.closed());
    let mut lines = console.lines();
    assert_eq!(lines.len(), 7, "{lines:?}");
    lines[1..3].sort();
    assert_eq!(
        lines,
        [
            "Started to listen",
            "Client connected",
            "New incoming conenction",
            "New data received Hello",
            "Data sent back",
            "Client received new data Hello",
            "Client socket is closed",
        ]
    );
    server.close();
    run_bounded(LIMIT);
}

/// Interop: a Node `net` client against the snippet's server gets its data
/// back, then the server's end.
#[test]
fn mongoose_snippet_server_with_a_node_client() {
    let console = mongoose::Console::new(true);
    let (server, _client) = mongoose::snippet(&console, "127.0.0.1", 0).unwrap();
    let port = server.address().unwrap().port();
    let script = r#"
const net = require('net');
const fail = (why) => { console.error('FAIL ' + why); process.exit(1); };
setTimeout(() => fail('timed out'), 20000);
const s = net.connect(Number(process.env.PORT), '127.0.0.1', () => s.write('Hello from node'));
let got = '';
let ended = false;
s.setEncoding('utf8');
s.on('data', (d) => { got += d; });
s.on('end', () => { ended = true; });
s.on('error', (e) => fail(e.code));
s.on('close', () => {
  if (got !== 'Hello from node' || !ended) fail(`got ${JSON.stringify(got)}, ended ${ended}`);
  console.log('OK');
  process.exit(0);
});
"#;
    NodePeer::spawn(script, port).run_to_end();
    server.close();
    run_bounded(LIMIT);
    assert!(
        console
            .lines()
            .contains(&"New data received Hello from node".to_string()),
        "{:?}",
        console.lines()
    );
}

/// The lines of `lines` that start with `tag`, in order.
fn tagged<'a>(lines: &'a [String], tag: &str) -> Vec<&'a str> {
    lines
        .iter()
        .filter(|l| l.starts_with(tag))
        .map(String::as_str)
        .collect()
}

/// The number after `after` in `line`.
fn number_after(line: &str, after: &str) -> usize {
    let rest = &line[line.find(after).expect(after) + after.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap()
}

/// The rest of Mongoose's list: `listen(options, cb)`, `'listening'`, a
/// server `'error'` (`EADDRINUSE`), `new Socket` + `connect`,
/// `createConnection`, `'connection'`, `getConnections`, `close(cb)`
/// refusing new clients while existing ones go on, `pause`/`resume`,
/// `write()` returning `false` and `'drain'`, `end(data)`, `setTimeout`
/// rounded to whole seconds and `'timeout'`, `destroy`, and the server's
/// `'close'`. Each party's lines come in order; then the loop has nothing
/// left to do.
#[test]
fn mongoose_tour_of_the_method_and_event_list() {
    let console = mongoose::Console::new(true);
    mongoose::tour(&console, "127.0.0.1").unwrap();
    run_bounded(LIMIT);
    let lines = console.lines();
    let server: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("server: "))
        .map(String::as_str)
        .collect();
    assert_eq!(
        server,
        [
            "server: listening event",
            "server: listen callback",
            "server: new connection",
            "server: connection event",
            "server: new connection",
            "server: connection event",
            "server: getConnections: 2",
            "server: close() called; existing connections stay",
            "server: close event",
            "server: close callback",
        ],
        "{lines:#?}"
    );
    assert_eq!(
        tagged(&lines, "second server:"),
        ["second server: error EADDRINUSE"]
    );
    assert_eq!(
        tagged(&lines, "C:"),
        ["C: error ECONNREFUSED", "C: close (had_error true)"]
    );
    let a = tagged(&lines, "A:");
    assert_eq!(a.len(), 6, "{a:?}");
    assert_eq!(
        a[..4],
        [
            "A: connected",
            "A: got \"go\"; write(\"big\")",
            "A: pause()",
            "A: resume()"
        ]
    );
    assert!(a[4].ends_with("bytes, ending with \"bye\""), "{}", a[4]);
    assert_eq!(a[5], "A: close");
    assert_eq!(
        tagged(&lines, "B:"),
        [
            "B: connected (callback)",
            "B: connect event",
            "B: got \"go\"; write(\"idle\")",
            "B: end; destroy()",
            "B: close",
        ]
    );
    let big = tagged(&lines, "server[big]:");
    assert_eq!(big.len(), 3, "{big:?}");
    assert_eq!(big[0], "server[big]: got \"big\"");
    assert_eq!(
        big[1],
        "server[big]: write() returned false; waiting for 'drain'"
    );
    let sent = number_after(big[2], "drain after ");
    assert!(big[2].ends_with("bytes; end(\"bye\")"), "{}", big[2]);
    assert_eq!(
        number_after(a[4], "A: end after "),
        sent + 3,
        "nothing lost"
    );
    assert_eq!(
        tagged(&lines, "server[idle]:"),
        [
            "server[idle]: got \"idle\"",
            "server[idle]: setTimeout(1600) -> 2 s",
            "server[idle]: setTimeout(300) -> 1 s",
            "server[idle]: timeout; destroy()",
        ]
    );
    // The server's 'close' waits for its last connection.
    let pos = |line: &str| lines.iter().position(|l| l == line).unwrap();
    assert!(pos("server[idle]: timeout; destroy()") < pos("server: close event"));
}

// ---------------------------------------------------------------------------
// Verb: error codes (examples/chat.rs handles them by code)
// ---------------------------------------------------------------------------

/// Verb's error handlers switch on `error.code`; nodenet's errors carry the
/// same codes, from the system's errno.
#[cfg(target_os = "linux")]
#[test]
fn verb_error_codes_map_from_the_system() {
    for (errno, code) in [
        (98, "EADDRINUSE"),
        (13, "EACCES"),
        (104, "ECONNRESET"),
        (110, "ETIMEDOUT"),
        (32, "EPIPE"),
    ] {
        let err = Error::from_io(std::io::Error::from_raw_os_error(errno), "write", None);
        assert_eq!(err.code(), code);
        assert_eq!(err.errno(), Some(-errno));
    }
}

/// Verb's streaming example (`processStreamChunk`): each chunk is an
/// 8-byte header (stream type, timestamp, sequence number, big-endian) and
/// a payload; the server slices it without copying and acknowledges with
/// 4 bytes (the sequence number, then `0x0001`). The client waits for each
/// acknowledgment, so that a chunk is a message as the example assumes.
#[test]
fn verb_stream_chunks_are_sliced_and_acknowledged() {
    let seen = Trace::new();
    let s = seen.clone();
    let server = tcp::create_server(
        ServerOptions::default(),
        move |_: &Server, socket: &Socket| {
            let s = s.clone();
            socket.on("data", move |socket: &Socket, chunk: &Bytes| {
                // const header = chunk.slice(0, 8); const payload = chunk.slice(8);
                let header = chunk.slice(0..8);
                let payload = chunk.slice(8..);
                let stream_type = u16::from_be_bytes([header[0], header[1]]);
                let timestamp = u32::from_be_bytes([header[2], header[3], header[4], header[5]]);
                let sequence = u16::from_be_bytes([header[6], header[7]]);
                s.log(format!(
                    "{stream_type}:{timestamp}:{sequence}:{}",
                    String::from_utf8_lossy(&payload)
                ));
                // const ack = Buffer.alloc(4); ack.writeUInt16BE(sequenceNumber, 0);
                // ack.writeUInt16BE(0x0001, 2); socket.write(ack);
                let mut ack = [0u8; 4];
                ack[..2].copy_from_slice(&sequence.to_be_bytes());
                ack[2..].copy_from_slice(&0x0001u16.to_be_bytes());
                socket.write(&ack);
            });
        },
    );
    let port = listen_local(server);
    let wake = nodenet::handle();
    let client = thread::spawn(move || {
        let mut c = connect(port);
        for (sequence, stream_type, payload) in
            [(1u16, 1u16, "audio"), (2, 2, "video"), (3, 9, "?")]
        {
            let mut chunk = stream_type.to_be_bytes().to_vec();
            chunk.extend_from_slice(&1_000_000u32.to_be_bytes());
            chunk.extend_from_slice(&sequence.to_be_bytes());
            chunk.extend_from_slice(payload.as_bytes());
            c.write_all(&chunk).unwrap();
            let ack = read_n(&mut c, 4);
            assert_eq!(ack[..2], sequence.to_be_bytes());
            assert_eq!(ack[2..], [0, 1]);
        }
        wake.post(|| {}).unwrap();
    });
    let t = seen.clone();
    run_until(LIMIT, move || t.entries().len() == 3);
    join_bounded(client);
    server.close();
    run_bounded(LIMIT);
    assert_eq!(
        seen.entries(),
        ["1:1000000:1:audio", "2:1000000:2:video", "9:1000000:3:?"]
    );
}

/// `message` as a chat frame.
fn chat_frame(message: &Value) -> Bytes {
    LengthPrefixed::encode(serde_json::to_vec(message).unwrap()).unwrap()
}

/// Verb's TCP client: `new TCPSocket()`, `connect(3000, "localhost", cb)`
/// sending `login` and `join_room` through a `MessageProtocol`, and the
/// replies decoded from `'data'`; against the chat example.
#[test]
fn verb_tcp_client_speaks_the_chat_protocol() {
    let server = LoopServer::start(|| {
        let config = chat::Config {
            verbose: false,
            ..chat::Config::default()
        };
        chat::start_with("127.0.0.1", 0, config)
    });
    let received = Trace::new();
    // const client = new TCPSocket();
    let client = Socket::new(SocketOptions::default());
    // client.connect(3000, "localhost", () => { protocol.send(...); ... });
    client.once("connect", |client: &Socket| {
        client.write(chat_frame(
            &json!({"type": "login", "nickname": "TestUser"}),
        ));
        client.write(chat_frame(&json!({"type": "join_room", "room": "general"})));
    });
    // client.on("data", (data) => protocol.handleData(data));
    let mut protocol = LengthPrefixed::new(chat::MAX_FRAME);
    let (on_data, on_error, on_close) = (received.clone(), received.clone(), received.clone());
    client
        .on("data", move |client: &Socket, data: &Bytes| {
            for frame in protocol.decode(data) {
                let message: Value = serde_json::from_slice(&frame.unwrap()).unwrap();
                on_data.log(message["type"].as_str().unwrap());
                if message["type"] == "room_joined" {
                    assert_eq!(message["users"], json!(["TestUser"]));
                    client.end();
                }
            }
        })
        .on("error", move |_: &Socket, e: &Error| {
            on_error.log(format!("error {}", e.code()))
        })
        .on("close", move |_: &Socket, _: bool| on_close.log("close"));
    client.connect(server.port, "localhost").unwrap();
    run_bounded(LIMIT);
    assert_eq!(
        received.entries(),
        ["login_success", "room_joined", "close"]
    );
}
