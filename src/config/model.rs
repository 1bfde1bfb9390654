//! The typed configuration: what the rest of the server reads. Built by the parser, never by hand
//! outside tests; every path in it is absolute (resolved against the config file's directory) and
//! every location already carries the settings it inherits from its server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::template::Template;

/// The whole configuration file.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from (for reloads and messages).
    pub path: PathBuf,
    /// Number of event-loop workers, `auto` already resolved to the number of cores.
    pub workers: usize,
    pub error_log: LogTarget,
    /// The least severe error-log messages written.
    pub error_log_level: LogLevel,
    /// In file order; at least one.
    pub servers: Vec<Server>,
    /// Legal but unsafe settings, with where they are (see `config::lint`), in file order.
    pub warnings: Vec<super::ConfigWarning>,
    /// `limit_req_zone` and `limit_conn_zone`, in file order (`config::limits`).
    pub zones: Vec<super::limits::Zone>,
    /// Every access log file, each once (`AccessLog::file` indexes it).
    pub log_files: Vec<LogTarget>,
    /// `combined` first, then every `log_format` (`AccessLog::format` indexes it).
    pub log_formats: Vec<super::observe::LogFormat>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    Stdout,
    Stderr,
    Off,
    File(PathBuf),
}

/// Severity of an error-log message, most severe first (nginx's order). A log at a level
/// keeps the messages of that level and every more severe one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Notice,
    Info,
    Debug,
}

impl LogLevel {
    pub const ALL: [(LogLevel, &'static str); 5] = [
        (LogLevel::Error, "error"),
        (LogLevel::Warn, "warn"),
        (LogLevel::Notice, "notice"),
        (LogLevel::Info, "info"),
        (LogLevel::Debug, "debug"),
    ];

    pub fn from_name(name: &str) -> Option<LogLevel> {
        LogLevel::ALL
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(level, _)| *level)
    }

    pub fn name(self) -> &'static str {
        LogLevel::ALL
            .iter()
            .find(|(level, _)| *level == self)
            .map_or("error", |(_, n)| n)
    }
}

/// One `server { }` block.
#[derive(Debug, Clone)]
pub struct Server {
    /// Every `listen`, in file order; never empty, never the same address twice.
    pub listen: Vec<SocketAddr>,
    /// The listen addresses given with `ssl` (a subset of `listen`).
    pub ssl: Vec<SocketAddr>,
    /// `ssl_certificate` and `ssl_certificate_key`, loaded; present whenever `ssl` is not empty.
    pub tls: Option<super::tls::Tls>,
    /// `server_name` values, lower-cased.
    pub server_names: Vec<String>,
    /// What the server block itself sets: used when no location matches.
    pub settings: Settings,
    /// In file order. Each carries the server's settings overridden by its own directives.
    pub locations: Vec<Location>,
}

/// One `location [=] PATH { }` block.
#[derive(Debug, Clone)]
pub struct Location {
    /// The path as written, e.g. `/uploads` or `/`.
    pub path: String,
    /// `location = PATH`: matches only that exact path.
    pub exact: bool,
    pub settings: Settings,
}

/// Everything a `server` or a `location` may set. Location values start as a copy of their
/// server's and are overridden by the location's own directives (a list directive such as
/// `error_page`, `cgi` or `index` given in a location replaces the inherited list whole).
#[derive(Debug, Clone)]
pub struct Settings {
    pub root: PathBuf,
    /// Location only.
    pub alias: Option<PathBuf>,
    pub index: Vec<String>,
    pub autoindex: bool,
    pub allow_methods: Methods,
    /// 0 means no limit.
    pub client_max_body_size: u64,
    /// (status code, URI of the page), in file order.
    pub error_pages: Vec<(u16, String)>,
    pub return_: Option<Return>,
    pub cgi: Vec<CgiHandler>,
    pub cgi_timeout: Duration,
    pub upload_store: Option<PathBuf>,
    pub keepalive_timeout: Duration,
    pub client_header_timeout: Duration,
    pub client_body_timeout: Duration,
    pub send_timeout: Duration,
    /// `add_header` lines of the nearest block that has any (nginx's inheritance), in order.
    pub add_headers: Vec<AddHeader>,
    pub expires: Expires,
    pub gzip_static: bool,
    /// `allow`/`deny`, `auth_basic`, `satisfy` (`config::access`).
    pub access: super::access::Access,
    /// `limit_req`, `limit_conn` and their statuses (`config::limits`).
    pub limits: super::limits::Limits,
    /// `stub_status`, `metrics` (`config::observe`).
    pub observe: super::observe::Observe,
}

impl Settings {
    /// The defaults of the contract, with `root` = `www` next to the config file.
    pub fn defaults(config_dir: &std::path::Path) -> Settings {
        Settings {
            root: config_dir.join("www"),
            alias: None,
            index: vec!["index.html".to_string()],
            autoindex: false,
            allow_methods: Methods::GET.union(Methods::HEAD),
            client_max_body_size: 1024 * 1024,
            error_pages: Vec::new(),
            return_: None,
            cgi: Vec::new(),
            cgi_timeout: Duration::from_secs(30),
            upload_store: None,
            keepalive_timeout: Duration::from_secs(75),
            client_header_timeout: Duration::from_secs(60),
            client_body_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(60),
            add_headers: Vec::new(),
            expires: Expires::Off,
            gzip_static: false,
            access: Default::default(),
            limits: Default::default(),
            observe: Default::default(),
        }
    }

    /// The configured error page URI for `status`, if any.
    pub fn error_page(&self, status: u16) -> Option<&str> {
        self.error_pages
            .iter()
            .find(|(code, _)| *code == status)
            .map(|(_, uri)| uri.as_str())
    }

    /// The CGI handler for a file name, matched on its extension (`.py`).
    pub fn cgi_for(&self, file_name: &str) -> Option<&CgiHandler> {
        self.cgi.iter().find(|h| {
            file_name.len() > h.extension.len() && file_name.ends_with(h.extension.as_str())
        })
    }
}

/// `return CODE [URL | TEXT];`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Return {
    pub code: u16,
    /// The URL for 301/302/303/307/308, otherwise the body text (may be absent); either may
    /// hold variables.
    pub target: Option<Template>,
}

/// `add_header NAME VALUE [always];`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddHeader {
    pub name: String,
    pub value: String,
    /// Added to every response, not only to the successful and redirect ones.
    pub always: bool,
}

/// `expires`: the Expires and Cache-Control fields given to successful responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expires {
    Off,
    /// `expires epoch`: expired long ago, `no-cache`.
    Epoch,
    /// `expires max`: far in the future (31 Dec 2037), ten years of `max-age`.
    Max,
    /// `expires [-]DURATION`, in seconds: `max-age=N`, or `no-cache` when negative.
    Seconds(i64),
}

/// `cgi .EXT [INTERPRETER];`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgiHandler {
    /// With its dot: `.py`.
    pub extension: String,
    /// None: the script is executed directly.
    pub interpreter: Option<PathBuf>,
}

/// A set of request methods (`allow_methods`). HEAD is implied by GET when checking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Methods(u8);

impl Methods {
    pub const GET: Methods = Methods(1);
    pub const HEAD: Methods = Methods(2);
    pub const POST: Methods = Methods(4);
    pub const PUT: Methods = Methods(8);
    pub const DELETE: Methods = Methods(16);
    pub const NONE: Methods = Methods(0);

    /// Every method the server implements, in the order `Allow` lists them.
    pub const ALL: [(Methods, &'static str); 5] = [
        (Methods::GET, "GET"),
        (Methods::HEAD, "HEAD"),
        (Methods::POST, "POST"),
        (Methods::PUT, "PUT"),
        (Methods::DELETE, "DELETE"),
    ];

    pub const fn union(self, other: Methods) -> Methods {
        Methods(self.0 | other.0)
    }

    pub const fn without(self, other: Methods) -> Methods {
        Methods(self.0 & !other.0)
    }

    pub const fn contains(self, other: Methods) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// The method named `name` (exact, upper-case), if the server implements it.
    pub fn from_name(name: &str) -> Option<Methods> {
        Methods::ALL
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(m, _)| *m)
    }

    /// Whether a request with this method is allowed (HEAD follows GET).
    pub fn allows(self, method: Methods) -> bool {
        self.contains(method) || (method == Methods::HEAD && self.contains(Methods::GET))
    }

    /// The `Allow` header value: `GET, HEAD, POST`.
    pub fn allow_header(self) -> String {
        let mut names: Vec<&str> = Vec::new();
        for (m, name) in Methods::ALL {
            if self.allows(m) {
                names.push(name);
            }
        }
        names.join(", ")
    }
}
