//! No heap allocation per echoed message on the hot path.
//!
//! A counting global allocator counts the allocations made by this test's
//! thread (the loop's thread) while a nodenet echo server and nodenet
//! ping-pong clients, in one loop over loopback, echo a fixed number of
//! 64-byte messages after a warm-up. Each echoed message takes a client
//! `write`, the server's read, `'data'` emit and inline `write`, and the
//! client's read and `'data'` emit. The server's sockets have an
//! inactivity timeout armed, as a real server's would.
//!
//! If anything allocates, the test captures the backtraces of the first
//! allocations and prints them, so the failure says what allocated.

use std::alloc::{GlobalAlloc, Layout, System};
use std::backtrace::Backtrace;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use nodenet::{tcp, Bytes, Error, Server, ServerOptions, Socket};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    /// How many backtraces to keep; 0 while not diagnosing.
    static TRACE_WANTED: Cell<usize> = const { Cell::new(0) };
    static IN_TRACE: Cell<bool> = const { Cell::new(false) };
    static TRACES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn note_allocation(size: usize) {
    let counting = COUNTING.try_with(Cell::get).unwrap_or(false);
    if !counting || IN_TRACE.try_with(Cell::get).unwrap_or(true) {
        return;
    }
    ALLOCATIONS.with(|a| a.set(a.get() + 1));
    if TRACE_WANTED.with(Cell::get) > 0 {
        // Capturing allocates: those nested allocations are not counted.
        IN_TRACE.with(|t| t.set(true));
        TRACE_WANTED.with(|w| w.set(w.get() - 1));
        let trace = format!(
            "allocation of {size} bytes:\n{}",
            Backtrace::force_capture()
        );
        TRACES.with(|t| t.borrow_mut().push(trace));
        IN_TRACE.with(|t| t.set(false));
    }
}

// SAFETY: every method forwards its arguments unchanged to the system
// allocator, which upholds `GlobalAlloc`'s contract; counting touches only
// const-initialised thread-locals (which never allocate) and, while a trace
// is being captured, allocates through this same allocator with `IN_TRACE`
// set, so nothing recurses into the counting path.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        // SAFETY: the caller's layout, passed on as the caller must.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        // SAFETY: as `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation(new_size);
        // SAFETY: `ptr` was allocated by `System` (through this allocator)
        // with `layout`, as the caller guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const CLIENTS: usize = 4;
const WARM_UP: u64 = 5_000;
const MEASURED: u64 = 20_000;
const MESSAGE: [u8; 64] = [b'p'; 64];
const PHASE_LIMIT: Duration = Duration::from_secs(30);

/// Runs ping-pong until `count` reaches `until` (bounded by `PHASE_LIMIT`).
fn run_to(count: &Rc<Cell<u64>>, until: u64) {
    let count = count.clone();
    let done = nodenet::run_until_timeout(PHASE_LIMIT, move || count.get() >= until)
        .expect("no loop error");
    assert!(
        done,
        "ping-pong did not reach {until} messages in {PHASE_LIMIT:?}"
    );
}

/// Counts this thread's allocations while `count` goes from its current
/// value up by `messages`.
fn allocations_over(count: &Rc<Cell<u64>>, messages: u64) -> u64 {
    let until = count.get() + messages;
    ALLOCATIONS.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    run_to(count, until);
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn echoed_messages_do_not_allocate() {
    // The counter sees this thread's allocations (the test is not vacuous).
    ALLOCATIONS.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    let probe = std::hint::black_box(Vec::<u8>::with_capacity(16));
    COUNTING.with(|c| c.set(false));
    drop(probe);
    assert_eq!(
        ALLOCATIONS.with(Cell::get),
        1,
        "the counting allocator counts"
    );

    let server = tcp::create_server(ServerOptions::default(), |_: &Server, socket: &Socket| {
        // An armed inactivity timeout: activity must stay a stamp.
        socket.set_timeout(60_000);
        socket
            .on("data", |s: &Socket, chunk: &Bytes| {
                if !s.write(chunk) {
                    s.pause();
                }
            })
            .on("drain", |s: &Socket| {
                s.resume();
            })
            .on("error", |_: &Socket, _: &Error| {})
            // A second 'data' listener: emits to several listeners must
            // not allocate either (the clients have one each).
            .on("data", |s: &Socket, chunk: &Bytes| {
                std::hint::black_box((s, chunk.len()));
            });
    });
    server.listen(0, "127.0.0.1").expect("listen");
    let port = server.address().expect("bound").port();

    let count = Rc::new(Cell::new(0u64));
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let client = tcp::connect(port, "127.0.0.1", |s: &Socket| {
            s.write(&MESSAGE);
        })
        .expect("connect");
        let count = count.clone();
        let mut got = 0usize;
        client
            .on("data", move |s: &Socket, chunk: &Bytes| {
                got += chunk.len();
                while got >= MESSAGE.len() {
                    got -= MESSAGE.len();
                    count.set(count.get() + 1);
                    s.write(&MESSAGE);
                }
            })
            .on("error", |_: &Socket, _: &Error| {});
        clients.push(client);
    }

    run_to(&count, WARM_UP);
    let allocations = allocations_over(&count, MEASURED);

    let mut traces = Vec::new();
    if allocations > 0 {
        // Diagnose: a short window again, keeping the first backtraces.
        TRACE_WANTED.with(|w| w.set(3));
        allocations_over(&count, MEASURED / 10);
        TRACE_WANTED.with(|w| w.set(0));
        traces = TRACES.with(|t| std::mem::take(&mut *t.borrow_mut()));
    }

    for c in &clients {
        c.destroy();
    }
    server.close();
    nodenet::run_until_timeout(PHASE_LIMIT, || false).expect("teardown");

    let per_message = allocations as f64 / MEASURED as f64;
    println!(
        "{allocations} allocations over {MEASURED} echoed messages ({per_message:.4} per message)"
    );
    assert_eq!(
        allocations,
        0,
        "{allocations} allocations over {MEASURED} echoed messages ({per_message:.4} per message); \
         the first ones:\n{}",
        traces.join("\n")
    );
}

/// The same over TLS 1.3 (server and clients in this loop, so both ends
/// count). nodenet itself allocates nothing per message here either: what
/// is left is rustls 0.23's own, inside its unbuffered API: one `Vec` per
/// record decrypted (`take_received_plaintext`) and one per record
/// encrypted (`encrypt_outgoing`, before rustls copies it into our
/// buffer): four per echoed message, two at each end.
#[cfg(feature = "tls")]
#[test]
fn echoed_tls_messages_allocate_only_inside_rustls() {
    use nodenet::tls;
    #[allow(dead_code)]
    #[path = "util/certs.rs"]
    mod certs;
    let c = certs::certs();
    let server = tls::create_server(
        tls::ServerOptions::new(
            tls::SecureContextOptions::new()
                .cert(c.server.cert.clone())
                .key(c.server.key.clone()),
        ),
        |_, socket| {
            socket.set_timeout(60_000);
            socket
                .on_data(|s, chunk| {
                    if !s.write(chunk) {
                        s.pause();
                    }
                })
                .on_drain(|s| {
                    s.resume();
                })
                .on_error(|_, _| {});
        },
    )
    .expect("server");
    server.listen(0, "127.0.0.1").expect("listen");
    let port = server.address().expect("bound").port();
    let context = tls::create_secure_context(&tls::SecureContextOptions::new().ca(c.ca.clone()))
        .expect("context");
    let count = Rc::new(Cell::new(0u64));
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let options = tls::ConnectOptions::new(port, "127.0.0.1").secure_context(&context);
        let client = tls::connect(options, |s| {
            s.write(&MESSAGE);
        })
        .expect("connect");
        let count = count.clone();
        let mut got = 0usize;
        client
            .on_data(move |s, chunk| {
                got += chunk.len();
                while got >= MESSAGE.len() {
                    got -= MESSAGE.len();
                    count.set(count.get() + 1);
                    s.write(&MESSAGE);
                }
            })
            .on_error(|_, _| {});
        clients.push(client);
    }
    run_to(&count, WARM_UP);
    let allocations = allocations_over(&count, MEASURED);
    let mut traces = Vec::new();
    if allocations > 2 * MEASURED {
        TRACE_WANTED.with(|w| w.set(60));
        allocations_over(&count, MEASURED / 10);
        TRACE_WANTED.with(|w| w.set(0));
        traces = TRACES.with(|t| std::mem::take(&mut *t.borrow_mut()));
    }
    for c in &clients {
        c.destroy();
    }
    server.close();
    nodenet::run_until_timeout(PHASE_LIMIT, || false).expect("teardown");
    let per_message = allocations as f64 / MEASURED as f64;
    println!("TLS: {allocations} allocations over {MEASURED} echoed messages ({per_message:.4} per message)");
    assert!(
        per_message <= 4.0,
        "{allocations} allocations over {MEASURED} TLS messages ({per_message:.4} per message); \
         the first ones:\n{}",
        traces.join("\n")
    );
}
