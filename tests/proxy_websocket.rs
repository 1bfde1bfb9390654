//! WebSockets through the reverse proxy, against the real peers (python3-websockets' echo
//! server and client, under the Debian interpreter): the switch happens only where the location
//! passes `Upgrade` on (nginx's snippet), then the tunnel carries text, binary, multi-MiB
//! messages, pings and the close handshake with bounded memory, closes after its idle timeout,
//! and ends cleanly (no descriptor left) when the backend dies or the client vanishes. HTTP/2
//! never tunnels.

mod support;

use std::time::{Duration, Instant};
use support::backends::{self, Backend, debian_tool, json, ws_client};
use support::*;

/// nginx's WebSocket snippet, as its documentation gives it.
const MAP: &str = "map $http_upgrade $connection_upgrade {\n    default upgrade;\n    '' close;\n}";
const SNIPPET: &str = "proxy_http_version 1.1;\n        proxy_set_header Upgrade $http_upgrade;\n        \
                       proxy_set_header Connection $connection_upgrade;";

/// webserv in front of `backend`: `/` with the snippet, `/literal/` with `Connection upgrade`
/// as a literal, `/plain/` without (`extra` in each location).
fn front(backend: &Backend, extra: &str) -> Server {
    let port = backend.port();
    Server::start(
        &format!(
            "workers 1;\naccess_log off;\n{MAP}\nserver {{\n    listen 127.0.0.1:0;\n    \
             location / {{\n        proxy_pass http://127.0.0.1:{port};\n        {SNIPPET}\n        {extra}\n    }}\n    \
             location /literal/ {{\n        proxy_pass http://127.0.0.1:{port};\n        \
             proxy_http_version 1.1;\n        proxy_set_header Upgrade $http_upgrade;\n        \
             proxy_set_header Connection \"upgrade\";\n        {extra}\n    }}\n    \
             location /plain/ {{ proxy_pass http://127.0.0.1:{port}; {extra} }}\n}}\n"
        ),
        &[],
    )
}

fn url(server: &Server, path: &str) -> String {
    format!("ws://127.0.0.1:{}{path}", server.port())
}

/// The client's JSON line, after checking it exited as `code` says.
fn outcome(out: &std::process::Output, code: i32, server: &Server) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{stdout}{}{}",
        String::from_utf8_lossy(&out.stderr),
        server.stderr()
    );
    stdout
}

fn number(doc: &str, key: &str) -> i64 {
    json::field(doc, key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

#[test]
fn websockets_are_tunnelled_where_nginxs_snippet_passes_the_upgrade_on() {
    if !debian_tool("python:websockets") {
        return;
    }
    let backend = Backend::ws_echo();
    let server = front(&backend, "");
    for path in ["/chat", "/literal/chat"] {
        // Text and binary messages bigger than every buffer on the way: both directions push
        // back; pings are answered; the close handshake completes through the tunnel.
        let out = ws_client(
            &url(&server, path),
            &["--messages", "6", "--size", "300000", "--pings", "3"],
        );
        let doc = outcome(&out, 0, &server);
        assert_eq!(number(&doc, "echoed"), 6, "{path}: {doc}");
        assert_eq!(number(&doc, "bytes"), 1_800_000, "{path}: {doc}");
        assert_eq!(number(&doc, "pongs"), 3, "{path}: {doc}");
        assert_eq!(number(&doc, "close_code"), 1000, "{path}: {doc}");
        assert!(doc.contains("\"Connection\": \"upgrade\""), "{doc}");
        assert!(doc.contains("\"Server\": \"webserv\""), "{doc}");
    }
    // Without the snippet, Upgrade and Connection are hop-by-hop as in nginx: the backend sees
    // a plain request and refuses it; nothing is tunnelled.
    let out = ws_client(&url(&server, "/plain/chat"), &["--messages", "1"]);
    let doc = outcome(&out, 2, &server);
    assert!(doc.contains("\"error\""), "{doc}");
    // The backend's close (code 4000) reaches the client through the tunnel.
    let out = ws_client(&url(&server, "/close"), &["--messages", "1"]);
    let doc = outcome(&out, 0, &server);
    assert!(doc.contains("\"code\": 4000"), "{doc}");
}

#[test]
fn messages_of_several_mebibytes_stream_through_with_bounded_memory() {
    if !debian_tool("python:websockets") {
        return;
    }
    let backend = Backend::ws_echo();
    let server = front(&backend, "");
    // A small exchange first, so that the worker's steady state is what is measured.
    let warm = ws_client(
        &url(&server, "/warm"),
        &["--messages", "2", "--size", "65536"],
    );
    outcome(&warm, 0, &server);
    let before = server.rss_kib();
    let target = url(&server, "/big");
    let client =
        std::thread::spawn(move || ws_client(&target, &["--messages", "4", "--size", "6000000"]));
    let mut peak = before;
    while !client.is_finished() {
        peak = peak.max(server.rss_kib());
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = client.join().unwrap();
    let doc = outcome(&out, 0, &server);
    assert_eq!(number(&doc, "echoed"), 4, "{doc}");
    assert_eq!(number(&doc, "bytes"), 24_000_000, "{doc}");
    eprintln!("RSS {before} KiB, at most {peak} KiB while 24 MB went each way");
    assert!(
        peak.saturating_sub(before) < 4096,
        "RSS grew from {before} KiB to {peak} KiB for 24 MB each way"
    );
}

#[test]
fn an_idle_tunnel_is_closed_after_proxy_read_timeout() {
    if !debian_tool("python:websockets") {
        return;
    }
    let backend = Backend::ws_echo();
    let server = front(&backend, "proxy_read_timeout 1s;");
    // A tunnel in use is not idle.
    let busy = ws_client(&url(&server, "/chat"), &["--messages", "3", "--size", "10"]);
    let doc = outcome(&busy, 0, &server);
    assert_eq!(number(&doc, "echoed"), 3, "{doc}");
    let idle = ws_client(
        &url(&server, "/chat"),
        &["--messages", "1", "--idle", "2.5"],
    );
    let doc = outcome(&idle, 0, &server);
    assert!(
        doc.contains("\"after_idle\": true"),
        "the tunnel outlived its idle timeout: {doc}"
    );
}

/// Waits (30 s at most, the machine may be loaded) until `server` holds `count` descriptors.
fn wait_fds(server: &Server, count: usize) -> bool {
    wait_until(Duration::from_secs(30), || server.fd_count() == count)
}

#[test]
fn a_backend_dying_mid_tunnel_closes_the_clients_connection() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    if !debian_tool("python:websockets") {
        return;
    }
    let mut backend = Backend::ws_echo();
    let server = front(&backend, "");
    let base = server.settled_fd_count();
    let mut client = Command::new(backends::DEBIAN_PYTHON)
        .arg(backends::support_file("ws_client.py"))
        .args([&url(&server, "/chat"), "--messages", "1", "--idle", "30"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the client says it echoed its message, the tunnel is up: kill its backend.
    let mut progress = std::io::BufReader::new(client.stderr.take().unwrap());
    let mut line = String::new();
    progress.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "idle", "{}", server.stderr());
    let started = Instant::now();
    backend.stop();
    let status = wait_timeout(&mut client, Duration::from_secs(25));
    let elapsed = started.elapsed();
    if status.is_none() {
        kill_and_wait(&mut client);
        panic!("the client's connection stayed open");
    }
    let out = client.wait_with_output().unwrap();
    let doc = outcome(&out, 0, &server);
    assert_eq!(number(&doc, "echoed"), 1, "{doc}");
    // Closed without a close frame (1006), long before the client's idle wait was over.
    assert!(doc.contains("\"code\": 1006"), "{doc}");
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?} {doc}");
    assert!(wait_fds(&server, base), "{:?}", server.fd_list());
}

#[test]
fn a_client_vanishing_mid_tunnel_closes_the_backend_connection() {
    if !debian_tool("python:websockets") {
        return;
    }
    let backend = Backend::ws_echo();
    let server = front(&backend, "");
    let base = server.settled_fd_count();
    for _ in 0..3 {
        let out = ws_client(
            &url(&server, "/chat"),
            &["--messages", "2", "--size", "1000", "--vanish"],
        );
        let doc = outcome(&out, 0, &server);
        assert_eq!(number(&doc, "echoed"), 2, "{doc}");
    }
    // Each tunnel's client connection and upstream are closed: no descriptor stays.
    assert!(wait_fds(&server, base), "{:?}", server.fd_list());
    // The proxy still tunnels.
    let out = ws_client(&url(&server, "/chat"), &["--messages", "1"]);
    outcome(&out, 0, &server);
}

#[test]
fn an_http2_request_asking_for_an_upgrade_is_refused_never_tunnelled() {
    if !support::h2::python_h2() {
        return;
    }
    let backend = Backend::python("h2");
    let server = Server::start(
        &format!(
            "workers 1;\naccess_log off;\n{MAP}\nserver {{\n    listen 127.0.0.1:0;\n    http2 on;\n    \
             location / {{\n        proxy_pass http://127.0.0.1:{};\n        {SNIPPET}\n    }}\n}}\n",
            backend.port()
        ),
        &[],
    );
    // RFC 9113 §8.2.2: a connection-specific field makes the request malformed (nginx answers
    // the same way); RFC 8441's extended CONNECT is not offered.
    let verdict = support::h2::scenario(server.addr(), false, "upgrade_to_websocket");
    assert_eq!(verdict, "RST_STREAM PROTOCOL_ERROR", "{}", server.stderr());
    // The backend never saw it (its own request for the count is the only one).
    let stats = raw(
        backend.addr(),
        b"GET /stats HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    let stats = String::from_utf8_lossy(&stats).into_owned();
    assert!(stats.contains("\"requests\": 1,"), "{stats}");
}
