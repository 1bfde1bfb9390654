//! Test certificates made with rcgen at test time (ECDSA P-256 or RSA 2048, self-signed), and
//! what clients need to trust exactly one of them: the DER, the PEM, the SHA-256 of its
//! SubjectPublicKeyInfo (Chromium's `--ignore-certificate-errors-spki-list`); a server with
//! one TLS site using such a certificate.

use rcgen::PublicKeyData;
use rustls::crypto::hash::Hash;
use rustls::pki_types::CertificateDer;

use super::server::Server;

/// A self-signed certificate and its key, as PEM, and the certificate as DER.
pub struct Cert {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
    /// The DER SubjectPublicKeyInfo of the certificate's key.
    pub spki: Vec<u8>,
}

impl Cert {
    /// base64(SHA-256(SubjectPublicKeyInfo)): the pin Chromium and curl `--pinnedpubkey` take.
    pub fn spki_sha256_base64(&self) -> String {
        base64(sha256(&self.spki).as_ref())
    }
}

/// A certificate for `names` (DNS names, or IP addresses), ECDSA P-256.
pub fn cert(names: &[&str]) -> Cert {
    cert_with(
        names,
        rcgen::KeyPair::generate().expect("generate a P-256 key"),
    )
}

/// A certificate for `names` with an RSA 2048 key; None where rcgen cannot make RSA keys.
pub fn rsa_cert(names: &[&str]) -> Option<Cert> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).ok()?;
    Some(cert_with(names, key))
}

pub fn cert_with(names: &[&str], key: rcgen::KeyPair) -> Cert {
    self_signed(names, key, false)
}

/// A P-256 certificate for `names` that is also marked a CA (basicConstraints CA:TRUE), as
/// `openssl req -x509` makes them: GnuTLS takes only a CA as a trust anchor (rustls's webpki,
/// on the contrary, refuses a CA as the server's certificate).
pub fn ca_cert(names: &[&str]) -> Cert {
    self_signed(
        names,
        rcgen::KeyPair::generate().expect("generate a P-256 key"),
        true,
    )
}

fn self_signed(names: &[&str], key: rcgen::KeyPair, ca: bool) -> Cert {
    let names = names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let mut params = rcgen::CertificateParams::new(names).expect("certificate names");
    if ca {
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    }
    let certificate = params.self_signed(&key).expect("self-sign");
    Cert {
        cert_pem: certificate.pem(),
        key_pem: key.serialize_pem(),
        der: certificate.der().clone(),
        spki: key.subject_public_key_info(),
    }
}

/// SHA-256 with the crypto provider the server uses (no hashing crate of our own).
pub fn sha256(data: &[u8]) -> rustls::crypto::hash::Output {
    let suite = rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256;
    let suite = suite.tls13().expect("a TLS 1.3 suite");
    suite.common.hash_provider.hash(data)
}

/// Standard base64 with padding (RFC 4648 section 4).
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A server with one TLS server on 127.0.0.1:0 (certificate `cert`), `extra` in its block.
pub fn tls_server(cert: &Cert, extra: &str, files: &[(&str, &[u8])]) -> Server {
    let config = format!(
        "workers 1;\naccess_log off;\nserver {{\n    listen 127.0.0.1:0 ssl;\n    \
         ssl_certificate cert.pem;\n    ssl_certificate_key key.pem;\n    root www;\n{extra}\n}}\n"
    );
    let mut all: Vec<(&str, &[u8])> = vec![
        ("cert.pem", cert.cert_pem.as_bytes()),
        ("key.pem", cert.key_pem.as_bytes()),
    ];
    all.extend_from_slice(files);
    Server::start(&config, &all)
}
