//! "Hello, World!" over HTTP/1.1, written as a Node `net` user would write
//! it: a `'data'` listener, a parser, `write()`, `end()`. Not an HTTP
//! framework: every request gets the same answer.
//!
//! ```text
//! cargo run --release --example http_hello -- [--host H] [--port P]
//!     [--timeout S] [--max-header-size BYTES] [--write-per-reply]
//!     [--tls-cert FILE --tls-key FILE]   # HTTPS, with the `tls` feature
//! ```
//!
//! Prints `listening on HOST:PORT` once listening (`--port 0` picks a free
//! port; the default is 8080). Then `curl http://127.0.0.1:8080/`.
//!
//! What it does with HTTP/1.1:
//!
//! - **Keep-alive** by default in HTTP/1.1; HTTP/1.0 only with
//!   `Connection: keep-alive`. `Connection: close` (or HTTP/1.0 without
//!   keep-alive) is answered with `Connection: close`, then the connection
//!   is ended.
//! - **Pipelining**: requests are parsed from a [`Framed`] per connection,
//!   so several in one chunk and one cut anywhere across chunks are the
//!   same; the responses to everything complete in a chunk go out in one
//!   `write()`, in order.
//! - **Request bodies** (`Content-Length`, or `Transfer-Encoding: chunked`
//!   with chunk extensions and trailers) are read and discarded as they
//!   arrive: the parser consumes them without keeping them, so a body of
//!   any size costs no memory. `Expect: 100-continue` gets
//!   `100 Continue` first.
//! - **400 Bad Request**, then the connection is ended, for a malformed
//!   request line or header, an HTTP/1.1 request without `Host` (or with
//!   two), both `Content-Length` and `Transfer-Encoding`, a
//!   `Transfer-Encoding` whose last coding is not `chunked`, conflicting
//!   `Content-Length`s, a bad chunk size, bare `\n` line ends, a version
//!   other than 1.0 and 1.1 — as nginx and Node answer them.
//! - **431 Request Header Fields Too Large** for a request head over
//!   `--max-header-size` (default 16 KiB, Node's `maxHeaderSize`): while a
//!   head is incomplete that is `Framed`'s limit on what it holds, so a head
//!   is never buffered beyond it; a head that arrives whole in one chunk is
//!   measured by the parser.
//! - **An idle timeout** (`--timeout S`, default 5 s, Node's
//!   `keepAliveTimeout`): a connection with no traffic for that long is
//!   destroyed.
//! - **Backpressure**: when `write()` returns `false` (a client that
//!   pipelines without reading) the connection is paused until `'drain'`,
//!   and the requests already received wait, parsed, in its `Framed`.
//!
//! [`Framed`]: nodenet::framing::Framed

use std::io::Write;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use nodenet::framing::{BytesMut, Framed, Parse, ParseBuf};
use nodenet::{tcp, Error, ServerOptions, Socket};

const BODY: &str = "Hello, World!";
/// `BODY.len()` as the `Content-Length` header says it.
const BODY_LEN: &str = "13";
const _: () = assert!(BODY.len() == 13, "BODY_LEN must follow BODY");
/// Responses are written once they reach this much, even mid-chunk, so that
/// backpressure is looked at between batches.
const BATCH: usize = 64 * 1024;

/// Replies gathered before a `write()`: [`BATCH`], or 1 with
/// `--write-per-reply` (a straight port of Node code that answers each
/// request with its own `write()`; nodenet batches those writes itself).
static WRITE_AFTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(BATCH);

fn write_after() -> usize {
    WRITE_AFTER.load(std::sync::atomic::Ordering::Relaxed)
}
/// The longest chunk-size or trailer line accepted.
const MAX_LINE: usize = 4096;

#[derive(Debug, Clone)]
struct Config {
    timeout_s: u64,
    max_header_size: usize,
}

// ---------------------------------------------------------------------------
// Parsing

/// Why a request is refused; the connection ends after the answer.
#[derive(Debug)]
enum HttpError {
    /// 400, with the reason (sent as the body).
    Bad(&'static str),
    /// 431: the head went over `--max-header-size` (`Framed`'s limit).
    TooLarge,
}

impl From<Error> for HttpError {
    /// The only nodenet error a `Framed` makes: its limit.
    fn from(_: Error) -> HttpError {
        HttpError::TooLarge
    }
}

/// What the parser hands the connection.
#[derive(Debug, PartialEq)]
enum Event {
    /// The head asked for `Expect: 100-continue`: say so, the body follows.
    Continue,
    /// A request, its body read and discarded: answer it.
    Request(Request),
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Request {
    keep_alive: bool,
    /// HEAD: the same headers, no body.
    head_only: bool,
}

#[derive(Debug)]
enum State {
    /// Waiting for a request head.
    Head,
    /// Discarding a `Content-Length` body.
    Body { left: u64, request: Request },
    /// Chunked: the size line of the next chunk.
    ChunkSize { request: Request },
    /// Chunked: discarding a chunk's data.
    ChunkData { left: u64, request: Request },
    /// Chunked: the `\r\n` after a chunk's data.
    ChunkEnd { request: Request },
    /// Chunked: trailer lines, until an empty one.
    Trailers { request: Request },
}

/// The HTTP/1.x request parser: a state machine, so that a body is consumed
/// as it comes (never held) and a head is parsed once it is whole.
struct Http {
    state: State,
    /// The longest head accepted. `Framed`'s limit (the same number) bounds
    /// what is *held* while a head is incomplete; a head that arrives whole
    /// in one chunk is checked here.
    max_head: usize,
}

fn bad(why: &'static str) -> HttpError {
    HttpError::Bad(why)
}

/// Where the first `\r\n\r\n` in `buf` starts.
fn head_end(buf: &[u8]) -> Option<usize> {
    let mut from = 3;
    while from < buf.len() {
        let nl = from + buf[from..].iter().position(|&b| b == b'\n')?;
        if &buf[nl - 3..nl] == b"\r\n\r" {
            return Some(nl - 3);
        }
        from = nl + 1;
    }
    None
}

/// The index of the `\n` of the first `\r\n` in `buf`, `None` if there is
/// none yet; a bare `\n` is an error.
fn line_end(buf: &[u8]) -> Result<Option<usize>, HttpError> {
    match buf.iter().position(|&b| b == b'\n') {
        Some(i) if i > 0 && buf[i - 1] == b'\r' => Ok(Some(i)),
        Some(_) => Err(bad("bare LF")),
        None => Ok(None),
    }
}

impl Parse for Http {
    type Frame = Event;
    type Error = HttpError;

    fn parse(&mut self, buf: &mut ParseBuf) -> Result<Option<Event>, HttpError> {
        loop {
            match self.state {
                State::Head => {
                    // Empty lines before a request line are ignored (RFC
                    // 9112 §2.2: some clients send a CRLF after a body).
                    while buf.starts_with(b"\r\n") {
                        buf.advance(2);
                    }
                    if buf.is_empty() || &buf[..] == b"\r" {
                        return Ok(None);
                    }
                    let Some(end) = head_end(buf) else {
                        // Not whole yet: Framed holds it, up to the limit.
                        if buf.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r') || buf[0] == b'\n'
                        {
                            return Err(bad("bare LF"));
                        }
                        return Ok(None);
                    };
                    if end + 4 > self.max_head {
                        return Err(HttpError::TooLarge);
                    }
                    // Read in place, then dropped: nothing is kept of a head.
                    let (request, body) = parse_head(&buf[..end + 2])?;
                    buf.advance(end + 4);
                    match body {
                        Body::None => return Ok(Some(Event::Request(request.0))),
                        Body::Length(left) => {
                            self.state = State::Body {
                                left,
                                request: request.0,
                            }
                        }
                        Body::Chunked => self.state = State::ChunkSize { request: request.0 },
                    }
                    if request.1 {
                        return Ok(Some(Event::Continue));
                    }
                }
                State::Body {
                    ref mut left,
                    request,
                } => {
                    let take = (*left).min(buf.len() as u64);
                    buf.advance(take as usize);
                    *left -= take;
                    if *left > 0 {
                        return Ok(None);
                    }
                    self.state = State::Head;
                    return Ok(Some(Event::Request(request)));
                }
                State::ChunkSize { request } => {
                    let Some(nl) = line_end(buf)? else {
                        if buf.len() > MAX_LINE {
                            return Err(bad("chunk size line too long"));
                        }
                        return Ok(None);
                    };
                    let line = &buf[..nl - 1];
                    // The size, then optional extensions after ';'.
                    let digits = line.split(|&b| b == b';').next().unwrap_or(&[]);
                    let digits = trim(digits);
                    if digits.is_empty() || digits.len() > 15 {
                        return Err(bad("bad chunk size"));
                    }
                    let size = std::str::from_utf8(digits)
                        .ok()
                        .and_then(|d| u64::from_str_radix(d, 16).ok())
                        .ok_or(bad("bad chunk size"))?;
                    buf.advance(nl + 1);
                    self.state = if size == 0 {
                        State::Trailers { request }
                    } else {
                        State::ChunkData {
                            left: size,
                            request,
                        }
                    };
                }
                State::ChunkData {
                    ref mut left,
                    request,
                } => {
                    let take = (*left).min(buf.len() as u64);
                    buf.advance(take as usize);
                    *left -= take;
                    if *left > 0 {
                        return Ok(None);
                    }
                    self.state = State::ChunkEnd { request };
                }
                State::ChunkEnd { request } => {
                    if buf.len() < 2 {
                        return Ok(None);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(bad("chunk data not followed by CRLF"));
                    }
                    buf.advance(2);
                    self.state = State::ChunkSize { request };
                }
                State::Trailers { request } => {
                    let Some(nl) = line_end(buf)? else {
                        if buf.len() > MAX_LINE {
                            return Err(bad("trailer line too long"));
                        }
                        return Ok(None);
                    };
                    buf.advance(nl + 1);
                    if nl == 1 {
                        self.state = State::Head;
                        return Ok(Some(Event::Request(request)));
                    }
                    // A trailer field: discarded with the body.
                }
            }
        }
    }
}

enum Body {
    None,
    Length(u64),
    Chunked,
}

/// Byte classes, one table lookup per byte: RFC 9110's `tchar` (method
/// and header names), and what a header value may not hold (control
/// characters other than tab, and DEL).
const TCHAR: u8 = 1;
const BAD_IN_VALUE: u8 = 2;
static CLASS: [u8; 256] = {
    let mut class = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        if b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            )
        {
            class[i] |= TCHAR;
        }
        if (b < b' ' && b != b'\t') || b == 0x7f {
            class[i] |= BAD_IN_VALUE;
        }
        i += 1;
    }
    class
};

fn is_token(b: u8) -> bool {
    CLASS[b as usize] & TCHAR != 0
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Whether the comma-separated list `value` holds `token` (any case).
fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| trim(t).eq_ignore_ascii_case(token.as_bytes()))
}

/// A request head (request line and header lines, each ending `\r\n`):
/// the request, whether it expects `100 Continue`, and its body's framing.
fn parse_head(head: &[u8]) -> Result<((Request, bool), Body), HttpError> {
    // Every line ends with "\r\n", so the last piece after '\n' is empty.
    let mut lines = head
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| l.strip_suffix(b"\r"));
    let request_line = lines.next().flatten().ok_or(bad("bare LF"))?;
    let mut parts = request_line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed request line"));
    };
    if method.is_empty() || !method.iter().all(|&b| is_token(b)) {
        return Err(bad("bad method"));
    }
    if target.is_empty() || target.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return Err(bad("bad request target"));
    }
    let http11 = match version {
        b"HTTP/1.1" => true,
        b"HTTP/1.0" => false,
        _ => return Err(bad("unsupported HTTP version")),
    };

    let mut hosts = 0;
    let mut length: Option<u64> = None;
    let mut chunked = None;
    let (mut close, mut keep_alive, mut expect_continue) = (false, false, false);
    for line in lines {
        let Some(line) = line else {
            return Err(bad("bare LF"));
        };
        if line.is_empty() {
            return Err(bad("bare LF"));
        }
        if line[0] == b' ' || line[0] == b'\t' {
            return Err(bad("obsolete line folding"));
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(bad("header without ':'"))?;
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if name.is_empty() || !name.iter().all(|&b| is_token(b)) {
            return Err(bad("bad header name"));
        }
        if value.iter().any(|&b| CLASS[b as usize] & BAD_IN_VALUE != 0) {
            return Err(bad("control character in a header value"));
        }
        if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case(b"content-length") {
            if value.is_empty() || value.len() > 18 || !value.iter().all(u8::is_ascii_digit) {
                return Err(bad("bad Content-Length"));
            }
            let n: u64 = std::str::from_utf8(value).unwrap().parse().unwrap();
            if length.is_some_and(|m| m != n) {
                return Err(bad("conflicting Content-Length"));
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // The last coding must be chunked (RFC 9112 §6.3); what comes
            // before it does not matter to a body thrown away.
            let last = value.rsplit(|&b| b == b',').next().map(trim);
            chunked = Some(last.is_some_and(|c| c.eq_ignore_ascii_case(b"chunked")));
        } else if name.eq_ignore_ascii_case(b"connection") {
            close |= has_token(value, "close");
            keep_alive |= has_token(value, "keep-alive");
        } else if name.eq_ignore_ascii_case(b"expect") {
            expect_continue = http11 && value.eq_ignore_ascii_case(b"100-continue");
        }
    }
    if http11 && hosts != 1 {
        return Err(bad(if hosts == 0 { "no Host" } else { "two Hosts" }));
    }
    let body = match (chunked, length) {
        (Some(_), Some(_)) => return Err(bad("both Transfer-Encoding and Content-Length")),
        (Some(false), None) => return Err(bad("Transfer-Encoding not ending in chunked")),
        (Some(true), None) => Body::Chunked,
        (None, Some(0) | None) => Body::None,
        (None, Some(n)) => Body::Length(n),
    };
    let request = Request {
        keep_alive: !close && (http11 || keep_alive),
        head_only: method == b"HEAD",
    };
    let expect_continue = expect_continue && !matches!(body, Body::None);
    Ok(((request, expect_continue), body))
}

// ---------------------------------------------------------------------------
// Responses

/// An IMF-fixdate (`Date:`), as RFC 9110 §5.6.7 spells it.
fn http_date(now: SystemTime) -> String {
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn respond(out: &mut BytesMut, request: Request, date: &str) {
    let connection = match request.keep_alive {
        // HTTP/1.1 keeps alive without saying so; saying it is harmless
        // and tells an HTTP/1.0 client that asked for it.
        true => "keep-alive",
        false => "close",
    };
    out.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ");
    out.extend_from_slice(BODY_LEN.as_bytes());
    out.extend_from_slice(b"\r\nDate: ");
    out.extend_from_slice(date.as_bytes());
    out.extend_from_slice(b"\r\nConnection: ");
    out.extend_from_slice(connection.as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
    if !request.head_only {
        out.extend_from_slice(BODY.as_bytes());
    }
}

fn refuse(out: &mut BytesMut, err: &HttpError, date: &str) {
    let (status, why) = match err {
        HttpError::Bad(why) => ("400 Bad Request", *why),
        HttpError::TooLarge => (
            "431 Request Header Fields Too Large",
            "request head too large",
        ),
    };
    // The reason as the body: what a developer looking at the reply needs.
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nDate: {date}\r\nConnection: close\r\n\r\n{why}\n",
        why.len() + 1
    );
    out.extend_from_slice(head.as_bytes());
}

// ---------------------------------------------------------------------------
// Connections

/// One connection's state, kept with its socket (`set_data`).
struct Conn {
    framed: Framed<Http>,
    /// Responses being gathered (kept between chunks: no allocation each).
    out: BytesMut,
    /// Waiting for `'drain'`: requests stay in `framed` meanwhile.
    blocked: bool,
    /// The peer ended its side: end ours once everything is answered.
    eof: bool,
    /// The last response said `Connection: close`: our side is ended.
    closing: bool,
}

/// Answers the requests complete in the socket's `Framed`, batching the
/// responses, until they run out, the connection is to close, or the write
/// queue is full.
fn process(socket: &Socket) {
    socket.with_data(|conn: &mut Conn| {
        if conn.closing || conn.blocked {
            return;
        }
        let date = http_date(SystemTime::now());
        let out = &mut conn.out;
        while let Some(event) = conn.framed.next_frame() {
            match event {
                Ok(Event::Continue) => out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n"),
                Ok(Event::Request(request)) => {
                    respond(out, request, &date);
                    if !request.keep_alive {
                        conn.closing = true;
                        break;
                    }
                }
                Err(err) => {
                    refuse(out, &err, &date);
                    conn.closing = true;
                    break;
                }
            }
            if out.len() >= write_after() && !send(socket, out) {
                conn.blocked = true;
                socket.pause();
                break;
            }
        }
        if !out.is_empty() && !send(socket, out) && !conn.closing {
            conn.blocked = true;
            socket.pause();
        }
        if conn.closing || (conn.eof && !conn.blocked) {
            // Queued responses go first, then FIN; the socket closes when
            // the client closes too (or at the idle timeout).
            socket.end();
        }
    });
}

/// Hands the gathered responses to the socket and empties `out` for the
/// next ones: a small batch is copied into the socket's queue (the buffer
/// is reused), a large one handed over whole; a buffer grown past that is
/// let go rather than kept by an idle connection.
fn send(socket: &Socket, out: &mut BytesMut) -> bool {
    const KEEP: usize = 64 * 1024;
    let below_hwm = if out.len() <= KEEP {
        let below_hwm = socket.write(&out[..]);
        out.clear();
        below_hwm
    } else {
        socket.write(out.split())
    };
    if out.capacity() > KEEP {
        *out = BytesMut::new();
    }
    below_hwm
}

fn accept(config: &Config, socket: &Socket) {
    socket.set_data(Conn {
        framed: Framed::new(
            config.max_header_size,
            Http {
                state: State::Head,
                max_head: config.max_header_size,
            },
        ),
        out: BytesMut::new(),
        blocked: false,
        eof: false,
        closing: false,
    });
    socket
        .set_timeout(config.timeout_s * 1000)
        .on_data(|s, chunk| {
            let open = s.with_data(|conn: &mut Conn| {
                if !conn.closing {
                    conn.framed.push(chunk);
                }
                !conn.closing
            });
            if open == Some(true) {
                process(s);
            }
        })
        .on_drain(|s| {
            if s.with_data(|conn: &mut Conn| std::mem::take(&mut conn.blocked)) == Some(true) {
                s.resume();
                process(s);
            }
        })
        .on_end(|s| {
            s.with_data(|conn: &mut Conn| conn.eof = true);
            process(s);
            // Closing already: the client's FIN completes it.
            if s.with_data(|conn: &mut Conn| conn.closing) == Some(true) {
                s.end();
            }
        })
        .on_timeout(|s| {
            s.destroy();
        })
        // A client that resets costs only its own connection.
        .on_error(|_, _| {});
}

struct Args {
    host: String,
    port: u16,
    config: Config,
    /// `--tls-cert FILE --tls-key FILE`: HTTPS (the `tls` feature).
    tls: Option<(String, String)>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        host: "127.0.0.1".to_string(),
        port: 8080,
        config: Config {
            timeout_s: 5,
            max_header_size: 16 * 1024,
        },
        tls: None,
    };
    let (mut cert, mut key) = (None, None);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--write-per-reply" => {
                WRITE_AFTER.store(1, std::sync::atomic::Ordering::Relaxed);
            }
            "--tls-cert" => cert = Some(value()?),
            "--tls-key" => key = Some(value()?),
            "--host" => args.host = value()?,
            "--port" => args.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--timeout" => {
                let s: u64 = value()?.parse().map_err(|e| format!("--timeout: {e}"))?;
                args.config.timeout_s = s.max(1);
            }
            "--max-header-size" => {
                args.config.max_header_size = value()?
                    .parse()
                    .map_err(|e| format!("--max-header-size: {e}"))?
            }
            "-h" | "--help" => {
                return Err(
                    "usage: http_hello [--host H] [--port P] [--timeout SECONDS] \
                            [--max-header-size BYTES] [--write-per-reply] \
                            [--tls-cert FILE --tls-key FILE]"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    args.tls = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    if args.tls.is_some() && !cfg!(feature = "tls") {
        return Err("--tls-cert needs the tls feature: build with --features tls-aws-lc-rs".into());
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
    match serve(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("http_hello: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: Args) -> Result<(), Error> {
    let config = args.config;
    let options = ServerOptions {
        // 'end' is ours to act on: answer what was received first.
        socket: nodenet::SocketOptions {
            allow_half_open: true,
            no_delay: true,
            ..nodenet::SocketOptions::default()
        },
        ..ServerOptions::default()
    };
    let server = match &args.tls {
        // HTTPS: the same responder on the same Socket, once secure.
        #[cfg(feature = "tls")]
        Some((cert, key)) => {
            let tls_options = nodenet::tls::ServerOptions {
                net: options,
                alpn_protocols: vec![b"http/1.1".to_vec()],
                ..nodenet::tls::ServerOptions::new(nodenet::tls::SecureContextOptions::from_files(
                    cert, key,
                )?)
            };
            let server =
                nodenet::tls::create_server(tls_options, move |_, socket| accept(&config, socket))?;
            // A client that fails its handshake costs only its connection.
            server.on_tls_client_error(|_, _, _| {});
            server
        }
        _ => tcp::create_server(options, move |_, socket| accept(&config, socket)),
    };
    let host = args.host.clone();
    server.on_listening(move |srv| {
        let port = srv.address().map_or(0, |a| a.port());
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {host}:{port}");
        let _ = out.flush();
    });
    server.listen(args.port, &args.host)?;
    nodenet::run()
}
