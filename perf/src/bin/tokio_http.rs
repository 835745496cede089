//! "Hello, World!" over HTTP/1.1 on tokio, hand-written as a tokio user
//! would write a small keep-alive responder: a `current_thread` runtime, a
//! task per connection, a `BytesMut` read buffer, every request head
//! complete in it answered, and the responses to everything one read
//! brought batched into one `write_all`. The same status line, headers and
//! body as `examples/http_hello`.
//!
//! ```text
//! tokio_http [--host H] [--port P]
//! tokio_http --path P
//! ```
//!
//! Prints `listening on HOST:PORT` once listening (`listening on P` with
//! `--path P`, a Unix socket). Keep-alive (HTTP/1.1 by default, HTTP/1.0
//! with `Connection: keep-alive`), pipelining, `Content-Length` request
//! bodies read and discarded, HEAD. A malformed head, a head over 16 KiB or
//! a `Transfer-Encoding` body (not supported here) get 400 and the
//! connection is closed.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Buf, BytesMut};
use nodenet_perf::{announce_listening, announce_listening_path, Flags};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};

const BODY: &str = "Hello, World!";
/// `BODY.len()` as the `Content-Length` header says it (as in
/// `examples/http_hello`).
const BODY_LEN: &str = "13";
const _: () = assert!(BODY.len() == 13, "BODY_LEN must follow BODY");
const READ_ROOM: usize = 16 * 1024;
const MAX_HEAD: usize = 16 * 1024;

fn main() {
    let flags = Flags::from_env(&[]).unwrap_or_else(|e| {
        eprintln!("tokio_http: {e}\nusage: tokio_http [--host H] [--port P] | --path P");
        std::process::exit(2)
    });
    let host = flags.str("host", "127.0.0.1");
    let port: u16 = flags.get("port", 8080).unwrap_or_else(|e| {
        eprintln!("tokio_http: {e}");
        std::process::exit(2)
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("tokio_http: runtime: {e}");
            std::process::exit(1)
        });
    let served = if flags.has("path") {
        rt.block_on(serve_path(flags.str("path", "")))
    } else {
        rt.block_on(serve(host, port))
    };
    if let Err(e) = served {
        eprintln!("tokio_http: {e}");
        std::process::exit(1);
    }
}

async fn serve(host: String, port: u16) -> std::io::Result<()> {
    let listener = TcpListener::bind((host.as_str(), port)).await?;
    announce_listening(&host, listener.local_addr()?.port());
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection(stream));
            }
            Err(e) => {
                eprintln!("tokio_http: accept: {e}");
                tokio::task::yield_now().await;
            }
        }
    }
}

async fn serve_path(path: String) -> std::io::Result<()> {
    let listener = UnixListener::bind(&path)?;
    announce_listening_path(&path);
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(connection(stream));
            }
            Err(e) => {
                eprintln!("tokio_http: accept: {e}");
                tokio::task::yield_now().await;
            }
        }
    }
}

#[derive(Debug, PartialEq)]
struct Request {
    keep_alive: bool,
    head_only: bool,
    body_length: u64,
}

/// One connection's task: read, answer every complete request in the
/// buffer into `out`, write `out` with one `write_all`.
async fn connection<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let mut buf = BytesMut::with_capacity(READ_ROOM);
    let mut out: Vec<u8> = Vec::with_capacity(READ_ROOM);
    // Bytes of the current request's body still to discard.
    let mut body_left: u64 = 0;
    loop {
        if buf.capacity() - buf.len() < READ_ROOM / 4 {
            buf.reserve(READ_ROOM);
        }
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let date = http_date(SystemTime::now());
        let mut closing = false;
        loop {
            if body_left > 0 {
                let take = body_left.min(buf.len() as u64);
                buf.advance(take as usize);
                body_left -= take;
                if body_left > 0 {
                    break;
                }
            }
            // Empty lines before a request line are ignored.
            while buf.starts_with(b"\r\n") {
                buf.advance(2);
            }
            let Some(end) = find_head_end(&buf) else {
                if buf.len() > MAX_HEAD {
                    refuse(&mut out, "request head too large", &date);
                    closing = true;
                }
                break;
            };
            match parse_head(&buf[..end]) {
                Ok(request) => {
                    buf.advance(end + 4);
                    body_left = request.body_length;
                    respond(&mut out, &request, &date);
                    if !request.keep_alive {
                        closing = true;
                        break;
                    }
                }
                Err(why) => {
                    refuse(&mut out, why, &date);
                    closing = true;
                    break;
                }
            }
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        if closing {
            break;
        }
    }
    let _ = stream.shutdown().await;
}

/// The index of the `\r\n\r\n` ending the head at the start of `buf`.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(off) = buf[from..].iter().position(|&b| b == b'\r') {
        let at = from + off;
        if buf.len() < at + 4 {
            return None;
        }
        if &buf[at..at + 4] == b"\r\n\r\n" {
            return Some(at);
        }
        from = at + 1;
    }
    None
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

fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| trim(t).eq_ignore_ascii_case(token))
}

/// The lines of a head (without its final `\r\n\r\n`), split at `\r\n`.
struct CrlfLines<'a>(&'a [u8]);

impl<'a> Iterator for CrlfLines<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.0.is_empty() {
            return None;
        }
        match self.0.windows(2).position(|w| w == b"\r\n") {
            Some(i) => {
                let line = &self.0[..i];
                self.0 = &self.0[i + 2..];
                Some(line)
            }
            None => Some(std::mem::take(&mut self.0)),
        }
    }
}

/// A request head without its final `\r\n\r\n`.
fn parse_head(head: &[u8]) -> Result<Request, &'static str> {
    let mut lines = CrlfLines(head).map(|l| match l.contains(&b'\n') {
        true => None,
        false => Some(l),
    });
    let request_line = lines.next().flatten().ok_or("bare LF")?;
    let mut parts = request_line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("malformed request line");
    };
    if method.is_empty() || target.is_empty() {
        return Err("malformed request line");
    }
    let http11 = match version {
        b"HTTP/1.1" => true,
        b"HTTP/1.0" => false,
        _ => return Err("unsupported HTTP version"),
    };
    let (mut hosts, mut body_length) = (0, 0u64);
    let (mut close, mut keep_alive) = (false, false);
    for line in lines {
        let line = line.ok_or("bare LF")?;
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .filter(|&c| c > 0)
            .ok_or("header without ':'")?;
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case(b"content-length") {
            if value.is_empty() || value.len() > 15 || !value.iter().all(u8::is_ascii_digit) {
                return Err("bad Content-Length");
            }
            body_length = value.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0'));
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return Err("Transfer-Encoding not supported");
        } else if name.eq_ignore_ascii_case(b"connection") {
            close |= has_token(value, b"close");
            keep_alive |= has_token(value, b"keep-alive");
        }
    }
    if http11 && hosts != 1 {
        return Err(if hosts == 0 { "no Host" } else { "two Hosts" });
    }
    Ok(Request {
        keep_alive: !close && (http11 || keep_alive),
        head_only: method == b"HEAD",
        body_length,
    })
}

fn respond(out: &mut Vec<u8>, request: &Request, date: &str) {
    let connection = if request.keep_alive {
        "keep-alive"
    } else {
        "close"
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

fn refuse(out: &mut Vec<u8>, why: &str, date: &str) {
    out.extend_from_slice(
        format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
             Date: {date}\r\nConnection: close\r\n\r\n{why}\n",
            why.len() + 1
        )
        .as_bytes(),
    );
}

/// An IMF-fixdate (`Date:`), as `examples/http_hello` makes it.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads() {
        let r = parse_head(b"GET / HTTP/1.1\r\nHost: a").unwrap();
        assert_eq!(
            r,
            Request {
                keep_alive: true,
                head_only: false,
                body_length: 0
            }
        );
        let r =
            parse_head(b"HEAD / HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 5").unwrap();
        assert!(r.keep_alive && r.head_only && r.body_length == 5);
        assert!(
            !parse_head(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close")
                .unwrap()
                .keep_alive
        );
        assert!(parse_head(b"GET / HTTP/1.1").is_err());
        assert!(parse_head(b"GET /\r\nHost: a").is_err());
        assert!(parse_head(b"GET / HTTP/1.1\nHost: a").is_err());
        assert_eq!(
            find_head_end(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nX"),
            Some(23)
        );
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nHost: a\r\n\r"), None);
    }

    #[test]
    fn dates() {
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        let t = UNIX_EPOCH + std::time::Duration::from_secs(784_111_777);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}
