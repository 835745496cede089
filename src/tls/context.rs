//! Secure contexts: Node's `tls.createSecureContext` options (identity,
//! trust, versions) turned into rustls configurations, built once and
//! shared by every connection made with them.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, OnceLock, RwLock};

use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, KeyLog, RootCertStore, ServerConfig, SupportedProtocolVersion};

use super::session::OBSERVED;
use super::verify::{DeferredClientVerifier, DeferredServerVerifier, Trust};
use crate::error::{Error, ErrorCode};

/// A TLS protocol version, by Node's names (`"TLSv1.2"`, `"TLSv1.3"`).
///
/// rustls speaks TLS 1.2 and 1.3 only: `TLSv1` and `TLSv1.1` parse (they
/// are Node's names) but a range that holds no 1.2 or 1.3 fails the
/// handshake, as an OpenSSL peer of Node's would fail it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVersion {
    /// `"TLSv1"`.
    Tls1_0,
    /// `"TLSv1.1"`.
    Tls1_1,
    /// `"TLSv1.2"`.
    Tls1_2,
    /// `"TLSv1.3"`.
    Tls1_3,
}

impl TlsVersion {
    /// Node's name for the version (`getProtocol()`'s strings).
    pub fn as_str(self) -> &'static str {
        match self {
            TlsVersion::Tls1_0 => "TLSv1",
            TlsVersion::Tls1_1 => "TLSv1.1",
            TlsVersion::Tls1_2 => "TLSv1.2",
            TlsVersion::Tls1_3 => "TLSv1.3",
        }
    }
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TlsVersion {
    type Err = Error;

    /// # Errors
    ///
    /// `ERR_TLS_INVALID_PROTOCOL_VERSION` for anything but Node's four names.
    fn from_str(s: &str) -> Result<TlsVersion, Error> {
        [
            TlsVersion::Tls1_0,
            TlsVersion::Tls1_1,
            TlsVersion::Tls1_2,
            TlsVersion::Tls1_3,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
        .ok_or_else(|| {
            Error::new(
                ErrorCode::ERR_TLS_INVALID_PROTOCOL_VERSION,
                format!("\"{s}\" is not a valid TLS protocol version"),
            )
        })
    }
}

/// Node's `tls.createSecureContext` options: who we are, whom we trust,
/// which versions we speak.
///
/// # Examples
///
/// ```no_run
/// use nodenet::tls::{SecureContextOptions, TlsVersion};
///
/// let options = SecureContextOptions::from_files("cert.pem", "key.pem")?
///     .min_version(TlsVersion::Tls1_3);
/// # Ok::<(), nodenet::Error>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecureContextOptions {
    /// The certificate chain, PEM: leaf first, then intermediates.
    pub cert: Option<Vec<u8>>,
    /// The private key of the leaf, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<Vec<u8>>,
    /// Trusted certificates, PEM, one or several: they **replace** the
    /// default trust store (the system's CA bundle), as in Node.
    pub ca: Option<Vec<u8>>,
    /// The lowest version spoken (default TLS 1.2, as Node's).
    pub min_version: Option<TlsVersion>,
    /// The highest version spoken (default TLS 1.3).
    pub max_version: Option<TlsVersion>,
}

impl fmt::Debug for SecureContextOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecureContextOptions")
            .field("cert", &self.cert.as_ref().map(|c| c.len()))
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("ca", &self.ca.as_ref().map(|c| c.len()))
            .field("min_version", &self.min_version)
            .field("max_version", &self.max_version)
            .finish()
    }
}

impl SecureContextOptions {
    /// Empty options: no identity, the default trust store.
    pub fn new() -> SecureContextOptions {
        SecureContextOptions::default()
    }

    /// Reads the certificate chain and the key from PEM files.
    ///
    /// # Errors
    ///
    /// The file's error (`ENOENT`, `EACCES`, ...) with the path.
    pub fn from_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<SecureContextOptions, Error> {
        Ok(SecureContextOptions::new()
            .cert(read_file(cert.as_ref())?)
            .key(read_file(key.as_ref())?))
    }

    /// Sets the certificate chain (PEM).
    pub fn cert(mut self, pem: impl Into<Vec<u8>>) -> SecureContextOptions {
        self.cert = Some(pem.into());
        self
    }

    /// Sets the private key (PEM).
    pub fn key(mut self, pem: impl Into<Vec<u8>>) -> SecureContextOptions {
        self.key = Some(pem.into());
        self
    }

    /// Sets the trusted certificates (PEM), replacing the default store.
    pub fn ca(mut self, pem: impl Into<Vec<u8>>) -> SecureContextOptions {
        self.ca = Some(pem.into());
        self
    }

    /// Reads the trusted certificates from a PEM file.
    ///
    /// # Errors
    ///
    /// The file's error (`ENOENT`, `EACCES`, ...) with the path.
    pub fn ca_file(self, path: impl AsRef<Path>) -> Result<SecureContextOptions, Error> {
        Ok(self.ca(read_file(path.as_ref())?))
    }

    /// Sets the lowest version spoken.
    pub fn min_version(mut self, version: TlsVersion) -> SecureContextOptions {
        self.min_version = Some(version);
        self
    }

    /// Sets the highest version spoken.
    pub fn max_version(mut self, version: TlsVersion) -> SecureContextOptions {
        self.max_version = Some(version);
        self
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::from_io_path(e, "open", &path.to_string_lossy()))
}

/// A built secure context (Node's `SecureContext`): cheap to clone, shared
/// by every connection made with it. A client context keeps the sessions
/// its connections resume (TLS 1.3 tickets), so reuse one context for
/// connections to the same server.
///
/// # Examples
///
/// ```
/// use nodenet::tls::{self, SecureContextOptions};
///
/// // A client context trusting the system's CA bundle.
/// let context = tls::create_secure_context(&SecureContextOptions::new())?;
/// # Ok::<(), nodenet::Error>(())
/// ```
#[derive(Clone)]
pub struct SecureContext {
    pub(crate) inner: Arc<ContextInner>,
}

impl fmt::Debug for SecureContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecureContext")
            .field("has_identity", &self.inner.identity.is_some())
            .finish()
    }
}

pub(crate) struct ContextInner {
    pub(crate) provider: Arc<CryptoProvider>,
    pub(crate) identity: Option<Arc<CertifiedKey>>,
    pub(crate) trust: Trust,
    /// The subjects of the trusted certificates (hints for client auth).
    pub(crate) trusted_subjects: Vec<rustls::DistinguishedName>,
    pub(crate) versions: Vec<&'static SupportedProtocolVersion>,
    client_sni: OnceLock<Arc<ClientConfig>>,
    client_no_sni: OnceLock<Arc<ClientConfig>>,
}

/// Builds a secure context (Node's `tls.createSecureContext`).
///
/// # Errors
///
/// `ERR_OSSL_PEM_NO_START_LINE` for a certificate or CA input with no PEM
/// certificate in it, `ERR_OSSL_UNSUPPORTED` for a key that cannot be
/// read, `ERR_OSSL_X509_KEY_VALUES_MISMATCH` for a key that does not
/// belong to the certificate, `ERR_TLS_INVALID_CONTEXT` without a crypto
/// provider (see the crate's `tls-aws-lc-rs` and `tls-ring` features).
pub fn create_secure_context(options: &SecureContextOptions) -> Result<SecureContext, Error> {
    let provider = provider()?;
    let identity = match (&options.cert, &options.key) {
        (Some(cert), Some(key)) => Some(Arc::new(certified_key(&provider, cert, key)?)),
        (None, None) => None,
        (Some(_), None) => {
            return Err(Error::new(
                ErrorCode::ERR_OSSL_UNSUPPORTED,
                "a certificate was given without its key",
            ))
        }
        (None, Some(_)) => {
            return Err(Error::new(
                ErrorCode::ERR_OSSL_PEM_NO_START_LINE,
                "a key was given without its certificate",
            ))
        }
    };
    let mut roots = RootCertStore::empty();
    let anchors = match &options.ca {
        Some(pem) => parse_certs(pem)?,
        None => system_roots().to_vec(),
    };
    for cert in anchors {
        // A certificate that is not a usable anchor is left out, as
        // OpenSSL ignores it until a chain needs it.
        let _ = roots.add(cert);
    }
    let trusted_subjects = roots.subjects();
    let min = options.min_version.unwrap_or(TlsVersion::Tls1_2);
    let max = options.max_version.unwrap_or(TlsVersion::Tls1_3);
    let mut versions = Vec::new();
    if min <= TlsVersion::Tls1_2 && max >= TlsVersion::Tls1_2 {
        versions.push(&rustls::version::TLS12);
    }
    if max >= TlsVersion::Tls1_3 && min <= TlsVersion::Tls1_3 {
        versions.push(&rustls::version::TLS13);
    }
    Ok(SecureContext {
        inner: Arc::new(ContextInner {
            trust: Trust::new(roots, &provider),
            provider,
            identity,
            trusted_subjects,
            versions,
            client_sni: OnceLock::new(),
            client_no_sni: OnceLock::new(),
        }),
    })
}

impl ContextInner {
    /// The client configuration (built on first use): `sni` sends the
    /// server name, which Node does only when `servername` is given.
    pub(crate) fn client_config(&self, sni: bool) -> Result<Arc<ClientConfig>, Error> {
        let cell = if sni {
            &self.client_sni
        } else {
            &self.client_no_sni
        };
        if let Some(config) = cell.get() {
            return Ok(config.clone());
        }
        let builder = ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&self.versions)
            .map_err(context_error)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(DeferredServerVerifier {
                algorithms: self.provider.signature_verification_algorithms,
            }));
        let mut config = match &self.identity {
            Some(id) => builder.with_client_cert_resolver(Arc::new(FixedClientCert(id.clone()))),
            None => builder.with_no_client_auth(),
        };
        config.enable_sni = sni;
        config.resumption = Resumption::in_memory_sessions(256);
        config.key_log = Arc::new(ObservingKeyLog);
        let config = Arc::new(config);
        Ok(cell.get_or_init(|| config).clone())
    }

    /// A server configuration for these options.
    pub(crate) fn server_config(
        &self,
        resolver: Arc<SniResolver>,
        request_cert: bool,
        reject_unauthorized: bool,
        alpn: &[Vec<u8>],
    ) -> Result<Arc<ServerConfig>, Error> {
        let builder = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&self.versions)
            .map_err(context_error)?;
        let builder = if request_cert {
            builder.with_client_cert_verifier(Arc::new(DeferredClientVerifier {
                algorithms: self.provider.signature_verification_algorithms,
                mandatory: reject_unauthorized,
                hints: self.trusted_subjects.clone(),
            }))
        } else {
            builder.with_no_client_auth()
        };
        let mut config = builder.with_cert_resolver(resolver);
        config.alpn_protocols = alpn.to_vec();
        config.key_log = Arc::new(ObservingKeyLog);
        if let Some(ticketer) = ticketer() {
            config.ticketer = ticketer;
        }
        Ok(Arc::new(config))
    }
}

/// A client that presents the context's certificate to any server asking.
#[derive(Debug)]
struct FixedClientCert(Arc<CertifiedKey>);

impl rustls::client::ResolvesClientCert for FixedClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The server's certificates: per-name contexts (`add_context`, newest
/// first, `*` for one label), else the default. It also records the SNI
/// name the client sent.
#[derive(Debug)]
pub(crate) struct SniResolver {
    pub(crate) default: Option<Arc<CertifiedKey>>,
    pub(crate) names: RwLock<Vec<(String, Arc<CertifiedKey>)>>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name().map(str::to_owned);
        let chosen = name.as_deref().and_then(|name| {
            let names = self.names.read().ok()?;
            names
                .iter()
                .rev()
                .find(|(pattern, _)| name_matches(pattern, name))
                .map(|(_, key)| key.clone())
        });
        OBSERVED.with(|o| o.borrow_mut().server_name = name);
        chosen.or_else(|| self.default.clone())
    }
}

/// `add_context`'s matching: case-insensitive, `*` stands for one label.
pub(crate) fn name_matches(pattern: &str, name: &str) -> bool {
    let pattern = pattern.trim_end_matches('.');
    let name = name.trim_end_matches('.');
    match pattern.strip_prefix("*.") {
        Some(rest) => name
            .split_once('.')
            .is_some_and(|(first, tail)| !first.is_empty() && tail.eq_ignore_ascii_case(rest)),
        None => pattern.eq_ignore_ascii_case(name),
    }
}

/// Hands rustls's secrets to the connection being processed (the
/// `'keylog'` event and the exporter), through [`OBSERVED`].
#[derive(Debug)]
struct ObservingKeyLog;

impl KeyLog for ObservingKeyLog {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        OBSERVED.with(|o| {
            let mut o = o.borrow_mut();
            if o.want_keylog || label == "EXPORTER_SECRET" {
                o.secrets
                    .push((label.to_owned(), client_random.to_vec(), secret.to_vec()));
            }
        });
    }

    fn will_log(&self, label: &str) -> bool {
        label == "EXPORTER_SECRET" || OBSERVED.with(|o| o.borrow().want_keylog)
    }
}

pub(crate) fn certified_key(
    provider: &Arc<CryptoProvider>,
    cert: &[u8],
    key: &[u8],
) -> Result<CertifiedKey, Error> {
    let chain = parse_certs(cert)?;
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| {
        Error::with_source(
            ErrorCode::ERR_OSSL_UNSUPPORTED,
            "error:1E08010C:DECODER routines::unsupported",
            e,
        )
    })?;
    let signer = provider.key_provider.load_private_key(key).map_err(|e| {
        Error::with_source(
            ErrorCode::ERR_OSSL_UNSUPPORTED,
            "error:1E08010C:DECODER routines::unsupported",
            e,
        )
    })?;
    let certified = CertifiedKey::new(chain, signer);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(certified)
        }
        Err(e) => Err(Error::with_source(
            ErrorCode::ERR_OSSL_X509_KEY_VALUES_MISMATCH,
            "error:05800074:x509 certificate routines::key values mismatch",
            e,
        )),
    }
}

pub(crate) fn parse_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(Error::new(
            ErrorCode::ERR_OSSL_PEM_NO_START_LINE,
            "error:0480006C:PEM routines::no start line",
        ));
    }
    Ok(certs)
}

/// The system's CA bundle (Debian's, Red Hat's or Alpine's path), read once;
/// Node's default is its own copy of Mozilla's list, which these are built
/// from.
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        [
            "/etc/ssl/certs/ca-certificates.crt",
            "/etc/pki/tls/certs/ca-bundle.crt",
            "/etc/ssl/cert.pem",
        ]
        .iter()
        .find_map(|p| std::fs::read(p).ok())
        .map(|pem| {
            CertificateDer::pem_slice_iter(&pem)
                .filter_map(Result::ok)
                .collect()
        })
        .unwrap_or_default()
    })
}

/// The crypto provider chosen by the crate's features.
pub(crate) fn provider() -> Result<Arc<CryptoProvider>, Error> {
    static PROVIDER: OnceLock<Option<Arc<CryptoProvider>>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            #[cfg(feature = "tls-aws-lc-rs")]
            {
                Some(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            }
            #[cfg(all(feature = "tls-ring", not(feature = "tls-aws-lc-rs")))]
            {
                Some(Arc::new(rustls::crypto::ring::default_provider()))
            }
            #[cfg(not(any(feature = "tls-ring", feature = "tls-aws-lc-rs")))]
            {
                CryptoProvider::get_default().cloned()
            }
        })
        .clone()
        .ok_or_else(|| {
            Error::new(
                ErrorCode::ERR_TLS_INVALID_CONTEXT,
                "no TLS crypto provider: enable nodenet's `tls-aws-lc-rs` or `tls-ring` \
                 feature, or install one with rustls::crypto::CryptoProvider::install_default",
            )
        })
}

/// The provider's session-ticket encrypter (TLS 1.3 resumption without a
/// server-side cache), where the provider has one.
fn ticketer() -> Option<Arc<dyn rustls::server::ProducesTickets>> {
    #[cfg(feature = "tls-aws-lc-rs")]
    {
        rustls::crypto::aws_lc_rs::Ticketer::new().ok()
    }
    #[cfg(all(feature = "tls-ring", not(feature = "tls-aws-lc-rs")))]
    {
        rustls::crypto::ring::Ticketer::new().ok()
    }
    #[cfg(not(any(feature = "tls-ring", feature = "tls-aws-lc-rs")))]
    {
        None
    }
}

fn context_error(e: rustls::Error) -> Error {
    Error::with_source(
        ErrorCode::ERR_TLS_INVALID_CONTEXT,
        format!("cannot build the TLS context: {e}"),
        e,
    )
}
