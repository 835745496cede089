//! 4D's `TCPConnection` class and its `MyAsyncTCPConnection` example,
//! ported to nodenet.
//!
//! ```text
//! cargo run --example fourd_client -- [--host H] [--port P] [--no-delay] [--once]
//! cargo run --example fourd_client -- --connect HOST:PORT [--no-delay]
//! ```
//!
//! 4D's example connects to "one of the servers launched inside workers".
//! Without `--connect`, this example launches such a server in a worker
//! thread first: it prints `listening on HOST:PORT` (`--port 0` picks a
//! free port; 10000, the document's, is the default), reads what a client
//! sends until the client shuts its side down, then answers
//! `Received "<what it sent>"` and closes. Then the document's `AsyncTCP`
//! method runs in another worker (`callWorker`) and prints what each
//! callback saw. The server keeps serving afterwards unless `--once`.
//! With `--connect`, only the client runs, against that server.
//!
//! The model of 4D's object, over nodenet:
//!
//! | 4D | here | nodenet |
//! |---|---|---|
//! | `4D.TCPConnection.new(address, port, options)` | [`TCPConnection::new`] | `tcp::connect_with` + a [`Handler`] |
//! | options `onConnection` / `onData` / `onShutdown` / `onError` / `onTerminate` | [`TCPCallbacks`] methods | `'connect'`, `'data'`, `'close'(false)`, `'error'`, after `'close'` |
//! | options `noDelay` | [`TCPCallbacks::no_delay`] | `set_no_delay` |
//! | `.send(blob)` | [`TCPConnection::send`] | `write()`, queued until connected |
//! | `.shutdown()` | [`TCPConnection::shutdown`] | `end()`: half-close, reading goes on |
//! | `.wait(timeout)` | [`TCPConnection::wait`] | `Socket::wait_closed` |
//! | `.closed` / `.errors` / `.noDelay` | [`TCPConnection::closed`] / [`errors`](TCPConnection::errors) / [`no_delay`](TCPConnection::no_delay) | `destroyed()` / `errors()` |
//!
//! 4D's contract holds: `on_connection`, `on_data` for each chunk, then
//! exactly one of `on_shutdown` (properly closed) and `on_error`, and
//! `on_terminate` always last.

use std::cell::RefCell;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use nodenet::cluster::{self, Cluster};
use nodenet::{
    tcp, Bytes, Error, Handler, ListenOptions, Server, ServerOptions, Socket, SocketOptions,
    WriteData,
};

/// 4D's `TCPEvent`: what a callback is told.
#[derive(Debug, Clone)]
pub struct TCPEvent {
    /// `"connection"`, `"data"`, `"shutdown"`, `"error"` or `"terminate"`
    /// (4D's `type`).
    pub kind: &'static str,
    /// The bytes received, for `"data"` (4D's `data` blob).
    pub data: Option<Bytes>,
}

impl TCPEvent {
    fn new(kind: &'static str) -> TCPEvent {
        TCPEvent { kind, data: None }
    }
}

/// The options object of `4D.TCPConnection.new()`: its formulas are these
/// methods (all optional), its `noDelay` property is [`no_delay`].
///
/// [`no_delay`]: TCPCallbacks::no_delay
pub trait TCPCallbacks: 'static {
    /// `onConnection`: the connection is established.
    fn on_connection(&mut self, _connection: &TCPConnection, _event: &TCPEvent) {}
    /// `onData`: data was received (in chunks of any size).
    fn on_data(&mut self, _connection: &TCPConnection, _event: &TCPEvent) {}
    /// `onShutdown`: the connection was properly closed.
    fn on_shutdown(&mut self, _connection: &TCPConnection, _event: &TCPEvent) {}
    /// `onError`: the connection failed; `connection.errors()` says why.
    fn on_error(&mut self, _connection: &TCPConnection, _event: &TCPEvent) {}
    /// `onTerminate`: always last, just before the connection is released.
    fn on_terminate(&mut self, _connection: &TCPConnection, _event: &TCPEvent) {}
    /// `noDelay`: disable Nagle's algorithm (default `false`).
    fn no_delay(&self) -> bool {
        false
    }
}

/// What a `TCPConnection` keeps beyond its socket: 4D's properties stay
/// readable after the connection is released, nodenet's handle goes stale.
struct Kept {
    no_delay: bool,
    errors: RefCell<Vec<Error>>,
}

/// 4D's `TCPConnection` object (not shareable: it lives on the thread, and
/// the loop, that made it).
#[derive(Clone)]
pub struct TCPConnection {
    socket: Socket,
    kept: Rc<Kept>,
}

impl TCPConnection {
    /// `4D.TCPConnection.new(serverAddress, serverPort, options)`: starts
    /// connecting; the callbacks of `options` run on this thread's loop
    /// (while it runs: `nodenet::run()`, or [`wait`](TCPConnection::wait)).
    ///
    /// # Errors
    ///
    /// `ERR_SOCKET_BAD_PORT` for port 0; connection failures go to
    /// `on_error`.
    pub fn new(
        server_address: &str,
        server_port: u16,
        options: impl TCPCallbacks,
    ) -> Result<TCPConnection, Error> {
        let kept = Rc::new(Kept {
            no_delay: options.no_delay(),
            errors: RefCell::default(),
        });
        let contract = Contract {
            options,
            kept: kept.clone(),
            errored: false,
        };
        let socket = tcp::connect_with(server_port, server_address, contract)?;
        socket.set_no_delay(kept.no_delay);
        Ok(TCPConnection { socket, kept })
    }

    /// `.send(data)`: sends to the server; before the connection is
    /// established the data is queued and sent, in order, once it is.
    pub fn send(&self, data: impl WriteData) {
        self.socket.write(data);
    }

    /// `.shutdown()`: closes the write channel (our FIN) and keeps the read
    /// channel open: `on_data` goes on until the server closes its side.
    pub fn shutdown(&self) {
        self.socket.end();
    }

    /// `.wait()` / `.wait(timeout)`: runs the loop (every connection's
    /// callbacks) until this connection is fully closed, or `timeout`;
    /// whether it closed. Not for use inside a callback.
    ///
    /// # Errors
    ///
    /// An unhandled `'error'` of something else on the loop, or a call from
    /// inside a callback.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<bool, Error> {
        match timeout {
            Some(timeout) => self.socket.wait_closed(timeout),
            None => {
                let socket = self.socket;
                nodenet::run_until(|| socket.closed())
            }
        }
    }

    /// `.closed`: whether the connection is closed, by an error, by
    /// `shutdown()` (our write channel is) or by the server.
    pub fn closed(&self) -> bool {
        self.socket.destroyed() || self.socket.writable_ended()
    }

    /// `.errors`: the errors met, oldest first (4D's `errCode`, `message`
    /// and `componentSignature` are `errno()`, `message()` and `syscall()`;
    /// `code()` names it). Still readable after termination.
    pub fn errors(&self) -> Vec<Error> {
        let live = self.socket.errors();
        if live.is_empty() {
            self.kept.errors.borrow().clone()
        } else {
            live
        }
    }

    /// `.noDelay` (read-only): whether Nagle's algorithm is disabled.
    pub fn no_delay(&self) -> bool {
        self.kept.no_delay
    }
}

/// nodenet's events turned into 4D's callbacks, with 4D's contract.
struct Contract<O> {
    options: O,
    kept: Rc<Kept>,
    /// `on_error` was called: no `on_shutdown` then.
    errored: bool,
}

impl<O> Contract<O> {
    fn connection(&self, socket: &Socket) -> TCPConnection {
        TCPConnection {
            socket: *socket,
            kept: self.kept.clone(),
        }
    }
}

impl<O: TCPCallbacks> Handler for Contract<O> {
    fn on_connect(&mut self, socket: &Socket) {
        let connection = self.connection(socket);
        self.options
            .on_connection(&connection, &TCPEvent::new("connection"));
    }

    fn on_data(&mut self, socket: &Socket, data: &Bytes) {
        let connection = self.connection(socket);
        let event = TCPEvent {
            kind: "data",
            data: Some(data.clone()),
        };
        self.options.on_data(&connection, &event);
    }

    fn on_error(&mut self, socket: &Socket, _err: &Error) {
        if !self.errored {
            self.errored = true;
            *self.kept.errors.borrow_mut() = socket.errors();
            let connection = self.connection(socket);
            self.options.on_error(&connection, &TCPEvent::new("error"));
        }
    }

    fn on_close(&mut self, socket: &Socket, had_error: bool) {
        *self.kept.errors.borrow_mut() = socket.errors();
        let connection = self.connection(socket);
        if !self.errored {
            if had_error {
                self.errored = true;
                self.options.on_error(&connection, &TCPEvent::new("error"));
            } else {
                self.options
                    .on_shutdown(&connection, &TCPEvent::new("shutdown"));
            }
        }
        self.options
            .on_terminate(&connection, &TCPEvent::new("terminate"));
    }
}

/// `cs.MyAsyncTCPConnection`, the document's class.
///
/// 4D passes the object itself (`this`) as the connection's options, so its
/// methods are the callbacks. Here the connection gets its own copy of the
/// object: the copy's callbacks run on the loop, and the `infos` log is the
/// one thing both copies share. Each callback records its `info` string
/// there (4D's `var info`) and prints it.
#[derive(Clone)]
pub struct MyAsyncTCPConnection {
    /// `this.connection`.
    pub connection: Option<TCPConnection>,
    /// `this.url`.
    pub url: String,
    /// `this.port`.
    pub port: u16,
    /// The options' `noDelay` property.
    pub no_delay: bool,
    infos: Rc<RefCell<Vec<String>>>,
}

impl MyAsyncTCPConnection {
    /// `constructor(url : string, port : integer)`.
    pub fn new(url: &str, port: u16) -> MyAsyncTCPConnection {
        MyAsyncTCPConnection {
            connection: None,
            url: url.to_string(),
            port,
            no_delay: false,
            infos: Rc::default(),
        }
    }

    /// `connect()`: connect to one of the servers launched inside workers.
    ///
    /// # Errors
    ///
    /// As [`TCPConnection::new`].
    pub fn connect(&mut self) -> Result<(), Error> {
        // this.connection := 4D.TCPConnection.new(this.url, this.port, this)
        self.connection = Some(TCPConnection::new(&self.url, self.port, self.clone())?);
        Ok(())
    }

    /// `disconnect()`: disconnect from the server.
    pub fn disconnect(&mut self) {
        // this.connection.shutdown()
        // this.connection = null
        if let Some(connection) = self.connection.take() {
            connection.shutdown();
        }
    }

    /// `getInfo()`: send data to the server.
    pub fn get_info(&self) {
        // blob = convertFromString("Information", "UTF-8")
        let blob = Bytes::from_static("Information".as_bytes());
        if let Some(connection) = &self.connection {
            connection.send(blob);
        }
    }

    /// The `info` of every callback so far, in order.
    pub fn infos(&self) -> Vec<String> {
        self.infos.borrow().clone()
    }

    fn info(&self, event: &TCPEvent, info: String) {
        println!("[{}] {info}", event.kind);
        self.infos.borrow_mut().push(info);
    }
}

impl TCPCallbacks for MyAsyncTCPConnection {
    // Callback called when the connection is successfully established
    fn on_connection(&mut self, _connection: &TCPConnection, event: &TCPEvent) {
        self.info(event, "Connection established".into());
    }

    // Callback called when the connection is properly closed
    fn on_shutdown(&mut self, _connection: &TCPConnection, event: &TCPEvent) {
        self.info(event, "Connection closed".into());
    }

    // Callback called when receiving data from the server
    fn on_data(&mut self, _connection: &TCPConnection, event: &TCPEvent) {
        // convertToString(event.data, "UTF-8")
        let data = event.data.as_deref().unwrap_or_default();
        self.info(event, String::from_utf8_lossy(data).into_owned());
        // Warning: There's no guarantee you'll receive all the data you
        // need in a single network packet.
    }

    // Callback called when the connection is closed unexpectedly
    fn on_error(&mut self, _connection: &TCPConnection, event: &TCPEvent) {
        self.info(event, "Connection error".into());
    }

    // Callback called after onShutdown/onError just before the
    // TCPConnection object is released
    fn on_terminate(&mut self, _connection: &TCPConnection, event: &TCPEvent) {
        self.info(event, "Connection terminated".into());
    }

    fn no_delay(&self) -> bool {
        self.no_delay
    }
}

/// The usage example's `AsyncTCP` method: connect, send, disconnect, all
/// before the connection is even up (the send is queued, the shutdown
/// follows it). The callbacks run on this thread's loop afterwards.
///
/// # Errors
///
/// As [`TCPConnection::new`].
pub fn async_tcp(url: &str, port: u16, no_delay: bool) -> Result<MyAsyncTCPConnection, Error> {
    // var myObject : cs.MyAsyncTCPConnection
    // myObject = cs.MyAsyncTCPConnection.new("myURL", 10000)
    let mut my_object = MyAsyncTCPConnection::new(url, port);
    my_object.no_delay = no_delay;
    // myObject.connect()
    my_object.connect()?;
    // myObject.getInfo()
    my_object.get_info();
    // myObject.disconnect()
    my_object.disconnect();
    Ok(my_object)
}

/// `callWorker("new process", "Async_TCP")`: `AsyncTCP` in a worker of its
/// own (a thread with its own loop, which runs until the connection has
/// terminated). Returns the callbacks' infos.
pub fn call_worker(url: &str, port: u16, no_delay: bool) -> Result<Vec<String>, Error> {
    let url = url.to_string();
    std::thread::Builder::new()
        .name("new process".into())
        .spawn(move || {
            let my_object = async_tcp(&url, port, no_delay)?;
            nodenet::run()?;
            Ok(my_object.infos())
        })
        .map_err(|e| Error::from_io(e, "spawn", None))?
        .join()
        .unwrap_or_else(|_| Ok(vec!["the worker panicked".into()]))
}

/// The same exchange without a worker: `wait()` runs the callbacks here
/// until the connection has closed (or `timeout`); then the connection's
/// `closed`, `errors` and `noDelay` are printed. Returns the object and its
/// (released) connection.
///
/// # Errors
///
/// As [`TCPConnection::new`] and [`TCPConnection::wait`].
pub fn wait_for_info(
    url: &str,
    port: u16,
    no_delay: bool,
    timeout: Duration,
) -> Result<(MyAsyncTCPConnection, TCPConnection), Error> {
    let mut my_object = MyAsyncTCPConnection::new(url, port);
    my_object.no_delay = no_delay;
    my_object.connect()?;
    my_object.get_info();
    let connection = my_object
        .connection
        .clone()
        .ok_or_else(|| Error::new(nodenet::ErrorCode::ERR_SOCKET_CLOSED, "not connected"))?;
    connection.shutdown();
    let in_time = connection.wait(Some(timeout))?;
    let errors: Vec<&str> = connection.errors().iter().map(Error::code).collect();
    println!(
        "closed: {} (within {timeout:?}: {in_time}), errors: {errors:?}, noDelay: {}",
        connection.closed(),
        connection.no_delay()
    );
    Ok((my_object, connection))
}

/// The options of the info server: `allow_half_open`, so that it can
/// still answer once the client has shut its side down.
fn info_server_options() -> ServerOptions {
    ServerOptions {
        socket: SocketOptions {
            allow_half_open: true,
            ..SocketOptions::default()
        },
        ..ServerOptions::default()
    }
}

/// One connection of the info server: it reads until the client has shut
/// its side down, then answers `Received "<everything>"` and closes.
fn info_connection(_: &Server, socket: &Socket) {
    let received = Rc::new(RefCell::new(Vec::new()));
    let at_end = received.clone();
    socket
        .on("data", move |_: &Socket, data: &Bytes| {
            received.borrow_mut().extend_from_slice(data)
        })
        .on("end", move |s: &Socket| {
            let text = String::from_utf8_lossy(&at_end.borrow()).into_owned();
            s.end_with(format!("Received \"{text}\""));
        })
        .on("error", |_: &Socket, _: &Error| {});
}

/// A server of the kind 4D's example connects to, on this thread's loop
/// (see [`info_connection`]).
///
/// # Errors
///
/// A bad port; bind failures come as the server's `'error'`.
pub fn start_info_server(host: &str, port: u16) -> Result<Server, Error> {
    tcp::create_server(info_server_options(), info_connection).listen(port, host)
}

/// "One of the servers launched inside workers": the info server on a
/// worker thread with a loop of its own (a cluster of one).
///
/// # Errors
///
/// The listen error.
pub fn launch_info_server(host: &str, port: u16) -> Result<Cluster, Error> {
    cluster::spawn_servers(
        1,
        info_server_options(),
        ListenOptions::new(port).host(host),
        |_worker| info_connection,
    )
}

struct Args {
    host: String,
    port: u16,
    connect: Option<(String, u16)>,
    no_delay: bool,
    once: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        host: "127.0.0.1".to_string(),
        port: 10000,
        connect: None,
        no_delay: false,
        once: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--host" => args.host = value()?,
            "--port" => args.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--connect" => {
                let target = value()?;
                let (host, port) = target.rsplit_once(':').ok_or("--connect takes HOST:PORT")?;
                let port = port.parse().map_err(|e| format!("--connect: {e}"))?;
                args.connect = Some((host.to_string(), port));
            }
            "--no-delay" => args.no_delay = true,
            "--once" => args.once = true,
            "-h" | "--help" => {
                return Err(
                    "usage: fourd_client [--host H] [--port P] [--no-delay] [--once]\n       \
                     fourd_client --connect HOST:PORT [--no-delay]"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn run(args: Args) -> Result<(), Error> {
    const WAIT: Duration = Duration::from_secs(10);
    if let Some((host, port)) = args.connect {
        call_worker(&host, port, args.no_delay)?;
        wait_for_info(&host, port, args.no_delay, WAIT)?;
        return Ok(());
    }
    let server = launch_info_server(&args.host, args.port)?;
    let port = server.port();
    println!("listening on {}:{port}", args.host);
    call_worker(&args.host, port, args.no_delay)?;
    wait_for_info(&args.host, port, args.no_delay, WAIT)?;
    if args.once {
        server.shutdown(Duration::from_secs(1));
    }
    server.join()
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fourd_client: {e}");
            ExitCode::FAILURE
        }
    }
}
