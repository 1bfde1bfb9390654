//! The reverse proxy against real backends (our Python backend, gunicorn), each started on port
//! 0 or a temporary unix socket and stopped by its PID: what the backend sees, what the client
//! gets, streaming both ways, load balancing and passive health, and every fault of the issue's
//! list (refused, closed before the head, timeout, malformed heads, a close mid-body, header
//! injection, smuggling at the front).

mod support;

use std::io::Read;
use std::time::{Duration, Instant};
use support::backends::{Backend, debian_tool, json};
use support::*;

/// A free TCP port nothing listens on (bound, then closed).
fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// webserv with `body` as its server block (after `listen`), `top` before it.
fn proxy(top: &str, body: &str) -> Server {
    Server::start(
        &format!(
            "workers 1;\naccess_log off;\n{top}\nserver {{\n    listen 127.0.0.1:0;\n{body}\n}}\n"
        ),
        &[],
    )
}

/// `GET target` through `server` (Connection: close), with extra request lines.
fn get(server: &Server, target: &str, extra: &str) -> Response {
    server.request(&format!(
        "GET {target} HTTP/1.1\r\nHost: front.test\r\n{extra}Connection: close\r\n\r\n"
    ))
}

/// The backend's echo of the request it got (the response body), checked to be one.
fn echo(response: &Response) -> String {
    assert_eq!(response.status, 200, "{}", response.text());
    let doc = response.text();
    assert!(doc.starts_with("{\"name\""), "{doc}");
    doc
}

fn header_of(doc: &str, name: &str) -> Option<String> {
    json::headers(doc)
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn stats(backend: &Backend) -> String {
    let raw = raw(
        backend.addr(),
        b"GET /stats HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&raw).into_owned();
    text.split("\r\n\r\n").nth(1).unwrap_or("").to_string()
}

#[test]
fn a_request_is_rewritten_for_the_backend_and_its_answer_passed_back() {
    let backend = Backend::python("app");
    let server = proxy(
        "",
        &format!(
            "    location / {{ proxy_pass http://127.0.0.1:{}; }}",
            backend.port()
        ),
    );
    let response = get(
        &server,
        "/some/path?q=1",
        "User-Agent: t\r\nX-Forwarded-For: 10.9.8.7\r\nX-Real-IP: 6.6.6.6\r\nKeep-Alive: 5\r\n\
         TE: trailers\r\nX-Custom: yes\r\n",
    );
    let doc = echo(&response);
    assert_eq!(json::field(&doc, "version").as_deref(), Some("HTTP/1.0"));
    assert_eq!(
        json::field(&doc, "target").as_deref(),
        Some("/some/path?q=1")
    );
    let host = format!("127.0.0.1:{}", backend.port());
    assert_eq!(header_of(&doc, "Host"), Some(host));
    assert_eq!(header_of(&doc, "Connection").as_deref(), Some("close"));
    assert_eq!(header_of(&doc, "X-Real-IP").as_deref(), Some("127.0.0.1"));
    assert_eq!(
        header_of(&doc, "X-Forwarded-For").as_deref(),
        Some("10.9.8.7, 127.0.0.1")
    );
    assert_eq!(
        header_of(&doc, "X-Forwarded-Proto").as_deref(),
        Some("http")
    );
    assert_eq!(header_of(&doc, "X-Custom").as_deref(), Some("yes"));
    assert_eq!(header_of(&doc, "User-Agent").as_deref(), Some("t"));
    for gone in ["Keep-Alive", "TE"] {
        assert_eq!(header_of(&doc, gone), None, "{gone} passed: {doc}");
    }
    // The backend's head fields are its own; Date and Server are the server's.
    assert_eq!(response.header("Server"), Some("webserv"));
    assert_eq!(response.header("Content-Type"), Some("application/json"));
    assert_eq!(response.header_all("Date").len(), 1);
}

#[test]
fn a_uri_part_replaces_the_location_prefix_and_a_unix_socket_works_too() {
    let dir = TempDir::new();
    let socket = dir.path().join("app.sock");
    let _unix = Backend::python_unix("unix", &socket);
    let tcp = Backend::python("tcp");
    let server = proxy(
        "",
        &format!(
            "    location /v1/ {{ proxy_pass http://127.0.0.1:{}/api/; }}\n\
             location /u/ {{ proxy_pass http://unix:{}:/sock/; }}",
            tcp.port(),
            socket.display()
        ),
    );
    let doc = echo(&get(&server, "/v1/users/7?full=1", ""));
    assert_eq!(
        json::field(&doc, "target").as_deref(),
        Some("/api/users/7?full=1")
    );
    let doc = echo(&get(&server, "/u/x%20y", ""));
    assert_eq!(json::field(&doc, "name").as_deref(), Some("unix"));
    assert_eq!(json::field(&doc, "target").as_deref(), Some("/sock/x%20y"));
    assert_eq!(header_of(&doc, "Host").as_deref(), Some("localhost"));
}

#[test]
fn request_bodies_go_with_their_length_chunked_to_http_1_1_and_whole_to_http_1_0() {
    let backend = Backend::python("body");
    let port = backend.port();
    let server = proxy(
        "",
        &format!(
            "    location /v10/ {{ proxy_pass http://127.0.0.1:{port}; }}\n\
             location /v11/ {{ proxy_pass http://127.0.0.1:{port}; proxy_http_version 1.1; }}"
        ),
    );
    let post = |path: &str, framing: &str, body: &str| {
        server.request(&format!(
            "POST {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n{framing}\r\n{body}"
        ))
    };
    let doc = echo(&post("/v10/a", "Content-Length: 5\r\n", "hello"));
    assert_eq!(
        (
            json::field(&doc, "framing"),
            json::field(&doc, "body"),
            json::field(&doc, "method")
        ),
        (
            Some("length".into()),
            Some("hello".into()),
            Some("POST".into())
        )
    );
    let chunked = "Transfer-Encoding: chunked\r\n";
    let doc = echo(&post(
        "/v11/b",
        chunked,
        "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
    ));
    assert_eq!(json::field(&doc, "framing").as_deref(), Some("chunked"));
    assert_eq!(json::field(&doc, "body").as_deref(), Some("abcdefg"));
    assert_eq!(json::field(&doc, "version").as_deref(), Some("HTTP/1.1"));
    let doc = echo(&post(
        "/v10/c",
        chunked,
        "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
    ));
    assert_eq!(json::field(&doc, "framing").as_deref(), Some("length"));
    assert_eq!(json::field(&doc, "body").as_deref(), Some("abcdefg"));
    assert_eq!(header_of(&doc, "Content-Length").as_deref(), Some("7"));
}

#[test]
fn a_request_body_streams_to_the_backend_before_the_client_is_done() {
    let backend = Backend::python("stream-in");
    let server = proxy(
        "",
        &format!(
            "    client_max_body_size 0;\n    location / {{ proxy_pass http://127.0.0.1:{}; }}",
            backend.port()
        ),
    );
    let total = 4 << 20;
    let mut conn = server.connect();
    conn.send(
        format!(
            "PUT /up HTTP/1.1\r\nHost: h\r\nContent-Length: {total}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    let half = vec![b'x'; total / 2];
    conn.send(&half);
    // Half is sent; the backend must have most of it before the rest exists.
    let deadline = Instant::now() + Duration::from_secs(10);
    let received = loop {
        let doc = stats(&backend);
        let bytes: u64 = json::field(&doc, "body_bytes")
            .and_then(|b| b.parse().ok())
            .unwrap_or(0);
        if bytes >= (total / 4) as u64 || Instant::now() > deadline {
            break bytes;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        received >= (total / 4) as u64,
        "the backend got {received} bytes"
    );
    conn.send(&half);
    let doc = echo(&conn.read_response());
    assert_eq!(json::field(&doc, "body_len"), Some(total.to_string()));
}

#[test]
fn a_response_streams_to_the_client_as_the_backend_produces_it() {
    let backend = Backend::python("stream-out");
    let server = proxy(
        "",
        &format!(
            "    location / {{ proxy_pass http://127.0.0.1:{}; }}",
            backend.port()
        ),
    );
    let mut conn = server.connect();
    let started = Instant::now();
    conn.send(
        b"GET /slow?chunks=4&delay=400&size=3 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    let mut first = [0u8; 256];
    let n = conn.stream.read(&mut first).unwrap();
    let first_at = started.elapsed();
    assert!(n > 0);
    let rest = conn.read_to_end();
    let total = started.elapsed();
    assert!(
        total >= Duration::from_millis(1200) && first_at + Duration::from_millis(800) < total,
        "first bytes after {first_at:?}, all after {total:?}"
    );
    let mut all = first[..n].to_vec();
    all.extend_from_slice(&rest);
    let text = String::from_utf8_lossy(&all);
    assert!(text.contains("Transfer-Encoding: chunked"), "{text}");
    for piece in ["000", "111", "222", "333"] {
        assert!(text.contains(piece), "{text}");
    }
}

#[test]
fn a_refused_or_silent_backend_is_a_502_and_the_next_server_is_tried() {
    let backend = Backend::python("alive");
    let dead = dead_port();
    let server = proxy(
        &format!(
            "upstream pair {{ server 127.0.0.1:{dead}; server 127.0.0.1:{}; }}",
            backend.port()
        ),
        &format!(
            "    location /pair/ {{ proxy_pass http://pair/; }}\n\
             location /dead/ {{ proxy_pass http://127.0.0.1:{dead}/; }}\n\
             location /alive/ {{ proxy_pass http://127.0.0.1:{}/; }}",
            backend.port()
        ),
    );
    for _ in 0..4 {
        let doc = echo(&get(&server, "/pair/x", ""));
        assert_eq!(json::field(&doc, "name").as_deref(), Some("alive"));
    }
    let refused = get(&server, "/dead/x", "");
    assert_eq!(refused.status, 502);
    assert!(refused.is_html_page());
    let closed = get(&server, "/alive/close/before-head", "");
    assert_eq!(closed.status, 502);
    assert!(closed.is_html_page());
    // The log line comes through the stderr reader thread: it may follow the response.
    wait_until(Duration::from_secs(5), || {
        server.stderr().contains("Connection refused")
    });
    let log = server.stderr();
    assert!(log.contains("Connection refused"), "{log}");
}

#[test]
fn an_unreachable_backend_is_a_502_and_the_next_server_is_tried() {
    // A TCP connect to a multicast address fails at once with ENETUNREACH whatever the routes
    // (Linux refuses TCP to multicast and broadcast in connect itself), so "unreachable" is
    // exercised without depending on this machine's network.
    let backend = Backend::python("alive");
    let server = proxy(
        &format!(
            "upstream pair {{ server 224.0.0.1:80; server 127.0.0.1:{}; }}",
            backend.port()
        ),
        "    location /pair/ { proxy_pass http://pair/; }\n\
             location /gone/ { proxy_pass http://224.0.0.1:80/; }",
    );
    for _ in 0..3 {
        let doc = echo(&get(&server, "/pair/x", ""));
        assert_eq!(json::field(&doc, "name").as_deref(), Some("alive"));
    }
    let started = Instant::now();
    let unreachable = get(&server, "/gone/x", "");
    assert_eq!(unreachable.status, 502);
    assert!(unreachable.is_html_page());
    assert!(started.elapsed() < Duration::from_secs(10));
    wait_until(Duration::from_secs(5), || {
        server.stderr().contains("unreachable")
    });
    let log = server.stderr();
    assert!(log.contains("unreachable"), "{log}");
}

#[test]
fn no_answer_within_proxy_read_timeout_is_a_504() {
    let backend = Backend::python("slow");
    let server = proxy(
        "",
        &format!(
            "    location / {{ proxy_pass http://127.0.0.1:{}; proxy_read_timeout 500ms; }}",
            backend.port()
        ),
    );
    let started = Instant::now();
    let response = get(&server, "/sleep?ms=3000", "");
    assert_eq!(response.status, 504);
    assert!(response.is_html_page());
    assert!(started.elapsed() < Duration::from_millis(2800));
}

#[test]
fn malformed_backend_heads_are_a_502_and_never_passed_on() {
    let backend = Backend::python("bad");
    let server = proxy(
        "",
        &format!(
            "    location / {{ proxy_pass http://127.0.0.1:{}; }}",
            backend.port()
        ),
    );
    for name in [
        "cl-and-te",
        "bad-cl",
        "conflicting-cl",
        "obs-fold",
        "bad-status",
        "no-status-line",
        "bare-lf",
        "bare-cr",
        "nul",
        "space-before-colon",
        "huge-head",
        "te-unknown",
        "te-http10",
        "unasked-101",
        "http2",
    ] {
        let response = get(&server, &format!("/malformed/{name}"), "");
        assert_eq!(response.status, 502, "{name}: {}", response.text());
        assert!(response.is_html_page(), "{name}");
        assert!(!response.has_header("Set-Cookie"), "{name}");
        assert!(!response.has_header("X-Folded"), "{name}");
    }
}

#[test]
fn a_backend_closing_mid_body_cuts_the_client_connection() {
    let backend = Backend::python("cut");
    let server = proxy(
        "",
        &format!(
            "    location / {{ proxy_pass http://127.0.0.1:{}; }}",
            backend.port()
        ),
    );
    // A length the backend does not keep: fewer bytes, then the close.
    let mid = server.raw(b"GET /close/mid-body HTTP/1.1\r\nHost: h\r\n\r\n");
    let text = String::from_utf8_lossy(&mid);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("Content-Length: 1000\r\n"), "{text}");
    let body = &mid[find(&mid, b"\r\n\r\n").unwrap() + 4..];
    assert_eq!(body.len(), 100, "the client sees the cut as a short body");
    // Chunked without its last chunk: the client never gets one either.
    let chunk = server.raw(b"GET /close/mid-chunk HTTP/1.1\r\nHost: h\r\n\r\n");
    let text = String::from_utf8_lossy(&chunk);
    assert!(text.contains("0123456789"), "{text}");
    assert!(!text.ends_with("0\r\n\r\n"), "{text}");
    // A body delimited by the close is complete when the backend closes.
    let until = get(&server, "/until-close", "");
    assert_eq!(until.body, b"until the end");
}

#[test]
fn a_failed_get_goes_on_to_the_next_server_but_a_post_already_sent_does_not() {
    let closing = Backend::python_closing("closing");
    let good = Backend::python("good");
    let config = format!(
        "upstream u {{ server 127.0.0.1:{} max_fails=0; server 127.0.0.1:{}; }}",
        closing.port(),
        good.port()
    );
    // A fresh server each time: its first pick is the first server, which closes.
    let server = proxy(&config, "    location / { proxy_pass http://u; }");
    let doc = echo(&get(&server, "/again", ""));
    assert_eq!(json::field(&doc, "name").as_deref(), Some("good"));
    let server = proxy(&config, "    location / { proxy_pass http://u; }");
    let post = server.request(
        "POST /once HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
    );
    assert_eq!(post.status, 502, "{}", post.text());
    let seen = stats(&good);
    assert!(
        seen.contains("\"requests\": 2,"),
        "{seen}\n{}",
        server.stderr()
    );
    // Refused before anything was sent: a POST goes on too.
    let dead = dead_port();
    let server = proxy(
        &format!(
            "upstream r {{ server 127.0.0.1:{dead}; server 127.0.0.1:{}; }}",
            good.port()
        ),
        "    location / { proxy_pass http://r; }",
    );
    let post = server.request(
        "POST /refused HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
    );
    let doc = echo(&post);
    assert_eq!(json::field(&doc, "body").as_deref(), Some("hi"));
}

#[test]
fn requests_are_balanced_and_a_failing_server_is_skipped_for_fail_timeout() {
    let mut a = Backend::python("a");
    let b = Backend::python("b");
    let server = proxy(
        &format!(
            "upstream pool {{ server 127.0.0.1:{} weight=2; server 127.0.0.1:{}; }}",
            a.port(),
            b.port()
        ),
        "    location / { proxy_pass http://pool; }",
    );
    let names: Vec<String> = (0..6)
        .map(|_| json::field(&echo(&get(&server, "/", "")), "name").unwrap())
        .collect();
    assert_eq!(names.iter().filter(|n| *n == "a").count(), 4, "{names:?}");
    assert_eq!(names.iter().filter(|n| *n == "b").count(), 2, "{names:?}");
    a.stop();
    for _ in 0..5 {
        let doc = echo(&get(&server, "/", ""));
        assert_eq!(json::field(&doc, "name").as_deref(), Some("b"));
    }
    // `a` failed once (max_fails=1): skipped for 10 s, so b saw no second connect attempt to a.
    wait_until(Duration::from_secs(5), || {
        server.stderr().contains("Connection refused")
    });
    let log = server.stderr();
    assert_eq!(log.matches("Connection refused").count(), 1, "{log}");
}

#[test]
fn no_field_can_be_injected_through_the_backend_or_the_request() {
    let backend = Backend::python("inject");
    let server = proxy(
        "",
        &format!(
            "    location / {{ proxy_pass http://127.0.0.1:{}; proxy_set_header X-Path $uri; }}",
            backend.port()
        ),
    );
    let bare_cr = get(&server, "/malformed/bare-cr", "");
    assert_eq!(bare_cr.status, 502);
    assert!(!bare_cr.has_header("Set-Cookie"));
    let doc = echo(&get(&server, "/a%0d%0aX-Evil:%201", ""));
    assert_eq!(header_of(&doc, "X-Evil"), None, "{doc}");
    assert_eq!(
        header_of(&doc, "X-Path").as_deref(),
        Some("/a%0D%0AX-Evil: 1")
    );
}

#[test]
fn smuggling_attempts_stay_at_the_front_with_a_400() {
    let backend = Backend::python("front");
    let server = proxy(
        "",
        &format!(
            "    location / {{ proxy_pass http://127.0.0.1:{}; }}",
            backend.port()
        ),
    );
    for request in [
        &b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    ] {
        let reply = server.raw(request);
        let text = String::from_utf8_lossy(&reply);
        assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    }
    // Only the question itself reached the backend.
    let seen = stats(&backend);
    assert!(seen.contains("\"requests\": 1,"), "{seen}");
    // A head with bare LF line ends (which RFC 9112 lets a server read) reaches the backend
    // written afresh, with CRLF: the client's bytes are never forwarded.
    let reply = server.raw(b"GET /lf HTTP/1.1\nHost: h\nX-A: 1\nConnection: close\n\n");
    let text = String::from_utf8_lossy(&reply);
    let doc = text.split("\r\n\r\n").nth(1).unwrap_or("");
    let head = json::field(doc, "head").unwrap_or_default();
    assert!(head.starts_with("GET /lf HTTP/1.0\r\n"), "{head:?}");
    assert!(
        head.contains("\r\nX-A: 1\r\n") && !head.contains("\n\n"),
        "{head:?}"
    );
}

#[test]
fn location_is_rewritten_and_hidden_fields_stay_with_the_backend() {
    let backend = Backend::python("fields");
    let port = backend.port();
    let server = proxy(
        "",
        &format!(
            "    location / {{ proxy_pass http://127.0.0.1:{port}; proxy_hide_header X-Secret; }}"
        ),
    );
    let to = format!("http://127.0.0.1:{port}/login?next=/");
    let redirect = get(&server, &format!("/redirect?to={to}"), "");
    assert_eq!(redirect.status, 302);
    assert_eq!(redirect.header("Location"), Some("/login?next=/"));
    let fields = get(
        &server,
        "/headers?Server=app&X-Accel-Redirect=/internal&X-Secret=s&X-Kept=k&Keep-Alive=5",
        "",
    );
    assert_eq!(fields.status, 200);
    assert_eq!(fields.header("Server"), Some("webserv"));
    for gone in ["X-Accel-Redirect", "X-Secret", "Keep-Alive"] {
        assert!(!fields.has_header(gone), "{gone}: {:?}", fields.headers);
    }
    assert_eq!(fields.header("X-Kept"), Some("k"));
}

#[test]
fn intercepted_errors_get_the_error_page() {
    let backend = Backend::python("errors");
    let server = Server::start(
        &format!(
            "workers 1;\naccess_log off;\nserver {{\n    listen 127.0.0.1:0;\n    root www;\n\
             error_page 404 /missing.html;\n\
             location = /missing.html {{ }}\n\
             location /i/ {{ proxy_pass http://127.0.0.1:{0}/; proxy_intercept_errors on; }}\n\
             location /p/ {{ proxy_pass http://127.0.0.1:{0}/; }}\n}}\n",
            backend.port()
        ),
        &[("www/missing.html", b"<!DOCTYPE html><html>our page</html>")],
    );
    let intercepted = get(&server, "/i/status/404", "");
    assert_eq!(intercepted.status, 404);
    assert!(
        intercepted.text().contains("our page"),
        "{}",
        intercepted.text()
    );
    let passed = get(&server, "/p/status/404", "");
    assert_eq!(passed.status, 404);
    assert!(passed.text().starts_with("{\"name\""), "{}", passed.text());
}

#[test]
fn a_client_that_goes_away_closes_the_backend_connection() {
    let backend = Backend::python("gone");
    let server = proxy(
        "",
        &format!(
            "    location / {{ proxy_pass http://127.0.0.1:{}; }}",
            backend.port()
        ),
    );
    let mut conn = server.connect();
    conn.send(b"GET /bytes?n=500000000 HTTP/1.1\r\nHost: h\r\n\r\n");
    let mut some = [0u8; 65536];
    let _ = conn.stream.read(&mut some).unwrap();
    let open = |b: &Backend| {
        json::field(&stats(b), "open")
            .and_then(|n| n.parse::<i64>().ok())
            .unwrap_or(-1)
    };
    // The streaming connection plus the one asking.
    assert_eq!(open(&backend), 2);
    reset(conn.stream);
    let deadline = Instant::now() + Duration::from_secs(10);
    while open(&backend) != 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(open(&backend), 1, "the backend connection stayed open");
}

#[test]
fn a_big_response_to_a_slow_reader_keeps_memory_bounded() {
    let backend = Backend::python("big");
    let server = proxy(
        "",
        &format!(
            "    location / {{ proxy_pass http://127.0.0.1:{}; }}",
            backend.port()
        ),
    );
    let _ = get(&server, "/warm", "");
    let before = server.rss_kib();
    let size: u64 = 96 << 20;
    let mut conn = server.connect();
    set_small_receive_buffer(&conn.stream, 16 * 1024);
    conn.send(
        format!("GET /bytes?n={size} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    let mut got: u64 = 0;
    let mut peak = before;
    let mut buf = vec![0u8; 64 * 1024];
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        match conn.stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got += n as u64,
            Err(e) => panic!("read: {e}"),
        }
        if got % (8 << 20) < 65536 {
            peak = peak.max(server.rss_kib());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert!(got > size, "got {got} of {size}");
    assert!(
        peak.saturating_sub(before) < 4096,
        "RSS grew from {before} KiB to {peak} KiB"
    );
}

#[test]
fn gunicorn_serves_through_the_proxy() {
    if !debian_tool("/usr/bin/gunicorn") {
        return;
    }
    let app = Backend::gunicorn();
    let server = proxy(
        "",
        &format!(
            "    location /app/ {{ proxy_pass http://127.0.0.1:{}/; proxy_http_version 1.1; \
             proxy_set_header Connection \"\"; proxy_set_header Host $host; }}",
            app.port()
        ),
    );
    let post = server.request(
        "POST /app/form?x=1 HTTP/1.1\r\nHost: front.test\r\nContent-Length: 3\r\n\
         Connection: close\r\n\r\nabc",
    );
    assert_eq!(post.status, 200, "{}\n{}", post.text(), app.log());
    let doc = post.text();
    assert_eq!(json::field(&doc, "path").as_deref(), Some("/form"));
    assert_eq!(json::field(&doc, "body").as_deref(), Some("abc"));
    assert!(doc.contains("\"HTTP_HOST\": \"front.test\""), "{doc}");
    assert!(
        doc.contains("\"HTTP_X_FORWARDED_PROTO\": \"http\""),
        "{doc}"
    );
    // Its Location names the Host it got: passed as it is (no proxy_redirect match).
    assert_eq!(post.header("Location"), Some("http://front.test/from-app"));
    let stream = get(&server, "/app/stream?chunks=3&delay=20", "");
    assert_eq!(stream.body, b"piece 0\npiece 1\npiece 2\n");
}

#[test]
fn backend_connections_are_reused_through_the_keepalive_pool() {
    let backend = Backend::python("pooled");
    let server = proxy(
        &format!(
            "upstream app {{ server 127.0.0.1:{}; keepalive 4; }}",
            backend.port()
        ),
        "    location /keep/ { proxy_pass http://app/; proxy_http_version 1.1; \
         proxy_set_header Connection \"\"; }\n\
             location /plain/ { proxy_pass http://app/; }",
    );
    let conn_of = |path: &str| {
        let doc = echo(&get(&server, path, ""));
        (
            json::field(&doc, "conn").unwrap(),
            json::field(&doc, "nth").unwrap(),
        )
    };
    let first = conn_of("/keep/a");
    let second = conn_of("/keep/b");
    assert_eq!(
        first.0, second.0,
        "the second request opened another connection"
    );
    assert_eq!((first.1.as_str(), second.1.as_str()), ("1", "2"));
    // HTTP/1.0 with Connection: close (nginx's defaults): never pooled.
    let a = conn_of("/plain/a");
    let b = conn_of("/plain/b");
    assert_ne!(a.0, b.0);
    // A backend that closes after its answer: a new connection next time.
    let closing = echo(&get(&server, "/keep/c?close=1", ""));
    let after = conn_of("/keep/d");
    assert_ne!(json::field(&closing, "conn").unwrap(), after.0);
    // A pooled connection the backend closes while idle is noticed and not used.
    let lingering = conn_of("/keep/e?linger=150");
    std::thread::sleep(Duration::from_millis(600));
    let fresh = conn_of("/keep/f");
    assert_ne!(lingering.0, fresh.0);
    assert_eq!(fresh.1, "1");
    assert!(!server.stderr().contains("[error]"), "{}", server.stderr());
}

#[test]
fn an_idle_pooled_connection_is_closed_at_keepalive_timeout_without_further_requests() {
    // The backend answers one request with keep-alive, then reads until the proxy closes.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let backend = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(conn.read(&mut byte).unwrap(), 1, "request head");
            head.push(byte[0]);
        }
        std::io::Write::write_all(&mut conn, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .unwrap();
        let answered = Instant::now();
        let mut rest = Vec::new();
        let read = conn.read_to_end(&mut rest);
        (
            read.map(|_| rest.len()).map_err(|e| e.kind()),
            answered.elapsed(),
        )
    });
    let server = proxy(
        &format!("upstream app {{ server 127.0.0.1:{port}; keepalive 4; keepalive_timeout 1s; }}"),
        "    location / { proxy_pass http://app; proxy_http_version 1.1; \
         proxy_set_header Connection \"\"; }",
    );
    let r = get(&server, "/", "");
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));
    let (read, idle) = backend.join().unwrap();
    assert_eq!(read, Ok(0), "closed by the proxy, nothing more sent");
    assert!(
        idle >= Duration::from_millis(900) && idle < Duration::from_secs(10),
        "closed after {idle:?}"
    );
}

/// What passes a protocol switch on: nginx's snippet, as its documentation gives it (the map
/// at the top level, the rest in the location).
const UPGRADE_MAP: &str =
    "map $http_upgrade $connection_upgrade {\n    default upgrade;\n    '' close;\n}";
const UPGRADE: &str = "proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; \
                       proxy_set_header Connection $connection_upgrade;";

/// A backend of one connection, in a thread: answers the upgrade with `101`, echoes what comes
/// (upper-cased) until the proxy shuts its side, then says `bye` and closes. Returns its port
/// and the request head it got.
fn switching_backend() -> (u16, std::thread::JoinHandle<String>) {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(stream.read(&mut byte).unwrap(), 1);
            head.push(byte[0]);
        }
        stream
            .write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\nX-Switched: yes\r\n\r\nhello ")
            .unwrap();
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => stream.write_all(&buf[..n].to_ascii_uppercase()).unwrap(),
            }
        }
        stream.write_all(b" bye").unwrap();
        String::from_utf8_lossy(&head).into_owned()
    });
    (port, handle)
}

#[test]
fn a_tunnel_passes_bytes_both_ways_and_the_clients_end_reaches_the_backend() {
    let (port, backend) = switching_backend();
    let server = proxy(
        UPGRADE_MAP,
        &format!("    location / {{ proxy_pass http://127.0.0.1:{port}; {UPGRADE} }}"),
    );
    let mut conn = server.connect();
    // The first bytes of the new protocol come with the request, before any answer.
    conn.send(
        b"GET /tunnel HTTP/1.1\r\nHost: front.test\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nearly ",
    );
    let head = conn.read_head_response();
    assert_eq!(head.status, 101);
    assert_eq!(head.header("Upgrade"), Some("echo"));
    assert_eq!(head.header("Connection"), Some("upgrade"));
    assert_eq!(head.header("X-Switched"), Some("yes"));
    assert!(head.header("Content-Length").is_none() && head.header("Transfer-Encoding").is_none());
    conn.send(b"later");
    conn.shutdown_write();
    let rest = String::from_utf8_lossy(&conn.read_to_end()).into_owned();
    assert_eq!(rest, "hello EARLY LATER bye");
    let seen = backend.join().unwrap();
    assert!(seen.starts_with("GET /tunnel HTTP/1.1\r\n"), "{seen}");
    assert!(seen.contains("\r\nUpgrade: echo\r\n"), "{seen}");
    assert!(seen.contains("\r\nConnection: upgrade\r\n"), "{seen}");
}

#[test]
fn an_upgrade_the_backend_declines_is_an_ordinary_response() {
    let backend = Backend::python("plain");
    let server = proxy(
        UPGRADE_MAP,
        &format!(
            "    location / {{ proxy_pass http://127.0.0.1:{}; {UPGRADE} }}",
            backend.port()
        ),
    );
    let mut conn = server.connect();
    conn.send(
        b"GET /declined HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    );
    let response = conn.read_response();
    let doc = echo(&response);
    assert_eq!(header_of(&doc, "Upgrade").as_deref(), Some("websocket"));
    assert_eq!(header_of(&doc, "Connection").as_deref(), Some("upgrade"));
    // The client connection goes on as HTTP.
    conn.send(b"GET /next HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    let next = echo(&conn.read_response());
    assert_eq!(header_of(&next, "Upgrade"), None);
    assert_eq!(header_of(&next, "Connection").as_deref(), Some("close"));
}

#[test]
fn http2_clients_are_proxied_to_http1_backends() {
    use support::h2::{curl, installed};
    if !installed("curl") {
        return;
    }
    let backend = Backend::python("h2");
    let server = Server::start(
        &format!(
            "workers 1;\naccess_log off;\nserver {{\n    listen 127.0.0.1:0;\n    http2 on;\n    \
             location / {{ proxy_pass http://127.0.0.1:{}; proxy_http_version 1.1; }}\n}}\n",
            backend.port()
        ),
        &[],
    );
    let base = format!("http://127.0.0.1:{}", server.port());
    let get = curl(&["--http2-prior-knowledge", &format!("{base}/h2?x=1")]);
    let doc = get.text();
    assert!(doc.starts_with("{\"name\""), "{doc}{}", get.stderr);
    assert_eq!(json::field(&doc, "target").as_deref(), Some("/h2?x=1"));
    assert_eq!(json::field(&doc, "version").as_deref(), Some("HTTP/1.1"));
    assert_eq!(
        header_of(&doc, "X-Forwarded-Proto").as_deref(),
        Some("http")
    );
    assert_eq!(header_of(&doc, "Upgrade"), None);
    let post = curl(&[
        "--http2-prior-knowledge",
        "--data-binary",
        "a body",
        &format!("{base}/post"),
    ]);
    let doc = post.text();
    assert_eq!(
        json::field(&doc, "body").as_deref(),
        Some("a body"),
        "{doc}"
    );
    let big = curl(&[
        "--http2-prior-knowledge",
        "-o",
        "-",
        "-w",
        "%{http_version} %{size_download}",
        &format!("{base}/bytes?n=3000000&chunked=1"),
    ]);
    let text = big.stdout;
    let tail = String::from_utf8_lossy(&text[text.len().saturating_sub(20)..]).into_owned();
    assert!(tail.ends_with("2 3000000"), "{tail}{}", big.stderr);
}

#[test]
fn proxy_config_errors_name_path_line_and_column_and_a_loop_is_a_warning() {
    let dir = TempDir::new();
    let cases = [
        // An upstream name nothing defines (and no host has).
        (
            "server {\n    listen 127.0.0.1:0;\n    location / { proxy_pass http://nosuch.invalid; }\n}\n",
            "3:29: host not found in upstream \"nosuch.invalid:80\"",
        ),
        // A bad address.
        (
            "server {\n    listen 127.0.0.1:0;\n    location / {\n        proxy_pass http://127.0.0.1:99999;\n    }\n}\n",
            "4:20: invalid port in upstream \"127.0.0.1:99999\"",
        ),
        // A URI part where nginx refuses one.
        (
            "server {\n    listen 127.0.0.1:0;\n    location ~ ^/a {\n        proxy_pass http://127.0.0.1:8000/b;\n    }\n}\n",
            "4:9: \"proxy_pass\" cannot have URI part in location given by regular expression",
        ),
        (
            "upstream app {\n    server 127.0.0.1:8001 weight=0;\n}\nserver {\n    listen 127.0.0.1:0;\n    location / { proxy_pass http://app; }\n}\n",
            "2:27: invalid parameter \"weight=0\"",
        ),
    ];
    for (i, (text, expected)) in cases.iter().enumerate() {
        let path = dir.write(&format!("bad{i}.conf"), text.as_bytes());
        let path_text = path.to_str().unwrap();
        let (status, _, stderr) = run_cli(&["-t", path_text], dir.path());
        assert_eq!(status.code(), Some(1), "case {i}: {stderr}");
        let prefix = format!("{path_text}:{expected}");
        assert!(
            stderr.lines().any(|l| l.contains(&prefix)),
            "case {i}: expected {prefix:?} in {stderr}"
        );
    }
    // An upstream that is one of our own listeners: accepted, with a warning.
    let path = dir.write(
        "loop.conf",
        b"upstream self {\n    server 127.0.0.1:18080;\n}\nserver {\n    listen 127.0.0.1:18080;\n    location / { proxy_pass http://self; }\n}\n",
    );
    let path_text = path.to_str().unwrap();
    let (status, stdout, stderr) = run_cli(&["-t", path_text], dir.path());
    assert_eq!(status.code(), Some(0), "{stderr}");
    let all = format!("{stdout}{stderr}");
    assert!(
        all.contains(&format!("{path_text}:2:5: warning: upstream \"self\""))
            && all.contains("they would loop back into webserv"),
        "{all}"
    );
}

#[test]
fn a_pooled_connection_whose_client_went_away_is_closed_not_kept() {
    let backend = Backend::python("gone-pooled");
    let server = proxy(
        &format!(
            "upstream pooled {{\n    server 127.0.0.1:{};\n    keepalive 4;\n}}",
            backend.port()
        ),
        "    location / { proxy_pass http://pooled; proxy_http_version 1.1; \
         proxy_set_header Connection \"\"; }",
    );
    let open = |b: &Backend| {
        json::field(&stats(b), "open")
            .and_then(|n| n.parse::<i64>().ok())
            .unwrap_or(-1)
    };
    // A request answered whole leaves its connection in the pool.
    let first = echo(&get(&server, "/first", ""));
    let pooled = json::field(&first, "conn");
    assert_eq!(
        open(&backend),
        2,
        "the pooled connection and the one asking"
    );
    // The pooled connection is lent to a request whose client vanishes mid-response.
    let mut conn = server.connect();
    conn.send(b"GET /bytes?n=500000000 HTTP/1.1\r\nHost: h\r\n\r\n");
    let mut some = [0u8; 65536];
    let _ = conn.stream.read(&mut some).unwrap();
    reset(conn.stream);
    let deadline = Instant::now() + Duration::from_secs(10);
    while open(&backend) != 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(open(&backend), 1, "the cut connection stayed open");
    // The next request gets a fresh connection, not the cut one.
    let next = echo(&get(&server, "/next", ""));
    assert_ne!(json::field(&next, "conn"), pooled, "{next}");
    assert_eq!(json::field(&next, "nth").as_deref(), Some("1"), "{next}");
}
