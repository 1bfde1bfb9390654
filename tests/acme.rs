//! Automatic HTTPS against the real thing: Debian's `pebble` (Let's Encrypt's test CA) with
//! `pebble-challtestsrv` as its DNS server, both started here on ports reserved at test time.
//! Certificates are verified with `curl --cacert` (pebble's root from its management port) or
//! a rustls client trusting only that root. `.ci/run` installs pebble; elsewhere a machine
//! without it records each test's skip (`support::skip`).

mod support;

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use support::pebble::{self, Options, Pebble, client_config, free_ports, https_get, wait_for_log};
use support::{Server, TempDir, run_cli};

/// Longest wait for a certificate (pebble validates at once; the machine is shared and busy).
const ISSUANCE: Duration = Duration::from_secs(60);

/// `curl --cacert root.pem` to `https://NAME:PORT/` resolved to 127.0.0.1: the body, or the
/// error.
fn curl_verified(dir: &Path, name: &str, port: u16) -> Result<String, String> {
    let output = Command::new("curl")
        .args([
            "-sS",
            "--fail",
            "--max-time",
            "20",
            "--cacert",
            "root.pem",
            "--resolve",
            &format!("{name}:{port}:127.0.0.1"),
            &format!("https://{name}:{port}/"),
        ])
        .current_dir(dir)
        .output()
        .expect("run curl");
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// The subject of the certificate served for `name` (no verification), as OpenSSL prints it.
fn served_subject(port: u16, name: &str) -> String {
    let shell = format!(
        "openssl s_client -connect 127.0.0.1:{port} -servername {name} </dev/null 2>/dev/null \
         | openssl x509 -noout -subject"
    );
    let output = Command::new("sh")
        .args(["-c", &shell])
        .output()
        .expect("run openssl");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Copies the regular files of `from` into `to` (created).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// A directory with the test site and pebble's certificate, for a server.
fn site(pebble_cert: &str, files: &[(&str, &str)]) -> TempDir {
    let dir = TempDir::new();
    dir.write("pebble.pem", pebble_cert.as_bytes());
    for (path, contents) in files {
        dir.write(path, contents.as_bytes());
    }
    dir
}

#[test]
fn two_names_are_certified_through_http01_and_one_through_tls_alpn01_and_a_restart_reuses_them() {
    if !pebble::installed() {
        return;
    }
    let ports = free_ports(2);
    let (http, https) = (ports[0], ports[1]);
    let pebble = Pebble::start(Options {
        http_port: http,
        tls_port: https,
        validity: None,
        acme_port: None,
        tls: None,
    });
    // The plain server redirects everything: HTTP-01 is answered before it.
    let config = format!(
        "workers 2;\nerror_log stderr info;\naccess_log off;\n{}{}\
         server {{\n    listen 127.0.0.1:{http};\n    server_name a.webserv.test;\n    \
         return 301 https://$host$request_uri;\n}}\n\
         server {{\n    listen 127.0.0.1:{https} ssl;\n    \
         server_name a.webserv.test www.webserv.test;\n    acme_certificate by-http;\n    \
         root www;\n}}\n\
         server {{\n    listen 127.0.0.1:{https} ssl;\n    server_name b.webserv.test;\n    \
         acme_certificate by-alpn;\n    root www-b;\n}}\n",
        pebble.issuer("by-http", "state-http", "challenge http-01;"),
        pebble.issuer("by-alpn", "state-alpn", "challenge tls-alpn-01;"),
    );
    let dir = site(
        &pebble.tls_cert_pem,
        &[
            ("www/index.html", "site a\n"),
            ("www-b/index.html", "site b\n"),
        ],
    );
    let server = Server::launch(dir, &config, |_| {});
    let log = wait_for_log(&server, "installed", 2, ISSUANCE);
    for step in [
        "answering http-01 for a.webserv.test",
        "answering http-01 for www.webserv.test",
        "answering tls-alpn-01 for b.webserv.test",
        "certificate for a.webserv.test, www.webserv.test installed",
        "certificate for b.webserv.test installed",
        "serving a temporary self-signed one",
    ] {
        assert!(log.contains(step), "no {step:?} in:\n{log}");
    }
    server.dir.write("root.pem", pebble.root_pem().as_bytes());
    for (name, body) in [
        ("a.webserv.test", "site a\n"),
        ("www.webserv.test", "site a\n"),
        ("b.webserv.test", "site b\n"),
    ] {
        assert_eq!(
            curl_verified(server.dir.path(), name, https).as_deref(),
            Ok(body),
            "{name}"
        );
    }
    let state = server.dir.path().join("state-http");
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&state.join("account.key")), 0o600);
    assert_eq!(mode(&state.join("a.webserv.test.pem")), 0o600);
    let stored = std::fs::read(state.join("a.webserv.test.pem")).unwrap();

    // A restart on the same state directories serves what is stored and orders nothing.
    let mut server = server;
    assert!(server.terminate().is_some_and(|s| s.success()));
    let again = TempDir::new();
    for sub in ["state-http", "state-alpn"] {
        copy_dir(&server.dir.path().join(sub), &again.path().join(sub));
    }
    for file in [
        "pebble.pem",
        "root.pem",
        "www/index.html",
        "www-b/index.html",
    ] {
        let contents = std::fs::read(server.dir.path().join(file)).unwrap();
        again.write(file, &contents);
    }
    let restarted = Server::launch(again, &config, |_| {});
    let log = wait_for_log(&restarted, "serving the stored certificate", 2, ISSUANCE);
    assert!(!log.contains("ordering"), "{log}");
    for name in ["a.webserv.test", "b.webserv.test"] {
        assert!(curl_verified(restarted.dir.path(), name, https).is_ok());
    }
    thread::sleep(Duration::from_millis(500));
    let state = restarted.dir.path().join("state-http");
    assert_eq!(
        std::fs::read(state.join("a.webserv.test.pem")).unwrap(),
        stored
    );
    assert!(!restarted.stderr().contains("ordering"));
}

#[test]
fn a_renewal_under_load_swaps_the_certificate_without_a_failed_request() {
    if !pebble::installed() {
        return;
    }
    let ports = free_ports(2);
    let (http, https) = (ports[0], ports[1]);
    // Renewal at two thirds of 12 s.
    let pebble = Pebble::start(Options {
        http_port: http,
        tls_port: https,
        validity: Some(12),
        acme_port: None,
        tls: None,
    });
    let config = format!(
        "workers 2;\nerror_log stderr info;\naccess_log off;\n{}\
         server {{\n    listen 127.0.0.1:{http};\n}}\n\
         server {{\n    listen 127.0.0.1:{https} ssl;\n    server_name r.webserv.test;\n    \
         acme_certificate ca;\n    root www;\n}}\n",
        pebble.issuer("ca", "state", "challenge http-01;"),
    );
    let dir = site(&pebble.tls_cert_pem, &[("www/index.html", "renewed\n")]);
    let server = Server::launch(dir, &config, |_| {});
    wait_for_log(&server, "installed", 1, ISSUANCE);
    let client = client_config(&pebble.root_pem());
    let addr = format!("127.0.0.1:{https}").parse().unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, seen, failures, requests, client) = (
                Arc::clone(&stop),
                Arc::clone(&seen),
                Arc::clone(&failures),
                Arc::clone(&requests),
                Arc::clone(&client),
            );
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match https_get(&client, addr, "r.webserv.test") {
                        Ok((200, leaf)) => {
                            seen.lock().unwrap().insert(leaf);
                        }
                        Ok((status, _)) => failures.lock().unwrap().push(format!("{status}")),
                        Err(e) => failures.lock().unwrap().push(e),
                    }
                    requests.fetch_add(1, Ordering::Relaxed);
                    thread::sleep(Duration::from_millis(20));
                }
            })
        })
        .collect();
    // The load runs until a renewal is installed and a moment after, 40 s at most.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(40)
        && server.stderr().matches("installed").count() < 2
    {
        thread::sleep(Duration::from_millis(100));
    }
    thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let log = server.stderr();
    assert!(
        log.contains("renewing a certificate for r.webserv.test"),
        "{log}"
    );
    assert!(log.matches("installed").count() >= 2, "{log}");
    let failures = failures.lock().unwrap();
    assert!(failures.is_empty(), "failed requests: {failures:?}");
    assert!(requests.load(Ordering::Relaxed) > 20);
    assert!(
        seen.lock().unwrap().len() >= 2,
        "every request saw the same certificate"
    );
}

#[test]
fn the_server_serves_while_the_ca_is_down_and_gets_its_certificate_once_it_is_up() {
    if !pebble::installed() {
        return;
    }
    let ports = free_ports(3);
    let (http, https, acme) = (ports[0], ports[1], ports[2]);
    let tls = support::tls::cert(&["localhost", "127.0.0.1"]);
    let config = format!(
        "workers 1;\nerror_log stderr info;\naccess_log off;\n\
         acme_issuer ca {{\n    uri https://127.0.0.1:{acme}/dir;\n    state_path state;\n    \
         accept_terms_of_service;\n    ssl_trusted_certificate pebble.pem;\n}}\n\
         server {{\n    listen 127.0.0.1:{http};\n    root www;\n}}\n\
         server {{\n    listen 127.0.0.1:{https} ssl;\n    server_name d.webserv.test;\n    \
         acme_certificate ca;\n    root www;\n}}\n"
    );
    let dir = site(&tls.cert_pem, &[("www/index.html", "up\n")]);
    let server = Server::launch(dir, &config, |_| {});
    wait_for_log(&server, "cannot reach the CA", 1, ISSUANCE);
    // Plain HTTP serves; HTTPS serves with the temporary certificate.
    let response = server.get("/");
    assert_eq!(response.status, 200);
    assert!(
        served_subject(https, "d.webserv.test").contains("webserv temporary certificate"),
        "{}",
        served_subject(https, "d.webserv.test")
    );
    let pebble = Pebble::start(Options {
        http_port: http,
        tls_port: https,
        validity: None,
        acme_port: Some(acme),
        tls: Some(tls),
    });
    let log = wait_for_log(&server, "installed", 1, ISSUANCE);
    assert!(log.contains("attempt 1 failed, next in 2s"), "{log}");
    server.dir.write("root.pem", pebble.root_pem().as_bytes());
    assert_eq!(
        curl_verified(server.dir.path(), "d.webserv.test", https).as_deref(),
        Ok("up\n")
    );
}

#[test]
fn a_failing_challenge_is_logged_and_retried_later_while_the_server_serves() {
    if !pebble::installed() {
        return;
    }
    // Pebble validates HTTP-01 on a port nothing listens on.
    let ports = free_ports(3);
    let (http, https, nowhere) = (ports[0], ports[1], ports[2]);
    let pebble = Pebble::start(Options {
        http_port: nowhere,
        tls_port: https,
        validity: None,
        acme_port: None,
        tls: None,
    });
    let config = format!(
        "workers 1;\nerror_log stderr info;\naccess_log off;\n{}\
         server {{\n    listen 127.0.0.1:{http};\n    root www;\n}}\n\
         server {{\n    listen 127.0.0.1:{https} ssl;\n    server_name f.webserv.test;\n    \
         acme_certificate ca;\n    root www;\n}}\n",
        pebble.issuer("ca", "state", "challenge http-01;"),
    );
    let dir = site(&pebble.tls_cert_pem, &[("www/index.html", "still here\n")]);
    let server = Server::launch(dir, &config, |_| {});
    let log = wait_for_log(&server, "attempt 1 failed", 1, ISSUANCE);
    assert!(
        log.contains("http-01 validation of f.webserv.test failed: connection"),
        "{log}"
    );
    assert!(log.contains("next in 60s"), "{log}");
    assert_eq!(server.get("/").text(), "still here\n");
    assert!(!server.dir.path().join("state/f.webserv.test.pem").exists());
}

/// A configuration whose issuer points nowhere (these tests never reach a CA).
fn offline_config(state: &str) -> String {
    format!(
        "acme_issuer ca {{\n    uri https://127.0.0.1:9/dir;\n    state_path {state};\n}}\n\
         server {{\n    listen 127.0.0.1:0 ssl;\n    server_name c.webserv.test;\n    \
         acme_certificate ca;\n}}\n"
    )
}

#[test]
fn a_corrupt_state_file_is_reported_at_its_state_path_and_left_as_it_was() {
    for file in ["account.key", "c.webserv.test.pem"] {
        let dir = TempDir::new();
        dir.write("webserv.conf", offline_config("state").as_bytes());
        let corrupt = dir.write(&format!("state/{file}"), b"not a key\n");
        let (status, _, stderr) = run_cli(&["-t", "webserv.conf"], dir.path());
        assert_eq!(status.code(), Some(1), "{stderr}");
        assert!(
            stderr.starts_with("webserv.conf:3:16: acme state file"),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!("{file}\" is corrupt")) && stderr.contains("repair or remove"),
            "{stderr}"
        );
        // Starting stops there too, before any socket is bound.
        let (status, _, stderr) = run_cli(&["webserv.conf"], dir.path());
        assert_eq!(status.code(), Some(1));
        assert!(stderr.contains("is corrupt"), "{stderr}");
        assert_eq!(std::fs::read(&corrupt).unwrap(), b"not a key\n");
        assert_eq!(support::names(&dir.path().join("state")), [file]);
    }
}

#[test]
fn a_state_path_that_cannot_be_written_is_reported_by_dash_t() {
    let dir = TempDir::new();
    dir.write("file", b"x");
    let mut cases = vec![("file/state".to_string(), "cannot create acme state_path")];
    cases.push(("file".to_string(), "is not a directory"));
    // A directory that exists but takes no files: read-only sysfs for root, mode 0500 for
    // anyone else.
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        if Path::new("/sys/kernel").is_dir() {
            cases.push(("/sys/kernel".to_string(), "is not writable"));
        }
    } else {
        let locked = dir.write("locked/", b"");
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o500)).unwrap();
        cases.push(("locked".to_string(), "is not writable"));
    }
    for (state, message) in cases {
        dir.write("webserv.conf", offline_config(&state).as_bytes());
        let (status, stdout, stderr) = run_cli(&["-t", "webserv.conf"], dir.path());
        assert_eq!(status.code(), Some(1), "{state}: {stdout}{stderr}");
        assert!(stderr.starts_with("webserv.conf:3:16: "), "{stderr}");
        assert!(stderr.contains(message), "{state}: {stderr}");
    }
    // A missing one is created (private), and then it is fine.
    dir.write("webserv.conf", offline_config("new/state").as_bytes());
    let (status, stdout, stderr) = run_cli(&["-t", "webserv.conf"], dir.path());
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("configuration OK"));
    assert_eq!(mode(&dir.path().join("new/state")), 0o700);
}
