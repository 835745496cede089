//! A minimal DER reader for X.509 certificates that produces the shape of
//! Node.js's `tlsSocket.getPeerCertificate()` object.
//!
//! Only the fields that Node exposes (and that host-name checking needs) are
//! decoded; everything else (the public key, the signature, unknown
//! extensions) is skipped after its TLV framing has been checked. The reader
//! never panics: every malformed input yields a [`CertificateParseError`]
//! carrying the byte offset of the problem. All allocations are bounded by a
//! small constant factor of the input length.
//!
//! Text renderings follow what Node 20 (linked with OpenSSL 3) prints:
//! * [`PeerCertificate::subjectaltname`] uses Node's safe alt-name format,
//!   quoting entries that contain `,`, `"`, `\`, `'` or non-printable bytes
//!   with JSON string escaping;
//! * dates use OpenSSL's `ASN1_TIME_print` form (`"Nov 30 17:51:05 2026 GMT"`);
//! * the serial number uses OpenSSL's `BN_bn2hex` form (upper case, whole
//!   bytes, no sign byte, `-` for negative values, `0` for zero);
//! * [`DistinguishedName`]'s `Display` matches `X509Certificate.subject`
//!   (one RDN per line, RFC 2253 escaping of special characters).

use std::fmt::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const TAG_BOOLEAN: u8 = 0x01;
const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_UTF8_STRING: u8 = 0x0c;
const TAG_NUMERIC_STRING: u8 = 0x12;
const TAG_PRINTABLE_STRING: u8 = 0x13;
const TAG_TELETEX_STRING: u8 = 0x14;
const TAG_IA5_STRING: u8 = 0x16;
const TAG_UTC_TIME: u8 = 0x17;
const TAG_GENERALIZED_TIME: u8 = 0x18;
const TAG_VISIBLE_STRING: u8 = 0x1a;
const TAG_UNIVERSAL_STRING: u8 = 0x1c;
const TAG_BMP_STRING: u8 = 0x1e;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;

/// `id-ce-subjectAltName` (2.5.29.17), content octets.
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
/// `id-ce-basicConstraints` (2.5.29.19), content octets.
const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
/// `id-ce-keyUsage` (2.5.29.15), content octets.
const OID_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
/// `id-on-SmtpUTF8Mailbox` (1.3.6.1.5.5.7.8.9).
const OID_SMTP_UTF8_MAILBOX: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x08, 0x09];
/// `id-on-xmppAddr` (1.3.6.1.5.5.7.8.5).
const OID_XMPP_ADDR: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x08, 0x05];
/// `id-on-dnsSRV` (1.3.6.1.5.5.7.8.7).
const OID_SRV_NAME: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x08, 0x07];
/// `id-on-naiRealm` (1.3.6.1.5.5.7.8.8).
const OID_NAI_REALM: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x08, 0x08];
/// Microsoft User Principal Name (1.3.6.1.4.1.311.20.2.3).
const OID_MS_UPN: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x14, 0x02, 0x03];

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A decoded X.509 certificate in the shape of Node's
/// `tlsSocket.getPeerCertificate()` result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    /// The certificate's DER encoding (Node's `raw`).
    pub raw: Vec<u8>,
    /// The subject name (Node's `subject`).
    pub subject: DistinguishedName,
    /// The issuer name (Node's `issuer`).
    pub issuer: DistinguishedName,
    /// The subject alternative names rendered as Node does, e.g.
    /// `"DNS:localhost, IP Address:127.0.0.1"`; `None` when the certificate
    /// has no subjectAltName extension.
    pub subjectaltname: Option<String>,
    /// Start of the validity period in OpenSSL's text form, e.g.
    /// `"Nov 30 17:51:05 2026 GMT"`.
    pub valid_from: String,
    /// End of the validity period in OpenSSL's text form.
    pub valid_to: String,
    /// Start of the validity period in seconds since the Unix epoch.
    pub not_before_unix: i64,
    /// End of the validity period in seconds since the Unix epoch.
    pub not_after_unix: i64,
    /// The serial number as upper-case hexadecimal without a sign byte
    /// (OpenSSL's `BN_bn2hex`, as Node's `serialNumber`).
    pub serial_number: String,
    /// Whether the certificate is a CA certificate as Node reports it
    /// (`X509_check_ca() == 1`): basicConstraints has `cA` set and, if a
    /// keyUsage extension is present, it allows `keyCertSign`.
    pub ca: bool,
    /// The `dNSName` entries of the subjectAltName extension, in order
    /// (bytes read as Latin-1).
    pub dns_names: Vec<String>,
    /// The `iPAddress` entries of the subjectAltName extension that are 4 or
    /// 16 bytes long, in order.
    pub ip_addresses: Vec<IpAddr>,
    /// SHA-256 fingerprint; left empty by [`PeerCertificate::from_der`]. The
    /// caller computes the digest of [`PeerCertificate::raw`] and formats it
    /// as Node does: upper-case hex bytes joined by `:`.
    pub fingerprint256: String,
}

/// An X.509 distinguished name as an ordered list of
/// `(short name, value)` attributes.
///
/// Short names are OpenSSL's (`CN`, `O`, `OU`, `C`, `ST`, `L`,
/// `emailAddress`, `serialNumber`, `DC`, ...); attributes whose type is not
/// known are keyed by their dotted OID. Values are decoded to Unicode
/// without any escaping, as in Node's `getPeerCertificate().subject`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DistinguishedName {
    entries: Vec<NameEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct NameEntry {
    short: String,
    value: String,
    /// Index of the RelativeDistinguishedName the attribute belongs to;
    /// consecutive entries with the same index form a multi-valued RDN.
    rdn: usize,
}

impl DistinguishedName {
    /// Creates an empty name.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an attribute as a new single-valued RDN.
    pub fn push(&mut self, short: impl Into<String>, value: impl Into<String>) {
        let rdn = self.entries.last().map_or(0, |e| e.rdn.saturating_add(1));
        self.entries.push(NameEntry {
            short: short.into(),
            value: value.into(),
            rdn,
        });
    }

    /// The value of the first attribute with the given short name
    /// (case-sensitive, e.g. `"CN"`).
    pub fn get(&self, short: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.short == short)
            .map(|e| e.value.as_str())
    }

    /// The values of all attributes with the given short name, in order.
    pub fn get_all<'a>(&'a self, short: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |e| e.short == short)
            .map(|e| e.value.as_str())
    }

    /// All `(short name, value)` attributes in certificate order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|e| (e.short.as_str(), e.value.as_str()))
    }

    /// The number of attributes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the name has no attributes.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl fmt::Display for DistinguishedName {
    /// Formats the name as Node's `X509Certificate.subject` does: one RDN
    /// per line (`"C=US\nO=Test\nCN=localhost"`), attributes of a
    /// multi-valued RDN joined with `" + "`, and values escaped as by
    /// OpenSSL's `X509_NAME_print_ex` with RFC 2253 and control-character
    /// escaping.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        let mut prev: Option<usize> = None;
        for e in &self.entries {
            if let Some(p) = prev {
                out.push_str(if p == e.rdn { " + " } else { "\n" });
            }
            prev = Some(e.rdn);
            out.push_str(&e.short);
            out.push('=');
            escape_rfc2253(&e.value, true, &mut out);
        }
        f.write_str(&out)
    }
}

/// Why [`PeerCertificate::from_der`] rejected its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateParseError {
    what: &'static str,
    offset: usize,
}

impl CertificateParseError {
    fn new(what: &'static str, offset: usize) -> Self {
        Self { what, offset }
    }

    /// A short description of the problem.
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// The byte offset in the DER input at which the problem was found.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl fmt::Display for CertificateParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "malformed certificate at byte {}: {}",
            self.offset, self.what
        )
    }
}

impl std::error::Error for CertificateParseError {}

type Result<T> = std::result::Result<T, CertificateParseError>;

/// Formats bytes as upper-case hexadecimal pairs joined by colons, e.g.
/// `"AB:CD:EF"`, as Node prints fingerprints.
pub fn colon_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().saturating_mul(3));
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        push_hex_upper(&mut out, *b);
    }
    out
}

impl PeerCertificate {
    /// Parses a DER-encoded X.509 certificate.
    ///
    /// The input must be exactly one `Certificate` SEQUENCE. The signature
    /// is not verified.
    ///
    /// # Errors
    ///
    /// Returns a [`CertificateParseError`] when the input is not a
    /// well-formed certificate: truncated or overlong TLVs, indefinite
    /// lengths, unexpected tags, trailing data, an invalid time, name or
    /// OID, or a malformed (or duplicated) subjectAltName, basicConstraints
    /// or keyUsage extension.
    pub fn from_der(der: &[u8]) -> Result<PeerCertificate> {
        let mut top = Reader::new(der);
        let cert = top.expect(TAG_SEQUENCE, "expected Certificate SEQUENCE")?;
        top.finish("trailing data after Certificate")?;

        let mut c = cert.reader();
        let tbs = c.expect(TAG_SEQUENCE, "expected TBSCertificate SEQUENCE")?;
        c.expect(TAG_SEQUENCE, "expected signatureAlgorithm SEQUENCE")?;
        c.expect(TAG_BIT_STRING, "expected signatureValue BIT STRING")?;
        c.finish("trailing data in Certificate")?;

        let mut t = tbs.reader();
        if t.peek_tag() == Some(0xa0) {
            let version = t.read()?;
            let mut v = version.reader();
            let int = v.expect(TAG_INTEGER, "expected version INTEGER")?;
            if int.content.is_empty() {
                return Err(CertificateParseError::new("empty INTEGER", int.offset));
            }
            v.finish("trailing data in version")?;
        }
        let serial = t.expect(TAG_INTEGER, "expected serialNumber INTEGER")?;
        if serial.content.is_empty() {
            return Err(CertificateParseError::new("empty INTEGER", serial.offset));
        }
        t.expect(TAG_SEQUENCE, "expected signature AlgorithmIdentifier")?;
        let issuer_tlv = t.expect(TAG_SEQUENCE, "expected issuer Name")?;
        let issuer = DistinguishedName::from_attrs(&parse_name(&issuer_tlv)?)?;
        let validity = t.expect(TAG_SEQUENCE, "expected Validity SEQUENCE")?;
        let mut v = validity.reader();
        let not_before = parse_time(&v.read()?)?;
        let not_after = parse_time(&v.read()?)?;
        v.finish("trailing data in Validity")?;
        let subject_tlv = t.expect(TAG_SEQUENCE, "expected subject Name")?;
        let subject = DistinguishedName::from_attrs(&parse_name(&subject_tlv)?)?;
        t.expect(TAG_SEQUENCE, "expected subjectPublicKeyInfo SEQUENCE")?;
        if t.peek_tag() == Some(0x81) {
            t.read()?; // issuerUniqueID
        }
        if t.peek_tag() == Some(0x82) {
            t.read()?; // subjectUniqueID
        }
        let mut ext = Extensions::default();
        if t.peek_tag() == Some(0xa3) {
            let wrapper = t.read()?;
            let mut w = wrapper.reader();
            let list = w.expect(TAG_SEQUENCE, "expected Extensions SEQUENCE")?;
            w.finish("trailing data after Extensions")?;
            ext = parse_extensions(&list)?;
        }
        t.finish("trailing data in TBSCertificate")?;

        let ca = ext.basic_constraints_ca == Some(true) && ext.key_usage_cert_sign != Some(false);
        let (subjectaltname, dns_names, ip_addresses) = match ext.san {
            Some(san) => (Some(san.text), san.dns_names, san.ip_addresses),
            None => (None, Vec::new(), Vec::new()),
        };
        Ok(PeerCertificate {
            raw: der.to_vec(),
            subject,
            issuer,
            subjectaltname,
            valid_from: not_before.text,
            valid_to: not_after.text,
            not_before_unix: not_before.unix,
            not_after_unix: not_after.unix,
            serial_number: serial_hex(serial.content),
            ca,
            dns_names,
            ip_addresses,
            fingerprint256: String::new(),
        })
    }
}

// ---------------------------------------------------------------------------
// DER framing

#[derive(Clone, Copy)]
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

#[derive(Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    /// Offset of the tag byte in the whole input.
    offset: usize,
    content_offset: usize,
    content: &'a [u8],
    /// The whole TLV (tag, length and content).
    raw: &'a [u8],
    buf: &'a [u8],
}

impl<'a> Tlv<'a> {
    fn reader(&self) -> Reader<'a> {
        Reader {
            buf: self.buf,
            pos: self.content_offset,
            end: self.content_offset.saturating_add(self.content.len()),
        }
    }
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            end: buf.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.end
    }

    fn byte(&self, at: usize, what: &'static str) -> Result<u8> {
        if at < self.end {
            self.buf
                .get(at)
                .copied()
                .ok_or(CertificateParseError::new(what, at))
        } else {
            Err(CertificateParseError::new(what, at))
        }
    }

    fn peek_tag(&self) -> Option<u8> {
        if self.is_empty() {
            None
        } else {
            self.buf.get(self.pos).copied()
        }
    }

    fn read(&mut self) -> Result<Tlv<'a>> {
        let start = self.pos;
        let tag = self.byte(start, "unexpected end of data")?;
        if tag & 0x1f == 0x1f {
            return Err(CertificateParseError::new(
                "unsupported high tag number",
                start,
            ));
        }
        let len_at = start.saturating_add(1);
        let first = self.byte(len_at, "truncated length")?;
        let (len, content_offset) = if first < 0x80 {
            (usize::from(first), len_at.saturating_add(1))
        } else if first == 0x80 {
            return Err(CertificateParseError::new(
                "indefinite length not allowed",
                len_at,
            ));
        } else {
            let n = usize::from(first & 0x7f);
            if n > 4 {
                return Err(CertificateParseError::new("length too large", len_at));
            }
            let mut len: usize = 0;
            for i in 1..=n {
                let b = self.byte(len_at.saturating_add(i), "truncated length")?;
                len = len
                    .checked_mul(256)
                    .and_then(|l| l.checked_add(usize::from(b)))
                    .ok_or(CertificateParseError::new("length too large", len_at))?;
            }
            (len, len_at.saturating_add(1).saturating_add(n))
        };
        let content_end = content_offset
            .checked_add(len)
            .filter(|&e| e <= self.end)
            .ok_or(CertificateParseError::new(
                "length exceeds the enclosing data",
                len_at,
            ))?;
        let truncated = CertificateParseError::new("truncated data", start);
        let content = self
            .buf
            .get(content_offset..content_end)
            .ok_or(truncated.clone())?;
        let raw = self.buf.get(start..content_end).ok_or(truncated)?;
        self.pos = content_end;
        Ok(Tlv {
            tag,
            offset: start,
            content_offset,
            content,
            raw,
            buf: self.buf,
        })
    }

    fn expect(&mut self, tag: u8, what: &'static str) -> Result<Tlv<'a>> {
        let at = self.pos;
        let tlv = self.read()?;
        if tlv.tag == tag {
            Ok(tlv)
        } else {
            Err(CertificateParseError::new(what, at))
        }
    }

    fn finish(&self, what: &'static str) -> Result<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(CertificateParseError::new(what, self.pos))
        }
    }
}

// ---------------------------------------------------------------------------
// Names

#[derive(Clone, Copy)]
struct RawAttr<'a> {
    oid: Tlv<'a>,
    value: Tlv<'a>,
    rdn: usize,
}

fn parse_name<'a>(seq: &Tlv<'a>) -> Result<Vec<RawAttr<'a>>> {
    let mut out = Vec::new();
    let mut r = seq.reader();
    let mut rdn = 0usize;
    while !r.is_empty() {
        let set = r.expect(TAG_SET, "expected RelativeDistinguishedName SET")?;
        let mut s = set.reader();
        if s.is_empty() {
            return Err(CertificateParseError::new(
                "empty RelativeDistinguishedName",
                set.offset,
            ));
        }
        while !s.is_empty() {
            let atv = s.expect(TAG_SEQUENCE, "expected AttributeTypeAndValue SEQUENCE")?;
            let mut a = atv.reader();
            let oid = a.expect(TAG_OID, "expected attribute type OID")?;
            let value = a.read()?;
            a.finish("trailing data in AttributeTypeAndValue")?;
            if !is_valid_name_value(&value) {
                return Err(CertificateParseError::new(
                    "unsupported attribute value type",
                    value.offset,
                ));
            }
            out.push(RawAttr { oid, value, rdn });
        }
        rdn = rdn.saturating_add(1);
    }
    Ok(out)
}

impl DistinguishedName {
    fn from_attrs(attrs: &[RawAttr<'_>]) -> Result<DistinguishedName> {
        let mut entries = Vec::with_capacity(attrs.len());
        for a in attrs {
            let dotted = oid_text(&a.oid)?;
            let short = short_name(&dotted).map_or(dotted, str::to_owned);
            entries.push(NameEntry {
                short,
                value: decode_value(&a.value),
                rdn: a.rdn,
            });
        }
        Ok(DistinguishedName { entries })
    }
}

/// OpenSSL's short names for the attribute types it knows.
fn short_name(dotted: &str) -> Option<&'static str> {
    Some(match dotted {
        "2.5.4.3" => "CN",
        "2.5.4.4" => "SN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "street",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "title",
        "2.5.4.13" => "description",
        "2.5.4.15" => "businessCategory",
        "2.5.4.16" => "postalAddress",
        "2.5.4.17" => "postalCode",
        "2.5.4.18" => "postOfficeBox",
        "2.5.4.20" => "telephoneNumber",
        "2.5.4.41" => "name",
        "2.5.4.42" => "GN",
        "2.5.4.43" => "initials",
        "2.5.4.44" => "generationQualifier",
        "2.5.4.46" => "dnQualifier",
        "2.5.4.65" => "pseudonym",
        "2.5.4.72" => "role",
        "2.5.4.97" => "organizationIdentifier",
        "1.2.840.113549.1.9.1" => "emailAddress",
        "1.2.840.113549.1.9.2" => "unstructuredName",
        "1.2.840.113549.1.9.8" => "unstructuredAddress",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        "1.3.6.1.4.1.311.60.2.1.1" => "jurisdictionL",
        "1.3.6.1.4.1.311.60.2.1.2" => "jurisdictionST",
        "1.3.6.1.4.1.311.60.2.1.3" => "jurisdictionC",
        _ => return None,
    })
}

/// Whether OpenSSL accepts a value with this tag in a name
/// (`ASN1_PRINTABLE`: the usual string types, BIT STRING, SEQUENCE and the
/// universal types it maps to `B_ASN1_UNKNOWN`).
fn is_valid_name_value(value: &Tlv<'_>) -> bool {
    match value.tag {
        TAG_BIT_STRING => matches!(value.content.first(), Some(unused) if *unused <= 7),
        0x07..=0x09
        | 0x0b
        | TAG_UTF8_STRING
        | 0x0d..=0x0f
        | TAG_NUMERIC_STRING
        | TAG_PRINTABLE_STRING
        | TAG_TELETEX_STRING
        | TAG_IA5_STRING
        | TAG_UNIVERSAL_STRING
        | 0x1d
        | TAG_BMP_STRING
        | TAG_SEQUENCE => true,
        _ => false,
    }
}

/// Whether OpenSSL's name printer knows how to display a value of this
/// universal tag (its `tag2nbyte` table).
fn is_printable_string_type(tag: u8) -> bool {
    matches!(
        tag,
        TAG_UTF8_STRING
            | TAG_NUMERIC_STRING
            | TAG_PRINTABLE_STRING
            | TAG_TELETEX_STRING
            | TAG_IA5_STRING
            | TAG_UTC_TIME
            | TAG_GENERALIZED_TIME
            | TAG_VISIBLE_STRING
            | TAG_UNIVERSAL_STRING
            | TAG_BMP_STRING
    )
}

/// Decodes an attribute value to Unicode as OpenSSL's name printer sees
/// it: UTF8String (lossy), BMPString (UTF-16BE, lossy), UniversalString
/// (UCS-4BE, lossy), BIT STRING (its bits, unused ones cleared) and
/// SEQUENCE (its whole encoding) as Latin-1, and anything else
/// (PrintableString, IA5String, TeletexString, ...) as Latin-1.
fn decode_value(value: &Tlv<'_>) -> String {
    match value.tag {
        TAG_SEQUENCE => latin1(value.raw),
        TAG_BIT_STRING => match value.content {
            [unused, bits @ .., last] => {
                let mut s = latin1(bits);
                s.push(char::from(last & (0xffu8 << (unused & 7))));
                s
            }
            _ => String::new(),
        },
        tag => decode_string(tag, value.content),
    }
}

/// Decodes string content octets: UTF8String (lossy), BMPString
/// (UTF-16BE, lossy), UniversalString (UCS-4BE, lossy), anything else as
/// Latin-1.
fn decode_string(tag: u8, content: &[u8]) -> String {
    match tag {
        TAG_UTF8_STRING => String::from_utf8_lossy(content).into_owned(),
        TAG_BMP_STRING => {
            let units = content.chunks(2).map(|c| match c {
                [a, b] => u16::from_be_bytes([*a, *b]),
                _ => 0xfffd,
            });
            char::decode_utf16(units)
                .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect()
        }
        TAG_UNIVERSAL_STRING => content
            .chunks(4)
            .map(|c| match c {
                [a, b, d, e] => char::from_u32(u32::from_be_bytes([*a, *b, *d, *e]))
                    .unwrap_or(char::REPLACEMENT_CHARACTER),
                _ => char::REPLACEMENT_CHARACTER,
            })
            .collect(),
        _ => latin1(content),
    }
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Appends `value` escaped as OpenSSL's `X509_NAME_print_ex` does with
/// `ASN1_STRFLGS_ESC_2253` (and `ASN1_STRFLGS_ESC_CTRL` if `escape_ctrl`).
fn escape_rfc2253(value: &str, escape_ctrl: bool, out: &mut String) {
    let count = value.chars().count();
    for (i, c) in value.chars().enumerate() {
        let first = i == 0;
        let last = i.saturating_add(1) == count;
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '#' if first => out.push_str("\\#"),
            ' ' if first || last => out.push_str("\\ "),
            '\u{0}'..='\u{1f}' | '\u{7f}' if escape_ctrl => {
                out.push('\\');
                push_hex_upper(out, u8::try_from(u32::from(c)).unwrap_or(0));
            }
            _ => out.push(c),
        }
    }
}

/// Renders a name as OpenSSL's `X509_NAME_print_ex` with Node's
/// `kX509NameFlagsRFC2253WithinUtf8JSON` flags (used for `DirName:`
/// alt names): RFC 2253 order (last RDN first), `,` between RDNs, `+`
/// within one, unknown attribute types and string types hex-dumped.
fn rfc2253_dir_name(attrs: &[RawAttr<'_>]) -> Result<String> {
    let mut out = String::new();
    let mut prev: Option<usize> = None;
    for a in attrs.iter().rev() {
        if let Some(p) = prev {
            out.push(if p == a.rdn { '+' } else { ',' });
        }
        prev = Some(a.rdn);
        let dotted = oid_text(&a.oid)?;
        match short_name(&dotted) {
            Some(short) if is_printable_string_type(a.value.tag) => {
                out.push_str(short);
                out.push('=');
                escape_rfc2253(&decode_value(&a.value), false, &mut out);
            }
            known => {
                out.push_str(known.unwrap_or(&dotted));
                out.push_str("=#");
                for b in a.value.raw {
                    push_hex_upper(&mut out, *b);
                }
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// OIDs, integers, times

fn oid_text(oid: &Tlv<'_>) -> Result<String> {
    oid_to_dotted(oid.content).ok_or(CertificateParseError::new(
        "invalid OBJECT IDENTIFIER",
        oid.offset,
    ))
}

/// Dotted-decimal form of OID content octets; `None` if the encoding is
/// invalid (empty, truncated, non-minimal) or an arc exceeds 128 bits.
fn oid_to_dotted(content: &[u8]) -> Option<String> {
    if content.last().is_none_or(|b| b & 0x80 != 0) {
        return None;
    }
    let mut out = String::new();
    let mut value: u128 = 0;
    let mut at_start = true;
    let mut first_arc = true;
    for &b in content {
        if at_start && b == 0x80 {
            return None;
        }
        if value > (u128::MAX >> 7) {
            return None;
        }
        value = (value << 7) | u128::from(b & 0x7f);
        at_start = b & 0x80 == 0;
        if at_start {
            if first_arc {
                let (x, y) = match value {
                    0..=39 => (0, value),
                    40..=79 => (1, value - 40),
                    _ => (2, value - 80),
                };
                let _ = write!(out, "{x}.{y}");
                first_arc = false;
            } else {
                let _ = write!(out, ".{value}");
            }
            value = 0;
        }
    }
    Some(out)
}

fn push_hex_upper(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for nibble in [b >> 4, b & 0x0f] {
        out.push(char::from(
            HEX.get(usize::from(nibble)).copied().unwrap_or(b'0'),
        ));
    }
}

/// OpenSSL's `BN_bn2hex` of a DER INTEGER's content octets.
fn serial_hex(content: &[u8]) -> String {
    let negative = content.first().is_some_and(|b| b & 0x80 != 0);
    let mut magnitude = content.to_vec();
    if negative {
        for b in magnitude.iter_mut() {
            *b = !*b;
        }
        for b in magnitude.iter_mut().rev() {
            let (v, carry) = b.overflowing_add(1);
            *b = v;
            if !carry {
                break;
            }
        }
    }
    let mut out = String::with_capacity(magnitude.len().saturating_mul(2).saturating_add(1));
    if negative {
        out.push('-');
    }
    let digits = magnitude
        .iter()
        .position(|&b| b != 0)
        .and_then(|i| magnitude.get(i..))
        .unwrap_or(&[]);
    if digits.is_empty() {
        out.push('0');
    }
    for b in digits {
        push_hex_upper(&mut out, *b);
    }
    out
}

struct Time {
    unix: i64,
    text: String,
}

fn two_digits(s: &[u8], at: usize) -> Option<u32> {
    let hi = *s.get(at)?;
    let lo = *s.get(at.checked_add(1)?)?;
    if hi.is_ascii_digit() && lo.is_ascii_digit() {
        Some(u32::from(hi - b'0') * 10 + u32::from(lo - b'0'))
    } else {
        None
    }
}

/// Parses a UTCTime or GeneralizedTime as OpenSSL's `ASN1_TIME_print`
/// accepts it: `YYMMDDHHMM[SS]` / `YYYYMMDDHHMM[SS[.fff]]` followed by `Z`
/// or a `+HHMM`/`-HHMM` offset (converted to UTC, as Node prints it).
fn parse_time(tlv: &Tlv<'_>) -> Result<Time> {
    let bad = || CertificateParseError::new("invalid time", tlv.offset);
    let s = tlv.content;
    let (year, mut i) = match tlv.tag {
        TAG_UTC_TIME => {
            let yy = two_digits(s, 0).ok_or_else(bad)?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, 2)
        }
        TAG_GENERALIZED_TIME => {
            let hi = two_digits(s, 0).ok_or_else(bad)?;
            let lo = two_digits(s, 2).ok_or_else(bad)?;
            (hi * 100 + lo, 4)
        }
        _ => {
            return Err(CertificateParseError::new(
                "expected UTCTime or GeneralizedTime",
                tlv.offset,
            ));
        }
    };
    let field = |i: &mut usize, min: u32, max: u32| -> Result<u32> {
        let v = two_digits(s, *i)
            .filter(|v| (min..=max).contains(v))
            .ok_or_else(bad)?;
        *i += 2;
        Ok(v)
    };
    let month = field(&mut i, 1, 12)?;
    let day = field(&mut i, 1, 31)?;
    let hour = field(&mut i, 0, 23)?;
    let minute = field(&mut i, 0, 59)?;
    let has_seconds = s.get(i).is_some_and(u8::is_ascii_digit);
    let second = if has_seconds {
        field(&mut i, 0, 59)?
    } else {
        0
    };
    if day > days_in_month(year, month) {
        return Err(bad());
    }
    let mut fraction: &[u8] = &[];
    if tlv.tag == TAG_GENERALIZED_TIME && has_seconds && s.get(i) == Some(&b'.') {
        let start = i;
        i += 1;
        while s.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start + 1 {
            return Err(bad());
        }
        fraction = s.get(start..i).ok_or_else(bad)?;
    }
    let offset = match s.get(i) {
        Some(b'Z') => {
            i += 1;
            0i64
        }
        Some(&sign @ (b'+' | b'-')) => {
            let hh = two_digits(s, i + 1).filter(|v| *v <= 12).ok_or_else(bad)?;
            let mm = two_digits(s, i + 3).filter(|v| *v <= 59).ok_or_else(bad)?;
            i += 5;
            let secs = i64::from(hh * 3600 + mm * 60);
            if sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        _ => return Err(bad()),
    };
    if i != s.len() {
        return Err(bad());
    }
    let local = days_from_civil(i64::from(year), month, day) * 86_400
        + i64::from(hour * 3600 + minute * 60 + second);
    let unix = local - offset;

    let (y, m, d) = civil_from_days(unix.div_euclid(86_400));
    let secs = unix.rem_euclid(86_400);
    let mut text = String::with_capacity(32usize.saturating_add(fraction.len()));
    let month_name = MONTHS
        .get(usize::try_from(m).unwrap_or(0).saturating_sub(1))
        .copied()
        .unwrap_or("???");
    let _ = write!(
        text,
        "{month_name} {d:>2} {:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    );
    text.push_str(&latin1(fraction));
    let _ = write!(text, " {y} GMT");
    Ok(Time { unix, text })
}

fn is_leap(year: u32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

// ---------------------------------------------------------------------------
// Extensions

#[derive(Default)]
struct Extensions {
    san: Option<AltNames>,
    basic_constraints_ca: Option<bool>,
    key_usage_cert_sign: Option<bool>,
}

struct AltNames {
    text: String,
    dns_names: Vec<String>,
    ip_addresses: Vec<IpAddr>,
}

fn parse_extensions(list: &Tlv<'_>) -> Result<Extensions> {
    let mut out = Extensions::default();
    let mut r = list.reader();
    while !r.is_empty() {
        let ext = r.expect(TAG_SEQUENCE, "expected Extension SEQUENCE")?;
        let mut e = ext.reader();
        let id = e.expect(TAG_OID, "expected extnID OID")?;
        if e.peek_tag() == Some(TAG_BOOLEAN) {
            let critical = e.read()?;
            if critical.content.len() != 1 {
                return Err(CertificateParseError::new(
                    "invalid BOOLEAN",
                    critical.offset,
                ));
            }
        }
        let value = e.expect(TAG_OCTET_STRING, "expected extnValue OCTET STRING")?;
        e.finish("trailing data in Extension")?;
        let duplicate = CertificateParseError::new("duplicate extension", ext.offset);
        match id.content {
            OID_SUBJECT_ALT_NAME => {
                if out.san.is_some() {
                    return Err(duplicate);
                }
                out.san = Some(parse_alt_names(&value)?);
            }
            OID_BASIC_CONSTRAINTS => {
                if out.basic_constraints_ca.is_some() {
                    return Err(duplicate);
                }
                out.basic_constraints_ca = Some(parse_basic_constraints(&value)?);
            }
            OID_KEY_USAGE => {
                if out.key_usage_cert_sign.is_some() {
                    return Err(duplicate);
                }
                out.key_usage_cert_sign = Some(parse_key_usage(&value)?);
            }
            _ => {}
        }
    }
    Ok(out)
}

fn parse_basic_constraints(octets: &Tlv<'_>) -> Result<bool> {
    let mut r = octets.reader();
    let seq = r.expect(TAG_SEQUENCE, "expected BasicConstraints SEQUENCE")?;
    r.finish("trailing data after BasicConstraints")?;
    let mut s = seq.reader();
    let mut ca = false;
    if s.peek_tag() == Some(TAG_BOOLEAN) {
        let b = s.read()?;
        match b.content {
            [v] => ca = *v != 0,
            _ => return Err(CertificateParseError::new("invalid BOOLEAN", b.offset)),
        }
    }
    if s.peek_tag() == Some(TAG_INTEGER) {
        let len = s.read()?;
        if len.content.is_empty() {
            return Err(CertificateParseError::new("empty INTEGER", len.offset));
        }
    }
    s.finish("trailing data in BasicConstraints")?;
    Ok(ca)
}

/// Returns whether the keyCertSign bit is set.
fn parse_key_usage(octets: &Tlv<'_>) -> Result<bool> {
    let mut r = octets.reader();
    let bits = r.expect(TAG_BIT_STRING, "expected KeyUsage BIT STRING")?;
    r.finish("trailing data after KeyUsage")?;
    match bits.content {
        [unused, rest @ ..] if *unused <= 7 => Ok(rest.first().is_some_and(|b| b & 0x04 != 0)),
        _ => Err(CertificateParseError::new(
            "invalid BIT STRING",
            bits.offset,
        )),
    }
}

fn parse_alt_names(octets: &Tlv<'_>) -> Result<AltNames> {
    let mut r = octets.reader();
    let seq = r.expect(TAG_SEQUENCE, "expected GeneralNames SEQUENCE")?;
    r.finish("trailing data after GeneralNames")?;

    let mut text: Vec<u8> = Vec::new();
    let mut dns_names = Vec::new();
    let mut ip_addresses = Vec::new();
    let mut g = seq.reader();
    while !g.is_empty() {
        let name = g.read()?;
        if !text.is_empty() {
            text.extend_from_slice(b", ");
        }
        match name.tag {
            0xa0 => print_other_name(&name, &mut text)?,
            0x81 => {
                text.extend_from_slice(b"email:");
                print_alt_name(&mut text, name.content, false, None);
            }
            0x82 => {
                text.extend_from_slice(b"DNS:");
                print_alt_name(&mut text, name.content, false, None);
                dns_names.push(latin1(name.content));
            }
            0xa3 => text.extend_from_slice(b"X400Name:<unsupported>"),
            0xa4 => {
                let mut inner = name.reader();
                let dn = inner.expect(TAG_SEQUENCE, "expected directoryName Name")?;
                inner.finish("trailing data in directoryName")?;
                let rendered = rfc2253_dir_name(&parse_name(&dn)?)?;
                text.extend_from_slice(b"DirName:");
                print_alt_name(&mut text, rendered.as_bytes(), true, None);
            }
            0xa5 => text.extend_from_slice(b"EdiPartyName:<unsupported>"),
            0x86 => {
                text.extend_from_slice(b"URI:");
                print_alt_name(&mut text, name.content, false, None);
            }
            0x87 => {
                text.extend_from_slice(b"IP Address:");
                let mut s = String::new();
                if let Ok(v4) = <[u8; 4]>::try_from(name.content) {
                    let ip = Ipv4Addr::from(v4);
                    let _ = write!(s, "{ip}");
                    ip_addresses.push(IpAddr::V4(ip));
                } else if let Ok(v6) = <[u8; 16]>::try_from(name.content) {
                    let ip = Ipv6Addr::from(v6);
                    for (i, seg) in ip.segments().iter().enumerate() {
                        let _ = write!(s, "{}{seg:X}", if i == 0 { "" } else { ":" });
                    }
                    ip_addresses.push(IpAddr::V6(ip));
                } else {
                    let _ = write!(s, "<invalid length={}>", name.content.len());
                }
                text.extend_from_slice(s.as_bytes());
            }
            0x88 => {
                let dotted = oid_to_dotted(name.content).ok_or(CertificateParseError::new(
                    "invalid registeredID",
                    name.offset,
                ))?;
                text.extend_from_slice(b"Registered ID:");
                text.extend_from_slice(dotted.as_bytes());
            }
            _ => {
                return Err(CertificateParseError::new(
                    "invalid GeneralName",
                    name.offset,
                ));
            }
        }
    }
    Ok(AltNames {
        text: String::from_utf8_lossy(&text).into_owned(),
        dns_names,
        ip_addresses,
    })
}

fn print_other_name(name: &Tlv<'_>, out: &mut Vec<u8>) -> Result<()> {
    let mut r = name.reader();
    let type_id = r.expect(TAG_OID, "expected otherName type-id")?;
    let wrapper = r.expect(0xa0, "expected otherName value")?;
    r.finish("trailing data in otherName")?;
    let mut w = wrapper.reader();
    let value = w.read()?;
    w.finish("trailing data in otherName value")?;
    let (prefix, unicode) = match type_id.content {
        OID_SMTP_UTF8_MAILBOX => (Some("SmtpUTF8Mailbox"), true),
        OID_XMPP_ADDR => (Some("XmppAddr"), true),
        OID_SRV_NAME => (Some("SRVName"), false),
        OID_MS_UPN => (Some("UPN"), true),
        OID_NAI_REALM => (Some("NAIRealm"), true),
        _ => (None, true),
    };
    let expected_tag = if unicode {
        TAG_UTF8_STRING
    } else {
        TAG_IA5_STRING
    };
    match prefix {
        Some(p) if value.tag == expected_tag => {
            out.extend_from_slice(b"othername:");
            print_alt_name(out, value.content, unicode, Some(p));
        }
        _ => out.extend_from_slice(b"othername:<unsupported>"),
    }
    Ok(())
}

/// Node's `IsSafeAltName`.
fn is_safe_alt_name(name: &[u8], utf8: bool) -> bool {
    name.iter().all(|&c| match c {
        b'"' | b'\\' | b',' | b'\'' => false,
        _ if utf8 => c >= b' ' && c != 0x7f,
        _ => (b' '..=b'~').contains(&c),
    })
}

/// Node's `PrintAltName`: the name verbatim if it is safe, otherwise a
/// JSON string (with `,` and non-printable bytes as `\u00XX`).
fn print_alt_name(out: &mut Vec<u8>, name: &[u8], utf8: bool, prefix: Option<&str>) {
    if is_safe_alt_name(name, utf8) {
        if let Some(p) = prefix {
            out.extend_from_slice(p.as_bytes());
            out.push(b':');
        }
        out.extend_from_slice(name);
        return;
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    if let Some(p) = prefix {
        out.extend_from_slice(p.as_bytes());
        out.push(b':');
    }
    for &c in name {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            _ if (c >= b' ' && c != b',' && c <= b'~') || (utf8 && c & 0x80 != 0) => out.push(c),
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX.get(usize::from(c >> 4)).copied().unwrap_or(b'0'));
                out.push(HEX.get(usize::from(c & 0x0f)).copied().unwrap_or(b'0'));
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    // -- A tiny DER builder for hand-crafted certificates -------------------

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
        out.extend_from_slice(content);
        out
    }

    fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
        tlv(TAG_SEQUENCE, &parts.concat())
    }

    fn oid(dotted: &str) -> Vec<u8> {
        let arcs: Vec<u128> = dotted.split('.').map(|a| a.parse().unwrap()).collect();
        let mut content = Vec::new();
        let mut subids = vec![arcs[0] * 40 + arcs[1]];
        subids.extend_from_slice(&arcs[2..]);
        for mut v in subids {
            let mut tmp = vec![(v & 0x7f) as u8];
            v >>= 7;
            while v > 0 {
                tmp.push(0x80 | (v & 0x7f) as u8);
                v >>= 7;
            }
            tmp.reverse();
            content.extend(tmp);
        }
        tlv(TAG_OID, &content)
    }

    fn attr(dotted: &str, tag: u8, value: &[u8]) -> Vec<u8> {
        seq(&[oid(dotted), tlv(tag, value)])
    }

    fn rdn(attrs: &[Vec<u8>]) -> Vec<u8> {
        tlv(TAG_SET, &attrs.concat())
    }

    fn cn(value: &str) -> Vec<u8> {
        seq(&[rdn(&[attr("2.5.4.3", TAG_UTF8_STRING, value.as_bytes())])])
    }

    fn ext(dotted: &str, critical: bool, value: Vec<u8>) -> Vec<u8> {
        let mut parts = vec![oid(dotted)];
        if critical {
            parts.push(tlv(TAG_BOOLEAN, &[0xff]));
        }
        parts.push(tlv(TAG_OCTET_STRING, &value));
        seq(&parts)
    }

    fn san(names: &[Vec<u8>]) -> Vec<u8> {
        ext("2.5.29.17", false, seq(names))
    }

    fn utc(s: &str) -> Vec<u8> {
        tlv(TAG_UTC_TIME, s.as_bytes())
    }

    fn gen_time(s: &str) -> Vec<u8> {
        tlv(TAG_GENERALIZED_TIME, s.as_bytes())
    }

    const SPKI_HEX: &str = "3059301306072a8648ce3d020106082a8648ce3d030107034200049c46865dd1a2bf871c36cc4b0d1a9ef2c8bb449646354a80e8182314c788d3d024edf62a2d80f078719325bd46bcca50fa3ff1327040d03e98319cf8271d4069";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    struct Crafted {
        v3: bool,
        serial: Vec<u8>,
        issuer: Vec<u8>,
        not_before: Vec<u8>,
        not_after: Vec<u8>,
        subject: Vec<u8>,
        extensions: Vec<Vec<u8>>,
    }

    impl Default for Crafted {
        fn default() -> Self {
            Crafted {
                v3: true,
                serial: vec![0x01],
                issuer: cn("issuer"),
                not_before: utc("260101000000Z"),
                not_after: utc("270101000000Z"),
                subject: cn("subject"),
                extensions: Vec::new(),
            }
        }
    }

    impl Crafted {
        fn der(&self) -> Vec<u8> {
            let alg = seq(&[oid("1.2.840.10045.4.3.2")]);
            let mut tbs = Vec::new();
            if self.v3 {
                tbs.push(tlv(0xa0, &tlv(TAG_INTEGER, &[2])));
            }
            tbs.push(tlv(TAG_INTEGER, &self.serial));
            tbs.push(alg.clone());
            tbs.push(self.issuer.clone());
            tbs.push(seq(&[self.not_before.clone(), self.not_after.clone()]));
            tbs.push(self.subject.clone());
            tbs.push(unhex(SPKI_HEX));
            if !self.extensions.is_empty() {
                tbs.push(tlv(0xa3, &seq(&self.extensions)));
            }
            let sig = tlv(
                TAG_BIT_STRING,
                &[0x00, 0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],
            );
            seq(&[seq(&tbs), alg, sig])
        }
    }

    const CN: &str = "2.5.4.3";

    /// Names: every string type, RFC 2253 escaping, multi-valued RDNs,
    /// unknown OIDs, OpenSSL short names; a v1 certificate with a negative
    /// serial and unusual time forms.
    fn crafted_names() -> Vec<u8> {
        let subject = seq(&[
            rdn(&[attr("2.5.4.6", TAG_PRINTABLE_STRING, b"US")]),
            rdn(&[attr(
                "2.5.4.10",
                TAG_UTF8_STRING,
                b"Te,st \"q\" <a>;b+c\\d=e",
            )]),
            rdn(&[attr("2.5.4.11", TAG_UTF8_STRING, b"#lead ")]),
            rdn(&[
                attr(
                    CN,
                    TAG_BMP_STRING,
                    &[0, b'B', 0, b'M', 0, b'P', 0, b' ', 0x20, 0xac],
                ),
                attr("0.9.2342.19200300.100.1.1", TAG_IA5_STRING, b"u1"),
            ]),
            rdn(&[attr("2.5.4.7", TAG_TELETEX_STRING, b"Z\xfcrich")]),
            rdn(&[attr(
                "2.5.4.8",
                TAG_UNIVERSAL_STRING,
                &[0, 1, 0xd1, 0x1e, 0, 0, 0, b'x'],
            )]),
            rdn(&[attr(CN, TAG_UTF8_STRING, b"ctl\x01\x7fend")]),
            rdn(&[attr(CN, TAG_UTF8_STRING, b" sp")]),
            rdn(&[attr(CN, TAG_UTF8_STRING, b"")]),
            rdn(&[attr("1.2.3.4.5", TAG_UTF8_STRING, b"unknown oid")]),
            rdn(&[attr("1.2.840.113549.1.9.1", TAG_IA5_STRING, b"a@b.c")]),
            rdn(&[attr("2.5.4.5", TAG_PRINTABLE_STRING, b"42")]),
            rdn(&[attr(
                "0.9.2342.19200300.100.1.25",
                TAG_IA5_STRING,
                b"example",
            )]),
            rdn(&[attr("2.5.4.17", TAG_NUMERIC_STRING, b"123")]),
            rdn(&[attr("2.5.4.13", TAG_UTF8_STRING, b"desc")]),
            rdn(&[attr("2.5.4.16", TAG_UTF8_STRING, b"PA")]),
            rdn(&[attr("2.5.4.18", TAG_UTF8_STRING, b"POB")]),
            rdn(&[attr("2.5.4.20", TAG_PRINTABLE_STRING, b"+1 555")]),
            rdn(&[attr("2.5.4.72", TAG_UTF8_STRING, b"r")]),
            rdn(&[attr("1.2.840.113549.1.9.2", TAG_IA5_STRING, b"un")]),
            rdn(&[attr("1.2.840.113549.1.9.8", TAG_UTF8_STRING, b"ua")]),
            rdn(&[attr("1.3.6.1.4.1.311.60.2.1.1", TAG_UTF8_STRING, b"JL")]),
            rdn(&[attr("1.3.6.1.4.1.311.60.2.1.2", TAG_UTF8_STRING, b"JST")]),
            rdn(&[attr("2.5.4.4", TAG_UTF8_STRING, b"Sur")]),
            rdn(&[attr("2.5.4.42", TAG_UTF8_STRING, b"Giv")]),
        ]);
        Crafted {
            v3: false,
            serial: vec![0xff, 0x7f],
            issuer: cn("Issuer CA"),
            not_before: utc("5001010000Z"),
            not_after: gen_time("20991231235959.123Z"),
            subject,
            extensions: Vec::new(),
        }
        .der()
    }

    /// A subject value whose type OpenSSL's name printer does not know.
    fn crafted_odd_value(tag: u8) -> Vec<u8> {
        let subject = seq(&[
            rdn(&[attr(CN, tag, b"\x01odd\xe9")]),
            rdn(&[attr("2.5.4.10", TAG_UTF8_STRING, b"org")]),
        ]);
        Crafted {
            subject,
            ..Crafted::default()
        }
        .der()
    }

    fn other_name(dotted: &str, tag: u8, value: &[u8]) -> Vec<u8> {
        tlv(0xa0, &[oid(dotted), tlv(0xa0, &tlv(tag, value))].concat())
    }

    /// Every GeneralName form, including ones Node has to quote.
    fn crafted_sans() -> Vec<u8> {
        let dir = seq(&[
            rdn(&[attr("2.5.4.6", TAG_PRINTABLE_STRING, b"UK")]),
            rdn(&[attr("2.5.4.10", TAG_UTF8_STRING, b"Dir Org, Inc")]),
            rdn(&[
                attr(CN, TAG_UTF8_STRING, b"dir"),
                attr("1.2.3.4", TAG_UTF8_STRING, b"unk"),
            ]),
            rdn(&[attr(CN, TAG_UTF8_STRING, b"x\x01y \xc3\xa9")]),
            rdn(&[attr(CN, 0x07, b"odd")]),
        ]);
        let names = vec![
            tlv(0x82, b"example.com"),
            tlv(0x82, b"a,b.example.com"),
            tlv(0x82, b"it's.example.com"),
            tlv(0x82, b"q\"uote\\s.example.com"),
            tlv(0x82, b"caf\xe9.example.com"),
            tlv(0x82, b"tab\there"),
            tlv(0x82, b""),
            tlv(0x86, b"https://x.example/a,b"),
            tlv(0x81, b"me@example.com"),
            tlv(0x87, &[127, 0, 0, 1]),
            tlv(0x87, &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
            tlv(
                0x87,
                &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4],
            ),
            tlv(0x87, &[1, 2, 3]),
            tlv(
                0x87,
                &[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            ),
            tlv(0x88, &oid("1.2.3.4.5")[2..]),
            tlv(0xa4, &dir),
            other_name(
                "1.3.6.1.4.1.311.20.2.3",
                TAG_UTF8_STRING,
                b"upn@example.com",
            ),
            other_name("1.3.6.1.5.5.7.8.9", TAG_UTF8_STRING, b"sm,tp@example.com"),
            other_name("1.3.6.1.5.5.7.8.7", TAG_IA5_STRING, b"_https.example.com"),
            other_name(
                "1.3.6.1.5.5.7.8.5",
                TAG_UTF8_STRING,
                "jid@é.example".as_bytes(),
            ),
            other_name("1.3.6.1.5.5.7.8.8", TAG_UTF8_STRING, b"realm"),
            other_name("1.2.3.4", TAG_UTF8_STRING, b"x"),
            other_name("1.3.6.1.4.1.311.20.2.3", TAG_IA5_STRING, b"upn-ia5"),
            tlv(0xa3, &seq(&[])),
            tlv(0xa5, &tlv(0xa1, &tlv(TAG_UTF8_STRING, b"p"))),
        ];
        Crafted {
            serial: vec![0x00],
            not_before: utc("260101120000+0130"),
            not_after: gen_time("20270101120000-0500"),
            extensions: vec![
                san(&names),
                ext("2.5.29.19", true, seq(&[tlv(TAG_BOOLEAN, &[0xff])])),
                ext("2.5.29.15", true, tlv(TAG_BIT_STRING, &[0x01, 0x06])),
            ],
            ..Crafted::default()
        }
        .der()
    }

    /// basicConstraints/keyUsage combinations for `ca`.
    fn crafted_ca(bc: Option<bool>, key_usage: Option<u8>) -> Vec<u8> {
        let mut extensions = Vec::new();
        if let Some(ca) = bc {
            let content = if ca {
                seq(&[tlv(TAG_BOOLEAN, &[0xff])])
            } else {
                seq(&[])
            };
            extensions.push(ext("2.5.29.19", true, content));
        }
        if let Some(bits) = key_usage {
            extensions.push(ext("2.5.29.15", true, tlv(TAG_BIT_STRING, &[0x00, bits])));
        }
        Crafted {
            extensions,
            ..Crafted::default()
        }
        .der()
    }

    fn base64(data: &[u8]) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    fn pem(der: &[u8]) -> String {
        let b64 = base64(der);
        let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).unwrap());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }

    fn all_oracle_certs() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("names", crafted_names()),
            ("sans", crafted_sans()),
            ("ca_ku_no_certsign", crafted_ca(Some(true), Some(0x80))),
            ("ca_ku_certsign", crafted_ca(Some(true), Some(0x04))),
            ("ca_false", crafted_ca(Some(false), None)),
            ("ca_none_ku_certsign", crafted_ca(None, Some(0x04))),
            ("ca_true", crafted_ca(Some(true), None)),
            ("rcgen", rcgen_cert().der().to_vec()),
            ("odd_value", crafted_odd_value(0x07)),
            ("visible_value", crafted_odd_value(TAG_VISIBLE_STRING)),
            ("octet_value", crafted_odd_value(TAG_OCTET_STRING)),
            ("seq_value", crafted_odd_value(TAG_SEQUENCE)),
            ("bitstring_value", crafted_odd_value(TAG_BIT_STRING)),
        ]
    }

    /// Writes the crafted certificates as PEM files into
    /// `$CERTKIT_DUMP_DIR` so that the expectations below can be checked
    /// against Node (`new crypto.X509Certificate(pem)`).
    #[test]
    #[ignore]
    fn dump_oracle_pems() {
        let Ok(dir) = std::env::var("CERTKIT_DUMP_DIR") else {
            return;
        };
        for (name, der) in all_oracle_certs() {
            std::fs::write(format!("{dir}/{name}.pem"), pem(&der)).unwrap();
        }
    }

    fn rcgen_cert() -> rcgen::Certificate {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType,
            SerialNumber,
        };
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CountryName, "US");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Test");
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.subject_alt_names = vec![
            SanType::DnsName("localhost".try_into().unwrap()),
            SanType::DnsName("*.example.com".try_into().unwrap()),
            SanType::IpAddress("127.0.0.1".parse().unwrap()),
            SanType::IpAddress("::1".parse().unwrap()),
            SanType::IpAddress("fe80::1:0:0:abcd".parse().unwrap()),
            SanType::URI("https://example.com/a,b".try_into().unwrap()),
            SanType::Rfc822Name("me@example.com".try_into().unwrap()),
        ];
        params.not_before = rcgen::date_time_ymd(2026, 11, 30)
            .replace_hour(17)
            .unwrap()
            .replace_minute(51)
            .unwrap()
            .replace_second(5)
            .unwrap();
        params.not_after = rcgen::date_time_ymd(2054, 1, 5);
        params.serial_number = Some(SerialNumber::from_slice(&[0x8f, 0x01, 0x02]));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap()
    }

    // -- Expectations generated from Node's output for the certificates
    // -- above (`dump_oracle_pems`, then `new crypto.X509Certificate(pem)`).

    /// Expected values printed by Node v20.20.2 for `names`.
    fn expect_names(pc: &PeerCertificate) {
        assert_eq!(
            pc.subject.to_string(),
            "C=US\nO=Te\\,st \\\"q\\\" \\<a\\>\\;b\\+c\\\\d=e\nOU=\\#lead\\ \nCN=BMP € + UID=u1\nL=Zürich\nST=𝄞x\nCN=ctl\\01\\7Fend\nCN=\\ sp\nCN=\n1.2.3.4.5=unknown oid\nemailAddress=a@b.c\nserialNumber=42\nDC=example\npostalCode=123\ndescription=desc\npostalAddress=PA\npostOfficeBox=POB\ntelephoneNumber=\\+1 555\nrole=r\nunstructuredName=un\nunstructuredAddress=ua\njurisdictionL=JL\njurisdictionST=JST\nSN=Sur\nGN=Giv"
        );
        assert_eq!(pc.issuer.to_string(), "CN=Issuer CA");
        assert_eq!(pc.subjectaltname.as_deref(), None);
        assert_eq!(pc.valid_from, "Jan  1 00:00:00 1950 GMT");
        assert_eq!(pc.valid_to, "Dec 31 23:59:59.123 2099 GMT");
        assert_eq!(pc.not_before_unix, -631152000);
        assert_eq!(pc.not_after_unix, 4102444799);
        assert_eq!(pc.serial_number, "-81");
        assert!(!pc.ca);
        assert_eq!(pc.subject.get_all("C").collect::<Vec<_>>(), ["US"]);
        assert_eq!(
            pc.subject.get_all("O").collect::<Vec<_>>(),
            ["Te,st \"q\" <a>;b+c\\d=e"]
        );
        assert_eq!(pc.subject.get_all("OU").collect::<Vec<_>>(), ["#lead "]);
        assert_eq!(
            pc.subject.get_all("CN").collect::<Vec<_>>(),
            ["BMP €", "ctl\u{1}\u{7f}end", " sp", ""]
        );
        assert_eq!(pc.subject.get_all("UID").collect::<Vec<_>>(), ["u1"]);
        assert_eq!(pc.subject.get_all("L").collect::<Vec<_>>(), ["Zürich"]);
        assert_eq!(pc.subject.get_all("ST").collect::<Vec<_>>(), ["𝄞x"]);
        assert_eq!(
            pc.subject.get_all("1.2.3.4.5").collect::<Vec<_>>(),
            ["unknown oid"]
        );
        assert_eq!(
            pc.subject.get_all("emailAddress").collect::<Vec<_>>(),
            ["a@b.c"]
        );
        assert_eq!(
            pc.subject.get_all("serialNumber").collect::<Vec<_>>(),
            ["42"]
        );
        assert_eq!(pc.subject.get_all("DC").collect::<Vec<_>>(), ["example"]);
        assert_eq!(
            pc.subject.get_all("postalCode").collect::<Vec<_>>(),
            ["123"]
        );
        assert_eq!(
            pc.subject.get_all("description").collect::<Vec<_>>(),
            ["desc"]
        );
        assert_eq!(
            pc.subject.get_all("postalAddress").collect::<Vec<_>>(),
            ["PA"]
        );
        assert_eq!(
            pc.subject.get_all("postOfficeBox").collect::<Vec<_>>(),
            ["POB"]
        );
        assert_eq!(
            pc.subject.get_all("telephoneNumber").collect::<Vec<_>>(),
            ["+1 555"]
        );
        assert_eq!(pc.subject.get_all("role").collect::<Vec<_>>(), ["r"]);
        assert_eq!(
            pc.subject.get_all("unstructuredName").collect::<Vec<_>>(),
            ["un"]
        );
        assert_eq!(
            pc.subject
                .get_all("unstructuredAddress")
                .collect::<Vec<_>>(),
            ["ua"]
        );
        assert_eq!(
            pc.subject.get_all("jurisdictionL").collect::<Vec<_>>(),
            ["JL"]
        );
        assert_eq!(
            pc.subject.get_all("jurisdictionST").collect::<Vec<_>>(),
            ["JST"]
        );
        assert_eq!(pc.subject.get_all("SN").collect::<Vec<_>>(), ["Sur"]);
        assert_eq!(pc.subject.get_all("GN").collect::<Vec<_>>(), ["Giv"]);
        assert_eq!(pc.subject.len(), 26);
    }
    /// Expected values printed by Node v20.20.2 for `sans`.
    fn expect_sans(pc: &PeerCertificate) {
        assert_eq!(pc.subject.to_string(), "CN=subject");
        assert_eq!(pc.issuer.to_string(), "CN=issuer");
        assert_eq!(
            pc.subjectaltname.as_deref(),
            Some(
                "DNS:example.com, DNS:\"a\\u002cb.example.com\", DNS:\"it's.example.com\", DNS:\"q\\\"uote\\\\s.example.com\", DNS:\"caf\\u00e9.example.com\", DNS:\"tab\\u0009here\", DNS:, URI:\"https://x.example/a\\u002cb\", email:me@example.com, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:0:0:0:0:0:FFFF:102:304, IP Address:<invalid length=3>, IP Address:2001:DB8:0:0:0:0:0:1, Registered ID:1.2.3.4.5, DirName:\"CN=#07036F6464\\u002cCN=x\\u0001y é\\u002c1.2.3.4=#0C03756E6B+CN=dir\\u002cO=Dir Org\\\\\\u002c Inc\\u002cC=UK\", othername:UPN:upn@example.com, othername:\"SmtpUTF8Mailbox:sm\\u002ctp@example.com\", othername:SRVName:_https.example.com, othername:XmppAddr:jid@é.example, othername:NAIRealm:realm, othername:<unsupported>, othername:<unsupported>, X400Name:<unsupported>, EdiPartyName:<unsupported>"
            )
        );
        assert_eq!(pc.valid_from, "Jan  1 10:30:00 2026 GMT");
        assert_eq!(pc.valid_to, "Jan  1 17:00:00 2027 GMT");
        assert_eq!(pc.not_before_unix, 1767263400);
        assert_eq!(pc.not_after_unix, 1798822800);
        assert_eq!(pc.serial_number, "0");
        assert!(pc.ca);
        assert_eq!(pc.subject.get_all("CN").collect::<Vec<_>>(), ["subject"]);
        assert_eq!(pc.subject.len(), 1);
    }
    /// Expected values printed by Node v20.20.2 for `rcgen`.
    fn expect_rcgen(pc: &PeerCertificate) {
        assert_eq!(pc.subject.to_string(), "C=US\nO=Test\nCN=localhost");
        assert_eq!(pc.issuer.to_string(), "C=US\nO=Test\nCN=localhost");
        assert_eq!(
            pc.subjectaltname.as_deref(),
            Some(
                "DNS:localhost, DNS:*.example.com, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:FE80:0:0:0:1:0:0:ABCD, URI:\"https://example.com/a\\u002cb\", email:me@example.com"
            )
        );
        assert_eq!(pc.valid_from, "Nov 30 17:51:05 2026 GMT");
        assert_eq!(pc.valid_to, "Jan  5 00:00:00 2054 GMT");
        assert_eq!(pc.not_before_unix, 1796061065);
        assert_eq!(pc.not_after_unix, 2651184000);
        assert_eq!(pc.serial_number, "8F0102");
        assert!(pc.ca);
        assert_eq!(pc.subject.get_all("C").collect::<Vec<_>>(), ["US"]);
        assert_eq!(pc.subject.get_all("O").collect::<Vec<_>>(), ["Test"]);
        assert_eq!(pc.subject.get_all("CN").collect::<Vec<_>>(), ["localhost"]);
        assert_eq!(pc.subject.len(), 3);
    }
    /// Expected values printed by Node v20.20.2 for `odd_value`.
    fn expect_odd_value(pc: &PeerCertificate) {
        assert_eq!(pc.subject.to_string(), "CN=\\01oddé\nO=org");
        assert_eq!(pc.issuer.to_string(), "CN=issuer");
        assert_eq!(pc.subjectaltname.as_deref(), None);
        assert_eq!(pc.valid_from, "Jan  1 00:00:00 2026 GMT");
        assert_eq!(pc.valid_to, "Jan  1 00:00:00 2027 GMT");
        assert_eq!(pc.not_before_unix, 1767225600);
        assert_eq!(pc.not_after_unix, 1798761600);
        assert_eq!(pc.serial_number, "01");
        assert!(!pc.ca);
    }
    /// Expected values printed by Node v20.20.2 for `seq_value`.
    fn expect_seq_value(pc: &PeerCertificate) {
        assert_eq!(pc.subject.to_string(), "CN=0\\05\\01oddé\nO=org");
        assert_eq!(pc.issuer.to_string(), "CN=issuer");
        assert_eq!(pc.subjectaltname.as_deref(), None);
        assert_eq!(pc.valid_from, "Jan  1 00:00:00 2026 GMT");
        assert_eq!(pc.valid_to, "Jan  1 00:00:00 2027 GMT");
        assert_eq!(pc.not_before_unix, 1767225600);
        assert_eq!(pc.not_after_unix, 1798761600);
        assert_eq!(pc.serial_number, "01");
        assert!(!pc.ca);
    }
    /// Expected values printed by Node v20.20.2 for `bitstring_value`.
    fn expect_bitstring_value(pc: &PeerCertificate) {
        assert_eq!(pc.subject.to_string(), "CN=oddè\nO=org");
        assert_eq!(pc.issuer.to_string(), "CN=issuer");
        assert_eq!(pc.subjectaltname.as_deref(), None);
        assert_eq!(pc.valid_from, "Jan  1 00:00:00 2026 GMT");
        assert_eq!(pc.valid_to, "Jan  1 00:00:00 2027 GMT");
        assert_eq!(pc.not_before_unix, 1767225600);
        assert_eq!(pc.not_after_unix, 1798761600);
        assert_eq!(pc.serial_number, "01");
        assert!(!pc.ca);
    }

    #[test]
    fn rcgen_certificate_matches_node() {
        let cert = rcgen_cert();
        let pc = PeerCertificate::from_der(cert.der()).unwrap();
        expect_rcgen(&pc);
        assert_eq!(pc.raw, cert.der().to_vec());
        assert_eq!(pc.issuer, pc.subject);
        assert_eq!(pc.subject.get("CN"), Some("localhost"));
        assert_eq!(pc.subject.get("OU"), None);
        assert_eq!(
            pc.subject.iter().collect::<Vec<_>>(),
            [("C", "US"), ("O", "Test"), ("CN", "localhost")]
        );
        assert_eq!(pc.dns_names, ["localhost", "*.example.com"]);
        let ips: Vec<IpAddr> = ["127.0.0.1", "::1", "fe80::1:0:0:abcd"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(pc.ip_addresses, ips);
        assert_eq!(pc.fingerprint256, "");
        assert_eq!(PeerCertificate::from_der(cert.der()).unwrap(), pc.clone());
    }

    #[test]
    fn rcgen_leaf_without_extensions_of_interest() {
        use rcgen::{CertificateParams, IsCa, KeyPair};
        for is_ca in [IsCa::NoCa, IsCa::ExplicitNoCa] {
            let mut params = CertificateParams::default();
            params.is_ca = is_ca;
            let key = KeyPair::generate().unwrap();
            let cert = params.self_signed(&key).unwrap();
            let pc = PeerCertificate::from_der(cert.der()).unwrap();
            assert!(!pc.ca);
            assert_eq!(pc.subjectaltname, None);
            assert!(pc.dns_names.is_empty() && pc.ip_addresses.is_empty());
            assert_eq!(pc.subject.to_string(), "CN=rcgen self signed cert");
            // rcgen's defaults: 1975-01-01 (UTCTime) to 4096-01-01 (GeneralizedTime).
            assert_eq!(pc.valid_from, "Jan  1 00:00:00 1975 GMT");
            assert_eq!(pc.valid_to, "Jan  1 00:00:00 4096 GMT");
            assert_eq!(pc.not_before_unix, 157_766_400);
            assert_eq!(pc.not_after_unix, 67_090_118_400);
        }
    }

    #[test]
    fn crafted_names_match_node() {
        let pc = PeerCertificate::from_der(&crafted_names()).unwrap();
        expect_names(&pc);
        assert_eq!(pc.subject.get("CN"), Some("BMP €"));
        assert_eq!(pc.issuer.get("CN"), Some("Issuer CA"));
    }

    #[test]
    fn crafted_alt_names_match_node() {
        let pc = PeerCertificate::from_der(&crafted_sans()).unwrap();
        expect_sans(&pc);
        assert_eq!(
            pc.dns_names,
            [
                "example.com",
                "a,b.example.com",
                "it's.example.com",
                "q\"uote\\s.example.com",
                "café.example.com",
                "tab\there",
                "",
            ]
        );
        let ips: Vec<IpAddr> = ["127.0.0.1", "::1", "::ffff:1.2.3.4", "2001:db8::1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(pc.ip_addresses, ips);
    }

    #[test]
    fn odd_value_types_match_node_display() {
        // Node's legacy object has no `subject` for these (OpenSSL cannot
        // convert the value to UTF-8); we keep the Latin-1 reading.
        let pc = PeerCertificate::from_der(&crafted_odd_value(0x07)).unwrap();
        expect_odd_value(&pc);
        assert_eq!(pc.subject.get("CN"), Some("\u{1}oddé"));
        expect_seq_value(&PeerCertificate::from_der(&crafted_odd_value(TAG_SEQUENCE)).unwrap());
        expect_bitstring_value(
            &PeerCertificate::from_der(&crafted_odd_value(TAG_BIT_STRING)).unwrap(),
        );
        // OpenSSL rejects these certificates ("mstring wrong tag").
        for tag in [
            TAG_VISIBLE_STRING,
            TAG_OCTET_STRING,
            TAG_INTEGER,
            0x05,
            0x1b,
            0xa0,
        ] {
            let err = PeerCertificate::from_der(&crafted_odd_value(tag)).unwrap_err();
            assert_eq!(err.what(), "unsupported attribute value type");
        }
    }

    #[test]
    fn ca_flag_follows_x509_check_ca() {
        // Verified with Node's `X509Certificate.ca`.
        let cases = [
            (Some(true), None, true),
            (Some(true), Some(0x04), true),
            (Some(true), Some(0x80), false),
            (Some(false), None, false),
            (None, Some(0x04), false),
            (None, None, false),
        ];
        for (bc, ku, expected) in cases {
            let pc = PeerCertificate::from_der(&crafted_ca(bc, ku)).unwrap();
            assert_eq!(pc.ca, expected, "{bc:?} {ku:?}");
        }
    }

    #[test]
    fn rejects_malformed_structures() {
        let good = crafted_ca(Some(true), None);
        assert!(PeerCertificate::from_der(&good).is_ok());

        let err = PeerCertificate::from_der(&[]).unwrap_err();
        assert_eq!(err.offset(), 0);
        assert_eq!(
            err.to_string(),
            "malformed certificate at byte 0: unexpected end of data"
        );

        let mut trailing = good.clone();
        trailing.push(0);
        let err = PeerCertificate::from_der(&trailing).unwrap_err();
        assert_eq!(err.what(), "trailing data after Certificate");
        assert_eq!(err.offset(), good.len());

        // Indefinite length.
        let mut indefinite = good.clone();
        indefinite[1] = 0x80;
        assert_eq!(
            PeerCertificate::from_der(&indefinite).unwrap_err().what(),
            "indefinite length not allowed"
        );

        // Duplicate subjectAltName.
        let dup = Crafted {
            extensions: vec![san(&[tlv(0x82, b"a")]), san(&[tlv(0x82, b"b")])],
            ..Crafted::default()
        };
        assert_eq!(
            PeerCertificate::from_der(&dup.der()).unwrap_err().what(),
            "duplicate extension"
        );

        // Unknown GeneralName tag, SAN that is not a SEQUENCE.
        for ext_value in [
            san(&[tlv(0x89, b"x")]),
            ext("2.5.29.17", false, tlv(TAG_SET, &[])),
        ] {
            let c = Crafted {
                extensions: vec![ext_value],
                ..Crafted::default()
            };
            assert!(PeerCertificate::from_der(&c.der()).is_err());
        }

        // Bad times.
        for (nb, na) in [
            (utc("230229000000Z"), utc("240229000000Z")),
            (utc("260101000000"), utc("270101000000Z")),
            (utc("260101000060Z"), utc("270101000000Z")),
            (utc("261301000000Z"), utc("270101000000Z")),
            (utc("260101000000.5Z"), utc("270101000000Z")),
            (gen_time("20260101000000.Z"), utc("270101000000Z")),
            (gen_time("20260101000000Z "), utc("270101000000Z")),
            (utc("260101000000+1300"), utc("270101000000Z")),
            (tlv(TAG_UTF8_STRING, b"260101000000Z"), utc("270101000000Z")),
        ] {
            let c = Crafted {
                not_before: nb.clone(),
                not_after: na,
                ..Crafted::default()
            };
            let err = PeerCertificate::from_der(&c.der()).unwrap_err();
            assert!(
                err.what().contains("time") || err.what().contains("Time"),
                "{nb:?}: {err}"
            );
        }

        // Empty serial, empty RDN.
        let c = Crafted {
            serial: Vec::new(),
            ..Crafted::default()
        };
        assert_eq!(
            PeerCertificate::from_der(&c.der()).unwrap_err().what(),
            "empty INTEGER"
        );
        let c = Crafted {
            subject: seq(&[rdn(&[])]),
            ..Crafted::default()
        };
        assert!(PeerCertificate::from_der(&c.der()).is_err());
    }

    #[test]
    fn time_forms() {
        let c = Crafted {
            not_before: utc("240229235959Z"),
            not_after: gen_time("99991231235959Z"),
            ..Crafted::default()
        };
        let pc = PeerCertificate::from_der(&c.der()).unwrap();
        assert_eq!(pc.valid_from, "Feb 29 23:59:59 2024 GMT");
        assert_eq!(pc.not_before_unix, 1_709_251_199);
        assert_eq!(pc.valid_to, "Dec 31 23:59:59 9999 GMT");
        assert_eq!(pc.not_after_unix, 253_402_300_799);

        let c = Crafted {
            not_before: utc("491231235959Z"),
            not_after: gen_time("202601010000Z"),
            ..Crafted::default()
        };
        let pc = PeerCertificate::from_der(&c.der()).unwrap();
        assert_eq!(pc.valid_from, "Dec 31 23:59:59 2049 GMT");
        assert_eq!(pc.valid_to, "Jan  1 00:00:00 2026 GMT");

        for days in [-800_000i64, -719_468, -1, 0, 1, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn helpers() {
        assert_eq!(colon_hex(&[0xab, 0x01, 0xff]), "AB:01:FF");
        assert_eq!(colon_hex(&[]), "");
        assert_eq!(serial_hex(&[0x00, 0x8f]), "8F");
        assert_eq!(serial_hex(&[0x00]), "0");
        assert_eq!(serial_hex(&[0x00, 0x00, 0x01]), "01");
        assert_eq!(serial_hex(&[0x80]), "-80");
        assert_eq!(serial_hex(&[0xff]), "-01");
        assert_eq!(serial_hex(&[0xff, 0x00]), "-0100");
        assert_eq!(
            oid_to_dotted(&[0x2a, 0x86, 0x48]).as_deref(),
            Some("1.2.840")
        );
        assert_eq!(
            oid_to_dotted(&[0x88, 0x37, 0x03]).as_deref(),
            Some("2.999.3")
        );
        assert_eq!(oid_to_dotted(&[0x00]).as_deref(), Some("0.0"));
        assert_eq!(oid_to_dotted(&[]), None);
        assert_eq!(oid_to_dotted(&[0x2a, 0x86]), None);
        assert_eq!(oid_to_dotted(&[0x2a, 0x80, 0x01]), None);
        assert_eq!(
            oid_to_dotted(
                &[0xff; 40]
                    .iter()
                    .chain(&[0x01])
                    .copied()
                    .collect::<Vec<_>>()
            ),
            None
        );
        assert_eq!(
            decode_string(TAG_BMP_STRING, &[0xd8, 0x34, 0xdd, 0x1e, 0x00]),
            "𝄞\u{fffd}"
        );
        assert_eq!(decode_string(TAG_BMP_STRING, &[0xd8, 0x34]), "\u{fffd}");
        assert_eq!(
            decode_string(TAG_UNIVERSAL_STRING, &[0, 0x11, 0, 0, 0]),
            "\u{fffd}\u{fffd}"
        );
        assert_eq!(decode_string(TAG_UTF8_STRING, b"a\xffb"), "a\u{fffd}b");
        assert_eq!(decode_string(TAG_TELETEX_STRING, b"\xe9"), "é");

        let mut dn = DistinguishedName::new();
        assert!(dn.is_empty());
        dn.push("CN", "a");
        dn.push("CN", "b");
        dn.push("O", "x, y");
        assert_eq!(dn.len(), 3);
        assert_eq!(dn.get("CN"), Some("a"));
        assert_eq!(dn.get_all("CN").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(dn.to_string(), "CN=a\nCN=b\nO=x\\, y");
    }

    // -- Robustness: no panics on any input ---------------------------------

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn robustness_corpus() -> Vec<Vec<u8>> {
        vec![
            rcgen_cert().der().to_vec(),
            crafted_sans(),
            crafted_names(),
            crafted_odd_value(TAG_BIT_STRING),
        ]
    }

    #[test]
    fn every_prefix_is_rejected_without_panicking() {
        for der in robustness_corpus() {
            assert!(PeerCertificate::from_der(&der).is_ok());
            for len in 0..der.len() {
                let err = PeerCertificate::from_der(&der[..len]).unwrap_err();
                assert!(err.offset() <= len, "{len}: {err}");
            }
        }
    }

    #[test]
    fn random_mutations_never_panic() {
        let corpus = robustness_corpus();
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut parsed = 0usize;
        for i in 0..20_000 {
            let mut der = corpus[i % corpus.len()].clone();
            for _ in 0..=rng.below(4) {
                let at = rng.below(der.len());
                match rng.below(4) {
                    0 => der[at] = rng.next() as u8,
                    1 => der[at] ^= 1 << rng.below(8),
                    2 => {
                        der.remove(at);
                    }
                    _ => der.insert(at, rng.next() as u8),
                }
            }
            if let Ok(pc) = PeerCertificate::from_der(&der) {
                parsed += 1;
                // Outputs stay proportional to the input.
                let text_len = pc.subjectaltname.as_ref().map_or(0, String::len)
                    + pc.subject.to_string().len()
                    + pc.issuer.to_string().len();
                assert!(text_len <= 16 * der.len());
            }
        }
        // Many mutations hit the signature or key and still parse.
        assert!(parsed > 1_000, "{parsed}");
    }
}
