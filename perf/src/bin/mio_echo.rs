//! A minimal hand-written mio echo server: the ceiling for nodenet's design.
//!
//! ```text
//! mio_echo [--host H] [--port P]
//! mio_echo --path P
//! ```
//!
//! `--path P` listens on the Unix socket `P` instead (prints `listening on
//! P`); the loop is generic over the listener, so both are the same code.
//!
//! One thread, one `Poll`, every connection registered once (readable +
//! writable, edge-triggered) with its readiness cached. Reads land in one
//! 64 KiB buffer shared by all connections and are written straight back;
//! only what the kernel does not take is copied into the connection's small
//! pending buffer, and while that holds 64 KiB or more the connection is not
//! read (the kernel's window then pushes back on the client). An idle
//! connection owns no heap memory besides its slab entry.

use std::io;
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::{Events, Interest, Poll, Token};
use nodenet_perf::{announce_listening, announce_listening_path, Flags, MioStream};
use slab::Slab;

const LISTENER: Token = Token(usize::MAX);
const READ_BUF: usize = 64 * 1024;
const PENDING_MAX: usize = 64 * 1024;

/// A mio listener of either family.
trait Listener: mio::event::Source {
    type Stream: MioStream;
    fn accept_one(&self) -> io::Result<Self::Stream>;
}

impl Listener for TcpListener {
    type Stream = TcpStream;
    fn accept_one(&self) -> io::Result<TcpStream> {
        self.accept().map(|(s, _)| s)
    }
}

impl Listener for UnixListener {
    type Stream = UnixStream;
    fn accept_one(&self) -> io::Result<UnixStream> {
        self.accept().map(|(s, _)| s)
    }
}

struct Conn<S> {
    stream: S,
    pending: Vec<u8>,
    readable: bool,
    writable: bool,
    /// EPOLLRDHUP seen: a short read no longer means drained (the FIN is
    /// still to be read).
    peer_closed: bool,
    /// The peer's FIN was read: close once `pending` is flushed.
    eof: bool,
}

/// Writes `data` through, keeping what the kernel does not take. `Err` is
/// a dead connection.
fn echo<S: MioStream>(conn: &mut Conn<S>, data: &[u8]) -> io::Result<()> {
    if conn.pending.is_empty() && conn.writable {
        let mut off = 0;
        while off < data.len() {
            match conn.stream.write(&data[off..]) {
                Ok(n) => off += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    conn.writable = false;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        conn.pending.extend_from_slice(&data[off..]);
    } else {
        conn.pending.extend_from_slice(data);
    }
    Ok(())
}

fn flush<S: MioStream>(conn: &mut Conn<S>) -> io::Result<()> {
    let mut off = 0;
    while off < conn.pending.len() && conn.writable {
        match conn.stream.write(&conn.pending[off..]) {
            Ok(n) => off += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => conn.writable = false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    conn.pending.drain(..off);
    Ok(())
}

/// Flushes, then reads and echoes while readable and not backed up.
/// `Ok(false)`: the connection is finished and can be dropped.
fn pump<S: MioStream>(conn: &mut Conn<S>, buf: &mut [u8]) -> io::Result<bool> {
    flush(conn)?;
    while conn.readable && !conn.eof && conn.pending.len() < PENDING_MAX {
        match conn.stream.read(buf) {
            Ok(0) => conn.eof = true,
            Ok(n) => {
                if n < buf.len() && !conn.peer_closed {
                    conn.readable = false;
                }
                echo(conn, &buf[..n])?;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => conn.readable = false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if conn.eof && conn.pending.is_empty() {
        let _ = conn.stream.shutdown_write();
        return Ok(false);
    }
    Ok(true)
}

fn main() {
    let flags = Flags::from_env(&[]).unwrap_or_else(|e| {
        eprintln!("mio_echo: {e}\nusage: mio_echo [--host H] [--port P] | --path P");
        std::process::exit(2)
    });
    let host = flags.str("host", "127.0.0.1");
    let port: u16 = flags.get("port", 7000).unwrap_or_else(|e| {
        eprintln!("mio_echo: {e}");
        std::process::exit(2)
    });
    let served = if flags.has("path") {
        let path = flags.str("path", "");
        UnixListener::bind(&path)
            .and_then(|listener| serve(listener, || announce_listening_path(&path)))
    } else {
        bind_tcp(&host, port).and_then(|listener| {
            let port = listener.local_addr()?.port();
            serve(listener, || announce_listening(&host, port))
        })
    };
    if let Err(e) = served {
        eprintln!("mio_echo: {e}");
        std::process::exit(1);
    }
}

fn bind_tcp(host: &str, port: u16) -> io::Result<TcpListener> {
    let addr: SocketAddr = format!("{host}:{port}")
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{host}: {e}")))?;
    TcpListener::bind(addr)
}

fn serve<L: Listener>(mut listener: L, announce: impl FnOnce()) -> io::Result<()> {
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    announce();
    let mut events = Events::with_capacity(1024);
    let mut conns: Slab<Conn<L::Stream>> = Slab::new();
    let mut buf = vec![0u8; READ_BUF];
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                accept_all(&listener, &poll, &mut conns);
                continue;
            }
            let key = event.token().0;
            let Some(conn) = conns.get_mut(key) else {
                continue;
            };
            if event.is_writable() || event.is_write_closed() || event.is_error() {
                conn.writable = true;
            }
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                conn.readable = true;
                conn.peer_closed |= event.is_read_closed() || event.is_error();
            }
            match pump(conn, &mut buf) {
                Ok(true) => {}
                Ok(false) | Err(_) => {
                    let mut conn = conns.remove(key);
                    let _ = poll.registry().deregister(&mut conn.stream);
                }
            }
        }
    }
}

fn accept_all<L: Listener>(listener: &L, poll: &Poll, conns: &mut Slab<Conn<L::Stream>>) {
    loop {
        match listener.accept_one() {
            Ok(mut stream) => {
                let entry = conns.vacant_entry();
                let token = Token(entry.key());
                if poll
                    .registry()
                    .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                    .is_ok()
                {
                    entry.insert(Conn {
                        stream,
                        pending: Vec::new(),
                        readable: false,
                        writable: false,
                        peer_closed: false,
                        eof: false,
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // EMFILE and friends: the pending connection stays queued;
                // report and wait for the next readiness.
                eprintln!("mio_echo: accept: {e}");
                return;
            }
        }
    }
}
