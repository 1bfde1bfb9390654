//! Warnings about configurations that are legal but unsafe: what `-t` and startup print as
//! `PATH:LINE:COL: warning: message` while the server still runs. Kept apart from errors: it
//! reads the finished [`Config`] for what each block means and the directive tree only for
//! where the responsible directive is written (its own block, else its server's).
//!
//! - `upload_store` in a directory that a location running `cgi` serves: an uploaded script
//!   could then be run (`POST /up/x.py`, then `GET /cgi/x.py`).
//! - `autoindex on` over an upload store where DELETE is allowed: anyone can list and delete
//!   every upload (not said of a server that listens on loopback addresses only, where
//!   "anyone" is a user of this machine: the demo site's case).
//! - `root /` or `alias /`: the whole file system is served.
//!
//! Paths are compared lexically (they are absolute and cleaned), so a symlink can hide a case;
//! a warning is advice, not a guarantee.
//!
//! And what will fail at run time, asked of the file system as the user running the check
//! (the server's own user when it starts): a `root` or `alias` written in the file that does
//! not exist or cannot be read, an `upload_store` that does not exist or cannot be written,
//! and a directory whose `index` files are none of them there (without `autoindex` or
//! `try_files`, a request for it gets 403).

use super::directive::ConfigWarning;
use super::directive::Directive;
use super::lexer::Pos;
use super::model::{Config, Methods, Settings};
use std::path::{Path, PathBuf};

/// One server or location block: what it means and where its directives are.
struct Block<'a> {
    /// `server`, or `location /x` / `location = /x`.
    what: String,
    settings: &'a Settings,
    /// The block's own directives, then its server's (looked up in that order).
    own: &'a [Directive],
    server: &'a [Directive],
    /// The directory (or file) its URLs map onto: the alias, or root + location path.
    serves: PathBuf,
    /// No request is answered by this block's own settings: a server with `location /`, where
    /// every request finds a location.
    unreached: bool,
}

impl Block<'_> {
    /// Where the directive that gives this block its `name` setting is written.
    fn position(&self, name: &str) -> Option<Pos> {
        let find = |block: &[Directive]| {
            block
                .iter()
                .find(|d| d.name.text == name)
                .map(|d| d.name.pos)
        };
        find(self.own).or_else(|| find(self.server))
    }
}

/// The warnings for `config`, parsed from `tree`; in file order, each once.
pub(super) fn lint(tree: &[Directive], config: &Config) -> Vec<ConfigWarning> {
    let mut out: Vec<(Pos, String)> = Vec::new();
    let server_blocks = tree.iter().filter(|d| d.name.text == "server");
    for (directive, server) in server_blocks.zip(&config.servers) {
        let body = directive.block.as_deref().unwrap_or_default();
        let mut blocks = vec![Block {
            what: "server".to_string(),
            settings: &server.settings,
            own: body,
            server: body,
            serves: server.settings.root.clone(),
            unreached: server
                .locations
                .iter()
                .any(|l| l.is_prefix() && l.path == "/"),
        }];
        // Pre-order, as the parser lists a server's locations (a block before those inside).
        let mut location_blocks = Vec::new();
        let mut stack: Vec<&Directive> = body
            .iter()
            .filter(|d| d.name.text == "location")
            .rev()
            .collect();
        while let Some(d) = stack.pop() {
            location_blocks.push(d);
            let inner = d.block.as_deref().unwrap_or_default();
            stack.extend(inner.iter().filter(|d| d.name.text == "location").rev());
        }
        for (directive, location) in location_blocks.into_iter().zip(&server.locations) {
            let settings = &location.settings;
            let serves = match &settings.alias {
                Some(alias) => alias.clone(),
                None if location.is_prefix() || location.is_exact() => {
                    settings.root.join(location.path.trim_start_matches('/'))
                }
                None => settings.root.clone(),
            };
            blocks.push(Block {
                what: format!("location {}", location.display()),
                settings,
                own: directive.block.as_deref().unwrap_or_default(),
                server: body,
                serves,
                unreached: false,
            });
        }
        let local_only = server.listen.iter().all(|a| a.ip().is_loopback());
        lint_server(&blocks, local_only, &mut out);
        lint_files(&blocks, &mut out);
    }
    out.sort_by_key(|(pos, _)| (pos.line, pos.col));
    out.dedup();
    out.into_iter()
        .map(|(pos, message)| ConfigWarning {
            path: PathBuf::new(),
            line: pos.line,
            col: pos.col,
            message,
        })
        .collect()
}

/// `local_only`: every listen address of the server is a loopback one.
fn lint_server(blocks: &[Block], local_only: bool, out: &mut Vec<(Pos, String)>) {
    let root = Path::new("/");
    let stores: Vec<&Path> = blocks
        .iter()
        .filter_map(|b| b.settings.upload_store.as_deref())
        .collect();
    for block in blocks {
        let settings = block.settings;
        match &settings.alias {
            Some(alias) if alias == root => {
                if let Some(pos) = block.position("alias") {
                    out.push((pos, "\"alias /\" serves the whole file system".to_string()));
                }
            }
            Some(_) => {}
            None if settings.root == root => {
                if let Some(pos) = block.position("root") {
                    out.push((pos, "\"root /\" serves the whole file system".to_string()));
                }
            }
            None => {}
        }

        if let Some(store) = &settings.upload_store
            && let Some(runner) = blocks
                .iter()
                .find(|b| !b.settings.cgi.is_empty() && store.starts_with(&b.serves))
            && let Some(pos) = block.position("upload_store")
        {
            let extensions: Vec<&str> = runner
                .settings
                .cgi
                .iter()
                .map(|h| h.extension.as_str())
                .collect();
            out.push((
                pos,
                format!(
                    "uploads stored in \"{}\" can be run as CGI scripts: {} serves that \
                     directory and runs cgi {}",
                    store.display(),
                    runner.what,
                    extensions.join(" ")
                ),
            ));
        }

        if settings.autoindex
            && !local_only
            && settings.allow_methods.contains(Methods::DELETE)
            && let Some(store) = stores
                .iter()
                .find(|s| s.starts_with(&block.serves) || block.serves.starts_with(s))
            && let Some(pos) = block.position("autoindex")
        {
            out.push((
                pos,
                format!(
                    "autoindex lists the upload store \"{}\" and DELETE is allowed in {}: \
                     anyone can list and delete every upload",
                    store.display(),
                    block.what
                ),
            ));
        }
    }
}

/// What the file system says of the paths the blocks name (see the module comment). Each
/// directive is judged once, where it is written; paths with variables are not judged.
fn lint_files(blocks: &[Block], out: &mut Vec<(Pos, String)>) {
    use rustix::fs::{Access, access};
    let readable = |path: &Path, dir: bool| {
        let mode = if dir {
            Access::READ_OK | Access::EXEC_OK
        } else {
            Access::READ_OK
        };
        access(path, mode).is_ok()
    };
    for block in blocks {
        let settings = block.settings;
        let own = |name: &str| {
            block
                .own
                .iter()
                .find(|d| d.name.text == name)
                .map(|d| d.name.pos)
        };
        let served = match (&settings.alias, own("alias"), own("root")) {
            (Some(alias), Some(pos), _) if settings.alias_template.is_none() => {
                Some((alias, pos, "alias"))
            }
            (None, _, Some(pos)) => Some((&settings.root, pos, "root")),
            _ => None,
        };
        if let Some((path, pos, name)) = served {
            match std::fs::metadata(path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => out.push((
                    pos,
                    format!(
                        "{name} \"{}\" does not exist: what {} serves will be 404",
                        path.display(),
                        block.what
                    ),
                )),
                Err(e) => out.push((
                    pos,
                    format!("{name} \"{}\" cannot be looked at: {e}", path.display()),
                )),
                Ok(m) if !readable(path, m.is_dir()) => out.push((
                    pos,
                    format!(
                        "{name} \"{}\" cannot be read by this user: what {} serves will be 403",
                        path.display(),
                        block.what
                    ),
                )),
                Ok(_) => {}
            }
        }
        if let (Some(store), Some(pos)) = (&settings.upload_store, own("upload_store")) {
            let problem = match std::fs::metadata(store) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("does not exist"),
                Err(_) => Some("cannot be looked at"),
                Ok(m) if !m.is_dir() => Some("is not a directory"),
                Ok(_) if access(store, Access::WRITE_OK | Access::EXEC_OK).is_err() => {
                    Some("cannot be written by this user")
                }
                Ok(_) => None,
            };
            if let Some(problem) = problem {
                out.push((
                    pos,
                    format!(
                        "upload_store \"{}\" {problem}: every upload to {} will fail with 500",
                        store.display(),
                        block.what
                    ),
                ));
            }
        }
        lint_index(block, out);
    }
}

/// A block that serves a directory whose `index` files are none of them in it, with no
/// `autoindex` and no `try_files` or rewrite program to do otherwise.
fn lint_index(block: &Block, out: &mut Vec<(Pos, String)>) {
    let settings = block.settings;
    let own_pos = |name: &str| {
        block
            .own
            .iter()
            .find(|d| d.name.text == name)
            .map(|d| d.name.pos)
    };
    let Some(pos) = own_pos("index")
        .or_else(|| own_pos("root"))
        .or_else(|| own_pos("alias"))
    else {
        return;
    };
    let maps_a_directory = block.what == "server"
        || block.what.starts_with("location /")
        || block.what.starts_with("location ^~ /");
    if !maps_a_directory
        || block.unreached
        || settings.autoindex
        || settings.try_files.is_some()
        || !settings.rewrites.is_empty()
        || !settings.cgi.is_empty()
        || settings.index.is_empty()
        || settings
            .index
            .iter()
            .any(|i| i.contains('/') || i.contains('$'))
        || block.serves == Path::new("/")
        || !block.serves.is_dir()
        // A directory the server cannot look into has its own warning (at root or alias).
        || rustix::fs::access(&block.serves, rustix::fs::Access::EXEC_OK).is_err()
    {
        return;
    }
    if settings.index.iter().any(|i| block.serves.join(i).exists()) {
        return;
    }
    out.push((
        pos,
        format!(
            "no index file ({}) in \"{}\": a request for {} will get 403 (add one, or \
             autoindex on)",
            settings.index.join(" "),
            block.serves.display(),
            match block.what.strip_prefix("location ") {
                Some(path) => path.trim_start_matches("^~ ").to_string(),
                None => "/".to_string(),
            }
        ),
    ));
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Whether a warning is about the file system (what the paths of these tests, which do
    /// not exist, always get).
    fn about_files(message: &str) -> bool {
        [
            "does not exist",
            "cannot be read by this user",
            "cannot be written by this user",
            "cannot be looked at",
            "is not a directory",
            "no index file",
        ]
        .iter()
        .any(|m| message.contains(m))
    }

    /// The warnings of `text` as `LINE:COL: message`, but those about the file system.
    fn warnings(text: &str) -> Vec<String> {
        all_warnings(text)
            .into_iter()
            .filter(|w| !about_files(w))
            .collect()
    }

    /// Every warning of `text` as `LINE:COL: message`.
    fn all_warnings(text: &str) -> Vec<String> {
        let config = super::super::parse(text, Path::new("/etc/webserv/site.conf"))
            .unwrap_or_else(|e| panic!("{text}\n=> {e}"));
        for w in &config.warnings {
            assert_eq!(w.path, Path::new("/etc/webserv/site.conf"));
            assert!(w.to_string().starts_with(&format!(
                "/etc/webserv/site.conf:{}:{}: warning: ",
                w.line, w.col
            )));
        }
        config
            .warnings
            .iter()
            .map(|w| format!("{}:{}: {}", w.line, w.col, w.message))
            .collect()
    }

    #[test]
    fn a_safe_configuration_has_no_warnings() {
        let text = "server {\n listen 80;\n root /srv/www;\n \
                    location /up { upload_store /srv/store; allow_methods GET POST DELETE; }\n \
                    location /list { autoindex on; }\n \
                    location /cgi-bin { cgi .py; }\n}\n";
        assert_eq!(warnings(text), Vec::<String>::new());
    }

    #[test]
    fn an_upload_store_served_by_a_cgi_location_is_a_warning_at_the_upload_store() {
        let text = "server {\n listen 80;\n root /srv/www;\n \
                    location /up {\n  cgi .py python3;\n  cgi .php;\n  \
                    upload_store /srv/www/up;\n  allow_methods GET POST;\n }\n}\n";
        assert_eq!(
            warnings(text),
            vec![
                "7:3: uploads stored in \"/srv/www/up\" can be run as CGI scripts: location \
                 /up serves that directory and runs cgi .py .php"
            ]
        );
    }

    #[test]
    fn the_cgi_may_be_in_another_location_or_the_server_and_aliases_count() {
        let other = "server {\n listen 80;\n location /cgi { alias /srv/scripts; cgi .sh; }\n \
                     location /up { upload_store /srv/scripts/incoming; }\n}\n";
        assert_eq!(
            warnings(other),
            vec![
                "4:17: uploads stored in \"/srv/scripts/incoming\" can be run as CGI scripts: \
                 location /cgi serves that directory and runs cgi .sh"
            ]
        );
        let server_wide = "server {\n listen 80;\n root /srv/www;\n cgi .py;\n \
                           upload_store /srv/www/files;\n}\n";
        assert_eq!(
            warnings(server_wide),
            vec![
                "5:2: uploads stored in \"/srv/www/files\" can be run as CGI scripts: server \
                 serves that directory and runs cgi .py"
            ]
        );
    }

    #[test]
    fn autoindex_over_an_upload_store_with_delete_is_a_warning_at_autoindex() {
        let text = "server {\n listen 80;\n location /up {\n  alias /srv/up;\n  \
                    upload_store /srv/up;\n  autoindex on;\n  \
                    allow_methods GET POST DELETE;\n }\n}\n";
        assert_eq!(
            warnings(text),
            vec![
                "6:3: autoindex lists the upload store \"/srv/up\" and DELETE is allowed in \
                 location /up: anyone can list and delete every upload"
            ]
        );
        // Without DELETE, or without autoindex, it is fine.
        assert!(warnings(&text.replace(" DELETE", "")).is_empty());
        assert!(warnings(&text.replace("autoindex on", "autoindex off")).is_empty());
        // So it is on loopback addresses only (no other machine reaches it); one public
        // address among them is enough for the warning.
        assert!(
            warnings(&text.replace("listen 80;", "listen 127.0.0.1:80; listen [::1]:80;"))
                .is_empty()
        );
        assert_eq!(
            warnings(&text.replace("listen 80;", "listen 127.0.0.1:80; listen 8080;")).len(),
            1
        );
    }

    #[test]
    fn root_or_alias_slash_is_a_warning_once_at_the_directive() {
        let text = "server {\n listen 80;\n root /;\n location /a { }\n \
                    location /b { alias /; }\n}\n";
        assert_eq!(
            warnings(text),
            vec![
                "3:2: \"root /\" serves the whole file system",
                "5:16: \"alias /\" serves the whole file system",
            ]
        );
        // A relative path that climbs to / counts too.
        let climbing = "server { listen 80; root ../../../../../../..; }";
        assert_eq!(
            warnings(climbing),
            vec!["1:21: \"root /\" serves the whole file system"]
        );
    }

    /// A fresh directory for the file-system warnings; removed on drop.
    struct Dir(std::path::PathBuf);

    impl Dir {
        fn new(tag: &str) -> Dir {
            let dir =
                std::env::temp_dir().join(format!("webserv-lint-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn paths_that_will_fail_at_run_time_are_warnings_at_their_directive() {
        let dir = Dir::new("paths");
        let d = dir.0.display().to_string();
        std::fs::create_dir_all(dir.0.join("www/empty")).unwrap();
        std::fs::write(dir.0.join("www/index.html"), "x").unwrap();
        std::fs::write(dir.0.join("a-file"), "x").unwrap();
        let text = format!(
            "server {{\n listen 80;\n root {d}/www;\n \
             location /gone {{ alias {d}/missing; }}\n \
             location /up {{ upload_store {d}/nowhere; }}\n \
             location /up2 {{ upload_store {d}/a-file; }}\n \
             location /empty {{ index a.html b.html; }}\n \
             location /listed {{ root {d}/www/empty; autoindex on; }}\n \
             location /spa {{ root {d}/www/empty; try_files $uri /index.html; }}\n}}\n"
        );
        assert_eq!(
            all_warnings(&text),
            [
                format!(
                    "4:19: alias \"{d}/missing\" does not exist: what location /gone serves \
                     will be 404"
                ),
                format!(
                    "5:17: upload_store \"{d}/nowhere\" does not exist: every upload to location \
                     /up will fail with 500"
                ),
                format!(
                    "6:18: upload_store \"{d}/a-file\" is not a directory: every upload to \
                     location /up2 will fail with 500"
                ),
                format!(
                    "7:20: no index file (a.html b.html) in \"{d}/www/empty\": a request for \
                     /empty will get 403 (add one, or autoindex on)"
                ),
            ]
        );
    }

    #[test]
    fn a_server_whose_location_slash_takes_every_request_is_not_told_of_its_index() {
        let dir = Dir::new("reached");
        let d = dir.0.display().to_string();
        std::fs::create_dir_all(dir.0.join("www")).unwrap();
        // No index.html: the server's own settings never answer (location / does); the same
        // server without that location is warned.
        let with = format!("server {{ listen 80; root {d}/www; location / {{ return 302 /x; }} }}");
        assert_eq!(all_warnings(&with), Vec::<String>::new());
        let without = format!("server {{ listen 80; root {d}/www; location /a {{ }} }}");
        assert_eq!(
            all_warnings(&without),
            [format!(
                "1:21: no index file (index.html) in \"{d}/www\": a request for / will get 403 \
                 (add one, or autoindex on)"
            )]
        );
    }
}
