//! A hand-written RESP2 server on tokio, as a tokio user would write a small
//! Redis: a `current_thread` runtime, a task per connection, a `BytesMut`
//! read buffer, whole frames parsed out of it, and the replies to
//! everything one read brought batched into one `write_all`.
//!
//! ```text
//! tokio_redis [--host H] [--port P]
//! tokio_redis --path P
//! ```
//!
//! Prints `listening on HOST:PORT` once listening (`listening on P` with
//! `--path P`, a Unix socket). Commands: `PING`, `ECHO`, `SET key value`,
//! `GET`, `DEL`, `CONFIG GET` (the parameters redis-benchmark asks for),
//! `COMMAND` (an empty list; `COMMAND COUNT`); RESP arrays of bulk strings
//! and the inline form (`PING\r\n`). A protocol error gets
//! `-ERR Protocol error: ...` and the connection is closed, as Redis does.
//!
//! The database is an `Rc<RefCell<HashMap>>` shared by the tasks of one
//! thread (`LocalSet`): no locks, like nodenet's and Node's.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Range;
use std::rc::Rc;

use bytes::{Buf, BytesMut};
use nodenet_perf::{announce_listening, announce_listening_path, Flags};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};

/// The read buffer is topped up to at least this much free room per read.
const READ_ROOM: usize = 16 * 1024;
const MAX_INLINE: usize = 64 * 1024;
const MAX_BULK: usize = 512 * 1024 * 1024;
const MAX_ARGS: usize = 1024 * 1024;
const CONFIG: [(&str, &str); 4] = [
    ("save", ""),
    ("appendonly", "no"),
    ("databases", "1"),
    ("maxmemory", "0"),
];

type Db = Rc<RefCell<HashMap<Vec<u8>, Vec<u8>>>>;

fn main() {
    let flags = Flags::from_env(&[]).unwrap_or_else(|e| {
        eprintln!("tokio_redis: {e}\nusage: tokio_redis [--host H] [--port P] | --path P");
        std::process::exit(2)
    });
    let host = flags.str("host", "127.0.0.1");
    let port: u16 = flags.get("port", 6379).unwrap_or_else(|e| {
        eprintln!("tokio_redis: {e}");
        std::process::exit(2)
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("tokio_redis: runtime: {e}");
            std::process::exit(1)
        });
    let local = tokio::task::LocalSet::new();
    let db: Db = Rc::default();
    let served = if flags.has("path") {
        local.block_on(&rt, serve_path(flags.str("path", ""), db))
    } else {
        local.block_on(&rt, serve(host, port, db))
    };
    if let Err(e) = served {
        eprintln!("tokio_redis: {e}");
        std::process::exit(1);
    }
}

async fn serve(host: String, port: u16, db: Db) -> std::io::Result<()> {
    let listener = TcpListener::bind((host.as_str(), port)).await?;
    announce_listening(&host, listener.local_addr()?.port());
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::task::spawn_local(connection(stream, db.clone()));
            }
            Err(e) => {
                eprintln!("tokio_redis: accept: {e}");
                tokio::task::yield_now().await;
            }
        }
    }
}

async fn serve_path(path: String, db: Db) -> std::io::Result<()> {
    let listener = UnixListener::bind(&path)?;
    announce_listening_path(&path);
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::task::spawn_local(connection(stream, db.clone()));
            }
            Err(e) => {
                eprintln!("tokio_redis: accept: {e}");
                tokio::task::yield_now().await;
            }
        }
    }
}

/// One connection's task: read, answer every complete request in the
/// buffer into `out`, write `out` with one `write_all`.
async fn connection<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, db: Db) {
    let mut buf = BytesMut::with_capacity(READ_ROOM);
    let mut out: Vec<u8> = Vec::with_capacity(READ_ROOM);
    let mut args: Vec<Range<usize>> = Vec::new();
    loop {
        if buf.capacity() - buf.len() < READ_ROOM / 4 {
            buf.reserve(READ_ROOM);
        }
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut failed = false;
        loop {
            match parse(&buf, &mut args) {
                Ok(Some(used)) => {
                    if !args.is_empty() {
                        execute(&buf, &args, &db, &mut out);
                    }
                    buf.advance(used);
                }
                Ok(None) => break,
                Err(why) => {
                    out.extend_from_slice(b"-ERR Protocol error: ");
                    out.extend_from_slice(why.as_bytes());
                    out.extend_from_slice(b"\r\n");
                    failed = true;
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
        if failed {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

/// The index of the `\r\n` at or after `from`.
fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(off) = buf[i..].iter().position(|&b| b == b'\r') {
        let at = i + off;
        if buf.get(at + 1) == Some(&b'\n') {
            return Some(at);
        }
        if at + 1 >= buf.len() {
            return None;
        }
        i = at + 1;
    }
    None
}

fn parse_len(digits: &[u8]) -> Option<i64> {
    let (neg, digits) = match digits {
        [b'-', rest @ ..] => (true, rest),
        d => (false, d),
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
    Some(if neg { -n } else { n })
}

/// Parses one request at the start of `buf` into `args` (ranges of `buf`):
/// `Ok(Some(bytes used))`, `Ok(None)` when it is not complete yet.
fn parse(buf: &[u8], args: &mut Vec<Range<usize>>) -> Result<Option<usize>, &'static str> {
    args.clear();
    if buf.is_empty() {
        return Ok(None);
    }
    if buf[0] != b'*' {
        return parse_inline(buf, args);
    }
    let Some(nl) = find_crlf(buf, 0) else {
        return if buf.len() > MAX_INLINE {
            Err("too big mbulk count string")
        } else {
            Ok(None)
        };
    };
    let count = match parse_len(&buf[1..nl]) {
        Some(n) if n <= MAX_ARGS as i64 => n.max(0) as usize,
        _ => return Err("invalid multibulk length"),
    };
    let mut at = nl + 2;
    for _ in 0..count {
        if at >= buf.len() {
            return Ok(None);
        }
        if buf[at] != b'$' {
            return Err("expected '$'");
        }
        let Some(end) = find_crlf(buf, at) else {
            return if buf.len() - at > MAX_INLINE {
                Err("too big bulk count string")
            } else {
                Ok(None)
            };
        };
        let len = match parse_len(&buf[at + 1..end]) {
            Some(n) if (0..=MAX_BULK as i64).contains(&n) => n as usize,
            _ => return Err("invalid bulk length"),
        };
        let start = end + 2;
        if buf.len() < start + len + 2 {
            return Ok(None);
        }
        args.push(start..start + len);
        at = start + len + 2;
    }
    Ok(Some(at))
}

/// The inline form: one line, words separated by spaces.
fn parse_inline(buf: &[u8], args: &mut Vec<Range<usize>>) -> Result<Option<usize>, &'static str> {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        return if buf.len() > MAX_INLINE {
            Err("too big inline request")
        } else {
            Ok(None)
        };
    };
    let line_end = if nl > 0 && buf[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    let mut word_start = None;
    for (i, &b) in buf[..line_end].iter().enumerate() {
        match (b == b' ', word_start) {
            (false, None) => word_start = Some(i),
            (true, Some(s)) => {
                args.push(s..i);
                word_start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = word_start {
        args.push(s..line_end);
    }
    Ok(Some(nl + 1))
}

fn bulk(out: &mut Vec<u8>, value: &[u8]) {
    out.push(b'$');
    out.extend_from_slice(value.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn wrong_arity(out: &mut Vec<u8>, name: &[u8]) {
    out.extend_from_slice(b"-ERR wrong number of arguments for '");
    out.extend(name.iter().map(u8::to_ascii_lowercase));
    out.extend_from_slice(b"' command\r\n");
}

/// Appends the reply to the command `args` (ranges of `buf`) to `out`.
fn execute(buf: &[u8], args: &[Range<usize>], db: &Db, out: &mut Vec<u8>) {
    let arg = |i: usize| &buf[args[i].clone()];
    let name = arg(0);
    let n = args.len();
    let is = |s: &str| name.eq_ignore_ascii_case(s.as_bytes());
    if is("GET") {
        if n != 2 {
            return wrong_arity(out, name);
        }
        match db.borrow().get(arg(1)) {
            Some(value) => bulk(out, value),
            None => out.extend_from_slice(b"$-1\r\n"),
        }
    } else if is("SET") {
        if n < 3 {
            return wrong_arity(out, name);
        }
        if n > 3 {
            return out.extend_from_slice(b"-ERR syntax error\r\n");
        }
        db.borrow_mut().insert(arg(1).to_vec(), arg(2).to_vec());
        out.extend_from_slice(b"+OK\r\n");
    } else if is("PING") {
        match n {
            1 => out.extend_from_slice(b"+PONG\r\n"),
            2 => bulk(out, arg(1)),
            _ => wrong_arity(out, name),
        }
    } else if is("ECHO") {
        if n != 2 {
            return wrong_arity(out, name);
        }
        bulk(out, arg(1));
    } else if is("DEL") {
        if n < 2 {
            return wrong_arity(out, name);
        }
        let mut db = db.borrow_mut();
        let removed = (1..n).filter(|&i| db.remove(arg(i)).is_some()).count();
        out.extend_from_slice(format!(":{removed}\r\n").as_bytes());
    } else if is("CONFIG") {
        if n < 3 || !arg(1).eq_ignore_ascii_case(b"GET") {
            return out.extend_from_slice(b"-ERR CONFIG subcommand not supported (only GET)\r\n");
        }
        let mut found: Vec<(&str, &str)> = Vec::new();
        for i in 2..n {
            let pattern = arg(i);
            for (key, value) in CONFIG {
                if (pattern == b"*" || pattern.eq_ignore_ascii_case(key.as_bytes()))
                    && !found.iter().any(|(k, _)| *k == key)
                {
                    found.push((key, value));
                }
            }
        }
        out.extend_from_slice(format!("*{}\r\n", found.len() * 2).as_bytes());
        for (key, value) in found {
            bulk(out, key.as_bytes());
            bulk(out, value.as_bytes());
        }
    } else if is("COMMAND") {
        if n >= 2 && arg(1).eq_ignore_ascii_case(b"COUNT") {
            out.extend_from_slice(b":7\r\n");
        } else {
            out.extend_from_slice(b"*0\r\n");
        }
    } else {
        out.extend_from_slice(b"-ERR unknown command '");
        out.extend_from_slice(name);
        out.extend_from_slice(b"'\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The arguments and the bytes used, when a request is complete.
    type Parsed = Option<(Vec<Vec<u8>>, usize)>;

    fn parsed(input: &[u8]) -> Result<Parsed, &'static str> {
        let mut args = Vec::new();
        Ok(parse(input, &mut args)?.map(|used| {
            (
                args.iter().map(|r| input[r.clone()].to_vec()).collect(),
                used,
            )
        }))
    }

    #[test]
    fn resp_and_inline_requests() {
        let req = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nvv\r\nrest";
        let (args, used) = parsed(req).unwrap().unwrap();
        assert_eq!(args, vec![b"SET".to_vec(), b"k".to_vec(), b"vv".to_vec()]);
        assert_eq!(&req[used..], b"rest");
        for cut in 0..req.len() - 4 {
            assert_eq!(parsed(&req[..cut]).unwrap(), None, "cut at {cut}");
        }
        let (args, used) = parsed(b"PING  x\r\n").unwrap().unwrap();
        assert_eq!(args, vec![b"PING".to_vec(), b"x".to_vec()]);
        assert_eq!(used, 9);
        assert!(parsed(b"*1\r\n+PING\r\n").is_err());
        assert!(parsed(b"*x\r\n").is_err());
    }

    #[test]
    fn replies() {
        let db: Db = Rc::default();
        let mut out = Vec::new();
        for req in [
            &b"*3\r\n$3\r\nset\r\n$1\r\nk\r\n$2\r\nvv\r\n"[..],
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
            b"*2\r\n$3\r\nGET\r\n$1\r\nx\r\n",
            b"PING\r\n",
            b"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$4\r\nsave\r\n",
        ] {
            let mut args = Vec::new();
            parse(req, &mut args).unwrap().unwrap();
            execute(req, &args, &db, &mut out);
        }
        assert_eq!(
            out,
            b"+OK\r\n$2\r\nvv\r\n$-1\r\n+PONG\r\n*2\r\n$4\r\nsave\r\n$0\r\n\r\n"
        );
    }
}
