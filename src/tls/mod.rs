//! Node's `tls` module on rustls (cargo feature `tls`, with a provider
//! from `tls-aws-lc-rs` or `tls-ring`).
//!
//! A TLS connection is the same [`Socket`] as a TCP or Unix one, as Node's
//! `TLSSocket` is a `net.Socket`: `write()` takes plaintext, `'data'`
//! yields plaintext, `end()` sends close_notify before the FIN, and
//! `writable_length()`, `'drain'`, `pause()`, timeouts and half-close mean
//! what they mean over TCP. The TLS-only parts are the events
//! `'secureConnect'` (client), `'secureConnection'` and `'tlsClientError'`
//! (server), `'keylog'`, and the getters on [`Socket`] (`encrypted()`,
//! `authorized()`, `get_protocol()`, `get_cipher()`, ...).
//!
//! # Examples
//!
//! ```no_run
//! use nodenet::tls::{self, SecureContextOptions};
//!
//! let options = tls::ServerOptions::new(SecureContextOptions::from_files("cert.pem", "key.pem")?);
//! let server = tls::create_server(options, |_, socket| {
//!     println!("{:?} {:?}", socket.get_protocol(), socket.get_cipher());
//!     socket.on_data(|s, chunk| {
//!         s.write(chunk);
//!     });
//! })?;
//! server.listen(8443, "127.0.0.1")?;
//! nodenet::run()?;
//! # Ok::<(), nodenet::Error>(())
//! ```

pub(crate) mod context;
pub(crate) mod errors;
pub(crate) mod exporter;
pub(crate) mod identity;
pub(crate) mod peer_certificate;
pub(crate) mod session;
pub(crate) mod verify;

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::ServerConfig;

pub use crate::stream::socket::tls_api::Cipher;
pub use context::{create_secure_context, SecureContext, SecureContextOptions, TlsVersion};
pub use peer_certificate::{CertificateParseError, DistinguishedName, PeerCertificate};

use crate::error::{Error, ErrorCode};
use crate::event_loop::{with, Core};
use crate::handle::Key;
use crate::stream::socket::tls_path::{self, Role, TlsState};
use crate::{Server, Socket};
use context::{ContextInner, SniResolver};
use session::Session;

/// A custom server identity check (Node's `checkServerIdentity` option):
/// the host name and the server's certificate; an `Err` fails the
/// connection with that error (or, with `reject_unauthorized(false)`,
/// becomes its `authorization_error()`).
pub type IdentityCheck = dyn Fn(&str, &PeerCertificate) -> Result<(), Error>;

/// Node's `tls.checkServerIdentity(hostname, cert)`: whether `cert` is
/// for `hostname` (DNS names, IP addresses, or the CN without DNS names;
/// `*` matches one label of a name of at least three).
///
/// # Errors
///
/// `ERR_TLS_CERT_ALTNAME_INVALID` with Node's message (`Hostname/IP does
/// not match certificate's altnames: ...`).
pub fn check_server_identity(hostname: &str, cert: &PeerCertificate) -> Result<(), Error> {
    identity::check_server_identity(hostname, cert)
        .map_err(|m| Error::new(ErrorCode::ERR_TLS_CERT_ALTNAME_INVALID, m.to_string()))
}

/// Node's `tls.createServer` options: the `net` server options, the
/// secure context, and how clients are treated.
#[derive(Clone)]
pub struct ServerOptions {
    /// The TCP / Unix server's options (`allow_half_open`, `pause_on_connect`, ...).
    pub net: crate::ServerOptions,
    /// The server's certificate and key, trust for client certificates
    /// (`ca`), versions.
    pub context: SecureContextOptions,
    /// Ask clients for a certificate (`requestCert`, default `false`).
    pub request_cert: bool,
    /// With `request_cert`: refuse clients without a trusted certificate
    /// (`rejectUnauthorized`, default `true`).
    pub reject_unauthorized: bool,
    /// ALPN protocols in the server's order of preference (`ALPNProtocols`).
    pub alpn_protocols: Vec<Vec<u8>>,
    /// How long a handshake may take (`handshakeTimeout`, default 120 s).
    pub handshake_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            net: crate::ServerOptions::default(),
            context: SecureContextOptions::default(),
            request_cert: false,
            reject_unauthorized: true,
            alpn_protocols: Vec::new(),
            handshake_timeout: Duration::from_secs(120),
        }
    }
}

impl ServerOptions {
    /// Options with this secure context and Node's defaults otherwise.
    pub fn new(context: SecureContextOptions) -> ServerOptions {
        ServerOptions {
            context,
            ..ServerOptions::default()
        }
    }

    /// Sets `request_cert` and `reject_unauthorized`.
    pub fn request_cert(mut self, request: bool, reject_unauthorized: bool) -> ServerOptions {
        self.request_cert = request;
        self.reject_unauthorized = reject_unauthorized;
        self
    }

    /// Sets the ALPN protocols, in order of preference.
    pub fn alpn_protocols<P: AsRef<[u8]>>(mut self, protocols: &[P]) -> ServerOptions {
        self.alpn_protocols = protocols.iter().map(|p| p.as_ref().to_vec()).collect();
        self
    }

    /// Sets the handshake timeout.
    pub fn handshake_timeout(mut self, timeout: impl crate::IntoDuration) -> ServerOptions {
        self.handshake_timeout = Duration::from_millis(crate::duration::ms(timeout));
        self
    }
}

/// A TLS server's state, shared by its accepted connections.
pub(crate) struct ServerTls {
    config: Arc<ServerConfig>,
    ctx: Arc<ContextInner>,
    resolver: Arc<SniResolver>,
    request_cert: bool,
    reject_unauthorized: bool,
    handshake_timeout_ms: u64,
}

/// Node's `tls.createServer(options, secureConnectionListener)`: a server
/// whose `'secureConnection'` listener is `on_secure_connection`. It is a
/// [`Server`]: listen with [`listen`](Server::listen) or
/// [`listen_path`](Server::listen_path). Its `'connection'` event still
/// comes first, with the socket before its handshake.
///
/// Deliberate difference: a handshake that outlives `handshake_timeout`
/// is reported as `'tlsClientError'` (`ERR_TLS_HANDSHAKE_TIMEOUT`) and the
/// connection is closed, as Node's documentation says; Node 20 only
/// reports it and keeps the connection open.
///
/// # Errors
///
/// The secure context's errors ([`create_secure_context`]).
pub fn create_server(
    options: ServerOptions,
    on_secure_connection: impl FnMut(&Server, &Socket) + 'static,
) -> Result<Server, Error> {
    let context = create_secure_context(&options.context)?;
    let ctx = context.inner;
    let resolver = Arc::new(SniResolver {
        default: ctx.identity.clone(),
        names: RwLock::new(Vec::new()),
    });
    let config = ctx.server_config(
        resolver.clone(),
        options.request_cert,
        options.reject_unauthorized,
        &options.alpn_protocols,
    )?;
    let tls = Rc::new(ServerTls {
        config,
        ctx,
        resolver,
        request_cert: options.request_cert,
        reject_unauthorized: options.reject_unauthorized,
        handshake_timeout_ms: crate::duration::ms(options.handshake_timeout),
    });
    let server = Server::create(options.net);
    with(|c| {
        if let Some(s) = c.servers.get_mut(server.key().index()) {
            s.tls = Some(tls);
        }
    });
    Ok(server.on_secure_connection(on_secure_connection))
}

impl Server {
    /// Node's `server.addContext(hostname, context)`: connections whose SNI
    /// matches `hostname` (`*` for one label) get this context's
    /// certificate; the last added match wins.
    ///
    /// # Errors
    ///
    /// `ERR_TLS_REQUIRED_SERVER_NAME` for an empty name,
    /// `ERR_TLS_INVALID_CONTEXT` on a server that is not a TLS server or
    /// for a context without a certificate, and the context's errors.
    pub fn add_context(&self, hostname: &str, context: &SecureContextOptions) -> Result<(), Error> {
        if hostname.is_empty() {
            return Err(Error::new(
                ErrorCode::ERR_TLS_REQUIRED_SERVER_NAME,
                "\"servername\" is required parameter for Server.addContext",
            ));
        }
        let tls = with(|c| {
            c.servers
                .get(self.key().index())
                .filter(|s| s.generation() == self.key().generation)
                .and_then(|s| s.tls.clone())
        })
        .ok_or_else(|| Error::new(ErrorCode::ERR_TLS_INVALID_CONTEXT, "not a TLS server"))?;
        let built = create_secure_context(context)?;
        let identity = built.inner.identity.clone().ok_or_else(|| {
            Error::new(
                ErrorCode::ERR_TLS_INVALID_CONTEXT,
                "the context has no certificate",
            )
        })?;
        if let Ok(mut names) = tls.resolver.names.write() {
            names.push((hostname.to_owned(), identity));
        }
        Ok(())
    }
}

/// A connection a TLS server accepted: its server-side session.
pub(crate) fn accept(c: &mut Core, socket: Key, server: Key, tls: &ServerTls) {
    let session = match Session::server(tls.config.clone()) {
        Ok(s) => s,
        Err(e) => {
            crate::stream::socket::destroy(c, socket, Some(errors::protocol_error(&e, &[])));
            return;
        }
    };
    let mut state = TlsState::new(
        session,
        Role::Server {
            ctx: tls.ctx.clone(),
            request_cert: tls.request_cert,
            reject_unauthorized: tls.reject_unauthorized,
            server: Some(server),
        },
    );
    state.want_keylog = crate::stream::server::has_keylog_listener(c, server);
    if tls.handshake_timeout_ms > 0 {
        state.handshake_timer = Some(crate::timer::set_internal_timeout(
            c,
            move || tls_path::handshake_timed_out(socket),
            tls.handshake_timeout_ms,
        ));
    }
    tls_path::attach(c, socket, state);
}

/// Node's `tls.connect` options: where to connect (TCP or a Unix path),
/// the secure context, and how the server is judged.
#[derive(Clone)]
pub struct ConnectOptions {
    /// Host, port, socket options, `timeout`, ... as for `tcp`
    /// (`host` defaults to `"localhost"` here, as in Node's `tls.connect`).
    pub net: crate::ConnectOptions,
    /// Connect to this Unix socket instead of `host:port` (`host` is then
    /// only the name the certificate is checked against).
    pub path: Option<PathBuf>,
    /// Trust (`ca`), a client certificate, versions.
    pub context: SecureContextOptions,
    /// A prepared context; `context` is then ignored. Reusing one context
    /// lets connections resume sessions.
    pub secure_context: Option<SecureContext>,
    /// The SNI name to send and to check the certificate against; without
    /// it no SNI is sent (as Node) and `host` is checked.
    pub servername: Option<String>,
    /// Fail the connection if the server's certificate does not verify
    /// (default `true`).
    pub reject_unauthorized: bool,
    /// ALPN protocols offered.
    pub alpn_protocols: Vec<Vec<u8>>,
    /// Replaces the built-in identity check.
    pub check_server_identity: Option<Rc<IdentityCheck>>,
}

impl Default for ConnectOptions {
    fn default() -> ConnectOptions {
        ConnectOptions {
            net: crate::ConnectOptions {
                host: "localhost".into(),
                ..crate::ConnectOptions::default()
            },
            path: None,
            context: SecureContextOptions::default(),
            secure_context: None,
            servername: None,
            reject_unauthorized: true,
            alpn_protocols: Vec::new(),
            check_server_identity: None,
        }
    }
}

impl ConnectOptions {
    /// Options for `host:port` with Node's defaults.
    pub fn new(port: u16, host: &str) -> ConnectOptions {
        let mut options = ConnectOptions::default();
        options.net.port = port;
        options.net.host = host.to_owned();
        options
    }

    /// Options for a Unix socket path (the certificate is checked against
    /// `"localhost"` unless `servername` or `net.host` says otherwise).
    pub fn path(path: impl Into<PathBuf>) -> ConnectOptions {
        ConnectOptions {
            path: Some(path.into()),
            ..ConnectOptions::default()
        }
    }

    /// Trusts these certificates (PEM) instead of the system's.
    pub fn ca(mut self, pem: impl Into<Vec<u8>>) -> ConnectOptions {
        self.context.ca = Some(pem.into());
        self
    }

    /// Sends this SNI name and checks the certificate against it.
    pub fn servername(mut self, name: &str) -> ConnectOptions {
        self.servername = Some(name.to_owned());
        self
    }

    /// Sets `reject_unauthorized`.
    pub fn reject_unauthorized(mut self, reject: bool) -> ConnectOptions {
        self.reject_unauthorized = reject;
        self
    }

    /// Offers these ALPN protocols.
    pub fn alpn_protocols<P: AsRef<[u8]>>(mut self, protocols: &[P]) -> ConnectOptions {
        self.alpn_protocols = protocols.iter().map(|p| p.as_ref().to_vec()).collect();
        self
    }

    /// Uses a prepared context (sessions are resumed across connections
    /// that share it).
    pub fn secure_context(mut self, context: &SecureContext) -> ConnectOptions {
        self.secure_context = Some(context.clone());
        self
    }

    /// Replaces the identity check.
    pub fn check_server_identity(
        mut self,
        check: impl Fn(&str, &PeerCertificate) -> Result<(), Error> + 'static,
    ) -> ConnectOptions {
        self.check_server_identity = Some(Rc::new(check));
        self
    }

    /// The client side of the TLS state these options describe.
    fn client_state(&self, secure_connect: bool) -> Result<TlsState, Error> {
        let context = match &self.secure_context {
            Some(c) => c.clone(),
            None => create_secure_context(&self.context)?,
        };
        let host = self
            .servername
            .clone()
            .unwrap_or_else(|| self.net.host.clone());
        let host = if host.is_empty() {
            "localhost".to_owned()
        } else {
            host
        };
        let name = ServerName::try_from(host.clone())
            .or_else(|_| ServerName::try_from("invalid.invalid".to_owned()))
            .map_err(|e| {
                Error::with_source(ErrorCode::ERR_INVALID_ARG_VALUE, "bad host name", e)
            })?;
        let sni = self.servername.is_some() && matches!(name, ServerName::DnsName(_));
        let config = context.inner.client_config(sni)?;
        let session = Session::client(config, name.clone(), self.alpn_protocols.clone())
            .map_err(|e| errors::protocol_error(&e, &[]))?;
        Ok(TlsState::new(
            session,
            Role::Client {
                ctx: context.inner.clone(),
                name,
                identity_host: host,
                reject_unauthorized: self.reject_unauthorized,
                check: self.check_server_identity.clone(),
                sni: if sni { self.servername.clone() } else { None },
                secure_connect,
            },
        ))
    }
}

/// Node's `tls.connect(options, callback)`: a socket connecting over TCP
/// (or `path`), then the handshake; `on_secure_connect` is a once
/// `'secureConnect'` listener. `'connect'` and `'ready'` come first, at the
/// transport's connect; writes made before `'secureConnect'` are queued.
///
/// # Errors
///
/// The secure context's errors and a bad port; connection and handshake
/// failures come as `'error'` then `'close'(true)` (certificate failures
/// with OpenSSL's codes: `DEPTH_ZERO_SELF_SIGNED_CERT`,
/// `ERR_TLS_CERT_ALTNAME_INVALID`, ...).
///
/// # Examples
///
/// ```no_run
/// use nodenet::tls;
///
/// let ca = std::fs::read("ca.pem")?;
/// tls::connect(tls::ConnectOptions::new(8443, "localhost").ca(ca), |s| {
///     println!("{:?}", s.get_protocol());
///     s.end_with("hello");
/// })?;
/// nodenet::run()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn connect(
    options: ConnectOptions,
    on_secure_connect: impl FnMut(&Socket) + 'static,
) -> Result<Socket, Error> {
    let state = options.client_state(true)?;
    let socket = match &options.path {
        Some(path) => {
            let socket = Socket::new(options.net.socket.clone());
            if let Some(timeout) = options.net.timeout {
                socket.set_timeout(timeout);
            }
            socket.connect_path(path)?
        }
        None => crate::tcp::create_connection(options.net.clone())?,
    };
    socket.once_secure_connect(on_secure_connect);
    with(|c| tls_path::attach(c, socket.key(), state));
    Ok(socket)
}

/// Node's `tls.connect({ socket })`: starts TLS as the client on a socket
/// that is connected (or connecting), as STARTTLS protocols do. Returns the
/// same socket; `on_secure_connect` is a once `'secureConnect'` listener.
/// No `'connect'` is emitted again.
///
/// # Errors
///
/// The secure context's errors; `ERR_INVALID_ARG_VALUE` if the socket is
/// already TLS or destroyed.
pub fn connect_socket(
    socket: &Socket,
    options: ConnectOptions,
    on_secure_connect: impl FnMut(&Socket) + 'static,
) -> Result<Socket, Error> {
    let state = options.client_state(true)?;
    upgrade(socket, state)?;
    socket.once_secure_connect(on_secure_connect);
    Ok(*socket)
}

/// Node's `new tls.TLSSocket(socket, { isServer: true, ... })`: starts TLS
/// as the server on a connected socket (STARTTLS). The socket emits
/// `'secure'` when the handshake is done; no server event is emitted.
///
/// # Errors
///
/// The secure context's errors; `ERR_INVALID_ARG_VALUE` if the socket is
/// already TLS or destroyed.
pub fn upgrade_server(socket: &Socket, options: &ServerOptions) -> Result<(), Error> {
    let context = create_secure_context(&options.context)?;
    let ctx = context.inner;
    let resolver = Arc::new(SniResolver {
        default: ctx.identity.clone(),
        names: RwLock::new(Vec::new()),
    });
    let config = ctx.server_config(
        resolver,
        options.request_cert,
        options.reject_unauthorized,
        &options.alpn_protocols,
    )?;
    let session = Session::server(config).map_err(|e| errors::protocol_error(&e, &[]))?;
    let state = TlsState::new(
        session,
        Role::Server {
            ctx,
            request_cert: options.request_cert,
            reject_unauthorized: options.reject_unauthorized,
            server: None,
        },
    );
    upgrade(socket, state)
}

fn upgrade(socket: &Socket, state: TlsState) -> Result<(), Error> {
    let key = socket.key();
    with(|c| {
        let ok = c
            .sockets
            .get(key.index())
            .filter(|s| s.generation == key.generation)
            .is_some_and(|s| !s.destroyed && s.tls.is_none());
        if !ok {
            return Err(Error::new(
                ErrorCode::ERR_INVALID_ARG_VALUE,
                "the socket is destroyed or already uses TLS",
            ));
        }
        tls_path::attach(c, key, state);
        Ok(())
    })
}
