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
//! loadgen --port P [--host H] [--server-pid PID] --mode handshakes
//!         [--conns 32] [--secs 3] [--warmup 0.5] [--resume]
//! ```
//!
//! `--tls --ca FILE` speaks TLS (rustls, aws-lc-rs provider) over every
//! connection, in every mode: the server's chain must verify against the
//! PEM certificate(s) in `FILE` (a CA, or the self-signed certificate
//! itself) for the name `localhost` (`--server-name` to change it).
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
//! - `handshakes`: `conns` clients each repeat, for `warmup` + `secs`
//!   seconds: connect, handshake, send one byte, read its echo, close
//!   (TLS: `close_notify`, then a reset). Counts the cycles completed in the
//!   window: handshakes/s, and with `--server-pid` the server's CPU per
//!   handshake. Without `--tls` it measures plain connection setup. TLS
//!   clients do full handshakes (no session cache) unless `--resume`: then
//!   all clients share one `ClientConfig` with an in-memory session cache,
//!   so that every handshake after a client's first is a TLS 1.3 resumption;
//!   the fraction that rustls reports as resumed (`handshake_kind()`) is
//!   printed.
//!
//! With TLS, every connection's handshake is part of what it does first:
//! ping-pong and idle connections count as confirmed at their first echo
//! (after the handshake), stream connections once the handshake is done,
//! before the transfer starts.
//!
//! With `--server-pid`, the server's CPU time (utime + stime) over the
//! measurement window is reported too; ping-pong also reports the busy time
//! of the server's core (`--server-cpu`, 0 by default) from `/proc/stat`,
//! which counts whatever else ran there. Connections are opened at most 256
//! unconfirmed at a time (listen backlogs are 511 and up) and closed with a
//! reset at the end, so no `TIME_WAIT` is left behind.
//!
//! The last line printed is `RESULT key=value ...` for the harness.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use mio::event::Source;
use mio::net::{TcpStream, UnixStream};
use mio::{Events, Interest, Poll, Registry, Token};
use nodenet_perf::{
    cpu_core_busy_secs, process_cpu_secs, process_rss_kib, Flags, MioStream, Pattern,
};
use rustls::client::{
    ClientSessionMemoryCache, ClientSessionStore, Resumption, Tls12ClientSessionValue,
    Tls13ClientSessionValue,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, HandshakeKind, NamedGroup, RootCertStore};

const READ_BUF: usize = 64 * 1024;
/// Connections opened but not yet confirmed (first echo, or connected for
/// `--no-send`), at most.
const MAX_UNCONFIRMED: usize = 256;
/// Latency histogram: 1 µs buckets up to this bound (the last one holds
/// everything slower). A second: handshakes queued behind hundreds of
/// others take longer than the 200 ms a round trip ever does.
const HIST_US: usize = 1_000_000;
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
    /// TLS: rustls sits between the socket and the generator.
    const TLS: bool = false;
    fn connect_to(target: &Target) -> io::Result<Self>;
    /// TLS: sends the records rustls has queued (`WouldBlock` while the
    /// socket is full). Nothing for a plain socket.
    fn send_queued(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// TLS: reads and processes records until the handshake is done
    /// (`Ok(true)`) or the socket is drained (`Ok(false)`).
    fn drive_handshake(&mut self) -> io::Result<bool> {
        Ok(true)
    }
    /// TLS: whether the handshake was a resumption.
    fn resumed(&self) -> bool {
        false
    }
    /// TLS: what was negotiated, for the report.
    fn describe(&self) -> Option<String> {
        None
    }
    /// TLS: queues a `close_notify` and sends it if the socket takes it.
    fn close_notify(&mut self) {}
    /// TLS: the socket reported readable again (a new edge).
    fn readable_edge(&mut self) {}
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

/// The TLS client configuration (`--tls`), set once before any connection.
static TLS_CONFIG: OnceLock<(Arc<ClientConfig>, ServerName<'static>)> = OnceLock::new();

/// rustls over a non-blocking socket, as the generator's byte stream.
///
/// Reading: plaintext rustls holds is handed out first; when it has none,
/// one `read_tls` (rustls reads the socket 4 KiB or so at a time) and
/// `process_new_packets`, and whatever that queued (the handshake's next
/// flight, alerts) is sent at once. `WouldBlock` only once the socket is
/// drained: a plaintext read shorter than the buffer says nothing of the
/// socket, so the generator's short-read shortcut is not taken; a short
/// socket read is (`drained`), which saves the `recv` that would only find
/// `EAGAIN` (until the next readable edge, `readable_edge`).
///
/// Writing: what is still queued goes first (`WouldBlock` while the socket
/// is full), then the plaintext is encrypted into rustls's buffer (64 KiB)
/// and sent as far as the socket takes it; a rest left queued goes out on
/// the next write or writable event (`send_queued`).
struct Tls<S> {
    sock: S,
    tls: ClientConnection,
    /// The last socket read was short and no readable edge came since: the
    /// socket has nothing.
    drained: bool,
}

/// Notes whether a read was short (`Tls::drained`).
struct ShortRead<'a, S> {
    sock: &'a mut S,
    short: bool,
}

impl<S: io::Read> io::Read for ShortRead<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.sock.read(buf)?;
        self.short = n < buf.len();
        Ok(n)
    }
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {e}"))
}

impl<S: Connect> Tls<S> {
    /// One socket read into rustls and its processing; `WouldBlock` when
    /// the socket has nothing (or was drained by the last read).
    fn receive(&mut self) -> io::Result<()> {
        if self.drained {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut rd = ShortRead {
            sock: &mut self.sock,
            short: false,
        };
        let n = self.tls.read_tls(&mut rd)?;
        self.drained = rd.short && n > 0;
        if let Err(e) = self.tls.process_new_packets() {
            // Send the alert rustls queued, as a client would.
            let _ = self.tls.write_tls(&mut self.sock);
            return Err(tls_error(e));
        }
        if n == 0 && self.tls.is_handshaking() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection during the handshake",
            ));
        }
        match self.send_queued() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(()),
        }
    }
}

impl<S: Connect> io::Read for Tls<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.tls.reader().read(buf) {
                // Ok(0): the server's close_notify.
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            self.receive()?;
        }
    }
}

impl<S: Connect> io::Write for Tls<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.send_queued()?;
        let n = self.tls.writer().write(buf)?;
        match self.send_queued() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
            _ => {}
        }
        if n == 0 && !buf.is_empty() {
            // rustls's buffer is full (plaintext queued before the
            // handshake is done).
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_queued()
    }
}

impl<S: Connect> Source for Tls<S> {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        self.sock.register(registry, token, interests)
    }
    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        self.sock.reregister(registry, token, interests)
    }
    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.sock.deregister(registry)
    }
}

impl<S: Connect> MioStream for Tls<S> {
    fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.take_error()
    }
    fn check_connected(&self) -> io::Result<()> {
        self.sock.check_connected()
    }
    fn set_nodelay(&self) {
        self.sock.set_nodelay();
    }
    fn shutdown_write(&self) -> io::Result<()> {
        self.sock.shutdown_write()
    }
    fn close_hard(&self) {
        self.sock.close_hard();
    }
}

impl<S: Connect> Connect for Tls<S> {
    const TLS: bool = true;

    fn connect_to(target: &Target) -> io::Result<Self> {
        let (config, name) = TLS_CONFIG.get().expect("--tls sets the client config");
        let sock = S::connect_to(target)?;
        let tls = ClientConnection::new(Arc::clone(config), name.clone()).map_err(tls_error)?;
        Ok(Tls {
            sock,
            tls,
            drained: false,
        })
    }

    fn send_queued(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.sock) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn drive_handshake(&mut self) -> io::Result<bool> {
        while self.tls.is_handshaking() {
            if let Err(e) = self.send_queued() {
                if e.kind() != io::ErrorKind::WouldBlock {
                    return Err(e);
                }
            }
            match self.receive() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        // The client's Finished; a rest goes out with the first write.
        match self.send_queued() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(true),
        }
    }

    fn resumed(&self) -> bool {
        self.tls.handshake_kind() == Some(HandshakeKind::Resumed)
    }

    fn describe(&self) -> Option<String> {
        let version = self.tls.protocol_version()?;
        let suite = self.tls.negotiated_cipher_suite()?;
        let group = self
            .tls
            .negotiated_key_exchange_group()
            .map_or("-".to_string(), |g| format!("{:?}", g.name()));
        Some(format!("{version:?} {:?} {group}", suite.suite()))
    }

    fn close_notify(&mut self) {
        self.tls.send_close_notify();
        let _ = self.send_queued();
    }

    fn readable_edge(&mut self) {
        self.drained = false;
    }
}

/// `--resume`'s session store: one pool of TLS 1.3 tickets that all the
/// generator's clients share (they all talk to one server under one name).
///
/// rustls's own `ClientSessionMemoryCache` keeps at most 8 tickets per
/// server, as befits one client: with dozens of clients starting
/// handshakes at once most would find none and do a full handshake. Here
/// every ticket a server sends is kept (up to `cap`, the oldest dropped
/// first) and each is used once, the newest first, as rustls does.
/// Everything else (key exchange hints, TLS 1.2 sessions) goes to a
/// `ClientSessionMemoryCache`.
#[derive(Debug)]
struct TicketPool {
    tickets: Mutex<VecDeque<Tls13ClientSessionValue>>,
    cap: usize,
    rest: ClientSessionMemoryCache,
}

impl ClientSessionStore for TicketPool {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.rest.set_kx_hint(server_name, group);
    }
    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.rest.kx_hint(server_name)
    }
    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.rest.set_tls12_session(server_name, value);
    }
    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.rest.tls12_session(server_name)
    }
    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.rest.remove_tls12_session(server_name);
    }
    fn insert_tls13_ticket(&self, _: ServerName<'static>, value: Tls13ClientSessionValue) {
        let mut tickets = self.tickets.lock().unwrap_or_else(|e| e.into_inner());
        if tickets.len() == self.cap {
            tickets.pop_front();
        }
        tickets.push_back(value);
    }
    fn take_tls13_ticket(&self, _: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        self.tickets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_back()
    }
}

/// The client configuration for `--tls`: the roots from `--ca`, the
/// aws-lc-rs provider's defaults, and a session cache only with `--resume`.
fn tls_config(flags: &Flags) -> (Arc<ClientConfig>, ServerName<'static>) {
    let ca = flags.str("ca", "");
    if ca.is_empty() {
        fatal("--tls needs --ca FILE (the PEM certificate to trust)");
    }
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(&ca)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .unwrap_or_else(|e| fatal(format!("{ca}: {e}")));
    for cert in certs {
        roots
            .add(cert)
            .unwrap_or_else(|e| fatal(format!("{ca}: {e}")));
    }
    if roots.is_empty() {
        fatal(format!("{ca}: no certificate"));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| fatal(format!("TLS versions: {e}")))
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = if flags.has("resume") {
        Resumption::store(Arc::new(TicketPool {
            tickets: Mutex::new(VecDeque::new()),
            cap: 4096,
            rest: ClientSessionMemoryCache::new(16),
        }))
    } else {
        Resumption::disabled()
    };
    let name = flags.str("server-name", "localhost");
    let name = ServerName::try_from(name.clone())
        .unwrap_or_else(|e| fatal(format!("--server-name {name}: {e}")));
    (Arc::new(config), name)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    PingPong,
    Stream,
    Idle,
    Handshakes,
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
    /// Handshakes mode: of the cycles counted, how many were resumptions;
    /// connections to open again once the listener takes them (a full
    /// Unix backlog).
    resumed: u64,
    reopen: Vec<usize>,
    /// TLS: what the first confirmed connection negotiated.
    negotiated: Option<String>,
}

impl<S: Connect> Gen<S> {
    /// Opens one more connection; false when the listener's backlog is full
    /// (a Unix socket's connect fails with `EAGAIN` then: try again later).
    fn open_one(&mut self) -> bool {
        let Some(stream) = self.connect(Token(self.conns.len())) else {
            return false;
        };
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

    /// A new connection registered under `token`; `None` when the
    /// listener's backlog is full.
    fn connect(&mut self, token: Token) -> Option<S> {
        let mut stream = match S::connect_to(&self.target) {
            Ok(stream) => stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
            Err(e) => fatal(format!("connect {}: {e}", self.target)),
        };
        self.poll
            .registry()
            .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
            .unwrap_or_else(|e| fatal(format!("register: {e}")));
        Some(stream)
    }

    /// Handshakes mode: closes connection `i` (TLS: `close_notify`, then a
    /// reset) and opens a fresh one in its place, or leaves that for the
    /// next turn when the listener's backlog is full.
    fn reopen(&mut self, i: usize) {
        let Some(stream) = self.connect(Token(i)) else {
            self.reopen.push(i);
            return;
        };
        let c = &mut self.conns[i];
        let mut old = std::mem::replace(&mut c.stream, stream);
        old.close_notify();
        old.close_hard();
        let _ = self.poll.registry().deregister(&mut old);
        drop(old);
        c.up = false;
        c.confirmed = false;
        c.readable = false;
        c.writable = false;
        c.tx_left = 0;
        c.rx_got = 0;
        c.sent_at = Instant::now();
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
            let c = &mut self.conns[i];
            if event.is_writable() || event.is_write_closed() || event.is_error() {
                c.writable = true;
            }
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                c.readable = true;
                c.stream.readable_edge();
            }
            if !c.up {
                if !c.writable {
                    continue;
                }
                self.finish_connect(i);
            } else if S::TLS && c.writable {
                // Records left queued when the socket was full.
                match c.stream.send_queued() {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => c.writable = false,
                    Err(e) => fatal(format!("write: {e}")),
                }
            }
            match self.mode {
                Mode::PingPong => self.pump_ping_pong(i),
                Mode::Stream => self.pump_stream(i),
                Mode::Idle => self.pump_idle(i),
                Mode::Handshakes => self.pump_handshake(i),
            }
        }
        if !self.reopen.is_empty() {
            for i in std::mem::take(&mut self.reopen) {
                self.reopen(i);
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
            // TLS: confirmed once the handshake is done (`pump_stream`).
            Mode::Stream if !S::TLS => {
                c.confirmed = true;
                self.confirmed += 1;
            }
            Mode::Stream => {}
            Mode::Handshakes => c.tx_left = 1,
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
    /// new edge). Not so over TLS: a short plaintext read says nothing of
    /// the socket (`Tls` reads until the socket is drained).
    fn read_burst(c: &mut Conn<S>, buf: &mut [u8], mut got: impl FnMut(&mut Conn<S>, &[u8])) {
        while c.readable {
            match c.stream.read(buf) {
                Ok(0) => fatal("the server closed a connection"),
                Ok(n) => {
                    if n < buf.len() && !S::TLS {
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
            if S::TLS && self.negotiated.is_none() {
                self.negotiated = self.conns[i].stream.describe();
            }
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
            let c = &mut self.conns[i];
            if S::TLS && c.up && !c.confirmed {
                match c.stream.drive_handshake() {
                    Ok(true) => {
                        c.confirmed = true;
                        self.confirmed += 1;
                        if self.negotiated.is_none() {
                            self.negotiated = c.stream.describe();
                        }
                    }
                    Ok(false) => {}
                    Err(e) => fatal(format!("handshake: {e}")),
                }
            }
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
            if S::TLS && self.negotiated.is_none() {
                self.negotiated = c.stream.describe();
            }
        }
    }

    /// Handshakes mode: the handshake runs under the one-byte write and the
    /// reads; the echo ends the cycle, and the connection is replaced.
    fn pump_handshake(&mut self, i: usize) {
        let c = &mut self.conns[i];
        if !c.up {
            return;
        }
        Self::write_message(c, &self.message[..1]);
        let mut got = false;
        Self::read_burst(c, &mut self.buf, |_, data| got |= !data.is_empty());
        if !got {
            return;
        }
        if S::TLS && self.negotiated.is_none() {
            self.negotiated = c.stream.describe();
        }
        if self.recording {
            self.count += 1;
            self.resumed += u64::from(c.stream.resumed());
            let us = c.sent_at.elapsed().as_micros().min(HIST_US as u128);
            self.hist[us as usize] += 1;
        }
        self.reopen(i);
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

    /// `; TLSv1_3 <suite> <group>` once a TLS connection got that far.
    fn tls_note(&self) -> String {
        self.negotiated
            .as_ref()
            .map_or(String::new(), |d| format!("; {d}"))
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
    let flags = Flags::from_env(&["no-send", "tls", "resume"]).unwrap_or_else(|e| fatal(e));
    let arg =
        |name: &str, default: f64| -> f64 { flags.get(name, default).unwrap_or_else(|e| fatal(e)) };
    let mode = match flags.str("mode", "pingpong").as_str() {
        "pingpong" => Mode::PingPong,
        "stream" => Mode::Stream,
        "idle" => Mode::Idle,
        "handshakes" => Mode::Handshakes,
        other => fatal(format!(
            "--mode {other}: pingpong, stream, idle or handshakes"
        )),
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
    let tls = flags.has("tls");
    if tls {
        let _ = TLS_CONFIG.set(tls_config(&flags));
    } else if flags.has("resume") {
        fatal("--resume needs --tls");
    }
    match (target, tls) {
        (target @ Target::Tcp(_), false) => run::<TcpStream>(&flags, mode, target),
        (target @ Target::Unix(_), false) => run::<UnixStream>(&flags, mode, target),
        (target @ Target::Tcp(_), true) => run::<Tls<TcpStream>>(&flags, mode, target),
        (target @ Target::Unix(_), true) => run::<Tls<UnixStream>>(&flags, mode, target),
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
        Mode::Handshakes => 32.0,
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
        resumed: 0,
        reopen: Vec::new(),
        negotiated: None,
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
                 server CPU {:.2} us/msg, generator CPU {:.2} us/msg{}",
                per_msg(server_cpu),
                per_msg(own_cpu),
                gen.tls_note()
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
                "stream {conns} conns x {} B, every byte verified: {rate:.1} MB/s, \
                 server CPU {:.1} us/MB{}",
                gen.bytes,
                server_cpu * 1e6 / mb,
                gen.tls_note()
            );
            println!(
                "RESULT mode=stream conns={conns} bytes_per_conn={} secs={elapsed:.3} \
                 mb_per_s={rate:.2} server_cpu_s={server_cpu:.3} server_cpu_us_per_mb={:.3}",
                gen.bytes,
                server_cpu * 1e6 / mb
            );
        }
        Mode::Handshakes => {
            let secs = arg("secs", 3.0);
            let warmup = arg("warmup", 0.5);
            for _ in 0..conns {
                while !gen.open_one() {
                    gen.poll_once(&mut events, Duration::from_millis(1));
                }
            }
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
            let n = gen.count;
            if n == 0 {
                fatal(format!("no handshake completed in {secs} s"));
            }
            let per = |s: f64| s * 1e6 / n as f64;
            let rate = n as f64 / elapsed;
            let resumed = gen.resumed as f64 / n as f64;
            let (p50, p99) = (gen.percentile_us(0.50), gen.percentile_us(0.99));
            eprintln!(
                "handshakes {conns} clients{}: {rate:.0}/s, {:.1} % resumed, connect to echo \
                 p50 {p50} us, p99 {p99} us, server CPU {:.1} us/handshake, generator CPU \
                 {:.1} us/handshake{}",
                if flags.has("resume") {
                    " (--resume)"
                } else {
                    ""
                },
                resumed * 100.0,
                per(server_cpu),
                per(own_cpu),
                gen.tls_note()
            );
            println!(
                "RESULT mode=handshakes conns={conns} secs={elapsed:.3} handshakes={n} \
                 handshakes_per_s={rate:.1} resumed_frac={resumed:.4} p50_us={p50} p99_us={p99} \
                 server_cpu_s={server_cpu:.3} server_cpu_us_per_hs={:.3} \
                 gen_cpu_us_per_hs={:.3} core_busy_us_per_hs={:.3}",
                per(server_cpu),
                per(own_cpu),
                per(core)
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
                "idle {conns} conns: server RSS {before} KiB -> {after} KiB, \
                 {per_conn:.3} KiB per connection{}",
                gen.tls_note()
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
