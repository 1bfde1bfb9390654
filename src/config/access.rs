//! The access-phase directives (nginx's ngx_http_access_module and ngx_http_auth_basic_module):
//! `allow` / `deny`, `auth_basic`, `auth_basic_user_file` and `satisfy`; their typed settings
//! and their parsing. The checks themselves are `crate::access`.

use super::directive::ConfigWarning;
use super::directive::{Directive, Word, duplicate, fail};
use super::htpasswd::{self, User};
use super::lexer::{Error, Pos};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

type Result<T> = std::result::Result<T, Error>;

/// What a `server` or `location` sets for the access phase.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// `allow` / `deny` lines of the nearest block that has any, in order: the first whose
    /// network holds the client decides.
    pub rules: Vec<Rule>,
    /// `auth_basic REALM`; None: `off` (or never set).
    pub realm: Option<String>,
    /// `auth_basic_user_file`, loaded. Authentication applies when both this and `realm` are
    /// set (as in nginx).
    pub users: Option<Arc<UserFile>>,
    pub satisfy: Satisfy,
}

impl Access {
    /// Whether a request here goes through the access phase at all.
    pub fn is_active(&self) -> bool {
        !self.rules.is_empty() || self.basic_auth().is_some()
    }

    /// The realm and users when HTTP Basic authentication applies.
    pub fn basic_auth(&self) -> Option<(&str, &UserFile)> {
        Some((self.realm.as_deref()?, self.users.as_deref()?))
    }
}

/// `satisfy all | any`: whether both the address rules and authentication must pass, or one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Satisfy {
    #[default]
    All,
    Any,
}

/// One `allow` or `deny` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    pub net: Net,
}

/// The addresses a rule names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Net {
    All,
    V4 { addr: u32, mask: u32 },
    V6 { addr: u128, mask: u128 },
}

impl Net {
    /// Whether `ip` is in this network. As in nginx, an IPv4-mapped IPv6 client
    /// (`::ffff:a.b.c.d`) is matched by the IPv4 rules (as a.b.c.d) and by no IPv6 rule.
    pub fn contains(self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self, ip) {
            (Net::All, _) => true,
            (Net::V4 { addr, mask }, IpAddr::V4(ip)) => u32::from(ip) & mask == addr,
            (Net::V6 { addr, mask }, IpAddr::V6(ip)) => u128::from(ip) & mask == addr,
            _ => false,
        }
    }
}

/// A loaded `auth_basic_user_file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFile {
    pub path: PathBuf,
    pub users: Vec<User>,
    /// Unique to this load of the file: a worker's cache of verified passwords is keyed by it,
    /// so that a reload (the file may have changed) starts from an empty cache.
    pub generation: u64,
}

impl UserFile {
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }
}

/// What one block sets itself; None means inherited.
#[derive(Default)]
pub(super) struct Overrides {
    rules: Option<Vec<Rule>>,
    realm: Option<Option<String>>,
    users: Option<Arc<UserFile>>,
    satisfy: Option<Satisfy>,
}

impl Overrides {
    pub(super) fn apply_to(self, access: &mut Access) {
        if let Some(rules) = self.rules {
            access.rules = rules;
        }
        if let Some(realm) = self.realm {
            access.realm = realm;
        }
        if let Some(users) = self.users {
            access.users = Some(users);
        }
        if let Some(satisfy) = self.satisfy {
            access.satisfy = satisfy;
        }
    }
}

/// The directives of this module.
pub(super) const NAMES: [&str; 5] = [
    "allow",
    "deny",
    "auth_basic",
    "auth_basic_user_file",
    "satisfy",
];

/// One directive of this module, already checked for its block and argument count.
pub(super) fn setting(
    o: &mut Overrides,
    d: &Directive,
    dir: &Path,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<()> {
    let arg = &d.args[0];
    match d.name.text.as_str() {
        "allow" | "deny" => {
            let net = parse_net(arg)?;
            o.rules.get_or_insert_with(Vec::new).push(Rule {
                allow: d.name.text == "allow",
                net,
            });
        }
        "auth_basic" => {
            if o.realm.is_some() {
                return duplicate(d);
            }
            if arg.text.chars().any(char::is_control) {
                return fail(arg.pos, "invalid realm, control characters are not allowed");
            }
            o.realm = Some((arg.text != "off").then(|| arg.text.clone()));
        }
        "auth_basic_user_file" => {
            if o.users.is_some() {
                return duplicate(d);
            }
            o.users = Some(Arc::new(load_users(arg, dir, warnings)?));
        }
        "satisfy" => {
            if o.satisfy.is_some() {
                return duplicate(d);
            }
            o.satisfy = Some(match arg.text.as_str() {
                "all" => Satisfy::All,
                "any" => Satisfy::Any,
                _ => {
                    return fail(
                        arg.pos,
                        format!(
                            "invalid value \"{}\" in \"satisfy\" directive, it must be \"all\" \
                             or \"any\"",
                            arg.text
                        ),
                    );
                }
            });
        }
        _ => return fail(d.name.pos, format!("unknown directive \"{}\"", d.name.text)),
    }
    Ok(())
}

/// `all`, an address, or `ADDRESS/BITS`; low bits set beyond the prefix are cleared, as nginx
/// does (it warns; here it is silent, the meaning is the same).
fn parse_net(w: &Word) -> Result<Net> {
    let text = w.text.as_str();
    if text == "all" {
        return Ok(Net::All);
    }
    let invalid = || fail(w.pos, format!("invalid parameter \"{text}\""));
    let (addr, bits) = match text.split_once('/') {
        Some((addr, bits)) => match bits.parse::<u32>() {
            Ok(n) if !bits.starts_with('+') => (addr, Some(n)),
            _ => return invalid(),
        },
        None => (text, None),
    };
    let Ok(ip) = addr.parse::<IpAddr>() else {
        return invalid();
    };
    match ip {
        IpAddr::V4(ip) => {
            let bits = bits.unwrap_or(32);
            if bits > 32 {
                return invalid();
            }
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            Ok(Net::V4 {
                addr: u32::from(ip) & mask,
                mask,
            })
        }
        IpAddr::V6(ip) => {
            let bits = bits.unwrap_or(128);
            if bits > 128 {
                return invalid();
            }
            // nginx keeps an IPv4-mapped rule as IPv6; a mapped client is matched against the
            // IPv4 rules, so such a rule would never match: take it as the IPv4 rule it means.
            if let Some(v4) = ip.to_ipv4_mapped()
                && bits >= 96
            {
                let mask = u32::MAX.checked_shl(128 - bits).unwrap_or(0);
                return Ok(Net::V4 {
                    addr: u32::from(v4) & mask,
                    mask,
                });
            }
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            Ok(Net::V6 {
                addr: u128::from(ip) & mask,
                mask,
            })
        }
    }
}

/// Reads and parses a user file: an unreadable file is an error at the directive's argument, a
/// malformed line an error at its place in the user file; refused lines become warnings there.
fn load_users(w: &Word, dir: &Path, warnings: &mut Vec<ConfigWarning>) -> Result<UserFile> {
    if w.text.is_empty() {
        return fail(w.pos, "invalid path \"\"");
    }
    let path = super::directive::clean(&dir.join(&w.text));
    let text = std::fs::read_to_string(&path).or_else(|e| {
        fail(
            w.pos,
            format!("cannot read the user file \"{}\": {e}", path.display()),
        )
    })?;
    let (users, refused) = htpasswd::parse(&text).map_err(|d| {
        Error::in_file(
            path.clone(),
            Pos {
                line: d.line,
                col: d.col,
            },
            d.message,
        )
    })?;
    warnings.extend(refused.into_iter().map(|d| ConfigWarning {
        path: path.clone(),
        line: d.line,
        col: d.col,
        message: d.message,
    }));
    if users.is_empty() {
        warnings.push(ConfigWarning {
            path: PathBuf::new(),
            line: w.pos.line,
            col: w.pos.col,
            message: format!(
                "no usable user in \"{}\": nobody can log in",
                path.display()
            ),
        });
    }
    static LOADS: AtomicU64 = AtomicU64::new(0);
    Ok(UserFile {
        path,
        users,
        generation: LOADS.fetch_add(1, Ordering::Relaxed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> std::result::Result<Net, String> {
        parse_net(&Word {
            text: text.to_string(),
            pos: Pos { line: 1, col: 1 },
        })
        .map_err(|e| e.message)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_hold_the_addresses_of_their_prefix() {
        let cases = [
            ("all", "10.0.0.1", true),
            ("all", "::1", true),
            ("192.168.1.0/24", "192.168.1.77", true),
            ("192.168.1.0/24", "192.168.2.1", false),
            ("10.1.1.0/16", "10.1.200.3", true),
            ("127.0.0.1", "127.0.0.1", true),
            ("127.0.0.1", "127.0.0.2", false),
            ("0.0.0.0/0", "8.8.8.8", true),
            ("0.0.0.0/0", "::1", false),
            ("2001:db8::/32", "2001:db8:1::5", true),
            ("2001:db8::/32", "2001:db9::5", false),
            ("::1", "::1", true),
            ("::/0", "10.0.0.1", false),
            // An IPv4-mapped client is matched by IPv4 rules only, as in nginx.
            ("127.0.0.0/8", "::ffff:127.0.0.2", true),
            ("::/0", "::ffff:127.0.0.2", false),
            ("::ffff:127.0.0.1", "127.0.0.1", true),
            ("::ffff:127.0.0.1", "::ffff:127.0.0.1", true),
        ];
        for (rule, client, expected) in cases {
            assert_eq!(
                net(rule).unwrap().contains(ip(client)),
                expected,
                "{rule} vs {client}"
            );
        }
    }

    #[test]
    fn invalid_networks_are_refused() {
        for text in [
            "",
            "x",
            "1.2.3.4/33",
            "::/129",
            "1.2.3/8",
            "1.2.3.4/",
            "1.2.3.4/+8",
            "1.2.3.4/-1",
            "unix:",
            "*",
        ] {
            assert_eq!(
                net(text).unwrap_err(),
                format!("invalid parameter \"{text}\""),
                "{text}"
            );
        }
    }
}
