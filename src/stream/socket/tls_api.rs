//! `Socket`'s TLS methods (Node's `TLSSocket` properties and getters).
//! On a socket without TLS they say so: `encrypted()` is `false` and the
//! getters return `None`; once the socket is closed they return `None`.

use super::*;
use crate::tls::{PeerCertificate, TlsVersion};
use rustls::{CipherSuite, HandshakeKind, ProtocolVersion, SupportedCipherSuite};

/// The negotiated cipher suite (Node's `getCipher()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cipher {
    /// OpenSSL's name (`"TLS_AES_256_GCM_SHA384"`, `"ECDHE-RSA-AES128-GCM-SHA256"`).
    pub name: &'static str,
    /// The IANA name (`"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"`).
    pub standard_name: &'static str,
    /// The lowest version the suite is defined for (`"TLSv1.2"`, `"TLSv1.3"`).
    pub version: &'static str,
}

/// OpenSSL's and IANA's names of the suites rustls speaks.
fn suite_names(suite: CipherSuite) -> (&'static str, &'static str) {
    use CipherSuite as C;
    match suite {
        C::TLS13_AES_128_GCM_SHA256 => ("TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"),
        C::TLS13_AES_256_GCM_SHA384 => ("TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384"),
        C::TLS13_CHACHA20_POLY1305_SHA256 => (
            "TLS_CHACHA20_POLY1305_SHA256",
            "TLS_CHACHA20_POLY1305_SHA256",
        ),
        C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => (
            "ECDHE-RSA-AES128-GCM-SHA256",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        ),
        C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => (
            "ECDHE-RSA-AES256-GCM-SHA384",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        ),
        C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => (
            "ECDHE-RSA-CHACHA20-POLY1305",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        ),
        C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => (
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        ),
        C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => (
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        ),
        C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => (
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        ),
        _ => ("UNKNOWN", "UNKNOWN"),
    }
}

impl Socket {
    /// Runs `f` on the socket's TLS state, if it has one.
    fn with_tls<R>(&self, f: impl FnOnce(&mut tls_path::TlsState) -> Option<R>) -> Option<R> {
        with(|c| {
            sock(c, self.key)
                .and_then(|s| s.tls.as_deref_mut())
                .and_then(f)
        })
    }

    /// [`with_tls`](Self::with_tls) until the socket is destroyed: as in
    /// Node, whose getters answer `null` once the handle is gone.
    fn with_live_tls<R>(&self, f: impl FnOnce(&mut tls_path::TlsState) -> Option<R>) -> Option<R> {
        with(|c| {
            sock(c, self.key)
                .filter(|s| !s.destroyed)
                .and_then(|s| s.tls.as_deref_mut())
                .and_then(f)
        })
    }

    /// Node's `socket.encrypted`: whether this socket speaks TLS.
    pub fn encrypted(&self) -> bool {
        self.with_tls(|_| Some(())).is_some()
    }

    /// Node's `socket.authorized`: a client whose server's certificate
    /// verified, or a server socket whose requested client certificate
    /// did. `false` before the handshake.
    pub fn authorized(&self) -> bool {
        self.with_tls(|t| Some(t.authorized)).unwrap_or(false)
    }

    /// Node's `socket.authorizationError`: why the peer's certificate was
    /// not verified (`DEPTH_ZERO_SELF_SIGNED_CERT`,
    /// `ERR_TLS_CERT_ALTNAME_INVALID`, ...), on a connection made with
    /// `reject_unauthorized(false)` or a server that does not reject.
    pub fn authorization_error(&self) -> Option<Error> {
        self.with_tls(|t| t.authorization_error.clone())
    }

    /// Node's `socket.alpnProtocol`: the protocol ALPN chose; `None`
    /// before the handshake or when none was.
    pub fn alpn_protocol(&self) -> Option<String> {
        self.with_tls(|t| {
            t.session
                .common()
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned())
        })
    }

    /// Node's `socket.servername`: the SNI name sent (client) or received
    /// (server); `None` when there was none.
    pub fn servername(&self) -> Option<String> {
        self.with_tls(|t| match &t.role {
            tls_path::Role::Client { sni, .. } => sni.clone(),
            tls_path::Role::Server { .. } => t.received_sni.clone(),
        })
    }

    /// Node's `getProtocol()`: the negotiated version, once the handshake
    /// is done (Node 20 answers the highest enabled version before it;
    /// this answers `None`).
    pub fn get_protocol(&self) -> Option<TlsVersion> {
        self.with_live_tls(|t| match t.session.common().protocol_version()? {
            ProtocolVersion::TLSv1_3 => Some(TlsVersion::Tls1_3),
            ProtocolVersion::TLSv1_2 => Some(TlsVersion::Tls1_2),
            _ => None,
        })
        .filter(|_| self.with_live_tls(|t| Some(t.secure)).unwrap_or(false))
    }

    /// Node's `getCipher()`, once the handshake is done.
    pub fn get_cipher(&self) -> Option<Cipher> {
        self.with_live_tls(|t| {
            if !t.secure {
                return None;
            }
            let suite = t.session.common().negotiated_cipher_suite()?;
            let (name, standard_name) = suite_names(suite.suite());
            let version = match suite {
                SupportedCipherSuite::Tls13(_) => "TLSv1.3",
                SupportedCipherSuite::Tls12(_) => "TLSv1.2",
            };
            Some(Cipher {
                name,
                standard_name,
                version,
            })
        })
    }

    /// Node's `getPeerCertificate()`: the peer's leaf certificate, parsed
    /// (subject, issuer, `subjectaltname`, validity, serial, SHA-256
    /// fingerprint, DER). `None` before the handshake, when the peer sent
    /// none, or after `'close'`.
    pub fn get_peer_certificate(&self) -> Option<PeerCertificate> {
        let der = self.get_peer_certificate_chain().into_iter().next()?;
        let mut cert = PeerCertificate::from_der(&der).ok()?;
        cert.fingerprint256 = self
            .with_tls(|t| {
                let suite = t.session.common().negotiated_cipher_suite()?;
                let hash = match suite {
                    SupportedCipherSuite::Tls13(s) => s.common.hash_provider,
                    SupportedCipherSuite::Tls12(s) => s.common.hash_provider,
                };
                // The fingerprint is SHA-256 whatever the suite's hash: use the
                // SHA-256 suite's provider when the suite's is SHA-384.
                (hash.algorithm() == rustls::crypto::hash::HashAlgorithm::SHA256)
                    .then(|| crate::tls::peer_certificate::colon_hex(hash.hash(&der).as_ref()))
                    .or_else(|| sha256(&der))
            })
            .unwrap_or_default();
        Some(cert)
    }

    /// The peer's certificate chain as DER, leaf first (empty before the
    /// handshake or without one).
    pub fn get_peer_certificate_chain(&self) -> Vec<Bytes> {
        self.with_live_tls(|t| {
            t.secure.then(|| {
                t.session
                    .common()
                    .peer_certificates()
                    .unwrap_or_default()
                    .iter()
                    .map(|c| Bytes::copy_from_slice(c))
                    .collect()
            })
        })
        .unwrap_or_default()
    }

    /// Node's `isSessionReused()`: whether the handshake resumed a session.
    pub fn is_session_reused(&self) -> bool {
        self.with_live_tls(|t| Some(t.session.common().handshake_kind()? == HandshakeKind::Resumed))
            .unwrap_or(false)
    }

    /// Node's `exportKeyingMaterial(length, label, context)` (RFC 8446
    /// §7.5 exporter): `length` bytes both ends of the connection agree on.
    ///
    /// # Errors
    ///
    /// `ERR_TLS_INVALID_STATE` before the handshake is done (or on a
    /// socket without TLS); `ERR_TLS_INVALID_STATE` as well over TLS 1.2,
    /// whose exporter rustls's unbuffered API does not offer (a documented
    /// gap); `ERR_OUT_OF_RANGE` for a `length` of 0 or over 255 × the hash
    /// length.
    pub fn export_keying_material(
        &self,
        length: usize,
        label: &str,
        context: Option<&[u8]>,
    ) -> Result<Vec<u8>, Error> {
        let state = || {
            Error::new(
                ErrorCode::ERR_TLS_INVALID_STATE,
                "TLS socket connection must be securely established",
            )
        };
        let (suite, secret) = self
            .with_tls(|t| {
                let suite = match t.session.common().negotiated_cipher_suite()? {
                    SupportedCipherSuite::Tls13(s) => s,
                    SupportedCipherSuite::Tls12(_) => return None,
                };
                Some((suite, t.exporter_secret.clone()?))
            })
            .filter(|_| self.with_live_tls(|t| Some(t.secure)).unwrap_or(false))
            .ok_or_else(state)?;
        crate::tls::exporter::export(suite, &secret, length, label.as_bytes(), context)
    }
}

/// SHA-256 of `der`, by whichever TLS 1.3 suite of the provider uses it.
fn sha256(der: &[u8]) -> Option<String> {
    let provider = crate::tls::context::provider().ok()?;
    provider.cipher_suites.iter().find_map(|s| match s {
        SupportedCipherSuite::Tls13(s)
            if s.common.hash_provider.algorithm()
                == rustls::crypto::hash::HashAlgorithm::SHA256 =>
        {
            Some(crate::tls::peer_certificate::colon_hex(
                s.common.hash_provider.hash(der).as_ref(),
            ))
        }
        _ => None,
    })
}
