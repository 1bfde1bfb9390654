//! Load: many sequential connections leak no descriptor; many concurrent keep-alive clients
//! are all served.

mod support;

use std::thread;
use std::time::{Duration, Instant};
use support::{Conn, Server, set_linger_zero, simple_config};

const PAGE: &[u8] = b"<p>load test page</p>";

#[test]
fn a_thousand_sequential_connections_are_served_and_leak_no_descriptor() {
    let server = Server::start(&simple_config(""), &[("www/index.html", PAGE)]);
    // One warm-up request, so lazily opened descriptors are in the baseline.
    assert_eq!(server.get("/").status, 200);
    let before = server.settled_fd_count();
    let before_list = server.fd_list();
    for i in 0..1000 {
        let mut conn = server.connect();
        conn.send(b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n");
        let r = conn.read_response();
        assert_eq!(r.status, 200, "request {i}");
        assert_eq!(r.body, PAGE, "request {i}");
        // Close from the client side without asking: the server must notice.
    }
    // The server sees the last closes asynchronously.
    let after = server.wait_fd_count_at_most(before + 2);
    assert!(
        after <= before + 2,
        "fds before {before}, after {after}:
{before_list:?}
{:?}",
        server.fd_list()
    );
}

#[test]
fn fifty_concurrent_clients_each_doing_twenty_keep_alive_requests_are_all_served() {
    let server = Server::start(
        "workers 2;\naccess_log off;\nserver { listen 127.0.0.1:0; root www; }\n",
        &[
            ("www/index.html", PAGE),
            ("www/big.bin", &vec![b'b'; 64 * 1024]),
        ],
    );
    let addr = server.addr();
    let before = server.settled_fd_count();
    let before_list = server.fd_list();
    let threads: Vec<_> = (0..50)
        .map(|t| {
            thread::spawn(move || {
                let mut conn = Conn::connect(addr);
                for i in 0..20 {
                    let path = if (t + i) % 5 == 0 {
                        "/big.bin"
                    } else {
                        "/index.html"
                    };
                    conn.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
                    let r = conn.read_response();
                    assert_eq!(r.status, 200, "client {t} request {i}");
                    let expected = if path == "/big.bin" {
                        64 * 1024
                    } else {
                        PAGE.len()
                    };
                    assert_eq!(r.body.len(), expected, "client {t} request {i}");
                    assert!(!r.closes(), "client {t} request {i}: server closed");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread failed");
    }
    let after = server.wait_fd_count_at_most(before + 2);
    assert!(
        after <= before + 2,
        "fds before {before}, after {after}:
{before_list:?}
{:?}",
        server.fd_list()
    );
}

#[test]
fn connections_reset_by_the_client_mid_response_leak_no_descriptor() {
    let server = Server::start(&simple_config(""), &[("www/big.bin", &vec![b'r'; 4 << 20])]);
    assert_eq!(
        server
            .request("HEAD /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .status,
        200
    );
    let before = server.settled_fd_count();
    let before_list = server.fd_list();
    for _ in 0..50 {
        let mut conn = server.connect();
        conn.send(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut some = [0u8; 4096];
        let _ = std::io::Read::read(&mut conn.stream, &mut some);
        // SO_LINGER 0: close sends RST.
        set_linger_zero(&conn.stream);
        drop(conn);
    }
    let after = server.wait_fd_count_at_most(before + 2);
    assert!(
        after <= before + 2,
        "fds before {before}, after {after}:
{before_list:?}
{:?}",
        server.fd_list()
    );
    assert_eq!(server.get("/nope").status, 404, "server still serving");
}

#[test]
fn running_out_of_descriptors_does_not_stop_the_server() {
    let server = Server::start_with_fd_limit(&simple_config(""), &[("www/index.html", PAGE)], 48);
    assert_eq!(server.get("/").status, 200);
    // Far more connections than the server can hold descriptors for; the kernel still
    // completes them into the backlog.
    let mut idle: Vec<std::net::TcpStream> = (0..120)
        .filter_map(|_| std::net::TcpStream::connect(server.addr()).ok())
        .collect();
    thread::sleep(Duration::from_millis(300));
    // Free them: the server must resume accepting and serve new clients.
    idle.clear();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = None;
    while Instant::now() < deadline {
        let mut conn = Conn::connect(server.addr());
        conn.stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        if conn
            .try_send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .is_ok()
        {
            let bytes = conn.read_to_end();
            if let support::Parse::Complete(r, _) = support::parse_response(&bytes, false, true) {
                last = Some(r.status);
                if r.status == 200 {
                    break;
                }
            }
        }
        thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(last, Some(200), "server stopped serving after EMFILE");
    assert_eq!(server.get("/").text().as_bytes(), PAGE);
}

#[test]
fn slow_clients_do_not_block_others() {
    let server = Server::start(
        &simple_config("client_header_timeout 30s;"),
        &[
            ("www/index.html", PAGE),
            ("www/big.bin", &vec![b'q'; 16 << 20]),
        ],
    );
    // Twenty clients stuck in the middle of a head, and one that never reads a big file.
    let mut stuck: Vec<Conn> = (0..20)
        .map(|_| {
            let mut c = server.connect();
            c.send(b"GET /index.html HTTP/1.1\r\nHost: x\r\nX-Slow: ");
            c
        })
        .collect();
    let mut stalled = server.connect();
    stalled.send(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    thread::sleep(Duration::from_millis(200));
    for i in 0..20 {
        let started = Instant::now();
        let r = server.get("/index.html");
        assert_eq!(r.status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "request {i} took {:?}",
            started.elapsed()
        );
    }
    // The stuck ones can still finish.
    for c in &mut stuck {
        c.send(b"1\r\nConnection: close\r\n\r\n");
        assert_eq!(c.read_response().status, 200);
    }
    drop(stalled);
}
