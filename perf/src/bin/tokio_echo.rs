//! A tokio echo server, as tokio's documentation writes one: a
//! `current_thread` runtime, a task per connection, `read` into the task's
//! own buffer then `write_all`.
//!
//! ```text
//! tokio_echo [--host H] [--port P]
//! ```
//!
//! The task's buffer is 16 KiB (tokio's examples use 1 KiB to 4 KiB, which
//! would cost it streaming throughput; Node and nodenet read up to 64 KiB at
//! a time into one shared buffer).

use nodenet_perf::{announce_listening, Flags};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const BUF: usize = 16 * 1024;

fn main() {
    let flags = Flags::from_env(&[]).unwrap_or_else(|e| {
        eprintln!("tokio_echo: {e}\nusage: tokio_echo [--host H] [--port P]");
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
    if let Err(e) = rt.block_on(serve(host, port)) {
        eprintln!("tokio_echo: {e}");
        std::process::exit(1);
    }
}

async fn serve(host: String, port: u16) -> std::io::Result<()> {
    let listener = TcpListener::bind((host.as_str(), port)).await?;
    announce_listening(&host, listener.local_addr()?.port());
    loop {
        let (mut stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                eprintln!("tokio_echo: accept: {e}");
                tokio::task::yield_now().await;
                continue;
            }
        };
        tokio::spawn(async move {
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
        });
    }
}
