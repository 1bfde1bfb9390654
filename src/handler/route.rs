//! Routing: listen address and Host pick the virtual server, the path picks the location (in
//! nginx's order, nested locations included), and the location maps the path to a file.
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

use crate::config::{Location, LocationId, LocationKind, Server, Settings, prefix_matches};
use crate::http::request::Request;
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
}

/// The groups of the regular expression that chose the location, for `$1`... and `$name`.
/// One pointer when there are none (the common case costs nothing to make or move).
#[derive(Debug, Default)]
pub struct Captures<'a>(Option<Box<Groups<'a>>>);

#[derive(Debug)]
struct Groups<'a> {
    regex: &'a regex::Regex,
    /// The path the expression matched (later steps may change the request's path).
    text: String,
    locations: regex::CaptureLocations,
}

impl<'a> Captures<'a> {
    fn new(regex: &'a regex::Regex, text: &str, locations: regex::CaptureLocations) -> Self {
        Captures(Some(Box::new(Groups {
            regex,
            text: text.to_string(),
            locations,
        })))
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

/// The outcome of routing a path within a server.
pub struct Routed<'a> {
    pub site: Site<'a>,
    pub captures: Captures<'a>,
}

/// The server for `host` among the servers of one listen address (`candidates` indexes
/// `servers`, the first is the default).
pub fn select_server<'a>(
    servers: &'a [Server],
    candidates: &[usize],
    host: Option<&str>,
) -> &'a Server {
    let by_name = host.and_then(|host| {
        candidates
            .iter()
            .map(|&i| &servers[i])
            .find(|server| server.server_names.iter().any(|name| name == host))
    });
    by_name.unwrap_or(&servers[candidates[0]])
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
            let path =
                PathBuf::from(template.expand(|v, out| super::vars::capture(v, captures, out)));
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
    pub fn document_root(&self) -> PathBuf {
        match (&self.expanded_alias, &self.settings.alias) {
            (Some(expanded), _) => expanded.clone(),
            (None, Some(alias)) => alias.clone(),
            (None, None) => self.settings.root.clone(),
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

    fn server(names: &[&str]) -> Server {
        let mut s = parse("");
        s.server_names = names.iter().map(|n| n.to_string()).collect();
        s
    }

    #[test]
    fn host_selects_the_named_server_and_unknown_hosts_get_the_first() {
        let servers = vec![server(&["a.test"]), server(&["b.test", "c.test"])];
        let pick = |host| select_server(&servers, &[0, 1], host).server_names[0].clone();
        assert_eq!(pick(Some("c.test")), "b.test");
        assert_eq!(pick(Some("a.test")), "a.test");
        assert_eq!(pick(Some("zzz")), "a.test");
        assert_eq!(pick(None), "a.test");
        assert_eq!(
            select_server(&servers, &[1, 0], None).server_names[0],
            "b.test"
        );
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
