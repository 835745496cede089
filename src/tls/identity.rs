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

#[cfg(test)]
mod tests {
    use super::super::peer_certificate::DistinguishedName;
    use super::*;

    /// A certificate with the given Node-style `subjectaltname` (simple
    /// entries only) and subject common names.
    fn cert(san: Option<&str>, cns: &[&str]) -> PeerCertificate {
        let mut subject = DistinguishedName::new();
        for cn in cns {
            subject.push("CN", *cn);
        }
        let mut dns_names = Vec::new();
        let mut ip_addresses = Vec::new();
        for entry in san.into_iter().flat_map(|s| s.split(", ")) {
            if let Some(name) = entry.strip_prefix("DNS:") {
                dns_names.push(name.to_owned());
            } else if let Some(ip) = entry.strip_prefix("IP Address:") {
                ip_addresses.push(ip.parse().unwrap());
            }
        }
        PeerCertificate {
            raw: Vec::new(),
            subject,
            issuer: DistinguishedName::new(),
            subjectaltname: san.map(str::to_owned),
            valid_from: String::new(),
            valid_to: String::new(),
            not_before_unix: 0,
            not_after_unix: 0,
            serial_number: "01".to_owned(),
            ca: false,
            dns_names,
            ip_addresses,
            fingerprint256: String::new(),
        }
    }

    /// `(host, subjectaltname, subject CNs, Node's err.reason)`, produced by
    /// running Node v20.20.2's `tls.checkServerIdentity` on each case (the
    /// cases include those of Node's test-tls-check-server-identity.js).
    type Case = (
        &'static str,
        Option<&'static str>,
        &'static [&'static str],
        Option<&'static str>,
    );
    const NODE_CASES: &[Case] = &[
        ("a.com", None, &["a.com"], None),
        ("a.com", None, &["A.COM"], None),
        (
            "a.com",
            None,
            &["b.com"],
            Some("Host: a.com. is not cert's CN: b.com"),
        ),
        ("a.com", None, &["a.com."], None),
        (
            "a.com",
            None,
            &[".a.com"],
            Some("Host: a.com. is not cert's CN: .a.com"),
        ),
        ("b.a.com", None, &["*.a.com"], None),
        (
            "ba.com",
            None,
            &["*.a.com"],
            Some("Host: ba.com. is not cert's CN: *.a.com"),
        ),
        (
            "\n.b.com",
            None,
            &["*n.b.com"],
            Some("Host: \n.b.com. is not cert's CN: *n.b.com"),
        ),
        (
            "b.a.com",
            Some("DNS:omg.com"),
            &["*.a.com"],
            Some("Host: b.a.com. is not in the cert's altnames: DNS:omg.com"),
        ),
        (
            "b.a.com",
            None,
            &["b*b.a.com"],
            Some("Host: b.a.com. is not cert's CN: b*b.a.com"),
        ),
        ("foo.com", None, &["foo.com", "bar.com"], None),
        (
            "a.com",
            Some("DNS:*"),
            &["b.com"],
            Some("Host: a.com. is not in the cert's altnames: DNS:*"),
        ),
        (
            "a.com",
            Some("DNS:*.com"),
            &["b.com"],
            Some("Host: a.com. is not in the cert's altnames: DNS:*.com"),
        ),
        ("a.co.uk", Some("DNS:*.co.uk"), &["b.com"], None),
        (
            "a.com",
            Some("DNS:*.a.com"),
            &["a.com"],
            Some("Host: a.com. is not in the cert's altnames: DNS:*.a.com"),
        ),
        (
            "a.com",
            Some("DNS:*.a.com"),
            &["b.com"],
            Some("Host: a.com. is not in the cert's altnames: DNS:*.a.com"),
        ),
        ("a.com", Some("DNS:a.com"), &["b.com"], None),
        ("a.com", Some("DNS:A.COM"), &["b.com"], None),
        (
            "a.com",
            Some("DNS:*.a.com"),
            &[],
            Some("Host: a.com. is not in the cert's altnames: DNS:*.a.com"),
        ),
        ("b.a.com", Some("DNS:*.a.com"), &[], None),
        (
            "c.b.a.com",
            Some("DNS:*.a.com"),
            &[],
            Some("Host: c.b.a.com. is not in the cert's altnames: DNS:*.a.com"),
        ),
        ("b.a.com", Some("DNS:*b.a.com"), &[], None),
        ("a-cb.a.com", Some("DNS:*b.a.com"), &[], None),
        (
            "a.b.a.com",
            Some("DNS:*b.a.com"),
            &[],
            Some("Host: a.b.a.com. is not in the cert's altnames: DNS:*b.a.com"),
        ),
        ("a.b.a.com", Some("DNS:*b.a.com, DNS:a.b.a.com"), &[], None),
        (
            "a.b.a.com",
            Some("URI:http://a.b.a.com/"),
            &[],
            Some("Cert does not contain a DNS name"),
        ),
        (
            "a.b.a.com",
            Some("URI:http://*.b.a.com/"),
            &[],
            Some("Cert does not contain a DNS name"),
        ),
        (
            "a.b.a.com",
            Some("URI:http://a.b.a.com/"),
            &["a.b.a.com"],
            None,
        ),
        (
            "a.b.a.com",
            Some("IP Address:127.0.0.1"),
            &[],
            Some("Cert does not contain a DNS name"),
        ),
        ("127.0.0.1", Some("IP Address:127.0.0.1"), &[], None),
        (
            "127.0.0.2",
            Some("IP Address:127.0.0.1"),
            &[],
            Some("IP: 127.0.0.2 is not in the cert's list: 127.0.0.1"),
        ),
        (
            "127.0.0.1",
            Some("DNS:a.com"),
            &[],
            Some("IP: 127.0.0.1 is not in the cert's list: "),
        ),
        (
            "localhost",
            Some("DNS:a.com"),
            &["localhost"],
            Some("Host: localhost. is not in the cert's altnames: DNS:a.com"),
        ),
        ("xn--bcher-kva.example.com", None, &["*.example.com"], None),
        (
            "xn--bcher-kva.example.com",
            None,
            &["xn--*.example.com"],
            Some("Host: xn--bcher-kva.example.com. is not cert's CN: xn--*.example.com"),
        ),
        ("baz.example.com", Some("DNS:b*z.example.com"), &[], None),
        ("bz.example.com", Some("DNS:b*z.example.com"), &[], None),
        ("bxz.example.com", Some("DNS:b*z.example.com"), &[], None),
        (
            "b.example.com",
            Some("DNS:b*z.example.com"),
            &[],
            Some("Host: b.example.com. is not in the cert's altnames: DNS:b*z.example.com"),
        ),
        (
            "a.b.example.com",
            Some("DNS:*.*.example.com"),
            &[],
            Some("Host: a.b.example.com. is not in the cert's altnames: DNS:*.*.example.com"),
        ),
        (
            "a.example.com",
            Some("DNS:**.example.com"),
            &[],
            Some("Host: a.example.com. is not in the cert's altnames: DNS:**.example.com"),
        ),
        (
            "a.example.com",
            Some("DNS:a.*.com"),
            &[],
            Some("Host: a.example.com. is not in the cert's altnames: DNS:a.*.com"),
        ),
        (
            "example.com",
            Some("DNS:*.com"),
            &[],
            Some("Host: example.com. is not in the cert's altnames: DNS:*.com"),
        ),
        (
            "com",
            Some("DNS:*"),
            &[],
            Some("Host: com. is not in the cert's altnames: DNS:*"),
        ),
        ("localhost.", Some("DNS:localhost"), &[], None),
        ("localhost", Some("DNS:localhost."), &[], None),
        ("LOCALHOST", Some("DNS:LocalHost"), &[], None),
        ("::1", Some("IP Address:0:0:0:0:0:0:0:1"), &[], None),
        (
            "0:0:0:0:0:0:0:1",
            Some("IP Address:0:0:0:0:0:0:0:1"),
            &[],
            None,
        ),
        (
            "::1",
            Some("DNS:::1"),
            &[],
            Some("IP: ::1 is not in the cert's list: "),
        ),
        (
            "127.0.0.1",
            Some("DNS:127.0.0.1"),
            &["127.0.0.1"],
            Some("IP: 127.0.0.1 is not in the cert's list: "),
        ),
        (
            "127.0.0.1",
            None,
            &["127.0.0.1"],
            Some("IP: 127.0.0.1 is not in the cert's list: "),
        ),
        (
            "::ffff:127.0.0.1",
            Some("IP Address:127.0.0.1"),
            &[],
            Some("IP: ::ffff:127.0.0.1 is not in the cert's list: 127.0.0.1"),
        ),
        (
            "127.0.0.1",
            Some("IP Address:0:0:0:0:0:FFFF:7F00:1"),
            &[],
            Some("IP: 127.0.0.1 is not in the cert's list: ::ffff:127.0.0.1"),
        ),
        (
            "::FFFF:7f00:1",
            Some("IP Address:0:0:0:0:0:FFFF:7F00:1"),
            &[],
            None,
        ),
        (
            "a.com",
            None,
            &[""],
            Some("Cert does not contain a DNS name"),
        ),
        ("a.com", None, &[], Some("Cert does not contain a DNS name")),
        (
            "a.com",
            Some("DNS:"),
            &["a.com"],
            Some("Host: a.com. is not in the cert's altnames: DNS:"),
        ),
        ("a.com", Some("DNS:a.com"), &["x"], None),
        (
            "a..com",
            Some("DNS:a..com"),
            &[],
            Some("Host: a..com. is not in the cert's altnames: DNS:a..com"),
        ),
        (
            "a.com",
            Some("DNS:a..com"),
            &[],
            Some("Host: a.com. is not in the cert's altnames: DNS:a..com"),
        ),
        ("é.example.com", Some("DNS:*.example.com"), &[], None),
        (
            "a.example.com",
            Some("DNS:é.example.com"),
            &[],
            Some("Host: a.example.com. is not in the cert's altnames: DNS:é.example.com"),
        ),
        ("a b.example.com", Some("DNS:*.example.com"), &[], None),
        (
            "ab.example.com",
            Some("DNS:a b.example.com"),
            &[],
            Some("Host: ab.example.com. is not in the cert's altnames: DNS:a b.example.com"),
        ),
        (
            "2001:db8::1",
            Some("IP Address:2001:DB8:0:0:0:0:0:1"),
            &[],
            None,
        ),
        (
            "2001:db8::2",
            Some(
                "IP Address:2001:DB8:0:0:0:0:0:1, IP Address:10.1.2.3, IP Address:0:0:0:0:0:0:0:0",
            ),
            &[],
            Some("IP: 2001:db8::2 is not in the cert's list: 2001:db8::1, 10.1.2.3, ::"),
        ),
        (
            "1.2.3.4",
            Some(
                "IP Address:FE80:0:0:0:0:0:0:1, IP Address:0:0:0:0:0:0:0:5, IP Address:1:0:0:0:0:0:0:0, IP Address:0:0:0:0:0:0:A:B, IP Address:1:0:1:0:0:1:0:1, IP Address:0:0:0:0:0:FFFF:0:0",
            ),
            &[],
            Some(
                "IP: 1.2.3.4 is not in the cert's list: fe80::1, ::5, 1::, ::0.10.0.11, 1:0:1::1:0:1, ::ffff:0.0.0.0",
            ),
        ),
        (
            "a.com",
            Some("DNS:x.com, email:a@a.com, URI:http://a.com"),
            &[],
            Some(
                "Host: a.com. is not in the cert's altnames: DNS:x.com, email:a@a.com, URI:http://a.com",
            ),
        ),
        (
            "www.example.com",
            Some("DNS:*.example.com, DNS:example.com"),
            &["other"],
            None,
        ),
        (
            "example.com",
            Some("DNS:*.example.com, DNS:example.com"),
            &[],
            None,
        ),
        ("test.example.com", Some("DNS:*.example.com."), &[], None),
        ("*.example.com", Some("DNS:*.example.com"), &[], None),
        (
            "xn--a.example.com",
            Some("DNS:xn--a.example.com"),
            &[],
            None,
        ),
        (
            "fe80::1%eth0",
            Some("IP Address:FE80:0:0:0:0:0:0:1"),
            &[],
            None,
        ),
        (
            "fe80::2%eth0",
            Some("IP Address:FE80:0:0:0:0:0:0:1"),
            &[],
            Some("IP: fe80::2%eth0 is not in the cert's list: fe80::1"),
        ),
        (
            "fe80::1%",
            Some("IP Address:FE80:0:0:0:0:0:0:1"),
            &[],
            Some("Cert does not contain a DNS name"),
        ),
        (
            "fe80::1%a b",
            Some("IP Address:FE80:0:0:0:0:0:0:1"),
            &[],
            Some("Cert does not contain a DNS name"),
        ),
        ("::1.", Some("IP Address:0:0:0:0:0:0:0:1"), &[], None),
        ("127.0.0.1.", Some("IP Address:127.0.0.1"), &[], None),
        (
            "",
            Some("DNS:a.com"),
            &[],
            Some("Host: . is not in the cert's altnames: DNS:a.com"),
        ),
        (
            ".",
            Some("DNS:a.com"),
            &["x"],
            Some("Host: . is not in the cert's altnames: DNS:a.com"),
        ),
        (
            "a.com",
            None,
            &["", ""],
            Some("Host: a.com. is not cert's CN: ,"),
        ),
        ("a.com", None, &["", "a.com"], None),
        ("ABC.Example.COM", Some("DNS:*.example.com"), &[], None),
        (
            "a.com",
            Some("DNS:*.a.com, DNS:a.com, IP Address:127.0.0.1"),
            &[],
            None,
        ),
    ];

    #[test]
    fn matches_node_reasons() {
        for &(host, san, cns, expected) in NODE_CASES {
            let result = check_server_identity(host, &cert(san, cns));
            let reason = result.as_ref().err().map(|e| e.reason.as_str());
            assert_eq!(reason, expected, "host {host:?}, san {san:?}, cn {cns:?}");
            if let Err(e) = result {
                assert_eq!(e.host, host.strip_suffix('.').unwrap_or(host));
            }
        }
    }

    #[test]
    fn error_shape() {
        let err = check_server_identity(
            "localhost.",
            &cert(Some("DNS:example.com, DNS:*.example.com"), &["x"]),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Hostname/IP does not match certificate's altnames: Host: localhost. is not in \
             the cert's altnames: DNS:example.com, DNS:*.example.com"
        );
        assert_eq!(err.host, "localhost");
        assert_eq!(err.code(), "ERR_TLS_CERT_ALTNAME_INVALID");
        let boxed: Box<dyn std::error::Error> = Box::new(err);
        assert!(boxed.to_string().starts_with("Hostname/IP"));
    }

    #[test]
    fn canonical_ip_matches_libuv() {
        for (ip, expected) in [
            ("::", "::"),
            ("::1", "::1"),
            ("::2", "::2"),
            ("::1:2", "::0.1.0.2"),
            ("::ffff:1.2.3.4", "::ffff:1.2.3.4"),
            ("::ffff:0:0", "::ffff:0.0.0.0"),
            ("1::", "1::"),
            ("1:0:0:1::1", "1:0:0:1::1"),
            ("1:0:1::1:0:1", "1:0:1::1:0:1"),
            ("1:0:0:2:0:0:3:4", "1::2:0:0:3:4"),
            ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
            ("FE80::ABCD", "fe80::abcd"),
            ("10.0.0.1", "10.0.0.1"),
        ] {
            assert_eq!(canonical_ip(&ip.parse().unwrap()), expected, "{ip}");
        }
        assert_eq!(parse_ip_literal("01.1.1.1"), None);
        assert_eq!(parse_ip_literal("1.2.3"), None);
        assert_eq!(
            parse_ip_literal("fe80::1%eth0.1"),
            Some("fe80::1".parse().unwrap())
        );
        assert_eq!(parse_ip_literal("127.0.0.1%eth0"), None);
    }

    #[test]
    fn parsed_rcgen_certificate() {
        use super::super::peer_certificate::PeerCertificate;
        use rcgen::{CertificateParams, DnType, KeyPair, SanType};
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.subject_alt_names.extend([
            SanType::DnsName("*.example.com".try_into().unwrap()),
            SanType::DnsName("127.0.0.2".try_into().unwrap()),
            SanType::IpAddress("127.0.0.1".parse().unwrap()),
            SanType::IpAddress("::1".parse().unwrap()),
            SanType::URI("https://uri.example.org/".try_into().unwrap()),
        ]);
        params
            .distinguished_name
            .push(DnType::CommonName, "cn.example.net");
        let key = KeyPair::generate().unwrap();
        let der = params.self_signed(&key).unwrap().der().to_vec();
        let pc = PeerCertificate::from_der(&der).unwrap();

        for ok in [
            "localhost",
            "LOCALHOST.",
            "foo.example.com",
            "127.0.0.1",
            "::1",
            "0:0:0:0:0:0:0:1",
        ] {
            assert_eq!(check_server_identity(ok, &pc), Ok(()), "{ok}");
        }
        let reason = |host: &str| check_server_identity(host, &pc).unwrap_err().reason;
        let san = "DNS:localhost, DNS:*.example.com, DNS:127.0.0.2, IP Address:127.0.0.1, \
                   IP Address:0:0:0:0:0:0:0:1, URI:https://uri.example.org/";
        assert_eq!(pc.subjectaltname.as_deref(), Some(san));
        assert_eq!(
            reason("127.0.0.2"),
            "IP: 127.0.0.2 is not in the cert's list: 127.0.0.1, ::1"
        );
        assert_eq!(
            reason("cn.example.net"),
            format!("Host: cn.example.net. is not in the cert's altnames: {san}")
        );
        assert_eq!(
            reason("a.b.example.com"),
            format!("Host: a.b.example.com. is not in the cert's altnames: {san}")
        );
        assert_eq!(
            reason("uri.example.org"),
            format!("Host: uri.example.org. is not in the cert's altnames: {san}")
        );

        // Without SANs the CN is used.
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "*.example.net");
        let der = params.self_signed(&key).unwrap().der().to_vec();
        let pc = PeerCertificate::from_der(&der).unwrap();
        assert_eq!(check_server_identity("www.example.net", &pc), Ok(()));
        assert_eq!(
            check_server_identity("example.net", &pc)
                .unwrap_err()
                .reason,
            "Host: example.net. is not cert's CN: *.example.net"
        );
        assert_eq!(
            check_server_identity("::1", &pc).unwrap_err().reason,
            "IP: ::1 is not in the cert's list: "
        );
    }
}
