//! Loopback ping-pong through nodenet on both ends, in one loop: a smoke
//! benchmark of the whole hot path (read, emit, inline write). The
//! side-by-side comparison with Node and tokio lives in its own harness.
//!
//! `cargo bench --bench loopback`

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use nodenet::{tcp, Bytes, Server, ServerOptions, Socket};

fn main() {
    for &(conns, size) in &[(1usize, 64usize), (50, 64), (50, 4096)] {
        let (msgs, elapsed) = ping_pong(conns, size, Duration::from_secs(2));
        println!(
            "ping-pong {conns:>3} conns x {size:>5} B: {:>9.0} round trips/s",
            msgs as f64 / elapsed.as_secs_f64()
        );
    }
}

fn ping_pong(conns: usize, size: usize, duration: Duration) -> (u64, Duration) {
    let server = tcp::create_server(ServerOptions::default(), |_: &Server, s: &Socket| {
        s.on("data", |s: &Socket, chunk: &Bytes| {
            s.write(chunk);
        })
        // Clients are destroyed mid-flight at the end: resets are expected.
        .on("error", |_: &Socket, _: &nodenet::Error| {});
    });
    server.listen(0, "127.0.0.1").expect("listen");
    let port = server.address().expect("bound").port();
    let count = Rc::new(Cell::new(0u64));
    let deadline = Instant::now() + duration;
    let message = Bytes::from(vec![b'x'; size]);
    let mut clients = Vec::new();
    for _ in 0..conns {
        let msg = message.clone();
        let c = tcp::connect(port, "127.0.0.1", move |s: &Socket| {
            s.write(msg.clone());
        })
        .expect("connect");
        let count = count.clone();
        let msg = message.clone();
        let mut got = 0usize;
        c.on("data", move |s: &Socket, chunk: &Bytes| {
            got += chunk.len();
            if got >= msg.len() {
                got -= msg.len();
                count.set(count.get() + 1);
                if Instant::now() < deadline {
                    s.write(msg.clone());
                } else {
                    s.end();
                }
            }
        });
        c.on("error", |_: &Socket, _: &nodenet::Error| {});
        clients.push(c);
    }
    let start = Instant::now();
    nodenet::run_until(|| Instant::now() >= deadline).expect("run");
    let elapsed = start.elapsed();
    for c in clients {
        c.destroy();
    }
    server.close();
    nodenet::run().expect("drain");
    (count.get(), elapsed)
}
