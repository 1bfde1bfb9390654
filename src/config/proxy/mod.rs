//! The reverse-proxy directives, in nginx's names, arguments, contexts and meaning:
//! `upstream NAME { server ...; least_conn; keepalive N; }` and `map` at the top level (which
//! plays nginx's `http` role), `proxy_pass` in locations, and the `proxy_*` settings in servers
//! and locations. Their rows in the directive table are `table::PROXY_SPECS`; the parser
//! delegates to this module, which owns what they mean.
//!
//! Parsing runs in three steps around the parser's own walk: [`Globals::parse`] reads every
//! `upstream` and `map` block first (a `proxy_pass` may name an upstream defined further down,
//! as in nginx), [`setting`] reads one `proxy_*` directive of a server or location into its
//! [`ProxyOverrides`], and [`finish`] completes what depends on the location a `proxy_pass` is
//! in (the prefix its URI part replaces, `proxy_redirect default`) and moves the upstream groups
//! into the `Config`. [`lint`] adds the `-t` warning for an upstream that is one of our own
//! listeners.

pub(in crate::config) mod address;
pub mod model;
pub mod value;

use std::cell::RefCell;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::directive::ConfigWarning;
use super::directive::{self, Directive, MAIN, MANY, Result, Word, duplicate, fail};
use super::lexer::Pos;
use super::model::Settings;
use super::model::{Config, Location, LocationKind};
use super::table::{self, PROXY_SPECS};
use address::Host;
use model::{
    Balance, HeaderOrigin, Keepalive, NextUpstream, PeerAddr, ProxyHttpVersion, ProxyPass,
    ProxySettings, RedirectRule, SetHeader, Upstream, UpstreamServer,
};
use value::{Map, Names, Value};

/// Whether the proxy is wired into the server of this build. Until it is, a configuration
/// that uses `proxy_pass` or `upstream` is refused rather than silently not proxying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wiring {
    /// The server cannot proxy yet: `proxy_pass` and `upstream` are configuration errors.
    Refuse,
    /// Parse them (the unit tests of this module, and the server once it proxies).
    #[cfg_attr(not(test), allow(dead_code))]
    Accept,
}

/// This build's wiring.
pub(super) const WIRING: Wiring = Wiring::Accept;

/// `proxy_pass` and `upstream` are errors when the server cannot proxy: the first one in the
/// file is reported.
pub(super) fn refuse_unwired(tree: &[Directive]) -> Result<()> {
    for d in tree {
        let name = d.name.text.as_str();
        if name == "upstream" || name == "proxy_pass" {
            return fail(
                d.name.pos,
                format!(
                    "\"{name}\" is not supported by this build yet: the reverse proxy is not \
                     wired into its server"
                ),
            );
        }
        refuse_unwired(d.block.as_deref().unwrap_or_default())?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Top level: upstream and map blocks.

/// The `upstream` groups and `map` blocks of the file, read before the servers.
pub(super) struct Globals {
    /// The `upstream` blocks in file order, then the groups `proxy_pass` with an address makes
    /// (one per distinct address, shared by every location that names it).
    upstreams: RefCell<Vec<Arc<Upstream>>>,
    /// The lower-cased names of the blocks (the first `upstreams`), for lookups.
    named: Vec<String>,
    maps: Vec<Map>,
    /// The variables the maps define, in `maps` order.
    map_names: Vec<String>,
    /// The group names of the file's regular expressions (`$name` captures).
    captures: Vec<String>,
    dir: std::path::PathBuf,
}

impl Globals {
    /// Reads the top-level `upstream` and `map` blocks of `tree`; `captures`: the group names of
    /// the file's regular expressions.
    pub(super) fn parse(tree: &[Directive], dir: &Path, captures: &[String]) -> Result<Globals> {
        let mut map_names: Vec<String> = Vec::new();
        for d in tree.iter().filter(|d| d.name.text == "map") {
            table::check(d, MAIN)?;
            let var = &d.args[1];
            let Some(name) = var.text.strip_prefix('$').filter(|n| {
                !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            }) else {
                return fail(var.pos, format!("invalid variable name \"{}\"", var.text));
            };
            if value::ProxyVariable::is_builtin(name) || map_names.iter().any(|n| n == name) {
                return fail(var.pos, format!("the duplicate \"{name}\" variable"));
            }
            map_names.push(name.to_string());
        }
        let mut maps = Vec::new();
        for d in tree.iter().filter(|d| d.name.text == "map") {
            let names = Names {
                maps: &map_names,
                captures,
            };
            maps.push(parse_map(d, names)?);
        }
        if let Some(i) = value::map_cycle(&maps) {
            let d = tree
                .iter()
                .filter(|d| d.name.text == "map")
                .nth(i)
                .map_or(Pos { line: 1, col: 1 }, |d| d.args[1].pos);
            return fail(
                d,
                format!(
                    "cycle while evaluating variable \"{}\": a map depends on itself",
                    maps[i].name
                ),
            );
        }

        let mut upstreams: Vec<Arc<Upstream>> = Vec::new();
        let mut named: Vec<String> = Vec::new();
        for d in tree.iter().filter(|d| d.name.text == "upstream") {
            table::check(d, MAIN)?;
            let name = &d.args[0];
            if name.text.is_empty()
                || !name
                    .text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
            {
                return fail(name.pos, format!("invalid upstream name \"{}\"", name.text));
            }
            let lower = name.text.to_ascii_lowercase();
            if named.contains(&lower) {
                return fail(name.pos, format!("duplicate upstream \"{}\"", name.text));
            }
            let upstream = parse_upstream(d, upstreams.len(), dir)?;
            named.push(lower);
            upstreams.push(Arc::new(upstream));
        }
        Ok(Globals {
            upstreams: RefCell::new(upstreams),
            named,
            maps,
            map_names,
            captures: captures.to_vec(),
            dir: dir.to_path_buf(),
        })
    }

    /// What a value in a server or location may name.
    fn names(&self) -> Names<'_> {
        Names {
            maps: &self.map_names,
            captures: &self.captures,
        }
    }

    /// The group for `proxy_pass` with `host`: the `upstream` block of that name, or the
    /// implicit group of that address (made on first use).
    fn group(&self, host: &Host, url: &Word) -> Result<Arc<Upstream>> {
        if let Host::Inet { host: name, port } = host {
            let lower = name.to_ascii_lowercase();
            if let Some(i) = self.named.iter().position(|n| *n == lower) {
                if let Some(port) = port {
                    return fail(
                        url.pos,
                        format!("upstream \"{name}\" may not have port {port}"),
                    );
                }
                return Ok(Arc::clone(&self.upstreams.borrow()[i]));
            }
        }
        let key = match host {
            Host::Unix(path) => format!("unix:{path}"),
            Host::Inet { host, port } if host.contains(':') => {
                format!("[{host}]:{}", port.unwrap_or(80))
            }
            Host::Inet { host, port } => format!("{host}:{}", port.unwrap_or(80)),
        };
        let mut upstreams = self.upstreams.borrow_mut();
        if let Some(existing) = upstreams[self.named.len()..]
            .iter()
            .find(|u| u.name.eq_ignore_ascii_case(&key))
        {
            return Ok(Arc::clone(existing));
        }
        let addrs = match address::resolve(host, &self.dir) {
            Ok(addrs) => addrs,
            Err(message) if !self.named.is_empty() && matches!(host, Host::Inet { .. }) => {
                return fail(
                    url.pos,
                    format!("{message} (and no \"upstream\" block has that name)"),
                );
            }
            Err(message) => return fail(url.pos, message),
        };
        // nginx's implicit group: weight 1, max_fails 1, fail_timeout 10s for every address.
        let servers = addrs
            .into_iter()
            .map(|addr| UpstreamServer {
                shown: addr.to_string(),
                addr,
                weight: 1,
                max_fails: 1,
                fail_timeout: Duration::from_secs(10),
                max_conns: 0,
                backup: false,
                down: false,
                at: url.pos,
            })
            .collect();
        let upstream = Arc::new(Upstream {
            id: upstreams.len(),
            name: key,
            implicit: true,
            servers,
            balance: Balance::RoundRobin,
            keepalive: None,
        });
        upstreams.push(Arc::clone(&upstream));
        Ok(upstream)
    }
}

impl Globals {
    /// The group for `fastcgi_pass` with `host`: the `upstream` block of that name, or an
    /// implicit group of that address, made on first use and apart from the proxy's (a
    /// FastCGI connection must never be lent to an HTTP request). A name without a port that
    /// no block has is an error (nginx: "no port in upstream"). The implicit group keeps up to
    /// [`FASTCGI_KEPT`] idle connections per worker (used with `fastcgi_keep_conn on`).
    pub(in crate::config) fn fastcgi_group(&self, host: &Host, at: &Word) -> Result<Arc<Upstream>> {
        if let Host::Inet { host: name, port } = host {
            let lower = name.to_ascii_lowercase();
            if let Some(i) = self.named.iter().position(|n| *n == lower) {
                if let Some(port) = port {
                    return fail(
                        at.pos,
                        format!("upstream \"{name}\" may not have port {port}"),
                    );
                }
                return Ok(Arc::clone(&self.upstreams.borrow()[i]));
            }
            if port.is_none() {
                return fail(at.pos, format!("no port in upstream \"{name}\""));
            }
        }
        let key = match host {
            Host::Unix(path) => format!("fastcgi unix:{path}"),
            Host::Inet { host, port } if host.contains(':') => {
                format!("fastcgi [{host}]:{}", port.unwrap_or(0))
            }
            Host::Inet { host, port } => format!("fastcgi {host}:{}", port.unwrap_or(0)),
        };
        let mut upstreams = self.upstreams.borrow_mut();
        if let Some(existing) = upstreams[self.named.len()..]
            .iter()
            .find(|u| u.name.eq_ignore_ascii_case(&key))
        {
            return Ok(Arc::clone(existing));
        }
        let addrs = address::resolve(host, &self.dir).or_else(|message| fail(at.pos, message))?;
        let servers = addrs
            .into_iter()
            .map(|addr| UpstreamServer {
                shown: addr.to_string(),
                addr,
                weight: 1,
                max_fails: 1,
                fail_timeout: Duration::from_secs(10),
                max_conns: 0,
                backup: false,
                down: false,
                at: at.pos,
            })
            .collect();
        let upstream = Arc::new(Upstream {
            id: upstreams.len(),
            name: key,
            implicit: true,
            servers,
            balance: Balance::RoundRobin,
            keepalive: Some(Keepalive {
                connections: FASTCGI_KEPT,
                timeout: Duration::from_secs(60),
                requests: 1000,
                time: Duration::from_secs(3600),
            }),
        });
        upstreams.push(Arc::clone(&upstream));
        Ok(upstream)
    }
}

/// Idle connections a worker keeps to the address of a `fastcgi_pass HOST:PORT | unix:PATH`
/// (an `upstream` block says its own with `keepalive N`).
pub const FASTCGI_KEPT: usize = 4;

/// The directives of an `upstream` block: (name, min args, max args).
const UPSTREAM_SPECS: [(&str, usize, usize); 6] = [
    ("server", 1, MANY),
    ("least_conn", 0, 0),
    ("keepalive", 1, 1),
    ("keepalive_timeout", 1, 1),
    ("keepalive_requests", 1, 1),
    ("keepalive_time", 1, 1),
];

/// nginx's other balancing and state directives, refused by name with what webserv offers.
const UPSTREAM_UNSUPPORTED: [&str; 6] = ["ip_hash", "hash", "random", "zone", "ntlm", "sticky"];

fn parse_upstream(d: &Directive, id: usize, dir: &Path) -> Result<Upstream> {
    let mut servers = Vec::new();
    let mut balance: Option<Balance> = None;
    let mut connections: Option<usize> = None;
    let mut timeout = None;
    let mut requests = None;
    let mut time = None;
    for c in d.block.as_deref().unwrap_or_default() {
        let name = c.name.text.as_str();
        let Some((_, min, max)) = UPSTREAM_SPECS.iter().find(|(n, _, _)| *n == name) else {
            if UPSTREAM_UNSUPPORTED.contains(&name) {
                return fail(
                    c.name.pos,
                    format!(
                        "\"{name}\" is not supported by webserv (upstreams balance by weighted \
                         round-robin or \"least_conn\", with state kept per worker)"
                    ),
                );
            }
            return if PROXY_SPECS.iter().any(|s| s.name == name) || table::is_directive(name) {
                fail(
                    c.name.pos,
                    format!("\"{name}\" directive is not allowed here"),
                )
            } else {
                fail(c.name.pos, format!("unknown directive \"{name}\""))
            };
        };
        if c.block.is_some() {
            return fail(
                c.name.pos,
                format!("directive \"{name}\" is not terminated by \";\""),
            );
        }
        if c.args.len() < *min || c.args.len() > *max {
            return fail(
                c.name.pos,
                format!("invalid number of arguments in \"{name}\" directive"),
            );
        }
        match name {
            "server" => servers.extend(parse_server(c, dir)?),
            "least_conn" => {
                if balance.is_some() {
                    return duplicate(c);
                }
                balance = Some(Balance::LeastConn);
            }
            "keepalive" => {
                if connections.is_some() {
                    return duplicate(c);
                }
                let n = positive(&c.args[0], "keepalive")?;
                connections = Some(usize::try_from(n).unwrap_or(usize::MAX).min(1 << 16));
            }
            "keepalive_requests" => {
                if requests.is_some() {
                    return duplicate(c);
                }
                requests = Some(positive(&c.args[0], "keepalive_requests")?);
            }
            _ => {
                let slot = if name == "keepalive_timeout" {
                    &mut timeout
                } else {
                    &mut time
                };
                if slot.is_some() {
                    return duplicate(c);
                }
                *slot = Some(directive::parse_duration(&c.args[0])?);
            }
        }
    }
    if !servers.iter().any(|s: &UpstreamServer| !s.backup) {
        return fail(
            d.name.pos,
            format!("no servers are inside upstream \"{}\"", d.args[0].text),
        );
    }
    let keepalive_settings_at = d
        .block
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|c| c.name.text.starts_with("keepalive_"));
    let keepalive = match (connections, keepalive_settings_at) {
        (Some(connections), _) => Some(Keepalive {
            connections,
            timeout: timeout.unwrap_or(Duration::from_secs(60)),
            requests: requests.unwrap_or(1000),
            time: time.unwrap_or(Duration::from_secs(3600)),
        }),
        (None, Some(c)) => {
            return fail(
                c.name.pos,
                format!("\"{}\" needs \"keepalive N\" in the upstream", c.name.text),
            );
        }
        (None, None) => None,
    };
    Ok(Upstream {
        id,
        name: d.args[0].text.clone(),
        implicit: false,
        servers,
        balance: balance.unwrap_or(Balance::RoundRobin),
        keepalive,
    })
}

fn invalid_parameter<T>(p: &Word) -> Result<T> {
    fail(p.pos, format!("invalid parameter \"{}\"", p.text))
}

/// A number of at least 1.
fn positive(w: &Word, directive: &str) -> Result<u64> {
    match directive::parse_decimal(&w.text) {
        Some(n) if n >= 1 => Ok(n),
        _ => fail(
            w.pos,
            format!("invalid value \"{}\" in \"{directive}\" directive", w.text),
        ),
    }
}

/// `server ADDRESS [weight=N] [max_fails=N] [fail_timeout=TIME] [max_conns=N] [backup] [down];`:
/// one entry per address the name resolves to.
fn parse_server(d: &Directive, dir: &Path) -> Result<Vec<UpstreamServer>> {
    let addr = &d.args[0];
    let host = address::parse_server_addr(&addr.text).or_else(|m| fail(addr.pos, m))?;
    let mut weight = 1u32;
    let mut max_fails = 1u32;
    let mut fail_timeout = Duration::from_secs(10);
    let mut max_conns = 0u32;
    let mut backup = false;
    let mut down = false;
    for p in &d.args[1..] {
        let number = |v: &str, min: u64| match directive::parse_decimal(v) {
            Some(n) if n >= min && n <= u64::from(u32::MAX) => Ok(n as u32),
            _ => invalid_parameter(p),
        };
        if let Some(v) = p.text.strip_prefix("weight=") {
            weight = number(v, 1)?;
        } else if let Some(v) = p.text.strip_prefix("max_fails=") {
            max_fails = number(v, 0)?;
        } else if let Some(v) = p.text.strip_prefix("max_conns=") {
            max_conns = number(v, 0)?;
        } else if let Some(v) = p.text.strip_prefix("fail_timeout=") {
            let w = Word {
                text: v.to_string(),
                pos: p.pos,
            };
            fail_timeout = directive::parse_duration(&w).or_else(|_| invalid_parameter(p))?;
        } else if p.text == "backup" {
            backup = true;
        } else if p.text == "down" {
            down = true;
        } else {
            return invalid_parameter(p);
        }
    }
    if backup && down {
        return fail(
            d.name.pos,
            "a \"server\" cannot be both \"backup\" and \"down\"",
        );
    }
    let addrs = address::resolve(&host, dir).or_else(|m| fail(addr.pos, m))?;
    Ok(addrs
        .into_iter()
        .map(|addr| UpstreamServer {
            shown: addr.to_string(),
            addr,
            weight,
            max_fails,
            fail_timeout,
            max_conns,
            backup,
            down,
            at: d.name.pos,
        })
        .collect())
}

/// `map SOURCE $NAME { default VALUE; KEY VALUE; ... }` (strings only: `hostnames`, `include`
/// and regular expressions are refused by name; `volatile` is accepted, variables are never
/// cached here).
fn parse_map(d: &Directive, names: Names) -> Result<Map> {
    let value = |w: &Word| Value::parse(&w.text, names).or_else(|e| value_error(w, e));
    let source = value(&d.args[0])?;
    let name = d.args[1].text.trim_start_matches('$').to_string();
    let mut entries: Vec<(String, Value)> = Vec::new();
    let mut default: Option<Value> = None;
    for e in d.block.as_deref().unwrap_or_default() {
        let key = e.name.text.as_str();
        if e.block.is_some() {
            return fail(e.name.pos, "unexpected \"{\" in \"map\" block");
        }
        match (key, e.args.len()) {
            ("volatile", 0) => continue,
            ("hostnames" | "include", _) => {
                return fail(
                    e.name.pos,
                    format!("\"{key}\" in \"map\" is not supported by webserv"),
                );
            }
            (_, 1) => {}
            _ => {
                return fail(
                    e.name.pos,
                    "invalid number of the map parameters, each needs a key and a value",
                );
            }
        }
        let v = value(&e.args[0])?;
        if key == "default" {
            if default.is_some() {
                return fail(e.name.pos, "duplicate default map parameter");
            }
            default = Some(v);
            continue;
        }
        if key.starts_with('~') {
            return fail(
                e.name.pos,
                format!(
                    "regular expressions in \"map\" are not supported by webserv yet: \"{key}\""
                ),
            );
        }
        let key = key.strip_prefix('\\').unwrap_or(key).to_ascii_lowercase();
        if entries.iter().any(|(k, _)| *k == key) {
            return fail(
                e.name.pos,
                format!("conflicting parameter \"{}\"", e.name.text),
            );
        }
        entries.push((key, v));
    }
    Ok(Map {
        name,
        source,
        entries,
        default: default.unwrap_or_else(|| Value::literal("")),
    })
}

fn value_error<T>(w: &Word, e: value::ValueError) -> Result<T> {
    fail(w.pos, format!("{} in \"{}\"", e.message, w.text))
}

// ---------------------------------------------------------------------------------------------
// Server and location settings.

/// What one `server` or `location` block sets itself with `proxy_*`; None means inherited.
#[derive(Default)]
pub(super) struct ProxyOverrides {
    pass: Option<Arc<ProxyPass>>,
    connect_timeout: Option<Duration>,
    read_timeout: Option<Duration>,
    send_timeout: Option<Duration>,
    http_version: Option<ProxyHttpVersion>,
    set_headers: Option<Vec<SetHeader>>,
    hide_headers: Option<Vec<String>>,
    pass_headers: Option<Vec<String>>,
    pass_request_headers: Option<bool>,
    pass_request_body: Option<bool>,
    redirects: Option<Vec<RedirectRule>>,
    next_upstream: Option<NextUpstream>,
    next_upstream_tries: Option<u32>,
    next_upstream_timeout: Option<Duration>,
    intercept_errors: Option<bool>,
    buffering: Option<bool>,
    request_buffering: Option<bool>,
    buffer_size: Option<usize>,
}

impl ProxyOverrides {
    /// `base` (what the enclosing block has) with this block's own values on top.
    pub(super) fn apply_to(self, base: &ProxySettings) -> ProxySettings {
        let mut s = base.clone();
        macro_rules! take {
            ($($field:ident),*) => { $( if let Some(v) = self.$field { s.$field = v; } )* };
        }
        take!(
            connect_timeout,
            read_timeout,
            send_timeout,
            http_version,
            pass_request_headers,
            pass_request_body,
            next_upstream,
            next_upstream_tries,
            next_upstream_timeout,
            intercept_errors,
            buffering,
            request_buffering,
            buffer_size
        );
        // proxy_pass is not inherited: a location proxies only with its own.
        s.pass = self.pass;
        if let Some(headers) = self.set_headers {
            s.headers = ProxySettings::merge_headers(headers);
        }
        if let Some(hide) = self.hide_headers {
            s.hide_headers = hide.into();
        }
        if let Some(pass) = self.pass_headers {
            s.pass_headers = pass.into();
        }
        if let Some(redirects) = self.redirects {
            s.redirects = redirects.into();
        }
        s
    }
}

/// Whether `name` is one of the settings this module reads.
pub(super) fn is_setting(name: &str) -> bool {
    name.starts_with("proxy_") && PROXY_SPECS.iter().any(|s| s.name == name)
}

/// Fields the server frames or owns on the connection to the backend: `proxy_set_header` may
/// only clear them (an empty value), never give them a value that could desynchronise it.
const FRAMING_FIELDS: [&str; 2] = ["content-length", "transfer-encoding"];

/// One `proxy_*` directive of a server or location, already `check`ed for its block.
pub(super) fn setting(o: &mut ProxyOverrides, d: &Directive, globals: &Globals) -> Result<()> {
    let args = &d.args;
    let name = d.name.text.as_str();
    macro_rules! once {
        ($slot:expr, $value:expr) => {{
            if $slot.is_some() {
                return duplicate(d);
            }
            $slot = Some($value);
        }};
    }
    match name {
        "proxy_pass" => {
            if o.pass.is_some() {
                return duplicate(d);
            }
            let url = &args[0];
            let parsed = address::parse_pass_url(&url.text).or_else(|m| fail(url.pos, m))?;
            let upstream = globals.group(&parsed.host, url)?;
            let (host, port) = match &parsed.host {
                Host::Unix(_) => ("localhost".to_string(), String::new()),
                Host::Inet { .. } if !upstream.implicit => (upstream.name.clone(), "80".into()),
                Host::Inet { host, port } => {
                    let shown = if host.contains(':') {
                        format!("[{host}]")
                    } else {
                        host.clone()
                    };
                    match port {
                        Some(p) if *p != 80 => (format!("{shown}:{p}"), p.to_string()),
                        _ => (shown, "80".to_string()),
                    }
                }
            };
            o.pass = Some(Arc::new(ProxyPass {
                upstream,
                url: url.text.clone(),
                uri: parsed.uri,
                host,
                port,
                location: String::new(),
                at: d.name.pos,
            }));
        }
        "proxy_connect_timeout" => once!(o.connect_timeout, timeout(&args[0])?),
        "proxy_read_timeout" => once!(o.read_timeout, timeout(&args[0])?),
        "proxy_send_timeout" => once!(o.send_timeout, timeout(&args[0])?),
        "proxy_next_upstream_timeout" => {
            once!(
                o.next_upstream_timeout,
                directive::parse_duration(&args[0])?
            )
        }
        "proxy_http_version" => once!(
            o.http_version,
            match args[0].text.as_str() {
                "1.0" => ProxyHttpVersion::Http10,
                "1.1" => ProxyHttpVersion::Http11,
                other => {
                    return fail(
                        args[0].pos,
                        format!(
                            "invalid value \"{other}\" in \"proxy_http_version\" directive, it \
                             must be \"1.0\" or \"1.1\""
                        ),
                    );
                }
            }
        ),
        "proxy_set_header" => {
            let (field, text) = (&args[0], &args[1]);
            let lower = header_name(field)?;
            let value =
                Value::parse(&text.text, globals.names()).or_else(|e| value_error(text, e))?;
            if text.text.chars().any(|c| c.is_control() && c != '\t') {
                return fail(
                    text.pos,
                    "invalid header value, control characters (such as a line break) are not \
                     allowed",
                );
            }
            if FRAMING_FIELDS.contains(&lower.as_str()) && !value.is_empty() {
                return fail(
                    field.pos,
                    format!(
                        "\"{}\" can only be cleared with \"proxy_set_header\" (an empty value): \
                         the server frames the request body itself",
                        field.text
                    ),
                );
            }
            let list = o.set_headers.get_or_insert_with(Vec::new);
            if list
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case(&field.text))
            {
                return fail(
                    field.pos,
                    format!("duplicate \"proxy_set_header {}\"", field.text),
                );
            }
            list.push(SetHeader {
                name: field.text.clone(),
                value,
                origin: HeaderOrigin::Configured,
            });
        }
        "proxy_hide_header" | "proxy_pass_header" => {
            let lower = header_name(&args[0])?;
            let list = if name == "proxy_hide_header" {
                o.hide_headers.get_or_insert_with(Vec::new)
            } else {
                o.pass_headers.get_or_insert_with(Vec::new)
            };
            if !list.contains(&lower) {
                list.push(lower);
            }
        }
        "proxy_pass_request_headers" => {
            once!(
                o.pass_request_headers,
                directive::parse_on_off(&args[0], name)?
            )
        }
        "proxy_pass_request_body" => {
            once!(
                o.pass_request_body,
                directive::parse_on_off(&args[0], name)?
            )
        }
        "proxy_intercept_errors" => {
            once!(o.intercept_errors, directive::parse_on_off(&args[0], name)?)
        }
        "proxy_buffering" => once!(o.buffering, directive::parse_on_off(&args[0], name)?),
        "proxy_request_buffering" => {
            once!(
                o.request_buffering,
                directive::parse_on_off(&args[0], name)?
            )
        }
        "proxy_buffer_size" => {
            let size = directive::parse_size(&args[0])?;
            if !(1024..=1024 * 1024).contains(&size) {
                return fail(
                    args[0].pos,
                    format!(
                        "\"proxy_buffer_size\" must be between 1k and 1m, not \"{}\"",
                        args[0].text
                    ),
                );
            }
            once!(o.buffer_size, size as usize)
        }
        "proxy_next_upstream_tries" => {
            let w = &args[0];
            let n = match directive::parse_decimal(&w.text) {
                Some(n) if n <= 1024 => n as u32,
                _ => {
                    return fail(
                        w.pos,
                        format!(
                            "invalid value \"{}\" in \"proxy_next_upstream_tries\" directive",
                            w.text
                        ),
                    );
                }
            };
            once!(o.next_upstream_tries, n)
        }
        "proxy_next_upstream" => once!(o.next_upstream, next_upstream(args)?),
        "proxy_redirect" => redirect(o, d, globals)?,
        _ => {
            return fail(
                d.name.pos,
                format!("\"{name}\" directive is not allowed here"),
            );
        }
    }
    Ok(())
}

/// A proxy timeout: at least 1ms (0 would fire at once on every request).
fn timeout(w: &Word) -> Result<Duration> {
    let d = directive::parse_duration(w)?;
    if d.is_zero() {
        return fail(
            w.pos,
            format!("invalid duration \"{}\": must be above 0", w.text),
        );
    }
    Ok(d)
}

/// A field name (token characters), lower-cased.
fn header_name(w: &Word) -> Result<String> {
    if w.text.is_empty() || !w.text.bytes().all(crate::http::is_tchar) {
        return fail(w.pos, format!("invalid header name \"{}\"", w.text));
    }
    Ok(w.text.to_ascii_lowercase())
}

/// `proxy_next_upstream error | timeout | ... | off ...`.
fn next_upstream(args: &[Word]) -> Result<NextUpstream> {
    let mut set = NextUpstream::OFF;
    let mut off = None;
    for a in args {
        if a.text == "off" {
            off = Some(a);
            continue;
        }
        let Some((flag, _)) = NextUpstream::NAMES.iter().find(|(_, n)| *n == a.text) else {
            return fail(a.pos, format!("invalid value \"{}\"", a.text));
        };
        set = set.union(*flag);
    }
    match off {
        Some(a) if args.len() > 1 => fail(
            a.pos,
            "\"off\" cannot be combined with other values in \"proxy_next_upstream\"",
        ),
        Some(_) => Ok(NextUpstream::OFF),
        None => Ok(set),
    }
}

/// `proxy_redirect default | off | FROM TO` (repeatable; `off` clears, as in nginx).
fn redirect(o: &mut ProxyOverrides, d: &Directive, globals: &Globals) -> Result<()> {
    let args = &d.args;
    if let [one] = args.as_slice() {
        match one.text.as_str() {
            "off" => {
                o.redirects = Some(Vec::new());
                return Ok(());
            }
            "default" => {
                if o.pass.is_none() {
                    return fail(
                        d.name.pos,
                        "\"proxy_redirect default\" should be placed after the \"proxy_pass\" \
                         directive",
                    );
                }
                o.redirects
                    .get_or_insert_with(Vec::new)
                    .push(RedirectRule::Default);
                return Ok(());
            }
            other => return fail(one.pos, format!("invalid parameter \"{other}\"")),
        }
    }
    let (from, to) = (&args[0], &args[1]);
    if from.text.starts_with('~') {
        return fail(
            from.pos,
            format!(
                "regular expressions in \"proxy_redirect\" are not supported by webserv yet: \"{}\"",
                from.text
            ),
        );
    }
    let parse = |w: &Word| Value::parse(&w.text, globals.names()).or_else(|e| value_error(w, e));
    let rule = RedirectRule::Replace {
        from: parse(from)?,
        to: parse(to)?,
    };
    o.redirects.get_or_insert_with(Vec::new).push(rule);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// After the servers.

/// A location that proxies passes every method (nginx's `proxy_pass` does) unless
/// `allow_methods` is set in it or in its server: the contract's default (`GET HEAD`) is for
/// files.
pub(super) fn default_methods(settings: &mut Settings, methods_set: bool) {
    if settings.proxy.pass.is_some() && !methods_set {
        settings.allow_methods = super::model::Methods::ALL
            .iter()
            .fold(super::model::Methods::NONE, |all, (m, _)| all.union(*m));
    }
}

/// nginx refuses a URI part where there is no prefix for it to replace.
fn check_uri_allowed(pass: &ProxyPass, kind: LocationKind) -> Result<()> {
    match kind {
        LocationKind::Prefix | LocationKind::PrefixFinal | LocationKind::Exact => Ok(()),
        LocationKind::Regex | LocationKind::RegexCaseless | LocationKind::Named
            if pass.uri.is_some() =>
        {
            fail(
                pass.at,
                "\"proxy_pass\" cannot have URI part in location given by regular expression, \
                 or inside named location",
            )
        }
        LocationKind::Regex | LocationKind::RegexCaseless | LocationKind::Named => Ok(()),
    }
}

/// Completes every location that proxies (the prefix its URI part replaces, `proxy_redirect
/// default` made concrete) and moves the upstream groups and maps into `config`.
pub(super) fn finish(config: &mut Config, globals: Globals) -> Result<()> {
    for server in &mut config.servers {
        for location in &mut server.locations {
            complete(location)?;
        }
    }
    config.upstreams = globals.upstreams.into_inner();
    config.maps = globals.maps;
    Ok(())
}

fn complete(location: &mut Location) -> Result<()> {
    let settings: &mut Settings = &mut location.settings;
    let Some(pass) = settings.proxy.pass.as_mut() else {
        return Ok(());
    };
    check_uri_allowed(pass, location.kind)?;
    let pass = Arc::make_mut(pass);
    pass.location = location.path.clone();
    // nginx: with a URI part, `proxy_redirect default` is `proxy_redirect URL LOCATION`;
    // without, `proxy_redirect URL/ /`.
    let default = match &pass.uri {
        Some(_) => RedirectRule::Replace {
            from: Value::literal(&pass.url),
            to: Value::literal(&location.path),
        },
        None => RedirectRule::Replace {
            from: Value::literal(&format!("{}/", pass.url)),
            to: Value::literal("/"),
        },
    };
    if settings.proxy.redirects.contains(&RedirectRule::Default) {
        let rules: Vec<RedirectRule> = settings
            .proxy
            .redirects
            .iter()
            .map(|r| match r {
                RedirectRule::Default => default.clone(),
                other => other.clone(),
            })
            .collect();
        settings.proxy.redirects = rules.into();
    }
    Ok(())
}

/// `-t` warnings: an upstream server that is one of this configuration's own listen addresses
/// (a request proxied there comes back to this server).
pub(super) fn lint(config: &Config) -> Vec<ConfigWarning> {
    let listens: Vec<std::net::SocketAddr> = config
        .servers
        .iter()
        .flat_map(|s| s.listen.iter().copied())
        .collect();
    let mut out = Vec::new();
    for upstream in &config.upstreams {
        for server in &upstream.servers {
            let PeerAddr::Tcp(addr) = &server.addr else {
                continue;
            };
            let Some(listen) = listens.iter().find(|l| loops_to(addr, l)) else {
                continue;
            };
            out.push(ConfigWarning {
                path: std::path::PathBuf::new(),
                line: server.at.line,
                col: server.at.col,
                message: format!(
                    "upstream \"{}\" sends requests to {addr}, which this server listens on \
                     (\"listen {listen}\"): they would loop back into webserv",
                    upstream.name
                ),
            });
        }
    }
    out
}

/// Whether a connection to `peer` reaches the listener bound to `listen`.
fn loops_to(peer: &std::net::SocketAddr, listen: &std::net::SocketAddr) -> bool {
    if peer.port() != listen.port() {
        return false;
    }
    let (peer, listen) = (peer.ip(), listen.ip());
    peer == listen || (listen.is_unspecified() && (peer.is_loopback() || peer.is_unspecified()))
}

#[cfg(test)]
mod tests;
