//! A seeded, randomized sequence of API calls made from inside random
//! callbacks on a server and several clients: writes of every kind, `end`,
//! `destroy` with and without an error, `reset_and_destroy`, pause and
//! resume, cork and uncork, timeouts (0, 1 s and huge), encodings,
//! listeners added, removed (the running one too), once and prepended,
//! the server closed and listening again, connections to dead ports, write
//! callbacks that destroy, timers that close things.
//!
//! After every seed: no panic, no hang (the loop runs out of work within
//! its bound), `'close'` exactly once per socket, nothing delivered to a
//! socket after its `'close'`, every server closed, and no slot left.
//!
//! `cargo test` runs [`SEEDS`] seeds; `NODENET_CHAOS_SEEDS=N` runs N (and
//! `NODENET_CHAOS_FROM=S` starts at seed S). A seed that ever fails becomes
//! a named test at the bottom of this file.

mod util;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use nodenet::{tcp, Encoding, Error, ErrorCode, ListenerId, Server, ServerOptions, Socket};

/// Seeds per `cargo test` run.
const SEEDS: u64 = 300;
/// Actions one seed may take before everything is wound down.
const ACTIONS: usize = 120;
/// A seed's loop must run out of work within this.
const SEED_LIMIT: Duration = Duration::from_secs(20);

/// xorshift64*: small, seedable, good enough to pick actions.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// What one seed observes about a socket.
#[derive(Default)]
struct Seen {
    closes: u32,
    after_close: Vec<&'static str>,
}

/// One seed's shared state.
struct Chaos {
    rng: RefCell<Rng>,
    sockets: RefCell<Vec<Socket>>,
    seen: RefCell<HashMap<u64, Seen>>,
    server: Cell<Option<Server>>,
    server_closes: Cell<u32>,
    actions: Cell<usize>,
    winding_down: Cell<bool>,
    dead_port: u16,
    log: RefCell<Vec<String>>,
}

type Shared = Rc<Chaos>;

impl Chaos {
    fn note(&self, s: &Socket, event: &'static str) {
        let mut seen = self.seen.borrow_mut();
        let entry = seen.entry(s.id()).or_default();
        if entry.closes > 0 {
            entry.after_close.push(event);
        }
    }

    fn pick(&self) -> Option<Socket> {
        let sockets = self.sockets.borrow();
        if sockets.is_empty() {
            return None;
        }
        let i = self.rng.borrow_mut().below(sockets.len());
        Some(sockets[i])
    }
}

/// Registers the tracking listeners on a new socket.
fn adopt(chaos: &Shared, s: &Socket) {
    chaos.sockets.borrow_mut().push(*s);
    chaos.seen.borrow_mut().entry(s.id()).or_default();
    let c = chaos.clone();
    s.on_close(move |s, _| {
        let mut seen = c.seen.borrow_mut();
        let entry = seen.entry(s.id()).or_default();
        entry.closes += 1;
        drop(seen);
        c.sockets.borrow_mut().retain(|x| x != s);
        maybe_act(&c, "close");
    });
    let c = chaos.clone();
    s.on_data(move |s, _| {
        c.note(s, "data");
        maybe_act(&c, "data");
    });
    let c = chaos.clone();
    s.on_end(move |s| {
        c.note(s, "end");
        maybe_act(&c, "end");
    });
    let c = chaos.clone();
    s.on_drain(move |s| {
        c.note(s, "drain");
        maybe_act(&c, "drain");
    });
    let c = chaos.clone();
    s.on_timeout(move |s| {
        c.note(s, "timeout");
        maybe_act(&c, "timeout");
    });
    let c = chaos.clone();
    s.on_connect(move |s| {
        c.note(s, "connect");
        maybe_act(&c, "connect");
    });
    let c = chaos.clone();
    s.on_finish(move |s| {
        c.note(s, "finish");
        maybe_act(&c, "finish");
    });
    // Errors go to a listener on most sockets, to the loop's hook on the
    // others.
    if chaos.rng.borrow_mut().chance(70) {
        let c = chaos.clone();
        s.on_error(move |s, _| {
            c.note(s, "error");
            maybe_act(&c, "error");
        });
    }
}

fn maybe_act(chaos: &Shared, from: &'static str) {
    if chaos.winding_down.get() {
        return;
    }
    let n = 1 + chaos.rng.borrow_mut().below(2);
    for _ in 0..n {
        if chaos.rng.borrow_mut().chance(60) {
            act(chaos, from);
        }
    }
}

fn payload(rng: &mut Rng) -> Vec<u8> {
    let len = match rng.below(4) {
        0 => 0,
        1 => 1 + rng.below(16),
        2 => 1 + rng.below(4096),
        _ => 1 + rng.below(200_000),
    };
    (0..len).map(|i| (i as u8).wrapping_mul(31)).collect()
}

/// One random action.
fn act(chaos: &Shared, from: &'static str) {
    let used = chaos.actions.get() + 1;
    chaos.actions.set(used);
    if used > ACTIONS {
        return;
    }
    let choice = chaos.rng.borrow_mut().below(24);
    let target = chaos.pick();
    chaos
        .log
        .borrow_mut()
        .push(format!("{from}: action {choice} on {target:?}"));
    let Some(s) = target else {
        connect(chaos);
        return;
    };
    let mut rng = chaos.rng.borrow_mut();
    match choice {
        0 | 1 => {
            let data = payload(&mut rng);
            drop(rng);
            s.write(data);
        }
        2 => {
            let data = payload(&mut rng);
            let destroy = rng.chance(30);
            drop(rng);
            let c = chaos.clone();
            s.write_cb(data, move |s, _| {
                c.note(s, "write-cb");
                if destroy {
                    s.destroy();
                }
            });
        }
        3 => {
            drop(rng);
            s.end();
        }
        4 => {
            let data = payload(&mut rng);
            drop(rng);
            s.end_with(data);
        }
        5 => {
            drop(rng);
            s.destroy();
        }
        6 => {
            drop(rng);
            s.destroy_with(Error::new(ErrorCode::ERR_INVALID_ARG_VALUE, "chaos"));
        }
        7 => {
            drop(rng);
            s.reset_and_destroy();
        }
        8 => {
            drop(rng);
            s.pause();
        }
        9 => {
            drop(rng);
            s.resume();
        }
        10 => {
            drop(rng);
            s.cork();
        }
        11 => {
            drop(rng);
            s.uncork();
        }
        12 => {
            let ms = [0, 1000, u64::MAX][rng.below(3)];
            drop(rng);
            s.set_timeout(ms);
        }
        13 => {
            let enc = [Encoding::Utf8, Encoding::Hex, Encoding::Base64][rng.below(3)];
            drop(rng);
            s.set_encoding(enc);
        }
        14 => {
            // A once listener, maybe prepended.
            let prepend = rng.chance(50);
            drop(rng);
            let c = chaos.clone();
            let reg = s.register().once();
            let reg = if prepend { reg.prepend() } else { reg };
            reg.data(move |s, _| {
                c.note(s, "data-once");
                maybe_act(&c, "data-once");
            });
        }
        15 => {
            // A listener that removes itself while it runs.
            drop(rng);
            let id: Rc<Cell<Option<ListenerId>>> = Rc::default();
            let id2 = id.clone();
            let c = chaos.clone();
            id.set(Some(s.register().data(move |s, _| {
                c.note(s, "data-self-removing");
                if let Some(me) = id2.get() {
                    s.remove_listener(me);
                }
            })));
        }
        16 => {
            drop(rng);
            s.remove_all_listeners("drain");
        }
        17 => {
            drop(rng);
            connect(chaos);
        }
        18 => {
            drop(rng);
            let dead = tcp::connect(chaos.dead_port, "127.0.0.1", |_| {});
            if let Ok(d) = dead {
                adopt(chaos, &d);
            }
        }
        19 => {
            let ms = rng.below(30) as u64;
            drop(rng);
            let c = chaos.clone();
            nodenet::set_timeout(
                move || {
                    if let Some(s) = c.pick() {
                        s.destroy();
                    }
                    maybe_act(&c, "timer");
                },
                ms,
            );
        }
        20 => {
            drop(rng);
            if let Some(server) = chaos.server.get() {
                server.close();
            }
        }
        21 => {
            drop(rng);
            if let Some(server) = chaos.server.get() {
                if !server.listening() {
                    // Listening again is refused on a freed server: fine.
                    let _ = server.listen(0, "127.0.0.1");
                }
            }
        }
        22 => {
            drop(rng);
            let c = chaos.clone();
            nodenet::next_tick(move || maybe_act(&c, "tick"));
        }
        _ => {
            drop(rng);
            let c = chaos.clone();
            nodenet::set_immediate(move || maybe_act(&c, "immediate"));
        }
    }
}

fn connect(chaos: &Shared) {
    let Some(server) = chaos.server.get() else {
        return;
    };
    let Some(addr) = server.address() else {
        return;
    };
    if let Ok(s) = tcp::connect(addr.port(), "127.0.0.1", |_| {}) {
        adopt(chaos, &s);
        let data = payload(&mut chaos.rng.borrow_mut());
        s.write(data);
    }
}

/// Runs one seed on a thread of its own (a fresh loop); `Err` says what
/// broke.
fn run_seed(seed: u64) -> Result<(), String> {
    let worker = std::thread::spawn(move || -> Result<(), String> {
        let dead_port = util::closed_port();
        let chaos: Shared = Rc::new(Chaos {
            rng: RefCell::new(Rng::new(seed)),
            sockets: RefCell::default(),
            seen: RefCell::default(),
            server: Cell::new(None),
            server_closes: Cell::new(0),
            actions: Cell::new(0),
            winding_down: Cell::new(false),
            dead_port,
            log: RefCell::default(),
        });
        nodenet::on_uncaught_error(|_, _| {});
        let c = chaos.clone();
        let server = tcp::create_server(ServerOptions::default(), move |_, s| {
            adopt(&c, s);
            maybe_act(&c, "connection");
        });
        let c = chaos.clone();
        server.on_close(move |_| {
            c.server_closes.set(c.server_closes.get() + 1);
        });
        server.listen(0, "127.0.0.1").map_err(|e| e.to_string())?;
        chaos.server.set(Some(server));
        for _ in 0..3 {
            connect(&chaos);
        }
        // Winding down: whatever is still open after a while is destroyed,
        // the server closed, so the loop runs out of work.
        let wind_down_ms = 5 + chaos.rng.borrow_mut().below(60) as u64;
        let c = chaos.clone();
        nodenet::set_timeout(
            move || {
                c.winding_down.set(true);
                let open: Vec<Socket> = c.sockets.borrow().clone();
                for s in open {
                    s.destroy();
                }
                if let Some(server) = c.server.get() {
                    server.close();
                }
            },
            wind_down_ms,
        );
        let start = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            nodenet::run_for(SEED_LIMIT)
        }));
        let trail = || chaos.log.borrow().join("\n");
        match result {
            Err(_) => return Err(format!("a panic came out of the loop\n{}", trail())),
            Ok(Err(e)) => return Err(format!("the loop returned {e}\n{}", trail())),
            Ok(Ok(())) => {}
        }
        if start.elapsed() >= SEED_LIMIT {
            return Err(format!("the loop still had work after {SEED_LIMIT:?}"));
        }
        for (id, seen) in chaos.seen.borrow().iter() {
            if seen.closes != 1 {
                return Err(format!(
                    "socket {id}: 'close' {} times\n{}",
                    seen.closes,
                    trail()
                ));
            }
            if !seen.after_close.is_empty() {
                return Err(format!(
                    "socket {id}: {:?} after 'close'\n{}",
                    seen.after_close,
                    trail()
                ));
            }
        }
        if chaos.server_closes.get() == 0 {
            return Err("the server never emitted 'close'".into());
        }
        let live = nodenet::__bench::live_slots();
        if live != (0, 0) {
            return Err(format!(
                "slots left (sockets, servers): {live:?}\n{}",
                trail()
            ));
        }
        nodenet::off_uncaught_error();
        Ok(())
    });
    match worker.join() {
        Ok(result) => result,
        Err(_) => Err("the seed's thread panicked".into()),
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn random_api_sequences_keep_every_invariant() {
    let from = env_u64("NODENET_CHAOS_FROM").unwrap_or(0);
    let count = env_u64("NODENET_CHAOS_SEEDS").unwrap_or(SEEDS);
    // Seeds run four at a time (each on its own thread and loop): most of
    // a seed's time is waiting for its timers.
    let failed = std::sync::Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicU64::new(from);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if seed >= from + count || failed.lock().unwrap().len() >= 5 {
                    return;
                }
                if let Err(why) = run_seed(seed) {
                    eprintln!("chaos seed {seed} failed: {why}");
                    failed.lock().unwrap().push(seed);
                }
            });
        }
    });
    let failed = failed.into_inner().unwrap();
    assert!(failed.is_empty(), "failing chaos seeds: {failed:?}");
}
