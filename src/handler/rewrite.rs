//! nginx's rewrite phases for one request: a block's program (`rewrite`, `return`, `set`,
//! `break`, see `config::rewrite`) run in order against the request's path.
//!
//! The server's program runs first, before the location is chosen (and again after each
//! internal redirect to a URI, as nginx's server rewrite phase does); then the program of the
//! location chosen. A `rewrite` that changes the path has the location chosen again (`last`,
//! or the end of a program), or goes on in this one (`break`); the caller counts each of these
//! against the limit of internal redirects.

use super::vars::{Into, Vars};
use super::{ConnInfo, fixed_return};
use crate::config::{Action, RewriteFlag};
use crate::http::path;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::site::route::{Captures, Site};
use crate::site::{header_safe, redirect};

/// How a program ended.
pub enum Outcome {
    /// The request goes on in this block; `moved`: a `rewrite ... break` changed the path.
    Continue { moved: bool },
    /// The path changed (`last`, or no flag): the location is to be found again.
    Relocate,
    /// `return`, or a `rewrite` that redirects: this is the answer.
    Respond(Response),
}

/// Runs `program` (the rewrite directives of `site`'s block) for `request`. A `rewrite` whose
/// expression matches replaces `captures` with its groups (`$1`... for what follows).
pub fn run<'a>(
    program: &'a [Action],
    request: &mut Request,
    site: &Site<'a>,
    captures: &mut Captures<'a>,
    conn: &ConnInfo,
) -> Outcome {
    let mut moved = false;
    for action in program {
        match action {
            Action::Break => break,
            Action::Set(name, value) => {
                let value = vars(request, site, captures, conn).expand(value, Into::Text);
                set(request, name, value);
            }
            Action::Return(ret) => {
                let vars = vars(request, site, captures, conn);
                return Outcome::Respond(fixed_return(ret.code, ret.target.as_ref(), &vars));
            }
            Action::Rewrite(rewrite) => {
                let regex = &rewrite.regex;
                let mut groups = regex.capture_locations();
                if regex.captures_read(&mut groups, &request.path).is_none() {
                    continue;
                }
                *captures = Captures::new(regex, &request.path, groups);
                if let Some(code) = rewrite.redirects() {
                    let vars = vars(request, site, captures, conn);
                    let url = vars.expand(&rewrite.replacement, Into::Url);
                    let url = with_args(&url, request.query.as_deref());
                    return Outcome::Respond(redirect(code, &header_safe(&url)));
                }
                let target =
                    vars(request, site, captures, conn).expand(&rewrite.replacement, Into::Text);
                if !replace_uri(request, &target) {
                    return Outcome::Respond(super::error(500, site));
                }
                moved = true;
                match rewrite.flag {
                    RewriteFlag::Last => return Outcome::Relocate,
                    RewriteFlag::Break => return Outcome::Continue { moved },
                    RewriteFlag::Continue | RewriteFlag::Redirect(_) => {}
                }
            }
        }
    }
    if moved {
        Outcome::Relocate
    } else {
        Outcome::Continue { moved }
    }
}

fn vars<'r, 'a>(
    request: &'r Request,
    site: &'r Site<'a>,
    captures: &'r Captures<'a>,
    conn: &'r ConnInfo<'r>,
) -> Vars<'r, 'a> {
    Vars {
        request,
        site,
        conn,
        captures,
        split: None,
    }
}

/// `set $name value`: `$args` is the query; any other name a variable of the request.
fn set(request: &mut Request, name: &str, value: String) {
    if name == "args" {
        request.query = (!value.is_empty()).then_some(value);
        return;
    }
    let variables = request.variables.get_or_insert_with(Default::default);
    match variables.iter_mut().find(|(n, _)| n == name) {
        Some((_, slot)) => *slot = value,
        None => variables.push((name.to_string(), value)),
    }
}

/// A rewrite's new URI, as nginx takes it: the path (normalised), and the query: the
/// replacement's own followed by the request's (`&` between), none after a final `?`, the
/// request's when the replacement has none. False: the path is not one (outside `/`, a NUL).
fn replace_uri(request: &mut Request, target: &str) -> bool {
    let (path_part, query) = match target.split_once('?') {
        None => (target, request.query.clone()),
        Some((path_part, "")) => (path_part, None),
        Some((path_part, own)) => match &request.query {
            Some(old) => (path_part, Some(format!("{own}&{old}"))),
            None => (path_part, Some(own.to_string())),
        },
    };
    match path::resolve(path_part) {
        Ok(resolved) => {
            request.path = resolved;
            request.query = query;
            true
        }
        Err(_) => false,
    }
}

/// A redirect's URL with the request's query added, as nginx does: after `&` when the URL has
/// its own, not at all when the URL ends in `?` (which is dropped).
fn with_args(url: &str, query: Option<&str>) -> String {
    if let Some(bare) = url.strip_suffix('?') {
        return bare.to_string();
    }
    match query {
        Some(query) if url.contains('?') => format!("{url}&{query}"),
        Some(query) => format!("{url}?{query}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_urls_keep_or_drop_the_query_as_nginx() {
        assert_eq!(with_args("/new", Some("a=1")), "/new?a=1");
        assert_eq!(with_args("/new?b=2", Some("a=1")), "/new?b=2&a=1");
        assert_eq!(with_args("/new?", Some("a=1")), "/new");
        assert_eq!(with_args("/new", None), "/new");
        assert_eq!(with_args("https://h/x?", None), "https://h/x");
    }

    #[test]
    fn an_internal_rewrite_sets_path_and_query_as_nginx() {
        let mut request = {
            let mut bytes = b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n".to_vec();
            crate::http::request::parse(&mut bytes).unwrap().unwrap().0
        };
        assert!(replace_uri(&mut request, "/b/../c"));
        assert_eq!(
            (request.path.as_str(), request.query.as_deref()),
            ("/c", Some("x=1"))
        );
        assert!(replace_uri(&mut request, "/d?y=2"));
        assert_eq!(request.query.as_deref(), Some("y=2&x=1"));
        assert!(replace_uri(&mut request, "/e?"));
        assert_eq!(
            (request.path.as_str(), request.query.as_deref()),
            ("/e", None)
        );
        assert!(!replace_uri(&mut request, "/.."));
        assert!(!replace_uri(&mut request, "relative"));
        assert_eq!(request.path, "/e");
    }
}
