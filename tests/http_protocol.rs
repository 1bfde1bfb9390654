//! HTTP/1.1 message handling: malformed requests and their statuses, limits, keep-alive,
//! pipelining, request bodies, absolute-form targets, `Expect: 100-continue`.

mod support;

use std::thread;
use std::time::Duration;
use support::{Conn, Response, Server, parse_all, simple_config};

const INDEX: &[u8] = b"<p>index</p>";

fn site() -> Server {
    Server::start(
        &simple_config(
            "client_max_body_size 1k;\n\
             location /post { allow_methods GET POST; }",
        ),
        &[
            ("www/index.html", INDEX),
            ("www/one.txt", b"one"),
            ("www/two.txt", b"two"),
            ("www/three.txt", b"three"),
            ("www/post/index.html", b"post index"),
        ],
    )
}

/// Sends `request` on a fresh connection and reads one response.
fn exchange(server: &Server, request: &[u8]) -> (Response, Conn) {
    let mut conn = server.connect();
    // The server may answer and close before reading everything (413, 431): that is fine.
    let _ = conn.try_send(request);
    let response = conn.read_response();
    (response, conn)
}

/// Sends a malformed `request`, expects `status` with an HTML page, and the connection closed.
fn rejected(server: &Server, request: &[u8], status: u16) -> Response {
    let (response, mut conn) = exchange(server, request);
    assert_eq!(
        response.status,
        status,
        "request {:?}",
        String::from_utf8_lossy(&request[..request.len().min(200)])
    );
    assert!(
        response.is_html_page(),
        "not an HTML page: {}",
        response.text()
    );
    assert_eq!(
        response.header("content-length"),
        Some(response.body.len().to_string().as_str())
    );
    assert_eq!(
        conn.closed_within(Duration::from_secs(5)),
        Ok(true),
        "connection left open after {status}"
    );
    response
}

#[test]
fn a_garbage_request_line_is_400() {
    let server = site();
    rejected(&server, b"this is not http\r\n\r\n", 400);
    rejected(&server, b"GET\r\n\r\n", 400);
    rejected(&server, b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400);
    rejected(&server, b"GET / FTP/1.1\r\nHost: x\r\n\r\n", 400);
    rejected(
        &server,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        400,
    );
}

#[test]
fn a_missing_host_on_http_1_1_is_400_but_http_1_0_needs_none() {
    let server = site();
    rejected(&server, b"GET / HTTP/1.1\r\n\r\n", 400);
    let (ok, _) = exchange(&server, b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body, INDEX);
}

#[test]
fn two_host_headers_are_400() {
    let server = site();
    rejected(
        &server,
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        400,
    );
}

#[test]
fn content_length_with_transfer_encoding_is_400() {
    let server = site();
    rejected(
        &server,
        b"POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn an_unknown_method_is_501() {
    let server = site();
    let (r, _) = exchange(
        &server,
        b"BREW /pot HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 501);
    assert!(r.is_html_page());
}

#[test]
fn an_unknown_transfer_coding_is_501() {
    let server = site();
    let (r, _) = exchange(
        &server,
        b"POST /post HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nxxxx",
    );
    assert_eq!(r.status, 501);
    assert!(r.is_html_page());
    let (r, _) = exchange(
        &server,
        b"POST /post HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    );
    assert_eq!(r.status, 501);
}

#[test]
fn http_2_0_is_505() {
    let server = site();
    let (r, _) = exchange(&server, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 505);
    assert!(r.is_html_page());
    let (r, _) = exchange(&server, b"GET / HTTP/3.0\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 505);
}

#[test]
fn a_9000_byte_target_is_414() {
    let server = site();
    let request = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
    rejected(&server, request.as_bytes(), 414);
}

#[test]
fn a_target_just_under_8_kib_is_served() {
    let server = site();
    let request = format!(
        "GET /?{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "a".repeat(7000)
    );
    let (r, _) = exchange(&server, request.as_bytes());
    assert_eq!(r.status, 200);
}

#[test]
fn a_40_kib_header_section_is_431() {
    let server = site();
    let mut request = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for i in 0..40 {
        request.push_str(&format!("X-Fill-{i}: {}\r\n", "v".repeat(1000)));
    }
    request.push_str("\r\n");
    rejected(&server, request.as_bytes(), 431);
}

#[test]
fn a_single_header_over_32_kib_is_431() {
    let server = site();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "v".repeat(33 * 1024)
    );
    rejected(&server, request.as_bytes(), 431);
}

#[test]
fn a_content_length_over_the_limit_is_413() {
    let server = site();
    let (r, _) = exchange(
        &server,
        b"POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n",
    );
    assert_eq!(r.status, 413);
    assert!(r.is_html_page());
}

#[test]
fn a_get_with_a_content_length_over_the_limit_is_413() {
    let server = site();
    let (r, _) = exchange(
        &server,
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n",
    );
    assert_eq!(r.status, 413);
}

#[test]
fn a_chunked_body_growing_past_the_limit_is_413() {
    let server = site();
    let mut conn = server.connect();
    conn.send(b"POST /post HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    let chunk = format!("100\r\n{}\r\n", "z".repeat(256));
    for _ in 0..8 {
        // 2 KiB in all: past 1k halfway through. The server may stop reading then.
        if conn.try_send(chunk.as_bytes()).is_err() {
            break;
        }
        thread::sleep(Duration::from_millis(5));
    }
    let _ = conn.try_send(b"0\r\n\r\n");
    let r = conn.read_response();
    assert_eq!(r.status, 413);
    assert!(r.is_html_page());
}

#[test]
fn a_body_within_the_limit_is_not_413() {
    let server = site();
    let body = "b".repeat(1000);
    let request = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (r, _) = exchange(&server, request.as_bytes());
    assert_eq!(r.status, 200);
}

#[test]
fn malformed_heads_are_400() {
    let server = site();
    let table: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nName : v\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        b"GET index.html HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n",
    ];
    for request in table {
        rejected(&server, request, 400);
    }
}

#[test]
fn a_malformed_chunk_size_is_400() {
    let server = site();
    rejected(
        &server,
        b"POST /post HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn two_requests_are_served_on_one_keep_alive_connection() {
    let server = site();
    let mut conn = server.connect();
    conn.send(b"GET /one.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    let first = conn.read_response();
    assert_eq!(first.status, 200);
    assert_eq!(first.text(), "one");
    assert!(!first.closes());
    conn.send(b"GET /two.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    let second = conn.read_response();
    assert_eq!(second.status, 200);
    assert_eq!(second.text(), "two");
}

#[test]
fn an_error_that_keeps_framing_keeps_the_connection() {
    let server = site();
    let mut conn = server.connect();
    conn.send(b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(conn.read_response().status, 404);
    conn.send(b"GET /one.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(conn.read_response().text(), "one");
}

#[test]
fn http_1_0_closes_by_default() {
    let server = site();
    let mut conn = server.connect();
    conn.send(b"GET /one.txt HTTP/1.0\r\n\r\n");
    let r = conn.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "one");
    assert_eq!(conn.closed_within(Duration::from_secs(5)), Ok(true));
}

#[test]
fn http_1_0_keeps_alive_on_request() {
    let server = site();
    let mut conn = server.connect();
    conn.send(b"GET /one.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = conn.read_response();
    assert_eq!(r.status, 200);
    assert!(
        r.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("keep-alive")),
        "{:?}",
        r.headers
    );
    conn.send(b"GET /two.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(conn.read_response().text(), "two");
    conn.send(b"GET /three.txt HTTP/1.0\r\n\r\n");
    assert_eq!(conn.read_response().text(), "three");
    assert_eq!(conn.closed_within(Duration::from_secs(5)), Ok(true));
}

#[test]
fn connection_close_is_honoured() {
    let server = site();
    let mut conn = server.connect();
    conn.send(b"GET /one.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let r = conn.read_response();
    assert_eq!(r.status, 200);
    assert!(r.closes());
    assert_eq!(conn.closed_within(Duration::from_secs(5)), Ok(true));
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = site();
    let bytes = server.raw(
        b"GET /one.txt HTTP/1.1\r\nHost: x\r\n\r\n\
          HEAD /two.txt HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /missing HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /three.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let responses = parse_all(&bytes, &[false, true, false, false]);
    assert_eq!(responses.len(), 4);
    assert_eq!(responses[0].text(), "one");
    assert_eq!(responses[1].status, 200);
    assert_eq!(responses[1].header("content-length"), Some("3"));
    assert_eq!(responses[2].status, 404);
    assert_eq!(responses[3].text(), "three");
}

#[test]
fn many_pipelined_requests_in_one_write_are_all_answered() {
    let server = site();
    let mut request = Vec::new();
    for _ in 0..99 {
        request.extend_from_slice(b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    request.extend_from_slice(b"GET /one.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let responses = parse_all(&server.raw(&request), &[]);
    assert_eq!(responses.len(), 100);
    assert!(
        responses[..99]
            .iter()
            .all(|r| r.status == 200 && r.body == INDEX)
    );
    assert_eq!(responses[99].text(), "one");
}

#[test]
fn a_request_sent_one_byte_at_a_time_is_answered() {
    let server = site();
    let mut conn = server.connect();
    for byte in b"GET /one.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" {
        conn.send(&[*byte]);
        thread::sleep(Duration::from_millis(1));
    }
    let r = conn.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "one");
}

#[test]
fn a_get_with_a_small_body_is_answered_and_the_next_request_follows() {
    let server = site();
    let mut conn = server.connect();
    conn.send(b"GET /one.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world");
    assert_eq!(conn.read_response().text(), "one");
    conn.send(b"GET /two.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(conn.read_response().text(), "two");
}

#[test]
fn a_body_sent_after_the_head_in_a_separate_write_is_consumed() {
    let server = site();
    let mut conn = server.connect();
    conn.send(b"GET /one.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n");
    thread::sleep(Duration::from_millis(50));
    conn.send(b"GET /XGET /two.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(conn.read_response().text(), "one");
    // "GET /X" was the body; the next request starts right after it.
    assert_eq!(conn.read_response().text(), "two");
}

#[test]
fn a_chunked_body_with_extensions_and_trailers_is_consumed() {
    let server = site();
    let mut conn = server.connect();
    conn.send(
        b"GET /one.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
          5;name=value\r\nhello\r\n\
          6;flag\r\n world\r\n\
          0\r\nX-Trailer: yes\r\nX-Other: 1\r\n\r\n",
    );
    assert_eq!(conn.read_response().text(), "one");
    conn.send(b"GET /two.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(conn.read_response().text(), "two");
}

#[test]
fn an_absolute_form_target_is_served() {
    let server = site();
    let (r, _) = exchange(
        &server,
        b"GET http://localhost/one.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "one");
    let (q, _) = exchange(
        &server,
        b"GET http://localhost:8080/one.txt?x=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(q.status, 200);
    assert_eq!(q.text(), "one");
}

#[test]
fn the_authority_of_an_absolute_form_target_selects_the_virtual_server() {
    let server = Server::start(
        "workers 1;\naccess_log off;\n\
         server { listen 127.0.0.1:0; server_name alpha.test; root alpha; }\n\
         server { listen 127.0.0.1:0; server_name beta.test; root beta; }\n",
        &[("alpha/index.html", b"alpha"), ("beta/index.html", b"beta")],
    );
    // RFC 9112 3.2.2: the target's authority replaces the Host field.
    let (r, _) = exchange(
        &server,
        b"GET http://beta.test/ HTTP/1.1\r\nHost: alpha.test\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "beta");
}

#[test]
fn expect_100_continue_gets_an_interim_or_a_final_response_without_hanging() {
    let server = site();
    let mut conn = server.connect();
    conn.send(
        b"POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    );
    let first = conn.read_response();
    let last = if first.status == 100 {
        conn.send(b"hello");
        conn.read_response()
    } else {
        first
    };
    assert!(last.status >= 200, "{}", last.status);
    assert!(
        [200, 201, 204, 403, 404, 405].contains(&last.status),
        "{}",
        last.status
    );
}

#[test]
fn expect_100_continue_with_a_body_over_the_limit_gets_413_without_continue() {
    let server = site();
    let mut conn = server.connect();
    conn.send(
        b"POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n",
    );
    let r = conn.read_response();
    assert_eq!(r.status, 413);
}

#[test]
fn leading_empty_lines_before_a_request_are_ignored() {
    let server = site();
    let (r, _) = exchange(
        &server,
        b"\r\n\r\nGET /one.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "one");
}

#[test]
fn responses_are_http_1_1_with_date_and_server() {
    let server = site();
    for request in [
        &b"GET /one.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"[..],
        b"GET /one.txt HTTP/1.0\r\n\r\n",
        b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"BREW / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ] {
        let (r, _) = exchange(&server, request);
        assert_eq!(r.version, "HTTP/1.1");
        assert!(r.has_header("date"));
        assert!(r.has_header("server"));
    }
}

#[test]
fn requests_pipelined_after_connection_close_are_not_answered() {
    let server = site();
    let bytes = server.raw(
        b"GET /one.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n\
          GET /two.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    let responses = parse_all(&bytes, &[]);
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].text(), "one");
}

#[test]
fn a_client_that_half_closes_after_its_request_still_gets_the_response() {
    let server = site();
    let mut conn = server.connect();
    conn.send(b"GET /one.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    conn.shutdown_write();
    let r = conn.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "one");
    assert_eq!(conn.closed_within(Duration::from_secs(5)), Ok(true));
}

#[test]
fn a_header_section_just_under_32_kib_is_accepted() {
    let server = site();
    let mut request = String::from("GET /one.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for i in 0..30 {
        request.push_str(&format!("X-Fill-{i}: {}\r\n", "v".repeat(1000)));
    }
    request.push_str("\r\n");
    let (r, _) = exchange(&server, request.as_bytes());
    assert_eq!(r.status, 200);
}

#[test]
fn pipelined_requests_with_large_responses_are_all_delivered() {
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let server = Server::start(&simple_config(""), &[("www/big.bin", &big)]);
    let mut request = Vec::new();
    for _ in 0..19 {
        request.extend_from_slice(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    request.extend_from_slice(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let responses = parse_all(&server.raw(&request), &[]);
    assert_eq!(responses.len(), 20);
    for r in &responses {
        assert_eq!(r.status, 200);
        assert!(r.body == big);
    }
}

#[test]
fn expect_100_continue_on_a_get_with_a_body_gets_the_file() {
    let server = site();
    let mut conn = server.connect();
    conn.send(
        b"GET /one.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    );
    let first = conn.read_response();
    let last = if first.status == 100 {
        conn.send(b"body");
        conn.read_response()
    } else {
        conn.send(b"body");
        first
    };
    assert_eq!(last.status, 200);
    assert_eq!(last.text(), "one");
    conn.send(b"GET /two.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(conn.read_response().text(), "two");
}

#[test]
fn more_malformed_heads_are_400() {
    let server = site();
    let table: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: x\r\nX(y): z\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n",
        b"GET * HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n: empty name\r\n\r\n",
        b"GET / HTTP/1.x\r\nHost: x\r\n\r\n",
        b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
    ];
    for request in table {
        let (r, _) = exchange(&server, request);
        assert!(
            r.status == 400 || r.status == 501 || r.status == 505,
            "{:?} gave {}",
            String::from_utf8_lossy(request),
            r.status
        );
        assert!(r.status != 505 || request.starts_with(b"GET / HTTP/1.x"));
    }
}

#[test]
fn folded_header_lines_are_rejected_or_unfolded() {
    let server = site();
    let (r, _) = exchange(
        &server,
        b"GET /one.txt HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\nConnection: close\r\n\r\n",
    );
    assert!(r.status == 400 || r.status == 200, "{}", r.status);
}

#[test]
fn a_chunk_size_that_overflows_is_rejected() {
    let server = site();
    let (r, _) = exchange(
        &server,
        b"POST /post HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n",
    );
    assert!(r.status == 400 || r.status == 413, "{}", r.status);
}

#[test]
fn a_lowercase_method_is_not_served_as_get() {
    let server = site();
    let (r, _) = exchange(
        &server,
        b"get /one.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(r.status == 400 || r.status == 501, "{}", r.status);
}

#[test]
fn chunked_on_http_1_0_is_not_trusted() {
    // RFC 9112 6.1: chunked in a 1.0 request means faulty framing; respond then close.
    let server = site();
    let mut conn = server.connect();
    conn.send(b"GET /one.txt HTTP/1.0\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n0\r\n\r\n");
    let r = conn.read_response();
    assert!(r.status == 400 || r.status == 200, "{}", r.status);
    assert_eq!(conn.closed_within(Duration::from_secs(5)), Ok(true));
}

#[test]
fn a_hundred_small_headers_are_accepted() {
    let server = site();
    let mut request = String::from("GET /one.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for i in 0..100 {
        request.push_str(&format!("X-H{i}: {i}\r\n"));
    }
    request.push_str("\r\n");
    let (r, _) = exchange(&server, request.as_bytes());
    assert_eq!(r.status, 200);
}

#[test]
fn a_target_of_exactly_8_kib_is_not_414_and_one_more_byte_is() {
    let server = site();
    let target = format!("/{}", "a".repeat(8191));
    assert_eq!(target.len(), 8192);
    let (r, _) = exchange(
        &server,
        format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!(r.status, 404);
    let target = format!("/{}", "a".repeat(8192));
    rejected(
        &server,
        format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
        414,
    );
}

#[test]
fn a_long_target_arriving_slowly_is_414() {
    let server = site();
    let mut conn = server.connect();
    conn.send(b"GET /");
    for _ in 0..10 {
        if conn.try_send(&[b'a'; 1000]).is_err() {
            break;
        }
        thread::sleep(Duration::from_millis(2));
    }
    let _ = conn.try_send(b" HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(conn.read_response().status, 414);
}

#[test]
fn a_chunked_body_sent_one_byte_at_a_time_is_consumed() {
    let server = site();
    let mut conn = server.connect();
    conn.send(b"GET /one.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for byte in b"3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\nGET /two.txt HTTP/1.1\r\nHost: x\r\n\r\n" {
        conn.send(&[*byte]);
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(conn.read_response().text(), "one");
    assert_eq!(conn.read_response().text(), "two");
}

#[test]
fn client_max_body_size_0_means_no_limit_and_locations_override_it() {
    let server = Server::start(
        &simple_config(
            "client_max_body_size 0;\n\
             location /small { client_max_body_size 10; }",
        ),
        &[("www/one.txt", b"one"), ("www/small/one.txt", b"small")],
    );
    let body = "x".repeat(2 << 20);
    let (r, _) = exchange(
        &server,
        format!(
            "GET /one.txt HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    assert_eq!(r.status, 200);
    let (r, _) = exchange(
        &server,
        b"GET /small/one.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world",
    );
    assert_eq!(r.status, 413);
}

#[test]
fn the_access_log_gets_one_combined_line_per_response() {
    let server = Server::start(
        "workers 1;\naccess_log access.log;\nserver { listen 127.0.0.1:0; root www; }\n",
        &[("www/one.txt", b"one")],
    );
    let mut conn = server.connect();
    conn.send(
        b"GET /one.txt?q=1 HTTP/1.1\r\nHost: x\r\nReferer: http://ref/\r\nUser-Agent: tester/1.0\r\n\r\n",
    );
    conn.read_response();
    conn.send(b"GET /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    conn.read_response();
    let path = server.dir.path().join("access.log");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut log = String::new();
    while log.lines().count() < 2 && std::time::Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
        log = std::fs::read_to_string(&path).unwrap_or_default();
    }
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    // 127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /x HTTP/1.1" 200 3 "ref" "ua"
    assert!(lines[0].starts_with("127.0.0.1 - - ["), "{}", lines[0]);
    assert!(
        lines[0].contains("] \"GET /one.txt?q=1 HTTP/1.1\" 200 3 \"http://ref/\" \"tester/1.0\""),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("\"GET /missing HTTP/1.1\" 404 "),
        "{}",
        lines[1]
    );
    assert!(lines[1].ends_with("\"-\" \"-\""), "{}", lines[1]);
}

#[test]
fn an_ipv6_listener_serves() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        support::skip::unavailable("no IPv6 loopback (::1) on this machine");
        return;
    }
    let server = Server::start(
        "workers 1;\naccess_log off;\nserver { listen [::1]:0; root www; }\n",
        &[("www/one.txt", b"one")],
    );
    assert!(server.addr().is_ipv6());
    let r = server.request("GET /one.txt HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "one");
}

#[test]
fn a_413_reaches_a_client_that_sends_the_whole_body_anyway() {
    let server = site();
    for size in [2_000usize, 200_000, 2_000_000] {
        let mut conn = server.connect();
        let head = format!("POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n");
        let mut writer = conn.stream.try_clone().unwrap();
        let sender = thread::spawn(move || {
            let _ = std::io::Write::write_all(&mut writer, head.as_bytes());
            let _ = std::io::Write::write_all(&mut writer, &vec![b'x'; size]);
        });
        // The response must not be destroyed by a reset (lingering close).
        let r = conn.read_response();
        assert_eq!(r.status, 413, "body of {size} bytes");
        let _ = sender.join();
    }
}

#[test]
fn a_400_reaches_a_client_that_keeps_sending() {
    let server = site();
    let mut conn = server.connect();
    let mut writer = conn.stream.try_clone().unwrap();
    let sender = thread::spawn(move || {
        let _ = std::io::Write::write_all(
            &mut writer,
            b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        );
        for _ in 0..50 {
            if std::io::Write::write_all(&mut writer, &[b'y'; 4096]).is_err() {
                break;
            }
        }
    });
    let r = conn.read_response();
    assert_eq!(r.status, 400);
    let _ = sender.join();
}

#[test]
fn a_close_after_a_request_read_whole_is_immediate_and_one_with_unread_bytes_lingers() {
    use std::io::{Read, Write};
    let server = site();
    // Read whole, nothing more sent: the server closes outright (no lingering), so bytes sent
    // afterwards meet a closed socket, which answers with a reset.
    let mut conn = server.connect();
    conn.send(b"GET /one.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let r = conn.read_response();
    assert_eq!(r.status, 200);
    let mut rest = Vec::new();
    conn.stream.read_to_end(&mut rest).unwrap();
    let _ = conn.stream.write_all(b"late");
    thread::sleep(Duration::from_millis(300));
    let reset = conn.stream.write_all(b"later").is_err()
        || conn.stream.read(&mut [0; 16]).is_err()
        || conn.stream.write_all(b"later").is_err();
    assert!(
        reset,
        "the server still lingered on a connection it had read whole"
    );

    // A request followed by bytes the server did not read: it lingers (reads and drops what
    // comes), so the client's late bytes are taken without a reset.
    let mut conn = server.connect();
    conn.send(
        b"GET /one.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n",
    );
    conn.send(&[b'x'; 100]);
    let r = conn.read_response();
    assert_eq!(r.status, 413);
    thread::sleep(Duration::from_millis(100));
    assert!(conn.stream.write_all(&[b'y'; 100]).is_ok());
    thread::sleep(Duration::from_millis(300));
    assert!(conn.stream.write_all(&[b'y'; 100]).is_ok());
    assert!(conn.stream.read(&mut [0; 16]).is_ok());
}
