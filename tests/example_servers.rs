//! Every example server keeps serving when a client resets mid-stream: the
//! real example binaries (built by `cargo test` with the other targets) run
//! as child processes; clients reset in the middle of a message, then a new
//! client must be served and the server must still be running.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;

use util::example_server::ExampleServer;

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
