//! Configuration: the nginx-flavoured file format (lexer, parser) and the typed model it yields.
//!
//! [`load`] reads a file, [`parse`] a text; both give a [`Config`] whose paths are absolute and
//! whose locations already carry what they inherit, or a [`ConfigError`] that prints as
//! `PATH:LINE:COL: message`. A configuration that is legal but unsafe also carries
//! [`ConfigWarning`]s (`lint`), which print as `PATH:LINE:COL: warning: message`. The file may
//! `include` others (`include`); every position names the file it is in.

mod access;
mod acme;
mod adapt;
mod compress;
mod directive;
mod fastcgi;
mod htpasswd;
mod include;
mod lexer;
mod limits;
mod lint;
mod listen;
mod model;
mod names;
mod nginx;
mod observe;
mod parser;
#[cfg(test)]
mod props;
pub mod proxy;
mod realip;
mod rewrite;
mod table;
mod template;
mod types;
mod vars;

pub use crate::pki::tls::{ClientAuth, Tls, VerifyClient};
pub use access::{Access, Net, Rule, Satisfy, UserFile};
pub use acme::{AccountKeySpec, AcmeCertificate, AcmeIssuer, CertKey, ChallengeKind};
pub use compress::{
    BROTLI_MAX_ON_THE_FLY, Coder, Compress, Patterns, Proxied, Static, Types, ZSTD_MAX_ON_THE_FLY,
    essence,
};
pub use directive::ConfigWarning;
pub use htpasswd::{Hash, User};
#[cfg(test)]
pub(crate) use lexer::Pos;
pub use limits::{LimitConn, LimitReq, Limits, Zone, ZoneKind};
pub use model::*;
pub use names::{ServerName, name_rank};
pub use observe::{
    AccessLog, Escape, LogFormat, LogLevel, LogTarget, Observe, SiteLogs, StatusPage,
};
pub use parser::MAX_ERRORS;
pub use realip::{Cidr, RealIp, RealIpHeader};
pub use rewrite::{Action, Return, Rewrite, RewriteFlag};
pub use template::{Template, TemplateError, Variable};
/// `types { }` (`compress::Types` is the `gzip_types` family's).
pub use types::Types as MimeTypes;
pub use vars::{Piece, Var};

use std::fmt;
use std::path::{Path, PathBuf};

/// A configuration that cannot be used, and where in which file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The path as given to [`load`] or [`parse`].
    pub path: PathBuf,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub col: usize,
    pub message: String,
    /// The other errors found in the same reading, in the order found (see [`MAX_ERRORS`]).
    pub also: Vec<ConfigError>,
    /// There were more errors than [`MAX_ERRORS`]: the reading stopped.
    pub truncated: bool,
}

impl fmt::Display for ConfigError {
    /// One `PATH:LINE:COL: message` line per error.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path.display(),
            self.line,
            self.col,
            self.message
        )?;
        for other in &self.also {
            write!(f, "\n{other}")?;
        }
        if self.truncated {
            write!(
                f,
                "\n{}: stopped after {MAX_ERRORS} errors",
                self.path.display()
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Reads and parses the file at `path`. A file that cannot be read (or is not UTF-8) is reported
/// at 1:1 with the I/O error (at the first bad byte for invalid UTF-8).
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let error = |line, col, message| ConfigError {
        path: path.to_path_buf(),
        line,
        col,
        message,
        also: Vec::new(),
        truncated: false,
    };
    let cannot_read =
        |e: &dyn fmt::Display| error(1, 1, format!("cannot read the configuration file: {e}"));
    // Only a regular file of a bounded size (`-t /dev/zero` must not read forever).
    let metadata = std::fs::metadata(path).map_err(|e| cannot_read(&e))?;
    if !metadata.is_file() {
        return Err(cannot_read(&"not a regular file"));
    }
    if metadata.len() > include::MAX_FILE_SIZE {
        return Err(cannot_read(&format_args!(
            "larger than {} MiB",
            include::MAX_FILE_SIZE >> 20
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| cannot_read(&e))?;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let (line, col) =
                include::utf8_error_position(e.as_bytes(), e.utf8_error().valid_up_to());
            return Err(error(line, col, "invalid UTF-8".to_string()));
        }
    };
    parse(&text, path)
}

/// Parses `text` as the configuration file at `path`: `path` is named in errors and its directory
/// is what relative paths in the text are relative to (made absolute with the current directory,
/// not canonicalised, not checked for existence). `Config::path` is `path` made absolute.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let absolute = absolute(path).map_err(|e| ConfigError {
        path: path.to_path_buf(),
        line: 1,
        col: 1,
        message: format!("cannot determine the current directory: {e}"),
        also: Vec::new(),
        truncated: false,
    })?;
    let dir = absolute
        .parent()
        .map_or_else(|| absolute.clone(), Path::to_path_buf);
    let mut config = located(parser::parse(text, path, &dir))?;
    config.path = absolute;
    Ok(config)
}

/// The configuration with its warnings' positions named by file, or its errors so named (the
/// one found first first, at most [`MAX_ERRORS`]).
fn located(parsed: parser::Parsed) -> Result<Config, ConfigError> {
    let sources = &parsed.sources;
    match parsed.config {
        Ok(mut config) => {
            for warning in &mut config.warnings {
                if warning.path.as_os_str().is_empty() {
                    let (file, line) = sources.locate(warning.line);
                    warning.path = file.to_path_buf();
                    warning.line = line;
                }
            }
            Ok(config)
        }
        Err(errors) => {
            let mut errors = errors.into_iter().map(|e| {
                // An error in another kind of file (a user file) already names it.
                let (file, line) = match &e.file {
                    Some(file) => (file.as_path(), e.pos.line),
                    None => sources.locate(e.pos.line),
                };
                ConfigError {
                    path: file.to_path_buf(),
                    line,
                    col: e.pos.col,
                    message: e.message,
                    also: Vec::new(),
                    truncated: false,
                }
            });
            let Some(mut first) = errors.next() else {
                // An empty list is never made; say so rather than accept.
                return Err(ConfigError {
                    path: sources.locate(1).0.to_path_buf(),
                    line: 1,
                    col: 1,
                    message: "invalid configuration".to_string(),
                    also: Vec::new(),
                    truncated: false,
                });
            };
            first.also = errors.by_ref().take(MAX_ERRORS - 1).collect();
            first.truncated = errors.next().is_some();
            Err(first)
        }
    }
}

/// `path` joined to the current directory if relative, with `.` components dropped (`..` kept:
/// this is not canonicalisation).
fn absolute(path: &Path) -> std::io::Result<PathBuf> {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    };
    Ok(directive::clean(&joined))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_print_as_path_line_col_message() {
        let e = ConfigError {
            path: PathBuf::from("conf/x.conf"),
            line: 3,
            col: 7,
            message: "unknown directive \"foo\"".to_string(),
            also: Vec::new(),
            truncated: false,
        };
        assert_eq!(e.to_string(), "conf/x.conf:3:7: unknown directive \"foo\"");
    }

    #[test]
    fn parse_errors_name_the_path_as_given() {
        let e = parse("server { listen 80; foo; }", Path::new("rel/dir/w.conf"))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("rel/dir/w.conf:1:21: unknown directive \"foo\"")
        );
    }

    #[test]
    fn a_relative_config_path_resolves_against_the_current_directory() {
        let cwd = std::env::current_dir().unwrap();
        let config = parse(
            "server { listen 80; root ../site; }",
            Path::new("./conf/w.conf"),
        )
        .unwrap();
        assert_eq!(config.path, cwd.join("conf/w.conf"));
        assert_eq!(config.servers[0].settings.root, cwd.join("site"));
        assert!(config.servers[0].settings.root.is_absolute());

        let bare = parse("server { listen 80; }", Path::new("w.conf")).unwrap();
        assert_eq!(bare.servers[0].settings.root, cwd.join("www"));
    }

    #[test]
    fn load_reads_the_file_and_resolves_paths_next_to_it() {
        let dir = std::env::temp_dir().join(format!("webserv-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("site.conf");
        std::fs::write(&file, "server {\n  listen 127.0.0.1:0;\n  root html;\n}\n").unwrap();
        let config = load(&file).unwrap();
        assert_eq!(config.path, file);
        assert_eq!(config.servers[0].settings.root, dir.join("html"));

        std::fs::write(&file, b"# caf\xc3\xa9\nserver { listen 80; }\n  x\xff\n").unwrap();
        let e = load(&file).err().unwrap();
        assert_eq!((e.line, e.col, e.message.as_str()), (3, 4, "invalid UTF-8"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unreadable_file_is_reported_at_1_1_with_the_io_error() {
        let path = Path::new("/nonexistent/webserv/missing.conf");
        let e = load(path).err().unwrap();
        assert_eq!((e.line, e.col), (1, 1));
        assert!(
            e.to_string().starts_with(
                "/nonexistent/webserv/missing.conf:1:1: cannot read the configuration file: "
            ),
            "{e}"
        );
    }
}
