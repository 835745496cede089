//! Stub.
use super::peer_certificate::PeerCertificate;
use std::fmt;
/// mismatch
#[derive(Debug)]
pub struct IdentityMismatch {
    /// r
    pub reason: String,
    /// h
    pub host: String,
}
impl fmt::Display for IdentityMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Hostname/IP does not match certificate's altnames: {}",
            self.reason
        )
    }
}
/// check
pub fn check_server_identity(
    hostname: &str,
    cert: &PeerCertificate,
) -> Result<(), IdentityMismatch> {
    let _ = (hostname, cert);
    Ok(())
}
