//! Node.js's `tls.checkServerIdentity(hostname, cert)` as a pure function.
//!
//! The rules are Node 20's:
//! * an IP literal host (IPv4 dotted quad, or IPv6 with an optional
//!   `%zone`) is compared only with the certificate's IP address SANs, as
//!   addresses (so `::1` matches `IP Address:0:0:0:0:0:0:0:1`, and a
//!   `DNS:127.0.0.1` entry does not count);
//! * any other host is compared with the DNS SANs, and with the subject's
//!   common names only when there are no DNS SANs; URI SANs are ignored;
//! * comparison is ASCII case-insensitive, one trailing dot on the host and
//!   on each pattern is ignored;
//! * `*` matches within the first label only (it may be partial, as in
//!   `b*z.example.com`), the pattern needs at least three labels, patterns
//!   with empty labels or characters outside `!`..`DEL` never match, and
//!   `xn--` labels are compared literally.

use std::fmt::{self, Write as _};
use std::net::{IpAddr, Ipv6Addr};

use super::peer_certificate::PeerCertificate;

/// The error returned by [`check_server_identity`], mirroring Node's
/// `ERR_TLS_CERT_ALTNAME_INVALID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityMismatch {
    /// Node's `err.reason`, e.g.
    /// `"Host: localhost. is not in the cert's altnames: DNS:example.com"`.
    pub reason: String,
    /// Node's `err.host`: the host name that was checked, without one
    /// trailing dot.
    pub host: String,
}

impl IdentityMismatch {
    /// Node's error code for this error, `"ERR_TLS_CERT_ALTNAME_INVALID"`.
    #[allow(dead_code)]
    pub fn code(&self) -> &'static str {
        "ERR_TLS_CERT_ALTNAME_INVALID"
    }
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

impl std::error::Error for IdentityMismatch {}

/// Checks that `cert` is valid for `hostname`, as Node's
/// `tls.checkServerIdentity` does.
///
/// Matching uses the parsed [`PeerCertificate::dns_names`],
/// [`PeerCertificate::ip_addresses`] and the subject's `CN` attributes;
/// [`PeerCertificate::subjectaltname`] is only quoted in the error reason.
///
/// # Errors
///
/// Returns an [`IdentityMismatch`] whose `reason` is exactly Node's when the
/// certificate does not cover `hostname`:
/// * `IP: {ip} is not in the cert's list: {ips}` for an IP literal
///   (`{ips}` are the certificate's IP SANs in canonical form, joined by
///   `", "`);
/// * `Host: {host}. is not in the cert's altnames: {subjectaltname}` when
///   DNS SANs exist;
/// * `Host: {host}. is not cert's CN: {cn}` when only the subject CN exists
///   (several CNs are joined by `","`);
/// * `Cert does not contain a DNS name` when there is neither.
pub fn check_server_identity(
    hostname: &str,
    cert: &PeerCertificate,
) -> Result<(), IdentityMismatch> {
    let host = unfqdn(hostname);
    let fail = |reason: String| {
        Err(IdentityMismatch {
            reason,
            host: host.to_owned(),
        })
    };

    if let Some(ip) = parse_ip_literal(host) {
        if cert.ip_addresses.contains(&ip) {
            return Ok(());
        }
        let list: Vec<String> = cert.ip_addresses.iter().map(canonical_ip).collect();
        return fail(format!(
            "IP: {host} is not in the cert's list: {}",
            list.join(", ")
        ));
    }

    let cns: Vec<&str> = cert.subject.get_all("CN").collect();
    let has_cn = match cns.as_slice() {
        [] => false,
        [one] => !one.is_empty(),
        _ => true,
    };
    if cert.dns_names.is_empty() && !has_cn {
        return fail("Cert does not contain a DNS name".to_owned());
    }

    let host_lower = unfqdn(host).to_ascii_lowercase();
    let host_parts: Vec<&str> = host_lower.split('.').collect();
    if !cert.dns_names.is_empty() {
        if cert
            .dns_names
            .iter()
            .any(|pattern| matches_pattern(&host_parts, pattern))
        {
            return Ok(());
        }
        let altnames = cert.subjectaltname.as_deref().unwrap_or("");
        return fail(format!(
            "Host: {host}. is not in the cert's altnames: {altnames}"
        ));
    }
    if cns.iter().any(|cn| matches_pattern(&host_parts, cn)) {
        return Ok(());
    }
    fail(format!("Host: {host}. is not cert's CN: {}", cns.join(",")))
}

/// Removes one trailing dot.
fn unfqdn(host: &str) -> &str {
    host.strip_suffix('.').unwrap_or(host)
}

/// Node's `net.isIP()` followed by `canonicalizeIP()`: a dotted-quad IPv4
/// address, or an IPv6 address optionally followed by `%zone`
/// (`[0-9A-Za-z.:-]+`), whose zone is dropped.
fn parse_ip_literal(host: &str) -> Option<IpAddr> {
    if let Some((addr, zone)) = host.split_once('%') {
        let zone_ok = !zone.is_empty()
            && zone
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':'));
        return if zone_ok {
            addr.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
        } else {
            None
        };
    }
    host.parse::<IpAddr>().ok()
}

/// An address as Node's `canonicalizeIP()` (libuv's `inet_ntop`) prints it:
/// IPv6 in lower case with the longest run (first on ties) of two or more
/// zero groups compressed, and IPv4-compatible (`::a.b.c.d`) and
/// IPv4-mapped (`::ffff:a.b.c.d`) addresses in dotted form.
fn canonical_ip(ip: &IpAddr) -> String {
    let v6 = match ip {
        IpAddr::V4(v4) => return v4.to_string(),
        IpAddr::V6(v6) => v6,
    };
    let words = v6.segments();
    let (mut best_base, mut best_len) = (None::<usize>, 0usize);
    let (mut cur_base, mut cur_len) = (None::<usize>, 0usize);
    for (i, w) in words.iter().enumerate() {
        if *w == 0 {
            if cur_base.is_none() {
                cur_base = Some(i);
                cur_len = 0;
            }
            cur_len += 1;
        } else if cur_base.is_some() {
            if best_base.is_none() || cur_len > best_len {
                (best_base, best_len) = (cur_base, cur_len);
            }
            cur_base = None;
        }
    }
    if cur_base.is_some() && (best_base.is_none() || cur_len > best_len) {
        (best_base, best_len) = (cur_base, cur_len);
    }
    if best_len < 2 {
        best_base = None;
    }

    let mut out = String::new();
    for (i, w) in words.iter().enumerate() {
        if best_base.is_some_and(|base| i >= base && i < base + best_len) {
            if best_base == Some(i) {
                out.push(':');
            }
            continue;
        }
        if i != 0 {
            out.push(':');
        }
        let embedded_v4 = i == 6
            && best_base == Some(0)
            && (best_len == 6 || (best_len == 5 && words.get(5) == Some(&0xffff)));
        if embedded_v4 {
            let [.., a, b, c, d] = v6.octets();
            let _ = write!(out, "{a}.{b}.{c}.{d}");
            return out;
        }
        let _ = write!(out, "{w:x}");
    }
    if best_base.is_some_and(|base| base + best_len == words.len()) {
        out.push(':');
    }
    out
}

/// Node's `check(hostParts, pattern, wildcards = true)`.
fn matches_pattern(host_parts: &[&str], pattern: &str) -> bool {
    if pattern.is_empty() {
        return false;
    }
    let pattern = unfqdn(pattern).to_ascii_lowercase();
    let pattern_parts: Vec<&str> = pattern.split('.').collect();
    if pattern_parts.len() != host_parts.len() {
        return false;
    }
    if pattern_parts.iter().any(|p| p.is_empty()) {
        return false;
    }
    // IDNA U-labels, blanks and control characters are rejected.
    if pattern.chars().any(|c| !('\u{21}'..='\u{7f}').contains(&c)) {
        return false;
    }
    // Every label but the first must match exactly.
    if pattern_parts.iter().skip(1).ne(host_parts.iter().skip(1)) {
        return false;
    }
    let (Some(host_first), Some(pattern_first)) = (host_parts.first(), pattern_parts.first())
    else {
        return false;
    };
    let pieces: Vec<&str> = pattern_first.split('*').collect();
    // No wildcard, or a wildcard inside an A-label: compare literally.
    if pieces.len() == 1 || pattern_first.contains("xn--") {
        return host_first == pattern_first;
    }
    // More than one wildcard, or `*.tld`.
    if pieces.len() > 2 || pattern_parts.len() <= 2 {
        return false;
    }
    let (prefix, suffix) = match pieces.as_slice() {
        [p, s] => (*p, *s),
        _ => return false,
    };
    prefix.len() + suffix.len() <= host_first.len()
        && host_first.starts_with(prefix)
        && host_first.ends_with(suffix)
}
