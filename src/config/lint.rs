//! Warnings about configurations that are legal but unsafe: what `-t` and startup print as
//! `PATH:LINE:COL: warning: message` while the server still runs. Kept apart from errors: it
//! reads the finished [`Config`] for what each block means and the directive tree only for
//! where the responsible directive is written (its own block, else its server's).
//!
//! - `upload_store` in a directory that a location running `cgi` serves: an uploaded script
//!   could then be run (`POST /up/x.py`, then `GET /cgi/x.py`).
//! - `autoindex on` over an upload store where DELETE is allowed: anyone can list and delete
//!   every upload.
//! - `root /` or `alias /`: the whole file system is served.
//!
//! Paths are compared lexically (they are absolute and cleaned; nothing is read from disk), so
//! a symlink can hide a case; a warning is advice, not a guarantee.

use super::lexer::Pos;
use super::parser::Directive;
use super::{Config, ConfigWarning, Methods, Settings};
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
            });
        }
        lint_server(&blocks, &mut out);
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

fn lint_server(blocks: &[Block], out: &mut Vec<(Pos, String)>) {
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The warnings of `text` as `LINE:COL: message`.
    fn warnings(text: &str) -> Vec<String> {
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
}
