//! Stub until the parser lands.
use std::fmt;
/// A certificate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeerCertificate {
    /// DER.
    pub raw: Vec<u8>,
    /// Subject.
    pub subject: DistinguishedName,
    /// Issuer.
    pub issuer: DistinguishedName,
    /// SAN.
    pub subjectaltname: Option<String>,
    /// From.
    pub valid_from: String,
    /// To.
    pub valid_to: String,
    /// Serial.
    pub serial_number: String,
    /// CA.
    pub ca: bool,
    /// DNS.
    pub dns_names: Vec<String>,
    /// IPs.
    pub ip_addresses: Vec<std::net::IpAddr>,
    /// fp.
    pub fingerprint256: String,
}
/// DN.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DistinguishedName(Vec<(String, String)>);
impl DistinguishedName {
    /// get
    pub fn get(&self, short: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == short)
            .map(|(_, v)| v.as_str())
    }
}
/// err
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateParseError;
impl fmt::Display for CertificateParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bad")
    }
}
impl std::error::Error for CertificateParseError {}
impl PeerCertificate {
    /// parse
    pub fn from_der(der: &[u8]) -> Result<PeerCertificate, CertificateParseError> {
        let _ = der;
        Err(CertificateParseError)
    }
}
/// hex
pub fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}
