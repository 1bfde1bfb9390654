//! The ACME directives, in the grammar of nginx's `ngx_http_acme_module`:
//!
//! ```text
//! acme_issuer NAME {                      # top level
//!     uri URL;                            # the CA's directory URL (required)
//!     contact URL;                        # repeatable; "mailto:" assumed
//!     state_path DIR;                     # required: account key, certificates
//!     accept_terms_of_service;
//!     ssl_trusted_certificate FILE;       # roots for the CA's own HTTPS (default: system)
//!     ssl_verify on | off;
//!     challenge http-01 | tls-alpn-01 ...;  # the types webserv may answer (default: both)
//!     account_key ecdsa:256 | ecdsa:384 | FILE;
//! }
//! acme_shared_zone zone=NAME:SIZE;        # accepted, no effect (workers share memory)
//! server { acme_certificate NAME [IDENTIFIER ...] [key=ALG[:SIZE]]; }
//! ```
//!
//! Parsing checks everything a start could trip over: names, the issuer a certificate names,
//! a server without names or without an `ssl` listener, and the state directory (created if
//! missing, probed for writing, its files read and checked: `-t` reports a corrupt one).

use std::path::{Path, PathBuf};

use super::directive::{Directive, Word, duplicate};
use super::lexer::{Error, Pos};
use super::table::check;
use crate::pki::jose::{self, Curve};
use crate::pki::{store, tls};

type Result<T> = std::result::Result<T, Error>;

fn fail<T>(pos: Pos, message: impl Into<String>) -> Result<T> {
    Err(Error::new(pos, message))
}

/// One `acme_issuer` block.
#[derive(Debug, Clone)]
pub struct AcmeIssuer {
    pub name: String,
    /// The directory URL.
    pub uri: String,
    /// `mailto:` URLs (or whatever scheme was written).
    pub contacts: Vec<String>,
    pub state_path: PathBuf,
    pub accept_terms_of_service: bool,
    /// `ssl_trusted_certificate`: PEM roots for the CA's HTTPS; None: the system's.
    pub trusted_certificate: Option<PathBuf>,
    /// `ssl_verify`: check the CA's certificate (on by default).
    pub verify: bool,
    /// The challenge types webserv may answer for this issuer, never empty.
    pub challenges: Vec<ChallengeKind>,
    pub account_key: AccountKeySpec,
}

/// A challenge type webserv answers itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeKind {
    /// RFC 8555 section 8.3: a file under `/.well-known/acme-challenge/` on port 80.
    Http01,
    /// RFC 8737: a certificate for the `acme-tls/1` protocol on port 443.
    TlsAlpn01,
}

impl ChallengeKind {
    pub fn name(self) -> &'static str {
        match self {
            ChallengeKind::Http01 => "http-01",
            ChallengeKind::TlsAlpn01 => "tls-alpn-01",
        }
    }

    pub fn from_name(name: &str) -> Option<ChallengeKind> {
        match name {
            "http-01" | "http" => Some(ChallengeKind::Http01),
            "tls-alpn-01" | "tls-alpn" => Some(ChallengeKind::TlsAlpn01),
            _ => None,
        }
    }
}

/// `account_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountKeySpec {
    /// Generated on the curve and kept in the state directory as `account.key`.
    Generate(Curve),
    /// Read from this file, never written.
    File(PathBuf),
}

/// One server's `acme_certificate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeCertificate {
    /// Index into `Config::acme_issuers`.
    pub issuer: usize,
    /// DNS names, lower-cased, the first naming the files in the state directory.
    pub identifiers: Vec<String>,
    pub key: CertKey,
}

/// The private key type of an issued certificate (`key=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertKey {
    Ecdsa256,
    Ecdsa384,
    Ecdsa521,
    Rsa2048,
    Rsa3072,
    Rsa4096,
}

impl CertKey {
    fn from_name(name: &str) -> Option<CertKey> {
        Some(match name {
            "ecdsa" | "ecdsa:256" => CertKey::Ecdsa256,
            "ecdsa:384" => CertKey::Ecdsa384,
            "ecdsa:521" => CertKey::Ecdsa521,
            "rsa" | "rsa:2048" => CertKey::Rsa2048,
            "rsa:3072" => CertKey::Rsa3072,
            "rsa:4096" => CertKey::Rsa4096,
            _ => return None,
        })
    }
}

/// Parses one `acme_issuer NAME { ... }` block (already `check`ed); also returns where its
/// `state_path` is written, for errors about the directory's contents.
pub(super) fn issuer(d: &Directive, dir: &Path, known: &[AcmeIssuer]) -> Result<(AcmeIssuer, Pos)> {
    let name = &d.args[0];
    if name.text.is_empty() {
        return fail(name.pos, "invalid issuer name \"\"");
    }
    if known.iter().any(|i| i.name == name.text) {
        return fail(name.pos, format!("duplicate acme_issuer \"{}\"", name.text));
    }
    let mut uri = None;
    let mut contacts = Vec::new();
    let mut state_path: Option<(PathBuf, Pos)> = None;
    let mut accept = None;
    let mut trusted = None;
    let mut verify = None;
    let mut challenges: Option<Vec<ChallengeKind>> = None;
    let mut account_key = None;
    for c in d.block.as_deref().unwrap_or_default() {
        check(c, super::directive::ACME_ISSUER)?;
        let arg = c.args.first();
        match (c.name.text.as_str(), arg) {
            ("uri", Some(a)) => {
                if uri.is_some() {
                    return duplicate(c);
                }
                if !(a.text.starts_with("https://") || a.text.starts_with("http://"))
                    || a.text.len() <= "https://".len()
                {
                    return fail(
                        a.pos,
                        format!("invalid uri \"{}\", it must be an http(s) URL", a.text),
                    );
                }
                uri = Some(a.text.clone());
            }
            ("contact", Some(a)) => {
                if a.text.is_empty() || a.text.chars().any(char::is_whitespace) {
                    return fail(a.pos, format!("invalid contact \"{}\"", a.text));
                }
                contacts.push(if a.text.contains(':') {
                    a.text.clone()
                } else {
                    format!("mailto:{}", a.text)
                });
            }
            ("state_path", Some(a)) => {
                if state_path.is_some() {
                    return duplicate(c);
                }
                if a.text == "off" {
                    return fail(
                        a.pos,
                        "\"state_path off\" is not supported: without a state directory every \
                         start would order new certificates",
                    );
                }
                state_path = Some((path(a, dir)?, a.pos));
            }
            ("accept_terms_of_service", _) => {
                if accept.is_some() {
                    return duplicate(c);
                }
                accept = Some(true);
            }
            ("ssl_trusted_certificate", Some(a)) => {
                if trusted.is_some() {
                    return duplicate(c);
                }
                let file = path(a, dir)?;
                if let Err(message) = tls::load_roots(&file) {
                    return fail(a.pos, message);
                }
                trusted = Some(file);
            }
            ("ssl_verify", Some(a)) => {
                if verify.is_some() {
                    return duplicate(c);
                }
                verify = Some(match a.text.as_str() {
                    "on" => true,
                    "off" => false,
                    _ => {
                        return fail(
                            a.pos,
                            format!(
                                "invalid value \"{}\" in \"ssl_verify\" directive, it must be \
                                 \"on\" or \"off\"",
                                a.text
                            ),
                        );
                    }
                });
            }
            ("challenge", _) => {
                if challenges.is_some() {
                    return duplicate(c);
                }
                let mut list = Vec::new();
                for a in &c.args {
                    let Some(kind) = ChallengeKind::from_name(&a.text) else {
                        return fail(
                            a.pos,
                            format!(
                                "unsupported challenge \"{}\", it must be \"http-01\" or \
                                 \"tls-alpn-01\"",
                                a.text
                            ),
                        );
                    };
                    if !list.contains(&kind) {
                        list.push(kind);
                    }
                }
                challenges = Some(list);
            }
            ("account_key", Some(a)) => {
                if account_key.is_some() {
                    return duplicate(c);
                }
                account_key = Some(match a.text.as_str() {
                    "ecdsa" | "ecdsa:256" => AccountKeySpec::Generate(Curve::P256),
                    "ecdsa:384" => AccountKeySpec::Generate(Curve::P384),
                    t if t.starts_with("ecdsa:") || t.starts_with("rsa") => {
                        return fail(
                            a.pos,
                            format!(
                                "unsupported account key \"{t}\", it must be \"ecdsa:256\", \
                                 \"ecdsa:384\" or a file"
                            ),
                        );
                    }
                    _ => {
                        let file = path(a, dir)?;
                        let read = std::fs::read(&file).map_err(|e| e.to_string());
                        if let Err(why) = read.and_then(|pem| jose::AccountKey::from_pem(&pem)) {
                            return fail(
                                a.pos,
                                format!("cannot load account key \"{}\": {why}", file.display()),
                            );
                        }
                        AccountKeySpec::File(file)
                    }
                });
            }
            _ => {
                return fail(
                    c.name.pos,
                    format!(
                        "invalid number of arguments in \"{}\" directive",
                        c.name.text
                    ),
                );
            }
        }
    }
    let Some(uri) = uri else {
        return fail(
            d.name.pos,
            format!("no \"uri\" is defined in acme_issuer \"{}\"", name.text),
        );
    };
    let Some((state_path, state_pos)) = state_path else {
        return fail(
            d.name.pos,
            format!(
                "no \"state_path\" is defined in acme_issuer \"{}\"",
                name.text
            ),
        );
    };
    if let Err(message) = store::prepare_dir(&state_path) {
        return fail(state_pos, message);
    }
    Ok((
        AcmeIssuer {
            name: name.text.clone(),
            uri,
            contacts,
            state_path,
            accept_terms_of_service: accept.unwrap_or(false),
            trusted_certificate: trusted,
            verify: verify.unwrap_or(true),
            challenges: challenges.unwrap_or(vec![ChallengeKind::Http01, ChallengeKind::TlsAlpn01]),
            account_key: account_key.unwrap_or(AccountKeySpec::Generate(Curve::P256)),
        },
        state_pos,
    ))
}

fn path(w: &Word, dir: &Path) -> Result<PathBuf> {
    if w.text.is_empty() {
        return fail(w.pos, "invalid path \"\"");
    }
    Ok(super::directive::clean(&dir.join(&w.text)))
}

/// `acme_shared_zone zone=NAME:SIZE`: checked, then ignored (the workers are threads of one
/// process and share the certificates without a zone).
pub(super) fn shared_zone(d: &Directive) -> Result<()> {
    let a = &d.args[0];
    let valid = a
        .text
        .strip_prefix("zone=")
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(name, size)| !name.is_empty() && !size.is_empty());
    if !valid {
        return fail(
            a.pos,
            format!("invalid zone \"{}\", it must be \"zone=NAME:SIZE\"", a.text),
        );
    }
    Ok(())
}

/// A server's `acme_certificate ISSUER [IDENTIFIER ...] [key=ALG[:SIZE]]`, resolved against
/// the issuers and the server's names. `ssl_at`: the server's first `listen ... ssl`.
pub(super) fn certificate(
    d: &Directive,
    issuers: &[AcmeIssuer],
    server_names: &[String],
    ssl_at: Option<Pos>,
) -> Result<AcmeCertificate> {
    let issuer_word = &d.args[0];
    let Some(issuer) = issuers.iter().position(|i| i.name == issuer_word.text) else {
        return fail(
            issuer_word.pos,
            format!("unknown acme_issuer \"{}\"", issuer_word.text),
        );
    };
    if ssl_at.is_none() {
        return fail(
            d.name.pos,
            "\"acme_certificate\" needs a \"listen ... ssl\" in its server",
        );
    }
    let mut key = None;
    let mut identifiers = Vec::new();
    for a in &d.args[1..] {
        if let Some(alg) = a.text.strip_prefix("key=") {
            if key.is_some() {
                return fail(a.pos, "duplicate \"key\" parameter");
            }
            key = Some(CertKey::from_name(alg).ok_or_else(|| {
                Error::new(
                    a.pos,
                    format!(
                        "unsupported key \"{alg}\", it must be ecdsa:256, ecdsa:384, ecdsa:521, \
                         rsa:2048, rsa:3072 or rsa:4096"
                    ),
                )
            })?);
            continue;
        }
        identifiers.push((a.text.to_ascii_lowercase(), a.pos));
    }
    let explicit = !identifiers.is_empty();
    if !explicit {
        identifiers = server_names
            .iter()
            .map(|n| (n.clone(), d.name.pos))
            .collect();
    }
    if identifiers.is_empty() {
        return fail(
            d.name.pos,
            "\"acme_certificate\" has no names: list them, or give the server a \"server_name\"",
        );
    }
    let mut unique: Vec<String> = Vec::new();
    for (name, pos) in identifiers {
        if let Err(why) = dns_identifier(&name) {
            let hint = if explicit {
                String::new()
            } else {
                " (taken from \"server_name\"; list the names in \"acme_certificate\")".to_string()
            };
            return fail(
                pos,
                format!("\"{name}\" cannot be in a certificate: {why}{hint}"),
            );
        }
        if !unique.contains(&name) {
            unique.push(name);
        }
    }
    Ok(AcmeCertificate {
        issuer,
        identifiers: unique,
        key: key.unwrap_or(CertKey::Ecdsa256),
    })
}

/// Whether `name` is a DNS name a CA can validate with HTTP-01 or TLS-ALPN-01.
fn dns_identifier(name: &str) -> std::result::Result<(), &'static str> {
    if name.starts_with("*.") || name.starts_with('.') || name.contains('*') {
        return Err("wildcard names need the DNS-01 challenge, which webserv does not answer");
    }
    if name.starts_with('~') {
        return Err("a regular expression is not a name");
    }
    if name.parse::<std::net::IpAddr>().is_ok() {
        return Err("IP address identifiers are not supported");
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return Err("not a DNS name");
    }
    for label in name.split('.') {
        let valid = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !valid {
            return Err("not a DNS name");
        }
    }
    Ok(())
}

/// Reads what is stored for every issuer (account key, certificates) and reports a corrupt
/// file at its issuer's `state_path`. Two certificates of one issuer that would share files
/// (same first name, different names) are reported at the second `acme_certificate`.
pub(super) fn check_states(
    issuers: &[AcmeIssuer],
    state_at: &[Pos],
    certificates: &[(AcmeCertificate, Pos)],
) -> Result<()> {
    for (index, issuer) in issuers.iter().enumerate() {
        let mine: Vec<&(AcmeCertificate, Pos)> = certificates
            .iter()
            .filter(|(c, _)| c.issuer == index)
            .collect();
        for (i, (cert, pos)) in mine.iter().enumerate() {
            let clash = mine[..i].iter().any(|(other, _)| {
                other.identifiers[0] == cert.identifiers[0]
                    && (other.identifiers != cert.identifiers || other.key != cert.key)
            });
            if clash {
                return fail(
                    *pos,
                    format!(
                        "another \"acme_certificate\" of issuer \"{}\" starts with \"{}\" but \
                         differs: its files would be shared",
                        issuer.name, cert.identifiers[0]
                    ),
                );
            }
        }
        let stems: Vec<&str> = mine
            .iter()
            .map(|(c, _)| c.identifiers[0].as_str())
            .collect();
        if let Err(message) = check_state(issuer, &stems) {
            return fail(state_at[index], message);
        }
    }
    Ok(())
}

/// Reads every file the issuer has stored (its account key unless it comes from a file of its
/// own, and the certificates named by `stems`) and says which one is corrupt, if any.
fn check_state(issuer: &AcmeIssuer, stems: &[&str]) -> std::result::Result<(), String> {
    if matches!(issuer.account_key, AccountKeySpec::Generate(_)) {
        store::load_account_key(&issuer.state_path)?;
    }
    for stem in stems {
        store::load_certificate(&issuer.state_path, stem)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ChallengeKind, VerifyClient, parse};

    /// A fresh directory for a configuration file, with a server certificate in it.
    fn dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("webserv-acme-config-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["ca.test".to_string()]).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.join("ca.pem"), cert.pem()).unwrap();
        dir
    }

    const ISSUER: &str = "acme_issuer le {\n uri https://ca.test/dir;\n state_path state;\n}\n";

    fn check(dir: &Path, text: &str) -> std::result::Result<crate::config::Config, String> {
        parse(text, &dir.join("w.conf")).map_err(|e| e.to_string())
    }

    #[test]
    fn an_issuer_and_a_certificate_parse_with_their_defaults() {
        let d = dir("ok");
        let text = format!(
            "{ISSUER}acme_shared_zone zone=ngx_acme_shared:1M;\n\
             server {{ listen 80; listen 443 ssl; server_name Example.com www.example.com;\n\
             acme_certificate le; }}\n\
             server {{ listen 443 ssl; server_name b.test; acme_certificate le b.test c.test \
             key=rsa:2048;\n ssl_certificate $acme_certificate;\n\
             ssl_certificate_key $acme_certificate_key; }}\n"
        );
        let config = check(&d, &text).unwrap();
        let issuer = &config.acme_issuers[0];
        assert_eq!(issuer.uri, "https://ca.test/dir");
        assert_eq!(issuer.state_path, d.join("state"));
        assert!(issuer.verify && !issuer.accept_terms_of_service);
        assert_eq!(
            issuer.challenges,
            [ChallengeKind::Http01, ChallengeKind::TlsAlpn01]
        );
        assert_eq!(issuer.account_key, AccountKeySpec::Generate(Curve::P256));
        let first = config.servers[0].acme.as_ref().unwrap();
        assert_eq!(first.identifiers, ["example.com", "www.example.com"]);
        assert_eq!(first.key, CertKey::Ecdsa256);
        assert!(config.servers[0].tls.is_none());
        let second = config.servers[1].acme.as_ref().unwrap();
        assert_eq!(second.identifiers, ["b.test", "c.test"]);
        assert_eq!(second.key, CertKey::Rsa2048);
        assert!(d.join("state").is_dir());
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn every_issuer_directive_is_read() {
        let d = dir("full");
        std::fs::write(
            d.join("account.pem"),
            jose::pem(
                "PRIVATE KEY",
                &jose::AccountKey::generate(Curve::P384).unwrap().1,
            ),
        )
        .unwrap();
        let text = "acme_issuer x {\n uri https://ca.test/dir;\n contact a@b.test;\n\
                    contact mailto:c@d.test;\n state_path s;\n accept_terms_of_service;\n\
                    ssl_trusted_certificate ca.pem;\n ssl_verify off;\n challenge tls-alpn;\n\
                    account_key account.pem;\n}\nserver { listen 80; }\n";
        let config = check(&d, text).unwrap();
        let issuer = &config.acme_issuers[0];
        assert_eq!(issuer.contacts, ["mailto:a@b.test", "mailto:c@d.test"]);
        assert!(issuer.accept_terms_of_service && !issuer.verify);
        assert_eq!(issuer.challenges, [ChallengeKind::TlsAlpn01]);
        assert_eq!(issuer.trusted_certificate, Some(d.join("ca.pem")));
        assert_eq!(
            issuer.account_key,
            AccountKeySpec::File(d.join("account.pem"))
        );
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn acme_mistakes_are_errors_at_the_word_at_fault() {
        let d = dir("errors");
        let server = "server { listen 443 ssl; server_name a.test; acme_certificate le; }\n";
        let cases: Vec<(String, &str)> = vec![
            (
                "server { listen 443 ssl; server_name a.test; acme_certificate nope; }".into(),
                "w.conf:1:63: unknown acme_issuer \"nope\"",
            ),
            (
                format!("{ISSUER}server {{ listen 443 ssl; acme_certificate le; }}"),
                "w.conf:5:26: \"acme_certificate\" has no names",
            ),
            (
                format!("{ISSUER}server {{ listen 80; server_name a.test; acme_certificate le; }}"),
                "w.conf:5:41: \"acme_certificate\" needs a \"listen ... ssl\"",
            ),
            (
                format!(
                    "{ISSUER}server {{ listen 443 ssl; server_name *.a.test; acme_certificate le; }}"
                ),
                "w.conf:5:48: \"*.a.test\" cannot be in a certificate: wildcard",
            ),
            (
                format!("{ISSUER}server {{ listen 443 ssl; acme_certificate le a.test key=dsa; }}"),
                "w.conf:5:53: unsupported key \"dsa\"",
            ),
            (
                format!("acme_issuer le {{ state_path s; }}\n{server}"),
                "w.conf:1:1: no \"uri\" is defined in acme_issuer \"le\"",
            ),
            (
                format!("acme_issuer le {{ uri https://x/d; }}\n{server}"),
                "w.conf:1:1: no \"state_path\" is defined in acme_issuer \"le\"",
            ),
            (
                format!("acme_issuer le {{ uri ftp://x; state_path s; }}\n{server}"),
                "w.conf:1:22: invalid uri \"ftp://x\"",
            ),
            (
                format!(
                    "acme_issuer le {{ uri https://x/d; state_path s; challenge dns-01; }}\n{server}"
                ),
                "w.conf:1:59: unsupported challenge \"dns-01\"",
            ),
            (
                format!(
                    "acme_issuer le {{ uri https://x/d; state_path s; account_key rsa:2048; }}\n{server}"
                ),
                "w.conf:1:61: unsupported account key \"rsa:2048\"",
            ),
            (
                format!(
                    "acme_issuer le {{ uri https://x/d; state_path s; account_key nokey.pem; }}\n{server}"
                ),
                "w.conf:1:61: cannot load account key",
            ),
            (
                format!("acme_issuer le {{ uri https://x/d; state_path s; listen 80; }}\n{server}"),
                "w.conf:1:49: \"listen\" directive is not allowed here",
            ),
            (
                format!("{ISSUER}{ISSUER}{server}"),
                "w.conf:5:13: duplicate acme_issuer \"le\"",
            ),
            (
                format!("{ISSUER}server {{ uri https://x; listen 80; }}"),
                "w.conf:5:10: \"uri\" directive is not allowed here",
            ),
            (
                format!(
                    "{ISSUER}server {{ listen 443 ssl; server_name a.test; acme_certificate le;\n\
                     ssl_certificate ca.pem; ssl_certificate_key ca.pem; }}"
                ),
                "w.conf:6:17: \"ssl_certificate\" and \"acme_certificate\" cannot both",
            ),
            (
                "server { listen 443 ssl; ssl_certificate $acme_certificate; \
                 ssl_certificate_key $acme_certificate_key; }"
                    .into(),
                "w.conf:1:42: \"$acme_certificate\" needs \"acme_certificate\"",
            ),
            (
                format!(
                    "{ISSUER}server {{ listen 443 ssl; server_name a.test; acme_certificate le;\n\
                     acme_certificate le; }}"
                ),
                "w.conf:6:1: \"acme_certificate\" directive is duplicate",
            ),
            (
                format!(
                    "{ISSUER}server {{ listen 443 ssl; acme_certificate le a.test b.test; }}\n\
                     server {{ listen 443 ssl; acme_certificate le a.test; }}"
                ),
                "w.conf:6:26: another \"acme_certificate\" of issuer \"le\" starts with \"a.test\"",
            ),
            (
                format!("acme_shared_zone 1M;\n{ISSUER}{server}"),
                "w.conf:1:18: invalid zone \"1M\"",
            ),
        ];
        let mut wrong = Vec::new();
        for (text, expected) in cases {
            let got = check(&d, &text).map(|_| ()).unwrap_err();
            let got = got
                .strip_prefix(&format!("{}/", d.display()))
                .unwrap_or(&got);
            if !got.starts_with(expected) {
                wrong.push(format!("{text}\n got: {got}\nwant: {expected}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn client_certificate_directives_are_read_and_checked() {
        let d = dir("mtls");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(d.join("c.pem"), cert.pem()).unwrap();
        std::fs::write(d.join("k.pem"), key.serialize_pem()).unwrap();
        let tls = "listen 443 ssl; ssl_certificate c.pem; ssl_certificate_key k.pem;";
        let config = check(
            &d,
            &format!(
                "server {{ {tls} ssl_client_certificate ca.pem; ssl_verify_client optional;\n\
                 ssl_verify_depth 3; }}\nserver {{ {tls} ssl_verify_client optional_no_ca; }}\n\
                 server {{ {tls} ssl_verify_client off; }}"
            ),
        )
        .unwrap();
        let auth = config.servers[0].client_auth.as_ref().unwrap();
        assert_eq!(
            (auth.mode, auth.depth, auth.anchors.len()),
            (VerifyClient::Optional, 3, 1)
        );
        let no_ca = config.servers[1].client_auth.as_ref().unwrap();
        assert_eq!(
            (no_ca.mode, no_ca.depth, no_ca.anchors.len()),
            (VerifyClient::OptionalNoCa, 1, 0)
        );
        assert!(config.servers[2].client_auth.is_none());
        for (body, expected) in [
            (
                "ssl_verify_client on;",
                "w.conf:1:76: no ssl_client_certificate for ssl_verify_client",
            ),
            (
                "ssl_verify_client yes;",
                "w.conf:1:94: invalid value \"yes\" in \"ssl_verify_client\"",
            ),
            (
                "ssl_verify_depth -1;",
                "w.conf:1:93: invalid value \"-1\" in \"ssl_verify_depth\"",
            ),
            (
                "ssl_client_certificate k.pem; ssl_verify_client on;",
                "w.conf:1:99: cannot load client certificates",
            ),
        ] {
            let got = check(&d, &format!("server {{ {tls} {body} }}"))
                .map(|_| ())
                .unwrap_err();
            let got = got
                .strip_prefix(&format!("{}/", d.display()))
                .unwrap_or(&got);
            assert!(
                got.starts_with(expected),
                "{body}\n got: {got}\nwant: {expected}"
            );
        }
        let got = check(
            &d,
            "server { listen 80; ssl_client_certificate ca.pem; ssl_verify_client on; }",
        )
        .map(|_| ())
        .unwrap_err();
        assert!(
            got.contains("\"ssl_verify_client\" needs a \"listen ... ssl\""),
            "{got}"
        );
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn dns_identifiers_are_checked_label_by_label() {
        for good in [
            "example.com",
            "a-b.example.com",
            "localhost",
            "x.y.",
            "xn--caf-dma.fr",
        ] {
            assert_eq!(dns_identifier(good), Ok(()), "{good}");
        }
        for bad in [
            "*.example.com",
            ".example.com",
            "~^www",
            "127.0.0.1",
            "::1",
            "",
            "a..b",
            "-a.b",
            "a-.b",
            "a_b.c",
            "caf\u{e9}.fr",
        ] {
            assert!(dns_identifier(bad).is_err(), "{bad}");
        }
        assert!(dns_identifier(&"a".repeat(64)).is_err());
        assert!(dns_identifier(&["a"; 128].join(".")).is_err());
    }
}
