//! Timeouts: an incomplete head gets 408, an incomplete body gets 408, an idle keep-alive
//! connection is closed, a client that reads nothing is dropped.

mod support;

use std::time::{Duration, Instant};
use support::{Server, simple_config};

fn site(timeouts: &str) -> Server {
    Server::start(
        &simple_config(&format!(
            "{timeouts}\nlocation /post {{ allow_methods GET POST; }}"
        )),
        &[("www/one.txt", b"one"), ("www/post/index.html", b"post")],
    )
}

/// Waits for the server to answer or close, at most `limit`: (elapsed, bytes received).
fn wait_for_server(conn: &mut support::Conn, limit: Duration) -> (Duration, Vec<u8>) {
    let started = Instant::now();
    conn.stream.set_read_timeout(Some(limit)).unwrap();
    let bytes = conn.read_to_end();
    (started.elapsed(), bytes)
}

#[test]
fn an_incomplete_head_gets_408_after_client_header_timeout() {
    let server = site("client_header_timeout 1s;");
    let mut conn = server.connect();
    conn.send(b"GET /one.txt HTTP/1.1\r\nHost: x\r\n");
    let (elapsed, bytes) = wait_for_server(&mut conn, Duration::from_secs(8));
    assert!(
        elapsed >= Duration::from_millis(800),
        "closed too early: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "not closed in time: {elapsed:?}"
    );
    let r = support::parse_one(&bytes);
    assert_eq!(r.status, 408);
    assert!(r.is_html_page());
}

#[test]
fn a_head_trickling_in_is_still_bounded_by_client_header_timeout() {
    let server = site("client_header_timeout 1s;");
    let mut conn = server.connect();
    let started = Instant::now();
    // A byte every 200 ms never completes the head; the timeout covers the whole head.
    let mut closed = false;
    for _ in 0..40 {
        if conn.try_send(b"X").is_err() {
            closed = true;
            break;
        }
        if let Ok(true) | Err(_) = conn.closed_within(Duration::from_millis(200)) {
            closed = true;
            break;
        }
    }
    assert!(
        closed,
        "connection still open after {:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_connection_that_sends_nothing_is_closed_after_client_header_timeout() {
    let server = site("client_header_timeout 1s;");
    let mut conn = server.connect();
    let (elapsed, bytes) = wait_for_server(&mut conn, Duration::from_secs(8));
    assert!(
        elapsed < Duration::from_secs(5),
        "not closed in time: {elapsed:?}"
    );
    // nginx closes silently here; a 408 is fine too.
    if !bytes.is_empty() {
        assert_eq!(support::parse_one(&bytes).status, 408);
    }
}

#[test]
fn an_incomplete_body_gets_408_after_client_body_timeout() {
    let server = site("client_body_timeout 1s;");
    let mut conn = server.connect();
    conn.send(b"POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly a part");
    let (elapsed, bytes) = wait_for_server(&mut conn, Duration::from_secs(8));
    assert!(
        elapsed >= Duration::from_millis(800),
        "closed too early: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "not closed in time: {elapsed:?}"
    );
    assert_eq!(support::parse_one(&bytes).status, 408);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_keepalive_timeout() {
    let server = site("keepalive_timeout 1s;");
    let mut conn = server.connect();
    conn.send(b"GET /one.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(conn.read_response().text(), "one");
    let started = Instant::now();
    assert_eq!(conn.closed_within(Duration::from_secs(6)), Ok(true));
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(700),
        "closed too early: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "not closed in time: {elapsed:?}"
    );
}

#[test]
fn keep_alive_activity_resets_the_idle_timer() {
    let server = site("keepalive_timeout 1s;");
    let mut conn = server.connect();
    // Three requests 600 ms apart: each gap is shorter than the timeout.
    for _ in 0..3 {
        conn.send(b"GET /one.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(conn.read_response().text(), "one");
        std::thread::sleep(Duration::from_millis(600));
    }
    conn.send(b"GET /one.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(conn.read_response().text(), "one");
}

#[test]
fn a_client_that_reads_nothing_is_dropped_after_send_timeout() {
    // 16 MiB: far more than the socket buffers hold.
    let big = vec![b'x'; 16 << 20];
    let server = Server::start(&simple_config("send_timeout 1s;"), &[("www/big.bin", &big)]);
    let baseline = server.settled_fd_count();
    let mut conn = server.connect();
    conn.send(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        server.fd_count() > baseline,
        "connection not open on the server"
    );
    // The server stalls on a full socket and must give up after ~1 s.
    let after = server.wait_fd_count_at_most(baseline);
    assert_eq!(
        after,
        baseline,
        "stalled connection still open: {:?}",
        server.fd_list()
    );
    drop(conn);
}

#[test]
fn a_slow_reader_within_send_timeout_gets_the_whole_file() {
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let server = Server::start(&simple_config("send_timeout 1s;"), &[("www/big.bin", &big)]);
    let mut conn = server.connect();
    conn.send(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; 256 * 1024];
    loop {
        // Pauses well under send_timeout.
        std::thread::sleep(Duration::from_millis(150));
        let n = std::io::Read::read(&mut conn.stream, &mut chunk).expect("read");
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&chunk[..n]);
    }
    let r = support::parse_one(&bytes);
    assert_eq!(r.status, 200);
    assert!(
        r.body == big,
        "body differs ({} of {} bytes)",
        r.body.len(),
        big.len()
    );
}

#[test]
fn an_incomplete_second_request_on_a_keep_alive_connection_gets_408() {
    let server = site("client_header_timeout 1s;\nkeepalive_timeout 30s;");
    let mut conn = server.connect();
    conn.send(b"GET /one.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(conn.read_response().text(), "one");
    conn.send(b"GET /one.txt HTTP/1.1\r\n");
    let (elapsed, bytes) = wait_for_server(&mut conn, Duration::from_secs(10));
    assert!(
        elapsed < Duration::from_secs(5),
        "not closed in time: {elapsed:?}"
    );
    assert_eq!(support::parse_one(&bytes).status, 408);
}
