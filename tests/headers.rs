//! Fields the configuration adds to responses (`add_header`, `expires`) and `return` with
//! variables, through the real server.

mod support;

use std::time::{Duration, SystemTime};
use support::{Server, simple_config};

const FILES: &[(&str, &[u8])] = &[
    ("www/index.html", b"<p>home</p>"),
    ("www/a.txt", b"a"),
    ("www/own/b.txt", b"b"),
    ("www/silent/c.txt", b"c"),
    ("www/errors/404.html", b"<!DOCTYPE html><html>gone</html>"),
    ("www/uploads/.keep", b""),
    (
        "www/cgi/hello.sh",
        b"printf 'Content-Type: text/plain\\n\\nhello\\n'\n",
    ),
    (
        "www/cgi/private.sh",
        b"printf 'Content-Type: text/plain\\nCache-Control: private\\n\\nmine\\n'\n",
    ),
];

fn site(extra: &str) -> Server {
    Server::start(&simple_config(extra), FILES)
}

#[test]
fn add_header_is_on_successes_and_redirects_but_not_on_errors_unless_always() {
    let server = site(
        "add_header X-Frame-Options DENY;
         add_header X-Content-Type-Options nosniff always;
         location = /moved { return 301 /a.txt; }",
    );
    let ok = server.get("/a.txt");
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("x-frame-options"), Some("DENY"));
    assert_eq!(ok.header("x-content-type-options"), Some("nosniff"));

    let moved = server.get("/moved");
    assert_eq!(moved.status, 301);
    assert_eq!(moved.header("x-frame-options"), Some("DENY"));

    let missing = server.get("/nope");
    assert_eq!(missing.status, 404);
    assert!(missing.is_html_page());
    assert_eq!(missing.header("x-frame-options"), None);
    assert_eq!(missing.header("x-content-type-options"), Some("nosniff"));

    // A request that cannot even be parsed gets the default server's `always` fields.
    let bad = support::parse_one(&server.raw(b"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n"));
    assert_eq!(bad.status, 400);
    assert_eq!(bad.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(bad.header("x-frame-options"), None);

    let not_modified = server.request(&format!(
        "GET /a.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: {}\r\nConnection: close\r\n\r\n",
        ok.header("etag").unwrap()
    ));
    assert_eq!(not_modified.status, 304);
    assert_eq!(not_modified.header("x-frame-options"), Some("DENY"));
}

#[test]
fn a_location_with_its_own_add_header_replaces_the_servers_set() {
    let server = site(
        "add_header X-Server yes;
         add_header X-Also yes;
         location /own { add_header X-Location yes; }
         location /silent { add_header X-Server \"\"; }",
    );
    let own = server.get("/own/b.txt");
    assert_eq!(own.status, 200);
    assert_eq!(own.header("x-location"), Some("yes"));
    assert_eq!(own.header("x-server"), None);
    assert_eq!(own.header("x-also"), None);

    // An empty value stops the inheritance and adds nothing.
    let silent = server.get("/silent/c.txt");
    assert_eq!(silent.status, 200);
    assert!(!silent.has_header("x-server") && !silent.has_header("x-also"));

    let inherited = server.get("/a.txt");
    assert_eq!(inherited.header_all("x-server"), vec!["yes"]);
    assert_eq!(inherited.header("x-also"), Some("yes"));
}

#[test]
fn add_header_reaches_error_pages_uploads_and_cgi_responses() {
    let server = site(
        "error_page 404 /errors/404.html;
         add_header X-Everywhere 1 always;
         add_header X-Success 1;
         location /uploads { allow_methods GET PUT; upload_store www/uploads; }
         location /cgi { cgi .sh /bin/sh; }",
    );
    let page = server.get("/missing");
    assert_eq!(page.status, 404);
    assert_eq!(page.body, b"<!DOCTYPE html><html>gone</html>");
    assert_eq!(page.header("x-everywhere"), Some("1"));
    assert_eq!(page.header("x-success"), None);

    let put = server.request(
        "PUT /uploads/n.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
    );
    assert_eq!(put.status, 201);
    assert_eq!(put.header("x-success"), Some("1"));
    assert_eq!(put.header("x-everywhere"), Some("1"));

    let cgi = server.get("/cgi/hello.sh");
    assert_eq!(cgi.status, 200, "{}", cgi.text());
    assert_eq!(cgi.text(), "hello\n");
    assert_eq!(cgi.header("x-success"), Some("1"));
    assert_eq!(cgi.header("x-everywhere"), Some("1"));
}

fn http_date(value: &str) -> SystemTime {
    httpdate::parse_http_date(value).unwrap_or_else(|e| panic!("{value}: {e}"))
}

#[test]
fn expires_gives_max_age_and_an_expires_date_n_seconds_ahead() {
    let server = site(
        "expires 1h;
         location /own { expires epoch; }
         location = /index.html { expires max; }
         location /cgi { cgi .sh /bin/sh; expires -1h; }",
    );
    let r = server.get("/a.txt");
    assert_eq!(r.header("cache-control"), Some("max-age=3600"));
    let expires = http_date(r.header("expires").expect("Expires"));
    let date = http_date(r.header("date").expect("Date"));
    let ahead = expires.duration_since(date).expect("Expires after Date");
    assert!(
        ahead >= Duration::from_secs(3598) && ahead <= Duration::from_secs(3602),
        "{ahead:?}"
    );

    let epoch = server.get("/own/b.txt");
    assert_eq!(
        epoch.header("expires"),
        Some("Thu, 01 Jan 1970 00:00:01 GMT")
    );
    assert_eq!(epoch.header("cache-control"), Some("no-cache"));

    let max = server.get("/index.html");
    assert_eq!(max.header("expires"), Some("Thu, 31 Dec 2037 23:55:55 GMT"));
    assert_eq!(max.header("cache-control"), Some("max-age=315360000"));

    let missing = server.get("/nope.txt");
    assert_eq!(missing.status, 404);
    assert!(!missing.has_header("expires") && !missing.has_header("cache-control"));

    let past = server.get("/cgi/hello.sh");
    assert_eq!(past.status, 200);
    assert_eq!(past.header("cache-control"), Some("no-cache"));
    assert!(http_date(past.header("expires").unwrap()) < SystemTime::now());
    let own = server.get("/cgi/private.sh");
    assert_eq!(own.header_all("cache-control"), vec!["private"]);
    assert!(!own.has_header("expires"));
}

#[test]
fn return_301_to_https_host_request_uri_keeps_the_path_and_query() {
    let server = site("return 301 https://$host$request_uri;");
    let r = server.request(
        "GET /a/b%20c?x=1&y=2 HTTP/1.1\r\nHost: Example.com:8080\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location"),
        Some("https://example.com/a/b%20c?x=1&y=2")
    );
    assert!(r.is_html_page());
}

#[test]
fn return_variables_cannot_inject_header_lines() {
    let server = site(
        "server_name site.test;
         location /u { return 302 $scheme://$host:$server_port$uri; }
         location /h { return 302 https://$host$request_uri; }",
    );
    // A decoded CR LF in the path is percent-encoded again in the Location.
    let r = server.get("/u/x%0D%0ASet-Cookie:%20evil=1");
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location").map(str::to_string),
        Some(format!(
            "http://localhost:{}/u/x%0D%0ASet-Cookie:%20evil=1",
            server.port()
        ))
    );
    assert!(!r.has_header("set-cookie"));

    // A Host with a line break in it is not a Host: 400 before any redirect is built.
    let raw = server.raw(b"GET /h HTTP/1.1\r\nHost: a\rSet-Cookie: evil=1\r\n\r\n");
    let r = support::parse_one(&raw);
    assert_eq!(r.status, 400);
    assert!(!r.has_header("set-cookie") && !r.has_header("location"));
    let raw = server.raw(b"GET /h HTTP/1.1\r\nHost: a b.test\r\n\r\n");
    assert_eq!(support::parse_one(&raw).status, 400);

    // HTTP/1.0 without Host: the server's name stands in.
    let raw = server.raw(b"GET /h?q HTTP/1.0\r\n\r\n");
    let r = support::parse_one(&raw);
    assert_eq!(r.header("location"), Some("https://site.test/h?q"));
}
