//! Path traversal and odd paths: no request reads outside the root or alias it maps to.

mod support;

use support::{Response, Server, simple_config};

const SECRET: &str = "TOP-SECRET-7f3a9c";

fn site() -> Server {
    Server::start(
        &simple_config(
            "location /a { autoindex on; }\n\
             location /pics { alias pictures; autoindex on; }\n\
             location /pics2/ { alias pictures/; }",
        ),
        &[
            ("secret.txt", SECRET.as_bytes()),
            ("webserv-secret/inner.txt", SECRET.as_bytes()),
            ("www/index.html", b"index"),
            ("www/a/b/c/file.txt", b"deep file"),
            ("www/one.txt", b"one"),
            ("pictures/cat.txt", b"cat"),
        ],
    )
}

fn raw_get(server: &Server, target: &str) -> Vec<u8> {
    server.raw(format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
}

/// Requests `target` and checks that the secret never appears and the status is one of
/// `allowed`.
fn refused(server: &Server, target: &str, allowed: &[u16]) -> Response {
    let bytes = raw_get(server, target);
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains(SECRET), "{target} leaked the secret: {text}");
    assert!(
        !text.contains("root:x:0:0"),
        "{target} leaked /etc/passwd: {text}"
    );
    let response = support::parse_one(&bytes);
    assert!(
        allowed.contains(&response.status),
        "{target}: status {} not in {allowed:?}",
        response.status
    );
    response
}

#[test]
fn dot_dot_segments_cannot_leave_the_root() {
    let server = site();
    for target in [
        "/../secret.txt",
        "/../../../../../../etc/passwd",
        "/../etc/passwd",
        "/a/../../secret.txt",
        "/a/b/../../../secret.txt",
        "/./../secret.txt",
        "/a/b/c/../../../../secret.txt",
        "/..",
        "/../",
    ] {
        let r = refused(&server, target, &[200, 301, 400, 403, 404]);
        if r.status == 200 {
            // Clamped at the root, like nginx: then it is the index page.
            assert_eq!(r.text(), "index", "{target}");
        }
    }
}

#[test]
fn percent_encoded_dot_dot_cannot_leave_the_root() {
    let server = site();
    for target in [
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/.%2e/secret.txt",
        "/%2e./secret.txt",
        "/a/%2e%2e/%2e%2e/secret.txt",
        "/a/..%2f..%2f..%2fetc/passwd",
        "/a/..%2f..%2fsecret.txt",
        "/a/..%2F..%2Fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/a/b/..%5c..%5c..%5csecret.txt",
        "/%252e%252e/secret.txt",
        "/%c0%ae%c0%ae/secret.txt",
    ] {
        refused(&server, target, &[400, 403, 404]);
    }
}

#[test]
fn encoded_slashes_never_reach_outside_the_root() {
    let server = site();
    for target in [
        "/%2fetc%2fpasswd",
        "/%2F..%2Fsecret.txt",
        "/a%2fb%2fc%2ffile.txt",
    ] {
        refused(&server, target, &[200, 400, 403, 404]);
    }
}

#[test]
fn a_nul_byte_in_the_path_is_refused() {
    let server = site();
    for target in ["/%00", "/one.txt%00.html", "/one.txt%00"] {
        refused(&server, target, &[400, 404]);
    }
}

#[test]
fn dot_segments_inside_the_root_are_normalised() {
    let server = site();
    for target in [
        "/a/b/../b/c/file.txt",
        "/a/./b/c/file.txt",
        "/a/b/c/%66ile.txt",
    ] {
        let bytes = raw_get(&server, target);
        let r = support::parse_one(&bytes);
        assert_eq!(r.status, 200, "{target}");
        assert_eq!(r.text(), "deep file", "{target}");
    }
}

#[test]
fn alias_locations_cannot_be_escaped() {
    let server = site();
    // `pictures` sits next to `secret.txt` in the temp dir: one level up from the alias.
    assert_eq!(server.get("/pics/cat.txt").text(), "cat");
    for target in [
        "/pics/../secret.txt",
        "/pics/../../secret.txt",
        "/pics/%2e%2e/secret.txt",
        "/pics/..%2fsecret.txt",
        "/pics/..%2f..%2fsecret.txt",
        "/pics/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/pics/..",
        "/pics/../",
        "/pics/%2e%2e/",
        "/pics2/../secret.txt",
        "/pics2/..%2fsecret.txt",
        "/pics2/%2e%2e/webserv-secret/inner.txt",
        "/pics..%2fsecret.txt",
        "/pics/../webserv-secret/inner.txt",
    ] {
        let r = refused(&server, target, &[200, 301, 400, 403, 404]);
        if r.status == 200 {
            // Only the alias directory's own listing or the server root's index may come back.
            let text = r.text();
            assert!(
                text == "index" || text.contains("cat.txt"),
                "{target}: {text}"
            );
        }
    }
}

#[test]
fn autoindex_never_lists_a_parent_of_the_root() {
    let server = site();
    for target in ["/a/../../", "/a/%2e%2e/%2e%2e/"] {
        let bytes = raw_get(&server, target);
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("secret.txt"), "{target}: {text}");
        assert!(!text.contains("webserv.conf"), "{target}: {text}");
    }
}

#[test]
fn absolute_form_targets_cannot_escape_the_root() {
    let server = site();
    for target in [
        "http://x/../secret.txt",
        "http://x/%2e%2e/secret.txt",
        "http://x/a/..%2f..%2fsecret.txt",
    ] {
        refused(&server, target, &[200, 400, 403, 404]);
    }
}

#[test]
fn the_config_file_next_to_the_root_is_not_served() {
    let server = site();
    for target in [
        "/../webserv.conf",
        "/%2e%2e/webserv.conf",
        "/pics/../webserv.conf",
    ] {
        let bytes = raw_get(&server, target);
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("access_log off"), "{target}: {text}");
    }
}

#[test]
fn names_that_merely_contain_dots_are_served() {
    let server = Server::start(
        &simple_config(""),
        &[
            ("www/a..b.txt", b"double dot inside"),
            ("www/..hidden", b"dot dot prefix"),
            ("www/.well-known/t", b"well known"),
            ("www/dir/...", b"three dots"),
        ],
    );
    for (target, body) in [
        ("/a..b.txt", "double dot inside"),
        ("/..hidden", "dot dot prefix"),
        ("/.well-known/t", "well known"),
        ("/dir/...", "three dots"),
        ("//a..b.txt", "double dot inside"),
    ] {
        let r = server.get(target);
        assert_eq!(r.status, 200, "{target}");
        assert_eq!(r.text(), body, "{target}");
    }
}

#[test]
fn invalid_percent_encoding_is_400() {
    let server = site();
    for target in ["/%zz", "/%", "/%4", "/one.txt%g0"] {
        refused(&server, target, &[400]);
    }
}
