//! The load generator: one thread, one mio `Poll`, edge-triggered, so that
//! it costs about as little per message as the servers it drives.
//!
//! ```text
//! loadgen --port P [--host H] [--server-pid PID] --mode pingpong
//!         [--conns 50] [--size 64] [--secs 3] [--warmup 0.5]
//! loadgen --port P [--host H] --mode pingpong --msgs N [--conns 50] [--size 64]
//! loadgen --port P [--host H] [--server-pid PID] --mode stream
//!         [--conns 4] [--bytes 67108864]
//! loadgen --port P [--host H]  --server-pid PID  --mode idle
//!         [--conns 10000] [--no-send] [--settle-ms 300]
//! ```
//!
//! `--path P` instead of `--port` / `--host` connects every connection to
//! the Unix socket `P`, in every mode. The generator is generic over the
//! stream type, so the TCP build of every step is what it was before.
//!
//! - `pingpong`: every connection sends one `size`-byte message, waits for
//!   its echo in full, sends the next. After all connections have had a first
//!   echo and `warmup` seconds have passed, counts round trips and their
//!   latency for `secs` seconds. With `--msgs N`, every connection instead
//!   makes exactly N / conns round trips (the first included) and stops:
//!   a fixed amount of work, for counting a server's instructions.
//! - `stream`: every connection sends `bytes` bytes of a deterministic
//!   pattern as fast as the server takes them and checks every echoed byte;
//!   MB/s is one direction's payload (10^6 bytes) over the whole transfer.
//! - `idle`: opens `conns` connections, each sending one byte and waiting for
//!   its echo (so the server has surely accepted it; `--no-send` skips
//!   that), then reports the server's RSS growth per connection.
//!
//! With `--server-pid`, the server's CPU time (utime + stime) over the
//! measurement window is reported too; ping-pong also reports the busy time
//! of the server's core (`--server-cpu`, 0 by default) from `/proc/stat`,
//! which counts whatever else ran there. Connections are opened at most 256
//! unconfirmed at a time (listen backlogs are 511 and up) and closed with a
//! reset at the end, so no `TIME_WAIT` is left behind.
//!
//! The last line printed is `RESULT key=value ...` for the harness.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mio::net::{TcpStream, UnixStream};
use mio::{Events, Interest, Poll, Token};
use nodenet_perf::{
    cpu_core_busy_secs, process_cpu_secs, process_rss_kib, Flags, MioStream, Pattern,
};

const READ_BUF: usize = 64 * 1024;
/// Connections opened but not yet confirmed (first echo, or connected for
/// `--no-send`), at most.
const MAX_UNCONFIRMED: usize = 256;
/// Latency histogram: 1 µs buckets up to this bound (the last one holds
/// everything slower).
const HIST_US: usize = 200_000;
const CONNECT_PHASE_LIMIT: Duration = Duration::from_secs(60);
const STREAM_LIMIT: Duration = Duration::from_secs(120);

fn fatal(msg: impl std::fmt::Display) -> ! {
    eprintln!("loadgen: {msg}");
    std::process::exit(1)
}

/// Where every connection goes.
enum Target {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Tcp(addr) => write!(f, "{addr}"),
            Target::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A stream the generator can open to a [`Target`] of its kind.
trait Connect: MioStream {
    fn connect_to(target: &Target) -> io::Result<Self>;
}

impl Connect for TcpStream {
    fn connect_to(target: &Target) -> io::Result<Self> {
        match target {
            Target::Tcp(addr) => TcpStream::connect(*addr),
            Target::Unix(_) => unreachable!("a TCP generator has a TCP target"),
        }
    }
}

impl Connect for UnixStream {
    fn connect_to(target: &Target) -> io::Result<Self> {
        match target {
            Target::Unix(path) => UnixStream::connect(path),
            Target::Tcp(_) => unreachable!("a Unix generator has a path target"),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    PingPong,
    Stream,
    Idle,
}

struct Conn<S> {
    stream: S,
    up: bool,
    confirmed: bool,
    readable: bool,
    writable: bool,
    /// Ping-pong: bytes of the current message not yet written, and of its
    /// echo received.
    tx_left: usize,
    rx_got: usize,
    sent_at: Instant,
    /// Ping-pong with `--msgs`: round trips this connection still makes.
    rounds_left: u64,
    /// Stream: bytes written and verified so far.
    tx_pos: u64,
    rx_pos: u64,
}

struct Gen<S> {
    mode: Mode,
    target: Target,
    poll: Poll,
    conns: Vec<Conn<S>>,
    buf: Vec<u8>,
    size: usize,
    message: Vec<u8>,
    send_byte: bool,
    /// Stream mode.
    bytes: u64,
    pattern: Option<Pattern>,
    streaming: bool,
    done_streams: usize,
    /// Ping-pong statistics, kept only while `recording`.
    recording: bool,
    count: u64,
    hist: Vec<u32>,
    confirmed: usize,
    /// `--msgs`: round trips per connection (`u64::MAX`: unbounded).
    rounds_per_conn: u64,
}

impl<S: Connect> Gen<S> {
    /// Opens one more connection; false when the listener's backlog is full
    /// (a Unix socket's connect fails with `EAGAIN` then: try again later).
    fn open_one(&mut self) -> bool {
        let mut stream = match S::connect_to(&self.target) {
            Ok(stream) => stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) => fatal(format!("connect {}: {e}", self.target)),
        };
        let token = Token(self.conns.len());
        self.poll
            .registry()
            .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
            .unwrap_or_else(|e| fatal(format!("register: {e}")));
        self.conns.push(Conn {
            stream,
            up: false,
            confirmed: false,
            readable: false,
            writable: false,
            tx_left: 0,
            rx_got: 0,
            sent_at: Instant::now(),
            rounds_left: self.rounds_per_conn,
            tx_pos: 0,
            rx_pos: 0,
        });
        true
    }

    /// Opens connections up to `n`, keeping at most `MAX_UNCONFIRMED`
    /// unconfirmed, until all are confirmed.
    fn open_all(&mut self, n: usize, events: &mut Events) {
        let deadline = Instant::now() + CONNECT_PHASE_LIMIT;
        while self.confirmed < n {
            while self.conns.len() < n && self.conns.len() - self.confirmed < MAX_UNCONFIRMED {
                if !self.open_one() {
                    break;
                }
            }
            if Instant::now() > deadline {
                fatal(format!(
                    "only {} of {n} connections confirmed after {:?}",
                    self.confirmed, CONNECT_PHASE_LIMIT
                ));
            }
            self.poll_once(events, Duration::from_millis(100));
        }
    }

    fn poll_once(&mut self, events: &mut Events, timeout: Duration) {
        if let Err(e) = self.poll.poll(events, Some(timeout)) {
            if e.kind() != io::ErrorKind::Interrupted {
                fatal(format!("epoll_wait: {e}"));
            }
            return;
        }
        for event in events.iter() {
            let i = event.token().0;
            if event.is_writable() || event.is_write_closed() || event.is_error() {
                self.conns[i].writable = true;
            }
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                self.conns[i].readable = true;
            }
            if !self.conns[i].up {
                if !self.conns[i].writable {
                    continue;
                }
                self.finish_connect(i);
            }
            match self.mode {
                Mode::PingPong => self.pump_ping_pong(i),
                Mode::Stream => self.pump_stream(i),
                Mode::Idle => self.pump_idle(i),
            }
        }
    }

    fn finish_connect(&mut self, i: usize) {
        let c = &mut self.conns[i];
        match c.stream.take_error() {
            Ok(Some(e)) | Err(e) => fatal(format!("connect {}: {e}", self.target)),
            Ok(None) => {}
        }
        match c.stream.check_connected() {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                c.writable = false;
                return;
            }
            Err(e) => fatal(format!("connect {}: {e}", self.target)),
        }
        c.up = true;
        c.stream.set_nodelay();
        match self.mode {
            Mode::PingPong => {
                c.tx_left = self.size;
                c.sent_at = Instant::now();
            }
            Mode::Stream => {
                c.confirmed = true;
                self.confirmed += 1;
            }
            Mode::Idle => {
                if self.send_byte {
                    c.tx_left = 1;
                } else {
                    c.confirmed = true;
                    self.confirmed += 1;
                }
            }
        }
    }

    /// Writes what is left of the current message; false once the kernel
    /// is full.
    fn write_message(c: &mut Conn<S>, message: &[u8]) {
        while c.tx_left > 0 && c.writable {
            let off = message.len() - c.tx_left;
            match c.stream.write(&message[off..]) {
                Ok(n) => c.tx_left -= n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => c.writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => fatal(format!("write: {e}")),
            }
        }
    }

    /// Reads what is readable into `buf`, calling `got` per read; a short
    /// read ends the burst (the kernel is drained: the next data brings a
    /// new edge).
    fn read_burst(c: &mut Conn<S>, buf: &mut [u8], mut got: impl FnMut(&mut Conn<S>, &[u8])) {
        while c.readable {
            match c.stream.read(buf) {
                Ok(0) => fatal("the server closed a connection"),
                Ok(n) => {
                    if n < buf.len() {
                        c.readable = false;
                    }
                    got(c, &buf[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => c.readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => fatal(format!("read: {e}")),
            }
        }
    }

    fn pump_ping_pong(&mut self, i: usize) {
        let c = &mut self.conns[i];
        if !c.up {
            return;
        }
        Self::write_message(c, &self.message);
        let size = self.size;
        let mut completed = 0u32;
        let mut first = false;
        let mut latencies = [0u32; 4];
        let mut buf = std::mem::take(&mut self.buf);
        Self::read_burst(c, &mut buf, |c, data| {
            c.rx_got += data.len();
            if c.rx_got > size {
                fatal("the server echoed more than was sent");
            }
            if c.rx_got == size {
                let now = Instant::now();
                let us = now.duration_since(c.sent_at).as_micros();
                if (completed as usize) < latencies.len() {
                    latencies[completed as usize] = us.min(HIST_US as u128) as u32;
                }
                completed += 1;
                if !c.confirmed {
                    c.confirmed = true;
                    first = true;
                }
                c.rx_got = 0;
                c.rounds_left = c.rounds_left.saturating_sub(1);
                c.tx_left = if c.rounds_left > 0 { size } else { 0 };
                c.sent_at = now;
            }
        });
        self.buf = buf;
        if first {
            self.confirmed += 1;
        }
        if completed > 0 {
            if self.recording {
                self.count += u64::from(completed);
                for &us in latencies.iter().take(completed as usize) {
                    self.hist[us as usize] += 1;
                }
            }
            Self::write_message(&mut self.conns[i], &self.message);
        }
    }

    fn pump_stream(&mut self, i: usize) {
        if !self.streaming {
            return;
        }
        let pattern = self.pattern.as_ref().expect("stream mode has a pattern");
        let total = self.bytes;
        let c = &mut self.conns[i];
        let seed = i as u64;
        loop {
            let mut progress = false;
            while c.writable && c.tx_pos < total {
                let len = (total - c.tx_pos).min(READ_BUF as u64) as usize;
                match c.stream.write(pattern.window(seed, c.tx_pos, len)) {
                    Ok(n) => {
                        c.tx_pos += n as u64;
                        progress = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => c.writable = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => fatal(format!("write: {e}")),
                }
            }
            let before = c.rx_pos;
            Self::read_burst(c, &mut self.buf, |c, data| {
                if c.rx_pos + data.len() as u64 > c.tx_pos {
                    fatal(format!(
                        "connection {i}: echo runs ahead of what was sent ({} > {})",
                        c.rx_pos + data.len() as u64,
                        c.tx_pos
                    ));
                }
                let want = pattern.window(seed, c.rx_pos, data.len());
                if data != want {
                    let at = data.iter().zip(want).position(|(a, b)| a != b).unwrap_or(0);
                    fatal(format!(
                        "connection {i}: echoed byte {} is {:#04x}, sent {:#04x}",
                        c.rx_pos + at as u64,
                        data[at],
                        want[at]
                    ));
                }
                c.rx_pos += data.len() as u64;
            });
            if c.rx_pos > before {
                progress = true;
                if c.rx_pos == total {
                    self.done_streams += 1;
                }
            }
            if !progress {
                break;
            }
        }
    }

    fn pump_idle(&mut self, i: usize) {
        let c = &mut self.conns[i];
        if !c.up {
            return;
        }
        Self::write_message(c, &self.message[..1]);
        let mut got = false;
        Self::read_burst(c, &mut self.buf, |_, data| got |= !data.is_empty());
        if got && !c.confirmed {
            c.confirmed = true;
            self.confirmed += 1;
        }
    }

    fn percentile_us(&self, p: f64) -> u64 {
        let total: u64 = self.hist.iter().map(|&n| u64::from(n)).sum();
        if total == 0 {
            return 0;
        }
        let rank = ((p * total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (us, &n) in self.hist.iter().enumerate() {
            seen += u64::from(n);
            if seen >= rank {
                return us as u64;
            }
        }
        HIST_US as u64
    }

    /// Closes every connection, TCP ones with a reset (no `TIME_WAIT` left).
    fn close_all(&mut self) {
        for c in self.conns.drain(..) {
            c.stream.close_hard();
        }
    }
}

fn cpu(pid: Option<u32>) -> f64 {
    pid.map_or(0.0, |p| {
        process_cpu_secs(p).unwrap_or_else(|e| fatal(format!("/proc/{p}/stat: {e}")))
    })
}

fn main() {
    let flags = Flags::from_env(&["no-send"]).unwrap_or_else(|e| fatal(e));
    let arg =
        |name: &str, default: f64| -> f64 { flags.get(name, default).unwrap_or_else(|e| fatal(e)) };
    let mode = match flags.str("mode", "pingpong").as_str() {
        "pingpong" => Mode::PingPong,
        "stream" => Mode::Stream,
        "idle" => Mode::Idle,
        other => fatal(format!("--mode {other}: pingpong, stream or idle")),
    };
    let target = if flags.has("path") {
        Target::Unix(PathBuf::from(flags.str("path", "")))
    } else {
        let host = flags.str("host", "127.0.0.1");
        let port = arg("port", 7000.0) as u16;
        Target::Tcp(
            format!("{host}:{port}")
                .parse()
                .unwrap_or_else(|e| fatal(format!("{host}:{port}: {e}"))),
        )
    };
    match target {
        Target::Tcp(_) => run::<TcpStream>(&flags, mode, target),
        Target::Unix(_) => run::<UnixStream>(&flags, mode, target),
    }
}

fn run<S: Connect>(flags: &Flags, mode: Mode, target: Target) {
    let arg =
        |name: &str, default: f64| -> f64 { flags.get(name, default).unwrap_or_else(|e| fatal(e)) };
    let server_pid: Option<u32> = flags
        .has("server-pid")
        .then(|| flags.get("server-pid", 0u32).unwrap_or_else(|e| fatal(e)));
    let default_conns = match mode {
        Mode::PingPong => 50.0,
        Mode::Stream => 4.0,
        Mode::Idle => 10_000.0,
    };
    let conns = arg("conns", default_conns) as usize;
    let size = (arg("size", 64.0) as usize).max(1);
    let server_core = arg("server-cpu", 0.0) as u32;
    let mut gen = Gen::<S> {
        mode,
        target,
        poll: Poll::new().unwrap_or_else(|e| fatal(format!("epoll: {e}"))),
        conns: Vec::with_capacity(conns),
        buf: vec![0u8; READ_BUF],
        size,
        message: (0..size).map(|i| b'a' + (i % 26) as u8).collect(),
        send_byte: !flags.has("no-send"),
        bytes: arg("bytes", 64.0 * 1024.0 * 1024.0) as u64,
        pattern: (mode == Mode::Stream).then(|| Pattern::new(READ_BUF)),
        streaming: false,
        done_streams: 0,
        recording: false,
        count: 0,
        hist: vec![0u32; HIST_US + 1],
        confirmed: 0,
        rounds_per_conn: u64::MAX,
    };
    let mut events = Events::with_capacity(1024);
    let msgs = arg("msgs", 0.0) as u64;
    match mode {
        Mode::PingPong if msgs > 0 => {
            let per_conn = msgs.div_ceil(conns as u64);
            let total = per_conn * conns as u64;
            gen.rounds_per_conn = per_conn;
            gen.recording = true;
            let t0 = Instant::now();
            gen.open_all(conns, &mut events);
            while gen.count < total {
                if t0.elapsed() > STREAM_LIMIT {
                    fatal(format!(
                        "{} of {total} round trips in {STREAM_LIMIT:?}",
                        gen.count
                    ));
                }
                gen.poll_once(&mut events, Duration::from_millis(50));
            }
            let elapsed = t0.elapsed().as_secs_f64();
            eprintln!("pingpong {conns} conns x {size} B: {total} round trips in {elapsed:.3} s");
            println!(
                "RESULT mode=pingpong conns={conns} size={size} secs={elapsed:.3} msgs={total}"
            );
        }
        Mode::PingPong => {
            let secs = arg("secs", 3.0);
            let warmup = arg("warmup", 0.5);
            gen.open_all(conns, &mut events);
            run_for(&mut gen, &mut events, Duration::from_secs_f64(warmup));
            let core_busy = || {
                cpu_core_busy_secs(server_core)
                    .unwrap_or_else(|e| fatal(format!("/proc/stat: {e}")))
            };
            let cpu0 = cpu(server_pid);
            let own0 = cpu(Some(std::process::id()));
            let core0 = core_busy();
            let t0 = Instant::now();
            gen.recording = true;
            run_for(&mut gen, &mut events, Duration::from_secs_f64(secs));
            gen.recording = false;
            let elapsed = t0.elapsed().as_secs_f64();
            let server_cpu = cpu(server_pid) - cpu0;
            let core = core_busy() - core0;
            let own_cpu = cpu(Some(std::process::id())) - own0;
            let msgs = gen.count;
            let per_msg = |s: f64| if msgs > 0 { s * 1e6 / msgs as f64 } else { 0.0 };
            let rate = msgs as f64 / elapsed;
            let (p50, p99) = (gen.percentile_us(0.50), gen.percentile_us(0.99));
            eprintln!(
                "pingpong {conns} conns x {size} B: {rate:.0} msg/s, p50 {p50} us, p99 {p99} us, \
                 server CPU {:.2} us/msg, generator CPU {:.2} us/msg",
                per_msg(server_cpu),
                per_msg(own_cpu)
            );
            println!(
                "RESULT mode=pingpong conns={conns} size={size} secs={elapsed:.3} msgs={msgs} \
                 msgs_per_s={rate:.1} p50_us={p50} p99_us={p99} server_cpu_s={server_cpu:.3} \
                 server_cpu_us_per_msg={:.4} gen_cpu_us_per_msg={:.4} core_busy_us_per_msg={:.4}",
                per_msg(server_cpu),
                per_msg(own_cpu),
                per_msg(core)
            );
        }
        Mode::Stream => {
            gen.open_all(conns, &mut events);
            let cpu0 = cpu(server_pid);
            let t0 = Instant::now();
            gen.streaming = true;
            for i in 0..gen.conns.len() {
                gen.pump_stream(i);
            }
            while gen.done_streams < conns {
                if t0.elapsed() > STREAM_LIMIT {
                    fatal(format!("stream not done after {STREAM_LIMIT:?}"));
                }
                gen.poll_once(&mut events, Duration::from_millis(100));
            }
            let elapsed = t0.elapsed().as_secs_f64();
            let server_cpu = cpu(server_pid) - cpu0;
            let total = gen.bytes * conns as u64;
            let mb = total as f64 / 1e6;
            let rate = mb / elapsed;
            eprintln!(
                "stream {conns} conns x {} B, every byte verified: {rate:.1} MB/s, server CPU {:.1} us/MB",
                gen.bytes,
                server_cpu * 1e6 / mb
            );
            println!(
                "RESULT mode=stream conns={conns} bytes_per_conn={} secs={elapsed:.3} \
                 mb_per_s={rate:.2} server_cpu_s={server_cpu:.3} server_cpu_us_per_mb={:.3}",
                gen.bytes,
                server_cpu * 1e6 / mb
            );
        }
        Mode::Idle => {
            let Some(pid) = server_pid else {
                fatal("--mode idle needs --server-pid")
            };
            let rss = |pid| {
                process_rss_kib(pid).unwrap_or_else(|e| fatal(format!("/proc/{pid}/status: {e}")))
            };
            let before = rss(pid);
            gen.open_all(conns, &mut events);
            // Let the server finish whatever the last events started.
            run_for(
                &mut gen,
                &mut events,
                Duration::from_millis(arg("settle-ms", 300.0) as u64),
            );
            let after = rss(pid);
            let per_conn = (after as f64 - before as f64) / conns as f64;
            eprintln!(
                "idle {conns} conns: server RSS {before} KiB -> {after} KiB, {per_conn:.3} KiB per connection"
            );
            println!(
                "RESULT mode=idle conns={conns} rss_before_kib={before} rss_after_kib={after} \
                 kib_per_conn={per_conn:.4}"
            );
        }
    }
    gen.close_all();
}

fn run_for<S: Connect>(gen: &mut Gen<S>, events: &mut Events, d: Duration) {
    let end = Instant::now() + d;
    loop {
        let now = Instant::now();
        if now >= end {
            return;
        }
        gen.poll_once(events, (end - now).min(Duration::from_millis(50)));
    }
}
