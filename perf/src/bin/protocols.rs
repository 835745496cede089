//! The protocol benchmark: nodenet's RESP and HTTP examples against the same
//! servers written for Node's `net`, Node's `http`, tokio, and the C
//! anchors redis-server and nginx, driven by `redis-benchmark` and `wrk`.
//!
//! ```text
//! cargo build --release -p nodenet-perf --bins
//! cargo build --release --example mini_redis --example http_hello
//! cargo run --release -p nodenet-perf --bin protocols -- [--quick] [--reps N]
//!     [--secs S] [--requests N] [--warmup S] [--only LIST]
//! ```
//!
//! - RESP: `redis-benchmark -c 50 -n N -t TEST -q --csv`, with and without
//!   `-P 16`, for `set`, `get`, `ping_mbulk` and `ping_inline` (`-t ping`
//!   is those two), one test per run so that the server's CPU is measured
//!   per test. Servers: `examples/mini_redis`, `peers/mini_redis.js` (Node
//!   `net`), `tokio_redis`, `redis-server`.
//! - HTTP: `wrk -t1 -c 50` and `-c 400` for `--secs` against `/`, and with
//!   16 requests per write (`peers/wrk_report.lua`, 50 connections).
//!   Servers: `examples/http_hello`, `peers/http_hello.js` (Node `net`),
//!   `peers/http_hello_http.js` (Node `http`), `tokio_http`, `nginx`.
//!
//! Each server runs pinned to CPU 0 and the load generator to CPU 1
//! (`taskset`), one server at a time, on a fresh port. Within a repetition
//! the servers take turns (the first one rotates from repetition to
//! repetition); each server is started fresh, checked with a few requests
//! of its protocol, warmed up, then runs every workload. Figures are the
//! median of the repetitions: requests/s (redis-benchmark's own figure;
//! wrk's requests / its duration), and server CPU µs per request: the CPU
//! time of the server's process tree (every process and thread; nginx's
//! master and worker) over the load generator's run / the requests made.
//! The CPU time is read from each process's CPU-time clock
//! (`clock_getcpuclockid`): the same utime + stime as `/proc/<pid>/stat`
//! in nanoseconds rather than 10 ms ticks (`/proc` is the fallback, and
//! its figure is printed beside it for every run).
//!
//! A missing tool (`redis-benchmark`, `wrk`, `redis-server`, `nginx`,
//! `node`) is reported and what needs it skipped, never silently. Every
//! process it starts is killed when it exits or panics, and via
//! `PR_SET_PDEATHSIG` if it is killed (nginx's worker is the exception to
//! the last: it is the master's child, so a `kill -9` of this harness leaves
//! it behind; Ctrl-C reaches it through the process group).

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use nodenet_perf::{cpu_core_busy_secs, parse_result, process_cpu_secs, Flags};

// ---------------------------------------------------------------------------
// Servers and workloads

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Proto {
    Resp,
    Http,
}

/// The table's columns.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Column {
    Nodenet,
    /// nodenet's examples answering each request with its own `write()`
    /// (`--write-per-reply`): a straight port of Node code.
    NodenetStraight,
    NodeNet,
    NodeHttp,
    Tokio,
    /// redis-server for RESP, nginx for HTTP.
    Anchor,
}

const COLUMNS: [(Column, &str); 6] = [
    (Column::Nodenet, "nodenet"),
    (Column::NodenetStraight, "nodenet, a write per reply"),
    (Column::NodeNet, "Node `net`"),
    (Column::NodeHttp, "Node `http`"),
    (Column::Tokio, "tokio"),
    (Column::Anchor, "redis-server / nginx"),
];

/// How a server is started and how it says it is ready.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// Takes `--host H --port P`, prints `listening on HOST:PORT`.
    Announces,
    /// `redis-server --port P ...`: ready when it accepts a connection.
    RedisServer,
    /// `nginx` with a config written for it: ready when it accepts.
    Nginx,
}

#[derive(Clone, Debug)]
struct Peer {
    /// The name in `--only` and in the run lines.
    name: &'static str,
    column: Column,
    proto: Proto,
    program: PathBuf,
    args: Vec<String>,
    kind: Kind,
}

#[derive(Clone, Copy, Debug)]
enum Load {
    /// `redis-benchmark -t TEST [-P pipeline]`.
    Redis { test: &'static str, pipeline: u32 },
    /// `wrk -t1 -c conns`, `pipeline` requests per write.
    Wrk { conns: u32, pipeline: u32 },
}

#[derive(Clone, Copy, Debug)]
struct Row {
    id: &'static str,
    label: &'static str,
    proto: Proto,
    load: Load,
}

const fn redis(id: &'static str, label: &'static str, test: &'static str, pipeline: u32) -> Row {
    Row {
        id,
        label,
        proto: Proto::Resp,
        load: Load::Redis { test, pipeline },
    }
}

const fn wrk(id: &'static str, label: &'static str, conns: u32, pipeline: u32) -> Row {
    Row {
        id,
        label,
        proto: Proto::Http,
        load: Load::Wrk { conns, pipeline },
    }
}

/// The table's rows, in the table's order (the issue's five first).
const ROWS: [Row; 11] = [
    redis("get", "RESP GET, 50 connections", "get", 1),
    redis("get-p16", "RESP GET, pipeline of 16", "get", 16),
    wrk("http-50", "HTTP keep-alive, 50 connections", 50, 1),
    wrk("http-400", "HTTP keep-alive, 400 connections", 400, 1),
    wrk("http-p16", "HTTP pipeline of 16, 50 connections", 50, 16),
    redis("set", "RESP SET, 50 connections", "set", 1),
    redis("set-p16", "RESP SET, pipeline of 16", "set", 16),
    redis("ping", "RESP PING, 50 connections", "ping_mbulk", 1),
    redis("ping-p16", "RESP PING, pipeline of 16", "ping_mbulk", 16),
    redis(
        "ping-inline",
        "RESP inline PING, 50 connections",
        "ping_inline",
        1,
    ),
    redis(
        "ping-inline-p16",
        "RESP inline PING, pipeline of 16",
        "ping_inline",
        16,
    ),
];

/// The order a server runs its rows in: SET before GET, so that GET finds
/// the key (redis-benchmark uses one key, `key:__rand_int__`, without `-r`).
const RUN_ORDER: [&str; 11] = [
    "set",
    "get",
    "ping",
    "ping-inline",
    "set-p16",
    "get-p16",
    "ping-p16",
    "ping-inline-p16",
    "http-50",
    "http-400",
    "http-p16",
];

fn row(id: &str) -> Row {
    *ROWS.iter().find(|r| r.id == id).expect("a known row")
}

// ---------------------------------------------------------------------------
// Processes

/// Starts `cmd` so that it dies with this process even if this process is
/// killed without running its destructors.
fn spawn(mut cmd: Command) -> std::io::Result<Child> {
    // SAFETY: the closure runs in the forked child before exec and only
    // calls prctl, which is async-signal-safe; it touches no memory shared
    // with the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            // The signals this harness waits for in its own thread are
            // blocked in it, and a blocked mask survives exec: unblock them.
            let set = cleanup_signals();
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    cmd.spawn()
}

/// The servers alive now (their root pids): what a signal's cleanup kills.
static LIVE: Mutex<Vec<u32>> = Mutex::new(Vec::new());
/// The scratch directory, removed by a signal's cleanup too.
static SCRATCH: OnceLock<PathBuf> = OnceLock::new();

/// SIGINT, SIGTERM, SIGHUP.
fn cleanup_signals() -> libc::sigset_t {
    // SAFETY: sigemptyset / sigaddset only write the set on our stack.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGHUP);
        set
    }
}

/// Blocks SIGINT, SIGTERM and SIGHUP and waits for them in a thread that
/// kills every live server's process tree (nginx's worker included, which
/// `PR_SET_PDEATHSIG` on the master does not reach), removes the scratch
/// directory and exits. Must run before any other thread is started, so
/// that every thread inherits the blocked mask.
fn install_signal_cleanup() {
    let set = cleanup_signals();
    // SAFETY: pthread_sigmask reads the set and changes this thread's mask.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    std::thread::spawn(move || {
        let mut signal: libc::c_int = 0;
        // SAFETY: sigwait reads the set and writes the signal number.
        if unsafe { libc::sigwait(&set, &mut signal) } != 0 {
            return;
        }
        let live = LIVE.lock().map(|l| l.clone()).unwrap_or_default();
        for pid in live {
            kill_tree(pid);
        }
        if let Some(dir) = SCRATCH.get() {
            let _ = std::fs::remove_dir_all(dir);
        }
        eprintln!("protocols: signal {signal}: servers stopped");
        std::process::exit(128 + signal);
    });
}

/// SIGKILL to `root` (first, so that nginx's master cannot start a new
/// worker), then to its descendants; returns the pids killed.
fn kill_tree(root: u32) -> Vec<u32> {
    let tree = process_tree(root);
    for &pid in &tree {
        // SAFETY: kill has no memory-safety preconditions; the pids are a
        // server's process and its descendants.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
        }
    }
    tree
}

/// The process `root` and all its descendants (`/proc/*/stat`'s ppid).
fn process_tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // After the command name's ')': state, then ppid.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        if let Some(kids) = children.get(&tree[i]) {
            tree.extend(kids.iter().copied());
        }
        i += 1;
    }
    tree
}

/// A started server: its whole process tree is killed (the root first, so
/// that nginx's master cannot start a new worker) and reaped when dropped,
/// also on panic; then its scratch directory is removed.
struct Server {
    child: Child,
    port: u16,
    scratch: Option<PathBuf>,
}

impl Server {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let tree = kill_tree(self.pid());
        let _ = self.child.wait();
        // The root's children (nginx's worker) are ours now (we are their
        // subreaper, see main): reap them, or they stay zombies.
        for &pid in tree.iter().skip(1) {
            // SAFETY: waitpid writes nothing through a null status pointer;
            // a pid that is not our child returns ECHILD at once.
            unsafe {
                libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0);
            }
        }
        let pid = self.pid();
        if let Ok(mut live) = LIVE.lock() {
            live.retain(|p| *p != pid);
        }
        if let Some(dir) = &self.scratch {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot find a free port: {e}"))
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

struct Settings {
    reps: usize,
    /// wrk's duration, whole seconds.
    secs: u64,
    warmup_secs: u64,
    /// redis-benchmark's `-n` without pipelining; 10 times that with `-P 16`.
    requests: u64,
    pin: bool,
    scratch: PathBuf,
    wrk_script: PathBuf,
}

impl Settings {
    fn redis_requests(&self, pipeline: u32) -> u64 {
        if pipeline > 1 {
            self.requests * 10
        } else {
            self.requests
        }
    }
}

fn nginx_config(dir: &Path, port: u16) -> String {
    let d = dir.display();
    format!(
        "# Written by nodenet-perf's protocols bench.\n\
         worker_processes 1;\n\
         daemon off;\n\
         master_process on;\n\
         pid {d}/nginx.pid;\n\
         error_log {d}/error.log warn;\n\
         events {{\n    worker_connections 4096;\n}}\n\
         http {{\n\
         \x20   access_log off;\n\
         \x20   server_tokens off;\n\
         \x20   keepalive_requests 100000000;\n\
         \x20   keepalive_timeout 75s;\n\
         \x20   client_body_temp_path {d}/body;\n\
         \x20   proxy_temp_path {d}/proxy;\n\
         \x20   fastcgi_temp_path {d}/fastcgi;\n\
         \x20   uwsgi_temp_path {d}/uwsgi;\n\
         \x20   scgi_temp_path {d}/scgi;\n\
         \x20   server {{\n\
         \x20       listen 127.0.0.1:{port};\n\
         \x20       location / {{\n\
         \x20           default_type text/plain;\n\
         \x20           return 200 'Hello, World!';\n\
         \x20       }}\n\
         \x20   }}\n\
         }}\n"
    )
}

/// Starts a server on a fresh port and waits until it is ready.
fn start_server(peer: &Peer, s: &Settings) -> Result<Server, String> {
    static STARTED: AtomicUsize = AtomicUsize::new(0);
    let port = free_port();
    let mut args = peer.args.clone();
    let mut scratch = None;
    match peer.kind {
        Kind::Announces => args.extend([
            "--host".to_string(),
            "127.0.0.1".to_string(),
            "--port".to_string(),
            port.to_string(),
        ]),
        Kind::RedisServer | Kind::Nginx => {
            let n = STARTED.fetch_add(1, Ordering::Relaxed);
            let dir = s.scratch.join(format!("{}-{n}", peer.name));
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            if peer.kind == Kind::Nginx {
                let conf = dir.join("nginx.conf");
                std::fs::write(&conf, nginx_config(&dir, port))
                    .map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
                args.extend([
                    "-p".to_string(),
                    format!("{}/", dir.display()),
                    "-c".to_string(),
                    conf.display().to_string(),
                    "-e".to_string(),
                    dir.join("error.log").display().to_string(),
                ]);
            } else {
                args.extend([
                    "--port".to_string(),
                    port.to_string(),
                    "--bind".to_string(),
                    "127.0.0.1".to_string(),
                    "--save".to_string(),
                    String::new(),
                    "--appendonly".to_string(),
                    "no".to_string(),
                    "--daemonize".to_string(),
                    "no".to_string(),
                    "--dir".to_string(),
                    dir.display().to_string(),
                    "--logfile".to_string(),
                    dir.join("redis.log").display().to_string(),
                ]);
            }
            scratch = Some(dir);
        }
    }
    let mut cmd = command(s.pin, 0, &peer.program, &args);
    cmd.stdin(Stdio::null()).stderr(Stdio::inherit());
    cmd.stdout(if peer.kind == Kind::Announces {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let child = spawn(cmd).map_err(|e| format!("{}: {e}", peer.program.display()))?;
    if let Ok(mut live) = LIVE.lock() {
        live.push(child.id());
    }
    let mut server = Server {
        child,
        port,
        scratch,
    };
    if peer.kind == Kind::Announces {
        let stdout = server.child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            // Keep draining so the server never blocks on a full pipe.
            for _ in lines {}
        });
        return match rx.recv_timeout(Duration::from_secs(15)) {
            Ok(Some(Ok(line))) if line.starts_with("listening on") => Ok(server),
            Ok(other) => Err(format!(
                "{} did not say `listening on`: {other:?}",
                peer.name
            )),
            Err(_) => Err(format!("{} did not start listening within 15 s", peer.name)),
        };
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(server);
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            let log = server
                .scratch
                .as_ref()
                .and_then(|d| {
                    std::fs::read_to_string(d.join("error.log"))
                        .or_else(|_| std::fs::read_to_string(d.join("redis.log")))
                        .ok()
                })
                .unwrap_or_default();
            return Err(format!("{} exited ({status}): {}", peer.name, log.trim()));
        }
        if Instant::now() > deadline {
            return Err(format!("{} did not accept within 15 s", peer.name));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs a load generator to completion (killed after `limit`): its stdout.
fn run_tool(
    s: &Settings,
    program: &str,
    args: &[String],
    limit: Duration,
) -> Result<String, String> {
    let mut cmd = command(s.pin, 1, Path::new(program), args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = spawn(cmd).map_err(|e| format!("{program}: {e}"))?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
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
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{program} did not finish within {limit:?}"));
            }
            Err(e) => return Err(format!("{program}: {e}")),
        }
    };
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    if !status.success() {
        return Err(format!("{program} failed ({status}): {}", err.trim()));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// CPU time

/// The CPU time of process `pid` (all its threads, the exited ones too) in
/// seconds from its CPU-time clock: utime + stime in nanoseconds.
fn cpu_clock_secs(pid: u32) -> Option<f64> {
    let mut clock: libc::clockid_t = 0;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: both calls write only to the locals passed by pointer.
    unsafe {
        if libc::clock_getcpuclockid(pid as libc::pid_t, &mut clock) != 0 {
            return None;
        }
        if libc::clock_gettime(clock, &mut ts) != 0 {
            return None;
        }
    }
    Some(ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9)
}

/// CPU figures of a server's process tree at one moment.
#[derive(Clone, Copy)]
struct CpuSample {
    /// The CPU-time clocks (or `/proc` where a clock cannot be read).
    clock: f64,
    /// `/proc/<pid>/stat` utime + stime, in 10 ms ticks.
    proc_ticks: f64,
    /// CPU 0's busy time (`/proc/stat`), whoever ran there.
    core0: f64,
}

fn sample_cpu(pids: &[u32]) -> Result<CpuSample, String> {
    let mut sample = CpuSample {
        clock: 0.0,
        proc_ticks: 0.0,
        core0: cpu_core_busy_secs(0).unwrap_or(0.0),
    };
    for &pid in pids {
        let proc_secs =
            process_cpu_secs(pid).map_err(|e| format!("/proc/{pid}/stat: {e} (did it exit?)"))?;
        sample.proc_ticks += proc_secs;
        sample.clock += cpu_clock_secs(pid).unwrap_or(proc_secs);
    }
    Ok(sample)
}

// ---------------------------------------------------------------------------
// Protocol checks: a server must answer correctly before it is measured

fn exchange(port: u16, request: &[u8], done: impl Fn(&[u8]) -> bool) -> Result<Vec<u8>, String> {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(request)
        .map_err(|e| format!("write: {e}"))?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !done(&got) {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => {
                return Err(format!(
                    "read: {e}; got {:?}",
                    String::from_utf8_lossy(&got)
                ))
            }
        }
    }
    Ok(got)
}

/// RESP: SET, GET, PING in both forms, DEL, pipelined in one write.
fn check_resp(port: u16) -> Result<String, String> {
    let request = b"*3\r\n$3\r\nSET\r\n$11\r\nprobe:check\r\n$3\r\nxyz\r\n\
                    *2\r\n$3\r\nGET\r\n$11\r\nprobe:check\r\n\
                    PING\r\n*1\r\n$4\r\nPING\r\n\
                    *2\r\n$3\r\nDEL\r\n$11\r\nprobe:check\r\n";
    let expected = b"+OK\r\n$3\r\nxyz\r\n+PONG\r\n+PONG\r\n:1\r\n";
    let got = exchange(port, request, |got| got.len() >= expected.len())?;
    if got != expected {
        return Err(format!(
            "answered {:?}, expected {:?}",
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected)
        ));
    }
    Ok("answers SET, GET, PING (both forms), DEL".into())
}

/// HTTP: two pipelined `GET /`; each must be `200` with the body.
fn check_http(port: u16) -> Result<String, String> {
    const BODY: &[u8] = b"Hello, World!";
    let request =
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let count = |got: &[u8]| got.windows(BODY.len()).filter(|w| *w == BODY).count();
    let got = exchange(port, request, |got| count(got) >= 2)?;
    let text = String::from_utf8_lossy(&got);
    if count(&got) != 2
        || !got.starts_with(b"HTTP/1.1 200 OK\r\n")
        || text.matches("HTTP/1.1 200 OK\r\n").count() != 2
    {
        return Err(format!("answered {text:?}"));
    }
    Ok(format!(
        "answers pipelined GET /, {} bytes per response",
        got.len() / 2
    ))
}

// ---------------------------------------------------------------------------
// Measurements

/// One measured run: requests made, requests/s, server CPU (clock and
/// `/proc`) and CPU 0 busy time over the run.
struct Run {
    requests: f64,
    rps: f64,
    cpu: f64,
    proc_cpu: f64,
    core0: f64,
    note: String,
}

fn redis_benchmark_args(
    port: u16,
    test: &str,
    pipeline: u32,
    requests: u64,
    csv: bool,
) -> Vec<String> {
    let mut args: Vec<String> = [
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-c",
        "50",
        "-n",
        &requests.to_string(),
        "-t",
        test,
        "-q",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if pipeline > 1 {
        args.extend(["-P".to_string(), pipeline.to_string()]);
    }
    if csv {
        args.push("--csv".to_string());
    }
    args
}

/// The rps of `test` in redis-benchmark's `--csv` output:
/// `"GET","103626.94","0.251",...`.
fn parse_redis_csv(out: &str, test: &str) -> Option<f64> {
    let name = format!("\"{}\"", test.to_ascii_uppercase());
    out.lines().find_map(|line| {
        let mut fields = line.split(',');
        if fields.next()? != name {
            return None;
        }
        fields.next()?.trim_matches('"').parse().ok()
    })
}

fn wrk_args(s: &Settings, port: u16, conns: u32, pipeline: u32, secs: u64) -> Vec<String> {
    let mut args = vec![
        "-t1".to_string(),
        format!("-c{conns}"),
        format!("-d{secs}s"),
        "--timeout".to_string(),
        "5s".to_string(),
        "-s".to_string(),
        s.wrk_script.display().to_string(),
        format!("http://127.0.0.1:{port}/"),
    ];
    if pipeline > 1 {
        args.extend(["--".to_string(), pipeline.to_string()]);
    }
    args
}

/// Runs one row's load against a started server and measures it.
fn measure_row(s: &Settings, server: &Server, r: &Row) -> Result<Run, String> {
    let pids = process_tree(server.pid());
    let before = sample_cpu(&pids)?;
    let (requests, rps, note) = match r.load {
        Load::Redis { test, pipeline } => {
            let n = s.redis_requests(pipeline);
            let limit = Duration::from_secs(30 + n / 10_000);
            let out = run_tool(
                s,
                "redis-benchmark",
                &redis_benchmark_args(server.port, test, pipeline, n, true),
                limit,
            )?;
            let rps = parse_redis_csv(&out, test)
                .ok_or_else(|| format!("no {test} line in redis-benchmark's output: {out:?}"))?;
            (n as f64, rps, String::new())
        }
        Load::Wrk { conns, pipeline } => {
            let out = run_tool(
                s,
                "wrk",
                &wrk_args(s, server.port, conns, pipeline, s.secs),
                Duration::from_secs(s.secs + 30),
            )?;
            let res = out
                .lines()
                .find_map(parse_result)
                .ok_or_else(|| format!("wrk printed no RESULT line: {out:?}"))?;
            let requests = res.get("requests").copied().unwrap_or(0.0);
            let duration = res.get("duration_us").copied().unwrap_or(0.0) / 1e6;
            if requests <= 0.0 || duration <= 0.0 {
                return Err(format!("wrk made no requests: {out:?}"));
            }
            let errors: f64 = [
                "connect_errors",
                "read_errors",
                "write_errors",
                "status_errors",
                "timeouts",
            ]
            .iter()
            .filter_map(|k| res.get(*k))
            .sum();
            if errors > requests * 0.01 {
                return Err(format!(
                    "wrk: {errors} errors for {requests} requests: {out:?}"
                ));
            }
            let mut note = String::new();
            // wrk times a pipelined batch, not a request: no latency then.
            if pipeline == 1 {
                note += &format!(
                    ", latency p50 {} / p99 {} µs",
                    res.get("p50_us").copied().unwrap_or(0.0),
                    res.get("p99_us").copied().unwrap_or(0.0)
                );
            }
            if errors > 0.0 {
                note += &format!(", {errors} wrk errors");
            }
            (requests, requests / duration, note)
        }
    };
    let after = sample_cpu(&pids)?;
    let per = |a: f64, b: f64| (a - b) * 1e6 / requests;
    Ok(Run {
        requests,
        rps,
        cpu: per(after.clock, before.clock),
        proc_cpu: per(after.proc_ticks, before.proc_ticks),
        core0: per(after.core0, before.core0),
        note,
    })
}

/// A short load before the measured runs: Node's JIT, the servers' first
/// allocations, the kernel's socket caches.
fn warm_up(s: &Settings, server: &Server, proto: Proto) -> Result<(), String> {
    match proto {
        Proto::Resp => {
            let n = (s.requests / 5).max(2000);
            run_tool(
                s,
                "redis-benchmark",
                &redis_benchmark_args(server.port, "set,get", 1, n, false),
                Duration::from_secs(30 + n / 5_000),
            )
            .map(drop)
        }
        Proto::Http if s.warmup_secs > 0 => run_tool(
            s,
            "wrk",
            &wrk_args(s, server.port, 50, 1, s.warmup_secs),
            Duration::from_secs(s.warmup_secs + 30),
        )
        .map(drop),
        Proto::Http => Ok(()),
    }
}

/// Per (server, row): the runs' requests/s and CPU µs per request.
#[derive(Default)]
struct Samples {
    rps: HashMap<(&'static str, &'static str), Vec<f64>>,
    cpu: HashMap<(&'static str, &'static str), Vec<f64>>,
    failed: HashSet<(&'static str, &'static str)>,
    /// Runs during which CPU 0 was busier than the server by over 20 %.
    disturbed: usize,
    runs: usize,
}

/// One repetition of a server's rows: a fresh server, its protocol
/// checked, warmed up, then each row in `RUN_ORDER`. A failure restarts the
/// server once and goes on from the row that failed.
fn measure_server(
    s: &Settings,
    peer: &Peer,
    rows: &[Row],
    rep: usize,
    samples: &mut Samples,
    failures: &mut Vec<String>,
) {
    let start = |first: bool| -> Result<Server, String> {
        let server = start_server(peer, s)?;
        let check = match peer.proto {
            Proto::Resp => check_resp(server.port),
            Proto::Http => check_http(server.port),
        }
        .map_err(|e| format!("{} does not answer as expected: {e}", peer.name))?;
        if first && rep == 0 {
            println!("  [{}] {check}", peer.name);
        }
        warm_up(s, &server, peer.proto).map_err(|e| format!("{} warm-up: {e}", peer.name))?;
        Ok(server)
    };
    let mut server = match start(true) {
        Ok(server) => Some(server),
        Err(e) => {
            eprintln!("protocols: {e}");
            failures.push(e);
            for r in rows {
                samples.failed.insert((peer.name, r.id));
            }
            return;
        }
    };
    for r in rows {
        let mut retried = false;
        loop {
            if server.is_none() {
                match start(false) {
                    Ok(started) => server = Some(started),
                    Err(e) => {
                        eprintln!("protocols: {e}");
                        failures.push(format!("{} {}: {e}", peer.name, r.id));
                        samples.failed.insert((peer.name, r.id));
                        break;
                    }
                }
            }
            match measure_row(s, server.as_ref().expect("started"), r) {
                Ok(run) => {
                    // CPU 0 runs the server alone: busy time well above the
                    // server's own CPU means something else ran there.
                    let shared = run.core0 > run.cpu * 1.2 + 0.05;
                    samples.runs += 1;
                    if shared {
                        samples.disturbed += 1;
                    }
                    println!(
                        "  [{} rep {}] {}: {} req/s, server CPU {:.2} µs/req \
                         (/proc ticks {:.2}, CPU 0 busy {:.2}), {} requests{}{}",
                        peer.name,
                        rep + 1,
                        r.label,
                        fmt_value(run.rps),
                        run.cpu,
                        run.proc_cpu,
                        run.core0,
                        run.requests,
                        run.note,
                        if shared { " [other load on CPU 0]" } else { "" }
                    );
                    samples
                        .rps
                        .entry((peer.name, r.id))
                        .or_default()
                        .push(run.rps);
                    samples
                        .cpu
                        .entry((peer.name, r.id))
                        .or_default()
                        .push(run.cpu);
                    break;
                }
                Err(e) if !retried => {
                    eprintln!(
                        "protocols: {} {}: {e}; retrying once on a fresh server",
                        peer.name, r.id
                    );
                    retried = true;
                    server = None;
                }
                Err(e) => {
                    let e = format!("{} {}: {e}", peer.name, r.id);
                    eprintln!("protocols: {e}");
                    failures.push(e);
                    samples.failed.insert((peer.name, r.id));
                    server = None;
                    break;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Tables

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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Figure {
    CpuMedian,
    CpuBest,
    RpsMedian,
}

/// What a table shows for a server that is not there.
struct Absent {
    /// (column, protocol) -> why it is not measured (a missing tool).
    skipped: HashMap<(Column, Proto), String>,
    /// Protocols whose load generator is missing.
    no_load: HashMap<Proto, String>,
}

fn print_table(peers: &[Peer], rows: &[Row], samples: &Samples, absent: &Absent, figure: Figure) {
    let title = match figure {
        Figure::CpuMedian => "server CPU µs per request",
        Figure::CpuBest => "server CPU µs per request, best run",
        Figure::RpsMedian => "requests/s",
    };
    let data = match figure {
        Figure::CpuMedian | Figure::CpuBest => &samples.cpu,
        Figure::RpsMedian => &samples.rps,
    };
    let summary = |v: &[f64]| match figure {
        Figure::CpuBest => v.iter().copied().reduce(f64::min),
        _ => median(v),
    };
    print!("\n| {title} |");
    for (_, name) in COLUMNS {
        print!(" {name} |");
    }
    println!();
    println!("|---|{}", "---:|".repeat(COLUMNS.len()));
    for r in rows {
        let value = |peer: &Peer| -> Option<f64> {
            summary(data.get(&(peer.name, r.id)).map_or(&[][..], |v| &v[..]))
        };
        let base = peers
            .iter()
            .find(|p| p.column == Column::Nodenet && p.proto == r.proto)
            .and_then(value);
        print!("| {} |", r.label);
        for (column, _) in COLUMNS {
            let peer = peers
                .iter()
                .find(|p| p.column == column && p.proto == r.proto);
            let cell = match peer {
                _ if absent.no_load.contains_key(&r.proto) => "skipped".to_string(),
                None if column == Column::NodeHttp && r.proto == Proto::Resp => "n/a".to_string(),
                None if absent.skipped.contains_key(&(column, r.proto)) => "skipped".to_string(),
                None => "-".to_string(),
                Some(p) => match value(p) {
                    None if samples.failed.contains(&(p.name, r.id)) => "failed".to_string(),
                    None => "-".to_string(),
                    Some(v) if column == Column::Nodenet => fmt_value(v),
                    Some(v) => match base {
                        Some(b) if b.abs() > 1e-12 => {
                            format!("{} ({:.2}×)", fmt_value(v), v / b)
                        }
                        _ => fmt_value(v),
                    },
                },
            };
            print!(" {cell} |");
        }
        println!();
    }
}

// ---------------------------------------------------------------------------
// Tools

/// Whether `program` runs (`args` should make it exit at once).
fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// The first line a program prints (stdout or stderr) for its version.
fn version(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()
        .map(|o| {
            let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&o.stderr));
            text.lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("?")
                .to_string()
        })
        .unwrap_or_else(|| "?".into())
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

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

const SERVER_NAMES: [&str; 7] = [
    "nodenet",
    "nodenet-straight",
    "node-net",
    "node-http",
    "tokio",
    "redis-server",
    "nginx",
];

fn main() {
    install_signal_cleanup();
    // Orphans of a server (nginx's worker once its master is killed) become
    // this process's children rather than init's, so that they are reaped.
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER only sets a process flag.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1);
    }
    let flags = Flags::from_env(&["quick"]).unwrap_or_else(|e| {
        eprintln!("protocols: {e}");
        std::process::exit(2)
    });
    let quick = flags.has("quick");
    let get = |name: &str, default: f64| -> f64 {
        flags.get(name, default).unwrap_or_else(|e| {
            eprintln!("protocols: {e}");
            std::process::exit(2)
        })
    };
    let exe = std::env::current_exe().expect("own path");
    let bin_dir = exe.parent().expect("a directory").to_path_buf();
    let peers_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers");
    let scratch = std::env::temp_dir().join(format!("nodenet-protocols-{}", std::process::id()));
    let pin = taskset_works();
    let settings = Settings {
        reps: get("reps", if quick { 1.0 } else { 3.0 }).max(1.0) as usize,
        secs: get("secs", if quick { 1.0 } else { 3.0 }).ceil().max(1.0) as u64,
        warmup_secs: get("warmup", 1.0).ceil().max(0.0) as u64,
        requests: get("requests", if quick { 20_000.0 } else { 100_000.0 }).max(1000.0) as u64,
        pin,
        scratch: scratch.clone(),
        wrk_script: peers_dir.join("wrk_report.lua"),
    };

    // --only: server names, protocols (resp, http) and row ids, any mix;
    // each kind given filters its own dimension.
    let only = flags.str("only", "");
    let tokens: Vec<&str> = only
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    for t in &tokens {
        if !SERVER_NAMES.contains(t)
            && !["resp", "http"].contains(t)
            && !ROWS.iter().any(|r| r.id == *t)
        {
            eprintln!(
                "protocols: --only: unknown {t:?}; servers: {}; protocols: resp, http; rows: {}",
                SERVER_NAMES.join(", "),
                ROWS.iter().map(|r| r.id).collect::<Vec<_>>().join(", ")
            );
            std::process::exit(2);
        }
    }
    let only_servers: Vec<&str> = tokens
        .iter()
        .copied()
        .filter(|t| SERVER_NAMES.contains(t))
        .collect();
    let only_protos: Vec<Proto> = tokens
        .iter()
        .filter_map(|t| match *t {
            "resp" => Some(Proto::Resp),
            "http" => Some(Proto::Http),
            _ => None,
        })
        .collect();
    let only_rows: Vec<&str> = tokens
        .iter()
        .copied()
        .filter(|t| ROWS.iter().any(|r| r.id == *t))
        .collect();
    let rows: Vec<Row> = ROWS
        .iter()
        .copied()
        .filter(|r| only_protos.is_empty() || only_protos.contains(&r.proto))
        .filter(|r| only_rows.is_empty() || only_rows.contains(&r.id))
        .collect();

    let node = |script: &str| vec![peers_dir.join(script).display().to_string()];
    let all = vec![
        (
            Column::Nodenet,
            Proto::Resp,
            "nodenet",
            bin_dir.join("examples/mini_redis"),
            vec![],
            Kind::Announces,
        ),
        (
            Column::NodenetStraight,
            Proto::Resp,
            "nodenet-straight",
            bin_dir.join("examples/mini_redis"),
            vec!["--write-per-reply".to_string()],
            Kind::Announces,
        ),
        (
            Column::NodeNet,
            Proto::Resp,
            "node-net",
            PathBuf::from("node"),
            node("mini_redis.js"),
            Kind::Announces,
        ),
        (
            Column::Tokio,
            Proto::Resp,
            "tokio",
            bin_dir.join("tokio_redis"),
            vec![],
            Kind::Announces,
        ),
        (
            Column::Anchor,
            Proto::Resp,
            "redis-server",
            PathBuf::from("redis-server"),
            vec![],
            Kind::RedisServer,
        ),
        (
            Column::Nodenet,
            Proto::Http,
            "nodenet",
            bin_dir.join("examples/http_hello"),
            vec![],
            Kind::Announces,
        ),
        (
            Column::NodenetStraight,
            Proto::Http,
            "nodenet-straight",
            bin_dir.join("examples/http_hello"),
            vec!["--write-per-reply".to_string()],
            Kind::Announces,
        ),
        (
            Column::NodeNet,
            Proto::Http,
            "node-net",
            PathBuf::from("node"),
            node("http_hello.js"),
            Kind::Announces,
        ),
        (
            Column::NodeHttp,
            Proto::Http,
            "node-http",
            PathBuf::from("node"),
            node("http_hello_http.js"),
            Kind::Announces,
        ),
        (
            Column::Tokio,
            Proto::Http,
            "tokio",
            bin_dir.join("tokio_http"),
            vec![],
            Kind::Announces,
        ),
        (
            Column::Anchor,
            Proto::Http,
            "nginx",
            PathBuf::from("nginx"),
            vec![],
            Kind::Nginx,
        ),
    ];
    let mut peers: Vec<Peer> = all
        .into_iter()
        .map(|(column, proto, name, program, args, kind)| Peer {
            name,
            column,
            proto,
            program,
            args,
            kind,
        })
        .filter(|p| only_servers.is_empty() || only_servers.contains(&p.name))
        .filter(|p| rows.iter().any(|r| r.proto == p.proto))
        .collect();

    // The binaries built here must exist: say what to build.
    let missing: Vec<String> = peers
        .iter()
        .filter(|p| p.program.is_absolute() && !p.program.exists())
        .map(|p| p.program.display().to_string())
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "protocols: missing {}\nbuild first:\n  cargo build --release -p nodenet-perf --bins\n  \
             cargo build --release --example mini_redis --example http_hello",
            missing.join(", ")
        );
        std::process::exit(2);
    }

    // Tools from outside: each missing one is said, and what needs it skipped.
    let install = "apt-get install -y redis-tools redis-server wrk nginx";
    let mut notes = Vec::new();
    let mut absent = Absent {
        skipped: HashMap::new(),
        no_load: HashMap::new(),
    };
    let mut versions = Vec::new();
    for (proto, tool, probe) in [
        (Proto::Resp, "redis-benchmark", &["--version"][..]),
        (Proto::Http, "wrk", &["-v"][..]),
    ] {
        if !rows.iter().any(|r| r.proto == proto) {
            continue;
        }
        if runs(tool, probe) {
            versions.push(version(tool, probe));
        } else {
            let why = format!(
                "`{tool}` is not installed ({install}): every {} row is skipped",
                match proto {
                    Proto::Resp => "RESP",
                    Proto::Http => "HTTP",
                }
            );
            notes.push(why.clone());
            absent.no_load.insert(proto, why);
            peers.retain(|p| p.proto != proto);
        }
    }
    for (tool, probe, columns) in [
        (
            "node",
            &["--version"][..],
            &[
                (Column::NodeNet, Proto::Resp),
                (Column::NodeNet, Proto::Http),
                (Column::NodeHttp, Proto::Http),
            ][..],
        ),
        (
            "redis-server",
            &["--version"][..],
            &[(Column::Anchor, Proto::Resp)][..],
        ),
        ("nginx", &["-v"][..], &[(Column::Anchor, Proto::Http)][..]),
    ] {
        let wanted: Vec<&Peer> = peers
            .iter()
            .filter(|p| p.program == Path::new(tool))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        if runs(tool, probe) {
            versions.push(version(tool, probe));
            continue;
        }
        let names: Vec<&str> = wanted.iter().map(|p| p.name).collect();
        notes.push(format!(
            "`{tool}` is not installed: {} skipped{}",
            names.join(", "),
            if tool == "node" {
                String::new()
            } else {
                format!(" ({install})")
            }
        ));
        for c in columns {
            absent.skipped.insert(*c, tool.to_string());
        }
        peers.retain(|p| p.program != Path::new(tool));
    }
    if !pin {
        notes.push(
            "`taskset` is missing or fewer than 2 CPUs are usable: servers and load generators \
             are NOT pinned, figures are less stable"
                .into(),
        );
    }
    for note in &notes {
        println!("note: {note}");
    }
    std::fs::create_dir_all(&scratch)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", scratch.display()));
    let _ = SCRATCH.set(scratch.clone());

    println!(
        "nodenet protocol comparison: {} rep(s); redis-benchmark -c 50 -n {} (-n {} with -P 16); \
         wrk -t1 for {} s after a {} s warm-up; servers on CPU 0, load generators on CPU 1{}; \
         load average {}",
        settings.reps,
        settings.requests,
        settings.redis_requests(16),
        settings.secs,
        settings.warmup_secs,
        if pin { "" } else { " (unpinned)" },
        loadavg()
    );
    if !versions.is_empty() {
        println!("tools: {}", versions.join("; "));
    }
    let started = Instant::now();
    let mut samples = Samples::default();
    let mut failures = Vec::new();
    for rep in 0..settings.reps {
        // The first server rotates, so that drift in the machine's load does
        // not always land on the same one.
        let n = peers.len().max(1);
        for i in 0..peers.len() {
            let peer = &peers[(i + rep) % n];
            let mine: Vec<Row> = RUN_ORDER
                .iter()
                .map(|id| row(id))
                .filter(|r| r.proto == peer.proto && rows.iter().any(|x| x.id == r.id))
                .collect();
            measure_server(&settings, peer, &mine, rep, &mut samples, &mut failures);
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);

    println!(
        "\nMedian of {} repetition(s); in brackets the ratio to nodenet.",
        settings.reps
    );
    print_table(&peers, &rows, &samples, &absent, Figure::CpuMedian);
    print_table(&peers, &rows, &samples, &absent, Figure::RpsMedian);
    if settings.reps > 1 {
        print_table(&peers, &rows, &samples, &absent, Figure::CpuBest);
    }
    println!(
        "\nServer CPU per request: the CPU time of the server's processes (all threads; \
         nginx's master and worker) over the load generator's run / requests made. \
         Ratios are value / nodenet's: above 1 is worse for CPU, better for requests/s. \
         \"n/a\": no such server for the protocol; \"skipped\": a tool is missing; \
         \"failed\": see the errors above."
    );
    if samples.disturbed > 0 {
        println!(
            "note: in {} of {} runs CPU 0 was busier than the server by over 20 % \
             (marked [other load on CPU 0] above): other load on the machine; its \
             figures are less clean{}",
            samples.disturbed,
            samples.runs,
            if settings.reps > 1 {
                ", see the best-run table"
            } else {
                ""
            }
        );
    }
    for note in &notes {
        println!("note: {note}");
    }
    println!(
        "took {:.0} s; load average at the end {}",
        started.elapsed().as_secs_f64(),
        loadavg()
    );
    if !failures.is_empty() {
        eprintln!("protocols: {} measurement(s) failed:", failures.len());
        for f in &failures {
            eprintln!("  {f}");
        }
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_csv_parses() {
        let out = "\"test\",\"rps\",\"avg_latency_ms\"\n\
                   \"PING_INLINE\",\"101010.10\",\"0.265\"\n\
                   \"GET\",\"103626.94\",\"0.251\"\n";
        assert_eq!(parse_redis_csv(out, "get"), Some(103626.94));
        assert_eq!(parse_redis_csv(out, "ping_inline"), Some(101010.10));
        assert_eq!(parse_redis_csv(out, "set"), None);
    }

    #[test]
    fn run_order_covers_every_row_once() {
        for r in ROWS {
            assert_eq!(
                RUN_ORDER.iter().filter(|id| **id == r.id).count(),
                1,
                "{}",
                r.id
            );
        }
        assert_eq!(RUN_ORDER.len(), ROWS.len());
    }

    #[test]
    fn own_process_tree_and_clock() {
        let me = std::process::id();
        assert_eq!(process_tree(me)[0], me);
        let clock = cpu_clock_secs(me).expect("own CPU clock");
        let proc_secs = process_cpu_secs(me).unwrap();
        // The same time, the clock in ns and /proc in ticks.
        assert!((clock - proc_secs).abs() < 0.5, "{clock} vs {proc_secs}");
    }
}
