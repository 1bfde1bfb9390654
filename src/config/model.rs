//! The typed configuration: what the rest of the server reads. Built by the parser, never by hand
//! outside tests; every path in it is absolute (resolved against the config file's directory) and
//! every location already carries the settings it inherits from its server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::directive::ConfigWarning;
use super::observe::{LogLevel, LogTarget};
use super::template::Template;
use crate::http::request::Method;

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
    /// `acme_issuer` blocks, in file order.
    pub acme_issuers: Vec<super::acme::AcmeIssuer>,
    /// `upstream` blocks in file order, then the groups `proxy_pass HOST:PORT` makes; each
    /// one's `id` is its index here.
    pub upstreams: Vec<std::sync::Arc<super::proxy::model::Upstream>>,
    /// `map` blocks in file order (what `ProxyVariable::Map` indexes).
    pub maps: Vec<super::proxy::value::Map>,
    /// Legal but unsafe settings, with where they are (see `config::lint`), in file order.
    pub warnings: Vec<ConfigWarning>,
    /// `limit_req_zone` and `limit_conn_zone`, in file order (`config::limits`).
    pub zones: Vec<super::limits::Zone>,
    /// Every access log file, each once (`AccessLog::file` indexes it).
    pub log_files: Vec<LogTarget>,
    /// `combined` first, then every `log_format` (`AccessLog::format` indexes it).
    pub log_formats: Vec<super::observe::LogFormat>,
}

/// One `server { }` block.
#[derive(Debug, Clone)]
pub struct Server {
    /// Every `listen`, in file order; never empty, never the same address twice.
    pub listen: Vec<SocketAddr>,
    /// The listen addresses given with `ssl` (a subset of `listen`).
    pub ssl: Vec<SocketAddr>,
    /// The listen addresses given with `proxy_protocol` (a subset of `listen`).
    pub proxy_protocol: Vec<SocketAddr>,
    /// `ssl_certificate` and `ssl_certificate_key`, loaded; present whenever `ssl` is not empty
    /// and there is no `acme_certificate`.
    pub tls: Option<crate::pki::tls::Tls>,
    /// `acme_certificate`: the certificate is obtained and renewed by the server itself.
    pub acme: Option<super::acme::AcmeCertificate>,
    /// `ssl_verify_client` (other than `off`) with its roots and depth.
    pub client_auth: Option<std::sync::Arc<crate::pki::tls::ClientAuth>>,
    /// `server_name` values as written, lower-cased (but regular expressions, `~` kept, as
    /// written; `$hostname` the machine's name).
    pub server_names: Vec<String>,
    /// The names, read: what a request's Host is matched against (`site::route`).
    pub names: Vec<super::names::ServerName>,
    /// The addresses on which this server is the default (`listen ... default_server`).
    pub default_server: Vec<SocketAddr>,
    /// `http2 on | off;` as written (None: not written). What an address speaks is decided by
    /// its default server: see [`Server::http2_on`].
    pub http2: Option<bool>,
    /// What the server block itself sets: used when no location matches.
    pub settings: Settings,
    /// Every location of the server, nested ones included, in file order (a block before the
    /// blocks nested in it). Each carries the settings it inherits, overridden by its own
    /// directives. [`LocationId`]s index this list.
    pub locations: Vec<Location>,
    /// The locations written directly in the server block, in file order.
    pub top_locations: Vec<LocationId>,
    /// Some prefix or exact location named with a final `/` passes its requests to a backend
    /// (`fastcgi_pass`): the path without that slash may get nginx's redirect to it
    /// (`site::route::auto_redirect`).
    pub auto_redirect: bool,
}

/// Whether a prefix location's `prefix` matches `path`. Prefixes match whole path segments:
/// `/img` matches `/img` and `/img/a.png`, not `/images`, so an `alias` can never be extended
/// into a sibling directory; a prefix ending in `/` matches what starts with it.
pub fn prefix_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// A location of a server: its index in [`Server::locations`].
pub type LocationId = usize;

impl Server {
    /// Whether HTTP/2 is offered on `addr` when this server is the address's default: as
    /// written, else on for a TLS address (chosen by ALPN) and off for a plain one (where it
    /// needs the client's prior knowledge).
    pub fn http2_on(&self, addr: SocketAddr) -> bool {
        self.http2.unwrap_or_else(|| self.ssl.contains(&addr))
    }

    /// The named location `@name` (written with its `@`), if the server has it.
    pub fn named_location(&self, name: &str) -> Option<LocationId> {
        self.locations
            .iter()
            .position(|l| l.kind == LocationKind::Named && l.path == name)
    }
}

/// One `location [= | ^~ | ~ | ~*] PATH { }` or `location @NAME { }` block.
#[derive(Debug, Clone)]
pub struct Location {
    /// What follows the modifier, as written: `/uploads`, `/`, `\.php$`, `@fallback`.
    pub path: String,
    pub kind: LocationKind,
    /// The compiled expression of a `~` or `~*` location.
    pub regex: Option<regex::Regex>,
    pub settings: Settings,
    /// The locations written inside this one, in file order.
    pub nested: Vec<LocationId>,
}

/// How a location matches the request path (nginx's modifiers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocationKind {
    /// `location PREFIX`: the path and what is below it; the longest prefix wins, then the
    /// regular expressions get their turn.
    Prefix,
    /// `location ^~ PREFIX`: a prefix that, when it is the longest, is final (no regular
    /// expression is tried).
    PrefixFinal,
    /// `location = PATH`: only that path, at once.
    Exact,
    /// `location ~ REGEX`: case-sensitive regular expression, tried in file order.
    Regex,
    /// `location ~* REGEX`: case-insensitive regular expression.
    RegexCaseless,
    /// `location @NAME`: never matched by a path; the target of `try_files` and `error_page`.
    Named,
}

impl Location {
    pub fn is_exact(&self) -> bool {
        self.kind == LocationKind::Exact
    }

    /// A plain or `^~` prefix location (whose path is a prefix of the paths it serves).
    pub fn is_prefix(&self) -> bool {
        matches!(self.kind, LocationKind::Prefix | LocationKind::PrefixFinal)
    }

    pub fn is_regex(&self) -> bool {
        matches!(self.kind, LocationKind::Regex | LocationKind::RegexCaseless)
    }

    /// The location as written after `location`: `= /x`, `^~ /a`, `~* \.png$`, `/b`, `@n`.
    pub fn display(&self) -> String {
        self.kind.display(&self.path)
    }
}

impl LocationKind {
    /// A location of this kind and path as written after `location`.
    pub fn display(self, path: &str) -> String {
        let modifier = match self {
            LocationKind::Prefix | LocationKind::Named => "",
            LocationKind::PrefixFinal => "^~ ",
            LocationKind::Exact => "= ",
            LocationKind::Regex => "~ ",
            LocationKind::RegexCaseless => "~* ",
        };
        format!("{modifier}{path}")
    }
}

/// Everything a `server` or a `location` may set. Location values start as a copy of their
/// server's and are overridden by the location's own directives (a list directive such as
/// `error_page`, `cgi` or `index` given in a location replaces the inherited list whole).
#[derive(Debug, Clone)]
pub struct Settings {
    pub root: PathBuf,
    /// Location only.
    pub alias: Option<PathBuf>,
    /// The path of the location that gave `alias` (a nested location inherits it, and the
    /// part of the request path after this prefix is what is appended to the alias).
    pub alias_prefix: String,
    /// In a regular-expression location, an `alias` with variables (`/data/$1`): the whole file
    /// path, expanded per request with the expression's groups.
    pub alias_template: Option<Template>,
    pub index: Vec<String>,
    pub autoindex: bool,
    pub allow_methods: Methods,
    /// `allow_methods` was written (in this block or one it inherits from): it is checked
    /// before `try_files`. The default is checked after it (see `handler::plan`).
    pub methods_set: bool,
    /// 0 means no limit.
    pub client_max_body_size: u64,
    /// `error_page` lines, one entry per status code, in file order.
    pub error_pages: Vec<ErrorPage>,
    /// `try_files FILE ... (URI | @NAME | =CODE)`.
    pub try_files: Option<TryFiles>,
    /// The block's own `rewrite`, `return`, `set` and `break` lines, in order: a location does
    /// not inherit them (see `config::rewrite`).
    pub rewrites: Vec<super::rewrite::Action>,
    /// `internal`: only internal redirects reach this location (a request from outside gets
    /// 404).
    pub internal: bool,
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
    /// `gzip`, `brotli`, `zstd`, their `*_static` and the rest (`config::compress`).
    pub compress: super::compress::Compress,
    /// `types { }`: the Content-Type of a file by its extension; None: the built-in table.
    pub types: Option<std::sync::Arc<super::types::Types>>,
    /// `default_type`: the Content-Type of a file that the types do not name.
    pub default_type: Option<String>,
    /// `set_real_ip_from`, `real_ip_header`, `real_ip_recursive`.
    pub real_ip: super::realip::RealIp,
    /// The `fastcgi_*` directives (`config::fastcgi`).
    pub fastcgi: FastCgi,
    /// The `proxy_*` directives (`proxy_pass` in locations only).
    pub proxy: super::proxy::model::ProxySettings,
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
            alias_prefix: String::new(),
            alias_template: None,
            index: vec!["index.html".to_string()],
            autoindex: false,
            allow_methods: Methods::GET.union(Methods::HEAD),
            methods_set: false,
            client_max_body_size: 1024 * 1024,
            error_pages: Vec::new(),
            try_files: None,
            rewrites: Vec::new(),
            internal: false,
            cgi: Vec::new(),
            cgi_timeout: Duration::from_secs(30),
            upload_store: None,
            keepalive_timeout: Duration::from_secs(75),
            client_header_timeout: Duration::from_secs(60),
            client_body_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(60),
            add_headers: Vec::new(),
            expires: Expires::Off,
            compress: Default::default(),
            types: None,
            default_type: None,
            real_ip: super::realip::RealIp::default(),
            fastcgi: FastCgi::default(),
            proxy: super::proxy::model::ProxySettings::default(),
            access: Default::default(),
            limits: Default::default(),
            observe: Default::default(),
        }
    }

    /// The first `return` of the block's rewrite program, if it has one.
    pub fn return_(&self) -> Option<&super::rewrite::Return> {
        self.rewrites.iter().find_map(|action| match action {
            super::rewrite::Action::Return(ret) => Some(ret),
            _ => None,
        })
    }

    /// The configured error page for `status`, if any.
    pub fn error_page(&self, status: u16) -> Option<&ErrorPage> {
        self.error_pages.iter().find(|page| page.code == status)
    }

    /// The CGI handler for a file name, matched on its extension (`.py`).
    pub fn cgi_for(&self, file_name: &str) -> Option<&CgiHandler> {
        self.cgi.iter().find(|h| {
            file_name.len() > h.extension.len() && file_name.ends_with(h.extension.as_str())
        })
    }
}

/// One status of an `error_page CODE ... [=[RESPONSE]] (URI | @NAME);` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorPage {
    pub code: u16,
    /// A path on the server (`/errors/404.html`) or a named location (`@fallback`).
    pub target: String,
    pub status: ErrorPageStatus,
}

impl ErrorPage {
    /// The named location (with its `@`) the page is answered by, if it is one.
    pub fn named(&self) -> Option<&str> {
        self.target.starts_with('@').then_some(self.target.as_str())
    }
}

/// The status the answer of an `error_page` goes out with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorPageStatus {
    /// Without `=`: the status of the error (a missing page stays a 404).
    Original,
    /// `=`: the status of whatever answers the page (a script's own status).
    FromPage,
    /// `=CODE`: that status.
    Set(u16),
}

/// `try_files FILE ... LAST;`: the first FILE that exists answers, else LAST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryFiles {
    /// Paths (with variables) looked up under the root or alias; one ending in `/` must be a
    /// directory, any other must not be.
    pub files: Vec<Template>,
    pub fallback: TryFallback,
}

/// What `try_files` does when none of its files exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TryFallback {
    /// An internal redirect to this URI (`/index.php?$args`): locations are matched again.
    Uri(Template),
    /// The named location (with its `@`) answers.
    Named(String),
    /// `=CODE`: that status, with its error page.
    Code(u16),
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

    /// The set holding just `method`.
    pub fn of(method: Method) -> Methods {
        match method {
            Method::Get => Methods::GET,
            Method::Head => Methods::HEAD,
            Method::Post => Methods::POST,
            Method::Put => Methods::PUT,
            Method::Delete => Methods::DELETE,
        }
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

/// What the `fastcgi_*` directives of a block set (each inherited as nginx does; a block's own
/// `fastcgi_param` lines replace the inherited ones).
#[derive(Debug, Clone)]
pub struct FastCgi {
    /// `fastcgi_pass`: where the application listens (location only; not inherited by nested
    /// locations, as in nginx).
    /// The group (an `upstream` block, or the implicit group of an address) it names.
    pub pass: Option<std::sync::Arc<super::proxy::model::Upstream>>,
    pub params: Vec<FastCgiParam>,
    /// The CGI variables webserv writes itself that `params` replace (found once, here).
    pub replaced: crate::cgi_vars::Skip,
    /// `fastcgi_index NAME`: added to a script name ending in `/`.
    pub index: Option<String>,
    /// `fastcgi_split_path_info REGEX`: two groups, the script name and the path info.
    pub split_path_info: Option<regex::Regex>,
    /// `fastcgi_keep_conn on`: ask the application to keep the connection for the next request.
    pub keep_conn: bool,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub send_timeout: Duration,
    /// `fastcgi_intercept_errors on`: responses of 300 and more with an `error_page` get it.
    pub intercept_errors: bool,
}

impl Default for FastCgi {
    /// nginx's defaults: 60 s timeouts, no keep-alive, errors passed through.
    fn default() -> FastCgi {
        FastCgi {
            pass: None,
            params: Vec::new(),
            replaced: crate::cgi_vars::Skip::NONE,
            index: None,
            split_path_info: None,
            keep_conn: false,
            connect_timeout: Duration::from_secs(60),
            read_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(60),
            intercept_errors: false,
        }
    }
}

/// `fastcgi_param NAME VALUE [if_not_empty]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastCgiParam {
    pub name: String,
    pub value: Template,
    /// Not sent when the value is empty.
    pub if_not_empty: bool,
}
