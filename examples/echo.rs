//! An echo server.
//!
//! ```text
//! cargo run --release --example echo -- [--host H] [--port P] [--path P] [--timeout S]
//! ```
//!
//! Prints `listening on HOST:PORT` (or `listening on PATH` with `--path`,
//! a Unix socket instead of a port) once listening and nothing per
//! connection. Flow control is Node's: when `write()` returns `false` the
//! socket is paused until `'drain'`, so a client that does not read cannot
//! make the server buffer without bound. When the client ends, the server
//! finishes echoing and ends too. `--timeout S` destroys connections idle for
//! S seconds.

use std::io::Write;
use std::process::ExitCode;

use nodenet::{tcp, Error, ServerOptions, Socket};

struct Args {
    host: String,
    port: u16,
    path: Option<String>,
    timeout_s: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        host: "127.0.0.1".to_string(),
        port: 7000,
        path: None,
        timeout_s: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--host" => args.host = value()?,
            "--port" => args.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--path" => args.path = Some(value()?),
            "--timeout" => {
                args.timeout_s = value()?.parse().map_err(|e| format!("--timeout: {e}"))?
            }
            "-h" | "--help" => {
                return Err(
                    "usage: echo [--host H] [--port P] [--path UNIX_SOCKET] [--timeout SECONDS]"
                        .into(),
                )
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
    match serve(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: Args) -> Result<(), Error> {
    let timeout_ms = args.timeout_s * 1000;
    let server = tcp::create_server(ServerOptions::default(), move |_, socket| {
        if timeout_ms > 0 {
            socket.set_timeout_cb(timeout_ms, |s: &Socket| {
                s.destroy();
            });
        }
        socket
            .on_data(|s, chunk| {
                if !s.write(chunk) {
                    s.pause();
                }
            })
            .on_drain(|s| {
                s.resume();
            })
            // A peer that resets hurts only its own connection (without
            // this, nodenet would note the error on stderr).
            .on_error(|_, _| {});
    });
    let host = args.host.clone();
    server.on_listening(move |srv| {
        let mut out = std::io::stdout().lock();
        match srv.path() {
            Some(path) => {
                let _ = writeln!(out, "listening on {}", path.display());
            }
            None => {
                let port = srv.address().map_or(0, |a| a.port());
                let _ = writeln!(out, "listening on {host}:{port}");
            }
        }
        let _ = out.flush();
    });
    match &args.path {
        Some(path) => server.listen_path(path)?,
        None => server.listen(args.port, &args.host)?,
    };
    nodenet::run()
}
