//! An echo server over TLS: `examples/echo.rs` behind `nodenet::tls`.
//!
//! ```text
//! cargo run --release --features tls-aws-lc-rs --example tls_echo -- \
//!     [--host H] [--port P] [--path P] [--timeout S] [--cert FILE --key FILE]
//! ```
//!
//! The command line and output are echo's: `listening on HOST:PORT` (or
//! `listening on PATH` with `--path`, a Unix socket instead of a port) on
//! stdout once listening, nothing per connection, `pause()` while a
//! `write()` returns `false` and `resume()` on `'drain'`, the server ends
//! when the client has ended and everything is echoed, `--timeout S`
//! destroys connections idle for S seconds.
//!
//! `--cert FILE --key FILE` are the server's certificate chain and key
//! (PEM). Without them the server makes a fresh self-signed certificate
//! for `localhost`, `127.0.0.1` and `::1` (P-256, valid 30 days) with the
//! `openssl` command, in a new directory under the temp directory, and
//! says on stderr where it is and what its SHA-256 fingerprint is, so that
//! a client can trust it:
//!
//! ```text
//! certificate /tmp/nodenet-tls-echo-1234/cert.pem
//! key /tmp/nodenet-tls-echo-1234/key.pem
//! fingerprint sha256 AB:CD:...
//! ```
//!
//! for example `openssl s_client -connect 127.0.0.1:7000 -CAfile
//! /tmp/nodenet-tls-echo-1234/cert.pem -quiet`, or Node's
//! `tls.connect({ port: 7000, host: '127.0.0.1', ca })`. (The directory is
//! left behind when the server is killed.) Without `openssl` on PATH,
//! `--cert` and `--key` are required.

use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use nodenet::tls::{self, SecureContextOptions};
use nodenet::{Error, Socket};

struct Args {
    host: String,
    port: u16,
    path: Option<String>,
    timeout_s: u64,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

const USAGE: &str = "usage: tls_echo [--host H] [--port P] [--path UNIX_SOCKET] \
                     [--timeout SECONDS] [--cert CERT.pem --key KEY.pem]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        host: "127.0.0.1".to_string(),
        port: 7000,
        path: None,
        timeout_s: 0,
        cert: None,
        key: None,
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
            "--cert" => args.cert = Some(value()?.into()),
            "--key" => args.key = Some(value()?.into()),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.cert.is_some() != args.key.is_some() {
        return Err("--cert and --key go together".into());
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
    let (cert, key) = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        _ => match self_signed() {
            Ok(pair) => pair,
            Err(msg) => {
                eprintln!("tls_echo: {msg}");
                return ExitCode::FAILURE;
            }
        },
    };
    if let Some(fingerprint) = fingerprint(&cert) {
        eprintln!("fingerprint sha256 {fingerprint}");
    }
    match serve(args, &cert, &key) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tls_echo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: Args, cert: &Path, key: &Path) -> Result<(), Error> {
    let context = SecureContextOptions::from_files(cert, key)?;
    let timeout_ms = args.timeout_s * 1000;
    // Called at 'secureConnection': the handshake is done, and what is
    // written from here on is encrypted.
    let server = tls::create_server(tls::ServerOptions::new(context), move |_, socket| {
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
            // A peer that resets hurts only its own connection.
            .on_error(|_, _| {});
    })?;
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

/// A fresh self-signed certificate for localhost, 127.0.0.1 and ::1,
/// made by `openssl` in a new private directory; its paths are printed.
fn self_signed() -> Result<(PathBuf, PathBuf), String> {
    let dir = std::env::temp_dir().join(format!("nodenet-tls-echo-{}", std::process::id()));
    // A directory only we can read: it holds the private key.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let output = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .arg("ec_paramgen_curve:P-256")
        .args(["-nodes", "-days", "30", "-subj", "/CN=localhost"])
        .args([
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdin(Stdio::null())
        .output();
    match output {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            return Err(format!(
                "openssl could not make a certificate ({}): {}",
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(
                "no --cert/--key given, and the `openssl` command that would make a \
                        self-signed certificate is not on PATH: pass --cert FILE --key FILE, \
                        or install openssl (Debian/Ubuntu: apt-get install openssl)"
                    .into(),
            )
        }
        Err(e) => return Err(format!("cannot run openssl: {e}")),
    }
    eprintln!("certificate {}", cert.display());
    eprintln!("key {}", key.display());
    Ok((cert, key))
}

/// The certificate's SHA-256 fingerprint (`AB:CD:...`), as `openssl
/// x509 -fingerprint` prints it; `None` without `openssl`.
fn fingerprint(cert: &Path) -> Option<String> {
    let output = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(cert)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    // `sha256 Fingerprint=AB:CD:...` (OpenSSL 1.1 says `SHA256`).
    let text = String::from_utf8_lossy(&output.stdout);
    let (_, hex) = text.trim().split_once('=')?;
    Some(hex.to_string())
}
