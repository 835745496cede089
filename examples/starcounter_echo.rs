//! Starcounter's `Handle.Tcp` echo sample, ported to nodenet.
//!
//! ```text
//! cargo run --example starcounter_echo -- [--host H] [--port P] [--quiet]
//! ```
//!
//! Prints `listening on HOST:PORT` once listening (`--port 0` picks a free
//! port; the sample's port, 8585, is the default). Every connection's bytes
//! are echoed back; a chunk that is the line `quit` disconnects the socket
//! instead (Starcounter's `Disconnect()`). Connections and disconnections
//! are logged to stderr unless `--quiet`.
//!
//! Starcounter has one handler per port, called with the socket and the
//! bytes received, and with `null` data once the socket has disconnected.
//! nodenet has Node's events; [`handle_tcp`] builds the Starcounter form on
//! top of them in a few lines: `'data'` calls the handler with
//! `Some(data)`, `'close'` with `None`. The rest maps one to one:
//!
//! | Starcounter (`TcpSocket`) | nodenet (`Socket`) |
//! |---|---|
//! | `Handle.Tcp(port, handler)` | [`handle_tcp`]`(host, port, handler)` |
//! | `tcpSocket.ToUInt64()` | `socket.id()` |
//! | `tcpSocket.Send(data)` | `socket.write(data)` |
//! | `tcpSocket.Disconnect()` | `socket.destroy()` |
//! | `tcpSocket.IsDead()` | `socket.destroyed()` |
//! | `TcpSocket.Current` | the `&Socket` the handler is given |

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;

use nodenet::{tcp, Bytes, Error, Server, ServerOptions, Socket};

/// Starcounter's `Handle.Tcp(UInt16 port, Action<TcpSocket, Byte[]> handler)`:
/// accepts connections on `host:port` (0 picks a free port) and calls
/// `handler` for all of them, with `Some(data)` for every chunk received and
/// `None` exactly once, when the socket has disconnected, however that
/// happened: the peer closed, reset, or `Disconnect()` (`destroy()`) was
/// called. Starcounter takes only a port; the host is here so that the
/// example can stay on loopback.
///
/// # Errors
///
/// A bad port. Bind failures (`EADDRINUSE`) come as the server's `'error'`.
pub fn handle_tcp(
    host: &str,
    port: u16,
    handler: impl FnMut(&Socket, Option<&Bytes>) + 'static,
) -> Result<Server, Error> {
    // One handler for the whole port, shared by every connection's listeners
    // (they all run on this loop's thread, never inside one another).
    let handler = Rc::new(RefCell::new(handler));
    let server = tcp::create_server(
        ServerOptions::default(),
        move |_: &Server, socket: &Socket| {
            let on_data = handler.clone();
            let on_close = handler.clone();
            socket
                .on("data", move |s: &Socket, data: &Bytes| {
                    (on_data.borrow_mut())(s, Some(data));
                })
                // A reset is just another way to disconnect: 'close' follows
                // and the handler hears about it as `None`.
                .on("error", |_: &Socket, _: &Error| {})
                .on("close", move |s: &Socket, _had_error: bool| {
                    (on_close.borrow_mut())(s, None);
                });
        },
    );
    server.listen(port, host)
}

/// The resources the sample associates with a socket id ("for example
/// objects in database"): created on the socket's first data, disposed of
/// when it disconnects.
#[derive(Debug, Clone)]
pub struct Session {
    /// The socket, kept to reach it again by its id.
    pub socket: Socket,
    /// Who is connected.
    pub peer: Option<SocketAddr>,
    /// Chunks received.
    pub chunks: u64,
    /// Bytes received (and echoed).
    pub bytes: u64,
}

/// Sessions by socket id (`ToUInt64()`).
pub type Sessions = Rc<RefCell<HashMap<u64, Session>>>;

/// Whether `data` is the `quit` line that asks for `Disconnect()`.
fn is_quit(data: &[u8]) -> bool {
    data.strip_suffix(b"\n")
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        == Some(&b"quit"[..])
}

/// The sample: echoes on `host:port`, keeping a [`Session`] per socket id.
/// Returns the server and the session table (for a caller that wants to
/// look at it); run the loop to serve.
///
/// # Errors
///
/// As [`handle_tcp`].
pub fn start(host: &str, port: u16, verbose: bool) -> Result<(Server, Sessions), Error> {
    let sessions: Sessions = Rc::default();
    let table = sessions.clone();
    // Handle.Tcp(8585, (TcpSocket tcpSocket, Byte[] incomingData) => {
    let server = handle_tcp(
        host,
        port,
        move |tcp_socket: &Socket, incoming_data: Option<&Bytes>| {
            // UInt64 socketId = tcpSocket.ToUInt64();
            let socket_id = tcp_socket.id();
            // Checking if we have socket disconnect here.
            let Some(incoming_data) = incoming_data else {
                // One can use "socketId" to dispose resources associated with
                // this socket.
                if let Some(session) = table.borrow_mut().remove(&socket_id) {
                    if verbose {
                        eprintln!(
                        "socket {socket_id} ({}) disconnected after {} chunks, {} bytes; dead: {}",
                        session.peer.map_or_else(|| "?".to_string(), |p| p.to_string()),
                        session.chunks,
                        session.bytes,
                        // IsDead(): a stored handle knows its socket is gone.
                        session.socket.destroyed(),
                    );
                    }
                }
                return;
            };

            // One can check if there are any resources associated with
            // "socketId" and otherwise create them.
            let mut table = table.borrow_mut();
            let session = table.entry(socket_id).or_insert_with(|| {
                if verbose {
                    eprintln!("socket {socket_id}: new session");
                }
                Session {
                    socket: *tcp_socket,
                    peer: tcp_socket.peer_addr(),
                    chunks: 0,
                    bytes: 0,
                }
            });
            session.chunks += 1;
            session.bytes += incoming_data.len() as u64;

            if is_quit(incoming_data) {
                // tcpSocket.Disconnect(): the handler is called with null data
                // next, which disposes of the session.
                tcp_socket.destroy();
                return;
            }

            // Sending the echo back.
            tcp_socket.write(incoming_data);
            // Or even more data, if its needed: tcpSocket.Send(someMoreData);
        },
    )?;
    Ok((server, sessions))
}

struct Args {
    host: String,
    port: u16,
    verbose: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        host: "127.0.0.1".to_string(),
        port: 8585,
        verbose: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--host" => args.host = value()?,
            "--port" => args.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--quiet" => args.verbose = false,
            "-h" | "--help" => {
                return Err("usage: starcounter_echo [--host H] [--port P] [--quiet]".into())
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let result = start(&args.host, args.port, args.verbose).and_then(|(server, _sessions)| {
        let host = args.host.clone();
        server.on("listening", move |srv: &Server| {
            let port = srv.address().map_or(0, |a| a.port());
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "listening on {host}:{port}");
            let _ = out.flush();
        });
        nodenet::run()
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("starcounter_echo: {e}");
            ExitCode::FAILURE
        }
    }
}
