//! rustls's protocol errors under the codes Node (OpenSSL) gives them.
//! The message follows OpenSSL's reason text; match on the code. The
//! rustls error is the `source()`.

use rustls::{AlertDescription, PeerIncompatible};

use crate::error::{Error, ErrorCode};

/// A failed handshake or record, as Node reports it. `first_bytes`: the
/// start of what the peer sent, to tell a plain HTTP request apart.
pub(crate) fn protocol_error(err: &rustls::Error, first_bytes: &[u8]) -> Error {
    use rustls::Error as E;
    let (code, message): (ErrorCode, String) = match err {
        E::InvalidMessage(_)
        | E::InappropriateMessage { .. }
        | E::InappropriateHandshakeMessage { .. }
            if looks_like_http(first_bytes) =>
        {
            (ErrorCode::ERR_SSL_HTTP_REQUEST, "http request".into())
        }
        E::InvalidMessage(_) => (
            ErrorCode::ERR_SSL_WRONG_VERSION_NUMBER,
            "wrong version number".into(),
        ),
        E::InappropriateMessage { .. } | E::InappropriateHandshakeMessage { .. } => (
            ErrorCode::ERR_SSL_UNEXPECTED_MESSAGE,
            "unexpected message".into(),
        ),
        E::DecryptError => (
            ErrorCode::ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC,
            "decryption failed or bad record mac".into(),
        ),
        E::NoApplicationProtocol => (
            ErrorCode::ERR_SSL_NO_APPLICATION_PROTOCOL,
            "no application protocol".into(),
        ),
        E::NoCertificatesPresented => (
            ErrorCode::ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE,
            "peer did not return a certificate".into(),
        ),
        E::PeerIncompatible(p) => match p {
            PeerIncompatible::NoCipherSuitesInCommon => (
                ErrorCode::ERR_SSL_NO_SHARED_CIPHER,
                "no shared cipher".into(),
            ),
            PeerIncompatible::Tls12NotOffered
            | PeerIncompatible::Tls12NotOfferedOrEnabled
            | PeerIncompatible::Tls13RequiredForQuic
            | PeerIncompatible::SupportedVersionsExtensionRequired
            | PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig => (
                ErrorCode::ERR_SSL_UNSUPPORTED_PROTOCOL,
                "unsupported protocol".into(),
            ),
            _ => (
                ErrorCode::ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE,
                format!("handshake failure ({p:?})"),
            ),
        },
        E::AlertReceived(alert) => return alert_error(*alert, err),
        _ => (
            ErrorCode::ERR_SSL_UNEXPECTED_MESSAGE,
            format!("unexpected message ({err})"),
        ),
    };
    Error::with_source(code, message, err.clone())
}

/// A fatal alert from the peer: `ERR_SSL_<OpenSSL's name>`, message ending
/// in `SSL alert number <n>` as OpenSSL's does.
fn alert_error(alert: AlertDescription, err: &rustls::Error) -> Error {
    use AlertDescription as A;
    let (code, reason) = match alert {
        A::ProtocolVersion => (
            ErrorCode::ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION,
            "tlsv1 alert protocol version",
        ),
        A::NoApplicationProtocol => (
            ErrorCode::ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL,
            "tlsv1 alert no application protocol",
        ),
        A::CertificateRequired => (
            ErrorCode::ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED,
            "tlsv13 alert certificate required",
        ),
        A::HandshakeFailure => (
            ErrorCode::ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE,
            "sslv3 alert handshake failure",
        ),
        A::BadCertificate => (
            ErrorCode::ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE,
            "sslv3 alert bad certificate",
        ),
        A::UnknownCA => (
            ErrorCode::ERR_SSL_TLSV1_ALERT_UNKNOWN_CA,
            "tlsv1 alert unknown ca",
        ),
        A::DecryptError => (
            ErrorCode::ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR,
            "tlsv1 alert decrypt error",
        ),
        A::InternalError => (
            ErrorCode::ERR_SSL_TLSV1_ALERT_INTERNAL_ERROR,
            "tlsv1 alert internal error",
        ),
        A::UnexpectedMessage => (
            ErrorCode::ERR_SSL_SSLV3_ALERT_UNEXPECTED_MESSAGE,
            "sslv3 alert unexpected message",
        ),
        A::DecodeError => (
            ErrorCode::ERR_SSL_TLSV1_ALERT_DECODE_ERROR,
            "tlsv1 alert decode error",
        ),
        A::UnrecognisedName => (
            ErrorCode::ERR_SSL_TLSV1_ALERT_UNRECOGNIZED_NAME,
            "tlsv1 unrecognized name",
        ),
        _ => (ErrorCode::ERR_SSL_TLSV1_ALERT, "tlsv1 alert"),
    };
    let number = u8::from(alert);
    Error::with_source(
        code,
        format!("{reason} ({alert:?}): SSL alert number {number}"),
        err.clone(),
    )
}

/// Whether `bytes` start like an HTTP/1 request line.
fn looks_like_http(bytes: &[u8]) -> bool {
    [
        &b"GET "[..],
        b"POST ",
        b"HEAD ",
        b"PUT ",
        b"DELETE ",
        b"OPTIONS ",
        b"PATCH ",
        b"CONNECT ",
    ]
    .iter()
    .any(|m| bytes.starts_with(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_bytes_and_http_requests_get_openssl_codes() {
        let bad = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        assert_eq!(
            protocol_error(&bad, b"blah\nblah").code(),
            "ERR_SSL_WRONG_VERSION_NUMBER"
        );
        assert_eq!(
            protocol_error(&bad, b"GET / HTTP/1.1\r\n").code(),
            "ERR_SSL_HTTP_REQUEST"
        );
    }

    #[test]
    fn alerts_name_their_number() {
        let e = protocol_error(
            &rustls::Error::AlertReceived(AlertDescription::ProtocolVersion),
            b"",
        );
        assert_eq!(e.code(), "ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION");
        assert!(
            e.message().ends_with("SSL alert number 70"),
            "{}",
            e.message()
        );
        assert!(std::error::Error::source(&e).is_some());
    }
}
