//! A line client: connects, sends its arguments (or stdin), prints what
//! comes back, exits when the connection closes.
//!
//! ```text
//! cargo run --example client -- [--host H] [--port P] [words...]
//! ```
//!
//! With words, it sends them joined by spaces plus a newline, then ends its
//! side. Without, it streams stdin (read on a helper thread and posted to the
//! loop through a `LoopHandle`) and ends at stdin's end.

use std::cell::Cell;
use std::io::{Read, Write};
use std::process::ExitCode;

use nodenet::{tcp, Bytes, Error, Socket};

thread_local! {
    static CLIENT: Cell<Option<Socket>> = const { Cell::new(None) };
}

fn main() -> ExitCode {
    let mut host = "127.0.0.1".to_string();
    let mut port: u16 = 7000;
    let mut words = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--host" => host = it.next().unwrap_or(host),
            "--port" => match it.next().map(|p| p.parse()) {
                Some(Ok(p)) => port = p,
                _ => {
                    eprintln!("--port needs a number");
                    return ExitCode::from(2);
                }
            },
            _ => words.push(arg),
        }
    }
    match talk(&host, port, words) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn talk(host: &str, port: u16, words: Vec<String>) -> Result<(), Error> {
    let use_stdin = words.is_empty();
    let socket = tcp::connect(port, host, move |s| {
        if !words.is_empty() {
            s.write(format!("{}\n", words.join(" ")));
            s.end();
        }
    })?;
    socket.on_data(|_, chunk| {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(chunk);
        let _ = out.flush();
    });
    CLIENT.with(|c| c.set(Some(socket)));
    if use_stdin {
        stream_stdin();
    }
    nodenet::run()
}

/// Reads stdin on a helper thread and hands each chunk to the loop.
fn stream_stdin() {
    let handle = nodenet::handle();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let chunk = Bytes::copy_from_slice(&buf[..n]);
                    let posted = handle.post(move || {
                        if let Some(s) = CLIENT.with(Cell::get) {
                            s.write(chunk);
                        }
                    });
                    if posted.is_err() {
                        return; // the connection's loop has finished
                    }
                }
            }
        }
        // Err: the loop finished first; nothing is left to end.
        let _ = handle.post(|| {
            if let Some(s) = CLIENT.with(Cell::get) {
                s.end();
            }
        });
    });
}
