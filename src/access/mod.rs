//! The access phases of a request, between routing and the content handler, as nginx runs
//! them: the limits of its preaccess phase (`limit_req`, `limit_conn`; [`admit`]), once per
//! request, at the first location it is routed to; then, in every location the request
//! reaches (internal redirects included), `allow`/`deny` and HTTP Basic authentication
//! combined by `satisfy` ([`check`]). A location with `return` skips both, as nginx's rewrite
//! phase answers before them.
//!
//! The exchange keeps the [`Permit`] [`admit`] gives for as long as the request is served (it
//! holds the request's `limit_conn` places), answers the refusal otherwise, and waits on its
//! own deadline when `limit_req` delays the request (then [`admit_delayed`] finishes the
//! phase).

pub mod basic;
pub mod limit;
mod md5crypt;

use crate::config::{LogLevel, Piece, Rule, Satisfy, Settings, Zone};
use crate::http::request::Request;
use crate::http::response::Response;
use crate::log;
use crate::observe::vars::{self, Facts};
use crate::site::{self, route::Site};
use basic::Verdict;
use limit::{Conns, Rate, Zones};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// What the access phase says about a request.
#[derive(Debug)]
pub enum Admission {
    /// Serve it, holding this for as long as it is served.
    Pass(Permit),
    /// `limit_req`: over the rate, within the burst: wait this long, then [`admit_delayed`]
    /// runs the rest of the phase (as nginx resumes its phases after the delay, the request
    /// takes no `limit_conn` place while it waits).
    Delay(Duration),
    /// Answer this instead (403, 401, or a limit's status).
    Refuse(Response),
}

/// What a request admitted holds while it is served: its places in `limit_conn` zones.
#[derive(Debug, Default)]
pub struct Permit {
    /// None when it holds none (most requests: nothing to drop).
    conns: Option<Box<[limit::ConnHold]>>,
}

impl Permit {
    /// Whether it holds places.
    #[inline]
    pub fn holds(&self) -> bool {
        self.conns.is_some()
    }

    /// Gives the places back (the request is over).
    #[inline]
    pub fn release(&mut self) {
        self.conns = None;
    }
}

/// Everything the access phase looks at.
pub struct Ask<'a> {
    pub facts: &'a Facts<'a>,
    pub zones: &'a Zones,
    /// `Config::zones`: what each zone counts by, and its rate.
    pub zone_config: &'a [Zone],
    pub now: Instant,
}

/// Whether requests routed to `settings` go through the limits at all (most do not: then
/// nothing of [`admit`] runs).
#[inline]
pub fn applies(settings: &Settings) -> bool {
    settings.return_().is_none() && settings.limits.is_active()
}

/// Runs the limits (nginx's preaccess phase) for a request: `limit_req`, then `limit_conn`.
pub fn admit(ask: &Ask) -> Admission {
    let Some(request) = ask.facts.request else {
        return Admission::Pass(Permit::default());
    };
    if !applies(ask.facts.site.settings) {
        return Admission::Pass(Permit::default());
    }
    let limits = &ask.facts.site.settings.limits;
    if !limits.req.is_empty() {
        let delay = match keys(limits.req.iter().map(|l| l.zone), ask)
            .and_then(|keys| rates(request, ask, &keys))
        {
            Ok(delay) => delay,
            Err(response) => return Admission::Refuse(response),
        };
        if !delay.is_zero() {
            return Admission::Delay(delay);
        }
    }
    match conns(request, ask) {
        Ok(permit) => Admission::Pass(permit),
        Err(response) => Admission::Refuse(response),
    }
}

/// The rest of the preaccess phase after a `limit_req` delay: `limit_conn`'s places, or the
/// refusal.
pub fn admit_delayed(ask: &Ask) -> Result<Permit, Response> {
    match ask.facts.request {
        Some(request) => conns(request, ask),
        None => Ok(Permit::default()),
    }
}

/// The keys of `zones` for the request (None: an empty key, not limited).
fn keys(zones: impl Iterator<Item = usize>, ask: &Ask) -> Result<Vec<Option<Vec<u8>>>, Response> {
    let facts = ask.facts;
    zones
        .map(|zone| {
            let pieces = ask
                .zone_config
                .get(zone)
                .map_or(&[][..], |z| z.key.as_slice());
            let key = key(pieces, facts);
            if key.as_ref().is_some_and(|k| k.len() > MAX_KEY) {
                log::error(&format!(
                    "client {}: a limit key is longer than {MAX_KEY} bytes",
                    facts.client.ip()
                ));
                return Err(site::error(500, facts.site));
            }
            Ok(key)
        })
        .collect()
}

/// `limit_conn`: the places taken, or the refusal.
fn conns(request: &Request, ask: &Ask) -> Result<Permit, Response> {
    let (facts, limits) = (ask.facts, &ask.facts.site.settings.limits);
    let mut permit = Permit::default();
    if limits.conn.is_empty() {
        return Ok(permit);
    }
    let zone_name = |zone: usize| ask.zone_config.get(zone).map_or("", |z| z.name.as_str());
    let keys = keys(limits.conn.iter().map(|l| l.zone), ask)?;
    match limit::check_conns(&limits.conn, ask.zones, &keys) {
        Conns::Pass(holds) => {
            permit.conns = (!holds.is_empty()).then(|| holds.into_boxed_slice());
        }
        Conns::Refuse(i) => {
            log::message(
                limits.conn_log_level,
                &format!(
                    "client {}: limiting connections by zone \"{}\", request \"{} {}\"",
                    facts.client.ip(),
                    zone_name(limits.conn[i].zone),
                    request.method.as_str(),
                    printable(&request.path)
                ),
            );
            return Err(site::error(limits.conn_status, facts.site));
        }
    }
    Ok(permit)
}

/// `limit_req`: the delay asked, or the refusal.
fn rates(request: &Request, ask: &Ask, keys: &[Option<Vec<u8>>]) -> Result<Duration, Response> {
    let (facts, limits) = (ask.facts, &ask.facts.site.settings.limits);
    let zone_name = |zone: usize| ask.zone_config.get(zone).map_or("", |z| z.name.as_str());
    match limit::check_rates(&limits.req, ask.zone_config, ask.zones, keys, ask.now) {
        Rate::Pass => Ok(Duration::ZERO),
        Rate::Delay(delay) => {
            // nginx logs a delay one level below a refusal.
            let level = match limits.req_log_level {
                LogLevel::Error => LogLevel::Warn,
                LogLevel::Warn => LogLevel::Notice,
                _ => LogLevel::Info,
            };
            if log::enabled(level) {
                log::message(
                    level,
                    &format!(
                        "client {}: delaying request {} ms, request \"{} {}\"",
                        facts.client.ip(),
                        delay.as_millis(),
                        request.method.as_str(),
                        printable(&request.path)
                    ),
                );
            }
            Ok(delay)
        }
        Rate::Refuse(i) | Rate::Full(i) => {
            log::message(
                limits.req_log_level,
                &format!(
                    "client {}: limiting requests by zone \"{}\", request \"{} {}\"",
                    facts.client.ip(),
                    zone_name(limits.req[i].zone),
                    request.method.as_str(),
                    printable(&request.path)
                ),
            );
            Err(site::error(limits.req_status, facts.site))
        }
    }
}

/// Longest limit key, as nginx's.
const MAX_KEY: usize = 65_535;

/// The value of a zone's key for a request; None when it is empty (not limited, as in nginx).
fn key(pieces: &[Piece], facts: &Facts) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Text(text) => out.extend_from_slice(text.as_bytes()),
            Piece::Var(var) => {
                vars::request_value(var, facts, &mut out);
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// `allow`/`deny` and `auth_basic` of `site`, combined by `satisfy`, for a request from
/// `client`: None when it may pass. `verified`: the worker's cache of verified passwords.
pub fn check(
    request: &Request,
    site: &Site,
    client: IpAddr,
    verified: &mut basic::Cache,
) -> Option<Response> {
    let access = &site.settings.access;
    let by_address = first_match(&access.rules, client);
    if by_address == Some(false) && access.satisfy == Satisfy::All {
        return Some(forbidden(request, site, client));
    }
    if by_address == Some(true) && access.satisfy == Satisfy::Any {
        return None;
    }
    let verdict = access.basic_auth().map(|(realm, users)| {
        let authorization = request.header("Authorization");
        let verdict = basic::verify(authorization, users, Instant::now(), verified);
        (realm, users, verdict)
    });
    match verdict {
        Some((realm, users, verdict)) if verdict != Verdict::Verified => {
            log_failure(request, users, verdict, client);
            Some(unauthorized(realm, site))
        }
        // satisfy any: authenticated, or no authentication configured and no rule denied.
        _ if by_address == Some(false) && verdict.is_none() => {
            Some(forbidden(request, site, client))
        }
        _ => None,
    }
}

/// Whether the first rule whose network holds `client` allows it; None when none does.
pub fn first_match(rules: &[Rule], client: IpAddr) -> Option<bool> {
    rules
        .iter()
        .find(|rule| rule.net.contains(client))
        .map(|rule| rule.allow)
}

fn forbidden(request: &Request, site: &Site, client: IpAddr) -> Response {
    log::error(&format!(
        "client {client}: access forbidden by rule, request \"{} {}\"",
        request.method.as_str(),
        printable(&request.path)
    ));
    site::error(403, site)
}

fn unauthorized(realm: &str, site: &Site) -> Response {
    let mut value = String::with_capacity(realm.len() + 16);
    value.push_str("Basic realm=\"");
    for c in realm.chars() {
        if c == '"' || c == '\\' {
            value.push('\\');
        }
        value.push(c);
    }
    value.push('"');
    site::error(401, site).with_header("WWW-Authenticate", value)
}

/// nginx's error-log lines for a failed authentication (none when no credentials came: that
/// is how every browser starts).
fn log_failure(
    request: &Request,
    users: &crate::config::UserFile,
    verdict: Verdict,
    client: IpAddr,
) {
    let user = request
        .header("Authorization")
        .and_then(crate::http::credentials::user_name)
        .unwrap_or_default();
    let user = printable(&user[..user.floor_char_boundary(64)]);
    let what = match verdict {
        Verdict::Mismatch => format!("user \"{user}\": password mismatch"),
        Verdict::UnknownUser => format!(
            "user \"{user}\" was not found in \"{}\"",
            users.path.display()
        ),
        Verdict::Missing | Verdict::Verified => return,
    };
    log::error(&format!("client {client}: {what}"));
}

/// `text` with control characters shown as `?`, so that a client cannot forge log lines.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}
