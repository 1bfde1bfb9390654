//! The backends of the reverse-proxy tests, spoken to directly: each does what the proxy tests
//! rely on (so that a proxy test failing means the proxy, not its backend). Started on port 0
//! or a temporary unix socket, stopped by PID.

mod support;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};
use support::backends::{Backend, debian_tool, json, ws_client};
use support::*;

#[test]
fn the_python_backend_echoes_the_request_it_saw() {
    let backend = Backend::python("one");
    let mut conn = Conn::connect(backend.addr());
    conn.send(b"POST /some/where?x=1 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 5\r\n\r\nhello");
    let echo = conn.read_response();
    assert_eq!(echo.status, 200);
    let doc = echo.text();
    assert_eq!(json::field(&doc, "name").as_deref(), Some("one"));
    assert_eq!(json::field(&doc, "method").as_deref(), Some("POST"));
    assert_eq!(
        json::field(&doc, "target").as_deref(),
        Some("/some/where?x=1")
    );
    assert_eq!(json::field(&doc, "framing").as_deref(), Some("length"));
    assert_eq!(json::field(&doc, "body").as_deref(), Some("hello"));
    assert_eq!(
        json::field(&doc, "head").as_deref(),
        Some(
            "POST /some/where?x=1 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 5\r\n\r\n"
        )
    );
    assert_eq!(
        json::headers(&doc),
        [
            ("Host", "h"),
            ("X-A", "1"),
            ("x-a", "2"),
            ("Content-Length", "5")
        ]
        .map(|(n, v)| (n.to_string(), v.to_string()))
    );
    // Kept alive: the second request is the second on connection 1.
    conn.send(b"PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    let doc = conn.read_response().text();
    assert_eq!(json::field(&doc, "conn").as_deref(), Some("1"));
    assert_eq!(json::field(&doc, "nth").as_deref(), Some("2"));
    assert_eq!(json::field(&doc, "framing").as_deref(), Some("chunked"));
    assert_eq!(json::field(&doc, "body").as_deref(), Some("abcde"));
    let stats = raw(
        backend.addr(),
        b"GET /stats HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    let stats = String::from_utf8_lossy(&stats);
    assert!(
        stats.contains("\"connections\": 2, \"open\": 2, \"requests\": 3, \"body_bytes\": 10"),
        "{stats}"
    );
}

#[test]
fn the_python_backend_misbehaves_on_demand() {
    let backend = Backend::python("bad");
    let get = |target: &str| {
        raw(
            backend.addr(),
            format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes(),
        )
    };
    assert!(get("/close/before-head").is_empty());
    let mid = get("/close/mid-body");
    let body = &mid[find(&mid, b"\r\n\r\n").unwrap() + 4..];
    assert!(String::from_utf8_lossy(&mid).contains("Content-Length: 1000\r\n"));
    assert_eq!(body.len(), 100);
    assert!(get("/close/mid-chunk").ends_with(b"a\r\n0123456789\r\n"));
    assert_eq!(
        get("/malformed/cl-and-te"),
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    );
    assert!(get("/malformed/bare-cr").windows(3).any(|w| w == b"a\rS"));
    assert!(get("/malformed/huge-head").len() > 65536);
    let until = get("/until-close");
    assert!(until.ends_with(b"\r\n\r\nuntil the end"));
    assert!(!String::from_utf8_lossy(&until).contains("Content-Length"));
    let interim = String::from_utf8_lossy(&get("/interim?close=1")).into_owned();
    assert!(
        interim.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n"),
        "{interim}"
    );
    let fields = String::from_utf8_lossy(&get("/headers?Server=app&X-Accel-Redirect=/x&close=1"))
        .into_owned();
    assert!(
        fields.contains("\r\nServer: app\r\nX-Accel-Redirect: /x\r\n"),
        "{fields}"
    );
}

#[test]
fn the_python_backend_streams_slowly_and_sends_big_bodies() {
    let backend = Backend::python("slow");
    let started = Instant::now();
    let mut conn = Conn::connect(backend.addr());
    conn.send(b"GET /slow?chunks=4&delay=150&size=3 HTTP/1.1\r\nHost: h\r\n\r\n");
    let slow = conn.read_response();
    assert_eq!(slow.body, b"000111222333");
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "{:?}",
        started.elapsed()
    );
    conn.send(b"GET /bytes?n=300000&chunked=1 HTTP/1.1\r\nHost: h\r\n\r\n");
    let big = conn.read_response();
    assert_eq!(big.body.len(), 300000);
    assert_eq!(&big.body[..3], &[0, 1, 2]);
    assert_eq!(big.body[299999], (299999 % 256) as u8);
}

#[test]
fn the_python_backend_listens_on_a_unix_socket() {
    let dir = TempDir::new();
    let path = dir.path().join("app.sock");
    let backend = Backend::python_unix("unix", &path);
    assert_eq!(
        backend.listen,
        support::backends::Listen::Unix(path.clone())
    );
    let mut stream = UnixStream::connect(&path).unwrap();
    stream
        .write_all(b"GET /u HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    assert!(
        out.contains("\"name\": \"unix\"") && out.contains("\"target\": \"/u\""),
        "{out}"
    );
}

#[test]
fn gunicorn_serves_the_wsgi_app_kept_alive_and_streamed() {
    if !debian_tool("/usr/bin/gunicorn") {
        return;
    }
    let backend = Backend::gunicorn();
    let mut conn = Conn::connect(backend.addr());
    conn.send(b"POST /app?q=1 HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.1\r\nContent-Length: 3\r\n\r\nabc");
    let seen = conn.read_response();
    assert_eq!(seen.status, 200, "{}", backend.log());
    let doc = seen.text();
    assert_eq!(json::field(&doc, "server").as_deref(), Some("gunicorn"));
    assert_eq!(json::field(&doc, "body").as_deref(), Some("abc"));
    assert!(
        doc.contains("\"HTTP_X_FORWARDED_FOR\": \"10.0.0.1\""),
        "{doc}"
    );
    conn.send(b"GET /stream?chunks=3&delay=10 HTTP/1.1\r\nHost: h\r\n\r\n");
    let stream = conn.read_response();
    assert_eq!(stream.header("transfer-encoding"), Some("chunked"));
    assert_eq!(stream.body, b"piece 0\npiece 1\npiece 2\n");
}

#[test]
fn the_websocket_echo_answers_its_client() {
    if !debian_tool("python:websockets") {
        return;
    }
    let backend = Backend::ws_echo();
    let url = format!("ws://{}/chat", backend.addr());
    let out = ws_client(&url, &["--messages", "4", "--size", "70000"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("\"echoed\": 4, \"bytes\": 280000"),
        "{stdout}"
    );
    let closed = ws_client(
        &format!("ws://{}/close", backend.addr()),
        &["--messages", "1"],
    );
    assert!(String::from_utf8_lossy(&closed.stdout).contains("\"code\": 4000"));
}
