//! Behind a load balancer: `listen ... proxy_protocol` reads the PROXY protocol header (v1 and
//! v2, plain and before TLS) under the header timeout and closes on a broken one;
//! `set_real_ip_from` / `real_ip_header` / `real_ip_recursive` give the access log and CGI's
//! REMOTE_ADDR the real client.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::*;

fn config(listen_params: &str, extra: &str) -> String {
    format!(
        "workers 1;\naccess_log access.log;\nerror_log stderr info;\nserver {{\n    \
         listen 127.0.0.1:0 {listen_params};\n    root www;\n    client_header_timeout 1s;\n{extra}\n}}\n"
    )
}

const FILES: &[(&str, &[u8])] = &[("www/index.html", b"hello")];

/// The access log once it has `lines` lines.
fn access_log(server: &Server, lines: usize) -> Vec<String> {
    let path = server.dir.path().join("access.log");
    let mut text = String::new();
    wait_until(Duration::from_secs(5), || {
        text = std::fs::read_to_string(&path).unwrap_or_default();
        text.lines().count() >= lines
    });
    text.lines().map(str::to_string).collect()
}

fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
    let mut out = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    out.push(0x20 | command);
    out.push(family);
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// A v2 PROXY header for a TCP/IPv4 client 192.0.2.77:4321 to 198.51.100.1:443, with `tlvs`.
fn v2_inet(tlvs: &[u8]) -> Vec<u8> {
    let mut body = vec![192, 0, 2, 77, 198, 51, 100, 1];
    body.extend_from_slice(&4321u16.to_be_bytes());
    body.extend_from_slice(&443u16.to_be_bytes());
    body.extend_from_slice(tlvs);
    v2(1, 0x11, &body)
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

#[test]
fn a_v1_header_gives_the_access_log_the_real_client() {
    let server = Server::start(
        &config(
            "proxy_protocol",
            "set_real_ip_from 127.0.0.1;\nreal_ip_header proxy_protocol;",
        ),
        FILES,
    );
    let mut bytes = b"PROXY TCP4 203.0.113.7 127.0.0.1 51000 80\r\n".to_vec();
    bytes.extend_from_slice(GET);
    let response = parse_one(&server.raw(&bytes));
    assert_eq!((response.status, response.text().as_str()), (200, "hello"));
    let log = access_log(&server, 1);
    assert!(log[0].starts_with("203.0.113.7 - - ["), "{log:?}");
}

#[test]
fn a_v2_header_with_tlvs_split_in_every_piece_is_read_and_keep_alive_goes_on() {
    let server = Server::start(
        &config(
            "proxy_protocol",
            "set_real_ip_from 127.0.0.0/8;\nreal_ip_header proxy_protocol;",
        ),
        FILES,
    );
    // ALPN and an unknown TLV, then two requests on the connection.
    let header = v2_inet(
        &[
            &[0x01, 0x00, 0x08][..],
            b"http/1.1",
            &[0xe0, 0x00, 0x01, 0x07],
        ]
        .concat(),
    );
    let mut conn = server.connect();
    for byte in &header {
        conn.send(std::slice::from_ref(byte));
        std::thread::sleep(Duration::from_millis(2));
    }
    conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(conn.read_response().status, 200);
    conn.send(GET);
    assert_eq!(conn.read_response().text(), "hello");
    let log = access_log(&server, 2);
    assert!(log.iter().all(|l| l.starts_with("192.0.2.77 ")), "{log:?}");
}

#[test]
fn without_set_real_ip_from_the_log_keeps_the_connections_address() {
    // nginx: the PROXY header alone does not change $remote_addr.
    let server = Server::start(&config("proxy_protocol", ""), FILES);
    let mut bytes = v2_inet(&[]);
    bytes.extend_from_slice(GET);
    assert_eq!(parse_one(&server.raw(&bytes)).status, 200);
    assert!(access_log(&server, 1)[0].starts_with("127.0.0.1 "));
}

#[test]
fn a_local_header_from_the_balancers_health_check_is_served_as_the_balancer() {
    let server = Server::start(
        &config(
            "proxy_protocol",
            "set_real_ip_from 127.0.0.1;\nreal_ip_header proxy_protocol;",
        ),
        FILES,
    );
    for header in [v2(0, 0x00, &[]), b"PROXY UNKNOWN\r\n".to_vec()] {
        let mut bytes = header;
        bytes.extend_from_slice(GET);
        assert_eq!(parse_one(&server.raw(&bytes)).status, 200);
    }
    let log = access_log(&server, 2);
    assert!(log.iter().all(|l| l.starts_with("127.0.0.1 ")), "{log:?}");
}

/// Sends `bytes` and reads until the server closes: what it answered, within `limit`.
fn answer_then_close(server: &Server, bytes: &[u8], limit: Duration) -> Vec<u8> {
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(limit)).unwrap();
    stream.write_all(bytes).unwrap();
    let mut out = Vec::new();
    match stream.read_to_end(&mut out) {
        Ok(_) => out,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => out,
        Err(e) => panic!("the server did not close within {limit:?}: {e}"),
    }
}

#[test]
fn a_broken_or_missing_header_closes_the_connection_with_no_answer() {
    let server = Server::start(&config("proxy_protocol", ""), FILES);
    let cases: Vec<Vec<u8>> = vec![
        GET.to_vec(),
        b"PROXY TCP4 203.0.113.7 127.0.0.1 51000\r\nGET / HTTP/1.1\r\n\r\n".to_vec(),
        b"PROXY TCP4 203.0.113.7 127.0.0.1 51000 80\n\r\n".to_vec(),
        [&b"PROXY UNKNOWN "[..], &[b'x'; 200]].concat(),
        v2(1, 0x11, &[1, 2, 3]),
        v2(
            1,
            0x11,
            &[
                192, 0, 2, 1, 192, 0, 2, 2, 0, 1, 0, 2, 0x01, 0x00, 0x09, b'h',
            ],
        ),
        [&b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x10\x00"[..], &[0u8; 64]].concat(),
        b"\x16\x03\x01\x00\x05hello".to_vec(),
    ];
    for bytes in &cases {
        let answer = answer_then_close(&server, bytes, Duration::from_secs(5));
        assert!(
            answer.is_empty(),
            "{:?} got {:?}",
            String::from_utf8_lossy(bytes),
            String::from_utf8_lossy(&answer)
        );
    }
    assert!(wait_until(Duration::from_secs(5), || server
        .stderr()
        .matches("PROXY protocol header")
        .count()
        >= cases.len()));
    // The server goes on serving.
    let mut bytes = b"PROXY UNKNOWN\r\n".to_vec();
    bytes.extend_from_slice(GET);
    assert_eq!(parse_one(&server.raw(&bytes)).status, 200);
}

#[test]
fn a_header_that_never_completes_is_closed_at_the_header_timeout() {
    let server = Server::start(&config("proxy_protocol", ""), FILES);
    let started = Instant::now();
    let answer = answer_then_close(&server, b"PROXY TCP4 203.0.113.7 ", Duration::from_secs(10));
    let elapsed = started.elapsed();
    assert!(answer.is_empty());
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    // And one that sends nothing at all.
    let started = Instant::now();
    let mut silent = TcpStream::connect(server.addr()).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(silent.read(&mut [0u8; 16]).unwrap_or(0), 0);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn x_forwarded_for_from_a_trusted_proxy_reaches_cgi_and_the_log() {
    let script = "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n%s' \"$REMOTE_ADDR\"\n";
    let server = Server::start(
        &config(
            "",
            "set_real_ip_from 127.0.0.1;\nreal_ip_header X-Forwarded-For;\nreal_ip_recursive on;\n\
             set_real_ip_from 10.0.0.0/8;\nlocation /cgi { cgi .sh /bin/sh; }",
        ),
        &[("www/cgi/addr.sh", script.as_bytes())],
    );
    let ask = |xff: &str| {
        server
            .request(&format!(
                "GET /cgi/addr.sh HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: {xff}\r\nConnection: close\r\n\r\n"
            ))
            .text()
    };
    assert_eq!(ask("198.51.100.4, 10.1.2.3"), "198.51.100.4");
    assert_eq!(ask("2001:db8::9"), "2001:db8::9");
    assert_eq!(ask("garbage"), "127.0.0.1");
    let log = access_log(&server, 3);
    assert!(log[0].starts_with("198.51.100.4 "), "{log:?}");
    assert!(log[1].starts_with("2001:db8::9 "), "{log:?}");
}

#[test]
fn curl_sends_its_header_before_tls_and_is_served_over_https() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        support::skip::missing("curl (Debian package curl)");
        return;
    }
    let cert = support::tls::cert(&["localhost"]);
    let config = "workers 1;\naccess_log access.log;\nserver {\n    \
                  listen 127.0.0.1:0 ssl proxy_protocol;\n    ssl_certificate cert.pem;\n    \
                  ssl_certificate_key key.pem;\n    root www;\n    set_real_ip_from 127.0.0.1;\n    \
                  real_ip_header proxy_protocol;\n}\n";
    let server = Server::start(
        config,
        &[
            ("cert.pem", cert.cert_pem.as_bytes()),
            ("key.pem", cert.key_pem.as_bytes()),
            ("www/index.html", b"over tls"),
        ],
    );
    let pem = server.dir.write("ca.pem", cert.cert_pem.as_bytes());
    let port = server.port();
    let output = std::process::Command::new("curl")
        .args(["-sS", "--haproxy-protocol", "--cacert"])
        .arg(&pem)
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
        .arg(format!("https://localhost:{port}/"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.stdout, b"over tls");
    assert!(access_log(&server, 1)[0].starts_with("127.0.0.1 "));
}

#[test]
fn over_http2_each_stream_is_attributed_to_the_client_a_trusted_proxy_names() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        support::skip::missing("curl (Debian package curl)");
        return;
    }
    let cert = support::tls::cert(&["localhost"]);
    let config = "workers 1;\naccess_log access.log;\nserver {\n    \
                  listen 127.0.0.1:0 ssl proxy_protocol;\n    ssl_certificate cert.pem;\n    \
                  ssl_certificate_key key.pem;\n    root www;\n    set_real_ip_from 127.0.0.1;\n    \
                  real_ip_header X-Forwarded-For;\n}\n";
    let server = Server::start(
        config,
        &[
            ("cert.pem", cert.cert_pem.as_bytes()),
            ("key.pem", cert.key_pem.as_bytes()),
            ("www/index.html", b"over h2"),
        ],
    );
    let pem = server.dir.write("ca.pem", cert.cert_pem.as_bytes());
    let port = server.port();
    let output = std::process::Command::new("curl")
        .args(["-sS", "--http2", "--haproxy-protocol", "--cacert"])
        .arg(&pem)
        .args(["-H", "X-Forwarded-For: 203.0.113.5"])
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
        .arg(format!("https://localhost:{port}/"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.stdout, b"over h2");
    let line = &access_log(&server, 1)[0];
    assert!(line.starts_with("203.0.113.5 "), "{line}");
    assert!(line.contains("HTTP/2.0"), "{line}");
}
