//! A tokio echo server, as tokio's documentation writes one: a
//! `current_thread` runtime, a task per connection, `read` into the task's
//! own buffer then `write_all`.
//!
//! ```text
//! tokio_echo [--host H] [--port P]
//! tokio_echo --path P
//! ```
//!
//! `--path P` listens on the Unix socket `P` (tokio's `UnixListener`) and
//! prints `listening on P`; each connection runs the same task.
//!
//! The task's buffer is 16 KiB (tokio's examples use 1 KiB to 4 KiB, which
//! would cost it streaming throughput; Node and nodenet read up to 64 KiB at
//! a time into one shared buffer).

use nodenet_perf::{announce_listening, announce_listening_path, Flags};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};

const BUF: usize = 16 * 1024;

fn main() {
    let flags = Flags::from_env(&[]).unwrap_or_else(|e| {
        eprintln!("tokio_echo: {e}\nusage: tokio_echo [--host H] [--port P] | --path P");
        std::process::exit(2)
    });
    let host = flags.str("host", "127.0.0.1");
    let port: u16 = flags.get("port", 7000).unwrap_or_else(|e| {
        eprintln!("tokio_echo: {e}");
        std::process::exit(2)
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("tokio_echo: runtime: {e}");
            std::process::exit(1)
        });
    let served = if flags.has("path") {
        rt.block_on(serve_path(flags.str("path", "")))
    } else {
        rt.block_on(serve(host, port))
    };
    if let Err(e) = served {
        eprintln!("tokio_echo: {e}");
        std::process::exit(1);
    }
}

async fn serve(host: String, port: u16) -> std::io::Result<()> {
    let listener = TcpListener::bind((host.as_str(), port)).await?;
    announce_listening(&host, listener.local_addr()?.port());
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                eprintln!("tokio_echo: accept: {e}");
                tokio::task::yield_now().await;
                continue;
            }
        };
        tokio::spawn(echo(stream));
    }
}

async fn serve_path(path: String) -> std::io::Result<()> {
    let listener = UnixListener::bind(&path)?;
    announce_listening_path(&path);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                eprintln!("tokio_echo: accept: {e}");
                tokio::task::yield_now().await;
                continue;
            }
        };
        tokio::spawn(echo(stream));
    }
}

/// One connection's task: read into its own buffer, write it all back.
async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let mut buf = vec![0u8; BUF];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stream.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
