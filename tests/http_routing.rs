//! Routing: virtual servers by Host, several listeners, locations (prefix, exact, alias),
//! `return`, `allow_methods`.

mod support;

use std::net::TcpListener;
use support::{Server, simple_config, token_set};

fn get_host(server: &Server, path: &str, host: &str) -> support::Response {
    server.request(&format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    ))
}

const VHOSTS: &str = "
workers 1;
access_log off;
server {
    listen 127.0.0.1:0;
    server_name alpha.test;
    root alpha;
}
server {
    listen 127.0.0.1:0;
    server_name beta.test www.beta.test;
    root beta;
}
";

fn vhosts() -> Server {
    Server::start(
        VHOSTS,
        &[
            ("alpha/index.html", b"alpha site"),
            ("beta/index.html", b"beta site"),
        ],
    )
}

#[test]
fn host_selects_the_virtual_server_on_a_shared_port() {
    let server = vhosts();
    assert_eq!(server.addrs.len(), 1, "both servers share one listener");
    assert_eq!(get_host(&server, "/", "alpha.test").text(), "alpha site");
    assert_eq!(get_host(&server, "/", "beta.test").text(), "beta site");
    assert_eq!(get_host(&server, "/", "www.beta.test").text(), "beta site");
}

#[test]
fn host_matching_ignores_case_and_the_port() {
    let server = vhosts();
    let port = server.port();
    assert_eq!(get_host(&server, "/", "BETA.Test").text(), "beta site");
    assert_eq!(
        get_host(&server, "/", &format!("beta.test:{port}")).body,
        b"beta site"
    );
    assert_eq!(get_host(&server, "/", "Beta.TEST:1").text(), "beta site");
}

#[test]
fn an_unknown_host_goes_to_the_first_server_of_the_address() {
    let server = vhosts();
    let r = get_host(&server, "/", "gamma.test");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "alpha site");
    let ip = get_host(&server, "/", &format!("127.0.0.1:{}", server.port()));
    assert_eq!(ip.text(), "alpha site");
}

/// Two free ports on 127.0.0.1 (released again: a small race with other processes, retried by
/// the caller).
fn two_free_ports() -> (u16, u16) {
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = TcpListener::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

#[test]
fn one_process_serves_two_ports_each_with_its_own_server() {
    let mut attempt = 0;
    let server = loop {
        let (p1, p2) = two_free_ports();
        let config = format!(
            "workers 2;\naccess_log off;\n\
             server {{ listen 127.0.0.1:{p1}; root one; }}\n\
             server {{ listen 127.0.0.1:{p2}; root two; }}\n"
        );
        match Server::try_start(
            &config,
            &[("one/index.html", b"one"), ("two/index.html", b"two")],
        ) {
            Ok(server) => break server,
            Err(failed) if attempt < 3 => {
                eprintln!("retrying after: {}", failed.stderr);
                attempt += 1;
            }
            Err(failed) => panic!("{}", failed.stderr),
        }
    };
    assert_eq!(server.addrs.len(), 2);
    assert_ne!(server.addrs[0].port(), server.addrs[1].port());
    let one = support::parse_one(&support::raw(
        server.addrs[0],
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    ));
    let two = support::parse_one(&support::raw(
        server.addrs[1],
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    ));
    assert_eq!(one.text(), "one");
    assert_eq!(two.text(), "two");
}

#[test]
fn one_server_may_listen_on_two_ports() {
    let server = Server::start(
        "workers 1;\naccess_log off;\n\
         server { listen 127.0.0.1:0; listen 127.0.0.2:0; root www; }\n",
        &[("www/index.html", b"both")],
    );
    assert_eq!(server.addrs.len(), 2);
    for addr in &server.addrs {
        let r = support::parse_one(&support::raw(
            *addr,
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        ));
        assert_eq!(r.text(), "both", "{addr}");
    }
}

const LOCATIONS: &str = "
    location /a { root ra; }
    location /a/b { root rab; }
    location = /exact { return 200 \"exact match\"; }
    location /exact { return 200 \"prefix match\"; }
    location /img { alias pictures; }
    location /img/thumbs/ { alias small/; }
";

fn locations() -> Server {
    Server::start(
        &simple_config(LOCATIONS),
        &[
            ("www/ab/file.txt", b"server root /ab"),
            ("ra/a/file.txt", b"ra /a"),
            ("ra/a/x/file.txt", b"ra /a/x"),
            ("rab/a/b/file.txt", b"rab /a/b"),
            ("pictures/cat.txt", b"cat picture"),
            ("pictures/deep/dog.txt", b"dog picture"),
            ("small/cat.txt", b"small cat"),
        ],
    )
}

#[test]
fn the_longest_matching_prefix_location_wins() {
    let server = locations();
    assert_eq!(server.get("/a/file.txt").text(), "ra /a");
    assert_eq!(server.get("/a/x/file.txt").text(), "ra /a/x");
    assert_eq!(server.get("/a/b/file.txt").text(), "rab /a/b");
}

#[test]
fn prefix_locations_match_on_segment_boundaries() {
    let server = locations();
    let r = server.get("/ab/file.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "server root /ab");
}

#[test]
fn an_exact_location_wins_over_a_prefix_only_for_the_exact_path() {
    let server = locations();
    assert_eq!(server.get("/exact").text(), "exact match");
    assert_eq!(server.get("/exact/more").text(), "prefix match");
    assert_eq!(server.get("/exact?q=1").text(), "exact match");
}

#[test]
fn alias_maps_the_path_after_the_location_prefix() {
    let server = locations();
    let r = server.get("/img/cat.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "cat picture");
    assert_eq!(server.get("/img/deep/dog.txt").text(), "dog picture");
    assert_eq!(server.get("/img/thumbs/cat.txt").text(), "small cat");
    assert_eq!(server.get("/img/nothing.txt").status, 404);
}

#[test]
fn return_301_redirects_with_location() {
    let server = Server::start(&simple_config("location /old { return 301 /new/; }"), &[]);
    for path in ["/old", "/old/page"] {
        let r = server.get(path);
        assert_eq!(r.status, 301, "{path}");
        let location = r.header("location").expect("Location");
        let absolute = format!(":{}/new/", server.port());
        assert!(
            location == "/new/" || location.ends_with(&absolute),
            "{location}"
        );
    }
}

#[test]
fn return_with_an_absolute_url_and_other_redirect_codes() {
    let server = Server::start(
        &simple_config(
            "location /away { return 302 https://example.com/x; }\n\
             location /tmp { return 307 /elsewhere; }",
        ),
        &[],
    );
    let r = server.get("/away");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("https://example.com/x"));
    let t = server.get("/tmp");
    assert_eq!(t.status, 307);
    assert!(t.header("location").unwrap().ends_with("/elsewhere"));
}

#[test]
fn return_with_text_answers_that_status_and_body() {
    let server = Server::start(
        &simple_config("location /teapot { return 418 \"I am a teapot\"; }"),
        &[],
    );
    let r = server.get("/teapot");
    assert_eq!(r.status, 418);
    assert_eq!(r.text(), "I am a teapot");
    assert_eq!(r.header("content-length"), Some("13"));
}

#[test]
fn a_method_not_allowed_gets_405_with_allow() {
    let server = Server::start(
        &simple_config(
            "location /ro { allow_methods GET; }\n\
             location /post-only { allow_methods POST; }",
        ),
        &[("www/ro/f.txt", b"read only"), ("www/f.txt", b"root file")],
    );
    let r = server.request(
        "POST /ro/f.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 405);
    let allow = token_set(r.header("allow").expect("Allow"));
    assert_eq!(allow, token_set("GET, HEAD"));
    assert!(r.is_html_page());

    // GET implies HEAD.
    let head = server.request("HEAD /ro/f.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(head.status, 200);

    let get = server.get("/post-only/f.txt");
    assert_eq!(get.status, 405);
    assert_eq!(token_set(get.header("allow").unwrap()), token_set("POST"));

    // The default is GET HEAD.
    let delete = server.request("DELETE /f.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(delete.status, 405);
    assert_eq!(
        token_set(delete.header("allow").unwrap()),
        token_set("GET, HEAD")
    );
}

/// nginx's server names and order on one address: exact, leading and trailing wildcards, a
/// regular expression whose groups are variables, and the `default_server`.
#[test]
fn wildcard_and_regex_server_names_choose_servers_in_nginx_order() {
    let server = Server::start(
        "workers 1;
         access_log off;
         server { listen 127.0.0.1:0; server_name _; return 200 \"first\"; }
         server {
             listen 127.0.0.1:0;
             server_name ~^(?<user>[a-z]+)\\.users\\.test$;
             return 200 \"user $user\";
         }
         server { listen 127.0.0.1:0; server_name *.example.test; return 200 \"wildcard\"; }
         server { listen 127.0.0.1:0; server_name www.example.*; return 200 \"trailing\"; }
         server { listen 127.0.0.1:0; server_name www.example.test; return 200 \"exact\"; }
         server {
             listen 127.0.0.1:0 default_server;
             server_name ~^www\\.(.+)$;
             return 301 http://$1$request_uri;
         }",
        &[],
    );
    assert_eq!(get_host(&server, "/", "www.example.test").text(), "exact");
    assert_eq!(get_host(&server, "/", "A.Example.Test").text(), "wildcard");
    assert_eq!(get_host(&server, "/", "www.example.org").text(), "trailing");
    assert_eq!(get_host(&server, "/", "ann.users.test").text(), "user ann");
    let r = get_host(&server, "/a?b=1", "www.elsewhere.test");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("Location"), Some("http://elsewhere.test/a?b=1"));
    // No name matches: the default server, not the first (whose expression did not match:
    // `$1` is empty, as in nginx).
    let r = get_host(&server, "/", "nowhere.test");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("Location"), Some("http:///"));
}
