//! Shared helpers for the integration tests: bounded runs, event traces,
//! local servers, and Node as a peer.
//!
//! Every test runs on its own thread, so it has its own nodenet loop.

#![allow(dead_code)]

pub mod certs;
pub mod example_server;
pub mod netns;

use std::cell::RefCell;
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use nodenet::{tcp, Bytes, Error, Server, ServerOptions, Socket};

/// An ordered record of events, shared by the closures of one test.
#[derive(Clone, Default)]
pub struct Trace(Rc<RefCell<Vec<String>>>);

impl Trace {
    pub fn new() -> Trace {
        Trace::default()
    }

    pub fn log(&self, entry: impl Into<String>) {
        self.0.borrow_mut().push(entry.into());
    }

    pub fn entries(&self) -> Vec<String> {
        self.0.borrow().clone()
    }

    pub fn contains(&self, entry: &str) -> bool {
        self.0.borrow().iter().any(|e| e == entry)
    }

    pub fn count(&self, entry: &str) -> usize {
        self.0.borrow().iter().filter(|e| *e == entry).count()
    }

    /// The entries that start with `prefix`, in order.
    pub fn with_prefix(&self, prefix: &str) -> Vec<String> {
        self.0
            .borrow()
            .iter()
            .filter(|e| e.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// The entries that start with `prefix`, with the prefix removed.
    pub fn stripped(&self, prefix: &str) -> Vec<String> {
        self.with_prefix(prefix)
            .into_iter()
            .map(|e| e[prefix.len()..].to_string())
            .collect()
    }
}

/// Runs the loop until it has nothing left to do; fails the test if that
/// takes longer than `limit` (a hang, not a slow machine: limits are
/// generous).
pub fn run_bounded(limit: Duration) {
    let start = Instant::now();
    nodenet::run_for(limit).expect("the loop returned an unhandled error");
    assert!(
        start.elapsed() < limit,
        "the loop was still busy after {limit:?}: the test hung"
    );
}

/// Like [`run_bounded`] but returns the loop's result (for tests about
/// unhandled errors).
pub fn run_bounded_result(limit: Duration) -> Result<(), Error> {
    nodenet::run_for(limit)
}

/// Runs until `done()`; fails the test if `limit` passes first or the loop
/// runs out of work first.
pub fn run_until(limit: Duration, done: impl FnMut() -> bool) {
    let reached = nodenet::run_until_timeout(limit, done).expect("unhandled error");
    assert!(reached, "condition not reached within {limit:?}");
}

/// The default bound for one test scenario.
pub const LIMIT: Duration = Duration::from_secs(10);

/// Starts `server` on an ephemeral loopback port and returns the port.
pub fn listen_local(server: Server) -> u16 {
    server.listen(0, "127.0.0.1").expect("listen");
    server
        .address()
        .expect("bound at once for an IP literal")
        .port()
}

/// An echo server on an ephemeral loopback port.
pub fn echo_server() -> (Server, u16) {
    let server = tcp::create_server(ServerOptions::default(), |_: &Server, s: &Socket| {
        s.on("data", |s: &Socket, chunk: &Bytes| {
            s.write(chunk);
        })
        .on("error", |_: &Socket, _: &Error| {});
    });
    let port = listen_local(server);
    (server, port)
}

/// A free loopback port with nothing listening on it.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The `node` binary, or a clear failure: tests that use Node as a peer do
/// not pass silently without it.
pub fn node() -> String {
    let ok = Command::new("node")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "this test needs Node.js (`node` on PATH) as a peer; install Node 20 to run it"
    );
    "node".to_string()
}

/// Logs every event of a socket into `trace` as `"<tag>:<event>"`.
pub fn trace_socket(s: &Socket, trace: &Trace, tag: &str) {
    let t = trace.clone();
    let tag2 = tag.to_string();
    s.on("connect", move |_: &Socket| {
        t.log(format!("{tag2}:connect"))
    });
    let t = trace.clone();
    let tag2 = tag.to_string();
    s.on("ready", move |_: &Socket| t.log(format!("{tag2}:ready")));
    let t = trace.clone();
    let tag2 = tag.to_string();
    s.on("data", move |_: &Socket, d: &Bytes| {
        t.log(format!("{tag2}:data:{}", String::from_utf8_lossy(d)))
    });
    let t = trace.clone();
    let tag2 = tag.to_string();
    s.on("end", move |_: &Socket| t.log(format!("{tag2}:end")));
    let t = trace.clone();
    let tag2 = tag.to_string();
    s.on("finish", move |_: &Socket| t.log(format!("{tag2}:finish")));
    let t = trace.clone();
    let tag2 = tag.to_string();
    s.on("error", move |_: &Socket, e: &Error| {
        t.log(format!("{tag2}:error:{}", e.code()))
    });
    let t = trace.clone();
    let tag2 = tag.to_string();
    s.on("close", move |_: &Socket, had_error: bool| {
        t.log(format!("{tag2}:close:{had_error}"))
    });
}

/// A small deterministic generator of test data (xorshift64*).
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A loopback port whose accept queue is full, so that connecting to it
/// hangs (the SYNs go unanswered). Keep the returned sockets alive while
/// the port should hang.
pub fn hanging_port() -> (Vec<socket2::Socket>, u16) {
    use socket2::{Domain, Socket as RawSocket, Type};
    let listener = RawSocket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    listener.listen(0).unwrap();
    let port = listener.local_addr().unwrap().as_socket().unwrap().port();
    let mut keep = vec![listener];
    // Fill the accept queue (never accepted) so later SYNs go unanswered.
    for _ in 0..4 {
        let f = RawSocket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        f.set_nonblocking(true).unwrap();
        let _ = f.connect(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into());
        keep.push(f);
    }
    std::thread::sleep(Duration::from_millis(100));
    (keep, port)
}

/// A client to `127.0.0.1:port` with `allow_half_open`: it stays writable
/// after the server's FIN.
pub fn connect_half_open(port: u16) -> Socket {
    tcp::create_connection(nodenet::ConnectOptions {
        port,
        host: "127.0.0.1".into(),
        socket: nodenet::SocketOptions {
            allow_half_open: true,
            ..nodenet::SocketOptions::default()
        },
        ..nodenet::ConnectOptions::default()
    })
    .unwrap()
}

/// A thread whose end wakes the loop of the thread that spawned it, so a
/// `run_until(.., || t.is_done())` sees it at once instead of at its limit.
pub struct Waking<T> {
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<T>,
}

impl<T> Waking<T> {
    pub fn is_done(&self) -> bool {
        self.done.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn join(self) -> T {
        self.thread.join().expect("the thread did not panic")
    }
}

/// Runs `f` on another thread; see [`Waking`].
pub fn spawn_waking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Waking<T> {
    let loop_handle = nodenet::handle();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d = done.clone();
    let thread = std::thread::spawn(move || {
        // Set even if `f` panics, so the loop's wait ends and join() reports it.
        struct Flag(
            std::sync::Arc<std::sync::atomic::AtomicBool>,
            nodenet::LoopHandle,
        );
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::SeqCst);
                let _ = self.1.post(|| {});
            }
        }
        let _flag = Flag(d, loop_handle);
        f()
    });
    Waking { done, thread }
}

/// Runs `f` on the socket behind `s`'s descriptor (socket options), if it
/// has one.
pub fn with_sock<R>(s: &Socket, f: impl FnOnce(&socket2::SockRef<'_>) -> R) -> Option<R> {
    use std::os::fd::BorrowedFd;
    let fd = s.raw_fd()?;
    // SAFETY: the loop owns the descriptor and closes it only when the
    // socket is destroyed, which cannot happen during this call: the loop
    // is single-threaded and `f` only sets or reads socket options.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    Some(f(&socket2::SockRef::from(&fd)))
}

/// Pins `s`'s kernel buffers (`SO_SNDBUF` and `SO_RCVBUF`, each `bytes`;
/// Linux doubles the value and stops autotuning), so that a test needing
/// backpressure does not depend on how much the kernel would otherwise
/// buffer. Set the receiver's before the peer sends: the window it
/// advertises follows it.
pub fn pin_buffers(s: &Socket, bytes: usize) {
    with_sock(s, |sock| {
        sock.set_send_buffer_size(bytes).unwrap();
        sock.set_recv_buffer_size(bytes).unwrap();
    })
    .expect("the socket has a descriptor");
}
