//! TLS on a socket (Node's `TLSSocket` is the same `Socket` here): the
//! read step that decrypts, the flush that encrypts the write queue, the
//! close_notify before the FIN, and the end of the handshake (verdict,
//! `'secureConnect'` / `'secureConnection'`).
//!
//! The write queue keeps holding plaintext until the kernel has taken the
//! records made of it, so `writable_length()`, `'drain'` and write
//! callbacks mean what they mean over TCP. Ciphertext the kernel did not
//! take waits in `pending` (with how much of the queue it carries);
//! nothing else is buffered per connection but an incomplete record.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use smallvec::SmallVec;

use super::read_path::ReadStep;
use super::*;
use crate::tls::context::ContextInner;
use crate::tls::peer_certificate::PeerCertificate;
use crate::tls::session::{Session, OBSERVED};
use crate::tls::{errors, identity, verify, IdentityCheck};

/// Plaintext gathered into one record when the queue holds small chunks.
const RECORD: usize = 16 * 1024;
/// Queued chunks shorter than this are gathered (copied) into records;
/// longer ones are sealed where they lie.
const GATHER_BELOW: usize = 4 * 1024;
/// Plaintext encrypted per flush round (then written in one system call).
const FLUSH_ROUND: usize = 64 * 1024;
/// An outgoing buffer (or a kept partial record's) larger than this is
/// given back once it drains: an idle connection keeps at most this much
/// (steady small messages reuse it without allocating).
const KEEP_PENDING: usize = 4 * 1024;

/// Which side of the handshake, and what its end means.
pub(crate) enum Role {
    /// `tls::connect` or an upgraded client: verifies the server.
    Client {
        ctx: Arc<ContextInner>,
        name: ServerName<'static>,
        /// The name the certificate must carry (`servername`, else host).
        identity_host: String,
        reject_unauthorized: bool,
        check: Option<Rc<IdentityCheck>>,
        /// The SNI sent, if any (`servername()`).
        sni: Option<String>,
        /// Emits `'secureConnect'` (a `tls::connect` socket) or `'secure'`.
        secure_connect: bool,
    },
    /// Accepted by a TLS server (`'secureConnection'` on it) or upgraded
    /// with `start_tls_server` (`'secure'`).
    Server {
        ctx: Arc<ContextInner>,
        request_cert: bool,
        reject_unauthorized: bool,
        /// The server that emits `'secureConnection'` and `'tlsClientError'`.
        server: Option<Key>,
    },
}

/// The TLS state of a socket; boxed in its cold part.
pub(crate) struct TlsState {
    pub(crate) session: Session,
    pub(crate) role: Role,
    /// Ciphertext the kernel has not taken (from `sent` on).
    pending: Vec<u8>,
    sent: usize,
    /// Plaintext bytes at the queue's front whose records are in `pending`.
    pending_plain: usize,
    /// An incomplete record, prepended to the next read.
    partial: Vec<u8>,
    /// The first bytes the peer sent (to recognise an HTTP request).
    first_bytes: SmallVec<[u8; 8]>,
    started: bool,
    /// The handshake is done and judged: application data flows.
    pub(crate) secure: bool,
    /// `end()` came before the handshake was done.
    close_pending: bool,
    /// The close_notify is in `pending`: FIN once it is sent.
    fin_after_flush: bool,
    pub(crate) authorized: bool,
    pub(crate) authorization_error: Option<Error>,
    /// The SNI name a server socket received.
    pub(crate) received_sni: Option<String>,
    pub(crate) handshake_timer: Option<crate::Timer>,
    /// Whether `'keylog'` has a listener (here or on the server).
    pub(crate) want_keylog: bool,
    /// TLS 1.3 exporter master secret (for `export_keying_material`).
    pub(crate) exporter_secret: Option<Vec<u8>>,
    /// A `SocketTick::Flush` is queued for the writes of this callback.
    pub(crate) flush_queued: bool,
}

impl TlsState {
    pub(crate) fn new(session: Session, role: Role) -> TlsState {
        TlsState {
            session,
            role,
            pending: Vec::new(),
            sent: 0,
            pending_plain: 0,
            partial: Vec::new(),
            first_bytes: SmallVec::new(),
            started: false,
            secure: false,
            close_pending: false,
            fin_after_flush: false,
            authorized: false,
            authorization_error: None,
            received_sni: None,
            handshake_timer: None,
            want_keylog: false,
            exporter_secret: None,
            flush_queued: false,
        }
    }

    fn server_key(&self) -> Option<Key> {
        match self.role {
            Role::Server { server, .. } => server,
            Role::Client { .. } => None,
        }
    }
}

/// Puts TLS on a socket: from now on its bytes are records.
pub(crate) fn attach(c: &mut Core, key: Key, mut state: TlsState) {
    // Plaintext written just before the upgrade (a batched "go ahead"
    // reply) goes out as plaintext first.
    super::write_path::flush_batch(c, key);
    c.held.retain(|k| *k != key);
    let Some(s) = sock(c, key) else { return };
    // And so does what the kernel had no room for yet: it leads the
    // outgoing bytes, unencrypted, and its writes complete when it is sent.
    state.pending_plain = s.queue.seal_sendable_into(&mut state.pending);
    s.layers |= LAYER_TLS;
    s.tls = Some(Box::new(state));
    // What was read ahead before the upgrade is the start of the
    // handshake: it becomes the first input.
    let mut carried = Vec::new();
    while let Some(chunk) = s.take_buffered() {
        carried.extend_from_slice(&chunk);
    }
    if let Some(t) = s.tls.as_mut() {
        t.partial = carried;
    }
    if s.phase == Phase::Open {
        s.readable_ready = true;
        flush_step(c, key);
        schedule_read(c, key);
    }
}

/// The TLS read step: read ciphertext, decrypt, hand out one chunk.
pub(super) fn read_step(c: &mut Core, key: Key, budget: &mut usize) -> ReadStep {
    let now = c.now_ms;
    let Some(s) = sock(c, key) else {
        return ReadStep::Stop;
    };
    let secure = s.tls.as_ref().is_some_and(|t| t.secure);
    let flowing = s.flowing == Some(true);
    if secure && flowing && s.has_buffered {
        if let Some(chunk) = s.take_buffered() {
            return if s.listeners.has(EV_DATA) {
                super::read_path::deliver_step(s, chunk, false)
            } else {
                ReadStep::Again
            };
        }
    }
    if s.eof {
        if s.read_buffered_len == 0 && !s.end_queued && secure {
            s.end_queued = true;
            c.ticks.push_back(Tick::Socket(key, SocketTick::End));
        }
        return ReadStep::Stop;
    }
    if !s.readable_ready || !s.readable {
        return ReadStep::Stop;
    }
    if secure && (s.read_held || (!flowing && s.read_buffered_len >= (s.read_hwm as usize).max(1)))
    {
        return ReadStep::Stop;
    }
    if *budget == 0 {
        schedule_read(c, key);
        return ReadStep::Stop;
    }
    let room = c.read_buf.room();
    let want = room.min(*budget);
    let Core {
        sockets,
        read_buf,
        wheel,
        ticks,
        ..
    } = c;
    let s = &mut sockets[key.index()];
    let (Some(stream), Some(t)) = (s.stream.as_ref(), s.tls.as_deref_mut()) else {
        return ReadStep::Stop;
    };
    let partial = std::mem::take(&mut t.partial);
    let read = read_buf.read_mut_after(&partial, &socket2::SockRef::from(stream), want);
    let (mut chunk, n, asked) = match read {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            s.readable_ready = false;
            return ReadStep::Stop;
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {
            t.partial = partial;
            return ReadStep::Again;
        }
        Err(e) => {
            t.partial = partial;
            let err = Error::from_io(e, "read", None);
            fail(c, key, err, true);
            return ReadStep::Stop;
        }
    };
    match n {
        Some(0) => {
            s.eof = true;
            s.readable_ready = false;
            if !t.secure {
                handshake_eof(c, key);
                return ReadStep::Stop;
            }
            if s.read_buffered_len == 0 && !s.end_queued {
                s.end_queued = true;
                ticks.push_back(Tick::Socket(key, SocketTick::End));
            }
            return ReadStep::Stop;
        }
        Some(n) => {
            *budget = budget.saturating_sub(n);
            if n < asked && !s.peer_closed {
                s.readable_ready = false;
            }
        }
        None => s.readable_ready = false,
    }
    if t.first_bytes.len() < 8 {
        let take = (8 - t.first_bytes.len()).min(chunk.len());
        t.first_bytes.extend_from_slice(&chunk[..take]);
    }
    touch(wheel, now, key, s);
    let Some(t) = s.tls.as_deref_mut() else {
        return ReadStep::Stop;
    };
    let mut plain: SmallVec<[Bytes; 4]> = SmallVec::new();
    OBSERVED.with(|o| o.borrow_mut().want_keylog = t.want_keylog);
    let got = t.session.receive(&mut chunk[..], &mut t.pending, &mut |p| {
        plain.push(read_buf.copy_in(p))
    });
    let observed = OBSERVED.with(|o| std::mem::take(&mut *o.borrow_mut()));
    claim_observed(t, observed, key, ticks);
    let rest = &chunk[got.consumed.min(chunk.len())..];
    t.partial = reuse(partial, rest);
    drop(chunk);
    if let Some(e) = got.error {
        let err = errors::protocol_error(&e, &t.first_bytes);
        // The alert goes out if the kernel takes it now; as OpenSSL, none
        // for bytes that are not TLS at all.
        if !matches!(
            err.kind(),
            ErrorCode::ERR_SSL_WRONG_VERSION_NUMBER | ErrorCode::ERR_SSL_HTTP_REQUEST
        ) {
            write_pending_best_effort(s);
        }
        fail(c, key, err, false);
        return ReadStep::Stop;
    }
    let s = &mut sockets[key.index()];
    for p in &plain {
        s.bytes_read += p.len() as u64;
    }
    if got.peer_closed {
        s.eof = true;
        if s.read_buffered_len == 0 && plain.is_empty() && !s.end_queued && secure {
            s.end_queued = true;
            ticks.push_back(Tick::Socket(key, SocketTick::End));
        }
    }
    if got.handshake_done {
        for p in plain {
            s.buffer_read(p);
        }
        return ReadStep::Secure;
    }
    let flushing = s.tls.as_ref().is_some_and(|t| t.sent < t.pending.len());
    if flushing {
        flush_step(c, key);
    }
    let Some(s) = sock(c, key) else {
        return ReadStep::Stop;
    };
    if s.destroyed {
        return ReadStep::Stop;
    }
    let mut plain = plain.into_iter();
    let Some(first) = plain.next() else {
        return ReadStep::Again;
    };
    if !secure || !flowing {
        s.buffer_read(first);
        for p in plain {
            s.buffer_read(p);
        }
        return ReadStep::Again;
    }
    for p in plain {
        s.buffer_read(p);
    }
    if s.listeners.has(EV_DATA) {
        // Not the last step while a close_notify still has to become 'end'.
        let last = !s.readable_ready && !s.has_buffered && !s.eof;
        super::read_path::deliver_step(s, first, last)
    } else {
        ReadStep::Again
    }
}

/// Keeps the incomplete record `rest` in `buf`'s allocation.
fn reuse(mut buf: Vec<u8>, rest: &[u8]) -> Vec<u8> {
    buf.clear();
    if rest.is_empty() && buf.capacity() > KEEP_PENDING {
        return Vec::new();
    }
    buf.extend_from_slice(rest);
    buf
}

/// Takes what rustls reported through the configuration while it
/// processed this socket's records.
fn claim_observed(
    t: &mut TlsState,
    observed: crate::tls::session::Observed,
    key: Key,
    ticks: &mut std::collections::VecDeque<Tick>,
) {
    if let Some(name) = observed.server_name {
        t.received_sni = Some(name);
    }
    let mut lines = Vec::new();
    for (label, random, secret) in observed.secrets {
        if label == "EXPORTER_SECRET" {
            t.exporter_secret = Some(secret.clone());
        }
        if t.want_keylog {
            let line = format!("{label} {} {}\n", hex(&random), hex(&secret));
            lines.push(Bytes::from(line));
        }
    }
    if !lines.is_empty() {
        ticks.push_back(Tick::Call(Box::new(move || {
            for line in lines {
                emit_keylog(key, &line);
            }
        })));
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// `'keylog'` on the socket, and on its server with the socket.
fn emit_keylog(key: Key, line: &Bytes) {
    emit(key, EV_KEYLOG, &Payload::Data(line));
    let server = with(|c| sock(c, key).and_then(|s| s.tls.as_ref()?.server_key()));
    if let Some(server) = server {
        server::emit_keylog(server, line, &Socket::from_key(key));
    }
}

/// Sends what the kernel takes of `pending` now, ignoring failures (an
/// alert before the socket is torn down).
fn write_pending_best_effort(s: &mut SocketState) {
    let (Some(stream), Some(t)) = (s.stream.as_mut(), s.tls.as_deref_mut()) else {
        return;
    };
    if t.sent < t.pending.len() {
        if let Ok(n) = stream.write(&t.pending[t.sent..]) {
            t.sent += n;
        }
    }
}

/// The transport ended before the handshake did. A client then emits
/// `'end'`, then `ECONNRESET` (with the peer's address and port) and
/// `'close'(true)`, as Node; a server socket reports a hang-up.
fn handshake_eof(c: &mut Core, key: Key) {
    let Some(s) = sock(c, key) else { return };
    let client = s
        .tls
        .as_deref()
        .is_some_and(|t| matches!(t.role, Role::Client { .. }));
    if !client {
        fail(c, key, hang_up_error(), true);
        return;
    }
    let mut err = Error::new(
        ErrorCode::ECONNRESET,
        "Client network socket disconnected before secure TLS connection was established",
    );
    if let Some(peer) = s.remote {
        err = err.with_host_port(peer.ip().to_string(), peer.port());
    }
    if !s.end_queued {
        s.end_queued = true;
        c.ticks.push_back(Tick::Socket(key, SocketTick::End));
    }
    c.ticks.push_back(Tick::Call(Box::new(move || {
        with(|c| destroy(c, key, Some(err)))
    })));
}

/// A TLS socket fails. Before the handshake is done a server socket's
/// failure goes to its server's `'tlsClientError'` (with `hang_up`, Node's
/// "socket hang up" for a peer that went away; see [`on_destroy`]).
fn fail(c: &mut Core, key: Key, err: Error, hang_up: bool) {
    let server_side = sock(c, key)
        .and_then(|s| s.tls.as_deref())
        .is_some_and(|t| matches!(t.role, Role::Server { .. }) && !t.secure);
    let err = if hang_up && server_side {
        hang_up_error()
    } else {
        err
    };
    destroy(c, key, Some(err));
}

fn hang_up_error() -> Error {
    Error::new(ErrorCode::ECONNRESET, "socket hang up")
}

/// What `destroy` does differently for a TLS socket: a server socket whose
/// handshake is not done reports to its server's `'tlsClientError'` (the
/// error, or "socket hang up" when destroyed without one) instead of its
/// own `'error'`. Returns the error the socket itself keeps.
pub(crate) fn on_destroy(c: &mut Core, key: Key, err: Option<Error>) -> Option<Error> {
    let Some(t) = sock(c, key).and_then(|s| s.tls.as_deref_mut()) else {
        return err;
    };
    if let Some(timer) = t.handshake_timer.take() {
        crate::timer::cancel_internal_timeout(c, timer);
    }
    let Some(t) = sock(c, key).and_then(|s| s.tls.as_deref_mut()) else {
        return err;
    };
    match t.role {
        Role::Server {
            server: Some(server),
            ..
        } if !t.secure => {
            let err = err.unwrap_or_else(hang_up_error);
            let socket = Socket::from_key(key);
            c.ticks.push_back(Tick::Call(Box::new(move || {
                server::emit_tls_client_error(server, &err, &socket)
            })));
            None
        }
        _ => err,
    }
}

/// The handshake is done: judge the peer, then `'secureConnect'`
/// (client), `'secure'` and `'secureConnection'` (server), then flush what
/// was written meanwhile. Runs user code (a custom identity check, the
/// listeners), so it is called from the read burst, outside any borrow.
pub(super) fn secured(key: Key) {
    enum Verdict {
        Client {
            chain_ok: Result<bool, Error>,
            leaf: Option<Box<PeerCertificate>>,
            host: String,
            check: Option<Rc<IdentityCheck>>,
            reject: bool,
            secure_connect: bool,
        },
        Server {
            result: Option<Result<(), Error>>,
            reject: bool,
        },
    }
    let verdict = with(|c| {
        let s = sock(c, key)?;
        let t = s.tls.as_deref_mut()?;
        let timer = t.handshake_timer.take();
        let chain = t.session.common().peer_certificates().map(<[_]>::to_vec);
        let verdict = match &t.role {
            Role::Client {
                ctx,
                name,
                identity_host,
                reject_unauthorized,
                check,
                secure_connect,
                ..
            } => {
                let chain = chain.unwrap_or_default();
                Verdict::Client {
                    chain_ok: verify::verify_server(&ctx.trust, &chain, name),
                    leaf: chain
                        .first()
                        .and_then(|d| PeerCertificate::from_der(d).ok())
                        .map(Box::new),
                    host: identity_host.clone(),
                    check: check.clone(),
                    reject: *reject_unauthorized,
                    secure_connect: *secure_connect,
                }
            }
            Role::Server {
                ctx,
                request_cert,
                reject_unauthorized,
                ..
            } => Verdict::Server {
                result: request_cert.then(|| verify::verify_client(&ctx.trust, chain.as_deref())),
                reject: *reject_unauthorized,
            },
        };
        Some((verdict, timer))
    });
    let Some((verdict, timer)) = verdict else {
        return;
    };
    if let Some(timer) = timer {
        crate::clear_timeout(timer);
    }
    let (outcome, event) = match verdict {
        Verdict::Client {
            chain_ok,
            leaf,
            host,
            check,
            reject,
            secure_connect,
        } => {
            let result = match chain_ok {
                Err(e) => Err(e),
                Ok(name_ok) => match (&check, &leaf) {
                    // A custom check replaces the built-in one (and is
                    // called only for a chain that verified).
                    (Some(check), Some(leaf)) => {
                        let mut out = Ok(());
                        crate::event_loop::catch(|| out = check(&host, leaf));
                        out
                    }
                    _ if name_ok => Ok(()),
                    (None, Some(leaf)) => {
                        identity::check_server_identity(&host, leaf).map_err(|m| identity_error(&m))
                    }
                    (_, None) => Err(Error::new(
                        ErrorCode::UNABLE_TO_GET_ISSUER_CERT,
                        "unable to get issuer certificate",
                    )),
                },
            };
            let event = if secure_connect {
                EV_SECURE_CONNECT
            } else {
                EV_SECURE
            };
            match result {
                Err(e) if reject => (Err((e, false)), event),
                other => (Ok(other.err()), event),
            }
        }
        Verdict::Server { result, reject } => match result {
            Some(Err(_)) if reject => (
                Err((Error::new(ErrorCode::ECONNRESET, "socket hang up"), true)),
                EV_SECURE,
            ),
            Some(r) => (Ok(r.err()), EV_SECURE),
            None => (Ok(None), EV_SECURE),
        },
    };
    match outcome {
        Err((err, quiet)) => {
            if !quiet {
                // As Node: the verdict is readable in 'secure' and 'error'.
                with(|c| {
                    if let Some(t) = sock(c, key).and_then(|s| s.tls.as_deref_mut()) {
                        t.authorization_error = Some(err.clone());
                    }
                });
                emit(key, EV_SECURE, &Payload::Unit);
            }
            with(|c| fail(c, key, err, false));
        }
        Ok(auth_error) => {
            let server = with(|c| {
                let s = sock(c, key)?;
                let t = s.tls.as_deref_mut()?;
                t.secure = true;
                t.authorized = auth_error.is_none()
                    && match &t.role {
                        Role::Client { .. } => true,
                        Role::Server { request_cert, .. } => *request_cert,
                    };
                t.authorization_error = auth_error;
                t.server_key()
            });
            // Node's order: its own 'secure' listener runs first and emits
            // 'secureConnect' (client) or the server's 'secureConnection';
            // the user's 'secure' listeners follow.
            // The user's 'secure' listeners are those present before
            // (one added in 'secureConnection' does not run, as in Node).
            let secure_listeners =
                with(|c| sock_ref(c, key).map(|s| s.listeners.snapshot(EV_SECURE)));
            if event == EV_SECURE_CONNECT {
                emit(key, EV_SECURE_CONNECT, &Payload::Unit);
            } else if let Some(server) = server {
                server::emit_secure_connection(server, &Socket::from_key(key));
            }
            if let Some(snapshot) = secure_listeners.filter(|s| !s.is_empty()) {
                let socket = Socket::from_key(key);
                crate::event_loop::catch(|| {
                    crate::emitter::call(&socket, snapshot, &Payload::Unit)
                });
            }
            flush(key);
            with(|c| {
                let Some(s) = sock(c, key) else { return };
                // The handshake's flights are sent: an idle connection
                // keeps no outgoing buffer.
                if let Some(t) = s.tls.as_deref_mut() {
                    if t.sent == t.pending.len() {
                        t.pending = Vec::new();
                        t.sent = 0;
                    }
                }
                let close = s.queue.is_empty() && s.tls.as_ref().is_some_and(|t| t.close_pending);
                if close {
                    close_notify(c, key);
                }
                schedule_read(c, key);
            });
        }
    }
}

fn identity_error(m: &identity::IdentityMismatch) -> Error {
    Error::new(ErrorCode::ERR_TLS_CERT_ALTNAME_INVALID, m.to_string())
}

/// Encrypts and sends: first what the kernel did not take last time,
/// then the write queue, a round at a time.
pub(super) fn flush_step(c: &mut Core, key: Key) {
    let now = c.now_ms;
    let Core {
        sockets,
        wheel,
        ticks,
        ..
    } = c;
    let Some(s) = sockets
        .get_mut(key.index())
        .filter(|s| s.generation == key.generation)
    else {
        return;
    };
    if s.destroyed || s.phase != Phase::Open {
        return;
    }
    let failure;
    loop {
        let (Some(stream), Some(t)) = (s.stream.as_mut(), s.tls.as_deref_mut()) else {
            return;
        };
        if !t.started {
            t.started = true;
            if !t.session.is_server() {
                // The ClientHello.
                let got = t.session.receive(&mut [], &mut t.pending, &mut |_| {});
                OBSERVED.with(|o| *o.borrow_mut() = Default::default());
                if let Some(e) = got.error {
                    failure = errors::protocol_error(&e, &[]);
                    break;
                }
            }
        }
        if t.sent < t.pending.len() {
            if !s.writable_ready {
                return;
            }
            match stream.write(&t.pending[t.sent..]) {
                Ok(n) => {
                    t.sent += n;
                    if t.sent < t.pending.len() {
                        s.writable_ready = false;
                        touch(wheel, now, key, s);
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    s.writable_ready = false;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    failure = Error::from_io(e, "write", None);
                    break;
                }
            }
            t.sent = 0;
            if t.pending.capacity() > KEEP_PENDING {
                t.pending = Vec::new();
            } else {
                t.pending.clear();
            }
            let done = std::mem::take(&mut t.pending_plain);
            s.queue.advance_sealed(done);
            touch(wheel, now, key, s);
            continue;
        }
        if t.fin_after_flush {
            t.fin_after_flush = false;
            {
                let result = s
                    .stream
                    .as_ref()
                    .map_or(Ok(()), |st| st.shutdown(Shutdown::Write));
                match result {
                    Ok(()) => ticks.push_back(Tick::Socket(key, SocketTick::Finish)),
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                        ticks.push_back(Tick::Socket(key, SocketTick::Finish))
                    }
                    Err(e) => {
                        failure = Error::from_io(e, "shutdown", None);
                        break;
                    }
                }
                return;
            }
        }
        if !t.secure || s.queue.sendable() == 0 {
            return;
        }
        if let Err(e) = encrypt_round(s) {
            failure = e;
            break;
        }
    }
    destroy(c, key, Some(failure));
}

thread_local! {
    /// Small queued chunks gathered into one record.
    static STAGE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Encrypts up to a round of the queue's sendable plaintext into `pending`.
fn encrypt_round(s: &mut SocketState) -> Result<(), Error> {
    let Some(t) = s.tls.as_deref_mut() else {
        return Ok(());
    };
    let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
    let n = s.queue.slices(&mut slices);
    let mut taken = 0;
    STAGE.with(|stage| {
        let mut stage = stage.borrow_mut();
        stage.clear();
        for slice in &slices[..n] {
            if taken >= FLUSH_ROUND {
                break;
            }
            let slice: &[u8] = slice;
            let slice = &slice[..slice.len().min(FLUSH_ROUND - taken + RECORD)];
            // Small chunks are gathered into one record; a larger one is
            // sealed where it lies (rustls splits it into records).
            let gather = slice.len() < GATHER_BELOW && n > 1;
            if !stage.is_empty() && (!gather || stage.len() + slice.len() > RECORD) {
                t.session
                    .encrypt(&stage, &mut t.partial, &mut t.pending)
                    .map_err(seal_error)?;
                stage.clear();
            }
            if gather {
                stage.extend_from_slice(slice);
            } else {
                t.session
                    .encrypt(slice, &mut t.partial, &mut t.pending)
                    .map_err(seal_error)?;
            }
            taken += slice.len();
        }
        if !stage.is_empty() {
            t.session
                .encrypt(&stage, &mut t.partial, &mut t.pending)
                .map_err(seal_error)?;
            stage.clear();
        }
        Ok::<(), Error>(())
    })?;
    // The records hold it now: the plaintext's storage goes (it counts as
    // queued until the records are sent).
    s.queue.seal_front(taken);
    if let Some(t) = s.tls.as_deref_mut() {
        t.pending_plain = taken;
    }
    Ok(())
}

fn seal_error(e: rustls::Error) -> Error {
    Error::with_source(
        ErrorCode::ERR_SSL_UNEXPECTED_MESSAGE,
        format!("cannot encrypt: {e}"),
        e,
    )
}

/// Our side ends over TLS: close_notify, then the FIN once it is sent
/// (after the handshake, if `end()` came during it).
pub(super) fn shutdown(c: &mut Core, key: Key) {
    let Some(s) = sock(c, key) else { return };
    s.shutdown = true;
    let Some(t) = s.tls.as_deref_mut() else {
        return;
    };
    if !t.secure {
        t.close_pending = true;
        return;
    }
    close_notify(c, key);
}

fn close_notify(c: &mut Core, key: Key) {
    let Some(s) = sock(c, key) else { return };
    let Some(t) = s.tls.as_deref_mut() else {
        return;
    };
    t.close_pending = false;
    t.session.close_notify(&mut t.partial, &mut t.pending);
    t.fin_after_flush = true;
    flush_step(c, key);
}

/// The flush queued by the writes of a callback.
pub(crate) fn flush_tick(key: Key) {
    with(|c| {
        if let Some(t) = sock(c, key).and_then(|s| s.tls.as_deref_mut()) {
            t.flush_queued = false;
        }
    });
    flush(key);
}

/// The handshake timer fired (Node's `handshakeTimeout`).
pub(crate) fn handshake_timed_out(key: Key) {
    with(|c| {
        let Some(s) = sock(c, key) else { return };
        if s.destroyed || s.tls.as_ref().is_none_or(|t| t.secure) {
            return;
        }
        let err = Error::new(
            ErrorCode::ERR_TLS_HANDSHAKE_TIMEOUT,
            "TLS handshake timeout",
        );
        fail(c, key, err, false);
    });
}

/// `write()` on a TLS socket: queued as plaintext, sealed and sent when the
/// current callback returns. As in Node, whose TLS layer completes writes
/// asynchronously, the return value and `writable_length()` count the
/// write as queued until then (a write of `high_water_mark` bytes or more
/// returns `false`), and its callback and `'drain'` come from the loop.
pub(super) fn write(c: &mut Core, key: Key, data: impl WriteData, cb: Option<WriteCb>) -> bool {
    let now = c.now_ms;
    let Core {
        sockets,
        wheel,
        ticks,
        ..
    } = c;
    let Some(s) = sockets
        .get_mut(key.index())
        .filter(|s| s.generation == key.generation)
    else {
        return false;
    };
    let start = s.queue.accepted();
    let sealed_soon =
        s.phase == Phase::Open && !s.corked && s.tls.as_ref().is_some_and(|t| t.secure);
    if sealed_soon && data.is_owned() {
        // Sealed into records when this callback returns: no need to
        // copy it to keep it from pinning its read block.
        s.queue.push_transient(data.into_bytes_from(0));
    } else if data.as_slice().len() < crate::chunk_queue::COPY_BELOW {
        // Borrowed and short: into the queue's tail, no chunk made.
        s.queue.push_copy(data.as_slice());
    } else {
        s.queue.push(data.into_bytes_from(0));
    }
    if s.phase == Phase::Open {
        touch(wheel, now, key, s);
        // Sealed and sent once the current callback returns: every write
        // of the callback goes into the same records and system call, and,
        // as in Node, `writable_length()` counts them until then.
        if let Some(t) = s.tls.as_deref_mut() {
            if !t.flush_queued {
                t.flush_queued = true;
                ticks.push_back(Tick::Socket(key, SocketTick::Flush));
            }
        }
    }
    super::write_path::finish_write(c, key, start, cb)
}
