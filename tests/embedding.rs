//! Driving a nodenet loop from another event loop: `run_for(ZERO)` and
//! `run_nowait()` poll once without blocking, `backend_fd()` turns readable
//! with I/O to handle, `backend_timeout()` says how long the loop may
//! wait, `LoopHandle::post` says when the loop is gone, and the tokio
//! example runs a nodenet loop inside a tokio runtime.

mod util;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use nodenet::{tcp, LoopGone, ServerOptions};
use util::*;

/// Clients queued in the backlog before the loop looks.
fn queued_clients(port: u16, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect()
}

/// `run_for(Duration::ZERO)` takes one non-blocking turn: a hundred calls
/// accept the queued connections (the issue: 100 calls accepted 0).
#[test]
fn run_for_zero_polls_once_without_blocking() {
    let server = tcp::create_server(ServerOptions::default(), |_, _| {});
    let port = listen_local(server);
    let clients = queued_clients(port, 3);
    let start = Instant::now();
    for _ in 0..100 {
        nodenet::run_for(Duration::ZERO).unwrap();
        if server.connections() == 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(server.connections(), 3);
    assert!(start.elapsed() < LIMIT, "a zero run must not block");
    drop(clients);
    server.close();
    run_bounded(LIMIT);
}

/// `run_nowait` returns whether anything keeps the loop alive.
#[test]
fn run_nowait_says_whether_the_loop_is_alive() {
    let server = tcp::create_server(ServerOptions::default(), |_, _| {});
    listen_local(server);
    assert!(nodenet::run_nowait().unwrap());
    server.close();
    // The close is queued; a few turns finish it.
    let mut alive = true;
    for _ in 0..10 {
        alive = nodenet::run_nowait().unwrap();
        if !alive {
            break;
        }
    }
    assert!(!alive);
}

/// The backend descriptor turns readable when a connection waits, and
/// `run_nowait` then handles it.
#[test]
fn backend_fd_is_readable_when_io_waits() {
    let server = tcp::create_server(ServerOptions::default(), |_, _| {});
    let port = listen_local(server);
    nodenet::run_nowait().unwrap(); // 'listening'
    let fd = nodenet::backend_fd();
    let readable = |timeout_ms: i32| {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, for the length given.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        n == 1 && pfd.revents & libc::POLLIN != 0
    };
    assert!(!readable(0), "nothing to do yet");
    let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert!(readable(10_000), "a pending connection wakes the backend");
    let start = Instant::now();
    while server.connections() == 0 && start.elapsed() < LIMIT {
        nodenet::run_nowait().unwrap();
    }
    assert_eq!(server.connections(), 1);
    drop(client);
    server.close();
    run_bounded(LIMIT);
}

/// `backend_timeout`: zero with work queued, the next timer's delay with
/// only a timer, `None` when only I/O can bring work.
#[test]
fn backend_timeout_follows_the_queued_work() {
    let server = tcp::create_server(ServerOptions::default(), |_, _| {});
    listen_local(server);
    nodenet::run_nowait().unwrap();
    assert_eq!(nodenet::backend_timeout(), None);
    let timer = nodenet::set_timeout(|| {}, 5_000);
    let t = nodenet::backend_timeout().expect("a timer is pending");
    assert!(
        t > Duration::from_secs(1) && t <= Duration::from_secs(5),
        "{t:?}"
    );
    nodenet::set_immediate(|| {});
    assert_eq!(nodenet::backend_timeout(), Some(Duration::ZERO));
    nodenet::clear_timeout(timer);
    server.close();
    run_bounded(LIMIT);
}

/// A post to a loop whose thread has ended is refused, not dropped
/// silently; one to a loop that is merely not running waits for its next
/// run.
#[test]
fn post_says_when_the_loop_is_gone() {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        tx.send(nodenet::handle()).unwrap();
        // Not running yet: the post below waits for this run.
        std::thread::sleep(Duration::from_millis(50));
        nodenet::run_for(LIMIT).unwrap();
    });
    let handle = rx.recv().unwrap();
    let (ran_tx, ran_rx) = std::sync::mpsc::channel();
    handle.post(move || ran_tx.send(()).unwrap()).unwrap();
    ran_rx
        .recv_timeout(LIMIT)
        .expect("the posted closure ran on the loop's next run");
    thread.join().unwrap();
    assert_eq!(handle.post(|| unreachable!()), Err(LoopGone));
}

/// The tokio example: a nodenet server driven from a tokio runtime,
/// connected to with tokio's `TcpStream`, its `'connection'` awaited from
/// async code.
#[test]
fn a_nodenet_loop_runs_inside_a_tokio_runtime() {
    let exe = util::example_server::example_path("embed_tokio");
    assert!(
        exe.exists(),
        "{} is missing: `cargo test` builds the examples",
        exe.display()
    );
    let out = std::process::Command::new(&exe)
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("nodenet accepted a connection from port"),
        "{stdout}"
    );
    assert!(stdout.contains("echoed: hello from tokio"), "{stdout}");
    assert!(stdout.trim_end().ends_with("done"), "{stdout}");
}
