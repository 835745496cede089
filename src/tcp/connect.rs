//! Establishing a client connection: from a host name (or IP literal) to
//! the list of addresses to try, each attempt and its events, and Node's
//! happy eyeballs (`autoSelectFamily`).
//!
//! With several addresses, auto-selection on, no `family` and no local
//! bind, the addresses are interleaved by family (starting with the first
//! one's) and tried one after another; every attempt but the last gets
//! `attempt_timeout` before it is abandoned (`'connectionAttemptTimeout'`)
//! for the next. Otherwise only the first address is tried, as in Node.
//! When every attempt fails the socket gets one error: the attempt's own,
//! or, after several, an aggregate of them all (Node's `AggregateError`).

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mio::{Interest, Token};

use crate::emitter::Payload;
use crate::error::Error;
use crate::event_loop::{self, with, Core, Tick};
use crate::handle::Key;
use crate::stream::socket::{self, Phase, SocketTick};
use crate::tcp::{ConnectionAttempt, Lookup};
use crate::IntoDuration;

static AUTO_SELECT_FAMILY: AtomicBool = AtomicBool::new(true);
static ATTEMPT_TIMEOUT_MS: AtomicU64 = AtomicU64::new(250);

/// Node's `net.getDefaultAutoSelectFamily()`: whether host names with
/// several addresses are connected with happy eyeballs (default `true`).
pub fn get_default_auto_select_family() -> bool {
    AUTO_SELECT_FAMILY.load(Ordering::Relaxed)
}

/// Node's `net.setDefaultAutoSelectFamily(value)`, for the whole process.
pub fn set_default_auto_select_family(value: bool) {
    AUTO_SELECT_FAMILY.store(value, Ordering::Relaxed);
}

/// Node's `net.getDefaultAutoSelectFamilyAttemptTimeout()` (250 ms).
pub fn get_default_auto_select_family_attempt_timeout() -> Duration {
    Duration::from_millis(ATTEMPT_TIMEOUT_MS.load(Ordering::Relaxed))
}

/// Node's `net.setDefaultAutoSelectFamilyAttemptTimeout(ms)` (milliseconds
/// or a `Duration`); values below 10 ms become 10 ms.
pub fn set_default_auto_select_family_attempt_timeout(timeout: impl IntoDuration) {
    ATTEMPT_TIMEOUT_MS.store(crate::duration::ms(timeout).max(10), Ordering::Relaxed);
}

/// A custom resolver for [`ConnectOptions::lookup`](crate::ConnectOptions::lookup)
/// (Node's `lookup` option): host name in, addresses out. It runs on the
/// resolver thread, never on the loop.
///
/// # Examples
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
/// use nodenet::tcp::Resolver;
/// let fixed = Resolver::new(|_host: &str| Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]));
/// assert_eq!(fixed.resolve("anything").unwrap().len(), 1);
/// ```
#[derive(Clone)]
pub struct Resolver(Arc<ResolveFn>);

/// What a [`Resolver`] wraps.
type ResolveFn = dyn Fn(&str) -> io::Result<Vec<IpAddr>> + Send + Sync;

impl Resolver {
    /// Wraps a resolving function.
    pub fn new(f: impl Fn(&str) -> io::Result<Vec<IpAddr>> + Send + Sync + 'static) -> Resolver {
        Resolver(Arc::new(f))
    }

    /// Resolves `host`.
    ///
    /// # Errors
    ///
    /// Whatever the function returns.
    pub fn resolve(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        (self.0)(host)
    }
}

/// Two resolvers are equal when they are the same function (clones of one
/// `Resolver`): closures cannot be compared, so option types holding one
/// compare it by identity.
impl PartialEq for Resolver {
    fn eq(&self, other: &Resolver) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Resolver {}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Resolver")
    }
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) port: u16,
    pub(crate) host: String,
    pub(crate) local: Option<SocketAddr>,
    pub(crate) family: u8,
    pub(crate) lookup: Option<Resolver>,
    pub(crate) auto_select: Option<bool>,
    pub(crate) attempt_timeout_ms: Option<u64>,
    pub(crate) block_list: Option<crate::BlockList>,
}

impl Plan {
    pub(crate) fn new(port: u16, host: &str) -> Plan {
        Plan {
            port,
            host: host.to_string(),
            local: None,
            family: 0,
            lookup: None,
            auto_select: None,
            attempt_timeout_ms: None,
            block_list: None,
        }
    }
}

/// A client socket's progress through its addresses.
#[derive(Debug)]
pub(crate) struct Attempts {
    plan: Plan,
    remaining: VecDeque<SocketAddr>,
    current: Option<SocketAddr>,
    errors: Vec<Error>,
    /// Every address tried, when happy eyeballs ran (Node's
    /// `autoSelectFamilyAttemptedAddresses`).
    pub(crate) attempted: Option<Vec<SocketAddr>>,
    timer: Option<Key>,
    /// Bumped per attempt, so a stale attempt timer is ignored.
    seq: u32,
}

fn attempt_info(addr: SocketAddr, error: Option<Error>) -> ConnectionAttempt {
    ConnectionAttempt {
        address: addr.ip(),
        port: addr.port(),
        family: crate::tcp::Family::from(addr),
        error,
    }
}

/// Starts connecting: at once for an IP literal (returns `None`), else
/// returns the plan to resolve off the loop thread.
pub(crate) fn start(c: &mut Core, key: Key, plan: Plan) -> Option<Plan> {
    let literal = plan
        .host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok();
    let s = socket::sock(c, key)?;
    let mut attempts = Box::new(Attempts {
        plan: plan.clone(),
        remaining: VecDeque::new(),
        current: None,
        errors: Vec::new(),
        attempted: None,
        timer: None,
        seq: 0,
    });
    match literal {
        Some(ip) => {
            attempts.remaining.push_back(SocketAddr::new(ip, plan.port));
            s.connect = Some(attempts);
            s.phase = Phase::Connecting;
            attempt_next(c, key);
            None
        }
        None => {
            s.connect = Some(attempts);
            s.phase = Phase::Resolving;
            Some(plan)
        }
    }
}

/// Resolves `plan.host` on the resolver thread; the answer comes back to
/// [`resolved`].
pub(crate) fn resolve(key: Key, plan: Plan) {
    let remote = event_loop::remote();
    let port = plan.port;
    match plan.lookup {
        Some(resolver) => crate::tcp::dns::resolve_with(
            remote,
            plan.host,
            move |host| {
                let addrs = resolver.resolve(host)?;
                Ok(addrs
                    .into_iter()
                    .map(|ip| SocketAddr::new(ip, port))
                    .collect())
            },
            move |host, result| resolved(key, host, result),
        ),
        None => crate::tcp::dns::resolve(remote, plan.host, port, move |host, result| {
            resolved(key, host, result)
        }),
    }
}

/// Orders addresses for happy eyeballs: alternate families, starting with
/// the first address's.
fn interleave(addrs: Vec<SocketAddr>) -> VecDeque<SocketAddr> {
    let first_v4 = addrs[0].is_ipv4();
    let (mut same, mut other): (VecDeque<_>, VecDeque<_>) =
        addrs.into_iter().partition(|a| a.is_ipv4() == first_v4);
    let mut out = VecDeque::with_capacity(same.len() + other.len());
    loop {
        match (same.pop_front(), other.pop_front()) {
            (None, None) => return out,
            (a, b) => out.extend(a.into_iter().chain(b)),
        }
    }
}

/// The host name resolved (on the loop thread).
fn resolved(key: Key, host: String, result: io::Result<Vec<SocketAddr>>) {
    let plan = with(|c| {
        let s = socket::sock(c, key)?;
        (s.phase == Phase::Resolving && !s.destroyed)
            .then(|| s.connect.as_ref().map(|a| a.plan.clone()))?
    });
    let Some(plan) = plan else { return };
    let wanted = |a: &SocketAddr| match plan.family {
        4 => a.is_ipv4(),
        6 => a.is_ipv6(),
        _ => plan.local.is_none_or(|l| l.is_ipv4() == a.is_ipv4()),
    };
    let addrs: Vec<SocketAddr> = match &result {
        Ok(list) => list.iter().copied().filter(wanted).collect(),
        Err(_) => Vec::new(),
    };
    if addrs.is_empty() {
        let err = Error::lookup(result.err(), &host);
        let lookup = Lookup {
            error: Some(err.clone()),
            address: None,
            host,
        };
        socket::emit(key, socket::EV_LOOKUP, &Payload::Lookup(&lookup));
        with(|c| socket::destroy(c, key, Some(err)));
        return;
    }
    let auto = plan
        .auto_select
        .unwrap_or_else(get_default_auto_select_family);
    let multi = auto && plan.family == 0 && plan.local.is_none() && addrs.len() > 1;
    let addrs: VecDeque<SocketAddr> = if multi {
        interleave(addrs)
    } else {
        addrs.into_iter().take(1).collect()
    };
    // Node emits 'lookup' once per address it will try.
    for addr in &addrs {
        let lookup = Lookup {
            error: None,
            address: Some(addr.ip()),
            host: host.clone(),
        };
        socket::emit(key, socket::EV_LOOKUP, &Payload::Lookup(&lookup));
    }
    with(|c| {
        let Some(s) = socket::sock(c, key) else {
            return;
        };
        if s.phase != Phase::Resolving || s.destroyed {
            return;
        }
        let Some(attempts) = s.connect.as_mut() else {
            return;
        };
        attempts.remaining = addrs;
        if multi {
            attempts.attempted = Some(Vec::new());
        }
        s.phase = Phase::Connecting;
        attempt_next(c, key);
    });
}

/// Starts a non-blocking connect to the next address.
pub(crate) fn attempt_next(c: &mut Core, key: Key) {
    let now = c.now_ms;
    let Some(s) = socket::sock(c, key) else {
        return;
    };
    let Some(attempts) = s.connect.as_mut() else {
        return;
    };
    let Some(addr) = attempts.remaining.pop_front() else {
        return;
    };
    if attempts
        .plan
        .block_list
        .as_ref()
        .is_some_and(|b| b.check(addr.ip()))
    {
        socket::destroy(c, key, Some(crate::block_list::blocked(addr.ip())));
        return;
    }
    attempts.current = Some(addr);
    attempts.seq = attempts.seq.wrapping_add(1);
    let seq = attempts.seq;
    if let Some(list) = attempts.attempted.as_mut() {
        list.push(addr);
    }
    let local = attempts.plan.local;
    let timeout = (attempts.attempted.is_some() && !attempts.remaining.is_empty()).then(|| {
        attempts
            .plan
            .attempt_timeout_ms
            .map_or_else(|| ATTEMPT_TIMEOUT_MS.load(Ordering::Relaxed), |t| t.max(10))
    });
    c.ticks.push_back(Tick::Socket(
        key,
        SocketTick::Attempt(socket::EV_ATTEMPT, attempt_info(addr, None)),
    ));
    let mut stream = match open_stream(addr, local) {
        Ok(stream) => stream,
        Err((e, "bind")) => {
            let err = Error::from_io(e, "bind", local);
            socket::destroy(c, key, Some(err));
            return;
        }
        Err((e, _)) => {
            attempt_failed(c, key, e);
            return;
        }
    };
    if let Err(e) = c.poll.registry().register(
        &mut stream,
        Token(key.index()),
        Interest::READABLE | Interest::WRITABLE,
    ) {
        attempt_failed(c, key, e);
        return;
    }
    let timer = timeout.map(|ms| {
        let t = c.timers.insert(
            &mut c.gens,
            now,
            ms,
            false,
            Box::new(move || attempt_timed_out(key, seq)),
        );
        // The connecting socket keeps the loop alive, not its timer.
        c.timers.set_ref(t, false);
        t
    });
    if let Some(s) = socket::sock(c, key) {
        s.stream = Some(crate::transport::Stream::Tcp(stream));
        if let Some(attempts) = s.connect.as_mut() {
            attempts.timer = timer;
        }
    }
}

fn cancel_timer(c: &mut Core, key: Key) {
    let timer = socket::sock(c, key)
        .and_then(|s| s.connect.as_mut())
        .and_then(|a| a.timer.take());
    if let Some(t) = timer {
        // The callback only holds a key and a number: dropping it here,
        // inside the borrow, runs no user code.
        drop(c.timers.cancel(t));
    }
}

/// Closes the current attempt's descriptor.
fn abandon(c: &mut Core, key: Key) {
    cancel_timer(c, key);
    let stream = socket::sock(c, key).and_then(|s| s.stream.take());
    if let Some(mut stream) = stream {
        let _ = c.poll.registry().deregister(&mut stream);
    }
}

/// The current attempt failed: report it, then try the next address or
/// fail the socket.
pub(crate) fn attempt_failed(c: &mut Core, key: Key, e: io::Error) {
    abandon(c, key);
    let Some(attempts) = socket::sock(c, key).and_then(|s| s.connect.as_mut()) else {
        return;
    };
    let addr = attempts.current;
    let mut err = Error::from_io(e, "connect", addr);
    if let Some(local) = attempts.plan.local {
        err = err.with_local(local);
    }
    attempts.errors.push(err.clone());
    // Under happy eyeballs each attempt's error is history of its own; a
    // single attempt's error is the socket's error, recorded by destroy.
    if attempts.attempted.is_some() {
        if let Some(s) = socket::sock(c, key) {
            s.error_history.push(err.clone());
        }
    }
    if let Some(addr) = addr {
        c.ticks.push_back(Tick::Socket(
            key,
            SocketTick::Attempt(socket::EV_ATTEMPT_FAILED, attempt_info(addr, Some(err))),
        ));
    }
    next_or_fail(c, key);
}

fn next_or_fail(c: &mut Core, key: Key) {
    let Some(attempts) = socket::sock(c, key).and_then(|s| s.connect.as_mut()) else {
        return;
    };
    if !attempts.remaining.is_empty() {
        attempt_next(c, key);
        return;
    }
    let mut errors = std::mem::take(&mut attempts.errors);
    let err = if errors.len() == 1 {
        errors.pop().expect("one")
    } else {
        Error::aggregate(errors)
    };
    socket::destroy(c, key, Some(err));
}

/// An attempt ran out of time: abandon it for the next address.
fn attempt_timed_out(key: Key, seq: u32) {
    with(|c| {
        let current = socket::sock(c, key)
            .filter(|s| s.phase == Phase::Connecting && !s.destroyed)
            .and_then(|s| s.connect.as_mut())
            .filter(|a| a.seq == seq);
        let Some(attempts) = current else { return };
        attempts.timer = None;
        let addr = attempts.current;
        let err = Error::from_io(io::Error::from(io::ErrorKind::TimedOut), "connect", addr);
        attempts.errors.push(err.clone());
        abandon(c, key);
        if let Some(s) = socket::sock(c, key) {
            s.error_history.push(err);
        }
        if let Some(addr) = addr {
            c.ticks.push_back(Tick::Socket(
                key,
                SocketTick::Attempt(socket::EV_ATTEMPT_TIMEOUT, attempt_info(addr, None)),
            ));
        }
        next_or_fail(c, key);
    });
}

/// The connection is up: no attempt timer may fire any more.
pub(crate) fn connected(c: &mut Core, key: Key) {
    cancel_timer(c, key);
    if let Some(attempts) = socket::sock(c, key).and_then(|s| s.connect.as_mut()) {
        attempts.remaining.clear();
        attempts.errors.clear();
    }
}

fn open_stream(
    addr: SocketAddr,
    local: Option<SocketAddr>,
) -> Result<mio::net::TcpStream, (io::Error, &'static str)> {
    use socket2::{Domain, Protocol, Socket as RawSocket, Type};
    let raw = RawSocket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| (e, "socket"))?;
    raw.set_nonblocking(true).map_err(|e| (e, "socket"))?;
    if let Some(local) = local {
        raw.bind(&local.into()).map_err(|e| (e, "bind"))?;
    }
    match raw.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(in_progress()) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err((e, "connect")),
    }
    Ok(mio::net::TcpStream::from_std(std::net::TcpStream::from(
        raw,
    )))
}

/// EINPROGRESS, the normal answer of a non-blocking connect.
fn in_progress() -> i32 {
    if cfg!(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd"
    )) {
        36
    } else {
        115
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn interleave_alternates_families_starting_with_the_first() {
        let got: Vec<SocketAddr> = interleave(vec![
            a("[::1]:1"),
            a("[::2]:1"),
            a("10.0.0.1:1"),
            a("[::3]:1"),
            a("10.0.0.2:1"),
        ])
        .into();
        assert_eq!(
            got,
            [
                a("[::1]:1"),
                a("10.0.0.1:1"),
                a("[::2]:1"),
                a("10.0.0.2:1"),
                a("[::3]:1")
            ]
        );
    }

    #[test]
    fn attempt_timeout_default_and_floor() {
        assert_eq!(
            get_default_auto_select_family_attempt_timeout(),
            std::time::Duration::from_millis(250)
        );
        assert!(get_default_auto_select_family());
    }
}
