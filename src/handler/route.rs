//! Routing: listen address and Host pick the virtual server, the path picks the location, and
//! the location maps the path to a file.

use crate::config::{Location, Server, Settings};
use std::path::PathBuf;

/// Where a request landed: its server, its location (if any) and the settings in force.
#[derive(Clone, Copy)]
pub struct Site<'a> {
    pub server: &'a Server,
    pub location: Option<&'a Location>,
    pub settings: &'a Settings,
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

/// Whether a prefix location matches `path`. Prefixes match whole path segments: `/img`
/// matches `/img` and `/img/a.png`, not `/images`, so an `alias` can never be extended into a
/// sibling directory (`/img../` style escapes are impossible).
fn prefix_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// The location for `path`: an exact (`=`) match first, then the longest matching prefix.
pub fn select_location<'a>(server: &'a Server, path: &str) -> Site<'a> {
    let exact = server.locations.iter().find(|l| l.exact && l.path == path);
    let location = exact.or_else(|| {
        server
            .locations
            .iter()
            .filter(|l| !l.exact && prefix_matches(&l.path, path))
            .max_by_key(|l| l.path.len())
    });
    Site {
        server,
        location,
        settings: location.map_or(&server.settings, |l| &l.settings),
    }
}

impl Site<'_> {
    /// The file a (normalised) request path maps to: `root` + the whole path, or `alias` + the
    /// part after the location prefix. The path has no `..` segments, so the result stays below
    /// the root or alias.
    ///
    /// The location's own path maps to the alias itself (no trailing `/` added), so an alias
    /// naming a regular file serves that file, as in nginx; anything below it (`/doc/x`) maps
    /// below the file, which the file system answers with ENOTDIR: a 404.
    pub fn file_path(&self, path: &str) -> PathBuf {
        match (&self.settings.alias, self.location) {
            (Some(alias), Some(location)) if !location.exact || path == location.path => {
                let rest = path.strip_prefix(location.path.as_str()).unwrap_or("");
                if rest.is_empty() {
                    return alias.clone();
                }
                alias.join(rest.trim_start_matches('/'))
            }
            _ => self.settings.root.join(path.trim_start_matches('/')),
        }
    }

    /// The path relative to what the location maps (for names of uploaded files: the part of
    /// the path after the location prefix).
    pub fn path_in_location<'p>(&self, path: &'p str) -> &'p str {
        match self.location {
            Some(location) if !location.exact => {
                path.strip_prefix(location.path.as_str()).unwrap_or(path)
            }
            _ => path,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use std::path::Path;

    fn location(path: &str, exact: bool, alias: Option<&str>) -> Location {
        let mut settings = Settings::defaults(Path::new("/srv"));
        settings.alias = alias.map(PathBuf::from);
        settings.root = PathBuf::from(format!("/root{path}"));
        Location {
            path: path.to_string(),
            exact,
            settings,
        }
    }

    fn server(names: &[&str], locations: Vec<Location>) -> Server {
        Server {
            listen: vec!["127.0.0.1:80".parse().unwrap()],
            ssl: Vec::new(),
            proxy_protocol: Vec::new(),
            tls: None,
            server_names: names.iter().map(|n| n.to_string()).collect(),
            settings: Settings::defaults(Path::new("/srv")),
            locations,
        }
    }

    #[test]
    fn host_selects_the_named_server_and_unknown_hosts_get_the_first() {
        let servers = vec![
            server(&["a.test"], vec![]),
            server(&["b.test", "c.test"], vec![]),
        ];
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
        let s = server(
            &[],
            vec![
                location("/", false, None),
                location("/img", false, None),
                location("/img/big", false, None),
                location("/img/logo.png", true, None),
                location("/dir/", false, None),
            ],
        );
        let pick = |path| {
            select_location(&s, path)
                .location
                .map(|l| (l.path.clone(), l.exact))
        };
        assert_eq!(pick("/img/logo.png"), Some(("/img/logo.png".into(), true)));
        assert_eq!(pick("/img/a.png"), Some(("/img".into(), false)));
        assert_eq!(pick("/img"), Some(("/img".into(), false)));
        assert_eq!(pick("/images"), Some(("/".into(), false)));
        assert_eq!(pick("/img/big/x"), Some(("/img/big".into(), false)));
        assert_eq!(pick("/dir/x"), Some(("/dir/".into(), false)));
        assert_eq!(pick("/dir"), Some(("/".into(), false)));
        let bare = server(&[], vec![location("/x", false, None)]);
        assert!(select_location(&bare, "/y").location.is_none());
    }

    #[test]
    fn root_keeps_the_whole_path_and_alias_replaces_the_prefix() {
        let s = server(
            &[],
            vec![
                location("/up", false, Some("/data/store")),
                location("/pics", false, None),
            ],
        );
        let site = select_location(&s, "/up/a/b.txt");
        assert_eq!(
            site.file_path("/up/a/b.txt"),
            Path::new("/data/store/a/b.txt")
        );
        assert_eq!(site.file_path("/up"), Path::new("/data/store"));
        assert_eq!(site.file_path("/up/"), Path::new("/data/store/"));
        let site = select_location(&s, "/pics/x.png");
        assert_eq!(
            site.file_path("/pics/x.png"),
            Path::new("/root/pics/pics/x.png")
        );
        let site = select_location(&s, "/other");
        assert_eq!(site.file_path("/other"), Path::new("/srv/www/other"));
    }
}
