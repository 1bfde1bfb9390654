//! Compression on the fly and precompressed files through the real server, decoded by real
//! clients: curl (`--compressed`: gzip, br and zstd), Python's `brotli` and `zstandard`
//! (Debian's, through /usr/bin/python3), and flate2 for the streamed checks. A streaming CGI
//! stays streamed; ranges, HEAD, errors, short and unlisted bodies go as they are; hostile
//! `Accept-Encoding` values are served; request bodies are never decoded.

mod support;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{Response, Server};

/// About 100 KiB of HTML that compresses like a real page.
fn page() -> Vec<u8> {
    let mut html = b"<!DOCTYPE html>\n<html><head><title>webserv</title></head><body>\n".to_vec();
    let mut i = 0u32;
    while html.len() < 100 * 1024 {
        i = i.wrapping_mul(2_654_435_761).wrapping_add(12_345);
        html.extend_from_slice(
            format!(
                "<div class=\"row r{}\"><a href=\"/item/{}\">Item {}</a> <span>{} in stock</span></div>\n",
                i % 7,
                i % 1000,
                i % 97,
                i % 13
            )
            .as_bytes(),
        );
    }
    html.extend_from_slice(b"</body></html>\n");
    html
}

const STREAM_CGI: &[u8] = b"printf 'Content-Type: text/html\\n\\n'\nprintf '<p>first</p>\\n'\nsleep 1.5\nprintf '<p>second</p>\\n'\n";
const ENCODED_CGI: &[u8] =
    b"printf 'Content-Type: text/html\\nContent-Encoding: gzip\\n\\n'\nprintf 'not really gzip'\n";
const ECHO_CGI: &[u8] = b"printf 'Content-Type: application/octet-stream\\n\\n'\ncat\n";

fn server(extra: &str, files: &[(&str, &[u8])]) -> Server {
    Server::start(
        &format!(
            "workers 1;\naccess_log off;\nserver {{\n    listen 127.0.0.1:0;\n    root www;\n{extra}\n}}\n"
        ),
        files,
    )
}

fn get(server: &Server, path: &str, fields: &str) -> Response {
    let mut conn = server.connect();
    conn.send(format!("GET {path} HTTP/1.1\r\nHost: a\r\n{fields}\r\n").as_bytes());
    conn.read_response()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .expect("a gzip stream");
    out
}

/// Decodes `data` with Debian's Python module for `coding` (`brotli` or `zstd`).
fn python_decode(coding: &str, data: &[u8]) -> Vec<u8> {
    let script = match coding {
        "br" => {
            "import sys, brotli; sys.stdout.buffer.write(brotli.decompress(sys.stdin.buffer.read()))"
        }
        "zstd" => {
            "import sys, zstandard; r = zstandard.ZstdDecompressor().stream_reader(sys.stdin.buffer); sys.stdout.buffer.write(r.read())"
        }
        other => panic!("{other}"),
    };
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3 (apt-get install python3-brotli python3-zstandard)");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python {coding}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn curl(url: &str, args: &[&str]) -> (String, Vec<u8>) {
    let dir = support::TempDir::new();
    let headers = dir.path().join("headers");
    let out = Command::new("curl")
        .args(["-s", "--http1.1", "-D"])
        .arg(&headers)
        .args(args)
        .arg(url)
        .output()
        .expect("curl");
    assert!(out.status.success(), "curl {url}");
    (std::fs::read_to_string(headers).unwrap(), out.stdout)
}

#[test]
fn curl_compressed_gets_each_coding_decoded_with_its_headers() {
    let html = page();
    let server = server(
        "gzip on; gzip_comp_level 6; brotli on; zstd on;",
        &[("www/index.html", &html)],
    );
    let url = format!("http://127.0.0.1:{}/index.html", server.port());
    // curl offers deflate, gzip, br and zstd: zstd wins the tie.
    let (headers, body) = curl(&url, &["--compressed"]);
    let lower = headers.to_ascii_lowercase();
    assert!(lower.contains("content-encoding: zstd"), "{headers}");
    assert!(lower.contains("vary: accept-encoding"), "{headers}");
    assert!(lower.contains("etag: w/\""), "{headers}");
    assert!(!lower.contains("accept-ranges"), "{headers}");
    assert_eq!(body, html);
    for (coding, accept) in [("gzip", "gzip"), ("br", "br"), ("zstd", "zstd")] {
        let (headers, body) = curl(
            &url,
            &["--compressed", "-H", &format!("Accept-Encoding: {accept}")],
        );
        assert!(
            headers
                .to_ascii_lowercase()
                .contains(&format!("content-encoding: {coding}")),
            "{headers}"
        );
        assert_eq!(body, html, "{coding}");
    }
}

#[test]
fn python_decodes_brotli_and_zstd_and_a_hot_file_comes_from_the_cache_with_its_length() {
    let html = page();
    let server = server("brotli on; zstd on; gzip on;", &[("www/index.html", &html)]);
    for coding in ["br", "zstd"] {
        let first = get(
            &server,
            "/index.html",
            &format!("Accept-Encoding: {coding}\r\n"),
        );
        assert_eq!(first.status, 200);
        assert_eq!(first.header("content-encoding"), Some(coding));
        assert!(first.chunked, "compressed as it is sent");
        assert_eq!(python_decode(coding, &first.body), html);
        assert!(first.body.len() < html.len() / 4);
        // Made once, then answered from the worker's file cache: same bytes, a length.
        let second = get(
            &server,
            "/index.html",
            &format!("Accept-Encoding: {coding}\r\n"),
        );
        assert!(!second.chunked);
        assert_eq!(
            second.header("content-length"),
            Some(second.body.len().to_string().as_str())
        );
        assert_eq!(second.body, first.body);
        assert_eq!(second.header("etag"), first.header("etag"));
    }
}

#[test]
fn a_changed_file_is_never_served_from_an_old_compressed_variant() {
    let html = page();
    let server = server("gzip on;", &[("www/index.html", &html)]);
    let path = server.dir.path().join("www/index.html");
    let accept = "Accept-Encoding: gzip\r\n";
    assert_eq!(gunzip(&get(&server, "/index.html", accept).body), html);
    assert!(!get(&server, "/index.html", accept).chunked);
    for round in 0..3 {
        // Same size, rewritten in place: only the content differs.
        let mut changed = html.clone();
        changed[200] = b'0' + round;
        std::fs::write(&path, &changed).unwrap();
        let got = gunzip(&get(&server, "/index.html", accept).body);
        assert_eq!(got, changed, "round {round}");
        // And the new variant is kept in turn.
        assert!(!get(&server, "/index.html", accept).chunked);
    }
}

#[test]
fn a_streaming_script_keeps_streaming_through_the_compressor() {
    let server = server(
        "location /cgi { cgi .sh /bin/sh; gzip on; }",
        &[("www/cgi/stream.sh", STREAM_CGI)],
    );
    let mut conn = server.connect();
    conn.send(b"GET /cgi/stream.sh HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n");
    let started = Instant::now();
    // Read the raw chunked stream, decoding as it comes.
    let mut raw = Vec::new();
    let mut decoder = flate2::write::GzDecoder::new(Vec::new());
    let mut body_start = None;
    let mut fed = 0;
    let mut first_at = None;
    let mut buf = [0u8; 4096];
    conn.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    loop {
        let n = conn.stream.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if body_start.is_none()
            && let Some(i) = support::find(&raw, b"\r\n\r\n")
        {
            let head = String::from_utf8_lossy(&raw[..i]).to_ascii_lowercase();
            assert!(head.contains("content-encoding: gzip"), "{head}");
            assert!(head.contains("transfer-encoding: chunked"), "{head}");
            body_start = Some(i + 4);
            fed = i + 4;
        }
        // Feed whole chunks to the decoder.
        while let Some(start) = body_start.map(|_| fed) {
            let Some(line) = support::find(&raw[start..], b"\r\n") else {
                break;
            };
            let size = usize::from_str_radix(
                std::str::from_utf8(&raw[start..start + line])
                    .unwrap()
                    .trim(),
                16,
            )
            .unwrap();
            if raw.len() < start + line + 2 + size + 2 {
                break;
            }
            decoder
                .write_all(&raw[start + line + 2..start + line + 2 + size])
                .unwrap();
            decoder.flush().unwrap();
            fed = start + line + 2 + size + 2;
            if size == 0 {
                break;
            }
        }
        if first_at.is_none() && decoder.get_ref().starts_with(b"<p>first</p>\n") {
            first_at = Some(started.elapsed());
        }
        if raw.ends_with(b"0\r\n\r\n") {
            break;
        }
    }
    let first_at = first_at.expect("the first line arrived decodable");
    assert!(
        first_at < Duration::from_millis(1200),
        "the first line waited for the script's end: {first_at:?}"
    );
    assert_eq!(decoder.finish().unwrap(), b"<p>first</p>\n<p>second</p>\n");
    assert!(started.elapsed() >= Duration::from_millis(1400));
}

#[test]
fn ranges_heads_errors_short_unlisted_and_encoded_bodies_go_as_they_are() {
    let html = page();
    let server = server(
        "gzip on; gzip_min_length 100; location /cgi { cgi .sh /bin/sh; gzip on; }",
        &[
            ("www/index.html", &html),
            ("www/short.html", b"<p>short</p>"),
            ("www/logo.png", &html),
            ("www/cgi/encoded.sh", ENCODED_CGI),
        ],
    );
    let accept = "Accept-Encoding: gzip\r\n";
    let range = get(
        &server,
        "/index.html",
        &format!("{accept}Range: bytes=10-19\r\n"),
    );
    assert_eq!(range.status, 206);
    assert_eq!(range.header("content-encoding"), None);
    assert_eq!(range.body, &html[10..20]);
    let mut conn = server.connect();
    conn.send(format!("HEAD /index.html HTTP/1.1\r\nHost: a\r\n{accept}\r\n").as_bytes());
    let head = conn.read_head_response();
    assert_eq!(head.header("content-encoding"), None);
    assert_eq!(
        head.header("content-length"),
        Some(html.len().to_string().as_str())
    );
    let short = get(&server, "/short.html", accept);
    assert_eq!(
        (short.header("content-encoding"), short.text().as_str()),
        (None, "<p>short</p>")
    );
    let png = get(&server, "/logo.png", accept);
    assert_eq!(png.header("content-encoding"), None);
    assert_eq!(png.body, html);
    let encoded = get(&server, "/cgi/encoded.sh", accept);
    assert_eq!(encoded.header("content-encoding"), Some("gzip"));
    assert_eq!(encoded.text(), "not really gzip");
    // An error page with nothing listed for its type stays as it is; a 404 of HTML is
    // compressed, as nginx does.
    let missing = get(&server, "/missing.html", accept);
    assert_eq!(missing.status, 404);
    if missing.body.len() >= 100 {
        assert_eq!(missing.header("content-encoding"), Some("gzip"));
        assert!(gunzip(&missing.body).starts_with(b"<!DOCTYPE html>"));
    }
    // A conditional request with the compressed response's weak ETag gets its 304.
    let full = get(&server, "/index.html", accept);
    let etag = full.header("etag").unwrap().to_string();
    assert!(etag.starts_with("W/"));
    let not_modified = get(
        &server,
        "/index.html",
        &format!("{accept}If-None-Match: {etag}\r\n"),
    );
    assert_eq!(not_modified.status, 304);
}

#[test]
fn hostile_accept_encoding_values_are_served_uncompressed_unless_they_ask_for_a_coding() {
    let html = page();
    let server = server("gzip on; brotli on; zstd on;", &[("www/index.html", &html)]);
    let huge = format!("{}gzip;q=0.001", "x-unknown;q=0.5, ".repeat(400));
    for (accept, expected) in [
        (";;;===,,,q, \t;q=, \"gzip\", g zip, ;gzip", None),
        ("gzip;q=2", None),
        ("gzip;q=-0.5", None),
        ("br;q=0.0001", None),
        ("identity", None),
        ("*;q=0", None),
        ("gzip;q=0.000", None),
        (huge.as_str(), Some("gzip")),
        ("GZIP;Q=0.5, Br;q=0.4", Some("gzip")),
        ("*", Some("zstd")),
        ("*, zstd;q=0", Some("br")),
    ] {
        let response = get(
            &server,
            "/index.html",
            &format!("Accept-Encoding: {accept}\r\n"),
        );
        assert_eq!(response.status, 200, "{accept:?}");
        assert_eq!(response.header("content-encoding"), expected, "{accept:?}");
        if expected.is_none() {
            assert_eq!(response.body, html, "{accept:?}");
        }
    }
    // Many Accept-Encoding fields: read together.
    let many = get(
        &server,
        "/index.html",
        &"Accept-Encoding: x-a, y-b;q=0.5\r\n".repeat(50),
    );
    assert_eq!(many.header("content-encoding"), None);
}

#[test]
fn static_siblings_go_to_the_clients_that_accept_them_best() {
    let server = server(
        "gzip_static on; brotli_static on; zstd_static on; location /always/ { gzip_static always; }",
        &[
            ("www/app.js", b"plain"),
            ("www/app.js.gz", b"gz bytes"),
            ("www/app.js.br", b"br bytes"),
            ("www/app.js.zst", b"zst bytes"),
            ("www/only-gz.css", b"css"),
            ("www/only-gz.css.gz", b"css gz"),
            ("www/always/a.txt.gz", b"kept gz"),
            ("www/always/a.txt", b"plain a"),
        ],
    );
    for (accept, body, coding) in [
        ("gzip, br, zstd", "zst bytes", Some("zstd")),
        ("gzip, br", "br bytes", Some("br")),
        ("br;q=0.5, gzip", "gz bytes", Some("gzip")),
        ("identity", "plain", None),
    ] {
        let r = get(
            &server,
            "/app.js",
            &format!("Accept-Encoding: {accept}\r\n"),
        );
        assert_eq!(r.text(), body, "{accept}");
        assert_eq!(r.header("content-encoding"), coding, "{accept}");
        assert_eq!(r.header("vary"), Some("Accept-Encoding"));
        assert_eq!(
            r.header("content-type"),
            Some("text/javascript; charset=utf-8")
        );
    }
    let css = get(&server, "/only-gz.css", "Accept-Encoding: br\r\n");
    assert_eq!(
        (css.text().as_str(), css.header("vary")),
        ("css", Some("Accept-Encoding"))
    );
    let always = get(&server, "/always/a.txt", "");
    assert_eq!(always.text(), "kept gz");
    assert_eq!(always.header("content-encoding"), Some("gzip"));
}

#[test]
fn http_1_0_vary_and_proxied_requests_follow_gzip_http_version_gzip_vary_and_gzip_proxied() {
    let html = page();
    let server = server(
        "gzip on; gzip_vary on; location /old/ { gzip_http_version 1.0; } location /any/ { gzip_proxied any; }",
        &[
            ("www/index.html", &html),
            ("www/old/index.html", &html),
            ("www/any/index.html", &html),
        ],
    );
    let old = support::raw(
        server.addr(),
        b"GET /index.html HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n",
    );
    assert!(support::find(&old, b"Content-Encoding").is_none());
    let old_ok = support::raw(
        server.addr(),
        b"GET /old/index.html HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n",
    );
    assert!(support::find(&old_ok, b"Content-Encoding: gzip").is_some());
    let plain = get(&server, "/index.html", "");
    assert_eq!(plain.header("vary"), Some("Accept-Encoding"));
    assert_eq!(plain.header("content-encoding"), None);
    let via = "Via: 1.1 cache\r\nAccept-Encoding: gzip\r\n";
    assert_eq!(
        get(&server, "/index.html", via).header("content-encoding"),
        None
    );
    assert_eq!(
        get(&server, "/any/index.html", via).header("content-encoding"),
        Some("gzip")
    );
}

#[test]
fn a_request_body_is_never_decompressed() {
    let server = server(
        "location /cgi { cgi .sh /bin/sh; allow_methods GET POST; gzip on; gzip_types *; }",
        &[("www/cgi/echo.sh", ECHO_CGI)],
    );
    // A "gzip bomb" body: the script gets its bytes as they came.
    let mut bomb = Vec::new();
    let mut encoder = flate2::write::GzEncoder::new(&mut bomb, flate2::Compression::best());
    encoder.write_all(&vec![0u8; 10 << 20]).unwrap();
    encoder.finish().unwrap();
    let mut conn = server.connect();
    conn.send(
        format!(
            "POST /cgi/echo.sh HTTP/1.1\r\nHost: a\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
            bomb.len()
        )
        .as_bytes(),
    );
    conn.send(&bomb);
    let response = conn.read_response();
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-encoding"), None);
    assert_eq!(response.body, bomb);
}

#[test]
fn bad_compression_directives_are_config_errors_at_their_place() {
    for (line, message) in [
        (
            "gzip_comp_level 0;",
            "invalid value \"0\" in \"gzip_comp_level\" directive",
        ),
        ("brotli_types text;", "invalid MIME type \"text\""),
        (
            "zstd_static maybe;",
            "invalid value \"maybe\" in \"zstd_static\" directive",
        ),
    ] {
        let error = match Server::try_start(
            &format!("server {{\n    listen 127.0.0.1:0;\n    {line}\n}}\n"),
            &[],
        ) {
            Ok(_) => panic!("{line} was accepted"),
            Err(failed) => failed.stderr,
        };
        assert!(error.contains(":3:"), "{line}: {error}");
        assert!(error.contains(message), "{line}: {error}");
    }
}

#[test]
fn a_hot_compressed_file_is_still_served_whole_in_ranges_heads_304s_other_codings_and_gone() {
    let html = page();
    let server = server("gzip on; zstd on;", &[("www/index.html", &html)]);
    let path = server.dir.path().join("www/index.html");
    let gzip = "Accept-Encoding: gzip\r\n";
    // Made, then kept: from now on the cache answers the file without opening it.
    let made = get(&server, "/index.html", gzip);
    assert!(made.chunked);
    let hot = get(&server, "/index.html", gzip);
    assert!(!hot.chunked);
    assert_eq!(gunzip(&hot.body), html);
    // A client that accepts no coding gets the file itself, with its length.
    let plain = get(&server, "/index.html", "");
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(
        plain.header("content-length"),
        Some(html.len().to_string().as_str())
    );
    assert_eq!(plain.body, html);
    let range = get(
        &server,
        "/index.html",
        &format!("{gzip}Range: bytes=100-199\r\n"),
    );
    assert_eq!(range.status, 206);
    assert_eq!(range.body, &html[100..200]);
    let mut conn = server.connect();
    conn.send(format!("HEAD /index.html HTTP/1.1\r\nHost: a\r\n{gzip}\r\n").as_bytes());
    let head = conn.read_head_response();
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(html.len().to_string().as_str())
    );
    // Another coding than the one kept: compressed from the file, as it is sent.
    let zstd = get(&server, "/index.html", "Accept-Encoding: zstd\r\n");
    assert_eq!(zstd.header("content-encoding"), Some("zstd"));
    assert_eq!(python_decode("zstd", &zstd.body), html);
    // The weak ETag of the compressed answer gets a 304 that says what the 200 says: the
    // same weak ETag, and Vary. The strong one too (weak comparison, RFC 9110 §13.1.2).
    let etag = hot.header("etag").unwrap().to_string();
    assert!(etag.starts_with("W/\""), "{etag}");
    for tag in [etag.clone(), etag[2..].to_string()] {
        let not_modified = get(
            &server,
            "/index.html",
            &format!("{gzip}If-None-Match: {tag}\r\n"),
        );
        assert_eq!(not_modified.status, 304, "{tag}");
        assert_eq!(not_modified.header("etag"), Some(etag.as_str()));
        assert_eq!(not_modified.header("vary"), Some("Accept-Encoding"));
    }
    let identity = get(
        &server,
        "/index.html",
        &format!("If-None-Match: {etag}\r\n"),
    );
    assert_eq!(identity.status, 304);
    assert_eq!(identity.header("etag"), Some(&etag[2..]));
    // Gone: 404 for every client; back with other bytes: those.
    std::fs::remove_file(&path).unwrap();
    assert_eq!(get(&server, "/index.html", gzip).status, 404);
    assert_eq!(get(&server, "/index.html", "").status, 404);
    let mut other = html.clone();
    other[300] = b'#';
    std::fs::write(&path, &other).unwrap();
    assert_eq!(gunzip(&get(&server, "/index.html", gzip).body), other);
    assert_eq!(gunzip(&get(&server, "/index.html", gzip).body), other);
    assert_eq!(get(&server, "/index.html", "").body, other);
}

#[test]
fn compressing_a_large_answer_for_a_slow_reader_keeps_server_memory_bounded() {
    // 10 MiB of text that compresses to about 8 MB: the compressed answer is far larger than
    // the bound, and the client takes it slowly through a small receive window.
    let data: Vec<u8> = support::random_bytes(10 << 20, 11)
        .iter()
        .map(|b| b'0' + b % 64)
        .collect();
    let server = server("gzip on; gzip_types text/plain;", &[("www/big.txt", &data)]);
    let pid = server.pid() as i32;
    let baseline = support::proc_status_kib(pid, "VmRSS");
    let mut socket = std::net::TcpStream::connect(server.addr()).unwrap();
    support::set_small_receive_buffer(&socket, 32 * 1024);
    socket
        .write_all(
            b"GET /big.txt HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut received = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let mut peak_rss = 0;
    loop {
        let n = socket.read(&mut chunk).unwrap();
        if n == 0 {
            break;
        }
        received.extend_from_slice(&chunk[..n]);
        if received.len() % (64 << 10) < n {
            std::thread::sleep(Duration::from_millis(1));
        }
        if received.len() % (256 << 10) < n {
            peak_rss = peak_rss.max(support::proc_status_kib(pid, "VmRSS"));
        }
    }
    let support::Parse::Complete(response, _) = support::parse_response(&received, false, true)
    else {
        panic!("no whole response in {} bytes", received.len());
    };
    assert_eq!(response.header("content-encoding"), Some("gzip"));
    assert!(response.body.len() > 7 << 20, "{}", response.body.len());
    assert!(
        gunzip(&response.body) == data,
        "the body decodes to another file"
    );
    eprintln!("server VmRSS: {baseline} KiB before, {peak_rss} KiB at most during");
    // Bounded: the compressor (under 1 MiB for gzip), a piece of input, the output the client
    // has not taken, and the variant kept up to its limit (1 MiB) until it outgrows it.
    assert!(
        peak_rss > 0 && peak_rss < baseline + 5 * 1024,
        "server VmRSS {peak_rss} KiB, {baseline} KiB before"
    );
}
