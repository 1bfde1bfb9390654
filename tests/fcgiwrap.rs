//! The CGI test scripts (`support::cgi::SCRIPTS`) run by fcgiwrap (Debian's, started by each
//! test on a temporary unix socket, stopped by PID) behind `fastcgi_pass`: the environment,
//! request bodies in (with a length, chunked), statuses, redirects, lengths and fields out, a
//! script's failures, and keep-conn. (fcgiwrap writes a script's stderr to its own stderr,
//! not in FCGI_STDERR records: tests/fastcgi.rs checks those with php-fpm.)

mod support;

use std::path::Path;
use support::cgi::{Client, SCRIPTS, send_in_background, write_file};
use support::fastcgi::{self, Peer};
use support::{Server, random_bytes};

/// fcgiwrap with the scripts (a `#!` line added: fcgiwrap executes them), and a webserv in
/// front of it with `extra` in the location.
fn start(extra: &str) -> (Server, Peer) {
    let peer = fastcgi::fcgiwrap(&[]);
    let www = fastcgi::www(&peer);
    for (path, contents, _) in SCRIPTS {
        let shebang = match Path::new(path).extension().and_then(|e| e.to_str()) {
            Some("py") => "#!/usr/bin/python3\n",
            Some("sh") => "#!/bin/sh\n",
            _ => continue,
        };
        write_file(&www.join(path), format!("{shebang}{contents}"), true);
    }
    let conf = format!(
        "workers 1;
access_log off;
server {{
    listen 127.0.0.1:0;
    server_name localhost;
    root {};
    client_max_body_size 0;
    location /cgi-bin/ {{
        fastcgi_split_path_info ^(/cgi-bin/[^/]+)(/.*)$;
        fastcgi_pass {};
        fastcgi_read_timeout 30s;
        {extra}
    }}
}}",
        www.display(),
        peer.address.to_config()
    );
    (Server::start(&conf, &[]), peer)
}

fn env_of(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn var<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[test]
fn a_scripts_environment_over_fastcgi_is_its_cgi_environment() {
    let (server, peer) = start("");
    let mut client = Client::connect(server.port());
    client.send(
        "GET /cgi-bin/env.py/a/b?x=1&y=%41 HTTP/1.1\r\nHost: localhost\r\nX-Custom: yes\r\n\
         Proxy: http://evil\r\n\r\n",
    );
    let r = client.response(false);
    assert_eq!(r.status(), 200, "{}", r.text());
    let env = env_of(&r.text());
    let root = fastcgi::www(&peer).display().to_string();
    assert_eq!(var(&env, "SCRIPT_NAME"), Some("/cgi-bin/env.py"));
    assert_eq!(
        var(&env, "SCRIPT_FILENAME"),
        Some(format!("{root}/cgi-bin/env.py").as_str())
    );
    assert_eq!(var(&env, "PATH_INFO"), Some("/a/b"));
    assert_eq!(var(&env, "QUERY_STRING"), Some("x=1&y=%41"));
    assert_eq!(var(&env, "REQUEST_METHOD"), Some("GET"));
    assert_eq!(
        var(&env, "REQUEST_URI"),
        Some("/cgi-bin/env.py/a/b?x=1&y=%41")
    );
    assert_eq!(var(&env, "GATEWAY_INTERFACE"), Some("CGI/1.1"));
    assert_eq!(
        var(&env, "SERVER_PORT"),
        Some(server.port().to_string().as_str())
    );
    assert_eq!(var(&env, "HTTP_X_CUSTOM"), Some("yes"));
    assert_eq!(var(&env, "HTTP_PROXY"), None, "httpoxy");
}

#[test]
fn request_bodies_reach_the_script_with_their_length_or_spooled_from_chunks() {
    let (server, _peer) = start("");
    // fcgiwrap copies the whole body to the script before it reads the script's output: a
    // script that echoes more than a pipe holds (64 KiB) would block it.
    for len in [0usize, 1, 50_000] {
        let body = random_bytes(len, len as u64);
        let mut client = Client::connect(server.port());
        client.send(format!(
            "POST /cgi-bin/echo.sh HTTP/1.1\r\nHost: h\r\nContent-Length: {len}\r\n\r\n"
        ));
        let sender = send_in_background(&client, body.clone());
        let r = client.response(false);
        sender.join().unwrap();
        assert_eq!(r.header("X-Content-Length"), Some(len.to_string().as_str()));
        assert!(r.body == body, "{len} bytes echoed");
    }
    let mut client = Client::connect(server.port());
    client.send(
        "POST /cgi-bin/echo.sh HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\
         4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n",
    );
    let r = client.response(false);
    assert_eq!(r.header("X-Content-Length"), Some("9"));
    assert_eq!(r.text(), "Wikipedia");
}

#[test]
fn statuses_redirects_lengths_and_fields_pass_as_for_cgi() {
    let (server, _peer) = start("");
    let mut client = Client::connect(server.port());
    let r = client.get("/cgi-bin/status.sh");
    assert_eq!((r.status(), r.text().as_str()), (404, "nothing here\n"));
    let r = client.get("/cgi-bin/redirect.sh");
    assert_eq!((r.status(), r.header("Location")), (302, Some("/x")));
    let r = client.get("/cgi-bin/length.sh");
    assert_eq!(r.header("Content-Length"), Some("5"));
    assert_eq!(r.text(), "hello");
    let r = client.get("/cgi-bin/passthrough.sh");
    assert_eq!(r.text(), "passed");
    assert_eq!(r.header("X-Custom"), Some("yes"));
    assert_eq!(r.head.all("Set-Cookie"), ["a=1", "b=2"]);
    assert_eq!(r.header("Upgrade"), None);
    assert_eq!(r.header("Keep-Alive"), None);
    let r = client.get("/cgi-bin/no-content.sh");
    assert_eq!(r.status(), 204);
    assert!(r.body.is_empty());
    // The connection carried them all.
    let r = client.get("/cgi-bin/length.sh");
    assert_eq!(r.text(), "hello");
}

#[test]
fn a_script_without_a_valid_header_block_is_a_502() {
    let (server, _peer) = start("");
    for script in ["invalid.sh", "bad-status.sh", "huge-head.sh"] {
        let r = server.get(&format!("/cgi-bin/{script}"));
        assert_eq!(r.status, 502, "{script}: {}", r.text());
    }
    assert_eq!(server.get("/cgi-bin/length.sh").text(), "hello");
}

#[test]
fn keep_conn_with_fcgiwrap_carries_one_request_after_another() {
    let (server, _peer) = start("fastcgi_keep_conn on;");
    let mut client = Client::connect(server.port());
    for i in 0..10 {
        let r = client.get(&format!("/cgi-bin/q.sh?n={i}"));
        assert_eq!(r.text(), format!("n={i}"));
    }
}
