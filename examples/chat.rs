//! Verb's chat server with rooms, ported to nodenet.
//!
//! ```text
//! cargo run --release --example chat -- [--host H] [--port P]
//!     [--max-connections N] [--idle-timeout SECONDS] [--quiet]
//!     [--tls-cert CERT.pem --tls-key KEY.pem [--tls-ca CA.pem]]
//! ```
//!
//! Prints `listening on HOST:PORT` once listening (`--port 0` picks a free
//! port). Logs connections and errors to stderr unless `--quiet`.
//!
//! With `--tls-cert` and `--tls-key` (built with the `tls` feature:
//! `--features tls-aws-lc-rs` or `tls-ring`) the same chat is served over
//! TLS, as Verb's `withOptions({ tls: { cert, key } })`; `--tls-ca` adds
//! its `ca` with `requestCert: true, rejectUnauthorized: false` (clients
//! are asked for a certificate but let in without one). Each secure
//! connection logs its cipher and protocol, where Verb's program prints
//! `socket.getCipher()` and `socket.getProtocol()`.
//!
//! Each message is a frame: a 4-byte big-endian length, then that many
//! bytes of UTF-8 JSON ([`LengthPrefixed`], at most 1 MiB). Client to
//! server:
//!
//! | message | effect |
//! |---|---|
//! | `{"type":"login","nickname":N}` | `login_success {clientId, message:"Welcome, N!"}` |
//! | `{"type":"join_room","room":R}` | leaves the current room; `room_joined {room, users}` to the joiner, `user_joined {nickname, message}` to the others in R |
//! | `{"type":"leave_room"}` | `user_left {nickname, message}` to the others in the room |
//! | `{"type":"chat_message","message":M}` | `chat_message {from, message, timestamp}` to everyone else in the sender's room |
//! | `{"type":"private_message","to":N,"message":M}` | `private_message {from, message, timestamp}` to the user(s) logged in as N |
//! | `{"type":"ping"}` | `pong {timestamp}` |
//!
//! Invalid JSON, an unknown `type`, a missing field or an unknown recipient
//! get `error {message}`, and the connection stays usable. A frame header
//! announcing more than 1 MiB gets an `error` and the connection is ended
//! (the stream cannot be resynchronised). A disconnect counts as leaving the
//! room.
//!
//! What the Verb document adds around the protocol is here too:
//! connections tracked by `socket.id()` with their activity, an idle time-out
//! per socket plus a periodic sweep (`set_interval`) of connections idle for
//! five minutes, a connection limit (`set_max_connections`, `'drop'`), and
//! errors handled by their code, so that a bad peer only ever costs its own
//! connection.
//!
//! [`LengthPrefixed`]: nodenet::framing::LengthPrefixed

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nodenet::framing::{Decoder, LengthPrefixed};
use nodenet::{
    tcp, Bytes, DropInfo, Error, ErrorCode, Server, ServerOptions, Socket, SocketOptions,
};
use serde_json::{json, Value};

/// The largest frame a client may send: 1 MiB.
pub const MAX_FRAME: usize = 1024 * 1024;

/// The server's knobs; [`Config::default`] is what `main` uses.
#[derive(Debug, Clone)]
pub struct Config {
    /// Connections beyond this many are accepted and closed at once.
    pub max_connections: usize,
    /// A connection that sends nothing for this long is destroyed.
    pub idle_timeout: Duration,
    /// How often idle connections are looked for.
    pub sweep_interval: Duration,
    /// The largest frame accepted from a client.
    pub max_frame: usize,
    /// A client whose unsent output grows past this many bytes (it does
    /// not read) is disconnected rather than buffered for without bound.
    pub max_unsent: usize,
    /// Log connections and errors to stderr.
    pub verbose: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_connections: 10_000,
            idle_timeout: Duration::from_secs(300),
            sweep_interval: Duration::from_secs(30),
            max_frame: MAX_FRAME,
            max_unsent: 16 * 1024 * 1024,
            verbose: true,
        }
    }
}

macro_rules! log {
    ($config:expr, $($arg:tt)*) => {
        if $config.verbose {
            eprintln!("[chat] {}", format_args!($($arg)*));
        }
    };
}

/// One connection, keyed by `socket.id()` in [`Chat::clients`].
struct Client {
    socket: Socket,
    /// `remoteAddress:remotePort`, as Verb names its clients.
    client_id: String,
    nickname: Option<String>,
    room: Option<String>,
    connected_at: Instant,
    last_activity: Instant,
}

/// All the server's state; one per server, shared by its callbacks as
/// `Rc<RefCell<Chat>>` (every callback runs on the loop's one thread).
struct Chat {
    config: Config,
    clients: HashMap<u64, Client>,
    /// Room name to its members' socket ids, in joining order.
    rooms: HashMap<String, Vec<u64>>,
}

type Shared = Rc<RefCell<Chat>>;

/// Milliseconds since the Unix epoch, as JavaScript's `Date.now()`.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `message` as a length-prefixed JSON frame.
fn frame(message: &Value) -> Bytes {
    // A `Value` always serializes, and our messages are far below 4 GiB.
    let json = serde_json::to_vec(message).unwrap_or_default();
    LengthPrefixed::encode(json).unwrap_or_default()
}

fn error_message(text: impl Into<String>) -> Value {
    json!({ "type": "error", "message": text.into() })
}

/// A string field of a message, or the `error` to answer with.
fn field<'a>(message: &'a Value, name: &str) -> Result<&'a str, Value> {
    match message.get(name).and_then(Value::as_str) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(error_message(format!(
            "Invalid message: \"{name}\" must be a non-empty string"
        ))),
    }
}

impl Chat {
    fn new(config: Config) -> Chat {
        Chat {
            config,
            clients: HashMap::new(),
            rooms: HashMap::new(),
        }
    }

    /// Sends an encoded frame to one socket. A socket that is ending, or
    /// whose peer does not read what it is sent, gets nothing more.
    fn send_frame(&self, socket: &Socket, frame: &Bytes) {
        if !socket.writable() {
            return;
        }
        if socket.writable_length() > self.config.max_unsent {
            log!(
                self.config,
                "{}: not reading its messages, disconnecting",
                self.client_id(socket.id())
            );
            socket.destroy();
            return;
        }
        // The same `Bytes` for every recipient of a broadcast: no copy.
        socket.write(frame);
    }

    fn send(&self, id: u64, message: &Value) {
        if let Some(client) = self.clients.get(&id) {
            self.send_frame(&client.socket, &frame(message));
        }
    }

    /// Sends `message` to every member of `room` but `exclude`.
    fn broadcast(&self, room: &str, message: &Value, exclude: Option<u64>) {
        let Some(members) = self.rooms.get(room) else {
            return;
        };
        let frame = frame(message);
        for id in members.iter().filter(|&&id| Some(id) != exclude) {
            if let Some(client) = self.clients.get(id) {
                self.send_frame(&client.socket, &frame);
            }
        }
    }

    fn client_id(&self, id: u64) -> String {
        self.clients
            .get(&id)
            .map_or_else(|| format!("#{id}"), |c| c.client_id.clone())
    }

    fn nickname(&self, id: u64) -> Option<String> {
        self.clients.get(&id).and_then(|c| c.nickname.clone())
    }

    /// Handles one frame from connection `id`.
    fn on_frame(&mut self, id: u64, payload: &[u8]) {
        let message: Value = match serde_json::from_slice(payload) {
            Ok(m) => m,
            Err(e) => return self.send(id, &error_message(format!("Invalid JSON: {e}"))),
        };
        if let Err(reply) = self.on_message(id, &message) {
            self.send(id, &reply);
        }
    }

    /// Verb's `protocol.onMessage`; `Err` is the `error` to answer with.
    fn on_message(&mut self, id: u64, message: &Value) -> Result<(), Value> {
        match message.get("type").and_then(Value::as_str) {
            Some("login") => {
                let nickname = field(message, "nickname")?;
                let Some(client) = self.clients.get_mut(&id) else {
                    return Ok(());
                };
                client.nickname = Some(nickname.to_string());
                let reply = json!({
                    "type": "login_success",
                    "clientId": client.client_id,
                    "message": format!("Welcome, {nickname}!"),
                });
                self.send(id, &reply);
            }
            Some("join_room") => {
                let room = field(message, "room")?.to_string();
                self.join_room(id, room);
            }
            Some("leave_room") => self.leave_room(id),
            Some("chat_message") => {
                let text = field_text(message, "message")?;
                if let Some(room) = self.clients.get(&id).and_then(|c| c.room.clone()) {
                    let message = json!({
                        "type": "chat_message",
                        "from": self.nickname(id),
                        "message": text,
                        "timestamp": now_ms(),
                    });
                    self.broadcast(&room, &message, Some(id));
                }
            }
            Some("private_message") => {
                let to = field(message, "to")?;
                let text = field_text(message, "message")?;
                self.private_message(id, to, text)?;
            }
            Some("ping") => self.send(id, &json!({ "type": "pong", "timestamp": now_ms() })),
            Some(other) => return Err(error_message(format!("Unknown message type: {other}"))),
            None => {
                return Err(error_message(
                    "Unknown message type: a message needs a \"type\" string",
                ))
            }
        }
        Ok(())
    }

    fn join_room(&mut self, id: u64, room: String) {
        let Some(current) = self.clients.get(&id).map(|c| c.room.clone()) else {
            return;
        };
        if current.as_deref() != Some(room.as_str()) {
            // Leave the current room, then join the new one.
            self.leave_room(id);
            self.rooms.entry(room.clone()).or_default().push(id);
            if let Some(client) = self.clients.get_mut(&id) {
                client.room = Some(room.clone());
            }
            let nickname = self.nickname(id);
            let joined = json!({
                "type": "user_joined",
                "nickname": nickname,
                "message": format!("{} joined the room", nickname.as_deref().unwrap_or("someone")),
            });
            self.broadcast(&room, &joined, Some(id));
        }
        let users: Vec<String> = self.rooms[&room]
            .iter()
            .filter_map(|member| self.nickname(*member))
            .collect();
        self.send(
            id,
            &json!({ "type": "room_joined", "room": room, "users": users }),
        );
    }

    fn leave_room(&mut self, id: u64) {
        let Some(room) = self.clients.get_mut(&id).and_then(|c| c.room.take()) else {
            return;
        };
        if let Some(members) = self.rooms.get_mut(&room) {
            members.retain(|&member| member != id);
            if members.is_empty() {
                self.rooms.remove(&room);
            }
        }
        let nickname = self.nickname(id);
        let left = json!({
            "type": "user_left",
            "nickname": nickname,
            "message": format!("{} left the room", nickname.as_deref().unwrap_or("someone")),
        });
        self.broadcast(&room, &left, Some(id));
    }

    fn private_message(&self, id: u64, to: &str, text: &Value) -> Result<(), Value> {
        let recipients: Vec<u64> = self
            .clients
            .iter()
            .filter(|(_, c)| c.nickname.as_deref() == Some(to))
            .map(|(&rid, _)| rid)
            .collect();
        if recipients.is_empty() {
            return Err(error_message(format!("User {to} not found")));
        }
        let message = frame(&json!({
            "type": "private_message",
            "from": self.nickname(id),
            "message": text,
            "timestamp": now_ms(),
        }));
        for rid in recipients {
            self.send_frame(&self.clients[&rid].socket, &message);
        }
        Ok(())
    }

    /// Forgets a connection: it leaves its room (the others are told) and
    /// leaves the table. Idempotent.
    fn disconnect(&mut self, id: u64) {
        self.leave_room(id);
        if let Some(client) = self.clients.remove(&id) {
            log!(
                self.config,
                "{} disconnected after {:.1?} ({} connected)",
                client.client_id,
                client.connected_at.elapsed(),
                self.clients.len()
            );
        }
    }

    /// A frame the decoder refused (over the maximum): say why, forget the
    /// connection and end it. The peer gets the `error` then our FIN; a
    /// peer that does not close its side is destroyed after a grace period.
    fn reject(&mut self, socket: &Socket, err: &Error) {
        let id = socket.id();
        log!(
            self.config,
            "{}: {} {}, closing",
            self.client_id(id),
            err.code(),
            err.message()
        );
        self.send(id, &error_message(err.message()));
        self.disconnect(id);
        socket.end();
        let socket = *socket;
        nodenet::set_timeout(
            move || {
                socket.destroy();
            },
            10_000,
        )
        .unref();
    }

    /// Verb's clean-up of inactive connections.
    fn sweep(&self) {
        let now = Instant::now();
        for client in self.clients.values() {
            if now.duration_since(client.last_activity) > self.config.idle_timeout {
                log!(
                    self.config,
                    "cleaning up inactive connection {}",
                    client.client_id
                );
                // 'close' follows on a later turn and removes it.
                client.socket.destroy();
            }
        }
    }
}

/// A message field relayed as is (any JSON value, as Verb relays it), or
/// the `error` to answer with when it is missing.
fn field_text<'a>(message: &'a Value, name: &str) -> Result<&'a Value, Value> {
    match message.get(name) {
        Some(v) if !v.is_null() => Ok(v),
        _ => Err(error_message(format!(
            "Invalid message: \"{name}\" is missing"
        ))),
    }
}

/// What an error code means, as Verb's error handlers say it.
fn explain(err: &Error) -> &'static str {
    match err.kind() {
        ErrorCode::EADDRINUSE => "port is already in use",
        ErrorCode::EACCES => "permission denied",
        ErrorCode::EMFILE | ErrorCode::ENFILE => "out of file descriptors",
        ErrorCode::ECONNRESET => "connection reset by peer",
        ErrorCode::ETIMEDOUT => "connection timed out",
        ErrorCode::EPIPE => "broken pipe",
        _ => "unexpected error",
    }
}

/// Sets up one accepted connection.
fn accept(chat: &Shared, socket: &Socket) {
    let id = socket.id();
    let client_id = match socket.peer_addr() {
        Some(addr) => format!("{}:{}", addr.ip(), addr.port()),
        None => format!("#{id}"),
    };
    let config = chat.borrow().config.clone();
    {
        let mut state = chat.borrow_mut();
        let now = Instant::now();
        state.clients.insert(
            id,
            Client {
                socket: *socket,
                client_id: client_id.clone(),
                nickname: None,
                room: None,
                connected_at: now,
                last_activity: now,
            },
        );
        log!(
            config,
            "client connected: {client_id} ({} connected)",
            state.clients.len()
        );
    }
    // Verb's `if (socket.encrypted) { ... getCipher() ... getProtocol() }`.
    #[cfg(feature = "tls")]
    if socket.encrypted() {
        log!(
            config,
            "{client_id}: secure connection established, cipher {}, protocol {}{}",
            socket.get_cipher().map_or("none", |c| c.name),
            socket
                .get_protocol()
                .map_or_else(|| "none".to_string(), |p| p.to_string()),
            if socket.authorized() {
                ", client certificate verified"
            } else {
                ""
            }
        );
    }

    // The per-connection decoder lives in the 'data' listener itself.
    let mut frames = LengthPrefixed::new(config.max_frame);
    let on_data = chat.clone();
    let on_close = chat.clone();
    let timeout_config = config.clone();
    let timeout_id = client_id.clone();
    let error_config = config.clone();
    socket
        .set_timeout(config.idle_timeout.as_millis() as u64)
        .on("data", move |s: &Socket, chunk: &Bytes| {
            let mut chat = on_data.borrow_mut();
            if let Some(client) = chat.clients.get_mut(&s.id()) {
                client.last_activity = Instant::now();
            }
            for frame in frames.decode(chunk) {
                match frame {
                    Ok(payload) => chat.on_frame(s.id(), &payload),
                    Err(err) => chat.reject(s, &err),
                }
            }
        })
        .on("timeout", move |s: &Socket| {
            log!(timeout_config, "connection timeout: {timeout_id}");
            s.destroy();
        })
        .on("error", move |_: &Socket, err: &Error| {
            // Logged, never fatal: 'close' follows and cleans up.
            log!(
                error_config,
                "{client_id}: {} ({}): {}",
                err.code(),
                explain(err),
                err.message()
            );
        })
        .on("close", move |s: &Socket, _had_error: bool| {
            on_close.borrow_mut().disconnect(s.id());
        });
}

/// [`start_with`] and the default [`Config`].
///
/// # Errors
///
/// As [`start_with`].
pub fn start(host: &str, port: u16) -> Result<Server, Error> {
    start_with(host, port, Config::default())
}

/// Starts a chat server on `host:port` (0 picks a free port) on this
/// thread's loop, and runs the loop until it is listening. Then call
/// `nodenet::run()` to serve; `server.address()` says where.
///
/// # Errors
///
/// The listen failure (`EADDRINUSE`, `EACCES`, `ENOTFOUND`, a bad port);
/// also when called from inside a running loop's callback.
pub fn start_with(host: &str, port: u16, config: Config) -> Result<Server, Error> {
    let chat: Shared = Rc::new(RefCell::new(Chat::new(config.clone())));
    let on_connection = chat.clone();
    let server = tcp::create_server(net_options(), move |_: &Server, socket: &Socket| {
        accept(&on_connection, socket)
    });
    listen(server, chat, host, port)
}

/// The chat over TLS, as Verb's `withOptions({ tls: { cert, key, ca,
/// requestCert, rejectUnauthorized } })`: [`start_with`] on a
/// `nodenet::tls` server made with `tls` (its `net` options are the
/// chat's own). A connection joins the chat once its handshake is done.
///
/// # Errors
///
/// The secure context's errors (a certificate or key that does not
/// parse, a key that does not match), and [`start_with`]'s.
#[cfg(feature = "tls")]
pub fn start_tls(
    host: &str,
    port: u16,
    config: Config,
    tls: nodenet::tls::ServerOptions,
) -> Result<Server, Error> {
    let chat: Shared = Rc::new(RefCell::new(Chat::new(config.clone())));
    let on_connection = chat.clone();
    let options = nodenet::tls::ServerOptions {
        net: net_options(),
        ..tls
    };
    let server = nodenet::tls::create_server(options, move |_: &Server, socket: &Socket| {
        accept(&on_connection, socket)
    })?;
    // A failed handshake (a client that does not trust the certificate,
    // or does not speak TLS) costs only that connection.
    let error_config = config.clone();
    server.on(
        "tlsClientError",
        move |_: &Server, err: &Error, socket: &Socket| {
            let peer = socket
                .peer_addr()
                .map_or_else(|| format!("#{}", socket.id()), |a| a.to_string());
            log!(
                error_config,
                "{peer}: TLS handshake failed: {} {}",
                err.code(),
                err.message()
            );
        },
    );
    listen(server, chat, host, port)
}

/// The chat's server options: Nagle off, as Verb's `noDelay: true`.
fn net_options() -> ServerOptions {
    ServerOptions {
        socket: SocketOptions {
            no_delay: true,
            ..SocketOptions::default()
        },
        ..ServerOptions::default()
    }
}

/// Limits, logging and the idle sweep around `server`, then listens on
/// `host:port` and runs the loop until it is listening.
fn listen(server: Server, chat: Shared, host: &str, port: u16) -> Result<Server, Error> {
    let config = chat.borrow().config.clone();
    server.set_max_connections(Some(config.max_connections));

    // Until it is listening, an 'error' is start's result; after, a log line.
    let outcome: Rc<RefCell<Option<Result<(), Error>>>> = Rc::default();
    let listening = outcome.clone();
    let failed = outcome.clone();
    let drop_config = config.clone();
    let error_config = config.clone();
    server
        .once("listening", move |_: &Server| {
            *listening.borrow_mut() = Some(Ok(()));
        })
        .on("error", move |_: &Server, err: &Error| {
            let mut outcome = failed.borrow_mut();
            if outcome.is_none() {
                *outcome = Some(Err(err.clone()));
            } else {
                log!(
                    error_config,
                    "server error {} ({}): {}",
                    err.code(),
                    explain(err),
                    err.message()
                );
            }
        })
        .on("drop", move |srv: &Server, info: &DropInfo| {
            log!(
                drop_config,
                "connection limit ({}) reached: dropped {:?}",
                srv.max_connections().unwrap_or(0),
                info.remote
            );
        });
    server.listen(port, host)?;
    nodenet::run_until(|| outcome.borrow().is_some())?;
    let result = outcome.borrow_mut().take();
    match result {
        Some(Ok(())) => {}
        Some(Err(err)) => return Err(err),
        None => {
            return Err(Error::new(
                ErrorCode::ERR_SERVER_NOT_RUNNING,
                "the server stopped before listening",
            ))
        }
    }

    // The periodic clean-up; unref'd, so it never keeps the loop alive on
    // its own.
    let sweeper = chat;
    nodenet::set_interval(
        move || sweeper.borrow().sweep(),
        config.sweep_interval.as_millis() as u64,
    )
    .unref();
    Ok(server)
}

struct Args {
    host: String,
    port: u16,
    config: Config,
    /// `--tls-cert`, `--tls-key`, `--tls-ca`: serve over TLS.
    tls_cert: Option<String>,
    tls_key: Option<String>,
    tls_ca: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        host: "127.0.0.1".to_string(),
        port: 3000,
        config: Config::default(),
        tls_cert: None,
        tls_key: None,
        tls_ca: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--host" => args.host = value()?,
            "--port" => args.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--max-connections" => {
                args.config.max_connections = value()?
                    .parse()
                    .map_err(|e| format!("--max-connections: {e}"))?
            }
            "--idle-timeout" => {
                let s: u64 = value()?
                    .parse()
                    .map_err(|e| format!("--idle-timeout: {e}"))?;
                args.config.idle_timeout = Duration::from_secs(s.max(1));
                args.config.sweep_interval = args
                    .config
                    .sweep_interval
                    .min(Duration::from_secs(s.max(1)));
            }
            "--quiet" => args.config.verbose = false,
            "--tls-cert" => args.tls_cert = Some(value()?),
            "--tls-key" => args.tls_key = Some(value()?),
            "--tls-ca" => args.tls_ca = Some(value()?),
            "-h" | "--help" => {
                return Err("usage: chat [--host H] [--port P] [--max-connections N] \
                            [--idle-timeout SECONDS] [--quiet] \
                            [--tls-cert CERT.pem --tls-key KEY.pem [--tls-ca CA.pem]]"
                    .into())
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.tls_cert.is_some() != args.tls_key.is_some() {
        return Err("--tls-cert and --tls-key go together".into());
    }
    if args.tls_ca.is_some() && args.tls_cert.is_none() {
        return Err("--tls-ca needs --tls-cert and --tls-key".into());
    }
    if args.tls_cert.is_some() && cfg!(not(feature = "tls")) {
        return Err("--tls-cert: this chat was built without TLS; \
                    build it with `--features tls-aws-lc-rs` (or `tls-ring`)"
            .into());
    }
    Ok(args)
}

/// The server the command line asks for: plain TCP, or TLS with
/// `--tls-cert`/`--tls-key`.
fn start_args(args: &Args) -> Result<Server, Error> {
    #[cfg(feature = "tls")]
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        use nodenet::tls::{SecureContextOptions, ServerOptions as TlsOptions};
        let context = SecureContextOptions::from_files(cert, key)?;
        let options = match &args.tls_ca {
            // Verb's `ca` with `requestCert: true, rejectUnauthorized:
            // false`: clients are asked for a certificate, and one without
            // a certificate that verifies is let in all the same.
            Some(ca) => TlsOptions::new(context.ca_file(ca)?).request_cert(true, false),
            None => TlsOptions::new(context),
        };
        return start_tls(&args.host, args.port, args.config.clone(), options);
    }
    start_with(&args.host, args.port, args.config.clone())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let server = match start_args(&args) {
        Ok(server) => server,
        Err(err) => {
            eprintln!(
                "chat: {} ({}): {}",
                err.code(),
                explain(&err),
                err.message()
            );
            return ExitCode::FAILURE;
        }
    };
    let port = server.address().map_or(args.port, |a| a.port());
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on {}:{port}", args.host);
    let _ = out.flush();
    drop(out);
    match nodenet::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("chat: {}: {}", err.code(), err.message());
            ExitCode::FAILURE
        }
    }
}
