//! examples/http_hello.rs as a child process: with the real `curl`
//! (skipped, saying so, when it is not installed, except under CI), and
//! with requests written here for pipelining, bodies, bad requests, the
//! header limit, `Connection: close` and the idle timeout.

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use util::example_server::{client_available, ExampleServer};

const HELLO: &str = "Hello, World!";

fn start(extra: &[&str]) -> ExampleServer {
    let mut args = vec!["--port", "0"];
    args.extend_from_slice(extra);
    ExampleServer::start("http_hello", &args)
}

/// A response as a test looks at it.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
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

    /// The next response; `head_only` for the answer to a HEAD.
    fn response_to(&mut self, head_only: bool) -> Response {
        let mut status_line = String::new();
        self.reader
            .read_line(&mut status_line)
            .expect("a status line");
        let mut parts = status_line.trim_end().splitn(3, ' ');
        assert_eq!(parts.next(), Some("HTTP/1.1"), "{status_line:?}");
        let status = parts.next().unwrap().parse().unwrap();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            assert!(line.ends_with("\r\n"), "{line:?}");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap();
            headers.push((name.to_string(), value.trim().to_string()));
        }
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if status != 100 && !head_only {
            let len: usize = response.header("content-length").unwrap().parse().unwrap();
            response.body = vec![0; len];
            self.reader.read_exact(&mut response.body).unwrap();
        }
        response
    }

    fn response(&mut self) -> Response {
        self.response_to(false)
    }

    fn hello(&mut self) {
        let r = self.response();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, HELLO.as_bytes());
    }

    fn expect_closed(&mut self) {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => assert!(rest.is_empty(), "more after the last response: {rest:?}"),
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
        }
    }
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")
}

// ---------------------------------------------------------------------------
// curl

#[test]
fn curl_reuses_the_connection() {
    if !client_available("curl", "curl") {
        return;
    }
    let server = start(&[]);
    let url = format!("http://127.0.0.1:{}/", server.port);
    let out = Command::new("curl")
        .args(["-sv", &url, &format!("{url}again")])
        .output()
        .expect("run curl");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), HELLO.repeat(2));
    assert!(
        stderr.contains("Re-using existing connection"),
        "curl did not reuse the connection:\n{stderr}"
    );
    assert_eq!(stderr.matches("Connected to").count(), 1, "{stderr}");
}

#[test]
fn curl_bodies_chunked_and_expect_continue() {
    if !client_available("curl", "curl") {
        return;
    }
    let server = start(&[]);
    let url = format!("http://127.0.0.1:{}/upload", server.port);
    let body = util::random_bytes(3 << 20, 5);
    for extra in [
        &["-H", "Transfer-Encoding: chunked"][..],
        &["-H", "Expect: 100-continue"][..],
        &[][..],
    ] {
        let mut child = Command::new("curl")
            .args(["-sv", "--data-binary", "@-"])
            .args(extra)
            .args([&url, &url])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let data = body.clone();
        let writer = std::thread::spawn(move || stdin.write_all(&data));
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{extra:?}: {stderr}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            HELLO.repeat(2),
            "{extra:?}"
        );
        if extra.contains(&"Expect: 100-continue") {
            assert!(stderr.contains("< HTTP/1.1 100 Continue"), "{stderr}");
        }
    }
}

// ---------------------------------------------------------------------------
// Requests written here

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = start(&[]);
    let mut c = Client::connect(&server);
    let mut batch = get("/1") + &get("/2");
    batch += "HEAD /3 HTTP/1.1\r\nHost: x\r\n\r\n";
    batch += &get("/4");
    c.send(batch.as_bytes());
    c.hello();
    c.hello();
    let head = c.response_to(true);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("13"));
    c.hello();
    // Hundreds in one write, then the connection is still usable.
    c.send(get("/many").repeat(500).as_bytes());
    for _ in 0..500 {
        c.hello();
    }
    c.send(get("/last").as_bytes());
    c.hello();
}

#[test]
fn requests_split_byte_by_byte() {
    let server = start(&[]);
    let mut c = Client::connect(&server);
    let mut requests = get("/a").into_bytes();
    requests.extend_from_slice(
        b"POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
          3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nTrailer: yes\r\n\r\n",
    );
    requests.extend_from_slice(b"POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    requests.extend_from_slice(get("/d").as_bytes());
    for (i, b) in requests.iter().enumerate() {
        c.send(&[*b]);
        if i % 3 == 0 {
            std::thread::sleep(Duration::from_micros(300));
        }
    }
    for _ in 0..4 {
        c.hello();
    }
}

#[test]
fn chunked_and_sized_bodies_are_read_and_discarded() {
    let server = start(&[]);
    let mut c = Client::connect(&server);
    // A chunked body of 4 MiB in 64 KiB chunks: nothing of it is kept
    // (the header limit is 16 KiB), and the next request follows it.
    c.send(b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
    let chunk = vec![b'z'; 64 * 1024];
    for _ in 0..64 {
        c.send(format!("{:x}\r\n", chunk.len()).as_bytes());
        c.send(&chunk);
        c.send(b"\r\n");
    }
    c.send(b"0\r\n\r\n");
    c.send(get("/after").as_bytes());
    c.hello();
    c.hello();
    // Content-Length: 8 MiB, sent in pieces.
    c.send(b"PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: 8388608\r\n\r\n");
    let piece = vec![b'y'; 1 << 20];
    for _ in 0..8 {
        c.send(&piece);
    }
    c.send(get("/after").as_bytes());
    c.hello();
    c.hello();
}

/// Sends `request` on a new connection: the response, then the server must
/// have closed.
fn refused(server: &ExampleServer, request: &[u8]) -> Response {
    let mut c = Client::connect(server);
    c.send(request);
    let r = c.response();
    assert_eq!(r.header("connection"), Some("close"), "{r:?}");
    c.expect_closed();
    r
}

#[test]
fn missing_host_is_400() {
    let server = start(&[]);
    let r = refused(&server, b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n");
    assert_eq!(r.status, 400);
    assert_eq!(r.body, b"no Host\n");
    let r = refused(&server, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    assert_eq!(r.status, 400);
    // HTTP/1.0 needs no Host; without keep-alive it closes.
    let r = refused(&server, b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, HELLO.as_bytes());
}

#[test]
fn malformed_requests_are_400() {
    let server = start(&[]);
    let cases: [&[u8]; 17] = [
        b"GET / HTTP/1.1\r\nHost: x\x01y\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX@A: a\r\n\r\n",
        b"G\x80T / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /\r\nHost: x\r\n\r\n",
        b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
        b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
        b"GET / HTTP/1.1\nHost: x\n\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ];
    for request in cases {
        let r = refused(&server, request);
        assert_eq!(r.status, 400, "{:?}", String::from_utf8_lossy(request));
    }
    // A good request before the bad one, in the same write, is answered.
    let mut c = Client::connect(&server);
    c.send(format!("{}GET / HTTP/1.1\r\n\r\n", get("/ok")).as_bytes());
    c.hello();
    assert_eq!(c.response().status, 400);
    c.expect_closed();
}

/// What the byte checks let through: every token character in a method
/// and a header name, tabs and obs-text in a value; and the `Date` header
/// is an IMF-fixdate.
#[test]
fn token_characters_tabs_and_dates_are_accepted() {
    let server = start(&[]);
    let mut c = Client::connect(&server);
    c.send(
        b"GET / HTTP/1.1\r\nHost: x\r\n!#$%&'*+-.^_`|~09AZaz: a\tb \xe9\r\n\r\n\
          HEAD / HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    c.hello();
    let r = c.response_to(true);
    assert_eq!(r.status, 200);
    let date = r.header("date").expect("a Date header");
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    let b = date.as_bytes();
    assert_eq!(b.len(), 29, "{date:?}");
    assert!(
        ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].contains(&&date[..3]),
        "{date:?}"
    );
    assert_eq!(
        (&date[3..5], b[7], b[11], &date[25..]),
        (", ", b' ', b' ', " GMT"),
        "{date:?}"
    );
    let digits = [5, 6, 12, 13, 14, 15, 17, 18, 20, 21, 23, 24];
    assert!(digits.iter().all(|&i| b[i].is_ascii_digit()), "{date:?}");
    assert_eq!((b[19], b[22]), (b':', b':'), "{date:?}");
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    assert!(months.contains(&&date[8..11]), "{date:?}");
}

#[test]
fn oversized_headers_are_431() {
    let server = start(&[]);
    // Node's default limit: 16 KiB for the head.
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let r = refused(&server, big.as_bytes());
    assert_eq!(r.status, 431);
    // The same, arriving slowly: refused once the limit is passed, before
    // the head ends.
    let mut c = Client::connect(&server);
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
    for _ in 0..20 {
        c.send(&[b'a'; 1000]);
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(c.response().status, 431);
    c.expect_closed();
    // Just under the limit is fine.
    let mut c = Client::connect(&server);
    let fits = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(16_000)
    );
    c.send(fits.as_bytes());
    c.hello();
    // And --max-header-size sets it.
    let small = start(&["--max-header-size", "100"]);
    let r = refused(&small, fits.as_bytes());
    assert_eq!(r.status, 431);
}

#[test]
fn connection_close_is_honoured() {
    let server = start(&[]);
    let mut c = Client::connect(&server);
    // A request after the closing one is not answered.
    let batch = get("/1") + "GET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" + &get("/3");
    c.send(batch.as_bytes());
    let first = c.response();
    assert_eq!(first.header("connection"), Some("keep-alive"));
    let second = c.response();
    assert_eq!(second.status, 200);
    assert_eq!(second.header("connection"), Some("close"));
    c.expect_closed();
}

#[test]
fn http10_closes_unless_keep_alive() {
    let server = start(&[]);
    let mut c = Client::connect(&server);
    c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n");
    let first = c.response();
    assert_eq!(first.header("connection"), Some("keep-alive"));
    let second = c.response();
    assert_eq!(second.header("connection"), Some("close"));
    c.expect_closed();
}

#[test]
fn requests_sent_before_the_fin_are_answered() {
    let server = start(&[]);
    let mut c = Client::connect(&server);
    c.send((get("/1") + &get("/2")).as_bytes());
    c.reader
        .get_ref()
        .shutdown(std::net::Shutdown::Write)
        .unwrap();
    c.hello();
    c.hello();
    c.expect_closed();
}

#[test]
fn idle_connections_time_out() {
    let server = start(&["--timeout", "1"]);
    let mut c = Client::connect(&server);
    c.send(get("/").as_bytes());
    c.hello();
    let start = Instant::now();
    c.expect_closed();
    let idle = start.elapsed();
    assert!(
        idle >= Duration::from_millis(700) && idle < Duration::from_secs(4),
        "closed after {idle:?}"
    );
}

#[test]
fn client_that_does_not_read_is_paused() {
    let server = start(&[]);
    let c = Client::connect(&server);
    let before = server.rss_kib();
    // 400 000 requests (16 MB; about 50 MB of responses), none read for a
    // while.
    let mut writer = c.reader.get_ref().try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let batch = get("/").repeat(1000);
        for _ in 0..400 {
            writer.write_all(batch.as_bytes()).unwrap();
        }
    });
    // Long enough for a server that never pauses to read everything.
    let deadline = Instant::now() + Duration::from_secs(2);
    while !sender.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let held = server.rss_kib().saturating_sub(before);
    assert!(held < 3 * 1024, "the server holds {held} KiB");
    // The server stopped reading, so the client cannot send everything.
    assert!(!sender.is_finished(), "the server read every request");
    let mut c = c;
    for _ in 0..400_000 {
        c.hello();
    }
    sender.join().unwrap();
}

#[test]
fn http_hello_keeps_serving_after_resets() {
    let mut server = start(&[]);
    server.reset_clients_mid_stream(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\npartial body",
    );
    let mut c = Client::connect(&server);
    c.send(get("/").as_bytes());
    c.hello();
}

#[test]
fn random_input_never_stops_the_server() {
    let server = start(&[]);
    let pieces: [&str; 12] = [
        "GET / HTTP/1.1\r\n",
        "Host: x\r\n",
        "\r\n",
        "\n",
        "Content-Length: 5\r\n",
        "Transfer-Encoding: chunked\r\n",
        "ffffffffffffffff\r\n",
        "0\r\n",
        ":",
        " ",
        "Connection: close\r\n",
        "Expect: 100-continue\r\n",
    ];
    for seed in 1..=60 {
        let noise = util::random_bytes(4096, seed);
        let mut bytes = Vec::new();
        for (i, &b) in noise.iter().enumerate().take(400) {
            match b % 3 {
                0 => bytes.extend_from_slice(noise[i..i + (b as usize % 6)].as_ref()),
                _ => bytes.extend_from_slice(pieces[(b as usize / 3) % pieces.len()].as_bytes()),
            }
        }
        let mut c = server.connect();
        let _ = c.write_all(&bytes);
        let _ = c.shutdown(std::net::Shutdown::Write);
        let mut sink = Vec::new();
        let _ = c.read_to_end(&mut sink);
    }
    let mut server = server;
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server exited"
    );
    let mut c = Client::connect(&server);
    c.send(get("/").as_bytes());
    c.hello();
}
