//! The one error type, with Node's vocabulary.
//!
//! Every failure nodenet reports, whether returned from a call (`Result`) or
//! delivered to an `'error'` listener, is an [`Error`]. Its [`code()`] is the
//! string Node would put in `err.code` (`"ECONNREFUSED"`,
//! `"ERR_STREAM_WRITE_AFTER_END"`, ...), its [`syscall()`] the failing system
//! call where there is one, and the error behind it (the OS's
//! [`std::io::Error`], or any error given to [`Error::with_source`]) is its
//! [`source()`](std::error::Error::source). [`Error::msg`] and
//! [`Error::other`] make an error with no code, as Node's
//! `new Error('x')`; `io::Error::from(err)` hands one to `io` code.
//!
//! [`code()`]: Error::code
//! [`syscall()`]: Error::syscall

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

/// What went wrong, as Node names it.
///
/// System errors carry the libuv name of the `errno`; the `ERR_*` variants
/// are Node's own codes for misuse of the API. Every variant is spelled
/// exactly as Node's `err.code`, like libc's constants, so that a code read
/// in Node's documentation or in an error message is the variant to
/// `match` (hence `non_camel_case_types`). [`ErrorCode::as_str`] (and
/// `Display`) give that string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(clippy::upper_case_acronyms, non_camel_case_types)]
pub enum ErrorCode {
    /// Connection refused (`ECONNREFUSED`).
    ECONNREFUSED,
    /// Connection reset by peer (`ECONNRESET`).
    ECONNRESET,
    /// Connection aborted (`ECONNABORTED`).
    ECONNABORTED,
    /// Address already in use (`EADDRINUSE`).
    EADDRINUSE,
    /// Address not available (`EADDRNOTAVAIL`).
    EADDRNOTAVAIL,
    /// Permission denied (`EACCES`).
    EACCES,
    /// Broken pipe: writing to a connection the peer closed (`EPIPE`).
    EPIPE,
    /// Timed out (`ETIMEDOUT`).
    ETIMEDOUT,
    /// Host name not found (`ENOTFOUND`).
    ENOTFOUND,
    /// Temporary name resolution failure (`EAI_AGAIN`).
    EAI_AGAIN,
    /// Network unreachable (`ENETUNREACH`).
    ENETUNREACH,
    /// Host unreachable (`EHOSTUNREACH`).
    EHOSTUNREACH,
    /// Socket not connected (`ENOTCONN`).
    ENOTCONN,
    /// Too many open files in this process (`EMFILE`).
    EMFILE,
    /// Too many open files in the system (`ENFILE`).
    ENFILE,
    /// No buffer space available (`ENOBUFS`).
    ENOBUFS,
    /// Address family not supported (`EAFNOSUPPORT`).
    EAFNOSUPPORT,
    /// Invalid argument at the system level (`EINVAL`).
    EINVAL,
    /// No such file or directory: a Unix socket path that does not exist
    /// (`ENOENT`).
    ENOENT,
    /// Any other system error; `errno()` holds the number.
    UNKNOWN,
    /// `write()` after our own `end()` (`ERR_STREAM_WRITE_AFTER_END`).
    ERR_STREAM_WRITE_AFTER_END,
    /// `write()`/`end()` after `destroy()`, or writes discarded by it (`ERR_STREAM_DESTROYED`).
    ERR_STREAM_DESTROYED,
    /// A port outside 0..=65535 or not a number (`ERR_SOCKET_BAD_PORT`).
    ERR_SOCKET_BAD_PORT,
    /// `listen()` while already listening (`ERR_SERVER_ALREADY_LISTEN`).
    ERR_SERVER_ALREADY_LISTEN,
    /// `close()` on a server that is not listening (`ERR_SERVER_NOT_RUNNING`).
    ERR_SERVER_NOT_RUNNING,
    /// An operation on a socket that has no connection (`ERR_SOCKET_CLOSED`).
    ERR_SOCKET_CLOSED,
    /// A queued write whose socket was destroyed while connecting (`ERR_SOCKET_CLOSED_BEFORE_CONNECTION`).
    ERR_SOCKET_CLOSED_BEFORE_CONNECTION,
    /// An argument of the right type but a wrong value (`ERR_INVALID_ARG_VALUE`).
    ERR_INVALID_ARG_VALUE,
    /// An argument of the wrong type, e.g. a listener of the wrong shape (`ERR_INVALID_ARG_TYPE`).
    ERR_INVALID_ARG_TYPE,
    /// A required argument is missing (`ERR_MISSING_ARGS`).
    ERR_MISSING_ARGS,
    /// A string that should be an IP address is not one (`ERR_INVALID_IP_ADDRESS`).
    ERR_INVALID_IP_ADDRESS,
    /// A numeric argument out of its range (`ERR_OUT_OF_RANGE`).
    ERR_OUT_OF_RANGE,
    /// Every connection attempt timed out (`ERR_SOCKET_CONNECTION_TIMEOUT`).
    ERR_SOCKET_CONNECTION_TIMEOUT,
    /// An encoding name Node does not know (`ERR_UNKNOWN_ENCODING`).
    ERR_UNKNOWN_ENCODING,
    /// A connection to an address of a block list (`ERR_IP_BLOCKED`).
    ERR_IP_BLOCKED,
    /// TLS: the peer's certificate is self-signed and not trusted (`DEPTH_ZERO_SELF_SIGNED_CERT`).
    DEPTH_ZERO_SELF_SIGNED_CERT,
    /// TLS: the chain ends in a self-signed root that is not trusted (`SELF_SIGNED_CERT_IN_CHAIN`).
    SELF_SIGNED_CERT_IN_CHAIN,
    /// TLS: the leaf's issuer is not trusted and no chain was sent (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`).
    UNABLE_TO_VERIFY_LEAF_SIGNATURE,
    /// TLS: the chain's root is not trusted (`UNABLE_TO_GET_ISSUER_CERT_LOCALLY`).
    UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
    /// TLS: no issuer certificate, e.g. a client that sent none (`UNABLE_TO_GET_ISSUER_CERT`).
    UNABLE_TO_GET_ISSUER_CERT,
    /// TLS: a certificate of the chain has expired (`CERT_HAS_EXPIRED`).
    CERT_HAS_EXPIRED,
    /// TLS: a certificate of the chain is not valid yet (`CERT_NOT_YET_VALID`).
    CERT_NOT_YET_VALID,
    /// TLS: a certificate of the chain is revoked (`CERT_REVOKED`).
    CERT_REVOKED,
    /// TLS: a certificate's signature does not verify (`CERT_SIGNATURE_FAILURE`).
    CERT_SIGNATURE_FAILURE,
    /// TLS: the certificate is unusable for another reason (`CERT_REJECTED`).
    CERT_REJECTED,
    /// TLS: the certificate is not for the host name or IP (`ERR_TLS_CERT_ALTNAME_INVALID`).
    ERR_TLS_CERT_ALTNAME_INVALID,
    /// TLS: the handshake took longer than `handshake_timeout` (`ERR_TLS_HANDSHAKE_TIMEOUT`).
    ERR_TLS_HANDSHAKE_TIMEOUT,
    /// TLS: the call needs a finished handshake (`ERR_TLS_INVALID_STATE`).
    ERR_TLS_INVALID_STATE,
    /// TLS: a version name Node does not know (`ERR_TLS_INVALID_PROTOCOL_VERSION`).
    ERR_TLS_INVALID_PROTOCOL_VERSION,
    /// TLS: a secure context that cannot be built (`ERR_TLS_INVALID_CONTEXT`).
    ERR_TLS_INVALID_CONTEXT,
    /// TLS: `add_context` without a host name (`ERR_TLS_REQUIRED_SERVER_NAME`).
    ERR_TLS_REQUIRED_SERVER_NAME,
    /// A TCP-only call on another handle, e.g. `reset_and_destroy()` on a TLS socket (`ERR_INVALID_HANDLE_TYPE`).
    ERR_INVALID_HANDLE_TYPE,
    /// TLS: PEM input with no certificate or key in it (`ERR_OSSL_PEM_NO_START_LINE`).
    ERR_OSSL_PEM_NO_START_LINE,
    /// TLS: a key in a form that cannot be read (`ERR_OSSL_UNSUPPORTED`).
    ERR_OSSL_UNSUPPORTED,
    /// TLS: the key does not belong to the certificate (`ERR_OSSL_X509_KEY_VALUES_MISMATCH`).
    ERR_OSSL_X509_KEY_VALUES_MISMATCH,
    /// TLS: bytes that are not a TLS record (`ERR_SSL_WRONG_VERSION_NUMBER`).
    ERR_SSL_WRONG_VERSION_NUMBER,
    /// TLS: a plain HTTP request sent to a TLS server (`ERR_SSL_HTTP_REQUEST`).
    ERR_SSL_HTTP_REQUEST,
    /// TLS server: no ALPN protocol in common (`ERR_SSL_NO_APPLICATION_PROTOCOL`).
    ERR_SSL_NO_APPLICATION_PROTOCOL,
    /// TLS server: no protocol version in common (`ERR_SSL_UNSUPPORTED_PROTOCOL`).
    ERR_SSL_UNSUPPORTED_PROTOCOL,
    /// TLS server: no cipher suite in common (`ERR_SSL_NO_SHARED_CIPHER`).
    ERR_SSL_NO_SHARED_CIPHER,
    /// TLS server: a required client certificate was not sent (`ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE`).
    ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE,
    /// TLS: a record that does not decrypt (`ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC`).
    ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC,
    /// TLS: a message out of order or malformed (`ERR_SSL_UNEXPECTED_MESSAGE`).
    ERR_SSL_UNEXPECTED_MESSAGE,
    /// TLS: the peer sent alert 70, no common version (`ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION`).
    ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION,
    /// TLS: the peer sent alert 120, no common ALPN protocol (`ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL`).
    ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL,
    /// TLS: the peer sent alert 116, certificate required (`ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED`).
    ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED,
    /// TLS: the peer sent alert 40, handshake failure (`ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE`).
    ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE,
    /// TLS: the peer sent alert 42, bad certificate (`ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE`).
    ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE,
    /// TLS: the peer sent alert 48, unknown CA (`ERR_SSL_TLSV1_ALERT_UNKNOWN_CA`).
    ERR_SSL_TLSV1_ALERT_UNKNOWN_CA,
    /// TLS: the peer sent alert 51, decrypt error (`ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR`).
    ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR,
    /// TLS: the peer sent alert 80, internal error (`ERR_SSL_TLSV1_ALERT_INTERNAL_ERROR`).
    ERR_SSL_TLSV1_ALERT_INTERNAL_ERROR,
    /// TLS: the peer sent alert 10, unexpected message (`ERR_SSL_SSLV3_ALERT_UNEXPECTED_MESSAGE`).
    ERR_SSL_SSLV3_ALERT_UNEXPECTED_MESSAGE,
    /// TLS: the peer sent alert 50, decode error (`ERR_SSL_TLSV1_ALERT_DECODE_ERROR`).
    ERR_SSL_TLSV1_ALERT_DECODE_ERROR,
    /// TLS: the peer sent alert 112, unrecognized name (`ERR_SSL_TLSV1_ALERT_UNRECOGNIZED_NAME`).
    ERR_SSL_TLSV1_ALERT_UNRECOGNIZED_NAME,
    /// TLS: the peer sent another fatal alert; the message names it (`ERR_SSL_TLSV1_ALERT`).
    ERR_SSL_TLSV1_ALERT,
    /// No code: an error made by user code ([`Error::msg`],
    /// [`Error::other`]), as Node's `new Error('x')` whose `err.code` is
    /// `undefined`. Its string is empty.
    NO_CODE,
}

impl ErrorCode {
    /// Every code, in declaration order.
    const ALL: &'static [ErrorCode] = &[
        ErrorCode::ECONNREFUSED,
        ErrorCode::ECONNRESET,
        ErrorCode::ECONNABORTED,
        ErrorCode::EADDRINUSE,
        ErrorCode::EADDRNOTAVAIL,
        ErrorCode::EACCES,
        ErrorCode::EPIPE,
        ErrorCode::ETIMEDOUT,
        ErrorCode::ENOTFOUND,
        ErrorCode::EAI_AGAIN,
        ErrorCode::ENETUNREACH,
        ErrorCode::EHOSTUNREACH,
        ErrorCode::ENOTCONN,
        ErrorCode::EMFILE,
        ErrorCode::ENFILE,
        ErrorCode::ENOBUFS,
        ErrorCode::EAFNOSUPPORT,
        ErrorCode::EINVAL,
        ErrorCode::ENOENT,
        ErrorCode::UNKNOWN,
        ErrorCode::ERR_STREAM_WRITE_AFTER_END,
        ErrorCode::ERR_STREAM_DESTROYED,
        ErrorCode::ERR_SOCKET_BAD_PORT,
        ErrorCode::ERR_SERVER_ALREADY_LISTEN,
        ErrorCode::ERR_SERVER_NOT_RUNNING,
        ErrorCode::ERR_SOCKET_CLOSED,
        ErrorCode::ERR_SOCKET_CLOSED_BEFORE_CONNECTION,
        ErrorCode::ERR_INVALID_ARG_VALUE,
        ErrorCode::ERR_INVALID_ARG_TYPE,
        ErrorCode::ERR_MISSING_ARGS,
        ErrorCode::ERR_INVALID_IP_ADDRESS,
        ErrorCode::ERR_OUT_OF_RANGE,
        ErrorCode::ERR_SOCKET_CONNECTION_TIMEOUT,
        ErrorCode::ERR_UNKNOWN_ENCODING,
        ErrorCode::ERR_IP_BLOCKED,
        ErrorCode::DEPTH_ZERO_SELF_SIGNED_CERT,
        ErrorCode::SELF_SIGNED_CERT_IN_CHAIN,
        ErrorCode::UNABLE_TO_VERIFY_LEAF_SIGNATURE,
        ErrorCode::UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
        ErrorCode::UNABLE_TO_GET_ISSUER_CERT,
        ErrorCode::CERT_HAS_EXPIRED,
        ErrorCode::CERT_NOT_YET_VALID,
        ErrorCode::CERT_REVOKED,
        ErrorCode::CERT_SIGNATURE_FAILURE,
        ErrorCode::CERT_REJECTED,
        ErrorCode::ERR_TLS_CERT_ALTNAME_INVALID,
        ErrorCode::ERR_TLS_HANDSHAKE_TIMEOUT,
        ErrorCode::ERR_TLS_INVALID_STATE,
        ErrorCode::ERR_TLS_INVALID_PROTOCOL_VERSION,
        ErrorCode::ERR_TLS_INVALID_CONTEXT,
        ErrorCode::ERR_TLS_REQUIRED_SERVER_NAME,
        ErrorCode::ERR_INVALID_HANDLE_TYPE,
        ErrorCode::ERR_OSSL_PEM_NO_START_LINE,
        ErrorCode::ERR_OSSL_UNSUPPORTED,
        ErrorCode::ERR_OSSL_X509_KEY_VALUES_MISMATCH,
        ErrorCode::ERR_SSL_WRONG_VERSION_NUMBER,
        ErrorCode::ERR_SSL_HTTP_REQUEST,
        ErrorCode::ERR_SSL_NO_APPLICATION_PROTOCOL,
        ErrorCode::ERR_SSL_UNSUPPORTED_PROTOCOL,
        ErrorCode::ERR_SSL_NO_SHARED_CIPHER,
        ErrorCode::ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE,
        ErrorCode::ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC,
        ErrorCode::ERR_SSL_UNEXPECTED_MESSAGE,
        ErrorCode::ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION,
        ErrorCode::ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL,
        ErrorCode::ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED,
        ErrorCode::ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE,
        ErrorCode::ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE,
        ErrorCode::ERR_SSL_TLSV1_ALERT_UNKNOWN_CA,
        ErrorCode::ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR,
        ErrorCode::ERR_SSL_TLSV1_ALERT_INTERNAL_ERROR,
        ErrorCode::ERR_SSL_SSLV3_ALERT_UNEXPECTED_MESSAGE,
        ErrorCode::ERR_SSL_TLSV1_ALERT_DECODE_ERROR,
        ErrorCode::ERR_SSL_TLSV1_ALERT_UNRECOGNIZED_NAME,
        ErrorCode::ERR_SSL_TLSV1_ALERT,
        ErrorCode::NO_CODE,
    ];

    /// The exact string Node uses for `err.code`.
    ///
    /// # Examples
    ///
    /// ```
    /// use nodenet::ErrorCode;
    /// assert_eq!(ErrorCode::ECONNREFUSED.as_str(), "ECONNREFUSED");
    /// assert_eq!(ErrorCode::ERR_STREAM_WRITE_AFTER_END.as_str(), "ERR_STREAM_WRITE_AFTER_END");
    /// ```
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            ECONNREFUSED => "ECONNREFUSED",
            ECONNRESET => "ECONNRESET",
            ECONNABORTED => "ECONNABORTED",
            EADDRINUSE => "EADDRINUSE",
            EADDRNOTAVAIL => "EADDRNOTAVAIL",
            EACCES => "EACCES",
            EPIPE => "EPIPE",
            ETIMEDOUT => "ETIMEDOUT",
            ENOTFOUND => "ENOTFOUND",
            EAI_AGAIN => "EAI_AGAIN",
            ENETUNREACH => "ENETUNREACH",
            EHOSTUNREACH => "EHOSTUNREACH",
            ENOTCONN => "ENOTCONN",
            EMFILE => "EMFILE",
            ENFILE => "ENFILE",
            ENOBUFS => "ENOBUFS",
            EAFNOSUPPORT => "EAFNOSUPPORT",
            EINVAL => "EINVAL",
            ENOENT => "ENOENT",
            UNKNOWN => "UNKNOWN",
            ERR_STREAM_WRITE_AFTER_END => "ERR_STREAM_WRITE_AFTER_END",
            ERR_STREAM_DESTROYED => "ERR_STREAM_DESTROYED",
            ERR_SOCKET_BAD_PORT => "ERR_SOCKET_BAD_PORT",
            ERR_SERVER_ALREADY_LISTEN => "ERR_SERVER_ALREADY_LISTEN",
            ERR_SERVER_NOT_RUNNING => "ERR_SERVER_NOT_RUNNING",
            ERR_SOCKET_CLOSED => "ERR_SOCKET_CLOSED",
            ERR_SOCKET_CLOSED_BEFORE_CONNECTION => "ERR_SOCKET_CLOSED_BEFORE_CONNECTION",
            ERR_INVALID_ARG_VALUE => "ERR_INVALID_ARG_VALUE",
            ERR_INVALID_ARG_TYPE => "ERR_INVALID_ARG_TYPE",
            ERR_MISSING_ARGS => "ERR_MISSING_ARGS",
            ERR_INVALID_IP_ADDRESS => "ERR_INVALID_IP_ADDRESS",
            ERR_OUT_OF_RANGE => "ERR_OUT_OF_RANGE",
            ERR_SOCKET_CONNECTION_TIMEOUT => "ERR_SOCKET_CONNECTION_TIMEOUT",
            ERR_UNKNOWN_ENCODING => "ERR_UNKNOWN_ENCODING",
            ERR_IP_BLOCKED => "ERR_IP_BLOCKED",
            DEPTH_ZERO_SELF_SIGNED_CERT => "DEPTH_ZERO_SELF_SIGNED_CERT",
            SELF_SIGNED_CERT_IN_CHAIN => "SELF_SIGNED_CERT_IN_CHAIN",
            UNABLE_TO_VERIFY_LEAF_SIGNATURE => "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
            UNABLE_TO_GET_ISSUER_CERT_LOCALLY => "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
            UNABLE_TO_GET_ISSUER_CERT => "UNABLE_TO_GET_ISSUER_CERT",
            CERT_HAS_EXPIRED => "CERT_HAS_EXPIRED",
            CERT_NOT_YET_VALID => "CERT_NOT_YET_VALID",
            CERT_REVOKED => "CERT_REVOKED",
            CERT_SIGNATURE_FAILURE => "CERT_SIGNATURE_FAILURE",
            CERT_REJECTED => "CERT_REJECTED",
            ERR_TLS_CERT_ALTNAME_INVALID => "ERR_TLS_CERT_ALTNAME_INVALID",
            ERR_TLS_HANDSHAKE_TIMEOUT => "ERR_TLS_HANDSHAKE_TIMEOUT",
            ERR_TLS_INVALID_STATE => "ERR_TLS_INVALID_STATE",
            ERR_TLS_INVALID_PROTOCOL_VERSION => "ERR_TLS_INVALID_PROTOCOL_VERSION",
            ERR_TLS_INVALID_CONTEXT => "ERR_TLS_INVALID_CONTEXT",
            ERR_TLS_REQUIRED_SERVER_NAME => "ERR_TLS_REQUIRED_SERVER_NAME",
            ERR_INVALID_HANDLE_TYPE => "ERR_INVALID_HANDLE_TYPE",
            ERR_OSSL_PEM_NO_START_LINE => "ERR_OSSL_PEM_NO_START_LINE",
            ERR_OSSL_UNSUPPORTED => "ERR_OSSL_UNSUPPORTED",
            ERR_OSSL_X509_KEY_VALUES_MISMATCH => "ERR_OSSL_X509_KEY_VALUES_MISMATCH",
            ERR_SSL_WRONG_VERSION_NUMBER => "ERR_SSL_WRONG_VERSION_NUMBER",
            ERR_SSL_HTTP_REQUEST => "ERR_SSL_HTTP_REQUEST",
            ERR_SSL_NO_APPLICATION_PROTOCOL => "ERR_SSL_NO_APPLICATION_PROTOCOL",
            ERR_SSL_UNSUPPORTED_PROTOCOL => "ERR_SSL_UNSUPPORTED_PROTOCOL",
            ERR_SSL_NO_SHARED_CIPHER => "ERR_SSL_NO_SHARED_CIPHER",
            ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE => {
                "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE"
            }
            ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC => {
                "ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC"
            }
            ERR_SSL_UNEXPECTED_MESSAGE => "ERR_SSL_UNEXPECTED_MESSAGE",
            ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION => "ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION",
            ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL => {
                "ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL"
            }
            ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED => {
                "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED"
            }
            ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE => "ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE",
            ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE => "ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE",
            ERR_SSL_TLSV1_ALERT_UNKNOWN_CA => "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA",
            ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR => "ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR",
            ERR_SSL_TLSV1_ALERT_INTERNAL_ERROR => "ERR_SSL_TLSV1_ALERT_INTERNAL_ERROR",
            ERR_SSL_SSLV3_ALERT_UNEXPECTED_MESSAGE => "ERR_SSL_SSLV3_ALERT_UNEXPECTED_MESSAGE",
            ERR_SSL_TLSV1_ALERT_DECODE_ERROR => "ERR_SSL_TLSV1_ALERT_DECODE_ERROR",
            ERR_SSL_TLSV1_ALERT_UNRECOGNIZED_NAME => "ERR_SSL_TLSV1_ALERT_UNRECOGNIZED_NAME",
            ERR_SSL_TLSV1_ALERT => "ERR_SSL_TLSV1_ALERT",
            NO_CODE => "",
        }
    }

    /// The Linux errno (positive) behind a system error code, if it has one.
    fn errno(self) -> Option<i32> {
        use ErrorCode::*;
        Some(match self {
            ECONNREFUSED => 111,
            ECONNRESET => 104,
            ECONNABORTED => 103,
            EADDRINUSE => 98,
            EADDRNOTAVAIL => 99,
            EACCES => 13,
            EPIPE => 32,
            ETIMEDOUT => 110,
            ENETUNREACH => 101,
            EHOSTUNREACH => 113,
            ENOTCONN => 107,
            EMFILE => 24,
            ENFILE => 23,
            ENOBUFS => 105,
            EAFNOSUPPORT => 97,
            EINVAL => 22,
            ENOENT => 2,
            _ => return None,
        })
    }

    fn from_io(err: &io::Error) -> ErrorCode {
        use ErrorCode::*;
        if let Some(n) = err.raw_os_error() {
            // Linux errno values (mio's platforms share these for the codes below
            // only on Linux; elsewhere we fall back to the ErrorKind mapping).
            #[cfg(target_os = "linux")]
            {
                let by_errno = match n {
                    111 => Some(ECONNREFUSED),
                    104 => Some(ECONNRESET),
                    103 => Some(ECONNABORTED),
                    98 => Some(EADDRINUSE),
                    99 => Some(EADDRNOTAVAIL),
                    13 | 1 => Some(EACCES),
                    32 => Some(EPIPE),
                    110 => Some(ETIMEDOUT),
                    101 => Some(ENETUNREACH),
                    113 => Some(EHOSTUNREACH),
                    107 => Some(ENOTCONN),
                    24 => Some(EMFILE),
                    23 => Some(ENFILE),
                    105 => Some(ENOBUFS),
                    97 => Some(EAFNOSUPPORT),
                    22 => Some(EINVAL),
                    2 => Some(ENOENT),
                    _ => None,
                };
                if let Some(code) = by_errno {
                    return code;
                }
            }
            let _ = n;
        }
        match err.kind() {
            io::ErrorKind::ConnectionRefused => ECONNREFUSED,
            io::ErrorKind::ConnectionReset => ECONNRESET,
            io::ErrorKind::ConnectionAborted => ECONNABORTED,
            io::ErrorKind::AddrInUse => EADDRINUSE,
            io::ErrorKind::AddrNotAvailable => EADDRNOTAVAIL,
            io::ErrorKind::PermissionDenied => EACCES,
            io::ErrorKind::BrokenPipe => EPIPE,
            io::ErrorKind::TimedOut => ETIMEDOUT,
            io::ErrorKind::NotConnected => ENOTCONN,
            io::ErrorKind::HostUnreachable => EHOSTUNREACH,
            io::ErrorKind::NetworkUnreachable => ENETUNREACH,
            io::ErrorKind::InvalidInput => EINVAL,
            io::ErrorKind::NotFound => ENOENT,
            _ => UNKNOWN,
        }
    }
}

impl fmt::Display for ErrorCode {
    /// Node's `err.code` string, as [`as_str`](ErrorCode::as_str).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ErrorCode {
    type Err = Error;

    /// The variant whose Node code is `s` exactly (`"ECONNREFUSED"`,
    /// `"ERR_SOCKET_BAD_PORT"`, ...): `Display` read back.
    ///
    /// # Errors
    ///
    /// `ERR_INVALID_ARG_VALUE` for a string that is not one of nodenet's
    /// codes.
    ///
    /// # Examples
    ///
    /// ```
    /// use nodenet::ErrorCode;
    /// assert_eq!("EPIPE".parse::<ErrorCode>().unwrap(), ErrorCode::EPIPE);
    /// assert_eq!(ErrorCode::ERR_IP_BLOCKED.to_string(), "ERR_IP_BLOCKED");
    /// ```
    fn from_str(s: &str) -> Result<ErrorCode, Error> {
        ErrorCode::ALL
            .iter()
            .copied()
            .find(|code| code.as_str() == s)
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::ERR_INVALID_ARG_VALUE,
                    format!("Unknown error code: '{s}'"),
                )
            })
    }
}

/// A nodenet error: Node's `err.code`, `err.syscall`, `err.address`,
/// `err.port` and message, with the error behind it (the OS error, or any
/// `std::error::Error` given to [`with_source`](Error::with_source) or
/// [`other`](Error::other)) as its source.
///
/// Cheap to clone (the source is shared), `Send + Sync`, so it can be kept
/// in an error history or returned from [`run`](crate::run). Converts into
/// an `io::Error` whose kind follows the code (`ECONNREFUSED` →
/// `ConnectionRefused`, ...) and whose inner error is this one.
///
/// # Examples
///
/// ```
/// use nodenet::{tcp, ErrorCode};
/// let err = tcp::connect(70000, "127.0.0.1", |_: &nodenet::Socket| {}).unwrap_err();
/// assert_eq!(err.code(), "ERR_SOCKET_BAD_PORT");
/// assert_eq!(err.kind(), ErrorCode::ERR_SOCKET_BAD_PORT);
/// ```
#[derive(Clone)]
pub struct Error {
    kind: ErrorCode,
    message: String,
    syscall: Option<&'static str>,
    address: Option<String>,
    port: Option<u16>,
    hostname: Option<String>,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    /// The failures behind an aggregate error (Node's `AggregateError`).
    /// (An `Arc<Vec>`, a thin pointer, keeps `Error` within 128 bytes.)
    errors: Option<Arc<Vec<Error>>>,
}

impl Error {
    /// An error with Node's code and message and nothing else.
    pub fn new(kind: ErrorCode, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            syscall: None,
            address: None,
            port: None,
            hostname: None,
            source: None,
            errors: None,
        }
    }

    /// An error with Node's code and message, caused by `source` (any
    /// error: an `io::Error`, a parse error, a nodenet `Error`, ...), which
    /// [`source()`](std::error::Error::source) returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use nodenet::{Error, ErrorCode};
    /// let cause = "x".parse::<u16>().unwrap_err();
    /// let err = Error::with_source(ErrorCode::ERR_SOCKET_BAD_PORT, "bad port 'x'", cause);
    /// assert_eq!(err.code(), "ERR_SOCKET_BAD_PORT");
    /// assert!(std::error::Error::source(&err).is_some());
    /// ```
    pub fn with_source(
        kind: ErrorCode,
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Error {
        let mut err = Error::new(kind, message);
        err.source = Some(Arc::from(source.into()));
        err
    }

    /// An error with a message and no code, as Node's `new Error('x')`:
    /// for user code that fails a socket (`destroy_with`) or reports its
    /// own failure. [`code()`](Error::code) is `""` and
    /// [`kind()`](Error::kind) is [`ErrorCode::NO_CODE`].
    ///
    /// # Examples
    ///
    /// ```
    /// use nodenet::{Error, ErrorCode};
    /// let err = Error::msg("the peer sent garbage");
    /// assert_eq!((err.code(), err.kind()), ("", ErrorCode::NO_CODE));
    /// assert_eq!(err.to_string(), "the peer sent garbage");
    /// ```
    pub fn msg(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::NO_CODE, message)
    }

    /// An error with no code wrapping `source` (its message is the
    /// source's), as `io::Error::other`: for handing any error to an
    /// `'error'` listener or to `destroy_with`.
    pub fn other(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
        let source: Arc<dyn std::error::Error + Send + Sync> = Arc::from(source.into());
        let mut err = Error::msg(source.to_string());
        err.source = Some(source);
        err
    }

    /// A system error from `syscall`, formatted as Node does:
    /// `"<syscall> <CODE>"`, plus `" <address>:<port>"` when an address is given.
    pub fn from_io(err: io::Error, syscall: &'static str, addr: Option<SocketAddr>) -> Error {
        let kind = ErrorCode::from_io(&err);
        let code = if kind == ErrorCode::UNKNOWN {
            format!("UNKNOWN ({err})")
        } else {
            kind.as_str().to_string()
        };
        let mut message = format!("{syscall} {code}");
        if syscall == "listen" && kind == ErrorCode::EADDRINUSE {
            message.push_str(": address already in use");
        }
        let (address, port) = match addr {
            Some(a) => {
                let ip = a.ip().to_string();
                message.push_str(&format!(" {}:{}", ip, a.port()));
                (Some(ip), Some(a.port()))
            }
            None => (None, None),
        };
        Error {
            kind,
            message,
            syscall: Some(syscall),
            address,
            port,
            hostname: None,
            source: Some(Arc::new(err)),
            errors: None,
        }
    }

    /// A system error on a Unix socket path, formatted as Node does:
    /// `"connect ENOENT <path>"`, `"listen EADDRINUSE: address already in
    /// use <path>"`; `address()` is the path, and there is no port.
    pub(crate) fn from_io_path(err: io::Error, syscall: &'static str, path: &str) -> Error {
        let mut e = Error::from_io(err, syscall, None);
        e.message.push(' ');
        e.message.push_str(path);
        e.address = Some(path.to_string());
        e
    }

    /// A name resolution failure: `getaddrinfo ENOTFOUND <host>`, with
    /// `hostname()` set and no address or port (as in Node).
    pub(crate) fn lookup(err: Option<io::Error>, host: &str) -> Error {
        let kind = match &err {
            Some(e) if e.kind() == io::ErrorKind::WouldBlock => ErrorCode::EAI_AGAIN,
            _ => ErrorCode::ENOTFOUND,
        };
        Error {
            kind,
            message: format!("getaddrinfo {} {host}", kind.as_str()),
            syscall: Some("getaddrinfo"),
            address: None,
            port: None,
            hostname: Some(host.to_string()),
            source: err.map(|e| Arc::new(e) as Arc<dyn std::error::Error + Send + Sync>),
            errors: None,
        }
    }

    /// Adds the local end of a failed connect, as Node does:
    /// `" - Local (addr:port)"`.
    /// Node's `host` and `port` properties (a TLS client's connection
    /// lost during its handshake).
    #[cfg(feature = "tls")]
    pub(crate) fn with_host_port(mut self, host: String, port: u16) -> Error {
        self.address = Some(host.clone());
        self.hostname = Some(host);
        self.port = Some(port);
        self
    }

    pub(crate) fn with_local(mut self, local: SocketAddr) -> Error {
        self.message
            .push_str(&format!(" - Local ({}:{})", local.ip(), local.port()));
        self
    }

    /// Every connection attempt failed: one error standing for them all,
    /// with the first one's code (Node's `AggregateError`) and each one in
    /// [`errors`](Error::errors).
    pub(crate) fn aggregate(errors: Vec<Error>) -> Error {
        let kind = errors.first().map_or(ErrorCode::UNKNOWN, |e| e.kind);
        let message = errors
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        let mut err = Error::new(kind, message);
        err.errors = Some(Arc::new(errors));
        err
    }

    /// The individual failures behind an aggregate error (every connection
    /// attempt of happy eyeballs); empty for any other error.
    pub fn errors(&self) -> &[Error] {
        self.errors.as_deref().map_or(&[], Vec::as_slice)
    }

    pub(crate) fn bad_port(what: impl fmt::Display) -> Error {
        Error::new(
            ErrorCode::ERR_SOCKET_BAD_PORT,
            format!("Port should be >= 0 and < 65536. Received {what}."),
        )
    }

    pub(crate) fn write_after_end() -> Error {
        Error::new(ErrorCode::ERR_STREAM_WRITE_AFTER_END, "write after end")
    }

    pub(crate) fn destroyed(op: &str) -> Error {
        Error::new(
            ErrorCode::ERR_STREAM_DESTROYED,
            format!("Cannot call {op} after a stream was destroyed"),
        )
    }

    pub(crate) fn ended_by_peer() -> Error {
        Error::new(
            ErrorCode::EPIPE,
            "This socket has been ended by the other party",
        )
    }

    /// Node's `err.code`: `"ECONNREFUSED"`, `"ERR_STREAM_WRITE_AFTER_END"`,
    /// ...; `""` for an error with no code ([`Error::msg`]).
    pub fn code(&self) -> &'static str {
        self.kind.as_str()
    }

    /// The code as an enum, for `match`.
    pub fn kind(&self) -> ErrorCode {
        self.kind
    }

    /// The human message, as Node formats `err.message`.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The failing system call (`"connect"`, `"read"`, `"write"`, `"listen"`,
    /// `"bind"`, `"getaddrinfo"`), for system errors.
    pub fn syscall(&self) -> Option<&'static str> {
        self.syscall
    }

    /// Node's `err.errno`: the negative libuv error number (e.g. -111 for
    /// ECONNREFUSED on Linux), for system errors.
    pub fn errno(&self) -> Option<i32> {
        self.syscall?;
        match self.kind.errno() {
            Some(n) => Some(-n),
            None => self
                .io_error()
                .and_then(io::Error::raw_os_error)
                .map(|n| -n),
        }
    }

    /// The remote (or bound) address involved, as Node's `err.address`.
    pub fn address(&self) -> Option<&str> {
        self.address.as_deref()
    }

    /// The port involved, as Node's `err.port`.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The host name that failed to resolve, as Node's `err.hostname`.
    pub fn hostname(&self) -> Option<&str> {
        self.hostname.as_deref()
    }

    /// The OS error behind a system error (the source, when it is an
    /// `io::Error`).
    pub fn io_error(&self) -> Option<&io::Error> {
        self.source.as_deref()?.downcast_ref::<io::Error>()
    }

    /// The `io::ErrorKind` that stands for this error's code, as
    /// `io::Error::from(err)` uses it.
    fn io_kind(&self) -> io::ErrorKind {
        use io::ErrorKind as K;
        use ErrorCode::*;
        match self.kind {
            ECONNREFUSED => K::ConnectionRefused,
            ECONNRESET => K::ConnectionReset,
            ECONNABORTED => K::ConnectionAborted,
            EADDRINUSE => K::AddrInUse,
            EADDRNOTAVAIL => K::AddrNotAvailable,
            EACCES | ERR_IP_BLOCKED => K::PermissionDenied,
            EPIPE | ERR_STREAM_WRITE_AFTER_END | ERR_STREAM_DESTROYED => K::BrokenPipe,
            ETIMEDOUT | ERR_SOCKET_CONNECTION_TIMEOUT => K::TimedOut,
            ENOTCONN | ERR_SOCKET_CLOSED | ERR_SOCKET_CLOSED_BEFORE_CONNECTION => K::NotConnected,
            // HostUnreachable and NetworkUnreachable are newer than the
            // MSRV (1.83): the OS error's own kind, when there is one.
            EHOSTUNREACH | ENETUNREACH => self.io_error().map_or(K::Other, io::Error::kind),
            ENOBUFS => K::OutOfMemory,
            ENOENT => K::NotFound,
            EAFNOSUPPORT => K::Unsupported,
            EINVAL
            | ERR_SOCKET_BAD_PORT
            | ERR_INVALID_ARG_VALUE
            | ERR_INVALID_ARG_TYPE
            | ERR_MISSING_ARGS
            | ERR_INVALID_IP_ADDRESS
            | ERR_OUT_OF_RANGE
            | ERR_UNKNOWN_ENCODING => K::InvalidInput,
            UNKNOWN => self.io_error().map_or(K::Other, io::Error::kind),
            ENOTFOUND
            | EAI_AGAIN
            | EMFILE
            | ENFILE
            | ERR_SERVER_ALREADY_LISTEN
            | ERR_SERVER_NOT_RUNNING
            | NO_CODE => K::Other,
            ERR_INVALID_HANDLE_TYPE
            | ERR_TLS_INVALID_PROTOCOL_VERSION
            | ERR_TLS_REQUIRED_SERVER_NAME
            | ERR_TLS_INVALID_CONTEXT
            | ERR_OSSL_PEM_NO_START_LINE
            | ERR_OSSL_UNSUPPORTED
            | ERR_OSSL_X509_KEY_VALUES_MISMATCH => K::InvalidInput,
            ERR_TLS_HANDSHAKE_TIMEOUT => K::TimedOut,
            ERR_TLS_INVALID_STATE => K::NotConnected,
            // Certificate verdicts and TLS protocol failures.
            _ => K::InvalidData,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("code", &self.code())
            .field("message", &self.message);
        if let Some(s) = self.syscall {
            d.field("syscall", &s);
        }
        if let Some(a) = &self.address {
            d.field("address", a);
        }
        if let Some(p) = self.port {
            d.field("port", &p);
        }
        if let Some(h) = &self.hostname {
            d.field("hostname", h);
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<Error> for io::Error {
    /// An `io::Error` whose kind follows the code (`ECONNREFUSED` →
    /// `ConnectionRefused`, `ERR_STREAM_WRITE_AFTER_END` → `BrokenPipe`,
    /// argument errors → `InvalidInput`, codes with no matching kind →
    /// `Other`) and whose inner error (`get_ref`, `into_inner`) is the
    /// nodenet `Error`, so `?` works in functions returning `io::Result`.
    fn from(err: Error) -> io::Error {
        io::Error::new(err.io_kind(), err)
    }
}

impl From<io::Error> for Error {
    /// An OS error with no syscall context (message `"<CODE>"`).
    fn from(err: io::Error) -> Error {
        let kind = ErrorCode::from_io(&err);
        Error {
            kind,
            message: format!("{} ({err})", kind.as_str()),
            syscall: None,
            address: None,
            port: None,
            hostname: None,
            source: Some(Arc::new(err)),
            errors: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_refused_reads_like_node() {
        let addr: SocketAddr = "127.0.0.1:4242".parse().unwrap();
        let io = io::Error::from(io::ErrorKind::ConnectionRefused);
        let err = Error::from_io(io, "connect", Some(addr));
        assert_eq!(err.code(), "ECONNREFUSED");
        assert_eq!(err.message(), "connect ECONNREFUSED 127.0.0.1:4242");
        assert_eq!(err.syscall(), Some("connect"));
        assert_eq!(err.address(), Some("127.0.0.1"));
        assert_eq!(err.port(), Some(4242));
        assert_eq!(err.errno(), Some(-111));
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn listen_in_use_reads_like_node() {
        let addr: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let io = io::Error::from_raw_os_error(98);
        let err = Error::from_io(io, "listen", Some(addr));
        assert_eq!(err.code(), "EADDRINUSE");
        assert_eq!(
            err.message(),
            "listen EADDRINUSE: address already in use 127.0.0.1:80"
        );
    }

    #[test]
    fn lookup_failure_has_hostname_and_no_address() {
        let err = Error::lookup(None, "something.invalid");
        assert_eq!(err.code(), "ENOTFOUND");
        assert_eq!(err.message(), "getaddrinfo ENOTFOUND something.invalid");
        assert_eq!(err.hostname(), Some("something.invalid"));
        assert_eq!(err.address(), None);
        assert_eq!(err.port(), None);
    }

    #[test]
    fn api_errors_have_no_errno() {
        let err = Error::write_after_end();
        assert_eq!(err.code(), "ERR_STREAM_WRITE_AFTER_END");
        assert_eq!(err.errno(), None);
        assert_eq!(err.to_string(), "write after end");
    }

    #[test]
    fn every_code_prints_and_parses_back() {
        for &code in ErrorCode::ALL {
            assert_eq!(code.to_string().parse::<ErrorCode>().unwrap(), code);
        }
        assert_eq!(
            "nope".parse::<ErrorCode>().unwrap_err().kind(),
            ErrorCode::ERR_INVALID_ARG_VALUE
        );
    }

    #[test]
    fn error_stays_small() {
        // Clippy's result_large_err starts at 128 bytes: every Result<_,
        // Error> of the API would be flagged, and moved, above it.
        assert!(std::mem::size_of::<Error>() < 128);
    }

    #[test]
    fn error_is_send_sync() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<Error>();
    }
}
