//! Automatic HTTPS: certificates obtained and renewed by the server itself from an ACME CA
//! (RFC 8555), for the servers with `acme_certificate`.
//!
//! - [`Service`] is made once per process. For each configured certificate it keeps a
//!   [`Slot`]: the certificate the TLS listeners serve for those names right now (the stored
//!   one, or until there is one a temporary self-signed certificate), swapped whole when a new
//!   one arrives: a handshake reads the slot once, so connections keep the certificate they
//!   started with and the next handshake gets the new one, in every worker, with no restart.
//! - One helper thread ([`manager`]) does all the ACME work, blocking on the network as it
//!   likes: the event loops never wait for it. It sleeps until a certificate is due (missing,
//!   at two thirds of its lifetime, or when the CA's renewal information says), retries with
//!   backoff, and honours the CA's `Retry-After`.
//! - [`challenge::Challenges`] is what the workers answer while a validation runs.
//! - `pki::store` keeps the account key and the certificates under `state_path`.

pub mod challenge;
pub mod client;
mod manager;
pub mod schedule;

use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::SystemTime;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use crate::config::{AcmeCertificate, Config};
use crate::log;
pub use challenge::Challenges;

/// The certificate served for one `acme_certificate`, replaced whole.
pub struct Slot {
    pub identifiers: Vec<String>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Slot({:?})", self.identifiers)
    }
}

impl Slot {
    fn new(identifiers: Vec<String>, key: Arc<CertifiedKey>) -> Slot {
        Slot {
            identifiers,
            current: RwLock::new(key),
        }
    }

    /// The certificate to serve now.
    pub fn get(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn set(&self, key: Arc<CertifiedKey>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = key;
    }
}

/// What identifies a managed certificate across reloads: its issuer's name and state
/// directory, its names and its key type.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CertId {
    issuer: String,
    state_path: std::path::PathBuf,
    identifiers: Vec<String>,
    key: crate::config::CertKey,
}

impl CertId {
    fn of(config: &Config, cert: &AcmeCertificate) -> CertId {
        let issuer = &config.acme_issuers[cert.issuer];
        CertId {
            issuer: issuer.name.clone(),
            state_path: issuer.state_path.clone(),
            identifiers: cert.identifiers.clone(),
            key: cert.key,
        }
    }
}

/// The process's ACME state: slots, challenges, and the helper thread.
#[derive(Default)]
pub struct Service {
    shared: Arc<Shared>,
    started: Mutex<bool>,
}

#[derive(Default)]
struct Shared {
    challenges: Arc<Challenges>,
    plan: Mutex<manager::Plan>,
    wake: Condvar,
}

impl Service {
    pub fn new() -> Service {
        Service::default()
    }

    pub fn challenges(&self) -> Arc<Challenges> {
        Arc::clone(&self.shared.challenges)
    }

    /// Takes the certificates of `config` in hand (at start and at each reload): those already
    /// managed keep their slot and schedule; new ones start from what the state directory holds
    /// (a valid certificate is served and not ordered again), else from a temporary self-signed
    /// certificate, and are due at once. Starts the helper thread the first time there is work.
    pub fn configure(&self, config: &Config) -> Result<(), String> {
        let mut plan = self.shared.plan.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = Vec::new();
        let http_listeners = config
            .servers
            .iter()
            .any(|s| s.listen.iter().any(|a| !s.ssl.contains(a)));
        for server in &config.servers {
            let Some(cert) = &server.acme else { continue };
            let id = CertId::of(config, cert);
            if next.iter().any(|m: &manager::Managed| m.id == id) {
                continue;
            }
            let issuer = config.acme_issuers[cert.issuer].clone();
            let kept = plan.certificates.iter().position(|m| m.id == id);
            let mut managed = match kept {
                Some(i) => plan.certificates.swap_remove(i),
                None => manager::Managed::start(id, &issuer, cert)?,
            };
            managed.issuer = issuer;
            managed.http_listeners = http_listeners;
            next.push(managed);
        }
        for gone in &plan.certificates {
            log::notice(&format!(
                "acme: no longer managing the certificate for {}",
                gone.id.identifiers.join(", ")
            ));
        }
        plan.certificates = next;
        plan.generation += 1;
        let work = !plan.certificates.is_empty();
        drop(plan);
        self.shared.wake.notify_all();
        let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
        if work && !*started {
            let shared = Arc::clone(&self.shared);
            std::thread::Builder::new()
                .name("acme".to_string())
                .spawn(move || manager::run(&shared))
                .map_err(|e| format!("cannot start the ACME thread: {e}"))?;
            *started = true;
        }
        Ok(())
    }

    /// The slot serving `cert` of `config` (after [`Service::configure`] with that config).
    pub fn slot(&self, config: &Config, cert: &AcmeCertificate) -> Option<Arc<Slot>> {
        let id = CertId::of(config, cert);
        let plan = self.shared.plan.lock().unwrap_or_else(|e| e.into_inner());
        plan.certificates
            .iter()
            .find(|m| m.id == id)
            .map(|m| Arc::clone(&m.slot))
    }
}

/// A rustls signing key for `chain` and `key` (not checked to match: a TLS-ALPN-01
/// certificate's critical extension is one webpki refuses to parse; callers check real ones).
pub fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: &rcgen::KeyPair,
) -> Result<Arc<CertifiedKey>, String> {
    let der = PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|e| format!("unusable private key: {e}"))?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(der)
        .map_err(|e| format!("unusable private key: {e}"))?;
    Ok(Arc::new(CertifiedKey::new(chain, signing)))
}

/// The certificate served for names that have no real one yet: self-signed, for those names,
/// valid a week. Clients see an untrusted certificate rather than a failed handshake.
pub fn temporary_certificate(identifiers: &[String]) -> Result<Arc<CertifiedKey>, String> {
    let mut params = rcgen::CertificateParams::new(identifiers.to_vec())
        .map_err(|e| format!("temporary certificate: {e}"))?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(
        rcgen::DnType::CommonName,
        "webserv temporary certificate (ACME pending)",
    );
    params.distinguished_name = dn;
    let now = SystemTime::now();
    params.not_before = (now - std::time::Duration::from_secs(3600)).into();
    params.not_after = (now + std::time::Duration::from_secs(7 * 86_400)).into();
    let key = rcgen::KeyPair::generate().map_err(|e| format!("temporary key: {e}"))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("temporary certificate: {e}"))?;
    certified_key(vec![cert.der().clone()], &key)
}
