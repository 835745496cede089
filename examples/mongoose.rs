//! Mongoose IoT's `tcp` snippet (a subset of Node's `net`), ported to
//! nodenet.
//!
//! ```text
//! cargo run --example mongoose -- [--host H] [--port P] [--tour] [--quiet]
//! ```
//!
//! Runs the document's snippet: a server on `HOST:PORT` (19000, the
//! document's, by default; 0 picks a free port) that echoes the first chunk
//! a client sends and ends the connection, and a client that says `Hello`
//! to it. Prints `listening on HOST:PORT` once listening, and the snippet's
//! `print` lines. The server then keeps serving other clients. `--tour`
//! also runs [`tour`]: the rest of the document's method and event list,
//! on a server of its own.
//!
//! | Mongoose `tcp` | nodenet |
//! |---|---|
//! | `tcp.createServer(options, cb)` | `tcp::create_server(ServerOptions, cb)` |
//! | `server.listen(port, host, backlog, cb)` | [`listen`]: `listen_with(ListenOptions)` + once `'listening'` |
//! | `server.listen(options, cb)` | [`listen_options`] |
//! | `server.close(cb)` / `server.getConnections(cb)` | `close_cb` / `get_connections` |
//! | `tcp.connect(port, host, cb)`, `tcp.createConnection(port, host, cb)` | `tcp::connect` |
//! | `tcp.connect(options, cb)`, `tcp.createConnection(options, cb)` | `tcp::create_connection` + once `'connect'` |
//! | `new tcp.Socket(options)`, `socket.connect(port, host, cb)` | `Socket::new(SocketOptions)`, `connect` + once `'connect'` |
//! | `socket.write(data, encoding, cb)` | `write_cb(data, cb)` (bytes or UTF-8 text) |
//! | `socket.end(data, encoding)` | `end_with(data)` |
//! | `destroy()`, `pause()`, `resume()` | the same |
//! | `socket.setTimeout(ms, cb)` | `set_timeout_cb(ms, cb)`: whole seconds, nearest, at least 1 |
//! | `.on(event, cb)` | `.on(event, closure)` |

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::process::ExitCode;
use std::rc::Rc;

use nodenet::{
    tcp, Bytes, ConnectOptions, Error, ListenOptions, Server, ServerOptions, Socket, SocketOptions,
};

/// Mongoose's `print(...)`: a line on stdout (unless quiet); the lines are
/// kept too, for whoever wants to look at the sequence.
#[derive(Clone, Default)]
pub struct Console {
    lines: Rc<RefCell<Vec<String>>>,
    quiet: bool,
}

impl Console {
    /// A console that prints (`quiet`: that only keeps the lines).
    pub fn new(quiet: bool) -> Console {
        Console {
            lines: Rc::default(),
            quiet,
        }
    }

    /// `print(...)`.
    pub fn print(&self, line: impl Into<String>) {
        let line = line.into();
        if !self.quiet {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
        self.lines.borrow_mut().push(line);
    }

    /// Every line printed so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.borrow().clone()
    }
}

/// How `print` shows a chunk of data.
fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// `server.listen(port, hostname, optional_backlog, optional_callback)`.
/// A backlog of 0 means the default (511), as in Node.
///
/// # Errors
///
/// A bad port; bind failures come as the server's `'error'`.
pub fn listen(
    server: &Server,
    port: u16,
    hostname: &str,
    backlog: u32,
    mut callback: impl FnMut(&Server) + 'static,
) -> Result<Server, Error> {
    let backlog = if backlog == 0 { 511 } else { backlog };
    listen_options(
        server,
        ListenOptions::new(port).host(hostname).backlog(backlog),
        move |s: &Server| callback(s),
    )
}

/// `server.listen(options, optional_callback)`: the callback is a once
/// `'listening'` listener.
///
/// # Errors
///
/// As [`listen`].
pub fn listen_options(
    server: &Server,
    options: ListenOptions,
    mut callback: impl FnMut(&Server) + 'static,
) -> Result<Server, Error> {
    server.once("listening", move |s: &Server| callback(s));
    server.listen_with(options)
}

/// The document's snippet, on `host:port`. Returns the server and the
/// client; run the loop to see it happen.
///
/// # Errors
///
/// A bad port; bind failures come as the server's `'error'`.
pub fn snippet(console: &Console, host: &str, port: u16) -> Result<(Server, Socket), Error> {
    // var server = tcp.createServer({}, function(sock) {
    let print = console.clone();
    let server = tcp::create_server(
        ServerOptions::default(),
        move |_: &Server, sock: &Socket| {
            print.print("New incoming conenction");
            let on_data = print.clone();
            sock.on("data", move |sock: &Socket, data: &Bytes| {
                on_data.print(format!("New data received {}", text(data)));
                // sock.write(data, null, function() { print("Data sent back"); });
                let sent = on_data.clone();
                sock.write_cb(data, move |_: &Socket, _err: Option<&Error>| {
                    sent.print("Data sent back")
                });
                sock.end();
            });
            // (Not in the snippet: a client's reset must not stop the device's
            // server, so errors are printed rather than left unhandled.)
            let on_error = print.clone();
            sock.on("error", move |_: &Socket, err: &Error| {
                on_error.print(format!("Socket error {}", err.code()))
            });
        },
    );

    // server.listen(19000, "127.0.0.1", 0, function() { print("Started to listen"); });
    let print = console.clone();
    listen(&server, port, host, 0, move |_: &Server| {
        print.print("Started to listen")
    })?;
    // Bound already (an IP literal binds at once): the port 0 picked.
    let port = server.address().map_or(port, |a| a.port());

    // var client = tcp.connect(19000, "127.0.0.1", function() {
    let print = console.clone();
    let client = tcp::connect(port, host, move |client: &Socket| {
        print.print("Client connected");
        client.write("Hello");
    })?;
    // client.on("close", function() { print("Client socket is closed"); });
    let print = console.clone();
    client.on("close", move |_: &Socket, _had_error: bool| {
        print.print("Client socket is closed")
    });
    // client.on("data", function(data) { print("Client received new data", data); client.end(); });
    let print = console.clone();
    client.on("data", move |client: &Socket, data: &Bytes| {
        print.print(format!("Client received new data {}", text(data)));
        client.end();
    });
    Ok((server, client))
}

/// The size of the chunks the tour's server sends until `write()` says
/// stop.
const CHUNK: usize = 64 * 1024;

/// The server side of the tour, for one accepted socket: `big` gets chunks
/// until `write()` returns `false`, then `end("bye")` on `'drain'`; `idle`
/// gets an inactivity timeout that destroys it.
fn serve_tour(print: &Console, sock: &Socket) {
    let print = print.clone();
    sock.on("data", move |sock: &Socket, data: &Bytes| match &data[..] {
        b"big" => {
            print.print("server[big]: got \"big\"");
            let chunk = Bytes::from(vec![b'x'; CHUNK]);
            let mut sent = 0;
            // Bounded: the kernel's buffers fill long before 64 MiB.
            for _ in 0..1024 {
                sent += CHUNK;
                if !sock.write(chunk.clone()) {
                    print.print("server[big]: write() returned false; waiting for 'drain'");
                    break;
                }
            }
            let print = print.clone();
            sock.once("drain", move |sock: &Socket| {
                print.print(format!(
                    "server[big]: drain after {sent} bytes; end(\"bye\")"
                ));
                // socket_obj.end(data): write(data), then end()
                sock.end_with("bye");
            });
        }
        b"idle" => {
            print.print("server[idle]: got \"idle\"");
            // setTimeout: rounded to the nearest whole second, at least 1 s.
            sock.set_timeout(1600);
            print.print(format!(
                "server[idle]: setTimeout(1600) -> {} s",
                sock.timeout().map_or(0, |t| t.as_secs())
            ));
            let on_timeout = print.clone();
            sock.set_timeout_cb(300, move |sock: &Socket| {
                on_timeout.print("server[idle]: timeout; destroy()");
                sock.destroy();
            });
            print.print(format!(
                "server[idle]: setTimeout(300) -> {} s",
                sock.timeout().map_or(0, |t| t.as_secs())
            ));
        }
        other => print.print(format!("server: got {}", text(other))),
    });
    sock.on("error", |_: &Socket, _: &Error| {});
}

/// A client that connects after `server.close()`: refused.
fn refused_client(print: &Console, host: &str, port: u16, accepted: Rc<RefCell<Vec<Socket>>>) {
    // tcp.connect(options, optional_callback)
    let options = ConnectOptions {
        port,
        host: host.to_string(),
        ..ConnectOptions::default()
    };
    let c = match tcp::create_connection(options) {
        Ok(c) => c,
        Err(e) => return print.print(format!("C: {e}")),
    };
    let (on_connect, on_error, on_close) = (print.clone(), print.clone(), print.clone());
    c.once("connect", move |_: &Socket| {
        on_connect.print("C: connected")
    })
    .on("error", move |_: &Socket, err: &Error| {
        on_error.print(format!("C: error {}", err.code()))
    })
    .on("close", move |_: &Socket, had_error: bool| {
        on_close.print(format!("C: close (had_error {had_error})"));
        // The connections made before close() still work: go on with them.
        for sock in accepted.borrow().iter() {
            sock.write("go");
        }
    });
}

/// Client A: `new tcp.Socket(options)` and `socket.connect(port, host,
/// cb)`; asks for `big`, pauses on the first chunk, resumes 50 ms later.
fn client_a(print: &Console, host: &str, port: u16) -> Result<Socket, Error> {
    let a = Socket::new(SocketOptions::default());
    let on_connect = print.clone();
    a.once("connect", move |_: &Socket| {
        on_connect.print("A: connected")
    });
    let (on_data, on_end) = (print.clone(), print.clone());
    let received = Rc::new(Cell::new(0usize));
    let tail = Rc::new(RefCell::new(Vec::new()));
    let (r, t) = (received.clone(), tail.clone());
    let mut asked = false;
    let mut paused = false;
    a.on("data", move |a: &Socket, data: &Bytes| {
        if !asked {
            asked = true;
            on_data.print(format!("A: got \"{}\"; write(\"big\")", text(data)));
            a.write("big");
            return;
        }
        if !paused {
            paused = true;
            a.pause();
            on_data.print("A: pause()");
            let (a, print) = (*a, on_data.clone());
            nodenet::set_timeout(
                move || {
                    print.print("A: resume()");
                    a.resume();
                },
                50,
            );
        }
        r.set(r.get() + data.len());
        let mut tail = t.borrow_mut();
        tail.extend_from_slice(data);
        let keep = tail.len().saturating_sub(3);
        tail.drain(..keep);
    })
    .on("end", move |_: &Socket| {
        on_end.print(format!(
            "A: end after {} bytes, ending with \"{}\"",
            received.get(),
            text(&tail.borrow())
        ))
    });
    let on_close = print.clone();
    a.on("close", move |_: &Socket, _had_error: bool| {
        on_close.print("A: close")
    });
    a.connect(port, host)
}

/// Client B: `tcp.createConnection(port, host, cb)`; asks for `idle`, and
/// destroys its socket when the server ends the connection.
fn client_b(print: &Console, host: &str, port: u16) -> Result<Socket, Error> {
    let on_connect = print.clone();
    let b = tcp::connect(port, host, move |_: &Socket| {
        on_connect.print("B: connected (callback)")
    })?;
    let (on_event, on_data, on_end, on_close) =
        (print.clone(), print.clone(), print.clone(), print.clone());
    b.on("connect", move |_: &Socket| {
        on_event.print("B: connect event")
    })
    .on("data", move |b: &Socket, data: &Bytes| {
        on_data.print(format!("B: got \"{}\"; write(\"idle\")", text(data)));
        b.write("idle");
    })
    .on("end", move |b: &Socket| {
        on_end.print("B: end; destroy()");
        b.destroy();
    })
    .on("close", move |_: &Socket, _had_error: bool| {
        on_close.print("B: close")
    });
    Ok(b)
}

/// The rest of the document's list, as a second script on a server of its
/// own (port 0 on `host`): `listen(options, cb)` and the `'listening'`
/// event; a second server on the same port and its `'error'`
/// (`EADDRINUSE`); two clients (A: `new tcp.Socket` + `connect`, B:
/// `createConnection`) and the `'connection'` event; `getConnections`;
/// `close(cb)`, which refuses a third client (C, `tcp.connect(options)`,
/// `'error'` `ECONNREFUSED`) while A and B go on; A gets data until the
/// server's `write()` returns `false`, pausing and resuming on the way, the
/// server waits for `'drain'` and calls `end("bye")`; B goes idle, its
/// server side's `setTimeout` (whole seconds) fires `'timeout'` and
/// `destroy()`s it; then the server's `'close'` and close callback. Every
/// line is tagged with who prints it. Everything closes by itself: the
/// loop then has nothing left to do.
///
/// # Errors
///
/// A listen error.
pub fn tour(console: &Console, host: &str) -> Result<Server, Error> {
    let accepted: Rc<RefCell<Vec<Socket>>> = Rc::default();
    let print = console.clone();
    let list = accepted.clone();
    let c_host = host.to_string();
    // var server = tcp.createServer(function(sock) { ... })
    let server = tcp::create_server(
        ServerOptions::default(),
        move |srv: &Server, sock: &Socket| {
            print.print("server: new connection");
            serve_tour(&print, sock);
            list.borrow_mut().push(*sock);
            if list.borrow().len() == 2 {
                let (print, list, host) = (print.clone(), list.clone(), c_host.clone());
                srv.get_connections(move |srv: &Server, count: usize| {
                    print.print(format!("server: getConnections: {count}"));
                    let port = srv.address().map_or(0, |a| a.port());
                    let closed = print.clone();
                    srv.close_cb(move |_: &Server, _err: Option<&Error>| {
                        closed.print("server: close callback")
                    });
                    print.print("server: close() called; existing connections stay");
                    refused_client(&print, &host, port, list);
                });
            }
        },
    );
    let print = console.clone();
    server.on("connection", move |_: &Server, _: &Socket| {
        print.print("server: connection event")
    });
    let print = console.clone();
    server.on("listening", move |_: &Server| {
        print.print("server: listening event")
    });
    let print = console.clone();
    server.on("error", move |_: &Server, err: &Error| {
        print.print(format!("server: error {}", err.code()))
    });
    let print = console.clone();
    server.on("close", move |_: &Server| {
        print.print("server: close event")
    });

    // server.listen(options, callback)
    let print = console.clone();
    let host = host.to_string();
    listen_options(
        &server,
        ListenOptions::new(0).host(&host),
        move |srv: &Server| {
            print.print("server: listen callback");
            let port = srv.address().map_or(0, |a| a.port());
            // A second server on the same port: its 'error' is EADDRINUSE.
            let second = tcp::create_server(ServerOptions::default(), |_: &Server, _: &Socket| {});
            let on_error = print.clone();
            second.on("error", move |_: &Server, err: &Error| {
                on_error.print(format!("second server: error {}", err.code()))
            });
            if let Err(e) = second.listen(port, &host) {
                print.print(format!("second server: {e}"));
            }
            for client in [client_a(&print, &host, port), client_b(&print, &host, port)] {
                if let Err(e) = client {
                    print.print(format!("client: {e}"));
                }
            }
        },
    )
}

struct Args {
    host: String,
    port: u16,
    tour: bool,
    quiet: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        host: "127.0.0.1".to_string(),
        port: 19000,
        tour: false,
        quiet: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--host" => args.host = value()?,
            "--port" => args.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--tour" => args.tour = true,
            "--quiet" => args.quiet = true,
            "-h" | "--help" => {
                return Err("usage: mongoose [--host H] [--port P] [--tour] [--quiet]".into())
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn run(args: Args) -> Result<(), Error> {
    let console = Console::new(args.quiet);
    let (server, _client) = snippet(&console, &args.host, args.port)?;
    let host = args.host.clone();
    server.on("listening", move |srv: &Server| {
        let port = srv.address().map_or(0, |a| a.port());
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {host}:{port}");
        let _ = out.flush();
    });
    if args.tour {
        tour(&console, &args.host)?;
    }
    nodenet::run()
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
            eprintln!("mongoose: {e}");
            ExitCode::FAILURE
        }
    }
}
