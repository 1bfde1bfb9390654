//! Static files: headers, HEAD, conditional requests, ranges, directories, autoindex, error
//! pages.

mod support;

use support::{Server, simple_config};

const INDEX: &[u8] = b"<!DOCTYPE html><html><body>home</body></html>\n";
const DIGITS: &[u8] = b"0123456789abcdefghij"; // 20 bytes

fn site(extra: &str) -> Server {
    Server::start(
        &simple_config(extra),
        &[
            ("www/index.html", INDEX),
            ("www/digits.txt", DIGITS),
            ("www/dir/index.html", b"<p>dir index</p>"),
            ("www/plain/a.txt", b"a"),
            ("www/plain/b.txt", b"b"),
        ],
    )
}

#[test]
fn get_of_a_file_has_type_length_validators_date_and_server() {
    let server = site("");
    let r = server.get("/index.html");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, INDEX);
    let content_type = r.header("content-type").expect("Content-Type");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(
        content_type.to_ascii_lowercase().contains("charset=utf-8"),
        "{content_type}"
    );
    assert_eq!(
        r.header("content-length"),
        Some(INDEX.len().to_string().as_str())
    );
    let last_modified = r.header("last-modified").expect("Last-Modified");
    assert!(httpdate_like(last_modified), "{last_modified}");
    let etag = r.header("etag").expect("ETag");
    assert!(etag.ends_with('"') && etag.contains('"'), "{etag}");
    assert!(httpdate_like(r.header("date").expect("Date")));
    assert!(r.has_header("server"));

    let txt = server.get("/digits.txt");
    assert_eq!(txt.status, 200);
    assert!(
        txt.header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(txt.body, DIGITS);
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`
fn httpdate_like(value: &str) -> bool {
    value.len() == 29 && value.ends_with(" GMT") && value.as_bytes()[3] == b','
}

#[test]
fn head_has_the_get_headers_and_no_body_and_the_connection_stays_usable() {
    let server = site("");
    let get = server.get("/index.html");
    let mut conn = server.connect();
    conn.send(b"HEAD /index.html HTTP/1.1\r\nHost: x\r\n\r\n");
    let head = conn.read_head_response();
    assert_eq!(head.status, 200);
    for name in ["content-type", "content-length", "last-modified", "etag"] {
        assert_eq!(head.header(name), get.header(name), "{name}");
    }
    assert!(head.body.is_empty());
    // A body sent after the HEAD head would be read as the start of the next response.
    conn.send(b"GET /digits.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    let next = conn.read_response();
    assert_eq!(next.status, 200);
    assert_eq!(next.body, DIGITS);
}

#[test]
fn matching_if_none_match_gives_304_without_body() {
    let server = site("");
    let etag = server
        .get("/digits.txt")
        .header("etag")
        .unwrap()
        .to_string();
    let r = server.request(&format!(
        "GET /digits.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n"
    ));
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), Some(etag.as_str()));

    let list = server.request(&format!(
        "GET /digits.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"nope\", {etag}\r\nConnection: close\r\n\r\n"
    ));
    assert_eq!(list.status, 304);
    let star = server.request(
        "GET /digits.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: *\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(star.status, 304);
}

#[test]
fn if_modified_since_at_or_after_last_modified_gives_304() {
    let server = site("");
    let last_modified = server
        .get("/digits.txt")
        .header("last-modified")
        .unwrap()
        .to_string();
    let r = server.request(&format!(
        "GET /digits.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: {last_modified}\r\nConnection: close\r\n\r\n"
    ));
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());

    let old = server.request(
        "GET /digits.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(old.status, 200);
    assert_eq!(old.body, DIGITS);
}

#[test]
fn a_different_etag_gives_200_even_when_if_modified_since_would_match() {
    let server = site("");
    let last_modified = server
        .get("/digits.txt")
        .header("last-modified")
        .unwrap()
        .to_string();
    // If-None-Match takes precedence over If-Modified-Since (RFC 9110 13.2.2).
    let r = server.request(&format!(
        "GET /digits.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"other\"\r\n\
         If-Modified-Since: {last_modified}\r\nConnection: close\r\n\r\n"
    ));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, DIGITS);
}

#[test]
fn a_single_range_gives_206_with_content_range() {
    let server = site("");
    let r = server.request(
        "GET /digits.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=2-5\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.text(), "2345");
    assert_eq!(r.header("content-range"), Some("bytes 2-5/20"));
    assert_eq!(r.header("content-length"), Some("4"));

    let open = server.request(
        "GET /digits.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=15-\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(open.status, 206);
    assert_eq!(open.text(), "fghij");
    assert_eq!(open.header("content-range"), Some("bytes 15-19/20"));

    let clamped = server.request(
        "GET /digits.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=18-100\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(clamped.status, 206);
    assert_eq!(clamped.text(), "ij");
    assert_eq!(clamped.header("content-range"), Some("bytes 18-19/20"));
}

#[test]
fn a_suffix_range_gives_the_last_bytes() {
    let server = site("");
    let r = server.request(
        "GET /digits.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=-3\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.text(), "hij");
    assert_eq!(r.header("content-range"), Some("bytes 17-19/20"));
}

#[test]
fn an_unsatisfiable_range_gives_416_with_the_length() {
    let server = site("");
    let r = server.request(
        "GET /digits.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=20-30\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */20"));
}

#[test]
fn multiple_ranges_give_the_whole_file_with_200() {
    let server = site("");
    let r = server.request(
        "GET /digits.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1,5-6\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, DIGITS);
    assert!(!r.has_header("content-range"));
}

#[test]
fn a_directory_without_slash_redirects_with_301_keeping_the_query() {
    let server = site("");
    let r = server.get("/dir");
    assert_eq!(r.status, 301);
    let location = r.header("location").expect("Location");
    assert!(
        location == "/dir/" || location.ends_with(&format!(":{}/dir/", server.port())),
        "{location}"
    );
    let q = server.get("/dir?a=1&b=2");
    assert_eq!(q.status, 301);
    assert!(
        q.header("location").unwrap().ends_with("/dir/?a=1&b=2"),
        "{:?}",
        q.header("location")
    );
}

#[test]
fn a_directory_with_slash_serves_its_index_file() {
    let server = site("");
    let r = server.get("/dir/");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "<p>dir index</p>");
    let root = server.get("/");
    assert_eq!(root.status, 200);
    assert_eq!(root.body, INDEX);
}

#[test]
fn index_files_are_tried_in_order() {
    let server = Server::start(
        &simple_config("index missing.html second.html;"),
        &[
            ("www/d/second.html", b"second"),
            ("www/d/index.html", b"default"),
        ],
    );
    let r = server.get("/d/");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "second");
}

#[test]
fn autoindex_lists_entries_with_escaped_names_and_encoded_hrefs() {
    let server = Server::start(
        &simple_config("location /files { autoindex on; }"),
        &[
            ("www/files/<b>&x.txt", b"odd"),
            ("www/files/plain.txt", b"plain"),
            ("www/files/with space.txt", b"space"),
            ("www/files/sub/", b""),
        ],
    );
    let r = server.get("/files/");
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let html = r.text();
    assert!(html.contains("plain.txt"), "{html}");
    assert!(html.contains("sub/"), "{html}");
    assert!(
        html.contains("&lt;b&gt;&amp;x.txt"),
        "name not escaped: {html}"
    );
    assert!(!html.contains("<b>&x"), "raw name in listing: {html}");
    // `&` may stay in a path (then HTML-escaped as `&amp;`) or be percent-encoded; `<` and `>`
    // must be percent-encoded.
    let href = ["%3Cb%3E%26x.txt", "%3Cb%3E&amp;x.txt"]
        .into_iter()
        .find(|h| {
            html.contains(&format!("href=\"{h}\""))
                || html.contains(&format!("href=\"/files/{h}\""))
        })
        .unwrap_or_else(|| panic!("href not percent-encoded: {html}"));
    assert!(html.contains("with%20space.txt"), "{html}");
    // And the encoded href leads to the file.
    let file = server.get(&format!("/files/{}", href.replace("&amp;", "&")));
    assert_eq!(file.status, 200);
    assert_eq!(file.text(), "odd");
}

#[test]
fn a_directory_without_index_and_without_autoindex_is_403() {
    let server = site("");
    let r = server.get("/plain/");
    assert_eq!(r.status, 403);
    assert!(r.is_html_page());
}

#[test]
fn a_missing_file_is_404_with_a_complete_html_page() {
    let server = site("");
    let r = server.get("/nope.html");
    assert_eq!(r.status, 404);
    assert!(r.is_html_page(), "{}", r.text());
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string().as_str())
    );
}

#[test]
fn a_configured_error_page_is_served_with_the_original_status() {
    let server = Server::start(
        &simple_config("error_page 404 /errors/404.html;"),
        &[(
            "www/errors/404.html",
            b"<html><body>custom missing</body></html>",
        )],
    );
    let r = server.get("/nope");
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "<html><body>custom missing</body></html>");
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let head = server.request("HEAD /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(head.status, 404);
}

#[test]
fn an_error_page_that_is_missing_falls_back_to_the_built_in_404() {
    let server = Server::start(&simple_config("error_page 404 /errors/none.html;"), &[]);
    let r = server.get("/nope");
    assert_eq!(r.status, 404);
    assert!(r.is_html_page(), "{}", r.text());
}

#[test]
fn head_of_an_error_has_no_body_and_the_connection_stays_usable() {
    let server = site("location /t { return 418 \"teapot\"; }");
    let mut conn = server.connect();
    conn.send(b"HEAD /missing HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = conn.read_head_response();
    assert_eq!(r.status, 404);
    conn.send(b"HEAD /t HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(conn.read_head_response().status, 418);
    conn.send(b"HEAD /dir HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(conn.read_head_response().status, 301);
    conn.send(b"GET /digits.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    let next = conn.read_response();
    assert_eq!(next.status, 200, "a body was sent for a HEAD: {:?}", next);
    assert_eq!(next.body, DIGITS);
}

#[test]
fn head_with_a_range_has_no_body() {
    let server = site("");
    let mut conn = server.connect();
    conn.send(b"HEAD /digits.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-3\r\n\r\n");
    let r = conn.read_head_response();
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 0-3/20"));
    conn.send(b"GET /digits.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(conn.read_response().body, DIGITS);
}

#[test]
fn a_weak_etag_in_if_none_match_still_matches() {
    let server = site("");
    let etag = server
        .get("/digits.txt")
        .header("etag")
        .unwrap()
        .to_string();
    let weak = if etag.starts_with("W/") {
        etag.clone()
    } else {
        format!("W/{etag}")
    };
    let r = server.request(&format!(
        "GET /digits.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: {weak}\r\nConnection: close\r\n\r\n"
    ));
    assert_eq!(r.status, 304);
}

#[test]
fn an_invalid_if_modified_since_is_ignored() {
    let server = site("");
    let r = server.request(
        "GET /digits.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: yesterday\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, DIGITS);
}

#[test]
fn a_range_in_another_unit_or_malformed_gives_the_whole_file() {
    let server = site("");
    for range in ["items=0-1", "bytes=abc", "bytes 0-1"] {
        let r = server.request(&format!(
            "GET /digits.txt HTTP/1.1\r\nHost: x\r\nRange: {range}\r\nConnection: close\r\n\r\n"
        ));
        assert_eq!(r.status, 200, "{range}");
        assert_eq!(r.body, DIGITS, "{range}");
    }
}

#[test]
fn a_zero_suffix_range_is_416() {
    let server = site("");
    let r = server.request(
        "GET /digits.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=-0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */20"));
}

#[test]
fn content_types_follow_the_extension() {
    let server = Server::start(
        &simple_config(""),
        &[
            ("www/s.css", b"a{}"),
            ("www/s.js", b"1"),
            ("www/p.png", b"\x89PNG"),
            ("www/d.json", b"{}"),
            ("www/blob.unknownext", b"?"),
            ("www/noext", b"?"),
        ],
    );
    let expect = [
        ("/s.css", "text/css"),
        ("/s.js", "javascript"),
        ("/p.png", "image/png"),
        ("/d.json", "application/json"),
        ("/blob.unknownext", "application/octet-stream"),
        ("/noext", "application/octet-stream"),
    ];
    for (path, want) in expect {
        let r = server.get(path);
        assert_eq!(r.status, 200, "{path}");
        let got = r.header("content-type").unwrap_or("");
        assert!(got.contains(want), "{path}: {got}");
    }
}

#[test]
fn percent_encoded_names_and_queries_reach_the_file() {
    let server = Server::start(
        &simple_config(""),
        &[
            ("www/with space.txt", b"spaced"),
            ("www/caf\u{e9}.txt", b"utf8"),
        ],
    );
    assert_eq!(server.get("/with%20space.txt").text(), "spaced");
    assert_eq!(server.get("/with%20space.txt?x=1&y=%20").text(), "spaced");
    assert_eq!(server.get("/caf%C3%A9.txt").text(), "utf8");
}

#[test]
fn a_file_used_as_a_directory_is_404() {
    let server = site("");
    assert_eq!(server.get("/digits.txt/").status, 404);
    assert_eq!(server.get("/digits.txt/more").status, 404);
}

#[test]
fn a_large_file_arrives_intact() {
    let big: Vec<u8> = (0..5_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let server = Server::start(&simple_config(""), &[("www/big.bin", &big)]);
    let r = server.get("/big.bin");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("5000000"));
    assert!(r.body == big, "body differs");
    let part = server.request(
        "GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=4000000-4000099\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(part.status, 206);
    assert_eq!(part.body, &big[4_000_000..4_000_100]);
}

#[test]
fn an_empty_file_is_served_with_length_0() {
    let server = Server::start(&simple_config(""), &[("www/empty.txt", b"")]);
    let r = server.get("/empty.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("0"));
    assert!(r.body.is_empty());
}

#[test]
fn a_directory_redirect_in_an_alias_location_keeps_the_uri_prefix() {
    let server = Server::start(
        &simple_config("location /pics { alias pictures; autoindex on; }"),
        &[("pictures/sub/a.txt", b"a")],
    );
    let r = server.get("/pics/sub");
    assert_eq!(r.status, 301);
    assert!(
        r.header("location").unwrap().ends_with("/pics/sub/"),
        "{:?}",
        r.header("location")
    );
    let listing = server.get("/pics/sub/");
    assert_eq!(listing.status, 200);
    assert!(listing.text().contains("a.txt"));
    let top = server.get("/pics");
    assert_eq!(top.status, 301);
    assert!(top.header("location").unwrap().ends_with("/pics/"));
}

#[test]
fn error_page_in_a_location_overrides_the_server() {
    let server = Server::start(
        &simple_config(
            "error_page 404 /e/server.html;\n\
             location /special { error_page 404 /e/special.html; }",
        ),
        &[
            ("www/e/server.html", b"server page"),
            ("www/e/special.html", b"special page"),
        ],
    );
    assert_eq!(server.get("/nope").text(), "server page");
    let r = server.get("/special/nope");
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "special page");
}

#[test]
fn error_page_covers_several_codes() {
    let server = Server::start(
        &simple_config("error_page 403 404 405 /e/any.html;"),
        &[("www/e/any.html", b"any error"), ("www/d/f.txt", b"f")],
    );
    assert_eq!(server.get("/d/").status, 403);
    assert_eq!(server.get("/d/").text(), "any error");
    assert_eq!(server.get("/nope").text(), "any error");
    let r = server.request("DELETE /d/f.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 405);
    assert_eq!(r.text(), "any error");
    assert!(r.has_header("allow"));
}

#[test]
fn a_directory_redirect_percent_encodes_the_location() {
    let server = Server::start(
        &simple_config(""),
        &[
            ("www/my dir/index.html", b"spaced dir"),
            ("www/x\r\nSet-Cookie: evil=1/index.html", b"evil"),
        ],
    );
    let r = server.get("/my%20dir");
    assert_eq!(r.status, 301);
    let location = r.header("location").unwrap();
    assert!(location.ends_with("/my%20dir/"), "{location}");
    assert_eq!(server.get("/my%20dir/").text(), "spaced dir");

    // A name with CR LF must not split the response head.
    let r = server.get("/x%0D%0ASet-Cookie:%20evil=1");
    assert!(
        !r.has_header("set-cookie"),
        "header injection: {:?}",
        r.headers
    );
    if r.status == 301 {
        let location = r.header("location").unwrap();
        assert!(
            location.contains("%0D%0A") || location.contains("%0d%0a"),
            "{location}"
        );
    }
}

#[test]
fn autoindex_of_an_alias_location_and_head_of_a_listing() {
    let server = Server::start(
        &simple_config("location /files { alias store; autoindex on; }"),
        &[("store/a b/x.txt", b"x"), ("store/f.txt", b"f")],
    );
    let r = server.get("/files/");
    assert_eq!(r.status, 200);
    let html = r.text();
    assert!(
        html.contains("href=\"a%20b/\"") || html.contains("/files/a%20b/"),
        "{html}"
    );
    assert!(html.contains("f.txt"), "{html}");
    let mut conn = server.connect();
    conn.send(b"HEAD /files/ HTTP/1.1\r\nHost: x\r\n\r\n");
    let head = conn.read_head_response();
    assert_eq!(head.status, 200);
    conn.send(b"GET /files/f.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(conn.read_response().text(), "f");
}

#[test]
fn location_settings_override_the_server() {
    let server = Server::start(
        &simple_config(
            "index main.html;\n\
             location /other { root elsewhere; index other.html; }\n\
             location /list { autoindex on; }\n\
             location = /exact.txt { root exactroot; }",
        ),
        &[
            ("www/main.html", b"main"),
            ("www/list/item.txt", b"item"),
            ("www/exact.txt", b"server exact"),
            ("elsewhere/other/other.html", b"other index"),
            ("exactroot/exact.txt", b"exact root"),
        ],
    );
    assert_eq!(server.get("/").text(), "main");
    assert_eq!(server.get("/other/").text(), "other index");
    assert!(server.get("/list/").text().contains("item.txt"));
    assert_eq!(server.get("/exact.txt").text(), "exact root");
}

#[test]
fn range_of_one_byte_and_of_the_whole_file() {
    let server = site("");
    let r = server.request(
        "GET /digits.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.text(), "0");
    assert_eq!(r.header("content-range"), Some("bytes 0-0/20"));
    let all = server.request(
        "GET /digits.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(all.status, 206);
    assert_eq!(all.body, DIGITS);
    assert_eq!(all.header("content-range"), Some("bytes 0-19/20"));
}

#[test]
fn last_modified_is_the_file_mtime_and_if_modified_since_compares_seconds() {
    let server = site("");
    let path = server.dir.path().join("www/digits.txt");
    let mtime = std::time::UNIX_EPOCH + std::time::Duration::from_secs(784_111_777);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let r = server.get("/digits.txt");
    assert_eq!(
        r.header("last-modified"),
        Some("Sun, 06 Nov 1994 08:49:37 GMT")
    );
    let earlier = server.request(
        "GET /digits.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:36 GMT\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(earlier.status, 200);
    let later = server.request(
        "GET /digits.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:38 GMT\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(later.status, 304);
}

#[test]
fn the_etag_changes_when_the_file_changes() {
    let server = site("");
    let old = server
        .get("/digits.txt")
        .header("etag")
        .unwrap()
        .to_string();
    std::fs::write(
        server.dir.path().join("www/digits.txt"),
        b"new contents, new size",
    )
    .unwrap();
    let r = server.request(&format!(
        "GET /digits.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: {old}\r\nConnection: close\r\n\r\n"
    ));
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "new contents, new size");
    assert_ne!(r.header("etag"), Some(old.as_str()));
}

#[test]
fn if_none_match_takes_precedence_over_range() {
    let server = site("");
    let etag = server
        .get("/digits.txt")
        .header("etag")
        .unwrap()
        .to_string();
    let r = server.request(&format!(
        "GET /digits.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\nRange: bytes=0-1\r\nConnection: close\r\n\r\n"
    ));
    assert_eq!(r.status, 304);
}

#[test]
fn a_file_rewritten_between_two_requests_of_one_connection_is_served_new_at_once() {
    let server = site("");
    let mut conn = server.connect();
    let path = server.dir.path().join("www/digits.txt");
    for round in 0..20u8 {
        // Same size each time: only the cache's change notification can tell.
        let contents: Vec<u8> = DIGITS.iter().map(|b| b.wrapping_add(round % 2)).collect();
        std::fs::write(&path, &contents).unwrap();
        conn.send(b"GET /digits.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        let r = conn.read_response();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, contents, "round {round}");
    }
}
