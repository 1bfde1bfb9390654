//! The directive table: every directive webserv reads, the contexts it may stand in, whether it
//! takes a block and how many arguments ([`SPECS`], and the reverse proxy's rows,
//! [`PROXY_SPECS`]), and the one check every directive passes before its meaning is read
//! ([`check`], in nginx's order and wording; a name webserv does not have is explained by
//! `config::nginx`).

use super::directive::{
    ACME_ISSUER, Directive, LOCATION, MAIN, MANY, Result, SERVER, SERVER_SETTINGS, SETTINGS, Spec,
    block, fail, spec,
};
use super::nginx::unknown;

pub(super) const SPECS: &[Spec] = &[
    spec("workers", MAIN, 1, 1),
    spec("worker_processes", MAIN, 1, 1),
    spec("access_log", SETTINGS, 1, MANY),
    spec("log_format", MAIN, 2, MANY),
    spec("error_log", MAIN, 1, 2),
    block("server", MAIN, 0, 0),
    block("acme_issuer", MAIN, 1, 1),
    spec("acme_shared_zone", MAIN, 1, 1),
    spec("uri", ACME_ISSUER, 1, 1),
    spec("contact", ACME_ISSUER, 1, 1),
    spec("state_path", ACME_ISSUER, 1, 1),
    spec("accept_terms_of_service", ACME_ISSUER, 0, 0),
    spec("ssl_trusted_certificate", ACME_ISSUER, 1, 1),
    spec("ssl_verify", ACME_ISSUER, 1, 1),
    spec("challenge", ACME_ISSUER, 1, MANY),
    spec("account_key", ACME_ISSUER, 1, 1),
    spec("listen", SERVER, 1, MANY),
    spec("ssl_certificate", SERVER, 1, 1),
    spec("ssl_certificate_key", SERVER, 1, 1),
    spec("acme_certificate", SERVER, 1, MANY),
    spec("ssl_client_certificate", SERVER, 1, 1),
    spec("ssl_verify_client", SERVER, 1, 1),
    spec("ssl_verify_depth", SERVER, 1, 1),
    spec("server_name", SERVER, 1, MANY),
    spec("http2", SERVER, 1, 1),
    block("location", SERVER_SETTINGS, 1, 2),
    spec("root", SETTINGS, 1, 1),
    spec("alias", LOCATION, 1, 1),
    spec("index", SETTINGS, 1, MANY),
    spec("autoindex", SETTINGS, 1, 1),
    spec("allow_methods", SETTINGS, 1, MANY),
    spec("client_max_body_size", SETTINGS, 1, 1),
    spec("error_page", SETTINGS, 2, MANY),
    spec("try_files", SERVER_SETTINGS, 2, MANY),
    spec("return", SERVER_SETTINGS, 1, 2),
    // config::rewrite
    spec("rewrite", SERVER_SETTINGS, 2, 3),
    spec("set", SERVER_SETTINGS, 2, 2),
    spec("break", SERVER_SETTINGS, 0, 0),
    spec("internal", LOCATION, 0, 0),
    spec("cgi", SETTINGS, 1, 2),
    spec("cgi_timeout", SETTINGS, 1, 1),
    spec("upload_store", SETTINGS, 1, 1),
    spec("keepalive_timeout", SETTINGS, 1, 1),
    spec("client_header_timeout", SETTINGS, 1, 1),
    spec("client_body_timeout", SETTINGS, 1, 1),
    spec("send_timeout", SETTINGS, 1, 1),
    spec("add_header", SETTINGS, 2, 3),
    spec("expires", SETTINGS, 1, 1),
    block("types", SETTINGS, 0, 0),
    spec("default_type", SETTINGS, 1, 1),
    // config::compress (also at the top level: nginx's `http` block)
    spec("gzip", SETTINGS, 1, 1),
    spec("gzip_types", SETTINGS, 1, MANY),
    spec("gzip_min_length", SETTINGS, 1, 1),
    spec("gzip_comp_level", SETTINGS, 1, 1),
    spec("gzip_vary", SETTINGS, 1, 1),
    spec("gzip_proxied", SETTINGS, 1, MANY),
    spec("gzip_http_version", SETTINGS, 1, 1),
    spec("gzip_disable", SETTINGS, 1, MANY),
    spec("gzip_buffers", SETTINGS, 2, 2),
    spec("gzip_static", SETTINGS, 1, 1),
    spec("brotli", SETTINGS, 1, 1),
    spec("brotli_types", SETTINGS, 1, MANY),
    spec("brotli_min_length", SETTINGS, 1, 1),
    spec("brotli_comp_level", SETTINGS, 1, 1),
    spec("brotli_static", SETTINGS, 1, 1),
    spec("brotli_window", SETTINGS, 1, 1),
    spec("brotli_buffers", SETTINGS, 2, 2),
    spec("zstd", SETTINGS, 1, 1),
    spec("zstd_types", SETTINGS, 1, MANY),
    spec("zstd_min_length", SETTINGS, 1, 1),
    spec("zstd_comp_level", SETTINGS, 1, 1),
    spec("zstd_static", SETTINGS, 1, 1),
    spec("zstd_buffers", SETTINGS, 2, 2),
    spec("set_real_ip_from", SETTINGS, 1, 1),
    spec("real_ip_header", SETTINGS, 1, 1),
    spec("real_ip_recursive", SETTINGS, 1, 1),
    // config::fastcgi
    spec("fastcgi_pass", LOCATION, 1, 1),
    spec("fastcgi_param", SETTINGS, 2, 3),
    spec("fastcgi_index", SETTINGS, 1, 1),
    spec("fastcgi_split_path_info", LOCATION, 1, 1),
    spec("fastcgi_keep_conn", SETTINGS, 1, 1),
    spec("fastcgi_connect_timeout", SETTINGS, 1, 1),
    spec("fastcgi_read_timeout", SETTINGS, 1, 1),
    spec("fastcgi_send_timeout", SETTINGS, 1, 1),
    spec("fastcgi_intercept_errors", SETTINGS, 1, 1),
    spec("allow", SETTINGS, 1, 1),
    spec("deny", SETTINGS, 1, 1),
    spec("auth_basic", SETTINGS, 1, 1),
    spec("auth_basic_user_file", SETTINGS, 1, 1),
    spec("satisfy", SETTINGS, 1, 1),
    spec("limit_req_zone", MAIN, 3, 4),
    spec("limit_conn_zone", MAIN, 2, 2),
    spec("limit_req", SETTINGS, 1, 3),
    spec("limit_req_status", SETTINGS, 1, 1),
    spec("limit_req_log_level", SETTINGS, 1, 1),
    spec("limit_conn", SETTINGS, 2, 2),
    spec("limit_conn_status", SETTINGS, 1, 1),
    spec("limit_conn_log_level", SETTINGS, 1, 1),
    spec("stub_status", SETTINGS, 0, 0),
    spec("metrics", SETTINGS, 0, 0),
];

/// The reverse proxy's rows (`config::proxy` reads these directives).
pub(super) const PROXY_SPECS: &[Spec] = &[
    block("upstream", MAIN, 1, 1),
    block("map", MAIN, 2, 2),
    spec("proxy_pass", LOCATION, 1, 1),
    spec("proxy_connect_timeout", SETTINGS, 1, 1),
    spec("proxy_read_timeout", SETTINGS, 1, 1),
    spec("proxy_send_timeout", SETTINGS, 1, 1),
    spec("proxy_http_version", SETTINGS, 1, 1),
    spec("proxy_set_header", SETTINGS, 2, 2),
    spec("proxy_hide_header", SETTINGS, 1, 1),
    spec("proxy_pass_header", SETTINGS, 1, 1),
    spec("proxy_pass_request_headers", SETTINGS, 1, 1),
    spec("proxy_pass_request_body", SETTINGS, 1, 1),
    spec("proxy_redirect", SETTINGS, 1, 2),
    spec("proxy_next_upstream", SETTINGS, 1, MANY),
    spec("proxy_next_upstream_tries", SETTINGS, 1, 1),
    spec("proxy_next_upstream_timeout", SETTINGS, 1, 1),
    spec("proxy_intercept_errors", SETTINGS, 1, 1),
    spec("proxy_buffering", SETTINGS, 1, 1),
    spec("proxy_request_buffering", SETTINGS, 1, 1),
    spec("proxy_buffer_size", SETTINGS, 1, 1),
];

/// Checks, in nginx's order, that `d` is known, allowed in `context`, has a block exactly when it
/// needs one and a valid number of arguments.
pub(super) fn check(d: &Directive, context: u8) -> Result<()> {
    let name = d.name.text.as_str();
    let Some(spec) = SPECS.iter().chain(PROXY_SPECS).find(|s| s.name == name) else {
        return fail(d.name.pos, unknown(name));
    };
    if spec.contexts & context == 0 {
        return fail(
            d.name.pos,
            format!("\"{name}\" directive is not allowed here"),
        );
    }
    match (spec.block, d.block.is_some()) {
        (true, false) => return fail(d.end, format!("directive \"{name}\" has no opening \"{{\"")),
        (false, true) => {
            return fail(
                d.end,
                format!("directive \"{name}\" is not terminated by \";\""),
            );
        }
        _ => {}
    }
    if d.args.len() < spec.min_args || d.args.len() > spec.max_args {
        return fail(
            d.name.pos,
            format!("invalid number of arguments in \"{name}\" directive"),
        );
    }
    Ok(())
}

/// Whether webserv reads directive `name` in one of the `contexts`.
pub(super) fn is_known(name: &str, contexts: u8) -> bool {
    SPECS
        .iter()
        .chain(PROXY_SPECS)
        .any(|s| s.name == name && s.contexts & contexts != 0)
}

/// Whether `d` is a setting (what a top-level block, a server or a location may set).
pub(super) fn is_setting(d: &Directive) -> bool {
    SPECS
        .iter()
        .chain(PROXY_SPECS)
        .any(|s| s.name == d.name.text && s.contexts & SETTINGS == SETTINGS)
}

/// Whether `name` is a directive of any block.
pub(super) fn is_directive(name: &str) -> bool {
    SPECS.iter().chain(PROXY_SPECS).any(|s| s.name == name)
}
