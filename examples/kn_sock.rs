//! kn-sock's TCP API (Python), ported to nodenet.
//!
//! ```text
//! cargo run --example kn_sock -- [serve] [--host H] [--port P]
//!     [--threaded [N]] [--async] [--shutdown-after SECONDS]
//! cargo run --example kn_sock -- send [--host H] --port P MESSAGE
//! cargo run --example kn_sock -- send-bytes [--host H] --port P HEX
//! cargo run --example kn_sock -- send-async [--host H] --port P MESSAGE
//! ```
//!
//! `serve` (the default) runs the document's server: every chunk a client
//! sends is printed as `Received from ADDR: TEXT` and answered with
//! `Message received`. It prints `listening on HOST:PORT` once listening
//! (`--port 0` picks a free port; 8080, the document's, is the default).
//! `--threaded` serves on N loops (one per core by default), `--async` with
//! the async handler, and `--shutdown-after S` sets the shutdown event from
//! another thread after S seconds. The `send*` commands are the clients:
//! they send once and print the reply.
//!
//! | kn-sock | here | nodenet |
//! |---|---|---|
//! | `start_tcp_server(port, handler)` | [`start_tcp_server`] | `create_server` + `listen` + `run()` |
//! | `handler(data, addr, client_socket)` | `FnMut(&Bytes, SocketAddr, &Socket)` | the socket's `'data'` |
//! | `client_socket.sendall(b"...")` | `socket.write(..)` | queues everything, in order |
//! | `start_threaded_tcp_server` | [`start_threaded_tcp_server`] | `cluster::spawn_servers`: one loop per core |
//! | `start_async_tcp_server` | [`start_async_tcp_server`] | the same loop: it is already asynchronous |
//! | `writer.write(..)`; `await writer.drain()` | [`write_and_drain`] | `write()` is `false` → `pause()` until `'drain'` |
//! | `send_tcp_message(host, port, msg)` | [`send_tcp_message`] | `tcp::request` |
//! | `send_tcp_bytes(host, port, data)` | [`send_tcp_bytes`] | `tcp::request` |
//! | `send_tcp_message_async(...)` | [`send_tcp_message_async`] | `tcp::connect` on this loop |
//! | `shutdown_event = threading.Event()` | [`ShutdownEvent`] | `LoopHandle::shutdown` |

use std::cell::RefCell;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nodenet::{
    cluster, tcp, Bytes, Error, ListenOptions, LoopHandle, Server, ServerOptions, Socket,
};

/// How long the one-shot clients wait for the reply.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a shutdown lets open connections finish before closing them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Python's `threading.Event` as kn-sock uses it: `set()` from any thread
/// shuts down, gracefully, every server started with this event (they stop
/// accepting at once, open connections get [`SHUTDOWN_GRACE`] to finish),
/// and their `start_*` call returns. Handlers may check `is_set()`.
#[derive(Clone, Default)]
pub struct ShutdownEvent {
    inner: Arc<EventInner>,
}

#[derive(Default)]
struct EventInner {
    set: AtomicBool,
    /// The loops of the servers started with this event.
    loops: Mutex<Vec<LoopHandle>>,
}

impl ShutdownEvent {
    /// `threading.Event()`.
    pub fn new() -> ShutdownEvent {
        ShutdownEvent::default()
    }

    /// `shutdown_event.set()`.
    pub fn set(&self) {
        let loops = self.inner.loops.lock().unwrap_or_else(|e| e.into_inner());
        self.inner.set.store(true, Ordering::SeqCst);
        for handle in loops.iter() {
            handle.shutdown(SHUTDOWN_GRACE);
        }
    }

    /// `shutdown_event.is_set()`.
    pub fn is_set(&self) -> bool {
        self.inner.set.load(Ordering::SeqCst)
    }

    /// A server's loop joins the event (shut down at once if it is set).
    fn watch(&self, handle: LoopHandle) {
        let mut loops = self.inner.loops.lock().unwrap_or_else(|e| e.into_inner());
        if self.inner.set.load(Ordering::SeqCst) {
            handle.shutdown(SHUTDOWN_GRACE);
        }
        loops.push(handle);
    }
}

/// kn-sock's keyword arguments of the `start_*` functions.
pub struct ServerArgs {
    /// `host=`: the address to listen on (kn-sock's default is `0.0.0.0`;
    /// this example stays on loopback unless told otherwise).
    pub host: String,
    /// `shutdown_event=`.
    pub shutdown_event: Option<ShutdownEvent>,
    /// The threaded server's loop count (`None`: one per core).
    pub threads: Option<usize>,
    /// Called once with the address when listening (kn-sock logs it; a
    /// program that listens on port 0 needs it).
    pub on_listening: Option<Box<dyn FnOnce(SocketAddr) + Send>>,
}

impl Default for ServerArgs {
    fn default() -> ServerArgs {
        ServerArgs {
            host: "127.0.0.1".to_string(),
            shutdown_event: None,
            threads: None,
            on_listening: None,
        }
    }
}

/// Routes one accepted socket's chunks to a kn-sock handler.
fn serve(socket: &Socket, mut handler: impl FnMut(&Bytes, SocketAddr, &Socket) + 'static) {
    // `addr`: the client's address, as Python's `(host, port)` tuple.
    let Some(addr) = socket.peer_addr() else {
        return;
    };
    socket
        .on("data", move |client_socket: &Socket, data: &Bytes| {
            handler(data, addr, client_socket)
        })
        // A client that resets costs only its own connection.
        .on("error", |_: &Socket, _: &Error| {});
}

/// kn-sock's `start_tcp_server(port, handler_func, host=, shutdown_event=)`:
/// serves on this thread until the shutdown event is set (or forever).
/// `handler(data, addr, client_socket)` is called for every chunk a
/// client sends; the connection stays open until the client closes it.
///
/// # Errors
///
/// The listen error (`EADDRINUSE`, a bad host), or an unhandled loop error.
pub fn start_tcp_server(
    port: u16,
    handler: impl FnMut(&Bytes, SocketAddr, &Socket) + 'static,
    args: ServerArgs,
) -> Result<(), Error> {
    // One handler for every connection, as in Python.
    let handler = Rc::new(RefCell::new(handler));
    let server = tcp::create_server(
        ServerOptions::default(),
        move |_: &Server, socket: &Socket| {
            let handler = handler.clone();
            serve(socket, move |data: &Bytes, addr: SocketAddr, s: &Socket| {
                (handler.borrow_mut())(data, addr, s)
            });
        },
    );
    let mut on_listening = args.on_listening;
    let host = args.host.clone();
    server.on("listening", move |srv: &Server| {
        if let Some(addr) = srv.address() {
            announce(&host, addr);
            if let Some(f) = on_listening.take() {
                f(addr);
            }
        }
    });
    server.listen(port, &args.host)?;
    if let Some(event) = &args.shutdown_event {
        event.watch(nodenet::handle());
    }
    nodenet::run()
}

/// kn-sock's `start_threaded_tcp_server(port, handler_func, ...)`. Python
/// runs a thread per client; nodenet runs one event loop per core (each
/// serving many clients), all accepting on the same port. The handler is
/// shared by those threads, hence `Fn + Send + Sync`.
///
/// # Errors
///
/// As [`start_tcp_server`].
pub fn start_threaded_tcp_server(
    port: u16,
    handler: impl Fn(&Bytes, SocketAddr, &Socket) + Send + Sync + 'static,
    args: ServerArgs,
) -> Result<(), Error> {
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
    });
    let handler = Arc::new(handler);
    let servers = cluster::spawn_servers(
        threads,
        ServerOptions::default(),
        ListenOptions::new(port).host(&args.host),
        move |_loop_index| {
            let handler = handler.clone();
            move |_: &Server, socket: &Socket| {
                let handler = handler.clone();
                serve(socket, move |data: &Bytes, addr: SocketAddr, s: &Socket| {
                    handler(data, addr, s)
                });
            }
        },
    )?;
    let addr = SocketAddr::new(
        args.host.parse().unwrap_or([127, 0, 0, 1].into()),
        servers.port(),
    );
    announce(&args.host, addr);
    if let Some(f) = args.on_listening {
        f(addr);
    }
    if let Some(event) = &args.shutdown_event {
        for handle in servers.handles() {
            event.watch(handle.clone());
        }
    }
    servers.join()
}

/// kn-sock's `asyncio.run(start_async_tcp_server(port, handler))`. The
/// nodenet loop is already asynchronous: this is [`start_tcp_server`], and
/// the async handler is the same callback; its `await writer.drain()` is
/// [`write_and_drain`].
///
/// # Errors
///
/// As [`start_tcp_server`].
pub fn start_async_tcp_server(
    port: u16,
    handler: impl FnMut(&Bytes, SocketAddr, &Socket) + 'static,
    args: ServerArgs,
) -> Result<(), Error> {
    start_tcp_server(port, handler, args)
}

/// `writer.write(data)` then `await writer.drain()`: when the write queue
/// is over its mark, nothing more is read from this client until it has
/// drained, so a client that does not read cannot make us buffer without
/// bound.
pub fn write_and_drain(writer: &Socket, data: impl nodenet::WriteData) {
    if !writer.write(data) {
        writer.pause();
        writer.once("drain", |w: &Socket| {
            w.resume();
        });
    }
}

/// The document's handler: `print(f"Received from {addr}: ...")` and
/// `client_socket.sendall(b"Message received")`.
pub fn handle_tcp_message(data: &Bytes, addr: SocketAddr, client_socket: &Socket) {
    println!("Received from {addr}: {}", String::from_utf8_lossy(data));
    client_socket.write(&b"Message received"[..]);
}

/// The document's async handler (`writer.write` + `await writer.drain()`).
pub fn handle_tcp_message_async(data: &Bytes, addr: SocketAddr, writer: &Socket) {
    println!("Received from {addr}: {}", String::from_utf8_lossy(data));
    write_and_drain(writer, &b"Message received"[..]);
}

/// kn-sock's `send_tcp_message(host, port, message)`: connects, sends,
/// and returns the server's reply (what it sent until it closed, or until
/// [`REPLY_TIMEOUT`]). Blocking; callable from any thread but not from a
/// loop callback.
///
/// # Errors
///
/// The connection's error (`ECONNREFUSED`, `ENOTFOUND`, ...).
pub fn send_tcp_message(host: &str, port: u16, message: &str) -> Result<Bytes, Error> {
    tcp::request(port, host, message, REPLY_TIMEOUT)
}

/// kn-sock's `send_tcp_bytes(host, port, data)`: [`send_tcp_message`] for
/// raw bytes.
///
/// # Errors
///
/// As [`send_tcp_message`].
pub fn send_tcp_bytes(host: &str, port: u16, data: &[u8]) -> Result<Bytes, Error> {
    tcp::request(port, host, data, REPLY_TIMEOUT)
}

/// kn-sock's `send_tcp_message_async(host, port, message)`, on this
/// thread's loop: `on_reply` gets the server's reply once it has closed
/// the connection, or the error. `asyncio.run(...)` is `nodenet::run()`.
///
/// # Errors
///
/// A bad port; connection failures go to `on_reply`.
pub fn send_tcp_message_async(
    host: &str,
    port: u16,
    message: &str,
    on_reply: impl FnOnce(Result<Bytes, Error>) + 'static,
) -> Result<Socket, Error> {
    let message = message.to_string();
    let reply = Rc::new(RefCell::new(Vec::new()));
    let failure: Rc<RefCell<Option<Error>>> = Rc::default();
    let mut on_reply = Some(on_reply);
    let (r, f) = (reply.clone(), failure.clone());
    let socket = tcp::connect(port, host, move |s: &Socket| {
        // writer.write(message); await writer.drain(); then half-close:
        // the reply comes until the server closes.
        s.end_with(message.as_bytes());
    })?;
    socket
        .set_timeout(REPLY_TIMEOUT.as_millis() as u64)
        .on("timeout", |s: &Socket| {
            s.destroy();
        })
        .on("data", move |_: &Socket, chunk: &Bytes| {
            r.borrow_mut().extend_from_slice(chunk)
        })
        .on("error", move |_: &Socket, e: &Error| {
            *f.borrow_mut() = Some(e.clone())
        })
        .on("close", move |_: &Socket, _had_error: bool| {
            let result = match failure.borrow_mut().take() {
                Some(e) => Err(e),
                None => Ok(Bytes::from(std::mem::take(&mut *reply.borrow_mut()))),
            };
            if let Some(f) = on_reply.take() {
                f(result);
            }
        });
    Ok(socket)
}

/// kn-sock logs where it listens; the line the examples all print.
fn announce(host: &str, addr: SocketAddr) {
    // Rust's stdout is line-buffered: the line is out at once.
    println!("listening on {host}:{}", addr.port());
}

enum Command {
    Serve {
        threads: Option<Option<usize>>,
        async_handler: bool,
        shutdown_after: Option<u64>,
    },
    Send(String),
    SendBytes(Vec<u8>),
    SendAsync(String),
}

struct Args {
    host: String,
    port: u16,
    command: Command,
}

fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.len() % 2 != 0 {
        return Err("send-bytes: an even number of hex digits".into());
    }
    digits
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).map_err(|e| e.to_string())?;
            u8::from_str_radix(s, 16).map_err(|e| format!("send-bytes: {e}"))
        })
        .collect()
}

fn parse_args() -> Result<Args, String> {
    let usage = "usage: kn_sock [serve] [--host H] [--port P] [--threaded [N]] [--async] \
                 [--shutdown-after S]\n       kn_sock send|send-bytes|send-async [--host H] \
                 --port P MESSAGE";
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    let verb = match argv.first().map(String::as_str) {
        Some(v @ ("serve" | "send" | "send-bytes" | "send-async")) => {
            let v = v.to_string();
            argv.remove(0);
            v
        }
        _ => "serve".to_string(),
    };
    let mut host = "127.0.0.1".to_string();
    let mut port = 8080;
    let mut threads = None;
    let mut async_handler = false;
    let mut shutdown_after = None;
    let mut rest = Vec::new();
    let mut it = argv.into_iter().peekable();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--host" => host = it.next().ok_or("--host needs a value")?,
            "--port" => {
                port = it
                    .next()
                    .ok_or("--port needs a value")?
                    .parse()
                    .map_err(|e| format!("--port: {e}"))?
            }
            "--threaded" => {
                let n = match it.peek() {
                    Some(n) if n.parse::<usize>().is_ok() => it.next().and_then(|n| n.parse().ok()),
                    _ => None,
                };
                threads = Some(n);
            }
            "--async" => async_handler = true,
            "--shutdown-after" => {
                shutdown_after = Some(
                    it.next()
                        .ok_or("--shutdown-after needs a value")?
                        .parse()
                        .map_err(|e| format!("--shutdown-after: {e}"))?,
                )
            }
            "-h" | "--help" => return Err(usage.into()),
            other if other.starts_with("--") => return Err(format!("unknown argument {other}")),
            _ => rest.push(flag),
        }
    }
    let command = match verb.as_str() {
        "serve" if rest.is_empty() => Command::Serve {
            threads,
            async_handler,
            shutdown_after,
        },
        "send" => Command::Send(rest.join(" ")),
        "send-bytes" => Command::SendBytes(parse_hex(&rest.join(""))?),
        "send-async" => Command::SendAsync(rest.join(" ")),
        _ => return Err(usage.into()),
    };
    Ok(Args {
        host,
        port,
        command,
    })
}

fn run(args: Args) -> Result<(), Error> {
    match args.command {
        Command::Serve {
            threads,
            async_handler,
            shutdown_after,
        } => {
            // The graceful-shutdown section: another thread sets the event.
            let shutdown_event = shutdown_after.map(|seconds| {
                let event = ShutdownEvent::new();
                let later = event.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_secs(seconds));
                    later.set();
                });
                event
            });
            let server_args = ServerArgs {
                host: args.host,
                shutdown_event: shutdown_event.clone(),
                threads: threads.flatten(),
                on_listening: None,
            };
            // def handler(data, addr, client_socket):
            //     if shutdown_event.is_set(): return
            let handler = move |data: &Bytes, addr: SocketAddr, client_socket: &Socket| {
                if shutdown_event.as_ref().is_some_and(ShutdownEvent::is_set) {
                    return;
                }
                handle_tcp_message(data, addr, client_socket);
            };
            match (threads, async_handler) {
                (Some(_), _) => start_threaded_tcp_server(args.port, handler, server_args),
                (None, true) => {
                    start_async_tcp_server(args.port, handle_tcp_message_async, server_args)
                }
                (None, false) => start_tcp_server(args.port, handler, server_args),
            }
        }
        Command::Send(message) => {
            // send_tcp_message("localhost", 8080, "Hello, World!")
            let reply = send_tcp_message(&args.host, args.port, &message)?;
            println!("{}", String::from_utf8_lossy(&reply));
            Ok(())
        }
        Command::SendBytes(data) => {
            // send_tcp_bytes("localhost", 8080, b'\x01\x02\x03\x04')
            let reply = send_tcp_bytes(&args.host, args.port, &data)?;
            println!("{}", String::from_utf8_lossy(&reply));
            Ok(())
        }
        Command::SendAsync(message) => {
            send_tcp_message_async(&args.host, args.port, &message, |reply| match reply {
                Ok(reply) => println!("{}", String::from_utf8_lossy(&reply)),
                Err(e) => eprintln!("kn_sock: {e}"),
            })?;
            nodenet::run()
        }
    }
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
            eprintln!("kn_sock: {e}");
            ExitCode::FAILURE
        }
    }
}
