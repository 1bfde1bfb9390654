//! The configurations in `examples/` stay valid (`webserv -t` on each) and do what their
//! comments say when served (each started on port 0 over the repository's `www/`).

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use support::fastcgi::{self, Listen};
use support::{Server, TempDir, clean_exec, run_cli};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

#[test]
fn every_example_configuration_passes_the_check() {
    let mut checked = Vec::new();
    let entries: Vec<PathBuf> = fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    for path in entries {
        if path.extension().is_some_and(|e| e == "conf") {
            // An ACME example's state directory (created by the check) goes to a temporary one.
            let scratch = TempDir::new();
            let text = fs::read_to_string(&path).unwrap();
            let path = if text.contains("state_path /var/lib/webserv/acme;") {
                let state = scratch.path().join("acme");
                let copy = examples_dir().join(format!(
                    ".check-{}-{}",
                    std::process::id(),
                    path.file_name().unwrap().to_string_lossy()
                ));
                let text = text.replace(
                    "state_path /var/lib/webserv/acme;",
                    &format!("state_path {};", state.display()),
                );
                fs::write(&copy, text).unwrap();
                copy
            } else {
                path
            };
            let (status, out, err) = run_cli(&["-t", path.to_str().unwrap()], &examples_dir());
            if path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".check-")
            {
                fs::remove_file(&path).unwrap();
            }
            assert!(status.success(), "{}: {err}", path.display());
            assert_eq!(out.trim(), "configuration OK", "{}", path.display());
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let name = name
                .rsplit_once(&format!("{}-", std::process::id()))
                .map_or(name.clone(), |(_, n)| n.to_string());
            checked.push(name);
        }
    }
    checked.sort();
    for name in [
        "acme-site.conf",
        "operator-site.conf",
        "php-fpm-site.conf",
        "php-site.conf",
        "reverse-proxy.conf",
        "single-page-app.conf",
        "static-site.conf",
        "upload-server.conf",
        "virtual-hosts.conf",
    ] {
        assert!(
            checked.iter().any(|c| c == name),
            "{name} missing: {checked:?}"
        );
    }
}

/// Serves `examples/NAME` with its listen addresses on port 0 and `../www` made absolute (the
/// copy lives in a temporary directory).
fn serve_example(name: &str) -> Server {
    let text = fs::read_to_string(examples_dir().join(name)).unwrap();
    let www = Path::new(env!("CARGO_MANIFEST_DIR")).join("www");
    let config = text
        .replace("listen 127.0.0.1:8080;", "listen 127.0.0.1:0;")
        .replace("../www", &www.display().to_string())
        .replace("access_log stdout;", "access_log off;");
    assert!(config.contains("listen 127.0.0.1:0;"), "{name}");
    Server::launch(TempDir::new(), &config, clean_exec)
}

/// Serves `examples/NAME` on port 0 with its document root `root` (relative to `examples/`)
/// made absolute and each `(from, to)` of `replace` applied.
fn serve_example_at(name: &str, root: &str, replace: &[(&str, String)]) -> Server {
    let mut config = fs::read_to_string(examples_dir().join(name))
        .unwrap()
        .replace("listen 127.0.0.1:8080;", "listen 127.0.0.1:0;")
        .replace("access_log stdout;", "access_log off;")
        .replace(
            &format!("root {root};"),
            &format!("root {};", examples_dir().join(root).display()),
        );
    for (from, to) in replace {
        assert!(config.contains(from), "{name}: {from}");
        config = config.replace(from, to);
    }
    Server::launch(TempDir::new(), &config, clean_exec)
}

fn get(server: &Server, host: &str, path: &str) -> support::Response {
    server.request(&format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    ))
}

#[test]
fn the_static_site_example_sends_security_headers_and_caching() {
    let server = serve_example("static-site.conf");
    let home = get(&server, "localhost", "/");
    assert_eq!(home.status, 200);
    assert_eq!(home.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(home.header("x-frame-options"), Some("DENY"));
    assert!(home.has_header("content-security-policy"));
    assert_eq!(home.header("cache-control"), Some("no-cache"));
    let css = get(&server, "localhost", "/style.css");
    assert_eq!(css.status, 200);
    assert_eq!(css.header("cache-control"), Some("max-age=86400"));
    let missing = get(&server, "localhost", "/nope");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("x-frame-options"), Some("DENY"));
    assert!(!missing.has_header("cache-control"));
}

#[test]
fn the_php_example_runs_php_scripts() {
    let server = serve_example("php-site.conf");
    let r = get(&server, "localhost", "/cgi-bin/hello.php");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("Hello from PHP"), "{}", r.text());
    assert_eq!(get(&server, "localhost", "/vendor/x.php").status, 404);
    assert_eq!(get(&server, "localhost", "/").status, 200);
}

#[test]
fn the_upload_example_lists_its_store_with_a_sandbox_policy() {
    let server = serve_example("upload-server.conf");
    let r = get(&server, "localhost", "/uploads/");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("Index of /uploads/"), "{}", r.text());
    assert_eq!(r.header("content-security-policy"), Some("sandbox"));
}

#[test]
fn the_virtual_hosts_example_routes_by_host_and_redirects_www() {
    let server = serve_example("virtual-hosts.conf");
    let files = get(&server, "files.example.test", "/");
    assert_eq!(files.status, 200);
    assert!(files.text().contains("readme.txt"), "{}", files.text());
    let main = get(&server, "example.test", "/");
    assert_eq!(main.status, 200);
    assert!(!main.text().contains("Index of"));
    let www = get(&server, "www.example.test", "/a?b=1");
    assert_eq!(www.status, 301);
    assert_eq!(www.header("location"), Some("http://example.test/a?b=1"));
}

#[test]
fn the_operator_example_guards_files_with_a_password_and_shows_its_status() {
    let mut text = fs::read_to_string(examples_dir().join("operator-site.conf")).unwrap();
    text = text.replace(
        "users.htpasswd",
        &examples_dir().join("users.htpasswd").display().to_string(),
    );
    let www = Path::new(env!("CARGO_MANIFEST_DIR")).join("www");
    let config = text
        .replace("listen 127.0.0.1:8080;", "listen 127.0.0.1:0;")
        .replace("../www", &www.display().to_string());
    let server = Server::launch(TempDir::new(), &config, clean_exec);
    assert_eq!(get(&server, "localhost", "/files/").status, 401);
    let with_password = server.request(
        "GET /files/ HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic ZGVtbzpkZW1v\r\n\
         Connection: close\r\n\r\n",
    );
    assert_eq!(with_password.status, 200, "{}", with_password.text());
    let status = get(&server, "localhost", "/status");
    assert!(
        status.text().starts_with("Active connections: "),
        "{}",
        status.text()
    );
    let metrics = get(&server, "localhost", "/metrics");
    assert!(
        metrics
            .text()
            .contains("webserv_requests_total{worker=\"0\"}")
    );
}

#[test]
fn the_php_fpm_example_runs_its_front_controller_on_php_fpm() {
    let mut fpm = fastcgi::php_fpm(Listen::UnixSocket, 2, &[]);
    let server = serve_example_at(
        "php-fpm-site.conf",
        "php-app/public",
        &[("unix:/run/php/php8.2-fpm.sock", fpm.address.to_config())],
    );
    let home = get(&server, "localhost", "/");
    assert_eq!(home.status, 200, "{}", home.text());
    assert!(home.text().contains("A PHP application on php-fpm"));
    assert_eq!(home.header("x-content-type-options"), Some("nosniff"));
    let hello = get(&server, "localhost", "/hello/ann");
    assert_eq!(
        (hello.status, hello.text().as_str()),
        (200, "Hello, ann!\n")
    );
    let signed = server.request(
        "POST /guestbook HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\nname=Bo",
    );
    assert_eq!(
        (signed.status, signed.text().as_str()),
        (201, "Signed by Bo\n")
    );
    let unsigned = server.request(
        "POST /guestbook HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 5\r\n\r\nname=",
    );
    assert_eq!(unsigned.status, 422);
    let nothing = get(&server, "localhost", "/no/such/page");
    assert_eq!(nothing.status, 404);
    assert!(nothing.text().contains("No route for /no/such/page"));
    // The code it includes is outside the root: the application answers, not the file.
    assert!(
        !get(&server, "localhost", "/src/routes.php")
            .text()
            .contains("function route")
    );
    let css = get(&server, "localhost", "/assets/site.css");
    assert_eq!(css.header("cache-control"), Some("max-age=604800"));
    assert_eq!(get(&server, "localhost", "/assets/missing.css").status, 404);
    // An upload is served as it is, never run; dot files are hidden.
    let upload = get(&server, "localhost", "/uploads/avatar.jpg");
    assert!(upload.text().starts_with("<?php"));
    assert_eq!(
        get(&server, "localhost", "/uploads/avatar.jpg/x.php").status,
        404
    );
    assert_eq!(get(&server, "localhost", "/.env").status, 404);
    // php-fpm gone: the site's own page, with the gateway's status.
    fpm.kill();
    let down = get(&server, "localhost", "/hello/ann");
    assert_eq!(down.status, 502);
    assert!(down.text().contains("The application is unavailable"));
}

#[test]
fn the_single_page_app_example_serves_its_shell_for_client_routes_only() {
    let server = serve_example_at("single-page-app.conf", "spa", &[]);
    for path in ["/", "/settings/profile", "/settings", "/index.html"] {
        let r = get(&server, "localhost", path);
        assert_eq!(r.status, 200, "{path}");
        assert!(r.text().contains("Loading the app shell"), "{path}");
    }
    assert_eq!(
        get(&server, "localhost", "/index.html").header("cache-control"),
        Some("no-cache")
    );
    let js = get(&server, "localhost", "/assets/app.3f9a1c.js");
    assert_eq!(js.status, 200);
    assert_eq!(js.header("cache-control"), Some("max-age=31536000"));
    assert_eq!(
        get(&server, "localhost", "/assets/app.000000.js").status,
        404
    );
}

#[test]
fn the_reverse_proxy_example_balances_over_its_two_instances() {
    // The example's app, twice, on ports the kernel picks.
    let start = || {
        let mut child = std::process::Command::new("python3")
            .arg(examples_dir().join("proxy-app.py"))
            .arg("0")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        (child, line.trim().to_string())
    };
    let (mut one, port_one) = start();
    let (mut two, port_two) = start();
    let websockets = support::backends::debian_tool("python:websockets");
    let chat = websockets.then(support::backends::Backend::ws_echo);
    let chat_port = chat.as_ref().map_or(0, |c| c.port());
    let text = fs::read_to_string(examples_dir().join("reverse-proxy.conf"))
        .unwrap()
        .replace("127.0.0.1:8003", &format!("127.0.0.1:{chat_port}"))
        .replace("127.0.0.1:8001", &format!("127.0.0.1:{port_one}"))
        .replace("127.0.0.1:8002", &format!("127.0.0.1:{port_two}"))
        .replace("listen 127.0.0.1:8080;", "listen 127.0.0.1:0;")
        .replace(
            "../www",
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("www")
                .display()
                .to_string(),
        )
        .replace("access_log stdout;", "access_log off;");
    let server = Server::launch(TempDir::new(), &text, clean_exec);
    let mut seen = Vec::new();
    for i in 0..6 {
        let r = get(&server, "localhost", &format!("/hello/{i}"));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        let text = r.text();
        assert!(
            text.contains(&format!(": /hello/{i} for 127.0.0.1")),
            "{text}"
        );
        seen.push(text.split(':').next().unwrap_or("").to_string());
    }
    for port in [&port_one, &port_two] {
        assert!(
            seen.iter().any(|s| s.ends_with(port.as_str())),
            "{port} never answered: {seen:?}"
        );
    }
    let page = get(&server, "localhost", "/static/index.html");
    assert_eq!(page.status, 200);
    assert_eq!(page.header("cache-control"), Some("max-age=3600"));
    // The WebSocket location tunnels to its echo server.
    if websockets {
        let url = format!("ws://127.0.0.1:{}/ws/chat", server.port());
        let out = support::backends::ws_client(&url, &["--messages", "2", "--size", "5000"]);
        let doc = String::from_utf8_lossy(&out.stdout);
        assert!(doc.contains("\"echoed\": 2,"), "{doc}{}", server.stderr());
    }
    // One instance stops: the other answers everything.
    one.kill().unwrap();
    one.wait().unwrap();
    for _ in 0..4 {
        let r = get(&server, "localhost", "/after");
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(
            r.text().starts_with(&format!("instance {port_two}")),
            "{}",
            r.text()
        );
    }
    two.kill().unwrap();
    two.wait().unwrap();
}
