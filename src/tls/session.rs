//! One TLS connection as a state machine without sockets: ciphertext in,
//! plaintext and ciphertext out, on rustls's unbuffered API.
//!
//! The socket's read path hands [`Session::receive`] the bytes it read
//! (decrypted in place by rustls); plaintext records come back through a
//! callback, and handshake flights, alerts and tickets are appended to an
//! outgoing buffer the caller owns. [`Session::encrypt`] seals plaintext
//! into that buffer (rustls 0.23 still builds each record in a `Vec` of
//! its own first, and hands each decrypted record out of one: the
//! unbuffered API's remaining allocations). The socket keeps nothing
//! between calls but an incomplete record, and only while one is
//! incomplete.

use std::cell::RefCell;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncryptError, InsufficientSizeError, UnbufferedStatus,
};
use rustls::{ClientConfig, ServerConfig};

/// The two kinds of connection.
pub(crate) enum Conn {
    Client(rustls::client::UnbufferedClientConnection),
    Server(rustls::server::UnbufferedServerConnection),
}

/// What one [`Session::receive`] call found besides plaintext.
#[derive(Debug, Default)]
pub(crate) struct Received {
    /// Bytes of the input fully processed; the rest is an incomplete record.
    pub(crate) consumed: usize,
    /// The handshake finished during this call.
    pub(crate) handshake_done: bool,
    /// The peer sent close_notify during this call.
    pub(crate) peer_closed: bool,
    /// A fatal error; the alert for it is in the outgoing buffer.
    pub(crate) error: Option<rustls::Error>,
}

/// Things rustls reports through callbacks on the configuration (shared by
/// every connection) while it processes one connection's records: the loop
/// processes one connection at a time, so they are collected here and
/// claimed by that connection afterwards.
#[derive(Default)]
pub(crate) struct Observed {
    /// The SNI name of a ClientHello (server side).
    pub(crate) server_name: Option<String>,
    /// Whether the connection being processed wants its secrets.
    pub(crate) want_keylog: bool,
    /// Secrets rustls logged: label, client random, secret.
    pub(crate) secrets: Vec<(String, Vec<u8>, Vec<u8>)>,
}

thread_local! {
    pub(crate) static OBSERVED: RefCell<Observed> = RefCell::new(Observed::default());
}

/// A TLS connection's protocol state.
pub(crate) struct Session {
    conn: Conn,
    /// The handshake is done: application data may be sent.
    established: bool,
    /// Our close_notify is in the outgoing buffer (or sent).
    close_sent: bool,
    /// A fatal error was met; nothing more is processed.
    failed: bool,
}

impl Session {
    pub(crate) fn client(
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
        alpn: Vec<Vec<u8>>,
    ) -> Result<Session, rustls::Error> {
        let conn = if alpn.is_empty() {
            rustls::client::UnbufferedClientConnection::new(config, name)?
        } else {
            rustls::client::UnbufferedClientConnection::new_with_alpn(config, name, alpn)?
        };
        Ok(Session::with(Conn::Client(conn)))
    }

    pub(crate) fn server(config: Arc<ServerConfig>) -> Result<Session, rustls::Error> {
        let conn = rustls::server::UnbufferedServerConnection::new(config)?;
        Ok(Session::with(Conn::Server(conn)))
    }

    fn with(conn: Conn) -> Session {
        Session {
            conn,
            established: false,
            close_sent: false,
            failed: false,
        }
    }

    pub(crate) fn is_server(&self) -> bool {
        matches!(self.conn, Conn::Server(_))
    }

    /// The negotiated parameters (version, suite, ALPN, certificates).
    pub(crate) fn common(&self) -> &rustls::CommonState {
        match &self.conn {
            Conn::Client(c) => c,
            Conn::Server(c) => c,
        }
    }

    /// Processes `incoming` (ciphertext, decrypted in place): plaintext
    /// records go to `plaintext`, anything to send is appended to `out`.
    /// With an empty input it only produces what is due (the ClientHello,
    /// tickets).
    pub(crate) fn receive(
        &mut self,
        incoming: &mut [u8],
        out: &mut Vec<u8>,
        plaintext: &mut dyn FnMut(&[u8]),
    ) -> Received {
        let mut got = Received::default();
        if self.failed {
            got.consumed = incoming.len();
            return got;
        }
        loop {
            let step = match &mut self.conn {
                Conn::Client(c) => {
                    let status = c.process_tls_records(&mut incoming[got.consumed..]);
                    step(status, out, plaintext)
                }
                Conn::Server(c) => {
                    let status = c.process_tls_records(&mut incoming[got.consumed..]);
                    step(status, out, plaintext)
                }
            };
            got.consumed += step.discard;
            match step.next {
                Next::Again => {}
                Next::PeerClosed => {
                    got.peer_closed = true;
                }
                Next::Established => {
                    if !self.established {
                        self.established = true;
                        got.handshake_done = true;
                    }
                    break;
                }
                Next::Blocked => break,
                Next::Failed(e) => {
                    self.failed = true;
                    self.alert(&mut incoming[got.consumed..], out);
                    got.error = Some(e);
                    got.consumed = incoming.len();
                    break;
                }
            }
        }
        got
    }

    /// After a fatal error: encode what rustls queued (records of the
    /// flight under way, then the alert). `rest` is the unprocessed input
    /// (rustls may still refer to it). Stops once the queue is empty:
    /// another call would process `rest` again and raise a second alert.
    fn alert(&mut self, rest: &mut [u8], out: &mut Vec<u8>) {
        // Only while rustls has records queued: it hands those out before
        // it looks at the input again.
        while self.common().wants_write() {
            macro_rules! once {
                ($c:expr) => {{
                    match $c.process_tls_records(&mut *rest).state {
                        Ok(ConnectionState::EncodeTlsData(mut e)) => {
                            encode(&mut e, out);
                            true
                        }
                        Ok(ConnectionState::TransmitTlsData(t)) => {
                            t.done();
                            false
                        }
                        _ => false,
                    }
                }};
            }
            let more = match &mut self.conn {
                Conn::Client(c) => once!(c),
                Conn::Server(c) => once!(c),
            };
            if !more {
                return;
            }
        }
    }

    /// Seals `plain` into records appended to `out`.
    ///
    /// # Errors
    ///
    /// `EncryptExhausted` (a key used up: never in practice) as a rustls
    /// error; called before the handshake is done, `HandshakeNotComplete`.
    /// `retained` is the incomplete record kept from the last input
    /// (rustls may refer to it; it is passed back unchanged).
    pub(crate) fn encrypt(
        &mut self,
        plain: &[u8],
        retained: &mut [u8],
        out: &mut Vec<u8>,
    ) -> Result<(), rustls::Error> {
        self.with_write_traffic(retained, out, |w, out| {
            let start = out.len();
            // Room for the records' headers and tags (at most 22 + 16 bytes
            // of TLS 1.3 or 29 of TLS 1.2 per 16 KiB record).
            let mut room = plain.len() + (plain.len() / 16384 + 1) * 64;
            loop {
                out.resize(start + room, 0);
                match w.encrypt(plain, &mut out[start..]) {
                    Ok(n) => {
                        out.truncate(start + n);
                        return Ok(());
                    }
                    Err(EncryptError::InsufficientSize(InsufficientSizeError {
                        required_size,
                    })) => {
                        room = required_size;
                    }
                    Err(_) => {
                        out.truncate(start);
                        return Err(rustls::Error::EncryptError);
                    }
                }
            }
        })
    }

    /// Appends our close_notify alert to `out` (once).
    pub(crate) fn close_notify(&mut self, retained: &mut [u8], out: &mut Vec<u8>) {
        if self.close_sent || self.failed {
            return;
        }
        self.close_sent = true;
        let _ = self.with_write_traffic(retained, out, |w, out| {
            let start = out.len();
            out.resize(start + 64, 0);
            match w.queue_close_notify(&mut out[start..]) {
                Ok(n) => out.truncate(start + n),
                Err(_) => out.truncate(start),
            }
            Ok(())
        });
    }

    /// Runs `f` in the write-traffic state, first encoding anything rustls
    /// has due (a key update, tickets).
    fn with_write_traffic(
        &mut self,
        retained: &mut [u8],
        out: &mut Vec<u8>,
        mut f: impl FnMut(&mut dyn WriteTraffic, &mut Vec<u8>) -> Result<(), rustls::Error>,
    ) -> Result<(), rustls::Error> {
        if self.failed {
            return Err(rustls::Error::HandshakeNotComplete);
        }
        for _ in 0..8 {
            macro_rules! drive {
                ($c:expr) => {{
                    // A complete record would have been processed when it
                    // arrived: nothing of `retained` is consumed here.
                    let UnbufferedStatus { state, .. } = $c.process_tls_records(&mut *retained);
                    match state {
                        Ok(ConnectionState::WriteTraffic(mut w)) => return f(&mut w, out),
                        Ok(ConnectionState::EncodeTlsData(mut e)) => encode(&mut e, out),
                        Ok(ConnectionState::TransmitTlsData(t)) => t.done(),
                        Ok(ConnectionState::ReadTraffic(mut r)) => {
                            // Decrypted earlier and not claimed: cannot
                            // happen (receive drains every record).
                            while r.next_record().is_some() {}
                        }
                        Ok(_) => return Err(rustls::Error::HandshakeNotComplete),
                        Err(e) => return Err(e),
                    }
                }};
            }
            match &mut self.conn {
                Conn::Client(c) => drive!(c),
                Conn::Server(c) => drive!(c),
            }
        }
        Err(rustls::Error::HandshakeNotComplete)
    }
}

/// Object-safe access to rustls's `WriteTraffic` of either side.
pub(crate) trait WriteTraffic {
    fn encrypt(&mut self, plain: &[u8], out: &mut [u8]) -> Result<usize, EncryptError>;
    fn queue_close_notify(&mut self, out: &mut [u8]) -> Result<usize, EncryptError>;
}

impl<D> WriteTraffic for rustls::unbuffered::WriteTraffic<'_, D> {
    fn encrypt(&mut self, plain: &[u8], out: &mut [u8]) -> Result<usize, EncryptError> {
        rustls::unbuffered::WriteTraffic::encrypt(self, plain, out)
    }

    fn queue_close_notify(&mut self, out: &mut [u8]) -> Result<usize, EncryptError> {
        rustls::unbuffered::WriteTraffic::queue_close_notify(self, out)
    }
}

enum Next {
    Again,
    PeerClosed,
    Established,
    Blocked,
    Failed(rustls::Error),
}

struct Step {
    discard: usize,
    next: Next,
}

/// Handles one state rustls reached.
fn step<D>(
    status: UnbufferedStatus<'_, '_, D>,
    out: &mut Vec<u8>,
    plaintext: &mut dyn FnMut(&[u8]),
) -> Step {
    let mut discard = status.discard;
    let next = match status.state {
        Ok(ConnectionState::ReadTraffic(mut r)) => {
            let mut next = Next::Again;
            while let Some(record) = r.next_record() {
                match record {
                    Ok(record) => {
                        discard += record.discard;
                        if !record.payload.is_empty() {
                            plaintext(record.payload);
                        }
                    }
                    Err(e) => {
                        next = Next::Failed(e);
                        break;
                    }
                }
            }
            next
        }
        Ok(ConnectionState::ReadEarlyData(_)) => {
            // 0-RTT is never enabled (max_early_data_size is 0).
            Next::Blocked
        }
        Ok(ConnectionState::EncodeTlsData(mut e)) => {
            encode(&mut e, out);
            Next::Again
        }
        Ok(ConnectionState::TransmitTlsData(t)) => {
            // The caller sends `out` after this call, in order.
            t.done();
            Next::Again
        }
        Ok(ConnectionState::PeerClosed) => Next::PeerClosed,
        Ok(ConnectionState::WriteTraffic(_)) => Next::Established,
        Ok(ConnectionState::Closed) => Next::Established,
        Ok(ConnectionState::BlockedHandshake) => Next::Blocked,
        Ok(_) => Next::Blocked,
        Err(e) => Next::Failed(e),
    };
    Step { discard, next }
}

/// Appends a handshake record to `out`.
fn encode<D>(e: &mut rustls::unbuffered::EncodeTlsData<'_, D>, out: &mut Vec<u8>) {
    let start = out.len();
    let mut room = 4096;
    loop {
        out.resize(start + room, 0);
        match e.encode(&mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n);
                return;
            }
            Err(EncodeError::InsufficientSize(InsufficientSizeError { required_size })) => {
                room = required_size;
            }
            Err(_) => {
                out.truncate(start);
                return;
            }
        }
    }
}
