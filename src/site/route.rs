//! Routing: listen address and Host pick the virtual server, the path picks the location (in
//! nginx's order, nested locations included), and the location maps the path to a file.
//!
//! The server for a Host among the servers of one address, as nginx's
//! `ngx_http_find_virtual_server` ([`VirtualHosts::select`]):
//! 1. the exact name;
//! 2. the longest leading wildcard (`*.example.com`, `.example.com`);
//! 3. the longest trailing wildcard (`www.example.*`);
//! 4. the first regular expression that matches, in file order (its groups become variables);
//! 5. the address's default server: the one with `listen ... default_server`, else the first.
//!
//! Among servers giving the same name, the first in the file has it.
//!
//! The location for a path, as nginx's `ngx_http_core_find_location`, at each level (the
//! server's locations, then those nested in the one chosen):
//! 1. an exact (`=`) location equal to the path: chosen, done;
//! 2. the longest prefix location matching the path is remembered, and the locations nested
//!    in it are searched the same way (an exact or regular-expression match there is final);
//! 3. unless that prefix is `^~`, the level's regular expressions are tried in file order: the
//!    first that matches is chosen (and the locations nested in it are searched), done;
//! 4. else the remembered prefix (or the deepest one found below it) stands.
//!
//! Regular expressions run on the `regex` crate: time linear in the path's length whatever the
//! expression, so no request can make a worker backtrack (as a PCRE expression can).

use crate::config::{
    Location, LocationId, LocationKind, Server, ServerName, Settings, Variable, prefix_matches,
};
use crate::http::request::Request;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Where a request landed: its server, its location (if any) and the settings in force.
#[derive(Clone)]
pub struct Site<'a> {
    pub server: &'a Server,
    pub location: Option<&'a Location>,
    /// The location's index in its server.
    pub id: Option<LocationId>,
    pub settings: &'a Settings,
    /// The `alias` of a regular-expression location, its variables expanded for this request:
    /// the whole file path.
    pub expanded_alias: Option<PathBuf>,
    /// The match of the `server_name` expression that chose the server, when it has groups
    /// (for `$1` where no location expression has groups, and `$name`).
    pub host: Option<&'a HostMatch>,
}

/// The groups of the regular expression that chose the location, for `$1`... and `$name`.
/// One pointer when there are none (the common case costs nothing to make or move).
#[derive(Debug, Default, Clone)]
pub struct Captures<'a>(Option<Box<Groups<'a>>>);

#[derive(Debug, Clone)]
struct Groups<'a> {
    regex: &'a regex::Regex,
    /// The path the expression matched (later steps may change the request's path).
    text: String,
    locations: regex::CaptureLocations,
}

impl<'a> Captures<'a> {
    pub fn new(regex: &'a regex::Regex, text: &str, locations: regex::CaptureLocations) -> Self {
        Captures(Some(Box::new(Groups {
            regex,
            text: text.to_string(),
            locations,
        })))
    }

    /// Whether no expression with groups matched.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// Group `n` (`$1` is 1), if it took part in the match.
    pub fn group(&self, n: usize) -> Option<&str> {
        let groups = self.0.as_deref()?;
        let (start, end) = groups.locations.get(n)?;
        groups.text.get(start..end)
    }

    /// The group called `name`, if the expression has one and it took part in the match.
    pub fn named(&self, name: &str) -> Option<&str> {
        let groups = self.0.as_deref()?;
        let index = groups.regex.capture_names().position(|n| n == Some(name))?;
        self.group(index)
    }
}

/// Appends a capture variable's value (empty when the group did not take part, or when no
/// expression chose the location); any other variable adds nothing.
pub fn capture(v: &Variable, captures: &Captures, out: &mut String) {
    let value = match v {
        Variable::Capture(n) => captures.group(usize::from(*n)),
        Variable::NamedCapture(name) => captures.named(name),
        _ => None,
    };
    out.push_str(value.unwrap_or(""));
}

/// The outcome of routing a path within a server.
pub struct Routed<'a> {
    pub site: Site<'a>,
    pub captures: Captures<'a>,
}

/// The servers of one listen address, and the tables a Host is looked up in (see the module
/// comment). Built once per configuration; a lookup is a few hash probes, however many names.
#[derive(Debug, Default)]
pub struct VirtualHosts {
    /// Indexes into the configuration's servers, the default first.
    servers: Vec<usize>,
    exact: HashMap<String, usize>,
    /// `.example.com` of `*.example.com` (and of `.example.com`).
    leading: HashMap<String, usize>,
    /// `www.example.` of `www.example.*`.
    trailing: HashMap<String, usize>,
    /// (server, index of the name in its `names`), in file order.
    regexes: Vec<(usize, usize)>,
    /// One server and no expression: no lookup at all.
    single: bool,
}

impl VirtualHosts {
    /// The tables for the servers (indexes into `servers`, in file order) that listen on
    /// `address`.
    pub fn new(servers: &[Server], on_address: &[usize], address: SocketAddr) -> VirtualHosts {
        let mut ordered = on_address.to_vec();
        if let Some(i) = ordered
            .iter()
            .position(|&s| servers[s].default_server.contains(&address))
        {
            let default = ordered.remove(i);
            ordered.insert(0, default);
        }
        let mut hosts = VirtualHosts {
            servers: ordered,
            ..VirtualHosts::default()
        };
        for &s in on_address {
            for (i, name) in servers[s].names.iter().enumerate() {
                match name {
                    ServerName::Exact(n) => {
                        hosts.exact.entry(n.clone()).or_insert(s);
                    }
                    ServerName::Leading(n) => {
                        hosts.leading.entry(n.clone()).or_insert(s);
                    }
                    ServerName::Trailing(n) => {
                        hosts.trailing.entry(n.clone()).or_insert(s);
                    }
                    ServerName::Regex(_) => hosts.regexes.push((s, i)),
                }
            }
        }
        hosts.single = hosts.servers.len() == 1 && hosts.regexes.is_empty();
        hosts
    }

    /// The servers, the default first (never empty for an address some server listens on).
    pub fn servers(&self) -> &[usize] {
        &self.servers
    }

    /// The server (an index into `servers`) for a request's `host` (lower-case, without
    /// port; None without one), with the match of the expression that chose it when that
    /// expression has groups.
    #[inline]
    pub fn select(&self, servers: &[Server], host: Option<&str>) -> (usize, Option<HostMatch>) {
        let default = self.servers.first().map_or(0, |&s| s);
        if self.single {
            return (default, None);
        }
        self.lookup(servers, host, default)
    }

    /// [`VirtualHosts::select`] among several servers or names.
    fn lookup(
        &self,
        servers: &[Server],
        host: Option<&str>,
        default: usize,
    ) -> (usize, Option<HostMatch>) {
        let host = host.unwrap_or("");
        if let Some(&s) = self.exact.get(host) {
            return (s, None);
        }
        if !host.is_empty() {
            // Longest first: from the first dot on, then the next...
            let leading = host
                .match_indices('.')
                .filter(|(i, _)| *i > 0)
                .find_map(|(i, _)| self.leading.get(&host[i..]));
            if let Some(&s) = leading {
                return (s, None);
            }
            let trailing = host
                .rmatch_indices('.')
                .filter(|(i, _)| i + 1 < host.len())
                .find_map(|(i, _)| self.trailing.get(&host[..=i]));
            if let Some(&s) = trailing {
                return (s, None);
            }
            for &(s, name) in &self.regexes {
                let Some(ServerName::Regex(regex)) = servers[s].names.get(name) else {
                    continue;
                };
                let mut groups = regex.capture_locations();
                if regex.captures_read(&mut groups, host).is_some() {
                    let found = (regex.captures_len() > 1).then(|| HostMatch {
                        name,
                        host: host.to_string(),
                        groups,
                    });
                    return (s, found);
                }
            }
        }
        (default, None)
    }
}

/// The match of a `server_name` expression with groups, kept with the request's route (owned:
/// the route outlives the borrow of the configuration).
#[derive(Debug, Clone)]
pub struct HostMatch {
    /// The index of the name in its server's `names`.
    name: usize,
    host: String,
    groups: regex::CaptureLocations,
}

impl HostMatch {
    /// The expression that matched, a name of `server` (the server it chose).
    fn regex<'s>(&self, server: &'s Server) -> Option<&'s regex::Regex> {
        match server.names.get(self.name) {
            Some(ServerName::Regex(regex)) => Some(regex),
            _ => None,
        }
    }

    /// Group `n` (`$1` is 1), if it took part in the match.
    pub fn group(&self, n: usize) -> Option<&str> {
        let (start, end) = self.groups.get(n)?;
        self.host.get(start..end)
    }

    /// The group called `name` of the expression (a name of `server`), if it took part.
    pub fn named(&self, server: &Server, name: &str) -> Option<&str> {
        let index = self
            .regex(server)?
            .capture_names()
            .position(|n| n == Some(name))?;
        self.group(index)
    }
}

/// The server for `host` among the servers of one listen address (`candidates` indexes
/// `servers` in file order), as [`VirtualHosts::select`] finds it (for callers that route one
/// request; a server keeps its [`VirtualHosts`]).
pub fn select_server<'a>(
    servers: &'a [Server],
    candidates: &[usize],
    host: Option<&str>,
) -> &'a Server {
    let address = candidates
        .first()
        .and_then(|&s| servers[s].listen.first().copied())
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    let (server, _) = VirtualHosts::new(servers, candidates, address).select(servers, host);
    &servers[server]
}

/// The location for `path` (see the module comment).
pub fn select_location<'a>(server: &'a Server, path: &str) -> Site<'a> {
    find_location(server, path).site
}

/// The location for `path` with the groups of the expression that chose it.
pub fn find_location<'a>(server: &'a Server, path: &str) -> Routed<'a> {
    let mut chosen = None;
    let mut captures = Captures::default();
    search(
        server,
        &server.top_locations,
        path,
        &mut chosen,
        &mut captures,
    );
    let site = site_of(server, chosen, &captures);
    Routed { site, captures }
}

/// Whether `path` gets nginx's redirect to `path/`: a prefix or exact location named `path/`
/// passes requests to a backend (`fastcgi_pass`), and no location of the same level is named
/// `path` itself (nginx's `auto_redirect`, decided before regular expressions are tried). The
/// levels are searched as [`find_location`] searches them.
pub fn auto_redirect(server: &Server, path: &str) -> bool {
    if !server.auto_redirect || path.ends_with('/') {
        return false;
    }
    let mut level: &[LocationId] = &server.top_locations;
    loop {
        let mut redirect = false;
        let mut longest: Option<&Location> = None;
        for &id in level {
            let l = &server.locations[id];
            if !matches!(
                l.kind,
                LocationKind::Exact | LocationKind::Prefix | LocationKind::PrefixFinal
            ) {
                continue;
            }
            if l.path.len() == path.len() + 1
                && l.path.ends_with('/')
                && l.path.starts_with(path)
                && l.settings.fastcgi.pass.is_some()
            {
                redirect = true;
            } else if l.path == path {
                return false;
            }
            if l.kind != LocationKind::Exact
                && prefix_matches(&l.path, path)
                && longest.is_none_or(|p| p.path.len() < l.path.len())
            {
                longest = Some(l);
            }
        }
        if redirect {
            return true;
        }
        match longest {
            Some(l) if !l.nested.is_empty() => level = &l.nested,
            _ => return false,
        }
    }
}

/// The site of a request on `server`: where the router left it (`request.routed`), else the
/// location its path matches.
pub fn routed_site<'a>(server: &'a Server, request: &Request) -> Site<'a> {
    match request.routed {
        Some(routed) => site_of(server, routed.location(), &captures_none()),
        None => select_location(server, &request.path),
    }
}

fn captures_none<'a>() -> Captures<'a> {
    Captures::default()
}

/// The groups of the expression of `site`'s location for `path`, when it is a regular
/// expression location with groups (what [`find_location`] gives; for a site routed without
/// them).
pub fn captures_for<'a>(site: &Site<'a>, path: &str) -> Captures<'a> {
    let Some(regex) = site.location.and_then(|l| l.regex.as_ref()) else {
        return Captures::default();
    };
    if regex.captures_len() <= 1 {
        return Captures::default();
    }
    let mut groups = regex.capture_locations();
    match regex.captures_read(&mut groups, path) {
        Some(_) => Captures::new(regex, path, groups),
        None => Captures::default(),
    }
}

/// The site of location `id` of `server` (the server itself for None), as routing would give
/// it with `captures`.
pub fn site_of<'a>(server: &'a Server, id: Option<LocationId>, captures: &Captures) -> Site<'a> {
    let location = id.and_then(|id| server.locations.get(id));
    let settings = location.map_or(&server.settings, |l| &l.settings);
    let expanded_alias = match (location, &settings.alias_template) {
        (Some(l), Some(template)) if l.is_regex() => {
            let path = PathBuf::from(template.expand(|v, out| capture(v, captures, out)));
            // Groups come from a normalised path, but two of them side by side could still
            // spell `..`: such a path maps to nothing (an empty path: 404).
            let climbs = path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir));
            Some(if climbs { PathBuf::new() } else { path })
        }
        _ => None,
    };
    Site {
        server,
        location,
        id: location.and(id),
        settings,
        expanded_alias,
        host: None,
    }
}

/// One level of nginx's search. Returns whether the choice is final (an exact location, or a
/// regular expression, matched at this level or below).
fn search<'a>(
    server: &'a Server,
    level: &[LocationId],
    path: &str,
    chosen: &mut Option<LocationId>,
    captures: &mut Captures<'a>,
) -> bool {
    let locations = &server.locations;
    // One pass: an exact match ends the search; else the longest prefix, and whether the
    // level has any expression at all.
    let mut prefix: Option<LocationId> = None;
    let mut any_regex = false;
    for &id in level {
        let l = &locations[id];
        match l.kind {
            LocationKind::Exact if l.path == path => {
                *chosen = Some(id);
                return true;
            }
            LocationKind::Prefix | LocationKind::PrefixFinal
                if prefix_matches(&l.path, path)
                    && prefix.is_none_or(|p| locations[p].path.len() < l.path.len()) =>
            {
                prefix = Some(id);
            }
            LocationKind::Regex | LocationKind::RegexCaseless => any_regex = true,
            _ => {}
        }
    }
    let mut regexes_allowed = any_regex;
    if let Some(id) = prefix {
        *chosen = Some(id);
        regexes_allowed &= locations[id].kind != LocationKind::PrefixFinal;
        if !locations[id].nested.is_empty()
            && search(server, &locations[id].nested, path, chosen, captures)
        {
            return true;
        }
    }
    if !regexes_allowed {
        return false;
    }
    for &id in level {
        let Some(regex) = &locations[id].regex else {
            continue;
        };
        let matched = if regex.captures_len() > 1 {
            let mut groups = regex.capture_locations();
            let found = regex.captures_read(&mut groups, path).is_some();
            if found {
                *captures = Captures::new(regex, path, groups);
            }
            found
        } else {
            regex.is_match(path)
        };
        if matched {
            *chosen = Some(id);
            search(server, &locations[id].nested, path, chosen, captures);
            return true;
        }
    }
    false
}

impl Site<'_> {
    /// The site of a server where no location applies.
    pub fn of_server(server: &Server) -> Site<'_> {
        Site {
            server,
            location: None,
            id: None,
            settings: &server.settings,
            expanded_alias: None,
            host: None,
        }
    }

    /// The file a `try_files` name maps to. As in nginx, a name under the prefix of the
    /// location that gave the `alias` has that prefix replaced by the alias, and any other
    /// name is appended to the alias. In a regular-expression location with an `alias`, every
    /// name maps to the alias (the whole file path, nginx appends the name to it).
    pub fn try_files_path(&self, uri: &str) -> PathBuf {
        match (&self.settings.alias, self.location) {
            (Some(alias), Some(location))
                if !location.is_regex() && !prefix_matches(&self.settings.alias_prefix, uri) =>
            {
                alias.join(uri.trim_start_matches('/'))
            }
            _ => self.file_path(uri),
        }
    }

    /// The file a (normalised) request path maps to: `root` + the whole path, or `alias` + the
    /// part after the prefix of the location that gave the alias. The path has no `..`
    /// segments, so the result stays below the root or alias. In a regular-expression location
    /// the alias is the whole file path (with its variables expanded), as in nginx.
    ///
    /// The location's own path maps to the alias itself (no trailing `/` added), so an alias
    /// naming a regular file serves that file, as in nginx; anything below it (`/doc/x`) maps
    /// below the file, which the file system answers with ENOTDIR: a 404.
    pub fn file_path(&self, path: &str) -> PathBuf {
        let settings = self.settings;
        match (&settings.alias, self.location) {
            (Some(alias), Some(location)) if location.is_regex() => {
                self.expanded_alias.clone().unwrap_or_else(|| alias.clone())
            }
            (Some(alias), Some(location))
                if !location.is_exact() || path == settings.alias_prefix =>
            {
                let rest = path
                    .strip_prefix(settings.alias_prefix.as_str())
                    .unwrap_or("");
                if rest.is_empty() {
                    return alias.clone();
                }
                joined(alias, rest.trim_start_matches('/'))
            }
            _ => joined(&settings.root, path.trim_start_matches('/')),
        }
    }

    /// The directory `$document_root` names: the root, or the alias.
    pub fn document_root(&self) -> &Path {
        match (&self.expanded_alias, &self.settings.alias) {
            (Some(expanded), _) => expanded,
            (None, Some(alias)) => alias,
            (None, None) => &self.settings.root,
        }
    }

    /// The path relative to what the location maps (for names of uploaded files: the part of
    /// the path after the location prefix).
    pub fn path_in_location<'p>(&self, path: &'p str) -> &'p str {
        match self.location {
            Some(location) if location.is_prefix() => {
                path.strip_prefix(location.path.as_str()).unwrap_or(path)
            }
            _ => path,
        }
    }
}

/// `base.join(rest)` in one allocation (`join` copies `base`, then grows it for `rest`).
fn joined(base: &Path, rest: &str) -> PathBuf {
    let mut path = PathBuf::with_capacity(base.as_os_str().len() + 1 + rest.len());
    path.push(base);
    path.push(rest);
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(text: &str) -> Server {
        let config = crate::config::parse(
            &format!("server {{ listen 80; root /srv; {text} }}"),
            Path::new("/etc/w/t.conf"),
        )
        .unwrap_or_else(|e| panic!("{text}: {e}"));
        config.servers.into_iter().next().unwrap()
    }

    /// The chosen location as written (`= /x`, `~ re`, ...), or "-" for none.
    fn pick(server: &Server, path: &str) -> String {
        find_location(server, path)
            .site
            .location
            .map_or_else(|| "-".to_string(), Location::display)
    }

    /// The servers of `text` (all on port 80) and a picker: the `return` text of the server a
    /// Host selects (each server says who it is with `return 200 NAME`), with its captures.
    fn servers(text: &str) -> Vec<Server> {
        crate::config::parse(text, Path::new("/etc/w/t.conf"))
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .servers
    }

    fn who(servers: &[Server], host: Option<&str>) -> String {
        let all: Vec<usize> = (0..servers.len()).collect();
        let hosts = VirtualHosts::new(servers, &all, "0.0.0.0:80".parse().unwrap());
        let (server, found) = hosts.select(servers, host);
        let server = &servers[server];
        let text = server.settings.return_().unwrap().target.as_ref();
        let mut who = text.map(|t| t.expand(|_, _| {})).unwrap_or_default();
        if let Some(g) = found.as_ref().and_then(|m| m.group(1)) {
            who.push_str(&format!(" $1={g}"));
        }
        if let Some(g) = found.as_ref().and_then(|m| m.named(server, "sub")) {
            who.push_str(&format!(" $sub={g}"));
        }
        who
    }

    #[test]
    fn host_selects_the_named_server_and_unknown_hosts_get_the_first() {
        let s = servers(
            "server { listen 80; server_name a.test; return 200 A; }
             server { listen 80; server_name b.test c.test; return 200 B; }",
        );
        assert_eq!(who(&s, Some("c.test")), "B");
        assert_eq!(who(&s, Some("a.test")), "A");
        assert_eq!(who(&s, Some("zzz")), "A");
        assert_eq!(who(&s, None), "A");
    }

    /// nginx's order: exact, longest leading wildcard, longest trailing wildcard, the first
    /// expression in file order, then the default server.
    #[test]
    fn server_names_are_chosen_in_nginx_order() {
        let s = servers(
            "server { listen 80; server_name _; return 200 catchall; }
             server { listen 80; server_name ~^(?<sub>[a-z]+)\\.example\\.com$; return 200 regex1; }
             server { listen 80; server_name ~^www\\.(.+)$; return 200 regex2; }
             server { listen 80; server_name *.example.com; return 200 star; }
             server { listen 80; server_name *.a.example.com; return 200 longer-star; }
             server { listen 80; server_name www.example.*; return 200 trailing; }
             server { listen 80; server_name www.example.com.*; return 200 longer-trailing; }
             server { listen 80; server_name www.example.com; return 200 exact; }
             server { listen 80; server_name .dot.org; return 200 dot; }
             server { listen 80 default_server; server_name \"\"; return 200 default; }",
        );
        assert_eq!(who(&s, Some("www.example.com")), "exact");
        assert_eq!(who(&s, Some("x.a.example.com")), "longer-star");
        assert_eq!(who(&s, Some("mail.example.com")), "star");
        assert_eq!(who(&s, Some("www.example.com.au")), "longer-trailing");
        assert_eq!(who(&s, Some("www.example.org")), "trailing");
        assert_eq!(who(&s, Some("dot.org")), "dot");
        assert_eq!(who(&s, Some("w.dot.org")), "dot");
        assert_eq!(who(&s, Some("blog.example.net")), "default");
        assert_eq!(who(&s, Some("www.other.net")), "regex2 $1=other.net");
        assert_eq!(who(&s, None), "default");
        assert_eq!(who(&s, Some("_")), "catchall");
        // No wildcard matches: the first expression in file order.
        let s = servers(
            "server { listen 80; return 200 first; }
             server { listen 80; server_name ~^(?<sub>[a-z]+)\\.example\\.com$; return 200 regex1; }
             server { listen 80; server_name ~example; return 200 regex2; }",
        );
        assert_eq!(
            who(&s, Some("blog.example.com")),
            "regex1 $1=blog $sub=blog"
        );
        assert_eq!(who(&s, Some("a.b.example.com")), "regex2");
        assert_eq!(who(&s, Some("other")), "first");
    }

    #[test]
    fn the_default_server_of_an_address_is_the_marked_one_else_the_first() {
        let s = servers(
            "server { listen 80; listen 81; return 200 first; }
             server { listen 80 default_server; listen 82; return 200 marked; }",
        );
        assert_eq!(who(&s, Some("unknown")), "marked");
        let on_81 = VirtualHosts::new(&s, &[0], "0.0.0.0:81".parse().unwrap());
        assert_eq!(on_81.servers(), [0]);
        let on_80 = VirtualHosts::new(&s, &[0, 1], "0.0.0.0:80".parse().unwrap());
        assert_eq!(on_80.servers(), [1, 0]);
    }

    #[test]
    fn ten_thousand_names_are_read_and_looked_up_quickly() {
        let mut text = String::from(
            "server { listen 80; return 200 default; }\nserver { listen 80; server_name",
        );
        for i in 0..10_000 {
            text.push_str(&format!(" h{i}.example.com *.w{i}.example.org"));
        }
        text.push_str("; return 200 many; }");
        let started = std::time::Instant::now();
        let s = servers(&text);
        let all: Vec<usize> = (0..s.len()).collect();
        let hosts = VirtualHosts::new(&s, &all, "0.0.0.0:80".parse().unwrap());
        for i in (0..10_000).step_by(7) {
            let host = format!("h{i}.example.com");
            assert_eq!(
                s[hosts.select(&s, Some(&host)).0].server_names[0],
                "h0.example.com"
            );
            let host = format!("a.b.w{i}.example.org");
            assert_eq!(
                s[hosts.select(&s, Some(&host)).0].server_names[0],
                "h0.example.com"
            );
        }
        assert!(
            s[hosts.select(&s, Some("nothing")).0]
                .server_names
                .is_empty()
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn exact_beats_prefix_and_longest_prefix_wins_on_segment_boundaries() {
        let s = parse(
            "location / {} location /img {} location /img/big {}
             location = /img/logo.png {} location /dir/ {}",
        );
        assert_eq!(pick(&s, "/img/logo.png"), "= /img/logo.png");
        assert_eq!(pick(&s, "/img/a.png"), "/img");
        assert_eq!(pick(&s, "/img"), "/img");
        assert_eq!(pick(&s, "/images"), "/");
        assert_eq!(pick(&s, "/img/big/x"), "/img/big");
        assert_eq!(pick(&s, "/dir/x"), "/dir/");
        assert_eq!(pick(&s, "/dir"), "/");
        assert_eq!(pick(&parse("location /x {}"), "/y"), "-");
    }

    /// nginx's documented example (ngx_http_core_module, "location"), with the answers its
    /// documentation gives.
    #[test]
    fn the_nginx_documentation_example_routes_as_documented() {
        let s = parse(
            "location = / { } location / { } location /documents/ { }
             location ^~ /images/ { } location ~* \\.(gif|jpg|jpeg)$ { }",
        );
        assert_eq!(pick(&s, "/"), "= /");
        assert_eq!(pick(&s, "/index.html"), "/");
        assert_eq!(pick(&s, "/documents/document.html"), "/documents/");
        assert_eq!(pick(&s, "/images/1.gif"), "^~ /images/");
        assert_eq!(pick(&s, "/documents/1.jpg"), "~* \\.(gif|jpg|jpeg)$");
    }

    #[test]
    fn regexes_are_tried_in_file_order_after_the_longest_prefix() {
        let s = parse(
            "location /a { } location ~ \\.php$ { } location ~ ^/a/.*\\.php$ { }
             location ~* \\.PNG$ { } location ^~ /static/ { } location = /x.php { }",
        );
        assert_eq!(pick(&s, "/a/b.php"), "~ \\.php$");
        assert_eq!(pick(&s, "/a/b.html"), "/a");
        assert_eq!(pick(&s, "/p/i.png"), "~* \\.PNG$");
        assert_eq!(pick(&s, "/p/i.Png"), "~* \\.PNG$");
        assert_eq!(pick(&s, "/static/i.png"), "^~ /static/");
        assert_eq!(pick(&s, "/static/s.php"), "^~ /static/");
        assert_eq!(pick(&s, "/x.php"), "= /x.php");
        assert_eq!(pick(&s, "/X.PHP"), "-");
        assert_eq!(pick(&s, "/p.PHP"), "-");
    }

    #[test]
    fn nested_locations_are_searched_inside_the_chosen_one() {
        let s = parse(
            "location /app {
                 location /app/static { location ~ \\.css$ { } }
                 location ~ \\.php$ { }
                 location = /app/exact { }
             }
             location ~ \\.(php|css|js)$ { }
             location ^~ /final {
                 location ~ \\.js$ { }
             }",
        );
        // A regex nested in the prefix comes before the server's.
        assert_eq!(pick(&s, "/app/x.php"), "~ \\.php$");
        assert_eq!(
            find_location(&s, "/app/x.php").site.id,
            Some(s.locations[0].nested[1])
        );
        // Nested prefix, then its own nested regex.
        assert_eq!(pick(&s, "/app/static/a.css"), "~ \\.css$");
        assert_eq!(pick(&s, "/app/static/a.png"), "/app/static");
        // No nested regex for .js: the server's regexes get their turn.
        assert_eq!(pick(&s, "/app/static/a.js"), "~ \\.(php|css|js)$");
        assert_eq!(pick(&s, "/app/exact"), "= /app/exact");
        assert_eq!(pick(&s, "/app/x.txt"), "/app");
        // ^~ keeps the server's regexes away, not its own nested ones.
        assert_eq!(pick(&s, "/final/a.js"), "~ \\.js$");
        assert_eq!(pick(&s, "/final/a.css"), "^~ /final");
    }

    #[test]
    fn captures_come_from_the_expression_that_chose_the_location() {
        let s = parse(
            "location ~ ^/u/(?<user>[a-z]+)/(\\d+)$ { } location ~ ^/(nothing)$ { }
             location ~ \\.txt$ { }",
        );
        let routed = find_location(&s, "/u/ann/42");
        assert_eq!(routed.captures.group(1), Some("ann"));
        assert_eq!(routed.captures.group(2), Some("42"));
        assert_eq!(routed.captures.group(3), None);
        assert_eq!(routed.captures.named("user"), Some("ann"));
        assert_eq!(routed.captures.named("other"), None);
        let routed = find_location(&s, "/a.txt");
        assert_eq!(routed.captures.group(1), None);
        assert_eq!(routed.captures.group(0), None);
    }

    #[test]
    fn named_locations_are_never_matched_by_a_path() {
        let s = parse("location @app { } location / { }");
        assert_eq!(pick(&s, "/@app"), "/");
        assert_eq!(s.named_location("@app"), Some(0));
        assert_eq!(s.named_location("@none"), None);
    }

    #[test]
    fn a_catastrophic_expression_answers_in_linear_time() {
        let s = parse("location ~ ^(a+)+$ { }");
        let path = format!("/{}b", "a".repeat(50_000));
        let started = std::time::Instant::now();
        assert_eq!(pick(&s, &path), "-");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn root_keeps_the_whole_path_and_alias_replaces_the_prefix() {
        let s = parse(
            "location /up { alias /data/store; location /up/deep { } }
             location /pics { root /root/pics; }
             location ~ ^/dl/(.+)$ { alias /files/$1; }
             location ~ ^/one/ { alias /files/one.txt; }",
        );
        let site = select_location(&s, "/up/a/b.txt");
        assert_eq!(
            site.file_path("/up/a/b.txt"),
            Path::new("/data/store/a/b.txt")
        );
        assert_eq!(site.file_path("/up"), Path::new("/data/store"));
        assert_eq!(site.file_path("/up/"), Path::new("/data/store/"));
        // A nested location inherits the alias of the one that gave it.
        let site = select_location(&s, "/up/deep/x");
        assert_eq!(
            site.file_path("/up/deep/x"),
            Path::new("/data/store/deep/x")
        );
        let site = select_location(&s, "/pics/x.png");
        assert_eq!(
            site.file_path("/pics/x.png"),
            Path::new("/root/pics/pics/x.png")
        );
        let site = select_location(&s, "/other");
        assert_eq!(site.file_path("/other"), Path::new("/srv/other"));
        let site = select_location(&s, "/dl/a/b.zip");
        assert_eq!(site.file_path("/dl/a/b.zip"), Path::new("/files/a/b.zip"));
        assert_eq!(site.document_root(), Path::new("/files/a/b.zip"));
        let site = select_location(&s, "/one/x");
        assert_eq!(site.file_path("/one/x"), Path::new("/files/one.txt"));
    }
}
