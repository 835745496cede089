//! The TLS 1.3 exporter (RFC 8446 §7.5), which Node's
//! `exportKeyingMaterial` gives: rustls's unbuffered connections do not
//! offer it, so it is derived here from the exporter master secret rustls
//! reports through its key log hook.

use rustls::crypto::tls13::{HkdfExpander, OkmBlock};
use rustls::Tls13CipherSuite;

use crate::error::{Error, ErrorCode};

/// `length` bytes of keying material for `label` and `context`.
pub(crate) fn export(
    suite: &Tls13CipherSuite,
    exporter_master_secret: &[u8],
    length: usize,
    label: &[u8],
    context: Option<&[u8]>,
) -> Result<Vec<u8>, Error> {
    let hash = suite.common.hash_provider;
    if length == 0 || length > 255 * hash.output_len() || label.len() > 249 {
        return Err(Error::new(
            ErrorCode::ERR_OUT_OF_RANGE,
            format!("The value of \"length\" is out of range. Received {length}"),
        ));
    }
    let hkdf = suite.hkdf_provider;
    // Derive-Secret(exporter_master_secret, label, "")
    let mut derived = vec![0u8; hash.output_len()];
    let secret = hkdf.expander_for_okm(&OkmBlock::new(exporter_master_secret));
    expand_label(&*secret, label, hash.hash(&[]).as_ref(), &mut derived)?;
    // HKDF-Expand-Label(that, "exporter", Hash(context), length)
    let mut out = vec![0u8; length];
    let derived = hkdf.expander_for_okm(&OkmBlock::new(&derived));
    let context_hash = hash.hash(context.unwrap_or_default());
    expand_label(&*derived, b"exporter", context_hash.as_ref(), &mut out)?;
    Ok(out)
}

/// HKDF-Expand-Label (RFC 8446 §7.1).
fn expand_label(
    expander: &dyn HkdfExpander,
    label: &[u8],
    context: &[u8],
    out: &mut [u8],
) -> Result<(), Error> {
    let length = u16::try_from(out.len()).unwrap_or(u16::MAX).to_be_bytes();
    let label_len = [u8::try_from(6 + label.len()).unwrap_or(u8::MAX)];
    let context_len = [u8::try_from(context.len()).unwrap_or(u8::MAX)];
    expander
        .expand_slice(
            &[&length, &label_len, b"tls13 ", label, &context_len, context],
            out,
        )
        .map_err(|_| Error::new(ErrorCode::ERR_OUT_OF_RANGE, "keying material too long"))
}
