//! Certificates and keys of `ssl_certificate` / `ssl_certificate_key`, and the client
//! certificate settings (`ssl_client_certificate`, `ssl_verify_client`, `ssl_verify_depth`):
//! read from PEM files and checked while the configuration loads, so that `-t`, a start and a
//! reload all reject a bad one at the directive that names it. The results are the signing key
//! rustls serves with and the trust anchors client certificates are verified against.

use rustls::crypto::aws_lc_rs;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A server's certificate chain and private key, loaded and known to match.
#[derive(Debug, Clone)]
pub struct Tls {
    pub certificate: PathBuf,
    pub key_file: PathBuf,
    pub key: Arc<CertifiedKey>,
}

/// Which of the two files a loading error is about.
#[derive(Debug, PartialEq, Eq)]
pub enum Part {
    Certificate,
    Key,
}

/// Reads the chain at `certificate` and the key at `key_file`.
pub fn load(certificate: &Path, key_file: &Path) -> Result<Tls, (Part, String)> {
    let cert_error = |what: String| {
        (
            Part::Certificate,
            format!(
                "cannot load certificate \"{}\": {what}",
                certificate.display()
            ),
        )
    };
    let key_error = |what: String| {
        (
            Part::Key,
            format!(
                "cannot load certificate key \"{}\": {what}",
                key_file.display()
            ),
        )
    };
    let cert_pem = std::fs::read(certificate).map_err(|e| cert_error(e.to_string()))?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_error(pem_error(e)))?;
    if chain.is_empty() {
        return Err(cert_error("no certificate in the PEM file".to_string()));
    }
    let key_pem = std::fs::read(key_file).map_err(|e| key_error(e.to_string()))?;
    let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
        pem::Error::NoItemsFound => key_error("no private key in the PEM file".to_string()),
        other => key_error(pem_error(other)),
    })?;
    let provider = aws_lc_rs::default_provider();
    let signing_key = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| key_error(format!("unsupported private key ({e})")))?;
    let key = CertifiedKey::new(chain, signing_key);
    match key.keys_match() {
        Ok(()) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err((
                Part::Key,
                format!(
                    "certificate key \"{}\" does not match certificate \"{}\"",
                    key_file.display(),
                    certificate.display()
                ),
            ));
        }
        // A key whose public half rustls cannot compute: nothing to compare, as rustls's own
        // `CertifiedKey::from_der` accepts it.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(e) => return Err(cert_error(format!("invalid certificate ({e})"))),
    }
    Ok(Tls {
        certificate: certificate.to_path_buf(),
        key_file: key_file.to_path_buf(),
        key: Arc::new(key),
    })
}

/// `ssl_verify_client`, other than `off`.
/// The PEM certificates of `path` (an `ssl_trusted_certificate`).
pub fn load_roots(path: &Path) -> std::result::Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| {
        format!(
            "cannot load trusted certificates \"{}\": {e}",
            path.display()
        )
    })?;
    let roots = CertificateDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| format!("invalid PEM in \"{}\" ({e})", path.display()))?;
    if roots.is_empty() {
        return Err(format!("no certificate in \"{}\"", path.display()));
    }
    Ok(roots)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyClient {
    /// A valid certificate is required: none gets 400 "No required SSL certificate was sent",
    /// an invalid one 400 "The SSL certificate error".
    On,
    /// A certificate is asked for; none is fine, an invalid one gets 400.
    Optional,
    /// A certificate is asked for and never refused: `$ssl_client_verify` tells how it fared.
    OptionalNoCa,
}

impl VerifyClient {
    /// `on | optional | optional_no_ca` (`off` is no verification at all).
    pub fn from_name(name: &str) -> Option<VerifyClient> {
        match name {
            "on" => Some(VerifyClient::On),
            "optional" => Some(VerifyClient::Optional),
            "optional_no_ca" => Some(VerifyClient::OptionalNoCa),
            _ => None,
        }
    }
}

/// How a server verifies client certificates.
#[derive(Debug)]
pub struct ClientAuth {
    pub mode: VerifyClient,
    /// `ssl_verify_depth`: most intermediate certificates between the client's certificate and
    /// a trusted one (OpenSSL's meaning; nginx's default is 1).
    pub depth: usize,
    /// The certificates of `ssl_client_certificate`, as trust anchors.
    pub anchors: Vec<rustls::pki_types::TrustAnchor<'static>>,
    /// Their subjects: the CA names the server sends in its CertificateRequest.
    pub subjects: Vec<rustls::DistinguishedName>,
}

/// Reads the trust anchors of `ssl_client_certificate` (None: `optional_no_ca` without one).
pub fn client_auth(
    file: Option<&Path>,
    mode: VerifyClient,
    depth: usize,
) -> Result<ClientAuth, String> {
    let mut anchors = Vec::new();
    if let Some(file) = file {
        let error = |what: String| {
            format!(
                "cannot load client certificates \"{}\": {what}",
                file.display()
            )
        };
        let pem = std::fs::read(file).map_err(|e| error(e.to_string()))?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| error(pem_error(e)))?;
        if certs.is_empty() {
            return Err(error("no certificate in the PEM file".to_string()));
        }
        for cert in &certs {
            let anchor = webpki::anchor_from_trusted_cert(cert)
                .map_err(|e| error(format!("invalid certificate ({e})")))?;
            anchors.push(anchor.to_owned());
        }
    }
    let subjects = anchors
        .iter()
        .map(|a| rustls::DistinguishedName::in_sequence(a.subject.as_ref()))
        .collect();
    Ok(ClientAuth {
        mode,
        depth,
        anchors,
        subjects,
    })
}

fn pem_error(error: pem::Error) -> String {
    match error {
        pem::Error::Io(e) => e.to_string(),
        other => format!("invalid PEM ({other})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn temp_dir() -> PathBuf {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("webserv-tls-unit-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn generated(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn a_matching_certificate_and_key_load() {
        let dir = temp_dir();
        let (cert, key) = generated("localhost");
        let tls = load(&write(&dir, "c.pem", &cert), &write(&dir, "k.pem", &key)).unwrap();
        assert_eq!(tls.key.cert.len(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bad_files_name_the_file_at_fault() {
        let dir = temp_dir();
        let (cert, key) = generated("localhost");
        let (_, other_key) = generated("other");
        let c = write(&dir, "c.pem", &cert);
        let k = write(&dir, "k.pem", &key);
        let garbage = write(&dir, "g.pem", "not a pem file\n");
        let missing = dir.join("missing.pem");
        let other = write(&dir, "o.pem", &other_key);
        let part = |r: Result<Tls, (Part, String)>| r.map(|_| ()).unwrap_err();
        let (p, m) = part(load(&missing, &k));
        assert_eq!(p, Part::Certificate);
        assert!(
            m.contains("missing.pem") && m.contains("No such file"),
            "{m}"
        );
        let (p, m) = part(load(&garbage, &k));
        assert_eq!(p, Part::Certificate);
        assert!(m.contains("no certificate"), "{m}");
        assert_eq!(part(load(&c, &garbage)).0, Part::Key);
        assert_eq!(part(load(&c, &c)).0, Part::Key);
        let (p, m) = part(load(&c, &other));
        assert_eq!(p, Part::Key);
        assert!(m.contains("does not match"), "{m}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
