//! HTTPS: `listen ... ssl` with certificates generated at test time (rcgen), spoken to through a
//! rustls client over a blocking socket (and curl where it is installed).

mod support;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::tls::{Cert, cert, tls_server};
use support::{
    Parse, Response, Server, TempDir, parse_response, random_bytes, run_cli, wait_until,
};

/// A client trusting exactly `roots`, offering `versions`, ALPN http/1.1.
fn client_config(
    roots: &[&Cert],
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[&[u8]],
) -> Arc<ClientConfig> {
    let mut store = RootCertStore::empty();
    for root in roots {
        store.add(root.der.clone()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(store)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

fn default_client(roots: &[&Cert]) -> Arc<ClientConfig> {
    client_config(roots, rustls::ALL_VERSIONS, &[b"http/1.1"])
}

/// A TLS client connection with a read buffer.
struct TlsConn {
    tls: StreamOwned<ClientConnection, TcpStream>,
    buf: Vec<u8>,
    eof: bool,
}

impl TlsConn {
    fn connect(addr: SocketAddr, config: &Arc<ClientConfig>, name: &str) -> TlsConn {
        TlsConn::over(TcpStream::connect(addr).unwrap(), config, name)
    }

    /// Speaks TLS over a socket already connected.
    fn over(socket: TcpStream, config: &Arc<ClientConfig>, name: &str) -> TlsConn {
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        socket
            .set_write_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let name = ServerName::try_from(name.to_string()).unwrap();
        let conn = ClientConnection::new(Arc::clone(config), name).unwrap();
        let mut tls = StreamOwned::new(conn, socket);
        // Completes the handshake (or fails the test with its error).
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).expect("TLS handshake");
        }
        TlsConn {
            tls,
            buf: Vec::new(),
            eof: false,
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.tls.write_all(bytes).unwrap();
        self.tls.flush().unwrap();
    }

    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 65536];
        match self.tls.read(&mut chunk) {
            Ok(0) => {
                self.eof = true;
                false
            }
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                self.eof = true;
                false
            }
            Err(e) => panic!("TLS read: {e}"),
        }
    }

    fn read_response(&mut self) -> Response {
        loop {
            match parse_response(&self.buf, false, self.eof) {
                Parse::Complete(response, used) => {
                    self.buf.drain(..used);
                    return response;
                }
                Parse::Invalid(why) => panic!("invalid response: {why}"),
                Parse::Partial => {
                    if !self.fill() && self.eof {
                        match parse_response(&self.buf, false, true) {
                            Parse::Complete(response, used) => {
                                self.buf.drain(..used);
                                return response;
                            }
                            _ => panic!("closed before a complete response"),
                        }
                    }
                }
            }
        }
    }

    fn get(&mut self, path: &str) -> Response {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes());
        self.read_response()
    }

    /// The end-entity certificate the server presented.
    fn peer_certificate(&self) -> CertificateDer<'static> {
        self.tls.conn.peer_certificates().unwrap()[0]
            .clone()
            .into_owned()
    }
}

#[test]
fn a_static_file_is_served_over_tls_1_3_and_tls_1_2() {
    let cert = cert(&["localhost"]);
    let server = tls_server(&cert, "", &[("www/a.txt", b"over tls\n")]);
    assert!(server.stderr().contains("listening on https://"));
    for (version, expected) in [
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
    ] {
        let config = client_config(&[&cert], &[version], &[b"http/1.1"]);
        let mut conn = TlsConn::connect(server.addr(), &config, "localhost");
        assert_eq!(conn.tls.conn.protocol_version(), Some(expected));
        let response = conn.get("/a.txt");
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"over tls\n");
        assert_eq!(
            response.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
    }
}

#[test]
fn alpn_prefers_h2_then_http_1_1_and_offers_h2_only_where_http2_is_on() {
    let cert = cert(&["localhost"]);
    let server = tls_server(&cert, "", &[("www/a.txt", b"a")]);
    let both = client_config(&[&cert], rustls::ALL_VERSIONS, &[b"http/1.1", b"h2"]);
    let conn = TlsConn::connect(server.addr(), &both, "localhost");
    assert_eq!(conn.tls.conn.alpn_protocol(), Some(&b"h2"[..]));
    let http1 = client_config(&[&cert], rustls::ALL_VERSIONS, &[b"http/1.1"]);
    let mut conn = TlsConn::connect(server.addr(), &http1, "localhost");
    assert_eq!(conn.tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(conn.get("/a.txt").body, b"a");

    let off = tls_server(&cert, "    http2 off;", &[("www/a.txt", b"a")]);
    let mut conn = TlsConn::connect(off.addr(), &both, "localhost");
    assert_eq!(conn.tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(conn.get("/a.txt").body, b"a");
}

#[test]
fn a_client_offering_only_alpn_http_1_0_is_served() {
    // As `curl --http1.0` offers; nginx accepts it too.
    let cert = cert(&["localhost"]);
    let server = tls_server(&cert, "", &[("www/a.txt", b"one point oh")]);
    let config = client_config(&[&cert], rustls::ALL_VERSIONS, &[b"http/1.0"]);
    let mut conn = TlsConn::connect(server.addr(), &config, "localhost");
    assert_eq!(conn.tls.conn.alpn_protocol(), Some(&b"http/1.0"[..]));
    conn.send(b"GET /a.txt HTTP/1.0\r\n\r\n");
    while conn.fill() {}
    let response = support::parse_one(&conn.buf);
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"one point oh");
}

#[test]
fn tls_1_3_key_updates_from_the_client_are_followed_on_a_kept_alive_connection() {
    // As `openssl s_client` sends on its "K" command; rustls asks for the server's update too.
    let cert = cert(&["localhost"]);
    let server = tls_server(&cert, "", &[("www/a.txt", b"updated")]);
    let config = client_config(&[&cert], &[&rustls::version::TLS13], &[b"http/1.1"]);
    let mut conn = TlsConn::connect(server.addr(), &config, "localhost");
    for round in 0..5 {
        assert_eq!(conn.get("/a.txt").body, b"updated", "round {round}");
        for _ in 0..=round {
            conn.tls.conn.refresh_traffic_keys().unwrap();
        }
    }
    assert_eq!(conn.get("/a.txt").body, b"updated");
}

#[test]
fn keep_alive_and_pipelined_requests_are_answered_in_order_over_tls() {
    let cert = cert(&["localhost"]);
    let server = tls_server(&cert, "", &[("www/a.txt", b"A"), ("www/b.txt", b"B")]);
    let mut conn = TlsConn::connect(server.addr(), &default_client(&[&cert]), "localhost");
    for _ in 0..3 {
        assert_eq!(conn.get("/a.txt").body, b"A");
        assert_eq!(conn.get("/b.txt").body, b"B");
    }
    let mut pipelined = Vec::new();
    for i in 0..20 {
        let path = if i % 2 == 0 { "/a.txt" } else { "/b.txt" };
        pipelined.extend_from_slice(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    }
    conn.send(&pipelined);
    for i in 0..20 {
        let expected: &[u8] = if i % 2 == 0 { b"A" } else { b"B" };
        let response = conn.read_response();
        assert_eq!(response.status, 200);
        assert_eq!(response.body, expected, "response {i}");
    }
    // A request that closes gets close_notify then end of stream.
    conn.send(b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let response = conn.read_response();
    assert_eq!(response.body, b"A");
    assert!(!conn.fill(), "the server closes after Connection: close");
    assert!(conn.tls.conn.received_close_notify_or_eof());
}

trait CloseNotify {
    fn received_close_notify_or_eof(&mut self) -> bool;
}

impl CloseNotify for ClientConnection {
    /// Whether the server ended the session with close_notify.
    fn received_close_notify_or_eof(&mut self) -> bool {
        self.process_new_packets()
            .map(|state| state.peer_has_closed())
            .unwrap_or(false)
    }
}

#[test]
fn a_large_file_reaches_a_slow_reader_intact_with_bounded_server_memory() {
    let cert = cert(&["localhost"]);
    let data = random_bytes(16 << 20, 7);
    let server = tls_server(&cert, "", &[("www/big.bin", &data)]);
    let pid = server.pid() as i32;
    let baseline = support::proc_status_kib(pid, "VmRSS");
    let socket = TcpStream::connect(server.addr()).unwrap();
    // A small window: the server finds the socket full again and again.
    support::set_small_receive_buffer(&socket, 32 * 1024);
    let mut conn = TlsConn::over(socket, &default_client(&[&cert]), "localhost");
    conn.send(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut received = Vec::with_capacity(data.len() + 1024);
    let mut peak_rss = 0;
    let mut chunk = vec![0u8; 16 * 1024];
    let started = Instant::now();
    while received.len() < data.len() + 200 && started.elapsed() < Duration::from_secs(60) {
        let n = conn.tls.read(&mut chunk).unwrap();
        if n == 0 {
            break;
        }
        received.extend_from_slice(&chunk[..n]);
        if received.len() % (64 << 10) < n {
            // Slow: a pause every 64 KiB.
            std::thread::sleep(Duration::from_millis(1));
        }
        if received.len() % (1 << 20) < n {
            peak_rss = peak_rss.max(support::proc_status_kib(pid, "VmRSS"));
        }
        if let Parse::Complete(response, used) = parse_response(&received, false, false) {
            assert_eq!(response.status, 200);
            assert_eq!(used, received.len());
            assert!(response.body == data, "body differs from the file");
            eprintln!("server VmRSS: {baseline} KiB before, {peak_rss} KiB at most during");
            // Bounded: a few MiB of growth at most (the file is 16).
            assert!(
                peak_rss > 0 && peak_rss < baseline + 4 * 1024,
                "server VmRSS {peak_rss} KiB, {baseline} KiB before"
            );
            return;
        }
    }
    panic!("incomplete: {} bytes", received.len());
}

#[test]
fn sni_picks_the_certificate_of_the_named_server_and_unknown_names_get_the_default() {
    let a = cert(&["a.test", "unknown.test", "127.0.0.1"]);
    let b = cert(&["b.test"]);
    let config = "workers 1;\naccess_log off;\n\
        server {\n listen 127.0.0.1:0 ssl;\n server_name a.test;\n ssl_certificate a.pem;\n \
        ssl_certificate_key a.key;\n root a;\n}\n\
        server {\n listen 127.0.0.1:0 ssl;\n server_name B.test;\n ssl_certificate b.pem;\n \
        ssl_certificate_key b.key;\n root b;\n}\n";
    let server = Server::start(
        config,
        &[
            ("a.pem", a.cert_pem.as_bytes()),
            ("a.key", a.key_pem.as_bytes()),
            ("b.pem", b.cert_pem.as_bytes()),
            ("b.key", b.key_pem.as_bytes()),
            ("a/index.html", b"site a"),
            ("b/index.html", b"site b"),
        ],
    );
    let client = default_client(&[&a, &b]);
    let cases = [
        ("b.test", &b, "b.test", "site b"),
        ("a.test", &a, "a.test", "site a"),
        ("unknown.test", &a, "unknown.test", "site a"),
        ("127.0.0.1", &a, "a.test", "site a"),
    ];
    for (sni, expected, host, body) in cases {
        let mut conn = TlsConn::connect(server.addr(), &client, sni);
        assert!(
            conn.peer_certificate() == expected.der,
            "certificate for SNI {sni}"
        );
        conn.send(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
        assert_eq!(conn.read_response().text(), body, "SNI {sni}");
    }
}

#[test]
fn an_rsa_certificate_is_served() {
    let Some(cert) = support::tls::rsa_cert(&["localhost"]) else {
        support::skip::unavailable("rcgen cannot generate RSA keys in this build");
        return;
    };
    let server = tls_server(&cert, "", &[("www/a.txt", b"rsa")]);
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let config = client_config(&[&cert], &[version], &[b"http/1.1"]);
        let mut conn = TlsConn::connect(server.addr(), &config, "localhost");
        assert_eq!(conn.get("/a.txt").body, b"rsa");
    }
}

#[test]
fn plain_http_to_the_tls_port_gets_the_400_page_and_a_close() {
    let cert = cert(&["localhost"]);
    let server = tls_server(&cert, "", &[("www/a.txt", b"a")]);
    let reply = support::raw(server.addr(), b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    let response = support::parse_one(&reply);
    assert_eq!(response.status, 400);
    assert!(response.closes());
    assert!(
        response
            .text()
            .contains("The plain HTTP request was sent to HTTPS port"),
        "{}",
        response.text()
    );
    // The server goes on serving TLS.
    let mut conn = TlsConn::connect(server.addr(), &default_client(&[&cert]), "localhost");
    assert_eq!(conn.get("/a.txt").body, b"a");
}

#[test]
fn a_client_that_sends_nothing_is_closed_after_the_header_timeout() {
    let cert = cert(&["localhost"]);
    let server = tls_server(&cert, "    client_header_timeout 1s;", &[]);
    let mut conn = support::Conn::connect(server.addr());
    let started = Instant::now();
    assert_eq!(conn.closed_within(Duration::from_secs(8)), Ok(true));
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
}

/// The first flight of a real client: its ClientHello.
fn client_hello(cert: &Cert) -> Vec<u8> {
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = ClientConnection::new(default_client(&[cert]), name).unwrap();
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).unwrap();
    hello
}

#[test]
fn garbage_and_half_handshakes_neither_hang_nor_break_the_server() {
    let cert = cert(&["localhost"]);
    let server = tls_server(
        &cert,
        "    client_header_timeout 1s;",
        &[("www/a.txt", b"still here")],
    );
    let hello = client_hello(&cert);
    // A record header announcing a handshake, then garbage: the handshake fails, closed.
    let mut garbage = support::Conn::connect(server.addr());
    garbage.send(b"\x16\x03\x01\x00\x10garbage garbage!\x16\x03\x01");
    assert!(matches!(
        garbage.closed_within(Duration::from_secs(8)),
        Ok(true) | Err(_)
    ));
    // Half a ClientHello, then nothing: closed by the header timeout.
    let mut stalled = support::Conn::connect(server.addr());
    stalled.send(&hello[..hello.len() / 2]);
    let started = Instant::now();
    assert_eq!(stalled.closed_within(Duration::from_secs(8)), Ok(true));
    assert!(started.elapsed() >= Duration::from_millis(500));
    // Half a ClientHello, then a reset.
    let reset = support::Conn::connect(server.addr());
    let mut stream = reset.stream;
    stream.write_all(&hello[..hello.len() / 2]).unwrap();
    support::reset(stream);
    // Random bytes that are not even TLS record headers.
    let mut noise = support::Conn::connect(server.addr());
    noise.send(&random_bytes(3000, 11));
    let _ = noise.closed_within(Duration::from_secs(8));
    // The next client is served.
    let mut conn = TlsConn::connect(server.addr(), &default_client(&[&cert]), "localhost");
    assert_eq!(conn.get("/a.txt").body, b"still here");
}

#[test]
fn a_cgi_script_over_tls_sees_https_on() {
    let cert = cert(&["localhost"]);
    let script = b"printf 'Content-Type: text/plain\\r\\n\\r\\n'\n\
        echo \"HTTPS=$HTTPS SCHEME=$REQUEST_SCHEME\"\ncat\n";
    let server = tls_server(
        &cert,
        "    allow_methods GET POST;\n    cgi .sh /bin/sh;",
        &[("www/env.sh", script)],
    );
    let mut conn = TlsConn::connect(server.addr(), &default_client(&[&cert]), "localhost");
    let response = conn.get("/env.sh");
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "HTTPS=on SCHEME=https\n");
    // A body through the script and a streamed answer, on the same connection.
    let body = "x".repeat(200_000);
    conn.send(
        format!(
            "POST /env.sh HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    let response = conn.read_response();
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), format!("HTTPS=on SCHEME=https\n{body}"));
}

#[test]
fn an_upload_over_tls_is_stored_whole() {
    let cert = cert(&["localhost"]);
    let server = tls_server(
        &cert,
        "    location /up {\n        allow_methods POST PUT;\n        upload_store store;\n        client_max_body_size 10m;\n    }",
        &[("store/", b"")],
    );
    let data = random_bytes(3 << 20, 5);
    let mut conn = TlsConn::connect(server.addr(), &default_client(&[&cert]), "localhost");
    let mut request = format!(
        "PUT /up/file.bin HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        data.len()
    )
    .into_bytes();
    request.extend_from_slice(&data);
    conn.send(&request);
    let response = conn.read_response();
    assert_eq!(response.status, 201, "{}", response.text());
    let stored = std::fs::read(server.dir.path().join("store/file.bin")).unwrap();
    assert!(stored == data, "stored file differs");
}

#[test]
fn sighup_reloads_a_replaced_certificate_for_new_connections() {
    let first = cert(&["localhost"]);
    let second = cert(&["localhost"]);
    let server = tls_server(&first, "", &[("www/a.txt", b"a")]);
    let client = default_client(&[&first, &second]);
    let mut old = TlsConn::connect(server.addr(), &client, "localhost");
    assert!(old.peer_certificate() == first.der);
    std::fs::write(server.dir.path().join("cert.pem"), &second.cert_pem).unwrap();
    std::fs::write(server.dir.path().join("key.pem"), &second.key_pem).unwrap();
    server.signal(libc::SIGHUP);
    let reloaded = wait_until(Duration::from_secs(10), || {
        TlsConn::connect(server.addr(), &client, "localhost").peer_certificate() == second.der
    });
    assert!(reloaded, "{}", server.stderr());
    // The connection made before goes on.
    assert_eq!(old.get("/a.txt").body, b"a");
    // A key that no longer matches: the reload is refused, the second certificate stays.
    std::fs::write(server.dir.path().join("key.pem"), &first.key_pem).unwrap();
    server.signal(libc::SIGHUP);
    assert!(wait_until(Duration::from_secs(10), || {
        server.stderr().contains("reload failed")
    }));
    let conn = TlsConn::connect(server.addr(), &client, "localhost");
    assert!(conn.peer_certificate() == second.der);
}

#[test]
fn curl_with_cacert_gets_a_file_over_https() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        support::skip::missing("curl (Debian package curl)");
        return;
    }
    let cert = cert(&["localhost"]);
    let server = tls_server(&cert, "", &[("www/a.txt", b"curl over tls\n")]);
    let ca = server.dir.path().join("cert.pem");
    let output = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(&ca)
        .arg("--resolve")
        .arg(format!("localhost:{}:127.0.0.1", server.port()))
        .arg(format!("https://localhost:{}/a.txt", server.port()))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.stdout, b"curl over tls\n");
}

/// `webserv -t` on `config` (with `files` beside it): the first stderr line.
fn check_error(config: &str, files: &[(&str, &[u8])]) -> String {
    let dir = TempDir::new();
    for (path, contents) in files {
        dir.write(path, contents);
    }
    let path = dir.write("webserv.conf", config.as_bytes());
    let path = path.to_str().unwrap().to_string();
    let (status, _, stderr) = run_cli(&["-t", &path], dir.path());
    assert_eq!(status.code(), Some(1), "{stderr}");
    let line = stderr.lines().next().unwrap_or("").to_string();
    line.strip_prefix(&format!("{path}:"))
        .unwrap_or_else(|| panic!("not PATH:LINE:COL: {stderr}"))
        .to_string()
}

#[test]
fn bad_tls_configurations_are_reported_at_their_directive() {
    let good = cert(&["localhost"]);
    let other = cert(&["localhost"]);
    let files: &[(&str, &[u8])] = &[
        ("cert.pem", good.cert_pem.as_bytes()),
        ("key.pem", good.key_pem.as_bytes()),
        ("other.key", other.key_pem.as_bytes()),
        ("garbage.pem", b"this is not PEM\n"),
    ];
    let server = |cert: &str, key: &str| {
        format!(
            "server {{\n    listen 127.0.0.1:0 ssl;\n    ssl_certificate {cert};\n    \
             ssl_certificate_key {key};\n}}\n"
        )
    };
    let cases = [
        (
            server("missing.pem", "key.pem"),
            "3:21: cannot load certificate",
        ),
        (
            server("garbage.pem", "key.pem"),
            "3:21: cannot load certificate",
        ),
        (
            server("cert.pem", "garbage.pem"),
            "4:25: cannot load certificate key",
        ),
        (server("cert.pem", "other.key"), "4:25: certificate key"),
        (
            "server {\n    listen 127.0.0.1:0 ssl;\n}\n".to_string(),
            "2:12: no \"ssl_certificate\" is defined",
        ),
        (
            format!(
                "{}server {{\n    listen 127.0.0.1:0;\n}}\n",
                server("cert.pem", "key.pem")
            ),
            "7:12: \"listen 127.0.0.1:0\" conflicts with \"listen 127.0.0.1:0 ssl\"",
        ),
        (
            "server {\n    listen 127.0.0.1:0 tls;\n}\n".to_string(),
            "2:24: invalid parameter \"tls\"",
        ),
        (
            "server {\n    listen 127.0.0.1:0;\n    location / { ssl_certificate cert.pem; }\n}\n"
                .to_string(),
            "3:18: \"ssl_certificate\" directive is not allowed here",
        ),
    ];
    for (config, expected) in cases {
        let error = check_error(&config, files);
        assert!(
            error.starts_with(expected),
            "{error}\nexpected {expected}\n{config}"
        );
    }
    let (status, _, stderr) = {
        let dir = TempDir::new();
        for (path, contents) in files {
            dir.write(path, contents);
        }
        let path = dir.write("ok.conf", server("cert.pem", "key.pem").as_bytes());
        run_cli(&["-t", path.to_str().unwrap()], dir.path())
    };
    assert_eq!(status.code(), Some(0), "{stderr}");
}

#[test]
fn concurrent_clients_aborting_at_every_stage_leave_no_descriptor_behind() {
    let cert = cert(&["localhost"]);
    let server = tls_server(
        &cert,
        "    client_header_timeout 2s;",
        &[("www/a.txt", b"a")],
    );
    let baseline = server.settled_fd_count();
    let hello = client_hello(&cert);
    let addr = server.addr();
    let client = default_client(&[&cert]);
    std::thread::scope(|scope| {
        for i in 0..24 {
            let (hello, client) = (&hello, &client);
            scope.spawn(move || match i % 4 {
                // A whole exchange.
                0 => {
                    let mut conn = TlsConn::connect(addr, client, "localhost");
                    assert_eq!(conn.get("/a.txt").body, b"a");
                }
                // Half a hello, then a reset.
                1 => {
                    let mut stream = TcpStream::connect(addr).unwrap();
                    stream.write_all(&hello[..hello.len() / 3]).unwrap();
                    support::reset(stream);
                }
                // A handshake, a request sent, the connection reset before the answer is read.
                2 => {
                    let mut conn = TlsConn::connect(addr, client, "localhost");
                    conn.send(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
                    let StreamOwned { sock, .. } = conn.tls;
                    support::reset(sock);
                }
                // A handshake, then the socket closed without close_notify.
                _ => {
                    let conn = TlsConn::connect(addr, client, "localhost");
                    drop(conn);
                }
            });
        }
    });
    let count = server.wait_fd_count_at_most(baseline);
    assert!(
        count <= baseline,
        "{count} descriptors, {baseline} before: {:?}",
        server.fd_list()
    );
    let mut conn = TlsConn::connect(addr, &client, "localhost");
    assert_eq!(conn.get("/a.txt").body, b"a");
}

#[test]
fn expect_100_continue_and_a_close_delimited_cgi_answer_work_over_tls() {
    let cert = cert(&["localhost"]);
    let script = b"printf 'Content-Type: text/plain\\r\\n\\r\\n'\necho streamed\n";
    let server = tls_server(
        &cert,
        "    cgi .sh /bin/sh;\n    location /up {\n        allow_methods PUT;\n        \
         upload_store store;\n    }",
        &[("www/s.sh", script), ("store/", b"")],
    );
    let client = default_client(&[&cert]);
    let mut conn = TlsConn::connect(server.addr(), &client, "localhost");
    conn.send(
        b"PUT /up/a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    );
    assert_eq!(conn.read_response().status, 100);
    conn.send(b"hello");
    assert_eq!(conn.read_response().status, 201);
    assert_eq!(
        std::fs::read(server.dir.path().join("store/a.txt")).unwrap(),
        b"hello"
    );
    // HTTP/1.0 without a length from the script: the body ends with the connection, which
    // the server ends with close_notify (so the client can tell it from a truncation).
    let mut conn = TlsConn::connect(server.addr(), &client, "localhost");
    conn.send(b"GET /s.sh HTTP/1.0\r\n\r\n");
    while conn.fill() {}
    assert!(conn.tls.conn.received_close_notify_or_eof());
    let response = support::parse_one(&conn.buf);
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "streamed\n");
}

#[test]
fn a_failed_handshake_gets_an_alert_and_a_close() {
    let cert = cert(&["localhost"]);
    let server = Server::start(
        "workers 1;\naccess_log off;\nerror_log stderr info;\nserver {\n    \
         listen 127.0.0.1:0 ssl;\n    ssl_certificate cert.pem;\n    \
         ssl_certificate_key key.pem;\n    root www;\n}\n",
        &[
            ("cert.pem", cert.cert_pem.as_bytes()),
            ("key.pem", cert.key_pem.as_bytes()),
            ("www/a.txt", b"a"),
        ],
    );
    // A client that speaks only HTTP/3: no protocol in common (RFC 7301: a fatal alert).
    let config = client_config(&[&cert], rustls::ALL_VERSIONS, &[b"h3"]);
    let socket = TcpStream::connect(server.addr()).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = StreamOwned::new(ClientConnection::new(config, name).unwrap(), socket);
    let error = loop {
        match tls.conn.complete_io(&mut tls.sock) {
            Ok(_) if tls.conn.is_handshaking() => continue,
            Ok(_) => panic!("the handshake succeeded"),
            Err(error) => break error,
        }
    };
    assert!(
        error.to_string().contains("NoApplicationProtocol"),
        "{error}"
    );
    // And the server is still there for the next client.
    let mut conn = TlsConn::connect(server.addr(), &default_client(&[&cert]), "localhost");
    assert_eq!(conn.get("/a.txt").body, b"a");
    // The error log says why, at info (as nginx logs failed handshakes).
    let logged = wait_until(Duration::from_secs(5), || {
        server
            .stderr()
            .contains("TLS: peer doesn't support any known protocol, connection closed")
    });
    assert!(logged, "{}", server.stderr());
}

#[test]
fn the_spki_pin_helper_encodes_base64_as_rfc_4648_says() {
    let cases = [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ];
    for (plain, encoded) in cases {
        assert_eq!(support::tls::base64(plain.as_bytes()), encoded);
    }
}

#[test]
fn a_request_followed_by_close_notify_is_answered_then_closed_with_close_notify() {
    let cert = cert(&["localhost"]);
    let script = b"printf 'Content-Type: text/plain\\r\\n\\r\\n'\nsleep 0.2\ncat\necho done\n";
    // A long keep-alive wait: a close within seconds is the server's own decision.
    let server = tls_server(
        &cert,
        "    keepalive_timeout 60s;\n    allow_methods GET POST;\n    cgi .sh /bin/sh;",
        &[("www/a.txt", b"half closed\n"), ("www/s.sh", script)],
    );
    let cases: [(&[u8], &[u8]); 3] = [
        (b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", b"half closed\n"),
        // A script still running when close_notify comes is not taken as a departure.
        (b"GET /s.sh HTTP/1.1\r\nHost: x\r\n\r\n", b"done\n"),
        (
            b"POST /s.sh HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nbody\n",
            b"body\ndone\n",
        ),
    ];
    for ((request, body), version) in cases.iter().flat_map(|case| {
        [
            (case, &rustls::version::TLS13),
            (case, &rustls::version::TLS12),
        ]
    }) {
        let config = client_config(&[&cert], &[version], &[b"http/1.1"]);
        let mut conn = TlsConn::connect(server.addr(), &config, "localhost");
        // The request and close_notify in one flight, as `openssl s_client` sends them when
        // its input ends: the server reads both at once, and no later edge tells it the end.
        conn.tls.conn.writer().write_all(request).unwrap();
        conn.tls.conn.send_close_notify();
        conn.tls.flush().unwrap();
        conn.tls
            .sock
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let started = Instant::now();
        let response = conn.read_response();
        assert_eq!(response.body, *body, "{version:?}");
        // Then close_notify and the end of the stream, not a 60 s wait.
        while conn.fill() {}
        assert!(started.elapsed() < Duration::from_secs(5), "{version:?}");
        assert!(
            conn.tls.conn.received_close_notify_or_eof(),
            "{version:?}: no close_notify from the server"
        );
    }
}
