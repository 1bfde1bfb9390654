//! The operator features (counting, access logs, compression, access rules and limits) where
//! they meet the other protocols and backends: HTTP/2 streams (curl, the Python `h2` stack),
//! the reverse proxy (our Python backend), and a trusted proxy's client address (realip).
//!
//! Clients: curl, Debian's /usr/bin/python3 with python3-h2, python3-brotli,
//! python3-zstandard and python3-prometheus-client. A test whose client is missing fails under
//! CI and is a listed skip elsewhere (`support::skip`; .ci/run installs them).

mod support;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::backends::Backend;
use support::h2::{PYTHON, curl, installed, python_h2};
use support::{Response, Server};

/// About 40 KiB of HTML that compresses like a real page.
fn page() -> Vec<u8> {
    let mut html = b"<!DOCTYPE html>\n<html><body>\n".to_vec();
    let mut i = 7u32;
    while html.len() < 40 * 1024 {
        i = i.wrapping_mul(2_654_435_761).wrapping_add(12_345);
        html.extend_from_slice(
            format!(
                "<p class=\"c{}\"><a href=\"/x/{}\">Item {}</a></p>\n",
                i % 5,
                i % 1000,
                i % 89
            )
            .as_bytes(),
        );
    }
    html.extend_from_slice(b"</body></html>\n");
    html
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .expect("a gzip stream");
    out
}

/// Decodes `data` with Debian's Python module for `coding` (`br` or `zstd`).
fn python_decode(coding: &str, data: &[u8]) -> Vec<u8> {
    let script = match coding {
        "br" => {
            "import sys, brotli; sys.stdout.buffer.write(brotli.decompress(sys.stdin.buffer.read()))"
        }
        _ => {
            "import sys, zstandard; r = zstandard.ZstdDecompressor().stream_reader(sys.stdin.buffer); sys.stdout.buffer.write(r.read())"
        }
    };
    let mut child = Command::new(PYTHON)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{coding} decode: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn python_has(module: &str) -> bool {
    let ok = Command::new(PYTHON)
        .args(["-c", &format!("import {module}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let package = format!("python3-{}", module.replace('_', "-"));
        support::skip::missing(&format!(
            "{PYTHON} with {module} (Debian package {package})"
        ));
    }
    ok
}

/// A file beside the server, once it has `lines` lines (logs are written after each batch).
fn log_lines(server: &Server, name: &str, lines: usize) -> Vec<String> {
    let path = server.dir.path().join(name);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.lines().count() >= lines || Instant::now() > deadline {
            return text.lines().map(str::to_string).collect();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `curl` over HTTP/2 with prior knowledge: (head as curl printed it, body as received).
fn h2_get(url: &str, args: &[&str]) -> (String, Vec<u8>) {
    let mut all = vec!["--http2-prior-knowledge", "-D", "-"];
    all.extend_from_slice(args);
    all.push(url);
    let run = curl(&all);
    assert!(run.status.success(), "curl {all:?}: {}", run.stderr);
    let raw = run.stdout;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(&raw)));
    (
        String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase(),
        raw[split + 4..].to_vec(),
    )
}

/// The samples of a Prometheus text, as `prometheus_client.parser` reads them: `name|labels`
/// to value.
fn prometheus(text: &str) -> std::collections::HashMap<String, f64> {
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        print(f"{s.name}|{labels}|{s.value}")
"#;
    let mut child = Command::new(PYTHON)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused the page: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let (key, value) = line.rsplit_once('|').unwrap();
            (key.to_string(), value.parse().unwrap())
        })
        .collect()
}

fn sample(samples: &std::collections::HashMap<String, f64>, key: &str) -> f64 {
    samples.get(key).copied().unwrap_or(0.0)
}

/// Sends one request on a new HTTP/2 connection (prior knowledge) with the Python `h2` stack,
/// waits `wait_ms`, resets the stream (CANCEL) and closes: what the server answered before
/// the reset, as `status=N` or `none`.
fn h2_request_then_reset(server: &Server, path: &str, wait_ms: u64) -> String {
    let script = r#"
import socket, sys, time
import h2.config, h2.connection, h2.events, h2.errors
host, port, path, wait = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
s = socket.create_connection((host, port))
c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
c.initiate_connection()
c.send_headers(1, [(":method", "GET"), (":path", path), (":scheme", "http"),
                   (":authority", "a")], end_stream=True)
s.sendall(c.data_to_send())
s.settimeout(wait / 1000.0)
status = "none"
end = time.time() + wait / 1000.0
while time.time() < end:
    try:
        data = s.recv(65536)
    except socket.timeout:
        break
    if not data:
        break
    for e in c.receive_data(data):
        if isinstance(e, h2.events.ResponseReceived):
            status = "status=" + dict(e.headers).get(b":status", b"?").decode()
    s.sendall(c.data_to_send())
c.reset_stream(1, h2.errors.ErrorCodes.CANCEL)
s.sendall(c.data_to_send())
time.sleep(0.3)
s.close()
print(status)
"#;
    let out = Command::new(PYTHON)
        .args([
            "-c",
            script,
            "127.0.0.1",
            &server.port().to_string(),
            path,
            &wait_ms.to_string(),
        ])
        .output()
        .expect("/usr/bin/python3");
    assert!(
        out.status.success(),
        "h2 client: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn http2_streams_are_counted_logged_with_http_2_0_and_a_reset_one_is_499() {
    if !installed("curl")
        || !installed("nghttp")
        || !python_h2()
        || !python_has("prometheus_client")
    {
        return;
    }
    let server = Server::start(
        "workers 1;\n\
         log_format h2 '$request|$status|$body_bytes_sent|$bytes_sent|$server_protocol|$connection_requests';\n\
         access_log access.log h2;\n\
         server {\n    listen 127.0.0.1:0;\n    http2 on;\n    root www;\n\
         location = /status { stub_status; }\n\
         location = /metrics { metrics; access_log off; }\n\
         location /cgi-bin { cgi .sh /bin/sh; }\n}\n",
        &[
            ("www/index.html", b"hello\n"),
            (
                "www/cgi-bin/slow.sh",
                b"sleep 2\nprintf 'Content-Type: text/plain\\r\\n\\r\\nlate\\n'\n",
            ),
        ],
    );
    let base = format!("http://127.0.0.1:{}", server.port());
    // Two streams on one connection (nghttp), then the status page on another (curl).
    let run = support::h2::run(
        "nghttp",
        &[
            &format!("{base}/index.html"),
            &format!("{base}/index.html?2"),
        ],
    );
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(run.stdout, b"hello\nhello\n");
    let (head, body) = h2_get(&format!("{base}/status"), &[]);
    assert!(head.starts_with("http/2 200"), "{head}");
    let status = String::from_utf8(body).unwrap();
    let counts: Vec<u64> = status
        .lines()
        .nth(2)
        .unwrap()
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    // Two connections accepted and handled; three requests (the page's stream counts itself).
    assert_eq!(counts, [2, 2, 3], "{status}");
    assert!(status.contains("Writing: 1 "), "{status}");

    // A stream the client resets before its answer: 499 in the log, and the connection's
    // other figures stay exact.
    assert_eq!(
        h2_request_then_reset(&server, "/cgi-bin/slow.sh", 300),
        "none"
    );
    let lines = log_lines(&server, "access.log", 4);
    assert_eq!(lines.len(), 4, "{lines:?}");
    let mut streams = [lines[0].as_str(), lines[1].as_str()];
    streams.sort_by_key(|l| l.ends_with("|2"));
    let first: Vec<&str> = streams[0].split('|').collect();
    assert_eq!(
        [first[0], first[1], first[2], first[4], first[5]],
        ["GET /index.html HTTP/2.0", "200", "6", "HTTP/2.0", "1"],
        "{lines:?}"
    );
    let bytes_sent: u64 = first[3].parse().unwrap();
    assert!(
        bytes_sent > 6 + 9,
        "the HEADERS and DATA frames count: {lines:?}"
    );
    assert!(
        streams[1].starts_with("GET /index.html?2 HTTP/2.0|200|6|")
            && streams[1].ends_with("|HTTP/2.0|2"),
        "the second stream of its connection: {lines:?}"
    );
    assert!(
        lines[2].starts_with("GET /status HTTP/2.0|200|"),
        "{lines:?}"
    );
    assert!(
        lines[3].starts_with("GET /cgi-bin/slow.sh HTTP/2.0|499|0|0|"),
        "{lines:?}"
    );

    // The metrics, over HTTP/1.1: every stream counted, no connection left open.
    std::thread::sleep(Duration::from_millis(200));
    let metrics = server.get("/metrics");
    assert_eq!(metrics.status, 200);
    let samples = prometheus(&metrics.text());
    // Two pages, the status page, the reset stream and this one.
    assert_eq!(sample(&samples, "webserv_requests_total|worker=0"), 5.0);
    assert_eq!(
        sample(&samples, "webserv_responses_total|class=2xx,worker=0"),
        3.0,
        "{}",
        metrics.text()
    );
    assert_eq!(sample(&samples, "webserv_cgi_requests_total|worker=0"), 1.0);
    for state in ["reading", "waiting"] {
        assert_eq!(
            sample(
                &samples,
                &format!("webserv_connections|state={state},worker=0")
            ),
            0.0,
            "{state}: {}",
            metrics.text()
        );
    }
    // Only the connection asking for the metrics is open.
    assert_eq!(
        sample(&samples, "webserv_connections|state=writing,worker=0"),
        1.0,
        "{}",
        metrics.text()
    );
    assert!(sample(&samples, "webserv_sent_bytes_total|worker=0") > 0.0);
}

#[test]
fn compression_works_over_http2_from_the_file_cache_and_on_the_fly() {
    if !installed("curl") || !python_has("brotli") || !python_has("zstandard") {
        return;
    }
    let html = page();
    let server = Server::start(
        "workers 1;\naccess_log off;\n\
         server {\n    listen 127.0.0.1:0;\n    http2 on;\n    root www;\n\
         gzip on; gzip_types text/html; brotli on; zstd on;\n\
         location /cgi-bin { cgi .sh /bin/sh; }\n}\n",
        &[
            ("www/page.html", &html),
            (
                "www/cgi-bin/stream.sh",
                b"printf 'Content-Type: text/html\\r\\n\\r\\n'\nfor i in 1 2 3 4 5 6 7 8; do printf '<p>line %s of a streamed page</p>\\n' $i; done\n",
            ),
        ],
    );
    let base = format!("http://127.0.0.1:{}", server.port());
    // gzip as curl decodes it, twice: made on the fly, then from the worker's file cache.
    for _ in 0..2 {
        let (head, body) = h2_get(&format!("{base}/page.html"), &["--compressed"]);
        assert!(head.starts_with("http/2 200"), "{head}");
        assert!(
            head.contains("content-encoding: br")
                || head.contains("content-encoding: zstd")
                || head.contains("content-encoding: gzip"),
            "{head}"
        );
        assert!(head.contains("vary: accept-encoding"), "{head}");
        assert_eq!(body, html);
    }
    for coding in ["gzip", "br", "zstd"] {
        let (head, body) = h2_get(
            &format!("{base}/page.html"),
            &["-H", &format!("Accept-Encoding: {coding}")],
        );
        assert!(
            head.contains(&format!("content-encoding: {coding}")),
            "{head}"
        );
        assert!(
            body.len() < html.len() / 2,
            "{coding}: {} bytes",
            body.len()
        );
        let plain = match coding {
            "gzip" => gunzip(&body),
            other => python_decode(other, &body),
        };
        assert_eq!(plain, html, "{coding}");
        // A weak ETag for the compressed bytes.
        let etag = head
            .lines()
            .find_map(|l| l.strip_prefix("etag: "))
            .unwrap_or_else(|| panic!("{head}"));
        assert!(etag.starts_with("w/\""), "{head}");
    }
    // A script's output, compressed as it streams.
    let (head, body) = h2_get(
        &format!("{base}/cgi-bin/stream.sh"),
        &["-H", "Accept-Encoding: gzip"],
    );
    assert!(head.contains("content-encoding: gzip"), "{head}");
    let text = String::from_utf8(gunzip(&body)).unwrap();
    assert!(
        text.starts_with("<p>line 1 of") && text.contains("line 8 of"),
        "{text}"
    );
}

/// webserv in front of `backend` with `location` lines and `top` before the server.
fn front(top: &str, location: &str) -> Server {
    Server::start(
        &format!(
            "workers 1;\n{top}\nserver {{\n    listen 127.0.0.1:0;\n    root www;\n\
             location = /metrics {{ metrics; access_log off; }}\n{location}\n}}\n"
        ),
        &[],
    )
}

fn get(server: &Server, target: &str, extra: &str) -> Response {
    server.request(&format!(
        "GET {target} HTTP/1.1\r\nHost: front.test\r\n{extra}Connection: close\r\n\r\n"
    ))
}

#[test]
fn proxied_answers_are_compressed_as_they_stream() {
    let backend = Backend::python("app");
    let server = front(
        "access_log off;",
        &format!(
            "    location / {{ proxy_pass http://127.0.0.1:{}; gzip on; \
             gzip_types application/json application/octet-stream text/plain; }}",
            backend.port()
        ),
    );
    // The echo (JSON, with a length): compressed, its length gone, chunked.
    let plain = get(&server, "/hello", "");
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("Content-Encoding"), None);
    let zipped = get(&server, "/hello", "Accept-Encoding: gzip\r\n");
    assert_eq!(zipped.status, 200, "{}", zipped.text());
    assert_eq!(zipped.header("Content-Encoding"), Some("gzip"));
    assert_eq!(zipped.header("Vary"), Some("Accept-Encoding"));
    assert_eq!(zipped.header("Content-Length"), None);
    let doc = String::from_utf8(gunzip(&zipped.body)).unwrap();
    assert!(
        doc.contains("\"target\": \"/hello\"") || doc.contains("\"target\":\"/hello\""),
        "{doc}"
    );
    // 600 KB, many times the proxy's buffer: streamed through the compressor, intact.
    let raw = get(&server, "/bytes?n=600000", "");
    assert_eq!(raw.body.len(), 600_000);
    let zipped = get(&server, "/bytes?n=600000", "Accept-Encoding: gzip\r\n");
    assert_eq!(zipped.header("Content-Encoding"), Some("gzip"));
    assert_eq!(gunzip(&zipped.body), raw.body);
    // A chunked answer that pauses between its chunks: each flushed as it comes.
    let started = Instant::now();
    let slow = get(
        &server,
        "/slow?chunks=3&delay=300&size=50",
        "Accept-Encoding: gzip\r\n",
    );
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert_eq!(slow.header("Content-Encoding"), Some("gzip"));
    assert_eq!(
        gunzip(&slow.body),
        [&b"0".repeat(50)[..], &b"1".repeat(50), &b"2".repeat(50)].concat()
    );
    // An answer already encoded by the backend goes as it is.
    let encoded = get(
        &server,
        "/headers?Content-Encoding=br&Content-Type=text/plain",
        "Accept-Encoding: gzip\r\n",
    );
    assert_eq!(encoded.header("Content-Encoding"), Some("br"));
}

#[test]
fn a_proxied_request_logs_its_upstream_and_counts_in_the_upstream_metrics() {
    if !python_has("prometheus_client") {
        return;
    }
    let live = Backend::python("live");
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = front(
        &format!(
            "log_format up '$request_uri|$status|$upstream_addr|$upstream_status|$upstream_response_time';\n\
             access_log upstream.log up;\n\
             upstream pair {{ server 127.0.0.1:{dead}; server 127.0.0.1:{}; }}\n\
             upstream gone {{ server 127.0.0.1:{dead}; }}",
            live.port()
        ),
        &format!(
            "    location /one/ {{ proxy_pass http://127.0.0.1:{}; }}\n\
             location /pair/ {{ proxy_pass http://pair; }}\n\
             location /gone/ {{ proxy_pass http://gone; }}",
            live.port()
        ),
    );
    assert_eq!(get(&server, "/one/a", "").status, 200);
    assert_eq!(get(&server, "/pair/b", "").status, 200);
    assert_eq!(get(&server, "/gone/c", "").status, 502);
    let lines = log_lines(&server, "upstream.log", 3);
    assert_eq!(lines.len(), 3, "{lines:?}");
    let live_addr = format!("127.0.0.1:{}", live.port());
    let dead_addr = format!("127.0.0.1:{dead}");
    let fields: Vec<Vec<&str>> = lines.iter().map(|l| l.split('|').collect()).collect();
    assert_eq!(fields[0][..4], ["/one/a", "200", live_addr.as_str(), "200"]);
    assert_eq!(
        fields[1][..4],
        [
            "/pair/b",
            "200",
            format!("{dead_addr}, {live_addr}").as_str(),
            "502, 200"
        ],
        "{lines:?}"
    );
    assert_eq!(fields[2][..3], ["/gone/c", "502", dead_addr.as_str()]);
    for f in &fields {
        for time in f[4].split(", ") {
            let (secs, millis) = time.split_once('.').unwrap_or_else(|| panic!("{lines:?}"));
            assert!(
                secs.parse::<u64>().is_ok() && millis.len() == 3,
                "{lines:?}"
            );
        }
    }
    let metrics = server.get("/metrics");
    let samples = prometheus(&metrics.text());
    assert_eq!(
        sample(&samples, "webserv_upstream_requests_total|worker=0"),
        3.0,
        "{}",
        metrics.text()
    );
    assert_eq!(
        sample(&samples, "webserv_upstream_failures_total|worker=0"),
        1.0,
        "{}",
        metrics.text()
    );
    assert_eq!(
        sample(&samples, "webserv_upstream_response_seconds_count|worker=0"),
        3.0
    );
    assert_eq!(sample(&samples, "webserv_cgi_requests_total|worker=0"), 0.0);
}

#[test]
fn a_trusted_proxys_client_address_is_what_allow_deny_limits_and_logs_see() {
    let server = Server::start(
        "workers 1;\n\
         log_format who '$remote_addr $status';\n\
         access_log access.log who;\n\
         limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;\n\
         server {\n    listen 127.0.0.1:0;\n    root www;\n\
         set_real_ip_from 127.0.0.1;\n    real_ip_header X-Real-IP;\n\
         location /private { deny 10.0.0.1; allow all; }\n\
         location /limited { limit_req zone=one nodelay; }\n}\n",
        &[("www/private/a.txt", b"a"), ("www/limited/a.txt", b"a")],
    );
    let from = |ip: &str, path: &str| get(&server, path, &format!("X-Real-IP: {ip}\r\n")).status;
    assert_eq!(from("10.0.0.1", "/private/a.txt"), 403);
    assert_eq!(from("10.0.0.2", "/private/a.txt"), 200);
    // One request a minute per client: the second from 10.0.0.3 is refused, 10.0.0.4 is not
    // held back by it.
    assert_eq!(from("10.0.0.3", "/limited/a.txt"), 200);
    assert_eq!(from("10.0.0.3", "/limited/a.txt"), 503);
    assert_eq!(from("10.0.0.4", "/limited/a.txt"), 200);
    let lines = log_lines(&server, "access.log", 5);
    assert_eq!(
        lines,
        [
            "10.0.0.1 403",
            "10.0.0.2 200",
            "10.0.0.3 200",
            "10.0.0.3 503",
            "10.0.0.4 200"
        ]
    );
}

/// A PHP page of about 40 KiB of HTML that compresses like a real page.
const BIG_PHP: &[u8] = b"<?php\nheader('Content-Type: text/html');\n\
    $i = 7;\n$html = \"<!DOCTYPE html>\\n<html><body>\\n\";\n\
    while (strlen($html) < 40 * 1024) {\n\
    $i = ($i * 1103515245 + 12345) % 2147483648;\n\
    $html .= sprintf(\"<p class=\\\"c%d\\\"><a href=\\\"/x/%d\\\">Item %d</a></p>\\n\", $i % 5, $i % 1000, $i % 89);\n\
    }\necho $html, \"</body></html>\\n\";\n";

#[test]
fn fastcgi_answers_are_guarded_compressed_logged_and_counted_over_both_protocols() {
    use support::fastcgi::{self, Listen};
    if !installed("curl") || !python_has("prometheus_client") {
        return;
    }
    let fpm = fastcgi::php_fpm(Listen::UnixSocket, 2, &[("big.php", BIG_PHP)]);
    let root = fastcgi::www(&fpm).display().to_string();
    let pass = fpm.address.to_config();
    let server = Server::start(
        &format!(
            "workers 1;\n\
             log_format up '$request_uri|$status|$upstream_addr|$upstream_status|$upstream_response_time';\n\
             server {{\n    listen 127.0.0.1:0;\n    http2 on;\n    root {root};\n\
             access_log upstream.log up;\n\
             location = /metrics {{ metrics; access_log off; }}\n\
             location /private/ {{ try_files $uri /private.php; }}\n\
             location = /private.php {{ deny 127.0.0.1; fastcgi_pass {pass}; }}\n\
             location ~ \\.php$ {{\n        fastcgi_pass {pass};\n\
             fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;\n\
             gzip on; gzip_types text/html;\n    }}\n}}\n"
        ),
        &[],
    );
    // HTTP/1.1: the application's page, compressed as it streams.
    let plain = get(&server, "/big.php", "");
    assert_eq!(plain.status, 200, "{}", plain.text());
    assert!(plain.body.len() >= 40 * 1024);
    let zipped = get(&server, "/big.php", "Accept-Encoding: gzip\r\n");
    assert_eq!(zipped.status, 200);
    assert_eq!(zipped.header("Content-Encoding"), Some("gzip"));
    assert_eq!(zipped.header("Vary"), Some("Accept-Encoding"));
    assert!(zipped.body.len() < plain.body.len() / 3);
    assert_eq!(gunzip(&zipped.body), plain.body);
    // HTTP/2, prior knowledge: the same.
    let base = format!("http://127.0.0.1:{}", server.port());
    let (head, body) = h2_get(&format!("{base}/big.php"), &["-H", "Accept-Encoding: gzip"]);
    assert!(head.starts_with("http/2 200"), "{head}");
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert_eq!(gunzip(&body), plain.body);
    // The access phase runs in the FastCGI location `try_files` sends a request to, over
    // both protocols.
    assert_eq!(get(&server, "/private/x", "").status, 403);
    let (head, _) = h2_get(&format!("{base}/private/x"), &[]);
    assert!(head.starts_with("http/2 403"), "{head}");
    let lines = log_lines(&server, "upstream.log", 5);
    assert_eq!(lines.len(), 5, "{lines:?}");
    let fields: Vec<Vec<&str>> = lines.iter().map(|l| l.split('|').collect()).collect();
    for f in &fields[..3] {
        assert_eq!(
            f[..4],
            ["/big.php", "200", pass.as_str(), "200"],
            "{lines:?}"
        );
        let (secs, millis) = f[4].split_once('.').unwrap_or_else(|| panic!("{lines:?}"));
        assert!(
            secs.parse::<u64>().is_ok() && millis.len() == 3,
            "{lines:?}"
        );
    }
    for f in &fields[3..] {
        assert_eq!(f[..4], ["/private/x", "403", "-", "-"], "{lines:?}");
    }
    let metrics = server.get("/metrics");
    let samples = prometheus(&metrics.text());
    assert_eq!(
        sample(&samples, "webserv_upstream_requests_total|worker=0"),
        3.0,
        "{}",
        metrics.text()
    );
    assert_eq!(
        sample(&samples, "webserv_upstream_response_seconds_count|worker=0"),
        3.0
    );
    assert_eq!(
        sample(&samples, "webserv_upstream_failures_total|worker=0"),
        0.0
    );
}
