//! nginx's location grammar through the real binary: `=`, `^~`, `~`, `~*`, nested and named
//! locations, regex groups, `try_files` (a single-page app, a front controller), `error_page`
//! to a named location, and the internal-redirect limit.

mod support;

use support::Server;

const SITE: &str = r#"
workers 1;
access_log off;
server {
    listen 127.0.0.1:0;
    root site;
    add_header X-Server server;

    location = / { return 200 "exact root"; }
    location / { try_files $uri $uri/ /index.html; }
    location ^~ /static/ { add_header X-Where static; }
    location ~* \.(png|jpe?g)$ { add_header X-Where image; expires 1h; }
    location ~ ^/users/(?<name>[a-z]+)/(\d+)$ { return 200 "user $name number $2"; }
    location /api {
        location ~ \.json$ { return 200 "api json $uri"; }
        try_files $uri @backend;
    }
    location @backend { add_header X-Where backend; return 200 "backend saw $uri?$args"; }
    location /gone { error_page 404 = @sorry; }
    location @sorry { add_header X-Where sorry; return 200 "sorry: $uri"; }
    location /loop { try_files $uri /loop$uri; }
}
"#;

fn site() -> Server {
    Server::start(
        SITE,
        &[
            ("site/index.html", b"the app shell"),
            ("site/about.html", b"about page"),
            ("site/static/app.js", b"js"),
            ("site/static/logo.png", b"png in static"),
            ("site/img/a.PNG", b"png"),
            ("site/api/real.txt", b"a real file"),
        ],
    )
}

#[test]
fn an_exact_location_wins_over_everything() {
    let server = site();
    assert_eq!(server.get("/").text(), "exact root");
}

#[test]
fn a_single_page_app_gets_its_shell_for_every_unknown_path() {
    let server = site();
    let r = server.get("/about.html");
    assert_eq!((r.status, r.text().as_str()), (200, "about page"));
    for path in ["/dashboard", "/users/ann", "/deep/link/here?tab=2"] {
        let r = server.get(path);
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "the app shell"),
            "{path}"
        );
        assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    }
}

#[test]
fn regexes_come_after_the_longest_prefix_unless_it_is_final() {
    let server = site();
    let r = server.get("/img/a.PNG");
    assert_eq!((r.status, r.header("X-Where")), (200, Some("image")));
    assert!(r.header("Expires").is_some());
    // ^~ /static/ keeps the image regex away.
    let r = server.get("/static/logo.png");
    assert_eq!(
        (r.text().as_str(), r.header("X-Where")),
        ("png in static", Some("static"))
    );
    assert_eq!(r.header("Expires"), None);
}

#[test]
fn regex_groups_numbered_and_named_reach_return() {
    let server = site();
    assert_eq!(server.get("/users/ann/42").text(), "user ann number 42");
}

#[test]
fn a_nested_regex_comes_before_the_parents_fallback() {
    let server = site();
    assert_eq!(server.get("/api/x.json").text(), "api json /api/x.json");
    assert_eq!(server.get("/api/real.txt").text(), "a real file");
}

#[test]
fn a_named_location_answers_with_its_own_headers() {
    let server = site();
    let r = server.get("/api/items?page=2");
    assert_eq!(r.text(), "backend saw /api/items?page=2");
    assert_eq!(r.header("X-Where"), Some("backend"));
    assert_eq!(
        r.header("X-Server"),
        None,
        "a block's add_header replaces the server's"
    );
}

#[test]
fn error_page_to_a_named_location_takes_its_status_with_equals() {
    let server = site();
    let r = server.get("/gone/thing");
    assert_eq!((r.status, r.text().as_str()), (200, "sorry: /gone/thing"));
    assert_eq!(r.header("X-Where"), Some("sorry"));
}

#[test]
fn an_internal_redirect_loop_ends_in_a_500_after_ten() {
    let server = site();
    let r = server.get("/loop/x");
    assert_eq!(r.status, 500);
    assert!(r.text().contains("<html"));
    // The error log is read from the server's stderr by a thread: give it a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !server.stderr().contains("internal redirection cycle")
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        server.stderr().contains("internal redirection cycle"),
        "{}",
        server.stderr()
    );
}

#[test]
fn catastrophic_regex_input_does_not_stall_the_worker() {
    let server = Server::start(
        "workers 1;\naccess_log off;\nserver {\n listen 127.0.0.1:0;\n root site;\n \
         location ~ ^/(a+)+$ { return 200 \"matched\"; }\n}\n",
        &[("site/x", b"x")],
    );
    let path = format!("/{}b", "a".repeat(7000));
    let started = std::time::Instant::now();
    let r = server.get(&path);
    assert_eq!(r.status, 404);
    assert_eq!(server.get("/x").text(), "x");
    // Generous: linear time is a few milliseconds; a backtracking engine would take ages.
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}
