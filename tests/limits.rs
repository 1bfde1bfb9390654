//! `limit_req` and `limit_conn` through the real server: a flood from one client address
//! (127.0.0.1) is limited while another (127.0.0.2) is served; delays run on the worker's
//! timers without holding up other clients; limits hold across workers; bad zones are config
//! errors.

mod support;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};
use support::{Conn, Response, Server, TempDir, run_cli};

fn config(top: &str, server: &str) -> String {
    format!(
        "workers 2;\naccess_log off;\n{top}\nserver {{\n    listen 127.0.0.1:0;\n    root www;\n{server}\n}}\n"
    )
}

const FILES: &[(&str, &[u8])] = &[
    ("www/index.html", b"home"),
    ("www/x/a.txt", b"a"),
    (
        "www/cgi/slow.sh",
        b"sleep 1\nprintf 'Content-Type: text/plain\\n\\nslow\\n'\n",
    ),
    (
        "www/cgi/echo.sh",
        b"printf 'Content-Type: text/plain\\n\\n'\ncat\n",
    ),
];

/// One request on a new connection from `ip` (a new connection each time, so that with two
/// workers the requests of one client land on both).
fn get_from(server: &Server, ip: [u8; 4], path: &str) -> Response {
    let mut conn = Conn::connect_from(Ipv4Addr::from(ip), server.addr());
    conn.send(format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").as_bytes());
    conn.read_response()
}

#[test]
fn a_flood_from_one_address_is_limited_without_touching_another_address() {
    let server = Server::start(
        &config(
            "limit_req_zone $binary_remote_addr zone=one:32k rate=1r/m;",
            "location /x { limit_req zone=one burst=2 nodelay; }",
        ),
        FILES,
    );
    let statuses: Vec<u16> = (0..8)
        .map(|_| get_from(&server, [127, 0, 0, 1], "/x/a.txt").status)
        .collect();
    // One within the rate, two more in the burst (nodelay), then refusals: across both workers.
    assert_eq!(statuses, [200, 200, 200, 503, 503, 503, 503, 503]);
    let other: Vec<u16> = (0..3)
        .map(|_| get_from(&server, [127, 0, 0, 2], "/x/a.txt").status)
        .collect();
    assert_eq!(other, [200, 200, 200]);
    assert_eq!(get_from(&server, [127, 0, 0, 2], "/x/a.txt").status, 503);
    // Outside the limited location, nothing is limited.
    assert_eq!(get_from(&server, [127, 0, 0, 1], "/index.html").status, 200);
    let refused = get_from(&server, [127, 0, 0, 1], "/x/a.txt");
    assert!(refused.is_html_page());
    let logged = support::wait_until(Duration::from_secs(5), || {
        server
            .stderr()
            .contains("limiting requests by zone \"one\"")
    });
    assert!(logged, "{}", server.stderr());
}

#[test]
fn limit_req_status_sets_the_refusal_status() {
    let server = Server::start(
        &config(
            "limit_req_zone $binary_remote_addr$uri zone=z:1m rate=1r/m;",
            "limit_req zone=z; limit_req_status 429;",
        ),
        FILES,
    );
    assert_eq!(get_from(&server, [127, 0, 0, 1], "/x/a.txt").status, 200);
    assert_eq!(get_from(&server, [127, 0, 0, 1], "/x/a.txt").status, 429);
    // The key holds the URI too: another path is another bucket.
    assert_eq!(get_from(&server, [127, 0, 0, 1], "/index.html").status, 200);
}

#[test]
fn excess_requests_within_the_burst_are_delayed_by_the_loop_not_by_sleeping() {
    let server = Server::start(
        &config(
            "workers 1;\nlimit_req_zone $binary_remote_addr zone=slow:32k rate=4r/s;"
                .replace("workers 1;\n", "")
                .as_str(),
            "location /x { limit_req zone=slow burst=5; }",
        )
        .replace("workers 2;", "workers 1;"),
        FILES,
    );
    // Four requests at once from one address: the 2nd, 3rd and 4th wait 250, 500, 750 ms.
    let started = Instant::now();
    let mut conns: Vec<Conn> = (0..4)
        .map(|_| Conn::connect_from(Ipv4Addr::new(127, 0, 0, 1), server.addr()))
        .collect();
    for conn in &mut conns {
        conn.send(b"GET /x/a.txt HTTP/1.1\r\nHost: a\r\n\r\n");
    }
    // Meanwhile the single worker serves another client at once.
    let quick = Instant::now();
    assert_eq!(get_from(&server, [127, 0, 0, 2], "/x/a.txt").status, 200);
    assert!(
        quick.elapsed() < Duration::from_millis(200),
        "{:?}",
        quick.elapsed()
    );
    let mut done = Vec::new();
    for conn in &mut conns {
        assert_eq!(conn.read_response().status, 200);
        done.push(started.elapsed());
    }
    done.sort();
    assert!(done[1] >= Duration::from_millis(200), "{done:?}");
    assert!(done[3] >= Duration::from_millis(650), "{done:?}");
    assert!(done[3] < Duration::from_secs(5), "{done:?}");
    // The connection stays usable after its delayed request.
    conns[0].send(b"GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n");
    let next = conns[0].read_response();
    assert_eq!(next.text(), "home");
}

#[test]
fn limit_conn_bounds_the_requests_of_one_address_being_served_at_once() {
    let server = Server::start(
        &config(
            "limit_conn_zone $binary_remote_addr zone=addr:32k;",
            "location /cgi { cgi .sh /bin/sh; limit_conn addr 1; limit_conn_status 429; }",
        )
        // One worker: a place given back at the end of a response is free before the worker
        // reads the next request (with two, the next request may win the race on the other).
        .replace("workers 2;", "workers 1;"),
        FILES,
    );
    let mut first = Conn::connect_from(Ipv4Addr::new(127, 0, 0, 1), server.addr());
    first.send(b"GET /cgi/slow.sh HTTP/1.1\r\nHost: a\r\n\r\n");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        get_from(&server, [127, 0, 0, 1], "/cgi/slow.sh").status,
        429
    );
    assert_eq!(
        get_from(&server, [127, 0, 0, 2], "/cgi/slow.sh").status,
        200
    );
    assert_eq!(first.read_response().text(), "slow\n");
    // The place is given back when the response ends, though the connection stays open.
    assert_eq!(
        get_from(&server, [127, 0, 0, 1], "/cgi/slow.sh").status,
        200
    );
    first.send(b"GET /cgi/slow.sh HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(first.read_response().status, 200);
}

#[test]
fn a_reload_keeps_the_counts_of_an_unchanged_zone() {
    let server = Server::start(
        &config(
            "limit_req_zone $binary_remote_addr zone=one:32k rate=1r/m;",
            "limit_req zone=one;",
        ),
        FILES,
    );
    assert_eq!(get_from(&server, [127, 0, 0, 1], "/index.html").status, 200);
    server.signal(libc::SIGHUP);
    assert!(support::wait_until(Duration::from_secs(10), || server
        .stderr()
        .contains("configuration reloaded")));
    assert_eq!(get_from(&server, [127, 0, 0, 1], "/index.html").status, 503);
}

#[test]
fn bad_zones_and_limits_are_config_errors_at_their_place() {
    let dir = TempDir::new();
    let cases = [
        (
            "limit_req_zone $binary_remote_addr zone=a:1k rate=1r/s;",
            "",
            "1:36: zone \"a\" is too small",
        ),
        (
            "limit_req_zone $binary_remote_addr zone=a:1m rate=1r/h;",
            "",
            "1:46: invalid rate \"rate=1r/h\"",
        ),
        (
            "limit_req_zone $binary_remote_addr zone=a:1m;",
            "",
            "1:1: \"limit_req_zone\" must have \"rate\" parameter",
        ),
        (
            "limit_req_zone $nope zone=a:1m rate=1r/s;",
            "",
            "1:16: unknown \"nope\" variable",
        ),
        (
            "limit_req_zone $status zone=a:1m rate=1r/s;",
            "",
            "1:16: a variable of \"$status\" has no value",
        ),
        (
            "",
            "limit_req zone=b;",
            "3:11: unknown limit_req_zone \"b\"",
        ),
        (
            "limit_conn_zone $binary_remote_addr zone=c:1m;",
            "limit_conn c 0;",
            "3:14: zero number of connections",
        ),
        (
            "limit_conn_zone $binary_remote_addr zone=c:1m;",
            "limit_req zone=c;",
            "3:11: unknown limit_req_zone \"c\"",
        ),
        (
            "limit_req_zone $binary_remote_addr zone=a:1m rate=1r/s;",
            "limit_req zone=a burst=x;",
            "3:18: invalid burst value",
        ),
        (
            "limit_req_zone $binary_remote_addr zone=a:1m rate=1r/s;",
            "limit_req_status 200;",
            "3:18: value must be between 400 and 599",
        ),
    ];
    for (top, server, expected) in cases {
        let text = format!("{top}\nserver {{ listen 80;\n{server}\n}}\n");
        let path = dir.write("w.conf", text.as_bytes());
        let (status, _, stderr) = run_cli(&["-t", path.to_str().unwrap()], dir.path());
        assert!(!status.success(), "{text}");
        let shown = stderr
            .trim()
            .strip_prefix(&format!("{}:", path.display()))
            .unwrap_or(&stderr)
            .to_string();
        assert!(shown.starts_with(expected), "{text}\n{shown}");
    }
}

#[test]
fn a_delayed_request_keeps_its_body_for_the_script_that_answers_it_after_the_delay() {
    let server = Server::start(
        &config(
            "limit_req_zone $binary_remote_addr zone=slow:32k rate=4r/s;",
            "location /cgi { cgi .sh /bin/sh; allow_methods GET POST; limit_req zone=slow burst=5; }",
        )
        .replace("workers 2;", "workers 1;"),
        FILES,
    );
    let started = Instant::now();
    let mut conns: Vec<Conn> = (0..3).map(|_| server.connect()).collect();
    let body = "x".repeat(20_000);
    for (i, conn) in conns.iter_mut().enumerate() {
        if i == 2 {
            // Chunked: the script's body is spooled after the delay.
            conn.send(
                format!(
                    "POST /cgi/echo.sh HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            );
        } else {
            conn.send(
                format!(
                    "POST /cgi/echo.sh HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    }
    for conn in &mut conns {
        let response = conn.read_response();
        assert_eq!(response.status, 200);
        assert_eq!(response.text(), body);
    }
    // The third waited two intervals of the rate.
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "{:?}",
        started.elapsed()
    );
}
