//! The access phase of a request, between routing and the content handler, as nginx runs it:
//! first the limits of its preaccess phase (`limit_conn`, `limit_req`), then `allow`/`deny`
//! and HTTP Basic authentication combined by `satisfy`. A location with `return` skips it, as
//! nginx's rewrite phase answers before the access phase runs.
//!
//! [`admit`] decides; the connection keeps the [`Permit`] it gets for as long as the request
//! is served (it holds the request's `limit_conn` places) and sends the refusal otherwise.

pub mod basic;
mod md5crypt;

use crate::config::{Rule, Satisfy, Settings};
use crate::handler::{self, Site};
use crate::http::request::Request;
use crate::http::response::Response;
use crate::server::log;
use basic::Verdict;
use std::net::IpAddr;
use std::time::Instant;

/// What the access phase says about a request.
#[derive(Debug)]
pub enum Admission {
    /// Serve it, holding this for as long as it is served.
    Pass(Permit),
    /// Answer this instead (403, 401, or a limit's status).
    Refuse(Response),
}

/// What a request admitted holds while it is served.
#[derive(Debug, Default)]
pub struct Permit {}

/// Runs the access phase for `request`, routed to `site`, from the client at `client`.
pub fn admit(request: &Request, site: &Site, client: IpAddr, now: Instant) -> Admission {
    let settings: &Settings = site.settings;
    let access = &settings.access;
    if settings.return_.is_some() || !access.is_active() {
        return Admission::Pass(Permit::default());
    }
    let by_address = first_match(&access.rules, client);
    if by_address == Some(false) && access.satisfy == Satisfy::All {
        return Admission::Refuse(forbidden(request, site, client));
    }
    if by_address == Some(true) && access.satisfy == Satisfy::Any {
        return Admission::Pass(Permit::default());
    }
    let verdict = access.basic_auth().map(|(realm, users)| {
        let verdict = basic::verify(request.header("Authorization"), users, now);
        (realm, users, verdict)
    });
    match verdict {
        Some((realm, users, verdict)) if verdict != Verdict::Verified => {
            log_failure(request, users, verdict, client);
            Admission::Refuse(unauthorized(realm, site))
        }
        // satisfy any: authenticated, or no authentication configured and no rule denied.
        _ if by_address == Some(false) && verdict.is_none() => {
            Admission::Refuse(forbidden(request, site, client))
        }
        _ => Admission::Pass(Permit::default()),
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
    handler::error(403, site)
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
    handler::error(401, site).with_header("WWW-Authenticate", value)
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
        .and_then(basic::user_name)
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
