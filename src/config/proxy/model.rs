//! The typed proxy configuration: `upstream` groups and what a location's `proxy_*` directives
//! mean once merged with what the server sets (nginx's inheritance: a value set in the location
//! wins; the list directives `proxy_set_header`, `proxy_hide_header`, `proxy_pass_header` and
//! `proxy_redirect` are taken whole from the nearest block that has any).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::super::lexer::Pos;
use super::value::{Names, Value};

/// Where a backend listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PeerAddr {
    Tcp(SocketAddr),
    /// An absolute path.
    Unix(PathBuf),
}

impl fmt::Display for PeerAddr {
    /// As nginx prints it in `$upstream_addr`: `127.0.0.1:8080`, `[::1]:8080`, `unix:/run/x`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerAddr::Tcp(addr) => write!(f, "{addr}"),
            PeerAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// How an upstream group picks a server for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balance {
    /// nginx's smooth weighted round-robin (the default).
    RoundRobin,
    /// `least_conn`: fewest active connections relative to weight; ties by round-robin.
    LeastConn,
}

/// `keepalive N;` and its companions in an `upstream` block: idle connections kept per worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// At most this many idle connections per worker for the group (the least recently used
    /// one is closed to make room).
    pub connections: usize,
    /// `keepalive_timeout`: an idle connection is closed after this long (default 60s).
    pub timeout: Duration,
    /// `keepalive_requests`: a connection is closed after serving this many requests (1000).
    pub requests: u64,
    /// `keepalive_time`: a connection is not reused once this old (1h).
    pub time: Duration,
}

/// One address of an upstream `server` line (a name that resolves to several addresses gives
/// one entry each, as in nginx).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamServer {
    pub addr: PeerAddr,
    /// `addr` as `$upstream_addr` and the error log show it (made once).
    pub shown: String,
    /// `weight=N` (default 1).
    pub weight: u32,
    /// `max_fails=N` (default 1; 0 disables the accounting).
    pub max_fails: u32,
    /// `fail_timeout=T` (default 10s): the window failures are counted in, and how long the
    /// server is then skipped.
    pub fail_timeout: Duration,
    /// `max_conns=N`: at most N active connections per worker (0: no limit).
    pub max_conns: u32,
    /// `backup`: used only when no primary server is available.
    pub backup: bool,
    /// `down`: never used.
    pub down: bool,
    /// Where the `server` (or, for an implicit upstream, the `proxy_pass`) is written.
    pub(crate) at: Pos,
}

/// An `upstream NAME { }` block, or the group nginx makes for `proxy_pass http://HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// Index in `Config::upstreams`: what per-worker state (balancer, keep-alive pool) is
    /// keyed by.
    pub id: usize,
    /// The block's name, or `HOST:PORT` / `unix:PATH` as written for an implicit group.
    pub name: String,
    /// Made by `proxy_pass` with an address rather than by an `upstream` block.
    pub implicit: bool,
    /// In file order; at least one that is not `backup`.
    pub servers: Vec<UpstreamServer>,
    pub balance: Balance,
    pub keepalive: Option<Keepalive>,
}

/// `proxy_pass URL;`, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyPass {
    pub upstream: Arc<Upstream>,
    /// The URL as written (`http://backend/v1/`): `proxy_redirect default` rewrites it back.
    pub url: String,
    /// The URI part (`/v1/`), if the URL has one: then the part of the request path matched by
    /// the location is replaced by it; without one, the request URI is passed as the client sent
    /// it.
    pub uri: Option<String>,
    /// `$proxy_host`: `HOST[:PORT]` (no port when 80), the upstream name, or `localhost`.
    pub host: String,
    /// `$proxy_port`: the port (`80` when not written), empty for a unix socket.
    pub port: String,
    /// The path of the location it is in (what the URI part replaces).
    pub location: String,
    pub(crate) at: Pos,
}

/// `proxy_http_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyHttpVersion {
    /// nginx's default: no keep-alive to the backend, request bodies with a length only.
    Http10,
    Http11,
}

/// Who put a field in the list a location sends to its backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderOrigin {
    /// `proxy_set_header`.
    Configured,
    /// The built-in defaults (nginx's, and webserv's forwarding fields).
    Default,
}

/// One field of the request to the backend: `proxy_set_header NAME VALUE;` or a default. A
/// value that expands to the empty string is not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetHeader {
    pub name: String,
    pub value: Value,
    pub origin: HeaderOrigin,
}

/// One `proxy_redirect FROM TO;` (or `default`, turned into one when the location is known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectRule {
    /// `proxy_redirect default`: replaced by the concrete rule of its location.
    Default,
    /// Location and Refresh values starting with `from` get it replaced by `to`.
    Replace { from: Value, to: Value },
}

/// `proxy_next_upstream`: which failures send a request on to the next server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextUpstream(u16);

impl NextUpstream {
    pub const ERROR: NextUpstream = NextUpstream(1);
    pub const TIMEOUT: NextUpstream = NextUpstream(2);
    pub const INVALID_HEADER: NextUpstream = NextUpstream(4);
    pub const HTTP_500: NextUpstream = NextUpstream(8);
    pub const HTTP_502: NextUpstream = NextUpstream(16);
    pub const HTTP_503: NextUpstream = NextUpstream(32);
    pub const HTTP_504: NextUpstream = NextUpstream(64);
    pub const HTTP_403: NextUpstream = NextUpstream(128);
    pub const HTTP_404: NextUpstream = NextUpstream(256);
    pub const HTTP_429: NextUpstream = NextUpstream(512);
    /// Also retry POST, LOCK and PATCH once they were (partly) sent.
    pub const NON_IDEMPOTENT: NextUpstream = NextUpstream(1024);
    pub const OFF: NextUpstream = NextUpstream(0);

    /// The names nginx uses, in its order.
    pub const NAMES: [(NextUpstream, &'static str); 11] = [
        (NextUpstream::ERROR, "error"),
        (NextUpstream::TIMEOUT, "timeout"),
        (NextUpstream::INVALID_HEADER, "invalid_header"),
        (NextUpstream::HTTP_500, "http_500"),
        (NextUpstream::HTTP_502, "http_502"),
        (NextUpstream::HTTP_503, "http_503"),
        (NextUpstream::HTTP_504, "http_504"),
        (NextUpstream::HTTP_403, "http_403"),
        (NextUpstream::HTTP_404, "http_404"),
        (NextUpstream::HTTP_429, "http_429"),
        (NextUpstream::NON_IDEMPOTENT, "non_idempotent"),
    ];

    pub const fn union(self, other: NextUpstream) -> NextUpstream {
        NextUpstream(self.0 | other.0)
    }

    pub const fn contains(self, other: NextUpstream) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// The condition a backend status answers to (`http_502` for 502), if any.
    pub fn for_status(status: u16) -> Option<NextUpstream> {
        Some(match status {
            500 => NextUpstream::HTTP_500,
            502 => NextUpstream::HTTP_502,
            503 => NextUpstream::HTTP_503,
            504 => NextUpstream::HTTP_504,
            403 => NextUpstream::HTTP_403,
            404 => NextUpstream::HTTP_404,
            429 => NextUpstream::HTTP_429,
            _ => return None,
        })
    }
}

/// Everything the `proxy_*` directives set for one block, merged with what it inherits.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxySettings {
    /// `proxy_pass` (locations only): None means the location does not proxy.
    pub pass: Option<Arc<ProxyPass>>,
    /// `proxy_connect_timeout` (60s): establishing the connection.
    pub connect_timeout: Duration,
    /// `proxy_read_timeout` (60s): between two reads from the backend (the head included);
    /// also the idle timeout of a WebSocket tunnel.
    pub read_timeout: Duration,
    /// `proxy_send_timeout` (60s): between two writes to the backend.
    pub send_timeout: Duration,
    pub http_version: ProxyHttpVersion,
    /// The fields sent to the backend before the client's: the nearest block's
    /// `proxy_set_header` lines in order, then each default not named by one of them.
    pub headers: Arc<[SetHeader]>,
    /// `proxy_hide_header` names, lower-case (inherited apart from `proxy_pass_header`).
    pub hide_headers: Arc<[String]>,
    /// `proxy_pass_header` names, lower-case: fields hidden by default that are passed.
    pub pass_headers: Arc<[String]>,
    /// `proxy_pass_request_headers` (on): the client's fields are passed.
    pub pass_request_headers: bool,
    /// `proxy_pass_request_body` (on): the client's body is passed.
    pub pass_request_body: bool,
    /// `proxy_redirect`: empty for `off`.
    pub redirects: Arc<[RedirectRule]>,
    pub next_upstream: NextUpstream,
    /// `proxy_next_upstream_tries` (0: as many as there are servers).
    pub next_upstream_tries: u32,
    /// `proxy_next_upstream_timeout` (0: no limit).
    pub next_upstream_timeout: Duration,
    /// `proxy_intercept_errors` (off): backend statuses of 300 and above that have an
    /// `error_page` are answered with that page.
    pub intercept_errors: bool,
    /// `proxy_buffering`: accepted for compatibility; responses are always streamed.
    pub buffering: bool,
    /// `proxy_request_buffering` (off in webserv, on in nginx): read the whole request body
    /// before connecting; off streams it as it arrives.
    pub request_buffering: bool,
    /// `proxy_buffer_size` (8k): the largest response head accepted from the backend.
    pub buffer_size: usize,
}

/// The response fields nginx hides by default (it sets its own Date and Server).
pub const HIDDEN_BY_DEFAULT: [&str; 8] = [
    "date",
    "server",
    "x-pad",
    "x-accel-expires",
    "x-accel-redirect",
    "x-accel-limit-rate",
    "x-accel-buffering",
    "x-accel-charset",
];

/// `(name, value)` of the fields sent unless `proxy_set_header` names them: nginx's
/// (`Host $proxy_host`, `Connection close`, and the empty ones that keep the client's hop-by-hop
/// fields out), then the forwarding fields webserv adds beyond nginx.
pub const DEFAULT_HEADERS: [(&str, &str); 9] = [
    ("Host", "$proxy_host"),
    ("Connection", "close"),
    ("X-Real-IP", "$remote_addr"),
    ("X-Forwarded-For", "$proxy_add_x_forwarded_for"),
    ("X-Forwarded-Proto", "$scheme"),
    ("TE", ""),
    ("Keep-Alive", ""),
    ("Expect", ""),
    ("Upgrade", ""),
];

/// The default response head limit: nginx's `proxy_buffer_size` is one memory page (4k or 8k);
/// webserv takes 8k on every platform.
pub const DEFAULT_BUFFER_SIZE: usize = 8 * 1024;

impl ProxySettings {
    /// The fields sent for a block whose nearest `proxy_set_header` lines are `configured`.
    pub fn merge_headers(configured: Vec<SetHeader>) -> Arc<[SetHeader]> {
        let mut all = configured;
        for (name, value) in DEFAULT_HEADERS {
            if all.iter().any(|h| h.name.eq_ignore_ascii_case(name)) {
                continue;
            }
            let value = match Value::parse(value, Names::default()) {
                Ok(v) => v,
                // The defaults are fixed text whose variables are all built in.
                Err(_) => Value::literal(value),
            };
            all.push(SetHeader {
                name: name.to_string(),
                value,
                origin: HeaderOrigin::Default,
            });
        }
        all.into()
    }

    /// Whether the backend's response field `name` (lower-case) is kept from the client:
    /// named by `proxy_hide_header`, or hidden by default and not named by `proxy_pass_header`.
    pub fn hides(&self, name: &str) -> bool {
        let same = |h: &str| h.eq_ignore_ascii_case(name);
        self.hide_headers.iter().any(|h| same(h))
            || (HIDDEN_BY_DEFAULT.iter().any(|h| same(h))
                && !self.pass_headers.iter().any(|p| same(p)))
    }
}

impl Default for ProxySettings {
    fn default() -> ProxySettings {
        let minute = Duration::from_secs(60);
        ProxySettings {
            pass: None,
            connect_timeout: minute,
            read_timeout: minute,
            send_timeout: minute,
            http_version: ProxyHttpVersion::Http10,
            headers: ProxySettings::merge_headers(Vec::new()),
            hide_headers: Vec::new().into(),
            pass_headers: Vec::new().into(),
            pass_request_headers: true,
            pass_request_body: true,
            redirects: vec![RedirectRule::Default].into(),
            next_upstream: NextUpstream::ERROR.union(NextUpstream::TIMEOUT),
            next_upstream_tries: 0,
            next_upstream_timeout: Duration::ZERO,
            intercept_errors: false,
            buffering: true,
            request_buffering: false,
            buffer_size: DEFAULT_BUFFER_SIZE,
        }
    }
}
