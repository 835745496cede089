//! Certificates for the TLS tests, made when the tests run (never
//! committed, so none expires): the set Node's TLS cases use. PEM strings,
//! and files in a temp directory for Node peers and command-line clients.

use std::path::PathBuf;
use std::sync::OnceLock;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

/// A certificate and its key, PEM.
#[derive(Clone)]
pub struct Pair {
    pub cert: String,
    pub key: String,
}

/// The fixtures (as in `tls-behaviours.md`).
pub struct Certs {
    /// Self-signed test CA, CN "Test CA".
    pub ca: String,
    /// A leaf for localhost / 127.0.0.1 / ::1, signed by `ca`.
    pub server: Pair,
    /// A self-signed leaf for the same names.
    pub self_signed: Pair,
    /// A leaf for example.com and *.example.com, signed by `ca`.
    pub other: Pair,
    /// A leaf for localhost that expired in 2021, signed by `ca`.
    pub expired: Pair,
    /// A client certificate, CN client1, signed by `ca`.
    pub client: Pair,
    /// A client certificate signed by an untrusted CA, CN badclient.
    pub bad_client: Pair,
    /// An intermediate CA signed by `ca`, and a localhost leaf it signed
    /// (`cert` holds the leaf then the intermediate).
    pub chained: Pair,
    /// The directory holding every fixture as files.
    pub dir: PathBuf,
}

impl Certs {
    /// Path of a fixture file: `ca.pem`, `server.pem`, `server.key`, ...
    pub fn file(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, cn);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p
}

fn leaf_params(cn: &str, names: &[&str]) -> CertificateParams {
    let mut p =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p
}

fn pair(cert: &rcgen::Certificate, key: &KeyPair) -> Pair {
    Pair {
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

/// The fixtures, made once per test binary.
pub fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(make)
}

fn make() -> Certs {
    let ca =
        CertifiedIssuer::self_signed(ca_params("Test CA"), KeyPair::generate().unwrap()).unwrap();
    let names = ["localhost", "127.0.0.1", "::1"];

    let key = KeyPair::generate().unwrap();
    let server = pair(
        &leaf_params("localhost", &names)
            .signed_by(&key, &ca)
            .unwrap(),
        &key,
    );

    let key = KeyPair::generate().unwrap();
    let self_signed = pair(
        &leaf_params("localhost", &names).self_signed(&key).unwrap(),
        &key,
    );

    let key = KeyPair::generate().unwrap();
    let other = pair(
        &leaf_params("example.com", &["example.com", "*.example.com"])
            .signed_by(&key, &ca)
            .unwrap(),
        &key,
    );

    let key = KeyPair::generate().unwrap();
    let mut p = leaf_params("localhost", &names);
    p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let expired = pair(&p.signed_by(&key, &ca).unwrap(), &key);

    let key = KeyPair::generate().unwrap();
    let client = pair(
        &leaf_params("client1", &[]).signed_by(&key, &ca).unwrap(),
        &key,
    );

    let rogue =
        CertifiedIssuer::self_signed(ca_params("Rogue CA"), KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let bad_client = pair(
        &leaf_params("badclient", &[])
            .signed_by(&key, &rogue)
            .unwrap(),
        &key,
    );

    let inter = CertifiedIssuer::signed_by(
        ca_params("Test Intermediate"),
        KeyPair::generate().unwrap(),
        &ca,
    )
    .unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = leaf_params("localhost", &names)
        .signed_by(&key, &inter)
        .unwrap();
    let chained = Pair {
        cert: format!("{}{}", leaf.pem(), inter.pem()),
        key: key.serialize_pem(),
    };

    let dir = std::env::temp_dir().join(format!("nodenet-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let certs = Certs {
        ca: ca.pem(),
        server,
        self_signed,
        other,
        expired,
        client,
        bad_client,
        chained,
        dir,
    };
    let write = |name: &str, body: &str| std::fs::write(certs.dir.join(name), body).unwrap();
    write("ca.pem", &certs.ca);
    for (name, p) in [
        ("server", &certs.server),
        ("self", &certs.self_signed),
        ("other", &certs.other),
        ("expired", &certs.expired),
        ("client", &certs.client),
        ("badclient", &certs.bad_client),
        ("chained", &certs.chained),
    ] {
        write(&format!("{name}.pem"), &p.cert);
        write(&format!("{name}.key"), &p.key);
    }
    certs
}
