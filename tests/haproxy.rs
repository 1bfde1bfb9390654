//! The deployment of `examples/haproxy/`: three webserv instances behind HAProxy
//! (`option httpchk`, `send-proxy-v2`), run from the example files themselves on free ports.
//! While a bounded load runs through HAProxy, each instance is restarted in turn (SIGTERM:
//! drain, then start again on its port): no request fails, and each is logged once, by one
//! instance, with the client's own address (the load comes from 127.0.0.2; HAProxy from
//! 127.0.0.1).

mod support;

use std::fs;
use std::io::Read;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::load::Load;
use support::*;

const HAPROXY: &str = "/usr/sbin/haproxy";
const BODY: usize = 16 * 1024;

fn example(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/haproxy")
        .join(name);
    fs::read_to_string(path).unwrap()
}

/// `text` with each `(from, to)` replaced; every `from` must be there, so the example cannot
/// drift away from what this test runs.
fn substitute(text: &str, pairs: &[(&str, String)]) -> String {
    let mut out = text.to_string();
    for (from, to) in pairs {
        assert!(out.contains(from), "\"{from}\" is no longer in the example");
        out = out.replace(from, to);
    }
    out
}

/// Instance `n` (1, 2, 3) of examples/haproxy/webserv.conf on `port` (0: any), logging to `logs`.
fn start_instance(n: usize, port: u16, logs: &Path) -> Server {
    let config = substitute(
        &example("webserv.conf"),
        &[
            ("workers auto;", "workers 1;".to_string()),
            (
                "access_log /var/log/webserv/access-8081.log;",
                format!(
                    "access_log {};",
                    logs.join(format!("access-{n}.log")).display()
                ),
            ),
            (
                "error_log /var/log/webserv/error-8081.log;",
                "error_log stderr;".to_string(),
            ),
            (
                "listen 127.0.0.1:8081 proxy_protocol;",
                format!("listen 127.0.0.1:{port} proxy_protocol;"),
            ),
            ("root /var/www/site;", "root www;".to_string()),
        ],
    );
    Server::start(&config, &[("www/file.bin", &vec![b'h'; BODY])])
}

/// HAProxy from examples/haproxy/haproxy.cfg, its frontend on `frontend` (passed as fd 3),
/// its servers on `ports`. Killed when dropped.
struct Haproxy {
    child: Child,
    _dir: TempDir,
}

impl Haproxy {
    fn start(frontend: &TcpListener, ports: &[u16]) -> Haproxy {
        let config = substitute(
            &example("haproxy.cfg"),
            &[
                ("bind 127.0.0.1:80", "bind fd@3".to_string()),
                (
                    "server web1 127.0.0.1:8081",
                    format!("server web1 127.0.0.1:{}", ports[0]),
                ),
                (
                    "server web2 127.0.0.1:8082",
                    format!("server web2 127.0.0.1:{}", ports[1]),
                ),
                (
                    "server web3 127.0.0.1:8083",
                    format!("server web3 127.0.0.1:{}", ports[2]),
                ),
            ],
        );
        let dir = TempDir::new();
        let path = dir.write("haproxy.cfg", config.as_bytes());
        let socket = frontend.as_raw_fd();
        let mut command = Command::new(HAPROXY);
        command
            .args(["-db", "-f"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // SAFETY: dup2 and fcntl are async-signal-safe; the socket is open in the parent.
        unsafe {
            command.pre_exec(move || {
                if libc::dup2(socket, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command.spawn().expect("start haproxy");
        let mut stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = stderr.read_to_end(&mut sink);
        });
        Haproxy { child, _dir: dir }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The access log lines of every instance.
fn log_lines(logs: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for n in 1..=3 {
        let text = fs::read_to_string(logs.join(format!("access-{n}.log"))).unwrap_or_default();
        lines.extend(text.lines().map(str::to_string));
    }
    lines
}

/// Health checks an instance has answered so far.
fn checks(logs: &Path, n: usize) -> usize {
    fs::read_to_string(logs.join(format!("access-{n}.log")))
        .unwrap_or_default()
        .matches("GET /healthz ")
        .count()
}

#[test]
fn instances_restarted_in_turn_behind_haproxy_fail_no_request_and_log_each_once() {
    if !Path::new(HAPROXY).exists() {
        support::skip::missing(&format!("{HAPROXY} (Debian package haproxy)"));
        return;
    }
    let logs_dir = TempDir::new();
    let logs: PathBuf = logs_dir.path().to_path_buf();
    let mut instances: Vec<Server> = (1..=3).map(|n| start_instance(n, 0, &logs)).collect();
    let ports: Vec<u16> = instances.iter().map(Server::port).collect();
    let frontend = TcpListener::bind("127.0.0.1:0").unwrap();
    let entry: SocketAddr = frontend.local_addr().unwrap();
    let _haproxy = Haproxy::start(&frontend, &ports);
    // HAProxy up, and every instance checked healthy.
    assert!(
        wait_until(Duration::from_secs(10), || (1..=3)
            .all(|n| checks(&logs, n) >= 2)),
        "no health checks reached the instances"
    );

    let client: IpAddr = "127.0.0.2".parse().unwrap();
    let load = Load::start(entry, Some(client), 6, "/file.bin", BODY);
    assert!(wait_until(Duration::from_secs(10), || load.answered() > 300));
    for n in 1..=3 {
        let old = &mut instances[n - 1];
        let status = old.terminate().expect("the instance did not drain in 5 s");
        assert_eq!(status.code(), Some(0));
        let seen = checks(&logs, n);
        instances[n - 1] = start_instance(n, ports[n - 1], &logs);
        // Back in the pool (a check answered) before the next one goes.
        assert!(
            wait_until(Duration::from_secs(10), || checks(&logs, n) > seen),
            "instance {n} not checked again"
        );
        let answered = load.answered();
        assert!(wait_until(Duration::from_secs(10), || load.answered() > answered + 100));
    }
    let report = load.stop();
    assert!(
        report.failures.is_empty(),
        "{} of {} requests failed: {:?}",
        report.failures.len(),
        report.ok + report.failures.len() as u64,
        &report.failures[..report.failures.len().min(10)]
    );

    // Every answered request is in exactly one instance's log, as the client's.
    let expected: std::collections::HashSet<&str> = report.ids.iter().map(String::as_str).collect();
    let mut lines = Vec::new();
    wait_until(Duration::from_secs(5), || {
        lines = log_lines(&logs);
        lines.iter().filter(|l| l.contains("?id=")).count() >= expected.len()
    });
    let mut logged = std::collections::HashMap::new();
    for line in lines.iter().filter(|l| l.contains("?id=")) {
        assert!(
            line.starts_with("127.0.0.2 - - ["),
            "not the client's address: {line}"
        );
        let id = line
            .split("?id=")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .unwrap();
        *logged.entry(id.to_string()).or_insert(0) += 1;
    }
    let twice: Vec<_> = logged.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "logged more than once: {twice:?}");
    let missing: Vec<_> = expected
        .iter()
        .filter(|id| !logged.contains_key(**id))
        .collect();
    assert!(missing.is_empty(), "answered but not logged: {missing:?}");
    assert_eq!(logged.len(), expected.len(), "logged but not answered");
    eprintln!(
        "{} requests through HAProxy, {} retried by the client",
        report.ok, report.retried
    );
}
