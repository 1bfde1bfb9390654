//! The ACME helper thread: one loop that sleeps until a certificate is due, then orders it,
//! answers its challenges, stores it and swaps it into its slot. Each step is logged to the
//! error log; failures are retried with backoff ([`super::schedule`]).
//!
//! The plan (which certificates, and when each is due) is shared with [`super::Service`],
//! which changes it on reload; the thread holds its lock only to read or record a schedule,
//! never across a network exchange.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::sign::CertifiedKey;

use super::client::{AcmeError, Authorization, Client, Order};
use super::schedule;
use super::{CertId, Shared, Slot};
use crate::config::{AccountKeySpec, AcmeCertificate, AcmeIssuer, CertKey, ChallengeKind};
use crate::log;
use crate::pki::der::CertInfo;
use crate::pki::jose::{self, AccountKey};
use crate::pki::store;

/// Longest wait for the CA to validate an authorization or issue after finalization.
const VALIDATION_TIMEOUT: Duration = Duration::from_secs(120);
/// First wait between two polls of a pending object (doubled up to [`MAX_POLL`]) when the CA
/// gives no `Retry-After`.
const FIRST_POLL: Duration = Duration::from_millis(250);
const MAX_POLL: Duration = Duration::from_secs(5);
/// Longest sleep of the loop (it re-checks the clock: a suspended machine wakes late).
const MAX_SLEEP: Duration = Duration::from_secs(3600);

#[derive(Default)]
pub(super) struct Plan {
    pub(super) certificates: Vec<Managed>,
    /// Changed by every reload.
    pub(super) generation: u64,
}

/// One certificate the thread looks after.
pub(super) struct Managed {
    pub(super) id: CertId,
    pub(super) issuer: AcmeIssuer,
    pub(super) slot: Arc<Slot>,
    /// Some listener is plain HTTP (HTTP-01 can be answered).
    pub(super) http_listeners: bool,
    /// What the slot serves, when it is a real certificate.
    info: Option<CertInfo>,
    /// When to act next (order, renew, or retry).
    due: SystemTime,
    /// When to ask the CA's renewal information again.
    ari_due: Option<SystemTime>,
    failures: u32,
}

impl Managed {
    /// A certificate newly configured: what the state directory holds, if it is usable and
    /// covers the names, else a temporary certificate and an order at once.
    pub(super) fn start(
        id: CertId,
        issuer: &AcmeIssuer,
        cert: &AcmeCertificate,
    ) -> Result<Managed, String> {
        store::sweep_temporaries(&issuer.state_path);
        let names = cert.identifiers.join(", ");
        let now = unix(SystemTime::now());
        let stored = store::load_certificate(&issuer.state_path, &cert.identifiers[0])?;
        let usable = stored.filter(|s| {
            let covers = cert
                .identifiers
                .iter()
                .all(|n| s.info.dns_names.contains(n));
            let fresh = schedule::is_usable(s.info.not_before, s.info.not_after, now);
            if !covers {
                log::notice(&format!(
                    "acme: the stored certificate for {names} covers {}: a new one is ordered",
                    s.info.dns_names.join(", ")
                ));
            } else if !fresh {
                log::notice(&format!(
                    "acme: the stored certificate for {names} expired {}: a new one is ordered",
                    httpdate(s.info.not_after)
                ));
            }
            covers && fresh
        });
        let (slot, info, due) = match usable {
            Some(stored) => {
                let renew = schedule::renewal_time(stored.info.not_before, stored.info.not_after);
                log::notice(&format!(
                    "acme: serving the stored certificate for {names}, valid until {}, \
                     renewal from {}",
                    httpdate(stored.info.not_after),
                    httpdate(renew)
                ));
                let slot = Slot::new(cert.identifiers.clone(), stored.key);
                (slot, Some(stored.info), from_unix(renew))
            }
            None => {
                let temporary = super::temporary_certificate(&cert.identifiers)?;
                log::notice(&format!(
                    "acme: no certificate for {names} yet: serving a temporary self-signed one \
                     until issuer \"{}\" delivers",
                    issuer.name
                ));
                let slot = Slot::new(cert.identifiers.clone(), temporary);
                (slot, None, SystemTime::now())
            }
        };
        Ok(Managed {
            id,
            issuer: issuer.clone(),
            slot: Arc::new(slot),
            http_listeners: false,
            ari_due: info.as_ref().map(|_| SystemTime::now()),
            info,
            due,
            failures: 0,
        })
    }
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn from_unix(seconds: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds.max(0) as u64)
}

fn httpdate(seconds: i64) -> String {
    httpdate::fmt_http_date(from_unix(seconds))
}

/// One unit of work, copied out of the plan.
struct Job {
    index: usize,
    generation: u64,
    id: CertId,
    issuer: AcmeIssuer,
    identifiers: Vec<String>,
    key: CertKey,
    http_listeners: bool,
    info: Option<CertInfo>,
    kind: JobKind,
}

enum JobKind {
    Order,
    RenewalInfo,
}

/// What a job came to.
enum Outcome {
    Ordered(Result<(Arc<CertifiedKey>, CertInfo), AcmeError>),
    RenewalInfo(Result<Option<super::client::RenewalWindow>, AcmeError>),
}

/// An account's session with its CA, kept between jobs.
struct Session {
    client: Client,
}

pub(super) fn run(shared: &Shared) {
    let mut sessions: HashMap<String, Session> = HashMap::new();
    loop {
        let job = {
            let mut plan = shared.plan.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                let now = SystemTime::now();
                if let Some(job) = next_job(&plan, now) {
                    break job;
                }
                let soonest = plan
                    .certificates
                    .iter()
                    .flat_map(|m| std::iter::once(m.due).chain(m.ari_due))
                    .min();
                let sleep = soonest
                    .map_or(MAX_SLEEP, |at| at.duration_since(now).unwrap_or_default())
                    .clamp(Duration::from_millis(10), MAX_SLEEP);
                plan = shared
                    .wake
                    .wait_timeout(plan, sleep)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        };
        let session_key = format!("{}\0{}", job.issuer.name, job.issuer.uri);
        let outcome = match job.kind {
            JobKind::Order => {
                Outcome::Ordered(order(&job, &mut sessions, &session_key, &shared.challenges))
            }
            JobKind::RenewalInfo => {
                Outcome::RenewalInfo(renewal_info(&job, &mut sessions, &session_key))
            }
        };
        let mut plan = shared.plan.lock().unwrap_or_else(|e| e.into_inner());
        // The plan may have been replaced by a reload meanwhile: record only into the same
        // certificate.
        let index = if plan.generation == job.generation {
            Some(job.index)
        } else {
            plan.certificates.iter().position(|m| m.id == job.id)
        };
        let Some(managed) = index.and_then(|i| plan.certificates.get_mut(i)) else {
            continue;
        };
        let names = job.identifiers.join(", ");
        let ordered = match outcome {
            Outcome::RenewalInfo(ari) => {
                apply_renewal_info(managed, ari);
                continue;
            }
            Outcome::Ordered(ordered) => ordered,
        };
        match ordered {
            Ok((key, info)) => {
                let renew = schedule::renewal_time(info.not_before, info.not_after);
                log::notice(&format!(
                    "acme: certificate for {names} installed, valid until {}, renewal from {}",
                    httpdate(info.not_after),
                    httpdate(renew)
                ));
                managed.slot.set(key);
                managed.info = Some(info);
                managed.due = from_unix(renew);
                managed.ari_due = Some(SystemTime::now());
                managed.failures = 0;
            }
            Err(error) => {
                sessions.remove(&session_key);
                managed.failures += 1;
                let wait = schedule::backoff(managed.failures, &error);
                managed.due = SystemTime::now() + wait;
                log::error(&format!(
                    "acme: certificate for {names} from issuer \"{}\": {error}; attempt {} \
                     failed, next in {}s",
                    job.issuer.name,
                    managed.failures,
                    wait.as_secs()
                ));
            }
        }
    }
}

/// The first certificate that is due: an order, else a renewal information check.
fn next_job(plan: &Plan, now: SystemTime) -> Option<Job> {
    let job = |index: usize, m: &Managed, kind| Job {
        index,
        generation: plan.generation,
        id: m.id.clone(),
        issuer: m.issuer.clone(),
        identifiers: m.id.identifiers.clone(),
        key: m.id.key,
        http_listeners: m.http_listeners,
        info: m.info.clone(),
        kind,
    };
    for (index, m) in plan.certificates.iter().enumerate() {
        if m.due <= now {
            return Some(job(index, m, JobKind::Order));
        }
    }
    for (index, m) in plan.certificates.iter().enumerate() {
        if m.ari_due.is_some_and(|at| at <= now) {
            return Some(job(index, m, JobKind::RenewalInfo));
        }
    }
    None
}

/// The account's session with its CA: the account key loaded or made (and stored), the
/// directory read, the account registered.
fn session<'s>(
    issuer: &AcmeIssuer,
    sessions: &'s mut HashMap<String, Session>,
    key: &str,
) -> Result<&'s mut Session, AcmeError> {
    if !sessions.contains_key(key) {
        let account_key = account_key(issuer)?;
        let mut client = Client::connect(issuer, Arc::new(account_key))?;
        let kid = client.register(&issuer.contacts, issuer.accept_terms_of_service)?;
        log::info(&format!("acme: issuer \"{}\": account {kid}", issuer.name));
        sessions.insert(key.to_string(), Session { client });
    }
    sessions
        .get_mut(key)
        .ok_or_else(|| AcmeError::Local("session lost".to_string()))
}

fn account_key(issuer: &AcmeIssuer) -> Result<AccountKey, AcmeError> {
    match &issuer.account_key {
        AccountKeySpec::File(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                AcmeError::Local(format!(
                    "cannot read account key \"{}\": {e}",
                    path.display()
                ))
            })?;
            AccountKey::from_pem(&pem)
                .map_err(|e| AcmeError::Local(format!("account key \"{}\": {e}", path.display())))
        }
        AccountKeySpec::Generate(curve) => {
            if let Some(key) =
                store::load_account_key(&issuer.state_path).map_err(AcmeError::Local)?
            {
                return Ok(key);
            }
            let (key, pkcs8) = AccountKey::generate(*curve).map_err(AcmeError::Local)?;
            let pem = jose::pem("PRIVATE KEY", &pkcs8);
            store::write_atomic(
                &issuer.state_path,
                store::ACCOUNT_KEY,
                pem.as_bytes(),
                0o600,
            )
            .map_err(|e| {
                AcmeError::Local(format!(
                    "cannot store the account key in \"{}\": {e}",
                    issuer.state_path.display()
                ))
            })?;
            log::notice(&format!(
                "acme: issuer \"{}\": new account key stored in {}",
                issuer.name,
                issuer.state_path.join(store::ACCOUNT_KEY).display()
            ));
            Ok(key)
        }
    }
}

/// The ARI certificate ID (RFC 9773 section 4.1): base64url(AKI keyIdentifier) "."
/// base64url(serial number).
fn ari_cert_id(info: &CertInfo) -> Option<String> {
    let aki = info.authority_key_id.as_ref()?;
    Some(format!(
        "{}.{}",
        jose::base64url(aki),
        jose::base64url(&info.serial)
    ))
}

/// Orders, validates, downloads and stores a certificate for the job.
fn order(
    job: &Job,
    sessions: &mut HashMap<String, Session>,
    session_key: &str,
    challenges: &super::Challenges,
) -> Result<(Arc<CertifiedKey>, CertInfo), AcmeError> {
    let names = job.identifiers.join(", ");
    let renewing = job.info.is_some();
    log::notice(&format!(
        "acme: {} a certificate for {names} from issuer \"{}\"",
        if renewing { "renewing" } else { "ordering" },
        job.issuer.name
    ));
    let client = &mut session(&job.issuer, sessions, session_key)?.client;
    let replaces = job
        .info
        .as_ref()
        .filter(|_| client.directory.renewal_info.is_some())
        .and_then(ari_cert_id);
    let mut order = client.new_order(&job.identifiers, replaces.as_deref())?;
    log::info(&format!("acme: order {} for {names}", order.url));
    for url in order.authorizations.clone() {
        authorize(job, client, &url, challenges)?;
    }
    let key = generate_key(job.key)?;
    let mut params = rcgen::CertificateParams::new(job.identifiers.clone())
        .map_err(|e| AcmeError::Local(format!("CSR: {e}")))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr = params
        .serialize_request(&key)
        .map_err(|e| AcmeError::Local(format!("CSR: {e}")))?;
    // The order may still be "pending" for a moment after the last authorization is valid.
    order = wait_for(client, &order, &["pending"])?;
    if order.status == "ready" {
        order = client.finalize(&order, csr.der())?;
    }
    order = wait_for(client, &order, &["pending", "ready", "processing"])?;
    if order.status != "valid" {
        return Err(AcmeError::Protocol(format!(
            "order {} is {}{}",
            order.url,
            order.status,
            order.error.map(|e| format!(": {e}")).unwrap_or_default()
        )));
    }
    let Some(cert_url) = order.certificate.clone() else {
        return Err(AcmeError::Protocol(
            "a valid order without certificate".into(),
        ));
    };
    let pem = client.download(&cert_url)?;
    let (certified, info) = check_chain(&pem, &key, &job.identifiers)?;
    let mut file = key.serialize_pem().into_bytes();
    file.extend_from_slice(&pem);
    if !file.ends_with(b"\n") {
        file.push(b'\n');
    }
    let name = format!("{}.pem", job.identifiers[0]);
    store::write_atomic(&job.issuer.state_path, &name, &file, 0o600).map_err(|e| {
        AcmeError::Local(format!(
            "cannot store the certificate in \"{}\": {e}",
            job.issuer.state_path.display()
        ))
    })?;
    log::info(&format!(
        "acme: certificate for {names} stored in {}",
        job.issuer.state_path.join(&name).display()
    ));
    Ok((certified, info))
}

/// Polls `order` while its status is one of `waiting`.
fn wait_for(client: &mut Client, order: &Order, waiting: &[&str]) -> Result<Order, AcmeError> {
    let started = Instant::now();
    let mut current = order.clone();
    let mut pause = FIRST_POLL;
    while waiting.contains(&current.status.as_str()) {
        if started.elapsed() > VALIDATION_TIMEOUT {
            return Err(AcmeError::Protocol(format!(
                "order {} still {} after {}s",
                order.url,
                current.status,
                VALIDATION_TIMEOUT.as_secs()
            )));
        }
        let (next, retry_after) = client.order(&order.url)?;
        if !waiting.contains(&next.status.as_str()) {
            return Ok(next);
        }
        current = next;
        std::thread::sleep(retry_after.unwrap_or(pause).min(MAX_POLL));
        pause = (pause * 2).min(MAX_POLL);
    }
    Ok(current)
}

/// Gets one authorization to `valid`: picks the first challenge in the CA's order that this
/// issuer may answer and the server can, publishes it, tells the CA, polls, withdraws.
fn authorize(
    job: &Job,
    client: &mut Client,
    url: &str,
    challenges: &super::Challenges,
) -> Result<(), AcmeError> {
    let (authz, _) = client.authorization(url)?;
    match authz.status.as_str() {
        "valid" => return Ok(()),
        "pending" => {}
        other => {
            return Err(AcmeError::Protocol(format!(
                "authorization for {} is {other}",
                authz.identifier
            )));
        }
    }
    let answerable = |kind: ChallengeKind| {
        job.issuer.challenges.contains(&kind)
            && (kind != ChallengeKind::Http01 || job.http_listeners)
    };
    let chosen = authz.challenges.iter().find_map(|c| {
        let kind = ChallengeKind::from_name(&c.kind).filter(|k| answerable(*k))?;
        Some((kind, c.clone()))
    });
    let Some((kind, challenge)) = chosen else {
        let offered: Vec<&str> = authz.challenges.iter().map(|c| c.kind.as_str()).collect();
        return Err(AcmeError::Protocol(format!(
            "no challenge for {} that webserv can answer (the CA offers {}; this issuer \
             allows {}{})",
            authz.identifier,
            offered.join(", "),
            job.issuer
                .challenges
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(", "),
            if job.http_listeners {
                ""
            } else {
                "; http-01 needs a plain-HTTP listener"
            }
        )));
    };
    let key_authorization = client.key().key_authorization(&challenge.token);
    match kind {
        ChallengeKind::Http01 => challenges.publish_http01(&challenge.token, &key_authorization),
        ChallengeKind::TlsAlpn01 => challenges
            .publish_tls_alpn01(&authz.identifier, &key_authorization)
            .map_err(AcmeError::Local)?,
    }
    log::info(&format!(
        "acme: answering {} for {}",
        kind.name(),
        authz.identifier
    ));
    let result = validate(client, url, &challenge.url);
    match kind {
        ChallengeKind::Http01 => challenges.withdraw_http01(&challenge.token),
        ChallengeKind::TlsAlpn01 => challenges.withdraw_tls_alpn01(&authz.identifier),
    }
    let authz = result?;
    if authz.status != "valid" {
        return Err(AcmeError::Protocol(format!(
            "{} validation of {} failed: {}",
            kind.name(),
            authz.identifier,
            authz.error.as_deref().unwrap_or(&authz.status)
        )));
    }
    log::info(&format!(
        "acme: {} validated by {}",
        authz.identifier,
        kind.name()
    ));
    Ok(())
}

/// Tells the CA to validate, then polls the authorization until it is no longer pending.
fn validate(
    client: &mut Client,
    authz_url: &str,
    challenge_url: &str,
) -> Result<Authorization, AcmeError> {
    client.respond(challenge_url)?;
    let started = Instant::now();
    let mut pause = FIRST_POLL;
    loop {
        let (authz, retry_after) = client.authorization(authz_url)?;
        if authz.status != "pending" {
            return Ok(authz);
        }
        if started.elapsed() > VALIDATION_TIMEOUT {
            return Err(AcmeError::Protocol(format!(
                "the CA did not validate {} in {}s",
                authz.identifier,
                VALIDATION_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(retry_after.unwrap_or(pause).min(MAX_POLL));
        pause = (pause * 2).min(MAX_POLL);
    }
}

fn generate_key(kind: CertKey) -> Result<rcgen::KeyPair, AcmeError> {
    use rcgen::{KeyPair, RsaKeySize};
    let generated = match kind {
        CertKey::Ecdsa256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        CertKey::Ecdsa384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
        CertKey::Ecdsa521 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512),
        CertKey::Rsa2048 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048),
        CertKey::Rsa3072 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_3072),
        CertKey::Rsa4096 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_4096),
    };
    generated.map_err(|e| AcmeError::Local(format!("cannot generate a certificate key: {e}")))
}

/// Checks what the CA delivered: a PEM chain whose leaf matches our key and covers the names.
fn check_chain(
    pem: &[u8],
    key: &rcgen::KeyPair,
    identifiers: &[String],
) -> Result<(Arc<CertifiedKey>, CertInfo), AcmeError> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AcmeError::Protocol(format!("the certificate chain is not PEM ({e})")))?;
    let Some(leaf) = chain.first() else {
        return Err(AcmeError::Protocol("an empty certificate chain".into()));
    };
    let info = crate::pki::der::certificate(leaf.as_ref())
        .map_err(|e| AcmeError::Protocol(format!("the issued certificate is invalid ({e})")))?;
    if let Some(missing) = identifiers.iter().find(|n| !info.dns_names.contains(n)) {
        return Err(AcmeError::Protocol(format!(
            "the issued certificate does not cover {missing}"
        )));
    }
    let certified = super::certified_key(chain, key).map_err(AcmeError::Protocol)?;
    certified.keys_match().map_err(|e| {
        AcmeError::Protocol(format!("the issued certificate is not for our key ({e})"))
    })?;
    Ok((certified, info))
}

/// Asks the CA's renewal information for the job's certificate.
fn renewal_info(
    job: &Job,
    sessions: &mut HashMap<String, Session>,
    session_key: &str,
) -> Result<Option<super::client::RenewalWindow>, AcmeError> {
    let Some(cert_id) = job.info.as_ref().and_then(ari_cert_id) else {
        return Ok(None);
    };
    let client = &mut session(&job.issuer, sessions, session_key)?.client;
    client.renewal_info(&cert_id)
}

/// Moves the renewal time into the CA's suggested window, when it gives one.
fn apply_renewal_info(
    managed: &mut Managed,
    ari: Result<Option<super::client::RenewalWindow>, AcmeError>,
) {
    let now = SystemTime::now();
    match ari {
        Ok(Some(window)) => {
            let at = from_unix(schedule::within_window(&window, random_unit(), unix(now)));
            if at < managed.due {
                log::notice(&format!(
                    "acme: renewal information for {}: renewal moved to {}",
                    managed.id.identifiers.join(", "),
                    httpdate(unix(at))
                ));
                managed.due = at;
            }
            managed.ari_due = Some(now + schedule::ari_poll(window.retry_after));
        }
        // The CA offers none: renewal stays at two thirds of the lifetime.
        Ok(None) => managed.ari_due = None,
        Err(error) => {
            log::info(&format!(
                "acme: renewal information for {}: {error}",
                managed.id.identifiers.join(", ")
            ));
            managed.ari_due = Some(now + schedule::ari_poll(None));
        }
    }
}

/// A random number in [0, 1).
fn random_unit() -> f64 {
    let mut bytes = [0u8; 8];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        return 0.5;
    }
    (u64::from_be_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}
