//! What a peer can make the server hold: about the high-water marks, not
//! the read buffer's blocks that kept chunks would pin. An echo server as
//! the echo example writes it (pause on `false`, resume on `'drain'`) runs
//! on a loop thread of this test process, with its sockets' send buffers
//! pinned small so that queueing starts at once whatever the kernel would
//! otherwise absorb; peers that send one byte at a time and never read sit
//! beside a client that streams, and the process's resident memory is
//! sampled throughout.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use nodenet::{tcp, LoopHandle, ServerOptions};

/// Hostile connections.
const NON_READERS: usize = 10;
/// What the server may hold per hostile connection: its write queue and its
/// read-ahead at 64 KiB high-water marks each, with the copies' slack.
const BOUND_PER_CONNECTION_KIB: u64 = 256;
/// Headroom for the streamer's queues, the read buffer and the allocator.
const BOUND_BASE_KIB: u64 = 4 * 1024;

/// What each non-reader sends first, in one write: more than the kernel
/// takes of the echo (the server's send buffer is pinned small), less than
/// the high-water mark, so the echo queues and the socket keeps reading.
const FILLER: usize = 48 * 1024;
/// Then single bytes, one `send` each, paced so that the server reads each
/// as a chunk of its own, between the streamer's reads.
const BYTES_EACH: usize = 3000;

/// A peer that sends [`BYTES_EACH`] single bytes, each as its own segment,
/// never reads (with a small receive buffer), and stays connected until
/// `stop`.
fn non_reader(
    port: u16,
    senders_done: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<usize> {
    thread::spawn(move || {
        let raw = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        raw.set_recv_buffer_size(256).unwrap();
        raw.connect(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())
            .unwrap();
        raw.set_nodelay(true).unwrap();
        let mut c = TcpStream::from(raw);
        c.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(&[b'f'; FILLER]).unwrap();
        thread::sleep(Duration::from_millis(50));
        let mut sent = 0;
        for _ in 0..BYTES_EACH {
            c.write_all(b"x").unwrap();
            sent += 1;
            thread::sleep(Duration::from_micros(500));
        }
        senders_done.fetch_add(1, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        sent
    })
}

/// Streams through the echo until `stop`, checking every byte that comes
/// back; returns how many bytes made the round trip.
fn streamer(port: u16, stop: Arc<AtomicBool>) -> thread::JoinHandle<usize> {
    thread::spawn(move || {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut w = c.try_clone().unwrap();
        let block = util::random_bytes(1 << 20, 11);
        let expect = block.clone();
        let sent = Arc::new(AtomicUsize::new(0));
        let s2 = sent.clone();
        let writer = thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                w.write_all(&block).unwrap();
                s2.fetch_add(block.len(), Ordering::SeqCst);
            }
            w.shutdown(std::net::Shutdown::Write).unwrap();
        });
        let mut got = 0;
        let mut buf = vec![0; 256 * 1024];
        loop {
            let n = c.read(&mut buf).expect("the echo keeps coming");
            if n == 0 {
                break;
            }
            for (i, b) in buf[..n].iter().enumerate() {
                assert_eq!(*b, expect[(got + i) % expect.len()], "echo differs");
            }
            got += n;
        }
        writer.join().unwrap();
        assert_eq!(
            got,
            sent.load(Ordering::SeqCst),
            "every streamed byte came back"
        );
        got
    })
}

/// The most each non-reader's socket had queued, by accept order.
static QUEUED: std::sync::Mutex<Vec<usize>> = std::sync::Mutex::new(Vec::new());

/// This process's resident memory (`VmRSS`), in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .expect("/proc/self/status")
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// The echo server on a loop thread of its own; returns its port and loop.
fn echo_server_thread() -> (u16, LoopHandle, thread::JoinHandle<()>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = thread::spawn(move || {
        let accepted = std::cell::Cell::new(0);
        let server = tcp::create_server(ServerOptions::default(), move |_, socket| {
            // The first connection is the streamer: it keeps the kernel's
            // buffers, so it streams fast and the read buffer moves on to
            // new blocks between the non-readers' bytes.
            accepted.set(accepted.get() + 1);
            let non_reader = accepted.get() > 2;
            let slot = if non_reader {
                util::with_sock(socket, |s| s.set_send_buffer_size(4096).unwrap())
                    .expect("an accepted socket has a descriptor");
                let mut q = QUEUED.lock().unwrap();
                q.push(0);
                q.len() - 1
            } else {
                usize::MAX
            };
            socket
                .on_data(move |s, chunk| {
                    let below = s.write(chunk);
                    if non_reader {
                        let mut q = QUEUED.lock().unwrap();
                        q[slot] = q[slot].max(s.writable_length());
                    }
                    if !below {
                        s.pause();
                    }
                })
                .on_drain(|s| {
                    s.resume();
                })
                .on_error(|_, _| {});
        });
        server.listen(0, "127.0.0.1").unwrap();
        tx.send((server.address().unwrap().port(), nodenet::handle()))
            .unwrap();
        nodenet::run_for(Duration::from_secs(120)).unwrap();
    });
    let (port, handle) = rx.recv_timeout(util::LIMIT).unwrap();
    (port, handle, thread)
}

#[test]
fn non_readers_sending_single_bytes_cannot_pin_the_servers_memory() {
    let (port, handle, server) = echo_server_thread();
    // Warm up: one echo, so the base includes the loop's buffers.
    let mut warm = TcpStream::connect(("127.0.0.1", port)).unwrap();
    warm.write_all(b"warm").unwrap();
    let mut four = [0; 4];
    warm.read_exact(&mut four).unwrap();
    drop(warm);

    let stop = Arc::new(AtomicBool::new(false));
    // The warm-up connection was the first; the streamer is the second.
    let stream = streamer(port, stop.clone());
    // The base includes the streamer's own buffers and the server's
    // streaming at full speed.
    thread::sleep(Duration::from_millis(200));
    let base = rss_kib();
    let senders_done = Arc::new(AtomicUsize::new(0));
    let hostile: Vec<_> = (0..NON_READERS)
        .map(|_| non_reader(port, senders_done.clone(), stop.clone()))
        .collect();
    let mut peak = base;
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut done_at: Option<Instant> = None;
    while Instant::now() < deadline {
        peak = peak.max(rss_kib());
        if done_at.is_none() && senders_done.load(Ordering::SeqCst) == NON_READERS {
            done_at = Some(Instant::now());
        }
        // Sample a little after the last byte, then let everyone go.
        if done_at.is_some_and(|t| t.elapsed() > Duration::from_millis(300)) {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    peak = peak.max(rss_kib());
    stop.store(true, Ordering::Relaxed);
    let streamed = stream.join().expect("the streamed bytes came back intact");
    let sent: Vec<usize> = hostile.into_iter().map(|h| h.join().unwrap()).collect();
    peak = peak.max(rss_kib());
    let grown = peak.saturating_sub(base);
    let bound = BOUND_BASE_KIB + NON_READERS as u64 * BOUND_PER_CONNECTION_KIB;
    eprintln!(
        "server RSS: base {base} KiB, peak {peak} KiB (+{grown} KiB, bound {bound} KiB); \
         {streamed} bytes streamed meanwhile"
    );
    assert!(sent.iter().all(|&n| n == BYTES_EACH), "{sent:?}");
    // The attack reached the server's queues (else the test proves nothing).
    let queued = QUEUED.lock().unwrap().clone();
    assert_eq!(queued.len(), NON_READERS);
    assert!(
        queued.iter().all(|&q| q > BYTES_EACH),
        "the non-readers' echo did not queue: {queued:?}"
    );
    assert!(
        grown <= bound,
        "{NON_READERS} non-readers grew the server by {grown} KiB (bound {bound} KiB)"
    );
    // The server still serves.
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.write_all(b"after").unwrap();
    let mut five = [0; 5];
    c.read_exact(&mut five).unwrap();
    assert_eq!(&five, b"after");
    handle.stop();
    server.join().unwrap();
}
