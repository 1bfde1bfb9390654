//! The logs: SIGUSR1 reopens the log files (logrotate's rename-then-signal), and `error_log`
//! levels filter the server's messages.

mod support;

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::{Server, TempDir, binary, simple_config, wait_until};

const WAIT: Duration = Duration::from_secs(10);

/// A server whose error log is a file: its port is read from that file.
struct FileLogged {
    child: Child,
    addr: SocketAddr,
    dir: TempDir,
}

impl FileLogged {
    fn start(config: &str, files: &[(&str, &[u8])]) -> FileLogged {
        let dir = TempDir::new();
        for (path, contents) in files {
            dir.write(path, contents);
        }
        let config_path = dir.write("webserv.conf", config.as_bytes());
        let child = Command::new(binary())
            .arg(&config_path)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn webserv");
        let error_log = dir.path().join("error.log");
        let mut addr = None;
        let started = wait_until(support::START_TIMEOUT, || {
            addr = fs::read_to_string(&error_log).ok().and_then(|text| {
                text.lines()
                    .find_map(|l| l.split("listening on http://").nth(1))
                    .and_then(|a| a.trim().parse().ok())
            });
            addr.is_some()
        });
        assert!(started, "no listening line in {}", error_log.display());
        FileLogged {
            child,
            addr: addr.unwrap(),
            dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn get(&self, path: &str) -> u16 {
        let raw = support::raw(
            self.addr,
            format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        support::parse_one(&raw).status
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
    }
}

impl Drop for FileLogged {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal(libc::SIGTERM);
            if support::wait_timeout(&mut self.child, Duration::from_secs(5)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

fn contains_within(path: &Path, needle: &str) -> bool {
    wait_until(WAIT, || read(path).contains(needle))
}

#[test]
fn sigusr1_after_a_rename_sends_new_lines_to_new_files_and_none_to_the_old_ones() {
    let server = FileLogged::start(
        "workers 2;\naccess_log access.log;\nerror_log error.log;\n\
         server {\n    listen 127.0.0.1:0;\n    root www;\n}\n",
        &[("www/a.txt", b"a")],
    );
    assert_eq!(server.get("/a.txt?first"), 200);
    assert!(contains_within(&server.path("access.log"), "/a.txt?first"));

    // logrotate: rename, then signal. Until the signal, lines still go to the renamed file.
    fs::rename(server.path("access.log"), server.path("access.log.1")).unwrap();
    fs::rename(server.path("error.log"), server.path("error.log.1")).unwrap();
    assert_eq!(server.get("/a.txt?between"), 200);
    assert!(contains_within(&server.path("access.log.1"), "?between"));

    server.signal(libc::SIGUSR1);
    assert!(
        contains_within(&server.path("error.log"), "log files reopened"),
        "no new error.log; old one: {}",
        read(&server.path("error.log.1"))
    );
    assert!(server.path("access.log").exists());

    // Several requests, so both workers write.
    for i in 0..6 {
        assert_eq!(server.get(&format!("/a.txt?after{i}")), 200);
        assert_eq!(server.get(&format!("/missing?after{i}")), 404);
    }
    assert!(wait_until(WAIT, || {
        let new = read(&server.path("access.log"));
        (0..6).all(|i| new.contains(&format!("/a.txt?after{i} ")))
    }));
    let old_access = read(&server.path("access.log.1"));
    assert!(old_access.contains("?first") && old_access.contains("?between"));
    assert!(!old_access.contains("?after"), "{old_access}");
    assert!(!read(&server.path("error.log.1")).contains("reopened"));
    assert!(!read(&server.path("access.log")).contains("?between"));
}

#[test]
fn sigusr1_with_logs_on_stdout_and_stderr_changes_nothing() {
    let server = Server::start(&simple_config(""), &[("www/a.txt", b"a")]);
    server.signal(libc::SIGUSR1);
    assert!(wait_until(WAIT, || server
        .stderr()
        .contains("log files reopened")));
    assert_eq!(server.get("/a.txt").status, 200);
}

const SCRIPTS: &[(&str, &[u8])] = &[
    (
        "www/cgi/fails.sh",
        b"printf 'Content-Type: text/plain\\n\\nsaid it\\n'\nexit 3\n",
    ),
    ("www/cgi/silent.sh", b"exit 0\n"),
];

fn leveled(level: &str) -> Server {
    let config = format!(
        "workers 1;\naccess_log off;\nerror_log stderr {level};\nserver {{\n    \
         listen 127.0.0.1:0;\n    root www;\n    location /cgi {{ cgi .sh /bin/sh; }}\n}}\n"
    );
    Server::start(&config, SCRIPTS)
}

const WARNING: &str = "[warn] CGI /cgi/fails.sh: exit status: 3";
const ERROR: &str = "[error] CGI /cgi/silent.sh: output ended before a complete header block";

/// Makes the script that ends with a warning run, then the one that ends with an error, and
/// waits for the error: one worker logs both, in that order.
fn warn_then_fail(server: &Server) {
    assert_eq!(server.get("/cgi/fails.sh").text(), "said it\n");
    assert_eq!(server.get("/cgi/silent.sh").status, 502);
    assert!(
        wait_until(WAIT, || server.stderr().contains(ERROR)),
        "{}",
        server.stderr()
    );
}

#[test]
fn error_log_at_error_keeps_errors_and_drops_warnings_but_still_says_where_it_listens() {
    let server = leveled("error");
    assert!(
        server
            .stderr()
            .contains("[notice] listening on http://127.0.0.1:")
    );
    warn_then_fail(&server);
    assert!(!server.stderr().contains(WARNING), "{}", server.stderr());
}

#[test]
fn error_log_at_warn_keeps_warnings_and_drops_notices() {
    let server = leveled("warn");
    server.signal(libc::SIGHUP);
    // The reload is logged by the main thread; give it time, then check it was dropped.
    std::thread::sleep(Duration::from_millis(500));
    warn_then_fail(&server);
    let log = server.stderr();
    assert!(log.contains(WARNING), "{log}");
    assert!(!log.contains("configuration reloaded"), "{log}");
    assert!(!log.contains("[notice] log files reopened"));
}

#[test]
fn the_default_level_is_notice() {
    let server = Server::start(
        "workers 1;\naccess_log off;\nserver { listen 127.0.0.1:0; root www; }\n",
        &[],
    );
    server.signal(libc::SIGHUP);
    assert!(
        wait_until(WAIT, || server
            .stderr()
            .contains("[notice] configuration reloaded")),
        "{}",
        server.stderr()
    );
}

#[test]
fn error_log_at_info_also_tells_of_requests_that_could_not_be_read() {
    let server = leveled("info");
    let raw = server.raw(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n");
    assert_eq!(support::parse_one(&raw).status, 400);
    assert!(
        wait_until(WAIT, || server
            .stderr()
            .contains("[info] client 127.0.0.1:")
            && server
                .stderr()
                .contains(": 400 Bad Request, connection closed")),
        "{}",
        server.stderr()
    );

    let quiet = leveled("notice");
    let raw = quiet.raw(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n");
    assert_eq!(support::parse_one(&raw).status, 400);
    warn_then_fail(&quiet);
    assert!(!quiet.stderr().contains("[info]"), "{}", quiet.stderr());
}
