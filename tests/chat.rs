//! The chat example (Verb's chat server, issue 4's chat contract), driven
//! over loopback by real clients: blocking `std::net::TcpStream`s from the
//! test thread, and Node's `net` for interop.
//!
//! Each test runs the server on its own thread (its own nodenet loop) and
//! stops it through that loop's `LoopHandle` at the end.

mod util;

#[path = "../examples/chat.rs"]
#[allow(dead_code)]
mod chat;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long a client waits for any one frame.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A chat server on its own thread and loop.
struct ChatServer {
    port: u16,
    handle: nodenet::LoopHandle,
    thread: Option<JoinHandle<()>>,
}

impl ChatServer {
    fn start() -> ChatServer {
        ChatServer::start_with(quiet())
    }

    fn start_with(config: chat::Config) -> ChatServer {
        let (tx, rx) = mpsc::channel();
        let thread = thread::spawn(move || {
            let server = chat::start_with("127.0.0.1", 0, config).expect("the chat server starts");
            let port = server.address().expect("listening").port();
            tx.send((port, nodenet::handle())).unwrap();
            // Bounded: stop() ends it long before.
            nodenet::run_for(Duration::from_secs(120)).expect("no unhandled error on the server");
        });
        let (port, handle) = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the server thread reports its port");
        ChatServer {
            port,
            handle,
            thread: Some(thread),
        }
    }

    fn client(&self) -> Client {
        Client::connect(self.port)
    }

    /// A client logged in as `nickname`.
    fn login(&self, nickname: &str) -> Client {
        let mut c = self.client();
        let reply = c.login(nickname);
        assert_eq!(reply["type"], "login_success", "{reply}");
        c
    }
}

impl Drop for ChatServer {
    fn drop(&mut self) {
        self.handle.stop();
        if let Some(thread) = self.thread.take() {
            let result = thread.join();
            if !thread::panicking() {
                result.expect("the server thread did not panic");
            }
        }
    }
}

fn quiet() -> chat::Config {
    chat::Config {
        verbose: false,
        ..chat::Config::default()
    }
}

/// `message` as a length-prefixed JSON frame.
fn frame(message: &Value) -> Vec<u8> {
    let json = serde_json::to_vec(message).unwrap();
    let mut out = (json.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&json);
    out
}

fn raw_frame(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

/// A blocking test client speaking the chat protocol.
struct Client {
    stream: TcpStream,
}

impl Client {
    fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client { stream }
    }

    fn send(&mut self, message: &Value) {
        self.send_raw(&frame(message));
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// The next frame, parsed.
    fn recv(&mut self) -> Value {
        let mut header = [0u8; 4];
        self.stream
            .read_exact(&mut header)
            .expect("a frame header within the read timeout");
        let mut payload = vec![0u8; u32::from_be_bytes(header) as usize];
        self.stream
            .read_exact(&mut payload)
            .expect("the frame's payload");
        serde_json::from_slice(&payload).expect("the server sends JSON")
    }

    /// The next frame of type `kind`, skipping others (notifications).
    fn recv_type(&mut self, kind: &str) -> Value {
        for _ in 0..100_000 {
            let m = self.recv();
            if m["type"] == kind {
                return m;
            }
        }
        panic!("no {kind} message");
    }

    fn login(&mut self, nickname: &str) -> Value {
        self.send(&json!({"type": "login", "nickname": nickname}));
        self.recv()
    }

    /// Joins `room`; returns the `room_joined` reply.
    fn join(&mut self, room: &str) -> Value {
        self.send(&json!({"type": "join_room", "room": room}));
        let reply = self.recv_type("room_joined");
        assert_eq!(reply["room"], room);
        reply
    }

    /// Sends a ping and returns everything received before the pong: what
    /// the server had sent this client by the time it handled the ping.
    fn before_pong(&mut self) -> Vec<Value> {
        self.send(&json!({"type": "ping"}));
        let mut before = Vec::new();
        for _ in 0..100_000 {
            let m = self.recv();
            if m["type"] == "pong" {
                assert!(m["timestamp"].is_u64(), "{m}");
                return before;
            }
            before.push(m);
        }
        panic!("no pong");
    }

    /// Reads until the server closes the connection (EOF or reset); returns
    /// the bytes received first.
    fn read_to_close(&mut self) -> Vec<u8> {
        let mut all = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        let deadline = Instant::now() + READ_TIMEOUT;
        while Instant::now() < deadline {
            match self.stream.read(&mut buf) {
                Ok(0) => return all,
                Ok(n) => all.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return all,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => panic!("waiting for the server to close: {e}"),
            }
        }
        panic!("the server did not close the connection");
    }
}

fn types(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m["type"].as_str().unwrap_or("?").to_string())
        .collect()
}

/// Parses a byte stream of whole frames.
fn parse_frames(mut bytes: &[u8]) -> Vec<Value> {
    let mut out = Vec::new();
    while bytes.len() >= 4 {
        let n = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        assert!(bytes.len() >= 4 + n, "a truncated frame");
        out.push(serde_json::from_slice(&bytes[4..4 + n]).unwrap());
        bytes = &bytes[4 + n..];
    }
    assert!(bytes.is_empty(), "trailing bytes");
    out
}

#[test]
fn login_and_ping() {
    let server = ChatServer::start();
    let mut alice = server.client();
    let reply = alice.login("alice");
    assert_eq!(reply["type"], "login_success");
    assert_eq!(reply["message"], "Welcome, alice!");
    let client_id = reply["clientId"].as_str().expect("clientId is a string");
    let local = alice.stream.local_addr().unwrap();
    assert_eq!(client_id, format!("{}:{}", local.ip(), local.port()));

    alice.send(&json!({"type": "ping"}));
    let pong = alice.recv();
    assert_eq!(pong["type"], "pong");
    assert!(pong["timestamp"].as_u64().unwrap() > 1_600_000_000_000);
}

#[test]
fn rooms_join_leave_and_notifications() {
    let server = ChatServer::start();
    let mut alice = server.login("alice");
    let mut bob = server.login("bob");

    let joined = alice.join("general");
    assert_eq!(joined["users"], json!(["alice"]));
    let joined = bob.join("general");
    assert_eq!(joined["users"], json!(["alice", "bob"]));

    let note = alice.recv();
    assert_eq!(
        note,
        json!({"type": "user_joined", "nickname": "bob", "message": "bob joined the room"})
    );
    // The joiner is not told about itself.
    assert_eq!(types(&bob.before_pong()), Vec::<String>::new());

    // Moving to another room leaves the first one.
    let joined = bob.join("random");
    assert_eq!(joined["users"], json!(["bob"]));
    assert_eq!(
        alice.recv(),
        json!({"type": "user_left", "nickname": "bob", "message": "bob left the room"})
    );

    // leave_room: the others hear it, the leaver gets nothing.
    let mut carol = server.login("carol");
    let joined = carol.join("random");
    assert_eq!(joined["users"], json!(["bob", "carol"]));
    assert_eq!(bob.recv_type("user_joined")["nickname"], "carol");
    carol.send(&json!({"type": "leave_room"}));
    assert_eq!(bob.recv()["type"], "user_left");
    assert_eq!(types(&carol.before_pong()), Vec::<String>::new());
    // Leaving when in no room is harmless.
    carol.send(&json!({"type": "leave_room"}));
    assert_eq!(types(&carol.before_pong()), Vec::<String>::new());

    // A chat message in "random" reaches bob only, not alice or carol.
    let mut dave = server.login("dave");
    dave.join("random");
    dave.send(&json!({"type": "chat_message", "message": "hi"}));
    let m = bob.recv_type("chat_message");
    assert_eq!(m["from"], "dave");
    assert_eq!(m["message"], "hi");
    assert!(m["timestamp"].is_u64());
    assert!(!types(&alice.before_pong()).contains(&"chat_message".to_string()));
    assert!(!types(&carol.before_pong()).contains(&"chat_message".to_string()));
    assert!(!types(&dave.before_pong()).contains(&"chat_message".to_string()));
}

/// Fan-out to hundreds of clients in one room: everyone but the sender gets
/// the message; a client in another room does not.
#[test]
fn chat_message_fans_out_to_everyone_else_in_the_room() {
    const N: usize = 200;
    let server = ChatServer::start();
    let mut clients: Vec<Client> = (0..N)
        .map(|i| {
            let mut c = server.login(&format!("user{i}"));
            let joined = c.join("crowd");
            assert_eq!(joined["users"].as_array().unwrap().len(), i + 1);
            c
        })
        .collect();
    let mut outsider = server.login("outsider");
    outsider.join("elsewhere");

    clients[0].send(&json!({"type": "chat_message", "message": "hello, crowd"}));
    for (i, c) in clients.iter_mut().enumerate().skip(1) {
        let m = c.recv_type("chat_message");
        assert_eq!(m["from"], "user0", "client {i}");
        assert_eq!(m["message"], "hello, crowd", "client {i}");
        // Each saw exactly the joins that came after its own.
        let pending = c.before_pong();
        assert!(!types(&pending).contains(&"chat_message".to_string()));
    }
    let own = clients[0].before_pong();
    assert_eq!(
        types(&own)
            .iter()
            .filter(|t| t.as_str() == "user_joined")
            .count(),
        N - 1
    );
    assert!(!types(&own).contains(&"chat_message".to_string()));
    assert!(!types(&outsider.before_pong()).contains(&"chat_message".to_string()));
}

#[test]
fn private_messages_reach_the_named_user_only() {
    let server = ChatServer::start();
    let mut alice = server.login("alice");
    let mut bob = server.login("bob");
    let mut carol = server.login("carol");
    for c in [&mut alice, &mut bob, &mut carol] {
        c.join("room");
    }

    alice.send(&json!({"type": "private_message", "to": "bob", "message": "psst"}));
    let m = bob.recv_type("private_message");
    assert_eq!(m["from"], "alice");
    assert_eq!(m["message"], "psst");
    assert!(m["timestamp"].is_u64());
    assert!(!types(&carol.before_pong()).contains(&"private_message".to_string()));
    assert!(!types(&alice.before_pong()).contains(&"private_message".to_string()));

    // Rooms do not matter for private messages.
    let mut dan = server.login("dan");
    dan.send(&json!({"type": "private_message", "to": "carol", "message": "hey"}));
    assert_eq!(carol.recv_type("private_message")["from"], "dan");

    // An unknown recipient is an error; the connection stays usable.
    alice.send(&json!({"type": "private_message", "to": "nobody", "message": "?"}));
    let err = alice.recv();
    assert_eq!(err["type"], "error");
    assert!(err["message"].as_str().unwrap().contains("nobody"), "{err}");
    assert_eq!(types(&alice.before_pong()), Vec::<String>::new());
    alice.send(&json!({"type": "private_message", "to": "dan", "message": "still here"}));
    assert_eq!(dan.recv_type("private_message")["message"], "still here");
}

#[test]
fn invalid_json_is_an_error_and_the_connection_stays_usable() {
    let server = ChatServer::start();
    let mut alice = server.login("alice");
    for bad in [&b"{not json"[..], b"", b"\xff\xfe", b"[1, 2"] {
        alice.send_raw(&raw_frame(bad));
        let err = alice.recv();
        assert_eq!(err["type"], "error", "{bad:?}");
        assert!(
            err["message"].as_str().unwrap().starts_with("Invalid JSON"),
            "{err}"
        );
    }
    // Missing or mistyped fields.
    alice.send(&json!({"type": "login"}));
    assert_eq!(alice.recv()["type"], "error");
    alice.send(&json!({"type": "join_room", "room": 5}));
    assert_eq!(alice.recv()["type"], "error");
    alice.send(&json!({"type": "private_message", "to": "alice"}));
    assert_eq!(alice.recv()["type"], "error");

    assert_eq!(types(&alice.before_pong()), Vec::<String>::new());
    assert_eq!(alice.login("alice2")["message"], "Welcome, alice2!");
}

#[test]
fn unknown_type_is_an_error() {
    let server = ChatServer::start();
    let mut alice = server.login("alice");
    alice.send(&json!({"type": "dance"}));
    let err = alice.recv();
    assert_eq!(err["type"], "error");
    assert_eq!(err["message"], "Unknown message type: dance");
    for no_type in [
        json!({"nickname": "x"}),
        json!([1, 2]),
        json!("ping"),
        json!({"type": 3}),
    ] {
        alice.send(&no_type);
        let err = alice.recv();
        assert_eq!(err["type"], "error", "{no_type}");
        assert!(err["message"]
            .as_str()
            .unwrap()
            .starts_with("Unknown message type"));
    }
    assert_eq!(types(&alice.before_pong()), Vec::<String>::new());
}

#[test]
fn disconnect_counts_as_leaving() {
    let server = ChatServer::start();
    let mut alice = server.login("alice");
    alice.join("general");
    let mut bob = server.login("bob");
    bob.join("general");
    assert_eq!(alice.recv()["type"], "user_joined");

    drop(bob);
    assert_eq!(
        alice.recv(),
        json!({"type": "user_left", "nickname": "bob", "message": "bob left the room"})
    );
    // A reset (not a FIN) counts too.
    let mut carol = server.login("carol");
    carol.join("general");
    assert_eq!(alice.recv()["nickname"], "carol");
    carol.stream.shutdown(Shutdown::Both).unwrap();
    drop(carol);
    assert_eq!(alice.recv_type("user_left")["nickname"], "carol");
    // The nickname is gone with its connection.
    alice.send(&json!({"type": "private_message", "to": "bob", "message": "?"}));
    assert_eq!(alice.recv()["type"], "error");
}

#[test]
fn oversized_frame_gets_an_error_then_the_connection_closes() {
    let server = ChatServer::start();
    let mut alice = server.login("alice");
    alice.join("general");
    let mut mallory = server.login("mallory");
    mallory.join("general");
    assert_eq!(alice.recv()["type"], "user_joined");

    // A header announcing 1 MiB + 1, and the start of such a payload.
    let mut bad = ((chat::MAX_FRAME + 1) as u32).to_be_bytes().to_vec();
    bad.extend_from_slice(&[b'x'; 1000]);
    mallory.send_raw(&bad);
    let rest = parse_frames(&mallory.read_to_close());
    assert_eq!(types(&rest), ["error"]);
    assert_eq!(
        rest[0]["message"],
        "frame of 1048577 bytes exceeds the maximum of 1048576"
    );
    // The others see mallory leave.
    assert_eq!(alice.recv()["nickname"], "mallory");
    assert_eq!(alice.before_pong().len(), 0);

    // A header announcing 4 GiB - 1, split across writes.
    let mut eve = server.login("eve");
    eve.send_raw(&[0xff, 0xff]);
    thread::sleep(Duration::from_millis(20));
    eve.send_raw(&[0xff, 0xff]);
    let rest = parse_frames(&eve.read_to_close());
    assert_eq!(types(&rest), ["error"]);
}

#[test]
fn a_frame_of_exactly_one_mebibyte_is_accepted() {
    let server = ChatServer::start();
    let mut alice = server.login("alice");
    alice.join("big");
    let mut bob = server.login("bob");
    bob.join("big");
    let skeleton = serde_json::to_vec(&json!({"type": "chat_message", "message": ""})).unwrap();
    let text = "y".repeat(chat::MAX_FRAME - skeleton.len());
    let message = frame(&json!({"type": "chat_message", "message": text}));
    assert_eq!(message.len(), 4 + chat::MAX_FRAME);
    bob.send_raw(&message);
    let m = alice.recv_type("chat_message");
    assert_eq!(m["message"].as_str().unwrap().len(), text.len());
    assert_eq!(types(&bob.before_pong()), Vec::<String>::new());
}

#[test]
fn frames_split_byte_by_byte() {
    let server = ChatServer::start();
    let mut alice = server.login("alice");
    alice.join("bytes");
    let mut bob = server.client();
    let mut bytes = frame(&json!({"type": "login", "nickname": "bob"}));
    bytes.extend(frame(&json!({"type": "join_room", "room": "bytes"})));
    bytes.extend(frame(
        &json!({"type": "chat_message", "message": "one byte at a time"}),
    ));
    for (i, b) in bytes.iter().enumerate() {
        bob.send_raw(&[*b]);
        if i % 8 == 0 {
            // Give the server a chance to read the pieces one by one.
            thread::sleep(Duration::from_millis(1));
        }
    }
    assert_eq!(bob.recv()["type"], "login_success");
    assert_eq!(bob.recv()["users"], json!(["alice", "bob"]));
    assert_eq!(alice.recv()["type"], "user_joined");
    assert_eq!(alice.recv()["message"], "one byte at a time");
}

#[test]
fn several_frames_in_one_write() {
    let server = ChatServer::start();
    let mut alice = server.client();
    let mut bytes = frame(&json!({"type": "login", "nickname": "alice"}));
    bytes.extend(frame(&json!({"type": "join_room", "room": "batch"})));
    bytes.extend(raw_frame(b"oops"));
    bytes.extend(frame(&json!({"type": "ping"})));
    alice.send_raw(&bytes);
    assert_eq!(alice.recv()["type"], "login_success");
    assert_eq!(alice.recv()["users"], json!(["alice"]));
    assert_eq!(alice.recv()["type"], "error");
    assert_eq!(alice.recv()["type"], "pong");
}

#[test]
fn connection_limit_drops_the_extra_connections() {
    let server = ChatServer::start_with(chat::Config {
        max_connections: 2,
        ..quiet()
    });
    let mut a = server.login("a");
    let _b = server.login("b");
    // The third is accepted and closed at once.
    let mut c = server.client();
    c.send(&json!({"type": "login", "nickname": "c"}));
    assert!(c.read_to_close().is_empty());
    // The first two are unaffected.
    assert_eq!(types(&a.before_pong()), Vec::<String>::new());
    // Once one leaves, there is room again (the server notices the close
    // on its own schedule: retry, bounded).
    drop(a);
    let mut admitted = false;
    for _ in 0..100 {
        let mut d = server.client();
        d.send(&json!({"type": "login", "nickname": "d"}));
        let mut header = [0u8; 4];
        if d.stream.read_exact(&mut header).is_ok() {
            admitted = true;
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    assert!(admitted, "a connection is admitted after one closes");
}

#[test]
fn idle_connections_are_cleaned_up() {
    let server = ChatServer::start_with(chat::Config {
        idle_timeout: Duration::from_secs(1),
        sweep_interval: Duration::from_millis(200),
        ..quiet()
    });
    let mut idle = server.login("idle");
    idle.join("lobby");
    let mut watcher = server.login("watcher");
    watcher.join("lobby");
    // The idle one says nothing more and is disconnected; the watcher,
    // which keeps pinging, sees it leave.
    let mut left = None;
    for _ in 0..100 {
        let before = watcher.before_pong();
        if let Some(m) = before.into_iter().find(|m| m["type"] == "user_left") {
            left = Some(m);
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        left.expect("user_left within the bound")["nickname"],
        "idle"
    );
    let seen = parse_frames(&idle.read_to_close());
    assert_eq!(types(&seen), ["user_joined"]);
}

/// Interop: 50 clients written with Node's `net` against the chat server.
#[test]
fn node_clients_fan_out() {
    let node = util::node();
    let server = ChatServer::start();
    let script = r#"
const net = require('net');
const port = Number(process.env.CHAT_PORT);
const N = 50;
const fail = (why) => { console.error('FAIL ' + why); process.exit(1); };
setTimeout(() => fail('timed out'), 30000);
const frame = (m) => {
  const body = Buffer.from(JSON.stringify(m));
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length, 0);
  return Buffer.concat([head, body]);
};
const clients = [];
let joined = 0, chats = 0, left = 0, userJoined = 0;
for (let i = 0; i < N; i++) {
  const s = net.connect(port, '127.0.0.1');
  s.setNoDelay(true);
  let buf = Buffer.alloc(0);
  s.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 4) {
      const n = buf.readUInt32BE(0);
      if (buf.length < 4 + n) break;
      const m = JSON.parse(buf.subarray(4, 4 + n).toString());
      buf = buf.subarray(4 + n);
      onMessage(i, m);
    }
  });
  s.on('error', (e) => fail(`client ${i}: ${e.code}`));
  // Login and join in one write: two frames in one segment.
  s.write(Buffer.concat([
    frame({ type: 'login', nickname: `n${i}` }),
    frame({ type: 'join_room', room: 'node' }),
  ]));
  clients.push(s);
}
function onMessage(i, m) {
  switch (m.type) {
    case 'login_success':
      if (m.message !== `Welcome, n${i}!`) fail('login ' + JSON.stringify(m));
      break;
    case 'room_joined':
      if (!m.users.includes(`n${i}`)) fail('room_joined ' + JSON.stringify(m));
      if (++joined === N) clients[0].write(frame({ type: 'chat_message', message: 'from node' }));
      break;
    case 'user_joined':
      userJoined++;
      break;
    case 'chat_message':
      if (i === 0) fail('the sender got its own message');
      if (m.from !== 'n0' || m.message !== 'from node' || typeof m.timestamp !== 'number')
        fail('chat ' + JSON.stringify(m));
      if (++chats === N - 1) clients[1].write(frame({ type: 'private_message', to: 'n2', message: 'secret' }));
      break;
    case 'private_message':
      if (i !== 2 || m.from !== 'n1' || m.message !== 'secret') fail('private ' + JSON.stringify(m));
      clients[N - 1].destroy();
      break;
    case 'user_left':
      if (m.nickname !== `n${N - 1}`) fail('user_left ' + JSON.stringify(m));
      if (++left === N - 1) {
        if (userJoined !== N * (N - 1) / 2) fail(`user_joined count ${userJoined}`);
        console.log('OK');
        process.exit(0);
      }
      break;
    default:
      fail('unexpected ' + JSON.stringify(m));
  }
}
"#;
    let mut child = Command::new(node)
        .arg("-e")
        .arg(script)
        .env("CHAT_PORT", server.port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the Node client did not finish");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "node failed: {out}{err}");
    assert_eq!(out.trim(), "OK", "{err}");
}
