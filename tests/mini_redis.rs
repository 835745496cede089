//! examples/mini_redis.rs as a child process: with the real `redis-cli`
//! and `redis-benchmark` (skipped, saying so, when they are not installed,
//! except under CI), and with a RESP client written here for pipelining,
//! frames cut byte by byte, protocol errors and the limits.

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use util::example_server::{client_available, ExampleServer};

fn start(extra: &[&str]) -> ExampleServer {
    let mut args = vec!["--port", "0"];
    args.extend_from_slice(extra);
    ExampleServer::start("mini_redis", &args)
}

/// `redis-cli -p PORT args...`, its output trimmed.
fn redis_cli(server: &ExampleServer, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &server.port.to_string()])
        .args(args)
        .output()
        .expect("run redis-cli");
    assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

/// A request in RESP.
fn resp(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A reply, as a test compares it.
#[derive(Debug, Clone, PartialEq)]
enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(Some(s.as_bytes().to_vec()))
}

fn ok() -> Reply {
    Reply::Simple("OK".into())
}

struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    fn connect(server: &ExampleServer) -> Client {
        let stream = server.connect();
        stream.set_nodelay(true).unwrap();
        Client {
            reader: BufReader::new(stream),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.reader.get_mut().write_all(bytes).unwrap();
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("a reply line");
        assert!(line.ends_with("\r\n"), "reply line {line:?}");
        line.truncate(line.len() - 2);
        line
    }

    fn reply(&mut self) -> Reply {
        let line = self.line();
        let (kind, rest) = line.split_at(1);
        match kind {
            "+" => Reply::Simple(rest.into()),
            "-" => Reply::Error(rest.into()),
            ":" => Reply::Int(rest.parse().unwrap()),
            "$" => {
                let n: i64 = rest.parse().unwrap();
                if n < 0 {
                    return Reply::Bulk(None);
                }
                let mut data = vec![0; n as usize + 2];
                self.reader.read_exact(&mut data).unwrap();
                assert_eq!(&data[n as usize..], b"\r\n");
                data.truncate(n as usize);
                Reply::Bulk(Some(data))
            }
            "*" => {
                let n: usize = rest.parse().unwrap();
                Reply::Array((0..n).map(|_| self.reply()).collect())
            }
            _ => panic!("not a RESP reply: {line:?}"),
        }
    }

    fn call(&mut self, args: &[&str]) -> Reply {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.send(&resp(&args));
        self.reply()
    }

    /// Reads to the end of the stream: the server closed the connection.
    fn expect_closed(&mut self) {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => assert!(rest.is_empty(), "more after the error: {rest:?}"),
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
        }
    }
}

// ---------------------------------------------------------------------------
// The real clients

#[test]
fn redis_cli_set_get_incr() {
    if !client_available("redis-cli", "redis-tools") {
        return;
    }
    let server = start(&[]);
    assert_eq!(redis_cli(&server, &["PING"]), "PONG");
    assert_eq!(
        redis_cli(&server, &["SET", "greeting", "hello world"]),
        "OK"
    );
    assert_eq!(redis_cli(&server, &["GET", "greeting"]), "hello world");
    assert_eq!(redis_cli(&server, &["INCR", "counter"]), "1");
    assert_eq!(redis_cli(&server, &["INCR", "counter"]), "2");
    assert_eq!(redis_cli(&server, &["DECR", "counter"]), "1");
    assert_eq!(redis_cli(&server, &["MSET", "a", "1", "b", "2"]), "OK");
    // (redis-cli prints a nil as an empty line)
    assert_eq!(redis_cli(&server, &["MGET", "a", "b", "c"]), "1\n2");
    assert_eq!(redis_cli(&server, &["EXISTS", "a", "c"]), "1");
    assert_eq!(redis_cli(&server, &["SET", "t", "v", "EX", "100"]), "OK");
    assert_eq!(redis_cli(&server, &["TTL", "t"]), "100");
    assert_eq!(
        redis_cli(&server, &["INCR", "greeting"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        redis_cli(&server, &["NOSUCH", "x"]),
        "ERR unknown command 'NOSUCH', with args beginning with: 'x'"
    );
    // Several commands over one connection, as redis-cli reads them from
    // stdin.
    let mut child = Command::new("redis-cli")
        .args(["-p", &server.port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"SET piped 41\nINCR piped\nGET piped\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "OK\n42\n42\n");
}

#[test]
fn redis_cli_pub_sub() {
    if !client_available("redis-cli", "redis-tools") {
        return;
    }
    let server = start(&[]);
    let mut subscriber = Command::new("redis-cli")
        .args(["-p", &server.port.to_string(), "SUBSCRIBE", "news", "sport"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(subscriber.stdout.take().unwrap()).lines();
    let mut next = move || lines.next().expect("subscriber output").unwrap();
    // The confirmations: kind, channel, count.
    let got: Vec<String> = (0..6).map(|_| next()).collect();
    assert_eq!(got, ["subscribe", "news", "1", "subscribe", "sport", "2"]);
    assert_eq!(redis_cli(&server, &["PUBLISH", "news", "extra!"]), "1");
    assert_eq!(redis_cli(&server, &["PUBLISH", "weather", "rain"]), "0");
    assert_eq!(redis_cli(&server, &["PUBLISH", "sport", "goal"]), "1");
    let got: Vec<String> = (0..6).map(|_| next()).collect();
    assert_eq!(
        got,
        ["message", "news", "extra!", "message", "sport", "goal"]
    );
    subscriber.kill().unwrap();
    subscriber.wait().unwrap();
    // Gone: nobody receives any more.
    let deadline = Instant::now() + Duration::from_secs(5);
    while redis_cli(&server, &["PUBLISH", "news", "late"]) != "0" {
        assert!(
            Instant::now() < deadline,
            "the killed subscriber is still counted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn redis_benchmark_runs_against_it() {
    if !client_available("redis-benchmark", "redis-tools") {
        return;
    }
    let server = start(&[]);
    // Small: a check that it speaks enough (CONFIG GET save, inline PING,
    // pipelining), not a measurement.
    let out = Command::new("redis-benchmark")
        .args(["-p", &server.port.to_string()])
        .args(["-n", "2000", "-c", "4", "-P", "8", "-q"])
        .args(["-t", "ping,set,get,incr,mset"])
        .output()
        .expect("run redis-benchmark");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    for test in ["PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "MSET"] {
        assert!(
            text.lines()
                .any(|l| l.contains(test) && l.contains("requests per second")),
            "no {test} result in:\n{text}"
        );
    }
    assert!(!text.contains("WARNING"), "{text}");
    assert!(!text.contains("ERR"), "{text}");
}

// ---------------------------------------------------------------------------
// RESP spoken here

/// A pipeline covering the commands, and the replies it must get.
fn script() -> (Vec<u8>, Vec<Reply>) {
    let binary: &[u8] = b"bin\r\n\0\xff$*";
    let steps: Vec<(Vec<&[u8]>, Reply)> = vec![
        (vec![b"PING"], Reply::Simple("PONG".into())),
        (vec![b"ECHO", b"hi"], bulk("hi")),
        (vec![b"SET", b"k", binary], ok()),
        (vec![b"GET", b"k"], Reply::Bulk(Some(binary.to_vec()))),
        (vec![b"GET", b"missing"], Reply::Bulk(None)),
        (vec![b"SET", b"k", b"x", b"NX"], Reply::Bulk(None)),
        (
            vec![b"SET", b"k", b"y", b"XX", b"GET"],
            Reply::Bulk(Some(binary.to_vec())),
        ),
        (vec![b"INCR", b"n"], Reply::Int(1)),
        (vec![b"INCRBY", b"n", b"41"], Reply::Int(42)),
        (vec![b"DECR", b"n"], Reply::Int(41)),
        (vec![b"MSET", b"a", b"1", b"b", b"2"], ok()),
        (
            vec![b"MGET", b"a", b"b", b"zz"],
            Reply::Array(vec![bulk("1"), bulk("2"), Reply::Bulk(None)]),
        ),
        (vec![b"EXISTS", b"a", b"a", b"zz"], Reply::Int(2)),
        (vec![b"DEL", b"a", b"zz"], Reply::Int(1)),
        (vec![b"TTL", b"b"], Reply::Int(-1)),
        (vec![b"EXPIRE", b"b", b"100"], Reply::Int(1)),
        (vec![b"TTL", b"b"], Reply::Int(100)),
        (vec![b"PERSIST", b"b"], Reply::Int(1)),
        (vec![b"TTL", b"zz"], Reply::Int(-2)),
        (
            vec![b"GET"],
            Reply::Error("ERR wrong number of arguments for 'get' command".into()),
        ),
        (
            vec![b"nosuch", b"a\r\nb"],
            Reply::Error("ERR unknown command 'nosuch', with args beginning with: 'a  b' ".into()),
        ),
        (
            vec![b"SET", b"k", b"v", b"EX", b"0"],
            Reply::Error("ERR invalid expire time in 'set' command".into()),
        ),
        (
            vec![b"SET", b"k", b"v", b"BOGUS"],
            Reply::Error("ERR syntax error".into()),
        ),
        (
            vec![b"SET", b"k", b"v", b"PX", b"9223372036854775807"],
            Reply::Error("ERR invalid expire time in 'set' command".into()),
        ),
        (
            vec![b"PEXPIRE", b"k", b"9223372036854775807"],
            Reply::Error("ERR invalid expire time in 'pexpire' command".into()),
        ),
        (
            vec![b"SET", b"k", b"v", b"EX", b"92233720368547758"],
            Reply::Error("ERR invalid expire time in 'set' command".into()),
        ),
        (vec![b"DBSIZE"], Reply::Int(3)),
        (vec![b"GET", b"k"], bulk("y")),
    ];
    let mut bytes = Vec::new();
    let mut replies = Vec::new();
    for (args, reply) in steps {
        bytes.extend_from_slice(&resp(&args));
        replies.push(reply);
    }
    // The inline form too, as redis-benchmark sends PING.
    bytes.extend_from_slice(b"PING\r\n  ECHO   inline  \r\n\r\nGET n\n");
    replies.extend([Reply::Simple("PONG".into()), bulk("inline"), bulk("41")]);
    (bytes, replies)
}

#[test]
fn resp_pipelining_in_one_write() {
    let server = start(&[]);
    let (bytes, replies) = script();
    let mut c = Client::connect(&server);
    c.send(&bytes);
    let got: Vec<Reply> = replies.iter().map(|_| c.reply()).collect();
    assert_eq!(got, replies);
    // Many more than a chunk's worth in one write.
    let mut many = Vec::new();
    for i in 0..20_000 {
        many.extend_from_slice(&resp(&[b"SET", format!("key:{i}").as_bytes(), b"v"]));
    }
    many.extend_from_slice(&resp(&[b"DBSIZE"]));
    c.send(&many);
    for _ in 0..20_000 {
        assert_eq!(c.reply(), ok());
    }
    assert_eq!(c.reply(), Reply::Int(20_000 + 3));
}

#[test]
fn resp_split_byte_by_byte() {
    let server = start(&[]);
    let (bytes, replies) = script();
    let mut c = Client::connect(&server);
    for (i, b) in bytes.iter().enumerate() {
        c.send(&[*b]);
        // Let most bytes arrive as chunks of their own.
        if i % 3 == 0 {
            std::thread::sleep(Duration::from_micros(300));
        }
    }
    let got: Vec<Reply> = replies.iter().map(|_| c.reply()).collect();
    assert_eq!(got, replies);
    // A large value cut into odd pieces.
    let value = util::random_bytes(300_000, 7);
    let request = resp(&[b"SET", b"big", &value]);
    for piece in request.chunks(7_919) {
        c.send(piece);
    }
    assert_eq!(c.reply(), ok());
    assert_eq!(c.call(&["GET", "big"]), Reply::Bulk(Some(value)));
}

#[test]
fn wrong_commands_get_errors_and_the_connection_stays() {
    let server = start(&[]);
    let mut c = Client::connect(&server);
    for bad in [
        vec!["INCR"],
        vec!["SET", "only-key"],
        vec!["MSET", "a", "1", "b"],
        vec!["EXPIRE", "k", "soon"],
        vec!["SELECT", "3"],
        vec!["FOO"],
    ] {
        assert!(matches!(c.call(&bad), Reply::Error(_)), "{bad:?}");
    }
    assert_eq!(c.call(&["SET", "n", "9223372036854775807"]), ok());
    assert_eq!(
        c.call(&["INCR", "n"]),
        Reply::Error("ERR increment or decrement would overflow".into())
    );
    assert_eq!(c.call(&["PING"]), Reply::Simple("PONG".into()));
}

#[test]
fn protocol_errors_reply_then_close_that_connection_only() {
    let server = start(&[]);
    let mut bystander = Client::connect(&server);
    assert_eq!(bystander.call(&["SET", "still", "here"]), ok());
    let cases: [(&[u8], &str); 6] = [
        (b"*1\r\n$x\r\nPING\r\n", "invalid bulk length"),
        (b"*abc\r\n", "invalid multibulk length"),
        (b"*1\r\nPING\r\n", "expected '$', got 'P'"),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$600000000\r\n",
            "invalid bulk length",
        ),
        (b"*2000000\r\n", "invalid multibulk length"),
        (b"*1\r\n$4\r\nPINGxx", "expected CRLF after a bulk string"),
    ];
    for (input, why) in cases {
        let mut c = Client::connect(&server);
        // A good command first, in the same write: answered.
        let mut bytes = resp(&[b"PING"]);
        bytes.extend_from_slice(input);
        c.send(&bytes);
        assert_eq!(c.reply(), Reply::Simple("PONG".into()));
        assert_eq!(
            c.reply(),
            Reply::Error(format!("ERR Protocol error: {why}")),
            "{:?}",
            String::from_utf8_lossy(input)
        );
        c.expect_closed();
    }
    assert_eq!(bystander.call(&["GET", "still"]), bulk("here"));
}

#[test]
fn unfinished_request_over_the_limit_closes() {
    let server = start(&["--max-pending", "1024"]);
    // A bulk announcing more than the limit fails at its header.
    let mut c = Client::connect(&server);
    c.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000\r\n");
    assert_eq!(
        c.reply(),
        Reply::Error(
            "ERR Protocol error: request too big: frame of 2029 bytes exceeds the maximum of 1024"
                .into()
        )
    );
    c.expect_closed();
    // Bytes without an end.
    let mut c = Client::connect(&server);
    c.send(&[b'a'; 1500]);
    match c.reply() {
        Reply::Error(e) => assert!(
            e.starts_with("ERR Protocol error: request too big: unfinished frame of"),
            "{e}"
        ),
        other => panic!("{other:?}"),
    }
    c.expect_closed();
    // The limit is on what is held: complete requests far over it in one
    // write, and a value of 900 bytes cut in two, are fine.
    let mut c = Client::connect(&server);
    let mut many = Vec::new();
    for _ in 0..500 {
        many.extend_from_slice(&resp(&[b"PING"]));
    }
    c.send(&many);
    for _ in 0..500 {
        assert_eq!(c.reply(), Reply::Simple("PONG".into()));
    }
    let request = resp(&[b"SET", b"k", &[b'v'; 900]]);
    c.send(&request[..500]);
    std::thread::sleep(Duration::from_millis(50));
    c.send(&request[500..]);
    assert_eq!(c.reply(), ok());
}

#[test]
fn keys_expire_on_nodenet_timers() {
    let server = start(&[]);
    let mut c = Client::connect(&server);
    assert_eq!(c.call(&["SET", "px", "v", "PX", "150"]), ok());
    assert_eq!(c.call(&["SET", "ex", "v", "EX", "1"]), ok());
    assert_eq!(c.call(&["SET", "kept", "v", "PX", "100"]), ok());
    assert_eq!(c.call(&["PERSIST", "kept"]), Reply::Int(1));
    assert_eq!(c.call(&["SET", "later", "v"]), ok());
    assert_eq!(c.call(&["PEXPIRE", "later", "200"]), Reply::Int(1));
    assert_eq!(c.call(&["GET", "px"]), bulk("v"));
    match c.call(&["PTTL", "px"]) {
        Reply::Int(ms) => assert!((1..=150).contains(&ms), "{ms}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.call(&["DBSIZE"]), Reply::Int(4));
    std::thread::sleep(Duration::from_millis(1400));
    // DBSIZE looks at no key: the timers removed them.
    assert_eq!(c.call(&["DBSIZE"]), Reply::Int(1));
    assert_eq!(c.call(&["GET", "px"]), Reply::Bulk(None));
    assert_eq!(c.call(&["TTL", "ex"]), Reply::Int(-2));
    assert_eq!(c.call(&["GET", "kept"]), bulk("v"));
    assert_eq!(c.call(&["TTL", "kept"]), Reply::Int(-1));
    // An overwrite drops the old expiry; KEEPTTL keeps it.
    assert_eq!(c.call(&["SET", "a", "1", "PX", "100"]), ok());
    assert_eq!(c.call(&["SET", "a", "2"]), ok());
    assert_eq!(c.call(&["SET", "b", "1", "PX", "100"]), ok());
    assert_eq!(c.call(&["SET", "b", "2", "KEEPTTL"]), ok());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.call(&["GET", "a"]), bulk("2"));
    assert_eq!(c.call(&["GET", "b"]), Reply::Bulk(None));
}

fn message(channel: &str, payload: &str) -> Reply {
    Reply::Array(vec![bulk("message"), bulk(channel), bulk(payload)])
}

fn confirmation(kind: &str, channel: Option<&str>, count: i64) -> Reply {
    Reply::Array(vec![
        bulk(kind),
        channel.map_or(Reply::Bulk(None), bulk),
        Reply::Int(count),
    ])
}

#[test]
fn publish_subscribe_unsubscribe() {
    let server = start(&[]);
    let mut sub = Client::connect(&server);
    let mut publisher = Client::connect(&server);
    sub.send(&resp(&[b"SUBSCRIBE", b"a", b"b"]));
    assert_eq!(sub.reply(), confirmation("subscribe", Some("a"), 1));
    assert_eq!(sub.reply(), confirmation("subscribe", Some("b"), 2));
    // Subscribed: only the pub/sub commands and PING.
    assert_eq!(
        sub.call(&["GET", "x"]),
        Reply::Error(
            "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
                .into()
        )
    );
    assert_eq!(
        sub.call(&["PING"]),
        Reply::Array(vec![bulk("pong"), bulk("")])
    );
    // Many publishes in one write: every message, in order.
    let mut burst = Vec::new();
    for i in 0..100 {
        burst.extend_from_slice(&resp(&[b"PUBLISH", b"a", format!("m{i}").as_bytes()]));
    }
    publisher.send(&burst);
    for _ in 0..100 {
        assert_eq!(publisher.reply(), Reply::Int(1));
    }
    for i in 0..100 {
        assert_eq!(sub.reply(), message("a", &format!("m{i}")));
    }
    sub.send(&resp(&[b"UNSUBSCRIBE", b"a"]));
    assert_eq!(sub.reply(), confirmation("unsubscribe", Some("a"), 1));
    assert_eq!(publisher.call(&["PUBLISH", "a", "x"]), Reply::Int(0));
    assert_eq!(publisher.call(&["PUBLISH", "b", "y"]), Reply::Int(1));
    assert_eq!(sub.reply(), message("b", "y"));
    sub.send(&resp(&[b"UNSUBSCRIBE"]));
    assert_eq!(sub.reply(), confirmation("unsubscribe", Some("b"), 0));
    // Back to normal commands.
    assert_eq!(sub.call(&["GET", "x"]), Reply::Bulk(None));
    assert_eq!(
        sub.call(&["UNSUBSCRIBE"]),
        confirmation("unsubscribe", None, 0)
    );
    assert_eq!(sub.call(&["QUIT"]), ok());
    sub.expect_closed();
}

#[test]
fn subscriber_that_does_not_read_is_disconnected_and_publishers_go_on() {
    let server = start(&["--pubsub-limit", "1048576"]);
    let mut sub = Client::connect(&server);
    assert_eq!(
        sub.call(&["SUBSCRIBE", "firehose"]),
        confirmation("subscribe", Some("firehose"), 1)
    );
    let mut publisher = Client::connect(&server);
    let payload = "x".repeat(64 * 1024);
    let mut published = 0;
    loop {
        match publisher.call(&["PUBLISH", "firehose", &payload]) {
            Reply::Int(1) => published += 1,
            Reply::Int(0) => break,
            other => panic!("{other:?}"),
        }
        assert!(
            published < 2000,
            "the subscriber was never cut off ({published} messages of 64 KiB)"
        );
    }
    eprintln!("cut off after {published} messages");
    assert!(published > 10, "cut off after only {published} messages");
    // The server holds no more than about the limit for it meanwhile, and
    // goes on serving.
    assert!(server.rss_kib() < 64 * 1024, "{} KiB", server.rss_kib());
    assert_eq!(publisher.call(&["PING"]), Reply::Simple("PONG".into()));
    // The subscriber gets what was sent before the cut, then the end.
    let mut received = Vec::new();
    let _ = sub.reader.read_to_end(&mut received);
    assert!(received.len() < published * (payload.len() + 64));
}

#[test]
fn client_that_does_not_read_its_replies_is_paused() {
    let server = start(&[]);
    let mut c = Client::connect(&server);
    let value = util::random_bytes(1 << 20, 11);
    c.send(&resp(&[b"SET", b"big", &value]));
    assert_eq!(c.reply(), ok());
    let before = server.rss_kib();
    // 20 MiB of replies asked for, then 40 MB more of requests, none of
    // the replies read for a while: the server stops executing when its
    // write queue is full, and stops reading when it has stopped executing.
    let mut writer = c.reader.get_ref().try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        for _ in 0..20 {
            writer.write_all(&resp(&[b"GET", b"big"])).unwrap();
        }
        let filler = vec![b'f'; 100_000];
        for _ in 0..400 {
            writer
                .write_all(&resp(&[b"SET", b"filler", &filler]))
                .unwrap();
        }
    });
    let deadline = Instant::now() + Duration::from_secs(2);
    while !sender.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let held = server.rss_kib().saturating_sub(before);
    assert!(held < 16 * 1024, "the server holds {held} KiB");
    assert!(!sender.is_finished(), "the server read every request");
    // Every reply comes once the client reads.
    for _ in 0..20 {
        assert_eq!(c.reply(), Reply::Bulk(Some(value.clone())));
    }
    for _ in 0..400 {
        assert_eq!(c.reply(), ok());
    }
    sender.join().unwrap();
    assert_eq!(c.call(&["PING"]), Reply::Simple("PONG".into()));
}

#[test]
fn commands_sent_before_the_fin_are_answered() {
    let server = start(&[]);
    let mut c = Client::connect(&server);
    let mut bytes = resp(&[b"SET", b"k", b"v"]);
    bytes.extend_from_slice(&resp(&[b"GET", b"k"]));
    c.send(&bytes);
    c.reader
        .get_ref()
        .shutdown(std::net::Shutdown::Write)
        .unwrap();
    assert_eq!(c.reply(), ok());
    assert_eq!(c.reply(), bulk("v"));
    c.expect_closed();
}

#[test]
fn mini_redis_keeps_serving_after_resets() {
    let mut server = start(&[]);
    let mut partial = resp(&[b"SET", b"k", &[b'v'; 5000]]);
    partial.truncate(3000);
    server.reset_clients_mid_stream(&partial);
    let mut c = Client::connect(&server);
    assert_eq!(c.call(&["PING"]), Reply::Simple("PONG".into()));
}

/// Random bytes mixed with pieces of RESP.
fn garbage(seed: u64, pieces: &[&[u8]]) -> Vec<u8> {
    let noise = util::random_bytes(4096, seed);
    let mut out = Vec::new();
    for (i, &b) in noise.iter().enumerate().take(400) {
        match b % 4 {
            0 => out.extend_from_slice(pieces[(b as usize / 4) % pieces.len()]),
            1 => out.extend_from_slice(&noise[i..i + (b as usize % 8)]),
            _ => out.extend_from_slice(format!("{}", b as i32 - 100).as_bytes()),
        }
    }
    out
}

/// Sends each seed's garbage on a connection of its own, then checks that
/// the server is still up and answering.
fn still_serves_after(
    mut server: ExampleServer,
    seeds: std::ops::RangeInclusive<u64>,
    pieces: &[&[u8]],
) {
    for seed in seeds {
        let mut c = server.connect();
        let _ = c.write_all(&garbage(seed, pieces));
        let _ = c.shutdown(std::net::Shutdown::Write);
        let mut sink = Vec::new();
        let _ = c.read_to_end(&mut sink);
    }
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server exited"
    );
    let mut c = Client::connect(&server);
    assert_eq!(c.call(&["PING"]), Reply::Simple("PONG".into()));
}

#[test]
fn random_input_never_stops_the_server() {
    let server = start(&["--max-pending", "65536"]);
    let pieces: [&[u8]; 12] = [
        b"*",
        b"$",
        b"\r\n",
        b"\n",
        b"-1",
        b"*3\r\n",
        b"$3\r\nSET\r\n",
        b"SUBSCRIBE a\r\n",
        b"PUBLISH a b\r\n",
        b"$0\r\n\r\n",
        b"INCR n\r\n",
        b"SET k v PX 1\r\n",
    ];
    still_serves_after(server, 1..=60, &pieces);
}

#[test]
fn malformed_headers_and_bulk_lengths_never_stop_the_server() {
    let server = start(&[]);
    // Counts and lengths out of range, a bulk longer than announced, an
    // empty and a negative multibulk, between valid requests: the
    // in-place parser sees every cut and every mix of them.
    let pieces: [&[u8]; 10] = [
        b"*1\r\n",
        b"*0\r\n",
        b"*-1\r\n",
        b"$3\r\nGET\r\n",
        b"$99999999999\r\n",
        b"$-5\r\n",
        b"*12345678901234567890\r\n",
        b"$2\r\nxyz\r\n",
        b"PING\r\n",
        b"*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n",
    ];
    still_serves_after(server, 100..=160, &pieces);
}

#[test]
fn integers_are_read_as_redis_reads_them() {
    let server = start(&[]);
    let mut c = Client::connect(&server);
    let not_int = Reply::Error("ERR value is not an integer or out of range".into());
    for (by, expect) in [
        ("9223372036854775807", Reply::Int(i64::MAX)),
        ("9223372036854775808", not_int.clone()),
        ("+1", not_int.clone()),
        ("1 ", not_int.clone()),
        ("", not_int.clone()),
        ("-", not_int.clone()),
    ] {
        assert_eq!(c.call(&["INCRBY", "n", by]), expect, "INCRBY n {by:?}");
    }
    assert_eq!(c.call(&["SET", "n", "-9223372036854775808"]), ok());
    assert_eq!(c.call(&["INCRBY", "n", "0"]), Reply::Int(i64::MIN));
    assert_eq!(
        c.call(&["DECR", "n"]),
        Reply::Error("ERR increment or decrement would overflow".into())
    );
    // Ten arguments: more than the parser keeps inline.
    let mut mset = vec!["MSET"];
    let pairs = ["a", "1", "b", "2", "c", "3", "d", "4", "e", "5"];
    mset.extend_from_slice(&pairs);
    assert_eq!(c.call(&mset), ok());
    assert_eq!(
        c.call(&["MGET", "a", "e", "zz"]),
        Reply::Array(vec![bulk("1"), bulk("5"), Reply::Bulk(None)])
    );
}
