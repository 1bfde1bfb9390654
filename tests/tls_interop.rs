//! HTTPS against the TLS stacks of real clients: curl (OpenSSL), `openssl s_client`, wrk and
//! gnutls-cli (GnuTLS). `.ci/run` installs every one; elsewhere a missing tool's test records its
//! skip (`support::skip`).
//! Certificates are made at test time (rcgen): ECDSA P-256 and RSA 2048.

mod support;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::Duration;

use support::tls::{Cert, cert, rsa_cert, tls_server};
use support::{Parse, Response, Server, random_bytes, wait_timeout};

/// Any one client run, start to exit.
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// What a client run left: its exit status, stdout and stderr.
struct Run {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: String,
}

impl Run {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Whether `program` can be started here (its exit status does not matter).
fn installed(program: &str) -> bool {
    let found = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        support::skip::missing(&format!("{program} (.ci/run installs it)"));
    }
    found
}

/// Runs `program args` in `cwd` with `input` on its stdin (then closed), within
/// [`TOOL_TIMEOUT`].
fn run(program: &str, args: &[&str], cwd: &Path, input: &[u8]) -> Run {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {program}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let feeder = thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let err = thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    });
    let Some(status) = wait_timeout(&mut child, TOOL_TIMEOUT) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{program} {args:?} did not finish in {TOOL_TIMEOUT:?}");
    };
    let _ = feeder.join();
    Run {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// curl with the certificate as its only CA, `localhost` resolved to the server.
fn curl(server: &Server, args: &[&str]) -> Run {
    let resolve = format!("localhost:{}:127.0.0.1", server.port());
    let mut all = vec![
        "-sS",
        "-v",
        "--max-time",
        "30",
        "--cacert",
        "cert.pem",
        "--resolve",
        &resolve,
    ];
    all.extend_from_slice(args);
    run("curl", &all, server.dir.path(), b"")
}

fn url(server: &Server, path: &str) -> String {
    format!("https://localhost:{}{path}", server.port())
}

/// The verbose line saying which protocol and cipher curl's TLS library agreed on.
fn curl_tls_line(stderr: &str) -> &str {
    stderr
        .lines()
        .find(|l| l.contains("SSL connection using"))
        .unwrap_or_else(|| panic!("no 'SSL connection using' in:\n{stderr}"))
}

/// curl's verbose output says the server chose ALPN http/1.1 (curl 7.8x: "ALPN: server
/// accepted http/1.1"; older: "ALPN, server accepted to use http/1.1").
fn curl_alpn_accepted(stderr: &str) -> bool {
    stderr
        .lines()
        .any(|l| l.contains("ALPN") && l.contains("server accepted") && l.contains("http/1.1"))
}

#[test]
fn curl_speaks_tls_1_2_and_1_3_and_reuses_the_connection_for_two_files() {
    if !installed("curl") {
        return;
    }
    let cert = cert(&["localhost"]);
    let big = random_bytes(1 << 20, 3);
    let server = tls_server(
        &cert,
        "",
        &[("www/a.txt", b"first\n"), ("www/big.bin", &big)],
    );
    for (flags, protocol) in [
        (&["--tlsv1.2", "--tls-max", "1.2"][..], "TLSv1.2"),
        (&["--tlsv1.3"][..], "TLSv1.3"),
    ] {
        let mut args = vec!["--http1.1"];
        args.extend_from_slice(flags);
        let (a, b) = (url(&server, "/a.txt"), url(&server, "/big.bin"));
        args.extend_from_slice(&[&a, "-o", "a.out", &b, "-o", "big.out"]);
        let run = curl(&server, &args);
        assert!(run.status.success(), "{}", run.stderr);
        let line = curl_tls_line(&run.stderr);
        assert!(line.contains(protocol), "{line}");
        assert!(curl_alpn_accepted(&run.stderr), "{}", run.stderr);
        // The second file came on the same TLS connection (keep-alive).
        assert!(
            run.stderr.contains("Re-using existing connection"),
            "{}",
            run.stderr
        );
        let dir = server.dir.path();
        assert_eq!(std::fs::read(dir.join("a.out")).unwrap(), b"first\n");
        assert!(
            std::fs::read(dir.join("big.out")).unwrap() == big,
            "big.bin differs"
        );
    }
}

#[test]
fn curl_http_1_0_offering_alpn_http_1_0_only_is_served() {
    if !installed("curl") {
        return;
    }
    let cert = cert(&["localhost"]);
    let server = tls_server(&cert, "", &[("www/a.txt", b"http/1.0 over tls\n")]);
    let target = url(&server, "/a.txt");
    let run = curl(&server, &["--http1.0", &target]);
    assert!(run.status.success(), "{}", run.stderr);
    assert!(
        run.stderr.contains("ALPN: offers http/1.0")
            || run.stderr.contains("ALPN, offering http/1.0"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, b"http/1.0 over tls\n");
}

#[test]
fn curl_pinning_the_spki_hash_accepts_the_server_key_and_refuses_another() {
    if !installed("curl") {
        return;
    }
    // The same pin the browser test gives Chromium, checked by an independent implementation.
    let ecdsa = cert(&["localhost"]);
    let rsa = rsa_cert(&["localhost"]);
    let other = cert(&["localhost"]);
    for served in [Some(&ecdsa), rsa.as_ref()].into_iter().flatten() {
        let server = tls_server(served, "", &[("www/a.txt", b"pinned\n")]);
        let target = url(&server, "/a.txt");
        let pin = format!("sha256//{}", served.spki_sha256_base64());
        let run = curl(&server, &["--pinnedpubkey", &pin, &target]);
        assert!(run.status.success(), "{}", run.stderr);
        assert_eq!(run.stdout, b"pinned\n");
        let wrong = format!("sha256//{}", other.spki_sha256_base64());
        let run = curl(&server, &["--pinnedpubkey", &wrong, &target]);
        // 90: SSL public key does not match pinned public key.
        assert_eq!(run.status.code(), Some(90), "{}", run.stderr);
    }
}

#[test]
fn curl_uploads_with_expect_100_continue_over_tls_1_2() {
    if !installed("curl") {
        return;
    }
    let cert = cert(&["localhost"]);
    let server = tls_server(
        &cert,
        "    location /up {\n        allow_methods PUT;\n        upload_store store;\n        \
         client_max_body_size 10m;\n    }",
        &[("store/", b"")],
    );
    let data = random_bytes(3 << 20, 9);
    std::fs::write(server.dir.path().join("upload.bin"), &data).unwrap();
    let target = url(&server, "/up/upload.bin");
    let run = curl(
        &server,
        &[
            // 100 Continue is HTTP/1.1's (curl would choose h2 by ALPN).
            "--http1.1",
            "--tlsv1.2",
            "--tls-max",
            "1.2",
            "-H",
            "Expect: 100-continue",
            "-T",
            "upload.bin",
            "-w",
            "%{http_code}",
            "-o",
            "/dev/null",
            &target,
        ],
    );
    assert!(run.status.success(), "{}", run.stderr);
    assert!(
        run.stderr.contains("HTTP/1.1 100 Continue"),
        "{}",
        run.stderr
    );
    assert_eq!(run.text(), "201");
    let stored = std::fs::read(server.dir.path().join("store/upload.bin")).unwrap();
    assert!(stored == data, "the stored file differs");
}

/// What `openssl s_client` reported about one exchange.
struct Handshake {
    /// "TLSv1.3", "TLSv1.2".
    protocol: String,
    /// "New" or "Reused".
    session: String,
    alpn: String,
    verified: bool,
    /// "ECDSA", "RSA-PSS": how the server signed the handshake (none when resumed).
    signature: Option<String>,
    /// The HTTP response found in s_client's output.
    response: Response,
}

/// `openssl s_client` to the server with SNI `name`, trusting `ca` (a file in the server's
/// directory), sending one request that closes; `extra` flags (`-tls1_2`, `-sess_out F`, ...).
fn s_client(server: &Server, ca: &str, name: &str, extra: &[&str]) -> Handshake {
    let connect = format!("127.0.0.1:{}", server.port());
    let mut args = vec![
        "s_client",
        "-connect",
        &connect,
        "-servername",
        name,
        "-CAfile",
        ca,
        "-verify_return_error",
        "-alpn",
        "http/1.1",
        // Stdin's end does not end the session: the server's close after the answer does.
        "-ign_eof",
    ];
    args.extend_from_slice(extra);
    let request = format!("GET /a.txt HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n");
    let run = run("openssl", &args, server.dir.path(), request.as_bytes());
    let out = run.text();
    assert!(run.status.success(), "{out}\n{}", run.stderr);
    let find = |prefix: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .map(|v| v.trim().to_string())
    };
    let field = |prefix: &str| {
        find(prefix).unwrap_or_else(|| panic!("no {prefix:?} in:\n{out}\n{}", run.stderr))
    };
    // "New, TLSv1.3, Cipher is TLS_AES_128_GCM_SHA256"
    let summary = out
        .lines()
        .find(|l| l.starts_with("New, ") || l.starts_with("Reused, "))
        .unwrap_or_else(|| panic!("no session line in:\n{out}"));
    let mut parts = summary.split(", ");
    let session = parts.next().unwrap_or("").to_string();
    let protocol = parts.next().unwrap_or("").to_string();
    // The answer, followed by whatever s_client prints after it (tickets, "closed").
    let start = out
        .find("HTTP/1.1 ")
        .unwrap_or_else(|| panic!("no response in:\n{out}"));
    let response = match support::parse_response(&run.stdout[start..], false, false) {
        Parse::Complete(response, _) => response,
        _ => panic!("no complete response in:\n{out}"),
    };
    Handshake {
        protocol,
        session,
        alpn: field("ALPN protocol:"),
        verified: field("Verify return code:") == "0 (ok)",
        signature: find("Peer signature type:"),
        response,
    }
}

/// Two servers on one TLS address: localhost (ECDSA P-256, the default) and rsa.test (RSA 2048).
fn two_certificate_server(ecdsa: &Cert, rsa: &Cert) -> Server {
    let config = "workers 1;\naccess_log off;\n\
        server {\n listen 127.0.0.1:0 ssl;\n server_name localhost;\n ssl_certificate ec.pem;\n \
        ssl_certificate_key ec.key;\n root ec;\n}\n\
        server {\n listen 127.0.0.1:0 ssl;\n server_name rsa.test;\n ssl_certificate rsa.pem;\n \
        ssl_certificate_key rsa.key;\n root rsa;\n}\n";
    Server::start(
        config,
        &[
            ("ec.pem", ecdsa.cert_pem.as_bytes()),
            ("ec.key", ecdsa.key_pem.as_bytes()),
            ("rsa.pem", rsa.cert_pem.as_bytes()),
            ("rsa.key", rsa.key_pem.as_bytes()),
            ("ec/a.txt", b"site ec\n"),
            ("rsa/a.txt", b"site rsa\n"),
        ],
    )
}

#[test]
fn openssl_s_client_handshakes_with_ecdsa_and_rsa_by_sni_over_tls_1_2_and_1_3() {
    if !installed("openssl") {
        return;
    }
    let ecdsa = cert(&["localhost"]);
    let Some(rsa) = rsa_cert(&["rsa.test"]) else {
        support::skip::unavailable("rcgen cannot generate RSA keys in this build");
        return;
    };
    let server = two_certificate_server(&ecdsa, &rsa);
    for version in ["-tls1_3", "-tls1_2"] {
        for (name, ca, signature, body) in [
            ("localhost", "ec.pem", "ECDSA", "site ec\n"),
            ("rsa.test", "rsa.pem", "RSA-PSS", "site rsa\n"),
        ] {
            let what = format!("{name} {version}");
            let hs = s_client(&server, ca, name, &[version]);
            let expected = if version == "-tls1_3" {
                "TLSv1.3"
            } else {
                "TLSv1.2"
            };
            assert_eq!(hs.protocol, expected, "{what}");
            assert_eq!(hs.alpn, "http/1.1", "{what}");
            // Verified against that name's certificate alone: SNI chose it.
            assert!(hs.verified, "{what}: the certificate did not verify");
            assert_eq!(hs.signature.as_deref(), Some(signature), "{what}");
            assert_eq!(hs.response.status, 200, "{what}");
            assert_eq!(hs.response.text(), body, "{what}");
        }
    }
}

#[test]
fn openssl_s_client_resumes_sessions_by_ticket_and_by_id() {
    if !installed("openssl") {
        return;
    }
    let cert = cert(&["localhost"]);
    let server = tls_server(&cert, "", &[("www/a.txt", b"resumed\n")]);
    // TLS 1.3 tickets, TLS 1.2 tickets, TLS 1.2 session ids (the server's session cache).
    for flags in [&["-tls1_3"][..], &["-tls1_2"], &["-tls1_2", "-no_ticket"]] {
        let mut first = flags.to_vec();
        first.extend_from_slice(&["-sess_out", "session.pem"]);
        let hs = s_client(&server, "cert.pem", "localhost", &first);
        assert_eq!(hs.session, "New", "{flags:?}");
        let mut again = flags.to_vec();
        again.extend_from_slice(&["-sess_in", "session.pem"]);
        let hs = s_client(&server, "cert.pem", "localhost", &again);
        assert_eq!(hs.session, "Reused", "{flags:?}");
        assert_eq!(hs.response.text(), "resumed\n", "{flags:?}");
    }
}

/// wrk's summary: (requests, the error lines it printed).
fn wrk(server: &Server, args: &[&str]) -> (u64, Vec<String>) {
    let target = format!("https://127.0.0.1:{}/a.txt", server.port());
    let mut all = args.to_vec();
    all.push(&target);
    let run = run("wrk", &all, server.dir.path(), b"");
    let out = run.text();
    assert!(run.status.success(), "{out}\n{}", run.stderr);
    eprintln!("wrk {args:?}:\n{out}");
    // "  12345 requests in 3.00s, 1.00MB read"
    let requests = out
        .lines()
        .find_map(|l| {
            l.trim()
                .split_once(" requests in ")
                .map(|(n, _)| n.to_string())
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no request count in:\n{out}"));
    let errors = out
        .lines()
        .filter(|l| l.contains("Socket errors") || l.contains("Non-2xx"))
        .map(str::to_string)
        .collect();
    (requests, errors)
}

#[test]
fn wrk_over_https_has_no_errors_with_keep_alive_or_a_handshake_per_request() {
    if !installed("wrk") {
        return;
    }
    let cert = cert(&["localhost", "127.0.0.1"]);
    let server = Server::start(
        "workers 2;\naccess_log off;\nserver {\n    listen 127.0.0.1:0 ssl;\n    \
         ssl_certificate cert.pem;\n    ssl_certificate_key key.pem;\n    root www;\n}\n",
        &[
            ("cert.pem", cert.cert_pem.as_bytes()),
            ("key.pem", cert.key_pem.as_bytes()),
            ("www/a.txt", &[b'a'; 1024]),
        ],
    );
    let (requests, errors) = wrk(&server, &["-t2", "-c32", "-d2s"]);
    assert!(requests > 100, "{requests} requests");
    assert!(errors.is_empty(), "{errors:?}");
    // A new connection, so a full handshake, per request.
    let (requests, errors) = wrk(&server, &["-t1", "-c8", "-d2s", "-H", "Connection: close"]);
    assert!(requests > 20, "{requests} requests");
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn gnutls_cli_handshakes_over_tls_1_2_and_1_3_and_sees_close_notify() {
    // A third TLS implementation (GnuTLS), where gnutls-bin is installed.
    if !installed("gnutls-cli") {
        return;
    }
    let cert = support::tls::ca_cert(&["localhost"]);
    let server = tls_server(&cert, "", &[("www/a.txt", b"gnutls\n")]);
    let port = server.port().to_string();
    for (priority, version) in [
        ("NORMAL:-VERS-ALL:+VERS-TLS1.3", "TLS1.3"),
        ("NORMAL:-VERS-ALL:+VERS-TLS1.2", "TLS1.2"),
    ] {
        let request = b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        let run = run(
            "gnutls-cli",
            &[
                "--x509cafile",
                "cert.pem",
                "--priority",
                priority,
                "--alpn",
                "http/1.1",
                "-p",
                &port,
                "localhost",
            ],
            server.dir.path(),
            request,
        );
        let out = run.text();
        assert!(
            run.status.success(),
            "{}: {out}\n{}",
            run.status,
            run.stderr
        );
        // Its reports go to stdout or stderr depending on the version.
        let all = format!("{out}\n{}", run.stderr);
        // "- Description: (TLS1.3-X.509)-(ECDHE-SECP256R1)-(ECDSA-SECP256R1-SHA256)-(AES-128-GCM)"
        assert!(
            all.contains(&format!("- Description: ({version}-X.509)")),
            "{all}"
        );
        let start = out
            .find("HTTP/1.1 ")
            .unwrap_or_else(|| panic!("no response in:\n{all}"));
        let Parse::Complete(response, _) =
            support::parse_response(&run.stdout[start..], false, false)
        else {
            panic!("no complete response in:\n{all}");
        };
        assert_eq!(response.status, 200, "{all}");
        assert_eq!(response.body, b"gnutls\n", "{all}");
        // The server ended the session with close_notify, not a bare close.
        assert!(
            all.contains("Peer has closed the GnuTLS connection"),
            "{all}"
        );
    }
}
