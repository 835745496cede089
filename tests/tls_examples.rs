//! The TLS examples as black boxes: the built `tls_echo` and `chat`
//! binaries run as child processes (as tests/example_servers.rs runs the
//! TCP ones) and real TLS clients talk to them: `openssl s_client` and
//! Node's `tls.connect`.
//!
//! `cargo test --features tls-aws-lc-rs --test tls_examples` does not build
//! the examples; build them first with the same features:
//! `cargo build --features tls-aws-lc-rs --example tls_echo --example chat`
//! (a plain `cargo test --features tls-aws-lc-rs` builds them too).
//!
//! Certificates: the test fixtures (tests/util/certs.rs, a test CA and a
//! localhost leaf it signed), and the self-signed one `tls_echo` makes
//! with `openssl` when started without `--cert`/`--key`.

#![cfg(feature = "tls")]

mod util;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use util::certs::certs;
use util::example_server::{example_path, ExampleServer};
use util::LIMIT;

/// 1 MiB, the payload each echo test sends.
const MIB: usize = 1 << 20;

/// An example binary running as a child process (killed on drop, through
/// [`ExampleServer`]), with what it said: the address from its
/// `listening on ...` line and every line of its stderr.
struct Running {
    server: ExampleServer,
    /// What follows `listening on `: `HOST:PORT` or a socket path.
    listening: String,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Running {
    /// Starts `target/<profile>/examples/<name>` with `args` and waits for
    /// its `listening on` line; fails with what it wrote on stderr if it
    /// exits or stays silent.
    fn start(name: &'static str, args: &[&str]) -> Running {
        let exe = example_path(name);
        assert!(
            exe.exists(),
            "{} is missing: build it with the TLS feature first \
             (`cargo build --features tls-aws-lc-rs --example tls_echo --example chat`)",
            exe.display()
        );
        let mut child = Command::new(&exe)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = stderr.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("listening on ") {
                    let _ = tx.send(rest.to_string());
                }
            }
        });
        let listening = rx.recv_timeout(LIMIT).unwrap_or_else(|_| {
            let _ = child.kill();
            let status = child.wait();
            // Let the stderr reader take the last lines.
            std::thread::sleep(Duration::from_millis(100));
            panic!(
                "{name} {args:?} did not print `listening on ...` ({status:?}); its stderr:\n{}",
                stderr.lock().unwrap().join("\n")
            )
        });
        let port = listening
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        Running {
            server: ExampleServer { child, port, name },
            listening,
            stderr,
        }
    }

    /// The value of the stderr line `<prefix> <value>`.
    fn stderr_value(&self, prefix: &str) -> Option<String> {
        self.stderr.lock().unwrap().iter().find_map(|l| {
            l.strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix(' '))
                .map(str::to_string)
        })
    }

    fn assert_running(&mut self) {
        assert!(
            self.server.child.try_wait().unwrap().is_none(),
            "{} exited; its stderr:\n{}",
            self.server.name,
            self.stderr.lock().unwrap().join("\n")
        );
    }
}

/// Whether the `openssl` command is on PATH (it has no `--version`, so
/// `client_available` cannot ask it). Without it, under CI (`CI` set) the
/// test fails; elsewhere it says on stderr which package to install and
/// the caller returns.
fn openssl_available() -> bool {
    let found = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("openssl is not on PATH: install the openssl package");
    }
    eprintln!(
        "skipped: the openssl command is not on PATH; install it to run this test \
         (Debian/Ubuntu: apt-get install openssl)"
    );
    false
}

/// A fresh directory for one test's files.
fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "nodenet-tls-examples-{}-{test}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

/// Sends `payload` through `openssl s_client -quiet` (which ignores the
/// end of its input and keeps the connection) and returns the first
/// `payload.len()` bytes it prints, or fewer if the connection ends or
/// `LIMIT` passes first.
fn through_s_client(port: u16, ca: &str, payload: &[u8]) -> Vec<u8> {
    let mut client = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-quiet",
        ])
        .args([
            "-servername",
            "localhost",
            "-CAfile",
            ca,
            "-verify_return_error",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start openssl s_client");
    let mut stdin = client.stdin.take().unwrap();
    let data = payload.to_vec();
    // s_client's input stays open until the echo is read: at the end of
    // its input it would hang up without waiting for the rest.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
        stdin
    });
    let mut stdout = client.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let want = payload.len();
    std::thread::spawn(move || {
        let mut got = Vec::with_capacity(want);
        let mut buf = vec![0; 64 * 1024];
        while got.len() < want {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let _ = tx.send(got);
    });
    let got = rx.recv_timeout(LIMIT * 3).unwrap_or_default();
    let _ = client.kill();
    let _ = client.wait();
    drop(writer.join());
    got
}

/// The Node client of the echo tests: connects with `tls.connect(options)`
/// (`ca` read from `caFile`), writes the file `input` and ends at once
/// (half-close: the echo must still come back in full), writes everything
/// received until the server's end to the file `output`, and prints a JSON
/// summary of the connection on stdout.
const NODE_ECHO: &str = r#"
const tls = require('tls');
const fs = require('fs');
const cfg = JSON.parse(process.env.NODENET_TEST);
const options = Object.assign({}, cfg.options, { ca: fs.readFileSync(cfg.caFile) });
const input = fs.readFileSync(cfg.input);
const chunks = [];
const summary = {};
const timer = setTimeout(() => { console.error('timed out'); process.exit(3); }, cfg.limitMs);
const socket = tls.connect(options, () => {
  summary.authorized = socket.authorized;
  summary.protocol = socket.getProtocol();
  summary.cipher = socket.getCipher().name;
  socket.end(input);
});
socket.on('data', (d) => chunks.push(d));
socket.on('end', () => { summary.end = true; });
socket.on('error', (e) => { console.error(e); process.exit(2); });
socket.on('close', () => {
  clearTimeout(timer);
  const out = Buffer.concat(chunks);
  fs.writeFileSync(cfg.output, out);
  summary.received = out.length;
  console.log(JSON.stringify(summary));
});
"#;

/// Runs [`NODE_ECHO`] with these `tls.connect` options; returns its
/// summary and what it received.
fn node_echo(options: Value, ca: &str, payload: &[u8], dir: &Path) -> (Value, Vec<u8>) {
    let input = dir.join("input.bin");
    let output = dir.join("output.bin");
    std::fs::write(&input, payload).unwrap();
    let cfg = serde_json::json!({
        "options": options,
        "caFile": ca,
        "input": path_str(&input),
        "output": path_str(&output),
        "limitMs": (LIMIT * 3).as_millis() as u64,
    });
    let out = Command::new(util::node())
        .args(["-e", NODE_ECHO])
        .env("NODENET_TEST", cfg.to_string())
        .stdin(Stdio::null())
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "the Node client failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (summary, std::fs::read(&output).unwrap())
}

/// Byte-for-byte equality without printing a megabyte on failure.
fn assert_same(got: &[u8], want: &[u8], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    if let Some(at) = got.iter().zip(want).position(|(a, b)| a != b) {
        panic!("{what}: the echo differs from byte {at} on");
    }
}

/// The node summary of a verified TLS 1.3 connection that ended cleanly.
fn assert_secure(summary: &Value) {
    assert_eq!(summary["authorized"], true, "{summary}");
    assert_eq!(summary["protocol"], "TLSv1.3", "{summary}");
    assert_eq!(summary["end"], true, "the server ended its side: {summary}");
}

#[test]
fn tls_echo_makes_a_certificate_and_echoes_through_openssl_s_client() {
    if !openssl_available() {
        return;
    }
    let mut echo = Running::start("tls_echo", &["--port", "0"]);
    assert!(
        echo.listening.starts_with("127.0.0.1:"),
        "{}",
        echo.listening
    );
    // The certificate it made, where it says, with its fingerprint.
    let cert = echo
        .stderr_value("certificate")
        .expect("the certificate's path on stderr");
    let key = echo.stderr_value("key").expect("the key's path on stderr");
    assert!(Path::new(&cert).is_file() && Path::new(&key).is_file());
    let fingerprint = echo
        .stderr_value("fingerprint sha256")
        .expect("`fingerprint sha256 ...` on stderr");
    assert_eq!(fingerprint.split(':').count(), 32, "{fingerprint}");
    assert!(
        fingerprint
            .chars()
            .all(|c| c == ':' || c.is_ascii_hexdigit()),
        "{fingerprint}"
    );
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in", &cert])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    for name in [
        "DNS:localhost",
        "IP Address:127.0.0.1",
        "IP Address:0:0:0:0:0:0:0:1",
    ] {
        assert!(text.contains(name), "the certificate lacks {name}:\n{text}");
    }

    // 1 MiB through s_client, which verifies the server against that
    // certificate (`-verify_return_error`).
    let payload = util::random_bytes(MIB, 11);
    let got = through_s_client(echo.server.port, &cert, &payload);
    assert_same(&got, &payload, "the echo through openssl s_client");

    // Node trusts the printed certificate too, by IP address and by name.
    let dir = scratch_dir("self-signed");
    for host in ["127.0.0.1", "localhost"] {
        let options = serde_json::json!({ "host": host, "port": echo.server.port });
        let (summary, got) = node_echo(options, &cert, b"hello from node", &dir);
        assert_secure(&summary);
        assert_eq!(got, b"hello from node");
    }
    echo.assert_running();
}

#[test]
fn tls_echo_echoes_a_mebibyte_to_node() {
    let c = certs();
    let mut echo = Running::start(
        "tls_echo",
        &[
            "--port",
            "0",
            "--cert",
            &c.file("server.pem"),
            "--key",
            &c.file("server.key"),
        ],
    );
    // Given --cert/--key it makes no certificate.
    assert_eq!(echo.stderr_value("certificate"), None);
    // Clients that are not TLS (or reset mid-handshake) cost only their
    // own connections.
    echo.server
        .reset_clients_mid_stream(&util::random_bytes(64 * 1024, 12));

    let payload = util::random_bytes(MIB, 13);
    let dir = scratch_dir("node-mib");
    let options = serde_json::json!({ "host": "127.0.0.1", "port": echo.server.port });
    let (summary, got) = node_echo(options, &c.file("ca.pem"), &payload, &dir);
    assert_secure(&summary);
    assert_same(&got, &payload, "the echo to Node");
    echo.assert_running();
}

#[test]
fn tls_echo_over_a_unix_socket_with_a_node_client() {
    let c = certs();
    let dir = scratch_dir("unix");
    let path = dir.join("echo.sock");
    let mut echo = Running::start(
        "tls_echo",
        &[
            "--path",
            path_str(&path),
            "--cert",
            &c.file("server.pem"),
            "--key",
            &c.file("server.key"),
        ],
    );
    assert_eq!(echo.listening, path_str(&path));
    let payload = util::random_bytes(MIB, 14);
    let options = serde_json::json!({ "path": path_str(&path), "servername": "localhost" });
    let (summary, got) = node_echo(options, &c.file("ca.pem"), &payload, &dir);
    assert_secure(&summary);
    assert_same(&got, &payload, "the echo over the Unix socket");
    echo.assert_running();
}

#[test]
fn tls_echo_without_a_key_or_with_a_bad_one_says_why() {
    let c = certs();
    let exe = example_path("tls_echo");
    // --cert alone is a usage error.
    let out = Command::new(&exe)
        .args(["--port", "0", "--cert", &c.file("server.pem")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cert and --key"));
    // A missing key file fails at start with its error.
    let out = Command::new(&exe)
        .args(["--port", "0", "--cert", &c.file("server.pem")])
        .args(["--key", "/nonexistent/key.pem"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("tls_echo: "), "{stderr}");
    assert!(last.contains("ENOENT"), "{stderr}");
}

/// Two Node chat clients over TLS: `alice` (with a client certificate the
/// server's `--tls-ca` trusts) and `bob` (with none: Verb's
/// `rejectUnauthorized: false` lets him in) log in and join a room; what
/// alice says reaches bob. Prints a JSON summary.
const NODE_CHAT: &str = r#"
const tls = require('tls');
const fs = require('fs');
const cfg = JSON.parse(process.env.NODENET_TEST);
const ca = fs.readFileSync(cfg.ca);
const timer = setTimeout(() => { console.error('timed out'); process.exit(3); }, cfg.limitMs);
const summary = {};

function client(name, extra, onMessage) {
  const options = Object.assign({ host: '127.0.0.1', port: cfg.port, ca }, extra);
  const socket = tls.connect(options, () => {
    summary[name] = { authorized: socket.authorized, protocol: socket.getProtocol() };
    send({ type: 'login', nickname: name });
    send({ type: 'join_room', room: 'lobby' });
  });
  let buffered = Buffer.alloc(0);
  socket.on('data', (d) => {
    buffered = Buffer.concat([buffered, d]);
    while (buffered.length >= 4) {
      const len = buffered.readUInt32BE(0);
      if (buffered.length < 4 + len) break;
      const message = JSON.parse(buffered.subarray(4, 4 + len).toString('utf8'));
      buffered = buffered.subarray(4 + len);
      onMessage(message);
    }
  });
  socket.on('error', (e) => { console.error(name, e); process.exit(2); });
  function send(message) {
    const body = Buffer.from(JSON.stringify(message));
    const header = Buffer.alloc(4);
    header.writeUInt32BE(body.length);
    socket.write(Buffer.concat([header, body]));
  }
  return { socket, send };
}

let bob;
const alice = client('alice', {
  cert: fs.readFileSync(cfg.clientCert),
  key: fs.readFileSync(cfg.clientKey),
}, (m) => {
  if (m.type === 'room_joined' && !bob) {
    // Bob comes once alice is in the room.
    bob = client('bob', {}, (m) => {
      if (m.type === 'room_joined') summary.bobSawUsers = m.users;
      if (m.type === 'chat_message') {
        summary.bobGot = m;
        clearTimeout(timer);
        alice.socket.end();
        bob.socket.end();
        console.log(JSON.stringify(summary));
      }
    });
  }
  if (m.type === 'user_joined' && m.nickname === 'bob') {
    alice.send({ type: 'chat_message', message: 'hello over TLS' });
  }
});
"#;

#[test]
fn chat_over_tls_carries_a_line_between_two_node_clients() {
    let c = certs();
    let mut chat = Running::start(
        "chat",
        &[
            "--port",
            "0",
            "--quiet",
            "--tls-cert",
            &c.file("server.pem"),
            "--tls-key",
            &c.file("server.key"),
            "--tls-ca",
            &c.file("ca.pem"),
        ],
    );
    let cfg = serde_json::json!({
        "port": chat.server.port,
        "ca": c.file("ca.pem"),
        "clientCert": c.file("client.pem"),
        "clientKey": c.file("client.key"),
        "limitMs": (LIMIT * 2).as_millis() as u64,
    });
    let out = Command::new(util::node())
        .args(["-e", NODE_CHAT])
        .env("NODENET_TEST", cfg.to_string())
        .stdin(Stdio::null())
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "the Node chat clients failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    for name in ["alice", "bob"] {
        assert_eq!(summary[name]["authorized"], true, "{summary}");
        assert_eq!(summary[name]["protocol"], "TLSv1.3", "{summary}");
    }
    assert_eq!(summary["bobSawUsers"], serde_json::json!(["alice", "bob"]));
    assert_eq!(summary["bobGot"]["from"], "alice", "{summary}");
    assert_eq!(summary["bobGot"]["message"], "hello over TLS", "{summary}");

    // A plain TCP client speaking the chat protocol to the TLS port gets
    // no frame, only the end of its connection; the server keeps serving.
    let mut plain = TcpStream::connect(("127.0.0.1", chat.server.port)).unwrap();
    plain.set_read_timeout(Some(LIMIT)).unwrap();
    let login = br#"{"type":"login","nickname":"plain"}"#;
    plain
        .write_all(&(login.len() as u32).to_be_bytes())
        .unwrap();
    plain.write_all(login).unwrap();
    let started = Instant::now();
    let mut reply = Vec::new();
    match plain.read_to_end(&mut reply) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the plain client was not disconnected: {e}"),
    }
    assert!(started.elapsed() < LIMIT);
    assert!(
        !reply.windows(13).any(|w| w == b"login_success"),
        "a plain client was served in clear text"
    );
    chat.assert_running();
}

/// `examples/http_hello --tls-cert/--tls-key` under the real `curl`: two
/// HTTPS requests on one TLS connection, the certificate checked against
/// the test CA, ALPN `http/1.1`.
#[test]
fn http_hello_over_tls_with_curl() {
    if !util::example_server::client_available("curl", "curl") {
        return;
    }
    let c = certs();
    let server = ExampleServer::start(
        "http_hello",
        &[
            "--port",
            "0",
            "--tls-cert",
            &c.file("server.pem"),
            "--tls-key",
            &c.file("server.key"),
        ],
    );
    let url = format!("https://localhost:{}/", server.port);
    let out = Command::new("curl")
        .args([
            "-sv",
            "--http1.1",
            "--cacert",
            &c.file("ca.pem"),
            "--resolve",
            &format!("localhost:{}:127.0.0.1", server.port),
            &url,
            &format!("{url}again"),
        ])
        .output()
        .expect("run curl");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Hello, World!".repeat(2)
    );
    assert!(
        stderr.contains("ALPN") && stderr.contains("http/1.1"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Re-using existing connection"),
        "curl did not reuse the connection:\n{stderr}"
    );
    assert_eq!(stderr.matches("Connected to").count(), 1, "{stderr}");
}
