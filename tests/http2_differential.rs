//! Differential checks: the same HTTP/2 requests to webserv, nginx and h2o serving the same
//! files over TLS (ALPN h2), with curl; the answers must agree where HTTP says what they are
//! (status, length, ranges, validators' effect, bodies). `.ci/run` installs nginx and h2o;
//! elsewhere a missing one is a recorded skip (`support::skip`); `bench/h2.sh` starts the same
//! three.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::h2::{curl, installed};
use support::tls::cert;
use support::{TempDir, random_bytes};

/// A peer server process, stopped by PID on drop.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// (status, content-length, content-range, body) of `path` with `args`, over h2.
fn answer(port: u16, path: &str, args: &[&str]) -> (u16, String, String, Vec<u8>) {
    let url = format!("https://127.0.0.1:{port}{path}");
    let mut all = vec!["--http2", "-i"];
    all.extend_from_slice(args);
    all.push(&url);
    let out = curl(&all);
    assert!(out.status.success(), "curl {all:?}: {}", out.stderr);
    let raw = out.stdout;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    assert!(head.starts_with("http/2 "), "{head}");
    let status = head[7..10].parse().unwrap();
    let field = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or("")
            .trim()
            .to_string()
    };
    (
        status,
        field("content-length"),
        field("content-range"),
        raw[split + 4..].to_vec(),
    )
}

fn etag(port: u16, path: &str) -> String {
    let url = format!("https://127.0.0.1:{port}{path}");
    let out = curl(&["--http2", "-I", &url]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("etag").then(|| v.trim().to_string())
        })
        .unwrap_or_default()
}

#[test]
fn webserv_nginx_and_h2o_answer_the_same_requests_alike_over_h2() {
    if !installed("curl") {
        return;
    }
    if !Path::new("/usr/bin/h2o").exists() {
        support::skip::missing("/usr/bin/h2o (Debian package h2o)");
        return;
    }
    let nginx_bin = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(nginx_bin) = nginx_bin else {
        support::skip::missing("/usr/sbin/nginx (Debian package nginx)");
        return;
    };
    let cert = cert(&["localhost"]);
    let page = random_bytes(40_000, 31);
    let files: &[(&str, &[u8])] = &[
        ("www/index.html", b"<p>home</p>\n"),
        ("www/a.txt", b"0123456789abcdef"),
        ("www/big.bin", &page),
        ("www/dir/index.html", b"<p>dir</p>\n"),
    ];
    let ours = support::tls::tls_server(&cert, "", files);
    // The peers serve a copy of the same tree, world-readable (both drop privileges as root).
    let tree = TempDir::new();
    for (path, data) in files {
        tree.write(path, data);
    }
    tree.write("cert.pem", cert.cert_pem.as_bytes());
    tree.write("key.pem", cert.key_pem.as_bytes());
    tree.write("temp/", b"");
    let _ = Command::new("chmod")
        .args(["-R", "a+rwX"])
        .arg(tree.path())
        .status();
    let dir = tree.path().display().to_string();
    let (nport, hport) = (free_port(), free_port());
    tree.write(
        "nginx.conf",
        format!(
            "worker_processes 1;\npid {dir}/nginx.pid;\nerror_log {dir}/nginx-error.log;\n\
             events {{}}\nhttp {{\n    access_log off;\n    \
             types {{ text/html html; text/plain txt; application/octet-stream bin; }}\n    \
             client_body_temp_path {dir}/temp/b;\n    proxy_temp_path {dir}/temp/p;\n    \
             fastcgi_temp_path {dir}/temp/f;\n    uwsgi_temp_path {dir}/temp/u;\n    \
             scgi_temp_path {dir}/temp/s;\n    server {{\n        \
             listen 127.0.0.1:{nport} ssl http2;\n        ssl_certificate {dir}/cert.pem;\n        \
             ssl_certificate_key {dir}/key.pem;\n        root {dir}/www;\n    }}\n}}\n"
        )
        .as_bytes(),
    );
    tree.write(
        "h2o.conf",
        format!(
            "num-threads: 1\nerror-log: {dir}/h2o-error.log\nlisten:\n  host: 127.0.0.1\n  \
             port: {hport}\n  ssl:\n    certificate-file: {dir}/cert.pem\n    \
             key-file: {dir}/key.pem\nhosts:\n  \"localhost\":\n    paths:\n      /:\n        \
             file.dir: {dir}/www\n        file.send-compressed: OFF\n"
        )
        .as_bytes(),
    );
    let quiet = || Stdio::null();
    let _nginx = Peer(
        Command::new(nginx_bin)
            .args([
                "-p",
                &dir,
                "-c",
                &format!("{dir}/nginx.conf"),
                "-g",
                "daemon off;",
            ])
            .args(["-e", &format!("{dir}/nginx-error.log")])
            .stdout(quiet())
            .stderr(quiet())
            .spawn()
            .unwrap(),
    );
    let _h2o = Peer(
        Command::new("h2o")
            .args(["-c", &format!("{dir}/h2o.conf")])
            .stdout(quiet())
            .stderr(quiet())
            .spawn()
            .unwrap(),
    );
    wait_for(nport);
    wait_for(hport);
    let servers = [("webserv", ours.port()), ("nginx", nport), ("h2o", hport)];
    let requests: &[(&str, &[&str])] = &[
        ("/index.html", &[]),
        ("/big.bin", &[]),
        ("/no-such-file", &[]),
        ("/dir/", &[]),
        ("/a.txt", &["-r", "2-5"]),
        ("/a.txt", &["-r", "10-"]),
        ("/a.txt", &["-r", "-3"]),
        ("/a.txt", &["-r", "100-200"]),
        ("/a.txt", &["-I"]),
    ];
    let mut differences = Vec::new();
    for (path, args) in requests {
        let answers: Vec<_> = servers
            .iter()
            .map(|(name, port)| (*name, answer(*port, path, args)))
            .collect();
        let (_, ours) = &answers[0];
        for (name, theirs) in &answers[1..] {
            // Error pages differ in wording; their status must not.
            let same = if ours.0 >= 400 {
                ours.0 == theirs.0
            } else {
                ours == theirs
            };
            if !same {
                differences.push(format!(
                    "{path} {args:?}: webserv {:?} / {name} {:?}",
                    (ours.0, &ours.1, &ours.2, ours.3.len()),
                    (theirs.0, &theirs.1, &theirs.2, theirs.3.len())
                ));
            }
        }
    }
    // A 304 for each server's own validator.
    for (name, port) in servers {
        let tag = etag(port, "/a.txt");
        let got = answer(port, "/a.txt", &["-H", &format!("If-None-Match: {tag}")]);
        if got.0 != 304 || !got.3.is_empty() {
            differences.push(format!("{name}: If-None-Match {tag} gave {}", got.0));
        }
    }
    assert!(differences.is_empty(), "\n{}", differences.join("\n"));
}
