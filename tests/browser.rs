//! A real browser against the demo site: headless Chromium loads pages served from the
//! repository's www/ and prints the DOM it built, over plain HTTP and over HTTPS (a certificate
//! made at test time, which Chromium trusts by its SPKI pin and nothing else). `.ci/run` installs
//! Chromium; elsewhere a machine without /usr/bin/chromium records the skip (`support::skip`).
//! The full browser check of the site
//! (every page, the CGI demos, uploads, caching) is `tests/browser/check_site.py`.

mod support;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::tls::{Cert, cert, rsa_cert};
use support::{Server, TempDir, wait_timeout};

const CHROMIUM: &str = "/usr/bin/chromium";
/// The whole browser run, start to exit.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

/// The repository's www/ served read-only, with the demo configuration's 404 page and listing.
fn demo_site() -> Server {
    let www = Path::new(env!("CARGO_MANIFEST_DIR")).join("www");
    Server::start(
        &format!(
            "workers 1;\naccess_log access.log;\nserver {{\n    listen 127.0.0.1:0;\n\
             root \"{}\";\n    error_page 404 /errors/404.html;\n\
             location /files {{ autoindex on; }}\n}}\n",
            www.display()
        ),
        &[],
    )
}

/// The demo site over HTTPS only (certificate `cert`), with the demo's CGI directory and a
/// `/probe` location (files of the test's own, with `add_header` and `expires`).
fn demo_site_over_tls(cert: &Cert, probe: &[(&str, &[u8])]) -> Server {
    let www = Path::new(env!("CARGO_MANIFEST_DIR")).join("www");
    let config = format!(
        "workers 1;\naccess_log access.log;\nerror_log stderr info;\n\
         server {{\n    listen 127.0.0.1:0 ssl;\n    ssl_certificate cert.pem;\n    ssl_certificate_key key.pem;\n    root \"{www}\";\n    \
         error_page 404 /errors/404.html;\n    location /files {{ autoindex on; }}\n    \
         location /cgi-bin {{ cgi .sh /bin/sh; }}\n    location /probe/ {{\n        \
         alias probe/;\n        add_header X-Probe \"over TLS\";\n        expires 1h;\n    }}\n}}\n",
        www = www.display()
    );
    let mut files: Vec<(String, &[u8])> = vec![
        ("cert.pem".into(), cert.cert_pem.as_bytes()),
        ("key.pem".into(), cert.key_pem.as_bytes()),
    ];
    files.extend(
        probe
            .iter()
            .map(|(name, data)| (format!("probe/{name}"), *data)),
    );
    let files: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (n.as_str(), *d)).collect();
    Server::start(&config, &files)
}

/// The DOM of `url` after its load event, as Chromium serialises it (`--dump-dom`).
fn dump_dom(url: &str) -> String {
    dump_dom_with(url, &[]).0
}

/// As [`dump_dom`], with more command-line flags for Chromium; also Chromium's stderr (where
/// it logs failed loads, e.g. `net::ERR_CERT_AUTHORITY_INVALID`).
fn dump_dom_with(url: &str, flags: &[String]) -> (String, String) {
    let profile = TempDir::new();
    let started = Instant::now();
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(flags)
        .args(["--dump-dom", url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let status = match wait_timeout(&mut child, BROWSER_TIMEOUT) {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not finish in {BROWSER_TIMEOUT:?}:\n{}",
                err.join().unwrap()
            );
        }
    };
    let dom = out.join().unwrap();
    let log = err.join().unwrap();
    assert!(status.success(), "chromium: {status}\n{log}");
    eprintln!("chromium --dump-dom {url}: {:?}", started.elapsed());
    (dom, log)
}

/// The access log once it has `lines` lines (the server writes it after each batch of events).
fn access_log(server: &Server, lines: usize) -> String {
    let path = server.dir.path().join("access.log");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.lines().count() >= lines || Instant::now() > deadline {
            return text;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn chromium_renders_the_home_page_with_its_stylesheet_and_icon() {
    if !Path::new(CHROMIUM).exists() {
        support::skip::missing("Chromium (Debian package chromium: /usr/bin/chromium)");
        return;
    }
    let server = demo_site();
    let base = format!("http://{}", server.addr());

    let dom = dump_dom(&format!("{base}/"));
    assert!(
        dom.contains("<title>webserv: an HTTP/1.1 server in Rust</title>"),
        "{dom}"
    );
    assert!(dom.contains(r#"<a href="/files/">Files</a>"#), "{dom}");
    assert!(
        dom.contains(r#"<a class="go" href="/upload.html">"#),
        "{dom}"
    );

    // The browser fetched the page, its stylesheet and its icon, all successfully.
    let log = access_log(&server, 3);
    for path in ["/", "/style.css", "/favicon.svg"] {
        assert!(
            log.lines()
                .any(|l| l.contains(&format!("\"GET {path} HTTP/1.1\" 200 "))),
            "no 200 for {path} in the access log:\n{log}"
        );
    }
    assert!(
        !log.lines()
            .any(|l| l.contains("\" 4") || l.contains("\" 5")),
        "{log}"
    );
}

#[test]
fn chromium_follows_the_directory_redirect_and_the_404_page() {
    if !Path::new(CHROMIUM).exists() {
        support::skip::missing("Chromium (Debian package chromium: /usr/bin/chromium)");
        return;
    }
    let server = demo_site();
    let base = format!("http://{}", server.addr());

    // /files/docs (no slash) is redirected to /files/docs/, whose index.html is shown.
    let dom = dump_dom(&format!("{base}/files/docs"));
    assert!(
        dom.contains("<h1>A subdirectory with an index file</h1>"),
        "{dom}"
    );
    // A missing page shows the configured error page.
    let dom = dump_dom(&format!("{base}/no-such-page"));
    assert!(
        dom.contains("<title>404 Not Found · webserv</title>"),
        "{dom}"
    );

    let log = access_log(&server, 3);
    assert!(log.contains("\"GET /files/docs HTTP/1.1\" 301 "), "{log}");
    assert!(log.contains("\"GET /files/docs/ HTTP/1.1\" 200 "), "{log}");
    assert!(log.contains("\"GET /no-such-page HTTP/1.1\" 404 "), "{log}");
}

/// Chromium's flag trusting exactly the certificate whose key is `cert`'s (by SPKI SHA-256).
fn trust(cert: &Cert) -> String {
    format!(
        "--ignore-certificate-errors-spki-list={}",
        cert.spki_sha256_base64()
    )
}

/// A page that fetches /probe/data.txt (synchronous XHR: done before the load event, so in the
/// dumped DOM) and shows its status, two response fields and its body.
const PROBE_PAGE: &[u8] = br#"<!DOCTYPE html><title>probe</title><pre id="out"></pre><script>
var x = new XMLHttpRequest();
x.open("GET", "/probe/data.txt", false);
x.send();
document.getElementById("out").textContent = "status=" + x.status + "|x-probe=" +
    x.getResponseHeader("X-Probe") + "|cache-control=" + x.getResponseHeader("Cache-Control") +
    "|body=" + x.responseText;
</script>"#;

#[test]
fn chromium_renders_the_home_page_over_https_trusting_only_the_test_certificate() {
    if !Path::new(CHROMIUM).exists() {
        support::skip::missing("Chromium (Debian package chromium: /usr/bin/chromium)");
        return;
    }
    let names = ["localhost", "127.0.0.1"];
    // ECDSA P-256 over HTTP/2 (ALPN h2, Chromium's choice), then RSA 2048 (where rcgen can
    // make the key) with Chromium's HTTP/2 turned off: HTTP/1.1 over TLS.
    home_page_over_https(&cert(&names), Protocol::Http2);
    if let Some(cert) = rsa_cert(&names) {
        home_page_over_https(&cert, Protocol::Http1);
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Protocol {
    Http1,
    Http2,
}

fn home_page_over_https(cert: &Cert, protocol: Protocol) {
    let server = demo_site_over_tls(cert, &[]);
    assert!(server.stderr().contains("listening on https://"));
    let base = format!("https://127.0.0.1:{}", server.port());

    let mut flags = vec![trust(cert)];
    if protocol == Protocol::Http1 {
        flags.push("--disable-http2".to_string());
    }
    let (dom, log) = dump_dom_with(&format!("{base}/"), &flags);
    assert!(!log.contains("handshake failed"), "{log}");
    assert!(
        dom.contains("<title>webserv: an HTTP/1.1 server in Rust</title>"),
        "{dom}"
    );
    assert!(dom.contains(r#"<a href="/files/">Files</a>"#), "{dom}");

    // The page, its stylesheet and its icon all came over TLS (the only listener), all 200,
    // in the protocol Chromium was let to choose.
    let log = access_log(&server, 3);
    let version = match protocol {
        Protocol::Http1 => "HTTP/1.1",
        Protocol::Http2 => "HTTP/2.0",
    };
    for path in ["/", "/style.css", "/favicon.svg"] {
        assert!(
            log.lines()
                .any(|l| l.contains(&format!("\"GET {path} {version}\" 200 "))),
            "no {version} 200 for {path} in the access log:\n{log}"
        );
    }
    assert!(
        !log.lines()
            .any(|l| l.contains("\" 4") || l.contains("\" 5")),
        "{log}"
    );
}

#[test]
fn chromium_refuses_the_https_site_when_the_pin_is_another_key() {
    if !Path::new(CHROMIUM).exists() {
        support::skip::missing("Chromium (Debian package chromium: /usr/bin/chromium)");
        return;
    }
    let served = cert(&["localhost", "127.0.0.1"]);
    let other = cert(&["localhost", "127.0.0.1"]);
    let server = demo_site_over_tls(&served, &[]);
    let (dom, log) = dump_dom_with(
        &format!("https://127.0.0.1:{}/", server.port()),
        &[trust(&other)],
    );
    // The pin is a real check: Chromium reached the server, saw a self-signed certificate the
    // pin does not name, and loaded nothing.
    assert!(log.contains("net::ERR_CERT_AUTHORITY_INVALID"), "{log}");
    assert!(!dom.contains("<title>webserv"), "{dom}");
    // And the server logged why (at info): Chromium's alert.
    let stderr = server.stderr();
    assert!(
        stderr.contains("TLS: received fatal alert: CertificateUnknown, connection closed"),
        "{stderr}"
    );
    thread::sleep(Duration::from_millis(300));
    let log = std::fs::read_to_string(server.dir.path().join("access.log")).unwrap_or_default();
    assert!(log.is_empty(), "requests reached the server:\n{log}");
}

#[test]
fn chromium_gets_cgi_output_and_add_header_expires_fields_intact_over_https() {
    if !Path::new(CHROMIUM).exists() {
        support::skip::missing("Chromium (Debian package chromium: /usr/bin/chromium)");
        return;
    }
    let cert = cert(&["localhost", "127.0.0.1"]);
    let data = "x".repeat(40_000) + "end";
    let server = demo_site_over_tls(
        &cert,
        &[("page.html", PROBE_PAGE), ("data.txt", data.as_bytes())],
    );
    let base = format!("https://127.0.0.1:{}", server.port());

    // The demo's CGI environment page: the script knew it ran under HTTPS.
    let (dom, _) = dump_dom_with(&format!("{base}/cgi-bin/info.sh"), &[trust(&cert)]);
    assert!(dom.contains("CGI environment of /cgi-bin/info.sh"), "{dom}");
    assert!(dom.contains("HTTPS=on"), "{dom}");
    assert!(dom.contains("REQUEST_SCHEME=https"), "{dom}");

    // A static file (several TLS records) with the location's add_header and expires fields,
    // as the browser's own XHR saw them.
    let (dom, _) = dump_dom_with(&format!("{base}/probe/page.html"), &[trust(&cert)]);
    let expected =
        format!("status=200|x-probe=over TLS|cache-control=max-age=3600|body={data}</pre>");
    assert!(dom.contains(&expected), "{dom}");
}
