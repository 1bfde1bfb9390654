//! The ACME protocol (RFC 8555) as one account speaks it, over a blocking HTTPS client (ureq
//! on rustls with the aws-lc-rs provider): the directory, nonces, signed POSTs with the
//! `badNonce` retry, problem documents, accounts, orders, authorizations, challenges,
//! finalization, the certificate download, and ACME Renewal Information (RFC 9773).
//!
//! Only the ACME helper thread calls this; every call may block for up to [`TIMEOUT`].

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::pki_types::CertificateDer;
use serde_json::{Value, json};

use crate::config::AcmeIssuer;
use crate::pki::jose::AccountKey;
use crate::pki::tls::load_roots;

/// Longest wait for one HTTP exchange with the CA.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// Largest answer read from the CA (a certificate chain is a few KiB).
const MAX_BODY: u64 = 1 << 20;
/// Signed requests retried after a `badNonce` (RFC 8555 section 6.5).
const NONCE_RETRIES: u32 = 3;

/// Why an exchange with the CA failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcmeError {
    /// The CA could not be reached or answered garbage at the HTTP level.
    Transport(String),
    /// The CA said no: an RFC 7807 problem document (`type` without its
    /// `urn:ietf:params:acme:error:` prefix), with the `Retry-After` it gave.
    Problem {
        status: u16,
        kind: String,
        detail: String,
        retry_after: Option<Duration>,
    },
    /// The CA's answers did not follow the protocol, or validation failed.
    Protocol(String),
    /// Our side: a key, a file, the state directory.
    Local(String),
}

impl AcmeError {
    /// The wait the CA asked for, where it did (a rate limit, a busy server).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            AcmeError::Problem { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn is_rate_limit(&self) -> bool {
        matches!(self, AcmeError::Problem { kind, .. } if kind == "rateLimited")
    }
}

impl std::fmt::Display for AcmeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AcmeError::Transport(why) => write!(f, "cannot reach the CA: {why}"),
            AcmeError::Problem {
                status,
                kind,
                detail,
                retry_after,
            } => {
                write!(f, "the CA answered {status} {kind}: {detail}")?;
                if let Some(wait) = retry_after {
                    write!(f, " (retry after {}s)", wait.as_secs())?;
                }
                Ok(())
            }
            AcmeError::Protocol(why) => write!(f, "{why}"),
            AcmeError::Local(why) => write!(f, "{why}"),
        }
    }
}

type Result<T> = std::result::Result<T, AcmeError>;

fn protocol<T>(why: impl Into<String>) -> Result<T> {
    Err(AcmeError::Protocol(why.into()))
}

/// Where Linux distributions keep their CA bundle (`SSL_CERT_FILE` first, as OpenSSL does).
const SYSTEM_BUNDLES: [&str; 5] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
];

fn system_roots() -> std::result::Result<Vec<CertificateDer<'static>>, String> {
    let from_env = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
    let candidates = from_env
        .into_iter()
        .chain(SYSTEM_BUNDLES.iter().map(std::path::PathBuf::from));
    for path in candidates {
        if path.is_file() {
            return load_roots(&path);
        }
    }
    Err("no system CA bundle found; set \"ssl_trusted_certificate\"".to_string())
}

/// What the CA answered.
struct Reply {
    status: u16,
    location: Option<String>,
    retry_after: Option<Duration>,
    nonce: Option<String>,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Result<Value> {
        serde_json::from_slice(&self.body)
            .map_err(|e| AcmeError::Protocol(format!("the CA's answer is not JSON: {e}")))
    }

    /// The problem document of an error answer.
    fn problem(&self) -> AcmeError {
        let doc: Value = serde_json::from_slice(&self.body).unwrap_or(Value::Null);
        let kind = doc["type"].as_str().unwrap_or("(no problem type)");
        AcmeError::Problem {
            status: self.status,
            kind: kind
                .strip_prefix("urn:ietf:params:acme:error:")
                .unwrap_or(kind)
                .to_string(),
            detail: doc["detail"].as_str().unwrap_or("").to_string(),
            retry_after: self.retry_after,
        }
    }
}

/// `Retry-After` (RFC 9110 section 10.2.3): seconds, or a date (counted from `now`).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The CA's directory (RFC 8555 section 7.1.1).
#[derive(Debug, Clone)]
pub struct Directory {
    pub new_nonce: String,
    pub new_account: String,
    pub new_order: String,
    /// RFC 9773, where the CA offers it.
    pub renewal_info: Option<String>,
    pub terms_of_service: Option<String>,
}

impl Directory {
    pub fn from_json(doc: &Value) -> Result<Directory> {
        let url = |name: &str| -> Result<String> {
            doc[name]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| AcmeError::Protocol(format!("the directory has no \"{name}\"")))
        };
        Ok(Directory {
            new_nonce: url("newNonce")?,
            new_account: url("newAccount")?,
            new_order: url("newOrder")?,
            renewal_info: doc["renewalInfo"].as_str().map(str::to_string),
            terms_of_service: doc["meta"]["termsOfService"].as_str().map(str::to_string),
        })
    }
}

/// An order (RFC 8555 section 7.1.3), as much of it as the client follows.
#[derive(Debug, Clone)]
pub struct Order {
    pub url: String,
    pub status: String,
    pub authorizations: Vec<String>,
    pub finalize: String,
    pub certificate: Option<String>,
    pub error: Option<String>,
}

impl Order {
    fn from_json(url: String, doc: &Value) -> Result<Order> {
        let Some(status) = doc["status"].as_str() else {
            return protocol("an order without status");
        };
        let Some(finalize) = doc["finalize"].as_str() else {
            return protocol("an order without finalize URL");
        };
        Ok(Order {
            url,
            status: status.to_string(),
            authorizations: doc["authorizations"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            finalize: finalize.to_string(),
            certificate: doc["certificate"].as_str().map(str::to_string),
            error: (!doc["error"].is_null()).then(|| describe_error(&doc["error"])),
        })
    }
}

/// One challenge of an authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub kind: String,
    pub url: String,
    pub token: String,
    pub status: String,
}

/// An authorization (RFC 8555 section 7.1.4).
#[derive(Debug, Clone)]
pub struct Authorization {
    pub identifier: String,
    pub status: String,
    /// In the CA's order.
    pub challenges: Vec<Challenge>,
    /// Why a challenge failed, where one did.
    pub error: Option<String>,
}

impl Authorization {
    pub fn from_json(doc: &Value) -> Result<Authorization> {
        let Some(status) = doc["status"].as_str() else {
            return protocol("an authorization without status");
        };
        let mut challenges = Vec::new();
        let mut error = None;
        for c in doc["challenges"].as_array().into_iter().flatten() {
            if !c["error"].is_null() {
                error = Some(describe_error(&c["error"]));
            }
            let (Some(kind), Some(url)) = (c["type"].as_str(), c["url"].as_str()) else {
                continue;
            };
            challenges.push(Challenge {
                kind: kind.to_string(),
                url: url.to_string(),
                token: c["token"].as_str().unwrap_or("").to_string(),
                status: c["status"].as_str().unwrap_or("").to_string(),
            });
        }
        Ok(Authorization {
            identifier: doc["identifier"]["value"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            status: status.to_string(),
            challenges,
            error,
        })
    }
}

/// A problem document (or anything) as one line.
fn describe_error(error: &Value) -> String {
    let kind = error["type"].as_str().unwrap_or("");
    let kind = kind
        .strip_prefix("urn:ietf:params:acme:error:")
        .unwrap_or(kind);
    let detail = error["detail"].as_str().unwrap_or("");
    format!("{kind}: {detail}")
}

/// The window RFC 9773 suggests for renewing a certificate, with the time to ask again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenewalWindow {
    pub start: i64,
    pub end: i64,
    pub retry_after: Option<Duration>,
}

/// Parses an RFC 3339 date-time (`2025-01-02T03:04:05Z`, fractions and offsets allowed) to
/// Unix seconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6
            && (rest.starts_with('+') || rest.starts_with('-'))
            && rest.as_bytes()[3] == b':' =>
        {
            let two = |s: &str| -> Option<i64> {
                s.bytes()
                    .all(|c| c.is_ascii_digit())
                    .then(|| s.parse().ok())?
            };
            let (h, m) = (two(&rest[1..3])?, two(&rest[4..6])?);
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (h * 3600 + m * 60)
        }
        _ => return None,
    };
    let days = crate::pki::der::days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// An HTTPS client for one issuer, and what the account knows of the CA.
pub struct Client {
    agent: ureq::Agent,
    pub directory: Directory,
    key: Arc<AccountKey>,
    /// The account URL, once registered.
    kid: Option<String>,
    nonce: Option<String>,
}

impl Client {
    /// Builds the HTTPS client for `issuer` and reads the CA's directory.
    pub fn connect(issuer: &AcmeIssuer, key: Arc<AccountKey>) -> Result<Client> {
        let roots = match &issuer.trusted_certificate {
            Some(path) => load_roots(path),
            None if !issuer.verify => Ok(Vec::new()),
            None => system_roots(),
        }
        .map_err(AcmeError::Local)?;
        let roots: Vec<ureq::tls::Certificate<'static>> = roots
            .iter()
            .map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned())
            .collect();
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .root_certs(ureq::tls::RootCerts::Specific(Arc::new(roots)))
            .disable_verification(!issuer.verify)
            .build();
        let config = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .timeout_global(Some(TIMEOUT))
            .user_agent(concat!("webserv/", env!("CARGO_PKG_VERSION")))
            .build();
        let agent = ureq::Agent::new_with_config(config);
        let reply = exchange(agent.get(&issuer.uri).call())?;
        if reply.status != 200 {
            return Err(reply.problem());
        }
        let directory = Directory::from_json(&reply.json()?)?;
        Ok(Client {
            agent,
            directory,
            key,
            kid: None,
            nonce: None,
        })
    }

    pub fn key(&self) -> &AccountKey {
        &self.key
    }

    fn fresh_nonce(&mut self) -> Result<String> {
        if let Some(nonce) = self.nonce.take() {
            return Ok(nonce);
        }
        let reply = exchange(self.agent.head(&self.directory.new_nonce).call())?;
        reply
            .nonce
            .ok_or_else(|| AcmeError::Protocol("the CA gave no Replay-Nonce".to_string()))
    }

    /// A signed POST (None: POST-as-GET), retried on `badNonce`. Error answers are problems.
    fn post(&mut self, url: &str, payload: Option<&Value>) -> Result<Reply> {
        let mut attempt = 0;
        loop {
            let nonce = self.fresh_nonce()?;
            let body = self
                .key
                .sign(payload, url, &nonce, self.kid.as_deref())
                .map_err(AcmeError::Local)?;
            let reply = exchange(
                self.agent
                    .post(url)
                    .header("Content-Type", "application/jose+json")
                    .send(&body[..]),
            )?;
            self.nonce = reply.nonce.clone();
            if reply.status < 400 {
                return Ok(reply);
            }
            let problem = reply.problem();
            attempt += 1;
            if matches!(&problem, AcmeError::Problem { kind, .. } if kind == "badNonce")
                && attempt <= NONCE_RETRIES
            {
                continue;
            }
            return Err(problem);
        }
    }

    /// Registers the account (or finds the one this key already has: RFC 8555 section 7.3.1).
    pub fn register(&mut self, contacts: &[String], accept_terms: bool) -> Result<String> {
        let mut payload = json!({ "contact": contacts });
        if accept_terms {
            payload["termsOfServiceAgreed"] = json!(true);
        }
        let url = self.directory.new_account.clone();
        let reply = self.post(&url, Some(&payload)).map_err(|e| match e {
            AcmeError::Problem { ref kind, .. }
                if kind == "userActionRequired" || kind == "agreementRequired" =>
            {
                let terms = self.directory.terms_of_service.as_deref().unwrap_or("");
                AcmeError::Local(format!(
                    "{e}; the CA wants its terms of service {terms} accepted: add \
                     \"accept_terms_of_service\" to the issuer"
                ))
            }
            e => e,
        })?;
        let Some(kid) = reply.location else {
            return protocol("the CA gave no account URL");
        };
        self.kid = Some(kid.clone());
        Ok(kid)
    }

    /// Orders a certificate for `identifiers`; `replaces`: the ARI ID of the one it renews.
    pub fn new_order(&mut self, identifiers: &[String], replaces: Option<&str>) -> Result<Order> {
        let ids: Vec<Value> = identifiers
            .iter()
            .map(|name| json!({ "type": "dns", "value": name }))
            .collect();
        let mut payload = json!({ "identifiers": ids });
        if let Some(replaces) = replaces {
            payload["replaces"] = json!(replaces);
        }
        let url = self.directory.new_order.clone();
        let reply = match self.post(&url, Some(&payload)) {
            // A CA that does not take this `replaces` (RFC 9773 section 5): order without it.
            Err(AcmeError::Problem { kind, .. })
                if replaces.is_some() && (kind == "alreadyReplaced" || kind == "malformed") =>
            {
                return self.new_order(identifiers, None);
            }
            other => other?,
        };
        let Some(location) = reply.location.clone() else {
            return protocol("the CA gave no order URL");
        };
        Order::from_json(location, &reply.json()?)
    }

    pub fn order(&mut self, url: &str) -> Result<(Order, Option<Duration>)> {
        let reply = self.post(url, None)?;
        Ok((
            Order::from_json(url.to_string(), &reply.json()?)?,
            reply.retry_after,
        ))
    }

    pub fn authorization(&mut self, url: &str) -> Result<(Authorization, Option<Duration>)> {
        let reply = self.post(url, None)?;
        Ok((Authorization::from_json(&reply.json()?)?, reply.retry_after))
    }

    /// Tells the CA the challenge is ready (RFC 8555 section 7.5.1).
    pub fn respond(&mut self, challenge_url: &str) -> Result<()> {
        self.post(challenge_url, Some(&json!({}))).map(|_| ())
    }

    pub fn finalize(&mut self, order: &Order, csr_der: &[u8]) -> Result<Order> {
        let payload = json!({ "csr": crate::pki::jose::base64url(csr_der) });
        let reply = self.post(&order.finalize, Some(&payload))?;
        Order::from_json(order.url.clone(), &reply.json()?)
    }

    /// The issued chain, PEM.
    pub fn download(&mut self, url: &str) -> Result<Vec<u8>> {
        Ok(self.post(url, None)?.body)
    }

    /// RFC 9773: the CA's suggested renewal window for the certificate `cert_id`.
    pub fn renewal_info(&mut self, cert_id: &str) -> Result<Option<RenewalWindow>> {
        let Some(base) = self.directory.renewal_info.clone() else {
            return Ok(None);
        };
        let url = format!("{}/{cert_id}", base.trim_end_matches('/'));
        let reply = exchange(self.agent.get(&url).call())?;
        if reply.status != 200 {
            return Err(reply.problem());
        }
        let doc = reply.json()?;
        let window = &doc["suggestedWindow"];
        let start = window["start"].as_str().and_then(parse_rfc3339);
        let end = window["end"].as_str().and_then(parse_rfc3339);
        match (start, end) {
            (Some(start), Some(end)) if start <= end => Ok(Some(RenewalWindow {
                start,
                end,
                retry_after: reply.retry_after,
            })),
            _ => protocol("renewal information without a valid suggestedWindow"),
        }
    }
}

/// Reads an answer, keeping what the client uses of it.
fn exchange(
    result: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Reply> {
    let mut response = result.map_err(|e| AcmeError::Transport(e.to_string()))?;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let status = response.status().as_u16();
    let location = header("location");
    let nonce = header("replay-nonce");
    let retry_after = header("retry-after").and_then(|v| parse_retry_after(&v, SystemTime::now()));
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()
        .map_err(|e| AcmeError::Transport(e.to_string()))?;
    Ok(Reply {
        status,
        location,
        retry_after,
        nonce,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:59:37 GMT", now),
            Some(Duration::from_secs(600))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn problem_documents_keep_type_detail_and_retry_after() {
        let reply = Reply {
            status: 429,
            location: None,
            retry_after: Some(Duration::from_secs(3600)),
            nonce: None,
            body: br#"{"type":"urn:ietf:params:acme:error:rateLimited","detail":"too many"}"#
                .to_vec(),
        };
        let problem = reply.problem();
        assert!(problem.is_rate_limit());
        assert_eq!(problem.retry_after(), Some(Duration::from_secs(3600)));
        assert_eq!(
            problem.to_string(),
            "the CA answered 429 rateLimited: too many (retry after 3600s)"
        );
        let garbage = Reply {
            status: 500,
            body: b"<html>".to_vec(),
            retry_after: None,
            ..reply
        };
        assert!(!garbage.problem().is_rate_limit());
    }

    #[test]
    fn a_directory_needs_its_three_urls() {
        let doc = json!({
            "newNonce": "n", "newAccount": "a", "newOrder": "o",
            "renewalInfo": "r", "meta": {"termsOfService": "t"}
        });
        let dir = Directory::from_json(&doc).unwrap();
        assert_eq!(dir.renewal_info.as_deref(), Some("r"));
        assert_eq!(dir.terms_of_service.as_deref(), Some("t"));
        let e = Directory::from_json(&json!({"newNonce": "n"})).unwrap_err();
        assert!(e.to_string().contains("newAccount"), "{e}");
    }

    #[test]
    fn authorizations_keep_the_cas_challenge_order_and_errors() {
        let doc = json!({
            "status": "invalid",
            "identifier": {"type": "dns", "value": "a.test"},
            "challenges": [
                {"type": "tls-alpn-01", "url": "u1", "token": "t1", "status": "pending"},
                {"type": "http-01", "url": "u2", "token": "t2", "status": "invalid",
                 "error": {"type": "urn:ietf:params:acme:error:connection", "detail": "refused"}},
                {"type": "dns-01", "url": "u3", "token": "t3"}
            ]
        });
        let authz = Authorization::from_json(&doc).unwrap();
        assert_eq!(authz.identifier, "a.test");
        let kinds: Vec<&str> = authz.challenges.iter().map(|c| c.kind.as_str()).collect();
        assert_eq!(kinds, ["tls-alpn-01", "http-01", "dns-01"]);
        assert_eq!(authz.error.as_deref(), Some("connection: refused"));
    }

    #[test]
    fn rfc_3339_times_with_fractions_and_offsets() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:10.123456Z"), Some(10));
        assert_eq!(parse_rfc3339("2025-01-02T03:04:05Z"), Some(1_735_787_045));
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00-00:30"), Some(1800));
        for bad in [
            "",
            "1970-01-01",
            "1970-13-01T00:00:00Z",
            "1970-01-01T00:00:00",
            "1970-01-01T00:00:00.Z",
            "1970-01-01T00:00:00+0100",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
