//! `gzip_static`: precompressed `.gz` siblings sent to clients that accept gzip, with the
//! plain file for the others, through the real server and its memory cache.

mod support;

use support::{Server, simple_config};

const PLAIN: &[u8] = b"body { color: red; } /* the plain stylesheet, longer than its .gz */\n";
/// Not real gzip: the server never decodes, and distinct bytes show which file was sent.
const GZ: &[u8] = b"\x1f\x8b-pretend-gzip-bytes";
const INDEX: &[u8] = b"<!DOCTYPE html><p>index</p>";
const INDEX_GZ: &[u8] = b"\x1f\x8b-index";
/// Past the memory cache's 16 KiB: sent with sendfile.
fn big(byte: u8) -> Vec<u8> {
    vec![byte; 40 * 1024]
}

fn site(extra: &str) -> Server {
    let big_plain = big(b'p');
    let big_gz = big(b'g');
    Server::start(
        &simple_config(extra),
        &[
            ("www/style.css", PLAIN),
            ("www/style.css.gz", GZ),
            ("www/lonely.txt", b"no sibling"),
            ("www/dir/index.html", INDEX),
            ("www/dir/index.html.gz", INDEX_GZ),
            ("www/big.js", &big_plain),
            ("www/big.js.gz", &big_gz),
            ("www/off/style.css", PLAIN),
            ("www/off/style.css.gz", GZ),
        ],
    )
}

fn get(server: &Server, path: &str, extra_headers: &str) -> support::Response {
    server.request(&format!(
        "GET {path} HTTP/1.1\r\nHost: a\r\n{extra_headers}Connection: close\r\n\r\n"
    ))
}

#[test]
fn a_client_accepting_gzip_gets_the_gz_file_with_the_original_type() {
    let server = site("gzip_static on;");
    let r = get(&server, "/style.css", "Accept-Encoding: br, GZIP;q=0.8\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, GZ);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(
        r.header("content-length"),
        Some(GZ.len().to_string().as_str())
    );
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));

    let plain = get(&server, "/style.css", "");
    assert_eq!(plain.body, PLAIN);
    assert!(!plain.has_header("content-encoding"));
    assert_eq!(plain.header("vary"), Some("Accept-Encoding"));
    assert_ne!(plain.header("etag"), r.header("etag"));

    let star = get(&server, "/style.css", "Accept-Encoding: *\r\n");
    assert_eq!(star.body, GZ);
}

#[test]
fn q_0_and_other_codings_get_the_plain_file() {
    let server = site("gzip_static on;");
    for accept in [
        "gzip;q=0",
        "gzip; q=0.000, deflate",
        "deflate, br",
        "*;q=0",
        "identity",
    ] {
        let r = get(
            &server,
            "/style.css",
            &format!("Accept-Encoding: {accept}\r\n"),
        );
        assert_eq!(r.body, PLAIN, "{accept}");
        assert!(!r.has_header("content-encoding"), "{accept}");
    }
}

#[test]
fn files_without_a_sibling_and_locations_with_gzip_static_off_are_plain_without_vary() {
    let server = site("gzip_static on; location /off { gzip_static off; }");
    let lonely = get(&server, "/lonely.txt", "Accept-Encoding: gzip\r\n");
    assert_eq!(lonely.body, b"no sibling");
    assert!(!lonely.has_header("vary") && !lonely.has_header("content-encoding"));
    let off = get(&server, "/off/style.css", "Accept-Encoding: gzip\r\n");
    assert_eq!(off.body, PLAIN);
    assert!(!off.has_header("vary") && !off.has_header("content-encoding"));

    let default = site("");
    let r = get(&default, "/style.css", "Accept-Encoding: gzip\r\n");
    assert_eq!(r.body, PLAIN);
    assert!(!r.has_header("vary"));
}

#[test]
fn head_gets_the_same_headers_as_get() {
    let server = site("gzip_static on;");
    let get_r = get(&server, "/style.css", "Accept-Encoding: gzip\r\n");
    let head = server.request(
        "HEAD /style.css HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    for name in [
        "content-encoding",
        "content-type",
        "content-length",
        "etag",
        "last-modified",
        "vary",
    ] {
        assert_eq!(head.header(name), get_r.header(name), "{name}");
    }
}

#[test]
fn ranges_and_conditional_requests_apply_to_the_gz_representation() {
    let server = site("gzip_static on;");
    let full = get(&server, "/style.css", "Accept-Encoding: gzip\r\n");
    let etag = full.header("etag").unwrap().to_string();

    let part = get(
        &server,
        "/style.css",
        "Accept-Encoding: gzip\r\nRange: bytes=2-5\r\n",
    );
    assert_eq!(part.status, 206);
    assert_eq!(part.body, &GZ[2..6]);
    assert_eq!(
        part.header("content-range").map(str::to_string),
        Some(format!("bytes 2-5/{}", GZ.len()))
    );
    assert_eq!(part.header("content-encoding"), Some("gzip"));

    let not_modified = get(
        &server,
        "/style.css",
        &format!("Accept-Encoding: gzip\r\nIf-None-Match: {etag}\r\n"),
    );
    assert_eq!(not_modified.status, 304);
    assert_eq!(not_modified.header("etag"), Some(etag.as_str()));
    assert_eq!(not_modified.header("vary"), Some("Accept-Encoding"));

    // The plain representation's validators are its own: the .gz ETag does not match it.
    let plain = get(&server, "/style.css", &format!("If-None-Match: {etag}\r\n"));
    assert_eq!(plain.status, 200);
    assert_eq!(plain.body, PLAIN);
}

#[test]
fn the_memory_cache_never_mixes_the_two_representations() {
    let server = site("gzip_static on;");
    for (path, plain, gz) in [
        ("/style.css", PLAIN.to_vec(), GZ.to_vec()),
        ("/big.js", big(b'p'), big(b'g')),
        ("/dir/", INDEX.to_vec(), INDEX_GZ.to_vec()),
    ] {
        // One connection, several requests: the same worker and its cache serve all of them.
        let mut conn = server.connect();
        for (accept, expected) in [
            (true, &gz),
            (false, &plain),
            (true, &gz),
            (false, &plain),
            (false, &plain),
            (true, &gz),
        ] {
            let header = if accept {
                "Accept-Encoding: gzip\r\n"
            } else {
                ""
            };
            conn.send(format!("GET {path} HTTP/1.1\r\nHost: a\r\n{header}\r\n").as_bytes());
            let r = conn.read_response();
            assert_eq!(r.status, 200, "{path}");
            assert!(
                r.body == *expected,
                "{path} accept={accept}: wrong representation"
            );
            assert_eq!(r.has_header("content-encoding"), accept, "{path}");
        }
    }
}

#[test]
fn a_directory_index_is_served_from_its_gz_sibling() {
    let server = site("gzip_static on;");
    let r = get(&server, "/dir/", "Accept-Encoding: gzip\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, INDEX_GZ);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("content-encoding"), Some("gzip"));
}

#[test]
fn a_gz_file_created_later_is_served_at_once_and_one_removed_is_no_longer() {
    let server = site("gzip_static on;");
    let mut conn = server.connect();
    let mut ask = || {
        conn.send(b"GET /lonely.txt HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n");
        conn.read_response()
    };
    // Twice: the second answer may come from what the first one learnt (no sibling).
    assert_eq!(ask().body, b"no sibling");
    assert_eq!(ask().body, b"no sibling");
    let gz = server.dir.path().join("www/lonely.txt.gz");
    std::fs::write(&gz, b"\x1f\x8b-late").unwrap();
    let r = ask();
    assert_eq!(r.body, b"\x1f\x8b-late");
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    std::fs::remove_file(&gz).unwrap();
    let r = ask();
    assert_eq!(r.body, b"no sibling");
    assert!(!r.has_header("vary"));
}
