//! The challenges being answered right now, shared by the ACME thread (which publishes and
//! withdraws them) and every worker (which answers them):
//!
//! - HTTP-01 (RFC 8555 section 8.3): `GET /.well-known/acme-challenge/TOKEN` on any listener,
//!   before any location, answered with the key authorization;
//! - TLS-ALPN-01 (RFC 8737): a handshake whose ClientHello offers exactly `acme-tls/1` gets a
//!   self-signed certificate for the name in SNI carrying the `acmeIdentifier` extension.
//!
//! A worker's question costs one atomic load while nothing is pending.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use rustls::sign::CertifiedKey;

/// The path prefix of HTTP-01 resources.
pub const HTTP01_PREFIX: &str = "/.well-known/acme-challenge/";
/// The ALPN protocol of TLS-ALPN-01.
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

#[derive(Default)]
pub struct Challenges {
    /// Entries in both tables: zero spares the workers the locks.
    pending: AtomicUsize,
    /// (token, key authorization)
    http: RwLock<Vec<(String, String)>>,
    /// (DNS name, challenge certificate)
    alpn: RwLock<Vec<(String, Arc<CertifiedKey>)>>,
}

impl std::fmt::Debug for Challenges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Challenges({})", self.pending.load(Ordering::Relaxed))
    }
}

impl Challenges {
    /// The body answering an HTTP-01 request for `path`, if it names a pending token.
    pub fn http01(&self, path: &str) -> Option<String> {
        if self.pending.load(Ordering::Acquire) == 0 {
            return None;
        }
        let token = path.strip_prefix(HTTP01_PREFIX)?;
        let table = self.http.read().unwrap_or_else(|e| e.into_inner());
        table
            .iter()
            .find(|(t, _)| t == token)
            .map(|(_, answer)| answer.clone())
    }

    /// The TLS-ALPN-01 certificate for `name`, if one is pending.
    pub fn tls_alpn01(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        if self.pending.load(Ordering::Acquire) == 0 {
            return None;
        }
        let table = self.alpn.read().unwrap_or_else(|e| e.into_inner());
        table
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, key)| Arc::clone(key))
    }

    pub fn publish_http01(&self, token: &str, key_authorization: &str) {
        let mut table = self.http.write().unwrap_or_else(|e| e.into_inner());
        table.retain(|(t, _)| t != token);
        table.push((token.to_string(), key_authorization.to_string()));
        self.recount(table.len(), None);
    }

    pub fn withdraw_http01(&self, token: &str) {
        let mut table = self.http.write().unwrap_or_else(|e| e.into_inner());
        table.retain(|(t, _)| t != token);
        self.recount(table.len(), None);
    }

    /// Makes and publishes the challenge certificate for `name`.
    pub fn publish_tls_alpn01(&self, name: &str, key_authorization: &str) -> Result<(), String> {
        let key = alpn_certificate(name, key_authorization)?;
        let mut table = self.alpn.write().unwrap_or_else(|e| e.into_inner());
        table.retain(|(n, _)| n != name);
        table.push((name.to_string(), key));
        self.recount(None, table.len());
        Ok(())
    }

    pub fn withdraw_tls_alpn01(&self, name: &str) {
        let mut table = self.alpn.write().unwrap_or_else(|e| e.into_inner());
        table.retain(|(n, _)| n != name);
        self.recount(None, table.len());
    }

    /// Sets the pending count from one table's new length (the other read as it is).
    fn recount(&self, http: impl Into<Option<usize>>, alpn: impl Into<Option<usize>>) {
        let http = http
            .into()
            .unwrap_or_else(|| self.http.read().unwrap_or_else(|e| e.into_inner()).len());
        let alpn = alpn
            .into()
            .unwrap_or_else(|| self.alpn.read().unwrap_or_else(|e| e.into_inner()).len());
        self.pending.store(http + alpn, Ordering::Release);
    }
}

/// RFC 8737 section 3: a self-signed certificate whose only name is `name` and whose critical
/// `id-pe-acmeIdentifier` extension holds SHA-256 of the key authorization.
pub fn alpn_certificate(name: &str, key_authorization: &str) -> Result<Arc<CertifiedKey>, String> {
    let digest = crate::pki::jose::sha256(key_authorization.as_bytes());
    let mut params = rcgen::CertificateParams::new(vec![name.to_string()])
        .map_err(|e| format!("challenge certificate for {name}: {e}"))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .custom_extensions
        .push(rcgen::CustomExtension::new_acme_identifier(&digest));
    let key = rcgen::KeyPair::generate().map_err(|e| format!("challenge key: {e}"))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("challenge certificate for {name}: {e}"))?;
    super::certified_key(vec![cert.der().clone()], &key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_answered_only_while_published() {
        let c = Challenges::default();
        assert_eq!(c.http01("/.well-known/acme-challenge/abc"), None);
        c.publish_http01("abc", "abc.thumb");
        assert_eq!(
            c.http01("/.well-known/acme-challenge/abc").as_deref(),
            Some("abc.thumb")
        );
        assert_eq!(c.http01("/.well-known/acme-challenge/abd"), None);
        assert_eq!(c.http01("/.well-known/acme-challenge/abc/x"), None);
        assert_eq!(c.http01("/abc"), None);
        c.withdraw_http01("abc");
        assert_eq!(c.http01("/.well-known/acme-challenge/abc"), None);
        assert_eq!(c.pending.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn the_alpn_certificate_carries_the_digest_in_a_critical_extension() {
        let c = Challenges::default();
        c.publish_tls_alpn01("a.test", "tok.thumb").unwrap();
        let key = c.tls_alpn01("A.TEST").unwrap();
        assert!(c.tls_alpn01("b.test").is_none());
        let der = key.end_entity_cert().unwrap().to_vec();
        let info = crate::pki::der::certificate(&der).unwrap();
        assert_eq!(info.dns_names, ["a.test"]);
        // OID 1.3.6.1.5.5.7.1.31, critical TRUE, OCTET STRING { OCTET STRING (32) digest }.
        let digest = crate::pki::jose::sha256(b"tok.thumb");
        let mut expected = vec![
            0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x1f, 0x01, 0x01, 0xff, 0x04,
            0x22, 0x04, 0x20,
        ];
        expected.extend_from_slice(&digest);
        assert!(der.windows(expected.len()).any(|w| w == expected));
        c.withdraw_tls_alpn01("a.test");
        assert!(c.tls_alpn01("a.test").is_none());
    }
}
