//! Every example server keeps serving when a client resets mid-stream: the
//! real example binaries (built by `cargo test` with the other targets) run
//! as child processes; clients reset in the middle of a message, then a new
//! client must be served and the server must still be running.

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use util::LIMIT;

/// An example server running as a child process, killed on drop.
struct ExampleServer {
    child: Child,
    port: u16,
    name: &'static str,
}

impl ExampleServer {
    /// Starts `target/<profile>/examples/<name>` with `args` and reads the
    /// port from its `listening on HOST:PORT` line.
    fn start(name: &'static str, args: &[&str]) -> ExampleServer {
        let exe = example_path(name);
        assert!(
            exe.exists(),
            "{} is missing: `cargo test` builds the examples with the tests \
             (or run `cargo build --examples`)",
            exe.display()
        );
        let mut child = Command::new(&exe)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("listening on ") {
                    let port = rest.rsplit(':').next().and_then(|p| p.parse::<u16>().ok());
                    let _ = tx.send(port);
                }
            }
        });
        let port = rx
            .recv_timeout(LIMIT)
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("{name} did not print `listening on HOST:PORT`"));
        ExampleServer { child, port, name }
    }

    fn connect(&self) -> TcpStream {
        let c = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        c.set_read_timeout(Some(LIMIT)).unwrap();
        c.set_write_timeout(Some(LIMIT)).unwrap();
        c
    }

    /// Three clients each send `partial` (the middle of a message or a
    /// stream), then reset; the server must still be running after them.
    fn reset_clients_mid_stream(&mut self, partial: &[u8]) {
        for _ in 0..3 {
            let mut c = self.connect();
            c.write_all(partial).unwrap();
            // Give the server the data (and a chance to answer into a
            // buffer nobody reads), then reset.
            std::thread::sleep(Duration::from_millis(30));
            let raw = socket2::Socket::from(c);
            raw.set_linger(Some(Duration::ZERO)).unwrap();
            drop(raw);
        }
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "{} exited after clients reset",
            self.name
        );
    }
}

impl Drop for ExampleServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The example binary beside this test binary: `target/<profile>/examples`.
fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    profile_dir.join("examples").join(name)
}

fn read_exactly(c: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    c.read_exact(&mut buf)
        .expect("the reply within the timeout");
    buf
}

#[test]
fn echo_keeps_serving_after_resets() {
    let mut server = ExampleServer::start("echo", &["--port", "0"]);
    server.reset_clients_mid_stream(&util::random_bytes(2 << 20, 1));
    let mut c = server.connect();
    c.write_all(b"still here").unwrap();
    assert_eq!(read_exactly(&mut c, 10), b"still here");
}

#[test]
fn starcounter_echo_keeps_serving_after_resets() {
    let mut server = ExampleServer::start("starcounter_echo", &["--port", "0"]);
    server.reset_clients_mid_stream(&util::random_bytes(2 << 20, 2));
    let mut c = server.connect();
    c.write_all(b"still here").unwrap();
    assert_eq!(read_exactly(&mut c, 10), b"still here");
}

#[test]
fn kn_sock_keeps_serving_after_resets() {
    let mut server = ExampleServer::start("kn_sock", &["serve", "--port", "0"]);
    server.reset_clients_mid_stream(&util::random_bytes(1 << 20, 3));
    let mut c = server.connect();
    c.write_all(b"hello").unwrap();
    assert_eq!(read_exactly(&mut c, 16), b"Message received");
}

#[test]
fn mongoose_keeps_serving_after_resets() {
    let mut server = ExampleServer::start("mongoose", &["--port", "0", "--quiet"]);
    server.reset_clients_mid_stream(b"half a messa");
    let mut c = server.connect();
    c.write_all(b"hello").unwrap();
    assert_eq!(read_exactly(&mut c, 5), b"hello");
}

#[test]
fn chat_keeps_serving_after_resets() {
    let mut server = ExampleServer::start("chat", &["--port", "0", "--quiet"]);
    // A frame header announcing 1000 bytes, then only part of them.
    let mut partial = 1000u32.to_be_bytes().to_vec();
    partial.extend_from_slice(br#"{"type":"login","nick"#);
    server.reset_clients_mid_stream(&partial);
    let mut c = server.connect();
    let login = br#"{"type":"login","nickname":"after"}"#;
    c.write_all(&(login.len() as u32).to_be_bytes()).unwrap();
    c.write_all(login).unwrap();
    let len = u32::from_be_bytes(read_exactly(&mut c, 4).try_into().unwrap()) as usize;
    let reply: serde_json::Value = serde_json::from_slice(&read_exactly(&mut c, len)).unwrap();
    assert_eq!(reply["type"], "login_success", "{reply}");
}
