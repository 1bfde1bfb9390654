//! nginx's file structure with the directives of every part: `http { }` holding the servers and
//! the settings they inherit, and `include` bringing in a snippet of top-level directives
//! (compression, access rules, limits, log formats), as an nginx user's `nginx.conf` and
//! `conf.d/*.conf` do.

mod support;

use std::io::Read;
use std::time::{Duration, Instant};
use support::Server;

/// A config in nginx's shape: `events`, then `http` with an included snippet and the server.
const CONFIG: &str = "\
worker_processes 1;
events { worker_connections 64; }
http {
    include conf.d/*.conf;
    deny all;
    server {
        listen 127.0.0.1:0;
        root www;
        location /open/ { allow all; }
        location /limited/ { allow all; limit_req zone=one; }
        location = /status { allow all; stub_status; }
    }
}
";

/// The snippet: what a `conf.d/` file of an nginx setup holds.
const SNIPPET: &[u8] = b"\
log_format brief '$request_uri $status';
access_log logs/access.log brief;
limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;
gzip on;
gzip_types text/plain;
gzip_min_length 10;
";

fn get(server: &Server, path: &str, extra: &str) -> support::Response {
    server.request(&format!(
        "GET {path} HTTP/1.1\r\nHost: a\r\n{extra}Connection: close\r\n\r\n"
    ))
}

#[test]
fn compression_access_rules_limits_and_logs_work_inside_http_and_through_include() {
    let text = "all work and no play makes jack a dull boy\n".repeat(50);
    let server = Server::start(
        CONFIG,
        &[
            ("conf.d/operator.conf", SNIPPET),
            ("logs/", b""),
            ("www/index.html", b"home"),
            ("www/open/a.txt", text.as_bytes()),
            ("www/limited/b.txt", b"b"),
        ],
    );

    // `deny all` of the http block reaches the server's own requests.
    assert_eq!(get(&server, "/", "").status, 403);

    // gzip from the included snippet.
    let r = get(&server, "/open/a.txt", "Accept-Encoding: gzip\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Encoding"), Some("gzip"));
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&r.body[..])
        .read_to_string(&mut plain)
        .expect("a gzip body");
    assert_eq!(plain, text);

    // The zone from the snippet: one request a minute, no burst.
    assert_eq!(get(&server, "/limited/b.txt", "").status, 200);
    assert_eq!(get(&server, "/limited/b.txt", "").status, 503);

    let status = get(&server, "/status", "");
    assert_eq!(status.status, 200);
    assert!(
        status.text().starts_with("Active connections:"),
        "{}",
        status.text()
    );

    // The access log and format from the snippet, one line per request, in order.
    let log = server.dir.path().join("logs/access.log");
    let expected = [
        "/ 403",
        "/open/a.txt 200",
        "/limited/b.txt 200",
        "/limited/b.txt 503",
        "/status 200",
    ];
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut lines = Vec::new();
    while Instant::now() < deadline {
        lines = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>();
        if lines.len() >= expected.len() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(lines, expected);
}
