//! Large request bodies through the reverse proxy (our Python backend, started on port 0): 50 MiB
//! uploads reach the backend whole and unchanged whichever way they travel (streamed with their
//! length, streamed chunked to an HTTP/1.1 backend, read whole first with
//! `proxy_request_buffering on`, read whole for an HTTP/1.0 backend because it was chunked),
//! and the server's memory does not grow with them: a body read whole waits in a temporary
//! file, never in memory.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use support::backends::{Backend, json};
use support::*;

const SIZE: usize = 50 << 20;
const BLOCK: usize = 64 * 1024;

/// Block `n` of the body (each block different, so that a lost or repeated one shows).
fn block(n: usize) -> Vec<u8> {
    (0..BLOCK).map(|i| ((i * 7 + n * 13) % 251) as u8).collect()
}

fn expected_sha256() -> String {
    let mut digest = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for n in 0..SIZE / BLOCK {
        digest.update(&block(n));
    }
    hex(digest.finish().as_ref())
}

fn sha256(data: &[u8]) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Sends a 50 MiB body to `path` (chunked or with its length) while the server's RSS is
/// sampled: (the echo document, the RSS growth in KiB over what it was before).
fn upload(server: &Server, path: &str, chunked: bool) -> (String, u64) {
    let pid = server.pid() as i32;
    let before = proc_status_kib(pid, "VmRSS");
    let sending = Arc::new(AtomicBool::new(true));
    let sampler = {
        let sending = Arc::clone(&sending);
        std::thread::spawn(move || {
            let mut peak = 0;
            while sending.load(Ordering::Relaxed) {
                peak = peak.max(proc_status_kib(pid, "VmRSS"));
                std::thread::sleep(Duration::from_millis(5));
            }
            peak
        })
    };
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_string()
    } else {
        format!("Content-Length: {SIZE}")
    };
    let mut conn = server.connect();
    conn.stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    conn.send(
        format!("PUT {path} HTTP/1.1\r\nHost: h\r\n{framing}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    for n in 0..SIZE / BLOCK {
        let data = block(n);
        if chunked {
            conn.send(format!("{:x}\r\n", data.len()).as_bytes());
            conn.send(&data);
            conn.send(b"\r\n");
        } else {
            conn.send(&data);
        }
    }
    if chunked {
        conn.send(b"0\r\n\r\n");
    }
    let response = conn.read_response();
    sending.store(false, Ordering::Relaxed);
    let peak = sampler.join().unwrap();
    assert_eq!(response.status, 200, "{path}: {}", server.stderr());
    (response.text(), peak.saturating_sub(before))
}

#[test]
fn fifty_mebibyte_uploads_reach_the_backend_whole_with_bounded_memory() {
    let backend = Backend::python("uploads");
    let port = backend.port();
    let server = Server::start(
        &format!(
            "workers 1;\naccess_log off;\nserver {{\n    listen 127.0.0.1:0;\n    \
             client_max_body_size 0;\n    \
             location /v11/ {{ proxy_pass http://127.0.0.1:{port}; proxy_http_version 1.1; }}\n    \
             location /v10/ {{ proxy_pass http://127.0.0.1:{port}; }}\n    \
             location /buffered/ {{ proxy_pass http://127.0.0.1:{port}; \
             proxy_request_buffering on; }}\n}}\n"
        ),
        &[],
    );
    let sha = expected_sha256();
    // A small request first: the worker's steady state is what is measured.
    let warm = server.request("GET /v10/warm HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assert_eq!(warm.status, 200);
    let cases = [
        // (path, chunked, the framing the backend sees)
        ("/v10/length", false, "length"),
        ("/v11/chunked", true, "chunked"),
        ("/buffered/length", false, "length"),
        ("/v10/chunked", true, "length"),
    ];
    for (path, chunked, framing) in cases {
        let (doc, growth) = upload(&server, path, chunked);
        eprintln!("{path}: RSS grew by {growth} KiB");
        assert_eq!(
            json::field(&doc, "framing").as_deref(),
            Some(framing),
            "{path}"
        );
        assert_eq!(
            json::field(&doc, "body_len"),
            Some(SIZE.to_string()),
            "{path}"
        );
        assert_eq!(
            json::field(&doc, "body_sha256").as_deref(),
            Some(sha.as_str()),
            "{path}"
        );
        assert!(
            growth < 4096,
            "{path}: the server's RSS grew by {growth} KiB for a 50 MiB body"
        );
    }
    // No temporary file is left open.
    let open = server.fd_list();
    assert!(
        !open.iter().any(|fd| fd.contains("webserv-body")),
        "{open:?}"
    );
}

#[test]
fn a_body_read_whole_into_its_file_is_sent_again_to_the_next_server() {
    let backend = Backend::python("second");
    // A port nothing listens on: its connect is refused, and the next server is tried.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = Server::start(
        &format!(
            "workers 1;\naccess_log off;\nupstream pair {{\n    server 127.0.0.1:{dead};\n    \
             server 127.0.0.1:{};\n}}\nserver {{\n    listen 127.0.0.1:0;\n    \
             location / {{ proxy_pass http://pair; proxy_request_buffering on; \
             proxy_next_upstream error timeout non_idempotent; }}\n}}\n",
            backend.port()
        ),
        &[],
    );
    // Bigger than what is kept in memory: the body waits in a file, read again for each try.
    let body: Vec<u8> = (0..300_000).map(|i| (i % 253) as u8).collect();
    for _ in 0..2 {
        let mut conn = server.connect();
        conn.send(
            format!(
                "POST /again HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        conn.send(&body);
        let response = conn.read_response();
        assert_eq!(response.status, 200, "{}", server.stderr());
        let doc = response.text();
        assert_eq!(json::field(&doc, "body_len"), Some(body.len().to_string()));
        assert_eq!(json::field(&doc, "body_sha256"), Some(sha256(&body)));
    }
    // One of them went to the dead server first.
    assert!(
        support::wait_until(std::time::Duration::from_secs(5), || server
            .stderr()
            .contains("connect() failed")),
        "{}",
        server.stderr()
    );
}
