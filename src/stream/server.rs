//! `Server`: a listening socket's handle, the accept loop, the connection
//! count behind `close()` and `max_connections`.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use mio::net::TcpListener;

use crate::transport::{self, Accepted, Listener};
use mio::{Interest, Token};

use crate::emitter::{self, EventSpec, ListenerHost, Listeners, Payload, Shape};
use crate::error::{Error, ErrorCode};
use crate::event_loop::{self, with, Core, Tick, SERVER_TOKEN};
use crate::handle::Key;
use crate::stream::socket::{self, Socket};
use crate::tcp::{DropInfo, IntoPort, ListenOptions, ServerOptions};

const EV_LISTENING: u8 = 0;
const EV_CONNECTION: u8 = 1;
const EV_CLOSE: u8 = 2;
const EV_ERROR: u8 = 3;
const EV_DROP: u8 = 4;
const EV_SECURE_CONNECTION: u8 = 5;
const EV_TLS_CLIENT_ERROR: u8 = 6;
const EV_KEYLOG: u8 = 7;

const SERVER_EVENTS: &[EventSpec] = &[
    EventSpec::new("listening", Shape::Unit),
    EventSpec::new("connection", Shape::Socket),
    EventSpec::new("close", Shape::Unit),
    EventSpec::new("error", Shape::Error),
    EventSpec::new("drop", Shape::Drop),
    EventSpec::new("secureConnection", Shape::Socket),
    EventSpec::new("tlsClientError", Shape::TlsClientError),
    EventSpec::new("keylog", Shape::Keylog),
];

/// Deferred server work.
pub(crate) enum ServerTick {
    /// `'listening'` for the listen call with this sequence number.
    Listening(u64),
    Error(Error),
    Close,
}

pub(crate) struct ServerState {
    generation: u32,
    listener: Option<Listener>,
    pub(crate) listeners: Listeners<Server>,
    options: ServerOptions,
    connections: usize,
    max_connections: Option<usize>,
    refd: bool,
    address: Option<SocketAddr>,
    /// The Unix socket path as given, while listening on one.
    path: Option<std::path::PathBuf>,
    resolving: bool,
    /// Bumped by every listen and close, so a superseded listen's DNS
    /// answer or `'listening'` is ignored.
    listen_seq: u64,
    close_pending: bool,
    close_queued: bool,
    /// A TLS server's contexts and options (`tls::create_server`).
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<std::rc::Rc<crate::tls::ServerTls>>,
}

impl ServerState {
    pub(crate) fn generation(&self) -> u32 {
        self.generation
    }

    pub(crate) fn keeps_alive(&self) -> bool {
        self.refd && (self.listener.is_some() || self.resolving)
    }
}

/// A TCP server: a small `Copy` handle into the loop's state.
///
/// # Events
///
/// | event | listener |
/// |---|---|
/// | `"listening"`, `"close"` | `\|server: &Server\|` |
/// | `"connection"` | `\|server: &Server, socket: &Socket\|` |
/// | `"error"` | `\|server: &Server, err: &Error\|` |
/// | `"drop"` | `\|server: &Server, info: &DropInfo\|` |
///
/// # Examples
///
/// ```
/// use nodenet::{tcp, Bytes, Server, ServerOptions, Socket};
///
/// let server = tcp::create_server(ServerOptions::default(), |_: &Server, socket: &Socket| {
///     socket.on("data", |s: &Socket, chunk: &Bytes| {
///         s.write(chunk);
///     });
/// });
/// server.listen(0, "127.0.0.1")?;
/// let port = server.address().unwrap().port();
/// assert!(port > 0);
/// server.close();
/// nodenet::run()?;
/// # Ok::<(), nodenet::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Server {
    key: Key,
    _thread: PhantomData<*const ()>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Server({})", self.key.id())
    }
}

fn srv(c: &mut Core, key: Key) -> Option<&mut ServerState> {
    c.servers
        .get_mut(key.index())
        .filter(|s| s.generation == key.generation)
}

impl ListenerHost for Server {
    fn with_listeners<R>(&self, f: impl FnOnce(&mut Listeners<Self>) -> R) -> Option<R> {
        with(|c| srv(c, self.key).map(|s| f(&mut s.listeners)))
    }
}

impl emitter::EventTarget for Server {
    const NAME: &'static str = "Server";
    const EVENTS: &'static [EventSpec] = SERVER_EVENTS;
}

crate::emitter::emitter_methods!(
    Server,
    "```
use nodenet::{tcp, Server, ServerOptions, Socket};

let server = tcp::create_server(ServerOptions::default(), |_, _| {});
server
    .on(\"connection\", |_: &Server, socket: &Socket| {
        socket.end_with(\"hello\\n\");
    })
    .on(\"listening\", |srv: &Server| println!(\"on {:?}\", srv.address()));
server.listen(0, \"127.0.0.1\")?;
server.close();
nodenet::run()?;
# Ok::<(), nodenet::Error>(())
```"
);

crate::emitter::typed_events!(Server, "server" {
    "listening" => listening = EV_LISTENING, on_listening, once_listening, () as (),
        "the server is bound and accepting.";
    "connection" => connection = EV_CONNECTION, on_connection, once_connection,
        (&Socket) as (Socket,),
        "a connection was accepted (`|server, socket|`).";
    "close" => close = EV_CLOSE, on_close, once_close, () as (),
        "the server stopped listening and its last connection is closed.";
    "error" => error = EV_ERROR, on_error, once_error, (&Error) as (Error,),
        "listening or accepting failed (`|server, err|`).";
    "drop" => drop = EV_DROP, on_drop, once_drop, (&DropInfo) as (DropInfo,),
        "a connection was refused over `max_connections` (`|server, info|`).";
    "secureConnection" => secure_connection = EV_SECURE_CONNECTION, on_secure_connection,
        once_secure_connection, (&Socket) as (Socket,),
        "TLS: a connection's handshake is done (and its certificate judged) (`|server, socket|`).";
    "tlsClientError" => tls_client_error = EV_TLS_CLIENT_ERROR, on_tls_client_error,
        once_tls_client_error, (&Error, &Socket) as (Error, Socket),
        "TLS: a connection failed before `'secureConnection'` (`|server, err, socket|`); the \
         socket is destroyed already.";
    "keylog" => keylog = EV_KEYLOG, on_keylog, once_keylog,
        (&bytes::Bytes, &Socket) as (bytes::Bytes, Socket),
        "TLS: key material of a connection, one NSS key log line (`|server, line, socket|`).";
});

/// Whether the server has a `'keylog'` listener (its connections then
/// collect their secrets).
#[cfg(feature = "tls")]
pub(crate) fn has_keylog_listener(c: &mut Core, key: Key) -> bool {
    srv(c, key).is_some_and(|s| s.listeners.has(EV_KEYLOG))
}

/// `'secureConnection'` with the socket whose handshake is done.
#[cfg(feature = "tls")]
pub(crate) fn emit_secure_connection(key: Key, socket: &Socket) {
    emit(key, EV_SECURE_CONNECTION, &Payload::Socket(socket));
}

/// `'tlsClientError'`: nothing happens without a listener, as in Node.
#[cfg(feature = "tls")]
pub(crate) fn emit_tls_client_error(key: Key, err: &Error, socket: &Socket) {
    emit(
        key,
        EV_TLS_CLIENT_ERROR,
        &Payload::TlsClientError(err, socket),
    );
}

/// `'keylog'` on the server, with the connection's socket.
#[cfg(feature = "tls")]
pub(crate) fn emit_keylog(key: Key, line: &bytes::Bytes, socket: &Socket) {
    emit(key, EV_KEYLOG, &Payload::Keylog(line, socket));
}

fn emit(key: Key, event: u8, payload: &Payload<'_>) -> bool {
    let server = Server::from_key(key);
    let snapshot = with(|c| srv(c, key).map(|s| s.listeners.snapshot(event)));
    match snapshot {
        Some(snap) if !snap.is_empty() => {
            event_loop::catch(|| emitter::call(&server, snap, payload));
            true
        }
        _ => false,
    }
}

/// A connection accepted by this server was destroyed.
pub(crate) fn connection_gone(c: &mut Core, key: Key) {
    if let Some(s) = srv(c, key) {
        s.connections = s.connections.saturating_sub(1);
        if s.close_pending && s.connections == 0 {
            queue_close(c, key);
        }
    }
}

fn queue_close(c: &mut Core, key: Key) {
    if let Some(s) = srv(c, key) {
        s.close_pending = false;
        if !s.close_queued {
            s.close_queued = true;
            c.ticks.push_back(Tick::Server(key, ServerTick::Close));
        }
    }
}

pub(crate) fn run_tick(key: Key, tick: ServerTick) {
    match tick {
        ServerTick::Listening(seq) => {
            let current =
                with(|c| srv(c, key).is_some_and(|s| s.listen_seq == seq && s.listener.is_some()));
            if current {
                emit(key, EV_LISTENING, &Payload::Unit);
            }
        }
        ServerTick::Error(err) => {
            if !emit(key, EV_ERROR, &Payload::Error(&err)) {
                crate::uncaught::report(err, crate::ErrorOrigin::Server(Server::from_key(key)));
            }
        }
        ServerTick::Close => {
            with(|c| {
                if let Some(s) = srv(c, key) {
                    s.close_queued = false;
                }
            });
            emit(key, EV_CLOSE, &Payload::Unit);
            // As a socket's after its 'close': the slot and the listeners
            // (and what they capture) are freed, unless a listener made the
            // server listen again. Dropped outside the borrow.
            let freed = with(|c| {
                let s = srv(c, key)?;
                let done = s.listener.is_none()
                    && !s.resolving
                    && s.connections == 0
                    && !s.close_queued
                    && !s.close_pending;
                done.then(|| c.servers.remove(key.index()))
            });
            drop(freed);
        }
    }
}

enum Accept {
    Connection(Key),
    Dropped(DropInfo),
    Skip,
    Done,
}

fn accept_one(c: &mut Core, key: Key) -> Accept {
    let Some(s) = srv(c, key) else {
        return Accept::Done;
    };
    let Some(listener) = s.listener.as_ref() else {
        return Accept::Done;
    };
    match listener.accept() {
        Ok(Accepted { stream, peer }) => {
            let blocked = match (&s.options.block_list, peer) {
                (Some(list), Some(peer)) => list.check(peer.ip()),
                _ => false,
            };
            if blocked {
                drop(stream);
                return Accept::Skip;
            }
            if s.max_connections.is_some_and(|max| s.connections >= max) {
                let info = DropInfo {
                    local: stream.tcp().and_then(|t| t.local_addr().ok()),
                    remote: peer,
                };
                drop(stream);
                return Accept::Dropped(info);
            }
            let options = s.options.socket.clone();
            let paused = s.options.pause_on_connect;
            match socket::adopt(c, stream, peer, key, &options, paused) {
                Ok(sk) => {
                    if let Some(s) = srv(c, key) {
                        s.connections += 1;
                    }
                    #[cfg(feature = "tls")]
                    if let Some(tls) = srv(c, key).and_then(|s| s.tls.clone()) {
                        crate::tls::accept(c, sk, key, &tls);
                    }
                    Accept::Connection(sk)
                }
                Err(_) => Accept::Skip,
            }
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Accept::Done,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
            ) =>
        {
            Accept::Skip
        }
        Err(e) if is_out_of_descriptors(&e) => {
            log::warn!(
                "nodenet: {:?}: out of descriptors ({e}); closing the connections waiting to be accepted",
                Server::from_key(key)
            );
            shed_pending(c, key);
            Accept::Done
        }
        Err(e) => {
            log::warn!("nodenet: {:?}: accept failed: {e}", Server::from_key(key));
            c.ticks.push_back(Tick::Server(
                key,
                ServerTick::Error(Error::from_io(e, "accept", None)),
            ));
            Accept::Done
        }
    }
}

fn is_out_of_descriptors(e: &io::Error) -> bool {
    matches!(
        Error::from_io(
            io::Error::from_raw_os_error(e.raw_os_error().unwrap_or(0)),
            "accept",
            None
        )
        .kind(),
        ErrorCode::EMFILE | ErrorCode::ENFILE
    )
}

/// Out of descriptors: give up the spare one, accept and close everything
/// pending so clients are not left hanging and edge-triggered readiness is
/// not lost, then take the spare back (libuv's EMFILE trick).
fn shed_pending(c: &mut Core, key: Key) {
    drop(c.spare_fd.take());
    if let Some(listener) = srv(c, key).and_then(|s| s.listener.as_ref()) {
        while let Ok(Accepted { stream, .. }) = listener.accept() {
            drop(stream);
        }
    }
    c.spare_fd = std::fs::File::open("/dev/null").ok();
}

/// The listening socket is readable: accept until `WouldBlock`.
pub(crate) fn on_ready(index: usize) {
    let Some(key) = with(|c| c.servers.get(index).map(|s| Key::new(index, s.generation))) else {
        return;
    };
    accept_burst(key);
}

/// An accept burst a panic cut off, resumed by the next run.
pub(crate) fn accept_pending(key: Key) {
    accept_burst(key);
}

fn accept_burst(key: Key) {
    loop {
        let ticks_done = match with(|c| accept_one(c, key)) {
            // As Node, ticks queued by a listener run before the next
            // accept.
            Accept::Connection(sk) => {
                let socket = Socket::from_key(sk);
                emit(key, EV_CONNECTION, &Payload::Socket(&socket));
                event_loop::drain_ticks()
            }
            Accept::Dropped(info) => {
                emit(key, EV_DROP, &Payload::Drop(&info));
                event_loop::drain_ticks()
            }
            Accept::Skip => true,
            Accept::Done => break,
        };
        if !ticks_done {
            // A listener panicked: the connections still queued in the
            // kernel bring no new edge, so the next run accepts them.
            with(|c| {
                if !c.pending_accepts.contains(&key) {
                    c.pending_accepts.push(key);
                }
            });
            break;
        }
    }
}

fn bind_listener(addr: SocketAddr, options: &ListenOptions) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket as RawSocket, Type};
    let raw = RawSocket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    raw.set_reuse_address(true)?;
    if addr.is_ipv6() {
        raw.set_only_v6(options.ipv6_only)?;
    }
    #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
    if options.reuse_port {
        raw.set_reuse_port(true)?;
    }
    raw.set_nonblocking(true)?;
    raw.bind(&addr.into())?;
    raw.listen(options.backlog.min(i32::MAX as u32) as i32)?;
    Ok(TcpListener::from_std(std::net::TcpListener::from(raw)))
}

/// Binds a Unix socket and registers it; an error is reported as
/// `'error'` on the next tick (Node binds a path synchronously too).
fn bind_unix(c: &mut Core, key: Key, options: &ListenOptions, seq: u64) {
    let Some(path) = options.path.clone() else {
        return;
    };
    let shown = path.to_string_lossy().into_owned();
    let bound = transport::unix::bind(
        &path,
        options.backlog,
        options.readable_all,
        options.writable_all,
    )
    .and_then(|l| {
        let mut listener = Listener::Unix(l);
        c.poll.registry().register(
            &mut listener,
            Token(SERVER_TOKEN + key.index()),
            Interest::READABLE,
        )?;
        Ok(listener)
    });
    match bound {
        Ok(listener) => {
            if let Some(s) = srv(c, key) {
                s.address = None;
                s.path = Some(path);
                s.listener = Some(listener);
            }
            c.ticks
                .push_back(Tick::Server(key, ServerTick::Listening(seq)));
        }
        Err(e) => {
            let err = Error::from_io_path(e, "listen", &shown);
            c.ticks.push_back(Tick::Server(key, ServerTick::Error(err)));
        }
    }
}

/// Binds and registers; an error is reported as `'error'` on the next tick.
fn bind_now(c: &mut Core, key: Key, addrs: &[SocketAddr], options: &ListenOptions, seq: u64) {
    let mut last = None;
    for addr in addrs {
        match bind_listener(*addr, options) {
            Ok(mut listener) => {
                let token = Token(SERVER_TOKEN + key.index());
                if let Err(e) = c
                    .poll
                    .registry()
                    .register(&mut listener, token, Interest::READABLE)
                {
                    last = Some((e, *addr));
                    continue;
                }
                if let Some(s) = srv(c, key) {
                    s.address = listener.local_addr().ok();
                    s.listener = Some(Listener::Tcp(listener));
                    s.resolving = false;
                }
                c.ticks
                    .push_back(Tick::Server(key, ServerTick::Listening(seq)));
                return;
            }
            Err(e) => {
                // An unspecified host falls back from IPv6 to IPv4 only when
                // this machine has no IPv6.
                let no_v6 = addr.is_ipv6()
                    && matches!(
                        Error::from_io(
                            io::Error::from_raw_os_error(e.raw_os_error().unwrap_or(0)),
                            "listen",
                            None
                        )
                        .kind(),
                        ErrorCode::EAFNOSUPPORT | ErrorCode::EADDRNOTAVAIL
                    );
                last = Some((e, *addr));
                if !no_v6 {
                    break;
                }
            }
        }
    }
    if let Some(s) = srv(c, key) {
        s.resolving = false;
    }
    if let Some((e, addr)) = last {
        c.ticks.push_back(Tick::Server(
            key,
            ServerTick::Error(Error::from_io(e, "listen", Some(addr))),
        ));
    }
}

fn listen_resolved(
    key: Key,
    seq: u64,
    options: ListenOptions,
    result: io::Result<Vec<SocketAddr>>,
) {
    let host = options.host.clone().unwrap_or_default();
    with(|c| {
        let current = srv(c, key).is_some_and(|s| s.listen_seq == seq && s.resolving);
        if !current {
            return;
        }
        match result {
            Ok(addrs) if !addrs.is_empty() => bind_now(c, key, &addrs[..1], &options, seq),
            Ok(_) | Err(_) => {
                if let Some(s) = srv(c, key) {
                    s.resolving = false;
                }
                let err = Error::lookup(result.err(), &host);
                c.ticks.push_back(Tick::Server(key, ServerTick::Error(err)));
            }
        }
    });
}

impl Server {
    #[cfg(feature = "tls")]
    pub(crate) fn key(&self) -> Key {
        self.key
    }

    pub(crate) fn from_key(key: Key) -> Server {
        Server {
            key,
            _thread: PhantomData,
        }
    }

    pub(crate) fn create(options: ServerOptions) -> Server {
        with(|c| {
            let generation = c.new_generation();
            let index = c.servers.insert(ServerState {
                generation,
                listener: None,
                listeners: Listeners::default(),
                options,
                connections: 0,
                max_connections: None,
                refd: true,
                address: None,
                path: None,
                resolving: false,
                listen_seq: 0,
                close_pending: false,
                close_queued: false,
                #[cfg(feature = "tls")]
                tls: None,
            });
            Server::from_key(Key::new(index, generation))
        })
    }

    /// A stable identifier, unique among this loop's handles.
    pub fn id(&self) -> u64 {
        self.key.id()
    }

    /// Starts listening on `host:port` (`port` 0 picks a free port; an
    /// empty `host` means every interface, dual-stack `::` where IPv6 is
    /// available). With an IP literal the bind happens now and
    /// [`address`](Server::address) is available at once; a host name is
    /// resolved off the loop thread first. `'listening'` comes on a later
    /// turn; bind failures (`EADDRINUSE`, `EACCES`) come as `'error'`.
    ///
    /// # Errors
    ///
    /// `ERR_SOCKET_BAD_PORT` for a port outside 0..=65535,
    /// `ERR_SERVER_ALREADY_LISTEN` if the server is already listening.
    ///
    /// # Examples
    ///
    /// ```
    /// use nodenet::{tcp, ServerOptions};
    ///
    /// let server = tcp::create_server(ServerOptions::default(), |_, socket| {
    ///     socket.end_with("hello\n");
    /// });
    /// server.listen(0, "127.0.0.1")?; // port 0: any free port
    /// assert!(server.address().is_some()); // an IP literal is bound at once
    /// server.once_listening(|srv| {
    ///     println!("listening on {}", srv.address().unwrap());
    ///     srv.close();
    /// });
    /// nodenet::run()?;
    /// # Ok::<(), nodenet::Error>(())
    /// ```
    pub fn listen(&self, port: impl IntoPort, host: &str) -> Result<Server, Error> {
        let port = port.into_port()?;
        self.listen_with(ListenOptions::new(port).host(host))
    }

    /// [`listen`](Server::listen) with every option: backlog (511 by
    /// default), `ipv6_only`, `reuse_port`. A `SocketAddr` converts into
    /// the options: `server.listen_with(addr.into())`.
    ///
    /// # Errors
    ///
    /// `ERR_SERVER_ALREADY_LISTEN` if the server is already listening.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use nodenet::{tcp, ListenOptions, ServerOptions};
    ///
    /// let a = tcp::create_server(ServerOptions::default(), |_, _| {});
    /// a.listen_with(ListenOptions::new(0).host("127.0.0.1").backlog(64))?;
    /// let b = tcp::create_server(ServerOptions::default(), |_, _| {});
    /// let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    /// b.listen_with(addr.into())?;
    /// assert!(a.listening() && b.listening());
    /// a.close();
    /// b.close();
    /// nodenet::run()?;
    /// # Ok::<(), nodenet::Error>(())
    /// ```
    pub fn listen_with(&self, options: ListenOptions) -> Result<Server, Error> {
        let key = self.key;
        let resolve = with(|c| -> Result<Option<u64>, Error> {
            let s = srv(c, key).ok_or_else(|| {
                Error::new(
                    ErrorCode::ERR_SERVER_NOT_RUNNING,
                    "Server is not running: it was closed and freed after its 'close'; \
                     create a new server (or listen again from its 'close' listener)",
                )
            })?;
            if s.listener.is_some() {
                return Err(Error::new(
                    ErrorCode::ERR_SERVER_ALREADY_LISTEN,
                    "Listen method has been called more than once without closing.",
                ));
            }
            if let Some(path) = options.path.as_deref() {
                if (options.readable_all || options.writable_all)
                    && transport::unix::is_abstract(path)
                {
                    return Err(Error::new(
                        ErrorCode::ERR_INVALID_ARG_VALUE,
                        format!(
                            "The argument 'options' can not set readable_all or writable_all to \
                             true when path is abstract unix socket. Received {:?}",
                            path
                        ),
                    ));
                }
            }
            s.listen_seq += 1;
            s.close_pending = false;
            let seq = s.listen_seq;
            if options.path.is_some() {
                bind_unix(c, key, &options, seq);
                return Ok(None);
            }
            let host = options.host.as_deref().unwrap_or("");
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if host.is_empty() {
                let addrs = [
                    SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), options.port),
                    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), options.port),
                ];
                bind_now(c, key, &addrs, &options, seq);
                Ok(None)
            } else if let Ok(ip) = host.parse::<IpAddr>() {
                bind_now(c, key, &[SocketAddr::new(ip, options.port)], &options, seq);
                Ok(None)
            } else {
                s.resolving = true;
                Ok(Some(seq))
            }
        })?;
        if let Some(seq) = resolve {
            let remote = event_loop::remote();
            let host = options.host.clone().unwrap_or_default();
            let port = options.port;
            crate::tcp::dns::resolve(remote, host, port, move |_, result| {
                listen_resolved(key, seq, options, result)
            });
        }
        Ok(*self)
    }

    /// Stops accepting: the listening socket closes now (new connects are
    /// refused), existing connections go on. `'close'` follows once the
    /// last of them is destroyed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use nodenet::{tcp, ServerOptions};
    ///
    /// let server = tcp::create_server(ServerOptions::default(), |_, _| {});
    /// server.listen(0, "127.0.0.1")?;
    /// let closed = Rc::new(Cell::new(false));
    /// let c = closed.clone();
    /// server.on_close(move |_| c.set(true));
    /// server.close();
    /// assert!(!server.listening()); // at once; 'close' on a later turn
    /// nodenet::run()?;
    /// assert!(closed.get());
    /// # Ok::<(), nodenet::Error>(())
    /// ```
    pub fn close(&self) -> Server {
        self.close_inner(None)
    }

    /// [`close`](Server::close), calling `cb` with the server's `'close'`;
    /// with `Some(ERR_SERVER_NOT_RUNNING)` if it was not listening.
    ///
    /// # Examples
    ///
    /// ```
    /// use nodenet::{tcp, ServerOptions};
    ///
    /// let server = tcp::create_server(ServerOptions::default(), |_, _| {});
    /// server.listen(0, "127.0.0.1")?;
    /// server.close_cb(|_, err| assert!(err.is_none()));
    ///
    /// let never_listened = tcp::create_server(ServerOptions::default(), |_, _| {});
    /// never_listened.close_cb(|_, err| {
    ///     assert_eq!(err.unwrap().code(), "ERR_SERVER_NOT_RUNNING");
    /// });
    /// nodenet::run()?;
    /// # Ok::<(), nodenet::Error>(())
    /// ```
    pub fn close_cb(&self, cb: impl FnOnce(&Server, Option<&Error>) + 'static) -> Server {
        self.close_inner(Some(Box::new(cb)))
    }

    #[allow(clippy::type_complexity)]
    fn close_inner(&self, cb: Option<Box<dyn FnOnce(&Server, Option<&Error>)>>) -> Server {
        let key = self.key;
        let Some(running) = with(|c| srv(c, key).map(|s| s.listener.is_some() || s.resolving))
        else {
            return *self;
        };
        if let Some(cb) = cb {
            let mut cb = Some(cb);
            let err = (!running)
                .then(|| Error::new(ErrorCode::ERR_SERVER_NOT_RUNNING, "Server is not running."));
            self.once("close", move |s: &Server| {
                if let Some(cb) = cb.take() {
                    cb(s, err.as_ref());
                }
            });
        }
        with(|c| {
            let Some(s) = srv(c, key) else { return };
            s.listen_seq += 1;
            s.resolving = false;
            s.address = None;
            s.path = None;
            let listener = s.listener.take();
            let idle = s.connections == 0;
            s.close_pending = true;
            if let Some(mut l) = listener {
                let _ = c.poll.registry().deregister(&mut l);
            }
            if idle {
                queue_close(c, key);
            }
        });
        *self
    }

    /// The bound address, while listening (`None` before and after).
    ///
    /// # Examples
    ///
    /// ```
    /// use nodenet::{tcp, ServerOptions};
    ///
    /// let server = tcp::create_server(ServerOptions::default(), |_, _| {});
    /// assert_eq!(server.address(), None);
    /// server.listen(0, "127.0.0.1")?;
    /// let addr = server.address().unwrap();
    /// assert!(addr.ip().is_loopback() && addr.port() != 0);
    /// server.close();
    /// assert_eq!(server.address(), None);
    /// nodenet::run()?;
    /// # Ok::<(), nodenet::Error>(())
    /// ```
    pub fn address(&self) -> Option<SocketAddr> {
        with(|c| srv(c, self.key).and_then(|s| s.address))
    }

    /// The Unix socket path this server listens on, as given (Node's
    /// `address()` for a pipe server); `None` when it is not listening on
    /// one.
    pub fn path(&self) -> Option<std::path::PathBuf> {
        with(|c| srv(c, self.key).and_then(|s| s.path.clone()))
    }

    /// Listens on the Unix socket `path` (Node's `listen(path)`): bound at
    /// once, `'listening'` on a later turn; the socket file is removed when
    /// the server closes. A path that exists (a live or stale socket, any
    /// file) fails with `EADDRINUSE` as `'error'`; a path longer than a
    /// Unix socket address holds fails with `EINVAL`. A leading NUL byte
    /// makes it a Linux abstract name (no file).
    ///
    /// # Errors
    ///
    /// `ERR_SERVER_ALREADY_LISTEN` if the server is already listening.
    ///
    /// # Examples
    ///
    /// ```
    /// use nodenet::{tcp, ServerOptions};
    ///
    /// let dir = std::env::temp_dir().join(format!("nodenet-doc-lp-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("s.sock");
    /// let server = tcp::create_server(ServerOptions::default(), |_, socket| {
    ///     socket.end_with("hello\n");
    /// });
    /// server.listen_path(&path)?;
    /// let p = path.clone();
    /// tcp::connect_path(&path, move |s| {
    ///     s.on_data(|_, chunk| assert_eq!(&chunk[..], b"hello\n"));
    /// })?;
    /// nodenet::set_timeout(move || { server.close(); }, 50);
    /// nodenet::run()?;
    /// assert!(!p.exists());
    /// # std::fs::remove_dir(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn listen_path(&self, path: impl AsRef<std::path::Path>) -> Result<Server, Error> {
        self.listen_with(ListenOptions::unix(path))
    }

    /// Whether the server is listening.
    pub fn listening(&self) -> bool {
        with(|c| srv(c, self.key).is_some_and(|s| s.listener.is_some()))
    }

    /// Accepted connections not yet destroyed.
    pub fn connections(&self) -> usize {
        with(|c| srv(c, self.key).map_or(0, |s| s.connections))
    }

    /// Node's `getConnections(cb)`: the count at the call, delivered on the
    /// next tick.
    ///
    /// # Examples
    ///
    /// ```
    /// use nodenet::{tcp, ServerOptions};
    ///
    /// let server = tcp::create_server(ServerOptions::default(), |srv, socket| {
    ///     srv.get_connections(|srv, count| {
    ///         assert_eq!(count, 1); // the count at the call, on the next tick
    ///         srv.close();
    ///     });
    ///     socket.destroy();
    /// });
    /// server.listen(0, "127.0.0.1")?;
    /// let port = server.address().unwrap().port();
    /// // Reading (even with no 'data' listener) shows the client the server's FIN.
    /// tcp::connect(port, "127.0.0.1", |_| {})?.resume();
    /// nodenet::run()?;
    /// # Ok::<(), nodenet::Error>(())
    /// ```
    pub fn get_connections(&self, cb: impl FnOnce(&Server, usize) + 'static) -> Server {
        let server = *self;
        let count = self.connections();
        event_loop::next_tick(move || cb(&server, count));
        *self
    }

    /// Connections at or above this count are accepted and closed at once,
    /// with `'drop'` (`None`: no limit; `Some(0)` drops every connection,
    /// as in Node 21+).
    ///
    /// # Examples
    ///
    /// ```
    /// use nodenet::{tcp, ServerOptions};
    ///
    /// let server = tcp::create_server(ServerOptions::default(), |_, _| {});
    /// server.set_max_connections(Some(1000)); // Node's server.maxConnections = 1000
    /// server.on_drop(|_, info| eprintln!("dropped {:?}", info));
    /// assert_eq!(server.max_connections(), Some(1000));
    /// server.set_max_connections(None); // no limit (the default)
    /// # server.close();
    /// ```
    pub fn set_max_connections(&self, max: Option<usize>) -> Server {
        with(|c| {
            if let Some(s) = srv(c, self.key) {
                s.max_connections = max;
            }
        });
        *self
    }

    /// The connection limit in force.
    pub fn max_connections(&self) -> Option<usize> {
        with(|c| srv(c, self.key).and_then(|s| s.max_connections))
    }

    /// Keeps the loop alive while listening (the default): Node's `ref()`,
    /// spelled `r#ref` because `ref` is a Rust keyword.
    pub fn r#ref(&self) -> Server {
        self.set_ref(true)
    }

    /// Lets the loop finish even while this server listens.
    pub fn unref(&self) -> Server {
        self.set_ref(false)
    }

    fn set_ref(&self, refd: bool) -> Server {
        with(|c| {
            if let Some(s) = srv(c, self.key) {
                s.refd = refd;
            }
        });
        *self
    }
}
