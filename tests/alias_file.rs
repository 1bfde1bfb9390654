//! `alias` naming a regular file (as nginx allows): the location's own path serves that file,
//! with the file's Content-Type, validators and ranges; anything below it is a 404.

mod support;

use support::{Server, TempDir, run_cli, simple_config};

const ALIASES: &str = "
    location = /exact { alias data/exact.html; }
    location /doc { alias data/doc.txt; }
    location = /feed { alias data/feed.json; }
    location = /gone { alias data/gone.txt; allow_methods GET DELETE; }
    location = /kept { alias data/kept.txt; }
    location /dir { alias data; autoindex on; }
";

fn aliases() -> Server {
    Server::start(
        &simple_config(ALIASES),
        &[
            ("data/exact.html", b"<p>exact</p>"),
            ("data/doc.txt", b"the doc file"),
            ("data/feed.json", b"{\"a\":1}"),
            ("data/gone.txt", b"to be deleted"),
            ("data/kept.txt", b"not deletable"),
        ],
    )
}

fn request(server: &Server, method: &str, path: &str, extra: &str) -> support::Response {
    server.request(&format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n"
    ))
}

#[test]
fn an_exact_location_with_a_file_alias_serves_that_file() {
    let server = aliases();
    let r = server.get("/exact");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "<p>exact</p>");
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("content-length"), Some("12"));
    assert!(r.header("etag").is_some());
    assert!(r.header("last-modified").is_some());
}

#[test]
fn the_content_type_follows_the_file_name_not_the_uri() {
    let server = aliases();
    let r = server.get("/feed");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(r.text(), "{\"a\":1}");
}

#[test]
fn a_file_alias_answers_conditional_and_range_requests_like_any_file() {
    let server = aliases();
    let etag = server.get("/exact").header("etag").unwrap().to_string();
    let r = request(
        &server,
        "GET",
        "/exact",
        &format!("If-None-Match: {etag}\r\n"),
    );
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    let r = request(&server, "GET", "/doc", "Range: bytes=4-6\r\n");
    assert_eq!(r.status, 206);
    assert_eq!(r.text(), "doc");
    assert_eq!(r.header("content-range"), Some("bytes 4-6/12"));
    let r = request(&server, "HEAD", "/doc", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("12"));
}

#[test]
fn a_prefix_location_with_a_file_alias_serves_it_only_for_its_own_path() {
    let server = aliases();
    let r = server.get("/doc");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "the doc file");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    for below in ["/doc/", "/doc/x", "/doc/x/y.txt"] {
        let r = server.get(below);
        assert_eq!(r.status, 404, "{below}");
        assert!(r.is_html_page(), "{below}");
    }
    // Segment matching: `/document` is not under `/doc`.
    assert_eq!(server.get("/document").status, 404);
}

#[test]
fn a_directory_alias_still_redirects_its_bare_path_and_lists_with_the_slash() {
    let server = aliases();
    let r = server.get("/dir");
    assert_eq!(r.status, 301);
    assert!(r.header("location").unwrap().ends_with("/dir/"));
    let listing = server.get("/dir/");
    assert_eq!(listing.status, 200);
    assert!(listing.text().contains("doc.txt"), "{}", listing.text());
    assert_eq!(server.get("/dir/doc.txt").text(), "the doc file");
}

#[test]
fn delete_of_a_file_alias_removes_the_file_only_where_delete_is_allowed() {
    let server = aliases();
    let kept = request(&server, "DELETE", "/kept", "");
    assert_eq!(kept.status, 405);
    assert!(server.dir.path().join("data/kept.txt").exists());

    let gone = request(&server, "DELETE", "/gone", "");
    assert_eq!(gone.status, 204);
    assert!(!server.dir.path().join("data/gone.txt").exists());
    assert_eq!(server.get("/gone").status, 404);
    assert_eq!(request(&server, "DELETE", "/gone", "").status, 404);
}

#[test]
fn check_accepts_an_alias_naming_a_file() {
    let dir = TempDir::new();
    dir.write("data/exact.html", b"x");
    let path = dir.write("alias.conf", simple_config(ALIASES).as_bytes());
    let (status, stdout, stderr) = run_cli(&["-t", path.to_str().unwrap()], dir.path());
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("configuration OK"), "{stdout}{stderr}");
}

#[test]
fn a_file_alias_naming_a_cgi_script_runs_it_instead_of_sending_its_source() {
    let script =
        b"printf 'Content-Type: text/plain\\r\\n\\r\\n'\nprintf 'ran as %s' \"$SCRIPT_NAME\"\n";
    let server = Server::start(
        &simple_config(
            "location = /app { alias bin/app.sh; cgi .sh /bin/sh; }\n\
             location /tool { alias bin/app.sh; cgi .sh /bin/sh; }",
        ),
        &[("bin/app.sh", script)],
    );
    let r = server.get("/app");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "ran as /app");
    assert_eq!(server.get("/tool").text(), "ran as /tool");
    assert_eq!(server.get("/tool/x").status, 404);
}
