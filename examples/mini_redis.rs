//! A small Redis: the RESP2 protocol that Redis clients speak, over nodenet.
//!
//! ```text
//! cargo run --release --example mini_redis -- [--host H] [--port P]
//!     [--timeout S] [--max-pending BYTES] [--pubsub-limit BYTES] [--write-per-reply]
//! ```
//!
//! Prints `listening on HOST:PORT` once listening (`--port 0` picks a free
//! port; the default is Redis's 6379). Then `redis-cli -p P`,
//! `redis-benchmark -p P -t ping,set,get,incr,mset` or any Redis client
//! works.
//!
//! Commands: `PING`, `ECHO`, `SET` (`EX`, `PX`, `NX`, `XX`, `KEEPTTL`,
//! `GET`), `GET`, `DEL`, `EXISTS`, `INCR`, `DECR`, `INCRBY`, `DECRBY`,
//! `MGET`, `MSET`, `EXPIRE`, `PEXPIRE`, `TTL`, `PTTL`, `PERSIST`, `DBSIZE`,
//! `FLUSHDB`/`FLUSHALL`, `SELECT 0`, `PUBLISH`, `SUBSCRIBE`,
//! `UNSUBSCRIBE`, `QUIT`, and as much of `COMMAND`, `CONFIG GET` and `INFO`
//! as `redis-cli` and `redis-benchmark` ask for. Values are strings; keys
//! with a time to live are removed by a nodenet timer (`set_timeout`) and
//! checked on access too (a timer may run a little late).
//!
//! # How it is written
//!
//! As a Node `net` program would be: one `'data'` listener per connection,
//! the connection's state kept with the socket (`set_data`, as
//! `socket.state = {..}`), the database in one `Rc<RefCell<..>>` shared by
//! the callbacks (one thread: no locks).
//!
//! - **Framing**: a [`Framed`] per connection with a [`Parse`]r for RESP
//!   (and Redis's inline form, `PING\r\n`, which `redis-benchmark` sends).
//!   Pipelining (many commands in a chunk) and commands cut anywhere
//!   across chunks both come out as whole commands. The parser only finds
//!   where a command's arguments lie and lends its bytes
//!   ([`ParseBuf::lend`]); `Framed::next_in_place` hands them out with the
//!   spans, so a command is read where it lies: no copy, no reference
//!   count, no allocation. What the database keeps is copied out (a slice
//!   would pin a 64 KiB block of nodenet's read buffer for as long as the
//!   key lives).
//! - **Replies** are appended to a buffer the connection keeps, and
//!   written with `write(&[u8])` (copied into the socket's queue, so the
//!   buffer is reused; a large batch is handed over whole instead).
//! - **Batching**: the replies to everything complete in a chunk are
//!   appended to one buffer and written with one `write()`; messages
//!   `PUBLISH`ed in a chunk are batched per subscriber the same way.
//! - **Errors**: a wrong command, a wrong number of arguments, a bad
//!   integer get a RESP error (`-ERR ...`) and the connection goes on. A
//!   protocol violation (a bad length, `$` expected, a bulk length over
//!   512 MB, a multibulk count over 1 048 576, an inline request over
//!   64 KiB, an unfinished request over `--max-pending`) gets
//!   `-ERR Protocol error: ...`, then that connection is ended, as Redis
//!   does. Nothing a client sends panics the server or touches another
//!   connection.
//!
//! # What a client can make it hold
//!
//! - **An unfinished request**: at most `--max-pending` bytes (default
//!   64 MiB; Redis's own limit for a whole query buffer is 1 GiB). A bulk
//!   string announcing more than that fails at its header, before anything
//!   is buffered.
//! - **Replies it does not read**: when `write()` returns `false` the
//!   connection is `pause()`d and the commands already received stay parsed
//!   but unexecuted in its `Framed` until `'drain'`; so a client that
//!   pipelines without reading costs about the write high-water mark plus
//!   one batch (batches are cut at 256 KiB of replies), not its whole
//!   pipeline.
//! - **Messages for a subscriber that does not read**: a publisher is
//!   never slowed down by a subscriber (one stalled subscriber must not
//!   stop a channel). A subscriber's `write()` returning `false` means its
//!   messages now queue in its socket; once that queue holds more than
//!   `--pubsub-limit` bytes (default 8 MiB) the subscriber is disconnected
//!   and forgotten, as Redis's `client-output-buffer-limit pubsub` does,
//!   rather than buffered for without bound or silently skipped (a
//!   disconnected subscriber knows it lost messages; a skipped one would
//!   not). Messages published after that count it no more.
//!
//! [`Framed`]: nodenet::framing::Framed
//! [`Parse`]: nodenet::framing::Parse
//! [`ParseBuf::lend`]: nodenet::framing::ParseBuf::lend

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::process::ExitCode;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use nodenet::framing::{BytesMut, Framed, Parse, ParseBuf};
use nodenet::{tcp, Bytes, Error, ServerOptions, Socket, Timer};
use smallvec::SmallVec;

/// Redis's `proto-max-bulk-len`: a longer bulk string is a protocol error.
const MAX_BULK: usize = 512 * 1024 * 1024;
/// Redis's limit on the number of arguments of one request.
const MAX_MULTIBULK: i64 = 1024 * 1024;
/// Redis's `PROTO_INLINE_MAX_SIZE`: an inline request, or a `*`/`$`
/// header line, may not be longer.
const MAX_INLINE: usize = 64 * 1024;
/// The longest time to live accepted (about 1 100 years): `Instant` plus
/// more would overflow; Redis refuses a time that overflows as well.
const MAX_TTL_MS: i64 = 1 << 45;
/// Replies are written once they reach this much, even mid-chunk, so that
/// backpressure is looked at between batches.
const BATCH: usize = 256 * 1024;

/// Replies gathered before a `write()`: [`BATCH`], or 1 with
/// `--write-per-reply` (a straight port of Node code that answers each
/// request with its own `write()`; nodenet batches those writes itself).
static WRITE_AFTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(BATCH);

fn write_after() -> usize {
    WRITE_AFTER.load(std::sync::atomic::Ordering::Relaxed)
}

/// The server's knobs.
#[derive(Debug, Clone)]
struct Config {
    /// Idle connections are closed after this many seconds (0: never;
    /// subscribers never, as in Redis).
    timeout_s: u64,
    /// The most an unfinished request may hold.
    max_pending: usize,
    /// A subscriber whose unsent messages exceed this is disconnected.
    pubsub_limit: usize,
    /// The port, for `INFO`.
    port: u16,
}

// ---------------------------------------------------------------------------
// RESP parsing

/// A protocol violation: answered with `-ERR Protocol error: ...`, then the
/// connection ends.
#[derive(Debug)]
struct ProtocolError(String);

impl From<Error> for ProtocolError {
    /// `Framed`'s limit: an unfinished request over `--max-pending`.
    fn from(err: Error) -> ProtocolError {
        ProtocolError(format!("request too big: {}", err.message()))
    }
}

fn protocol(message: impl Into<String>) -> ProtocolError {
    ProtocolError(message.into())
}

/// RESP requests (`*N\r\n$len\r\narg\r\n...`) and inline ones
/// (`PING\r\n`). A request is its arguments; an empty one (`*0`, a blank
/// line) is skipped.
///
/// A multibulk request that is not complete yet is not parsed again from
/// its start on the next chunk: the arguments found so far are remembered
/// (as offsets: `Framed` presents the same bytes again, followed by the new
/// ones), and a bulk string still arriving is announced with
/// [`ParseBuf::need`], so the parser is not called again until it is all
/// there.
#[derive(Default)]
struct Resp {
    /// Arguments still to come in the multibulk request being parsed (0:
    /// none in progress).
    args_left: usize,
    /// Where the next argument's `$` header starts.
    pos: usize,
    /// (start, length) of the arguments found so far.
    spans: Spans,
}

/// The integer on the line starting at `from` (after a `*` or `$`) and the
/// offset just past its `\r\n`; `None` until the line is complete.
fn header_int(buf: &[u8], from: usize, what: &str) -> Result<Option<(i64, usize)>, ProtocolError> {
    let Some(cr) = buf[from..].iter().position(|&b| b == b'\r') else {
        if buf.len() - from > MAX_INLINE {
            return Err(protocol(format!("too big {what} count string")));
        }
        return Ok(None);
    };
    let end = from + cr;
    if end + 1 >= buf.len() {
        return Ok(None); // the '\n' is still to come
    }
    if buf[end + 1] != b'\n' {
        return Err(protocol(format!("invalid {what} length")));
    }
    let n = parse_int(&buf[from..end]).ok_or_else(|| protocol(format!("invalid {what} length")))?;
    Ok(Some((n, end + 2)))
}

/// A request: where its arguments lie, as (start, length) in the request's
/// bytes, which the `Framed` lends beside it ([`ParseBuf::lend`]): the
/// arguments are read in place, with no copy, reference count or
/// allocation (up to 4 arguments; more spill to the heap).
type Spans = SmallVec<[(usize, usize); 4]>;

impl Parse for Resp {
    type Frame = Spans;
    type Error = ProtocolError;

    fn parse(&mut self, buf: &mut ParseBuf) -> Result<Option<Spans>, ProtocolError> {
        if self.args_left == 0 {
            if buf[0] != b'*' {
                return inline(buf);
            }
            let Some((n, next)) = header_int(buf, 1, "multibulk")? else {
                return Ok(None);
            };
            if n > MAX_MULTIBULK {
                return Err(protocol("invalid multibulk length"));
            }
            if n <= 0 {
                buf.lend(next);
                return Ok(Some(Spans::new()));
            }
            self.args_left = n as usize;
            self.pos = next;
            self.spans = Spans::new();
        }
        while self.args_left > 0 {
            let pos = self.pos;
            if pos >= buf.len() {
                return Ok(None);
            }
            if buf[pos] != b'$' {
                let got = buf[pos];
                self.args_left = 0;
                return Err(protocol(format!(
                    "expected '$', got '{}'",
                    printable(&[got])
                )));
            }
            let Some((len, start)) = header_int(buf, pos + 1, "bulk")? else {
                return Ok(None);
            };
            if len < 0 || len as u64 > MAX_BULK as u64 {
                self.args_left = 0;
                return Err(protocol("invalid bulk length"));
            }
            let len = len as usize;
            let end = start + len + 2;
            if buf.len() < end {
                buf.need(end);
                return Ok(None);
            }
            if &buf[end - 2..end] != b"\r\n" {
                self.args_left = 0;
                return Err(protocol("expected CRLF after a bulk string"));
            }
            self.spans.push((start, len));
            self.pos = end;
            self.args_left -= 1;
        }
        // Complete: the request's bytes are lent with their spans.
        buf.lend(self.pos);
        self.pos = 0;
        Ok(Some(std::mem::take(&mut self.spans)))
    }
}

/// An inline request: one line, arguments separated by spaces.
fn inline(buf: &mut ParseBuf) -> Result<Option<Spans>, ProtocolError> {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > MAX_INLINE {
            return Err(protocol("too big inline request"));
        }
        return Ok(None);
    };
    let text = buf[..nl].strip_suffix(b"\r").unwrap_or(&buf[..nl]);
    let mut args = Spans::new();
    let mut i = 0;
    while i < text.len() {
        if text[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        while i < text.len() && !text[i].is_ascii_whitespace() {
            i += 1;
        }
        args.push((start, i - start));
    }
    buf.lend(nl + 1);
    Ok(Some(args))
}

/// A decimal `i64` as Redis reads one: digits with an optional `-`, no
/// `+`, no spaces.
fn parse_int(digits: &[u8]) -> Option<i64> {
    let (negative, digits) = match digits {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, digits),
    };
    if digits.is_empty() {
        return None;
    }
    // Accumulated negative: i64::MIN has no positive counterpart.
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_sub(i64::from(d - b'0'))?;
    }
    if negative {
        Some(n)
    } else {
        n.checked_neg()
    }
}

/// `n` in decimal, without going through `format!`.
fn decimal(out: &mut BytesMut, n: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        out.extend_from_slice(b"-");
    }
    out.extend_from_slice(&digits[at..]);
}

/// Client bytes made safe for an error line: no CR/LF, lossy UTF-8, cut
/// at 128 characters.
fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .take(128)
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect()
}

// ---------------------------------------------------------------------------
// Replies

fn simple(out: &mut BytesMut, s: &str) {
    out.extend_from_slice(b"+");
    out.extend_from_slice(s.as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn error(out: &mut BytesMut, message: &str) {
    out.extend_from_slice(b"-");
    out.extend_from_slice(message.as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn int(out: &mut BytesMut, n: i64) {
    out.extend_from_slice(b":");
    decimal(out, n);
    out.extend_from_slice(b"\r\n");
}

fn bulk(out: &mut BytesMut, data: &[u8]) {
    out.extend_from_slice(b"$");
    decimal(out, data.len() as i64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

fn null(out: &mut BytesMut) {
    out.extend_from_slice(b"$-1\r\n");
}

fn array(out: &mut BytesMut, len: usize) {
    out.extend_from_slice(b"*");
    decimal(out, len as i64);
    out.extend_from_slice(b"\r\n");
}

fn not_an_integer(out: &mut BytesMut) {
    error(out, "ERR value is not an integer or out of range");
}

fn syntax_error(out: &mut BytesMut) {
    error(out, "ERR syntax error");
}

/// A pub/sub push: `*3 kind channel payload`.
fn push_message(out: &mut BytesMut, kind: &str, channel: &[u8], payload: &[u8]) {
    array(out, 3);
    bulk(out, kind.as_bytes());
    bulk(out, channel);
    bulk(out, payload);
}

/// `*3 kind channel count` (the count of the connection's subscriptions).
fn push_count(out: &mut BytesMut, kind: &str, channel: Option<&[u8]>, count: usize) {
    array(out, 3);
    bulk(out, kind.as_bytes());
    match channel {
        Some(c) => bulk(out, c),
        None => null(out),
    }
    int(out, count as i64);
}

// ---------------------------------------------------------------------------
// The database

struct Entry {
    value: Bytes,
    /// When the key expires, and the timer that will remove it.
    expiry: Option<(Instant, Timer)>,
}

struct Db {
    config: Config,
    keys: HashMap<Bytes, Entry>,
    /// Channel to its subscribers, in subscription order.
    channels: HashMap<Bytes, Vec<Socket>>,
    connections: usize,
    /// Handed to expiry timers, so that they do not keep the database alive.
    me: Weak<RefCell<Db>>,
}

type Shared = Rc<RefCell<Db>>;

/// One connection's state, kept with its socket (`set_data`).
struct Conn {
    framed: Framed<Resp>,
    /// Replies being gathered (kept between chunks: no allocation each).
    out: BytesMut,
    /// What the commands see and change.
    session: Session,
    /// Waiting for `'drain'`: commands stay in `framed` meanwhile.
    blocked: bool,
    /// The peer ended its side: end ours once everything is answered.
    eof: bool,
}

/// The part of a connection's state its commands work on.
#[derive(Default)]
struct Session {
    /// The channels it is subscribed to (`socket.subs = new Set()`).
    subs: HashSet<Bytes>,
    /// `QUIT` or a protocol error: no more commands; our side is ended.
    closing: bool,
}

/// Messages for subscribers, gathered over one chunk's commands: a single
/// message is written as the encoded `Bytes` shared by every subscriber,
/// more are appended into one buffer per subscriber.
enum Outbox {
    One(Bytes),
    Many(BytesMut),
}

impl Outbox {
    fn add(&mut self, message: &Bytes) {
        match self {
            Outbox::One(first) => {
                let mut many = BytesMut::with_capacity(first.len() + message.len());
                many.extend_from_slice(first);
                many.extend_from_slice(message);
                *self = Outbox::Many(many);
            }
            Outbox::Many(many) => many.extend_from_slice(message),
        }
    }
}

/// Up to 24 bytes of a command name, upper-cased, for matching.
fn command_name(arg: &[u8]) -> ([u8; 24], usize) {
    let mut name = [0u8; 24];
    let len = arg.len().min(24);
    for (to, from) in name.iter_mut().zip(arg) {
        *to = from.to_ascii_uppercase();
    }
    (name, if arg.len() > 24 { 0 } else { len })
}

fn wrong_arity(out: &mut BytesMut, name: &[u8]) {
    error(
        out,
        &format!(
            "ERR wrong number of arguments for '{}' command",
            printable(name).to_lowercase()
        ),
    );
}

impl Db {
    fn new(config: Config) -> Shared {
        Rc::new_cyclic(|me| {
            RefCell::new(Db {
                config,
                keys: HashMap::new(),
                channels: HashMap::new(),
                connections: 0,
                me: me.clone(),
            })
        })
    }

    /// The live entry of `key`: an expired one (its timer not run yet) is
    /// removed here.
    fn live(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let expired = matches!(self.keys.get(key), Some(Entry { expiry: Some((at, _)), .. }) if *at <= Instant::now());
        if expired {
            self.remove(key);
            return None;
        }
        self.keys.get_mut(key)
    }

    fn remove(&mut self, key: &[u8]) -> bool {
        match self.keys.remove(key) {
            Some(entry) => {
                if let Some((_, timer)) = entry.expiry {
                    nodenet::clear_timeout(timer);
                }
                true
            }
            None => false,
        }
    }

    /// Stores `value` (copied: see the module docs), keeping or dropping
    /// the key's time to live.
    fn store(&mut self, key: &[u8], value: &[u8], keep_ttl: bool) {
        let value = Bytes::copy_from_slice(value);
        // An existing key is updated in place: one lookup, and its key kept.
        if let Some(entry) = self.keys.get_mut(key) {
            let expired = entry
                .expiry
                .as_ref()
                .is_some_and(|(at, _)| *at <= Instant::now());
            entry.value = value;
            if expired || !keep_ttl {
                if let Some((_, timer)) = entry.expiry.take() {
                    nodenet::clear_timeout(timer);
                }
            }
            return;
        }
        self.keys.insert(
            Bytes::copy_from_slice(key),
            Entry {
                value,
                expiry: None,
            },
        );
    }

    /// Sets the time to live of an existing key, replacing its timer.
    fn expire_in(&mut self, key: &[u8], ms: u64) {
        let me = self.me.clone();
        let Some((owned_key, entry)) = self.keys.get_key_value(key) else {
            return;
        };
        let owned_key = owned_key.clone();
        if let Some((_, old)) = entry.expiry {
            nodenet::clear_timeout(old);
        }
        let at = Instant::now() + Duration::from_millis(ms);
        let timer = arm_expiry(me, owned_key, at);
        if let Some(entry) = self.keys.get_mut(key) {
            entry.expiry = Some((at, timer));
        }
    }

    fn persist(&mut self, key: &[u8]) -> bool {
        match self.live(key) {
            Some(entry) => match entry.expiry.take() {
                Some((_, timer)) => {
                    nodenet::clear_timeout(timer);
                    true
                }
                None => false,
            },
            None => false,
        }
    }

    /// Milliseconds left: -2 for no key, -1 for no expiry.
    fn pttl(&mut self, key: &[u8]) -> i64 {
        match self.live(key) {
            None => -2,
            Some(Entry { expiry: None, .. }) => -1,
            Some(Entry {
                expiry: Some((at, _)),
                ..
            }) => at.saturating_duration_since(Instant::now()).as_millis() as i64,
        }
    }

    fn incr_by(&mut self, key: &[u8], by: i64, out: &mut BytesMut) {
        let current = match self.live(key) {
            None => 0,
            Some(entry) => match parse_int(&entry.value) {
                Some(n) => n,
                None => return not_an_integer(out),
            },
        };
        let Some(next) = current.checked_add(by) else {
            return error(out, "ERR increment or decrement would overflow");
        };
        self.store(key, next.to_string().as_bytes(), true);
        int(out, next);
    }

    fn unsubscribe(&mut self, socket: Socket, channel: &[u8]) {
        if let Some(subscribers) = self.channels.get_mut(channel) {
            subscribers.retain(|&s| s != socket);
            if subscribers.is_empty() {
                self.channels.remove(channel);
            }
        }
    }

    /// Forgets a subscriber that went away or was cut off.
    fn forget(&mut self, socket: Socket, subs: &HashSet<Bytes>) {
        for channel in subs {
            self.unsubscribe(socket, channel);
        }
    }
}

/// A timer that removes `key` at `at` if it still expires then (timers are
/// capped at about 24.8 days: a later expiry re-arms).
fn arm_expiry(db: Weak<RefCell<Db>>, key: Bytes, at: Instant) -> Timer {
    let ms = at.saturating_duration_since(Instant::now()).as_millis() as u64;
    nodenet::set_timeout(
        move || {
            let Some(db) = db.upgrade() else { return };
            let mut db = db.borrow_mut();
            let due = match db.keys.get(&key) {
                Some(Entry {
                    expiry: Some((when, _)),
                    ..
                }) => *when,
                _ => return,
            };
            if due > at {
                return; // a later EXPIRE replaced this timer
            }
            if due <= Instant::now() {
                db.keys.remove(&key);
            } else {
                let me = db.me.clone();
                let timer = arm_expiry(me, key.clone(), due);
                if let Some(entry) = db.keys.get_mut(&key) {
                    entry.expiry = Some((due, timer));
                }
            }
        },
        ms.max(1),
    )
    .unref()
}

/// What running a chunk's commands produced besides the reply.
#[derive(Default)]
struct Effects {
    /// Messages for other connections (subscribers).
    outboxes: HashMap<Socket, Outbox>,
}

/// Runs one command, appending its reply to `out`.
fn execute(
    db: &mut Db,
    socket: &Socket,
    conn: &mut Session,
    args: &[&[u8]],
    out: &mut BytesMut,
    effects: &mut Effects,
) {
    let Some(first) = args.first() else {
        return; // an empty request: nothing to answer
    };
    let (upper, len) = command_name(first);
    let name = &upper[..len];
    let argc = args.len();

    if !conn.subs.is_empty()
        && !matches!(
            name,
            b"SUBSCRIBE"
                | b"UNSUBSCRIBE"
                | b"PSUBSCRIBE"
                | b"PUNSUBSCRIBE"
                | b"PING"
                | b"QUIT"
                | b"RESET"
        )
    {
        return error(
            out,
            &format!(
                "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                printable(first).to_lowercase()
            ),
        );
    }

    match name {
        b"PING" if argc <= 2 => {
            if !conn.subs.is_empty() {
                // RESP2's PING in subscribed mode.
                array(out, 2);
                bulk(out, b"pong");
                bulk(out, args.get(1).map_or(&b""[..], |a| a));
            } else if let Some(message) = args.get(1) {
                bulk(out, message);
            } else {
                simple(out, "PONG");
            }
        }
        b"ECHO" if argc == 2 => bulk(out, args[1]),
        b"GET" if argc == 2 => match db.live(args[1]) {
            Some(entry) => bulk(out, &entry.value),
            None => null(out),
        },
        b"SET" if argc >= 3 => set(db, args, out),
        b"DEL" if argc >= 2 => {
            let n = args[1..]
                .iter()
                .filter(|k| db.live(k).is_some() && db.remove(k))
                .count();
            int(out, n as i64);
        }
        b"EXISTS" if argc >= 2 => {
            let n = args[1..].iter().filter(|k| db.live(k).is_some()).count();
            int(out, n as i64);
        }
        b"INCR" if argc == 2 => db.incr_by(args[1], 1, out),
        b"DECR" if argc == 2 => db.incr_by(args[1], -1, out),
        b"INCRBY" | b"DECRBY" if argc == 3 => match parse_int(args[2]) {
            Some(by) if name == b"INCRBY" => db.incr_by(args[1], by, out),
            Some(by) => match by.checked_neg() {
                Some(by) => db.incr_by(args[1], by, out),
                None => error(out, "ERR decrement would overflow"),
            },
            None => not_an_integer(out),
        },
        b"MGET" if argc >= 2 => {
            array(out, argc - 1);
            for key in &args[1..] {
                match db.live(key) {
                    Some(entry) => bulk(out, &entry.value),
                    None => null(out),
                }
            }
        }
        b"MSET" if argc >= 3 && argc % 2 == 1 => {
            for pair in args[1..].chunks(2) {
                db.store(pair[0], pair[1], false);
            }
            simple(out, "OK");
        }
        b"EXPIRE" | b"PEXPIRE" if argc == 3 => {
            let Some(n) = parse_int(args[2]) else {
                return not_an_integer(out);
            };
            let ms = if name == b"EXPIRE" {
                n.checked_mul(1000)
            } else {
                Some(n)
            };
            let Some(ms) = ms.filter(|&ms| ms <= MAX_TTL_MS) else {
                return error(
                    out,
                    &format!(
                        "ERR invalid expire time in '{}' command",
                        printable(first).to_lowercase()
                    ),
                );
            };
            if db.live(args[1]).is_none() {
                return int(out, 0);
            }
            if ms <= 0 {
                db.remove(args[1]);
            } else {
                db.expire_in(args[1], ms as u64);
            }
            int(out, 1);
        }
        b"TTL" if argc == 2 => {
            let ms = db.pttl(args[1]);
            int(out, if ms < 0 { ms } else { (ms + 500) / 1000 });
        }
        b"PTTL" if argc == 2 => {
            let ms = db.pttl(args[1]);
            int(out, ms);
        }
        b"PERSIST" if argc == 2 => {
            let persisted = db.persist(args[1]);
            int(out, i64::from(persisted));
        }
        b"DBSIZE" if argc == 1 => int(out, db.keys.len() as i64),
        b"FLUSHDB" | b"FLUSHALL" => {
            for (_, entry) in db.keys.drain() {
                if let Some((_, timer)) = entry.expiry {
                    nodenet::clear_timeout(timer);
                }
            }
            simple(out, "OK");
        }
        b"SELECT" if argc == 2 => match parse_int(args[1]) {
            Some(0) => simple(out, "OK"),
            Some(_) => error(out, "ERR DB index is out of range"),
            None => not_an_integer(out),
        },
        b"PUBLISH" if argc == 3 => {
            let mut receivers = 0;
            if let Some(subscribers) = db.channels.get(args[1]) {
                let mut message = BytesMut::new();
                push_message(&mut message, "message", args[1], args[2]);
                let message = message.freeze();
                for &subscriber in subscribers {
                    receivers += 1;
                    effects
                        .outboxes
                        .entry(subscriber)
                        .and_modify(|o| o.add(&message))
                        .or_insert_with(|| Outbox::One(message.clone()));
                }
            }
            int(out, receivers);
        }
        b"SUBSCRIBE" if argc >= 2 => {
            for channel in &args[1..] {
                let channel = Bytes::copy_from_slice(channel);
                if conn.subs.insert(channel.clone()) {
                    db.channels
                        .entry(channel.clone())
                        .or_default()
                        .push(*socket);
                }
                push_count(out, "subscribe", Some(&channel), conn.subs.len());
            }
            // Subscribers wait for messages: no idle timeout, as in Redis.
            socket.set_timeout(0);
        }
        b"UNSUBSCRIBE" => {
            let channels: Vec<Bytes> = if argc == 1 {
                conn.subs.iter().cloned().collect()
            } else {
                args[1..]
                    .iter()
                    .map(|a| Bytes::copy_from_slice(a))
                    .collect()
            };
            if channels.is_empty() {
                push_count(out, "unsubscribe", None, 0);
            }
            for channel in channels {
                if conn.subs.remove(&channel) {
                    db.unsubscribe(*socket, &channel);
                }
                push_count(out, "unsubscribe", Some(&channel), conn.subs.len());
            }
            if conn.subs.is_empty() {
                socket.set_timeout(db.config.timeout_s * 1000);
            }
        }
        b"QUIT" => {
            simple(out, "OK");
            conn.closing = true;
        }
        b"COMMAND" => match args.get(1).map(|a| a.to_ascii_uppercase()) {
            Some(sub) if sub == b"COUNT" => int(out, COMMANDS as i64),
            // redis-cli asks for DOCS to show hints; no docs is a valid answer.
            _ => array(out, 0),
        },
        b"CONFIG" if argc >= 2 => config(args, out),
        b"INFO" => info(db, out),
        b"CLIENT" if argc >= 2 => {
            // SETNAME / SETINFO from client libraries: accepted and ignored.
            simple(out, "OK");
        }
        b"PING" | b"ECHO" | b"GET" | b"SET" | b"DEL" | b"EXISTS" | b"INCR" | b"DECR"
        | b"INCRBY" | b"DECRBY" | b"MGET" | b"MSET" | b"EXPIRE" | b"PEXPIRE" | b"TTL" | b"PTTL"
        | b"PERSIST" | b"DBSIZE" | b"SELECT" | b"PUBLISH" | b"SUBSCRIBE" | b"CONFIG"
        | b"CLIENT" => wrong_arity(out, first),
        _ => {
            let mut message = format!(
                "ERR unknown command '{}', with args beginning with: ",
                printable(first)
            );
            for arg in args[1..].iter().take(8) {
                message.push_str(&format!("'{}' ", printable(arg)));
            }
            error(out, &message);
        }
    }
}

/// How many commands `COMMAND COUNT` reports.
const COMMANDS: usize = 30;

fn set(db: &mut Db, args: &[&[u8]], out: &mut BytesMut) {
    let (key, value) = (&args[1], &args[2]);
    let (mut nx, mut xx, mut get, mut keep_ttl) = (false, false, false, false);
    let mut ttl_ms: Option<u64> = None;
    let mut i = 3;
    while i < args.len() {
        let option = args[i].to_ascii_uppercase();
        match &option[..] {
            b"NX" if !xx => nx = true,
            b"XX" if !nx => xx = true,
            b"GET" => get = true,
            b"KEEPTTL" if ttl_ms.is_none() => keep_ttl = true,
            b"EX" | b"PX" if ttl_ms.is_none() && !keep_ttl && i + 1 < args.len() => {
                i += 1;
                let Some(n) = parse_int(args[i]) else {
                    return not_an_integer(out);
                };
                let ms = if &option[..] == b"EX" {
                    n.checked_mul(1000)
                } else {
                    Some(n)
                };
                match ms {
                    Some(ms) if ms > 0 && ms <= MAX_TTL_MS => ttl_ms = Some(ms as u64),
                    _ => return error(out, "ERR invalid expire time in 'set' command"),
                }
            }
            _ => return syntax_error(out),
        }
        i += 1;
    }
    // The old value matters only to GET, NX and XX.
    let old = if get || nx || xx {
        db.live(key).map(|e| e.value.clone())
    } else {
        None
    };
    if get {
        match &old {
            Some(v) => bulk(out, v),
            None => null(out),
        }
    }
    if (nx && old.is_some()) || (xx && old.is_none()) {
        if !get {
            null(out);
        }
        return;
    }
    db.store(key, value, keep_ttl);
    if let Some(ms) = ttl_ms {
        db.expire_in(key, ms);
    }
    if !get {
        simple(out, "OK");
    }
}

/// `CONFIG GET`: the few parameters clients ask about (redis-benchmark
/// starts with `save` and `appendonly`), as RESP2's flat name/value array.
fn config(args: &[&[u8]], out: &mut BytesMut) {
    const PARAMS: [(&str, &str); 4] = [
        ("save", ""),
        ("appendonly", "no"),
        ("databases", "1"),
        ("maxmemory", "0"),
    ];
    let sub = args[1].to_ascii_uppercase();
    match &sub[..] {
        b"GET" if args.len() >= 3 => {
            let mut found = Vec::new();
            for pattern in &args[2..] {
                for (name, value) in PARAMS {
                    let all = &pattern[..] == b"*";
                    if (all || pattern.eq_ignore_ascii_case(name.as_bytes()))
                        && !found.iter().any(|(n, _)| *n == name)
                    {
                        found.push((name, value));
                    }
                }
            }
            array(out, found.len() * 2);
            for (name, value) in found {
                bulk(out, name.as_bytes());
                bulk(out, value.as_bytes());
            }
        }
        b"RESETSTAT" => simple(out, "OK"),
        b"GET" => wrong_arity(out, b"config|get"),
        _ => error(
            out,
            "ERR CONFIG subcommand not supported by mini_redis (only GET and RESETSTAT)",
        ),
    }
}

fn info(db: &Db, out: &mut BytesMut) {
    let expires = db.keys.values().filter(|e| e.expiry.is_some()).count();
    let mut text = format!(
        "# Server\r\nredis_version:7.0.0\r\nredis_mode:standalone\r\nprocess_id:{}\r\ntcp_port:{}\r\n\r\n\
         # Clients\r\nconnected_clients:{}\r\n\r\n\
         # Keyspace\r\n",
        std::process::id(),
        db.config.port,
        db.connections,
    );
    if !db.keys.is_empty() {
        text.push_str(&format!(
            "db0:keys={},expires={expires},avg_ttl=0\r\n",
            db.keys.len()
        ));
    }
    bulk(out, text.as_bytes());
}

// ---------------------------------------------------------------------------
// Connections

/// Runs the commands complete in `socket`'s `Framed`, batching the replies,
/// until they run out or the socket's write queue is full. Called on
/// `'data'` (after the chunk was pushed), on `'drain'` and on `'end'`.
fn process(db: &Shared, socket: &Socket) {
    let mut effects = Effects::default();
    let done = socket.with_data(|conn: &mut Conn| {
        let Conn {
            framed,
            out,
            session,
            blocked,
            eof,
        } = conn;
        if session.closing || *blocked {
            return; // 'drain' will go on
        }
        let mut db = db.borrow_mut();
        while let Some(next) = framed.next_in_place() {
            match next {
                Ok((spans, request)) => {
                    let args: SmallVec<[&[u8]; 4]> = spans
                        .iter()
                        .map(|&(start, len)| &request[start..start + len])
                        .collect();
                    execute(&mut db, socket, session, &args, out, &mut effects);
                }
                Err(ProtocolError(message)) => {
                    error(out, &format!("ERR Protocol error: {message}"));
                    session.closing = true;
                }
            }
            if session.closing {
                break;
            }
            if out.len() >= write_after() && !send(socket, out) {
                // The client does not read as fast as it asks: stop here,
                // keep the rest of its commands for 'drain'.
                *blocked = true;
                socket.pause();
                break;
            }
        }
        if !out.is_empty() && !send(socket, out) && !session.closing {
            *blocked = true;
            socket.pause();
        }
        if session.closing {
            // QUIT or a protocol error: the reply, then FIN. A peer that
            // keeps its side open is destroyed after a grace period.
            socket.end();
            socket.set_timeout_cb(5_000, |s: &Socket| {
                s.destroy();
            });
        } else if *eof && !*blocked {
            socket.end();
        }
    });
    if done.is_none() {
        return;
    }
    deliver(db, effects);
}

/// Hands the gathered replies to the socket and empties `out` for the next
/// ones: a small batch is copied into the socket's queue (the buffer is
/// reused), a large one handed over whole; a buffer that a large reply grew
/// is let go rather than kept by an idle connection.
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

/// Writes the messages gathered for subscribers; one whose unsent output
/// went over the limit is disconnected (see the module docs).
fn deliver(db: &Shared, effects: Effects) {
    let limit = db.borrow().config.pubsub_limit;
    for (subscriber, outbox) in effects.outboxes {
        match outbox {
            Outbox::One(message) => subscriber.write(message),
            Outbox::Many(messages) => subscriber.write(messages),
        };
        if subscriber.writable_length() > limit {
            eprintln!(
                "mini_redis: subscriber {:?} has {} bytes unsent (over {limit}): disconnected",
                subscriber.peer_addr(),
                subscriber.writable_length()
            );
            let subs = subscriber
                .with_data(|conn: &mut Conn| std::mem::take(&mut conn.session.subs))
                .unwrap_or_default();
            db.borrow_mut().forget(subscriber, &subs);
            subscriber.destroy();
        }
    }
}

fn accept(db: &Shared, socket: &Socket) {
    let config = {
        let mut db = db.borrow_mut();
        db.connections += 1;
        db.config.clone()
    };
    socket.set_data(Conn {
        framed: Framed::new(config.max_pending, Resp::default()),
        out: BytesMut::new(),
        session: Session::default(),
        blocked: false,
        eof: false,
    });
    if config.timeout_s > 0 {
        socket.set_timeout(config.timeout_s * 1000);
    }
    let (on_data, on_drain, on_end, on_close) = (db.clone(), db.clone(), db.clone(), db.clone());
    socket
        .on_data(move |s, chunk| {
            s.with_data(|conn: &mut Conn| conn.framed.push(chunk));
            process(&on_data, s);
        })
        .on_drain(move |s| {
            let was_blocked = s.with_data(|conn: &mut Conn| std::mem::take(&mut conn.blocked));
            if was_blocked == Some(true) {
                s.resume();
                process(&on_drain, s);
            }
        })
        .on_end(move |s| {
            s.with_data(|conn: &mut Conn| conn.eof = true);
            process(&on_end, s);
        })
        .on_timeout(|s| {
            s.destroy();
        })
        // A peer that resets costs only its own connection.
        .on_error(|_, _| {})
        .on_close(move |s, _had_error| {
            let subs = s
                .with_data(|conn: &mut Conn| std::mem::take(&mut conn.session.subs))
                .unwrap_or_default();
            let mut db = on_close.borrow_mut();
            db.forget(*s, &subs);
            db.connections -= 1;
        });
}

struct Args {
    host: String,
    port: u16,
    config: Config,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        host: "127.0.0.1".to_string(),
        port: 6379,
        config: Config {
            timeout_s: 0,
            max_pending: 64 * 1024 * 1024,
            pubsub_limit: 8 * 1024 * 1024,
            port: 0,
        },
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--write-per-reply" => {
                WRITE_AFTER.store(1, std::sync::atomic::Ordering::Relaxed);
            }
            "--host" => args.host = value()?,
            "--port" => args.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--timeout" => {
                args.config.timeout_s = value()?.parse().map_err(|e| format!("--timeout: {e}"))?
            }
            "--max-pending" => {
                args.config.max_pending = value()?
                    .parse()
                    .map_err(|e| format!("--max-pending: {e}"))?
            }
            "--pubsub-limit" => {
                args.config.pubsub_limit = value()?
                    .parse()
                    .map_err(|e| format!("--pubsub-limit: {e}"))?
            }
            "-h" | "--help" => {
                return Err(
                    "usage: mini_redis [--host H] [--port P] [--timeout SECONDS] \
                            [--max-pending BYTES] [--pubsub-limit BYTES] [--write-per-reply]"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument {other}")),
        }
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
            eprintln!("mini_redis: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: Args) -> Result<(), Error> {
    let db = Db::new(args.config);
    let on_connection = db.clone();
    let server = tcp::create_server(
        ServerOptions {
            // 'end' is ours to act on: answer what was received first.
            socket: nodenet::SocketOptions {
                allow_half_open: true,
                no_delay: true,
                ..nodenet::SocketOptions::default()
            },
            ..ServerOptions::default()
        },
        move |_, socket| accept(&on_connection, socket),
    );
    let host = args.host.clone();
    server.on_listening(move |srv| {
        let port = srv.address().map_or(0, |a| a.port());
        db.borrow_mut().config.port = port;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {host}:{port}");
        let _ = out.flush();
    });
    server.listen(args.port, &args.host)?;
    nodenet::run()
}
