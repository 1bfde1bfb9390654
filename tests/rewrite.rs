//! nginx's rewrite module through the real binary: `rewrite` with each flag, the server's
//! program before any location, `set` (with `try_files` and `return`), `internal` locations,
//! `return 444`, `error_page` status changes and URLs, and the internal-redirect limit.

mod support;

use std::time::Duration;
use support::Server;

const SITE: &str = r#"
workers 1;
access_log off;
server {
    listen 127.0.0.1:0;
    root site;

    # The server's program runs before any location is chosen.
    rewrite ^/legacy/(.*)$ /new/$1;
    rewrite ^/moved(/.*)?$ https://example.test$1 permanent;
    set $greeting hello;

    location /old/ {
        rewrite ^/old/(.*)$ /new/$1 last;
        return 500 "not reached";
    }
    location /new/ {
        return 200 "new: uri=$uri args=$args greeting=$greeting";
    }
    location /b/ {
        rewrite ^/b/(.*)$ /files/$1 break;
        return 500 "not reached";
    }
    location /chain {
        rewrite ^/chain$ /chain2;
        rewrite ^/chain2$ /new/chained;
    }
    location /r/ {
        rewrite ^/r/keep/(.*)$ /target/$1 redirect;
        rewrite ^/r/drop/(.*)$ /target/$1? permanent;
        rewrite ^/r/add/(.*)$ /target/$1?x=1 redirect;
    }
    location /loop {
        rewrite ^ /loop last;
    }
    location /stop {
        set $a first;
        break;
        set $a second;
        return 200 "a=$a";
    }
    location /pick {
        set $file /files/$arg_f;
        try_files $file =404;
    }
    location /private/ {
        internal;
        return 200 "private $uri";
    }
    location /door {
        try_files /nothing /private/door;
    }
    location /args {
        set $args "changed=1";
        rewrite ^ /new/args last;
    }
    location = /drop { return 444; }
    location /missing {
        error_page 404 =200 /files/a.txt;
    }
    location /away {
        error_page 404 https://elsewhere.test/sorry;
    }
    location /away-permanently {
        error_page 404 =301 https://elsewhere.test/gone;
    }
}
server {
    listen 127.0.0.1:0;
    server_name closed.test;
    return 301 https://$host$request_uri;
    location / { return 200 "a location never answers here"; }
}
"#;

fn site() -> Server {
    Server::start(
        SITE,
        &[
            ("site/files/a.txt", b"file a"),
            ("site/files/b.txt", b"file b"),
        ],
    )
}

fn get_host(server: &Server, path: &str, host: &str) -> support::Response {
    server.request(&format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    ))
}

#[test]
fn rewrite_last_finds_the_location_again_with_the_groups_and_the_query() {
    let server = site();
    let r = server.get("/old/page?q=1");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "new: uri=/new/page args=q=1 greeting=hello");
}

#[test]
fn the_servers_rewrites_run_before_any_location() {
    let server = site();
    let r = server.get("/legacy/x");
    assert_eq!(r.text(), "new: uri=/new/x args= greeting=hello");
    let r = server.get("/moved/a/b?c=d");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("Location"), Some("https://example.test/a/b?c=d"));
    // A server's return answers before any location, whatever the location says.
    let r = get_host(&server, "/x?y=1", "closed.test");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("Location"), Some("https://closed.test/x?y=1"));
}

#[test]
fn rewrite_break_stays_in_the_location_with_the_new_path() {
    let server = site();
    let r = server.get("/b/a.txt");
    assert_eq!((r.status, r.text().as_str()), (200, "file a"));
    assert_eq!(server.get("/b/none.txt").status, 404);
}

#[test]
fn rewrites_without_a_flag_go_on_then_find_the_location_again() {
    let server = site();
    assert_eq!(
        server.get("/chain").text(),
        "new: uri=/new/chained args= greeting=hello"
    );
}

#[test]
fn redirecting_rewrites_keep_add_or_drop_the_query() {
    let server = site();
    let r = server.get("/r/keep/p?q=1");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("Location"), Some("/target/p?q=1"));
    let r = server.get("/r/drop/p?q=1");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("Location"), Some("/target/p"));
    let r = server.get("/r/add/p?q=1");
    assert_eq!(r.header("Location"), Some("/target/p?x=1&q=1"));
}

#[test]
fn a_rewrite_cycle_ends_in_500_after_ten_internal_redirects() {
    let server = site();
    let started = std::time::Instant::now();
    assert_eq!(server.get("/loop").status, 500);
    assert!(started.elapsed() < Duration::from_secs(5));
    // The server goes on.
    assert_eq!(server.get("/files/a.txt").text(), "file a");
}

#[test]
fn break_stops_the_program_and_set_variables_reach_return_and_try_files() {
    let server = site();
    assert_eq!(server.get("/stop").status, 404, "return comes after break");
    let r = server.get("/pick?f=b.txt");
    assert_eq!((r.status, r.text().as_str()), (200, "file b"));
    assert_eq!(server.get("/pick?f=none.txt").status, 404);
    let r = server.get("/args?orig=1");
    assert_eq!(r.text(), "new: uri=/new/args args=changed=1 greeting=hello");
}

#[test]
fn an_internal_location_answers_only_internal_redirects() {
    let server = site();
    assert_eq!(server.get("/private/x").status, 404);
    let r = server.get("/door");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "private /private/door")
    );
}

#[test]
fn return_444_closes_the_connection_without_a_response() {
    let server = site();
    let mut conn = server.connect();
    conn.send(b"GET /drop HTTP/1.1\r\nHost: x\r\n\r\n");
    // Closed, and not a byte written before (any byte would be an Err here).
    assert_eq!(conn.closed_within(Duration::from_secs(5)), Ok(true));
    assert_eq!(server.get("/files/a.txt").status, 200);
}

#[test]
fn error_page_changes_the_status_or_redirects_to_a_url() {
    let server = site();
    let r = server.get("/missing/x");
    assert_eq!((r.status, r.text().as_str()), (200, "file a"));
    let r = server.get("/away/x");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("Location"), Some("https://elsewhere.test/sorry"));
    let r = server.get("/away-permanently/x");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("Location"), Some("https://elsewhere.test/gone"));
}
