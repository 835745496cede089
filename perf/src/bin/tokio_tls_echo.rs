//! A tokio-rustls echo server, as tokio-rustls's documentation writes one:
//! a `current_thread` runtime, a task per connection that runs the
//! handshake (`TlsAcceptor::accept`), then `read`s into the task's own
//! 16 KiB buffer and `write_all`s it back.
//!
//! ```text
//! tokio_tls_echo --cert FILE --key FILE [--host H] [--port P]
//! tokio_tls_echo --cert FILE --key FILE --path P
//! ```
//!
//! `--cert` is a PEM certificate chain, `--key` its PEM private key. The
//! provider is rustls's aws-lc-rs, as for nodenet's `tls-aws-lc-rs`; TLS 1.3
//! and 1.2; session tickets on (rustls's default ticketer, on top of the
//! default 256-entry session cache) so that clients can resume. Prints
//! `listening on HOST:PORT` (or `listening on P` for the Unix socket `P`)
//! once listening, like `tokio_echo`.

use std::sync::Arc;

use nodenet_perf::{announce_listening, announce_listening_path, Flags};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio_rustls::TlsAcceptor;

const BUF: usize = 16 * 1024;
const USAGE: &str = "usage: tokio_tls_echo --cert FILE --key FILE [--host H] [--port P] | --path P";

fn fatal(msg: impl std::fmt::Display) -> ! {
    eprintln!("tokio_tls_echo: {msg}");
    std::process::exit(1)
}

fn main() {
    let flags = Flags::from_env(&[]).unwrap_or_else(|e| {
        eprintln!("tokio_tls_echo: {e}\n{USAGE}");
        std::process::exit(2)
    });
    if !flags.has("cert") || !flags.has("key") {
        eprintln!("tokio_tls_echo: --cert and --key are required\n{USAGE}");
        std::process::exit(2);
    }
    let host = flags.str("host", "127.0.0.1");
    let port: u16 = flags.get("port", 7000).unwrap_or_else(|e| {
        eprintln!("tokio_tls_echo: {e}");
        std::process::exit(2)
    });
    let acceptor = TlsAcceptor::from(Arc::new(server_config(
        &flags.str("cert", ""),
        &flags.str("key", ""),
    )));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap_or_else(|e| fatal(format!("runtime: {e}")));
    let served = if flags.has("path") {
        rt.block_on(serve_path(flags.str("path", ""), acceptor))
    } else {
        rt.block_on(serve(host, port, acceptor))
    };
    if let Err(e) = served {
        fatal(e);
    }
}

fn server_config(cert: &str, key: &str) -> rustls::ServerConfig {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect())
        .unwrap_or_else(|e| fatal(format!("{cert}: {e}")));
    if certs.is_empty() {
        fatal(format!("{cert}: no certificate"));
    }
    let key = PrivateKeyDer::from_pem_file(key).unwrap_or_else(|e| fatal(format!("{key}: {e}")));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| fatal(format!("protocol versions: {e}")))
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap_or_else(|e| fatal(format!("certificate and key: {e}")));
    config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()
        .unwrap_or_else(|e| fatal(format!("ticketer: {e}")));
    config
}

async fn serve(host: String, port: u16, acceptor: TlsAcceptor) -> std::io::Result<()> {
    let listener = TcpListener::bind((host.as_str(), port)).await?;
    announce_listening(&host, listener.local_addr()?.port());
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                eprintln!("tokio_tls_echo: accept: {e}");
                tokio::task::yield_now().await;
                continue;
            }
        };
        tokio::spawn(echo(acceptor.clone(), stream));
    }
}

async fn serve_path(path: String, acceptor: TlsAcceptor) -> std::io::Result<()> {
    let listener = UnixListener::bind(&path)?;
    announce_listening_path(&path);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                eprintln!("tokio_tls_echo: accept: {e}");
                tokio::task::yield_now().await;
                continue;
            }
        };
        tokio::spawn(echo(acceptor.clone(), stream));
    }
}

/// One connection's task: the handshake, then read into its own buffer and
/// write it all back. `write_all` may leave the last records in rustls's
/// buffer when the socket is full; `flush` sends them before the next read
/// waits (a no-op when nothing is left).
async fn echo<S: AsyncRead + AsyncWrite + Unpin>(acceptor: TlsAcceptor, stream: S) {
    let Ok(mut stream) = acceptor.accept(stream).await else {
        return;
    };
    let mut buf = vec![0u8; BUF];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stream.write_all(&buf[..n]).await.is_err() || stream.flush().await.is_err() {
            return;
        }
    }
}
