//! HTTP/2 with real clients: `curl`, `nghttp`, `h2load` (Debian nghttp2-client) and the Python
//! `h2` stack (Debian python3-h2, run by /usr/bin/python3: `tests/http2/h2frames.py` sends
//! exact frame sequences and says what the server did). Each tool is looked for first; a test
//! whose tool is missing says so and skips (.ci/run installs them all).

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::Duration;

use super::server::{Server, wait_timeout};
use super::tls::Cert;

/// Any one client run, start to exit.
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(60);
/// The Python with Debian's modules (h2, hpack, hyperframe).
pub const PYTHON: &str = "/usr/bin/python3";

/// What a client run left.
pub struct Run {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Whether `program` can be run here; says so when it cannot.
pub fn installed(program: &str) -> bool {
    let found = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        super::skip::missing(&format!(
            "{program} (Debian package nghttp2-client or curl)"
        ));
    }
    found
}

/// Whether /usr/bin/python3 has the `h2` stack; says so when it has not.
pub fn python_h2() -> bool {
    let found = Command::new(PYTHON)
        .args(["-c", "import h2, hpack, hyperframe"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        super::skip::missing(&format!("{PYTHON} with h2 (Debian package python3-h2)"));
    }
    found
}

/// Runs `program args` within `timeout`, stdin closed.
pub fn run_for(program: &str, args: &[&str], timeout: Duration) -> Run {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {program}: {e}"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = match wait_timeout(&mut child, timeout) {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{program} {args:?} did not finish in {timeout:?}:\n{}",
                err.join().unwrap()
            );
        }
    };
    Run {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

pub fn run(program: &str, args: &[&str]) -> Run {
    run_for(program, args, TOOL_TIMEOUT)
}

/// The frame scenarios of `tests/http2/h2frames.py` against `addr`, each on a fresh
/// connection: (scenario, verdict) in order.
pub fn scenarios(addr: SocketAddr, tls: bool, names: &[&str]) -> Vec<(String, String)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/http2/h2frames.py");
    let port = addr.port().to_string();
    let host = addr.ip().to_string();
    let mut args = vec![script.to_str().unwrap(), &host, &port];
    if tls {
        args.push("--tls");
    }
    args.extend_from_slice(names);
    let run = run(PYTHON, &args);
    assert!(run.status.success(), "h2frames.py: {}", run.stderr);
    run.text()
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(name, verdict)| (name.to_string(), verdict.to_string()))
        .collect()
}

/// One scenario's verdict.
pub fn scenario(addr: SocketAddr, tls: bool, name: &str) -> String {
    scenarios(addr, tls, &[name])
        .pop()
        .map(|(_, verdict)| verdict)
        .unwrap_or_default()
}

/// A server with one TLS address (HTTP/2 by ALPN, certificate `cert`) and one plain address
/// with `http2 on;` (prior knowledge, on 127.0.0.2), in that order in `server.addrs`; `extra`
/// in both server blocks, `files` beside the config (the root is `www`).
pub fn h2_server(cert: &Cert, extra: &str, files: &[(&str, &[u8])]) -> Server {
    let config = format!(
        "workers 1;\naccess_log access.log;\nerror_log stderr info;\nserver {{\n    \
         listen 127.0.0.1:0 ssl;\n    ssl_certificate cert.pem;\n    \
         ssl_certificate_key key.pem;\n    root www;\n{extra}\n}}\n\
         server {{\n    listen 127.0.0.2:0;\n    http2 on;\n    root www;\n{extra}\n}}\n"
    );
    let mut all: Vec<(&str, &[u8])> = vec![
        ("cert.pem", cert.cert_pem.as_bytes()),
        ("key.pem", cert.key_pem.as_bytes()),
    ];
    all.extend_from_slice(files);
    Server::start(&config, &all)
}

/// `curl -sS` with `args`; with `--http2` over TLS it trusts nothing (`-k`: the certificate is
/// made for the test) and prints nothing but what `args` ask for.
pub fn curl(args: &[&str]) -> Run {
    let mut all = vec!["-sS", "-k", "--max-time", "30"];
    all.extend_from_slice(args);
    run("curl", &all)
}

/// The access log, once it has `lines` lines (it is written after each batch of events).
pub fn access_log(server: &Server, lines: usize) -> String {
    let path = server.dir.path().join("access.log");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.lines().count() >= lines || std::time::Instant::now() > deadline {
            return text;
        }
        thread::sleep(Duration::from_millis(20));
    }
}
