//! HTTP/2 with real clients, feature by feature: every response feature of HTTP/1.1 works the
//! same over h2 (static files and their validators, HEAD, 304, ranges, autoindex, error pages,
//! redirects, add_header, expires, gzip_static, uploads and PUT, DELETE, CGI streamed with
//! request bodies, the access log with `HTTP/2.0`), over TLS (ALPN) and with prior knowledge;
//! many streams on one connection (nghttp, h2load); a stream cut mid-body is reset, never made
//! to look complete; GOAWAY on shutdown and reload; the idle timeout.
//!
//! Clients: curl, nghttp and h2load (Debian nghttp2-client), the Python `h2` stack through
//! `tests/http2/h2frames.py` (Debian python3-h2). Each test skips with a note when its client
//! is missing (.ci/run installs them).

mod support;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::cgi::write_file;
use support::h2::{access_log, curl, h2_server, installed, python_h2, run, scenario};
use support::tls::{Cert, cert};
use support::{Server, random_bytes};

/// A response as `curl -i` prints it.
struct Fetched {
    version: String,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Fetched {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `curl -i` of `url` with `args`, parsed.
fn fetch(url: &str, args: &[&str]) -> Fetched {
    let mut all = vec!["-i"];
    all.extend_from_slice(args);
    all.push(url);
    let out = curl(&all);
    assert!(out.status.success(), "curl {all:?}: {}", out.stderr);
    let raw = out.stdout;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or("").to_string();
    let status = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Fetched {
        version,
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// The site most tests use: static files, a listing, an error page, a redirect, decorated
/// files, an upload store and CGI scripts.
const SITE: &str = "    error_page 404 /errors/404.html;
    client_max_body_size 8m;
    location /files { autoindex on; }
    location /old { return 301 /new/; }
    location /deco/ { add_header X-Deco yes; expires 1h; gzip_static on; }
    location /up {
        allow_methods GET HEAD PUT POST DELETE;
        alias up;
        upload_store up;
        client_max_body_size 1m;
    }
    location /cgi-bin {
        allow_methods GET HEAD POST;
        cgi .sh /bin/sh;
        cgi_timeout 10s;
    }";

/// Scripts: `echo.sh` answers what it was given (protocol, length, body digest); `stream.sh`
/// writes a line, waits, writes another; `cut.sh` promises 100 octets and dies after 10.
fn site(cert: &Cert, files: &[(&str, &[u8])]) -> Server {
    let server = h2_server(cert, SITE, files);
    let root = server.dir.path();
    write_file(&root.join("www/index.html"), "hello\n", false);
    write_file(
        &root.join("www/errors/404.html"),
        "<p>custom 404</p>\n",
        false,
    );
    write_file(&root.join("www/files/a.txt"), "a\n", false);
    write_file(&root.join("www/files/b.txt"), "b\n", false);
    write_file(&root.join("www/deco/page.txt"), "plain text\n", false);
    write_file(&root.join("www/deco/page.txt.gz"), "pretend gzip\n", false);
    std::fs::create_dir_all(root.join("up")).unwrap();
    write_file(
        &root.join("www/cgi-bin/echo.sh"),
        "printf 'Content-Type: text/plain\\r\\n\\r\\n'\n\
         printf '%s %s ' \"$SERVER_PROTOCOL\" \"${CONTENT_LENGTH:-none}\"\n\
         md5sum | cut -d' ' -f1\n",
        false,
    );
    write_file(
        &root.join("www/cgi-bin/stream.sh"),
        "printf 'Content-Type: text/plain\\r\\n\\r\\n'\necho first\nsleep 2\necho second\n",
        false,
    );
    write_file(
        &root.join("www/cgi-bin/cut.sh"),
        "printf 'Content-Type: text/plain\\r\\nContent-Length: 100\\r\\n\\r\\n'\n\
         printf '0123456789'\nkill -9 $$\n",
        false,
    );
    write_file(
        &root.join("www/cgi-bin/slow.sh"),
        "printf 'Content-Type: text/plain\\r\\n\\r\\n'\nsleep 1\necho done\n",
        false,
    );
    server
}

fn clients_ready() -> bool {
    installed("curl") && installed("nghttp") && installed("h2load") && python_h2()
}

/// The two ways in: over TLS (ALPN) and plain with prior knowledge.
fn bases(server: &Server) -> [(String, &'static str); 2] {
    [
        (
            format!("https://localhost:{}", server.addrs[0].port()),
            "--http2",
        ),
        (
            format!("http://127.0.0.2:{}", server.addrs[1].port()),
            "--http2-prior-knowledge",
        ),
    ]
}

fn resolve(server: &Server) -> String {
    format!("localhost:{}:127.0.0.1", server.addrs[0].port())
}

#[test]
fn static_files_come_over_h2_with_their_fields_and_the_access_log_says_http_2_0() {
    if !clients_ready() {
        return;
    }
    let cert = cert(&["localhost"]);
    let server = site(&cert, &[]);
    let resolve = resolve(&server);
    for (base, mode) in bases(&server) {
        let got = fetch(
            &format!("{base}/index.html"),
            &[mode, "--resolve", &resolve],
        );
        assert_eq!((got.version.as_str(), got.status), ("HTTP/2", 200));
        assert_eq!(got.body, b"hello\n");
        assert_eq!(got.header("content-length"), Some("6"));
        assert_eq!(got.header("content-type"), Some("text/html; charset=utf-8"));
        assert!(got.header("etag").is_some() && got.header("last-modified").is_some());
        assert_eq!(got.header("server"), Some("webserv"));
        assert!(got.header("date").is_some());
        assert!(got.header("connection").is_none());
    }
    let log = access_log(&server, 2);
    assert_eq!(
        log.matches("\"GET /index.html HTTP/2.0\" 200 6 ").count(),
        2,
        "{log}"
    );
}

#[test]
fn head_304_ranges_and_416_answer_over_h2_as_over_http1() {
    if !clients_ready() {
        return;
    }
    let cert = cert(&["localhost"]);
    let server = site(&cert, &[]);
    let resolve = resolve(&server);
    for (base, mode) in bases(&server) {
        let url = format!("{base}/index.html");
        let head = fetch(&url, &[mode, "--resolve", &resolve, "-I"]);
        assert_eq!(head.status, 200);
        assert_eq!(head.header("content-length"), Some("6"));
        assert!(head.body.is_empty());
        let etag = head.header("etag").unwrap().to_string();
        let cached = fetch(
            &url,
            &[
                mode,
                "--resolve",
                &resolve,
                "-H",
                &format!("If-None-Match: {etag}"),
            ],
        );
        assert_eq!(cached.status, 304);
        assert!(cached.body.is_empty() && cached.header("content-length").is_none());
        let range = fetch(&url, &[mode, "--resolve", &resolve, "-r", "1-3"]);
        assert_eq!(range.status, 206);
        assert_eq!(range.body, b"ell");
        assert_eq!(range.header("content-range"), Some("bytes 1-3/6"));
        let past = fetch(&url, &[mode, "--resolve", &resolve, "-r", "100-200"]);
        assert_eq!(past.status, 416);
        assert_eq!(past.header("content-range"), Some("bytes */6"));
    }
}

#[test]
fn listings_error_pages_redirects_and_decorations_answer_over_h2() {
    if !clients_ready() {
        return;
    }
    let cert = cert(&["localhost"]);
    let server = site(&cert, &[]);
    let resolve = resolve(&server);
    for (base, mode) in bases(&server) {
        let args = [mode, "--resolve", &resolve];
        let listing = fetch(&format!("{base}/files/"), &args);
        assert_eq!(listing.status, 200);
        let text = String::from_utf8_lossy(&listing.body);
        assert!(text.contains("a.txt") && text.contains("b.txt"), "{text}");
        let slash = fetch(&format!("{base}/files"), &args);
        assert_eq!(slash.status, 301);
        assert!(slash.header("location").unwrap().ends_with("/files/"));
        let missing = fetch(&format!("{base}/nothing-here"), &args);
        assert_eq!(missing.status, 404);
        assert_eq!(missing.body, b"<p>custom 404</p>\n");
        let moved = fetch(&format!("{base}/old"), &args);
        assert_eq!(moved.status, 301);
        assert!(moved.header("location").unwrap().ends_with("/new/"));
        let plain = fetch(&format!("{base}/deco/page.txt"), &args);
        assert_eq!(plain.body, b"plain text\n");
        assert_eq!(plain.header("x-deco"), Some("yes"));
        assert_eq!(plain.header("cache-control"), Some("max-age=3600"));
        assert!(plain.header("expires").is_some());
        let gzipped = fetch(
            &format!("{base}/deco/page.txt"),
            &[mode, "--resolve", &resolve, "-H", "Accept-Encoding: gzip"],
        );
        assert_eq!(gzipped.body, b"pretend gzip\n");
        assert_eq!(gzipped.header("content-encoding"), Some("gzip"));
    }
}

#[test]
fn uploads_put_and_delete_work_over_h2_with_bodies_under_flow_control() {
    if !clients_ready() {
        return;
    }
    let cert = cert(&["localhost"]);
    let server = site(&cert, &[]);
    let resolve = resolve(&server);
    let store = server.dir.path().join("up");
    // Larger than the stream window (64 KiB) and than a connection window's worth of frames.
    let body = random_bytes(900_000, 7);
    let file = server.dir.path().join("body.bin");
    std::fs::write(&file, &body).unwrap();
    let at = format!("@{}", file.display());
    for (n, (base, mode)) in bases(&server).into_iter().enumerate() {
        let url = format!("{base}/up/put-{n}.bin");
        let put = fetch(
            &url,
            &[mode, "--resolve", &resolve, "-T", file.to_str().unwrap()],
        );
        assert_eq!(put.status, 201, "{}", String::from_utf8_lossy(&put.body));
        assert_eq!(
            std::fs::read(store.join(format!("put-{n}.bin"))).unwrap(),
            body
        );
        let replaced = fetch(
            &url,
            &[mode, "--resolve", &resolve, "-T", file.to_str().unwrap()],
        );
        assert_eq!(replaced.status, 204);
        let posted = fetch(
            &format!("{base}/up/post-{n}.bin"),
            &[mode, "--resolve", &resolve, "--data-binary", &at],
        );
        assert_eq!(posted.status, 201);
        assert_eq!(
            std::fs::read(store.join(format!("post-{n}.bin"))).unwrap(),
            body
        );
        let deleted = fetch(&url, &[mode, "--resolve", &resolve, "-X", "DELETE"]);
        assert_eq!(deleted.status, 204);
        assert!(!store.join(format!("put-{n}.bin")).exists());
    }
    // Over the location's limit (1m): 413 from the declared length, and without one (the
    // body ends with the stream) once the limit is passed; nothing is stored.
    let big = server.dir.path().join("big.bin");
    std::fs::write(&big, random_bytes(1_200_000, 8)).unwrap();
    let (base, mode) = &bases(&server)[0];
    let over = fetch(
        &format!("{base}/up/big.bin"),
        &[mode, "--resolve", &resolve, "-T", big.to_str().unwrap()],
    );
    assert_eq!(over.status, 413);
    let verdict = scenario(server.addrs[0], true, "post:/up/big2.bin:1200000:0");
    assert!(verdict.starts_with(":status 413 "), "{verdict}");
    let verdict = scenario(server.addrs[0], true, "post:/up/small.bin:70000:0");
    assert!(verdict.starts_with(":status 201 "), "{verdict}");
    assert_eq!(
        std::fs::metadata(store.join("small.bin")).unwrap().len(),
        70_000
    );
    assert!(!store.join("big.bin").exists() && !store.join("big2.bin").exists());
}

#[test]
fn cgi_gets_request_bodies_with_and_without_a_length_and_knows_it_is_http_2_0() {
    if !clients_ready() {
        return;
    }
    let cert = cert(&["localhost"]);
    let server = site(&cert, &[]);
    let resolve = resolve(&server);
    let body = random_bytes(300_000, 3);
    let file = server.dir.path().join("body.bin");
    std::fs::write(&file, &body).unwrap();
    let at = format!("@{}", file.display());
    let digest = |data: &[u8]| {
        let mut child = Command::new("md5sum")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(data).unwrap();
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        child.wait().unwrap();
        out.split_whitespace().next().unwrap().to_string()
    };
    for (base, mode) in bases(&server) {
        let got = fetch(
            &format!("{base}/cgi-bin/echo.sh"),
            &[mode, "--resolve", &resolve, "--data-binary", &at],
        );
        assert_eq!(got.status, 200);
        assert_eq!(
            String::from_utf8_lossy(&got.body).trim(),
            format!("HTTP/2.0 300000 {}", digest(&body))
        );
    }
    // Without content-length, the body is spooled and given with its length.
    let generated: Vec<u8> = (0..70_000u32).map(|i| ((i * 7 + 3) % 251) as u8).collect();
    let verdict = scenario(server.addrs[0], true, "post:/cgi-bin/echo.sh:70000:0");
    assert_eq!(
        verdict.trim(),
        format!(":status 200 HTTP/2.0 70000 {}", digest(&generated))
    );
}

#[test]
fn cgi_output_streams_over_h2_as_the_script_writes_it() {
    if !clients_ready() {
        return;
    }
    let cert = cert(&["localhost"]);
    let server = site(&cert, &[]);
    let resolve = resolve(&server);
    let (base, mode) = &bases(&server)[0];
    let started = Instant::now();
    let mut child = Command::new("curl")
        .args(["-sS", "-k", "-N", mode, "--resolve", &resolve])
        .arg(format!("{base}/cgi-bin/stream.sh"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 6];
    out.read_exact(&mut first).unwrap();
    let first_at = started.elapsed();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let all_at = started.elapsed();
    child.wait().unwrap();
    assert_eq!(&first, b"first\n");
    assert_eq!(rest, "second\n");
    // The script sleeps 2 s between its lines: the first came before that.
    assert!(
        first_at + Duration::from_millis(1500) < all_at,
        "{first_at:?} {all_at:?}"
    );
}

#[test]
fn a_slow_stream_does_not_hold_back_the_others_on_its_connection() {
    if !clients_ready() {
        return;
    }
    let cert = cert(&["localhost"]);
    let server = site(&cert, &[]);
    let base = format!("https://127.0.0.1:{}", server.addrs[0].port());
    // nghttp sends both at once; the slow script answers after 1 s.
    let out = run(
        "nghttp",
        &[
            "-n",
            "-s",
            &format!("{base}/cgi-bin/slow.sh"),
            &format!("{base}/index.html"),
        ],
    );
    assert!(out.status.success(), "{}", out.stderr);
    let text = out.text();
    // The statistics list each stream's completion: index.html finishes first.
    let slow = text.find("/cgi-bin/slow.sh").unwrap_or(0);
    let fast = text.find("/index.html").unwrap_or(0);
    assert!(fast < slow, "{text}");
}

#[test]
fn a_body_cut_by_its_producer_is_reset_and_never_looks_complete() {
    if !clients_ready() {
        return;
    }
    let cert = cert(&["localhost"]);
    let server = site(&cert, &[]);
    for (addr, tls) in [(server.addrs[0], true), (server.addrs[1], false)] {
        let verdict = scenario(addr, tls, "get_text:/cgi-bin/cut.sh");
        assert_eq!(verdict, "RST_STREAM INTERNAL_ERROR");
    }
    let (base, mode) = &bases(&server)[0];
    let resolve = resolve(&server);
    let out = curl(&[
        mode,
        "--resolve",
        &resolve,
        &format!("{base}/cgi-bin/cut.sh"),
    ]);
    assert!(!out.status.success(), "curl took a cut body as complete");
}

#[test]
fn nghttp_and_h2load_get_every_answer_on_many_streams() {
    if !clients_ready() {
        return;
    }
    let cert = cert(&["localhost"]);
    let payload = random_bytes(5_000_000, 11);
    let server = site(&cert, &[("www/big.bin", &payload)]);
    // 5 MB with a stream window of 2^16-1 and a small connection window.
    let out = run(
        "nghttp",
        &[
            "-w",
            "16",
            "-W",
            "16",
            &format!("https://127.0.0.1:{}/big.bin", server.addrs[0].port()),
        ],
    );
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout == payload, "the download differs");
    for (addr, scheme) in [(server.addrs[0], "https"), (server.addrs[1], "http")] {
        let url = format!("{scheme}://{addr}/index.html");
        let out = run("h2load", &["-n", "2000", "-c", "4", "-m", "10", &url]);
        let text = out.text();
        assert!(
            text.contains("2000 succeeded, 0 failed, 0 errored")
                && text.contains("status codes: 2000 2xx"),
            "{text}"
        );
    }
}

#[test]
fn graceful_shutdown_sends_goaway_with_the_last_stream_and_finishes_it() {
    if !clients_ready() {
        return;
    }
    let cert = cert(&["localhost"]);
    let mut server = site(&cert, &[]);
    let pid = server.pid();
    let verdict = scenario(
        server.addrs[0],
        true,
        &format!("goaway_on_signal:{pid}:SIGTERM:/cgi-bin/slow.sh"),
    );
    assert_eq!(
        verdict,
        "GOAWAY NO_ERROR last=1; stream :status 200+body=5; closed"
    );
    assert!(server.wait_exit(Duration::from_secs(10)).is_some());
}

#[test]
fn a_reload_that_changes_the_address_sends_goaway_and_one_that_does_not_leaves_it() {
    if !clients_ready() {
        return;
    }
    let cert = cert(&["localhost"]);
    let server = site(&cert, &[]);
    let pid = server.pid();
    // The same configuration: nothing to tell.
    let verdict = scenario(server.addrs[0], true, &format!("goaway_after_reload:{pid}"));
    assert_eq!(verdict, "alive");
    // The address's server changes: its connections are told to go.
    let path = server.dir.path().join("webserv.conf");
    let config = std::fs::read_to_string(&path).unwrap();
    let changed = config.replacen(
        "error_page 404",
        "add_header X-New 1;\n    error_page 404",
        1,
    );
    std::fs::write(&path, changed).unwrap();
    let verdict = scenario(server.addrs[0], true, &format!("goaway_after_reload:{pid}"));
    assert_eq!(verdict, "GOAWAY NO_ERROR last=1");
    // And the new configuration answers the next connection.
    let resolve = resolve(&server);
    let got = fetch(
        &format!("https://localhost:{}/index.html", server.addrs[0].port()),
        &["--http2", "--resolve", &resolve],
    );
    assert_eq!(got.header("x-new"), Some("1"));
}

#[test]
fn an_idle_connection_gets_goaway_after_keepalive_timeout() {
    if !python_h2() {
        return;
    }
    let cert = cert(&["localhost"]);
    let server = h2_server(
        &cert,
        "    keepalive_timeout 1s;",
        &[("www/index.html", b"hello\n")],
    );
    let verdict = scenario(server.addrs[0], true, "idle:8");
    assert!(
        verdict.starts_with("GOAWAY NO_ERROR last=1 after ") && verdict.ends_with("; closed"),
        "{verdict}"
    );
    let waited: f64 = verdict
        .split("after ")
        .nth(1)
        .and_then(|s| s.split('s').next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    assert!((1.0..=4.0).contains(&waited), "{verdict}");
}

#[test]
fn a_connection_without_a_request_gets_goaway_after_client_header_timeout() {
    if !python_h2() {
        return;
    }
    let cert = cert(&["localhost"]);
    let server = h2_server(
        &cert,
        "    client_header_timeout 2s;\n    keepalive_timeout 60s;",
        &[("www/index.html", b"hello\n")],
    );
    let verdict = scenario(server.addrs[0], true, "idle:10:0");
    assert!(
        verdict.starts_with("GOAWAY NO_ERROR last=0 after ") && verdict.ends_with("; closed"),
        "{verdict}"
    );
    let waited: f64 = verdict
        .split("after ")
        .nth(1)
        .and_then(|s| s.split('s').next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    assert!((1.0..=5.0).contains(&waited), "{verdict}");
}

#[test]
fn prior_knowledge_needs_http2_on_and_http1_clients_still_come_in() {
    if !installed("curl") {
        return;
    }
    let cert = cert(&["localhost"]);
    let server = site(&cert, &[]);
    // HTTP/1.1 on the plain HTTP/2 address is served as ever.
    let got = fetch(
        &format!("http://127.0.0.2:{}/index.html", server.addrs[1].port()),
        &["--http1.1"],
    );
    assert_eq!((got.version.as_str(), got.status), ("HTTP/1.1", 200));
    // A plain address without `http2 on` speaks HTTP/1 only.
    let plain = Server::start(
        &support::simple_config(""),
        &[("www/index.html", b"hello\n")],
    );
    let out = curl(&[
        "--http2-prior-knowledge",
        &format!("http://{}/index.html", plain.addr()),
    ]);
    assert!(!out.status.success(), "{}", out.text());
    let got = fetch(&format!("http://{}/index.html", plain.addr()), &["--http2"]);
    assert_eq!((got.version.as_str(), got.status), ("HTTP/1.1", 200));
}

#[test]
fn the_reverse_proxy_answers_over_h2_with_bodies_both_ways() {
    if !clients_ready() {
        return;
    }
    // The backend: another webserv over HTTP/1.1, with a file and a script that digests its
    // request body.
    let big = random_bytes(1_500_000, 21);
    let backend = Server::start(
        &support::simple_config(
            "    location /cgi-bin { allow_methods GET POST; cgi .sh /bin/sh; }",
        ),
        &[
            ("www/big.bin", &big),
            (
                "www/cgi-bin/echo.sh",
                b"printf 'Content-Type: text/plain\\r\\n\\r\\n'\n\
                  printf '%s %s ' \"$SERVER_PROTOCOL\" \"${CONTENT_LENGTH:-none}\"\n\
                  md5sum | cut -d' ' -f1\n",
            ),
        ],
    );
    let cert = cert(&["localhost"]);
    let front = h2_server(
        &cert,
        &format!(
            "    client_max_body_size 8m;\n    location /p/ {{\n        \
             proxy_pass http://127.0.0.1:{}/;\n        proxy_http_version 1.1;\n        \
             proxy_request_buffering off;\n    }}",
            backend.port()
        ),
        &[],
    );
    let resolve = resolve(&front);
    let body = random_bytes(300_000, 22);
    let file = front.dir.path().join("body.bin");
    std::fs::write(&file, &body).unwrap();
    let at = format!("@{}", file.display());
    let digest = |data: &[u8]| {
        use std::io::Write;
        let mut child = Command::new("md5sum")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(data).unwrap();
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        child.wait().unwrap();
        out.split_whitespace().next().unwrap().to_string()
    };
    for (base, mode) in bases(&front) {
        let got = fetch(&format!("{base}/p/big.bin"), &[mode, "--resolve", &resolve]);
        assert_eq!(got.status, 200);
        assert!(got.body == big, "the proxied download differs");
        let echoed = fetch(
            &format!("{base}/p/cgi-bin/echo.sh"),
            &[mode, "--resolve", &resolve, "--data-binary", &at],
        );
        assert_eq!(
            String::from_utf8_lossy(&echoed.body).trim(),
            format!("HTTP/1.1 300000 {}", digest(&body))
        );
    }
    // A body without content-length reaches the HTTP/1.1 backend chunked, whole.
    let generated: Vec<u8> = (0..70_000u32).map(|i| ((i * 7 + 3) % 251) as u8).collect();
    let verdict = scenario(front.addrs[0], true, "post:/p/cgi-bin/echo.sh:70000:0");
    assert_eq!(
        verdict.trim(),
        format!(":status 200 HTTP/1.1 70000 {}", digest(&generated))
    );
    let log = access_log(&front, 5);
    assert!(
        log.contains("\"GET /p/big.bin HTTP/2.0\" 200 1500000 "),
        "{log}"
    );
}

#[test]
fn php_through_fastcgi_answers_over_h2_with_request_bodies() {
    if !clients_ready() {
        return;
    }
    if !Path::new("/usr/sbin/php-fpm8.2").exists() {
        support::skip::missing("/usr/sbin/php-fpm8.2 (Debian package php8.2-fpm)");
        return;
    }
    let fpm = support::fastcgi::php_fpm(
        support::fastcgi::Listen::UnixSocket,
        2,
        &[(
            "echo.php",
            b"<?php\necho $_SERVER['SERVER_PROTOCOL'], ' ', $_SERVER['REQUEST_METHOD'], ' ', \
              strlen(file_get_contents('php://input')), ' ', \
              md5(file_get_contents('php://input'));\n",
        )],
    );
    let root = support::fastcgi::www(&fpm).display().to_string();
    let cert = cert(&["localhost"]);
    let server = h2_server(
        &cert,
        &format!(
            "    client_max_body_size 8m;\n    location ~ \\.php$ {{\n        \
             root {root};\n        fastcgi_pass {};\n    }}",
            fpm.address.to_config()
        ),
        &[],
    );
    let resolve = resolve(&server);
    let body = random_bytes(200_000, 41);
    let file = server.dir.path().join("body.bin");
    std::fs::write(&file, &body).unwrap();
    let at = format!("@{}", file.display());
    let digest = {
        use std::io::Write;
        let mut child = Command::new("md5sum")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&body).unwrap();
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        child.wait().unwrap();
        out.split_whitespace().next().unwrap().to_string()
    };
    for (base, mode) in bases(&server) {
        let got = fetch(
            &format!("{base}/echo.php"),
            &[mode, "--resolve", &resolve, "--data-binary", &at],
        );
        assert_eq!(got.status, 200);
        assert_eq!(
            String::from_utf8_lossy(&got.body),
            format!("HTTP/2.0 POST 200000 {digest}")
        );
        let get = fetch(&format!("{base}/echo.php"), &[mode, "--resolve", &resolve]);
        assert_eq!(
            String::from_utf8_lossy(&get.body),
            "HTTP/2.0 GET 0 d41d8cd98f00b204e9800998ecf8427e"
        );
    }
    // Without content-length: spooled, then given to php-fpm with its length.
    let verdict = scenario(server.addrs[0], true, "post:/echo.php:70000:0");
    assert!(
        verdict.starts_with(":status 200 HTTP/2.0 POST 70000 "),
        "{verdict}"
    );
}
