//! Client certificates (`ssl_verify_client`), the way nginx handles them: the handshake asks
//! for a certificate and accepts whatever comes (checking only that the client holds its key);
//! the chain is verified afterwards against the roots of the server the request is for, once
//! per connection and server, and the request phase answers 400 where the server requires what
//! the client did not give ([`refusal`]).
//!
//! rustls picks one configuration per address, so an address asks for client certificates when
//! any of its servers verifies them, naming the CAs of all of them.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::config::{ClientAuth, VerifyClient};
use crate::pki::der;

/// A client certificate and how it fared (`$ssl_client_*`, `SSL_CLIENT_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// `SUCCESS`, `FAILED:reason` or `NONE`, as nginx's `$ssl_client_verify`.
    pub verify: String,
    /// The chain verified against the server's roots.
    pub verified: bool,
    /// The client sent a certificate.
    pub presented: bool,
    /// RFC 2253 subject and issuer, and the serial number in hex (empty without a certificate).
    pub subject: String,
    pub issuer: String,
    pub serial: String,
}

impl ClientCert {
    /// No certificate was sent.
    pub fn none() -> ClientCert {
        ClientCert {
            verify: "NONE".to_string(),
            verified: false,
            presented: false,
            subject: String::new(),
            issuer: String::new(),
            serial: String::new(),
        }
    }
}

/// The handshake side: offers client authentication, never requires it, takes any chain and
/// checks the client's signature with its certificate's key.
#[derive(Debug)]
pub struct HandshakeVerifier {
    subjects: Vec<DistinguishedName>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl HandshakeVerifier {
    /// For an address whose servers verify with `auths`.
    pub fn new(auths: &[&ClientAuth]) -> HandshakeVerifier {
        let mut subjects: Vec<DistinguishedName> = Vec::new();
        for auth in auths {
            for subject in &auth.subjects {
                if !subjects.iter().any(|s| s.as_ref() == subject.as_ref()) {
                    subjects.push(subject.clone());
                }
            }
        }
        HandshakeVerifier {
            subjects,
            algorithms: rustls::crypto::aws_lc_rs::default_provider()
                .signature_verification_algorithms,
        }
    }
}

impl ClientCertVerifier for HandshakeVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.subjects
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // The chain is judged per request, against the request's server ([`verdict`]).
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// What `chain` (the client's certificates, leaf first; None or empty: none was sent) comes to
/// for a server verifying with `auth`, at `now`.
pub fn verdict(
    auth: &ClientAuth,
    chain: Option<&[CertificateDer<'_>]>,
    now: UnixTime,
) -> ClientCert {
    let Some((leaf, intermediates)) = chain.and_then(<[_]>::split_first) else {
        return ClientCert::none();
    };
    let info = der::certificate(leaf.as_ref()).ok();
    let subject = info.as_ref().map(|i| i.subject.clone()).unwrap_or_default();
    let issuer = info.as_ref().map(|i| i.issuer.clone()).unwrap_or_default();
    let serial = info
        .as_ref()
        .map(der::CertInfo::serial_hex)
        .unwrap_or_default();
    let failure = match webpki::EndEntityCert::try_from(leaf) {
        Err(e) => Some(reason(&e)),
        Ok(cert) => {
            let depth = auth.depth;
            let within_depth = move |path: &webpki::VerifiedPath<'_>| {
                if path.intermediate_certificates().count() > depth {
                    Err(webpki::Error::MaximumPathDepthExceeded)
                } else {
                    Ok(())
                }
            };
            cert.verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &auth.anchors,
                intermediates,
                now,
                webpki::KeyUsage::client_auth(),
                None,
                Some(&within_depth),
            )
            .err()
            .map(|e| reason(&e))
        }
    };
    ClientCert {
        verified: failure.is_none(),
        verify: match failure {
            None => "SUCCESS".to_string(),
            Some(why) => format!("FAILED:{why}"),
        },
        presented: true,
        subject,
        issuer,
        serial,
    }
}

/// A verification failure in OpenSSL's words, as nginx's `$ssl_client_verify` gives them.
fn reason(error: &webpki::Error) -> String {
    use webpki::Error as E;
    match error {
        E::UnknownIssuer => "unable to get local issuer certificate".to_string(),
        E::CertExpired { .. } => "certificate has expired".to_string(),
        E::CertNotValidYet { .. } => "certificate is not yet valid".to_string(),
        E::MaximumPathDepthExceeded => "certificate chain too long".to_string(),
        E::InvalidSignatureForPublicKey => "certificate signature failure".to_string(),
        E::CaUsedAsEndEntity => "unsupported certificate purpose".to_string(),
        E::RequiredEkuNotFoundContext(_) => "unsupported certificate purpose".to_string(),
        E::CertRevoked => "certificate revoked".to_string(),
        other => format!("{other:?}"),
    }
}

/// Why a request is refused for its client certificate (nginx's 400 pages for its internal
/// codes 495 and 496), or None when it may go on.
pub fn refusal(auth: &ClientAuth, cert: &ClientCert) -> Option<&'static str> {
    match auth.mode {
        VerifyClient::OptionalNoCa => None,
        _ if cert.presented && !cert.verified => Some("The SSL certificate error"),
        VerifyClient::On if !cert.presented => Some("No required SSL certificate was sent"),
        _ => None,
    }
}

/// The verdict for one connection, remembered per server (by its `ClientAuth`).
#[derive(Default)]
pub struct Cache {
    entry: Option<(usize, Arc<ClientCert>)>,
}

impl Cache {
    pub fn get(
        &mut self,
        auth: &Arc<ClientAuth>,
        chain: Option<&[CertificateDer<'_>]>,
    ) -> Arc<ClientCert> {
        let id = Arc::as_ptr(auth) as usize;
        if let Some((cached, cert)) = &self.entry
            && *cached == id
        {
            return Arc::clone(cert);
        }
        let cert = Arc::new(verdict(auth, chain, UnixTime::now()));
        self.entry = Some((id, Arc::clone(&cert)));
        cert
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::tls::client_auth;

    struct Ca {
        key: rcgen::KeyPair,
        cert: rcgen::Certificate,
        issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    }

    fn ca(name: &str) -> Ca {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        let issuer = rcgen::Issuer::new(
            params,
            rcgen::KeyPair::from_pem(&key.serialize_pem()).unwrap(),
        );
        Ca { key, cert, issuer }
    }

    fn intermediate(parent: &Ca, name: &str) -> Ca {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.signed_by(&key, &parent.issuer).unwrap();
        let issuer = rcgen::Issuer::new(
            params,
            rcgen::KeyPair::from_pem(&key.serialize_pem()).unwrap(),
        );
        Ca { key, cert, issuer }
    }

    fn client(issuer: &Ca, name: &str) -> CertificateDer<'static> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Org");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        params
            .signed_by(&key, &issuer.issuer)
            .unwrap()
            .der()
            .clone()
    }

    fn auth_for(root: &Ca, mode: VerifyClient, depth: usize) -> ClientAuth {
        let dir = std::env::temp_dir().join(format!(
            "webserv-client-cert-{}-{:p}",
            std::process::id(),
            root
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("ca.pem");
        std::fs::write(&file, root.cert.pem()).unwrap();
        let auth = client_auth(Some(&file), mode, depth).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
        let _ = &root.key;
        auth
    }

    #[test]
    fn a_certificate_from_the_trusted_ca_is_a_success_with_its_subject() {
        let root = ca("Test Root");
        let auth = auth_for(&root, VerifyClient::On, 1);
        let chain = [client(&root, "alice")];
        let v = verdict(&auth, Some(&chain), UnixTime::now());
        assert_eq!(v.verify, "SUCCESS");
        assert_eq!(v.subject, "CN=alice,O=Org");
        assert_eq!(v.issuer, "CN=Test Root");
        assert!(!v.serial.is_empty());
        assert_eq!(refusal(&auth, &v), None);
        // The CA names of the CertificateRequest are whole DER Names (SEQUENCE ...).
        assert_eq!(auth.subjects[0].as_ref()[0], 0x30);
        assert_eq!(HandshakeVerifier::new(&[&auth, &auth]).subjects.len(), 1);
    }

    #[test]
    fn an_unknown_issuer_fails_and_is_refused_unless_optional_no_ca() {
        let root = ca("Test Root");
        let other = ca("Other Root");
        let chain = [client(&other, "mallory")];
        for (mode, refused) in [
            (VerifyClient::On, true),
            (VerifyClient::Optional, true),
            (VerifyClient::OptionalNoCa, false),
        ] {
            let auth = auth_for(&root, mode, 1);
            let v = verdict(&auth, Some(&chain), UnixTime::now());
            assert_eq!(v.verify, "FAILED:unable to get local issuer certificate");
            assert_eq!(v.subject, "CN=mallory,O=Org");
            assert_eq!(refusal(&auth, &v).is_some(), refused, "{mode:?}");
        }
    }

    #[test]
    fn no_certificate_is_refused_only_when_required() {
        let root = ca("Test Root");
        for (mode, refused) in [
            (
                VerifyClient::On,
                Some("No required SSL certificate was sent"),
            ),
            (VerifyClient::Optional, None),
            (VerifyClient::OptionalNoCa, None),
        ] {
            let auth = auth_for(&root, mode, 1);
            let v = verdict(&auth, None, UnixTime::now());
            assert_eq!(v.verify, "NONE");
            assert_eq!(refusal(&auth, &v), refused);
        }
    }

    #[test]
    fn the_depth_limits_the_intermediates_between_client_and_root() {
        let root = ca("Root");
        let one = intermediate(&root, "One");
        let two = intermediate(&one, "Two");
        let chain = [
            client(&two, "deep"),
            one.cert.der().clone(),
            two.cert.der().clone(),
        ];
        let shallow = auth_for(&root, VerifyClient::On, 1);
        let v = verdict(&shallow, Some(&chain), UnixTime::now());
        assert_eq!(v.verify, "FAILED:certificate chain too long");
        let deep = auth_for(&root, VerifyClient::On, 2);
        assert_eq!(
            verdict(&deep, Some(&chain), UnixTime::now()).verify,
            "SUCCESS"
        );
    }

    #[test]
    fn the_verdict_is_cached_per_server() {
        let root = ca("Root");
        let a = Arc::new(auth_for(&root, VerifyClient::On, 1));
        let b = Arc::new(auth_for(&root, VerifyClient::On, 1));
        let chain = [client(&root, "c")];
        let mut cache = Cache::default();
        let first = cache.get(&a, Some(&chain));
        assert!(Arc::ptr_eq(&first, &cache.get(&a, Some(&chain))));
        assert!(!Arc::ptr_eq(&first, &cache.get(&b, Some(&chain))));
    }
}
