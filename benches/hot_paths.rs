//! Micro-benchmarks of the hot paths.
//!
//! `cargo bench --bench hot_paths` (add a filter such as `wheel` to run one
//! group).
//!
//! - `read_path`: the read path end to end over loopback. A plain std
//!   client writes one message; a loop turn reads it into the loop-wide
//!   buffer and emits `'data'`. One iteration is one message: the client's
//!   `write(2)`, an `epoll_wait`, a `read(2)` and the emit.
//! - `data_emit`: the `'data'` emit path without system calls: chunks a
//!   paused socket buffered are delivered by `resume()`, one emit each, to
//!   1, 4 or 32 listeners (up to four are snapshotted without allocating).
//! - `socket_write`: `Socket::write` through the public API. `inline_64B`
//!   goes straight to the kernel (nothing queued, peer drained between
//!   batches, outside the timing); `queued_64B` appends a `Bytes` to the
//!   queue of a socket whose kernel buffer is full.
//! - `write_queue`: the queue itself: push and consume one chunk, and a
//!   flush of 64 chunks (`IoSlice`s, one `writev` to `/dev/null`, advance).
//! - `wheel`: the inactivity wheel with 100 000 sockets, each with a 30 s
//!   timeout: one 250 ms tick in which every socket was active (activity is
//!   a stamp; the tick re-files the entries that came due at their true
//!   deadlines), arming 100 000 timeouts, and firing 100 000 at once.

use std::cell::Cell;
use std::fs::File;
use std::hint::black_box;
use std::io::{ErrorKind, IoSlice, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use nodenet::__bench::{Wheel, WriteQueue, MAX_IOVECS};
use nodenet::{tcp, Bytes, Server, ServerOptions, Socket};

const LOOP_LIMIT: Duration = Duration::from_secs(10);

/// Runs the loop until `done`, failing the benchmark after `LOOP_LIMIT`.
fn run_until(what: &str, done: impl FnMut() -> bool) {
    let ok = nodenet::run_until_timeout(LOOP_LIMIT, done).expect("loop error");
    assert!(ok, "{what}: not done within {LOOP_LIMIT:?}");
}

/// A nodenet server socket with `listeners` `'data'` listeners (the last one
/// counts messages), fed by a std client; returns the server, the socket,
/// the client and the count.
fn fed_socket(listeners: usize, size: usize) -> (Server, Socket, TcpStream, Rc<Cell<u64>>) {
    let accepted: Rc<Cell<Option<Socket>>> = Rc::new(Cell::new(None));
    let slot = accepted.clone();
    let server = tcp::create_server(ServerOptions::default(), move |_: &Server, s: &Socket| {
        slot.set(Some(*s));
    });
    server.listen(0, "127.0.0.1").expect("listen");
    let port = server.address().expect("bound").port();
    let peer = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    peer.set_nodelay(true).expect("nodelay");
    run_until("accept", || accepted.get().is_some());
    let sock = accepted.get().expect("accepted");
    for _ in 1..listeners {
        sock.on("data", |_: &Socket, chunk: &Bytes| {
            black_box(chunk.len());
        });
    }
    let received = Rc::new(Cell::new(0u64));
    let count = received.clone();
    let mut got = 0usize;
    sock.on("data", move |_: &Socket, chunk: &Bytes| {
        got += chunk.len();
        while got >= size {
            got -= size;
            count.set(count.get() + 1);
        }
    });
    (server, sock, peer, received)
}

fn teardown(server: Server, sock: Socket, peer: TcpStream) {
    drop(peer);
    sock.destroy();
    server.close();
    settle();
}

/// The read path end to end: the client writes a message, one loop turn
/// (`epoll_wait`, `read`, `'data'`) takes it in, and the client writes the
/// next once it has been delivered.
fn bench_read_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("read_path");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .throughput(Throughput::Elements(1));
    for (name, size) in [("64B", 64usize), ("16KiB", 16 * 1024)] {
        let (server, sock, mut peer, received) = fed_socket(1, size);
        let message = vec![b'r'; size];
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                for _ in 0..iters {
                    let want = received.get() + 1;
                    peer.write_all(&message).expect("peer write");
                    run_until("message", || received.get() >= want);
                }
                t.elapsed()
            })
        });
        teardown(server, sock, peer);
    }
    group.finish();
}

/// Chunks a paused socket buffered (one per read) delivered by `resume()`:
/// each is one `'data'` emit (listener snapshot, calls) plus the read
/// burst's bookkeeping, with no system call per chunk. Buffering them (a
/// client write and a loop turn each) is set-up, outside the timing.
fn bench_data_emit(c: &mut Criterion) {
    let mut group = c.benchmark_group("data_emit");
    // Each measured emit costs ~10 us of untimed set-up: keep the measured
    // time short.
    group
        .warm_up_time(Duration::from_millis(20))
        .measurement_time(Duration::from_millis(60))
        .sample_size(10)
        .throughput(Throughput::Elements(1));
    const SIZE: usize = 64;
    // 1000 x 64 B stay below the default 64 KiB high-water mark, where a
    // paused socket stops reading.
    const BATCH: u64 = 1000;
    for (name, listeners) in [
        ("1_listener", 1usize),
        ("4_listeners", 4),
        ("32_listeners", 32),
    ] {
        let (server, sock, mut peer, received) = fed_socket(listeners, SIZE);
        let message = [b'e'; SIZE];
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let batch = left.min(BATCH);
                    sock.pause();
                    for i in 1..=batch {
                        peer.write_all(&message).expect("peer write");
                        let want = i as usize * SIZE;
                        run_until("buffered", || sock.readable_length() >= want);
                    }
                    assert_eq!(sock.readable_length(), batch as usize * SIZE);
                    let want = received.get() + batch;
                    let t = Instant::now();
                    sock.resume();
                    run_until("delivered", || received.get() >= want);
                    total += t.elapsed();
                    left -= batch;
                }
                total
            })
        });
        teardown(server, sock, peer);
    }
    group.finish();
}

/// A nodenet client connected to a std peer; returns both.
fn connected_pair() -> (Socket, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let up = Rc::new(Cell::new(false));
    let u = up.clone();
    let client = tcp::connect(port, "127.0.0.1", move |_: &Socket| u.set(true)).expect("connect");
    let (peer, _) = listener.accept().expect("accept");
    run_until("connect", || up.get());
    (client, peer)
}

/// Runs the loop until nothing is left to do ('close' events, freed slots).
fn settle() {
    nodenet::run_until_timeout(LOOP_LIMIT, || false).expect("loop error");
}

fn close(sock: Socket) {
    sock.destroy();
    settle();
}

fn drain(peer: &mut TcpStream, buf: &mut [u8]) {
    loop {
        match peer.read(buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) => panic!("peer read: {e}"),
        }
    }
}

fn bench_socket_write(c: &mut Criterion) {
    let mut group = c.benchmark_group("socket_write");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .throughput(Throughput::Elements(1));
    let message = [b'w'; 64];

    let (sock, mut peer) = connected_pair();
    peer.set_nonblocking(true).expect("nonblocking");
    let mut sink = vec![0u8; 256 * 1024];
    group.bench_function("inline_64B", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                // 256 x 64 B fit any loopback socket buffer: every write is
                // taken whole by the kernel.
                let batch = left.min(256);
                let t = Instant::now();
                for _ in 0..batch {
                    black_box(sock.write(&message));
                }
                total += t.elapsed();
                left -= batch;
                drain(&mut peer, &mut sink);
            }
            assert_eq!(sock.writable_length(), 0, "writes went through inline");
            total
        })
    });
    close(sock);

    // Owned chunks queue without a copy: a static `Bytes` costs no
    // allocation, so this is the queue's own cost.
    let chunk = Bytes::from_static(&[b'q'; 64]);
    group.bench_function("queued_64B", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                // A fresh socket per million writes bounds the queue's memory.
                let batch = left.min(1 << 20);
                let (sock, peer) = connected_pair();
                // Fill the kernel: the peer never reads, so most of this is
                // queued and the socket is no longer writable.
                sock.write(Bytes::from(vec![0u8; 16 << 20]));
                assert!(sock.writable_length() > 0, "the kernel buffer is full");
                let t = Instant::now();
                for _ in 0..batch {
                    black_box(sock.write(chunk.clone()));
                }
                total += t.elapsed();
                left -= batch;
                drop(peer);
                close(sock);
            }
            total
        })
    });
    group.finish();
}

fn bench_write_queue(c: &mut Criterion) {
    let mut group = c.benchmark_group("write_queue");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let chunk = Bytes::from(vec![b'x'; 64]);

    group.throughput(Throughput::Elements(1));
    group.bench_function("push_advance_64B", |b| {
        let mut q: WriteQueue<()> = WriteQueue::default();
        b.iter(|| {
            q.push(chunk.clone());
            q.advance(black_box(64));
        });
        assert!(q.is_empty());
    });

    let mut dev_null = File::create("/dev/null").expect("/dev/null");
    group.throughput(Throughput::Bytes(64 * 64));
    group.bench_function("flush_64x64B_writev", |b| {
        let mut q: WriteQueue<()> = WriteQueue::default();
        b.iter(|| {
            for _ in 0..64 {
                q.push(chunk.clone());
            }
            // On the stack per flush, as the socket's flush does.
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let n = q.slices(&mut slices);
            let written = dev_null.write_vectored(&slices[..n]).expect("writev");
            q.advance(written);
            assert_eq!(q.len(), 0);
        });
    });
    group.bench_function("flush_64x64B_no_syscall", |b| {
        let mut q: WriteQueue<()> = WriteQueue::default();
        b.iter(|| {
            for _ in 0..64 {
                q.push(chunk.clone());
            }
            // On the stack per flush, as the socket's flush does.
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let n = q.slices(&mut slices);
            let offered: usize = slices[..n].iter().map(|s| s.len()).sum();
            q.advance(black_box(offered));
        });
    });
    group.finish();
}

const SOCKETS: u64 = 100_000;
const TIMEOUT_MS: u64 = 30_000;
const RESOLUTION_MS: u64 = 250;

/// 100k sockets armed at different times over one timeout period, as the
/// loop files them (250 ms slots, 256 of them).
fn armed_wheel(now: u64) -> Wheel<u64> {
    let mut w = Wheel::new(RESOLUTION_MS, 256, 0);
    for k in 0..SOCKETS {
        w.insert(k, now + TIMEOUT_MS + (k * 7919) % TIMEOUT_MS);
    }
    w
}

fn bench_wheel(c: &mut Criterion) {
    let mut group = c.benchmark_group("wheel_100k");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .throughput(Throughput::Elements(SOCKETS));

    // Steady state of busy sockets: every socket is active in every tick
    // (its stamp is set), and the tick re-files the entries that came due.
    group.bench_function("tick_all_active", |b| {
        let mut wheel = armed_wheel(0);
        let mut last_active = vec![0u64; SOCKETS as usize];
        let mut due = Vec::new();
        let mut now = 0u64;
        b.iter(|| {
            now += RESOLUTION_MS;
            for stamp in last_active.iter_mut() {
                *stamp = black_box(now);
            }
            wheel.expire(now, &mut due);
            for (k, _) in due.drain(..) {
                wheel.insert(k, last_active[k as usize] + TIMEOUT_MS);
            }
        });
    });

    group.bench_function("arm", |b| {
        b.iter_batched(
            || Wheel::<u64>::new(RESOLUTION_MS, 256, 0),
            |mut w| {
                for k in 0..SOCKETS {
                    w.insert(k, TIMEOUT_MS + (k * 7919) % TIMEOUT_MS);
                }
                w
            },
            BatchSize::LargeInput,
        )
    });

    group.bench_function("expire_all_idle", |b| {
        b.iter_batched(
            || (armed_wheel(0), Vec::with_capacity(SOCKETS as usize)),
            |(mut w, mut due)| {
                w.expire(2 * TIMEOUT_MS, &mut due);
                assert_eq!(due.len() as u64, SOCKETS);
                (w, due)
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(
    benches,
    bench_read_path,
    bench_data_emit,
    bench_socket_write,
    bench_write_queue,
    bench_wheel
);
criterion_main!(benches);
