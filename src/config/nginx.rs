//! nginx's configuration as people write it, read into webserv's: the optional `http { }` block,
//! the `events { }` block, and nginx's directives that mean nothing here (accepted, with a
//! warning that says what webserv does instead) or that webserv does not have (an error that
//! names the nearest equivalent, see [`unsupported`]).
//!
//! `config::adapt` runs on the directive tree before its meaning is read: `http { ... }` is
//! replaced by its contents (webserv's top level is nginx's `http` block: settings written there
//! apply to every server), and ignored directives are taken out, each with its warning. A
//! directive webserv knows (`table::SPECS`) is never in these tables' way: when webserv
//! implements one, it is simply read.

/// Where an ignored directive may stand.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Place {
    /// nginx's main context only (outside `http`).
    Main,
    /// `http`, `server` or `location`.
    Http,
    /// `server` or `location` (not the top level, where webserv reads it).
    Inner,
}

/// nginx directives accepted without effect, and what webserv does instead.
const IGNORED: &[(&str, Place, &str)] = &[
    (
        "pid",
        Place::Main,
        "webserv runs in the foreground and writes no pid file (a service manager knows its \
         pid: see examples/webserv.service)",
    ),
    (
        "user",
        Place::Main,
        "webserv does not change user: start it as the user it should run as (systemd's User=)",
    ),
    (
        "worker_rlimit_nofile",
        Place::Main,
        "webserv raises its open-file limit to the hard limit itself",
    ),
    (
        "worker_cpu_affinity",
        Place::Main,
        "use the service manager's CPU affinity (systemd's CPUAffinity=)",
    ),
    (
        "worker_priority",
        Place::Main,
        "use the service manager's priority (systemd's Nice=)",
    ),
    (
        "worker_shutdown_timeout",
        Place::Main,
        "webserv finishes responses in flight within its own grace period on SIGTERM",
    ),
    (
        "daemon",
        Place::Main,
        "webserv always runs in the foreground",
    ),
    (
        "master_process",
        Place::Main,
        "webserv is one process with one thread per worker",
    ),
    (
        "pcre_jit",
        Place::Main,
        "regular expressions run on the regex crate, in linear time, with nothing to compile \
         ahead",
    ),
    (
        "load_module",
        Place::Main,
        "webserv has no dynamic modules: the nginx directives it knows are built in",
    ),
    ("thread_pool", Place::Main, "webserv has no thread pools"),
    (
        "timer_resolution",
        Place::Main,
        "webserv reads the clock when it needs it",
    ),
    ("lock_file", Place::Main, "webserv uses no lock file"),
    (
        "working_directory",
        Place::Main,
        "webserv does not change directory",
    ),
    (
        "env",
        Place::Main,
        "CGI scripts get a fixed environment (RFC 3875)",
    ),
    (
        "sendfile",
        Place::Http,
        "webserv sends files with sendfile(2) on plain connections whatever this says (small \
         files from memory)",
    ),
    (
        "sendfile_max_chunk",
        Place::Http,
        "webserv sends at most 1 MiB per call",
    ),
    (
        "tcp_nopush",
        Place::Http,
        "webserv does not cork sockets: a head and an in-memory body go out in one write",
    ),
    (
        "tcp_nodelay",
        Place::Http,
        "webserv always sets TCP_NODELAY",
    ),
    (
        "server_tokens",
        Place::Http,
        "webserv always sends \"Server: webserv\", without a version",
    ),
    (
        "keepalive_requests",
        Place::Http,
        "webserv does not limit the requests of a connection; idle ones close after \
         keepalive_timeout",
    ),
    (
        "reset_timedout_connection",
        Place::Http,
        "a timed-out connection is closed",
    ),
    ("lingering_close", Place::Http, "no effect"),
    ("lingering_time", Place::Http, "no effect"),
    ("lingering_timeout", Place::Http, "no effect"),
    (
        "types_hash_max_size",
        Place::Http,
        "webserv has no hash tables to size",
    ),
    (
        "types_hash_bucket_size",
        Place::Http,
        "webserv has no hash tables to size",
    ),
    (
        "server_names_hash_max_size",
        Place::Http,
        "webserv has no hash tables to size",
    ),
    (
        "server_names_hash_bucket_size",
        Place::Http,
        "webserv has no hash tables to size",
    ),
    (
        "variables_hash_max_size",
        Place::Http,
        "webserv has no hash tables to size",
    ),
    (
        "variables_hash_bucket_size",
        Place::Http,
        "webserv has no hash tables to size",
    ),
    (
        "client_body_buffer_size",
        Place::Http,
        "request bodies are streamed through a fixed buffer (client_max_body_size limits them)",
    ),
    (
        "client_header_buffer_size",
        Place::Http,
        "request heads are limited to an 8 KiB target and 32 KiB of header fields",
    ),
    (
        "large_client_header_buffers",
        Place::Http,
        "request heads are limited to an 8 KiB target and 32 KiB of header fields",
    ),
    (
        "client_body_temp_path",
        Place::Http,
        "webserv does not use this directory",
    ),
    (
        "fastcgi_temp_path",
        Place::Http,
        "webserv does not use this directory",
    ),
    (
        "proxy_temp_path",
        Place::Http,
        "webserv does not use this directory",
    ),
    (
        "uwsgi_temp_path",
        Place::Http,
        "webserv does not use this directory",
    ),
    (
        "scgi_temp_path",
        Place::Http,
        "webserv does not use this directory",
    ),
    (
        "open_file_cache",
        Place::Http,
        "webserv caches small files and missing ones itself, dropped on change (inotify)",
    ),
    (
        "open_file_cache_valid",
        Place::Http,
        "webserv caches small files and missing ones itself, dropped on change (inotify)",
    ),
    (
        "open_file_cache_min_uses",
        Place::Http,
        "webserv caches small files and missing ones itself, dropped on change (inotify)",
    ),
    (
        "open_file_cache_errors",
        Place::Http,
        "webserv caches small files and missing ones itself, dropped on change (inotify)",
    ),
    (
        "log_not_found",
        Place::Http,
        "webserv never logs a missing file in the error log (the 404 is in the access log)",
    ),
    (
        "log_subrequest",
        Place::Http,
        "webserv makes no subrequests",
    ),
    (
        "error_log",
        Place::Inner,
        "webserv has one error log, given at the top level; this one is not used",
    ),
    (
        "ssl_protocols",
        Place::Http,
        "TLS 1.2 and 1.3 are always offered (rustls), and nothing older",
    ),
    (
        "ssl_ciphers",
        Place::Http,
        "rustls's cipher suites are used (modern AEAD suites only)",
    ),
    (
        "ssl_prefer_server_ciphers",
        Place::Http,
        "rustls's cipher suites are used (modern AEAD suites only)",
    ),
    (
        "ssl_ecdh_curve",
        Place::Http,
        "rustls's key exchange groups are used (X25519, P-256, P-384)",
    ),
    (
        "ssl_dhparam",
        Place::Http,
        "rustls offers no finite-field Diffie-Hellman suites",
    ),
    (
        "ssl_session_cache",
        Place::Http,
        "session resumption is always on (rustls's cache and tickets)",
    ),
    (
        "ssl_session_timeout",
        Place::Http,
        "session resumption is always on (rustls's cache and tickets)",
    ),
    (
        "ssl_session_tickets",
        Place::Http,
        "session resumption is always on (rustls's cache and tickets)",
    ),
    (
        "ssl_buffer_size",
        Place::Http,
        "rustls sizes its records itself",
    ),
    (
        "ssl_early_data",
        Place::Http,
        "0-RTT early data is never accepted",
    ),
    (
        "ssl_stapling",
        Place::Http,
        "OCSP stapling is not supported",
    ),
    (
        "ssl_stapling_verify",
        Place::Http,
        "OCSP stapling is not supported",
    ),
    (
        "ssl_trusted_certificate",
        Place::Http,
        "OCSP stapling is not supported",
    ),
    (
        "http2",
        Place::Main,
        "webserv reads it in a server (\"http2 on | off;\"), where the address's default server \
         decides; TLS addresses speak HTTP/2 unless it says off",
    ),
    (
        "http2_max_concurrent_streams",
        Place::Http,
        "webserv's HTTP/2 has its own fixed limits (docs/HTTP2.md)",
    ),
    (
        "http2_recv_buffer_size",
        Place::Http,
        "webserv's HTTP/2 has its own fixed limits (docs/HTTP2.md)",
    ),
    (
        "http2_chunk_size",
        Place::Http,
        "webserv's HTTP/2 has its own fixed limits (docs/HTTP2.md)",
    ),
    (
        "http2_idle_timeout",
        Place::Http,
        "webserv's HTTP/2 has its own fixed limits (docs/HTTP2.md)",
    ),
    (
        "http2_max_field_size",
        Place::Http,
        "webserv's HTTP/2 has its own fixed limits (docs/HTTP2.md)",
    ),
    (
        "http2_max_header_size",
        Place::Http,
        "webserv's HTTP/2 has its own fixed limits (docs/HTTP2.md)",
    ),
    (
        "http2_max_requests",
        Place::Http,
        "webserv's HTTP/2 has its own fixed limits (docs/HTTP2.md)",
    ),
    (
        "http2_body_preread_size",
        Place::Http,
        "webserv's HTTP/2 has its own fixed limits (docs/HTTP2.md)",
    ),
    (
        "http2_push",
        Place::Http,
        "webserv does not push (browsers dropped server push)",
    ),
    (
        "http2_push_preload",
        Place::Http,
        "webserv does not push (browsers dropped server push)",
    ),
    (
        "charset",
        Place::Http,
        "webserv labels text types with charset=utf-8 and nothing else",
    ),
    (
        "charset_types",
        Place::Http,
        "webserv labels text types with charset=utf-8 and nothing else",
    ),
    (
        "source_charset",
        Place::Http,
        "webserv never converts between charsets",
    ),
    (
        "autoindex_exact_size",
        Place::Http,
        "webserv's autoindex listing has one format (HTML, exact sizes)",
    ),
    (
        "autoindex_localtime",
        Place::Http,
        "webserv's autoindex listing has one format (HTML, exact sizes)",
    ),
    (
        "autoindex_format",
        Place::Http,
        "webserv's autoindex listing has one format (HTML, exact sizes)",
    ),
    (
        "etag",
        Place::Http,
        "webserv always sends an ETag with a file",
    ),
    (
        "if_modified_since",
        Place::Http,
        "If-Modified-Since is compared to the file's modification time",
    ),
    (
        "merge_slashes",
        Place::Http,
        "webserv always merges repeated slashes in the path",
    ),
    ("msie_padding", Place::Http, "no effect"),
    ("msie_refresh", Place::Http, "no effect"),
    ("port_in_redirect", Place::Http, "no effect"),
    ("server_name_in_redirect", Place::Http, "no effect"),
    ("absolute_redirect", Place::Http, "no effect"),
    ("underscores_in_headers", Place::Http, "no effect"),
    ("ignore_invalid_headers", Place::Http, "no effect"),
    ("output_buffers", Place::Http, "no effect"),
    ("postpone_output", Place::Http, "no effect"),
    ("aio", Place::Http, "no effect"),
    ("directio", Place::Http, "no effect"),
    ("read_ahead", Place::Http, "no effect"),
    ("send_lowat", Place::Http, "no effect"),
    (
        "resolver",
        Place::Http,
        "names are resolved with the system's resolver when the configuration is read",
    ),
    (
        "resolver_timeout",
        Place::Http,
        "names are resolved with the system's resolver when the configuration is read",
    ),
    (
        "recursive_error_pages",
        Place::Http,
        "webserv answers one error with one error page, as nginx does by default",
    ),
    (
        "limit_rate",
        Place::Http,
        "webserv does not limit the rate of responses",
    ),
    (
        "limit_rate_after",
        Place::Http,
        "webserv does not limit the rate of responses",
    ),
];

/// nginx directives webserv does not have, and the nearest thing it has. Refused: accepting
/// them would leave a configuration doing less than it says (an access rule, a proxy).
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "if",
        "use a location (= ^~ ~ ~*), return, rewrite or try_files",
    ),
    ("proxy_cache", "the reverse proxy does not cache responses"),
    (
        "proxy_cache_path",
        "the reverse proxy does not cache responses",
    ),
    (
        "uwsgi_pass",
        "applications run as CGI scripts (cgi) or over FastCGI (fastcgi_pass)",
    ),
    (
        "scgi_pass",
        "applications run as CGI scripts (cgi) or over FastCGI (fastcgi_pass)",
    ),
    (
        "grpc_pass",
        "applications run as CGI scripts (cgi) or over FastCGI (fastcgi_pass)",
    ),
    (
        "memcached_pass",
        "applications run as CGI scripts (cgi) or over FastCGI (fastcgi_pass)",
    ),
    ("limit_except", "use allow_methods"),
    (
        "dav_methods",
        "allow PUT and DELETE with allow_methods and give the location an upload_store",
    ),
    (
        "dav_access",
        "allow PUT and DELETE with allow_methods and give the location an upload_store",
    ),
    (
        "create_full_put_path",
        "allow PUT and DELETE with allow_methods and give the location an upload_store",
    ),
    ("ssl", "write \"listen ... ssl\""),
    (
        "ssl_password_file",
        "give ssl_certificate_key a key that is not encrypted",
    ),
    (
        "auth_request",
        "there is no subrequest-based authentication",
    ),
    (
        "disable_symlinks",
        "symbolic links are followed; keep untrusted links out of the root",
    ),
    ("stream", "webserv serves HTTP only (no TCP/UDP proxy)"),
    ("mail", "webserv serves HTTP only (no mail proxy)"),
    ("ssi", "there are no server-side includes"),
    ("sub_filter", "responses are never rewritten"),
    ("add_trailer", "use add_header"),
    ("more_set_headers", "use add_header"),
    ("geo", "there are no variables from addresses"),
    ("split_clients", "there are no variables from hashes"),
    ("secure_link", "there are no signed links"),
    ("perl", "there is no embedded language"),
    ("js_import", "there is no embedded language"),
    ("js_content", "there is no embedded language"),
    ("empty_gif", "serve a file"),
    ("random_index", "use index"),
    ("mp4", "files are served as they are (ranges work)"),
    ("flv", "files are served as they are (ranges work)"),
    ("image_filter", "files are served as they are"),
    ("xslt_stylesheet", "files are served as they are"),
    ("addition_types", "responses are never rewritten"),
];

/// Families of nginx directives (by their prefix) webserv does not have, for the members the
/// tables above do not name.
const UNSUPPORTED_FAMILIES: &[(&str, &str)] = &[
    (
        "proxy_",
        "webserv's reverse proxy does not have it (its directives are in docs/CONFIG.md)",
    ),
    (
        "fastcgi_",
        "webserv's FastCGI client does not have it (its directives are in docs/CONFIG.md)",
    ),
    (
        "uwsgi_",
        "applications run as CGI scripts (cgi) or over FastCGI (fastcgi_pass)",
    ),
    (
        "scgi_",
        "applications run as CGI scripts (cgi) or over FastCGI (fastcgi_pass)",
    ),
    (
        "grpc_",
        "applications run as CGI scripts (cgi) or over FastCGI (fastcgi_pass)",
    ),
    (
        "limit_req",
        "webserv's rate limits do not have it (their directives are in docs/CONFIG.md)",
    ),
    (
        "limit_conn",
        "webserv's connection limits do not have it (their directives are in docs/CONFIG.md)",
    ),
    (
        "auth_",
        "webserv authenticates with auth_basic and auth_basic_user_file only",
    ),
    (
        "ssl_",
        "TLS takes ssl_certificate, ssl_certificate_key and the ssl_verify_client family",
    ),
    ("quic_", "there is no HTTP/3"),
    ("http3", "there is no HTTP/3"),
    ("js_", "there is no embedded language"),
    ("perl_", "there is no embedded language"),
    ("geoip_", "there are no variables from addresses"),
    ("sub_filter", "responses are never rewritten"),
    ("image_filter", "files are served as they are"),
    ("xslt_", "files are served as they are"),
    ("mp4_", "files are served as they are (ranges work)"),
];

/// The message for a directive webserv does not know: one nginx has but webserv does not
/// names the nearest equivalent; one webserv ignores, met where nginx does not allow it, is
/// not allowed here; any other is unknown.
pub(super) fn unknown(name: &str) -> String {
    if let Some((_, instead)) = UNSUPPORTED.iter().find(|(n, _)| *n == name) {
        return format!(
            "\"{name}\" directive is not supported by webserv: {instead} (see \"Differences \
             from nginx\" in docs/CONFIG.md)"
        );
    }
    if let Some((_, instead)) = UNSUPPORTED_FAMILIES
        .iter()
        .find(|(prefix, _)| name.starts_with(prefix))
    {
        return format!(
            "\"{name}\" directive is not supported by webserv: {instead} (see \"Differences \
             from nginx\" in docs/CONFIG.md)"
        );
    }
    if ignored(name).is_some() || MAIN_ONLY.contains(&name) {
        return format!("\"{name}\" directive is not allowed here");
    }
    format!("unknown directive \"{name}\"")
}

/// What an nginx `listen` parameter webserv does not read means here: `Ok(warning)` when it
/// is accepted without effect, `Err(message)` when it is refused; None for a word nginx does
/// not have either.
pub(super) fn listen_parameter(word: &str) -> Option<Result<String, String>> {
    let name = word.split_once('=').map_or(word, |(name, _)| name);
    let ignored = |instead: &str| {
        Some(Ok(format!(
            "\"{word}\" of \"listen\" is accepted and has no effect: {instead}"
        )))
    };
    match name {
        "deferred" | "bind" | "fastopen" | "backlog" | "rcvbuf" | "sndbuf" | "so_keepalive"
        | "setfib" | "accept_filter" => ignored("webserv sets its sockets up itself"),
        "reuseport" => ignored(
            "every address already has one SO_REUSEPORT socket per worker, guarded against \
             other processes",
        ),
        "ipv6only" if word == "ipv6only=on" => {
            ignored("an IPv6 address is always listened on for IPv6 only")
        }
        "ipv6only" => Some(Err(
            "\"ipv6only=off\" is not supported by webserv: an IPv6 address is listened on for \
             IPv6 only; add a \"listen\" for the IPv4 address"
                .to_string(),
        )),
        "quic" => Some(Err(
            "\"quic\" is not supported by webserv: there is no HTTP/3".to_string(),
        )),
        _ => None,
    }
}

/// Directives only nginx's main context has: not allowed inside `http { }`.
pub(super) const MAIN_ONLY: &[&str] = &["workers", "worker_processes", "events", "http"];

pub(super) fn ignored(name: &str) -> Option<(Place, &'static str)> {
    IGNORED
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, place, instead)| (*place, *instead))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn parse(text: &str) -> Result<crate::config::Config, String> {
        crate::config::parse(text, Path::new("/etc/nginx/nginx.conf")).map_err(|e| e.to_string())
    }

    fn warnings(text: &str) -> Vec<String> {
        parse(text)
            .unwrap_or_else(|e| panic!("{text}\n=> {e}"))
            .warnings
            .iter()
            .map(|w| format!("{}:{}: {}", w.line, w.col, w.message))
            .collect()
    }

    #[test]
    fn an_http_block_is_read_as_the_top_level() {
        let c = parse(
            "worker_processes 2;\nhttp {\n  client_max_body_size 5m;\n  server { listen 80; }\n}\n",
        )
        .unwrap();
        assert_eq!(c.workers, 2);
        assert_eq!(c.servers[0].settings.client_max_body_size, 5 << 20);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn http_structure_mistakes_are_errors() {
        let cases = [
            (
                "http { server { listen 80; } }\nhttp { }",
                "/etc/nginx/nginx.conf:2:1: \"http\" directive is duplicate",
            ),
            (
                "http x { server { listen 80; } }",
                "/etc/nginx/nginx.conf:1:1: invalid number of arguments in \"http\" directive",
            ),
            (
                "http { worker_processes 2; server { listen 80; } }",
                "/etc/nginx/nginx.conf:1:8: \"worker_processes\" directive is not allowed here \
                 (it belongs outside \"http\")",
            ),
            (
                "http { pid /run/x.pid; server { listen 80; } }",
                "/etc/nginx/nginx.conf:1:8: \"pid\" directive is not allowed here (it belongs \
                 outside \"http\")",
            ),
            (
                "events;\nserver { listen 80; }",
                "/etc/nginx/nginx.conf:1:1: directive \"events\" has no opening \"{\"",
            ),
            (
                "server { listen 80; pid x; }",
                "/etc/nginx/nginx.conf:1:21: \"pid\" directive is not allowed here",
            ),
            (
                "error_log a;\nerror_log b;\nserver { listen 80; }",
                "/etc/nginx/nginx.conf:2:1: \"error_log\" directive is duplicate",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text).err().as_deref(), Some(expected), "{text}");
        }
    }

    #[test]
    fn directives_without_effect_are_warnings_saying_what_webserv_does() {
        let text = "user www-data;\npid /run/nginx.pid;\nevents { worker_connections 768; }\n\
                    http {\n  sendfile on;\n  tcp_nopush on;\n  server_tokens off;\n  \
                    server {\n    listen 80;\n    error_log /var/log/x.log;\n    \
                    location / { tcp_nodelay on; }\n  }\n}\n";
        assert_eq!(
            warnings(text),
            [
                "1:1: \"user\" is accepted and has no effect: webserv does not change user: \
                 start it as the user it should run as (systemd's User=)",
                "2:1: \"pid\" is accepted and has no effect: webserv runs in the foreground and \
                 writes no pid file (a service manager knows its pid: see \
                 examples/webserv.service)",
                "3:1: \"events\" is accepted and has no effect: each worker runs its own epoll \
                 loop and takes up to 16384 connections",
                "5:3: \"sendfile\" is accepted and has no effect: webserv sends files with \
                 sendfile(2) on plain connections whatever this says (small files from memory)",
                "6:3: \"tcp_nopush\" is accepted and has no effect: webserv does not cork \
                 sockets: a head and an in-memory body go out in one write",
                "7:3: \"server_tokens\" is accepted and has no effect: webserv always sends \
                 \"Server: webserv\", without a version",
                "10:5: \"error_log\" is accepted and has no effect: webserv has one error log, \
                 given at the top level; this one is not used",
                "11:18: \"tcp_nodelay\" is accepted and has no effect: webserv always sets \
                 TCP_NODELAY",
            ]
        );
    }

    #[test]
    fn listen_takes_default_server_and_nginx_parameters_that_mean_nothing_here() {
        let text = "server {\n listen 80 default_server;\n listen [::]:443 ssl http2 \
                    ipv6only=on;\n ssl_certificate /nonexistent/c; ssl_certificate_key k;\n}";
        // (The certificate is read after the listen lines: its error shows they passed.)
        let e = parse(text).err().unwrap();
        assert!(
            e.starts_with("/etc/nginx/nginx.conf:4:18: cannot load certificate"),
            "{e}"
        );
        assert_eq!(
            warnings("server { listen 80 default deferred backlog=511; }"),
            [
                "1:28: \"deferred\" of \"listen\" is accepted and has no effect: webserv sets \
                 its sockets up itself",
                "1:37: \"backlog=511\" of \"listen\" is accepted and has no effect: webserv \
                 sets its sockets up itself",
            ]
        );
        let cases = [
            (
                "server { listen 80 default_server; }\nserver { listen *:80 default_server; }",
                "/etc/nginx/nginx.conf:2:17: a duplicate default server for 0.0.0.0:80 (the \
                 first is at /etc/nginx/nginx.conf:1)",
            ),
            (
                "server { listen 80 default_server default; }",
                "/etc/nginx/nginx.conf:1:35: duplicate parameter \"default\" of the \"listen\" \
                 directive",
            ),
            (
                "server { listen 443 quic; }",
                "/etc/nginx/nginx.conf:1:21: \"quic\" is not supported by webserv: there is no \
                 HTTP/3",
            ),
            (
                "server { listen [::]:80 ipv6only=off; }",
                "/etc/nginx/nginx.conf:1:25: \"ipv6only=off\" is not supported by webserv: an \
                 IPv6 address is listened on for IPv6 only; add a \"listen\" for the IPv4 address",
            ),
            (
                "server { listen 80 defualt_server; }",
                "/etc/nginx/nginx.conf:1:20: invalid parameter \"defualt_server\" of the \
                 \"listen\" directive",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text).err().as_deref(), Some(expected), "{text}");
        }
    }

    #[test]
    fn a_name_given_by_two_servers_of_one_address_is_a_warning_at_the_second() {
        let text = "server { listen 80; server_name a.test *.b.test; }\n\
                    server { listen 80; listen 81; server_name A.test *.b.test c.test; }\n\
                    server { listen 81; server_name c.test; }";
        assert_eq!(
            warnings(text),
            [
                "2:44: conflicting server name \"a.test\" on 0.0.0.0:80, ignored (the server at \
                 /etc/nginx/nginx.conf:1 has it)",
                "2:51: conflicting server name \"*.b.test\" on 0.0.0.0:80, ignored (the server \
                 at /etc/nginx/nginx.conf:1 has it)",
                "3:33: conflicting server name \"c.test\" on 0.0.0.0:81, ignored (the server at \
                 /etc/nginx/nginx.conf:2 has it)",
            ]
        );
        // A regular expression that does not compile is an error at the name.
        let e = parse("server { listen 80; server_name ok ~^(bad; }")
            .err()
            .unwrap();
        assert!(
            e.starts_with(
                "/etc/nginx/nginx.conf:1:36: invalid regular expression \"^(bad\" in \
                 \"server_name\": "
            ),
            "{e}"
        );
    }

    /// A directive webserv reads (another branch may add one) must leave these tables, or it
    /// would be refused or ignored where it works.
    #[test]
    fn no_directive_of_the_tables_is_one_webserv_reads() {
        use super::super::directive::{LOCATION, MAIN, SERVER};
        use super::super::table::{is_directive, is_known};
        for (name, place, _) in super::IGNORED {
            let context = match place {
                super::Place::Inner => SERVER | LOCATION,
                _ => MAIN,
            };
            assert!(
                !is_known(name, context),
                "{name} is read by webserv: not ignored"
            );
        }
        for (name, _) in super::UNSUPPORTED {
            assert!(
                !is_directive(name),
                "{name} is read by webserv: not unsupported"
            );
        }
    }

    #[test]
    fn every_directive_of_the_tables_is_in_the_documentation() {
        let doc = include_str!("../../docs/CONFIG.md");
        let section = &doc[doc.find("## Coming from nginx").unwrap()..];
        for name in super::IGNORED
            .iter()
            .map(|(n, _, _)| *n)
            .chain(super::UNSUPPORTED.iter().map(|(n, _)| *n))
        {
            assert!(
                section.contains(&format!("`{name}`")),
                "{name} is not in docs/CONFIG.md, \"Coming from nginx\""
            );
        }
    }

    #[test]
    fn nginx_directives_webserv_lacks_name_the_nearest_equivalent() {
        let e = parse("server { listen 80; location / { if ($x) { return 404; } } }")
            .err()
            .unwrap();
        assert_eq!(
            e,
            "/etc/nginx/nginx.conf:1:34: \"if\" directive is not supported by webserv: use a \
             location (= ^~ ~ ~*), return, rewrite or try_files (see \"Differences from \
             nginx\" in docs/CONFIG.md)"
        );
        let e = parse("server { listen 80; limit_except GET { deny all; } }")
            .err()
            .unwrap();
        assert!(
            e.contains("\"limit_except\" directive is not supported by webserv: use allow_methods"),
            "{e}"
        );
        // A name nginx does not have either stays unknown.
        assert_eq!(
            parse("server { listen 80; frobnicate; }").err().as_deref(),
            Some("/etc/nginx/nginx.conf:1:21: unknown directive \"frobnicate\"")
        );
    }
}
