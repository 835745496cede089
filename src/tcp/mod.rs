//! Node's `net` for TCP: [`create_server`], [`connect`],
//! [`create_connection`], and their options.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::error::{Error, ErrorCode};
use crate::IntoDuration;

pub(crate) mod connect;
pub(crate) mod dns;

pub use crate::stream::server::Server;
pub use crate::stream::socket::{ReadyState, Socket, DEFAULT_HIGH_WATER_MARK};
pub use connect::{
    get_default_auto_select_family, get_default_auto_select_family_attempt_timeout,
    set_default_auto_select_family, set_default_auto_select_family_attempt_timeout, Resolver,
};

/// Options of [`create_server`]: the server's own, and `socket`, the
/// options every accepted socket gets (the same shape as
/// [`ConnectOptions`], which nests the client socket's options).
///
/// Node's `createServer` options are flat (`{ allowHalfOpen, noDelay,
/// pauseOnConnect }`); here `allow_half_open`, `no_delay`, `keep_alive`,
/// `keep_alive_initial_delay` and the high-water marks are
/// `ServerOptions::socket`'s fields.
///
/// # Examples
///
/// ```
/// use nodenet::{ServerOptions, SocketOptions};
/// let options = ServerOptions {
///     pause_on_connect: true,
///     socket: SocketOptions { allow_half_open: true, ..Default::default() },
///     ..Default::default()
/// };
/// assert_ne!(options, ServerOptions::default());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerOptions {
    /// Start accepted sockets paused: no reading until `resume()`.
    pub pause_on_connect: bool,
    /// Connections from these addresses are closed as soon as accepted,
    /// without `'connection'` (Node 21+'s `blockList`).
    pub block_list: Option<crate::BlockList>,
    /// The options of every accepted socket (`allow_half_open`,
    /// `no_delay`, `keep_alive`, high-water marks, ...).
    pub socket: SocketOptions,
}

/// Options of [`Socket::new`], and of the sockets a server accepts
/// ([`ServerOptions::socket`]) or a connect makes
/// ([`ConnectOptions::socket`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SocketOptions {
    /// Stay writable after the peer's FIN (default `false`).
    pub allow_half_open: bool,
    /// Disable Nagle's algorithm once connected.
    pub no_delay: bool,
    /// Enable TCP keep-alive once connected.
    pub keep_alive: bool,
    /// Idle time before the first keep-alive probe (floored to whole
    /// seconds; zero keeps the system default).
    pub keep_alive_initial_delay: Duration,
    /// High-water mark of the write queue and read buffer (default
    /// [`DEFAULT_HIGH_WATER_MARK`]).
    pub high_water_mark: Option<usize>,
    /// The read buffer's own high-water mark (overrides `high_water_mark`).
    pub readable_high_water_mark: Option<usize>,
    /// The write queue's own high-water mark (overrides `high_water_mark`).
    pub writable_high_water_mark: Option<usize>,
}

/// Options of [`create_connection`]: where to connect, and the socket's
/// options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    /// The port to connect to (required; 0 is refused).
    pub port: u16,
    /// Host name or IP literal (default `"localhost"`).
    pub host: String,
    /// Bind to this local address before connecting.
    pub local_address: Option<IpAddr>,
    /// Bind to this local port before connecting.
    pub local_port: Option<u16>,
    /// Inactivity timeout, set before connecting (so it covers name
    /// resolution and the handshake); see [`Socket::set_timeout`].
    pub timeout: Option<Duration>,
    /// Only addresses of this family (`None`, the default: either). A
    /// family turns happy eyeballs off. Node's `family: 4 | 6 | 0`.
    pub family: Option<Family>,
    /// A custom resolver instead of the system's (Node's `lookup`).
    pub lookup: Option<Resolver>,
    /// Try several addresses of a host name with happy eyeballs (default:
    /// [`get_default_auto_select_family`], `true`).
    pub auto_select_family: Option<bool>,
    /// Time each attempt but the last gets (default:
    /// [`get_default_auto_select_family_attempt_timeout`], 250 ms; at least
    /// 10 ms).
    pub auto_select_family_attempt_timeout: Option<Duration>,
    /// Refuse to connect to these addresses: `ERR_IP_BLOCKED` (Node 21+'s
    /// `blockList`).
    pub block_list: Option<crate::BlockList>,
    /// The socket's own options.
    pub socket: SocketOptions,
}

/// Options of [`Server::listen_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenOptions {
    /// The port; 0 picks a free one.
    pub port: u16,
    /// Host name or IP literal; `None` or empty means every interface.
    pub host: Option<String>,
    /// Length of the queue of connections not yet accepted (default 511,
    /// as in Node).
    pub backlog: u32,
    /// On `::`, accept IPv6 only (no IPv4-mapped connections).
    pub ipv6_only: bool,
    /// Set `SO_REUSEPORT`, so that several loops can listen on one port.
    pub reuse_port: bool,
    /// Listen on this Unix socket path instead of a port (Node's IPC
    /// `listen(path)`); a leading NUL byte makes it a Linux abstract name.
    /// When set, `port`, `host`, `ipv6_only` and `reuse_port` are ignored.
    pub path: Option<std::path::PathBuf>,
    /// Unix socket file readable by everyone (Node's `readableAll`).
    pub readable_all: bool,
    /// Unix socket file writable by everyone (Node's `writableAll`): other
    /// users need it to connect.
    pub writable_all: bool,
}

impl Default for ListenOptions {
    /// `ListenOptions::new(0)`: a free port, every interface, backlog 511.
    fn default() -> ListenOptions {
        ListenOptions::new(0)
    }
}

impl ListenOptions {
    /// Listen on `port`, every interface, backlog 511.
    pub fn new(port: u16) -> ListenOptions {
        ListenOptions {
            port,
            host: None,
            backlog: 511,
            ipv6_only: false,
            reuse_port: false,
            path: None,
            readable_all: false,
            writable_all: false,
        }
    }

    /// Listen on the Unix socket `path` (Node's `listen(path)`; a leading
    /// NUL byte makes it a Linux abstract name).
    ///
    /// # Examples
    ///
    /// ```
    /// use nodenet::{tcp, ListenOptions, ServerOptions};
    ///
    /// let dir = std::env::temp_dir().join(format!("nodenet-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("echo.sock");
    /// let server = tcp::create_server(ServerOptions::default(), |_, _| {});
    /// server.listen_with(ListenOptions::unix(&path).writable_all(true))?;
    /// assert_eq!(server.path().as_deref(), Some(path.as_path()));
    /// server.close(); // removes the socket file
    /// nodenet::run()?;
    /// assert!(!path.exists());
    /// # std::fs::remove_dir(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unix(path: impl AsRef<std::path::Path>) -> ListenOptions {
        ListenOptions {
            path: Some(path.as_ref().to_path_buf()),
            ..ListenOptions::new(0)
        }
    }

    /// Sets `readable_all`.
    pub fn readable_all(mut self, readable_all: bool) -> ListenOptions {
        self.readable_all = readable_all;
        self
    }

    /// Sets `writable_all`.
    pub fn writable_all(mut self, writable_all: bool) -> ListenOptions {
        self.writable_all = writable_all;
        self
    }

    /// Sets the host.
    pub fn host(mut self, host: &str) -> ListenOptions {
        self.host = (!host.is_empty()).then(|| host.to_string());
        self
    }

    /// Sets the backlog.
    pub fn backlog(mut self, backlog: u32) -> ListenOptions {
        self.backlog = backlog;
        self
    }

    /// Sets `ipv6_only`.
    pub fn ipv6_only(mut self, ipv6_only: bool) -> ListenOptions {
        self.ipv6_only = ipv6_only;
        self
    }

    /// Sets `reuse_port`.
    pub fn reuse_port(mut self, reuse_port: bool) -> ListenOptions {
        self.reuse_port = reuse_port;
        self
    }
}

impl From<SocketAddr> for ListenOptions {
    /// Listen on exactly this address: `server.listen_with(addr.into())`
    /// (an IPv6 scope id is not kept).
    fn from(addr: SocketAddr) -> ListenOptions {
        ListenOptions::new(addr.port()).host(&addr.ip().to_string())
    }
}

impl From<SocketAddr> for ConnectOptions {
    /// Connect to exactly this address, every other option at its
    /// default: `tcp::create_connection(addr.into())` (an IPv6 scope id is
    /// not kept).
    fn from(addr: SocketAddr) -> ConnectOptions {
        ConnectOptions {
            port: addr.port(),
            host: addr.ip().to_string(),
            ..ConnectOptions::default()
        }
    }
}

/// What `'drop'` reports about a connection refused by `max_connections`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropInfo {
    /// Our end of the dropped connection.
    pub local: Option<SocketAddr>,
    /// The peer's end (`None` on a Unix socket, where Node passes no
    /// data).
    pub remote: Option<SocketAddr>,
}

/// What `'connectionAttempt'`, `'connectionAttemptFailed'` and
/// `'connectionAttemptTimeout'` report.
#[derive(Debug, Clone)]
pub struct ConnectionAttempt {
    /// The address tried.
    pub address: IpAddr,
    /// The port tried.
    pub port: u16,
    /// The address's family (Node's 4 or 6: [`Family::as_number`]).
    pub family: Family,
    /// Why it failed (`'connectionAttemptFailed'` only).
    pub error: Option<Error>,
}

/// What `'lookup'` reports: the address a host name resolved to, or why it
/// did not.
#[derive(Debug, Clone)]
pub struct Lookup {
    /// The resolution error, if it failed.
    pub error: Option<Error>,
    /// The first address, if it succeeded.
    pub address: Option<IpAddr>,
    /// The host name looked up.
    pub host: String,
}

impl Lookup {
    /// The resolved address's family, Node's `family` argument (4 or 6:
    /// [`Family::as_number`]).
    pub fn family(&self) -> Option<Family> {
        self.address.map(Family::from)
    }
}

/// An address family: Node's `'IPv4'` / `'IPv6'` strings (`Display`,
/// `FromStr`) and its `4` / `6` numbers ([`as_number`](Family::as_number),
/// `u8::from`).
///
/// # Examples
///
/// ```
/// use nodenet::tcp::Family;
/// use std::net::IpAddr;
/// assert_eq!(Family::Ipv6.to_string(), "IPv6");
/// assert_eq!("IPv4".parse::<Family>().unwrap(), Family::Ipv4);
/// assert_eq!(u8::from(Family::Ipv6), 6);
/// assert_eq!(Family::from("::1".parse::<IpAddr>().unwrap()), Family::Ipv6);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4 (Node's `'IPv4'`, `4`).
    Ipv4,
    /// IPv6 (Node's `'IPv6'`, `6`).
    Ipv6,
}

impl Family {
    /// Node's string: `"IPv4"` or `"IPv6"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Ipv4 => "IPv4",
            Family::Ipv6 => "IPv6",
        }
    }

    /// Node's number: 4 or 6 (as `net.isIP` and the `family` option).
    pub fn as_number(self) -> u8 {
        match self {
            Family::Ipv4 => 4,
            Family::Ipv6 => 6,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Family {
    type Err = Error;

    /// `"IPv4"` / `"IPv6"` in any case, or `"4"` / `"6"`, as Node's
    /// options accept them.
    ///
    /// # Errors
    ///
    /// `ERR_INVALID_ARG_VALUE` for anything else.
    fn from_str(s: &str) -> Result<Family, Error> {
        match s.to_ascii_lowercase().as_str() {
            "ipv4" | "4" => Ok(Family::Ipv4),
            "ipv6" | "6" => Ok(Family::Ipv6),
            _ => Err(Error::new(
                ErrorCode::ERR_INVALID_ARG_VALUE,
                format!("The argument 'family' must be one of: 'IPv4', 'IPv6'. Received '{s}'"),
            )),
        }
    }
}

impl From<Family> for u8 {
    fn from(family: Family) -> u8 {
        family.as_number()
    }
}

impl From<IpAddr> for Family {
    fn from(ip: IpAddr) -> Family {
        if ip.is_ipv4() {
            Family::Ipv4
        } else {
            Family::Ipv6
        }
    }
}

impl From<SocketAddr> for Family {
    fn from(addr: SocketAddr) -> Family {
        Family::from(addr.ip())
    }
}

/// Node's `net.isIP(input)`: 4 for dotted-decimal IPv4 (no leading
/// zeros), 6 for IPv6 (an IPv4-mapped form and a `%zone` suffix allowed),
/// 0 for anything else.
///
/// Node's number is kept (rather than an `Option<Family>`): the function is
/// Node's, and its 0 / 4 / 6 are what a port compares with; for a typed
/// answer parse the string as an `IpAddr` and take [`Family::from`].
///
/// # Examples
///
/// ```
/// use nodenet::tcp::is_ip;
/// assert_eq!(is_ip("127.0.0.1"), 4);
/// assert_eq!(is_ip("fe80::1%eth0"), 6);
/// assert_eq!(is_ip("127.000.000.001"), 0);
/// assert_eq!(is_ip("[::1]"), 0);
/// ```
pub fn is_ip(input: &str) -> u8 {
    if input.parse::<std::net::Ipv4Addr>().is_ok() {
        return 4;
    }
    let addr = match input.split_once('%') {
        Some((addr, zone)) if !zone.is_empty() => addr,
        Some(_) => return 0,
        None => input,
    };
    if addr.parse::<std::net::Ipv6Addr>().is_ok() {
        6
    } else {
        0
    }
}

/// Node's `net.isIPv4(input)`.
pub fn is_ipv4(input: &str) -> bool {
    is_ip(input) == 4
}

/// Node's `net.isIPv6(input)`.
pub fn is_ipv6(input: &str) -> bool {
    is_ip(input) == 6
}

/// A port argument: a number or a numeric string (decimal or `0x` hex), as
/// Node accepts. Anything else is `ERR_SOCKET_BAD_PORT`.
pub trait IntoPort {
    /// The port, checked to be in 0..=65535.
    ///
    /// # Errors
    ///
    /// `ERR_SOCKET_BAD_PORT` when out of range or not a number.
    fn into_port(self) -> Result<u16, Error>;
}

impl IntoPort for u16 {
    fn into_port(self) -> Result<u16, Error> {
        Ok(self)
    }
}

macro_rules! int_port {
    ($($t:ty),*) => {$(
        impl IntoPort for $t {
            fn into_port(self) -> Result<u16, Error> {
                u16::try_from(self).map_err(|_| Error::bad_port(self))
            }
        }
    )*};
}
int_port!(u8, i8, i16, u32, i32, u64, i64, usize, isize);

impl IntoPort for &str {
    fn into_port(self) -> Result<u16, Error> {
        let t = self.trim();
        let parsed = if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            u64::from_str_radix(hex, 16).ok()
        } else if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
            t.parse::<u64>().ok()
        } else {
            None
        };
        match parsed {
            Some(n) if n <= 65535 => Ok(n as u16),
            _ => Err(Error::bad_port(format!("'{self}'"))),
        }
    }
}

impl IntoPort for String {
    fn into_port(self) -> Result<u16, Error> {
        self.as_str().into_port()
    }
}

/// Data `write()` accepts: bytes or text, owned or borrowed.
///
/// Owned buffers (`Bytes`, `Vec<u8>`, `String`) are queued without a copy;
/// borrowed ones are copied only for the part the kernel did not take at
/// once.
pub trait WriteData {
    /// The bytes to send.
    fn as_slice(&self) -> &[u8];
    /// The bytes from `offset` on, as an owned buffer to queue.
    fn into_bytes_from(self, offset: usize) -> Bytes;
    /// Whether [`into_bytes_from`](WriteData::into_bytes_from) hands the
    /// buffer over without copying it (`Bytes`, `Vec<u8>`, `String`), so
    /// that the write path may keep it as it is; borrowed data is copied.
    fn is_owned(&self) -> bool {
        false
    }
}

impl WriteData for Bytes {
    fn is_owned(&self) -> bool {
        true
    }
    fn as_slice(&self) -> &[u8] {
        self
    }
    fn into_bytes_from(self, offset: usize) -> Bytes {
        self.slice(offset..)
    }
}

impl WriteData for &Bytes {
    fn is_owned(&self) -> bool {
        true
    }
    fn as_slice(&self) -> &[u8] {
        self
    }
    fn into_bytes_from(self, offset: usize) -> Bytes {
        self.slice(offset..)
    }
}

impl WriteData for BytesMut {
    fn is_owned(&self) -> bool {
        true
    }
    fn as_slice(&self) -> &[u8] {
        self
    }
    fn into_bytes_from(self, offset: usize) -> Bytes {
        self.freeze().slice(offset..)
    }
}

impl WriteData for Vec<u8> {
    fn is_owned(&self) -> bool {
        true
    }
    fn as_slice(&self) -> &[u8] {
        self
    }
    fn into_bytes_from(self, offset: usize) -> Bytes {
        Bytes::from(self).slice(offset..)
    }
}

impl WriteData for String {
    fn is_owned(&self) -> bool {
        true
    }
    fn as_slice(&self) -> &[u8] {
        self.as_bytes()
    }
    fn into_bytes_from(self, offset: usize) -> Bytes {
        Bytes::from(self).slice(offset..)
    }
}

impl WriteData for &[u8] {
    fn as_slice(&self) -> &[u8] {
        self
    }
    fn into_bytes_from(self, offset: usize) -> Bytes {
        Bytes::copy_from_slice(&self[offset..])
    }
}

impl<const N: usize> WriteData for &[u8; N] {
    fn as_slice(&self) -> &[u8] {
        &self[..]
    }
    fn into_bytes_from(self, offset: usize) -> Bytes {
        Bytes::copy_from_slice(&self[offset..])
    }
}

impl WriteData for &str {
    fn as_slice(&self) -> &[u8] {
        self.as_bytes()
    }
    fn into_bytes_from(self, offset: usize) -> Bytes {
        Bytes::copy_from_slice(&self.as_bytes()[offset..])
    }
}

impl WriteData for &String {
    fn as_slice(&self) -> &[u8] {
        self.as_bytes()
    }
    fn into_bytes_from(self, offset: usize) -> Bytes {
        Bytes::copy_from_slice(&self.as_bytes()[offset..])
    }
}

impl WriteData for &Vec<u8> {
    fn as_slice(&self) -> &[u8] {
        self
    }
    fn into_bytes_from(self, offset: usize) -> Bytes {
        Bytes::copy_from_slice(&self[offset..])
    }
}

/// Node's `net.createServer(options, connectionListener)`: a server whose
/// `'connection'` listener is `on_connection`. Call
/// [`listen`](Server::listen) to start it.
///
/// # Examples
///
/// ```
/// use nodenet::{tcp, Server, ServerOptions, Socket};
/// let server = tcp::create_server(ServerOptions::default(), |_: &Server, s: &Socket| {
///     s.end_with("hello\n");
/// });
/// assert!(!server.listening());
/// ```
pub fn create_server(
    options: ServerOptions,
    on_connection: impl FnMut(&Server, &Socket) + 'static,
) -> Server {
    Server::create(options).on("connection", on_connection)
}

/// [`create_server`] in the handler-object form: every accepted socket
/// gets the [`Handler`](crate::Handler) that `make_handler` returns for it.
pub fn create_server_with<H: crate::Handler>(
    options: ServerOptions,
    mut make_handler: impl FnMut(&Socket) -> H + 'static,
) -> Server {
    create_server(options, move |_: &Server, socket: &Socket| {
        socket.set_handler(make_handler(socket));
    })
}

/// [`connect`] in the handler-object form: the socket's events go to
/// `handler`'s methods, `on_connect` first.
///
/// # Errors
///
/// As [`connect`].
pub fn connect_with(
    port: impl IntoPort,
    host: &str,
    handler: impl crate::Handler,
) -> Result<Socket, Error> {
    let port = connect_port(port)?;
    let socket = Socket::new(SocketOptions::default()).set_handler(handler);
    if let Err(e) = socket.connect_plan(connect::Plan::new(port, host)) {
        socket.destroy();
        return Err(e);
    }
    Ok(socket)
}

pub(crate) fn connect_port(port: impl IntoPort) -> Result<u16, Error> {
    match port.into_port()? {
        0 => Err(Error::new(
            ErrorCode::ERR_SOCKET_BAD_PORT,
            "Port should be > 0 and < 65536. Received 0.",
        )),
        p => Ok(p),
    }
}

/// Node's `net.connect(port, host, connectListener)`: a socket connecting
/// to `host:port`, with `on_connect` as a once `'connect'` listener.
///
/// # Errors
///
/// `ERR_SOCKET_BAD_PORT` for a port outside 1..=65535. Connection failures
/// (`ECONNREFUSED`, `ENOTFOUND`, ...) arrive as `'error'`, then
/// `'close'(true)`.
///
/// # Examples
///
/// ```
/// use nodenet::{tcp, ServerOptions, Socket};
/// # let server = tcp::create_server(ServerOptions::default(), |_, s| {
/// #     s.resume();
/// # });
/// # server.listen(0, "127.0.0.1")?;
/// # let port = server.address().unwrap().port();
/// tcp::connect(port, "127.0.0.1", move |s: &Socket| {
///     s.write("hello");
///     s.destroy_soon(); // end, then destroy once sent
///     # server.close();
/// })?;
/// nodenet::run()?;
/// # Ok::<(), nodenet::Error>(())
/// ```
pub fn connect(
    port: impl IntoPort,
    host: &str,
    on_connect: impl FnMut(&Socket) + 'static,
) -> Result<Socket, Error> {
    let port = connect_port(port)?;
    let socket = Socket::new(SocketOptions::default());
    socket.once("connect", on_connect);
    if let Err(e) = socket.connect_plan(connect::Plan::new(port, host)) {
        socket.destroy();
        return Err(e);
    }
    Ok(socket)
}

/// Connects to the Unix socket at `path` (Node's `net.connect(path, cb)`);
/// `on_connect` is a once `'connect'` listener. See
/// [`Socket::connect_path`] for the errors that come as `'error'`.
///
/// # Errors
///
/// None today (connection failures come as `'error'`); the `Result` keeps
/// the shape of [`connect`].
///
/// # Examples
///
/// ```
/// use nodenet::{tcp, ServerOptions};
///
/// let path = std::env::temp_dir().join(format!("nodenet-doc-cp-{}.sock", std::process::id()));
/// let server = tcp::create_server(ServerOptions::default(), |_, socket| {
///     socket.on_data(|s, chunk| {
///         s.end_with(chunk.clone());
///     });
/// });
/// server.listen_path(&path)?;
/// tcp::connect_path(&path, |s| {
///     s.write("ping");
/// })?
/// .on_data(move |s, chunk| {
///     assert_eq!(&chunk[..], b"ping");
///     s.end();
///     server.close();
/// });
/// nodenet::run()?;
/// # Ok::<(), nodenet::Error>(())
/// ```
pub fn connect_path(
    path: impl AsRef<std::path::Path>,
    on_connect: impl FnMut(&Socket) + 'static,
) -> Result<Socket, Error> {
    let socket = Socket::new(SocketOptions::default());
    socket.once_connect(on_connect);
    socket.connect_path(path)
}

/// Node's `net.createConnection(options)`: a socket with `options.socket`,
/// its timeout set, connecting to `options.host:options.port`. Chain
/// `.once("connect", ..)` for a connect listener. A `SocketAddr` converts
/// into the options: `tcp::create_connection(addr.into())`.
///
/// # Errors
///
/// `ERR_SOCKET_BAD_PORT` for port 0.
///
/// # Examples
///
/// ```
/// use nodenet::{tcp, ConnectOptions, ServerOptions};
///
/// let server = tcp::create_server(ServerOptions::default(), |_, s| {
///     s.resume();
/// });
/// server.listen(0, "127.0.0.1")?;
/// let port = server.address().unwrap().port();
/// let options = ConnectOptions {
///     port,
///     host: "127.0.0.1".into(),
///     ..ConnectOptions::default()
/// };
/// tcp::create_connection(options)?.once_connect(|s| {
///     s.destroy();
/// });
/// // A SocketAddr converts into the options.
/// tcp::create_connection(server.address().unwrap().into())?.once_connect(move |s| {
///     s.destroy();
///     server.close();
/// });
/// nodenet::run()?;
/// # Ok::<(), nodenet::Error>(())
/// ```
pub fn create_connection(options: ConnectOptions) -> Result<Socket, Error> {
    let port = connect_port(options.port)?;
    let local = match (options.local_address, options.local_port) {
        (None, None) => None,
        (ip, port) => Some(SocketAddr::new(
            ip.unwrap_or_else(|| std::net::Ipv4Addr::UNSPECIFIED.into()),
            port.unwrap_or(0),
        )),
    };
    let plan = connect::Plan {
        local,
        family: options.family.map_or(0, u8::from),
        lookup: options.lookup,
        auto_select: options.auto_select_family,
        attempt_timeout_ms: options
            .auto_select_family_attempt_timeout
            .map(crate::duration::ms),
        block_list: options.block_list,
        ..connect::Plan::new(port, &options.host)
    };
    let socket = Socket::new(options.socket);
    if let Some(timeout) = options.timeout {
        socket.set_timeout(timeout);
    }
    if let Err(e) = socket.connect_plan(plan) {
        socket.destroy();
        return Err(e);
    }
    Ok(socket)
}

/// A blocking one-shot exchange, for scripts and tests: connects to
/// `host:port`, sends `data`, half-closes, and returns everything the peer
/// sends back until it closes or `timeout` passes (then what arrived so
/// far). It runs on a thread of its own with its own loop, so it may be
/// called from any thread — but not from inside a callback, which it would
/// block.
///
/// # Errors
///
/// A bad port, or the connection's error (`ECONNREFUSED`, `ENOTFOUND`,
/// `ECONNRESET`, ...).
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// let reply = nodenet::tcp::request(7000, "127.0.0.1", "hello", Duration::from_secs(1))?;
/// println!("{}", String::from_utf8_lossy(&reply));
/// # Ok::<(), nodenet::Error>(())
/// ```
pub fn request(
    port: impl IntoPort,
    host: &str,
    data: impl AsRef<[u8]>,
    timeout: impl IntoDuration,
) -> Result<Bytes, Error> {
    let timeout = timeout.into_duration();
    use std::cell::RefCell;
    use std::rc::Rc;
    let port = connect_port(port)?;
    let host = host.to_string();
    let data = Bytes::copy_from_slice(data.as_ref());
    let worker = std::thread::Builder::new()
        .name("nodenet-request".into())
        .spawn(move || -> Result<Bytes, Error> {
            let reply = Rc::new(RefCell::new(BytesMut::new()));
            let failure = Rc::new(RefCell::new(None));
            let socket = connect(port, &host, move |s: &Socket| {
                s.end_with(data.clone());
            })?;
            let r = reply.clone();
            let f = failure.clone();
            socket
                .on("data", move |_: &Socket, chunk: &Bytes| {
                    r.borrow_mut().extend_from_slice(chunk)
                })
                .on("error", move |_: &Socket, e: &Error| {
                    *f.borrow_mut() = Some(e.clone())
                });
            let closed = crate::run_until_timeout(timeout, || socket.closed())?;
            if !closed {
                socket.destroy();
                crate::run_until_timeout(timeout, || socket.closed())?;
            }
            let failed = failure.borrow_mut().take();
            match failed {
                Some(e) => Err(e),
                None => Ok(reply.borrow_mut().split().freeze()),
            }
        })
        .map_err(|e| Error::from_io(e, "spawn", None))?;
    worker.join().unwrap_or_else(|_| {
        Err(Error::new(
            ErrorCode::ERR_INVALID_ARG_VALUE,
            "the request thread panicked",
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_ip_follows_node() {
        for (input, family) in [
            ("127.0.0.1", 4),
            ("255.255.255.255", 4),
            ("::1", 6),
            ("::ffff:127.0.0.1", 6),
            ("fe80::1%eth0", 6),
            ("127.000.000.001", 0),
            ("127.0.0.1/24", 0),
            ("[::1]", 0),
            ("", 0),
            ("fe80::1%", 0),
            ("localhost", 0),
        ] {
            assert_eq!(is_ip(input), family, "{input:?}");
        }
        assert!(is_ipv4("1.2.3.4") && !is_ipv6("1.2.3.4"));
        assert!(is_ipv6("::") && !is_ipv4("::"));
    }

    #[test]
    fn ports_parse_like_node() {
        assert_eq!(80u16.into_port().unwrap(), 80);
        assert_eq!("8080".into_port().unwrap(), 8080);
        assert_eq!("0x1f90".into_port().unwrap(), 8080);
        assert_eq!(65535i64.into_port().unwrap(), 65535);
        for bad in [-1i64, 65536, i64::MAX] {
            assert_eq!(bad.into_port().unwrap_err().code(), "ERR_SOCKET_BAD_PORT");
        }
        for bad in ["", " ", "abc", "-1", "65536", "1.5"] {
            assert_eq!(
                bad.into_port().unwrap_err().code(),
                "ERR_SOCKET_BAD_PORT",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn borrowed_data_copies_only_the_tail() {
        let s = "hello";
        assert_eq!(s.into_bytes_from(2), Bytes::from_static(b"llo"));
        let owned = Bytes::from_static(b"abcdef");
        let tail = owned.clone().into_bytes_from(3);
        assert_eq!(tail, "def");
        // Same allocation: a slice, not a copy.
        assert_eq!(tail.as_ptr(), owned[3..].as_ptr());
    }
}
