//! Certificate verification the way Node reports it: the handshake accepts
//! any chain (signatures over the handshake are still checked), and the
//! chain is judged right after it, so that `reject_unauthorized(false)`
//! can connect with `authorized() == false` and the reason in
//! `authorization_error()`, and so that the reason carries Node's code.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::SignatureScheme;
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore};

use super::peer_certificate::PeerCertificate;
use crate::error::{Error, ErrorCode};

/// The handshake's signatures are checked as usual (with the leaf's key,
/// whatever the chain's verdict): the same three methods for both
/// verifiers.
macro_rules! handshake_signatures {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.algorithms.supported_schemes()
        }
    };
}

/// Accepts the server's chain during the handshake; [`verify_server`]
/// judges it afterwards.
#[derive(Debug)]
pub(crate) struct DeferredServerVerifier {
    pub(crate) algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for DeferredServerVerifier {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    handshake_signatures!();
}

/// Asks for (and with `mandatory`, requires) a client certificate and
/// accepts any; [`verify_client`] judges it afterwards.
#[derive(Debug)]
pub(crate) struct DeferredClientVerifier {
    pub(crate) algorithms: WebPkiSupportedAlgorithms,
    pub(crate) mandatory: bool,
    pub(crate) hints: Vec<DistinguishedName>,
}

impl ClientCertVerifier for DeferredClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    handshake_signatures!();
}

/// The verifiers a verdict is reached with, built once per context from
/// its trust anchors (`None`: no anchors, nothing is trusted).
pub(crate) struct Trust {
    server: Option<Arc<WebPkiServerVerifier>>,
    client: Option<Arc<dyn ClientCertVerifier>>,
}

impl Trust {
    pub(crate) fn new(roots: RootCertStore, provider: &Arc<CryptoProvider>) -> Trust {
        let roots = Arc::new(roots);
        Trust {
            server: WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
                .build()
                .ok(),
            client: WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .ok(),
        }
    }
}

/// Judges a server's chain for `name`. `Ok(false)`: the chain is good but
/// not for `name` (the caller runs the identity check, which words the
/// error).
pub(crate) fn verify_server(
    trust: &Trust,
    chain: &[CertificateDer<'static>],
    name: &ServerName<'static>,
) -> Result<bool, Error> {
    let Some((leaf, rest)) = chain.split_first() else {
        return Err(Error::new(
            ErrorCode::UNABLE_TO_GET_ISSUER_CERT,
            "unable to get issuer certificate",
        ));
    };
    let verdict = match &trust.server {
        Some(v) => v.verify_server_cert(leaf, rest, name, &[], UnixTime::now()),
        // No trust anchors at all: nothing can be trusted.
        None => Err(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        )),
    };
    match verdict {
        Ok(_) => Ok(true),
        Err(rustls::Error::InvalidCertificate(CertificateError::NotValidForName))
        | Err(rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            ..
        })) => Ok(false),
        Err(e) => Err(chain_error(&e, chain)),
    }
}

/// Judges a client's chain; `None` is a client that sent none.
pub(crate) fn verify_client(
    trust: &Trust,
    chain: Option<&[CertificateDer<'static>]>,
) -> Result<(), Error> {
    let Some((leaf, rest)) = chain.and_then(|c| c.split_first()) else {
        // Node: a server that asked and got nothing says this.
        return Err(Error::new(
            ErrorCode::UNABLE_TO_GET_ISSUER_CERT,
            "unable to get issuer certificate",
        ));
    };
    let verdict = match &trust.client {
        Some(v) => v
            .verify_client_cert(leaf, rest, UnixTime::now())
            .map(|_| ()),
        None => Err(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        )),
    };
    verdict.map_err(|e| chain_error(&e, chain.unwrap_or_default()))
}

/// A chain failure as OpenSSL's verify code, which Node reports.
fn chain_error(err: &rustls::Error, chain: &[CertificateDer<'static>]) -> Error {
    use CertificateError as C;
    let (code, message) = match err {
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => {
            let self_signed = |der: &CertificateDer<'_>| {
                PeerCertificate::from_der(der).is_ok_and(|c| c.subject == c.issuer)
            };
            match chain {
                [leaf] if self_signed(leaf) => (
                    ErrorCode::DEPTH_ZERO_SELF_SIGNED_CERT,
                    "self-signed certificate",
                ),
                [_] => (
                    ErrorCode::UNABLE_TO_VERIFY_LEAF_SIGNATURE,
                    "unable to verify the first certificate",
                ),
                [.., root] if self_signed(root) => (
                    ErrorCode::SELF_SIGNED_CERT_IN_CHAIN,
                    "self-signed certificate in certificate chain",
                ),
                _ => (
                    ErrorCode::UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
                    "unable to get local issuer certificate",
                ),
            }
        }
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            (ErrorCode::CERT_HAS_EXPIRED, "certificate has expired")
        }
        rustls::Error::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => (
            ErrorCode::CERT_NOT_YET_VALID,
            "certificate is not yet valid",
        ),
        rustls::Error::InvalidCertificate(C::Revoked) => {
            (ErrorCode::CERT_REVOKED, "certificate revoked")
        }
        rustls::Error::InvalidCertificate(C::BadSignature) => (
            ErrorCode::CERT_SIGNATURE_FAILURE,
            "certificate signature failure",
        ),
        _ => (ErrorCode::CERT_REJECTED, "certificate rejected"),
    };
    Error::with_source(code, message, err.clone())
}
