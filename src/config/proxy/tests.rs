//! Tests of the proxy directives: what each means once parsed and merged, and every error in
//! `LINE:COL: message` form.

use super::model::*;
use super::value::{ProxyVariable, Value, ValuePart};
use super::*;
use crate::config::parser;
use crate::config::{Config, Variable};
use std::net::SocketAddr;
use std::path::Path;

const DIR: &str = "/etc/webserv";

fn parse(text: &str, wiring: Wiring) -> std::result::Result<Config, String> {
    parser::parse_wired(text, Path::new(DIR), wiring)
        .map_err(|e| format!("{}:{}: {}", e.pos.line, e.pos.col, e.message))
}

fn ok(text: &str) -> Config {
    parse(text, Wiring::Accept).unwrap_or_else(|e| panic!("{text}\n=> {e}"))
}

fn err(text: &str) -> String {
    match parse(text, Wiring::Accept) {
        Ok(_) => panic!("{text}\n=> parsed"),
        Err(e) => e,
    }
}

fn errors(table: &[(&str, &str)]) {
    for (text, expected) in table {
        assert_eq!(err(text), *expected, "for config:\n{text}");
    }
}

/// The proxy settings of `location PATH` in `server { listen 80; SERVER_BODY location PATH {
/// BODY } }` with the top-level `before` text.
fn location(before: &str, server_body: &str, path: &str, body: &str) -> ProxySettings {
    let c = ok(&format!(
        "{before}\nserver {{ listen 80; {server_body} location {path} {{ {body} }} }}"
    ));
    c.servers[0].locations[0].settings.proxy.clone()
}

fn pass(settings: &ProxySettings) -> &ProxyPass {
    settings.pass.as_deref().expect("proxy_pass")
}

fn tcp(s: &str) -> PeerAddr {
    PeerAddr::Tcp(s.parse::<SocketAddr>().unwrap())
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A value as text, variables as `$name` (maps as `$map<N>`).
fn show(v: &Value) -> String {
    v.parts
        .iter()
        .map(|p| match p {
            ValuePart::Text(t) => t.clone(),
            ValuePart::Var(v) => format!("${v:?}"),
        })
        .collect()
}

fn header_list(s: &ProxySettings) -> Vec<(String, String, HeaderOrigin)> {
    s.headers
        .iter()
        .map(|h| (h.name.clone(), show(&h.value), h.origin))
        .collect()
}

fn redirects(s: &ProxySettings) -> Vec<(String, String)> {
    s.redirects
        .iter()
        .map(|r| match r {
            RedirectRule::Default => ("default".to_string(), String::new()),
            RedirectRule::Replace { from, to } => (show(from), show(to)),
        })
        .collect()
}

#[test]
fn proxy_pass_to_an_address_gets_nginx_defaults_and_an_implicit_group() {
    let s = location("", "", "/api", "proxy_pass http://127.0.0.1:8080;");
    let p = pass(&s);
    assert_eq!(p.url, "http://127.0.0.1:8080");
    assert_eq!(p.uri, None);
    assert_eq!(
        (p.host.as_str(), p.port.as_str()),
        ("127.0.0.1:8080", "8080")
    );
    assert_eq!(p.location, "/api");
    let u = &p.upstream;
    assert!(u.implicit);
    assert_eq!((u.id, u.name.as_str()), (0, "127.0.0.1:8080"));
    assert_eq!(u.balance, Balance::RoundRobin);
    assert_eq!(u.keepalive, None);
    assert_eq!(u.servers.len(), 1);
    let server = &u.servers[0];
    assert_eq!(server.addr, tcp("127.0.0.1:8080"));
    assert_eq!(
        (server.weight, server.max_fails, server.fail_timeout),
        (1, 1, secs(10))
    );
    assert_eq!(
        (server.max_conns, server.backup, server.down),
        (0, false, false)
    );

    assert_eq!(
        (s.connect_timeout, s.read_timeout, s.send_timeout),
        (secs(60), secs(60), secs(60))
    );
    assert_eq!(s.http_version, ProxyHttpVersion::Http10);
    assert_eq!(
        s.next_upstream,
        NextUpstream::ERROR.union(NextUpstream::TIMEOUT)
    );
    assert_eq!(
        (s.next_upstream_tries, s.next_upstream_timeout),
        (0, Duration::ZERO)
    );
    assert!(s.pass_request_headers && s.pass_request_body && s.buffering);
    assert!(!s.intercept_errors && !s.request_buffering);
    assert_eq!(s.buffer_size, 8192);
    assert_eq!(
        redirects(&s),
        vec![("http://127.0.0.1:8080/".to_string(), "/".to_string())]
    );
    let d = HeaderOrigin::Default;
    let names: Vec<_> = header_list(&s);
    assert_eq!(
        names,
        vec![
            ("Host".into(), "$ProxyHost".into(), d),
            ("Connection".into(), "close".into(), d),
            ("X-Real-IP".into(), "$Common(RemoteAddr)".into(), d),
            ("X-Forwarded-For".into(), "$ProxyAddXForwardedFor".into(), d),
            ("X-Forwarded-Proto".into(), "$Common(Scheme)".into(), d),
            ("TE".into(), "".into(), d),
            ("Keep-Alive".into(), "".into(), d),
            ("Expect".into(), "".into(), d),
            ("Upgrade".into(), "".into(), d),
        ]
    );
    let c = ok("server { listen 80; location /api { proxy_pass http://127.0.0.1:8080; } }");
    assert_eq!(c.upstreams.len(), 1);
    assert!(Arc::ptr_eq(
        &c.upstreams[0],
        &pass(&c.servers[0].locations[0].settings.proxy).upstream
    ));
}

#[test]
fn proxy_host_and_port_follow_nginx() {
    let cases = [
        ("http://127.0.0.1", "127.0.0.1", "80", None),
        ("http://127.0.0.1:80/", "127.0.0.1", "80", Some("/")),
        ("http://[::1]:8080/x/", "[::1]:8080", "8080", Some("/x/")),
        ("http://[::1]", "[::1]", "80", None),
        ("http://localhost:9000", "localhost:9000", "9000", None),
        (
            "http://unix:/run/app.sock:/v1/",
            "localhost",
            "",
            Some("/v1/"),
        ),
        ("http://unix:app.sock", "localhost", "", None),
    ];
    for (url, host, port, uri) in cases {
        let s = location("", "", "/", &format!("proxy_pass {url};"));
        let p = pass(&s);
        assert_eq!(
            (p.host.as_str(), p.port.as_str(), p.uri.as_deref()),
            (host, port, uri),
            "{url}"
        );
    }
    let s = location("", "", "/", "proxy_pass http://unix:run/app.sock;");
    assert_eq!(
        pass(&s).upstream.servers[0].addr,
        PeerAddr::Unix("/etc/webserv/run/app.sock".into())
    );
    assert_eq!(pass(&s).upstream.name, "unix:run/app.sock");
}

#[test]
fn a_uri_part_makes_proxy_redirect_default_map_it_back_to_the_location() {
    let s = location("", "", "/one/", "proxy_pass http://10.0.0.1:81/two/;");
    assert_eq!(pass(&s).uri.as_deref(), Some("/two/"));
    assert_eq!(
        redirects(&s),
        vec![("http://10.0.0.1:81/two/".to_string(), "/one/".to_string())]
    );
    let s = location("", "", "= /exact", "proxy_pass http://10.0.0.1/x;");
    assert_eq!(pass(&s).location, "/exact");
}

const UPSTREAMS: &str = "
upstream backend {
    least_conn;
    server 127.0.0.1:8001 weight=3 max_fails=2 fail_timeout=30s;
    server 127.0.0.1:8002 max_conns=10;
    server [::1]:8003 down;
    server unix:/run/app.sock backup;
    keepalive 16;
    keepalive_timeout 30s;
    keepalive_requests 100;
    keepalive_time 10m;
}
upstream Simple { server 10.0.0.9; }
";

#[test]
fn upstream_blocks_give_servers_with_their_parameters() {
    let c = ok(&format!(
        "{UPSTREAMS}\nserver {{ listen 80; location / {{ proxy_pass http://BACKEND; }} }}"
    ));
    assert_eq!(c.upstreams.len(), 2);
    let u = &c.upstreams[0];
    assert_eq!((u.id, u.name.as_str(), u.implicit), (0, "backend", false));
    assert_eq!(u.balance, Balance::LeastConn);
    assert_eq!(
        u.keepalive,
        Some(Keepalive {
            connections: 16,
            timeout: secs(30),
            requests: 100,
            time: secs(600),
        })
    );
    let got: Vec<_> = u
        .servers
        .iter()
        .map(|s| {
            (
                s.addr.to_string(),
                s.weight,
                s.max_fails,
                s.fail_timeout,
                s.max_conns,
                s.backup,
                s.down,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("127.0.0.1:8001".into(), 3, 2, secs(30), 0, false, false),
            ("127.0.0.1:8002".into(), 1, 1, secs(10), 10, false, false),
            ("[::1]:8003".into(), 1, 1, secs(10), 0, false, true),
            ("unix:/run/app.sock".into(), 1, 1, secs(10), 0, true, false),
        ]
    );
    let simple = &c.upstreams[1];
    assert_eq!(simple.servers[0].addr, tcp("10.0.0.9:80"));
    assert_eq!(simple.balance, Balance::RoundRobin);
    assert_eq!(simple.keepalive, None);

    let p = pass(&c.servers[0].locations[0].settings.proxy);
    assert!(Arc::ptr_eq(&p.upstream, u));
    assert_eq!((p.host.as_str(), p.port.as_str()), ("backend", "80"));
    let with_defaults = ok("upstream b { server 10.0.0.1:1; keepalive 4; }
        server { listen 80; location / { proxy_pass http://b; } }");
    assert_eq!(
        with_defaults.upstreams[0].keepalive,
        Some(Keepalive {
            connections: 4,
            timeout: secs(60),
            requests: 1000,
            time: secs(3600),
        })
    );
}

#[test]
fn an_upstream_may_be_defined_after_the_location_that_uses_it() {
    let c = ok(
        "server { listen 80; location / { proxy_pass http://late/x/; } }
        upstream late { server 10.0.0.1:9; }",
    );
    let p = pass(&c.servers[0].locations[0].settings.proxy);
    assert_eq!(p.upstream.name, "late");
    assert_eq!(p.uri.as_deref(), Some("/x/"));
}

#[test]
fn locations_naming_the_same_address_share_one_implicit_group() {
    let c = ok("server { listen 80;
        location /a { proxy_pass http://127.0.0.1:9000; }
        location /b { proxy_pass http://127.0.0.1:9000/b/; }
        location /c { proxy_pass http://127.0.0.1:9001; }
    }
    server { listen 81; location / { proxy_pass http://127.0.0.1:9000/; } }");
    let id = |s: usize, l: usize| pass(&c.servers[s].locations[l].settings.proxy).upstream.id;
    assert_eq!((id(0, 0), id(0, 1), id(0, 2), id(1, 0)), (0, 0, 1, 0));
    assert_eq!(c.upstreams.len(), 2);
    assert_eq!(c.upstreams[1].name, "127.0.0.1:9001");
}

#[test]
fn proxy_set_header_is_taken_from_the_nearest_block_and_merged_with_the_defaults() {
    let server = "proxy_set_header X-From server; proxy_set_header host $host;";
    let inherited = location("", server, "/", "proxy_pass http://10.0.0.1;");
    let c = HeaderOrigin::Configured;
    let d = HeaderOrigin::Default;
    assert_eq!(
        header_list(&inherited)[..4],
        [
            ("X-From".into(), "server".into(), c),
            ("host".into(), "$Common(Host)".into(), c),
            ("Connection".into(), "close".into(), d),
            ("X-Real-IP".into(), "$Common(RemoteAddr)".into(), d),
        ]
    );
    assert_eq!(inherited.headers.len(), 10);

    let own = location(
        "",
        server,
        "/",
        "proxy_pass http://10.0.0.1; proxy_set_header Connection \"\"; \
         proxy_set_header X-Forwarded-For $remote_addr;",
    );
    let list = header_list(&own);
    assert_eq!(list[0], ("Connection".into(), "".into(), c));
    assert_eq!(
        list[1],
        ("X-Forwarded-For".into(), "$Common(RemoteAddr)".into(), c)
    );
    assert_eq!(list[2], ("Host".into(), "$ProxyHost".into(), d));
    assert!(!list.iter().any(|(n, _, _)| n == "X-From"));
    assert_eq!(list.len(), 9);
}

#[test]
fn the_nginx_websocket_snippet_parses_with_its_map() {
    let before = "map $http_upgrade $connection_upgrade {\n    default upgrade;\n    '' close;\n}";
    let s = location(
        before,
        "",
        "/ws/",
        "proxy_pass http://127.0.0.1:9000; proxy_http_version 1.1;
         proxy_set_header Upgrade $http_upgrade;
         proxy_set_header Connection $connection_upgrade;",
    );
    assert_eq!(s.http_version, ProxyHttpVersion::Http11);
    let list = header_list(&s);
    assert_eq!(list[0].1, "$Common(Header(\"upgrade\"))");
    assert_eq!(list[1].1, "$Map(0)");
    let c = ok(&format!(
        "{before}\nserver {{ listen 80; location / {{ proxy_pass http://10.0.0.1; }} }}"
    ));
    assert_eq!(c.maps.len(), 1);
    let m = &c.maps[0];
    assert_eq!(m.name, "connection_upgrade");
    assert_eq!(
        m.source.parts,
        vec![ValuePart::Var(ProxyVariable::Common(Variable::Header(
            "upgrade".into()
        )))]
    );
    assert_eq!(m.lookup(""), &Value::literal("close"));
    assert_eq!(m.lookup("WebSocket"), &Value::literal("upgrade"));
}

#[test]
fn map_blocks_take_keys_ignoring_case_escapes_and_other_maps() {
    let c = ok(
        "map $host $site { default none; Example.COM ex; \\default literal; volatile; }
        map $site$uri $both { ex/ root; }
        server { listen 80; location / { proxy_pass http://10.0.0.1;
            proxy_set_header X-Both $both; } }",
    );
    let site = &c.maps[0];
    assert_eq!(site.lookup("example.com"), &Value::literal("ex"));
    assert_eq!(site.lookup("default"), &Value::literal("literal"));
    assert_eq!(site.lookup("other"), &Value::literal("none"));
    let both = &c.maps[1];
    assert_eq!(
        both.source.parts,
        vec![
            ValuePart::Var(ProxyVariable::Map(0)),
            ValuePart::Var(ProxyVariable::Common(Variable::Uri))
        ]
    );
    assert_eq!(both.lookup("nothing"), &Value::literal(""));
}

#[test]
fn hide_and_pass_header_lists_inherit_each_on_their_own() {
    let s = location(
        "",
        "proxy_hide_header X-Powered-By; proxy_pass_header Server;",
        "/",
        "proxy_pass http://10.0.0.1; proxy_hide_header X-Debug; proxy_hide_header x-debug;",
    );
    assert_eq!(&s.hide_headers[..], ["x-debug".to_string()]);
    assert_eq!(&s.pass_headers[..], ["server".to_string()]);
    assert!(s.hides("x-debug") && s.hides("date") && s.hides("x-accel-redirect"));
    assert!(!s.hides("server") && !s.hides("x-powered-by") && !s.hides("content-type"));
    let defaults = ProxySettings::default();
    assert!(defaults.hides("server") && defaults.hides("x-pad"));
}

#[test]
fn proxy_redirect_rules_off_and_default_combine_as_in_nginx() {
    let base = "proxy_pass http://10.0.0.1:8000/app/;";
    let s = location("", "", "/", &format!("{base} proxy_redirect off;"));
    assert!(s.redirects.is_empty());
    let s = location(
        "",
        "",
        "/",
        &format!(
            "{base} proxy_redirect default; proxy_redirect http://$proxy_host/ $scheme://$host/;"
        ),
    );
    assert_eq!(
        redirects(&s),
        vec![
            ("http://10.0.0.1:8000/app/".to_string(), "/".to_string()),
            (
                "http://$ProxyHost/".to_string(),
                "$Common(Scheme)://$Common(Host)/".to_string()
            ),
        ]
    );
    // Rules of the server replace the default of a location without its own.
    let s = location("", "proxy_redirect http://a/ http://b/;", "/", base);
    assert_eq!(
        redirects(&s),
        vec![("http://a/".to_string(), "http://b/".to_string())]
    );
    let s = location("", "proxy_redirect off;", "/", base);
    assert!(s.redirects.is_empty());
}

#[test]
fn scalar_settings_are_read_and_inherited_from_the_server() {
    let s = location(
        "",
        "proxy_connect_timeout 5s; proxy_read_timeout 2m; proxy_http_version 1.1;
         proxy_intercept_errors on; proxy_buffer_size 16k;",
        "/",
        "proxy_pass http://10.0.0.1; proxy_send_timeout 1500ms; proxy_buffering off;
         proxy_request_buffering on; proxy_pass_request_headers off; proxy_pass_request_body off;
         proxy_next_upstream error http_502 non_idempotent; proxy_next_upstream_tries 3;
         proxy_next_upstream_timeout 10s; proxy_read_timeout 90;",
    );
    assert_eq!(s.connect_timeout, secs(5));
    assert_eq!(s.read_timeout, secs(90));
    assert_eq!(s.send_timeout, Duration::from_millis(1500));
    assert_eq!(s.http_version, ProxyHttpVersion::Http11);
    assert!(s.intercept_errors && s.request_buffering);
    assert!(!s.buffering && !s.pass_request_headers && !s.pass_request_body);
    assert_eq!(s.buffer_size, 16 * 1024);
    let expected = NextUpstream::ERROR
        .union(NextUpstream::HTTP_502)
        .union(NextUpstream::NON_IDEMPOTENT);
    assert_eq!(s.next_upstream, expected);
    assert!(!s.next_upstream.contains(NextUpstream::TIMEOUT));
    assert_eq!(
        (s.next_upstream_tries, s.next_upstream_timeout),
        (3, secs(10))
    );
    let off = location(
        "",
        "",
        "/",
        "proxy_pass http://10.0.0.1; proxy_next_upstream off;",
    );
    assert_eq!(off.next_upstream, NextUpstream::OFF);
    assert!(!off.next_upstream.contains(NextUpstream::ERROR));
    // The server's own settings carry them too (for locations declared without them).
    let c = ok(
        "server { listen 80; proxy_read_timeout 7s; location / { proxy_pass http://10.0.0.1; } }",
    );
    assert_eq!(c.servers[0].settings.proxy.read_timeout, secs(7));
    assert!(c.servers[0].settings.proxy.pass.is_none());
}

#[test]
fn bad_proxy_pass_and_upstream_references_are_errors_at_the_url() {
    errors(&[
        (
            "server { listen 80; location / { proxy_pass 127.0.0.1:8080; } }",
            "1:45: invalid URL prefix in \"127.0.0.1:8080\"",
        ),
        (
            "server { listen 80; location / { proxy_pass http://10.0.0.1:99999; } }",
            "1:45: invalid port in upstream \"10.0.0.1:99999\"",
        ),
        (
            "server { listen 80; location / { proxy_pass https://10.0.0.1; } }",
            "1:45: https upstreams are not supported in \"https://10.0.0.1\" (only \"http://\")",
        ),
        (
            "server { listen 80; location / { proxy_pass http://$host; } }",
            "1:45: variables in \"proxy_pass\" are not supported: \"http://$host\"",
        ),
        (
            "server { listen 80; location / { proxy_pass http://no-such-host.invalid:81; } }",
            "1:45: host not found in upstream \"no-such-host.invalid:81\"",
        ),
        (
            "upstream backend { server 10.0.0.1; }\nserver { listen 80; location / {\n  proxy_pass http://backnd.invalid; } }",
            "3:14: host not found in upstream \"backnd.invalid:80\" (and no \"upstream\" block has that name)",
        ),
        (
            "upstream backend { server 10.0.0.1; }\nserver { listen 80; location / { proxy_pass http://backend:8080; } }",
            "2:45: upstream \"backend\" may not have port 8080",
        ),
        (
            "server { listen 80; proxy_pass http://10.0.0.1; }",
            "1:21: \"proxy_pass\" directive is not allowed here",
        ),
        (
            "proxy_pass http://10.0.0.1;",
            "1:1: \"proxy_pass\" directive is not allowed here",
        ),
        (
            "server { listen 80; location / { proxy_pass http://10.0.0.1; proxy_pass http://10.0.0.2; } }",
            "1:62: \"proxy_pass\" directive is duplicate",
        ),
        (
            "server { listen 80; location / { proxy_pass http://a http://b; } }",
            "1:34: invalid number of arguments in \"proxy_pass\" directive",
        ),
    ]);
}

#[test]
fn bad_upstream_blocks_are_errors_where_they_are_written() {
    errors(&[
        (
            "upstream a { }\nserver { listen 80; }",
            "1:1: no servers are inside upstream \"a\"",
        ),
        (
            "upstream a { server 10.0.0.1 backup; }\nserver { listen 80; }",
            "1:1: no servers are inside upstream \"a\"",
        ),
        (
            "upstream a { server 10.0.0.1; }\nupstream A { server 10.0.0.2; }\nserver { listen 80; }",
            "2:10: duplicate upstream \"A\"",
        ),
        (
            "upstream a/b { server 10.0.0.1; }",
            "1:10: invalid upstream name \"a/b\"",
        ),
        (
            "upstream a;",
            "1:11: directive \"upstream\" has no opening \"{\"",
        ),
        (
            "server { listen 80; upstream a { server 10.0.0.1; } }",
            "1:21: \"upstream\" directive is not allowed here",
        ),
        (
            "upstream a { server 10.0.0.1:80/x; }",
            "1:21: invalid host in upstream \"10.0.0.1:80/x\"",
        ),
        (
            "upstream a { server 10.0.0.1:0; }",
            "1:21: invalid port in upstream \"10.0.0.1:0\"",
        ),
        (
            "upstream a { server nowhere.invalid; }",
            "1:21: host not found in upstream \"nowhere.invalid:80\"",
        ),
        (
            "upstream a { server 10.0.0.1 weight=0; }",
            "1:30: invalid parameter \"weight=0\"",
        ),
        (
            "upstream a { server 10.0.0.1 weight=x; }",
            "1:30: invalid parameter \"weight=x\"",
        ),
        (
            "upstream a { server 10.0.0.1 max_fails=-1; }",
            "1:30: invalid parameter \"max_fails=-1\"",
        ),
        (
            "upstream a { server 10.0.0.1 fail_timeout=soon; }",
            "1:30: invalid parameter \"fail_timeout=soon\"",
        ),
        (
            "upstream a { server 10.0.0.1 slow_start=30s; }",
            "1:30: invalid parameter \"slow_start=30s\"",
        ),
        (
            "upstream a { server 10.0.0.1 backup down; }",
            "1:14: a \"server\" cannot be both \"backup\" and \"down\"",
        ),
        (
            "upstream a { server; }",
            "1:14: invalid number of arguments in \"server\" directive",
        ),
        (
            "upstream a { server 10.0.0.1; least_conn; least_conn; }",
            "1:43: \"least_conn\" directive is duplicate",
        ),
        (
            "upstream a { server 10.0.0.1; least_conn x; }",
            "1:31: invalid number of arguments in \"least_conn\" directive",
        ),
        (
            "upstream a { server 10.0.0.1; keepalive 0; }",
            "1:41: invalid value \"0\" in \"keepalive\" directive",
        ),
        (
            "upstream a { server 10.0.0.1; keepalive 2; keepalive 3; }",
            "1:44: \"keepalive\" directive is duplicate",
        ),
        (
            "upstream a { server 10.0.0.1; keepalive_timeout 5s; }",
            "1:31: \"keepalive_timeout\" needs \"keepalive N\" in the upstream",
        ),
        (
            "upstream a { server 10.0.0.1; ip_hash; }",
            "1:31: \"ip_hash\" is not supported by webserv (upstreams balance by weighted round-robin or \"least_conn\", with state kept per worker)",
        ),
        (
            "upstream a { server 10.0.0.1; root /x; }",
            "1:31: \"root\" directive is not allowed here",
        ),
        (
            "upstream a { server 10.0.0.1; frobnicate; }",
            "1:31: unknown directive \"frobnicate\"",
        ),
        (
            "upstream a { server 10.0.0.1 { } }",
            "1:14: directive \"server\" is not terminated by \";\"",
        ),
    ]);
}

#[test]
fn bad_proxy_settings_are_errors_at_the_offending_word() {
    let at = |body: &str| err(&format!("server {{ listen 80; location / {{ {body} }} }}"));
    let cases = [
        (
            "proxy_http_version 2.0;",
            "1:53: invalid value \"2.0\" in \"proxy_http_version\" directive, it must be \"1.0\" or \"1.1\"",
        ),
        (
            "proxy_connect_timeout 0;",
            "1:56: invalid duration \"0\": must be above 0",
        ),
        (
            "proxy_read_timeout soon;",
            "1:53: invalid duration \"soon\"",
        ),
        (
            "proxy_read_timeout 1s; proxy_read_timeout 2s;",
            "1:57: \"proxy_read_timeout\" directive is duplicate",
        ),
        (
            "proxy_set_header \"a b\" x;",
            "1:51: invalid header name \"a b\"",
        ),
        (
            "proxy_set_header X $nope;",
            "1:53: unknown \"nope\" variable in \"$nope\"",
        ),
        (
            "proxy_set_header X \"a\nb\";",
            "1:53: invalid header value, control characters (such as a line break) are not allowed",
        ),
        (
            "proxy_set_header Content-Length 5;",
            "1:51: \"Content-Length\" can only be cleared with \"proxy_set_header\" (an empty value): the server frames the request body itself",
        ),
        (
            "proxy_set_header X 1; proxy_set_header x 2;",
            "1:73: duplicate \"proxy_set_header x\"",
        ),
        (
            "proxy_set_header X;",
            "1:34: invalid number of arguments in \"proxy_set_header\" directive",
        ),
        ("proxy_hide_header \"\";", "1:52: invalid header name \"\""),
        (
            "proxy_buffering maybe;",
            "1:50: invalid value \"maybe\" in \"proxy_buffering\" directive, it must be \"on\" or \"off\"",
        ),
        (
            "proxy_buffer_size 100;",
            "1:52: \"proxy_buffer_size\" must be between 1k and 1m, not \"100\"",
        ),
        (
            "proxy_buffer_size 2m;",
            "1:52: \"proxy_buffer_size\" must be between 1k and 1m, not \"2m\"",
        ),
        (
            "proxy_next_upstream error sometimes;",
            "1:60: invalid value \"sometimes\"",
        ),
        (
            "proxy_next_upstream error off;",
            "1:60: \"off\" cannot be combined with other values in \"proxy_next_upstream\"",
        ),
        (
            "proxy_next_upstream_tries -1;",
            "1:60: invalid value \"-1\" in \"proxy_next_upstream_tries\" directive",
        ),
        (
            "proxy_redirect default;",
            "1:34: \"proxy_redirect default\" should be placed after the \"proxy_pass\" directive",
        ),
        (
            "proxy_pass http://10.0.0.1; proxy_redirect sometimes;",
            "1:77: invalid parameter \"sometimes\"",
        ),
        (
            "proxy_pass http://10.0.0.1; proxy_redirect ~^http://(.*) $1;",
            "1:77: regular expressions in \"proxy_redirect\" are not supported by webserv yet: \"~^http://(.*)\"",
        ),
        (
            "proxy_pass http://10.0.0.1; proxy_redirect http://$nope/ /;",
            "1:77: unknown \"nope\" variable in \"http://$nope/\"",
        ),
        (
            "proxy_websocket on;",
            // A proxy_* name webserv does not have (config::nginx's families).
            "1:34: \"proxy_websocket\" directive is not supported by webserv: webserv's reverse \
             proxy does not have it (its directives are in docs/CONFIG.md) (see \"Differences \
             from nginx\" in docs/CONFIG.md)",
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(at(body), expected, "{body}");
    }
    assert_eq!(
        err(
            "server { listen 80; proxy_redirect default; location / { proxy_pass http://10.0.0.1; } }"
        ),
        "1:21: \"proxy_redirect default\" should be placed after the \"proxy_pass\" directive"
    );
}

#[test]
fn bad_map_blocks_are_errors_where_they_are_written() {
    let server = "\nserver { listen 80; }";
    let cases = [
        (
            "map $http_x connection_upgrade { }",
            "1:13: invalid variable name \"connection_upgrade\"",
        ),
        (
            "map $http_x $host { }",
            "1:13: the duplicate \"host\" variable",
        ),
        (
            "map $http_x $a { }\nmap $http_y $a { }",
            "2:13: the duplicate \"a\" variable",
        ),
        (
            "map $nope $a { }",
            "1:5: unknown \"nope\" variable in \"$nope\"",
        ),
        (
            "map $http_x $a { x $nope; }",
            "1:20: unknown \"nope\" variable in \"$nope\"",
        ),
        (
            "map $http_x $a { ~^x 1; }",
            "1:18: regular expressions in \"map\" are not supported by webserv yet: \"~^x\"",
        ),
        (
            "map $http_x $a { hostnames; }",
            "1:18: \"hostnames\" in \"map\" is not supported by webserv",
        ),
        (
            "map $http_x $a { x 1; X 2; }",
            "1:23: conflicting parameter \"X\"",
        ),
        (
            "map $http_x $a { default 1; default 2; }",
            "1:29: duplicate default map parameter",
        ),
        (
            "map $http_x $a { x; }",
            "1:18: invalid number of the map parameters, each needs a key and a value",
        ),
        (
            "map $http_x $a { x 1 2; }",
            "1:18: invalid number of the map parameters, each needs a key and a value",
        ),
        (
            "map $b $a { }\nmap $a $b { }",
            "1:8: cycle while evaluating variable \"a\": a map depends on itself",
        ),
        (
            "map $http_x { }",
            "1:1: invalid number of arguments in \"map\" directive",
        ),
        (
            "server { listen 80; map $a $b { } }",
            "1:21: \"map\" directive is not allowed here",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(err(&format!("{text}{server}")), expected, "{text}");
    }
}

#[test]
fn a_uri_part_is_refused_where_no_prefix_is_matched() {
    errors(&[
        (
            "server { listen 80; location ~ \\.php$ { proxy_pass http://10.0.0.1/x/; } }",
            "1:41: \"proxy_pass\" cannot have URI part in location given by regular expression, \
             or inside named location",
        ),
        (
            "server { listen 80; location ~* ^/api { proxy_pass http://10.0.0.1/; } }",
            "1:41: \"proxy_pass\" cannot have URI part in location given by regular expression, \
             or inside named location",
        ),
        (
            "server { listen 80; location @app { proxy_pass http://10.0.0.1/; } }",
            "1:37: \"proxy_pass\" cannot have URI part in location given by regular expression, \
             or inside named location",
        ),
    ]);
    let c = ok("server { listen 80;
        location ~ \\.php$ { proxy_pass http://10.0.0.1; }
        location @app { proxy_pass http://10.0.0.1; }
        location ^~ /static/ { proxy_pass http://10.0.0.1/files/; }
        location /outer/ { location /outer/inner/ { proxy_pass http://10.0.0.1/in/; } }
    }");
    let locations = &c.servers[0].locations;
    let find = |path: &str| {
        locations
            .iter()
            .find(|l| l.path == path)
            .map(|l| &l.settings.proxy)
            .unwrap()
    };
    assert_eq!(pass(find("\\.php$")).uri, None);
    assert_eq!(pass(find("@app")).uri, None);
    assert_eq!(pass(find("/static/")).location, "/static/");
    assert_eq!(pass(find("/outer/inner/")).location, "/outer/inner/");
    assert!(find("/outer/").pass.is_none());
}

#[test]
fn an_upstream_on_one_of_our_own_listeners_is_a_warning() {
    let c = ok(
        "upstream self { server 10.0.0.1:8080; server 127.0.0.1:8080; }
server { listen 8080; location / { proxy_pass http://self; } }
server { listen 127.0.0.1:9090; listen [::1]:9091; location / {
  proxy_pass http://127.0.0.1:9090; }
  location /b { proxy_pass http://[::1]:9091; }
  location /c { proxy_pass http://127.0.0.1:9092; }
  location /d { proxy_pass http://unix:/run/x.sock; }
}",
    );
    let got: Vec<_> = c
        .warnings
        .iter()
        .map(|w| format!("{}:{}: {}", w.line, w.col, w.message))
        .collect();
    assert_eq!(
        got,
        vec![
            "1:39: upstream \"self\" sends requests to 127.0.0.1:8080, which this server listens on (\"listen 0.0.0.0:8080\"): they would loop back into webserv",
            "4:14: upstream \"127.0.0.1:9090\" sends requests to 127.0.0.1:9090, which this server listens on (\"listen 127.0.0.1:9090\"): they would loop back into webserv",
            "5:28: upstream \"[::1]:9091\" sends requests to [::1]:9091, which this server listens on (\"listen [::1]:9091\"): they would loop back into webserv",
        ]
    );
}

#[test]
fn until_the_proxy_is_wired_proxy_pass_and_upstream_are_refused() {
    let refuse = |text: &str| parse(text, Wiring::Refuse).map(|_| ()).unwrap_err();
    assert_eq!(
        refuse("server { listen 80;\n location / {\n  proxy_pass http://10.0.0.1; } }"),
        "3:3: \"proxy_pass\" is not supported by this build yet: the reverse proxy is not wired into its server"
    );
    assert_eq!(
        refuse("server { listen 80; }\nupstream u { server 10.0.0.1; }"),
        "2:1: \"upstream\" is not supported by this build yet: the reverse proxy is not wired into its server"
    );
    // The settings alone proxy nothing and stay accepted, as in nginx.
    assert!(
        parse(
            "server { listen 80; proxy_read_timeout 5s; }",
            Wiring::Refuse
        )
        .is_ok()
    );
    // The public entry point follows this build's wiring.
    let public = crate::config::parse(
        "server { listen 80; location / { proxy_pass http://10.0.0.1; } }",
        Path::new("/etc/webserv/x.conf"),
    );
    match WIRING {
        Wiring::Refuse => assert!(public.is_err()),
        Wiring::Accept => assert!(public.is_ok()),
    }
}

/// Text made of the proxy directives' pieces, inside a location, after an upstream `u` and a map
/// `$m` (only literal addresses and those names: nothing here needs a DNS lookup).
fn proxy_like() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let token = prop_oneof![
        Just("proxy_pass"),
        Just("http://u"),
        Just("http://U/x/"),
        Just("http://u:80"),
        Just("http://127.0.0.1:1"),
        Just("http://[::1]:2/"),
        Just("http://unix:/s:/p"),
        Just("https://u"),
        Just("proxy_set_header"),
        Just("Host"),
        Just("Content-Length"),
        Just("\"\""),
        Just("$host"),
        Just("$m"),
        Just("$http_x_y"),
        Just("${nope}"),
        Just("proxy_redirect"),
        Just("default"),
        Just("off"),
        Just("proxy_next_upstream"),
        Just("error"),
        Just("http_502"),
        Just("proxy_read_timeout"),
        Just("5s"),
        Just("proxy_buffer_size"),
        Just("16k"),
        Just("proxy_http_version"),
        Just("1.1"),
        Just("proxy_hide_header"),
        Just(";"),
        Just(" "),
        Just("\n"),
        Just("{"),
        Just("}"),
    ];
    proptest::collection::vec(token, 0..40).prop_map(|t| t.concat())
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    #[test]
    fn proxy_configurations_parse_or_fail_at_a_place_in_the_text(body in proxy_like()) {
        let text = format!(
            "upstream u {{ server 127.0.0.1:9; keepalive 2; }}\nmap $host $m {{ a b; }}\n\
             server {{ listen 80;\nlocation / {{\n{body}\n}} }}\n"
        );
        match parser::parse_wired(&text, Path::new(DIR), Wiring::Accept) {
            Err(e) => {
                let lines: Vec<&str> = text.split('\n').collect();
                proptest::prop_assert!(e.pos.line >= 1 && e.pos.line <= lines.len(), "{:?}", e);
                let width = lines[e.pos.line - 1].chars().count() + 1;
                proptest::prop_assert!(e.pos.col >= 1 && e.pos.col <= width, "{:?}", e);
                proptest::prop_assert!(!e.message.is_empty());
            }
            Ok(config) => {
                for location in &config.servers[0].locations {
                    let proxy = &location.settings.proxy;
                    if let Some(pass) = &proxy.pass {
                        proptest::prop_assert_eq!(&pass.location, &location.path);
                        proptest::prop_assert!(config.upstreams.iter().any(|u| Arc::ptr_eq(u, &pass.upstream)));
                        proptest::prop_assert!(!proxy.redirects.contains(&RedirectRule::Default));
                    }
                    let names: Vec<String> =
                        proxy.headers.iter().map(|h| h.name.to_ascii_lowercase()).collect();
                    for (i, n) in names.iter().enumerate() {
                        proptest::prop_assert!(!names[..i].contains(n), "{} twice", n);
                    }
                }
            }
        }
    }
}

#[test]
fn a_proxied_location_allows_every_method_unless_told_otherwise() {
    use crate::config::Methods;
    let all = Methods::ALL
        .iter()
        .fold(Methods::NONE, |a, (m, _)| a.union(*m));
    let c = ok("server { listen 80;
        location /p { proxy_pass http://10.0.0.1; }
        location /q { proxy_pass http://10.0.0.1; allow_methods GET; }
        location /f { }
    }
    server { listen 81; allow_methods GET POST; location / { proxy_pass http://10.0.0.1; } }");
    let methods = |s: usize, l: usize| c.servers[s].locations[l].settings.allow_methods;
    assert_eq!(methods(0, 0), all);
    assert_eq!(methods(0, 1), Methods::GET);
    assert_eq!(methods(0, 2), Methods::GET.union(Methods::HEAD));
    assert_eq!(methods(1, 0), Methods::GET.union(Methods::POST));

    // A block nested in a proxied location does not inherit its every-method default: files
    // under it keep GET HEAD (DELETE must never come from a proxy's default).
    let c = ok("server { listen 80;
        location /app/ { proxy_pass http://10.0.0.1;
            location /app/static/ { root /srv; }
            location /app/api/ { proxy_pass http://10.0.0.2; }
        }
        location /set/ { allow_methods GET POST; proxy_pass http://10.0.0.1;
            location /set/files/ { }
        }
    }");
    let by_path = |path: &str| {
        c.servers[0]
            .locations
            .iter()
            .find(|l| l.path == path)
            .map(|l| l.settings.allow_methods)
            .unwrap()
    };
    assert_eq!(by_path("/app/"), all);
    assert_eq!(by_path("/app/static/"), Methods::GET.union(Methods::HEAD));
    assert_eq!(by_path("/app/api/"), all);
    assert_eq!(by_path("/set/files/"), Methods::GET.union(Methods::POST));
}
