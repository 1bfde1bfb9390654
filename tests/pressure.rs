//! Errors under pressure: every 5xx the server makes itself is logged with its cause, and when
//! it runs out of descriptors a request for a file (or an upload) gets 503 with `Retry-After`,
//! not a bare 500; once descriptors are free again the same request succeeds.

mod support;

use std::net::TcpStream;
use std::time::Duration;
use support::*;

const NOFILE: u64 = 48;

fn config(extra: &str) -> String {
    format!(
        "workers 1;\naccess_log off;\nerror_log stderr info;\nserver {{\n    listen 127.0.0.1:0;\n    \
         root www;\n{extra}\n}}\n"
    )
}

/// Connections that fill the server's descriptor table (it accepts until `accept` says EMFILE,
/// then pauses), each silent.
fn exhaust(server: &Server) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for _ in 0..NOFILE + 16 {
        held.push(TcpStream::connect(server.addr()).unwrap());
    }
    assert!(
        wait_until(Duration::from_secs(10), || server
            .stderr()
            .contains("out of resources; pausing")),
        "the server never ran out: {}",
        server.stderr()
    );
    held
}

#[test]
fn out_of_descriptors_a_file_gets_503_with_retry_after_and_the_cause_is_logged() {
    let server = Server::start_with_fd_limit(
        &config(""),
        &[("www/index.html", b"home"), ("www/a.txt", b"a file")],
        NOFILE,
    );
    let mut conn = server.connect();
    conn.send(b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(conn.read_response().status, 200);

    let held = exhaust(&server);
    // /a.txt was never asked for: serving it needs a descriptor the server does not have.
    conn.send(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    let response = conn.read_response();
    assert_eq!(response.status, 503, "{}", server.stderr());
    assert_eq!(response.header("Retry-After"), Some("1"));
    assert!(response.text().contains("Service Unavailable"));
    let path = server.dir.path().join("www/a.txt");
    let logged = format!(
        "open() \"{}\" failed: Too many open files (os error 24)",
        path.display()
    );
    assert!(
        wait_until(Duration::from_secs(5), || server.stderr().contains(&logged)),
        "{}",
        server.stderr()
    );
    // So is an index file looked up for a directory (not a 403 for a missing index).
    conn.send(b"GET /sub/ HTTP/1.1\r\nHost: x\r\n\r\n");
    let response = conn.read_response();
    assert!(
        matches!(response.status, 503 | 404),
        "{} {}",
        response.status,
        server.stderr()
    );

    // Descriptors come back: the same request is served.
    drop(held);
    assert!(wait_until(Duration::from_secs(10), || {
        conn.send(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        conn.read_response().status == 200
    }));
}

#[test]
fn out_of_descriptors_an_upload_gets_503_and_leaves_nothing_behind() {
    let server = Server::start_with_fd_limit(
        &config("location /up { allow_methods PUT; upload_store store; }"),
        &[("www/index.html", b"home"), ("store/", b"")],
        NOFILE,
    );
    let mut conn = server.connect();
    conn.send(b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(conn.read_response().status, 200);
    let held = exhaust(&server);
    conn.send(b"PUT /up/f.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    let response = conn.read_response();
    assert_eq!(response.status, 503, "{}", server.stderr());
    assert_eq!(response.header("Retry-After"), Some("1"));
    assert!(
        server.stderr().contains("Too many open files"),
        "{}",
        server.stderr()
    );
    drop(held);
    assert_eq!(
        names(&server.dir.path().join("store")),
        Vec::<String>::new()
    );
}

#[test]
fn a_file_that_cannot_be_opened_for_a_reason_of_the_servers_is_a_500_logged_with_its_cause() {
    let server = Server::start(&config(""), &[("www/index.html", b"home")]);
    let looped = server.dir.path().join("www/loop");
    std::os::unix::fs::symlink(&looped, &looped).unwrap();
    let response = server.get("/loop");
    assert_eq!(response.status, 500);
    let logged = format!("open() \"{}\" failed: ", looped.display());
    assert!(
        wait_until(Duration::from_secs(5), || server.stderr().contains(&logged)),
        "{}",
        server.stderr()
    );
    assert!(
        server.stderr().contains("symbolic links"),
        "{}",
        server.stderr()
    );
}
