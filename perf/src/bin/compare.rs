//! The side-by-side echo benchmark: nodenet's `examples/echo` against a Node
//! `net` echo, a tokio echo and a minimal mio echo, in one run.
//!
//! ```text
//! cargo build --release -p nodenet-perf --bins && cargo build --release --example echo
//! cargo run --release -p nodenet-perf --bin compare -- [--quick] [--reps N] [--secs S]
//!     [--only nodenet,node,tokio,mio] [--idle-conns N] [--unix]
//! cargo build --release --features tls-aws-lc-rs --example tls_echo
//! cargo run --release -p nodenet-perf --bin compare -- --tls [--quick] [--hs-conns 256] [...]
//! ```
//!
//! `--tls` runs the TLS rows instead: nodenet's `examples/tls_echo`
//! (built with `--features tls-aws-lc-rs`), a Node `tls` echo
//! (`peers/tls_echo.js`) and a tokio-rustls echo (`tokio_tls_echo`), all
//! serving a self-signed P-256 certificate for `localhost` / 127.0.0.1 made
//! afresh for the run (rcgen) in a temporary directory; the load generator
//! trusts exactly that certificate. Workloads: ping-pong over 50
//! connections, stream, full handshakes, resumed handshakes (TLS 1.3
//! tickets; `--hs-conns` clients in both) and idle memory per TLS
//! connection, then the issue's targets for nodenet as `met` / `MISSED`
//! lines. See `perf/README.md`.
//!
//! `--unix` runs the same workloads over Unix sockets: every server listens
//! on a fresh path (`--path`) in a temporary directory, the load generator
//! connects to it, and the socket file is removed when its server is
//! stopped (the directory at the end).
//!
//! It builds nothing: it runs the binaries next to its own executable
//! (`target/release/`); a server that is missing is skipped, with what to
//! build to have it. Each server
//! runs pinned to CPU 0 and the load generator to CPU 1 (`taskset`), one
//! server at a time, on a fresh port. Every measurement is repeated (`--reps`,
//! 3 by default; servers take turns within each repetition so that a noisy
//! neighbour hurts all of them alike) and the table shows medians and the
//! ratio of each to nodenet; a second table shows each figure's best run,
//! the one least disturbed when the machine is shared.
//!
//! - ping-pong, 64-byte messages, 50 and 500 connections: msg/s, the
//!   server's CPU time (utime + stime from `/proc/<pid>/stat` over the
//!   window) per message, the busy time of its core (`/proc/stat`, which
//!   also counts anything else that ran there) per message, round-trip
//!   latency p50 / p99, and the load generator's own CPU per message;
//! - streaming, 4 connections x 64 MiB, every echoed byte verified: MB/s;
//! - idle: 10 000 connections, each having sent one byte and received its
//!   echo, on a freshly started server: RSS growth per connection. nodenet's
//!   echo runs with `--timeout 300` there, so that every idle connection has
//!   an inactivity timeout armed.
//!
//! Every process it starts is killed when it exits, panics or is killed
//! (`PR_SET_PDEATHSIG`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nodenet_perf::{parse_result, Flags};

/// A child process killed (and reaped) when dropped, including on panic.
struct Guard {
    child: Child,
}

impl Guard {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cmd` so that it dies with this process even if this process is
/// killed without running its destructors.
fn spawn(mut cmd: Command) -> std::io::Result<Guard> {
    // SAFETY: the closure runs in the forked child before exec and only
    // calls prctl, which is async-signal-safe; it touches no memory shared
    // with the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Ok(Guard {
        child: cmd.spawn()?,
    })
}

/// Where a started server listens.
enum Endpoint {
    Port(u16),
    Path(PathBuf),
}

/// A started server: killed when dropped, then its socket file removed.
struct Server {
    guard: Guard,
    endpoint: Endpoint,
}

impl Server {
    fn pid(&self) -> u32 {
        self.guard.pid()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.guard.child.kill();
        let _ = self.guard.child.wait();
        if let Endpoint::Path(path) = &self.endpoint {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[derive(Clone)]
struct Peer {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
    /// Extra arguments for the idle test only.
    idle_args: Vec<String>,
}

/// `--tls`: the run's certificate, key and their directory.
struct TlsFiles {
    dir: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl TlsFiles {
    /// A fresh self-signed P-256 certificate for `localhost` and 127.0.0.1
    /// (not a CA: rustls's verifier refuses a CA certificate as a server's
    /// own) and its PKCS#8 key, as PEM files in a new directory.
    fn generate() -> Result<TlsFiles, String> {
        let dir = std::env::temp_dir().join(format!("nodenet-perf-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let certified =
            rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
                .map_err(|e| format!("certificate: {e}"))?;
        let files = TlsFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            dir,
        };
        std::fs::write(&files.cert, certified.cert.pem())
            .and_then(|()| std::fs::write(&files.key, certified.signing_key.serialize_pem()))
            .map_err(|e| format!("{}: {e}", files.dir.display()))?;
        Ok(files)
    }

    /// The servers' `--cert FILE --key FILE`.
    fn server_args(&self) -> Vec<String> {
        vec![
            "--cert".into(),
            self.cert.display().to_string(),
            "--key".into(),
            self.key.display().to_string(),
        ]
    }
}

impl Drop for TlsFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Settings {
    reps: usize,
    secs: f64,
    warmup: f64,
    stream_conns: usize,
    stream_bytes: u64,
    idle_conns: usize,
    pin: bool,
    loadgen: PathBuf,
    /// `--unix`: the directory the servers' socket paths go in.
    unix_dir: Option<PathBuf>,
    /// `--tls`: the certificate the servers serve and the generator trusts.
    tls: Option<TlsFiles>,
    /// `--tls`: concurrent clients in the handshake runs.
    hs_conns: usize,
}

fn command(pin: bool, cpu: u32, program: &Path, args: &[String]) -> Command {
    let mut cmd = if pin {
        let mut c = Command::new("taskset");
        c.arg("-c").arg(cpu.to_string()).arg(program);
        c
    } else {
        Command::new(program)
    };
    cmd.args(args);
    cmd
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot find a free port: {e}"))
}

/// Starts a server on a fresh port, or a fresh path in `--unix`'s
/// directory, and waits for its `listening on` line.
fn start_server(peer: &Peer, idle: bool, s: &Settings) -> Result<Server, String> {
    static SERVERS: AtomicUsize = AtomicUsize::new(0);
    let mut args = peer.args.clone();
    let endpoint = match &s.unix_dir {
        Some(dir) => {
            let n = SERVERS.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("{}-{n}.sock", peer.name));
            let _ = std::fs::remove_file(&path);
            args.extend(["--path".to_string(), path.display().to_string()]);
            Endpoint::Path(path)
        }
        None => {
            let port = free_port();
            args.extend([
                "--host".to_string(),
                "127.0.0.1".to_string(),
                "--port".to_string(),
                port.to_string(),
            ]);
            Endpoint::Port(port)
        }
    };
    if idle {
        args.extend(peer.idle_args.iter().cloned());
    }
    let mut cmd = command(s.pin, 0, &peer.program, &args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let guard = spawn(cmd).map_err(|e| format!("{}: {e}", peer.program.display()))?;
    let mut server = Server { guard, endpoint };
    let stdout = server.guard.child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next();
        let _ = tx.send(first);
        // Keep draining so the server never blocks on a full pipe.
        for _ in lines {}
    });
    match rx.recv_timeout(Duration::from_secs(15)) {
        Ok(Some(Ok(line))) if line.starts_with("listening on") => Ok(server),
        Ok(other) => Err(format!(
            "{} did not say `listening on`: {other:?}",
            peer.name
        )),
        Err(_) => Err(format!("{} did not start listening within 15 s", peer.name)),
    }
}

/// Runs the load generator to completion (bounded by `limit`) and returns
/// its `RESULT` line.
fn run_loadgen(
    s: &Settings,
    server: &Server,
    args: &[String],
    limit: Duration,
) -> Result<(HashMap<String, f64>, String), String> {
    let mut all = match &server.endpoint {
        Endpoint::Port(port) => vec![
            "--host".to_string(),
            "127.0.0.1".to_string(),
            "--port".to_string(),
            port.to_string(),
        ],
        Endpoint::Path(path) => vec!["--path".to_string(), path.display().to_string()],
    };
    all.extend(["--server-pid".to_string(), server.pid().to_string()]);
    if let Some(tls) = &s.tls {
        all.extend([
            "--tls".to_string(),
            "--ca".to_string(),
            tls.cert.display().to_string(),
        ]);
    }
    all.extend(args.iter().cloned());
    let mut cmd = command(s.pin, 1, &s.loadgen, &all);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut guard = spawn(cmd).map_err(|e| format!("loadgen: {e}"))?;
    let mut stdout = guard.child.stdout.take().expect("piped");
    let mut stderr = guard.child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        match guard.child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                drop(guard);
                return Err(format!("loadgen did not finish within {limit:?}"));
            }
            Err(e) => return Err(format!("loadgen: {e}")),
        }
    };
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    if !status.success() {
        return Err(format!("loadgen failed ({status}): {}", err.trim()));
    }
    let result = out
        .lines()
        .find_map(parse_result)
        .ok_or_else(|| format!("loadgen printed no RESULT line: {out}"))?;
    Ok((result, err.trim().to_string()))
}

type Samples = HashMap<(&'static str, &'static str), Vec<f64>>;

/// Which `RESULT` keys of a run go to which metric.
fn result_keys(prefix: &str) -> &'static [(&'static str, &'static str)] {
    match prefix {
        "pp50" => &[
            ("msgs_per_s", "pp50.msgs_per_s"),
            ("server_cpu_us_per_msg", "pp50.cpu"),
            ("p50_us", "pp50.p50"),
            ("p99_us", "pp50.p99"),
            ("gen_cpu_us_per_msg", "pp50.gen"),
            ("core_busy_us_per_msg", "pp50.core"),
        ],
        "pp500" => &[
            ("msgs_per_s", "pp500.msgs_per_s"),
            ("server_cpu_us_per_msg", "pp500.cpu"),
            ("p50_us", "pp500.p50"),
            ("p99_us", "pp500.p99"),
            ("gen_cpu_us_per_msg", "pp500.gen"),
            ("core_busy_us_per_msg", "pp500.core"),
        ],
        "stream" => &[
            ("mb_per_s", "stream.mb_per_s"),
            ("server_cpu_us_per_mb", "stream.cpu"),
        ],
        "hsf" => &[
            ("handshakes_per_s", "hsf.hs_per_s"),
            ("server_cpu_us_per_hs", "hsf.cpu"),
            ("core_busy_us_per_hs", "hsf.core"),
            ("p50_us", "hsf.p50"),
            ("p99_us", "hsf.p99"),
            ("gen_cpu_us_per_hs", "hsf.gen"),
            ("resumed_frac", "hsf.resumed"),
        ],
        "hsr" => &[
            ("handshakes_per_s", "hsr.hs_per_s"),
            ("server_cpu_us_per_hs", "hsr.cpu"),
            ("core_busy_us_per_hs", "hsr.core"),
            ("p50_us", "hsr.p50"),
            ("p99_us", "hsr.p99"),
            ("gen_cpu_us_per_hs", "hsr.gen"),
            ("resumed_frac", "hsr.resumed"),
        ],
        _ => &[("kib_per_conn", "idle.kib")],
    }
}

/// Figures derived as 10^6 / a per-unit CPU cost: units per server
/// CPU-second.
const PER_CPU_SECOND: &[(&str, &str)] = &[
    ("pp50.cpu", "pp50.per_cpu_s"),
    ("stream.cpu", "stream.per_cpu_s"),
    ("hsf.cpu", "hsf.per_cpu_s"),
    ("hsr.cpu", "hsr.per_cpu_s"),
    ("hsr.resumption_cpu", "hsr.resumption_per_cpu_s"),
];

fn push(samples: &mut Samples, peer: &'static str, metric: &'static str, v: f64) {
    samples.entry((peer, metric)).or_default().push(v);
    if v > 0.0 {
        if let Some((_, derived)) = PER_CPU_SECOND.iter().find(|(m, _)| *m == metric) {
            samples.entry((peer, derived)).or_default().push(1e6 / v);
        }
    }
}

fn record(
    samples: &mut Samples,
    peer: &'static str,
    prefix: &'static str,
    r: &HashMap<String, f64>,
) {
    for (k, metric) in result_keys(prefix) {
        if let Some(v) = r.get(*k) {
            push(samples, peer, metric, *v);
        }
    }
}

/// The server CPU of one resumption: the resumed run's CPU per handshake
/// with its full handshakes' share taken out, at the full run's cost
/// (`mixed = f * resumed + (1 - f) * full`). A server that sends no new
/// ticket on a resumption (Node: OpenSSL renews none by default) leaves a
/// third of a single-use-ticket client's handshakes full. `None` when too
/// few were resumed to tell.
fn resumption_cpu(full: &HashMap<String, f64>, resumed: &HashMap<String, f64>) -> Option<f64> {
    let full_cpu = *full.get("server_cpu_us_per_hs")?;
    let mixed = *resumed.get("server_cpu_us_per_hs")?;
    let f = *resumed.get("resumed_frac")?;
    if f < 0.2 {
        return None;
    }
    Some(((mixed - (1.0 - f) * full_cpu) / f).max(0.0))
}

/// One repetition of every measurement for one server.
fn measure(s: &Settings, peer: &Peer, samples: &mut Samples, rep: usize) -> Result<(), String> {
    let secs = s.secs.to_string();
    let warmup = s.warmup.to_string();
    let pp = |conns: usize| {
        vec![
            "--mode".into(),
            "pingpong".into(),
            "--conns".into(),
            conns.to_string(),
            "--size".into(),
            "64".into(),
            "--secs".into(),
            secs.clone(),
            "--warmup".into(),
            warmup.clone(),
        ]
    };
    let pp_limit = Duration::from_secs_f64(s.secs + s.warmup + 60.0);
    let stream = vec![
        "--mode".into(),
        "stream".into(),
        "--conns".into(),
        s.stream_conns.to_string(),
        "--bytes".into(),
        s.stream_bytes.to_string(),
    ];
    let handshakes = |resume: bool| {
        let mut args: Vec<String> = vec![
            "--mode".into(),
            "handshakes".into(),
            "--conns".into(),
            s.hs_conns.to_string(),
            "--secs".into(),
            secs.clone(),
            "--warmup".into(),
            warmup.clone(),
        ];
        if resume {
            args.push("--resume".into());
        }
        args
    };
    let runs: Vec<(&'static str, Vec<String>, Duration)> = if s.tls.is_some() {
        vec![
            ("pp50", pp(50), pp_limit),
            ("stream", stream, Duration::from_secs(150)),
            ("hsf", handshakes(false), pp_limit),
            ("hsr", handshakes(true), pp_limit),
        ]
    } else {
        vec![
            ("pp50", pp(50), pp_limit),
            ("pp500", pp(500), pp_limit),
            ("stream", stream, Duration::from_secs(150)),
        ]
    };
    let mut results: HashMap<&'static str, HashMap<String, f64>> = HashMap::new();
    // A run that fails (one idle run was reset once on the shared machine) is
    // retried once on a fresh server; a second failure is reported.
    let mut server: Option<Server> = None;
    for (prefix, args, limit) in runs {
        let mut retried = false;
        loop {
            if server.is_none() {
                server = Some(start_server(peer, false, s)?);
            }
            let running = server.as_ref().expect("started");
            match run_loadgen(s, running, &args, limit) {
                Ok((r, line)) => {
                    println!("  [{} rep {}] {line}", peer.name, rep + 1);
                    record(samples, peer.name, prefix, &r);
                    results.insert(prefix, r);
                    break;
                }
                Err(e) if !retried => {
                    eprintln!(
                        "compare: {} {prefix}: {e}; retrying once on a fresh server",
                        peer.name
                    );
                    retried = true;
                    server = None;
                }
                Err(e) => return Err(format!("{} {prefix}: {e}", peer.name)),
            }
        }
    }
    drop(server);
    if let (Some(full), Some(resumed)) = (results.get("hsf"), results.get("hsr")) {
        if let Some(us) = resumption_cpu(full, resumed) {
            push(samples, peer.name, "hsr.resumption_cpu", us);
        }
    }
    // Idle memory on a fresh process, so that nothing the earlier runs
    // allocated and freed is reused.
    let args = vec![
        "--mode".to_string(),
        "idle".to_string(),
        "--conns".to_string(),
        s.idle_conns.to_string(),
    ];
    for attempt in 0..2 {
        let server = start_server(peer, true, s)?;
        // Let the runtime settle (Node's startup work) before the baseline.
        std::thread::sleep(Duration::from_millis(300));
        match run_loadgen(s, &server, &args, Duration::from_secs(90)) {
            Ok((r, line)) => {
                println!("  [{} rep {}] {line}", peer.name, rep + 1);
                record(samples, peer.name, "idle", &r);
                return Ok(());
            }
            Err(e) if attempt == 0 => eprintln!(
                "compare: {} idle: {e}; retrying once on a fresh server",
                peer.name
            ),
            Err(e) => return Err(format!("{} idle: {e}", peer.name)),
        }
    }
    Ok(())
}

fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn fmt_value(v: f64) -> String {
    let a = v.abs();
    if a >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Which figure of a metric's runs a table shows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stat {
    Median,
    /// The best run: the least disturbed by other load on the machine.
    Best,
}

fn higher_is_better(metric: &str) -> bool {
    ["msgs_per_s", "per_cpu_s", "mb_per_s", "hs_per_s", "resumed"]
        .iter()
        .any(|end| metric.ends_with(end))
}

fn summary(v: &[f64], metric: &str, stat: Stat) -> Option<f64> {
    match stat {
        Stat::Median => median(v),
        Stat::Best if v.is_empty() => None,
        Stat::Best if higher_is_better(metric) => v.iter().copied().reduce(f64::max),
        Stat::Best => v.iter().copied().reduce(f64::min),
    }
}

fn print_table(peers: &[Peer], samples: &Samples, s: &Settings, stat: Stat) {
    let tls_rows: &[(&str, String)] = &[
        ("pp50.msgs_per_s", "ping-pong 50 conns: msg/s".into()),
        ("pp50.cpu", "  server CPU us/msg".into()),
        ("pp50.core", "  CPU 0 busy us/msg".into()),
        ("pp50.per_cpu_s", "  msg per server CPU second".into()),
        ("pp50.p50", "  latency p50 us".into()),
        ("pp50.p99", "  latency p99 us".into()),
        ("pp50.gen", "  load generator CPU us/msg".into()),
        (
            "stream.mb_per_s",
            format!(
                "stream {} x {} MiB: MB/s",
                s.stream_conns,
                s.stream_bytes >> 20
            ),
        ),
        ("stream.cpu", "  server CPU us/MB".into()),
        ("stream.per_cpu_s", "  MB per server CPU second".into()),
        (
            "hsf.hs_per_s",
            format!("full handshakes, {} clients: /s", s.hs_conns),
        ),
        ("hsf.cpu", "  server CPU us/handshake".into()),
        ("hsf.core", "  CPU 0 busy us/handshake".into()),
        ("hsf.per_cpu_s", "  handshakes per server CPU second".into()),
        ("hsf.p50", "  connect to echo p50 us".into()),
        ("hsf.p99", "  connect to echo p99 us".into()),
        ("hsf.gen", "  load generator CPU us/handshake".into()),
        (
            "hsr.hs_per_s",
            format!("resumed handshakes, {} clients: /s", s.hs_conns),
        ),
        ("hsr.resumed", "  fraction resumed".into()),
        ("hsr.cpu", "  server CPU us/handshake".into()),
        ("hsr.core", "  CPU 0 busy us/handshake".into()),
        ("hsr.per_cpu_s", "  handshakes per server CPU second".into()),
        ("hsr.resumption_cpu", "  server CPU us/resumption".into()),
        (
            "hsr.resumption_per_cpu_s",
            "  resumptions per server CPU second".into(),
        ),
        ("hsr.p50", "  connect to echo p50 us".into()),
        ("hsr.p99", "  connect to echo p99 us".into()),
        ("hsr.gen", "  load generator CPU us/handshake".into()),
        (
            "idle.kib",
            format!("idle {} TLS conns: KiB/conn", s.idle_conns),
        ),
    ];
    let tcp_rows: &[(&str, String)] = &[
        ("pp50.msgs_per_s", "ping-pong 50 conns: msg/s".into()),
        ("pp50.cpu", "  server CPU us/msg".into()),
        ("pp50.core", "  CPU 0 busy us/msg".into()),
        ("pp50.per_cpu_s", "  msg per server CPU second".into()),
        ("pp50.p50", "  latency p50 us".into()),
        ("pp50.p99", "  latency p99 us".into()),
        ("pp50.gen", "  load generator CPU us/msg".into()),
        ("pp500.msgs_per_s", "ping-pong 500 conns: msg/s".into()),
        ("pp500.cpu", "  server CPU us/msg".into()),
        ("pp500.core", "  CPU 0 busy us/msg".into()),
        ("pp500.p50", "  latency p50 us".into()),
        ("pp500.p99", "  latency p99 us".into()),
        ("pp500.gen", "  load generator CPU us/msg".into()),
        (
            "stream.mb_per_s",
            format!(
                "stream {} x {} MiB: MB/s",
                s.stream_conns,
                s.stream_bytes >> 20
            ),
        ),
        ("stream.cpu", "  server CPU us/MB".into()),
        ("idle.kib", format!("idle {} conns: KiB/conn", s.idle_conns)),
    ];
    let rows = if s.tls.is_some() { tls_rows } else { tcp_rows };
    let label_w = 38;
    let col_w = 17;
    let title = match stat {
        Stat::Median => "median of runs (ratio to nodenet)",
        Stat::Best => "best run (ratio to nodenet)",
    };
    print!("\n{title:<label_w$}");
    for p in peers {
        print!("{:>col_w$}", p.name);
    }
    println!();
    println!("{}", "-".repeat(label_w + col_w * peers.len()));
    for (metric, label) in rows {
        if peers
            .iter()
            .all(|p| !samples.contains_key(&(p.name, *metric)))
        {
            continue;
        }
        print!("{label:<label_w$}");
        let base = summary(
            samples.get(&("nodenet", *metric)).map_or(&[], |v| v),
            metric,
            stat,
        );
        for p in peers {
            let cell = match summary(
                samples.get(&(p.name, *metric)).map_or(&[], |v| v),
                metric,
                stat,
            ) {
                None => "-".to_string(),
                Some(v) if p.name == "nodenet" => fmt_value(v),
                Some(v) => match base {
                    Some(b) if b.abs() > 1e-9 => format!("{} ({:.2}x)", fmt_value(v), v / b),
                    _ => fmt_value(v),
                },
            };
            print!("{cell:>col_w$}");
        }
        println!();
    }
}

/// The issue's TLS targets for nodenet, on the medians: at least
/// tokio-rustls on every figure; 1.5x Node per server CPU second on
/// ping-pong and stream; at least Node on handshakes; at most a third of
/// Node's memory per idle TLS connection.
fn print_tls_targets(peers: &[Peer], samples: &Samples) {
    if !peers.iter().any(|p| p.name == "nodenet") {
        println!("\ntargets: nodenet's tls_echo was not measured");
        return;
    }
    let value = |peer: &str, metric: &str| {
        samples
            .iter()
            .find(|((p, m), _)| *p == peer && *m == metric)
            .and_then(|(_, v)| median(v))
    };
    // The resumption figure with the full handshakes' share taken out where
    // it could be derived for both, else the resumed run's own.
    let resumed_metric = |other: &str| {
        if value("nodenet", "hsr.resumption_per_cpu_s").is_some()
            && value(other, "hsr.resumption_per_cpu_s").is_some()
        {
            "hsr.resumption_per_cpu_s"
        } else {
            "hsr.per_cpu_s"
        }
    };
    // (label, metric, other peer, factor, higher is better): nodenet must
    // be >= factor x other (higher is better) or <= factor x other.
    let mut checks: Vec<(&str, &str, &str, f64, bool)> = Vec::new();
    for other in ["tokio", "node"] {
        let node = other == "node";
        checks.extend([
            (
                "ping-pong msg per server CPU second",
                "pp50.per_cpu_s",
                other,
                if node { 1.5 } else { 1.0 },
                true,
            ),
            (
                "stream MB per server CPU second",
                "stream.per_cpu_s",
                other,
                if node { 1.5 } else { 1.0 },
                true,
            ),
            (
                "full handshakes per server CPU second",
                "hsf.per_cpu_s",
                other,
                1.0,
                true,
            ),
            (
                "resumptions per server CPU second",
                resumed_metric(other),
                other,
                1.0,
                true,
            ),
            (
                "idle KiB per TLS connection",
                "idle.kib",
                other,
                if node { 1.0 / 3.0 } else { 1.0 },
                false,
            ),
        ]);
        if node {
            checks.extend([
                ("full handshakes/s", "hsf.hs_per_s", other, 1.0, true),
                ("resumed handshakes/s", "hsr.hs_per_s", other, 1.0, true),
            ]);
        }
    }
    println!("\ntargets (medians): nodenet against tokio-rustls and Node");
    for (label, metric, other, factor, higher) in checks {
        let (Some(mine), Some(theirs)) = (value("nodenet", metric), value(other, metric)) else {
            continue;
        };
        let bound = theirs * factor;
        let ok = if higher { mine >= bound } else { mine <= bound };
        let op = if higher { ">=" } else { "<=" };
        let rel = if factor == 1.0 {
            op.to_string()
        } else if higher {
            format!("{op} {factor}x")
        } else {
            format!("{op} 1/{:.0} x", 1.0 / factor)
        };
        println!(
            "  {:<7}{label:<38} nodenet {} {rel} {other} {}",
            if ok { "met" } else { "MISSED" },
            fmt_value(mine),
            fmt_value(theirs),
        );
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn main() {
    let flags = Flags::from_env(&["quick", "unix", "tls"]).unwrap_or_else(|e| {
        eprintln!("compare: {e}");
        std::process::exit(2)
    });
    let quick = flags.has("quick");
    let get = |name: &str, default: f64| -> f64 {
        flags.get(name, default).unwrap_or_else(|e| {
            eprintln!("compare: {e}");
            std::process::exit(2)
        })
    };
    let exe = std::env::current_exe().expect("own path");
    let bin_dir = exe.parent().expect("a directory").to_path_buf();
    let peers_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers");

    let pin = taskset_works();
    let unix_dir = flags.has("unix").then(|| {
        let dir = std::env::temp_dir().join(format!("nodenet-perf-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        dir
    });
    let tls = flags.has("tls").then(|| {
        TlsFiles::generate().unwrap_or_else(|e| {
            eprintln!("compare: --tls: {e}");
            std::process::exit(2)
        })
    });
    let settings = Settings {
        reps: get("reps", if quick { 1.0 } else { 3.0 }).max(1.0) as usize,
        secs: get("secs", if quick { 1.0 } else { 3.0 }),
        warmup: get("warmup", if quick { 0.3 } else { 0.5 }),
        stream_conns: get("stream-conns", 4.0) as usize,
        // TLS streams run at a few hundred MB/s: 16 MiB would be a few
        // clock ticks of server CPU.
        stream_bytes: get(
            "stream-mib",
            if quick && !flags.has("tls") {
                16.0
            } else {
                64.0
            },
        ) as u64
            * 1024
            * 1024,
        idle_conns: get("idle-conns", 10_000.0) as usize,
        pin,
        loadgen: bin_dir.join("loadgen"),
        unix_dir,
        tls,
        hs_conns: get("hs-conns", 256.0).max(1.0) as usize,
    };

    let all = if let Some(tls) = &settings.tls {
        let mut node_args = vec![peers_dir.join("tls_echo.js").display().to_string()];
        node_args.extend(tls.server_args());
        vec![
            Peer {
                name: "nodenet",
                program: bin_dir.join("examples").join("tls_echo"),
                args: tls.server_args(),
                idle_args: vec!["--timeout".into(), "300".into()],
            },
            Peer {
                name: "node",
                program: PathBuf::from("node"),
                args: node_args,
                idle_args: vec![],
            },
            Peer {
                name: "tokio",
                program: bin_dir.join("tokio_tls_echo"),
                args: tls.server_args(),
                idle_args: vec![],
            },
        ]
    } else {
        tcp_peers(&bin_dir, &peers_dir)
    };
    let default_only = if settings.tls.is_some() {
        "nodenet,node,tokio"
    } else {
        "nodenet,node,tokio,mio"
    };
    let only = flags.str("only", default_only);
    let wanted: Vec<&str> = only.split(',').map(str::trim).collect();
    let mut peers: Vec<Peer> = all
        .into_iter()
        .filter(|p| wanted.contains(&p.name))
        .collect();

    if !settings.loadgen.exists() {
        eprintln!(
            "compare: missing {}\nbuild first:\n  cargo build --release -p nodenet-perf --bins",
            settings.loadgen.display()
        );
        std::process::exit(2);
    }
    let example_build = if settings.tls.is_some() {
        "cargo build --release --features tls-aws-lc-rs --example tls_echo"
    } else {
        "cargo build --release --example echo"
    };
    peers.retain(|p| {
        if p.name == "node" || p.program.exists() {
            return true;
        }
        let build = if p.name == "nodenet" {
            example_build
        } else {
            "cargo build --release -p nodenet-perf --bins"
        };
        println!(
            "note: {} is missing: the {} peer is skipped (build it: {build})",
            p.program.display(),
            p.name
        );
        false
    });
    let node_ok = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !node_ok && peers.iter().any(|p| p.name == "node") {
        println!("note: `node` is not on PATH: the Node peer is skipped");
        peers.retain(|p| p.name != "node");
    }
    if peers.is_empty() {
        eprintln!("compare: no server to measure");
        std::process::exit(2);
    }
    if !pin {
        println!(
            "note: `taskset` is missing or fewer than 2 CPUs are usable: \
             server and load generator are NOT pinned, figures are less stable"
        );
    }

    println!(
        "nodenet {} comparison over {}: {} rep(s), ping-pong{} windows of {} s after {} s \
         warm-up; server on CPU 0, load generator on CPU 1{}; load average {}",
        if settings.tls.is_some() {
            "TLS echo"
        } else {
            "echo"
        },
        match &settings.unix_dir {
            Some(dir) => format!("Unix sockets in {}", dir.display()),
            None => "TCP 127.0.0.1".to_string(),
        },
        settings.reps,
        if settings.tls.is_some() {
            " and handshake"
        } else {
            ""
        },
        settings.secs,
        settings.warmup,
        if pin { "" } else { " (unpinned)" },
        loadavg()
    );
    if let Some(tls) = &settings.tls {
        println!(
            "TLS: self-signed P-256 certificate for localhost / 127.0.0.1 made for this run \
             in {}; the generator is rustls (aws-lc-rs) and verifies it",
            tls.dir.display()
        );
    }
    run(peers, settings);
}

/// The plain echo servers: nodenet's `examples/echo`, `echo.js`, tokio, mio.
fn tcp_peers(bin_dir: &Path, peers_dir: &Path) -> Vec<Peer> {
    vec![
        Peer {
            name: "nodenet",
            program: bin_dir.join("examples").join("echo"),
            args: vec![],
            idle_args: vec!["--timeout".into(), "300".into()],
        },
        Peer {
            name: "node",
            program: PathBuf::from("node"),
            args: vec![peers_dir.join("echo.js").display().to_string()],
            idle_args: vec![],
        },
        Peer {
            name: "tokio",
            program: bin_dir.join("tokio_echo"),
            args: vec![],
            idle_args: vec![],
        },
        Peer {
            name: "mio",
            program: bin_dir.join("mio_echo"),
            args: vec![],
            idle_args: vec![],
        },
    ]
}

/// Runs every repetition, prints the tables (and, with `--tls`, the
/// targets), cleans up and exits.
fn run(peers: Vec<Peer>, settings: Settings) {
    let started = Instant::now();
    let mut samples = Samples::new();
    let mut failures = Vec::new();
    for rep in 0..settings.reps {
        for peer in &peers {
            if let Err(e) = measure(&settings, peer, &mut samples, rep) {
                eprintln!("compare: {e}");
                failures.push(e);
            }
        }
    }
    print_table(&peers, &samples, &settings, Stat::Median);
    if settings.reps > 1 {
        print_table(&peers, &samples, &settings, Stat::Best);
    }
    println!(
        "\nRatios are value / nodenet's value: above 1 is better for msg/s and MB/s, \
         worse for CPU, latency and memory. \"best run\" takes each figure's best \
         repetition (other load on the machine only ever makes figures worse)."
    );
    println!(
        "took {:.0} s; load average at the end {}",
        started.elapsed().as_secs_f64(),
        loadavg()
    );
    if settings.tls.is_some() {
        print_tls_targets(&peers, &samples);
    }
    if let Some(dir) = &settings.unix_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    // The certificate's directory goes before `exit`, which runs no
    // destructors.
    drop(settings);
    if !failures.is_empty() {
        eprintln!("compare: {} measurement(s) failed", failures.len());
        std::process::exit(1);
    }
}

/// Whether `taskset` exists and two CPUs (0 and 1) are usable.
fn taskset_works() -> bool {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    cpus >= 2
        && Command::new("taskset")
            .args(["-c", "1", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}
